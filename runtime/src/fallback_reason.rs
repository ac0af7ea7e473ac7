//! Why a call gives C its fallback: what `fallback = EXPR` reads as `why`
//! (a Tcl command puts it in the interp's result, an SQL function in its
//! error), the panic's message or the refusal's reason.
//!
//! Noted per thread where the policy handles a panic or refusal of the call,
//! read by the fallback that follows on the same thread, and forgotten when
//! that fallback returns: a call refused without running (a poisoned holder
//! or thread) finds nothing noted and reads [`NOT_RUN`]. Only cold paths
//! touch it.

use std::any::Any;
use std::borrow::Cow;
use std::cell::Cell;

use crate::panic::{payload_message, refusal_text};

/// What `why` reads when nothing was noted for the call.
pub(crate) const NOT_RUN: &str = "the callback did not run: an earlier panic, error or refusal \
                                  is kept until its guard returns";

/// What `why` reads for an `Err` given to C through the fallback (no
/// `on_error`).
pub(crate) const RETURNED_ERR: &str = "the callback returned `Err` (and names no `on_error`)";

/// What `why` reads for a destroy entry given null user data.
pub(crate) const NULL_DESTROY: &str = "its user data is null: there is nothing to destroy";

/// What `why` reads for a destroy entry that came during a call of its own
/// state.
pub(crate) const DESTROY_DEFERRED: &str = "the state was destroyed during a call of its own: it \
                                           is freed when that call returns, and the method did \
                                           not run";

/// What `why` reads for a destroy entry that came after the state's
/// destroy.
pub(crate) const DESTROYED_ALREADY: &str =
    "the state was destroyed already: the method did not run";

/// What `why` reads for a destroy entry of a `local` state on another
/// thread than its home one.
pub(crate) const DESTROY_FOREIGN: &str = "it was called on another thread than the state's home \
                                          one: the state is leaked there, and the method did not \
                                          run";

thread_local! {
    static REASON: Cell<Option<Cow<'static, str>>> = const { Cell::new(None) };
}

/// Notes `reason` for the fallback that follows on this thread. Quietly
/// nothing while the thread's locals are being destroyed.
pub(crate) fn note(reason: Cow<'static, str>) {
    let _ = REASON.try_with(|r| r.set(Some(reason)));
}

/// Runs `f`, user code that may reach callbacks of their own (a closure's
/// drop), with what was noted for this thread's pending fallback set aside
/// and put back afterwards: those callbacks note and forget their own
/// reasons, not this one.
pub(crate) fn set_aside<R>(f: impl FnOnce() -> R) -> R {
    let saved = REASON.try_with(Cell::take).ok().flatten();
    let value = f();
    if saved.is_some() {
        let _ = REASON.try_with(|r| r.set(saved));
    }
    value
}

/// Why a caught panic gives C the fallback: a refusal's reason, the
/// panic's message, or a fixed text for a payload that is no string.
pub(crate) fn panic_reason(payload: &(dyn Any + Send)) -> Cow<'static, str> {
    match payload.downcast_ref::<&'static str>() {
        Some(message) if refusal_text(payload).is_none() => Cow::Borrowed(*message),
        _ => match refusal_text(payload).or_else(|| payload_message(payload)) {
            Some(text) => Cow::Owned(text.to_owned()),
            None => Cow::Borrowed("a Rust callback panicked (with a payload that is no string)"),
        },
    }
}

/// Forgets what was noted, once the fallback it was for has run.
pub(crate) fn forget() {
    let _ = REASON.try_with(|r| r.take());
}

/// Runs `f` with why C gets the fallback: what was noted for this call, or
/// [`NOT_RUN`]. Taken, not borrowed: a callback that fails inside `f` (the
/// fallback calls C, which calls back) notes its own.
#[doc(hidden)]
#[cold]
#[inline(never)]
pub fn with_reason<R>(f: impl FnOnce(&str) -> R) -> R {
    let reason = REASON.try_with(Cell::take).ok().flatten();
    f(reason.as_deref().unwrap_or(NOT_RUN))
}
