/**
 * Plan: a pure function of Policy + platform facts → everything that decides
 * what the sandbox can do (typed mounts, the seccomp program, the Landlock
 * ruleset for the probed ABI, the environment, the network), and from it the
 * launcher's inputs (bubblewrap's options, the native helper's options),
 * derived from those values and nothing else. Nothing here touches the OS,
 * so it is unit-tested without running anything, `cordon explain --json`
 * prints this value itself, and launch.ts hands exactly its bwrapArgs,
 * helperArgs and seccomp program over (test/integration/cli/plan-is-what-runs.test.ts
 * captures what a real run passes and compares it with explain's output).
 * Trust boundary: the input is cordon's own compiled policy and the facts
 * probe.ts gathered; the plan decides, the helper only applies.
 *
 * Mount model: the host root is bound read-only; a fresh /dev, /proc and a
 * private /tmp (host directories that hold a path the policy grants are
 * bound into it read-only: see hostInTmp()); then one mount per rule path
 * that changes something, ordered
 * from shallow to deep (bubblewrap applies them in argv order, so a deeper
 * rule always lands on top of a shallower one); read-denied directories become
 * empty tmpfs that are remounted read-only last (after deeper re-opened paths
 * got their mount points). Landlock (in the helper) is the second,
 * mount-independent write wall and the only one that can express no-delete.
 *
 * Who mounts: bubblewrap re-reads /proc/self/mountinfo for every bind, so
 * each one costs ~0.2 ms and grows with their number; the helper's
 * new-API mounts cost ~10 us. The helper takes every read-only bind (a path
 * onto itself, or /dev/null over a file) that no later bubblewrap mount lies
 * beneath and that no tmpfs hides (its source must be what bubblewrap would
 * have bound); bubblewrap keeps the rest, in order, so the stack of mounts
 * is the same either way: see helperSplit().
 */
import { dirname, join, sep } from 'node:path';
import type { Access, FsRule, Policy, Rescan, WatchedPath } from '../../policy/policy.js';
import { depth, isWithin } from '../../policy/paths.js';
import { CordonError } from '../../errors.js';
import { HELPER_COMMAND, HELPER_OPTION, LANDLOCK_ACCESS_FS } from '../../protocol.js';
import { compileSeccompFilter, seccompDenials, type SeccompArch, type SeccompDenial, type SeccompOptions } from './seccomp.js';
import { CACHE_MOUNT, cacheEnv, offlineEnv, type PackageCache } from './package-cache.js';
import { HISTORIES_IN_HOME } from '../../policy/defaults.js';

/** What planLinux needs of the machine: a subset of PlatformFacts (probe.ts), so tests can state them. */
export interface LinuxFacts {
  readonly helper: string;
  readonly bwrap: string;
  /**
   * The kernel has the new mount API (open_tree, move_mount, mount_setattr:
   * Linux >= 5.12), so the helper makes the read-only mounts itself.
   */
  readonly helperMounts: boolean;
  /** The Landlock ABI this kernel offers (0: none), as probed (probe.ts: probeLandlockAbi). */
  readonly landlockAbi: number;
  /** The seccomp program's architecture (default: x86_64). */
  readonly arch?: SeccompArch;
  /**
   * --dangerously-allow-missing-landlock: a kernel without Landlock runs the
   * sandbox on its mounts alone (no second write wall). Never for no-delete
   * paths, which only Landlock can enforce.
   */
  readonly landlockOptional?: boolean;
  /** The caller's XDG_CACHE_HOME, if absolute: where Go keeps its build cache by default. */
  readonly xdgCacheHome?: string;
  /** cordon's state directory (PlatformFacts.stateDir): where the launcher keeps its placeholder holds and the run's journal. */
  readonly stateDir?: string;
  /** The caller's GOPATH (first entry), if absolute: where Go keeps its module cache by default. */
  readonly gopath?: string;
  /** The caller's values of the package cache variables it set (package-cache.ts CACHE_VARIABLES). */
  readonly cacheVariables?: Readonly<Record<string, string>>;
  /** This project's persistent package cache, made by compile.ts (absent: turned off, or the caches start empty each run). */
  readonly packageCache?: PackageCache;
}

/**
 * One mount, typed. bubblewrap's and the helper's options are derived from
 * it (bwrapMountArgs, helperMountArgs), never the other way round.
 * - bind-ro: the host's path onto itself (or `source` onto it), read-only
 * - bind-rw: the host's path onto itself (or `source` onto it), writable
 * - pin: a writable directory bound onto itself as it is: a mount point
 *   cannot be renamed or removed (see pinChains)
 * - hide-file: /dev/null over a read-denied file
 * - tmpfs: an empty tmpfs (a read-denied directory, the private /tmp)
 * - remount-ro: a tmpfs made read-only once deeper mounts have their mount points
 * - dev, proc: a fresh /dev and /proc
 */
export type MountKind = 'bind-ro' | 'bind-rw' | 'pin' | 'hide-file' | 'tmpfs' | 'remount-ro' | 'dev' | 'proc';

export interface MountOp {
  readonly kind: MountKind;
  readonly path: string;
  /** bind-ro, bind-rw: the host directory bound at `path`, when it is another (the package cache); else `path` itself. */
  readonly source?: string;
  readonly why: string;
  /** Made by the helper (in its own mount namespace, after bubblewrap's), not by bubblewrap. */
  readonly byHelper?: boolean;
}

/** A Landlock rule: `rights` (LANDLOCK_ACCESS_FS_* bits) allowed beneath `path`. */
export interface LandlockRule {
  readonly path: string;
  /** rw: every write right; rwnd: every write right but removing, renaming away and truncating. */
  readonly access: 'rw' | 'rwnd';
  readonly rights: number;
}

/**
 * The Landlock write wall, planned for the ABI probed on this machine.
 * `requiredAbi`: 3 with no-delete rules (TRUNCATE is handled from ABI 3),
 * else 1. A kernel below it fails the plan (CORDON_ERR_KERNEL_FEATURE),
 * except under --dangerously-allow-missing-landlock (`mode: 'best-effort'`)
 * on a kernel with no Landlock at all and no no-delete rule: then `applied`
 * is false and the mounts are the only write wall.
 */
export interface LandlockPlan {
  readonly abi: number;
  readonly requiredAbi: number;
  readonly mode: 'required' | 'best-effort';
  readonly applied: boolean;
  /** The rights the ruleset handles (denied unless a rule allows them); 0 when not applied. */
  readonly handled: number;
  readonly rules: readonly LandlockRule[];
  /** The rules' paths, by access (for people reading explain). */
  readonly rw: readonly string[];
  readonly rwnd: readonly string[];
}

export interface LinuxPlan {
  /** The bubblewrap program (PlatformFacts.bwrap). */
  readonly bwrap: string;
  /** Where the launcher keeps this run's placeholder holds and journal (PlatformFacts.stateDir; a plan without it is not launched). */
  readonly stateDir?: string;
  /** bubblewrap arguments up to (not including) `--`, derived from baseMounts and mounts. */
  readonly bwrapArgs: readonly string[];
  /** What bubblewrap makes first, before `mounts`: the host's root read-only, /dev, /proc, the private /tmp. */
  readonly baseMounts: readonly MountOp[];
  readonly mounts: readonly MountOp[];
  /** argv after bubblewrap's `--`: the helper, its options (mounts, Landlock ruleset, descriptors), then the command. */
  readonly helperArgs: readonly string[];
  /** Host paths to create (empty directories) so a not-yet-existing protected path can be mounted over. */
  readonly placeholders: readonly string[];
  readonly landlock: LandlockPlan;
  /**
   * Where the refusal reports need no record (violations.ts): `quiet`, the
   * plainly writable roots, and `loud`, what lies below them that a rule or
   * a mount guards. Made here, from the plan's own view of each path.
   */
  readonly reports?: { readonly quiet: readonly string[]; readonly loud: readonly string[] };
  /**
   * The seccomp filter: its options, the program compiled from them that the
   * helper installs, and the table of what it refuses made from the same
   * options (test/unit/cli/explain.test.ts runs each row through the bytes).
   */
  readonly seccomp: { readonly options: SeccompOptions; readonly arch: SeccompArch; readonly program: Buffer; readonly table: readonly SeccompDenial[] };
  readonly env: Readonly<Record<string, string>>;
  /** The caller's variables the command does not get (policy/environment.ts): removed before `env` is added. */
  readonly withheld: readonly string[];
  /** filtered: the launcher starts the proxies and the relay, then releases the command. */
  readonly network: { readonly mode: Policy['network']['mode']; readonly ports?: typeof PROXY_PORTS };
  readonly notes: readonly string[];
  /** Printed before the run (and by explain): the policy does something the user probably did not mean. */
  readonly warnings: readonly string[];
  /** Checked after the run (the policy's watch list; see after-run.ts). */
  readonly watch: readonly WatchedPath[];
  /** The project's package cache, bound writable at CACHE_MOUNT (package-cache.ts), when it is in use. */
  readonly packageCache?: PackageCache;
  /** Scanned again after the run, by `helper` (the policy's rescan; see after-run.ts). */
  readonly rescan?: Rescan & { readonly helper: string };
  /**
   * The identity (no-follow.ts identityOf) of each writable path (the roots bubblewrap binds from a
   * descriptor, and the rescan's roots), reached with no link followed when
   * the policy was made (compile.ts): the sandbox binds exactly these, and
   * the step after the run acts only in them (no-follow.ts).
   */
  readonly rootIds?: Readonly<Record<string, string>>;
  /**
   * The identity of each path the plan holds read-only by a mount inside a
   * writable path, when compiled (no-follow.ts pathIdentities). The host
   * replacing one during the run (git's or an editor's rename over it, an
   * rm and a new file) detaches that mount in the sandbox; the helper then
   * stops the command (native/holds.h), and what it could write there
   * before that is moved aside after the run (after-run.ts replacedGuards).
   */
  readonly guardIds?: Readonly<Record<string, string>>;
}

export interface Fds {
  readonly info: number;
  readonly seccomp: number;
  readonly ready: number;
  readonly block: number;
  /** Where the caller's stderr reaches the helper (bubblewrap's own fd 2 is a pipe the launcher reads; see sandbox-process.ts). */
  readonly stderr?: number;
  /**
   * The first of the descriptors bubblewrap binds the host's writable paths
   * from (`--bind-fd`, one each, in order; sandbox-process.ts opens them with
   * no link followed): a path renamed and replaced by a link between the
   * policy and the mount binds nothing else. Absent: `--bind` by path.
   */
  readonly roots?: number;
}

/** Inside the sandbox's own network namespace: where the relay listens. */
export const PROXY_PORTS = { http: 3128, socks: 1080 } as const;

type WriteMode = 'ro' | 'rw' | 'rwnd';

/** The effective state of one path under the policy. */
export interface PathState { readonly readable: boolean; readonly write: WriteMode }

const PRIVATE_TMP = '/tmp';

/** No delete, no rename away and no truncation: LANDLOCK_ACCESS_FS_TRUNCATE came with ABI 3 (Linux 6.2). */
export const LANDLOCK_NO_DELETE_ABI = 3;

export function planLinux(policy: Policy, facts: LinuxFacts, command: readonly string[], fds: Fds): LinuxPlan {
  const rules = policy.rules;
  const notes: string[] = [];
  const byPath = indexRules(rules);
  const tmpRule = byPath.get(PRIVATE_TMP);
  const privateTmp = hasPrivateTmp(tmpRule ?? []);

  const hostTmp = privateTmp ? hostInTmp(rules, byPath) : NONE;
  const states = new Map<string, PathState>();
  const state = (p: string) => {
    let s = states.get(p);
    if (!s) states.set(p, (s = stateIn(p, byPath, privateTmp, hostTmp)));
    return s;
  };
  const mounts: MountOp[] = [];
  const placeholders: string[] = [];
  const remountRo: MountOp[] = [];

  // Deepest mount at or above a path tells whether what lies there is host
  // content or an empty tmpfs (private /tmp, a read-denied directory).
  const mountedAt = new Map<string, boolean>([[sep, false]]);
  if (privateTmp) mountedAt.set(PRIVATE_TMP, true);
  // The nearest mount strictly above p: its ancestors looked up, not every mount tested (thousands of git dirs make thousands of mounts).
  const syntheticAbove = (p: string): boolean => {
    for (let a = dirname(p); ; a = dirname(a)) {
      const synthetic = mountedAt.get(a);
      if (synthetic !== undefined) return synthetic;
      if (a === sep) return false;
    }
  };

  const depths = new Map([...byPath.keys(), ...hostTmp.keys()].map((k) => [k, depth(k)]));
  const paths = [...depths.keys()].sort((a, b) => depths.get(a)! - depths.get(b)! || (a < b ? -1 : 1));
  for (const p of paths) {
    if (p === sep) continue;
    const here = byPath.get(p);
    if (!here) {
      // A host directory under the private /tmp that holds a granted path (hostInTmp).
      if (state(p).readable && syntheticAbove(p)) {
        mounts.push({ kind: 'bind-ro', path: p, why: `holds ${hostTmp.get(p)!} in the private /tmp: its parent directories as on the host, read-only` });
        mountedAt.set(p, false);
      }
      continue;
    }
    const kind = here.find((r) => r.kind !== 'missing')?.kind ?? 'missing';
    const why = here.map((r) => `${r.access} <- ${r.source}`).join('; ');
    const s = state(p);
    const parent = state(dirname(p));
    if (!s.readable) {
      if (!parent.readable) continue; // already hidden by a shallower deny
      if (syntheticAbove(p)) {
        // In the sandbox's own empty /tmp the host's entry is not seen at all; a mount to hide
        // it would make its name, and those of the directories above it, appear there.
        notes.push(`${p}: read-denied path lies in the sandbox's own empty /tmp, where the host's is not seen; nothing to hide (${why})`);
        continue;
      }
      if (kind === 'dir') {
        mounts.push({ kind: 'tmpfs', path: p, why });
        mountedAt.set(p, true);
        remountRo.push({ kind: 'remount-ro', path: p, why: 'read-denied directory stays empty' });
      } else if (kind === 'file') {
        mounts.push({ kind: 'hide-file', path: p, why });
        mountedAt.set(p, false);
      } else {
        notes.push(`${p}: read-denied path does not exist; nothing to hide (${why})`);
      }
      continue;
    }
    if (kind === 'missing' && here.some((r) => r.access === 'read-write' || r.access === 'read-write-no-delete')) {
      notes.push(`${p}: writable path does not exist; skipped (${why})`);
    }
    const pinned = here.some((r) => r.access === 'pin');
    const inSynthetic = syntheticAbove(p);
    const changes = inSynthetic || s.write !== parent.write || (pinned && s.write !== 'ro');
    if (!changes) continue;
    if (kind === 'missing') {
      if (s.write === 'ro' && parent.write !== 'ro' && !inSynthetic) {
        placeholders.push(p);
        mounts.push({ kind: 'bind-ro', path: p, why: `${why} (placeholder: does not exist yet)` });
        mountedAt.set(p, false);
      }
      continue;
    }
    const pin = pinned && s.write !== 'ro' && s.write === parent.write && !inSynthetic;
    mounts.push({ kind: pin ? 'pin' : s.write === 'ro' ? 'bind-ro' : 'bind-rw', path: p, why });
    mountedAt.set(p, false);
  }
  // The project's package cache, in the private /tmp where no rule reaches (a
  // rule or a host directory shown at or under CACHE_MOUNT: the caches stay per run).
  const packageCache = privateTmp && facts.packageCache && ![...byPath.keys(), ...hostTmp.keys(), facts.helper].some((p) => p === PRIVATE_TMP || isWithin(p, CACHE_MOUNT)) ? facts.packageCache : undefined;
  if (packageCache) {
    mounts.push({ kind: 'bind-rw', source: packageCache.dir, path: CACHE_MOUNT, why: `package caches of the project ${packageCache.project} (persistent; writable by this project's runs only)` });
    mountedAt.set(CACHE_MOUNT, false);
  } else if (privateTmp && facts.packageCache) notes.push(`a rule at ${PRIVATE_TMP} or under ${CACHE_MOUNT}: the project's package cache is not used, caches start empty in this run`);
  const pins = pinChains(mounts, placeholders, state, syntheticAbove);
  if (pins.length > 0) {
    mounts.push(...pins);
    mounts.sort((a, b) => depth(a.path) - depth(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  // A granted Unix socket is connected by the helper inside the sandbox, so
  // it must be visible there (say under the private /tmp, like ssh-agent's).
  for (const g of policy.network.unixSockets) {
    if (!state(g).readable || syntheticAbove(g)) mounts.push({ kind: 'bind-ro', path: g, why: 'granted Unix socket (network.allowUnixSockets)' });
  }
  // The helper must be reachable inside even if its directory is hidden.
  // (It may also sit under the private /tmp, e.g. a checkout in /tmp.)
  if (!state(facts.helper).readable || syntheticAbove(facts.helper)) {
    mounts.push({ kind: 'bind-ro', path: facts.helper, why: 'cordon helper' });
  }

  const landlockRw = rules.filter((r) => r.access === 'read-write' && r.kind !== 'missing' && state(r.path).write === 'rw' && state(r.path).readable).map((r) => r.path);
  const landlockNd = rules.filter((r) => r.access === 'read-write-no-delete' && r.kind !== 'missing' && state(r.path).write === 'rwnd' && state(r.path).readable).map((r) => r.path);
  const base = ['/dev', ...(privateTmp ? [PRIVATE_TMP] : [])];
  const landlock = landlockPlan(dedupe([...base, ...landlockRw]), dedupe(landlockNd), facts);

  const all = helperSplit([...mounts, ...remountRo], privateTmp, facts);
  // The mounts the host could take away while the command runs (a rename over
  // the path, or its removal, detaches them): a read deny, a pin, and a
  // read-only bind where the directory around it is writable. The helper
  // stops the command the moment one goes (native/holds.h). Not those in the
  // sandbox's own tmpfs, where nothing is the host's, nor the histories in
  // $HOME, which every shell, REPL, less and vim that ends on the host
  // replaces (docs/limits.md).
  const histories = new Set(HISTORIES_IN_HOME.map((r) => join(policy.home, r)));
  const holds = dedupe(all.filter((m) => (m.kind === 'hide-file' || m.kind === 'tmpfs' || m.kind === 'pin' || (m.kind === 'bind-ro' && m.source === undefined && state(dirname(m.path)).write !== 'ro')) && !histories.has(m.path) && !syntheticAbove(m.path)).map((m) => m.path));
  const bwrapMounts = all.filter((m) => !m.byHelper);
  const helperMounts = all.filter((m) => m.byHelper);

  const mode = policy.network.mode;
  const baseMounts: MountOp[] = [
    { kind: 'bind-ro', path: sep, why: "the host's root, read-only" },
    { kind: 'dev', path: '/dev', why: 'a fresh /dev' },
    { kind: 'proc', path: '/proc', why: "the sandbox's own /proc" },
    ...(privateTmp ? [{ kind: 'tmpfs' as const, path: PRIVATE_TMP, why: 'the private /tmp' }] : []),
  ];
  let rootFd = 0;
  const bwrapArgs = [
    '--unshare-all', ...(mode === 'dangerously-unfiltered' ? ['--share-net'] : []), '--unshare-user', '--disable-userns',
    '--die-with-parent', '--new-session', '--as-pid-1', '--cap-drop', 'ALL',
    // Only for the helper's mounts; it drops every capability before the command starts.
    ...(helperMounts.length > 0 ? ['--cap-add', 'CAP_SYS_ADMIN', '--cap-add', 'CAP_SETPCAP'] : []),
    ...baseMounts.flatMap(bwrapMountArgs),
    ...bwrapMounts.flatMap((m) => (fds.roots !== undefined && boundByPath(m) ? ['--bind-fd', String(fds.roots + rootFd++), m.path] : bwrapMountArgs(m))),
    '--chdir', policy.cwd,
    '--info-fd', String(fds.info),
    // The command waits until the launcher has made the placeholders the
    // helper mounts and, for a filtered network, the relay listens inside.
    '--block-fd', String(fds.block),
  ];
  const o = HELPER_OPTION;
  const helperArgs = [
    facts.helper, HELPER_COMMAND.run, o.readyFd, String(fds.ready),
    ...(fds.stderr !== undefined ? [o.stderrFd, String(fds.stderr)] : []),
    // The helper installs cordon's seccomp filter itself, after its mounts (the filter forbids them).
    o.seccompFd, String(fds.seccomp),
    ...helperMounts.flatMap(helperMountArgs),
    ...policy.network.unixSockets.flatMap((g) => [o.unixGrant, g]),
    ...holds.flatMap((p) => [o.hold, p]),
    ...(landlock.applied ? [o.landlockHandled, String(landlock.handled), ...landlock.rules.flatMap((r) => [o.landlockRule, String(r.rights), r.path])] : []),
    '--', ...command,
  ];
  // Stream Unix sockets only when some are granted (the helper decides each connect); no-delete refuses fallocate's destructive modes process-wide.
  const seccompOptions: SeccompOptions = { unixStream: policy.network.unixSockets.length > 0, noDelete: landlock.rwnd.length > 0 };
  const arch = facts.arch ?? 'x86_64';
  return {
    bwrap: facts.bwrap,
    ...(facts.stateDir ? { stateDir: facts.stateDir } : {}),
    bwrapArgs,
    baseMounts,
    mounts: [...bwrapMounts, ...helperMounts],
    helperArgs,
    placeholders,
    landlock,
    reports: reportPaths(policy.rules, [...bwrapMounts, ...helperMounts], landlock.rw, state),
    // The table is made when read (explain reads it; a run does not): ~40 us saved on every start.
    seccomp: { options: seccompOptions, arch, program: compileSeccompFilter(arch, seccompOptions), get table() { return seccompDenials(seccompOptions); } },
    withheld: policy.environment?.withheld ?? [],
    // TMPDIR only where /tmp is writable: shown read-only, the caller's TMPDIR stays.
    env: { ...(state(PRIVATE_TMP).write !== 'ro' ? { TMPDIR: PRIVATE_TMP } : {}), CORDON_SANDBOX: '1', ...(privateTmp ? cacheEnv({ home: policy.home, ...(facts.xdgCacheHome ? { xdgCacheHome: facts.xdgCacheHome } : {}), ...(facts.gopath ? { gopath: facts.gopath } : {}), caller: facts.cacheVariables ?? {} }, (p) => { const s = state(p); return s.readable && s.write !== 'ro'; }, notes) : {}), ...(mode === 'none' ? offlineEnv(facts.cacheVariables ?? {}) : {}), ...(mode === 'filtered' ? proxyEnv(facts.helper) : {}) },
    network: mode === 'filtered' ? { mode, ports: PROXY_PORTS } : { mode },
    notes,
    warnings: hiddenCwdWarning(policy, state(policy.cwd).readable),
    watch: policy.watch,
    ...(packageCache ? { packageCache } : {}),
    ...(policy.rescan ? { rescan: { ...policy.rescan, helper: facts.helper } } : {}),
  };
}

/**
 * A mount on a protected path travels with its parent when the parent is
 * renamed, after which the command could re-create the path with content of
 * its own choosing. A mount point cannot be renamed or removed (EBUSY), so
 * every writable directory between a mount inside a writable area and the
 * mount above it (a writable root, the private /tmp, another pin) is pinned:
 * bound onto itself. Pins change no access; renames elsewhere still work.
 * A pinned directory that does not exist yet (the parent of a placeholder)
 * becomes a placeholder too. Proved from inside by
 * test/integration/filesystem/pins.test.ts.
 */
function pinChains(mounts: readonly MountOp[], placeholders: string[], state: (p: string) => PathState, synthetic: (p: string) => boolean): MountOp[] {
  const mountPoints = new Set<string>([sep, PRIVATE_TMP, ...mounts.map((m) => m.path)]);
  const pins: MountOp[] = [];
  const missing = new Set<string>();
  const toMake = new Set(placeholders);
  for (const m of mounts) {
    for (let a = dirname(m.path), below = m.path; !mountPoints.has(a); below = a, a = dirname(a)) {
      const s = state(a);
      // A directory of the sandbox's own tmpfs (the private /tmp around a
      // project under /tmp) holds nothing of the host's: renaming it moves
      // nothing the host will read. bubblewrap would also bind the host's
      // directory of that name there, writable: never pin one.
      if (!s.readable || s.write === 'ro' || synthetic(a)) break;
      mountPoints.add(a);
      pins.push({ kind: 'pin', path: a, why: `pinned: holds ${below === m.path ? m.path : `${below}, which holds ${m.path}`}; a mount point cannot be renamed away` });
      if (toMake.has(below) || missing.has(below)) missing.add(a);
    }
  }
  // Placeholders are made in order, a parent before its child.
  if (missing.size > 0) placeholders.unshift(...[...missing].sort((a, b) => depth(a) - depth(b)));
  return pins;
}

/** The working directory under a read deny: the command would see it empty and unwritable. */
function hiddenCwdWarning(policy: Policy, readable: boolean): string[] {
  if (readable) return [];
  const deny = policy.rules.filter((r) => r.access === 'deny-read' && isWithin(policy.cwd, r.path)).sort((a, b) => b.path.length - a.path.length)[0];
  const by = deny ? ` by ${deny.path} (${deny.source})` : '';
  return [`the working directory ${policy.cwd} is hidden${by}: the command sees it empty and cannot write there. Re-allow it (--allow-read ${deny?.path ?? policy.cwd}) or run cordon from another directory`];
}

/** bubblewrap's options for a mount. */
export function bwrapMountArgs(m: Pick<MountOp, 'kind' | 'path' | 'source'>): string[] {
  const p = m.path;
  switch (m.kind) {
    case 'bind-ro': return ['--ro-bind', m.source ?? p, p];
    case 'bind-rw': return ['--bind', m.source ?? p, p];
    case 'pin': return ['--bind', p, p];
    case 'hide-file': return ['--ro-bind', '/dev/null', p];
    case 'tmpfs': return ['--tmpfs', p];
    case 'remount-ro': return ['--remount-ro', p];
    case 'dev': return ['--dev', p];
    case 'proc': return ['--proc', p];
  }
}

/** A writable bind of a host path onto itself: bubblewrap would open its source by path, following any link on the way. */
export function boundByPath(m: Pick<MountOp, 'kind' | 'source'>): boolean {
  return (m.kind === 'bind-rw' || m.kind === 'pin') && m.source === undefined;
}

/** The paths bubblewrap binds from a descriptor (`--bind-fd FD PATH`), by descriptor. */
export function fdBinds(bwrapArgs: readonly string[]): Map<number, string> {
  const out = new Map<number, string>();
  for (let i = 0; i + 2 < bwrapArgs.length; i++) if (bwrapArgs[i] === '--bind-fd') out.set(Number(bwrapArgs[i + 1]), bwrapArgs[i + 2]!);
  return out;
}

/** The helper's options for a mount it makes (helperSplit moves only these kinds to it). */
export function helperMountArgs(m: Pick<MountOp, 'kind' | 'path' | 'source'>): string[] {
  switch (m.kind) {
    case 'bind-ro': if (m.source === undefined) return [HELPER_OPTION.ro, m.path]; break;
    case 'hide-file': return [HELPER_OPTION.null, m.path];
    case 'pin': return [HELPER_OPTION.pin, m.path];
    default: break;
  }
  throw new CordonError('CORDON_ERR_INTERNAL', `the helper cannot make a ${m.kind} mount (${m.path})`);
}

/**
 * Marks the mounts the helper can make instead of bubblewrap without
 * changing the result. The helper mounts after bubblewrap has finished, so
 * a mount may move there only if (1) it is a read-only bind of a path onto
 * itself or of /dev/null onto a file, (2) no mount that stays with
 * bubblewrap comes later at, beneath or above its path (their order would
 * flip),
 * and (3) it is not inside a tmpfs (private /tmp, a read-denied directory):
 * there the helper would bind the tmpfs's content, not the host's.
 */
export function helperSplit(ops: readonly MountOp[], privateTmp: boolean, facts: Pick<LinuxFacts, 'helper' | 'helperMounts'>): MountOp[] {
  if (!facts.helperMounts) return [...ops];
  const tmpfs = [...(privateTmp ? [PRIVATE_TMP] : []), ...ops.filter((m) => m.kind === 'tmpfs').map((m) => m.path)];
  const out: MountOp[] = [];
  // The later mounts that stay with bubblewrap, and every directory above them:
  // one lookup per ancestor of a mount instead of a test against each of them
  // (hundreds of mounts with many repositories).
  const laterBwrap = new Set<string>();
  const aboveBwrap = new Set<string>();
  const keep = (p: string) => {
    laterBwrap.add(p);
    for (let a = p; !aboveBwrap.has(a); a = dirname(a)) {
      aboveBwrap.add(a);
      if (a === sep) break;
    }
  };
  // A later bubblewrap mount at or beneath p (p is one of its ancestors), or above it.
  const crosses = (p: string) => {
    if (aboveBwrap.has(p)) return true;
    for (let a = dirname(p); ; a = dirname(a)) {
      if (laterBwrap.has(a)) return true;
      if (a === sep) return false;
    }
  };
  for (let i = ops.length - 1; i >= 0; i--) {
    const m = ops[i]!;
    // A pin binds the view bubblewrap built (its source is the same path, already
    // mounted as wanted), so a tmpfs above it does not matter.
    const pin = m.kind === 'pin';
    const eligible = m.path !== facts.helper && (pin || (m.kind === 'bind-ro' && m.source === undefined) || m.kind === 'hide-file');
    const movable = eligible && !crosses(m.path) && (pin || !tmpfs.some((t) => isWithin(m.path, t)));
    if (movable) out.push({ ...m, byHelper: true });
    else {
      out.push(m);
      keep(m.path);
    }
  }
  return out.reverse();
}

/**
 * The effective state of a path. Readable: nearest read rule at or above it
 * (an explicit deny wins at the same path; an explicit allow lifts a default deny). Write: read-only anywhere at or above wins;
 * else the nearest read-write / no-delete rule (no-delete wins at one path).
 */
export function stateOf(p: string, rules: readonly FsRule[], privateTmp = true): PathState {
  const byPath = indexRules(rules);
  return stateIn(p, byPath, privateTmp, privateTmp ? hostInTmp(rules, byPath) : NONE);
}

const NONE: ReadonlyMap<string, string> = new Map();

/** stateOf for many paths under one policy, the rules indexed once (the refusal monitor asks for every write it hears of: violations.ts). */
/** Pseudo file systems: what is written there is no file (a report names none). */
export const PSEUDO_FS = ['/proc', '/dev', '/sys'];

/** LinuxPlan.reports, from the plan's mounts, its Landlock write roots and its view of each path. */
export function reportPaths(rules: readonly FsRule[], mounts: readonly { readonly path: string }[], rw: readonly string[], state: (p: string) => PathState): { quiet: string[]; loud: string[] } {
  const quiet = rw.filter((q) => !PSEUDO_FS.some((d) => isWithin(q, d)) && state(q).readable && state(q).write === 'rw');
  const below = (p: string) => quiet.some((q) => p !== q && isWithin(p, q));
  const marks = [...new Set([...rules.map((r) => r.path), ...mounts.map((m) => m.path)].filter(below))].sort();
  // The outermost marks: one lookup per ancestor (hundreds of marks with many repositories).
  const loud = new Set<string>();
  for (const m of marks) {
    let covered = false;
    for (let a = m; !covered; a = dirname(a)) {
      covered = loud.has(a);
      if (a === sep) break;
    }
    if (!covered) loud.add(m);
  }
  return { quiet, loud: [...loud] };
}

export function stateLookup(rules: readonly FsRule[]): (p: string) => PathState {
  const byPath = indexRules(rules);
  const privateTmp = hasPrivateTmp(byPath.get(PRIVATE_TMP) ?? []);
  const hostTmp = privateTmp ? hostInTmp(rules, byPath) : NONE;
  return (p) => stateIn(p, byPath, privateTmp, hostTmp);
}

/** What the private /tmp may show of the host: grants, not denies or guarded names that do not exist. */
const SHOWN_IN_TMP = new Set<Access>(['read-write', 'read-write-no-delete', 'read-only', 'allow-read', 'pin']);

/**
 * The host directories that the private /tmp shows, read-only: /tmp/<x> for
 * every existing path under /tmp/<x> that the policy grants (a writable
 * root, a read-only or re-allowed path, a pinned git dir). A project in
 * /tmp/a/b finds what tools look for in its parents (a parent node_modules,
 * a monorepo root's package.json or pnpm-workspace.yaml, a parent .git), as a
 * project anywhere else does. Only /tmp/<x> can show that: a directory's
 * entries (the parent node_modules is itself a sibling of the project) are
 * visible only by binding the directory, and binding /tmp/a shows all of
 * /tmp/a/b's ancestors below /tmp at once. So the project's siblings inside
 * /tmp/a are visible too, read-only, like the siblings of a project in
 * $HOME; /tmp itself and everything else in it (other users' and other
 * programs' files and sockets) stay private and empty. Read denies inside
 * /tmp/a apply as anywhere (they are mounts on top). cordon's own helper and
 * a granted Unix socket under /tmp are bound alone, not their directories:
 * the command needs nothing else there. Tried from inside, as root and as an
 * unprivileged user, by test/integration/filesystem/tmp-project.test.ts.
 */
export function hostInTmp(rules: readonly FsRule[], byPath: ReadonlyMap<string, readonly FsRule[]>): Map<string, string> {
  const shown = new Map<string, string>();
  for (const r of rules) {
    if (!SHOWN_IN_TMP.has(r.access) || r.kind === 'missing' || r.path === PRIVATE_TMP || !isWithin(r.path, PRIVATE_TMP)) continue;
    if (!stateIn(r.path, byPath, true, NONE).readable) continue;
    const top = topInTmp(r.path);
    const held = shown.get(top);
    if (held === undefined || depth(r.path) < depth(held) || (depth(r.path) === depth(held) && r.path < held)) shown.set(top, r.path);
  }
  return shown;
}

/** /tmp/x for a path at or under /tmp/x; /tmp for /tmp. */
export function topInTmp(p: string): string {
  const i = p.indexOf(sep, PRIVATE_TMP.length + 1);
  return i === -1 ? p : p.slice(0, i);
}

/**
 * Whether the sandbox gets its own empty /tmp, given the rules at /tmp itself:
 * yes unless one makes the host's /tmp writable (read-write, no-delete) or
 * asks to see it (allow-read, read-only: the host's /tmp, read-only). A rule
 * at /tmp is about the host's directory: bound over the private one, it
 * would be the host's, so its write state is never the private tmpfs's
 * (test: plan.test.ts, "a rule at /tmp itself").
 */
export function hasPrivateTmp(rulesAtTmp: readonly FsRule[]): boolean {
  return !rulesAtTmp.some((r) => r.path === PRIVATE_TMP && (r.access === 'read-write' || r.access === 'read-write-no-delete' || r.access === 'allow-read' || r.access === 'read-only'));
}

/** Rules by path, for stateIn(). */
export function indexRules(rules: readonly FsRule[]): Map<string, FsRule[]> {
  const byPath = new Map<string, FsRule[]>();
  for (const r of rules) {
    const list = byPath.get(r.path);
    if (list) list.push(r);
    else byPath.set(r.path, [r]);
  }
  return byPath;
}

/**
 * stateOf over indexed rules: only the rules at the path and its ancestors
 * can apply, so it looks those up instead of testing every rule (a plan asks
 * for hundreds of paths against hundreds of rules).
 */
function stateIn(p: string, byPath: ReadonlyMap<string, readonly FsRule[]>, privateTmp: boolean, hostTmp: ReadonlyMap<string, string>): PathState {
  let readRule: { d: number; allow: boolean; weak: boolean } | undefined;
  let writeRule: { d: number; mode: WriteMode } | undefined;
  let readOnly = false;
  for (let at = p, d = depth(p); ; at = dirname(at), d--) {
    for (const r of byPath.get(at) ?? []) {
      const a: Access = r.access;
      if (a === 'deny-read' || a === 'allow-read') {
        const allow = a === 'allow-read';
        const weak = r.weak === true;
        // At one path an explicit deny beats an allow, and an explicit allow
        // lifts a built-in (weak) default deny: settings can re-open a store.
        const wins = !readRule || d > readRule.d || (d === readRule.d && (allow ? readRule.weak && !readRule.allow : !weak || readRule.weak));
        if (wins) readRule = { d, allow, weak };
      } else if (a === 'read-only') {
        readOnly = true;
      } else if (a === 'read-write' || a === 'read-write-no-delete') {
        const mode: WriteMode = a === 'read-write' ? 'rw' : 'rwnd';
        if (!writeRule || d > writeRule.d || (d === writeRule.d && mode === 'rwnd')) writeRule = { d, mode };
      }
    }
    if (at === sep) break;
  }
  // Without a write rule, the private /tmp is writable where it is the empty tmpfs, not where it shows the host.
  const write: WriteMode = readOnly ? 'ro' : writeRule?.mode ?? (privateTmp && isWithin(p, PRIVATE_TMP) && !hostTmp.has(topInTmp(p)) ? 'rw' : 'ro');
  return { readable: !readRule || readRule.allow, write };
}

const A = LANDLOCK_ACCESS_FS;

/** The write rights Landlock handles at an ABI: reads and exec stay governed by the mounts. */
export function landlockWriteRights(abi: number): number {
  let r = A.writeFile | A.removeDir | A.removeFile | A.makeChar | A.makeDir | A.makeReg | A.makeSock | A.makeFifo | A.makeBlock | A.makeSym;
  // Without REFER handled, a rename or link across directories is always refused.
  if (abi >= 2) r |= A.refer;
  if (abi >= 3) r |= A.truncate;
  return r;
}

/**
 * Read-write-no-delete: an entry can be created and changed, never unlinked,
 * rmdir'd, renamed away or replaced by a rename (all need REMOVE_*), nor
 * truncated (O_TRUNC, truncate, ftruncate: TRUNCATE is handled from ABI 3,
 * which the plan requires for these rules).
 */
export function landlockNoDeleteRights(abi: number): number {
  return landlockWriteRights(abi) & ~(A.removeFile | A.removeDir | A.truncate);
}

/**
 * The Landlock ruleset for the probed ABI, or a clear refusal before
 * anything runs: cordon never runs a weaker sandbox than the policy says
 * unless the user named the opt-out (--dangerously-allow-missing-landlock),
 * and never for no-delete rules, which only Landlock enforces. Tested by
 * plan.test.ts ("landlock") and, against this kernel, by
 * test/integration/native/helper.test.ts.
 */
export function landlockPlan(rw: readonly string[], rwnd: readonly string[], facts: Pick<LinuxFacts, 'landlockAbi' | 'landlockOptional'>): LandlockPlan {
  const abi = facts.landlockAbi;
  const requiredAbi = rwnd.length > 0 ? LANDLOCK_NO_DELETE_ABI : 1;
  const mode = facts.landlockOptional && rwnd.length === 0 ? 'best-effort' : 'required';
  if (abi < requiredAbi) {
    if (mode === 'best-effort' && abi === 0) return { abi, requiredAbi, mode, applied: false, handled: 0, rules: [], rw, rwnd };
    throw new CordonError('CORDON_ERR_KERNEL_FEATURE', abi === 0
      ? `this kernel offers no Landlock, and cordon's second write wall needs it (Linux >= 5.13 booted with Landlock among its LSMs, e.g. lsm=landlock,...)${rwnd.length > 0 ? `; read-write-no-delete paths (${rwnd.join(', ')}) need Landlock ABI ${LANDLOCK_NO_DELETE_ABI} (Linux >= 6.2) in any case` : '. To run on the mounts alone, pass --dangerously-allow-missing-landlock'}. 'cordon doctor' shows what this machine offers`
      : `this kernel offers Landlock ABI ${abi}, and read-write-no-delete paths (${rwnd.join(', ')}) need ABI ${requiredAbi} or newer (no delete, rename away or truncate: Linux >= 6.2). Use a newer kernel, or make those paths read-write (allowWrite) instead`);
  }
  const rules: LandlockRule[] = [
    ...rw.map((path) => ({ path, access: 'rw' as const, rights: landlockWriteRights(abi) })),
    ...rwnd.map((path) => ({ path, access: 'rwnd' as const, rights: landlockNoDeleteRights(abi) })),
  ];
  return { abi, requiredAbi, mode, applied: true, handled: landlockWriteRights(abi), rules, rw, rwnd };
}

function dedupe(a: string[]): string[] {
  return [...new Set(a)];
}

/**
 * What common clients read to find a proxy. No credentials: the relay proves
 * where a connection came from (see proxy/auth.ts), so tools that cannot send
 * proxy authentication work too.
 */
export function proxyEnv(helper: string): Record<string, string> {
  const http = `http://127.0.0.1:${PROXY_PORTS.http}`;
  const socks = `socks5h://127.0.0.1:${PROXY_PORTS.socks}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: http, http_proxy: http,
    HTTPS_PROXY: http, https_proxy: http,
    // ALL_PROXY names the HTTP proxy too: a socks5h:// value makes Python's
    // httpx (and so the OpenAI/Anthropic SDKs) fail without the optional
    // socksio package, even when HTTPS_PROXY is set. SOCKS5 has its own name.
    ALL_PROXY: http, all_proxy: http,
    CORDON_SOCKS_PROXY: socks,
    NO_PROXY: noProxy, no_proxy: noProxy,
    // npm reads its own config keys before the environment.
    npm_config_proxy: http, npm_config_https_proxy: http, npm_config_noproxy: noProxy,
    // JVM tools: the standard networking properties (no auth needed).
    JAVA_TOOL_OPTIONS: `-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=${PROXY_PORTS.http} -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=${PROXY_PORTS.http} -Dhttp.nonProxyHosts=localhost|127.0.0.1`,
    // Node >= 22.21 and >= 24.5 make fetch, http and https honour the variables above with this.
    NODE_USE_ENV_PROXY: '1',
    // git over SSH: ssh reaches the host through a CONNECT tunnel that the
    // helper opens (ssh runs ProxyCommand with the shell, hence the quoting).
    ...(/^[\w@%+=:,./-]+$/.test(helper) ? { GIT_SSH_COMMAND: `ssh -o ProxyCommand='${helper} connect %h %p'` } : {}),
  };
}
