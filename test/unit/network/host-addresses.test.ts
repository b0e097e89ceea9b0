import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { networkInterfaces } from 'node:os';
import { CordonError } from '../../../src/errors.js';
import { formatIp } from '../../../src/network/addresses.js';
import { hostAddresses, kernelLocal } from '../../../src/network/host-addresses.js';

type Ifaces = ReturnType<typeof networkInterfaces>;

function iface(address: string, family: 'IPv4' | 'IPv6') {
  return { address, family, netmask: '', mac: '00:00:00:00:00:00', internal: false, cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) } as NonNullable<Ifaces[string]>[number];
}

test('hostAddresses lists every interface address, zone ids stripped, mapped forms unmapped', () => {
  const fake: Ifaces = {
    lo: [iface('127.0.0.1', 'IPv4'), iface('::1', 'IPv6')],
    eth0: [iface('192.0.2.2', 'IPv4'), iface('fe80::1%eth0', 'IPv6'), iface('::ffff:10.0.0.5', 'IPv6'), iface('garbage', 'IPv4')],
    down: undefined,
  };
  assert.deepEqual(hostAddresses(() => fake).map(formatIp), ['127.0.0.1', '::1', '192.0.2.2', 'fe80::1', '10.0.0.5']);
});

test('hostAddresses reads the real interfaces (at least loopback)', () => {
  assert.ok(hostAddresses().some((a) => formatIp(a) === '127.0.0.1'));
});

test('hostAddresses fails loudly instead of returning a shorter list', () => {
  assert.throws(() => hostAddresses(() => { throw new Error('uv_interface_addresses'); }), (e: unknown) => {
    assert.ok(e instanceof CordonError);
    assert.equal(e.code, 'CORDON_ERR_INTERNAL');
    assert.match(e.message, /uv_interface_addresses/);
    return true;
  });
});

test('kernelLocal: the kernel takes loopback as this host\'s own, and an address no interface here has as not', async () => {
  assert.equal(await kernelLocal('127.0.0.1'), true);
  assert.equal(await kernelLocal('127.0.0.2'), true, 'all of 127/8 is a local route, though no interface lists it');
  assert.equal(await kernelLocal('192.0.2.77'), false);
  assert.equal(await kernelLocal('2001:db8::77'), false);
});
