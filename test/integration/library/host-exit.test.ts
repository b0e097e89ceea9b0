/**
 * A program that embeds cordon ends while a command runs (host-exit.ts):
 * it calls process.exit(), dies of a SIGTERM or SIGINT it does not handle,
 * or handles the signal itself and then exits. Each way, the command in the
 * sandbox has planted a repository whose config runs a payload on the
 * host's next `git status`; once the host is gone, git on the host must run
 * nothing, the sandbox must be gone, and no journal may be left. A host
 * that dies of a signal it did not handle still ends by that signal. A host
 * killed with SIGKILL runs nothing more: the process that waited to scan
 * after the run finishes it (scan.ts watch()).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorld, PLANT, ROOT, testUser, type World } from '../../helpers/cordon.js';


/** The embedding program: runs PLANT, then ends as `how` says once the command has planted. */
function hostProgram(w: World, how: 'exit' | 'unhandled' | 'own-handler'): string {
  return `
    const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
    const { existsSync } = await import('node:fs');
    const sb = await createSandbox({ cwd: ${JSON.stringify(w.proj)} });
    const child = sb.spawn('/bin/sh', ['-c', ${JSON.stringify(PLANT)}], { stdio: 'ignore' });
    ${how === 'own-handler' ? "process.on('SIGTERM', () => { process.stdout.write('own handler\\n'); process.exit(3); });" : ''}
    const wait = setInterval(() => {
      if (!existsSync(${JSON.stringify(join(w.proj, 'PLANTED'))})) return;
      clearInterval(wait);
      ${how === 'exit' ? 'process.exit(0);' : "process.stdout.write('planted\\n');"}
    }, 20);`;
}

function startHost(w: World, how: 'exit' | 'unhandled' | 'own-handler', asUser?: string): ChildProcess {
  const env = { ...w.env, MARK: join(w.outside, 'MARK') };
  const inner = [process.execPath, '--input-type=module', '-e', hostProgram(w, how)];
  const [cmd, ...args] = asUser ? ['runuser', '-u', asUser, '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...inner] : inner;
  return spawn(cmd!, args, { cwd: w.proj, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The host program's own pid (runuser runs it as its child). */
function hostPid(c: ChildProcess, asUser?: string): number {
  if (!asUser) return c.pid!;
  const r = spawnSync('pgrep', ['-P', String(c.pid), '-x', 'node'], { encoding: 'utf8' });
  return Number(r.stdout.trim().split('\n')[0]);
}

function ended(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  c.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  c.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

async function planted(w: World, c: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(w.proj, 'PLANTED'))) {
    if (Date.now() > deadline || c.exitCode !== null) throw new Error('the command never planted');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** git on the host runs nothing; the sandbox's command is gone; no journal is left in the state directory. */
function assertFinished(w: World): void {
  spawnSync('git', ['status', '--short'], { cwd: join(w.proj, 'fresh'), env: { ...process.env, MARK: join(w.outside, 'MARK') } });
  assert.ok(!existsSync(join(w.outside, 'MARK')), 'git on the host ran the planted fsmonitor');
  assert.doesNotMatch(readFileSync(join(w.proj, 'fresh', '.git', 'config'), 'utf8'), /fsmonitor/);
  // The sandbox's command carries MARK in its environment: no process on the host may still have it.
  const mark = `MARK=${join(w.outside, 'MARK')}\0`;
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let environ = '';
    try { environ = readFileSync(`/proc/${p}/environ`, 'latin1'); } catch { continue; }
    if (!environ.includes(mark)) continue;
    let cmd = '';
    try { cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1').replace(/\0/g, ' '); } catch { continue; }
    assert.fail(`the sandbox's command (host pid ${p}: ${cmd}) outlived its host`);
  }
  const state = join(w.home, '.local', 'state', 'cordon');
  const journals = existsSync(state) ? readdirSync(state).filter((n) => n.startsWith('journal-')) : [];
  assert.deepEqual(journals, [], 'a journal was left for a later run');
}

const u = testUser();
const who = [{ name: 'root', asUser: undefined as string | undefined }, ...(u ? [{ name: 'an unprivileged user', asUser: u.name }] : [])];

for (const { name, asUser } of who) {
  const world = () => (asUser ? makeWorld({ owner: u! }) : makeWorld());

  test(`the host calls process.exit() while a command runs: the step after the run is done before it is gone (${name})`, async () => {
    const w = world();
    const c = startHost(w, 'exit', asUser);
    const done = ended(c);
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /created a git repository in .*fresh/, r.stderr);
    assertFinished(w);
  });

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    test(`the host dies of a ${sig} it does not handle: the step is done, and the host still ends by ${sig} (${name})`, async () => {
      const w = world();
      const c = startHost(w, 'unhandled', asUser);
      const done = ended(c);
      await planted(w, c);
      process.kill(hostPid(c, asUser), sig);
      const r = await done;
      if (asUser) assert.equal(r.code, 128 + (sig === 'SIGTERM' ? 15 : 2), r.stderr);
      else assert.equal(r.signal, sig, r.stderr);
      assertFinished(w);
    });
  }

  test(`the host is killed with SIGKILL while a command runs: with no other run, the step after the run is done once the sandbox is gone, by the process that waited to scan after it (${name})`, async () => {
    const w = world();
    const c = startHost(w, 'unhandled', asUser);
    const done = ended(c);
    await planted(w, c);
    process.kill(hostPid(c, asUser), 'SIGKILL');
    await done;
    const state = join(w.home, '.local', 'state', 'cordon');
    const deadline = Date.now() + 20_000;
    const finished = () => existsSync(join(w.proj, 'fresh', '.git', 'config.cordon-untrusted')) && !readdirSync(state).some((n) => n.startsWith('journal-'));
    while (!finished() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(finished(), 'the planted repository was not moved aside, or its journal is left, 20 s after the host was killed');
    assertFinished(w);
  });

  test(`the host handles SIGTERM itself and exits: its handler runs, and the step is done on the way out (${name})`, async () => {
    const w = world();
    const c = startHost(w, 'own-handler', asUser);
    const done = ended(c);
    await planted(w, c);
    process.kill(hostPid(c, asUser), 'SIGTERM');
    const r = await done;
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /own handler/);
    assertFinished(w);
  });
}

test('a handle\'s commands leave no listener behind on the host process, however many run (no MaxListenersExceededWarning)', () => {
  const w = makeWorld();
  const program = `
    const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
    const before = ['exit', 'SIGINT', 'SIGTERM', 'SIGHUP'].map((e) => process.listenerCount(e));
    const sb = await createSandbox({ cwd: ${JSON.stringify(w.proj)} });
    for (let i = 0; i < 12; i++) await sb.exec('true');
    await Promise.all(Array.from({ length: 4 }, () => sb.exec('true')));
    await sb.close();
    const after = ['exit', 'SIGINT', 'SIGTERM', 'SIGHUP'].map((e) => process.listenerCount(e));
    process.stdout.write(JSON.stringify({ before, after }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { cwd: w.proj, env: w.env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout) as { before: number[]; after: number[] };
  assert.deepEqual(after, before);
  assert.doesNotMatch(r.stderr, /MaxListenersExceeded/);
});
