/** Where the native helper lives: built by scripts/build-native.mjs at install time. */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CordonError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';

export function helperPath(): string {
  const p = process.env.CORDON_HELPER ?? join(packageRoot(), 'native', 'build', 'cordon-helper');
  try {
    accessSync(p, constants.X_OK);
  } catch (e) {
    throw new CordonError('CORDON_ERR_MISSING_DEPENDENCY', `native helper ${p} is missing or not executable; build it with: npm rebuild cordon (needs a C compiler: apt-get install -y gcc libc6-dev)`, { cause: e });
  }
  return p;
}

/** cordon-relay, built beside the helper. */
export function relayPath(): string {
  const p = process.env.CORDON_RELAY ?? join(packageRoot(), 'native', 'build', 'cordon-relay');
  try {
    accessSync(p, constants.X_OK);
  } catch (e) {
    throw new CordonError('CORDON_ERR_MISSING_DEPENDENCY', `network relay ${p} is missing or not executable; build it with: npm rebuild cordon (needs a C compiler: apt-get install -y gcc libc6-dev)`, { cause: e });
  }
  return p;
}
