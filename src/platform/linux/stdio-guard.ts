/**
 * A descriptor the caller opened on the host, handed to the command as its
 * stdin, stdout or stderr, carries the rights of that open: Landlock judges
 * truncation when a file is opened, so a file in a read-write-no-delete path
 * opened for writing outside (`cordon --no-delete logs -- tool >> logs/x.log`)
 * could be emptied through it (ftruncate). No mount or rule can take that
 * right back, so such a run is refused, naming the file and a way that works.
 */
import { fstatSync, readFileSync, readlinkSync } from 'node:fs';
import { CordonError } from '../../errors.js';
import { isWithin } from '../../policy/paths.js';
import type { StdioChoice } from './sandbox-process.js';

const NAMES = ['stdin', 'stdout', 'stderr'];

/** `noDelete`, `readWrite`: the plan's Landlock paths (a read-write path inside a no-delete one may truncate there). */
export function refuseTruncatableStdio(stdio: readonly StdioChoice[], noDelete: readonly string[], readWrite: readonly string[]): void {
  if (noDelete.length === 0) return;
  stdio.forEach((choice, i) => {
    const fd = choice === 'inherit' ? i : typeof choice === 'number' ? choice : undefined;
    if (fd === undefined) return;
    let path: string;
    try {
      if (!fstatSync(fd).isFile()) return;
      // O_ACCMODE of the open: 0 is read-only, which cannot truncate.
      const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags === undefined || (Number.parseInt(flags, 8) & 3) === 0) return;
      path = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return; // not open: nothing is handed on
    }
    const area = noDelete.find((d) => isWithin(path, d));
    if (area === undefined || readWrite.some((w) => w !== area && isWithin(w, area) && isWithin(path, w))) return;
    throw new CordonError('CORDON_ERR_POLICY', `the command's ${NAMES[i]} is ${path}, in the read-write-no-delete path ${area}, opened for writing before the sandbox: through that descriptor the command could truncate it, which no-delete forbids and the kernel checks only when a file is opened inside. Nothing was run. Let it write through a pipe instead (\`cordon … | tee -a ${path}\`), or make ${area} read-write`);
  });
}
