/** request-rules.ts: globs, ambiguous targets, and one request judged by the rules that name its host. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ambiguousTarget, globMatches, judgeRules, type RequestRule } from '../../../src/network/request-rules.js';
import { parseAllowedDomains } from '../../../src/network/domain-rules.js';

const rule = (over: Partial<RequestRule> = {}): RequestRule => ({ hosts: parseAllowedDomains(['api.example.com'], 'k', 'f'), requireHeaders: [], stripHeaders: [], keyPath: 'network.requestRules[0]', file: '/s.json', ...over });
const shape = (over: Partial<Parameters<typeof judgeRules>[1]> = {}) => ({ host: 'api.example.com', port: 443, method: 'GET', target: '/repos/acme/x', forwarded: '/repos/acme/x', headers: ['host'], ...over });
const verdict = (rules: RequestRule[], over: Partial<Parameters<typeof judgeRules>[1]> = {}) => { const v = judgeRules(rules, shape(over)); return v.ok ? 'ok' : `${v.status} ${v.reason}`; };

test('globs: * is one segment, ** any depth, a trailing /** also the bare prefix; the rest is literal', () => {
  assert.ok(globMatches('/repos/*/x', '/repos/acme/x'));
  assert.ok(!globMatches('/repos/*/x', '/repos/a/b/x'));
  assert.ok(globMatches('/repos/**', '/repos'));
  assert.ok(globMatches('/repos/**', '/repos/a/b'));
  assert.ok(!globMatches('/repos/**', '/reposx'));
  assert.ok(globMatches('/a/**/z', '/a/b/c/z'));
  assert.ok(!globMatches('/v1.0/x', '/v1a0/x'), 'a dot is a dot');
  assert.ok(!globMatches('/x', '/x/'));
});

test('ambiguous targets: dot segments, encoded dots and slashes, backslashes, empty segments, fragments, what the URL parser rewrites', () => {
  for (const t of ['/a/../b', '/a/./b', '/..', '/a/%2e%2E/b', '/a%2Fb', '/a%5cb', '/a\\b', '//evil/x', '/a//b', '/a#frag', 'x']) assert.ok(ambiguousTarget(t, t), t);
  assert.match(ambiguousTarget('/a b', '/a%20b')!, /URL parser reads it as/);
  for (const t of ['/a/b', '/a/b?x=../y', '/a/.well-known', '/a/b.c', '/%41']) assert.equal(ambiguousTarget(t, t), undefined, t);
});

test('a host no rule names is not limited; one that is must satisfy one of its rules', () => {
  const rules = [rule({ methods: ['GET'], paths: ['/repos/acme/**'] }), rule({ methods: ['POST'], paths: ['/upload'], maxBodyBytes: 100, requireHeaders: ['content-type'], stripHeaders: ['x-debug'] })];
  assert.equal(verdict(rules, { host: 'other.example' , method: 'DELETE', target: '/a/../b', forwarded: '/b' }), 'ok');
  assert.equal(verdict(rules), 'ok');
  assert.equal(verdict(rules, { method: 'DELETE' }), '403 method-not-allowed');
  assert.equal(verdict(rules, { target: '/repos/other/x', forwarded: '/repos/other/x' }), '403 path-not-allowed');
  assert.equal(verdict(rules, { target: '/repos/acme/../other', forwarded: '/repos/other' }), '400 ambiguous-target');
  assert.equal(verdict(rules, { method: 'POST', target: '/upload', forwarded: '/upload', headers: ['content-type'], contentLength: 100 }), 'ok');
  assert.equal(verdict(rules, { method: 'POST', target: '/upload', forwarded: '/upload', headers: ['content-type'], contentLength: 101 }), '413 body-too-large');
  assert.equal(verdict(rules, { method: 'POST', target: '/upload', forwarded: '/upload', headers: [] }), '403 header-required');
  const ok = judgeRules(rules, shape({ method: 'POST', target: '/upload?x=1', forwarded: '/upload?x=1', headers: ['content-type'] }));
  assert.deepEqual(ok, { ok: true, strip: ['x-debug'], maxBodyBytes: 100, limited: true });
  const no = judgeRules(rules, shape({ method: 'PUT' }));
  assert.ok(!no.ok && no.message.includes('network.requestRules[0] in /s.json') && no.rule === '/s.json: network.requestRules[0]');
});

test('an untrusted project file\'s rules are a gate of their own: a request must pass one of them and one of the trusted rules', () => {
  const mine = rule({ methods: ['GET'], paths: ['/ok'], stripHeaders: ['x-a'], maxBodyBytes: 100 });
  // A project rule naming only the host would allow everything if it were one more alternative.
  const open = rule({ gate: '/p/.cordon/settings.json', file: '/p/.cordon/settings.json' });
  assert.equal(verdict([mine, open], { method: 'DELETE', target: '/admin', forwarded: '/admin' }), '403 method-not-allowed');
  assert.equal(verdict([mine, open], { target: '/ok', forwarded: '/ok' }), 'ok');
  // A narrower project rule narrows; what both strip adds up, the smaller limit holds.
  const narrow = rule({ gate: '/p/.cordon/settings.json', paths: ['/ok'], stripHeaders: ['x-b'], maxBodyBytes: 10 });
  assert.deepEqual(judgeRules([mine, narrow], shape({ target: '/ok', forwarded: '/ok' })), { ok: true, strip: ['x-a', 'x-b'], maxBodyBytes: 10, limited: true });
  assert.equal(verdict([rule({ paths: ['/ok', '/other'] }), narrow], { target: '/other', forwarded: '/other' }), '403 path-not-allowed');
  // Alone, a project gate limits a host no trusted rule names.
  assert.equal(verdict([narrow], { target: '/other', forwarded: '/other' }), '403 path-not-allowed');
});

test('path parameters on dot segments and double-encoded dots are ambiguous too', () => {
  for (const t of ['/allowed/..;/admin', '/allowed/.;x/admin', '/a/%252e%252e/b', '/a%252Fb']) assert.ok(ambiguousTarget(t, t), t);
  assert.equal(ambiguousTarget('/a;v=1/b', '/a;v=1/b'), undefined, 'a parameter on an ordinary segment is not');
  // What older servers read as a dot or a slash: %u escapes, overlong UTF-8, a NUL that ends the path.
  assert.match(ambiguousTarget('/public/%u002e%u002e/x', '/public/%u002e%u002e/x')!, /%u escape/);
  for (const t of ['/public/%c0%ae%c0%ae/x', '/public/%C0%AF', '/a/%e0%80%ae', '/a/%f0%80%80%ae', '/a/%ff', '/a/%ed%a0%80']) assert.match(ambiguousTarget(t, t)!, /not UTF-8/, t);
  assert.match(ambiguousTarget('/public/..%00/x', '/public/..%00/x')!, /NUL/);
  for (const t of ['/caf%C3%A9', '/%E2%9C%93/x', '/a%20b']) assert.equal(ambiguousTarget(t, t), undefined, `${t}: UTF-8 spelled in escapes is plain`);
});
