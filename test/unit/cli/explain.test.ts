/**
 * `cordon explain` prints the seccomp rules of the program cordon runs: the
 * options come from the plan (planLinux), and every refusal the table
 * claims is checked against the compiled bytes by the independent BPF
 * interpreter (test/helpers/bpf-interp.ts), for the policies that change it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FsRule, Policy } from '../../../src/policy/policy.js';
import { planLinux } from '../../../src/platform/linux/plan.js';
import { compileSeccompFilter, type SeccompArch } from '../../../src/platform/linux/seccomp.js';
import { printExplain } from '../../../src/cli/explain.js';
import { AUDIT_ARCH, evaluate } from '../../helpers/bpf-interp.js';

const facts = { helper: '/opt/cordon/helper', bwrap: '/usr/bin/bwrap', landlockAbi: 7, helperMounts: false };
const fds = { info: 4, seccomp: 5, ready: 6, block: 7 };
const FACTS = { ...facts, kernel: '6.8.0-test', arch: 'x86_64' as const, stateDir: '/h/.local/state/cordon', env: { HOME: '/h' } };
const r = (path: string, access: FsRule['access']): FsRule => ({ path, access, kind: 'dir', source: 'test' });

function policy(opts: { unixSockets?: string[]; rules?: FsRule[] }): Policy {
  return {
    cwd: '/p', home: '/h', rules: opts.rules ?? [r('/p', 'read-write')], sources: [], warnings: [],
    network: { mode: 'none', modeSource: 'test', allow: [], deny: [], deniedRanges: [], denyPrivateAddresses: false, unixSockets: opts.unixSockets ?? [] },
    watch: [],
  };
}

/** printExplain's output, captured. */
function explain(p: Policy, json: boolean): string {
  const plan = planLinux(p, facts, ['true'], fds);
  const write = process.stdout.write;
  let out = '';
  process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
  try {
    printExplain({ policy: p, plan, facts: FACTS, helper: facts.helper, bwrap: facts.bwrap, scan: { roots: [], patterns: [] } }, json);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

/** The test's own numbers (x86_64 table / asm-generic), not the generator's. */
const NR: Record<string, Record<SeccompArch, number>> = {
  socket: { x86_64: 41, aarch64: 198 },
  socketpair: { x86_64: 53, aarch64: 199 },
  fallocate: { x86_64: 285, aarch64: 47 },
  madvise: { x86_64: 28, aarch64: 233 },
  process_madvise: { x86_64: 440, aarch64: 440 },
  ioctl: { x86_64: 16, aarch64: 29 },
};
const ERRNO: Record<string, number> = { EPERM: 1, ENOSYS: 38, EPROTONOSUPPORT: 93, EOPNOTSUPP: 95, EAFNOSUPPORT: 97 };
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const PUNCH_HOLE_KEEP_SIZE = 0x03;

interface Row { name: string; errno: string; call?: { syscall: string; args: number[] } }

const CASES = [
  { what: 'nothing granted, no no-delete path', p: policy({}), unixStream: false, noDelete: false },
  { what: 'a Unix socket granted', p: policy({ unixSockets: ['/run/agent.sock'] }), unixStream: true, noDelete: false },
  { what: 'a no-delete path', p: policy({ rules: [r('/p', 'read-write-no-delete')] }), unixStream: false, noDelete: true },
];

interface Out { version: number; facts: unknown; plan: { bwrapArgs: string[]; helperArgs: string[]; mounts: { kind: string }[]; seccomp: { options: { unixStream: boolean; noDelete: boolean }; arch: string; program: string; table: Row[] } }; seccomp: Row[] }

test('explain --json prints the plan value itself: facts, typed mounts, the seccomp program\'s bytes (base64) and its table, the launcher\'s options', () => {
  const p = policy({ rules: [r('/p', 'read-write'), { path: '/h/.ssh', access: 'deny-read', kind: 'dir', source: 'test' }] });
  const plan = planLinux(p, facts, ['true'], fds);
  const out = JSON.parse(explain(p, true)) as Out;
  assert.equal(out.version, 2);
  assert.deepEqual(out.facts, FACTS);
  assert.deepEqual(out.plan.bwrapArgs, plan.bwrapArgs);
  assert.deepEqual(out.plan.helperArgs, plan.helperArgs);
  assert.deepEqual(out.plan.mounts.map((m) => m.kind), ['bind-rw', 'tmpfs', 'remount-ro']);
  assert.ok(Buffer.from(out.plan.seccomp.program, 'base64').equals(plan.seccomp.program), 'the program, byte for byte');
  // Everything else, as the value has it (the program aside).
  assert.deepEqual({ ...out.plan, seccomp: { ...out.plan.seccomp, program: '' } }, JSON.parse(JSON.stringify({ ...plan, seccomp: { ...plan.seccomp, program: '' } })));
});

test('explain --json: the plan carries the seccomp options, and each claimed refusal is what the compiled program does', () => {
  for (const c of CASES) {
    const raw = JSON.parse(explain(c.p, true)) as Out;
    const out = { plan: { seccomp: raw.plan.seccomp.options }, seccomp: raw.plan.seccomp.table };
    assert.deepEqual(out.plan.seccomp, { unixStream: c.unixStream, noDelete: c.noDelete }, c.what);
    // The program in the plan is the one compiled from these options for its architecture.
    assert.ok(Buffer.from(raw.plan.seccomp.program, 'base64').equals(compileSeccompFilter(raw.plan.seccomp.arch as SeccompArch, out.plan.seccomp)), c.what);
    for (const arch of ['x86_64', 'aarch64'] as const) {
      const prog = compileSeccompFilter(arch, out.plan.seccomp);
      const run = (syscall: string, args: readonly number[]) => evaluate(prog, { nr: NR[syscall]?.[arch] ?? -2, arch: AUDIT_ARCH[arch], args });
      for (const row of out.seccomp) {
        if (!row.call || !NR[row.call.syscall]) continue; // the outright refusals are checked in test/unit/platform/linux/seccomp.test.ts
        assert.deepEqual(run(row.call.syscall, row.call.args), { action: 'errno', errno: ERRNO[row.errno] }, `${c.what}, ${arch}: ${row.name}`);
      }
      // What each policy changes, read from the table and from the bytes.
      const claimsUnixStreamRefused = out.seccomp.some((row) => row.call?.syscall === 'socket' && row.call.args[0] === AF_UNIX && (row.call.args[1]! & 0xf) === SOCK_STREAM);
      assert.equal(claimsUnixStreamRefused, !c.unixStream, `${c.what}: the table on socket(AF_UNIX, SOCK_STREAM)`);
      assert.deepEqual(run('socket', [AF_UNIX, SOCK_STREAM, 0]), c.unixStream ? { action: 'allow' } : { action: 'errno', errno: ERRNO.EPERM });
      assert.equal(out.seccomp.some((row) => row.call?.syscall === 'fallocate'), c.noDelete, `${c.what}: the table on fallocate`);
      assert.deepEqual(run('fallocate', [3, PUNCH_HOLE_KEEP_SIZE, 0, 4096]), c.noDelete ? { action: 'errno', errno: ERRNO.EOPNOTSUPP } : { action: 'allow' });
    }
  }
});

test('explain (text) prints the same rows, and says which options are in force', () => {
  for (const c of CASES) {
    const text = explain(c.p, false);
    const rows = (JSON.parse(explain(c.p, true)) as Out).plan.seccomp.table;
    for (const row of rows) assert.ok(text.includes(`  ${row.name} (${row.errno}): `), `${c.what}: ${row.name}`);
    assert.match(text, c.unixStream ? /seccomp refuses \(stream Unix sockets granted;/ : /seccomp refuses \(no Unix socket granted;/);
    assert.match(text, c.noDelete ? /; no-delete paths: data-destroying calls refused\):/ : /; no no-delete path\):/);
    assert.equal(text.includes('socket(AF_UNIX) (EPERM)'), !c.unixStream, c.what);
  }
});
