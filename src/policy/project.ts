/**
 * Project settings: `.cordon/settings.json` in the project, between the
 * user's settings and the command line in strength.
 *
 * Which files: every `.cordon/settings.json` from the repository root down
 * to the working directory, outermost first. The repository root is the
 * nearest directory at or above the working directory that holds an entry
 * named `.git` (a directory, or the file of a worktree or submodule); with
 * none up to `/`, only the working directory's own file. The working
 * directory is resolved (main.ts), so the walk climbs real directories.
 *
 * Trust boundary: everything in a project is attacker-controlled (a cloned
 * repository, or what a confined command wrote there in an earlier run). So
 * a project file may only narrow what the user's own sources give (built-in
 * defaults, user settings, trusted project files, the command line): each key
 * that could widen is refused with exit 125 unless the user trusted the
 * file's exact bytes (`cordon trust`, trust.ts). The keys judged by value
 * alone are refused here (PROJECT_KEYS, refuseWideningKeys); the paths, which
 * need the compiled policy, in platform/linux/narrowing.ts. Reading a project
 * file runs nothing, follows no symbolic link (`.cordon` or
 * `settings.json` being one is refused, not followed: it could lead to any
 * file of the user's), never blocks (a FIFO) and is bounded (one MiB, one
 * lstat per directory level). Proved by test/unit/policy/project.test.ts and,
 * through the real CLI, by test/integration/project-settings/project-settings.test.ts.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { createHash } from 'node:crypto';
import { CordonError } from '../errors.js';
import { at, isPlainObject } from './schema.js';
import { parseSettings, type NetworkMode, type PathEntry, type Settings } from './settings.js';
import { networkSpec, type CliRules } from './policy.js';
import type { DomainRule, HostPattern } from '../network/domain-rules.js';
import { sameAddress } from '../network/addresses.js';

export const PROJECT_DIR = '.cordon';
export const PROJECT_FILE = 'settings.json';
/** Larger is refused: a settings file is a few hundred bytes. */
export const PROJECT_MAX_BYTES = 1024 * 1024;

/** One project settings file as read: its path (resolved directories) and its exact bytes. */
export interface ProjectFile {
  readonly path: string;
  readonly bytes: Buffer;
  /** SHA-256 of `bytes`, hex: what `cordon trust` records. */
  readonly sha256: string;
}

/** The project settings files that apply in `cwd` (absolute, resolved), outermost first. */
export function findProjectSettings(cwd: string): ProjectFile[] {
  const withDir: string[] = [];
  let repository = false;
  for (let d = cwd; ; d = dirname(d)) {
    if (present(join(d, PROJECT_DIR))) withDir.push(d);
    if (present(join(d, '.git'))) {
      repository = true;
      break;
    }
    if (d === sep) break;
  }
  const dirs = repository ? withDir : withDir.filter((d) => d === cwd);
  const out: ProjectFile[] = [];
  for (const d of dirs.reverse()) {
    const f = readProjectFile(d);
    if (f) out.push(f);
  }
  return out;
}

/** The nearest directory from `cwd` up that has a `.git` entry (the repository's root), if any. */
export function repositoryRoot(cwd: string): string | undefined {
  for (let d = cwd; ; d = dirname(d)) {
    if (present(join(d, '.git'))) return d;
    if (d === sep) return undefined;
  }
}

/** An entry is there (a link is not followed). */
function present(p: string): boolean {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return false;
    throw new CordonError('CORDON_ERR_SETTINGS_UNREADABLE', `cannot look for project settings at ${p} (${code ?? String(e)}); fix the permissions of its directory`, { cause: e });
  }
}

/**
 * `<dir>/.cordon/settings.json`, read safely, or undefined when there is
 * none. O_NOFOLLOW refuses a link as the file; the kernel's name for the
 * opened file (/proc/self/fd) must be the path asked for, which refuses a
 * `.cordon` replaced by a link after it was looked at; O_NONBLOCK keeps a
 * FIFO from holding cordon, and only a regular file is read.
 */
export function readProjectFile(dir: string): ProjectFile | undefined {
  const cdir = join(dir, PROJECT_DIR);
  const file = join(cdir, PROJECT_FILE);
  const refuse = (what: string, fix: string) => new CordonError('CORDON_ERR_SETTINGS_INVALID', `${what}: cordon reads project settings only from a regular file inside the project, never through a link (it could lead to any file of yours). ${fix}; nothing was run`);
  let st;
  try {
    st = lstatSync(cdir, { throwIfNoEntry: false });
  } catch (e) {
    throw new CordonError('CORDON_ERR_SETTINGS_UNREADABLE', `${cdir}: cannot be looked at (${(e as NodeJS.ErrnoException).code ?? String(e)}); fix its permissions`, { cause: e });
  }
  if (!st) return undefined;
  if (st.isSymbolicLink()) throw refuse(`${cdir} is a symbolic link (to ${linkTarget(cdir)})`, `Replace it with a directory holding ${PROJECT_FILE}, or remove it`);
  if (!st.isDirectory()) throw refuse(`${cdir} is not a directory`, `Remove it, or make it a directory holding ${PROJECT_FILE}`);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw refuse(`${file} is a symbolic link (to ${linkTarget(file)})`, 'Replace it with the file itself, or remove it');
    if (code === 'ENOTDIR') throw refuse(`${cdir} was replaced while cordon read it`, 'Look at what is there');
    throw new CordonError('CORDON_ERR_SETTINGS_UNREADABLE', `${file}: project settings file cannot be read (${code ?? String(e)}); fix its permissions`, { cause: e });
  }
  try {
    const fst = fstatSync(fd);
    if (!fst.isFile()) throw refuse(`${file} is not a regular file`, 'Replace it with a file, or remove it');
    if (fst.size > PROJECT_MAX_BYTES) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: project settings file is ${fst.size} bytes, more than cordon reads (${PROJECT_MAX_BYTES}); nothing was run. Shorten it`);
    let opened: string;
    try {
      opened = readlinkSync(`/proc/self/fd/${fd}`);
    } catch (e) {
      throw new CordonError('CORDON_ERR_SETTINGS_UNREADABLE', `${file}: cannot tell which file was opened (/proc/self/fd: ${(e as NodeJS.ErrnoException).code ?? String(e)}); cordon needs /proc`, { cause: e });
    }
    if (opened !== file) throw refuse(`${file} was reached through a link (it opened ${opened})`, `Make ${cdir} a directory of its own`);
    const bytes = readBounded(fd, file);
    return { path: file, bytes, sha256: sha256Hex(bytes) };
  } finally {
    closeSync(fd);
  }
}

function readBounded(fd: number, file: string): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    total += n;
    if (total > PROJECT_MAX_BYTES) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: project settings file is more than ${PROJECT_MAX_BYTES} bytes, more than cordon reads; nothing was run. Shorten it`);
    chunks.push(buf.subarray(0, n));
  }
  return Buffer.concat(chunks);
}

function linkTarget(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '?';
  }
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A project file parsed: the Settings it gives (same validation as any file) and its JSON, for the key checks. */
export interface ParsedProject {
  readonly file: ProjectFile;
  readonly settings: Settings;
  readonly json: Record<string, unknown>;
}

/**
 * Parsed like any settings file, except that a relative path in it is taken
 * from the project directory (the one holding `.cordon`), not from the
 * working directory: the same file means the same paths wherever in the
 * project cordon starts.
 */
export function parseProjectFile(file: ProjectFile): ParsedProject {
  const text = file.bytes.toString('utf8');
  const parsed = parseSettings(text, file.path);
  const dir = dirname(dirname(file.path));
  const fromProject = (p: string) => (isAbsolute(p) || p.startsWith('~') ? p : join(dir, p));
  const entries = (list: readonly PathEntry[]) => list.map((e) => ({ ...e, path: fromProject(e.path) }));
  const fs = parsed.filesystem;
  const tls = parsed.network.tls;
  const settings: Settings = {
    ...parsed,
    filesystem: { ...fs, denyRead: entries(fs.denyRead), allowRead: entries(fs.allowRead), allowWrite: entries(fs.allowWrite), denyWrite: entries(fs.denyWrite), allowWriteNoDelete: entries(fs.allowWriteNoDelete) },
    network: {
      ...parsed.network,
      allowUnixSockets: parsed.network.allowUnixSockets.map(fromProject),
      // Files the proxy reads (a trusted file's CA, extra CAs): from the project too.
      ...(tls ? { tls: { ...tls, extraCaCertPaths: tls.extraCaCertPaths.map(fromProject), ...(tls.ca ? { ca: { cert: fromProject(tls.ca.cert), key: fromProject(tls.ca.key) } } : {}) } } : {}),
    },
    ...(parsed.broker ? { broker: parsed.broker.map((b) => ('file' in b.from ? { ...b, from: { file: fromProject(b.from.file) } } : b)) } : {}),
  };
  return { file, settings, json: JSON.parse(text) as Record<string, unknown> };
}

/**
 * What a project file may do with each key of the settings schema
 * (SETTINGS_SHAPE; test/unit/policy/project.test.ts checks every key has an
 * entry, so a key added later must be decided here):
 *  - narrows: it can only take away (a deny, a read-only path, a reason's wording);
 *  - relative: it may repeat or narrow what the other sources give, never
 *    add to it: judged by refuseWideningKeys against the other sources
 *    (mode, allowGitConfig, denyPrivateAddresses, allowedDomains) or, for
 *    paths and sockets, against the compiled policy (narrowing.ts);
 *  - only: srt's keys that cordon ignores or refuses elsewhere: only the
 *    value that asks for nothing beyond srt's default; a project may not ask
 *    for more even where cordon, on this platform, would not give it;
 *  - never: the key names a program to run (ripgrep, seccomp, bwrapPath,
 *    socatPath, javaAgentJarPath, windows.srtWin): a project file never
 *    chooses what runs.
 */
export type ProjectKey =
  | { readonly kind: 'narrows'; readonly why: string }
  | { readonly kind: 'relative'; readonly why: string }
  | { readonly kind: 'only'; readonly ok: (v: unknown) => boolean; readonly shown: string; readonly why: string }
  | { readonly kind: 'never'; readonly why: string };

const narrows = (why: string): ProjectKey => ({ kind: 'narrows', why });
const relative = (why: string): ProjectKey => ({ kind: 'relative', why });
const only = (value: unknown, why: string): ProjectKey => ({ kind: 'only', ok: (v) => JSON.stringify(v) === JSON.stringify(value), shown: JSON.stringify(value), why });
const never = (why: string): ProjectKey => ({ kind: 'never', why });

export const PROJECT_KEYS: Readonly<Record<string, ProjectKey>> = {
  $schema: narrows('it names a schema for editors and means nothing to cordon'),
  'filesystem.denyRead': narrows('it hides paths'),
  'filesystem.denyWrite': relative('it makes paths read-only; under /tmp it would also show the host directory that the private /tmp hides (narrowing.ts)'),
  'filesystem.allowRead': relative('it may re-open only what no other source hides'),
  'filesystem.allowWrite': relative('it may name only paths already read-write; it then names all that is writable, which narrows'),
  'filesystem.allowWriteNoDelete': relative('it may name only paths already writable'),
  'filesystem.allowGitConfig': relative('true only when another source already sets it'),
  'filesystem.packageCache': narrows('false keeps package caches per run; any source\'s false wins, so true changes nothing'),
  'filesystem.disabled': only(false, 'true turns every filesystem rule off'),
  'network.mode': relative('no more open than the other sources give'),
  'network.denyPrivateAddresses': relative('false only when no other source sets it true'),
  'network.allowedDomains': relative('only entries another source already allows'),
  'network.deniedDomains': narrows('it refuses destinations'),
  'network.deniedDomainReasons': narrows('it words a refusal and allows nothing'),
  'network.strictAllowlist': narrows('cordon never asks: what no rule allows is refused either way'),
  'network.deniedResolvedAddresses': narrows('it refuses addresses'),
  'network.allowUnixSockets': relative('only sockets another source already grants'),
  'network.allowAllUnixSockets': only(false, 'true asks for every host socket'),
  'network.allowLocalBinding': only(false, "true asks srt for the host's local ports (macOS and Windows)"),
  'network.allowMachLookup': only([], 'an entry asks srt for a macOS service'),
  'network.httpProxyPort': never('it hands the traffic to a proxy of its choosing (cordon refuses it in any file)'),
  'network.socksProxyPort': never('it hands the traffic to a proxy of its choosing (cordon refuses it in any file)'),
  'network.mitmProxy': never('it routes traffic through a proxy of its choosing (cordon refuses it in any file)'),
  'network.filterRequest': never('a callback, never a file setting (cordon refuses it in any file)'),
  'network.tlsTerminate': never('it names certificate files, and which hosts are opened (TLS termination is the user\'s choice)'),
  'network.parentProxy': never('it sends traffic through a proxy of its choosing (cordon refuses it in any file)'),
  'network.allowPlaintextHeaderSet': only(false, 'true lets srt set headers in cleartext'),
  'network.stripResponseHeaders': only([], 'cordon refuses it in any file'),
  'network.refuseOpaqueTunnels': narrows('it refuses tunnels'),
  'network.requestRules': narrows('its rules are a gate of their own: a request passes them as well as every other source\'s'),
  'network.requireHostMatch': narrows("cordon's proxy always checks the Host header; false is srt's default"),
  'network.ambiguousRequestTarget': only('refuse', 'another value lets srt forward a request target its filter did not judge'),
  'environment.pass': relative('only variables another source already passes: it hands the command secrets'),
  'environment.withhold': narrows('it keeps variables out of the command'),
  'credentials.files': only([], 'cordon refuses an entry in any file'),
  'credentials.envVars': narrows('an entry of mode "deny" withholds a variable (cordon refuses "mask" in any file)'),
  'credentials.awsPairs': only([], 'cordon refuses an entry in any file'),
  'credentials.broker': never('it reads your credentials (from your environment, files or programs) for the hosts it names'),
  'credentials.aws': never('it reads your AWS keys (from your environment or a program) and signs with them for the hosts it names'),
  'credentials.allowPlaintextInject': only(false, 'true lets srt send a credential in cleartext'),
  'credentials.sigv4': { kind: 'only', ok: (v) => isPlainObject(v) && Object.values(v).every((x) => x === 'deny'), shown: '"deny" for each request shape', why: '"passthrough" lets srt forward requests it cannot re-sign' },
  ignoreViolations: only({}, 'an entry hides violations from the report'),
  enableWeakerNestedSandbox: only(false, 'true asks for a weaker sandbox'),
  allowNestedUserNamespaces: only(false, 'true asks for user namespaces inside, which gives up the write denies'),
  enableWeakerNetworkIsolation: only(false, 'true opens a macOS service to the command'),
  allowAppleEvents: only(false, 'true lets the command start other macOS applications'),
  allowPty: only(false, 'true asks srt for pseudo-terminals (macOS)'),
  ripgrep: never("it names the program srt runs for its scan"),
  mandatoryDenySearchDepth: { kind: 'only', ok: (v) => typeof v === 'number' && v >= 3, shown: "3 or more (srt's default is 3)", why: "a smaller depth makes srt's scan for protected names look less deep" },
  seccomp: never('it names the seccomp programs srt runs'),
  bwrapPath: never('it names the bubblewrap to run'),
  socatPath: never('it names the socat to run'),
  javaAgentJarPath: never('it names a Java agent to load into every JVM'),
  windows: never('it names the Windows sandbox program srt runs (windows.srtWin.path) and its account'),
  'git.safeDirectories': only([], 'an entry makes git trust repositories another user owns'),
};


/** The keys of a project file that can widen and that it sets (for `cordon trust` to show). */
export function wideningKeysIn(json: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, rule] of Object.entries(PROJECT_KEYS)) {
    const v = at(json, key);
    if (!v.found || rule.kind === 'narrows') continue;
    if (rule.kind === 'only' && rule.ok(v.value)) continue;
    if (rule.kind === 'relative' && !relativeCanWiden(key, v.value)) continue;
    out.push(key);
  }
  return out;
}

function relativeCanWiden(key: string, v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0 && key !== 'filesystem.denyWrite';
  if (key === 'network.mode') return v !== 'none';
  if (key === 'network.denyPrivateAddresses') return v === false;
  return v === true;
}

/** What the refusal suggests besides trusting the file. */
export interface WideningHints {
  /** The user settings file (compile.ts userSettingsPath). */
  readonly userSettings: string;
  /** Another source than a project file is judged (a command's overlay: policy/overlay.ts): its own refusal. */
  readonly refusal?: (file: string, keyPath: string, value: unknown, why: string) => CordonError;
}

const FLAGS: Readonly<Record<string, string>> = {
  'filesystem.allowRead': '--allow-read',
  'filesystem.allowWrite': '--allow-write',
  'filesystem.allowWriteNoDelete': '--no-delete',
  'filesystem.denyWrite': '--read-only',
  'network.allowedDomains': '--allow-domain',
  'network.mode': '--network',
};

/**
 * The refusal: which file, which key, why it widens, and the two fixes
 * (trust the file as it is, or move the key to a source of the user's own).
 */
export function wideningError(file: string, keyPath: string, value: unknown, why: string, hints: WideningHints): CordonError {
  if (hints.refusal) return hints.refusal(file, keyPath, value, why);
  const base = keyPath.replace(/\[\d+\].*$/, '');
  const flag = FLAGS[base];
  const move = `move the key to your user settings (${hints.userSettings})${flag ? ` or give ${flag} on the command line` : ''}`;
  return new CordonError('CORDON_ERR_PROJECT_WIDENS', `${file}: ${keyPath} = ${shown(value)} would widen what your own settings allow (${why}); a project settings file can only narrow them, and nothing was run. If you trust this file as it is, run \`cordon trust ${file}\` (trust ends when the file changes); or ${move}`);
}

function shown(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const OPENNESS: Record<NetworkMode, number> = { none: 0, filtered: 1, 'dangerously-unfiltered': 2 };

/**
 * The checks that need only the settings: every `only`/`never` key, and the
 * relative keys that are values rather than paths. `others`: every source
 * but the untrusted project files (user settings, trusted project files,
 * --settings files); `cli`: the command line's rules. Throws the first
 * refusal (CORDON_ERR_PROJECT_WIDENS).
 */
export function refuseWideningKeys(p: ParsedProject, others: readonly Settings[], cli: CliRules, hints: WideningHints): void {
  const file = p.file.path;
  for (const [key, rule] of Object.entries(PROJECT_KEYS)) {
    const v = at(p.json, key);
    if (!v.found) continue;
    if (rule.kind === 'never') throw wideningError(file, key, v.value, `${rule.why}; a project file never chooses what runs`, hints);
    if (rule.kind === 'only' && !rule.ok(v.value)) throw wideningError(file, key, v.value, `${rule.why}; a project file may set it only to ${rule.shown}`, hints);
  }
  const s = p.settings;
  if (s.filesystem.allowGitConfig && !others.some((o) => o.filesystem.allowGitConfig)) {
    throw wideningError(file, 'filesystem.allowGitConfig', true, 'it leaves the git configuration of every repository writable, and no other source does', hints);
  }
  // A secret passed in reaches whatever the network lets the command reach.
  const passed = new Set([...(cli.passEnv ?? []), ...others.flatMap((o) => o.environment?.pass ?? [])]);
  const pass = s.environment?.pass ?? [];
  const i = pass.findIndex((n) => !passed.has(n));
  if (i >= 0) throw wideningError(file, `environment.pass[${i}]`, pass[i], `it hands the command ${pass[i]}, a variable cordon withholds as a secret, and no other source passes it`, hints);
  const base = networkSpec(others, cli);
  if (s.network.mode !== undefined && OPENNESS[s.network.mode] > OPENNESS[base.mode]) {
    throw wideningError(file, 'network.mode', s.network.mode, `the network is ${base.mode} without it (${base.modeSource})`, hints);
  }
  if (at(p.json, 'network.denyPrivateAddresses').value === false && base.denyPrivateAddresses) {
    throw wideningError(file, 'network.denyPrivateAddresses', false, 'another source sets it true', hints);
  }
  for (const r of s.network.allow) {
    if (!base.allow.some((b) => allowCovers(b, r))) {
      throw wideningError(file, r.keyPath, r.source, `no other source allows ${r.source}${base.mode === 'none' ? ', and the network is none without it' : ''}`, hints);
    }
  }
}

/** Every host and port `inner` allows, `outer` allows too. */
export function allowCovers(outer: DomainRule, inner: DomainRule): boolean {
  if (outer.port !== undefined && outer.port !== inner.port) return false;
  return patternCovers(outer.pattern, inner.pattern);
}

function patternCovers(o: HostPattern, i: HostPattern): boolean {
  switch (o.kind) {
    case 'any':
      return true;
    case 'name':
      return i.kind === 'name' && i.name === o.name;
    case 'subdomains':
      return (i.kind === 'name' && i.name.endsWith(`.${o.base}`)) || (i.kind === 'subdomains' && (i.base === o.base || i.base.endsWith(`.${o.base}`)));
    case 'ip':
      return i.kind === 'ip' && sameAddress(i.address, o.address);
  }
}
