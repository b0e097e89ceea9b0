/**
 * The refusal monitor's decisions (src/platform/linux/violations.ts), on
 * records as the helper writes them: which calls the walls refused and by
 * which rule, which calls failed for reasons of their own, what the helper
 * may leave unrecorded, and how records are parsed when the command controls
 * their contents. The real sandbox: test/integration/filesystem/violations.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FsRule, Policy } from '../../../../src/policy/policy.js';
import { planLinux } from '../../../../src/platform/linux/plan.js';
import { classifier, parseRecords, quietPaths, type WriteRecord } from '../../../../src/platform/linux/violations.js';

import { facts, fds, rule } from '../../../helpers/rules.js';

const RULES: FsRule[] = [
  rule('/h/.ssh', 'deny-read', 'default: credential store', 'dir', true),
  rule('/h/.gnupg', 'deny-read', 'default: credential store', 'dir', true),
  rule('/p', 'read-write', 'default: working directory'),
  rule('/p/.git', 'pin', 'protected: git dir pinned so it cannot be replaced'),
  rule('/p/.git/hooks', 'read-only', 'protected: git hook scripts'),
  rule('/p/.git/config', 'read-only', 'protected: git config', 'file'),
  rule('/p/docs', 'read-only', '/u.json: filesystem.denyWrite[0]'),
  rule('/d', 'read-write-no-delete', '--no-delete'),
];

const policy: Policy = {
  cwd: '/p', home: '/h', rules: RULES, sources: [], warnings: [],
  network: { mode: 'none', modeSource: 'default', allow: [], deny: [], deniedRanges: [], denyPrivateAddresses: false, unixSockets: [] },
  watch: [],
};
const plan = planLinux(policy, facts, ['true'], fds);
const classify = classifier(policy, plan);

/** A record: facts as the helper writes them (type, P, access, T). */
function rec(op: string, facts: string, path: string, flags = 0, b?: [string, string]): WriteRecord {
  const f = (s: string, p: string) => {
    const m = /^([fdlcbps?-])(P?)([war?]?)(T?)(?::(\d+))?$/.exec(s)!;
    return { type: m[1]!, parent: m[2] === 'P', access: m[3]!, wasFile: m[4] === 'T', mount: Number(m[5] ?? 1), path: p };
  };
  return { op, pid: 7, flags, a: f(facts, path), ...(b ? { b: f(b[0], b[1]) } : {}) };
}
const O_WRONLY = 1, O_CREAT = 0o100, O_EXCL = 0o200, O_TRUNC = 0o1000;

test('a write outside every writable root: refused by no rule, the fix names the directory', () => {
  const e = classify(rec('o', 'fPr', '/h/notes.txt', O_WRONLY | O_CREAT | O_TRUNC));
  assert.deepEqual(e && { op: e.op, path: e.path, pid: e.pid, rule: e.rule, fix: e.fix }, { op: 'write', path: '/h/notes.txt', pid: 7, rule: 'built-in: not writable (outside filesystem.allowWrite)', fix: 'filesystem.allowWrite: add "/h"' });
  assert.equal(classify(rec('o', '-P', '/etc/new', O_WRONLY | O_CREAT))?.op, 'create');
});

test('no fix is offered where it would not work: a name protected at the root of any writable path, what $HOME keeps whichever grant reaches it', () => {
  const rc = classify(rec('o', 'fPr', '/h/.bashrc', O_WRONLY | O_CREAT | O_TRUNC))!;
  assert.deepEqual({ rule: rc.rule, fix: rc.fix }, { rule: 'built-in: protected: shell startup file (/h/.bashrc), at the root of any writable path', fix: null });
  const vscode = classify(rec('m', '-P', '/srv/x/.vscode'))!;
  assert.equal(vscode.fix, null);
  assert.equal(classify(rec('o', '-P', '/srv/x/.vscode/tasks.json', O_WRONLY | O_CREAT))!.fix, null, 'inside a protected name: only granting that directory itself would do');
  const bin = classify(rec('o', '-P', '/h/.local/bin/git', O_WRONLY | O_CREAT))!;
  assert.deepEqual({ rule: bin.rule, fix: bin.fix }, { rule: 'built-in: protected: on PATH of later shells (/h/.local/bin)', fix: null });
});

test('a settings rule is named with its file, and the fix removes it; a protection has no fix', () => {
  const e = classify(rec('m', '-P', '/p/docs/new'))!;
  assert.equal(e.rule, 'filesystem.denyWrite: "/p/docs" (in /u.json)');
  assert.equal(e.fix, 'filesystem.denyWrite: remove "/p/docs" (in /u.json)');
  const g = classify(rec('o', 'fPr', '/p/.git/config', O_WRONLY | O_TRUNC))!;
  assert.equal(g.rule, 'built-in: protected: git config (/p/.git/config)');
  assert.equal(g.fix, null);
});

test('calls the kernel answers otherwise first are not refusals', () => {
  assert.equal(classify(rec('m', 'dP', '/usr')), undefined, 'EEXIST before EROFS');
  assert.equal(classify(rec('o', '-', '/no/such/x', O_WRONLY | O_CREAT)), undefined, 'ENOENT: no directory');
  assert.equal(classify(rec('o', '-P', '/etc/x', O_WRONLY)), undefined, 'ENOENT: no O_CREAT');
  assert.equal(classify(rec('o', 'fPr', '/etc/x', O_WRONLY | O_CREAT | O_EXCL)), undefined, 'EEXIST');
  assert.equal(classify(rec('o', 'dP', '/etc', O_WRONLY)), undefined, 'EISDIR');
  assert.equal(classify(rec('o', 'fPa', '/etc/shadow', O_WRONLY)), undefined, 'the file\'s own permissions come before the mount');
  assert.notEqual(classify(rec('o', 'fPa', '/etc/shadow', O_WRONLY | O_TRUNC)), undefined, 'but O_TRUNC meets the mount first');
  assert.equal(classify(rec('o', 'cPw', '/h/.npmrc', O_WRONLY)), undefined, 'a device (a hidden file is /dev/null) takes the write');
  assert.equal(classify(rec('R', 'fP:1', '/p/a', 0, ['-P:2', '/h/a'])), undefined, 'EXDEV across mounts');
  assert.equal(classify(rec('M', 'lP', '/etc/dangling')), undefined, 'a dangling link followed: ENOENT');
  assert.equal(classify(rec('o', 'fPw', '/dev/null', O_WRONLY)), undefined, 'pseudo filesystems are not reported');
});

test('allowed writes are not refusals', () => {
  for (const r of [rec('o', '-P', '/p/new', O_WRONLY | O_CREAT), rec('u', 'fP', '/p/new'), rec('m', '-P', '/p/.git/objects/ab'), rec('R', 'fP', '/p/a', 0, ['-P', '/p/b']), rec('o', '-P', '/tmp/x', O_WRONLY | O_CREAT)]) {
    assert.equal(classify(r), undefined, `${r.op} ${r.a.path}`);
  }
});

test('unlink on a read-only directory is refused before the name is looked up; elsewhere only an existing name', () => {
  assert.equal(classify(rec('u', '-P', '/usr/none'))?.detail, 'unlink: EROFS');
  assert.equal(classify(rec('u', '-P', '/d/none')), undefined, 'Landlock looks after the lookup');
  assert.equal(classify(rec('u', 'fPw', '/d/a'))?.detail, 'unlink: EACCES (Landlock: no delete)');
  assert.equal(classify(rec('r', 'dP', '/p/.git'))?.detail, 'rmdir: EBUSY', 'a mount point');
});

test('no-delete: a truncating open refuses only a file that was there before the call', () => {
  assert.equal(classify(rec('o', 'fPwT', '/d/b', O_WRONLY | O_CREAT | O_TRUNC))?.detail, 'open(O_WRONLY|O_CREAT|O_TRUNC): EACCES (Landlock: truncate)');
  assert.equal(classify(rec('o', 'fPw', '/d/new', O_WRONLY | O_CREAT | O_TRUNC)), undefined, 'the call made it');
  const e = classify(rec('R', 'fPw', '/d/c', 0, ['-P', '/d/moved']))!;
  assert.equal(e.op, 'rename');
  assert.equal(e.rule, 'filesystem.allowWriteNoDelete: "/d" (--no-delete)');
  assert.equal(e.fix, 'filesystem.allowWriteNoDelete: remove "/d", and filesystem.allowWrite: add "/d"');
});

test('a write into a hidden directory names the read rule and both settings; one $HOME keeps read-only anyway offers none', () => {
  const e = classify(rec('o', '-P', '/h/.gnupg/x', O_WRONLY | O_CREAT))!;
  assert.equal(e.rule, 'built-in: credential store (/h/.gnupg)');
  assert.equal(e.fix, 'filesystem.allowRead: add "/h/.gnupg", and filesystem.allowWrite: add "/h/.gnupg"');
  const ssh = classify(rec('o', '-P', '/h/.ssh/x', O_WRONLY | O_CREAT))!;
  assert.deepEqual({ rule: ssh.rule, fix: ssh.fix }, { rule: 'built-in: protected: authorized_keys and ssh config (ProxyCommand) (/h/.ssh)', fix: null });
});

test('a write under a read deny of a path that was not there is no refusal: nothing is mounted there, and the write goes through', () => {
  const p: Policy = { ...policy, rules: [...RULES, rule('/p/later', 'deny-read', '--deny-read', 'missing')] };
  const c = classifier(p, planLinux(p, facts, ['true'], fds));
  assert.equal(c(rec('m', '-P', '/p/later')), undefined);
  assert.equal(c(rec('o', '-P', '/p/later/x', O_WRONLY | O_CREAT)), undefined);
  // One that was there is still named.
  assert.ok(c(rec('o', '-P', '/h/.gnupg/x', O_WRONLY | O_CREAT)));
});

test('quiet paths: below a writable root, away from every rule and mount; never the root itself', () => {
  const { quiet, loud } = quietPaths(policy, plan);
  assert.ok(quiet.includes('/p') && !quiet.includes('/d') && !quiet.includes('/dev'), quiet.join(' '));
  assert.ok(loud.includes('/p/.git') && loud.includes('/p/docs'), loud.join(' '));
  assert.ok(!loud.includes('/p/.git/hooks'), 'covered by /p/.git');
});

test('records split across reads are joined; malformed ones are skipped, never thrown', () => {
  const one = Buffer.from(['o', '12', '241', 'fPr:3', '/h/.bashrc', '', ''].map((f) => `${f}\0`).join(''));
  const got: (WriteRecord | undefined)[] = [];
  const rest = { fields: [] as string[], partial: undefined as Buffer | undefined };
  for (let i = 0; i < one.length; i += 3) parseRecords(one.subarray(i, i + 3), rest, (r) => got.push(r));
  assert.equal(got.length, 1);
  assert.deepEqual(got[0], { op: 'o', pid: 12, flags: 0x241, a: { type: 'f', parent: true, access: 'r', wasFile: false, mount: 3, path: '/h/.bashrc' } });
  const bad: (WriteRecord | undefined)[] = [];
  const r2 = { fields: [] as string[], partial: undefined as Buffer | undefined };
  parseRecords(Buffer.from(['x', '1', '0', 'fP', '/a', '', ''].map((f) => `${f}\0`).join('')), r2, (r) => bad.push(r));
  parseRecords(Buffer.from(['o', '1', '0', 'fP', 'relative', '', ''].map((f) => `${f}\0`).join('')), r2, (r) => bad.push(r));
  parseRecords(Buffer.alloc(5000, 0x41), r2, (r) => bad.push(r));
  assert.deepEqual(bad, [undefined, undefined, undefined]);
});
