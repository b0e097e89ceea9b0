/**
 * The SOCKS5 proxy: drives the sans-IO protocol in socks5-protocol.ts over a
 * socket (already authenticated by the relay's preamble, see auth.ts), asks
 * the one decision function, dials exactly the decided address, then tunnels.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { AUTH_USERPASS, authReply, parseAuth, parseGreeting, parseRequest, REP, reply } from './socks5-protocol.js';
import { guardedTunnel } from './tunnel.js';
import { openThrough } from './parent.js';
import { proxyEvent, tunnelRefused, type HttpProxy, type ProxyOptions } from './http-proxy.js';

export function createSocksProxy(o: ProxyOptions, owners: WeakMap<Socket, string> = new WeakMap(), http?: Pick<HttpProxy, 'serveTunnelHttp'>): Server {
  const idleMs = o.idleMs ?? 300_000;
  return createServer({ allowHalfOpen: true }, (client: Socket) => {
    let buf: Buffer = Buffer.alloc(0);
    let state: 'greeting' | 'auth' | 'request' | 'busy' = 'greeting';
    client.setTimeout(o.handshakeMs ?? 10_000, () => client.destroy());
    client.on('error', () => client.destroy());
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (buf.length > 1024) return client.destroy(); // no valid handshake message is this long
      step();
    };
    const step = () => {
      if (state === 'greeting') {
        const r = parseGreeting(buf);
        if (r.kind === 'need-more') return;
        if (r.kind === 'error') return void endWith(client, r.reply);
        if (r.kind !== 'greeting') return void client.destroy();
        client.write(r.reply);
        buf = buf.subarray(r.consumed);
        state = r.method === AUTH_USERPASS ? 'auth' : 'request';
      }
      if (state === 'auth') {
        const r = parseAuth(buf);
        if (r.kind === 'need-more') return;
        if (r.kind !== 'auth') return void endWith(client, r.kind === 'error' ? r.reply : undefined);
        // Credentials carry no meaning here: the preamble already authenticated the connection.
        client.write(authReply(true));
        buf = buf.subarray(r.consumed);
        state = 'request';
      }
      if (state === 'request') {
        const r = parseRequest(buf);
        if (r.kind === 'need-more') return;
        if (r.kind !== 'request') return void endWith(client, r.kind === 'error' ? r.reply : undefined);
        state = 'busy';
        client.off('data', onData);
        client.pause();
        const rest = buf.subarray(r.consumed);
        void onRequest(client, r.host, r.port, rest).catch(() => client.destroy());
      }
    };
    client.on('data', onData);
  });

  async function onRequest(client: Socket, host: string, port: number, rest: Buffer): Promise<void> {
    const owner = owners.get(client);
    let d = await o.decide({ host, port, via: 'socks5', ...(owner !== undefined ? { owner } : {}) });
    // A host whose TLS cordon terminates is reached through the HTTP proxy only, where its requests are seen.
    const why = !d.allow ? undefined : o.terminate?.covers(host, port) ? 'network.tlsTerminate opens its TLS, which only the HTTP proxy does' : o.refuseOpaque ? 'network.refuseOpaqueTunnels refuses every tunnel cordon cannot see into' : o.requests?.mustSee(host, port, d.dial.address) !== undefined ? `${o.requests.mustSee(host, port, d.dial.address)!}, which a SOCKS5 tunnel hides` : undefined;
    if (d.allow && why) {
      d = { allow: false, reason: 'opaque-tunnel', message: `cordon: the SOCKS5 tunnel to ${host}:${port} was refused: ${why}; use the HTTP proxy (HTTPS_PROXY)`, rule: why.split(' ')[0]!, fix: null, address: d.dial.address };
    }
    o.onEvent?.(proxyEvent(owner, 'socks5', host, port, d));
    if (!d.allow) {
      client.end(reply(REP.notAllowed));
      return;
    }
    if (client.destroyed) return; // gone while the decision was pending: nothing is dialed for it
    const allowed = d;
    const joined = (up: Socket) => {
      client.setTimeout(0);
      client.write(reply(REP.succeeded));
      guardedTunnel(client, up, rest, {
        host, port, handshakeMs: o.handshakeMs ?? 10_000, idleMs,
        onRefused: (v) => o.onEvent?.(proxyEvent(owner, 'socks5', host, port, tunnelRefused(v, allowed.dial.address))),
        // Plain HTTP is the HTTP proxy's to serve, each request judged; without one, the tunnel closes.
        onHttp: (bytes) => (http ? http.serveTunnelHttp(client, { host, port }, bytes) : client.destroy()),
        onDone: (sent, got) => o.onEvent?.({ ...(owner !== undefined ? { owner } : {}), via: 'socks5', host, port, allowed: true, dialed: allowed.dial.address, done: { up: sent, down: got } }),
      });
    };
    if (d.through) {
      // Through the upstream proxy: a CONNECT there, then the same tunnel.
      return void openThrough(d.dial, d.through, o.dialMs ?? 10_000).then((up) => {
        if (client.destroyed) return void up.destroy();
        client.once('close', () => up.destroy());
        joined(up);
      }, () => { if (!client.destroyed) client.end(reply(REP.generalFailure)); });
    }
    const up = connect({ host: d.dial.address, port: d.dial.port, allowHalfOpen: true });
    client.once('close', () => up.destroy());
    const dialTimer = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), o.dialMs ?? 10_000);
    up.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(dialTimer);
      const code = e.code === 'ECONNREFUSED' ? REP.connectionRefused : e.code === 'ENETUNREACH' ? REP.networkUnreachable : e.code === 'ETIMEDOUT' ? REP.ttlExpired : REP.hostUnreachable;
      if (!client.destroyed) client.end(reply(code));
    });
    up.once('connect', () => {
      clearTimeout(dialTimer);
      up.removeAllListeners('error');
      joined(up);
    });
  }
}

function endWith(s: Socket, data: Buffer | undefined): void {
  if (data) s.end(data);
  else s.end();
}
