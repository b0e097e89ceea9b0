/**
 * The network wall, attacked as an attacker would: real cordon, real curl and
 * python inside, real proxies and relay, real name resolution (the test
 * world's /etc/hosts), test hosts in their own network namespaces. Every
 * verdict on an attack is read from what the world's recording servers
 * received, never from what the sandboxed command printed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { networkInterfaces } from 'node:os';
import { CLI, testUser } from '../../helpers/cordon.js';
import { createWorld, worldSkipReason, type World, type WorldRecord } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 60_000 };

describe('egress through cordon', { skip }, () => {
  let w: World;
  let proj: string;
  let home: string;
  before(async () => {
    w = await createWorld();
    const root = realpathSync(mkdtempSync('/var/tmp/cordon-net-'));
    proj = join(root, 'proj');
    home = join(root, 'home');
    mkdirSync(proj, { recursive: true });
    mkdirSync(home, { recursive: true });
  });
  after(async () => {
    await w?.close();
    if (proj) rmSync(join(proj, '..'), { recursive: true, force: true });
  });

  const cordon = (args: string[], script: string) =>
    w.run([process.execPath, CLI, ...args, '--', '/bin/sh', '-c', script], {
      cwd: proj,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...w.tlsEnv },
      timeoutMs: 45_000,
    });
  const fresh = async () => { await w.settle(); w.clearRecords(); };
  const got = async (target: Parameters<World['records']>[0], pred: (r: WorldRecord) => boolean = () => true) => { await w.settle(); return w.records(target).filter(pred); };

  it('an allowed name works over plain HTTP and over HTTPS (CONNECT), with the world CA', T, async () => {
    const api = w.host('api');
    await fresh();
    const r = await cordon(['--allow-domain', api.fqdn], `curl -sS -o /dev/null -w '%{http_code}\\n' http://${api.fqdn}/hello && curl -sS -o /dev/null -w '%{http_code}\\n' https://${api.fqdn}/secure`);
    assert.equal(r.stdout, '200\n200\n', r.stderr);
    const reqs = await got(api, (x) => x.event === 'request');
    assert.ok(reqs.some((x) => x.proto === 'http' && x.path === '/hello' && x.host === api.fqdn));
    assert.ok(reqs.some((x) => x.proto === 'https' && x.path === '/secure'));
  });

  it('CONNECT tunnels are dialed by the relay: bytes sent with the CONNECT head arrive; an unreachable port gets a 502 an agent can act on', T, async () => {
    const api = w.host('api');
    await fresh();
    // One write: the CONNECT head and, right behind it, a request for the tunnel (as clients that
    // pipeline do). Then a CONNECT to a port where nothing listens.
    const py = [
      'import socket',
      'def ask(data):',
      '    s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(data); s.shutdown(socket.SHUT_WR)',
      '    out = b""',
      '    while True:',
      '        c = s.recv(65536)',
      '        if not c: break',
      '        out += c',
      '    return out.decode("latin-1")',
      `a = ask(b"CONNECT ${api.fqdn}:80 HTTP/1.1\\r\\nHost: ${api.fqdn}:80\\r\\n\\r\\nGET /pipelined HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\nConnection: close\\r\\n\\r\\n")`,
      'print(a.split("\\r\\n")[0]); print("inner:", a.split("\\r\\n\\r\\n")[1].split("\\r\\n")[0])',
      `b = ask(b"CONNECT ${api.fqdn}:9 HTTP/1.1\\r\\nHost: ${api.fqdn}:9\\r\\n\\r\\n")`,
      'print(b.split("\\r\\n")[0]); print([l for l in b.split("\\r\\n") if l.startswith("X-Cordon-Reason")][0])',
    ].join('\n');
    writeFileSync(join(proj, 'tunnel.py'), py);
    const r = await cordon(['--allow-domain', api.fqdn], 'python3 tunnel.py');
    assert.equal(r.stdout, 'HTTP/1.1 200 Connection Established\ninner: HTTP/1.1 200 OK\nHTTP/1.1 502 Bad Gateway\nX-Cordon-Reason: upstream-failed\n', r.stderr);
    const reqs = await got(api, (x) => x.event === 'request' && x.path === '/pipelined');
    assert.equal(reqs.length, 1, 'the pipelined request reached the server once');
  });

  it('a name that is not allowed is refused with a 403 an agent can act on; nothing reaches it; the audit log has both decisions', T, async () => {
    const evil = w.host('evil');
    await fresh();
    const audit = join(proj, 'audit.jsonl');
    const r = await cordon(['--allow-domain', w.host('api').fqdn, '--audit-log', audit], `curl -sS -i http://${evil.fqdn}/x; curl -sS -o /dev/null https://${evil.fqdn}/ 2>&1; curl -sS -o /dev/null http://${w.host('api').fqdn}/ok; echo forged >> audit.jsonl 2>/dev/null || echo audit-read-only`);
    assert.match(r.stdout, /audit-read-only/);
    const events = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const net = events.filter((e) => e.type === 'net.allowed' || e.type === 'net.refused');
    // What the allowed request carried, reported by the relay that sent it.
    const done = events.filter((e) => e.type === 'net.done');
    assert.deepEqual(done.map((e) => [e.via, e.host, e.method, e.url, typeof e.status, e.bytesUp]), [['http', w.host('api').fqdn, 'GET', '/ok', 'number', 0]]);
    assert.deepEqual(net.map((e) => [e.via, e.host, e.type, e.reason ?? null]), [['http', evil.fqdn, 'net.refused', 'not-allowlisted'], ['connect', evil.fqdn, 'net.refused', 'not-allowlisted'], ['http', w.host('api').fqdn, 'net.allowed', null]]);
    assert.equal(net[0].v, 1);
    assert.equal(net[0].fix, `network.allowedDomains: add "${evil.fqdn}"`);
    assert.ok(net[2].address === w.host('api').ipv4 || net[2].address === w.host('api').ipv6, 'the allowed event names the address dialed');
    assert.match(r.stdout, /HTTP\/1\.1 403/);
    assert.match(r.stdout, /X-Cordon-Reason: not-allowlisted/i);
    assert.match(r.stdout, new RegExp(`add "${evil.fqdn.replace(/\./g, '\\.')}" to allow it`));
    assert.deepEqual(await got(evil), []);
  });

  it('direct TCP and UDP that ignore the proxy variables, and DNS from inside, reach nothing', T, async () => {
    const api = w.host('api');
    await fresh();
    const py = [
      'import socket',
      `for fam, addr in ((socket.AF_INET, ('${api.ipv4}', 7)), (socket.AF_INET6, ('${api.ipv6}', 7, 0, 0))):`,
      '  try:',
      '    s = socket.socket(fam); s.settimeout(2); s.connect(addr); s.sendall(b"leak"); print("TCP-CONNECTED")',
      '  except OSError as e: print("tcp", e.errno)',
      'try:',
      `  u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"leak", ('${api.ipv4}', 9)); print("UDP-SENT")`,
      'except OSError as e: print("udp", e.errno)',
      'try:',
      '  socket.getaddrinfo("unlisted-name.example", 80); print("RESOLVED")',
      'except OSError as e: print("dns", e.errno)',
    ].join('\n');
    const r = await cordon(['--allow-domain', api.fqdn], `curl -sS -m 3 --noproxy '*' http://${api.ipv4}/ 2>&1; python3 -c '${py}'`);
    assert.doesNotMatch(r.stdout, /TCP-CONNECTED|UDP-SENT|RESOLVED/);
    assert.deepEqual(await got(api), [], 'the test host received nothing');
    assert.deepEqual(await got(w.resolver), [], 'no DNS query left the sandbox');
  });

  it('IP literals, IPv4-mapped IPv6 literals and numeric tricks are refused unless the literal is allowed', T, async () => {
    const api = w.host('api');
    await fresh();
    const [a, b, c, d] = api.ipv4.split('.').map(Number) as [number, number, number, number];
    const dword = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
    const r = await cordon(['--allow-domain', api.fqdn], [
      `curl -sS -o /dev/null -w '%{http_code}\\n' http://${api.ipv4}/`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' 'http://[::ffff:${api.ipv4}]/'`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' http://${dword}/`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' 'http://[${api.ipv6}]/'`,
    ].join('; '));
    assert.equal(r.stdout, '403\n403\n403\n403\n', r.stderr);
    assert.deepEqual(await got(api), []);
    const ok = await cordon(['--allow-domain', api.ipv4], `curl -sS -o /dev/null -w '%{http_code}\\n' http://${api.ipv4}/literal`);
    assert.equal(ok.stdout, '200\n', 'an allow-listed literal is the user\'s explicit choice');
    assert.equal((await got(api, (x) => x.event === 'request')).length, 1);
  });

  it('suffix and case tricks: case and a trailing dot normalise; look-alike names do not match', T, async () => {
    const api = w.host('api');
    await fresh();
    const r = await cordon(['--allow-domain', api.fqdn], [
      `curl -sS -o /dev/null -w '%{http_code}\\n' http://${api.fqdn.toUpperCase()}./case`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' -H 'Host: x' http://evil${api.fqdn}/`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' http://${api.fqdn}.${w.host('evil').fqdn}/`,
    ].join('; '));
    assert.equal(r.stdout, '200\n403\n403\n', r.stderr);
    assert.equal((await got(api, (x) => x.event === 'request')).length, 1);
    assert.deepEqual(await got(w.host('evil')), []);
  });

  it('an allowed name that resolves to loopback or to the host\'s own address is refused; mixed answers dial the good one', T, async () => {
    await fresh();
    const hs = w.hostService;
    const r = await cordon(['--allow-domain', w.names.loopback, '--allow-domain', w.names.self, '--allow-domain', w.names.mixed], [
      `curl -sS -o /dev/null -w '%{http_code}\\n' http://${w.names.loopback}:${hs.ports.http}/`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' http://${w.names.self}:${hs.ports.http}/`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' http://${w.names.mixed}/mixed`,
    ].join('; '));
    assert.equal(r.stdout, '403\n403\n200\n', r.stderr);
    assert.deepEqual(await got(hs), [], 'nothing reached the host service');
    assert.ok((await got(w.host('api'), (x) => x.path === '/mixed')).length === 1);
  });

  it('the host\'s own address on an interface with no link (a bridge whose containers stopped) is refused too: the kernel is asked, not the interface list', T, async () => {
    await fresh();
    const hs = w.hostService;
    // names.self is the root namespace's address on api's veth: with api's end down, that veth has no carrier,
    // and the interface list (getifaddrs through libuv) no longer shows the address, which is still this host's.
    const api = w.host('api');
    const link = (state: 'up' | 'down') => assert.equal(spawnSync('ip', ['-n', api.netns, 'link', 'set', 'eth0', state]).status, 0);
    link('down');
    try {
      const listed = Object.values(networkInterfaces()).flat().some((i) => i?.address === api.gateway4);
      assert.equal(listed, false, 'precondition: the interface list leaves the address out');
      const r = await cordon(['--allow-domain', w.names.self], [
        `curl -sS -o /dev/null -w '%{http_code}\\n' http://${w.names.self}:${hs.ports.http}/nocarrier`,
        `curl -sS -o /dev/null -w '%{http_code}\\n' --socks5-hostname 127.0.0.1:1080 http://${w.names.self}:${hs.ports.http}/nocarrier-socks 2>/dev/null; echo`,
      ].join('; '));
      assert.match(r.stdout, /^403\n000\n/, r.stderr);
      assert.deepEqual(await got(hs), [], 'nothing reached the host service');
    } finally {
      link('up');
    }
  });

  it('CONNECT and SOCKS to 127.0.0.1 and to literals are refused; SOCKS to an allowed name works', T, async () => {
    const api = w.host('api');
    const hs = w.hostService;
    await fresh();
    const r = await cordon(['--allow-domain', api.fqdn], [
      `curl -sS -o /dev/null -w '%{http_code}\\n' -p http://127.0.0.1:${hs.ports.http}/ 2>/dev/null; echo`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' --socks5-hostname 127.0.0.1:1080 http://127.0.0.1:${hs.ports.http}/ 2>/dev/null; echo`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' --socks5 127.0.0.1:1080 http://${api.ipv4}/ 2>/dev/null; echo`,
      `curl -sS -o /dev/null -w '%{http_code}\\n' --socks5-hostname 127.0.0.1:1080 http://${api.fqdn}/socks`,
    ].join('; '));
    assert.match(r.stdout.trim(), /200$/);
    assert.doesNotMatch(r.stdout.split('\n').slice(0, -2).join('\n'), /200/);
    assert.deepEqual(await got(hs), []);
    const reqs = await got(api, (x) => x.event === 'request');
    assert.deepEqual(reqs.map((x) => x.path), ['/socks']);
  });

  it('Unix sockets to host services (path and abstract) are unreachable', T, async () => {
    const hs = w.hostService;
    await fresh();
    const py = [
      'import socket',
      `for addr in ("${hs.unixSocket}", "\\0${hs.abstractSocket.replace(/^\0/, '')}"):`,
      '  try:',
      '    s = socket.socket(socket.AF_UNIX); s.connect(addr); s.sendall(b"leak"); print("CONNECTED")',
      '  except OSError as e: print("errno", e.errno)',
    ].join('\n');
    const r = await cordon(['--allow-domain', w.host('api').fqdn], `python3 -c '${py}'`);
    assert.equal(r.stdout, 'errno 1\nerrno 1\n', r.stderr);
    assert.deepEqual(await got(hs), []);
  });

  it('a listener inside the sandbox is not reachable from the host', T, async () => {
    const r = await cordon(['--allow-domain', w.host('api').fqdn], `python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 39271)); s.listen(); print("listening")' `);
    assert.equal(r.stdout, 'listening\n');
    const { connect } = await import('node:net');
    const reached = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: 39271 });
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    assert.equal(reached, false);
  });

  it('a deny rule beats a wildcard allow, and denyPrivateAddresses refuses names that resolve into private ranges', T, async () => {
    const api = w.host('api');
    const evil = w.host('evil');
    await fresh();
    const r = await cordon(['--allow-domain', '*.test.cordon', '--deny-domain', evil.fqdn], [
      `curl -sS -o /dev/null -w '%{http_code}\\n' http://${api.fqdn}/wild`,
      `curl -sS -i http://${evil.fqdn}/denied | grep -i x-cordon-reason`,
    ].join('; '));
    assert.match(r.stdout, /^200\nX-Cordon-Reason: denied-by-rule/i, r.stderr);
    assert.deepEqual(await got(evil), []);
    // The test hosts live in 10.250/16: with denyPrivateAddresses the same allowed name is refused.
    const settings = join(proj, '..', 'private.json');
    writeFileSync(settings, JSON.stringify({ network: { allowedDomains: [api.fqdn], denyPrivateAddresses: true } }));
    await fresh();
    const p = await cordon(['--settings', settings], `curl -sS -i http://${api.fqdn}/private | grep -i x-cordon-reason`);
    assert.match(p.stdout, /X-Cordon-Reason: resolved-to-denied-address/i, p.stderr);
    assert.deepEqual(await got(api), []);
  });

  it('--network dangerously-unfiltered keeps the host network (and is the control that the attacks above can succeed)', T, async () => {
    const api = w.host('api');
    await fresh();
    const r = await cordon(['--network', 'dangerously-unfiltered'], `curl -sS -m 5 -o /dev/null -w '%{http_code}\n' http://${api.ipv4}/direct; touch /etc/x 2>/dev/null || echo fs-walls-stay`);
    assert.equal(r.stdout, '200\nfs-walls-stay\n', r.stderr);
    assert.equal((await got(api, (x) => x.path === '/direct')).length, 1);
  });

  it('the proxies cannot be used from outside: not by a second local user, not without the session secret', { ...T, skip: process.getuid?.() !== 0 ? 'needs root to create the second user' : false }, async () => {
    const api = w.host('api');
    const user = testUser()!;
    await fresh();
    const running = w.spawn([process.execPath, CLI, '--allow-domain', api.fqdn, '--', '/bin/sh', '-c', 'echo up; sleep 5'], {
      cwd: proj, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await new Promise<void>((resolve) => running.stdout!.once('data', () => resolve()));
      const state = join(home, '.local', 'state', 'cordon');
      const netDir = readdirSync(state).find((n) => n.startsWith('net-'));
      assert.ok(netDir, 'the run has a proxy directory');
      const sock = join(state, netDir!, 'http.sock');
      const request = `GET http://${api.fqdn}/stolen HTTP/1.1\r\nHost: ${api.fqdn}\r\nConnection: close\r\n\r\n`;
      const py = `import socket,sys\ntry:\n  s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()); print("answer:", s.recv(100))\nexcept OSError as e: print("errno", e.errno)`;
      // A second local user cannot even reach the socket (0700 directory).
      const other = spawnSync('runuser', ['-u', user.name, '--', 'python3', '-c', py, sock, request], { encoding: 'utf8' });
      assert.equal(other.stdout.trim(), 'errno 13', other.stderr);
      // The same user without the session secret gets the connection closed, unanswered.
      const same = spawnSync('python3', ['-c', py, sock, request], { encoding: 'utf8' });
      assert.equal(same.stdout.trim(), "answer: b''");
      assert.deepEqual(await got(api), [], 'nothing reached the host');
    } finally {
      running.kill('SIGTERM');
      await new Promise((resolve) => running.once('close', resolve));
    }
  });

  it('without any allowed domain there is no network at all (no proxy either)', T, async () => {
    await fresh();
    const r = await cordon([], `env | grep -ci _proxy; curl -sS -m 3 -x http://127.0.0.1:3128 http://${w.host('api').fqdn}/ 2>&1 | head -c 40; echo`);
    assert.match(r.stdout, /^0\ncurl: \(7\)/);
    assert.deepEqual(await got(w.host('api')), []);
  });
});
