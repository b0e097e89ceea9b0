import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostsFileAddresses } from '../../../src/network/resolve.js';

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
