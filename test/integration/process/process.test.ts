/**
 * Process walls: no view of or signals to host processes, no host IPC, no
 * capabilities (also for a root caller), and the same walls for an
 * unprivileged user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorld, sh, testUser } from '../../helpers/cordon.js';

test('host processes are invisible and unreachable by signal', () => {
  const w = makeWorld();
  const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const r = sh(w, `ls /proc | grep -cE '^[0-9]+$'; kill -0 ${victim.pid} 2>/dev/null && echo SIGNALLED; kill -9 ${victim.pid} 2>/dev/null; tr '\\0' '\\n' < /proc/1/cmdline | sed -n 2p | sed 's/^/pid1-arg1:/'`);
    const [count, ...rest] = r.stdout.trim().split('\n');
    assert.ok(Number(count) <= 4, `sandbox sees ${count} processes`);
    assert.doesNotMatch(r.stdout, /^SIGNALLED$/m);
    assert.match(rest.join('\n'), /^pid1-arg1:run$/m, 'PID 1 is cordon\'s helper, not a host process');
    assert.equal(victim.exitCode, null, 'the host process survived');
    assert.equal(victim.signalCode, null);
  } finally {
    victim.kill();
  }
});

test('host SysV IPC is not visible (own IPC namespace)', () => {
  const w = makeWorld();
  // Create a host message queue with ipcmk and check the sandbox cannot see it.
  const id = spawnSync('ipcmk', ['-Q'], { encoding: 'utf8' });
  assert.equal(id.status, 0, id.stderr);
  const qid = /(\d+)/.exec(id.stdout)![1]!;
  try {
    assert.match(spawnSync('ipcs', ['-q'], { encoding: 'utf8' }).stdout, new RegExp(`\\b${qid}\\b`));
    const r = sh(w, `ipcs -q; echo ===; ipcrm -q ${qid} 2>/dev/null || echo cannot-remove`);
    assert.doesNotMatch(r.stdout.split('===')[0]!, new RegExp(`\\b${qid}\\b`));
    assert.match(r.stdout, /cannot-remove/);
  } finally {
    spawnSync('ipcrm', ['-q', qid]);
  }
});

test('no capabilities inside, also for a root caller; new session; own hostname namespace', () => {
  const w = makeWorld();
  const r = sh(w, 'grep -E "^Cap(Inh|Eff|Prm|Bnd|Amb):" /proc/self/status; ps -o sid= -p $$ | tr -d " "; echo $$; hostname pwned 2>&1 || echo no-hostname');
  assert.equal(r.status, 0, r.stderr);
  // All five sets, though the helper held two capabilities for its mounts until just before the command.
  const caps = r.stdout.split('\n').filter((l) => l.startsWith('Cap'));
  assert.equal(caps.length, 5, r.stdout);
  for (const line of caps) assert.match(line, /:\s+0{16}$/, line);
  assert.match(r.stdout, /no-hostname/);
  assert.notEqual(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim(), 'pwned');
});

test('the walls hold for an unprivileged user too', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: { uid: u.uid, gid: u.gid } });
  const r = sh(w, `echo in > inside.txt; echo x > ${w.outside}/new.txt 2>/dev/null || echo no-write; cat ${w.home}/.ssh/id_rsa 2>/dev/null || echo no-read; grep -E "^Cap(Inh|Eff|Prm|Bnd|Amb):" /proc/self/status | grep -vc "	0000000000000000$"; id -u; echo x > .git/hooks/pre-commit 2>/dev/null || echo no-hook`, [], { asUser: u.name });
  assert.equal(r.status, 0, r.stderr);
  // grep -vc counts capability sets that are not all zero: none.
  assert.match(r.stdout, /no-write\nno-read\n0\n(\d+)\nno-hook\n/);
  assert.equal(/\n(\d+)\nno-hook/.exec(r.stdout)![1], String(u.uid));
  assert.ok(existsSync(join(w.proj, 'inside.txt')));
  assert.ok(!existsSync(join(w.outside, 'new.txt')));
});
