import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseScan } from '../../../../src/platform/linux/scan.js';

test('parseScan reads NUL-separated K<TAB>value records and ignores junk', () => {
  const out = ['G\t/p', 'S\t/p/.git/modules/a/b', 'M\t/p/x/.env', 'G\t/p/with\ttab', 'E\t3', 'X\t/ignored', 'garbage', ''].join('\0');
  assert.deepEqual(parseScan(out), { repos: ['/p', '/p/with\ttab'], submoduleGitDirs: ['/p/.git/modules/a/b'], matches: ['/p/x/.env'], unreadable: 3 });
  assert.deepEqual(parseScan(''), { repos: [], submoduleGitDirs: [], matches: [], unreadable: 0 });
});
