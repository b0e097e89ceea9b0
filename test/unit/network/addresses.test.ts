import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SettingsError } from '../../../src/errors.js';
import {
  DENIED_CLASSES, LOCAL_CLASSES, classify, classifyAddress, embeddedIPv4, endsInNumber, formatIp, mapIPv4, parseAddressRange,
  parseAddressRanges, parseIPv4, parseIPv4Numeric, parseIPv6, parseIp, rangeContains, sameAddress, unmapIPv4,
  type AddressClass, type EmbeddingKind, type IpAddress,
} from '../../../src/network/addresses.js';

function ip(s: string): IpAddress {
  const a = parseIp(s);
  assert.ok(a, `test setup: ${s} should parse`);
  return a;
}

// ------------------------------------------------------------------- IPv4

test('parseIPv4 accepts only strict dotted quads', () => {
  for (const s of ['0.0.0.0', '1.2.3.4', '255.255.255.255', '10.0.0.1', '192.168.100.200']) {
    assert.equal(formatIp(parseIPv4(s)!), s, s);
  }
  for (const s of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.04', '0x1.2.3.4', '1.2.3.4.', '.1.2.3.4', '1..3.4', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.-4', '1.2.3.4a', '１.2.3.4']) {
    assert.equal(parseIPv4(s), undefined, JSON.stringify(s));
  }
});

test('parseIPv4Numeric reads every inet_aton spelling', () => {
  const table: Array<[string, string | undefined]> = [
    ['127.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0x7f.0.0.1', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0x0000007f.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0x7f.0.0.0x1', '127.0.0.1'],
    ['010.0.0.1', '8.0.0.1'],
    ['0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['00', '0.0.0.0'],
    ['169.254.43518', '169.254.169.254'],
    ['2852039166', '169.254.169.254'],
    ['0xa9.0xfe.0xa9.0xfe', '169.254.169.254'],
    ['4294967295', '255.255.255.255'],
    ['1.16777215', '1.255.255.255'],
    ['1.2.65535', '1.2.255.255'],
    ['4294967296', undefined],
    ['0x100000000', undefined],
    ['1.16777216', undefined],
    ['1.2.65536', undefined],
    ['256.1', undefined],
    ['1.256.1.1', undefined],
    ['1.2.3.256', undefined],
    ['1.2.3.4.5', undefined],
    ['08.1.1.1', undefined],
    ['09', undefined],
    ['0x1g', undefined],
    ['1..2', undefined],
    ['', undefined],
    ['1.2.3.', undefined],
    ['-1', undefined],
    ['1e3', undefined],
  ];
  for (const [s, want] of table) {
    const a = parseIPv4Numeric(s);
    assert.equal(a ? formatIp(a) : undefined, want, s);
  }
});

test('endsInNumber: the WHATWG rule that makes a host an IPv4 literal or nothing', () => {
  for (const s of ['1', '127.1', 'example.123', 'a.0x', 'a.0x7f', 'a.b.0', '0177']) assert.equal(endsInNumber(s), true, s);
  for (const s of ['example.com', '1.2.3.4x', 'a.0xg', 'a.1a', 'a.x0', 'a.-1', '123.example']) assert.equal(endsInNumber(s), false, s);
});

// ------------------------------------------------------------------- IPv6

test('parseIPv6 accepts RFC 4291 text forms; formatIp prints RFC 5952', () => {
  const table: Array<[string, string]> = [
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // leftmost of equal runs
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], // longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
    ['FE80::', 'fe80::'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['::ffff:7f00:1', '::ffff:127.0.0.1'],
    ['::FFFF:7F00:0001', '::ffff:127.0.0.1'],
    ['0:0:0:0:0:ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['::1.2.3.4', '::102:304'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ];
  for (const [s, want] of table) {
    const a = parseIPv6(s);
    assert.ok(a, s);
    assert.equal(a.family, 6);
    assert.equal(formatIp(a), want, s);
    assert.deepEqual(parseIPv6(formatIp(a))?.bytes, a.bytes, `round trip ${s}`);
  }
});

test('parseIPv6 rejects malformed text, brackets and zone ids', () => {
  for (const s of [
    '', ':', ':::', '1:::2', ':1::2', '1::2:', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7::8', '12345::', 'g::1', '[::1]', '::1%eth0', 'fe80::1%1', '1.2.3.4::', '::1.2.3.4:1', '::1.2.3', '::256.0.0.1',
    '::01.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', ' ::1', '::1 ', '::-1', '1.2.3.4',
  ]) {
    assert.equal(parseIPv6(s), undefined, JSON.stringify(s));
  }
});

test('unmapIPv4 / mapIPv4 / sameAddress', () => {
  assert.equal(formatIp(unmapIPv4(ip('::ffff:10.1.2.3'))), '10.1.2.3');
  assert.equal(unmapIPv4(ip('::ffff:10.1.2.3')).family, 4);
  assert.equal(formatIp(unmapIPv4(ip('64:ff9b::a01:203'))), '64:ff9b::a01:203');
  assert.equal(formatIp(mapIPv4(ip('10.1.2.3'))), '::ffff:10.1.2.3');
  assert.ok(sameAddress(ip('::ffff:7f00:1'), ip('127.0.0.1')));
  assert.ok(sameAddress(ip('2001:db8::1'), ip('2001:0db8:0::0:1')));
  assert.ok(!sameAddress(ip('::7f00:1'), ip('127.0.0.1')));
  assert.ok(!sameAddress(ip('127.0.0.1'), ip('127.0.0.2')));
});

// --------------------------------------------------------- classification

test('classifyAddress: every class, both families', () => {
  const table: Array<[string, AddressClass]> = [
    ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'], ['::', 'unspecified'],
    ['127.0.0.1', 'loopback'], ['127.255.255.254', 'loopback'], ['::1', 'loopback'],
    ['169.254.0.1', 'link-local'], ['169.254.255.255', 'link-local'], ['fe80::1', 'link-local'], ['febf:ffff::1', 'link-local'],
    ['224.0.0.1', 'multicast'], ['239.255.255.255', 'multicast'], ['ff02::1', 'multicast'], ['ff0e::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['169.254.169.254', 'metadata'], ['169.254.170.2', 'metadata'], ['100.100.100.200', 'metadata'], ['168.63.129.16', 'metadata'],
    ['192.0.0.192', 'metadata'], ['fd00:ec2::254', 'metadata'], ['fd00:ec2::23', 'metadata'], ['fd20:ce::254', 'metadata'],
    ['fd00:c1::a9fe:a9fe', 'metadata'], ['fd00:42::42', 'metadata'],
    ['10.0.0.1', 'private'], ['10.255.255.255', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'], ['100.64.0.1', 'private'], ['100.127.255.255', 'private'], ['fc00::1', 'private'], ['fd12:3456::1', 'private'],
    ['fec0::1', 'private'], ['64:ff9b:1::808:808', 'private'],
    ['240.0.0.1', 'reserved'], ['254.255.255.255', 'reserved'], ['192.0.0.1', 'reserved'], ['198.18.0.1', 'reserved'], ['198.19.255.255', 'reserved'],
    ['2001:2::1', 'reserved'], ['100::1', 'reserved'], ['::7f00:1', 'reserved'], ['::ffff:0:7f00:1', 'reserved'], ['4000::1', 'reserved'], ['1::', 'reserved'],
    ['192.0.2.1', 'documentation'], ['198.51.100.1', 'documentation'], ['203.0.113.255', 'documentation'], ['2001:db8::1', 'documentation'], ['3fff::1', 'documentation'],
    ['8.8.8.8', 'global'], ['1.1.1.1', 'global'], ['172.15.255.255', 'global'], ['172.32.0.0', 'global'], ['100.63.255.255', 'global'], ['100.128.0.0', 'global'],
    ['169.253.255.255', 'global'], ['169.255.0.0', 'global'], ['198.17.255.255', 'global'], ['198.20.0.0', 'global'], ['223.255.255.255', 'global'],
    ['2606:4700:4700::1111', 'global'], ['2a00:1450:4001::1', 'global'], ['64:ff9b::808:808', 'global'], ['2002:808:808::1', 'global'],
    // IPv4-mapped addresses are their IPv4 address
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:169.254.169.254', 'metadata'], ['::ffff:8.8.8.8', 'global'], ['::ffff:10.0.0.1', 'private'],
  ];
  for (const [s, want] of table) assert.equal(classifyAddress(ip(s)), want, s);
});

test('denied and local class sets', () => {
  for (const c of ['metadata', 'unspecified', 'loopback', 'link-local', 'multicast', 'broadcast', 'reserved'] as const) assert.ok(DENIED_CLASSES.has(c), c);
  for (const c of ['private', 'documentation', 'global'] as const) assert.ok(!DENIED_CLASSES.has(c), c);
  assert.deepEqual([...LOCAL_CLASSES].sort(), ['documentation', 'private']);
});

test('embeddedIPv4: every embedding form is extracted and classified', () => {
  const table: Array<[string, Array<[EmbeddingKind, string, AddressClass]>]> = [
    ['::ffff:7f00:1', [['ipv4-mapped', '127.0.0.1', 'loopback']]],
    ['::ffff:127.0.0.1', [['ipv4-mapped', '127.0.0.1', 'loopback']]],
    ['::ffff:169.254.169.254', [['ipv4-mapped', '169.254.169.254', 'metadata']]],
    ['::7f00:1', [['ipv4-compatible', '127.0.0.1', 'loopback']]],
    ['::127.0.0.1', [['ipv4-compatible', '127.0.0.1', 'loopback']]],
    ['::2', [['ipv4-compatible', '0.0.0.2', 'unspecified']]],
    ['::ffff:0:7f00:1', [['ipv4-translated', '127.0.0.1', 'loopback']]],
    ['64:ff9b::7f00:1', [['nat64', '127.0.0.1', 'loopback']]],
    ['64:ff9b::169.254.169.254', [['nat64', '169.254.169.254', 'metadata']]],
    ['64:ff9b::808:808', [['nat64', '8.8.8.8', 'global']]],
    ['64:ff9b:1::7f00:1', [['nat64-local', '127.0.0.1', 'loopback']]], // /96 layout only (suffix bits are not zero for the others)
    // /48 layout of 127.0.0.1: v4 in bytes 6,7,9,10; every layout that fits is decoded
    ['64:ff9b:1:7f00:0:100::', [['nat64-local', '0.0.0.0', 'unspecified'], ['nat64-local', '0.1.0.0', 'unspecified'], ['nat64-local', '0.0.1.0', 'unspecified'], ['nat64-local', '127.0.0.1', 'loopback']]],
    // /64 layout of 8.8.8.8: v4 in bytes 9-12
    ['64:ff9b:1:0:8:808:800::', [['nat64-local', '8.0.0.0', 'global'], ['nat64-local', '8.8.8.8', 'global']]],
    ['2002:7f00:1::', [['6to4', '127.0.0.1', 'loopback']]],
    ['2002:a9fe:a9fe:1::1', [['6to4', '169.254.169.254', 'metadata']]],
    ['2002:808:808::1', [['6to4', '8.8.8.8', 'global']]],
    // RFC 4380 example: server 65.54.227.120, client 192.0.2.45 (obfuscated as 3fff:fdd2)
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', [['teredo-server', '65.54.227.120', 'global'], ['teredo-client', '192.0.2.45', 'documentation']]],
    ['2001:0:808:808::80ff:fffe', [['teredo-server', '8.8.8.8', 'global'], ['teredo-client', '127.0.0.1', 'loopback']]],
    ['2001:0:7f00:1::f7f7:f7f7', [['teredo-server', '127.0.0.1', 'loopback'], ['teredo-client', '8.8.8.8', 'global']]],
    ['::', []],
    ['::1', []],
    ['2001:db8::7f00:1', []],
    ['2606:4700::7f00:1', []],
    ['64:ff9b:2::7f00:1', []],
    ['127.0.0.1', []],
  ];
  for (const [s, want] of table) {
    const got = embeddedIPv4(ip(s)).map((e) => [e.via, formatIp(e.address), e.class]);
    assert.deepEqual(got, want, s);
  }
});

test('classify: the outer class and the embedded ones together', () => {
  const c = classify(ip('64:ff9b::a9fe:a9fe'));
  assert.equal(c.class, 'global');
  assert.deepEqual(c.embedded.map((e) => e.class), ['metadata']);
  const m = classify(ip('::ffff:169.254.169.254'));
  assert.equal(m.class, 'metadata');
  assert.equal(m.embedded[0]?.via, 'ipv4-mapped');
});

// ----------------------------------------------------------------- ranges

test('parseAddressRange accepts CIDRs and single addresses', () => {
  const table: Array<[string, 4 | 6, string, number]> = [
    ['10.0.0.0/8', 4, '10.0.0.0', 8],
    ['172.16.0.0/12', 4, '172.16.0.0', 12],
    ['100.64.0.0/10', 4, '100.64.0.0', 10],
    ['0.0.0.0/0', 4, '0.0.0.0', 0],
    ['203.0.113.7', 4, '203.0.113.7', 32],
    ['203.0.113.7/32', 4, '203.0.113.7', 32],
    ['fd00::/8', 6, 'fd00::', 8],
    ['fc00::/7', 6, 'fc00::', 7],
    ['::/0', 6, '::', 0],
    ['2001:db8::1', 6, '2001:db8::1', 128],
    ['::ffff:10.0.0.0/104', 4, '10.0.0.0', 8], // mapped ranges become IPv4
    ['::ffff:0:0/96', 4, '0.0.0.0', 0],
  ];
  for (const [s, fam, net, prefix] of table) {
    const r = parseAddressRange(s);
    assert.ok(r.ok, s);
    assert.equal(r.range.family, fam, s);
    assert.equal(formatIp({ family: r.range.family, bytes: r.range.bytes }), net, s);
    assert.equal(r.range.prefix, prefix, s);
  }
});

test('parseAddressRange rejects malformed ranges, with the fix where there is one', () => {
  const table: Array<[string, RegExp]> = [
    ['10.0.0.1/8', /no host bits set; write "10\.0\.0\.0\/8"/],
    ['fd00::1/8', /write "fd00::\/8"/],
    ['10.0.0.0/33', /prefix length from 0 to 32/],
    ['fd00::/129', /prefix length from 0 to 128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/08', /prefix length/],
    ['10.0.0.0/-1', /prefix length/],
    ['10.0.0.0/8/8', /prefix length/],
    ['fe80::/10%eth0', /prefix length/],
    ['fe80::1%eth0/128', /zone id/],
    ['[fd00::]/8', /without brackets/],
    ['10/8', /IP address or CIDR range/],
    ['010.0.0.0/8', /IP address or CIDR range/],
    ['example.com', /IP address or CIDR range/],
    ['', /IP address or CIDR range/],
  ];
  for (const [s, re] of table) {
    const r = parseAddressRange(s);
    assert.ok(!r.ok, s);
    assert.match(r.expected, re, s);
  }
});

test('rangeContains: prefix boundaries, families, mapped forms', () => {
  const r = (s: string) => {
    const p = parseAddressRange(s);
    assert.ok(p.ok, s);
    return p.range;
  };
  const table: Array<[string, string, boolean]> = [
    ['172.16.0.0/12', '172.16.0.0', true],
    ['172.16.0.0/12', '172.31.255.255', true],
    ['172.16.0.0/12', '172.32.0.0', false],
    ['172.16.0.0/12', '172.15.255.255', false],
    ['100.64.0.0/10', '100.127.1.1', true],
    ['100.64.0.0/10', '100.128.0.0', false],
    ['0.0.0.0/0', '255.255.255.255', true],
    ['10.0.0.0/8', '::ffff:10.9.9.9', true], // an IPv4-mapped address is its IPv4 address
    ['10.0.0.0/8', '::a09:909', false], // IPv4-compatible is not (embedded forms are judged by the caller)
    ['fc00::/7', 'fdff:ffff::1', true],
    ['fc00::/7', 'fe00::1', false],
    ['::/0', '8.8.8.8', true], // an IPv6 range covering ::ffff:0:0/96 covers IPv4
    ['::ffff:0:0/96', '8.8.8.8', true],
    ['2001:db8::/32', '8.8.8.8', false],
    ['10.0.0.0/8', 'fd00::a00:1', false],
    ['2001:db8::1', '2001:db8::1', true],
    ['2001:db8::1', '2001:db8::2', false],
  ];
  for (const [range, addr, want] of table) assert.equal(rangeContains(r(range), ip(addr)), want, `${range} ∋ ${addr}`);
});

test('parseAddressRanges: SettingsError names the entry', () => {
  const got = parseAddressRanges(['10.0.0.0/8', 'fd00::/8'], 'network.deniedResolvedAddresses', 'settings.json');
  assert.deepEqual(got.map((x) => x.keyPath), ['network.deniedResolvedAddresses[0]', 'network.deniedResolvedAddresses[1]']);
  assert.deepEqual(got.map((x) => x.source), ['10.0.0.0/8', 'fd00::/8']);
  const check = (entries: unknown, keyPath: string, re: RegExp) => {
    assert.throws(() => parseAddressRanges(entries, 'network.deniedResolvedAddresses', 'settings.json'), (e: unknown) => {
      assert.ok(e instanceof SettingsError);
      assert.equal(e.code, 'CORDON_ERR_SETTINGS_INVALID');
      assert.equal(e.keyPath, keyPath);
      assert.equal(e.file, 'settings.json');
      assert.match(e.message, re);
      return true;
    });
  };
  check(['10.0.0.0/8', '10.0.0.1/8'], 'network.deniedResolvedAddresses[1]', /write "10\.0\.0\.0\/8"/);
  check(['10.0.0.0/8', 'fd00::/8', 7], 'network.deniedResolvedAddresses[2]', /expected a string, found number 7/);
  check('10.0.0.0/8', 'network.deniedResolvedAddresses', /expected an array/);
});
