//! What a callback hands back to C: its own value, the fallback after a
//! panic or a refused call, and, for callbacks returning `Result`, the value
//! C receives for an `Err`.

use std::convert::Infallible;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::panic::{ErrorDrop, Site, drop_error_caught};

/// The value a callback returns to C after a panic or a refused call, unless
/// `#[callback(fallback = EXPR)]` names one.
///
/// Zero for integers and floats, `false`, null for raw pointers, `None` for
/// `Option<_>` (a nullable fn pointer or `NonNull`), `()`. Implement it for
/// your own `#[repr(C)]` return types, or give `fallback = EXPR` on the
/// callback. Mind what the value means to C: zero is "success" to some APIs
/// (OpenSSL's ALPN callback then reads an output it was never given), so
/// name the failure value explicitly where zero is not one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no fallback value to return to C after a panic",
    label = "no `ffi_callback::Fallback` value for this return type",
    note = "name the value C should receive after a panic or a refused call: \
            `#[callback(fallback = EXPR)]`, or implement `ffi_callback::Fallback` for `{Self}` \
            (with `on_panic = abort` or `unwind` nothing is returned after a panic, and no \
            fallback is needed)"
)]
pub trait Fallback {
    /// The value returned to C.
    fn fallback() -> Self;
}

macro_rules! zero_fallback {
    ($($ty:ty),* $(,)?) => {
        $(
            impl Fallback for $ty {
                #[inline]
                fn fallback() -> Self {
                    0 as $ty
                }
            }
        )*
    };
}

zero_fallback!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64
);

impl Fallback for bool {
    #[inline]
    fn fallback() -> Self {
        false
    }
}

impl Fallback for () {
    #[inline]
    fn fallback() -> Self {}
}

impl<T> Fallback for *mut T {
    #[inline]
    fn fallback() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> Fallback for *const T {
    #[inline]
    fn fallback() -> Self {
        std::ptr::null()
    }
}

impl<T> Fallback for Option<T> {
    #[inline]
    fn fallback() -> Self {
        None
    }
}

/// What a callback's body or closure may return for a C function returning
/// `R`: `R` itself, or `Result<R, E>`, whose `Err(e)` gives C the callback's
/// `on_error` value (by default its fallback) and hands `e` to the thread's
/// `try_resume` / `try_scope` guard.
#[diagnostic::on_unimplemented(
    message = "this callback returns `{Self}`, but the C function returns `{R}`",
    label = "returns `{Self}`, not `{R}`",
    note = "a callback returns the C type (`{R}`), or `Result<{R}, E>` to fail with an error \
            value that the Rust caller gets back from `try_resume`/`try_scope` (a closure for a \
            C `int` may also return `bool` or `Ordering`, or either in a `Result`); a closure that only panics needs its \
            return type written: `|..| -> {R} {{ panic!(..) }}`"
)]
pub trait CallbackReturn<R> {
    /// `Infallible` for a plain `R`.
    type Error: 'static;
    /// Splits the value into what C gets and the error, if any.
    fn into_result(self) -> Result<R, Self::Error>;
}

impl<R> CallbackReturn<R> for R {
    type Error = Infallible;
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn into_result(self) -> Result<R, Infallible> {
        Ok(self)
    }
}

impl<R, E: 'static> CallbackReturn<R> for Result<R, E> {
    type Error = E;
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn into_result(self) -> Result<R, E> {
        self
    }
}

/// What a closure may return for a callback type that has no value to give
/// C for an `Err` (`on_panic = abort` or `unwind`, and no `on_error`): the
/// C type itself, not a `Result`.
#[diagnostic::on_unimplemented(
    message = "this closure returns `{Self}`, but its callback type has no value to give C for an `Err`",
    label = "returns `{Self}`, not `{R}`",
    note = "with `on_panic = abort` or `unwind` there is no fallback value; a closure returning \
            `Result` needs the type to say what C receives for an `Err`: \
            `#[callback(error = E, on_error = EXPR)]` (EXPR may read the error as `e`)"
)]
pub trait PlainReturn<R>: CallbackReturn<R, Error = Infallible> {}

impl<R> PlainReturn<R> for R {}

/// For policies that never return a fallback (`abort`, `unwind`): their
/// catch never reports a failure, so this is never called.
/// What a closure of a callback type declared with `error = E` may return:
/// the C type itself (it never fails) or `Result<R, E>`. `on_error` reads
/// the error as `&E` either way.
#[diagnostic::on_unimplemented(
    message = "this closure returns `{Self}`, but its callback type's closures return `{R}` or `Result<{R}, {E}>`",
    label = "returns `{Self}`",
    note = "the type's `error = {E}` names the one error its closures fail with, the error \
            `on_error` reads and `try_resume`/`try_scope` return: convert yours (`.map_err(..)`, \
            or `?` with a `From` impl)"
)]
pub trait DeclaredReturn<R, E>: CallbackReturn<R> {
    /// The error as the type declared it.
    fn declared_error(error: &Self::Error) -> &E;
}

impl<R, E> DeclaredReturn<R, E> for R {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn declared_error(error: &Infallible) -> &E {
        match *error {}
    }
}

impl<R, E: 'static> DeclaredReturn<R, E> for Result<R, E> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn declared_error(error: &E) -> &E {
        error
    }
}

#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<E> DeclaredReturn<std::ffi::c_int, E> for bool {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn declared_error(error: &Infallible) -> &E {
        match *error {}
    }
}

/// The `on_error` of a callback whose body does not return `Result`: its
/// error type is `Infallible`, so this is never called.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn no_error<R>(error: &Infallible) -> R {
    match *error {}
}

/// `keep_error = false`: the body's or closure's `output`, with an `Err`
/// ended here, inside the call: C gets `on_error`'s value and the error is
/// dropped (its `Drop`, like `on_error`, is the callback's code, under its
/// catch). Nothing is kept for a guard, reported or poisoned: the `Ok` path
/// is the plain call's. `site` names the callback in a report.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn end_error<O: CallbackReturn<R>, R>(
    site: &'static Site,
    output: O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> R {
    match output.into_result() {
        Ok(value) => value,
        Err(error) => ended_error(site, error, on_error),
    }
}

/// `keep_error = EXPR`: [`end_error`] for the errors `keep` says no to;
/// the others stay `Err`, for the runtime to keep as usual.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn end_error_unless<O: CallbackReturn<R>, R>(
    site: &'static Site,
    output: O,
    keep: impl FnOnce(&O::Error) -> bool,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, O::Error> {
    match output.into_result() {
        Ok(value) => Ok(value),
        Err(error) => end_or_keep(site, error, keep, on_error),
    }
}

#[cold]
#[inline(never)]
fn end_or_keep<E, R>(
    site: &'static Site,
    error: E,
    keep: impl FnOnce(&E) -> bool,
    on_error: impl FnOnce(&E) -> R,
) -> Result<R, E> {
    let (error, kept) = read_error(site, error, keep, ErrorDrop::KeepErrorPanicked);
    if kept {
        Err(error)
    } else {
        Ok(ended_error(site, error, on_error))
    }
}

#[cold]
#[inline(never)]
fn ended_error<E, R>(site: &'static Site, error: E, on_error: impl FnOnce(&E) -> R) -> R {
    // Without an `on_error`, C gets the fallback, which may read `why`.
    crate::fallback_reason::note(std::borrow::Cow::Borrowed(
        crate::fallback_reason::RETURNED_ERR,
    ));
    let (error, value) = read_error(site, error, on_error, ErrorDrop::OnErrorPanicked);
    crate::fallback_reason::forget();
    // Not while unwinding: a panic of its `Drop` is the callback's, for its
    // policy, with only `value` (a C type) live.
    drop(error);
    value
}

/// `read(&error)`, user code (`on_error`, `keep_error`'s EXPR), and the
/// error back. If it panics, the error is dropped first, under a catch (a
/// panic of that drop is reported and disposed of), and then the panic
/// goes on to the callback's policy: dropped while that panic unwinds, a
/// panicking `Drop` would abort the process with no word about the callback
/// (as `panic::fail` does).
fn read_error<E, T>(
    site: &'static Site,
    error: E,
    read: impl FnOnce(&E) -> T,
    why: ErrorDrop,
) -> (E, T) {
    match catch_unwind(AssertUnwindSafe(|| read(&error))) {
        Ok(value) => (error, value),
        Err(payload) => {
            drop_error_caught(site, error, why);
            resume_unwind(payload)
        }
    }
}

/// The `on_error` of a callback without one: C gets the fallback. Its own
/// fn rather than a closure in each trampoline, so that every callback
/// with the same error and C type shares it.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn fallback_on_error<E, R>(fallback: fn() -> R) -> impl FnOnce(&E) -> R {
    move |_| fallback()
}

#[doc(hidden)]
#[cold]
#[inline(never)]
pub fn no_fallback<R>() -> R {
    unreachable!("ffi-callback: this policy never returns a fallback value")
}

/// Implemented, with the span of the user's `unsafe`, by every callback
/// written with `#[callback(unsafe(safe_fn))]`: the `unsafe_code` lint then
/// sees the opt-in as the user's own `unsafe`, as it sees
/// `#[unsafe(no_mangle)]`.
///
/// # Safety
/// Implementing it is the promise `unsafe(safe_fn)` stands for: every call
/// of the callback's safe fn passes user data made for it.
#[doc(hidden)]
pub unsafe trait SafeFnPromise {}

/// A closure may return `bool` for a C `int` used as a boolean (GLib's
/// `gboolean`, Windows' `BOOL`): `true` is `1`, `false` is `0`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl CallbackReturn<std::ffi::c_int> for bool {
    type Error = Infallible;
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn into_result(self) -> Result<std::ffi::c_int, Infallible> {
        Ok(std::ffi::c_int::from(self))
    }
}

// Not offered as a hint when another type fails to be a plain return.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl PlainReturn<std::ffi::c_int> for bool {}

/// A comparator's closure may return `Ordering` for the C `int` of
/// `qsort`, `bsearch` or a sqlite collation: `Less` is `-1`, `Equal` `0`,
/// `Greater` `1`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl CallbackReturn<std::ffi::c_int> for std::cmp::Ordering {
    type Error = Infallible;
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn into_result(self) -> Result<std::ffi::c_int, Infallible> {
        Ok(self as std::ffi::c_int)
    }
}

#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl PlainReturn<std::ffi::c_int> for std::cmp::Ordering {}

#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<E> DeclaredReturn<std::ffi::c_int, E> for std::cmp::Ordering {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn declared_error(error: &Infallible) -> &E {
        match *error {}
    }
}

/// What a closure returns for a callback type (or a set's entry point)
/// declared with `on_continue = EXPR, on_break = EXPR`: `ControlFlow<()>`,
/// or `Result<ControlFlow<()>, E>`; C receives the declared value for each
/// (GLib's `G_SOURCE_CONTINUE` and `G_SOURCE_REMOVE`, sqlite's 0 and 1).
#[diagnostic::on_unimplemented(
    message = "this closure returns `{Self}`, but its callback declares `on_continue` and \
               `on_break`: it returns `ControlFlow<()>`",
    label = "returns `{Self}`, not `ControlFlow<()>`",
    note = "C receives the `on_continue` value for `ControlFlow::Continue(())` and the \
            `on_break` value for `ControlFlow::Break(())`; a closure that can fail returns \
            `Result<ControlFlow<()>, E>`"
)]
pub trait FlowReturn {
    /// `Infallible` for a plain `ControlFlow<()>`.
    type Error: 'static;
    /// Splits the value into the flow and the error, if any.
    fn into_flow(self) -> Result<ControlFlow<()>, Self::Error>;
}

impl FlowReturn for ControlFlow<()> {
    type Error = Infallible;
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn into_flow(self) -> Result<ControlFlow<()>, Infallible> {
        Ok(self)
    }
}

impl<E: 'static> FlowReturn for Result<ControlFlow<()>, E> {
    type Error = E;
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn into_flow(self) -> Result<ControlFlow<()>, E> {
        self
    }
}

/// [`FlowReturn`] for a callback that has no value to give C for an `Err`
/// (`on_panic = abort` or `unwind`, and no `on_error`).
#[diagnostic::on_unimplemented(
    message = "this closure returns `{Self}`, but its callback has no value to give C for an \
               `Err`",
    label = "returns `{Self}`, not `ControlFlow<()>`",
    note = "with `on_panic = abort` or `unwind` there is no fallback value; a closure returning \
            `Result` needs the callback to say what C receives for an `Err`: \
            `#[callback(error = E, on_error = EXPR)]`"
)]
pub trait PlainFlow: FlowReturn<Error = Infallible> {}

impl PlainFlow for ControlFlow<()> {}

/// [`FlowReturn`] for a callback declared with `error = E`:
/// `ControlFlow<()>` or `Result<ControlFlow<()>, E>`.
#[diagnostic::on_unimplemented(
    message = "this closure returns `{Self}`, but its callback's closures return \
               `ControlFlow<()>` or `Result<ControlFlow<()>, {E}>`",
    label = "returns `{Self}`",
    note = "the callback's `error = {E}` names the one error its closures fail with, the error \
            `on_error` reads: convert yours (`.map_err(..)`, or `?` with a `From` impl)"
)]
pub trait DeclaredFlow<E>: FlowReturn {
    /// The error as the callback declared it.
    fn declared_error(error: &Self::Error) -> &E;
}

impl<E> DeclaredFlow<E> for ControlFlow<()> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn declared_error(error: &Infallible) -> &E {
        match *error {}
    }
}

impl<E: 'static> DeclaredFlow<E> for Result<ControlFlow<()>, E> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn declared_error(error: &E) -> &E {
        error
    }
}

/// A flow-returning closure's value as C's: `on_continue()` or
/// `on_break()`, or the error.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn flow<O: FlowReturn, R>(
    value: O,
    on_continue: impl FnOnce() -> R,
    on_break: impl FnOnce() -> R,
) -> Result<R, O::Error> {
    match value.into_flow() {
        Ok(ControlFlow::Continue(())) => Ok(on_continue()),
        Ok(ControlFlow::Break(())) => Ok(on_break()),
        Err(error) => Err(error),
    }
}

/// `bool` and `Ordering` inside a `Result`, for a closure that can fail
/// (`Result<bool, E>` for a `gboolean`, `Result<Ordering, E>` for a
/// comparator): `Ok` converts as the plain value does, `Err` is an error
/// as for `Result<c_int, E>`. (A blanket `Result<T, E>` over every `T`
/// that converts would overlap `Result<R, E>`: written out per type.)
macro_rules! converted_in_result {
    ($($ty:ty),*) => {$(
        #[allow(unknown_or_malformed_diagnostic_attributes)]
        #[diagnostic::do_not_recommend]
        impl<E: 'static> CallbackReturn<std::ffi::c_int> for Result<$ty, E> {
            type Error = E;
            #[cfg_attr(not(debug_assertions), inline(always))]
            #[cfg_attr(debug_assertions, inline)]
            fn into_result(self) -> Result<std::ffi::c_int, E> {
                match self {
                    Ok(value) => match CallbackReturn::<std::ffi::c_int>::into_result(value) {
                        Ok(value) => Ok(value),
                        Err(never) => match never {},
                    },
                    Err(error) => Err(error),
                }
            }
        }

        #[allow(unknown_or_malformed_diagnostic_attributes)]
        #[diagnostic::do_not_recommend]
        impl<E: 'static> DeclaredReturn<std::ffi::c_int, E> for Result<$ty, E> {
            #[cfg_attr(not(debug_assertions), inline(always))]
            #[cfg_attr(debug_assertions, inline)]
            fn declared_error(error: &E) -> &E {
                error
            }
        }
    )*};
}

converted_in_result!(bool, std::cmp::Ordering);
