/**
 * Platform facts: gathered from the environment the caller hands in (never
 * process.env), and the Landlock ABI asked of the kernel once per boot and
 * kernel, then read back from cordon's state directory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, uptime } from 'node:os';
import { join } from 'node:path';
import { gatherFacts, hostEnv, LANDLOCK_ABI_CACHE, probeLandlockAbi } from '../../../../src/platform/linux/probe.js';
import { tempDir } from '../../../helpers/tmp.js';
import { repoRoot } from '../../../helpers/native.js';

/** A stand-in for the helper's `landlock-abi` that answers `abi` and counts how often it was asked. */
function fakeHelper(dir: string, abi: number): { path: string; asked: () => number } {
  const path = join(dir, 'helper');
  const count = join(dir, 'asked');
  writeFileSync(count, '');
  writeFileSync(path, `#!/bin/sh\n[ "$1" = landlock-abi ] || exit 125\necho x >> '${count}'\necho ${abi}\n`);
  chmodSync(path, 0o755);
  return { path, asked: () => readFileSync(count, 'utf8').length / 2 };
}

test('the Landlock ABI is asked of the kernel once per boot and kernel release, then read back', () => {
  const state = tempDir(join(tmpdir(), 'cordon-facts-'));
  const h = fakeHelper(state, 5);
  assert.equal(probeLandlockAbi(h.path, state, '6.8.0'), 5);
  assert.equal(probeLandlockAbi(h.path, state, '6.8.0'), 5);
  assert.equal(h.asked(), 1, 'the second run reads the record');
  assert.match(readFileSync(join(state, LANDLOCK_ABI_CACHE), 'utf8'), /^\d+ 6\.8\.0 5\n$/);
  // Another kernel, or another boot (the boot time moved), is asked again.
  assert.equal(probeLandlockAbi(h.path, state, '6.9.0'), 5);
  assert.equal(h.asked(), 2);
  assert.equal(probeLandlockAbi(h.path, state, '6.9.0', Date.now() + 3600_000), 5);
  assert.equal(h.asked(), 3);
  // A record that does not parse is not believed.
  writeFileSync(join(state, LANDLOCK_ABI_CACHE), `${Math.round(Date.now() / 1000 - uptime())} 6.9.0 x\n`);
  assert.equal(probeLandlockAbi(h.path, state, '6.9.0'), 5);
  assert.equal(h.asked(), 4);
  // A helper that cannot answer means no Landlock (the plan then refuses, or runs best-effort if the user opted in).
  assert.equal(probeLandlockAbi(join(state, 'missing-helper'), tempDir(join(tmpdir(), 'cordon-facts-')), '6.9.0'), 0);
});

test('gatherFacts reads the environment it is given, not process.env', () => {
  const state = tempDir(join(tmpdir(), 'cordon-facts-'));
  const h = fakeHelper(state, 3);
  const saved = process.env.CORDON_BWRAP;
  process.env.CORDON_BWRAP = '/from/process/env';
  try {
    const f = gatherFacts({ HOME: '/h', XDG_CACHE_HOME: '/h/cache', CORDON_BWRAP: '/opt/bwrap', CORDON_BWRAP_MOUNTS: '1', SECRET_TOKEN: 'x' }, h.path, state);
    assert.equal(f.bwrap, '/opt/bwrap');
    assert.equal(f.helperMounts, false, 'CORDON_BWRAP_MOUNTS=1: bubblewrap makes every mount');
    assert.equal(f.landlockAbi, 3);
    assert.equal(f.stateDir, state);
    assert.deepEqual(f.env, { HOME: '/h', XDG_CACHE_HOME: '/h/cache', CORDON_BWRAP: '/opt/bwrap', CORDON_BWRAP_MOUNTS: '1' }, 'only what a plan reads');
    assert.equal(gatherFacts({}, h.path, state).bwrap, '/usr/bin/bwrap');
  } finally {
    if (saved === undefined) delete process.env.CORDON_BWRAP;
    else process.env.CORDON_BWRAP = saved;
  }
  assert.deepEqual(hostEnv({ PATH: '/bin', TMPDIR: '/t' }), { TMPDIR: '/t' });
});

test('only the entry points read process.env: everything below them is handed its environment', () => {
  const entries = new Set(['src/cli/main.ts', 'src/cli/early.ts', 'src/cli/doctor.ts', 'src/sandbox.ts', 'src/srt-compat.ts']);
  const readers: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (rel.endsWith('.ts')) {
        const code = readFileSync(join(repoRoot, rel), 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join('\n');
        if (/process\.env\b/.test(code) && !entries.has(rel)) readers.push(rel);
      }
    }
  };
  walk('src');
  assert.deepEqual(readers, []);
});
