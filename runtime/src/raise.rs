//! The raise exit: for C libraries that report errors by longjmp out of the
//! callback (Lua's `lua_error`, libpng's `png_error`). The Rust body must
//! never longjmp itself (that skips Rust frames, which Rust forbids, and
//! leaves this crate's guards stale); instead a failed call (a panic, an
//! `Err`, a refused call) is handed to the callback's `on_raise`, which
//! prepares what the library expects (pushes the message onto the Lua
//! stack), everything is dropped, and the trampoline, in a frame with nothing
//! live, makes the diverging C call (`raise = lua_error(l)`).

use std::any::Any;
use std::borrow::Cow;
use std::ffi::c_void;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::panic::{ErrorDrop, Site, dispose, drop_error_caught, payload_message, refusal_text};
use crate::reentry;
use crate::report::{self, ReportKind};
use crate::returns::CallbackReturn;
use crate::user_data::{FetchedUserData, UserDataAt, UserDataParam};

/// Why a callback with a raise exit failed, as its `on_raise` sees it.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Failure<'a, E> {
    /// The body panicked; the payload (the panic hook has printed it).
    Panicked(&'a (dyn Any + Send)),
    /// The body returned `Err`.
    Failed(&'a E),
    /// The call was refused before the body ran (null user data, re-entry
    /// with the same `&mut` state); the refusal's message.
    Refused(&'a str),
}

impl<E: fmt::Display> Failure<'_, E> {
    /// A message for the C library: the panic's message (or a fixed text
    /// for a payload that is no string), the error's `Display`, or the
    /// refusal's reason.
    pub fn message(&self) -> Cow<'_, str> {
        match self {
            Failure::Panicked(payload) => {
                Cow::Borrowed(payload_message(*payload).unwrap_or("a Rust callback panicked"))
            }
            Failure::Failed(error) => Cow::Owned(error.to_string()),
            Failure::Refused(why) => Cow::Borrowed(why),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl<E: fmt::Debug> fmt::Debug for Failure<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&payload_message(*payload))
                .finish(),
            Failure::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
            Failure::Refused(why) => f.debug_tuple("Refused").field(why).finish(),
        }
    }
}

/// The call failed and `on_raise` ran: the trampoline now makes its `raise` call.
/// Holds nothing (a zero-sized token).
#[doc(hidden)]
#[derive(Debug)]
pub struct Raise;

/// Body of a fn-form trampoline with a raise exit, user data from a C parameter.
/// Everything it owns is dropped before it returns `Err(Raise)`.
///
/// # Safety
/// As for [`call_fn`](crate::trampoline::call_fn).
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn call_fn_raising<U: UserDataParam, O: CallbackReturn<R>, R>(
    site: &'static Site,
    user_data: *mut c_void,
    body: impl for<'a> FnOnce(<U as UserDataAt<'a>>::At) -> O,
    on_raise: impl FnOnce(Failure<'_, O::Error>),
) -> Result<R, Raise> {
    // SAFETY: forwarded.
    let run = || unsafe { run(site, user_data, body) };
    finish(site, catch_unwind(AssertUnwindSafe(run)), on_raise)
}

/// [`call_fn_raising`] with the user data fetched by `user_data = EXPR`.
///
/// # Safety
/// As for [`call_fn_fetch`](crate::trampoline::call_fn_fetch).
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn call_fn_fetch_raising<U, X, O, R>(
    site: &'static Site,
    fetch: impl FnOnce() -> X,
    body: impl for<'a> FnOnce(<U as UserDataAt<'a>>::At) -> O,
    on_raise: impl FnOnce(Failure<'_, O::Error>),
) -> Result<R, Raise>
where
    U: UserDataParam,
    X: FetchedUserData<U>,
    O: CallbackReturn<R>,
{
    let run = || {
        let user_data = fetch().into_user_data_ptr();
        // SAFETY: forwarded.
        unsafe { run(site, user_data, body) }
    };
    finish(site, catch_unwind(AssertUnwindSafe(run)), on_raise)
}

/// What the body's catch gave, before `on_raise`.
enum Outcome<O> {
    Returned(O),
    Refused(String),
}

#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn run<U: UserDataParam, O>(
    site: &'static Site,
    user_data: *mut c_void,
    body: impl for<'a> FnOnce(<U as UserDataAt<'a>>::At) -> O,
) -> Outcome<O> {
    if U::NON_NULL && user_data.is_null() {
        return Outcome::Refused(format!(
            "its user data is null, but it receives it as `{}`",
            std::any::type_name::<U>()
        ));
    }
    if U::EXCLUSIVE
        && cfg!(debug_assertions)
        && !user_data.is_null()
        && std::mem::size_of::<U::Target>() != 0
    {
        let node = reentry::Node::new::<U::Target>(site, user_data);
        let _active = reentry::enter(&node);
        // SAFETY: forwarded.
        Outcome::Returned(body(unsafe { <U as UserDataAt<'_>>::lend(user_data) }))
    } else {
        // SAFETY: forwarded.
        Outcome::Returned(body(unsafe { <U as UserDataAt<'_>>::lend(user_data) }))
    }
}

#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn finish<O: CallbackReturn<R>, R>(
    site: &'static Site,
    caught: std::thread::Result<Outcome<O>>,
    on_raise: impl FnOnce(Failure<'_, O::Error>),
) -> Result<R, Raise> {
    match caught {
        Ok(Outcome::Returned(output)) => match output.into_result() {
            Ok(value) => Ok(value),
            Err(error) => {
                prepare(site, on_raise, Failure::Failed(&error));
                // Nothing may unwind from here (the raise follows, into C):
                // a panic of the error's `Drop` is reported, naming the
                // callback, and dropped.
                drop_error_caught(site, error, ErrorDrop::Raised);
                Err(Raise)
            }
        },
        Ok(Outcome::Refused(why)) => {
            // Like a panic or an `Err`, the refusal goes to the library
            // (through `on_raise`), not to the reporter.
            prepare(site, on_raise, Failure::Refused(&why));
            Err(Raise)
        }
        Err(payload) => {
            // A re-entry refusal is raised as a panic; hand on its reason.
            let failure = match refusal_text(&*payload) {
                Some(why) => Failure::Refused(why),
                None => Failure::Panicked(&*payload),
            };
            prepare(site, on_raise, failure);
            dispose(payload);
            Err(Raise)
        }
    }
}

/// Runs `on_raise` (user code) under a catch: a panic there is reported
/// and dropped, and the raise still happens (with whatever the handler
/// prepared).
#[cold]
#[inline(never)]
fn prepare<E>(site: &'static Site, on_raise: impl FnOnce(Failure<'_, E>), failure: Failure<'_, E>) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || on_raise(failure))) {
        report::event(
            Some(site),
            ReportKind::RaiseHandlerPanicked,
            Some(&*payload),
        );
        dispose(payload);
    }
}

/// The `raise = EXPR` call returned, which a raise must not: there is no
/// value for C, so the process aborts.
#[doc(hidden)]
#[cold]
#[inline(never)]
pub fn raise_returned(site: &'static Site) -> ! {
    report::abort_raise_returned(site)
}
