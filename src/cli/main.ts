/**
 * The cordon command: parse argv, compile the policy into a plan, launch.
 * A thin shell around compile() and launchLinux(); every failure of cordon's
 * own is one line on stderr and exit status 125. The run's events
 * (src/events/) go to the audit log (--audit-log), the summary of refusals
 * on stderr when the command ends (unless --no-summary) and
 * --violations-json.
 */
import { ftruncateSync, openSync, readFileSync, realpathSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { CordonError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { compile, defaultHome } from '../compile.js';
import { launchLinux, type Bridge } from '../platform/linux/launch.js';
import type { PendingScan } from '../platform/linux/scan.js';
import { relayPath } from '../platform/linux/helper-path.js';
import { runtimeDir } from '../platform/linux/placeholders.js';
import { parseArgs, USAGE, type CliConfig } from './args.js';
import { predictionKey, rememberLaunch, rememberRoots, type LaunchRecord } from './early.js';
import { guardRuns } from '../platform/linux/guard.js';
import type { SandboxProcess } from '../platform/linux/sandbox-process.js';
import { printExplain } from './explain.js';
import { printDoctor } from './doctor.js';
import { runCheck } from './check.js';
import { runTrust } from './trust.js';
import { commandEvents, type CommandEvents } from '../events/stream.js';
import { openAuditLog, type AuditLog } from '../events/audit-log.js';
import { summary } from '../events/describe.js';

export const EXIT_CORDON_FAILURE = 125;

let ranSandbox = false;
/** Whether this process ran a command in a sandbox: bin/load.cjs then knows its code cache covers a whole run. */
export function launched(): boolean {
  return ranSandbox;
}

/** Work bin/cordon.cjs started before loading this bundle (see early.ts). */
export interface Early {
  readonly scans?: readonly PendingScan[];
  readonly sandbox?: { readonly record: LaunchRecord; take(): SandboxProcess | undefined; stoppedBy(): NodeJS.Signals | undefined };
}

/** `early`: work bin/cordon.cjs started before loading this bundle; a sandbox started ahead that no launch takes is killed here. */
export async function main(argv: readonly string[], early: Early = {}): Promise<number> {
  const take = () => early.sandbox?.take();
  try {
    return await run(argv, early, take);
  } finally {
    await take()?.kill();
  }
}

async function run(argv: readonly string[], early: Early, takeAhead: () => SandboxProcess | undefined): Promise<number> {
  let cfg: CliConfig;
  try {
    cfg = parseArgs(argv);
  } catch (e) {
    return fail(e, false);
  }
  try {
    switch (cfg.subcommand) {
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return 0;
      case 'version':
        process.stdout.write(`cordon ${version()}\n`);
        return 0;
      case 'doctor':
        return printDoctor(cfg.json);
      case 'trust':
        return runTrust(cfg.trust!, { cwd: realpathSync(process.cwd()), home: defaultHome(process.env), stateDir: runtimeDir(process.env), json: cfg.json });
      default:
        break;
    }
    const timeline = cfg.debug ? newTimeline() : undefined;
    // check runs nothing: its policy is the one `cordon true` would run under.
    const command = cfg.subcommand === 'check' ? ['true'] : toArgv(cfg);
    const cwd = realpathSync(process.cwd());
    const liveRuns = cfg.subcommand === 'run' ? guardRuns(process.env, (w) => process.stderr.write(`cordon: warning: ${w}\n`)) : undefined;
    // Opened (created) before the policy is built, so the policy can make them
    // read-only inside, and before the command runs, so a link it puts at
    // the name cannot send cordon's write elsewhere.
    const audit = cfg.auditLog && cfg.subcommand === 'run' ? openAuditLog(cfg.auditLog) : undefined;
    const violationsFd = cfg.violationsJson && cfg.subcommand === 'run' ? openViolations(cfg.violationsJson) : undefined;
    const debug = cfg.debug ? (m: string) => process.stderr.write(`cordon[debug] ${m}\n`) : undefined;
    const events = cfg.subcommand === 'run' ? commandEvents((e) => {
      audit?.write(e);
      debug?.(`event ${e.type}: ${e.message}`);
    }) : undefined;
    if (events) return await runCommand(events, { audit, violationsFd, summary: cfg.summary !== false, command, cwd }, async () => {
      events.emit({ type: 'command.start', argv: command, cwd });
      return await compileAndLaunch();
    });
    return await compileAndLaunch();

    async function compileAndLaunch(): Promise<number> {
    const compiled = await compile({
      protectedFiles: [...(cfg.auditLog ? [cfg.auditLog] : []), ...(cfg.violationsJson ? [cfg.violationsJson] : [])],
      cwd,
      home: defaultHome(process.env),
      env: process.env,
      settingsFiles: cfg.settingsFiles,
      ignoreUserSettings: cfg.ignoreUserSettings,
      ...(cfg.ignoreProjectSettings ? { ignoreProjectSettings: true } : {}),
      rules: cfg.rules,
      ...(cfg.landlockOptional ? { landlockOptional: true } : {}),
      ...(liveRuns ? { liveRuns } : {}),
      command,
    }, early.scans);
    // The roots this start scanned, and below what it launched: what the next start like it begins ahead (early.ts).
    const key = predictionKey(cwd, argv);
    if (cfg.subcommand !== 'check' && compiled.scan.patterns.length === 0) rememberRoots(compiled.facts.stateDir, key, cwd, compiled.scan.roots, early.scans?.[0]?.roots);
    if (cfg.subcommand === 'explain') {
      printExplain(compiled, cfg.json);
      return 0;
    }
    if (cfg.subcommand === 'check') return await runCheck(compiled, cfg.check!, cfg.json);
    for (const w of [...compiled.policy.warnings, ...compiled.plan.warnings]) process.stderr.write(`cordon: warning: ${w}\n`);
    timeline?.mark('compile');
    debug?.(`compiled: ${compiled.plan.mounts.length} mounts, ${compiled.plan.placeholders.length} placeholders`);
    let session: { close(): Promise<void> } | undefined;
    let bridge: Bridge | undefined;
    if (compiled.plan.network.mode === 'filtered') {
      const { startNetworkSession } = await import('../network/session.js');
      const s = await startNetworkSession(compiled.policy.network, compiled.facts.stateDir, relayPath(process.env), (e) => debug?.(`closed a connection to the ${e.via} proxy without a live command's secret`));
      session = s;
      bridge = s.attach(events!.emit).bridge;
      timeline?.mark('proxies');
    }
    // Not when bubblewrap must wait for placeholders.
    if (cfg.subcommand === 'run' && !compiled.plan.mounts.some((m) => !m.byHelper && compiled.plan.placeholders.includes(m.path))) {
      rememberLaunch(compiled.facts.stateDir, key, { bwrap: compiled.bwrap, helper: compiled.helper, bwrapArgs: compiled.plan.bwrapArgs, env: compiled.plan.env }, early.sandbox?.record);
    }
    try {
      const ahead = takeAhead();
      // Ctrl-C or SIGTERM while cordon compiled: it ends by that signal (early.ts), launching nothing.
      const stopped = early.sandbox?.stoppedBy();
      if (stopped) return 128 + (osConstants.signals[stopped] ?? 0);
      ranSandbox = true;
      // The step after the run reports its actions as events itself (onEvent).
      const warn = (w: string) => process.stderr.write(`cordon: warning: ${w}\n`);
      // Filesystem refusals become fs.refused events of the run (platform/linux/violations.ts).
      const { refusalMonitor } = await import('../platform/linux/violations.js');
      const refusals = refusalMonitor(compiled.policy, compiled.plan, events!.emit);
      const result = await launchLinux(compiled.plan, { env: process.env, debug, ...(ahead ? { ahead } : {}), warn, onEvent: events!.emit, refusals, ...(timeline ? { mark: timeline.mark } : {}), ...(bridge ? { bridge } : {}) });
      debug?.(`exit ${result.exitCode}; ${timeline?.report() ?? ""}`);
      return result.exitCode;
    } finally {
      await session?.close();
    }
    }
  } catch (e) {
    return fail(e, cfg.debug);
  }
}

/**
 * --debug timings: milliseconds spent in each phase, the first being Node's
 * own start-up and the loading of cordon (process.uptime() at entry).
 */
function newTimeline(): { mark: (phase: string) => void; report: () => string } {
  let last = process.uptime() * 1000;
  const phases: string[] = [`node start-up ${last.toFixed(1)}`];
  return {
    mark: (phase) => {
      const now = process.uptime() * 1000;
      phases.push(`${phase} ${(now - last).toFixed(1)}`);
      last = now;
    },
    report: () => `timings (ms): ${phases.join(', ')}; total ${(process.uptime() * 1000).toFixed(1)}`,
  };
}

/**
 * One command's run with its events: command.start before, command.exit
 * after (with cordon's error when it failed), then the sinks that need the
 * whole run: --violations-json and the summary on stderr.
 */
async function runCommand(events: CommandEvents, o: { audit: AuditLog | undefined; violationsFd: number | undefined; summary: boolean; command: readonly string[]; cwd: string }, body: () => Promise<number>): Promise<number> {
  let code = EXIT_CORDON_FAILURE;
  let error: CordonError | Error | undefined;
  try {
    code = await body();
    return code;
  } catch (e) {
    error = e instanceof Error ? e : new Error(String(e));
    throw e;
  } finally {
    const signal = code > 128 && code < 128 + 65 ? Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0] ?? null : null;
    events.emit({ type: 'command.exit', exitCode: code, signal, ...(error ? { error: { code: error instanceof CordonError ? error.code : 'CORDON_ERR_INTERNAL', message: error.message } } : {}) });
    o.audit?.close();
    if (o.violationsFd !== undefined) {
      ftruncateSync(o.violationsFd, 0);
      writeSync(o.violationsFd, `${JSON.stringify(events.violations, null, 2)}\n`, 0);
    }
    if (o.summary) process.stderr.write(summary(events.violations));
  }
}

/** --violations-json: created (and emptied) before the run; written through this descriptor after it. */
function openViolations(file: string): number {
  try {
    return openSync(file, 'w', 0o600);
  } catch (e) {
    throw new CordonError('CORDON_ERR_USAGE', `--violations-json ${file}: cannot open for writing (${(e as NodeJS.ErrnoException).code ?? e})`, { cause: e });
  }
}

function toArgv(cfg: CliConfig): string[] {
  const c = cfg.command;
  if (!c) return ['true'];
  if ('argv' in c) return [...c.argv];
  const sh = process.env.SHELL && process.env.SHELL.startsWith('/') ? process.env.SHELL : '/bin/sh';
  return [sh, '-c', c.shell];
}

function fail(e: unknown, debug: boolean): number {
  if (e instanceof CordonError) {
    process.stderr.write(`cordon: ${e.message}${debug ? ` [${e.code}]` : ''}\n`);
    if (debug && e.cause) process.stderr.write(`cordon[debug] cause: ${String((e.cause as Error).stack ?? e.cause)}\n`);
  } else {
    process.stderr.write(`cordon: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  return EXIT_CORDON_FAILURE;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}
