/**
 * A package registry on the loopback, made from this checkout's
 * node_modules: every package in the lockfile's tree below a root package,
 * packed (tar, as npm does) from what `npm ci` installed, served with its
 * packument. `npx --registry URL PKG` fetches from it exactly as from
 * registry.npmjs.org, so the test needs no network at all.
 */
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface LockEntry { version: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> }

export interface Registry { readonly url: string; readonly packages: number; readonly requests: string[]; close(): Promise<void> }

export async function startRegistry(checkout: string, rootPackage: string): Promise<Registry> {
  const lock = (JSON.parse(readFileSync(join(checkout, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  // Node's resolution over the lockfile's tree: the nearest node_modules/<name> up from `from`.
  const resolve = (from: string, name: string): string | undefined => {
    for (let base = from; ; ) {
      const k = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (lock[k]) return k;
      if (!base) return undefined;
      const i = base.lastIndexOf('/node_modules/');
      base = i < 0 ? '' : base.slice(0, i);
    }
  };
  const closure = new Set<string>();
  const walk = (k: string) => {
    if (closure.has(k)) return;
    closure.add(k);
    const e = lock[k]!;
    const peers = Object.keys(e.peerDependencies ?? {}).filter((p) => !e.peerDependenciesMeta?.[p]?.optional);
    for (const d of [...Object.keys(e.dependencies ?? {}), ...Object.keys(e.optionalDependencies ?? {}), ...peers]) {
      const r = resolve(k, d);
      if (r) walk(r);
    }
  };
  walk(`node_modules/${rootPackage}`);
  const byName = new Map<string, string[]>();
  for (const k of closure) {
    const name = k.slice(k.lastIndexOf('node_modules/') + 'node_modules/'.length);
    byName.set(name, [...(byName.get(name) ?? []), k]);
  }
  const tarballs = new Map<string, Buffer>();
  const requests: string[] = [];
  let url = '';
  const packument = (name: string) => {
    const versions: Record<string, unknown> = {};
    let latest = '';
    for (const k of byName.get(name) ?? []) {
      const dir = join(checkout, k);
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string };
      const tgz = execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--exclude=./node_modules', '-czf', '-', '-C', dir, '.'], { maxBuffer: 64 << 20 });
      const path = `/-/${encodeURIComponent(name)}/${manifest.version}.tgz`;
      tarballs.set(path, tgz);
      versions[manifest.version] = { ...manifest, dist: { tarball: `${url}${path}`, integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`, shasum: createHash('sha1').update(tgz).digest('hex') } };
      if (k === `node_modules/${name}`) latest = manifest.version;
    }
    return { name, 'dist-tags': { latest: latest || Object.keys(versions)[0] }, versions };
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push(`${req.method} ${path}`);
    const tgz = tarballs.get(path);
    if (tgz) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': tgz.length });
      res.end(tgz);
      return;
    }
    const name = decodeURIComponent(path.slice(1));
    if (!byName.has(name)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    const body = JSON.stringify(packument(name));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    url,
    packages: closure.size,
    requests,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
