/**
 * `cordon check` (src/platform/linux/check.ts): the verdict is the plan's
 * (stateOf and its mount points), the rule named beside it is looked up with
 * the same precedence; a property test checks the two never disagree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FsRule, Policy } from '../../../../src/policy/policy.js';
import { planLinux, stateOf } from '../../../../src/platform/linux/plan.js';
import { checkConnect, checkPath, parseTarget, readOnlyRule, readRule, writeRule, type PathOperation } from '../../../../src/platform/linux/check.js';
import { parseAllowedDomains, parseDeniedDomains } from '../../../../src/network/domain-rules.js';

import { facts, fds, rule } from '../../../helpers/rules.js';

const RULES: FsRule[] = [
  rule('/h/.ssh', 'deny-read', 'default: credential store', 'dir', true),
  rule('/p', 'read-write', 'default: working directory'),
  rule('/p/.git', 'pin', 'protected: git dir pinned so it cannot be replaced'),
  rule('/p/.git/hooks', 'read-only', 'protected: git hook scripts'),
  rule('/p/sub/.envrc', 'read-only', 'protected: direnv runs it on cd', 'file'),
  rule('/p/data', 'read-write-no-delete', '--no-delete'),
  rule('/p/secret', 'deny-read', '/u.json: filesystem.denyRead[0]'),
  rule('/p/secret/pub', 'allow-read', '/u.json: filesystem.allowRead[0]'),
];

function policy(rules: FsRule[] = RULES): Policy {
  return {
    cwd: '/p', home: '/h', rules, sources: [], warnings: [],
    network: { mode: 'none', modeSource: 'default: no domain is allowed', allow: [], deny: [], deniedRanges: [], denyPrivateAddresses: false, unixSockets: [] },
    watch: [],
  };
}

function ask(op: PathOperation, path: string, kind: 'dir' | 'file' | 'missing' = 'file') {
  const p = policy();
  return checkPath(op, path, { path, kind }, p, planLinux(p, facts, ['true'], fds));
}

test('read: allowed where no rule hides; denied by the deny, naming it; re-opened by an allow', () => {
  let a = ask('read', '/p/src/x.js');
  assert.equal(a.allowed, true);
  assert.equal(a.rule, undefined);
  a = ask('read', '/h/.ssh/id_rsa');
  assert.equal(a.allowed, false);
  assert.deepEqual(a.rule, { path: '/h/.ssh', access: 'deny-read', source: 'default: credential store' });
  assert.match(a.because, /hidden by \/h\/\.ssh \(deny-read <- default: credential store\).*--allow-read \/h\/\.ssh re-opens it/);
  a = ask('read', '/p/secret/key');
  assert.equal(a.allowed, false);
  assert.equal(a.rule?.source, '/u.json: filesystem.denyRead[0]');
  a = ask('read', '/p/secret/pub/a');
  assert.equal(a.allowed, true);
  assert.equal(a.rule?.access, 'allow-read');
  a = ask('read', '/tmp/x');
  assert.equal(a.allowed, false, "the host's /tmp is not what the command sees");
  assert.match(a.because, /private/);
});

test('a read deny of a path that was not there hides nothing: what the command makes there it may write and read, and the answer says why', () => {
  const p = policy([...RULES, rule('/p/later', 'deny-read', '--deny-read', 'missing')]);
  const plan = planLinux(p, facts, ['true'], fds);
  for (const op of ['write', 'read'] as const) {
    const a = checkPath(op, '/p/later/x', { path: '/p/later/x', kind: 'missing' }, p, plan);
    assert.equal(a.allowed, true, a.because);
    assert.match(a.because, /\/p\/later \(deny-read <- --deny-read\) names a path that was not there when the policy was made, so it hides nothing/);
  }
  assert.ok(!plan.mounts.some((m) => m.path === '/p/later'), 'nothing is mounted there, which is why');
  // One that was there still hides.
  assert.equal(checkPath('read', '/p/secret/key', { path: '/p/secret/key', kind: 'file' }, p, plan).allowed, false);
});

test('write: by the nearest grant; a protected path and a path no rule grants are denied, naming why', () => {
  let a = ask('write', '/p/src/x.js');
  assert.equal(a.allowed, true);
  assert.equal(a.rule?.source, 'default: working directory');
  a = ask('write', '/p/.git/hooks/pre-commit', 'missing');
  assert.equal(a.allowed, false);
  assert.deepEqual(a.rule, { path: '/p/.git/hooks', access: 'read-only', source: 'protected: git hook scripts' });
  a = ask('write', '/p/data/x');
  assert.equal(a.allowed, true);
  assert.match(a.because, /^read-write-no-delete .*by \/p\/data/);
  a = ask('write', '/etc/passwd');
  assert.equal(a.allowed, false);
  assert.equal(a.rule, undefined);
  assert.match(a.because, /no rule makes it writable \(writable: \/p, \/p\/data\)/);
  a = ask('write', '/tmp/x');
  assert.equal(a.allowed, true);
  assert.match(a.because, /private \/tmp/);
  assert.equal(ask('write', '/p/secret/x').allowed, false, 'hidden: an empty read-only directory');
});

test('delete: needs a read-write path in a read-write directory, and no mount point there or beneath', () => {
  assert.equal(ask('delete', '/p/src/x.js').allowed, true);
  let a = ask('delete', '/p/data/x');
  assert.equal(a.allowed, false);
  assert.match(a.because, /never deleted or renamed away/);
  a = ask('delete', '/p/.git', 'dir');
  assert.equal(a.allowed, false);
  assert.match(a.because, /mount point/);
  a = ask('delete', '/p/sub', 'dir');
  assert.equal(a.allowed, false, 'it holds a protected file');
  assert.match(a.because, /mount point/);
  a = ask('delete', '/p', 'dir');
  assert.equal(a.allowed, false);
  assert.match(a.because, /its directory \/ is read-only/);
  assert.equal(ask('delete', '/p/.git/hooks', 'dir').allowed, false);
  assert.equal(ask('delete', '/tmp/x').allowed, true);
});

test('the rule named always agrees with the verdict (random rule sets)', () => {
  let seed = 42;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const paths = ['/a', '/a/b', '/a/b/c', '/a/b/c/d', '/a/x', '/e'];
  const accesses: FsRule['access'][] = ['deny-read', 'allow-read', 'read-only', 'read-write', 'read-write-no-delete', 'pin'];
  for (let round = 0; round < 2000; round++) {
    const rules: FsRule[] = [];
    for (let k = rnd(7); k > 0; k--) rules.push(rule(paths[rnd(paths.length)]!, accesses[rnd(accesses.length)]!, `r${k}`, 'dir', rnd(3) === 0));
    for (const p of paths) {
      const s = stateOf(p, rules, false);
      const rr = readRule(p, rules);
      assert.equal(s.readable, !rr || rr.access === 'allow-read', `read ${p} ${JSON.stringify(rules)}`);
      const ro = readOnlyRule(p, rules);
      const wr = writeRule(p, rules);
      const write = ro ? 'ro' : wr?.access === 'read-write' ? 'rw' : wr?.access === 'read-write-no-delete' ? 'rwnd' : 'ro';
      assert.equal(s.write, write, `write ${p} ${JSON.stringify(rules)}`);
    }
  }
});

test('connect: none has no network; filtered asks decide(), naming the rule and its file', async () => {
  const deps = { resolve: async (n: string) => (n === 'api.example.com' ? ['93.184.215.14'] : n === 'local.example.com' ? ['127.0.0.1'] : []), hostAddresses: () => [] };
  const none = policy().network;
  let a = await checkConnect('example.com', none, deps);
  assert.equal(a.allowed, false);
  assert.match(a.because, /no network \(mode none <- default: no domain is allowed\)/);
  const filtered = {
    ...none, mode: 'filtered' as const, modeSource: 'default: domains are allowed',
    allow: [...parseAllowedDomains(['*.example.com', '192.0.2.1:8080'], 'network.allowedDomains', '/u.json')],
    deny: parseDeniedDomains(['evil.example.com'], 'network.deniedDomains', '/p/.cordon/settings.json'),
  };
  a = await checkConnect('api.example.com', filtered, deps);
  assert.equal(a.allowed, true);
  assert.equal(a.judged, 'api.example.com:443', 'port 443 when none is given');
  assert.match(a.because, /allowed by \*\.example\.com \(\/u\.json: network\.allowedDomains\[0\]\).*dial 93\.184\.215\.14/);
  a = await checkConnect('evil.example.com:443', filtered, deps);
  assert.equal(a.allowed, false);
  assert.equal(a.rule?.source, '/p/.cordon/settings.json: network.deniedDomains[0]');
  a = await checkConnect('other.org', filtered, deps);
  assert.equal(a.allowed, false);
  assert.match(a.because, /not in network\.allowedDomains/);
  a = await checkConnect('local.example.com', filtered, deps);
  assert.equal(a.allowed, false);
  assert.match(a.because, /resolves only to denied addresses \(loopback\)/);
  assert.equal((await checkConnect('192.0.2.1:8080', filtered, deps)).allowed, true);
  assert.equal((await checkConnect('192.0.2.1:8081', filtered, deps)).allowed, false);
  a = await checkConnect('x.org', { ...none, mode: 'dangerously-unfiltered', modeSource: '--network' }, deps);
  assert.equal(a.allowed, true);
});

test('HOST[:PORT]: IPv6 in brackets, port 443 by default', () => {
  assert.deepEqual(parseTarget('example.com'), { host: 'example.com', port: 443 });
  assert.deepEqual(parseTarget('example.com:80'), { host: 'example.com', port: 80 });
  assert.deepEqual(parseTarget('[::1]:8443'), { host: '[::1]', port: 8443 });
  assert.equal(parseTarget('::1'), undefined);
  assert.equal(parseTarget('a:b:c'), undefined);
});
