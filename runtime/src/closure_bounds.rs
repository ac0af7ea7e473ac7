//! Compile-time checks the expansion calls with the user's spans, so that a
//! type the macro cannot see through is reported on the user's token with a
//! message that names the rule.

use std::ptr::NonNull;

/// A closure that captures nothing (it is `Copy` and, checked separately,
/// zero-sized), as the callback types without a user-data slot require.
#[diagnostic::on_unimplemented(
    message = "this closure captures values, but the callback type has no user-data slot to carry them",
    label = "captures values",
    note = "a callback type without a `#[user_data]` parameter can only call closures that \
            capture nothing; if the C function takes a `void *` for user data, mark that \
            parameter `#[user_data]`"
)]
#[doc(hidden)]
pub trait NoCaptures: Copy {}

// `do_not_recommend`: report the closure against `NoCaptures` (and its
// message above), not the capture against `Copy`.
#[diagnostic::do_not_recommend]
impl<T: Copy> NoCaptures for T {}

struct ZeroSized<F>(F);

impl<F> ZeroSized<F> {
    const CHECK: () = assert!(
        size_of::<F>() == 0,
        "ffi-callback: this callback type has no user-data slot, so its closure must capture \
         nothing (be zero-sized); if the C function passes a `void *` for user data, mark that \
         parameter `#[user_data]`"
    );
}

/// Post-monomorphization check that `F` is zero-sized.
#[doc(hidden)]
#[inline(always)]
pub const fn require_zero_sized<F: NoCaptures>() {
    let () = ZeroSized::<F>::CHECK;
}

/// A reference to a value of the zero-sized `Copy` type `F`, for the
/// trampoline of a callback type without a user-data slot.
///
/// Sound because a zero-sized value has no bytes, any aligned non-null
/// address holds it, and `Copy` makes a copy of the value the holder took
/// as good as the original (no `Drop`, no identity).
#[doc(hidden)]
#[inline(always)]
pub fn conjure_zero_sized<'a, F: NoCaptures>() -> &'a F {
    require_zero_sized::<F>();
    // SAFETY: see above; the holder's constructor took a value of `F`, so
    // the type is inhabited.
    unsafe { NonNull::<F>::dangling().as_ref() }
}

/// A closure for a callback type declared `send`: the C library may call it
/// or drop it on another thread.
#[diagnostic::on_unimplemented(
    message = "this closure cannot be sent to another thread, but its callback type is declared `send`",
    label = "captures something that must stay on this thread",
    note = "a `send` callback may be called or dropped on another thread by the C library, so \
            everything the closure captures must be `Send`: use `Arc` for `Rc`, `Mutex` or \
            atomics for `Cell`/`RefCell`, or drop `send` if the C library calls back on this \
            thread only"
)]
#[doc(hidden)]
pub trait SendClosure {}

// `do_not_recommend`: report the closure against this trait's message, not
// rustc's generic one about `Send` (which does not say why it is needed).
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
pub trait SyncClosure {}

#[diagnostic::do_not_recommend]
impl<T: Send + Sync> SyncClosure for T {}
