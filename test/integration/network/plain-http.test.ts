/**
 * Plain-HTTP requests through the relay's own forwarding (cordon-relay.c,
 * "plain-HTTP requests"; the proxy's side is http-proxy.ts forwardByRelay):
 * the proxy judges and rewrites every head, the relay copies bodies and
 * frames responses. Real cordon, a raw Python client inside, and a scripted
 * server on each test host that answers with exact bytes (chunked with
 * extensions and trailers, bodies that end with the close, 1xx, bodiless
 * answers that carry lengths, Connection: close, an unframeable answer).
 * What crossed is judged from the servers' records and the exact bytes the
 * client received.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT } from '../../helpers/cordon.js';
import { createWorld, HOST_PORTS, worldSkipReason, type World, type WorldRecord } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 60_000 };
/** In the checkout; commands under cordon run its copy in the world (a checkout under /tmp is hidden by the sandbox's private /tmp). */
const EXCHANGE = join(ROOT, 'test', 'integration', 'network', 'fixtures', 'exchange.py');

type Step = { send: string } | { shut: true } | { read: number | 'eof' };

describe('plain HTTP forwarded by the relay', { skip }, () => {
  let w: World;
  let proj: string;
  let home: string;
  let exchangePy: string;
  let api: string;
  let evil: string;
  before(async () => {
    w = await createWorld();
    const root = realpathSync(mkdtempSync('/var/tmp/cordon-plain-'));
    proj = join(root, 'proj');
    home = join(root, 'home');
    mkdirSync(proj);
    mkdirSync(home);
    exchangePy = join(root, 'exchange.py');
    copyFileSync(EXCHANGE, exchangePy);
    api = `${w.host('api').fqdn}:${HOST_PORTS.httpRaw}`;
    evil = `${w.host('evil').fqdn}:${HOST_PORTS.httpRaw}`;
  });
  after(async () => {
    await w?.close();
    if (proj) rmSync(join(proj, '..'), { recursive: true, force: true });
  });

  const run = async (allow: string[], script: string) => {
    const r = await w.run([process.execPath, CLI, ...allow.flatMap((d) => ['--allow-domain', d]), '--', '/bin/sh', '-c', script], {
      cwd: proj, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' }, timeoutMs: 45_000,
    });
    return r;
  };
  /** Runs the steps on one connection inside the sandbox; both test hosts allowed unless `allow` says otherwise. */
  const exchange = async (steps: Step[], allow = [w.host('api').fqdn, w.host('evil').fqdn]) => {
    const file = join(proj, 'steps.json');
    writeFileSync(file, JSON.stringify(steps));
    const r = await run(allow, `python3 ${exchangePy} "$(cat steps.json)"`);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { reads: string[]; end: string };
  };
  const get = (authority: string, path: string, extra = '') => `GET http://${authority}${path} HTTP/1.1\r\nHost: ${authority}\r\nProxy-Connection: keep-alive\r\n${extra}\r\n`;
  const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
  const fresh = async () => { await w.settle(); w.clearRecords(); };
  const records = async (host: 'api' | 'evil', event: 'request' | 'connect') => {
    await w.settle();
    return w.records(w.host(host)).filter((r: WorldRecord) => r.proto === 'http-raw' && r.event === event);
  };

  it('every response framing passes through exactly, pipelined on one kept-alive connection, to one upstream connection', T, async () => {
    await fresh();
    const requests = [
      get(api, '/chunked', 'X-Bytes: caf\u00e9\r\n'),
      get(api, '/204'),
      get(api, '/304'),
      get(api, '/interim'),
      `POST http://${api}/echo HTTP/1.1\r\nHost: ${api}\r\nContent-Length: 3\r\n\r\nabc`,
      get(api, '/close-after'),
    ];
    const want = [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="a b"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
      'HTTP/1.1 204 No Content\r\nContent-Length: 100\r\n\r\n',
      'HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n',
      `HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n${ok('after 103')}`,
      ok('api POST /echo 3\n'),
      ok('closing', 'Connection: close\r\n'),
    ];
    const r = await exchange([{ send: requests.join('') }, { shut: true }, { read: 'eof' }]);
    assert.equal(r.end, 'eof');
    assert.equal(r.reads[0], want.join(''));
    const reqs = await records('api', 'request');
    assert.deepEqual(reqs.map((x) => `${x.method} ${x.path} ${x.bytes}`), ['GET /chunked 0', 'GET /204 0', 'GET /304 0', 'GET /interim 0', 'POST /echo 3', 'GET /close-after 0']);
    assert.equal((await records('api', 'connect')).length, 1, 'one upstream connection for the kept-alive client connection');
    // The server got the proxy's rewrite: origin form, no proxy headers, other header bytes as sent.
    assert.match(reqs[0]!.requestHead!, /^GET \/chunked HTTP\/1\.1\r\n/);
    assert.doesNotMatch(reqs[0]!.requestHead!, /proxy-connection/i);
    assert.match(reqs[0]!.requestHead!, /\r\nX-Bytes: caf\u00e9(\r\n|$)/);
  });

  it('a body that ends with the close reaches the client whole, then the close', T, async () => {
    await fresh();
    const r = await exchange([{ send: get(api, '/until-close') }, { read: 'eof' }]);
    assert.deepEqual(r, { reads: ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends with the close'], end: 'eof' });
  });

  it('an answer nobody can frame ends the client connection instead of being guessed at', T, async () => {
    await fresh();
    const r = await exchange([{ send: get(api, '/unframeable') }, { read: 'eof' }]);
    assert.deepEqual(r, { reads: [''], end: 'eof' });
  });

  it('after a server closes, the next request on the same client connection dials again', T, async () => {
    await fresh();
    const first = ok('closing', 'Connection: close\r\n');
    const second = ok('api GET /again 0\n');
    const r = await exchange([{ send: get(api, '/close-after') }, { read: first.length }, { send: get(api, '/again') }, { read: second.length }]);
    assert.deepEqual(r.reads, [first, second]);
    assert.equal((await records('api', 'connect')).length, 2);
  });

  it('pipelined requests to different hosts are answered in order, each by its own host', T, async () => {
    await fresh();
    const r = await exchange([{ send: get(api, '/one') + get(evil, '/two') + get(api, '/three') }, { shut: true }, { read: 'eof' }]);
    assert.equal(r.reads[0], ok('api GET /one 0\n') + ok('evil GET /two 0\n') + ok('api GET /three 0\n'));
    assert.deepEqual((await records('api', 'request')).map((x) => x.path), ['/one', '/three']);
    assert.deepEqual((await records('evil', 'request')).map((x) => x.path), ['/two']);
  });

  it('a refused request after allowed ones gets its 403 after their answers; nothing reaches the refused host', T, async () => {
    await fresh();
    const r = await exchange([{ send: get(api, '/first') + get(evil, '/denied') }, { shut: true }, { read: 'eof' }], [w.host('api').fqdn]);
    const [answer, refusal] = [r.reads[0]!.slice(0, ok('api GET /first 0\n').length), r.reads[0]!.slice(ok('api GET /first 0\n').length)];
    assert.equal(answer, ok('api GET /first 0\n'));
    assert.match(refusal, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(refusal, /X-Cordon-Reason: not-allowlisted/);
    assert.deepEqual(await records('evil', 'connect'), []);
  });

  it('request smuggling: a request inside a body stays body; conflicting lengths and bare-LF heads never split', T, async () => {
    await fresh();
    const inner = `GET http://${evil}/smuggled HTTP/1.1\r\nHost: ${evil}\r\n\r\n`;
    const r1 = await exchange([{ send: `POST http://${api}/carrier HTTP/1.1\r\nHost: ${api}\r\nContent-Length: ${inner.length}\r\n\r\n${inner}` }, { shut: true }, { read: 'eof' }]);
    assert.equal(r1.reads[0], ok(`api POST /carrier ${inner.length}\n`));
    // Content-Length with Transfer-Encoding, and two lengths: refused by the proxy's parser.
    const r2 = await exchange([{ send: `POST http://${api}/both HTTP/1.1\r\nHost: ${api}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${inner}` }, { shut: true }, { read: 'eof' }]);
    assert.match(r2.reads[0]!, /^HTTP\/1\.1 400 /);
    const r3 = await exchange([{ send: `POST http://${api}/two HTTP/1.1\r\nHost: ${api}\r\nContent-Length: 0\r\nContent-Length: ${inner.length}\r\n\r\n${inner}` }, { shut: true }, { read: 'eof' }]);
    assert.doesNotMatch(r3.reads[0]!, /^HTTP\/1\.1 200 /);
    // Bare LF line ends: the relay does not frame those; the proxy serves the connection.
    const r4 = await exchange([{ send: `GET http://${api}/lf HTTP/1.1\nHost: ${api}\n\n${inner}` }, { shut: true }, { read: 'eof' }]);
    assert.ok(!r4.reads[0]!.includes('/smuggled'));
    const all = [...(await records('api', 'request')), ...(await records('evil', 'request'))];
    assert.deepEqual(all.filter((x) => x.path?.includes('smuggled')), [], 'no smuggled request reached any server');
    assert.deepEqual(await records('evil', 'connect'), []);
    assert.deepEqual((await records('api', 'request')).filter((x) => x.path === '/carrier').map((x) => x.bytes), [inner.length]);
  });

  it('HEAD, HTTP/1.0 and chunked request bodies are served by the proxy itself and still work', T, async () => {
    await fresh();
    const r1 = await exchange([{ send: `GET http://${api}/old HTTP/1.0\r\nHost: ${api}\r\n\r\n` }, { read: 'eof' }]);
    assert.match(r1.reads[0]!, /^HTTP\/1\.1 200 OK\r\n[\s\S]*api GET \/old 0\n$/);
    const host80 = w.host('api').fqdn;
    writeFileSync(join(proj, 'body.bin'), Buffer.alloc(3 * 1024 * 1024, 'x'));
    // curl sends Expect: 100-continue for a body this big: the server's 100 passes through.
    const r2 = await run([host80], `curl -sS -w ' %{http_code}\\n' --data-binary @body.bin http://${host80}/upload; curl -sS -w ' %{http_code}\\n' -H 'Transfer-Encoding: chunked' --data-binary @body.bin http://${host80}/upload; curl -sS -I -o /dev/null -w '%{http_code}\\n' http://${host80}/hello`);
    assert.equal(r2.stdout, `{"bytes":${3 * 1024 * 1024}}\n 200\n{"bytes":${3 * 1024 * 1024}}\n 200\n200\n`, r2.stderr);
  });
});
