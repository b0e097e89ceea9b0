/**
 * A handle's commands start ahead as the CLI's runs do (platform/linux/ahead.ts):
 * from the second command like the first on, the scan before the run and
 * the sandbox process come from one process start (helper with-scan), made
 * before the command's policy is compiled, and the command runs in it with
 * the same walls and its own pipes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorld, ROOT } from '../../helpers/cordon.js';

test('the library starts a command\'s scan and sandbox process ahead, in one process start, and the walls are those of its policy', () => {
  const w = makeWorld();
  const program = `
    const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
    const sb = await createSandbox({ cwd: ${JSON.stringify(w.proj)} });
    const out = [];
    for (let i = 0; i < 3; i++) {
      const r = await sb.exec('/bin/sh', ['-c', 'echo run-' + i + '; touch made-' + i + '; echo x > .envrc 2>/dev/null || echo refused; touch ${w.outside}/x 2>/dev/null || echo outside-refused']);
      out.push(r.stdout);
    }
    await sb.close();
    process.stdout.write(JSON.stringify(out));`;
  const trace = join(w.outside, 'trace');
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', trace, process.execPath, '--input-type=module', '-e', program], { cwd: w.proj, env: w.env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [0, 1, 2].map((i) => `run-${i}\nrefused\noutside-refused\n`));
  for (const i of [0, 1, 2]) assert.ok(existsSync(join(w.proj, `made-${i}`)));
  assert.ok(!existsSync(join(w.outside, 'x')));
  const execs = readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes('execve(') && !l.includes('ENOENT'));
  // The first command has no record to start from; the two after it do.
  assert.equal(execs.filter((l) => l.includes('"with-scan"')).length, 2, execs.join('\n'));
  assert.equal(execs.filter((l) => /"scan", "--ids"/.test(l)).length, 1, 'only the first command scanned in a process of its own');
});
