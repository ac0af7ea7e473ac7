#!/usr/bin/env bash
# cairo integration test (tests/cairo/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no cairo), as a
# binding writes it: cairo_write_func_t / cairo_read_func_t (PNG into a
# Rust `Write` and back from a Rust `Read`, lent for the call; PDF and SVG
# stream surfaces owning their write closure, freed by cairo through the
# surface's user data after the last write), `io::Error`s coming back
# typed, panics resumed, also from a surface's drop; user data and mime
# data destroys (`Box<T>` user data: freed once on replacement, removal or
# the object's death, reclaimed when refused); raster source patterns as a
# callback set whose state the pattern owns (copy gives a recording
# surface's copy a state of its own; finish frees each once); a user font
# face whose callbacks find their state through the scaled font
# (`user_data = EXPR`). Installs libcairo2-dev (and valgrind) if missing,
# runs the tests, then runs the same test binary under valgrind memcheck:
# zero errors and zero definite leaks, or it fails.
#
#   scripts/test-cairo.sh        # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" cairo libcairo2-dev /usr/include/cairo/cairo.h c_cairo "$@"
