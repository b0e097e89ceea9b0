import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHost, nameProblem, parseHost, quoteUntrusted } from '../../../src/network/host.js';

test('parseHost canonicalises names and every IP literal spelling', () => {
  const table: Array<[string, 'name' | 'ip', string]> = [
    ['example.com', 'name', 'example.com'],
    ['EXAMPLE.Com', 'name', 'example.com'],
    ['example.com.', 'name', 'example.com'],
    ['localhost', 'name', 'localhost'],
    ['_acme-challenge.example.com', 'name', '_acme-challenge.example.com'],
    ['a-b.c_d.example', 'name', 'a-b.c_d.example'],
    ['xn--bcher-kva.example', 'name', 'xn--bcher-kva.example'],
    ['bücher.example', 'name', 'xn--bcher-kva.example'],
    ['BÜCHER.example.', 'name', 'xn--bcher-kva.example'],
    ['ＥＸＡＭＰＬＥ.com', 'name', 'example.com'], // fullwidth folds (UTS #46)
    ['example。com', 'name', 'example.com'], // ideographic full stop is a dot
    ['1.2.3.4x', 'name', '1.2.3.4x'], // does not end in a number: a name
    ['123.example', 'name', '123.example'],
    [`${'a'.repeat(63)}.com`, 'name', `${'a'.repeat(63)}.com`],
    [`${'a.'.repeat(126)}a`, 'name', `${'a.'.repeat(126)}a`], // 253 characters
    ['127.0.0.1', 'ip', '127.0.0.1'],
    ['127.1', 'ip', '127.0.0.1'],
    ['0x7f.1', 'ip', '127.0.0.1'],
    ['0X7F.1', 'ip', '127.0.0.1'],
    ['2130706433', 'ip', '127.0.0.1'],
    ['0177.0.0.1', 'ip', '127.0.0.1'],
    ['127.0.0.1.', 'ip', '127.0.0.1'],
    ['１２７.０.０.１', 'ip', '127.0.0.1'], // fullwidth digits are digits after UTS #46
    ['[::1]', 'ip', '[::1]'],
    ['::1', 'ip', '[::1]'],
    ['[0:0:0:0:0:0:0:1]', 'ip', '[::1]'],
    ['[2001:DB8::1]', 'ip', '[2001:db8::1]'],
    ['[::ffff:127.0.0.1]', 'ip', '127.0.0.1'], // IPv4-mapped is the IPv4 address
    ['::ffff:7f00:1', 'ip', '127.0.0.1'],
    ['[::ffff:169.254.169.254]', 'ip', '169.254.169.254'],
    ['[64:ff9b::7f00:1]', 'ip', '[64:ff9b::7f00:1]'], // NAT64 is a different destination: kept as IPv6
  ];
  for (const [raw, kind, want] of table) {
    const r = parseHost(raw);
    assert.ok(r.ok, `${JSON.stringify(raw)}: ${r.ok ? '' : r.problem}`);
    assert.equal(r.host.kind, kind, raw);
    assert.equal(formatHost(r.host), want, raw);
  }
});

test('parseHost refuses what could be read two ways', () => {
  const table: Array<[string, RegExp]> = [
    ['', /empty/],
    ['.', /empty/],
    ['example.com..', /empty label/],
    ['.example.com', /empty label/],
    ['a..b.com', /empty label/],
    ['exa%6dple.com', /U\+0025/],
    ['example.com/evil', /U\+002F/],
    ['example.com evil', /U\+0020/],
    ['example.com\0.evil.net', /U\+0000/],
    ['example.com\r\nX: y', /U\+000D/],
    ['example.com\t', /U\+0009/],
    ['user@example.com', /U\+0040/],
    ['*.example.com', /U\+002A/],
    ['example.com:443', /":" \(U\+003A\)/],
    ['evil.com:1.2.3.4', /ends in a number/],
    ['::1 ', /U\+003A/],
    ['-example.com', /hyphen/],
    ['example-.com', /hyphen/],
    [`${'a'.repeat(64)}.com`, /longer than 63/],
    [`${'a.'.repeat(127)}a`, /longer than 253/],
    ['x'.repeat(2000), /longer than 1024/],
    ['example.123', /ends in a number/],
    ['1.2.3.4.5', /ends in a number/],
    ['256.1.1.1', /ends in a number/],
    ['08.1.1.1', /ends in a number/],
    ['4294967296', /ends in a number/],
    ['[::1', /end with "\]"/],
    ['[::1]:443', /end with "\]"/],
    ['[fe80::1%eth0]', /zone/],
    ['fe80::1%eth0', /zone/],
    ['[::ffff:1.2.3.4%x.allowed.com]', /zone/],
    ['[127.0.0.1]', /not a valid IPv6/],
    ['[example.com]', /not a valid IPv6/],
    ['1:2:3', /not a valid IPv6/],
    ['exa\u00admple.com\u2028', /./], // soft hyphen is mapped away, U+2028 is not allowed
    ['ex\u202eample.com', /./], // bidi override
    ['a\uff0fb.com', /./], // fullwidth solidus
  ];
  for (const [raw, re] of table) {
    const r = parseHost(raw);
    assert.ok(!r.ok, `${JSON.stringify(raw)} should be refused, got ${r.ok ? formatHost(r.host) : ''}`);
    assert.match(r.problem, re, JSON.stringify(raw));
    assert.doesNotMatch(r.problem, /[\r\n\0]/);
  }
});

test('nameProblem: LDH plus underscore', () => {
  assert.equal(nameProblem('a.b'), undefined);
  assert.equal(nameProblem('_x.y'), undefined);
  assert.equal(nameProblem('x--y.z'), undefined);
  assert.match(nameProblem('A.b') ?? '', /U\+0041/); // callers lowercase first
  assert.match(nameProblem('a!.b') ?? '', /"!"/);
});

test('quoteUntrusted escapes everything that could break a line or a header', () => {
  assert.equal(quoteUntrusted('evil.com\r\nX-Injected: 1'), '"evil.com\\u000d\\u000aX-Injected: 1"');
  assert.equal(quoteUntrusted('a\0b'), '"a\\u0000b"');
  assert.equal(quoteUntrusted('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(quoteUntrusted('\u202eevil'), '"\\u202eevil"');
  assert.equal(quoteUntrusted('x'.repeat(100)), `"${'x'.repeat(77)}..."`);
  assert.match(quoteUntrusted(42), /^"42"$/);
});
