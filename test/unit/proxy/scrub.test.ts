/** scrub.ts: every occurrence replaced, however the stream is cut, and nothing else changed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { replaceIn, scrubFrames, scrubStream, scrubText } from '../../../src/proxy/scrub.js';

const pairs = [{ from: Buffer.from('REALSECRET'), to: Buffer.from('tokentoken') }, { from: Buffer.from('other-real-value'), to: Buffer.from('T') }];
const expected = (s: Buffer) => s.toString('latin1').split('REALSECRET').join('tokentoken').split('other-real-value').join('T');

test('a stream cut at every place and at random places comes out with each occurrence replaced', async () => {
  const text = Buffer.from('xxREALSECRETyyREALSECRETREALSECRETother-real-valueREALSECRzz REALSECRET', 'latin1');
  for (let cut = 0; cut <= text.length; cut++) {
    const out = await buffer(Readable.from([text.subarray(0, cut), text.subarray(cut)]).pipe(scrubStream(pairs)));
    assert.equal(out.toString('latin1'), expected(text), `cut at ${cut}`);
  }
  for (let round = 0; round < 200; round++) {
    const parts: Buffer[] = [];
    for (let i = 0; i < 20; i++) parts.push(Math.random() < 0.3 ? Buffer.from('REALSECRET') : randomBytes(Math.floor(Math.random() * 12)));
    const whole = Buffer.concat(parts);
    const chunks: Buffer[] = [];
    for (let at = 0; at < whole.length;) { const n = 1 + Math.floor(Math.random() * 9); chunks.push(whole.subarray(at, at + n)); at += n; }
    const out = await buffer(Readable.from(chunks).pipe(scrubStream(pairs)));
    assert.equal(out.toString('latin1'), expected(whole));
  }
});

test('replaceIn holds back only what could begin an occurrence; scrubText replaces in header values', () => {
  assert.deepEqual(replaceIn(Buffer.from('abcREALSEC'), pairs, 15), { out: Buffer.from('abc'), rest: Buffer.from('REALSEC') });
  assert.deepEqual(replaceIn(Buffer.from('abc other-re'), pairs, 15), { out: Buffer.from('abc '), rest: Buffer.from('other-re') });
  // An end that begins no needle goes on at once: a stream's last event is not kept waiting for the next.
  assert.deepEqual(replaceIn(Buffer.from('data: {"done":true}\n\n'), pairs, 15), { out: Buffer.from('data: {"done":true}\n\n'), rest: Buffer.alloc(0) });
  assert.deepEqual(replaceIn(Buffer.from('abcREALSEC'), pairs, 3), { out: Buffer.from('abcREALSEC'), rest: Buffer.alloc(0) }, 'never more than keep');
  const r = replaceIn(Buffer.from('0123456789012345678901234REALSECRET!'), pairs, 15);
  assert.equal(r.out.toString() + r.rest.toString(), '0123456789012345678901234tokentoken!');
  assert.equal(scrubText('Bearer REALSECRET, REALSECRET', [{ from: 'REALSECRET', to: 'tok' }]), 'Bearer tok, tok');
});

/** A server's frame (unmasked). */
function frame(fin: boolean, opcode: number, payload: Buffer | string, mask = false): Buffer {
  const p = Buffer.from(payload);
  const n = p.length;
  const head = Buffer.alloc(n < 126 ? 2 : n <= 0xffff ? 4 : 10);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (n < 126) head[1] = n;
  else if (n <= 0xffff) { head[1] = 126; head.writeUInt16BE(n, 2); } else { head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2); }
  if (mask) head[1]! |= 0x80;
  return Buffer.concat([head, ...(mask ? [Buffer.alloc(4)] : []), p]);
}

/** Frames parsed back: [fin, opcode, payload] each; throws on a partial frame. */
function frames(b: Buffer): [boolean, number, string][] {
  const out: [boolean, number, string][] = [];
  for (let at = 0; at < b.length;) {
    const short = b[at + 1]! & 0x7f;
    const head = short === 126 ? 4 : short === 127 ? 10 : 2;
    const n = short === 126 ? b.readUInt16BE(at + 2) : short === 127 ? Number(b.readBigUInt64BE(at + 2)) : short;
    assert.equal(b[at + 1]! & 0x80, 0, 'never masked');
    assert.ok(at + head + n <= b.length, 'a whole frame');
    out.push([(b[at]! & 0x80) !== 0, b[at]! & 0x0f, b.subarray(at + head, at + head + n).toString('latin1')]);
    at += head + n;
  }
  return out;
}

/** Messages put back together from frames (control frames as they are). */
function messages(fs: [boolean, number, string][]): [number, string][] {
  const out: [number, string][] = [];
  let cur: [number, string] | undefined;
  for (const [fin, op, data] of fs) {
    if (op >= 8) { out.push([op, data]); continue; }
    if (op !== 0) cur = [op, ''];
    cur![1] += data;
    if (fin) { out.push(cur!); cur = undefined; }
  }
  return out;
}

async function through(chunks: Buffer[]): Promise<Buffer> {
  return buffer(Readable.from(chunks).pipe(scrubFrames(pairs)));
}

test('scrubFrames: a value the server splits over a message\'s frames is found; the frames stay well formed', async () => {
  const out = await through([frame(false, 1, 'a: REAL'), frame(false, 0, 'SEC'), frame(true, 0, 'RET!')]);
  assert.deepEqual(messages(frames(out)), [[1, 'a: tokentoken!']]);
  // Control frames between fragments are scrubbed alone and pass at once.
  const ping = await through([frame(false, 2, 'xREALSE'), frame(true, 9, 'REALSECRET'), frame(true, 0, 'CRETy')]);
  assert.deepEqual(messages(frames(ping)), [[9, 'tokentoken'], [2, 'xtokentokeny']]);
});

test('scrubFrames: nothing is held past a message\'s last frame, nor an end that begins no value', async () => {
  const s = scrubFrames(pairs);
  const got: Buffer[] = [];
  s.on('data', (b: Buffer) => got.push(b));
  const flushed = () => new Promise((r) => setImmediate(r));
  // A whole message that ends like the start of the value: sent whole at once (the server may wait for an answer).
  s.write(frame(true, 1, 'hello REAL'));
  await flushed();
  assert.deepEqual(messages(frames(Buffer.concat(got))), [[1, 'hello REAL']]);
  // A fragment whose end begins no value goes on at once, cut nowhere.
  got.length = 0;
  s.write(frame(false, 1, 'part one;'));
  await flushed();
  assert.deepEqual(frames(Buffer.concat(got)), [[false, 1, 'part one;']]);
  s.end(frame(true, 0, ' two'));
  await flushed();
});

test('scrubFrames: cut anywhere, fragmented anyhow, every message comes out scrubbed and whole', async () => {
  for (let round = 0; round < 150; round++) {
    const want: [number, string][] = [];
    const wire: Buffer[] = [];
    for (let m = 0; m < 4; m++) {
      const parts: string[] = [];
      for (let i = 0; i < 6; i++) parts.push(Math.random() < 0.35 ? 'REALSECRET' : 'x'.repeat(Math.floor(Math.random() * 7)));
      const text = parts.join('');
      const op = Math.random() < 0.5 ? 1 : 2;
      want.push([op, expected(Buffer.from(text, 'latin1'))]);
      // Fragments at random places (possibly empty), with a ping between some of them.
      const cuts = [0, ...Array.from({ length: Math.floor(Math.random() * 4) }, () => Math.floor(Math.random() * (text.length + 1))).sort((a, b) => a - b), text.length];
      for (let i = 0; i + 1 < cuts.length; i++) {
        wire.push(frame(i + 2 === cuts.length, i === 0 ? op : 0, text.slice(cuts[i], cuts[i + 1])));
        if (Math.random() < 0.2 && i + 2 < cuts.length) { wire.push(frame(true, 9, 'p')); want.splice(want.length - 1, 0, [9, 'p']); }
      }
    }
    const whole = Buffer.concat(wire);
    const chunks: Buffer[] = [];
    for (let at = 0; at < whole.length;) { const n = 1 + Math.floor(Math.random() * 13); chunks.push(whole.subarray(at, at + n)); at += n; }
    const out = await through(chunks);
    assert.deepEqual(messages(frames(out)), want);
    assert.ok(!out.includes('REALSECRET'));
  }
});

test('scrubFrames: a frame cordon cannot pass on scrubbed ends the connection', async () => {
  for (const bad of [frame(true, 1, 'x', true), Buffer.from([0xc1, 0x00]), frame(true, 3, 'x'), frame(false, 9, 'x'), frame(true, 0, 'x'), Buffer.concat([frame(false, 1, 'a'), frame(true, 2, 'b')])]) {
    await assert.rejects(through([bad]), Error, bad.toString('hex'));
  }
  await assert.rejects(buffer(Readable.from([frame(true, 2, Buffer.alloc(70_000))]).pipe(scrubFrames(pairs, 65_536))), /over 65536 bytes/);
});
