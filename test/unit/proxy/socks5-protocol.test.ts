import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAuth, parseGreeting, parseRequest, REP, reply } from '../../../src/proxy/socks5-protocol.js';

const b = (...x: number[]) => Buffer.from(x);

test('greeting: "no authentication" preferred, username/password accepted; partial input waits', () => {
  assert.deepEqual(parseGreeting(b(5)), { kind: 'need-more' });
  assert.deepEqual(parseGreeting(b(5, 2, 0)), { kind: 'need-more' });
  const ok = parseGreeting(b(5, 1, 2));
  assert.equal(ok.kind, 'greeting');
  assert.deepEqual((ok as any).reply, b(5, 2));
  assert.equal((parseGreeting(b(5, 2, 0, 2)) as any).consumed, 4);
  assert.equal((ok as any).consumed, 3);
  const noauth = parseGreeting(b(5, 1, 0));
  assert.equal(noauth.kind, 'greeting');
  assert.deepEqual((noauth as any).reply, b(5, 0));
  assert.deepEqual((parseGreeting(b(5, 2, 2, 0)) as any).reply, b(5, 0));
  const gssapiOnly = parseGreeting(b(5, 1, 1));
  assert.equal(gssapiOnly.kind, 'error');
  assert.deepEqual((gssapiOnly as any).reply, b(5, 0xff));
  assert.equal(parseGreeting(b(4, 1, 0)).kind, 'error');
  assert.equal(parseGreeting(b(5, 0)).kind, 'error');
});

test('auth: RFC 1929 fields, split across reads', () => {
  const msg = Buffer.concat([b(1, 6), Buffer.from('cordon'), b(5), Buffer.from('s3cr3')]);
  for (let cut = 0; cut < msg.length; cut++) assert.deepEqual(parseAuth(msg.subarray(0, cut)), { kind: 'need-more' }, `cut ${cut}`);
  assert.deepEqual(parseAuth(msg), { kind: 'auth', consumed: msg.length, username: 'cordon', password: 's3cr3' });
  assert.equal(parseAuth(b(2, 0, 0)).kind, 'error');
});

test('request: IPv4, domain, IPv6; unsupported commands and types get the right reply code', () => {
  assert.deepEqual(parseRequest(b(5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90)), { kind: 'request', consumed: 10, host: '127.0.0.1', port: 8080, addressType: 'ipv4' });
  const name = Buffer.from('example.com');
  const dom = Buffer.concat([b(5, 1, 0, 3, name.length), name, b(1, 187)]);
  assert.deepEqual(parseRequest(dom), { kind: 'request', consumed: dom.length, host: 'example.com', port: 443, addressType: 'domain' });
  for (let cut = 0; cut < dom.length; cut++) assert.equal(parseRequest(dom.subarray(0, cut)).kind, 'need-more');
  const v6 = Buffer.concat([b(5, 1, 0, 4), Buffer.from('00000000000000000000ffff7f000001', 'hex'), b(0, 80)]);
  assert.deepEqual(parseRequest(v6), { kind: 'request', consumed: 22, host: '0:0:0:0:0:ffff:7f00:1', port: 80, addressType: 'ipv6' });
  const bind = parseRequest(b(5, 2, 0, 1, 1, 2, 3, 4, 0, 80));
  assert.equal(bind.kind, 'error');
  assert.deepEqual((bind as any).reply, reply(REP.commandNotSupported));
  const udp = parseRequest(b(5, 3, 0, 1, 1, 2, 3, 4, 0, 80));
  assert.deepEqual((udp as any).reply, reply(REP.commandNotSupported));
  assert.deepEqual((parseRequest(b(5, 1, 0, 9, 0, 0)) as any).reply, reply(REP.addressTypeNotSupported));
  assert.equal(parseRequest(b(5, 1, 0, 3, 0, 0, 80)).kind, 'error');
});
