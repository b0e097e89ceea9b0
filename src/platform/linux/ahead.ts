/**
 * Work a start can begin before it knows its policy (the CLI's
 * cli/early.ts, the library's commands): the scan of the writable roots the
 * last start like it scanned, and the sandbox process it launched, started
 * while the policy is compiled. compile() uses the scan only if the policy
 * asks for exactly those roots, and launch.ts uses the process only if the
 * plan asks for exactly that (sandbox-process.ts says why that is safe);
 * a wrong guess costs time, never correctness. What a start like this one
 * scanned and launched is remembered in cordon's state directory, by a key
 * the caller makes (cli/early.ts predictionKey; the library's options).
 *
 * Nothing is started while a run killed before its step after the run left
 * a journal, or a run still going could have changed a program cordon runs
 * on the host: guardRuns (guard.ts) first finishes the one and refuses the
 * other, and this must not run those programs before it.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { helperPath } from './helper-path.js';
import { boundCache, cacheDir, runtimeDir } from './placeholders.js';
import { scanCommand, scanFromPipes, startScan, type PendingScan } from './scan.js';
import { ROOT_NAME_LIST } from '../../policy/protected.js';
import { clearForEarlyStart } from './journal.js';
import { hostPrograms } from './guard.js';
import { findBwrap } from './probe.js';
import { sandboxEnv, startSandboxProcess, type SandboxProcess, type StdioChoice } from './sandbox-process.js';

/** What startAhead began: the scans, and the sandbox process if one was remembered. */
export interface EarlyWork {
  readonly scans: PendingScan[];
  /**
   * `take()`: the process, once (then the caller kills it or launches in
   * it); undefined once a signal killed it, and then `stoppedBy()` says which
   * (cordon launches nothing: it is ending by that signal).
   */
  readonly sandbox?: { readonly record: LaunchRecord; take(): SandboxProcess | undefined; stoppedBy(): NodeJS.Signals | undefined };
}

/** A sandbox process started ahead, held until a launch takes it. */
export interface Held {
  take(): SandboxProcess | undefined;
  peek(): SandboxProcess | undefined;
  stoppedBy(): NodeJS.Signals | undefined;
}

/**
 * The work a start can begin before it knows its policy, for the CLI
 * (startEarly) and the library (a handle's command): the scan of the roots
 * the last start with `key` scanned, and the sandbox process it launched,
 * in one process start. `own` holds that process until a launch takes it
 * (owned: the CLI's signals; the library's: host-exit.ts). Anything that
 * goes wrong here is left for the normal path to report.
 */
export function startAhead(o: { cwd: string; key: string; env: NodeJS.ProcessEnv; host?: NodeJS.ProcessEnv; stdio?: readonly [StdioChoice, StdioChoice, StdioChoice]; own: (start: () => SandboxProcess) => Held }): EarlyWork {
  try {
    // Where cordon's programs and state are: cordon's own environment (`host`, the library's process), else the command's.
    const host = o.host ?? o.env;
    const helper = helperPath(host);
    const state = runtimeDir(host);
    if (!clearForEarlyStart(state, () => hostPrograms(helper, findBwrap(host)))) return { scans: [] };
    // `/` is never a writable root (policy.ts refuses it): a scan of the whole
    // machine here would only be waited out.
    const scan = o.cwd === '/' ? undefined : scanCommand([...new Set([o.cwd, ...rememberedRoots(state, o.key)])], [], state, ROOT_NAME_LIST);
    const record = rememberedLaunch(state, o.key);
    // Only the programs clearForEarlyStart checked above: a record made with
    // another CORDON_BWRAP names a program no guard has looked at.
    if (!record || record.helper !== helper || record.bwrap !== findBwrap(o.env)) return { scans: scan ? [startScan(helper, scan.roots, [], state, undefined, ROOT_NAME_LIST)] : [] };
    // One process start for both: the helper forks the scan and execs bubblewrap (`with-scan`).
    const sandbox = o.own(() => startSandboxProcess(record.bwrap, record.helper, record.bwrapArgs, sandboxEnv(o.env, record.env, record.withheld), o.stdio, scan?.args));
    const pipes = sandbox.peek()?.scanned;
    return { scans: scan && pipes ? [scanFromPipes(scan.roots, [], ROOT_NAME_LIST, pipes)] : [], sandbox: { record, ...sandbox } };
  } catch {
    return { scans: [] };
  }
}

function rootsFile(state: string, key: string): string {
  return join(cacheDir(state), `roots-${key}.json`);
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
  /**
   * The caller's variables it withheld. A start that uses this record with
   * another environment may pass a secret this list does not name: launch
   * uses that process only if its environment is exactly the plan's
   * (sameSandbox), and it is parked until then, its command not started.
   */
  readonly withheld: readonly string[];
}

function launchFile(state: string, key: string): string {
  return join(cacheDir(state), `launch-${key}.json`);
}

function rememberedLaunch(state: string, key: string): LaunchRecord | undefined {
  try {
    const v = JSON.parse(readFileSync(launchFile(state, key), 'utf8')) as Partial<LaunchRecord>;
    const strings = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === 'string');
    if (typeof v.bwrap !== 'string' || !v.bwrap.startsWith('/') || typeof v.helper !== 'string' || !strings(v.bwrapArgs)) return undefined;
    if (!v.env || typeof v.env !== 'object' || !Object.values(v.env).every((x) => typeof x === 'string') || !strings(v.withheld)) return undefined;
    return { bwrap: v.bwrap, helper: v.helper, bwrapArgs: v.bwrapArgs, env: v.env, withheld: v.withheld };
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
    // A start in a new place (or with new settings) adds files: the cache is kept bounded there.
    if (!used) boundCache(state);
  } catch { /* a prediction only */ }
}
