/**
 * The plan is what runs: what `cordon explain --json` prints is exactly what
 * a run hands bubblewrap and the helper. A stand-in for bubblewrap
 * (CORDON_BWRAP) records what the real launcher gives it (its argv, the
 * options on fd 3, the helper's options on fd 8, the seccomp program on
 * fd 5, the environment), says the walls are up and exits; the test compares
 * each with explain's plan for the same command and settings, for policies
 * that change each part (mounts the helper or bubblewrap makes, read
 * denies, read-only and no-delete rules).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cordon, makeWorld, type World } from '../../helpers/cordon.js';

const T = { timeout: 60_000 };

/** bubblewrap's stand-in: records, waits for the release like bubblewrap (block fd), answers ready, exits 0. */
function recorder(w: World): { bwrap: string; out: string } {
  const out = join(w.root, 'recorded');
  mkdirSync(out);
  const bwrap = join(w.root, 'bwrap-recorder');
  writeFileSync(bwrap, [
    '#!/bin/bash',
    `out='${out}'`,
    'printf "%s\\0" "$0" "$@" > "$out/argv"',
    'cat <&3 > "$out/bwrap-options"',
    'printf \'{"child-pid": %d}\' $$ >&4',
    'cat <&7 > /dev/null',
    'cat <&8 > "$out/helper-options"',
    'cat <&5 > "$out/seccomp"',
    'env -0 > "$out/env"',
    'printf 1 >&6',
    'exit 0',
    '',
  ].join('\n'));
  chmodSync(bwrap, 0o755);
  return { bwrap, out };
}

const nulList = (b: Buffer) => b.toString('utf8').split('\0').slice(0, -1);

interface Plan { bwrap: string; bwrapArgs: string[]; helperArgs: string[]; env: Record<string, string>; seccomp: { program: string }; landlock: { applied: boolean; rules: { path: string; access: string }[] }; mounts: { kind: string; byHelper?: boolean }[] }

function check(flags: string[], assertPlan: (plan: Plan) => void = () => {}, extraEnv: NodeJS.ProcessEnv = {}): void {
  const w = makeWorld();
  const rec = recorder(w);
  const env = { ...extraEnv, CORDON_BWRAP: rec.bwrap };
  const cmd = ['--', 'sh', '-c', 'echo hi'];
  const explained = cordon(w, ['explain', '--json', ...flags, ...cmd], { env });
  assert.equal(explained.status, 0, explained.stderr);
  const doc = JSON.parse(explained.stdout) as { version: number; facts: { bwrap: string }; plan: Plan };
  const plan = doc.plan;
  assertPlan(plan);
  const ran = cordon(w, [...flags, ...cmd], { env });
  assert.equal(ran.status, 0, ran.stderr);
  // bubblewrap itself, and how it is started: its options on fd 3, the helper told to read its own on fd 8.
  assert.equal(plan.bwrap, rec.bwrap);
  assert.equal(doc.facts.bwrap, rec.bwrap);
  assert.deepEqual(nulList(readFileSync(join(rec.out, 'argv'))), [rec.bwrap, '--args', '3', '--', plan.helperArgs[0], plan.helperArgs[1], '--args-fd', '8']);
  assert.deepEqual(nulList(readFileSync(join(rec.out, 'bwrap-options'))), plan.bwrapArgs);
  // The plan's helper options, exactly; before them at most the refusal report's (violations.ts), which only listens.
  const helperOptions = nulList(readFileSync(join(rec.out, 'helper-options')));
  const report = helperOptions.length - (plan.helperArgs.length - 2);
  assert.deepEqual(helperOptions.slice(report), plan.helperArgs.slice(2));
  // Those are --report-* options and their values, nothing else.
  if (report > 0) assert.equal(helperOptions[0], '--report-fd');
  for (const o of helperOptions.slice(0, report)) assert.ok(o.startsWith('--report-') || !o.startsWith('--'), helperOptions.join(' '));
  assert.ok(readFileSync(join(rec.out, 'seccomp')).equals(Buffer.from(plan.seccomp.program, 'base64')), 'the seccomp program, byte for byte');
  const got = new Map(nulList(readFileSync(join(rec.out, 'env'))).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  for (const [k, v] of Object.entries(plan.env)) assert.equal(got.get(k), v, k);
}

describe('cordon explain --json is what a run launches', () => {
  it('a plain run in a project', T, () => check([], (plan) => {
    assert.ok(plan.landlock.applied);
    assert.ok(plan.mounts.length > 0);
  }));

  it('read denies, a re-opened path, a read-only path, a no-delete path', T, () => {
    check(['--deny-read', '~/.bashrc', '--no-delete', '.', '--read-only', 'src'], (plan) => {
      assert.ok(plan.landlock.rules.some((r) => r.access === 'rwnd'), JSON.stringify(plan.landlock));
      assert.ok(plan.mounts.some((m) => m.kind === 'hide-file'));
    });
  });

  it('the helper\'s mounts by default; every mount made by bubblewrap with CORDON_BWRAP_MOUNTS=1', T, () => {
    check([], (plan) => assert.ok(plan.mounts.some((m) => m.byHelper), 'the helper mounts by default'));
    check([], (plan) => assert.ok(!plan.mounts.some((m) => m.byHelper), 'bubblewrap makes every mount'), { CORDON_BWRAP_MOUNTS: '1' });
  });
});
