/**
 * Git surfaces no mount can guard (a repository the command creates, a new
 * `commondir`), attacked from inside with real git. Each attack is first run
 * without cordon, to prove it makes git on the host run the planted command;
 * then inside cordon, after which git on the host must run nothing of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, makeWorld, cordon, cordonAsync, testUser, type World } from '../../helpers/cordon.js';

/** The plant: a repository whose config runs MARK on `git status` and whose pre-commit hook runs MARK too. */
const NEW_REPO = [
  'git init -q',
  'git config core.fsmonitor "$PWD/.plant"',
  'printf "#!/bin/sh\\ntouch \\"$MARK\\"\\n" > .plant && chmod +x .plant',
  'cp .plant .git/hooks/pre-commit',
].join(' && ');

/** A new commondir in an existing repository, sending git to a copy of its git dir whose config runs MARK. */
const COMMONDIR = [
  'cp -r .git ../common',
  'git --git-dir=../common config core.fsmonitor "$PWD/../plant"',
  'printf "#!/bin/sh\\ntouch \\"$MARK\\"\\n" > ../plant && chmod +x ../plant',
  'echo "$PWD/../common" > .git/commondir',
].join(' && ');

function plantOnHost(w: World, dir: string, script: string, mark: string): void {
  const r = spawnSync('/bin/sh', ['-c', script], { cwd: dir, env: { ...w.env, MARK: mark }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** What the host's git does in dir: status (fsmonitor) and a commit (hooks). */
function hostGit(dir: string): void {
  spawnSync('git', ['status', '--short'], { cwd: dir, encoding: 'utf8' });
  spawnSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'x'], { cwd: dir, encoding: 'utf8' });
}

test('a repository the command creates: git on the host runs none of its config or hooks', () => {
  const w = makeWorld();
  const control = join(w.outside, 'control');
  const fresh = join(w.outside, 'fresh');
  mkdirSync(control);
  mkdirSync(fresh);
  const mark = join(w.outside, 'MARK');
  plantOnHost(w, control, NEW_REPO, mark);
  hostGit(control);
  assert.ok(existsSync(mark), 'control: without cordon, the plant runs in git on the host');
  rmSync(mark);

  const r = cordon(w, ['--', '/bin/sh', '-c', NEW_REPO], { cwd: fresh, env: { MARK: mark } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`warning: the command created a git repository in ${fresh}; .*config -> config\\.cordon-untrusted \\(core\\.fsmonitor not kept\\), hooks -> hooks\\.cordon-untrusted`));
  hostGit(fresh);
  assert.ok(!existsSync(mark), 'git on the host ran the plant');
  assert.match(readFileSync(join(fresh, '.git', 'config.cordon-untrusted'), 'utf8'), /fsmonitor/, 'kept for review');
  assert.equal(git(fresh, 'log', '--format=%s'), 'x\n', 'the repository itself still works on the host');
});

test('a repository the command creates deep inside the project: found by the second scan, git on the host runs none of it', () => {
  const w = makeWorld();
  const mark = join(w.outside, 'MARK');
  const control = join(w.outside, 'control', 'a', 'b', 'c');
  mkdirSync(control, { recursive: true });
  plantOnHost(w, control, NEW_REPO, mark);
  hostGit(control);
  assert.ok(existsSync(mark), 'control: without cordon, the plant runs in git on the host');
  rmSync(mark);

  // In a protected repository (the project), three levels down, and a .git file one level further.
  const deep = join(w.proj, 'a', 'b', 'c');
  const r = cordon(w, ['--', '/bin/sh', '-c', `mkdir -p a/b/c/d && cd a/b/c && ${NEW_REPO} && git init -q --bare ../g && echo "gitdir: $PWD/../g" > d/.git`], { env: { MARK: mark } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`warning: the command created a git repository in ${deep}; .*config -> config\\.cordon-untrusted \\(core\\.fsmonitor not kept\\), hooks -> hooks\\.cordon-untrusted`));
  assert.match(r.stderr, new RegExp(`warning: the command made ${join(deep, 'd')} a git repository`));
  hostGit(deep);
  assert.ok(!existsSync(mark), 'git on the host ran the plant');
  assert.ok(existsSync(join(deep, 'd', '.git.cordon-untrusted')) && !existsSync(join(deep, 'd', '.git')));
  assert.equal(git(deep, 'log', '--format=%s'), 'x\n', 'the repository itself still works on the host');

  const again = cordon(w, ['--', '/bin/sh', '-c', 'git -C a/b/c status --short >/dev/null && echo ok']);
  assert.equal(again.stdout, 'ok\n');
  assert.doesNotMatch(again.stderr, /warning/, 'the next run finds it before the command: protected, not new');
});

test('an unprivileged user gets the second scan too (its own state directory and scan cache)', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  const deep = join(w.proj, 'x', 'y');
  const r = cordon(w, ['--', '/bin/sh', '-c', `mkdir -p x/y && cd x/y && ${NEW_REPO}`], { asUser: u.name, env: { MARK: join(w.outside, 'MARK') } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`warning: the command created a git repository in ${deep}; `));
  assert.ok(existsSync(join(deep, '.git', 'config.cordon-untrusted')) && existsSync(join(deep, '.git', 'hooks.cordon-untrusted')));
  assert.equal(statSync(join(deep, '.git', 'config')).uid, u.uid, 'the fresh config belongs to the user who ran cordon');

  // A repository the command hides from the scanner (its parent locked with chmod 000, and a lock inside it too):
  // the user's own directories get read and search back, and what is in them is looked at after all.
  const locked = cordon(w, ['--', '/bin/sh', '-c', 'mkdir -p l/m/r && git init -q l/m/r && git -C l/m/r config core.fsmonitor "touch $MARK" && chmod 311 l/m && chmod 000 l'], { asUser: u.name, env: { MARK: join(w.outside, 'MARK') } });
  assert.equal(locked.status, 0, locked.stderr);
  assert.match(locked.stderr, new RegExp(`the command had taken read or search permission from ${w.proj}/l, ${w.proj}/l/m \\(your own directories, changed during the run\\); cordon gave the owner read, write and search \\(u\\+rwx\\)`), locked.stderr);
  assert.match(locked.stderr, new RegExp(`the command created a git repository in ${w.proj}/l/m/r; `), locked.stderr);
  assert.equal(statSync(join(w.proj, 'l')).mode & 0o777, 0o700, 'u+rwx, and nothing else, given back');
  assert.equal(statSync(join(w.proj, 'l', 'm')).mode & 0o777, 0o711);
  assert.doesNotMatch(readFileSync(join(w.proj, 'l', 'm', 'r', '.git', 'config'), 'utf8'), /fsmonitor/);
  const next = cordon(w, ['--', 'true'], { asUser: u.name });
  assert.equal(next.status, 0, next.stderr);
  assert.doesNotMatch(next.stderr, /warning/, next.stderr);
});

test('a parent the command takes search from (chmod 600: still listable, its children not) is given back too, however many children it holds: what it hid is moved aside, and the next run starts', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  const r = cordon(w, ['--', '/bin/sh', '-c', 'mkdir d && for i in $(seq 65); do mkdir d/$i; done && git init -q d/1/repo && git -C d/1/repo config core.fsmonitor "touch $MARK" && chmod 600 d'], { asUser: u.name, env: { MARK: join(w.outside, 'MARK') } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`the command had taken read or search permission from ${w.proj}/d \\(your own directory, changed during the run\\)`), r.stderr);
  assert.equal(statSync(join(w.proj, 'd')).mode & 0o777, 0o700);
  assert.doesNotMatch(readFileSync(join(w.proj, 'd', '1', 'repo', '.git', 'config'), 'utf8'), /fsmonitor/);
  const next = cordon(w, ['--', 'true'], { asUser: u.name });
  assert.equal(next.status, 0, next.stderr);
});

test('what a directory the command could list but not search (chmod 600) hid is looked at once it is given back: a link into a .git there is moved aside, and host git runs nothing', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  const mark = join(w.outside, 'MARK');
  chmodSync(w.outside, 0o777);
  spawnSync('runuser', ['-u', u.name, '--', 'git', 'init', '-q', w.proj]);
  const r = cordon(w, ['--', '/bin/sh', '-c', `git init -q .git/objects/x && git -C .git/objects/x config core.fsmonitor "touch ${mark}" && mkdir -p m/s && ln -s ../.git/objects/x m/foo && chmod 600 m`], { asUser: u.name });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`the command had taken read or search permission from ${w.proj}/m \\(your own directory`), r.stderr);
  assert.ok(!existsSync(join(w.proj, 'm', 'foo')) && readlinkSync(join(w.proj, 'm', 'foo.cordon-untrusted')) === '../.git/objects/x', r.stderr);
  // With no directory below it to give it away, the scanner itself counts it as unreadable (it cannot look at the link).
  const lone = cordon(w, ['--', '/bin/sh', '-c', 'mkdir n && ln -s ../.git/objects/x n/foo && chmod 600 n'], { asUser: u.name });
  assert.equal(lone.status, 0, lone.stderr);
  assert.ok(!existsSync(join(w.proj, 'n', 'foo')) && readlinkSync(join(w.proj, 'n', 'foo.cordon-untrusted')) === '../.git/objects/x', lone.stderr);
  for (const d of ['m', 'n']) spawnSync('runuser', ['-u', u.name, '--', 'git', 'status'], { cwd: join(w.proj, d), env: { ...w.env, GIT_CONFIG_NOSYSTEM: '1' } });
  assert.ok(!existsSync(mark), 'host git ran what the command planted');
});

test('a git dir or a writable path the command locks is given back without naming what is not there (a .git\'s modules/ the scan could only guess at, placeholders removed since)', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  const r = cordon(w, ['--', '/bin/sh', '-c', 'git init -q a && git -C a config core.fsmonitor x && chmod 000 a/.git'], { asUser: u.name });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /the command created a git repository in .*\/a; /, r.stderr);
  const root = cordon(w, ['--', '/bin/sh', '-c', 'mkdir b && git init -q b/r && git -C b/r config core.fsmonitor x && chmod 600 .'], { asUser: u.name });
  assert.equal(root.status, 0, root.stderr);
  assert.doesNotMatch(root.stderr, /could not be read after the run/, root.stderr);
  assert.doesNotMatch(readFileSync(join(w.proj, 'b', 'r', '.git', 'config'), 'utf8'), /fsmonitor/);
});

test('a directory inside a git dir that the command locks (chmod 000 .git/info, where it wrote attributes) is given back, what it planted there moved aside, and the next run starts', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  chmodSync(join(w.proj, '.git', 'info'), 0o750);
  const r = cordon(w, ['--', '/bin/sh', '-c', 'printf "* filter=x\n" > .git/info/attributes && chmod 000 .git/info'], { asUser: u.name });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`the command had taken read or search permission from ${w.proj}/.git/info \\(your own directory, changed during the run\\)`), r.stderr);
  assert.equal(statSync(join(w.proj, '.git', 'info')).mode & 0o777, 0o700, 'u+rwx, and nothing else, given back');
  assert.ok(!existsSync(join(w.proj, '.git', 'info', 'attributes')), r.stderr);
  assert.equal(readFileSync(join(w.proj, '.git', 'info', 'attributes.cordon-untrusted'), 'utf8'), '* filter=x\n');
  const next = cordon(w, ['--', 'true'], { asUser: u.name });
  assert.equal(next.status, 0, next.stderr);
  // One you lock yourself, before a run, is yours: left as it is, and the run says what to do.
  chmodSync(join(w.proj, '.git', 'info'), 0o000);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
  const yours = cordon(w, ['--', 'true'], { asUser: u.name });
  assert.equal(yours.status, 125, yours.stderr);
  assert.equal(statSync(join(w.proj, '.git', 'info')).mode & 0o777, 0o000, 'a lock the command did not make is left');
});

test('a protected name the command makes and then locks (a .claude or .vscode directory at a nested repository\'s root, chmod 000) is given back and moved aside, as it is without the lock', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  spawnSync('runuser', ['-u', u.name, '--', 'git', 'init', '-q', join(w.proj, 'sub')]);
  const r = cordon(w, ['--', '/bin/sh', '-c', 'for d in .claude .vscode; do mkdir sub/$d && echo "{}" > sub/$d/settings.json && chmod 000 sub/$d; done'], { asUser: u.name });
  assert.equal(r.status, 0, r.stderr);
  for (const d of ['.claude', '.vscode']) {
    assert.ok(!existsSync(join(w.proj, 'sub', d)), `sub/${d} left in place:\n${r.stderr}`);
    assert.ok(existsSync(join(w.proj, 'sub', `${d}.cordon-untrusted`, 'settings.json')), r.stderr);
  }
});

test('your own directory that was listable but not searchable before the run (chmod 600, holding a link) is closed for the run, said as such, and does not fail it', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  spawnSync('runuser', ['-u', u.name, '--', 'sh', '-c', `mkdir ${w.proj}/priv && ln -s /etc/passwd ${w.proj}/priv/l && chmod 600 ${w.proj}/priv`]);
  for (let i = 0; i < 2; i++) {
    const r = cordon(w, ['--', '/bin/sh', '-c', 'echo ran'], { asUser: u.name });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
    assert.match(r.stderr, new RegExp(`cordon could not list or search ${w.proj}/priv .*chmod u\\+rx`), r.stderr);
    assert.doesNotMatch(r.stderr, /could not be read after the run|gave the owner/, r.stderr);
  }
  assert.equal(statSync(join(w.proj, 'priv')).mode & 0o777, 0o600, 'left as you made it');
  chmodSync(join(w.proj, 'priv'), 0o700);
});

/** A world of the test user's whose `old` is locked (chmod 000) before the run. */
function lockedBeforeRun() {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  const old = join(w.proj, 'old');
  mkdirSync(old);
  chownSync(old, u.uid, u.gid);
  chmodSync(old, 0o000);
  return { u, w };
}

test('a command that unlocks a directory that was locked before the run and locks another (a repository in it): locked directories are compared by name, so the one it locked is given back and looked in, and the one locked before is left as it was', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const { u, w } = lockedBeforeRun();
  // The directory locked before the run is closed (read-only) in it: the command cannot unlock it, and tries.
  const r = cordon(w, ['--', '/bin/sh', '-c', 'chmod 755 old 2>/dev/null; mkdir -p hide/r && git init -q hide/r && git -C hide/r config core.fsmonitor x && chmod 000 hide'], { asUser: u.name });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`the command had taken read or search permission from ${w.proj}/hide \\(your own directory`), r.stderr);
  assert.match(r.stderr, new RegExp(`the command created a git repository in ${w.proj}/hide/r; `), r.stderr);
  assert.equal(statSync(join(w.proj, 'old')).mode & 0o777, 0, 'the user\'s own lock from before the run stays');
  chmodSync(join(w.proj, 'old'), 0o755);
});

test('a command that unlocks a directory locked before the run and locks one whose name is not UTF-8 (a repository in it) still fails the run, closed', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const { u, w } = lockedBeforeRun();
  // The scanner names the new one in a U record JavaScript cannot decode: the names compared were one before, none after.
  const r = cordon(w, ['--', '/bin/sh', '-c', "chmod 755 old 2>/dev/null; d=$(printf 'h\\377') && mkdir -p \"$d/r\" && git init -q \"$d/r\" && chmod 000 \"$d\""], { asUser: u.name });
  const hide = Buffer.concat([Buffer.from(w.proj + '/h'), Buffer.from([0xff])]);
  try { chmodSync(hide, 0o755); } catch { /* not made */ }
  assert.equal(r.status, 125, `the run passed with one directory locked for another: ${r.stderr}`);
  assert.match(r.stderr, /could not look at everything below .*a name that is not valid UTF-8/);
});

test('a repository the command hides from the scan after the run by making its directory searchable but unreadable (chmod 111, which host git still uses) fails the run, closed', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  const mark = join(w.outside, 'MARK');
  chmodSync(w.outside, 0o777);
  const r = cordon(w, ['--', '/bin/sh', '-c', `git init -q sub && git -C sub config core.fsmonitor "touch ${mark}; false" && chmod 111 sub`], { asUser: u.name });
  // git on the host, as the user, in that directory: the payload would run.
  const host = () => spawnSync('runuser', ['-u', u.name, '--', 'git', 'status'], { cwd: join(w.proj, 'sub'), env: { ...w.env, GIT_CONFIG_NOSYSTEM: '1' }, encoding: 'utf8' });
  const armed = !existsSync(join(w.proj, 'sub', '.git', 'config.cordon-untrusted'));
  if (armed) {
    assert.equal(r.status, 125, `the run passed with the repository armed: ${r.stderr}`);
    assert.match(r.stderr, /\/sub could not be read after the run, and could before it .*read its \.git\/config/);
  }
  host();
  assert.equal(existsSync(mark), armed, 'control: host git runs what the command planted there (or it was moved aside)');
  chmodSync(join(w.proj, 'sub'), 0o755);
});

test('a .git file the command writes, pointing git at a directory of its choosing, is moved aside', () => {
  const w = makeWorld();
  const fresh = join(w.outside, 'fresh');
  mkdirSync(fresh);
  const r = cordon(w, ['--', '/bin/sh', '-c', 'mkdir evil && git init -q --bare evil/g && echo "gitdir: $PWD/evil/g" > .git'], { cwd: fresh });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /points git elsewhere/);
  assert.ok(!existsSync(join(fresh, '.git')) && existsSync(join(fresh, '.git.cordon-untrusted')));
});

test('a new commondir in a protected repository: git on the host runs nothing from where it points', () => {
  const w = makeWorld();
  const control = join(w.outside, 'control', 'repo');
  mkdirSync(control, { recursive: true });
  git(control, 'init', '-q');
  const mark = join(w.outside, 'MARK');
  plantOnHost(w, control, COMMONDIR, mark);
  hostGit(control);
  assert.ok(existsSync(mark), 'control: without cordon, a new commondir makes git on the host run the plant');
  rmSync(mark);

  const proj = join(w.outside, 'p', 'repo');
  mkdirSync(proj, { recursive: true });
  git(proj, 'init', '-q');
  const r = cordon(w, ['--allow-write', '..', '--', '/bin/sh', '-c', COMMONDIR], { cwd: proj, env: { MARK: mark } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /created .*\.git\/commondir.*moved to .*commondir\.cordon-untrusted/);
  hostGit(proj);
  assert.ok(!existsSync(mark), 'git on the host ran the plant');
});

/**
 * A submodule git dir planted under .git/modules before `git submodule update
 * --init` (the step after a plain clone): only HEAD and a commondir, which
 * sends git to a config of the command's choosing elsewhere in .git.
 */
const SUBMODULE_PLANT = [
  'mkdir -p .git/x/objects .git/x/refs/heads',
  'printf "[core]\\n\\tfsmonitor = \\"touch $MARK; false\\"\\n" > .git/x/config',
  'mkdir -p .git/modules/sub',
  'echo "ref: refs/heads/main" > .git/modules/sub/HEAD',
  'echo ../../x > .git/modules/sub/commondir',
].join(' && ');

/** The same through a link at .git/modules/sub to a git dir of the command's making inside .git (git follows it). */
const SUBMODULE_LINK_PLANT = [
  'mkdir -p .git/evil/objects .git/evil/refs/heads',
  'echo "ref: refs/heads/main" > .git/evil/HEAD',
  'printf "[core]\\n\\tfsmonitor = \\"touch $MARK; false\\"\\n" > .git/evil/config',
  'mkdir -p .git/modules && ln -s ../evil .git/modules/sub',
].join(' && ');

/** .git/modules itself a link to a directory the scan never walks (objects/), holding the module's git dir with the payload. */
const MODULES_LINK_PLANT = [
  'mkdir -p .git/objects/ev',
  'git clone -q --bare ../subsrc .git/objects/ev/sub',
  'git --git-dir=.git/objects/ev/sub config core.bare false',
  'git --git-dir=.git/objects/ev/sub config core.fsmonitor "touch $MARK; false"',
  'ln -s objects/ev .git/modules',
].join(' && ');

/** A superproject cloned with its submodule not yet initialized, in dir (owned by owner). */
function cloneWithSubmodule(base: string, owner?: { uid: number; gid: number }): string {
  const src = join(base, 'subsrc');
  const sup = join(base, 'super');
  mkdirSync(src, { recursive: true });
  git(src, 'init', '-q');
  git(src, 'commit', '-q', '--allow-empty', '-m', 's');
  mkdirSync(sup);
  git(sup, 'init', '-q');
  git(sup, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', src, 'sub');
  git(sup, 'commit', '-q', '-m', 'with sub');
  git(base, 'clone', '-q', sup, 'clone');
  const clone = join(base, 'clone');
  if (owner) spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, base]);
  return clone;
}

function submoduleUpdate(dir: string): void {
  spawnSync('git', ['-c', 'protocol.file.allow=always', 'submodule', 'update', '--init', '-q'], { cwd: dir, encoding: 'utf8' });
}

for (const as of ['root', 'an unprivileged user'] as const) {
  test(`a submodule git dir the command plants with only HEAD and commondir, or as a link: git submodule update on the host runs nothing from it (${as})`, { skip: as !== 'root' && process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
    const u = as === 'root' ? undefined : testUser()!;
    const owner = u ? { uid: u.uid, gid: u.gid } : undefined;
    const w = makeWorld(owner ? { owner } : {});
    const mark = join(w.outside, 'MARK');
    const plants = [
      { name: 'commondir', plant: SUBMODULE_PLANT, said: (clone: string) => new RegExp(`created a git repository in ${join(clone, '.git', 'modules', 'sub')}; .*commondir -> commondir\\.cordon-untrusted`) },
      // The link itself is moved aside, never followed.
      { name: 'link', plant: SUBMODULE_LINK_PLANT, said: (clone: string) => new RegExp(`created ${join(clone, '.git', 'modules', 'sub')}, .*moved to .*modules/sub\\.cordon-untrusted`) },
      { name: 'modules-link', plant: MODULES_LINK_PLANT, said: (clone: string) => new RegExp(`created ${join(clone, '.git', 'modules')}, .*moved to .*\\.git/modules\\.cordon-untrusted`) },
    ];
    for (const { name, plant, said } of plants) {
      const control = cloneWithSubmodule(join(w.outside, `control-${name}`));
      plantOnHost(w, control, plant, mark);
      submoduleUpdate(control);
      assert.ok(existsSync(mark), `control (${name}): without cordon, git submodule update runs the planted config`);
      rmSync(mark);

      const clone = cloneWithSubmodule(join(w.proj, name), owner);
      const r = cordon(w, ['--', '/bin/sh', '-c', plant], { cwd: clone, env: { MARK: mark }, ...(u ? { asUser: u.name } : {}) });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, said(clone));
      submoduleUpdate(clone);
      assert.ok(!existsSync(mark), `git on the host ran the planted config (${name})`);
    }
  });
}

/** A rebase stopped at a `break`, its todo list then given an exec line that touches $MARK (`git rebase --continue` runs it). */
const REBASE_PLANT = [
  'GIT_SEQUENCE_EDITOR=\'sed -i "1i break"\' git -c user.email=t@example.invalid -c user.name=t rebase -q -i HEAD~1 >/dev/null 2>&1',
  'test -f .git/rebase-merge/git-rebase-todo',
  'printf "exec touch %s\\n" "$MARK" >> .git/rebase-merge/git-rebase-todo',
].join(' && ');

function twoCommits(dir: string): void {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q');
  git(dir, 'commit', '-q', '--allow-empty', '-m', 'one');
  git(dir, 'commit', '-q', '--allow-empty', '-m', 'two');
}

function rebaseContinue(dir: string): void {
  spawnSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'rebase', '--continue'], { cwd: dir, encoding: 'utf8' });
}

for (const as of ['root', 'an unprivileged user'] as const) {
  test(`a rebase the command leaves in progress with an exec line: its state is moved aside, and git rebase --continue on the host runs nothing (${as})`, { skip: as !== 'root' && process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
    const u = as === 'root' ? undefined : testUser()!;
    const w = makeWorld(u ? { owner: { uid: u.uid, gid: u.gid } } : {});
    const mark = join(w.outside, 'MARK');
    const control = join(w.outside, 'control');
    twoCommits(control);
    plantOnHost(w, control, REBASE_PLANT, mark);
    rebaseContinue(control);
    assert.ok(existsSync(mark), 'control: without cordon, git rebase --continue runs the exec line');
    rmSync(mark);

    const repo = join(w.proj, 'r');
    twoCommits(repo);
    if (u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, repo]);
    const r = cordon(w, ['--', '/bin/sh', '-c', REBASE_PLANT], { cwd: repo, env: { MARK: mark }, ...(u ? { asUser: u.name } : {}) });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /left a rebase or cherry-pick in progress in .*\/r\/\.git, whose state \(rebase-merge\) names shell commands .*moved to .*\.git\/rebase-merge\.cordon-untrusted/);
    rebaseContinue(repo);
    assert.ok(!existsSync(mark), 'git rebase --continue on the host ran the exec line');

    // Staged by one run where no check looks, renamed into place by a later one: its files keep their old change
    // times, the directory does not.
    const staged = join(w.proj, 's');
    twoCommits(staged);
    if (u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, staged]);
    const stage = cordon(w, ['--', '/bin/sh', '-c', `${REBASE_PLANT} && mkdir .git/stash && mv .git/rebase-merge .git/stash/ && echo staged`], { cwd: staged, env: { MARK: mark }, ...(u ? { asUser: u.name } : {}) });
    assert.match(stage.stdout, /staged/, stage.stderr);
    spawnSync('sleep', ['1.2']);
    const into = cordon(w, ['--', '/bin/sh', '-c', 'mv .git/stash/rebase-merge .git/rebase-merge'], { cwd: staged, ...(u ? { asUser: u.name } : {}) });
    assert.match(into.stderr, /whose state \(rebase-merge\) names shell commands .*moved to/, into.stderr);
    rebaseContinue(staged);
    assert.ok(!existsSync(mark), 'git rebase --continue on the host ran the staged exec line');
  });
}

for (const as of ['root', 'an unprivileged user'] as const) {
  test(`a relative core.hooksPath of the user's global configuration: in a repository the command creates (nested, or the working directory itself), the hooks directory it names is moved aside (${as})`, { skip: as !== 'root' && process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
    const u = as === 'root' ? undefined : testUser()!;
    const w = makeWorld(u ? { owner: { uid: u.uid, gid: u.gid } } : {});
    const mark = join(w.outside, 'MARK');
    const globalConfig = join(w.outside, 'gitconfig');
    writeFileSync(globalConfig, '[core]\n\thooksPath = .githooks\n');
    const env = { GIT_CONFIG_GLOBAL: globalConfig, MARK: mark };
    const plant = (dir: string) => `git init -q ${dir} && mkdir -p ${dir}/.githooks && printf "#!/bin/sh\\ntouch \\"$MARK\\"\\n" > ${dir}/.githooks/pre-commit && chmod +x ${dir}/.githooks/pre-commit`;
    // As the test runs (root): a repository of the test user's is another owner's to git.
    const commit = (dir: string) => spawnSync('git', ['-c', 'safe.directory=*', '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'x'], { cwd: dir, env: { ...w.env, ...env }, encoding: 'utf8' });
    const control = join(w.outside, 'control');
    mkdirSync(control);
    plantOnHost(w, control, `GIT_CONFIG_GLOBAL=${globalConfig} sh -c '${plant('sub')}'`, mark);
    commit(join(control, 'sub'));
    assert.ok(existsSync(mark), 'control: without cordon, the hook runs in git on the host');
    rmSync(mark);

    const plain = join(w.root, 'plain');
    mkdirSync(plain);
    if (u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, w.proj, plain]);
    for (const [cwd, dir, repo] of [[w.proj, 'sub', join(w.proj, 'sub')], [plain, '.', plain]] as const) {
      const r = cordon(w, ['--', '/bin/sh', '-c', plant(dir)], { cwd, env, ...(u ? { asUser: u.name } : {}) });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /\.githooks \(core\.hooksPath\) -> \.githooks\.cordon-untrusted/, r.stderr);
      const c = commit(repo);
      assert.equal(c.status, 0, c.stderr);
      assert.ok(!existsSync(mark), `git on the host ran the hook in ${repo}`);
    }
  });
}

for (const as of ['root', 'an unprivileged user'] as const) {
  test(`a writable path the command makes a bare repository itself (HEAD, objects/, refs/ and a config): git on the host in it runs none of its config or hooks (${as})`, { skip: as !== 'root' && process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
    const u = as === 'root' ? undefined : testUser()!;
    const w = makeWorld(u ? { owner: { uid: u.uid, gid: u.gid } } : {});
    const mark = join(w.outside, 'MARK');
    const bare = [
      'mkdir -p objects refs/heads hooks && echo "ref: refs/heads/main" > HEAD',
      `printf '[core]\\n\\tbare = true\\n[alias]\\n\\thi = !touch \\"$MARK\\"\\n[user]\\n\\tname = kept\\n' > config`,
      'printf "#!/bin/sh\\ntouch \\"\\$MARK\\"\\n" > hooks/reference-transaction && chmod +x hooks/reference-transaction',
    ].join(' && ');
    // What git on the host does there: an alias of its config, and a ref update (its reference-transaction hook).
    // As the test runs (root): a repository of the test user's is another owner's to git.
    const hostGit = (dir: string) => {
      const run = (...args: string[]) => spawnSync('git', ['-c', 'safe.directory=*', ...args], { cwd: dir, env: { ...w.env, MARK: mark }, encoding: 'utf8' });
      run('hi');
      const blob = run('hash-object', '-w', '--stdin').stdout.trim();
      assert.match(blob, /^[0-9a-f]{40}$/, 'the repository works on the host');
      run('update-ref', 'refs/heads/x', blob);
    };
    const control = join(w.outside, 'control');
    mkdirSync(control);
    plantOnHost(w, control, bare, mark);
    for (const step of ['alias', 'hook'] as const) {
      if (step === 'alias') spawnSync('git', ['-c', 'safe.directory=*', 'hi'], { cwd: control, env: { ...w.env, MARK: mark } });
      else hostGit(control);
      assert.ok(existsSync(mark), `control: without cordon, git on the host runs the plant's ${step}`);
      rmSync(mark);
    }

    // A plain directory, and one named .git (git on the host finds it from its parent).
    for (const [dir, gitIn] of [[join(w.root, 'plain'), join(w.root, 'plain')], [join(w.root, 'r', '.git'), join(w.root, 'r')]] as const) {
      mkdirSync(dir, { recursive: true });
      if (u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, gitIn]);
      const r = cordon(w, ['--', '/bin/sh', '-c', bare], { cwd: dir, env: { MARK: mark }, ...(u ? { asUser: u.name } : {}) });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`created a git repository in ${dir}; .*config -> config\\.cordon-untrusted \\(alias\\.hi not kept\\), hooks -> hooks\\.cordon-untrusted`));
      hostGit(gitIn);
      assert.ok(!existsSync(mark), `git on the host ran the plant in ${gitIn}`);
      assert.match(readFileSync(join(dir, 'config'), 'utf8'), /name = "?kept"?/, 'the harmless keys stay');
    }
  });
}

for (const as of ['root', 'an unprivileged user'] as const) {
  test(`a working directory the command makes look bare (HEAD, objects/, refs/), in one run or over two, hides nothing below its modules/, worktrees/ or objects/ from the check, whether it is a repository or not (${as})`, { skip: as !== 'root' && process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
    const u = as === 'root' ? undefined : testUser()!;
    const w = makeWorld(u ? { owner: { uid: u.uid, gid: u.gid } } : {});
    const mark = join(w.outside, 'MARK');
    const fsmonitor = (gitDir: string) => `git --git-dir=${gitDir} config core.fsmonitor 'touch "$MARK"; false'`;
    const look = 'mkdir objects refs && echo "ref: refs/heads/main" > HEAD';
    const plant = [
      // A project's own modules/net made a repository whose git dir hides in objects/, and repositories in objects/ and worktrees/.
      'git init -q --bare objects/g', fsmonitor('objects/g'), 'git --git-dir=objects/g config core.bare false', 'echo "gitdir: $PWD/objects/g" > modules/net/.git',
      'git init -q objects/o', fsmonitor('objects/o/.git'),
      'mkdir worktrees && git init -q worktrees/t', fsmonitor('worktrees/t/.git'),
      // A bare-looking git dir of its own under worktrees/, and a repository below that.
      'mkdir -p worktrees/evil/objects worktrees/evil/refs && echo "ref: refs/heads/main" > worktrees/evil/HEAD', `printf '[core]\\n\\tfsmonitor = "touch \\"$MARK\\"; false"\\n' > worktrees/evil/config`,
      'git init -q worktrees/evil/objects/deep', fsmonitor('worktrees/evil/objects/deep/.git'),
    ].join(' && ');
    for (const [name, repo, runs] of [['plain', false, [`${look} && ${plant}`]], ['repo', true, [`${look} && ${plant}`]], ['two-runs', true, [look, plant]]] as const) {
      const dir = join(w.root, name);
      mkdirSync(join(dir, 'modules', 'net'), { recursive: true });
      writeFileSync(join(dir, 'modules', 'net', 'main.tf'), 'resource "x" {}\n');
      if (repo) git(dir, 'init', '-q');
      if (u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, dir]);
      for (const script of runs) {
        const r = cordon(w, ['--', '/bin/sh', '-c', script], { cwd: dir, env: { MARK: mark }, ...(u ? { asUser: u.name } : {}) });
        assert.equal(r.status, 0, r.stderr);
      }
      for (const sub of ['modules/net', 'objects/o', 'worktrees/t', 'worktrees/evil', 'worktrees/evil/objects/deep']) {
        spawnSync('git', ['-c', 'safe.directory=*', 'status'], { cwd: join(dir, sub), env: { ...w.env, MARK: mark } });
        assert.ok(!existsSync(mark), `${name}: git status in ${sub} on the host ran the plant`);
      }
      assert.ok(existsSync(join(dir, 'modules', 'net', '.git.cordon-untrusted')), name);
    }
  });
}

for (const as of ['root', 'an unprivileged user'] as const) {
  test(`projects with bare git dirs of their own get no alarm: a bare repository with worktrees and their submodules, a project with HEAD, objects/, refs/ and modules/ of its own, a directory no one may read in a bare repository's objects/ (${as})`, { skip: as !== 'root' && process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
    const u = as === 'root' ? undefined : testUser()!;
    const w = makeWorld(u ? { owner: { uid: u.uid, gid: u.gid } } : {});
    const up = join(w.root, 'up');
    const sub = join(w.root, 'sub');
    for (const d of [sub, up]) {
      mkdirSync(d);
      writeFileSync(join(d, 'CLAUDE.md'), 'notes\n');
      git(d, 'init', '-q');
      git(d, 'add', '-A');
      git(d, 'commit', '-qm', 'init');
    }
    git(up, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', sub, 'vendor/sub');
    git(up, 'commit', '-qm', 'sub');
    const proj = join(w.root, 'p');
    mkdirSync(proj);
    git(proj, 'clone', '-q', '--bare', up, 'b.git');
    git(proj, '-C', 'b.git', 'worktree', 'add', '-q', '../wt1');
    git(join(proj, 'wt1'), '-c', 'protocol.file.allow=always', 'submodule', 'update', '-q', '--init');
    // A project with names of git's own (a terraform layout, a HEAD file), holding repositories.
    for (const d of ['objects', 'refs', 'modules']) mkdirSync(join(proj, d));
    writeFileSync(join(proj, 'HEAD'), 'not git\n');
    git(join(proj, 'modules'), 'clone', '-q', up, 'vpc');
    git(join(proj, 'objects'), 'clone', '-q', up, 'o1');
    if (u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, proj]);
    // A directory in a bare repository's objects/ that only root may read (a `sudo git gc` with umask 077).
    const locked = join(proj, 'b.git', 'objects', 'zz');
    mkdirSync(locked, { mode: 0o700 });
    chownSync(locked, 0, 0);
    for (let i = 0; i < 2; i++) {
      const r = cordon(w, ['--', '/bin/sh', '-c', 'true'], { cwd: proj, ...(u ? { asUser: u.name } : {}) });
      assert.equal(r.status, 0, r.stderr);
      // Only what cordon says of any directory it cannot list (held read-only for the run), for the unprivileged caller.
      assert.doesNotMatch(r.stderr.replace(/cordon: warning: cordon could not list or search [^\n]*objects\/zz \(its mode lets no one read it, or look at what it holds\)[^\n]*\n/, ''), /warning|created|moved/, r.stderr);
    }
    assert.ok(existsSync(join(proj, 'modules', 'vpc', 'CLAUDE.md')));
  });
}

test('a command that takes search permission from its own writable path leaves no placeholder behind: cordon gives the owner search and write back, says so; a directory it locked is given back and looked in', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  const plain = join(w.root, 'plain');
  mkdirSync(plain);
  chownSync(plain, u.uid, u.gid);
  // A directory above, which the user keeps unwritable, stays so: only what removing a placeholder needs is given back.
  chmodSync(w.root, 0o555);
  for (const mode of ['0666', '0000']) {
    const r = cordon(w, ['--', '/bin/sh', '-c', `cd ${plain} && chmod ${mode} .`], { cwd: plain, asUser: u.name });
    assert.equal(statSync(w.root).mode & 0o777, 0o555);
    assert.match(r.stderr, new RegExp(`the command had taken search or write permission from ${plain} \\(its own directories\\); cordon gave what removing its placeholders there needs back`), r.stderr);
    assert.equal(statSync(plain).mode & 0o300, 0o300);
    assert.deepEqual(readdirSync(plain), [], `mode ${mode}: no placeholder outlives the run`);
    chmodSync(plain, 0o755);
  }
  // A watched name under a directory the command locked: the owner gets it back, and what is there is moved aside.
  const r = cordon(w, ['--', '/bin/sh', '-c', `cd ${plain} && mkdir .github && echo EVIL > .github/copilot-instructions.md && chmod 000 .github`], { cwd: plain, asUser: u.name });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`the command had taken read or search permission from ${plain}/\\.github \\(your own directory`), r.stderr);
  assert.match(r.stderr, /the command created .*copilot-instructions/, r.stderr);
  assert.equal(readFileSync(join(plain, '.github', 'copilot-instructions.md.cordon-untrusted'), 'utf8'), 'EVIL\n');
});

test('a rebase stopped inside is moved aside too (its state could name a merge strategy to run), and it says how to go on; the user\'s own from before the run is left as it is', () => {
  const w = makeWorld();
  const repo = join(w.proj, 'r');
  twoCommits(repo);
  const stop = 'GIT_SEQUENCE_EDITOR=\'sed -i "1i break"\' git -c user.email=t@example.invalid -c user.name=t rebase -q -i HEAD~1 >/dev/null 2>&1; test -f .git/rebase-merge/git-rebase-todo && echo stopped';
  const r = cordon(w, ['--', '/bin/sh', '-c', stop], { cwd: repo });
  assert.equal(r.stdout, 'stopped\n', r.stderr);
  assert.match(r.stderr, /whose state \(rebase-merge\) names shell commands and a merge strategy .*Read its git-rebase-todo \(or todo\), strategy and opts before moving it back/);
  assert.ok(existsSync(join(repo, '.git', 'rebase-merge.cordon-untrusted', 'git-rebase-todo')), 'kept for review');
  // The user's own, with an exec line, written before the run: not the command's.
  const own = join(w.proj, 'own');
  twoCommits(own);
  plantOnHost(w, own, REBASE_PLANT, join(w.outside, 'OWN'));
  spawnSync('sleep', ['1.1']);
  const r2 = cordon(w, ['--', '/bin/sh', '-c', 'git status --short >/dev/null; echo ran'], { cwd: own });
  assert.equal(r2.stdout, 'ran\n', r2.stderr);
  assert.doesNotMatch(r2.stderr, /rebase or cherry-pick/);
  assert.match(readFileSync(join(own, '.git', 'rebase-merge', 'git-rebase-todo'), 'utf8'), /exec touch/);
});

test('a link under .git/modules from before the run is the user\'s: the run goes on, and it stays', () => {
  const w = makeWorld();
  const repo = join(w.proj, 'linked');
  mkdirSync(join(repo, '.git', 'real', 'objects'), { recursive: true });
  git(repo, 'init', '-q');
  mkdirSync(join(repo, '.git', 'real', 'refs'), { recursive: true });
  writeFileSync(join(repo, '.git', 'real', 'HEAD'), 'ref: refs/heads/main\n');
  mkdirSync(join(repo, '.git', 'modules'));
  symlinkSync('../real', join(repo, '.git', 'modules', 'sub'));
  const r = cordon(w, ['--', '/bin/sh', '-c', 'echo ran'], { cwd: repo });
  assert.equal(r.stdout, 'ran\n', r.stderr);
  assert.doesNotMatch(r.stderr, /modules\/sub/);
  assert.equal(readlinkSync(join(repo, '.git', 'modules', 'sub')), '../real');
});

test('a repository that existed before the run is left alone', () => {
  const w = makeWorld();
  const r = cordon(w, ['--', '/bin/sh', '-c', 'git status --short >/dev/null && echo ok']);
  assert.equal(r.stdout, 'ok\n');
  assert.doesNotMatch(r.stderr, /warning/);
  assert.ok(existsSync(join(w.proj, '.git', 'config')) && existsSync(join(w.proj, '.git', 'hooks')));
});

/**
 * The command waits for the host to replace what the run holds (git writes
 * .git/config by renaming a new file over it; `git clean -fd` or an rmdir
 * takes away a placeholder; an editor saves a read-denied file by renaming
 * over it), which detaches the mount in the sandbox, and then writes or
 * reads there: fsmonitor into the config, a payload into .envrc, the new
 * secret. It prints READY once it runs, and tries for at most ~15 s.
 */
const AFTER_REPLACE: Record<string, string> = {
  moved: 'printf "[core]\\n\\tfsmonitor = touch %s; false\\n" "$MARK" >> .git/config 2>/dev/null && echo WROTE',
  config: 'printf "[core]\\n\\tfsmonitor = touch %s; false\\n" "$MARK" >> .git/config 2>/dev/null && echo WROTE',
  envrc: 'echo "touch $MARK" > .envrc 2>/dev/null && echo WROTE',
  secret: 'grep -q new secret 2>/dev/null && echo READ-NEW-SECRET',
};
const tryUntil = (attempt: string) => `echo READY; i=0; while [ $i -lt 300 ]; do if ${attempt}; then break; fi; i=$((i+1)); sleep 0.05; done; true`;
/**
 * tryUntil, from 0.3 s after the host's step (the test makes $REPLACED then):
 * the watch stops the command well before (its window is a few ms at most
 * under load), so an attempt that succeeds means it did not.
 */
const tryAfterHost = (attempt: string) => `echo READY; while [ ! -e "$REPLACED" ]; do sleep 0.01; done; sleep 0.3; ${tryUntil(attempt).slice('echo READY; '.length)}`;

for (const as of ['root', 'an unprivileged user'] as const) {
  test(`a held path the host replaces during the run (git config's rename, a placeholder removed, a hidden file saved over, the config renamed away) takes its mount away in the sandbox: the command is stopped, and what it could write there is set aside after the run (${as})`, { skip: as !== 'root' && process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, async () => {
    const u = as === 'root' ? undefined : testUser()!;
    const w = makeWorld(u ? { owner: { uid: u.uid, gid: u.gid } } : {});
    const mark = join(w.outside, 'MARK');
    const cases = [
      { name: 'config', host: ['git', 'config', 'user.name', 'someone'], held: join('.git', 'config'), extra: [] as string[] },
      // Renamed away, its mount goes with it and the table does not change: the watch's periodic look finds it, within ~0.1 s,
      // so the command may write first; what it wrote is moved aside after the run.
      { name: 'moved', host: ['mv', join('.git', 'config'), join('.git', 'config.bak')], held: join('.git', 'config'), extra: [], mayWrite: true },
      { name: 'envrc', host: ['rmdir', '.envrc'], held: '.envrc', extra: [] },
      { name: 'secret', host: ['sh', '-c', 'echo new > secret.tmp && mv secret.tmp secret'], held: 'secret', extra: ['--deny-read', './secret'] },
    ];
    for (const k of cases) {
      const repo = join(w.proj, k.name);
      mkdirSync(repo);
      git(repo, 'init', '-q');
      git(repo, 'config', 'credential.helper', 'store');
      writeFileSync(join(repo, 'secret'), 'old\n');
      if (u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, repo]);
      const replaced = join(w.outside, `${k.name}.replaced`);
      // Renamed away, the command tries at once (what it writes is moved aside); otherwise only once the watch had ample time.
      const script = 'mayWrite' in k ? tryUntil(AFTER_REPLACE[k.name]!) : tryAfterHost(AFTER_REPLACE[k.name]!);
      const c = cordonAsync(w, [...k.extra, '--', '/bin/sh', '-c', script], { cwd: repo, env: { MARK: mark, REPLACED: replaced }, ...(u ? { asUser: u.name } : {}) });
      let out = '';
      let err = '';
      c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const closed = new Promise<number | null>((resolve) => c.on('close', resolve));
      await new Promise<void>((resolve) => c.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('READY')) resolve(); }));
      // The host acts as the repository's owner would.
      const h = spawnSync(u ? 'runuser' : k.host[0]!, u ? ['-u', u.name, '--', ...k.host] : k.host.slice(1), { cwd: repo, encoding: 'utf8' });
      assert.equal(h.status, 0, `${k.name}: the host's own step: ${h.stderr}`);
      writeFileSync(replaced, '');
      assert.equal(await closed, 125, `${k.name}: ${err}`);
      assert.match(err, new RegExp(`cordon: ${join(repo, k.held)}, which this run hides, holds read-only or pins, was replaced, moved or removed on the host while the command ran.*the command was stopped`), k.name);
      if (!('mayWrite' in k)) assert.doesNotMatch(out, /WROTE|READ-NEW-SECRET/, `${k.name}: the command used the path after its mount was gone`);
    }
    const moved = join(w.proj, 'moved');
    spawnSync('git', ['-c', 'safe.directory=*', 'status', '--short'], { cwd: moved, encoding: 'utf8' });
    assert.ok(!existsSync(mark), 'git on the host ran the fsmonitor the command wrote where the config was renamed away');
    const repo = join(w.proj, 'config');
    assert.match(readFileSync(join(repo, '.git', 'config.cordon-untrusted'), 'utf8'), /helper = store/, 'the replaced config is kept for review');
    assert.match(readFileSync(join(repo, '.git', 'config'), 'utf8'), /someone/, "the host's own change is kept in the new config");
    assert.doesNotMatch(readFileSync(join(repo, '.git', 'config'), 'utf8'), /helper/, 'what runs code is not');
    spawnSync('git', ['-c', 'safe.directory=*', 'status', '--short'], { cwd: repo, encoding: 'utf8' });
    assert.ok(!existsSync(mark), 'git on the host ran the fsmonitor the command wrote');
    assert.ok(!existsSync(join(w.proj, 'envrc', '.envrc')), 'a .envrc is where direnv would load it');
  });
}
