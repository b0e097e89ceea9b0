/** `cordon doctor`: what this machine supports and what is missing, with the fix; `cordon recover`. */
import { helperPath } from '../platform/linux/helper-path.js';
import { hostEnv, probeLinux } from '../platform/linux/probe.js';
import { runtimeDir, sweepStale } from '../platform/linux/placeholders.js';
import { sweepDeadSessions } from '../network-session.js';
import { recoverJournals } from '../platform/linux/journal.js';
import { finishKilledRun } from '../platform/linux/after-run.js';
import { printableLines } from '../events/describe.js';

export function printDoctor(json: boolean): number {
  if (process.platform !== 'linux') {
    process.stdout.write(`cordon doctor: ${process.platform} is not supported by this version (Linux only)\n`);
    return 1;
  }
  let helper: string | undefined;
  try { helper = helperPath(process.env); } catch { helper = undefined; }
  // A run whose cordon was killed is finished here too (journal.ts).
  if (helper) finishKilledRuns('cordon doctor', helper);
  const checks = probeLinux(helper, hostEnv(process.env));
  if (json) process.stdout.write(`${JSON.stringify({ version: 1, checks }, null, 2)}\n`);
  else {
    for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : 'MISSING'} ${c.name}: ${c.detail}${c.fix ? `\n        fix: ${c.fix}` : ''}\n`);
  }
  // User notification is only needed for Unix socket grants: it does not make the machine unusable.
  return checks.every((c) => c.ok || c.name === 'Unix socket grants') ? 0 : 1;
}

/**
 * `cordon recover`, and the first thing `cordon doctor` does: the step after
 * the run of every run whose cordon was killed before it (journal.ts), as
 * the next run would do it first, and what such runs left (placeholders,
 * socket directories). The scan after a run starts `cordon
 * recover` itself once that run's cordon died mid-run (guard.ts
 * recoverCommand); its words go to the stderr the command wrote to. `who`
 * begins the closing line.
 */
export function finishKilledRuns(who: string, helper = helperPath(process.env)): number {
  const state = runtimeDir(process.env);
  const n = recoverJournals(state, (j) => finishKilledRun(j, helper, state, (w) => process.stderr.write(`cordon: warning: ${printableLines(w)}\n`)));
  // What such runs held: their placeholders no live run holds, their proxies' socket directories.
  sweepStale(state);
  sweepDeadSessions(state);
  if (n > 0) process.stderr.write(`${who}: finished the after-run check of ${n} run${n === 1 ? '' : 's'} whose cordon was killed\n`);
  return n;
}
