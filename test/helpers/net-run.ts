/**
 * Runs real cordon inside a test world (test/world), as root or as the
 * unprivileged test user, with a settings file and an audit log of its own:
 * what the network tests of termination, brokering and request rules share.
 * Also the Python prelude their hand-made clients start with.
 */
import { after, before } from 'node:test';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLI, testUser } from './cordon.js';
import { createWorld, type RunResult, type World } from '../world/world.js';

/** Root, and the unprivileged test user where there is one (tests run as root). */
export const RUNNERS: readonly { readonly who: string; readonly as: ReturnType<typeof testUser> }[] = (() => {
  const user = testUser();
  return [{ who: 'root', as: undefined }, ...(user ? [{ who: 'an unprivileged user', as: user }] : [])];
})();

/**
 * The suite's test world and a scratch directory under /var/tmp (named
 * `prefix…`, readable by the unprivileged runner, whose projects go below
 * it), made before the suite's tests (before any `before` registered after
 * this call) and removed after them; `set` receives both.
 */
export function netWorld(prefix: string, set: (w: World, root: string) => void): void {
  let w: World | undefined;
  let root: string | undefined;
  before(async () => {
    w = await createWorld();
    root = realpathSync(mkdtempSync(`/var/tmp/${prefix}`));
    chmodSync(root, 0o755);
    set(w, root);
  });
  after(async () => {
    await w?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });
}

/** One audit-log line, as far as the tests read it. */
export interface AuditEvent { readonly type: string; readonly via?: string; readonly tls?: string; readonly host?: string; readonly reason?: string; readonly port?: number; readonly credentials?: readonly string[] }

export interface NetRun extends RunResult { readonly log: string; readonly events: readonly AuditEvent[] }

export interface NetRunOptions {
  /** Files written into the project first. */
  readonly files?: Readonly<Record<string, string>>;
  /** More variables for cordon (and so the command). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * A runner for one identity: each call makes `<root>/<who>-<n>/` with a
 * project, a home and `settings.json`, owned by the runner, and runs
 * `sh -c script` under cordon there with `--settings` and `--audit-log`. The
 * caller's environment is not passed: no trust of the world's CA but what
 * cordon gives.
 */
export function netRunner(w: () => World, root: () => string, runner: (typeof RUNNERS)[number]) {
  let n = 0;
  return async (settings: object, script: string, opts: NetRunOptions = {}): Promise<NetRun> => {
    const dir = join(root(), `${runner.who.replace(/\W+/g, '-')}-${n++}`);
    const proj = join(dir, 'proj');
    const home = join(dir, 'home');
    mkdirSync(proj, { recursive: true });
    mkdirSync(home, { recursive: true });
    const settingsFile = join(dir, 'settings.json');
    writeFileSync(settingsFile, JSON.stringify(settings));
    const audit = join(dir, 'audit.jsonl');
    const made: string[] = [];
    for (const [name, text] of Object.entries(opts.files ?? {})) {
      const at = join(proj, name);
      mkdirSync(dirname(at), { recursive: true });
      for (let d = dirname(at); d.startsWith(`${proj}/`); d = dirname(d)) made.push(d);
      writeFileSync(at, text);
      made.push(at);
    }
    const as = runner.as;
    if (as) for (const p of [dir, proj, home, settingsFile, ...made]) chownSync(p, as.uid, as.gid);
    const argv = [process.execPath, CLI, '--settings', settingsFile, '--audit-log', audit, '--', '/bin/sh', '-c', script];
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...opts.env };
    // runuser sets HOME (and drops the rest) for the user: the run's are given again.
    const r = await w().run(as ? ['runuser', '-u', as.name, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv] : argv, { cwd: proj, env, timeoutMs: 45_000 });
    let log = '';
    try { log = readFileSync(audit, 'utf8'); } catch { /* no log: the run failed before it began */ }
    return { ...r, log, events: log.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent) };
  };
}

/**
 * Python run inside: via_connect(host, port) opens a CONNECT tunnel through
 * the HTTP proxy (its answer read), via_socks(host, port) a SOCKS5 one, and
 * read_all(s) reads a socket to its end.
 */
export const PY_TUNNELS = [
  'import re, socket, ssl, struct, time',
  'def via_connect(host, port):',
  '    s = socket.create_connection(("127.0.0.1", 3128))',
  '    s.sendall(b"CONNECT %s:%d HTTP/1.1\\r\\nHost: %s:%d\\r\\n\\r\\n" % (host.encode(), port, host.encode(), port))',
  '    head = b""',
  '    while not head.endswith(b"\\r\\n\\r\\n"):',
  '        c = s.recv(1)',
  '        if not c: break',
  '        head += c',
  '    return s, head.decode("latin-1")',
  'def via_socks(host, port):',
  '    s = socket.create_connection(("127.0.0.1", 1080))',
  '    s.sendall(b"\\x05\\x01\\x00"); s.recv(2)',
  '    s.sendall(b"\\x05\\x01\\x00\\x03" + bytes([len(host)]) + host.encode() + struct.pack(">H", port)); s.recv(10)',
  '    return s, ""',
  'def read_all(s):',
  '    out = b""',
  '    while True:',
  '        c = s.recv(65536)',
  '        if not c: return out',
  '        out += c',
].join('\n');
