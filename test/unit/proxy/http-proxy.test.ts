/**
 * http-proxy.ts readWhole: the bodies the proxy holds to sign again by
 * their hash are bounded per request and across requests, and what a
 * request held counts until its body has gone upstream (release), its
 * client goes, or it is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { HELD_BODIES_MAX, readWhole } from '../../../src/proxy/http-proxy.js';

const MiB = 1024 * 1024;
/** A request body of `n` MiB, ended unless `end` is false; `complete` once ended, as Node's IncomingMessage. */
function body(n: number, end = true): IncomingMessage {
  const s = new PassThrough();
  s.once('end', () => { (s as unknown as { complete: boolean }).complete = true; });
  for (let i = 0; i < n; i++) s.write(Buffer.alloc(MiB, 1));
  if (end) s.end();
  return Object.assign(s, { complete: false }) as unknown as IncomingMessage;
}
const read = (req: IncomingMessage, most: number, budget: { used: number }) => new Promise<[Buffer | undefined, string | undefined, () => void]>((resolve) => readWhole(req, most, budget, (b, why, release) => resolve([b, why, release])));
const tick = () => new Promise((r) => setImmediate(r));

test('a body within its limit is read whole and counts until released; over its limit, refused as too large and counts nothing', async () => {
  const budget = { used: 0 };
  const [b, , release] = await read(body(3), 32 * MiB, budget);
  assert.equal(b!.length, 3 * MiB);
  await tick();
  assert.equal(budget.used, 3 * MiB, 'held while it goes upstream');
  release();
  assert.equal(budget.used, 0);
  const [none, why] = await read(body(5), 4 * MiB, budget);
  assert.deepEqual([none, why, budget.used], [undefined, 'too-large', 0]);
});

test('across requests, no more than HELD_BODIES_MAX is held at once: the next one is refused as busy until others are done', async () => {
  const budget = { used: 0 };
  const holders = [body(30, false), body(30, false)];
  const pending = holders.map((h) => read(h, 32 * MiB, budget));
  await tick();
  assert.equal(budget.used, 60 * MiB);
  assert.deepEqual((await read(body(8), 32 * MiB, budget)).slice(0, 2), [undefined, 'busy'], `${HELD_BODIES_MAX / MiB} MiB at most`);
  // A client that goes gives back what its request held.
  (holders[0] as unknown as PassThrough).destroy();
  await tick();
  assert.equal(budget.used, 30 * MiB);
  const [again, , release] = await read(body(8), 32 * MiB, budget);
  assert.equal(again!.length, 8 * MiB);
  release();
  (holders[1] as unknown as PassThrough).end();
  const [last, , releaseLast] = await pending[1]!;
  assert.equal(last!.length, 30 * MiB);
  releaseLast();
  assert.equal(budget.used, 0);
});
