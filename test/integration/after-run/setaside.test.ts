/**
 * The after-run set-aside on the host (after-run.ts + the helper's
 * `setaside`, native/setaside.h), on trees shaped the way a hostile command
 * would shape them: links on the way, FIFOs, names already taken, configs
 * that make git run code. Judged on the host's files afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { harmlessConfig, setAside, setAsideCreated } from '../../../src/platform/linux/after-run.js';
import { rootIdentities } from '../../../src/platform/linux/no-follow.js';
import type { WatchedPath } from '../../../src/policy/policy.js';
import { buildHelper } from '../../helpers/native.js';
import { testUser } from '../../helpers/cordon.js';
import { tempDir } from '../../helpers/tmp.js';

const helper = buildHelper();

function root(): string {
  return realpathSync(tempDir(join(tmpdir(), 'cordon-after-run-')));
}
const setAsideIn = (watch: WatchedPath[], r: string) => setAsideCreated(watch, [r], helper);

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
  const warnings = setAsideIn([{ path: git, kind: 'repository', repo: r }], r);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /created a git repository in .*config -> config\.cordon-untrusted \(core\.fsmonitor not kept\), commondir -> commondir\.cordon-untrusted, info\/attributes -> info\/attributes\.cordon-untrusted\)/);
  assert.doesNotMatch(warnings[0]!, /hooks ->/, 'hooks holding only samples run nothing and stay');
  assert.equal(readFileSync(join(git, 'config.cordon-untrusted'), 'utf8'), '[core]\n\tfsmonitor = evil\n', 'moved, not lost');
  assert.ok(!existsSync(join(git, 'commondir')) && !existsSync(join(git, 'info', 'attributes')));
  assert.equal(readFileSync(join(git, 'config'), 'utf8'), '', 'a fresh config in its place, with nothing that runs code (nothing else here)');
  assert.ok(existsSync(join(git, 'HEAD')) && existsSync(join(git, 'hooks', 'pre-commit.sample')));

  // A real hook: the hooks directory goes; a name already taken gets -2.
  writeFileSync(join(git, 'hooks', 'pre-commit'), '#!/bin/sh\nevil\n');
  writeFileSync(join(git, 'config'), '[core]\n\tfsmonitor = again\n', { flag: 'w' });
  const again = setAsideIn([{ path: git, kind: 'repository', repo: r }], r);
  assert.match(again[0]!, /config -> config\.cordon-untrusted-2 \(core\.fsmonitor not kept\), hooks -> hooks\.cordon-untrusted\)/);
  assert.equal(readFileSync(join(git, 'config.cordon-untrusted'), 'utf8'), '[core]\n\tfsmonitor = evil\n', 'the first one is untouched');
  assert.equal(readFileSync(join(git, 'hooks.cordon-untrusted', 'pre-commit'), 'utf8'), '#!/bin/sh\nevil\n');
});

test('every numbered name taken in advance (-2 ... -99) does not block a move: it gets a random name', () => {
  const r = root();
  const git = join(r, '.git');
  mkdirSync(git);
  writeFileSync(join(git, 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(git, 'config'), '[core]\n\tfsmonitor = evil\n');
  mkdirSync(join(git, 'config.cordon-untrusted'));
  for (let n = 2; n < 100; n++) mkdirSync(join(git, `config.cordon-untrusted-${n}`));
  const warnings = setAsideIn([{ path: git, kind: 'repository', repo: r }], r);
  const m = /config -> config\.cordon-untrusted-([0-9a-f]{16}) \(core\.fsmonitor not kept\)/.exec(warnings[0] ?? '');
  assert.ok(m, warnings.join('\n'));
  assert.equal(readFileSync(join(git, `config.cordon-untrusted-${m[1]}`), 'utf8'), '[core]\n\tfsmonitor = evil\n', 'moved, not lost');
  assert.equal(readFileSync(join(git, 'config'), 'utf8'), '', 'nothing that runs code is left in place');
});

test('a name too long to take the suffix is moved aside all the same: as much of it as fits, cut between two UTF-8 characters, and a random tail', () => {
  const r = root();
  // 241 bytes: with ".cordon-untrusted" it would be past NAME_MAX (255).
  const long = `${'é'.repeat(120)}x`;
  writeFileSync(join(r, long), 'planted');
  const warnings = setAsideIn([{ path: join(r, long), kind: 'created', repo: r }], r);
  const names = readdirSync(r, { encoding: 'buffer' });
  assert.equal(names.length, 1, warnings.join('\n'));
  const moved = names[0]!;
  assert.ok(moved.length <= 255, `${moved.length} bytes`);
  assert.ok(Buffer.from(moved.toString('utf8'), 'utf8').equals(moved), 'still valid UTF-8 (a cut character would make the name one the scan cannot check)');
  assert.match(moved.toString('utf8'), /^(é)+\.cordon-untrusted-[0-9a-f]{16}$/);
  assert.equal(readFileSync(join(r, moved.toString('utf8')), 'utf8'), 'planted', 'moved, not lost');
  assert.match(warnings.join('\n'), /moved to .*\.cordon-untrusted-[0-9a-f]{16}/, warnings.join('\n'));
});

test('a name just short enough for the suffix but not for the random tail, with every numbered name taken in advance: still moved aside', () => {
  const r = root();
  const name = 'a'.repeat(225);
  writeFileSync(join(r, name), 'planted');
  for (const n of ['', ...Array.from({ length: 98 }, (_, i) => `-${i + 2}`)]) writeFileSync(join(r, `${name}.cordon-untrusted${n}`), 'decoy');
  const warnings = setAsideIn([{ path: join(r, name), kind: 'created', repo: r }], r);
  const moved = readdirSync(r).filter((n) => /\.cordon-untrusted-[0-9a-f]{16}$/.test(n));
  assert.equal(moved.length, 1, warnings.join('\n'));
  assert.ok(Buffer.byteLength(moved[0]!) <= 255);
  assert.equal(readFileSync(join(r, moved[0]!), 'utf8'), 'planted');
  assert.ok(!readdirSync(r).includes(name), 'nothing left at the planted name');
});

test('a repository made by git init or git clone keeps its config whole, and nothing is said', () => {
  const r = root();
  const src = join(r, 'src');
  spawnSync('git', ['init', '-q', src]);
  spawnSync('git', ['clone', '-q', src, join(r, 'clone')], { env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
  spawnSync('git', ['-C', join(r, 'clone'), 'config', 'user.email', 'me@example.invalid']);
  const before = spawnSync('git', ['-C', join(r, 'clone'), 'config', '--local', '--list'], { encoding: 'utf8' }).stdout;
  const warnings = setAsideIn([{ path: join(r, 'src', '.git'), kind: 'repository', repo: src }, { path: join(r, 'clone', '.git'), kind: 'repository', repo: join(r, 'clone') }], r);
  assert.deepEqual(warnings, []);
  assert.equal(spawnSync('git', ['-C', join(r, 'clone'), 'config', '--local', '--list'], { encoding: 'utf8' }).stdout, before, 'remote, branch and user settings survive');
  assert.equal(spawnSync('git', ['-C', join(r, 'clone'), 'remote', 'get-url', 'origin'], { encoding: 'utf8' }).stdout.trim(), src);
});

test('harmlessConfig: git parses, an allowlist keeps; every key that runs code is dropped', () => {
  const text = [
    '[core]', '\trepositoryformatversion = 1', '\tfilemode = true', '\tfsmonitor = /evil', '\thooksPath = /evil', '\tsshCommand = evil', '\tpager = evil', '\teditor = evil', '\tgitProxy = evil',
    '[core] askpass = evil', '[extensions]', '\tobjectFormat = sha256',
    '[remote "origin"]', '\turl = https://example.invalid/r.git', '\tfetch = +refs/heads/*:refs/remotes/origin/*', '\tuploadpack = evil', '\treceivepack = evil',
    '[remote "x"]', '\turl = ext::sh -c evil', '[remote "y.z"]', '\tpushurl = "fd::17"',
    '[alias]', '\tst = !evil', '[credential]', '\thelper = !evil', '[filter "lfs"]', '\tsmudge = evil', '[diff "x"]', '\ttextconv = evil', '[merge "x"]', '\tdriver = evil',
    '[include]', '\tpath = /evil', '[includeIf "gitdir:/"]', '\tpath = /evil',
    '[user]', '\tname = "A \\"quoted\\" name"', '\temail = a@example.invalid ; comment',
    '[branch "main"]', '\tremote = origin', '\tmerge = refs/heads/main',
  ].join('\n');
  const { text: kept, dropped } = harmlessConfig(text);
  for (const k of ['core.fsmonitor', 'core.hookspath', 'core.sshcommand', 'core.pager', 'core.editor', 'core.gitproxy', 'core.askpass', 'remote."origin".uploadpack', 'remote."origin".receivepack', 'remote."x".url', 'remote."y.z".pushurl', 'alias.st', 'credential.helper', 'filter."lfs".smudge', 'diff."x".textconv', 'merge."x".driver', 'include.path', 'includeif."gitdir:/".path']) {
    assert.ok(dropped.includes(k), `${k} dropped (${dropped.join(', ')})`);
  }
  // Read back by git: the same harmless keys, the same values.
  const back = spawnSync('git', ['config', '--file', '-', '--list'], { input: kept, encoding: 'utf8', cwd: '/' }).stdout;
  assert.equal(back, [
    'core.repositoryformatversion=1', 'core.filemode=true', 'extensions.objectformat=sha256',
    'remote.origin.url=https://example.invalid/r.git', 'remote.origin.fetch=+refs/heads/*:refs/remotes/origin/*',
    'user.name=A "quoted" name', 'user.email=a@example.invalid', 'branch.main.remote=origin', 'branch.main.merge=refs/heads/main', '',
  ].join('\n'));
  assert.deepEqual(harmlessConfig('[core\n').dropped, ['everything (git could not parse it)']);
});

test('allowGitConfig keeps a new repository\'s config; a .git file is moved as a whole; nothing there, nothing said', () => {
  const r = root();
  mkdirSync(join(r, 'a', '.git', 'hooks'), { recursive: true });
  writeFileSync(join(r, 'a', '.git', 'config'), '[user]\n\tname = me\n');
  writeFileSync(join(r, 'a', '.git', 'hooks', 'post-checkout'), 'evil');
  assert.match(setAsideIn([{ path: join(r, 'a', '.git'), kind: 'repository', repo: join(r, 'a'), keepConfig: true }], r)[0]!, /\(hooks -> hooks\.cordon-untrusted\)/);
  assert.ok(existsSync(join(r, 'a', '.git', 'config')));

  mkdirSync(join(r, 'b'));
  writeFileSync(join(r, 'b', '.git'), 'gitdir: /somewhere/evil\n');
  const w = setAsideIn([{ path: join(r, 'b', '.git'), kind: 'repository', repo: join(r, 'b') }], r);
  assert.match(w[0]!, /points git elsewhere.*moved to .*b\/\.git\.cordon-untrusted/);
  assert.equal(readFileSync(join(r, 'b', '.git.cordon-untrusted'), 'utf8'), 'gitdir: /somewhere/evil\n');

  assert.deepEqual(setAsideIn([{ path: join(r, 'c', '.git'), kind: 'repository', repo: join(r, 'c') }, { path: join(r, 'a', '.git', 'commondir'), kind: 'git-file', repo: join(r, 'a') }], r), []);
});

test('a file that cannot be moved aside is reported, not hidden', { skip: process.getuid?.() !== 0 ? 'needs root to make the file a mount point, which no rename can move (CI runs as root)' : false }, () => {
  const r = root();
  mkdirSync(join(r, '.git'));
  const file = join(r, '.git', 'commondir');
  writeFileSync(file, '/evil\n');
  assert.equal(spawnSync('mount', ['--bind', file, file]).status, 0);
  try {
    assert.match(setAsideIn([{ path: file, kind: 'git-file', repo: r }], r)[0]!, new RegExp(`could not be moved aside \\(EBUSY[^)]*\\): read it before running git in ${r}$`));
  } finally {
    spawnSync('umount', [file]);
  }
  assert.equal(readFileSync(file, 'utf8'), '/evil\n');
});

test('--move-own: another user\'s entry is kept only where the command could neither have put it nor filled it (the helper looks itself, as the unprivileged caller it runs as)', { skip: process.getuid?.() !== 0 ? 'needs root to make entries another uid owns and the test user (CI runs as root)' : false }, () => {
  const me = testUser()!;
  const they = 4242;
  const r = root(); // in the host's /tmp, which the caller can search
  chmodSync(r, 0o1777);
  chownSync(r, they, they); // a shared directory that is not the caller's, as /tmp is not an unprivileged caller's
  // Another user's file from before the run, renamed in by the command (no right on the file needed for that).
  const before = join(r, 'renamed-in');
  writeFileSync(before, 'THEIRS');
  chownSync(before, they, they);
  // The run's start as cordon gives it: less a second, for the file system's coarse clock.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
  const since = String(BigInt(Date.now() - 1000) * 1_000_000n);
  const make = (name: string, kind: 'dir' | 'file', mode: number, gid = they) => {
    const p = join(r, name);
    if (kind === 'dir') mkdirSync(p);
    else writeFileSync(p, name);
    chmodSync(p, mode);
    chownSync(p, they, gid);
    return p;
  };
  make('theirs-dir', 'dir', 0o755);
  make('theirs-file', 'file', 0o644);
  make('writable-dir', 'dir', 0o777); // renamed in, then filled
  make('writable-file', 'file', 0o666);
  make('group-writable', 'file', 0o664, me.gid); // writable through the caller's group
  make('other-group', 'file', 0o664);
  // Writable through an ACL entry naming the caller (the mode alone says no): system.posix_acl_access, version 2.
  const acl = make('acl-writable', 'file', 0o644);
  const entries: [number, number, number][] = [[0x01, 6, 0xffffffff], [0x02, 6, me.uid], [0x04, 4, 0xffffffff], [0x10, 6, 0xffffffff], [0x20, 4, 0xffffffff]];
  const blob = Buffer.concat([Buffer.from([2, 0, 0, 0]), ...entries.map(([tag, perm, id]) => { const b = Buffer.alloc(8); b.writeUInt16LE(tag, 0); b.writeUInt16LE(perm, 2); b.writeUInt32LE(id, 4); return b; })]);
  const set = spawnSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "system.posix_acl_access", bytes.fromhex(sys.argv[2]), follow_symlinks=False)', acl, blob.toString('hex')], { encoding: 'utf8' });
  assert.equal(set.status, 0, set.stderr);
  make('linked', 'file', 0o644);
  linkSync(join(r, 'linked'), join(r, 'second-link')); // a second link: one the command may have made
  symlinkSync('/etc', join(r, 'link'));
  spawnSync('chown', ['-h', `${they}:${they}`, join(r, 'link')]);
  writeFileSync(join(r, 'mine'), 'X');
  chownSync(join(r, 'mine'), me.uid, me.gid);
  // A FIFO anyone may write holds nothing the command could have put there.
  assert.equal(spawnSync('mkfifo', ['-m', '666', join(r, 'fifo')]).status, 0);
  chownSync(join(r, 'fifo'), they, they);
  const names = ['theirs-dir', 'theirs-file', 'other-group', 'writable-dir', 'writable-file', 'group-writable', 'acl-writable', 'linked', 'link', 'renamed-in', 'mine', 'fifo', 'gone'];
  const asCaller = (...ops: string[]) => spawnSync('runuser', ['-u', me.name, '--', helper, 'setaside', r, ...ops], { encoding: 'utf8' });
  const out = asCaller(...names.flatMap((n) => ['--move-own', n, since]));
  assert.equal(out.status, 0, out.stderr);
  const f = out.stdout.split('\0');
  const results = new Map<string, string>();
  for (let i = 0; i + 1 < f.length; ) {
    results.set(f[i + 1]!, f[i] === 'failed' ? `failed ${f[i + 2]}` : f[i]!);
    i += f[i] === 'moved' || f[i] === 'failed' ? 3 : 2;
  }
  // The caller may not move another user's entry out of a sticky directory: the run then fails, naming it.
  const taken = 'failed EPERM';
  assert.deepEqual(Object.fromEntries(results), {
    'theirs-dir': 'kept', 'theirs-file': 'kept', 'other-group': 'kept',
    'writable-dir': taken, 'writable-file': taken, 'group-writable': taken, 'acl-writable': taken, linked: taken, link: taken, 'renamed-in': taken, mine: 'moved', fifo: 'kept', gone: 'absent',
  });
  assert.equal(lstatSync(join(r, 'theirs-dir')).uid, they);

  // The directory is the caller's, or not sticky: the command could rename another user's entry into the name.
  for (const setup of [() => chownSync(r, me.uid, me.gid), () => chmodSync(r, 0o777)]) {
    setup();
    const again = asCaller('--move-own', 'theirs-file', since);
    assert.match(again.stdout, /^moved\0theirs-file\0/, again.stdout);
    renameSync(join(r, 'theirs-file.cordon-untrusted'), join(r, 'theirs-file'));
    chownSync(r, they, they);
    chmodSync(r, 0o1777);
  }
});

test('--move-if-linked: only this user\'s link, or file of more than one name, made or linked since the run started, is moved; a plain file, a directory, an older link and another user\'s link stay', () => {
  const r = root();
  const since = String(BigInt(Date.now() - 1000) * 1_000_000n);
  symlinkSync('/', join(r, 'link'));
  writeFileSync(join(r, 'file'), 'x');
  linkSync(join(r, 'file'), join(r, 'second-name'));
  writeFileSync(join(r, 'plain'), 'x');
  mkdirSync(join(r, 'dir'));
  symlinkSync('/', join(r, 'theirs'));
  lchownSync(join(r, 'theirs'), 4242, 4242);
  symlinkSync('/', join(r, 'older'));
  const ops = (names: string[], at: string) => names.flatMap((n) => ['--move-if-linked', n, at]);
  // `older` was made before a start in the future: changed before it.
  const future = String((BigInt(Date.now()) + 60_000n) * 1_000_000n);
  const out = spawnSync(helper, ['setaside', r, ...ops(['link', 'second-name', 'plain', 'dir', 'theirs', 'gone'], since), ...ops(['older'], future)], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const f = out.stdout.split('\0');
  const results = new Map<string, string>();
  for (let i = 0; i + 1 < f.length; i += f[i] === 'moved' || f[i] === 'failed' ? 3 : 2) results.set(f[i + 1]!, f[i]!);
  assert.deepEqual(Object.fromEntries(results), { link: 'moved', 'second-name': 'moved', plain: 'kept', dir: 'kept', theirs: 'kept', gone: 'absent', older: 'kept' });
  assert.ok(lstatSync(join(r, 'link.cordon-untrusted')).isSymbolicLink());
  assert.ok(lstatSync(join(r, 'theirs')).isSymbolicLink());
});

test('a new git file in a protected repository is moved aside with its content', () => {
  const r = root();
  mkdirSync(join(r, '.git'));
  writeFileSync(join(r, '.git', 'config.worktree'), '[core]\n\thooksPath = /evil\n');
  const w = setAsideIn([{ path: join(r, '.git', 'config.worktree'), kind: 'git-file', repo: r }], r);
  assert.match(w[0]!, /created .*config\.worktree.*moved to .*config\.worktree\.cordon-untrusted/);
  assert.equal(readFileSync(join(r, '.git', 'config.worktree.cordon-untrusted'), 'utf8'), '[core]\n\thooksPath = /evil\n');
});

test('a config the command made a FIFO or a link: never read (cordon never blocks on it or follows it), a fresh config still written', () => {
  const r = root();
  const secret = join(r, 'secret');
  writeFileSync(secret, '[user]\n\tname = SECRET\n');
  for (const make of [(p: string) => spawnSync('mkfifo', [p]), (p: string) => symlinkSync(secret, p)]) {
    const git = join(r, `repo-${Math.random().toString(36).slice(2)}`, '.git');
    mkdirSync(git, { recursive: true });
    make(join(git, 'config'));
    const warnings = setAsideIn([{ path: git, kind: 'repository', repo: dirname(git) }], r);
    assert.match(warnings[0]!, /config -> config\.cordon-untrusted \(not a small regular file\)/);
    assert.equal(readFileSync(join(git, 'config'), 'utf8'), '', 'nothing taken from what the command put there');
    assert.ok(lstatSync(join(git, 'config.cordon-untrusted')).isFIFO() || lstatSync(join(git, 'config.cordon-untrusted')).isSymbolicLink(), 'moved as it was');
  }
});

test('a symlink on the way is never followed: nothing outside the writable root is renamed or written; the link itself is moved aside', () => {
  const r = root();
  const elsewhere = root();
  mkdirSync(join(elsewhere, '.git', 'hooks'), { recursive: true });
  writeFileSync(join(elsewhere, '.git', 'config'), '[user]\n\tname = host\n');
  writeFileSync(join(elsewhere, '.git', 'hooks', 'pre-commit'), 'host hook');
  writeFileSync(join(elsewhere, '.git', 'commondir'), 'host');
  // The command swapped the new repository (or an ancestor of it) for links into the host's files.
  symlinkSync(elsewhere, join(r, 'repo'));
  mkdirSync(join(r, 'b'));
  symlinkSync(join(elsewhere, '.git'), join(r, 'b', '.git'));
  const warnings = setAsideIn([
    { path: join(r, 'repo', '.git'), kind: 'repository', repo: join(r, 'repo') },
    { path: join(r, 'repo', '.git', 'commondir'), kind: 'git-file', repo: join(r, 'repo') },
  ], r);
  // One warning: the link on the way of every watched path behind it, moved aside as it is (rename never follows it).
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, new RegExp(`the command put a symbolic link at ${r}/repo, on the way to ${r}/repo/\\.git, .*the link was moved to ${r}/repo\\.cordon-untrusted`));
  assert.ok(lstatSync(join(r, 'repo.cordon-untrusted')).isSymbolicLink());
  assert.ok(!existsSync(join(r, 'repo')));
  assert.equal(readFileSync(join(elsewhere, '.git', 'config'), 'utf8'), '[user]\n\tname = host\n');
  assert.ok(existsSync(join(elsewhere, '.git', 'hooks', 'pre-commit')) && existsSync(join(elsewhere, '.git', 'commondir')));
  // A `.git` that is itself a link is moved as a whole (rename never follows the last component).
  assert.match(setAsideIn([{ path: join(r, 'b', '.git'), kind: 'repository', repo: join(r, 'b') }], r)[0]!, /points git elsewhere/);
  assert.ok(lstatSync(join(r, 'b', '.git.cordon-untrusted')).isSymbolicLink());
  assert.equal(readFileSync(join(elsewhere, '.git', 'config'), 'utf8'), '[user]\n\tname = host\n');
});

test('thousands of new repositories under long paths: every one is moved aside (the ops go on stdin, not argv)', () => {
  const r = root();
  const deep = join(r, ...Array.from({ length: 30 }, () => 'a-rather-long-directory-name-x'.repeat(3)));
  const watch: WatchedPath[] = [];
  for (let i = 0; i < 1500; i++) {
    const g = join(deep, `r${i}`, '.git');
    mkdirSync(join(g, 'hooks'), { recursive: true });
    writeFileSync(join(g, 'hooks', 'pre-commit'), 'evil');
    watch.push({ path: g, kind: 'repository', repo: dirname(g), keepConfig: true });
  }
  const done = setAside(watch, { roots: [r], helper });
  assert.equal(done.unresolved, 0, done.warnings.slice(0, 3).join('\n'));
  assert.equal(done.warnings.length, 1500);
  for (const i of [0, 749, 1499]) assert.ok(existsSync(join(deep, `r${i}`, '.git', 'hooks.cordon-untrusted', 'pre-commit')), String(i));
});

test('a writable path that is no longer the directory the run started with is not touched: every op fails, and the caller fails the run', () => {
  const r = root();
  mkdirSync(join(r, 'w', 'repo', '.git'), { recursive: true });
  writeFileSync(join(r, 'w', 'repo', '.git', 'config'), '[core]\n\tfsmonitor = evil\n');
  const w = join(r, 'w');
  const ids = rootIdentities([w]).ids;
  // A second run swapped it: the path now leads to another directory (here: through a link, as the attack did).
  spawnSync('mv', [w, join(r, 'w.real')]);
  mkdirSync(join(r, 'victim', 'repo', '.git'), { recursive: true });
  writeFileSync(join(r, 'victim', 'repo', '.git', 'config'), '[alias]\n\tst = status\n');
  symlinkSync(join(r, 'victim'), w);
  const done = setAside([{ path: join(w, 'repo', '.git'), kind: 'repository', repo: join(w, 'repo') }], { roots: [w], helper, rootIds: ids });
  assert.ok(done.unresolved > 0);
  assert.match(done.warnings.join('\n'), /a symlink on the way to the writable path|not the directory it was/);
  assert.equal(readFileSync(join(r, 'victim', 'repo', '.git', 'config'), 'utf8'), '[alias]\n\tst = status\n', 'the victim is untouched');
  // Replaced by another real directory (no link): the identity check refuses it too.
  rmSync(w);
  mkdirSync(join(w, 'repo', '.git'), { recursive: true });
  writeFileSync(join(w, 'repo', '.git', 'config'), '[user]\n\tname = other\n');
  const again = setAside([{ path: join(w, 'repo', '.git'), kind: 'repository', repo: join(w, 'repo') }], { roots: [w], helper, rootIds: ids });
  assert.ok(again.unresolved > 0);
  assert.match(again.warnings.join('\n'), /not the directory it was when the run started/);
  assert.equal(readFileSync(join(w, 'repo', '.git', 'config'), 'utf8'), '[user]\n\tname = other\n');
});
