#!/usr/bin/env bash
# The real-C integration tests (tests/tests/c_*.rs: glibc, sqlite, zlib...)
# under valgrind memcheck: zero errors and zero definite leaks, or it fails.
#
#   scripts/valgrind.sh                   every c_*.rs except c_glib
#   scripts/valgrind.sh --features glib   c_glib too (needs libglib2.0-dev)
#
# Each test binary runs its harness single-threaded (`--test-threads=1`)
# under `valgrind --tool=memcheck --leak-check=full
# --errors-for-leak-kinds=definite --error-exitcode=1`. "Possibly lost"
# blocks (the test harness's threads, thread-locals) are shown but allowed;
# definite leaks and every other memcheck error are not.
#
# Prints per binary and in total: binaries run, tests run, memcheck errors,
# definitely lost (bytes in blocks). Logs: "$target/valgrind/<test>.log".
set -euo pipefail
cd "$(dirname "$0")/.."

features=()
with_glib=false
while [ $# -gt 0 ]; do
  case "$1" in
    --features)
      features+=(--features "$2")
      [[ "$2" == *glib* ]] && with_glib=true
      shift 2
      ;;
    --features=*)
      features+=("$1")
      [[ "$1" == *glib* ]] && with_glib=true
      shift
      ;;
    *)
      echo "usage: $0 [--features glib]" >&2
      exit 2
      ;;
  esac
done

scripts/apt-install.sh valgrind jq
$with_glib && scripts/apt-install.sh libglib2.0-dev pkg-config

# The real-C tests, whatever files exist.
tests=()
for file in tests/tests/c_*.rs; do
  [ -e "$file" ] || continue
  name=$(basename "$file" .rs)
  if [ "$name" = c_glib ] && ! $with_glib; then
    continue
  fi
  tests+=("$name")
done
if [ ${#tests[@]} -eq 0 ]; then
  echo "valgrind: no tests/tests/c_*.rs to run" >&2
  exit 1
fi

echo "valgrind: building ${tests[*]}"
test_args=()
for name in "${tests[@]}"; do test_args+=(--test "$name"); done
build_json=$(cargo test -p ffi-callback-tests "${features[@]}" "${test_args[@]}" \
  --no-run --message-format=json)

target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
log_dir="$target_dir/valgrind"
mkdir -p "$log_dir"

valgrind --version
binaries=0 total_tests=0 total_errors=0 total_def_bytes=0 total_def_blocks=0
failed=()
for name in "${tests[@]}"; do
  exe=$(jq -r --arg n "$name" \
    'select(.reason == "compiler-artifact" and .target.name == $n and .profile.test == true)
     | .executable // empty' <<<"$build_json" | tail -n1)
  if [ -z "$exe" ]; then
    echo "valgrind: no executable for $name" >&2
    failed+=("$name (not built)")
    continue
  fi
  log="$log_dir/$name.log"
  out="$log_dir/$name.out"
  echo
  echo "=== $name under memcheck ==="
  status=0
  # --run-libc-freeres=no: glibc 2.36's own clean-up at exit reads freed
  # memory after getaddrinfo_a (a 5-line C program shows the same 7 errors),
  # which is glibc's, not ours.
  valgrind --tool=memcheck --error-exitcode=1 --run-libc-freeres=no \
    --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite,possible --num-callers=30 \
    --log-file="$log" \
    "$exe" --test-threads=1 >"$out" 2>&1 || status=$?
  binaries=$((binaries + 1))

  passed=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed.*/\1/p' "$out" | awk '{ s += $1 } END { print s + 0 }')
  errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -n1 | tr -d ,)
  def_line=$(grep -E 'definitely lost:' "$log" | tail -n1 || true)
  def_bytes=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1/p' <<<"$def_line" | tr -d ,)
  def_blocks=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2/p' <<<"$def_line" | tr -d ,)
  possible=$(grep -E 'possibly lost:' "$log" | tail -n1 | sed 's/^==[0-9]*== *//' || true)
  passed=${passed:-0} errors=${errors:-?} def_bytes=${def_bytes:-0} def_blocks=${def_blocks:-0}

  grep -E '^test result:' "$out" || true
  echo "memcheck: $errors errors; definitely lost: $def_bytes bytes in $def_blocks blocks${possible:+; $possible}"
  total_tests=$((total_tests + passed))
  [ "$errors" != "?" ] && total_errors=$((total_errors + errors))
  total_def_bytes=$((total_def_bytes + def_bytes))
  total_def_blocks=$((total_def_blocks + def_blocks))
  if [ "$status" -ne 0 ] || [ "$errors" != 0 ] || [ "$def_blocks" != 0 ]; then
    failed+=("$name (exit $status)")
    echo "--- $log (first errors) ---"
    grep -E '^==[0-9]+== ' "$log" | sed -n '1,80p'
    echo "--- test output (tail) ---"
    tail -n 30 "$out"
  fi
done

echo
echo "valgrind: $binaries binaries, $total_tests tests run under memcheck, $total_errors errors," \
  "definitely lost: $total_def_bytes bytes in $total_def_blocks blocks"
if [ ${#failed[@]} -gt 0 ]; then
  echo "valgrind: FAILED: ${failed[*]} (logs in $log_dir)" >&2
  exit 1
fi
echo "valgrind: clean"
