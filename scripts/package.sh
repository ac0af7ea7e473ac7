#!/usr/bin/env bash
# The published crates package and build from their own files:
# `cargo package --workspace` (with the verification build of every member),
# then a look at what the two published packages ship: their licenses and
# readme, and no test-only files (fuzz suite, expansion snapshots).
#
#   bash scripts/package.sh
#
# Needs only the toolchain (and the crates.io index, for the verification
# builds' dependencies). Run it on a clean checkout: cargo refuses to package
# uncommitted changes.
set -euo pipefail
cd "$(dirname "$0")/.."

# The verification builds take the workspace's packages from a local
# overlay of crates.io, which cargo unpacks under
# $CARGO_HOME/registry/src by name and version, and it reuses a directory
# it finds there without comparing it with the .crate: a copy of the same
# version unpacked by an earlier run (another checkout, an older commit)
# would stand in for this one's. Remove the workspace's copies first.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys
for p in json.load(sys.stdin)["packages"]:
    print(p["name"] + "-" + p["version"])' |
  while read -r unpacked; do
    rm -rf "$cargo_home"/registry/src/*/"$unpacked"
  done

cargo package --workspace

fail=0
for pkg in ffi-callback ffi-callback-macros; do
  list=$(cargo package --list -p "$pkg")
  for need in LICENSE-MIT LICENSE-APACHE README.md Cargo.toml; do
    grep -qx "$need" <<<"$list" || { echo "package: FAIL: $pkg does not ship $need" >&2; fail=1; }
  done
  if grep -E '^(src/fuzz/|snapshots/|tests/)' <<<"$list"; then
    echo "package: FAIL: $pkg ships the test-only files above" >&2
    fail=1
  fi
  echo "package: $pkg ships $(wc -l <<<"$list") files"
done
exit "$fail"
