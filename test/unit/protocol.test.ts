/**
 * native/protocol.json is the one source of the constants TypeScript and C
 * share: src/protocol.ts imports it and scripts/build-native.mjs generates
 * native/build/cordon-protocol.h from it. This reads the generated header
 * back and checks every value against what TypeScript uses; the header's
 * own static assertions check Landlock's bits against the kernel's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOCOL } from '../../src/protocol.js';
import { FDS } from '../../src/platform/linux/sandbox-process.js';
import { buildHelper, repoRoot, run } from '../helpers/native.js';

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

test('the generated C header says exactly what src/protocol.ts says', () => {
  buildHelper();
  const header = readFileSync(join(repoRoot, 'native', 'build', 'cordon-protocol.h'), 'utf8');
  const defined = new Map<string, string>();
  for (const m of header.matchAll(/^#define (CORDON_[A-Z0-9_]+) (.+)$/gm)) if (m[1] !== 'CORDON_PROTOCOL_H') defined.set(m[1]!, m[2]!);
  const expected = new Map<string, string>();
  for (const [section, values] of Object.entries(PROTOCOL)) {
    if (section.startsWith('$')) continue;
    for (const [name, value] of Object.entries(values as Record<string, string | number>)) expected.set(`CORDON_${snake(section)}_${snake(name)}`, typeof value === 'number' ? String(value) : JSON.stringify(value));
  }
  assert.deepEqual(defined, expected);
  assert.equal(defined.get('CORDON_RELAY_READY'), '"ready\\n"', 'a C string literal with its escape');
  // The launcher's descriptors are the protocol's.
  assert.deepEqual({ ...FDS }, PROTOCOL.fd);
});

test('the helper answers to the protocol\'s names: a command and an option it does not know are usage errors (the protocol\'s failure code)', async () => {
  const helper = buildHelper();
  const abi = await run(helper, [PROTOCOL.helperCommand.landlockAbi]);
  assert.equal(abi.code, 0);
  assert.match(abi.stdout, /^\d+\n$/);
  assert.equal((await run(helper, ['landlock-version'])).code, PROTOCOL.exit.failure);
  assert.equal((await run(helper, [PROTOCOL.helperCommand.run, '--landlock-min', '1', '--', 'true'])).code, PROTOCOL.exit.failure);
  const notFound = await run(helper, [PROTOCOL.helperCommand.run, '--', '/nonexistent/cordon-test']);
  assert.equal(notFound.code, PROTOCOL.exit.notFound);
});
