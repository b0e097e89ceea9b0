/**
 * The background scan (scanRoots/startScan) against the real native scanner:
 * an early scan reused only when it asked the same question, and otherwise
 * waited out (never killed mid-write).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helperPath } from '../../../../src/platform/linux/helper-path.js';
import { scanRoots, scanTrees, startScan, type PendingScan, type ScanResult } from '../../../../src/platform/linux/scan.js';
import { tempDir } from '../../../helpers/tmp.js';

const helper = helperPath();
const NONE: ScanResult = { repos: [], submoduleGitDirs: [], bareGitDirs: [], worktreeGitDirs: [], matches: [], links: [], linkedMatches: [], incomplete: [], linkedIncomplete: [], unreadable: 0 };

function tree(): { a: string; b: string } {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-scan-')));
  for (const p of ['a/.git', 'a/deep/x/.git', 'a/env/.env', 'b/.git', 'b/.git/modules/m', 'b/sub/.env']) mkdirSync(join(d, p), { recursive: true });
  return { a: join(d, 'a'), b: join(d, 'b') };
}

const sorted = (r: ScanResult) => ({ repos: [...r.repos].sort(), submoduleGitDirs: [...r.submoduleGitDirs].sort(), matches: [...r.matches].sort(), unreadable: r.unreadable });

test('scanRoots gives what a blocking scan of the same roots gives, in any order', async () => {
  const { a, b } = tree();
  const both = await scanRoots(helper, [b, a], ['.env'], undefined);
  assert.deepEqual(sorted(both), sorted(scanTrees(helper, [a, b], ['.env'])));
  assert.deepEqual(sorted(both).repos, [a, join(a, 'deep', 'x'), b]);
  assert.equal(both.matches.length, 2);
});

test('an early scan is used when it asked the same, and waited out (not used) when it did not', async () => {
  const { a, b } = tree();
  let settled = false;
  const sentinel: PendingScan = {
    roots: [a, b].sort(),
    patterns: [],
    result: new Promise((r) => setTimeout(() => { settled = true; r({ ...NONE, repos: ['/from/early'] }); }, 50)),
  };
  const used = await scanRoots(helper, [b, a], [], undefined, [sentinel]);
  assert.deepEqual(used.repos, ['/from/early']);
  // Other roots: not used either.
  assert.ok(!(await scanRoots(helper, [a], [], undefined, [sentinel])).repos.includes('/from/early'));
  // Different patterns: the early answer is not used, but the call returns only after it settled.
  settled = false;
  const unused = await scanRoots(helper, [a, b], ['.env'], undefined, [{ ...sentinel, result: new Promise((r) => setTimeout(() => { settled = true; r({ ...NONE, repos: ['/from/early'] }); }, 50)) }]);
  assert.ok(settled);
  assert.ok(!unused.repos.includes('/from/early'));
  assert.deepEqual(sorted(unused).repos, [a, join(a, 'deep', 'x'), b]);
});

test('startScan of a real root runs in the background; a scanner that cannot run rejects with the root named', async () => {
  const { a } = tree();
  const p = startScan(helper, [a], []);
  assert.deepEqual(sorted(await p.result).repos, [a, join(a, 'deep', 'x')]);
  await assert.rejects(startScan('/nonexistent/cordon-helper', [a], []).result, (e: Error) => e.message.includes(`scanning ${a} for git repositories failed`));
});
