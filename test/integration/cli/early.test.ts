/**
 * The start-up work (early.ts): which roots the scans predict, and that the
 * prediction learns from the previous run in the same directory; the
 * sandbox process started ahead from the last run's launch, used only when
 * it is exactly the plan's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { spawn } from 'node:child_process';
import { CLI, cordon, makeWorld, sh } from '../../helpers/cordon.js';

// cordon's state directory for this test process only (runtimeDir reads it once).
const state = realpathSync(tempDir(join(tmpdir(), 'cordon-early-')));
process.env.XDG_STATE_HOME = state;
// A small working directory: the early scan walks it.
process.chdir(realpathSync(tempDir(join(tmpdir(), 'cordon-early-cwd-'))));
const { predictionKey, rememberRoots, startEarly } = await import('../../../src/cli/early.js');
const startEarlyScans = (argv: readonly string[]) => startEarly(argv).scans;

test('no scan for subcommands that run nothing; the working directory otherwise', async () => {
  for (const argv of [['explain'], ['doctor'], ['--help'], ['--version']]) assert.deepEqual(startEarlyScans(argv), []);
  const scans = startEarlyScans(['--', 'true']);
  assert.deepEqual(scans.map((s) => s.roots), [[realpathSync(process.cwd())]]);
  await Promise.all(scans.map((s) => s.result));
});

test('the roots the last run with the same options from this directory scanned are scanned early next time; a change is remembered', async () => {
  const cwd = realpathSync(process.cwd());
  const extra = realpathSync(tempDir(join(tmpdir(), 'cordon-early-root-')));
  mkdirSync(join(extra, 'repo', '.git'), { recursive: true });
  rememberRoots(join(state, 'cordon'), predictionKey(cwd, ['-c', 'anything']), cwd, [cwd, extra]);
  const scans = startEarlyScans(['-c', 'true']);
  assert.deepEqual(scans.map((s) => s.roots), [[cwd, extra].sort()], 'one scan of both; the command is not part of the key');
  // Other options are another key: nothing remembered for them yet.
  assert.deepEqual(startEarlyScans(['--settings', 'x.json', '--', 'true']).map((s) => s.roots), [[cwd]]);
  const found = await scans[0]!.result;
  assert.ok(found.repos.includes(join(extra, 'repo')), found.repos.join(', '));
  // A run with no other root forgets it.
  rememberRoots(join(state, 'cordon'), predictionKey(cwd, ['--', 'ls']), cwd, [cwd]);
  assert.deepEqual(startEarlyScans(['-c', 'true']).map((s) => s.roots), [[cwd]]);
  assert.ok(readdirSync(join(state, 'cordon', 'cache')).some((n) => /^roots-[0-9a-f]{16}\.json$/.test(n)));
});


/** The launch record the next run with `args` from the world's project starts ahead. */
function launchRecord(w: { home: string; proj: string }, args: readonly string[]): string {
  return join(w.home, '.local', 'state', 'cordon', 'cache', `launch-${predictionKey(w.proj, args)}.json`);
}

function forge(file: string, extra: readonly string[]): void {
  const record = JSON.parse(readFileSync(file, 'utf8')) as { bwrapArgs: string[] };
  record.bwrapArgs.splice(record.bwrapArgs.indexOf('--chdir'), 0, ...extra);
  writeFileSync(file, JSON.stringify(record));
}

test('the next run with the same options runs in the sandbox started ahead: its output, exit status and walls are those of a sandbox started after the plan', () => {
  const w = makeWorld();
  const script = 'echo out; echo err >&2; touch made; touch "$HOME/.bashrc" 2>/dev/null && echo WROTE-BASHRC; exit 3';
  const first = sh(w, script, ['--debug']);
  assert.ok(existsSync(launchRecord(w, ['--debug', '--', '/bin/sh', '-c', script])), 'the first run remembers what it launched');
  assert.doesNotMatch(first.stderr, /started ahead/);
  const second = sh(w, script, ['--debug']);
  assert.match(second.stderr, /using the sandbox started ahead/);
  for (const r of [first, second]) {
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.match(r.stderr, /^err$/m);
  }
  assert.ok(existsSync(join(w.proj, 'made')));
  assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
});

test("a sandbox started ahead that is not exactly the plan's is killed before anything runs in it: a launch record that asks for more grants nothing", () => {
  const w = makeWorld();
  const args = ['--debug', '--', 'cat', join(w.home, '.ssh', 'id_rsa')];
  const control = cordon(w, args);
  assert.notEqual(control.status, 0, 'control: ~/.ssh is hidden');
  assert.doesNotMatch(control.stdout, /SSH-PRIVATE-KEY/);
  // Forged (the state directory is never writable from inside; this is
  // defence in depth): the record no longer hides ~/.ssh.
  const file = launchRecord(w, args);
  const record = JSON.parse(readFileSync(file, 'utf8')) as { bwrapArgs: string[] };
  const ssh = join(w.home, '.ssh');
  record.bwrapArgs = record.bwrapArgs.filter((a, i, all) => !(a === ssh && (all[i - 1] === '--tmpfs' || all[i - 1] === '--remount-ro')) && !((a === '--tmpfs' || a === '--remount-ro') && all[i + 1] === ssh));
  assert.ok(!record.bwrapArgs.includes(ssh), 'the forged record still hides ~/.ssh');
  writeFileSync(file, JSON.stringify(record));
  const r = cordon(w, args);
  assert.match(r.stderr, /started ahead is not this plan's: killed unused/);
  assert.notEqual(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /SSH-PRIVATE-KEY/, 'the command ran in the forged sandbox');
});

test('a sandbox started ahead that fails and is not used says nothing; the next run starts the right one', () => {
  const w = makeWorld();
  const args = ['--', 'true'];
  assert.equal(cordon(w, args).status, 0);
  const file = launchRecord(w, args);
  forge(file, ['--ro-bind', join(w.root, 'missing'), join(w.root, 'missing')]);
  const r = cordon(w, args);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', "bubblewrap's message from the unused sandbox");
  assert.ok(!readFileSync(file, 'utf8').includes(join(w.root, 'missing')), 'the record is the plan\'s again');
});

test("bubblewrap's own messages reach the user from a sandbox started after the plan and from one started ahead", () => {
  const w = makeWorld();
  // A bubblewrap that refuses (CORDON_BWRAP names the program cordon runs).
  const fake = join(w.root, 'bwrap');
  writeFileSync(fake, '#!/bin/sh\necho "fake-bwrap: cannot build this sandbox" >&2\nexit 1\n');
  chmodSync(fake, 0o755);
  const env = { CORDON_BWRAP: fake };
  for (const round of ['after the plan', 'ahead']) {
    const r = cordon(w, ['--debug', '--', 'true'], { env });
    assert.equal(r.status, 125, `${round}: ${r.stderr}`);
    assert.equal(r.stderr.match(/fake-bwrap: cannot build this sandbox/g)?.length, 1, `${round}: ${r.stderr}`);
    assert.match(r.stderr, /could not be set up/);
    if (round === 'ahead') assert.match(r.stderr, /using the sandbox started ahead/);
  }
});

test('a launch record made with another bubblewrap (CORDON_BWRAP then) is not started ahead: nothing runs before the guard that it has not checked', () => {
  const w = makeWorld();
  // A bubblewrap that says each time it runs (as a program a sandbox could have rewritten would).
  const log = join(w.root, 'other-bwrap.log');
  const other = join(w.root, 'other-bwrap');
  writeFileSync(other, `#!/bin/sh\necho ran >> '${log}'\nexec '${process.env.CORDON_BWRAP ?? '/usr/bin/bwrap'}' "$@"\n`);
  chmodSync(other, 0o755);
  const runs = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0);
  const args = ['--debug', '--', 'true'];
  assert.equal(cordon(w, args, { env: { CORDON_BWRAP: other } }).status, 0);
  assert.equal(runs(), 1);
  assert.ok(readFileSync(launchRecord(w, args), 'utf8').includes(other), 'the record names the other bubblewrap');
  const r = cordon(w, args);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(runs(), 1, 'the recorded bubblewrap ran, though this run does not use it and no guard checked it');
  assert.doesNotMatch(r.stderr, /started ahead/);
});

/** Sandbox processes (bubblewrap and what it started) of runs in the world `home` belongs to. */
function sandboxesOf(home: string): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('cordon-helper\0run') && readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`HOME=${home}`);
    } catch {
      return false;
    }
  });
}

test('Ctrl-C or SIGTERM while cordon starts (a sandbox started ahead is being built) ends cordon by that signal and leaves no sandbox process behind', async () => {
  const w = makeWorld();
  const args = ['--', '/bin/sh', '-c', 'echo ran >> ran.log'];
  assert.equal(cordon(w, args).status, 0);
  assert.ok(existsSync(launchRecord(w, args)), 'the next run starts a sandbox ahead');
  // Through start-up and compile: bubblewrap gets its options on the first
  // tick after startEarly, or at cordon's death (EOF), and a bubblewrap that
  // dies with cordon before it has said the sandbox's pid leaves it blocked.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    for (let delay = 0; delay <= 240; delay += 8) {
      const c = spawn(process.execPath, [CLI, ...args], { cwd: w.proj, env: w.env, stdio: 'ignore' });
      const timer = setTimeout(() => c.kill(sig), delay);
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => c.on('close', (x, s) => r([x, s])));
      clearTimeout(timer);
      assert.ok(signal === sig || code === 0 || code === 128 + osConstants.signals[sig], `${sig} after ${delay} ms: ${code ?? signal}`);
      await new Promise((r) => setTimeout(r, 100));
      const left = sandboxesOf(w.home);
      for (const pid of left) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      assert.deepEqual(left, [], `${sig} after ${delay} ms left a sandbox process`);
    }
  }
});
