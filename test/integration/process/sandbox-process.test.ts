/**
 * The sandbox's process (sandbox-process.ts) before it is released: nothing
 * may run in a sandbox that cordon did not let go, whatever ends first.
 * bubblewrap parks its sandbox on the block fd and binds the sandbox's life
 * to its own only just before it runs the helper, so a bubblewrap that dies
 * first (killed, or with cordon) leaves the parked sandbox to go on alone
 * once the block fd gives EOF. Each case runs in a program of its own (as
 * root, and as an unprivileged user), with the real bubblewrap, helper and
 * seccomp program; a control run with the same setup shows that the command
 * does run, and write its marker, once it is released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, testUser } from '../../helpers/cordon.js';
import { findBwrap } from '../../../src/platform/linux/probe.js';

const MODULE = fileURLToPath(new URL('../../../src/platform/linux/sandbox-process.js', import.meta.url));
const SECCOMP = fileURLToPath(new URL('../../../src/platform/linux/seccomp.js', import.meta.url));
const HELPER = join(ROOT, 'native', 'build', 'cordon-helper');

/**
 * The program under test: starts a sandbox whose command writes `marker`
 * after `sleep 0.3` (so that it would outlive a dying parent), then does
 * what `mode` says. `bwrap` may be a wrapper that delays bubblewrap's info
 * message (the sandbox's PID 1), which cordon normally reads within a few ms:
 * it makes the window in which that PID is not yet known deterministic.
 */
const PROGRAM = `
import { startSandboxProcess } from ${JSON.stringify(MODULE)};
import { compileSeccompFilter, hostSeccompArch } from ${JSON.stringify(SECCOMP)};
const [mode, bwrap, helper, dir] = process.argv.slice(2);
const args = ['--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--as-pid-1', '--cap-drop', 'ALL',
  '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--bind', dir, dir, '--chdir', dir, '--info-fd', '4', '--block-fd', '7'];
const sp = startSandboxProcess(bwrap, helper, args, process.env, ['ignore', 'ignore', 'ignore']);
sp.configure(['--ready-fd', '6', '--stderr-fd', '9', '--seccomp-fd', '5', '--', '/bin/sh', '-c', 'sleep 0.3; echo RAN > marker'], compileSeccompFilter(hostSeccompArch()));
const delay = (ms) => new Promise((r) => setTimeout(r, ms));
if (mode === 'release') {
  await sp.started;
  sp.release();
  await sp.closed;
} else if (mode === 'die-before-release') {
  // Configured, parked on the block fd, its PID 1 known: cordon is SIGKILLed here.
  await sp.started;
  await delay(100);
  process.kill(process.pid, 'SIGKILL');
} else if (mode === 'signal-before-pid') {
  // bubblewrap has built the sandbox (parked), its PID 1 is not known yet (delayed info): Ctrl-C, then the launch goes on.
  await delay(400);
  if (sp.pid() !== 0) throw new Error('the PID 1 is known already: the wrapper did not delay the info');
  sp.signal('SIGINT');
  sp.release();
  await sp.closed;
}
`;

/** A bubblewrap that passes its info message (fd 4) on a second late. */
function slowInfoBwrap(dir: string): string {
  const p = join(dir, 'slow-info-bwrap');
  // The process substitution gets the original fd 4; bubblewrap gets the pipe to it. exec keeps the pid cordon knows.
  writeFileSync(p, `#!/bin/bash\nexec ${findBwrap(process.env)} "$@" 4> >(exec 3<&- 5<&- 6>&- 7<&- 8<&- 9>&-; sleep 1; exec cat >&4)\n`);
  chmodSync(p, 0o755);
  return p;
}

function world(owner?: { uid: number; gid: number }): { dir: string; program: string } {
  const dir = realpathSync(mkdtempSync('/var/tmp/cordon-sbxproc-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const program = join(dir, 'program.mjs');
  writeFileSync(program, PROGRAM);
  if (owner) spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, dir]);
  return { dir, program };
}

/** Runs the program in `mode`, then waits long enough for a command that got away to write its marker. */
async function run(mode: string, bwrap: string, w: { dir: string; program: string }, asUser?: string): Promise<{ ran: boolean; left: boolean }> {
  const argv = [process.execPath, w.program, mode, bwrap, HELPER, w.dir];
  const r = asUser ? spawnSync('runuser', ['-u', asUser, '--', ...argv], { encoding: 'utf8', timeout: 30_000 }) : spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  assert.ok(r.status === 0 || r.status === 137 || r.signal === 'SIGKILL', `${mode}: ${r.status} ${r.signal} ${r.stderr}`);
  await new Promise((res) => setTimeout(res, 1500));
  const left = spawnSync('pgrep', ['-f', `echo RAN > marker`]).status === 0;
  return { ran: existsSync(join(w.dir, 'marker')), left };
}

const u = testUser();
for (const who of [{ name: 'root' }, ...(u ? [{ name: 'an unprivileged user', user: u }] : [])]) {
  const asUser = 'user' in who ? who.user!.name : undefined;
  const owner = 'user' in who ? who.user : undefined;

  test(`control: a configured sandbox that is released runs its command (${who.name})`, async () => {
    const w = world(owner);
    assert.deepEqual(await run('release', findBwrap(process.env), w, asUser), { ran: true, left: false });
    const slow = world(owner);
    assert.deepEqual(await run('release', slowInfoBwrap(slow.dir), slow, asUser), { ran: true, left: false }, 'the slow-info bubblewrap works');
  });

  test(`cordon SIGKILLed while its sandbox waits to be released: the sandbox runs nothing (${who.name})`, async () => {
    const w = world(owner);
    assert.deepEqual(await run('die-before-release', findBwrap(process.env), w, asUser), { ran: false, left: false });
  });

  test(`a signal before release, while the sandbox's PID 1 is not known yet, cancels the start: nothing runs, nothing is left (${who.name})`, async () => {
    const w = world(owner);
    assert.deepEqual(await run('signal-before-pid', slowInfoBwrap(w.dir), w, asUser), { ran: false, left: false });
  });
}
