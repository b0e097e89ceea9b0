/** Where the native programs live: built by scripts/build-native.mjs at install time. */
import { accessSync, constants, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { CordonError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';

/**
 * native/build/<file>, or the path in `envVar`, with its links resolved: the
 * sandbox must find the program where it really is (a package reached
 * through a link, say `node_modules/cordon -> /tmp/checkout` under Node's
 * --preserve-symlinks, lies behind the private /tmp inside). A missing one
 * is an error with the fix.
 */
function nativeProgram(env: Readonly<Record<string, string | undefined>>, file: string, envVar: string, what: string): string {
  const p = env[envVar] ?? join(packageRoot(), 'native', 'build', file);
  try {
    accessSync(p, constants.X_OK);
    return realpathSync(p);
  } catch (e) {
    throw new CordonError('CORDON_ERR_MISSING_DEPENDENCY', `${what} ${p} is missing or not executable; build it with: npm rebuild cordon (needs a C compiler: apt-get install -y gcc libc6-dev)`, { cause: e });
  }
}

export function helperPath(env: Readonly<Record<string, string | undefined>>): string {
  return nativeProgram(env, 'cordon-helper', 'CORDON_HELPER', 'native helper');
}

/** cordon-relay, built beside the helper. */
export function relayPath(env: Readonly<Record<string, string | undefined>>): string {
  return nativeProgram(env, 'cordon-relay', 'CORDON_RELAY', 'network relay');
}
