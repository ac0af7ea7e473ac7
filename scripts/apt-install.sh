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
# A mirror mid-sync can fail `apt-get update` for indices that have nothing
# to do with these packages: try twice, then let the install decide with
# the lists there are (it fails, loudly, only if a package cannot be had).
if [ ! -f "$stamp" ]; then
  if $SUDO apt-get update -qq || { sleep 10 && $SUDO apt-get update -qq; }; then
    touch "$stamp"
  else
    echo "apt: apt-get update failed twice; installing from the package lists there are" >&2
  fi
fi
echo "apt: installing ${missing[*]}"
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null; then
  echo "apt: could not install ${missing[*]}" >&2
  exit 1
fi
