#!/usr/bin/env bash
# Installs Debian packages that are not installed yet: `scripts/apt-install.sh pkg...`.
# Runs apt-get update at most once per machine boot (a stamp in /tmp), and uses
# sudo when not root. Suites call it for what they need beyond the toolchain.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
stamp=/tmp/.ffi-callback-apt-updated
if [ ! -f "$stamp" ]; then
  $SUDO apt-get update -qq
  touch "$stamp"
fi
echo "apt: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
