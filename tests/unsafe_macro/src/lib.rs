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

ffi_callback::preset! {
    /// A preset exported from the crate root, where `#[macro_export]` puts
    /// it anyway.
    #[macro_export]
    exported_at_root = (fallback = -2);
}

/// Presets exported for other crates, as a binding crate would, from a
/// module (`preset!` also imports the macro by its name there).
pub mod presets {
    ffi_callback::preset! {
        /// A binding's safe fn-pointer types: `unsafe(safe_fn)`.
        #[macro_export]
        pub(crate) exported_safe_fn = (unsafe(safe_fn), fallback = -7);
    }

    ffi_callback::preset! {
        /// An `unsafe { }` block reading the callback's first parameter.
        #[macro_export]
        pub(crate) exported_reads_ctx = (on_error = unsafe { ::ffi_callback_unsafe_macro::presets::error_code(ctx) });
    }

    ffi_callback::preset! {
        /// An `unsafe { }` block in the fallback, reading the first parameter.
        #[macro_export]
        pub(crate) exported_fallback_reads_ctx =
            (fallback = unsafe { ::ffi_callback_unsafe_macro::presets::error_code(ctx) });
    }

    ffi_callback::preset! {
        /// No `unsafe`.
        #[macro_export]
        pub(crate) exported_plain = (fallback = -1);
    }

    /// The error code at `ctx`.
    ///
    /// # Safety
    /// `ctx` points at a live `i32`.
    pub unsafe fn error_code(ctx: *const i32) -> i32 {
        // SAFETY: by the caller's promise.
        unsafe { *ctx }
    }
}
