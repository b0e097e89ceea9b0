/**
 * Which of bubblewrap's set-up failures are a lost race with the host's
 * mount table (launch.ts starts those again), and the host path it names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lostMountRace } from '../../../../src/platform/linux/sandbox-process.js';

test('a submount that went away between the mount table and its remount (EINVAL, ENOENT) is a lost race, named as the host\'s path', () => {
  assert.equal(lostMountRace(`bwrap: Can't bind mount /oldroot/ on /newroot/: Unable to apply mount flags: remount "/newroot/run/netns/q1": Invalid argument\n`), '/run/netns/q1');
  assert.equal(lostMountRace(`bwrap: Can't bind mount /oldroot/var on /newroot/var: Unable to apply mount flags: remount "/newroot/var/lib/docker/overlay2/x/merged": No such file or directory\n`), '/var/lib/docker/overlay2/x/merged');
});

test('every other set-up failure is not: another errno, another step, another message', () => {
  for (const m of [
    `bwrap: Can't bind mount /oldroot/ on /newroot/: Unable to apply mount flags: remount "/newroot/mnt/smb": No such device\n`,
    `bwrap: Can't bind mount /oldroot/ on /newroot/: Unable to remount destination "/newroot/" with correct flags: Invalid argument\n`,
    `bwrap: Can't mount proc on /newroot/proc: Operation not permitted\n`,
    `bwrap: Creating new namespace failed: Operation not permitted\n`,
    '',
  ]) assert.equal(lostMountRace(m), undefined, m);
});
