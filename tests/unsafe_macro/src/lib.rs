//! Macros meant for unsafe contexts: they expand to unsafe operations with
//! no `unsafe` block of their own. rustc does not report lints (such as
//! `unsafe_op_in_unsafe_fn`) for code from another crate's macro, so only
//! a safe context turns these into the hard error E0133; the ui cases
//! `fn_external_macro_unsafe_*` check that `#[callback]` gives the user's
//! code one.

/// Reads `*$p` with `core::ptr::read`, without `unsafe`.
#[macro_export]
macro_rules! read_ptr {
    ($p:expr) => {
        ::core::ptr::read($p)
    };
}
