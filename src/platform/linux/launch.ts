/**
 * Launch: the only part that touches the OS. Starts the sandbox's process
 * (sandbox-process.ts: bubblewrap with every data-bearing input on a file
 * descriptor), or takes over the one the CLI started ahead if it is exactly
 * the plan's, makes the placeholders, hands the helper its options, lets the
 * sandbox go, forwards signals to its PID 1, waits, maps the exit status and
 * removes what it created; then the step after the run (after-run.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { CordonError } from '../../errors.js';
import type { EmitEvent } from '../../events/types.js';
import { acquirePlaceholders, releasePlaceholders, type Holds } from './placeholders.js';
import { PROXY_PORTS, type LinuxPlan } from './plan.js';
import { settleRun } from './after-run.js';
import { pathIdentities } from './no-follow.js';
import { deferFromPipes, deferScan, NOTHING_WORD, type DeferredScan, type ScanResult } from './scan.js';
import { recoverCommand } from './guard.js';
import { recordSandbox, recordSandboxed, removeJournal, writeJournal, type WrittenJournal } from './journal.js';
import { trackRun } from './host-exit.js';
import { cordonEnv, FDS, HARMLESS, lostMountRace, sameSandbox, sandboxEnv, startSandboxProcess, type SandboxIo, type SandboxProcess, type StdioChoice } from './sandbox-process.js';
import type { RefusalMonitor } from './violations.js';
import { PROTOCOL } from '../../protocol.js';
import { newLinksSince } from '../../policy/policy.js';

export { FDS, sandboxEnv } from './sandbox-process.js';

/** For network mode "filtered": the proxies are up; the relay bridges them into the sandbox. */
export interface Bridge {
  readonly relay: string;
  readonly secret: string;
  readonly httpSocket: string;
  readonly socksSocket: string;
  /** Variables the command gets for this network (TLS termination's trust files: network/tls.ts; brokered credentials' tokens); they win over the caller's. */
  readonly env?: Readonly<Record<string, string>>;
  /** Variables the command never gets (where a brokered credential's real value is read from). */
  readonly withhold?: readonly string[];
  /** Resolves once the relay has reported what it passed on for this command (or a grace is over): before it is stopped. */
  readonly settled?: () => Promise<void>;
  /** Whether a value carries a brokered credential's real value: a variable that does is withheld too, whatever its name. */
  readonly carriesSecret?: (value: string) => boolean;
}

/** Everything that decides what the sandbox can do comes from the plan (bubblewrap, its options, the helper's, the seccomp program); these say how to run it. */
export interface LaunchOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly bridge?: Bridge;
  readonly debug?: (msg: string) => void;
  /** Each warning of the after-run check (what the command created that git on the host would run). */
  readonly warn?: (msg: string) => void;
  /** Called with a phase name as each phase of the launch ends (for --debug timings). */
  readonly mark?: (phase: string) => void;
  /** Prepares the scan of roots after the command (plan.rescan); by default cordon's native scanner, with its cache. */
  readonly rescan?: (roots: readonly string[], patterns: readonly string[], names: readonly string[], newLinksSince: string) => DeferredScan;
  /**
   * A sandbox process started ahead of the plan (cli/early.ts): used if it is
   * exactly the plan's, else killed unused. Either way launchLinux owns it.
   */
  readonly ahead?: SandboxProcess;
  /** The command's stdin, stdout and stderr (default: cordon's own). */
  readonly stdio?: readonly [StdioChoice, StdioChoice, StdioChoice];
  /**
   * Called at once with a way to signal the command. A signal that would end
   * a process, sent before the command starts, cancels it (it never runs).
   */
  readonly onSignal?: (signal: (sig: NodeJS.Signals) => void) => void;
  /** Called once the command starts (the walls are up): the pipes asked for. */
  readonly onStart?: (io: SandboxIo) => void;
  /** Forward cordon's own SIGINT, SIGTERM, … to the command (the CLI; default true). A library leaves its host's signals alone. */
  readonly forwardSignals?: boolean;
  /** bubblewrap's own messages (default: cordon's stderr). */
  readonly onMessage?: (message: Buffer) => void;
  /** The command's events (src/events/types.ts): filesystem refusals, the step after the run. The caller stamps them with the command's id. */
  readonly onEvent?: EmitEvent;
  /** Reports the command's filesystem refusals (violations.ts: refusalMonitor(policy, plan, onRefusal)); launch waits for its last record. */
  readonly refusals?: RefusalMonitor;
}

export interface LaunchResult {
  /** The exit status cordon should use: the command's, or 128+N for a signal. */
  readonly exitCode: number;
  readonly signal?: NodeJS.Signals;
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/**
 * How many times cordon starts a sandbox whose set-up lost a race with the
 * host's mount table (sandbox-process.ts lostMountRace) before it gives up.
 * Nothing ran in such a sandbox: bubblewrap failed before its PID 1 started.
 */
export const MOUNT_RACE_TRIES = 10;

/** An attempt whose sandbox lost a race with the host's mount table, and may be made again. */
const RACED = Symbol('raced');

/**
 * Runs the plan: one attempt (launchOnce), made again while bubblewrap's
 * set-up loses a race with the host's mount table. The command's signals
 * (the caller's, and cordon's own with forwardSignals) go to the attempt of
 * the moment; one that would end a process, between two attempts, cancels
 * the run. The caller sees one start: onStart is called by the attempt
 * whose command starts, and bubblewrap's messages of an attempt made again
 * are dropped.
 */
export async function launchLinux(plan: LinuxPlan, opts: LaunchOptions): Promise<LaunchResult> {
  let current: SandboxProcess | undefined;
  let between: NodeJS.Signals | undefined;
  // To the attempt of the moment while its sandbox lives; else held for the next attempt, which it then cancels.
  const signal = (sig: NodeJS.Signals) => {
    opts.debug?.(`${sig}: ${current && !current.ended() ? 'to the sandbox' : 'held for the next start'}`);
    if (current && !current.ended()) current.signal(sig);
    else if (!HARMLESS.has(sig)) between ??= sig;
  };
  const handlers = new Map<NodeJS.Signals, () => void>();
  if (opts.forwardSignals !== false) {
    for (const sig of FORWARDED) {
      const h = () => signal(sig);
      handlers.set(sig, h);
      process.on(sig, h);
    }
  }
  opts.onSignal?.(signal);
  let ahead = opts.ahead;
  try {
    for (let attempt = 1; ; attempt++) {
      if (between) {
        await ahead?.kill();
        return { exitCode: 128 + (osConstants.signals[between] ?? 0), signal: between };
      }
      const r = await launchOnce(plan, { ...opts, ...(ahead ? { ahead } : { ahead: undefined }) }, (s) => {
        current = s;
        // One that came while this attempt began: it cancels it (the command never runs).
        if (between) s.signal(between);
      }, attempt < MOUNT_RACE_TRIES);
      current = undefined;
      ahead = undefined;
      if (r !== RACED) return r;
      opts.debug?.(`the sandbox's set-up lost a race with the host's mount table (attempt ${attempt} of ${MOUNT_RACE_TRIES}): started again`);
    }
  } finally {
    // Only now: a signal during the step after the run must not end cordon (launchOnce).
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

/**
 * One start of the sandbox, the command in it, and the step after the run.
 * `bind` is told which sandbox process is this attempt's. Returns RACED,
 * having cleaned up, when bubblewrap failed before the command started by
 * losing a race with the host's mount table and `again` allows another.
 */
async function launchOnce(plan: LinuxPlan, opts: LaunchOptions, bind: (s: SandboxProcess) => void, again: boolean): Promise<LaunchResult | typeof RACED> {
  // Where this run keeps its placeholder holds and its journal: cordon's state directory, as compile found it.
  const stateDir = plan.stateDir;
  if (!stateDir) throw new CordonError('CORDON_ERR_INTERNAL', 'the plan names no state directory for its placeholder holds and journal (compile() gives every plan one)');
  const mountedRo = plan.mounts.filter((m) => m.kind === 'bind-ro' && m.source === undefined).map((m) => m.path);
  const pinned = plan.mounts.filter((m) => m.kind === 'pin' && m.source === undefined).map((m) => m.path);
  const writable = plan.mounts.filter((m) => m.kind === 'bind-rw' && m.source === undefined).map((m) => m.path);
  // Placeholders the helper mounts are made while bubblewrap builds the
  // sandbox (it waits on the block fd until they exist): mkdir costs ~0.1 ms
  // apiece here. Any that bubblewrap mounts itself must exist before it starts.
  const early = plan.mounts.some((m) => !m.byHelper && plan.placeholders.includes(m.path));
  const copies = opts.bridge?.carriesSecret ? Object.keys(opts.env).filter((k) => opts.env[k] !== undefined && opts.bridge!.carriesSecret!(opts.env[k]!)) : [];
  const env = sandboxEnv(opts.env, cordonEnv(plan.env, opts.bridge?.env ?? {}), [...plan.withheld, ...(opts.bridge?.withhold ?? []), ...copies]);
  const helper = plan.helperArgs[0]!;
  // What finishes this run should cordon die mid-run (the scan after the run starts it: below).
  const afterDeath = plan.rescan ? recoverCommand(stateDir, plan.rescan.helper) : undefined;
  let sandbox = opts.ahead;
  const stdio = opts.stdio ?? ['inherit', 'inherit', 'inherit'];
  // A package cache directory made only now was not there for a sandbox started ahead to bind.
  if (sandbox && (early || plan.packageCache?.made || !sameSandbox(sandbox, plan.bwrap, helper, plan.bwrapArgs, env, stdio) || !sameRoots(sandbox.rootIds, plan))) {
    opts.debug?.('the sandbox started ahead is not this plan\'s: killed unused');
    await sandbox.kill();
    sandbox = undefined;
  } else if (sandbox) opts.debug?.('using the sandbox started ahead');
  let holds: Holds | undefined;
  let relay: ChildProcess | undefined;
  let rescanner: DeferredScan | undefined;
  let rescanned: Promise<ScanResult> | undefined;
  let journal: string | undefined;
  let written: WrittenJournal | undefined;
  let untrack: (() => void) | undefined;
  // What the run holds read-only by a mount: compile's paths, and the placeholders once made (plan.guardIds).
  let guards: Readonly<Record<string, string>> = plan.guardIds ?? {};
  // The held mounts the host took away while the command ran: the helper stopped it (native/holds.h).
  let lost: readonly string[] = [];
  // Before the command can start, less a second (a file's change time is a coarse clock's): what changed after is the run's.
  const since = String(BigInt(Date.now() - 1000) * 1_000_000n);
  let until: string | undefined;
  let finished = false;
  try {
    if (early) holds = acquirePlaceholders(stateDir, plan.placeholders, mountedRo, writable, pinned);
    opts.debug?.(`bwrap ${[...plan.bwrapArgs, '--', ...plan.helperArgs].join(' ')}`);
    sandbox ??= startSandboxProcess(plan.bwrap, helper, plan.bwrapArgs, env, stdio);
    const sbx = sandbox;
    // What bubblewrap binds writable is what the policy resolved: a directory renamed and replaced since is refused.
    if (!sameRoots(sbx.rootIds, plan)) {
      await sbx.kill();
      const moved = Object.keys(sbx.rootIds).find((p) => sbx.rootIds[p] !== plan.rootIds?.[p]);
      throw new CordonError('CORDON_ERR_LAUNCH', `the writable path ${moved} is not the directory it was when cordon resolved it (it was renamed, and another put in its place, since: another run that can write there can do that); nothing was run. Look at what is there before you run anything in it`);
    }
    bind(sbx);
    // bubblewrap's messages are held until the command starts, or the attempt is not made again (below).
    void sbx.ready.then((r) => {
      if (!r) return;
      opts.mark?.('sandbox setup');
      sbx.adopt(opts.onMessage);
      opts.onStart?.(sbx.io);
    });
    let relayError: string | undefined;
    let watchError: string | undefined;
    // The helper's options (its mount list, which grows with the tree, and the command) travel on a fd.
    if (opts.refusals) opts.refusals.attach(sbx.reports);
    else sbx.reports.resume();
    // The refusal report (violations.ts) only listens: what the sandbox may do is all in the plan's options.
    sbx.configure([...(opts.refusals?.helperArgs(FDS.report) ?? []), ...plan.helperArgs.slice(2)], plan.seccomp.program);
    // The sandbox is released (the command may start) once its placeholders
    // exist and, for a filtered network, the relay listens inside it.
    let placeholdersMade = false;
    let relayListening = !opts.bridge;
    // And, with a step after the run, once the scan that waits for it watches for cordon's death (below).
    let watching = !plan.rescan;
    const release = () => { if (placeholdersMade && relayListening && watching) sbx.release(); };
    if (opts.bridge) {
      const bridge = opts.bridge;
      void sbx.started.then((pid) => {
        if (!pid || finished) return;
        relay = startRelay(bridge, pid, () => { relayListening = true; release(); }, (why) => {
          relayError = why;
          // The sandbox is still parked on the block fd: kill it (bubblewrap
          // and its PID 1, and with them the namespace); never release it unbridged.
          void sbx.kill();
        });
      });
    }
    try {
      holds ??= acquirePlaceholders(stateDir, plan.placeholders, mountedRo, writable, pinned);
      // With the placeholders, another user's links the run does not hold (Rescan.unheld): each must be the same after the run.
      guards = { ...guards, ...pathIdentities(plan.placeholders), ...plan.rescan?.unheld };
      // Before the command may start: a cordon killed from here on leaves
      // its after-run step to the scan's process told to watch (below), or
      // else to the next run (journal.ts).
      if (plan.rescan) {
        // Read-only: the read-only binds, not the pins (a pinned directory stays writable).
        written = writeJournal(stateDir, { writable: plan.rescan.writable, readOnly: mountedRo, watch: plan.watch, rescan: plan.rescan, ...(plan.rootIds ? { rootIds: plan.rootIds } : {}), guardIds: guards, since });
        journal = written.file;
        // Remembered after this run too: a link its command leaves there may not redirect a later run's grant.
        recordSandboxed(stateDir, plan.rescan.writable);
        // Should the process end before the step after the run: that step, from the journal, at once.
        // The scan after the run, waiting in a process of its own, is told there is nothing to do: no process of cordon's outlives a host that ends this way.
        untrack = trackRun({ journal, helper: plan.rescan.helper, stateDir, killNow: () => [...sbx.killNow(), ...(rescanner?.stop() ?? [])], ...(holds ? { holds } : {}), onHostSignal: opts.forwardSignals === false });
      }
    } catch (e) {
      // Never release a sandbox whose protections could not be put in place.
      await sbx.kill();
      throw e;
    }
    opts.mark?.('placeholders');
    // The scan after the run, waiting in a process of its own: in the one
    // started with the sandbox's where there is one (`with-scan --then`: no
    // process start now). Before the command may start, it is told to
    // watch: should cordon die mid-run (SIGKILL), it finishes the run from
    // its journal once the sandbox is gone, not the next cordon run.
    if (plan.rescan) {
      const h = plan.rescan.helper;
      const after = sbx.after;
      const say = stdio[2] === 'inherit' ? 2 : undefined;
      const scanner = (opts.rescan ?? ((roots, patterns, names, newLinksSince) => (after ? deferFromPipes(after, roots, patterns, stateDir, names, newLinksSince) : deferScan(h, roots, patterns, stateDir, names, newLinksSince, say))))(plan.rescan.roots, plan.rescan.patterns, plan.rescan.names ?? [], newLinksSince(since, plan.rescan)!);
      rescanner = scanner;
      void sbx.started.then((pid) => {
        if (!pid || finished) return;
        try {
          // Until its sandbox is gone, a run whose cordon died is not over (journal.ts isLive).
          if (written) recordSandbox(written, pid);
        } catch (e) {
          // Never release a sandbox whose journal could not say it.
          watchError = `cannot record the sandbox in this run's journal ${journal} (${(e as Error).message})`;
          void sbx.kill();
          return;
        }
        scanner.watch?.(pid, afterDeath!);
        watching = true;
        release();
      });
    }
    placeholdersMade = true;
    release();
    const [code, signal] = await sbx.closed;
    // The sandbox is gone: what changes after this (plus a second: a change time is a coarse clock's) is not the command's.
    until = String(BigInt(Date.now() + 1000) * 1_000_000n);
    lost = sbx.heldLost();
    // Every record is in by now (the report pipe closed with bubblewrap's other pipes).
    const reports = await opts.refusals?.done();
    // A command can bury a refusal under decoys or outrun the reporter: the list is then partial, and must not read as whole.
    if (reports && reports.dropped + reports.skipped > 0) {
      const w = `not all refused operations were reported: ${reports.reported} listed, ${reports.dropped} call${reports.dropped === 1 ? '' : 's'} not described (too many at once, or whose path cordon could not read: a process that gave up being dumpable, runs a program it may not read, or keeps the path in secret memory) and ${reports.skipped} record${reports.skipped === 1 ? '' : 's'} not looked at (past the most one run reports: docs/violations.md); the command may have made refused calls that are in no list`;
      (opts.warn ?? (() => {}))(w);
      opts.onEvent?.({ type: 'after-run.warning', message: w });
    }
    // Settled by now: the helper's byte comes before bubblewrap's end.
    const ready = await sbx.ready;
    opts.mark?.('command');
    // At once, so the walk overlaps the clean-up below. The sandbox's PID
    // namespace is gone with bubblewrap: nothing inside writes any more.
    if (ready && rescanner) {
      rescanned = rescanner.go();
      rescanned.catch(() => {});
    }
    // Not made again: what bubblewrap said is the caller's.
    const raced = ready ? undefined : lostMountRace(sbx.held());
    const retry = raced !== undefined && again && !sbx.spawnError() && !sbx.cancelledBy() && !relayError && !watchError;
    if (!retry) sbx.adopt(opts.onMessage);
    const spawnError = sbx.spawnError();
    if (spawnError) {
      throw new CordonError('CORDON_ERR_MISSING_DEPENDENCY', `cannot start ${plan.bwrap}: ${spawnError.message}; install bubblewrap (Debian: apt-get install -y bubblewrap)`, { cause: spawnError });
    }
    // A signal before the sandbox was released cancelled it: the command never ran.
    const cancelled = ready ? undefined : sbx.cancelledBy();
    if (cancelled) return { exitCode: 128 + (osConstants.signals[cancelled] ?? 0), signal: cancelled };
    if (relayError) {
      throw new CordonError('CORDON_ERR_LAUNCH', `the network bridge into the sandbox failed: ${relayError}`);
    }
    if (watchError) throw new CordonError('CORDON_ERR_LAUNCH', `${watchError}; nothing was run`);
    if (retry) return RACED;
    if (raced !== undefined) {
      throw new CordonError('CORDON_ERR_LAUNCH', `the sandbox could not be set up: the mount at ${raced} (or another) changed on the host while bubblewrap copied the mount table, ${MOUNT_RACE_TRIES} times in a row (its last message is above); nothing was run. Something on this machine mounts and unmounts there without pause (a container runtime, 'ip netns', an automounter): run the command again once it settles`);
    }
    if (!ready) {
      throw new CordonError('CORDON_ERR_LAUNCH', `the sandbox could not be set up (bubblewrap exited ${code ?? signal} before the command started; its message is above). Run 'cordon doctor' to see what this machine supports`);
    }
    if (signal) return { exitCode: 128 + (osConstants.signals[signal] ?? 0), signal };
    return { exitCode: code ?? 1 };
  } finally {
    finished = true;
    if (!rescanned) rescanner?.cancel();
    // Not used (no scan after this run, or another made it): it ends without looking at anything.
    if (sandbox?.after && !sandbox.after.args.writableEnded) sandbox.after.args.end(NOTHING_WORD);
    // The relay may still owe the report of the last answer it passed on (a net.done event): waited for, briefly.
    if (relay) await opts.bridge?.settled?.();
    relay?.kill('SIGKILL');
    const reopened = holds ? releasePlaceholders(holds) : [];
    if (reopened.length > 0) {
      const w = `the command had taken search or write permission from ${reopened.join(', ')} (its own directories); cordon gave what removing its placeholders there needs back to their owner (u+x, and u+w on their own directory)`;
      (opts.warn ?? (() => {}))(w);
      opts.onEvent?.({ type: 'after-run.warning', message: w });
    }
    opts.mark?.('cleanup');
    // The signal handlers (launchLinux's) stay until the after-run step is
    // done: a second Ctrl-C or a SIGTERM to the process group now must not
    // end cordon before it has moved aside what the command left (the scan
    // and the relay are in process groups of their own for the same reason).
    let failed: string | undefined;
    try {
      failed = await afterRun({ ...plan, guardIds: guards }, rescanned, { since, ...(until ? { until } : {}) }, opts.warn ?? (() => {}), opts.onEvent, stateDir);
      opts.mark?.('after-run check');
      // Only once the step is done: if it threw, the journal lets the next run do it again.
      if (journal) removeJournal(journal);
    } finally {
      untrack?.();
    }
    // A check that could not finish fails the run, closed: the user must not run git there unread.
    if (failed) throw new CordonError('CORDON_ERR_AFTER_RUN', lost.length > 0 ? `${failed}. Also: ${heldLostMessage(lost)}` : failed);
    if (lost.length > 0) throw new CordonError('CORDON_ERR_HELD_MOUNT', heldLostMessage(lost));
  }
}

/**
 * The after-run step (after-run.ts settleRun), its sentences printed and
 * sent as events. Returns why the step could not finish where a repository
 * may have gone unchecked (the run then fails, closed).
 */
async function afterRun(plan: Pick<LinuxPlan, 'watch' | 'rescan' | 'rootIds' | 'guardIds'>, rescanned: Promise<ScanResult> | undefined, when: { readonly since: string; readonly until?: string }, warn: (w: string) => void, emit: EmitEvent = () => {}, cacheDir?: string): Promise<string | undefined> {
  if (!plan.rescan) return undefined;
  const scanned = rescanned ? await rescanned.catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))) : undefined;
  const done = settleRun({ ...plan, rescan: plan.rescan, ...when }, scanned, plan.rescan.helper, cacheDir);
  // Thousands of repositories make thousands of warnings: the first ones, and how many more.
  for (const w of done.warnings.slice(0, MAX_WARNINGS)) warn(w);
  if (done.warnings.length > MAX_WARNINGS) warn(`and ${done.warnings.length - MAX_WARNINGS} more like these`);
  // Events: each path set aside, and every other sentence (not capped like the printed warnings).
  for (const a of done.actions) emit({ type: 'after-run.set-aside', ...a });
  const said = new Set(done.actions.map((a) => a.message));
  for (const w of done.warnings) if (!said.has(w)) emit({ type: 'after-run.warning', message: w });
  return done.failed;
}

/**
 * Whether every path bubblewrap binds from a descriptor is the directory the
 * policy resolved, or a placeholder this run makes (a pin bubblewrap binds
 * where nothing was: made with no link followed, as it was opened).
 */
function sameRoots(opened: Readonly<Record<string, string>>, plan: Pick<LinuxPlan, 'rootIds' | 'placeholders'>): boolean {
  return Object.keys(opened).every((p) => (plan.rootIds?.[p] === undefined ? plan.placeholders.includes(p) : plan.rootIds[p] === opened[p]));
}

/** Why the helper stopped the command: the held mounts the host took away (native/holds.h; '' when it could not watch them). */
function heldLostMessage(lost: readonly string[]): string {
  const paths = lost.filter((p) => p !== '');
  if (paths.length === 0) return 'could not watch the mounts this run holds: the command was stopped';
  return `${paths.join(', ')}, which this run hides, holds read-only or pins, was replaced, moved or removed on the host while the command ran, which took its mount away in the sandbox: the command was stopped. A protected file replaced that way is moved aside (the warnings above say where); run the command again once the host is done with it`;
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
  // No environment: it enters the sandbox's namespaces and needs none of cordon's (secrets among them).
  const r = spawn(b.relay, ['--pid', String(pid), '--map', `${PROXY_PORTS.http}=${b.httpSocket}`, '--map', `${PROXY_PORTS.socks}=${b.socksSocket}`, '--dial-port', String(PROXY_PORTS.http)], { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: {} });
  let said = '';
  let err = '';
  let settled = false;
  r.stdin!.on('error', () => {});
  r.stdin!.end(`${b.secret}\n`);
  r.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  r.stdout!.on('data', (d: Buffer) => {
    said += d.toString();
    if (settled) return;
    if (said === PROTOCOL.relay.ready) { settled = true; onReady(); } else if (said.length >= 6) { settled = true; onFail(`unexpected output ${JSON.stringify(said)}`); }
  });
  r.on('error', (e) => { if (!settled) { settled = true; onFail(`cannot start ${b.relay}: ${e.message}`); } });
  r.on('exit', (code, sig) => { if (!settled) { settled = true; onFail(err.trim() || `relay exited ${code ?? sig}`); } });
  return r;
}
