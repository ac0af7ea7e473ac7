//! The one runtime call behind every fn-form trampoline: unpack the user data,
//! run the body under the panic policy, hand an `Err` to the thread's guard,
//! and refuse what must not run.

use std::any::type_name;
use std::ffi::c_void;

use crate::holder::fallback_caught;
use crate::panic::{PoisonFilter, Site, fail, refuse, thread_poisoned};
use crate::policy::{Caught, Policy};
use crate::reentry;
use crate::returns::CallbackReturn;
use crate::user_data::{FetchedUserData, UserDataAt, UserDataParam};

/// The callback's Rust code did not produce a value (it panicked, or the
/// call was refused) and the policy handled that: the trampoline returns its
/// fallback value to C.
#[doc(hidden)]
#[derive(Debug)]
pub struct Failed;

/// Body of a trampoline whose user data arrives as a C parameter (or that has
/// none: `U = ()`). Returns what C receives: the body's value, `on_error`'s
/// for an `Err`, or the fallback after a handled panic or a refusal.
///
/// The fast path is one compare and branch: the user-data address against
/// the callback's `filter`, which is 0 unless some thread holds a kept
/// panic or error (see [`PoisonFilter`]). Null, a poisoned thread,
/// and (rarely) another thread's poison all leave through the cold path, a
/// tail call that does the exact check and then runs its own copy of the
/// body or returns the fallback: it never comes back to this one, so the
/// fast path keeps nothing in registers across a call.
///
/// # Safety
/// `user_data` is null or came from `U::into_ptr` for a value still valid as
/// `U` requires (see [`UserDataParam::from_ptr`]).
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn call_fn<P: Policy, U: UserDataParam, O: CallbackReturn<R>, R>(
    body: impl for<'a> FnOnce(<U as UserDataAt<'a>>::At) -> O,
    user_data: *mut c_void,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
    site: &'static Site,
    filter: &'static PoisonFilter,
) -> R {
    if P::KEEPS {
        let unusual = if U::NON_NULL {
            (user_data as usize) <= filter.limit()
        } else {
            filter.limit() != 0
        };
        if unusual {
            // SAFETY: forwarded from the caller.
            return unsafe {
                unusual_nounwind::<P, U, O, R, _, _, _>(
                    body, user_data, on_error, fallback, site, filter,
                )
            };
        }
    } else if U::NON_NULL && user_data.is_null() {
        // No poisoning under this policy: null is the only thing to refuse.
        if P::UNWINDS {
            refuse_null::<U>(site);
        }
        if P::ABORTS {
            refuse_null_aborting::<P, U>(site);
        }
        refuse_null_nounwind::<P, U>(site);
        return fallback_caught(site, fallback);
    }
    // SAFETY: forwarded from the caller; not null if `U` needs it.
    unsafe { run_caught::<P, U, O, R>(body, user_data, on_error, fallback, site) }
}

/// Body of a trampoline whose user data is fetched by `user_data = EXPR`. The
/// expression (user code) runs inside the panic catch, after the poison
/// check; on a poisoned thread an owned user data is still fetched and
/// dropped, never leaked.
///
/// # Safety
/// Whatever `fetch` returns is null or valid as `U` requires.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn call_fn_fetch<P, U, X, O, R>(
    fetch: impl FnOnce() -> X,
    body: impl for<'a> FnOnce(<U as UserDataAt<'a>>::At) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
    site: &'static Site,
    filter: &'static PoisonFilter,
) -> R
where
    P: Policy,
    U: UserDataParam,
    X: FetchedUserData<U>,
    O: CallbackReturn<R>,
{
    if P::KEEPS && filter.limit() != 0 && thread_poisoned_nounwind(filter) {
        // Not run: `why` reads so, not a reason noted for another call.
        crate::fallback_reason::forget();
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
        return fallback_caught(site, fallback);
    }
    let run = || {
        let user_data = fetch().into_user_data_ptr();
        if U::NON_NULL && user_data.is_null() {
            refuse_null::<U>(site);
        }
        // SAFETY: forwarded from the caller; not null if `U` needs it.
        unsafe { run_body(site, user_data, body) }
    };
    finish::<P, O::Error, R>(P::catch(site, run), on_error, fallback, site)
}

/// Runs the body: the value for C, or the error it failed with. `on_error`
/// is not run here, inside the body's catch, but after it (see [`finish`]).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn run_body<U: UserDataParam, O: CallbackReturn<R>, R>(
    site: &'static Site,
    user_data: *mut c_void,
    body: impl for<'a> FnOnce(<U as UserDataAt<'a>>::At) -> O,
) -> Result<R, O::Error> {
    let output = if U::EXCLUSIVE
        && cfg!(debug_assertions)
        && !user_data.is_null()
        && std::mem::size_of::<U::Target>() != 0
    {
        let node = reentry::Node::new::<U::Target>(site, user_data);
        let _active = reentry::enter(&node);
        // SAFETY: forwarded from the caller.
        body(unsafe { <U as UserDataAt<'_>>::lend(user_data) })
    } else {
        // SAFETY: forwarded from the caller.
        body(unsafe { <U as UserDataAt<'_>>::lend(user_data) })
    };
    output.into_result()
}

/// Runs the body under the policy: what C gets.
///
/// # Safety
/// As for [`call_fn`]; `user_data` is not null if `U` needs it.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn run_caught<P: Policy, U: UserDataParam, O: CallbackReturn<R>, R>(
    body: impl for<'a> FnOnce(<U as UserDataAt<'a>>::At) -> O,
    user_data: *mut c_void,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
    site: &'static Site,
) -> R {
    // SAFETY: forwarded from the caller.
    let run = || unsafe { run_body(site, user_data, body) };
    finish::<P, O::Error, R>(P::catch(site, run), on_error, fallback, site)
}

/// What C gets once the body's catch is done: the body's value, the
/// fallback after a handled panic, or, for an `Err`, what a cold tail call
/// makes of it. The `Err` path (`on_error` and the error's `Drop`, user
/// code that may panic) is not inside the body's catch, which then needs no
/// landing pad for a body that cannot panic, and the `Ok` path keeps
/// nothing for it.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn finish<P: Policy, E: 'static, R>(
    caught: Result<Result<R, E>, Caught>,
    on_error: impl FnOnce(&E) -> R,
    fallback: impl FnOnce() -> R,
    site: &'static Site,
) -> R {
    match caught {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            if P::UNWINDS {
                // `on_panic = unwind`: a panic of `on_error` or of the
                // error's `Drop` unwinds to the caller, as the body's does
                // (the Rust ABI: it may unwind).
                return fail(site, error, on_error);
            }
            failed_nounwind::<P, E, R, _, _>(site, error, on_error, fallback)
        }
        Err(Caught) => fallback_caught(site, fallback),
    }
}

/// A call whose body returned `Err(error)`: C's value is `on_error(&error)`,
/// and the error goes to the thread's guard ([`fail`]), under the policy's
/// catch: a panic of `on_error`, or of the error's `Drop` when no guard
/// keeps it, is handled like a panic of the body (kept for the guard,
/// reported, or an abort naming the callback), and C gets the fallback.
/// A kept error poisons the thread (the guard does that). Only for the
/// policies that do not unwind, so it is nounwind (`extern "C"`): the
/// trampoline tail-calls it and needs no landing pad.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn failed_nounwind<P, E, R, OnError, Fallback>(
    site: &'static Site,
    error: E,
    on_error: OnError,
    fallback: Fallback,
) -> R
where
    P: Policy,
    E: 'static,
    OnError: FnOnce(&E) -> R,
    Fallback: FnOnce() -> R,
{
    match P::catch(site, move || fail(site, error, on_error)) {
        Ok(value) => value,
        Err(Caught) => fallback_caught(site, fallback),
    }
}

/// [`call_fn`] after the fast filter failed: the exact check, then the
/// body (a copy of the fast path's: the only way not to come back to it)
/// or the fallback. Only policies that keep panics get here, and they catch
/// them, so it is nounwind (`extern "C"`): the trampoline tail-calls it, and
/// its parameters come in the trampoline's order (the body, which holds the
/// other C arguments, then the user data), so they are already in their
/// registers.
///
/// # Safety
/// As for [`call_fn`].
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
unsafe extern "C" fn unusual_nounwind<P, U, O, R, Body, OnError, Fallback>(
    body: Body,
    user_data: *mut c_void,
    on_error: OnError,
    fallback: Fallback,
    site: &'static Site,
    filter: &'static PoisonFilter,
) -> R
where
    P: Policy,
    U: UserDataParam,
    O: CallbackReturn<R>,
    Body: for<'a> FnOnce(<U as UserDataAt<'a>>::At) -> O,
    OnError: FnOnce(&O::Error) -> R,
    Fallback: FnOnce() -> R,
{
    // The body of this cold path, written here rather than in an inlined
    // helper: one function per callback, not two.
    // SAFETY: forwarded from the caller.
    if unsafe { may_run_nounwind::<P, U>(site, filter, user_data) } {
        // SAFETY: forwarded from the caller; `may_run` refused null if `U`
        // needs a pointer.
        unsafe { run_caught::<P, U, O, R>(body, user_data, on_error, fallback, site) }
    } else {
        fallback_caught(site, fallback)
    }
}

/// Whether a call that failed the fast filter may run user code: not when
/// this thread is poisoned (an owned user data is then dropped, like a
/// poisoned `Mutex` still drops its data), nor for null user data where `U`
/// cannot be null (a refusal, raised and handled under the policy inside).
/// True when only another thread is poisoned, or null is fine for `U`.
/// The filter joins the others first, if this is the callback's first call.
///
/// Generic over the policy and the user-data type only, not the callback.
#[cold]
#[inline(never)]
unsafe extern "C" fn may_run_nounwind<P: Policy, U: UserDataParam>(
    site: &'static Site,
    filter: &'static PoisonFilter,
    user_data: *mut c_void,
) -> bool {
    filter.join();
    if P::KEEPS && thread_poisoned() {
        // Not run: `why` reads so, not a reason noted for another call.
        crate::fallback_reason::forget();
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

/// [`thread_poisoned`], out of line (the thread-local read is a call
/// anyway), once the filter has joined the others.
#[cold]
#[inline(never)]
extern "C" fn thread_poisoned_nounwind(filter: &'static PoisonFilter) -> bool {
    filter.join();
    thread_poisoned()
}

/// Refuses null user data under a policy that catches panics.
#[cold]
#[inline(never)]
extern "C" fn refuse_null_nounwind<P: Policy, U: UserDataParam>(site: &'static Site) {
    let _ = P::catch(site, || -> () { refuse_null::<U>(site) });
}

/// [`refuse_null_nounwind`] for a policy that aborts: it does not return,
/// and the compiler knows it (no fallback is computed after it).
#[cold]
#[inline(never)]
extern "C" fn refuse_null_aborting<P: Policy, U: UserDataParam>(site: &'static Site) -> ! {
    let _ = P::catch(site, || -> () { refuse_null::<U>(site) });
    // The policy aborted in its catch; this is never reached.
    std::process::abort()
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
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn call_slotless<
    P: Policy,
    F: crate::closure_bounds::NoCaptures,
    O: CallbackReturn<R>,
    R,
>(
    call: impl FnOnce(F) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
    site: &'static Site,
    filter: &'static PoisonFilter,
) -> R {
    // SAFETY: by the caller's promise `F` is inhabited.
    let body = |()| call(unsafe { crate::closure_bounds::recreate_zero_sized::<F>() });
    // SAFETY: no user data: the null pointer is not read.
    unsafe { call_fn::<P, (), O, R>(body, std::ptr::null_mut(), on_error, fallback, site, filter) }
}
