#!/usr/bin/env bash
# libuv integration test (tests/libuv/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no libuv): handles
# (timers, idles, asyncs) whose state lives behind the handle's own `data`
# field as a callback set, ended by uv_close's callback (also from the
# handle's own callback); a Rust-owned timer closure (`boxed`) dropped from
# its own callback; uv_async_send from other threads; uv_queue_work as a
# `send` set (work on the thread pool, after_work on the loop thread) and
# a future, cancelled with uv_cancel; uv_fs_* requests as once-callbacks
# behind req->data, awaited as futures through a block_on that runs the
# loop, or reclaimed when libuv refuses them synchronously; uv_walk with
# a lent closure and a #[callback] fn; panics and Errs in callbacks stopping
# the loop through the guard's stop hook (uv_stop) and coming back typed.
# Installs libuv1-dev (and valgrind) if missing, runs the tests, then runs
# the same test binary under valgrind memcheck: zero errors and zero
# definite leaks, or it fails.
#
#   scripts/test-libuv.sh       # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" libuv libuv1-dev /usr/include/uv.h c_libuv "$@"
