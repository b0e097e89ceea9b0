/**
 * The seccomp filter under the real kernel: a C probe tries each refused call
 * from inside bubblewrap, with the filter on fd 3, and must get exactly the
 * errno cordon promises. A control run without the filter must answer
 * differently (otherwise the probe proves nothing), and ordinary programs
 * (sh, python3, node) must still run under the filter.
 *
 * Then through the real cordon (the helper installs the filter the plan
 * asks for), as root and as an unprivileged user: every route to a host
 * Unix socket, inherited stdio, socket families (AF_VSOCK's port on the
 * host), and no-delete's data-destroying calls, each judged by what the host
 * saw (datagrams and connections received, the file's bytes).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { compileSeccompFilter, hostSeccompArch, type SeccompArch } from '../../../src/platform/linux/seccomp.js';
import { buildSeccompProbe, bwrapUnavailable, runUnderBwrap, type RunResult } from '../../helpers/bwrap-seccomp.js';
import { CLI, cordon, makeWorld, testUser, type World } from '../../helpers/cordon.js';

function supportedArch(): SeccompArch | null {
  try {
    return hostSeccompArch();
  } catch {
    return null;
  }
}

const arch = supportedArch();
// Compiled before the probe is built, so a generator bug cannot leave a temp dir behind.
const filter = arch ? compileSeccompFilter(arch) : Buffer.alloc(0);
const unavailable = arch === null ? `no seccomp filter for ${process.arch}` : bwrapUnavailable();
const probe = unavailable ? null : buildSeccompProbe();
const skip: string | false = unavailable ?? (typeof probe === 'string' ? probe : false);
const probePath = probe && typeof probe !== 'string' ? probe.path : '';
after(() => {
  if (probe && typeof probe !== 'string') probe.cleanup();
});

/** Probe name → the exact answer under the filter. */
const DENIED: Record<string, string> = {
  'unshare-user': 'EPERM',
  'unshare-net': 'EPERM',
  'unshare-mount': 'EPERM',
  'unshare-time': 'EPERM',
  'unshare-user-hibit': 'EPERM',
  'clone-newuser': 'EPERM',
  'clone-newuser-hibit': 'EPERM',
  'clone-newpid': 'EPERM',
  'clone-newnet': 'EPERM',
  clone3: 'ENOSYS',
  setns: 'EPERM',
  mount: 'EPERM',
  umount2: 'EPERM',
  pivot_root: 'EPERM',
  open_tree: 'EPERM',
  open_tree_attr: 'EPERM',
  move_mount: 'EPERM',
  fsopen: 'EPERM',
  fsconfig: 'EPERM',
  fsmount: 'EPERM',
  fspick: 'EPERM',
  mount_setattr: 'EPERM',
  io_uring_setup: 'EPERM',
  io_uring_enter: 'EPERM',
  io_uring_register: 'EPERM',
  keyctl: 'EPERM',
  add_key: 'EPERM',
  request_key: 'EPERM',
  bpf: 'EPERM',
  perf_event_open: 'EPERM',
  userfaultfd: 'EPERM',
  kexec_load: 'EPERM',
  kexec_file_load: 'EPERM',
  init_module: 'EPERM',
  finit_module: 'EPERM',
  delete_module: 'EPERM',
  open_by_handle_at: 'EPERM',
  tiocsti: 'EPERM',
  'tiocsti-hibit': 'EPERM',
  tioclinux: 'EPERM',
  'unix-socket': 'EPERM',
  'unix-socket-hibit': 'EPERM',
  'unix-dgram': 'EPERM',
  'unix-seqpacket': 'EPERM',
  'socketpair-dgram': 'EPERM',
  'socketpair-raw': 'EPERM',
  'socketpair-inet': 'EAFNOSUPPORT',
  'socketpair-tipc': 'EAFNOSUPPORT',
  'vsock-socket': 'EAFNOSUPPORT',
  'vsock-dgram': 'EAFNOSUPPORT',
  'packet-socket': 'EAFNOSUPPORT',
  'inet-sock-packet': 'EAFNOSUPPORT',
  'alg-socket': 'EAFNOSUPPORT',
  'key-socket': 'EAFNOSUPPORT',
  'netlink-generic': 'EPROTONOSUPPORT',
  'netlink-uevent': 'EPROTONOSUPPORT',
  'netlink-audit': 'EPROTONOSUPPORT',
};

/** Probe name → the answer under the filter for calls that must keep working. */
const ALLOWED: Record<string, string> = {
  'unshare-files': 'OK',
  'clone-plain': 'OK',
  fork: 'OK',
  thread: 'OK', // glibc's pthread_create: clone3 gets ENOSYS, the clone fallback succeeds
  socketpair: 'OK',
  'socketpair-seqpacket': 'OK',
  'inet-socket': 'OK',
  'inet6-socket': 'OK',
  'netlink-route': 'OK',
  'netlink-sock-diag': 'OK',
  tcgets: 'OK',
  ptrace: 'OK',
  'nr-minus-one': 'ENOSYS', // the kernel's own answer: the filter lets it through
};

/**
 * Probes whose arguments make the kernel answer something other than the
 * filter's errno on any kernel (success, EBADF, ENOENT, or ENOSYS where the
 * feature is compiled out), independent of sysctls and capabilities.
 */
const MUST_DIFFER_WITHOUT_FILTER = [
  'clone3', 'setns', 'umount2', 'open_tree', 'io_uring_enter',
  'tiocsti', 'tiocsti-hibit', 'tioclinux', 'unix-socket', 'unix-socket-hibit', 'unix-dgram', 'unix-seqpacket',
  // OK without the filter; EOPNOTSUPP for an AF_INET pair; EPERM (no CAP_NET_RAW) for packet sockets.
  'socketpair-dgram', 'socketpair-raw', 'socketpair-inet', 'netlink-generic', 'packet-socket', 'inet-sock-packet',
];

const SIGSYS_EXIT = 128 + 31; // bwrap's pid 1 reports a signalled child as 128 + signal

function answer(r: RunResult): string {
  return r.code === 0 ? r.stdout.trim() : `exit ${r.code ?? r.signal}: ${r.stderr.trim()}`;
}

async function probeUnder(name: string, withFilter: boolean): Promise<RunResult> {
  return runUnderBwrap([probePath, name], withFilter ? filter : null);
}

test('each refused call gets the exact errno under the filter', { skip }, async () => {
  const failures: string[] = [];
  for (const [name, expected] of Object.entries(DENIED)) {
    const got = answer(await probeUnder(name, true));
    if (got !== expected) failures.push(`${name}: expected ${expected}, got ${got}`);
  }
  assert.deepEqual(failures, []);
});

test('calls that must keep working still work under the filter', { skip }, async () => {
  const failures: string[] = [];
  for (const [name, expected] of Object.entries(ALLOWED)) {
    const got = answer(await probeUnder(name, true));
    if (got !== expected) failures.push(`${name}: expected ${expected}, got ${got}`);
  }
  assert.deepEqual(failures, []);
});

test('x86_64: an x32 syscall kills the process (SIGSYS)', { skip: skip || (arch !== 'x86_64' && 'x32 exists only on x86_64') }, async () => {
  const filtered = await probeUnder('x32', true);
  assert.equal(filtered.code, SIGSYS_EXIT, `expected death by SIGSYS, got ${answer(filtered)}`);
  assert.equal(filtered.stdout, '');
  const control = await probeUnder('x32', false);
  assert.equal(control.code, 0, `without the filter the probe survives: ${answer(control)}`);
});

test('control: without the filter the kernel answers differently, so the probes can fail', { skip }, async (t) => {
  const differing: string[] = [];
  for (const [name, expected] of Object.entries(DENIED)) {
    const control = answer(await probeUnder(name, false));
    t.diagnostic(`${name}: without filter ${control}, with filter ${expected}`);
    if (control !== expected) differing.push(name);
  }
  for (const name of MUST_DIFFER_WITHOUT_FILTER) assert.ok(differing.includes(name), `${name} gives ${DENIED[name]} even without the filter`);
  // And the allowed probes behave the same either way.
  for (const [name, expected] of Object.entries(ALLOWED)) assert.equal(answer(await probeUnder(name, false)), expected, `${name} without filter`);
});

test('ordinary programs run under the filter', { skip }, async () => {
  const sh = await runUnderBwrap(['/bin/sh', '-c', 'echo ok'], filter);
  assert.equal(sh.code, 0, sh.stderr);
  assert.equal(sh.stdout, 'ok\n');

  const node = await runUnderBwrap([process.execPath, '-e', 'console.log(1)'], filter);
  assert.equal(node.code, 0, node.stderr);
  assert.equal(node.stdout, '1\n');

  // libuv's io_uring path, forced on: io_uring_setup gets EPERM and libuv falls back to its thread pool.
  const nodeFs = await runUnderBwrap(
    ['/usr/bin/env', 'UV_USE_IO_URING=1', process.execPath, '-e',
      "require('fs').promises.readFile('/etc/passwd','utf8').then(s=>console.log(s.length>0))"],
    filter,
  );
  assert.equal(nodeFs.code, 0, nodeFs.stderr);
  assert.equal(nodeFs.stdout, 'true\n');
});

const python = spawnSync('python3', ['-c', ''], { stdio: 'ignore' }).status === 0 ? 'python3' : null;
test('python3 runs under the filter', { skip: skip || (python === null && 'python3 is not installed') }, async () => {
  const r = await runUnderBwrap(['python3', '-c', 'import os; print(os.getpid())'], filter);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d+\n$/);
});

// ---------------------------------------------------------------------------
// Through the real cordon (bubblewrap, the helper, the filter it installs),
// as root and as an unprivileged user: every route to a host Unix socket,
// socket families, inherited stdio, and no-delete's data-destroying calls.
// Judged by what the host saw, not by the command's word.

const testUserOrSkip = process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false;
const AS = [{ who: 'root', user: undefined as string | undefined }, { who: 'an unprivileged user', user: 'cordon-test' }];

/** A world (helpers/cordon.ts) with the probe copied where the sandbox can run it (not under the private /tmp). */
function probeWorld(asUser: string | undefined): World & { probe: string } {
  const u = asUser ? testUser() : undefined;
  const w = makeWorld(u ? { owner: { uid: u.uid, gid: u.gid } } : {});
  const copy = join(w.outside, 'probe');
  copyFileSync(probePath, copy);
  chmodSync(copy, 0o755);
  return { ...w, probe: copy };
}

interface Run { status: number | null; stdout: string; stderr: string }

/** cordon ARGS, as `asUser` if given, with `stdin` as fd 0 (a descriptor number, or 'ignore'). */
function cordonRun(w: World, args: readonly string[], opts: { asUser?: string; stdinFd?: number } = {}): Promise<Run> {
  const cmd = opts.asUser ? 'runuser' : process.execPath;
  const argv = opts.asUser ? ['-u', opts.asUser, '--', 'env', ...Object.entries(w.env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, ...args] : [CLI, ...args];
  const c = spawn(cmd, argv, { cwd: w.proj, env: w.env, stdio: [opts.stdinFd ?? 'ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  c.stdout!.on('data', (d: Buffer) => { stdout += d; });
  c.stderr!.on('data', (d: Buffer) => { stderr += d; });
  return new Promise((resolve) => c.on('close', (status) => resolve({ status, stdout, stderr })));
}

/**
 * Host sockets in DIR: a datagram socket (journald, /dev/log, systemd
 * notify) and stream and seqpacket listeners, each 0777 like the real ones.
 * `done()` reports how many datagrams and connections each got.
 */
const HOST_SOCKETS = `
import json, os, socket, sys
d = sys.argv[1]
socks = {}
for name in ('dgram', 'stream', 'seqpacket'):
    s = socket.socket(socket.AF_UNIX, getattr(socket, 'SOCK_' + name.upper()))
    p = os.path.join(d, name + '.sock')
    s.bind(p)
    os.chmod(p, 0o777)
    if name != 'dgram':
        s.listen(64)
    s.setblocking(False)
    socks[name] = s
print('ready', flush=True)
sys.stdin.read()
got = {}
for name, s in socks.items():
    n = 0
    while True:
        try:
            if name == 'dgram':
                s.recv(100)
            else:
                s.accept()[0].close()
            n += 1
        except BlockingIOError:
            break
    got[name] = n
print(json.dumps(got), flush=True)
`;

interface HostSockets { readonly dir: string; done(): Promise<Record<string, number>> }

async function hostSockets(dir: string): Promise<HostSockets> {
  const p = spawn('python3', ['-c', HOST_SOCKETS, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => { out += d; });
  const closed = new Promise<void>((resolve) => p.on('close', () => resolve()));
  for (let i = 0; i < 200 && !out.includes('ready\n'); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(out.includes('ready\n'), 'the host sockets did not come up');
  return {
    dir,
    async done() {
      p.stdin!.end();
      await closed;
      return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
    },
  };
}

const TYPES = ['dgram', 'raw', 'stream', 'seqpacket'] as const;
/** Every way to reach a socket path: a new socket, a socket pair of each type (also after its peer closed, and after connect(AF_UNSPEC)). */
const ROUTES = [
  ...['dgram', 'stream', 'seqpacket'].flatMap((t) => ['sendto', 'sendmsg', 'connect'].map((op) => `socket-${t}-${op}`)),
  ...TYPES.flatMap((t) => ['sendto', 'sendmsg', 'connect', 'peerclosed-connect', 'unspec-connect'].map((op) => `pair-${t}-${op}`)),
];
const TARGETS = ['dgram', 'stream', 'seqpacket'] as const;

/** One shell loop inside: "TARGET ROUTE OUTCOME" per line. */
function routesScript(probe: string, dir: string): string {
  return `for t in ${TARGETS.join(' ')}; do for r in ${ROUTES.join(' ')}; do echo "$t $r $(${probe} $r ${dir}/$t.sock)"; done; done`;
}

/** What each route must come to inside cordon (no socket granted but possibly others). */
function expectedInside(route: string, granted: boolean): RegExp {
  const [kind, type, ...rest] = route.split('-');
  const op = rest.join('-');
  if (kind === 'socket') {
    // With a grant, stream sockets exist and the helper refuses every connect to an ungranted path.
    if (granted && type === 'stream') return op === 'connect' ? /^connect:EACCES$/ : /^(sendto|sendmsg):EOPNOTSUPP$/;
    return /^socket:EPERM$/;
  }
  if (type === 'dgram' || type === 'raw') return /^socketpair:EPERM$/;
  if (op === 'unspec-connect') return /^connect-unspec:EINVAL$/; // af_unix cannot disconnect a pair
  if (op.endsWith('connect')) return /^connect:E[A-Z]+$/; // EISCONN, or EPROTOTYPE first against another type
  // A stream pair refuses an address; a seqpacket pair ignores it and sends to its own peer.
  return type === 'stream' ? new RegExp(`^${op}:EISCONN$`) : /^SENT$/;
}

function checkRoutes(stdout: string, granted: boolean): void {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, TARGETS.length * ROUTES.length, stdout);
  const wrong = lines.filter((l) => {
    const [, route, outcome] = l.split(' ');
    return !expectedInside(route!, granted).test(outcome ?? '');
  });
  assert.deepEqual(wrong, []);
}

test('control: without cordon\'s filter, a sandbox reaches host Unix sockets by these routes (so the tests below can fail)', { skip }, async () => {
  const w = probeWorld(undefined);
  const host = await hostSockets(w.outside);
  const r = await runUnderBwrap(['/bin/sh', '-c', routesScript(w.probe, host.dir)], null);
  const got = await host.done();
  assert.equal(r.code, 0, r.stderr);
  // Datagram socket pairs alone reach the datagram socket; new sockets reach all three.
  assert.ok(got.dgram! >= 10 && got.stream! >= 1 && got.seqpacket! >= 1, JSON.stringify(got));
  assert.match(r.stdout, /^dgram pair-dgram-sendto SENT$/m);
  assert.match(r.stdout, /^dgram pair-dgram-unspec-connect SENT$/m);
  assert.match(r.stdout, /^dgram pair-raw-connect SENT$/m);
});

for (const { who, user } of AS) {
  const skipFor = skip || (user ? testUserOrSkip : false);
  test(`Unix sockets by every route: nothing reaches a host datagram, stream or seqpacket socket, in every network mode (${who})`, { skip: skipFor }, async () => {
    const w = probeWorld(user);
    const granted = join(w.outside, 'granted.sock');
    const grantServer = createServer(() => {});
    await new Promise<void>((resolve) => grantServer.listen(granted, resolve));
    chmodSync(granted, 0o777);
    const settings = join(w.outside, 'grant.json');
    writeFileSync(settings, JSON.stringify({ network: { allowUnixSockets: [granted] } }));
    const host = await hostSockets(w.outside);
    try {
      const runs: [string, readonly string[], boolean][] = [
        ['network none', [], false],
        ['network filtered, a socket granted', ['--allow-domain', 'example.invalid', '--settings', settings], true],
        ['network dangerously-unfiltered', ['--network', 'dangerously-unfiltered'], false],
      ];
      for (const [mode, extra, withGrant] of runs) {
        const r = await cordonRun(w, [...extra, '--', '/bin/sh', '-c', routesScript(w.probe, host.dir)], { asUser: user });
        assert.equal(r.status, 0, `${mode}: ${r.stderr}`);
        checkRoutes(r.stdout, withGrant);
      }
    } finally {
      const got = await host.done();
      grantServer.close();
      assert.deepEqual(got, { dgram: 0, stream: 0, seqpacket: 0 }, 'the host sockets got nothing');
    }
  });

  test(`Unix sockets: a name bound inside takes nothing from the host (${who})`, { skip: skipFor }, async () => {
    const w = probeWorld(user);
    // The host tries each type against the name the command bound, while the probe waits on it.
    const reach = "import errno, socket, sys\nout = []\nfor t in ('stream', 'seqpacket', 'dgram'):\n    s = socket.socket(socket.AF_UNIX, getattr(socket, 'SOCK_' + t.upper()))\n    try:\n        s.sendto(b'x', sys.argv[1]) if t == 'dgram' else (s.connect(sys.argv[1]), s.send(b'x'))\n        out.append(t + ':reached')\n    except OSError as e:\n        out.append(t + ':' + errno.errorcode.get(e.errno, str(e.errno)))\nprint(' '.join(out))";
    for (const type of TYPES) {
      const path = join(w.proj, `bound-${type}.sock`);
      const run = cordonRun(w, ['--', w.probe, `pair-${type}-bind`, path], { asUser: user });
      let hostSaw = 'nothing was bound';
      for (let i = 0; i < 100; i++) {
        if (existsSync(path)) {
          hostSaw = spawnSync('python3', ['-c', reach, path], { encoding: 'utf8' }).stdout.trim();
          break;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      const r = await run;
      assert.equal(r.status, 0, r.stderr);
      if (type === 'dgram' || type === 'raw') {
        assert.equal(r.stdout.trim(), 'socketpair:EPERM');
        assert.equal(hostSaw, 'nothing was bound');
      } else {
        // Bound, but a connected pair cannot listen, and a datagram is the wrong type.
        assert.equal(r.stdout.trim(), 'BOUND listen:EINVAL NOTHING');
        assert.doesNotMatch(hostSaw, /reached/);
        assert.match(hostSaw, /^stream:(ECONNREFUSED|EPROTOTYPE) seqpacket:(ECONNREFUSED|EPROTOTYPE) dgram:(ECONNREFUSED|EPROTOTYPE)$/);
      }
    }
  });

  test(`inherited stdio: a socket the command could re-aim is refused before it starts; connected and listening Unix streams work (${who})`, { skip: skipFor }, async () => {
    const w = probeWorld(user);
    const host = await hostSockets(w.outside);
    const tcp = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const port = (tcp.address() as { port: number }).port;
    // Python builds each descriptor, then runs cordon with it as fd 0 (or fd 1) and reports.
    const launcher = `
import json, os, socket, subprocess, sys
kind, fdno, target, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
cmd = json.loads(sys.argv[5])
if kind == 'unix-dgram': s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
elif kind == 'unix-dgram-connected': s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(target)
elif kind == 'unix-dgram-pair': s, keep = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
elif kind == 'unix-stream-unconnected': s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
elif kind == 'tcp-connected': s = socket.create_connection(('127.0.0.1', port))
elif kind == 'udp': s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
elif kind == 'unix-stream-pair': s, keep = socket.socketpair()
elif kind == 'unix-seqpacket-pair': s, keep = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
elif kind == 'unix-stream-listening':
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(os.path.join(os.path.dirname(target), 'listening-%d.sock' % os.getpid())); s.listen(1)
elif kind == 'directory': s = None; fd = os.open('/', os.O_RDONLY | os.O_DIRECTORY)
fd = s.fileno() if s is not None else fd
r = subprocess.run(cmd, stdin=fd if fdno == 0 else subprocess.DEVNULL, stdout=fd if fdno == 1 else subprocess.PIPE, stderr=subprocess.PIPE, text=True)
print(json.dumps({'status': r.returncode, 'stdout': r.stdout or '', 'stderr': r.stderr}))
`;
    const cordonArgv = (probeArgs: readonly string[]) => [
      ...(user ? ['runuser', '-u', user, '--', 'env', ...Object.entries(w.env).map(([k, v]) => `${k}=${v}`)] : []),
      process.execPath, CLI, '--', w.probe, ...probeArgs,
    ];
    const launch = (kind: string, fd: number, probeArgs: readonly string[]) => {
      const r = spawnSync('python3', ['-c', launcher, kind, String(fd), join(host.dir, 'dgram.sock'), String(port), JSON.stringify(cordonArgv(probeArgs))], { cwd: w.proj, env: w.env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { status: number; stdout: string; stderr: string };
    };
    try {
      const refused: [string, number, RegExp][] = [
        ['unix-dgram', 0, /fd 0 \(stdin\) is a socket \(Unix, datagram, unconnected\)/],
        ['unix-dgram-connected', 0, /fd 0 \(stdin\) is a socket \(Unix, datagram, connected\)/],
        ['unix-dgram-pair', 0, /fd 0 \(stdin\) is a socket \(Unix, datagram, connected\)/],
        ['unix-stream-unconnected', 0, /fd 0 \(stdin\) is a socket \(Unix, stream, unconnected\)/],
        ['tcp-connected', 0, /fd 0 \(stdin\) is a socket \(IPv4, stream, connected\)/],
        ['udp', 0, /fd 0 \(stdin\) is a socket \(IPv4, datagram, unconnected\)/],
        ['unix-dgram', 1, /fd 1 \(stdout\) is a socket \(Unix, datagram, unconnected\)/],
        ['directory', 0, /fd 0 \(stdin\) is a directory/],
      ];
      for (const [kind, fd, message] of refused) {
        const r = launch(kind, fd, ['fd0-sendto', join(host.dir, 'dgram.sock')]);
        assert.equal(r.status, 125, `${kind} on fd ${fd}: ${JSON.stringify(r)}`);
        assert.match(r.stderr, message);
        assert.match(r.stderr, /Refusing to start; give the command a pipe, a file or a terminal/);
        assert.equal(r.stdout, '', 'the command never ran');
      }
      // What cannot be re-aimed is kept: Node's and systemd's stdio are connected Unix stream sockets.
      // Each is aimed at a host socket of its own type, so the kernel gets past its type check.
      const kept: [string, string, string, string][] = [
        ['unix-stream-pair', 'stream', 'sendto:EISCONN', 'connect:EISCONN'],
        ['unix-seqpacket-pair', 'seqpacket', 'SENT' /* to its own peer: the address is ignored */, 'connect:EISCONN'],
        ['unix-stream-listening', 'stream', 'sendto:EOPNOTSUPP', 'connect:EINVAL'],
      ];
      for (const [kind, type, sendto, connect] of kept) {
        const s = launch(kind, 0, ['fd0-sendto', join(host.dir, `${type}.sock`)]);
        const c = launch(kind, 0, ['fd0-connect', join(host.dir, `${type}.sock`)]);
        assert.deepEqual([s.status, s.stdout.trim(), c.status, c.stdout.trim()], [0, sendto, 0, connect], `${kind}: ${s.stderr}${c.stderr}`);
      }
    } finally {
      tcp.close();
      const got = await host.done();
      assert.deepEqual(got, { dgram: 0, stream: 0, seqpacket: 0 }, 'the host sockets got nothing');
    }
  });

  test(`socket families: AF_VSOCK, AF_PACKET and the rest are refused inside, netlink only for routes and sock_diag (${who})`, { skip: skipFor }, async (t) => {
    const w = probeWorld(user);
    const port = 40000 + Math.floor(Math.random() * 20000);
    const hostBind = `import socket, sys\ns = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)\ntry:\n    s.bind((socket.VMADDR_CID_ANY, int(sys.argv[1]))); print('free')\nexcept OSError as e:\n    print(e.strerror)`;
    const hostVsock = spawnSync('python3', ['-c', hostBind, String(port + 1)], { encoding: 'utf8' }).stdout.trim() === 'free';
    const inside = cordonRun(w, ['--', '/bin/sh', '-c', [
      `${w.probe} vsock-bind ${port}`,
      ...['vsock-socket', 'vsock-dgram', 'packet-socket', 'inet-sock-packet', 'key-socket', 'alg-socket', 'socketpair-inet', 'netlink-generic', 'netlink-uevent', 'netlink-audit', 'netlink-route', 'netlink-sock-diag', 'inet-socket', 'inet6-socket', 'socketpair', 'socketpair-seqpacket']
        .map((p) => `echo "${p} $(${w.probe} ${p})"`),
    ].join('; ')], { asUser: user });
    // While the command would hold the port, it is free on the host.
    await new Promise((r) => setTimeout(r, 1000));
    const duringRun = hostVsock ? spawnSync('python3', ['-c', hostBind, String(port)], { encoding: 'utf8' }).stdout.trim() : 'no vsock here';
    const r = await inside;
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'socket:EAFNOSUPPORT',
      'vsock-socket EAFNOSUPPORT', 'vsock-dgram EAFNOSUPPORT', 'packet-socket EAFNOSUPPORT', 'inet-sock-packet EAFNOSUPPORT',
      'key-socket EAFNOSUPPORT', 'alg-socket EAFNOSUPPORT', 'socketpair-inet EAFNOSUPPORT',
      'netlink-generic EPROTONOSUPPORT', 'netlink-uevent EPROTONOSUPPORT', 'netlink-audit EPROTONOSUPPORT',
      'netlink-route OK', 'netlink-sock-diag OK', 'inet-socket OK', 'inet6-socket OK', 'socketpair OK', 'socketpair-seqpacket OK',
    ]);
    if (hostVsock) {
      assert.equal(duringRun, 'free');
      // Control: without the filter, a port bound in a sandbox with its own network namespace is taken on the host.
      if (!user) {
        const held = runUnderBwrap([w.probe, 'vsock-bind', String(port + 2)], null);
        await new Promise((res) => setTimeout(res, 1000));
        const taken = spawnSync('python3', ['-c', hostBind, String(port + 2)], { encoding: 'utf8' }).stdout.trim();
        assert.equal((await held).stdout.trim(), 'BOUND');
        assert.equal(taken, 'Address already in use', 'vsock is not network-namespaced: the sandbox held a host port');
      }
    } else {
      t.diagnostic('this host has no AF_VSOCK: the host-side check and its control did not run');
    }
  });

  test(`no-delete: punch-hole, collapse, zero-range, MADV_REMOVE and the space ioctls fail from inside and the data stays; without no-delete they work (${who})`, { skip: skipFor }, () => {
    const w = probeWorld(user);
    const u = user ? testUser() : undefined;
    const DATA = Buffer.alloc(16384, 'A');
    const setUp = (dir: string) => {
      mkdirSync(dir);
      writeFileSync(join(dir, 'data'), DATA);
      if (u) { chownSync(dir, u.uid, u.gid); chownSync(join(dir, 'data'), u.uid, u.gid); }
      return join(dir, 'data');
    };
    const destructive = ['punch-hole', 'collapse-range', 'zero-range', 'insert-range', 'write-zeroes', 'madv-remove', 'process-madv-remove', 'ioctl-unresvsp', 'ioctl-unresvsp64', 'ioctl-zero-range'];
    const script = (file: string, ops: readonly string[]) => ops.map((op) => `echo "${op} $(${w.probe} ${op} ${file})"`).join('; ');

    const nd = setUp(join(w.outside, 'kept'));
    const r = spawnSyncCordon(w, ['--no-delete', dirname(nd), '--', '/bin/sh', '-c', script(nd, [...destructive, 'fallocate-plain', 'fallocate-keep-size'])], user);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    for (const op of destructive) assert.ok(lines.some((l) => new RegExp(`^${op} [a-z_]+:EOPNOTSUPP$`).test(l)), `${op}: ${r.stdout}`);
    assert.ok(lines.includes('fallocate-plain OK') && lines.includes('fallocate-keep-size OK'), r.stdout);
    const after = readFileSync(nd);
    assert.ok(after.length >= DATA.length && after.subarray(0, DATA.length).equals(DATA), 'every byte is still there');

    // Control, and what stays allowed: without no-delete rules the same calls destroy data.
    const rw = setUp(join(w.outside, 'plain'));
    const c = spawnSyncCordon(w, ['--allow-write', dirname(rw), '--', '/bin/sh', '-c', script(rw, ['punch-hole', 'madv-remove'])], user);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.stdout, 'punch-hole OK\nmadv-remove OK\n');
    assert.equal(readFileSync(rw).subarray(0, 4096).equals(Buffer.alloc(4096)), true, 'the hole reads as zeros');
  });
}

function spawnSyncCordon(w: World, args: readonly string[], asUser: string | undefined): Run {
  const r = cordon(w, args, asUser ? { asUser } : {});
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
