/**
 * The launcher's contract: exit status, signals, stdio and TTY pass-through,
 * and nothing left behind (placeholders, hold files, processes) after a normal
 * exit, a forwarded signal, or kill -9 of the command; a set-up that loses a
 * race with the host's mount table is made again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, cordon, killWithWatcher, makeWorld, ROOT, runners, sh, type World } from '../../helpers/cordon.js';

/** Hold files (cordon's placeholder bookkeeping) that mention this project; other tests run in parallel. */
function runtimeHolds(home: string, proj: string): string[] {
  const dirs = [join(home, '.local', 'state', 'cordon')];
  return dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((n) => n.startsWith('hold-')).map((n) => join(d, n)) : []))
    .filter((f) => { try { return readFileSync(f, 'utf8').includes(proj); } catch { return false; } });
}

/** Placeholders cordon creates for missing protected names in the project. */
function leftovers(proj: string): string[] {
  return ['.envrc', '.vscode', '.mcp.json', '.idea', '.claude', '.bashrc', join('deep', 'a', 'b', 'c', '.vscode')].filter((n) => existsSync(join(proj, n)));
}

test('exit status is the command\'s; a signal death is 128+N', () => {
  const w = makeWorld();
  assert.equal(sh(w, 'exit 7').status, 7);
  assert.equal(sh(w, 'kill -9 $$').status, 137);
  assert.equal(sh(w, 'kill -TERM $$').status, 143);
  assert.equal(cordon(w, ['--', 'definitely-not-a-command']).status, 127);
  assert.equal(cordon(w, ['-c', 'exit 3']).status, 3);
});

test('stdin, stdout and stderr pass through untouched (binary-safe)', () => {
  const w = makeWorld();
  const input = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
  const r = spawnSync(process.execPath, [CLI, '--', '/bin/sh', '-c', 'cat; echo err >&2'], { cwd: w.proj, env: w.env, input: Buffer.from(input, 'latin1') });
  assert.equal(r.status, 0);
  assert.deepEqual(r.stdout, Buffer.from(input, 'latin1'));
  assert.equal(r.stderr.toString(), 'err\n');
});

test('a TTY passes through (the command sees a terminal on its stdio)', { skip: spawnSync('script', ['--version']).status !== 0 ? 'util-linux script(1) missing' : false }, () => {
  const w = makeWorld();
  const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} -- /bin/sh -c 'test -t 0 && test -t 1 && echo IS-A-TTY'`, '/dev/null'], { cwd: w.proj, env: w.env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /IS-A-TTY/);
});

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  test(`${sig} to cordon is forwarded to the command, and nothing is left behind`, async () => {
    const w = makeWorld();
    const c = spawn(process.execPath, [CLI, '--', '/bin/sh', '-c', `trap 'echo got-${sig}; exit 42' ${sig.slice(3)}; echo ready; while :; do sleep 0.05; done`], { cwd: w.proj, env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve) => c.stdout.on('data', (d: Buffer) => { out += d; if (out.includes('ready')) resolve(); }));
    c.kill(sig);
    const code = await new Promise<number | null>((resolve) => c.on('close', (x) => resolve(x)));
    assert.equal(code, 42);
    assert.match(out, new RegExp(`got-${sig}`));
    assert.deepEqual(leftovers(w.proj), []);
    assert.equal(spawnSync('pgrep', ['-f', `got-${sig}`]).status, 1, 'no sandboxed process survives');
  });
}

test('kill -9 of the sandboxed command: cordon reports 137 and cleans up', async () => {
  const w = makeWorld();
  const c = spawn(process.execPath, [CLI, '--', '/bin/sh', '-c', 'echo $$ > /tmp/pid; echo ready; exec sleep 30'], { cwd: w.proj, env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve) => c.stdout.on('data', () => resolve()));
  // Find the sandboxed sleep from the host and SIGKILL it.
  const pids = spawnSync('pgrep', ['-f', '^sleep 30$'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  assert.ok(pids.length >= 1);
  for (const p of pids) process.kill(Number(p), 'SIGKILL');
  const code = await new Promise<number | null>((resolve) => c.on('close', (x) => resolve(x)));
  assert.equal(code, 137);
  assert.deepEqual(leftovers(w.proj), []);
  assert.deepEqual(runtimeHolds(w.home, w.proj), []);
});

test('kill -9 of cordon itself takes the whole sandbox down; its placeholders are swept', async () => {
  const w = makeWorld();
  const c = spawn(process.execPath, [CLI, '--', '/bin/sh', '-c', 'echo ready; exec sleep 31'], { cwd: w.proj, env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve) => c.stdout.on('data', () => resolve()));
  assert.ok(existsSync(join(w.proj, '.envrc')), 'placeholder exists while running');
  c.kill('SIGKILL');
  await new Promise((resolve) => c.on('close', resolve));
  for (let i = 0; i < 50 && spawnSync('pgrep', ['-f', '^sleep 31$']).status === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(spawnSync('pgrep', ['-f', '^sleep 31$']).status, 1, 'sandbox died with cordon');
  assert.equal(sh(w, 'true').status, 0);
  assert.deepEqual(leftovers(w.proj), []);
  assert.deepEqual(runtimeHolds(w.home, w.proj), []);
});

for (const watcher of [true, false]) {
  test(`kill -9 of cordon with a filtered network: ${watcher ? 'its socket directory is removed once its sandbox is gone (cordon recover)' : 'killed with the process waiting to scan after the run, the next filtered run removes its socket directory'}`, async () => {
    const w = makeWorld();
    const state = join(w.home, '.local', 'state', 'cordon');
    const sessions = () => (existsSync(state) ? readdirSync(state).filter((n) => n.startsWith('net-')) : []);
    const c = spawn(process.execPath, [CLI, '--allow-domain', 'allowed.invalid', '--', '/bin/sh', '-c', 'echo ready; exec sleep 32'], { cwd: w.proj, env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve) => c.stdout.on('data', () => resolve()));
    const dead = sessions();
    assert.equal(dead.length, 1, 'one session directory while running');
    if (watcher) c.kill('SIGKILL');
    else killWithWatcher(c.pid!);
    // Its stderr closes once `cordon recover` (which speaks on it) has ended.
    await new Promise((resolve) => c.on('close', resolve));
    if (watcher) {
      assert.deepEqual(sessions(), [], 'removed after the SIGKILL');
      return;
    }
    assert.deepEqual(sessions(), dead, 'left behind by SIGKILL');
    assert.equal(cordon(w, ['--allow-domain', 'allowed.invalid', '--', 'true']).status, 0);
    assert.deepEqual(sessions(), [], 'swept by the next run, which removed its own too');
  });
}

test('fail closed: a bad settings file runs nothing and exits 125 with the key path', () => {
  const w = makeWorld();
  const f = join(w.outside, 'bad.json');
  writeFileSync(f, '{"filesystem":{"allowWrite":"."}}');
  const r = sh(w, 'touch ran', ['--settings', f]);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /^cordon: .*bad\.json: filesystem\.allowWrite: expected an array/);
  assert.ok(!existsSync(join(w.proj, 'ran')));
  const missing = sh(w, 'touch ran', ['--settings', join(w.outside, 'nope.json')]);
  assert.equal(missing.status, 125);
  assert.match(missing.stderr, /does not exist/);
  // The user's own settings file is read by default, and fails closed too.
  mkdirSync(join(w.home, '.config', 'cordon'), { recursive: true });
  writeFileSync(join(w.home, '.config', 'cordon', 'settings.json'), '');
  const empty = sh(w, 'touch ran');
  assert.equal(empty.status, 125);
  assert.match(empty.stderr, /settings\.json: the file is empty/);
  assert.ok(!existsSync(join(w.proj, 'ran')));
});

test('fail closed: missing bubblewrap or helper is a clear error, nothing runs', () => {
  const w = makeWorld();
  const r = sh(w, 'touch ran', [], { env: { CORDON_BWRAP: '/nonexistent/bwrap' } });
  assert.equal(r.status, 125);
  assert.match(r.stderr, /apt-get install -y bubblewrap/);
  const h = sh(w, 'touch ran', [], { env: { CORDON_HELPER: '/nonexistent/helper' } });
  assert.equal(h.status, 125);
  assert.match(h.stderr, /native helper .* is missing/);
  assert.ok(!existsSync(join(w.proj, 'ran')));
  assert.deepEqual(leftovers(w.proj), []);
});

test('fail closed: a placeholder that cannot be made (made while bubblewrap starts) runs nothing and exits 125', { skip: process.getuid?.() !== 0 ? 'needs root to mount a read-only tmpfs (CI runs as root)' : false }, () => {
  const w = makeWorld();
  // A writable root on a read-only filesystem: mkdir of its placeholders fails (EROFS).
  const ro = join(w.root, 'ro-root');
  mkdirSync(ro);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro], { encoding: 'utf8' });
  assert.equal(m.status, 0, m.stderr);
  try {
    const r = sh(w, 'touch ran', ['--allow-write', ro]);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /cannot create placeholder .*ro-root/);
    assert.ok(!existsSync(join(w.proj, 'ran')), 'the command ran');
    // The project's placeholders were made first and are gone again.
    assert.deepEqual(leftovers(w.proj), []);
  } finally {
    spawnSync('umount', [ro]);
  }
});

test('filtered network: the relay is up before the command starts, every time', () => {
  const w = makeWorld();
  // 20 runs: a race between the relay joining the sandbox's namespaces and
  // bubblewrap moving its child would show up as a refused connection here.
  // The name is not allowed, so the proxy answers 403 without resolving anything.
  const codes = Array.from({ length: 20 }, () => cordon(w, ['--allow-domain', 'allowed.invalid', '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', 'http://127.0.0.1:3128', 'http://notallowed.invalid/']).stdout);
  assert.deepEqual(codes, Array(20).fill('403'));
});

test('fail closed: a network bridge that cannot start runs nothing and exits 125', () => {
  const w = makeWorld();
  const r = cordon(w, ['--allow-domain', 'allowed.invalid', '--', 'touch', 'ran'], { env: { CORDON_RELAY: '/bin/false' } });
  assert.equal(r.status, 125);
  assert.match(r.stderr, /the network bridge into the sandbox failed/);
  assert.ok(!existsSync(join(w.proj, 'ran')));
  assert.deepEqual(leftovers(w.proj), []);
});

/**
 * A bubblewrap that notes each start in a log, then is /usr/bin/bwrap, or,
 * with `fail`, says `fail` as bubblewrap would and exits 1 for the first
 * `times` starts. For the unprivileged user too: others may run it and write its log.
 */
function loggedBwrap(w: World, fail?: { message: string; times: number }): { path: string; starts(): number } {
  const log = join(w.root, 'bwrap-starts');
  writeFileSync(log, '');
  chmodSync(log, 0o666);
  const path = join(w.root, 'bwrap');
  const failing = fail ? `if [ "$(wc -c < '${log}')" -le ${fail.times} ]; then printf '%s\\n' '${fail.message.replace(/'/g, `'\\''`)}' >&2; exit 1; fi\n` : '';
  writeFileSync(path, `#!/bin/sh\nprintf x >> '${log}'\n${failing}exec /usr/bin/bwrap "$@"\n`, { mode: 0o755 });
  return { path, starts: () => readFileSync(log, 'utf8').length };
}

/** What bubblewrap says when a mount below the tree it binds went away between its reading the mount table and its remount. */
const RACE_MESSAGE = `bwrap: Can't bind mount /oldroot/ on /newroot/: Unable to apply mount flags: remount "/newroot/run/netns/gone": Invalid argument`;

test('a set-up that loses the mount-table race is made again, silently; nothing of the lost attempts is said', () => {
  const w = makeWorld();
  const b = loggedBwrap(w, { message: RACE_MESSAGE, times: 3 });
  const r = cordon(w, ['--', '/bin/sh', '-c', 'cat; echo ran >> ran; touch /etc/cordon-nope 2>/dev/null; true'], { env: { CORDON_BWRAP: b.path }, input: 'through\n' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'through\n');
  // The lost attempts say nothing; the refusal report is the attempt's that ran, whole.
  assert.match(r.stderr, /^cordon: 1 operation was refused:\n {2}create of "\/etc\/cordon-nope" by pid \d+ refused by built-in: not writable \(outside filesystem\.allowWrite\); to allow it: filesystem\.allowWrite: add "\/etc"\n$/);
  assert.equal(b.starts(), 4);
  assert.equal(readFileSync(join(w.proj, 'ran'), 'utf8'), 'ran\n', 'the command ran once');
  assert.deepEqual(leftovers(w.proj), []);
});

test('fail closed: a set-up that loses the mount-table race every time gives up with the cause; nothing runs', () => {
  const w = makeWorld();
  const b = loggedBwrap(w, { message: RACE_MESSAGE, times: 1000 });
  const r = sh(w, 'touch ran', [], { env: { CORDON_BWRAP: b.path } });
  assert.equal(r.status, 125);
  assert.match(r.stderr, /the mount at \/run\/netns\/gone \(or another\) changed on the host while bubblewrap copied the mount table, 10 times in a row/);
  assert.equal(r.stderr.split("Can't bind mount").length - 1, 1, `bubblewrap's last message only:\n${r.stderr}`);
  assert.equal(b.starts(), 10);
  assert.ok(!existsSync(join(w.proj, 'ran')));
  assert.deepEqual(leftovers(w.proj), []);
});

test('fail closed: any other set-up failure is not made again', () => {
  const w = makeWorld();
  const b = loggedBwrap(w, { message: "bwrap: Can't mount proc on /newroot/proc: Operation not permitted", times: 1000 });
  const r = sh(w, 'touch ran', [], { env: { CORDON_BWRAP: b.path } });
  assert.equal(r.status, 125);
  assert.match(r.stderr, /Can't mount proc[^]*the sandbox could not be set up/);
  assert.equal(b.starts(), 1);
  assert.ok(!existsSync(join(w.proj, 'ran')));
});

/**
 * Mounts and unmounts 20 tmpfs without pause below `dir` (argv[1]), made a
 * shared mount so that each change reaches the mount namespaces copied from
 * this one, as `ip netns` does in /run/netns. Run in a mount namespace of
 * its own (unshare -m): nothing of it reaches the host, or another test.
 */
const CHURN = `
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
MS_BIND, MS_SHARED = 4096, 1 << 20
top = sys.argv[1].encode()
def ok(r, what):
    if r != 0: raise OSError(ctypes.get_errno(), what)
ok(libc.mount(top, top, None, MS_BIND, None), "bind")
ok(libc.mount(None, top, None, MS_SHARED, None), "make-shared")
subs = [top + b"/m%d" % i for i in range(20)]
for s in subs:
    os.makedirs(s, exist_ok=True)
    ok(libc.mount(b"none", s, b"tmpfs", 0, None), "mount")
print("ready", flush=True)
end = time.time() + 300
while time.time() < end:
    for s in subs:
        libc.umount2(s, 0)
        ok(libc.mount(b"none", s, b"tmpfs", 0, None), "mount")
        time.sleep(0.0005)
`;

/** Runs `body` with the CHURN going on in a mount namespace of its own; `within` enters it. */
async function underChurn(w: World, body: (within: readonly string[]) => Promise<void> | void): Promise<void> {
  const dir = join(w.root, 'churn');
  mkdirSync(dir);
  const churn = spawn('unshare', ['-m', '--propagation', 'private', 'python3', '-c', CHURN, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  churn.stderr.on('data', (d: Buffer) => { said += d; });
  try {
    await new Promise<void>((resolve, reject) => {
      churn.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      churn.on('exit', () => reject(new Error(`the churn ended: ${said}`)));
    });
    await body(['nsenter', `--mount=/proc/${churn.pid}/ns/mnt`, `--wd=${w.proj}`, '--']);
  } finally {
    churn.kill('SIGKILL');
  }
}

for (const r of runners()) {
  test(`a host whose mounts change without pause: every run works, its set-up made again where it lost the race (${r.who})`, { skip: process.getuid?.() !== 0 ? 'needs root to mount (CI runs as root)' : false }, async () => {
    const w = r.world();
    const b = loggedBwrap(w);
    await underChurn(w, (within) => {
      let runs = 0;
      // Until three starts lost the race (a few runs, at this churn), or 200 runs.
      for (; runs < 200 && b.starts() - runs < 3; runs++) {
        const res = cordon(w, ['--', '/bin/cat'], { ...r.opts, within, env: { CORDON_BWRAP: b.path }, input: `run ${runs}\n` });
        assert.equal(res.status, 0, `run ${runs}: ${res.stderr}`);
        assert.equal(res.stdout, `run ${runs}\n`);
        assert.equal(res.stderr, '');
      }
      assert.ok(b.starts() > runs, `no start lost the race in ${runs} runs: the churn did not reach bubblewrap, and this test proved nothing`);
    });
    assert.deepEqual(leftovers(w.proj), []);
  });
}

test('a host whose mounts change without pause: the library\'s exec() works every time, its input and output whole', { skip: process.getuid?.() !== 0 ? 'needs root to mount (CI runs as root)' : false }, async () => {
  const w = makeWorld();
  const b = loggedBwrap(w);
  const script = `
    const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
    const sb = await createSandbox({ cwd: ${JSON.stringify(w.proj)}, env: ${JSON.stringify(w.env)} });
    let runs = 0;
    const fs = await import('node:fs');
    const count = () => fs.readFileSync(${JSON.stringify(join(w.root, 'bwrap-starts'))}, 'utf8').length;
    for (; runs < 200 && count() - runs < 3; runs++) {
      const r = await sb.exec('/bin/cat', [], { input: 'run ' + runs + '\\n' });
      if (r.exitCode !== 0 || r.stdout !== 'run ' + runs + '\\n') { console.log(JSON.stringify({ bad: runs, r })); process.exit(1); }
    }
    await sb.close();
    console.log(JSON.stringify({ runs, starts: count() }));
  `;
  await underChurn(w, (within) => {
    const res = spawnSync(within[0]!, [...within.slice(1), process.execPath, '--input-type=module', '-e', script], { cwd: w.proj, env: { ...w.env, CORDON_BWRAP: b.path }, encoding: 'utf8', timeout: 120_000 });
    assert.equal(res.status, 0, `${res.stdout}\n${res.stderr}`);
    const { runs, starts } = JSON.parse(res.stdout.trim()) as { runs: number; starts: number };
    assert.ok(starts > runs, `no start lost the race in ${runs} runs: the churn did not reach bubblewrap, and this test proved nothing`);
  });
});

/**
 * cordon -- sh -c 'echo RAN; sleep N; echo END', with SIGTERM sent to cordon
 * `after` ms after it names the bubblewrap it lets go (--debug): its exit
 * status and what the command printed.
 */
async function termAfterLaunch(w: World, options: readonly string[], after: number): Promise<{ code: number | null; out: string }> {
  const c = spawn(process.execPath, [CLI, ...options, '--debug', '--', '/bin/sh', '-c', 'echo RAN; sleep 2; echo END'], { cwd: w.proj, env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stdout.on('data', (d: Buffer) => { out += d; });
  c.stderr.on('data', (d: Buffer) => {
    const had = err.includes('cordon[debug] bwrap');
    err += d;
    if (!had && err.includes('cordon[debug] bwrap')) setTimeout(() => c.kill('SIGTERM'), after);
  });
  const code = await new Promise<number | null>((resolve) => c.on('close', (x) => resolve(x)));
  return { code, out };
}

test('SIGTERM to cordon while the walls go up (after the sandbox is let go, before the command starts): the command never runs to its end, and cordon ends by the signal', async () => {
  const w = makeWorld();
  // 3000 hidden files: the helper's set-up (a mount each) takes a few hundred milliseconds, a window to aim at.
  const secrets = join(w.outside, 'secrets');
  mkdirSync(secrets);
  const files = Array.from({ length: 3000 }, (_, i) => join(secrets, `f${i}`));
  for (const f of files) writeFileSync(f, 's');
  const settings = join(w.outside, 'many.json');
  writeFileSync(settings, JSON.stringify({ filesystem: { denyRead: files } }));
  // At several moments after cordon names the bubblewrap it starts: before the release, during the set-up, after it.
  for (const after of [0, 40, 80, 160, 320]) {
    const { code, out } = await termAfterLaunch(w, ['--settings', settings], after);
    assert.equal(code, 143, `${after} ms: ${out}`);
    assert.doesNotMatch(out, /END/, `${after} ms: the command ran to its end`);
  }
  assert.deepEqual(leftovers(w.proj), []);
});

test('SIGTERM to cordon in the moment its sandbox (started ahead) is let go: never lost, the command does not run to its end', async () => {
  const w = makeWorld();
  // A first run leaves the launch record the next ones start their sandbox ahead from.
  assert.equal(cordon(w, ['--', 'true']).status, 0);
  // 0-7 ms after cordon names the bubblewrap it lets go: PID 1 is then still bubblewrap's, or a helper that has not
  // yet taken its signals in hand, or one setting the walls up.
  for (let i = 0; i < 16; i++) {
    const { code, out } = await termAfterLaunch(w, [], i % 8);
    assert.equal(code, 143, `${i % 8} ms: ${out}`);
    assert.doesNotMatch(out, /END/, `${i % 8} ms: the command ran to its end`);
  }
  assert.deepEqual(leftovers(w.proj), []);
});
