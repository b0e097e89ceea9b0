/**
 * http-proxy.ts readWhole: the bodies the proxy holds to sign again by
 * their hash are bounded per request and across requests, and what a
 * request held is given back when it ends or its client goes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { HELD_BODIES_MAX, readWhole } from '../../../src/proxy/http-proxy.js';

const MiB = 1024 * 1024;
/** A request body of `n` MiB, sent and ended; `held` open leaves it unended. */
function body(n: number, end = true): IncomingMessage {
  const s = new PassThrough();
  for (let i = 0; i < n; i++) s.write(Buffer.alloc(MiB, 1));
  if (end) s.end();
  return s as unknown as IncomingMessage;
}
const read = (req: IncomingMessage, most: number, budget: { used: number }) => new Promise<[Buffer | undefined, string | undefined]>((resolve) => readWhole(req, most, budget, (b, why) => resolve([b, why])));

test('a body within its limit is read whole; over it, refused as too large; the budget is given back either way', async () => {
  const budget = { used: 0 };
  const [b] = await read(body(3), 32 * MiB, budget);
  assert.equal(b!.length, 3 * MiB);
  assert.deepEqual(await read(body(5), 4 * MiB, budget), [undefined, 'too-large']);
  assert.equal(budget.used, 0);
});

test('across requests, no more than HELD_BODIES_MAX is held at once: the next one is refused as busy until others are done', async () => {
  const budget = { used: 0 };
  const holders = [body(30, false), body(30, false)];
  const pending = holders.map((h) => read(h, 32 * MiB, budget));
  await new Promise((r) => setImmediate(r));
  assert.equal(budget.used, 60 * MiB);
  assert.deepEqual(await read(body(8), 32 * MiB, budget), [undefined, 'busy'], `${HELD_BODIES_MAX / MiB} MiB at most`);
  // A client that goes gives back what its request held.
  (holders[0] as unknown as PassThrough).destroy();
  await new Promise((r) => setImmediate(r));
  assert.equal(budget.used, 30 * MiB);
  const [again] = await read(body(8), 32 * MiB, budget);
  assert.equal(again!.length, 8 * MiB);
  (holders[1] as unknown as PassThrough).end();
  assert.equal((await pending[1]!)[0]!.length, 30 * MiB);
  assert.equal(budget.used, 0);
});
