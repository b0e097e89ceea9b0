/**
 * Directories the command locks (locks.ts): what is said when the scan
 * after the run could not read one the scan before it could
 * (unreadableWarning), and which are given back to their owner
 * (reopenLocked, reopenAncestors). From inside, as an unprivileged user:
 * test/integration/after-run/after-run.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reopenAncestors, reopenLocked, unreadableWarning } from '../../../../src/platform/linux/locks.js';
import { tempDir } from '../../../helpers/tmp.js';

test('unreadableWarning: as unreadable as before the run, nothing to say; more, said by count', () => {
  const rescan = { roots: ['/p', '/g'], patterns: [], known: ['/p'], unreadable: 1, writable: ['/p'], keepConfig: false };
  assert.equal(unreadableWarning(rescan, { unreadable: 1 }), undefined, 'as unreadable as before the run: nothing to say');
  assert.match(unreadableWarning(rescan, { unreadable: 3 }) ?? '', /^2 more directories in \/p, \/g could not be read after the run/);
});

test('locked directories by name: one unlocked and another locked is said, with its name; the same ones are not; a list cut short falls back to the count', () => {
  const rescan = { roots: ['/p'], patterns: [], known: ['/p'], unreadable: 1, unreadablePaths: ['/p/old'], writable: ['/p'], keepConfig: false };
  assert.match(unreadableWarning(rescan, { unreadable: 1, unreadablePaths: ['/p/hide'] }) ?? '', /^\/p\/hide could not be read after the run, and could before it/);
  assert.equal(unreadableWarning(rescan, { unreadable: 1, unreadablePaths: ['/p/old'] }), undefined);
  assert.equal(unreadableWarning(rescan, { unreadable: 0, unreadablePaths: [] }), undefined);
  // More unreadable than named (the scanner names the first 1000): only the count can be compared.
  assert.equal(unreadableWarning({ ...rescan, unreadable: 2000, unreadablePaths: ['/p/old'] }, { unreadable: 2000, unreadablePaths: ['/p/hide'] }), undefined);
  assert.match(unreadableWarning({ ...rescan, unreadable: 2000, unreadablePaths: ['/p/old'] }, { unreadable: 2001, unreadablePaths: ['/p/hide'] }) ?? '', /^1 more directory/);
});

test('reopenLocked: a directory locked while the command ran that is this user\'s own, and each of its parents that lost search then, gets u+rwx back, no more; one locked before the run or after its end, another user\'s, one outside the writable paths, a link, or lists cut short: left as they are', { skip: process.getuid?.() !== 0 ? 'another user\'s directory needs root to make (CI runs as root)' : false }, () => {
  const p = realpathSync(tempDir(join(tmpdir(), 'cordon-reopen-')));
  const dir = (name: string, mode: number) => { const d = join(p, name); mkdirSync(d); chmodSync(d, mode); return d; };
  const since = String(BigInt(Date.now() - 1000) * 1_000_000n);
  const mine = dir('mine', 0o000);
  const searchOnly = dir('search-only', 0o311);
  const before = dir('before', 0o000);
  const theirs = dir('theirs', 0o000);
  chownSync(theirs, 4242, 4242);
  // A parent the command took search from (listable: only its children are unreadable to the scan).
  const parent = dir('parent', 0o755);
  const child = join(parent, 'child');
  mkdirSync(child);
  chmodSync(parent, 0o600);
  symlinkSync('mine', join(p, 'link'));
  const outside = realpathSync(tempDir(join(tmpdir(), 'cordon-reopen-out-')));
  chmodSync(outside, 0o000);
  const until = String(BigInt(Date.now() + 1000) * 1_000_000n);
  const rescan = { roots: [p], patterns: [], known: [], unreadable: 1, unreadablePaths: [before], writable: [p], keepConfig: false };
  const after = [mine, searchOnly, before, theirs, child, join(p, 'link'), outside, join(p, 'gone')];
  // Root reads another user's mode-000 directory without any change (its scan would not have named it): looked at again, not changed.
  assert.deepEqual(reopenLocked(rescan, { unreadable: after.length, unreadablePaths: after }, since, until), { changed: [mine, searchOnly, parent], readable: [mine, searchOnly, theirs, child], gone: [join(p, 'gone')] });
  assert.equal(statSync(mine).mode & 0o7777, 0o700);
  assert.equal(statSync(searchOnly).mode & 0o7777, 0o711);
  assert.equal(statSync(parent).mode & 0o7777, 0o700);
  for (const d of [before, theirs, outside]) assert.equal(statSync(d).mode & 0o777, 0, d);
  // Locked before the run started, or after its sandbox ended (the user's own, then): left.
  chmodSync(mine, 0o000);
  const later = String(BigInt(Date.now() + 60_000) * 1_000_000n);
  // (Root reads it all the same: only what is changed tells.)
  assert.deepEqual(reopenLocked(rescan, { unreadable: 1, unreadablePaths: [mine] }, later, String(BigInt(later) + 1_000_000_000n)).changed, []);
  assert.deepEqual(reopenLocked(rescan, { unreadable: 1, unreadablePaths: [mine] }, String(BigInt(since) - 10_000_000_000n), String(BigInt(since) - 5_000_000_000n)).changed, []);
  // No end known (a killed run's journal), or the scanner named only the first ones: nothing is given back.
  assert.deepEqual(reopenLocked(rescan, { unreadable: 1, unreadablePaths: [mine] }, since, undefined), { changed: [], readable: [], gone: [] });
  assert.deepEqual(reopenLocked({ ...rescan, unreadable: 2000 }, { unreadable: 2001, unreadablePaths: [mine] }, since, until), { changed: [], readable: [], gone: [] });
  assert.deepEqual(reopenLocked(rescan, { unreadable: 2, unreadablePaths: [mine] }, since, until), { changed: [], readable: [], gone: [] });
  assert.equal(statSync(mine).mode & 0o777, 0);
  chmodSync(mine, 0o700);
  chmodSync(outside, 0o700);
});

test('reopenAncestors: only at a run\'s own end; a directory this process can still read, write and search is left as it is (root reads a mode-000 one of its own)', () => {
  const root = realpathSync(tempDir(join(tmpdir(), 'cordon-locks-')));
  const inner = join(root, 'a', 'b');
  mkdirSync(inner, { recursive: true });
  const since = String(BigInt(Date.now() - 1000) * 1_000_000n);
  const until = String(BigInt(Date.now() + 1000) * 1_000_000n);
  chmodSync(join(root, 'a'), 0o000);
  try {
    assert.deepEqual(reopenAncestors([join(inner, 'x')], [root], undefined, until), [], 'not at a run\'s own end');
    if (process.getuid?.() === 0) {
      assert.deepEqual(reopenAncestors([join(inner, 'x')], [root], since, until), []);
      assert.equal(statSync(join(root, 'a')).mode & 0o777, 0o000, 'root reaches it: left');
    }
    assert.deepEqual(reopenAncestors(['/elsewhere/x'], [root], since, until), [], 'outside every writable path: nothing');
  } finally {
    chmodSync(join(root, 'a'), 0o755);
  }
});
