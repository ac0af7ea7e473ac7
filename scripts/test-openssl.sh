#!/usr/bin/env bash
# OpenSSL 3 integration test (tests/openssl/: a crate of its own, outside
# the workspace, so that `cargo test --workspace` needs no libssl): a
# custom BIO_METHOD as a callback set over a Rust Read + Write (its state
# behind BIO_set_data/BIO_get_data, freed by the destroy entry once), a
# TLS 1.3 handshake in memory, io::Errors and panics in the BIO entries
# coming back typed or resumed, the verify callback (no user data: SSL ex
# data, or a closure lent with scope_thread_local), pem_password_cb
# through SSL_CTX_set_default_passwd_cb(_userdata), the info and message
# callbacks, ALPN selection and the SNI callback (SSL_CTX_callback_ctrl).
# Installs libssl-dev (and valgrind) if missing, runs the tests, then runs
# the same test binary under valgrind memcheck: zero errors and zero
# definite leaks, or it fails. No suppressions are needed: OpenSSL 3.0
# runs clean under memcheck (its one-time global state is still
# reachable at exit, which the suite does not count).
#
#   scripts/test-openssl.sh       # extra arguments go to the test binary
set -euo pipefail
exec bash "$(dirname "$0")/system-lib-suite.sh" openssl libssl-dev /usr/include/openssl/ssl.h c_openssl "$@"
