#!/usr/bin/env bash
# Runs every example CI runs on Linux, each through the command its docs
# give (`cargo run -p examples --example NAME`), and checks that it exits 0
# and prints the lines a person would check. Installs the system GLib
# (apt `libglib2.0-dev pkg-config`) for glib_worker_pool.
#
# The Windows examples (enum_windows, enum_fonts) run under Wine in
# scripts/test-windows.sh, not here.
#
#   scripts/examples.sh
set -euo pipefail
cd "$(dirname "$0")/.."

failures=()
passed=0

# example NAME [CARGO_FLAGS...] -- ARGS... :: REGEX...
# Runs the example with ARGS, requires exit status 0 and every extended
# REGEX to match a line of its output (stdout and stderr).
example() {
  local name=$1
  shift
  local cargo_flags=() args=() patterns=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cargo_flags+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ] && [ "$1" != "::" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  patterns=("$@")

  printf '\n--- %s ---\n' "$name"
  echo "+ cargo run -p examples ${cargo_flags[*]} --example $name -- ${args[*]}"
  local out status=0
  out=$(cargo run -q -p examples "${cargo_flags[@]}" --example "$name" -- "${args[@]}" 2>&1) || status=$?
  printf '%s\n' "$out"
  if [ "$status" -ne 0 ]; then
    failures+=("$name: exit status $status")
    return
  fi
  local pattern missing=0
  for pattern in "${patterns[@]}"; do
    if ! grep -Eq -- "$pattern" <<<"$out"; then
      failures+=("$name: no line matches /$pattern/")
      missing=1
    fi
  done
  [ "$missing" -eq 0 ] && passed=$((passed + 1))
  return 0
}

example loaded_objects -- :: \
  '^[0-9]+ shared objects loaded \(walk returned 0\):$' \
  '^  \(main program\)$' \
  'libc\.so'

example sort_records -- :: \
  '^sorted by name: 8 records, [0-9]+ comparisons$' \
  '^sorted by age,name: 8 records, [0-9]+ comparisons$' \
  '^sorted by city,-age: 8 records, [0-9]+ comparisons$'
# A key from the command line: the oldest first.
example sort_records -- -age :: \
  '^sorted by -age: 8 records, [0-9]+ comparisons$' \
  '^  Sofia +52  Lisbon$'

example sql_function -- :: \
  '^  Ada +120\.00 USD +110\.40$' \
  '^  Dennis +NULL USD +NULL$' \
  '^to_eur was called 6 times for 6 rows$' \
  '^total in EUR: 436\.87 ' \
  '^SELECT to_eur\(10, .XYZ.\) failed as it should: to_eur: unknown currency "XYZ"$' \
  '^xDestroy: SQLite freed the to_eur closure and its 5 rates after 13 calls$'

example async_lookup -- :: \
  'resolved 3 of 3 names and a 50 ms timer fired: true; notified on glibc threads: true'
example cookie_file -- :: \
  '^wrote 4 lines, 44 bytes, into a Rust Vec<u8> through fprintf and fputs:$' \
  '^fseek to byte 11, fread: "pears   12"$' '^fclose returned 0, ' \
  '^a 16-byte file: fflush returned EOF, and try_resume gave back: memory file full: 24 bytes asked, 16 allowed$'
example lua_function -- :: \
  '^  1h30m += 5400 s$' \
  '^  90x +: seconds: unknown unit .x.$' \
  '^  3d +: not yet implemented: days in a duration$' \
  '^total of the good ones: 12955 s$' \
  '^the script stopped: seconds: no unit after 10$' \
  '^seconds was called 7 times: 3 returned a value, 3 an error, 1 panicked$'
example walk_tree -- :: \
  '^nftw returned 0: 5 files in 3 directories$' \
  '^  \.rs +2 files +420 bytes$' \
  '^  \(none\) +1 file +7 bytes$' \
  '^the largest: src/lib\.rs \(300 bytes\)$'
example spawn_thread -- :: \
  '^closure thread: 9592 primes below 100000, the largest 99991; ran on another thread: true$' \
  '^fn thread: 19 letters in 4 words; ran on another thread: true$'

printf '\n--- install GLib for glib_worker_pool ---\n'
bash scripts/apt-install.sh libglib2.0-dev pkg-config
if ! pkg-config --exists glib-2.0; then
  failures+=("glib_worker_pool: pkg-config cannot find glib-2.0 after installing libglib2.0-dev")
else
  example glib_worker_pool --features glib -- :: \
    '^10000 items processed by [1-9][0-9]* worker threads \(at most 4\)$' \
    '^total Collatz steps for 1\.\.=10000: 849666 \(sequential check: 849666\)$' \
    '^ok: every item ran once, on a worker thread$'
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  printf 'examples: FAIL: %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "examples: all $passed runs passed"
