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
exec bash "$(dirname "$0")/system-lib-suite.sh" libpng libpng-dev /usr/include/png.h c_libpng "$@"
