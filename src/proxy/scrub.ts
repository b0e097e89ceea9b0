/**
 * Replaces byte strings in a stream (a response body from a host a
 * credential is bound to: the real value becomes the session token again,
 * network/broker.ts). Occurrences split across chunks are found: a chunk's
 * end that could begin one (a proper prefix of a needle, at most the longest
 * needle - 1 bytes) is held back until the next chunk or the end; any other
 * end goes on at once (a stream's last event is not kept waiting). Linear in
 * the bytes, per needle; holds at most one chunk and that tail.
 *
 * scrubFrames does the same for the server's side of a WebSocket
 * connection, message by message (see there).
 */
import { Transform } from 'node:stream';

export interface Replacement { readonly from: Buffer; readonly to: Buffer }

export function scrubStream(pairs: readonly Replacement[]): Transform {
  const live = pairs.filter((p) => p.from.length > 0);
  const keep = Math.max(0, ...live.map((p) => p.from.length - 1));
  let carry: Buffer = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const { out, rest } = replaceIn(buf, live, keep);
      carry = rest;
      cb(null, out.length > 0 ? out : undefined);
    },
    flush(cb) {
      const { out } = replaceIn(carry, live, 0);
      cb(null, out.length > 0 ? out : undefined);
    },
  });
}

/** Every occurrence replaced, leftmost first; an end (at most `keep` bytes) that may start an occurrence held back. */
export function replaceIn(buf: Buffer, pairs: readonly Replacement[], keep: number): { out: Buffer; rest: Buffer } {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    let at = -1;
    let which: Replacement | undefined;
    for (const p of pairs) {
      const i = buf.indexOf(p.from, pos);
      if (i >= 0 && (at < 0 || i < at)) { at = i; which = p; }
    }
    if (!which) break;
    parts.push(buf.subarray(pos, at), which.to);
    pos = at + which.from.length;
  }
  const safe = buf.length - pendingTail(buf, pos, pairs, keep);
  parts.push(buf.subarray(pos, safe));
  return { out: parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts), rest: Buffer.from(buf.subarray(safe)) };
}

/** How many of the last bytes of buf (from `from` on, at most `keep`) are a proper prefix of a needle: they may begin an occurrence. */
function pendingTail(buf: Buffer, from: number, pairs: readonly Replacement[], keep: number): number {
  let best = 0;
  for (const p of pairs) {
    for (let k = Math.min(keep, p.from.length - 1, buf.length - from); k > best; k--) {
      if (buf.compare(p.from, 0, k, buf.length - k, buf.length) === 0) {
        best = k;
        break;
      }
    }
  }
  return best;
}

/** The largest frame (its payload) read whole from a WebSocket server of a bound host. */
export const MAX_FRAME = 16 * 1024 * 1024;

type Frame = { readonly fin: boolean; readonly opcode: number; readonly payload: Buffer; readonly size: number };

/**
 * The server's side of a WebSocket connection to a host a credential is
 * bound to (no extension: http-proxy.ts refuses one). Each message's payload
 * is scrubbed across its fragments, so a value the server splits over frames
 * is found; a held tail moves into the next fragment, which re-cuts the
 * frames (RFC 6455 5.4 lets an intermediary do so for a message with no
 * extension), and nothing is held past a message's last frame (an answer is
 * never kept waiting for the next message). Control frames are scrubbed
 * alone. A masked frame, reserved bits, an unknown opcode, a malformed
 * control frame or a payload over MAX_FRAME is an error: the connection
 * ends. A value split across two messages is not found.
 */
export function scrubFrames(pairs: readonly Replacement[], maxFrame = MAX_FRAME): Transform {
  const live = pairs.filter((p) => p.from.length > 0);
  const keep = Math.max(0, ...live.map((p) => p.from.length - 1));
  let pending: Buffer[] = [];
  let have = 0;
  let need = 2;
  let held: Buffer = Buffer.alloc(0);
  // The data message under way: its opcode until its first frame is sent, then 0 (continuation); -1 between messages.
  let opcode = -1;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      pending.push(chunk);
      have += chunk.length;
      const out: Buffer[] = [];
      while (have >= need) {
        const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
        pending = [buf];
        const f = parseFrame(buf, maxFrame);
        if (f instanceof Error) return cb(f);
        if (typeof f === 'number') {
          need = f;
          continue;
        }
        const rest = buf.subarray(f.size);
        pending = rest.length > 0 ? [rest] : [];
        have = rest.length;
        need = 2;
        if (f.opcode >= 8) {
          out.push(frameOf(true, f.opcode, replaceIn(f.payload, live, 0).out));
          continue;
        }
        if (f.opcode !== 0 && opcode !== -1) return cb(new Error('the server began a message before its last one ended'));
        if (f.opcode === 0 && opcode === -1) return cb(new Error('the server sent a continuation frame outside a message'));
        if (f.opcode !== 0) opcode = f.opcode;
        const { out: ready, rest: tail } = replaceIn(held.length > 0 ? Buffer.concat([held, f.payload]) : f.payload, live, f.fin ? 0 : keep);
        held = tail;
        if (f.fin || ready.length > 0) {
          out.push(frameOf(f.fin, opcode, ready));
          opcode = f.fin ? -1 : 0;
        }
      }
      cb(null, out.length > 0 ? Buffer.concat(out) : undefined);
    },
  });
}

/** One frame at the start of buf; the bytes it needs when they are not all there; an Error when it is not one cordon passes on. */
function parseFrame(buf: Buffer, maxFrame: number): Frame | number | Error {
  if (buf.length < 2) return 2;
  const fin = (buf[0]! & 0x80) !== 0;
  const opcode = buf[0]! & 0x0f;
  if ((buf[0]! & 0x70) !== 0) return new Error('the server sent a frame of an extension');
  if ((buf[1]! & 0x80) !== 0) return new Error('the server sent a masked frame');
  if ((opcode > 2 && opcode < 8) || opcode > 10) return new Error(`the server sent a frame of unknown opcode ${opcode}`);
  const short = buf[1]! & 0x7f;
  const head = short === 126 ? 4 : short === 127 ? 10 : 2;
  if (buf.length < head) return head;
  const length = short === 126 ? buf.readUInt16BE(2) : short === 127 ? buf.readBigUInt64BE(2) : short;
  if (opcode >= 8 && (!fin || short > 125)) return new Error('the server sent a fragmented or long control frame');
  if (length > maxFrame) return new Error(`the server sent a frame over ${maxFrame} bytes, more than cordon reads whole to scrub`);
  const size = head + Number(length);
  if (buf.length < size) return size;
  return { fin, opcode, payload: buf.subarray(head, size), size };
}

/** A server's frame (unmasked) with this payload. */
function frameOf(fin: boolean, opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = Buffer.alloc(n < 126 ? 2 : n <= 0xffff ? 4 : 10);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (n < 126) head[1] = n;
  else if (n <= 0xffff) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/** A header value with every occurrence replaced. */
export function scrubText(s: string, pairs: readonly { readonly from: string; readonly to: string }[]): string {
  let out = s;
  for (const p of pairs) if (p.from) out = out.split(p.from).join(p.to);
  return out;
}
