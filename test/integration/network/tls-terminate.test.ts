/**
 * TLS termination (network.tlsTerminate; src/network/tls.ts,
 * src/proxy/authority.ts, http-proxy.ts terminateTunnel) against real
 * clients inside real cordon and the world's real TLS servers, as root and as
 * an unprivileged user. What the clients of every kind do through it is
 * clients.test.ts (HTTPS terminated); here: what termination must refuse,
 * and the settings that shape it. Verdicts come from what the test hosts
 * recorded, never from what the command printed alone.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { netRunner, netWorld, PY_TUNNELS, RUNNERS } from '../../helpers/net-run.js';
import { worldSkipReason, type World, type WorldRecord } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 60_000 };


describe('TLS termination', { skip }, () => {
  let w: World;
  let root: string;
  let userCa: { cert: string; key: string };
  let otherKey: string;
  netWorld('cordon-tls-', (world, dir) => { w = world; root = dir; });
  before(() => {
    // A CA of the user's own (network.tlsTerminate.caCertPath/caKeyPath), made with openssl as a user would.
    userCa = { cert: join(root, 'user-ca.pem'), key: join(root, 'user-ca.key') };
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', userCa.key, '-out', userCa.cert, '-subj', '/CN=cordon test user CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    otherKey = join(root, 'other.key');
    assert.equal(spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', otherKey]).status, 0);
    // Readable by the unprivileged runner's cordon (a test's keys; a user's own would be theirs).
    for (const f of [userCa.key, otherKey]) chmodSync(f, 0o644);
  });

  const got = async (host: string, pred: (r: WorldRecord) => boolean = () => true) => { await w.settle(); return w.records(w.host(host)).filter(pred); };

  for (const runner of RUNNERS) {
    const { who } = runner;
    /** Runs `script` under cordon with these settings (and --audit-log); no trust of the world's CA but what cordon gives. */
    const run = netRunner(() => w, () => root, runner);
    const cordon = (settings: object, script: string, files: Record<string, string> = {}) => run(settings, script, { files });
    const net = (extra: object = {}, allowed: string[] = ['api', 'evil']) => ({ network: { allowedDomains: allowed.map((h) => w.host(h).fqdn), tlsTerminate: { extraCaCertPaths: [w.caCert], ...extra } } });

    describe(`as ${who}`, () => {
      it('HTTPS to an allowed host is terminated: the leaf is the session CA\'s, the host is reached over verified TLS, keep-alive reuses one tunnel', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon(net(), `curl -sS -v https://${api.fqdn}/one https://${api.fqdn}/two -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\\n' 2>&1 | grep -E '^(2|  issuer:|\\*  issuer:)' ; grep -c 'PRIVATE KEY' "$SSL_CERT_FILE" "$NODE_EXTRA_CA_CERTS"`);
        assert.match(r.stdout, /issuer: CN=cordon session CA [0-9a-f]{8}/, r.stderr);
        assert.match(r.stdout, /^200 1\n200 0\n/m, r.stdout + r.stderr);
        assert.match(r.stdout, /trust\.pem:0\n.*extra\.pem:0\n$/, 'the files the command trusts hold no key');
        const reqs = await got('api', (x) => x.event === 'request');
        assert.deepEqual(reqs.map((x) => `${x.proto} ${x.path} ${x.host}`), [`https /one ${api.fqdn}`, `https /two ${api.fqdn}`]);
        assert.ok(reqs.every((x) => x.peer === api.gateway4 || x.peer === api.gateway6), 'dialed by the proxy');
        assert.deepEqual((await got('api', (x) => x.event === 'tls')).map((x) => x.sni), [api.fqdn], 'one upstream TLS connection, named for the host');
        assert.equal(r.events.filter((e) => e.type === 'net.allowed' && e.via === 'connect' && e.tls === 'terminated').length, 1);
        assert.equal(r.events.filter((e) => e.type === 'net.allowed' && e.via === 'https').length, 2);
      });

      it('an upstream whose certificate does not verify is not reached: 502 with the reason and the setting that fixes it', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        // No extraCaCertPaths: the world's CA is not among cordon's roots.
        const r = await cordon({ network: { allowedDomains: [api.fqdn], tlsTerminate: {} } }, `curl -sS -i https://${api.fqdn}/secret | grep -E '^(HTTP|X-Cordon-Reason)'`);
        assert.equal(r.stdout, 'HTTP/1.1 200 Connection Established\r\nHTTP/1.1 502 Bad Gateway\r\nX-Cordon-Reason: upstream-certificate\r\n', r.stderr);
        assert.match(r.stderr, /its certificate did not verify .* add that CA to network\.tlsTerminate\.extraCaCertPaths/);
        assert.deepEqual(await got('api', (x) => x.event === 'request'), [], 'no request reached the host');
        assert.ok(r.events.some((e) => e.type === 'net.refused' && e.reason === 'upstream-certificate'));
      });

      it('TLS for another name in a terminated tunnel (fronting) is refused in the handshake: nothing reaches either host', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        const r = await cordon(net({}, ['api']), `curl -sS -m 10 --connect-to ${evil.fqdn}:443:${api.fqdn}:443 https://${evil.fqdn}/fronted; echo "rc=$?"`);
        assert.match(r.stdout, /rc=35\n/, r.stderr);
        assert.match(r.stderr, new RegExp(`the tunnel to ${api.fqdn.replace(/\./g, '\\.')}:443 was closed: its TLS is for "${evil.fqdn.replace(/\./g, '\\.')}"`));
        assert.deepEqual(await got('api'), [], 'the proxy never dialed the allowed host');
        assert.deepEqual(await got('evil'), []);
      });

      it('inside a terminated tunnel, a request for another Host, two Hosts, or an absolute-form target is refused and never sent', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        const py = [
          PY_TUNNELS,
          `s, head = via_connect("${api.fqdn}", 443)`,
          'ctx = ssl.create_default_context()',
          `t = ctx.wrap_socket(s, server_hostname="${api.fqdn}")`,
          `t.sendall(b"GET /ok HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\n\\r\\nGET /other HTTP/1.1\\r\\nHost: ${evil.fqdn}\\r\\n\\r\\n")`,
          'print(" | ".join(re.findall(r"HTTP/1\\.1 \\d{3} [A-Za-z ]+|X-Cordon-Reason: [a-z-]+", read_all(t).decode("latin-1"))))',
          `s, head = via_connect("${api.fqdn}", 443)`,
          `t = ctx.wrap_socket(s, server_hostname="${api.fqdn}")`,
          `t.sendall(b"GET https://${evil.fqdn}/abs HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\nConnection: close\\r\\n\\r\\n")`,
          'print(t.recv(65536).decode("latin-1").split("\\r\\n")[0])',
          `s, head = via_connect("${api.fqdn}", 443)`,
          `t = ctx.wrap_socket(s, server_hostname="${api.fqdn}")`,
          `t.sendall(b"GET /two HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\nHost: ${evil.fqdn}\\r\\nConnection: close\\r\\n\\r\\n")`,
          'print(t.recv(65536).decode("latin-1").split("\\r\\n")[0])',
        ].join('\n');
        const r = await cordon(net({}, ['api']), 'python3 t.py', { 't.py': py });
        assert.equal(r.stdout, 'HTTP/1.1 200 OK | HTTP/1.1 403 Forbidden | X-Cordon-Reason: host-mismatch\nHTTP/1.1 400 Bad Request\nHTTP/1.1 403 Forbidden\n', r.stderr);
        assert.deepEqual((await got('api', (x) => x.event === 'request')).map((x) => x.path), ['/ok']);
        assert.deepEqual(await got('evil'), []);
      });

      it('a WebSocket upgrade passes through termination: the handshake is judged, then bytes flow both ways; an upgrade for another Host is refused', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        const key = 'dGhlIHNhbXBsZSBub25jZQ==';
        const py = [
          PY_TUNNELS,
          'ctx = ssl.create_default_context()',
          'def upgrade(host):',
          `    s, head = via_connect("${api.fqdn}", 443)`,
          `    t = ctx.wrap_socket(s, server_hostname="${api.fqdn}")`,
          `    t.sendall(b"GET /ws HTTP/1.1\\r\\nHost: %s\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: ${key}\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n" % host.encode())`,
          '    head = b""',
          '    while b"\\r\\n\\r\\n" not in head:',
          '        c = t.recv(1)',
          '        if not c: break',
          '        head += c',
          '    return t, head.decode("latin-1").split("\\r\\n")[0]',
          `t, status = upgrade("${api.fqdn}")`,
          'print(status)',
          'line = b""',
          'while not line.endswith(b"\\n"): line += t.recv(1)',
          'for msg in (b"ping one", b"ping two"):',
          '    t.sendall(msg); print(t.recv(100).decode())',
          `t, status = upgrade("${evil.fqdn}")`,
          'print(status)',
        ].join('\n');
        const r = await cordon(net({}, ['api']), 'python3 t.py', { 't.py': py });
        assert.equal(r.stdout, 'HTTP/1.1 101 Switching Protocols\nping one\nping two\nHTTP/1.1 403 Forbidden\n', r.stderr);
        const reqs = await got('api', (x) => x.event === 'request');
        assert.deepEqual(reqs.map((x) => `${x.proto} ${x.path} ${x.upgrade}`), ['https /ws websocket'], 'one upgrade reached the host; the other was refused');
        assert.ok(r.events.some((e) => e.type === 'net.refused' && e.reason === 'host-mismatch' && e.via === 'https'));
      });

      it('a body of no stated length on any method goes on framed: a request smuggled in it (through termination or the plain proxy) is never a request upstream', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        const smuggled = `GET /smuggled HTTP/1.1\\r\\nHost: ${evil.fqdn}\\r\\n\\r\\n`;
        const py = [
          PY_TUNNELS,
          `inner = b"${smuggled}"`,
          'chunked = b"%x\\r\\n" % len(inner) + inner + b"\\r\\n0\\r\\n\\r\\n"',
          `s, head = via_connect("${api.fqdn}", 443)`,
          `t = ssl.create_default_context().wrap_socket(s, server_hostname="${api.fqdn}")`,
          `t.sendall(b"GET /first HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\nTransfer-Encoding: chunked\\r\\nConnection: close\\r\\n\\r\\n" + chunked)`,
          'print(re.findall(r"HTTP/1\\.1 \\d{3}", read_all(t).decode("latin-1")))',
          'p = socket.create_connection(("127.0.0.1", 3128))',
          `p.sendall(b"GET http://${api.fqdn}/first-plain HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\nTransfer-Encoding: chunked\\r\\nConnection: close\\r\\n\\r\\n" + chunked)`,
          'print(re.findall(r"HTTP/1\\.1 \\d{3}", read_all(p).decode("latin-1")))',
        ].join('\n');
        const r = await cordon(net({}, ['api']), 'python3 t.py', { 't.py': py });
        assert.equal(r.stdout, "['HTTP/1.1 200']\n['HTTP/1.1 200']\n", r.stderr);
        const reqs = await got('api', (x) => x.event === 'request');
        assert.deepEqual(reqs.map((x) => x.path).sort(), ['/first', '/first-plain'], 'the smuggled request never reached the host as one');
        for (const x of reqs) assert.equal(x.bytes, Buffer.byteLength(smuggled.replace(/\\r\\n/g, '\r\n')), 'the body arrived as a body');
      });

      it('only a WebSocket handshake may switch protocols: h2c, an unknown upgrade or one with a body is refused and never reaches the host', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const py = [
          PY_TUNNELS,
          'def upgrade(extra):',
          `    s, head = via_connect("${api.fqdn}", 443)`,
          `    t = ssl.create_default_context().wrap_socket(s, server_hostname="${api.fqdn}")`,
          `    t.sendall(b"GET /up HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\nConnection: Upgrade\\r\\n" + extra + b"\\r\\n")`,
          '    print(read_all(t).decode("latin-1").split("\\r\\n")[0])',
          'upgrade(b"Upgrade: h2c\\r\\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\\r\\n")',
          'upgrade(b"Upgrade: anything\\r\\n")',
          'upgrade(b"Upgrade: websocket\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\nContent-Length: 5\\r\\n\\r\\nhello")',
        ].join('\n');
        const r = await cordon(net({}, ['api']), 'python3 t.py', { 't.py': py });
        assert.equal(r.stdout, 'HTTP/1.1 400 Bad Request\n'.repeat(3), r.stderr);
        assert.deepEqual(await got('api', (x) => x.event === 'request'), [], 'no upgrade reached the host');
        assert.equal(r.events.filter((e) => e.type === 'net.refused' && e.reason === 'upgrade-refused').length, 3);
      });

      it('a terminated tunnel that sends no request is closed at the handshake deadline, and frees its slot', T, async () => {
        const api = w.host('api');
        const py = [
          PY_TUNNELS,
          `a, head = via_connect("${api.fqdn}", 443)`,
          `ta = ssl.create_default_context().wrap_socket(a, server_hostname="${api.fqdn}")`,
          'start = time.monotonic()',
          'print("idle tunnel:", "closed" if ta.recv(10) == b"" else "open", "within 5 s" if time.monotonic() - start < 5 else "late")',
          `b, head = via_connect("${api.fqdn}", 443)`,
          'print("next:", head.split("\\r\\n")[0])',
        ].join('\n');
        const r = await cordon(net({ maxTunnels: 1, handshakeTimeoutMs: 1000 }, ['api']), 'python3 t.py', { 't.py': py });
        assert.equal(r.stdout, 'idle tunnel: closed within 5 s\nnext: HTTP/1.1 200 Connection Established\n', r.stderr);
      });

      it('excludeDomains tunnels a host as the client sent it: the client sees the host\'s own certificate, verified by cordon\'s bundle', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        const r = await cordon(net({ excludeDomains: [evil.fqdn] }), `curl -sS -v https://${evil.fqdn}/excluded -o /dev/null -w '%{http_code}\\n' 2>&1 | grep -E '^(2|\\*  issuer:)'; curl -sS -v https://${api.fqdn}/kept -o /dev/null 2>&1 | grep -E '^\\*  issuer:'`);
        const lines = r.stdout.split('\n');
        assert.doesNotMatch(lines[0]!, /cordon session CA/, r.stdout);
        assert.equal(lines[1], '200', r.stdout + r.stderr);
        assert.match(lines[2]!, /cordon session CA/);
        assert.ok(r.events.some((e) => e.type === 'net.allowed' && e.via === 'connect' && e.host === evil.fqdn && e.tls === undefined));
        assert.ok(r.events.some((e) => e.type === 'net.allowed' && e.via === 'connect' && e.host === api.fqdn && e.tls === 'terminated'));
        assert.deepEqual((await got('evil', (x) => x.event === 'request')).map((x) => x.path), ['/excluded']);
      });

      it('what is not TLS in a CONNECT to a terminated host is tunnelled with the name check; refuseOpaqueTunnels refuses it, excluded hosts and SOCKS5', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        const py = [
          PY_TUNNELS,
          `s, head = via_connect("${api.fqdn}", 7)`,
          's.sendall(b"SSH-2.0-probe\\r\\n")',
          's.settimeout(5)',
          'try: print("echo:", s.recv(100).decode().strip() or "closed")',
          'except OSError: print("echo: closed")',
          `s, head = via_connect("${evil.fqdn}", 443)`,
          'print("excluded:", head.split("\\r\\n")[0])',
        ].join('\n');
        w.clearRecords();
        const open = await cordon(net({ excludeDomains: [evil.fqdn] }), 'python3 t.py', { 't.py': py });
        assert.equal(open.stdout, 'echo: SSH-2.0-probe\nexcluded: HTTP/1.1 200 Connection Established\n', open.stderr);
        w.clearRecords();
        const strict = await cordon({ ...net({ excludeDomains: [evil.fqdn] }), network: { ...net({ excludeDomains: [evil.fqdn] }).network, refuseOpaqueTunnels: true } }, `python3 t.py; curl -sS --proxy "$CORDON_SOCKS_PROXY" https://${evil.fqdn}/socks; echo "socks=$?"`, { 't.py': py });
        assert.equal(strict.stdout, 'echo: closed\nexcluded: HTTP/1.1 403 Forbidden\nsocks=97\n', strict.stderr);
        assert.equal(strict.events.filter((e) => e.type === 'net.refused' && e.reason === 'opaque-tunnel').length, 3, JSON.stringify(strict.events));
        assert.deepEqual(await got('api', (x) => x.event === 'connect' && x.port === 7), [], 'the cleartext tunnel was never dialed');
        assert.deepEqual(await got('evil'), []);
      });

      it('maxTunnels caps the terminated tunnels open at once: past it a CONNECT gets 503 too-many-tunnels', T, async () => {
        const api = w.host('api');
        const py = [
          PY_TUNNELS,
          `a, head = via_connect("${api.fqdn}", 443)`,
          'print("first:", head.split("\\r\\n")[0])',
          `b, head = via_connect("${api.fqdn}", 443)`,
          'print("second:", head.split("\\r\\n")[0])',
        ].join('\n');
        const r = await cordon(net({ maxTunnels: 1 }), 'python3 t.py', { 't.py': py });
        assert.equal(r.stdout, 'first: HTTP/1.1 200 Connection Established\nsecond: HTTP/1.1 503 Service Unavailable\n', r.stderr);
        assert.ok(r.events.some((e) => e.type === 'net.refused' && e.reason === 'too-many-tunnels'));
      });

      it('a CA of the user\'s own (caCertPath/caKeyPath) signs the leaves; a key that is not the certificate\'s is refused before anything runs', T, async () => {
        const api = w.host('api');
        // Its key stays on the host: the command cannot read it (with it, it could mint certificates the host may trust).
        const mine = await cordon(net({ caCertPath: userCa.cert, caKeyPath: userCa.key }), `curl -sS -v https://${api.fqdn}/mine -o /dev/null -w '%{http_code}\\n' 2>&1 | grep -E '^(2|\\*  issuer:)'; cat ${userCa.key} 2>/dev/null | grep -c PRIVATE; head -c 5 ${userCa.cert}; echo`);
        assert.match(mine.stdout, /issuer: CN=cordon test user CA\n200\n0\n-----\n$/, mine.stdout + mine.stderr);
        const wrong = await cordon(net({ caCertPath: userCa.cert, caKeyPath: otherKey }), 'echo ran');
        assert.equal(wrong.status, 125);
        assert.doesNotMatch(wrong.stdout, /ran/);
        // A settings error like any other (the authority's module is loaded on demand): no internal error, no stack.
        assert.match(wrong.stderr, /^cordon: network\.tlsTerminate .*caKeyPath is not the key of the certificate in caCertPath/m);
        assert.doesNotMatch(wrong.stderr, /internal error|\n +at /);
      });
    });
  }
});
