#!/usr/bin/env bash
# GLib integration tests (tests/tests/c_glib.rs, behind the `glib` feature of
# ffi-callback-tests): installs the system GLib and pkg-config if missing, then
# runs them. Fails loudly if anything is missing or no test ran.
#
#   scripts/test-glib.sh            # extra arguments go to the test binary
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/apt-install.sh libglib2.0-dev pkg-config

if ! command -v pkg-config >/dev/null; then
  echo "test-glib: pkg-config is not installed" >&2
  exit 1
fi
if ! pkg-config --exists glib-2.0; then
  echo "test-glib: pkg-config cannot find glib-2.0 (is libglib2.0-dev installed?)" >&2
  exit 1
fi
echo "test-glib: GLib $(pkg-config --modversion glib-2.0)"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test -p ffi-callback-tests --features glib --test c_glib -- "$@" 2>&1 | tee "$log"
if ! grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$log"; then
  echo "test-glib: no GLib test ran (is the \`glib\` feature wired to tests/tests/c_glib.rs?)" >&2
  exit 1
fi
