#!/usr/bin/env bash
# The trybuild ui suites under the one rustc release their .stderr files
# were written with, named in tests/ui-toolchain: tests/tests/ui.rs (cases
# in tests/ui, edition 2024) and tests/ui_2021 (the soundness cases again
# as edition 2021, in tests/ui_2021/ui). Installs
# that release through rustup when missing and fails if it cannot, or if
# a suite would skip itself for any other reason (UI_TOOLCHAIN_REQUIRED).
#
#   scripts/ui.sh                       run the suites
#   TRYBUILD=overwrite scripts/ui.sh    rewrite the .stderr files (read every diff)
#
# To move to a new release: change tests/ui-toolchain, rerun with
# TRYBUILD=overwrite, review.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(tr -d '[:space:]' <tests/ui-toolchain)
[ -n "$toolchain" ] || { echo "ui: FAIL: tests/ui-toolchain is empty" >&2; exit 1; }
if ! command -v rustup >/dev/null; then
  echo "ui: FAIL: no rustup, cannot install Rust $toolchain; the ui suite did not run" >&2
  exit 1
fi
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "ui: installing Rust $toolchain (rustup, minimal profile)"
  if ! rustup toolchain install "$toolchain" --profile minimal; then
    echo "ui: FAIL: rustup could not install Rust $toolchain; the ui suite did not run" >&2
    exit 1
  fi
fi
echo "ui: $(rustup run "$toolchain" rustc --version)"
# --no-fail-fast: a failing 2024 suite still lets the 2021 one report.
UI_TOOLCHAIN_REQUIRED=1 exec cargo "+$toolchain" test --no-fail-fast \
  -p ffi-callback-tests --test ui -p ffi-callback-ui-2021 --test ui_2021
