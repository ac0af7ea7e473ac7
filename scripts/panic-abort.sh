#!/usr/bin/env bash
# A panic in a callback, built both ways:
# - with unwinding (the default): the panic is carried past qsort_r and
#   resumed with its payload on the Rust side;
# - with `panic = "abort"`: the process aborts at the panic (SIGABRT), after
#   the panic hook printed the message, and never unwinds into C. Nothing
#   else is promised there: `resume`, `fallback` and refusals all become
#   aborts, because nothing can be caught.
# Needs only the toolchain. Builds the abort variant into its own target dir.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
export RUST_BACKTRACE=0 # keep the expected panic messages short
fail() { echo "FAIL (scripts/panic-abort.sh): $*" >&2; exit 1; }

echo "--- unwinding build"
out=$(cargo run -q -p examples --example panic_in_callback 2>&1) || fail "the unwinding build exited non-zero: $out"
echo "$out"
grep -q 'the panic was resumed on the Rust side: "the third comparison refuses to compare"' <<<"$out" \
  || fail "the unwinding build did not resume the panic"
grep -q 'Rust code ran 3 times' <<<"$out" || fail "user code ran after the panic"

echo "--- panic = \"abort\" build"
set +e
out=$(CARGO_TARGET_DIR="$target/panic-abort" RUSTFLAGS="-C panic=abort" \
  cargo run -q -p examples --example panic_in_callback 2>&1)
status=$?
set -e
echo "$out"
# cargo reports a child killed by SIGABRT as exit status 134 (128 + 6) or
# with "signal: 6" in its message, depending on the version.
if [ "$status" -ne 134 ] && ! grep -q 'signal: 6' <<<"$out"; then
  fail "the panic = \"abort\" build should die by SIGABRT, exit status was $status"
fi
grep -q "the third comparison refuses to compare" <<<"$out" \
  || fail "the panic hook's message is missing from the abort build's output"
if grep -q 'resumed on the Rust side' <<<"$out"; then
  fail "the abort build claims to have resumed a panic"
fi
echo "panic-abort: unwinding build resumes the panic; panic = \"abort\" build aborts at the panic (SIGABRT) with its message"
