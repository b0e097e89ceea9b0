/**
 * The sandbox's process: bubblewrap, whose command is cordon's helper.
 * bubblewrap reads all its options from fd 3 at once, builds the namespaces
 * and its mounts, and then waits on the block fd before it runs anything;
 * the helper reads its own options (its mounts, the Landlock rules and the
 * command) from fd 8 only once it runs. So the process can be started
 * before the plan is final: the CLI starts one ahead from the bubblewrap
 * options of the last run like it (cli/early.ts), and bubblewrap builds the
 * sandbox while cordon compiles the policy. launch.ts uses a process
 * started ahead only if its program, options and environment are exactly the
 * plan's, and otherwise kills it, which is safe because nothing has run in
 * it: bubblewrap is still parked on the block fd, and a helper that starts
 * without options exits without running anything. The helper's options
 * (the command) go onto fd 8 only when the sandbox is released, never
 * before: a sandbox that is killed, or whose cordon dies (SIGKILL closes the
 * block fd, and bubblewrap then goes on), before its placeholders and
 * journal exist starts with no options and runs nothing.
 *
 * bubblewrap binds its sandbox's life to its own only once the sandbox is
 * set up (PR_SET_PDEATHSIG, just before it runs the helper): a bubblewrap
 * killed before then leaves its sandbox behind, which goes on by itself.
 * So a signal is never sent to bubblewrap alone: one that comes before the
 * sandbox's PID 1 is known is held and sent to PID 1 once it is, and one
 * that would end the process before the sandbox is released cancels the
 * start instead (the command never runs).
 * Tests: test/integration/process/sandbox-process.test.ts.
 *
 * fd layout handed to bubblewrap: 2 = a pipe carrying bubblewrap's own
 * messages, copied to cordon's stderr only for the process that is used
 * (a process killed unused says nothing); 3 = bubblewrap's options
 * (NUL-separated); 4 = info (bubblewrap writes the sandbox's PID 1);
 * 5 = the seccomp program (read by the helper, which installs it after its
 * own mounts); 6 = ready (the helper writes one byte once the walls are up,
 * just before it starts the command); 7 = block (the sandbox waits on it
 * until its placeholders exist and, for a filtered network, the relay
 * listens inside); 8 = the helper's options (NUL-separated); 9 = the
 * caller's stderr, which the helper makes the command's fd 2; 10 = the
 * helper's records of write-intent calls, when asked for (--report-fd:
 * violations.ts).
 */
import { spawn, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { closeSync } from 'node:fs';
import { CordonError } from '../../errors.js';
import { PROTOCOL } from '../../protocol.js';
import { DirFds, identityOf, openLeaf } from './no-follow.js';
import { fdBinds } from './plan.js';
import { NOTHING_WORD } from './scan.js';

/** The scan's stdout, stderr and status in a start with `scan` (helper `with-scan` closes them before it execs bubblewrap). */
export const SCAN_FDS = [11, 12, 13] as const;
/** The scan after the run, in the same start (`with-scan --then`): its arguments (written by cordon), stdout, stderr, status. */
export const THEN_FDS = [14, 15, 16, 17] as const;

/**
 * The first descriptor bubblewrap binds a writable path from (`--bind-fd`,
 * plan.ts Fds.roots), after every other; each is opened here with no link
 * followed (no-follow.ts) and must be the directory the policy resolved.
 */
export const ROOT_FDS = 18;

/** The descriptors above (native/protocol.json: fd). */
export const FDS = PROTOCOL.fd;

/** What the command's stdin, stdout and stderr are: the caller's, a pipe cordon hands over, nothing, or a descriptor. */
export type StdioChoice = 'inherit' | 'pipe' | 'ignore' | number;

/** The command's ends of the pipes asked for ('pipe'). */
export interface SandboxIo {
  readonly stdin?: Writable;
  readonly stdout?: Readable;
  readonly stderr?: Readable;
}

export interface SandboxProcess {
  readonly bwrap: string;
  readonly helper: string;
  readonly bwrapArgs: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly stdio: readonly [StdioChoice, StdioChoice, StdioChoice];
  readonly io: SandboxIo;
  /** The helper's records of write-intent calls (FDS.report), read by the refusal monitor (violations.ts). */
  readonly reports: Readable;
  /** bubblewrap's exit: code and signal. */
  readonly closed: Promise<[number | null, NodeJS.Signals | null]>;
  /** The sandbox's PID 1 once bubblewrap has said it, else 0. */
  pid(): number;
  /** Resolves with the sandbox's PID 1, or 0 if bubblewrap ended first. */
  readonly started: Promise<number>;
  /** Resolves true once the helper says the walls are up and the command starts (false if bubblewrap ended first). */
  readonly ready: Promise<boolean>;
  /** Why bubblewrap could not be started at all, if it could not. */
  spawnError(): Error | undefined;
  /** The helper's options (everything after `run`: mounts, rules, `--`, the command) and the seccomp program, handed over at release(). */
  configure(helperOptions: readonly string[], seccomp: Buffer): void;
  /** Hands the helper what configure() gave and lets the sandbox go on into it (not once it was killed or cancelled). */
  release(): void;
  /** The signal that cancelled the start (it came before release), if one did: the command never ran. */
  cancelledBy(): NodeJS.Signals | undefined;
  /** From now on bubblewrap's messages go to `to` (cordon's stderr by default), those held so far first. */
  adopt(to?: (message: Buffer) => void): void;
  /** bubblewrap's messages held so far (not yet adopted), as text. */
  held(): string;
  /**
   * Sends a signal to the sandbox's PID 1 (held until it is known). Before
   * release, a signal that would end a process cancels the start instead.
   * Once bubblewrap has ended, nothing is sent (its pid may be another
   * process's by then).
   */
  signal(sig: NodeJS.Signals): void;
  /** Whether bubblewrap has ended (the sandbox with it). */
  ended(): boolean;
  /** Kills bubblewrap and with it the sandbox; resolves once it has ended. */
  kill(): Promise<void>;
  /** With `scan`: the scan's stdout, stderr and one byte of exit status (SCAN_FDS). */
  readonly scanned?: { readonly out: Readable; readonly err: Readable; readonly status: Readable };
  /**
   * With `scan`: the process that makes the scan after the run, waiting for
   * its arguments on `args` (scan.ts scanAfterFromPipes); an `args` ended
   * with none lets it go. Ended by kill() too.
   */
  readonly after?: { readonly args: Writable; readonly out: Readable; readonly err: Readable; readonly status: Readable };
  /** kill(), synchronously, for a process that is ending (host-exit.ts): the pids that were signalled. */
  killNow(): number[];
  /**
   * The held mounts the helper found taken away while the command ran (the
   * host replaced, moved or removed the path: native/holds.h), by path; ''
   * when it could not watch them. Complete once `closed` has settled.
   */
  heldLost(): readonly string[];
  /** The identity (no-follow.ts identityOf) of each path bubblewrap binds from a descriptor (`--bind-fd`), as opened for it. */
  readonly rootIds: Readonly<Record<string, string>>;
}

/** Messages held from a process not (yet) adopted: bubblewrap says little; more is dropped. */
const MAX_HELD = 64 * 1024;

/** Forwarded signals whose default action does not end a process. */
export const HARMLESS: ReadonlySet<NodeJS.Signals> = new Set<NodeJS.Signals>(['SIGWINCH', 'SIGCONT']);

/**
 * The mount bubblewrap lost a race for, if its message says it did: it binds
 * the host's tree recursively and then remounts each mount below (nosuid,
 * read-only) from the mount table it read a moment before, so a mount the
 * host removes in between (`ip netns delete`, a container runtime, an
 * automounter) fails the remount with EINVAL or ENOENT and the set-up with
 * it, before anything runs (bubblewrap issue 650). The path is the host's.
 */
export function lostMountRace(messages: string): string | undefined {
  const m = /Can't bind mount [^\n]*: Unable to apply mount flags: remount "([^"\n]+)": (?:Invalid argument|No such file or directory)/.exec(messages);
  if (!m) return undefined;
  const path = m[1]!;
  return path === '/newroot' ? '/' : path.startsWith('/newroot/') ? path.slice('/newroot'.length) : path;
}

/**
 * `scan`: the arguments of a scan (after `scan`) to start in the same process
 * start (helper `with-scan`: it forks the scan, then execs bubblewrap, so
 * cordon's child is still bubblewrap); its output is `scanned`.
 */
export function startSandboxProcess(bwrap: string, helper: string, bwrapArgs: readonly string[], env: NodeJS.ProcessEnv, stdio: readonly [StdioChoice, StdioChoice, StdioChoice] = ['inherit', 'inherit', 'inherit'], scan?: readonly string[]): SandboxProcess {
  // The command's stderr is the helper's fd 9: 'inherit' there is cordon's fd 2;
  // 'ignore' would leave fd 9 closed, so it is a pipe whose data is dropped.
  const [in0, out1, err] = stdio;
  const errFd = err === 'inherit' ? 2 : err === 'ignore' ? 'pipe' : err;
  const layout: StdioOptions = [in0, out1, 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', errFd, 'pipe'];
  // The writable paths bubblewrap binds from a descriptor: opened now, with no link followed on the way (throws if one is).
  const binds = fdBinds(bwrapArgs);
  const rootFds = new Map<number, number>();
  const rootIds: Record<string, string> = {};
  const dirs = new DirFds();
  let opening = '';
  try {
    for (const [at, path] of binds) {
      opening = path;
      const fd = openLeaf(path, dirs);
      rootFds.set(at, fd);
      rootIds[path] = identityOf(fd);
    }
  } catch (e) {
    for (const fd of rootFds.values()) closeSync(fd);
    throw new CordonError('CORDON_ERR_LAUNCH', `cannot open the writable path ${opening} with no symbolic link on its way (${(e as NodeJS.ErrnoException).code ?? String(e)}): a directory on its way was renamed or replaced since cordon resolved it; nothing was run`, { cause: e });
  } finally {
    dirs.close();
  }
  const base: StdioOptions = scan ? [...layout, ...SCAN_FDS.map(() => 'pipe' as const), ...THEN_FDS.map(() => 'pipe' as const)] : layout;
  // At their numbers (the plan's --bind-fd gives consecutive ones from ROOT_FDS), what lies between them and ours closed.
  const full: StdioOptions = [...base];
  for (const [at, fd] of rootFds) {
    while (full.length < at) full.push('ignore');
    full[at] = fd;
  }
  // Own process group: a terminal's Ctrl-C reaches cordon, which forwards it
  // to the sandbox's PID 1 instead of killing bubblewrap mid-flight.
  const bwrapArgv = [bwrap, '--args', String(FDS.args), '--', helper, 'run', '--args-fd', String(FDS.helperArgs)];
  // The scan after the run also watches for cordon's death (scan.ts watch()); what it then starts speaks on the command's stderr where that is cordon's own.
  const say = err === 'inherit' ? ['--say', String(FDS.stderr)] : [];
  const [program, ...argv] = scan ? [helper, 'with-scan', ...SCAN_FDS.map(String), String(scan.length), ...scan, '--then', ...THEN_FDS.map(String), ...say, ...bwrapArgv] : bwrapArgv;
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(program!, argv, { stdio: full, env, detached: true });
  } finally {
    // The child has its copies: cordon keeps none.
    for (const fd of rootFds.values()) closeSync(fd);
  }
  let spawnError: Error | undefined;
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => { gone = true; resolve(); });
    child.on('error', () => { gone = true; resolve(); });
  });
  child.on('error', (e) => { spawnError = e; });
  // bubblewrap has ended and every pipe of its own is drained. Not Node's
  // 'close', which waits for every pipe of the start, the scans' too: the
  // scan after the run (`with-scan --then`) holds its pipes until it has run.
  const own = (child.stdio as unknown as (Readable | Writable | null)[]).slice(1, layout.length).filter((s): s is Readable | Writable => s !== null && s !== undefined);
  const drained = (s: Readable | Writable) => new Promise<void>((resolve) => { if (s.closed || s.destroyed) resolve(); else s.once('close', () => resolve()); });
  const closed = scan
    ? new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.once('exit', (c, s) => { void Promise.all(own.map(drained)).then(() => resolve([c, s])); });
      child.once('error', () => resolve([null, null]));
    })
    : new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.on('close', (c, s) => resolve([c, s]));
    });
  const [stdin, stdout, messages, argsFd, info, seccompFd, readyFd, block, helperArgsFd, stderr, reports] = child.stdio as unknown as [Writable | null, Readable | null, Readable, Writable, Readable, Writable, Readable, Writable, Writable, Readable | null, Readable];
  stdin?.on('error', () => {});
  if (err === 'ignore') stderr?.resume();
  const io: SandboxIo = { ...(stdin ? { stdin } : {}), ...(stdout ? { stdout } : {}), ...(stderr && err === 'pipe' ? { stderr } : {}) };
  for (const w of [argsFd, seccompFd, block, helperArgsFd]) w.on('error', () => {});
  argsFd.end(Buffer.from(bwrapArgs.map((a) => `${a}\0`).join('')));

  const pipeAt = (fd: number) => (child.stdio as unknown as Readable[])[fd]!;
  const after = scan ? { args: (child.stdio as unknown as Writable[])[THEN_FDS[0]]!, out: pipeAt(THEN_FDS[1]), err: pipeAt(THEN_FDS[2]), status: pipeAt(THEN_FDS[3]) } : undefined;
  after?.args.on('error', () => {});
  let adopted: ((message: Buffer) => void) | undefined;
  let held: Buffer[] = [];
  let heldBytes = 0;
  messages.on('data', (d: Buffer) => {
    if (adopted) adopted(d);
    else if (heldBytes < MAX_HELD) {
      held.push(d);
      heldBytes += d.length;
    }
  });

  let pid = 0;
  let infoText = '';
  const started = new Promise<number>((resolve) => {
    info.on('data', (d: Buffer) => {
      if (pid) return;
      infoText += d.toString();
      const m = /"child-pid"\s*:\s*(\d+)/.exec(infoText);
      if (m) resolve((pid = Number(m[1])));
    });
    void closed.then(() => resolve(pid));
  });
  // After its ready byte, what the helper says while the command runs (a held mount taken away: native/holds.h), bounded.
  let said = Buffer.alloc(0);
  // The helper's ready byte came: it holds every forwarded signal (it blocks them from its first instruction).
  let walled = false;
  // A signal that ends a process, sent before that: sent once more then (deliver()).
  let early: NodeJS.Signals | undefined;
  const ready = new Promise<boolean>((resolve) => {
    let first = true;
    readyFd.on('data', (d: Buffer) => {
      // The ready byte is '1'; anything else first is not the helper's record stream.
      const rest = first ? (d[0] === 0x31 ? d.subarray(1) : Buffer.alloc(0)) : d;
      if (first && d[0] === 0x31) {
        walled = true;
        // It may have come before the helper held it, and been dropped: the command, which exists or is about to, gets it now.
        if (early && !gone && !killed) try { process.kill(pid, early); } catch { /* gone */ }
      }
      first = false;
      resolve(true);
      if (said.length < MAX_HELD) said = Buffer.concat([said, rest.subarray(0, MAX_HELD - said.length)]);
    });
    void closed.then(() => resolve(false));
  });

  let options: { helper: Buffer; seccomp: Buffer } | undefined;
  let released = false;
  let killed = false;
  let cancelled: NodeJS.Signals | undefined;
  let heldSignal: NodeJS.Signals | undefined;
  /**
   * To the sandbox's PID 1. Until the helper's ready byte, PID 1 may still be
   * bubblewrap's own code, before it runs the helper, and PID 1 of a
   * namespace drops a signal it has no handler for: one that ends a process
   * is sent again every 5 ms, and once more with the ready byte. The helper
   * holds one that reaches it while the walls go up (it then never starts
   * the command); one after that goes on to the command.
   */
  const deliver = (sig: NodeJS.Signals) => {
    try { process.kill(pid, sig); } catch { return; }
    if (walled || HARMLESS.has(sig)) return;
    early ??= sig;
    const again = setInterval(() => {
      if (walled || gone || killed) return void clearInterval(again);
      try { process.kill(pid, sig); } catch { clearInterval(again); }
    }, 5);
    again.unref();
  };
  void started.then((p) => {
    if (p > 0 && heldSignal) deliver(heldSignal);
  });

  const kill = async () => {
    killed = true;
    // Its PID 1 first: bubblewrap tells it to go on only after it has told
    // cordon its pid, so a bubblewrap killed before then leaves it waiting
    // for ever (and, once released, one killed later leaves it running).
    if (pid === 0) await Promise.race([started, exited]);
    if (pid > 0) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    // Before any fd closes: an EOF on the block fd would let bubblewrap go
    // on (into a helper with no options, which runs nothing).
    child.kill('SIGKILL');
    // Nothing to do (an EOF alone would read as cordon's death to a scan told to watch).
    if (after && !after.args.writableEnded) after.args.end(NOTHING_WORD);
    block.destroy();
    helperArgsFd.destroy();
    seccompFd.destroy();
    await closed;
  };

  return {
    bwrap,
    helper,
    bwrapArgs,
    env,
    stdio,
    io,
    reports,
    closed,
    started,
    ready,
    pid: () => pid,
    spawnError: () => spawnError,
    cancelledBy: () => cancelled,
    configure(helperOptions, seccomp) {
      options = { helper: Buffer.from(helperOptions.map((a) => `${a}\0`).join('')), seccomp };
    },
    release() {
      if (killed || released || !options) return;
      released = true;
      helperArgsFd.end(options.helper);
      seccompFd.end(options.seccomp);
      block.end('1');
    },
    held: () => Buffer.concat(held).toString(),
    adopt(to = (d) => { process.stderr.write(d); }) {
      if (adopted) return;
      adopted = to;
      for (const d of held) to(d);
      held = [];
    },
    ended: () => gone,
    signal(sig) {
      if (killed || gone) return;
      if (!released && !HARMLESS.has(sig)) {
        cancelled = sig;
        void kill();
        return;
      }
      if (pid > 0) deliver(sig);
      else heldSignal = sig;
    },
    kill,
    ...(scan ? { scanned: { out: pipeAt(SCAN_FDS[0]), err: pipeAt(SCAN_FDS[1]), status: pipeAt(SCAN_FDS[2]) } } : {}),
    ...(after ? { after } : {}),
    rootIds,
    heldLost() {
      // Whole records only (each ends in NUL): one cut short by the helper's exit names no path.
      return said.toString('utf8').split('\0').slice(0, -1).filter((r) => r === 'H' || r.startsWith('H ')).map((r) => r.slice(2));
    },
    killNow() {
      killed = true;
      const pids = [pid, child.pid ?? 0].filter((p) => p > 0);
      for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
      return pids;
    },
  };
}

/** Whether a process started ahead is exactly the one the plan asks for (program, options, environment). */
export function sameSandbox(p: Pick<SandboxProcess, 'bwrap' | 'helper' | 'bwrapArgs' | 'env' | 'stdio'>, bwrap: string, helper: string, bwrapArgs: readonly string[], env: NodeJS.ProcessEnv, stdio: readonly StdioChoice[] = ['inherit', 'inherit', 'inherit']): boolean {
  return p.bwrap === bwrap && p.helper === helper && sameList(p.bwrapArgs, bwrapArgs) && sameEnv(p.env, env) && sameList(p.stdio.map(String), stdio.map(String));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameEnv(a: NodeJS.ProcessEnv, b: NodeJS.ProcessEnv): boolean {
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => a[k] === b[k]);
}

/** Variables whose caller value is kept, with cordon's options added after it. */
const APPENDED = new Set(['JAVA_TOOL_OPTIONS']);
/**
 * cordon's variables from several sources (the plan's, then the network
 * bridge's, which win): an APPENDED one that two set has both values, in
 * that order (the plan's proxy properties, then TLS termination's trust
 * store), as the caller's is kept before cordon's (sandboxEnv).
 */
export function cordonEnv(...layers: readonly Readonly<Record<string, string>>[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) out[k] = APPENDED.has(k) && out[k] ? `${out[k]} ${v}` : v;
  }
  return out;
}

/**
 * Variables where the caller's own value is an explicit choice that cordon
 * does not override, with the other spellings that mean the same. (The
 * package cache variables are decided by the plan, which knows whether the
 * caller's place is writable: package-cache.ts cacheEnv.)
 */
const CALLERS_CHOICE = new Map<string, readonly string[]>([
  ['GIT_SSH_COMMAND', []],
]);

/**
 * The caller's environment without the variables the plan withholds, with
 * the plan's on top (appended or left alone where the caller's value matters).
 */
export function sandboxEnv(caller: NodeJS.ProcessEnv, plan: Readonly<Record<string, string>>, withheld: readonly string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...caller };
  for (const name of withheld) delete env[name];
  // What the caller chose is judged on what the command gets: a withheld value is neither kept nor appended to.
  const given: NodeJS.ProcessEnv = { ...env };
  for (const [k, v] of Object.entries(plan)) {
    const same = CALLERS_CHOICE.get(k);
    if (same && [k, ...same].some((name) => given[name])) continue;
    env[k] = APPENDED.has(k) && given[k] ? `${given[k]} ${v}` : v;
  }
  return env;
}
