#!/usr/bin/env bash
# PCRE2 integration test (tests/pcre2/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no PCRE2), as a regex
# binding writes it, against the 8-bit library (`pcre2-8`): callouts set on
# a match context (`pcre2_set_callout`) as closures inspecting the callout
# block and steering the match (continue, fail here, error), their `Err`s
# and panics coming back from the match; `pcre2_callout_enumerate`;
# substitution callouts (`pcre2_set_substitute_callout` with
# `pcre2_substitute`); a custom allocator (`pcre2_general_context_create`'s
# private_malloc/private_free) as a callback set counting blocks and bytes
# through compile and match contexts, compiled code and match data, with
# malloc failing (null) and panicking; the compile recursion guard.
# Installs libpcre2-dev (and valgrind) if missing, runs the tests, then
# runs the same test binary under valgrind memcheck: zero errors and zero
# definite leaks, or it fails.
#
#   scripts/test-pcre2.sh        # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" pcre2 libpcre2-dev /usr/include/pcre2.h c_pcre2 "$@"
