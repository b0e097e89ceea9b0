#!/usr/bin/env node
// Library benchmark: cordon's createSandbox next to srt's SandboxManager, in
// one run, on the small tree (the tree root is the working directory; both
// get cordon's defaults in srt's format, lib/settings.mjs).
//
// cold: a fresh Node process that imports the library, sets it up, runs one
//   sandboxed `true` and tears down. Two times of each run: the library's
//   own (from before the import to after the tear-down, measured inside the
//   process: what embedding it costs a program that is already running) and
//   the process's wall time as the parent sees it, Node's own start and exit
//   included (round-robin with `node -e 0`, that floor).
// warm: in one process, after a first command, the time of each further
//   sandboxed `true` (cordon: exec(); srt: wrapWithSandbox() + spawning its
//   shell command + cleanupAfterCommand(), as srt's own CLI does).
//
// Budgets (issue #10): cold ≤ 1/3 of srt's (judged on the library's own
// time; the whole process's is printed beside it), warm ≤ 1/5 of srt's. The
// script reports; it does not test (exit 0).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTree, TREE_SPECS } from './lib/trees.mjs';
import { CORDON_DEFAULTS_AS_SRT } from './lib/settings.mjs';
import { runRoundRobin } from './lib/timing.mjs';
import { summarize } from './lib/stats.mjs';
import { formatTable, ms, ratio } from './lib/table.mjs';
import { forEachFlag, intArg } from './lib/args.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = process.env.CORDON_BENCH_WORK || '/var/tmp/cordon-bench';
const opts = { runs: 15, warm: 30 };
forEachFlag(process.argv.slice(2), (name, value) => {
  if (name === '--runs') opts.runs = intArg(name, value(), 1, fail);
  else if (name === '--warm') opts.warm = intArg(name, value(), 1, fail);
  else fail(`unknown option ${name} (--runs N, --warm N)`);
});
function fail(m) {
  process.stderr.write(`bench/library.mjs: ${m}\n`);
  process.exit(2);
}

const tree = ensureTree(WORK, TREE_SPECS.small, {});
const cwd = tree.path;
const config = JSON.stringify(CORDON_DEFAULTS_AS_SRT);
// What `import 'cordon'` loads (package.json exports).
const cordonLib = JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'));
const srtLib = JSON.stringify(join(ROOT, 'node_modules', '@anthropic-ai', 'sandbox-runtime', 'dist', 'index.js'));

// One sandboxed `true` in a fresh process; with WARM=N, N more and their times on stdout (JSON).
const cordonScript = `
const t0 = performance.now();
const { createSandbox } = await import(${cordonLib});
const warm = Number(process.env.WARM || 0);
const sb = await createSandbox({ cwd: process.cwd(), settings: ${config} });
const r = await sb.exec('true');
if (r.exitCode !== 0) throw new Error('cordon: true exited ' + r.exitCode + ': ' + r.stderr);
const times = [];
for (let i = 0; i < warm; i++) { const t = process.hrtime.bigint(); await sb.exec('true'); times.push(Number(process.hrtime.bigint() - t) / 1e6); }
await sb.close();
process.stdout.write(JSON.stringify(warm ? times : performance.now() - t0));`;
const srtScript = `
const t0 = performance.now();
const { SandboxManager } = await import(${srtLib});
const { spawn } = await import('node:child_process');
const warm = Number(process.env.WARM || 0);
await SandboxManager.initialize(${config});
const run = async () => {
  const cmd = await SandboxManager.wrapWithSandbox('true');
  const code = await new Promise((resolve) => spawn(cmd, { shell: true, stdio: 'ignore' }).on('exit', resolve));
  SandboxManager.cleanupAfterCommand();
  if (code !== 0) throw new Error('srt: true exited ' + code);
};
await run();
const times = [];
for (let i = 0; i < warm; i++) { const t = process.hrtime.bigint(); await run(); times.push(Number(process.hrtime.bigint() - t) / 1e6); }
await SandboxManager.reset();
process.stdout.write(JSON.stringify(warm ? times : performance.now() - t0));`;

const node = (script) => ({ argv: [process.execPath, '--input-type=module', '-e', script], cwd, captureStdout: true, inner: (out) => Number(JSON.parse(out)) });
const tools = [
  { id: 'node -e 0', argv: [process.execPath, '-e', '0'], cwd },
  { id: 'srt SandboxManager', ...node(srtScript) },
  { id: 'cordon createSandbox', ...node(cordonScript) },
];
process.stdout.write(`cordon library bench: ${cwd}, ${opts.runs} cold runs round-robin, ${opts.warm} warm commands\n`);
const cold = runRoundRobin(tools, { runs: opts.runs, onFailure: (t, r) => process.stderr.write(`${t.id}: ${r.stderr || r.error}\n`) });
const stat = (id) => summarize(cold.get(id)?.samples ?? []);
const own = (id) => summarize(cold.get(id)?.inner ?? []);
const srtCold = stat('srt SandboxManager').median;
const srtOwn = own('srt SandboxManager').median;
const rows = tools.map((t) => {
  const s = stat(t.id);
  const o = own(t.id);
  return [t.id, cold.get(t.id).status, String(s.n), t.inner ? ms(o.median) : '–', t.inner ? ratio(o.median, srtOwn) : '–', ms(s.median), ms(s.p10), ms(s.p90), ratio(s.median, srtCold)];
});
process.stdout.write(`\ncold: import, set up, one sandboxed true, tear down (a fresh process); the library's own time, then the process's\n${formatTable(['tool', 'status', 'runs', 'own ms', '÷ srt', 'process ms', 'p10', 'p90', '÷ srt'], rows)}\n`);

const warmOf = (script) => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, env: { ...process.env, WARM: String(opts.warm) }, encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    return summarize([]);
  }
  return summarize(JSON.parse(r.stdout));
};
const srtWarm = warmOf(srtScript);
const cordonWarm = warmOf(cordonScript);
process.stdout.write(`\nwarm: each further sandboxed true on a set-up handle\n${formatTable(['tool', 'commands', 'median ms', 'p10', 'p90', '÷ srt'], [
  ['srt SandboxManager', String(srtWarm.n), ms(srtWarm.median), ms(srtWarm.p10), ms(srtWarm.p90), ratio(srtWarm.median, srtWarm.median)],
  ['cordon createSandbox', String(cordonWarm.n), ms(cordonWarm.median), ms(cordonWarm.p10), ms(cordonWarm.p90), ratio(cordonWarm.median, srtWarm.median)],
])}\n`);
const verdict = (a, b, limit) => (Number.isFinite(a) && Number.isFinite(b) ? (a <= b * limit ? 'PASS' : 'FAIL') : 'UNKNOWN');
process.stdout.write(`\nbudget cold: cordon ≤ 1/3 srt — ${verdict(own('cordon createSandbox').median, srtOwn, 1 / 3)} (the library's own time; the whole process, Node's start and exit included: ${verdict(stat('cordon createSandbox').median, srtCold, 1 / 3)})\n`);
process.stdout.write(`budget warm: cordon ≤ 1/5 srt — ${verdict(cordonWarm.median, srtWarm.median, 1 / 5)}\n`);
