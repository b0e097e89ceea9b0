// What reporting filesystem refusals costs ordinary file access: one
// file-heavy workload (lib/fs-workload.mjs: create, read, stat, rewrite,
// rename and delete N files, then `git status` on a committed repository)
// run inside bare bubblewrap, srt, cordon without the refusal monitor and
// cordon with it, round-robin. The workload times itself, so sandbox start
// is not counted. Prints medians per phase and the ratios; exits 0 (it
// reports, it does not test). See bench/README.md.
//
//   node bench/violations.mjs [--runs N] [--files N] [--json]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forEachFlag, intArg } from './lib/args.mjs';
import { writeSrtSettings } from './lib/settings.mjs';
import { summarize } from './lib/stats.mjs';
import { formatTable, ms, ratio } from './lib/table.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const WORK = join(process.env.CORDON_BENCH_WORK ?? '/var/tmp/cordon-bench', 'violations');
const SRT_BIN = join(ROOT, 'node_modules', '.bin', 'srt');
const WORKLOAD = join(ROOT, 'bench', 'lib', 'fs-workload.mjs');
const LAUNCH = join(ROOT, 'bench', 'lib', 'launch-cordon.mjs');

let runs = 7;
let files = 2000;
let json = false;
const fail = (m) => { console.error(`violations.mjs: ${m}`); process.exit(2); };
forEachFlag(process.argv.slice(2), (name, value) => {
  if (name === '--runs') runs = intArg(name, value(), 1, fail);
  else if (name === '--files') files = intArg(name, value(), 1, fail);
  else if (name === '--json') json = true;
  else fail(`unknown flag ${name}`);
});

// A committed repository of 2000 small files in 40 directories: the working directory of every run.
const repo = join(WORK, 'repo');
if (!existsSync(join(repo, '.git'))) {
  rmSync(repo, { recursive: true, force: true });
  for (let d = 0; d < 40; d++) {
    mkdirSync(join(repo, `d${d}`), { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(repo, `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
  }
  const git = (...a) => spawnSync('git', ['-c', 'user.email=b@example.invalid', '-c', 'user.name=b', ...a], { cwd: repo, stdio: 'ignore' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'bench');
}
const settings = writeSrtSettings(join(WORK, 'srt-settings.json'));
const node = process.execPath;
const inner = [node, WORKLOAD, String(files)];
const bwrap = spawnSync('sh', ['-c', 'command -v bwrap'], { encoding: 'utf8' }).stdout.trim();
const tools = [
  { id: 'bwrap', label: 'bare bwrap', argv: [bwrap || 'bwrap', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--bind', repo, repo, '--unshare-all', '--die-with-parent', '--new-session', '--', ...inner], missing: bwrap ? undefined : 'bwrap not on PATH' },
  { id: 'srt', label: 'srt', argv: [SRT_BIN, '--settings', settings, '-c', inner.map((a) => `'${a}'`).join(' ')], missing: existsSync(SRT_BIN) ? undefined : `${SRT_BIN} missing (npm install)` },
  { id: 'quiet', label: 'cordon, no reports', argv: [node, LAUNCH, 'quiet', '--', ...inner] },
  { id: 'report', label: 'cordon, reports', argv: [node, LAUNCH, 'report', '--', ...inner] },
];

const samples = new Map(tools.map((t) => [t.id, []]));
const failed = new Map();
for (let round = 0; round < runs + 1; round++) {
  for (let k = 0; k < tools.length; k++) {
    const t = tools[(k + round) % tools.length];
    if (t.missing || failed.has(t.id)) continue;
    const r = spawnSync(t.argv[0], t.argv.slice(1), { cwd: repo, encoding: 'utf8', timeout: 300_000 });
    const line = r.stdout?.trim().split('\n').pop() ?? '';
    let phases;
    try { phases = JSON.parse(line); } catch { phases = undefined; }
    if (r.status !== 0 || !phases) { failed.set(t.id, `exit ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().slice(0, 400)}`); continue; }
    if (round > 0) samples.get(t.id).push(phases); // round 0 warms the caches
  }
}

const phases = ['create', 'read', 'stat', 'rewrite', 'rename', 'delete', 'git status'];
const med = (id, p) => { const s = samples.get(id); return s.length ? summarize(s.map((x) => (p === 'total' ? phases.reduce((a, q) => a + x[q], 0) : x[p]))).median : NaN; };
const result = {};
for (const p of [...phases, 'total']) result[p] = Object.fromEntries(tools.map((t) => [t.id, med(t.id, p)]));
if (json) {
  console.log(JSON.stringify({ files, runs, result, failed: Object.fromEntries(failed), samples: Object.fromEntries(samples) }, null, 2));
} else {
  console.log(`${files} files, ${runs} runs each (medians, ms; round-robin, one warm-up round); node ${process.version}, ${spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim()}`);
  for (const t of tools) if (t.missing || failed.has(t.id)) console.log(`${t.label}: ${t.missing ? `MISSING (${t.missing})` : `FAILED (${failed.get(t.id)})`}`);
  const rows = [...phases, 'total'].map((p) => {
    const r = result[p];
    return [p, ms(r.bwrap), ms(r.srt), ms(r.quiet), ms(r.report), ratio(r.report, r.quiet), ratio(r.report, r.bwrap), ratio(r.report, r.srt)];
  });
  console.log(formatTable(['phase', 'bare bwrap', 'srt', 'cordon', 'cordon+reports', 'reports ÷ cordon', 'reports ÷ bwrap', 'reports ÷ srt'], rows));
}
