/**
 * One run's filtered network: the proxies on private Unix sockets, the one
 * decision function over the run's rules, and what the launcher needs to
 * bridge them into the sandbox. Loaded only when the network is filtered.
 */
import { lookup } from 'node:dns/promises';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { NetworkPolicySpec } from '../policy/policy.js';
import type { Bridge } from '../platform/linux/launch.js';
import { newSecret } from '../proxy/auth.js';
import { startProxies } from '../proxy/proxies.js';
import type { Decider, ProxyEvent } from '../proxy/types.js';
import { decide } from './decide.js';
import { hostAddresses } from './host-addresses.js';
import { alive } from '../platform/linux/placeholders.js';

export interface NetworkSession {
  readonly bridge: Bridge;
  close(): Promise<void>;
}

export async function startNetworkSession(spec: NetworkPolicySpec, stateDir: string, relay: string, onEvent: (e: ProxyEvent) => void): Promise<NetworkSession> {
  sweepDeadSessions(stateDir);
  const dir = join(stateDir, `net-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  const secret = newSecret();
  warmResolver();
  // Interface addresses change (DHCP, VPN), so they are re-read, but at most
  // once a second: listing them costs ~140 µs, more than the decision itself.
  let addresses = hostAddresses();
  let addressesAt = Date.now();
  const decider: Decider = (req) => {
    if (Date.now() - addressesAt > 1000) {
      addresses = hostAddresses();
      addressesAt = Date.now();
    }
    return decide(req, { ...spec, hostAddresses: addresses }, { resolve: resolveAll });
  };
  try {
    const proxies = await startProxies(dir, { secret, decide: decider, onEvent });
    return {
      bridge: { relay, secret, httpSocket: proxies.httpSocket, socksSocket: proxies.socksSocket },
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

/**
 * The first getaddrinfo() of a process costs ~5 ms (glibc reads its NSS and
 * gai configuration and starts libuv's thread pool), which the sandbox's
 * first connection would otherwise wait for. One lookup of `localhost`
 * (answered from /etc/hosts, RFC 6761) runs now, on the thread pool, while
 * bubblewrap builds the sandbox. Its answer is not used for any decision.
 */
function warmResolver(): void {
  lookup('localhost', { all: true }).catch(() => { /* only a warm-up */ });
}

/** The system resolver (getaddrinfo: /etc/hosts, then DNS), both families, in its order. */
export async function resolveAll(name: string): Promise<string[]> {
  const answers = await lookup(name, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}
