//! The holder of every `#[callback]` type with user data: the macro makes
//! the type's name an alias of [`Callback`] over a marker of its own
//! (`pub type ExecRow<F> = Callback<F, __ffi_ExecRow::ExecRow>`), which
//! carries what differs between types (the C signature's trampolines, the
//! slot, the contract). The constructors are written once here: the
//! compiler checks them once, not once per type (each a few generic
//! methods, type-checked, borrow-checked and written to the crate's
//! metadata whether called or not: issue 11, benches/RESULTS.md).

use crate::closure_bounds::{OnceTrampoline, Trampoline};
use crate::holder::CallbackType;
use crate::lend::Lent;
use crate::owned::{Boxed, Once};
use crate::panic::Site;
use crate::policy::Policy;
use crate::threading::Threading;
use crate::user_data::UserDataSlot;

/// What a `#[callback]` type's marker says about it.
///
/// # Safety
/// `destroy` returns this type's destroy-notify for boxed holders of `F`
/// (once-holders if `ONCE`); `Threading` and `Policy` are the type's, as its
/// trampolines (the [`KindTrampoline`] and [`KindOnceTrampoline`] impls)
/// assume them. Only the macro implements it.
#[doc(hidden)]
pub unsafe trait CallbackKind {
    /// The C function-pointer type (`ExecRowFn`).
    type Function: Copy;
    /// The C type of the user-data slot.
    type UserData: UserDataSlot;
    /// The destroy-notify type: the type's ABI, taking the slot.
    type Destroy: Copy;
    /// The threading contract.
    type Threading: Threading;
    /// The `on_panic` policy.
    type Policy: Policy;
    /// Names the type in messages.
    const SITE: &'static Site;
    /// The type's name as written, for `Debug`.
    const NAME: &'static str;
    /// The destroy-notify for a boxed holder of `F` (a once-holder if `ONCE`).
    fn destroy<F, const ONCE: bool>() -> Self::Destroy;
}

/// The trampolines of a `#[callback]` type for closures `F` returning `O`:
/// the closure's shape, stated by the macro's impl.
///
/// # Safety
/// As for [`Trampoline`], for holders of `F` under the kind's contract.
#[diagnostic::on_unimplemented(
    message = "this closure does not fit the callback type `{Self}`",
    label = "the closure for `{Self}`",
    note = "see the callback type's docs for the closure it takes: the C parameters minus \
            the `#[user_data]` one, returning the C return type (or `Result<_, E>`)"
)]
#[doc(hidden)]
pub unsafe trait KindTrampoline<F, O>: CallbackKind {
    /// What `try_scope` returns for the first `Err` of the closure.
    type Error: 'static;
    /// As [`Trampoline::trampoline`].
    ///
    /// # Safety
    /// As [`Trampoline::trampoline`].
    unsafe fn trampoline<const LENT: bool>() -> Self::Function;
}

/// [`KindTrampoline`] for the once-trampoline: `F` is an `FnOnce`
/// returning `O`.
///
/// # Safety
/// As for [`OnceTrampoline`].
#[diagnostic::on_unimplemented(
    message = "this closure does not fit the callback type `{Self}` as a once-callback",
    label = "the closure for `{Self}`",
    note = "see the callback type's docs for the closure it takes: an `FnOnce` of the C \
            parameters minus the `#[user_data]` one, returning the C return type (or \
            `Result<_, E>`)"
)]
#[doc(hidden)]
pub unsafe trait KindOnceTrampoline<F, O>: CallbackKind {
    /// As [`OnceTrampoline::trampoline`].
    ///
    /// # Safety
    /// As [`OnceTrampoline::trampoline`].
    unsafe fn trampoline() -> Self::Function;
}

/// A `#[callback]` type's holder, borrowed (`new`, `scope`, `scope_once`)
/// or owned (`boxed`, `once`), of the closure `F`; `K` is the type's marker
/// (second: rustc points at the closure for a bound on `Self` it fails).
/// The type's own name is an alias of it, `ExecRow<F>`, which is how it is
/// written: `ExecRow::scope(f, |function, user_data| ..)`.
pub struct Callback<F, K: CallbackKind> {
    lent: Lent<F, K::Threading, K::Function>,
}

// SAFETY: `K`'s promises are the type's: its trampolines and destroys are
// for holders of `F` under `K::Threading` and `K::Policy`.
unsafe impl<K: CallbackKind, F> CallbackType for Callback<F, K> {
    type Function = K::Function;
    type UserData = K::UserData;
    type Destroy = K::Destroy;
    type Closure = F;
    type Threading = K::Threading;
    type Policy = K::Policy;
    const SITE: &'static Site = K::SITE;
}

// SAFETY: `K`'s trampoline for `F`, as `KindTrampoline` promises.
unsafe impl<K: KindTrampoline<F, O>, F, O> Trampoline<O> for Callback<F, K> {
    type Error = K::Error;
    #[inline]
    unsafe fn trampoline<const LENT: bool>() -> <Self as CallbackType>::Function {
        // SAFETY: forwarded.
        unsafe { K::trampoline::<LENT>() }
    }
}

// SAFETY: `K`'s once-trampoline for `F`, as `KindOnceTrampoline` promises.
unsafe impl<K: KindOnceTrampoline<F, O>, F, O> OnceTrampoline<O> for Callback<F, K> {
    #[inline]
    unsafe fn trampoline() -> <Self as CallbackType>::Function {
        // SAFETY: forwarded.
        unsafe { K::trampoline() }
    }
}

/// Whatever the closure (which need not be `Debug`): a struct holding a
/// callback can derive it.
impl<K: CallbackKind, F> core::fmt::Debug for Callback<F, K> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.debug_struct(K::NAME).finish_non_exhaustive()
    }
}

impl<K: CallbackKind, F> Callback<F, K> {
    /// Holds `f` for C: pass [`function`](Self::function) and
    /// [`user_data`](Self::user_data), and keep the holder alive and
    /// unmoved while C may call it, and end it where it lies (out of
    /// scope: `drop(holder)` moves it first); [`scope`](Self::scope)
    /// does it all.
    #[inline]
    pub fn new<O>(f: F) -> Self
    where
        Self: Trampoline<O>,
    {
        // SAFETY: this type's trampoline for `F`, lent (`Lent` keeps it
        // with this holder only).
        let function = unsafe { <Self as Trampoline<O>>::trampoline::<true>() };
        // SAFETY: `function` is the trampoline for this holder, lent.
        let lent = unsafe { Lent::new(f, function, K::SITE) };
        Self { lent }
    }

    /// The trampoline to pass to C with [`user_data`](Self::user_data).
    #[inline]
    pub fn function(&self) -> K::Function {
        self.lent.function()
    }

    /// The user data to pass to C: a pointer to this holder.
    #[inline]
    pub fn user_data(&self) -> K::UserData {
        K::UserData::from_ptr(self.lent.as_ptr())
    }

    /// Runs `call` with the trampoline and user data for `f`, which
    /// C may call until `call` returns; a kept panic is resumed then.
    #[inline]
    pub fn scope<O, T>(f: F, call: impl FnOnce(K::Function, K::UserData) -> T) -> T
    where
        Self: Trampoline<O>,
    {
        crate::lend::scope::<Self, O, T>(f, call)
    }

    /// [`scope`](Self::scope) that also returns the first `Err` of
    /// a closure returning `Result<_, E>`.
    #[inline]
    pub fn try_scope<O, T>(
        f: F,
        call: impl FnOnce(K::Function, K::UserData) -> T,
    ) -> Result<T, <Self as Trampoline<O>>::Error>
    where
        Self: Trampoline<O>,
    {
        crate::lend::try_scope::<Self, O, T, <Self as Trampoline<O>>::Error>(f, call)
    }

    /// Boxes `f` for a C library that keeps the callback: with a
    /// destroy-notify, hand it over (`into_raw()`); without one, keep
    /// the `Boxed` and pass its `function()` and `user_data()`.
    #[inline]
    pub fn boxed<O>(f: F) -> Boxed<Self>
    where
        Self: Trampoline<O>,
        F: 'static,
    {
        // SAFETY: this type's trampoline for boxed holders, and its destroy.
        unsafe {
            let function = <Self as Trampoline<O>>::trampoline::<false>();
            Boxed::from_closure(f, function, K::destroy::<F, false>())
        }
    }

    /// Boxes the `FnOnce` `f` for a C library that calls it once:
    /// `into_raw()`, or `into_raw_with_destroy()` when a
    /// destroy-notify follows.
    #[inline]
    pub fn once<O>(f: F) -> Once<Self>
    where
        Self: OnceTrampoline<O>,
        F: 'static,
    {
        // SAFETY: this type's once-trampoline and once-destroy.
        unsafe {
            let function = <Self as OnceTrampoline<O>>::trampoline();
            Once::from_closure(f, function, K::destroy::<F, true>())
        }
    }

    /// [`scope`](Self::scope) for the `FnOnce` `f`, which C may call
    /// at most once (a second call is refused).
    #[inline]
    pub fn scope_once<O, T>(f: F, call: impl FnOnce(K::Function, K::UserData) -> T) -> T
    where
        Self: OnceTrampoline<O>,
    {
        crate::lend::scope_once::<Self, O, T>(f, call)
    }

    /// The closure back.
    #[inline]
    pub fn into_inner(self) -> F {
        self.lent.into_inner()
    }
}
