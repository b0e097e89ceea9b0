/**
 * network.allowUnixSockets: exactly the named host sockets are reachable from
 * inside; every other one is refused, however it is named (relative path,
 * symlink, datagram), and the supervisor that decides cannot be robbed of its
 * listener. Judged by what the host servers saw, not by the command's word.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { CLI, cordonAsync, makeWorld, own, ROOT, runners, type World } from '../../helpers/cordon.js';

interface Recorder { server: Server; connections: number; got: string[] }

/** A host Unix socket server that answers "echo:" + what it read, and counts who came. */
async function recorder(path: string): Promise<Recorder> {
  const r: Recorder = { server: createServer({ allowHalfOpen: true }, (c) => {
    r.connections++;
    // A client that closes without reading the answer (the race below) is no error of the server's.
    c.on('error', () => {});
    let data = '';
    c.on('data', (d: Buffer) => { data += d; });
    c.on('end', () => { r.got.push(data); c.end(`echo:${data}`); });
  }), connections: 0, got: [] };
  await new Promise<void>((resolve) => r.server.listen(path, resolve));
  chmodSync(path, 0o777);
  return r;
}

function run(w: World, args: readonly string[], cwd?: string, opts: { asUser?: string } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const c = cordonAsync(w, args, { ...(cwd ? { cwd } : {}), ...opts });
  let stdout = '';
  let stderr = '';
  c.stdout.on('data', (d: Buffer) => { stdout += d; });
  c.stderr.on('data', (d: Buffer) => { stderr += d; });
  return new Promise((resolve) => c.on('close', (status) => resolve({ status, stdout, stderr })));
}

// One Python client: connect to argv[1] (a path, or @name for abstract), send "hi", print the answer or the errno name.
const CLIENT = `
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
    s.sendall(b"hi"); s.shutdown(socket.SHUT_WR)
    print(s.recv(100).decode())
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
`;

const hostDirs: string[] = [];
after(() => { for (const d of hostDirs) rmSync(d, { recursive: true, force: true }); });

/** A directory for a granted socket like ssh-agent's: in the host's /tmp, which the sandbox does not see by default. */
function hostAgentDir(): string {
  const d = mkdtempSync('/tmp/cordon-agent-');
  hostDirs.push(d);
  chmodSync(d, 0o755);
  return d;
}

test('a granted socket is reachable (also under the private /tmp, and by a relative path); others are refused', async () => {
  const w = makeWorld();
  const agentDir = hostAgentDir();
  const granted = await recorder(join(agentDir, 'agent.sock'));
  const other = await recorder(join(w.outside, 'docker.sock'));
  writeFileSync(join(w.proj, 'client.py'), CLIENT);
  symlinkSync(join(w.outside, 'docker.sock'), join(w.proj, 'link.sock'));
  const settings = join(w.outside, 'grants.json');
  writeFileSync(settings, JSON.stringify({ network: { allowUnixSockets: [join(agentDir, 'agent.sock')] } }));
  try {
    const script = [
      `python3 client.py ${join(agentDir, 'agent.sock')}`,
      `(cd ${agentDir} && python3 ${join(w.proj, 'client.py')} agent.sock)`,
      `python3 client.py ${join(w.outside, 'docker.sock')}`,
      'python3 client.py link.sock',
      `python3 -c "import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)" 2>&1 | grep -o PermissionError`,
    ].join('; ');
    const r = await run(w, ['--settings', settings, '-c', script]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'echo:hi\necho:hi\nEACCES\nEACCES\nPermissionError\n');
    assert.match(r.stderr, /refused a Unix socket connection to .*docker\.sock \(not in network\.allowUnixSockets\)/);
    // What the servers saw: two conversations with the granted one, nothing at all at the other.
    assert.equal(granted.connections, 2);
    assert.deepEqual(granted.got, ['hi', 'hi']);
    assert.equal(other.connections, 0);
    // Control: without the grant the same socket is refused too (so the allow above can fail).
    const denied = await run(w, ['-c', `python3 client.py ${join(agentDir, 'agent.sock')} 2>&1 | tail -1`]);
    assert.match(denied.stdout, /PermissionError|EPERM/);
    assert.equal(granted.connections, 2);
  } finally {
    granted.server.close();
    other.server.close();
  }
});

test('a refused socket path is named escaped on cordon\'s stderr (no terminal control, no line of its own), once per path, and a command that loops on refused connections to new paths gets 20 named, then one line', async () => {
  const w = makeWorld();
  const agentDir = hostAgentDir();
  const granted = await recorder(join(agentDir, 'agent.sock'));
  const settings = join(w.outside, 'grants.json');
  writeFileSync(settings, JSON.stringify({ network: { allowUnixSockets: [join(agentDir, 'agent.sock')] } }));
  // The path the command asks for: a newline and a forged cordon line, an OSC title, cursor movement.
  const forged = '/x\ncordon: all clear, nothing was refused\n\x1b]0;PWNED\x07\x1b[2K\x1b[1A';
  // Then one path 50 times (named once), then 100 others.
  const loop = `import socket, sys\nfor p in [sys.argv[1]] + ["/same"] * 50 + ["/nothing/%d" % i for i in range(100)]:\n    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n    try: s.connect(p)\n    except OSError: pass\n`;
  writeFileSync(join(w.proj, 'loop.py'), loop);
  try {
    // Debian's python3, not a version manager's shim (whose own lookups would be refused connections too).
    const r = await run(w, ['--settings', settings, '--', '/usr/bin/python3', 'loop.py', forged]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(r.stderr), `no control byte but newlines reaches cordon's stderr:\n${JSON.stringify(r.stderr)}`);
    assert.ok(!r.stderr.split('\n').some((l) => l.startsWith('cordon: all clear')), 'no line of the command\'s own');
    assert.match(r.stderr, /refused a Unix socket connection to \/x\\x0acordon: all clear, nothing was refused\\x0a\\x1b\]0;PWNED\\x07\\x1b\[2K\\x1b\[1A \(not in network\.allowUnixSockets\)/);
    const named = r.stderr.split('\n').filter((l) => l.startsWith('cordon: refused a Unix socket connection'));
    assert.equal(named.length, 20, r.stderr);
    assert.equal(named.filter((l) => l.includes(' /same ')).length, 1, 'a path is named once');
    assert.equal(r.stderr.split('\n').filter((l) => l === 'cordon: Unix socket connections to more paths were refused; they are not named').length, 1);
  } finally {
    granted.server.close();
  }
});

test('with grants: abstract sockets inside the sandbox and TCP to the proxy still work', async () => {
  const w = makeWorld();
  const other = await recorder(join(w.outside, 'any.sock'));
  const settings = join(w.outside, 'grants.json');
  writeFileSync(settings, JSON.stringify({ network: { allowUnixSockets: [join(w.outside, 'any.sock')], allowedDomains: ['allowed.invalid'] } }));
  const abstract = "import socket,os\ns=socket.socket(socket.AF_UNIX);s.bind('\\0cordon-test');s.listen(1)\nc=socket.socket(socket.AF_UNIX);c.connect('\\0cordon-test');a,_=s.accept();c.sendall(b'in');print(a.recv(9).decode())";
  try {
    const r = await run(w, ['--settings', settings, '-c', `python3 -c "${abstract}"; curl -s -o /dev/null -w '%{http_code}\\n' -x http://127.0.0.1:3128 http://notallowed.invalid/`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'in\n403\n');
    assert.equal(other.connections, 0);
  } finally {
    other.server.close();
  }
});

test("the command cannot take the supervisor's listener (or any descriptor) from PID 1", async () => {
  const w = makeWorld();
  const other = await recorder(join(w.outside, 'x.sock'));
  const settings = join(w.outside, 'grants.json');
  writeFileSync(settings, JSON.stringify({ network: { allowUnixSockets: [join(w.outside, 'x.sock')] } }));
  // pidfd_getfd(pidfd_open(1), fd) for fds 0..15: each must fail (PID 1 is not dumpable).
  const steal = 'import ctypes,os\nlibc=ctypes.CDLL(None,use_errno=True)\npfd=os.pidfd_open(1)\ngot=[fd for fd in range(16) if libc.syscall(438,pfd,fd,0)>=0]\nprint("stolen" if got else "none", ctypes.get_errno())';
  try {
  // And through /proc: opening /proc/1/fd/N would hand out the same file.
  const viaProc = 'import os\nopened=[]\nfor fd in range(16):\n  try: os.close(os.open("/proc/1/fd/%d" % fd, os.O_RDONLY)); opened.append(fd)\n  except OSError: pass\nprint("opened", opened)';
    const r = await run(w, ['--settings', settings, '-c', `python3 -c '${steal}'; python3 -c '${viaProc}'`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'none 1\nopened []\n'); // EPERM, and nothing opened
  } finally {
    other.server.close();
  }
});

test('PID 1 is not dumpable at any moment the command exists: it gives that up before the fork that makes the command', () => {
  const w = makeWorld();
  const settings = join(w.outside, 'grants.json');
  writeFileSync(settings, JSON.stringify({ network: { allowUnixSockets: [join(w.outside, 'x.sock')] } }));
  const trace = join(w.outside, 'trace');
  const r = spawnSync('strace', ['-f', '-qq', '-s', '256', '-o', trace, '-e', 'trace=prctl,clone,clone3,fork,vfork,execve', CLI, '--settings', settings, '--', 'true'], { cwd: w.proj, env: w.env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  // The sandbox's PID 1 is the process that execs `cordon-helper run`; in its own lines, what comes after that.
  // Each line: the pid (padded with spaces to a width), then the call.
  const lines = readFileSync(trace, 'utf8').split('\n').map((l) => /^(\d+)\s+(.*)$/.exec(l)).filter((m) => m !== null).map((m) => ({ pid: m[1]!, call: m[2]! }));
  const pid = lines.find((l) => /^execve\("[^"]*cordon-helper", \["[^"]*", "run"/.test(l.call))?.pid;
  assert.ok(pid, 'no helper in the trace');
  const own = lines.filter((l) => l.pid === pid).map((l) => l.call);
  const after = own.slice(own.findIndex((l) => l.startsWith('execve(')));
  const fork = after.findIndex((l) => /^(clone3?|fork|vfork)\(/.test(l));
  const dumpable = after.findIndex((l) => /^prctl\(PR_SET_DUMPABLE, (0|SUID_DUMP_DISABLE)\)/.test(l));
  assert.ok(fork > 0 && dumpable > 0, after.join('\n'));
  assert.ok(dumpable < fork, after.join('\n'));
});

for (const { who, world, opts } of runners()) {
  test(`a rename racing the check cannot lead a granted connect to another socket: PID 1 connects to the socket it opened before the command existed (${who})`, { timeout: 60_000 }, async () => {
    const w = world();
    // Inside, the granted socket's directory is on the private /tmp: the command's to rename.
    const agentDir = hostAgentDir();
    const granted = await recorder(join(agentDir, 'agent.sock'));
    const other = await recorder(join(w.outside, 'other.sock'));
    const bin = join(w.proj, 'unix-grant-race');
    const cc = spawnSync(process.env.CC || 'cc', ['-O2', '-Wall', '-Werror', '-pthread', '-o', bin, join(ROOT, 'test', 'fixtures', 'unix-grant-race.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const settings = join(w.outside, 'grants.json');
    writeFileSync(settings, JSON.stringify({ network: { allowUnixSockets: [join(agentDir, 'agent.sock')] } }));
    own(w, opts);
    try {
      const r = await run(w, ['--settings', settings, '--', bin, join(agentDir, 'agent.sock'), join(w.outside, 'other.sock'), '3'], undefined, opts);
      assert.equal(r.status, 0, r.stderr.slice(0, 2000));
      const m = /^connected (\d+) refused (\d+)\n$/.exec(r.stdout);
      assert.ok(m && Number(m[1]) > 0, r.stdout);
      // What the servers saw: the other socket, never granted, was never reached.
      assert.equal(other.connections, 0, `the other socket was reached ${other.connections} times (${r.stdout.trim()})`);
      assert.ok(granted.connections > 0);
    } finally {
      granted.server.close();
      other.server.close();
    }
  });
}

test('a granted path that is not a socket: the warning reaches the user, and nothing is granted', async () => {
  const w = makeWorld();
  writeFileSync(join(w.outside, 'plain-file'), 'not a socket');
  const settings = join(w.outside, 'grants.json');
  writeFileSync(settings, JSON.stringify({ network: { allowUnixSockets: [join(w.outside, 'plain-file'), join(w.outside, 'missing.sock')] } }));
  const r = await run(w, ['--settings', settings, '-c', `python3 -c "import socket; socket.socket(socket.AF_UNIX)" 2>&1 | grep -o PermissionError`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`cordon: warning: .*grants\\.json: network\\.allowUnixSockets\\[0\\]: ${join(w.outside, 'plain-file')} is not a Unix socket \\(now\\); not granted`));
  assert.match(r.stderr, /cordon: warning: .*network\.allowUnixSockets\[1\]: .*missing\.sock is not a Unix socket \(now\); not granted/);
  assert.equal(r.stdout, 'PermissionError\n', 'with no grant left, Unix sockets stay refused');
});
