/**
 * srt's library shape (src/srt-compat.ts): initialize, wrapWithSandbox,
 * cleanupAfterCommand, reset. A wrapped command, spawned as srt's callers
 * spawn it (`shell: true`), meets cordon's walls under the configuration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { makeWorld, ROOT } from '../../helpers/cordon.js';

process.env.XDG_STATE_HOME = realpathSync(tempDir(join(tmpdir(), 'cordon-srt-compat-')));
const { SandboxManager, CordonError } = await import('cordon');

test('a wrapped command runs under the configuration: writes where allowed, nowhere else, denied reads hidden', async () => {
  const w = makeWorld();
  await SandboxManager.initialize({ filesystem: { allowWrite: ['.'], denyWrite: [], denyRead: ['~/.ssh'] }, network: { allowedDomains: [], deniedDomains: [] } });
  try {
    assert.equal(SandboxManager.isSandboxingEnabled(), true);
    const cmd = await SandboxManager.wrapWithSandbox(`touch made; touch ${w.outside}/x 2>/dev/null || echo refused; cat ${w.home}/.ssh/id_rsa 2>/dev/null || echo hidden; echo "it's quoted"`);
    const r = spawnSync(cmd, { shell: true, cwd: w.proj, env: w.env, encoding: 'utf8' });
    SandboxManager.cleanupAfterCommand();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "refused\nhidden\nit's quoted\n");
    assert.ok(existsSync(join(w.proj, 'made')));
    assert.ok(!existsSync(join(w.outside, 'x')));
  } finally {
    await SandboxManager.reset();
  }
  assert.equal(SandboxManager.isSandboxingEnabled(), false);
  await assert.rejects(SandboxManager.wrapWithSandbox('true'), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_USAGE');
});

test('the configuration is validated like a settings file: a key cordon does not implement is refused, never ignored', async () => {
  await assert.rejects(SandboxManager.initialize({ network: { allowedDomains: [], deniedDomains: [], httpProxyPort: 8080 } }), (e: unknown) => e instanceof CordonError && /httpProxyPort/.test(e.message));
  await assert.rejects(SandboxManager.initialize({ filesystem: { allowWrit: ['.'] } }), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_INVALID');
  assert.equal(SandboxManager.isSandboxingEnabled(), false);
});

test('a process that ends without reset() leaves no configuration file; one that was killed has its file removed by the next initialize()', async () => {
  const state = join(process.env.XDG_STATE_HOME!, 'cordon');
  const lib = join(ROOT, 'dist', 'bundle', 'sandbox.mjs');
  const configs = () => readdirSync(state).filter((n) => n.startsWith('srt-config-'));
  const child = (then: string) => spawnSync(process.execPath, ['--input-type=module', '-e', `const { SandboxManager } = await import(${JSON.stringify(lib)}); await SandboxManager.initialize({}); ${then}`], { env: process.env, encoding: 'utf8' });
  const ended = child('console.log("initialized")');
  assert.equal(ended.stdout, 'initialized\n', ended.stderr);
  assert.deepEqual(configs(), [], 'removed when the process exits');
  const killed = child('process.kill(process.pid, "SIGKILL")');
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(configs().length, 1, 'a killed process cannot remove its file');
  await SandboxManager.initialize({});
  try {
    assert.equal(configs().length, 1, 'the dead process\'s file is gone; this process\'s own is there');
    assert.ok(configs()[0]!.startsWith(`srt-config-${process.pid}-`));
  } finally {
    await SandboxManager.reset();
  }
  assert.deepEqual(configs(), []);
});
