/**
 * Names in a tunnel (src/proxy/first-bytes.ts; docs/network.md#names-in-a-tunnel),
 * attacked from inside real cordon with real clients, as root and as an
 * unprivileged user: a CONNECT (through the relay) or SOCKS5 tunnel allowed
 * to one host must not carry TLS for another name (SNI), TLS with no name,
 * or HTTP requests whose Host is another; the legitimate uses work. Every
 * verdict on an attack is read from what the test hosts received (no TLS
 * handshake, no request), never from what the command printed; the refusal
 * is on cordon's stderr.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { netRunner, netWorld, PY_TUNNELS, RUNNERS } from '../../helpers/net-run.js';
import { worldSkipReason, type World, type WorldRecord } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 60_000 };


describe('names in a tunnel', { skip }, () => {
  let w: World;
  let root: string;
  netWorld('cordon-names-', (world, dir) => { w = world; root = dir; });

  const got = async (host: string, pred: (r: WorldRecord) => boolean) => { await w.settle(); return w.records(w.host(host)).filter(pred); };

  for (const runner of RUNNERS) {
    const { who } = runner;
    const run = netRunner(() => w, () => root, runner);
    // The clients trust the world's CA through the caller's variables: these tunnels are not terminated.
    const cordon = (script: string, files: Record<string, string> = {}) => run({ network: { allowedDomains: [w.host('api').fqdn] } }, script, { files, env: w.tlsEnv });

    describe(`as ${who}`, () => {
      it('HTTPS to the allowed host works through CONNECT and SOCKS5, its server name being the host\'s', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon(`curl -sS -o /dev/null -w '%{http_code}\\n' https://${api.fqdn}/ok && curl -sS --proxy "$CORDON_SOCKS_PROXY" -o /dev/null -w '%{http_code}\\n' https://${api.fqdn}/ok-socks`);
        assert.equal(r.stdout, '200\n200\n', r.stderr);
        const tls = await got('api', (x) => x.event === 'tls');
        assert.deepEqual(tls.map((x) => x.sni), [api.fqdn, api.fqdn]);
      });

      it('TLS for another name in a tunnel allowed to the host (domain fronting) is closed before the ClientHello leaves: CONNECT and SOCKS5', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        // --connect-to: curl tunnels to the allowed host and speaks TLS (SNI and Host) for the other one.
        const r = await cordon([
          `curl -sS -m 10 --connect-to ${evil.fqdn}:443:${api.fqdn}:443 https://${evil.fqdn}/fronted; echo "connect=$?"`,
          `curl -sS -m 10 --proxy "$CORDON_SOCKS_PROXY" --connect-to ${evil.fqdn}:443:${api.fqdn}:443 https://${evil.fqdn}/fronted-socks; echo "socks=$?"`,
        ].join('; '));
        assert.match(r.stdout, /connect=(35|56)\n/, r.stderr);
        assert.match(r.stdout, /socks=(35|56|97)\n/, r.stderr);
        assert.match(r.stderr, new RegExp(`the tunnel to ${api.fqdn.replace(/\./g, '\\.')}:443 was closed: its TLS is for "${evil.fqdn.replace(/\./g, '\\.')}"`));
        // The allowed host saw two TCP connections end with no byte (its TLS server calls that a hang-up), no handshake.
        assert.deepEqual(await got('api', (x) => x.event === 'tls' || x.event === 'request' || (x.event === 'tls-error' && x.bytes > 0)), [], 'no ClientHello reached the allowed host');
        assert.deepEqual(await got('evil', () => true), []);
      });

      it('TLS with no server name to a named host is closed; plain HTTP in a tunnel is served request by request, each Host held to the tunnel\'s host', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        // Python's ssl without server_hostname sends no SNI; then a raw CONNECT to port 80 carrying
        // a request for the host, and a second one on the same tunnel for another name.
        const py = [
          PY_TUNNELS,
          `s, _ = via_connect("${api.fqdn}", 443)`,
          'ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE',
          'try:',
          '    ctx.wrap_socket(s).sendall(b"GET /nosni HTTP/1.1\\r\\n\\r\\n"); print("nosni: sent")',
          'except (OSError, ssl.SSLError) as e: print("nosni: closed")',
          `s, _ = via_connect("${api.fqdn}", 80)`,
          `s.sendall(b"GET /first HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\n\\r\\nGET /second HTTP/1.1\\r\\nHost: ${evil.fqdn}\\r\\nConnection: close\\r\\n\\r\\n")`,
          'print(" | ".join(re.findall(r"HTTP/1\\.1 \\d{3} [A-Za-z ]+|X-Cordon-Reason: [a-z-]+", read_all(s).decode("latin-1"))))',
        ].join('\n');
        const r = await cordon('python3 names.py', { 'names.py': py });
        assert.equal(r.stdout, 'nosni: closed\nHTTP/1.1 200 OK | HTTP/1.1 403 Forbidden | X-Cordon-Reason: host-mismatch\n', r.stderr);
        assert.match(r.stderr, /its TLS names no server \(no SNI\)/);
        const reqs = await got('api', (x) => x.event === 'request' || x.event === 'tls');
        assert.deepEqual(reqs.map((x) => `${x.event} ${x.path ?? ''}`), ['request /first'], 'only the request for the host reached it');
      });

      it('a cleartext request for TLS (Postgres SSLRequest) reaches the server, and the ClientHello after it is judged: CONNECT and SOCKS5', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        // Against the allowed host's TCP echo port: the 8 bytes are echoed (a server would answer 'S'),
        // then the client starts TLS for a name. Each case reports what the echo server got.
        const py = [
          PY_TUNNELS,
          'import sys',
          'for how, opener in (("connect", via_connect), ("socks", via_socks)):',
          '    for sni in (sys.argv[1], sys.argv[2]):',
          `        s, _ = opener("${api.fqdn}", 7)`,
          '        s.sendall(bytes([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]))',
          '        echoed = b""',
          '        while len(echoed) < 8: echoed += s.recv(8 - len(echoed))',
          '        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE',
          '        try: ctx.wrap_socket(s, server_hostname=sni)',
          '        except (OSError, ssl.SSLError): pass',
          '        print(how, sni, "preamble echoed" if echoed == bytes([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]) else echoed)',
        ].join('\n');
        const r = await cordon(`python3 pg.py ${api.fqdn} ${evil.fqdn}`, { 'pg.py': py });
        assert.equal(r.stdout, ['connect', 'socks'].map((how) => `${how} ${api.fqdn} preamble echoed\n${how} ${evil.fqdn} preamble echoed\n`).join(''), r.stderr);
        assert.match(r.stderr, new RegExp(`its TLS is for "${evil.fqdn.replace(/\./g, '\\.')}", another host than the one it was allowed to \\(2 times\\)`));
        // The echo server's byte counts: the preamble alone where the name was another; preamble and ClientHello where it was the host's.
        const closes = (await got('api', (x) => x.proto === 'tcp' && x.event === 'close')).map((x) => x.bytes);
        assert.equal(closes.length, 4, JSON.stringify(closes));
        assert.equal(closes.filter((b) => b === 8).length, 2, JSON.stringify(closes));
        assert.equal(closes.filter((b) => b > 100).length, 2, JSON.stringify(closes));
      });

      it('a protocol with no name in it (the server speaks first, or SSH-like) still tunnels', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        // The world's TCP echo port, with bytes that are neither TLS nor HTTP (an SSH client's banner).
        const py = [
          PY_TUNNELS,
          `s, head = via_connect("${api.fqdn}", 7)`,
          's.sendall(b"SSH-2.0-test\\r\\n"); s.shutdown(socket.SHUT_WR)',
          'print(head.split("\\r\\n")[0], read_all(s).decode().strip())',
        ].join('\n');
        const r = await cordon('python3 opaque.py', { 'opaque.py': py });
        assert.equal(r.stdout, 'HTTP/1.1 200 Connection Established SSH-2.0-test\n', r.stderr);
        const echoed = await got('api', (x) => x.proto === 'tcp' && x.event === 'close');
        assert.ok(echoed.some((x) => x.bytes === 14), JSON.stringify(echoed));
      });
    });
  }
});
