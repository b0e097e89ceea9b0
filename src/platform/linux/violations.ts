/**
 * Filesystem refusals, reported: which process tried which write on which
 * path, and which rule refused it (docs/violations.md says why this
 * mechanism and what it cannot see).
 *
 * The helper (native/violations.h) hears of every write-intent call the
 * command makes (seccomp user notification, open/openat only with a write
 * flag), lets each go on unchanged (CONTINUE: it never answers one itself),
 * and writes a record: the call, the pid, the path resolved as the sandbox
 * sees it and what lies there (exists, type, its directory exists, what
 * faccessat says, the mount). This module decides, with the policy's own
 * precedence (cordon check's checkPath), whether the walls refused it: a
 * call the policy refuses whose facts leave the kernel no other answer
 * first (EEXIST, ENOENT, EISDIR, EXDEV, the file's own permissions) is a
 * refusal; everything else is not reported. So a report is exact: the
 * kernel's walls said no, and this rule is why.
 *
 * Trust boundary: records come from cordon's helper, but their contents
 * (paths, the rate) are the command's choice. Records are parsed with
 * bounds, at most MAX_RECORDS are classified and MAX_EVENTS reported per
 * command (the same refusal once), the rest are counted; the monitor never
 * slows the command (the helper drops records when the pipe is full) and
 * never changes what the walls do: it only reads.
 */
import { dirname, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { FsOperation, FsRefusedEvent } from '../../events/types.js';
import type { Policy } from '../../policy/policy.js';
import { isWithin } from '../../policy/paths.js';
import { actingRules, checkPath, keptWhateverGrant, MOUNT_POINT, type CheckAnswer, type PathOperation } from './check.js';
import { PSEUDO_FS, reportPaths, stateLookup, type LinuxPlan, type PathState } from './plan.js';

/** What one refusal is handed to the caller as: an fs.refused event without what the stream stamps (v, time, commandId; message is made from the fields). */
export type FsRefusal = Omit<FsRefusedEvent, 'v' | 'time' | 'commandId' | 'message'> & { readonly type: 'fs.refused' };

/** What the helper says of one path (see native/violations.h). */
export interface PathFacts {
  /** f regular, d directory, l symlink, c, b, p, s, - missing, ? unknown. */
  readonly type: string;
  /** Its directory exists. */
  readonly parent: boolean;
  /** faccessat(W_OK) for an existing non-directory: w, a (EACCES), r (EROFS), or '' when not asked. */
  readonly access: string;
  /** The mount its directory is on (0: unknown). */
  readonly mount: number;
  /** A truncating open, under no-delete: a regular file was there before the call went on (after it, the call may have made one). */
  readonly wasFile: boolean;
  readonly path: string;
}

export interface WriteRecord {
  /** o open, t truncate, m mkdir, n mknod, u unlink, r rmdir, R rename, l link, s symlink, M chmod, C chown, U utimensat. */
  readonly op: string;
  readonly pid: number;
  readonly flags: number;
  readonly a: PathFacts;
  readonly b?: PathFacts;
}

/** Classified at most per command; later records are counted, not looked at. */
export const MAX_RECORDS = 200_000;
/** Reported at most per command (a refusal already reported is not reported again). */
export const MAX_EVENTS = 1000;
const FIELDS = 7;
const MAX_RECORD_BYTES = 4096;

/** Splits the helper's NUL-separated records; `rest` carries a record cut between two reads. */
export function parseRecords(buf: Buffer, rest: { fields: string[]; partial: Buffer | undefined }, out: (r: WriteRecord | undefined) => void): void {
  let data = rest.partial ? Buffer.concat([rest.partial, buf]) : buf;
  rest.partial = undefined;
  let start = 0;
  for (;;) {
    const nul = data.indexOf(0, start);
    if (nul < 0) break;
    rest.fields.push(data.toString('utf8', start, nul));
    start = nul + 1;
    if (rest.fields.length === FIELDS) {
      out(toRecord(rest.fields));
      rest.fields = [];
    }
  }
  if (start < data.length) {
    // A record is at most PIPE_BUF bytes: more without a NUL is not the helper's.
    if (data.length - start > MAX_RECORD_BYTES) { rest.fields = []; out(undefined); } else rest.partial = data.subarray(start);
  }
  data = Buffer.alloc(0);
}

function toRecord(f: readonly string[]): WriteRecord | undefined {
  const [op, pid, flags, fa, pa, fb, pb] = f as [string, string, string, string, string, string, string];
  const a = facts(fa, pa);
  if (!/^[otmnurRlsMCUD]$/.test(op) || !/^\d{1,10}$/.test(pid) || !/^[0-9a-f]{1,16}$/.test(flags) || !a) return undefined;
  const b = pb ? facts(fb, pb) : undefined;
  if (pb && !b) return undefined;
  return { op, pid: Number(pid), flags: Number.parseInt(flags.slice(-8), 16), a, ...(b ? { b } : {}) };
}

function facts(f: string, path: string): PathFacts | undefined {
  const m = /^([fdlcbps?-])(P?)([war?]?)(T?)(?::(\d{1,10}))?$/.exec(f);
  if (!m || !path.startsWith(sep)) return undefined;
  return { type: m[1]!, parent: m[2] === 'P', access: m[3]!, wasFile: m[4] === 'T', mount: Number(m[5] ?? 0), path };
}

// <asm-generic/fcntl.h> (x86-64 and aarch64 share these), <linux/fcntl.h>, <linux/fs.h>
const O_ACCMODE = 3;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_TRUNC = 0o1000;
const AT_REMOVEDIR = 0x200;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;

/** Pseudo-filesystems the policy says nothing about (bubblewrap's own /dev, /proc, and /sys): never reported. */
const PSEUDO = PSEUDO_FS;

export interface Classifier {
  (r: WriteRecord): FsRefusal | undefined;
}

/**
 * Whether the walls refused the call a record describes, and by which rule.
 * Pure: the policy and plan, then one record at a time.
 */
export function classifier(policy: Policy, plan: LinuxPlan): Classifier {
  // As the sandbox acts: a read deny of a path that was not there refuses nothing (check.ts actingRules).
  const state = memo(stateLookup(actingRules(policy.rules)));
  const mountPoints = new Set(plan.mounts.map((m) => m.path));
  const check = (op: PathOperation, p: string, kind: 'file' | 'dir' | 'missing') => checkPath(op, p, { path: p, kind }, policy, plan);
  // The common case, decided without checkPath: a plainly writable place.
  const plainlyWritable = (p: string) => { const s = state(p); return s.readable && s.write === 'rw'; };
  const roParent = (p: string) => { const s = state(dirname(p)); return !s.readable || s.write === 'ro'; };

  return (r) => {
    const { a, b } = r;
    if (!a.parent || PSEUDO.some((d) => isWithin(a.path, d)) || (b && PSEUDO.some((d) => isWithin(b.path, d)))) return undefined;
    const kindOf = (f: PathFacts) => (f.type === '-' ? 'missing' : f.type === 'd' ? 'dir' : 'file');
    const refused = (op: FsOperation, f: PathFacts, how: PathOperation, detail: string): FsRefusal | undefined => {
      const answer = check(how, f.path, kindOf(f));
      return answer.allowed ? undefined : refusal(op, f.path, r.pid, detail, answer, how, policy);
    };
    switch (r.op) {
      case 'o': {
        const write = (r.flags & O_ACCMODE) !== 0;
        const creat = (r.flags & O_CREAT) !== 0;
        const trunc = (r.flags & O_TRUNC) !== 0;
        const call = `open(${openFlags(r.flags)})`;
        if (a.type === '-') return creat && !plainlyWritable(dirname(a.path)) ? refused('create', a, 'write', `${call}: EROFS`) : undefined;
        // EEXIST, EISDIR; writes to a device, FIFO or socket pass the mounts (no read-only check for special files).
        if ((creat && (r.flags & O_EXCL)) || a.type !== 'f' || plainlyWritable(a.path)) return undefined;
        // O_TRUNC: the mount's answer (EROFS) comes before the file's permissions; Landlock's (TRUNCATE) after them.
        // Landlock's TRUNCATE: only a file that was there before the call (one the call created is not truncated).
        if (trunc) return refusedWrite('write', a, `${call}: EROFS`) ?? (a.access === 'w' && a.wasFile && state(a.path).write === 'rwnd' ? refused('write', a, 'delete', `${call}: EACCES (Landlock: truncate)`) : undefined);
        if (write && a.access === 'r') return refusedWrite('write', a, `${call}: EROFS`);
        return undefined;
      }
      case 't':
        if (a.type !== 'f' || plainlyWritable(a.path)) return undefined;
        return refusedWrite('write', a, 'truncate: EROFS') ?? (a.access === 'w' && state(a.path).write === 'rwnd' ? refused('write', a, 'delete', 'truncate: EACCES (Landlock: truncate)') : undefined);
      case 'm': case 'n': case 's': case 'l': {
        if (a.type !== '-' || plainlyWritable(dirname(a.path))) return undefined; // EEXIST comes first
        const call = { m: 'mkdir', n: 'mknod', s: 'symlink', l: 'link' }[r.op]!;
        return refused('create', a, 'write', `${call}: EROFS`);
      }
      case 'u': case 'r': {
        const call = r.op === 'r' || (r.flags & AT_REMOVEDIR) ? 'rmdir' : 'unlink';
        return removal('delete', a, call);
      }
      case 'R': {
        if (!b || !b.parent || (a.mount !== b.mount && a.mount !== 0 && b.mount !== 0)) return undefined; // EXDEV before any wall
        if (r.flags & RENAME_EXCHANGE) return removal('rename', a, 'rename (exchange)') ?? removal('rename', b, 'rename (exchange)');
        const away = removal('rename', a, 'rename');
        if (away) return away;
        if (b.type === '-') return plainlyWritable(dirname(b.path)) || a.type === '-' ? undefined : refused('rename', b, 'write', 'rename: EROFS');
        if (r.flags & RENAME_NOREPLACE) return undefined; // EEXIST
        return a.type === '-' ? undefined : removal('rename', b, 'rename (replacing)');
      }
      case 'M': case 'C': case 'U': {
        // A dangling link followed is ENOENT; otherwise the mount's answer comes first (chmod, chown and utimes on any type).
        if (a.type === '-' || a.type === 'l' || plainlyWritable(a.path)) return undefined;
        const call = { M: 'chmod', C: 'chown', U: 'utimensat' }[r.op]!;
        const answer = check('write', a.path, kindOf(a));
        return answer.allowed || state(a.path).write !== 'ro' && state(a.path).readable ? undefined : refusal('write', a.path, r.pid, `${call}: EROFS`, answer, 'write', policy);
      }
      default:
        return undefined;
    }

    /** A write to an existing file the mounts refuse (read-only or hidden: EROFS). */
    function refusedWrite(op: FsOperation, f: PathFacts, detail: string): FsRefusal | undefined {
      const s = state(f.path);
      if (s.readable && s.write !== 'ro') return undefined;
      return refused(op, f, 'write', detail);
    }

    /**
     * unlink, rmdir, rename away: a read-only directory answers EROFS before
     * the name is looked up; elsewhere the name must exist (Landlock's
     * no-delete and a mount point's EBUSY come after the lookup).
     */
    function removal(op: FsOperation, f: PathFacts, call: string): FsRefusal | undefined {
      if (plainlyWritable(dirname(f.path)) && plainlyWritable(f.path) && !mountPoints.has(f.path) && f.type !== 'd') return undefined;
      if (!roParent(f.path) && f.type === '-') return undefined;
      const how = roParent(f.path) ? 'EROFS' : state(f.path).write === 'rwnd' || state(dirname(f.path)).write === 'rwnd' ? 'EACCES (Landlock: no delete)' : 'EBUSY';
      return refused(op, f, 'delete', `${call}: ${how}`);
    }
  };
}

/**
 * What the helper need not record (native/violations.h is_quiet): below a
 * read-write root of the Landlock wall (the plan's writable roots and the
 * private /tmp, never the root itself: a mount point), no wall refuses
 * anything unless some rule or mount lies at, above or below the path
 * within it; those are `loud` (the fewest paths that cover them all). A
 * record it keeps is classified here as any other: the filter only spares
 * the command's plainly allowed writes the round trip to cordon.
 */
export function quietPaths(policy: Policy, plan: LinuxPlan): { readonly quiet: readonly string[]; readonly loud: readonly string[] } {
  // The plan made them with its own view of each path; a new index of every rule costs milliseconds with many repositories.
  return plan.reports ?? reportPaths(policy.rules, plan.mounts, plan.landlock.rw, stateLookup(policy.rules));
}

function memo(f: (p: string) => PathState): (p: string) => PathState {
  const seen = new Map<string, PathState>();
  return (p) => {
    let s = seen.get(p);
    if (!s) {
      if (seen.size > 10_000) seen.clear();
      seen.set(p, (s = f(p)));
    }
    return s;
  };
}

function openFlags(flags: number): string {
  const acc = ['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'][flags & O_ACCMODE]!;
  return [acc, ...(flags & O_CREAT ? ['O_CREAT'] : []), ...(flags & O_EXCL ? ['O_EXCL'] : []), ...(flags & O_TRUNC ? ['O_TRUNC'] : [])].join('|');
}

/** The CLI flags that make rules, by the settings key they stand for. */
const FLAG_KEYS: Record<string, string> = { '--deny-read': 'denyRead', '--allow-read': 'allowRead', '--allow-write': 'allowWrite', '--read-only': 'denyWrite', '--no-delete': 'allowWriteNoDelete' };

/** The rule as `key: "path"` and the setting that would allow the operation (null where none may: cordon's own protections). */
export function ruleAndFix(answer: CheckAnswer, how: PathOperation, path: string, policy: Pick<Policy, 'rules' | 'home' | 'neverWritable'>): { rule: string; fix: string | null } {
  const rules = policy.rules;
  const r = answer.rule;
  // A fix is offered only where it works (check.ts keptWhateverGrant).
  const kept = r?.source.startsWith('protected') ? undefined : keptWhateverGrant(path, policy);
  if (kept) return { rule: `built-in: protected: ${kept.why} (${kept.path})${kept.atRoot ? ', at the root of any writable path' : ''}`, fix: null };
  const dir = how === 'write' && answer.judged === path ? path : dirname(path);
  const grant = how === 'write' ? dirname(path) : dir;
  const addWrite = `filesystem.allowWrite: add ${JSON.stringify(grant)}`;
  if (!r || r.path === undefined) {
    // No rule: outside every writable root (or a read-only view of the host in the private /tmp).
    // `/` is never writable (policy.ts refuseWritableRoot), and a grant of a missing file makes nothing.
    return { rule: 'built-in: not writable (outside filesystem.allowWrite)', fix: grant === sep ? null : addWrite };
  }
  const where = JSON.stringify(r.path);
  if (r.source.startsWith('protected') || r.source.startsWith(MOUNT_POINT)) return { rule: `built-in: ${r.source} (${r.path})`, fix: null };
  const file = /^(.*): filesystem\.(\w+)\[\d+\]$/.exec(r.source);
  const key = file ? file[2]! : FLAG_KEYS[r.source];
  const from = file ? ` (in ${file[1]})` : FLAG_KEYS[r.source] ? ` (${r.source})` : '';
  if (r.source.startsWith('default')) {
    // A built-in default: a credential store hidden (re-opened by allowRead), or the default read-only view.
    const fix = r.access === 'deny-read' ? `filesystem.allowRead: add ${where}${rules.some((x) => x.access === 'read-write' && isWithin(path, x.path)) ? '' : `, and ${addWrite}`}` : addWrite;
    return { rule: `built-in: ${r.source.replace(/^default:?\s*/, '') || 'default'} (${r.path})`, fix };
  }
  if (!key) return { rule: `${r.source}: ${where}`, fix: null };
  const rule = `filesystem.${key}: ${where}${from}`;
  if (r.access === 'read-write-no-delete') {
    return { rule, fix: r.path === dir || !isWithin(dir, r.path) ? `filesystem.allowWriteNoDelete: remove ${where}, and filesystem.allowWrite: add ${where}` : `filesystem.allowWrite: add ${JSON.stringify(dir)}` };
  }
  if (r.access === 'deny-read' || r.access === 'read-only') return { rule, fix: `filesystem.${key}: remove ${where}${from}` };
  return { rule, fix: addWrite };
}

function refusal(op: FsOperation, path: string, pid: number, detail: string, answer: CheckAnswer, how: PathOperation, policy: Policy): FsRefusal {
  const { rule, fix } = ruleAndFix(answer, how, path, policy);
  return { type: 'fs.refused', op, path, pid, detail, rule, fix };
}

export interface RefusalStats {
  /** Records classified. */
  readonly records: number;
  /** Refusals reported (distinct). */
  readonly reported: number;
  /** Refusals not reported: the same as one already reported. */
  readonly repeated: number;
  /** Records past MAX_RECORDS or MAX_EVENTS, or malformed: not looked at. */
  readonly skipped: number;
  /** Calls the helper heard of but could not describe (too many waiting, a record too long), at least 1 when its records ended early: the reports may be incomplete. */
  readonly dropped: number;
}

export interface RefusalMonitor {
  /** For the helper, before its own options: where it writes its records (launch passes them). */
  helperArgs(fd: number): readonly string[];
  /** Reads the helper's records from the sandbox's report pipe. */
  attach(records: Readable): void;
  /** Once the pipe has ended (the sandbox is gone): every record classified. */
  done(): Promise<RefusalStats>;
}

/** The monitor for one command: `onRefusal` gets each distinct refusal as it happens. */
export function refusalMonitor(policy: Policy, plan: LinuxPlan, onRefusal: (e: FsRefusal) => void): RefusalMonitor {
  const classify = classifier(policy, plan);
  const seen = new Set<string>();
  const judged = new Map<string, boolean>();
  let records = 0;
  let repeated = 0;
  let skipped = 0;
  let dropped = 0;
  // The helper's last record (D) says the stream is whole; one that ends without it (PID 1 killed, or out of time describing) is not.
  let whole = false;
  let heard = false;
  // Until a stream is attached, and then until that one has ended.
  let end = new Promise<void>(() => {});
  const take = (r: WriteRecord | undefined) => {
    heard = true;
    if (r?.op === 'D') { dropped += r.flags; whole = true; return; }
    // Past the caps nothing is classified: a flood costs cordon no more than reading it.
    if (!r || records >= MAX_RECORDS || seen.size >= MAX_EVENTS) { skipped++; return; }
    records++;
    // The same call again (a retry loop) is judged once.
    const callKey = `${r.op}\0${r.flags}\0${r.a.type}${r.a.access}${r.a.parent}${r.a.wasFile}\0${r.a.path}\0${r.b?.type ?? ''}\0${r.b?.path ?? ''}`;
    const known = judged.get(callKey);
    if (known !== undefined) { if (known) repeated++; return; }
    let e: FsRefusal | undefined;
    try { e = classify(r); } catch { skipped++; return; }
    if (judged.size >= 10_000) judged.clear();
    judged.set(callKey, e !== undefined);
    if (!e) return;
    const key = `${e.op}\0${e.path}\0${e.rule}`;
    if (seen.has(key)) { repeated++; return; }
    seen.add(key);
    try { onRefusal(e); } catch { /* a caller's callback failing must not stop the monitor */ }
  };
  return {
    helperArgs(fd) {
      const { quiet, loud } = quietPaths(policy, plan);
      return ['--report-fd', String(fd), ...quiet.flatMap((q) => ['--report-quiet', q]), ...loud.flatMap((l) => ['--report-loud', l]), ...(plan.landlock.rwnd.length > 0 ? ['--report-truncate'] : [])];
    },
    attach(stream) {
      // The stream of this start: a launch made again (launch.ts, a lost mount race) attaches the next one,
      // and done() waits for that one, whose helper's last record says whether it is whole.
      let thisEnd: (() => void) | undefined;
      end = new Promise<void>((resolve) => { thisEnd = resolve; });
      whole = false;
      heard = false;
      const rest = { fields: [] as string[], partial: undefined as Buffer | undefined };
      stream.on('data', (d: Buffer) => { if (records < MAX_RECORDS) parseRecords(d, rest, take); else skipped++; });
      stream.on('error', () => thisEnd?.());
      stream.on('close', () => thisEnd?.());
      stream.on('end', () => thisEnd?.());
    },
    async done() {
      await end;
      return { records, reported: seen.size, repeated, skipped, dropped: dropped + (heard && !whole ? 1 : 0) };
    },
  };
}
