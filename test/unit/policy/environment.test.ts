import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CordonError } from '../../../src/errors.js';
import { checkVariableName, environmentRules, looksSecret, withheldNames } from '../../../src/policy/environment.js';
import { parseSettings } from '../../../src/policy/settings.js';

test('names that mark a secret, and ordinary ones', () => {
  for (const n of ['GITHUB_TOKEN', 'GH_TOKEN', 'NPM_TOKEN', 'npm_config__authToken', 'ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'STRIPE_SECRET', 'PGPASSWORD', 'MYSQL_PASSWD', 'GOOGLE_APPLICATION_CREDENTIALS', 'SSH_KEY', 'KEY', 'HF_TOKEN', 'GITLAB_PAT', 'SENTRY_APIKEY']) {
    assert.equal(looksSecret(n), true, n);
  }
  for (const n of ['PATH', 'HOME', 'PWD', 'SSH_AUTH_SOCK', 'GIT_ASKPASS', 'AWS_CA_BUNDLE', 'AWS_REGION', 'AWS_PROFILE', 'NODE_EXTRA_CA_CERTS', 'KEYBOARD', 'MONKEY', 'TOKENIZERS_PARALLELISM', 'LANG', 'TERM', 'DISPLAY']) {
    assert.equal(looksSecret(n), false, n);
  }
});

test('withheld: secret-looking names unless passed, and any name withheld by name, which wins over pass', () => {
  const env = { PATH: '/bin', GITHUB_TOKEN: 'g', NPM_TOKEN: 'n', DATABASE_URL: 'postgres://u:p@h/d', UNSET_KEY: undefined };
  assert.deepEqual(withheldNames(env, { pass: [], withhold: [] }), ['GITHUB_TOKEN', 'NPM_TOKEN']);
  assert.deepEqual(withheldNames(env, { pass: ['NPM_TOKEN'], withhold: ['DATABASE_URL'] }), ['DATABASE_URL', 'GITHUB_TOKEN']);
  assert.deepEqual(withheldNames(env, { pass: ['GITHUB_TOKEN'], withhold: ['GITHUB_TOKEN'] }), ['GITHUB_TOKEN', 'NPM_TOKEN']);
});

test('the rules add up over every source and the --pass-env flags', () => {
  const a = parseSettings(JSON.stringify({ environment: { pass: ['NPM_TOKEN'] } }), 'a.json');
  const b = parseSettings(JSON.stringify({ environment: { withhold: ['DATABASE_URL'], pass: ['HF_TOKEN'] } }), 'b.json');
  const none = parseSettings('{}', 'c.json');
  assert.deepEqual(environmentRules([a, b, none], ['GH_TOKEN']), { pass: ['GH_TOKEN', 'HF_TOKEN', 'NPM_TOKEN'], withhold: ['DATABASE_URL'] });
  assert.deepEqual(environmentRules([none]), { pass: [], withhold: [] });
});

test('a name that is not a variable name is refused, in settings and as given', () => {
  for (const bad of ['', '1X', 'A-B', 'A B', 'A=B', 7, null]) {
    assert.throws(() => checkVariableName(bad, 'here'), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_INVALID' && /^here: /.test(e.message));
  }
  assert.equal(checkVariableName('_A1', 'here'), '_A1');
  assert.throws(() => parseSettings(JSON.stringify({ environment: { pass: ['OK', 'NOT-OK'] } }), 's.json'), (e: unknown) => e instanceof CordonError && /s\.json: environment\.pass\[1\]: "NOT-OK"/.test(e.message));
  assert.throws(() => parseSettings(JSON.stringify({ environment: { passAll: true } }), 's.json'), (e: unknown) => e instanceof CordonError && /passAll/.test(e.message));
});
