/**
 * network.parentProxy and network.mitmProxy (src/network/parent-proxy.ts, src/proxy/parent.ts):
 * real curl inside real cordon, as root and as an unprivileged user, whose
 * allowed connections leave through an upstream proxy made here (a small
 * CONNECT and absolute-form proxy on the host's loopback that records what
 * it is asked and knows a name the host cannot resolve, as a corporate proxy
 * does). Every way out goes through it (CONNECT, plain HTTP, SOCKS5, the
 * upstream leg of a terminated tunnel); its credentials reach it and nothing
 * inside; the rules still decide first; NO_PROXY and a wrong password do
 * what they say; the sandbox cannot reach the upstream proxy by itself.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { netRunner, netWorld, PY_TUNNELS, RUNNERS } from '../../helpers/net-run.js';
import { worldSkipReason, type World } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 90_000 };
/** A name only the upstream proxy can resolve (the world's resolver answers NXDOMAIN for it). */
const HIDDEN = 'hidden.test.cordon';
const USER = 'corp';
const PASSWORD = 'pw-Secr3t-4-proxy';

interface Asked { readonly method: string; readonly target: string; readonly auth: string | undefined; readonly maxForwards?: string }

/** The upstream proxy: one request (or CONNECT) per connection, answered 407 without the right credentials (unless `open`). */
function upstreamProxy(names: () => Record<string, string>, open = false): { server: Server; asked: Asked[]; port: () => number } {
  const asked: Asked[] = [];
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const server = createServer((c: Socket) => {
    c.on('error', () => c.destroy());
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      c.off('data', onData);
      const head = buf.subarray(0, end).toString('latin1').split('\r\n');
      const rest = buf.subarray(end + 4);
      const [method = '', target = ''] = head[0]!.split(' ');
      const auth = head.find((l) => /^proxy-authorization:/i.test(l))?.replace(/^[^:]*:\s*/, '');
      const maxForwards = head.find((l) => /^max-forwards:/i.test(l))?.replace(/^[^:]*:\s*/, '');
      asked.push({ method, target, auth, ...(maxForwards !== undefined ? { maxForwards } : {}) });
      if (!open && auth !== expected) return void c.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n');
      const authority = method === 'CONNECT' ? target : new URL(target).host;
      const [host, port] = [authority.replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(authority)?.[1] ?? 80)];
      const address = names()[host] ?? names()[`${host}:${port}`];
      if (!address) return void c.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      const up = connect({ host: address, port });
      up.on('error', () => c.destroy());
      c.on('close', () => up.destroy());
      up.once('connect', () => {
        if (method === 'CONNECT') {
          c.write('HTTP/1.1 200 Connection established\r\n\r\n');
          if (rest.length) up.write(rest);
        } else {
          const u = new URL(target);
          const lines = [`${method} ${u.pathname}${u.search} HTTP/1.1`, ...head.slice(1).filter((l) => !/^proxy-/i.test(l))];
          up.write(`${lines.join('\r\n')}\r\n\r\n`);
          if (rest.length) up.write(rest);
        }
        c.pipe(up);
        up.pipe(c);
      });
    };
    c.on('data', onData);
  });
  return { server, asked, port: () => (server.address() as { port: number }).port };
}

describe('network.parentProxy', { skip }, () => {
  let w: World;
  let root: string;
  let proxy: ReturnType<typeof upstreamProxy>;
  let mitm: ReturnType<typeof upstreamProxy>;
  let mitmSocket: string;
  /** A server that speaks first (as SMTP does), on the host's loopback: reached only through the upstream proxy. */
  let banner: Server;
  netWorld('cordon-parent-', (world, dir) => { w = world; root = dir; });
  before(async () => {
    banner = createServer((c) => { c.on('error', () => {}); c.end('220 banner.test.cordon ready\r\n'); });
    await new Promise<void>((r) => banner.listen(0, '127.0.0.1', r));
    proxy = upstreamProxy(() => ({ [HIDDEN]: w.host('api').ipv4, [w.host('api').fqdn]: w.host('api').ipv4, 'banner.test.cordon': '127.0.0.1' }));
    await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', r));
    // The inspecting proxy, on a Unix socket any local user may connect to (as one run for a team would be).
    mitm = upstreamProxy(() => ({ [HIDDEN]: w.host('api').ipv4 }), true);
    mitmSocket = join(root, 'mitm.sock');
    await new Promise<void>((r) => mitm.server.listen(mitmSocket, r));
    chmodSync(mitmSocket, 0o777);
  });
  after(async () => {
    proxy?.server.close();
    mitm?.server.close();
    banner?.close();
  });

  const parent = (password = PASSWORD, more: object = {}) => ({ http: `http://${USER}:${password}@127.0.0.1:${proxy.port()}`, ...more });

  for (const runner of RUNNERS) {
    const run = netRunner(() => w, () => root, runner);
    describe(`as ${runner.who}`, () => {
      it('CONNECT, plain HTTP and SOCKS5 all leave through it, to a name the host cannot resolve, with its credentials; nothing inside carries the password', T, async () => {
        proxy.asked.length = 0;
        const script = [
          `curl -sSk -o /dev/null -w 'connect %{http_code}\\n' https://${HIDDEN}/x`,
          `curl -sS -o /dev/null -w 'plain %{http_code}\\n' http://${HIDDEN}/y`,
          `curl -sSk --socks5-hostname 127.0.0.1:1080 -o /dev/null -w 'socks %{http_code}\\n' https://${HIDDEN}/z`,
          // The upstream proxy by itself, from inside: the sandbox's own loopback has nothing there.
          `curl -sS --max-time 5 -x http://127.0.0.1:${proxy.port()} -o /dev/null http://${HIDDEN}/direct 2>/dev/null || echo 'direct refused'`,
          // FTP_PROXY and RSYNC_PROXY (given to cordon below) carry the password, the second percent-encoded: withheld.
          // Counted by the user part, so the password is in no argv; so is the settings file, which holds it too.
          `env | grep -c '${USER}:' || true`,
          `cat ../settings.json 2>/dev/null | grep -c '${USER}:' || true`,
        ].join('\n');
        const encoded = PASSWORD.replace(/-/g, '%2D');
        const r = await run({ network: { allowedDomains: [HIDDEN], parentProxy: parent() } }, script, { env: { FTP_PROXY: `http://${USER}:${PASSWORD}@127.0.0.1:1`, RSYNC_PROXY: `${USER}:${encoded}@127.0.0.1:1` } });
        assert.equal(r.stdout, 'connect 200\nplain 200\nsocks 200\ndirect refused\n0\n0\n', r.stderr);
        const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
        assert.deepEqual(proxy.asked.map((a) => `${a.method} ${a.target}`), [`CONNECT ${HIDDEN}:443`, `GET http://${HIDDEN}:80/y`, `CONNECT ${HIDDEN}:443`]);
        assert.ok(proxy.asked.every((a) => a.auth === auth));
        const allowed = r.events.filter((e) => e.type === 'net.allowed') as unknown as { parentProxy?: string; address?: string }[];
        assert.equal(allowed.length, 3);
        assert.ok(allowed.every((e) => e.parentProxy === `http://${USER}@127.0.0.1:${proxy.port()}` && e.address === '127.0.0.1'));
        assert.ok(!r.log.includes(PASSWORD) && !r.log.includes(auth.slice(6)), `the audit log has neither the password nor its Basic form: ${r.log.split('\n').filter((l) => l.includes(PASSWORD) || l.includes(auth.slice(6))).join('\n')}`);
      });

      it('the rules decide first: a denied or unlisted name never reaches it; NO_PROXY goes direct; a wrong password is its refusal, not a way around it', T, async () => {
        proxy.asked.length = 0;
        const api = w.host('api').fqdn;
        const script = [
          `curl -sSk -o /dev/null https://denied.${HIDDEN}/ 2>/dev/null || echo 'denied refused'`,
          `curl -sS -o /dev/null -w 'unlisted %{http_code}\\n' http://other.test.cordon/ 2>/dev/null`,
          `curl -sS -o /dev/null -w 'direct %{http_code}\\n' http://${api}/d`,
        ].join('\n');
        const r = await run({ network: { allowedDomains: [`*.${HIDDEN}`, HIDDEN, api], deniedDomains: [`denied.${HIDDEN}`], parentProxy: parent(PASSWORD, { noProxy: api }) } }, script);
        assert.equal(r.stdout, 'denied refused\nunlisted 403\ndirect 200\n', r.stderr);
        assert.deepEqual(proxy.asked, [], 'nothing was asked of the upstream proxy');
        const wrong = await run({ network: { allowedDomains: [HIDDEN], parentProxy: parent('wrong-password') } }, `curl -sSk -o /dev/null https://${HIDDEN}/ 2>&1 | grep -o 'CONNECT tunnel failed, response 502' ; curl -sS -o /dev/null -w 'plain %{http_code}\\n' http://${HIDDEN}/`);
        assert.equal(wrong.stdout, 'CONNECT tunnel failed, response 502\nplain 407\n', wrong.stderr);
      });

      it('mitmProxy: the hosts it names go through the inspecting proxy\'s Unix socket (CONNECT, plain HTTP, SOCKS5), before the parent proxy; the others do not; with tlsTerminate it is refused', T, async () => {
        proxy.asked.length = 0;
        mitm.asked.length = 0;
        const api = w.host('api').fqdn;
        const script = [
          `curl -sSk -o /dev/null -w 'connect %{http_code}\\n' https://${HIDDEN}/m1`,
          `curl -sS -o /dev/null -w 'plain %{http_code}\\n' http://${HIDDEN}/m2`,
          `curl -sSk --socks5-hostname 127.0.0.1:1080 -o /dev/null -w 'socks %{http_code}\\n' https://${HIDDEN}/m3`,
          `curl -sS -o /dev/null -w 'other %{http_code}\\n' http://${api}/m4`,
        ].join('\n');
        const r = await run({ network: { allowedDomains: [HIDDEN, api], mitmProxy: { socketPath: mitmSocket, domains: [HIDDEN] }, parentProxy: parent(PASSWORD, { noProxy: api }) } }, script);
        assert.equal(r.stdout, 'connect 200\nplain 200\nsocks 200\nother 200\n', r.stderr);
        assert.deepEqual(mitm.asked.map((a) => `${a.method} ${a.target}`), [`CONNECT ${HIDDEN}:443`, `GET http://${HIDDEN}:80/m2`, `CONNECT ${HIDDEN}:443`]);
        assert.deepEqual(proxy.asked, [], 'the parent proxy was not asked: the inspecting one comes first, the other host is in noProxy');
        const both = await run({ network: { allowedDomains: [HIDDEN], mitmProxy: { socketPath: mitmSocket, domains: [HIDDEN] }, tlsTerminate: {} } }, 'echo ran');
        assert.equal(both.status, 125);
        assert.match(both.stderr, /network\.mitmProxy .* and network\.tlsTerminate .* both open HTTPS/);
        assert.doesNotMatch(both.stdout, /ran/);
      });

      it('TRACE is not sent through it (it could answer with its own credentials), nor Max-Forwards; a server that speaks first is heard through it', T, async () => {
        proxy.asked.length = 0;
        const script = [
          `curl -sS -X TRACE -H 'Max-Forwards: 0' -o /dev/null -w 'trace %{http_code}\\n' http://${HIDDEN}/t`,
          `curl -sS -H 'Max-Forwards: 0' -o /dev/null -w 'get %{http_code}\\n' http://${HIDDEN}/g`,
          'python3 banner.py',
          'python3 ws.py',
        ].join('\n');
        // The client sends nothing after its CONNECT: what it reads, the server said first.
        const py = `${PY_TUNNELS}\ns, head = via_connect("banner.test.cordon", ${(banner.address() as { port: number }).port})\ns.settimeout(5)\nline = b""\nwhile not line.endswith(b"\\n"):\n    c = s.recv(100)\n    if not c: break\n    line += c\nprint(head.split(" ")[1], line.decode().strip())\n`;
        // A WebSocket handshake in a plain tunnel, with Max-Forwards: upgraded through the upstream proxy without it.
        const ws = `${PY_TUNNELS}\ns, head = via_connect("${HIDDEN}", 80)\ns.sendall(b"GET /ws HTTP/1.1\\r\\nHost: ${HIDDEN}\\r\\nMax-Forwards: 0\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n")\ns.settimeout(5)\ngot = b""\nwhile len(got) < 12:\n    c = s.recv(12 - len(got))\n    if not c: break\n    got += c\nprint("ws", got.decode())\n`;
        const r = await run({ network: { allowedDomains: [HIDDEN, 'banner.test.cordon'], parentProxy: parent() } }, script, { files: { 'banner.py': py, 'ws.py': ws } });
        assert.equal(r.stdout, 'trace 405\nget 200\n200 220 banner.test.cordon ready\nws HTTP/1.1 101\n', r.stderr);
        assert.deepEqual(proxy.asked.map((a) => `${a.method} ${a.target} ${a.maxForwards ?? '-'}`), [`GET http://${HIDDEN}:80/g -`, `CONNECT banner.test.cordon:${(banner.address() as { port: number }).port} -`,
          // The tunnel is opened there first; once its bytes are HTTP, each request inside goes on as a plain one.
          `CONNECT ${HIDDEN}:80 -`, `GET http://${HIDDEN}:80/ws -`]);
        assert.ok(r.events.some((e) => e.type === 'request.refused' && e.reason === 'trace-through-proxy'));
      });

      it('a terminated tunnel\'s requests go upstream through it too, verified against the world\'s CA; HTTPS_PROXY in cordon\'s environment is taken when no file sets one', T, async () => {
        proxy.asked.length = 0;
        const api = w.host('api').fqdn;
        const r = await run({ network: { allowedDomains: [api], tlsTerminate: { extraCaCertPaths: [w.caCert] }, parentProxy: parent() } }, `curl -sS -o /dev/null -w 'terminated %{http_code}\\n' https://${api}/t`);
        assert.equal(r.stdout, 'terminated 200\n', r.stderr);
        assert.deepEqual(proxy.asked.map((a) => `${a.method} ${a.target}`), [`CONNECT ${api}:443`]);
        assert.ok(r.events.some((e) => e.type === 'net.allowed' && e.tls === 'terminated'));
        proxy.asked.length = 0;
        const fromEnv = await run({ network: { allowedDomains: [HIDDEN] } }, `curl -sSk -o /dev/null -w 'env %{http_code}\\n' https://${HIDDEN}/e`, { env: { HTTPS_PROXY: `http://${USER}:${PASSWORD}@127.0.0.1:${proxy.port()}` } });
        assert.equal(fromEnv.stdout, 'env 200\n', fromEnv.stderr);
        assert.deepEqual(proxy.asked.map((a) => `${a.method} ${a.target}`), [`CONNECT ${HIDDEN}:443`]);
      });
    });
  }
});
