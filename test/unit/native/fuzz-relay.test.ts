/**
 * The relay's parsers (native/http1.h, native/relay-lines.h) under
 * coverage-guided fuzzing: scripts/fuzz.mjs builds native/test/fuzz-relay.c
 * with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, replays
 * the regression corpus (native/test/corpus/relay) and fuzzes for a bounded
 * time. Any crash, leak, undefined behaviour, hang or broken invariant fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../helpers/cordon.js';

test('the relay\'s parsers: the regression corpus and 30 s of libFuzzer with ASan and UBSan find nothing', { timeout: 180_000 }, () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'fuzz.mjs'), '--seconds', '30'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr.slice(-4000)}`);
  assert.match(r.stdout, /stat::number_of_executed_units:\s+\d{5,}/, 'the target ran many inputs');
});
