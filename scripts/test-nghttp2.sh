#!/usr/bin/env bash
# nghttp2 integration test (tests/nghttp2/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no nghttp2), as an
# HTTP/2 binding writes it, with a client and a server session talking
# through memory (`nghttp2_session_mem_send` into the other side's
# `nghttp2_session_mem_recv`, or `nghttp2_session_send` through the send
# callback): the session callbacks as one callback set sharing the
# session's user data, per-stream user data, data providers as boxed
# closures reached through `source.ptr` or the stream's user data (EOF,
# deferred and resumed, also from inside a callback; `Result`s mapped to
# NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE / NGHTTP2_ERR_CALLBACK_FAILURE),
# a custom `nghttp2_mem` allocator, panics in each kind of callback
# resumed when the session call returns, re-entry (submit_*, resume_data,
# a nested mem_send), and the session's state freed once after
# `nghttp2_session_del`.
# Installs libnghttp2-dev (and valgrind) if missing, runs the tests, then
# runs the same test binary under valgrind memcheck: zero errors and zero
# definite leaks, or it fails.
#
#   scripts/test-nghttp2.sh        # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" nghttp2 libnghttp2-dev /usr/include/nghttp2/nghttp2.h c_nghttp2 "$@"
