/**
 * Kernel-level tests of native/cordon-helper.c: the Landlock write wall (with
 * controls that show the same writes succeed without it), the PID-1 duties
 * (status pass-through, signal relay, reaping, fd hygiene) on the host and
 * under real bubblewrap, and the repository scanner on a hostile tree.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, symlinkSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { deferScan } from '../../../src/platform/linux/scan.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHelper, bwrapSkipReason, killAll, landlockArgs, landlockSkipReason, run, runHelper, scanRecords, spawnTracked } from '../../helpers/native.js';

const helper = buildHelper();
const landlockSkip = landlockSkipReason();
const bwrapSkip = bwrapSkipReason();
const isRoot = process.getuid?.() === 0;

/** Every test: a hung child fails the test instead of the run. */
const T = { timeout: 30_000 };

const temps: string[] = [];
function tempDir(prefix = 'cordon-helper-', parent = tmpdir()): string {
  const d = mkdtempSync(join(parent, prefix));
  temps.push(d);
  return d;
}
after(() => {
  killAll();
  for (const d of temps) {
    chmodTree(d);
    rmSync(d, { recursive: true, force: true });
  }
});
function chmodTree(d: string): void {
  // Restores access to directories a test locked (mode 000) so cleanup works.
  try {
    chmodSync(d, 0o755);
  } catch {
    /* already gone */
  }
}

function isWritableDir(d: string): boolean {
  try {
    accessSync(d, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolves when `text` shows up on the child's stdout. */
function waitForOutput(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) resolve();
    });
    child.on('close', () => reject(new Error(`exited before printing ${JSON.stringify(text)}; got ${JSON.stringify(seen)}`)));
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
}

// One python3 process performs each filesystem operation and prints
// name=ok or name=ERRNO, so assertions are on the exact outcome.
const FS_OPS = String.raw`
import errno, os, sys
A, B, C = sys.argv[1:4]
def t(name, fn):
    try:
        fn(); r = 'ok'
    except OSError as e:
        r = errno.errorcode[e.errno]
    print(f'{name}={r}')
def write(p, mode='w'):
    with open(p, mode) as f: f.write('x')
t('A.create', lambda: write(f'{A}/f'))
t('A.mkdir', lambda: os.mkdir(f'{A}/d'))
t('A.rename', lambda: os.rename(f'{A}/f', f'{A}/d/f'))
t('A.link', lambda: os.link(f'{A}/d/f', f'{A}/d/f2'))
t('A.unlink', lambda: os.unlink(f'{A}/d/f'))
t('B.create', lambda: write(f'{B}/new'))
t('B.write', lambda: write(f'{B}/existing', 'a'))
t('B.mkdir', lambda: os.mkdir(f'{B}/d'))
t('B.symlink', lambda: os.symlink('/', f'{B}/sym'))
t('B.unlink', lambda: os.unlink(f'{B}/victim'))
t('link.B_to_A', lambda: os.link(f'{B}/existing', f'{A}/hardlink'))
t('C.create', lambda: write(f'{C}/f'))
t('C.append', lambda: write(f'{C}/f', 'a'))
t('C.mkdir', lambda: os.mkdir(f'{C}/d'))
t('C.create_in_subdir', lambda: write(f'{C}/d/g'))
t('C.truncate', lambda: os.truncate(f'{C}/f', 0))
t('C.open_trunc', lambda: open(f'{C}/existing', 'w').close())
t('C.unlink', lambda: os.unlink(f'{C}/del'))
t('C.rmdir', lambda: os.rmdir(f'{C}/emptydir'))
t('C.rename_out', lambda: os.rename(f'{C}/mv_out', f'{A}/moved'))
t('C.rename_within', lambda: os.rename(f'{C}/mv_in', f'{C}/renamed'))
t('C.rename_over', lambda: os.rename(f'{C}/mv_over', f'{C}/existing'))
t('C.rename_dir', lambda: os.rename(f'{C}/dir_mv', f'{C}/dir_moved'))
`;

function fsFixture(): { A: string; B: string; C: string } {
  const root = tempDir();
  const [A, B, C] = ['A', 'B', 'C'].map((n) => join(root, n)) as [string, string, string];
  for (const d of [A, B, C]) mkdirSync(d);
  for (const f of ['existing', 'victim']) writeFileSync(join(B, f), 'b');
  for (const f of ['existing', 'del', 'mv_out', 'mv_in', 'mv_over']) writeFileSync(join(C, f), 'c');
  mkdirSync(join(C, 'emptydir'));
  mkdirSync(join(C, 'dir_mv'));
  return { A, B, C };
}

function parseOps(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

const allOk = (names: string[]): Record<string, string> => Object.fromEntries(names.map((n) => [n, 'ok']));

describe('run: Landlock write wall', { skip: landlockSkip ?? false }, () => {
  it('without rules (control) every write succeeds, so the walls below are real', T, async () => {
    const { A, B, C } = fsFixture();
    const r = await runHelper(['run', '--', 'python3', '-c', FS_OPS, A, B, C]);
    assert.equal(r.code, 0, r.stderr);
    const ops = parseOps(r.stdout);
    assert.deepEqual(ops, allOk(Object.keys(ops)));
    assert.equal(Object.keys(ops).length, 23);
  });

  it('the plan\'s read-write rule allows writes beneath A, its no-delete rule create/modify but no delete, rename or truncation in C, the rest is read-only', T, async () => {
    const { A, B, C } = fsFixture();
    const r = await runHelper(['run', ...landlockArgs([A], [C]), '--', 'python3', '-c', FS_OPS, A, B, C]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseOps(r.stdout), {
      'A.create': 'ok',
      'A.mkdir': 'ok',
      'A.rename': 'ok',
      'A.link': 'ok',
      'A.unlink': 'ok',
      'B.create': 'EACCES',
      'B.write': 'EACCES',
      'B.mkdir': 'EACCES',
      'B.symlink': 'EACCES',
      'B.unlink': 'EACCES',
      // Landlock refuses a link that would give the file more rights than it has in B.
      'link.B_to_A': 'EXDEV',
      'C.create': 'ok',
      'C.append': 'ok',
      'C.mkdir': 'ok',
      'C.create_in_subdir': 'ok',
      // No-delete also means no truncation (Landlock's TRUNCATE right, ABI 3).
      'C.truncate': 'EACCES',
      'C.open_trunc': 'EACCES',
      'C.unlink': 'EACCES',
      'C.rmdir': 'EACCES',
      'C.rename_out': 'EACCES',
      'C.rename_within': 'EACCES',
      'C.rename_over': 'EACCES',
      'C.rename_dir': 'EACCES',
    });
    // The refused operations left C as it was.
    for (const f of ['existing', 'del', 'mv_out', 'mv_in', 'mv_over', 'emptydir', 'dir_mv']) assert.ok(existsSync(join(C, f)), f);
    assert.equal(readFileSync(join(B, 'existing'), 'utf8'), 'b');
  });

  it('a single file can be the rule: it is writable, its siblings are not', T, async () => {
    const { B } = fsFixture();
    const file = join(B, 'existing');
    const r = await run(helper, ['run', ...landlockArgs([file]), '--', 'sh', '-c', `echo more >> '${file}' && echo wrote; : > '${file}' && echo truncated; echo x > '${B}/new' || echo refused`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'wrote\ntruncated\nrefused\n');
    assert.match(r.stderr, /Permission denied/);
  });

  it('a ruleset the kernel refuses (rights beyond its ABI, as a forged ABI record would ask) is the helper\'s own failure (125), the command never runs', T, async () => {
    const d = tempDir();
    const beyond = String(2 ** 40);
    for (const args of [['--landlock-handled', beyond, '--landlock-rule', '2', d], ['--landlock-handled', '2', '--landlock-rule', beyond, d]]) {
      const r = await runHelper(['run', ...args, '--', 'sh', '-c', `: > '${d}/ran'`]);
      assert.equal(r.code, 125, args.join(' '));
      assert.match(r.stderr, /^cordon: (the kernel refused the Landlock ruleset this sandbox's plan asks for|landlock rule for )/);
      assert.ok(!existsSync(join(d, 'ran')));
    }
    // A rule without a ruleset, or a malformed mask, is a usage error: nothing runs.
    for (const args of [['--landlock-rule', '2', d], ['--landlock-handled', '0x2'], ['--landlock-handled', '0'], ['--landlock-handled', '-1']]) {
      const r = await runHelper(['run', ...args, '--', 'sh', '-c', `: > '${d}/ran'`]);
      assert.equal(r.code, 125, args.join(' '));
      assert.ok(!existsSync(join(d, 'ran')));
    }
  });

  it('a path that does not exist is the helper\'s own failure (125), the command never runs', T, async () => {
    const d = tempDir();
    for (const args of [landlockArgs([join(d, 'missing')]), landlockArgs([], [join(d, 'missing')])]) {
      const r = await runHelper(['run', ...args, '--', 'sh', '-c', `: > '${d}/ran'`]);
      assert.equal(r.code, 125);
      assert.match(r.stderr, /^cordon: landlock path .*missing: No such file or directory\n$/);
      assert.ok(!existsSync(join(d, 'ran')));
    }
  });
});

describe('run: the process duties', () => {
  it('passes the exit status through, 128+N for a signal', T, async () => {
    assert.equal((await runHelper(['run', '--', 'sh', '-c', 'exit 7'])).code, 7);
    assert.equal((await runHelper(['run', '--', 'sh', '-c', 'kill -TERM $$'])).code, 143);
    assert.equal((await runHelper(['run', '--', 'sh', '-c', 'kill -KILL $$'])).code, 137);
  });

  it('runs nothing when a held path has no mount (replaced on the host while the sandbox was set up: native/holds.h), and goes on with one', T, async () => {
    const d = tempDir();
    const r = await runHelper(['run', '--hold', d, '--', 'sh', '-c', `: > '${d}/ran'`]);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, new RegExp(`cordon: ${d}, which this run hides, holds read-only or pins, has no mount: .*Nothing was run`));
    assert.ok(!existsSync(join(d, 'ran')), 'the command ran without its held mount');
    assert.equal((await runHelper(['run', '--hold', '/', '--', 'sh', '-c', 'exit 3'])).code, 3, 'a held path that is a mount point');
  });

  it('reports exec failures: 127 when not found, 126 otherwise; 125 for bad usage', T, async () => {
    const missing = await runHelper(['run', '--', '/nonexistent/cmd', 'x']);
    assert.equal(missing.code, 127);
    assert.equal(missing.stderr, 'cordon: /nonexistent/cmd: No such file or directory\n');
    const plain = join(tempDir(), 'plain');
    writeFileSync(plain, 'not a program', { mode: 0o644 });
    const notExec = await runHelper(['run', '--', plain]);
    assert.equal(notExec.code, 126);
    assert.equal(notExec.stderr, `cordon: ${plain}: Permission denied\n`);
    assert.equal((await runHelper(['run', 'sh'])).code, 125);
    assert.equal((await runHelper(['run', '--bogus', '--', 'true'])).code, 125);
    assert.equal((await runHelper(['run', '--'])).code, 125);
    assert.equal((await runHelper(['frobnicate'])).code, 125);
  });

  it('forwards SIGTERM and SIGUSR1 to the command', T, async () => {
    for (const [sig, code] of [['SIGTERM', 42], ['SIGUSR1', 43]] as const) {
      const child = spawnTracked(helper, ['run', '--', 'sh', '-c', 'trap "exit 42" TERM; trap "exit 43" USR1; echo ready; while :; do sleep 0.05; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = exitOf(child);
      await waitForOutput(child, 'ready');
      child.kill(sig);
      assert.deepEqual(await exited, { code, signal: null });
    }
  });

  it('a forwarded signal reaches the whole process group of the command', T, async () => {
    // The shell ignores SIGHUP only after starting its child: the relayed SIGHUP
    // must reach the grandchild through the group, and the shell reports its death.
    const child = spawnTracked(helper, ['run', '--', 'sh', '-c', 'sleep 30 & trap "" HUP; echo ready; wait $!; echo "sleep ended with $?"'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = exitOf(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitForOutput(child, 'ready');
    child.kill('SIGHUP');
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(out, 'ready\nsleep ended with 129\n');
  });

  it('adopts and reaps orphans (a subreaper outside a pid namespace)', T, async () => {
    const r = await runHelper(['run', '--', 'sh', '-c', ORPHANS]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'adopted=3 zombies=0\n');
  });

  it('--ready-fd gets one byte once the walls are up, then is closed before the command starts', T, async () => {
    const readyOf = async (args: string[]): Promise<{ ready: string; r: { code: number | null; stdout: string } }> => {
      const child = spawnTracked(helper, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
      let ready = '';
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (ready += d.toString()));
      let stdout = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      const { code } = await exitOf(child);
      return { ready, r: { code, stdout } };
    };
    const ok = await readyOf(['run', '--ready-fd', '3', '--', 'sh', '-c', 'ls /proc/$$/fd']);
    assert.deepEqual(ok, { ready: '1', r: { code: 0, stdout: '0\n1\n2\n' } });
    const failed = await readyOf(['run', '--ready-fd', '3', ...landlockArgs(['/nonexistent/cordon']), '--', 'true']);
    assert.deepEqual(failed, { ready: '', r: { code: 125, stdout: '' } });
    for (const bad of ['1', '-3', 'x', '3x', '']) assert.equal((await runHelper(['run', '--ready-fd', bad, '--', 'true'])).code, 125, bad);
  });

  it('landlock-abi prints the kernel\'s Landlock ABI (0 if none)', T, async () => {
    const r = await runHelper(['landlock-abi']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+\n$/);
    if (!landlockSkip) assert.ok(Number(r.stdout) >= 2);
  });

  it('closes every inherited fd >= 3', T, async () => {
    const fd = openSync('/etc/hostname', 'r');
    try {
      const stdio = ['ignore', 'pipe', 'pipe', fd, 'pipe'] as const;
      const control = await run('sh', ['-c', 'ls /proc/$$/fd'], { stdio: [...stdio] });
      assert.ok(control.stdout.split('\n').includes('3'), 'control: fd 3 is inherited without the helper');
      assert.ok(control.stdout.split('\n').includes('4'), 'control: fd 4 is inherited without the helper');
      const r = await runHelper(['run', '--', 'sh', '-c', 'ls /proc/$$/fd'], { stdio: [...stdio] });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['0', '1', '2']);
    } finally {
      closeSync(fd);
    }
  });
});

// Orphans: three grandchildren outlive their subshells. While alive they must
// be children of our parent (the helper); once they have all died (or turned
// zombie, under a control init that never reaps) none may linger as a zombie.
const ORPHANS = String.raw`
count() { n=0; for s in /proc/[0-9]*/stat; do read -r pid comm state ppid rest < "$s" 2>/dev/null || continue; [ "$ppid" = "$PPID" ] && [ "$pid" != "$$" ] && { [ -z "$1" ] || [ "$state" = "$1" ]; } && n=$((n+1)); done; echo $n; }
for i in 1 2 3; do (sleep 0.5 &); done
a=$(count)
i=0; while [ "$(count)" != "$(count Z)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
sleep 0.2
echo "adopted=$a zombies=$(count Z)"
`;

describe('run: as PID 1 under bubblewrap', { skip: bwrapSkip ?? false }, () => {
  const bwrapBase = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-all', '--die-with-parent', '--new-session', '--as-pid-1'];

  it('runs the command as pid 2 under the helper, with the Landlock wall inside the mount wall', { ...T, skip: landlockSkip ?? false }, async () => {
    const d = tempDir();
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'b'));
    const script = `echo "pid=$$ ppid=$PPID"; echo hi > '${d}/a/x' && echo a-ok; echo hi > '${d}/b/x' || echo b-refused; echo hi > /etc/cordon-test || echo ro-refused; exit 3`;
    const r = await run('bwrap', [...bwrapBase, '--bind', d, d, '--', helper, 'run', ...landlockArgs([join(d, 'a')]), '--', 'sh', '-c', script]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'pid=2 ppid=1\na-ok\nb-refused\nro-refused\n');
    assert.match(r.stderr, new RegExp(`${d}/b/x: Permission denied`));
    assert.match(r.stderr, /\/etc\/cordon-test: Read-only file system/);
    assert.equal(readFileSync(join(d, 'a', 'x'), 'utf8'), 'hi\n');
    assert.ok(!existsSync(join(d, 'b', 'x')));
  });

  it('makes its read-only mounts with two capabilities, then holds none; a mount it cannot make stops everything', T, async () => {
    const d = tempDir();
    mkdirSync(join(d, 'ro'));
    writeFileSync(join(d, 'secret'), 'top secret');
    const caps = [...bwrapBase, '--unshare-user', '--disable-userns', '--cap-drop', 'ALL', '--cap-add', 'CAP_SYS_ADMIN', '--cap-add', 'CAP_SETPCAP', '--bind', d, d, '--'];
    const script = `echo x > '${d}/ro/f' || echo ro-refused; cat '${d}/secret'; echo; echo x > '${d}/rw' && echo rw-ok; umount '${d}/ro' 2>/dev/null || echo umount-refused; grep ^Cap /proc/self/status | grep -c "\t0000000000000000$"`;
    const r = await run('bwrap', [...caps, helper, 'run', '--ro', join(d, 'ro'), '--null', join(d, 'secret'), '--', 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    // Five capability sets, all zero; the denied file reads empty, as under bubblewrap's own bind.
    assert.equal(r.stdout, 'ro-refused\n\nrw-ok\numount-refused\n5\n');
    assert.ok(!existsSync(join(d, 'ro', 'f')));
    // Fail closed: a target that is not there is a setup failure (125) and the command never runs.
    const bad = await run('bwrap', [...caps, helper, 'run', '--ro', join(d, 'nope'), '--', 'sh', '-c', `touch '${d}/ran'`]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /nope/);
    assert.ok(!existsSync(join(d, 'ran')));
  });

  it('passes a signal death through bwrap as 128+N', T, async () => {
    const r = await run('bwrap', [...bwrapBase, '--', helper, 'run', '--', 'sh', '-c', 'kill -TERM $$']);
    assert.equal(r.code, 143, r.stderr);
  });

  it('relays a signal sent to the pid bwrap reports on --info-fd', T, async () => {
    const child = spawnTracked('bwrap', [...bwrapBase, '--info-fd', '3', '--', helper, 'run', '--', 'sh', '-c', 'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    const exited = exitOf(child);
    const info = await new Promise<{ 'child-pid': number }>((resolve, reject) => {
      let text = '';
      const stream = child.stdio[3] as NodeJS.ReadableStream;
      stream.on('data', (d: Buffer) => {
        text += d.toString();
        try {
          resolve(JSON.parse(text));
        } catch {
          /* incomplete */
        }
      });
      stream.on('end', () => reject(new Error(`no info JSON: ${text}`)));
    });
    await waitForOutput(child, 'ready');
    const cmdline = readFileSync(`/proc/${info['child-pid']}/cmdline`, 'utf8').split('\0');
    assert.equal(cmdline[0], helper, 'the reported pid is the helper (pid 1 inside)');
    process.kill(info['child-pid'], 'SIGTERM');
    assert.deepEqual(await exited, { code: 42, signal: null });
  });

  it('reaps orphans as init; a non-reaping init (control) leaves zombies', T, async () => {
    const r = await run('bwrap', [...bwrapBase, '--', helper, 'run', '--', 'sh', '-c', ORPHANS]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'adopted=3 zombies=0\n');
    const control = await run('bwrap', [...bwrapBase, '--', 'python3', '-c', 'import subprocess, sys; subprocess.run(["sh", "-c", sys.argv[1]])', ORPHANS]);
    assert.equal(control.stdout, 'adopted=3 zombies=3\n');
  });
});

/**
 * A classic-BPF seccomp program (x86-64 only) making landlock_create_ruleset
 * fail with `errno`, i.e. a kernel without Landlock as the helper sees it.
 */
function noLandlockFilter(errno: number): Buffer {
  const insns: [number, number, number, number][] = [
    [0x20, 0, 0, 4], // ld [4]: arch
    [0x15, 0, 3, 0xc000003e], // jeq AUDIT_ARCH_X86_64, else allow
    [0x20, 0, 0, 0], // ld [0]: syscall number
    [0x15, 0, 1, 444], // jeq __NR_landlock_create_ruleset, else allow
    [0x06, 0, 0, 0x00050000 | errno], // ret SECCOMP_RET_ERRNO | errno
    [0x06, 0, 0, 0x7fff0000], // ret SECCOMP_RET_ALLOW
  ];
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k, i * 8 + 4);
  });
  return b;
}

describe('run: on a kernel without Landlock (simulated with seccomp under bwrap)', { skip: bwrapSkip ?? (process.arch === 'x64' ? false : 'the filter is x86-64 only') }, () => {
  for (const [name, errno] of [['ENOSYS', 38], ['EOPNOTSUPP', 95]] as const) {
    it(`${name}: the helper fails closed whenever the plan asks for a ruleset, and runs on the mounts alone when the plan asks for none`, T, async () => {
      const d = tempDir();
      const filter = join(d, 'filter.bpf');
      writeFileSync(filter, noLandlockFilter(errno));
      const inBwrap = async (args: string[]) => {
        const fd = openSync(filter, 'r');
        try {
          return await run('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-all', '--die-with-parent', '--new-session', '--as-pid-1', '--bind', d, d, '--seccomp', '3', '--', helper, ...args], {
            stdio: ['ignore', 'pipe', 'pipe', fd],
          });
        } finally {
          closeSync(fd);
        }
      };
      assert.deepEqual(await inBwrap(['landlock-abi']), { code: 0, signal: null, stdout: '0\n', stderr: '' });
      const message = /^cordon: the kernel refused the Landlock ruleset this sandbox's plan asks for .*cordon doctor/;
      for (const args of [landlockArgs([], [d]), landlockArgs([d], [], 1)]) {
        const r = await inBwrap(['run', ...args, '--', 'sh', '-c', `: > '${d}/ran'`]);
        assert.equal(r.code, 125, args.join(' '));
        assert.match(r.stderr, message);
        assert.ok(!existsSync(join(d, 'ran')));
      }
      // A plan without Landlock (--dangerously-allow-missing-landlock, plan.ts) gives it no ruleset: the mount wall alone.
      const tolerated = await inBwrap(['run', '--', 'sh', '-c', `: > '${d}/outside-a' && echo wrote`]);
      assert.deepEqual(tolerated, { code: 0, signal: null, stdout: 'wrote\n', stderr: '' });
    });
  }
});

describe('scan', () => {
  let root = '';
  let outside = '';

  function mk(rel: string, content?: string): void {
    const p = join(root, rel);
    if (content === undefined) mkdirSync(p, { recursive: true });
    else {
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, content);
    }
  }

  before(() => {
    root = tempDir('cordon-scan-');
    outside = tempDir('cordon-outside-');
    chmodSync(root, 0o755);
    chmodSync(outside, 0o755);
    // The outer repository and its submodule git dirs.
    mk('.git/HEAD', 'ref: refs/heads/main\n');
    mk('.git/config', '');
    mk('.git/objects/ab/.env', 'inside .git: never reported');
    mk('.git/modules/a/b/HEAD', '');
    mk('.git/modules/a/b/config', '');
    mk('.git/modules/a/b/objects/decoy/HEAD', ''); // inside a git dir: not a module
    mk('.git/modules/a/b/objects/decoy/config', '');
    mk('.git/modules/a/b/modules/nested/HEAD', '');
    mk('.git/modules/a/b/modules/nested/config', '');
    mk('.git/modules/plain/HEAD', '');
    mk('.git/modules/plain/config', '');
    mk('.git/modules/half/HEAD', ''); // no config: not a git dir
    // The submodule work tree: .git is a FILE.
    mk('sub/a/b/.git', 'gitdir: ../../../.git/modules/a/b\n');
    mk('sub/a/b/.env', 'x');
    // A nested repository at depth 5, with its own submodule.
    mk('x1/x2/x3/x4/deep/.git/HEAD', '');
    mk('x1/x2/x3/x4/deep/.git/modules/m/HEAD', '');
    mk('x1/x2/x3/x4/deep/.git/modules/m/config', '');
    // Matches: files, a directory (descended into), a symlink, a leading-dot glob.
    mk('.env', 'x');
    mk('x1/.env/inner/.git', 'gitdir: /elsewhere\n');
    mk('key.pem', 'x');
    mk('.secret.pem', 'x');
    mk('notes.txt', 'x');
    symlinkSync(join(outside, '.env'), join(root, 'x1/x2/.env'));
    // Symlink loops and a link to a repository outside: never followed.
    symlinkSync('.', join(root, 'loop'));
    symlinkSync('..', join(root, 'x1/x2/back'));
    writeFileSync(join(outside, '.env'), 'x');
    mkdirSync(join(outside, '.git'));
    symlinkSync(outside, join(root, 'x1/outlink'));
    // An unreadable directory (holding a repository) counts as an error.
    mk('locked/.git/HEAD', '');
    chmodSync(join(root, 'locked'), 0o000);
  });
  after(() => chmodSync(join(root, 'locked'), 0o755));

  // As root the mode-000 directory would be readable: scan as nobody instead.
  const asUser = isRoot ? { uid: 65534, gid: 65534 } : {};

  it('reports work trees, submodule git dirs, matches and unreadable directories, following no symlink', T, async () => {
    const r = await runHelper(['scan', '--match', '.env', '--match', '*.pem', '--', root], asUser);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(scanRecords(r.stdout), [
      'E\t1',
      `G\t${root}`,
      `G\t${root}/sub/a/b`,
      `G\t${root}/x1/.env/inner`,
      `G\t${root}/x1/x2/x3/x4/deep`,
      // With --match, links to directories are reported (never followed): what a ** deny must also reach through them.
      `L\t${root}/loop`,
      `L\t${root}/x1/outlink`,
      `L\t${root}/x1/x2/back`,
      `M\t${root}/.env`,
      `M\t${root}/.secret.pem`,
      `M\t${root}/key.pem`,
      `M\t${root}/sub/a/b/.env`,
      `M\t${root}/x1/.env`,
      `M\t${root}/x1/x2/.env`,
      `S\t${root}/.git/modules/a/b`,
      `S\t${root}/.git/modules/a/b/modules/nested`,
      `S\t${root}/.git/modules/plain`,
      `S\t${root}/x1/x2/x3/x4/deep/.git/modules/m`,
      // The unreadable directory by name (the step after the run compares them: after-run.ts unreadableWarning).
      `U\t${root}/locked`,
    ]);
    assert.equal(r.stderr, '');
  });

  it('without --match reports no M records; a readable tree reports no E record', T, async () => {
    const r = await runHelper(['scan', '--', join(root, 'sub'), join(root, 'x1')], asUser);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(scanRecords(r.stdout), [`G\t${root}/sub/a/b`, `G\t${root}/x1/.env/inner`, `G\t${root}/x1/x2/x3/x4/deep`, `S\t${root}/x1/x2/x3/x4/deep/.git/modules/m`]);
  });

  it('--max-depth N reads directories at most N levels below the root', T, async () => {
    const r = await runHelper(['scan', '--max-depth', '2', '--match', '.env', '--', root], asUser);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(scanRecords(r.stdout), [
      'E\t1',
      `G\t${root}`,
      `L\t${root}/loop`,
      `L\t${root}/x1/outlink`,
      `L\t${root}/x1/x2/back`,
      `M\t${root}/.env`,
      `M\t${root}/x1/.env`,
      `M\t${root}/x1/x2/.env`,
      `S\t${root}/.git/modules/a/b`,
      `S\t${root}/.git/modules/a/b/modules/nested`,
      `S\t${root}/.git/modules/plain`,
      `U\t${root}/locked`,
    ]);
    const zero = await runHelper(['scan', '--max-depth', '0', '--', root], asUser);
    assert.deepEqual(scanRecords(zero.stdout).filter((l) => l.startsWith('G')), [`G\t${root}`]);
  });

  it('a directory it may list but not search (chmod 600) hides its links: counted as one it could not read (U), with --new-links; searchable, the link is reported', T, async () => {
    const tree = tempDir('cordon-scan-listable-');
    chmodSync(tree, 0o755);
    mkdirSync(join(tree, 'm'));
    symlinkSync('../.git/objects/x', join(tree, 'm', 'foo'));
    chmodSync(join(tree, 'm'), 0o600);
    const as = isRoot ? { uid: 65534, gid: 65534 } : {};
    // Root searches any directory: only an unprivileged scanner meets the lock.
    if (isRoot) for (const d of [tree, join(tree, 'm')]) chownSync(d, 65534, 65534);
    const locked = await runHelper(['scan', '--new-links', '1', '--', tree], as);
    assert.equal(locked.code, 0, locked.stderr);
    assert.deepEqual(scanRecords(locked.stdout), ['E\t1', `U\t${tree}/m`]);
    chmodSync(join(tree, 'm'), 0o700);
    const open = await runHelper(['scan', '--new-links', '1', '--', tree], as);
    assert.deepEqual(scanRecords(open.stdout), [`N\t${tree}/m/foo`]);
  });

  it('--wait-stdin (deferScan): walks only once told to, so it sees the tree as it is then; cancelled, it reads nothing', T, async () => {
    const tree = tempDir('cordon-deferred-');
    mkdirSync(join(tree, 'a'));
    const state = tempDir('cordon-deferred-state-');
    chmodSync(state, 0o700);
    mkdirSync(join(state, 'cache'), { mode: 0o700 }); // as runtimeDir makes it
    const later = deferScan(helper, [tree], [], state);
    await new Promise((r) => setTimeout(r, 100)); // the process is up and waiting
    mkdirSync(join(tree, 'a', 'made-after-start', '.git'), { recursive: true });
    const found = await later.go();
    assert.deepEqual(found.repos, [join(tree, 'a', 'made-after-start')], 'the walk began at go(), not at spawn');
    const cache = readdirSync(join(state, 'cache')).filter((n) => n.startsWith('scan-'));
    assert.equal(cache.length, 1, 'a deferred scan uses (and writes) the same cache as a started one');
    rmSync(join(state, 'cache', cache[0]!));
    const unused = deferScan(helper, [tree], [], state);
    unused.cancel();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(readdirSync(join(state, 'cache')), [], 'skipped: exited without walking (no cache written)');
    const direct = await runHelper(['scan', '--wait-stdin', '--', tree], { stdio: ['ignore', 'pipe', 'pipe'] });
    assert.deepEqual([direct.code, direct.stdout], [0, ''], 'EOF on stdin: exit 0, no records');
  });

  it('normalises roots (trailing slash, relative) and skips roots that do not exist', T, async () => {
    const want = scanRecords((await runHelper(['scan', '--', join(root, 'sub')])).stdout);
    assert.deepEqual(want, [`G\t${root}/sub/a/b`]);
    assert.deepEqual(scanRecords((await runHelper(['scan', '--', `${root}//sub/`, '/nonexistent/cordon'])).stdout), want);
    const rel = await runHelper(['scan', '--', './sub'], { cwd: root });
    assert.equal(rel.code, 0);
    assert.deepEqual(scanRecords(rel.stdout), want);
  });

  it('a directory removed while it is read (getdents64: ENOENT) is gone, not unreadable; any other read error counts', T, async (t) => {
    if (spawnSync('strace', ['-o', '/dev/null', 'true']).status !== 0) return t.skip('strace is not available (or ptrace is not allowed)');
    // strace makes the kernel call fail for real: the state the helper meets when
    // cordon's clean-up removes a placeholder directory the after-run scan has open.
    const scan = (inject: string): string[] => {
      const r = spawnSync('strace', ['-f', '-o', '/dev/null', '-e', 'trace=getdents64', '-e', `inject=getdents64:${inject}:when=2+`, helper, 'scan', '--', join(root, 'x1')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return scanRecords(r.stdout);
    };
    assert.deepEqual(scan('error=ENOENT').filter((l) => l.startsWith('E')), [], 'ENOENT: no unreadable directory');
    assert.deepEqual(scan('error=EIO').filter((l) => l.startsWith('E')), ['E\t3'], 'EIO: each failed read counted (the root\'s second read, .env, x2)');
  });

  it('rejects bad usage with 125', T, async () => {
    for (const args of [['scan'], ['scan', '/tmp'], ['scan', '--max-depth', 'x', '--', '/tmp'], ['scan', '--max-depth', '-1', '--', '/tmp'], ['scan', '--match']]) {
      assert.equal((await runHelper(args)).code, 125, args.join(' '));
    }
    assert.deepEqual(await runHelper(['scan', '--']), { code: 0, signal: null, stdout: '', stderr: '' });
  });

  it('walks 20 000 files and finds every repository (the time is printed; budgets are bench/\'s)', T, async (t) => {
    // tmpfs when there is one: creating 20 000 files on a busy disk can take many seconds.
    const big = tempDir('cordon-scan-big-', isWritableDir('/dev/shm') ? '/dev/shm' : tmpdir());
    let files = 0;
    let repos = 0;
    let dirs = 0;
    const queue = [big];
    while (files < 20_000) {
      const parent = queue.shift()!;
      for (let k = 0; k < 8; k++) {
        const d = join(parent, `d${k}`);
        mkdirSync(d);
        queue.push(d);
        for (let f = 0; f < 10; f++) writeFileSync(join(d, `f${f}.txt`), '');
        files += 10;
        if (++dirs % 100 === 0) {
          mkdirSync(join(d, '.git'));
          repos++;
        }
      }
    }
    await runHelper(['scan', '--', big]); // warm the cache
    const t0 = process.hrtime.bigint();
    const r = await runHelper(['scan', '--match', '.env', '--', big]);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    t.diagnostic(`scan of ${files} files in ${dirs} directories: ${ms.toFixed(1)} ms (including process spawn)`);
    assert.equal(r.code, 0);
    assert.equal(scanRecords(r.stdout).length, repos);
  });
});
