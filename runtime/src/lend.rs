//! A callback type's borrowed constructors (`scope`, `try_scope`,
//! `scope_once`), written once here over [`CallbackType`] rather than once
//! per type: each type's method is a single call into these, so the
//! compiler checks their bodies (and the closures in them) once, not once
//! per `#[callback]` type.

use std::ffi::c_void;

use crate::closure_bounds::{OnceTrampoline, Trampoline};
use crate::holder::{CallbackType, Holder};
use crate::once::OnceHolder;
use crate::panic::Site;
use crate::threading::{OwnerMayMove, Threading};
use crate::user_data::UserDataSlot;

/// A callback type's holder from `Name::new` with its trampoline, in one
/// field of `Callback`: the fields are private to the runtime,
/// so no code in the module that declared the type can pair the holder
/// of one closure with the trampoline of another (the trampoline's type
/// is the same for every closure).
#[doc(hidden)]
pub struct Lent<F, T: Threading, Function> {
    holder: Holder<F, T>,
    function: Function,
}

// SAFETY: a holder from `new` moves to another thread only before it is
// lent (C has no pointer to it yet, so no call runs on it), or while C may
// call it, in which case its drop there can race with those calls: only
// under a contract whose state word is atomic, as for `Boxed`
// (`OwnerMayMove`: `send`, `sync`), where such a drop aborts instead of
// racing. What the holder owns moves with it: the closure (`F: Send`) and
// the function pointer. The header's `outer_lent` is used only by the
// thread dropping the holder, between its header's drop and its tail's.
unsafe impl<F: Send, T: Threading + OwnerMayMove, Function: Send> Send for Lent<F, T, Function> {}

impl<F, T: Threading, Function: Copy> Lent<F, T, Function> {
    /// Holds `closure` for `function`, of the callback type `site` names.
    ///
    /// # Safety
    /// `function` is the trampoline of a callback type for closures `F`
    /// under `T`, for a lent `Holder` (`Trampoline::trampoline::<true>`).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub unsafe fn new(closure: F, function: Function, site: &'static Site) -> Self {
        Lent {
            holder: Holder::new(closure, site),
            function,
        }
    }

    /// The trampoline, for [`as_ptr`](Self::as_ptr).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn function(&self) -> Function {
        self.function
    }

    /// The holder's address, the user data for [`function`](Self::function).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn as_ptr(&self) -> *mut c_void {
        self.holder.as_ptr()
    }

    /// The closure back.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn into_inner(self) -> F {
        self.holder.into_inner()
    }
}

/// `Name::scope`: lends `f` to C for the duration of `call`, under the
/// type's guard (a kept panic is resumed when `call` returns).
///
/// The guard runs [`run_scope`] on a slot laid out here: no closure for it
/// to call, nor the generic layers a closure goes through (one function per
/// use of `scope`, not four).
#[doc(hidden)]
#[inline]
pub fn scope<C, O, T>(f: C::Closure, call: impl FnOnce(C::Function, C::UserData) -> T) -> T
where
    C: CallbackType + Trampoline<O>,
{
    // SAFETY: handed out only with this holder, lent by `Holder::new`,
    // which outlives `call`; `Trampoline` (an unsafe trait) promises the
    // trampoline is for it.
    let function = unsafe { <C as Trampoline<O>>::trampoline::<true>() };
    if !<C::Policy as crate::policy::Policy>::KEEPS {
        // No guard: the call runs here.
        return lend_and_call::<C, _, T, false>(f, call, function);
    }
    let run = run_scope_for::<C, _, T, false>(&call);
    let mut slot = ScopeSlot {
        value: None,
        args: Some((f, call, function)),
    };
    // SAFETY: `slot` is a `ScopeSlot`, `repr(C)` with its value first,
    // alive and unused but by the guard until it returns; `run` is for it.
    unsafe {
        crate::panic::resume_panics_slot::<T>(std::ptr::addr_of_mut!(slot).cast(), run);
    }
    match slot.value {
        Some(value) => value,
        // The guard returns only after running `run` to completion.
        None => unreachable!("ffi-callback: a guard returned without running its closure"),
    }
}

/// What [`scope`] hands its guard: the closure, the C call and the
/// trampoline, then the C call's value. `repr(C)`, the value first (the
/// guard drops it knowing its type alone).
#[repr(C)]
struct ScopeSlot<T, Args> {
    value: Option<T>,
    args: Option<Args>,
}

/// [`run_scope`] for the C call `_call`'s type.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn run_scope_for<C, Call, T, const ONCE: bool>(_call: &Call) -> unsafe fn(*mut ())
where
    C: CallbackType,
    Call: FnOnce(C::Function, C::UserData) -> T,
{
    run_scope::<C, Call, T, ONCE>
}

/// [`scope`]'s (or, if `ONCE`, [`scope_once`]'s) body, run by its guard
/// (once: a second run finds it taken). The holder is made and dropped
/// inside the guard: its drop drops the closure, user code that may make C
/// call back (a closure that owns a C object frees it), and the refusal of
/// that call, kept, is resumed by this guard.
///
/// # Safety
/// `slot` points at a live `ScopeSlot<T, (C::Closure, Call, C::Function)>`,
/// otherwise unused meanwhile, whose function is the trampoline of `C`
/// for a holder lent by `Holder::new` (if `ONCE`, its once-trampoline, for
/// a `OnceHolder`).
unsafe fn run_scope<C, Call, T, const ONCE: bool>(slot: *mut ())
where
    C: CallbackType,
    Call: FnOnce(C::Function, C::UserData) -> T,
{
    // SAFETY: the caller's promise.
    let slot = unsafe { &mut *slot.cast::<ScopeSlot<T, (C::Closure, Call, C::Function)>>() };
    if let Some((f, call, function)) = slot.args.take() {
        slot.value = Some(lend_and_call::<C, Call, T, ONCE>(f, call, function));
    }
}

/// The body of [`scope`] proper: lends `f` to `call` in a holder (a
/// `OnceHolder` if `ONCE`), dropped in place when `call` returns.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn lend_and_call<C, Call, T, const ONCE: bool>(
    f: C::Closure,
    call: Call,
    function: C::Function,
) -> T
where
    C: CallbackType,
    Call: FnOnce(C::Function, C::UserData) -> T,
{
    if ONCE {
        let holder = OnceHolder::<C::Closure, C::Threading>::new(f);
        let value = call(function, C::UserData::from_ptr(holder.as_ptr()));
        // As below.
        crate::panic::unwind_ended_inside_guard();
        value
    } else {
        let holder = Holder::<C::Closure, C::Threading>::new(f, C::SITE);
        let value = call(function, C::UserData::from_ptr(holder.as_ptr()));
        // The closure's drop follows (the holder's, where it lies, as
        // this returns): a panic there is a later one than a panic kept
        // during an unwind that `call` caught.
        crate::panic::unwind_ended_inside_guard();
        value
    }
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
    // SAFETY: as in `scope`.
    let function = unsafe { <C as Trampoline<O>>::trampoline::<true>() };
    // Made and dropped inside the guard by `run_scope`, as in `scope`.
    let run = run_scope_for::<C, _, T, false>(&call);
    let mut slot = ScopeSlot {
        value: None,
        args: Some((f, call, function)),
    };
    // SAFETY: as in `scope`.
    let error =
        unsafe { crate::panic::try_resume_slot::<T, E>(std::ptr::addr_of_mut!(slot).cast(), run) };
    match (error, slot.value) {
        (Some(error), _) => Err(error),
        (None, Some(value)) => Ok(value),
        // The guard returns only after running `run` to completion.
        (None, None) => {
            unreachable!("ffi-callback: a guard returned without running its closure")
        }
    }
}

/// `Name::scope_once`: [`scope`] for an `FnOnce`, which C may call at most
/// once.
#[doc(hidden)]
#[inline]
pub fn scope_once<C, O, T>(f: C::Closure, call: impl FnOnce(C::Function, C::UserData) -> T) -> T
where
    C: CallbackType + OnceTrampoline<O>,
{
    // SAFETY: handed out only with this once-holder, which outlives `call`;
    // `OnceTrampoline` (an unsafe trait) promises the once-trampoline is
    // for it.
    let function = unsafe { <C as OnceTrampoline<O>>::trampoline() };
    // Made and dropped inside the guard, as in `scope` (the drop of a
    // closure never called is user code that may make C call back).
    if !<C::Policy as crate::policy::Policy>::KEEPS {
        // No guard: the call runs here.
        return lend_and_call::<C, _, T, true>(f, call, function);
    }
    let run = run_scope_for::<C, _, T, true>(&call);
    let mut slot = ScopeSlot {
        value: None,
        args: Some((f, call, function)),
    };
    // SAFETY: as in `scope`, for the once-trampoline and `run_scope`'s
    // once-holder.
    unsafe {
        crate::panic::resume_panics_slot::<T>(std::ptr::addr_of_mut!(slot).cast(), run);
    }
    match slot.value {
        Some(value) => value,
        // The guard returns only after running `run` to completion.
        None => unreachable!("ffi-callback: a guard returned without running its closure"),
    }
}
