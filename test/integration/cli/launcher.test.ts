/**
 * bin/cordon.cjs run as an executable, as users run it: its sh line starts
 * Node without NODE_EXTRA_CA_CERTS (Node would parse its CA store at start)
 * and without NODE_OPTIONS (no --require into cordon's own process)
 * and must change nothing else: the command gets the caller's environment
 * and arguments, cordon's exit status is the command's, and a symlink to the
 * bin (node_modules/.bin/cordon) works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLI, makeWorld } from '../../helpers/cordon.js';

const PRINT = ['--', '/bin/sh', '-c', 'printf "%s|%s" "${NODE_EXTRA_CA_CERTS-unset}" "${CORDON_NODE_EXTRA_CA_CERTS-unset}"'];

function worldEnv(extra: NodeJS.ProcessEnv): { proj: string; env: NodeJS.ProcessEnv } {
  const w = makeWorld();
  // The bin finds node on PATH, as `#!/usr/bin/env node` would.
  return { proj: w.proj, env: { ...w.env, PATH: `${dirname(process.execPath)}:${w.env.PATH}`, ...extra } };
}

test('the command gets NODE_EXTRA_CA_CERTS as the caller had it: set, empty or unset; never the variable that carried it', () => {
  for (const [value, want] of [['/etc/ssl/certs/extra.pem', '/etc/ssl/certs/extra.pem|unset'], ['', '|unset'], [undefined, 'unset|unset']] as const) {
    const { proj, env } = worldEnv(value === undefined ? {} : { NODE_EXTRA_CA_CERTS: value });
    const r = spawnSync(CLI, PRINT, { cwd: proj, env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, want, `caller's value ${JSON.stringify(value)}`);
    // Started as `node bin/cordon.cjs` (no sh line): the same.
    const viaNode = spawnSync(process.execPath, [CLI, ...PRINT], { cwd: proj, env, encoding: 'utf8' });
    assert.equal(viaNode.stdout, want, `node bin/cordon.cjs, caller's value ${JSON.stringify(value)}`);
  }
});

test('the command gets NODE_OPTIONS as the caller had it: set, empty or unset; never the variable that carried it', () => {
  const print = ['--', '/bin/sh', '-c', 'printf "%s|%s" "${NODE_OPTIONS-unset}" "${CORDON_NODE_OPTIONS-unset}"'];
  for (const [value, want] of [['--no-warnings', '--no-warnings|unset'], ['', '|unset'], [undefined, 'unset|unset']] as const) {
    const { proj, env } = worldEnv(value === undefined ? {} : { NODE_OPTIONS: value });
    const r = spawnSync(CLI, print, { cwd: proj, env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, want, `caller's value ${JSON.stringify(value)}`);
  }
});

test("cordon's own Node process starts without NODE_EXTRA_CA_CERTS (so it does not parse the CA store); started as `node FILE` it has it", async () => {
  const { proj, env } = worldEnv({ NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/extra.pem' });
  const startEnv = async (argv: readonly string[]): Promise<string[]> => {
    const child = spawn(argv[0]!, [...argv.slice(1), '--', 'sleep', '30'], { cwd: proj, env, stdio: 'ignore' });
    try {
      // /proc/PID/environ is the environment the process was exec'd with: wait for the exec of node.
      for (let i = 0; i < 500; i++) {
        const cmd = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
        if (cmd[0] === 'node' || cmd[0] === process.execPath) return readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('cordon never exec-ed node');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  const bin = await startEnv([CLI]);
  assert.ok(!bin.some((e) => e.startsWith('NODE_EXTRA_CA_CERTS=')), 'the bin starts node without it');
  assert.ok(bin.includes('CORDON_NODE_EXTRA_CA_CERTS=/etc/ssl/certs/extra.pem'), 'and carries the value');
  const direct = await startEnv([process.execPath, CLI]);
  assert.ok(direct.includes('NODE_EXTRA_CA_CERTS=/etc/ssl/certs/extra.pem'), 'control: `node FILE` has no sh step');
});

test('arguments, the exit status and a symlinked bin pass through the sh line unchanged', () => {
  const { proj, env } = worldEnv({});
  const args = ['a b', '$HOME', '"q"', "'s'", '', '--', '-x', 'line\nbreak', '*', '\\'];
  const r = spawnSync(CLI, ['--', '/usr/bin/printf', '%s\\0', ...args], { cwd: proj, env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), args);
  assert.equal(spawnSync(CLI, ['--', '/bin/sh', '-c', 'exit 42'], { cwd: proj, env }).status, 42);
  const link = join(dirname(proj), 'cordon-link');
  symlinkSync(CLI, link);
  const viaLink = spawnSync(link, PRINT, { cwd: proj, env: { ...env, NODE_EXTRA_CA_CERTS: '/x.pem' }, encoding: 'utf8' });
  assert.equal(viaLink.status, 0, viaLink.stderr);
  assert.equal(viaLink.stdout, '/x.pem|unset');
});
