#!/usr/bin/env bash
# One suite against a system C library, in a crate of its own outside the
# workspace (tests/NAME/, so that `cargo test --workspace` needs no such
# library): installs PACKAGE (and valgrind, jq) if missing, runs the crate's
# test binary TEST, then runs the same binary under valgrind memcheck: zero
# errors and zero definite leaks, or it fails. Called by test-libpng.sh,
# test-expat.sh, test-libarchive.sh, test-libuv.sh, test-libevent.sh,
# test-libxml2.sh, test-openssl.sh, test-tcl.sh, test-nghttp2.sh, test-pcre2.sh,
# test-cairo.sh and test-curl.sh.
#
#   scripts/system-lib-suite.sh NAME PACKAGE HEADER TEST [test binary args...]
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 package=$2 header=$3 test=$4
shift 4

bash scripts/apt-install.sh "$package" valgrind jq

if [ ! -e "$header" ]; then
  echo "test-$name: $header is missing (is $package installed?)" >&2
  exit 1
fi
echo "test-$name: $package $(dpkg-query -W -f '${Version}' "$package")"

manifest=tests/$name/Cargo.toml
# The main workspace's target directory (CARGO_TARGET_DIR or ./target),
# rather than one under tests/NAME.
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
cargo_args=(--manifest-path "$manifest" --target-dir "$target_dir" --test "$test")

log=$(mktemp)
vg_log=$(mktemp)
trap 'rm -f "$log" "$vg_log"' EXIT

cargo test "${cargo_args[@]}" -- "$@" 2>&1 | tee "$log"
if ! grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$log"; then
  echo "test-$name: no $name test passed" >&2
  exit 1
fi

exe=$(cargo test "${cargo_args[@]}" --no-run --message-format=json |
  jq -r --arg test "$test" 'select(.reason == "compiler-artifact" and .target.name == $test and .profile.test == true)
         | .executable // empty' | tail -n1)
[ -n "$exe" ] || { echo "test-$name: no test executable" >&2; exit 1; }

echo
echo "=== $test under memcheck ==="
status=0
valgrind --tool=memcheck --error-exitcode=1 \
  --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite,possible --num-callers=30 \
  --log-file="$vg_log" \
  "$exe" --test-threads=1 "$@" >"$log" 2>&1 || status=$?
grep -E '^test result:' "$log" || true
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$vg_log" | tail -n1 | tr -d ,)
definite=$(grep -E 'definitely lost:' "$vg_log" | tail -n1 | sed 's/^==[0-9]*== *//' || true)
echo "memcheck: ${errors:-?} errors; ${definite:-definitely lost: 0 bytes in 0 blocks}"
if [ "$status" -ne 0 ] || [ "${errors:-?}" != 0 ] || ! grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$log"; then
  echo "--- memcheck log ---"
  sed -n '1,120p' "$vg_log"
  echo "--- test output (tail) ---"
  tail -n 30 "$log"
  echo "test-$name: FAILED under valgrind (exit $status)" >&2
  exit 1
fi
echo "test-$name: passed, valgrind clean"
