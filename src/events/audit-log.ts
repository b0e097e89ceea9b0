/**
 * The JSONL audit log (`--audit-log FILE`): every event of the run, one JSON
 * object a line (schema: docs/events.md), appended with one write(2) per
 * line on a descriptor opened O_APPEND, synchronously, so nothing is lost
 * when cordon exits and concurrent runs appending to one file do not
 * interleave within a line. The file is read-only inside the sandbox
 * (cli/main.ts passes it to compile as a protected file): the command
 * cannot forge or erase its own record
 * (test/integration/network/egress.test.ts, "the audit log").
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { CordonError } from '../errors.js';
import type { CordonEvent } from './types.js';

export interface AuditLog {
  write(e: CordonEvent): void;
  close(): void;
}

export function openAuditLog(file: string): AuditLog {
  let fd: number;
  try {
    fd = openSync(file, 'a', 0o600);
  } catch (e) {
    throw new CordonError('CORDON_ERR_USAGE', `--audit-log ${file}: cannot open for appending (${(e as NodeJS.ErrnoException).code ?? e})`, { cause: e });
  }
  let open = true;
  return {
    write: (e) => { if (open) writeSync(fd, `${JSON.stringify(e)}\n`); },
    close: () => { if (open) { open = false; closeSync(fd); } },
  };
}
