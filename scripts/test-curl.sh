#!/usr/bin/env bash
# libcurl integration test (tests/curl/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no libcurl), as a curl
# binding writes it, with no network (file:// URLs on temporary files and a
# one-shot HTTP server on 127.0.0.1 run by the test): the write callback
# lent for one perform into a Rust `Write` (its `io::Error` typed back as
# CURLE_WRITE_ERROR, a short write, a panic resumed), the header, read
# (upload and POST bodies from a Rust `Read`, CURL_READFUNC_ABORT on
# error), xferinfo (aborting a transfer) and debug callbacks; a binding's
# `Easy<H>` keeping the five as one callback set across performs; the
# multi socket interface (socket and timer callbacks as a set, driven with
# `curl_multi_socket_action` and poll). Installs libcurl4-openssl-dev (and
# valgrind) if missing, runs the tests, then runs the same test binary
# under valgrind memcheck: zero errors and zero definite leaks, or it
# fails.
#
#   scripts/test-curl.sh        # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" curl libcurl4-openssl-dev /usr/include/x86_64-linux-gnu/curl/curl.h c_curl "$@"
