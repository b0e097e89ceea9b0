/**
 * cordon-relay against the real thing: a bubblewrap sandbox with its own
 * network namespace, held on --block-fd until the relay listens inside it,
 * a host Unix-socket server behind it, and a client inside that knows only
 * 127.0.0.1:PORT. Also: the relay is invisible from inside and dies with its
 * parent.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, createServer as createTcpServer, type Server } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const RELAY = join(ROOT, 'native', 'build', 'cordon-relay');

const SECRET = 'relay-test-secret_0123456789';
const PREAMBLE = `CORDON/1 ${SECRET}\n`;

/** Echoes what follows the session preamble; a connection without it gets "no-preamble". */
async function unixEcho(path: string): Promise<Server> {
  const s = createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', () => {}); // a relay that has gone (its sandbox ended) resets the connection
    const parts: Buffer[] = [];
    c.on('data', (d: Buffer) => parts.push(d));
    c.on('end', () => {
      const all = Buffer.concat(parts);
      if (!all.subarray(0, PREAMBLE.length).equals(Buffer.from(PREAMBLE))) return void c.end('no-preamble');
      c.end(Buffer.concat([Buffer.from('echo:'), all.subarray(PREAMBLE.length)]));
    });
  });
  await new Promise<void>((r) => s.listen(path, r));
  return s;
}

/** Python, for clients inside: read_all(s) reads a socket to EOF. */
const PY_READ_ALL = [
  'def read_all(s):',
  '    out = b""',
  '    while True:',
  '        c = s.recv(1 << 20)',
  '        if not c: return out',
  '        out += c',
];

/** A private directory for a test's proxy socket, removed after the file's tests. */
function socketDir(): { dir: string; sock: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-relay-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, sock: join(dir, 'p.sock') };
}

/** Runs argv in a fresh sandbox whose loopback port 3128 is relayed to `sock`. */
function sandboxed(sock: string, argv: string[], relayArgs: string[] = [], relayPrefix: string[] = []): Promise<{ code: number | null; out: string; relay: ChildProcess }> {
  return new Promise((resolve) => {
    const b = spawn('bwrap', ['--unshare-all', '--die-with-parent', '--new-session', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--info-fd', '3', '--block-fd', '4', '--', ...argv], { stdio: ['ignore', 'pipe', 'inherit', 'pipe', 'pipe'] });
    let info = '';
    let out = '';
    let relay: ChildProcess | undefined;
    b.stdout!.on('data', (d: Buffer) => { out += d; });
    b.stdio[3]!.on('data', (d: Buffer) => {
      info += d;
      const m = /"child-pid"\s*:\s*(\d+)/.exec(info);
      if (!m || relay) return;
      const relayArgv = [...relayPrefix, RELAY, '--pid', m[1]!, '--map', `3128=${sock}`, ...relayArgs];
      relay = spawn(relayArgv[0]!, relayArgv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
      relay.stdin!.end(`${SECRET}\n`);
      relay.stdout!.once('data', () => (b.stdio[4] as NodeJS.WritableStream).write('x'));
    });
    b.on('close', (code) => { relay?.kill('SIGKILL'); resolve({ code, out, relay: relay! }); });
  });
}

test('a client inside reaches the host Unix socket only through 127.0.0.1:PORT, with half-close', async () => {
  const { sock } = socketDir();
  const srv = await unixEcho(sock);
  try {
    const py = "import socket;s=socket.create_connection(('127.0.0.1',3128));s.sendall(b'x'*200000);s.shutdown(socket.SHUT_WR);d=b''\nwhile True:\n  c=s.recv(65536)\n  if not c: break\n  d+=c\nprint(len(d), d[:5].decode())";
    const r = await sandboxed(sock, ['python3', '-c', py]);
    assert.equal(r.code, 0);
    assert.equal(r.out.trim(), `${200000 + 5} echo:`);
    // Control: without the relay the same port is closed (so the test can fail).
    const direct = spawnSync('bwrap', ['--unshare-all', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--', 'python3', '-c', "import socket\ntry:\n  socket.create_connection(('127.0.0.1',3128),timeout=2); print('open')\nexcept OSError as e: print('closed')"], { encoding: 'utf8' });
    assert.equal(direct.stdout.trim(), 'closed');
  } finally {
    srv.close();
  }
});

test('the relay is not visible from inside the sandbox', async () => {
  const { sock } = socketDir();
  const srv = await unixEcho(sock);
  try {
    const r = await sandboxed(sock, ['sh', '-c', 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "']);
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.out, /cordon-relay/);
  } finally {
    srv.close();
  }
});

test('the relay dies with its parent', async () => {
  const { dir } = socketDir();
  // A sandbox to point the relay at, and a parent shell that starts the relay and is then SIGKILLed.
  const box = spawn('bwrap', ['--unshare-all', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--info-fd', '3', '--', 'sleep', '5'], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  const boxPid = await new Promise<number>((r) => {
    let info = '';
    box.stdio[3]!.on('data', (d: Buffer) => { info += d; const m = /"child-pid"\s*:\s*(\d+)/.exec(info); if (m) r(Number(m[1])); });
  });
  // The relay is a direct child of the shell (no pipeline: an intermediate
  // process would be its parent), its stdout goes nowhere, so the shell's
  // only output line is the relay's pid.
  writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
  const parent = spawn('sh', ['-c', `${RELAY} --pid ${boxPid} --map 39123=${join(dir, 'none.sock')} < ${join(dir, 'secret')} > /dev/null & echo $!; wait`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((r) => parent.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  after(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone, as it should be */ } });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(spawnSync('kill', ['-0', String(pid)]).status, 0, 'relay running');
  box.on('exit', () => {});
  after(() => box.kill('SIGKILL'));
  parent.kill('SIGKILL');
  let alive = true;
  for (let i = 0; i < 50 && alive; i++) {
    await new Promise((r) => setTimeout(r, 20));
    alive = spawnSync('kill', ['-0', String(pid)]).status === 0 && !/State:\s+Z/.test(spawnSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }).stdout);
  }
  assert.equal(alive, false);
});

test('the relay waits for a loopback interface that is not up yet, then listens', async () => {
  // bubblewrap reports its child's pid before that child brings loopback up;
  // here the interface stays down until the test raises it, so the race the
  // relay must survive is forced every time.
  const { sock } = socketDir();
  const srv = await unixEcho(sock);
  const ns = spawn('unshare', ['--user', '--map-root-user', '--net', 'sleep', '30'], { stdio: 'ignore' });
  after(() => ns.kill('SIGKILL'));
  try {
    await new Promise((r) => setTimeout(r, 100));
    const nsPid = String(ns.pid);
    const inNs = (argv: string[]) => spawnSync('nsenter', ['-t', nsPid, '-U', '-n', '--preserve-credentials', ...argv], { encoding: 'utf8' });
    // The state bubblewrap's setup passes through: a local routing table
    // exists, loopback is down, 127.0.0.1 is not local yet. (A namespace with
    // no local table at all accepts any bind, so that would prove nothing.)
    assert.equal(inNs(['ip', 'addr', 'add', '10.9.9.9/32', 'dev', 'lo']).status, 0);
    const probe = inNs(['python3', '-c', "import socket\ntry:\n  socket.socket().bind(('127.0.0.1',3128)); print('bound')\nexcept OSError as e: print(e.errno)"]);
    assert.equal(probe.stdout.trim(), '99', `127.0.0.1 is not bindable yet (EADDRNOTAVAIL): ${probe.stderr}`);
    const relay = spawn(RELAY, ['--pid', nsPid, '--map', `3128=${sock}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    after(() => relay.kill('SIGKILL'));
    relay.stdin!.end(`${SECRET}\n`);
    let out = '';
    let err = '';
    relay.stdout!.on('data', (d: Buffer) => { out += d; });
    relay.stderr!.on('data', (d: Buffer) => { err += d; });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(out, '', 'not ready while loopback is down');
    assert.equal(relay.exitCode, null, `still waiting, not dead: ${err}`);
    assert.equal(inNs(['ip', 'link', 'set', 'lo', 'up']).status, 0);
    for (let i = 0; i < 100 && !out; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(out, 'ready\n', err);
    const py = "import socket;s=socket.create_connection(('127.0.0.1',3128));s.sendall(b'hi');s.shutdown(socket.SHUT_WR);print(s.recv(100).decode())";
    // Asynchronously: the echo server answering it lives in this process.
    const client = spawn('nsenter', ['-t', nsPid, '-U', '-n', '--preserve-credentials', 'python3', '-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
    let got = '';
    client.stdout!.on('data', (d: Buffer) => { got += d; });
    await new Promise((r) => client.on('close', r));
    assert.equal(got.trim(), 'echo:hi');
  } finally {
    srv.close();
  }
});

test('--dial-port: a CONNECT is decided by the proxy (which sees the head, and the first bytes of the tunnel for the name check) and dialed from the host by the relay', async () => {
  const { sock } = socketDir();
  // A TCP server on the host's loopback: the sandbox's own loopback cannot reach it.
  const echo = createTcpServer((c) => { c.once('data', (d: Buffer) => c.end(Buffer.concat([Buffer.from('echo:'), d]))); });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const port = (echo.address() as { port: number }).port;
  const heads: string[] = [];
  const firstBytes: string[] = [];
  const reports: string[] = [];
  const proxy = createServer({ allowHalfOpen: true }, (c) => {
    let all = '';
    let dialed = false;
    let going = false;
    c.on('data', (d: Buffer) => {
      // Once spliced, the relay keeps this connection and says at the end what the tunnel carried.
      if (going) return void reports.push(d.toString('latin1'));
      // After the dial: the tunnel's first bytes, for the name check; the answer lets the relay splice.
      if (dialed) {
        firstBytes.push(d.toString('latin1'));
        going = true;
        return void c.write('CORDON-GO\r\n');
      }
      all += d.toString('latin1');
      if (!all.includes('\r\n\r\n')) return;
      heads.push(all);
      if (!all.startsWith(`CORDON/D ${SECRET}\n`)) return void c.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      if (all.includes('refuse.invalid')) return void c.end('HTTP/1.1 403 Forbidden\r\nX-Cordon-Reason: not-allowed\r\nContent-Length: 0\r\n\r\n');
      dialed = true;
      c.write(`CORDON-DIAL 127.0.0.1 ${port}\r\n`);
    });
  });
  await new Promise<void>((r) => proxy.listen(sock, r));
  try {
    const py = [
      'import socket',
      ...PY_READ_ALL,
      'def ask(data, half_close=True):',
      '    s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(data)',
      '    if half_close: s.shutdown(socket.SHUT_WR)',
      '    out = read_all(s).decode(); s.close(); return out',
      // Not half-closed before the verdict: the relay keeps its line to the proxy open for the byte counts.
      'print(repr(ask(b"CONNECT allowed.invalid:443 HTTP/1.1\\r\\n\\r\\nhello", False)))',
      'print(repr(ask(b"CONNECT refuse.invalid:443 HTTP/1.1\\r\\n\\r\\nsecret")))',
    ].join('\n');
    const r = await sandboxed(sock, ['python3', '-c', py], ['--dial-port', '3128']);
    assert.equal(r.code, 0);
    assert.equal(r.out, `${JSON.stringify('HTTP/1.1 200 Connection Established\r\n\r\necho:hello').replace(/"/g, "'")}\n'HTTP/1.1 403 Forbidden\\r\\nX-Cordon-Reason: not-allowed\\r\\nContent-Length: 0\\r\\n\\r\\n'\n`);
    // The proxy saw the heads, and the allowed tunnel's first bytes once (the name check): never a refused tunnel's bytes.
    assert.equal(heads.length, 2);
    for (const h of heads) assert.ok(!h.slice(`CORDON/D ${SECRET}\n`.length).match(/hello|secret/), h);
    assert.deepEqual(firstBytes, ['hello']);
    // What the tunnel carried (5 bytes up, 10 down), with the session secret: no client byte can forge it.
    for (let i = 0; i < 40 && !reports.join('').endsWith('\r\n'); i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(reports.join(''), `CORDON-DONE ${SECRET} 5 10\r\n`);
  } finally {
    proxy.close();
    echo.close();
  }
});

/** Samples the peak RSS (VmHWM) of the relay serving `sock` every 50 ms; peakKiB() is 0 until it was found. */
function relayMemory(sock: string): { peakKiB(): number; stop(): void } {
  let peak = 0;
  let pid = 0;
  const timer = setInterval(() => {
    if (!pid) pid = Number(spawnSync('pgrep', ['-f', `cordon-relay --pid .* ${sock}`], { encoding: 'utf8' }).stdout.trim().split('\n')[0]) || 0;
    const m = pid ? /VmHWM:\s+(\d+) kB/.exec(spawnSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }).stdout) : null;
    if (m) peak = Math.max(peak, Number(m[1]));
  }, 50);
  return { peakKiB: () => peak, stop: () => clearInterval(timer) };
}

test('--dial-port: 300 tunnels with readers that do not read keep the relay small (the kernel holds the bytes, bounded)', async (t) => {
  const { sock } = socketDir();
  // Every tunnel's server pushes 4 MiB at once; the client inside reads nothing until the end.
  const chunk = Buffer.alloc(4 * 1024 * 1024, 0x61);
  const source = createTcpServer((c) => { c.on('error', () => {}); c.end(chunk); });
  await new Promise<void>((r) => source.listen(0, '127.0.0.1', r));
  const port = (source.address() as { port: number }).port;
  // A proxy that lets every tunnel through at once: the dial and the name check's answer together.
  const proxy = createServer({ allowHalfOpen: true }, (c) => { c.on('error', () => {}); c.once('data', () => c.end(`CORDON-DIAL 127.0.0.1 ${port}\r\nCORDON-GO\r\n`)); });
  await new Promise<void>((r) => proxy.listen(sock, r));
  const memory = relayMemory(sock);
  try {
    const py = [
      'import socket, time',
      ...PY_READ_ALL,
      'socks = []',
      'for i in range(300):',
      '    s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(b"CONNECT t:1 HTTP/1.1\\r\\n\\r\\n"); socks.append(s)',
      'time.sleep(1.5)',
      'total = 0',
      'for s in socks:',
      '    total += len(read_all(s))',
      '    s.close()',
      'print(total)',
    ].join('\n');
    // The server closes after its write, so every tunnel ends with EOF.
    const r = await sandboxed(sock, ['python3', '-c', py], ['--dial-port', '3128']);
    assert.equal(r.code, 0);
    // Each tunnel carries its 200 line plus 4 MiB.
    assert.equal(Number(r.out.trim()), 300 * (4 * 1024 * 1024 + 'HTTP/1.1 200 Connection Established\r\n\r\n'.length));
    const peakKiB = memory.peakKiB();
    assert.ok(peakKiB > 0 && peakKiB < 48 * 1024, `relay peak RSS ${peakKiB} KiB`);
    t.diagnostic(`relay peak RSS ${peakKiB} KiB with 300 tunnels of 4 MiB each`);
  } finally {
    memory.stop();
    proxy.close();
    source.close();
  }
});

/**
 * A fake proxy for plain-HTTP heads on the dial port: it records each head
 * and answers "forward to 127.0.0.1:port" with a rewritten head (origin form,
 * plus `X-Rewritten: 1`) and the body length from the head's Content-Length.
 */
function forwardingProxy(sock: string, port: number, heads: string[]): Promise<Server> {
  const proxy = createServer({ allowHalfOpen: true }, (c) => {
    let buf = '';
    c.on('error', () => {});
    c.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.startsWith(`CORDON/D ${SECRET}\n`)) buf = buf.slice(`CORDON/D ${SECRET}\n`.length);
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        heads.push(head);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        const rewritten = head.replace(/^(\w+) http:\/\/[^/ ]+/, '$1 ').replace('\r\n\r\n', '\r\nX-Rewritten: 1\r\n\r\n');
        c.write(`HTTP/1.1 200 OK\r\nX-Cordon-Forward: 127.0.0.1 ${port} ${length}\r\nContent-Length: ${Buffer.byteLength(rewritten, 'latin1')}\r\n\r\n${rewritten}`, 'latin1');
      }
    });
  });
  return new Promise<Server>((r) => proxy.listen(sock, () => r(proxy)));
}

test('--dial-port: plain-HTTP requests are judged by the proxy (which sees only heads) and sent by the relay with their bodies', async () => {
  const { sock } = socketDir();
  const got: string[] = [];
  // The upstream answers each request with what it received (head and body), framed by Content-Length.
  const upstream = createTcpServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end + 4).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const all = buf.subarray(0, end + 4 + length).toString('latin1');
        buf = buf.subarray(end + 4 + length);
        got.push(all);
        c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${all.length}\r\n\r\n${all}`, 'latin1');
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const heads: string[] = [];
  const proxy = await forwardingProxy(sock, (upstream.address() as { port: number }).port, heads);
  try {
    const py = [
      'import socket',
      ...PY_READ_ALL,
      's = socket.create_connection(("127.0.0.1", 3128))',
      's.sendall(b"POST http://x.invalid/a HTTP/1.1\\r\\nHost: x.invalid\\r\\nContent-Length: 11\\r\\n\\r\\nsecret-body" + b"GET http://x.invalid/b HTTP/1.1\\r\\nHost: x.invalid\\r\\n\\r\\n")',
      's.shutdown(socket.SHUT_WR)',
      'print(repr(read_all(s).decode()))',
    ].join('\n');
    const r = await sandboxed(sock, ['python3', '-c', py], ['--dial-port', '3128']);
    assert.equal(r.code, 0);
    const first = 'POST /a HTTP/1.1\r\nHost: x.invalid\r\nContent-Length: 11\r\nX-Rewritten: 1\r\n\r\nsecret-body';
    const second = 'GET /b HTTP/1.1\r\nHost: x.invalid\r\nX-Rewritten: 1\r\n\r\n';
    assert.deepEqual(got, [first, second], 'the upstream got the rewritten heads and the body');
    const answer = (s: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${s.length}\r\n\r\n${s}`;
    assert.equal(r.out, `${JSON.stringify(answer(first) + answer(second)).replace(/'/g, "\\'").replace(/^"|"$/g, "'")}\n`);
    assert.equal(heads.length, 2);
    for (const h of heads) assert.ok(!h.includes('secret-body'), 'the proxy never sees a body');
  } finally {
    proxy.close();
    upstream.close();
  }
});

test('--dial-port: 300 plain-HTTP downloads whose readers wait keep the relay small', async (t) => {
  const { sock } = socketDir();
  const body = Buffer.alloc(4 * 1024 * 1024, 0x62);
  const source = createTcpServer((c) => {
    c.on('error', () => {});
    c.once('data', () => { c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`); c.write(body); });
  });
  await new Promise<void>((r) => source.listen(0, '127.0.0.1', r));
  const proxy = await forwardingProxy(sock, (source.address() as { port: number }).port, []);
  const memory = relayMemory(sock);
  try {
    const headLen = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`.length;
    const py = [
      'import socket, time',
      'socks = []',
      'for i in range(300):',
      '    s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(b"GET http://t.invalid/ HTTP/1.1\\r\\nHost: t.invalid\\r\\n\\r\\n"); socks.append(s)',
      'time.sleep(1.5)',
      'total = 0',
      'for s in socks:',
      '    got = 0',
      // Each whole response, head and body; a short one shows as a short total.
      `    while got < ${headLen + body.length}:`,
      '        c = s.recv(1 << 20)',
      '        if not c: break',
      '        got += len(c)',
      '    total += got',
      '    s.close()',
      'print(total)',
    ].join('\n');
    const r = await sandboxed(sock, ['python3', '-c', py], ['--dial-port', '3128']);
    assert.equal(r.code, 0);
    assert.equal(Number(r.out.trim()), 300 * (body.length + headLen));
    const peakKiB = memory.peakKiB();
    assert.ok(peakKiB > 0 && peakKiB < 48 * 1024, `relay peak RSS ${peakKiB} KiB`);
    t.diagnostic(`relay peak RSS ${peakKiB} KiB with 300 plain-HTTP downloads of 4 MiB each`);
  } finally {
    memory.stop();
    proxy.close();
    source.close();
  }
});

/** The relay's pid (pgrep by its socket), its open TCP sockets (the sandbox's side) and its CPU ticks, from /proc. */
function relayStats(sock: string): { sockets: number; ticks: number } | undefined {
  const pid = Number(spawnSync('pgrep', ['-f', `cordon-relay --pid .* ${sock}`], { encoding: 'utf8' }).stdout.trim().split('\n')[0]) || 0;
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // TCP sockets of the sandbox's namespace, by inode (its Unix sockets to the proxy are not counted).
    const tcp = new Set<string>();
    for (const f of ['tcp', 'tcp6']) {
      for (const line of readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n').slice(1)) {
        const inode = line.trim().split(/\s+/)[9];
        if (inode && inode !== '0') tcp.add(inode);
      }
    }
    let sockets = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && tcp.has(m[1]!)) sockets++;
      } catch { /* closed meanwhile */ }
    }
    return { sockets, ticks: Number(stat[11]) + Number(stat[12]) };
  } catch {
    return undefined;
  }
}

/** Inside: opens `n` connections to 3128 that say nothing, holds them `secs`, prints how many opened. */
const HOLD_PY = (n: number, secs: number) => [
  'import resource, socket, time',
  'soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)',
  `resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, ${n} + 64), hard))`,
  'socks = []',
  `for i in range(${n}):`,
  '    try: socks.append(socket.create_connection(("127.0.0.1", 3128), timeout=2))',
  '    except OSError: pass',
  `time.sleep(${secs})`,
  'print(len(socks))',
].join('\n');

test('the relay takes at most 1024 connections at once: the rest wait in the backlog, and get no descriptor or thread', async () => {
  const { sock } = socketDir();
  const srv = await unixEcho(sock);
  let peak = 0;
  const timer = setInterval(() => { peak = Math.max(peak, relayStats(sock)?.sockets ?? 0); }, 100);
  try {
    // The connections say nothing while held: each accepted one is one socket of the relay's (and its intake thread).
    const r = await sandboxed(sock, ['python3', '-c', HOLD_PY(1300, 2)], ['--dial-port', '3128']);
    assert.equal(r.code, 0);
    assert.ok(Number(r.out.trim()) > 1024, `connections opened inside: ${r.out}`);
    // Besides the accepted ones: the listener.
    assert.ok(peak >= 1000 && peak <= 1024 + 1, `relay TCP sockets at most: ${peak}`);
  } finally {
    clearInterval(timer);
    srv.close();
  }
});

test('out of descriptors, the relay waits instead of spinning on accept()', async () => {
  const { sock } = socketDir();
  const srv = await unixEcho(sock);
  let first: number | undefined;
  let last = 0;
  const timer = setInterval(() => { const st = relayStats(sock); if (st) { first ??= st.ticks; last = st.ticks; } }, 100);
  try {
    // 64 descriptors: the relay runs out long before its cap, with connections still waiting.
    const r = await sandboxed(sock, ['python3', '-c', HOLD_PY(200, 3)], ['--dial-port', '3128'], ['prlimit', '--nofile=64:64', '--']);
    assert.equal(r.code, 0);
    const cpuSeconds = (last - (first ?? last)) / 100;
    assert.ok(cpuSeconds < 1, `the relay used ${cpuSeconds} s of CPU in ~3 s with no descriptor left`);
  } finally {
    clearInterval(timer);
    srv.close();
  }
});

