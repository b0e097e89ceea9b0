/**
 * A writable path renamed, and a link put in its place, while cordon starts
 * (a second run that can write the directory above it can do that, at any
 * moment): bubblewrap binds the directory the policy resolved, from a
 * descriptor opened with no link followed (no-follow.ts, sandbox-process.ts),
 * never where the link leads; placeholders are neither made nor removed
 * there; and a run whose writable path is not the directory it started with
 * fails, closed (launch.ts). As root and as an unprivileged user, with the
 * real bubblewrap: a stand-in for it (CORDON_BWRAP) makes the swap just
 * before it starts the real one, the moment the attack needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, realpathSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { CLI, cordon, own, ROOT, runners } from '../../helpers/cordon.js';
import { findBwrap } from '../../../src/platform/linux/probe.js';
import { startSandboxProcess } from '../../../src/platform/linux/sandbox-process.js';
import { DirFds, rootIdentities } from '../../../src/platform/linux/no-follow.js';

for (const { who, world, opts } of runners()) {
  test(`a working directory swapped for a link to another directory as bubblewrap starts: nothing is written there, and the run fails, closed (${who})`, () => {
    const w = world();
    const proj = join(w.outside, 'w', 'proj');
    const victim = join(w.outside, 'victim');
    mkdirSync(proj, { recursive: true });
    mkdirSync(victim);
    writeFileSync(join(victim, 'keep'), 'the victim\'s\n');
    // Once cordon has made its placeholders in the project: the victim gets the same names (as an earlier run's
    // leftovers would give it, so the helper's mounts there succeed), then the project is renamed and a relative
    // link to the victim put in its place, and the real bubblewrap starts.
    const swapper = join(w.root, 'bwrap-swapper');
    writeFileSync(swapper, [
      '#!/bin/sh',
      `p='${proj}'; v='${victim}'`,
      'i=0; while [ ! -e "$p/.envrc" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done',
      'for n in $(ls -A "$p"); do [ -e "$v/$n" ] || mkdir "$v/$n"; done',
      'mv "$p" "$p.orig" && ln -s ../victim "$p"',
      `exec '${findBwrap(process.env)}' "$@"`,
      '',
    ].join('\n'));
    chmodSync(swapper, 0o755);
    own(w, opts);
    const before = readdirSync(victim).sort();
    const r = cordon(w, ['--', '/bin/sh', '-c', `touch '${proj}/escaped' escaped-cwd; echo RAN`], { cwd: proj, env: { CORDON_BWRAP: swapper }, ...opts });
    assert.ok(before.includes('keep'));
    assert.deepEqual(readdirSync(victim).filter((n) => n.startsWith('escaped')), [], `nothing written where the link leads (${r.stdout}${r.stderr})`);
    // bubblewrap refuses the mount (the descriptor is not what the path leads to), or the command ran in the project it was given.
    if (r.stdout === 'RAN\n') assert.ok(existsSync(join(`${proj}.orig`, 'escaped-cwd')), 'the command wrote in the project it was given');
    else assert.match(r.stderr, /Race condition binding dirfd/);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /the writable path .*proj is not the directory the command ran in any more/);
  });
}

test('with bubblewrap making the mounts (CORDON_BWRAP_MOUNTS=1), a pin on a placeholder this run makes is bound from it', () => {
  const w = runners()[0]!.world();
  const r = cordon(w, ['--read-only', join(w.proj, 'newdir', 'ro'), '--', '/bin/sh', '-c', 'echo ran'], { env: { CORDON_BWRAP_MOUNTS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ran\n');
});

test('a writable file the host replaces during the run (an editor saving by rename) does not fail it', () => {
  const w = runners()[0]!.world();
  const file = join(w.outside, 'data.json');
  writeFileSync(file, 'old\n');
  const child = spawn(process.execPath, [CLI, '--allow-write', file, '--', '/bin/sh', '-c', 'sleep 1; echo done'], { cwd: w.proj, env: w.env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  setTimeout(() => { writeFileSync(`${file}.tmp`, 'new\n'); renameSync(`${file}.tmp`, file); }, 400);
  return new Promise<void>((resolve) => child.on('close', (code) => {
    assert.equal(code, 0, err);
    assert.equal(out, 'done\n');
    resolve();
  }));
});

test('a sandbox process binds a writable path from a descriptor opened with no link on the way, and refuses one reached through a link', async () => {
  const base = realpathSync(join('/var/tmp'));
  const dir = join(base, `cordon-rootid-${process.pid}`);
  const proj = join(dir, 'w', 'proj');
  const victim = join(dir, 'victim');
  mkdirSync(proj, { recursive: true });
  mkdirSync(victim);
  try {
    const ids = rootIdentities([proj]).ids;
    const args = ['--unshare-all', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--bind-fd', '18', proj, '--chdir', proj, '--info-fd', '4', '--block-fd', '7'];
    const sp = startSandboxProcess(findBwrap(process.env), join(process.cwd(), 'native', 'build', 'cordon-helper'), args, process.env, ['ignore', 'ignore', 'ignore']);
    assert.deepEqual(sp.rootIds, ids, 'the descriptor is the directory the path names');
    await sp.kill();

    renameSync(join(dir, 'w'), join(dir, 'w.orig'));
    symlinkSync(join(dir, 'victim'), join(dir, 'w'));
    mkdirSync(join(victim, 'proj'));
    assert.throws(() => startSandboxProcess(findBwrap(process.env), 'helper', args, process.env), /cannot open the writable path .*proj with no symbolic link on its way \((ENOTDIR|ELOOP)\)/);
    assert.deepEqual(rootIdentities([proj]).linked, [proj]);
    const dirs = new DirFds();
    assert.throws(() => dirs.open(proj), /ENOTDIR|ELOOP/);
    dirs.close();
  } finally {
    (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
  }
});

for (const { who, world, opts } of runners()) {
  test(`a link an earlier run's command left where it could write does not redirect a later run's grant: refused, naming the link (${who})`, () => {
    const w = world();
    const a = join(w.outside, 'a');
    const b = join(w.outside, 'b');
    const secret = join(w.outside, 'secret');
    mkdirSync(join(a, 'shared', 'out'), { recursive: true });
    mkdirSync(b);
    mkdirSync(secret);
    own(w, opts);
    const plant = cordon(w, ['--', '/bin/sh', '-c', `mv shared/out shared/out.old && ln -s '${secret}' shared/out && echo PLANTED`], { cwd: a, ...opts });
    assert.equal(plant.stdout, 'PLANTED\n', plant.stderr);
    const r = cordon(w, ['--allow-write', join(a, 'shared', 'out'), '--', '/bin/sh', '-c', `echo pwned > '${join(a, 'shared', 'out')}/pwned'; echo RAN`], { cwd: b, ...opts });
    assert.equal(r.status, 125, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`reaches ${secret} through the symlink ${join(a, 'shared', 'out')} -> ${secret}, which lies in ${a} \\(a sandboxed command of an earlier or a running cordon could write there\\)`));
    assert.deepEqual(readdirSync(secret), []);
  });
}

test('a library handle\'s working directory that an earlier run\'s command replaced by a link is refused', async () => {
  const w = runners()[0]!.world();
  const l = join(w.outside, 'l');
  const secret = join(w.outside, 'secret2');
  mkdirSync(join(l, 'app'), { recursive: true });
  mkdirSync(secret);
  const plant = cordon(w, ['--', '/bin/sh', '-c', `mv app app.old && ln -s '${secret}' app && echo PLANTED`], { cwd: l });
  assert.equal(plant.stdout, 'PLANTED\n', plant.stderr);
  const script = `const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
try { const sb = await createSandbox({ cwd: ${JSON.stringify(join(l, 'app'))} }); await sb.exec('/bin/sh', ['-c', 'touch pwned-lib']); await sb.close(); console.log('created'); }
catch (e) { console.log(e.code, e.message); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: w.env, encoding: 'utf8' });
  assert.match(r.stdout, /^CORDON_ERR_POLICY the working directory .*\/l\/app reaches .*secret2 through the symlink/, r.stderr);
  assert.deepEqual(readdirSync(secret), []);
});

test('the CLI run from a shell that went through such a link ($PWD names it) is refused the same way', () => {
  const w = runners()[0]!.world();
  const area = join(w.outside, 'area');
  const victim = join(w.outside, 'victim3');
  mkdirSync(area);
  mkdirSync(victim);
  const plant = cordon(w, ['--', '/bin/sh', '-c', `ln -s '${victim}' evil && echo PLANTED`], { cwd: area });
  assert.equal(plant.stdout, 'PLANTED\n', plant.stderr);
  const r = cordon(w, ['--', '/bin/sh', '-c', 'echo x > written-by-cli; echo RAN'], { cwd: victim, env: { PWD: join(area, 'evil') } });
  assert.equal(r.status, 125, r.stdout + r.stderr);
  assert.match(r.stderr, /the working directory .*area\/evil reaches .*victim3 through the symlink/);
  assert.deepEqual(readdirSync(victim), []);
  // A $PWD that is not this directory (a stale one) is not the shell's name for it: not judged.
  const stale = cordon(w, ['--', '/bin/sh', '-c', 'echo RAN'], { cwd: victim, env: { PWD: area } });
  assert.equal(stale.stdout, 'RAN\n', stale.stderr);
});
