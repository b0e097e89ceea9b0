/**
 * The examples run as a user runs them (examples/agent-host.mjs imports
 * 'cordon' from this checkout): the ordinary commands work, the refused ones
 * come back to the host as failures, and nothing lands outside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorld, ROOT } from '../../helpers/cordon.js';

test('examples/agent-host.mjs: the work is done, the refused commands fail, nothing is planted', () => {
  const w = makeWorld();
  // As it would be in a project that depends on cordon: node_modules/cordon -> this checkout.
  mkdirSync(join(w.root, 'host', 'node_modules'), { recursive: true });
  symlinkSync(ROOT, join(w.root, 'host', 'node_modules', 'cordon'));
  symlinkSync(join(ROOT, 'examples', 'agent-host.mjs'), join(w.root, 'host', 'agent-host.mjs'));
  const r = spawnSync(process.execPath, ['--preserve-symlinks-main', '--preserve-symlinks', join(w.root, 'host', 'agent-host.mjs'), w.proj], { cwd: w.proj, env: { ...w.env, TMPDIR: w.outside }, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const results = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { command: string; exitCode: number; stdout: string });
  assert.deepEqual(results.map((x) => x.exitCode === 0), [true, true, false, false, false], r.stdout);
  assert.equal(readFileSync(join(w.proj, 'agent-notes.txt'), 'utf8'), 'notes from the agent\n');
  assert.equal(readFileSync(join(w.outside, 'agent-host-cache', 'entry'), 'utf8'), 'cached\n');
  assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
  assert.ok(!results[3]!.stdout.includes('SSH-PRIVATE-KEY'));
  assert.ok(!existsSync(join(w.proj, '.git', 'hooks', 'post-checkout')));
});
