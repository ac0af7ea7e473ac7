//! The one runtime call behind every fn-form shim: unpack the user data,
//! run the body under the panic policy, and refuse what must not run.

use std::any::type_name;
use std::ffi::c_void;

use crate::panic::{Site, refuse, thread_poisoned};
use crate::policy::{Caught, Policy};
use crate::reentry;
use crate::user_data::UserDataParam;

/// Body of a shim whose user data arrives as a C parameter (or that has
/// none: `U = ()`).
///
/// The fast path is one branch: a `resume` callback on a thread whose guard
/// is poisoned, or null where `U` cannot be null, both leave through the
/// cold path.
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
    let poisoned = P::POISONS && thread_poisoned();
    if poisoned | (U::NON_NULL && user_data.is_null()) {
        // SAFETY: forwarded from the caller.
        return unsafe { not_run::<P, U, R>(site, user_data, poisoned, fallback) };
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
    if P::POISONS && thread_poisoned() {
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
        // SAFETY: forwarded from the caller.
        reentry::exclusive(site, user_data, || body(unsafe { U::from_ptr(user_data) }))
    } else {
        // SAFETY: forwarded from the caller.
        body(unsafe { U::from_ptr(user_data) })
    }
}

/// A call that runs no user code: the thread's guard is poisoned (the
/// fallback is returned quietly, an owned user data dropped), or the user
/// data is null where it cannot be (a refusal, handled by the policy).
#[cold]
#[inline(never)]
unsafe fn not_run<P: Policy, U: UserDataParam, R>(
    site: &'static Site,
    user_data: *mut c_void,
    poisoned: bool,
    fallback: impl FnOnce() -> R,
) -> R {
    if poisoned {
        if U::OWNED && !user_data.is_null() {
            // Ownership came back: drop it, under the policy, like a
            // poisoned `Mutex` still drops its data.
            // SAFETY: forwarded from the caller.
            let _ = P::catch(site, || drop(unsafe { U::from_ptr(user_data) }));
        }
        return fallback();
    }
    match P::catch(site, || refuse_null::<U>(site)) {
        Ok(never) => never,
        Err(Caught) => fallback(),
    }
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
