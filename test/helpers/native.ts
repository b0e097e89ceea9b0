/**
 * Test helpers for the native helper (native/cordon-helper.c): build it once,
 * run it and collect its output, probe what the kernel offers so tests can
 * skip with a stated reason instead of failing on a host that lacks a feature.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { landlockNoDeleteRights, landlockWriteRights } from '../../src/platform/linux/plan.js';
import { HELPER_OPTION } from '../../src/protocol.js';

/** The repository root: the first ancestor holding scripts/build-native.mjs (works from src or dist). */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'scripts', 'build-native.mjs'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the cordon repository root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

/**
 * The helper under test. CORDON_TEST_HELPER names a prebuilt binary instead
 * (e.g. a deliberately broken build, to check that the tests catch it) and
 * skips the build, so the shared native/build/ is left alone.
 */
export const helperPath = process.env.CORDON_TEST_HELPER || join(repoRoot, 'native', 'build', 'cordon-helper');

let built = Boolean(process.env.CORDON_TEST_HELPER);
/** Compiles the helper with the package's own build script (once per process); returns its path. */
export function buildHelper(): string {
  if (built) return helperPath;
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build-native.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the native helper failed (status ${r.status}):\n${r.stdout}${r.stderr}`);
  built = true;
  return helperPath;
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcess>();
/** spawn() that remembers the child until it exits, so killAll() can end a hung test's leftovers. */
export function spawnTracked(file: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(file, args, options);
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}
/** SIGKILLs every tracked child still running (use in an after() hook). */
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** Spawns a program and resolves when it exits (never rejects on a non-zero status). */
export function run(file: string, args: readonly string[], options: SpawnOptions = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = options.stdio ?? ['ignore', 'pipe', 'pipe'];
    const child = spawnTracked(file, args, { ...options, stdio });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs `cordon-helper ARGS...`. */
export function runHelper(args: readonly string[], options: SpawnOptions = {}): Promise<Result> {
  return run(buildHelper(), args, options);
}

/**
 * The helper's Landlock options for read-write paths `rw` and no-delete
 * paths `rwnd`, with the rights plan.ts gives at `abi` (as a plan would pass them).
 */
export function landlockArgs(rw: readonly string[], rwnd: readonly string[] = [], abi = 3): string[] {
  return [
    HELPER_OPTION.landlockHandled, String(landlockWriteRights(abi)),
    ...rw.flatMap((p) => [HELPER_OPTION.landlockRule, String(landlockWriteRights(abi)), p]),
    ...rwnd.flatMap((p) => [HELPER_OPTION.landlockRule, String(landlockNoDeleteRights(abi)), p]),
  ];
}

/** Null when Landlock with truncation control (ABI >= 3, what no-delete needs) can be applied here, else the reason to skip. */
export function landlockSkipReason(): string | null {
  const r = spawnSync(buildHelper(), ['run', ...landlockArgs(['/dev']), '--', 'true'], { encoding: 'utf8' });
  return r.status === 0 ? null : `Landlock ABI >= 3 unavailable: ${r.stderr.trim()}`;
}

/** Null when bubblewrap can create a sandbox here, else the reason to skip. */
export function bwrapSkipReason(): string | null {
  const r = spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-all', '--as-pid-1', '--', 'true'], { encoding: 'utf8' });
  if (r.error) return `bwrap not runnable: ${r.error.message}`;
  return r.status === 0 ? null : `bwrap cannot create a sandbox here: ${r.stderr.trim()}`;
}

/** Parses scan output (NUL-terminated records) into sorted "K\tPATH" strings. */
export function scanRecords(stdout: string): string[] {
  return stdout.split('\0').filter((r) => r !== '').sort();
}

export interface ScanOptions {
  match?: readonly string[];
  maxDepth?: number;
  /** --cache FILE */
  cache?: string;
  /** --ids */
  ids?: boolean;
  /** --new-links SINCE (ns since the epoch) */
  newLinks?: string;
}
export interface ScanOutcome {
  code: number | null;
  /** Sorted "K\tPATH" records (cordon does not depend on their order). */
  records: string[];
  stderr: string;
}
/** Runs `cordon-helper scan [--match P]... [--max-depth N] [--cache F] [--ids] -- ROOTS...`. */
export async function scan(roots: readonly string[], opts: ScanOptions = {}, options: SpawnOptions = {}): Promise<ScanOutcome> {
  const args = ['scan'];
  for (const m of opts.match ?? []) args.push('--match', m);
  if (opts.maxDepth !== undefined) args.push('--max-depth', String(opts.maxDepth));
  if (opts.cache !== undefined) args.push('--cache', opts.cache);
  if (opts.ids) args.push('--ids');
  if (opts.newLinks !== undefined) args.push('--new-links', opts.newLinks);
  const r = await runHelper([...args, '--', ...roots], options);
  return { code: r.code, records: scanRecords(r.stdout), stderr: r.stderr };
}
