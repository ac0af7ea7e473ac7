//! The holder behind a `#[callback]` type: a closure plus the little state
//! that makes handing it to C sound (running, poisoned), kept in the holder
//! itself rather than in a thread-local.
//!
//! The pointer given to C is derived from `&Holder`; everything C's calls
//! mutate sits in `Cell`/atomics/`UnsafeCell`, so that pointer stays valid
//! for writes under Stacked and Tree Borrows.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::panic::{Site, refuse};
use crate::policy::{Caught, Policy};

/// Holder states are bits, so that a refusal kept while the closure runs
/// can poison the holder, and `leave` (one `and`) keeps that poison.
const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const POISONED: u8 = 2;

/// Where a holder keeps whether its closure is running or poisoned. One
/// implementation per threading contract of the callback type.
#[doc(hidden)]
pub trait HolderState {
    /// The state of a fresh holder.
    const NEW: Self;
    /// Marks the closure running if it was idle; false, changing nothing,
    /// otherwise. Compares in place: it is the fast path of `call_mut`.
    fn try_enter(&self) -> bool;
    /// The previous state, without entering (for `Fn` closures, which may
    /// run several times at once).
    fn peek(&self) -> u8;
    /// After a call: clears `RUNNING`, and sets `POISONED` if asked (a
    /// poison set during the call stays).
    fn leave(&self, poisoned: bool);
    /// Poisons without touching `RUNNING` (a refusal kept while the
    /// closure runs).
    fn poison(&self);
}

/// Default contract: called on the caller's thread.
#[doc(hidden)]
#[derive(Debug)]
pub struct LocalState(Cell<u8>);

impl HolderState for LocalState {
    const NEW: Self = LocalState(Cell::new(IDLE));

    #[inline(always)]
    fn try_enter(&self) -> bool {
        if self.0.get() != IDLE {
            return false;
        }
        self.0.set(RUNNING);
        true
    }

    #[inline(always)]
    fn peek(&self) -> u8 {
        self.0.get()
    }

    #[inline(always)]
    fn leave(&self, poisoned: bool) {
        if poisoned {
            self.0.set(POISONED);
        } else {
            self.0.set(self.0.get() & !RUNNING);
        }
    }

    fn poison(&self) {
        self.0.set(self.0.get() | POISONED);
    }
}

/// `send`: may be called on another thread; concurrent entry is refused,
/// not raced.
#[doc(hidden)]
#[derive(Debug)]
pub struct SendState(AtomicU8);

impl HolderState for SendState {
    const NEW: Self = SendState(AtomicU8::new(IDLE));

    #[inline(always)]
    fn try_enter(&self) -> bool {
        self.0
            .compare_exchange(IDLE, RUNNING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline(always)]
    fn peek(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    #[inline(always)]
    fn leave(&self, poisoned: bool) {
        if poisoned {
            self.0.store(POISONED, Ordering::Release);
        } else {
            self.0.fetch_and(!RUNNING, Ordering::Release);
        }
    }

    fn poison(&self) {
        self.0.fetch_or(POISONED, Ordering::AcqRel);
    }
}

/// `sync`: `Fn + Send + Sync` closures, called from several threads at once.
/// Such types never use `resume`, so there is nothing to poison.
#[doc(hidden)]
#[derive(Debug)]
pub struct NoState;

impl HolderState for NoState {
    const NEW: Self = NoState;

    #[inline(always)]
    fn try_enter(&self) -> bool {
        true
    }

    #[inline(always)]
    fn peek(&self) -> u8 {
        IDLE
    }

    #[inline(always)]
    fn leave(&self, _poisoned: bool) {}

    fn poison(&self) {}
}

/// A closure and its state, as a callback type's trampoline sees it.
#[doc(hidden)]
pub struct Holder<F, S> {
    state: S,
    closure: UnsafeCell<F>,
}

impl<F, S: HolderState> Holder<F, S> {
    /// A holder for `closure`.
    #[inline(always)]
    pub const fn new(closure: F) -> Self {
        Holder {
            state: S::NEW,
            closure: UnsafeCell::new(closure),
        }
    }

    /// The pointer handed to C as user data.
    #[inline(always)]
    pub const fn as_ptr(&self) -> *mut c_void {
        (self as *const Self).cast_mut().cast()
    }

    /// The closure back, when the holder is no longer shared with C.
    #[inline(always)]
    pub fn into_inner(self) -> F {
        self.closure.into_inner()
    }

    /// Calls an `FnMut` closure through the pointer C passed back. A call
    /// while the closure runs is refused (it would alias `&mut F`); after a
    /// `resume` panic the holder is poisoned and returns the fallback.
    ///
    /// # Safety
    /// `ptr` came from [`Holder::as_ptr`] on a holder of this type that is
    /// still alive and has not moved, and `S` matches the threads the C
    /// library calls from.
    #[inline(always)]
    pub unsafe fn call_mut<P: Policy, R>(
        ptr: *mut c_void,
        site: &'static Site,
        fallback: impl FnOnce() -> R,
        call: impl FnOnce(&mut F) -> R,
    ) -> R {
        // SAFETY: by the caller's promise `ptr` points at a live holder;
        // only its `Cell`/atomic/`UnsafeCell` parts are written through it.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if !holder.state.try_enter() {
            not_entered::<P, S>(site, &holder.state);
            return fallback();
        }
        let run = || {
            // SAFETY: the state was idle and is now running, so no other
            // reference to the closure exists until `leave`.
            call(unsafe { &mut *holder.closure.get() })
        };
        let result = if P::UNWINDS {
            // The panic passes through here: mark the holder idle again on
            // the way out. (The other policies' paths cannot unwind.)
            let unwinding = LeaveOnUnwind(&holder.state);
            let result = P::catch(site, run);
            std::mem::forget(unwinding);
            result
        } else {
            P::catch(site, run)
        };
        holder.state.leave(P::POISONS && result.is_err());
        match result {
            Ok(value) => value,
            Err(Caught) => fallback(),
        }
    }

    /// Calls an `Fn` closure (types declared `reentrant` or `sync`), which
    /// may run several times at once. After a `resume` panic the holder is
    /// poisoned and returns the fallback.
    ///
    /// # Safety
    /// As for [`Holder::call_mut`].
    #[inline(always)]
    pub unsafe fn call_ref<P: Policy, R>(
        ptr: *mut c_void,
        site: &'static Site,
        fallback: impl FnOnce() -> R,
        call: impl FnOnce(&F) -> R,
    ) -> R {
        // SAFETY: as in `call_mut`.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if P::POISONS && holder.state.peek() & POISONED != 0 {
            return fallback();
        }
        // SAFETY: only shared references to the closure are ever made.
        let result = P::catch(site, || call(unsafe { &*holder.closure.get() }));
        match result {
            Ok(value) => value,
            Err(Caught) => {
                if P::POISONS {
                    holder.state.leave(true);
                }
                fallback()
            }
        }
    }

    /// The `destroy` of a boxed holder: drops it, handling a panic in the
    /// closure's `Drop` under the policy.
    ///
    /// # Safety
    /// `ptr` came from [`Holder::into_raw_box`] for this type and is freed
    /// only once, while no call is running.
    #[inline(always)]
    pub unsafe fn destroy_box<P: Policy>(ptr: *mut c_void, site: &'static Site) {
        // SAFETY: by the caller's promise.
        let holder = unsafe { Box::from_raw(ptr.cast::<Self>()) };
        let _ = P::catch(site, move || drop(holder));
    }

    /// A boxed holder as a raw pointer, for [`Holder::destroy_box`].
    #[inline(always)]
    pub fn into_raw_box(closure: F) -> *mut c_void {
        Box::into_raw(Box::new(Self::new(closure))).cast()
    }

    /// Frees a boxed holder from Rust (a `Boxed` dropped without being
    /// handed to C).
    ///
    /// # Safety
    /// As for [`Holder::destroy_box`].
    pub unsafe fn free_box(ptr: *mut c_void) {
        // SAFETY: by the caller's promise.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>()) });
    }
}

/// Marks a holder idle if its call unwinds (only `on_panic = unwind` lets a
/// panic through).
struct LeaveOnUnwind<'a, S: HolderState>(&'a S);

impl<S: HolderState> Drop for LeaveOnUnwind<'_, S> {
    fn drop(&mut self) {
        self.0.leave(false);
    }
}

/// A call that finds the holder poisoned (the fallback follows, quietly) or
/// its closure running (re-entry: refused under the policy; a kept refusal
/// poisons the holder, as a panic in the closure would). Nounwind
/// (`extern "C"`) unless the policy lets panics through, so that the
/// trampoline's fast path needs no landing pad; generic over the policy and
/// the state type only.
#[inline(always)]
fn not_entered<P: Policy, S: HolderState>(site: &'static Site, state: &S) {
    if P::UNWINDS {
        not_entered_unwinding::<P, S>(site, state);
    } else {
        not_entered_nounwind::<P, S>(site, state);
    }
}

#[cold]
#[inline(never)]
extern "C" fn not_entered_nounwind<P: Policy, S: HolderState>(site: &'static Site, state: &S) {
    refuse_unless_poisoned::<P, S>(site, state);
}

#[cold]
#[inline(never)]
fn not_entered_unwinding<P: Policy, S: HolderState>(site: &'static Site, state: &S) {
    refuse_unless_poisoned::<P, S>(site, state);
}

#[inline(always)]
fn refuse_unless_poisoned<P: Policy, S: HolderState>(site: &'static Site, state: &S) {
    if state.peek() & POISONED == 0
        && P::catch(site, || -> () { refuse_reentry(site) }).is_err()
        && P::POISONS
    {
        state.poison();
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn refuse_reentry(site: &'static Site) -> ! {
    refuse(
        site,
        format_args!(
            "it was called while its closure was already running (re-entered, or called from \
             two threads at once); an `FnMut` closure cannot run twice at once. If the C \
             library does this, declare the type `#[callback(reentrant)]` (or `sync`) and pass \
             an `Fn` closure"
        ),
    )
}

/// For callback types with `user_data = EXPR`: runs the accessor under the
/// policy and refuses null. `None` after a handled panic or refusal (the
/// trampoline then returns its fallback).
#[doc(hidden)]
#[inline(always)]
pub fn fetch_user_data<P: Policy>(
    site: &'static Site,
    fetch: impl FnOnce() -> *mut c_void,
) -> Option<*mut c_void> {
    P::catch(site, || {
        let ptr = fetch();
        if ptr.is_null() {
            refuse_null_holder(site);
        }
        ptr
    })
    .ok()
}

#[cold]
#[inline(never)]
#[track_caller]
fn refuse_null_holder(site: &'static Site) -> ! {
    refuse(
        site,
        format_args!("`user_data = EXPR` gave a null pointer instead of its holder"),
    )
}
