/**
 * The cordon command: parse argv into the library's options, run the
 * command through the library (sandbox.ts: the same handle and spawn an
 * embedding program uses), print. explain and check compile the policy and
 * print it. Every failure of cordon's own is one line on stderr and exit
 * status 125. The run's events (src/events/) go to the audit log
 * (--audit-log), the summary of refusals on stderr when the command ends
 * (unless --no-summary) and --violations-json.
 */
import { ftruncateSync, readFileSync, realpathSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CordonError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { compile, defaultHome } from '../compile.js';
import type { PendingScan } from '../platform/linux/scan.js';
import { runtimeDir } from '../platform/linux/placeholders.js';
import { parseArgs, USAGE, type CliConfig } from './args.js';
import { predictionKey, rememberRoots, type LaunchRecord } from './early.js';
import type { SandboxProcess } from '../platform/linux/sandbox-process.js';
import { printExplain } from './explain.js';
import { finishKilledRuns, printDoctor } from './doctor.js';
import { runCheck } from './check.js';
import { runTrust } from './trust.js';
import { linkedWarning, openAuditLog, openOutputFile } from '../events/audit-log.js';
import { printableLines, summary } from '../events/describe.js';
import type { Violation } from '../events/types.js';
import { launched as libraryLaunched, openSandbox, refuseRedirectedDirectory } from '../sandbox.js';

export const EXIT_CORDON_FAILURE = 125;

/** Whether this process ran a command in a sandbox: bin/load.cjs then knows its code cache covers a whole run. */
export function launched(): boolean {
  return libraryLaunched();
}

/** Work bin/cordon.cjs started before loading this bundle (see early.ts). */
export interface Early {
  readonly scans?: readonly PendingScan[];
  readonly sandbox?: { readonly record: LaunchRecord; take(): SandboxProcess | undefined; stoppedBy(): NodeJS.Signals | undefined };
}

/** `early`: work bin/cordon.cjs started before loading this bundle; a sandbox started ahead that no launch takes is killed here. */
export async function main(argv: readonly string[], early: Early = {}): Promise<number> {
  try {
    return await run(argv, early);
  } finally {
    await early.sandbox?.take()?.kill();
  }
}

async function run(argv: readonly string[], early: Early): Promise<number> {
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
      case 'recover':
        finishKilledRuns('cordon recover');
        return 0;
      case 'trust':
        return runTrust(cfg.trust!, { cwd: realpathSync(process.cwd()), home: defaultHome(process.env), stateDir: runtimeDir(process.env), json: cfg.json });
      default:
        break;
    }
    const cwd = realpathSync(process.cwd());
    // The shell's name for it, when it is this directory: the links it went through are checked as a library's cwd is.
    const pwd = process.env.PWD;
    if (pwd?.startsWith('/') && pwd !== cwd && sameDirectory(pwd, cwd)) refuseRedirectedDirectory(pwd);
    if (cfg.subcommand === 'run') return await runCommand(cfg, argv, cwd, early);
    // explain and check run nothing: the policy shown is the one `cordon <command>` (check: `cordon true`) would run under.
    const compiled = await compile({
      protectedFiles: protectedFiles(cfg),
      cwd,
      home: defaultHome(process.env),
      env: process.env,
      settingsFiles: cfg.settingsFiles,
      ignoreUserSettings: cfg.ignoreUserSettings,
      ...(cfg.ignoreProjectSettings ? { ignoreProjectSettings: true } : {}),
      rules: cfg.rules,
      ...(cfg.landlockOptional ? { landlockOptional: true } : {}),
      command: cfg.subcommand === 'check' ? ['true'] : toArgv(cfg),
    }, early.scans);
    if (cfg.subcommand === 'check') return await runCheck(compiled, cfg.check!, cfg.json);
    // The roots it scanned: what the next start like it scans ahead (early.ts).
    if (compiled.scan.patterns.length === 0) rememberRoots(compiled.facts.stateDir, predictionKey(cwd, argv), cwd, compiled.scan.roots, early.scans?.[0]?.roots);
    printExplain(compiled, cfg.json);
    return 0;
  } catch (e) {
    return fail(e, cfg.debug);
  }
}

/**
 * The command, through the library (sandbox.ts): one handle, one spawn with
 * this terminal's stdio and signals. Its events go to the audit log as they
 * happen; when it has ended, --violations-json and the summary of refusals.
 */
async function runCommand(cfg: CliConfig, argv: readonly string[], cwd: string, early: Early): Promise<number> {
  const command = toArgv(cfg);
  const timeline = cfg.debug ? newTimeline() : undefined;
  const debug = cfg.debug ? (m: string) => process.stderr.write(`cordon[debug] ${printableLines(m)}\n`) : undefined;
  // Opened (created) before the policy is built, so the policy can make them
  // read-only inside, and before the command runs, so a link it puts at
  // the name cannot send cordon's write elsewhere.
  const audit = cfg.auditLog ? openAuditLog(cfg.auditLog) : undefined;
  const violationsFd = cfg.violationsJson ? openViolations(cfg.violationsJson) : undefined;
  const sandbox = await openSandbox({ cwd, env: process.env }, {
    compile: {
      settingsFiles: cfg.settingsFiles,
      ignoreUserSettings: cfg.ignoreUserSettings,
      rules: cfg.rules,
      protectedFiles: protectedFiles(cfg),
      ...(cfg.ignoreProjectSettings ? { ignoreProjectSettings: true } : {}),
      ...(cfg.landlockOptional ? { landlockOptional: true } : {}),
    },
    early: { key: predictionKey(cwd, argv), work: { scans: [...(early.scans ?? [])], ...(early.sandbox ? { sandbox: early.sandbox } : {}) } },
    forwardSignals: true,
    onWarning: (w) => process.stderr.write(`cordon: warning: ${printableLines(w)}\n`),
    onMessage: (m) => process.stderr.write(m),
    ...(debug ? { debug } : {}),
    ...(timeline ? { mark: timeline.mark } : {}),
  });
  let violations: readonly Violation[] = [];
  let dropped = 0;
  try {
    const child = sandbox.spawn(command[0]!, command.slice(1), {
      stdio: 'inherit',
      onEvent: (e) => {
        audit?.write(e);
        debug?.(`event ${e.type}: ${e.message}`);
      },
    });
    let error: unknown;
    child.on('error', (e: Error) => { error = e; });
    // Not events.once: it would reject at the 'error' that comes before 'close'.
    const code = await new Promise<number>((resolve) => child.once('close', (c: number) => resolve(c)));
    violations = child.violations;
    dropped = child.violationsDropped;
    if (error) return fail(error, cfg.debug);
    debug?.(`exit ${code}; ${timeline?.report() ?? ''}`);
    return code;
  } finally {
    const warn = (w: string | undefined) => { if (w) process.stderr.write(`cordon: warning: ${printableLines(w)}\n`); };
    warn(audit?.close());
    if (violationsFd !== undefined) {
      warn(linkedWarning(violationsFd, '--violations-json', cfg.violationsJson!));
      ftruncateSync(violationsFd, 0);
      writeSync(violationsFd, `${JSON.stringify(violations, null, 2)}\n`, 0);
      if (dropped > 0) warn(`${cfg.violationsJson!} lists the first ${violations.length} refusals; ${dropped} more came after them and are in no list (--audit-log FILE records every one)`);
    }
    if (cfg.summary !== false) process.stderr.write(summary(violations, dropped));
    await sandbox.close();
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

/** The files cordon writes during the run: never writable inside. */
function protectedFiles(cfg: CliConfig): string[] {
  return [...(cfg.auditLog ? [cfg.auditLog] : []), ...(cfg.violationsJson ? [cfg.violationsJson] : [])];
}

/** --violations-json: created (and emptied) before the run; written through this descriptor after it. */
function openViolations(file: string): number {
  return openOutputFile(file, 'truncate', '--violations-json');
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
    process.stderr.write(`cordon: ${printableLines(e.message)}${debug ? ` [${e.code}]` : ''}\n`);
    if (debug && e.cause) process.stderr.write(`cordon[debug] cause: ${String((e.cause as Error).stack ?? e.cause)}\n`);
  } else {
    process.stderr.write(`cordon: internal error: ${printableLines((e as Error)?.stack ?? String(e))}\n`);
  }
  return EXIT_CORDON_FAILURE;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Whether two paths name one directory now (device and inode). */
function sameDirectory(a: string, b: string): boolean {
  try {
    const x = statSync(a, { bigint: true });
    const y = statSync(b, { bigint: true });
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}
