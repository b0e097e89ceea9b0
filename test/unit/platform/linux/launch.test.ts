import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxEnv } from '../../../../src/platform/linux/launch.js';

test('sandboxEnv: the plan wins, except JAVA_TOOL_OPTIONS, which keeps the caller\'s options first', () => {
  const env = sandboxEnv({ PATH: '/bin', TMPDIR: '/var/x', JAVA_TOOL_OPTIONS: '-Xmx1g' }, { TMPDIR: '/tmp', JAVA_TOOL_OPTIONS: '-Dhttp.proxyHost=127.0.0.1' });
  assert.deepEqual(env, { PATH: '/bin', TMPDIR: '/tmp', JAVA_TOOL_OPTIONS: '-Xmx1g -Dhttp.proxyHost=127.0.0.1' });
  assert.equal(sandboxEnv({}, { JAVA_TOOL_OPTIONS: '-Da=b' }).JAVA_TOOL_OPTIONS, '-Da=b');
});

test('sandboxEnv: a GIT_SSH_COMMAND of the caller\'s own is left alone', () => {
  assert.equal(sandboxEnv({ GIT_SSH_COMMAND: 'ssh -i k' }, { GIT_SSH_COMMAND: 'ssh -o ProxyCommand=x' }).GIT_SSH_COMMAND, 'ssh -i k');
  assert.equal(sandboxEnv({}, { GIT_SSH_COMMAND: 'ssh -o ProxyCommand=x' }).GIT_SSH_COMMAND, 'ssh -o ProxyCommand=x');
});

test('sandboxEnv: the package cache variables are the plan\'s to decide (it knows where the sandbox can write): its value wins, its absence keeps the caller\'s', () => {
  const plan = { npm_config_cache: '/tmp/.cache/npm', NPM_CONFIG_CACHE: '/tmp/.cache/npm' };
  const env = sandboxEnv({ NPM_CONFIG_CACHE: '/h/.npm', GOCACHE: '/data/go' }, plan);
  assert.deepEqual([env.npm_config_cache, env.NPM_CONFIG_CACHE, env.GOCACHE], ['/tmp/.cache/npm', '/tmp/.cache/npm', '/data/go']);
});

test('sandboxEnv: a withheld variable is gone, and the caller\'s choice is judged without it (its value is neither kept nor appended to)', () => {
  const caller = { PATH: '/bin', GITHUB_TOKEN: 'g', JAVA_TOOL_OPTIONS: '-Dsecret=1', GIT_SSH_COMMAND: 'ssh -i secret' };
  const plan = { JAVA_TOOL_OPTIONS: '-Dhttp.proxyHost=127.0.0.1', GIT_SSH_COMMAND: 'ssh -o ProxyCommand=x' };
  const env = sandboxEnv(caller, plan, ['GITHUB_TOKEN', 'JAVA_TOOL_OPTIONS', 'GIT_SSH_COMMAND']);
  assert.deepEqual(env, { PATH: '/bin', JAVA_TOOL_OPTIONS: '-Dhttp.proxyHost=127.0.0.1', GIT_SSH_COMMAND: 'ssh -o ProxyCommand=x' });
  assert.equal(caller.GITHUB_TOKEN, 'g', 'the caller\'s object is not changed');
});
