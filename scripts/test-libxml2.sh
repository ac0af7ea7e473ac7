#!/usr/bin/env bash
# libxml2 integration test (tests/libxml2/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no libxml2), as a
# binding writes it: SAX2 handlers as one callback set (the handlers' ctx
# the user data given to xmlSAXUserParseMemory / xmlCreatePushParserCtxt,
# or the parser context with the state behind ctxt->_private), stopped with
# xmlStopParser from a handler and through the guard's stop hook after a
# panic; xmlReadIO / xmlCreateIOParserCtxt over a Rust `Read` (the close
# callback as the set's destroy); xmlOutputBufferCreateIO into a Rust
# `Write`, `io::Error`s coming back typed; xmlSetStructuredErrorFunc (per
# thread, with a context); xmlRegisterInputCallbacks (match/open without
# user data, lent with scope_thread_local; read/close as a set); XPath
# extension functions reaching their state through ctxt->context->userData;
# xmlHashScan and xmlHashFree's deallocator; panics in each, re-entry.
# Installs libxml2-dev (and valgrind) if missing, runs the tests, then runs
# the same test binary under valgrind memcheck: zero errors and zero
# definite leaks, or it fails.
#
#   scripts/test-libxml2.sh        # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" libxml2 libxml2-dev /usr/include/libxml2/libxml/parser.h c_libxml2 "$@"
