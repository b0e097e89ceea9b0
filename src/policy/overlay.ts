/**
 * A per-command policy overlay (the library's `spawn/exec(…, { policy })`):
 * a settings object that applies to one command of a handle, on top of the
 * handle's own sources (its `settings`, the user's file when asked for, the
 * project's files).
 *
 * How it combines (docs/library.md, "Per-command policy"):
 *  - the keys in REPLACED are the command's whole value for that key: a
 *    grant list (allowWrite, allowRead, allowedDomains, allowUnixSockets)
 *    replaces every source's list, so naming fewer paths or domains narrows;
 *    allowWrite and allowWriteNoDelete together are the writable set: an
 *    overlay with either replaces both lists of every source;
 *    a scalar (network.mode, denyPrivateAddresses, allowGitConfig,
 *    packageCache) replaces every source's value;
 *  - every other key adds to the handle's, as one more settings file would
 *    (more denies, no-delete paths): it can take away, never give back.
 *
 * Trust boundary: the overlay is the embedding program's, like the handle's
 * settings, and validated the same way (parseSettings). By default it may
 * only narrow the handle: each key that would widen is refused
 * (CORDON_ERR_OVERLAY_WIDENS, naming the key) by the very checks an
 * untrusted project file gets (policy/project.ts refuseWideningKeys,
 * platform/linux/narrowing.ts refuseRuleWidening), judged against the
 * handle's sources for the command's working directory. `widen: true` is
 * the caller's explicit word that the overlay may also widen. Proved by
 * test/unit/policy/overlay.test.ts and, with real commands,
 * test/integration/library/overlay.test.ts.
 */
import { CordonError } from '../errors.js';
import { at, isPlainObject } from './schema.js';
import { parseSettings, settingsJson, type Settings } from './settings.js';
import { allowCovers, PROJECT_KEYS, refuseWideningKeys, type ParsedProject, type WideningHints } from './project.js';
import { networkSpec, type CliRules, type NetworkPolicySpec } from './policy.js';

/** Where an overlay's rules say they come from (rule sources, events, errors). */
export const OVERLAY_FILE = 'options.policy';

/** The keys an overlay replaces rather than adds to. */
export const REPLACED_KEYS = [
  'filesystem.allowWrite',
  'filesystem.allowWriteNoDelete',
  'filesystem.allowRead',
  'filesystem.allowGitConfig',
  'filesystem.packageCache',
  'network.mode',
  'network.allowedDomains',
  'network.denyPrivateAddresses',
  'network.allowUnixSockets',
  'environment.pass',
] as const;
export type ReplacedKey = (typeof REPLACED_KEYS)[number];

/** Keys whose rules are paths: only an overlay that sets one needs the path check (a second policy build). */
const PATH_KEYS = ['filesystem.allowRead', 'filesystem.allowWrite', 'filesystem.allowWriteNoDelete', 'filesystem.denyWrite', 'network.allowUnixSockets'];

export interface Overlay {
  readonly settings: Settings;
  readonly json: Record<string, unknown>;
  /** The caller said the overlay may widen the handle's policy. */
  readonly widen: boolean;
  readonly replaces: ReadonlySet<ReplacedKey>;
}

/** Validates `options.policy` (and `options.widen`) like a settings file. */
export function parseOverlay(policy: unknown, widen: unknown): Overlay {
  if (!isPlainObject(policy)) {
    throw new CordonError('CORDON_ERR_USAGE', `options.policy must be an object with a settings file's keys (say { filesystem: { allowWrite: ['./out'] } }), not ${policy === null ? 'null' : Array.isArray(policy) ? 'an array' : typeof policy}`);
  }
  if (widen !== undefined && typeof widen !== 'boolean') {
    throw new CordonError('CORDON_ERR_USAGE', `options.widen must be true or false (true lets options.policy widen the handle's policy for this command), not ${typeof widen}`);
  }
  const text = settingsJson(policy, OVERLAY_FILE);
  const settings = parseSettings(text, OVERLAY_FILE);
  const json = JSON.parse(text) as Record<string, unknown>;
  return { settings, json, widen: widen === true, replaces: new Set(REPLACED_KEYS.filter((k) => at(json, k).found)) };
}

/** The command's sources: the handle's, without what the overlay replaces, then the overlay. */
export function overlaySources(handle: readonly Settings[], o: Overlay): Settings[] {
  if (o.replaces.size === 0) return [...handle, o.settings];
  const r = o.replaces;
  // Either writable list names all that is writable (as in a settings file): the handle's no-delete grants go too.
  const writable = r.has('filesystem.allowWrite') || r.has('filesystem.allowWriteNoDelete');
  const strip = (s: Settings): Settings => {
    const { packageCache: _cache, ...fs } = s.filesystem;
    const { mode: _mode, ...net } = s.network;
    return {
      ...s,
      filesystem: {
        ...(r.has('filesystem.packageCache') ? fs : s.filesystem),
        ...(writable ? { allowWrite: [], allowWriteNoDelete: [] } : {}),
        ...(r.has('filesystem.allowRead') ? { allowRead: [] } : {}),
        ...(r.has('filesystem.allowGitConfig') ? { allowGitConfig: false } : {}),
      },
      network: {
        ...(r.has('network.mode') ? net : s.network),
        ...(r.has('network.allowedDomains') ? { allow: [] } : {}),
        ...(r.has('network.denyPrivateAddresses') ? { denyPrivateAddresses: false } : {}),
        ...(r.has('network.allowUnixSockets') ? { allowUnixSockets: [] } : {}),
      },
      ...(r.has('environment.pass') && s.environment ? { environment: { ...s.environment, pass: [] } } : {}),
    };
  };
  return [...handle.map(strip), o.settings];
}

/** Whether the path check (a policy built from the handle's sources and the overlay together) is needed. */
export function overlayHasPaths(o: Overlay): boolean {
  return PATH_KEYS.some((k) => Array.isArray(at(o.json, k).value) && (at(o.json, k).value as unknown[]).length > 0);
}

/** The refusal of a widening overlay: which key, why, and the two ways on. */
export function overlayWideningError(keyPath: string, value: unknown, why: string): CordonError {
  const s = JSON.stringify(value) ?? String(value);
  const shown = s.length > 80 ? `${s.slice(0, 77)}...` : s;
  return new CordonError('CORDON_ERR_OVERLAY_WIDENS', `${OVERLAY_FILE}: ${keyPath} = ${shown} would widen the sandbox's policy for this command (${why}); an overlay may only narrow it, and nothing was run. Pass { widen: true } with the overlay if this command is meant to get more, or put the key in createSandbox's settings`);
}

/** What wideningError (project.ts) says for an overlay. */
export const OVERLAY_HINTS: WideningHints = { userSettings: '', refusal: (_file, keyPath, value, why) => overlayWideningError(keyPath, value, why) };

/**
 * The checks that need only the settings (no paths): every key an untrusted
 * project file may not set, or set only to one value, and the value keys
 * judged against the handle's sources. Throws CORDON_ERR_OVERLAY_WIDENS.
 */
/**
 * What the handle's proxies do for every command alike (its network session
 * starts with the first command that needs it): an overlay cannot change it,
 * widening or not, and is refused rather than ignored.
 */
export const SESSION_KEYS = ['network.tlsTerminate', 'network.refuseOpaqueTunnels', 'network.requestRules', 'network.parentProxy', 'network.mitmProxy', 'credentials.broker', 'credentials.aws'] as const;

export function refuseOverlayKeys(o: Overlay, handle: readonly Settings[]): void {
  for (const key of SESSION_KEYS) {
    const v = at(o.json, key);
    if (v.found) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${OVERLAY_FILE}: ${key} cannot be set for one command: the handle's proxies apply it to every command alike; nothing was run. Put it in createSandbox's settings`);
  }
  if (o.widen) return;
  for (const [key, rule] of Object.entries(PROJECT_KEYS)) {
    const v = at(o.json, key);
    if (!v.found) continue;
    if (rule.kind === 'never') throw overlayWideningError(key, v.value, `${rule.why}; an overlay does not choose what runs`);
    if (rule.kind === 'only' && !rule.ok(v.value)) throw overlayWideningError(key, v.value, `${rule.why}; an overlay may set it only to ${rule.shown}`);
  }
  if (o.settings.filesystem.packageCache === true && handle.some((s) => s.filesystem.packageCache === false)) {
    throw overlayWideningError('filesystem.packageCache', true, 'the handle keeps package caches per run; a shared cache is a place one run leaves code for the next');
  }
  const p: ParsedProject = { file: { path: OVERLAY_FILE, bytes: Buffer.alloc(0), sha256: '' }, settings: o.settings, json: o.json };
  refuseWideningKeys(p, handle, EMPTY_RULES, OVERLAY_HINTS);
}

const EMPTY_RULES = { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] };

/**
 * The network rules a command runs under, from the handle's sources as they
 * are now (setNetwork changes them) and its overlay. A narrowing overlay's
 * allowedDomains keep only the entries some handle entry still covers whole,
 * so a domain the handle no longer allows is no command's (fail closed: an
 * entry covered only in part is dropped). `cli`: the CLI's rule flags
 * (--allow-domain, --deny-domain), strongest. `untrusted`: those of
 * `handle` that are untrusted project files: their allowedDomains count
 * only where the other sources, as they are now, cover them (a setNetwork
 * that takes a domain away takes it from them too).
 */
export function commandNetwork(handle: readonly Settings[], o: Overlay | undefined, cli: CliRules = EMPTY_RULES, untrusted: readonly Settings[] = []): Omit<NetworkPolicySpec, 'unixSockets'> {
  const trusted = untrusted.length === 0 ? handle : handle.filter((s) => !untrusted.includes(s));
  const covered = (spec: Omit<NetworkPolicySpec, 'unixSockets'>, base: Omit<NetworkPolicySpec, 'unixSockets'>) => ({ ...spec, allow: spec.allow.filter((r) => base.allow.some((b) => allowCovers(b, r))) });
  const base = networkSpec(trusted, cli);
  if (!o) return untrusted.length === 0 ? base : covered(networkSpec(handle, cli), base);
  const spec = networkSpec(overlaySources(handle, o), cli);
  if (o.widen) return untrusted.length === 0 ? spec : covered(spec, networkSpec(overlaySources(trusted, o), cli));
  if (!o.replaces.has('network.allowedDomains') && untrusted.length === 0) return spec;
  return covered(spec, base);
}
