#!/usr/bin/env bash
# Miri over the runtime and every test that simulates a C library in Rust,
# under Stacked Borrows and Tree Borrows. Any undefined behaviour or leak
# fails the run. Prints how many tests ran in each mode.
#
#   bash scripts/miri.sh
#
# Installs what it needs on the nightly toolchain (the `miri` and `rust-src`
# components). Builds into "${CARGO_TARGET_DIR:-target}/miri", apart from the
# normal builds.
#
# What runs:
# - the runtime (`-p ffi-callback`): unit tests and doctests, with the
#   `stream` feature (runtime/src/future/stream.rs has unit tests of its
#   own), here and on i686. The README's examples (included as crate docs)
#   call real C (`dl_iterate_phdr`, `qsort_r`), which Miri cannot execute,
#   so they are skipped by name here; `cargo test` runs them natively.
# - tests/tests/{simulated_fn,simulated_type,simulated_str,panic_edges,simulated_lessons,
#   simulated_sets,hostile_c,hostile_c_races}: C APIs played
#   by Rust `extern "C"` fns, so every pointer the generated code unpacks is
#   checked.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=nightly
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/miri"
sim_tests=(simulated_fn simulated_type simulated_str simulated_thread_local_scope panic_edges simulated_lessons simulated_sets simulated_sets_options simulated_scope_unwinding simulated_guard_unwinding hostile_c hostile_c_races future_allocations error_drop_panics error_stop keep_error fallback_why second_destroy conversion_error_panics runs_poisoned)
# The runtime's optional code that has unit tests of its own.
runtime_features=(--features stream)

step() { printf '\n=== %s ===\n' "$*"; }

step "installing miri on the $toolchain toolchain"
if ! rustup toolchain list | grep -q "^$toolchain"; then
  rustup toolchain install "$toolchain" --profile minimal
fi
rustup component add --toolchain "$toolchain" miri rust-src
cargo +"$toolchain" miri --version
cargo +"$toolchain" miri setup

# Integer user-data slots (`usize`, `LPARAM`) carry pointers through
# integers by design: the runtime exposes the provenance on the way in and
# takes it back on the way out (`with_exposed_provenance_mut`). Miri checks
# that soundly but warns on every such cast; permissive provenance keeps it
# quiet. All other checks, leaks included, stay on.
base_flags="-Zmiri-permissive-provenance ${MIRIFLAGS:-}"

log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

declare -A passed failed ignored seconds status
failures=0

# run_mode NAME MIRIFLAGS [32]: the runtime's tests and the simulated-C
# suites; with `32`, the runtime's unit tests only, on a 32-bit target (the
# suites build sqlite for the target, which needs a 32-bit libc here). The
# holder's state word is laid out by pointer width.
run_mode() {
  local mode="$1" flags="$2" width="${3:-64}"
  local log="$log_dir/$mode.log"
  local start=$SECONDS rc=0
  step "Miri, $mode (MIRIFLAGS=$flags)"
  if [ "$width" = 32 ]; then
    MIRIFLAGS="$flags" CARGO_TARGET_DIR="$target_dir" \
      cargo +"$toolchain" miri test --target i686-unknown-linux-gnu -p ffi-callback \
      "${runtime_features[@]}" --lib \
      2>&1 | tee "$log" || rc=$?
  else
    {
      MIRIFLAGS="$flags" CARGO_TARGET_DIR="$target_dir" \
        cargo +"$toolchain" miri test -p ffi-callback "${runtime_features[@]}" \
        -- --skip "runtime/src/lib.rs - (line" &&
        MIRIFLAGS="$flags" CARGO_TARGET_DIR="$target_dir" \
          cargo +"$toolchain" miri test -p ffi-callback-tests \
          "${sim_tests[@]/#/--test=}"
    } 2>&1 | tee "$log" || rc=$?
  fi
  seconds[$mode]=$((SECONDS - start))
  # Sum the libtest summaries: "test result: ok. 28 passed; 0 failed; 1 ignored; ..."
  read -r p f i < <(
    grep -Eo '[0-9]+ passed; [0-9]+ failed; [0-9]+ ignored' "$log" |
      awk '{p += $1; f += $3; i += $5} END {print p + 0, f + 0, i + 0}'
  )
  passed[$mode]=$p
  failed[$mode]=$f
  ignored[$mode]=$i
  if [ "$rc" -ne 0 ]; then
    status[$mode]="FAILED (exit $rc: UB, a leak or a failing test; see above)"
    failures=$((failures + 1))
  elif [ "$p" -eq 0 ]; then
    status[$mode]="FAILED (no test ran)"
    failures=$((failures + 1))
  else
    status[$mode]="ok"
  fi
}

run_mode "stacked-borrows" "$base_flags"
run_mode "tree-borrows" "$base_flags -Zmiri-tree-borrows"
run_mode "i686" "$base_flags" 32

step "Miri summary"
for mode in stacked-borrows tree-borrows i686; do
  printf '%-16s %s: %s passed, %s failed, %s ignored, in %ss\n' \
    "$mode" "${status[$mode]}" "${passed[$mode]}" "${failed[$mode]}" \
    "${ignored[$mode]}" "${seconds[$mode]}"
done
printf '(runtime unit tests and doctests, %s, and tests/tests/{%s}.rs; i686: the runtime unit tests, %s)\n' \
  "${runtime_features[*]}" "$(IFS=,; echo "${sim_tests[*]}")" "${runtime_features[*]}"

if [ "$failures" -ne 0 ]; then
  echo "Miri: FAILED"
  exit 1
fi
echo "Miri: no undefined behaviour, no leaks"
