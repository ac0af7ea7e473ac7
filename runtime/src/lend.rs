//! A callback type's borrowed constructors (`scope`, `try_scope`,
//! `scope_once`), written once here over [`CallbackType`] rather than once
//! per type: each type's method is a single call into these, so the
//! compiler checks their bodies (and the closures in them) once, not once
//! per `#[callback]` type.

use crate::closure_bounds::{OnceTrampoline, Trampoline};
use crate::holder::{CallbackType, Holder};
use crate::once::OnceHolder;
use crate::panic::guarded;
use crate::user_data::UserDataSlot;

/// `Name::scope`: lends `f` to C for the duration of `call`, under the
/// type's guard (a kept panic is resumed when `call` returns).
#[doc(hidden)]
#[inline]
pub fn scope<C, O, T>(f: C::Closure, call: impl FnOnce(C::Function, C::UserData) -> T) -> T
where
    C: CallbackType + Trampoline<O>,
{
    let holder = Holder::<C::Closure, C::Threading>::new(f);
    // SAFETY: handed out only with this holder, lent by `Holder::new`,
    // which outlives `call`; `CallbackType` (an unsafe trait) promises the
    // trampoline is for it.
    let function = unsafe { <C as Trampoline<O>>::trampoline::<true>() };
    guarded::<C::Policy, _>(|| call(function, C::UserData::from_ptr(holder.as_ptr())))
}

/// `Name::try_scope`: [`scope`] under `try_resume`, which also returns the
/// first `Err` of the closure, an `E` (the closure's error type, as
/// `CallbackReturn` or `FlowReturn` gives it).
#[doc(hidden)]
#[inline]
pub fn try_scope<C, O, T, E: 'static>(
    f: C::Closure,
    call: impl FnOnce(C::Function, C::UserData) -> T,
) -> Result<T, E>
where
    C: CallbackType + Trampoline<O>,
{
    let holder = Holder::<C::Closure, C::Threading>::new(f);
    // SAFETY: as in `scope`.
    let function = unsafe { <C as Trampoline<O>>::trampoline::<true>() };
    crate::try_resume(|| call(function, C::UserData::from_ptr(holder.as_ptr())))
}

/// `Name::scope_once`: [`scope`] for an `FnOnce`, which C may call at most
/// once.
#[doc(hidden)]
#[inline]
pub fn scope_once<C, O, T>(f: C::Closure, call: impl FnOnce(C::Function, C::UserData) -> T) -> T
where
    C: CallbackType + OnceTrampoline<O>,
{
    let holder = OnceHolder::<C::Closure, C::Threading>::new(f);
    // SAFETY: handed out only with this once-holder, which outlives `call`;
    // `CallbackType` promises the once-trampoline is for it.
    let function = unsafe { <C as OnceTrampoline<O>>::trampoline() };
    guarded::<C::Policy, _>(|| call(function, C::UserData::from_ptr(holder.as_ptr())))
}
