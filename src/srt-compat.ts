/**
 * srt's library shape, for its users to switch with a small diff:
 * `SandboxManager.initialize(config)`, `wrapWithSandbox(command)` (a shell
 * command line that runs `command` sandboxed), `cleanupAfterCommand()`,
 * `reset()`. A wrapped command runs cordon's CLI with the configuration as
 * its settings file, so it gets every wall and the step after the run that
 * `cordon -c COMMAND` gets. What differs from srt is in
 * docs/srt-compatibility.md ("The library").
 *
 * Trust boundary: the configuration is the embedding program's and is
 * validated like a settings file (a wrong or unimplemented key throws, as
 * srt's own keys cordon does not implement are refused in files). The file
 * it is written to lies in cordon's state directory, which no sandbox can
 * write (policy.ts).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CordonError } from './errors.js';
import { packageRoot } from './package-root.js';
import { parseSettings } from './policy/settings.js';
import { alive, runtimeDir } from './platform/linux/placeholders.js';

/** An srt `SandboxRuntimeConfig`: the keys of an srt settings file. */
export type SrtRuntimeConfig = Record<string, unknown>;

let settingsFile: string | undefined;
let exitHook = false;

/** The configuration files of processes that ended without reset() (killed, or never called it): removed by the next initialize(). */
function sweepDeadConfigs(dir: string): void {
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const n of names) {
    const m = /^srt-config-(\d+)-[0-9a-f]+\.json$/.exec(n);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) rmSync(join(dir, n), { force: true });
  }
}

/** POSIX shell quoting of one word. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export const SandboxManager = {
  /** Validates `config` (as a settings file) and keeps it for the commands wrapped from now on. */
  async initialize(config: SrtRuntimeConfig): Promise<void> {
    if (process.platform !== 'linux') throw new CordonError('CORDON_ERR_UNSUPPORTED_PLATFORM', `cordon runs commands on Linux in this version (this is ${process.platform})`);
    const text = JSON.stringify(config);
    parseSettings(text, 'SandboxManager.initialize config');
    const dir = runtimeDir(process.env);
    sweepDeadConfigs(dir);
    const file = join(dir, `srt-config-${process.pid}-${randomBytes(6).toString('hex')}.json`);
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    const before = settingsFile;
    settingsFile = file;
    if (before) rmSync(before, { force: true });
    // A process that ends without reset() leaves nothing behind.
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => { if (settingsFile) rmSync(settingsFile, { force: true }); });
    }
  },

  isSupportedPlatform(): boolean {
    return process.platform === 'linux';
  },

  isSandboxingEnabled(): boolean {
    return settingsFile !== undefined;
  },

  /**
   * A command line for `/bin/sh -c` (srt's callers spawn it with `shell:
   * true`) that runs `command` with `binShell` (default: `$SHELL`, else
   * /bin/sh, as cordon -c does) in a sandbox under the configuration.
   */
  async wrapWithSandbox(command: string, binShell?: string): Promise<string> {
    if (!settingsFile) throw new CordonError('CORDON_ERR_USAGE', 'SandboxManager.wrapWithSandbox before initialize()');
    const bin = join(packageRoot(), 'bin', 'cordon.cjs');
    const shell = binShell ?? (process.env.SHELL?.startsWith('/') ? process.env.SHELL : '/bin/sh');
    return [process.execPath, bin, '--ignore-user-settings', '--settings', settingsFile, '--', shell, '-c', command].map(quote).join(' ');
  },

  /** Nothing to do: cordon's step after the run is part of each wrapped command. */
  cleanupAfterCommand(): void {},

  /** Forgets the configuration (its file is removed); wrapping needs initialize() again. */
  async reset(): Promise<void> {
    if (settingsFile) rmSync(settingsFile, { force: true });
    settingsFile = undefined;
  },
};
