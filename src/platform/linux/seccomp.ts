/**
 * The seccomp filter: a classic-BPF program, compiled here in TypeScript and
 * handed to bubblewrap (`bwrap --seccomp FD`), which installs it as the very
 * last step before execve. From then on the kernel runs it on every system
 * call the confined process (and all its descendants) makes; the filter sees
 * only `struct seccomp_data` (syscall number, audit arch, instruction pointer,
 * six raw 64-bit arguments) and answers ALLOW, ERRNO(n) or KILL_PROCESS.
 *
 * Trust boundary: every field of seccomp_data is attacker-controlled. The
 * filter therefore never dereferences pointers (it cannot), compares only the
 * bits the kernel itself will use, and checks the architecture before reading
 * the syscall number, because the same number means different calls on
 * different ABIs.
 *
 * bubblewrap already unshares every namespace, drops all capabilities and
 * starts a new session. The filter is the second wall: it removes the kernel
 * interfaces that would let code inside undo or route around the first one.
 *
 *  - Architecture. A foreign `arch` (e.g. i386 via `int 0x80` on x86-64) is
 *    killed: its syscall numbers are not the ones this table checks. This also
 *    makes i386 `socketcall` unreachable, so `socket(AF_UNIX)` cannot be
 *    smuggled through it; x86-64 and aarch64 have no socketcall at all.
 *    On x86-64 the x32 ABI shares the arch value but sets bit 30 of the
 *    number (0x40000000); it is killed too, for the same reason (a different
 *    ABI whose numbers this table does not describe; nothing legitimate in an
 *    agent sandbox is x32, and most kernels disable it). The number -1 is
 *    exempt: ptrace-based tools set it to skip a call, and the kernel answers
 *    ENOSYS for it anyway.
 *  - Namespaces: `unshare` and `clone` with any CLONE_NEW* flag, and `setns`.
 *    A fresh user namespace hands back a full capability set over new mount
 *    and network namespaces: the way out of most sandboxes and into many
 *    kernel bugs. Only the low 32 bits of the flags are checked because the
 *    kernel reads only those (clone: lower_32_bits(); unshare: any high bit is
 *    EINVAL), so setting high bits cannot hide a flag.
 *  - `clone3` answers ENOSYS: its flags live in a struct behind a pointer the
 *    filter cannot read, and ENOSYS makes glibc (pthread_create, posix_spawn)
 *    fall back to `clone`, whose flags we can inspect.
 *  - The mount family (mount, umount2, pivot_root, open_tree, open_tree_attr,
 *    move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr): they
 *    would let code remount the read-only views bubblewrap built. Neither
 *    x86-64 nor aarch64 has the old `umount` (only i386/arm32 do; killed above).
 *  - `ioctl(TIOCSTI)` / `ioctl(TIOCLINUX)`: pushing keystrokes into (or
 *    reading) a terminal the sandbox shares with the user, i.e. typing commands
 *    into the user's shell after the sandbox exits. The request is compared on
 *    its low 32 bits, as the kernel truncates it to unsigned int.
 *  - Sockets, by family (an allowlist): `socket` may create AF_INET and
 *    AF_INET6 (in the sandbox's own network namespace, or the host's under
 *    dangerously-unfiltered), AF_NETLINK for NETLINK_ROUTE (getaddrinfo's
 *    AI_ADDRCONFIG, getifaddrs, `ip`) and NETLINK_SOCK_DIAG (`ss`) only,
 *    and AF_UNIX only as granted (below). Every other family answers
 *    EAFNOSUPPORT, as a kernel without it would, so programs that probe
 *    families fall back: AF_VSOCK above all, which is not network-namespaced
 *    (a vsock port bound inside is bound on the host), and AF_PACKET,
 *    AF_ALG, AF_KEY, AF_BLUETOOTH... Other netlink protocols answer
 *    EPROTONOSUPPORT (genetlink, netfilter, xfrm, audit, uevents, crypto:
 *    need capabilities the command lacks, or see nothing of the sandbox,
 *    and are a large kernel surface). AF_INET with SOCK_PACKET is refused
 *    too: the kernel turns it into AF_PACKET.
 *  - Unix sockets: with a shared filesystem view they reach host daemons
 *    (docker.sock, ssh-agent, the D-Bus bus, journald, /dev/log) past every
 *    network rule. `socket(AF_UNIX)` is EPERM; with network.allowUnixSockets
 *    grants, stream sockets are allowed and the helper decides every
 *    connect(). `socketpair(AF_UNIX)` is allowed for SOCK_STREAM and
 *    SOCK_SEQPACKET only: such a pair is born connected, and af_unix never
 *    lets it reach another address (connect: EISCONN, also after the peer
 *    closed, since the state stays established; AF_UNSPEC cannot disconnect
 *    it: EINVAL; sendto/sendmsg with an address: EISCONN for stream, the
 *    address ignored for seqpacket; listen: EINVAL, so a name bound to it
 *    takes no connections). SOCK_DGRAM pairs can connect() and sendto() any
 *    socket path, and SOCK_RAW is turned into SOCK_DGRAM by af_unix: EPERM.
 *    socketpair of any other family: EAFNOSUPPORT. Proved from inside
 *    against a host datagram socket in
 *    test/integration/process/seccomp.test.ts ("Unix sockets by every
 *    route"). Inherited descriptors are the helper's to check (cordon-helper
 *    refuses to start a command whose stdio is a socket it could point
 *    elsewhere). Domain, type and protocol are ints: compared on their low
 *    32 bits, the type without SOCK_NONBLOCK/SOCK_CLOEXEC (its low 4 bits, as
 *    the kernel does).
 *  - Destroying file data without truncate(2), only when the plan has
 *    read-write-no-delete paths (the filter is process-wide, so then
 *    everywhere): fallocate with any mode bit but KEEP_SIZE and
 *    UNSHARE_RANGE (punch-hole, collapse-range, zero-range, insert-range,
 *    write-zeroes, and bits not yet defined), madvise/process_madvise
 *    MADV_REMOVE (a hole punched through a shared mapping), and the ioctls
 *    that reach the same code (FS_IOC_UNRESVSP[64], FS_IOC_ZERO_RANGE,
 *    XFS_IOC_ALLOCSP/FREESP[64], which set the size on old kernels). They
 *    answer EOPNOTSUPP, what a filesystem without the mode answers, so
 *    cp, qemu-img and friends fall back. (truncate, ftruncate and O_TRUNC
 *    are Landlock's TRUNCATE right, in the helper.) Proved from inside in
 *    test/integration/process/seccomp.test.ts ("no-delete").
 *  - Kernel attack surface with little use to a confined command: io_uring
 *    (its own syscall-free path to opens, sockets and more, which this filter
 *    could not see), keyctl/add_key/request_key (kernel keyrings are not
 *    namespaced), bpf, perf_event_open, userfaultfd (a classic tool for
 *    winning kernel races). Programs that use these (libuv's io_uring, for
 *    one) fall back cleanly on EPERM.
 *  - Kernel images: kexec_load, kexec_file_load, init_module, finit_module,
 *    delete_module, open_by_handle_at. Already capability-gated; refused here
 *    as well so that a capability leak alone is not enough.
 *
 * `ptrace` stays allowed on purpose: debuggers inside the sandbox must work,
 * and the PID namespace keeps them from reaching anything outside.
 *
 * Allowed syscalls are decided from the number and arch alone, so the
 * kernel's per-syscall action cache (5.11+) lets them skip the filter.
 */

import { CordonError } from '../../errors.js';

export type SeccompArch = 'x86_64' | 'aarch64';

/** The seccomp arch of the running Node process; the filter only ever allows this one. */
export function hostSeccompArch(): SeccompArch {
  switch (process.arch) {
    case 'x64':
      return 'x86_64';
    case 'arm64':
      return 'aarch64';
    default:
      throw new CordonError(
        'CORDON_ERR_UNSUPPORTED_PLATFORM',
        `seccomp: no filter for CPU architecture "${process.arch}"; cordon supports x64 (x86_64) and arm64 (aarch64) on Linux`,
      );
  }
}

// ---------------------------------------------------------------------------
// Kernel constants

/** AUDIT_ARCH_* from <linux/audit.h>: EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
const AUDIT_ARCH: Record<SeccompArch, number> = {
  x86_64: 0xc000003e,
  aarch64: 0xc00000b7,
};

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;

/** errno values are the asm-generic ones on both architectures. */
const ERRNO = { EPERM: 1, ENOSYS: 38, EPROTONOSUPPORT: 93, EOPNOTSUPP: 95, EAFNOSUPPORT: 97 } as const;
type ErrnoName = keyof typeof ERRNO;

const X32_SYSCALL_BIT = 0x40000000;

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
/** Offset of the low 32 bits of args[i] (both architectures are little-endian). */
function argLow(i: number): number {
  return 16 + 8 * i;
}

const CLONE_NEWTIME = 0x00000080;
const CLONE_NEWNS = 0x00020000;
const CLONE_NEWCGROUP = 0x02000000;
const CLONE_NEWUTS = 0x04000000;
const CLONE_NEWIPC = 0x08000000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_NEWNET = 0x40000000;
/**
 * For unshare every CLONE_NEW* bit counts. For clone, 0x80 is not
 * CLONE_NEWTIME but part of CSIGNAL (the exit signal in the low byte); the
 * kernel strips CSIGNAL from clone's flags, so a time namespace can only be
 * made with unshare or clone3, both covered.
 */
const UNSHARE_NEW_MASK =
  CLONE_NEWTIME | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
const CLONE_NEW_MASK = UNSHARE_NEW_MASK & ~CLONE_NEWTIME;

const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

// <linux/socket.h>, <linux/net.h>, <linux/netlink.h>
const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const AF_VSOCK = 40;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_SEQPACKET = 5;
const SOCK_PACKET = 10;
const SOCK_TYPE_MASK = 0xf;
const NETLINK_ROUTE = 0;
const NETLINK_SOCK_DIAG = 4;
const NETLINK_GENERIC = 16;

// <linux/falloc.h>: the fallocate modes that keep every byte. Anything else
// (PUNCH_HOLE 0x02, COLLAPSE_RANGE 0x08, ZERO_RANGE 0x10, INSERT_RANGE 0x20,
// WRITE_ZEROES 0x80, future bits) is refused under no-delete.
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const FALLOC_FL_UNSHARE_RANGE = 0x40;
const FALLOC_KEEPS_DATA = FALLOC_FL_KEEP_SIZE | FALLOC_FL_UNSHARE_RANGE;
/** <asm-generic/mman-common.h>, the same on both arches. */
const MADV_REMOVE = 9;
/**
 * _IOW('X', nr, struct space_resv) (48 bytes on both 64-bit arches), from
 * include/linux/falloc.h and xfs_fs.h: fs/ioctl.c turns the first three
 * into fallocate(PUNCH_HOLE / ZERO_RANGE); before Linux 5.17 XFS's
 * ALLOCSP/FREESP set the file size (truncate) on XFS.
 */
const SPACE_IOCTLS = {
  'FS_IOC_UNRESVSP': 0x40305829,
  'FS_IOC_UNRESVSP64': 0x4030582b,
  'FS_IOC_ZERO_RANGE': 0x40305839,
  'XFS_IOC_ALLOCSP': 0x4030580a,
  'XFS_IOC_FREESP': 0x4030580b,
  'XFS_IOC_ALLOCSP64': 0x40305824,
  'XFS_IOC_FREESP64': 0x40305825,
} as const;

/**
 * Syscall numbers: x86_64 from arch/x86/entry/syscalls/syscall_64.tbl,
 * aarch64 from the asm-generic table (include/uapi/asm-generic/unistd.h).
 * Numbers from 424 on are shared by every architecture.
 */
const SYSCALLS = {
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
} as const satisfies Record<string, Record<SeccompArch, number>>;
export type Syscall = keyof typeof SYSCALLS;

// ---------------------------------------------------------------------------
// What is refused, as data: the filter and seccompDenials() both come from here.

interface DenyGroup {
  readonly syscalls: readonly Syscall[];
  readonly what: string;
}

const SETNS: DenyGroup = {
  syscalls: ['setns'],
  what: 'joining another namespace',
};
const MOUNT_FAMILY: DenyGroup = {
  syscalls: [
    'mount', 'umount2', 'pivot_root', 'open_tree', 'open_tree_attr', 'move_mount',
    'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr',
  ],
  what: 'changing mounts (would undo the read-only and hidden paths)',
};
const IO_URING: DenyGroup = {
  syscalls: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'],
  what: 'io_uring (performs opens, sockets and more without syscalls the filter sees)',
};
const KEYRINGS: DenyGroup = {
  syscalls: ['keyctl', 'add_key', 'request_key'],
  what: 'kernel keyrings (not namespaced; can hold host secrets)',
};
const KERNEL_ATTACK_SURFACE: DenyGroup = {
  syscalls: ['bpf', 'perf_event_open', 'userfaultfd'],
  what: 'kernel attack surface (BPF programs, perf events, userfaultfd race widening)',
};
const KERNEL_IMAGE: DenyGroup = {
  syscalls: ['kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'open_by_handle_at'],
  what: 'loading kernels or modules, opening files by handle (capability-gated; refused twice)',
};
const EPERM_GROUPS: readonly DenyGroup[] = [SETNS, MOUNT_FAMILY, IO_URING, KEYRINGS, KERNEL_ATTACK_SURFACE, KERNEL_IMAGE];

/**
 * What the filter is told about the plan. Both come from the plan
 * (plan.ts: LinuxPlan.seccomp), so `cordon explain` and the launcher compile
 * the same program.
 */
export interface SeccompOptions {
  /** network.allowUnixSockets grants some socket: socket(AF_UNIX, SOCK_STREAM) is allowed, the helper decides each connect(). */
  readonly unixStream: boolean;
  /** The plan has read-write-no-delete paths: the calls that destroy file data without truncate(2) are refused, process-wide. */
  readonly noDelete: boolean;
}

/**
 * One refusal, as `cordon explain` prints it. `call` is one call the rule
 * refuses (syscall name and raw arguments), so a test can run it through
 * the compiled program and check the claim against the bytes.
 */
export interface SeccompDenial {
  readonly name: string;
  readonly what: string;
  readonly errno: string;
  readonly call?: { readonly syscall: Syscall; readonly args: readonly number[] };
}

const KILLED = 'none: process killed (SIGSYS)';

/** What the filter compiled with `opts` refuses: for `cordon explain`, the README and the tests. */
export function seccompDenials(opts: Partial<SeccompOptions> = {}): readonly SeccompDenial[] {
  const unixStream = opts.unixStream === true;
  const rows: SeccompDenial[] = [
    { name: 'foreign architecture', what: 'system calls from another ABI (e.g. i386 int 0x80, hence i386 socketcall)', errno: KILLED },
    { name: 'x32 ABI (x86_64 only)', what: 'system calls with bit 0x40000000 set in the number (nr -1, "skip", excepted)', errno: KILLED },
    { name: 'unshare', what: 'creating namespaces (any CLONE_NEW* flag)', errno: 'EPERM', call: { syscall: 'unshare', args: [CLONE_NEWUSER] } },
    { name: 'clone', what: 'creating namespaces (any CLONE_NEW* flag); plain fork and threads are allowed', errno: 'EPERM', call: { syscall: 'clone', args: [CLONE_NEWUSER | 17] } },
    { name: 'clone3', what: 'its flags are unreadable to the filter; libc falls back to clone', errno: 'ENOSYS', call: { syscall: 'clone3', args: [] } },
    ...EPERM_GROUPS.flatMap((g) => g.syscalls.map((name) => ({ name, what: g.what, errno: 'EPERM', call: { syscall: name, args: [] } }))),
    { name: 'ioctl(TIOCSTI)', what: 'injecting keystrokes into a terminal', errno: 'EPERM', call: { syscall: 'ioctl', args: [0, TIOCSTI] } },
    { name: 'ioctl(TIOCLINUX)', what: 'virtual-console tricks (selection paste, reading the screen)', errno: 'EPERM', call: { syscall: 'ioctl', args: [0, TIOCLINUX] } },
    unixStream
      ? { name: 'socket(AF_UNIX, not SOCK_STREAM)', what: 'datagram and seqpacket Unix sockets: sendto() with an address needs no connect(). Stream sockets are allowed (Unix sockets are granted); the helper decides each connect()', errno: 'EPERM', call: { syscall: 'socket', args: [AF_UNIX, SOCK_DGRAM, 0] } }
      : { name: 'socket(AF_UNIX)', what: 'Unix sockets of every type: they reach host daemons past the network rules (no socket is granted)', errno: 'EPERM', call: { syscall: 'socket', args: [AF_UNIX, SOCK_STREAM, 0] } },
    { name: 'socketpair(AF_UNIX, not SOCK_STREAM/SOCK_SEQPACKET)', what: 'datagram (and raw, which is datagram) pairs can connect() or sendto() any host socket path; stream and seqpacket pairs are born connected and can reach nothing else', errno: 'EPERM', call: { syscall: 'socketpair', args: [AF_UNIX, SOCK_DGRAM, 0, 0] } },
    { name: 'socket(other families)', what: 'every family but AF_INET, AF_INET6, AF_NETLINK and AF_UNIX: AF_VSOCK (not network-namespaced: its ports are the host\'s), AF_PACKET, AF_ALG, AF_KEY, AF_BLUETOOTH... answered as by a kernel without them', errno: 'EAFNOSUPPORT', call: { syscall: 'socket', args: [AF_VSOCK, SOCK_STREAM, 0] } },
    { name: 'socket(AF_INET, SOCK_PACKET)', what: 'the obsolete spelling of an AF_PACKET socket', errno: 'EAFNOSUPPORT', call: { syscall: 'socket', args: [AF_INET, SOCK_PACKET, 0] } },
    { name: 'socketpair(other families)', what: 'every family but AF_UNIX (the kernel has pairs for AF_UNIX and AF_TIPC only)', errno: 'EAFNOSUPPORT', call: { syscall: 'socketpair', args: [AF_INET, SOCK_STREAM, 0, 0] } },
    { name: 'socket(AF_NETLINK, other protocols)', what: 'netlink other than NETLINK_ROUTE (addresses, routes) and NETLINK_SOCK_DIAG (ss): genetlink, netfilter, xfrm, audit, uevents, crypto...', errno: 'EPROTONOSUPPORT', call: { syscall: 'socket', args: [AF_NETLINK, SOCK_DGRAM, NETLINK_GENERIC] } },
  ];
  if (opts.noDelete === true) {
    const why = 'destroys file data without truncate(2); refused everywhere because a path is read-write-no-delete';
    rows.push(
      { name: 'fallocate(mode other than 0, KEEP_SIZE, UNSHARE_RANGE)', what: `punch-hole, collapse-range, zero-range, insert-range, write-zeroes: ${why}`, errno: 'EOPNOTSUPP', call: { syscall: 'fallocate', args: [3, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096] } },
      { name: 'madvise(MADV_REMOVE)', what: `punches a hole through a shared file mapping: ${why}`, errno: 'EOPNOTSUPP', call: { syscall: 'madvise', args: [0x10000, 4096, MADV_REMOVE] } },
      { name: 'process_madvise(MADV_REMOVE)', what: `the same on the caller's own memory: ${why}`, errno: 'EOPNOTSUPP', call: { syscall: 'process_madvise', args: [3, 0, 1, MADV_REMOVE, 0] } },
      ...Object.entries(SPACE_IOCTLS).map(([name, request]) => ({ name: `ioctl(${name})`, what: `fallocate or truncate through an ioctl: ${why}`, errno: 'EOPNOTSUPP', call: { syscall: 'ioctl' as Syscall, args: [3, request] } })),
    );
  }
  return Object.freeze(rows.map((row) => Object.freeze(row)));
}

// ---------------------------------------------------------------------------
// A tiny classic-BPF assembler with forward label resolution.

const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K = 0x06; // BPF_RET | BPF_K
const BPF_ALU_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K

/** Where a conditional branch goes: a label, or the next instruction. */
type Target = string | typeof NEXT;
const NEXT = Symbol('next');

type Line =
  | { readonly kind: 'insn'; readonly code: number; readonly jt: Target; readonly jf: Target; readonly k: number }
  | { readonly kind: 'label'; readonly name: string };

/** The kernel's hard limit (BPF_MAXINSNS). */
const BPF_MAXINSNS = 4096;

/** A run of instructions; the program is two of them, so a rule can add its dispatch entry and its argument check at once. */
class Section {
  readonly lines: Line[] = [];
  load(offset: number): void {
    this.lines.push({ kind: 'insn', code: BPF_LD_W_ABS, jt: NEXT, jf: NEXT, k: offset });
  }
  jeq(k: number, jt: Target, jf: Target = NEXT): void {
    this.lines.push({ kind: 'insn', code: BPF_JEQ_K, jt, jf, k });
  }
  jset(k: number, jt: Target, jf: Target = NEXT): void {
    this.lines.push({ kind: 'insn', code: BPF_JSET_K, jt, jf, k });
  }
  ret(k: number): void {
    this.lines.push({ kind: 'insn', code: BPF_RET_K, jt: NEXT, jf: NEXT, k });
  }
  and(k: number): void {
    this.lines.push({ kind: 'insn', code: BPF_ALU_AND_K, jt: NEXT, jf: NEXT, k });
  }
  label(name: string): void {
    this.lines.push({ kind: 'label', name });
  }
}

class Assembler {
  /** Prologue and per-syscall dispatch (A holds the syscall number), ending in "allow". */
  readonly main = new Section();
  /** Argument checks and the shared returns, reached only by forward jumps from main. */
  readonly tail = new Section();

  /** Resolves labels (forward only, as classic BPF requires) and encodes struct sock_filter[]. */
  assemble(): Buffer {
    const lines = [...this.main.lines, ...this.tail.lines];
    const labels = new Map<string, number>();
    let pc = 0;
    for (const line of lines) {
      if (line.kind === 'label') {
        if (labels.has(line.name)) throw internal(`duplicate label ${line.name}`);
        labels.set(line.name, pc);
      } else {
        pc++;
      }
    }
    if (pc > BPF_MAXINSNS) throw internal(`program has ${pc} instructions, the kernel accepts at most ${BPF_MAXINSNS}`);
    const out = Buffer.alloc(pc * 8);
    // A DataView: Buffer's write* helpers check their arguments on every call (~1 ms for a program).
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    pc = 0;
    for (const line of lines) {
      if (line.kind === 'label') continue;
      const offset = (target: Target): number => {
        if (target === NEXT) return 0;
        const at = labels.get(target);
        if (at === undefined) throw internal(`undefined label ${target}`);
        const delta = at - (pc + 1);
        if (delta < 0 || delta > 255) throw internal(`jump from ${pc} to ${target} (${at}) is out of range for classic BPF`);
        return delta;
      };
      view.setUint16(pc * 8, line.code, true);
      view.setUint8(pc * 8 + 2, offset(line.jt));
      view.setUint8(pc * 8 + 3, offset(line.jf));
      view.setUint32(pc * 8 + 4, line.k >>> 0, true);
      pc++;
    }
    return out;
  }
}

function internal(message: string): CordonError {
  return new CordonError('CORDON_ERR_INTERNAL', `seccomp assembler: ${message}`);
}

// ---------------------------------------------------------------------------
// The rules. Each appends its dispatch entry (A holds the syscall number) to
// `main` and, if it inspects arguments, a block to `tail` that ends in its own
// "allow" (classic BPF jumps only forward, so the tail cannot reuse main's).

const L_ALLOW = 'allow';
const L_EPERM = 'eperm';
const L_ENOSYS = 'enosys';
const L_EAFNOSUPPORT = 'eafnosupport';
const L_EPROTONOSUPPORT = 'eprotonosupport';
const L_EOPNOTSUPP = 'eopnotsupp';
const L_KILL = 'kill';
const L_DISPATCH = 'dispatch';

/** First, before the number means anything: the arch must be ours, else kill. */
function checkArchitecture(asm: Assembler, arch: SeccompArch): void {
  asm.main.load(OFFSET_ARCH);
  asm.main.jeq(AUDIT_ARCH[arch], NEXT, L_KILL);
  asm.main.load(OFFSET_NR);
}

/** x86_64 only: x32 calls carry bit 30 in the number; kill them (nr -1, "skip this call", is exempt). */
function denyX32(asm: Assembler, arch: SeccompArch): void {
  if (arch !== 'x86_64') return;
  asm.main.jset(X32_SYSCALL_BIT, NEXT, L_DISPATCH);
  asm.main.jeq(0xffffffff, L_DISPATCH, L_KILL);
}

function denyClone3(asm: Assembler, arch: SeccompArch): void {
  asm.main.jeq(SYSCALLS.clone3[arch], L_ENOSYS);
}

/** unshare/clone with any CLONE_NEW* bit in the low 32 bits of arg0 (the flags on both arches). */
function denyNamespaceCreation(asm: Assembler, arch: SeccompArch): void {
  asm.main.jeq(SYSCALLS.unshare[arch], 'unshare-flags');
  asm.main.jeq(SYSCALLS.clone[arch], 'clone-flags');
  asm.tail.label('unshare-flags');
  asm.tail.load(argLow(0));
  asm.tail.jset(UNSHARE_NEW_MASK, L_EPERM);
  asm.tail.ret(SECCOMP_RET_ALLOW);
  asm.tail.label('clone-flags');
  asm.tail.load(argLow(0));
  asm.tail.jset(CLONE_NEW_MASK, L_EPERM);
  asm.tail.ret(SECCOMP_RET_ALLOW);
}

/** setns, the mount family, io_uring, keyrings, bpf/perf/userfaultfd, kexec/modules: refused outright. */
function denyOutright(asm: Assembler, arch: SeccompArch): void {
  for (const group of EPERM_GROUPS) {
    for (const name of group.syscalls) asm.main.jeq(SYSCALLS[name][arch], L_EPERM);
  }
}

/**
 * ioctl(fd, TIOCSTI|TIOCLINUX, …), and under no-delete the space ioctls:
 * arg1 compared on its low 32 bits, as the kernel reads it (unsigned int).
 */
function denyIoctls(asm: Assembler, arch: SeccompArch, noDelete: boolean): void {
  asm.main.jeq(SYSCALLS.ioctl[arch], 'ioctl-request');
  asm.tail.label('ioctl-request');
  asm.tail.load(argLow(1));
  asm.tail.jeq(TIOCSTI, L_EPERM);
  asm.tail.jeq(TIOCLINUX, L_EPERM);
  if (noDelete) for (const request of Object.values(SPACE_IOCTLS)) asm.tail.jeq(request, L_EOPNOTSUPP);
  asm.tail.ret(SECCOMP_RET_ALLOW);
}

/**
 * socket(domain, type, protocol): the family allowlist, the netlink
 * protocols, and AF_UNIX as granted (stream only, and only with grants).
 * socketpair(domain, type, …): AF_UNIX stream and seqpacket only. All three
 * arguments are ints: compared on their low 32 bits; the type on its low 4
 * bits, without SOCK_NONBLOCK/SOCK_CLOEXEC, as the kernel does.
 */
function restrictSockets(asm: Assembler, arch: SeccompArch, unixStream: boolean): void {
  asm.main.jeq(SYSCALLS.socket[arch], 'socket-domain');
  asm.main.jeq(SYSCALLS.socketpair[arch], 'socketpair-domain');

  asm.tail.label('socket-domain');
  asm.tail.load(argLow(0));
  asm.tail.jeq(AF_INET, 'socket-inet');
  asm.tail.jeq(AF_INET6, L_ALLOW);
  asm.tail.jeq(AF_NETLINK, 'socket-netlink');
  asm.tail.jeq(AF_UNIX, unixStream ? 'socket-unix' : L_EPERM, L_EAFNOSUPPORT);
  asm.tail.label('socket-inet');
  asm.tail.load(argLow(1));
  asm.tail.and(SOCK_TYPE_MASK);
  asm.tail.jeq(SOCK_PACKET, L_EAFNOSUPPORT, L_ALLOW);
  asm.tail.label('socket-netlink');
  asm.tail.load(argLow(2));
  asm.tail.jeq(NETLINK_ROUTE, L_ALLOW);
  asm.tail.jeq(NETLINK_SOCK_DIAG, L_ALLOW, L_EPROTONOSUPPORT);
  if (unixStream) {
    asm.tail.label('socket-unix');
    asm.tail.load(argLow(1));
    asm.tail.and(SOCK_TYPE_MASK);
    asm.tail.jeq(SOCK_STREAM, L_ALLOW, L_EPERM);
  }

  asm.tail.label('socketpair-domain');
  asm.tail.load(argLow(0));
  asm.tail.jeq(AF_UNIX, NEXT, L_EAFNOSUPPORT);
  asm.tail.load(argLow(1));
  asm.tail.and(SOCK_TYPE_MASK);
  asm.tail.jeq(SOCK_STREAM, L_ALLOW);
  asm.tail.jeq(SOCK_SEQPACKET, L_ALLOW, L_EPERM);
}

/**
 * Under no-delete: fallocate(fd, mode, …) with any mode bit that can lose
 * data (arg1, an int), and madvise(…, MADV_REMOVE) / process_madvise(…,
 * MADV_REMOVE, …) (the advice is arg2 / arg3, an int).
 */
function denyDataDestruction(asm: Assembler, arch: SeccompArch): void {
  asm.main.jeq(SYSCALLS.fallocate[arch], 'fallocate-mode');
  asm.main.jeq(SYSCALLS.madvise[arch], 'madvise-advice');
  asm.main.jeq(SYSCALLS.process_madvise[arch], 'process-madvise-advice');
  asm.tail.label('fallocate-mode');
  asm.tail.load(argLow(1));
  asm.tail.jset(~FALLOC_KEEPS_DATA >>> 0, L_EOPNOTSUPP, L_ALLOW);
  asm.tail.label('madvise-advice');
  asm.tail.load(argLow(2));
  asm.tail.jeq(MADV_REMOVE, L_EOPNOTSUPP, L_ALLOW);
  asm.tail.label('process-madvise-advice');
  asm.tail.load(argLow(3));
  asm.tail.jeq(MADV_REMOVE, L_EOPNOTSUPP, L_ALLOW);
}

/** Main ends in "allow" (nothing above matched); the tail ends in the shared answers. */
function sharedReturns(asm: Assembler): void {
  asm.main.ret(SECCOMP_RET_ALLOW);
  asm.tail.label(L_ALLOW);
  asm.tail.ret(SECCOMP_RET_ALLOW);
  for (const [label, errno] of [[L_EPERM, 'EPERM'], [L_ENOSYS, 'ENOSYS'], [L_EAFNOSUPPORT, 'EAFNOSUPPORT'], [L_EPROTONOSUPPORT, 'EPROTONOSUPPORT'], [L_EOPNOTSUPP, 'EOPNOTSUPP']] as const satisfies readonly (readonly [string, ErrnoName])[]) {
    asm.tail.label(label);
    asm.tail.ret(SECCOMP_RET_ERRNO | ERRNO[errno]);
  }
  asm.tail.label(L_KILL);
  asm.tail.ret(SECCOMP_RET_KILL_PROCESS);
}

/**
 * The filter for `arch` as raw `struct sock_filter[]` bytes (8 per
 * instruction, little-endian), ready for the helper's --seccomp-fd. Pure.
 */
export function compileSeccompFilter(arch: SeccompArch, opts: Partial<SeccompOptions> = {}): Buffer {
  if (!Object.hasOwn(AUDIT_ARCH, arch)) {
    throw new CordonError('CORDON_ERR_UNSUPPORTED_PLATFORM', `seccomp: arch must be "x86_64" or "aarch64", got ${JSON.stringify(arch)}`);
  }
  const noDelete = opts.noDelete === true;
  const asm = new Assembler();
  checkArchitecture(asm, arch);
  denyX32(asm, arch);
  asm.main.label(L_DISPATCH);
  denyClone3(asm, arch);
  denyNamespaceCreation(asm, arch);
  denyOutright(asm, arch);
  denyIoctls(asm, arch, noDelete);
  restrictSockets(asm, arch, opts.unixStream === true);
  if (noDelete) denyDataDestruction(asm, arch);
  sharedReturns(asm);
  return asm.assemble();
}
