//! Rust fns and closures as C callbacks: panic-safe, re-entry-checked
//! trampolines with no allocation. See the [README](#ffi-callback) below.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// The generic fns a callback's calls go through (the trampoline's layers,
// the policies' catch, the holders' entry and leave) are written
// `#[cfg_attr(not(debug_assertions), inline(always))]` and
// `#[cfg_attr(debug_assertions, inline)]`: an optimised build inlines them
// into each trampoline (the per-call cost, benches/RESULTS.md), while a
// debug build, where nothing is measured per call, keeps one copy per
// callback out of line instead of several inlined ones (25% less CPU for a
// debug build of 500 `#[callback]` fns, `scripts/compile-time.sh`).

mod callback;
mod closure_bounds;
mod convert;
mod fallback_reason;
mod future;
mod holder;
mod lend;
mod once;
mod owned;
mod panic;
mod policy;
mod raise;
mod reentry;
mod report;
mod returns;
mod set;
mod thread_local_scope;
mod threading;
mod trampoline;
mod user_data;

pub use ffi_callback_macros::callback;

#[doc = include_str!("expansions/fn_form.md")]
#[doc = "```rust,ignore"]
#[doc = include_str!("expansions/fn_form.rs")]
#[doc = "```"]
#[doc = include_str!("expansions/type_form.md")]
#[doc = "```rust,ignore"]
#[doc = include_str!("expansions/type_form.rs")]
#[doc = "```"]
pub mod what_the_macro_generates {}

pub use crate::callback::Callback;
pub use crate::future::{CallbackFuture, Cancelled, Completion, future};
#[cfg(feature = "stream")]
pub use crate::future::{CallbackStream, Sender, stream};
pub use crate::owned::{Boxed, Once, RawCallback, RawOnce};
pub use crate::panic::{resume_panics, resume_panics_with, try_resume, try_resume_with};
pub use crate::raise::Failure;
pub use crate::report::{Report, ReportKind, Reporter, set_reporter};
pub use crate::returns::{CallbackReturn, Fallback};
pub use crate::set::BoxedSet;
pub use crate::threading::{AnyThread, CallerThread, HomeThread};
pub use crate::user_data::{
    FetchedUserData, UserDataParam, UserDataSlot, reclaim_box, release_arc, release_rc, user_data,
    user_data_box, user_data_ref,
};

/// What the generated code uses. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::__site as site;
    pub use crate::callback::{CallbackKind, KindOnceTrampoline, KindTrampoline};
    pub use crate::closure_bounds::{
        NoCaptures, OnceTrampoline, ReentrantSendClosure, SendClosure, SendSharedState, SendState,
        SyncClosure, SyncState, Trampoline, require_zero_sized,
    };
    pub use crate::convert::{
        BorrowParam, BorrowSlice, BorrowStr, IntoParam, check_disjoint, refuse_borrow,
        shared_across_threads, slice_of_pointee, slice_of_pointee_when_built,
    };
    pub use crate::holder::{
        CallbackType, Holder, call_mut, call_once, call_ref, destroy, destroy_once, fetch_holder,
        fetch_ptr, value_or,
    };
    /// A callback type's borrowed constructors.
    pub mod lend {
        pub use crate::lend::{Lent, scope, scope_once, try_scope};
    }
    pub use crate::once::OnceHolder;
    pub use crate::panic::{PoisonFilter, Site, guarded, refuse_at};
    pub use core::ops::{Fn, FnMut, FnOnce};
    /// Futures and streams resolved by C callbacks.
    pub mod future {
        pub use crate::future::{CallbackFuture, Cancelled, Completion, channel};
        #[cfg(feature = "stream")]
        pub use crate::future::{CallbackStream, Sender, stream_channel};
    }
    /// The `on_panic` policies.
    pub mod policy {
        pub use crate::policy::{
            Abort, Policy, ReportAndFallback, Resume, ResumeOrFallback, Unwind,
        };
    }
    /// A slot-less callback type's `scope_thread_local`.
    pub mod thread_local_scope {
        pub use crate::thread_local_scope::{
            ParkedSlot, Parking, call_mut, call_ref, parked, refuse_unparked, scope, try_scope,
        };
        pub use std::thread_local;
    }
    /// The threading contracts.
    pub mod threading {
        pub use crate::threading::{AnyThread, CallerThread, HomeThread, Threading};
    }
    pub use crate::returns::{
        CallbackReturn, DeclaredFlow, DeclaredReturn, Fallback, FlowReturn, PlainFlow, PlainReturn,
        SafeFnPromise, end_error, end_error_unless, fallback_on_error, flow, no_error, no_fallback,
    };
    /// The raise exit.
    pub mod raise {
        pub use crate::raise::{Raise, call_fn_fetch_raising, call_fn_raising, raise_returned};
    }
    /// Callback sets.
    pub mod set {
        pub use crate::set::{destroy_entry, scope};
    }
    pub use crate::fallback_reason::with_reason;
    pub use crate::trampoline::{Failed, call_fn, call_fn_fetch, call_slotless};
    pub use crate::user_data::{BoxedUserData, CountedUserData};
    pub use crate::user_data::{
        FetchedHolder, FetchedUserData, SendUserData, UserDataParam, UserDataSlot,
        check_send_fn_user_data,
    };
    pub use core;
    pub use ffi_callback_macros::__preset_promises;
}

/// Declares a binding's defaults for `#[callback]` once: a preset is a
/// macro that every `#[callback(preset = name)]` hands its item to, and that
/// applies the preset's options before the callback's own (which win).
///
/// ```
/// use std::ffi::{c_int, c_void};
/// use ffi_callback::callback;
///
/// ffi_callback::preset! {
///     /// libgit2's conventions: safe fn pointer types, and `GIT_EUSER` after a panic.
///     pub(crate) git_callback = (unsafe(safe_fn), fallback = -7);
/// }
///
/// // `unsafe(..)`: this callback makes the preset's `unsafe` promise.
/// #[callback(preset = unsafe(git_callback))]
/// extern "C" fn progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
///     seen.push(done);
///     0
/// }
///
/// // The safe fn-pointer type the -sys crate declares:
/// let cb: extern "C" fn(c_int, *mut c_void) -> c_int = progress;
/// let mut seen = Vec::new();
/// ffi_callback::resume_panics(|| cb(3, progress::user_data(&mut seen)));
/// assert_eq!(seen, [3]);
/// ```
///
/// The preset is an ordinary `macro_rules!` macro in the module where it is
/// declared, usable by path (`preset = crate::callbacks::git_callback`)
/// within the crate; its visibility is private or `pub(crate)`. A binding
/// exports one for its users with `#[macro_export]`: they name it at the
/// binding's root (`preset = binding::git_callback`); declared in a module,
/// it keeps its path there too when it has a visibility, and at the
/// binding's own root it is written without one.
///
/// An `unsafe` in a preset's options (`unsafe(safe_fn)`, an `unsafe { }`
/// block in an expression) promises something about each callback that
/// uses it: that only C calls its safe fn with user data made for it, that
/// its parameters point where the block reads. So each use makes the
/// promise itself, and says so: `#[callback(preset = unsafe(name))]`
/// (without the `unsafe`, such a preset is refused; with it, a preset
/// without `unsafe` is). `unsafe_code` reports the promise at that
/// `unsafe`, in the crate whose callback it is, even when the preset comes
/// from another crate (exported with `#[macro_export]`), and also where the
/// preset is declared: a `#![forbid(unsafe_code)]` crate can neither
/// declare nor use such a preset.
#[macro_export]
macro_rules! preset {
    ($($tokens:tt)*) => {
        $crate::__preset_with_dollar! { ($) $($tokens)* }
    };
}

/// `preset!`'s import of the preset by its name (`$vis use $name;`), so
/// that it has a path in its module, under the preset's `#[cfg]`s; none
/// for a `#[macro_export]` one (`local_inner_macros` or not) declared
/// without a visibility, as at the crate root, where `#[macro_export]`
/// puts it already (the import would clash with it, E0255). One declared
/// with a visibility, in a module, keeps its import and its path there.
#[doc(hidden)]
#[macro_export]
macro_rules! __preset_use {
    ([$($vis:tt)*] $name:ident [$(#[$cfg:meta])*]) => {
        $(#[$cfg])*
        #[allow(unused_imports)]
        $($vis)* use $name;
    };
    ([] $name:ident [$($cfgs:tt)*] [macro_export $($args:tt)*] $($rest:tt)*) => {};
    ([$($vis:tt)*] $name:ident [$($cfgs:tt)*] [cfg $($args:tt)*] $($rest:tt)*) => {
        $crate::__preset_use! { [$($vis)*] $name [$($cfgs)* #[cfg $($args)*]] $($rest)* }
    };
    ([$($vis:tt)*] $name:ident [$($cfgs:tt)*] [$($attr:tt)*] $($rest:tt)*) => {
        $crate::__preset_use! { [$($vis)*] $name [$($cfgs)*] $($rest)* }
    };
}

/// `preset!`'s body, given a `$` token to write the inner macro's
/// repetitions with.
#[doc(hidden)]
#[macro_export]
macro_rules! __preset_with_dollar {
    // The visibility as tokens, none when none is written (a `vis`
    // fragment, even empty, would not match `[]` in `__preset_use`).
    (($d:tt) $(#[$($attr:tt)*])* $name:ident = ($($options:tt)*) $(;)?) => {
        $crate::__preset_with_dollar! { @ ($d) [] $(#[$($attr)*])* $name = ($($options)*) }
    };
    (($d:tt) $(#[$($attr:tt)*])* $vis:vis $name:ident = ($($options:tt)*) $(;)?) => {
        $crate::__preset_with_dollar! { @ ($d) [$vis] $(#[$($attr)*])* $name = ($($options)*) }
    };
    (@ ($d:tt) [$($vis:tt)*] $(#[$($attr:tt)*])* $name:ident = ($($options:tt)*)) => {
        $(#[$($attr)*])*
        #[allow(unused_macros)]
        macro_rules! $name {
            ([$d($d args:tt)*] $d($d item:tt)*) => {
                #[$crate::callback(__preset($($options)*), $d($d args)*)]
                $d($d item)*
            };
        }
        $crate::__preset_use! { [$($vis)*] $name [] $([$($attr)*])* }
        // The options' `unsafe` tokens, reported under `unsafe_code` here:
        // inside `$name`'s body they are this crate's expansion, which
        // rustc does not lint.
        $crate::__private::__preset_promises! { [$crate] $($options)* }
    };
}
