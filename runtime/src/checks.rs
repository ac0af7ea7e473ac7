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
         nothing (be zero-sized); use a C API with a user-data parameter to pass state"
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
