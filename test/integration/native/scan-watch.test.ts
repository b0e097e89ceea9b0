/**
 * The scan after the run, waiting for cordon's word, also watches the run
 * for cordon's death (native/cordon-helper.c await_word; scan.ts watch()):
 * told the sandbox's PID 1 and a command, it runs that command only if its
 * pipe from cordon ends with neither a scan nor an empty message, and only
 * once that PID 1 is gone; in `/`, in a session of its own, with exactly
 * the environment given, speaking on --say. Both ways it waits: a process
 * of its own (`scan --wait-stdin`, deferScan) and one forked by the sandbox
 * process's start (`with-scan --then`, deferFromPipes). The real PID 1 is
 * stood in for by a `sleep` here; cordon's own use, with a real sandbox and
 * a killed cordon, is test/integration/after-run/after-run-signals.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { buildHelper } from '../../helpers/native.js';
import { tempDir } from '../../helpers/tmp.js';
import { deferFromPipes, NOTHING_WORD, scanCommand, watchWord, type AfterDeath } from '../../../src/platform/linux/scan.js';

const helper = buildHelper();

/** A tree to scan, a file for what the command after death says, and that command: it writes its cwd, session, pid and environment. */
function setting() {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-scan-watch-')));
  mkdirSync(join(d, 'tree', 'a', '.git'), { recursive: true });
  const said = join(d, 'said');
  const ran = join(d, 'ran');
  const then: AfterDeath = {
    argv: ['/bin/sh', '-c', `{ pwd; echo "pid $$ sid $(cut -d' ' -f6 /proc/$$/stat)"; env; } > ${ran}; echo "after death: $WHO" >&2`],
    env: { WHO: 'the recovery', PATH: '/usr/bin:/bin' },
  };
  return { d, tree: join(d, 'tree'), said, ran, then };
}

/**
 * One of the two ways the scan after the run waits, saying on `sayFd`:
 * cordon's end of its word pipe (written here as scan.ts writes it:
 * watchWord, and its empty message), and how to tell it to scan, resolving
 * with the records' text.
 */
function waiting(way: 'wait-stdin' | 'then', tree: string, sayFd: number): { words: Writable; go: () => Promise<string>; gone: Promise<void> } {
  const { args } = scanCommand([tree], [], undefined);
  if (way === 'wait-stdin') {
    const c = spawn(helper, ['scan', '--wait-stdin', '--say', '3', ...args], { stdio: ['pipe', 'pipe', 'pipe', sayFd], detached: true });
    const [words, stdout] = [c.stdin!, c.stdout!];
    let out = '';
    stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr!.resume();
    words.on('error', () => {});
    const gone = new Promise<void>((resolve) => c.on('close', () => resolve()));
    return { words, go: async () => { words.end('2\0G\0'); await gone; return out; }, gone };
  }
  const stdio = ['ignore', 'ignore', 'pipe', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', sayFd, 'ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] as const;
  const c = spawn(helper, ['with-scan', '11', '12', '13', String(args.length), ...args, '--then', '14', '15', '16', '17', '--say', '9', '/bin/true'], { stdio: [...stdio], detached: true });
  const at = (fd: number) => (c.stdio as unknown as Readable[])[fd]!;
  for (const fd of [2, 11, 12, 13]) at(fd).resume();
  const after = { args: (c.stdio as unknown as Writable[])[14]!, out: at(15), err: at(16), status: at(17) };
  after.args.on('error', () => {});
  const gone = new Promise<void>((resolve) => c.on('close', () => resolve()));
  return { words: after.args, go: async () => (await deferFromPipes(after, [tree], [], undefined).go()).repos.map((r) => `G\t${r}`).join('\0'), gone };
}

const until = async (ok: () => boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
};

/** A stand-in for the sandbox's PID 1. */
function pid1(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

for (const way of ['wait-stdin', 'then'] as const) {
  test(`${way}: watched, and its pipe ends with nothing more (cordon died): the command runs once the watched process is gone, not before; in /, a session of its own, the given environment only, speaking on --say`, async () => {
    const s = setting();
    const say = openSync(s.said, 'w');
    const sleeper = pid1();
    const w = waiting(way, s.tree, say);
    closeSync(say);
    w.words.write(watchWord(sleeper.pid!, s.then));
    // cordon dies: its end of the pipe closes with no word after the watch.
    w.words.end();
    assert.equal(await until(() => existsSync(s.ran), 500), false, 'the command ran while the watched process was still there');
    sleeper.kill('SIGKILL');
    assert.ok(await until(() => existsSync(s.ran) && readFileSync(s.said, 'utf8').includes('after death'), 10_000), 'the command never ran');
    const [cwd, ids, ...env] = readFileSync(s.ran, 'utf8').trim().split('\n');
    assert.equal(cwd, '/');
    const m = /^pid (\d+) sid (\d+)$/.exec(ids!);
    assert.ok(m && m[1] === m[2], `a session of its own: ${ids}`);
    assert.deepEqual(env.filter((l) => !/^(PWD|SHLVL|_)=/.test(l)).sort(), ['PATH=/usr/bin:/bin', 'WHO=the recovery']);
    assert.equal(readFileSync(s.said, 'utf8'), 'after death: the recovery\n');
  });

  test(`${way}: watched, then a watched process already gone: the command runs at once`, async () => {
    const s = setting();
    const say = openSync(s.said, 'w');
    const sleeper = pid1();
    const w = waiting(way, s.tree, say);
    closeSync(say);
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.on('exit', r));
    w.words.write(watchWord(sleeper.pid!, s.then));
    w.words.end();
    assert.ok(await until(() => existsSync(s.ran), 10_000), 'the command never ran');
  });

  test(`${way}: watched, then told there is nothing to do, or told to scan: the command never runs; unwatched, an EOF runs nothing either`, async () => {
    for (const end of ['cancel', 'go', 'unwatched'] as const) {
      const s = setting();
      const say = openSync(s.said, 'w');
      const sleeper = pid1();
      const w = waiting(way, s.tree, say);
      closeSync(say);
      if (end !== 'unwatched') w.words.write(watchWord(sleeper.pid!, s.then));
      if (end === 'cancel') w.words.end(NOTHING_WORD);
      else if (end === 'go') assert.match(await w.go(), new RegExp(`G\\t${join(s.tree, 'a')}`), 'the scan still works after a watch');
      else w.words.end();
      sleeper.kill('SIGKILL');
      await w.gone;
      assert.equal(await until(() => existsSync(s.ran), 500), false, `${end}: the command ran`);
      assert.equal(readFileSync(s.said, 'utf8'), '', `${end}: something was said`);
    }
  });
}

test('a malformed watch message is refused: the waiting scan exits 125 and names it', async () => {
  const s = setting();
  const c = spawn(helper, ['scan', '--wait-stdin', '--', s.tree], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const body = 'W\0not-a-pid\x001\0relative\0';
  c.stdin.end(`${body.length}\0${body}`);
  const code = await new Promise((r) => c.on('exit', r));
  assert.equal(code, 125);
  assert.match(err, /the watch message: malformed/);
});
