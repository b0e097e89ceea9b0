// POSIX shell quoting, for tools that take one command string (srt -c).

export function shellQuote(s) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${String(s).replace(/'/g, `'\\''`)}'`;
}

export const shellJoin = (argv) => argv.map(shellQuote).join(' ');
