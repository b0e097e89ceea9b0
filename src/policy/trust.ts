/**
 * Trust records: the user's word that one project settings file, with
 * exactly the bytes it had then, may widen the policy like the user's own
 * settings (`cordon trust FILE`). A record holds the file's resolved path and
 * the SHA-256 of its bytes; a file whose bytes differ, or the same bytes at
 * another path, is not trusted (project.ts, compile.ts).
 *
 * Trust boundary: the records live in cordon's state directory
 * (platform/linux/placeholders.ts runtimeDir: made by cordon, 0700, with its
 * marker), never in the project. No sandbox can write there: policy.ts makes
 * the state directory read-only in every run whose writable paths reach it
 * and pins its parents, and test/integration/project-settings/project-settings.test.ts
 * tries to forge a record from inside, as root and as an unprivileged user.
 * One file per trusted path, named by the SHA-256 of the path, so a lookup at
 * start-up is one open of a file that usually does not exist, and two
 * `cordon trust` at once never lose each other's record.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { CordonError } from '../errors.js';
import { isPlainObject } from './schema.js';

export interface TrustRecord {
  readonly version: 1;
  /** The project settings file, absolute, its directories resolved. */
  readonly path: string;
  /** SHA-256 of the file's bytes when the user trusted it, hex. */
  readonly sha256: string;
  /** When, ISO 8601. */
  readonly trustedAt: string;
}

const RECORD_MAX_BYTES = 16 * 1024;

export function trustDir(stateDir: string): string {
  return join(stateDir, 'trust');
}

function recordName(path: string): string {
  return `${createHash('sha256').update(path).digest('hex')}.json`;
}

/** The record for `path`, if there is a valid one. */
export function readTrust(stateDir: string, path: string): TrustRecord | undefined {
  const r = readRecord(join(trustDir(stateDir), recordName(path)));
  return r && r.path === path ? r : undefined;
}

/** `path` is trusted with exactly the bytes whose SHA-256 is `sha256`. */
export function isTrusted(stateDir: string, path: string, sha256: string): boolean {
  return readTrust(stateDir, path)?.sha256 === sha256;
}

/** Records trust in `path` with the bytes whose SHA-256 is `sha256` (replacing an earlier record for it). */
export function recordTrust(stateDir: string, path: string, sha256: string, now: Date = new Date()): TrustRecord {
  const dir = trustDir(stateDir);
  try {
    // Not recursive: the state directory exists (runtimeDir made it), and Node's recursive mkdir reports EROFS as ENOENT.
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CordonError('CORDON_ERR_LAUNCH', `cannot create ${dir} for trust records (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
  const record: TrustRecord = { version: 1, path, sha256, trustedAt: now.toISOString() };
  const final = join(dir, recordName(path));
  const tmp = join(dir, `.new-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(tmp, `${JSON.stringify(record)}\n`, { flag: 'wx', mode: 0o600 });
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new CordonError('CORDON_ERR_LAUNCH', `cannot write the trust record ${final} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
  return record;
}

/** Removes the record for `path`; false when there was none. */
export function revokeTrust(stateDir: string, path: string): boolean {
  try {
    unlinkSync(join(trustDir(stateDir), recordName(path)));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CordonError('CORDON_ERR_LAUNCH', `cannot remove the trust record for ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
}

/** Every valid record, by path. */
export function listTrust(stateDir: string): TrustRecord[] {
  let names: string[];
  try {
    names = readdirSync(trustDir(stateDir));
  } catch {
    return [];
  }
  const out: TrustRecord[] = [];
  for (const n of names) {
    if (!/^[0-9a-f]{64}\.json$/.test(n)) continue;
    const r = readRecord(join(trustDir(stateDir), n));
    if (r && recordName(r.path) === n) out.push(r);
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A record file, or undefined when missing or not a valid record (then nothing is trusted). No link is followed. */
function readRecord(file: string): TrustRecord | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(RECORD_MAX_BYTES);
    let n = 0;
    for (let k; n < buf.length && (k = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += k;
    const v: unknown = JSON.parse(buf.subarray(0, n).toString('utf8'));
    if (!isPlainObject(v) || v.version !== 1 || typeof v.path !== 'string' || !v.path.startsWith('/') || typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256) || typeof v.trustedAt !== 'string') return undefined;
    return { version: 1, path: v.path, sha256: v.sha256, trustedAt: v.trustedAt };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
