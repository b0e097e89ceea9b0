/**
 * Starts cordon's proxies on Unix sockets in a private (0700) directory: the
 * HTTP proxy and the SOCKS5 proxy, one decision function behind both. Only
 * the same uid can reach the directory, and every request must also carry
 * the per-session secret.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { createHttpProxy, type ProxyOptions } from './http-proxy.js';
import { createSocksProxy } from './socks5-server.js';

export interface RunningProxies {
  readonly httpSocket: string;
  readonly socksSocket: string;
  close(): Promise<void>;
}

export async function startProxies(dir: string, o: ProxyOptions): Promise<RunningProxies> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const httpSocket = join(dir, 'http.sock');
  const socksSocket = join(dir, 'socks.sock');
  const http = createHttpProxy(o);
  const socks = createSocksProxy(o);
  await Promise.all([listen(http, httpSocket), listen(socks, socksSocket)]);
  return {
    httpSocket,
    socksSocket,
    close: async () => {
      await Promise.all([closeServer(http), closeServer(socks)]);
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
    s.close(() => resolve());
  });
}
