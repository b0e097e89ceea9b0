#!/usr/bin/env node
// Coverage-guided fuzzing of the relay's parsers (native/test/fuzz-relay.c:
// native/http1.h and native/relay-lines.h) with libFuzzer, AddressSanitizer
// and UndefinedBehaviorSanitizer, for a bounded time. It starts from the
// regression corpus in native/test/corpus/relay (every input there runs
// first, so a past finding stays fixed); new inputs go to a temporary
// directory, not into the repository. A crash, a leak, undefined behaviour or
// a hang fails the run and leaves the input in the printed path.
//
//   node scripts/fuzz.mjs [--seconds N]      (default 30; the test suite runs it)
//
// Needs clang (Debian: apt-get install -y clang).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let seconds = 30;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--seconds' && /^\d+$/.test(args[i + 1] ?? '')) seconds = Number(args[++i]);
  else {
    process.stderr.write(`fuzz.mjs: unknown option ${args[i]} (--seconds N)\n`);
    process.exit(2);
  }
}
const clang = process.env.CORDON_FUZZ_CC || 'clang';
const work = mkdtempSync(join(tmpdir(), 'cordon-fuzz-'));
let keep = false;
try {
  const bin = join(work, 'fuzz-relay');
  const build = spawnSync(clang, ['-g', '-O1', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=undefined', '-I', join(root, 'native', 'build'), '-o', bin, join(root, 'native', 'test', 'fuzz-relay.c')], { stdio: 'inherit' });
  if (build.error || build.status !== 0) {
    process.stderr.write(`fuzz.mjs: cannot build the fuzz target with ${clang} (${build.error?.message ?? `exit ${build.status}`}); install clang (Debian: apt-get install -y clang), and build cordon first (node scripts/build-native.mjs writes native/build/cordon-protocol.h)\n`);
    process.exit(1);
  }
  const corpus = join(work, 'corpus');
  mkdirSync(corpus);
  const run = spawnSync(bin, [`-max_total_time=${seconds}`, '-timeout=5', '-rss_limit_mb=2048', '-print_final_stats=1', `-artifact_prefix=${work}/`, corpus, join(root, 'native', 'test', 'corpus', 'relay')], {
    stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' },
  });
  const out = run.stderr ?? '';
  const stats = out.split('\n').filter((l) => /^(stat::number_of_executed_units|stat::new_units_added|#\d+\s+DONE)/.test(l));
  if (run.status !== 0) {
    keep = true;
    process.stderr.write(`${out}\nfuzz.mjs: the fuzz target failed (exit ${run.status ?? run.signal}); the input is in ${work}\n`);
    process.exit(1);
  }
  process.stdout.write(`fuzz.mjs: ${seconds} s of fuzzing the relay's parsers found nothing\n${stats.join('\n')}\n`);
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
}
