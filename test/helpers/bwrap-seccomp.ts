/**
 * Runs a command under real bubblewrap, optionally with a seccomp program on
 * fd 3 (`--seccomp 3`), the way cordon's launcher hands it over. Also builds
 * the C probe (test/fixtures/seccomp-probe.c) into a temp dir. For the
 * integration tests only: nothing here decides policy.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BWRAP = '/usr/bin/bwrap';

/** The sandbox the seccomp tests run in: the recommended bwrap shape, minus cordon's mounts. */
export const BWRAP_BASE_ARGS: readonly string[] = [
  '--ro-bind', '/', '/',
  '--dev', '/dev',
  '--proc', '/proc',
  '--unshare-all',
  '--die-with-parent',
  '--new-session',
  '--cap-drop', 'ALL',
];

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * `bwrap BASE [--seccomp 3] -- argv…`. With a filter, the bytes go down a
 * pipe on the child's fd 3, which bwrap reads to EOF before it execs.
 */
export function runUnderBwrap(argv: readonly string[], filter: Buffer | null, timeoutMs = 20_000): Promise<RunResult> {
  const args = [...BWRAP_BASE_ARGS, ...(filter ? ['--seccomp', '3'] : []), '--', ...argv];
  const child = spawn(BWRAP, args, { stdio: filter ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'] });
  if (filter) {
    const fd3 = child.stdio[3] as NodeJS.WritableStream & { on(event: 'error', cb: (e: Error) => void): unknown };
    fd3.on('error', () => {}); // bwrap failing early closes the pipe; its exit status tells the story.
    fd3.end(filter);
  }
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Why the bwrap tests cannot run here, or null when they can. */
export function bwrapUnavailable(): string | null {
  if (process.platform !== 'linux') return 'bubblewrap tests need Linux';
  if (!existsSync(BWRAP)) return `${BWRAP} is not installed (Debian: apt-get install -y bubblewrap)`;
  const r = spawnSync(BWRAP, [...BWRAP_BASE_ARGS, '--', '/bin/true'], { stdio: 'pipe', encoding: 'utf8' });
  if (r.status !== 0) return `bwrap cannot create a sandbox here: ${(r.stderr || String(r.error)).trim()}`;
  return null;
}

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the project root (package.json) above the test helper');
    dir = up;
  }
  return dir;
}

export interface BuiltProbe {
  path: string;
  cleanup(): void;
}

/** Compiles test/fixtures/seccomp-probe.c with `cc`; returns a reason string when it cannot. */
export function buildSeccompProbe(): BuiltProbe | string {
  const source = join(projectRoot(), 'test', 'fixtures', 'seccomp-probe.c');
  const dir = mkdtempSync(join(tmpdir(), 'cordon-seccomp-probe-'));
  const path = join(dir, 'seccomp-probe');
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['-O1', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', path, source], { stdio: 'pipe', encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot compile the seccomp probe with ${cc}: ${(r.stderr || String(r.error)).trim()}`;
  }
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
