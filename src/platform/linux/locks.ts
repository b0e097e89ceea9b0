/**
 * Directories the command locks, which hide what is in them from the step
 * after the run (after-run.ts settleRun): said (unreadableWarning), and
 * given back to their owner where the command locked them during the run
 * (reopenLocked: what the scan could not read; reopenAncestors: what lies
 * between a path to be moved aside and its writable path, inside a git dir
 * the scan does not walk). Each change goes through a descriptor reached
 * with no link followed (no-follow.ts).
 * Tests: test/unit/platform/linux/locks.test.ts; from inside, as an
 * unprivileged user, test/integration/after-run/after-run.test.ts.
 */
import { accessSync, chmodSync, closeSync, constants, fstatSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Rescan } from '../../policy/policy.js';
import { isWithin } from '../../policy/paths.js';
import { DirFds } from './no-follow.js';

/**
 * Pure: a warning when the second scan could not read a directory the first
 * could (the command may have locked it: a repository could hide there).
 * By name where both scans named every one (U records), so unlocking one
 * directory does not hide locking another; by count where they did not.
 * Test: test/unit/platform/linux/after-run.test.ts ("locked directories by name").
 */
export function unreadableWarning(rescan: Rescan, found: { readonly unreadable: number; readonly unreadablePaths?: readonly string[] }): string | undefined {
  const fix = 'a git repository (or a protected name such as .envrc or CLAUDE.md) there could not be checked: before running git in one, read its .git/config and .git/hooks';
  const before = rescan.unreadablePaths;
  const after = found.unreadablePaths;
  if (before && after && before.length === rescan.unreadable && after.length === found.unreadable) {
    const had = new Set(before);
    const locked = after.filter((p) => !had.has(p));
    if (locked.length === 0) return undefined;
    return `${locked.slice(0, 5).join(', ')}${locked.length > 5 ? ` and ${locked.length - 5} more` : ''} could not be read after the run, and could before it (the command may have locked ${locked.length === 1 ? 'it' : 'them'}); ${fix}`;
  }
  if (found.unreadable <= rescan.unreadable) return undefined;
  const n = found.unreadable - rescan.unreadable;
  return `${n} more director${n === 1 ? 'y' : 'ies'} in ${rescan.roots.join(', ')} could not be read after the run than before it (the command may have locked one); ${fix}`;
}

/**
 * The directories the command locked (unreadableWarning's, by name: none
 * where the scans could not name them all), each with the directories
 * between it and its writable path (a parent the command took search
 * from, chmod 600, keeps it from being opened): each that is this user's
 * own and whose mode changed while the command ran (its change time
 * between `since` and `until`, the run's start and its sandbox's end; a
 * lock you make later is yours) gets read, write and search back for its
 * owner (u+rwx: the set-aside moves what is inside), through a descriptor
 * reached with no link followed. What another user owns is left (the run
 * then fails, closed, as unreadableWarning says). `changed`: the
 * directories given back; `readable`: the locked ones that can be read
 * now, to look at again; `gone`: those no longer there.
 */
export function reopenLocked(rescan: Rescan, found: { readonly unreadable: number; readonly unreadablePaths?: readonly string[] }, since: string | undefined, until: string | undefined): { changed: string[]; readable: string[]; gone: string[] } {
  const before = rescan.unreadablePaths;
  const after = found.unreadablePaths;
  if (since === undefined || until === undefined || !before || !after || before.length !== rescan.unreadable || after.length !== found.unreadable) return { changed: [], readable: [], gone: [] };
  const had = new Set(before);
  const dirs = new DirFds();
  const changed: string[] = [];
  const give = giver(dirs, since, until, changed);
  const readable: string[] = [];
  const gone: string[] = [];
  try {
    for (const p of after) {
      const root = rescan.writable.filter((w) => isWithin(p, w)).sort((a, b) => b.length - a.length)[0];
      if (had.has(p) || root === undefined) continue;
      // From its writable path down to it: each parent first, so the next can be opened.
      const chain = [p];
      for (let a = dirname(p); isWithin(a, root); a = dirname(a)) chain.unshift(a);
      try {
        for (const a of chain) give(a);
        closeSync(openSync(`/proc/self/fd/${dirs.open(p)}`, constants.O_RDONLY | constants.O_DIRECTORY));
        readable.push(p);
      } catch (e) {
        // No longer there (a placeholder removed since, a git dir's modules/ the scan could only guess at): nothing hides in it.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') gone.push(p);
        /* else a link or another user's directory on the way: left as it is, and the run fails, closed */
      }
    }
  } finally {
    dirs.close();
  }
  return { changed, readable, gone };
}

/**
 * `give(dir)`: u+rwx back to `dir` for its owner if it is this user's, lacks
 * it, and its mode changed between `since` and `until` (the command did
 * it), and, with `blocking`, keeps this process out (root reads, writes and
 * searches a directory of mode 000: it is left as it is); through a
 * descriptor of `dirs` (reached with no link followed). Each directory is
 * looked at once; those changed are added to `changed`. Throws where `dir`
 * cannot be opened.
 */
function giver(dirs: DirFds, since: string, until: string, changed: string[], blocking = false): (dir: string) => void {
  const [from, to] = [BigInt(since), BigInt(until)];
  const uid = BigInt(process.geteuid?.() ?? -1);
  const looked = new Set<string>();
  return (p) => {
    if (looked.has(p)) return;
    looked.add(p);
    const fd = dirs.open(p);
    const st = fstatSync(fd, { bigint: true });
    if (st.uid !== uid || (st.mode & 0o700n) === 0o700n || st.ctimeNs < from || st.ctimeNs > to || (blocking && reachable(`/proc/self/fd/${fd}`))) return;
    chmodSync(`/proc/self/fd/${fd}`, Number(st.mode & 0o7777n) | 0o700);
    changed.push(p);
  };
}

/** Whether this process may read, write and search the directory at `p` as it is. */
function reachable(p: string): boolean {
  try {
    accessSync(p, constants.R_OK | constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directories between each of `paths` and its writable path (that one
 * included, the path itself not) that the command locked, given back as
 * reopenLocked gives them (giver), outermost first: what is to be moved
 * aside where the scan does not walk (inside a git dir) would otherwise be
 * out of reach. Only at a run's own end (`until`); a directory that cannot
 * be opened ends its chain (the move then fails, and the run with it).
 */
export function reopenAncestors(paths: readonly string[], writable: readonly string[], since: string | undefined, until: string | undefined): string[] {
  if (since === undefined || until === undefined) return [];
  const dirs = new DirFds();
  const changed: string[] = [];
  const give = giver(dirs, since, until, changed, true);
  try {
    for (const p of paths) {
      const root = writable.filter((w) => p !== w && isWithin(p, w)).sort((a, b) => b.length - a.length)[0];
      if (root === undefined) continue;
      const chain: string[] = [];
      for (let a = dirname(p); isWithin(a, root); a = dirname(a)) {
        chain.unshift(a);
        if (a === root) break;
      }
      try {
        for (const a of chain) give(a);
      } catch {
        /* gone, or a link or another user's directory on the way: left as it is */
      }
    }
  } finally {
    dirs.close();
  }
  return changed;
}
