/**
 * Settings files + CLI rules → Policy → Linux plan. Shared by `cordon`,
 * `cordon explain` and (later) the library façade, so what explain prints is
 * exactly what runs.
 */
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { packageRoot } from './package-root.js';
import { CordonError } from './errors.js';
import { preparePolicy, type CliRules, type Policy } from './policy/policy.js';
import { checkBwrapPath, loadSettingsFile, type Settings } from './policy/settings.js';
import { expandPath, hasGlob, isWithin, pathResolver, realOrSelf, walkPath } from './policy/paths.js';
import { findProjectSettings, parseProjectFile, refuseWideningKeys, repositoryRoot, type ParsedProject, type WideningHints } from './policy/project.js';
import { isTrusted } from './policy/trust.js';
import { refuseRuleWidening } from './platform/linux/narrowing.js';
import { OVERLAY_HINTS, overlayHasPaths, overlaySources, refuseOverlayKeys, type Overlay } from './policy/overlay.js';
import { helperPath } from './platform/linux/helper-path.js';
import { fdBinds, planLinux, type LinuxPlan } from './platform/linux/plan.js';
import { insideBareGitDirs, scanRoots, scanTrees, type PendingScan } from './platform/linux/scan.js';
import { ROOT_NAME_LIST } from './policy/protected.js';
import { findBwrap, gatherFacts, type PlatformFacts } from './platform/linux/probe.js';
import { FDS, ROOT_FDS } from './platform/linux/sandbox-process.js';
import { pathIdentities, rootIdentities } from './platform/linux/no-follow.js';
import { runtimeDir } from './platform/linux/placeholders.js';
import { inheritLiveRuns, liveJournals, sandboxedAreas, writableByLiveRun, type Journal } from './platform/linux/journal.js';
import { CACHE_VARIABLES, cacheRoot, preparePackageCache, type PackageCache } from './platform/linux/package-cache.js';
import { environmentRules, withheldNames } from './policy/environment.js';

export interface CompileInput {
  readonly cwd: string;
  readonly home: string;
  readonly env: NodeJS.ProcessEnv;
  readonly settingsFiles: readonly string[];
  /** Settings given as values (the library's options), strongest after the files. */
  readonly settings?: readonly Settings[];
  readonly ignoreUserSettings: boolean;
  /** Do not load the project's .cordon/settings.json files (policy/project.ts). */
  readonly ignoreProjectSettings?: boolean;
  readonly rules: CliRules;
  readonly command: readonly string[];
  /** Files cordon writes during the run (the audit log): never writable inside. */
  readonly protectedFiles?: readonly string[];
  /** The journals of runs still going (journal.ts), when the caller has read them already. */
  readonly liveRuns?: readonly Journal[];
  /** --dangerously-allow-missing-landlock (see LinuxFacts.landlockOptional). */
  readonly landlockOptional?: boolean;
  /** The library's per-command policy overlay (policy/overlay.ts): narrows the other sources, or widens them when it says so. */
  readonly overlay?: Overlay;
  /** This machine's facts, if the caller gathered them already (probe.ts: gatherFacts); else gathered from `env`. */
  readonly facts?: PlatformFacts;
}

export interface Compiled {
  readonly policy: Policy;
  readonly plan: LinuxPlan;
  /** What the plan was made for (explain --json prints them). */
  readonly facts: PlatformFacts;
  readonly helper: string;
  readonly bwrap: string;
  /** Every settings file loaded, weakest first, and what kind of source it is (explain prints them). */
  readonly settings?: readonly SettingsSource[];
  /** What the repository scan looked at (the CLI remembers the roots for its next start: cli/early.ts). */
  readonly scan: { readonly roots: readonly string[]; readonly patterns: readonly string[] };
  /** Every source the policy was made from, weakest first, without the overlay (the library recomputes a command's network rules from them: setNetwork). */
  readonly sources?: readonly Settings[];
  /** Those of `sources` that are untrusted project files: they may only narrow what the others give, now and after setNetwork. */
  readonly untrusted?: readonly Settings[];
}

/** A settings file and where it stands: user settings, a project file (trusted or narrowing only), or --settings. */
export interface SettingsSource {
  readonly file: string;
  readonly origin: 'user' | 'project' | 'command line';
  /** For a project file: the user trusted these exact bytes (`cordon trust`), so it may widen too. */
  readonly trusted?: boolean;
  /** For a project file: SHA-256 of the bytes read. */
  readonly sha256?: string;
}

/** loadSettingsSources' result: `settings` in order, and the project files that may only narrow. */
export interface LoadedSettings {
  readonly settings: readonly Settings[];
  readonly sources: readonly SettingsSource[];
  readonly untrusted: readonly ParsedProject[];
}

export function userSettingsPath(env: NodeJS.ProcessEnv, home: string): string {
  const xdg = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(xdg, 'cordon', 'settings.json');
}

/** srt's default settings file (srt's cli.ts: os.homedir(), which is $HOME; no variable moves it). */
export function srtSettingsPath(home: string): string {
  return join(home, '.srt-settings.json');
}

/**
 * The user's settings file: cordon's own if it exists, else srt's default
 * one, so a user of srt keeps the rules they wrote; then every --settings
 * file, in order. A file that is not there is skipped (only a missing one:
 * one that cannot be read is an error, as under srt, so a broken file never
 * passes for an absent one); a file named with --settings must exist.
 */
export function loadAllSettings(input: Pick<CompileInput, 'cwd' | 'home' | 'env' | 'settingsFiles' | 'ignoreUserSettings' | 'ignoreProjectSettings'>): Settings[] {
  return [...loadSettingsSources(input).settings];
}

/**
 * loadAllSettings, saying where each file stands. Between the user's file
 * and the --settings files come the project's .cordon/settings.json files
 * (policy/project.ts: from the repository root down to the working
 * directory); one whose exact bytes the user trusted counts as the user's
 * own, the others may only narrow (compile() checks them). Looking for them
 * costs two lstat calls per directory level up to the repository root.
 */
export function loadSettingsSources(input: Pick<CompileInput, 'cwd' | 'home' | 'env' | 'settingsFiles' | 'ignoreUserSettings' | 'ignoreProjectSettings'>, stateDir: string = runtimeDir(input.env)): LoadedSettings {
  const out: Settings[] = [];
  const sources: SettingsSource[] = [];
  const untrusted: ParsedProject[] = [];
  if (!input.ignoreUserSettings) {
    for (const user of [userSettingsPath(input.env, input.home), srtSettingsPath(input.home)]) {
      const loaded = loadIfPresent(user);
      if (loaded) {
        if (user === srtSettingsPath(input.home)) refuseWiderThanSrt(loaded, { cwd: input.cwd, home: input.home });
        out.push(loaded);
        sources.push({ file: user, origin: 'user' });
        break;
      }
    }
  }
  if (!input.ignoreProjectSettings) {
    for (const f of findProjectSettings(input.cwd)) {
      const read = parseProjectFile(f);
      const trusted = isTrusted(stateDir, f.path, f.sha256);
      // An untrusted file's request rules are a gate of their own (network/request-rules.ts): they only narrow.
      const parsed = trusted || read.settings.network.requestRules.length === 0 ? read
        : { ...read, settings: { ...read.settings, network: { ...read.settings.network, requestRules: read.settings.network.requestRules.map((r) => ({ ...r, gate: f.path })) } } };
      out.push(parsed.settings);
      sources.push({ file: f.path, origin: 'project', trusted, sha256: f.sha256 });
      if (!trusted) untrusted.push(parsed);
    }
  }
  for (const f of input.settingsFiles) {
    const file = expandPath(f, { cwd: input.cwd, home: input.home });
    out.push(loadSettingsFile(file));
    sources.push({ file, origin: 'command line' });
  }
  checkBwrapPath(out.filter((s) => !untrusted.some((p) => p.settings === s)), findBwrap(input.env));
  return { settings: out, sources, untrusted };
}

/**
 * srt's own settings file means what it meant under srt, never more. srt on
 * Linux grants nothing for a writable glob other than a trailing `/**` (it
 * says so and skips it) nor through a link to a directory above the link,
 * and drops keys it does not know; cordon would grant every match, the
 * directory above, and what its own keys open. Each is refused, naming the
 * entry.
 */
function refuseWiderThanSrt(s: Settings, ctx: { cwd: string; home: string }): void {
  const theirs = (why: string) => new CordonError('CORDON_ERR_SETTINGS_INVALID', `${s.file}: ${why}; put it in cordon's own settings (${'~'}/.config/cordon/settings.json) if you mean it`);
  // cordon's own keys that widen: srt drops a key it does not know, so under srt they granted nothing.
  if (s.filesystem.allowWriteNoDelete.length > 0) throw theirs('filesystem.allowWriteNoDelete is a key of cordon\'s, which srt ignores: in srt\'s file it would grant what srt never did');
  if (s.filesystem.allowGitConfig) throw theirs('filesystem.allowGitConfig is a key of cordon\'s, which srt ignores: in srt\'s file it would open what srt never did');
  if ((s.environment?.pass.length ?? 0) > 0) throw theirs('environment.pass is a key of cordon\'s, which srt ignores: in srt\'s file it would pass secrets srt never saw');
  s.filesystem.allowWrite.forEach((e, i) => {
    if (!e.literal && hasGlob(e.path) && !/^[^*?[]*\/\*\*$/.test(e.path)) {
      throw theirs(`filesystem.allowWrite[${i}] is the glob ${JSON.stringify(e.path)}, which srt on Linux skips (it grants nothing), and cordon would make every match writable; name the paths it should grant`);
    }
    // srt skips a grant through a link that leads to a directory above the link (a wider scope than it names).
    const abs = expandPath(e.path.replace(/\/\*\*$/, ''), ctx);
    const up = walkPath(abs).links.find((l) => isWithin(l.link, l.lands));
    if (up) throw theirs(`filesystem.allowWrite[${i}] (${e.path}) goes through ${up.link}, a link to ${up.lands} above it, which srt skips as a wider scope than the entry names; name ${up.lands} itself`);
  });
}

function loadIfPresent(file: string): Settings | undefined {
  try {
    return loadSettingsFile(file);
  } catch (e) {
    if (e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_MISSING') return undefined;
    throw e;
  }
}

/**
 * `early`: scans started at start-up (see early.ts), used where the policy
 * asks for exactly those; they run in processes of their own, in parallel
 * with loading cordon and reading settings.
 */
export async function compile(input: CompileInput, early: readonly PendingScan[] = []): Promise<Compiled> {
  if (process.platform !== 'linux') {
    throw new CordonError('CORDON_ERR_UNSUPPORTED_PLATFORM', `cordon runs commands on Linux in this version (this is ${process.platform})`);
  }
  const facts = input.facts ?? gatherFacts(input.env, helperPath(input.env), runtimeDir(input.env));
  const { helper, bwrap, stateDir } = facts;
  const loaded = loadSettingsSources(input, stateDir);
  const live = input.liveRuns ?? liveJournals(stateDir);
  refusePlantedSettings(loaded.sources, live);
  const values = input.settings ?? [];
  // Settings given as values pass the same checks as files.
  checkBwrapPath(values, bwrap);
  // An untrusted project file may only narrow what every other source gives (policy/project.ts).
  const others = [...loaded.settings.filter((s) => !loaded.untrusted.some((p) => p.settings === s)), ...values];
  const hints: WideningHints = { userSettings: userSettingsPath(input.env, input.home) };
  for (const p of loaded.untrusted) refuseWideningKeys(p, others, input.rules, hints);
  const all = [...loaded.settings, ...values];
  if (input.overlay) refuseOverlayKeys(input.overlay, all);
  const sources = input.overlay ? overlaySources(all, input.overlay) : all;
  // Made before the policy, which protects the directories above it (cordonOwn); any source's false turns it off.
  const cacheDir = cacheRoot(input.env, input.home);
  const packageCache: PackageCache | undefined = sources.some((s) => s.filesystem.packageCache === false) ? undefined : preparePackageCache(cacheDir, input.cwd, input.home, stateDir);
  const sandboxed = sandboxedAreas(stateDir, live);
  const repository = repositoryRoot(input.cwd);
  const policyInput = (settings: readonly Settings[]) => ({
    cwd: input.cwd,
    home: input.home,
    settings,
    cli: input.rules,
    runtimeDir: stateDir,
    protectedFiles: (input.protectedFiles ?? []).map((f) => expandPath(f, { cwd: input.cwd, home: input.home })),
    cordonOwn: [...(packageCache ? [{ path: dirname(dirname(packageCache.dir)), why: "cordon's package caches (each project's is writable only at /tmp/.cache in its own runs)" }] : []), ...cordonOwn(input, helper, bwrap)].filter((o, i, all) => all.findIndex((x) => x.path === o.path) === i),
    env: input.env,
    sandboxed,
    projectAreas: [...(repository ? [repository] : []), ...loaded.sources.filter((f) => f.origin === 'project').map((f) => dirname(dirname(f.file)))],
  });
  if (input.overlay && !input.overlay.widen && overlayHasPaths(input.overlay)) {
    // The overlay's path rules judged as a project file's are: against the handle's rules, in one policy with both.
    const both = preparePolicy(policyInput([...all, input.overlay.settings]));
    const judged = both.finish(await scanRoots(helper, both.scanRoots, both.patterns, stateDir, [], both.throughLinks, ROOT_NAME_LIST));
    const resolve = pathResolver();
    refuseRuleWidening({ policy: judged, untrusted: [input.overlay.settings], others: all, resolve: (abs) => resolve(abs).path, hints: OVERLAY_HINTS });
  }
  const prepared = preparePolicy(policyInput(sources));
  const scanned = scanRoots(helper, prepared.scanRoots, prepared.patterns, stateDir, early, prepared.throughLinks, ROOT_NAME_LIST);
  // A run still going in the same place may leave what this one must check too (journal.ts).
  // Below bare git dirs too, as the check after the run looks (scan.ts insideBareGitDirs): what is there now is known then.
  const finished = prepared.finish(insideBareGitDirs(await scanned, prepared.writableRoots, (roots) => scanTrees(helper, roots, prepared.patterns, stateDir, ROOT_NAME_LIST)));
  if (loaded.untrusted.length > 0) {
    const resolve = pathResolver();
    refuseRuleWidening({ policy: finished, untrusted: loaded.untrusted.map((p) => p.settings), others, resolve: (abs) => resolve(abs).path, hints });
  }
  const envRules = environmentRules(sources, input.rules.passEnv);
  const withheld = withheldNames(input.env, envRules);
  // Read again now: a run that started while this one compiled counts too.
  const policy = { ...inheritLiveRuns(finished, input.liveRuns ?? liveJournals(stateDir)), environment: { ...envRules, withheld } };
  // The caller's cache choices are judged on what the command gets: a withheld one is not its choice.
  const given = Object.fromEntries(Object.entries(input.env).filter(([k]) => !withheld.includes(k)));
  const planned = planLinux(policy, { helper, bwrap, stateDir, arch: facts.arch, landlockAbi: facts.landlockAbi, helperMounts: facts.helperMounts, ...(input.landlockOptional ? { landlockOptional: true } : {}), ...cacheFacts(given), ...(packageCache ? { packageCache } : {}) }, input.command, { info: FDS.info, seccomp: FDS.seccomp, ready: FDS.ready, block: FDS.block, stderr: FDS.stderr, roots: ROOT_FDS });
  const plan = { ...planned, rootIds: writableIdentities([...fdBinds(planned.bwrapArgs).values(), ...(policy.rescan?.writable ?? [])]), guardIds: guardIdentities(planned, policy.rescan?.writable ?? []) };
  return { policy, plan, facts, helper, bwrap, settings: loaded.sources, scan: { roots: prepared.scanRoots, patterns: prepared.patterns }, sources: all, untrusted: loaded.untrusted.map((p) => p.settings) };
}

/**
 * A settings file a sandbox that is still running can write (one that was
 * not there when that run started gets no mount: `~/.config/cordon` under
 * `--allow-write ~`) may hold what that command wrote: a program for
 * credentials.broker to run on the host, a wider policy. Refused, as
 * guardRuns refuses such a program (guard.ts).
 */
function refusePlantedSettings(sources: readonly SettingsSource[], live: readonly Journal[]): void {
  if (live.length === 0) return;
  for (const { file } of sources) {
    // The file as resolved, and every link on its way: one a live run can swap could show this check one file and the
    // load another.
    const real = realOrSelf(file);
    const hit = writableByLiveRun([real, ...walkPath(file).links.map((l) => l.link)], live);
    if (!hit) continue;
    const via = hit.program === real ? '' : ` (through the link ${hit.program})`;
    throw new CordonError('CORDON_ERR_LAUNCH', `the settings file ${file}${via} is writable by a sandbox that is still running (cordon pid ${hit.run.pid}, writable path ${hit.root}); cordon will not load settings that command could have written. Wait for that run to end, then read ${file} before you run cordon again`);
  }
}

/**
 * Each writable path's identity, reached with no link followed (no-follow.ts):
 * the policy resolved them, so a link on the way now was put there since (a
 * second run renaming a directory it shares): refused, nothing run.
 */
function writableIdentities(paths: readonly string[]): Record<string, string> {
  const { ids, linked } = rootIdentities([...new Set(paths)]);
  if (linked.length > 0) {
    throw new CordonError('CORDON_ERR_PATH', `the writable path ${linked[0]} is reached only through a symbolic link now, and was not when cordon resolved it: a directory on its way was renamed and replaced (another run that can write there can do that); nothing was run. Look at what is there before you run anything in it`);
  }
  return ids;
}

/** The identity of each path the plan mounts read-only inside a writable path (LinuxPlan.guardIds); its placeholders are launch's. */
function guardIdentities(plan: Pick<LinuxPlan, 'mounts' | 'placeholders'>, writable: readonly string[]): Record<string, string> {
  const held = plan.mounts.filter((m) => m.kind === 'bind-ro' && m.source === undefined && !plan.placeholders.includes(m.path) && writable.some((w) => m.path !== w && isWithin(m.path, w)));
  return pathIdentities(held.map((m) => m.path));
}

/** Where the caller's environment puts the tools' caches (package-cache.ts cacheEnv decides with them). */
function cacheFacts(env: NodeJS.ProcessEnv): { xdgCacheHome?: string; gopath?: string; cacheVariables: Record<string, string> } {
  const gopath = env.GOPATH?.split(':')[0];
  const cacheVariables: Record<string, string> = {};
  for (const v of CACHE_VARIABLES) if (env[v]) cacheVariables[v] = env[v]!;
  return { ...(env.XDG_CACHE_HOME?.startsWith('/') ? { xdgCacheHome: env.XDG_CACHE_HOME } : {}), ...(gopath?.startsWith('/') ? { gopath } : {}), cacheVariables };
}

/** What of cordon's own lies on this machine (see PolicyInput.cordonOwn): resolved, so a link to it is followed. */
function cordonOwn(input: Pick<CompileInput, 'env' | 'home'>, helper: string, bwrap: string): { path: string; why: string; afterRun?: boolean }[] {
  const out = [
    { path: packageRoot(), why: "cordon's own package (the code and programs it runs on the host)" },
    { path: helper, why: "cordon's native helper (runs on the host too)" },
    { path: process.execPath, why: 'the Node.js that runs cordon' },
    { path: dirname(userSettingsPath(input.env, input.home)), why: "cordon's user settings" },
    { path: srtSettingsPath(input.home), why: "srt's user settings, which cordon reads" },
    // Where a cordon run with another XDG_STATE_HOME or XDG_CACHE_HOME keeps its trust records, journals and package caches.
    { path: join(input.home, '.local', 'state', 'cordon'), why: "cordon's state directory (its default place)" },
    { path: join(input.home, '.cache', 'cordon'), why: "cordon's package caches (their default place)" },
  ];
  for (const v of ['CORDON_RELAY'] as const) if (input.env[v]?.startsWith('/')) out.push({ path: input.env[v]!, why: `cordon's network relay (${v})` });
  out.push({ path: bwrap, why: 'bubblewrap, which cordon runs' });
  return [...out.map((o) => ({ ...o, path: realOrSelf(o.path) })), ...npmLaunch(input.env)];
}

/**
 * What npm takes from a project when it starts cordon (`npx cordon`, an npm
 * script): the project's `.npmrc` (its `script-shell` is the program npm
 * starts the bin with, its `node-options` become NODE_OPTIONS), and, first on
 * the PATH npm gives, node_modules/.bin's `cordon`, the `sh` npm starts it
 * with and the `node` its launcher execs. The projects: the one cordon is
 * installed in, and the one npm says it ran from (npm_config_local_prefix,
 * also when cordon came from npx's cache). Not resolved: npm's bin is a link,
 * which is kept (made again after the run if replaced) as well as its target.
 */
function npmLaunch(env: NodeJS.ProcessEnv): { path: string; why: string; afterRun?: boolean }[] {
  const nodeModules = dirname(packageRoot());
  const installed = basename(nodeModules) === 'node_modules' ? dirname(nodeModules) : undefined;
  const prefix = env.npm_config_local_prefix?.startsWith('/') ? join(env.npm_config_local_prefix) : undefined;
  return [...new Set([installed, prefix])].filter((p): p is string => p !== undefined).flatMap((p) => [
    // Where cordon is not installed, a missing bin gets no placeholder: its pins on node_modules would refuse `npm ci` inside.
    ...NPM_BINS.map((bin) => ({ path: join(p, 'node_modules', '.bin', bin), why: `what \`npx cordon\` runs (node_modules/.bin/${bin})`, ...(p === installed ? {} : { afterRun: true }) })),
    { path: join(p, '.npmrc'), why: 'the project settings npm starts cordon with (script-shell, node-options)' },
  ]);
}

const NPM_BINS = ['cordon', 'node', 'sh'];

export function defaultHome(env: NodeJS.ProcessEnv): string {
  return env.HOME && env.HOME.startsWith('/') ? env.HOME : homedir();
}
