import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formatOnlyConfig, newRepositories, setAsideCreated, unreadableWarning } from '../../../../src/platform/linux/after-run.js';
import { tempDir } from '../../../helpers/tmp.js';

function root(): string {
  return realpathSync(tempDir(join(tmpdir(), 'cordon-after-run-')));
}

test('a new repository: config, hooks and redirects are moved aside, content kept; sample-only hooks stay', () => {
  const r = root();
  const git = join(r, '.git');
  mkdirSync(join(git, 'hooks'), { recursive: true });
  mkdirSync(join(git, 'info'));
  writeFileSync(join(git, 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(git, 'config'), '[core]\n\tfsmonitor = evil\n');
  writeFileSync(join(git, 'commondir'), '/elsewhere\n');
  writeFileSync(join(git, 'info', 'attributes'), '* filter=x\n');
  writeFileSync(join(git, 'hooks', 'pre-commit.sample'), '#!/bin/sh\n');
  const warnings = setAsideCreated([{ path: git, kind: 'repository', repo: r }]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /created a git repository in .*config -> config\.cordon-untrusted, commondir -> commondir\.cordon-untrusted, info\/attributes -> info\/attributes\.cordon-untrusted\)/);
  assert.doesNotMatch(warnings[0]!, /hooks ->/, 'hooks holding only samples run nothing and stay');
  assert.equal(readFileSync(join(git, 'config.cordon-untrusted'), 'utf8'), '[core]\n\tfsmonitor = evil\n', 'moved, not lost');
  assert.ok(!existsSync(join(git, 'commondir')) && !existsSync(join(git, 'info', 'attributes')));
  assert.equal(readFileSync(join(git, 'config'), 'utf8'), '', 'a fresh config in its place, with nothing from the old one but format settings (none here)');
  assert.ok(existsSync(join(git, 'HEAD')) && existsSync(join(git, 'hooks', 'pre-commit.sample')));

  // A real hook: the hooks directory goes; a name already taken gets -2.
  writeFileSync(join(git, 'hooks', 'pre-commit'), '#!/bin/sh\nevil\n');
  writeFileSync(join(git, 'config'), '[core]\n\tfsmonitor = again\n');
  const again = setAsideCreated([{ path: git, kind: 'repository', repo: r }]);
  assert.match(again[0]!, /config -> config\.cordon-untrusted-2, hooks -> hooks\.cordon-untrusted\)/);
  assert.equal(readFileSync(join(git, 'config.cordon-untrusted'), 'utf8'), '[core]\n\tfsmonitor = evil\n', 'the first one is untouched');
  assert.equal(readFileSync(join(git, 'hooks.cordon-untrusted', 'pre-commit'), 'utf8'), '#!/bin/sh\nevil\n');
});

test('allowGitConfig keeps a new repository\'s config; a .git file is moved as a whole; nothing there, nothing said', () => {
  const r = root();
  mkdirSync(join(r, 'a', '.git', 'hooks'), { recursive: true });
  writeFileSync(join(r, 'a', '.git', 'config'), '[user]\n\tname = me\n');
  writeFileSync(join(r, 'a', '.git', 'hooks', 'post-checkout'), 'evil');
  assert.match(setAsideCreated([{ path: join(r, 'a', '.git'), kind: 'repository', repo: join(r, 'a'), keepConfig: true }])[0]!, /\(hooks -> hooks\.cordon-untrusted\)/);
  assert.ok(existsSync(join(r, 'a', '.git', 'config')));

  mkdirSync(join(r, 'b'));
  writeFileSync(join(r, 'b', '.git'), 'gitdir: /somewhere/evil\n');
  const w = setAsideCreated([{ path: join(r, 'b', '.git'), kind: 'repository', repo: join(r, 'b') }]);
  assert.match(w[0]!, /points git elsewhere.*moved to .*b\/\.git\.cordon-untrusted/);
  assert.equal(readFileSync(join(r, 'b', '.git.cordon-untrusted'), 'utf8'), 'gitdir: /somewhere/evil\n');

  assert.deepEqual(setAsideCreated([{ path: join(r, 'c', '.git'), kind: 'repository', repo: join(r, 'c') }, { path: join(r, 'a', '.git', 'commondir'), kind: 'git-file', repo: join(r, 'a') }]), []);
});

test('a file that cannot be moved aside is reported, not hidden', () => {
  const r = root();
  mkdirSync(join(r, '.git'));
  writeFileSync(join(r, '.git', 'commondir'), '/evil\n');
  for (let n = 1; n < 100; n++) writeFileSync(join(r, '.git', `commondir.cordon-untrusted${n === 1 ? '' : `-${n}`}`), '');
  assert.match(setAsideCreated([{ path: join(r, '.git', 'commondir'), kind: 'git-file', repo: r }])[0]!, new RegExp(`could not be moved aside \\(no free name\\): read it before running git in ${r}$`));
  assert.equal(readFileSync(join(r, '.git', 'commondir'), 'utf8'), '/evil\n');
});

test('a new git file in a protected repository is moved aside with its content', () => {
  const r = root();
  mkdirSync(join(r, '.git'));
  writeFileSync(join(r, '.git', 'config.worktree'), '[core]\n\thooksPath = /evil\n');
  const w = setAsideCreated([{ path: join(r, '.git', 'config.worktree'), kind: 'git-file', repo: r }]);
  assert.match(w[0]!, /created .*config\.worktree.*moved to .*config\.worktree\.cordon-untrusted/);
  assert.equal(readFileSync(join(r, '.git', 'config.worktree.cordon-untrusted'), 'utf8'), '[core]\n\thooksPath = /evil\n');
});

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

test('formatOnlyConfig keeps how to read the repository and nothing that runs code', () => {
  const text = [
    '[core]', '\trepositoryformatversion = 1', '\tfilemode = true', '\tbare = false', '\tfsmonitor = /evil', '\thooksPath = /evil',
    '\tsshCommand = evil', '[extensions]', '\tobjectFormat = sha256', '\tworktreeConfig = true',
    '[remote "origin"]', '\tbare = true', '\turl = x', '[core] pager = evil', '\tsymlinks = false', '[alias]', '\tst = !evil',
    '[core]', '\tlogallrefupdates = "quoted" ; or odd', '\tignorecase = true',
  ].join('\n');
  assert.equal(formatOnlyConfig(text), '[core]\n\trepositoryformatversion = 1\n\tfilemode = true\n\tbare = false\n\tignorecase = true\n[extensions]\n\tobjectformat = sha256\n');
});

test('a config the command made a FIFO or a link: read as empty (cordon never blocks on it or follows it), a fresh config still written', () => {
  const r = root();
  const secret = join(r, 'secret');
  writeFileSync(secret, '[core]\n\tbare = true\n');
  for (const make of [(p: string) => spawnSync('mkfifo', [p]), (p: string) => symlinkSync(secret, p)]) {
    const git = join(r, `repo-${Math.random().toString(36).slice(2)}`, '.git');
    mkdirSync(git, { recursive: true });
    make(join(git, 'config'));
    const warnings = setAsideCreated([{ path: git, kind: 'repository', repo: dirname(git) }]);
    assert.match(warnings[0]!, /config -> config\.cordon-untrusted/);
    assert.equal(readFileSync(join(git, 'config'), 'utf8'), '', 'nothing taken from what the command put there');
    assert.ok(lstatSync(join(git, 'config.cordon-untrusted')).isFIFO() || lstatSync(join(git, 'config.cordon-untrusted')).isSymbolicLink(), 'moved as it was');
  }
});
