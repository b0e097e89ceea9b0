/**
 * The proxies over real sockets: Unix-socket listeners, a real upstream HTTP
 * server and TCP echo server on loopback, raw client bytes. The decision
 * function here is a small test policy (the real one has its own tests);
 * what is tested is the proxies' I/O: the session preamble, refusal answers, streaming,
 * connection reuse, half-close, SOCKS5.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preamble, SessionSecrets } from '../../../src/proxy/auth.js';
import { startProxies } from '../../../src/proxy/proxies.js';
import type { Decider } from '../../../src/proxy/types.js';

const secret = 'A'.repeat(43);
const pre = preamble(secret);
const auth = 'ignored-by-the-proxy';
const dir = mkdtempSync(join(tmpdir(), 'cordon-proxy-test-'));

let upstreamConnections = 0;
const upstream = createHttpServer((req, res) => {
  let n = 0;
  req.on('data', (d: Buffer) => { n += d.length; });
  req.on('end', () => {
    if (req.url?.startsWith('/bytes/')) {
      const total = Number(req.url.slice(7));
      res.writeHead(200, { 'content-length': total });
      const chunk = Buffer.alloc(65536, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
          sent += part.length;
          if (!res.write(part)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    res.end(JSON.stringify({ method: req.method, url: req.url, host: req.headers.host, auth: req.headers['proxy-authorization'] ?? null, received: n }));
  });
});
upstream.on('connection', () => { upstreamConnections++; });
let echoOpen = 0;
let echoBytes = 0;
const echo = createServer({ allowHalfOpen: true }, (s) => {
  echoOpen++;
  s.once('close', () => { echoOpen--; });
  s.on('data', (d: Buffer) => { echoBytes += d.length; });
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  s.on('end', () => s.end(Buffer.concat([Buffer.from('echo:'), ...parts])));
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
const upPort = (upstream.address() as AddressInfo).port;
const echoPort = (echo.address() as AddressInfo).port;

const seen: string[] = [];
const decide: Decider = async (req) => {
  seen.push(`${req.via} ${req.host}:${req.port}`);
  if (req.host === 'allowed.test') return { allow: true, dial: { address: '127.0.0.1', port: req.port } };
  // A decision that takes a while (a slow name lookup): long enough for the client to go away meanwhile.
  if (req.host === 'slow.test') return new Promise((r) => setTimeout(() => r({ allow: true, dial: { address: '127.0.0.1', port: req.port } }), 300));
  return { allow: false, reason: 'not-allowlisted', message: `cordon: connection to ${req.host}:${req.port} refused: not in network.allowedDomains` };
};
const events: unknown[] = [];
const proxies = await startProxies(join(dir, 'run'), { secrets: SessionSecrets.of(secret), decide, onEvent: (e) => events.push(e) });
after(async () => {
  await proxies.close();
  upstream.close();
  echo.close();
  rmSync(dir, { recursive: true, force: true });
});

function rawExchange(path: string, data: Buffer | string, opts: { half?: boolean; noPreamble?: boolean; preamble?: Buffer } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('close', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
    if (!opts.noPreamble) s.write(opts.preamble ?? pre);
    s.write(data);
    if (opts.half) s.end();
  });
}

test('the socket directory is private', () => {
  assert.equal(statSync(join(dir, 'run')).mode & 0o777, 0o700);
});

test('a connection without the session preamble (or with a wrong one) is closed unanswered; the decider is never asked', async () => {
  const before = seen.length;
  const get = `GET http://allowed.test:${upPort}/ HTTP/1.1\r\nHost: allowed.test:${upPort}\r\nConnection: close\r\n\r\n`;
  assert.equal((await rawExchange(proxies.httpSocket, get, { noPreamble: true })).length, 0);
  assert.equal((await rawExchange(proxies.httpSocket, get, { preamble: preamble('B'.repeat(43)) })).length, 0);
  assert.equal((await rawExchange(proxies.httpSocket, `CONNECT allowed.test:${echoPort} HTTP/1.1\r\n\r\n`, { noPreamble: true })).length, 0);
  assert.equal((await rawExchange(proxies.socksSocket, Buffer.from([5, 1, 0]), { noPreamble: true })).length, 0);
  assert.equal(seen.length, before);
  // Control: with the preamble the same request is answered.
  assert.match((await rawExchange(proxies.httpSocket, get)).toString(), /^HTTP\/1\.1 200 /);
});

test('HTTP: allowed request is forwarded without the proxy credentials; refused one gets 403 with a reason', async () => {
  const ok = (await rawExchange(proxies.httpSocket, `POST http://allowed.test:${upPort}/x?y=1 HTTP/1.1\r\nHost: allowed.test:${upPort}\r\nProxy-Authorization: ${auth}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`)).toString();
  assert.match(ok, /^HTTP\/1\.1 200 /);
  const body = JSON.parse(ok.slice(ok.indexOf('\r\n\r\n') + 4));
  assert.deepEqual(body, { method: 'POST', url: '/x?y=1', host: `allowed.test:${upPort}`, auth: null, received: 5 });
  const no = (await rawExchange(proxies.httpSocket, `GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\nProxy-Authorization: ${auth}\r\nConnection: close\r\n\r\n`)).toString();
  assert.match(no, /^HTTP\/1\.1 403 /);
  assert.match(no, /X-Cordon-Reason: not-allowlisted/i);
  assert.match(no, /cordon: connection to evil\.test:80 refused/);
});

test('HTTP: a Host header that disagrees with the target is refused before any decision', async () => {
  const before = seen.length;
  const r = (await rawExchange(proxies.httpSocket, `GET http://allowed.test:${upPort}/ HTTP/1.1\r\nHost: evil.test\r\nProxy-Authorization: ${auth}\r\nConnection: close\r\n\r\n`)).toString();
  assert.match(r, /^HTTP\/1\.1 403 /);
  assert.match(r, /X-Cordon-Reason: host-mismatch/i);
  assert.equal(seen.length, before);
});

test('HTTP: a request with two Host headers is refused before any decision, whichever comes first', async () => {
  const before = seen.length;
  for (const [first, second] of [[`allowed.test:${upPort}`, 'evil.test'], ['evil.test', `allowed.test:${upPort}`]]) {
    const r = (await rawExchange(proxies.httpSocket, `GET http://allowed.test:${upPort}/ HTTP/1.1\r\nHost: ${first}\r\nProxy-Authorization: ${auth}\r\nHost: ${second}\r\nConnection: close\r\n\r\n`)).toString();
    assert.match(r, /^HTTP\/1\.1 403 /);
    assert.match(r, /X-Cordon-Reason: host-mismatch/i);
    assert.match(r, /carries 2 Host headers/);
  }
  assert.equal(seen.length, before);
});

test('HTTP: two requests on one client connection reuse one upstream connection (and its decision)', async () => {
  const before = upstreamConnections;
  const decisionsBefore = seen.length;
  const req = (close: boolean) => `GET http://allowed.test:${upPort}/a HTTP/1.1\r\nHost: allowed.test:${upPort}\r\nProxy-Authorization: ${auth}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  const r = await new Promise<string>((resolve) => {
    const s = connect(proxies.httpSocket);
    let out = '';
    s.on('data', (d: Buffer) => {
      out += d.toString();
      if ((out.match(/HTTP\/1\.1 200/g) ?? []).length === 1 && !out.includes('second')) {
        out += 'second';
        s.write(req(true));
      }
    });
    s.on('end', () => resolve(out));
    s.write(pre);
    s.write(req(false));
  });
  assert.equal((r.match(/HTTP\/1\.1 200/g) ?? []).length, 2);
  assert.equal(upstreamConnections - before, 1);
  assert.equal(seen.length - decisionsBefore, 1, 'one decision for the connection\'s target');
});

test('HTTP: a 64 MiB download streams through', async () => {
  const total = 64 * 1024 * 1024;
  const got = await new Promise<number>((resolve, reject) => {
    const s = connect(proxies.httpSocket);
    let n = 0;
    let headerDone = false;
    s.on('data', (d: Buffer) => {
      if (!headerDone) {
        const i = d.indexOf('\r\n\r\n');
        if (i < 0) return;
        headerDone = true;
        n += d.length - i - 4;
      } else n += d.length;
    });
    s.on('end', () => resolve(n));
    s.on('error', reject);
    s.write(pre);
    s.write(`GET http://allowed.test:${upPort}/bytes/${total} HTTP/1.1\r\nHost: allowed.test:${upPort}\r\nProxy-Authorization: ${auth}\r\nConnection: close\r\n\r\n`);
  });
  assert.equal(got, total);
});

test('CONNECT: tunnel with half-close; refusal is a 403 with a reason', async () => {
  const r = await rawExchange(proxies.httpSocket, `CONNECT allowed.test:${echoPort} HTTP/1.1\r\nHost: allowed.test:${echoPort}\r\nProxy-Authorization: ${auth}\r\n\r\nping`, { half: true });
  assert.equal(r.toString(), 'HTTP/1.1 200 Connection Established\r\n\r\necho:ping');
  const no = (await rawExchange(proxies.httpSocket, `CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\nProxy-Authorization: ${auth}\r\n\r\n`)).toString();
  assert.match(no, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(no, /X-Cordon-Reason: not-allowlisted/);
});

function socks(host: Buffer, port: number, payload = 'ping'): Promise<Buffer> {
  const msg = Buffer.concat([Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0]), host, Buffer.from([port >> 8, port & 255]), Buffer.from(payload)]);
  return rawExchange(proxies.socksSocket, msg, { half: true });
}

function socksUserPass(host: Buffer, port: number): Promise<Buffer> {
  const u = Buffer.from('user');
  const p = Buffer.from('whatever');
  const msg = Buffer.concat([Buffer.from([5, 1, 2]), Buffer.from([1, u.length]), u, Buffer.from([p.length]), p, Buffer.from([5, 1, 0]), host, Buffer.from([port >> 8, port & 255]), Buffer.from('ping')]);
  return rawExchange(proxies.socksSocket, msg, { half: true });
}

test('SOCKS5: domain CONNECT tunnels (with or without username/password); refused targets get "not allowed"', async () => {
  const name = Buffer.from('allowed.test');
  const ok = await socks(Buffer.concat([Buffer.from([3, name.length]), name]), echoPort);
  assert.deepEqual([...ok.subarray(0, 2)], [5, 0]);
  assert.deepEqual([...ok.subarray(2, 4)], [5, 0]);
  assert.equal(ok.subarray(12).toString(), 'echo:ping');
  const up = await socksUserPass(Buffer.concat([Buffer.from([3, name.length]), name]), echoPort);
  assert.deepEqual([...up.subarray(0, 6)], [5, 2, 1, 0, 5, 0]);
  assert.equal(up.subarray(14).toString(), 'echo:ping');
  const lit = await socks(Buffer.from([1, 127, 0, 0, 1]), echoPort);
  assert.deepEqual([...lit.subarray(2, 4)], [5, 2], 'IPv4 literal refused with "not allowed by ruleset"');
  const v6 = await socks(Buffer.concat([Buffer.from([4]), Buffer.from('00000000000000000000ffff7f000001', 'hex')]), echoPort);
  assert.deepEqual([...v6.subarray(2, 4)], [5, 2]);
  assert.ok(seen.includes(`socks5 0:0:0:0:0:ffff:7f00:1:${echoPort}`));
});

test('every decision is an event', () => {
  assert.ok(events.some((e: any) => e.via === 'connect' && e.allowed === true && e.dialed === '127.0.0.1'));
  assert.ok(events.some((e: any) => e.via === 'http' && e.allowed === false && e.reason === 'host-mismatch'));
  assert.ok(events.some((e: any) => e.allowed === false && e.reason === 'no-session-secret'));
});

test('each command has its own secret: a decision carries the owner of its connection (HTTP and SOCKS5); a revoked secret opens nothing', async () => {
  const secrets = new SessionSecrets();
  const got: any[] = [];
  const p = await startProxies(join(dir, 'owners'), { secrets, decide, onEvent: (e) => got.push(e) });
  try {
    const a = secrets.issue('cmd-a');
    const b = secrets.issue('cmd-b');
    const get = (h: string) => `GET http://${h}:${upPort}/ HTTP/1.1\r\nHost: ${h}:${upPort}\r\nConnection: close\r\n\r\n`;
    assert.match((await rawExchange(p.httpSocket, get('allowed.test'), { preamble: preamble(a) })).toString(), /^HTTP\/1\.1 200/);
    assert.match((await rawExchange(p.httpSocket, get('refused.test'), { preamble: preamble(b) })).toString(), /^HTTP\/1\.1 403/);
    // SOCKS5, no auth, CONNECT refused.test:80 (domain name).
    const name = Buffer.from('refused.test');
    await rawExchange(p.socksSocket, Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 3, name.length]), name, Buffer.from([0, 80])]), { preamble: preamble(a) });
    secrets.revoke(a);
    assert.equal((await rawExchange(p.httpSocket, get('allowed.test'), { preamble: preamble(a) })).length, 0, 'a revoked secret is refused');
    assert.match((await rawExchange(p.httpSocket, get('allowed.test'), { preamble: preamble(b) })).toString(), /^HTTP\/1\.1 200/, 'the other command keeps its secret');
    // What each forwarded request carried (net.done) goes to its command too.
    assert.deepEqual(got.filter((e) => e.done).map((e) => [e.owner, e.host, e.done.request.status]), [['cmd-a', 'allowed.test', 200], ['cmd-b', 'allowed.test', 200]]);
    assert.deepEqual(got.filter((e) => !e.done).map((e) => [e.owner, e.via, e.host, e.allowed, e.reason]), [
      ['cmd-a', 'http', 'allowed.test', true, undefined],
      ['cmd-b', 'http', 'refused.test', false, 'not-allowlisted'],
      ['cmd-a', 'socks5', 'refused.test', false, 'not-allowlisted'],
      [undefined, 'http', '', false, 'no-session-secret'],
      ['cmd-b', 'http', 'allowed.test', true, undefined],
    ]);
  } finally {
    await p.close();
  }
});

test('timeouts: a silent client is cut after the handshake timeout; an idle tunnel after the idle timeout', async () => {
  const quick = await startProxies(join(dir, 'quick'), { secrets: SessionSecrets.of(secret), decide, idleMs: 300, handshakeMs: 300 });
  try {
    const timed = (path: string, data: Buffer) => new Promise<number>((resolve) => {
      const t0 = Date.now();
      const s = connect(path);
      s.on('data', () => {});
      s.on('close', () => resolve(Date.now() - t0));
      s.write(data);
    });
    // Preamble, then nothing: closed by the handshake timeout (not left open).
    const silent = await timed(quick.httpSocket, pre);
    assert.ok(silent >= 250 && silent < 5_000, `silent client closed after ${silent} ms`);
    const socksSilent = await timed(quick.socksSocket, pre);
    assert.ok(socksSilent >= 250 && socksSilent < 5_000, `silent SOCKS client closed after ${socksSilent} ms`);
    // An established tunnel with no traffic either way: closed by the idle timeout.
    const idle = await timed(quick.httpSocket, Buffer.concat([pre, Buffer.from(`CONNECT allowed.test:${echoPort} HTTP/1.1\r\nHost: allowed.test:${echoPort}\r\n\r\n`)]));
    assert.ok(idle >= 250 && idle < 5_000, `idle tunnel closed after ${idle} ms`);
  } finally {
    await quick.close();
  }
});

test('memory stays flat: 300 concurrent tunnels and a slow reader of a 128 MiB download', async () => {
  const before = process.memoryUsage().rss;
  // 300 tunnels held open at once.
  const open: ReturnType<typeof connect>[] = [];
  await Promise.all(Array.from({ length: 300 }, () => new Promise<void>((resolve, reject) => {
    const s = connect(proxies.httpSocket);
    open.push(s);
    s.on('error', reject);
    s.write(pre);
    s.write(`CONNECT allowed.test:${echoPort} HTTP/1.1\r\nHost: allowed.test:${echoPort}\r\n\r\n`);
    s.once('data', (d: Buffer) => (d.toString().startsWith('HTTP/1.1 200') ? resolve() : reject(new Error(d.toString()))));
  })));
  // A slow reader: paused for a while mid-download, so the proxy must stop reading upstream, not buffer.
  const total = 128 * 1024 * 1024;
  let peak = 0;
  const got = await new Promise<number>((resolve, reject) => {
    const s = connect(proxies.httpSocket);
    let n = 0;
    let paused = false;
    s.on('data', (d: Buffer) => {
      n += d.length;
      peak = Math.max(peak, process.memoryUsage().rss);
      if (!paused && n > 8 * 1024 * 1024) {
        paused = true;
        s.pause();
        setTimeout(() => { peak = Math.max(peak, process.memoryUsage().rss); s.resume(); }, 1500);
      }
    });
    s.on('end', () => resolve(n));
    s.on('error', reject);
    s.write(pre);
    s.write(`GET http://allowed.test:${upPort}/bytes/${total} HTTP/1.1\r\nHost: allowed.test:${upPort}\r\nConnection: close\r\n\r\n`);
  });
  for (const s of open) s.destroy();
  assert.ok(got > total, 'the whole body (plus the response head) arrived');
  // The upstream server, the proxy and the clients all live in this process:
  // buffering the paused download would add ~120 MiB; flat means well under that.
  const growth = (peak - before) / 1024 / 1024;
  assert.ok(growth < 80, `RSS grew by ${growth.toFixed(1)} MiB`);
});

test('names in a tunnel, Node\'s side: plain HTTP sent with the CONNECT and half-closed is answered; a server that speaks first to a client that reads nothing is not buffered', async () => {
  // One write and a half-close: the request was read with the CONNECT, and the client has ended before it is served.
  const r = (await rawExchange(proxies.httpSocket, `CONNECT allowed.test:${upPort} HTTP/1.1\r\nHost: allowed.test:${upPort}\r\n\r\nGET /in-tunnel HTTP/1.1\r\nHost: allowed.test:${upPort}\r\n\r\n`, { half: true })).toString();
  assert.match(r, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  assert.match(r, /"url":"\/in-tunnel"/);
  // A server that pushes 256 MiB as soon as it is connected, to a client that neither reads nor sends
  // while its first bytes are awaited: the proxy stops reading the server, it does not hold the bytes.
  const flood = createServer((c) => {
    c.on('error', () => {});
    const chunk = Buffer.alloc(1024 * 1024, 0x62);
    let sent = 0;
    const pump = () => { while (sent < 256) { sent++; if (!c.write(chunk)) return void c.once('drain', pump); } };
    pump();
  });
  await new Promise<void>((res) => flood.listen(0, '127.0.0.1', res));
  const before = process.memoryUsage().rss;
  const s = connect(proxies.httpSocket);
  s.on('error', () => {});
  s.write(pre);
  s.write(`CONNECT allowed.test:${(flood.address() as AddressInfo).port} HTTP/1.1\r\n\r\n`);
  s.pause();
  await new Promise((res) => setTimeout(res, 2000));
  const growth = (process.memoryUsage().rss - before) / 1024 / 1024;
  s.destroy();
  flood.close();
  assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB while the client read nothing`);
});

test('a client gone while its decision is pending: nothing is sent upstream for it, and nothing is left open', async () => {
  const upstreamSeen = () => upstreamConnections;
  const before = upstreamSeen();
  const echoBytesBefore = echoBytes;
  for (const head of [
    `GET http://slow.test:${upPort}/leak HTTP/1.1\r\nHost: slow.test:${upPort}\r\nTransfer-Encoding: identity\r\n\r\n`,
    `GET http://slow.test:${upPort}/leak2 HTTP/1.1\r\nHost: slow.test:${upPort}\r\n\r\n`,
    `CONNECT slow.test:${echoPort} HTTP/1.1\r\nHost: slow.test:${echoPort}\r\n\r\n`,
  ]) {
    const s = connect(proxies.httpSocket);
    s.on('error', () => {});
    s.write(pre);
    s.write(head);
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
  }
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(upstreamSeen() - before, 0, 'no upstream connection for a request whose client had gone');
  // A CONNECT client that went away looks half-closed until a write fails (a half-closed client's
  // tunnel is dialed: it may have sent its bytes with the head): nothing reaches the server, nothing stays open.
  assert.equal(echoBytes - echoBytesBefore, 0, 'no byte through a tunnel whose client had gone');
  assert.equal(echoOpen, 0, 'no tunnel left open');
});

test('a connection that pipelines more than 64 requests at once is cut: the proxy never holds more for it', async () => {
  let requests = 0;
  const counter = createHttpServer((req, res) => { requests++; res.end('x'); });
  await new Promise<void>((r) => counter.listen(0, '127.0.0.1', r));
  const port = (counter.address() as AddressInfo).port;
  const one = `GET /p HTTP/1.1\r\nHost: allowed.test:${port}\r\n\r\n`;
  // In a tunnel (served by the proxy request by request) and as proxied requests.
  for (const [head, req] of [[`CONNECT allowed.test:${port} HTTP/1.1\r\n\r\n`, one], ['', `GET http://allowed.test:${port}/p HTTP/1.1\r\nHost: allowed.test:${port}\r\n\r\n`]] as const) {
    requests = 0;
    // What comes back within 3 s, and whether the proxy closed the connection by then.
    const { out, cut } = await new Promise<{ out: string; cut: boolean }>((resolve) => {
      const c = connect(proxies.httpSocket);
      const parts: Buffer[] = [];
      const timer = setTimeout(() => { c.destroy(); resolve({ out: Buffer.concat(parts).toString(), cut: false }); }, 3000);
      c.on('data', (d: Buffer) => parts.push(d));
      c.on('error', () => {});
      c.on('close', () => { clearTimeout(timer); resolve({ out: Buffer.concat(parts).toString(), cut: true }); });
      c.write(pre);
      c.write(head + req.repeat(500));
    });
    const answered = out.split('HTTP/1.1 200 OK').length - 1;
    assert.ok(cut, 'the proxy cut the connection');
    assert.ok(answered <= 64, `${answered} answers on one connection`);
    assert.ok(requests <= 64, `${requests} requests went upstream`);
  }
  counter.close();
});

