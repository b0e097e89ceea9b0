/** Temporary directories that are removed when the test process exits. */
import { mkdtempSync, rmSync } from 'node:fs';

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const d = mkdtempSync(prefix);
  tempDirs.push(d);
  return d;
}
