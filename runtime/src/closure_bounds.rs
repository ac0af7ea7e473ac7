//! The bounds a callback type puts on its closures, as traits whose
//! `#[diagnostic::on_unimplemented]` messages name the rule, so that a
//! closure that does not fit the declared contract is reported on the
//! user's token with the reason.

use crate::holder::CallbackType;

/// A closure for a callback type without a user-data slot: its trampoline
/// recreates it from nothing, on any thread, at any time, so it must
/// capture nothing (be `Copy` and, checked separately, zero-sized), and be
/// `Send + Sync + 'static` (a zero-sized capture may still prove something:
/// a main-thread marker, a lock token, a lifetime).
#[diagnostic::on_unimplemented(
    message = "this closure cannot be recreated from nothing, but the callback type has no user-data slot",
    label = "captures values, or is not `Copy + Send + Sync + 'static`",
    note = "a callback type without a `#[user_data]` parameter calls a closure it recreates \
            from nothing, on any thread, at any time: the closure must capture nothing (and so \
            be `Copy + Send + Sync + 'static`); if the C function takes a `void *` for user \
            data, mark that parameter `#[user_data]`; if it has none (`qsort`, `bsearch`), use \
            its variant with one (`qsort_r`) or keep the state in a `thread_local!` or `static`"
)]
#[doc(hidden)]
pub trait NoCaptures: Copy + Send + Sync + 'static {}

// `do_not_recommend`: report the closure against `NoCaptures` (and its
// message above), not the capture against `Copy`.
// `do_not_recommend` is Rust 1.85; older compilers ignore it (with a warning).
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<T: Copy + Send + Sync + 'static> NoCaptures for T {}

struct ZeroSized<F>(F);

impl<F> ZeroSized<F> {
    const CHECK: () = assert!(
        std::mem::size_of::<F>() == 0,
        "ffi-callback: this callback type has no user-data slot, so its closure must capture \
         nothing (be zero-sized); if the C function passes a `void *` for user data, mark that \
         parameter `#[user_data]`; if it has none (`qsort`, `bsearch`), use its variant with \
         one (`qsort_r`) or keep the state in a `thread_local!` or `static`"
    );
}

/// Post-monomorphization check that `F` is zero-sized.
#[doc(hidden)]
#[inline(always)]
pub const fn require_zero_sized<F: NoCaptures>() {
    let () = ZeroSized::<F>::CHECK;
}

/// A copy of a value of the zero-sized `Copy + Send + Sync + 'static` type
/// `F`, for the trampoline of a callback type without a user-data slot.
///
/// # Safety
/// A value of `F` has been constructed (the type is inhabited): the
/// trampoline that calls this is only reachable through a holder that took
/// one. Given that, a zero-sized `Copy` value has no bytes, so any copy is
/// as good as the original, and `Send + Sync + 'static` let it appear on
/// any thread at any time.
#[doc(hidden)]
#[inline(always)]
pub(crate) unsafe fn recreate_zero_sized<F: NoCaptures>() -> F {
    require_zero_sized::<F>();
    // SAFETY: `F` is zero-sized and inhabited (by the caller's promise), so
    // reading it from a dangling, aligned pointer reads no bytes.
    unsafe { std::ptr::NonNull::<F>::dangling().as_ptr().read() }
}

/// A closure for a callback type declared `send`: the C library may call it
/// or drop it on another thread.
#[diagnostic::on_unimplemented(
    message = "this closure cannot be sent to another thread, but its callback type is declared `send`",
    label = "captures something that must stay on this thread",
    note = "a `send` callback may be called or dropped on another thread by the C library, so \
            everything the closure captures must be `Send`: use `Arc` for `Rc`, `Mutex` or \
            atomics for `Cell`/`RefCell`; if the C library calls back on this thread only but \
            may destroy the callback on another (GLib sources), declare the type `local` \
            instead, which refuses calls from other threads and never drops the closure there"
)]
#[doc(hidden)]
pub trait SendClosure: Send {}

// `do_not_recommend`: report the closure against this trait's message, not
// rustc's generic one about `Send` (which does not say why it is needed).
// `do_not_recommend` is Rust 1.85; older compilers ignore it (with a warning).
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<T: Send> SendClosure for T {}

/// A closure for a callback type declared `sync`: the C library may call it
/// from several threads at once.
#[diagnostic::on_unimplemented(
    message = "this closure cannot be shared between threads, but its callback type is declared `sync`",
    label = "captures something that is not `Send + Sync`",
    note = "a `sync` callback may run on several threads at once, so everything the closure \
            captures must be `Send + Sync`: use `Arc` for `Rc`, `Mutex` or atomics for \
            `Cell`/`RefCell`"
)]
#[doc(hidden)]
pub trait SyncClosure: Send + Sync {}

// `do_not_recommend` is Rust 1.85; older compilers ignore it (with a warning).
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<T: Send + Sync> SyncClosure for T {}

/// A closure for a callback type declared `reentrant, send`: it may be
/// entered again while it runs, from another thread.
#[diagnostic::on_unimplemented(
    message = "this closure cannot be shared between threads, but its callback type is declared `reentrant, send`",
    label = "captures something that is not `Send + Sync`",
    note = "a `reentrant, send` callback may be entered again while it runs, and on another \
            thread, so the calls share the closure across threads: everything it captures must \
            be `Send + Sync` (use `Mutex` or atomics for `Cell`/`RefCell`)"
)]
#[doc(hidden)]
pub trait ReentrantSendClosure: Send + Sync {}

// `do_not_recommend` is Rust 1.85; older compilers ignore it (with a warning).
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<T: Send + Sync> ReentrantSendClosure for T {}

/// The closure `F` of a callback type fits the type's C signature as an
/// `FnMut` returning `O` (and the type's contract): the macro implements
/// it once per type, with the closure bound, and every constructor says
/// `where Self: Trampoline<O>`. `trampoline` is the type's trampoline for
/// such closures.
///
/// The function-pointer type is the one of [`CallbackType`], named only
/// under the method's own `where Self: CallbackType`: a bound
/// `Self: Trampoline<O>` then brings no `CallbackType` assumption with it,
/// so `<Name<F> as CallbackType>::Function` still normalises to the type's
/// fn-pointer type through its impl, and a constructor needs no
/// `Function = ..` equality in its bound (which costs every constructor of
/// every type compile time).
///
/// # Safety
/// `trampoline` returns the trampoline of `Self`'s callback type for
/// closures `F` (its `CallbackType::Closure`) under its contract: it
/// treats the user data as a holder of `F` (lent by `Holder::new` if
/// `LENT`, boxed otherwise). The constructors pair it with such a holder
/// on this promise alone: an impl returning another closure's trampoline
/// would have C call one closure's code on another's memory. Only the
/// macro implements it.
#[diagnostic::on_unimplemented(
    message = "this closure does not fit the callback type `{Self}`",
    label = "the closure for `{Self}`",
    note = "see the callback type's docs for the closure it takes: the C parameters minus \
            the `#[user_data]` one, returning the C return type (or `Result<_, E>`)"
)]
#[doc(hidden)]
pub unsafe trait Trampoline<O> {
    /// What `try_scope` returns for the first `Err` of the closure.
    type Error: 'static;
    /// The trampoline; `LENT` for holders lent by `new` and `scope`, whose
    /// leave need not look for a destroy that came during the call.
    ///
    /// # Safety
    /// The trampoline trusts its user data: call this only to hand it out
    /// with a holder of this type (lent by `Holder::new` if `LENT`, boxed
    /// otherwise); it may be a safe fn, `unsafe(safe_fn)`.
    unsafe fn trampoline<const LENT: bool>() -> <Self as CallbackType>::Function
    where
        Self: CallbackType;
}

/// [`Trampoline`] for the once-trampoline: `F` is an `FnOnce` returning `O`.
///
/// # Safety
/// As for [`Trampoline`], for a once-holder of `F`.
#[diagnostic::on_unimplemented(
    message = "this closure does not fit the callback type `{Self}` as a once-callback",
    label = "the closure for `{Self}`",
    note = "see the callback type's docs for the closure it takes: an `FnOnce` of the C \
            parameters minus the `#[user_data]` one, returning the C return type (or \
            `Result<_, E>`)"
)]
#[doc(hidden)]
pub unsafe trait OnceTrampoline<O> {
    /// The once-trampoline.
    ///
    /// # Safety
    /// As for [`Trampoline::trampoline`].
    unsafe fn trampoline() -> <Self as CallbackType>::Function
    where
        Self: CallbackType;
}

/// The state of a callback set declared `send`: its entry points may be
/// called, and the state dropped, on another thread.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to another thread, but the callback set it implements is declared `send`",
    label = "holds something that must stay on this thread",
    note = "the C library may call a `send` set's entry points, and end the state, on another \
            thread, so the state must be `Send`: use `Arc` for `Rc`, `Mutex` or atomics for \
            `Cell`/`RefCell`"
)]
#[doc(hidden)]
pub trait SendState: Send {}

// `do_not_recommend` is Rust 1.85; older compilers ignore it (with a warning).
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<T: Send> SendState for T {}

/// The state of a `send` callback set with `&self` entry points: those may
/// run at once, from two threads.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shared between threads, but the `send` callback set it implements has `&self` entry points",
    label = "holds something that is not `Send + Sync`",
    note = "`&self` entry points may run at once, and under `send` on two threads, so the state \
            must be `Send + Sync` (`Mutex` or atomics for `Cell`/`RefCell`); or take `&mut self`, \
            whose calls never overlap"
)]
#[doc(hidden)]
pub trait SendSharedState: Send + Sync {}

// `do_not_recommend` is Rust 1.85; older compilers ignore it (with a warning).
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<T: Send + Sync> SendSharedState for T {}

/// The state of a callback set declared `sync`: its entry points may run on
/// several threads at once.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shared between threads, but the callback set it implements is declared `sync`",
    label = "holds something that is not `Send + Sync`",
    note = "a `sync` set's entry points may run on several threads at once, so the state must be \
            `Send + Sync`: use `Arc` for `Rc`, `Mutex` or atomics for `Cell`/`RefCell`"
)]
#[doc(hidden)]
pub trait SyncState: Send + Sync {}

// `do_not_recommend` is Rust 1.85; older compilers ignore it (with a warning).
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<T: Send + Sync> SyncState for T {}
