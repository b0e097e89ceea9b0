/**
 * After the run: what the command created that git on the host would take
 * code from, where no mount could stop it (see WatchedPath in policy.ts). A
 * new repository anywhere in a writable root (found by scanning the roots
 * again: see Rescan in policy.ts) has its configuration and hooks moved
 * aside; a new `commondir`, `config.worktree` or `info/attributes` in a
 * protected repository is moved aside; so is a protected name (`.envrc`,
 * `.vscode`, `CLAUDE.md`, …) that appeared at the root of a work tree nested
 * in a writable root, where a missing one has no placeholder (the same scan
 * looks for them: createdNames). Nothing is deleted: each file keeps
 * its content under `NAME.cordon-untrusted`, and a warning says what moved
 * and how to take it back after reading it. A new repository gets a config
 * again, with only the keys that run nothing (its remotes, branches, user
 * name), so git keeps working there; a plain `git init` or `git clone`
 * config loses nothing and says nothing.
 *
 * Trust boundary: the tree is the command's. The moves are made by the
 * native helper relative to a descriptor of the writable root (setaside.h);
 * this module decides what to move and reads back what moved. One helper
 * run per writable root (two when a config is rewritten), plus the scan,
 * whose cache makes an unchanged directory one stat.
 */
import { spawnSync, type SpawnSyncOptionsWithBufferEncoding, type SpawnSyncOptionsWithStringEncoding } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { commandCouldMake, newLinksSince, withoutUnreachable, type Rescan, type WatchedPath } from '../../policy/policy.js';
import { isWithin, walkPath, type LinkHop } from '../../policy/paths.js';
import { AFTER_RUN_NAMES, PROTECTED_NAMES, SHELL_STARTUP } from '../../policy/protected.js';
import { insideBareGitDirs, scanTrees, type ScanResult } from './scan.js';
import { changedRoots, pathIdentities } from './no-follow.js';
import { reopenAncestors, reopenLocked, unreadableWarning } from './locks.js';


/**
 * Pure: the repositories the second scan found that the first did not, in a
 * writable root (a repository the host created elsewhere during the run is
 * not the command's): work trees, submodule git dirs and bare git dirs (git
 * finds those too). A root's own `.git` is already on the watch list. A new
 * linked worktree's git dir (`.git/worktrees/NAME`) needs nothing of its own:
 * git reaches it only through the worktree's `.git` file, a new repository
 * here, which is moved aside as a whole.
 *
 * A repository is one from before the run by identity, not by path: its git
 * dir must still have the identity (device, inode, birth time) the first scan
 * saw (Rescan.ids), else it was removed and made again, or another directory
 * was renamed onto its path, and it is new. Pins make both impossible for a
 * git dir in a writable root (test/integration/git/repository-identity.test.ts);
 * this is the check that does not depend on them
 * (test/unit/platform/linux/after-run.test.ts). A path on the watch list is
 * its watched path's (a `.git` link is made again, not set aside).
 */
export function newRepositories(rescan: Rescan, found: { readonly repos: readonly string[]; readonly submoduleGitDirs: readonly string[]; readonly bareGitDirs?: readonly string[]; readonly worktreeGitDirs?: readonly string[]; readonly moduleLinks?: readonly string[]; readonly ids?: Readonly<Record<string, string>> }, watch: readonly WatchedPath[] = []): WatchedPath[] {
  const known = new Set(rescan.known);
  const watched = new Set(watch.map((w) => w.path));
  const before = rescan.ids;
  const after = found.ids ?? {};
  const same = (gitDir: string) => !before || (Object.hasOwn(before, gitDir) && Object.hasOwn(after, gitDir) && before[gitDir] === after[gitDir]);
  const mine = (p: string) => rescan.writable.some((w) => isWithin(p, w));
  const keep = rescan.keepConfig ? { keepConfig: true } : {};
  const out: WatchedPath[] = [];
  for (const repo of found.repos) {
    const dotGit = join(repo, '.git');
    if (watched.has(repo) || watched.has(dotGit)) continue;
    if (!((known.has(repo) || known.has(dotGit)) && same(dotGit)) && mine(dotGit)) out.push({ path: dotGit, kind: 'repository', repo, ...keep });
  }
  for (const g of [...found.submoduleGitDirs, ...(found.bareGitDirs ?? [])]) if (!watched.has(g) && !(known.has(g) && same(g)) && mine(g)) out.push({ path: g, kind: 'repository', repo: g, ...keep });
  // A link where a module's git dir goes, new or replaced: git would follow it to a git dir of the command's choosing.
  for (const l of found.moduleLinks ?? []) if (!watched.has(l) && !(known.has(l) && same(l)) && mine(l)) out.push({ path: l, kind: 'git-file', repo: dirname(dirname(l)) });
  // A linked worktree's git dir the command made (`git worktree add` inside, whose `.git` file is moved aside as a
  // new repository's): what tells git, and the next run, which reads it, where the worktree's repository, work tree
  // and configuration are goes too, so neither takes a configuration of the command's from it (cut loose, as git's
  // `git worktree prune` would find it).
  for (const t of found.worktreeGitDirs ?? []) {
    if (known.has(t) || !mine(t)) continue;
    for (const n of WORKTREE_FILES) if (!watched.has(join(t, n))) out.push({ path: join(t, n), kind: 'git-file', repo: t });
  }
  return out;
}

/** What a linked worktree's git dir holds that names other places: its repository, its work tree, its own configuration. */
const WORKTREE_FILES = ['commondir', 'gitdir', 'config.worktree'];

/** The names of two components a later run holds (`.github/copilot-instructions.md`), by their last, and their first: the scan finds them by both. */
const TWO_PART = new Map(AFTER_RUN_NAMES.filter((n) => n.name.includes('/')).map((n) => [basename(n.name), { dir: dirname(n.name), why: n.why }]));
const TWO_PART_DIRS: ReadonlySet<string> = new Set([...TWO_PART.values()].map((t) => t.dir));

/**
 * Pure: the protected names (Rescan.names) that the command created at the
 * root of a git work tree nested in a writable root, where a missing one has
 * no placeholder: a match of the scan after the run that lies directly in a
 * work tree that scan found in a writable root (one from before the run, or
 * one the run made), that did not exist there before the run (heldNames:
 * those were read-only in it), and that lies in no directory closed for the
 * run. A writable root's own names are looked at only where recheckNames
 * says (a placeholder, which a command in another sandbox can write into on
 * the host, or a name a run still going may move aside). Each is moved aside
 * like a missing name in $HOME (kind `created`), unless it is an empty
 * directory (a placeholder of a run still going). Proved from inside by
 * test/integration/after-run/nested-names.test.ts.
 */
export function createdNames(rescan: Rescan, found: { readonly repos: readonly string[]; readonly matches: readonly string[] }): WatchedPath[] {
  if (!rescan.names || rescan.names.length === 0) return [];
  const names = new Set(rescan.names);
  const roots = new Set(rescan.writable);
  const trees = new Set(found.repos.filter((r) => !roots.has(r) && rescan.writable.some((w) => isWithin(r, w))));
  const held = new Set(rescan.heldNames ?? []);
  const recheck = new Set(rescan.recheckNames ?? []);
  const closed = new Set([...(rescan.closed ?? []), ...(rescan.unchecked ?? [])]);
  const inClosed = (p: string) => { for (let a = dirname(p); closed.size > 0; a = dirname(a)) { if (closed.has(a)) return true; if (a === sep) break; } return false; };
  const why = new Map([...PROTECTED_NAMES, ...AFTER_RUN_NAMES, ...SHELL_STARTUP].map((n) => [n.name, n.why]));
  // A shell startup file there is no shell's: only a link or a second name, which the next run would refuse to hold (WatchedPath.linkedOnly).
  const startup = new Set(SHELL_STARTUP.map((n) => n.name));
  const out: WatchedPath[] = [];
  const seen = new Set<string>();
  for (const m of found.matches) {
    const name = basename(m);
    if (!names.has(name) || TWO_PART.has(name) || TWO_PART_DIRS.has(name) || seen.has(m)) continue;
    // cordon's own settings, which a run started there or below reads: in a plain directory, one the command made or changed.
    if (name === '.cordon' && !trees.has(dirname(m)) && !roots.has(dirname(m)) && !recheck.has(m) && rescan.writable.some((w) => isWithin(m, w)) && !closed.has(m) && !inClosed(m)) {
      seen.add(m);
      out.push({ path: m, kind: 'created', repo: dirname(m), why: `${why.get(name) ?? 'a protected name'}, which a run started in ${dirname(m)} or below reads`, ifChanged: true, keepEmptyDir: true });
      continue;
    }
    if (!(trees.has(dirname(m)) && !held.has(m)) && !recheck.has(m)) continue;
    if (closed.has(m) || inClosed(m)) continue;
    seen.add(m);
    out.push({ path: m, kind: 'created', repo: dirname(m), why: `${why.get(name) ?? 'a protected name'}; at the root of a git repository`, keepEmptyDir: true, ...(startup.has(name) ? { linkedOnly: true } : {}) });
  }
  return out;
}

/** What a run holds at the root it starts in (a file whose names are all among these there is held whole). */
const HELD_AT_ROOT: readonly string[] = [...PROTECTED_NAMES, ...AFTER_RUN_NAMES, ...SHELL_STARTUP].map((n) => n.name);

/**
 * What would make a later run refuse to start, that the command made: a
 * protected name anywhere in a writable path (a match of the scan after the
 * run: a writable root's, a nested repository's or a plain directory's, each
 * the root of some later run) that a run started there would refuse to hold
 * read-only (`refusal`), and the links on its way or its second name. Each
 * of those is moved aside if it is still this user's and changed since the
 * run started (`ifLink`: the helper's `--move-if-linked`), so a link the
 * user made stays, and so does a refusal the command had no part in. Proved
 * from inside by test/integration/after-run/startup-links.test.ts.
 */
export function refusedLater(rescan: Rescan, found: { readonly matches: readonly string[] }): WatchedPath[] {
  if (!rescan.names || rescan.names.length === 0) return [];
  const names = new Set(rescan.names);
  const why = new Map([...PROTECTED_NAMES, ...AFTER_RUN_NAMES, ...SHELL_STARTUP].map((n) => [n.name, n.why]));
  const closed = [...(rescan.closed ?? []), ...(rescan.unchecked ?? [])];
  const mine = (p: string) => rescan.writable.some((w) => p !== w && isWithin(p, w));
  const out: WatchedPath[] = [];
  const seen = new Set<string>();
  const judge = (m: string, start: string, what: string) => {
    if (!mine(m) || closed.some((c) => isWithin(m, c))) return;
    for (const q of refusal(m, [...rescan.writable, start], start)) {
      if (seen.has(q) || !mine(q)) continue;
      seen.add(q);
      out.push({ path: q, kind: 'created', repo: dirname(q), why: `a run started in ${start} would refuse to hold ${m} (${what}) read-only, and would not start`, ifLink: true });
    }
  };
  for (const m of new Set(found.matches)) {
    const base = basename(m);
    const two = TWO_PART.get(base);
    if (two) {
      // In a `.github` that is a directory (the scan lists it); one that is a link is judged by its own name, below.
      if (basename(dirname(m)) === two.dir) judge(m, dirname(dirname(m)), two.why);
    } else if (TWO_PART_DIRS.has(base)) {
      for (const [last, t] of TWO_PART) if (t.dir === base && lstatSync(m, { throwIfNoEntry: false })?.isSymbolicLink()) judge(join(m, last), dirname(m), t.why);
    } else if (names.has(base)) judge(m, dirname(m), why.get(base) ?? 'a protected name');
  }
  return out;
}

/**
 * Why a run whose writable paths are `roots` would refuse to hold the
 * protected name `p` (policy.ts refuseHoldingRoot, refuseLinkedProtected):
 * the links on its way, if it leads to one of `roots` or above, to a file
 * with a name that is no protected name of its directory, or through
 * `/proc` (which leads elsewhere for each process that looks); `p` itself,
 * if it is such a file. Empty if that run would hold it (a link that leads
 * nowhere it watches as such). Looked at once the command has ended: links
 * are read, nothing is opened.
 */
function refusal(p: string, roots: readonly string[], start: string): string[] {
  let st;
  try {
    st = lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return [];
  }
  if (st?.isFile()) return secondName(st, start) ? [p] : [];
  if (!st?.isSymbolicLink()) return [];
  let hops: readonly LinkHop[];
  try {
    hops = walkPath(p, WALK_PARTS_MAX).links;
  } catch {
    // More links or names on the way than a run resolves: it would refuse; the link itself goes if it is new.
    return [p];
  }
  const links = hops.map((h) => h.link);
  if (hops.some((h) => h.target === '/proc' || h.target.startsWith('/proc/'))) return links;
  let lands: string;
  try {
    lands = realpathSync(p);
  } catch {
    return [];
  }
  if (roots.some((r) => isWithin(r, lands))) return links;
  let t;
  try {
    t = lstatSync(lands, { throwIfNoEntry: false });
  } catch {
    return [];
  }
  return t?.isFile() && secondName(t, start) ? links : [];
}

/**
 * Whether a run started in `start` would find the file `st` to have a name
 * that run does not hold (refuseLinkedProtected: the names of one file it
 * holds are held together), through which the command could rewrite it:
 * this user's file, or one anyone may write.
 */
function secondName(st: Stats, start: string): boolean {
  if (st.nlink <= 1 || (st.uid !== process.geteuid?.() && (st.mode & 0o022) === 0)) return false;
  let held = 0;
  for (const n of HELD_AT_ROOT) {
    let o;
    try {
      o = lstatSync(join(start, n), { throwIfNoEntry: false });
    } catch {
      continue; // a name too long, a file on the way: not one of its names
    }
    if (o?.isFile() && o.ino === st.ino && o.dev === st.dev) held++;
  }
  return held < st.nlink;
}

/**
 * Moves aside what appeared; returns one warning per watched path that
 * needed it. The moves are made by the native helper (`setaside`,
 * native/setaside.h), relative to a descriptor of the writable root, never
 * following a symlink, never replacing anything: the tree is the command's
 * (and a second run may still be changing it). `roots`: the writable roots
 * (every watched path lies beneath one).
 */
export function setAsideCreated(watch: readonly WatchedPath[], roots: readonly string[], helper: string, git = 'git'): string[] {
  return setAside(watch, { roots, helper, git }).warnings;
}

export interface SetAsideOptions {
  readonly roots: readonly string[];
  readonly helper: string;
  /** Each root's identity when the run started (rootIdentities): a root replaced since (by a second run) is not touched. */
  readonly rootIds?: Readonly<Record<string, string>>;
  readonly git?: string;
  /** When the run started (ns since the epoch, as a decimal string): a rebase's state changed before then is the user's own. */
  readonly since?: string;
  /** Rescan.relativeHooks: in a repository the command made, the hooks directories these name are moved aside too. */
  readonly relativeHooks?: readonly string[];
}

/**
 * The paths the run held read-only by a mount (LinuxPlan.guardIds: its
 * protected files and directories inside writable paths, and its
 * placeholders) that are another file or directory now. The host replacing
 * one while the command ran (git writes its config by renaming a new one
 * over it, editors save that way, husky removes and remakes hooks) detaches
 * its mount in the sandbox, and the command could write what is there from
 * then on: each is moved aside (a git config's harmless keys kept, as for a
 * new repository). A path that is gone now is nothing to move. Pure but for
 * one lstat of each path (no-follow.ts pathIdentities).
 */
export function replacedGuards(ids: Readonly<Record<string, string>>, writable: readonly string[], unheld: readonly string[] = []): WatchedPath[] {
  const paths = Object.keys(ids).filter((p) => typeof ids[p] === 'string' && p.startsWith(sep) && writable.some((w) => p !== w && isWithin(p, w)));
  const now = pathIdentities(paths);
  // An empty directory holds nothing a tool would run: a placeholder that another run in the same place removed and
  // made again while this one ran (its own, mounted in that run's sandbox, which moving it would take away).
  const changed = paths.filter((p) => now[p] !== undefined && now[p] !== ids[p] && !emptyDir(p));
  return changed.map((p) => ({ path: p, kind: 'replaced' as const, repo: dirname(p), why: unheld.includes(p) ? THEIRS : 'held read-only for the run' }));
}

function emptyDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory() && readdirSync(p).length === 0;
  } catch {
    return false;
  }
}

/** Why a `replaced` path is another user's (Rescan.unheld), which the run did not hold. */
const THEIRS = "another user's entry at a protected name, not held for the run";

/**
 * The held paths the host replaced (replacedGuards) in the writable paths
 * that are still the directories the run wrote in (not `moved`), less those
 * a step already in `watch` moves aside (withoutWatched): what the step
 * after the run adds for them, live or from a journal.
 */
export function heldReplaced(guardIds: Readonly<Record<string, string>>, writable: readonly string[], moved: readonly string[], watch: readonly WatchedPath[], unheld: readonly string[] = []): WatchedPath[] {
  return withoutWatched(replacedGuards(guardIds, writable.filter((r) => !moved.includes(r)), unheld), watch);
}

/** The entries of `extra` that no entry of `watch` covers (the same path, or one inside a repository's git dir it moves aside). */
export function withoutWatched(extra: readonly WatchedPath[], watch: readonly WatchedPath[]): WatchedPath[] {
  const watched = new Set(watch.map((w) => w.path));
  const covered = (p: string): boolean => {
    for (let a = p; ; a = dirname(a)) {
      if (watched.has(a)) return true;
      if (a === dirname(a)) return false;
    }
  };
  return extra.filter((e) => !covered(e.path));
}

/** The identities of the roots the scan walked (directories), not of writable files. */
export function pickDirectories(ids: Readonly<Record<string, string>>, writable: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(ids).filter(([p]) => writable.includes(p)));
}

/**
 * The state of a rebase or a cherry-pick in progress (`rebase-merge/`,
 * `sequencer/`) in every git dir the scan after the run found: git runs its
 * todo list's `exec` lines, and the merge strategy it names, at `git rebase
 * --continue` or `git cherry-pick --continue`, which `git status` suggests.
 * One the run changed (or renamed into place) is moved aside whole.
 */
export function sequencerStates(found: Pick<ScanResult, 'repos' | 'submoduleGitDirs' | 'bareGitDirs' | 'worktreeGitDirs'>, writable: readonly string[]): WatchedPath[] {
  const gitDirs = [...found.repos.map((r) => join(r, '.git')), ...found.submoduleGitDirs, ...(found.bareGitDirs ?? []), ...(found.worktreeGitDirs ?? [])];
  return gitDirs.filter((g) => writable.some((w) => isWithin(g, w))).flatMap((g) => STATE_DIRS.map((t) => ({ path: join(g, t), kind: 'todo' as const, repo: g })));
}

const STATE_DIRS = ['rebase-merge', 'sequencer'];

/** What the command made at `p` (a link, or a second name of a file), for a warning; read after it was moved. */
function madeWhat(p: string): string {
  try {
    return `a symbolic link (to ${JSON.stringify(readlinkSync(p))})`;
  } catch {
    return lstatSync(p, { throwIfNoEntry: false })?.isFile() ? 'another name of a file' : 'a symbolic link';
  }
}

/** Why a link into a git dir is moved aside (linksIntoGitDirs). */
const INTO_GIT_DIR = 'it leads into a git directory, and git run where it leads takes a repository made there for its own and runs its configuration (a shell prompt\'s `git status` after `cd`)';

/**
 * The symbolic links the command made in a writable path (ScanResult.newLinks)
 * that lead into a `.git` (leadsIntoGit). The scan does not walk inside a
 * `.git`, so a repository the command makes there (`.git/objects/x`) is
 * protected by nothing; git finds it only when run from inside it, which
 * such a link arranges (`modules/foo -> ../.git/objects/x`, then `cd
 * modules/foo` in a shell whose prompt runs `git status`). Each is moved
 * aside (the helper's `--move-if-linked`: still this user's link, changed
 * since the run started, or since `linkedSince`: the scan's start of new
 * links, Rescan.linksSince), whether it leads anywhere yet or not: one that
 * leads nowhere now could lead into a repository a later run makes there.
 * Proved from inside by test/integration/git/git-dir-links.test.ts.
 */
export function linksIntoGitDirs(found: Pick<ScanResult, 'newLinks'>, writable: readonly string[], linkedSince?: string): WatchedPath[] {
  let walks = 0;
  const mayWalk = () => ++walks <= DANGLING_WALKS_MAX;
  return (found.newLinks ?? []).filter((l) => writable.some((w) => l !== w && isWithin(l, w)) && leadsIntoGit(l, mayWalk)).map((l) => ({ path: l, kind: 'created' as const, repo: dirname(l), why: INTO_GIT_DIR, ifLink: true, ...(linkedSince ? { linkedSince } : {}) }));
}

/**
 * Bounds on judging the links a command made, whatever it made: links that
 * lead nowhere walked name by name (past that many, each is taken for one
 * that leads into a `.git`, and moved aside: a build makes few), and the
 * names looked at in one walk.
 */
const DANGLING_WALKS_MAX = 1000;
const WALK_PARTS_MAX = 256;

/** Whether a path has a component `.git`, in any case (a directory made case-insensitive, `chattr +F`, takes `.GIT` for it). */
function namesGit(p: string): boolean {
  return p.split('/').some((c) => c.toLowerCase() === '.git');
}

/**
 * Whether the link at `l` leads into a `.git`: its text names one, or where
 * it leads, resolved as the kernel does (a link on the way followed before
 * a `..` after it), has one: the real path of its target, or for a link that
 * leads nowhere yet the parts that exist and the rest as written (`mayWalk`:
 * within the bounds above; past them, yes). Looked at once the command has
 * ended: links are read, nothing is opened.
 */
function leadsIntoGit(l: string, mayWalk: () => boolean): boolean {
  let text: string;
  try {
    text = readlinkSync(l);
  } catch {
    return false;
  }
  if (namesGit(text)) return true;
  try {
    return namesGit(realpathSync.native(l));
  } catch (e) {
    // A loop leads nowhere, whatever it is made of (a link that breaks it later is a new link then).
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') return false;
  }
  if (!mayWalk() || text.split('/').length > WALK_PARTS_MAX) return true;
  try {
    const w = walkPath(l, WALK_PARTS_MAX);
    return namesGit(w.path) || w.links.some((h) => namesGit(h.lands));
  } catch {
    return true;
  }
}

/** One thing the step after the run did to a path (an after-run.set-aside event); `message` is also one of the warnings. */
export interface SetAsideAction {
  readonly path: string;
  readonly action: 'moved' | 'relinked' | 'failed';
  readonly movedTo?: string;
  readonly why: string;
  readonly message: string;
}

/**
 * setAsideCreated, also saying how many watched paths could not be handled
 * (a move or a check that failed): the caller fails the run then, closed;
 * and what was done to each path, as values.
 */
export function setAside(watch: readonly WatchedPath[], o: SetAsideOptions): { warnings: string[]; unresolved: number; actions: SetAsideAction[] } {
  const warnings: string[] = [];
  const actions: SetAsideAction[] = [];
  let unresolved = 0;
  const byRoot = new Map<string, WatchedPath[]>();
  const seen = new Set<string>();
  for (const w of watch) {
    if (seen.has(w.path)) continue; // one op per path: a second would report on the first one's result
    seen.add(w.path);
    // A writable root itself may be a new repository: the command made it a bare git dir (HEAD, objects/, refs/).
    const root = o.roots.filter((r) => (w.path !== r || w.kind === 'repository') && isWithin(w.path, r)).sort((a, b) => b.length - a.length)[0];
    if (!root) warnings.push(`${w.path} lies in no writable path; not checked (an internal error: report it)`);
    else {
      const list = byRoot.get(root);
      if (list) list.push(w);
      else byRoot.set(root, [w]);
    }
  }
  for (const [root, list] of byRoot) {
    const due = list.filter(mayNeedWork);
    if (due.length === 0) continue;
    const r = setAsideIn(root, due, o.helper, o.git ?? 'git', o.rootIds?.[root], o.since, o.relativeHooks, o.roots);
    warnings.push(...r.warnings);
    actions.push(...r.actions);
    unresolved += r.unresolved;
  }
  return { warnings, unresolved, actions };
}

/**
 * A cheap look first, so that a run that left nothing to do starts no helper
 * (the usual case): a watched path that is absent, or a watched link that
 * still points where it did. It only skips work: what it sees is never acted
 * on (anything present goes to the helper, which looks again fd-relative).
 * A second run racing in the same directory has the same watch list and
 * handles what it makes itself. An empty directory where that is all right
 * (keepEmptyDir) is left: only a run that did not hold it read-only could
 * fill it later, and that run checks it itself (createdNames, inheritNames).
 */
function mayNeedWork(w: WatchedPath): boolean {
  try {
    if (w.kind === 'link') return readlinkSync(w.path) !== w.target;
    // Most git dirs have no rebase in progress, and a `.git` file has none inside.
    if (w.kind === 'todo') return lstatSync(w.path, { throwIfNoEntry: false }) !== undefined;
    const st = lstatSync(w.path, { throwIfNoEntry: false });
    if (st?.isDirectory() && w.keepEmptyDir) return readdirSync(w.path).length > 0;
    return st !== undefined;
  } catch (e) {
    if (w.kind === 'todo' && (e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    return true; // a link or a file on the way (ELOOP, ENOTDIR, EINVAL): the helper says what it is
  }
}

/** What a new repository's git directory holds that can make git run code, and how each is moved. */
const IN_NEW_REPOSITORY: readonly { name: string; op: '--move' | '--move-read' | '--move-hooks' }[] = [
  { name: 'config', op: '--move-read' },
  { name: 'config.worktree', op: '--move' },
  { name: 'commondir', op: '--move' },
  { name: 'hooks', op: '--move-hooks' },
  { name: 'info/attributes', op: '--move' },
];

/**
 * How a replaced held path is moved: the config of a work tree's git dir
 * (`.git/config`, a submodule's or a worktree's under `.git/`) read, and a
 * harmless one made again; its hooks as hooks; anything else whole. Judged
 * by the path alone (nothing the command could have put there is looked at).
 */
function replacedOp(path: string): '--move-read' | '--move-hooks' | '--move' {
  const gitDir = dirname(path);
  const inGitDir = basename(gitDir) === '.git' || gitDir.includes(`${sep}.git${sep}modules${sep}`) || gitDir.includes(`${sep}.git${sep}worktrees${sep}`);
  if (inGitDir && basename(path) === 'config') return '--move-read';
  if (inGitDir && basename(path) === 'hooks') return '--move-hooks';
  return '--move';
}

/**
 * The hooks directories a relative core.hooksPath of the system or global
 * configuration names in a new repository (from its work tree; a bare or
 * submodule git dir's own): in the root, never the git dir's own `hooks`
 * (moved already), each once.
 */
function relativeHooksIn(w: WatchedPath, root: string, relativeHooks: readonly string[]): string[] {
  const base = w.path.endsWith('/.git') ? w.repo : w.path;
  const own = join(w.path, 'hooks');
  return [...new Set(relativeHooks.map((v) => resolve(base, v.startsWith('./') ? v.slice(2) : v)))].filter((d) => d !== own && d !== root && isWithin(d, root));
}

/**
 * Whether what is at `p` (a protected name's place) would make the next run
 * refuse to hold it read-only: a symbolic link to a writable path or a
 * directory above one (policy.ts refuseHoldingRoot), or a file with another
 * name, or a link to one (refuseLinkedProtected). A link within the project (`.bashrc ->
 * bash/.bashrc`, a dotfiles repository's) or one whose target is missing
 * is no such thing, and stays. Looked at once the command has ended; the
 * helper checks the type, owner and time again before it moves anything.
 */
function refusedNextRun(p: string, roots: readonly string[]): boolean {
  return refusal(p, roots, dirname(p)).length > 0;
}

function setAsideIn(root: string, watch: readonly WatchedPath[], helper: string, git: string, rootId: string | undefined, since = '0', relativeHooks: readonly string[] = [], roots: readonly string[] = [root]): { warnings: string[]; unresolved: number; actions: SetAsideAction[] } {
  const rel = (p: string) => p.slice(root.length + 1);
  // An entry of a git dir, relative to the root (which may be that git dir).
  const inGitDir = (w: WatchedPath, name: string) => (w.path === root ? name : `${rel(w.path)}/${name}`);
  const ops: string[] = [];
  for (const w of watch) {
    if (w.kind === 'todo') ops.push('--move-if-changed', rel(w.path), since);
    else if (w.kind === 'replaced') ops.push(replacedOp(w.path), rel(w.path));
    else if (w.ifLink) ops.push('--move-if-linked', rel(w.path), w.linkedSince ?? since);
    else if (w.ifChanged) ops.push('--move-if-changed', rel(w.path), since);
    else if (w.linkedOnly) {
      // Refused by a run from where it lies too (a nested repository, a plain directory: that run's writable path).
      if (refusedNextRun(w.path, [...roots, w.repo])) ops.push('--move-if-linked', rel(w.path), since);
    }
    else if (w.onlyOwn) ops.push('--move-own', rel(w.path), since);
    else if (w.kind === 'git-file' || w.kind === 'created') ops.push('--move', rel(w.path));
    else if (w.kind === 'link') ops.push('--relink', rel(w.path), w.target!);
    else {
      // A .git file or link redirects git as a whole; a git directory is emptied of what runs code.
      // (A writable path named .git made a bare repository is the root itself: it stays.)
      if (w.path.endsWith('/.git') && w.path !== root) ops.push('--move-unless-dir', rel(w.path));
      for (const item of IN_NEW_REPOSITORY) if (!(item.name === 'config' && w.keepConfig)) ops.push(item.op, inGitDir(w, item.name));
      for (const d of relativeHooksIn(w, root, relativeHooks)) ops.push('--move-hooks', rel(d));
    }
  }
  const done = runSetAside(helper, root, ops, rootId);
  const warnings: string[] = [];
  const actions: SetAsideAction[] = [];
  const act = (a: SetAsideAction) => { actions.push(a); warnings.push(a.message); };
  moveLinksOnTheWay(root, done, watch, helper, rootId, act);
  const creates: string[] = [];
  let unresolved = 0;
  const failed = (p: string, why: string, repo: string) => `the command created ${p}, which can make git on the host run code, and it could not be moved aside (${why}): read it before running git in ${repo}`;
  const GIT_CODE = 'git on the host would run code from it';
  for (const w of watch) {
    const r = rel(w.path);
    if (w.kind === 'link') {
      const d = done.get(r);
      if (d?.kind === 'failed') unresolved++, act({ path: w.path, action: 'failed', why: w.why ?? 'protected', message: `the command replaced the link ${w.path} -> ${w.target} (${w.why ?? 'protected'}), and it could not be made again (${d.detail}): read what is there before anything on the host uses it` });
      else if (d?.kind === 'relinked') act({ path: w.path, action: 'relinked', ...(d.detail ? { movedTo: join(root, d.detail) } : {}), why: w.why ?? 'protected', message: `the command replaced the link ${w.path} -> ${w.target} (${w.why ?? 'protected'}); the link was made again${d.detail ? `, and what the command put there was moved to ${join(root, d.detail)}` : ''}. Read it before using it` });
      continue;
    }
    if (w.kind === 'todo') {
      const d = done.get(r);
      if (d?.kind === 'failed') unresolved++, act({ path: w.path, action: 'failed', why: GIT_CODE, message: failed(w.path, d.detail, w.repo) });
      else if (d?.kind === 'moved') act({ path: w.path, action: 'moved', movedTo: join(root, d.detail), why: 'git rebase --continue or git cherry-pick --continue would run its commands and merge strategy on the host', message: `the command left a rebase or cherry-pick in progress in ${w.repo}, whose state (${basename(w.path)}) names shell commands and a merge strategy that \`git rebase --continue\` or \`git cherry-pick --continue\` would run; it was moved to ${join(root, d.detail)}. Read its git-rebase-todo (or todo), strategy and opts before moving it back; without it, git sees no rebase in progress (the branch is the one its head-name names)` });
      continue;
    }
    if (w.kind === 'replaced') {
      const d = done.get(r);
      const held = w.why === THEIRS
        ? `${w.path} was another user's entry at a protected name, which cordon does not hold, and it was replaced while the command ran (a command run as root may rename another user's entry in a directory root owns): what is there now may be the command's`
        : `${w.path} was held read-only for the run, and was replaced on the host while the command ran (a rename over it or a new one in its place, as git and editors save), which ends that hold in the sandbox: what is there now may be the command's`;
      if (d?.kind === 'failed') unresolved++, act({ path: w.path, action: 'failed', why: w.why ?? 'protected', message: `${held}, and it could not be moved aside (${d.detail}): read it before anything on the host uses it` });
      if (d?.kind !== 'moved') continue;
      let kept = '';
      if (replacedOp(w.path) === '--move-read') {
        // A git config goes on: the new one keeps what cannot run code (remotes, branches, user), as for a new repository's.
        const h = harmlessConfig(d.content ?? '', git);
        creates.push('--create', r, h.text);
        kept = h.dropped.length > 0 ? `; a new config keeps its harmless keys (${h.dropped.join(', ')} not kept)` : '; a new config with the same keys is in its place (none of them makes git run code)';
      }
      act({ path: w.path, action: 'moved', movedTo: join(root, d.detail), why: w.why ?? 'protected', message: `${held}. It was moved to ${join(root, d.detail)}${kept}. Read it before moving it back` });
      continue;
    }
    if (w.kind === 'created') {
      const d = done.get(r);
      // EACCES: a directory on the way that cordon may not search (the command can chmod its own): what is there is not known.
      if (d?.kind === 'failed' && d.detail.startsWith('EACCES')) unresolved++, act({ path: w.path, action: 'failed', why: w.why ?? 'protected', message: `cordon could not look at ${w.path} (${w.why ?? 'protected'}; ${d.detail}: a directory on its way is not searchable, which the command can do to its own), so it may hold what the command put there: make the directory searchable and look before anything on the host uses it` });
      else if (d?.kind === 'failed') unresolved++, act({ path: w.path, action: 'failed', why: w.why ?? 'protected', message: `the command created ${w.path} (${w.why ?? 'protected'}), and it could not be moved aside (${d.detail}): read it before anything on the host uses it` });
      else if (d?.kind === 'moved' && w.ifChanged) act({ path: w.path, action: 'moved', movedTo: join(root, d.detail), why: w.why ?? 'protected', message: `the command made or changed ${w.path} (${w.why ?? 'protected'}); it was moved to ${join(root, d.detail)}. Read it before moving it back` });
      else if (d?.kind === 'moved' && w.ifLink) act({ path: w.path, action: 'moved', movedTo: join(root, d.detail), why: w.why ?? 'protected', message: `the command made ${w.path} ${madeWhat(join(root, d.detail))}: ${w.why ?? 'protected'}. It was moved to ${join(root, d.detail)}; read what lies where it leads before moving it back` });
      else if (d?.kind === 'moved' && w.linkedOnly) act({ path: w.path, action: 'moved', movedTo: join(root, d.detail), why: w.why ?? 'protected', message: `the command made ${w.path} (${w.why ?? 'protected'}) a symbolic link to a writable path or a directory above one, or another name of a file, which cordon would refuse to hold read-only at the next run there; it was moved to ${join(root, d.detail)}` });
      else if (d?.kind === 'moved') act({ path: w.path, action: 'moved', movedTo: join(root, d.detail), why: w.why ?? 'protected', message: `the command created ${w.path} (${w.why ?? 'protected'}), which the host would use; it was moved to ${join(root, d.detail)}. Read it before moving it back` });
      continue;
    }
    if (w.kind === 'git-file' || done.get(r)?.kind === 'moved') {
      const d = done.get(r);
      if (d?.kind === 'failed') unresolved++, act({ path: w.path, action: 'failed', why: GIT_CODE, message: failed(w.path, d.detail, w.repo) });
      else if (d?.kind === 'moved' && w.kind === 'git-file') act({ path: w.path, action: 'moved', movedTo: join(root, d.detail), why: 'git on the host would use another configuration or run filters', message: `the command created ${w.path}, which makes git on the host use another configuration or run filters; it was moved to ${join(root, d.detail)}. Read it before moving it back` });
      else if (d?.kind === 'moved') act({ path: w.path, action: 'moved', movedTo: join(root, d.detail), why: 'it points git elsewhere: git on the host would take its configuration and hooks from there', message: `the command made ${w.repo} a git repository (${w.path} points git elsewhere); git on the host would take its configuration and hooks from there, so it was moved to ${join(root, d.detail)}. Check where it points before moving it back` });
      continue;
    }
    const moved: string[] = [];
    const movedItems: { path: string; movedTo: string }[] = [];
    for (const item of IN_NEW_REPOSITORY) {
      const d = done.get(inGitDir(w, item.name));
      if (!d) continue;
      if (d.kind === 'failed') unresolved++, act({ path: join(w.path, item.name), action: 'failed', why: GIT_CODE, message: failed(join(w.path, item.name), d.detail, w.repo) });
      if (d.kind !== 'moved') continue;
      movedItems.push({ path: join(w.path, item.name), movedTo: join(root, d.detail) });
      if (item.name !== 'config') {
        moved.push(`${item.name} -> ${relative(w.path, join(root, d.detail))}`);
        continue;
      }
      // Without a config, git inside the next sandbox (which protects it with
      // a placeholder) cannot read one: the new one keeps what is harmless.
      const kept = harmlessConfig(d.content ?? '', git);
      creates.push('--create', inGitDir(w, 'config'), kept.text);
      const to = relative(w.path, join(root, d.detail));
      if (kept.dropped.length > 0) moved.push(`config -> ${to} (${kept.dropped.join(', ')} not kept)`);
      else if (d.content === undefined) moved.push(`config -> ${to} (not a small regular file)`);
    }
    // The hooks directory a relative core.hooksPath of the user's configuration names in it.
    for (const d of relativeHooksIn(w, root, relativeHooks)) {
      const done1 = done.get(rel(d));
      if (done1?.kind === 'failed') unresolved++, act({ path: d, action: 'failed', why: GIT_CODE, message: failed(d, done1.detail, w.repo) });
      if (done1?.kind !== 'moved') continue;
      movedItems.push({ path: d, movedTo: join(root, done1.detail) });
      moved.push(`${relative(w.repo, d) || d} (core.hooksPath) -> ${relative(w.repo, join(root, done1.detail))}`);
    }
    if (moved.length > 0) {
      const message = `the command created a git repository in ${w.repo}; git on the host would run code from its configuration and hooks, so in ${w.path} they were moved aside (${moved.join(', ')}). Read them before moving them back`;
      warnings.push(message);
      // One sentence for the person; one event for each path moved.
      for (const m of movedItems) actions.push({ ...m, action: 'moved', why: `a git repository the command created: ${GIT_CODE}`, message });
    }
  }
  if (creates.length > 0) {
    // Not written: something may stand there now (a command of a run still going, which wrote first), so the run fails, closed.
    for (const [p, d] of runSetAside(helper, root, creates, rootId)) {
      if (d.kind !== 'failed') continue;
      unresolved++;
      warnings.push(`could not write a new ${join(root, p)} (${d.detail}): read what is there, if anything, before running git in that repository`);
    }
  }
  return { warnings, unresolved, actions };
}

/**
 * A watched path that could not be reached because a symbolic link stands on
 * its way (ELOOP): the command replaced a directory above it with a link to
 * one of its own (`~/.config` -> a directory holding `cordon/settings.json`
 * and `git/config`), and the host would read through it. Watched paths are
 * resolved, so no link the host had is on their way: the first link on the
 * way is moved aside (the helper renames that entry, never following it),
 * and the path behind it, no longer there, needs nothing more. What a link's
 * move leaves failed stays failed (the run fails, closed).
 */
function moveLinksOnTheWay(root: string, done: Map<string, SetAsideResult>, watch: readonly WatchedPath[], helper: string, rootId: string | undefined, act: (a: SetAsideAction) => void): void {
  const behind = new Map<string, string[]>();
  for (const [r, d] of done) {
    if (d.kind !== 'failed' || !d.detail.startsWith('ELOOP')) continue;
    const link = firstLinkOnTheWay(root, r);
    if (link !== undefined) behind.set(link, [...(behind.get(link) ?? []), r]);
  }
  if (behind.size === 0) return;
  const moved = runSetAside(helper, root, [...behind.keys()].flatMap((l) => ['--move', l]), rootId);
  for (const [link, paths] of behind) {
    const m = moved.get(link);
    if (m?.kind !== 'moved') continue;
    for (const r of paths) done.set(r, { kind: 'absent', detail: '' });
    const why = watch.find((w) => w.path === join(root, paths[0]!))?.why ?? 'protected';
    act({ path: join(root, link), action: 'moved', movedTo: join(root, m.detail), why, message: `the command put a symbolic link at ${join(root, link)}, on the way to ${paths.map((r) => join(root, r)).join(', ')} (${why}), so the host would read there what it chose; the link was moved to ${join(root, m.detail)}. What was at ${join(root, link)} before the run is wherever the command moved it: read both before moving anything back` });
  }
}

/** The first of `rel`'s directories (beneath `root`, its last component left out) that is a symbolic link now; lstat only: the helper acts on it fd-relative. */
function firstLinkOnTheWay(root: string, rel: string): string | undefined {
  const parts = rel.split(sep);
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join(sep);
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(join(root, prefix));
    } catch {
      return undefined; // gone, or changing under a run still going: the path stays failed
    }
    if (st.isSymbolicLink()) return prefix;
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}

/**
 * The processes of the step after the run start in a session of their own:
 * a second Ctrl-C (or a SIGTERM) to cordon's process group must not end one
 * while cordon waits for it (test/integration/after-run/after-run-signals.test.ts).
 * Node's spawnSync honours `detached` as spawn does, though its types leave
 * it out. A signal to the group can still reach the child in the moment
 * between its fork and its setsid(), before it has run anything: such a
 * start is made again (it did nothing), a few times.
 */
const OWN_SESSION = { detached: true };
const GROUP_SIGNALS: readonly string[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * A process of its own session, started again while a signal to cordon's
 * process group ends it: one sent between the fork and its setsid reaches
 * it (held until then, it is delivered after), before it has done anything.
 * A Ctrl-C held down, or a supervisor's signals, on a loaded machine can do
 * that several times in a row; past SESSION_STARTS, the step fails, closed.
 */
function spawnSyncOwnSession<T extends { readonly signal: NodeJS.Signals | null }>(start: () => T): T {
  let r = start();
  for (let i = 1; i < SESSION_STARTS && r.signal !== null && GROUP_SIGNALS.includes(r.signal); i++) r = start();
  return r;
}

/** How many times spawnSyncOwnSession starts a process that a signal to the group ended. */
const SESSION_STARTS = 50;

interface SetAsideResult { readonly kind: 'moved' | 'absent' | 'kept' | 'created' | 'failed' | 'relinked'; readonly detail: string; readonly content?: string }

/** One run of `cordon-helper setaside`: its NUL-separated records, by relative path. */
function runSetAside(helper: string, root: string, ops: readonly string[], rootId: string | undefined): Map<string, SetAsideResult> {
  const out = new Map<string, SetAsideResult>();
  if (ops.length === 0) return out;
  // The ops go on stdin: thousands of new repositories would overflow argv (E2BIG).
  const input = Buffer.from([...(rootId ? ['--root-id', rootId] : []), ...ops].map((a) => `${a}\0`).join(''));
  const r = spawnSyncOwnSession(() => spawnSync(helper, ['setaside', root, '--ops-stdin'], { input, encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'], ...OWN_SESSION } as SpawnSyncOptionsWithBufferEncoding));
  if (r.error || r.status !== 0) {
    const why = r.error?.message ?? (r.stderr.toString().trim() || `exit ${r.status ?? r.signal}`);
    for (let i = 0; i < ops.length; i++) if (ops[i]!.startsWith('--')) out.set(ops[i + 1]!, { kind: 'failed', detail: why });
    return out;
  }
  const f = r.stdout.toString('utf8').split('\0');
  for (let i = 0; i + 1 < f.length; ) {
    const kind = f[i]!;
    const path = f[i + 1]!;
    if (kind === 'moved' || kind === 'failed' || kind === 'relinked') { out.set(path, { kind, detail: f[i + 2] ?? '' }); i += 3; }
    else if (kind === 'content') { const prev = out.get(path); if (prev) out.set(path, { ...prev, content: f[i + 2] ?? '' }); i += 3; }
    else if (kind === 'absent' || kind === 'kept' || kind === 'created') { out.set(path, { kind, detail: '' }); i += 2; }
    else break;
  }
  return out;
}

/**
 * Keys that tell git how to read a repository and where its remotes and
 * branches are, and nothing that makes git run a program: an allowlist, so
 * that a key this list does not know (a future git's hook-like setting) is
 * dropped, not kept. `<name>` stands for any subsection.
 */
const HARMLESS_KEYS = new Set([
  'core.repositoryformatversion', 'core.bare', 'core.filemode', 'core.logallrefupdates', 'core.symlinks', 'core.ignorecase', 'core.precomposeunicode', 'core.autocrlf', 'core.eol',
  'extensions.objectformat', 'extensions.refstorage', 'extensions.worktreeconfig', 'extensions.partialclone', 'extensions.preciousobjects',
  'remote.<name>.url', 'remote.<name>.pushurl', 'remote.<name>.fetch', 'remote.<name>.push', 'remote.<name>.tagopt', 'remote.<name>.prune', 'remote.<name>.mirror', 'remote.<name>.promisor', 'remote.<name>.partialclonefilter',
  'branch.<name>.remote', 'branch.<name>.pushremote', 'branch.<name>.merge', 'branch.<name>.rebase', 'branch.<name>.description',
  'submodule.<name>.url', 'submodule.<name>.active', 'submodule.<name>.branch',
  'user.name', 'user.email', 'init.defaultbranch', 'pull.rebase', 'pull.ff', 'fetch.prune', 'push.default',
]);

/** A transport helper URL (`ext::cmd`, `fd::`…) makes git run a program, not fetch: never kept. */
const HELPER_URL = /^[A-Za-z][A-Za-z0-9+.-]*::/;

/**
 * The harmless part of a config the command wrote, parsed by git itself
 * (`git config --file - --list -z`, with no other configuration read and no
 * includes followed), and written back in git's syntax. `dropped`: the keys
 * left out (a byte-for-byte `git init` config drops none). A config git
 * cannot parse keeps only the format version.
 */
export function harmlessConfig(text: string, git = 'git'): { text: string; dropped: string[] } {
  const r = spawnSyncOwnSession(() => spawnSync(git, ['config', '--file', '-', '--no-includes', '--list', '-z'], {
    input: text, encoding: 'utf8', cwd: '/', env: { PATH: '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent', GIT_CONFIG_GLOBAL: '/dev/null' }, maxBuffer: 8 * 1024 * 1024, ...OWN_SESSION,
  } as SpawnSyncOptionsWithStringEncoding));
  if (r.error || r.status !== 0) return { text: '[core]\n\trepositoryformatversion = 0\n', dropped: ['everything (git could not parse it)'] };
  const sections = new Map<string, string[]>();
  const dropped = new Set<string>();
  for (const entry of r.stdout.split('\0')) {
    if (entry === '') continue;
    const nl = entry.indexOf('\n');
    const key = nl < 0 ? entry : entry.slice(0, nl);
    const value = nl < 0 ? undefined : entry.slice(nl + 1);
    const first = key.indexOf('.');
    const last = key.lastIndexOf('.');
    const section = key.slice(0, first);
    const sub = first === last ? undefined : key.slice(first + 1, last);
    const name = key.slice(last + 1);
    const pattern = sub === undefined ? key : `${section}.<name>.${name}`;
    const isUrl = name === 'url' || name === 'pushurl';
    if (!HARMLESS_KEYS.has(pattern) || (isUrl && value !== undefined && HELPER_URL.test(value))) {
      dropped.add(sub === undefined ? key : `${section}.${JSON.stringify(sub)}.${name}`);
      continue;
    }
    const header = sub === undefined ? `[${section}]` : `[${section} "${sub.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"]`;
    sections.set(header, [...(sections.get(header) ?? []), value === undefined ? `\t${name}` : `\t${name} = ${quoteValue(value)}`]);
  }
  return { text: [...sections].map(([h, lines]) => `${h}\n${lines.join('\n')}\n`).join(''), dropped: [...dropped] };
}

/** A value in git's syntax: quoted, with the escapes git reads back. */
function quoteValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\x08/g, '\\b')}"`;
}

/**
 * The step after a run, given what the scan after it found (an Error where it
 * failed; undefined where none ran): the watch list, with the repositories,
 * names and rebase states the command made and the held paths the host
 * replaced, moved aside (setAside); and why the run must count as failed
 * (what the scan could not look at, a directory the command locked, a path
 * that could not be moved, a writable path renamed during the run). One
 * step for a run's own end (launch.ts) and for a killed run's, from its
 * journal (finishKilledRun): what `run` holds may be a journal's parsed
 * JSON, so its optional parts are checked before use. `since` and `until`:
 * when the command was let go and when its sandbox ended (ns, a second's
 * margin each); a killed run's journal cannot say the second, and then
 * no directory the command locked is given back (reopenLocked).
 */
export function settleRun(run: { readonly watch: readonly WatchedPath[]; readonly rescan: Rescan; readonly rootIds?: Readonly<Record<string, string>>; readonly since?: string; readonly until?: string; readonly guardIds?: Readonly<Record<string, string>> }, scanned: ScanResult | Error | undefined, helper: string, cacheDir: string | undefined): { warnings: string[]; actions: SetAsideAction[]; failed: string | undefined } {
  const rescan = run.rescan;
  const watch = [...run.watch];
  const since = typeof run.since === 'string' && /^\d+$/.test(run.since) ? run.since : undefined;
  // The links into a .git looked for: those changed since this run began, or since a run sharing its writable paths did (Rescan.linksSince).
  const linksFrom = newLinksSince(since, rescan);
  let failed: string | undefined;
  let found: ScanResult | undefined;
  // Directories of the user's own that the command locked and cordon gave back (reopenLocked, reopenAncestors).
  const reopened = new Set<string>();
  if (scanned !== undefined) {
    try {
      if (scanned instanceof Error) throw scanned;
      // The tree as the scan found it, and inside its bare git dirs.
      const look = (tree: ScanResult): ScanResult => {
        let all = tree;
        try {
          all = insideBareGitDirs(tree, rescan.writable, (roots) => scanTrees(helper, roots, rescan.patterns, cacheDir, rescan.names, linksFrom));
        } catch (e) {
          // What the scan of the tree found is still acted on; only inside the bare git dirs it was not looked.
          failed ??= `the check after the run could not look inside the bare git directories ${tree.bareGitDirs.slice(0, 5).join(', ')} (${(e as Error).message}): a repository the command created there was not checked. Before running git anywhere below, read its .git/config and .git/hooks, or remove what the command made`;
        }
        return withoutUnreachable(all, rescan.writable);
      };
      found = look(scanned);
      // A directory of the user's own that the command locked (chmod 000,
      // 311, 111, or 600 on a parent) hides what is below it from the scan:
      // its owner gets read, write and search back (to look inside and move
      // aside what is there), and the tree is looked at again, as deep as
      // the command nested its locks (bounded: past that, the run fails,
      // closed, below). Only at a run's own end (`until`).
      for (let round = 0; round < REOPEN_ROUNDS; round++) {
        const { changed, readable, gone } = reopenLocked(rescan, found, since, run.until);
        for (const c of changed) reopened.add(c);
        if (changed.length === 0 && readable.length === 0 && gone.length === 0) break;
        // The whole tree again (its cache makes what did not change one stat): each directory given back is
        // listed whole, and what a second run sharing it moved out of one meanwhile is found where it went.
        found = look(scanTrees(helper, rescan.roots, rescan.patterns, cacheDir, rescan.names, linksFrom));
      }
      watch.push(...newRepositories(rescan, found, run.watch), ...createdNames(rescan, found), ...sequencerStates(found, rescan.writable));
      // After the others: a path one of them moves aside is theirs.
      watch.push(...afterMoves(rescan, found, watch, linksFrom));
      // A directory the command made unreadable hides what is below it from
      // the scan, not from git on the host: search permission alone (chmod
      // 111) lets `cd dir && git status` use a repository there. Closed
      // (test/integration/after-run/after-run.test.ts).
      const locked = unreadableWarning(rescan, found);
      if (locked) failed = locked;
      // Below a directory closed for the run (read-only or hidden: guardUnscanned in policy.ts) nothing could change.
      const incomplete = found.incomplete.filter((p) => !(rescan.unchecked ?? []).some((u) => isWithin(p, u)));
      if (incomplete.length > 0) failed = `the check after the run could not look at everything below ${incomplete.slice(0, 5).join(', ')}${incomplete.length > 5 ? ` and ${incomplete.length - 5} more` : ''} (a tree too deep or too large, a name that is not valid UTF-8, or a directory changed while it looked): a git repository the command created there was not checked, and not moved aside. Before running git anywhere below, read its .git/config and .git/hooks, or remove what the command made`;
    } catch (e) {
      failed = `could not look for git repositories the command created in ${rescan.writable.join(', ')} (${(e as Error).message}): before running git in a new repository there, read its .git/config and .git/hooks`;
    }
  }
  const rootIds = run.rootIds && typeof run.rootIds === 'object' ? run.rootIds : undefined;
  // A writable path renamed (and perhaps replaced) during the run, by another run that shares it: the scan and the
  // set-aside below look at whatever is at its path now, not at the directory the command wrote in.
  // Directories only: a writable file the host replaced (an editor's rename over it) hides nothing the scan should have seen.
  const moved = rootIds ? changedRoots(pickDirectories(rootIds, rescan.writable)) : [];
  // A held path the host replaced lost its mount from then on (whatever the scan found): moved aside, unless a step above already moves it.
  const unheld = rescan.unheld && typeof rescan.unheld === 'object' ? Object.keys(rescan.unheld) : [];
  if (run.guardIds && typeof run.guardIds === 'object') watch.push(...heldReplaced(run.guardIds, rescan.writable, moved, watch, unheld));
  // In a shared directory, only what the command could have made (policy.ts commandCouldMake).
  const options = { roots: rescan.writable, helper, ...(rootIds ? { rootIds } : {}), ...(since ? { since } : {}), ...(rescan.relativeHooks ? { relativeHooks: rescan.relativeHooks } : {}) };
  const due = commandCouldMake(watch, rescan.writable);
  // What is to be moved aside where the scan does not walk (inside a git dir: .git/info/attributes) is
  // out of reach below a directory the command locked there (chmod 000 .git/info): given back too.
  for (const c of reopenAncestors(due.map((w) => w.path), rescan.writable.filter((w) => !moved.includes(w)), since, run.until)) reopened.add(c);
  const done = setAside(due, options);
  // A move can change where a link that was judged before it leads (one to `X.cordon-untrusted`, one through a
  // directory moved aside): what the moves left is judged again, until nothing more is to be moved.
  for (let round = 0; found !== undefined && round < AFTER_MOVES_ROUNDS; round++) {
    const again = afterMoves(rescan, found, watch, linksFrom);
    if (again.length === 0) break;
    watch.push(...again);
    const more = setAside(commandCouldMake(again, rescan.writable), options);
    done.warnings.push(...more.warnings);
    done.actions.push(...more.actions);
    done.unresolved += more.unresolved;
    if (round === AFTER_MOVES_ROUNDS - 1) failed ??= `moving aside what the command left kept making more of it lead where it must not (${again.map((w) => w.path).slice(0, 5).join(', ')}): read what is there before running git or a shell in ${rescan.writable.join(', ')}`;
  }
  if (done.unresolved > 0) failed ??= `${done.unresolved} path${done.unresolved === 1 ? '' : 's'} the command created could not be moved aside (the warnings above say which and why): read what is there before running git or a shell in ${rescan.writable.join(', ')}`;
  if (moved.length > 0) failed ??= `the writable path ${moved.join(', ')} is not the directory the command ran in any more (it was renamed or replaced during the run, as another run that can write there can do): what the command left in it was not checked. Find where it went, and read its .git/config and .git/hooks before running git or a shell in it`;
  const list = [...reopened];
  const reopenedWarning = list.length === 0 ? undefined : `the command had taken read or search permission from ${list.slice(0, 5).join(', ')}${list.length > 5 ? ` and ${list.length - 5} more` : ''} (your own director${list.length === 1 ? 'y' : 'ies'}, changed during the run); cordon gave the owner read, write and search (u+rwx) to look inside and move aside what the command left there`;
  return { warnings: reopenedWarning ? [reopenedWarning, ...done.warnings] : done.warnings, actions: done.actions, failed };
}

/** Rounds of judging again what the moves left (settleRun): a chain of links through names moved aside is that long. */
const AFTER_MOVES_ROUNDS = 4;

/** Rounds of giving locked directories back and looking again (settleRun): locks nested that deep are undone. */
const REOPEN_ROUNDS = 8;

/** The links into a `.git` and what would make a later run refuse, that `watch` does not move already. */
function afterMoves(rescan: Rescan, found: ScanResult, watch: readonly WatchedPath[], linkedSince: string | undefined): WatchedPath[] {
  const out = [...linksIntoGitDirs(found, rescan.writable, linkedSince), ...refusedLater(rescan, found)];
  const seen = new Set(watch.map((w) => w.path));
  return out.filter((x) => !seen.has(x.path) && (seen.add(x.path), true));
}

/**
 * The after-run step of a run whose cordon was killed (SIGKILL), from its
 * journal (journal.ts): the tree is scanned again now, and what the command
 * created is moved aside as if that cordon had done it (settleRun). Warnings
 * name the run.
 */
export function finishKilledRun(j: { readonly pid: number; readonly watch: readonly WatchedPath[]; readonly rescan?: Rescan; readonly rootIds?: Readonly<Record<string, string>>; readonly since?: string; readonly guardIds?: Readonly<Record<string, string>> }, helper: string, cacheDir: string, warn: (w: string) => void): void {
  if (!j.rescan) return;
  const say = (w: string) => warn(`after a cordon that was killed (pid ${j.pid}): ${w}`);
  let scanned: ScanResult | Error;
  try {
    scanned = scanTrees(helper, j.rescan.roots, j.rescan.patterns, cacheDir, j.rescan.names, newLinksSince(j.since, j.rescan));
  } catch (e) {
    scanned = e instanceof Error ? e : new Error(String(e));
  }
  const done = settleRun({ ...j, rescan: j.rescan }, scanned, helper, cacheDir);
  for (const w of done.warnings) say(w);
  if (done.failed) say(done.failed);
}
