/** scrub.ts: every occurrence replaced, however the stream is cut, and nothing else changed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { replaceIn, scrubStream, scrubText } from '../../../src/proxy/scrub.js';

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
  assert.deepEqual(replaceIn(Buffer.from('abcREALSEC'), pairs, 15), { out: Buffer.from(''), rest: Buffer.from('abcREALSEC') });
  const r = replaceIn(Buffer.from('0123456789012345678901234REALSECRET!'), pairs, 15);
  assert.equal(r.out.toString() + r.rest.toString(), '0123456789012345678901234tokentoken!');
  assert.equal(scrubText('Bearer REALSECRET, REALSECRET', [{ from: 'REALSECRET', to: 'tok' }]), 'Bearer tok, tok');
});
