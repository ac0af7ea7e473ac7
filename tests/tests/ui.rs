//! Compile-time behaviour of `#[callback]`: every misuse in DESIGN.md
//! "Compile-time errors" fails with a reviewed message (`ui/*.rs` and their
//! `.stderr`), and the accepted shapes compile (`ui/pass/*.rs`).
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p ffi-callback-tests --test ui` and read
//! every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
    t.pass("ui/pass/*.rs");
}
