import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandEvents, EventQueue, MAX_KEPT_VIOLATIONS, newCommandId, stamp } from '../../../src/events/stream.js';
import { EVENT_VERSION, isViolation, type CordonEvent, type EventPayload } from '../../../src/events/types.js';

test('command ids: 128 random bits as 22 base64url characters, never repeated', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = newCommandId();
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
});

test('stamp: version, ISO time, id, the fields as given, and a message made from them', () => {
  const e = stamp('abc', { type: 'fs.refused', op: 'write', path: '/etc/x', pid: 7, rule: 'built-in: not writable', fix: 'filesystem.allowWrite: add "/etc/x"' }, new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)));
  assert.deepEqual(e, {
    v: EVENT_VERSION, type: 'fs.refused', op: 'write', path: '/etc/x', pid: 7, rule: 'built-in: not writable', fix: 'filesystem.allowWrite: add "/etc/x"',
    time: '2026-01-02T03:04:05.006Z', commandId: 'abc',
    message: 'write of "/etc/x" by pid 7 refused by built-in: not writable; to allow it: filesystem.allowWrite: add "/etc/x"',
  });
  assert.equal(EVENT_VERSION, 1);
  // A producer's message is kept; a producer cannot set the version, time or id.
  const forged = stamp('real', { type: 'after-run.warning', message: 'm', v: 9, time: 'x', commandId: 'other' } as unknown as EventPayload);
  assert.equal(forged.v, 1);
  assert.equal(forged.commandId, 'real');
  assert.notEqual(forged.time, 'x');
  assert.equal(forged.message, 'm');
});

test('serialisation: one JSON line an event, round-tripping; attacker-chosen strings cannot break the line', () => {
  const e = stamp(newCommandId(), { type: 'fs.refused', op: 'create', path: '/w/a\nb"c\u2028', rule: 'r', fix: null });
  const line = JSON.stringify(e);
  assert.ok(!line.includes('\n'));
  assert.deepEqual(JSON.parse(line), e);
  assert.match(e.message, /"\/w\/a\\nb\\"c/, 'the path is quoted in the message');
  assert.match(e.message, /no setting allows it$/);
});

test('a command\'s stream: delivered in order, violations kept (up to a cap, the rest counted)', () => {
  const got: CordonEvent[] = [];
  const s = commandEvents((e) => got.push(e));
  s.emit({ type: 'command.start', argv: ['x'], cwd: '/' });
  s.emit({ type: 'net.refused', host: 'h', port: 1, proxy: 'http', via: 'http', reason: 'not-allowlisted', rule: 'r', fix: null });
  s.emit({ type: 'net.allowed', host: 'h', port: 2, proxy: 'socks5', via: 'socks5', rule: 'r' });
  assert.deepEqual(got.map((e) => e.type), ['command.start', 'net.refused', 'net.allowed']);
  assert.ok(got.every((e) => e.commandId === s.id));
  assert.deepEqual(s.violations, [got[1]]);
  assert.deepEqual(got.map(isViolation), [false, true, false]);
  for (let i = 0; i < MAX_KEPT_VIOLATIONS + 5; i++) s.emit({ type: 'fs.refused', op: 'read', path: `/p${i}`, rule: 'r', fix: null });
  assert.equal(s.violations.length, MAX_KEPT_VIOLATIONS);
  assert.equal(s.violationsDropped, 6);
  assert.equal(got.length, 3 + MAX_KEPT_VIOLATIONS + 5, 'the stream carries them all');
});

test('EventQueue: buffers, waits, ends; break unsubscribes', async () => {
  let returned = false;
  const q = new EventQueue<number>(() => { returned = true; });
  q.push(1);
  const waiting = q.next();
  assert.deepEqual(await waiting, { value: 1, done: false });
  const later = q.next();
  q.push(2);
  assert.deepEqual(await later, { value: 2, done: false });
  q.push(3);
  q.end();
  q.push(4);
  const rest: number[] = [];
  for await (const n of q) rest.push(n);
  assert.deepEqual(rest, [3]);
  const r = new EventQueue<number>(() => { returned = true; });
  r.push(1);
  r.push(2);
  for await (const n of r) { assert.equal(n, 1); break; }
  assert.ok(returned);
  assert.deepEqual(await r.next(), { value: undefined, done: true });
});
