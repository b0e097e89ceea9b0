/**
 * Joins two sockets: bytes stream both ways with back-pressure (pipe), a FIN
 * from one side is passed on while the other direction keeps flowing
 * (half-close), an idle connection is cut, and when either side fails both
 * are torn down so no half-dead socket keeps memory or a file descriptor.
 *
 * guardedTunnel does the same once the client's first bytes agree with the
 * tunnel's target (first-bytes.ts); the server's bytes flow from the start,
 * so a protocol where the server speaks first works.
 */
import type { Socket } from 'node:net';
import { PEEK_MAX, judgeTunnel, readFirstBytes, type FirstBytes, type TunnelVerdict } from './first-bytes.js';

export function tunnel(a: Socket, b: Socket, idleMs: number): void {
  let done = false;
  const teardown = () => {
    if (done) return;
    done = true;
    a.destroy();
    b.destroy();
  };
  a.on('error', teardown);
  b.on('error', teardown);
  a.on('timeout', teardown);
  b.on('timeout', teardown);
  a.setTimeout(idleMs);
  b.setTimeout(idleMs);
  // Both directions finished (FIN each way, or closed): release everything.
  let closed = 0;
  const onClose = () => { if (++closed === 2) teardown(); else if (a.destroyed || b.destroyed) teardown(); };
  a.on('close', onClose);
  b.on('close', onClose);
  a.pipe(b);
  b.pipe(a);
}

/**
 * Reads the client's first bytes (`already`: those read with the request)
 * until they say what they are, for at most `ms`. Leaves the client paused,
 * its listeners as they were.
 */
export function readTunnelStart(client: Socket, already: Buffer, ms: number): Promise<{ bytes: Buffer; first: Exclude<FirstBytes, { kind: 'more' }> }> {
  return new Promise((resolve) => {
    let bytes = already;
    // A client that sent its bytes and half-closed with the request has ended already.
    const ended = client.readableEnded || client.destroyed;
    const now = readFirstBytes(bytes, ended);
    if (now.kind !== 'more') return resolve({ bytes, first: now });
    const finish = (first: Exclude<FirstBytes, { kind: 'more' }>) => {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onEnd);
      client.off('close', onEnd);
      client.pause();
      resolve({ bytes, first });
    };
    const onData = (d: Buffer) => {
      bytes = bytes.length ? Buffer.concat([bytes, d]) : d;
      const f = readFirstBytes(bytes);
      if (f.kind !== 'more') finish(f);
      else if (bytes.length >= PEEK_MAX) finish({ kind: 'bad', why: 'its first bytes were too long to read' });
    };
    const onEnd = () => {
      const f = readFirstBytes(bytes, true);
      finish(f.kind === 'more' ? { kind: 'empty' } : f);
    };
    const timer = setTimeout(() => finish({ kind: 'bad', why: `the client said nothing readable within ${ms} ms` }), ms);
    client.on('data', onData);
    client.on('end', onEnd);
    client.on('close', onEnd);
    client.resume();
  });
}

export interface TunnelGuard {
  readonly host: string;
  readonly port: number;
  readonly handshakeMs: number;
  readonly idleMs: number;
  /** The tunnel was closed: its first bytes named another host, or could not be read. */
  readonly onRefused: (v: Extract<TunnelVerdict, { action: 'refuse' }>) => void;
  /** Plain HTTP: the proxy serves the client's requests itself (`bytes` first), each judged; the upstream is closed. */
  readonly onHttp: (bytes: Buffer) => void;
}

/** tunnel(client, up), once the client's first bytes agree with the target (see above). */
export function guardedTunnel(client: Socket, up: Socket, already: Buffer, g: TunnelGuard): void {
  const toClient = (d: Buffer) => { client.write(d); };
  const upEnded = () => { client.end(); };
  const failed = () => { client.destroy(); up.destroy(); };
  up.on('data', toClient);
  up.once('end', upEnded);
  up.on('error', failed);
  client.on('error', failed);
  void readTunnelStart(client, already, g.handshakeMs).then(({ bytes, first }) => {
    up.off('data', toClient);
    up.off('end', upEnded);
    up.off('error', failed);
    client.off('error', failed);
    if (client.destroyed || up.destroyed) return failed();
    const v = judgeTunnel(g.host, g.port, first);
    if (v.action === 'refuse') {
      g.onRefused(v);
      return failed();
    }
    if (v.action === 'close') return failed();
    if (v.action === 'http') {
      up.destroy();
      return g.onHttp(bytes);
    }
    if (bytes.length > 0) up.write(bytes);
    client.resume();
    tunnel(client, up, g.idleMs);
  });
}
