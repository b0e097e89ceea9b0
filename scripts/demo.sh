#!/usr/bin/env bash
# A sandboxed demo: installs what is missing, builds, then shows the walls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cordon=("$PWD/bin/cordon.cjs")
demo=$(mktemp -d /var/tmp/cordon-demo-XXXXXX)
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo/home/.ssh" "$demo/project"
echo 'PRIVATE KEY' > "$demo/home/.ssh/id_ed25519"
git -C "$demo/project" init -q
cd "$demo/project"
export HOME="$demo/home"
echo "== cordon -- sh -c '...'   (in $demo/project, HOME=$HOME)"
set +e
"${cordon[@]}" -- /bin/sh -c '
  echo "inside the project:"; echo hello > notes.txt && echo "  wrote notes.txt: OK"
  echo "outside the project:"; echo pwned > "$HOME/pwned.txt" || echo "  write to \$HOME refused"
  echo "credential store:"; cat "$HOME/.ssh/id_ed25519" 2>/dev/null || echo "  ~/.ssh is hidden"
  echo "git hook:"; echo evil > .git/hooks/post-checkout 2>/dev/null || echo "  .git/hooks refused"
'
status=$?
set -e
echo "== after the run, on the host:"
echo "  project/notes.txt: $(cat notes.txt)"
if [ -e "$HOME/pwned.txt" ]; then echo "  FAIL: \$HOME/pwned.txt exists"; exit 1; else echo "  \$HOME/pwned.txt does not exist"; fi
if [ -e .git/hooks/post-checkout ]; then echo "  FAIL: hook planted"; exit 1; fi
echo "cordon exited $status"
