/**
 * srt's library shape (src/srt-compat.ts): initialize, wrapWithSandbox,
 * cleanupAfterCommand, reset. A wrapped command, spawned as srt's callers
 * spawn it (`shell: true`), meets cordon's walls under the configuration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { makeWorld } from '../../helpers/cordon.js';

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
