#!/usr/bin/env bash
# GLib integration tests (tests/tests/c_glib.rs and c_glib_more.rs, behind the
# `glib` feature of ffi-callback-tests): installs the system GLib and
# pkg-config if missing, then runs them. Fails loudly if anything is missing
# or no test ran in either file.
#
#   scripts/test-glib.sh            # extra arguments go to both test binaries
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

# Without arguments every file must run tests; with a filter, at least one
# of them (a filter may match the tests of one file only).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ran=0
for test in c_glib c_glib_more; do
  cargo test -p ffi-callback-tests --features glib --test "$test" -- "$@" 2>&1 | tee "$log"
  if grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$log"; then
    ran=$((ran + 1))
  elif [ "$#" -eq 0 ]; then
    echo "test-glib: no GLib test ran in tests/tests/$test.rs (is the \`glib\` feature wired to it?)" >&2
    exit 1
  fi
done
if [ "$ran" -eq 0 ]; then
  echo "test-glib: no GLib test ran (is the \`glib\` feature wired to tests/tests/c_glib*.rs?)" >&2
  exit 1
fi
