// Shared command-line helpers for the bench scripts.

/** `--flag=value` → ['--flag', 'value']; `--flag` → ['--flag', undefined]. */
export function splitFlag(a) {
  const eq = a.indexOf('=');
  return eq >= 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
}

/** An integer option ≥ min, or `fail` with a message naming the option. */
export function intArg(name, v, min, fail) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`${name} expects an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Calls `fn(flag, value, raw)` for each argument; `value()` returns the
 * option's value (`--flag=value`, else the next argument, consumed).
 */
export function forEachFlag(argv, fn) {
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i];
    const [flag, inline] = splitFlag(raw);
    fn(flag, () => inline ?? argv[++i], raw);
  }
}
