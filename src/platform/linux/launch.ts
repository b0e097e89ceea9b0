/**
 * Launch: the only part that touches the OS. Starts bubblewrap with every
 * data-bearing input on a file descriptor (argv on --args, the seccomp
 * program on the helper's --seccomp-fd), learns the sandbox's PID 1 from --info-fd, forwards
 * signals to it, waits, maps the exit status and removes what it created.
 *
 * fd layout handed to bubblewrap: 3 = bwrap argv (NUL-separated), 8 = the
 * helper's options (NUL-separated, read by the helper), 4 = info
 * (bwrap writes the child pid), 5 = seccomp program (read by the helper,
 * which installs it after its own mounts), 6 = ready (the helper
 * writes one byte once the walls are up, just before it starts the command;
 * without that byte a non-zero exit is a setup failure, not the command's),
 * 7 = block (the sandbox waits on it until its placeholders exist and, for a
 * filtered network, the relay listens inside its network namespace).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { CordonError } from '../../errors.js';
import { acquirePlaceholders, releasePlaceholders, runtimeDir } from './placeholders.js';
import { PROXY_PORTS, type LinuxPlan } from './plan.js';
import { newRepositories, rootIdentities, setAside, unreadableWarning } from './after-run.js';
import { deferScan, type DeferredScan, type ScanResult } from './scan.js';
import { removeJournal, writeJournal } from './journal.js';
import { isWithin } from '../../policy/paths.js';

export const FDS = { args: 3, info: 4, seccomp: 5, ready: 6, block: 7, helperArgs: 8 } as const;

/** For network mode "filtered": the proxies are up; the relay bridges them into the sandbox. */
export interface Bridge {
  readonly relay: string;
  readonly secret: string;
  readonly httpSocket: string;
  readonly socksSocket: string;
}

export interface LaunchOptions {
  readonly bwrap: string;
  readonly seccomp: Buffer;
  readonly env: NodeJS.ProcessEnv;
  readonly bridge?: Bridge;
  readonly debug?: (msg: string) => void;
  /** Each warning of the after-run check (what the command created that git on the host would run). */
  readonly warn?: (msg: string) => void;
  /** Called with a phase name as each phase of the launch ends (for --debug timings). */
  readonly mark?: (phase: string) => void;
  /** Prepares the scan of roots after the command (plan.rescan); by default cordon's native scanner, with its cache. */
  readonly rescan?: (roots: readonly string[], patterns: readonly string[]) => DeferredScan;
}

export interface LaunchResult {
  /** The exit status cordon should use: the command's, or 128+N for a signal. */
  readonly exitCode: number;
  readonly signal?: NodeJS.Signals;
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];


export async function launchLinux(plan: LinuxPlan, opts: LaunchOptions): Promise<LaunchResult> {
  const mountedRo = plan.mounts.filter((m) => (m.args[0] === '--ro-bind' || m.pin) && m.args[1] === m.path).map((m) => m.path);
  const writable = plan.mounts.filter((m) => m.args[0] === '--bind' && !m.pin).map((m) => m.path);
  // Placeholders the helper mounts are made while bubblewrap builds the
  // sandbox (it waits on the block fd until they exist): mkdir costs ~0.1 ms
  // apiece here. Any that bubblewrap mounts itself must exist before it starts.
  const early = plan.mounts.some((m) => !m.byHelper && plan.placeholders.includes(m.path));
  let holds = early ? acquirePlaceholders(plan.placeholders, mountedRo, writable) : undefined;
  const handlers = new Map<NodeJS.Signals, () => void>();
  let relay: ChildProcess | undefined;
  let rescanner: DeferredScan | undefined;
  let rescanned: Promise<ScanResult> | undefined;
  let journal: string | undefined;
  let rootIds: Record<string, string> | undefined;
  try {
    // Options travel on the args fd (no argv length limit, not in `ps`); bwrap
    // only parses options there, so `--` and the command stay on argv.
    const argsBuf = Buffer.from(plan.bwrapArgs.map((a) => `${a}\0`).join(''));
    opts.debug?.(`bwrap ${[...plan.bwrapArgs, '--', ...plan.helperArgs].join(' ')}`);
    // The helper's options (its mount list, which grows with the tree) travel on a fd too; only the command stays on argv.
    const dash = plan.helperArgs.indexOf('--');
    const [helperProgram, helperSub] = plan.helperArgs;
    const helperOpts = Buffer.from(plan.helperArgs.slice(2, dash).map((a) => `${a}\0`).join(''));
    const child = spawn(opts.bwrap, ['--args', String(FDS.args), '--', helperProgram!, helperSub!, '--args-fd', String(FDS.helperArgs), ...plan.helperArgs.slice(dash)], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
      env: sandboxEnv(opts.env, plan.env),
      // Own process group: a terminal's Ctrl-C reaches cordon, which forwards
      // it to the sandbox's PID 1 instead of killing bubblewrap mid-flight.
      detached: true,
    });
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.on('close', (c, s) => resolve([c, s]));
    });
    let childPid = 0;
    let ready = false;
    let spawnError: Error | undefined;
    let relayError: string | undefined;
    child.on('error', (e) => { spawnError = e; });
    for (const sig of FORWARDED) {
      const h = () => {
        try {
          if (childPid > 0) process.kill(childPid, sig);
          else child.kill(sig);
        } catch { /* already gone */ }
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    const [, , , argsFd, info, seccompFd, readyFd, block, helperArgsFd] = child.stdio as unknown as [unknown, unknown, unknown, Writable, Readable, Writable, Readable, Writable, Writable];
    helperArgsFd.on('error', () => {});
    helperArgsFd.end(helperOpts);
    argsFd.on('error', () => {});
    seccompFd.on('error', () => {});
    block.on('error', () => {});
    argsFd.end(argsBuf);
    seccompFd.end(opts.seccomp);
    // The sandbox is released (the command may start) once its placeholders
    // exist and, for a filtered network, the relay listens inside it.
    let placeholdersMade = false;
    let relayListening = !opts.bridge;
    const release = () => { if (placeholdersMade && relayListening) block.end('1'); };
    let infoText = '';
    info.on('data', (d: Buffer) => {
      infoText += d.toString();
      const m = /"child-pid"\s*:\s*(\d+)/.exec(infoText);
      if (!m || childPid) return;
      childPid = Number(m[1]);
      if (opts.bridge) {
        relay = startRelay(opts.bridge, childPid, () => { relayListening = true; release(); }, (why) => {
          relayError = why;
          // The sandbox is still parked on the block fd: kill its PID 1 (and
          // with it the namespace) and bubblewrap; never release it unbridged.
          try { process.kill(childPid, 'SIGKILL'); } catch { /* gone */ }
          child.kill('SIGKILL');
          block.destroy();
        });
      }
    });
    readyFd.on('data', () => { ready = true; opts.mark?.('sandbox setup'); });
    try {
      holds ??= acquirePlaceholders(plan.placeholders, mountedRo, writable);
      // Before the command may start: a cordon killed from here on leaves
      // its after-run step to the next run (journal.ts).
      if (plan.rescan) {
        rootIds = rootIdentities(plan.rescan.writable);
        // Read-only: the read-only binds, not the pins (a pinned directory stays writable).
        const readOnly = plan.mounts.filter((m) => m.args[0] === '--ro-bind' && m.args[1] === m.path).map((m) => m.path);
        journal = writeJournal(runtimeDir(), { writable: plan.rescan.writable, readOnly, watch: plan.watch, rescan: plan.rescan, rootIds });
      }
    } catch (e) {
      // Never release a sandbox whose protections could not be put in place.
      child.kill('SIGKILL');
      block.destroy();
      await closed;
      throw e;
    }
    opts.mark?.('placeholders');
    placeholdersMade = true;
    release();
    // The scan after the run: its process starts now, while the command runs.
    if (plan.rescan) {
      const h = plan.rescan.helper;
      rescanner = (opts.rescan ?? ((roots, patterns) => deferScan(h, roots, patterns, runtimeDir())))(plan.rescan.roots, plan.rescan.patterns);
    }
    const [code, signal] = await closed;
    opts.mark?.('command');
    // At once, so the walk overlaps the clean-up below. The sandbox's PID
    // namespace is gone with bubblewrap: nothing inside writes any more.
    if (ready && rescanner) {
      rescanned = rescanner.go();
      rescanned.catch(() => {});
    }
    if (spawnError) {
      throw new CordonError('CORDON_ERR_MISSING_DEPENDENCY', `cannot start ${opts.bwrap}: ${spawnError.message}; install bubblewrap (Debian: apt-get install -y bubblewrap)`, { cause: spawnError });
    }
    if (relayError) {
      throw new CordonError('CORDON_ERR_LAUNCH', `the network bridge into the sandbox failed: ${relayError}`);
    }
    if (!ready) {
      throw new CordonError('CORDON_ERR_LAUNCH', `the sandbox could not be set up (bubblewrap exited ${code ?? signal} before the command started; its message is above). Run 'cordon doctor' to see what this machine supports`);
    }
    if (signal) return { exitCode: 128 + (osConstants.signals[signal] ?? 0), signal };
    return { exitCode: code ?? 1 };
  } finally {
    if (!rescanned) rescanner?.cancel();
    relay?.kill('SIGKILL');
    if (holds) releasePlaceholders(holds);
    opts.mark?.('cleanup');
    // The signal handlers stay until the after-run step is done: a second
    // Ctrl-C or a SIGTERM to the process group now must not end cordon
    // before it has moved aside what the command left (the scan and the
    // relay are in process groups of their own for the same reason).
    let failed: string | undefined;
    try {
      failed = await afterRun(plan, rescanned, rootIds, opts.warn ?? (() => {}));
      opts.mark?.('after-run check');
      // Only once the step is done: if it threw, the journal lets the next run do it again.
      if (journal) removeJournal(journal);
    } finally {
      for (const [sig, h] of handlers) process.off(sig, h);
    }
    // A check that could not finish fails the run, closed: the user must not run git there unread.
    if (failed) throw new CordonError('CORDON_ERR_AFTER_RUN', failed);
  }
}

/**
 * The after-run step: the second scan's new repositories plus the watch
 * list, moved aside (after-run.ts). Returns why the step could not finish
 * where a repository may have gone unchecked (the run then fails, closed).
 */
async function afterRun(plan: Pick<LinuxPlan, 'watch' | 'rescan'>, rescanned: Promise<ScanResult> | undefined, rootIds: Record<string, string> | undefined, warn: (w: string) => void): Promise<string | undefined> {
  const watch = [...plan.watch];
  let failed: string | undefined;
  if (rescanned && plan.rescan) {
    try {
      const found = await rescanned;
      watch.push(...newRepositories(plan.rescan, found, plan.watch));
      const locked = unreadableWarning(plan.rescan, found);
      if (locked) warn(locked);
      // Below a directory closed for the run (read-only or hidden: guardUnscanned in policy.ts) nothing could change.
      const incomplete = found.incomplete.filter((p) => !(plan.rescan!.unchecked ?? []).some((u) => isWithin(p, u)));
      if (incomplete.length > 0) failed = `the check after the run could not look at everything below ${incomplete.slice(0, 5).join(', ')}${incomplete.length > 5 ? ` and ${incomplete.length - 5} more` : ''} (a tree too deep or too large, a name that is not valid UTF-8, or a directory changed while it looked): a git repository the command created there was not checked, and not moved aside. Before running git anywhere below, read its .git/config and .git/hooks, or remove what the command made`;
    } catch (e) {
      failed = `could not look for git repositories the command created in ${plan.rescan.writable.join(', ')} (${(e as Error).message}): before running git in a new repository there, read its .git/config and .git/hooks`;
    }
  }
  if (!plan.rescan) return failed;
  const done = setAside(watch, { roots: plan.rescan.writable, helper: plan.rescan.helper, ...(rootIds ? { rootIds } : {}) });
  // Thousands of repositories make thousands of warnings: the first ones, and how many more.
  for (const w of done.warnings.slice(0, MAX_WARNINGS)) warn(w);
  if (done.warnings.length > MAX_WARNINGS) warn(`and ${done.warnings.length - MAX_WARNINGS} more like these`);
  if (done.unresolved > 0) failed ??= `${done.unresolved} path${done.unresolved === 1 ? '' : 's'} the command created could not be moved aside (the warnings above say which and why): read what is there before running git or a shell in ${plan.rescan.writable.join(', ')}`;
  return failed;
}

/** After the run, at most this many warnings are printed one by one. */
const MAX_WARNINGS = 20;

/**
 * Starts cordon-relay in the sandbox's user and network namespaces; the
 * session secret goes on its stdin (never argv or env). Calls onReady once it
 * listens, onFail if it dies or says anything else first.
 */
function startRelay(b: Bridge, pid: number, onReady: () => void, onFail: (why: string) => void): ChildProcess {
  // --dial-port: the relay dials allowed CONNECT tunnels itself and splices them (the proxy only decides).
  // Own process group: a terminal's Ctrl-C is cordon's to forward, not the relay's to die of.
  const r = spawn(b.relay, ['--pid', String(pid), '--map', `${PROXY_PORTS.http}=${b.httpSocket}`, '--map', `${PROXY_PORTS.socks}=${b.socksSocket}`, '--dial-port', String(PROXY_PORTS.http)], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let said = '';
  let err = '';
  let settled = false;
  r.stdin!.on('error', () => {});
  r.stdin!.end(`${b.secret}\n`);
  r.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  r.stdout!.on('data', (d: Buffer) => {
    said += d.toString();
    if (settled) return;
    if (said === 'ready\n') { settled = true; onReady(); } else if (said.length >= 6) { settled = true; onFail(`unexpected output ${JSON.stringify(said)}`); }
  });
  r.on('error', (e) => { if (!settled) { settled = true; onFail(`cannot start ${b.relay}: ${e.message}`); } });
  r.on('exit', (code, sig) => { if (!settled) { settled = true; onFail(err.trim() || `relay exited ${code ?? sig}`); } });
  return r;
}

/** Variables whose caller value is kept, with cordon's options added after it. */
const APPENDED = new Set(['JAVA_TOOL_OPTIONS']);
/**
 * Variables where the caller's own value is an explicit choice that cordon
 * does not override, with the other spellings that mean the same (npm reads
 * its settings from the environment in either case).
 */
const CALLERS_CHOICE = new Map<string, readonly string[]>([
  ['GIT_SSH_COMMAND', []],
  ['npm_config_cache', ['NPM_CONFIG_CACHE']],
  ['GOCACHE', []],
]);

/** The caller's environment with the plan's on top (appended or left alone where the caller's value matters). */
export function sandboxEnv(caller: NodeJS.ProcessEnv, plan: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...caller };
  for (const [k, v] of Object.entries(plan)) {
    const same = CALLERS_CHOICE.get(k);
    if (same && [k, ...same].some((name) => caller[name])) continue;
    env[k] = APPENDED.has(k) && caller[k] ? `${caller[k]} ${v}` : v;
  }
  return env;
}
