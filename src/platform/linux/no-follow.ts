/**
 * Host-side steps on paths a sandboxed command may have reshaped (a second
 * run can rename any directory of a writable path it shares, and put a link
 * in its place): every directory on the way is opened without following a
 * symbolic link, one name at a time from `/`, and the last step acts on the
 * directory that was opened (through /proc/self/fd, which names the opened
 * directory, not a path). The paths cordon acts on are resolved when the
 * policy is made, so a link anywhere on the way is a change made since: the
 * step fails instead of following it.
 *
 * Node has no openat/mkdirat; an O_PATH descriptor and its /proc/self/fd
 * name give the same: nothing is resolved again by path.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, rmdirSync } from 'node:fs';
import { basename, dirname, sep } from 'node:path';
import { identity } from '../../policy/paths.js';

/** Linux's O_PATH (the same on every architecture cordon runs on), which Node does not export. */
const O_PATH = 0o10000000;
const DIR = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Directory descriptors by path, for one batch of steps (placeholders share
 * their parents): `close()` when the batch is done.
 */
export class DirFds {
  private readonly fds = new Map<string, number>();

  /**
   * The directory at `abs`, reached with no link followed; throws (ELOOP,
   * ENOTDIR, ENOENT, …) otherwise. One open by path first, kept only if
   * the kernel names what it opened `abs` (a link followed on the way would
   * name where it led; a directory cannot be moved to `abs` by one who may
   * not write there): two system calls instead of one per directory on the
   * way, which hundreds of placeholders under nested repositories make.
   */
  open(abs: string): number {
    const known = this.fds.get(abs);
    if (known !== undefined) return known;
    let fd: number | undefined;
    try {
      fd = openSync(abs, O_PATH | constants.O_DIRECTORY);
      if (readlinkSync(`/proc/self/fd/${fd}`) !== abs) {
        closeSync(fd);
        fd = undefined;
      }
    } catch {
      fd = undefined;
    }
    fd ??= abs === sep ? openSync(sep, DIR) : openSync(`/proc/self/fd/${this.open(dirname(abs))}/${basename(abs)}`, DIR);
    this.fds.set(abs, fd);
    return fd;
  }

  /** `mkdir abs` in its parent as opened above. */
  mkdir(abs: string, mode: number): void {
    mkdirSync(this.at(abs), { mode });
  }

  /** `rmdir abs` in its parent as opened above. */
  rmdir(abs: string): void {
    rmdirSync(this.at(abs));
  }

  private at(abs: string): string {
    return `/proc/self/fd/${this.open(dirname(abs))}/${basename(abs)}`;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** The file or directory at `abs`, reached with no link followed, as an O_PATH descriptor (the caller closes it); throws if a link is on the way or is `abs` itself. */
export function openLeaf(abs: string, dirs: DirFds): number {
  const fd = openSync(`/proc/self/fd/${dirs.open(dirname(abs))}/${basename(abs)}`, O_PATH | constants.O_NOFOLLOW);
  if (fstatSync(fd).isSymbolicLink()) {
    closeSync(fd);
    throw Object.assign(new Error(`${abs} is a symbolic link`), { code: 'ELOOP' });
  }
  return fd;
}

/** `dev:ino:birth` of what a descriptor names (birth time in ns, 0 where the filesystem keeps none: an inode number used again is another file). */
export function identityOf(fd: number): string {
  return identity(fstatSync(fd, { bigint: true }));
}


/**
 * The identity (identityOf) of each path (file or directory) reached with no link followed:
 * `ids`; `linked`, the paths that exist but only through a link (renamed
 * and replaced since they were resolved); a path that is not there is in
 * neither.
 */
export function rootIdentities(roots: readonly string[]): { ids: Record<string, string>; linked: string[] } {
  const ids: Record<string, string> = {};
  const linked: string[] = [];
  const dirs = new DirFds();
  try {
    for (const r of roots) {
      let fd: number | undefined;
      try {
        fd = r === sep ? dirs.open(r) : openLeaf(r, dirs);
        ids[r] = identityOf(fd);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') linked.push(r);
      } finally {
        if (fd !== undefined && r !== sep) closeSync(fd);
      }
    }
  } finally {
    dirs.close();
  }
  return { ids, linked };
}

/**
 * The identity (as identityOf) of each path that is there, by one lstat
 * apiece: the last component is not followed, those before it are. For what
 * a run holds (LinuxPlan.guardIds), which only decides what the step after
 * the run hands the helper, which acts with no link followed: a link put on
 * the way since makes a path look replaced, and the helper then refuses it.
 */
export function pathIdentities(paths: readonly string[]): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const p of paths) {
    try {
      const st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
      if (st) ids[p] = identity(st);
    } catch { /* not there as a path: nothing recorded */ }
  }
  return ids;
}

/** The roots whose identity now differs from `ids` (gone, or reached only through a link, or another directory). */
export function changedRoots(ids: Readonly<Record<string, string>>): string[] {
  const now = rootIdentities(Object.keys(ids)).ids;
  return Object.keys(ids).filter((r) => now[r] !== ids[r]);
}
