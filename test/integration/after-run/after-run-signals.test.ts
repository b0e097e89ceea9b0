/**
 * The after-run step runs on every way cordon ends. The command plants a
 * repository whose config runs a payload on the host's next `git status`,
 * then waits; cordon is stopped the way users and supervisors stop it
 * (Ctrl-C to the terminal's process group, SIGTERM or SIGHUP to cordon or
 * its group, `timeout`). After each, git on the host must run nothing. A
 * SIGKILLed cordon leaves a journal, which the scan after the run, waiting
 * in a process of its own, finishes at once (`cordon recover`) once the
 * sandbox is gone; where that process is killed too (a whole cgroup's
 * kill), the next run (or `cordon doctor`, `cordon recover`) finishes it
 * before anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, killWithWatcher, makeWorld, cordon, PLANT, testUser, type World } from '../../helpers/cordon.js';


/** cordon running `script` (PLANT by default) in the project, leading a process group of its own. */
function start(w: World, opts: { asUser?: string; wrap?: string[]; script?: string; debug?: boolean } = {}): ChildProcess {
  const env = { ...w.env, MARK: join(w.outside, 'MARK') };
  const inner = [...(opts.wrap ?? []), process.execPath, CLI, ...(opts.debug ? ['--debug'] : []), '--', '/bin/sh', '-c', opts.script ?? PLANT];
  const [cmd, ...args] = opts.asUser ? ['runuser', '-u', opts.asUser, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...inner] : inner;
  // detached: cordon (or its wrapper) leads a process group of its own, as a shell's job would.
  return spawn(cmd!, args, { cwd: w.proj, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function planted(w: World, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!existsSync(join(w.proj, 'PLANTED'))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the command never planted');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

/** git on the host in the planted repository: the payload must not run. */
function assertDefused(w: World): void {
  const fresh = join(w.proj, 'fresh');
  spawnSync('git', ['status', '--short'], { cwd: fresh });
  assert.ok(!existsSync(join(w.outside, 'MARK')), 'git on the host ran the planted fsmonitor');
  assert.match(readFileSync(join(fresh, '.git', 'config.cordon-untrusted'), 'utf8'), /fsmonitor/);
  assert.doesNotMatch(readFileSync(join(fresh, '.git', 'config'), 'utf8'), /fsmonitor/);
}

const u = testUser();
const who = [{ name: 'root', asUser: undefined as string | undefined }, ...(u ? [{ name: 'an unprivileged user', asUser: u.name }] : [])];

for (const { name, asUser } of who) {
  const world = () => (asUser ? makeWorld({ owner: u! }) : makeWorld());
  const ways: { how: string; stop: (c: ChildProcess) => void; wrap?: string[] }[] = [
    { how: 'Ctrl-C (SIGINT to the process group)', stop: (c) => process.kill(-c.pid!, 'SIGINT') },
    { how: 'SIGTERM to the process group', stop: (c) => process.kill(-c.pid!, 'SIGTERM') },
    { how: 'SIGHUP to cordon', stop: (c) => process.kill(cordonPid(c), 'SIGHUP') },
    { how: 'SIGINT twice, quickly', stop: (c) => { process.kill(-c.pid!, 'SIGINT'); setTimeout(() => { try { process.kill(-c.pid!, 'SIGINT'); } catch { /* gone */ } }, 5); } },
    { how: '`timeout 3`', stop: () => {}, wrap: ['timeout', '3'] },
  ];
  for (const way of ways) {
    // runuser itself is the group leader for the unprivileged runs: signals to the group reach cordon as from a terminal.
    test(`${way.how}: the after-run step still runs (${name})`, async () => {
      const w = world();
      const child = start(w, { asUser, ...(way.wrap ? { wrap: way.wrap } : {}) });
      const done = exited(child);
      await planted(w, child);
      way.stop(child);
      const { code, stderr } = await done;
      assert.notEqual(code, 0);
      assert.match(stderr, /created a git repository in .*fresh/, stderr);
      assertDefused(w);
    });
  }

  test(`SIGINT to the group every 2 ms while the step after the run sets aside 20 new repositories: every process of that step (the set-aside, git reading each config) outlives them (${name})`, async () => {
    const w = world();
    const plant = `for i in $(seq 1 20); do mkdir -p fresh$i && (cd fresh$i && git init -q && git config core.fsmonitor "$PWD/.plant" && printf '#!/bin/sh\\ntouch "$MARK"\\n' > .plant && chmod +x .plant) || exit 1; done; touch PLANTED; exec sleep 60`;
    const child = start(w, { asUser, script: plant });
    const done = exited(child);
    await planted(w, child);
    const t = setInterval(() => { try { process.kill(-child.pid!, 'SIGINT'); } catch { /* gone */ } }, 2);
    const { code, stderr } = await done;
    clearInterval(t);
    assert.notEqual(code, 0);
    assert.doesNotMatch(stderr, /could not be moved aside/, stderr);
    for (let i = 1; i <= 20; i++) {
      const repo = join(w.proj, `fresh${i}`);
      spawnSync('git', ['status', '--short'], { cwd: repo });
      assert.doesNotMatch(readFileSync(join(repo, '.git', 'config'), 'utf8'), /fsmonitor/, `fresh${i}`);
    }
    assert.ok(!existsSync(join(w.outside, 'MARK')), 'git on the host ran a planted fsmonitor');
  });

  for (const ahead of [false, true]) {
    test(`SIGKILL: the step after the run is done at once, with no other run, by the process that waited to scan after it, once the sandbox is gone; what it did is said on cordon's stderr, and its placeholders are gone (${ahead ? 'the sandbox process started ahead, `with-scan --then`' : 'a scan process of its own'}, ${name})`, async () => {
      const w = world();
      const opts = asUser ? { asUser } : {};
      // A first run leaves the launch record the second starts its sandbox process from.
      if (ahead) assert.equal(cordon(w, ['--debug', '--', 'true'], opts).status, 0);
      const child = start(w, { ...opts, debug: true });
      const done = exited(child);
      await planted(w, child);
      process.kill(cordonPid(child), 'SIGKILL');
      // cordon's stderr closes once what finishes the run (which speaks on it) has ended.
      const { stderr } = await done;
      assert.equal(/using the sandbox started ahead/.test(stderr), ahead, stderr);
      assert.match(stderr, /cordon: warning: after a cordon that was killed \(pid \d+\): the command created a git repository in .*fresh/, stderr);
      assert.match(stderr, /cordon recover: finished the after-run check of 1 run whose cordon was killed/, stderr);
      assertDefused(w);
      const state = join(w.home, '.local', 'state', 'cordon');
      assert.deepEqual(readdirSync(state).filter((n) => n.startsWith('journal-') || n.startsWith('hold-')), [], 'no journal and no placeholder hold is left');
      for (const name of ['CLAUDE.md', '.vscode', '.envrc']) assert.ok(!existsSync(join(w.proj, name)), `the placeholder ${name} is gone`);
    });
  }

  for (const next of ['recover', 'run'] as const) {
    test(`SIGKILL, then at once ${next === 'recover' ? '`cordon recover`' : 'another run'}: it waits until the step after the killed run is done (by whichever claims it), so nothing is left for git ${next === 'run' ? 'when its command starts' : 'once it returns'} (${name})`, async () => {
      const w = world();
      const child = start(w, { asUser });
      const done = exited(child);
      await planted(w, child);
      process.kill(cordonPid(child), 'SIGKILL');
      const r = next === 'recover'
        ? cordon(w, ['recover'], { ...(asUser ? { asUser } : {}) })
        : cordon(w, ['--', '/bin/sh', '-c', 'test -f fresh/.git/config.cordon-untrusted && echo checked'], { ...(asUser ? { asUser } : {}) });
      assert.equal(r.status, 0, r.stderr);
      if (next === 'run') assert.equal(r.stdout, 'checked\n', 'the command started before the killed run was finished');
      assertDefused(w);
      await done;
    });
  }

  test(`SIGKILL to cordon and to the process waiting to scan after the run (a whole cgroup's kill): the journal is finished by the next run, before it runs anything (${name})`, async () => {
    const w = await killedMidRun(world(), asUser);
    const state = join(w.home, '.local', 'state', 'cordon');
    await waitFor(() => readdirSync(state).some((n) => n.startsWith('journal-')), 'a journal left behind');
    // The sandbox died with its cordon; the plant is still live on the host until the next run.
    const r = cordon(w, ['--', 'true'], { ...(asUser ? { asUser } : {}) });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /after a cordon that was killed \(pid \d+\): the command created a git repository in .*fresh/);
    assertDefused(w);
    assert.ok(!readdirSync(state).some((n) => n.startsWith('journal-')), 'the journal is gone once finished');
  });

  test(`SIGKILL with no watcher: the journal keeps the identities of the git dirs: one replaced at its path since that run started is set aside by the next run (${name})`, async () => {
    const w = await killedMidRun(world(), asUser);
    // Pins keep the command from doing this inside (repository-identity.test.ts); done here on the
    // host, it shows that the run finished from the journal judges a repository by identity, not path.
    const nested = join(w.proj, 'deep', 'a', 'b', 'c');
    const decoy = join(w.outside, 'decoy');
    spawnSync('git', ['init', '-q', decoy]);
    spawnSync('git', ['-C', decoy, 'config', 'core.fsmonitor', `touch ${join(w.outside, 'MARK')}`]);
    rmSync(join(nested, '.git'), { recursive: true });
    renameSync(join(decoy, '.git'), join(nested, '.git'));
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]);
    const r = cordon(w, ['--', 'true'], { ...(asUser ? { asUser } : {}) });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /after a cordon that was killed \(pid \d+\): the command created a git repository in .*deep\/a\/b\/c\b/, r.stderr);
    spawnSync('git', ['status', '--short'], { cwd: nested });
    assert.ok(!existsSync(join(w.outside, 'MARK')), 'git on the host ran the replaced repository\'s fsmonitor');
    assert.match(readFileSync(join(nested, '.git', 'config.cordon-untrusted'), 'utf8'), /fsmonitor/);
    assertDefused(w);
  });

  test(`SIGKILL with no watcher: a writable path renamed while that run went on is named by the next run, which cannot check it (${name})`, async () => {
    const w = await killedMidRun(world(), asUser);
    renameSync(w.proj, `${w.proj}.moved`);
    mkdirSync(w.proj);
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]);
    const r = cordon(w, ['--', 'true'], { cwd: w.outside, ...(asUser ? { asUser } : {}) });
    assert.match(r.stderr, new RegExp(`after a cordon that was killed \\(pid \\d+\\): the writable path ${w.proj} is not the directory the command ran in any more`), r.stderr);
  });

  test(`SIGKILL with no watcher: a directory that run's command locked is named by the next run, which cannot tell the command's lock from one you made since, so it gives nothing back (root reads it, and sets aside the repository there) (${name})`, async () => {
    const w = world();
    const lock = 'git init -q hide/r && git -C hide/r config core.fsmonitor "touch $MARK" && chmod 311 hide && touch PLANTED && exec sleep 60';
    const child = start(w, { asUser, script: lock });
    const done = exited(child);
    await planted(w, child);
    killWithWatcher(cordonPid(child));
    await done;
    const r = cordon(w, ['--', 'true'], { ...(asUser ? { asUser } : {}) });
    assert.equal(r.status, 0, r.stderr);
    if (asUser) {
      assert.match(r.stderr, new RegExp(`after a cordon that was killed \\(pid \\d+\\): ${w.proj}/hide could not be read after the run, and could before it`), r.stderr);
      assert.equal(statSync(join(w.proj, 'hide')).mode & 0o777, 0o311, 'left as it is');
      chmodSync(join(w.proj, 'hide'), 0o755);
    } else {
      assert.match(r.stderr, /after a cordon that was killed \(pid \d+\): the command created a git repository in .*hide\/r/, r.stderr);
      assert.doesNotMatch(readFileSync(join(w.proj, 'hide', 'r', '.git', 'config'), 'utf8'), /fsmonitor/);
    }
  });

  if (asUser) {
    test(`SIGKILL with no watcher: a directory you lock after the killed run is not given back by the next run, and its command cannot read it (${name})`, async () => {
      const w = await killedMidRun(world(), asUser);
      const priv = join(w.proj, 'private');
      spawnSync('runuser', ['-u', asUser, '--', 'sh', '-c', `mkdir ${priv} && echo TOPSECRET > ${priv}/key && chmod 000 ${priv}`]);
      const r = cordon(w, ['--', '/bin/sh', '-c', 'cat private/key'], { asUser });
      assert.doesNotMatch(r.stdout, /TOPSECRET/);
      assert.doesNotMatch(r.stderr, /gave the owner/, r.stderr);
      assert.equal(statSync(priv).mode & 0o777, 0);
      chmodSync(priv, 0o700);
    });
  }

  for (const sub of ['doctor', 'recover']) {
    test(`SIGKILL with no watcher: cordon ${sub} finishes the journal too, and removes the placeholders (${name})`, async () => {
      const w = await killedMidRun(world(), asUser);
      assert.ok(existsSync(join(w.proj, 'CLAUDE.md')), 'a placeholder left by the killed run');
      const r = cordon(w, [sub], { ...(asUser ? { asUser } : {}) });
      assert.match(r.stderr, new RegExp(`cordon ${sub}: finished the after-run check of 1 run whose cordon was killed`), r.stderr);
      assertDefused(w);
      assert.ok(!existsSync(join(w.proj, 'CLAUDE.md')), 'the placeholder is gone');
    });
  }
}

/** A run that planted, then its cordon SIGKILLed with the process waiting to scan after it (the sandbox dies with it; the plant and the journal stay). */
async function killedMidRun(w: World, asUser: string | undefined): Promise<World> {
  const child = start(w, { asUser });
  const done = exited(child);
  await planted(w, child);
  killWithWatcher(cordonPid(child));
  await done;
  return w;
}

/** cordon's own pid: the child itself, or the node process runuser started. */
function cordonPid(c: ChildProcess): number {
  for (let pid = c.pid!; ; ) {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (cmd[1] === CLI) return pid;
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    if (kids.length === 0) throw new Error(`no cordon below ${c.pid}`);
    pid = kids[0]!;
  }
}

async function waitFor(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const { name, asUser } of who) {
  test(`a second run started while the first still goes: what the first created is checked by the second too (${name})`, async () => {
    const w = asUser ? makeWorld({ owner: u! }) : makeWorld();
    const env = { ...w.env, MARK: join(w.outside, 'MARK') };
    const argv = (script: string) => {
      const inner = [process.execPath, CLI, '--', '/bin/sh', '-c', script];
      return asUser ? ['runuser', '-u', asUser, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...inner] : inner;
    };
    // A plants a repository and lingers; B starts meanwhile (to B the repository is an old one, which it protects with mounts).
    const [a0, ...a] = argv(`${PLANT.replace('exec sleep 60', 'sleep 3')}`);
    const first = spawn(a0!, a, { cwd: w.proj, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const firstDone = exited(first);
    await planted(w, first);
    // B waits until A has moved the config aside (a rename on the host carries B's mount along), then writes a new one.
    const [b0, ...b] = argv('while [ ! -e fresh/.git/config.cordon-untrusted ]; do sleep 0.1; done; printf "[core]\\n\\tfsmonitor = \\"$PWD/fresh/.plant\\"\\n" > fresh/.git/config && echo B-wrote');
    const second = spawn(b0!, b, { cwd: w.proj, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    second.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const secondDone = exited(second);
    await firstDone;
    const { code, stderr } = await secondDone;
    // A's move took B's mount along: B's helper stops B (at once, or when B ends), and what B wrote before that is moved aside after its run.
    assert.equal(code, 125, stderr);
    assert.match(stderr, /fresh\/\.git\/config, which this run hides, holds read-only or pins, was replaced, moved or removed on the host/, stderr);
    if (out.includes('B-wrote')) assert.match(stderr, /moved aside|moved to|created a git repository in .*fresh/, stderr);
    spawnSync('git', ['status', '--short'], { cwd: join(w.proj, 'fresh') });
    assert.ok(!existsSync(join(w.outside, 'MARK')), 'git on the host ran the config B wrote');
  });
}
