/**
 * Self-tests of the network test world (test/world/world.ts), as a direct
 * client from the root namespace, without cordon: every server answers and
 * records, names resolve through the world's private /etc/hosts for both
 * getaddrinfo users (getent, curl, node's dns.lookup), TLS verifies against the
 * throw-away CA only, and close/exit/sweep leave nothing behind.
 *
 * Only loopback and the world's own namespaces are contacted.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type NetConnectOpts } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createWorld, sweepStaleWorlds, worldSkipReason, WorldError, type World } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 30_000 };

interface Resp { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function get(url: string, opts: { ca?: Buffer; method?: string; body?: Buffer; servername?: string } = {}): Promise<Resp> {
  return new Promise((ok, fail) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { method: opts.method ?? 'GET', agent: false, ca: opts.ca, servername: opts.servername, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', fail);
    req.end(opts.body);
  });
}

/** Sends `data`, half-closes, returns everything echoed until the server's end. */
function streamEcho(target: { host: string; port: number } | { path: string }, data: string): Promise<string> {
  return new Promise((ok, fail) => {
    const s = connect({ ...target, allowHalfOpen: true } as NetConnectOpts);
    const chunks: Buffer[] = [];
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
    s.on('connect', () => s.end(data));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => ok(Buffer.concat(chunks).toString()));
    s.on('error', fail);
  });
}

function udpEcho(host: string, port: number, data: string): Promise<string> {
  return new Promise((ok, fail) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const t = setTimeout(() => {
      s.close();
      fail(new Error(`no UDP echo from ${host}:${port}`));
    }, 5000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      ok(m.toString());
    });
    s.send(data, port, host);
  });
}

function url(scheme: 'http' | 'https', host: string, port: number, path = '/'): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
}

function netnsNames(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}
function linkNames(): string[] {
  return [...spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.matchAll(/^\d+: ([^@:]+)/gm)].map((m) => m[1]!);
}
/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
/** Processes whose argv mentions `token` (other than this test process). */
function processesMentioning(token: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(token) && running(Number(p))) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

interface Footprint { id: string; dir: string; netns: string[]; veths: string[]; pids: number[] }
function footprint(w: World): Footprint {
  const hs = [...w.hosts.values()];
  return { id: w.id, dir: w.dir, netns: hs.map((h) => h.netns), veths: hs.map((h) => h.veth), pids: w.pids() };
}
function assertPresent(f: Footprint): void {
  const ns = netnsNames();
  const links = linkNames();
  for (const n of f.netns) assert.ok(ns.includes(n), `netns ${n} exists`);
  for (const v of f.veths) assert.ok(links.includes(v), `veth ${v} exists`);
  assert.ok(existsSync(f.dir), `${f.dir} exists`);
}
async function assertGone(f: Footprint): Promise<void> {
  // Killed processes may take a moment to be reaped by whoever inherits them.
  for (let i = 0; i < 50 && f.pids.some(running); i++) await new Promise((ok) => setTimeout(ok, 20));
  const ns = netnsNames();
  const links = linkNames();
  for (const n of f.netns) assert.ok(!ns.includes(n), `netns ${n} removed`);
  for (const v of f.veths) assert.ok(!links.includes(v), `veth ${v} removed`);
  for (const p of f.pids) assert.ok(!running(p), `server ${p} ended`);
  assert.deepEqual(processesMentioning(f.id), [], `no process mentions ${f.id}`);
  assert.ok(!existsSync(f.dir), `${f.dir} removed`);
}

describe('test world', { skip }, () => {
  let w: World;
  let createMs = 0;
  before(async () => {
    const t = performance.now();
    w = await createWorld();
    createMs = performance.now() - t;
  });
  after(() => w?.close());

  it('is created quickly', T, () => {
    // Reported figure; the bound only catches a pathological slowdown.
    process.stdout.write(`# world created in ${createMs.toFixed(0)} ms ${JSON.stringify(w.timings, (_, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}\n`);
    assert.ok(createMs < 5000, `created in ${createMs} ms`);
  });

  it('gives each host its own namespace, veth and subnet', T, () => {
    const hs = [...w.hosts.values()];
    assert.deepEqual(hs.map((h) => h.name), ['api', 'evil']);
    assert.equal(new Set(hs.map((h) => h.subnet)).size, hs.length);
    for (const h of hs) {
      assert.ok(h.veth.length <= 15, `${h.veth} fits IFNAMSIZ`);
      assert.match(h.ipv4, /^10\.250\.\d+\.2$/);
      assert.match(h.ipv6, /^fd7a:c0de:[0-9a-f]+::2$/);
      const inside = spawnSync('ip', ['-n', h.netns, '-o', 'addr', 'show'], { encoding: 'utf8' }).stdout;
      assert.match(inside, new RegExp(`eth0\\s+inet ${h.ipv4.replace(/\./g, '\\.')}/24`));
      assert.match(inside, new RegExp(`eth0\\s+inet6 ${h.ipv6}/64`));
      assert.match(inside, /lo\s+inet 127\.0\.0\.1/);
      // No way out of a test host but its own veth.
      assert.doesNotMatch(spawnSync('ip', ['-n', h.netns, 'route', 'show'], { encoding: 'utf8' }).stdout, /default/);
      assert.doesNotMatch(spawnSync('ip', ['-n', h.netns, '-6', 'route', 'show'], { encoding: 'utf8' }).stdout, /default/);
    }
  });

  it('serves HTTP on every host by IPv4 and IPv6, and records each request', T, async () => {
    for (const h of w.hosts.values()) {
      for (const [ip, gw] of [[h.ipv4, h.gateway4], [h.ipv6, h.gateway6]] as const) {
        for (const port of [h.ports.http, h.ports.httpAlt]) {
          const r = await get(url('http', ip, port, `/echo?from=${gw}`), { method: 'POST', body: Buffer.alloc(1234) });
          assert.equal(r.status, 200);
          const body = JSON.parse(r.body.toString()) as { server: string; method: string; path: string; bytes: number; peer: string; port: number };
          assert.deepEqual([body.server, body.method, body.path, body.bytes, body.peer, body.port], [h.name, 'POST', `/echo?from=${gw}`, 1234, gw, port]);
          const rec = await w.waitForRecords(h, (x) => x.event === 'request' && x.path === `/echo?from=${gw}` && x.port === port);
          assert.equal(rec[0]!.bytes, 1234);
          assert.equal(rec[0]!.peer, gw);
          assert.equal(rec[0]!.method, 'POST');
        }
      }
    }
  });

  it('streams /bytes/N and counts /upload', T, async () => {
    const api = w.host('api');
    const n = 5 * 1024 * 1024 + 7;
    const r = await get(url('http', api.ipv4, api.ports.http, `/bytes/${n}`));
    assert.equal(r.body.length, n);
    const up = await get(url('http', api.ipv4, api.ports.http, '/upload'), { method: 'PUT', body: Buffer.alloc(3 * 1024 * 1024) });
    assert.deepEqual(JSON.parse(up.body.toString()), { bytes: 3 * 1024 * 1024 });
    const recs = await w.waitForRecords(api, (x) => x.event === 'request' && (x.path === '/upload' || x.path === `/bytes/${n}`), { count: 2 });
    assert.equal(recs.find((x) => x.path === '/upload')!.bytes, 3 * 1024 * 1024);
    assert.equal(recs.find((x) => x.path === `/bytes/${n}`)!.sent, n);
  });

  it('resolves test names through the private hosts file (getent, node dns.lookup, curl)', T, async () => {
    const api = w.host('api');
    const evil = w.host('evil');
    const first = api;
    const expect: Record<string, string[]> = {
      [api.fqdn]: [api.ipv4, api.ipv6],
      [api.www]: [api.ipv4, api.ipv6],
      [api.fqdn4]: [api.ipv4],
      [api.fqdn6]: [api.ipv6],
      [evil.fqdn]: [evil.ipv4, evil.ipv6],
      [w.names.loopback]: ['127.0.0.1'],
      [w.names.loopback6]: ['::1'],
      [w.names.mapped]: ['::ffff:127.0.0.1'],
      [w.names.self]: [first.gateway4, first.gateway6],
      [w.names.self6]: [first.gateway6],
      [w.names.mixed]: ['127.0.0.1', first.ipv4],
      // Case-insensitive. (A trailing dot is not: glibc's files backend does not
      // strip it, so a proxy must normalise "name." itself before resolving.)
      'API.Test.Cordon': [api.ipv4, api.ipv6],
    };
    const script = `const dns = require('node:dns'); const names = ${JSON.stringify(Object.keys(expect))};
      Promise.all(names.map((n) => dns.promises.lookup(n, { all: true }).then((a) => [n, a.map((x) => x.address)], (e) => [n, e.code])))
        .then((r) => console.log(JSON.stringify(Object.fromEntries(r))));`;
    const node = await w.run([process.execPath, '-e', script]);
    assert.equal(node.status, 0, node.stderr);
    const got = JSON.parse(node.stdout) as Record<string, string[]>;
    for (const [n, addrs] of Object.entries(expect)) assert.deepEqual([...got[n]!].sort(), [...addrs].sort(), `dns.lookup ${n}`);

    const getent = await w.run(['getent', 'ahosts', api.fqdn]);
    assert.equal(getent.status, 0);
    assert.match(getent.stdout, new RegExp(api.ipv4.replace(/\./g, '\\.')));
    assert.match(getent.stdout, new RegExp(api.ipv6));

    // The real /etc/hosts is untouched outside world.run.
    assert.doesNotMatch(readFileSync('/etc/hosts', 'utf8'), /test\.cordon/);
    assert.equal(spawnSync('getent', ['hosts', api.fqdn]).status, 2);

    // "files" first in the private nsswitch.conf, and only "dns" after it.
    const nss = await w.run(['grep', '^hosts:', '/etc/nsswitch.conf']);
    assert.equal(nss.stdout.trim(), 'hosts: files dns');

    for (const h of [api, evil]) {
      for (const [name, flag] of [[h.fqdn, '-4'], [h.fqdn, '-6'], [h.fqdn4, '-4'], [h.fqdn6, '-6']] as const) {
        const c = await w.run(['curl', '-sS', '--max-time', '5', flag, `http://${name}/by-name`]);
        assert.equal(c.status, 0, c.stderr);
        const body = JSON.parse(c.stdout) as { server: string; host: string; local: string };
        assert.equal(body.server, h.name);
        assert.equal(body.host, name);
        assert.equal(body.local, flag === '-4' ? h.ipv4 : h.ipv6);
      }
    }
  });

  it('sends unknown names to the recording NXDOMAIN resolver, never the real one', T, async () => {
    w.clearRecords('dns');
    const t = performance.now();
    const r = await w.run(['getent', 'hosts', 'no-such-name.invalid']);
    const ms = performance.now() - t;
    assert.equal(r.status, 2);
    assert.ok(ms < 900, `NXDOMAIN answered at once (${ms.toFixed(0)} ms), not after a timeout`);
    const conf = await w.run(['cat', '/etc/resolv.conf']);
    assert.match(conf.stdout, new RegExp(`^nameserver ${w.resolver.address.replace(/\./g, '\\.')}$`, 'm'));
    assert.equal(conf.stdout.match(/^nameserver/gm)?.length, 1);
    const q = await w.waitForRecords('dns', (x) => x.event === 'query' && x.qname === 'no-such-name.invalid');
    assert.equal(q[0]!.proto, 'dns');
  });

  it('serves HTTPS signed by the world CA only, by name and by IP, HTTP/1.1 and h2', T, async () => {
    const api = w.host('api');
    const ok = await w.run(['curl', '-sS', '--max-time', '5', '--cacert', w.caCert, `https://${api.fqdn}/tls`]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { proto: string }).proto, 'https');
    const h1 = await w.run(['curl', '-sS', '--http1.1', '--max-time', '5', '--cacert', w.caCert, `https://${api.fqdn4}:${api.ports.httpsAlt}/tls1`]);
    assert.equal((JSON.parse(h1.stdout) as { httpVersion: string }).httpVersion, '1.1');
    const viaEnv = await w.run(['curl', '-sS', '--max-time', '5', `https://${api.www}/env`], { env: { ...process.env, ...w.tlsEnv } });
    assert.equal(viaEnv.status, 0, viaEnv.stderr);
    // The CA is not trusted system-wide.
    const untrusted = await w.run(['curl', '-sS', '--max-time', '5', `https://${api.fqdn}/untrusted`], { env: { PATH: process.env.PATH } });
    assert.equal(untrusted.status, 60, untrusted.stderr);
    // Nor is a host's certificate good for another host's name.
    const wrong = await w.run(['curl', '-sS', '--max-time', '5', '--cacert', w.caCert, '--resolve', `${w.host('evil').fqdn}:443:${api.ipv4}`, `https://${w.host('evil').fqdn}/`]);
    assert.notEqual(wrong.status, 0);
    // Direct clients, by IP (the leaf has IP SANs).
    const ca = readFileSync(w.caCert);
    for (const ip of [api.ipv4, api.ipv6]) {
      const r = await get(url('https', ip, api.ports.https, '/by-ip'), { ca });
      assert.equal(r.status, 200);
    }
    const tls = await w.waitForRecords(api, (x) => x.event === 'tls' && x.sni === api.fqdn);
    assert.equal(tls[0]!.proto, 'https');
    await w.waitForRecords(api, (x) => x.event === 'request' && x.proto === 'https' && x.path === '/by-ip', { count: 2 });
  });

  it('echoes and records raw TCP (with half-close) and UDP on both families', T, async () => {
    for (const h of w.hosts.values()) {
      for (const ip of [h.ipv4, h.ipv6]) {
        const tag = `tcp-${h.name}-${ip}`;
        assert.equal(await streamEcho({ host: ip, port: h.ports.tcp }, tag), tag);
        const u = `udp-${h.name}-${ip}`;
        assert.equal(await udpEcho(ip, h.ports.udp, u), u);
        const tcp = await w.waitForRecords(h, (x) => x.proto === 'tcp' && x.event === 'close' && x.head === tag);
        assert.equal(tcp[0]!.bytes, tag.length);
        assert.equal(tcp[0]!.local, ip);
        const udp = await w.waitForRecords(h, (x) => x.proto === 'udp' && x.head === u);
        assert.equal(udp[0]!.bytes, u.length);
      }
    }
  });

  it('answers DNS on every host (port 53) with NXDOMAIN and records the query', T, async () => {
    const evil = w.host('evil');
    // A minimal A query for "exfil.test" with id 0x1234.
    const q = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, ...Buffer.from('exfil'), 4, ...Buffer.from('test'), 0, 0, 1, 0, 1]);
    const reply = await new Promise<Buffer>((ok, fail) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => fail(new Error('no DNS reply')), 5000);
      s.on('message', (m) => {
        clearTimeout(t);
        s.close();
        ok(m);
      });
      s.send(q, evil.ports.dns, evil.ipv4);
    });
    assert.equal(reply.readUInt16BE(0), 0x1234);
    assert.equal(reply[3]! & 0x0f, 3, 'NXDOMAIN');
    await w.waitForRecords(evil, (x) => x.proto === 'dns' && x.qname === 'exfil.test' && x.qtype === 1);
  });

  it('runs loopback-only host services: TCP, UDP, HTTP(S), a Unix socket and an abstract socket', T, async () => {
    const s = w.hostService;
    const api = w.host('api');
    for (const a of ['127.0.0.1', '::1']) {
      assert.equal(await streamEcho({ host: a, port: s.ports.tcp }, `svc-${a}`), `svc-${a}`);
      assert.equal(await udpEcho(a, s.ports.udp, `svcu-${a}`), `svcu-${a}`);
      assert.equal((await get(url('http', a, s.ports.http, '/svc'))).status, 200);
    }
    // Also on the root namespace's own veth address ("the host's own address").
    assert.equal(await streamEcho({ host: api.gateway4, port: s.ports.tcp }, 'svc-self'), 'svc-self');
    const byName = await w.run(['curl', '-sS', '--max-time', '5', '--cacert', w.caCert, `https://${w.names.self}:${s.ports.https}/self`]);
    assert.equal(byName.status, 0, byName.stderr);
    const loop = await w.run(['curl', '-sS', '--max-time', '5', `http://${w.names.loopback}:${s.ports.http}/loop`]);
    assert.equal((JSON.parse(loop.stdout) as { server: string }).server, 'host');
    assert.equal(await streamEcho({ path: s.unixSocket }, 'unix'), 'unix');
    assert.equal(await streamEcho({ path: s.abstractSocket }, 'abstract'), 'abstract');
    await w.settle();
    const recs = w.records('host');
    assert.ok(recs.some((x) => x.proto === 'tcp' && x.event === 'close' && x.head === 'svc-::1' && x.local === '::1'));
    assert.ok(recs.some((x) => x.proto === 'tcp' && x.head === 'svc-self' && x.local === api.gateway4));
    assert.ok(recs.some((x) => x.proto === 'udp' && x.head === 'svcu-127.0.0.1'));
    assert.ok(recs.some((x) => x.proto === 'https' && x.event === 'request' && x.path === '/self' && x.host === `${w.names.self}:${s.ports.https}`));
    assert.ok(recs.some((x) => x.proto === 'http' && x.path === '/loop'));
    assert.ok(recs.some((x) => x.proto === 'unix' && x.event === 'close' && x.head === 'unix' && x.path === s.unixSocket));
    assert.ok(recs.some((x) => x.proto === 'unix' && x.event === 'close' && x.head === 'abstract' && x.path?.startsWith('@')));
    // Not on the machine's other interfaces.
    const listening = spawnSync('ss', ['-Hltn'], { encoding: 'utf8' });
    if (listening.status === 0) {
      for (const line of listening.stdout.split('\n').filter((l) => l.includes(`:${s.ports.tcp} `))) {
        assert.match(line, /127\.0\.0\.1|\[::1\]|10\.250\.|fd7a:c0de:/, line);
      }
    }
  });

  it('records a raw connection before any request, and settle() makes records current', T, async () => {
    const evil = w.host('evil');
    w.clearRecords(evil);
    await new Promise<void>((ok, fail) => {
      const s = connect({ host: evil.ipv4, port: evil.ports.http }, () => {
        s.destroy();
        ok();
      });
      s.on('error', fail);
    });
    await w.settle();
    const recs = w.records(evil);
    assert.equal(recs.length, 1, JSON.stringify(recs));
    assert.deepEqual([recs[0]!.proto, recs[0]!.event, recs[0]!.port], ['http', 'connect', evil.ports.http]);
  });

  it('passes input, env and cwd through run()', T, async () => {
    const r = await w.run(['sh', '-c', 'cat; printf " %s %s" "$TW_X" "$(pwd)"'], { input: 'in', env: { PATH: process.env.PATH, TW_X: 'x' }, cwd: '/var' });
    assert.equal(r.stdout, 'in x /var');
  });

  it('refuses names that point outside loopback and the world', T, async () => {
    await assert.rejects(createWorld({ hosts: ['a'], names: { 'out.test.cordon': ['192.0.2.1'] } }), (e: WorldError) => e.code === 'WORLD_OPTION' && /192\.0\.2\.1/.test(e.message));
    await assert.rejects(createWorld({ hosts: ['dns'] }), (e: WorldError) => e.code === 'WORLD_OPTION');
  });
});

describe('test world lifetime', { skip }, () => {
  it('lets two worlds live at once and close() removes everything, idempotently', T, async () => {
    const [a, b] = await Promise.all([createWorld({ hosts: ['api'] }), createWorld({ hosts: ['api'] })]);
    const fa = footprint(a);
    const fb = footprint(b);
    try {
      assert.notEqual(a.host('api').subnet, b.host('api').subnet);
      assertPresent(fa);
      assertPresent(fb);
      for (const x of [a, b]) assert.equal((await get(url('http', x.host('api').ipv4, 80, '/two'))).status, 200);
      await a.close();
      await a.close();
      await assertGone(fa);
      // The other world is unaffected.
      assert.equal((await get(url('http', b.host('api').ipv6, 80, '/still'))).status, 200);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    await assertGone(fb);
  });

  const owner = fileURLToPath(new URL('./world-owner.js', import.meta.url));
  function startOwner(): Promise<{ child: ReturnType<typeof spawn>; f: Footprint }> {
    return new Promise((ok, fail) => {
      const child = spawn(process.execPath, [owner], { stdio: ['ignore', 'pipe', 'inherit'] });
      createInterface({ input: child.stdout! }).once('line', (l) => ok({ child, f: JSON.parse(l) as Footprint }));
      child.once('exit', (c) => fail(new Error(`owner exited ${c}`)));
    });
  }
  const exited = (c: ReturnType<typeof spawn>): Promise<void> => new Promise((ok) => (c.exitCode !== null || c.signalCode !== null ? ok() : c.once('exit', () => ok())));

  it('is cleaned up by its own exit hooks on SIGTERM and SIGINT', T, async () => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const { child, f } = await startOwner();
      assertPresent(f);
      child.kill(sig);
      await exited(child);
      assert.equal(child.signalCode, sig, 'the signal still ends the process');
      await assertGone(f);
    }
  });

  it('is swept by sweepStaleWorlds() after its owner was SIGKILLed', T, async () => {
    const { child, f } = await startOwner();
    child.kill('SIGKILL');
    await exited(child);
    // Namespaces, veths and files outlive a SIGKILL...
    assertPresent(f);
    const report = sweepStaleWorlds();
    // ...until the sweep (another test file's createWorld may sweep them first).
    for (const n of f.netns) assert.ok(report.netns.includes(n) || !netnsNames().includes(n), n);
    for (const v of f.veths) assert.ok(report.links.includes(v) || !linkNames().includes(v), v);
    assert.ok(report.dirs.includes(f.dir) || !existsSync(f.dir));
    await assertGone(f);
    // A live world is never swept.
    const w = await createWorld({ hosts: ['live'] });
    try {
      const again = sweepStaleWorlds();
      assert.deepEqual(again.netns.filter((n) => n.startsWith(w.id)), []);
      assertPresent(footprint(w));
    } finally {
      await w.close();
    }
  });
});
