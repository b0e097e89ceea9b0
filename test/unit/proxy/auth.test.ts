import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DIAL_PREAMBLE_PREFIX, preamble, SECRET_LENGTH, SessionSecrets } from '../../../src/proxy/auth.js';

test('SessionSecrets: each issued secret names its owner; plain and dial preambles; revoked and unknown secrets match nothing', () => {
  const s = new SessionSecrets();
  const a = s.issue('a');
  const b = s.issue('b');
  assert.equal(a.length, SECRET_LENGTH);
  assert.notEqual(a, b);
  assert.deepEqual(s.match(preamble(a)), { kind: 'plain', owner: 'a' });
  assert.deepEqual(s.match(preamble(b)), { kind: 'plain', owner: 'b' });
  assert.deepEqual(s.match(Buffer.from(`${DIAL_PREAMBLE_PREFIX}${b}\n`)), { kind: 'dial', owner: 'b' });
  assert.equal(s.match(preamble('A'.repeat(SECRET_LENGTH))), false);
  assert.equal(s.match(preamble(a).subarray(1)), false, 'a short preamble');
  assert.equal(s.match(Buffer.concat([preamble(a), Buffer.from('x')])), false, 'a long one');
  s.revoke(a);
  assert.equal(s.match(preamble(a)), false);
  assert.deepEqual(s.match(preamble(b)), { kind: 'plain', owner: 'b' });
});
