#!/usr/bin/env bash
# libevent 2 integration test (tests/libevent/: a crate of its own, outside
# the workspace, so that `cargo test --workspace` needs no libevent), as a
# binding writes it: `event_new` callbacks as Rust-owned boxed closures
# (persistent events, one-shot timers, signals; an event freed from inside
# its own callback), `event_base_once` as once-callbacks the base reclaims
# when it is freed uncalled, bufferevent read/write/event callbacks as one
# callback set whose state the binding frees after `bufferevent_free`
# (also from inside its own callback), `evbuffer_add_cb` (re-entered by its
# own buffer), `evbuffer_add_reference` cleanups as once-callbacks,
# `event_set_log_callback` (global, no user data), `event_base_loopbreak`
# from callbacks, panics in each kind of callback coming back from
# `event_base_dispatch` through the guard's stop hook, and re-entry
# (`event_base_loop` from a callback, `event_active`).
# Installs libevent-dev (and valgrind) if missing, runs the tests, then
# runs the same test binary under valgrind memcheck: zero errors and zero
# definite leaks, or it fails.
#
#   scripts/test-libevent.sh       # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" libevent libevent-dev /usr/include/event2/event.h c_libevent "$@"
