/**
 * Starts cordon's proxies on Unix sockets in a private (0700) directory: the
 * HTTP proxy and the SOCKS5 proxy, one decision function behind both. Only
 * the same uid can reach the directory, and every connection must also open
 * with a live command's preamble (auth.ts) or it is closed unanswered. The
 * command a connection belongs to (its secret's owner) goes with each of its
 * decisions. Another session's secret, an ended command's, none, and another
 * local user are tried by test/integration/network/listeners.test.ts.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { readPreamble } from './auth.js';
import { join } from 'node:path';
import { createHttpProxy, type ProxyOptions } from './http-proxy.js';
import { createSocksProxy } from './socks5-server.js';

export interface RunningProxies {
  readonly httpSocket: string;
  readonly socksSocket: string;
  /** Once the relay reported every plain-HTTP answer it passed on for `owner`, or after `ms` (http-proxy.ts settled). */
  settled(owner: string, ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startProxies(dir: string, o: ProxyOptions): Promise<RunningProxies> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const httpSocket = join(dir, 'http.sock');
  const socksSocket = join(dir, 'socks.sock');
  // Connections whose relay dials CONNECT tunnels itself (see auth.ts).
  const relayDials = new WeakSet<Socket>();
  const owners = new WeakMap<Socket, string>();
  const http = createHttpProxy(o, relayDials, owners);
  const socks = createSocksProxy(o, owners, http);
  const open = new Set<Socket>();
  const gate = (inner: Server) => createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
    open.add(s);
    s.once('close', () => open.delete(s));
    s.on('error', () => s.destroy());
    // Until a request head is parsed (then the proxies set the idle timeout),
    // a connection that says nothing is cut after the handshake timeout.
    s.setTimeout(o.handshakeMs ?? 10_000, () => s.destroy());
    s.resume();
    void readPreamble(s, o.secrets, o.handshakeMs ?? 10_000).then((ok) => {
      if (!ok) {
        o.onEvent?.({ via: inner === http ? 'http' : 'socks5', host: '', port: 0, allowed: false, reason: 'no-session-secret' });
        return void s.destroy();
      }
      // The relay's reports of what it passed on: read by the HTTP proxy that answered its requests.
      if (ok.kind === 'report') return void (inner === http ? http.readReports(s, ok.owner) : s.destroy());
      if (ok.kind === 'dial') relayDials.add(s);
      owners.set(s, ok.owner);
      inner.emit('connection', s);
      s.resume();
    });
  });
  const gates = [gate(http), gate(socks)];
  await Promise.all([listen(gates[0]!, httpSocket), listen(gates[1]!, socksSocket)]);
  return {
    httpSocket,
    socksSocket,
    settled: (owner, ms) => http.settled(owner, ms),
    close: async () => {
      for (const s of open) s.destroy();
      await Promise.all([...gates.map(closeServer), closeServer(http), closeServer(socks)]);
    },
  };
}

function listen(s: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(path, () => { s.off('error', reject); resolve(); });
  });
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    (s as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    if (!s.listening) return resolve();
    s.close(() => resolve());
  });
}
