//! The soundness cases of `tests/ui/soundness_*.rs` that depend on the
//! edition, compiled again as edition 2021 (trybuild gives its cases the
//! edition of the package that runs them): an unsafe call in
//! `user_data = EXPR`, `fallback = EXPR` or a fn body needs the user's own
//! `unsafe { }` (in 2021 an `unsafe fn`'s body is an unsafe context unless
//! `unsafe_op_in_unsafe_fn` is denied, as the shim forbids it), and
//! `unsafe(safe_fn)` trips `unsafe_code`, also when a preset declares it
//! (`tests/ui/preset_*`). Each `ui/*.rs` names its 2024 twin.
//!
//! Run only under the rustc release of `tests/ui-toolchain` (see
//! `tests/ui_toolchain.rs`); `bash scripts/ui.sh` runs them. Regenerate
//! with `TRYBUILD=overwrite cargo +$(cat tests/ui-toolchain) test -p
//! ffi-callback-ui-2021` and read every diff.

#[path = "../../ui_toolchain.rs"]
mod ui_toolchain;

#[test]
fn ui_2021() {
    ui_toolchain::run_pinned("edition 2021", || {
        trybuild::TestCases::new().compile_fail("ui/*.rs");
    });
}
