/**
 * This host's own interface addresses, for the resolved-address check: a
 * service bound to 0.0.0.0 answers on the LAN and global addresses exactly as
 * on loopback, so an allowed name must not resolve to them either. The only
 * I/O of the network policy; decide() itself takes the list as data.
 *
 * Trust boundary: the list comes from the kernel, not from the sandbox.
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { CordonError } from '../errors.js';
import { parseIp, unmapIPv4, type IpAddress } from './addresses.js';

type InterfaceReader = () => ReturnType<typeof networkInterfaces>;

/**
 * Every address assigned to an interface right now (both families, loopback
 * included). Call it per decision, or on interface changes: addresses come
 * and go (DHCP, VPN). Fails loudly rather than returning a shorter list.
 */
export function hostAddresses(read: InterfaceReader = networkInterfaces): IpAddress[] {
  let byInterface: ReturnType<typeof networkInterfaces>;
  try {
    byInterface = read();
  } catch (e) {
    throw new CordonError('CORDON_ERR_INTERNAL', `cannot list this host's network addresses (${(e as Error).message}); they are needed to keep sandboxed connections off the host's own services`, { cause: e });
  }
  const out: IpAddress[] = [];
  for (const list of Object.values(byInterface)) {
    for (const info of list ?? []) {
      // Link-local IPv6 may carry a zone id; the kernel's list is trusted, so it is stripped here.
      const text = info.address.replace(/%.*$/, '');
      const a = parseIp(text);
      if (a) out.push(unmapIPv4(a));
    }
  }
  return out;
}

/**
 * Whether the kernel takes `address` as this host's own: a UDP socket binds
 * to it (port 0, no IP_FREEBIND) only then. This sees what the interface
 * list (hostAddresses, from getifaddrs through libuv) leaves out: an address
 * on an interface that is up with no link (a docker0 whose containers
 * stopped, an unplugged card, a veth whose peer is down), and a route of
 * type local (`ip route add local 10.0.0.0/24 dev lo`); a service bound to
 * 0.0.0.0 answers on both. Not this host's (EADDRNOTAVAIL), or a family the
 * host has not (EAFNOSUPPORT): false; any other error: true, so that a
 * check that cannot be made refuses.
 */
export function kernelLocal(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    let s: ReturnType<typeof createSocket>;
    try {
      s = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
    } catch (e) {
      return resolve((e as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT');
    }
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      resolve(e.code !== 'EADDRNOTAVAIL' && e.code !== 'EAFNOSUPPORT');
    });
    s.bind({ address, port: 0, exclusive: true }, () => {
      s.close();
      resolve(true);
    });
  });
}
