/**
 * The built-in policy: what cordon does with no settings at all.
 * Read everywhere except credential stores; write only the working directory
 * and a private /tmp; no network. Settings may re-open any credential store
 * explicitly with filesystem.allowRead.
 */

/**
 * Histories in $HOME: commands typed with a secret in them, queries, pasted
 * tokens. Hidden as credential stores are; unlike them, their programs
 * rewrite them by renaming a new file over them whenever a shell, a REPL,
 * less or vim ends, so a run does not stop when the host replaces one
 * (plan.ts holds; docs/filesystem.md#held-mounts).
 */
export const HISTORIES_IN_HOME: readonly string[] = [
  '.bash_history',
  '.zsh_history',
  '.zhistory',
  '.histfile',
  '.sh_history',
  '.local/share/fish/fish_history',
  '.python_history',
  '.node_repl_history',
  '.psql_history',
  '.mysql_history',
  '.sqlite_history',
  '.rediscli_history',
  '.irb_history',
  '.lesshst',
  '.viminfo',
];

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
  // The agent CLIs' own tokens.
  '.claude/.credentials.json',
  '.codex/auth.json',
  '.gemini/oauth_creds.json',
  '.config/github-copilot',
  '.config/containers/auth.json',
  '.config/sops/age',
  '.s3cfg',
  '.boto',
  '.terraformrc',
  '.pulumi/credentials.json',
  '.mylogin.cnf',
  ...HISTORIES_IN_HOME,
];

/**
 * Host files outside $HOME that hold secrets (a root caller maps to the files'
 * owner). A glob here is expanded to what exists when the run starts.
 */
export const CREDENTIAL_STORES_SYSTEM: readonly string[] = [
  '/etc/shadow',
  '/etc/gshadow',
  '/etc/shadow-',
  '/etc/gshadow-',
  '/etc/ssh/ssh_host_rsa_key',
  '/etc/ssh/ssh_host_ecdsa_key',
  '/etc/ssh/ssh_host_ed25519_key',
  '/etc/ssh/ssh_host_dsa_key',
  // Debian's daily copies of /etc/shadow and /etc/gshadow (shadow.bak, gshadow.bak).
  '/var/backups/*shadow*',
  // Cluster credentials: admin.conf and the other kubeconfigs, the CA keys in pki/.
  '/etc/kubernetes',
  '/etc/wireguard',
  '/etc/ssl/private',
];

/** Writable by default: the working directory (the private /tmp is always there). */
export const DEFAULT_WRITABLE: readonly string[] = ['.'];
