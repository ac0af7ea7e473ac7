#!/usr/bin/env bash
# expat integration test (tests/expat/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no libexpat): XML
# handlers as a callback set behind XML_SetUserData, lent and boxed, with
# panics, errors, XML_StopParser, a re-entrant external-entity sub-parser
# and an unknown-encoding converter released by expat. Installs
# libexpat1-dev (and valgrind) if missing, runs the tests, then runs the
# same test binary under valgrind memcheck: zero errors and zero definite
# leaks, or it fails.
#
#   scripts/test-expat.sh            # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" expat libexpat1-dev /usr/include/expat.h c_expat "$@"
