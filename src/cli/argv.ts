/**
 * Where cordon's own options end and the command starts. Pure data and one
 * function, with no imports: bin/cordon.cjs loads it (through early.ts)
 * before the rest of cordon, and args.ts parses with the same tables.
 *
 * `cordon [options] COMMAND [ARGS...]`, as with srt: the first word that is
 * neither an option nor an option's value starts the command, and every
 * word from there on is the command's, options included (`cordon ls -la`
 * runs `ls -la`). `--` ends the options explicitly. A subcommand is a
 * reserved word only in first position (`cordon explain npm test`);
 * `cordon -- explain` runs a program named explain.
 */

export const SUBCOMMANDS = ['explain', 'check', 'trust', 'doctor', 'recover', 'help', 'version'] as const;
export type SubcommandWord = (typeof SUBCOMMANDS)[number];

/** Rule options, and the command-line rule list each adds its value to. */
export const RULE_FLAGS = {
  '--allow-domain': 'allowDomains',
  '--deny-domain': 'denyDomains',
  '--deny-read': 'denyRead',
  '--allow-read': 'allowRead',
  '--allow-write': 'allowWrite',
  '--read-only': 'denyWrite',
  '--deny-write': 'denyWrite',
  '--no-delete': 'allowWriteNoDelete',
  '--allow-write-no-delete': 'allowWriteNoDelete',
} as const;

/** Options that take a value: `--flag VALUE`, or `--flag=VALUE` for the long ones. */
export const VALUE_OPTIONS: ReadonlySet<string> = new Set(['--settings', '--audit-log', '--violations-json', '--network', '--pass-env', '-c', ...Object.keys(RULE_FLAGS)]);

export function isSubcommand(word: string | undefined): word is SubcommandWord {
  return (SUBCOMMANDS as readonly (string | undefined)[]).includes(word);
}

/** A word cordon reads as one of its options (`-` alone is a word, as for most tools). */
export function isOption(word: string): boolean {
  return word.startsWith('-') && word !== '-';
}

/**
 * The index of the command's first word in argv, or argv.length when there
 * is none. `-c STRING` is an option with a value here: the command it gives
 * is a shell string, not argv words.
 */
export function commandStart(argv: readonly string[]): number {
  for (let i = isSubcommand(argv[0]) ? 1 : 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return i + 1;
    if (!isOption(a)) return i;
    if (VALUE_OPTIONS.has(a)) i++;
  }
  return argv.length;
}
