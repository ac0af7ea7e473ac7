#!/usr/bin/env bash
# libpng integration test (tests/libpng/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no libpng): a Rust read
# callback whose panics and errors end in libpng's `png_error` through the
# raise exit. Installs libpng-dev (and valgrind) if missing, runs the tests,
# then runs the same test binary under valgrind memcheck: zero errors and
# zero definite leaks, or it fails.
#
#   scripts/test-libpng.sh            # extra arguments go to the test binary
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/apt-install.sh libpng-dev valgrind jq

if [ ! -e /usr/include/png.h ]; then
  echo "test-libpng: /usr/include/png.h is missing (is libpng-dev installed?)" >&2
  exit 1
fi
echo "test-libpng: libpng-dev $(dpkg-query -W -f '${Version}' libpng-dev)"

manifest=tests/libpng/Cargo.toml
# The main workspace's target directory (CARGO_TARGET_DIR or ./target),
# rather than one under tests/libpng.
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
cargo_args=(--manifest-path "$manifest" --target-dir "$target_dir" --test c_libpng)

log=$(mktemp)
vg_log=$(mktemp)
trap 'rm -f "$log" "$vg_log"' EXIT

cargo test "${cargo_args[@]}" -- "$@" 2>&1 | tee "$log"
if ! grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$log"; then
  echo "test-libpng: no libpng test passed" >&2
  exit 1
fi

exe=$(cargo test "${cargo_args[@]}" --no-run --message-format=json |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "c_libpng" and .profile.test == true)
         | .executable // empty' | tail -n1)
[ -n "$exe" ] || { echo "test-libpng: no test executable" >&2; exit 1; }

echo
echo "=== c_libpng under memcheck ==="
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
  echo "test-libpng: FAILED under valgrind (exit $status)" >&2
  exit 1
fi
echo "test-libpng: passed, valgrind clean"
