/**
 * The JSONL audit log (`--audit-log FILE`): every event of the run, one JSON
 * object a line (schema: docs/events.md), appended with one write(2) per
 * line on a descriptor opened O_APPEND, synchronously, so nothing is lost
 * when cordon exits and concurrent runs appending to one file do not
 * interleave within a line. The file is read-only inside the sandbox
 * (cli/main.ts passes it to compile as a protected file): the command
 * cannot forge or erase its own record
 * (test/integration/network/egress.test.ts, "the audit log"). A second
 * sandbox running in the same place at the same time is not its run's: its
 * command could link to the file and write through the link, which cordon
 * says when the run ends (linkedWarning).
 */
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CordonError } from '../errors.js';
import type { CordonEvent } from './types.js';

export interface AuditLog {
  write(e: CordonEvent): void;
  /** Closes it; returns a warning when the file gained another name during the run (linkedWarning). */
  close(): string | undefined;
}

export function openAuditLog(file: string): AuditLog {
  const fd = openOutputFile(file, 'append', '--audit-log');
  let open = true;
  return {
    write: (e) => { if (open) writeSync(fd, `${JSON.stringify(e)}\n`); },
    close: () => {
      if (!open) return undefined;
      open = false;
      const w = linkedWarning(fd, '--audit-log', file);
      closeSync(fd);
      return w;
    },
  };
}

/**
 * Opens a file cordon writes while a command runs (the audit log,
 * --violations-json; `how`: appended to, or emptied) without following a
 * symbolic link anywhere on its path. The name usually lies in the project,
 * where an earlier run's command may have planted a link at it, or at a
 * directory on the way, to aim cordon's write at a startup file outside
 * every writable path. So: the directory is opened and must really be the
 * directory named (no link on the way: give the real path); the file is
 * opened through that descriptor with O_NOFOLLOW (and O_NONBLOCK: a FIFO
 * there fails instead of blocking) and must be a regular file of yours with
 * one link. Test: test/integration/cli/events.test.ts ("a link at the name").
 */
export function openOutputFile(file: string, how: 'append' | 'truncate', option: string): number {
  const abs = resolve(file);
  const dir = dirname(abs);
  const refuse = (why: string, cause?: unknown) => new CordonError('CORDON_ERR_USAGE', `${option} ${file}: ${why}`, cause === undefined ? {} : { cause });
  let dfd: number;
  try {
    dfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    throw refuse(`cannot open its directory ${dir} (${(e as NodeJS.ErrnoException).code ?? e})`, e);
  }
  try {
    const real = readlinkSync(`/proc/self/fd/${dfd}`);
    if (real !== dir) throw refuse(`its directory ${dir} is reached through a symbolic link (it is ${real}); cordon does not follow links to the files it writes: give the real path, ${join(real, basename(abs))}`);
    let fd: number;
    try {
      fd = openSync(`/proc/self/fd/${dfd}/${basename(abs)}`, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | (how === 'append' ? constants.O_APPEND : 0), 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw refuse(code === 'ELOOP' ? 'it is a symbolic link; cordon does not follow links to the files it writes: remove it, or give the path it points to' : `cannot open for writing (${code ?? e})`, e);
    }
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    const wrong = !st.isFile() ? 'it is not a regular file' : st.nlink !== 1 ? `it has ${st.nlink} hard links (another name writes the same file)` : uid !== undefined && st.uid !== uid ? `it belongs to uid ${st.uid}, not to you` : undefined;
    if (wrong) {
      closeSync(fd);
      throw refuse(`${wrong}; cordon writes only a regular file of yours: remove it, or give another path`);
    }
    if (how === 'truncate') ftruncateSync(fd, 0);
    return fd;
  } finally {
    closeSync(dfd);
  }
}

/**
 * After the run: a file cordon opened with one link that now has more. A
 * second sandbox running in the same project at the same time can make a
 * hard link to it (the file is read-only only in its own run's sandbox),
 * and its command can then write lines of its own into it. The descriptor
 * still names cordon's file, so nothing is written elsewhere; the user is
 * told that the file may hold what a command wrote.
 */
export function linkedWarning(fd: number, option: string, file: string): string | undefined {
  const n = fstatSync(fd).nlink;
  return n > 1 ? `${option} ${file} gained ${n - 1} more name${n > 2 ? 's' : ''} (hard links) during the run, as another sandbox in the same place can make: what it holds may include lines a command wrote through them` : undefined;
}
