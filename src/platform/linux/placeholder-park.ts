/**
 * Where a placeholder (placeholders.ts) waits between runs. Making a
 * directory allocates an inode and a directory block, and removing one frees
 * them: on ext4 with a busy journal, 50–150 µs each, about 10 ms of every run
 * with cordon's ~30 protected names in each of two writable roots. A rename
 * within one filesystem costs ~10 µs. So a run's placeholders are renamed
 * into place from cordon's state directory, and renamed back there when the
 * run releases them, under a name that is a hash of the path they stand at.
 * The tree itself keeps nothing between runs, as before.
 *
 * A parked directory goes back only to the path it stood at, and only
 * empty. It is parked only when empty, but a process that kept it as its
 * working directory, the host's or another run's, can write into it later
 * (with a removed directory that write would fail): what it wrote would
 * then appear in the tree when a later run puts the directory back, out of
 * the sight of that other run's step after the run, which looks only in
 * its own writable paths. So a parked directory with anything in it stays
 * where it is, and the run makes a fresh placeholder instead. Nothing in
 * the state directory is reachable by a writable mount in any sandbox
 * (policy.ts protects it and pins its ancestors), and the parked
 * directories are hidden in every sandbox (compile.ts cordonHidden): one
 * that a process entered there could later be put back in a tree that
 * process may not read.
 *
 * rename(2) replaces an empty directory at its target, and Node has no
 * renameat2 (RENAME_NOREPLACE): a target is looked up first, and only a name
 * that is absent is renamed onto. Placeholders are made under the
 * placeholder lock, which every cordon run takes to make them, so only an
 * empty directory that another process made at that name in the
 * microseconds between the look and the rename could be replaced, by
 * another empty directory.
 *
 * Where the state directory is on another filesystem than the tree (EXDEV),
 * placeholders are made and removed as before. Tested by
 * test/integration/after-run/placeholder-park.test.ts.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, opendirSync, readdirSync, renameSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/** The parking directory, in the state directory. */
export const PARK_DIR = 'parked';
/** Directories parked at most; past it, placeholders are removed, and a few parked ones with them. */
export const PARK_MAX = 1024;
const EVICT = 4;

/**
 * What park() compares: the identity, change time (ns) and mode of the
 * directory at `target`, taken when the run made or unparked it.
 */
export function stampOf(target: string): string {
  const st = lstatSync(target, { bigint: true });
  return `${st.dev}:${st.ino}/${st.ctimeNs}/${st.mode}`;
}

/** The parked name of the placeholder at `path`. */
export function parkedName(path: string): string {
  return createHash('sha256').update(path).digest('hex').slice(0, 32);
}

/** One batch of placeholder moves (an acquire or a release) in one state directory. */
export class Parking {
  private readonly dir: string;
  private count: number | undefined;

  constructor(stateDir: string) {
    this.dir = join(stateDir, PARK_DIR);
  }

  /**
   * Renames the empty directory parked for `path` to `target` (`path`
   * reached through its opened parent: no link followed on the way) and
   * returns true; false when none is parked for it, or it is not empty, or
   * the tree is on another filesystem: the caller makes one. A target that exists is refused as
   * mkdir refuses it (EEXIST).
   */
  unpark(path: string, target: string): boolean {
    if (lstatSync(target, { throwIfNoEntry: false }) !== undefined) throw Object.assign(new Error(`${path} exists`), { code: 'EEXIST' });
    const slot = join(this.dir, parkedName(path));
    try {
      // Written into while parked: it stays parked, never put in a tree.
      if (!isEmpty(slot)) return false;
      renameSync(slot, target);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Something there after all: the refusal mkdir gives.
      if (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'ENOTDIR' || code === 'EISDIR') throw Object.assign(new Error(`${path} exists`), { code: 'EEXIST' });
      // None parked (ENOENT), or another filesystem (EXDEV): made by mkdir.
      return false;
    }
  }

  /**
   * Parks the placeholder at `path` (reached as `target`, as above) and
   * returns true when it is the empty directory this run made or unparked,
   * untouched since: still the same directory with the same change time
   * (`stamp`, stampOf), which any chmod, chown, extended attribute or entry
   * made or removed in it moves.
   * Returns false for the caller to remove it as before (touched, written
   * into among others; another filesystem; a full parking).
   */
  park(path: string, target: string, stamp: string | undefined): boolean {
    if (stamp === undefined || stampOf(target) !== stamp || !this.room()) return false;
    const slot = join(this.dir, parkedName(path));
    try {
      renameSync(target, slot);
    } catch {
      // Another filesystem (EXDEV), or a slot that holds what a writer left (ENOTEMPTY): removed as before.
      return false;
    }
    this.count!++;
    // Written into between the look and the rename: back where its writer put it. Its mode changed: not kept.
    if (!isEmpty(slot)) {
      try { renameSync(slot, target); this.count!--; } catch { /* the name is taken again: it stays parked, never put back */ }
    } else if (lstatSync(slot).mode !== Number(stamp.slice(stamp.lastIndexOf('/') + 1))) {
      try { rmdirSync(slot); this.count!--; } catch { /* written into since: it stays parked, never put back */ }
    }
    return true;
  }

  /** Whether one more may be parked; at the limit, a few parked ones go (the empty ones: rmdir). */
  private room(): boolean {
    if (this.count === undefined) {
      try {
        this.count = readdirSync(this.dir).length;
      } catch {
        try { mkdirSync(this.dir, { mode: 0o700 }); } catch { return false; }
        this.count = 0;
      }
    }
    if (this.count < PARK_MAX) return true;
    const names = readdirSync(this.dir);
    for (let i = 0; i < EVICT && names.length > 0; i++) {
      const [name] = names.splice(Math.floor(Math.random() * names.length), 1);
      try {
        rmdirSync(join(this.dir, name!));
        this.count--;
      } catch { /* not empty: written into while parked, it stays */ }
    }
    return false;
  }
}

/** Whether the directory at `path` has no entry: one read, however many a writer put there. */
function isEmpty(path: string): boolean {
  const d = opendirSync(path, { bufferSize: 1 });
  try {
    return d.readSync() === null;
  } finally {
    d.closeSync();
  }
}
