/**
 * A repository planted inside `.git/` (`.git/objects/x`, which the scan does
 * not walk) is protected by nothing; git uses it only when run from inside
 * it, which a symbolic link the command leaves in the work tree arranges:
 * `cd modules/foo` through `modules/foo -> ../.git/objects/x`, and a shell
 * prompt's `git status` runs the planted core.fsmonitor. A control shows
 * that it does, without cordon; through the real CLI, as root and as an
 * unprivileged user, every link the command made into a `.git` (by its
 * text, through an older link, leading nowhere yet, in any case) is moved
 * aside after the run, and links that lead elsewhere stay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { cordon, makeWorld, own, runners, sh, type World } from '../../helpers/cordon.js';

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
    mkdirSync(join(w.proj, 'modules'));
    symlinkSync('../README.md', join(w.proj, 'modules', 'keep'));
    own(w, opts);
    aSecondOn();
    const r = sh(w, [
      PLANT_IN_GIT_DIR,
      'ln -s ../.git/objects/x modules/foo',
      'ln -s ../gitdir/objects/x modules/via',
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
    for (const n of ['foo', 'via', 'later', 'upper', 'absolute', 'keep']) {
      assert.ok(!lstatSync(join(w.proj, 'modules', n), { throwIfNoEntry: false }), `modules/${n} was moved aside`);
      assert.ok(lstatSync(join(w.proj, 'modules', `${n}.cordon-untrusted`)).isSymbolicLink(), `modules/${n}.cordon-untrusted`);
      assert.ok(r.stderr.includes(`the command made ${join(w.proj, 'modules', n)} a symbolic link (to `) && r.stderr.includes('): it leads into a git directory'), `${n} named:\n${r.stderr}`);
    }
    assert.equal(readlinkSync(join(w.proj, 'modules', 'foo.cordon-untrusted')), '../.git/objects/x');
    // Where a prompt would run git now: the path is gone; the project's own repository runs nothing.
    assert.ok(!existsSync(join(w.proj, 'modules', 'foo')));
    prompt(w, w.proj);
    prompt(w, join(w.proj, 'modules'));
    assert.ok(!existsSync(mark), 'git on the host ran the planted fsmonitor');
    // Links that lead elsewhere, and the user's own: left.
    for (const [n, t] of [['ok', '../src'], ['etc', '/etc/hostname'], ['dep', '../vendor/dep.git'], ['loop1', 'loop2'], ['loop2', 'loop1']]) assert.equal(readlinkSync(join(w.proj, 'modules', n!)), t, `modules/${n} stays`);
    assert.equal(readlinkSync(join(w.proj, 'gitdir')), '.git', 'the user\'s older link stays');
    const next = cordon(w, ['--', 'true'], opts);
    assert.equal(next.status, 0, next.stderr);
  });
}

for (const { who, world, opts } of runners()) {
  test(`a link into a .git made by a run whose cordon was killed is moved aside by the next run (${who})`, async () => {
    const w = world();
    own(w, opts);
    const { cordonAsync } = await import('../../helpers/cordon.js');
    const c = cordonAsync(w, ['--', 'sh', '-c', `${PLANT_IN_GIT_DIR} && ln -s ../.git/objects/x modules/foo && touch PLANTED && exec sleep 60`], { ...opts, env: { ...w.env, MARK: join(w.outside, 'MARK') } });
    const closed = new Promise((resolve) => c.on('close', resolve));
    for (let i = 0; i < 1000 && !existsSync(join(w.proj, 'PLANTED')); i++) await new Promise((res) => setTimeout(res, 20));
    assert.ok(existsSync(join(w.proj, 'PLANTED')), 'the command planted');
    // cordon's own process: the node below runuser, or the child itself.
    const pid = spawnSync('pgrep', ['-f', '-n', `^${process.execPath} .*bin/cordon.cjs -- sh -c ${PLANT_IN_GIT_DIR.slice(0, 20)}`], { encoding: 'utf8' }).stdout.trim();
    assert.match(pid, /^\d+$/, 'cordon found');
    process.kill(Number(pid), 'SIGKILL');
    await closed;
    const r = cordon(w, ['--', 'true'], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /after a cordon that was killed \(pid \d+\): the command made .*\/modules\/foo a symbolic link \(to "\.\.\/\.git\/objects\/x"\): it leads into a git directory/, r.stderr);
    assert.ok(!lstatSync(join(w.proj, 'modules', 'foo'), { throwIfNoEntry: false }));
  });
}
