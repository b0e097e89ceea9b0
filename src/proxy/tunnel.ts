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
import { Duplex } from 'node:stream';
import { PEEK_MAX, judgeTunnel, readFirstBytes, type FirstBytes, type TunnelVerdict } from './first-bytes.js';

export function tunnel(a: Socket, b: Socket, idleMs: number, onDone?: Counted): void {
  let done = false;
  const n = count(a, b, onDone);
  const teardown = () => {
    if (done) return;
    done = true;
    a.destroy();
    b.destroy();
    n.report();
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

/** What a tunnel carried: bytes from the client to the server, and back. */
export type Counted = (bytesUp: number, bytesDown: number) => void;

/**
 * Counts what passes from `client` (up) and from `server` (down), and gives
 * the totals to `onDone` once, at report(); `up`: bytes already sent on.
 */
export function count(client: Socket, server: Socket, onDone?: Counted, up = 0): { report(): void } {
  if (!onDone) return { report: () => {} };
  const n = { up, down: 0 };
  client.on('data', (c: Buffer) => { n.up += c.length; });
  server.on('data', (c: Buffer) => { n.down += c.length; });
  let reported = false;
  return { report: () => { if (!reported) { reported = true; onDone(n.up, n.down); } } };
}

/** First bytes read to the end: neither 'more' nor a preamble. */
export type JudgedStart = Exclude<FirstBytes, { kind: 'more' | 'preamble' }>;

/** At most this many cleartext preambles (first-bytes.ts) pass before a ClientHello: GSS encryption asked, then TLS. */
const MAX_PREAMBLES = 2;

/**
 * Reads the client's first bytes (`already`: those read with the request)
 * until they say what they are, for at most `ms`. A preamble (a cleartext
 * request for TLS) goes to `onPreamble`, to be passed to the server, and the
 * bytes after it are read again. Leaves the client paused, its listeners as
 * they were. `bytes`: what was read after the last preamble.
 */
export function readTunnelStart(client: Socket, already: Buffer, ms: number, onPreamble: (bytes: Buffer) => void): Promise<{ bytes: Buffer; first: JudgedStart }> {
  return new Promise((resolve) => {
    // Copied into one buffer as they come, doubled as needed (linear, however
    // small the pieces, and small for the usual few hundred bytes); at most
    // PEEK_MAX are judged, and a read of Node's (64 KiB) may come past that.
    const cap = PEEK_MAX + 64 * 1024;
    let room = Buffer.allocUnsafe(Math.min(cap, Math.max(4096, already.length)));
    let start = 0;
    let have = 0;
    let preambles = 0;
    let done = false;
    const finish = (first: JudgedStart) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onEnd);
      client.off('close', onEnd);
      client.pause();
      resolve({ bytes: Buffer.from(room.subarray(start, have)), first });
    };
    /** Judges what is in; true once finished. */
    const judge = (ended: boolean): boolean => {
      for (;;) {
        const f = readFirstBytes(room.subarray(start, have), ended);
        if (f.kind === 'preamble') {
          if (++preambles > MAX_PREAMBLES) return finish({ kind: 'bad', why: 'more cleartext requests for TLS than a client makes' }), true;
          onPreamble(Buffer.from(room.subarray(start, start + f.length)));
          start += f.length;
          continue;
        }
        if (f.kind !== 'more') return finish(f), true;
        if (have - start >= PEEK_MAX) return finish({ kind: 'bad', why: 'its first bytes were too long to read' }), true;
        return false;
      }
    };
    const add = (d: Buffer): boolean => {
      if (d.length > cap - have) return finish({ kind: 'bad', why: 'its first bytes were too long to read' }), false;
      if (d.length > room.length - have) {
        const bigger = Buffer.allocUnsafe(Math.min(cap, Math.max(room.length * 2, have + d.length)));
        room.copy(bigger, 0, 0, have);
        room = bigger;
      }
      d.copy(room, have);
      have += d.length;
      return true;
    };
    const onData = (d: Buffer) => { if (add(d)) judge(false); };
    const onEnd = () => { if (!judge(true)) finish({ kind: 'empty' }); };
    const timer = setTimeout(() => finish({ kind: 'bad', why: `the client said nothing readable within ${ms} ms` }), ms);
    // A client that sent its bytes and half-closed with the request has ended already.
    const ended = client.readableEnded || client.destroyed;
    if (!add(already) || judge(ended)) return;
    if (ended) return finish({ kind: 'empty' });
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
  /** The tunnel (not one served as plain HTTP) ended: what it carried each way. */
  readonly onDone?: Counted;
}

/** tunnel(client, up), once the client's first bytes agree with the target (see above). */
export function guardedTunnel(client: Socket, up: Socket, already: Buffer, g: TunnelGuard): void {
  // The server's bytes, while the client's are read: held back while the client does not read them.
  let early = 0;
  const toClient = (d: Buffer) => { early += d.length; if (!client.write(d)) up.pause(); };
  const drained = () => up.resume();
  client.on('drain', drained);
  const upEnded = () => { client.end(); };
  const failed = () => { client.destroy(); up.destroy(); };
  up.on('data', toClient);
  up.once('end', upEnded);
  up.on('error', failed);
  client.on('error', failed);
  // A socket handed over paused (a tunnel through an upstream proxy, its answer read: parent.ts) flows from here:
  // a server that speaks first (SMTP, FTP) is heard before the client says anything.
  up.resume();
  void readTunnelStart(client, already, g.handshakeMs, (preamble) => up.write(preamble)).then(({ bytes, first }) => {
    up.off('data', toClient);
    client.off('drain', drained);
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
    tunnel(client, up, g.idleMs, g.onDone && ((u, d) => g.onDone!(u + bytes.length, d + early)));
  });
}

/**
 * The client's first chunk of bytes, read within `ms` (undefined if none
 * came: closed, ended or timed out). The client is left paused.
 */
export function firstChunk(client: Socket, ms: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const done = (b: Buffer | undefined) => {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onEnd);
      client.off('close', onEnd);
      client.pause();
      resolve(b);
    };
    const onData = (b: Buffer) => done(b);
    const onEnd = () => done(undefined);
    const timer = setTimeout(onEnd, ms);
    client.on('data', onData);
    client.once('end', onEnd);
    client.once('close', onEnd);
    client.resume();
  });
}

/** A tunnel's client as a stream that first gives `bytes` (read already) and then the rest, for the HTTP server that serves plain HTTP in a tunnel. */
export type ReplayedSocket = Duplex & { setTimeout(ms: number): void };

/**
 * The client socket, with the bytes already read from it given again first.
 * (unshift() cannot do it once the client has half-closed: its stream has
 * ended, and the request it sent before would be lost.) Writes and ends go to
 * the socket; the socket's close destroys the stream.
 */
export function replayed(socket: Socket, bytes: Buffer): ReplayedSocket {
  let timer: NodeJS.Timeout | undefined;
  const d = new Duplex({
    allowHalfOpen: true,
    read() { socket.resume(); },
    write(chunk: Buffer, _enc, cb) { touch(); socket.write(chunk, cb); },
    final(cb) { socket.end(); cb(); },
    destroy(err, cb) { clearTimeout(timer); socket.destroy(); cb(err); },
  }) as ReplayedSocket;
  // Idle for `ms` in both directions: destroyed (what net.Socket's timeout leads to in the proxy).
  let idleMs = 0;
  const touch = () => {
    clearTimeout(timer);
    if (idleMs > 0) timer = setTimeout(() => d.destroy(), idleMs);
  };
  d.setTimeout = (ms: number) => { idleMs = ms; touch(); };
  // What Node's HTTP server calls after a response with Connection: close: the socket ends, then goes.
  (d as ReplayedSocket & { destroySoon(): void }).destroySoon = () => { d.end(); socket.destroySoon(); };
  if (bytes.length > 0) d.push(bytes);
  socket.on('data', (c: Buffer) => { touch(); if (!d.push(c)) socket.pause(); });
  socket.on('drain', touch);
  if (socket.readableEnded) d.push(null);
  else socket.once('end', () => d.push(null));
  socket.once('close', () => d.destroy());
  socket.on('error', () => d.destroy());
  if (socket.destroyed) d.destroy();
  else socket.resume();
  return d;
}

