/**
 * Command-line parsing: argv → a plain CliConfig. Pure; knows nothing about
 * sandboxes. Values may be given as `--flag VALUE` or `--flag=VALUE`. Where
 * the options end and the command starts is argv.ts's rule (shared with the
 * early scans): `cordon npm test` runs `npm test`, as `srt npm test` does.
 */
import { CordonError } from '../errors.js';
import { isOption, isSubcommand, RULE_FLAGS, VALUE_OPTIONS } from './argv.js';
import { checkVariableName } from '../policy/environment.js';
import type { CliRules } from '../policy/policy.js';
import { NETWORK_MODES, type NetworkMode } from '../policy/settings.js';
import type { CheckOperation } from '../platform/linux/check.js';
import type { TrustQuery } from './trust.js';

export type Subcommand = 'run' | 'explain' | 'check' | 'trust' | 'doctor' | 'recover' | 'help' | 'version';

export interface CliConfig {
  readonly subcommand: Subcommand;
  readonly settingsFiles: readonly string[];
  readonly ignoreUserSettings: boolean;
  /** --ignore-project-settings: do not load .cordon/settings.json files. */
  readonly ignoreProjectSettings?: boolean;
  readonly rules: CliRules;
  readonly debug: boolean;
  /** --dangerously-allow-missing-landlock: without Landlock, run on the mounts alone (never for no-delete paths). */
  readonly landlockOptional?: boolean;
  readonly json: boolean;
  /** Append every event of the run as a JSON line here (docs/events.md). */
  readonly auditLog?: string;
  /** Write the run's refusals (fs.refused, net.refused, request.refused events) here as a JSON array. */
  readonly violationsJson?: string;
  /** --no-summary: false; no list of refused operations on stderr when the command ends. */
  readonly summary?: boolean;
  /** `cordon check OPERATION TARGET`. */
  readonly check?: { readonly operation: CheckOperation; readonly target: string };
  /** `cordon trust ...`. */
  readonly trust?: TrustQuery;
  /** argv to run, or a shell string with -c. */
  readonly command: { readonly argv: readonly string[] } | { readonly shell: string } | undefined;
}

export const USAGE = `usage: cordon [options] COMMAND [ARGS...]
       cordon [options] -c 'SHELL STRING'
       cordon explain [options] [COMMAND [ARGS...] | -c STRING]
       cordon check [options] read|write|delete PATH
       cordon check [options] connect HOST[:PORT]
       cordon trust [FILE...] | --list | --revoke FILE...
       cordon doctor [--json]
       cordon recover

Runs COMMAND inside cordon's walls: reads everywhere except credential
stores, writes only in the working directory and a private /tmp (a settings
file with filesystem.allowWrite names the writable paths instead), no network
unless domains are allowed (then only to them, through cordon's proxies).

A project's .cordon/settings.json (from the repository root down to the
working directory) is loaded after your user settings; it may only narrow
them unless you trust that exact file (cordon trust FILE; an edit ends it).

check answers whether the command could do that under these options, and by
which rule, without running anything: exit 0 allowed, 1 denied (PORT: 443).

recover finishes what a cordon killed mid-run (kill -9) left undone: moving
aside what its command left that would run code on the host. cordon starts
it by itself once such a run's sandbox is gone; the next run does it too.

The first word that is not an option starts COMMAND, and every word after it
is COMMAND's (cordon ls -la). Put -- before a COMMAND named explain, check,
trust, doctor, recover, help or version, or one that starts with -.

options:
  --settings FILE        load a settings file (cordon or srt format); repeatable
  --ignore-user-settings do not load $XDG_CONFIG_HOME/cordon/settings.json
                         (or ~/.srt-settings.json in its absence)
  --ignore-project-settings
                         do not load the project's .cordon/settings.json
  --deny-read PATH       hide PATH (globs allowed: '**/.env', '~/.aws/*')
  --allow-read PATH      re-open PATH inside a denied region
  --allow-write PATH     make PATH read-write
  --read-only PATH       make PATH read-only, even inside a writable path
                         (alias --deny-write)
  --no-delete PATH       make PATH read-write-no-delete: create and modify,
                         never delete or rename away (alias --allow-write-no-delete)
  --allow-domain D       let the command reach D through cordon's proxies
                         (example.com, *.example.com, api.example.com:443)
  --deny-domain D        never let it reach D (deny wins)
  --network MODE         none | filtered | dangerously-unfiltered (default:
                         filtered when a domain is allowed, else none)
  --pass-env NAME        pass the environment variable NAME although its name
                         marks it as a secret (withheld by default: *_TOKEN,
                         *_SECRET, *_KEY, *PASSWORD, AWS keys; see explain)
  -c STRING              run STRING with the shell ($SHELL, else /bin/sh)
  --audit-log FILE       append every event of the run (command start and exit,
                         each connection allowed or refused, each refusal,
                         the step after the run) to FILE as JSON lines
  --violations-json FILE write the run's refused operations to FILE (a JSON array)
  --no-summary           do not list the refused operations on stderr when
                         the command ends
  --debug                print the plan and timings on stderr
  --dangerously-allow-missing-landlock
                         on a kernel without Landlock, run with the mounts as
                         the only write wall (no-delete paths still need it)
  --json                 (explain, check, trust --list, doctor) machine-readable output
  --version, --help

exit status: the command's; 128+N if it was killed by signal N;
125 when cordon itself fails (the message says what is wrong and the fix).`;

export function parseArgs(argv: readonly string[]): CliConfig {
  let subcommand: Subcommand = 'run';
  if (argv[0] === 'trust') return parseTrust(argv.slice(1));
  // Nothing to set: an option here would be taken and ignored.
  if (argv[0] === 'recover' && argv.length > 1) {
    throw new CordonError('CORDON_ERR_USAGE', `recover takes no options and runs no command (got ${argv.slice(1).join(' ')}; to run a program named recover: cordon -- recover); see cordon --help`);
  }
  const settingsFiles: string[] = [];
  const rules = { denyRead: [] as string[], allowRead: [] as string[], allowWrite: [] as string[], denyWrite: [] as string[], allowWriteNoDelete: [] as string[], allowDomains: [] as string[], denyDomains: [] as string[] };
  let network: NetworkMode | undefined;
  let ignoreUserSettings = false;
  let ignoreProjectSettings = false;
  let debug = false;
  let landlockOptional = false;
  let auditLog: string | undefined;
  let violationsJson: string | undefined;
  let noSummary = false;
  let json = false;
  let command: CliConfig['command'];
  const passEnv: string[] = [];
  let i = 0;
  if (isSubcommand(argv[0])) {
    subcommand = argv[0];
    i = 1;
  }
  const usage = (msg: string): never => {
    throw new CordonError('CORDON_ERR_USAGE', `${msg}; see cordon --help`);
  };
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--' || !isOption(a)) {
      // The command: everything after --, or from the first word that is not an option.
      const rest = argv.slice(a === '--' ? i + 1 : i);
      if (rest.length === 0) usage('-- must be followed by a command');
      if (command) usage(`give either -c STRING or a command, not both (found ${rest.join(' ')} after -c STRING)`);
      command = { argv: rest };
      break;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (eq > 0 && !VALUE_OPTIONS.has(flag)) usage(`${flag} takes no value`);
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v!;
    };
    if (flag === '--help' || flag === '-h') subcommand = 'help';
    else if (flag === '--version' || flag === '-V') subcommand = 'version';
    else if (flag === '--settings') settingsFiles.push(value());
    else if (flag === '--ignore-user-settings') ignoreUserSettings = true;
    else if (flag === '--ignore-project-settings') ignoreProjectSettings = true;
    else if (flag === '--debug') debug = true;
    else if (flag === '--dangerously-allow-missing-landlock') landlockOptional = true;
    else if (flag === '--audit-log') auditLog = value();
    else if (flag === '--violations-json') violationsJson = value();
    else if (flag === '--no-summary') noSummary = true;
    else if (flag === '--json') json = true;
    else if (flag === '--pass-env') {
      const v = value();
      try { passEnv.push(checkVariableName(v, '--pass-env')); } catch (e) { usage((e as Error).message); }
    }
    else if (flag === '--network') {
      const v = value();
      if (!(NETWORK_MODES as readonly string[]).includes(v)) usage(`--network takes ${NETWORK_MODES.join(', ')}; got ${JSON.stringify(v)}`);
      network = v as NetworkMode;
    }
    else if (flag === '-c') {
      command = { shell: value() };
      if (i + 1 < argv.length) usage(`unexpected arguments after -c STRING: ${argv.slice(i + 1).join(' ')}`);
    } else if (Object.hasOwn(RULE_FLAGS, flag)) {
      const v = value();
      if (v === '') usage(`${flag} needs a non-empty value`);
      rules[RULE_FLAGS[flag as keyof typeof RULE_FLAGS]].push(v);
    } else usage(`unknown option ${a}`);
  }
  if (subcommand === 'run' && !command) usage('no command given');
  let check: CliConfig['check'];
  if (subcommand === 'check') {
    const words = command && 'argv' in command ? command.argv : undefined;
    const op = words?.[0];
    if (!words || words.length !== 2 || !(CHECK_OPERATIONS as readonly (string | undefined)[]).includes(op)) usage(`check takes read|write|delete PATH or connect HOST[:PORT]${words ? `; got ${words.join(' ')}` : ''}`);
    if (words![1] === '') usage('check needs a non-empty PATH or HOST');
    check = { operation: op as CheckOperation, target: words![1]! };
    command = undefined;
  }
  if (subcommand === 'doctor' && command) usage(`doctor runs no command (to run a program named doctor: cordon -- doctor${'argv' in command ? ` ${command.argv.join(' ')}` : ''})`);
  return { subcommand, settingsFiles, ignoreUserSettings, ...(ignoreProjectSettings ? { ignoreProjectSettings } : {}), rules: { ...rules, ...(network ? { network } : {}), ...(passEnv.length ? { passEnv } : {}) }, debug, json, command, ...(check ? { check } : {}), ...(auditLog ? { auditLog } : {}), ...(violationsJson ? { violationsJson } : {}), ...(noSummary ? { summary: false } : {}), ...(landlockOptional ? { landlockOptional } : {}) };
}

const CHECK_OPERATIONS: readonly CheckOperation[] = ['read', 'write', 'delete', 'connect'];

/** `cordon trust [FILE...]`, `--list [--json]`, `--revoke FILE...`. */
function parseTrust(args: readonly string[]): CliConfig {
  let action: TrustQuery['action'] = 'trust';
  let json = false;
  const files: string[] = [];
  let ended = false;
  const usage = (msg: string): never => {
    throw new CordonError('CORDON_ERR_USAGE', `${msg}; usage: cordon trust [FILE...] | --list [--json] | --revoke FILE...`);
  };
  for (const a of args) {
    if (!ended && a === '--') ended = true;
    else if (!ended && a === '--list') action = action === 'trust' ? 'list' : usage('give one of --list and --revoke');
    else if (!ended && a === '--revoke') action = action === 'trust' ? 'revoke' : usage('give one of --list and --revoke');
    else if (!ended && a === '--json') json = true;
    else if (!ended && isOption(a)) usage(`unknown option ${a}`);
    else if (a === '') usage('empty FILE');
    else files.push(a);
  }
  if (action === 'list' && files.length > 0) usage('--list takes no FILE');
  if (action === 'revoke' && files.length === 0) usage('--revoke needs a FILE');
  return { subcommand: 'trust', settingsFiles: [], ignoreUserSettings: false, rules: { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] }, debug: false, json, command: undefined, trust: { action, files } };
}
