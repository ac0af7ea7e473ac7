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
