/**
 * Replaces byte strings in a stream (a response body from a host a
 * credential is bound to: the real value becomes the session token again,
 * network/broker.ts). Occurrences split across chunks are found: the last
 * (longest needle - 1) bytes are held back until the next chunk or the end.
 * Linear in the bytes, per needle; holds at most one chunk and that tail.
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

/** Every occurrence replaced, leftmost first; the last `keep` bytes (which may start an occurrence) held back unless matched. */
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
  const safe = Math.max(pos, buf.length - keep);
  parts.push(buf.subarray(pos, safe));
  return { out: parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts), rest: Buffer.from(buf.subarray(safe)) };
}

/** A header value with every occurrence replaced. */
export function scrubText(s: string, pairs: readonly { readonly from: string; readonly to: string }[]): string {
  let out = s;
  for (const p of pairs) if (p.from) out = out.split(p.from).join(p.to);
  return out;
}
