import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostsFileAddresses, netEvent } from '../../../src/network/session.js';

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

test('a hosts file gives a name the addresses of every line that names it, case aside, comments and bad lines skipped', () => {
  const text = [
    '127.0.0.1 localhost',
    '# 10.0.0.1 api.example.com',
    '192.0.2.7   API.Example.com api # trailing comment',
    'not-an-ip api.example.com',
    '2001:db8::7 api.example.com',
    '192.0.2.7 api.example.com',
    '192.0.2.9 other.example.com',
    'fe80::1%lo scoped.example.com',
    '10.0.0.9 \u00a0nbsp.example.com',
    '10.0.0.8\tTAB.example.com\r',
  ].join('\n');
  // glibc skips a scoped address, and splits fields on blanks and tabs only.
  assert.deepEqual(hostsFileAddresses(text, 'scoped.example.com'), []);
  assert.deepEqual(hostsFileAddresses(text, 'nbsp.example.com'), []);
  assert.deepEqual(hostsFileAddresses(text, 'tab.example.com'), ['10.0.0.8']);
  assert.deepEqual(hostsFileAddresses(text, 'api.example.com'), ['192.0.2.7', '2001:db8::7']);
  assert.deepEqual(hostsFileAddresses(text, 'api.example.com.'), ['192.0.2.7', '2001:db8::7']);
  assert.deepEqual(hostsFileAddresses(text, 'example.com'), []);
  assert.deepEqual(hostsFileAddresses('', 'localhost'), []);
});
