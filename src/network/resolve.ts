/**
 * Names to addresses for the proxies' decisions and `cordon check connect`:
 * as absolute names, /etc/hosts first, never a resolv.conf search domain.
 */
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';

/**
 * The first getaddrinfo() of a process costs ~5 ms (glibc reads its NSS and
 * gai configuration and starts libuv's thread pool), which the sandbox's
 * first connection would otherwise wait for. One lookup of `localhost`
 * (answered from /etc/hosts, RFC 6761) runs now, on the thread pool, while
 * bubblewrap builds the sandbox. Its answer is not used for any decision.
 */
export function warmResolver(): void {
  lookup('localhost', { all: true }).catch(() => { /* only a warm-up */ });
}

/**
 * A name's addresses, both families, as an absolute name: /etc/hosts first
 * (as glibc's files source reads it), else the system resolver with a
 * trailing dot, so that no resolv.conf search domain is tried (with
 * `ndots:5`, Kubernetes' default, `NAME.<search domain>` would be looked up
 * first and dialed if it exists). glibc's files source does not match a name
 * with a trailing dot, hence the file is read here.
 */
export async function resolveAll(name: string): Promise<string[]> {
  let hosts = '';
  try {
    hosts = await readFile('/etc/hosts', 'utf8');
  } catch { /* no hosts file: DNS alone */ }
  const listed = hostsFileAddresses(hosts, name);
  if (listed.length > 0) return listed;
  const answers = await lookup(name.endsWith('.') ? name : `${name}.`, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}

/** Pure: the addresses a hosts file gives `name` (case aside), in file order, every line that names it. */
export function hostsFileAddresses(text: string, name: string): string[] {
  const want = name.toLowerCase().replace(/\.$/, '');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    // Fields split on blanks and tabs only, as glibc does; a scoped address (fe80::1%eth0) is one glibc skips.
    const [address, ...names] = line.replace(/#.*/, '').replace(/^[ \t]+|[ \t\r]+$/g, '').split(/[ \t]+/);
    if (!address || address.includes('%') || isIP(address) === 0) continue;
    if (names.some((n) => n.toLowerCase() === want) && !out.includes(address)) out.push(address);
  }
  return out;
}
