/**
 * Request rules (network.requestRules; src/network/request-rules.ts) with
 * real curl inside real cordon against the world's servers, as root and as
 * an unprivileged user: through TLS termination and plain HTTP, what a rule
 * does not allow is refused with a status and reason and never reaches the
 * host (read from the host's records); a tunnel that would hide the requests
 * is refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { netRunner, netWorld, PY_TUNNELS, RUNNERS } from '../../helpers/net-run.js';
import { worldSkipReason, type World, type WorldRecord } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 60_000 };

describe('request rules', { skip }, () => {
  let w: World;
  let root: string;
  netWorld('cordon-rules-', (world, dir) => { w = world; root = dir; });

  const requests = async (pred: (r: WorldRecord) => boolean = () => true) => { await w.settle(); return w.records(w.host('api')).filter((x) => x.event === 'request' && pred(x)); };

  for (const runner of RUNNERS) {
    const { who } = runner;
    const run = netRunner(() => w, () => root, runner);
    const cordon = (network: object, script: string, files: Record<string, string> = {}) => {
      const api = w.host('api').fqdn;
      return run({ network: { allowedDomains: [api], requestRules: [{ hosts: [api], methods: ['GET', 'POST'], paths: ['/allowed/**', '/echo'], maxBodyBytes: 64, stripHeaders: ['x-debug'] }], ...network } }, script, { files });
    };
    const tls = () => ({ tlsTerminate: { extraCaCertPaths: [w.caCert] } });
    /** Each request: its status, the label after it. */
    const tries = (scheme: string) => {
      const api = w.host('api').fqdn;
      const c = (label: string, args: string) => `curl -sS --path-as-is -o /dev/null -w '%{http_code} ${label}\\n' ${args}`;
      return [
        c('allowed', `${scheme}://${api}/allowed/x`),
        c('method', `-X DELETE ${scheme}://${api}/allowed/x`),
        c('path', `${scheme}://${api}/admin`),
        c('dots', `${scheme}://${api}/allowed/../admin`),
        c('encoded', `${scheme}://${api}/allowed/%2e%2e/admin`),
        c('sized', `--data-binary @big ${scheme}://${api}/echo`),
        c('chunked', `-H 'Transfer-Encoding: chunked' --data-binary @big ${scheme}://${api}/echo`),
        `curl -sS -H 'X-Debug: secret-debug' -H 'X-Kept: kept' ${scheme}://${api}/echo | grep -o 'x-debug\\|x-kept' | tr '\\n' ' '; echo`,
      ].join('\n');
    };
    const expected = 'allowed 200\nmethod 403\npath 403\ndots 400\nencoded 400\nsized 413\nchunked 413\nx-kept \n';
    const swap = (out: string) => out.replace(/^(\d{3}) (\w+)$/gm, '$2 $1');

    describe(`as ${who}`, () => {
      it('an untrusted project file whose rule names only the host widens nothing: what the user\'s rules refuse stays refused', T, async () => {
        w.clearRecords();
        const api = w.host('api').fqdn;
        const c = (label: string, args: string) => `curl -sS -o /dev/null -w '%{http_code} ${label}\\n' ${args}`;
        const r = await cordon(tls(), [c('method', `-X DELETE https://${api}/allowed/x`), c('path', `https://${api}/admin`), c('allowed', `https://${api}/allowed/x`)].join('\n'),
          { '.cordon/settings.json': JSON.stringify({ network: { requestRules: [{ hosts: [api] }] } }) });
        assert.equal(swap(r.stdout), 'method 403\npath 403\nallowed 200\n', r.stderr);
        assert.deepEqual((await requests()).map((x) => `${x.method} ${x.path}`), ['GET /allowed/x'], 'only the allowed request reached the host');
      });

      for (const scheme of ['https', 'http']) {
        it(`${scheme === 'https' ? 'through TLS termination' : 'plain HTTP'}: methods, paths, ambiguous targets, body sizes (stated and chunked) and stripped headers`, T, async () => {
          w.clearRecords();
          const r = await cordon(scheme === 'https' ? tls() : {}, `head -c 100 /dev/zero > big\n${tries(scheme)}`);
          assert.equal(swap(r.stdout), expected, r.stderr);
          const reqs = await requests();
          // The chunked body over the limit was cut off upstream: the host saw at most its first part, never a complete request.
          const complete = reqs.filter((x) => !(x.path === '/echo' && x.method === 'POST' && x.bytes !== 100 && x.bytes !== 0));
          assert.deepEqual(complete.filter((x) => x.method !== 'POST').map((x) => `${x.method} ${x.path}`), ['GET /allowed/x', 'GET /echo']);
          assert.ok(!reqs.some((x) => x.method === 'POST' && x.bytes === 100), 'no body over the limit arrived whole');
          const echo = reqs.find((x) => x.path === '/echo' && x.method === 'GET');
          assert.equal(echo?.headers?.['x-debug'], undefined, 'the stripped header never left');
          assert.equal(echo?.headers?.['x-kept'], 'kept');
          const reasons = r.events.filter((e) => e.type === 'request.refused').map((e) => e.reason);
          assert.deepEqual(reasons, ['method-not-allowed', 'path-not-allowed', 'ambiguous-target', 'ambiguous-target', 'body-too-large', 'body-too-large']);
        });
      }

      it('a terminated tunnel to a ruled host carries only TLS or HTTP cordon reads: an HTTP/0.9-style line or another protocol is refused; a stripped header is taken out in its underscore spelling too', T, async () => {
        const api = w.host('api').fqdn;
        w.clearRecords();
        const py = [
          PY_TUNNELS,
          'for port, payload in ((80, b"DELETE /admin\\r\\nContent-Length: 5\\r\\n\\r\\nhello"), (7, b"hello-opaque\\n"), (80, b"GET /allowed/ok HTTP/1.1\\r\\nHost: %s\\r\\nX_Debug: c\\r\\nConnection: close\\r\\n\\r\\n" % API)):',
          '    s, head = via_connect(API.decode(), port)',
          '    s.sendall(payload)',
          '    s.settimeout(5)',
          '    try: got = read_all(s)',
          '    except OSError: got = b""',
          '    print(port, head.split("\\r\\n")[0], re.findall(rb"HTTP/1\\.1 \\d{3}", got) or "closed")',
        ].join('\n');
        const r = await cordon(tls(), `python3 t.py`, { 't.py': `API = b"${api}"\n${py}` });
        assert.equal(r.stdout, "80 HTTP/1.1 200 Connection Established closed\n7 HTTP/1.1 200 Connection Established closed\n80 HTTP/1.1 200 Connection Established [b'HTTP/1.1 200']\n", r.stderr);
        const reqs = await requests();
        assert.deepEqual(reqs.map((x) => `${x.method} ${x.path}`), ['GET /allowed/ok'], 'only the HTTP request cordon read reached the host');
        assert.equal(reqs[0]!.headers?.['x_debug'], undefined, 'X_Debug was taken out as X-Debug');
        assert.equal(r.events.filter((e) => e.type === 'net.refused' && e.reason === 'opaque-tunnel').length, 2);
      });

      it('a tunnel that would hide a ruled host\'s requests is refused: CONNECT without termination, and SOCKS5', T, async () => {
        const api = w.host('api').fqdn;
        w.clearRecords();
        const r = await cordon({}, `curl -sS -o /dev/null -w '%{http_code}\\n' --cacert ${w.caCert} https://${api}/allowed/x; curl -sS --proxy "$CORDON_SOCKS_PROXY" -o /dev/null http://${api}/allowed/x; echo "socks=$?"`);
        assert.match(r.stdout, /^(000|403)\nsocks=97\n$/, r.stderr);
        assert.match(r.stderr, /network\.requestRules judge its requests, and a tunnel cordon does not open would hide them/);
        assert.deepEqual(await requests(), []);
      });
    });
  }
});
