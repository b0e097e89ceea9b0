/**
 * cordon as a library: `createSandbox(options)` returns a handle that runs
 * commands under one policy. Each command is compiled and launched exactly
 * as the CLI does it (compile.ts, then launch.ts): the same walls, the same
 * step after the run. A handle holds no process-global state: two handles
 * with different policies live side by side in one process, and `close()`
 * releases what the handle started (its network proxies, and every command
 * still running is killed first).
 *
 * Events (src/events/): each command gets an unguessable id; what cordon
 * decides about it (start, exit, each connection, each refusal, the step
 * after the run) reaches the per-command and per-handle `onEvent`
 * callbacks, `child.events()` and `sandbox.events()`, and its refusals are
 * `exec()`'s `violations`. Commands share the handle's proxies; each has
 * its own proxy secret, so a connection is attributed to the command whose
 * relay opened it (network-session.ts).
 *
 * Per command, `policy` is an overlay on the handle's policy that may only
 * narrow it unless the caller passes `widen: true` (policy/overlay.ts);
 * setNetwork() changes the handle's network lists for every later
 * connection, of running commands too (each command's rules are recomputed
 * from its sources and handed to the proxies: network-session.ts).
 *
 * Trust boundary: the options are the embedding program's (trusted, but
 * validated like a settings file: a wrong key is a CordonError, never
 * ignored); what the commands do is not trusted (the walls). The host
 * process's signals are not forwarded to commands: the caller kills them
 * through the handle (kill(), AbortSignal); a host that ends while commands
 * run gets their step after the run on its way out (host-exit.ts).
 */
import { EventEmitter } from 'node:events';
import { realpathSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { compile, defaultHome, type CompileInput } from './compile.js';
import { CordonError } from './errors.js';
import { parseSettings, settingsJson, type Settings } from './policy/settings.js';
import { isPlainObject } from './policy/schema.js';
import { commandNetwork, parseOverlay, type Overlay } from './policy/overlay.js';
import { launchLinux, type Bridge } from './platform/linux/launch.js';
import { runtimeDir } from './platform/linux/placeholders.js';
import { guardRuns } from './platform/linux/guard.js';
import { helperPath, relayPath } from './platform/linux/helper-path.js';
import { gatherFacts } from './platform/linux/probe.js';
import type { SandboxProcess, StdioChoice } from './platform/linux/sandbox-process.js';
import { fnv1a, type PendingScan } from './platform/linux/scan.js';
import { rememberLaunch, rememberRoots, startAhead, type EarlyWork } from './platform/linux/ahead.js';
import { heldUntilLaunch } from './platform/linux/host-exit.js';
import { refuseTruncatableStdio } from './platform/linux/stdio-guard.js';
import { redirectingLink, type NetworkPolicySpec } from './policy/policy.js';
import { sandboxedAreas } from './platform/linux/journal.js';
import type { NetworkRules, NetworkSession } from './network-session.js';
import { commandEvents, EventQueue, safely, type CommandEvents } from './events/stream.js';
import type { CordonEvent, Violation } from './events/types.js';

export { CordonError, SettingsError } from './errors.js';
export { SandboxManager, type SrtRuntimeConfig } from './srt-compat.js';
export type { CordonErrorCode } from './errors.js';
export type { StdioChoice } from './platform/linux/sandbox-process.js';
export type * from './events/types.js';
export { EVENT_VERSION, isViolation } from './events/types.js';

export interface SandboxOptions {
  /** The working directory commands run in by default; writable by default, as in the CLI. Default: process.cwd(). */
  readonly cwd?: string;
  /**
   * A settings file's keys (cordon's format, a superset of srt's): the same
   * validation as a file, so an unknown key or a wrong type is an error.
   */
  readonly settings?: Record<string, unknown>;
  /**
   * Also apply the user's settings file (`~/.config/cordon/settings.json`,
   * else srt's `~/.srt-settings.json`), weaker than `settings`. Default
   * false: a program that embeds cordon states its policy itself.
   */
  readonly userSettings?: boolean;
  /** The environment commands get (default: this process's), without the variables whose names mark them as secrets unless `settings.environment.pass` names them (policy/environment.ts). */
  readonly env?: NodeJS.ProcessEnv;
  /** Called with every event of every command of this handle (docs/events.md). What it throws becomes a process warning. */
  readonly onEvent?: (e: CordonEvent) => void;
}

export interface SpawnOptions {
  /** Where the command runs (default: the handle's cwd). */
  readonly cwd?: string;
  /** Its environment (default: the handle's). */
  readonly env?: NodeJS.ProcessEnv;
  /** stdin, stdout, stderr: 'pipe' (default), 'inherit', 'ignore' or a descriptor; one value for all three. */
  readonly stdio?: StdioChoice | readonly [StdioChoice, StdioChoice, StdioChoice];
  /** Aborting kills the command (SIGKILL to the sandbox). */
  readonly signal?: AbortSignal;
  /** Called with every event of this command, before the handle's onEvent. */
  readonly onEvent?: (e: CordonEvent) => void;
  /**
   * A settings object for this command only (the same keys and validation
   * as createSandbox's `settings`): grant lists and scalars replace the
   * handle's, other lists add to them (docs/library.md). It may only narrow
   * the handle's policy: a key that would widen fails the command with
   * CORDON_ERR_OVERLAY_WIDENS naming the key, unless `widen` is true.
   */
  readonly policy?: Record<string, unknown>;
  /** true: `policy` may also widen the handle's policy for this command. Default false. */
  readonly widen?: boolean;
}

/** What setNetwork() changes: the handle's network lists (each as in a settings file; an absent key stays as it is). */
export interface NetworkLists {
  readonly allowedDomains?: readonly string[];
  readonly deniedDomains?: readonly string[];
}

export interface ExecOptions extends Omit<SpawnOptions, 'stdio'> {
  /** Written to the command's stdin, which is then closed (default: closed at once). */
  readonly input?: string | Buffer;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** The command's exit status; 128+N when a signal ended it. */
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
  /** cordon's warnings about the command, each a sentence: its policy's (a grant it could not apply) and the step after the run's (moved aside, could not check). */
  readonly warnings: readonly string[];
  /** The command's id, as its events carry it. */
  readonly commandId: string;
  /** What was refused to the command: its fs.refused, net.refused and request.refused events, in order (the first 1000). */
  readonly violations: readonly Violation[];
  /** Refusals past the first 1000, not in `violations` (the event stream carried them). */
  readonly violationsDropped: number;
}

/**
 * A command in a sandbox, shaped like Node's ChildProcess where it can be:
 * stdin/stdout/stderr (for 'pipe'), kill(), exitCode/signalCode, and the
 * events 'spawn' (the walls are up and the command starts: its pipes are
 * there from now on), 'exit' (code, signal), 'close' (code, signal) and 'error'
 * (a CordonError: the sandbox could not be set up, or the check after the
 * run failed; 'close' follows with code 125).
 */
export class SandboxChild extends EventEmitter {
  /** The command's id (128 random bits, base64url), as each of its events carries it. */
  readonly id: string;
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** cordon's warnings about this command: its policy's (a grant it could not apply) and the step after the run's (moved aside, could not check). */
  readonly warnings: string[] = [];
  /** The last signal kill() sent, if any. */
  killedWith: NodeJS.Signals | undefined;
  private signaller: ((sig: NodeJS.Signals) => void) | undefined;
  private pending: NodeJS.Signals | undefined;
  /** @internal */
  readonly stream: CommandEvents;
  private readonly log: CordonEvent[] = [];
  private readonly readers = new Set<EventQueue<CordonEvent>>();
  private ended = false;

  /** @internal */
  constructor(deliver: (e: CordonEvent) => void) {
    super();
    this.stream = commandEvents((e) => {
      if (this.log.length < MAX_LOGGED_EVENTS) this.log.push(e);
      for (const r of this.readers) r.push(e);
      deliver(e);
      if (e.type === 'command.exit') {
        this.ended = true;
        for (const r of this.readers) r.end();
        this.readers.clear();
      }
    });
    this.id = this.stream.id;
  }

  /** What was refused to the command so far (fs.refused, net.refused, request.refused): the first 1000. */
  get violations(): readonly Violation[] {
    return this.stream.violations;
  }

  /** Refusals past the first 1000, which `violations` does not keep (the event stream carries them). */
  get violationsDropped(): number {
    return this.stream.violationsDropped;
  }

  /**
   * The command's events, from its command.start (those already past are
   * replayed, the first MAX_LOGGED_EVENTS of them) to its command.exit,
   * where the iteration ends.
   */
  events(): AsyncIterableIterator<CordonEvent> {
    const q: EventQueue<CordonEvent> = new EventQueue(() => this.readers.delete(q));
    for (const e of this.log) q.push(e);
    if (this.ended) q.end();
    else this.readers.add(q);
    return q;
  }

  /**
   * Sends a signal to the command (through the sandbox's PID 1, which passes
   * it on): a name or a number, as child_process takes it; an unknown one
   * throws (TypeError, ERR_UNKNOWN_SIGNAL), as child_process does.
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const sig = signalName(signal);
    if (this.exitCode !== null) return false;
    this.killedWith = sig;
    if (this.signaller) this.signaller(sig);
    else this.pending = sig;
    return true;
  }

  /** @internal How to signal the command from now on (a signal that ends a process, before it starts, cancels it). */
  signalVia(signal: (sig: NodeJS.Signals) => void): void {
    this.signaller = signal;
    if (this.pending) signal(this.pending);
  }

  /** @internal The command started: its pipes. */
  started(io: { stdin?: Writable; stdout?: Readable; stderr?: Readable }): void {
    this.stdin = io.stdin ?? null;
    this.stdout = io.stdout ?? null;
    this.stderr = io.stderr ?? null;
    this.emit('spawn');
  }
}

/** A signal's name, from a name or a number; an unknown one throws as child_process's kill() does. */
function signalName(signal: NodeJS.Signals | number): NodeJS.Signals {
  const name = typeof signal === 'number' ? (Object.keys(osConstants.signals) as NodeJS.Signals[]).find((n) => osConstants.signals[n] === signal) : signal;
  if (name === undefined || !(name in osConstants.signals)) throw Object.assign(new TypeError(`Unknown signal: ${String(signal)}`), { code: 'ERR_UNKNOWN_SIGNAL' });
  return name;
}

/** What the handle's settings are called in errors and rule sources. */
const HANDLE_SETTINGS = 'createSandbox options.settings';

/** What bubblewrap and the helper said, kept per command for an error's message: at most this many characters. */
const MAX_MESSAGES = 16 * 1024;

/** child.events() replays at most this many past events. */
export const MAX_LOGGED_EVENTS = 10_000;

export interface Sandbox {
  /** Runs `command args` in the sandbox; see SandboxChild. */
  spawn(command: string, args?: readonly string[], options?: SpawnOptions): SandboxChild;
  /** Runs it to the end, with its output collected. Rejects with a CordonError when cordon itself fails. */
  exec(command: string, args?: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Every event of every command of this handle from now on, until close(), where the iteration ends. */
  events(): AsyncIterableIterator<CordonEvent>;
  /**
   * Replaces the handle's network.allowedDomains and/or network.deniedDomains
   * (validated as in settings; throws a CordonError naming a wrong entry, and
   * changes nothing then). Applies to every connection opened after the
   * call, by commands already running too; connections already open stay
   * open. A running command keeps its network mode (its network namespace is
   * fixed): one started with no network gains none; later commands get the
   * mode the new lists give. network.mode itself cannot be changed here.
   */
  setNetwork(lists: NetworkLists): void;
  /** Kills what still runs and stops the handle's proxies. Safe to call twice; the handle runs nothing afterwards. */
  close(): Promise<void>;
}

/** Whether this process has launched a command (the bundle's code cache is then made whole: bin/load.cjs). @internal */
export function launched(): boolean {
  return ranCommand;
}
let ranCommand = false;

export function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  return openSandbox(options);
}

/**
 * @internal What the CLI's run adds to a handle (cli/main.ts runs its
 * command through this library): sources a settings object cannot name,
 * the work it began before this code was loaded, its terminal's signals,
 * and where its messages go as they happen.
 */
export interface RunInternals {
  /** --settings files, the rule flags, --ignore-*-settings, --dangerously-allow-missing-landlock, the files cordon writes during the run. */
  readonly compile?: Pick<CompileInput, 'settingsFiles' | 'ignoreUserSettings' | 'ignoreProjectSettings' | 'rules' | 'protectedFiles' | 'landlockOptional'>;
  /** Work begun before the policy was compiled (cli/early.ts), and the key its prediction is kept under: for the first command. */
  readonly early?: { readonly key: string; readonly work: EarlyWork };
  /** The signals this process gets go to the command until its step after the run is done (launch.ts), instead of ending it (host-exit.ts). */
  readonly forwardSignals?: boolean;
  /** Each warning as soon as it is known. */
  readonly onWarning?: (w: string) => void;
  /** bubblewrap's own messages as they come (else they are added to the error of a launch that failed). */
  readonly onMessage?: (m: Buffer) => void;
  readonly debug?: (m: string) => void;
  /** --debug's timeline: called as each phase ends. */
  readonly mark?: (phase: string) => void;
}

const NO_RULES = { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] } as const;

/** The part of a network spec the handle's proxies apply to every command alike, as one comparable string. */
function sessionShape(spec: NetworkPolicySpec): string {
  return JSON.stringify([spec.tls ?? null, spec.refuseOpaqueTunnels ?? false, spec.requestRules ?? [], spec.credentials ?? [], spec.parent ?? null, spec.mitm ?? null]);
}

/**
 * A working directory given by path, resolved: refused if a symlink on its
 * way lies where a sandboxed command could write and leads out of there (a
 * command of an earlier run could have renamed the directory and put the
 * link in its place; journal.ts sandboxedAreas).
 */
function workingDirectory(given: string): string {
  const real = realpathSync(given);
  // A path that is its own real path has no link on its way: nothing to look up (the CLI's, and process.cwd()).
  if (real !== resolvePath(given)) refuseRedirectedDirectory(given);
  return real;
}

/**
 * The check of workingDirectory on a path that names the working directory
 * (the CLI's: the shell's $PWD, which it reached through the links on its
 * way, when it is the directory cordon runs in). @internal
 */
export function refuseRedirectedDirectory(given: string): void {
  const hop = redirectingLink(resolvePath(given), [], sandboxedAreas(runtimeDir(process.env)));
  if (hop) throw new CordonError('CORDON_ERR_POLICY', `the working directory ${given} reaches ${hop.lands} through the symlink ${hop.link} -> ${hop.target}, which lies in ${hop.area} (${hop.why}) and leads outside it. Give the directory it should be itself if you mean it`);
}

/** createSandbox, with what only cordon's own CLI passes. @internal */
export async function openSandbox(options: SandboxOptions = {}, internals: RunInternals = {}): Promise<Sandbox> {
  if (process.platform !== 'linux') {
    throw new CordonError('CORDON_ERR_UNSUPPORTED_PLATFORM', `cordon runs commands on Linux in this version (this is ${process.platform})`);
  }
  const cwd = workingDirectory(options.cwd ?? process.cwd());
  const baseEnv = options.env ?? process.env;
  // The handle's settings: one source, replaced whole by setNetwork (a command's sources name any version of it).
  const handleJson: Record<string, unknown> = options.settings === undefined ? {} : JSON.parse(settingsJson(options.settings, HANDLE_SETTINGS)) as Record<string, unknown>;
  let given: Settings = parseSettings(JSON.stringify(handleJson), HANDLE_SETTINGS);
  const handleVersions = new WeakSet<Settings>([given]);
  const current = (sources: readonly Settings[]) => sources.map((s) => (handleVersions.has(s) ? given : s));
  /** The running commands' network rules, recomputed by setNetwork. */
  const live = new Set<{ readonly sources: readonly Settings[]; readonly untrusted: readonly Settings[]; readonly overlay: Overlay | undefined; setRules(r: NetworkRules): void }>();
  const home = defaultHome(baseEnv);
  const running = new Set<SandboxChild>();
  let session: Promise<NetworkSession> | undefined;
  let sessionSpec: string | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  const readers = new Set<EventQueue<CordonEvent>>();

  /** As the CLI's run: the guard first (killed runs finished, no live sandbox able to change cordon's programs), then the policy. */
  function compileFor(dir: string, env: NodeJS.ProcessEnv, command: readonly string[], overlay: Overlay | undefined, warn: (w: string) => void = () => {}, early: readonly PendingScan[] = []) {
    const liveRuns = guardRuns(process.env, warn);
    // cordon's own facts (its programs, its state, this kernel) come from the host process's environment; `env` is the command's.
    const facts = gatherFacts(process.env, helperPath(process.env), runtimeDir(process.env));
    const cli = internals.compile;
    // The CLI's sources are files and flags: no settings object unless one was given.
    const values = cli && options.settings === undefined ? [] : [given];
    return compile({
      facts, cwd: dir, home, env, command, liveRuns, settings: values,
      settingsFiles: cli?.settingsFiles ?? [],
      ignoreUserSettings: cli ? cli.ignoreUserSettings : options.userSettings !== true,
      rules: cli?.rules ?? NO_RULES,
      ...(cli?.ignoreProjectSettings ? { ignoreProjectSettings: true } : {}),
      ...(cli?.protectedFiles ? { protectedFiles: cli.protectedFiles } : {}),
      ...(cli?.landlockOptional ? { landlockOptional: true } : {}),
      ...(overlay ? { overlay } : {}),
    }, early);
  }

  /**
   * The scan and the sandbox process the last command like this one used
   * (platform/linux/ahead.ts), started before its policy is compiled; the
   * key is the handle's options, the directory and the command's overlay.
   */
  function startFor(dir: string, env: NodeJS.ProcessEnv, stdio: readonly [StdioChoice, StdioChoice, StdioChoice], overlayKey: unknown) {
    const key = fnv1a(JSON.stringify(['library', dir, options.settings ?? null, options.userSettings === true, overlayKey ?? null]));
    return { key, work: startAhead({ cwd: dir, key, env, host: process.env, stdio, own: heldUntilLaunch }) };
  }

  /** The handle's proxies, started with its first command that needs them. */
  function network(spec: NetworkPolicySpec) {
    const debug = internals.debug;
    // What the proxies do for every command (termination, opaque tunnels, request rules, brokered credentials, upstream proxies)
    // is fixed by the first: a later command whose sources (a project file of its own directory) ask for
    // another is refused rather than run under the first one's.
    const shape = sessionShape(spec);
    sessionSpec ??= shape;
    if (shape !== sessionSpec) {
      throw new CordonError('CORDON_ERR_SETTINGS_INVALID', 'this command\'s settings (or its environment\'s HTTPS_PROXY) ask for other TLS termination, request rules, opaque-tunnel refusal, brokered credentials or upstream proxies than the handle\'s proxies apply (they are set by the first command with a network, from its settings and project files); nothing was run. Run it from a handle of its own (createSandbox with its cwd)');
    }
    session ??= import('./network-session.js').then((m) => m.startNetworkSession(spec, runtimeDir(process.env), relayPath(process.env), debug ? (e) => debug(`closed a connection to the ${e.via} proxy without a live command's secret`) : () => {}, process.env));
    return session;
  }
  /** The CLI's early work goes to the first command only. */
  let early = internals.early;

  function spawnIn(command: string, args: readonly string[], opts: SpawnOptions): SandboxChild {
    // A wrong overlay is the caller's mistake, refused before anything starts (as child_process does with wrong arguments).
    const overlay = opts.policy === undefined ? (opts.widen === undefined ? undefined : parseOverlay({}, opts.widen)) : parseOverlay(opts.policy, opts.widen);
    const child = new SandboxChild((e) => {
      safely(opts.onEvent, e);
      safely(options.onEvent, e);
      for (const r of readers) r.push(e);
    });
    if (closed) {
      queueMicrotask(() => fail(child, new CordonError('CORDON_ERR_USAGE', 'this sandbox is closed')));
      return child;
    }
    running.add(child);
    const stdio = (Array.isArray(opts.stdio) ? opts.stdio : [opts.stdio ?? 'pipe', opts.stdio ?? 'pipe', opts.stdio ?? 'pipe']) as [StdioChoice, StdioChoice, StdioChoice];
    const env = opts.env ?? baseEnv;
    const abort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', abort, { once: true });
    if (opts.signal?.aborted) abort();
    let attached: { bridge: Bridge; release(): void } | undefined;
    let ahead: { take(): SandboxProcess | undefined; stoppedBy(): NodeJS.Signals | undefined } | undefined;
    let netEntry: { sources: readonly Settings[]; untrusted: readonly Settings[]; overlay: Overlay | undefined; setRules(r: NetworkRules): void } | undefined;
    const warn = (w: string) => { child.warnings.push(w); internals.onWarning?.(w); };
    void (async () => {
      const dir = opts.cwd === undefined ? cwd : workingDirectory(opts.cwd);
      child.stream.emit({ type: 'command.start', argv: [command, ...args], cwd: dir });
      const begun = early;
      early = undefined;
      const { key, work } = begun ?? startFor(dir, env, stdio, opts.policy === undefined && opts.widen === undefined ? undefined : [opts.policy ?? null, opts.widen ?? null]);
      ahead = work.sandbox;
      const compiled = await compileFor(dir, env, [command, ...args], overlay, warn, work.scans);
      for (const w of [...compiled.policy.warnings, ...compiled.plan.warnings]) warn(w);
      internals.mark?.('compile');
      internals.debug?.(`compiled: ${compiled.plan.mounts.length} mounts, ${compiled.plan.placeholders.length} placeholders`);
      // What the next command like this one starts ahead.
      const state = compiled.facts.stateDir;
      if (compiled.scan.patterns.length === 0) rememberRoots(state, key, dir, compiled.scan.roots, work.scans[0]?.roots);
      if (!compiled.plan.mounts.some((m) => !m.byHelper && compiled.plan.placeholders.includes(m.path))) {
        rememberLaunch(state, key, { bwrap: compiled.bwrap, helper: compiled.helper, bwrapArgs: compiled.plan.bwrapArgs, env: compiled.plan.env, withheld: compiled.plan.withheld }, work.sandbox?.record);
      }
      if (compiled.plan.network.mode === 'filtered') {
        const sources = compiled.sources ?? [given];
        const a = (await network(compiled.policy.network)).attach(child.stream.emit, commandNetwork(current(sources), overlay, internals.compile?.rules, compiled.untrusted));
        attached = a;
        netEntry = { sources, untrusted: compiled.untrusted ?? [], overlay, setRules: a.setRules };
        live.add(netEntry);
        internals.mark?.('proxies');
      }
      refuseTruncatableStdio(stdio, compiled.plan.landlock.rwnd, compiled.plan.landlock.rw);
      let messages = '';
      const { refusalMonitor } = await import('./platform/linux/violations.js');
      const taken = ahead?.take();
      // A signal while the policy was compiled ended the sandbox started ahead: the command ends by it, never started.
      const stopped = ahead?.stoppedBy();
      if (stopped) {
        await taken?.kill();
        return end(child, 128 + (osConstants.signals[stopped] ?? 0), stopped);
      }
      const result = await launchLinux(compiled.plan, {
        env, stdio, forwardSignals: internals.forwardSignals === true,
        ...(taken ? { ahead: taken } : {}),
        refusals: refusalMonitor(compiled.policy, compiled.plan, child.stream.emit),
        ...(attached ? { bridge: attached.bridge } : {}),
        onSignal: (signal) => child.signalVia(signal),
        onStart: (io) => child.started(io),
        // Kept for an error's message only, and bounded: a command can make PID 1 speak (a refused Unix socket).
        onMessage: internals.onMessage ?? ((m) => { if (messages.length < MAX_MESSAGES) messages += m.toString().slice(0, MAX_MESSAGES - messages.length); }),
        onEvent: child.stream.emit,
        warn,
        ...(internals.debug ? { debug: internals.debug } : {}),
        ...(internals.mark ? { mark: internals.mark } : {}),
      }).catch((e: unknown) => {
        if (e instanceof CordonError && messages) e.message += `\n${messages.trim()}`;
        throw e;
      });
      ranCommand = true;
      end(child, result.exitCode, result.signal ?? null);
    })().catch((e: unknown) => fail(child, e)).finally(async () => {
      // Started ahead for a command that never launched (its policy was refused): nothing ran in it.
      await ahead?.take()?.kill();
      if (netEntry) live.delete(netEntry);
      attached?.release();
      opts.signal?.removeEventListener('abort', abort);
    });
    return child;
  }

  /** No longer running (close() waits for no more) before anyone hears of the end. */
  function end(child: SandboxChild, code: number, signal: NodeJS.Signals | null, error?: Error): void {
    running.delete(child);
    child.exitCode = code;
    child.signalCode = signal;
    child.stream.emit({ type: 'command.exit', exitCode: code, signal, ...(error ? { error: { code: error instanceof CordonError ? error.code : 'CORDON_ERR_INTERNAL', message: error.message } } : {}) });
    if (error) child.emit('error', error);
    child.emit('exit', code, signal);
    child.emit('close', code, signal);
  }

  function fail(child: SandboxChild, e: unknown): void {
    // Killed by its caller before its command started: it ended by that signal, not by a failure of cordon's.
    const sig = child.killedWith;
    if (sig && e instanceof CordonError && e.code === 'CORDON_ERR_LAUNCH') return end(child, 128 + (osConstants.signals[sig] ?? 0), sig);
    end(child, 125, null, e instanceof Error ? e : new Error(String(e)));
  }

  return {
    spawn: (command, args = [], opts = {}) => spawnIn(command, args, opts),
    exec(command, args = [], opts = {}) {
      return new Promise<ExecResult>((resolve, reject) => {
        const child = spawnIn(command, args, { ...opts, stdio: 'pipe' });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let error: Error | undefined;
        child.on('spawn', () => {
          child.stdout?.on('data', (d: Buffer) => out.push(d));
          child.stderr?.on('data', (d: Buffer) => err.push(d));
          child.stdin?.end(opts.input ?? '');
        });
        child.on('error', (e: Error) => { error = e; });
        child.on('close', (code: number, signal: NodeJS.Signals | null) => {
          if (error) reject(error);
          else resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), exitCode: code, signal, warnings: child.warnings, commandId: child.id, violations: child.violations, violationsDropped: child.violationsDropped });
        });
      });
    },
    setNetwork(lists) {
      if (closed) throw new CordonError('CORDON_ERR_USAGE', 'setNetwork: this sandbox is closed');
      if (!isPlainObject(lists)) throw new CordonError('CORDON_ERR_USAGE', 'setNetwork takes an object: { allowedDomains?, deniedDomains? }');
      for (const k of Object.keys(lists)) {
        if (k === 'mode') throw new CordonError('CORDON_ERR_USAGE', "setNetwork: network.mode cannot change on a live sandbox (a running command's network namespace is fixed when it starts); create another sandbox with the mode you want");
        if (k !== 'allowedDomains' && k !== 'deniedDomains') throw new CordonError('CORDON_ERR_USAGE', `setNetwork: ${k} is not one of the lists it changes (allowedDomains, deniedDomains); set it in createSandbox's settings`);
      }
      const net = isPlainObject(handleJson.network) ? handleJson.network : {};
      const nextJson = { ...handleJson, network: { ...net, ...JSON.parse(settingsJson(lists, 'setNetwork')) as Record<string, unknown> } };
      const next = parseSettings(JSON.stringify(nextJson), HANDLE_SETTINGS);
      handleJson.network = nextJson.network;
      handleVersions.add(next);
      given = next;
      for (const c of live) c.setRules(commandNetwork(current(c.sources), c.overlay, internals.compile?.rules, c.untrusted));
    },
    events() {
      const q: EventQueue<CordonEvent> = new EventQueue(() => readers.delete(q));
      if (closed) q.end();
      else readers.add(q);
      return q;
    },
    close() {
      // A second call waits for the same end as the first: everything released.
      closing ??= (async () => {
        closed = true;
        const ending = [...running].map((c) => new Promise((r) => { c.once('close', r); c.kill('SIGKILL'); }));
        running.clear();
        await Promise.all(ending);
        for (const r of readers) r.end();
        readers.clear();
        const s = await session?.catch(() => undefined);
        await s?.close();
      })();
      return closing;
    },
  };
}
