#!/usr/bin/env bash
# expat integration test (tests/expat/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no libexpat): XML
# handlers as a callback set behind XML_SetUserData, lent and boxed, with
# panics, errors, XML_StopParser, a re-entrant external-entity sub-parser
# and an unknown-encoding converter released by expat. Installs
# libexpat1-dev (and valgrind) if missing, runs the tests, then runs the
# same test binary under valgrind memcheck: zero errors and zero definite
# leaks, or it fails.
#
#   scripts/test-expat.sh            # extra arguments go to the test binary
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/apt-install.sh libexpat1-dev valgrind jq

if [ ! -e /usr/include/expat.h ]; then
  echo "test-expat: /usr/include/expat.h is missing (is libexpat1-dev installed?)" >&2
  exit 1
fi
for tool in valgrind jq; do
  command -v "$tool" >/dev/null || { echo "test-expat: $tool is missing" >&2; exit 1; }
done
echo "test-expat: libexpat1-dev $(dpkg-query -W -f '${Version}' libexpat1-dev)"

manifest=tests/expat/Cargo.toml
# The main workspace's target directory (CARGO_TARGET_DIR or ./target),
# rather than one under tests/expat.
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
cargo_args=(--manifest-path "$manifest" --target-dir "$target_dir" --test c_expat)

log=$(mktemp)
vg_log=$(mktemp)
trap 'rm -f "$log" "$vg_log"' EXIT

cargo test "${cargo_args[@]}" -- "$@" 2>&1 | tee "$log"
if ! grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$log"; then
  echo "test-expat: no expat test passed" >&2
  exit 1
fi

exe=$(cargo test "${cargo_args[@]}" --no-run --message-format=json |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "c_expat" and .profile.test == true)
         | .executable // empty' | tail -n1)
[ -n "$exe" ] || { echo "test-expat: no test executable" >&2; exit 1; }

echo
echo "=== c_expat under memcheck ==="
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
  echo "test-expat: FAILED under valgrind (exit $status)" >&2
  exit 1
fi
echo "test-expat: passed, valgrind clean"
