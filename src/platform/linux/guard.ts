/**
 * The guard every start passes first, the CLI's and the library's: runs
 * killed before their step after the run are finished, and nothing starts
 * while a sandbox that is still running could have rewritten a program
 * cordon runs on the host (test: self-protection.test.ts).
 */
import { realOrSelf } from '../../policy/paths.js';
import { basename, dirname, join } from 'node:path';
import { CordonError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import { finishKilledRun } from './after-run.js';
import { helperPath } from './helper-path.js';
import { liveJournals, recoverJournals, writableByLiveRun, type Journal } from './journal.js';
import { runtimeDir } from './placeholders.js';
import { findBwrap } from './probe.js';
import type { AfterDeath } from './scan.js';

/** The programs cordon runs on the host, resolved: no sandbox that could write one may be running when cordon runs them. */
export function hostPrograms(helper: string, bwrap: string): string[] {
  const root = packageRoot();
  return [process.execPath, helper, bwrap, join(root, 'bin'), join(root, 'dist'), join(root, 'native', 'build')].map(realOrSelf);
}

/**
 * Before anything else: finish the after-run step of any run whose cordon
 * was killed (journal.ts), and refuse to start while a sandbox that is still
 * running could have rewritten a program cordon is about to run on the host.
 */
export function guardRuns(env: Readonly<Record<string, string | undefined>>, warn: (w: string) => void): Journal[] {
  const state = runtimeDir(env);
  const helper = helperPath(env);
  recoverJournals(state, (j) => finishKilledRun(j, helper, state, warn));
  const live = liveJournals(state);
  if (live.length === 0) return live;
  const hit = writableByLiveRun(hostPrograms(helper, findBwrap(env)), live);
  if (hit) throw new CordonError('CORDON_ERR_LAUNCH', `${hit.program} is writable by a sandbox that is still running (cordon pid ${hit.run.pid}, writable path ${hit.root}); cordon will not run what that command could have changed. Wait for that run to end, then check ${hit.program}`);
  return live;
}

/**
 * What finishes the runs whose cordon died mid-run (`cordon recover`: the
 * journals of runs whose cordon is gone), as the scan after the run that
 * waits in a process of its own starts it once the sandbox is gone
 * (scan.ts watch()): this Node and this cordon, with an environment of its
 * own that finds this state directory and this helper, nothing else of the
 * caller's (no NODE_OPTIONS: cordon.cjs drops it too).
 */
export function recoverCommand(stateDir: string, helper: string): AfterDeath {
  if (basename(stateDir) !== 'cordon') throw new CordonError('CORDON_ERR_INTERNAL', `the state directory ${stateDir} is not one runtimeDir() gives (…/cordon)`);
  return {
    argv: [process.execPath, join(packageRoot(), 'bin', 'cordon.cjs'), 'recover'],
    // runtimeDir (placeholders.ts) is XDG_STATE_HOME/cordon.
    env: { XDG_STATE_HOME: dirname(stateDir), CORDON_HELPER: helper },
  };
}
