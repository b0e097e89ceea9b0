/**
 * Black-box CLI matrix: the cordon command as a user and a script see it.
 * Each row: argv → exit status and what must (not) appear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { fnv1a } from '../../src/platform/linux/scan.js';
import { join } from 'node:path';
import { cordon, makeWorld } from '../helpers/cordon.js';

interface Row { argv: string[]; status: number; stdout?: RegExp; stderr?: RegExp; notStdout?: RegExp; cwd?: string }

test('CLI matrix', () => {
  const w = makeWorld();
  const bad = join(w.outside, 'bad.json');
  writeFileSync(bad, '{"filesystem":{"denyRead":["~/.ssh"],"alowWrite":["."]}}');
  const srt = join(w.outside, 'srt.json');
  writeFileSync(srt, JSON.stringify({ network: { allowedDomains: [], deniedDomains: [] }, filesystem: { denyRead: ['~/.ssh'], allowWrite: ['.'], denyWrite: [] } }));
  const rows: Row[] = [
    { argv: ['--help'], status: 0, stdout: /usage: cordon \[options\] -- COMMAND/ },
    { argv: ['--version'], status: 0, stdout: /^cordon \d+\.\d+\.\d+\n$/ },
    { argv: [], status: 125, stderr: /^cordon: no command given; see cordon --help\n$/ },
    { argv: ['ls'], status: 125, stderr: /put the command after --/ },
    { argv: ['--frobnicate', '--', 'true'], status: 125, stderr: /unknown option --frobnicate/ },
    { argv: ['--settings', bad, '--', 'true'], status: 125, stderr: /filesystem\.alowWrite: expected one of the known keys .*did you mean "allowWrite"/ },
    { argv: ['--settings', srt, '--', 'echo', 'srt-ok'], status: 0, stdout: /^srt-ok\n$/ },
    { argv: ['--', 'echo', 'a b', '$HOME', '*'], status: 0, stdout: /^a b \$HOME \*\n$/ },
    { argv: ['-c', 'echo "$((6*7))"'], status: 0, stdout: /^42\n$/ },
    { argv: ['--debug', '--', 'true'], status: 0, stderr: /cordon\[debug\] compiled: \d+ mounts[^]*timings \(ms\): node start-up [\d.]+, compile [\d.]+, placeholders [\d.]+, sandbox setup [\d.]+, command [\d.]+, cleanup [\d.]+, after-run check [\d.]+; total/ },
    { argv: ['--no-delete', 'src', '--', 'true'], status: 125, stderr: /read-write-no-delete inside .* which is read-write/ },
    { argv: ['explain', '--', 'true'], status: 0, stdout: /bwrap argv:\n .*--unshare-all .*--ro-bind \/ \/ /s },
    { argv: ['explain'], status: 0, stdout: /\.ssh  deny-read  <- default: credential store/ },
    { argv: ['explain', '--deny-read', 'secret'], status: 0, stdout: /secret \(missing\)  deny-read  <- --deny-read/ },
    { argv: ['doctor'], status: 0, stdout: /ok\s+bubblewrap: .*\nok\s+user namespaces/ },
    // Run inside a credential store: it stays hidden, and cordon says so.
    { cwd: join(w.home, '.ssh'), argv: ['--', '/bin/ls', '-A'], status: 0, stdout: /^$/, stderr: /^cordon: warning: the working directory \S+\/home\/\.ssh is hidden by \S+\/home\/\.ssh \(default: credential store\): .*--allow-read /m },
    // Run in /: the working directory would make every file writable.
    { cwd: '/', argv: ['--', 'true'], status: 125, stderr: /^cordon: \/ would be writable \(default: working directory\): .*--read-only \/ .*\n$/ },
    { cwd: '/', argv: ['--read-only', '/', '--', '/bin/sh', '-c', 'touch /tmp/t && echo tmp-ok; touch /cordon-matrix 2>/dev/null || echo root-ro'], status: 0, stdout: /^tmp-ok\nroot-ro\n$/ },
  ];
  for (const row of rows) {
    const r = cordon(w, row.argv, row.cwd ? { cwd: row.cwd } : {});
    const label = `cordon ${row.argv.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.status, row.status, label);
    if (row.stdout) assert.match(r.stdout, row.stdout, label);
    if (row.stderr) assert.match(r.stderr, row.stderr, label);
  }
  // Neither run in / scanned the machine: the project's runs left their scan cache, nothing left one for /.
  const cache = (roots: string[]) => join(w.home, '.local', 'state', 'cordon', `scan-${fnv1a(JSON.stringify([roots, []]))}.cache`);
  assert.ok(existsSync(cache([w.proj])), 'the project scan has its cache (the name is computed right)');
  assert.ok(!existsSync(cache(['/'])), 'no scan of /');
});

test('explain --json is the plan that runs, and runs nothing', () => {
  const w = makeWorld();
  const r = cordon(w, ['explain', '--json', '--read-only', 'src', '--', 'touch', 'ran']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.version, 1);
  assert.ok(j.plan.mounts.some((m: { args: string[] }) => m.args.join(' ') === `--ro-bind ${w.proj}/src ${w.proj}/src`));
  assert.deepEqual(j.plan.helperArgs.slice(-2), ['touch', 'ran']);
  assert.ok(j.seccomp.length > 5);
});
