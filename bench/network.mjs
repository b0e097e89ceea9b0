#!/usr/bin/env node
// Network throughput benchmark: cordon's filtered network mode next to srt and
// next to no sandbox at all ("direct"), in one run, against the test world
// (test/world: hosts in their own network namespaces, names through a private
// /etc/hosts). Traffic goes only to loopback and the world's namespaces.
// It reports; it is not a test: it exits 0 even when a budget fails.
//
//   node bench/network.mjs [--runs N] [--warmup N] [--scenarios LIST]
//                          [--download-mib N] [--upload-mib N] [--requests N]
//                          [--timeout S] [--json]
// See bench/README.md ("network.mjs").
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpus } from 'node:os';
import { spawnSync } from 'node:child_process';
import { summarize } from './lib/stats.mjs';
import { forEachFlag, intArg } from './lib/args.mjs';
import { formatTable, ratio } from './lib/table.mjs';
import { CORDON_DEFAULTS_AS_SRT } from './lib/settings.mjs';
import { findInTree, sampleMemory } from './lib/procmem.mjs';
import { shellJoin } from './lib/shell.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// Outside the package (see startup.mjs).
const WORK = join(process.env.CORDON_BENCH_WORK || '/var/tmp/cordon-bench', 'network');
const DEFAULT_CORDON_BIN = join(ROOT, 'bin', 'cordon.cjs');
const SRT_BIN = join(ROOT, 'node_modules', '.bin', 'srt');
const WORLD_JS = join(ROOT, 'dist', 'test', 'world', 'world.js');
const MiB = 1024 * 1024;
const MEMORY_BUDGET_MIB = 150;

const SCENARIOS = ['http', 'https', 'upload', 'small', 'tls', 'tls-small', 'mint'];
/** The tools each scenario runs, and the one its "÷ srt" column divides by. */
const PLAIN = { tools: ['direct', 'cordon', 'srt'], srt: 'srt' };
const TERMINATED = { tools: ['direct', 'cordon-tls', 'srt-tls', 'cordon'], srt: 'srt-tls' };

const USAGE = `usage: node bench/network.mjs [options]
  --runs N           timed runs per tool and scenario (default 3; the median is reported)
  --warmup N         uncounted rounds first (default 1)
  --scenarios LIST   comma-separated subset of ${SCENARIOS.join(',')} (default: all)
  --download-mib N   download size for http/https (default 256)
  --upload-mib N     upload size (default 64)
  --requests N       small requests per run (default 500; http and, through TLS termination, https)
  --timeout S        seconds before a run is killed and marked FAILED (default 120)
  --cordon FILE      the cordon CLI to run (default bin/cordon.cjs), e.g. another build to compare
  --json             print machine-readable results on stdout (progress on stderr)
`;

function parseArgs(argv) {
  const o = { runs: 3, warmup: 1, scenarios: SCENARIOS, downloadMiB: 256, uploadMiB: 64, requests: 500, timeoutMs: 120_000, json: false, cordon: DEFAULT_CORDON_BIN };
  const count = (name, v, min) => intArg(name, v, min, fail);
  forEachFlag(argv, (flag, value, a) => {
    switch (flag) {
      case '--runs': o.runs = count(flag, value(), 1); break;
      case '--warmup': o.warmup = count(flag, value(), 0); break;
      case '--download-mib': o.downloadMiB = count(flag, value(), 1); break;
      case '--upload-mib': o.uploadMiB = count(flag, value(), 1); break;
      case '--requests': o.requests = count(flag, value(), 1); break;
      case '--timeout': o.timeoutMs = count(flag, value(), 1) * 1000; break;
      case '--scenarios': {
        o.scenarios = String(value() ?? '').split(',').filter(Boolean);
        const bad = o.scenarios.filter((s) => !SCENARIOS.includes(s));
        if (bad.length || !o.scenarios.length) fail(`--scenarios expects names from ${SCENARIOS.join(',')}, got ${JSON.stringify(bad.join(','))}`);
        break;
      }
      case '--cordon': o.cordon = resolve(String(value() ?? '')); break;
      case '--json': o.json = true; break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
      default: fail(`unknown option ${JSON.stringify(a)}`);
    }
  });
  return o;
}

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

const log = (msg) => process.stderr.write(`${msg}\n`);
const pkgVersion = (dir) => { try { return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version; } catch { return null; } };

/** The caller's environment without any proxy variable: "direct" must not use one by accident. */
function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(https?|all|no|ftp|grpc)_proxy$/i.test(k)) delete env[k];
  return env;
}

// ---- scenarios: the curl command (the same for every tool) and its parser ----

// Each transfer prints one line: "<http_code> <bytes> <time_total>".
// Throughput is bytes / curl's own time_total, so sandbox start-up is in no number.
// HTTPS clients find their CAs in CURL_CA_BUNDLE: the world's CA for direct
// (and the tunnelled runs, whose sandboxes pass it on), the sandbox's own
// bundle where a tool terminates TLS (both cordon and srt set it).
function scenarios(world, o, uploadFile) {
  const api = world.host('api').fqdn;
  const smallRequests = (scheme) => (stdout) => {
    const lines = stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' '));
    const bad = lines.filter(([code, bytes]) => code !== '200' || bytes !== '100');
    if (lines.length !== o.requests || bad.length) return { error: `${lines.length} ${scheme} responses, ${bad.length} not "200, 100 bytes"` };
    const seconds = lines.reduce((s, [, , t]) => s + Number(t), 0);
    return { bytes: 100 * lines.length, seconds, value: lines.length / seconds };
  };
  // Names of the one host that no run has used yet: each gets its first leaf in the mint scenario.
  const h = world.host('api');
  const fresh = [h.fqdn4, h.www];
  const w = (what) => ['-w', `%{http_code} %{${what}} %{time_total}\\n`];
  const dlBytes = o.downloadMiB * MiB;
  const oneTransfer = (expectBytes) => (stdout) => {
    const [code, bytes, t] = stdout.trim().split('\n').at(-1).split(' ');
    if (code !== '200') return { error: `HTTP ${code}` };
    if (Number(bytes) !== expectBytes) return { error: `${bytes} bytes, expected ${expectBytes}` };
    return { bytes: Number(bytes), seconds: Number(t), value: Number(bytes) / Number(t) / 1e6 };
  };
  const list = {
    http: { label: `HTTP download ${o.downloadMiB} MiB`, unit: 'MB/s', ...PLAIN,
      argv: ['curl', '-sS', '-o', '/dev/null', ...w('size_download'), `http://${api}/bytes/${dlBytes}`], parse: oneTransfer(dlBytes) },
    https: { label: `HTTPS download ${o.downloadMiB} MiB (CONNECT)`, unit: 'MB/s', ...PLAIN,
      argv: ['curl', '-sS', '-o', '/dev/null', ...w('size_download'), `https://${api}/bytes/${dlBytes}`], parse: oneTransfer(dlBytes) },
    tls: { label: `HTTPS download ${o.downloadMiB} MiB, TLS terminated (cordon: tunnelled too)`, unit: 'MB/s', ...TERMINATED,
      argv: ['curl', '-sS', '-o', '/dev/null', ...w('size_download'), `https://${api}/bytes/${dlBytes}`], parse: oneTransfer(dlBytes) },
    'tls-small': { label: `${o.requests} small HTTPS requests, TLS terminated (1 curl, sequential, keep-alive)`, unit: 'req/s', ...TERMINATED,
      argv: ['curl', '-sS', ...w('size_download'), ...Array.from({ length: o.requests }, (_, i) => ['-o', '/dev/null', `https://${api}/bytes/100?i=${i}`]).flat()],
      parse: smallRequests('https') },
    mint: { label: 'first request to a new name, TLS terminated: time to TLS established, first minus repeat (leaf minted)', unit: 'ms', ...TERMINATED, tools: ['cordon-tls', 'srt-tls'], lowerIsBetter: true,
      // Each name twice, each time a new connection: the first is answered with a leaf minted for it, the second with the one kept.
      argv: ['sh', '-c', fresh.map((n) => `for i in 1 2; do curl -sS -o /dev/null -w '%{time_appconnect}\\n' https://${n}/bytes/100; done`).join('; ')],
      parse: (stdout) => {
        const t = stdout.trim().split('\n').map(Number);
        if (t.length !== 2 * fresh.length || t.some((x) => !(x > 0))) return { error: `times ${JSON.stringify(t)}` };
        const extra = fresh.map((_, i) => (t[2 * i] - t[2 * i + 1]) * 1000);
        return { bytes: 0, seconds: 0, value: extra.reduce((a, b) => a + b, 0) / extra.length };
      } },
    upload: { label: `HTTP upload ${o.uploadMiB} MiB`, unit: 'MB/s', ...PLAIN,
      // `Expect:` off for all three, so no tool pays curl's 100-continue wait.
      argv: ['curl', '-sS', '-o', '/dev/null', '-H', 'Expect:', '--data-binary', `@${uploadFile}`, ...w('size_upload'), `http://${api}/upload`],
      parse: oneTransfer(o.uploadMiB * MiB) },
    small: { label: `${o.requests} small requests (1 curl, sequential, keep-alive)`, unit: 'req/s', ...PLAIN,
      // One curl, N URLs one after another over one kept-alive connection
      // (to the proxy, or to the server for direct); 100-byte bodies.
      argv: ['curl', '-sS', ...w('size_download'),
        ...Array.from({ length: o.requests }, (_, i) => ['-o', '/dev/null', `http://${api}/bytes/100?i=${i}`]).flat()],
      parse: smallRequests('http') },
  };
  return o.scenarios.map((id) => ({ id, ...list[id] }));
}

/** `tlsSettings`: the same settings with network.tlsTerminate (the world's CA as an extra CA), for the -tls tools. */
function tools(settingsFile, tlsSettings, cordonBin) {
  const node = process.execPath;
  const srtCli = existsSync(SRT_BIN) ? realpathSync(SRT_BIN) : null;
  const cordonName = cordonBin === DEFAULT_CORDON_BIN ? 'cordon' : `cordon (${cordonBin})`;
  const cordon = (id, label, file) => ({ id, label, main: cordonBin,
    missing: existsSync(cordonBin) ? undefined : `${cordonBin} missing (npm run build)`,
    wrap: (argv) => [node, cordonBin, '--ignore-user-settings', '--settings', file, '--', ...argv], helpers: ['cordon-relay'] });
  const srt = (id, label, file) => ({ id, label, main: srtCli,
    missing: srtCli ? undefined : `${SRT_BIN} missing (npm install --save-dev @anthropic-ai/sandbox-runtime@0.0.83)`,
    wrap: (argv) => [node, srtCli, '--settings', file, '-c', shellJoin(argv)], helpers: ['socat'] });
  return [
    { id: 'direct', label: 'direct (no sandbox)', wrap: (argv) => argv },
    cordon('cordon', cordonName, settingsFile),
    srt('srt', 'srt', settingsFile),
    cordon('cordon-tls', `${cordonName}, TLS terminated`, tlsSettings),
    srt('srt-tls', 'srt, TLS terminated (tlsTerminate)', tlsSettings),
  ];
}

// ---- one run -----------------------------------------------------------------

/** Runs argv in the world (its /etc/hosts), sampling the tool's main process memory. */
function runOnce(world, tool, argv, { timeoutMs, cwd, env }) {
  return new Promise((resolve) => {
    const c = world.spawn(tool.wrap(argv), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    c.stdout.on('data', (d) => out.push(d));
    c.stderr.on('data', (d) => err.push(d));
    let sampler = null;
    let finder = null;
    if (tool.main) {
      // world.spawn's child is `unshare`, which execs sh, which execs node: wait for that exec.
      finder = setInterval(() => {
        const pid = findInTree(c.pid, (a) => a.includes(tool.main));
        if (pid) {
          clearInterval(finder);
          finder = null;
          sampler = sampleMemory(pid, { helpers: tool.helpers });
        }
      }, 5);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    c.on('close', (status, signal) => {
      clearTimeout(timer);
      if (finder) clearInterval(finder);
      const peak = sampler?.stop() ?? null;
      resolve({ status, signal, timedOut, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), peak });
    });
  });
}

// ---- main ----------------------------------------------------------------------

const opts = parseArgs(process.argv.slice(2));
const report = { version: 1, mode: 'network', runs: opts.runs, warmup: opts.warmup, options: opts, env: {
  node: process.version, srt: pkgVersion(join(ROOT, 'node_modules', '@anthropic-ai', 'sandbox-runtime')), cordon: pkgVersion(ROOT),
  cordonBin: opts.cordon, curl: spawnSync('curl', ['--version'], { encoding: 'utf8' }).stdout?.split(' ').slice(0, 2).join(' ') || null, cpus: cpus().length } };

if (!existsSync(WORLD_JS)) {
  log(`bench: ${WORLD_JS} missing: build first (npx tsc -p tsconfig.json && npm run build)`);
  process.exit(0);
}
const { createWorld, worldSkipReason } = await import(pathToFileURL(WORLD_JS).href);
const skip = worldSkipReason();
if (skip) {
  log(`bench: cannot build the test world: ${skip}`);
  process.exit(0);
}

mkdirSync(WORK, { recursive: true });
let world;
try {
  world = await createWorld({ hosts: ['api'] });
} catch (e) {
  log(`bench: cannot build the test world: ${e?.message ?? e}`);
  process.exit(0);
}
try {
  const api = world.host('api').fqdn;
  // cordon's defaults in srt's format, with the one test host allowed; both tools read this file.
  // Writes only in the working directory: a writable /tmp makes both tools walk
  // the machine's /tmp at start-up, which is start-up cost, not network cost.
  const settingsFile = join(WORK, 'settings.json');
  const fs = { ...CORDON_DEFAULTS_AS_SRT.filesystem, allowWrite: ['.'] };
  const h = world.host('api');
  const allowedDomains = [api, h.fqdn4, h.www];
  writeFileSync(settingsFile, JSON.stringify({ network: { allowedDomains, deniedDomains: [] }, filesystem: fs }, null, 2) + '\n');
  // Both tools verify the world's servers with its CA: cordon by extraCaCertPaths, srt by NODE_EXTRA_CA_CERTS (in env below).
  const tlsSettings = join(WORK, 'settings-tls.json');
  writeFileSync(tlsSettings, JSON.stringify({ network: { allowedDomains, deniedDomains: [], tlsTerminate: { extraCaCertPaths: [world.caCert] } }, filesystem: fs }, null, 2) + '\n');
  // The upload body lives in the world's directory (/var/tmp, readable in both sandboxes; removed with the world).
  const uploadFile = join(world.dir, 'upload.bin');
  writeFileSync(uploadFile, Buffer.alloc(opts.uploadMiB * MiB, 'cordon-bench-upload\n'));
  const scen = scenarios(world, opts, uploadFile);
  const all = tools(settingsFile, tlsSettings, opts.cordon);
  const tl = all.filter((t) => scen.some((s) => s.tools.includes(t.id)));
  for (const t of tl) if (t.missing) log(`[${t.label}] skipped: ${t.missing}`);
  const live = tl.filter((t) => !t.missing);
  const env = { ...cleanEnv(), CURL_CA_BUNDLE: world.caCert, NODE_EXTRA_CA_CERTS: world.caCert };

  // results[scenario][tool] = { status, samples: [value], runs: [...], failure }
  const results = Object.fromEntries(scen.map((s) => [s.id, Object.fromEntries(tl.filter((t) => s.tools.includes(t.id)).map((t) => [t.id,
    { status: t.missing ? 'MISSING' : 'ok', failure: t.missing, samples: [], runs: [] }]))]));
  const rounds = opts.warmup + opts.runs;
  let k = 0;
  for (let round = 0; round < rounds; round++) {
    const counted = round >= opts.warmup;
    for (const s of scen) {
      // Rotate the starting tool each round, so load drift spreads over all tools.
      const here = live.filter((t) => s.tools.includes(t.id));
      const order = here.map((_, i) => here[(i + k) % here.length]);
      k++;
      for (const t of order) {
        const e = results[s.id][t.id];
        if (e.status !== 'ok') continue;
        log(`round ${round + 1}/${rounds}${counted ? '' : ' (warm-up)'}: ${s.id} via ${t.id}`);
        const r = await runOnce(world, t, s.argv, { timeoutMs: opts.timeoutMs, cwd: WORK, env });
        const parsed = r.status === 0 ? s.parse(r.stdout) : { error: r.timedOut ? `timed out after ${opts.timeoutMs / 1000} s` : `exit ${r.status ?? r.signal}` };
        if (parsed.error) {
          e.status = 'FAILED';
          e.failure = parsed.error;
          log(`[${t.label}] ${s.id} FAILED (${parsed.error}):\n    ${r.stderr.trim().split('\n').slice(0, 15).join('\n    ') || '(no stderr)'}`);
          continue;
        }
        const run = { counted, value: parsed.value, bytes: parsed.bytes, seconds: parsed.seconds,
          peakKiB: r.peak ? Math.max(r.peak.hwmKiB, r.peak.rssKiB) : null, helpersKiB: r.peak?.helpersKiB ?? null, memSamples: r.peak?.samples ?? 0 };
        e.runs.push(run);
        if (counted) e.samples.push(parsed.value);
      }
    }
  }

  // ---- summaries and budgets ----
  const med = (sid, tid) => { const e = results[sid]?.[tid]; return e?.status === 'ok' && e.samples.length ? summarize(e.samples).median : NaN; };
  const peakOf = (tid, sids = scen.map((s) => s.id)) => {
    const all = sids.flatMap((sid) => results[sid]?.[tid]?.runs ?? []).map((r) => r.peakKiB).filter((v) => v != null);
    return all.length ? Math.max(...all) / 1024 : NaN;
  };
  const budget = (id, text, got, limit, cmp) => {
    if (!Number.isFinite(got) || !Number.isFinite(limit)) return { id, text, verdict: 'UNKNOWN', got, limit };
    return { id, text, verdict: cmp(got, limit) ? 'PASS' : 'FAIL', got, limit };
  };
  const budgets = [];
  const has = (sid) => scen.some((s) => s.id === sid);
  if (has('http')) budgets.push(budget('http', 'HTTP download ≥ 3× srt', med('http', 'cordon'), 3 * med('http', 'srt'), (g, l) => g >= l));
  if (has('https')) budgets.push(budget('https', 'HTTPS (CONNECT) ≥ 0.8× direct', med('https', 'cordon'), 0.8 * med('https', 'direct'), (g, l) => g >= l));
  if (has('upload')) budgets.push(budget('upload', 'HTTP upload ≥ 3× srt', med('upload', 'cordon'), 3 * med('upload', 'srt'), (g, l) => g >= l));
  if (has('small')) budgets.push(budget('small', 'small-request rate ≥ 4× srt', med('small', 'cordon'), 4 * med('small', 'srt'), (g, l) => g >= l));
  if (has('tls')) {
    budgets.push(budget('tls-srt', 'HTTPS terminated ≥ 2× srt terminated', med('tls', 'cordon-tls'), 2 * med('tls', 'srt-tls'), (g, l) => g >= l));
    budgets.push(budget('tls-direct', 'HTTPS terminated ≥ 0.5× direct', med('tls', 'cordon-tls'), 0.5 * med('tls', 'direct'), (g, l) => g >= l));
  }
  if (has('tls-small')) budgets.push(budget('tls-small', 'small HTTPS terminated ≥ 4× srt terminated', med('tls-small', 'cordon-tls'), 4 * med('tls-small', 'srt-tls'), (g, l) => g >= l));
  if (has('mint')) budgets.push(budget('mint', 'minting adds < 10 ms to a first request', med('mint', 'cordon-tls'), 10, (g, l) => g < l));
  budgets.push(budget('memory', `cordon peak RSS < ${MEMORY_BUDGET_MIB} MiB`, peakOf('cordon'), MEMORY_BUDGET_MIB, (g, l) => g < l));

  report.scenarios = scen.map((s) => ({ id: s.id, label: s.label, unit: s.unit, argv: s.argv.length > 20 ? [...s.argv.slice(0, 12), `… (${s.argv.length} args)`] : s.argv,
    tools: Object.fromEntries(tl.filter((t) => s.tools.includes(t.id)).map((t) => { const e = results[s.id][t.id]; return [t.id, { ...e, ...(e.samples.length ? summarize(e.samples) : {}) }]; })) }));
  report.peakMiB = Object.fromEntries(tl.filter((t) => t.main).map((t) => [t.id, peakOf(t.id)]));
  report.budgets = budgets;

  if (opts.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    const f = (v) => (Number.isFinite(v) ? v.toFixed(0) : '-');
    const mib = (v) => (Number.isFinite(v) ? v.toFixed(1) : '-');
    console.log(`cordon network bench — ${opts.runs} runs (+${opts.warmup} warm-up round) per tool and scenario; median of curl's own time_total`);
    console.log(`node ${report.env.node}, ${report.env.curl}, srt ${report.env.srt ?? 'missing'}, ${report.env.cpus} CPUs; MB = 10^6 bytes; settings ${settingsFile}`);
    for (const s of scen) {
      const rows = tl.filter((t) => s.tools.includes(t.id)).map((t) => {
        const e = results[s.id][t.id];
        const sm = e.samples.length ? summarize(e.samples) : {};
        const pk = e.runs.map((r) => r.peakKiB).filter((v) => v != null);
        const hp = e.runs.map((r) => r.helpersKiB).filter((v) => v != null);
        const v = s.unit === 'ms' ? (x) => (Number.isFinite(x) ? x.toFixed(1) : '-') : f;
        return [t.label, e.status, sm.n ?? 0, v(sm.median), v(sm.min), v(sm.max),
          ratio(sm.median, med(s.id, s.srt)), ratio(sm.median, med(s.id, 'direct')),
          pk.length ? mib(Math.max(...pk) / 1024) : '-', hp.length ? mib(Math.max(...hp) / 1024) : '-'];
      });
      console.log(`\n== ${s.label}\n${formatTable(['tool', 'status', 'runs', `median ${s.unit}`, 'min', 'max', '÷ srt', '÷ direct', 'peak RSS MiB', 'helpers MiB'], rows)}`);
    }
    console.log('\nbudgets:');
    for (const b of budgets) {
      const detail = b.id === 'memory' ? `${mib(b.got)} MiB` : b.id === 'mint' ? `${b.got.toFixed(1)} ms` : `${f(b.got)} vs limit ${f(b.limit)}`;
      console.log(`  ${b.text.padEnd(44)} ${b.verdict} (${detail})`);
    }
    console.log('peak RSS = VmHWM of the tool\'s node process (the one holding the proxies), max over its runs;');
    console.log('helpers = summed RSS of its relay processes (cordon-relay / socat) at their peak.');
  }
} catch (e) {
  log(`bench: ${e?.stack ?? e}`);
} finally {
  await world.close();
}
process.exit(0); // it reports; it does not test
