/**
 * The library's sinks of the event stream, with real commands (curl through
 * the real proxies and relay to loopback servers on the host): the handle's
 * and the command's onEvent, child.events(), sandbox.events(), exec()'s
 * violations, and the attribution of each connection to the command that
 * made it when two commands share one handle's proxies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { makeWorld } from '../../helpers/cordon.js';

process.env.XDG_STATE_HOME = realpathSync(tempDir(join(tmpdir(), 'cordon-lib-events-state-')));
const { createSandbox } = await import('cordon');
type CordonEvent = import('cordon').CordonEvent;

async function server(): Promise<{ s: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const s = createServer((req, res) => { paths.push(req.url ?? ''); res.end('ok\n'); });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { s, port: (s.address() as AddressInfo).port, paths };
}

const get = (url: string) => `curl --noproxy '' -sS -o /dev/null -w '%{http_code}\\n' ${url}`;

test('two commands at once on one handle: each connection is attributed to the command that made it; exec() returns each one\'s violations', { timeout: 90_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const b = await server();
  const all: CordonEvent[] = [];
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] } }, onEvent: (e) => all.push(e) });
  try {
    const perA: CordonEvent[] = [];
    // Interleaved: each command connects three times, with pauses, while the other does.
    const [ra, rb] = await Promise.all([
      sb.exec('/bin/sh', ['-c', [1, 2, 3].map((i) => `${get(`http://127.0.0.1:${a.port}/a${i}`)}; sleep 0.2`).join('; ')], { onEvent: (e) => perA.push(e) }),
      sb.exec('/bin/sh', ['-c', [1, 2, 3].map((i) => `${get(`http://127.0.0.1:${b.port}/b${i}`)}; ${get(`http://refused-${i}.test/`)}; sleep 0.2`).join('; ')]),
    ]);
    assert.equal(ra.stdout, '200\n200\n200\n', ra.stderr);
    assert.equal(rb.stdout, '200\n403\n200\n403\n200\n403\n', rb.stderr);
    assert.deepEqual(a.paths, ['/a1', '/a2', '/a3']);
    assert.deepEqual(b.paths, ['/b1', '/b2', '/b3']);
    assert.notEqual(ra.commandId, rb.commandId);
    assert.match(ra.commandId, /^[A-Za-z0-9_-]{22}$/);

    const of = (id: string) => all.filter((e) => e.commandId === id);
    const net = (es: CordonEvent[]) => es.flatMap((e) => (e.type === 'net.allowed' || e.type === 'net.refused' ? [`${e.type} ${e.host}:${e.port}`] : []));
    assert.deepEqual(net(of(ra.commandId)), [1, 2, 3].map(() => `net.allowed 127.0.0.1:${a.port}`));
    assert.deepEqual(net(of(rb.commandId)), [1, 2, 3].flatMap((i) => [`net.allowed 127.0.0.1:${b.port}`, `net.refused refused-${i}.test:80`]));
    assert.equal(all.length, of(ra.commandId).length + of(rb.commandId).length, 'every event belongs to one of the two');
    // The command's own callback saw exactly its events, in the handle's order.
    assert.deepEqual(perA, of(ra.commandId));
    for (const id of [ra.commandId, rb.commandId]) {
      const es = of(id);
      assert.equal(es[0]!.type, 'command.start');
      assert.equal(es.at(-1)!.type, 'command.exit');
    }

    assert.deepEqual(ra.violations, []);
    assert.deepEqual(rb.violations.map((v) => v.type === 'net.refused' && [v.host, v.reason, v.fix]), [1, 2, 3].map((i) => [`refused-${i}.test`, 'not-allowlisted', `network.allowedDomains: add "refused-${i}.test"`]));
    assert.deepEqual(rb.violations, of(rb.commandId).filter((e) => e.type === 'net.refused'));
  } finally {
    await sb.close();
    a.s.close();
    b.s.close();
  }
});

test('child.events() replays the command\'s events and ends at its exit; sandbox.events() yields every command\'s events and ends at close()', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: [`127.0.0.1:${a.port}`] } } });
  const handleEvents: CordonEvent[] = [];
  const reading = (async () => { for await (const e of sb.events()) handleEvents.push(e); })();
  try {
    const child = sb.spawn('/bin/sh', ['-c', `${get(`http://127.0.0.1:${a.port}/x`)}; ${get('http://nope.test/')}; exit 4`], { stdio: 'ignore' });
    const closed = new Promise<number>((r) => child.on('close', r));
    assert.equal(await closed, 4);
    // Called after the command ended: everything is replayed, then the iteration ends.
    const seen: CordonEvent[] = [];
    for await (const e of child.events()) seen.push(e);
    // The allowed request's net.done comes from the relay that sent it, once its answer has gone to the client.
    assert.deepEqual(seen.map((e) => e.type), ['command.start', 'net.allowed', 'net.done', 'net.refused', 'command.exit']);
    assert.ok(seen.every((e) => e.commandId === child.id && e.v === 1));
    const exit = seen[4]!;
    assert.ok(exit.type === 'command.exit' && exit.exitCode === 4 && exit.signal === null);
    assert.deepEqual(child.violations, [seen[3]]);
    assert.match(seen[3]!.message, /nope\.test:80 refused: not in network\.allowedDomains; add "nope\.test" to allow it/);

    // Live: the iterator of a running command yields as it goes, and ends at its exit.
    const live = sb.spawn('/bin/sh', ['-c', 'sleep 0.3; echo done'], { stdio: 'ignore' });
    const types: string[] = [];
    for await (const e of live.events()) types.push(e.type);
    assert.deepEqual(types, ['command.start', 'command.exit']);
  } finally {
    await sb.close();
    a.s.close();
  }
  await reading;
  assert.deepEqual(handleEvents.map((e) => e.type), ['command.start', 'net.allowed', 'net.done', 'net.refused', 'command.exit', 'command.start', 'command.exit']);
});

test('a callback that throws does not stop the command or the stream', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const warnings: string[] = [];
  const onWarning = (e: Error) => warnings.push(e.message);
  process.on('warning', onWarning);
  const sb = await createSandbox({ cwd: w.proj, env: w.env, onEvent: () => { throw new Error('consumer bug'); } });
  try {
    const r = await sb.exec('/bin/sh', ['-c', 'echo still-runs']);
    assert.equal(r.stdout, 'still-runs\n');
    await new Promise((res) => setImmediate(res));
    assert.ok(warnings.some((m) => m.includes('consumer bug')));
  } finally {
    process.off('warning', onWarning);
    await sb.close();
  }
});

test('exec() returns the command\'s filesystem refusals as violations, live in its events too', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    const live: CordonEvent[] = [];
    const r = await sb.exec('/bin/sh', ['-c', `echo x > ${w.outside}/planted 2>/dev/null || echo refused; echo fine > ok.txt`], { onEvent: (e) => live.push(e) });
    assert.equal(r.stdout, 'refused\n');
    assert.ok(!existsSync(join(w.outside, 'planted')));
    assert.deepEqual(r.violations.map((v) => v.type === 'fs.refused' && [v.op, v.path, v.fix, v.commandId]), [['create', join(w.outside, 'planted'), `filesystem.allowWrite: add "${w.outside}"`, r.commandId]]);
    assert.deepEqual(live.filter((e) => e.type === 'fs.refused'), r.violations);
    const clean = await sb.exec('/bin/sh', ['-c', 'echo fine > ok2.txt']);
    assert.deepEqual(clean.violations, [], 'a command that was refused nothing has no violations');
  } finally {
    await sb.close();
  }
});
