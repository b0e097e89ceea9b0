// Runs one command through cordon's library path (compile → launchLinux from
// dist/, cordon's built-in defaults, the working directory writable), with or
// without the filesystem-refusal monitor: `node launch-cordon.mjs report|quiet -- CMD...`.
// The command's stdout passes through; the number of refusals goes to stderr.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { compile } = await import(join(ROOT, 'dist/src/compile.js'));
const { launchLinux } = await import(join(ROOT, 'dist/src/platform/linux/launch.js'));
const { refusalMonitor } = await import(join(ROOT, 'dist/src/platform/linux/violations.js'));
const { compileSeccompFilter, hostSeccompArch } = await import(join(ROOT, 'dist/src/platform/linux/seccomp.js'));

const [mode, dashes, ...cmd] = process.argv.slice(2);
if (!['report', 'quiet'].includes(mode) || dashes !== '--' || cmd.length === 0) {
  console.error('usage: launch-cordon.mjs report|quiet -- CMD [ARGS...]');
  process.exit(2);
}
const none = { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] };
const c = await compile({ cwd: process.cwd(), home: process.env.HOME ?? '/root', env: process.env, settingsFiles: [], ignoreUserSettings: true, ignoreProjectSettings: true, rules: none, command: cmd });
let refused = 0;
const monitor = mode === 'report' ? refusalMonitor(c.policy, c.plan, () => { refused++; }) : undefined;
// Older plans left bubblewrap and the seccomp program to the caller.
const legacy = c.plan.bwrap === undefined ? { bwrap: c.bwrap, seccomp: compileSeccompFilter(hostSeccompArch(), c.plan.seccomp) } : {};
const r = await launchLinux(c.plan, { ...legacy, env: process.env, ...(monitor ? { refusals: monitor } : {}) });
if (monitor) process.stderr.write(`refusals: ${refused} ${JSON.stringify(await monitor.done())}\n`);
process.exit(r.exitCode);
