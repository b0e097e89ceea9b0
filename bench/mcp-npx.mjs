#!/usr/bin/env node
// npx start of an MCP server under cordon: the reference filesystem server
// (@modelcontextprotocol/server-filesystem) started as an MCP client's
// config starts it, `cordon --allow-domain registry.npmjs.org -- npx -y
// @modelcontextprotocol/server-filesystem DIR`, timed from spawn until the
// MCP SDK client's initialize handshake is done (Client.connect).
//
// Rows, each in a fresh $HOME (so cordon's caches start empty) and a fresh
// git project:
//   first   the first start: npm downloads the server and its dependencies
//           into the project's package cache.
//   second  the next start of the same project: npx finds the server in the
//           cache (npm still revalidates its metadata with the registry).
//   offline the next start with no network (cordon's default): npm is told
//           it is offline and runs from the cache.
//   off     filesystem.packageCache false: every start downloads (what every
//           start cost before the cache).
// It needs the network (registry.npmjs.org); it reports, it does not test.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { summarize } from './lib/stats.mjs';
import { formatTable, ms } from './lib/table.mjs';
import { forEachFlag, intArg } from './lib/args.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'cordon.cjs');
const WORK = process.env.CORDON_BENCH_WORK || '/var/tmp/cordon-bench';
const SERVER = '@modelcontextprotocol/server-filesystem';
const opts = { runs: 3 };
forEachFlag(process.argv.slice(2), (name, value) => {
  if (name === '--runs') opts.runs = intArg(name, value(), 1, fail);
  else fail(`unknown option ${name} (--runs N)`);
});
function fail(m) {
  process.stderr.write(`bench/mcp-npx.mjs: ${m}\n`);
  process.exit(2);
}

async function start(home, proj, cordonArgs) {
  const env = { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', npm_config_update_notifier: 'false' };
  const transport = new StdioClientTransport({ command: CLI, args: [...cordonArgs, '--', 'npx', '-y', SERVER, proj], cwd: proj, env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d; });
  const client = new Client({ name: 'cordon-bench', version: '1.0.0' });
  const t = process.hrtime.bigint();
  try {
    await client.connect(transport);
  } catch (e) {
    throw new Error(`${SERVER} did not start (${e.message}):\n${stderr}`);
  }
  const elapsed = Number(process.hrtime.bigint() - t) / 1e6;
  await client.close();
  return elapsed;
}

mkdirSync(WORK, { recursive: true });
const samples = { first: [], second: [], offline: [], off: [] };
const allow = ['--allow-domain', 'registry.npmjs.org'];
for (let i = 0; i < opts.runs; i++) {
  const dir = mkdtempSync(join(WORK, 'mcp-npx-'));
  try {
    const home = join(dir, 'home');
    const proj = join(dir, 'proj');
    mkdirSync(home);
    mkdirSync(proj);
    spawnSync('git', ['init', '-q'], { cwd: proj });
    samples.first.push(await start(home, proj, allow));
    samples.second.push(await start(home, proj, allow));
    samples.offline.push(await start(home, proj, []));
    const off = join(dir, 'off.json');
    writeFileSync(off, JSON.stringify({ filesystem: { packageCache: false } }));
    samples.off.push(await start(home, proj, [...allow, '--settings', off]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(`round ${i + 1}/${opts.runs} done\n`);
}
const rows = Object.entries(samples).map(([name, s]) => {
  const x = summarize(s);
  return [name, String(x.n), ms(x.median), ms(x.min), ms(x.max)];
});
process.stdout.write(`npx start of ${SERVER} under cordon, until the MCP handshake is done (ms)\n`);
process.stdout.write(`${formatTable(['start', 'n', 'median', 'min', 'max'], rows)}\n`);
