/**
 * The start-up scans (early.ts): which roots they predict, and that the
 * prediction learns from the previous run in the same directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';

// cordon's state directory for this test process only (runtimeDir reads it once).
const state = realpathSync(tempDir(join(tmpdir(), 'cordon-early-')));
process.env.XDG_STATE_HOME = state;
// A small working directory: the early scan walks it.
process.chdir(realpathSync(tempDir(join(tmpdir(), 'cordon-early-cwd-'))));
const { predictionKey, rememberRoots, startEarlyScans } = await import('../../../src/cli/early.js');

test('no scan for subcommands that run nothing; the working directory otherwise', async () => {
  for (const argv of [['explain'], ['doctor'], ['--help'], ['--version']]) assert.deepEqual(startEarlyScans(argv), []);
  const scans = startEarlyScans(['--', 'true']);
  assert.deepEqual(scans.map((s) => s.roots), [[realpathSync(process.cwd())]]);
  await Promise.all(scans.map((s) => s.result));
});

test('the roots the last run with the same options from this directory scanned are scanned early next time; a change is remembered', async () => {
  const cwd = realpathSync(process.cwd());
  const extra = realpathSync(tempDir(join(tmpdir(), 'cordon-early-root-')));
  mkdirSync(join(extra, 'repo', '.git'), { recursive: true });
  rememberRoots(join(state, 'cordon'), predictionKey(cwd, ['-c', 'anything']), cwd, [cwd, extra]);
  const scans = startEarlyScans(['-c', 'true']);
  assert.deepEqual(scans.map((s) => s.roots), [[cwd, extra].sort()], 'one scan of both; the command is not part of the key');
  // Other options are another key: nothing remembered for them yet.
  assert.deepEqual(startEarlyScans(['--settings', 'x.json', '--', 'true']).map((s) => s.roots), [[cwd]]);
  const found = await scans[0]!.result;
  assert.ok(found.repos.includes(join(extra, 'repo')), found.repos.join(', '));
  // A run with no other root forgets it.
  rememberRoots(join(state, 'cordon'), predictionKey(cwd, ['--', 'ls']), cwd, [cwd]);
  assert.deepEqual(startEarlyScans(['-c', 'true']).map((s) => s.roots), [[cwd]]);
  assert.ok(readdirSync(join(state, 'cordon')).some((n) => /^roots-[0-9a-f]{16}\.json$/.test(n)));
});
