/**
 * first-bytes.ts on real ClientHellos (Node's own TLS client, captured by a
 * TCP server that answers nothing), on HTTP request lines and on the other
 * protocols' first bytes; and on every truncation and many mutations of a
 * real ClientHello, which must never throw nor read as another name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { judgeServerName, judgeTunnel, PEEK_MAX, readFirstBytes } from '../../../src/proxy/first-bytes.js';

/** The bytes a real TLS client sends first, with `servername` (false: none). */
async function clientHello(servername: string | false, opts: { minVersion?: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<Buffer> {
  let got: (b: Buffer) => void = () => {};
  const done = new Promise<Buffer>((r) => { got = r; });
  const server = createServer((s) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => {
      parts.push(d);
      const all = Buffer.concat(parts);
      if (all.length >= 5 && all.length >= 5 + all.readUInt16BE(3)) { got(all); s.destroy(); }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ...(servername === false ? {} : { servername }), rejectUnauthorized: false, ...opts });
  c.on('error', () => {});
  const hello = await done;
  c.destroy();
  server.close();
  return hello;
}

test('a real ClientHello gives its server name (TLS 1.3 and 1.2), and none when the client sends none', async () => {
  assert.deepEqual(readFirstBytes(await clientHello('api.example.com')), { kind: 'tls', serverName: 'api.example.com' });
  assert.deepEqual(readFirstBytes(await clientHello('API.Example.com', { maxVersion: 'TLSv1.2' })), { kind: 'tls', serverName: 'API.Example.com' });
  assert.deepEqual(readFirstBytes(await clientHello(false)), { kind: 'tls' });
});

test('a ClientHello split over two TLS records, or arriving a byte at a time, still reads', async () => {
  const hello = await clientHello('split.example');
  const body = hello.subarray(5);
  const rec = (b: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 255]), b]);
  const two = Buffer.concat([rec(body.subarray(0, 7)), rec(body.subarray(7))]);
  assert.deepEqual(readFirstBytes(two), { kind: 'tls', serverName: 'split.example' });
  for (let n = 0; n < hello.length; n++) assert.deepEqual(readFirstBytes(hello.subarray(0, n)), { kind: 'more' }, `cut at ${n}`);
  for (let n = 1; n < hello.length; n++) assert.equal(readFirstBytes(hello.subarray(0, n), true).kind, 'bad', `ended at ${n}`);
});

test('every one-byte change of a real ClientHello reads as its name, another readable name, more, or bad: never throws', async () => {
  const hello = await clientHello('fuzz.example');
  let names = 0;
  for (let i = 0; i < hello.length; i++) {
    for (const v of [0, 1, 0x7f, 0xff, hello[i]! ^ 0x20]) {
      const m = Buffer.from(hello);
      m[i] = v;
      const r = readFirstBytes(m);
      assert.ok(['tls', 'more', 'bad', 'opaque', 'http'].includes(r.kind));
      if (r.kind === 'tls' && r.serverName !== undefined) names++;
    }
  }
  assert.ok(names > 0);
  // Random bytes after a handshake record header: never a throw.
  for (let i = 0; i < 2000; i++) {
    const len = 1 + Math.floor(Math.random() * 600);
    const m = Buffer.concat([Buffer.from([22, 3, 1, len >> 8, len & 255, 1, 0, (len - 4) >> 8, (len - 4) & 255]), Buffer.from(Array.from({ length: len - 4 }, () => Math.floor(Math.random() * 256)))]);
    readFirstBytes(m);
  }
});

/** A minimal ClientHello with the given extensions (type, data). */
function hello(exts: [number, Buffer][]): Buffer {
  const ext = Buffer.concat(exts.map(([t, d]) => Buffer.concat([Buffer.from([t >> 8, t & 255, d.length >> 8, d.length & 255]), d])));
  const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0]), Buffer.from([ext.length >> 8, ext.length & 255]), ext]);
  const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
  return Buffer.concat([Buffer.from([22, 3, 1, hs.length >> 8, hs.length & 255]), hs]);
}
function sni(...names: string[]): Buffer {
  const entries = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0, n.length >> 8, n.length & 255]), Buffer.from(n)])));
  return Buffer.concat([Buffer.from([entries.length >> 8, entries.length & 255]), entries]);
}

test('names that could be read two ways are refused: two host_names, two server_name extensions, Encrypted Client Hello', () => {
  assert.deepEqual(readFirstBytes(hello([[0, sni('a.example')]])), { kind: 'tls', serverName: 'a.example' });
  assert.equal(readFirstBytes(hello([[0, sni('a.example', 'b.example')]])).kind, 'bad');
  assert.equal(readFirstBytes(hello([[0, sni('a.example')], [0, sni('b.example')]])).kind, 'bad');
  assert.equal(readFirstBytes(hello([[0, sni('a.example')], [0xfe0d, Buffer.alloc(40, 1)]])).kind, 'bad');
  // A server_name list whose length disagrees with its extension.
  const wrong = sni('a.example');
  wrong[1]! += 1;
  assert.equal(readFirstBytes(hello([[0, wrong]])).kind, 'bad');
  // A record that is not a handshake, or a handshake that is not a ClientHello.
  assert.equal(readFirstBytes(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])).kind, 'bad');
  assert.equal(readFirstBytes(Buffer.from([22, 2, 0, 0, 4, 1, 0, 0, 0])).kind, 'bad');
});

test('HTTP: a request line, after the empty lines servers skip; a line not yet whole waits; other protocols are opaque', () => {
  assert.deepEqual(readFirstBytes(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), { kind: 'http' });
  assert.deepEqual(readFirstBytes(Buffer.from('\r\n\r\nPOST /x HTTP/1.0\r\n')), { kind: 'http' });
  assert.deepEqual(readFirstBytes(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), { kind: 'http' });
  assert.deepEqual(readFirstBytes(Buffer.from('GET / HT')), { kind: 'more' });
  assert.deepEqual(readFirstBytes(Buffer.from('GET / HT'), true), { kind: 'opaque' });
  assert.deepEqual(readFirstBytes(Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n')), { kind: 'opaque' });
  assert.deepEqual(readFirstBytes(Buffer.from([0, 0, 0, 0x29, 0, 3, 0, 0])), { kind: 'opaque' }); // a Postgres StartupMessage
  assert.deepEqual(readFirstBytes(Buffer.from('GET /' + 'a'.repeat(PEEK_MAX))), { kind: 'bad', why: 'a first line longer than cordon reads' });
});

test('judgement: the name must be the target\'s (case and one trailing dot aside); no name only to an address', () => {
  assert.deepEqual(judgeServerName('api.example.com', 443, 'API.example.com.'), { ok: true });
  assert.equal(judgeServerName('api.example.com', 443, 'evil.example.com').ok, false);
  assert.equal(judgeServerName('api.example.com', 443, undefined).ok, false);
  assert.deepEqual(judgeServerName('192.0.2.1', 443, undefined), { ok: true });
  assert.deepEqual(judgeServerName('2001:db8::1', 443, undefined), { ok: true });
  assert.equal(judgeServerName('192.0.2.1', 443, 'evil.example').ok, false);
  assert.deepEqual(judgeTunnel('a.example', 443, { kind: 'opaque' }), { action: 'go' });
  assert.deepEqual(judgeTunnel('a.example', 80, { kind: 'http' }), { action: 'http' });
  const r = judgeTunnel('a.example', 443, { kind: 'tls', serverName: 'b.example' });
  assert.equal(r.action, 'refuse');
  assert.match((r as { message: string }).message, /"b\.example"/);
  assert.equal(judgeTunnel('a.example', 443, { kind: 'bad', why: 'x' }).action, 'refuse');
});

test('a cleartext request for TLS (Postgres) is a preamble passed on, and the ClientHello after it is judged', async () => {
  const ssl = Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]);
  assert.deepEqual(readFirstBytes(ssl.subarray(0, 5)), { kind: 'more' });
  assert.deepEqual(readFirstBytes(ssl), { kind: 'preamble', length: 8 });
  assert.deepEqual(readFirstBytes(Buffer.concat([ssl, await clientHello('db.example')])), { kind: 'preamble', length: 8 });
  assert.deepEqual(readFirstBytes(await clientHello('db.example')), { kind: 'tls', serverName: 'db.example' });
});

test('headers and hellos that carry no name or another address are refused: PROXY v1/v2 (even a piece at a time), SSLv2, ESNI; a ClientHello in too many records', async () => {
  assert.equal(readFirstBytes(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')).kind, 'bad');
  const v2 = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
  for (let n = 1; n < v2.length; n++) assert.deepEqual(readFirstBytes(v2.subarray(0, n)), { kind: 'more' }, `v2 cut at ${n}`);
  assert.equal(readFirstBytes(Buffer.concat([v2, Buffer.from([0x21, 0x11, 0, 12])])).kind, 'bad');
  assert.equal(readFirstBytes(Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x03, 0, 0x15])).kind, 'bad');
  assert.equal(readFirstBytes(hello([[0, sni('a.example')], [0xffce, Buffer.alloc(20, 2)]])).kind, 'bad');
  const body = (await clientHello('many.example')).subarray(5);
  const recs = Buffer.concat(Array.from({ length: 20 }, (_, i) => body.subarray(i, i + 1)).map((b) => Buffer.concat([Buffer.from([22, 3, 1, 0, 1]), b])));
  assert.match((readFirstBytes(recs) as { why: string }).why, /more than 16 TLS records/);
});

test('a request line split on tabs or other whitespace is still HTTP (served and judged, never spliced)', () => {
  assert.deepEqual(readFirstBytes(Buffer.from('GET\t/\tHTTP/1.1\r\nHost: evil\r\n\r\n')), { kind: 'http' });
  assert.deepEqual(readFirstBytes(Buffer.from('GET /\x0bHTTP/1.1\r\n')), { kind: 'http' });
  assert.deepEqual(readFirstBytes(Buffer.from('GET\t/')), { kind: 'more' });
});
