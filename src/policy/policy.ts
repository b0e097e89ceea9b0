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
import { accessSync, constants, lstatSync, readdirSync, readlinkSync, statSync, type Dirent, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, sep } from 'node:path';
import { CordonError } from '../errors.js';
import { CREDENTIAL_STORES_IN_HOME, CREDENTIAL_STORES_SYSTEM, DEFAULT_WRITABLE } from './defaults.js';
import { depth, expandPath, expandShallowGlob, globBase, globToRegExp, hasGlob, identity, isWithin, pathResolver, walkPath, type PathContext, type PathKind, type ResolvedPath } from './paths.js';
import { AFTER_RUN_NAMES, GIT_DIR_ENTRIES, grantLeavesReadOnly, PROTECTED_IN_GIT_DIR, PROTECTED_IN_HOME, PROTECTED_NAMES, ROOT_NAMES, SHELL_STARTUP } from './protected.js';
import { expandGitPath, GitConfigReader, readGitFile, readWorktreeRoot, type ConfigFile } from './git-config.js';
import type { BrokerSetting, NetworkMode, PathEntry, Settings } from './settings.js';
import type { BrokerSpec } from '../network/credential-sources.js';
import type { TlsSpec } from '../network/tls.js';
import { parseAllowedDomains, parseDeniedDomains, ruleMatches, type DomainRule } from '../network/domain-rules.js';
import { parseHost } from '../network/host.js';
import { carriesCredentials, parentProxy, type MitmProxy, type ParentProxy } from '../network/parent-proxy.js';
import type { RequestRule } from '../network/request-rules.js';
import type { NetworkPolicy } from '../network/decide.js';
import type { EnvironmentRules } from './environment.js';

/** The rules decide() applies (network/decide.ts), plus what the launcher needs. */
export interface NetworkPolicySpec extends Omit<NetworkPolicy, 'hostAddresses'> {
  readonly mode: NetworkMode;
  /** Where the mode came from ("default: no allowed domains", "--network", "FILE: network.mode"). */
  readonly modeSource: string;
  /** Host Unix sockets the command may connect to: absolute, symlinks resolved, existing sockets only. */
  readonly unixSockets: readonly string[];
  /** network.tlsTerminate of every source together (tlsSpec); absent: no CONNECT is opened. */
  readonly tls?: TlsSpec;
  /** network.refuseOpaqueTunnels in any source. */
  readonly refuseOpaqueTunnels?: boolean;
  /** network.requestRules of every source, in order (network/request-rules.ts). */
  readonly requestRules?: readonly RequestRule[];
  /** credentials.broker of every source (brokerSpec): each needs its hosts allowed and TLS-terminated. */
  readonly credentials?: readonly BrokerSpec[];
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
  /** cordon's own files, protected whichever grant reaches them: no setting makes them writable (a refusal there offers none). */
  readonly neverWritable?: readonly { readonly path: string; readonly why: string }[];
  /** The environment rules, and the names of the caller's variables they withhold (policy/environment.ts). */
  readonly environment?: EnvironmentRules & { readonly withheld: readonly string[] };
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
  /**
   * The identity of each git dir found before the run, by its path (a work
   * tree's `.git`, a submodule or bare git dir: ScanResult.ids). A known
   * repository whose git dir has another identity after the run, or none,
   * is new (removed and made again, or another directory renamed there).
   * Absent when the scan reported no identities: paths alone decide.
   */
  readonly ids?: Readonly<Record<string, string>>;
  /** Directories the scan before the run could not read: more after it may hide a repository. */
  readonly unreadable: number;
  /** Which (the scan names the first UNREAD_LISTED): one locked by the command is not among them. */
  readonly unreadablePaths?: readonly string[];
  /** Where the command could write: only a repository there can be the command's. */
  readonly writable: readonly string[];
  /** filesystem.allowGitConfig: a new repository keeps its config. */
  readonly keepConfig: boolean;
  /**
   * Relative core.hooksPath values of the system and global configuration
   * (`.githooks`): in a repository the command makes, the directory each
   * names (from its work tree; a bare one's git dir) is moved aside as its
   * hooks are.
   */
  readonly relativeHooks?: readonly string[];
  /** Where the scan before the run could not look: closed for the run (guardUnscanned), so the scan after it may not look there either. */
  readonly unchecked?: readonly string[];
  /**
   * The protected names (PROTECTED_NAMES) that the scan after the run also
   * reports: at the root of a git work tree nested in a writable root, a
   * missing one gets no placeholder (a mount per name per repository on every
   * run), so one the command created there is found by that scan and moved
   * aside (createdNames in after-run.ts).
   */
  readonly names?: readonly string[];
  /** Those that existed at the root of a nested work tree before the run: read-only in it, so not the command's. */
  readonly heldNames?: readonly string[];
  /**
   * Another user's entries at protected names in a shared directory that
   * the run does not hold (notOursToHold), with their identity when the
   * policy looked: one the command replaced (run as root, it owns `/tmp`,
   * so the sticky bit does not stop it) is moved aside after the run
   * (launch.ts adds them to the held paths').
   */
  readonly unheld?: Readonly<Record<string, string>>;
  /** Directories closed read-only whole for the run (capGitDirs): nothing in them is the command's. */
  readonly closed?: readonly string[];
  /**
   * Names directly in a writable root that are looked at after the run too:
   * those held by a placeholder (an empty directory on the host, which a
   * command in another sandbox that does not hold it can write into, and
   * which another run's step after the run may then move aside, taking this
   * run's mount along), and those a run still going may move aside
   * (inheritNames in journal.ts). An empty directory there is left alone.
   */
  readonly recheckNames?: readonly string[];
  /**
   * The start (ns since the epoch, a decimal string) of the earliest run
   * still going when this one started that shares a writable path with it,
   * if earlier than this run's (inheritLiveRuns in journal.ts): the links
   * into a `.git` that this run's step after the run looks for are those
   * changed since then, not only since this run started. Such a run's
   * command may have made a link that a second command renames past the
   * first run's scan (from a part of the tree not yet walked to one walked
   * already); renaming a directory does not change the links in it.
   */
  readonly linksSince?: string;
}

/**
 * Pure: since when the step after a run that began at `since` (a journal's
 * since: not trusted to be one) looks for new links into a `.git`: that
 * start, or an earlier one it inherited (Rescan.linksSince).
 */
export function newLinksSince(since: unknown, rescan: Pick<Rescan, 'linksSince'>): string | undefined {
  return typeof since === 'string' && /^\d+$/.test(since) ? earliest([since, rescan.linksSince]) : undefined;
}

/**
 * Pure: the earliest of these starts (ns since the epoch, decimal strings,
 * as Rescan.linksSince and a journal's since); what is not one is left out.
 */
export function earliest(starts: readonly (string | undefined)[]): string | undefined {
  let min: bigint | undefined;
  for (const s of starts) {
    if (typeof s !== 'string' || !/^\d{1,30}$/.test(s)) continue;
    const v = BigInt(s);
    if (min === undefined || v < min) min = v;
  }
  return min === undefined ? undefined : String(min);
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
   * that did not exist then (`commondir`, `config.worktree`, `info/attributes`);
   * `todo`: a rebase's or a cherry-pick's state in a git dir (its todo
   * list's `exec` lines and its merge strategy run at `--continue`), moved
   * aside whole if the run changed it (sequencerStates in after-run.ts);
   * `created`: a protected name in $HOME that did not exist (a placeholder
   * there would break the host's shells and git while it exists: see
   * homeWatch), or one at the root of a nested work tree (found by the scan
   * after the run: createdNames in after-run.ts), moved aside if the command
   * made it; `replaced`: a path the run held read-only by a mount that
   * the host replaced during the run, which detached the mount (after-run.ts
   * replacedGuards): moved aside, a git config's harmless keys kept.
   */
  readonly kind: 'repository' | 'git-file' | 'created' | 'link' | 'todo' | 'replaced';
  /** For `created` and `link`: why the name matters ("shell startup file"). */
  readonly why?: string;
  /**
   * For `link`: a protected name that is a symlink (`.claude ->
   * ../shared/claude`, a stow-managed `~/.bashrc`). Its target is protected
   * like the name; the link itself, which no mount can hold, must still
   * point there after the run, or it is made again (after-run.ts).
   */
  readonly target?: string;
  /** Where git would take code from it: the writable root, or the protected repository's work tree (its git dir for a submodule's). */
  readonly repo: string;
  /**
   * For `created` in a shared directory (isShared): left if it is another
   * user's entry, made there since the run started, that the command could
   * neither have put there nor filled (the helper's `--move-own`,
   * native/setaside.h); moved otherwise.
   */
  readonly onlyOwn?: boolean;
  /**
   * For `created`: moved only if it is this user's symbolic link, or a file
   * with more than one name, made or linked since the run started: what
   * would make every later run refuse to hold the name (refuseHoldingRoot,
   * the hard-link check) until someone removes it. A plain file or a
   * directory there is left: a shell startup file at a writable root that is
   * not `$HOME` is no shell's.
   */
  readonly linkedOnly?: boolean;
  /**
   * For `created`: moved aside only if it is this user's symbolic link, or
   * a file with more than one name, made or changed since the run started
   * (a link into a `.git`, after-run.ts linksIntoGitDirs; a link on the way
   * to a protected name).
   */
  readonly ifLink?: boolean;
  /**
   * With `ifLink`: changed since this start (ns since the epoch), not the
   * run's own: a link into a `.git` that a run still going when this one
   * started may have made (Rescan.linksSince).
   */
  readonly linkedSince?: string;
  /** For `created`: moved aside only if it, or an entry in it, was made or changed since the run started (a `.cordon` in a plain directory). */
  readonly ifChanged?: boolean;
  /** filesystem.allowGitConfig: a new repository keeps its config. */
  readonly keepConfig?: boolean;
  /**
   * For `created`: an empty directory there is left alone. It holds nothing
   * a tool would run, and it may be the placeholder of a run that is still
   * going (moving it would take that run's mount along).
   */
  readonly keepEmptyDir?: boolean;
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
  /** --pass-env: secret-looking variables the command gets anyway (policy/environment.ts). */
  readonly passEnv?: readonly string[];
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
  /** Links under a git dir's modules/ (scan.ts ScanResult.moduleLinks). */
  readonly moduleLinks?: readonly string[];
  readonly matches: readonly string[];
  readonly linkedMatches?: readonly string[];
  readonly incomplete?: readonly string[];
  readonly linkedIncomplete?: readonly string[];
  readonly unreadable?: number;
  readonly unreadablePaths?: readonly string[];
  /** Each git dir's identity, by its path (ScanResult.ids). */
  readonly ids?: Readonly<Record<string, string>>;
  /** Basenames also reported in `matches` wherever a listed directory holds them (ScanResult.named). */
  readonly named?: readonly string[];
  /** What each git dir holds, by its path (ScanResult.gitFacts): one letter per GIT_DIR_ENTRIES name. */
  readonly gitFacts?: Readonly<Record<string, string>>;
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
  /**
   * cordon itself: its package (the code and programs it runs on the host),
   * the programs it starts, its user settings directory. Never writable
   * inside, wherever they are: a command that rewrote one would run its code
   * on the host at cordon's next start.
   */
  readonly cordonOwn?: readonly { readonly path: string; readonly why: string; readonly afterRun?: boolean }[];
  /** The caller's environment, for where git finds its system and global configuration (git-config.ts). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Beyond the working directory, what the project controls: the repository
   * around it (a link committed at its root arrives with a `git pull`) and
   * each project settings file's directory. A grant through a link there
   * that leads outside is refused (refuseRedirectedGrants).
   */
  readonly projectAreas?: readonly string[];
  /** Where sandboxed commands could write, this run aside (journal.ts sandboxedAreas): a symlink there may be a command's. */
  readonly sandboxed?: readonly string[];
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
  /** Where the command can write: only a repository there can be the command's (the scan's walk below bare git dirs). */
  readonly writableRoots: readonly string[];
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
  // A brokered credential's file holds the real value: never readable inside (not weak: no allow reopens it).
  for (const s of input.settings) for (const b of s.broker ?? []) if ('file' in b.from) raws.push({ raw: b.from.file, literal: true, access: 'deny-read', source: `${s.file}: ${b.keyPath}.from.file (a brokered credential)` });
  // So is a configured CA's private key: with it, a command could mint certificates the host itself may trust.
  for (const s of input.settings) if (s.network.tls?.ca) raws.push({ raw: s.network.tls.ca.key, literal: true, access: 'deny-read', source: `${s.file}: network.tlsTerminate.caKeyPath (the CA's private key)` });
  const cliMap = [['denyRead', 'deny-read', '--deny-read'], ['allowRead', 'allow-read', '--allow-read'], ['allowWrite', 'read-write', '--allow-write'], ['denyWrite', 'read-only', '--read-only'], ['allowWriteNoDelete', 'read-write-no-delete', '--no-delete']] as const;
  for (const [key, access, flag] of cliMap) for (const p of input.cli[key]) raws.push({ raw: p, literal: false, access, source: flag });

  // Expand and resolve. Globs with ** need a walk: collect them for the scanner.
  const grants: Grant[] = [];
  // Read-only rules as named: a link on the way is held after the run too (keepLink, below).
  const namedReadOnly: { abs: string; source: string }[] = [];
  // Paths a glob matched (`~/.cache/*`): a match names nothing on purpose (srt, on Linux, grants nothing for it).
  const globbed = new Set<string>();
  const deepGlobs: { re: RegExp; base: string; basename: string; rule: RawRule }[] = [];
  for (const r of raws) {
    let abs = expandPath(r.raw, ctx);
    // A grant of `dir/**` is `dir` and all beneath it: the directory itself, with every protection a granted
    // directory gets (as srt reads it), not one grant per match (`~/**` would open every dotfile one by one).
    if (!r.literal && (r.access === 'read-write' || r.access === 'read-write-no-delete') && abs.endsWith(`${sep}**`) && !hasGlob(abs.slice(0, -3))) abs = abs.slice(0, -3) || sep;
    if (!r.literal && hasGlob(abs)) {
      if (abs.includes('**')) {
        const last = abs.slice(abs.lastIndexOf(sep) + 1);
        // The scan reports matches under the base as it resolves (a home that is a link, /home -> /var/home):
        // the pattern is matched against the resolved base, or it would match nothing.
        const base = globBase(abs);
        const real = resolvePath(base).path;
        deepGlobs.push({ re: globToRegExp(real === base ? abs : `${real}${abs.slice(base.length)}`), base: real, basename: last === '**' ? '*' : last, rule: r });
      } else {
        const unnamable: string[] = [];
        for (const m of expandShallowGlob(abs, unnamable)) {
          pushResolved(m, r.access, `${r.source} (${r.raw})`, r.weak);
          if (r.access === 'read-only') namedReadOnly.push({ abs: m, source: `${r.source} (${r.raw})` });
          else globbed.add(rules[rules.length - 1]!.path);
          // Each match is a grant: one through a link the project controls is refused as a named one is.
          if (r.access !== 'deny-read' && r.access !== 'read-only' && !r.source.startsWith('default')) grants.push({ abs: m, source: r.source, raw: r.raw, reopens: r.access === 'allow-read' });
        }
        // A grant that misses a name only grants less; a deny or a read-only rule that misses one would be weaker than written.
        if (unnamable.length > 0 && (r.access === 'deny-read' || r.access === 'read-only')) throw new CordonError('CORDON_ERR_POLICY', `${r.raw} (${r.source}) matches a name in ${unnamable.join(', ')} that is not valid UTF-8, which cordon cannot put in a rule; nothing was run. Rename it, or name its directory in the rule instead`);
      }
      continue;
    }
    pushResolved(abs, r.access, r.source, r.weak);
    if (r.access === 'read-only') namedReadOnly.push({ abs, source: r.source });
    if (r.access !== 'deny-read' && r.access !== 'read-only' && !r.source.startsWith('default')) grants.push({ abs, source: r.source, raw: r.raw, reopens: r.access === 'allow-read' });
  }

  // A grant at or in what makes git run code in a git directory (a `.git` on its way):
  // git on the host would run what the command put there, whichever grant reached it.
  const grantWarnings: string[] = [];
  for (const r of rules.filter((x) => x.access === 'read-write' || x.access === 'read-write-no-delete')) {
    const surface = gitSurfaceAt(r.path);
    if (!surface) continue;
    pushResolved(surface.path, 'read-only', `protected: ${surface.why}`);
    grantWarnings.push(`${r.path} (${r.source}) reaches ${surface.path}, ${surface.why}: it is never writable in a sandbox (git on the host would run what the command put there), so it is read-only in this run`);
  }
  // A grant at or in a protected name of the project (its working directory, its repository root) or of $HOME
  // (`allowWrite: ["./.claude"]`, `["./*"]`, `["~/*"]`): the name's protection holds there too, as at a writable root's.
  // Rules name resolved paths: a home that is a link (/home -> /var/home) is compared where it leads.
  const home = resolvePath(input.home).path;
  const homes = [...new Set([...projectAreas(input), input.home, home])];
  // A name of two components inside such a grant (`--allow-write .github` holds .github/copilot-instructions.md).
  const namesInGrants: { path: string; why: string }[] = [];
  for (const r of rules.filter((x) => x.access === 'read-write' || x.access === 'read-write-no-delete')) {
    const { held, deeper } = protectedNamesAround(r.path, homes);
    namesInGrants.push(...deeper);
    if (!held) continue;
    pushResolved(held.path, 'read-only', `protected: ${held.why}`);
    grantWarnings.push(`${r.path} (${r.source}) is ${held.path === r.path ? '' : 'in '}${held.path}, ${held.why}: it is never writable in a sandbox, so it is read-only in this run`);
  }
  refuseWritableRoot(rules);
  refuseHomeByDefault(rules, input.home, home);
  refuseRedirectedGrants(grants, rules, projectAreas(input), input.sandboxed ?? []);
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
  // A protected name that is itself a symlink: its target is protected by the rule, the link by the after-run step.
  const linkWatch: WatchedPath[] = [];
  // A protected name reached through links: every link on its way that the command could replace (the name's own, a
  // link it leads to, a linked directory above its target) is made again after the run if its text changed, or the
  // name would lead where the command chose.
  const keepLink = (p: string, resolved: string, why: string) => {
    if (resolved === p) return;
    let chain: { link: string; target: string }[];
    try {
      chain = walkPath(p).links;
    } catch {
      chain = [];
    }
    for (const { link, target } of chain) {
      if (!isWritable(link) || linkWatch.some((w) => w.path === link)) continue;
      linkWatch.push({ path: link, kind: 'link', repo: writableRoots.find((w) => isWithin(link, w))!, why: link === p ? why : `${why}: ${p} leads through it`, target });
    }
  };
  // A protected name in a writable path that leads to that path or above it (`.vscode -> .`, which another user can
  // leave in a shared /tmp): holding it read-only would take the whole grant away, silently. Refused, naming it.
  // So does one leading to another writable path, or to the working directory under a wider grant.
  const refuseHoldingRoot = (p: string, lands: string) => {
    if (lands === p || !writableRoots.some((w) => isWithin(p, w))) return;
    const root = [...writableRoots, input.cwd].find((w) => w !== p && isWithin(w, lands) && (w !== input.cwd || isWritable(w)));
    if (root === undefined) return;
    const own = writableRoots.find((w) => isWithin(p, w) && isWithin(w, lands));
    const fix = own !== undefined ? `remove the link (rm ${p})` : root === input.cwd && !writableRoots.includes(root) ? `run from another directory, or remove the link (rm ${p})` : `leave ${root} out of the writable paths, or remove the link (rm ${p})`;
    throw new CordonError('CORDON_ERR_POLICY', `${p} is a protected name, and a symbolic link to ${lands}, which holds the writable path ${root}: cordon holds a protected name read-only whatever grant reaches it, which would make all of ${root} read-only. To go on, ${fix}; nothing was run`);
  };
  const prot = (p: string, why: string) => {
    pushResolved(p, 'read-only', `protected: ${why}`);
    refuseHoldingRoot(p, rules[rules.length - 1]!.path);
    keepLink(p, rules[rules.length - 1]!.path, why);
  };
  // A read-only path named through a link (`--read-only cfg`, cfg -> real/cfg): the target is held by
  // the rule; the link, which no mount can hold, is made again after the run if the command replaced it.
  for (const n of namedReadOnly) keepLink(n.abs, resolvePath(n.abs).path, `read-only (${n.source})`);
  // In $HOME, a missing name is watched, not held by a placeholder (homeWatch).
  const homeWatch: WatchedPath[] = [];
  /**
   * A missing path below `root` that the command may make: the topmost
   * missing directory on the way is what it would create (say ~/.config,
   * for ~/.config/git), watched and moved aside whole after the run.
   */
  const watchMissing = (path: string, root: string, why: string) => {
    let top = path;
    while (dirname(top) !== root && resolvePath(dirname(top)).kind === 'missing') top = dirname(top);
    if (!homeWatch.some((w) => w.path === top)) homeWatch.push({ path: top, kind: 'created', repo: root, why: top === path ? why : `${why}: ${path} would be in it` });
  };
  const protHome = (p: string, why: string) => {
    const r = resolvePath(p);
    refuseHoldingRoot(p, r.path);
    if (r.kind === 'missing' && isWithin(r.path, home) && r.path !== home) watchMissing(r.path, home, why);
    else rules.push({ path: r.path, kind: r.kind, access: 'read-only', source: `protected: ${why}` });
    keepLink(p, r.path, why);
  };
  const protExisting = (p: string, why: string) => {
    const r = resolvePath(p);
    refuseHoldingRoot(p, r.path);
    if (r.kind !== 'missing') rules.push({ path: r.path, kind: r.kind, access: 'read-only', source: `protected: ${why}` });
    keepLink(p, r.path, why);
  };
  const homeWritable = isWritable(home);
  // A writable root's missing names are held by placeholders: looked at after the run too (Rescan.recheckNames).
  const placeheld: string[] = [];
  // Guarded after the run (AFTER_RUN_NAMES, npm's bins for a project cordon is not installed in): an existing one is
  // read-only, a missing one is watched, with no placeholder (nor the pins above one).
  const rootWatch: WatchedPath[] = [];
  const unheld: Record<string, string> = {};
  /** Holds nothing for `name` in the shared directory `w` where another user's entry there is in the way (notOursToHold). */
  const theirsInWay = (w: string, name: string) => {
    const t = notOursToHold(w, name);
    if (t) unheld[t.path] = t.id;
    return t !== undefined;
  };
  const protAfterRun = (p: string, why: string, onlyOwn = false) => {
    // A name of two components whose first is a link leading nowhere or into a loop (`.github -> .github`) holds nothing either.
    const up = dirname(p);
    if (watchDangling(p, why) || (!writableRoots.includes(up) && up !== input.cwd && up !== home && watchDangling(up, why))) return;
    const r = resolvePath(p);
    refuseHoldingRoot(p, r.path);
    const root = writableRoots.find((w) => isWithin(r.path, w));
    if (r.kind !== 'missing') rules.push({ path: r.path, kind: r.kind, access: 'read-only', source: `protected: ${why}` });
    else if (root !== undefined && r.path !== root && !rootWatch.some((x) => x.path === r.path)) rootWatch.push({ path: r.path, kind: 'created', repo: root, why, ...(onlyOwn ? { onlyOwn } : {}) });
    keepLink(p, r.path, why);
  };
  // A protected name that is a symbolic link leading nowhere (yet), or into a loop: no mount can hold where it leads
  // without making the directories on the way, and holding the link itself fails. Nothing is held; the link (and every
  // link on its way) must be the same after the run, or what replaced it is moved aside and the link made again; and
  // what the command puts where it leads, in a writable path, is moved aside: there, and a link at the first missing
  // entry on the way or at an entry a `..` climbs out of (either leads it elsewhere). For a shell startup file
  // (`startup`), which no shell reads there, only a link or a second name the next run would refuse.
  // Returns whether `p` is such a link.
  const watchDangling = (p: string, why: string, startup = false): boolean => {
    const target = danglingLink(p);
    if (target === undefined) return false;
    const root = writableRoots.find((w) => isWithin(p, w));
    if (root === undefined) return true;
    if (!linkWatch.some((x) => x.path === p)) linkWatch.push({ path: p, kind: 'link', repo: root, why, target });
    // Where it leads as the kernel resolves it (links on the way followed, a `..` after them too): the first missing
    // entry on the way, and the rest as written from there. A link on the way is the user's, held like the name's own.
    let walked: ReturnType<typeof walkPath>;
    try {
      walked = walkPath(p);
    } catch {
      return true; // a loop: it leads nowhere, whatever is made
    }
    keepLink(p, walked.path, why);
    // An entry a `..` on the way climbs out of (`x/../docs/AGENTS.md`): a link the command makes there moves where it leads.
    // One missing now is what makes it lead nowhere: whatever the command makes there goes (`m/../NOTES.md`).
    for (const c of walked.climbs) {
      if (walked.links.some((h) => h.link === c)) continue; // a link on the way: held as it is (keepLink)
      const under = writableRoots.find((w) => isWithin(c, w) && c !== w);
      if (under === undefined || rootWatch.some((x) => x.path === c)) continue;
      const missing = !exists(c);
      rootWatch.push({ path: c, kind: 'created', repo: under, why: `${why}: ${p} leads through it`, ...(missing ? {} : { ifLink: true }) });
    }
    const dest = walked.path;
    const top = walked.gone;
    const at = top === undefined ? undefined : writableRoots.find((w) => isWithin(top, w));
    if (top === undefined || at === undefined || top === at || dest === p || !isWithin(dest, top)) return true;
    const there = { kind: 'created' as const, repo: at };
    for (const q of new Set([top, dest])) {
      if (rootWatch.some((x) => x.path === q)) continue;
      if (startup) rootWatch.push({ path: q, ...there, why: `${why}: ${p} leads there`, linkedOnly: true });
      else if (q === dest) rootWatch.push({ path: q, ...there, why: `${why}: ${p} leads there` });
      else rootWatch.push({ path: q, ...there, why: `${why}: ${p} leads through it`, ifLink: true });
    }
    return true;
  };
  // A shell startup file a writable root lacks is no shell's there; a link or a second name the command gives it
  // would make later runs refuse to hold it (refuseHoldingRoot), so those are moved aside after the run.
  const protStartup = (p: string, why: string) => {
    const root = writableRoots.find((w) => isWithin(p, w));
    if (!exists(p)) {
      if (root !== undefined && !rootWatch.some((x) => x.path === p)) rootWatch.push({ path: p, kind: 'created', repo: root, why, linkedOnly: true });
      return;
    }
    if (!watchDangling(p, why, true)) protExisting(p, why);
  };
  // The working directory is the project even inside a wider grant (`--allow-write ..`): its names are held too.
  const cwdHeld = isWritable(input.cwd) && !writableRoots.includes(input.cwd) && input.cwd !== home;
  for (const w of cwdHeld ? [...writableRoots, input.cwd] : writableRoots) {
    if (homeWritable && isWithin(home, w)) continue; // $HOME's own names, below
    // In a directory every user shares (/tmp made writable), a placeholder would be every user's to trip over.
    const shared = isShared(w);
    for (const n of PROTECTED_NAMES) {
      if (shared) {
        if (!theirsInWay(w, n.name)) protAfterRun(join(w, n.name), n.why, true);
        continue;
      }
      if (watchDangling(join(w, n.name), n.why)) continue;
      prot(join(w, n.name), n.why);
      if (rules[rules.length - 1]!.kind === 'missing') placeheld.push(join(w, n.name));
    }
    for (const n of SHELL_STARTUP) if (!shared || !theirsInWay(w, n.name)) protStartup(join(w, n.name), n.why);
    for (const n of AFTER_RUN_NAMES) if (!shared || !theirsInWay(w, n.name)) protAfterRun(join(w, n.name), n.why, shared);
  }
  for (const n of namesInGrants) protAfterRun(n.path, n.why);
  if (homeWritable) {
    for (const n of [...PROTECTED_NAMES, ...SHELL_STARTUP, ...AFTER_RUN_NAMES]) protHome(join(home, n.name), n.why);
  }
  // Whichever grant reaches them, from above ($HOME, ~/.aws) or beneath (~/.local/bin/x): read-only wins.
  // So do the directories of the caller's $PATH in $HOME (~/.cargo/bin, a node version's bin/): later
  // shells run what is there. (One in a project's working directory, an activated .venv/bin, is the project's;
  // not when the working directory is $HOME or above it.)
  const inProject = (d: string) => isWithin(d, input.cwd) && !isWithin(home, input.cwd);
  // A PATH entry may name $HOME by its link or by where it leads: each taken relative to the one it names.
  const inHome = (d: string) => [input.home, home].find((h) => isWithin(d, h) && d !== h);
  const inPath = (input.env?.PATH ?? '').split(':').filter((d) => d.startsWith(sep) && inHome(d) !== undefined && !inProject(d));
  // A `broad` one only under a grant above it: one that names it, or a path in it, is the user's choice.
  for (const n of [...PROTECTED_IN_HOME, ...inPath.map((d) => ({ name: d.slice(inHome(d)!.length + 1), why: 'on PATH of later shells ($PATH)', broad: undefined }))]) {
    const p = resolvePath(join(home, n.name)).path;
    if (rules.some((r) => (r.access === 'read-write' || r.access === 'read-write-no-delete') && grantLeavesReadOnly(p, n.broad, r.path, globbed.has(r.path)))) {
      refuseHoldingRoot(join(home, n.name), p);
      protHome(p, n.why);
    }
  }
  const throughLinks = deepGlobs.some((g) => g.rule.access === 'deny-read');
  return { scanRoots, patterns, throughLinks, writableRoots, finish: (scanned) => finishPolicy(scanned) };

  function finishPolicy(found: ScanFound): Policy {
    const scanned = withoutUnreachable(found, writableRoots);
    const sharedRoots = writableRoots.filter(isShared);
    const scanWarnings: string[] = [];
    const denyGlobs = deepGlobs.filter((g) => g.rule.access === 'deny-read');
    refuseIncompleteLinks(scanned, denyGlobs.map((g) => g.rule.raw));
    const unchecked = guardUnscanned(scanned, denyGlobs, writableRoots, rules, scanWarnings);
    const closed = capGitDirs(scanned, writableRoots, rules, scanWarnings);
    const matched: { m: string; g: (typeof deepGlobs)[number] }[] = [];
    for (const m of scanned.matches) {
      for (const g of deepGlobs) {
        if (!isWithin(m, g.base) || !g.re.test(m)) continue;
        // A match is known only now, after the protections of the writable paths were laid out: one outside
        // them would be a writable path with none (`~/**/x` matching ~/.bashrc's directory, cordon's state).
        // The match may itself be a link (`sub/build -> ~`): judged where it leads.
        const lands = resolvePath(m).path;
        if ((g.rule.access === 'read-write' || g.rule.access === 'read-write-no-delete') && (!isWritable(m) || !isWritable(lands))) {
          const where = lands === m ? m : `${m} (a symbolic link to ${lands})`;
          throw new CordonError('CORDON_ERR_POLICY', `${g.rule.raw} (${g.rule.source}) matches ${where}, which lies in no other writable path: a ** grant can only repeat a grant it lies in, since cordon lays out what it protects in each writable path before the scan finds the matches. Name the directory to open itself; nothing was run`);
        }
        matched.push({ m, g });
      }
    }
    // A match re-opening a read, or granting a write, through a link the project ships: as a named grant.
    const opening = matched.filter(({ g }) => g.rule.access !== 'deny-read' && g.rule.access !== 'read-only');
    refuseRedirectedGrants(opening.map(({ m, g }) => ({ abs: m, source: g.rule.source, raw: g.rule.raw, reopens: g.rule.access === 'allow-read' })), rules, projectAreas(input), input.sandboxed ?? []);
    for (const { m, g } of matched) pushResolved(m, g.rule.access, `${g.rule.source} (${g.rule.raw})`);
    // Reached through a symbolic link: only a read deny follows (a grant never widens through a link).
    for (const m of scanned.linkedMatches ?? []) {
      for (const g of deepGlobs) {
        if (g.rule.access === 'deny-read' && isWithin(m, g.base) && g.re.test(m)) pushResolved(m, 'deny-read', `${g.rule.source} (${g.rule.raw}, through a symbolic link)`);
      }
    }
    const watch: WatchedPath[] = [...homeWatch, ...rootWatch, ...linkWatch];
    const repos = new Set(scanned.repos);
    for (const w of writableRoots) if (!repos.has(w)) watch.push({ path: join(w, '.git'), kind: 'repository', repo: w, ...(allowGitConfig ? { keepConfig: true } : {}) });
    const heldNames: string[] = [];
    const relativeHooks: string[] = [];
    const atRoots = rootNamesFound(scanned);
    for (const repo of scanned.repos.filter(isWritable)) {
      if (inClosed(closed, repo)) continue;
      // What the scan saw (or one listing) instead of a lookup per name (~50 names, at every
      // nested repository): only the names that are there can be protected here (a missing one
      // gets no placeholder: the scan after the run looks for it, Rescan.names).
      const present = atRoots?.(repo) ?? namesIn(repo);
      // In a shared directory, another user's link there is theirs to point (notOursToHold).
      const shared = sharedRoots.some((s) => isWithin(repo, s));
      for (const n of ROOT_NAMES) {
        if (present && !present.has(n.name)) continue;
        if (!(shared && theirsInWay(repo, n.name)) && !watchDangling(join(repo, n.name), n.why, STARTUP_NAMES.has(n.name))) protExisting(join(repo, n.name), n.why);
      }
      if (!writableRoots.includes(repo)) for (const n of WATCHED_AT_ROOTS) if (present ? present.has(n.name) : exists(join(repo, n.name))) heldNames.push(join(repo, n.name));
    }
    if (writableRoots.length > 0) {
      // Each git dir the scan looked into, and the directories on its way, are directories of their own: no lookup.
      for (const g of Object.keys(scanned.gitFacts ?? {})) {
        const root = scanRoots.find((r) => isWithin(g, r));
        if (root) resolvePath.walked(root, g);
      }
      const gitConfig = new GitConfigReader({ home: input.home, env: input.env ?? {} });
      // A path a git config names that this user may not even look at (a program or hooks directory in another user's
      // 0700 home, named by their repository in a shared /tmp) the command cannot reach either, where it lies outside
      // every writable path or behind another user's closed directory in a shared one: as good as missing there (which
      // holds nothing outside the writable paths; the filters below drop what is held or watched in a shared one).
      // Inside a writable path of this user's, an unsearchable directory is the command's doing: refused, as before.
      const reach = sharedView(sharedRoots);
      const gitResolve = (abs: string): ResolvedPath => {
        try {
          return resolvePath(abs);
        } catch (e) {
          const outOfReach = !writableRoots.some((w) => isWithin(abs, w)) || reach?.unreachable(abs) === true;
          if ((e as { cause?: NodeJS.ErrnoException }).cause?.code === 'EACCES' && outOfReach) return { path: abs, kind: 'missing' };
          throw e;
        }
      };
      protectGitSurfaces({ rules, watch, resolvePath: gitResolve, isWritable, writableRoots, home: input.home, allowGitConfig, config: gitConfig, done: new Set(), onTheWay: new Set(), closed, facts: scanned.gitFacts ?? {}, keepLink }, scanned);
      // A relative core.hooksPath of the system or global configuration holds for a repository the command makes too:
      // the hooks directory it names in that repository is moved aside after the run (after-run.ts).
      relativeHooks.push(...new Set(gitConfig.outer().flatMap((f) => f.values.hooksPath.filter((v) => expandGitPath(v, input.home, sep) !== undefined && !isAbsolute(v) && !v.startsWith('~') && !v.startsWith(':(optional)')))));
    }

    // cordon's own settings files and bookkeeping must not be rewritable from inside, wherever a link
    // to them leads (a settings file kept in a dotfiles repository, a ~/.local that is a link).
    const writableThere = (p: string) => p.startsWith(sep) && (isWritable(p) || isWritable(resolvePath(p).path));
    for (const s of input.settings) if (writableThere(s.file)) prot(s.file, "cordon settings file in use");
    // A file that holds an upstream proxy's password is not the command's to read either.
    for (const s of input.settings) {
      if (s.file.startsWith('/') && s.network.parentProxy && carriesCredentials(s.network.parentProxy)) pushResolved(s.file, 'deny-read', "protected: a settings file holding the upstream proxy's password (network.parentProxy)");
    }
    if (input.runtimeDir && writableThere(input.runtimeDir)) prot(input.runtimeDir, "cordon's runtime directory (placeholder holds, scan cache)");
    for (const f of input.protectedFiles ?? []) if (writableThere(f)) prot(f, "a file cordon writes during the run (--audit-log, --violations-json)");
    const ownWarnings: string[] = [];
    for (const f of input.cordonOwn ?? []) {
      if (isWritable(f.path)) (f.afterRun ? protAfterRun : isWithin(f.path, home) ? protHome : prot)(f.path, f.why);
      // A writable root inside cordon's own files: read-only wins, and the user hears why.
      const inside = writableRoots.filter((w) => w !== f.path && isWithin(w, f.path));
      if (inside.length > 0) {
        prot(f.path, f.why);
        ownWarnings.push(`${inside.join(', ')} lies inside ${f.path} (${f.why}), which is never writable in a sandbox: it is read-only in this run. Run cordon from a directory outside it`);
      }
    }

    dropEmptyDenies(rules);
    // A built-in read deny (a credential store) on a path that is not there, in a writable path, hides nothing
    // and holds nothing: the command can make it (~/.kube/config with an exec plugin kubectl runs,
    // ~/.gnupg/gpg-agent.conf's pinentry-program, under --allow-write ~). The deny is dropped, so the policy says
    // what the sandbox does (writable there), and what the command makes there is moved aside after the run, as a
    // missing protected name in $HOME is. (A deny of yours on a missing path, say **/.env, stays as you wrote it.)
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i]!;
      const root = r.access === 'deny-read' && r.weak && r.kind === 'missing' && isWritable(r.path) ? writableRoots.find((w) => r.path !== w && isWithin(r.path, w)) : undefined;
      if (root === undefined) continue;
      rules.splice(i, 1);
      watchMissing(r.path, root, `${r.source}: read-denied where it exists, and the host's tools would take one the command makes for yours`);
    }
    // In a shared directory, nothing to hold where the command cannot reach (behind another user's directory it may not
    // search: holding it would stop the run) or cannot make (uncreatable).
    const view = sharedView(sharedRoots);
    if (view) {
      for (let i = rules.length - 1; i >= 0; i--) {
        const r = rules[i]!;
        if (r.access === 'read-write' || r.access === 'read-write-no-delete' || !sharedRoots.some((s) => r.path !== s && isWithin(r.path, s))) continue;
        if (view.unreachable(r.path) || (r.kind === 'missing' && r.access === 'read-only' && view.uncreatable(r.path))) rules.splice(i, 1);
      }
    }
    refuseLinkedProtected(rules, isWritable);
    // cordon's own files and settings, guarded above, may add watched names and links too.
    for (const w of [...homeWatch, ...rootWatch, ...linkWatch]) if (!watch.includes(w)) watch.push(w);
    const watched = commandCouldMake(watch, writableRoots);
    watch.splice(0, watch.length, ...watched);
    validateModes(rules);
    gitInNoDelete(rules, [...scanned.repos.map((r) => join(r, '.git')), ...scanned.submoduleGitDirs, ...(scanned.bareGitDirs ?? []), ...(scanned.worktreeGitDirs ?? [])]);
    const warnings = [...input.settings.flatMap((s) => s.warnings), ...grantWarnings, ...ownWarnings, ...scanWarnings];
    const unixSockets = unixSocketGrants(input, resolvePath, warnings);
    const policy: Policy = {
      cwd: input.cwd,
      home: input.home,
      rules,
      sources: input.settings.map((s) => s.file),
      warnings,
      network: withBroker(input.settings, { ...withParent(networkSpec(input.settings, input.cli), input.settings, input.env ?? {}), unixSockets, ...tlsSpec(input.settings, { cwd: input.cwd, home: input.home }), ...requestRulesOf(input.settings) }, { cwd: input.cwd, home: input.home }),
      watch,
      neverWritable: [
        ...input.settings.map((s) => ({ path: s.file, why: 'cordon settings file in use' })),
        ...(input.runtimeDir ? [{ path: input.runtimeDir, why: "cordon's runtime directory (placeholder holds, scan cache)" }] : []),
        ...(input.protectedFiles ?? []).map((f) => ({ path: f, why: 'a file cordon writes during the run (--audit-log, --violations-json)' })),
        ...(input.cordonOwn ?? []),
      ],
      ...(writableRoots.length > 0 ? { rescan: { roots: scanRoots, patterns, known: [...scanned.repos, ...scanned.submoduleGitDirs, ...(scanned.bareGitDirs ?? []), ...(scanned.worktreeGitDirs ?? []), ...(scanned.moduleLinks ?? [])], ...(scanned.ids ? { ids: scanned.ids } : {}), unreadable: scanned.unreadable ?? 0, ...(scanned.unreadablePaths ? { unreadablePaths: scanned.unreadablePaths } : {}), writable: writableRoots, keepConfig: allowGitConfig, unchecked, ...(relativeHooks.length > 0 ? { relativeHooks } : {}) } } : {}),
    };
    // A protected name missing at the root of a nested work tree: looked for by the scan after the run.
    return policy.rescan ? { ...policy, rescan: { ...policy.rescan, names: SCANNED_NAMES, heldNames, ...(Object.keys(unheld).length > 0 ? { unheld } : {}), ...(closed.size > 0 ? { closed: [...closed] } : {}), ...(placeheld.length > 0 ? { recheckNames: placeheld } : {}) } } : policy;
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
 * The upstream proxies of a filtered network (network/parent-proxy.ts): the
 * strongest source's network.parentProxy, else cordon's own environment
 * (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); the strongest source's
 * network.mitmProxy. Set in a file while the network is not filtered, either
 * would change nothing: an error, as any setting that cannot take effect;
 * mitmProxy with tlsTerminate too (srt refuses the pair).
 */
export function withParent<T extends { readonly mode: NetworkMode; readonly modeSource: string }>(net: T, settings: readonly Settings[], env: NodeJS.ProcessEnv): T & { parent?: ParentProxy; mitm?: MitmProxy } {
  const set = [...settings].reverse().find((s) => s.network.parentProxy !== undefined);
  const mitmSet = [...settings].reverse().find((s) => s.network.mitmProxy !== undefined);
  if (net.mode !== 'filtered') {
    const which = set ? { s: set, key: 'network.parentProxy' } : mitmSet ? { s: mitmSet, key: 'network.mitmProxy' } : undefined;
    if (which) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${which.s.file}: ${which.key} sends cordon's proxy traffic on through another proxy, and the network is ${net.mode} here (${net.modeSource}), so there is none: allow a domain, or remove ${which.key}`);
    return net;
  }
  const tls = settings.find((s) => s.network.tls !== undefined);
  if (mitmSet && tls) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `network.mitmProxy (${mitmSet.file}) and network.tlsTerminate (${tls.file}) both open HTTPS, as srt refuses them together: keep one`);
  }
  const parent = parentProxy(set ? { value: set.network.parentProxy!, file: set.file } : undefined, env);
  return { ...net, ...(parent ? { parent } : {}), ...(mitmSet ? { mitm: mitmSet.network.mitmProxy! } : {}) };
}

/**
 * network.tlsTerminate from every source: on if any sets it; the lists add
 * up (a source that terminates every host makes `domains` absent); one CA
 * at most (two sources naming different ones is an error); the smallest
 * maxTunnels and handshake timeout. Paths are expanded as rule paths are.
 */
export function tlsSpec(settings: readonly Settings[], ctx: { cwd: string; home: string }): { tls?: TlsSpec; refuseOpaqueTunnels?: true } {
  const refuse = settings.some((s) => s.network.refuseOpaqueTunnels) ? { refuseOpaqueTunnels: true as const } : {};
  const setting = settings.filter((s) => s.network.tls !== undefined);
  if (setting.length === 0) return refuse;
  const tls = setting.map((s) => s.network.tls!);
  const abs = (p: string) => expandPath(p, ctx);
  const cas = [...new Map(setting.filter((s) => s.network.tls!.ca).map((s) => [JSON.stringify([abs(s.network.tls!.ca!.cert), abs(s.network.tls!.ca!.key)]), s.file])).entries()];
  if (cas.length > 1) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `network.tlsTerminate names two CAs (in ${cas.map(([, f]) => f).join(' and ')}); name one, in one file`);
  const min = (vs: (number | undefined)[]) => (vs.some((v) => v !== undefined) ? Math.min(...vs.filter((v): v is number => v !== undefined)) : undefined);
  const maxTunnels = min(tls.map((t) => t.maxTunnels));
  const handshakeMs = min(tls.map((t) => t.handshakeMs));
  const ca = cas[0] ? JSON.parse(cas[0][0]) as [string, string] : undefined;
  return {
    ...refuse,
    tls: {
      ...(tls.every((t) => t.domains) ? { domains: tls.flatMap((t) => t.domains!) } : {}),
      exclude: tls.flatMap((t) => t.exclude),
      extraCaCertPaths: [...new Set(tls.flatMap((t) => t.extraCaCertPaths.map(abs)))],
      ...(ca ? { ca: { cert: ca[0], key: ca[1] } } : {}),
      ...(maxTunnels !== undefined ? { maxTunnels } : {}),
      ...(handshakeMs !== undefined ? { handshakeMs } : {}),
      from: setting.map((s) => s.file),
    },
  };
}

/** network.requestRules of every source; none: the key is absent. */
function requestRulesOf(settings: readonly Settings[]): { requestRules?: readonly RequestRule[] } {
  const rules = settings.flatMap((s) => s.network.requestRules);
  return rules.length > 0 ? { requestRules: rules } : {};
}

/**
 * credentials.broker of every source, checked against the network it needs:
 * the filtered mode, each bound host allowed (a credential for a host the
 * command cannot reach is a mistake) and TLS-terminated there (the real
 * value goes only into verified TLS), and each variable brokered once.
 */
export function withBroker(settings: readonly Settings[], net: NetworkPolicySpec, ctx: { cwd: string; home: string }): NetworkPolicySpec {
  const entries = settings.flatMap((s) => s.broker ?? []);
  if (entries.length === 0) return net;
  const bad = (e: BrokerSetting, what: string) => new CordonError('CORDON_ERR_SETTINGS_INVALID', `${e.file}: ${e.keyPath}${what}`);
  const seen = new Map<string, BrokerSetting>();
  for (const e of entries) {
    const other = seen.get(e.env);
    if (other) throw bad(e, `.env: ${e.env} is brokered by ${other.file}: ${other.keyPath} too; broker each variable once`);
    seen.set(e.env, e);
    if (net.mode !== 'filtered') throw bad(e, `: a brokered credential needs the filtered network (the network is ${net.mode}: ${net.modeSource})`);
    for (const h of e.hosts) {
      const probe = h.pattern.kind === 'subdomains' ? `x.${h.pattern.base}` : h.pattern.kind === 'name' ? h.pattern.name : h.pattern.kind === 'ip' ? h.source.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') : '';
      const port = h.port ?? 443;
      const parsed = parseHost(probe);
      const covered = (rules: readonly DomainRule[]) => parsed.ok && rules.some((r) => (h.pattern.kind !== 'subdomains' || r.pattern.kind !== 'name') && ruleMatches(r, parsed.host, port));
      if (!covered(net.allow)) throw bad(e, `.hosts: ${h.source} is not in network.allowedDomains, so the command cannot reach it; allow it there too`);
      const tls = net.tls;
      if (!tls || covered(tls.exclude) || (tls.domains && !covered(tls.domains))) throw bad(e, `.hosts: ${h.source} is not TLS-terminated, and cordon puts a real credential only into TLS it terminates and verifies; set network.tlsTerminate covering it (not in its excludeDomains)`);
    }
  }
  const credentials = entries.map((e) => ({ ...e, from: 'file' in e.from ? { file: expandPath(e.from.file, ctx) } : e.from }));
  return { ...net, credentials };
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
 * Where the scan could not look (scan.ts: incomplete), a repository or a
 * `**` read deny's match could hide, and nothing would protect it. So that
 * directory is closed for this run, whole: read-only, or hidden when a `**`
 * read deny reaches it (its matches there are unknown). The command cannot
 * plant or change anything below it, so a tree it made too deep to scan
 * costs it that tree, not every later run. Outside the writable paths (a
 * deny's base elsewhere) nothing can be closed that way: refused, as before.
 * Returns the closed directories (the scan after the run skips their
 * incompleteness: nothing there could change).
 */
function guardUnscanned(scanned: ScanFound, denyGlobs: readonly { base: string; rule: RawRule }[], writableRoots: readonly string[], rules: FsRule[], warnings: string[]): string[] {
  const incomplete = scanned.incomplete ?? [];
  const list = (ps: readonly string[]) => ps.slice(0, 3).join(', ') + (ps.length > 3 ? ` and ${ps.length - 3} more` : '');
  // Closed whole: read-only, or hidden where a ** read deny reaches (its matches there are unknown).
  const close = (p: string, why: string) => rules.push({ path: p, kind: 'dir', access: denyGlobs.some((g) => isWithin(p, g.base) || isWithin(g.base, p)) ? 'deny-read' : 'read-only', source: `protected: ${why}` });
  const how = denyGlobs.length > 0 ? 'closed (read-only, or hidden where a ** read deny reaches)' : 'read-only';
  const outside = incomplete.filter((p) => !writableRoots.some((w) => isWithin(p, w)));
  if (outside.length > 0) {
    throw new CordonError('CORDON_ERR_POLICY', `cordon could not look at everything below ${list(outside)} for ${denyGlobs.map((g) => g.rule.raw).join(', ') || 'protected names'} (a directory tree deeper than a path can name, a directory listing too large, a directory renamed while cordon looked, or a name that is not valid UTF-8), so a match there could not be hidden; nothing was run. Look at what lies below it and remove what should not be there (rm -rf works at any depth), then run cordon again`);
  }
  // Closed at most CLOSE_DEPTH levels below its writable root: a 20 000-deep
  // chain closes from its 32nd level down, and needs no more than 31 pins.
  const closed = [...new Set(incomplete.map((p) => {
    const root = writableRoots.filter((w) => isWithin(p, w)).sort((a, b) => b.length - a.length)[0]!;
    const parts = p.slice(root.length).split(sep).filter(Boolean);
    return parts.length <= CLOSE_DEPTH ? p : join(root, ...parts.slice(0, CLOSE_DEPTH));
  }))];
  for (const p of closed) close(p, 'the scan could not look at everything below it (too deep, too large, changed while it looked, or a name that is not valid UTF-8)');
  if (closed.length > 0) warnings.push(`cordon could not look at everything below ${list(incomplete)} (a tree deeper than a path can name, a listing too large, a directory renamed while cordon looked, or a name that is not valid UTF-8, which cordon cannot name in a rule): a git repository there could not be protected, so ${list(closed)} ${closed.length === 1 ? 'is' : 'are'} ${how} in this run. Remove what should not be there (rm -rf works at any depth)`);
  // A directory whose mode lets cordon search it but not list it (chmod 111): what lies below it
  // (a repository, a ** deny's match) is unknown, while a command that knows the names reaches it.
  // Closed the same way: read-only in a writable path, hidden where a ** read deny reaches.
  const unlisted = (scanned.unreadablePaths ?? []).filter((p) => !closed.some((c) => isWithin(p, c)));
  const closing = unlisted.filter((p) => writableRoots.some((w) => isWithin(p, w)) || denyGlobs.some((g) => isWithin(p, g.base)));
  if (closing.length > UNLISTED_MAX) {
    throw new CordonError('CORDON_ERR_POLICY', `cordon could not list or search ${closing.length} directories (${list(closing)}): their mode lets no one read them or look at what they hold, so a git repository or a file a ** read deny names could lie below them unseen, and closing more than ${UNLISTED_MAX} costs a mount each; nothing was run. Make them readable (chmod -R u+rwX: X gives search to directories) or remove them, then run cordon again`);
  }
  for (const p of closing) close(p, 'a directory cordon could not list or search (its mode lets no one read it, or look at what it holds), so what lies below it could not be checked');
  if (closing.length > 0) warnings.push(`cordon could not list or search ${list(closing)} (its mode lets no one read it, or look at what it holds): what lies below could not be checked, so ${closing.length === 1 ? 'it is' : 'they are'} ${how} in this run. Make ${closing.length === 1 ? 'it' : 'them'} readable and searchable (chmod u+rx) to use ${closing.length === 1 ? 'it' : 'them'} as before`);
  return [...closed, ...closing];
}

/** Directories the scan could not list that a run closes one by one (guardUnscanned); more refuse the run. */
const UNLISTED_MAX = 64;

/**
 * A protected file held read-only in a writable path that has other hard
 * links than the protected names held with it (CLAUDE.md and AGENTS.md as
 * one file are both held): through another name, which may lie where the
 * command writes (a `.cache/x` it made in an earlier run, before the user
 * moved a set-aside file back), the command could rewrite it. Refused,
 * naming the file and how to give it one name. Not another user's file
 * that no name lets this user write (neither group nor others may, so no
 * ACL entry grants it either): no name lets the command write it, and such
 * a file in a directory every user shares (`/tmp/x/.git/config`) would let
 * any user of the machine stop everyone's runs.
 */
function refuseLinkedProtected(rules: readonly FsRule[], isWritable: (p: string) => boolean): void {
  const held = rules.filter((r) => r.access === 'read-only' && r.kind === 'file' && r.source.startsWith('protected:') && isWritable(r.path));
  const byId = new Map<string, { path: string; links: number; held: Set<string> }>();
  for (const path of new Set(held.map((r) => r.path))) {
    let st;
    try { st = lstatSync(path, { bigint: true }); } catch { continue; }
    if (st.nlink <= 1n || !st.isFile()) continue;
    if (Number(st.uid) !== process.geteuid?.() && (Number(st.mode) & 0o022) === 0) continue;
    const id = `${st.dev}:${st.ino}`;
    const e = byId.get(id);
    if (e) e.held.add(path);
    else byId.set(id, { path, links: Number(st.nlink), held: new Set([path]) });
  }
  for (const e of byId.values()) {
    if (e.held.size >= e.links) continue;
    throw new CordonError('CORDON_ERR_POLICY', `${e.path} is protected, and it has ${e.links} hard links: through another name, which may lie where the command can write, a sandboxed command could rewrite it; nothing was run. Read what it holds, then give it one name (cp ${e.path} ${e.path}.new && mv ${e.path}.new ${e.path})`);
  }
}

/** How deep below a writable root an unscanned directory is closed (guardUnscanned): bounds its pins. */
const CLOSE_DEPTH = 32;



/**
 * Each git dir in a writable path is protected one by one (a pin, read-only
 * config and hooks, placeholders, files watched after the run), and a bare
 * git dir is cheap to make (HEAD, objects/, refs/): thousands of them would
 * make every later run slow, or fail it (a mount each). Above GIT_DIRS_MAX
 * git dirs in one writable root (work trees, submodule, bare and linked
 * worktree git dirs), those past the first GIT_DIRS_MAX (the shallowest
 * first, then by path: a root's own repository is always among them) are
 * closed whole for the run instead, as guardUnscanned closes what the scan
 * could not look at: read-only, a work tree with everything in it. So that
 * closing costs a bounded number of mounts too, they are closed at the
 * deepest level below the root (at most CLOSE_DEPTH) at which they lie in
 * no more than CLOSED_MAX directories: 20 000 bare git dirs in `b/` close
 * `b`, with the kept ones in it. Every git dir in a closed directory still
 * has its configuration read (protectHooks: an included file or a hooks
 * directory outside stays protected). Returns the closed directories.
 * Proved by test/unit/policy/policy.test.ts and, from inside, by
 * test/integration/git/git.test.ts.
 */
function capGitDirs(scanned: ScanFound, writableRoots: readonly string[], rules: FsRule[], warnings: string[]): Set<string> {
  const closed = new Set<string>();
  const byRoot = new Map<string, Set<string>>();
  for (const p of [...scanned.repos, ...scanned.submoduleGitDirs, ...(scanned.bareGitDirs ?? []), ...(scanned.worktreeGitDirs ?? [])]) {
    const root = writableRoots.find((w) => isWithin(p, w));
    if (!root) continue;
    let dirs = byRoot.get(root);
    if (!dirs) byRoot.set(root, (dirs = new Set()));
    dirs.add(p);
  }
  for (const [root, dirs] of byRoot) {
    if (dirs.size <= GIT_DIRS_MAX) continue;
    const excess = [...dirs].map((p) => ({ p, d: depth(p) })).sort((a, b) => a.d - b.d || (a.p < b.p ? -1 : a.p > b.p ? 1 : 0)).slice(GIT_DIRS_MAX).map((x) => x.p);
    const shut = closeIn(root, excess, CLOSED_MAX);
    for (const p of shut) {
      closed.add(p);
      rules.push({ path: p, kind: 'dir', access: 'read-only', source: `protected: holds some of the more than ${GIT_DIRS_MAX} git directories in ${root}, closed whole instead of protected one by one` });
    }
    const list = shut.slice(0, 3).join(', ') + (shut.length > 3 ? ` and ${shut.length - 3} more` : '');
    warnings.push(`${root} holds ${dirs.size} git directories (repositories, bare, submodule and worktree git dirs), more than the ${GIT_DIRS_MAX} cordon protects one by one: ${list} (holding the other ${excess.length}) ${shut.length === 1 ? 'is' : 'are'} read-only in this run. Remove the git directories that should not be there, or run cordon in a directory that holds fewer`);
  }
  return closed;
}

/**
 * The fewest levels `paths` (below `root`) are cut back to so that they lie in
 * at most `max` directories, never deeper than CLOSE_DEPTH below the root: the
 * directories, sorted. Cutting deeper never gives fewer directories, so the
 * depth is found by bisection.
 */
function closeIn(root: string, paths: readonly string[], max: number): string[] {
  const parts = paths.map((p) => p.slice(root.length).split(sep).filter(Boolean));
  const cut = (d: number) => new Set(parts.map((ps) => (ps.length === 0 ? root : join(root, ...ps.slice(0, d)))));
  let lo = 0; // cut(0) is {root}: always within max
  let hi = Math.min(CLOSE_DEPTH, parts.reduce((m, ps) => Math.max(m, ps.length), 0));
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (cut(mid).size <= max) lo = mid;
    else hi = mid - 1;
  }
  return [...cut(lo)].sort();
}

/** How many git dirs in one writable root are protected one by one (capGitDirs). */
export const GIT_DIRS_MAX = 1000;
/** In how many directories the git dirs past GIT_DIRS_MAX are closed, at most (capGitDirs). */
export const CLOSED_MAX = 100;

/** `p` lies at or below one of `closed` (its ancestors looked up: the set may hold thousands). */
function inClosed(closed: ReadonlySet<string>, p: string): boolean {
  if (closed.size === 0) return false;
  for (let a = p; ; a = dirname(a)) {
    if (closed.has(a)) return true;
    if (a === sep) return false;
  }
}

function refuseIncompleteLinks(scanned: ScanFound, denyGlobs: readonly string[]): void {
  const list = (ps: readonly string[]) => ps.slice(0, 3).join(', ') + (ps.length > 3 ? ` and ${ps.length - 3} more` : '');
  const linked = scanned.linkedIncomplete ?? [];
  if (linked.length > 0 && denyGlobs.length > 0) {
    throw new CordonError('CORDON_ERR_POLICY', `${denyGlobs.join(', ')} must also hide matches reached through symbolic links, but cordon could not look at everything reached through ${list(linked)} (too many link targets, directories, or links beyond links); nothing was run. Remove the link, or deny what it points to with a rule of its own that names no ** (for example --deny-read TARGET)`);
  }
}

/** The directories every user of a machine shares (the FHS's), when they are sticky and writable by all. */
const SHARED_DIRS: readonly string[] = ['/tmp', '/var/tmp', '/dev/shm'];

/**
 * A directory every user of the machine shares. Its protected names get no
 * placeholder: an empty directory named `.vscode` there, owned by the
 * caller, would be every user's for as long as the run lasts (the sticky bit
 * lets no one else remove it), and a crash would leave it there. One the
 * command creates is moved aside after the run instead, as in $HOME. Only
 * the named ones: a command can make its own writable directory sticky and
 * writable by all, which must not lower the next run's guard there.
 */
function isShared(dir: string): boolean {
  if (!SHARED_DIRS.includes(dir)) return false;
  try {
    return (lstatSync(dir).mode & 0o1002) === 0o1002;
  } catch {
    return false;
  }
}

/**
 * What the sandbox may do to another user's entry, as the kernel will judge
 * it (or more): the command runs as this user with no capabilities (run as
 * root, as uid 0 with none, whose owner bits do not cover another user's
 * entry). `x`: search a directory; `w`: write it.
 */
function sandboxMay(p: string, mode: number, what: 'x' | 'w'): boolean {
  const bit = what === 'x' ? 1 : 2;
  // Root's: other bits, and group bits whatever the group (with an ACL they are its mask, which bounds a named entry
  // for uid or gid 0): never less than the kernel would allow.
  if (process.geteuid?.() === 0) return (mode & bit) !== 0 || (mode & (bit << 3)) !== 0;
  try {
    accessSync(p, what === 'x' ? constants.X_OK : constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function lstatOrNone(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * In a directory every user shares (isShared), the protected name
 * `shared/name` is not cordon's to hold when another user has a component
 * of it there as a symbolic link (what it leads to is theirs to choose:
 * `/tmp/.zshrc -> /` would make the whole grant read-only; the sticky bit
 * keeps a command that is not root from replacing it), or as a directory
 * the sandbox may not search (a 0700 `/tmp/.github`: nothing below it is
 * reachable from inside). Refusing the run on their account instead would
 * let any user of the machine stop everyone's. Anything else of theirs is
 * held as anywhere. Returns that component and its identity (paths.ts
 * identity), looked at once: it must be the same after the run.
 */
function notOursToHold(shared: string, name: string): { path: string; id: string } | undefined {
  let at = shared;
  for (const part of name.split('/')) {
    at = join(at, part);
    let st;
    try {
      st = lstatSync(at, { bigint: true, throwIfNoEntry: false });
    } catch {
      return undefined;
    }
    if (st === undefined) return undefined;
    if (Number(st.uid) !== process.geteuid?.() && (st.isSymbolicLink() || (st.isDirectory() && !sandboxMay(at, Number(st.mode), 'x')))) return { path: at, id: identity(st) };
    if (!st.isDirectory()) return undefined;
  }
  return undefined;
}

/**
 * The scan's findings without what lies, in a shared writable directory,
 * behind another user's directory the sandbox may not search (a repository
 * in their 0700 `/tmp/x`, which root's scan sees; a directory of theirs that
 * this user may not list, which the scan reports as unreadable): the
 * command cannot reach it, so there is nothing to hold or close there, and
 * holding it would stop the run. The scans before and after a run are
 * judged alike.
 */
export function withoutUnreachable<T extends ScanFound>(found: T, writableRoots: readonly string[]): T {
  const view = sharedView(writableRoots.filter(isShared));
  if (view === undefined) return found;
  const { unreachable } = view;
  return {
    ...found,
    repos: found.repos.filter((r) => !unreachable(join(r, '.git'))),
    submoduleGitDirs: found.submoduleGitDirs.filter((g) => !unreachable(g)),
    ...(found.bareGitDirs ? { bareGitDirs: found.bareGitDirs.filter((g) => !unreachable(g)) } : {}),
    ...(found.worktreeGitDirs ? { worktreeGitDirs: found.worktreeGitDirs.filter((g) => !unreachable(g)) } : {}),
    ...(found.moduleLinks ? { moduleLinks: found.moduleLinks.filter((l) => !unreachable(l)) } : {}),
    matches: found.matches.filter((m) => !unreachable(dirname(m))),
    ...(found.unreadablePaths ? { unreadablePaths: found.unreadablePaths.filter((u) => !unreachable(u)) } : {}),
  };
}

/** What another user has in the shared directories, as the sandbox meets it: each path looked at once (lstat). */
interface SharedView {
  /** `p` lies behind (or is) another user's directory the sandbox may not search. */
  unreachable(p: string): boolean;
  /** `p`'s directory (its nearest that exists) is another user's that the sandbox may not write. */
  uncreatable(p: string): boolean;
  /** Another user's symbolic link is on the way to `p` below the shared directory `s`. */
  throughTheirLink(p: string, s: string): boolean;
}

function sharedView(shared: readonly string[]): SharedView | undefined {
  if (shared.length === 0) return undefined;
  const me = process.geteuid?.();
  const stats = new Map<string, Stats | undefined>();
  const stat = (p: string) => {
    if (!stats.has(p)) stats.set(p, lstatOrNone(p));
    return stats.get(p);
  };
  const theirs = (p: string) => { const st = stat(p); return st !== undefined && st.uid !== me ? st : undefined; };
  const closed = (d: string) => { const st = theirs(d); return st !== undefined && st.isDirectory() && !sandboxMay(d, st.mode, 'x'); };
  return {
    unreachable(p) {
      const s = shared.find((x) => p !== x && isWithin(p, x));
      if (s === undefined) return false;
      for (let d = p; d !== s; d = dirname(d)) if (closed(d)) return true;
      return false;
    },
    uncreatable(p) {
      let d = dirname(p);
      while (d !== dirname(d) && stat(d) === undefined) d = dirname(d);
      const st = theirs(d);
      return st !== undefined && st.isDirectory() && !sandboxMay(d, st.mode, 'w');
    },
    throughTheirLink(p, s) {
      for (let d = dirname(p); d !== s && d !== dirname(d); d = dirname(d)) if (theirs(d)?.isSymbolicLink()) return true;
      return false;
    },
  };
}

/**
 * The watched paths the command could have made or changed: in a shared
 * writable directory, not one behind another user's directory the sandbox
 * may not search, nor one whose directory is another user's that the
 * sandbox may not write (their rebase in progress, their new
 * `info/attributes`, a repository they make in a directory of theirs:
 * no name there can be the command's), nor one reached through another
 * user's symbolic link (their `.git/info -> elsewhere`: what lies there is
 * theirs to name, and cordon acts on nothing through a link). Another
 * user's entry that was there and was replaced (`replaced`) is judged by
 * its identity instead. Used on the list the policy makes and on what the
 * scan after the run adds.
 */
export function commandCouldMake<T extends { readonly path: string; readonly kind: string }>(watch: readonly T[], writableRoots: readonly string[]): T[] {
  const shared = writableRoots.filter(isShared);
  const view = sharedView(shared);
  if (view === undefined) return [...watch];
  return watch.filter((w) => {
    const s = shared.find((x) => w.path !== x && isWithin(w.path, x));
    return w.kind === 'replaced' || s === undefined || !(view.unreachable(w.path) || view.uncreatable(w.path) || view.throughTheirLink(w.path, s));
  });
}


/** What the symbolic link at `p` says, if it is one whose target is missing (or cannot be reached). */
function danglingLink(p: string): string | undefined {
  let target: string;
  try {
    if (!lstatSync(p).isSymbolicLink()) return undefined;
    target = readlinkSync(p);
  } catch {
    return undefined;
  }
  try {
    statSync(p);
    return undefined;
  } catch {
    return target;
  }
}

/** Something is at `p` (a link is not followed); false where it cannot be looked at. */
function exists(p: string): boolean {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The root names (ROOT_NAMES) in a repository's root as the scan reported
 * them, where it listed that directory whole: undefined where it did not
 * (a directory it could not list, or a scan not asked for the names), and
 * then the caller lists it itself. Test: policy.test.ts ("names at a
 * repository's root from the scan").
 */
function rootNamesFound(scanned: ScanFound): ((repo: string) => Set<string> | undefined) | undefined {
  const named = new Set(scanned.named ?? []);
  if (!ROOT_NAMES.every((n) => named.has(n.name))) return undefined;
  const byDir = new Map<string, Set<string>>();
  for (const m of scanned.matches) {
    const i = m.lastIndexOf(sep);
    const dir = i === 0 ? sep : m.slice(0, i);
    let set = byDir.get(dir);
    if (!set) byDir.set(dir, (set = new Set()));
    set.add(m.slice(i + 1));
  }
  const incomplete = scanned.incomplete ?? [];
  return (repo) => (incomplete.some((d) => isWithin(repo, d)) ? undefined : byDir.get(repo) ?? new Set());
}

/** The names in a directory, or undefined if it cannot be listed (then every name is looked up). */
function namesIn(dir: string): Set<string> | undefined {
  try {
    return new Set(readdirSync(dir));
  } catch {
    return undefined;
  }
}

/** What the git protections need from the policy being built. */
const STARTUP_NAMES: ReadonlySet<string> = new Set(SHELL_STARTUP.map((n) => n.name));
/** The names a repository nested in a writable path is watched for at its root after the run (after-run.ts createdNames). */
const WATCHED_AT_ROOTS = [...PROTECTED_NAMES, ...AFTER_RUN_NAMES.filter((n) => !n.name.includes('/')), ...SHELL_STARTUP];
/** What the scan after the run looks for (Rescan.names): those, and both names of each of two components (after-run.ts refusedLater). */
const SCANNED_NAMES = [...new Set([...WATCHED_AT_ROOTS.map((n) => n.name), ...AFTER_RUN_NAMES.filter((n) => n.name.includes('/')).flatMap((n) => [basename(n.name), dirname(n.name)])])];

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
  /** Entries already held on the way to an included file (holdOnTheWay): pinned, not read-only, so apart from `done`. */
  readonly onTheWay: Set<string>;
  /** Directories closed read-only whole (capGitDirs): a git dir in one needs only its configuration read. */
  readonly closed: ReadonlySet<string>;
  /** What the scan saw in each git dir (ScanFound.gitFacts). */
  readonly facts: Readonly<Record<string, string>>;
  /** Every link on `p`'s way the command could replace: made again after the run if it was (preparePolicy). */
  readonly keepLink: (p: string, resolved: string, why: string) => void;
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
 * Proved from inside by test/integration/filesystem/filesystem.test.ts.
 */
function protectGitSurfaces(s: GitScope, scanned: ScanFound): void {
  for (const f of s.config.outer()) {
    protectConfigFile(s, f, 'git configuration read by every repository', 'every git repository');
    // Absolute (or ~/) hooks paths hold for every repository, in a writable path or not.
    for (const v of f.values.hooksPath) {
      const dir = isAbsolute(v) || v.startsWith('~') || v.startsWith(':(optional)/') ? expandGitPath(v, s.home, sep) : undefined;
      if (dir) protectHooksDir(s, dir, [], `git core.hooksPath (${f.path})`);
    }
    // The template git copies into every repository it makes (its hooks run at once: post-checkout in a clone).
    for (const v of f.values.templateDir ?? []) {
      const dir = isAbsolute(v) || v.startsWith('~/') ? expandGitPath(v, s.home, sep) : undefined;
      if (dir) protectRunnable(s, dir, `git init.templateDir (${f.path}): git copies its hooks into every repository it makes`);
    }
    // Programs named by an absolute path hold for every git run; relative ones are taken from each work tree (protectHooks).
    protectPrograms(s, f, [], `a program git runs (${f.path})`);
  }
  for (const repo of scanned.repos.filter(s.isWritable)) {
    const dotGit = join(repo, '.git');
    const k = s.resolvePath(dotGit);
    if (k.kind === 'dir' && k.path === dotGit) {
      protectGitDir(s, dotGit, [repo], false);
      continue;
    }
    // A .git file (or link) redirects git to another directory: the redirect itself is protected.
    if (!inClosed(s.closed, dotGit)) s.rules.push({ path: dotGit, kind: 'file', access: 'read-only', source: 'protected: .git file redirects git to its git dir' });
    // Its git dir (protected where the scan finds it) may name hooks relative to this work tree.
    const gitDir = k.kind === 'file' ? readGitFile(dotGit) : k.kind === 'dir' ? k.path : undefined;
    if (gitDir) protectHooks(s, gitDir, [repo]);
  }
  for (const g of scanned.submoduleGitDirs.filter(s.isWritable)) protectGitDir(s, g, [], false);
  for (const b of (scanned.bareGitDirs ?? []).filter(s.isWritable)) protectGitDir(s, b, [], true);
  for (const w of (scanned.worktreeGitDirs ?? []).filter(s.isWritable)) protectWorktreeGitDir(s, w);
}

function protectGitDir(s: GitScope, gitDir: string, workTrees: readonly string[], bare: boolean): void {
  if (inClosed(s.closed, gitDir)) return protectHooks(s, gitDir, bare ? [gitDir] : workTrees);
  const repo = workTrees[0] ?? gitDir;
  s.rules.push({ path: gitDir, kind: 'dir', access: 'pin', source: 'protected: git dir pinned so it cannot be replaced' });
  // What the scan saw there, else one listing: instead of a lookup per name (most are missing in most git dirs).
  const entries = gitDirFacts(s, gitDir) ?? listing(s, gitDir);
  for (const item of PROTECTED_IN_GIT_DIR) {
    if (item.name === 'config' && s.allowGitConfig) continue;
    // Concatenated: both parts are normal (path.join's normalize costs ~5 us a call on these paths).
    const p = `${gitDir}${sep}${item.name}`;
    const r = fromListing(s, p, item.name, entries);
    if (r.kind === 'missing' && !item.placeholder) {
      // Watched where the command could make it: not where a link on the way leads out of every writable path (`info -> /`).
      if (s.isWritable(r.path)) s.watch.push({ path: r.path, kind: 'git-file', repo });
      continue;
    }
    s.rules.push({ path: p, kind: r.kind, access: 'read-only', source: `protected: git ${item.why}` });
  }
  protectHooks(s, gitDir, bare ? [gitDir] : workTrees, entries);
}

/**
 * What a git dir holds, as far as it is known without a lookup per name:
 * `look(name)` is the name's kind, or 'resolve' where resolvePath must say
 * (a symbolic link, a name not known).
 */
interface GitDirView {
  look(name: string): PathKind | 'resolve';
  /** Whether `name` may be there (only a known absence is false). */
  has(name: string): boolean;
}

/**
 * The entries of a resolved directory and their types (never followed), or
 * undefined where the directory is not one that resolves to itself or cannot
 * be listed: then each name is looked up (fromListing).
 */
function listing(s: GitScope, dir: string): GitDirView | undefined {
  const r = s.resolvePath(dir);
  if (r.kind !== 'dir' || r.path !== dir) return undefined;
  let entries: Map<string, Dirent>;
  try {
    entries = new Map(readdirSync(dir, { withFileTypes: true }).map((d) => [d.name, d]));
  } catch {
    return undefined;
  }
  return {
    look(name) {
      const slash = name.indexOf('/');
      const d = entries.get(slash < 0 ? name : name.slice(0, slash));
      if (!d) return 'missing';
      if (slash >= 0 || d.isSymbolicLink()) return 'resolve';
      return d.isDirectory() ? 'dir' : 'file';
    },
    has: (name) => entries.has(name),
  };
}

/**
 * What the scan before the run saw in the git dir (ScanFound.gitFacts): the
 * kind of each GIT_DIR_ENTRIES name, and whether `config` can set
 * core.hooksPath or include a file (git-config.ts, CONFIG_NEEDLES; the scan
 * read it once, so it is not read again). The git dir is a directory of its
 * own (the scan opened it, never following a link) where it resolves to
 * itself; else, or without facts, undefined (listing() looks).
 */
function gitDirFacts(s: GitScope, gitDir: string): GitDirView | undefined {
  const letters = s.facts[gitDir];
  if (letters === undefined || letters.length !== GIT_DIR_ENTRIES.length) return undefined;
  const r = s.resolvePath(gitDir);
  if (r.kind !== 'dir' || r.path !== gitDir) return undefined;
  const letter = (name: string) => letters[GIT_DIR_ENTRIES.indexOf(name)];
  const KIND: Record<string, PathKind> = { '-': 'missing', d: 'dir', f: 'file', p: 'file', m: 'file' };
  // Plain, and where git reads it: no commondir sends git elsewhere.
  if (letter('config') === 'p' && letter('commondir') === '-') s.config.plain(`${gitDir}${sep}config`);
  return {
    look: (name) => KIND[letter(name) ?? '?'] ?? 'resolve',
    has: (name) => letter(name) !== '-',
  };
}

/**
 * What resolvePath says of `p`, which is `dir/name` (`name` normal,
 * relative), from what is known of dir where that is enough. Test:
 * policy.test.ts ("one listing of a git dir").
 */
function fromListing(s: GitScope, p: string, name: string, entries: GitDirView | undefined): ResolvedPath {
  const kind = entries?.look(name) ?? 'resolve';
  return kind === 'resolve' ? s.resolvePath(p) : { path: p, kind };
}

const IN_WORKTREE_GIT_DIR = [
  { name: 'commondir', why: 'sends git to the repository it belongs to' },
  { name: 'gitdir', why: 'names the worktree it belongs to' },
  { name: 'config.worktree', why: 'per-worktree configuration' },
] as const;

/** A linked worktree's git dir (`.git/worktrees/NAME`): git run in that worktree, wherever it lives, reads these. */
function protectWorktreeGitDir(s: GitScope, w: string): void {
  if (inClosed(s.closed, w)) {
    const root = readWorktreeRoot(w);
    return protectHooks(s, w, root ? [root] : []);
  }
  s.rules.push({ path: w, kind: 'dir', access: 'pin', source: 'protected: linked worktree git dir pinned so it cannot be replaced' });
  for (const item of IN_WORKTREE_GIT_DIR) {
    const p = join(w, item.name);
    const r = s.resolvePath(p);
    if (r.kind === 'missing') {
      if (s.isWritable(r.path)) s.watch.push({ path: r.path, kind: 'git-file', repo: w });
    } else s.rules.push({ path: p, kind: r.kind, access: 'read-only', source: `protected: linked worktree's ${item.name} (${item.why})` });
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
function protectHooks(s: GitScope, gitDir: string, bases: readonly string[], entries?: GitDirView): void {
  const cfg = s.config.repo(gitDir, entries);
  if (!s.allowGitConfig) for (const f of cfg.own) if (f.from) protectConfigFile(s, f, 'git configuration included by a repository', bases[0] ?? gitDir);
  const all = [...bases];
  for (const f of cfg.own) for (const v of f.values.worktree) {
    const wt = expandGitPath(v, s.home, gitDir);
    if (wt) all.push(wt);
  }
  if (all.length === 0) all.push(gitDir);
  // A program its configuration runs: by its path, or relative to the work tree git runs it in.
  for (const f of [...cfg.outer, ...cfg.own]) protectPrograms(s, f, all, `a program git runs (${f.path})`);
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
 * The programs a config file's settings run (git-config.ts programWords):
 * the command itself read-only where the command could write it, existing
 * or not; any other word that names an existing file (a script an
 * interpreter runs) likewise. `$HOME/`, `${HOME}/` and `~/` are expanded; a
 * relative word is taken from each of `bases` (none: not at all); a word
 * behind another variable cannot be known here.
 */
function protectPrograms(s: GitScope, f: ConfigFile, bases: readonly string[], why: string): void {
  const at = (w: string): string[] => {
    const v = w.replace(/^\$\{?HOME\}?\//, '~/');
    if (v.startsWith('$')) return [];
    if (isAbsolute(v) || v.startsWith('~/')) return [expandGitPath(v, s.home, sep)].filter((p): p is string => p !== undefined);
    return bases.flatMap((b) => [expandGitPath(v, s.home, b)].filter((p): p is string => p !== undefined));
  };
  for (const v of f.values.programs ?? []) for (const p of at(v)) protectRunnable(s, p, why);
  for (const v of f.values.programWords ?? []) for (const p of at(v)) if (s.resolvePath(p).kind === 'file') protectRunnable(s, p, why);
}

/** A program (or template directory) git runs from, where the command could write it: read-only, existing or not. */
function protectRunnable(s: GitScope, path: string, why: string): void {
  const r = s.resolvePath(path);
  if ((!s.isWritable(path) && !s.isWritable(r.path)) || s.done.has(r.path)) return;
  s.done.add(r.path);
  s.rules.push({ path: r.path, kind: r.kind, access: 'read-only', source: `protected: ${why}` });
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
  const source = `${why}${f.from ? ` (included from ${f.from})` : ''}`;
  for (const t of f.through ?? []) if (s.isWritable(t)) holdOnTheWay(s, t, source, repo);
  if ((!s.isWritable(f.path) && !s.isWritable(r.path)) || s.done.has(r.path)) return;
  if (r.kind === 'missing' && !f.from) return;
  s.done.add(r.path);
  if (r.kind === 'missing') {
    if (s.isWritable(r.path)) s.watch.push({ path: r.path, kind: 'git-file', repo });
  } else s.rules.push({ path: r.path, kind: r.kind, access: 'read-only', source: `protected: ${source}` });
}

/**
 * An entry on the way to an included file (ConfigFile.through) that could
 * send git elsewhere if it changed: a link is made again after the run if
 * the command replaced it; a directory a `..` climbs out of is pinned (it
 * cannot be swapped for a link), a file held read-only; a missing one the
 * command makes is moved aside after the run.
 */
function holdOnTheWay(s: GitScope, entry: string, why: string, repo: string): void {
  // In a directory closed read-only whole (capGitDirs) nothing can change.
  if (s.onTheWay.has(entry) || inClosed(s.closed, entry)) return;
  s.onTheWay.add(entry);
  let st: ReturnType<typeof lstatSync> | undefined;
  try {
    st = lstatSync(entry);
  } catch {
    st = undefined; // missing, or a file on the way (ENOTDIR): git finds nothing there now
  }
  const on = `on the way to git configuration: ${why}`;
  if (st?.isSymbolicLink()) s.keepLink(entry, '', on);
  else if (st?.isDirectory()) s.rules.push({ path: entry, kind: 'dir', access: 'pin', source: `protected: ${on}` });
  else if (st) s.rules.push({ path: entry, kind: 'file', access: 'read-only', source: `protected: ${on}` });
  else s.watch.push({ path: entry, kind: 'git-file', repo });
}

/** The roots of a set of paths: drops every path that lies within another. */
export function minimalRoots(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length);
  const out: string[] = [];
  for (const p of sorted) if (!out.some((o) => isWithin(p, o))) out.push(p);
  return out;
}

export const DEFAULT_CWD_SOURCE = 'default: working directory';

/**
 * `/` itself writable (the working directory when cordon runs in `/`, or a
 * rule naming it) is refused: every program, system startup file and
 * service definition on the machine would be writable, and the protected
 * names cannot cover them. A read-only rule on `/` (`--read-only .` there)
 * wins, as on any path, over everything beneath it: then only /tmp is
 * writable.
 */
/**
 * $HOME (or a directory above it) writable only because cordon runs there
 * is refused, like /: every dotfile, rc file and tool config of the user
 * would be the command's to rewrite. Named explicitly (`--allow-write ~`),
 * it is allowed, and every protection in $HOME stays.
 */
function refuseHomeByDefault(rules: readonly FsRule[], home: string, realHome: string): void {
  // Rules name resolved paths: a home that is a link (/home -> /var/home) is looked for where it leads too.
  const byDefault = rules.find((r) => r.source === DEFAULT_CWD_SOURCE && (isWithin(home, r.path) || isWithin(realHome, r.path)));
  if (!byDefault) return;
  const explicit = rules.some((r) => r.path === byDefault.path && r.source !== DEFAULT_CWD_SOURCE && (r.access === 'read-write' || r.access === 'read-write-no-delete' || r.access === 'read-only'));
  if (explicit) return;
  const isHome = byDefault.path === home || byDefault.path === realHome;
  throw new CordonError('CORDON_ERR_POLICY', `the working directory ${byDefault.path} ${isHome ? 'is your home directory' : `contains your home directory ${home}`}, so by default the command could rewrite every dotfile and tool configuration in it. Run cordon from a project directory, or name it explicitly (--allow-write ${isHome ? '~' : byDefault.path}; the protected files in it stay read-only) or make it read-only (--read-only .)`);
}

interface Grant { readonly abs: string; readonly source: string; readonly raw: string; readonly reopens?: boolean }

/** What the project controls, whatever this run may write: the working directory and PolicyInput.projectAreas. */
/**
 * For grant `p`, walking up from it once (one lstat of `.git` per directory
 * on the way): `held`, the protected name (PROTECTED_NAMES, SHELL_STARTUP,
 * AFTER_RUN_NAMES) that `p` is or lies in, of the nearest of `homes` or git
 * work trees above `p` that has one; `deeper`, the names of more than one
 * component of any of those that lie beneath `p` without starting at it
 * (`.github/copilot-instructions.md` in a granted `.github`).
 */
function protectedNamesAround(p: string, homes: readonly string[]): { held?: { path: string; why: string }; deeper: { path: string; why: string }[] } {
  let held: { path: string; why: string } | undefined;
  const deeper: { path: string; why: string }[] = [];
  for (let h = dirname(p); ; h = dirname(h)) {
    if (homes.includes(h) || hasGitEntry(h)) {
      for (const n of [...PROTECTED_NAMES, ...SHELL_STARTUP, ...AFTER_RUN_NAMES]) {
        const at = join(h, n.name);
        if (held === undefined && isWithin(p, at)) held = { path: at, why: n.why };
        else if (n.name.includes(sep) && at !== p && isWithin(at, p)) deeper.push({ path: at, why: n.why });
      }
    }
    if (h === sep) return held ? { held, deeper } : { deeper };
  }
}

/** Whether `dir` holds a `.git` (a work tree's root, as git finds one); an unreadable directory does not. */
function hasGitEntry(dir: string): boolean {
  try {
    return lstatSync(join(dir, '.git'), { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

function projectAreas(input: Pick<PolicyInput, 'cwd' | 'projectAreas'>): string[] {
  return [...new Set([input.cwd, ...(input.projectAreas ?? [])])];
}

/**
 * A grant (a writable or re-opened path) is not redirected by a link that
 * the project or a writable path controls: `--allow-write ./out` where the
 * repository ships `out -> ~/.local/bin` would otherwise make ~/.local/bin
 * writable. Each grant's path is walked component by component (no more
 * than 40 links, as the kernel); a symlink that lies inside the working
 * directory or a writable path and leads outside it is refused, naming the
 * link and its target. The user can name the target itself.
 */
function refuseRedirectedGrants(grants: readonly Grant[], rules: readonly FsRule[], project: readonly string[], sandboxed: readonly string[]): void {
  const controlled = [...project, ...rules.filter((r) => (r.access === 'read-write' || r.access === 'read-write-no-delete') && r.kind === 'dir').map((r) => r.path)];
  for (const g of grants) {
    const hop = redirectingLink(g.abs, controlled, sandboxed);
    if (hop) throw new CordonError('CORDON_ERR_POLICY', `${g.raw} (${g.source}) reaches ${hop.lands} through the symlink ${hop.link} -> ${hop.target}, which lies in ${hop.area} (${hop.why}) and leads outside it. Name the target itself if you mean it`);
    // Re-opening what a deny hides: a link a command could have made leads there even within its own
    // writable path (`pub -> priv`, with priv denied), so any such link on the way is refused.
    const inside = g.reopens ? walkPath(g.abs).links.find((l) => [...controlled, ...sandboxed].some((c) => isWithin(l.link, c))) : undefined;
    if (inside) throw new CordonError('CORDON_ERR_POLICY', `${g.raw} (${g.source}) re-opens ${inside.lands} through the symlink ${inside.link} -> ${inside.target}, which lies where a sandboxed command or the project could have made it (a read deny could be re-opened that way). Name the target itself if you mean it`);
  }
}

/**
 * The first symlink on the way to `abs` that lies in an area a command or
 * the project controls (`controlled`: this run's; `sandboxed`: where other
 * runs' commands could write) and leads outside it; undefined if none does.
 */
export function redirectingLink(abs: string, controlled: readonly string[], sandboxed: readonly string[] = []): { link: string; target: string; lands: string; area: string; why: string } | undefined {
  for (const hop of walkPath(abs).links) {
    const mine = controlled.find((c) => isWithin(hop.link, c) && !isWithin(hop.lands, c));
    if (mine) return { ...hop, area: mine, why: 'the command or the project controls it' };
    const theirs = sandboxed.find((c) => isWithin(hop.link, c) && !isWithin(hop.lands, c));
    if (theirs) return { ...hop, area: theirs, why: 'a sandboxed command of an earlier or a running cordon could write there' };
  }
  return undefined;
}

/**
 * What makes git run code (PROTECTED_IN_GIT_DIR) at or above `p` in a git
 * directory, found by a `.git` component on the way (a submodule's under
 * .git/modules too), or `p`'s own info/attributes when `p` is a git
 * directory's info: a grant there hands git's hooks or configuration to the
 * command. Pure; the names only (a `config` directory deeper in .git counts
 * too, which only errs toward read-only). Test: policy.test.ts ("a grant in
 * a git directory's hooks or configuration").
 */
export function gitSurfaceAt(p: string): { readonly path: string; readonly why: string } | undefined {
  const parts = p.split(sep);
  const g = parts.indexOf('.git');
  if (g < 0) return undefined;
  for (let j = g + 1; j < parts.length; j++) {
    for (const item of PROTECTED_IN_GIT_DIR) {
      const names = item.name.split('/');
      if (names.every((n, k) => parts[j + k] === n)) return { path: parts.slice(0, j + names.length).join(sep), why: `git ${item.why}` };
    }
  }
  const attributes = PROTECTED_IN_GIT_DIR.find((i) => i.name === 'info/attributes')!;
  return parts.length > g + 1 && parts.at(-1) === 'info' ? { path: join(p, 'attributes'), why: `git ${attributes.why}` } : undefined;
}

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
 * protected path (test/integration/filesystem/lists.test.ts).
 */
function dropEmptyDenies(rules: FsRule[]): void {
  // Sorted, so the read-only paths at or below a deny are found by a binary search, not by testing each (hundreds with many repositories).
  const readOnly = rules.filter((r) => r.access === 'read-only').map((r) => r.path).sort();
  const holdsReadOnly = (d: string): boolean => {
    let lo = 0;
    let hi = readOnly.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (readOnly[mid]! < d) lo = mid + 1;
      else hi = mid;
    }
    // Every path that starts with d sorts from here on ('d-x' may come before 'd/x').
    for (let i = lo; i < readOnly.length && readOnly[i]!.startsWith(d); i++) if (isWithin(readOnly[i]!, d)) return true;
    return false;
  };
  for (let i = rules.length - 1; i >= 0; i--) {
    const r = rules[i]!;
    if (r.access === 'deny-read' && r.kind === 'missing' && holdsReadOnly(r.path)) rules.splice(i, 1);
  }
}

/**
 * git cannot work in a no-delete path: every change goes through a lock file
 * that is renamed over its target (`index.lock` -> `index`), which
 * no-delete refuses, so the lock stays and git on the host then refuses to
 * run until someone removes it. A git directory there is read-only instead:
 * git reads work, a write fails at once and leaves nothing behind. A rule the
 * user wrote at or inside that git directory (say `--allow-write .git`, to let
 * the agent commit) wins.
 */
function gitInNoDelete(rules: FsRule[], gitDirs: readonly string[]): void {
  const nd = rules.filter((r) => r.access === 'read-write-no-delete');
  if (nd.length === 0) return;
  const writes = rules.filter((r) => r.access === 'read-write' || r.access === 'read-write-no-delete');
  for (const g of gitDirs) {
    // The deepest rule wins; at one path no-delete wins over read-write (as in the plan).
    const nearest = writes.filter((r) => isWithin(g, r.path)).sort((a, b) => b.path.length - a.path.length || (a.access === 'read-write-no-delete' ? -1 : 1))[0];
    if (nearest?.access !== 'read-write-no-delete' || nearest.path === g || writes.some((r) => r.path !== g && isWithin(r.path, g) && !r.source.startsWith('protected'))) continue;
    rules.push({ path: g, kind: 'dir', access: 'read-only', source: `protected: git dir in a read-write-no-delete path (${nearest.path}: git's lock files could not be removed there)` });
  }
}

/**
 * Landlock grants are inherited down the tree, so a no-delete path inside a
 * plain read-write path cannot be enforced: reject it rather than run weaker.
 */
function validateModes(rules: readonly FsRule[]): void {
  // Writable without a rule: /dev (a fresh one, always) and the private /tmp (unless a rule makes /tmp the host's).
  const implicit: FsRule[] = [{ path: '/dev', kind: 'dir', access: 'read-write', source: "the sandbox's own /dev" }];
  if (!rules.some((r) => r.path === '/tmp' && (r.access === 'read-write' || r.access === 'read-write-no-delete'))) implicit.push({ path: '/tmp', kind: 'dir', access: 'read-write', source: "the sandbox's private /tmp" });
  const rw = [...rules.filter((r) => r.access === 'read-write' && r.kind !== 'missing'), ...implicit];
  const nd = rules.filter((r) => r.access === 'read-write-no-delete' && r.kind !== 'missing');
  for (const n of nd) {
    const outer = rw.find((r) => isWithin(n.path, r.path) && r.path !== n.path);
    if (outer) {
      const fix = outer.path === '/tmp' && implicit.includes(outer) ? 'Keep the path outside /tmp (e.g. under /var/tmp or your home directory)' : outer.path === '/dev' ? 'Choose a path outside /dev' : `Make the outer path no-delete too (e.g. --no-delete ${outer.path}) or mark it read-only`;
      throw new CordonError('CORDON_ERR_POLICY', `${n.path} (${n.source}) is read-write-no-delete inside ${outer.path}, which is read-write (${outer.source}); the kernel cannot take delete rights away beneath a read-write path. ${fix}`);
    }
  }
}
