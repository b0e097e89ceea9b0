/**
 * The seccomp program, run in a classic-BPF interpreter on synthetic
 * seccomp_data. Syscall numbers here are a second, independent copy (checked
 * against the kernel's x86_64 and asm-generic tables), so a wrong number in
 * the generator fails a test instead of silently allowing the call.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileSeccompFilter,
  hostSeccompArch,
  seccompDenials,
  type SeccompArch,
  type SeccompOptions,
} from '../../../../src/platform/linux/seccomp.js';
import { CordonError } from '../../../../src/errors.js';
import { AUDIT_ARCH, checkSeccompProgram, decodeProgram, evaluate, type SeccompVerdict } from '../../../helpers/bpf-interp.js';

const ARCHES: readonly SeccompArch[] = ['x86_64', 'aarch64'];
const EPERM = 1;
const ENOSYS = 38;

type Nr = Record<SeccompArch, number>;
const NR: Record<string, Nr> = {
  read: { x86_64: 0, aarch64: 63 },
  write: { x86_64: 1, aarch64: 64 },
  openat: { x86_64: 257, aarch64: 56 },
  close: { x86_64: 3, aarch64: 57 },
  execve: { x86_64: 59, aarch64: 221 },
  getpid: { x86_64: 39, aarch64: 172 },
  ptrace: { x86_64: 101, aarch64: 117 },
  seccomp: { x86_64: 317, aarch64: 277 },
  prctl: { x86_64: 157, aarch64: 167 },
  chroot: { x86_64: 161, aarch64: 51 },
  connect: { x86_64: 42, aarch64: 203 },
  ioctl: { x86_64: 16, aarch64: 29 },
  socket: { x86_64: 41, aarch64: 198 },
  socketpair: { x86_64: 53, aarch64: 199 },
  fallocate: { x86_64: 285, aarch64: 47 },
  madvise: { x86_64: 28, aarch64: 233 },
  process_madvise: { x86_64: 440, aarch64: 440 },
  clone: { x86_64: 56, aarch64: 220 },
  clone3: { x86_64: 435, aarch64: 435 },
  unshare: { x86_64: 272, aarch64: 97 },
  setns: { x86_64: 308, aarch64: 268 },
  mount: { x86_64: 165, aarch64: 40 },
  umount2: { x86_64: 166, aarch64: 39 },
  pivot_root: { x86_64: 155, aarch64: 41 },
  open_tree: { x86_64: 428, aarch64: 428 },
  move_mount: { x86_64: 429, aarch64: 429 },
  fsopen: { x86_64: 430, aarch64: 430 },
  fsconfig: { x86_64: 431, aarch64: 431 },
  fsmount: { x86_64: 432, aarch64: 432 },
  fspick: { x86_64: 433, aarch64: 433 },
  mount_setattr: { x86_64: 442, aarch64: 442 },
  open_tree_attr: { x86_64: 467, aarch64: 467 },
  io_uring_setup: { x86_64: 425, aarch64: 425 },
  io_uring_enter: { x86_64: 426, aarch64: 426 },
  io_uring_register: { x86_64: 427, aarch64: 427 },
  keyctl: { x86_64: 250, aarch64: 219 },
  add_key: { x86_64: 248, aarch64: 217 },
  request_key: { x86_64: 249, aarch64: 218 },
  bpf: { x86_64: 321, aarch64: 280 },
  perf_event_open: { x86_64: 298, aarch64: 241 },
  userfaultfd: { x86_64: 323, aarch64: 282 },
  kexec_load: { x86_64: 246, aarch64: 104 },
  kexec_file_load: { x86_64: 320, aarch64: 294 },
  init_module: { x86_64: 175, aarch64: 105 },
  finit_module: { x86_64: 313, aarch64: 273 },
  delete_module: { x86_64: 176, aarch64: 106 },
  open_by_handle_at: { x86_64: 304, aarch64: 265 },
};

const DENIED_OUTRIGHT = [
  'setns',
  'mount', 'umount2', 'pivot_root', 'open_tree', 'open_tree_attr', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr',
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'keyctl', 'add_key', 'request_key',
  'bpf', 'perf_event_open', 'userfaultfd',
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'open_by_handle_at',
];

const CLONE = {
  NEWTIME: 0x80, NEWNS: 0x20000, NEWCGROUP: 0x02000000, NEWUTS: 0x04000000, NEWIPC: 0x08000000,
  NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000,
} as const;
const SIGCHLD = 17;
const HIGH = 1n << 32n;

const programs = new Map(ARCHES.map((a) => [a, compileSeccompFilter(a)]));
function program(arch: SeccompArch): Buffer {
  return programs.get(arch)!;
}

function call(arch: SeccompArch, name: string, args: readonly (number | bigint)[] = []): SeccompVerdict {
  const nr = NR[name]?.[arch];
  assert.ok(nr !== undefined, `no syscall number for ${name}`);
  return evaluate(program(arch), { nr, arch: AUDIT_ARCH[arch], args });
}

const ALLOW: SeccompVerdict = { action: 'allow' };
const DENY_EPERM: SeccompVerdict = { action: 'errno', errno: EPERM };
const DENY_ENOSYS: SeccompVerdict = { action: 'errno', errno: ENOSYS };
const KILL: SeccompVerdict = { action: 'kill_process' };

test('the program is valid classic BPF, well under the kernel limit, and deterministic', () => {
  for (const arch of ARCHES) {
    const bytes = program(arch);
    assert.equal(bytes.length % 8, 0);
    const prog = decodeProgram(bytes);
    checkSeccompProgram(prog);
    assert.ok(prog.length < 256, `${arch}: ${prog.length} instructions`);
    assert.deepEqual(compileSeccompFilter(arch), bytes);
    // The very first thing it does is load seccomp_data.arch (offset 4).
    assert.deepEqual(prog[0], { code: 0x20, jt: 0, jf: 0, k: 4 });
  }
  assert.notDeepEqual(program('x86_64'), program('aarch64'));
});

test('a foreign architecture is killed before the number is looked at', () => {
  const foreign: Record<SeccompArch, number[]> = {
    x86_64: [AUDIT_ARCH.aarch64, AUDIT_ARCH.i386, AUDIT_ARCH.arm, AUDIT_ARCH.riscv64, 0, 0xffffffff, AUDIT_ARCH.x86_64 ^ 0x80000000],
    aarch64: [AUDIT_ARCH.x86_64, AUDIT_ARCH.i386, AUDIT_ARCH.arm, AUDIT_ARCH.riscv64, 0, 0xffffffff],
  };
  for (const arch of ARCHES) {
    for (const other of foreign[arch]) {
      for (const nr of [0, 1, 39, 41, 63, 102 /* i386 socketcall */, 172, 435]) {
        assert.deepEqual(evaluate(program(arch), { nr, arch: other }), KILL, `${arch} filter, arch 0x${other.toString(16)}, nr ${nr}`);
      }
    }
  }
});

test('x86_64: the x32 ABI (bit 30 of the number) is killed; nr -1 is not', () => {
  for (const nr of [0x40000000, 0x40000000 | 39, 0x40000000 | 41, 0x40000000 | 56, 0x40000000 | 272, 0x40000000 | 435, 0x7fffffff, 0xc0000000]) {
    assert.deepEqual(evaluate(program('x86_64'), { nr, arch: AUDIT_ARCH.x86_64, args: [1] }), KILL, `nr 0x${nr.toString(16)}`);
  }
  // -1 is what ptrace tools write to skip a call; the kernel answers ENOSYS itself.
  assert.deepEqual(evaluate(program('x86_64'), { nr: -1, arch: AUDIT_ARCH.x86_64 }), ALLOW);
  // aarch64 has no x32: such numbers do not exist there and the kernel answers ENOSYS.
  assert.deepEqual(evaluate(program('aarch64'), { nr: 0x40000000 | 63, arch: AUDIT_ARCH.aarch64 }), ALLOW);
});

test('every outright-denied syscall answers EPERM on both arches, whatever the arguments', () => {
  for (const arch of ARCHES) {
    for (const name of DENIED_OUTRIGHT) {
      for (const args of [[], [0, 0, 0, 0, 0, 0], [-1, -1n, 0xffffffffffffffffn, 1, 2, 3]]) {
        assert.deepEqual(call(arch, name, args), DENY_EPERM, `${arch} ${name}(${args.join(',')})`);
      }
    }
  }
});

test('clone3 answers ENOSYS so libc falls back to clone', () => {
  for (const arch of ARCHES) {
    assert.deepEqual(call(arch, 'clone3', [0, 64]), DENY_ENOSYS);
    assert.deepEqual(call(arch, 'clone3', [0x7fff0000, 88]), DENY_ENOSYS);
  }
});

test('unshare with any CLONE_NEW* flag is EPERM; other unshare flags are allowed', () => {
  for (const arch of ARCHES) {
    for (const [name, flag] of Object.entries(CLONE)) {
      assert.deepEqual(call(arch, 'unshare', [flag]), DENY_EPERM, `${arch} unshare(CLONE_${name})`);
      assert.deepEqual(call(arch, 'unshare', [flag | 0x400 /* CLONE_FILES */]), DENY_EPERM);
      // High-bit trick: garbage above bit 31 must not hide the flag.
      assert.deepEqual(call(arch, 'unshare', [0xffffffff00000000n | BigInt(flag)]), DENY_EPERM, `${arch} unshare(hi|CLONE_${name})`);
    }
    assert.deepEqual(call(arch, 'unshare', [Object.values(CLONE).reduce((a: number, b: number) => a | b, 0)]), DENY_EPERM);
    assert.deepEqual(call(arch, 'unshare', [0x400 /* CLONE_FILES */]), ALLOW);
    assert.deepEqual(call(arch, 'unshare', [0x200 | 0x400 /* CLONE_FS|CLONE_FILES */]), ALLOW);
    // A flag only in the high half is ignored by the filter: the kernel rejects high bits with EINVAL.
    assert.deepEqual(call(arch, 'unshare', [BigInt(CLONE.NEWUSER) << 32n]), ALLOW);
  }
});

test('clone: flags are arg0 on both arches; any CLONE_NEW* is EPERM, forks and threads are allowed', () => {
  const namespaceFlags = Object.entries(CLONE).filter(([n]) => n !== 'NEWTIME');
  for (const arch of ARCHES) {
    for (const [name, flag] of namespaceFlags) {
      assert.deepEqual(call(arch, 'clone', [flag | SIGCHLD]), DENY_EPERM, `${arch} clone(CLONE_${name})`);
      assert.deepEqual(call(arch, 'clone', [HIGH | BigInt(flag | SIGCHLD), 0, 0, 0, 0]), DENY_EPERM, `${arch} clone(hi|CLONE_${name})`);
      assert.deepEqual(call(arch, 'clone', [0xdead_beef_0000_0000n | BigInt(flag)]), DENY_EPERM);
      // The flag in another argument is not the flags word.
      assert.deepEqual(call(arch, 'clone', [SIGCHLD, flag, flag, flag, flag]), ALLOW);
    }
    assert.deepEqual(call(arch, 'clone', [SIGCHLD]), ALLOW, 'plain fork');
    assert.deepEqual(call(arch, 'clone', [0x01200011]), ALLOW, 'glibc fork: CHILD_SETTID|CHILD_CLEARTID|SIGCHLD');
    assert.deepEqual(call(arch, 'clone', [0x003d0f00]), ALLOW, 'glibc pthread_create flags');
    assert.deepEqual(call(arch, 'clone', [0x00004111]), ALLOW, 'vfork-style CLONE_VM|CLONE_VFORK|SIGCHLD');
    // 0x80 in clone's flags is part of the exit signal (CSIGNAL), not CLONE_NEWTIME:
    // the kernel masks CSIGNAL off, so no time namespace can come from clone().
    assert.deepEqual(call(arch, 'clone', [0x80]), ALLOW);
  }
});

test('ioctl TIOCSTI / TIOCLINUX are EPERM on the low 32 bits of the request; others are allowed', () => {
  for (const arch of ARCHES) {
    for (const req of [0x5412, 0x541c]) {
      assert.deepEqual(call(arch, 'ioctl', [0, req, 0]), DENY_EPERM, `${arch} ioctl 0x${req.toString(16)}`);
      assert.deepEqual(call(arch, 'ioctl', [-1, HIGH | BigInt(req), 0]), DENY_EPERM, `${arch} ioctl hi|0x${req.toString(16)}`);
      assert.deepEqual(call(arch, 'ioctl', [1, 0xffffffff00000000n | BigInt(req)]), DENY_EPERM);
      // The request in the fd slot, or only in the high half (the kernel sees 0), is not TIOCSTI.
      assert.deepEqual(call(arch, 'ioctl', [req, 0x5401]), ALLOW);
      assert.deepEqual(call(arch, 'ioctl', [0, BigInt(req) << 32n]), ALLOW);
    }
    for (const req of [0x5401 /* TCGETS */, 0x5402 /* TCSETS */, 0x5413 /* TIOCGWINSZ */, 0x541b /* FIONREAD */, 0x5421 /* FIONBIO */, 0x5411, 0x5413, 0x541d]) {
      assert.deepEqual(call(arch, 'ioctl', [0, req, 0]), ALLOW, `${arch} ioctl 0x${req.toString(16)}`);
    }
  }
});

test('with Unix socket grants: stream Unix sockets are allowed, other types stay EPERM, whatever the flag bits', () => {
  const AF_UNIX = 1, AF_INET = 2, SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
  for (const arch of ARCHES) {
    const prog = compileSeccompFilter(arch, { unixStream: true });
    checkSeccompProgram(decodeProgram(prog));
    const sock = (args: (number | bigint)[]) => evaluate(prog, { nr: NR.socket![arch], arch: AUDIT_ARCH[arch], args });
    assert.deepEqual(sock([AF_UNIX, SOCK_STREAM, 0]), ALLOW);
    assert.deepEqual(sock([AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0]), ALLOW);
    assert.deepEqual(sock([AF_UNIX, (HIGH | BigInt(SOCK_STREAM)), 0]), ALLOW, 'the kernel reads the type as an int');
    assert.deepEqual(sock([AF_UNIX, SOCK_DGRAM, 0]), DENY_EPERM);
    assert.deepEqual(sock([AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0]), DENY_EPERM);
    assert.deepEqual(sock([AF_UNIX, SOCK_SEQPACKET, 0]), DENY_EPERM);
    assert.deepEqual(sock([AF_UNIX, 0x10 | SOCK_DGRAM, 0]), DENY_EPERM, 'a stray bit above the type mask does not make it a stream');
    assert.deepEqual(sock([AF_INET, SOCK_DGRAM, 0]), ALLOW);
    // Everything else in the filter is unchanged.
    assert.deepEqual(evaluate(prog, { nr: NR.unshare![arch], arch: AUDIT_ARCH[arch], args: [0x10000000] }), DENY_EPERM);
  }
});

const AF = { UNSPEC: 0, UNIX: 1, INET: 2, INET6: 10, KEY: 15, NETLINK: 16, PACKET: 17, BLUETOOTH: 31, TIPC: 30, ALG: 38, VSOCK: 40, MCTP: 45 } as const;
const SOCK = { STREAM: 1, DGRAM: 2, RAW: 3, RDM: 4, SEQPACKET: 5, DCCP: 6, PACKET: 10, NONBLOCK: 0x800, CLOEXEC: 0x80000 } as const;
const EAFNOSUPPORT = 97;
const EPROTONOSUPPORT = 93;
const EOPNOTSUPP = 95;
const DENY_EAFNOSUPPORT: SeccompVerdict = { action: 'errno', errno: EAFNOSUPPORT };
const DENY_EPROTONOSUPPORT: SeccompVerdict = { action: 'errno', errno: EPROTONOSUPPORT };
const DENY_EOPNOTSUPP: SeccompVerdict = { action: 'errno', errno: EOPNOTSUPP };

const OPTION_SETS: readonly SeccompOptions[] = [
  { unixStream: false, noDelete: false },
  { unixStream: true, noDelete: false },
  { unixStream: false, noDelete: true },
  { unixStream: true, noDelete: true },
];
function callWith(opts: Partial<SeccompOptions>, arch: SeccompArch, name: string, args: readonly (number | bigint)[] = []): SeccompVerdict {
  const nr = NR[name]?.[arch];
  assert.ok(nr !== undefined, `no syscall number for ${name}`);
  return evaluate(compileSeccompFilter(arch, opts), { nr, arch: AUDIT_ARCH[arch], args });
}

test('socket: only AF_INET, AF_INET6, AF_NETLINK (and AF_UNIX as granted) exist; every other family is EAFNOSUPPORT', () => {
  for (const opts of OPTION_SETS) {
    for (const arch of ARCHES) {
      const sock = (args: (number | bigint)[]) => callWith(opts, arch, 'socket', args);
      for (let family = 0; family < 64; family++) {
        const expected: SeccompVerdict = family === AF.INET || family === AF.INET6 || family === AF.NETLINK ? ALLOW : family === AF.UNIX ? DENY_EPERM : DENY_EAFNOSUPPORT;
        assert.deepEqual(sock([family, SOCK.DGRAM, 0]), expected, `${arch} ${JSON.stringify(opts)} socket(${family}, SOCK_DGRAM)`);
      }
      for (const family of [AF.VSOCK, AF.PACKET, AF.ALG, AF.KEY, AF.BLUETOOTH, AF.TIPC, AF.MCTP, 46, 255, 0x7fffffff, -1]) {
        for (const type of [SOCK.STREAM, SOCK.DGRAM, SOCK.RAW, SOCK.SEQPACKET | SOCK.CLOEXEC]) {
          assert.deepEqual(sock([family, type, 0]), DENY_EAFNOSUPPORT, `${arch} socket(${family}, ${type})`);
        }
      }
      // The kernel reads the domain as an int: high bits neither hide a family nor forge one.
      assert.deepEqual(sock([HIGH | BigInt(AF.VSOCK), SOCK.STREAM, 0]), DENY_EAFNOSUPPORT);
      assert.deepEqual(sock([0xffffffff00000000n | BigInt(AF.PACKET), SOCK.RAW, 0]), DENY_EAFNOSUPPORT);
      assert.deepEqual(sock([HIGH | BigInt(AF.INET), SOCK.STREAM, 0]), ALLOW);
      assert.deepEqual(sock([HIGH | BigInt(AF.UNIX), SOCK.STREAM, 0]), opts.unixStream ? ALLOW : DENY_EPERM, 'high-bit trick on the domain');
      // Family values in the type or protocol are not the family.
      assert.deepEqual(sock([AF.INET, AF.VSOCK, AF.VSOCK]), ALLOW);
      assert.deepEqual(sock([AF.INET6, SOCK.STREAM, AF.PACKET]), ALLOW);
    }
  }
});

test('socket(AF_INET, SOCK_PACKET) is EAFNOSUPPORT (the kernel makes it an AF_PACKET socket); AF_INET6 has no such alias', () => {
  for (const arch of ARCHES) {
    assert.deepEqual(call(arch, 'socket', [AF.INET, SOCK.PACKET, 0x300]), DENY_EAFNOSUPPORT);
    assert.deepEqual(call(arch, 'socket', [AF.INET, SOCK.PACKET | SOCK.CLOEXEC | SOCK.NONBLOCK, 0]), DENY_EAFNOSUPPORT);
    assert.deepEqual(call(arch, 'socket', [AF.INET, HIGH | BigInt(SOCK.PACKET), 0]), DENY_EAFNOSUPPORT);
    assert.deepEqual(call(arch, 'socket', [AF.INET6, SOCK.PACKET, 0]), ALLOW);
    for (const type of [SOCK.STREAM, SOCK.DGRAM, SOCK.RAW, SOCK.SEQPACKET, SOCK.DGRAM | SOCK.CLOEXEC]) {
      assert.deepEqual(call(arch, 'socket', [AF.INET, type, 0]), ALLOW, `${arch} socket(AF_INET, ${type})`);
      assert.deepEqual(call(arch, 'socket', [AF.INET6, type, 0]), ALLOW);
    }
  }
});

test('socket(AF_NETLINK): NETLINK_ROUTE and NETLINK_SOCK_DIAG only; other protocols are EPROTONOSUPPORT', () => {
  for (const arch of ARCHES) {
    for (const type of [SOCK.RAW, SOCK.DGRAM | SOCK.CLOEXEC]) {
      assert.deepEqual(call(arch, 'socket', [AF.NETLINK, type, 0]), ALLOW, 'NETLINK_ROUTE');
      assert.deepEqual(call(arch, 'socket', [AF.NETLINK, type, 4]), ALLOW, 'NETLINK_SOCK_DIAG');
      for (let proto = 1; proto < 32; proto++) {
        if (proto === 4) continue;
        assert.deepEqual(call(arch, 'socket', [AF.NETLINK, type, proto]), DENY_EPROTONOSUPPORT, `${arch} netlink protocol ${proto}`);
      }
      assert.deepEqual(call(arch, 'socket', [AF.NETLINK, type, -1]), DENY_EPROTONOSUPPORT);
      // The protocol is an int too.
      assert.deepEqual(call(arch, 'socket', [AF.NETLINK, type, HIGH | 16n]), DENY_EPROTONOSUPPORT);
      assert.deepEqual(call(arch, 'socket', [AF.NETLINK, type, HIGH]), ALLOW);
    }
  }
});

test('socket(AF_UNIX) is EPERM whatever the type when nothing is granted', () => {
  for (const arch of ARCHES) {
    for (const type of [SOCK.STREAM, SOCK.DGRAM, SOCK.RAW, SOCK.SEQPACKET, SOCK.STREAM | SOCK.CLOEXEC, 0]) {
      assert.deepEqual(call(arch, 'socket', [AF.UNIX, type, 0]), DENY_EPERM, `${arch} socket(AF_UNIX, ${type})`);
    }
    assert.deepEqual(call(arch, 'socket', [0xffffffff00000001n, SOCK.STREAM, 0]), DENY_EPERM);
    assert.deepEqual(call(arch, 'connect', [3, 0x7ffc0000, 110]), ALLOW, 'connect itself is not filtered: nothing can reach it');
  }
});

test('socketpair: AF_UNIX stream and seqpacket only; datagram (and raw, which af_unix makes datagram) is EPERM; other families EAFNOSUPPORT', () => {
  for (const opts of OPTION_SETS) {
    for (const arch of ARCHES) {
      const pair = (args: (number | bigint)[]) => callWith(opts, arch, 'socketpair', [...args, 0x7ffc0000]);
      for (const type of [SOCK.STREAM, SOCK.SEQPACKET]) {
        for (const flags of [0, SOCK.CLOEXEC, SOCK.NONBLOCK, SOCK.CLOEXEC | SOCK.NONBLOCK]) {
          assert.deepEqual(pair([AF.UNIX, type | flags, 0]), ALLOW, `${arch} socketpair(AF_UNIX, ${type | flags})`);
        }
        assert.deepEqual(pair([AF.UNIX, HIGH | BigInt(type), 0]), ALLOW, 'the kernel reads the type as an int');
        assert.deepEqual(pair([HIGH | BigInt(AF.UNIX), type, 0]), ALLOW);
      }
      for (let type = 0; type < 16; type++) {
        if (type === SOCK.STREAM || type === SOCK.SEQPACKET) continue;
        assert.deepEqual(pair([AF.UNIX, type, 0]), DENY_EPERM, `${arch} ${JSON.stringify(opts)} socketpair(AF_UNIX, ${type})`);
        assert.deepEqual(pair([AF.UNIX, type | SOCK.CLOEXEC | SOCK.NONBLOCK, 0]), DENY_EPERM);
      }
      assert.deepEqual(pair([AF.UNIX, 0x10 | SOCK.DGRAM, 0]), DENY_EPERM, 'a stray bit above the type mask does not make it a stream');
      assert.deepEqual(pair([AF.UNIX, HIGH | BigInt(SOCK.DGRAM), 0]), DENY_EPERM, 'nor do high bits');
      assert.deepEqual(pair([AF.UNIX, SOCK.STREAM << 4, 0]), DENY_EPERM);
      for (const family of [AF.UNSPEC, AF.INET, AF.INET6, AF.NETLINK, AF.TIPC, AF.VSOCK, AF.PACKET, 0x7fffffff]) {
        for (const type of [SOCK.STREAM, SOCK.DGRAM, SOCK.SEQPACKET]) {
          assert.deepEqual(pair([family, type, 0]), DENY_EAFNOSUPPORT, `${arch} socketpair(${family}, ${type})`);
        }
      }
      assert.deepEqual(pair([HIGH | BigInt(AF.TIPC), SOCK.STREAM, 0]), DENY_EAFNOSUPPORT);
    }
  }
});

const FALLOC = { KEEP_SIZE: 0x01, PUNCH_HOLE: 0x02, NO_HIDE_STALE: 0x04, COLLAPSE_RANGE: 0x08, ZERO_RANGE: 0x10, INSERT_RANGE: 0x20, UNSHARE_RANGE: 0x40, WRITE_ZEROES: 0x80 } as const;
/** _IOW('X', nr, struct space_resv): dir 1 << 30, size 48 << 16, type 'X' << 8. */
const iowX = (nr: number) => (0x40000000 | (48 << 16) | (0x58 << 8) | nr) >>> 0;
const SPACE_IOCTLS: Record<string, number> = {
  FS_IOC_UNRESVSP: iowX(41), FS_IOC_UNRESVSP64: iowX(43), FS_IOC_ZERO_RANGE: iowX(57),
  XFS_IOC_ALLOCSP: iowX(10), XFS_IOC_FREESP: iowX(11), XFS_IOC_ALLOCSP64: iowX(36), XFS_IOC_FREESP64: iowX(37),
};
const MADV_REMOVE = 9;

test('no-delete: fallocate modes that lose data, MADV_REMOVE and the space ioctls are EOPNOTSUPP; keeping modes stay allowed', () => {
  for (const arch of ARCHES) {
    const nd = (name: string, args: (number | bigint)[]) => callWith({ noDelete: true }, arch, name, args);
    for (const mode of [FALLOC.PUNCH_HOLE | FALLOC.KEEP_SIZE, FALLOC.PUNCH_HOLE, FALLOC.COLLAPSE_RANGE, FALLOC.ZERO_RANGE, FALLOC.ZERO_RANGE | FALLOC.KEEP_SIZE,
      FALLOC.INSERT_RANGE, FALLOC.WRITE_ZEROES, FALLOC.NO_HIDE_STALE, 0x100, 0x80000000, -1]) {
      assert.deepEqual(nd('fallocate', [3, mode, 0, 4096]), DENY_EOPNOTSUPP, `${arch} fallocate mode 0x${(mode >>> 0).toString(16)}`);
      assert.deepEqual(nd('fallocate', [3, HIGH | BigInt(mode >>> 0), 0, 4096]), DENY_EOPNOTSUPP);
    }
    for (const mode of [0, FALLOC.KEEP_SIZE, FALLOC.UNSHARE_RANGE, FALLOC.UNSHARE_RANGE | FALLOC.KEEP_SIZE]) {
      assert.deepEqual(nd('fallocate', [3, mode, 0, 4096]), ALLOW, `${arch} fallocate mode ${mode}`);
      // Bits above the int are not seen by the kernel; the mode in another argument is not the mode.
      assert.deepEqual(nd('fallocate', [3, (0xffffffffn << 32n) | BigInt(mode), FALLOC.PUNCH_HOLE, FALLOC.PUNCH_HOLE]), ALLOW);
    }
    assert.deepEqual(nd('madvise', [0x10000, 4096, MADV_REMOVE]), DENY_EOPNOTSUPP);
    assert.deepEqual(nd('madvise', [0x10000, 4096, HIGH | BigInt(MADV_REMOVE)]), DENY_EOPNOTSUPP);
    for (const advice of [0, 1, 2, 3, 4 /* DONTNEED */, 8 /* FREE */, 10, 14, 20, 21, 25]) assert.deepEqual(nd('madvise', [0x10000, 4096, advice]), ALLOW, `madvise ${advice}`);
    assert.deepEqual(nd('madvise', [MADV_REMOVE, MADV_REMOVE, 4]), ALLOW);
    assert.deepEqual(nd('process_madvise', [3, 0x10000, 1, MADV_REMOVE, 0]), DENY_EOPNOTSUPP);
    assert.deepEqual(nd('process_madvise', [3, 0x10000, MADV_REMOVE, 20 /* MADV_COLD */, 0]), ALLOW);
    for (const [name, request] of Object.entries(SPACE_IOCTLS)) {
      assert.deepEqual(nd('ioctl', [3, request, 0x7ffc0000]), DENY_EOPNOTSUPP, `${arch} ioctl ${name}`);
      assert.deepEqual(nd('ioctl', [3, HIGH | BigInt(request), 0]), DENY_EOPNOTSUPP);
      // Without no-delete rules all of it is the kernel's business.
      assert.deepEqual(callWith({ noDelete: false }, arch, 'ioctl', [3, request, 0]), ALLOW);
    }
    assert.deepEqual(nd('ioctl', [3, iowX(40) /* FS_IOC_RESVSP: allocates, keeps data */, 0]), ALLOW);
    assert.deepEqual(nd('ioctl', [0, 0x5412 /* TIOCSTI */, 0]), DENY_EPERM, 'the terminal rules stay');
    for (const mode of [FALLOC.PUNCH_HOLE | FALLOC.KEEP_SIZE, FALLOC.COLLAPSE_RANGE, FALLOC.ZERO_RANGE, FALLOC.WRITE_ZEROES]) {
      assert.deepEqual(call(arch, 'fallocate', [3, mode, 0, 4096]), ALLOW, 'without no-delete rules fallocate is untouched');
    }
    assert.deepEqual(call(arch, 'madvise', [0x10000, 4096, MADV_REMOVE]), ALLOW);
    assert.deepEqual(call(arch, 'process_madvise', [3, 0x10000, 1, MADV_REMOVE, 0]), ALLOW);
  }
});

test('ordinary syscalls are allowed on both arches (ptrace included, for debuggers)', () => {
  for (const arch of ARCHES) {
    for (const name of ['read', 'write', 'openat', 'close', 'execve', 'getpid', 'ptrace', 'seccomp', 'prctl', 'chroot']) {
      assert.deepEqual(call(arch, name, [0, 0, 0]), ALLOW, `${arch} ${name}`);
    }
  }
  // x86_64-only entries of the table are allowed there too.
  for (const nr of [57 /* fork */, 58 /* vfork */, 2 /* open */]) {
    assert.deepEqual(evaluate(program('x86_64'), { nr, arch: AUDIT_ARCH.x86_64 }), ALLOW);
  }
});

test('the numbers are per arch: an x86_64 number on aarch64 means whatever aarch64 says', () => {
  // 41 is socket on x86_64 but pivot_root on aarch64; 198 is socket on aarch64 and lremovexattr on x86_64.
  assert.deepEqual(evaluate(program('aarch64'), { nr: 41, arch: AUDIT_ARCH.aarch64, args: [2] }), DENY_EPERM);
  assert.deepEqual(evaluate(program('x86_64'), { nr: 198, arch: AUDIT_ARCH.x86_64, args: [1] }), ALLOW);
  assert.deepEqual(evaluate(program('aarch64'), { nr: 198, arch: AUDIT_ARCH.aarch64, args: [1] }), DENY_EPERM);
});

test('an unlisted syscall is allowed: sweep 0..500 and compare with the expected deny set', () => {
  for (const opts of OPTION_SETS) {
    for (const arch of ARCHES) {
      const prog = compileSeccompFilter(arch, opts);
      const denied = new Map<number, SeccompVerdict>();
      for (const name of DENIED_OUTRIGHT) denied.set(NR[name]![arch], DENY_EPERM);
      denied.set(NR.clone3![arch], DENY_ENOSYS);
      // socketpair(AF_INET, …) exists for no one: EAFNOSUPPORT.
      denied.set(NR.socketpair![arch], DENY_EAFNOSUPPORT);
      // fallocate mode 0x5401 has bits beyond KEEP_SIZE|UNSHARE_RANGE.
      if (opts.noDelete) denied.set(NR.fallocate![arch], DENY_EOPNOTSUPP);
      for (let nr = 0; nr <= 500; nr++) {
        // Arguments that trip none of the other argument rules.
        const got = evaluate(prog, { nr, arch: AUDIT_ARCH[arch], args: [2, 0x5401, 0, 0] });
        assert.deepEqual(got, denied.get(nr) ?? ALLOW, `${arch} ${JSON.stringify(opts)} nr ${nr}`);
      }
    }
  }
});

const ERRNO_BY_NAME: Record<string, number> = { EPERM, ENOSYS, EAFNOSUPPORT, EPROTONOSUPPORT, EOPNOTSUPP };

/** Calls that trip each kind of argument rule, for the sweep below. */
const PROBING_ARGS: readonly (readonly (number | bigint)[])[] = [
  [], [0, 0, 0, 0, 0, 0], [-1, -1, -1, -1, -1, -1],
  [AF.UNIX, SOCK.STREAM, 0, 0], [AF.UNIX, SOCK.DGRAM, 0, 0], [AF.UNIX, SOCK.SEQPACKET, 0, 0], [AF.VSOCK, SOCK.STREAM, 0], [AF.INET, SOCK.PACKET, 0],
  [AF.NETLINK, SOCK.RAW, 16], [AF.NETLINK, SOCK.RAW, 0], [AF.INET, SOCK.STREAM, 0, 0],
  [0x10000000], [0x10000000 | SIGCHLD], [0, 0x5412], [0, 0x541c],
  [3, FALLOC.PUNCH_HOLE | FALLOC.KEEP_SIZE, 0, 4096], [0x10000, 4096, MADV_REMOVE], [3, 0x10000, 1, MADV_REMOVE, 0],
  ...Object.values(SPACE_IOCTLS).map((r) => [3, r]),
];

test("explain's table and the compiled program agree, for every set of options: each claimed refusal is real, and every refusal is claimed", () => {
  const byNr = (arch: SeccompArch) => new Map(Object.entries(NR).map(([name, nrs]) => [nrs[arch], name]));
  for (const opts of OPTION_SETS) {
    const rows = seccompDenials(opts);
    assert.ok(Object.isFrozen(rows) && rows.every((r) => Object.isFrozen(r)));
    assert.deepEqual(rows.filter((r) => !r.call).map((r) => r.errno), ['none: process killed (SIGSYS)', 'none: process killed (SIGSYS)']);
    for (const row of rows) assert.ok(row.what.length > 10, `${row.name} needs a description`);
    for (const arch of ARCHES) {
      const prog = compileSeccompFilter(arch, opts);
      // Each claim, run through the bytes by the independent interpreter with the test's own syscall numbers.
      for (const row of rows) {
        if (!row.call) continue;
        const nr = NR[row.call.syscall]?.[arch];
        assert.ok(nr !== undefined, `${row.name}: the test has no number for ${row.call.syscall}`);
        const errno = ERRNO_BY_NAME[row.errno];
        assert.ok(errno !== undefined, `${row.name}: unknown errno ${row.errno}`);
        assert.deepEqual(evaluate(prog, { nr, arch: AUDIT_ARCH[arch], args: row.call.args }), { action: 'errno', errno }, `${arch} ${JSON.stringify(opts)}: ${row.name}`);
      }
      // The converse: whatever the program refuses, a row names that syscall with that errno.
      const names = byNr(arch);
      const claimed = new Set(rows.filter((r) => r.call).map((r) => `${r.call!.syscall}:${ERRNO_BY_NAME[r.errno]}`));
      for (let nr = 0; nr <= 500; nr++) {
        for (const args of PROBING_ARGS) {
          const v = evaluate(prog, { nr, arch: AUDIT_ARCH[arch], args });
          if (v.action === 'allow') continue;
          assert.equal(v.action, 'errno', `${arch} nr ${nr}: ${JSON.stringify(v)}`);
          const name = names.get(nr);
          assert.ok(name && claimed.has(`${name}:${(v as { errno: number }).errno}`), `${arch} ${JSON.stringify(opts)}: nr ${nr} (${name ?? '?'}) refused with ${JSON.stringify(v)} but explain does not say so`);
        }
      }
    }
  }
  // What the options change, by name: the AF_UNIX row tells the truth about grants, the no-delete rows exist only with no-delete paths.
  const names = (o: SeccompOptions) => seccompDenials(o).map((r) => r.name);
  assert.ok(names({ unixStream: false, noDelete: false }).includes('socket(AF_UNIX)'));
  assert.ok(!names({ unixStream: true, noDelete: false }).includes('socket(AF_UNIX)'));
  assert.ok(names({ unixStream: true, noDelete: false }).includes('socket(AF_UNIX, not SOCK_STREAM)'));
  for (const arch of ARCHES) assert.deepEqual(callWith({ unixStream: true }, arch, 'socket', [AF.UNIX, SOCK.STREAM, 0]), ALLOW);
  assert.ok(!names({ unixStream: false, noDelete: false }).some((n) => n.startsWith('fallocate')));
  assert.ok(names({ unixStream: false, noDelete: true }).some((n) => n.startsWith('fallocate')));
  assert.ok(!names({ unixStream: false, noDelete: false }).includes('ptrace'));
});

test('hostSeccompArch maps process.arch and refuses anything else with a coded error', () => {
  const expected = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : undefined;
  if (expected) assert.equal(hostSeccompArch(), expected);
  const original = Object.getOwnPropertyDescriptor(process, 'arch')!;
  for (const [nodeArch, want] of [['x64', 'x86_64'], ['arm64', 'aarch64']] as const) {
    Object.defineProperty(process, 'arch', { ...original, value: nodeArch });
    try {
      assert.equal(hostSeccompArch(), want);
    } finally {
      Object.defineProperty(process, 'arch', original);
    }
  }
  for (const nodeArch of ['ia32', 'riscv64', 's390x']) {
    Object.defineProperty(process, 'arch', { ...original, value: nodeArch });
    try {
      assert.throws(hostSeccompArch, (e: unknown) =>
        e instanceof CordonError && e.code === 'CORDON_ERR_UNSUPPORTED_PLATFORM' && e.message.includes(nodeArch));
    } finally {
      Object.defineProperty(process, 'arch', original);
    }
  }
  assert.throws(() => compileSeccompFilter('mips' as SeccompArch), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_UNSUPPORTED_PLATFORM');
});
