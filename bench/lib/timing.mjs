// Runs a command once and measures its wall time from spawn to exit, as seen
// by the parent (process.hrtime.bigint around spawnSync). The spawn overhead of
// node itself is in every number alike, so it cancels out of the ratios.
import { spawnSync } from 'node:child_process';

/**
 * tool: { argv: [file, ...args], cwd, env?, captureStdout? }
 * Returns { ok, ms, status, signal, stderr, stdout, error }.
 */
export function timeOnce(tool, { timeoutMs = 30_000 } = {}) {
  const [file, ...args] = tool.argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(file, args, {
    cwd: tool.cwd,
    env: tool.env ?? process.env,
    stdio: ['ignore', tool.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  const ok = !r.error && r.status === 0;
  return {
    ok,
    ms: elapsed,
    status: r.status,
    signal: r.signal,
    stderr: r.stderr ?? '',
    stdout: r.stdout ?? '',
    error: r.error ? r.error.message : undefined,
  };
}

/** One line saying how a run failed, for the report. */
export function describeFailure(r) {
  if (r.error?.includes('ETIMEDOUT')) return `timed out, killed with SIGTERM`;
  if (r.error) return r.error;
  if (r.signal) return `killed by ${r.signal}`;
  return `exit status ${r.status}`;
}

/**
 * Runs every tool `runs` times, round-robin (one run of each per round, the
 * starting tool rotating each round) so that drift in machine load spreads
 * over all tools instead of landing on whichever ran last. Each tool gets
 * `warmup` uncounted runs first; a tool that fails once is reported FAILED,
 * its first stderr kept, and dropped from later rounds.
 *
 * A tool with `inner(stdout)` (and captureStdout) also reports a time of its
 * own on stdout each run, kept in `inner` as `samples` keeps the wall times.
 *
 * Returns Map(tool.id -> { status: 'ok'|'FAILED'|'MISSING', samples, inner, failure, stderr, stdout }).
 */
export function runRoundRobin(tools, { runs, warmup = 1, timeoutMs, onFailure = () => {}, onProgress = () => {} }) {
  const res = new Map();
  for (const t of tools) {
    res.set(t.id, t.missing
      ? { status: 'MISSING', samples: [], inner: [], failure: t.missing, stderr: '', stdout: '' }
      : { status: 'ok', samples: [], inner: [], failure: undefined, stderr: '', stdout: '' });
  }
  const record = (t, r, counted) => {
    const e = res.get(t.id);
    if (!r.ok) {
      e.status = 'FAILED';
      e.failure = describeFailure(r);
      e.stderr = r.stderr;
      onFailure(t, e);
      return;
    }
    if (counted) e.samples.push(r.ms);
    if (counted && t.inner) e.inner.push(t.inner(r.stdout));
    if (!e.stdout) e.stdout = r.stdout;
  };
  const live = () => tools.filter((t) => res.get(t.id).status === 'ok');
  for (let w = 0; w < warmup; w++) for (const t of live()) record(t, timeOnce(t, { timeoutMs }), false);
  for (let i = 0; i < runs; i++) {
    const ts = live();
    for (let k = 0; k < ts.length; k++) record(ts[(i + k) % ts.length], timeOnce(ts[(i + k) % ts.length], { timeoutMs }), true);
    onProgress(i + 1, runs);
  }
  return res;
}
