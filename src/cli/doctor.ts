/** `cordon doctor`: what this machine supports and what is missing, with the fix. */
import { helperPath } from '../platform/linux/helper-path.js';
import { hostEnv, probeLinux } from '../platform/linux/probe.js';
import { runtimeDir } from '../platform/linux/placeholders.js';
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
  if (helper) {
    const state = runtimeDir(process.env);
    const n = recoverJournals(state, (j) => finishKilledRun(j, helper!, state, (w) => process.stderr.write(`cordon: warning: ${printableLines(w)}\n`)));
    if (n > 0) process.stderr.write(`cordon doctor: finished the after-run check of ${n} run${n === 1 ? '' : 's'} whose cordon was killed\n`);
  }
  const checks = probeLinux(helper, hostEnv(process.env));
  if (json) process.stdout.write(`${JSON.stringify({ version: 1, checks }, null, 2)}\n`);
  else {
    for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : 'MISSING'} ${c.name}: ${c.detail}${c.fix ? `\n        fix: ${c.fix}` : ''}\n`);
  }
  // User notification is only needed for Unix socket grants: it does not make the machine unusable.
  return checks.every((c) => c.ok || c.name === 'Unix socket grants') ? 0 : 1;
}
