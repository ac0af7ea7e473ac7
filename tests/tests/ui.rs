//! Compile-time behaviour of `#[callback]`: every misuse in DESIGN.md
//! "Compile-time errors" fails with a reviewed message (`ui/*.rs` and their
//! `.stderr`), and the accepted shapes compile (`ui/pass/*.rs`). Edition
//! 2024, this package's; `tests/ui_2021` compiles the soundness cases again
//! as edition 2021.
//!
//! Run only under the rustc release of `tests/ui-toolchain` (see
//! `tests/ui_toolchain.rs`); `bash scripts/ui.sh` runs them. Regenerate the
//! expected output with
//! `TRYBUILD=overwrite cargo +$(cat tests/ui-toolchain) test -p ffi-callback-tests --test ui`
//! and read every diff.

#[path = "../ui_toolchain.rs"]
mod ui_toolchain;

#[test]
fn ui() {
    ui_toolchain::run_pinned("edition 2024", || {
        let t = trybuild::TestCases::new();
        t.compile_fail("ui/*.rs");
        t.pass("ui/pass/*.rs");
    });
}
