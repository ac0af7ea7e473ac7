#!/usr/bin/env bash
# tests/tests/abort.rs (the paths that end the process: SIGABRT with the
# callback's name) again in an optimised build, through the small crate
# tests/optimized/: release builds inline the runtime's call paths into
# its nounwind cold fns, where a panic meets other frames than in the debug
# build `cargo test --workspace` makes. Needs only the toolchain.
#
#   scripts/test-optimized.sh          # extra arguments go to the test binary
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo test --release --manifest-path tests/optimized/Cargo.toml --target-dir "$target" -- "$@"
