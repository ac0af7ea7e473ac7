#!/usr/bin/env bash
# Tcl 8.6 integration test (tests/tcl/: a crate of its own, outside the
# workspace, so that `cargo test --workspace` needs no Tcl), as a binding
# writes it: `Tcl_CreateObjCommand` with boxed closures whose destroy is the
# command's deleteProc (deleted by `rename`, also from inside the command
# itself, by redefinition and by `Tcl_DeleteInterp`), commands re-entered
# through `Tcl_EvalObjEx` (refused, or `reentrant`), `Result` commands
# setting the interp's result through `on_error` and their errors typed
# back through `try_resume`, panics (also under Tcl's `catch`) turned into
# Tcl errors and resumed; once-callbacks that Tcl may drop uncalled
# (`Tcl_DoWhenIdle`/`Tcl_CancelIdleCall`, `Tcl_CreateTimerHandler`/
# `Tcl_DeleteTimerHandler`, exit handlers, `Tcl_CallWhenDeleted`), variable
# traces returning error strings, `Tcl_CreateObjTrace`, `Tcl_SetAssocData`
# (a `Box<T>` handed back to its delete proc), an object command (command
# proc and deleteProc as one callback set, destroyed from inside its own
# call), `Tcl_AsyncCreate` handlers marked from other threads, and a
# `Tcl_ChannelType` as a callback set over a Rust buffer, driven by
# `puts`/`gets`/`close`; panics stopping `vwait` and whole scripts through
# the guard's stop hook (`Tcl_CancelEval` with `TCL_CANCEL_UNWIND`).
# Installs tcl8.6-dev (and valgrind) if missing, runs the tests, then runs
# the same test binary under valgrind memcheck: zero errors and zero
# definite leaks, or it fails.
#
#   scripts/test-tcl.sh       # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" tcl tcl8.6-dev /usr/include/tcl8.6/tcl.h c_tcl "$@"
