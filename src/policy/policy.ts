/**
 * Policy: the validated, merged, fully resolved filesystem rules. Platform-free
 * and immutable once built. Every path is absolute and symlink-resolved; every
 * glob is expanded; every protection (credential stores, files that would run
 * on the host later, git surfaces of every repository under a writable path)
 * is an explicit rule carrying the source it came from, so `cordon explain`
 * can say why each rule exists.
 *
 * Precedence (deny wins): deny-read beats allow-read at the same path, and an
 * allow-read re-opens only deeper than the deny around it; read-only beats
 * read-write and read-write-no-delete at the same or any deeper path.
 */
import { statSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { CordonError } from '../errors.js';
import { CREDENTIAL_STORES_IN_HOME, CREDENTIAL_STORES_SYSTEM, DEFAULT_WRITABLE } from './defaults.js';
import { expandPath, expandShallowGlob, globBase, globToRegExp, hasGlob, isWithin, pathResolver, type PathContext, type PathKind, type ResolvedPath } from './paths.js';
import { PROTECTED_IN_GIT_DIR, PROTECTED_IN_HOME, PROTECTED_NAMES, SHELL_STARTUP } from './protected.js';
import { expandGitPath, GitConfigReader, readGitFile, readWorktreeRoot, type ConfigFile } from './git-config.js';
import type { NetworkMode, PathEntry, Settings } from './settings.js';
import { parseAllowedDomains, parseDeniedDomains } from '../network/domain-rules.js';
import type { NetworkPolicy } from '../network/decide.js';

/** The rules decide() applies (network/decide.ts), plus what the launcher needs. */
export interface NetworkPolicySpec extends Omit<NetworkPolicy, 'hostAddresses'> {
  readonly mode: NetworkMode;
  /** Where the mode came from ("default: no allowed domains", "--network", "FILE: network.mode"). */
  readonly modeSource: string;
  /** Host Unix sockets the command may connect to: absolute, symlinks resolved, existing sockets only. */
  readonly unixSockets: readonly string[];
}

export type Access = 'deny-read' | 'allow-read' | 'read-only' | 'read-write' | 'read-write-no-delete' | 'pin';

export interface FsRule {
  readonly path: string;
  readonly kind: PathKind;
  readonly access: Access;
  /** Where the rule came from: "default", "--deny-read", "FILE: filesystem.denyRead[2]", "protected: …". */
  readonly source: string;
  /** A built-in default deny that an explicit allow at the same path may lift. */
  readonly weak?: boolean;
}

export interface Policy {
  readonly cwd: string;
  readonly home: string;
  readonly rules: readonly FsRule[];
  /** Settings files that were loaded, in order. */
  readonly sources: readonly string[];
  readonly warnings: readonly string[];
  readonly network: NetworkPolicySpec;
  /** Checked after the run: what the command may have created that no mount could stop (see WatchedPath). */
  readonly watch: readonly WatchedPath[];
  /** Scanned again after the run, for repositories the command created at any depth (see Rescan); absent with no writable root. */
  readonly rescan?: Rescan;
}

/**
 * After the run the writable roots are scanned again, with the same roots and
 * patterns as before it (so the scanner's cache makes an unchanged directory
 * one stat). A work tree or submodule git dir that is not in `known` and lies
 * in a writable root was created during the run: git on the host would take
 * configuration and hooks from it, so it is treated like a `repository`
 * WatchedPath (after-run.ts).
 */
export interface Rescan {
  readonly roots: readonly string[];
  readonly patterns: readonly string[];
  /** Work trees and submodule git dirs found before the run. */
  readonly known: readonly string[];
  /** Directories the scan before the run could not read: more after it may hide a repository. */
  readonly unreadable: number;
  /** Where the command could write: only a repository there can be the command's. */
  readonly writable: readonly string[];
  /** filesystem.allowGitConfig: a new repository keeps its config. */
  readonly keepConfig: boolean;
}

/**
 * A path the command may create, that git on the host would take code from,
 * and that no mount can stop: a placeholder would break git (an empty
 * `commondir`), or there is nothing to mount over yet (a repository that does
 * not exist). cordon looks at each after the run; what appeared is moved aside
 * (src/platform/linux/after-run.ts).
 */
export interface WatchedPath {
  readonly path: string;
  /**
   * `repository`: the `.git` of a writable root that was not a repository
   * when the run started; `git-file`: a file of a protected git directory
   * that did not exist then (`commondir`, `config.worktree`, `info/attributes`).
   */
  readonly kind: 'repository' | 'git-file';
  /** Where git would take code from it: the writable root, or the protected repository's work tree (its git dir for a submodule's). */
  readonly repo: string;
  /** filesystem.allowGitConfig: a new repository keeps its config. */
  readonly keepConfig?: boolean;
}

export interface CliRules {
  readonly denyRead: readonly string[];
  readonly allowRead: readonly string[];
  readonly allowWrite: readonly string[];
  readonly denyWrite: readonly string[];
  readonly allowWriteNoDelete: readonly string[];
  readonly allowDomains?: readonly string[];
  readonly denyDomains?: readonly string[];
  readonly network?: NetworkMode;
}

export interface ScanFn {
  (roots: readonly string[], patterns: readonly string[]): ScanFound;
}

/** What the scan found (ScanResult in platform/linux/scan.ts says what each is); absent lists are empty. */
export interface ScanFound {
  readonly repos: readonly string[];
  readonly submoduleGitDirs: readonly string[];
  readonly bareGitDirs?: readonly string[];
  readonly worktreeGitDirs?: readonly string[];
  readonly matches: readonly string[];
  readonly linkedMatches?: readonly string[];
  readonly incomplete?: readonly string[];
  readonly linkedIncomplete?: readonly string[];
  readonly unreadable?: number;
}

export interface PolicyInput extends PathContext {
  readonly settings: readonly Settings[];
  readonly cli: CliRules;
  /** Walks writable roots for repositories and `**` glob matches (the native scanner). */
  readonly scan: ScanFn;
  /** cordon's private runtime directory (placeholder holds, scan cache): never writable inside. */
  readonly runtimeDir?: string;
  /** Files cordon itself writes during the run (e.g. the audit log): never writable inside. */
  readonly protectedFiles?: readonly string[];
  /** The caller's environment, for where git finds its system and global configuration (git-config.ts). */
  readonly env?: NodeJS.ProcessEnv;
}

interface RawRule { readonly raw: string; readonly literal: boolean; readonly access: Exclude<Access, 'pin'>; readonly source: string; readonly weak?: boolean }

const SETTINGS_KEYS = [
  ['denyRead', 'deny-read'],
  ['allowRead', 'allow-read'],
  ['allowWrite', 'read-write'],
  ['denyWrite', 'read-only'],
  ['allowWriteNoDelete', 'read-write-no-delete'],
] as const;

export function buildPolicy(input: PolicyInput): Policy {
  const prepared = preparePolicy(input);
  return prepared.finish(input.scan(prepared.scanRoots, prepared.patterns));
}

/** buildPolicy up to the scan: what to scan, and the rest to run on its result. */
export interface PreparedPolicy {
  readonly scanRoots: readonly string[];
  readonly patterns: readonly string[];
  /** A `**` read deny must also hold through symbolic links: the scan's links are to be followed (followLinks in scan.ts). */
  readonly throughLinks: boolean;
  finish(scanned: ScanFound): Policy;
}

/**
 * The first half of buildPolicy, split off so that the scan (a separate
 * process) can run in parallel with cordon's start-up: see compile().
 */
export function preparePolicy(input: Omit<PolicyInput, 'scan'>): PreparedPolicy {
  const ctx: PathContext = { cwd: input.cwd, home: input.home };
  const resolvePath = pathResolver();
  const rules: FsRule[] = [];
  const pushResolved = (abs: string, access: Exclude<Access, 'pin'>, source: string, weak?: boolean) => {
    const r = resolvePath(abs);
    rules.push(weak ? { path: r.path, kind: r.kind, access, source, weak } : { path: r.path, kind: r.kind, access, source });
  };
  const raws: RawRule[] = [];
  for (const rel of CREDENTIAL_STORES_IN_HOME) raws.push({ raw: join(input.home, rel), literal: true, access: 'deny-read', source: 'default: credential store', weak: true });
  for (const abs of CREDENTIAL_STORES_SYSTEM) raws.push({ raw: abs, literal: !hasGlob(abs), access: 'deny-read', source: 'default: credential store', weak: true });
  // As under srt, a settings file that names what is writable names all of it: no working directory added.
  if (!input.settings.some((s) => s.filesystem.definesWritable)) for (const p of DEFAULT_WRITABLE) raws.push({ raw: p, literal: true, access: 'read-write', source: DEFAULT_CWD_SOURCE });
  for (const s of input.settings) {
    for (const [key, access] of SETTINGS_KEYS) {
      s.filesystem[key].forEach((e: PathEntry, i: number) => raws.push({ raw: e.path, literal: e.literal, access, source: `${s.file}: filesystem.${key}[${i}]` }));
    }
  }
  const cliMap = [['denyRead', 'deny-read', '--deny-read'], ['allowRead', 'allow-read', '--allow-read'], ['allowWrite', 'read-write', '--allow-write'], ['denyWrite', 'read-only', '--read-only'], ['allowWriteNoDelete', 'read-write-no-delete', '--no-delete']] as const;
  for (const [key, access, flag] of cliMap) for (const p of input.cli[key]) raws.push({ raw: p, literal: false, access, source: flag });

  // Expand and resolve. Globs with ** need a walk: collect them for the scanner.
  const deepGlobs: { re: RegExp; base: string; basename: string; rule: RawRule }[] = [];
  for (const r of raws) {
    const abs = expandPath(r.raw, ctx);
    if (!r.literal && hasGlob(abs)) {
      if (abs.includes('**')) {
        const last = abs.slice(abs.lastIndexOf(sep) + 1);
        deepGlobs.push({ re: globToRegExp(abs), base: resolvePath(globBase(abs)).path, basename: last === '**' ? '*' : last, rule: r });
      } else {
        for (const m of expandShallowGlob(abs)) pushResolved(m, r.access, `${r.source} (${r.raw})`, r.weak);
      }
      continue;
    }
    pushResolved(abs, r.access, r.source, r.weak);
  }

  refuseWritableRoot(rules);
  // Writable roots: where protections are needed and what the scanner walks.
  // A read-only rule at or above a writable path wins (as in the plan): not a root.
  const readOnly = rules.filter((r) => r.access === 'read-only').map((r) => r.path);
  const writable = rules.filter((r) => (r.access === 'read-write' || r.access === 'read-write-no-delete') && r.kind === 'dir' && !readOnly.some((ro) => isWithin(r.path, ro)));
  const writableRoots = minimalRoots(writable.map((r) => r.path));
  const scanRoots = minimalRoots([...writableRoots, ...deepGlobs.map((g) => g.base)]);
  const patterns = [...new Set(deepGlobs.map((g) => g.basename))];
  // Protections that do not depend on the scan are worked out while it runs.
  const allowGitConfig = input.settings.some((s) => s.filesystem.allowGitConfig);
  const isWritable = (p: string) => writableRoots.some((w) => isWithin(p, w));
  const prot = (p: string, why: string) => pushResolved(p, 'read-only', `protected: ${why}`);
  const protExisting = (p: string, why: string) => {
    const r = resolvePath(p);
    if (r.kind !== 'missing') rules.push({ path: r.path, kind: r.kind, access: 'read-only', source: `protected: ${why}` });
  };
  for (const w of writableRoots) {
    for (const n of PROTECTED_NAMES) prot(join(w, n.name), n.why);
    for (const n of SHELL_STARTUP) protExisting(join(w, n.name), n.why);
  }
  if (isWritable(input.home)) {
    for (const n of [...PROTECTED_NAMES, ...SHELL_STARTUP]) prot(join(input.home, n.name), n.why);
  }
  // Whichever grant reaches them, from above ($HOME, ~/.aws) or beneath (~/.local/bin/x): read-only wins.
  for (const n of PROTECTED_IN_HOME) {
    const p = resolvePath(join(input.home, n.name)).path;
    if (rules.some((r) => (r.access === 'read-write' || r.access === 'read-write-no-delete') && (isWithin(p, r.path) || isWithin(r.path, p)))) prot(p, n.why);
  }
  const throughLinks = deepGlobs.some((g) => g.rule.access === 'deny-read');
  return { scanRoots, patterns, throughLinks, finish: (scanned) => finishPolicy(scanned) };

  function finishPolicy(scanned: ScanFound): Policy {
    refuseIncompleteScan(scanned, deepGlobs.filter((g) => g.rule.access === 'deny-read').map((g) => g.rule.raw));
    for (const m of scanned.matches) {
      for (const g of deepGlobs) {
        if (isWithin(m, g.base) && g.re.test(m)) pushResolved(m, g.rule.access, `${g.rule.source} (${g.rule.raw})`);
      }
    }
    // Reached through a symbolic link: only a read deny follows (a grant never widens through a link).
    for (const m of scanned.linkedMatches ?? []) {
      for (const g of deepGlobs) {
        if (g.rule.access === 'deny-read' && isWithin(m, g.base) && g.re.test(m)) pushResolved(m, 'deny-read', `${g.rule.source} (${g.rule.raw}, through a symbolic link)`);
      }
    }
    const watch: WatchedPath[] = [];
    const repos = new Set(scanned.repos);
    for (const w of writableRoots) if (!repos.has(w)) watch.push({ path: join(w, '.git'), kind: 'repository', repo: w, ...(allowGitConfig ? { keepConfig: true } : {}) });
    for (const repo of scanned.repos.filter(isWritable)) {
      for (const n of [...PROTECTED_NAMES, ...SHELL_STARTUP]) protExisting(join(repo, n.name), n.why);
    }
    if (writableRoots.length > 0) {
      protectGitSurfaces({ rules, watch, resolvePath, isWritable, writableRoots, home: input.home, allowGitConfig, config: new GitConfigReader({ home: input.home, env: input.env ?? {} }), done: new Set() }, scanned);
    }

    // cordon's own settings files and bookkeeping must not be rewritable from inside.
    for (const s of input.settings) if (isWritable(s.file)) prot(s.file, "cordon settings file in use");
    if (input.runtimeDir && isWritable(input.runtimeDir)) prot(input.runtimeDir, "cordon's runtime directory (placeholder holds, scan cache)");
    for (const f of input.protectedFiles ?? []) if (isWritable(f)) prot(f, "cordon's audit log");

    dropEmptyDenies(rules);
    validateModes(rules);
    const warnings = input.settings.flatMap((s) => s.warnings);
    const unixSockets = unixSocketGrants(input, resolvePath, warnings);
    return {
      cwd: input.cwd,
      home: input.home,
      rules,
      sources: input.settings.map((s) => s.file),
      warnings,
      network: { ...networkSpec(input.settings, input.cli), unixSockets },
      watch,
      ...(writableRoots.length > 0 ? { rescan: { roots: scanRoots, patterns, known: [...scanned.repos, ...scanned.submoduleGitDirs, ...(scanned.bareGitDirs ?? []), ...(scanned.worktreeGitDirs ?? [])], unreadable: scanned.unreadable ?? 0, writable: writableRoots, keepConfig: allowGitConfig } } : {}),
    };
  }
}

const OPENNESS: Record<NetworkMode, number> = { none: 0, filtered: 1, 'dangerously-unfiltered': 2 };

/**
 * Rules from every source are combined (deny wins inside decide()). The mode:
 * --network if given; else the most restrictive mode any file sets; else
 * filtered when some domain is allowed, none otherwise.
 */
export function networkSpec(settings: readonly Settings[], cli: CliRules): Omit<NetworkPolicySpec, 'unixSockets'> {
  const allow = [...settings.flatMap((s) => s.network.allow), ...parseAllowedDomains(cli.allowDomains ?? [], '--allow-domain', 'command line')];
  const deny = [...settings.flatMap((s) => s.network.deny), ...parseDeniedDomains(cli.denyDomains ?? [], '--deny-domain', 'command line')];
  let mode: NetworkMode = allow.length > 0 ? 'filtered' : 'none';
  let modeSource = allow.length > 0 ? 'default: domains are allowed' : 'default: no domain is allowed';
  const explicit = settings.filter((s) => s.network.mode !== undefined);
  if (explicit.length > 0) {
    const strictest = explicit.reduce((a, b) => (OPENNESS[b.network.mode!] < OPENNESS[a.network.mode!] ? b : a));
    mode = strictest.network.mode!;
    modeSource = `${strictest.file}: network.mode`;
  }
  if (cli.network) {
    mode = cli.network;
    modeSource = '--network';
  }
  return {
    mode,
    modeSource,
    allow,
    deny,
    deniedRanges: settings.flatMap((s) => s.network.deniedRanges),
    denyPrivateAddresses: settings.some((s) => s.network.denyPrivateAddresses),
  };
}

/**
 * network.allowUnixSockets: each path resolved like any rule path; one that
 * is not a socket now gets a warning and no grant (a grant names a socket,
 * never a directory of them).
 */
function unixSocketGrants(input: Omit<PolicyInput, 'scan'>, resolvePath: (abs: string) => ResolvedPath, warnings: string[]): string[] {
  const out: string[] = [];
  for (const s of input.settings) {
    s.network.allowUnixSockets.forEach((raw, i) => {
      const abs = resolvePath(expandPath(raw, { cwd: input.cwd, home: input.home })).path;
      let isSocket = false;
      try { isSocket = statSync(abs).isSocket(); } catch { /* missing */ }
      if (!isSocket) warnings.push(`${s.file}: network.allowUnixSockets[${i}]: ${abs} is not a Unix socket (now); not granted`);
      else if (Buffer.byteLength(abs) >= 108) warnings.push(`${s.file}: network.allowUnixSockets[${i}]: ${abs} is too long for a Unix socket address (108 bytes); not granted`);
      else if (!out.includes(abs)) out.push(abs);
    });
  }
  return out;
}

/**
 * Refuses to build a policy on a scan that could not finish: a repository (or
 * a `**` read deny's match) could hide where it did not look, and nothing
 * would protect it. The scanner says where (scan.ts: incomplete); the user
 * can remove what is there.
 */
function refuseIncompleteScan(scanned: ScanFound, denyGlobs: readonly string[]): void {
  const incomplete = scanned.incomplete ?? [];
  const list = (ps: readonly string[]) => ps.slice(0, 3).join(', ') + (ps.length > 3 ? ` and ${ps.length - 3} more` : '');
  if (incomplete.length > 0) {
    throw new CordonError('CORDON_ERR_POLICY', `cordon could not look at everything below ${list(incomplete)} for git repositories and protected names (a directory tree deeper than a path can name, a directory listing too large, or a directory renamed while cordon looked), so a repository there could not be protected; nothing was run. Look at what lies below it and remove what should not be there (rm -rf works at any depth), then run cordon again`);
  }
  const linked = scanned.linkedIncomplete ?? [];
  if (linked.length > 0 && denyGlobs.length > 0) {
    throw new CordonError('CORDON_ERR_POLICY', `${denyGlobs.join(', ')} must also hide matches reached through symbolic links, but cordon could not look at everything reached through ${list(linked)} (too many link targets, directories, or links beyond links); nothing was run. Remove the link, or deny what it points to with a rule of its own that names no ** (for example --deny-read TARGET)`);
  }
}

/** What the git protections need from the policy being built. */
interface GitScope {
  readonly rules: FsRule[];
  readonly watch: WatchedPath[];
  readonly resolvePath: (abs: string) => ResolvedPath;
  readonly isWritable: (p: string) => boolean;
  readonly writableRoots: readonly string[];
  readonly home: string;
  readonly allowGitConfig: boolean;
  readonly config: GitConfigReader;
  /** Paths already protected here (resolved). */
  readonly done: Set<string>;
}

/**
 * Every place git reads code from, for every git dir the scan found in a
 * writable path (git-config.ts says how configuration is read):
 *  - a work tree's `.git` directory, a submodule git dir (S), a directory
 *    that is itself a git dir (B: git discovers a bare repository and runs its
 *    core.fsmonitor): pinned, with config, hooks, config.worktree, commondir
 *    and info/attributes read-only (PROTECTED_IN_GIT_DIR);
 *  - a linked worktree's git dir (W): pinned, with `commondir`, `gitdir`
 *    and `config.worktree` read-only (they send git, run in that worktree,
 *    to its repository and configuration);
 *  - every file any of their configuration includes, and the system and
 *    global configuration with its includes, where they lie in a writable
 *    path (an included file sets core.fsmonitor as well as config does);
 *  - every core.hooksPath any of that configuration sets (protectHooksDir).
 * Proved from inside by test/integration/platform/linux/filesystem.test.ts.
 */
function protectGitSurfaces(s: GitScope, scanned: ScanFound): void {
  for (const f of s.config.outer()) {
    protectConfigFile(s, f, 'git configuration read by every repository', 'every git repository');
    // Absolute (or ~/) hooks paths hold for every repository, in a writable path or not.
    for (const v of f.values.hooksPath) {
      const dir = isAbsolute(v) || v.startsWith('~') || v.startsWith(':(optional)/') ? expandGitPath(v, s.home, sep) : undefined;
      if (dir) protectHooksDir(s, dir, [], `git core.hooksPath (${f.path})`);
    }
  }
  for (const repo of scanned.repos.filter(s.isWritable)) {
    const dotGit = join(repo, '.git');
    const k = s.resolvePath(dotGit);
    if (k.kind === 'dir' && k.path === dotGit) {
      protectGitDir(s, dotGit, [repo], false);
      continue;
    }
    // A .git file (or link) redirects git to another directory: the redirect itself is protected.
    s.rules.push({ path: dotGit, kind: 'file', access: 'read-only', source: 'protected: .git file redirects git to its git dir' });
    // Its git dir (protected where the scan finds it) may name hooks relative to this work tree.
    const gitDir = k.kind === 'file' ? readGitFile(dotGit) : k.kind === 'dir' ? k.path : undefined;
    if (gitDir) protectHooks(s, gitDir, [repo]);
  }
  for (const g of scanned.submoduleGitDirs.filter(s.isWritable)) protectGitDir(s, g, [], false);
  for (const b of (scanned.bareGitDirs ?? []).filter(s.isWritable)) protectGitDir(s, b, [], true);
  for (const w of (scanned.worktreeGitDirs ?? []).filter(s.isWritable)) protectWorktreeGitDir(s, w);
}

function protectGitDir(s: GitScope, gitDir: string, workTrees: readonly string[], bare: boolean): void {
  const repo = workTrees[0] ?? gitDir;
  s.rules.push({ path: gitDir, kind: 'dir', access: 'pin', source: 'protected: git dir pinned so it cannot be replaced' });
  for (const item of PROTECTED_IN_GIT_DIR) {
    if (item.name === 'config' && s.allowGitConfig) continue;
    const p = join(gitDir, item.name);
    const r = s.resolvePath(p);
    if (r.kind === 'missing' && !item.placeholder) {
      s.watch.push({ path: r.path, kind: 'git-file', repo });
      continue;
    }
    s.rules.push({ path: p, kind: r.kind, access: 'read-only', source: `protected: git ${item.why}` });
  }
  protectHooks(s, gitDir, bare ? [gitDir] : workTrees);
}

const IN_WORKTREE_GIT_DIR = [
  { name: 'commondir', why: 'sends git to the repository it belongs to' },
  { name: 'gitdir', why: 'names the worktree it belongs to' },
  { name: 'config.worktree', why: 'per-worktree configuration' },
] as const;

/** A linked worktree's git dir (`.git/worktrees/NAME`): git run in that worktree, wherever it lives, reads these. */
function protectWorktreeGitDir(s: GitScope, w: string): void {
  s.rules.push({ path: w, kind: 'dir', access: 'pin', source: 'protected: linked worktree git dir pinned so it cannot be replaced' });
  for (const item of IN_WORKTREE_GIT_DIR) {
    const p = join(w, item.name);
    const r = s.resolvePath(p);
    if (r.kind === 'missing') s.watch.push({ path: r.path, kind: 'git-file', repo: w });
    else s.rules.push({ path: p, kind: r.kind, access: 'read-only', source: `protected: linked worktree's ${item.name} (${item.why})` });
  }
  const root = readWorktreeRoot(w);
  protectHooks(s, w, root ? [root] : []);
}

/**
 * For the git dir `gitDir`: the files its own configuration includes, and
 * every core.hooksPath it or the system and global configuration sets. A
 * relative one is taken from where git runs hooks: each of `bases` (the work
 * trees; a bare repository's git dir), and any core.worktree it sets;
 * without any, the git dir.
 */
function protectHooks(s: GitScope, gitDir: string, bases: readonly string[]): void {
  const cfg = s.config.repo(gitDir);
  if (!s.allowGitConfig) for (const f of cfg.own) if (f.from) protectConfigFile(s, f, 'git configuration included by a repository', bases[0] ?? gitDir);
  const all = [...bases];
  for (const f of cfg.own) for (const v of f.values.worktree) {
    const wt = expandGitPath(v, s.home, gitDir);
    if (wt) all.push(wt);
  }
  if (all.length === 0) all.push(gitDir);
  for (const f of [...cfg.outer, ...cfg.own]) {
    for (const v of f.values.hooksPath) {
      for (const base of all) {
        const dir = expandGitPath(v, s.home, base);
        if (dir) protectHooksDir(s, dir, [...all, gitDir], `git core.hooksPath (${f.path})`);
      }
    }
  }
}

/**
 * A hooks directory is read-only, existing or not; so is the directory that
 * holds it when that lies strictly inside a work tree, git dir or writable
 * root and holds none of them: hook managers keep the scripts the hooks run
 * beside the hooks (husky 9: core.hooksPath=.husky/_, whose stubs run
 * .husky/pre-commit), and a parent that holds a work tree would make the
 * whole tree read-only.
 */
function protectHooksDir(s: GitScope, dir: string, bases: readonly string[], why: string): void {
  const r = s.resolvePath(dir);
  if (!s.isWritable(dir) && !s.isWritable(r.path)) return;
  if (!s.done.has(r.path)) {
    s.done.add(r.path);
    s.rules.push({ path: r.path, kind: r.kind, access: 'read-only', source: `protected: ${why}` });
  }
  const parent = s.resolvePath(dirname(dir));
  const inside = [...bases, ...s.writableRoots].some((b) => isWithin(parent.path, b) && parent.path !== b);
  const holds = [...bases, ...s.writableRoots, s.home].some((b) => isWithin(b, parent.path));
  if (inside && !holds && !s.done.has(parent.path)) {
    s.done.add(parent.path);
    s.rules.push({ path: parent.path, kind: parent.kind, access: 'read-only', source: `protected: ${why}: the directory holding the hooks directory (hook managers run scripts kept beside it)` });
  }
}

/**
 * A config file git reads, where the command could write it: read-only if it
 * exists; an included one that does not exist yet is watched (after-run.ts:
 * a placeholder directory there would make git refuse the whole
 * configuration). A missing system or global file is left to the home
 * protections (protected.ts).
 */
function protectConfigFile(s: GitScope, f: ConfigFile, why: string, repo: string): void {
  const r = s.resolvePath(f.path);
  if ((!s.isWritable(f.path) && !s.isWritable(r.path)) || s.done.has(r.path)) return;
  if (r.kind === 'missing' && !f.from) return;
  s.done.add(r.path);
  if (r.kind === 'missing') s.watch.push({ path: r.path, kind: 'git-file', repo });
  else s.rules.push({ path: r.path, kind: r.kind, access: 'read-only', source: `protected: ${why}${f.from ? ` (included from ${f.from})` : ''}` });
}

/** The roots of a set of paths: drops every path that lies within another. */
export function minimalRoots(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length);
  const out: string[] = [];
  for (const p of sorted) if (!out.some((o) => isWithin(p, o))) out.push(p);
  return out;
}

const DEFAULT_CWD_SOURCE = 'default: working directory';

/**
 * `/` itself writable (the working directory when cordon runs in `/`, or a
 * rule naming it) is refused: every program, system startup file and
 * service definition on the machine would be writable, and the protected
 * names cannot cover them. A read-only rule on `/` (`--read-only .` there)
 * wins, as on any path, over everything beneath it: then only /tmp is
 * writable.
 */
function refuseWritableRoot(rules: readonly FsRule[]): void {
  const atRoot = rules.filter((r) => r.path === sep);
  const writes = atRoot.filter((r) => r.access === 'read-write' || r.access === 'read-write-no-delete');
  if (writes.length === 0 || atRoot.some((r) => r.access === 'read-only')) return;
  const fix = writes.some((r) => r.source === DEFAULT_CWD_SOURCE)
    ? 'Run cordon from a project directory, or add --read-only / (then only /tmp is writable)'
    : 'Name the directories it may write instead';
  throw new CordonError('CORDON_ERR_POLICY', `/ would be writable (${writes.map((r) => r.source).join('; ')}): the command could then change every program and startup file on this machine. ${fix}`);
}

/**
 * A read deny on a path that does not exist hides nothing (the plan mounts
 * nothing there), but the plan guards nothing beneath an unreadable path
 * either, so a never-writable path that meets one (~/.npmrc, ~/.ssh or
 * ~/.aws/config missing, with $HOME writable) could be created. There the
 * deny is dropped and the read-only rule stands, guarded like any missing
 * protected path (test/integration/platform/linux/lists.test.ts).
 */
function dropEmptyDenies(rules: FsRule[]): void {
  const readOnly = rules.filter((r) => r.access === 'read-only').map((r) => r.path);
  for (let i = rules.length - 1; i >= 0; i--) {
    const r = rules[i]!;
    if (r.access === 'deny-read' && r.kind === 'missing' && readOnly.some((p) => isWithin(p, r.path))) rules.splice(i, 1);
  }
}

/**
 * Landlock grants are inherited down the tree, so a no-delete path inside a
 * plain read-write path cannot be enforced: reject it rather than run weaker.
 */
function validateModes(rules: readonly FsRule[]): void {
  const rw = rules.filter((r) => r.access === 'read-write' && r.kind !== 'missing');
  const nd = rules.filter((r) => r.access === 'read-write-no-delete' && r.kind !== 'missing');
  for (const n of nd) {
    const outer = rw.find((r) => isWithin(n.path, r.path) && r.path !== n.path);
    if (outer) {
      throw new CordonError('CORDON_ERR_POLICY', `${n.path} (${n.source}) is read-write-no-delete inside ${outer.path}, which is read-write (${outer.source}); the kernel cannot take delete rights away beneath a read-write path. Make the outer path no-delete too (e.g. --no-delete ${outer.path}) or mark it read-only`);
    }
  }
}
