/**
 * Work started by bin/cordon.cjs before the main bundle loads. The scans of
 * the writable roots for nested repositories run in their own processes, so
 * starting them first lets them run while Node loads and compiles cordon
 * (~8 ms) and reads the settings. Which roots to scan is not known before
 * the settings are read, so this predicts them: the working directory, plus
 * whatever roots the last run from this directory scanned (remembered in
 * cordon's state directory, see rememberRoots). compile() collects the scans
 * the policy really asks for and waits out the others unused, so a wrong
 * guess costs time, never correctness. Anything that goes wrong here is left
 * for the normal path to report.
 */
import { readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { helperPath } from '../platform/linux/helper-path.js';
import { runtimeDir } from '../platform/linux/placeholders.js';
import { fnv1a, startScan, type PendingScan } from '../platform/linux/scan.js';

/** Subcommands and flags that never run a command, so never scan. */
const NO_RUN = new Set(['explain', 'doctor', 'help', 'version', '-h', '--help', '-V', '--version']);

export function startEarlyScans(argv: readonly string[]): PendingScan[] {
  if (process.platform !== 'linux' || NO_RUN.has(argv[0] ?? '')) return [];
  try {
    const cwd = realpathSync(process.cwd());
    const helper = helperPath();
    const state = runtimeDir();
    const roots = new Set([cwd, ...rememberedRoots(state, cwd)]);
    return [...roots].map((r) => startScan(helper, r, [], state));
  } catch {
    return [];
  }
}

function rootsFile(state: string, cwd: string): string {
  return join(state, `roots-${fnv1a(cwd)}.json`);
}

function rememberedRoots(state: string, cwd: string): string[] {
  try {
    const v = JSON.parse(readFileSync(rootsFile(state, cwd), 'utf8')) as unknown;
    return Array.isArray(v) ? v.filter((r): r is string => typeof r === 'string' && r.startsWith('/')).slice(0, 16) : [];
  } catch {
    return [];
  }
}

/** Records the roots this run scanned from `cwd`, if they differ from the last run's. */
export function rememberRoots(state: string, cwd: string, roots: readonly string[]): void {
  const others = roots.filter((r) => r !== cwd);
  const before = rememberedRoots(state, cwd);
  if (before.length === others.length && before.every((r, i) => r === others[i])) return;
  const file = rootsFile(state, cwd);
  try {
    writeFileSync(`${file}.${process.pid}`, JSON.stringify(others), { mode: 0o600 });
    renameSync(`${file}.${process.pid}`, file);
  } catch { /* a prediction only */ }
}
