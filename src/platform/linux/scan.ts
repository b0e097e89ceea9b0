/**
 * Finds git repositories (and basename matches for `**` globs) under the
 * writable roots by running the native scanner: one getdents walk in C that
 * never follows symlinks and never descends into .git, which is what keeps
 * "protect nested repositories at any depth" cheap enough to do on every run.
 */
import { spawnSync } from 'node:child_process';
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
  const result: ScanResult = { repos: [], submoduleGitDirs: [], matches: [], unreadable: 0 };
  if (roots.length === 0) return result;
  const args = ['scan'];
  if (cacheDir) args.push('--cache', `${cacheDir}/scan-${fnv1a(JSON.stringify([roots, patterns]))}.cache`);
  for (const p of patterns) args.push('--match', p);
  args.push('--', ...roots);
  const r = spawnSync(helper, args, { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    throw new CordonError('CORDON_ERR_INTERNAL', `scanning ${roots.join(', ')} for git repositories failed: ${r.error?.message ?? r.stderr.toString().trim()}`, { cause: r.error });
  }
  return parseScan(r.stdout.toString('utf8'));
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
