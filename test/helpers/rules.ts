/** Plan inputs for unit tests of what reads a policy's rules (check.ts, violations.ts): facts, fds and a rule maker. */
import type { FsRule } from '../../src/policy/policy.js';

export const facts = { helper: '/opt/cordon/helper', bwrap: '/usr/bin/bwrap', helperMounts: false, landlockAbi: 7 };
export const fds = { info: 4, seccomp: 5, ready: 6, block: 7 };
export const rule = (path: string, access: FsRule['access'], source: string, kind: FsRule['kind'] = 'dir', weak?: boolean): FsRule => ({ path, kind, access, source, ...(weak ? { weak } : {}) });
