/**
 * A throw-away network world for cordon's network tests: test hosts in their
 * own network namespaces (veth pairs to the root namespace, IPv4 and IPv6),
 * servers on them that record everything that reaches them, a throw-away TLS
 * CA, loopback-only "host services" in the root namespace, and real name
 * resolution through a private /etc/hosts.
 *
 * What it defends against: a test (or a broken proxy under test) reaching
 * anything but loopback and the hosts made here. Names resolve only to
 * loopback or to this world's addresses (checked when the hosts file is
 * written); unknown names go to a loopback DNS responder that records the
 * query and answers NXDOMAIN, never to the machine's real resolver. Test hosts
 * get no default route and the root namespace gets no route beyond each veth's
 * own /24 and /64; nothing enables forwarding or NAT.
 *
 * Lifetime: `close()` (idempotent) removes every namespace, veth, process and
 * file; the same runs synchronously on exit and on SIGINT/SIGTERM/SIGHUP. A
 * SIGKILLed run is cleaned by `sweepStaleWorlds()` (called by every
 * `createWorld`), which finds leftovers by the owner's PID in their names:
 * namespaces `cordon-tw-<pid>-<w>-<host>`, root-side veths `ctw<N>` (aliased
 * with the namespace name), temp dirs `<baseDir>/cordon-tw-<pid>-<w>-*`, and
 * orphaned server processes (which also exit by themselves when the pipe
 * from their owner closes).
 *
 * Needs root, iproute2, openssl, util-linux (unshare, mount).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ListenerSpec, ReadyListener, ServerConfig } from './servers/host-server.js';

export const WORLD_PREFIX = 'cordon-tw-';
export const TEST_DOMAIN = 'test.cordon';
/** Root-side veth names: `ctw<N>`, N = the host's subnet. Claimed atomically (EEXIST) across processes. */
const VETH_PREFIX = 'ctw';
const SERVER_SCRIPT = fileURLToPath(new URL('./servers/host-server.js', import.meta.url));
const DEFAULT_BASE_DIR = '/var/tmp'; // not /tmp: cordon's sandbox has a private /tmp, which would hide the CA
const RESERVED_NAMES = new Set(['host', 'dns', 'loopback', 'loopback6', 'mapped', 'self', 'self6', 'mixed', 'www']);

/** Ports of every test host. Fixed: each host has its own fresh namespace, so they are always free. */
export const HOST_PORTS = Object.freeze({ http: 80, httpRaw: 81, httpAlt: 8080, https: 443, httpsAlt: 8443, tcp: 7, udp: 9, dns: 53 });
export type HostPorts = typeof HOST_PORTS;

export class WorldError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WorldError';
    this.code = code;
  }
}

export interface WorldOptions {
  /** Short host names; each becomes `<name>.test.cordon`. Default ['api', 'evil']. */
  readonly hosts?: readonly string[];
  /** Where the world's directory goes. Default /var/tmp (visible inside cordon's sandbox). */
  readonly baseDir?: string;
  /** Extra hosts-file names → addresses; each address must be loopback or this world's own. */
  readonly names?: Readonly<Record<string, readonly string[]>>;
  /** Run sweepStaleWorlds() first. Default true. */
  readonly sweep?: boolean;
  /** A resolv.conf search domain, with `ndots:5` (Kubernetes' default): what a short name must not be expanded with. */
  readonly search?: string;
}

export interface TestHost {
  readonly name: string;
  /** `<name>.test.cordon`: IPv4 and IPv6. */
  readonly fqdn: string;
  /** `<name>-v4.test.cordon` / `<name>-v6.test.cordon`: one family only. */
  readonly fqdn4: string;
  readonly fqdn6: string;
  /** `www.<name>.test.cordon`: a subdomain, for `*.name` rules. */
  readonly www: string;
  readonly netns: string;
  /** Root-side veth (the host side is `eth0` in the namespace). */
  readonly veth: string;
  readonly subnet: number;
  readonly ipv4: string;
  readonly ipv6: string;
  /** The root namespace's address on this veth: one of "the host's own addresses". */
  readonly gateway4: string;
  readonly gateway6: string;
  readonly ports: HostPorts;
  readonly recordFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** Loopback-only recorders in the root namespace: the "host services" an attack must not reach. */
export interface HostService {
  readonly name: 'host';
  /** 127.0.0.1, ::1 and every gateway address of this world (the host's own addresses). */
  readonly addresses: readonly string[];
  readonly ports: { readonly http: number; readonly https: number; readonly tcp: number; readonly udp: number };
  readonly unixSocket: string;
  /** Abstract socket name, with the leading NUL. */
  readonly abstractSocket: string;
  readonly recordFile: string;
}

/** The DNS responder /etc/resolv.conf points at inside world.run: records, answers NXDOMAIN. */
export interface Resolver {
  readonly name: 'dns';
  readonly address: string;
  readonly port: number;
  readonly recordFile: string;
}

export type RecordProto = 'http' | 'https' | 'http-raw' | 'tcp' | 'udp' | 'dns' | 'unix';
export type RecordEvent = 'connect' | 'tls' | 'tls-error' | 'request' | 'error' | 'close' | 'datagram' | 'query';

/** One line of a record file. */
export interface WorldRecord {
  readonly ts: number;
  readonly proto: RecordProto;
  readonly event: RecordEvent;
  /** Local port reached (null for Unix sockets). */
  readonly port?: number | null;
  /** Local address reached (useful on the host service: 127.0.0.1 or a gateway?). */
  readonly local?: string;
  readonly peer: string;
  readonly peerPort?: number;
  /** Bytes received: request body, whole stream (on close) or datagram. */
  readonly bytes: number;
  readonly sent?: number;
  readonly host?: string;
  readonly method?: string;
  readonly path?: string;
  /** A request's headers as the server received them (Node's parsed form). */
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** An Upgrade request's Upgrade header (the server answered 101 and echoes the stream). */
  readonly upgrade?: string | null;
  readonly httpVersion?: string;
  readonly sni?: string | null;
  readonly alpn?: string | null;
  readonly qname?: string;
  readonly qtype?: number;
  /** A request with an X-Amz-Date header: the SHA-256 of its body (hex), up to 1 MiB of it. */
  readonly bodySha256?: string;
  /** First bytes of a stream or datagram (utf8). */
  readonly head?: string;
  /** http-raw: the request head as received, and the first bytes of its body. */
  readonly requestHead?: string;
  readonly body?: string;
  readonly error?: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string | Buffer;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export type RecordTarget = string | TestHost | HostService | Resolver;

export interface World {
  readonly id: string;
  readonly dir: string;
  readonly hosts: ReadonlyMap<string, TestHost>;
  readonly hostService: HostService;
  readonly resolver: Resolver;
  /** PEM of the throw-away CA that signed every server certificate. */
  readonly caCert: string;
  /** Env vars that make common clients trust caCert (curl, node, python, git, pip). */
  readonly tlsEnv: Readonly<Record<string, string>>;
  readonly hostsFile: string;
  readonly resolvConf: string;
  readonly nsswitchConf: string;
  /** Served by every HTTP(S) server under /files/ (e.g. a bare repo for git's dumb HTTP). */
  readonly filesDir: string;
  /** Special names, all in the hosts file. */
  readonly names: {
    /** 127.0.0.1 */ readonly loopback: string;
    /** ::1 */ readonly loopback6: string;
    /** ::ffff:127.0.0.1 */ readonly mapped: string;
    /** The root namespace's own address on the first host's veth (IPv4 and IPv6). */ readonly self: string;
    /** The same, IPv6 only. */ readonly self6: string;
    /** The first host's IPv4 address and 127.0.0.1. */ readonly mixed: string;
  };
  readonly timings: { readonly totalMs: number; readonly netMs: number; readonly certsMs: number; readonly serversMs: number };
  host(name: string): TestHost;
  records(target: RecordTarget): WorldRecord[];
  /** Polls until `pred` holds for at least `count` records (default 1); returns them. */
  waitForRecords(target: RecordTarget, pred?: (r: WorldRecord) => boolean, opts?: { count?: number; timeoutMs?: number }): Promise<WorldRecord[]>;
  /** Returns once every server has handled what was already queued to it; read records after this. */
  settle(): Promise<void>;
  clearRecords(target?: RecordTarget): void;
  /** argv that runs `argv` with this world's /etc/hosts, resolv.conf and nsswitch.conf. */
  argv(argv: readonly string[]): string[];
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  spawn(argv: readonly string[], opts?: Omit<SpawnOptions, 'detached'>): ChildProcess;
  /** PIDs of this world's server processes (for leak checks). */
  pids(): number[];
  close(): Promise<void>;
}

/** Why this machine cannot build a world, or undefined. For `it(..., { skip })`. */
export function worldSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'test world needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'test world needs root (network namespaces, veth, mounts)';
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['openssl', 'openssl'], ['unshare', 'util-linux'], ['mount', 'mount']] as const) {
    if (spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status !== 0) return `test world needs ${cmd} (apt-get install ${pkg})`;
  }
  return undefined;
}

// ---------------------------------------------------------------- processes

interface Exec { readonly code: number | null; readonly stdout: string; readonly stderr: string }

function exec(cmd: string, args: readonly string[], input?: string): Promise<Exec> {
  return new Promise((ok, fail) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d));
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.on('error', fail);
    c.on('close', (code) => ok({ code, stdout, stderr }));
    c.stdin.on('error', () => undefined); // EPIPE when the command does not read stdin
    c.stdin.end(input ?? '');
  });
}

async function must(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await exec(cmd, args, input);
  if (r.code !== 0) throw new WorldError('WORLD_EXEC', `${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}${input ? `\ninput:\n${input}` : ''}`);
  return r.stdout;
}

/** A server process; stdin is the lifeline (EOF → it exits). */
class ServerProc {
  readonly child: ChildProcess;
  readonly ready: Promise<ReadyListener[]>;
  private readonly exited: Promise<void>;
  private seq = 0;
  private readonly waiters = new Map<number, () => void>();
  private stderr = '';

  constructor(readonly label: string, argv: readonly string[]) {
    const [cmd, ...args] = argv;
    this.child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((ok) => this.child.once('exit', () => ok()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.child.stdin!.on('error', () => undefined);
    const lines = createInterface({ input: this.child.stdout! });
    this.ready = new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new WorldError('WORLD_SERVER', `${label}: no ready line in 15 s; stderr: ${this.stderr}`)), 15_000);
      this.child.once('exit', (code, sig) => {
        clearTimeout(timer);
        fail(new WorldError('WORLD_SERVER', `${label}: exited (${code ?? sig}) before ready; stderr: ${this.stderr}`));
      });
      this.child.once('error', (e) => fail(new WorldError('WORLD_SERVER', `${label}: ${e.message}`, { cause: e })));
      lines.on('line', (line) => {
        let msg: { ready?: ReadyListener[]; synced?: number; error?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          return;
        }
        if (msg.ready) {
          clearTimeout(timer);
          ok(msg.ready);
        } else if (msg.error) {
          clearTimeout(timer);
          fail(new WorldError('WORLD_SERVER', msg.error));
        } else if (msg.synced !== undefined) {
          this.waiters.get(msg.synced)?.();
          this.waiters.delete(msg.synced);
        }
      });
    });
    this.ready.catch(() => undefined);
  }

  sync(timeoutMs = 5000): Promise<void> {
    const id = ++this.seq;
    return new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new WorldError('WORLD_SERVER', `${this.label}: no answer to sync in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(id, () => {
        clearTimeout(t);
        ok();
      });
      this.child.stdin!.write(`sync ${id}\n`);
    });
  }

  killSync(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.killSync();
    await Promise.race([this.exited, new Promise((ok) => setTimeout(ok, 3000))]);
  }
}

// ---------------------------------------------------------------- live worlds and exit hooks

const live = new Set<WorldImpl>();
let worldCounter = 0;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function onExit(): void {
  for (const w of live) w.closeSync();
}
function onSignal(sig: NodeJS.Signals): void {
  onExit();
  unhook();
  // Default action now that our handler is gone (or the next handler's).
  process.kill(process.pid, sig);
}
function hook(): void {
  if (live.size !== 1) return;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}
function unhook(): void {
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

// ---------------------------------------------------------------- the world

interface Allocation { n: number }

class WorldImpl implements World {
  readonly id: string;
  readonly dir: string;
  hosts = new Map<string, TestHost>();
  hostService!: HostService;
  resolver!: Resolver;
  readonly caCert: string;
  readonly tlsEnv: Readonly<Record<string, string>>;
  readonly hostsFile: string;
  readonly resolvConf: string;
  readonly nsswitchConf: string;
  readonly filesDir: string;
  names!: World['names'];
  timings = { totalMs: 0, netMs: 0, certsMs: 0, serversMs: 0 };

  /** Everything made so far, for close() after a half-built world too. */
  readonly netnses: string[] = [];
  readonly veths: string[] = [];
  readonly servers: ServerProc[] = [];
  readonly runs = new Set<ChildProcess>();
  private closing: Promise<void> | undefined;
  private closed = false;

  constructor(baseDir: string) {
    this.id = `${WORLD_PREFIX}${process.pid}-${++worldCounter}`;
    this.dir = mkdtempSync(join(baseDir, `${this.id}-`));
    chmodSync(this.dir, 0o755);
    this.caCert = join(this.dir, 'ca.pem');
    this.hostsFile = join(this.dir, 'hosts');
    this.resolvConf = join(this.dir, 'resolv.conf');
    this.nsswitchConf = join(this.dir, 'nsswitch.conf');
    this.filesDir = join(this.dir, 'files');
    this.tlsEnv = Object.freeze({
      SSL_CERT_FILE: this.caCert,
      CURL_CA_BUNDLE: this.caCert,
      NODE_EXTRA_CA_CERTS: this.caCert,
      REQUESTS_CA_BUNDLE: this.caCert,
      GIT_SSL_CAINFO: this.caCert,
      PIP_CERT: this.caCert,
    });
  }

  host(name: string): TestHost {
    const h = this.hosts.get(name);
    if (!h) throw new WorldError('WORLD_NO_HOST', `no test host "${name}"; hosts are: ${[...this.hosts.keys()].join(', ')}`);
    return h;
  }

  private fileOf(t: RecordTarget): string {
    if (typeof t !== 'string') return t.recordFile;
    if (t === 'host') return this.hostService.recordFile;
    if (t === 'dns') return this.resolver.recordFile;
    return this.host(t).recordFile;
  }

  records(target: RecordTarget): WorldRecord[] {
    let text: string;
    try {
      text = readFileSync(this.fileOf(target), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: WorldRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as WorldRecord);
      } catch {
        // A line still being written; the next read has it.
      }
    }
    return out;
  }

  async waitForRecords(target: RecordTarget, pred: (r: WorldRecord) => boolean = () => true, opts: { count?: number; timeoutMs?: number } = {}): Promise<WorldRecord[]> {
    const count = opts.count ?? 1;
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    for (;;) {
      const got = this.records(target).filter(pred);
      if (got.length >= count) return got;
      if (Date.now() > deadline) {
        throw new WorldError('WORLD_TIMEOUT', `waited for ${count} matching record(s) on ${typeof target === 'string' ? target : target.name}, got ${got.length}; all records: ${JSON.stringify(this.records(target))}`);
      }
      await new Promise((ok) => setTimeout(ok, 20));
    }
  }

  pids(): number[] {
    return this.servers.flatMap((s) => (s.child.pid === undefined ? [] : [s.child.pid]));
  }

  async settle(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.sync()));
  }

  clearRecords(target?: RecordTarget): void {
    const files = target ? [this.fileOf(target)] : [...[...this.hosts.values()].map((h) => h.recordFile), this.hostService.recordFile, this.resolver.recordFile];
    for (const f of files) {
      try {
        truncateSync(f, 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  argv(argv: readonly string[]): string[] {
    if (argv.length === 0) throw new WorldError('WORLD_ARGV', 'world.argv: expected a command, received an empty argv');
    // A fixed script; every path and the command travel as arguments.
    const script =
      'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && mount --bind "$3" /etc/nsswitch.conf' +
      ' && { [ ! -d /run/nscd ] || mount -t tmpfs -o size=16k,mode=0755 cordon-tw /run/nscd; } && shift 3 && exec "$@"';
    return ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'cordon-tw-mount', this.hostsFile, this.resolvConf, this.nsswitchConf, ...argv];
  }

  spawn(argv: readonly string[], opts: Omit<SpawnOptions, 'detached'> = {}): ChildProcess {
    if (this.closed) throw new WorldError('WORLD_CLOSED', `world ${this.id} is closed`);
    const [cmd, ...args] = this.argv(argv);
    // Own process group, so close() can end the command and whatever it started.
    const c = spawn(cmd!, args, { ...opts, detached: true });
    this.runs.add(c);
    c.once('exit', () => this.runs.delete(c));
    return c;
  }

  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((ok, fail) => {
      const c = this.spawn(argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(c, 'SIGKILL');
      }, opts.timeoutMs ?? 60_000);
      c.stdout!.on('data', (d: Buffer) => out.push(d));
      c.stderr!.on('data', (d: Buffer) => err.push(d));
      c.stdin!.on('error', () => undefined);
      c.stdin!.end(opts.input ?? '');
      c.on('error', (e) => {
        clearTimeout(timer);
        fail(e);
      });
      c.on('close', (status, signal) => {
        clearTimeout(timer);
        ok({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
      });
    });
  }

  private teardownBatch(): string {
    return [...this.veths.map((v) => `link del ${v}`), ...this.netnses.map((n) => `netns del ${n}`)].join('\n') + '\n';
  }

  /** Synchronous teardown for exit paths. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    if (live.size === 0) unhook();
    for (const c of this.runs) killGroup(c, 'SIGKILL');
    for (const s of this.servers) s.killSync();
    if (this.veths.length + this.netnses.length > 0) spawnSync('ip', ['-force', '-batch', '-'], { input: this.teardownBatch(), stdio: ['pipe', 'ignore', 'ignore'] });
    rmSync(this.dir, { recursive: true, force: true });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.closed) return;
      const runs = [...this.runs].map((c) => new Promise<void>((ok) => {
        if (c.exitCode !== null || c.signalCode !== null) return ok();
        c.once('exit', () => ok());
        killGroup(c, 'SIGKILL');
        setTimeout(ok, 3000);
      }));
      await Promise.all([...runs, ...this.servers.map((s) => s.stop())]);
      this.closed = true;
      live.delete(this);
      if (live.size === 0) unhook();
      if (this.veths.length + this.netnses.length > 0) await exec('ip', ['-force', '-batch', '-'], this.teardownBatch());
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.closing;
  }

  // ------------------------------------------------------------ building

  async build(hostNames: readonly string[], extraNames: Readonly<Record<string, readonly string[]>>, searchDomain?: string): Promise<void> {
    const t0 = performance.now();
    const subnets = freeSubnets();
    const next = (): Allocation => {
      const n = subnets.shift();
      if (n === undefined) throw new WorldError('WORLD_NO_SUBNET', 'no free 10.250.N.0/24 left (N = 1..254); run sweepStaleWorlds() or close other worlds');
      return { n };
    };
    const caKey = join(this.dir, 'ca.key');
    const ca = (async () => {
      const t = performance.now();
      await must('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', this.caCert, '-days', '2',
        '-subj', `/CN=cordon test world CA ${this.id}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
      chmodSync(this.caCert, 0o644);
      return performance.now() - t;
    })();
    const built = await Promise.all(hostNames.map((name) => this.buildHost(name, next)));
    this.timings.netMs = performance.now() - t0;
    const caMs = await ca;

    this.names = {
      loopback: `loopback.${TEST_DOMAIN}`,
      loopback6: `loopback6.${TEST_DOMAIN}`,
      mapped: `mapped.${TEST_DOMAIN}`,
      self: `self.${TEST_DOMAIN}`,
      self6: `self6.${TEST_DOMAIN}`,
      mixed: `mixed.${TEST_DOMAIN}`,
    };

    // Leaf certificates, in parallel: one per host, one for the host service.
    const t1 = performance.now();
    const hostCerts = built.map((h, i) =>
      leaf(this.dir, h.name, caKey, this.caCert, [h.fqdn, `*.${h.fqdn}`, h.fqdn4, h.fqdn6, ...(i === 0 ? [this.names.mixed] : [])], [h.ipv4, h.ipv6]));
    const gateways = built.flatMap((h) => [h.gateway4, h.gateway6]);
    const serviceCert = leaf(this.dir, 'host', caKey, this.caCert, ['localhost', this.names.loopback, this.names.loopback6, this.names.mapped, this.names.self, this.names.self6], ['127.0.0.1', '::1', ...gateways]);
    await Promise.all([...hostCerts, serviceCert]);
    this.timings.certsMs = caMs + (performance.now() - t1);

    for (const h of built) this.hosts.set(h.name, h);
    this.writeNameFiles(extraNames);
    mkdirSync(this.filesDir, { mode: 0o755 });

    // Servers: one process per test host (in its namespace), one in the root namespace.
    const t2 = performance.now();
    const hostPorts = [HOST_PORTS.http, HOST_PORTS.httpAlt];
    const httpsPorts = [HOST_PORTS.https, HOST_PORTS.httpsAlt];
    const starts = built.map((h) => {
      const cfg: ServerConfig = {
        name: h.name,
        recordFile: h.recordFile,
        tls: { cert: h.certFile, key: h.keyFile },
        filesDir: this.filesDir,
        listeners: [
          ...hostPorts.map((port): ListenerSpec => ({ kind: 'http', port })),
          ...httpsPorts.map((port): ListenerSpec => ({ kind: 'https', port })),
          { kind: 'http-raw', port: HOST_PORTS.httpRaw },
          { kind: 'tcp', port: HOST_PORTS.tcp },
          { kind: 'udp', port: HOST_PORTS.udp },
          { kind: 'dns', port: HOST_PORTS.dns },
        ],
      };
      const s = new ServerProc(h.name, ['ip', 'netns', 'exec', h.netns, process.execPath, SERVER_SCRIPT, this.id, JSON.stringify(cfg)]);
      this.servers.push(s);
      return s.ready;
    });
    const loopbacks = ['127.0.0.1', '::1', ...gateways];
    const serviceFile = join(this.dir, 'records-host.jsonl');
    const dnsFile = join(this.dir, 'records-dns.jsonl');
    const unixSocket = join(this.dir, 'host.sock');
    const abstractSocket = `\0${this.id}.sock`;
    const svcCfg: ServerConfig = {
      name: 'host',
      recordFile: serviceFile,
      tls: { cert: join(this.dir, 'host.pem'), key: join(this.dir, 'host.key') },
      filesDir: this.filesDir,
      listeners: [
        { kind: 'http', addresses: loopbacks, port: 0 },
        { kind: 'https', addresses: loopbacks, port: 0 },
        { kind: 'tcp', addresses: loopbacks, port: 0 },
        { kind: 'udp', addresses: loopbacks, port: 0 },
        { kind: 'unix', path: unixSocket },
        { kind: 'unix', path: abstractSocket },
        { kind: 'dns', randomLoopback: true, port: 53, recordFile: dnsFile },
      ],
    };
    const svc = new ServerProc('host', [process.execPath, SERVER_SCRIPT, this.id, JSON.stringify(svcCfg)]);
    this.servers.push(svc);
    const [ready] = await Promise.all([svc.ready, ...starts]);
    const port = (i: number): number => ready[i]!.port!;
    this.hostService = {
      name: 'host',
      addresses: loopbacks,
      ports: { http: port(0), https: port(1), tcp: port(2), udp: port(3) },
      unixSocket,
      abstractSocket,
      recordFile: serviceFile,
    };
    this.resolver = { name: 'dns', address: ready[6]!.addresses[0]!, port: ready[6]!.port!, recordFile: dnsFile };
    const search = searchDomain ? `search ${searchDomain}\noptions ndots:5\n` : '';
    writeFileSync(this.resolvConf, `# cordon test world ${this.id}: unknown names go to a recording NXDOMAIN responder\nnameserver ${this.resolver.address}\n${search}options timeout:1 attempts:1\n`, { mode: 0o644 });
    this.timings.serversMs = performance.now() - t2;
    this.timings.totalMs = performance.now() - t0;
  }

  private async buildHost(name: string, next: () => Allocation): Promise<TestHost> {
    const netns = `${this.id}-${name}`;
    await must('ip', ['netns', 'add', netns]);
    this.netnses.push(netns);
    // Claim a subnet by creating its veth: the name is unique system-wide, so
    // two processes building worlds at once never share a subnet.
    let n = 0;
    for (;;) {
      n = next().n;
      const r = await exec('ip', ['link', 'add', `${VETH_PREFIX}${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      if (r.code === 0) break;
      if (!/File exists/.test(r.stderr)) throw new WorldError('WORLD_EXEC', `ip link add ${VETH_PREFIX}${n}: ${r.stderr.trim()}`);
    }
    const veth = `${VETH_PREFIX}${n}`;
    this.veths.push(veth);
    const v6 = n.toString(16);
    const h: TestHost = {
      name,
      fqdn: `${name}.${TEST_DOMAIN}`,
      fqdn4: `${name}-v4.${TEST_DOMAIN}`,
      fqdn6: `${name}-v6.${TEST_DOMAIN}`,
      www: `www.${name}.${TEST_DOMAIN}`,
      netns,
      veth,
      subnet: n,
      ipv4: `10.250.${n}.2`,
      ipv6: `fd7a:c0de:${v6}::2`,
      gateway4: `10.250.${n}.1`,
      gateway6: `fd7a:c0de:${v6}::1`,
      ports: HOST_PORTS,
      recordFile: join(this.dir, `records-${name}.jsonl`),
      certFile: join(this.dir, `${name}.pem`),
      keyFile: join(this.dir, `${name}.key`),
    };
    // Only the veth's own /24 and /64 (connected routes); no default route
    // inside, no forwarding: a test host can reach nothing but the root namespace.
    await Promise.all([
      must('ip', ['-batch', '-'], [
        `link set ${veth} alias ${netns}`,
        `addr add ${h.gateway4}/24 dev ${veth}`,
        `addr add ${h.gateway6}/64 dev ${veth} nodad`,
        `link set ${veth} up`,
      ].join('\n') + '\n'),
      must('ip', ['-n', netns, '-batch', '-'], [
        'link set lo up',
        `addr add ${h.ipv4}/24 dev eth0`,
        `addr add ${h.ipv6}/64 dev eth0 nodad`,
        'link set eth0 up',
      ].join('\n') + '\n'),
    ]);
    return h;
  }

  private writeNameFiles(extra: Readonly<Record<string, readonly string[]>>): void {
    const first = [...this.hosts.values()][0]!;
    const entries: [string, string][] = [
      ['127.0.0.1', 'localhost'],
      ['::1', 'localhost ip6-localhost ip6-loopback'],
      ['127.0.1.1', hostname()],
    ];
    for (const h of this.hosts.values()) {
      entries.push([h.ipv4, `${h.fqdn} ${h.www} ${h.fqdn4}`], [h.ipv6, `${h.fqdn} ${h.www} ${h.fqdn6}`]);
    }
    entries.push(
      ['127.0.0.1', this.names.loopback],
      ['::1', this.names.loopback6],
      ['::ffff:127.0.0.1', this.names.mapped],
      [first.gateway4, this.names.self],
      [first.gateway6, `${this.names.self} ${this.names.self6}`],
      [first.ipv4, this.names.mixed],
      ['127.0.0.1', this.names.mixed],
    );
    const allowed = new BlockList();
    allowed.addSubnet('127.0.0.0', 8, 'ipv4');
    allowed.addAddress('::1', 'ipv6');
    allowed.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
    for (const h of this.hosts.values()) for (const a of [h.ipv4, h.gateway4]) allowed.addAddress(a, 'ipv4');
    for (const h of this.hosts.values()) for (const a of [h.ipv6, h.gateway6]) allowed.addAddress(a, 'ipv6');
    for (const [name, addrs] of Object.entries(extra)) {
      if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(name)) throw new WorldError('WORLD_OPTION', `names: expected a host name, received ${JSON.stringify(name)}`);
      for (const a of addrs) {
        const fam = isIPv4(a) ? 'ipv4' : isIPv6(a) ? 'ipv6' : undefined;
        // Workplace rule, enforced here: names may lead only to loopback and to this world's hosts.
        if (!fam || !allowed.check(a, fam)) throw new WorldError('WORLD_OPTION', `names.${name}: expected loopback or an address of this world, received ${JSON.stringify(a)}`);
        entries.push([a, name]);
      }
    }
    const text = `# cordon test world ${this.id}: only loopback and this world's own hosts\n` + entries.map(([a, n]) => `${a}\t${n}`).join('\n') + '\n';
    writeFileSync(this.hostsFile, text, { mode: 0o644 });
    // hosts: files first and only dns after it, whatever this machine's file says
    // (nss-resolve or nscd would read the real /etc/hosts instead of ours).
    let nss = '';
    try {
      nss = readFileSync('/etc/nsswitch.conf', 'utf8');
    } catch {
      // none: glibc defaults for everything but hosts
    }
    nss = nss.split('\n').filter((l) => !/^\s*hosts\s*:/.test(l)).join('\n');
    writeFileSync(this.nsswitchConf, `${nss.trimEnd()}\nhosts: files dns\n`, { mode: 0o644 });
    // Placeholder until the resolver is up (rewritten in build()).
    writeFileSync(this.resolvConf, 'options timeout:1 attempts:1\n', { mode: 0o644 });
  }
}

function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, sig);
  } catch {
    try {
      c.kill(sig);
    } catch {
      // already gone
    }
  }
}

async function leaf(dir: string, name: string, caKey: string, caCert: string, dns: readonly string[], ips: readonly string[]): Promise<void> {
  const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  await must('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`),
    '-days', '2', '-subj', `/CN=${dns[0] ?? name}`, '-CA', caCert, '-CAkey', caKey,
    '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=serverAuth']);
}

/** Subnets N (1..254) not used by any veth or address on this machine, from a PID-dependent start. */
function freeSubnets(): number[] {
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
  const addrs = spawnSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  const used = new Set<number>();
  for (const m of links.matchAll(new RegExp(`^\\d+: ${VETH_PREFIX}(\\d+)[@:]`, 'gm'))) used.add(Number(m[1]));
  for (const m of addrs.matchAll(/\b10\.250\.(\d+)\./g)) used.add(Number(m[1]));
  for (const m of addrs.matchAll(/\bfd7a:c0de:([0-9a-f]{1,4}):/gi)) used.add(parseInt(m[1]!, 16));
  const out: number[] = [];
  const start = process.pid % 254;
  for (let i = 0; i < 254; i++) {
    const n = ((start + i) % 254) + 1;
    if (!used.has(n)) out.push(n);
  }
  return out;
}

/** Builds a world; on any failure, removes what was made and rethrows. */
export async function createWorld(opts: WorldOptions = {}): Promise<World> {
  const skip = worldSkipReason();
  if (skip) throw new WorldError('WORLD_UNSUPPORTED', skip);
  const hostNames = opts.hosts ?? ['api', 'evil'];
  if (hostNames.length === 0) throw new WorldError('WORLD_OPTION', 'hosts: expected at least one host name, received []');
  for (const h of hostNames) {
    if (!/^[a-z][a-z0-9]{0,19}$/.test(h) || RESERVED_NAMES.has(h)) {
      throw new WorldError('WORLD_OPTION', `hosts: expected short lowercase names (letters, digits; not ${[...RESERVED_NAMES].join('/')}), received ${JSON.stringify(h)}`);
    }
  }
  if (new Set(hostNames).size !== hostNames.length) throw new WorldError('WORLD_OPTION', `hosts: expected distinct names, received ${JSON.stringify(hostNames)}`);
  const baseDir = opts.baseDir ?? DEFAULT_BASE_DIR;
  if (opts.sweep !== false) sweepStaleWorlds({ baseDir });
  const w = new WorldImpl(baseDir);
  live.add(w);
  hook();
  try {
    if (opts.search !== undefined && !/^[a-z0-9.-]+$/.test(opts.search)) throw new WorldError('WORLD_OPTION', `search: expected a domain, received ${JSON.stringify(opts.search)}`);
    await w.build(hostNames, opts.names ?? {}, opts.search);
  } catch (e) {
    await w.close();
    throw e;
  }
  return w;
}

// ---------------------------------------------------------------- sweeping

export interface SweepReport {
  readonly netns: string[];
  readonly links: string[];
  readonly dirs: string[];
  readonly pids: number[];
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes what dead runs left behind: names `<prefix><pid>-…` whose PID is gone.
 * Live worlds (this process's and other processes') are never touched.
 */
export function sweepStaleWorlds(opts: { prefix?: string; baseDir?: string } = {}): SweepReport {
  const prefix = opts.prefix ?? WORLD_PREFIX;
  const baseDir = opts.baseDir ?? DEFAULT_BASE_DIR;
  const owner = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)-`);
  const stale = (name: string): boolean => {
    const m = owner.exec(name);
    return m !== null && !pidAlive(Number(m[1]));
  };
  const report: SweepReport = { netns: [], links: [], dirs: [], pids: [] };

  // Orphaned servers first (normally they exited when their owner's pipe closed).
  for (const p of safeReaddir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[1] === SERVER_SCRIPT && argv[2] && stale(argv[2])) {
      try {
        process.kill(Number(p), 'SIGKILL');
        report.pids.push(Number(p));
      } catch {
        // gone already
      }
    }
  }
  const batch: string[] = [];
  const netnsList = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of netnsList.split('\n')) {
    const ns = line.split(' ')[0];
    if (!ns || !stale(ns)) continue;
    // Anything still inside (a server that missed the pipe, a test's child).
    const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        report.pids.push(pid);
      } catch {
        // gone already
      }
    }
    report.netns.push(ns);
  }
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? '';
  for (const m of links.matchAll(new RegExp(`^\\d+: (${VETH_PREFIX}\\d+)[@:].*?alias (\\S+)`, 'gm'))) {
    if (stale(m[2]!)) report.links.push(m[1]!);
  }
  for (const l of report.links) batch.push(`link del ${l}`);
  for (const ns of report.netns) batch.push(`netns del ${ns}`);
  if (batch.length > 0) spawnSync('ip', ['-force', '-batch', '-'], { input: batch.join('\n') + '\n', stdio: ['pipe', 'ignore', 'ignore'] });
  for (const d of safeReaddir(baseDir)) {
    if (!stale(d)) continue;
    rmSync(join(baseDir, d), { recursive: true, force: true });
    report.dirs.push(join(baseDir, d));
  }
  return report;
}

function safeReaddir(d: string): string[] {
  try {
    return existsSync(d) ? readdirSync(d) : [];
  } catch {
    return [];
  }
}
