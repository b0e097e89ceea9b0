/**
 * The seccomp filter under the real kernel: a C probe tries each refused call
 * from inside bubblewrap, with the filter on fd 3, and must get exactly the
 * errno cordon promises. A control run without the filter must answer
 * differently (otherwise the probe proves nothing), and ordinary programs
 * (sh, python3, node) must still run under the filter.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { compileSeccompFilter, hostSeccompArch, type SeccompArch } from '../../../../src/platform/linux/seccomp.js';
import { buildSeccompProbe, bwrapUnavailable, runUnderBwrap, type RunResult } from '../../../helpers/bwrap-seccomp.js';

function supportedArch(): SeccompArch | null {
  try {
    return hostSeccompArch();
  } catch {
    return null;
  }
}

const arch = supportedArch();
// Compiled before the probe is built, so a generator bug cannot leave a temp dir behind.
const filter = arch ? compileSeccompFilter(arch) : Buffer.alloc(0);
const unavailable = arch === null ? `no seccomp filter for ${process.arch}` : bwrapUnavailable();
const probe = unavailable ? null : buildSeccompProbe();
const skip: string | false = unavailable ?? (typeof probe === 'string' ? probe : false);
const probePath = probe && typeof probe !== 'string' ? probe.path : '';
after(() => {
  if (probe && typeof probe !== 'string') probe.cleanup();
});

/** Probe name → the exact answer under the filter. */
const DENIED: Record<string, string> = {
  'unshare-user': 'EPERM',
  'unshare-net': 'EPERM',
  'unshare-mount': 'EPERM',
  'unshare-time': 'EPERM',
  'unshare-user-hibit': 'EPERM',
  'clone-newuser': 'EPERM',
  'clone-newuser-hibit': 'EPERM',
  'clone-newpid': 'EPERM',
  'clone-newnet': 'EPERM',
  clone3: 'ENOSYS',
  setns: 'EPERM',
  mount: 'EPERM',
  umount2: 'EPERM',
  pivot_root: 'EPERM',
  open_tree: 'EPERM',
  open_tree_attr: 'EPERM',
  move_mount: 'EPERM',
  fsopen: 'EPERM',
  fsconfig: 'EPERM',
  fsmount: 'EPERM',
  fspick: 'EPERM',
  mount_setattr: 'EPERM',
  io_uring_setup: 'EPERM',
  io_uring_enter: 'EPERM',
  io_uring_register: 'EPERM',
  keyctl: 'EPERM',
  add_key: 'EPERM',
  request_key: 'EPERM',
  bpf: 'EPERM',
  perf_event_open: 'EPERM',
  userfaultfd: 'EPERM',
  kexec_load: 'EPERM',
  kexec_file_load: 'EPERM',
  init_module: 'EPERM',
  finit_module: 'EPERM',
  delete_module: 'EPERM',
  open_by_handle_at: 'EPERM',
  tiocsti: 'EPERM',
  'tiocsti-hibit': 'EPERM',
  tioclinux: 'EPERM',
  'unix-socket': 'EPERM',
  'unix-socket-hibit': 'EPERM',
  'unix-dgram': 'EPERM',
};

/** Probe name → the answer under the filter for calls that must keep working. */
const ALLOWED: Record<string, string> = {
  'unshare-files': 'OK',
  'clone-plain': 'OK',
  fork: 'OK',
  thread: 'OK', // glibc's pthread_create: clone3 gets ENOSYS, the clone fallback succeeds
  socketpair: 'OK',
  'inet-socket': 'OK',
  tcgets: 'OK',
  ptrace: 'OK',
  'nr-minus-one': 'ENOSYS', // the kernel's own answer: the filter lets it through
};

/**
 * Probes whose arguments make the kernel answer something other than the
 * filter's errno on any kernel (success, EBADF, ENOENT, or ENOSYS where the
 * feature is compiled out), independent of sysctls and capabilities.
 */
const MUST_DIFFER_WITHOUT_FILTER = [
  'clone3', 'setns', 'umount2', 'open_tree', 'io_uring_enter',
  'tiocsti', 'tiocsti-hibit', 'tioclinux', 'unix-socket', 'unix-socket-hibit', 'unix-dgram',
];

const SIGSYS_EXIT = 128 + 31; // bwrap's pid 1 reports a signalled child as 128 + signal

function answer(r: RunResult): string {
  return r.code === 0 ? r.stdout.trim() : `exit ${r.code ?? r.signal}: ${r.stderr.trim()}`;
}

async function probeUnder(name: string, withFilter: boolean): Promise<RunResult> {
  return runUnderBwrap([probePath, name], withFilter ? filter : null);
}

test('each refused call gets the exact errno under the filter', { skip }, async () => {
  const failures: string[] = [];
  for (const [name, expected] of Object.entries(DENIED)) {
    const got = answer(await probeUnder(name, true));
    if (got !== expected) failures.push(`${name}: expected ${expected}, got ${got}`);
  }
  assert.deepEqual(failures, []);
});

test('calls that must keep working still work under the filter', { skip }, async () => {
  const failures: string[] = [];
  for (const [name, expected] of Object.entries(ALLOWED)) {
    const got = answer(await probeUnder(name, true));
    if (got !== expected) failures.push(`${name}: expected ${expected}, got ${got}`);
  }
  assert.deepEqual(failures, []);
});

test('x86_64: an x32 syscall kills the process (SIGSYS)', { skip: skip || (arch !== 'x86_64' && 'x32 exists only on x86_64') }, async () => {
  const filtered = await probeUnder('x32', true);
  assert.equal(filtered.code, SIGSYS_EXIT, `expected death by SIGSYS, got ${answer(filtered)}`);
  assert.equal(filtered.stdout, '');
  const control = await probeUnder('x32', false);
  assert.equal(control.code, 0, `without the filter the probe survives: ${answer(control)}`);
});

test('control: without the filter the kernel answers differently, so the probes can fail', { skip }, async (t) => {
  const differing: string[] = [];
  for (const [name, expected] of Object.entries(DENIED)) {
    const control = answer(await probeUnder(name, false));
    t.diagnostic(`${name}: without filter ${control}, with filter ${expected}`);
    if (control !== expected) differing.push(name);
  }
  for (const name of MUST_DIFFER_WITHOUT_FILTER) assert.ok(differing.includes(name), `${name} gives ${DENIED[name]} even without the filter`);
  // And the allowed probes behave the same either way.
  for (const [name, expected] of Object.entries(ALLOWED)) assert.equal(answer(await probeUnder(name, false)), expected, `${name} without filter`);
});

test('ordinary programs run under the filter', { skip }, async () => {
  const sh = await runUnderBwrap(['/bin/sh', '-c', 'echo ok'], filter);
  assert.equal(sh.code, 0, sh.stderr);
  assert.equal(sh.stdout, 'ok\n');

  const node = await runUnderBwrap([process.execPath, '-e', 'console.log(1)'], filter);
  assert.equal(node.code, 0, node.stderr);
  assert.equal(node.stdout, '1\n');

  // libuv's io_uring path, forced on: io_uring_setup gets EPERM and libuv falls back to its thread pool.
  const nodeFs = await runUnderBwrap(
    ['/usr/bin/env', 'UV_USE_IO_URING=1', process.execPath, '-e',
      "require('fs').promises.readFile('/etc/passwd','utf8').then(s=>console.log(s.length>0))"],
    filter,
  );
  assert.equal(nodeFs.code, 0, nodeFs.stderr);
  assert.equal(nodeFs.stdout, 'true\n');
});

const python = spawnSync('python3', ['-c', ''], { stdio: 'ignore' }).status === 0 ? 'python3' : null;
test('python3 runs under the filter', { skip: skip || (python === null && 'python3 is not installed') }, async () => {
  const r = await runUnderBwrap(['python3', '-c', 'import os; print(os.getpid())'], filter);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\d+\n$/);
});
