//! The `on_panic` policies as marker types, so that one generic trampoline serves
//! them all and the choice costs nothing at run time.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::panic::{Kept, Payload, Site, keep_for_guard};
use crate::report;

/// A panic was caught and handled by the policy; the callback now returns
/// its fallback value.
#[doc(hidden)]
#[derive(Debug)]
pub struct Caught;

/// What a callback does when its Rust code panics (or a call is refused).
/// Implemented by the marker types below; the macro picks one from
/// `on_panic = ...` and `unguarded = ...`.
#[doc(hidden)]
pub trait Policy {
    /// A panic is kept by the thread's guard, which poisons: later calls
    /// return the fallback without running user code until the guard
    /// re-raises it.
    const KEEPS: bool;
    /// Panics pass through to the caller (`on_panic = unwind`); every other
    /// policy's paths are nounwind, so trampolines need no landing pads.
    const UNWINDS: bool;

    /// Handles a caught panic: keep, report, or abort.
    fn handle(site: &'static Site, payload: Payload);

    /// Handles a panic raised while a destroy dropped the closure: kept for
    /// the guard under `resume`, aborting under `abort`, otherwise reported
    /// and dropped (there is no value to return, and a destroy never
    /// unwinds into C).
    fn handle_destroy(site: &'static Site, payload: Payload) {
        if Self::KEEPS {
            if let Kept::NoGuard(payload) = keep_for_guard(payload) {
                Self::destroy_without_guard(site, payload);
            }
        } else if Self::ABORTS {
            report::abort_in_destroy(site, &*payload)
        } else {
            report::destroy_panicked(site, payload);
        }
    }

    /// Aborts for a panic.
    const ABORTS: bool = false;

    /// A destroy's panic with no guard to keep it (`resume`).
    fn destroy_without_guard(site: &'static Site, payload: Payload) {
        report::abort_in_destroy(site, &*payload)
    }

    /// Runs `f`. On a panic, handles the payload as the policy says and
    /// returns `Err(Caught)`, or does not return (abort).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn catch<R>(site: &'static Site, f: impl FnOnce() -> R) -> Result<R, Caught> {
        if Self::UNWINDS {
            return Ok(f());
        }
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Ok(value),
            Err(payload) => {
                if Self::ABORTS {
                    // Said to the compiler, so that no fallback is computed
                    // after a catch that aborts.
                    abort_nounwind::<Self>(site, payload);
                }
                handle_nounwind::<Self>(site, payload);
                Err(Caught)
            }
        }
    }
}

/// [`Policy::handle_destroy`] behind an `extern "C"` boundary: a destroy
/// never unwinds.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
pub(crate) extern "C" fn destroy_panicked<P: Policy + ?Sized>(
    site: &'static Site,
    payload: Payload,
) {
    P::handle_destroy(site, payload);
}

/// [`Policy::handle`] for a policy that aborts, as a function that does
/// not return.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn abort_nounwind<P: Policy + ?Sized>(site: &'static Site, payload: Payload) -> ! {
    P::handle(site, payload);
    // `handle` aborts for such a policy; this is never reached.
    std::process::abort()
}

/// [`Policy::handle`] behind an `extern "C"` boundary: the compiler then
/// knows the catch path cannot unwind.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn handle_nounwind<P: Policy + ?Sized>(site: &'static Site, payload: Payload) {
    // For a `fallback = EXPR` that reads `why`: the fallback follows. Noted
    // after `handle`, which runs user code (the reporter, a payload's
    // `Drop`) that may reach another callback, whose fallback would take it.
    let reason = crate::fallback_reason::panic_reason(&*payload);
    P::handle(site, payload);
    crate::fallback_reason::note(reason);
}

/// `on_panic = resume` (the default on the caller's thread): keep the
/// payload for the thread's [`resume_panics`](crate::resume_panics) guard
/// (or the `scope`'s), which re-raises it when the C call returns. With no
/// guard on the thread, abort naming the callback.
#[doc(hidden)]
#[derive(Debug)]
pub enum Resume {}

/// `on_panic = resume, unguarded = fallback`: as [`Resume`], but with no
/// guard on the thread the panic is reported and C receives the fallback
/// (for C libraries that also call back from threads or calls the binding
/// cannot guard).
#[doc(hidden)]
#[derive(Debug)]
pub enum ResumeOrFallback {}

/// `on_panic = abort`: print which callback panicked, then abort.
#[doc(hidden)]
#[derive(Debug)]
pub enum Abort {}

/// `on_panic = fallback`: report the panic and return the fallback value.
#[doc(hidden)]
#[derive(Debug)]
pub enum ReportAndFallback {}

/// `on_panic = unwind`: let the panic unwind into the caller (only with a
/// `-unwind` ABI, which the macro checks).
#[doc(hidden)]
#[derive(Debug)]
pub enum Unwind {}

impl Policy for Resume {
    const KEEPS: bool = true;
    const UNWINDS: bool = false;

    fn handle(site: &'static Site, payload: Payload) {
        if let Kept::NoGuard(payload) = keep_for_guard(payload) {
            report::abort_on_panic(site, &*payload, true)
        }
    }
}

impl Policy for ResumeOrFallback {
    const KEEPS: bool = true;
    const UNWINDS: bool = false;

    fn destroy_without_guard(site: &'static Site, payload: Payload) {
        report::destroy_panicked(site, payload);
    }

    fn handle(site: &'static Site, payload: Payload) {
        if let Kept::NoGuard(payload) = keep_for_guard(payload) {
            report::fallback_returned(site, payload, true);
        }
    }
}

impl Policy for Abort {
    const KEEPS: bool = false;
    const UNWINDS: bool = false;
    const ABORTS: bool = true;

    fn handle(site: &'static Site, payload: Payload) {
        report::abort_on_panic(site, &*payload, false)
    }
}

impl Policy for ReportAndFallback {
    const KEEPS: bool = false;
    const UNWINDS: bool = false;

    fn handle(site: &'static Site, payload: Payload) {
        report::fallback_returned(site, payload, false);
    }
}

impl Policy for Unwind {
    const KEEPS: bool = false;
    const UNWINDS: bool = true;

    fn handle(site: &'static Site, payload: Payload) {
        // Never caught, so never handled; if it ever were, the panic goes on.
        let _ = site;
        std::panic::resume_unwind(payload)
    }
}
