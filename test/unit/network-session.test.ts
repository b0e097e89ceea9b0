import { test } from 'node:test';
import assert from 'node:assert/strict';
import { netEvent } from '../../src/network-session.js';

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
