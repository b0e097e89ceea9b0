/**
 * Finds git repositories (and basename matches for `**` globs) under the
 * writable roots by running the native scanner: one getdents walk in C that
 * never follows symlinks and never descends into a git dir (but for its
 * modules/ and worktrees/), which is what keeps "protect nested repositories
 * at any depth" cheap enough to do on every run.
 *
 * Trust boundary: the walked trees are the confined command's. The scanner is
 * bounded (depth, directories, memory, descriptors) and says where it could
 * not look (`incomplete`) instead of failing; what to do about that is the
 * caller's (policy.ts closes it for the run, launch.ts fails the check after
 * the run closed). A path the scanner reports that is not valid UTF-8 counts
 * as a place it could not look (parseScan).
 */
import { spawn, spawnSync, type ChildProcessByStdio, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { isUtf8 } from 'node:buffer';
import { lstatSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CordonError } from '../../errors.js';
import { PROTOCOL } from '../../protocol.js';
import { isWithin } from '../../policy/paths.js';
import { CONFIG_NEEDLES } from '../../policy/git-config.js';
import { GIT_DIR_ENTRIES } from '../../policy/protected.js';
import { cacheDir as stateCache } from './placeholders.js';

export interface ScanResult {
  /** Work trees: directories that contain a `.git` entry (dir, file or link). */
  readonly repos: string[];
  /** Submodule git dirs found under some git dir's `modules/`. */
  readonly submoduleGitDirs: string[];
  /**
   * Directories that are themselves git dirs, as git's discovery sees them
   * (`HEAD`, and `objects/` + `refs/` or a `commondir`): a bare repository
   * anywhere in the tree. `git status` inside one runs its core.fsmonitor.
   */
  readonly bareGitDirs: string[];
  /**
   * Linked worktrees' git dirs: `<git dir>/worktrees/<name>` of every git dir
   * found (a `.git`, a bare git dir, a submodule git dir). Their `commondir`,
   * `gitdir` and `config.worktree` tell git, run in that worktree (which may
   * live outside the project), where its repository and configuration are.
   */
  readonly worktreeGitDirs: string[];
  /**
   * Symbolic links under some git dir's `modules/`, where a module's git dir
   * goes: git follows one (a command can point it at a git dir of its own
   * making); after the run, a new one is moved aside (after-run.ts).
   */
  readonly moduleLinks?: string[];
  /** Entries whose basename matched one of the patterns. */
  readonly matches: string[];
  /** With patterns only: symbolic links found under the roots that lead to a directory. */
  readonly links: string[];
  /**
   * With `newLinksSince` only (the scan after a run): the symbolic links
   * changed since then (but `.git` entries). after-run.ts moves aside one
   * that leads into a `.git`, which the scan does not walk.
   */
  readonly newLinks?: string[];
  /**
   * Matches reached through those links (see followLinks), spelled through
   * the link (`ROOT/link/x/.env`): resolving one gives the file it reaches.
   * Empty unless links were followed.
   */
  readonly linkedMatches: string[];
  /**
   * Directories below which the scan could not look at everything: a path
   * too long to name, a listing too large, out of descriptors, a directory
   * renamed or replaced while it was walked. A repository could hide there.
   */
  readonly incomplete: string[];
  /** Links whose target could not be scanned whole (too many targets or directories): a match could hide there. */
  readonly linkedIncomplete: string[];
  readonly unreadable: number;
  /** The directories counted in `unreadable`, as far as the scanner names them (U records: the first 1000). */
  readonly unreadablePaths: string[];
  /**
   * The identity (`dev:ino:birth`) of each git dir found, by its path: a work
   * tree's `PATH/.git` as it is (never followed), a submodule or bare git
   * dir itself. A repository is the one from before the run only if its git
   * dir still has the same identity (after-run.ts newRepositories). A git dir
   * that could not be looked at has none.
   */
  readonly ids: Record<string, string>;
  /**
   * What each git dir that is a directory of its own holds, by its path
   * (as `ids`), where the scan before the run looked: one letter per name of
   * GIT_DIR_ENTRIES, in order (`-` missing, `d` directory, `f` another file,
   * `l` symbolic link, `?` not known), `config` read and judged (`p` it sets
   * neither core.hooksPath nor an include, `m` it may). policy.ts takes it
   * instead of listing each git dir and reading each config (gitDirFacts).
   */
  readonly gitFacts?: Record<string, string>;
  /**
   * The basenames this scan was asked to report wherever they are
   * (`names`, as M records in `matches`): where a directory was listed
   * whole, a name it holds is in `matches` (policy.ts relies on it for the
   * names at each repository's root).
   */
  readonly named?: readonly string[];
}

const EMPTY: ScanResult = { repos: [], submoduleGitDirs: [], bareGitDirs: [], worktreeGitDirs: [], moduleLinks: [], matches: [], links: [], linkedMatches: [], incomplete: [], linkedIncomplete: [], unreadable: 0, unreadablePaths: [], ids: {} };

/**
 * With `cacheDir` (cordon's private state directory), the helper keeps an
 * incremental cache in its cache/ (placeholders.ts: cacheDir), one file per (roots, patterns): an unchanged
 * directory then costs one stat instead of a read (ino, mtime and ctime must
 * all match, and a directory changed within 2 s of being recorded is re-read).
 */
export function scanTrees(helper: string, roots: readonly string[], patterns: readonly string[], cacheDir?: string, names: readonly string[] = [], newLinksSince?: string): ScanResult {
  if (roots.length === 0) return EMPTY;
  const r = spawnSync(helper, scanArgs(roots, patterns, cacheDir, undefined, names, false, newLinksSince), { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw scanFailed(roots, r.error?.message ?? r.stderr.toString().trim(), r.error);
  return parseScan(r.stdout);
}

/**
 * `names`: basenames reported like `patterns` (M records), but without the
 * symbolic links (`--match-no-links`): a `**` pattern needs every link to a
 * directory, which costs a stat per link (pnpm's node_modules has thousands);
 * the protected names looked for after a run need none (Rescan.names).
 */
function scanArgs(roots: readonly string[], patterns: readonly string[], cacheDir: string | undefined, maxDirs?: number, names: readonly string[] = [], gitFacts = false, newLinksSince?: string): string[] {
  const args = ['scan', '--ids'];
  // Not in the cache's key: it reports what the walk reads anyway, and a new link is in a directory read again.
  if (newLinksSince !== undefined && /^[1-9]\d*$/.test(newLinksSince)) args.push('--new-links', newLinksSince);
  if (gitFacts) {
    for (const n of GIT_DIR_ENTRIES) args.push('--git-entry', n);
    args.push('--git-read', 'config');
    for (const n of CONFIG_NEEDLES) args.push('--git-needle', n);
  }
  // The needles are in the key: a config file's verdict (whether it may matter) was made for them.
  const key = [roots, patterns, ...(names.length > 0 ? [names] : []), ...(gitFacts ? [CONFIG_NEEDLES] : [])];
  if (cacheDir) args.push('--cache', join(stateCache(cacheDir), `scan-${fnv1a(JSON.stringify(key))}.cache`));
  if (maxDirs !== undefined) args.push('--max-dirs', String(maxDirs));
  for (const p of patterns) args.push('--match', p);
  for (const n of names) args.push('--match-no-links', n);
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
  /** Basenames reported as matches too (`--match-no-links`). */
  readonly names?: readonly string[];
  /**
   * Never rejects unhandled. There is no cancel (a DeferredScan cancels only
   * before it walks): a scan killed mid-way could leave a half-written cache
   * file; an unused one finishes on its own and Node waits for it before
   * exiting (milliseconds, usually).
   */
  readonly result: Promise<ScanResult>;
}

/** scanTrees without blocking: the walk runs in its own process while cordon does other work. */
export function startScan(helper: string, roots: readonly string[], patterns: readonly string[], cacheDir?: string, maxDirs?: number, names: readonly string[] = []): PendingScan {
  const sorted = [...roots].sort();
  const child = spawn(helper, scanArgs(sorted, patterns, cacheDir, maxDirs, names, true), { stdio: ['ignore', 'pipe', 'pipe'] });
  const result = collect(child, sorted).then((r) => (names.length > 0 ? { ...r, named: names } : r));
  result.catch(() => {}); // an unused scan must not become an unhandled rejection
  return { roots: sorted, patterns, names, result };
}

/** A scan whose process is started ahead of need and walks only once told to. */
export interface DeferredScan {
  /** Starts the walk now; its result. */
  go(): Promise<ScanResult>;
  /** Not needed after all: the process exits without looking at anything. */
  cancel(): void;
  /**
   * The host is ending (host-exit.ts): cancel() if it has not begun, and
   * the process to wait for, where it is one of cordon's own (a scan
   * begun finishes its cache file first).
   */
  stop(): number[];
  /**
   * Once the run's journal exists, before its command may start: should
   * cordon die before go() or cancel() (SIGKILL), the waiting process runs
   * `then` once the sandbox whose PID 1 is `pid1` is gone (native
   * await_word; `then` is guard.ts recoverCommand).
   */
  watch?(pid1: number, then: AfterDeath): void;
}

/** What the scan's process runs should cordon die mid-run: a program, its arguments and its whole environment. */
export interface AfterDeath {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** One message to a waiting scan (native read_counted): its length in decimal and a NUL, then it. */
function word(body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(`${b.length}\0`), b]);
}

/** The empty message: nothing to do (an EOF alone, after watch(), means cordon died). */
export const NOTHING_WORD = word('');

/** The watch message (native watch_from): W, PID 1, how many arguments, the arguments, the environment; each NUL-terminated. */
export function watchWord(pid1: number, then: AfterDeath): Buffer {
  if (!Number.isInteger(pid1) || pid1 <= 1) throw new Error(`no sandbox PID 1 to watch: ${pid1}`);
  const fields = [PROTOCOL.scanWord.watch, String(pid1), String(then.argv.length), ...then.argv, ...Object.entries(then.env).map(([k, v]) => `${k}=${v}`)];
  if (fields.some((f) => f.includes('\0'))) throw new Error('a NUL in the command run after cordon\'s death');
  return word(fields.map((f) => `${f}\0`).join(''));
}

/**
 * The scan startScan would run, as arguments after `scan`, for a process
 * that starts it itself (helper `with-scan`, sandbox-process.ts); its
 * output is then read by scanFromPipes.
 */
export function scanCommand(roots: readonly string[], patterns: readonly string[], cacheDir: string | undefined, names: readonly string[] = []): { roots: string[]; args: string[] } {
  const sorted = [...roots].sort();
  return { roots: sorted, args: scanArgs(sorted, patterns, cacheDir, undefined, names, true).slice(1) };
}

/** A scan started by scanCommand's arguments: its records, stderr, and one byte of exit status (none if it died). */
export function scanFromPipes(roots: readonly string[], patterns: readonly string[], names: readonly string[], pipes: { readonly out: Readable; readonly err: Readable; readonly status: Readable }): PendingScan {
  const read = (r: Readable) => new Promise<Buffer>((resolve) => {
    const parts: Buffer[] = [];
    r.on('data', (d: Buffer) => parts.push(d));
    r.on('error', () => resolve(Buffer.concat(parts)));
    r.on('close', () => resolve(Buffer.concat(parts)));
  });
  const result = Promise.all([read(pipes.out), read(pipes.err), read(pipes.status)]).then(([out, err, status]) => {
    if (status.length === 1 && status[0] === 0) return { ...parseScan(out), ...(names.length > 0 ? { named: names } : {}) };
    throw scanFailed(roots, err.toString('utf8').trim() || (status.length === 1 ? `exit ${status[0]}` : 'the scan ended without a status'));
  });
  result.catch(() => {}); // an unused scan must not become an unhandled rejection
  return { roots, patterns, names, result };
}

/**
 * deferScan in a process already waiting (helper `with-scan --then`, started
 * with the sandbox process): go() writes it the scan's arguments, cancel()
 * ends them unwritten. Its records, stderr and status come as scanFromPipes'.
 */
export function deferFromPipes(pipes: { readonly args: Writable; readonly out: Readable; readonly err: Readable; readonly status: Readable }, roots: readonly string[], patterns: readonly string[], cacheDir?: string, names: readonly string[] = [], newLinksSince?: string): DeferredScan {
  const sorted = [...roots].sort();
  const scan = scanFromPipes(sorted, patterns, names, pipes);
  return {
    go: () => {
      // Their length first: the scan begins as soon as they are there, not when Node closes the pipe (its next turn).
      pipes.args.end(word(scanArgs(sorted, patterns, cacheDir, undefined, names, false, newLinksSince).slice(1).map((a) => `${a}\0`).join('')));
      return scan.result;
    },
    cancel: () => { pipes.args.end(NOTHING_WORD); },
    // The process that reads them was forked by the sandbox process's helper (sandbox-process.ts): not one cordon can
    // wait for by pid; it ends when its input does.
    stop: () => { pipes.args.end(NOTHING_WORD); return []; },
    watch: (pid1, then) => { pipes.args.write(watchWord(pid1, then)); },
  };
}

/**
 * startScan, but waiting (helper `--wait-stdin`): the process start is paid
 * while cordon waits anyway. `say`: a descriptor of cordon's (its stderr)
 * where what the process runs after cordon's death speaks (watch()).
 */
export function deferScan(helper: string, roots: readonly string[], patterns: readonly string[], cacheDir?: string, names: readonly string[] = [], newLinksSince?: string, say?: number): DeferredScan {
  const sorted = [...roots].sort();
  const [sub, ...rest] = scanArgs(sorted, patterns, cacheDir, undefined, names, false, newLinksSince);
  // Own process group: a Ctrl-C or a SIGTERM to cordon's group must not kill the after-run scan.
  const child = spawn(helper, [sub!, '--wait-stdin', ...(say === undefined ? [] : ['--say', '3']), ...rest], { stdio: ['pipe', 'pipe', 'pipe', ...(say === undefined ? [] : [say])], detached: true }) as ChildProcessWithoutNullStreams;
  child.stdin.on('error', () => {});
  const result = collect(child, sorted);
  return {
    go: () => { child.stdin.end(word(`${PROTOCOL.scanWord.go}\0`)); return result; },
    cancel: () => { child.stdin.end(NOTHING_WORD); },
    stop: () => { child.stdin.end(NOTHING_WORD); return child.pid === undefined ? [] : [child.pid]; },
    watch: (pid1, then) => { child.stdin.write(watchWord(pid1, then)); },
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
      if (code === 0) resolve(parseScan(Buffer.concat(out)));
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
 * `throughLinks`: a deny must also hold through symbolic links (followLinks).
 */
export async function scanRoots(helper: string, roots: readonly string[], patterns: readonly string[], cacheDir: string | undefined, early: readonly PendingScan[] = [], throughLinks = false, names: readonly string[] = []): Promise<ScanResult> {
  if (roots.length === 0) return EMPTY;
  const want = [...roots].sort();
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  const hit = early.find((e) => same(e.roots, want) && same(e.patterns, patterns) && same(e.names ?? [], names));
  const result = await (hit ?? startScan(helper, want, patterns, cacheDir, undefined, names)).result;
  await Promise.all(early.filter((e) => e !== hit).map((e) => e.result.catch(() => undefined)));
  if (!throughLinks || result.links.length === 0) return result;
  return followLinks(result, want, (targets, maxDirs) => startScan(helper, targets, patterns, cacheDir, maxDirs).result);
}

/** The most bare git dirs walked again below (their own included), and how deep that goes. */
export const INSIDE_BARE_MAX = 1024;
const INSIDE_BARE_ROUNDS = 8;

/**
 * The scan walks a bare git dir's `objects/`, `modules/` and `worktrees/` as
 * git's (many objects; submodule and worktree git dirs), not as directories
 * of the tree. A directory made to look bare (`HEAD`, `objects/`, `refs/`:
 * a working directory, by a command in this run or an earlier one; or a
 * project that has those names of its own) would then hide its own
 * `modules/` or `worktrees/`, and a `.git` planted there. So each bare git
 * dir in the writable paths is walked again there as a tree (a scan per
 * round; none when there is no bare git dir, the usual case), and what that
 * finds joins the result. The same walk before the run and after it: what
 * the one before finds is known to the one after (a worktree's submodules,
 * a project's own repositories there), so only what the run made is new.
 * Bounded: past INSIDE_BARE_MAX dirs or INSIDE_BARE_ROUNDS rounds, the rest
 * is incomplete (closed for the run before it; the run fails after it).
 */
export function insideBareGitDirs(found: ScanResult, writable: readonly string[], scan: (roots: readonly string[]) => ScanResult): ScanResult {
  const mine = (p: string) => writable.some((w) => isWithin(p, w));
  const seen = new Set<string>();
  let all = found;
  let next = found.bareGitDirs.filter(mine);
  for (let round = 0; next.length > 0; round++) {
    const todo = next.filter((b) => !seen.has(b));
    if (todo.length === 0) break;
    if (round >= INSIDE_BARE_ROUNDS || seen.size + todo.length > INSIDE_BARE_MAX) return { ...all, incomplete: [...all.incomplete, ...todo] };
    for (const b of todo) seen.add(b);
    // Directories only (never followed): a link there is git's to follow, and the scan records it as such.
    const roots = todo.flatMap((b) => ['objects', 'modules', 'worktrees'].map((n) => join(b, n))).filter((d) => lstatSync(d, { throwIfNoEntry: false })?.isDirectory() === true);
    if (roots.length === 0) break;
    const more = scan(roots);
    all = {
      ...all,
      repos: [...all.repos, ...more.repos],
      submoduleGitDirs: [...all.submoduleGitDirs, ...more.submoduleGitDirs],
      bareGitDirs: [...all.bareGitDirs, ...more.bareGitDirs],
      worktreeGitDirs: [...all.worktreeGitDirs, ...more.worktreeGitDirs],
      moduleLinks: [...(all.moduleLinks ?? []), ...(more.moduleLinks ?? [])],
      ...(all.newLinks || more.newLinks ? { newLinks: [...(all.newLinks ?? []), ...(more.newLinks ?? [])] } : {}),
      matches: [...all.matches, ...more.matches],
      incomplete: [...all.incomplete, ...more.incomplete],
      unreadable: all.unreadable + more.unreadable,
      unreadablePaths: [...all.unreadablePaths, ...more.unreadablePaths],
      ids: { ...more.ids, ...all.ids },
    };
    next = more.bareGitDirs.filter(mine);
  }
  return all;
}

/** Directories outside the roots that links may lead the scan to, in all. */
export const LINK_TARGETS_MAX = 64;
/** Directories the scan of one round of link targets may look at. */
export const LINK_DIRS_MAX = 100_000;
/** Rounds of links found beyond links. */
const LINK_ROUNDS_MAX = 8;

/**
 * Matches reached through the symbolic links a scan found (`links`): a
 * `**`/.env deny must hold for `link/.env` when `link -> /elsewhere`. Each
 * link is resolved; a target outside everything scanned so far is scanned
 * too (the same patterns; links found there are followed in turn, up to
 * LINK_ROUNDS_MAX rounds), bounded by LINK_TARGETS_MAX targets and
 * LINK_DIRS_MAX directories looked at per round, each target once by its
 * real path (a cycle of links ends there).
 * Every match under a link's target is reported spelled through the link
 * (`linkedMatches`), so the policy can test its glob on that spelling.
 * Whatever could not be scanned whole is named in `linkedIncomplete`.
 */
export async function followLinks(result: ScanResult, roots: readonly string[], scan: (targets: string[], maxDirs: number) => Promise<ScanResult>): Promise<ScanResult> {
  const scanned: { root: string; res: ScanResult }[] = roots.map((root) => ({ root, res: result }));
  const linkedMatches: string[] = [];
  const linkedIncomplete: string[] = [];
  const expanded = new Set<string>();
  let targets = 0;
  let queue = result.links.map((link) => ({ via: link, link }));
  for (let round = 0; queue.length > 0; round++) {
    if (round === LINK_ROUNDS_MAX) {
      linkedIncomplete.push(...queue.map((q) => q.via));
      break;
    }
    const resolved: { via: string; real: string }[] = [];
    for (const q of queue) {
      const real = directoryAt(q.link);
      if (real) resolved.push({ via: q.via, real });
    }
    const owner = (p: string) => scanned.find((s) => isWithin(p, s.root));
    const fresh = [...new Set(resolved.map((r) => r.real).filter((r) => !owner(r)))].sort((a, b) => a.length - b.length);
    const take: string[] = [];
    for (const f of fresh) if (!take.some((t) => isWithin(f, t))) take.push(f);
    const over = take.splice(Math.max(0, LINK_TARGETS_MAX - targets));
    targets += take.length;
    if (take.length > 0) {
      const res = await scan(take, LINK_DIRS_MAX);
      for (const root of take) scanned.push({ root, res });
      linkedIncomplete.push(...res.incomplete);
    }
    const next: { via: string; link: string }[] = [];
    for (const r of resolved) {
      const from = owner(r.real);
      if (!from) {
        if (over.some((o) => isWithin(r.real, o))) linkedIncomplete.push(r.via);
        continue;
      }
      const through = (p: string) => r.via + p.slice(r.real.length);
      for (const m of from.res.matches) if (isWithin(m, r.real) && m !== r.real) linkedMatches.push(through(m));
      if (expanded.has(r.real)) continue;
      expanded.add(r.real);
      for (const l of from.res.links) if (isWithin(l, r.real) && l !== r.real) next.push({ via: through(l), link: l });
    }
    queue = next;
  }
  return { ...result, linkedMatches: [...new Set(linkedMatches)], linkedIncomplete: [...new Set(linkedIncomplete)] };
}

/** The real path of the directory `link` leads to now; undefined if it leads nowhere or to something else. */
function directoryAt(link: string): string | undefined {
  try {
    const real = realpathSync.native(link);
    return statSync(real).isDirectory() ? real : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pure: the scanner's NUL-separated `K<TAB>value` records → ScanResult, read
 * as bytes. A path that is not valid UTF-8 (a directory the command named
 * `$'\xff'`) cannot be carried by a JavaScript string: decoded, its bytes
 * become U+FFFD, and every later step (rules, mounts, the after-run
 * set-aside) would act on a path that does not exist while the real one
 * stayed unprotected. Such a record (of any kind: a repository, a match, a
 * link, an incomplete directory) is not used; its deepest ancestor that is
 * valid UTF-8 is reported `incomplete` instead, so the policy closes it for
 * the run and the check after a run fails closed there (guardUnscanned in
 * policy.ts, afterRun in launch.ts). Both the live walk and the cached replay
 * go through here. Proved by test/unit/platform/linux/scan.test.ts and
 * test/integration/git/scan.test.ts.
 */
export function parseScan(out: Buffer | string): ScanResult {
  const buf = typeof out === 'string' ? Buffer.from(out, 'utf8') : out;
  const r = { repos: [] as string[], submoduleGitDirs: [] as string[], bareGitDirs: [] as string[], worktreeGitDirs: [] as string[], moduleLinks: [] as string[], matches: [] as string[], links: [] as string[], newLinks: [] as string[], linkedMatches: [] as string[], incomplete: [] as string[], linkedIncomplete: [] as string[], unreadable: 0, unreadablePaths: [] as string[], ids: {} as Record<string, string>, gitFacts: {} as Record<string, string> };
  const unnamable = new Set<string>();
  // D and K records name the git dir of the G, S or B record right before them (K after D), and no other.
  let gitDir: string | undefined;
  let identified: string | undefined; // the git dir of a D record, for a K right after it
  for (let at = 0; at < buf.length; ) {
    let end = buf.indexOf(0, at);
    if (end < 0) end = buf.length;
    const rec = buf.subarray(at, end);
    at = end + 1;
    const owner = gitDir;
    const ownerOfK = owner ?? identified;
    gitDir = undefined;
    identified = undefined;
    if (rec.length < 2 || rec[1] !== 0x09) continue;
    const kind = String.fromCharCode(rec[0]!);
    if (!'GSBWMLNIEDUKY'.includes(kind)) continue;
    const bytes = rec.subarray(2);
    if (!isUtf8(bytes)) {
      if (kind !== 'E' && kind !== 'D') unnamable.add(validAncestor(bytes));
      continue;
    }
    const v = bytes.toString('utf8');
    switch (kind) {
      case 'D': if (owner !== undefined && /^\d+:\d+:\d+$/.test(v)) r.ids[owner] = v; identified = owner; break;
      case 'K': if (ownerOfK !== undefined && v.length === GIT_DIR_ENTRIES.length && /^[-dflpm?]+$/.test(v)) r.gitFacts[ownerOfK] = v; break;
      case 'G': r.repos.push(v); gitDir = join(v, '.git'); break;
      case 'S': r.submoduleGitDirs.push(v); gitDir = v; break;
      case 'B': r.bareGitDirs.push(v); gitDir = v; break;
      case 'W': r.worktreeGitDirs.push(v); break;
      case 'Y': r.moduleLinks.push(v); gitDir = v; break;
      case 'M': r.matches.push(v); break;
      case 'L': r.links.push(v); break;
      case 'N': r.newLinks.push(v); break;
      case 'I': r.incomplete.push(v); break;
      case 'E': r.unreadable = Number(v) || 0; break;
      case 'U': r.unreadablePaths.push(v); break;
    }
  }
  const seen = new Set(r.incomplete);
  for (const d of unnamable) if (!seen.has(d)) r.incomplete.push(d);
  return r;
}

/** The deepest ancestor of the absolute path `bytes` that is valid UTF-8 ("/" is never inside a multi-byte character). */
function validAncestor(bytes: Buffer): string {
  let cut = bytes;
  while (!isUtf8(cut)) {
    const slash = cut.lastIndexOf(0x2f);
    if (slash <= 0) return sep;
    cut = cut.subarray(0, slash);
  }
  return cut.toString('utf8');
}

/** 64-bit FNV-1a as 16 hex digits: a file name per key, not a security boundary. */
export function fnv1a(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text)) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h.toString(16).padStart(16, '0');
}
