/**
 * A repository planted inside `.git/` (`.git/objects/x`, which the scan does
 * not walk) is protected by nothing; git uses it only when run from inside
 * it, which a symbolic link the command leaves in the work tree arranges:
 * `cd modules/foo` through `modules/foo -> ../.git/objects/x`, and a shell
 * prompt's `git status` runs the planted core.fsmonitor. A control shows
 * that it does, without cordon; through the real CLI, as root and as an
 * unprivileged user, every link the command made into a `.git` (by its
 * text, through an older link, leading nowhere yet, in any case) is moved
 * aside after the run, and links that lead elsewhere stay; a second run
 * that hides such a link from the first one's scan meets it in its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertMovedAside, cordon, cordonAsync, makeWorld, own, runners, sh, type World } from '../../helpers/cordon.js';

/** Plants a repository (its work tree) at .git/objects/x whose fsmonitor touches MARK (sh, from the project). */
const PLANT_IN_GIT_DIR = 'git init -q .git/objects/x && git -C .git/objects/x config core.fsmonitor "touch $MARK" && mkdir -p modules';

/** `git status` on the host from dir, as a shell prompt runs it on cd. */
function prompt(w: World, dir: string): void {
  spawnSync('git', ['-c', 'safe.directory=*', 'status', '--short'], { cwd: dir, env: { ...w.env, GIT_CONFIG_NOSYSTEM: '1' } });
}

/** A second on: what is made now is older than the start of a run (its change time before the run's, less the second it allows). */
function aSecondOn(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
}

test('control, without cordon: git run through a link into .git/objects/x takes the repository planted there and runs its fsmonitor', () => {
  const w = makeWorld();
  const mark = join(w.outside, 'MARK');
  const r = spawnSync('sh', ['-c', `${PLANT_IN_GIT_DIR} && ln -s ../.git/objects/x modules/foo`], { cwd: w.proj, env: { ...w.env, MARK: mark }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  prompt(w, join(w.proj, 'modules', 'foo'));
  assert.ok(existsSync(mark), 'the planted fsmonitor ran');
});

for (const { who, world, opts } of runners()) {
  test(`links the command makes into a .git are moved aside after the run, whatever way they name it; links elsewhere stay (${who})`, () => {
    const w = world();
    const mark = join(w.outside, 'MARK');
    // The user's own, from before the run: a link to the .git, and an ordinary link the command will replace.
    symlinkSync('.git', join(w.proj, 'gitdir'));
    symlinkSync('.git/info', join(w.proj, 'gitinfo'));
    mkdirSync(join(w.proj, 'modules'));
    symlinkSync('../README.md', join(w.proj, 'modules', 'keep'));
    own(w, opts);
    aSecondOn();
    const r = sh(w, [
      PLANT_IN_GIT_DIR,
      'ln -s ../.git/objects/x modules/foo',
      'ln -s ../gitdir/objects/x modules/via',
      // Resolved as the kernel does: the older link is followed before the `..` after it.
      'ln -s ../gitinfo/../objects/x modules/climb',
      // Links that lead into .git only once cordon has moved another aside (its new name is known), or moved a directory aside.
      'ln -s foo.cordon-untrusted modules/bridge',
      'mkdir -p sub/.cordon && ln -s ../../.git/objects/x sub/.cordon/l && ln -s ../sub/.cordon.cordon-untrusted/l modules/through',
      'ln -s ../.git/objects/nothere/yet modules/later',
      'ln -s ../.GIT/objects/x modules/upper',
      `ln -s ${w.proj}/.git/objects/x modules/absolute`,
      'ln -sfn ../.git/objects/x modules/keep',
      'mkdir -p src && ln -s ../src modules/ok',
      'ln -s /etc/hostname modules/etc',
      'git init -q --bare vendor/dep.git && ln -s ../vendor/dep.git modules/dep',
      'ln -s loop2 modules/loop1 && ln -s loop1 modules/loop2',
      'echo RAN',
    ].join(' && '), [], { ...opts, env: { ...w.env, MARK: mark } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'RAN\n');
    for (const n of ['foo', 'via', 'climb', 'later', 'upper', 'absolute', 'keep', 'bridge', 'through']) {
      assertMovedAside(w.proj, `modules/${n}`);
      assert.ok(r.stderr.includes(`the command made ${join(w.proj, 'modules', n)} a symbolic link (to `) && r.stderr.includes('): it leads into a git directory'), `${n} named:\n${r.stderr}`);
    }
    assert.equal(readlinkSync(join(w.proj, 'modules', 'foo.cordon-untrusted')), '../.git/objects/x');
    // Where a prompt would run git now: the path is gone; the project's own repository runs nothing.
    assert.ok(!existsSync(join(w.proj, 'modules', 'foo')));
    prompt(w, w.proj);
    prompt(w, join(w.proj, 'modules'));
    for (const n of ['bridge', 'through']) prompt(w, join(w.proj, 'modules', `${n}`));
    assert.ok(!existsSync(mark), 'git on the host ran the planted fsmonitor');
    // Links that lead elsewhere, and the user's own: left.
    for (const [n, t] of [['ok', '../src'], ['etc', '/etc/hostname'], ['dep', '../vendor/dep.git'], ['loop1', 'loop2'], ['loop2', 'loop1']]) assert.equal(readlinkSync(join(w.proj, 'modules', n!)), t, `modules/${n} stays`);
    assert.equal(readlinkSync(join(w.proj, 'gitdir')), '.git', 'the user\'s older link stays');
    assert.equal(readlinkSync(join(w.proj, 'gitinfo')), '.git/info');
    const next = cordon(w, ['--', 'true'], opts);
    assert.equal(next.status, 0, next.stderr);
  });
}

for (const { who, world, opts } of runners()) {
  test(`a link into a .git made by a run whose cordon was killed is moved aside once its sandbox is gone, with no other run (${who})`, async () => {
    const w = world();
    own(w, opts);
    const c = cordonAsync(w, ['--', 'sh', '-c', `${PLANT_IN_GIT_DIR} && ln -s ../.git/objects/x modules/foo && touch PLANTED && exec sleep 60`], { ...opts, env: { ...w.env, MARK: join(w.outside, 'MARK') } });
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    // cordon's stderr closes once what finishes the killed run (which speaks on it) has ended.
    const closed = new Promise((resolve) => c.on('close', resolve));
    for (let i = 0; i < 1000 && !existsSync(join(w.proj, 'PLANTED')); i++) await new Promise((res) => setTimeout(res, 20));
    assert.ok(existsSync(join(w.proj, 'PLANTED')), 'the command planted');
    // cordon's own process: the node below runuser, or the child itself.
    const pid = spawnSync('pgrep', ['-f', '-n', `^${process.execPath} .*bin/cordon.cjs -- sh -c ${PLANT_IN_GIT_DIR.slice(0, 20)}`], { encoding: 'utf8' }).stdout.trim();
    assert.match(pid, /^\d+$/, 'cordon found');
    process.kill(Number(pid), 'SIGKILL');
    await closed;
    assert.match(stderr, /after a cordon that was killed \(pid \d+\): the command made .*\/modules\/foo a symbolic link \(to "\.\.\/\.git\/objects\/x"\): it leads into a git directory/, stderr);
    assert.ok(!lstatSync(join(w.proj, 'modules', 'foo'), { throwIfNoEntry: false }));
    const r = cordon(w, ['--', 'true'], opts);
    assert.equal(r.status, 0, r.stderr);
  });
}

for (const { who, world, opts } of runners()) {
  test(`a linked worktree's git dir the command makes (in .git/worktrees or a bare repository's) loses what names its repository, work tree and configuration, whatever it is, so the next run, which reads them, starts (${who})`, () => {
    const w = world();
    own(w, opts);
    const r = sh(w, [
      'mkdir -p .git/worktrees/loop && ln -s commondir .git/worktrees/loop/commondir',
      'mkdir -p .git/worktrees/big && head -c 17000000 /dev/zero > .git/worktrees/big/gitdir',
      'mkdir -p .git/worktrees/evil && cd .git/worktrees/evil && echo "ref: refs/heads/main" > HEAD && echo ../.. > commondir && echo /nonexistent/.git > gitdir && printf "[core]\\n\\thooksPath = x\\n[broken\\n" > config.worktree && cd ../../..',
      'mkdir -p b/objects b/refs b/worktrees/w && echo "ref: refs/heads/x" > b/HEAD && ln -s gitdir b/worktrees/w/gitdir',
    ].join(' && '), [], opts);
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['.git/worktrees/loop/commondir', '.git/worktrees/big/gitdir', '.git/worktrees/evil/commondir', '.git/worktrees/evil/gitdir', '.git/worktrees/evil/config.worktree', 'b/worktrees/w/gitdir']) {
      assertMovedAside(w.proj, f);
    }
    const next = cordon(w, ['--', 'sh', '-c', 'touch written && echo ok'], opts);
    assert.equal(next.status, 0, next.stderr);
    assert.equal(next.stdout, 'ok\n', 'the project is writable as before');
  });
}

/** Waits until `path` exists (a command's sign), up to 20 s. */
async function until(path: string): Promise<void> {
  for (let i = 0; i < 1000 && !existsSync(path); i++) await new Promise((res) => setTimeout(res, 20));
  assert.ok(existsSync(path), `${path} appeared`);
}

/** What a cordon started with cordonAsync said on stderr, and its exit status, once it ends. */
function ended(c: ReturnType<typeof cordonAsync>): Promise<{ status: number | null; stderr: string }> {
  let stderr = '';
  c.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => c.on('close', (status) => resolve({ status, stderr })));
}

for (const { who, world, opts } of runners()) {
  test(`a link into a .git that the command of a run still going made before this run started is moved aside after this run too (${who})`, async () => {
    // A second command sharing the writable path can rename the link's directory, from a part of the
    // tree the first run's scan has not walked yet to one it has, so that scan misses it: the second
    // run then meets it in its own step after the run, as older than its own start (renaming a
    // directory does not change the links in it), and must move it aside all the same.
    const w = world();
    own(w, opts);
    const mark = join(w.outside, 'MARK');
    const a = cordonAsync(w, ['--', 'sh', '-c', `${PLANT_IN_GIT_DIR} && ln -s ../.git/objects/x modules/foo && touch A_PLANTED && while [ ! -e GO_A ]; do sleep 0.05; done`], { ...opts, env: { ...w.env, MARK: mark } });
    const aEnd = ended(a);
    try {
      await until(join(w.proj, 'A_PLANTED'));
      // A second on: to the second run, which starts now, the link is older than its start.
      aSecondOn();
      const second = cordon(w, ['--', 'true'], opts);
      assert.equal(second.status, 0, second.stderr);
      assert.ok(second.stderr.includes(`the command made ${join(w.proj, 'modules', 'foo')} a symbolic link (to "../.git/objects/x"): it leads into a git directory`), `the second run names the link:\n${second.stderr}`);
      assertMovedAside(w.proj, 'modules/foo', second.stderr);
      prompt(w, join(w.proj, 'modules'));
      assert.ok(!existsSync(mark), 'git on the host ran the planted fsmonitor');
    } finally {
      writeFileSync(join(w.proj, 'GO_A'), '');
    }
    const first = await aEnd;
    assert.equal(first.status, 0, first.stderr);
    // A run that shares no writable path with a run going on keeps judging links from its own start:
    // a link made after that run started, and a second before this one, is older than this run.
    const b = cordonAsync(w, ['--', 'sh', '-c', 'touch B_GOING && while [ ! -e GO_B ]; do sleep 0.05; done'], opts);
    const bEnd = ended(b);
    const elsewhere = join(w.root, 'elsewhere');
    try {
      await until(join(w.proj, 'B_GOING'));
      mkdirSync(elsewhere);
      symlinkSync(join(w.proj, '.git'), join(elsewhere, 'old'));
      own(w, opts);
      aSecondOn();
      const apart = cordon(w, ['--', 'true'], { ...opts, cwd: elsewhere });
      assert.equal(apart.status, 0, apart.stderr);
      assert.equal(readlinkSync(join(elsewhere, 'old')), join(w.proj, '.git'), `a link older than the run, in a path no run going on shares, stays:\n${apart.stderr}`);
    } finally {
      writeFileSync(join(w.proj, 'GO_B'), '');
    }
    assert.equal((await bEnd).status, 0);
  });
}
