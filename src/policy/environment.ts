/**
 * Which of the caller's environment variables the command does not get.
 * One allowed domain is enough to send a secret away, so a variable whose
 * name marks it as one (SECRET_SUFFIXES, AWS_NAMES) is withheld unless the
 * user passes it by name (`environment.pass`, `--pass-env NAME`); any other
 * variable can be withheld by name (`environment.withhold`), and a name in
 * both is withheld. Pure: names in, names out; the values never pass here.
 *
 * A variable's name is all cordon judges: a secret in a variable with an
 * ordinary name (`DATABASE_URL=postgres://user:password@…`) goes in unless
 * it is withheld by name (docs/settings.md, Environment).
 */
import { CordonError } from '../errors.js';

/** Names ending so (compared in upper case) are secrets: `GITHUB_TOKEN`, `PGPASSWORD`, `STRIPE_SECRET`, `ANTHROPIC_API_KEY`. */
export const SECRET_SUFFIXES = ['TOKEN', 'SECRET', 'PASSWORD', 'PASSWD', 'CREDENTIALS', 'CREDENTIAL', 'APIKEY', '_KEY', '_PAT'] as const;

/** Secrets whose names end otherwise: the AWS key id and the older session token name. */
export const AWS_NAMES = ['AWS_ACCESS_KEY_ID', 'AWS_SECURITY_TOKEN', 'AWS_SESSION_TOKEN', 'AWS_SECRET_ACCESS_KEY'] as const;

/** A variable name as the shell makes one. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether `name` marks its variable as a secret (`KEY` alone is one). */
export function looksSecret(name: string): boolean {
  const n = name.toUpperCase();
  return n === 'KEY' || (AWS_NAMES as readonly string[]).includes(n) || SECRET_SUFFIXES.some((s) => n.endsWith(s));
}

/** A source's `environment` key, and the rules of all sources together. */
export interface EnvironmentRules {
  /** Secret-looking names the command gets anyway. */
  readonly pass: readonly string[];
  /** Names it never gets (they win over pass). */
  readonly withhold: readonly string[];
}

/** The rules from every source: the lists add up (a project file's withhold narrows; its pass widens: project.ts). */
export function environmentRules(settings: readonly { readonly environment?: EnvironmentRules }[], cliPass: readonly string[] = []): EnvironmentRules {
  const pass = new Set<string>(cliPass);
  const withhold = new Set<string>();
  for (const s of settings) {
    for (const n of s.environment?.pass ?? []) pass.add(n);
    for (const n of s.environment?.withhold ?? []) withhold.add(n);
  }
  return { pass: [...pass].sort(), withhold: [...withhold].sort() };
}

/** The names of `env` the command does not get, sorted. */
export function withheldNames(env: NodeJS.ProcessEnv, rules: EnvironmentRules): string[] {
  const pass = new Set(rules.pass);
  const withhold = new Set(rules.withhold);
  return Object.keys(env).filter((k) => env[k] !== undefined && (withhold.has(k) || (looksSecret(k) && !pass.has(k)))).sort();
}

/** A variable name as a settings file or flag gives it; throws a CordonError naming `where` otherwise. */
export function checkVariableName(name: unknown, where: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: ${JSON.stringify(name)} is not an environment variable name (letters, digits and _, not starting with a digit)`);
  }
  return name;
}
