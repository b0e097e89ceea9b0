/**
 * Joins two sockets: bytes stream both ways with back-pressure (pipe), a FIN
 * from one side is passed on while the other direction keeps flowing
 * (half-close), an idle connection is cut, and when either side fails both
 * are torn down so no half-dead socket keeps memory or a file descriptor.
 */
import type { Socket } from 'node:net';

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
