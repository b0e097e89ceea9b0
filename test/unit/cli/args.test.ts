import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from '../../../src/cli/args.js';
import { commandStart, RULE_FLAGS, VALUE_OPTIONS } from '../../../src/cli/argv.js';

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

test('the first word that is not an option starts the command, as with srt; what follows it is the command\'s', () => {
  assert.deepEqual(parseArgs(['npm', 'test']).command, { argv: ['npm', 'test'] });
  const c = parseArgs(['--allow-write', '/data', '--settings=s.json', 'ls', '-la', '--deny-read', 'x', '--', 'y']);
  assert.deepEqual(c.command, { argv: ['ls', '-la', '--deny-read', 'x', '--', 'y'] });
  assert.deepEqual([c.rules.allowWrite, c.rules.denyRead, c.settingsFiles], [['/data'], [], ['s.json']]);
  // A value that looks like a word is still the option's value.
  assert.deepEqual(parseArgs(['--network', 'none', '--read-only', 'src', 'make']).command, { argv: ['make'] });
  assert.deepEqual(parseArgs(['./run.sh', '--help']).command, { argv: ['./run.sh', '--help'] });
  assert.equal(parseArgs(['ls', '--help']).subcommand, 'run', 'an option after the command is the command\'s');
  assert.deepEqual(parseArgs(['-', 'x']).command, { argv: ['-', 'x'] }, '- alone is a word');
});

test('subcommands are reserved words in first position only; -- runs a program of that name', () => {
  assert.deepEqual([parseArgs(['explain', 'npm', 'test']).subcommand, parseArgs(['explain', 'npm', 'test']).command], ['explain', { argv: ['npm', 'test'] }]);
  assert.equal(parseArgs(['help']).subcommand, 'help');
  assert.equal(parseArgs(['version']).subcommand, 'version');
  for (const word of ['explain', 'doctor', 'recover', 'help', 'version']) {
    const c = parseArgs(['--', word, 'x']);
    assert.deepEqual([c.subcommand, c.command], ['run', { argv: [word, 'x'] }], word);
    const later = parseArgs(['--debug', word]);
    assert.deepEqual([later.subcommand, later.command], ['run', { argv: [word] }], `${word} after an option is a program`);
  }
  assert.throws(() => parseArgs(['doctor', 'ls']), /doctor runs no command \(to run a program named doctor: cordon -- doctor ls\)/);
  assert.equal(parseArgs(['recover']).subcommand, 'recover');
  // recover has nothing to set: an option would be taken and ignored, a command not run.
  for (const rest of [['--json'], ['--allow-write', 'x'], ['ls']]) assert.throws(() => parseArgs(['recover', ...rest]), /recover takes no options and runs no command/, rest.join(' '));
});

test('commandStart (shared with the early scans) agrees with the parser', () => {
  const cases: [string[], number][] = [
    [['npm', 'test'], 0], [['--debug', 'npm'], 1], [['--settings', 'a.json', 'npm'], 2], [['--settings=a.json', 'npm'], 1],
    [['--', 'explain'], 1], [['explain', '--json', 'ls', '-la'], 2], [['-c', 'echo hi'], 2], [['--allow-write', 'x'], 2], [[], 0],
  ];
  for (const [argv, at] of cases) {
    assert.equal(commandStart(argv), at, JSON.stringify(argv));
    const c = parseArgs(argv.length === 0 || argv[0] === '--allow-write' ? [...argv, 'true'] : argv).command;
    if (c && 'argv' in c) assert.deepEqual(c.argv, argv.length === 0 || argv[0] === '--allow-write' ? ['true'] : argv.slice(at), JSON.stringify(argv));
  }
  for (const flag of Object.keys(RULE_FLAGS)) assert.ok(VALUE_OPTIONS.has(flag), flag);
});

test('usage errors are CordonErrors with a hint', () => {
  for (const argv of [[], ['--bogus'], ['--settings'], ['-c', 'x', '--', 'y'], ['-c', 'x', 'extra'], ['--'], ['--deny-read='], ['--debug=1', 'ls'], ['--json']]) {
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

test('--violations-json FILE and --no-summary', () => {
  const c = parseArgs(['--violations-json', 'v.json', '--no-summary', 'true']);
  assert.equal(c.violationsJson, 'v.json');
  assert.equal(c.summary, false);
  assert.equal(parseArgs(['--violations-json=w.json', 'true']).violationsJson, 'w.json');
  const d = parseArgs(['true']);
  assert.equal(d.summary, undefined, 'the summary is on by default');
  assert.equal(d.violationsJson, undefined);
  assert.ok(VALUE_OPTIONS.has('--violations-json'));
  assert.equal(commandStart(['--violations-json', 'npm', 'ls']), 2, 'its value is not the command');
  assert.throws(() => parseArgs(['--no-summary=1', 'true']), /takes no value/);
  assert.throws(() => parseArgs(['--violations-json']), /needs a value/);
});
