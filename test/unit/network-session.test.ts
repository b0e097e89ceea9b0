import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heldInHome, netEvent } from '../../src/network-session.js';

test('a proxy decision becomes a net.allowed / net.refused event of its command', () => {
  assert.deepEqual(netEvent({ owner: '0', via: 'connect', host: 'a.com', port: 443, allowed: true, dialed: '1.2.3.4', rule: 'network.allowedDomains[0]: "a.com"' }), {
    type: 'net.allowed', host: 'a.com', port: 443, proxy: 'http', via: 'connect', address: '1.2.3.4', rule: 'network.allowedDomains[0]: "a.com"',
  });
  assert.deepEqual(netEvent({ owner: '0', via: 'socks5', host: 'b.com', port: 80, allowed: false, reason: 'not-allowlisted', message: 'cordon: connection to b.com:80 refused: not in network.allowedDomains; add "b.com" to allow it', rule: 'r', fix: 'network.allowedDomains: add "b.com"' }), {
    type: 'net.refused', host: 'b.com', port: 80, proxy: 'socks5', via: 'socks5', reason: 'not-allowlisted', rule: 'r', fix: 'network.allowedDomains: add "b.com"',
    message: 'connection to b.com:80 refused: not in network.allowedDomains; add "b.com" to allow it',
  });
  assert.deepEqual(netEvent({ via: 'http', host: 'c', port: 80, allowed: false, reason: 'host-mismatch' }), { type: 'net.refused', host: 'c', port: 80, proxy: 'http', via: 'http', reason: 'host-mismatch', rule: 'built-in', fix: null });
});

test('heldInHome: a program under an entry of $HOME an earlier run left read-only is not one its command could write', () => {
  const h = '/home/u';
  // --allow-write ~: ~/.local/bin (read-only whichever grant) and ~/.nvm (read-only under a grant above it).
  assert.equal(heldInHome('/home/u/.local/bin/op', h, h), true);
  assert.equal(heldInHome('/home/u/.nvm/versions/node/v20.0.0/bin/bw', h, h), true);
  assert.equal(heldInHome('/home/u/tools/op', h, h), false, 'an ordinary directory of $HOME was writable');
  // A grant that named a broad entry, or a path in it: the user opened it; one beneath an always-held entry did not.
  assert.equal(heldInHome('/home/u/.nvm/versions/node/v20.0.0/bin/bw', '/home/u/.nvm', h), false);
  assert.equal(heldInHome('/home/u/.local/bin/op', '/home/u/.local/bin', h), true);
});
