/**
 * A tunnel through the upstream proxy (network/parent-proxy.ts): a TCP
 * connection to it, a CONNECT for the target, its answer read. What the
 * upstream proxy answers is the user's own proxy's word, trusted as far as
 * its status: a 2xx opens the tunnel, anything else is a failure whose
 * status line (escaped, bounded) is reported. Bytes it sends after its head
 * belong to the tunnel and are kept.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Through } from './types.js';

/** The longest answer head read from the upstream proxy. */
const HEAD_MAX = 16 * 1024;

/** Opens `through.authority` through the proxy at `dial` (or on `through.socketPath`); rejects with the reason on failure or after `timeoutMs`. */
export function openThrough(dial: { readonly address: string; readonly port: number }, through: Through, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const up = through.socketPath ? connect({ path: through.socketPath, allowHalfOpen: true }) : connect({ host: dial.address, port: dial.port, allowHalfOpen: true });
    let head = Buffer.alloc(0);
    const fail = (why: string) => {
      clearTimeout(timer);
      up.destroy();
      reject(new Error(`the upstream proxy ${through.proxy} ${why}`));
    };
    const timer = setTimeout(() => fail(`did not open a tunnel within ${timeoutMs} ms`), timeoutMs);
    up.once('error', (e) => fail(`failed: ${e.message}`));
    up.once('end', () => fail('closed the connection before answering'));
    up.once('connect', () => {
      const auth = through.authorization ? `Proxy-Authorization: ${through.authorization}\r\n` : '';
      up.write(`CONNECT ${through.authority} HTTP/1.1\r\nHost: ${through.authority}\r\n${auth}\r\n`);
    });
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > HEAD_MAX) fail(`answered with a head over ${HEAD_MAX} bytes`);
        return;
      }
      up.off('data', onData);
      up.pause();
      const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(status);
      if (!m || m[1]![0] !== '2') return fail(`refused the tunnel: ${JSON.stringify(status.slice(0, 120))}`);
      clearTimeout(timer);
      up.removeAllListeners('error');
      up.removeAllListeners('end');
      const rest = head.subarray(end + 4);
      if (rest.length > 0) up.unshift(rest);
      resolve(up);
    };
    up.on('data', onData);
  });
}

/**
 * A `createConnection` for Node's http(s) clients: the tunnel above, then
 * TLS over it with `tls` (a request inside a terminated tunnel, sent on
 * through the upstream proxy), or the tunnel as it is.
 */
export function connectThrough(dial: { readonly address: string; readonly port: number }, through: Through, timeoutMs: number, tls?: ConnectionOptions) {
  return (_options: unknown, done: (err: Error | null, socket?: Socket | TLSSocket) => void): undefined => {
    openThrough(dial, through, timeoutMs).then(
      (socket) => done(null, tls ? tlsConnect({ ...tls, socket }) : socket),
      (e: Error) => done(e),
    );
    return undefined;
  };
}
