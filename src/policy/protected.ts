import { isWithin } from './paths.js';

/**
 * Files that would run on the host later. They are never writable, even inside
 * a writable path, whether they exist or not: writing one is how a confined
 * process plants code that the user's own shell, editor, agent or git runs
 * after the sandbox is gone (threat model, wall 3). The whole list is here, in
 * one place, and the README reproduces it.
 */

/**
 * Shell startup files. They run only from $HOME, so a missing one gets a
 * placeholder only there; elsewhere an existing one is still made read-only.
 */
export const SHELL_STARTUP: readonly { name: string; why: string }[] = [
  ...['.bashrc', '.bash_profile', '.bash_login', '.bash_logout', '.profile', '.zshrc', '.zshenv', '.zprofile', '.zlogin', '.zlogout', '.kshrc', '.mkshrc', '.cshrc', '.tcshrc', '.login', '.logout', '.inputrc'].map((name) => ({ name, why: 'shell startup file' })),
  { name: '.bash_aliases', why: "shell startup file (Debian's and Ubuntu's .bashrc source it)" },
];

/**
 * Names protected at the root of every writable path, existing or not. At the
 * root of a nested repository inside one, an existing one is read-only and a
 * missing one is looked for after the run and moved aside if the command made
 * it (a placeholder per name per repository would cost a mount each on every
 * run): createdNames in platform/linux/after-run.ts.
 */
export const PROTECTED_NAMES: readonly { name: string; why: string }[] = [
  { name: '.envrc', why: 'direnv runs it on cd' },
  { name: '.gitconfig', why: 'git configuration' },
  { name: '.gitmodules', why: 'submodule definitions (URLs and update commands)' },
  { name: '.vscode', why: 'editor tasks and settings run on open' },
  { name: '.idea', why: 'IDE run configurations' },
  { name: '.zed', why: 'editor tasks and settings' },
  { name: '.devcontainer', why: 'container lifecycle commands run by the editor' },
  { name: '.claude', why: 'agent settings, hooks and commands' },
  { name: '.cursor', why: 'agent settings and rules' },
  { name: '.windsurf', why: 'agent settings and rules' },
  { name: '.gemini', why: 'agent settings' },
  { name: '.codex', why: 'agent settings' },
  { name: '.mcp.json', why: 'MCP server definitions (commands run by the agent host)' },
  { name: '.cursorrules', why: 'agent instructions' },
  { name: '.devcontainer.json', why: 'container lifecycle commands run by the editor' },
  // Instructions that agents load on their own when they start in the
  // directory: whoever writes them steers the next agent session, which may
  // run unconfined.
  { name: 'CLAUDE.md', why: 'agent instructions (Claude Code)' },
  { name: 'CLAUDE.local.md', why: 'agent instructions (Claude Code)' },
  { name: 'AGENTS.md', why: 'agent instructions (Codex, Cursor, opencode, Amp, Zed and others)' },
  { name: 'AGENTS.override.md', why: 'agent instructions (Codex)' },
  { name: 'GEMINI.md', why: 'agent instructions (Gemini CLI)' },
  { name: '.windsurfrules', why: 'agent instructions (Windsurf)' },
  { name: '.clinerules', why: 'agent instructions (Cline)' },
  { name: '.aider.conf.yml', why: 'agent settings (aider: test and lint commands it runs)' },
  { name: 'opencode.json', why: 'agent settings (opencode: MCP server commands)' },
  { name: 'opencode.jsonc', why: 'agent settings (opencode: MCP server commands)' },
  { name: '.opencode', why: 'agent settings, commands and plugins (opencode)' },
  { name: '.continue', why: 'agent settings and MCP server commands (Continue)' },
  { name: '.roo', why: 'agent rules and MCP server commands (Roo Code)' },
  { name: '.kiro', why: 'agent hooks, steering and MCP server commands (Kiro)' },
  { name: '.amazonq', why: 'agent rules and MCP server commands (Amazon Q Developer)' },
  { name: '.cordon', why: "cordon's own project settings" },
];

/**
 * Agent instructions and settings guarded by the step after the run instead
 * of a placeholder: an existing one is read-only (at the root of a writable
 * path, of a repository in one, and in $HOME when it is writable); a missing
 * one the command creates there is moved aside when the run ends, before the
 * agent that ran the command takes its next step (one lstat each, where a
 * placeholder would cost a mount and a directory on every run). Agents read
 * these when a session starts. A name of two components is guarded at
 * writable roots and in $HOME, not at nested repositories' roots.
 */
export const AFTER_RUN_NAMES: readonly { name: string; why: string }[] = [
  { name: 'AGENT.md', why: 'agent instructions (Amp)' },
  { name: 'QWEN.md', why: 'agent instructions (Qwen Code)' },
  { name: 'CRUSH.md', why: 'agent instructions (Crush)' },
  { name: 'WARP.md', why: 'agent instructions (Warp)' },
  { name: '.rules', why: 'agent instructions (Zed)' },
  { name: '.goosehints', why: 'agent instructions (Goose)' },
  { name: '.roomodes', why: 'agent modes and their instructions (Roo Code)' },
  { name: '.junie', why: 'agent guidelines (JetBrains Junie)' },
  { name: '.qwen', why: 'agent settings and MCP server commands (Qwen Code)' },
  { name: '.kilocode', why: 'agent rules and MCP server commands (Kilo Code)' },
  { name: '.crush.json', why: 'agent settings and MCP server commands (Crush)' },
  { name: '.github/copilot-instructions.md', why: 'agent instructions (GitHub Copilot)' },
];

/**
 * Whether a grant of `grant` leaves the $HOME entry `entry` read-only: any
 * grant above or beneath it; for a `broad` one only a grant above it, or one
 * a glob matched (`~/.cache/*` names nothing on purpose).
 */
export function grantLeavesReadOnly(entry: string, broad: boolean | undefined, grant: string, globbed = false): boolean {
  if (!broad) return isWithin(entry, grant) || isWithin(grant, entry);
  return ((grant !== entry || globbed) && isWithin(entry, grant)) || (globbed && isWithin(grant, entry));
}

/** Extra paths in $HOME protected when $HOME lies inside a writable path. */
export const PROTECTED_IN_HOME: readonly { name: string; why: string; broad?: true }[] = [
  { name: '.config/cordon', why: "cordon's own settings" },
  { name: '.config/git', why: 'git configuration' },
  { name: '.config/fish', why: 'shell startup files' },
  { name: '.config/autostart', why: 'desktop autostart entries' },
  { name: '.config/systemd', why: 'user services' },
  { name: '.local/bin', why: 'on PATH of later shells' },
  { name: 'bin', why: 'on PATH of later shells' },
  { name: '.ssh', why: 'authorized_keys and ssh config (ProxyCommand)' },
  { name: '.claude.json', why: 'agent settings (MCP servers)' },
  { name: '.srt-settings.json', why: "srt's settings, which cordon loads when it has none of its own" },
  // Python puts the user site-packages (~/.local/lib/pythonX.Y/site-packages)
  // on sys.path of every later Python process, ahead of the system's
  // packages: not only its *.pth files and usercustomize/sitecustomize run
  // at start-up, any module there shadows an installed one. So the whole
  // directory, for every Python version, present or future.
  { name: '.local/lib', why: 'Python user site-packages (*.pth, usercustomize.py and every module there run in later Python processes)' },
  { name: '.aws/config', why: 'AWS configuration (credential_process runs a command)' },
  { name: '.aws/credentials', why: 'AWS credentials (botocore reads credential_process here too)' },
  { name: '.npmrc', why: 'npm configuration (script-shell, node-options and git run programs)' },
  { name: '.cargo/config.toml', why: 'cargo configuration (rustc-wrapper, runners and aliases run programs)' },
  { name: '.cargo/config', why: 'cargo configuration (the older name of config.toml)' },
  // On PATH, or sourced, by what rustup, Go and nvm write into shell startup files ($PATH adds the rest).
  { name: '.cargo/bin', why: "on PATH of later shells (rustup's)" },
  { name: '.cargo/env', why: "sourced by shell startup files (rustup's)" },
  { name: 'go/bin', why: "on PATH of later shells (Go's)" },
  { name: '.nvm/nvm.sh', why: 'sourced by shell startup files (nvm)' },
  // A PATH entry in $HOME is often a shim or a link, and the program it runs lives beside it:
  // the version managers' whole trees (their scripts, shims, and the interpreters and tools they run).
  // These and the caches below are `broad`: read-only under a grant above them (--allow-write ~);
  // one that names them or a path in them is the user's choice (installing a toolchain, a store).
  { name: '.nvm', why: 'nvm: nvm.sh (sourced by shell startup files) and the Node.js versions it puts on PATH', broad: true },
  { name: '.pyenv', why: 'pyenv: its scripts (run by shell startup files), shims and the Pythons they run', broad: true },
  { name: '.rbenv', why: 'rbenv: its shims and the Rubies they run', broad: true },
  { name: '.nodenv', why: 'nodenv: its shims and the Node.js versions they run', broad: true },
  { name: '.goenv', why: 'goenv: its shims and the Go versions they run', broad: true },
  { name: '.asdf', why: 'asdf: asdf.sh (sourced by shell startup files), its shims and installs', broad: true },
  { name: '.local/share/mise', why: 'mise: its shims and the tools they run', broad: true },
  { name: '.rustup', why: 'rustup: the toolchains ~/.cargo/bin runs', broad: true },
  { name: '.volta', why: 'Volta: its shims and the tools they run', broad: true },
  { name: '.sdkman', why: 'SDKMAN!: its init script (sourced by shell startup files) and the JDKs and tools on PATH', broad: true },
  { name: '.bun', why: 'Bun: its binary and global packages (on PATH)', broad: true },
  { name: '.deno', why: 'Deno: its binary and installed scripts (on PATH)', broad: true },
  { name: '.local/share/pnpm', why: 'pnpm: its global packages (on PATH) and the store projects link them from', broad: true },
  { name: 'miniconda3', why: 'conda: conda.sh (sourced by shell startup files) and the environments it activates', broad: true },
  { name: 'miniforge3', why: 'conda: conda.sh (sourced by shell startup files) and the environments it activates', broad: true },
  { name: 'anaconda3', why: 'conda: conda.sh (sourced by shell startup files) and the environments it activates', broad: true },
  // Caches whose code later tools run as it is: each has a place of cordon's inside (package-cache.ts), or is needed by no build.
  { name: '.npm', why: "npm's cache (npx runs the packages in it again without installing them)", broad: true },
  { name: '.cache/pip', why: "pip's cache (wheels a later install unpacks without checking them)", broad: true },
  { name: '.cache/uv', why: "uv's cache (wheels a later install links in)", broad: true },
  { name: '.cache/go-build', why: "Go's build cache (compiled packages later builds link in)", broad: true },
  { name: 'go/pkg/mod', why: "Go's module cache (sources later builds compile)", broad: true },
  { name: '.cache/pre-commit', why: 'pre-commit: the hook repositories it runs on every commit', broad: true },
  { name: '.cache/node/corepack', why: 'corepack: the package managers (pnpm, yarn) it runs', broad: true },
  // What shell startup files source or load from $HOME (fzf's, oh-my-zsh's and plugin managers' lines in .bashrc/.zshrc).
  { name: '.fzf.bash', why: "sourced by shell startup files (fzf's)" },
  { name: '.fzf.zsh', why: "sourced by shell startup files (fzf's)" },
  { name: '.p10k.zsh', why: 'sourced by shell startup files (powerlevel10k)' },
  { name: '.fzf', why: 'fzf: its shell scripts (sourced by .fzf.bash) and its binary (on PATH)', broad: true },
  { name: '.oh-my-zsh', why: 'oh-my-zsh: sourced by .zshrc, with its plugins and custom scripts', broad: true },
  { name: '.zinit', why: 'zinit: the plugins .zshrc loads', broad: true },
  { name: '.local/share/zinit', why: 'zinit: the plugins .zshrc loads', broad: true },
  { name: '.antigen', why: 'antigen: the plugins .zshrc loads', broad: true },
  { name: '.zplug', why: 'zplug: the plugins .zshrc loads', broad: true },
  { name: '.bash_it', why: 'bash-it: sourced by .bashrc, with its plugins', broad: true },
  { name: '.tmux/plugins', why: 'tmux plugins (run by .tmux.conf)', broad: true },
  { name: '.ipython', why: 'IPython: its configuration (ipython_config.py) and startup scripts run in every session', broad: true },
  // Editors, terminal multiplexers and sessions run their startup files.
  { name: '.vimrc', why: 'editor startup file (vim runs commands in it)' },
  { name: '.gvimrc', why: 'editor startup file (vim runs commands in it)' },
  { name: '.exrc', why: 'editor startup file (vi runs commands in it)' },
  { name: '.vim', why: 'editor plugins and startup files (vim)' },
  { name: '.config/nvim', why: 'editor startup files and plugins (Neovim)' },
  { name: '.emacs', why: 'editor startup file (Emacs Lisp)' },
  { name: '.emacs.d', why: 'editor startup files and packages (Emacs)' },
  { name: '.config/emacs', why: 'editor startup files and packages (Emacs)' },
  { name: '.tmux.conf', why: 'tmux configuration (run-shell runs commands)' },
  { name: '.config/tmux', why: 'tmux configuration (run-shell runs commands)' },
  { name: '.xprofile', why: 'graphical session startup file' },
  { name: '.xsession', why: 'graphical session startup file' },
  { name: '.xsessionrc', why: 'graphical session startup file' },
  { name: '.xinitrc', why: 'graphical session startup file' },
  { name: '.config/environment.d', why: "the user session's environment (PATH)" },
  { name: '.local/share/systemd', why: 'user services' },
  { name: '.local/share/applications', why: 'desktop entries (their Exec runs on open)' },
  { name: '.config/direnv', why: 'direnv configuration (direnvrc is sourced on every cd)' },
  { name: '.gradle/init.d', why: 'Gradle init scripts (run by every build)' },
  { name: '.gradle/init.gradle', why: 'Gradle init script (run by every build)' },
  { name: '.ipython/profile_default/startup', why: 'IPython startup scripts' },
  { name: '.psqlrc', why: 'psql startup file (\\! runs shell commands)' },
  { name: '.gdbinit', why: 'gdb startup file (shell runs commands)' },
  { name: '.config/gdb', why: 'gdb startup files (shell runs commands)' },
  { name: '.sqliterc', why: 'sqlite3 startup file (.shell runs commands)' },
  { name: '.pdbrc', why: 'pdb startup file (runs Python)' },
  { name: '.irbrc', why: 'irb startup file (runs Ruby)' },
  { name: '.lessfilter', why: 'run by less on every file it opens' },
  { name: '.bash_completion', why: 'sourced by bash-completion in every interactive shell' },
  { name: '.local/share/bash-completion', why: 'completions sourced by interactive shells' },
  { name: '.local/share/nvim', why: 'editor plugins (Neovim loads site/plugin at start)' },
  { name: '.config/Code/User', why: 'VS Code user settings and tasks (terminal profiles and tasks run programs)' },
  { name: '.config/kitty', why: 'terminal configuration (shell and startup sessions run programs)' },
  { name: '.config/alacritty', why: 'terminal configuration (the shell it starts)' },
  { name: '.config/wezterm', why: 'terminal configuration (Lua)' },
  { name: '.wezterm.lua', why: 'terminal configuration (Lua)' },
  { name: '.config/starship.toml', why: 'prompt configuration (custom modules run commands)' },
  { name: '.config/mise', why: 'tool versions and tasks (env and hooks run programs)' },
  { name: '.config/opencode', why: 'agent settings and MCP server commands (opencode)' },
  { name: '.codeium', why: 'agent settings and MCP server commands (Windsurf)' },
  { name: '.yarnrc.yml', why: 'Yarn configuration (yarnPath runs a file)' },
  { name: '.bunfig.toml', why: 'Bun configuration (preload runs scripts)' },
  { name: '.jupyter', why: 'Jupyter configuration (Python run at start)' },
  { name: '.config/user-dirs.dirs', why: 'sourced as shell by xdg-user-dir and session scripts' },
  { name: '.hgrc', why: 'Mercurial configuration (hooks run commands)' },
  { name: '.config/hg', why: 'Mercurial configuration (hooks run commands)' },
  { name: '.docker/cli-plugins', why: 'docker runs the programs here as its subcommands' },
  { name: '.config/powershell', why: 'PowerShell profiles (run at start)' },
  { name: '.vscode-server', why: 'VS Code Remote: machine settings and the extensions it runs', broad: true },
  { name: '.vscode/extensions', why: 'VS Code extensions (run by the editor)', broad: true },
  { name: '.lldbinit', why: 'lldb startup file (platform shell runs commands)' },
  { name: '.Rprofile', why: 'R startup file (runs R code)' },
  { name: '.screenrc', why: 'screen configuration (exec runs commands)' },
  { name: '.pam_environment', why: "the session's environment at login (PATH, LD_PRELOAD)" },
];

/**
 * Inside every git directory under a writable path (the repository's own,
 * submodules' under .git/modules/, nested repositories'): what makes git run
 * code or look for its configuration elsewhere. `pin` means the directory
 * itself is made a mount point so it cannot be renamed away and replaced.
 */
export const PROTECTED_IN_GIT_DIR: readonly { name: string; why: string; placeholder: boolean }[] = [
  { name: 'config', why: 'core.hooksPath, core.fsmonitor, aliases, filters, includes', placeholder: true },
  { name: 'hooks', why: 'hook scripts', placeholder: true },
  { name: 'config.worktree', why: 'per-worktree configuration', placeholder: false },
  { name: 'commondir', why: 'redirects git to another common directory', placeholder: false },
  { name: 'info/attributes', why: 'selects filter drivers', placeholder: false },
];

/** Their names, in order: what the repository scan reports of each git dir (scan.ts, gitFacts). */
export const GIT_DIR_ENTRIES: readonly string[] = PROTECTED_IN_GIT_DIR.map((i) => i.name);

/**
 * The names protected at the root of every repository (an existing one is
 * read-only there): the scan before the run reports where they are
 * (`--match-no-links`), so the policy needs no listing of each repository
 * (policy.ts, finishPolicy).
 */
export const ROOT_NAMES: readonly { name: string; why: string }[] = [...PROTECTED_NAMES, ...SHELL_STARTUP, ...AFTER_RUN_NAMES.filter((n) => !n.name.includes('/'))];
export const ROOT_NAME_LIST: readonly string[] = ROOT_NAMES.map((n) => n.name);
