/**
 * `cordon-helper with-scan` (the CLI's one process start for the sandbox
 * process and the scan before the run): the scan's records are those of a
 * plain `scan`, its status comes as one byte, the program it then runs is
 * the process cordon started (same pid) and holds none of the scan's pipes,
 * a scan that fails says so, and a program that cannot run is an error.
 * Through the CLI: a run with a launch record starts no scan process of its
 * own (sandbox-process.ts, scan.ts scanFromPipes, cli/early.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { buildHelper } from '../../helpers/native.js';
import { tempDir } from '../../helpers/tmp.js';
import { CLI, makeWorld } from '../../helpers/cordon.js';
import { deferFromPipes, scanCommand, scanFromPipes } from '../../../src/platform/linux/scan.js';

const helper = buildHelper();

function tree(): string {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-with-scan-')));
  for (const r of ['a', 'b/c']) mkdirSync(join(d, r, '.git'), { recursive: true });
  writeFileSync(join(d, 'a', '.envrc'), 'x');
  return d;
}

function start(args: readonly string[], prog: readonly string[]) {
  const c = spawn(helper, ['with-scan', '11', '12', '13', String(args.length), ...args, '--then', '14', '15', '16', '17', ...prog], { stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] });
  const at = (fd: number) => (c.stdio as unknown as Readable[])[fd]!;
  const pipes = { out: at(11), err: at(12), status: at(13) };
  const after = { args: (c.stdio as unknown as Writable[])[14]!, out: at(15), err: at(16), status: at(17) };
  let stdout = '';
  c.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  let stderr = '';
  c.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const closed = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => c.on('close', (code) => resolve({ code, stdout, stderr })));
  return { c, pipes, after, closed };
}

test('with-scan: the records of a plain scan, status 0, and the program runs as the process started, with none of the scan\'s descriptors', async () => {
  const d = tree();
  const { roots, args } = scanCommand([d], [], undefined, ['.envrc']);
  const plain = spawnSync(helper, ['scan', ...args], { encoding: 'buffer' });
  assert.equal(plain.status, 0);
  // The program reports its pid and its open descriptors.
  const { c, pipes, after, closed } = start(args, ['/bin/sh', '-c', 'echo $$; ls /proc/$$/fd | sort -n | tr "\\n" " "']);
  const scanned = await scanFromPipes(roots, [], ['.envrc'], pipes).result;
  // The program ends while the scan after it still waits for its arguments (it holds none of the program's pipes).
  if (c.exitCode === null) await new Promise((resolve) => c.once('exit', resolve));
  // The scan after the run sees the tree as it is when it is told to go: a repository made since is found.
  mkdirSync(join(d, 'later', '.git'), { recursive: true });
  const later = await deferFromPipes(after, [d], [], undefined, ['.envrc']).go();
  assert.deepEqual(later.repos.sort(), [join(d, 'a'), join(d, 'b', 'c'), join(d, 'later')]);
  const r = await closed;
  assert.equal(r.code, 0, r.stderr);
  const [pid, fds] = r.stdout.trim().split('\n');
  assert.equal(Number(pid), c.pid, 'the program is the process cordon started');
  const open = fds!.trim().split(' ').map(Number);
  for (const fd of [11, 12, 13, 14, 15, 16, 17]) assert.ok(!open.includes(fd), `the program holds fd ${fd} of a scan`);
  assert.deepEqual(scanned.repos.sort(), [join(d, 'a'), join(d, 'b', 'c')]);
  assert.deepEqual(scanned.matches, [join(d, 'a', '.envrc')]);
  assert.deepEqual(scanned.named, ['.envrc']);
  assert.ok(plain.stdout.length > 0);
  assert.equal(scanned.repos.length, plain.stdout.toString().split('\0').filter((x) => x.startsWith('G\t')).length);
});

test('with-scan: a scan that fails is an error with its message; a program that cannot run exits 127 and says why', async () => {
  const d = tree();
  const bad = start(['--max-dirs', 'x', '--', d], ['/bin/true']);
  bad.after.args.end();
  await assert.rejects(scanFromPipes([d], [], [], bad.pipes).result, /scanning .* failed/);
  assert.equal((await bad.closed).code, 0, 'the program still ran');
  const { args } = scanCommand([d], [], undefined);
  // The scan after the run, let go with no arguments: it ends without looking, and without a status.
  const idle = start(args, ['/bin/true']);
  const cancelled = deferFromPipes(idle.after, [d], [], undefined);
  cancelled.cancel();
  const status = await new Promise<number>((resolve) => { let n = 0; idle.after.status.on('data', (b: Buffer) => { n += b.length; }); idle.after.status.on('close', () => resolve(n)); });
  assert.equal(status, 0);
  await idle.closed;
  const missing = start(args, [join(d, 'no-such-program')]);
  missing.after.args.end();
  const r = await missing.closed;
  assert.equal(r.code, 127);
  assert.match(r.stderr, /cannot run .*no-such-program/);
});

test('with-scan --then: the scan after the run begins once its arguments have come (their length first), before their pipe ends; arguments with no length, or fewer bytes than it says, are refused', async () => {
  const d = tree();
  const { roots, args } = scanCommand([d], [], undefined);
  const counted = (body: Buffer, length = body.length) => Buffer.concat([Buffer.from(`${length}\0`), body]);
  const body = Buffer.from(args.map((a) => `${a}\0`).join(''));
  const go = async (bytes: Buffer, end: boolean) => {
    const s = start(args, ['/bin/true']);
    s.after.args.on('error', () => {}); // the scan may end before its pipe does
    void scanFromPipes(roots, [], [], s.pipes).result.catch(() => {});
    if (end) s.after.args.end(bytes);
    else s.after.args.write(bytes);
    const result = scanFromPipes(roots, [], [], s.after).result;
    const outcome = await Promise.race([result.then((r) => r, (e: Error) => e), new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 10_000))]);
    s.after.args.end();
    await s.closed;
    return outcome;
  };
  // Written, the pipe left open: the records come all the same.
  const open = await go(counted(body), false);
  assert.ok(!(open instanceof Error) && open !== 'waiting', `the scan did not begin before its pipe ended: ${String(open)}`);
  assert.deepEqual(open.repos.sort(), [join(d, 'a'), join(d, 'b', 'c')]);
  const noLength = await go(body, true);
  assert.ok(noLength instanceof Error && /no length before them/.test(noLength.message), String(noLength));
  const short = await go(counted(body, body.length + 10), true);
  assert.ok(short instanceof Error && new RegExp(`${body.length} of ${body.length + 10} bytes came`).test(short.message), String(short));
});

test('through the CLI: a run whose sandbox process starts ahead starts no scan process of its own', () => {
  const w = makeWorld();
  const run = () => spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', join(w.outside, 'trace'), process.execPath, CLI, '--', 'true'], { cwd: w.proj, env: w.env, encoding: 'utf8' });
  // The first run leaves the launch record the second starts from.
  assert.equal(run().status, 0);
  const r = run();
  assert.equal(r.status, 0, r.stderr);
  const execs = readFileSync(join(w.outside, 'trace'), 'utf8').split('\n').filter((l) => l.includes('execve(') && !l.includes('ENOENT'));
  assert.equal(execs.filter((l) => l.includes('"with-scan"')).length, 1, execs.join('\n'));
  assert.equal(execs.filter((l) => /"scan", "--(ids|wait-stdin)"/.test(l)).length, 0, 'a scan process of its own was started');
});
