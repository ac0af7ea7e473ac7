//! The four `on_panic` policies as marker types, so that one generic shim
//! serves them all and the choice costs nothing at run time.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::panic::{Site, abort_on_panic, keep_for_guard, report_and_dispose};

/// A panic was caught and handled by the policy; the callback now returns
/// its fallback value.
#[doc(hidden)]
#[derive(Debug)]
pub struct Caught;

/// What a callback does when its Rust code panics. Implemented by the marker
/// types below; the macro picks one from `on_panic = ...`.
#[doc(hidden)]
pub trait Policy {
    /// A kept panic poisons: later calls return the fallback without running
    /// user code.
    const POISONS: bool;
    /// Panics pass through to the caller (`on_panic = unwind`); every other
    /// policy's paths are nounwind, so shims need no landing pads.
    const UNWINDS: bool;

    /// Runs `f`. On a panic, handles the payload as the policy says and
    /// returns `Err(Caught)`, or does not return (abort).
    fn catch<R>(site: &'static Site, f: impl FnOnce() -> R) -> Result<R, Caught>;
}

/// `on_panic = resume`: keep the payload for the thread's
/// [`resume_panics`](crate::resume_panics) guard (or the `scope`'s), which
/// re-raises it when the C call returns.
#[doc(hidden)]
#[derive(Debug)]
pub enum Resume {}

/// `on_panic = abort`: print which callback panicked, then abort.
#[doc(hidden)]
#[derive(Debug)]
pub enum Abort {}

/// `on_panic = fallback`: report the panic and return the fallback value.
#[doc(hidden)]
#[derive(Debug)]
pub enum Fallback {}

/// `on_panic = unwind`: let the panic unwind into the caller (only with a
/// `-unwind` ABI, which the macro checks).
#[doc(hidden)]
#[derive(Debug)]
pub enum Unwind {}

impl Policy for Resume {
    const POISONS: bool = true;
    const UNWINDS: bool = false;

    #[inline(always)]
    fn catch<R>(site: &'static Site, f: impl FnOnce() -> R) -> Result<R, Caught> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Ok(value),
            Err(payload) => {
                keep_for_guard(site, payload);
                Err(Caught)
            }
        }
    }
}

impl Policy for Abort {
    const POISONS: bool = false;
    const UNWINDS: bool = false;

    #[inline(always)]
    fn catch<R>(site: &'static Site, f: impl FnOnce() -> R) -> Result<R, Caught> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Ok(value),
            Err(payload) => abort_on_panic(site, &payload),
        }
    }
}

impl Policy for Fallback {
    const POISONS: bool = false;
    const UNWINDS: bool = false;

    #[inline(always)]
    fn catch<R>(site: &'static Site, f: impl FnOnce() -> R) -> Result<R, Caught> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Ok(value),
            Err(payload) => {
                report_and_dispose(site, payload);
                Err(Caught)
            }
        }
    }
}

impl Policy for Unwind {
    const POISONS: bool = false;
    const UNWINDS: bool = true;

    #[inline(always)]
    fn catch<R>(_site: &'static Site, f: impl FnOnce() -> R) -> Result<R, Caught> {
        Ok(f())
    }
}
