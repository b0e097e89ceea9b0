import { test } from 'node:test';
import assert from 'node:assert/strict';
import { carriesCredentials, credentialSpellings, parentProxy, parseNoProxy, proxyUrl, routeThrough } from '../../../src/network/parent-proxy.js';
import { parseHost, type Host } from '../../../src/network/host.js';
import { CordonError } from '../../../src/errors.js';

const W = { file: 's.json', keyPath: 'network.parentProxy.http' };
const h = (s: string): Host => { const p = parseHost(s); assert.ok(p.ok); return p.host; };

test('proxyUrl: http:// with or without a port, schemeless host:port, IPv6; user and password become Basic, shown without the password', () => {
  assert.deepEqual(proxyUrl('http://proxy.corp:3128', W), { host: 'proxy.corp', port: 3128, shown: 'http://proxy.corp:3128' });
  assert.deepEqual(proxyUrl('http://proxy.corp', W), { host: 'proxy.corp', port: 80, shown: 'http://proxy.corp' });
  assert.deepEqual(proxyUrl('proxy.corp:8080', W), { host: 'proxy.corp', port: 8080, shown: 'http://proxy.corp:8080' });
  assert.deepEqual(proxyUrl('http://[2001:db8::1]:3128/', W), { host: '2001:db8::1', port: 3128, shown: 'http://[2001:db8::1]:3128' });
  const p = proxyUrl('http://al%40ce:p%3Ass@proxy.corp:3128', W);
  assert.equal(p.authorization, `Basic ${Buffer.from('al@ce:p:ss').toString('base64')}`);
  assert.equal(p.shown, 'http://al@ce@proxy.corp:3128');
  assert.ok(!p.shown.includes('p:ss'));
});

test('proxyUrl: what cordon cannot use is an error naming where it came from, the password never in it', () => {
  for (const [raw, why] of [
    ['https://proxy.corp:3128', /does not speak TLS/], ['socks5://proxy.corp:1080', /socks5 is not a proxy/], ['http://proxy.corp:3128/path', /no path/],
    ['http://:3128', /http:\/\/ proxy URL/], ['http://u:hunter22@proxy.corp:99999', /http:\/\/ proxy URL/], ['http://u:hunter22@proxy.corp:0', /port from 1/],
    ['http://u:hunter22%zz@proxy.corp:1', /percent-encoded/], ['http://u:pa/hunter22@proxy:1', /./], ['https://u:abc:hunter22@proxy:1', /./],
  ] as const) {
    assert.throws(() => proxyUrl(raw, W), (e: unknown) => e instanceof CordonError && why.test(e.message) && e.message.includes('s.json') && !e.message.includes('hunter22') && !e.message.includes('abc'), raw);
  }
});

test('parseNoProxy: names with and without a leading dot or *., addresses, CIDR, ports, "*"; junk refused', () => {
  const n = parseNoProxy(' .internal.corp, *.svc , example.com:8080,10.0.0.0/8, [::1]:443, 192.0.2.7', W);
  const p = { http: proxyUrl('http://proxy.corp:3128', W), noProxy: n, source: 'x' };
  const via = (host: string, port = 443) => routeThrough(p, h(host), port, false) !== undefined;
  assert.equal(via('internal.corp'), false);
  assert.equal(via('a.b.internal.corp'), false);
  assert.equal(via('xinternal.corp'), true, 'a suffix matches at a dot only');
  assert.equal(via('api.svc'), false);
  assert.equal(via('example.com', 8080), false);
  assert.equal(via('example.com', 443), true, 'an entry with a port holds for that port only');
  assert.equal(via('10.20.30.40'), false);
  assert.equal(via('192.0.2.7'), false);
  assert.equal(via('192.0.2.8'), true);
  assert.equal(via('example.org'), true);
  assert.equal(routeThrough({ ...p, noProxy: parseNoProxy('*', W) }, h('example.org'), 443, false), undefined);
  assert.throws(() => parseNoProxy('exa mple$.com', W), /NO_PROXY entries/);
});

test('routeThrough: tunnels use the https proxy (else the http one), plain HTTP only the http one; loopback never goes through', () => {
  const http = proxyUrl('http://p1:1', W);
  const https = proxyUrl('http://p2:2', W);
  assert.equal(routeThrough({ http, https, noProxy: [], source: 'x' }, h('example.com'), 443, false), https);
  assert.equal(routeThrough({ http, https, noProxy: [], source: 'x' }, h('example.com'), 80, true), http);
  assert.equal(routeThrough({ http, noProxy: [], source: 'x' }, h('example.com'), 443, false), http);
  assert.equal(routeThrough({ https, noProxy: [], source: 'x' }, h('example.com'), 80, true), undefined, 'plain HTTP goes direct with only an https proxy (as curl does)');
  for (const lo of ['localhost', 'a.localhost', '127.0.0.1', '127.9.9.9', '::1']) assert.equal(routeThrough({ http, https, noProxy: [], source: 'x' }, h(lo), 443, false), undefined, lo);
  assert.equal(routeThrough(undefined, h('example.com'), 443, false), undefined);
});

test('parentProxy: a settings file wins over the environment; the environment is read lower case first, HTTPS_PROXY falling back to HTTP_PROXY', () => {
  const env = { HTTP_PROXY: 'http://envproxy:1', NO_PROXY: 'skip.me' };
  const fromFile = parentProxy({ value: { https: 'http://fileproxy:2' }, file: 'u.json' }, env)!;
  assert.equal(fromFile.https?.host, 'fileproxy');
  assert.equal(fromFile.http, undefined);
  assert.deepEqual(fromFile.noProxy, []);
  assert.equal(fromFile.source, 'u.json: network.parentProxy');
  const fromEnv = parentProxy(undefined, env)!;
  assert.equal(fromEnv.http?.host, 'envproxy');
  assert.equal(fromEnv.https?.host, 'envproxy');
  assert.deepEqual(fromEnv.noProxy, [{ suffix: 'skip.me' }]);
  assert.equal(parentProxy(undefined, { http_proxy: 'http://lower:1', HTTP_PROXY: 'http://upper:1' })!.http?.host, 'lower');
  assert.equal(parentProxy(undefined, {}), undefined);
  assert.equal(parentProxy({ value: { http: '', https: '' }, file: 'u.json' }, env), undefined, 'empty strings in a file: no upstream proxy, whatever the environment says');
  assert.throws(() => parentProxy(undefined, { HTTPS_PROXY: 'socks5h://x:1' }), (e: unknown) => e instanceof CordonError && /environment/.test(e.message) && /HTTPS_PROXY/.test(e.message) && /set network\.parentProxy/.test(e.message));
});

test('a NO_PROXY list is checked even with no proxy URL beside it; the credentials are found in every spelling a variable could carry them in', () => {
  assert.throws(() => parentProxy({ value: { noProxy: '!!bad!!' }, file: 's.json' }, {}), /NO_PROXY entries/);
  assert.equal(parentProxy({ value: { noProxy: '.corp' }, file: 's.json' }, { HTTPS_PROXY: 'http://envproxy:1' }), undefined);
  const p = parentProxy({ value: { http: 'http://corp:pw%2DSecr3t%2D4@proxy.corp:3128' }, file: 's.json' }, {})!;
  assert.deepEqual(credentialSpellings(p).sort(), ['pw%2DSecr3t%2D4', 'pw-Secr3t-4', Buffer.from('corp:pw-Secr3t-4').toString('base64')].sort());
  assert.deepEqual(credentialSpellings(parentProxy({ value: { http: 'http://corp:pw@proxy.corp:3128' }, file: 's.json' }, {})), [Buffer.from('corp:pw').toString('base64')], 'a password under 4 characters is not looked for alone');
  assert.equal(carriesCredentials({ http: 'http://corp:pw@proxy.corp:3128' }), true);
  assert.equal(carriesCredentials({ http: 'http://proxy.corp:3128', https: '' }), false);
});
