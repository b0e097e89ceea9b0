/**
 * Finds git repositories (and basename matches for `**` globs) under the
 * writable roots by running the native scanner: one getdents walk in C that
 * never follows symlinks and never descends into .git, which is what keeps
 * "protect nested repositories at any depth" cheap enough to do on every run.
 */
import { spawn, spawnSync, type ChildProcessByStdio, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Readable } from 'node:stream';
import { CordonError } from '../../errors.js';

export interface ScanResult {
  /** Work trees: directories that contain a `.git` entry (dir or file). */
  readonly repos: string[];
  /** Submodule git dirs found under some `.git/modules/`. */
  readonly submoduleGitDirs: string[];
  /** Entries whose basename matched one of the patterns. */
  readonly matches: string[];
  readonly unreadable: number;
}

/**
 * With `cacheDir` (cordon's private state directory), the helper keeps an
 * incremental cache there, one file per (roots, patterns): an unchanged
 * directory then costs one stat instead of a read (ino, mtime and ctime must
 * all match, and a directory changed within 2 s of being recorded is re-read).
 */
export function scanTrees(helper: string, roots: readonly string[], patterns: readonly string[], cacheDir?: string): ScanResult {
  if (roots.length === 0) return { repos: [], submoduleGitDirs: [], matches: [], unreadable: 0 };
  const r = spawnSync(helper, scanArgs(roots, patterns, cacheDir), { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw scanFailed(roots, r.error?.message ?? r.stderr.toString().trim(), r.error);
  return parseScan(r.stdout.toString('utf8'));
}

function scanArgs(roots: readonly string[], patterns: readonly string[], cacheDir: string | undefined): string[] {
  const args = ['scan'];
  if (cacheDir) args.push('--cache', `${cacheDir}/scan-${fnv1a(JSON.stringify([roots, patterns]))}.cache`);
  for (const p of patterns) args.push('--match', p);
  args.push('--', ...roots);
  return args;
}

function scanFailed(roots: readonly string[], why: string, cause?: unknown): CordonError {
  return new CordonError('CORDON_ERR_INTERNAL', `scanning ${roots.join(', ')} for git repositories failed: ${why}`, { cause });
}

/** A scan running in the background: started before it is needed, collected when it is. */
export interface PendingScan {
  /** Scanned together, in one process (sorted). */
  readonly roots: readonly string[];
  readonly patterns: readonly string[];
  /**
   * Never rejects unhandled. There is no cancel (a DeferredScan cancels only
   * before it walks): a scan killed mid-way could leave a half-written cache
   * file; an unused one finishes on its own and Node waits for it before
   * exiting (milliseconds, usually).
   */
  readonly result: Promise<ScanResult>;
}

/** scanTrees without blocking: the walk runs in its own process while cordon does other work. */
export function startScan(helper: string, roots: readonly string[], patterns: readonly string[], cacheDir?: string): PendingScan {
  const sorted = [...roots].sort();
  const child = spawn(helper, scanArgs(sorted, patterns, cacheDir), { stdio: ['ignore', 'pipe', 'pipe'] });
  return { roots: sorted, patterns, result: collect(child, sorted) };
}

/** A scan whose process is started ahead of need and walks only once told to. */
export interface DeferredScan {
  /** Starts the walk now; its result. */
  go(): Promise<ScanResult>;
  /** Not needed after all: the process exits without looking at anything. */
  cancel(): void;
}

/** startScan, but waiting (helper `--wait-stdin`): the process start is paid while cordon waits anyway. */
export function deferScan(helper: string, roots: readonly string[], patterns: readonly string[], cacheDir?: string): DeferredScan {
  const sorted = [...roots].sort();
  const [sub, ...rest] = scanArgs(sorted, patterns, cacheDir);
  const child = spawn(helper, [sub!, '--wait-stdin', ...rest], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  const result = collect(child, sorted);
  return {
    go: () => { child.stdin.end('1'); return result; },
    cancel: () => { child.stdin.end(); },
  };
}

/** The scanner's records once it exits 0, else its message as a CordonError. Never rejects unhandled. */
function collect(child: ChildProcessWithoutNullStreams | ChildProcessByStdio<null, Readable, Readable>, roots: readonly string[]): Promise<ScanResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const result = new Promise<ScanResult>((resolve, reject) => {
    child.on('error', (e) => reject(scanFailed(roots, e.message, e)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(parseScan(Buffer.concat(out).toString('utf8')));
      else reject(scanFailed(roots, Buffer.concat(err).toString('utf8').trim() || `exit ${code ?? signal}`));
    });
  });
  result.catch(() => {}); // an unused scan must not become an unhandled rejection
  return result;
}

/**
 * The scan of `roots`: an `early` one (started at start-up, before the roots
 * were known) if one asked exactly this, else a new one, in one process. The
 * early scans not used are waited out, not killed: killed, a scan could
 * leave a half-written cache file behind; they ran in parallel anyway.
 */
export async function scanRoots(helper: string, roots: readonly string[], patterns: readonly string[], cacheDir: string | undefined, early: readonly PendingScan[] = []): Promise<ScanResult> {
  if (roots.length === 0) return { repos: [], submoduleGitDirs: [], matches: [], unreadable: 0 };
  const want = [...roots].sort();
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  const hit = early.find((e) => same(e.roots, want) && same(e.patterns, patterns));
  const result = await (hit ?? startScan(helper, want, patterns, cacheDir)).result;
  await Promise.all(early.filter((e) => e !== hit).map((e) => e.result.catch(() => undefined)));
  return result;
}

/** Pure: the scanner's NUL-separated `K<TAB>value` records → ScanResult. */
export function parseScan(out: string): ScanResult {
  const result = { repos: [] as string[], submoduleGitDirs: [] as string[], matches: [] as string[], unreadable: 0 };
  for (const rec of out.split('\0')) {
    if (rec.length < 2 || rec[1] !== '\t') continue;
    const v = rec.slice(2);
    switch (rec[0]) {
      case 'G': result.repos.push(v); break;
      case 'S': result.submoduleGitDirs.push(v); break;
      case 'M': result.matches.push(v); break;
      case 'E': result.unreadable = Number(v) || 0; break;
    }
  }
  return result;
}

/** 64-bit FNV-1a as 16 hex digits: a file name per key, not a security boundary. */
export function fnv1a(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text)) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}
