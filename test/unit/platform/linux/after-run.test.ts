import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newRepositories, unreadableWarning } from '../../../../src/platform/linux/after-run.js';

test('newRepositories: what the second scan found and the first did not, in a writable root, once', () => {
  const rescan = { roots: ['/p', '/g'], patterns: [], known: ['/p', '/p/old', '/p/.git/modules/a'], unreadable: 1, writable: ['/p'], keepConfig: false };
  const watch = [{ path: '/p/fresh/.git', kind: 'repository' as const, repo: '/p/fresh' }];
  const found = { repos: ['/p', '/p/old', '/p/a/b/new', '/g/host-made', '/p/fresh'], submoduleGitDirs: ['/p/.git/modules/a', '/p/.git/modules/b'] };
  assert.deepEqual(newRepositories(rescan, found, watch), [
    { path: '/p/a/b/new/.git', kind: 'repository', repo: '/p/a/b/new' },
    { path: '/p/.git/modules/b', kind: 'repository', repo: '/p/.git/modules/b' },
  ], 'known ones, one outside the writable roots (the host made it) and one already on the watch list are left out');
  assert.equal(newRepositories({ ...rescan, keepConfig: true }, found)[0]?.keepConfig, true, 'allowGitConfig carries over');
  assert.deepEqual(newRepositories(rescan, { repos: ['/p', '/p/old'], submoduleGitDirs: [] }), [], 'nothing new, nothing to do');
  assert.equal(unreadableWarning(rescan, { unreadable: 1 }), undefined, 'as unreadable as before the run: nothing to say');
  assert.match(unreadableWarning(rescan, { unreadable: 3 }) ?? '', /^2 more directories in \/p, \/g could not be read after the run/);
});
