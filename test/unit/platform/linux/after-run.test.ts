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

test('newRepositories: a known path counts as the repository from before the run only while its git dir has the same identity', () => {
  const ids = { '/p/.git': '1:10:100', '/p/old/.git': '1:11:110', '/p/gone/.git': '1:12:120', '/p/vendor/x.git': '1:13:130', '/p/.git/modules/a': '1:14:140', '/p/both/.git': '1:15:150', '/p/both': '1:16:160' };
  const rescan = { roots: ['/p'], patterns: [], known: ['/p', '/p/old', '/p/gone', '/p/noid', '/p/vendor/x.git', '/p/.git/modules/a', '/p/both'], ids, unreadable: 0, writable: ['/p'], keepConfig: false };
  const repos = ['/p', '/p/old', '/p/gone', '/p/noid', '/p/both'];
  const found = { repos, submoduleGitDirs: ['/p/.git/modules/a'], bareGitDirs: ['/p/vendor/x.git', '/p/both'] };
  assert.deepEqual(newRepositories(rescan, { ...found, ids: { ...ids } }).map((w) => w.path), ['/p/noid/.git'], 'every identity as before: only the one the first scan had none for (it could not be looked at) is new');
  const after = {
    ...ids,
    '/p/old/.git': '1:11:111', // the same inode number, born later: removed and made again (ext4 reuses the number at once)
    '/p/gone/.git': '1:99:120', // another directory renamed onto the path
    '/p/vendor/x.git': '2:13:130', // another device
    '/p/.git/modules/a': '1:14:141',
    '/p/both': '1:16:161', // a bare git dir that is also a work tree: each identity counts on its own
  };
  assert.deepEqual(newRepositories(rescan, { ...found, ids: after }), [
    { path: '/p/old/.git', kind: 'repository', repo: '/p/old' },
    { path: '/p/gone/.git', kind: 'repository', repo: '/p/gone' },
    { path: '/p/noid/.git', kind: 'repository', repo: '/p/noid' },
    { path: '/p/.git/modules/a', kind: 'repository', repo: '/p/.git/modules/a' },
    { path: '/p/vendor/x.git', kind: 'repository', repo: '/p/vendor/x.git' },
    { path: '/p/both', kind: 'repository', repo: '/p/both' },
  ]);
  const { '/p/old/.git': _unseen, ...withoutOld } = ids;
  assert.deepEqual(newRepositories(rescan, { ...found, ids: withoutOld }).map((w) => w.path), ['/p/old/.git', '/p/noid/.git'], 'a git dir the second scan could not look at is new (fail closed)');
  assert.deepEqual(newRepositories(rescan, found).map((w) => w.path), repos.map((r) => `${r}/.git`).concat('/p/.git/modules/a', '/p/vendor/x.git', '/p/both'), 'a second scan with no identities at all: everything is new');
  const watch = [{ path: '/p/old/.git', kind: 'link' as const, repo: '/p/old', target: '../elsewhere' }];
  assert.deepEqual(newRepositories(rescan, { ...found, ids: after }, watch).map((w) => w.path), ['/p/gone/.git', '/p/noid/.git', '/p/.git/modules/a', '/p/vendor/x.git', '/p/both'], 'a watched path stays its watch\'s (a .git link is made again)');
  const { ids: _none, ...pathsOnly } = rescan;
  assert.deepEqual(newRepositories(pathsOnly, { ...found, ids: after }), [], 'a scan before the run that reported no identities: paths alone decide');
});
