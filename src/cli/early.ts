/**
 * Work started by bin/cordon.cjs before the main bundle loads. The scan of
 * the writable roots for nested repositories runs in its own process, so
 * starting it first lets it run while Node loads and compiles cordon
 * (~8 ms) and reads the settings. Which roots to scan is not known before
 * the settings are read, so this predicts them: the working directory, plus
 * whatever roots the last run with the same options from this directory
 * scanned (remembered in cordon's state directory, see rememberRoots; the
 * command itself is not part of the key, so an agent's loop of different
 * commands keeps its prediction), all in one process. compile() uses it if
 * the policy asks for exactly those roots, and otherwise waits it out
 * unused, so a wrong guess costs time, never correctness. Anything that
 * goes wrong here is left for the normal path to report.
 *
 * The sandbox's process is started ahead the same way:
 * from the bubblewrap options and environment the last run with the same
 * key used, so that bubblewrap builds the sandbox while cordon compiles;
 * launch.ts uses it only if the plan asks for exactly that, and kills it
 * unused otherwise (sandbox-process.ts says why that is safe).
 *
 * Nothing is started here while a run killed before its step after the run
 * left a journal, or a run still going could have changed a program cordon
 * runs on the host: guardRuns (guard.ts) first finishes the one and refuses
 * the other, and this must not run those programs before it.
 */
import { readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandStart } from './argv.js';
import { helperPath } from '../platform/linux/helper-path.js';
import { runtimeDir } from '../platform/linux/placeholders.js';
import { fnv1a, scanCommand, scanFromPipes, startScan, type PendingScan } from '../platform/linux/scan.js';
import { ROOT_NAME_LIST } from '../policy/protected.js';
import { clearForEarlyStart } from '../platform/linux/journal.js';
import { hostPrograms } from '../platform/linux/guard.js';
import { findBwrap } from '../platform/linux/probe.js';
import { sandboxEnv, startSandboxProcess, type SandboxProcess } from '../platform/linux/sandbox-process.js';

/** Subcommands and flags that never run a command, so never scan. */
const NO_RUN = new Set(['explain', 'check', 'trust', 'doctor', 'help', 'version', '-h', '--help', '-V', '--version']);

/** What startEarly began: the scans, and the sandbox process if one was remembered. */
export interface EarlyWork {
  readonly scans: PendingScan[];
  /**
   * `take()`: the process, once (then the caller kills it or launches in
   * it); undefined once a signal killed it, and then `stoppedBy()` says which
   * (cordon launches nothing: it is ending by that signal).
   */
  readonly sandbox?: { readonly record: LaunchRecord; take(): SandboxProcess | undefined; stoppedBy(): NodeJS.Signals | undefined };
}

export function startEarly(argv: readonly string[]): EarlyWork {
  if (process.platform !== 'linux' || NO_RUN.has(argv[0] ?? '')) return { scans: [] };
  try {
    const cwd = realpathSync(process.cwd());
    const helper = helperPath();
    const state = runtimeDir();
    if (!clearForEarlyStart(state, () => hostPrograms(helper))) return { scans: [] };
    const key = predictionKey(cwd, argv);
    // `/` is never a writable root (policy.ts refuses it): a scan of the whole
    // machine here would only be waited out.
    const scan = cwd === '/' ? undefined : scanCommand([...new Set([cwd, ...rememberedRoots(state, key)])], [], state, ROOT_NAME_LIST);
    const record = rememberedLaunch(state, key);
    // Only the programs clearForEarlyStart checked above: a record made with
    // another CORDON_BWRAP names a program no guard has looked at.
    if (!record || record.helper !== helper || record.bwrap !== findBwrap(process.env)) return { scans: scan ? [startScan(helper, scan.roots, [], state, undefined, ROOT_NAME_LIST)] : [] };
    // One process start for both: the helper forks the scan and execs bubblewrap (`with-scan`).
    const sandbox = owned(() => startSandboxProcess(record.bwrap, record.helper, record.bwrapArgs, sandboxEnv(process.env, record.env), undefined, scan?.args));
    const pipes = sandbox.peek()?.scanned;
    return { scans: scan && pipes ? [scanFromPipes(scan.roots, [], ROOT_NAME_LIST, pipes)] : [], sandbox: { record, ...sandbox } };
  } catch {
    return { scans: [] };
  }
}

/**
 * Until a launch takes the sandbox started ahead (and forwards signals
 * itself), a Ctrl-C, SIGTERM or SIGHUP ends cordon only once that sandbox is
 * killed. bubblewrap reads its options until EOF, which a cordon that dies
 * gives it, and it tells its sandbox to go on only after it has told cordon
 * the sandbox's pid: one that dies with cordon in between (SIGPIPE, or its
 * parent-death signal) leaves the sandbox blocked for ever. kill() waits for
 * that pid. The handlers come first: a signal during the start waits for
 * them (Node runs them on its next turn) instead of ending cordon at once.
 * Test: test/integration/cli/early.test.ts.
 */
function owned(start: () => SandboxProcess): { take(): SandboxProcess | undefined; peek(): SandboxProcess | undefined; stoppedBy(): NodeJS.Signals | undefined } {
  let mine: SandboxProcess | undefined;
  let stopped: NodeJS.Signals | undefined;
  const take = () => {
    for (const [sig, h] of stops) process.off(sig, h);
    const q = mine;
    mine = undefined;
    return q;
  };
  const stops = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => [sig, () => {
    stopped = sig;
    void (take()?.kill() ?? Promise.resolve()).finally(() => process.kill(process.pid, sig));
  }] as const);
  for (const [sig, h] of stops) process.on(sig, h);
  try {
    mine = start();
  } catch (e) {
    take();
    throw e;
  }
  return { take, peek: () => mine, stoppedBy: () => stopped };
}

/**
 * The working directory and the options before the command (settings files
 * and per-run rules decide the roots; `-c STRING` and what follows `--` do
 * not).
 */
export function predictionKey(cwd: string, argv: readonly string[]): string {
  const options: string[] = [];
  const end = commandStart(argv);
  for (let i = 0; i < end; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '-c') {
      i++;
      continue;
    }
    options.push(a);
  }
  return fnv1a(JSON.stringify([cwd, options]));
}

function rootsFile(state: string, key: string): string {
  return join(state, `roots-${key}.json`);
}

function rememberedRoots(state: string, key: string): string[] {
  try {
    const v = JSON.parse(readFileSync(rootsFile(state, key), 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((r): r is string => typeof r === 'string' && r.startsWith('/')).slice(0, 16) : [];
  } catch {
    return [];
  }
}

/**
 * Records the roots this run scanned besides `cwd`, if they differ from what
 * `key` predicted. `predicted`: the roots the early scan used (its answer to
 * the same question), so the file is not read twice in one run.
 */
export function rememberRoots(state: string, key: string, cwd: string, roots: readonly string[], predicted?: readonly string[]): void {
  const others = roots.filter((r) => r !== cwd).sort();
  const before = predicted ? predicted.filter((r) => r !== cwd).sort() : rememberedRoots(state, key).sort();
  if (before.length === others.length && before.every((r, i) => r === others[i])) return;
  const file = rootsFile(state, key);
  try {
    writeFileSync(`${file}.${process.pid}`, JSON.stringify(others), { mode: 0o600 });
    renameSync(`${file}.${process.pid}`, file);
  } catch { /* a prediction only */ }
}

/** What a run launched: enough to start the same sandbox process again. */
export interface LaunchRecord {
  readonly bwrap: string;
  readonly helper: string;
  readonly bwrapArgs: readonly string[];
  /** The plan's own variables (the caller's environment is added at start). */
  readonly env: Readonly<Record<string, string>>;
}

function launchFile(state: string, key: string): string {
  return join(state, `launch-${key}.json`);
}

function rememberedLaunch(state: string, key: string): LaunchRecord | undefined {
  try {
    const v = JSON.parse(readFileSync(launchFile(state, key), 'utf8')) as Partial<LaunchRecord>;
    const strings = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === 'string');
    if (typeof v.bwrap !== 'string' || !v.bwrap.startsWith('/') || typeof v.helper !== 'string' || !strings(v.bwrapArgs)) return undefined;
    if (!v.env || typeof v.env !== 'object' || !Object.values(v.env).every((x) => typeof x === 'string')) return undefined;
    return { bwrap: v.bwrap, helper: v.helper, bwrapArgs: v.bwrapArgs, env: v.env };
  } catch {
    return undefined;
  }
}

/** Records what this run launches, if it differs from what the early start used (`used`). */
export function rememberLaunch(state: string, key: string, record: LaunchRecord, used?: LaunchRecord): void {
  if (used && JSON.stringify(used) === JSON.stringify(record)) return;
  const file = launchFile(state, key);
  try {
    writeFileSync(`${file}.${process.pid}`, JSON.stringify(record), { mode: 0o600 });
    renameSync(`${file}.${process.pid}`, file);
  } catch { /* a prediction only */ }
}
