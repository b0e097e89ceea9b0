import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from '../../../src/cli/args.js';

test('argv after -- is the command, verbatim', () => {
  const c = parseArgs(['--allow-write', '/data', '--', 'ls', '-la', '--deny-read', 'x']);
  assert.deepEqual(c.command, { argv: ['ls', '-la', '--deny-read', 'x'] });
  assert.deepEqual(c.rules.allowWrite, ['/data']);
});

test('-c, --flag=value, repeatable rules and settings', () => {
  const c = parseArgs(['--settings=a.json', '--settings', 'b.json', '--read-only=x', '--deny-write', 'y', '--no-delete', 'd', '-c', 'echo hi']);
  assert.deepEqual(c.settingsFiles, ['a.json', 'b.json']);
  assert.deepEqual(c.rules.denyWrite, ['x', 'y']);
  assert.deepEqual(c.rules.allowWriteNoDelete, ['d']);
  assert.deepEqual(c.command, { shell: 'echo hi' });
});

test('subcommands', () => {
  assert.equal(parseArgs(['explain', '-c', 'true']).subcommand, 'explain');
  assert.equal(parseArgs(['explain']).subcommand, 'explain');
  assert.equal(parseArgs(['doctor']).subcommand, 'doctor');
  assert.equal(parseArgs(['--version']).subcommand, 'version');
  assert.equal(parseArgs(['--help']).subcommand, 'help');
});

test('usage errors are CordonErrors with a hint', () => {
  for (const argv of [[], ['--bogus'], ['--settings'], ['ls'], ['-c', 'x', '--', 'y'], ['-c', 'x', 'extra'], ['--'], ['--deny-read=']]) {
    assert.throws(() => parseArgs(argv), (e: any) => e.code === 'CORDON_ERR_USAGE' && /see cordon --help/.test(e.message), JSON.stringify(argv));
  }
});

test('network flags', () => {
  const c = parseArgs(['--allow-domain', 'a.com', '--deny-domain=b.com', '--network', 'filtered', '--', 'true']);
  assert.deepEqual(c.rules.allowDomains, ['a.com']);
  assert.deepEqual(c.rules.denyDomains, ['b.com']);
  assert.equal(c.rules.network, 'filtered');
  assert.throws(() => parseArgs(['--network', 'open', '--', 'true']), /--network takes none, filtered, dangerously-unfiltered/);
});
