import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SettingsError } from '../../../src/errors.js';
import { parseIp } from '../../../src/network/addresses.js';
import {
  formatPattern, parseAllowedDomains, parseDeniedDomains, parseDomainRule, ruleCoversAddress, ruleMatches,
  type DomainRule,
} from '../../../src/network/domain-rules.js';
import { parseHost, type Host } from '../../../src/network/host.js';

const FILE = '/home/u/.cordon/settings.json';

test('grammar: accepted entries and their canonical form', () => {
  const table: Array<[string, string, number | undefined]> = [
    ['example.com', 'example.com', undefined],
    ['Example.COM', 'example.com', undefined],
    ['example.com.', 'example.com', undefined],
    ['localhost', 'localhost', undefined],
    ['intranet', 'intranet', undefined],
    ['_dmarc.example.com', '_dmarc.example.com', undefined],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example', undefined],
    ['a-b.example.com', 'a-b.example.com', undefined],
    ['api.example.com:443', 'api.example.com', 443],
    ['example.com.:8080', 'example.com', 8080],
    ['*.example.com', '*.example.com', undefined],
    ['*.Example.Com.', '*.example.com', undefined],
    ['*.example.com:8443', '*.example.com', 8443],
    ['*.co.uk', '*.co.uk', undefined],
    ['192.0.2.1', '192.0.2.1', undefined],
    ['127.0.0.1:3000', '127.0.0.1', 3000],
    ['0.0.0.0', '0.0.0.0', undefined],
    ['[2001:db8::1]', '[2001:db8::1]', undefined],
    ['[2001:0DB8:0:0:0:0:0:1]', '[2001:db8::1]', undefined],
    ['[::1]:8443', '[::1]', 8443],
    ['[::ffff:127.0.0.1]', '127.0.0.1', undefined], // IPv4-mapped is stored as IPv4
    ['[::ffff:7f00:1]:80', '127.0.0.1', 80],
    ['[64:ff9b::7f00:1]', '[64:ff9b::7f00:1]', undefined],
    ['example.com:1', 'example.com', 1],
    ['example.com:65535', 'example.com', 65535],
  ];
  for (const [entry, canonical, port] of table) {
    const r = parseDomainRule(entry, 'allow');
    assert.ok(r.ok, `${entry}: ${r.ok ? '' : r.expected}`);
    assert.equal(formatPattern(r.pattern), canonical, entry);
    assert.equal(r.port, port, entry);
    const d = parseDomainRule(entry, 'deny');
    assert.ok(d.ok, `deny ${entry}`);
  }
});

test('grammar: rejected entries, each with the fix', () => {
  const table: Array<[string, RegExp]> = [
    ['', /a domain/],
    ['.', /a domain/],
    ['example..com', /empty label/],
    ['.example.com', /empty label/],
    ['example.com..', /empty label/],
    ['-example.com', /hyphen/],
    ['example-.com', /hyphen/],
    [`${'a'.repeat(64)}.com`, /longer than 63/],
    [`${'a.'.repeat(127)}com`, /longer than 253/],
    ['exa mple.com', /U\+0020/],
    [' example.com', /U\+0020/],
    ['example.com/', /"\/"/],
    ['https://example.com', /IPv6 address in brackets|port/],
    ['http://example.com', /port/],
    ['example.com/path', /"\/"/],
    ['ex%61mple.com', /"%"/],
    ['user@example.com', /"@"/],
    ['example.com\n', /U\+000A/],
    ['example.com\0', /U\+0000/],
    ['*', /only in deniedDomains/],
    ['*:22', /only in deniedDomains/],
    ['*.com', /too broad/],
    ['*.com.', /too broad/],
    ['*.', /a domain/],
    ['**.example.com', /whole leftmost label/],
    ['*example.com', /whole leftmost label/],
    ['foo*.example.com', /whole leftmost label/],
    ['api.*.example.com', /whole leftmost label/],
    ['*.*.example.com', /whole leftmost label/],
    ['example.*', /whole leftmost label/],
    ['*.1.2.3.4', /cannot cover IP addresses/],
    ['*.example.123', /cannot cover IP addresses/],
    ['example.com:0', /port from 1 to 65535/],
    ['example.com:65536', /port from 1 to 65535/],
    ['example.com:080', /no leading zero/],
    ['example.com:', /port from 1 to 65535/],
    ['example.com:https', /port from 1 to 65535/],
    ['example.com:443.evil.com', /port from 1 to 65535/],
    ['example.com:-1', /port from 1 to 65535/],
    ['example.com:+443', /port from 1 to 65535/],
    ['bücher.example', /punycode form "xn--bcher-kva\.example"/],
    ['bücher.example:443', /punycode form "xn--bcher-kva\.example:443"/],
    ['*.bücher.example', /punycode form "\*\.xn--bcher-kva\.example"/],
    ['ＥＸＡＭＰＬＥ.com', /punycode form "example\.com"/],
    ['xn--zz.example', /valid punycode/],
    ['127.1', /plain dotted quad; write "127\.0\.0\.1"/],
    ['0x7f.0.0.1', /write "127\.0\.0\.1"/],
    ['0177.0.0.1:22', /write "127\.0\.0\.1:22"/],
    ['2130706433', /write "127\.0\.0\.1"/],
    ['010.0.0.1', /write "8\.0\.0\.1"/],
    ['1.2.3.4.5', /valid IPv4 address/],
    ['256.0.0.1', /valid IPv4 address/],
    ['example.123', /valid IPv4 address/],
    ['2001:db8::1', /in brackets/],
    ['::1', /in brackets/],
    ['2001:db8::1:443', /ambiguous with a port/],
    ['[2001:db8::1', /closing the bracketed/],
    ['[2001:db8::1]443', /":port" after the "\]"/],
    ['[2001:db8::1]:', /port from 1 to 65535/],
    ['[2001:db8::1]:0', /port from 1 to 65535/],
    ['[fe80::1%eth0]', /zone id/],
    ['[fe80::1%25eth0]', /zone id/],
    ['[example.com]', /valid IPv6 address inside/],
    ['[127.0.0.1]', /valid IPv6 address inside/],
    ['[]', /valid IPv6 address inside/],
    ['[::1]]', /":port" after/],
  ];
  for (const [entry, re] of table) {
    const r = parseDomainRule(entry, 'allow');
    assert.ok(!r.ok, `${JSON.stringify(entry)} should be rejected`);
    assert.match(r.expected, re, JSON.stringify(entry));
  }
});

test('grammar: "*" and "*:port" only in deniedDomains', () => {
  const rules = parseDeniedDomains(['*', '*:22', 'evil.com'], 'network.deniedDomains', FILE);
  assert.deepEqual(rules.map((r) => [formatPattern(r.pattern), r.port, r.keyPath, r.source]), [
    ['*', undefined, 'network.deniedDomains[0]', '*'],
    ['*', 22, 'network.deniedDomains[1]', '*:22'],
    ['evil.com', undefined, 'network.deniedDomains[2]', 'evil.com'],
  ]);
  assert.throws(() => parseAllowedDomains(['example.com', '*'], 'network.allowedDomains', FILE), (e: unknown) => {
    assert.ok(e instanceof SettingsError);
    assert.equal(e.keyPath, 'network.allowedDomains[1]');
    return true;
  });
  assert.ok(!parseDomainRule('*:0', 'deny').ok);
  assert.ok(!parseDomainRule('*.*', 'deny').ok);
  assert.ok(!parseDomainRule('*.', 'deny').ok);
});

test('parse errors are SettingsErrors with the exact key path', () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [['example.com', 'api.example.com:443', '*.ok.example', '*.com'], 'network.allowedDomains[3]', /too broad/],
    [['bücher.example'], 'network.allowedDomains[0]', /xn--bcher-kva\.example/],
    [['a.com', 42], 'network.allowedDomains[1]', /expected a string: .*found number 42/],
    [['a.com', null], 'network.allowedDomains[1]', /found null/],
    ['example.com', 'network.allowedDomains', /expected an array of strings/],
    [{ 0: 'x' }, 'network.allowedDomains', /expected an array/],
  ];
  for (const [entries, keyPath, re] of cases) {
    assert.throws(() => parseAllowedDomains(entries, 'network.allowedDomains', FILE), (e: unknown) => {
      assert.ok(e instanceof SettingsError, String(e));
      assert.equal(e.code, 'CORDON_ERR_SETTINGS_INVALID');
      assert.equal(e.keyPath, keyPath);
      assert.equal(e.file, FILE);
      assert.ok(e.message.startsWith(`${FILE}: ${keyPath}: expected `), e.message);
      assert.match(e.message, re);
      return true;
    }, JSON.stringify(entries));
  }
  // the offending entry is quoted safely in the message
  assert.throws(() => parseAllowedDomains(['a.com\r\nX'], 'network.allowedDomains', FILE), (e: unknown) => {
    assert.ok(e instanceof SettingsError);
    assert.doesNotMatch(e.message, /[\r\n]/);
    return true;
  });
  assert.deepEqual(parseAllowedDomains([], 'network.allowedDomains', FILE), []);
});

function host(raw: string): Host {
  const h = parseHost(raw);
  assert.ok(h.ok, raw);
  return h.host;
}

function rule(entry: string, list: 'allow' | 'deny' = 'allow'): DomainRule {
  return (list === 'allow' ? parseAllowedDomains : parseDeniedDomains)([entry], 'k', FILE)[0]!;
}

test('matching: exact, wildcard, suffix confusion, case, trailing dot, ports', () => {
  const table: Array<[string, string, number, boolean]> = [
    ['example.com', 'example.com', 443, true],
    ['example.com', 'EXAMPLE.COM.', 443, true],
    ['example.com', 'www.example.com', 443, false],
    ['example.com', 'evilexample.com', 443, false],
    ['example.com', 'example.com.evil.net', 443, false],
    ['example.com', 'example.co', 443, false],
    ['*.example.com', 'example.com', 443, false], // the apex is not a subdomain (srt)
    ['*.example.com', 'a.example.com', 443, true],
    ['*.example.com', 'a.b.c.example.com', 443, true],
    ['*.example.com', 'A.EXAMPLE.COM.', 443, true],
    ['*.example.com', 'evilexample.com', 443, false],
    ['*.example.com', 'a.evilexample.com', 443, false],
    ['*.example.com', 'example.com.evil.net', 443, false],
    ['*.example.com', 'a.example.com.evil.net', 443, false],
    ['*.example.com', 'bücher.example.com', 443, true],
    ['api.example.com:443', 'api.example.com', 443, true],
    ['api.example.com:443', 'api.example.com', 80, false],
    ['*.example.com:8443', 'x.example.com', 8443, true],
    ['*.example.com:8443', 'x.example.com', 443, false],
    ['127.0.0.1', '127.0.0.1', 1, true],
    ['127.0.0.1', '127.1', 1, true],
    ['127.0.0.1', '2130706433', 1, true],
    ['127.0.0.1', '[::ffff:127.0.0.1]', 1, true],
    ['127.0.0.1', '127.0.0.2', 1, false],
    ['127.0.0.1', '[64:ff9b::7f00:1]', 1, false], // a different destination
    ['127.0.0.1', 'localhost', 1, false],
    ['[::1]:8443', '::1', 8443, true],
    ['[::1]:8443', '[0::1]', 8443, true],
    ['[::1]:8443', '[::1]', 443, false],
    ['[::1]:8443', '127.0.0.1', 8443, false],
    ['[::ffff:10.0.0.1]', '10.0.0.1', 80, true],
    ['*.1example.com', '1example.com', 80, false],
  ];
  for (const [entry, raw, port, want] of table) {
    assert.equal(ruleMatches(rule(entry), host(raw), port), want, `${entry} vs ${raw}:${port}`);
  }
  assert.equal(ruleMatches(rule('*', 'deny'), host('anything.example'), 1), true);
  assert.equal(ruleMatches(rule('*', 'deny'), host('[::1]'), 1), true);
  assert.equal(ruleMatches(rule('*:22', 'deny'), host('github.com'), 22), true);
  assert.equal(ruleMatches(rule('*:22', 'deny'), host('github.com'), 443), false);
});

test('ruleCoversAddress: deny IP rules also cover the IPv4 addresses IPv6 embeds', () => {
  const a = (s: string) => parseIp(s)!;
  const table: Array<[string, string, number, boolean]> = [
    ['127.0.0.1', '127.0.0.1', 80, true],
    ['127.0.0.1', '::ffff:127.0.0.1', 80, true],
    ['127.0.0.1', '64:ff9b::7f00:1', 80, true],
    ['127.0.0.1', '2002:7f00:1::1', 80, true],
    ['127.0.0.1', '::7f00:1', 80, true],
    ['127.0.0.1', '2001:0:808:808::80ff:fffe', 80, true], // Teredo client
    ['127.0.0.1', '127.0.0.2', 80, false],
    ['127.0.0.1:22', '127.0.0.1', 80, false],
    ['127.0.0.1:22', '64:ff9b::7f00:1', 22, true],
    ['[2001:db8::1]', '2001:db8::1', 80, true],
    ['[2001:db8::1]', '2001:db8::2', 80, false],
    ['example.com', '93.184.216.34', 80, false], // name rules never match addresses
    ['*.example.com', '93.184.216.34', 80, false],
  ];
  for (const [entry, addr, port, want] of table) {
    assert.equal(ruleCoversAddress(rule(entry, 'deny'), a(addr), port), want, `${entry} covers ${addr}:${port}`);
  }
  assert.equal(ruleCoversAddress(rule('*', 'deny'), a('8.8.8.8'), 1), true);
  assert.equal(ruleCoversAddress(rule('*:22', 'deny'), a('8.8.8.8'), 23), false);
});
