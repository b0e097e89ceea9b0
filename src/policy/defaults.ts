/**
 * The built-in policy: what cordon does with no settings at all.
 * Read everywhere except credential stores; write only the working directory
 * and a private /tmp; no network. Settings may re-open any credential store
 * explicitly with filesystem.allowRead.
 */

/** Credential stores, relative to $HOME, unreadable by default. */
export const CREDENTIAL_STORES_IN_HOME: readonly string[] = [
  '.ssh',
  '.aws',
  '.azure',
  '.config/gcloud',
  '.config/gh',
  '.config/hub',
  '.config/glab-cli',
  '.docker/config.json',
  '.kube',
  '.gnupg',
  '.npmrc',
  '.yarnrc',
  '.pypirc',
  '.netrc',
  '.git-credentials',
  '.config/git/credentials',
  '.cargo/credentials',
  '.cargo/credentials.toml',
  '.gem/credentials',
  '.terraform.d/credentials.tfrc.json',
  '.vault-token',
  '.pgpass',
  '.my.cnf',
  '.password-store',
  '.local/share/keyrings',
  '.config/op',
  '.config/rclone',
  '.config/doctl',
  '.oci',
  '.ibmcloud',
  '.config/helm/repositories.yaml',
  '.m2/settings-security.xml',
  '.m2/settings.xml',
  '.gradle/gradle.properties',
  '.config/Code/User/globalStorage',
  '.mozilla',
  '.config/google-chrome',
  '.config/chromium',
];

/** Host files outside $HOME that hold secrets (a root caller maps to the files' owner). */
export const CREDENTIAL_STORES_SYSTEM: readonly string[] = [
  '/etc/shadow',
  '/etc/gshadow',
  '/etc/shadow-',
  '/etc/gshadow-',
  '/etc/ssh/ssh_host_rsa_key',
  '/etc/ssh/ssh_host_ecdsa_key',
  '/etc/ssh/ssh_host_ed25519_key',
  '/etc/ssh/ssh_host_dsa_key',
];

/** Writable by default: the working directory (the private /tmp is always there). */
export const DEFAULT_WRITABLE: readonly string[] = ['.'];
