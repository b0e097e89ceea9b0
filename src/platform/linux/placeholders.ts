/**
 * Placeholders: a protected path that does not exist yet (say `.envrc` or
 * `.git/hooks`) must still be impossible to create from inside. A mount needs
 * a mount point, so cordon creates an empty directory there on the host and
 * binds it read-only into the sandbox; git ignores empty directories, so
 * `git status` and `git add -A` stay clean.
 *
 * The hazard is concurrency: removing a directory on the host that is a mount
 * point in another sandbox's mount namespace silently detaches that mount
 * (Linux ≥ 3.18), which would drop the other run's protection. So every run
 * records what it holds under a per-user runtime directory, and a placeholder
 * is removed only when no live run holds it, under a small lock.
 */
import { chmodSync, closeSync, existsSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { CordonError } from '../../errors.js';
import { DirFds } from './no-follow.js';

export interface Holds {
  readonly dir: string;
  readonly file: string;
  /** Directories this run created or shares, deepest first. */
  readonly paths: readonly string[];
}

/**
 * cordon's private state directory: placeholder holds, run journals and the
 * scan cache. Persistent ($XDG_STATE_HOME/cordon, else ~/.local/state/cordon,
 * else $XDG_RUNTIME_DIR/cordon) so that a run cut off by a crash or a reboot
 * is still cleaned up by the next run.
 *
 * Everything in it steers cordon's host-side steps (a forged scan cache hides
 * a repository; a forged hold makes cordon remove directories), so it must
 * be cordon's own: cordon makes it and at once writes a marker into it
 * (O_EXCL, so never into a directory someone else made). A directory that
 * exists without the marker was not made by cordon and is refused: the
 * command runs as the same uid, so owner and mode alone prove nothing. No
 * sandbox can write it or rename a parent of it (policy.ts protects it and
 * pins its ancestors), and there is no fallback to a shared /tmp, which a
 * sandbox with a writable host /tmp could prepare.
 */
export function runtimeDir(env: Readonly<Record<string, string | undefined>>): string {
  const uid = process.getuid?.() ?? 0;
  const abs = (v: string | undefined) => (v && v.startsWith('/') ? v : undefined);
  const home = abs(env.HOME);
  const base = abs(env.XDG_STATE_HOME) ?? (home && join(home, '.local', 'state')) ?? abs(env.XDG_RUNTIME_DIR);
  if (!base) throw new CordonError('CORDON_ERR_LAUNCH', 'cordon needs a private state directory and found no place for it: set HOME (or XDG_STATE_HOME) to a directory of your own');
  const dir = join(base, 'cordon');
  if (!existsSync(dir)) {
    // Made under another name with its marker, then renamed into place: a
    // second cordon starting at the same moment never sees it half made.
    let fresh: string | undefined;
    try {
      mkdirSync(base, { recursive: true, mode: 0o700 });
      fresh = mkdtempSync(join(base, '.cordon-new-'));
      writeFileSync(join(fresh, STATE_MARKER), 'cordon state directory; made by cordon, read by cordon\n', { flag: 'wx', mode: 0o600 });
      renameSync(fresh, dir);
      fresh = undefined;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw new CordonError('CORDON_ERR_LAUNCH', `cannot create cordon's state directory ${dir}: ${(e as Error).message}; set XDG_STATE_HOME to a directory of your own`, { cause: e });
    } finally {
      if (fresh) rmSync(fresh, { recursive: true, force: true });
    }
  }
  checkPrivate(dir, uid);
  ensureCacheDir(dir);
  return dir;
}

/**
 * The state directory's `cache/`: what a start can predict from the last
 * one like it (ahead.ts) and the scan's incremental caches (scan.ts), one
 * file per working directory and settings. Kept apart from the holds and
 * journals that every start lists (a directory listing costs per entry),
 * and bounded (boundCache).
 */
export function cacheDir(state: string): string {
  return join(state, CACHE_DIR);
}

const CACHE_DIR = 'cache';
/** What the cache may hold before boundCache removes the oldest files, and what it keeps then. */
export const CACHE_MAX = 600;
const CACHE_KEEP = 400;
/** The files cordon puts in the cache; nothing else there is touched (a scan's half-written file, say). */
const CACHE_FILE = /^(?:launch-[0-9a-f]{16}\.json|roots-[0-9a-f]{16}\.json|scan-[0-9a-f]{16}\.cache)$/;

/**
 * Makes `cache/` when it is missing (one system call a start when it is
 * there). When it makes it, it removes the files an older cordon kept at the
 * top instead (predictions only, remade by the next start in each place).
 */
function ensureCacheDir(state: string): void {
  try {
    mkdirSync(cacheDir(state), { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new CordonError('CORDON_ERR_LAUNCH', `cannot create ${cacheDir(state)} in cordon's state directory: ${(e as Error).message}; fix its mode or remove it and retry`, { cause: e });
  }
  removeLegacy(state);
}

/** The cache files an older cordon keeps at the state directory's top (it may still run beside this one). */
function removeLegacy(state: string): void {
  let names: string[] = [];
  try { names = readdirSync(state); } catch { /* nothing to remove */ }
  for (const n of names) if (CACHE_FILE.test(n)) rmSync(join(state, n), { force: true });
}

/**
 * Keeps the cache at most CACHE_MAX files: past that, the least recently
 * written are removed down to CACHE_KEEP; and an older cordon's files at the
 * top are removed. Called where cordon writes a new prediction (a start in a
 * new place), not on every start. A file removed under a start that reads it
 * costs that start its prediction, nothing else.
 */
export function boundCache(state: string, max = CACHE_MAX, keep = CACHE_KEEP): void {
  removeLegacy(state);
  const dir = cacheDir(state);
  let names: string[];
  try { names = readdirSync(dir).filter((n) => CACHE_FILE.test(n)); } catch { return; }
  if (names.length <= max) return;
  const aged = names.map((n) => ({ n, t: lstatSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs ?? 0 })).sort((a, b) => a.t - b.t);
  for (const { n } of aged.slice(0, aged.length - keep)) rmSync(join(dir, n), { force: true });
}

/** Written by cordon into the state directory it made, before anything else goes there. */
export const STATE_MARKER = '.cordon-state';

function checkPrivate(dir: string, uid: number): void {
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new CordonError('CORDON_ERR_LAUNCH', `state directory ${dir} is not a private (0700) directory owned by uid ${uid}; fix its mode or remove it and retry`);
  }
  const marker = lstatSync(join(dir, STATE_MARKER), { throwIfNoEntry: false });
  if (!marker?.isFile() || marker.uid !== uid) {
    throw new CordonError('CORDON_ERR_LAUNCH', `state directory ${dir} was not made by cordon (it has no ${STATE_MARKER} marker): cordon will not trust a scan cache or placeholder records it did not write. If you know what made it, remove it (rm -r ${dir}) and retry`);
  }
}

/**
 * A process with this pid exists (EPERM: it does, but is someone else's)
 * and is not a zombie: a cordon killed a moment ago whose parent has not
 * reaped it yet holds nothing any more.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  const state = procStat(pid)?.[0];
  return state !== 'Z' && state !== 'X';
}

/** The fields of /proc/PID/stat from the third (the state) on, or undefined where it cannot be read. */
export function procStat(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** A lock file in cordon's state directory holding the owner's pid; a dead owner's lock is taken over. */
export function withLock<T>(dir: string, fn: () => T): T {
  const lock = join(dir, 'placeholders.lock');
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(safeRead(lock));
      if (owner > 0 && !alive(owner)) {
        try { unlinkSync(lock); } catch { /* raced with another taker */ }
        continue;
      }
      if (Date.now() > deadline) throw new CordonError('CORDON_ERR_LAUNCH', `lock ${lock} held by pid ${owner} for 10 s; if no cordon is running, delete it`);
      Atomics.wait(sleeper, 0, 0, 2);
    }
  }
  try {
    return fn();
  } finally {
    try { unlinkSync(lock); } catch { /* already gone */ }
  }
}

function safeRead(p: string): string {
  try { return readFileSync(p, 'utf8'); } catch { return ''; }
}

interface HoldFile { pid: number; paths: string[] }

function readHolds(dir: string): { file: string; hold: HoldFile }[] {
  const out: { file: string; hold: HoldFile }[] = [];
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { return out; }
  for (const n of names) {
    if (!n.startsWith('hold-')) continue;
    const file = join(dir, n);
    try {
      const hold = JSON.parse(readFileSync(file, 'utf8')) as HoldFile;
      out.push({ file, hold });
    } catch { /* half-written or foreign: ignore */ }
  }
  return out;
}

/**
 * Creates the missing placeholders and records what this run holds: its own
 * placeholders plus any of `mounted` or `pinned` that another live run
 * created (they look like ordinary empty directories to the policy), and any
 * of `mounted` inside a `writable` root that has vanished since the plan was
 * made, re-created as this run's own. (Outside the writable roots nothing is
 * created: a mount point that vanished there fails the run, closed.)
 * `pinned` (the directories on the way to a protected path: hundreds with
 * many nested repositories) are not looked up: each one held a protected
 * path when the plan was made, so none was an empty placeholder another run
 * could have removed since, and one the host removed fails the run, closed.
 */
export function acquirePlaceholders(dir: string, placeholders: readonly string[], mounted: readonly string[], writable: readonly string[] = [], pinned: readonly string[] = []): Holds {
  const file = join(dir, `hold-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  if (placeholders.length === 0 && mounted.length === 0 && pinned.length === 0) return { dir, file, paths: [] };
  const roots = writable.map((w) => (w.endsWith('/') ? w : `${w}/`));
  return withLock(dir, () => {
    // Dead runs' holds count too: their placeholders are still mount points until swept.
    const others = new Set(readHolds(dir).flatMap((h) => h.hold.paths));
    const paths: string[] = [];
    const held = new Set<string>(); // paths, looked up (thousands of git dirs make thousands of placeholders)
    const hold = (p: string) => { paths.push(p); held.add(p); };
    // Every directory on the way opened with no link followed (no-follow.ts): a second run that renamed one and put a
    // link in its place makes this fail, closed, instead of making placeholders wherever the link leads.
    const dirs = new DirFds();
    try {
      for (const p of placeholders) {
        for (const created of mkdirRecording(p, dirs)) hold(created);
        if (!held.has(p) && others.has(p)) hold(p);
      }
      for (const p of mounted) {
        if (held.has(p)) continue;
        if (others.has(p)) hold(p);
        // Gone since the plan was made (another run released its placeholder,
        // or the host removed it): put the mount point back, as this run's own.
        else if (roots.some((w) => p.startsWith(w)) && !existsSync(p)) for (const created of mkdirRecording(p, dirs)) hold(created);
      }
      for (const p of pinned) if (!held.has(p) && others.has(p)) hold(p);
    } catch (e) {
      // Undo this call's own directories (deepest first): nothing is left behind.
      for (const p of paths.filter((q) => !others.has(q)).sort((a, b) => b.length - a.length)) {
        try { dirs.rmdir(p); } catch { /* not empty, gone, or a link on the way now */ }
      }
      throw e;
    } finally {
      dirs.close();
    }
    paths.sort((a, b) => b.length - a.length);
    if (paths.length > 0) writeFileSync(file, JSON.stringify({ pid: process.pid, paths } satisfies HoldFile), { mode: 0o600 });
    return { dir, file, paths };
  });
}

/** mkdir -p, no link followed on the way, that returns the directories it actually created (one mkdir when the parent exists). */
function mkdirRecording(p: string, dirs: DirFds): string[] {
  const created: string[] = [];
  for (let attempt = 0; ; attempt++) {
    try {
      dirs.mkdir(p, 0o755);
      created.push(p);
      return created;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return created;
      if (code === 'ENOENT' && attempt === 0 && dirname(p) !== p) {
        created.push(...mkdirRecording(dirname(p), dirs));
        continue;
      }
      for (const c of created.reverse()) try { dirs.rmdir(c); } catch { /* not empty or gone */ }
      const file = code === 'ENOTDIR' ? fileOnTheWay(p) : undefined;
      const why = file
        ? `${file} is a file, not a directory, so nothing can stand at ${p} to hold it; the command could replace ${file} with a directory and make it. Name ${file} itself in the rule (or remove the rule)`
        : code === 'ELOOP' || code === 'ENOTDIR' ? 'a directory on its way is a symbolic link now, not what cordon resolved (renamed and replaced since, as another run that can write there can do)' : (e as Error).message;
      throw new CordonError('CORDON_ERR_LAUNCH', `cannot create placeholder ${p} for a protected path: ${why}`, { cause: e });
    }
  }
}

/** The nearest path above `p` that is a file (not a directory, not a link), if one is there. */
function fileOnTheWay(p: string): string | undefined {
  for (let a = dirname(p); a !== dirname(a); a = dirname(a)) {
    let st;
    try {
      st = lstatSync(a, { throwIfNoEntry: false });
    } catch {
      continue; // ENOTDIR: the file is further up
    }
    if (st && !st.isDirectory() && !st.isSymbolicLink()) return a;
    if (st) return undefined;
  }
  return undefined;
}

/** Drops this run's hold; removes every placeholder (also of dead runs) no live run still holds. */
export function releasePlaceholders(h: Holds): string[] {
  if (h.paths.length === 0 && !existsSync(h.file)) {
    sweepStale(h.dir);
    return [];
  }
  return withLock(h.dir, () => {
    try { unlinkSync(h.file); } catch { /* never written */ }
    return removeUnheld(h.dir, h.paths);
  });
}

/** Cleans up after runs that were killed before they could release. */
export function sweepStale(dir: string): void {
  const holds = readHolds(dir);
  if (!holds.some((h) => !alive(h.hold.pid))) return;
  withLock(dir, () => removeUnheld(dir, []));
}

/** The directories whose search and write the owner got back (reopened), to remove placeholders in them. */
function removeUnheld(dir: string, mine: readonly string[]): string[] {
  const holds = readHolds(dir);
  const live = new Set<string>();
  const candidates = new Set(mine);
  for (const { file, hold } of holds) {
    if (alive(hold.pid)) hold.paths.forEach((p) => live.add(p));
    else {
      hold.paths.forEach((p) => candidates.add(p));
      try { unlinkSync(file); } catch { /* raced */ }
    }
  }
  // No link followed on the way (no-follow.ts): where one was put since, the placeholder is left, never what it leads to.
  const dirs = new DirFds();
  const reopened: string[] = [];
  try {
    for (const p of [...candidates].sort((a, b) => b.length - a.length)) {
      if (live.has(p)) continue;
      try {
        dirs.rmdir(p);
      } catch (e) {
        // Not empty (the host wrote there), gone, or a link on the way: left. EACCES: see reopen.
        if ((e as NodeJS.ErrnoException).code !== 'EACCES' || !reopen(dirs, dirname(p), reopened)) continue;
        try { dirs.rmdir(p); } catch { /* as above */ }
      }
    }
  } finally {
    dirs.close();
  }
  return reopened;
}

/**
 * A command can take search or write permission from a directory of its
 * writable path (it runs as cordon's uid, which owns it): cordon could then
 * not remove its placeholders there, and they would outlive the run. What
 * `rmdir` needs, and had when cordon made the placeholder (it made it so),
 * is given back to the owner where this uid owns the directory: search
 * (u+x) on each directory from `/` down, search and write (u+wx) on `dir`,
 * the placeholder's own. Each is reached with no link followed and changed
 * through its descriptor; recorded in `reopened`. Whether any was. (Root is
 * not refused in the first place.)
 */
function reopen(dirs: DirFds, dir: string, reopened: string[]): boolean {
  const uid = process.geteuid?.();
  let changed = false;
  const chain: string[] = [];
  for (let a = dir; ; a = dirname(a)) {
    chain.unshift(a);
    if (a === sep) break;
  }
  for (const a of chain) {
    let fd: number;
    try { fd = dirs.open(a); } catch { return changed; }
    const st = fstatSync(fd);
    const needs = a === dir ? 0o300 : 0o100;
    if (st.uid !== uid || (st.mode & needs) === needs) continue;
    try {
      chmodSync(`/proc/self/fd/${fd}`, (st.mode & 0o7777) | needs);
    } catch {
      return changed;
    }
    if (!reopened.includes(a)) reopened.push(a);
    changed = true;
  }
  return changed;
}
