/**
 * Settings files: cordon's own format is a superset of srt's
 * (@anthropic-ai/sandbox-runtime), so an srt settings file works unchanged.
 *
 * Trust boundary: the bytes of a settings file are untrusted. Reading fails
 * closed: a file that is named but missing, unreadable, empty, not JSON, with an
 * unknown key or a wrong type is an error that names the key path, the
 * expectation and the value. Nothing here falls back to defaults.
 *
 * srt keys that would make the sandbox *weaker* than cordon can enforce are
 * rejected; srt keys that only tune srt's own machinery (ripgrep, socat paths,
 * violation filtering) are accepted and have no effect; keys that ask for a
 * capability cordon does not provide yet but whose absence is *stricter*
 * (Unix sockets) are accepted with a warning.
 */
import { readFileSync } from 'node:fs';
import { CordonError, SettingsError } from '../errors.js';
import { anyValue, arr, bool, int, lit, obj, oneOf, rec, str, validate, type Shape } from './schema.js';
import { parseAddressRanges, type AddressRange } from '../network/addresses.js';
import { parseAllowedDomains, parseDeniedDomains, type DomainRule } from '../network/domain-rules.js';

/**
 * none: no network at all. filtered: only through cordon's proxies.
 * dangerously-unfiltered: the host's network, unfiltered (filesystem and
 * process walls stay) — named so nobody turns it on by accident.
 */
export type NetworkMode = 'none' | 'filtered' | 'dangerously-unfiltered';
export const NETWORK_MODES: readonly NetworkMode[] = ['none', 'filtered', 'dangerously-unfiltered'];

/** A path entry: a string (globs allowed), or srt's { path, literal: true } for a path taken verbatim. */
export interface PathEntry { readonly path: string; readonly literal: boolean }

export interface Settings {
  readonly file: string;
  readonly filesystem: {
    readonly denyRead: readonly PathEntry[];
    readonly allowRead: readonly PathEntry[];
    readonly allowWrite: readonly PathEntry[];
    readonly denyWrite: readonly PathEntry[];
    readonly allowWriteNoDelete: readonly PathEntry[];
    readonly allowGitConfig: boolean;
  };
  readonly network: {
    /** Explicit network.mode, when the file sets one. */
    readonly mode?: NetworkMode;
    readonly allow: readonly DomainRule[];
    readonly deny: readonly DomainRule[];
    readonly deniedRanges: readonly AddressRange[];
    readonly denyPrivateAddresses: boolean;
    readonly allowUnixSockets: readonly string[];
    readonly allowAllUnixSockets: boolean;
  };
  /** Non-fatal notes for the user (a stricter outcome than the file asked for). */
  readonly warnings: readonly string[];
}

const pathEntry: Shape = oneOf('a path string, or { "path": "<path>", "literal": true }', str, obj({ path: str, literal: lit(true) }, ['path', 'literal']));
const paths = arr(pathEntry);

/** Keys that weaken a wall; cordon refuses them when set to true. */
const weakeningFlags = ['enableWeakerNestedSandbox', 'allowNestedUserNamespaces', 'enableWeakerNetworkIsolation'] as const;

export const SETTINGS_SHAPE: Shape = obj({
  $schema: str,
  filesystem: obj({
    denyRead: paths,
    allowRead: paths,
    allowWrite: paths,
    denyWrite: paths,
    allowWriteNoDelete: paths,
    allowGitConfig: bool,
    disabled: bool,
  }),
  network: obj({
    mode: oneOf('"none", "filtered" or "dangerously-unfiltered"', lit('none'), lit('filtered'), lit('dangerously-unfiltered')),
    denyPrivateAddresses: bool,
    allowedDomains: arr(str),
    deniedDomains: arr(str),
    deniedDomainReasons: rec(str),
    strictAllowlist: bool,
    deniedResolvedAddresses: arr(str),
    allowUnixSockets: arr(str),
    allowAllUnixSockets: bool,
    allowLocalBinding: bool,
    allowMachLookup: arr(str),
    httpProxyPort: int(1, 65535),
    socksProxyPort: int(1, 65535),
    filterRequest: anyValue,
    allowPlaintextHeaderSet: anyValue,
    stripResponseHeaders: anyValue,
    refuseOpaqueTunnels: anyValue,
    requireHostMatch: anyValue,
    ambiguousRequestTarget: anyValue,
    tlsTerminate: anyValue,
    parentProxy: anyValue,
  }),
  credentials: anyValue,
  ignoreViolations: rec(arr(str)),
  enableWeakerNestedSandbox: bool,
  allowNestedUserNamespaces: bool,
  enableWeakerNetworkIsolation: bool,
  allowAppleEvents: bool,
  ripgrep: obj({ command: str, args: arr(str), argv0: str }, ['command']),
  mandatoryDenySearchDepth: int(0, 1000),
  allowPty: bool,
  seccomp: anyValue,
  bwrapPath: str,
  socatPath: str,
  javaAgentJarPath: str,
  windows: anyValue,
  git: obj({ safeDirectories: arr(str) }),
});

/** Reads and validates one settings file. Throws CordonError; never returns defaults. */
export function loadSettingsFile(file: string): Settings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CordonError('CORDON_ERR_SETTINGS_MISSING', `${file}: settings file does not exist; create it or drop --settings`, { cause: e });
    }
    throw new CordonError('CORDON_ERR_SETTINGS_UNREADABLE', `${file}: settings file cannot be read (${code ?? String(e)}); fix its permissions`, { cause: e });
  }
  return parseSettings(text, file);
}

/** Pure: JSON text → validated Settings. */
export function parseSettings(text: string, file: string): Settings {
  if (text.trim() === '') throw new SettingsError(file, '', 'a JSON object', 'an empty file');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  validate(json, SETTINGS_SHAPE, file);
  const o = json as Record<string, any>;
  for (const flag of weakeningFlags) {
    if (o[flag] === true) throw new SettingsError(file, flag, 'false or absent (cordon does not run weaker sandboxes)', true);
  }
  if (o.filesystem?.disabled === true) {
    throw new SettingsError(file, 'filesystem.disabled', 'false or absent (cordon never turns its filesystem walls off)', true);
  }
  if (o.credentials !== undefined && !isEmptyCredentials(o.credentials)) {
    throw new SettingsError(file, 'credentials', 'absent (credential brokering is not available in this version, and ignoring it would expose the credentials it protects)', o.credentials);
  }
  const warnings: string[] = [];
  const net = o.network ?? {};
  if (net.allowAllUnixSockets === true) {
    warnings.push(`${file}: network.allowAllUnixSockets is not supported (it would open every host daemon's socket); only the sockets named in network.allowUnixSockets are reachable`);
  }
  const fs = o.filesystem ?? {};
  return {
    file,
    filesystem: {
      denyRead: entries(fs.denyRead),
      allowRead: entries(fs.allowRead),
      allowWrite: entries(fs.allowWrite),
      denyWrite: entries(fs.denyWrite),
      allowWriteNoDelete: entries(fs.allowWriteNoDelete),
      allowGitConfig: fs.allowGitConfig === true,
    },
    network: {
      ...(net.mode ? { mode: net.mode as NetworkMode } : {}),
      allow: parseAllowedDomains(net.allowedDomains ?? [], 'network.allowedDomains', file),
      deny: parseDeniedDomains(net.deniedDomains ?? [], 'network.deniedDomains', file),
      deniedRanges: parseAddressRanges(net.deniedResolvedAddresses ?? [], 'network.deniedResolvedAddresses', file),
      denyPrivateAddresses: net.denyPrivateAddresses === true,
      allowUnixSockets: net.allowUnixSockets ?? [],
      allowAllUnixSockets: net.allowAllUnixSockets === true,
    },
    warnings,
  };
}

function entries(v: unknown): PathEntry[] {
  if (!Array.isArray(v)) return [];
  return v.map((e) => (typeof e === 'string' ? { path: e, literal: false } : { path: (e as { path: string }).path, literal: true }));
}

function isEmptyCredentials(c: unknown): boolean {
  if (typeof c !== 'object' || c === null) return false;
  return Object.values(c).every((v) => v === undefined || (Array.isArray(v) && v.length === 0) || v === false);
}
