#!/usr/bin/env bash
# libarchive integration test (tests/libarchive/: a crate of its own,
# outside the workspace, so that `cargo test --workspace` needs no
# libarchive): client callbacks as callback sets behind one client data
# (archive_read_open2 over a Rust Read + Seek, lent, kept or handed over
# and ended by the close callback; archive_write_open2 into a Rust Write,
# ended by the free callback), io::Errors reported with archive_set_error
# and returned typed, panics resumed, a tar read inside a tar, the
# passphrase callback, and a boxed user lookup released by libarchive's
# cleanup. Installs libarchive-dev (and valgrind) if missing, runs the
# tests, then runs the same test binary under valgrind memcheck: zero
# errors and zero definite leaks, or it fails.
#
#   scripts/test-libarchive.sh       # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" libarchive libarchive-dev /usr/include/archive.h c_libarchive "$@"
