/** `cordon doctor`: what this machine supports and what is missing, with the fix. */
import { helperPath } from '../platform/linux/helper-path.js';
import { probeLinux } from '../platform/linux/probe.js';

export function printDoctor(json: boolean): number {
  if (process.platform !== 'linux') {
    process.stdout.write(`cordon doctor: ${process.platform} is not supported by this version (Linux only)\n`);
    return 1;
  }
  let helper: string | undefined;
  try { helper = helperPath(); } catch { helper = undefined; }
  const checks = probeLinux(helper);
  if (json) process.stdout.write(`${JSON.stringify({ version: 1, checks }, null, 2)}\n`);
  else {
    for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : 'MISSING'} ${c.name}: ${c.detail}${c.fix ? `\n        fix: ${c.fix}` : ''}\n`);
  }
  // Landlock is only needed for no-delete rules, and user notification only
  // for Unix socket grants: neither makes the machine unusable.
  return checks.every((c) => c.ok || c.name === 'Landlock' || c.name === 'Unix socket grants') ? 0 : 1;
}
