/**
 * Work started by bin/cordon.cjs before the main bundle loads
 * (platform/linux/ahead.ts): the scan of the writable roots and the sandbox
 * process, started while Node loads and compiles cordon (~8 ms) and reads
 * the settings. The key of what is remembered is the working directory and
 * the options before the command (predictionKey: the command itself is not
 * part of it, so an agent's loop of different commands keeps its
 * prediction). Until a launch takes the sandbox started ahead, the CLI's
 * signals end it (owned).
 */
import { realpathSync } from 'node:fs';
import { commandStart } from './argv.js';
import { fnv1a } from '../platform/linux/scan.js';
import { startAhead, type EarlyWork, type Held } from '../platform/linux/ahead.js';
import type { SandboxProcess } from '../platform/linux/sandbox-process.js';

export { rememberLaunch, rememberRoots, type EarlyWork, type LaunchRecord } from '../platform/linux/ahead.js';

/** Subcommands and flags that never run a command, so never scan. */
const NO_RUN = new Set(['explain', 'check', 'trust', 'doctor', 'recover', 'help', 'version', '-h', '--help', '-V', '--version']);

export function startEarly(argv: readonly string[]): EarlyWork {
  if (process.platform !== 'linux' || NO_RUN.has(argv[0] ?? '')) return { scans: [] };
  try {
    const cwd = realpathSync(process.cwd());
    return startAhead({ cwd, key: predictionKey(cwd, argv), env: process.env, own: owned });
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
function owned(start: () => SandboxProcess): Held {
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

