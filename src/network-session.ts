/**
 * A filtered network: the proxies on private Unix sockets, the one decision
 * function over the rules, and, for each command that uses them, what the
 * launcher needs to bridge them into its sandbox. Loaded only when the
 * network is filtered.
 *
 * Attribution: one session serves every command of a library handle (one
 * for a CLI run). Each command is attached with its own secret (auth.ts),
 * which only its relay holds; the proxies know from a connection's preamble
 * which command opened it, and each decision becomes an event in that
 * command's stream (net.allowed / net.refused). A command's secret is
 * revoked when it ends. Proved by test/integration/library/events.test.ts
 * (two concurrent commands on one handle).
 *
 * Rules per command: each attached command is judged by its own rules (a
 * command's policy overlay may narrow or widen the handle's: sandbox.ts),
 * which setRules() replaces while it runs (the library's setNetwork): the
 * next connection, and the next request on a kept-alive one, is judged by
 * the new rules; connections already open stay open. Proved by
 * test/integration/library/overlay.test.ts and live-network.test.ts.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { homedir } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { NetworkPolicySpec } from './policy/policy.js';
import type { Bridge } from './platform/linux/launch.js';
import { SessionSecrets } from './proxy/auth.js';
import { startProxies } from './proxy/proxies.js';
import type { Decider, ProxyEvent } from './proxy/types.js';
import type { EmitEvent, EventPayload } from './events/types.js';
import { decide, decidingRule } from './network/decide.js';
import { hostAddresses, kernelLocal } from './network/host-addresses.js';
import { alive } from './platform/linux/placeholders.js';
import { sandboxedAreas } from './platform/linux/journal.js';
import { isWithin } from './policy/paths.js';
import { grantLeavesReadOnly, PROTECTED_IN_HOME } from './policy/protected.js';
import { requestPolicy } from './network/requests.js';
import { base64Windows } from './network/broker.js';
import { credentialSpellings } from './network/parent-proxy.js';
import { resolveAll, warmResolver } from './network/resolve.js';
import { formatIp, parseIp, unmapIPv4 } from './network/addresses.js';
import type { DomainRule } from './network/domain-rules.js';

/**
 * How long a command's end waits for its relay to report the plain-HTTP
 * answers it passed on (their net.done events), when one is still owed:
 * the relay writes each report just after the answer's last byte, which the
 * command may have read and exited on first.
 */
const RELAY_REPORT_GRACE_MS = 500;

/** The rules a decision reads (NetworkPolicySpec without what the proxies do not judge). */
export type NetworkRules = Pick<NetworkPolicySpec, 'allow' | 'deny' | 'deniedRanges' | 'denyPrivateAddresses'>;

export interface NetworkSession {
  /**
   * One command's way in: a bridge with its own secret, the command's
   * decisions reported to `emit`, judged by `rules` (default: the
   * session's). setRules() replaces them for its later connections;
   * release() when the command has ended.
   */
  attach(emit: EmitEvent, rules?: NetworkRules): { readonly bridge: Bridge; setRules(rules: NetworkRules): void; release(): void };
  close(): Promise<void>;
}

/**
 * `foreign`: a connection that carried no live command's secret (another
 * local process of this user), closed unanswered. `env`: cordon's own
 * environment (the roots TLS termination trusts: network/tls.ts).
 */
export async function startNetworkSession(spec: NetworkPolicySpec, stateDir: string, relay: string, foreign: (e: ProxyEvent) => void = () => {}, env: NodeJS.ProcessEnv = {}): Promise<NetworkSession> {
  sweepDeadSessions(stateDir);
  const dir = join(stateDir, `net-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  const secrets = new SessionSecrets();
  const commands = new Map<string, { readonly emit: EmitEvent; rules: NetworkRules }>();
  let next = 0;
  let rulesVersion = 0;
  warmResolver();
  // Interface addresses change (DHCP, VPN), so they are re-read, but at most
  // once a second: listing them costs ~140 µs, more than the decision itself
  // (and the kernel's answers for single addresses are kept as long).
  let addresses = hostAddresses();
  // The kernel's word on each address (kernelLocal: a socket bound and closed), kept as long as the list is.
  const local = new Map<string, Promise<boolean>>();
  const isLocal = (address: string): Promise<boolean> => {
    let known = local.get(address);
    if (!known) local.set(address, (known = kernelLocal(address)));
    return known;
  };
  /** Set once the request policy exists, when credentials are brokered: decisions report where bound hosts are dialed. */
  let noteDialed: ((host: string, address: string) => void) | undefined;
  let addressesAt = Date.now();
  const decider: Decider = async (req) => {
    if (Date.now() - addressesAt > 1000) {
      addresses = hostAddresses();
      local.clear();
      addressesAt = Date.now();
    }
    // The gate let only a live command's connection in; one whose command has ended since opens nothing.
    const rules = req.owner === undefined ? undefined : commands.get(req.owner)?.rules;
    if (!rules) return { allow: false, reason: 'command-ended', message: 'cordon: the command this connection belongs to has ended', rule: 'built-in: only a running command\'s connections are judged', fix: null };
    const { allow, deny, deniedRanges, denyPrivateAddresses } = rules;
    return decide(req, { allow, deny, deniedRanges, denyPrivateAddresses, hostAddresses: addresses, ...(spec.parent ? { parent: spec.parent } : {}), ...(spec.mitm ? { mitm: spec.mitm } : {}) }, { resolve: resolveAll, isLocal }).then((d) => {
      // Where a host a credential is bound to was dialed, and every other address its name gave (the other family's):
      // the same server under another name is scrubbed and seen too (requests.ts).
      if (d.allow && !d.through) for (const a of [d.dial.address, ...(d.answers ?? [])]) noteDialed?.(req.host, a);
      return d;
    }).then((d) => d.allow
      ? { allow: true as const, dial: d.dial, rule: decidingRule(d, req.port), ...(d.through ? { through: d.through } : {}) }
      : { allow: false as const, reason: d.reason, message: d.message, rule: decidingRule(d, req.port), fix: d.fix, ...(d.dropped?.[0] ? { address: d.dropped[0].address } : {}) });
  };
  const onEvent = (e: ProxyEvent) => {
    const emit = e.owner === undefined ? undefined : commands.get(e.owner)?.emit;
    if (emit) emit(netEvent(e));
    // What an ended command's connection carried, reported late: not a connection without a secret.
    else if (!e.done) foreign(e);
  };
  try {
    // TLS termination's CA and trust files, made before the first command can connect (network/tls.ts, loaded only for it).
    const tls = spec.tls ? (await import('./network/tls.js')).startTls(spec.tls, dir, env, stateDir) : undefined;
    // Brokered credentials: the real values read now, on the host; the command gets only their tokens.
    const credentials = spec.credentials?.length ? (await import('./network/credential-sources.js')).liveCredentials(spec.credentials, env, sandboxedBy(stateDir, env.HOME?.startsWith('/') ? env.HOME : homedir())) : [];
    const brokered = {
      env: Object.fromEntries(credentials.map((c) => [c.env, c.token])),
      // A source variable of another name would still carry the real value in.
      withhold: (spec.credentials ?? []).flatMap((c) => ('env' in c.from && c.from.env !== c.env ? [c.from.env] : [])),
    };
    const requests = requestPolicy(spec.requestRules ?? [], credentials);
    // What no variable of the command may carry: brokered credentials' real values (also base64-encoded, as in a
    // Basic pair or a Docker auth), the upstream proxy's password.
    const realValues = [...credentials.flatMap((c) => [c.real, ...base64Windows(Buffer.from(c.real), 8)]), ...credentialSpellings(spec.parent)];
    // The exact names credentials are bound to are resolved now as well, for a server reached under another name first.
    if (requests && credentials.length > 0) {
      noteDialed = (host, address) => requests.noteDialed(host, address);
      for (const name of boundNames(credentials)) void resolveAll(name).then((as) => { for (const a of as) requests.noteDialed(name, canonicalAddress(a)); }, () => {});
    }
    const proxies = await startProxies(dir, { secrets, decide: decider, onEvent, rulesVersion: () => rulesVersion, ...(tls ? { terminate: tls.termination } : {}), ...(spec.refuseOpaqueTunnels ? { refuseOpaque: true } : {}), ...(requests ? { requests } : {}) });
    return {
      attach(emit, rules = spec) {
        const owner = String(next++);
        const secret = secrets.issue(owner);
        const command = { emit, rules };
        commands.set(owner, command);
        return {
          bridge: {
            relay, secret, httpSocket: proxies.httpSocket, socksSocket: proxies.socksSocket, env: { ...tls?.env, ...brokered.env }, withhold: brokered.withhold,
            settled: () => proxies.settled(owner, RELAY_REPORT_GRACE_MS),
            // As written, and percent-decoded (a proxy URL in a variable may spell its password in any encoding).
            ...(realValues.length ? { carriesSecret: (v: string) => { const d = percentDecoded(v); return realValues.some((real) => v.includes(real) || d.includes(real)); } } : {}),
          },
          setRules: (r) => { command.rules = r; rulesVersion++; },
          release: () => { secrets.revoke(secret); commands.delete(owner); },
        };
      },
      close: async () => {
        await proxies.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** `v` with its %XX escapes decoded where they are valid (others left as they are). */
function percentDecoded(v: string): string {
  return v.includes('%') ? v.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => { try { return decodeURIComponent(run); } catch { return run; } }) : v;
}

/** A proxy's decision as an event of the command that made the connection. */
export function netEvent(e: ProxyEvent): EventPayload {
  const proxy = e.via === 'socks5' ? 'socks5' as const : 'http' as const;
  const address = e.dialed ?? e.address;
  const base = { host: e.host, port: e.port, proxy, via: e.via, ...(address !== undefined ? { address } : {}) };
  if (e.done) {
    const r = e.done.request;
    return { type: 'net.done', ...base, bytesUp: e.done.up, bytesDown: e.done.down, ...(r ? { method: r.method, url: r.target, ...(r.status !== undefined ? { status: r.status } : {}) } : {}) };
  }
  if (e.allowed) return { type: 'net.allowed', ...base, rule: e.rule ?? 'network.allowedDomains', ...(e.tls ? { tls: e.tls } : {}), ...(e.credentials?.length ? { credentials: e.credentials } : {}), ...(e.parentProxy ? { parentProxy: e.parentProxy } : {}) };
  if (e.request) {
    return {
      type: 'request.refused', host: e.host, port: e.port, proxy, method: e.request.method, url: e.request.target,
      reason: e.reason ?? 'refused', rule: e.rule ?? 'built-in', fix: e.fix ?? null,
      ...(e.message !== undefined ? { message: e.message.replace(/^cordon: /, '') } : {}),
    };
  }
  return {
    type: 'net.refused', ...base, reason: e.reason ?? 'refused', rule: e.rule ?? 'built-in', fix: e.fix ?? null,
    ...(e.message !== undefined ? { message: e.message.replace(/^cordon: /, '') } : {}),
  };
}

/**
 * A run killed with SIGKILL cannot remove its socket directory; the next
 * filtered run removes every one whose owner is gone.
 */
export function sweepDeadSessions(stateDir: string): void {
  let names: string[];
  try { names = readdirSync(stateDir); } catch { return; }
  for (const n of names) {
    const m = /^net-(\d+)-[0-9a-f]+$/.exec(n);
    if (m && !alive(Number(m[1]))) rmSync(join(stateDir, n), { recursive: true, force: true });
  }
}

/** The exact names (no wildcard, no address) credentials are bound to. */
function boundNames(credentials: readonly { readonly hosts: readonly DomainRule[] }[]): string[] {
  return [...new Set(credentials.flatMap((c) => c.hosts.flatMap((r) => (r.pattern.kind === 'name' ? [r.pattern.name] : []))))];
}

/** An address as a decision's dial spells it (IPv4-mapped IPv6 as IPv4). */
function canonicalAddress(a: string): string {
  const ip = parseIp(a);
  return ip ? formatIp(unmapIPv4(ip)) : a;
}

/**
 * The writable path of a run before this one, or of one still going, that
 * holds `path` where its command could write (credential-sources.ts
 * hostProgram): not under an entry of $HOME that such a run left read-only
 * (a program in ~/.local/bin after an `--allow-write ~` run).
 */
function sandboxedBy(stateDir: string, home: string): (path: string) => string | undefined {
  const areas = sandboxedAreas(stateDir);
  return (path) => areas.find((a) => isWithin(path, a) && !heldInHome(path, a, home));
}

/** Whether `path` lay read-only in a run that could write `area`: under an entry of PROTECTED_IN_HOME that such a grant leaves read-only (any grant; a `broad` one only from above it). */
export function heldInHome(path: string, area: string, home: string): boolean {
  return PROTECTED_IN_HOME.some((n) => {
    const entry = join(home, n.name);
    return isWithin(path, entry) && grantLeavesReadOnly(entry, n.broad, area);
  });
}
