// The srt settings file both srt and cordon are given: the srt-format spelling
// of cordon's built-in defaults (threat model: credential stores unreadable,
// writes only in the working directory and /tmp, no network at all).
// Paths are left as `~` and `.` on purpose: both tools resolve them, `.`
// against the command's working directory (the tree root here).
import { writeFileSync } from 'node:fs';

export const CORDON_DEFAULTS_AS_SRT = {
  network: {
    allowedDomains: [],
    deniedDomains: [],
  },
  filesystem: {
    denyRead: [
      '~/.ssh', '~/.aws', '~/.config/gh', '~/.npmrc', '~/.docker', '~/.kube', '~/.netrc',
      '~/.config/gcloud', '~/.azure', '~/.gnupg', '~/.local/share/keyrings',
    ],
    allowRead: [],
    allowWrite: ['.', '/tmp'],
    denyWrite: [],
  },
};

export function writeSrtSettings(path) {
  writeFileSync(path, JSON.stringify(CORDON_DEFAULTS_AS_SRT, null, 2) + '\n');
  return path;
}
