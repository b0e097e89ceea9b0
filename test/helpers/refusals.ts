/**
 * Runs one command through cordon's library path (compile → launchLinux)
 * with the filesystem-refusal monitor (violations.ts) and prints, as the
 * last line of stdout, what it reported: `{ exitCode, events, stats }`.
 * The command's stdout and stderr go to stderr. Run as a program (so a test
 * can run it as the unprivileged user too):
 *   node refusals.js [--no-delete PATH]... [--allow-write PATH]... [--allow-read PATH]... -- CMD...
 */
import { compile } from '../../src/compile.js';
import { launchLinux } from '../../src/platform/linux/launch.js';
import { refusalMonitor, type FsRefusal } from '../../src/platform/linux/violations.js';

const argv = process.argv.slice(2);
const rules = { denyRead: [] as string[], allowRead: [] as string[], allowWrite: [] as string[], denyWrite: [] as string[], allowWriteNoDelete: [] as string[] };
let i = 0;
for (; i < argv.length && argv[i] !== '--'; i += 2) {
  const key = ({ '--no-delete': 'allowWriteNoDelete', '--allow-write': 'allowWrite', '--allow-read': 'allowRead', '--read-only': 'denyWrite' } as const)[argv[i] as '--no-delete'];
  if (!key || argv[i + 1] === undefined) throw new Error(`usage: refusals.js [--no-delete|--allow-write|--allow-read|--read-only PATH]... -- CMD...`);
  rules[key].push(argv[i + 1]!);
}
const command = argv.slice(i + 1);
const compiled = await compile({ cwd: process.cwd(), home: process.env.HOME!, env: process.env, settingsFiles: [], ignoreUserSettings: true, ignoreProjectSettings: true, rules, command });
const events: FsRefusal[] = [];
const monitor = refusalMonitor(compiled.policy, compiled.plan, (e) => events.push(e));
const r = await launchLinux(compiled.plan, { env: process.env, stdio: ['ignore', 2, 'inherit'], refusals: monitor });
process.stdout.write(`${JSON.stringify({ exitCode: r.exitCode, events, stats: await monitor.done() })}\n`);
