/**
 * The kernel's Landlock ABI decides before launch, in TypeScript: cordon
 * plans for the ABI it probed (kept per boot in its state directory,
 * probe.ts), fails closed with CORDON_ERR_KERNEL_FEATURE when the rules
 * need more, and runs on the mounts alone only with the named opt-in. The
 * record of a kernel without Landlock stands in for such a kernel here: the
 * plan is made for what the record says (the helper would apply exactly
 * that), so the command must not run, and nothing may be left half made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { release, uptime } from 'node:os';
import { join } from 'node:path';
import { cordon, makeWorld, type World } from '../../helpers/cordon.js';

const T = { timeout: 60_000 };

/** Says, for this boot and kernel, that the kernel offers Landlock ABI `abi`. */
function recordAbi(w: World, abi: number): void {
  const state = join(w.home, '.local', 'state', 'cordon');
  assert.equal(cordon(w, ['--', 'true']).status, 0, 'a first run makes the state directory');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'landlock-abi'), `${Math.round(Date.now() / 1000 - uptime())} ${release()} ${abi}\n`);
}

test('no Landlock: cordon refuses before launch, names the cause and the opt-in; the opt-in runs on the mounts alone', T, () => {
  const w = makeWorld();
  recordAbi(w, 0);
  const refused = cordon(w, ['--debug', '--', 'sh', '-c', 'touch ran']);
  assert.equal(refused.status, 125, refused.stderr);
  assert.match(refused.stderr, /no Landlock.*--dangerously-allow-missing-landlock.*\[CORDON_ERR_KERNEL_FEATURE\]/s);
  assert.ok(!existsSync(join(w.proj, 'ran')), 'nothing ran');
  const explained = cordon(w, ['explain', '--json', '--dangerously-allow-missing-landlock']);
  assert.equal(explained.status, 0, explained.stderr);
  const plan = (JSON.parse(explained.stdout) as { plan: { landlock: { mode: string; applied: boolean }; helperArgs: string[] } }).plan;
  assert.deepEqual([plan.landlock.mode, plan.landlock.applied], ['best-effort', false]);
  assert.ok(!plan.helperArgs.some((a) => a.startsWith('--landlock')));
  const ran = cordon(w, ['--dangerously-allow-missing-landlock', '--', 'sh', '-c', 'touch ran; touch /etc/cordon-test 2>/dev/null || echo ro']);
  assert.equal(ran.status, 0, ran.stderr);
  assert.equal(ran.stdout, 'ro\n', 'the mounts still hold');
  assert.ok(existsSync(join(w.proj, 'ran')));
});

test('Landlock below ABI 3: no-delete paths are refused before launch, even with the opt-in', T, () => {
  const w = makeWorld();
  recordAbi(w, 2);
  for (const extra of [[], ['--dangerously-allow-missing-landlock']]) {
    const r = cordon(w, [...extra, '--debug', '--no-delete', '.', '--', 'sh', '-c', 'touch ran']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /Landlock ABI 2, and read-write-no-delete paths .* need ABI 3.*\[CORDON_ERR_KERNEL_FEATURE\]/s);
    assert.ok(!existsSync(join(w.proj, 'ran')));
  }
  // Read-write rules need ABI 1: planned with ABI 2's rights, and the run goes on.
  assert.equal(cordon(w, ['--', 'true']).status, 0);
});
