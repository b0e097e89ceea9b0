import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inheritLiveRuns, processStart, writableByLiveRun, type Journal } from '../../../../src/platform/linux/journal.js';
import type { Policy } from '../../../../src/policy/policy.js';

const journal = (over: Partial<Journal>): Journal => ({ version: 1, pid: 1, start: '1', writable: ['/p'], readOnly: [], watch: [], ...over });

test('writableByLiveRun: a program inside a live run\'s writable path counts, unless that run keeps it read-only', () => {
  const live = [journal({ writable: ['/p'], readOnly: ['/p/node_modules/cordon'] })];
  assert.equal(writableByLiveRun(['/usr/bin/node', '/p/node_modules/cordon/bin'], live), undefined);
  assert.deepEqual(writableByLiveRun(['/usr/bin/node', '/p/.venv/bin/tool'], live), { program: '/p/.venv/bin/tool', run: live[0], root: '/p' });
});

test('inheritLiveRuns: what a live run created counts as new here, and its watched paths in this run\'s writable paths are watched here too', () => {
  const policy = {
    watch: [{ path: '/p/.git/commondir', kind: 'git-file', repo: '/p' }],
    rescan: { roots: ['/p'], patterns: [], known: ['/p', '/p/old', '/p/made-by-a'], unreadable: 0, writable: ['/p'], keepConfig: false },
  } as unknown as Policy;
  const a = journal({
    writable: ['/p'],
    rescan: { roots: ['/p'], patterns: [], known: ['/p', '/p/old'], unreadable: 0, writable: ['/p'], keepConfig: false },
    watch: [{ path: '/p/.git/commondir', kind: 'git-file', repo: '/p' }, { path: '/h/.profile', kind: 'created', repo: '/h' }, { path: '/p/x/.git', kind: 'repository', repo: '/p/x' }],
  });
  const got = inheritLiveRuns(policy, [a]);
  assert.deepEqual(got.rescan?.known, ['/p', '/p/old'], 'made-by-a is new to this run too');
  assert.deepEqual(got.watch.map((w) => w.path), ['/p/.git/commondir', '/p/x/.git'], 'once each, and only in this run\'s writable paths');
  assert.equal(inheritLiveRuns(policy, []), policy, 'no live run: the policy as it was');
});

test('processStart: this process has one; a pid that does not exist has none', () => {
  assert.match(processStart('self') ?? '', /^\d+$/);
  assert.equal(processStart(2 ** 22 + 1), undefined);
});
