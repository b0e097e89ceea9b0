/**
 * policy/overlay.ts: how a command's overlay combines with the handle's
 * sources (grant lists and scalars replaced, other lists added), the value
 * checks that refuse a widening overlay (naming the key), and a command's
 * network rules recomputed from the handle's lists as they are now.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CordonError } from '../../../src/errors.js';
import { parseSettings } from '../../../src/policy/settings.js';
import { networkSpec } from '../../../src/policy/policy.js';
import { commandNetwork, overlayHasPaths, overlaySources, parseOverlay, REPLACED_KEYS, refuseOverlayKeys } from '../../../src/policy/overlay.js';
import { PROJECT_KEYS } from '../../../src/policy/project.js';

const handle = parseSettings(JSON.stringify({
  filesystem: { allowWrite: ['.', '/data'], allowRead: ['~/.ssh/known_hosts'], denyWrite: ['./locked'], allowGitConfig: true, packageCache: false },
  network: { mode: 'filtered', allowedDomains: ['*.example.com', 'api.test:443'], deniedDomains: ['bad.example.com'], denyPrivateAddresses: true, allowUnixSockets: ['/run/x.sock'] },
}), 'handle');
const EMPTY = { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] };

function widens(policy: Record<string, unknown>, key: string, sources = [handle]): void {
  assert.throws(() => refuseOverlayKeys(parseOverlay(policy, false), sources), (e: unknown) => {
    assert.ok(e instanceof CordonError);
    assert.equal(e.code, 'CORDON_ERR_OVERLAY_WIDENS');
    assert.ok(e.message.startsWith(`options.policy: ${key} = `), e.message);
    assert.match(e.message, /widen: true/);
    return true;
  });
  // The caller's explicit word lets it through.
  refuseOverlayKeys(parseOverlay(policy, true), sources);
}

test('every replaced key is a settings key the project rules know', () => {
  for (const k of REPLACED_KEYS) assert.ok(Object.hasOwn(PROJECT_KEYS, k), k);
});

test('a grant list or scalar in the overlay replaces every source\'s; other lists add', () => {
  const o = parseOverlay({ filesystem: { allowWrite: ['./out'], denyRead: ['./secret'] }, network: { allowedDomains: ['a.example.com'], mode: 'none' } }, false);
  const [stripped, added] = overlaySources([handle], o);
  assert.deepEqual(stripped!.filesystem.allowWrite, []);
  assert.deepEqual(stripped!.filesystem.allowRead, handle.filesystem.allowRead, 'not in the overlay: kept');
  assert.deepEqual(stripped!.filesystem.denyWrite, handle.filesystem.denyWrite);
  assert.equal(stripped!.filesystem.definesWritable, true);
  assert.deepEqual(stripped!.network.allow, []);
  assert.equal(stripped!.network.mode, undefined);
  assert.deepEqual(stripped!.network.deny, handle.network.deny);
  assert.equal(added, o.settings);
  const spec = networkSpec(overlaySources([handle], o), EMPTY);
  assert.equal(spec.mode, 'none');
  assert.deepEqual(spec.allow.map((r) => r.source), ['a.example.com']);
  assert.deepEqual(spec.deny.map((r) => r.source), ['bad.example.com']);
  // Scalars: the overlay's value, not the strictest or any source's.
  const scalars = overlaySources([handle], parseOverlay({ filesystem: { allowGitConfig: false, packageCache: true }, network: { denyPrivateAddresses: false } }, true));
  assert.equal(scalars.some((s) => s.filesystem.allowGitConfig), false);
  assert.equal(scalars.some((s) => s.filesystem.packageCache === false), false);
  assert.equal(scalars.some((s) => s.network.denyPrivateAddresses), false);
  // Nothing replaced: the handle's sources as they are.
  const none = parseOverlay({ filesystem: { denyRead: ['x'] } }, false);
  assert.equal(overlaySources([handle], none)[0], handle);
});

test('either writable list in the overlay replaces both of every source: the writable set is the overlay\'s', () => {
  const both = parseSettings(JSON.stringify({ filesystem: { allowWrite: ['./w'], allowWriteNoDelete: ['./keep'] } }), 'handle');
  for (const policy of [{ filesystem: { allowWrite: [] } }, { filesystem: { allowWriteNoDelete: ['./keep'] } }]) {
    const [stripped, added] = overlaySources([both], parseOverlay(policy, false));
    assert.deepEqual(stripped!.filesystem.allowWrite, [], JSON.stringify(policy));
    assert.deepEqual(stripped!.filesystem.allowWriteNoDelete, [], JSON.stringify(policy));
    assert.deepEqual(added!.filesystem.allowWriteNoDelete.length, policy.filesystem.allowWriteNoDelete?.length ?? 0);
  }
  // A deny only: the handle's writable lists stay.
  const [kept] = overlaySources([both], parseOverlay({ filesystem: { denyWrite: ['./w/x'] } }, false));
  assert.equal(kept!.filesystem.allowWriteNoDelete.length, 1);
});

test('narrowing values pass: fewer domains, a covered subdomain, a stricter mode, more denies, denyPrivateAddresses kept', () => {
  for (const policy of [
    { network: { allowedDomains: ['a.example.com', '*.b.example.com', 'api.test:443'] } },
    { network: { allowedDomains: [] } },
    { network: { mode: 'none' } },
    { network: { mode: 'filtered', denyPrivateAddresses: true, deniedDomains: ['x.test'] } },
    { filesystem: { denyRead: ['~'], allowGitConfig: true, packageCache: false } },
    { filesystem: { allowGitConfig: false } },
  ]) refuseOverlayKeys(parseOverlay(policy, false), [handle]);
});

test('widening values are refused, naming the key', () => {
  widens({ network: { allowedDomains: ['a.example.com', 'other.test'] } }, 'network.allowedDomains[1]');
  widens({ network: { allowedDomains: ['api.test'] } }, 'network.allowedDomains[0]');
  widens({ network: { allowedDomains: ['example.com'] } }, 'network.allowedDomains[0]');
  widens({ network: { mode: 'dangerously-unfiltered' } }, 'network.mode');
  widens({ network: { denyPrivateAddresses: false } }, 'network.denyPrivateAddresses');
  widens({ filesystem: { packageCache: true } }, 'filesystem.packageCache');
  widens({ filesystem: { allowGitConfig: true } }, 'filesystem.allowGitConfig', [parseSettings('{}', 'h')]);
  widens({ network: { mode: 'filtered' } }, 'network.mode', [parseSettings('{}', 'h')]);
  widens({ network: { allowAllUnixSockets: true } }, 'network.allowAllUnixSockets');
  widens({ ignoreViolations: { '*': ['/'] } }, 'ignoreViolations');
  widens({ ripgrep: { command: '/bin/true' } }, 'ripgrep');
});

test('only an overlay with path rules that could widen needs the path check', () => {
  assert.equal(overlayHasPaths(parseOverlay({ filesystem: { denyRead: ['x'] }, network: { allowedDomains: ['a.example.com'] } }, false)), false);
  assert.equal(overlayHasPaths(parseOverlay({ filesystem: { allowWrite: [] } }, false)), false);
  for (const key of ['allowRead', 'allowWrite', 'allowWriteNoDelete', 'denyWrite']) {
    assert.equal(overlayHasPaths(parseOverlay({ filesystem: { [key]: ['x'] } }, false)), true, key);
  }
  assert.equal(overlayHasPaths(parseOverlay({ network: { allowUnixSockets: ['/s'] } }, false)), true);
});

test('a command\'s network rules follow the handle\'s lists: a narrowing overlay keeps only what the handle still covers; a widening one its own', () => {
  const narrow = parseOverlay({ network: { allowedDomains: ['a.example.com', 'api.test:443'] } }, false);
  const wide = parseOverlay({ network: { allowedDomains: ['a.example.com', 'other.test'] } }, true);
  assert.deepEqual(commandNetwork([handle], narrow).allow.map((r) => r.source), ['a.example.com', 'api.test:443']);
  const updated = parseSettings(JSON.stringify({ network: { mode: 'filtered', allowedDomains: ['api.test:443'], deniedDomains: ['c.test'] } }), 'handle');
  assert.deepEqual(commandNetwork([updated], narrow).allow.map((r) => r.source), ['api.test:443']);
  assert.deepEqual(commandNetwork([updated], wide).allow.map((r) => r.source), ['a.example.com', 'other.test']);
  assert.deepEqual(commandNetwork([updated], wide).deny.map((r) => r.source), ['c.test'], 'the handle\'s denies reach a widened command too');
  assert.deepEqual(commandNetwork([updated], undefined).allow.map((r) => r.source), ['api.test:443']);
  // The CLI's flags (--allow-domain, --deny-domain) count with the settings.
  const flags = { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [], allowDomains: ['flag.test'], denyDomains: ['bad.test'] };
  const withFlags = commandNetwork([updated], undefined, flags);
  assert.deepEqual(withFlags.allow.map((r) => r.source).sort(), ['api.test:443', 'flag.test']);
  assert.deepEqual(withFlags.deny.map((r) => r.source).sort(), ['bad.test', 'c.test']);
});

test('an untrusted project file\'s allowedDomains count only where the handle, as it is now, covers them: a setNetwork that takes a domain away takes it from the project too', () => {
  const user = parseSettings(JSON.stringify({ network: { mode: 'filtered', allowedDomains: ['127.0.0.1', 'api.test'] } }), 'handle');
  const project = parseSettings(JSON.stringify({ network: { allowedDomains: ['127.0.0.1:8080'] } }), '/p/.cordon/settings.json');
  assert.deepEqual(commandNetwork([user, project], undefined, undefined, [project]).allow.map((r) => r.source).sort(), ['127.0.0.1', '127.0.0.1:8080', 'api.test']);
  const updated = parseSettings(JSON.stringify({ network: { mode: 'filtered', allowedDomains: ['api.test'] } }), 'handle');
  assert.deepEqual(commandNetwork([updated, project], undefined, undefined, [project]).allow.map((r) => r.source), ['api.test']);
  // A command's overlay that names the list replaces it (the caller's own entries, trusted; widened only with widen).
  const narrow = parseOverlay({ network: { allowedDomains: ['api.test'] } }, false);
  assert.deepEqual(commandNetwork([updated, project], narrow, undefined, [project]).allow.map((r) => r.source), ['api.test']);
  const wide = parseOverlay({ network: { allowedDomains: ['127.0.0.1'] } }, true);
  assert.deepEqual(commandNetwork([updated, project], wide, undefined, [project]).allow.map((r) => r.source), ['127.0.0.1']);
  // One that leaves the list alone: the project's entries still count only where the handle covers them.
  const other = parseOverlay({ network: { deniedDomains: ['x.test'] } }, false);
  assert.deepEqual(commandNetwork([updated, project], other, undefined, [project]).allow.map((r) => r.source), ['api.test']);
  // Trusted (not in the list): as before.
  assert.deepEqual(commandNetwork([updated, project], undefined).allow.map((r) => r.source).sort(), ['127.0.0.1:8080', 'api.test']);
});

test('a wrong overlay: not an object, a wrong widen, an unknown key', () => {
  for (const [policy, widen, code] of [[null, undefined, 'CORDON_ERR_USAGE'], [[1], undefined, 'CORDON_ERR_USAGE'], ['x', undefined, 'CORDON_ERR_USAGE'], [{}, 1, 'CORDON_ERR_USAGE'], [{ nope: 1 }, undefined, 'CORDON_ERR_SETTINGS_INVALID']] as const) {
    assert.throws(() => parseOverlay(policy, widen), (e: unknown) => e instanceof CordonError && e.code === code);
  }
});

test('what the handle\'s proxies apply to every command (termination, opaque tunnels, request rules, brokered credentials) is refused in an overlay, widening or not', () => {
  for (const policy of [
    { network: { tlsTerminate: {} } },
    { network: { refuseOpaqueTunnels: true } },
    { network: { requestRules: [{ hosts: ['api.test'], methods: ['GET'] }] } },
    { credentials: { broker: [{ env: 'T', hosts: ['api.test'], header: 'x-api-key' }] } },
  ]) {
    for (const widen of [false, true]) {
      assert.throws(() => refuseOverlayKeys(parseOverlay(policy, widen), [handle]), (e: unknown) => e instanceof CordonError && /cannot be set for one command: the handle's proxies apply it to every command alike/.test(e.message), JSON.stringify(policy));
    }
  }
});
