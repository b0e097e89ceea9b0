/**
 * The package's root directory, found from this module's own location. Works
 * both from the tsc output (dist/src/…) and from the one-file bundle
 * (dist/bundle/main.cjs) that bin/cordon.cjs loads for fast start-up.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return (cached = dir);
    dir = dirname(dir);
  }
  throw new Error(`cordon: cannot find the package root above ${fileURLToPath(import.meta.url)}`);
}
