import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp, type IpAddress } from '../../../src/network/addresses.js';
import { compileNetworkPolicy, decide, decidingRule, type Decision, type NetworkSettings, type Via } from '../../../src/network/decide.js';
import type { Decider } from '../../../src/proxy/types.js';
import { mitmProxy, parentProxy } from '../../../src/network/parent-proxy.js';

const FILE = 'test-settings.json';
const PUBLIC = '93.184.216.34';
const OWN = ['192.0.2.2', 'fd00::2', '127.0.0.1', '::1'].map((s) => parseIp(s)!);

/** A resolver over a fixed table; records every call. Unknown names resolve to PUBLIC. */
function resolver(table: Record<string, readonly string[] | Error | unknown> = {}) {
  const calls: string[] = [];
  const resolve = async (name: string): Promise<readonly string[]> => {
    calls.push(name);
    const key = name.replace(/\.$/, '');
    const v = key in table ? table[key] : [PUBLIC];
    if (v instanceof Error) throw v;
    return v as readonly string[];
  };
  return { calls, resolve };
}

function policy(s: NetworkSettings, own: readonly IpAddress[] = OWN) {
  return compileNetworkPolicy(s, FILE, own);
}

async function run(host: string, port: number, s: NetworkSettings, table?: Record<string, unknown>, via: Via = 'connect') {
  const r = resolver(table);
  const d = await decide({ host, port, via }, policy(s), r);
  // Every message is one line, starts with "cordon: ", and carries no raw control character.
  if (!d.allow) {
    assert.ok(d.message.startsWith('cordon: '), d.message);
    assert.doesNotMatch(d.message, /[\x00-\x1f\x7f]/, d.message);
  }
  return { d, calls: r.calls };
}

function allowed(d: Decision): Extract<Decision, { allow: true }> {
  assert.ok(d.allow, d.allow ? '' : `expected allow, got ${d.reason}: ${d.message}`);
  return d;
}

function refused(d: Decision, reason: string): Extract<Decision, { allow: false }> {
  assert.ok(!d.allow, `expected ${reason}, got allow (dial ${d.allow ? d.dial.address : ''})`);
  assert.equal(d.reason, reason, d.message);
  return d;
}

test('contract: decide() fits the proxies\' Decider', async () => {
  const p = policy({ allowedDomains: ['example.com'] });
  const r = resolver();
  const decider: Decider = (req) => decide(req, p, r);
  const d = await decider({ host: 'example.com', port: 443, via: 'connect' });
  assert.deepEqual(d.allow && d.dial, { address: PUBLIC, port: 443, family: 4 });
});

test('names: case, trailing dot, IDN, suffix confusion, wildcard apex', async () => {
  const s = { allowedDomains: ['example.com', '*.example.org', 'xn--bcher-kva.example'] };
  const table: Array<[string, string | null, string?]> = [
    // host, allowing rule (null = not-allowlisted), or the refusal reason
    ['example.com', 'example.com'],
    ['EXAMPLE.COM', 'example.com'],
    ['Example.Com.', 'example.com'],
    ['ＥＸＡＭＰＬＥ.com', 'example.com'],
    ['example。com', 'example.com'],
    ['www.example.com', null],
    ['evilexample.com', null],
    ['example.com.evil.net', null],
    ['example.co', null],
    ['example.org', null], // *.example.org does not cover the apex
    ['a.example.org', '*.example.org'],
    ['a.b.c.example.org', '*.example.org'],
    ['A.EXAMPLE.ORG.', '*.example.org'],
    ['evilexample.org', null],
    ['a.evilexample.org', null],
    ['example.org.evil.net', null],
    ['a.example.org.evil.net', null],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.example.', 'xn--bcher-kva.example'],
    ['example.com..', null, 'invalid-host'],
    ['.example.com', null, 'invalid-host'],
    ['exa%6dple.com', null, 'invalid-host'],
    ['example.com%00', null, 'invalid-host'],
    ['example.com\0.evil.net', null, 'invalid-host'],
    ['a.example.org/evil', null, 'invalid-host'],
    ['a.example.org evil', null, 'invalid-host'],
    ['a.example.org\r\nX-Injected: 1', null, 'invalid-host'],
    ['a.example.org:443', null, 'invalid-host'],
    ['*.example.org', null, 'invalid-host'],
    ['', null, 'invalid-host'],
    ['-a.example.org', null, 'invalid-host'],
    ['a\u202e.example.org', null, 'invalid-host'],
  ];
  for (const [raw, ruleSource, reason] of table) {
    const { d, calls } = await run(raw, 443, s);
    if (ruleSource) {
      const a = allowed(d);
      assert.equal(a.rule, ruleSource, raw);
      assert.equal(a.dial.address, PUBLIC);
      assert.equal(calls.length, 1, `resolved once: ${raw}`);
    } else {
      refused(d, reason ?? 'not-allowlisted');
      assert.deepEqual(calls, [], `never resolved: ${JSON.stringify(raw)}`);
    }
  }
});

test('the resolver gets the normalised name (no trailing dot: /etc/hosts must match), once', async () => {
  const { d, calls } = await run('API.Example.ORG.', 443, { allowedDomains: ['*.example.org'] });
  allowed(d);
  assert.deepEqual(calls, ['api.example.org']);
  const single = await run('Intranet', 80, { allowedDomains: ['intranet'] });
  allowed(single.d);
  assert.deepEqual(single.calls, ['intranet'], 'a single-label name is left to the resolver as written');
  const idn = await run('bücher.example', 80, { allowedDomains: ['xn--bcher-kva.example'] });
  assert.deepEqual(idn.calls, ['xn--bcher-kva.example']);
});

test('numeric IPv4 spellings are IP literals, never names for the resolver', async () => {
  const forms = ['127.0.0.1', '127.1', '127.0.1', '0x7f.1', '0x7f.0.0.1', '0X7F000001', '2130706433', '0177.0.0.1', '017700000001',
    '127.0.0.1.', '[::ffff:127.0.0.1]', '::ffff:127.0.0.1', '[::ffff:7f00:1]', '::FFFF:7F00:0001', '１２７.０.０.１'];
  // Not allow-listed as an IP: refused without resolving, even though names are allowed.
  for (const f of forms) {
    const { d, calls } = await run(f, 8080, { allowedDomains: ['example.com', '*.example.com'] });
    const r = refused(d, 'ip-literal-not-allowlisted');
    assert.deepEqual(calls, [], f);
    assert.match(r.message, /add "127\.0\.0\.1:8080" to allow it/, f);
  }
  // Allow-listed as an IP: every spelling reaches exactly 127.0.0.1, even though it is loopback.
  for (const f of forms) {
    const { d, calls } = await run(f, 8080, { allowedDomains: ['127.0.0.1:8080'] });
    const a = allowed(d);
    assert.deepEqual(a.dial, { address: '127.0.0.1', port: 8080, family: 4 }, f);
    assert.equal(a.rule, '127.0.0.1:8080');
    assert.equal(a.ruleKeyPath, 'network.allowedDomains[0]');
    assert.deepEqual(calls, []);
  }
  for (const [f, reason] of [
    ['127.0.0.2', 'ip-literal-not-allowlisted'],
    ['[64:ff9b::7f00:1]', 'ip-literal-not-allowlisted'], // via NAT64: a different destination
    ['[::7f00:1]', 'ip-literal-not-allowlisted'],
    ['example.123', 'invalid-host'],
    ['1.2.3.4.5', 'invalid-host'],
    ['0x7f.0x1000000', 'invalid-host'],
    ['08.0.0.1', 'invalid-host'],
  ] as const) {
    const { d, calls } = await run(f, 8080, { allowedDomains: ['127.0.0.1:8080', '*.example.com'] });
    refused(d, reason);
    assert.deepEqual(calls, [], f);
  }
  refused((await run('127.0.0.1', 8081, { allowedDomains: ['127.0.0.1:8080'] })).d, 'ip-literal-not-allowlisted');
});

test('IPv6 literals: bracketed or not, canonical comparison, zone ids refused', async () => {
  const s = { allowedDomains: ['[2001:db8::10]:8443', '[::1]', '[64:ff9b::808:808]'] };
  const table: Array<[string, number, string | null, string?]> = [
    ['[2001:db8::10]', 8443, '2001:db8::10'],
    ['2001:DB8:0:0:0:0:0:10', 8443, '2001:db8::10'],
    ['[2001:0db8::0010]', 8443, '2001:db8::10'],
    ['[2001:db8::10]', 443, null, 'ip-literal-not-allowlisted'],
    ['[::1]', 1, '::1'],
    ['[0:0:0:0:0:0:0:1]', 65535, '::1'],
    ['127.0.0.1', 80, null, 'ip-literal-not-allowlisted'],
    ['[64:ff9b::8.8.8.8]', 53, '64:ff9b::808:808'],
    ['[fe80::1%eth0]', 80, null, 'invalid-host'],
    ['[::1%lo]', 80, null, 'invalid-host'],
    ['[::ffff:1.2.3.4%x.example.com]', 80, null, 'invalid-host'],
    ['[::1', 80, null, 'invalid-host'],
    ['[::1]:80', 80, null, 'invalid-host'],
    ['1:2:3', 80, null, 'invalid-host'],
  ];
  for (const [raw, port, dial, reason] of table) {
    const { d } = await run(raw, port, s);
    if (dial) assert.deepEqual(allowed(d).dial, { address: dial, port, family: 6 }, raw);
    else refused(d, reason!);
  }
  const msg = refused((await run('[2001:db8::10]', 443, s)).d, 'ip-literal-not-allowlisted').message;
  assert.match(msg, /add "\[2001:db8::10\]:443" to allow it/);
});

test('an allowed name resolving to a denied address is refused', async () => {
  const s = { allowedDomains: ['*.example.com'] };
  const table: Array<[string, readonly string[], string, string?]> = [
    // name, answers, denial class, embedding
    ['loop', ['127.0.0.1'], 'loopback'],
    ['loop8', ['127.8.9.10'], 'loopback'],
    ['loop6', ['::1'], 'loopback'],
    ['mapped', ['::ffff:127.0.0.1'], 'loopback'],
    ['mappedhex', ['::ffff:7f00:1'], 'loopback'],
    ['compat', ['::7f00:1'], 'reserved'],
    ['nat64', ['64:ff9b::7f00:1'], 'loopback', 'nat64'],
    ['nat64meta', ['64:ff9b::a9fe:a9fe'], 'metadata', 'nat64'],
    ['nat64local', ['64:ff9b:1::7f00:1'], 'loopback', 'nat64-local'],
    ['sixtofour', ['2002:7f00:1::1'], 'loopback', '6to4'],
    ['teredo', ['2001:0:808:808::80ff:fffe'], 'loopback', 'teredo-client'],
    ['meta', ['169.254.169.254'], 'metadata'],
    ['metamapped', ['::ffff:169.254.169.254'], 'metadata'],
    ['ecs', ['169.254.170.2'], 'metadata'],
    ['alibaba', ['100.100.100.200'], 'metadata'],
    ['azure', ['168.63.129.16'], 'metadata'],
    ['aws6', ['fd00:ec2::254'], 'metadata'],
    ['ll', ['169.254.1.1'], 'link-local'],
    ['ll6', ['fe80::1'], 'link-local'],
    ['zero', ['0.0.0.0'], 'unspecified'],
    ['zero6', ['::'], 'unspecified'],
    ['mcast', ['224.0.0.1'], 'multicast'],
    ['mcast6', ['ff02::1'], 'multicast'],
    ['bcast', ['255.255.255.255'], 'broadcast'],
    ['res', ['240.0.0.1'], 'reserved'],
    ['bench', ['198.18.0.1'], 'reserved'],
    ['own', ['192.0.2.2'], 'host-address'],
    ['own6', ['fd00::2'], 'host-address'],
    ['ownmapped', ['::ffff:192.0.2.2'], 'host-address'],
    ['ownnat64', ['64:ff9b::c000:202'], 'host-address', 'nat64'],
    ['own6to4', ['2002:c000:202::1'], 'host-address', '6to4'],
    ['garbage', ['not-an-address'], 'unparsable'],
    ['zoned', ['fe80::1%eth0'], 'unparsable'],
    ['numeric', ['127.1'], 'unparsable'], // a resolver answer must be a strict address
  ];
  for (const [name, answers, denial, via] of table) {
    const host = `${name}.example.com`;
    const { d, calls } = await run(host, 443, s, { [host]: answers });
    const r = refused(d, 'resolved-to-denied-address');
    assert.equal(calls.length, 1);
    assert.equal(r.dropped?.length, answers.length, name);
    assert.equal(r.dropped?.[0]?.denial, denial, name);
    assert.equal(r.dropped?.[0]?.via, via, name);
    assert.equal(r.rule, '*.example.com');
    // the message names the class, never the address
    for (const a of answers) assert.ok(!r.message.includes(a), `${name}: message leaks ${a}: ${r.message}`);
  }
  const m = refused((await run('loop.example.com', 443, s, { 'loop.example.com': ['127.0.0.1', '169.254.169.254'] })).d, 'resolved-to-denied-address').message;
  assert.equal(m, 'cordon: connection to loop.example.com:443 refused: loop.example.com resolves only to denied addresses (loopback, cloud metadata); an allowed name may not lead there. If this is intended, add that address itself (with ":443") to network.allowedDomains');
});

test('mixed answers: denied ones are dropped, the first good one is dialed', async () => {
  const s = { allowedDomains: ['mixed.example.com', 'mixed6.example.com'] };
  const a = allowed((await run('mixed.example.com', 443, s, { 'mixed.example.com': ['127.0.0.1', '169.254.169.254', '93.184.216.35', PUBLIC] })).d);
  assert.deepEqual(a.dial, { address: '93.184.216.35', port: 443, family: 4 });
  assert.deepEqual(a.dropped.map((x) => [x.address, x.denial]), [['127.0.0.1', 'loopback'], ['169.254.169.254', 'metadata']]);
  const b = allowed((await run('mixed6.example.com', 443, s, { 'mixed6.example.com': ['::1', '64:ff9b::7f00:1', '2606:2800:220:1:248:1893:25c8:1946', PUBLIC] })).d);
  assert.deepEqual(b.dial, { address: '2606:2800:220:1:248:1893:25c8:1946', port: 443, family: 6 });
  // an IPv4-mapped answer is dialed as the IPv4 address it is
  const c = allowed((await run('mixed.example.com', 443, s, { 'mixed.example.com': ['::ffff:93.184.216.36'] })).d);
  assert.deepEqual(c.dial, { address: '93.184.216.36', port: 443, family: 4 });
});

test('private and documentation space: allowed by default, refused with denyPrivateAddresses', async () => {
  for (const addr of ['10.1.2.3', '172.16.0.1', '192.168.1.1', '100.64.0.1', 'fd12::1', '198.51.100.7', '64:ff9b::a01:203']) {
    const table = { 'reg.corp.example': [addr] };
    const open = await run('reg.corp.example', 443, { allowedDomains: ['reg.corp.example'] }, table);
    assert.equal(allowed(open.d).dial.address.length > 0, true, addr);
    const closed = await run('reg.corp.example', 443, { allowedDomains: ['reg.corp.example'], denyPrivateAddresses: true }, table);
    const r = refused(closed.d, 'resolved-to-denied-address');
    assert.match(r.dropped?.[0]?.denial ?? '', /^(private|documentation)$/, addr);
  }
});

test('resolver failures are refusals', async () => {
  const s = { allowedDomains: ['*.example.com'] };
  const enotfound = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
  const weird = Object.assign(new Error('x'), { code: 'EVIL\r\nX-Injected: 1' });
  const table: Array<[unknown, RegExp]> = [
    [enotfound, /could not be resolved \(ENOTFOUND\)$/],
    [weird, /could not be resolved$/],
    [new Error('boom'), /could not be resolved$/],
    [[], /has no addresses$/],
    ['not an array', /could not be resolved$/],
    [null, /could not be resolved$/],
  ];
  for (const [answer, re] of table) {
    const { d, calls } = await run('x.example.com', 443, s, { 'x.example.com': answer });
    const r = refused(d, 'resolve-failed');
    assert.match(r.message, re);
    assert.equal(calls.length, 1);
  }
  const throwsSync = { resolve: (): Promise<readonly string[]> => { throw new Error('sync'); } };
  refused(await decide({ host: 'x.example.com', port: 443, via: 'socks5' }, policy(s), throwsSync), 'resolve-failed');
});

test('deny always wins', async () => {
  const allow = ['example.com', '*.example.com', '127.0.0.1', '[64:ff9b::7f00:1]', '93.184.216.34'];
  const table: Array<[string[], string, number, string]> = [
    // deny list, host, port, expected deny key path
    [['bad.example.com'], 'bad.example.com', 443, 'network.deniedDomains[0]'],
    [['bad.example.com'], 'BAD.Example.COM.', 443, 'network.deniedDomains[0]'],
    [['x.org', '*.bad.example.com'], 'a.bad.example.com', 443, 'network.deniedDomains[1]'],
    [['example.com:22'], 'example.com', 22, 'network.deniedDomains[0]'],
    [['*'], 'example.com', 443, 'network.deniedDomains[0]'],
    [['*'], '127.0.0.1', 443, 'network.deniedDomains[0]'],
    [['*:22'], 'a.example.com', 22, 'network.deniedDomains[0]'],
    [['127.0.0.1'], '127.0.0.1', 80, 'network.deniedDomains[0]'],
    [['127.0.0.1'], '127.1', 80, 'network.deniedDomains[0]'],
    [['127.0.0.1'], '[::ffff:127.0.0.1]', 80, 'network.deniedDomains[0]'],
    [['127.0.0.1'], '[64:ff9b::7f00:1]', 80, 'network.deniedDomains[0]'], // embedded
    [['[::ffff:127.0.0.1]'], '127.0.0.1', 80, 'network.deniedDomains[0]'],
  ];
  for (const [deny, host, port, keyPath] of table) {
    const { d, calls } = await run(host, port, { allowedDomains: allow, deniedDomains: deny });
    const r = refused(d, 'denied-by-rule');
    assert.equal(r.ruleKeyPath, keyPath, `${deny} vs ${host}`);
    assert.deepEqual(calls, []);
  }
  allowed((await run('example.com', 443, { allowedDomains: allow, deniedDomains: ['example.com:22', '*:22'] })).d);
  allowed((await run('bad.example.com', 443, { allowedDomains: allow, deniedDomains: ['*.bad.example.com'] })).d); // the apex is not covered
  allowed((await run('notbad.example.com', 443, { allowedDomains: allow, deniedDomains: ['bad.example.com'] })).d);
  const m = refused((await run('bad.example.com', 443, { allowedDomains: allow, deniedDomains: ['bad.example.com'] })).d, 'denied-by-rule').message;
  assert.equal(m, 'cordon: connection to bad.example.com:443 refused: denied by network.deniedDomains[0] ("bad.example.com"); deny rules win over network.allowedDomains');
});

test('deny IP rules and denied ranges also apply to resolved addresses', async () => {
  const allow = ['*.example.com'];
  const t = { 'x.example.com': [PUBLIC] };
  const byRule = refused((await run('x.example.com', 443, { allowedDomains: allow, deniedDomains: [PUBLIC] }, t)).d, 'resolved-to-denied-address');
  assert.deepEqual(byRule.dropped, [{ address: PUBLIC, denial: 'denied-by-rule', keyPath: 'network.deniedDomains[0]' }]);
  allowed((await run('x.example.com', 443, { allowedDomains: allow, deniedDomains: [`${PUBLIC}:22`] }, t)).d);
  const byRange = refused((await run('x.example.com', 443, { allowedDomains: allow, deniedResolvedAddresses: ['93.184.216.0/24'] }, t)).d, 'resolved-to-denied-address');
  assert.deepEqual(byRange.dropped, [{ address: PUBLIC, denial: 'denied-range', keyPath: 'network.deniedResolvedAddresses[0]' }]);
  assert.match(byRange.message, /network\.deniedResolvedAddresses\); an allowed name may not lead there\.$/);
  const v6all = refused((await run('x.example.com', 443, { allowedDomains: allow, deniedResolvedAddresses: ['::/0'] }, t)).d, 'resolved-to-denied-address');
  assert.equal(v6all.dropped?.[0]?.denial, 'denied-range');
  const embedded = refused((await run('x.example.com', 443, { allowedDomains: allow, deniedResolvedAddresses: ['10.0.0.0/8'] }, { 'x.example.com': ['64:ff9b::a01:203'] })).d, 'resolved-to-denied-address');
  assert.deepEqual(embedded.dropped, [{ address: '64:ff9b::a01:203', denial: 'denied-range', keyPath: 'network.deniedResolvedAddresses[0]', via: 'nat64' }]);
  // ranges also win over an allow-listed IP literal
  const lit = refused((await run('10.1.2.3', 443, { allowedDomains: ['10.1.2.3'], deniedResolvedAddresses: ['10.0.0.0/8'] })).d, 'denied-by-rule');
  assert.equal(lit.ruleKeyPath, 'network.deniedResolvedAddresses[0]');
  const lit6 = refused((await run('[2002:a01:203::1]', 443, { allowedDomains: ['[2002:a01:203::1]'], deniedResolvedAddresses: ['10.0.0.0/8'] })).d, 'denied-by-rule');
  assert.match(lit6.message, /6to4/);
});

test('carve-out: a name may reach an address that is itself allow-listed (exactly, on that port)', async () => {
  const s = { allowedDomains: ['myapp.test', '127.0.0.1:3000'] };
  const t = { 'myapp.test': ['127.0.0.1'] };
  assert.deepEqual(allowed((await run('myapp.test', 3000, s, t)).d).dial, { address: '127.0.0.1', port: 3000, family: 4 });
  refused((await run('myapp.test', 3001, s, t)).d, 'resolved-to-denied-address');
  refused((await run('myapp.test', 3000, { ...s, deniedDomains: ['127.0.0.1'] }, t)).d, 'resolved-to-denied-address');
  // an embedded form never earns the carve-out
  refused((await run('myapp.test', 3000, s, { 'myapp.test': ['64:ff9b::7f00:1'] })).d, 'resolved-to-denied-address');
  // the mapped spelling is the same address, so it does
  allowed((await run('myapp.test', 3000, s, { 'myapp.test': ['::ffff:127.0.0.1'] })).d);
});

test('the kernel is asked of each address that passed every other check: one it takes as this host\'s own is dropped as a host address', async () => {
  const asked: string[] = [];
  // 203.0.113.9: an address on an interface with no link, which no interface list shows.
  const isLocal = async (a: string) => { asked.push(a); return a === '203.0.113.9'; };
  const deps = (table: Record<string, readonly string[]>) => ({ ...resolver(table), isLocal });
  const s = { allowedDomains: ['bridge.example.com', '203.0.113.9:8080'] };
  const only = await decide({ host: 'bridge.example.com', port: 80, via: 'http' }, policy(s), deps({ 'bridge.example.com': ['203.0.113.9'] }));
  assert.deepEqual(refused(only, 'resolved-to-denied-address').dropped?.map((x) => [x.address, x.denial]), [['203.0.113.9', 'host-address']]);
  assert.match(only.allow ? '' : only.message, /this host's own address/);
  // The next answer is dialed; a denied class is never asked about.
  const mixed = allowed(await decide({ host: 'bridge.example.com', port: 80, via: 'http' }, policy(s), deps({ 'bridge.example.com': ['127.0.0.1', '203.0.113.9', PUBLIC] })));
  assert.equal(mixed.dial.address, PUBLIC);
  assert.deepEqual(asked, ['203.0.113.9', '203.0.113.9', PUBLIC]);
  // The carve-out: the address itself allow-listed on that port is not asked about.
  asked.length = 0;
  allowed(await decide({ host: 'bridge.example.com', port: 8080, via: 'http' }, policy(s), deps({ 'bridge.example.com': ['203.0.113.9'] })));
  assert.deepEqual(asked, []);
});

test('port-scoped rules', async () => {
  const s = { allowedDomains: ['api.example.net:443', 'api.example.net:8443', 'git.example.net'] };
  allowed((await run('api.example.net', 443, s)).d);
  allowed((await run('api.example.net', 8443, s)).d);
  allowed((await run('git.example.net', 22, s)).d);
  const r = refused((await run('api.example.net', 80, s)).d, 'not-allowlisted');
  assert.equal(r.message, 'cordon: connection to api.example.net:80 refused: network.allowedDomains allows api.example.net only on ports 443, 8443; add "api.example.net:80" to allow this port');
  refused((await run('git.example.net', 22, { ...s, deniedDomains: ['git.example.net:22'] })).d, 'denied-by-rule');
});

test('refusal messages an agent can act on', async () => {
  const r = refused((await run('evil.com', 443, { allowedDomains: ['example.com'] })).d, 'not-allowlisted');
  assert.equal(r.message, 'cordon: connection to evil.com:443 refused: not in network.allowedDomains; add "evil.com" to allow it');
  const empty = refused((await run('evil.com', 443, {})).d, 'not-allowlisted');
  assert.match(empty.message, /add "evil\.com"/);
  const lit = refused((await run('0x7f.1', 8080, {})).d, 'ip-literal-not-allowlisted');
  assert.equal(lit.message, 'cordon: connection to 127.0.0.1:8080 refused: an IP address is reachable only when it is itself listed in network.allowedDomains; connect by host name, or add "127.0.0.1:8080" to allow it');
  const inv = refused((await run('evil.com\r\nX-Injected: 1', 443, {})).d, 'invalid-host');
  assert.equal(inv.message, 'cordon: connection to "evil.com\\u000d\\u000aX-Injected: 1" port 443 refused: not a valid host name or IP address (character U+000D is not allowed in a host name)');
});

test('invalid ports', async () => {
  for (const port of [0, -1, 65536, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    const { d, calls } = await run('example.com', port, { allowedDomains: ['example.com'] });
    refused(d, 'invalid-port');
    assert.deepEqual(calls, []);
  }
  allowed((await run('example.com', 1, { allowedDomains: ['example.com'] })).d);
  allowed((await run('example.com', 65535, { allowedDomains: ['example.com'] })).d);
});

test('every via is decided the same way', async () => {
  for (const via of ['http', 'connect', 'socks5'] as const) {
    allowed((await run('example.com', 80, { allowedDomains: ['example.com'] }, {}, via)).d);
    refused((await run('127.1', 80, { allowedDomains: ['example.com'] }, {}, via)).d, 'ip-literal-not-allowlisted');
  }
});

test('compileNetworkPolicy reports the offending entry', () => {
  assert.throws(() => compileNetworkPolicy({ allowedDomains: ['ok.com'], deniedDomains: ['x.com', 'bad..com'] }, FILE, []), /test-settings\.json: network\.deniedDomains\[1\]: expected .*empty label/);
  assert.throws(() => compileNetworkPolicy({ deniedResolvedAddresses: ['10.0.0.1/8'] }, FILE, []), /network\.deniedResolvedAddresses\[0\]: .*write "10\.0\.0\.0\/8"/);
  assert.throws(() => compileNetworkPolicy({ allowedDomains: ['*'] }, FILE, []), /network\.allowedDomains\[0\]: expected .*only in deniedDomains/);
  const p = compileNetworkPolicy({}, FILE, []);
  assert.deepEqual([p.allow, p.deny, p.deniedRanges, p.denyPrivateAddresses], [[], [], [], false]);
});

test('each refusal names the setting that would allow it, and the rule that decided (for events)', async () => {
  const fixOf = async (host: string, port: number, s: NetworkSettings, table?: Record<string, unknown>) => {
    const { d } = await run(host, port, s, table);
    assert.ok(!d.allow);
    return [d.reason, d.fix, decidingRule(d, port)];
  };
  assert.deepEqual(await fixOf('evil.com', 443, { allowedDomains: ['example.com'] }), ['not-allowlisted', 'network.allowedDomains: add "evil.com"', 'network.allowedDomains: no entry allows evil.com:443']);
  assert.deepEqual(await fixOf('example.com', 8443, { allowedDomains: ['example.com:443'] }), ['not-allowlisted', 'network.allowedDomains: add "example.com:8443"', 'network.allowedDomains: no entry allows example.com:8443']);
  assert.deepEqual(await fixOf('127.0.0.1', 8080, {}), ['ip-literal-not-allowlisted', 'network.allowedDomains: add "127.0.0.1:8080"', 'network.allowedDomains: no entry allows 127.0.0.1:8080']);
  assert.deepEqual(await fixOf('a.evil.com', 443, { allowedDomains: ['*.evil.com'], deniedDomains: ['a.evil.com'] }), ['denied-by-rule', 'network.deniedDomains: remove "a.evil.com"', 'network.deniedDomains[0]: "a.evil.com"']);
  assert.deepEqual(await fixOf('10.0.0.1', 80, { allowedDomains: ['10.0.0.1'], deniedResolvedAddresses: ['10.0.0.0/8'] }), ['denied-by-rule', 'remove network.deniedResolvedAddresses[0]', 'network.deniedResolvedAddresses[0]']);
  assert.deepEqual(await fixOf('app.test', 3000, { allowedDomains: ['app.test'] }, { 'app.test': ['127.0.0.1'] }), ['resolved-to-denied-address', 'network.allowedDomains: add "127.0.0.1:3000"', 'built-in: an allowed name may not resolve to a denied address (loopback)']);
  assert.deepEqual(await fixOf('app.test', 80, { allowedDomains: ['app.test'], deniedResolvedAddresses: ['93.184.0.0/16'] }), ['resolved-to-denied-address', 'remove network.deniedResolvedAddresses[0]', 'network.deniedResolvedAddresses[0]']);
  assert.deepEqual(await fixOf('gone.test', 80, { allowedDomains: ['gone.test'] }, { 'gone.test': Object.assign(new Error('x'), { code: 'ENOTFOUND' }) }), ['resolve-failed', null, 'network.allowedDomains[0]: "gone.test" (the name did not resolve)']);
  assert.deepEqual(await fixOf('bad host', 80, {}), ['invalid-host', null, 'built-in: a host must be a valid name or IP address']);
  const ok = allowed((await run('api.example.com', 443, { allowedDomains: ['example.com', '*.example.com'] })).d);
  assert.equal(decidingRule(ok, 443), 'network.allowedDomains[1]: "*.example.com"');
});

test('through an upstream proxy: an allowed name is not resolved here (the proxy is, once), deny rules and the allowlist still decide, loopback and NO_PROXY go direct', async () => {
  const parent = parentProxy({ value: { http: 'http://user:pw@proxy.corp:3128', noProxy: 'direct.example.com' }, file: FILE }, {})!;
  const base = policy({ allowedDomains: ['*.example.com', 'localhost:8080', '198.51.100.7'], deniedDomains: ['bad.example.com'] });
  const with_ = { ...base, parent };
  const go = async (host: string, port: number, via: Via = 'connect') => {
    const r = resolver({ 'proxy.corp': ['192.0.2.50'], 'direct.example.com': [PUBLIC] });
    return { d: await decide({ host, port, via }, with_, r), calls: r.calls };
  };
  const a = await go('api.example.com', 443);
  assert.ok(a.d.allow);
  assert.deepEqual(a.d.dial, { address: '192.0.2.50', port: 3128, family: 4 });
  assert.deepEqual(a.d.through, { proxy: 'http://user@proxy.corp:3128', authority: 'api.example.com:443', authorization: `Basic ${Buffer.from('user:pw').toString('base64')}` });
  assert.deepEqual(a.calls, ['proxy.corp'], 'the target name is the upstream proxy\'s to resolve');
  const denied = await go('bad.example.com', 443);
  assert.equal(denied.d.allow, false);
  assert.deepEqual(denied.calls, []);
  const other = await go('example.org', 443);
  assert.ok(!other.d.allow && other.d.reason === 'not-allowlisted');
  assert.deepEqual(other.calls, []);
  const literal = await go('198.51.100.7', 443);
  assert.ok(literal.d.allow && literal.d.through?.authority === '198.51.100.7:443');
  const direct = await go('direct.example.com', 443);
  assert.ok(direct.d.allow && direct.d.through === undefined && direct.d.dial.address === PUBLIC);
  assert.deepEqual(direct.calls, ['direct.example.com']);
  const loop = await decide({ host: 'localhost', port: 8080, via: 'connect' }, with_, resolver({ localhost: ['127.0.0.1'] }));
  assert.ok(!loop.allow || loop.through === undefined, 'loopback never goes through the upstream proxy');
  const plain = await go('api.example.com', 80, 'http');
  assert.ok(plain.d.allow && plain.d.through?.authority === 'api.example.com:80');
  // The upstream proxy's name does not resolve: refused, naming it (not the password).
  const lost = await decide({ host: 'api.example.com', port: 443, via: 'connect' }, with_, resolver({ 'proxy.corp': new Error('ENOTFOUND') }));
  assert.ok(!lost.allow && lost.reason === 'resolve-failed' && lost.message.includes('http://user@proxy.corp:3128') && !lost.message.includes('pw'));
});

test('through the inspecting proxy (mitmProxy): the hosts it names go to its socket unresolved, before the parent proxy and whatever NO_PROXY says; the rules still decide first', async () => {
  const mitm = mitmProxy({ socketPath: '/run/mitm.sock', domains: ['*.inspect.example.com', '198.51.100.9'] }, FILE);
  const parent = parentProxy({ value: { http: 'http://proxy.corp:3128', noProxy: '*' }, file: FILE }, {})!;
  const p = { ...policy({ allowedDomains: ['*.example.com', '198.51.100.9'], deniedDomains: ['bad.inspect.example.com'] }), parent, mitm };
  const r = resolver({});
  const a = await decide({ host: 'api.inspect.example.com', port: 443, via: 'connect' }, p, r);
  assert.ok(a.allow);
  assert.deepEqual(a.through, { proxy: 'unix:/run/mitm.sock', authority: 'api.inspect.example.com:443', socketPath: '/run/mitm.sock' });
  const lit = await decide({ host: '198.51.100.9', port: 80, via: 'http' }, p, r);
  assert.ok(lit.allow && lit.through?.socketPath === '/run/mitm.sock');
  assert.deepEqual(r.calls, [], 'nothing resolved here');
  const other = await decide({ host: 'www.example.com', port: 443, via: 'connect' }, p, r);
  assert.ok(other.allow && other.through === undefined, 'not named: NO_PROXY * sends it direct');
  const bad = await decide({ host: 'bad.inspect.example.com', port: 443, via: 'connect' }, p, r);
  assert.ok(!bad.allow && bad.reason === 'denied-by-rule');
});
