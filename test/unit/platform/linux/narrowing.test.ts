/**
 * An untrusted project file's paths and sockets against the compiled policy
 * (src/platform/linux/narrowing.ts): each way a path rule could widen is
 * refused, naming the file and the key; the narrowing uses load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPolicy, type CliRules, type ScanFound } from '../../../../src/policy/policy.js';
import { parseSettings, type Settings } from '../../../../src/policy/settings.js';
import { parseProjectFile } from '../../../../src/policy/project.js';
import { resolvePath } from '../../../../src/policy/paths.js';
import { refuseRuleWidening } from '../../../../src/platform/linux/narrowing.js';
import { CordonError } from '../../../../src/errors.js';
import { tempDir } from '../../../helpers/tmp.js';

const noCli: CliRules = { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] };
const hints = { userSettings: '/u/settings.json' };
const none: ScanFound = { repos: [], submoduleGitDirs: [], matches: [] };

function world() {
  // Not under /tmp: a no-delete path there is refused (it lies in the private /tmp).
  const root = realpathSync(tempDir('/var/tmp/cordon-narrow-'));
  const home = join(root, 'home');
  const proj = join(root, 'proj');
  for (const d of [join(home, '.ssh'), join(proj, 'src'), join(proj, 'secret', 'pub'), join(proj, '.git', 'objects'), join(root, 'outside')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(home, '.ssh', 'id_rsa'), 'KEY');
  return { root, home, proj };
}

/** Builds the policy with `project` as the untrusted project file of `dir` (default: the working directory), then judges it. */
function judge(w: { home: string; proj: string }, project: Record<string, unknown>, opts: { others?: Settings[]; cli?: CliRules; scan?: ScanFound; cwd?: string; dir?: string } = {}): void {
  const dir = opts.dir ?? opts.cwd ?? w.proj;
  const parsed = parseProjectFile({ path: join(dir, '.cordon', 'settings.json'), bytes: Buffer.from(JSON.stringify(project)), sha256: '' });
  const others = opts.others ?? [];
  const policy = buildPolicy({ cwd: opts.cwd ?? w.proj, home: w.home, settings: [...others, parsed.settings], cli: opts.cli ?? noCli, scan: () => opts.scan ?? none });
  refuseRuleWidening({ policy, untrusted: [parsed.settings], others, resolve: (abs) => resolvePath(abs).path, hints });
}

function refused(fn: () => void, file: string, key: string, why: RegExp): void {
  let e: unknown;
  try { fn(); } catch (x) { e = x; }
  assert.ok(e instanceof CordonError, `expected a refusal of ${key}, got ${String(e)}`);
  assert.equal(e.code, 'CORDON_ERR_PROJECT_WIDENS', e.message);
  assert.ok(e.message.startsWith(`${file}: ${key}`) && e.message.includes(' = '), e.message);
  assert.match(e.message, why);
}

test('allowWrite: a path outside what is writable is refused; one inside the working directory narrows', () => {
  const w = world();
  const file = join(w.proj, '.cordon', 'settings.json');
  refused(() => judge(w, { filesystem: { allowWrite: [join(w.root, 'outside')] } }), file, 'filesystem.allowWrite[0]', /is read-only without it/);
  refused(() => judge(w, { filesystem: { allowWrite: ['~'] } }), file, 'filesystem.allowWrite[0]', /is read-only without it/);
  refused(() => judge(w, { filesystem: { allowWrite: ['../*'] } }), file, 'filesystem.allowWrite[0] (', /is read-only without it/);
  judge(w, { filesystem: { allowWrite: ['src'] } });
  judge(w, { filesystem: { allowWrite: ['.'] } });
  judge(w, { filesystem: { allowWrite: [] } });
  // A user's allowWrite is the baseline too.
  judge(w, { filesystem: { allowWrite: [join(w.root, 'outside')] } }, { others: [parseSettings(JSON.stringify({ filesystem: { allowWrite: ['.', join(w.root, 'outside')] } }), '/u/settings.json')] });
});

test('allowWrite in $HOME: the working directory\'s default grant does not cover it (cordon would refuse $HOME writable by default)', () => {
  const w = world();
  mkdirSync(join(w.home, 'x'));
  refused(() => judge(w, { filesystem: { allowWrite: ['.'] } }, { cwd: w.home }), join(w.home, '.cordon', 'settings.json'), 'filesystem.allowWrite[0]', /read-only without it/);
  // A project in a subdirectory of $HOME is not $HOME.
  judge(w, { filesystem: { allowWrite: ['.'] } }, { cwd: join(w.home, 'x') });
});

test('allowWrite where the user said no-delete, allowWriteNoDelete where nothing is writable: refused', () => {
  const w = world();
  const file = join(w.proj, '.cordon', 'settings.json');
  const noDelete = { ...noCli, allowWriteNoDelete: ['.'] };
  refused(() => judge(w, { filesystem: { allowWrite: ['src'] } }, { cli: noDelete }), file, 'filesystem.allowWrite[0]', /is read-write-no-delete without it/);
  judge(w, { filesystem: { allowWriteNoDelete: ['src'] } }, { cli: noDelete });
  refused(() => judge(w, { filesystem: { allowWriteNoDelete: [join(w.root, 'outside')] } }), file, 'filesystem.allowWriteNoDelete[0]', /is read-only without it/);
  judge(w, { filesystem: { allowWriteNoDelete: ['src'] } });
});

test('a write rule inside a git directory that no-delete keeps read-only is refused (it would lift that protection)', () => {
  const w = world();
  const noDelete = { ...noCli, allowWriteNoDelete: ['.'] };
  refused(() => judge(w, { filesystem: { allowWriteNoDelete: ['.git/objects'] } }, { cli: noDelete, scan: { ...none, repos: [w.proj] } }), join(w.proj, '.cordon', 'settings.json'), 'filesystem.allowWriteNoDelete[0]', /lies in a read-write-no-delete path/);
});

test('allowRead: re-opening what another source hides is refused, re-opening inside the project\'s own deny narrows', () => {
  const w = world();
  const file = join(w.proj, '.cordon', 'settings.json');
  refused(() => judge(w, { filesystem: { allowRead: ['~/.ssh'] } }), file, 'filesystem.allowRead[0]', /re-open .*\.ssh, which .*\.ssh \(default: credential store\) hides/);
  refused(() => judge(w, { filesystem: { allowRead: ['~/.ssh/id_rsa'] } }), file, 'filesystem.allowRead[0]', /re-open/);
  // Through a ** glob: the matches the scan found are judged.
  refused(() => judge(w, { filesystem: { allowRead: ['~/.ssh/**'] } }, { scan: { ...none, matches: [join(w.home, '.ssh', 'id_rsa')] } }), file, 'filesystem.allowRead[0] (', /re-open/);
  const userDeny = [parseSettings(JSON.stringify({ filesystem: { denyRead: [join(w.proj, 'secret')] } }), '/u/settings.json')];
  refused(() => judge(w, { filesystem: { allowRead: ['secret/pub'] } }, { others: userDeny }), file, 'filesystem.allowRead[0]', /re-open/);
  judge(w, { filesystem: { denyRead: ['secret'], allowRead: ['secret/pub'] } });
});

test('a rule that would show a host directory under /tmp inside the sandbox is refused, even a read-only one', () => {
  const w = world();
  const file = join(w.proj, '.cordon', 'settings.json');
  const inTmp = realpathSync(tempDir('/tmp/cordon-narrow-tmp-'));
  refused(() => judge(w, { filesystem: { denyWrite: [inTmp] } }), file, 'filesystem.denyWrite[0]', /show the host's \/tmp\/cordon-narrow-tmp-\w+ inside the sandbox, whose \/tmp is private/);
  refused(() => judge(w, { filesystem: { allowRead: ['/tmp'] } }), file, 'filesystem.allowRead[0]', /show the host's \/tmp inside/);
  refused(() => judge(w, { filesystem: { allowWrite: ['/tmp'] } }), file, 'filesystem.allowWrite[0]', /read-only without it/);
  // Already shown by the user's own rule: nothing new.
  mkdirSync(join(inTmp, 'x'));
  judge(w, { filesystem: { denyWrite: [join(inTmp, 'x')] } }, { others: [parseSettings(JSON.stringify({ filesystem: { allowRead: [inTmp] } }), '/u/settings.json')] });
  // A denyRead under /tmp shows nothing.
  judge(w, { filesystem: { denyRead: [inTmp] } });
});

test('allowUnixSockets: a socket no other source grants is refused; one the user grants loads', async () => {
  const w = world();
  const dir = realpathSync(tempDir(join(tmpdir(), 'cs-')));
  const sock = join(dir, 's.sock');
  const server = createServer();
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    refused(() => judge(w, { network: { allowUnixSockets: [sock] } }), join(w.proj, '.cordon', 'settings.json'), 'network.allowUnixSockets[0]', new RegExp(`no other source grants the socket ${sock}`));
    judge(w, { network: { allowUnixSockets: [sock] } }, { others: [parseSettings(JSON.stringify({ network: { allowUnixSockets: [sock] } }), '/u/settings.json')] });
    // A path that is not a socket grants nothing, so it widens nothing (a warning says so).
    judge(w, { network: { allowUnixSockets: [join(dir, 'nothing')] } });
  } finally {
    server.close();
  }
});

test('narrowing rules load: denies, read-only paths, a smaller writable set', () => {
  const w = world();
  judge(w, { filesystem: { denyRead: ['secret', '~/notes'], denyWrite: ['src'], allowWrite: ['src'] } });
});
