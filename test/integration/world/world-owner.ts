/**
 * A process that owns a test world and then waits to be killed: the world
 * self-tests SIGKILL it (leftovers must be swept) or SIGTERM it (its own exit
 * hooks must clean up). Prints one JSON line describing what it made.
 */
import { createWorld } from '../../world/world.js';

const w = await createWorld({ hosts: ['one', 'two'], sweep: false });
process.stdout.write(JSON.stringify({
  id: w.id,
  dir: w.dir,
  netns: [...w.hosts.values()].map((h) => h.netns),
  veths: [...w.hosts.values()].map((h) => h.veth),
  pids: w.pids(),
}) + '\n');
setInterval(() => undefined, 60_000);
