/**
 * The run journal: one file per running sandbox in cordon's state directory,
 * written before the command may start and removed once the after-run step
 * (after-run.ts) is done. It serves two purposes:
 *
 * - **SIGKILL.** cordon finishes its after-run step on every exit it can see
 *   (normal exit, Ctrl-C, SIGTERM/SIGHUP, `timeout`), but not SIGKILL. A
 *   journal whose cordon is gone is finished by `cordon recover`, which the
 *   scan waiting to walk after the run starts once the sandbox is gone
 *   (scan.ts watch(), guard.ts recoverCommand), else by the next cordon
 *   run (and `cordon doctor`) before anything else: the same scan and
 *   set-aside, with that run's watch list.
 * - **Running sandboxes.** cordon must never run a program that a sandbox
 *   that is still running could have rewritten (its writable roots minus
 *   what it protects): the journals of live runs say where they may write.
 *
 * Trust boundary: the state directory is never writable inside a sandbox
 * (policy.ts protects it, pins its ancestors), so a journal is cordon's own.
 * A journal is still parsed defensively (a crash mid-write leaves half a
 * file): what does not parse is ignored and removed.
 */
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { earliest, type Policy, type Rescan, type WatchedPath } from '../../policy/policy.js';
import { isWithin } from '../../policy/paths.js';
import { procStat, withLock } from './placeholders.js';
import { CordonError } from '../../errors.js';

export interface Journal {
  readonly version: 1;
  readonly pid: number;
  /** The process's start time (field 22 of /proc/PID/stat): a recycled pid is not the same run. */
  readonly start: string;
  /** Where the command may write, and what it may not write there (cordon's own files, protected names). */
  readonly writable: readonly string[];
  readonly readOnly: readonly string[];
  readonly watch: readonly WatchedPath[];
  readonly rescan?: Rescan;
  /** Each writable root's identity at the start (no-follow.ts rootIdentities): the set-aside touches only that directory. */
  readonly rootIds?: Readonly<Record<string, string>>;
  /** When the command was let go, less a second (ns since the epoch): a rebase's state changed before then is the user's own (after-run.ts sequencerStates). */
  readonly since?: string;
  /** What the run held read-only by a mount, and its identity then (LinuxPlan.guardIds, with the placeholders). */
  readonly guardIds?: Readonly<Record<string, string>>;
  /** The sandbox's PID 1 and its start time, once known (recordSandbox): until it is gone, the run is not over, whatever became of its cordon. */
  readonly sandbox?: { readonly pid: number; readonly start: string };
}

const PREFIX = 'journal-';

/**
 * The start time of a process, or undefined if it is gone: ended, a zombie
 * included (a cordon killed a moment ago whose parent has not reaped it yet
 * is no longer running; its journal is a killed run's).
 */
export function processStart(pid: number | 'self'): string | undefined {
  const fields = procStat(pid);
  return !fields || fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
}

/** A journal as written: its file, and what it holds. */
export interface WrittenJournal {
  readonly file: string;
  readonly body: Journal;
}

/** Writes this run's journal. */
export function writeJournal(dir: string, j: Omit<Journal, 'version' | 'pid' | 'start'>): WrittenJournal {
  const file = join(dir, `${PREFIX}${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  const body: Journal = { version: 1, pid: process.pid, start: processStart('self') ?? '', ...j };
  putJournal(file, body);
  return { file, body };
}

/** Written whole under another name, then renamed into place: a reader never sees half of it. */
function putJournal(file: string, body: Journal): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(body), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function removeJournal(file: string): void {
  try { unlinkSync(file); } catch { /* already gone */ }
}

/**
 * Adds the sandbox's PID 1 to a journal once bubblewrap has said it, before
 * the command may start (launch.ts): a run whose cordon died is over only
 * once its sandbox is gone too. Only this run's cordon, which is alive,
 * writes it.
 */
export function recordSandbox(written: WrittenJournal, pid: number): void {
  const start = processStart(pid);
  if (start !== undefined) putJournal(written.file, { ...written.body, sandbox: { pid, start } });
}

/**
 * The journals, and the processes that claimed one and are finishing it
 * now (recoverJournals, host-exit.ts): until they are done, what that
 * run's command left is still where it left it.
 */
function readJournals(dir: string): { entries: { file: string; j: Journal | undefined }[]; claimers: number[] } {
  let names: string[];
  try { names = readdirSync(dir); } catch { return { entries: [], claimers: [] }; }
  const claimers: number[] = [];
  // A journal claimed by a process that is gone (killed while it finished the
  // run) is taken over: its pid may be another process's since, so a claim
  // names the claimer's start time too (claimName).
  const orphan = (n: string) => {
    const m = /\.json(?:\.recovering-[\d-]+)*\.recovering-(\d+)(?:-(\d+))?$/.exec(n);
    if (m === null) return false;
    const by = Number(m[1]);
    const start = processStart(by);
    if (start === undefined || (m[2] !== undefined && start !== m[2]) || (m[2] === undefined && by === process.pid)) return true;
    if (by !== process.pid) claimers.push(by);
    return false;
  };
  const entries = names.filter((n) => n.startsWith(PREFIX) && (n.endsWith('.json') || orphan(n))).map((n) => {
    const file = join(dir, n);
    try {
      const j = JSON.parse(readFileSync(file, 'utf8')) as Journal;
      return { file, j: j.version === 1 && Number.isInteger(j.pid) && Array.isArray(j.watch) && Array.isArray(j.writable) ? j : undefined };
    } catch {
      return { file, j: undefined };
    }
  });
  return { entries, claimers };
}

/**
 * A run is live while its cordon runs (also this process's own: a library
 * handle runs several commands at once, each with its journal), or while
 * its sandbox does: a cordon killed a moment ago may leave a sandbox whose
 * processes are still on their way out.
 */
const isLive = (j: Journal) => processStart(j.pid) === j.start || sandboxLive(j);
const sandboxLive = (j: Journal) => j.sandbox !== undefined && j.sandbox !== null && typeof j.sandbox === 'object' && Number.isInteger(j.sandbox.pid) && processStart(j.sandbox.pid) === j.sandbox.start;

/**
 * Whether cordon may run programs before its guard (cli/early.ts starts the
 * scan and the sandbox process ahead): no run was killed before finishing
 * its step after the run, and no live run could have written one of
 * `programs` (asked for only then). Otherwise guardRuns (guard.ts) must come first.
 */
export function clearForEarlyStart(dir: string, programs: () => readonly string[]): boolean {
  const { entries: all, claimers } = readJournals(dir);
  // Resolved only when a run is going: with none, no path need be looked at.
  if (all.length === 0 && claimers.length === 0) return true;
  if (claimers.length > 0 || all.some(({ j }) => !j || !isLive(j))) return false;
  return !writableByLiveRun(programs(), all.map(({ j }) => j!));
}

/** The journals of runs whose cordon, or sandbox, is still running. */
export function liveJournals(dir: string): Journal[] {
  return readJournals(dir).entries.flatMap(({ j }) => (j && isLive(j) ? [j] : []));
}

/** The name a journal is claimed under by this process (renamed to it while the process finishes that run). */
export function claimName(file: string): string {
  return `${file}.recovering-${process.pid}-${processStart('self') ?? '0'}`;
}

/** How long recoverJournals waits for another process to finish the journals it claimed. */
const CLAIMED_WAIT_MS = 60_000;
/** How long it waits for the sandbox of a run whose cordon was killed to be gone (the kernel kills it with its cordon: milliseconds). */
const DYING_WAIT_MS = 5_000;

/**
 * Finishes the after-run step of every run that is over but for it (its
 * cordon killed, its sandbox gone), through `finish` (the caller's scan
 * and set-aside), once each: a journal is claimed by renaming it, so two
 * cordons starting together never both handle one. One another process
 * claimed and is finishing now (`cordon recover`, started when that run's
 * cordon died) is waited for first: until it is done, what that command
 * left is still there, and nothing may run as if it were not.
 */
export function recoverJournals(dir: string, finish: (j: Journal) => void): number {
  const start = Date.now();
  let n = 0;
  for (;;) {
    let lost = false;
    for (const { file, j } of settledJournals(dir, start)) {
      if (j && isLive(j)) continue;
      const claimed = claimName(file);
      // Claimed by another process since it was read: that one is waited for, next round.
      try { renameSync(file, claimed); } catch { lost = true; continue; }
      try {
        if (j) finish(j);
        n++;
      } finally {
        removeJournal(claimed);
      }
    }
    if (!lost) return n;
  }
}

/** The journals once no other process is finishing one it claimed and no killed run's sandbox is on its way out (recoverJournals' bounds). */
function settledJournals(dir: string, start: number): { file: string; j: Journal | undefined }[] {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const read = readJournals(dir);
    // A sandbox whose cordon was killed a moment ago is on its way out: its run is over once it is gone.
    const dying = Date.now() - start < DYING_WAIT_MS && read.entries.some(({ j }) => j !== undefined && processStart(j.pid) !== j.start && sandboxLive(j));
    if (read.claimers.length === 0 && !dying) return read.entries;
    if (Date.now() - start > CLAIMED_WAIT_MS) throw new CordonError('CORDON_ERR_LAUNCH', `process ${read.claimers.join(', ')} has been finishing the step after the run of a run whose cordon was killed for ${CLAIMED_WAIT_MS / 1000} s, and what that command left is not checked until it is done; nothing was run. Wait for it to end, then try again`);
    Atomics.wait(pause, 0, 0, 20);
  }
}

/** Pure: the first of `programs` that a live run could write (inside its writable roots, outside what it keeps read-only). */
export function writableByLiveRun(programs: readonly string[], live: readonly Journal[]): { program: string; run: Journal; root: string } | undefined {
  for (const run of live) {
    for (const program of programs) {
      const root = run.writable.find((r) => isWithin(program, r));
      if (root && !run.readOnly.some((ro) => isWithin(program, ro))) return { program, run, root };
    }
  }
  return undefined;
}

/**
 * Pure: what a run that is still going may leave for this one. A repository
 * a live run created (not in its own scan from before it started) looks
 * like an old one to this run's scan, so this run would protect it with
 * mounts, and the live run's after-run step then moves its config aside
 * under those mounts (a rename on the host carries this run's mount along),
 * freeing the name for this run's command. So such repositories count as
 * new here too, and the live run's watched paths are watched here too: this
 * run's after-run step checks them again when it ends. So is a git dir whose
 * identity the live run saw otherwise (Rescan.ids: it was made again since):
 * its identity is dropped here, which makes it new to this run too. And the
 * links into a `.git` this run looks for after it are those changed since
 * the earliest start of a live run sharing a writable path with it
 * (Rescan.linksSince): that run's command may make one that this run's
 * command renames past that run's scan.
 */
export function inheritLiveRuns(given: Policy, live: readonly Journal[]): Policy {
  const policy = inheritNames(given, live);
  const rescan = policy.rescan;
  if (!rescan || live.length === 0) return policy;
  const linksSince = earliest([rescan.linksSince, ...live.filter((j) => j.writable.some((w) => rescan.writable.some((m) => isWithin(w, m) || isWithin(m, w)))).map((j) => earliest([j.since, j.rescan?.linksSince]))]);
  const inherited = linksSince === rescan.linksSince ? policy : { ...policy, rescan: { ...rescan, ...(linksSince ? { linksSince } : {}) } };
  return inheritWatch(inherited, live);
}

/** inheritLiveRuns without the start of the links looked for. */
function inheritWatch(policy: Policy, live: readonly Journal[]): Policy {
  const rescan = policy.rescan!;
  const mine = (p: string) => rescan.writable.some((w) => isWithin(p, w));
  const theirsNew = (p: string) => live.some((j) => j.writable.some((w) => isWithin(p, w)) && !(j.rescan?.known ?? []).includes(p));
  const known = rescan.known.filter((k) => !theirsNew(k));
  const ids = rescan.ids;
  const theirsOther = (g: string) => live.some((j) => j.rescan?.ids && j.writable.some((w) => isWithin(g, w)) && j.rescan.ids[g] !== ids?.[g]);
  const keptIds = ids && Object.fromEntries(Object.entries(ids).filter(([g]) => !theirsOther(g)));
  const idsChanged = ids !== undefined && Object.keys(keptIds!).length !== Object.keys(ids).length;
  const paths = new Set(policy.watch.map((w) => w.path));
  const watch = [...policy.watch];
  for (const j of live) for (const w of j.watch) if (mine(w.path) && !paths.has(w.path)) { paths.add(w.path); watch.push(w); }
  if (known.length === rescan.known.length && !idsChanged && watch.length === policy.watch.length) return policy;
  return { ...policy, watch, rescan: { ...rescan, known, ...(idsChanged ? { ids: keptIds } : {}) } };
}

/**
 * Pure: the protected names at the root of a nested work tree (Rescan.names)
 * that a run still going may move aside when it ends (createdNames in
 * after-run.ts): in its writable roots but not directly in one, not held by
 * it (its heldNames), in no directory it closed, or on its own recheck list.
 * A name this run holds read-only (it existed when this run started: a live
 * run's command may have made it) that such a run moves aside takes this
 * run's mount along (a rename on the host), and this run's command could make
 * it again. So such a name is not held here (it is looked for after this run
 * like a missing one), and such a name directly in one of this run's writable
 * roots (a placeholder or a read-only bind, never looked for otherwise) is
 * looked for too (recheckNames). A placeholder the live run made is an empty
 * directory, which it leaves alone (keepEmptyDir). Proved by
 * test/unit/platform/linux/journal.test.ts and, with two real runs, by
 * test/integration/after-run/nested-names.test.ts.
 */
export function inheritNames(policy: Policy, live: readonly Journal[]): Policy {
  const rescan = policy.rescan;
  if (!rescan?.names || live.length === 0) return policy;
  const theirs = live.flatMap((j) => (j.rescan?.names ? [{ j, r: j.rescan, names: new Set(j.rescan.names), held: new Set(j.rescan.heldNames ?? []), recheck: new Set(j.rescan.recheckNames ?? []) }] : []));
  if (theirs.length === 0) return policy;
  const mayMove = (p: string) => theirs.some(({ j, r, names, held, recheck }) => {
    if (recheck.has(p)) return true;
    if (!names.has(basename(p)) || held.has(p) || j.writable.includes(dirname(p)) || !j.writable.some((w) => isWithin(p, w))) return false;
    return ![...(r.closed ?? []), ...(r.unchecked ?? [])].some((c) => isWithin(p, c));
  });
  const heldNames = (rescan.heldNames ?? []).filter((p) => !mayMove(p));
  const recheckNames = [...new Set([...(rescan.recheckNames ?? []), ...rescan.writable.flatMap((w) => rescan.names!.map((n) => join(w, n))).filter(mayMove)])];
  if (heldNames.length === (rescan.heldNames ?? []).length && recheckNames.length === (rescan.recheckNames ?? []).length) return policy;
  return { ...policy, rescan: { ...rescan, heldNames, ...(recheckNames.length > 0 ? { recheckNames } : {}) } };
}

/** How many writable paths of past runs are remembered (the most recent, last). */
const SANDBOXED_MAX = 256;
/** A path among the last this many is not moved to the end again (no write): it stays for SANDBOXED_MAX - this many other paths at least. */
const SANDBOXED_RECENT = 64;
const SANDBOXED_FILE = 'sandboxed.json';

function readSandboxed(file: string): string[] {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string' && p.startsWith('/')) : [];
  } catch {
    return [];
  }
}

/**
 * Where sandboxed commands could write: the writable paths of runs still
 * going (their journals) and of the last SANDBOXED_MAX runs. A symlink there
 * may be a command's: a later grant, or a library handle's working
 * directory, that a link there leads elsewhere is refused (policy.ts
 * redirectingLink). Kept in the state directory, which no sandbox can
 * write.
 */
export function sandboxedAreas(dir: string, live: readonly Journal[] = liveJournals(dir)): string[] {
  return [...new Set([...readSandboxed(join(dir, SANDBOXED_FILE)), ...live.flatMap((j) => j.writable)])];
}

/** Adds a run's writable paths to what sandboxedAreas remembers, as the most recent; under the state directory's lock (two runs at once lose neither's). */
export function recordSandboxed(dir: string, writable: readonly string[]): void {
  const file = join(dir, SANDBOXED_FILE);
  const recent = (list: readonly string[]) => writable.every((w) => { const i = list.lastIndexOf(w); return i >= 0 && i >= list.length - SANDBOXED_RECENT; });
  if (recent(readSandboxed(file))) return;
  withLock(dir, () => {
    const past = readSandboxed(file);
    if (recent(past)) return;
    const next = [...past.filter((p) => !writable.includes(p)), ...writable].slice(-SANDBOXED_MAX);
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify(next), { mode: 0o600 });
    renameSync(tmp, file);
  });
}
