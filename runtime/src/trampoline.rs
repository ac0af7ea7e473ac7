//! The one runtime call behind every fn-form trampoline: unpack the user data,
//! run the body under the panic policy, hand an `Err` to the thread's guard,
//! and refuse what must not run.

use std::any::type_name;
use std::ffi::c_void;

use crate::panic::{Site, keep_error, poison_limit, refuse, thread_poisoned};
use crate::policy::{Caught, Policy};
use crate::reentry;
use crate::returns::CallbackReturn;
use crate::user_data::{FetchedUserData, UserDataParam};

/// The callback's Rust code did not produce a value (it panicked, or the
/// call was refused) and the policy handled that: the trampoline returns its
/// fallback value to C.
#[doc(hidden)]
#[derive(Debug)]
pub struct Failed;

/// Body of a trampoline whose user data arrives as a C parameter (or that has
/// none: `U = ()`). Returns what C receives (the body's value, or
/// `on_error`'s for an `Err`), or `Failed` for the fallback.
///
/// The fast path is one compare and branch: the user-data address against
/// the process-wide poison limit, which is 0 unless some thread holds a
/// kept panic or error (see `panic::POISON_LIMIT`). Null, a poisoned thread,
/// and (rarely) another thread's poison all leave through the cold check.
///
/// # Safety
/// `user_data` is null or came from `U::into_ptr` for a value still valid as
/// `U` requires (see [`UserDataParam::from_ptr`]).
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_fn<P: Policy, U: UserDataParam, O: CallbackReturn<R>, R>(
    site: &'static Site,
    user_data: *mut c_void,
    body: impl FnOnce(U) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, Failed> {
    let unusual = if P::KEEPS {
        if U::NON_NULL {
            (user_data as usize) <= poison_limit()
        } else {
            poison_limit() != 0
        }
    } else {
        U::NON_NULL && user_data.is_null()
    };
    // SAFETY: forwarded from the caller.
    if unusual && !unsafe { may_run::<P, U>(site, user_data) } {
        return Err(Failed);
    }
    // SAFETY: forwarded from the caller; not null if `U` needs it.
    let run = || unsafe { run_body(site, user_data, body, on_error) };
    finish::<O::Error, R>(site, P::catch(site, run))
}

/// Body of a trampoline whose user data is fetched by `user_data = EXPR`. The
/// expression (user code) runs inside the panic catch, after the poison
/// check; on a poisoned thread an owned user data is still fetched and
/// dropped, never leaked.
///
/// # Safety
/// Whatever `fetch` returns is null or valid as `U` requires.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_fn_fetch<P, U, X, O, R>(
    site: &'static Site,
    fetch: impl FnOnce() -> X,
    body: impl FnOnce(U) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, Failed>
where
    P: Policy,
    U: UserDataParam,
    X: FetchedUserData<U>,
    O: CallbackReturn<R>,
{
    if P::KEEPS && poison_limit() != 0 && thread_poisoned() {
        if U::OWNED {
            let drop_owned = || {
                let user_data = fetch().into_user_data_ptr();
                if !user_data.is_null() {
                    // SAFETY: forwarded from the caller.
                    drop(unsafe { U::from_ptr(user_data) });
                }
            };
            let _ = P::catch(site, drop_owned);
        }
        return Err(Failed);
    }
    let run = || {
        let user_data = fetch().into_user_data_ptr();
        if U::NON_NULL && user_data.is_null() {
            refuse_null::<U>(site);
        }
        // SAFETY: forwarded from the caller; not null if `U` needs it.
        unsafe { run_body(site, user_data, body, on_error) }
    };
    finish::<O::Error, R>(site, P::catch(site, run))
}

/// What the body's catch gave: the value for C, or (for an `Err`) the value
/// for C and the error to keep.
type BodyResult<R, E> = Result<R, (R, E)>;

#[inline(always)]
unsafe fn run_body<U: UserDataParam, O: CallbackReturn<R>, R>(
    site: &'static Site,
    user_data: *mut c_void,
    body: impl FnOnce(U) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> BodyResult<R, O::Error> {
    let output = if U::EXCLUSIVE
        && cfg!(debug_assertions)
        && !user_data.is_null()
        && std::mem::size_of::<U::Target>() != 0
    {
        let node = reentry::Node::new::<U::Target>(site, user_data);
        let _active = reentry::enter(&node);
        // SAFETY: forwarded from the caller.
        body(unsafe { U::from_ptr(user_data) })
    } else {
        // SAFETY: forwarded from the caller.
        body(unsafe { U::from_ptr(user_data) })
    };
    match output.into_result() {
        Ok(value) => Ok(value),
        Err(error) => Err((on_error(&error), error)),
    }
}

#[inline(always)]
fn finish<E: 'static, R>(
    site: &'static Site,
    caught: Result<BodyResult<R, E>, Caught>,
) -> Result<R, Failed> {
    match caught {
        Ok(Ok(value)) => Ok(value),
        Ok(Err((value, error))) => {
            keep_error_cold(site, error);
            Ok(value)
        }
        Err(Caught) => Err(Failed),
    }
}

/// Hands an error to the thread's `try_resume` guard (or reports it).
#[cold]
#[inline(never)]
fn keep_error_cold<E: 'static>(site: &'static Site, error: E) {
    keep_error(site, error);
}

/// Whether a call that failed the fast filter may run user code: not when
/// this thread is poisoned (an owned user data is then dropped, like a
/// poisoned `Mutex` still drops its data), nor for null user data where `U`
/// cannot be null (a refusal, raised and handled under the policy inside).
/// True when only another thread is poisoned, or null is fine for `U`.
///
/// Generic over the policy and the user-data type only, not the callback,
/// and nounwind (`extern "C"`) unless the policy lets panics through, so a
/// trampoline's fast path needs no landing pad and no saved registers.
#[inline(always)]
unsafe fn may_run<P: Policy, U: UserDataParam>(
    site: &'static Site,
    user_data: *mut c_void,
) -> bool {
    if P::UNWINDS {
        // SAFETY: forwarded from the caller.
        unsafe { may_run_unwinding::<P, U>(site, user_data) }
    } else {
        // SAFETY: forwarded from the caller.
        unsafe { may_run_nounwind::<P, U>(site, user_data) }
    }
}

#[cold]
#[inline(never)]
unsafe extern "C" fn may_run_nounwind<P: Policy, U: UserDataParam>(
    site: &'static Site,
    user_data: *mut c_void,
) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { check::<P, U>(site, user_data) }
}

#[cold]
#[inline(never)]
unsafe fn may_run_unwinding<P: Policy, U: UserDataParam>(
    site: &'static Site,
    user_data: *mut c_void,
) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { check::<P, U>(site, user_data) }
}

#[inline(always)]
unsafe fn check<P: Policy, U: UserDataParam>(site: &'static Site, user_data: *mut c_void) -> bool {
    if P::KEEPS && thread_poisoned() {
        if U::OWNED && !user_data.is_null() {
            // SAFETY: forwarded from the caller.
            let _ = P::catch(site, || drop(unsafe { U::from_ptr(user_data) }));
        }
        return false;
    }
    if U::NON_NULL && user_data.is_null() {
        let _ = P::catch(site, || -> () { refuse_null::<U>(site) });
        return false;
    }
    true
}

#[cold]
#[inline(never)]
fn refuse_null<U>(site: &'static Site) -> ! {
    refuse(
        site,
        format_args!(
            "its user data is null, but it receives it as `{}`",
            type_name::<U>()
        ),
    )
}

/// The trampoline body of a callback type without a user-data slot: runs
/// `call` on a copy of the zero-sized closure `F`, recreated from nothing,
/// under the policy (poisoned, like a fn, while the thread's guard holds a
/// panic).
///
/// # Safety
/// A value of `F` has been constructed: the trampoline is reachable only
/// through a holder of one.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_slotless<
    P: Policy,
    F: crate::closure_bounds::NoCaptures,
    O: CallbackReturn<R>,
    R,
>(
    site: &'static Site,
    call: impl FnOnce(F) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, Failed> {
    // SAFETY: by the caller's promise `F` is inhabited.
    let body = |()| call(unsafe { crate::closure_bounds::recreate_zero_sized::<F>() });
    // SAFETY: no user data: the null pointer is not read.
    unsafe { call_fn::<P, (), O, R>(site, std::ptr::null_mut(), body, on_error) }
}
