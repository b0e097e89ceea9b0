/**
 * Secrets in cordon's environment stay out of the sandbox (policy/environment.ts):
 * a variable whose name marks it as a secret is withheld unless passed by
 * name; nothing inside finds it (its own environment, any process's
 * /proc/PID/environ, PID 1's included); a sandbox started ahead from a run
 * that had no such variable is not used with one; a project file cannot
 * pass one. As root and as an unprivileged user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cordon, own, runners } from '../../helpers/cordon.js';

const SECRETS = { GITHUB_TOKEN: 'ghp_secret1', ANTHROPIC_API_KEY: 'sk-ant-secret2', AWS_ACCESS_KEY_ID: 'AKIASECRET3', AWS_SECRET_ACCESS_KEY: 'secret4', PGPASSWORD: 'secret5' };
const VALUES = Object.values(SECRETS);

// Every environment a process inside can read: its own, and each /proc/PID/environ it may open (PID 1's too).
const LOOK = 'env; for f in /proc/[0-9]*/environ; do tr "\\0" "\\n" < "$f" 2>/dev/null; done';

for (const { who, world, opts } of runners()) {
  test(`secret-looking variables are withheld: not in the environment, not in any /proc/PID/environ; ordinary ones pass (${who})`, () => {
    const w = world();
    const r = cordon(w, ['--', '/bin/sh', '-c', LOOK], { ...opts, env: { ...SECRETS, ORDINARY: 'plain-value' } });
    assert.equal(r.status, 0, r.stderr);
    for (const v of VALUES) assert.ok(!r.stdout.includes(v), `${v} reached the command`);
    assert.match(r.stdout, /^ORDINARY=plain-value$/m);
    // The sandbox's PID 1 was looked at: the loop read more than the command's own environment.
    assert.ok(r.stdout.split('\n').filter((l) => l === 'ORDINARY=plain-value').length >= 2, r.stdout);
  });

  test(`--pass-env and environment.pass pass one by name; environment.withhold keeps an ordinary one out (${who})`, () => {
    const w = world();
    const settings = join(w.outside, 'env.json');
    writeFileSync(settings, JSON.stringify({ environment: { pass: ['PGPASSWORD'], withhold: ['DATABASE_URL', 'ANTHROPIC_API_KEY', 'JAVA_TOOL_OPTIONS', 'NPM_CONFIG_CACHE'] } }));
    own(w, opts);
    // A filtered network: cordon adds its proxy options to JAVA_TOOL_OPTIONS, never to a withheld value of the caller's.
    const r = cordon(w, ['--settings', settings, '--pass-env', 'GITHUB_TOKEN', '--pass-env', 'ANTHROPIC_API_KEY', '--allow-domain', 'example.invalid', '--', '/bin/sh', '-c', 'env'], { ...opts, env: { ...SECRETS, DATABASE_URL: 'postgres://u:pw@db/x', JAVA_TOOL_OPTIONS: '-Dleak=secret6', NPM_CONFIG_CACHE: join(w.proj, 'secret7-cache') } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^GITHUB_TOKEN=ghp_secret1$/m);
    assert.match(r.stdout, /^PGPASSWORD=secret5$/m);
    assert.match(r.stdout, /^JAVA_TOOL_OPTIONS=-Dhttp\.proxyHost=/m);
    // A withheld cache choice of the caller's (a writable place, which cordon would keep) is not its choice: npm gets cordon's package cache.
    assert.match(r.stdout, /^npm_config_cache=\/tmp\/\.cache\/npm$/m);
    // Withheld by name wins over passed by name.
    for (const v of ['sk-ant-secret2', 'AKIASECRET3', 'secret4', 'postgres://', 'secret6', 'secret7']) assert.ok(!r.stdout.includes(v), `${v} reached the command`);
  });

  test(`a sandbox started ahead from a run without secrets is not used for a run with one (${who})`, () => {
    const w = world();
    // The first run leaves the launch record the next run starts ahead from; it had no secret to withhold.
    const first = cordon(w, ['--debug', '--', '/bin/sh', '-c', 'env'], opts);
    assert.equal(first.status, 0, first.stderr);
    const second = cordon(w, ['--debug', '--', '/bin/sh', '-c', LOOK], { ...opts, env: SECRETS });
    assert.equal(second.status, 0, second.stderr);
    for (const v of VALUES) assert.ok(!second.stdout.includes(v), `${v} reached the command`);
    assert.match(second.stderr, /the sandbox started ahead is not this plan's: killed unused/);
    // And the run after, with the same secrets, starts ahead from a record that withholds them.
    const third = cordon(w, ['--debug', '--', '/bin/sh', '-c', LOOK], { ...opts, env: SECRETS });
    assert.equal(third.status, 0, third.stderr);
    for (const v of VALUES) assert.ok(!third.stdout.includes(v), `${v} reached the command`);
    assert.match(third.stderr, /using the sandbox started ahead/);
  });

  test(`a project file cannot pass a secret; explain lists what is withheld (${who})`, () => {
    const w = world();
    mkdirSync(join(w.proj, '.cordon'), { recursive: true });
    writeFileSync(join(w.proj, '.cordon', 'settings.json'), JSON.stringify({ environment: { pass: ['GITHUB_TOKEN'] } }));
    own(w, opts);
    const r = cordon(w, ['--', '/bin/sh', '-c', 'echo ran; env'], { ...opts, env: SECRETS });
    assert.equal(r.status, 125, r.stdout);
    assert.equal(r.stdout, '', 'nothing ran');
    assert.match(r.stderr, /settings\.json: environment\.pass\[0\] = "GITHUB_TOKEN" would widen/);
    const e = cordon(w, ['explain', '--ignore-project-settings'], { ...opts, env: SECRETS });
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /^environment withheld: ANTHROPIC_API_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, PGPASSWORD /m);
    const j = cordon(w, ['explain', '--ignore-project-settings', '--pass-env', 'PGPASSWORD', '--json'], { ...opts, env: SECRETS });
    assert.equal(j.status, 0, j.stderr);
    const doc = JSON.parse(j.stdout) as { plan: { withheld: string[] }; policy: { environment: { pass: string[] } } };
    assert.deepEqual(doc.plan.withheld, ['ANTHROPIC_API_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN']);
    assert.deepEqual(doc.policy.environment.pass, ['PGPASSWORD']);
    for (const v of VALUES) assert.ok(!j.stdout.includes(v), `explain printed the value ${v}`);
  });
}
