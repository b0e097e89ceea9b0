/**
 * A classic-BPF interpreter for seccomp programs, for tests: it decodes
 * `struct sock_filter[]` bytes, checks them the way the kernel's seccomp
 * loader does (known opcodes only, loads aligned and inside seccomp_data,
 * forward jumps that stay in the program, a RET at the end), and runs them on
 * a synthetic `struct seccomp_data`. Written from the BPF and seccomp specs,
 * independently of the generator it tests.
 */

export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const AUDIT_ARCH = {
  x86_64: 0xc000003e,
  aarch64: 0xc00000b7,
  i386: 0x40000003,
  arm: 0x40000028,
  riscv64: 0xc00000f3,
} as const;

/** sizeof(struct seccomp_data) */
const SECCOMP_DATA_SIZE = 64;
const BPF_MAXINSNS = 4096;
const BPF_MEMWORDS = 16;

// Instruction classes and fields (linux/bpf_common.h).
const cls = (code: number): number => code & 0x07;
const size = (code: number): number => code & 0x18;
const mode = (code: number): number => code & 0xe0;
const op = (code: number): number => code & 0xf0;
const src = (code: number): number => code & 0x08;
const rval = (code: number): number => code & 0x18;

const BPF_LD = 0x00, BPF_LDX = 0x01, BPF_ST = 0x02, BPF_STX = 0x03, BPF_ALU = 0x04, BPF_JMP = 0x05, BPF_RET = 0x06, BPF_MISC = 0x07;
const BPF_W = 0x00;
const BPF_IMM = 0x00, BPF_ABS = 0x20, BPF_MEM = 0x60, BPF_LEN = 0x80;
const BPF_ADD = 0x00, BPF_SUB = 0x10, BPF_MUL = 0x20, BPF_DIV = 0x30, BPF_OR = 0x40, BPF_AND = 0x50, BPF_LSH = 0x60, BPF_RSH = 0x70, BPF_NEG = 0x80, BPF_MOD = 0x90, BPF_XOR = 0xa0;
const BPF_JA = 0x00, BPF_JEQ = 0x10, BPF_JGT = 0x20, BPF_JGE = 0x30, BPF_JSET = 0x40;
const BPF_K = 0x00, BPF_X = 0x08, BPF_A = 0x10;
const BPF_TAX = 0x00, BPF_TXA = 0x80;

export function decodeProgram(bytes: Buffer): SockFilter[] {
  if (bytes.length === 0 || bytes.length % 8 !== 0) throw new Error(`program length ${bytes.length} is not a positive multiple of 8`);
  const out: SockFilter[] = [];
  for (let off = 0; off < bytes.length; off += 8) {
    out.push({ code: bytes.readUInt16LE(off), jt: bytes.readUInt8(off + 2), jf: bytes.readUInt8(off + 3), k: bytes.readUInt32LE(off + 4) });
  }
  return out;
}

/** Throws, naming the instruction, where the kernel would refuse the program (EINVAL). */
export function checkSeccompProgram(prog: readonly SockFilter[]): void {
  if (prog.length === 0 || prog.length > BPF_MAXINSNS) throw new Error(`program has ${prog.length} instructions`);
  prog.forEach((ins, pc) => {
    const where = `insn ${pc} (code 0x${ins.code.toString(16)})`;
    switch (cls(ins.code)) {
      case BPF_LD:
        if (ins.code === (BPF_LD | BPF_W | BPF_ABS)) {
          if (ins.k % 4 !== 0 || ins.k >= SECCOMP_DATA_SIZE) throw new Error(`${where}: load offset ${ins.k} outside seccomp_data or unaligned`);
        } else if (ins.code !== (BPF_LD | BPF_W | BPF_LEN) && ins.code !== (BPF_LD | BPF_IMM) && ins.code !== (BPF_LD | BPF_MEM)) {
          throw new Error(`${where}: load mode not allowed in seccomp`);
        }
        break;
      case BPF_LDX:
        if (ins.code !== (BPF_LDX | BPF_W | BPF_LEN) && ins.code !== (BPF_LDX | BPF_IMM) && ins.code !== (BPF_LDX | BPF_MEM)) throw new Error(`${where}: ldx mode not allowed`);
        break;
      case BPF_ST:
      case BPF_STX:
        if (ins.k >= BPF_MEMWORDS) throw new Error(`${where}: scratch slot ${ins.k}`);
        break;
      case BPF_ALU:
        if ((op(ins.code) === BPF_DIV || op(ins.code) === BPF_MOD) && src(ins.code) === BPF_K && ins.k === 0) throw new Error(`${where}: division by zero`);
        if (op(ins.code) > BPF_XOR) throw new Error(`${where}: unknown ALU op`);
        break;
      case BPF_JMP: {
        const o = op(ins.code);
        if (o === BPF_JA) {
          if (pc + 1 + ins.k >= prog.length) throw new Error(`${where}: ja out of program`);
        } else if (o === BPF_JEQ || o === BPF_JGT || o === BPF_JGE || o === BPF_JSET) {
          if (pc + 1 + ins.jt >= prog.length || pc + 1 + ins.jf >= prog.length) throw new Error(`${where}: jump out of program`);
        } else {
          throw new Error(`${where}: unknown jump`);
        }
        break;
      }
      case BPF_RET:
        if (rval(ins.code) !== BPF_K && rval(ins.code) !== BPF_A) throw new Error(`${where}: bad ret`);
        break;
      case BPF_MISC:
        if (ins.code !== (BPF_MISC | BPF_TAX) && ins.code !== (BPF_MISC | BPF_TXA)) throw new Error(`${where}: unknown misc op`);
        break;
    }
    if (size(ins.code) !== BPF_W && (cls(ins.code) === BPF_LD || cls(ins.code) === BPF_LDX) && mode(ins.code) === BPF_ABS) {
      throw new Error(`${where}: only 32-bit loads from seccomp_data`);
    }
  });
  const last = prog[prog.length - 1]!;
  if (cls(last.code) !== BPF_RET) throw new Error('program does not end in RET');
}

/** Runs a checked program on a seccomp_data buffer; returns the 32-bit action. */
export function runBpf(prog: readonly SockFilter[], data: Buffer): number {
  if (data.length !== SECCOMP_DATA_SIZE) throw new Error('seccomp_data must be 64 bytes');
  let A = 0;
  let X = 0;
  const M = new Uint32Array(BPF_MEMWORDS);
  let pc = 0;
  for (;;) {
    const ins = prog[pc];
    if (!ins) throw new Error(`fell off the program at ${pc}`);
    const { code, k } = ins;
    const operand = src(code) === BPF_X ? X : k;
    pc++;
    switch (cls(code)) {
      case BPF_LD:
        A = mode(code) === BPF_ABS ? data.readUInt32LE(k) : mode(code) === BPF_LEN ? SECCOMP_DATA_SIZE : mode(code) === BPF_MEM ? M[k]! : k;
        break;
      case BPF_LDX:
        X = mode(code) === BPF_LEN ? SECCOMP_DATA_SIZE : mode(code) === BPF_MEM ? M[k]! : k;
        break;
      case BPF_ST:
        M[k] = A;
        break;
      case BPF_STX:
        M[k] = X;
        break;
      case BPF_ALU:
        A = alu(op(code), A, operand) >>> 0;
        break;
      case BPF_JMP: {
        const o = op(code);
        if (o === BPF_JA) {
          pc += k;
          break;
        }
        const taken = o === BPF_JEQ ? A === operand : o === BPF_JGT ? A > operand : o === BPF_JGE ? A >= operand : (A & operand) !== 0;
        pc += taken ? ins.jt : ins.jf;
        break;
      }
      case BPF_RET:
        return (rval(code) === BPF_A ? A : k) >>> 0;
      case BPF_MISC:
        if (code === (BPF_MISC | BPF_TAX)) X = A;
        else A = X;
        break;
    }
  }
}

function alu(o: number, a: number, b: number): number {
  switch (o) {
    case BPF_ADD: return a + b;
    case BPF_SUB: return a - b;
    case BPF_MUL: return Math.imul(a, b);
    case BPF_DIV: return Math.floor(a / b);
    case BPF_MOD: return a % b;
    case BPF_OR: return a | b;
    case BPF_AND: return a & b;
    case BPF_XOR: return a ^ b;
    case BPF_LSH: return b >= 32 ? 0 : a << b;
    case BPF_RSH: return b >= 32 ? 0 : a >>> b;
    case BPF_NEG: return -a;
    default: throw new Error(`unknown ALU op 0x${o.toString(16)}`);
  }
}

/** Builds struct seccomp_data (little-endian). Arguments are full 64-bit values. */
export function seccompData(input: { nr: number; arch: number; ip?: bigint; args?: readonly (number | bigint)[] }): Buffer {
  const buf = Buffer.alloc(SECCOMP_DATA_SIZE);
  buf.writeInt32LE(input.nr | 0, 0);
  buf.writeUInt32LE(input.arch >>> 0, 4);
  buf.writeBigUInt64LE(input.ip ?? 0x401000n, 8);
  const args = input.args ?? [];
  if (args.length > 6) throw new Error('seccomp_data has six arguments');
  args.forEach((a, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  return buf;
}

export type SeccompVerdict =
  | { action: 'allow' }
  | { action: 'errno'; errno: number }
  | { action: 'kill_process' }
  | { action: 'kill_thread' }
  | { action: 'other'; value: number };

/** Decodes a SECCOMP_RET_* value (linux/seccomp.h). */
export function verdict(ret: number): SeccompVerdict {
  const action = (ret & 0xffff0000) >>> 0;
  if (action === 0x7fff0000) return { action: 'allow' };
  if (action === 0x00050000) return { action: 'errno', errno: ret & 0xffff };
  if (action === 0x80000000) return { action: 'kill_process' };
  if (action === 0x00000000) return { action: 'kill_thread' };
  return { action: 'other', value: ret >>> 0 };
}

/** decode + check + run + verdict in one call. */
export function evaluate(program: Buffer, input: Parameters<typeof seccompData>[0]): SeccompVerdict {
  const prog = decodeProgram(program);
  checkSeccompProgram(prog);
  return verdict(runBpf(prog, seccompData(input)));
}
