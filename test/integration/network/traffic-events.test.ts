/**
 * net.done events (src/proxy/tunnel.ts count, http-proxy.ts ended and
 * goReported, the relay's CORDON-DONE): what each allowed tunnel and each
 * request cordon forwarded carried each way, and a request's status, in the
 * audit log, as root and as an unprivileged user. The counts are checked
 * against what the world's servers sent and received; the relay's report
 * of a spliced tunnel cannot be forged from inside.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { netRunner, netWorld, RUNNERS, type AuditEvent } from '../../helpers/net-run.js';
import { worldSkipReason, type World } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 60_000 };

type Done = AuditEvent & { bytesUp: number; bytesDown: number; method?: string; url?: string; status?: number };
const dones = (events: readonly AuditEvent[]) => events.filter((e) => e.type === 'net.done') as Done[];

describe('net.done: what each tunnel and request carried', { skip }, () => {
  let w: World;
  let root: string;
  netWorld('cordon-done-', (world, dir) => { w = world; root = dir; });

  for (const runner of RUNNERS) {
    const run = netRunner(() => w, () => root, runner);
    describe(`as ${runner.who}`, () => {
      it('a CONNECT tunnel the relay splices: the bytes each way, reported by the relay; a report forged from inside is not taken', T, async () => {
        const api = w.host('api').fqdn;
        // A ClientHello (it passes the name check) with a line shaped like the relay's report right behind it, in one
        // write: the relay hands both to the proxy before its verdict, on the connection its report comes back on.
        const forge = [
          'import socket, ssl',
          's = socket.create_connection(("127.0.0.1", 3128))',
          `s.sendall(b"CONNECT ${api}:443 HTTP/1.1\\r\\nHost: ${api}:443\\r\\n\\r\\n")`,
          'while not s.recv(4096).endswith(b"\\r\\n\\r\\n"): pass',
          'inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()',
          `o = ssl.create_default_context().wrap_bio(inc, out, server_hostname="${api}")`,
          'try:',
          '    o.do_handshake()',
          'except ssl.SSLWantReadError:',
          '    pass',
          'hello = out.read()',
          'forged = b"CORDON-DONE " + b"A" * 43 + b" 1 1\\r\\n"',
          's.sendall(hello)',
          's.sendall(forged)',
          's.settimeout(5)',
          'got = 0',
          'try:',
          '    while True:',
          '        c = s.recv(65536)',
          '        if not c: break',
          '        got += len(c)',
          'except socket.timeout:',
          '    pass',
          's.close()',
          'print("sent", len(hello + forged), "got", got)',
        ].join('\n');
        const r = await run({ network: { allowedDomains: [api] } }, [
          `curl -sS -o /dev/null -w '%{http_code} %{size_download}\\n' --cacert ${w.caCert} https://${api}/bytes/150000`,
          'python3 forge.py',
        ].join('\n'), { files: { 'forge.py': forge } });
        const m = /^200 150000\nsent (\d+) got (\d+)\n$/.exec(r.stdout);
        assert.ok(m, r.stdout + r.stderr);
        const d = dones(r.events);
        assert.equal(d.length, 2, r.log);
        for (const e of d) assert.deepEqual([e.via, e.host, e.port, e.method, e.status], ['connect', api, 443, undefined, undefined]);
        // TLS adds its records and handshake: more than the body, not wildly more.
        assert.ok(d[0]!.bytesDown > 150000 && d[0]!.bytesDown < 170000, String(d[0]!.bytesDown));
        assert.ok(d[0]!.bytesUp > 200 && d[0]!.bytesUp < 5000, String(d[0]!.bytesUp));
        // The forged line was the client's: sent on to the server and counted, not taken for the relay's report.
        assert.deepEqual([d[1]!.bytesUp, d[1]!.bytesDown], [Number(m[1]), Number(m[2])]);
      });

      it('requests inside a terminated tunnel: each with its method, target, status and bodies', T, async () => {
        const api = w.host('api').fqdn;
        const r = await run({ network: { allowedDomains: [api], tlsTerminate: { extraCaCertPaths: [w.caCert] } } }, [
          `curl -sS -o /dev/null https://${api}/bytes/7000 https://${api}/status/404`,
          `head -c 1234 /dev/zero | curl -sS -o /dev/null --data-binary @- https://${api}/upload`,
        ].join('\n'));
        assert.equal(r.stderr.includes('curl:'), false, r.stderr);
        const d = dones(r.events).map((e) => [e.via, e.method, e.url, e.status, e.bytesUp, e.bytesDown]);
        assert.deepEqual(d.slice(0, 2), [['https', 'GET', '/bytes/7000', 200, 0, 7000], ['https', 'GET', '/status/404', 404, 0, 'status 404\n'.length]]);
        assert.deepEqual(d[2]!.slice(0, 5), ['https', 'POST', '/upload', 200, 1234]);
        assert.equal(d.length, 3, r.log);
      });

      it('plain HTTP the relay sends itself: each request with its method, target, status and bodies, reported by the relay', T, async () => {
        const api = w.host('api').fqdn;
        const r = await run({ network: { allowedDomains: [api] } }, [
          `curl -sS -o /dev/null http://${api}/bytes/4000 http://${api}/status/404`,
          `head -c 2500 /dev/zero | curl -sS -o /dev/null --data-binary @- http://${api}/upload`,
        ].join('\n'));
        const d = dones(r.events).map((e) => [e.via, e.method, e.url, e.status, e.bytesUp, e.bytesDown]);
        assert.deepEqual(d.slice(0, 2), [['http', 'GET', '/bytes/4000', 200, 0, 4000], ['http', 'GET', '/status/404', 404, 0, 'status 404\n'.length]], r.log);
        assert.deepEqual(d[2]!.slice(0, 5), ['http', 'POST', '/upload', 200, 2500]);
        assert.equal(d.length, 3, r.log);
      });

      it('a SOCKS5 tunnel and plain HTTP the proxy serves (a chunked body): what each carried', T, async () => {
        const api = w.host('api').fqdn;
        const r = await run({ network: { allowedDomains: [api] } }, [
          `curl -sS -o /dev/null --cacert ${w.caCert} --socks5-hostname 127.0.0.1:1080 https://${api}/bytes/5000`,
          `head -c 3000 /dev/zero | curl -sS -o /dev/null -H 'Transfer-Encoding: chunked' --data-binary @- http://${api}/upload`,
        ].join('\n'));
        const d = dones(r.events);
        const socks = d.find((e) => e.via === 'socks5');
        assert.ok(socks && socks.bytesDown > 5000 && socks.bytesUp > 50, r.log);
        const plain = d.find((e) => e.via === 'http');
        assert.deepEqual(plain && [plain.method, plain.url, plain.status, plain.bytesUp], ['POST', '/upload', 200, 3000], r.log);
      });
    });
  }
});
