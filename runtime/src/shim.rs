//! The one runtime call behind every fn-form shim: unpack the user data,
//! run the body under the panic policy, and refuse what must not run.

use std::any::type_name;
use std::ffi::c_void;

use crate::panic::{Site, poison_limit, refuse, thread_poisoned};
use crate::policy::{Caught, Policy};
use crate::reentry;
use crate::user_data::UserDataParam;

/// Body of a shim whose user data arrives as a C parameter (or that has
/// none: `U = ()`).
///
/// The fast path is one compare and branch: the user-data address against
/// the process-wide poison limit, which is 0 unless some thread holds a
/// kept `resume` panic (see `panic::POISON_LIMIT`). Null, a poisoned thread,
/// and (rarely) another thread's poison all leave through the cold check.
///
/// # Safety
/// `user_data` is null or valid as `U` requires (see
/// [`UserDataParam::from_ptr`]).
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_fn<P: Policy, U: UserDataParam, R>(
    site: &'static Site,
    user_data: *mut c_void,
    fallback: impl FnOnce() -> R,
    body: impl FnOnce(U) -> R,
) -> R {
    let unusual = if P::POISONS {
        if U::NON_NULL {
            user_data.addr() <= poison_limit()
        } else {
            poison_limit() != 0
        }
    } else {
        U::NON_NULL && user_data.is_null()
    };
    // SAFETY: forwarded from the caller.
    if unusual && !unsafe { may_run::<P, U>(site, user_data) } {
        return fallback();
    }
    // SAFETY: forwarded from the caller; not null if `U` needs it.
    match P::catch(site, || unsafe { run_body(site, user_data, body) }) {
        Ok(value) => value,
        Err(Caught) => fallback(),
    }
}

/// Body of a shim whose user data is fetched by `user_data = EXPR`. The
/// expression runs inside the panic catch, after the poison check.
///
/// # Safety
/// Whatever `fetch` returns is null or valid as `U` requires.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_fn_fetch<P: Policy, U: UserDataParam, R>(
    site: &'static Site,
    fetch: impl FnOnce() -> *mut c_void,
    fallback: impl FnOnce() -> R,
    body: impl FnOnce(U) -> R,
) -> R {
    if P::POISONS && poison_limit() != 0 && thread_poisoned() {
        return fallback();
    }
    let run = || {
        let user_data = fetch();
        if U::NON_NULL && user_data.is_null() {
            refuse_null::<U>(site);
        }
        // SAFETY: forwarded from the caller; not null if `U` needs it.
        unsafe { run_body(site, user_data, body) }
    };
    match P::catch(site, run) {
        Ok(value) => value,
        Err(Caught) => fallback(),
    }
}

#[inline(always)]
unsafe fn run_body<U: UserDataParam, R>(
    site: &'static Site,
    user_data: *mut c_void,
    body: impl FnOnce(U) -> R,
) -> R {
    if U::EXCLUSIVE && cfg!(debug_assertions) && !user_data.is_null() {
        let node = reentry::Node::new(site, user_data);
        let _active = reentry::enter(&node);
        // SAFETY: forwarded from the caller.
        body(unsafe { U::from_ptr(user_data) })
    } else {
        // SAFETY: forwarded from the caller.
        body(unsafe { U::from_ptr(user_data) })
    }
}

/// Whether a call that failed the fast filter may run user code: not when
/// this thread is poisoned (an owned user data is then dropped, like a
/// poisoned `Mutex` still drops its data), nor for null user data where `U`
/// cannot be null (a refusal, raised and handled under the policy inside).
/// True when only another thread is poisoned, or null is fine for `U`.
///
/// Generic over the policy and the user-data type only, not the callback,
/// and nounwind (`extern "C"`) unless the policy lets panics through, so a
/// shim's fast path needs no landing pad and no saved registers.
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
    if P::POISONS && thread_poisoned() {
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
#[track_caller]
fn refuse_null<U>(site: &'static Site) -> ! {
    refuse(
        site,
        format_args!(
            "its user data is null, but it receives it as `{}`",
            type_name::<U>()
        ),
    )
}

/// For `on_panic = abort` and `unwind`, which never return a fallback.
#[doc(hidden)]
#[inline(always)]
pub fn no_fallback<R>() -> R {
    unreachable!("ffi-callback: this policy never returns a fallback value")
}
