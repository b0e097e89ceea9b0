/**
 * A real stdio MCP server under cordon, driven by the real MCP client: the
 * reference filesystem server (@modelcontextprotocol/server-filesystem) and
 * the TypeScript SDK's Client with its stdio transport, both from
 * node_modules (dev dependencies), as an MCP client's config starts it:
 * `"command": "cordon", "args": ["--", <the server's command>]`. The server
 * is granted the project and a directory outside it; cordon lets it work in
 * the project and turns its writes elsewhere (and to the project's
 * .git/config) into tool errors, reported when it ends as fs.refused
 * violations (--violations-json). Then the `npx` form: the first start
 * fetches the server from a registry on the loopback, the second starts it
 * with no network at all, from the project's package cache.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CLI, ROOT, own, runners, type World } from '../../helpers/cordon.js';
import { startRegistry, type Registry } from './registry.js';

const SERVER_PACKAGE = '@modelcontextprotocol/server-filesystem';
const SERVER = join(ROOT, 'node_modules', SERVER_PACKAGE, 'dist', 'index.js');

interface Connected { readonly client: Client; stderr(): string; close(): Promise<void> }

/** The MCP client's config, with cordon in front: command `cordon`, args `[...cordonArgs, '--', ...server]`. */
async function connect(w: World, opts: { asUser?: string }, cordonArgs: readonly string[], server: readonly string[], env: Record<string, string> = {}): Promise<Connected> {
  const all = { ...(w.env as Record<string, string>), npm_config_update_notifier: 'false', ...env };
  const argv = [...cordonArgs, '--', ...server];
  // As the unprivileged user: runuser starts cordon with exactly this environment (as the client would).
  const transport = opts.asUser
    ? new StdioClientTransport({ command: 'runuser', args: ['-u', opts.asUser, '--', 'env', ...Object.entries(all).map(([k, v]) => `${k}=${v}`), CLI, ...argv], cwd: w.proj, env: all, stderr: 'pipe' })
    : new StdioClientTransport({ command: CLI, args: argv, cwd: w.proj, env: all, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  const client = new Client({ name: 'cordon-test', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (e) {
    await transport.close().catch(() => {});
    throw new Error(`the server did not start: ${(e as Error).message}\nstderr:\n${stderr}`);
  }
  return { client, stderr: () => stderr, close: () => client.close() };
}

interface ToolResult { isError?: boolean; content: { type: string; text?: string }[] }

async function call(c: Connected, name: string, args: Record<string, unknown>): Promise<ToolResult> {
  return (await c.client.callTool({ name, arguments: args })) as ToolResult;
}
const text = (r: ToolResult) => r.content.map((x) => x.text ?? '').join('\n');

for (const run of runners()) {
  describe(`the reference MCP filesystem server under cordon, as ${run.who}`, () => {
    let w: World;
    let mcp: Connected;
    let violations: string;
    before(async () => {
      w = run.world();
      own(w, run.opts);
      violations = join(w.root, 'violations.json');
      // The server is granted the project and a directory outside it; cordon's defaults decide what it may write.
      // The server comes from this checkout's node_modules: readable inside also from a clone under /tmp (the sandbox's /tmp is private).
      mcp = await connect(w, run.opts, ['--violations-json', violations, '--allow-read', join(ROOT, 'node_modules')], [process.execPath, SERVER, w.proj, w.outside]);
    });
    after(async () => { await mcp?.close(); });

    it('lists, reads and writes in the project (the working directory, writable by default)', async () => {
      const tools = (await mcp.client.listTools()).tools.map((t) => t.name);
      for (const t of ['list_directory', 'read_text_file', 'write_file']) assert.ok(tools.includes(t), tools.join(' '));
      const listing = await call(mcp, 'list_directory', { path: w.proj });
      assert.ok(!listing.isError && /README\.md/.test(text(listing)), text(listing));
      const read = await call(mcp, 'read_text_file', { path: join(w.proj, 'README.md') });
      assert.equal(text(read), 'readme');
      const wrote = await call(mcp, 'write_file', { path: join(w.proj, 'notes.md'), content: 'written by the server' });
      assert.ok(!wrote.isError, text(wrote));
      assert.equal(readFileSync(join(w.proj, 'notes.md'), 'utf8'), 'written by the server');
      // Reads outside the project work too (the default policy reads everywhere but credential stores).
      assert.equal(text(await call(mcp, 'read_text_file', { path: join(w.outside, 'file.txt') })), 'outside');
    });

    it('a write to a granted directory that cordon keeps read-only comes back as a tool error; nothing is written', async () => {
      const created = await call(mcp, 'write_file', { path: join(w.outside, 'new.txt'), content: 'x' });
      assert.equal(created.isError, true, text(created));
      assert.match(text(created), /EROFS|read-only/i);
      assert.ok(!existsSync(join(w.outside, 'new.txt')));
      const replaced = await call(mcp, 'write_file', { path: join(w.outside, 'file.txt'), content: 'replaced' });
      assert.equal(replaced.isError, true, text(replaced));
      const dir = await call(mcp, 'create_directory', { path: join(w.outside, 'made') });
      assert.equal(dir.isError, true, text(dir));
      assert.equal(readFileSync(join(w.outside, 'file.txt'), 'utf8'), 'outside');
      assert.ok(!existsSync(join(w.outside, 'made')));
    });

    it('a write to a path cordon protects inside the project (.git/config, .git/hooks) comes back as a tool error', async () => {
      const config = join(w.proj, '.git', 'config');
      const before = readFileSync(config, 'utf8');
      const r = await call(mcp, 'write_file', { path: config, content: '[core]\n\tfsmonitor = touch /tmp/pwned\n' });
      assert.equal(r.isError, true, text(r));
      const hook = await call(mcp, 'write_file', { path: join(w.proj, '.git', 'hooks', 'pre-commit'), content: '#!/bin/sh\necho pwned\n' });
      assert.equal(hook.isError, true, text(hook));
      // Moving the file aside and back is no way round it either.
      const moved = await call(mcp, 'move_file', { source: config, destination: join(w.proj, 'config.bak') });
      assert.equal(moved.isError, true, text(moved));
      assert.equal(readFileSync(config, 'utf8'), before);
      assert.ok(!existsSync(join(w.proj, '.git', 'hooks', 'pre-commit')));
    });

    it('when the server ends, the refused writes are reported as fs.refused violations, with the rule and the setting that would allow them', async () => {
      await mcp.close();
      // The client ends the server (stdin closed, then signals); cordon writes the file when its run ends.
      let list: { type: string; op: string; path: string; rule: string; fix: string | null }[] = [];
      for (let i = 0; i < 100 && list.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        try { list = JSON.parse(readFileSync(violations, 'utf8')) as typeof list; } catch { /* not written yet */ }
      }
      const refused = (path: string) => list.filter((v) => v.type === 'fs.refused' && v.path === path);
      const created = refused(join(w.outside, 'new.txt'));
      assert.ok(created.length > 0, JSON.stringify(list, null, 1));
      assert.match(created[0]!.rule, /not writable/);
      assert.match(created[0]!.fix ?? '', /filesystem\.allowWrite/);
      assert.ok(refused(join(w.outside, 'made')).length > 0, 'create_directory');
      const config = refused(join(w.proj, '.git', 'config'));
      assert.ok(config.length > 0, JSON.stringify(list, null, 1));
      assert.match(config[0]!.rule, /protected/);
      assert.equal(config[0]!.fix, null);
    });
  });

  describe(`the same server through npx, as ${run.who}: fetched once, then started from the project's package cache with no network`, () => {
    let w: World;
    let registry: Registry;
    before(async () => {
      w = run.world();
      mkdirSync(join(w.home, '.npm'), { recursive: true });
      writeFileSync(join(w.home, '.npm', 'user-cache'), 'the user\'s own npm cache');
      own(w, run.opts);
      registry = await startRegistry(ROOT, SERVER_PACKAGE);
    });
    after(async () => { await registry?.close(); });

    const npx = ['npx', '-y', '--registry', '', SERVER_PACKAGE];
    const server = () => { const a = [...npx]; a[3] = registry.url; return [...a, w.proj]; };

    it('the first start downloads (from the loopback registry), the second starts offline from the cache; the user\'s ~/.npm is untouched', async () => {
      // The first start needs the registry: the host's loopback, which only an unfiltered network reaches (npm never proxies 127.0.0.1).
      let t = performance.now();
      const first = await connect(w, run.opts, ['--network', 'dangerously-unfiltered'], server());
      const firstMs = performance.now() - t;
      assert.match(text(await call(first, 'list_allowed_directories', {})), new RegExp(w.proj));
      await first.close();
      assert.ok(registry.requests.some((r) => r.endsWith('.tgz')), 'the first start fetched tarballs');
      await registry.close();
      const fetched = registry.requests.length;
      // No network at all (the default), the registry gone: npm runs from the project's cache.
      t = performance.now();
      const second = await connect(w, run.opts, [], server());
      const secondMs = performance.now() - t;
      try {
        assert.equal(text(await call(second, 'read_text_file', { path: join(w.proj, 'README.md') })), 'readme');
      } finally {
        await second.close();
      }
      assert.equal(registry.requests.length, fetched);
      assert.deepEqual(readFileSync(join(w.home, '.npm', 'user-cache'), 'utf8'), 'the user\'s own npm cache');
      assert.ok(!existsSync(join(w.home, '.npm', '_cacache')), 'nothing was written to the user\'s ~/.npm');
      console.log(`# npx start of ${SERVER_PACKAGE} under cordon (${run.who}): first ${Math.round(firstMs)} ms (download), second ${Math.round(secondMs)} ms (cache, offline)`);
    });

    it('control: with filesystem.packageCache false the offline start fails (nothing cached for this run)', async () => {
      const settings = join(w.root, 'no-cache.json');
      writeFileSync(settings, JSON.stringify({ filesystem: { packageCache: false } }));
      own(w, run.opts);
      await assert.rejects(connect(w, run.opts, ['--settings', settings], server()), /ENOTCACHED|did not start/);
    });
  });
}
