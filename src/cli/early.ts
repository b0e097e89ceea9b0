/**
 * Work started by bin/cordon.cjs before the main bundle loads. The scan of
 * the working directory for nested repositories runs in its own process, so
 * starting it first lets it run while Node loads and compiles cordon
 * (~8 ms) and reads the settings; compile() collects it if the policy asks
 * for exactly that scan, and otherwise waits it out unused. Anything that
 * goes wrong here is left for the normal path to report.
 */
import { realpathSync } from 'node:fs';
import { helperPath } from '../platform/linux/helper-path.js';
import { runtimeDir } from '../platform/linux/placeholders.js';
import { startScan, type PendingScan } from '../platform/linux/scan.js';

/** Subcommands and flags that never run a command, so never scan. */
const NO_RUN = new Set(['explain', 'doctor', 'help', 'version', '-h', '--help', '-V', '--version']);

export function startEarlyScan(argv: readonly string[]): PendingScan | undefined {
  if (process.platform !== 'linux' || NO_RUN.has(argv[0] ?? '')) return undefined;
  try {
    return startScan(helperPath(), realpathSync(process.cwd()), [], runtimeDir());
  } catch {
    return undefined;
  }
}
