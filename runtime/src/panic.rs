//! Where a panic (or an error value) raised inside a callback goes: the
//! thread's guards (`resume_panics`, `try_resume`, `scope`), the poison they
//! spread while they hold something, and the disposal of payloads that must
//! not unwind into C.
//!
//! Every slow path here is `#[cold]` and non-generic where it can be, so the
//! trampolines stay small; the ones a trampoline calls on its catch path are
//! `extern "C"`, so the compiler knows they cannot unwind and the trampoline needs
//! no landing pad for them.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::policy::{Caught, Policy};
use crate::report::{self, ReportKind as Event};

/// A panic payload, as `catch_unwind` returns it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// Names a callback in the messages this crate prints: its path, where it
/// is written, and how to raise a refusal there.
#[doc(hidden)]
#[derive(Debug)]
pub struct Site {
    /// `module::path::name` of the callback fn or type.
    pub name: &'static str,
    /// The source file of the callback's definition.
    pub file: &'static str,
    /// Its line and column.
    pub line: u32,
    /// Its column.
    pub column: u32,
    /// An entry point of a callback set (`Set::entry`), whose refusals
    /// speak of the set's state rather than of a closure.
    pub set_entry: bool,
    /// Raises a refusal as a panic whose location is the callback's
    /// definition (generated beside it, so the panic hook points there and
    /// not into this crate).
    pub refuse: fn(fmt::Arguments<'_>) -> !,
}

impl Site {
    /// `path::name (file:line:column)`, for messages.
    pub(crate) fn describe(&self) -> String {
        format!(
            "`{}` ({}:{}:{})",
            self.name, self.file, self.line, self.column
        )
    }
}

/// Whether a guard still holds the panic (or error) that poisoned a holder.
/// A holder that panicked keeps a ticket of the guard that kept the panic,
/// and runs user code again once the guard has re-raised it (the Rust
/// caller has it and decides whether to carry on). Allocated only on the
/// panic path.
#[doc(hidden)]
#[derive(Debug)]
pub struct Ticket {
    held: AtomicBool,
    /// The tickets of several guards that keep what poisoned one holder
    /// (calls of a `send` holder on several threads, or a poisoning under
    /// an inner guard while an outer one keeps an earlier panic): this one
    /// is held while any of them is ([`Ticket::join`]). Empty for a
    /// guard's own ticket.
    joint: Vec<Arc<Ticket>>,
}

impl Ticket {
    #[cfg(test)]
    pub(crate) fn held_for_test(held: bool) -> Self {
        Ticket {
            held: AtomicBool::new(held),
            joint: Vec::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn release_for_test(&self) {
        self.held.store(false, Ordering::Release);
    }

    /// Whether the guard still holds it (for a joint ticket: whether one
    /// of its guards does).
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire) || self.joint.iter().any(|t| t.is_held())
    }

    /// The ticket a holder poisoned by `old` keeps when `new`'s guard
    /// poisons it too: `new` if `old` is not held any more (or is `new`),
    /// else a joint ticket held while `old`'s guards or `new`'s is, so
    /// that the guard that returns first does not end a poisoning the
    /// other still keeps. Joint tickets are flat (their parts are guards'
    /// own tickets, with no released ones), so `is_held` looks two deep at
    /// most. Allocates only then, on the poisoning path.
    pub(crate) fn join(old: Option<&Arc<Ticket>>, new: Arc<Ticket>) -> Arc<Ticket> {
        let Some(old) = old.filter(|old| !Arc::ptr_eq(old, &new) && old.is_held()) else {
            return new;
        };
        let mut parts: Vec<Arc<Ticket>> = if old.joint.is_empty() {
            vec![Arc::clone(old)]
        } else {
            old.joint
                .iter()
                .filter(|t| t.is_held() && !Arc::ptr_eq(t, &new))
                .cloned()
                .collect()
        };
        if parts.is_empty() {
            return new;
        }
        if new.joint.is_empty() {
            parts.push(new);
        } else {
            parts.extend(new.joint.iter().filter(|t| t.is_held()).cloned());
        }
        Arc::new(Ticket {
            held: AtomicBool::new(false),
            joint: parts,
        })
    }

    /// A ticket held by no guard, for a holder poisoned only while its
    /// call finishes an `Err` (see `holder::failed`); [`Ticket::release`]
    /// ends it.
    pub(crate) fn held_by_caller() -> Arc<Self> {
        Arc::new(Ticket {
            held: AtomicBool::new(true),
            joint: Vec::new(),
        })
    }

    /// Releases a ticket from [`Ticket::held_by_caller`].
    pub(crate) fn release(&self) {
        self.held.store(false, Ordering::Release);
    }
}

/// A `try_resume` guard's typed error slot, seen through its type id.
struct ErrorSlot {
    type_id: TypeId,
    type_name: &'static str,
    /// A [`KeptError<E>`] cell on the guard's stack, for the `E` of
    /// `type_id`.
    slot: *const (),
}

/// One active guard on a thread. Lives on its call's stack; the thread
/// state points at the innermost one only while it runs.
struct Guard<'a> {
    /// The guard this one nests in, set while it is installed.
    outer: Cell<*const Guard<'static>>,
    kept: Cell<Option<Payload>>,
    /// Set when this guard keeps an error (a typed `try_resume` slot
    /// filled): the guard is then poisoned like for a panic.
    holds_error: Cell<bool>,
    /// Set while a callback's `Err` that this guard takes (its slot still
    /// empty) waits for its `on_error` to return ([`fail`]): an error
    /// returned by a callback that `on_error` makes C call is a later one,
    /// and loses to it.
    error_reserved: Cell<bool>,
    error: Option<&'a ErrorSlot>,
    /// Made on demand for holders poisoned under this guard; released when
    /// the guard finishes.
    ticket: Cell<Option<Arc<Ticket>>>,
    /// `resume_panics_with`'s (or `try_resume_with`'s) stop: called once,
    /// when this guard's C call must end: it keeps a panic or an error, or
    /// an error kept by a guard outside it passed through it (see
    /// [`stop_up_to`]).
    stop: Option<&'a dyn Fn()>,
    /// Set when `stop` has been called (or is being called).
    stopped: Cell<bool>,
    /// Whether the thread was unwinding already when the guard started (a
    /// guard inside a `Drop` run by an unwind): otherwise an unwind seen
    /// while it runs started inside its call, and passes through it.
    began_unwinding: bool,
    /// The kept panic was raised while an unwind that began inside this
    /// guard's call was running: if that unwind reaches the guard, it is
    /// the first panic and wins; if it was caught inside the call, the
    /// kept one is re-raised as usual.
    kept_while_unwinding: Cell<bool>,
}

impl Guard<'_> {
    fn keeps_panic(&self) -> bool {
        let kept = self.kept.take();
        let keeps = kept.is_some();
        self.kept.set(kept);
        keeps
    }

    fn holds_something(&self) -> bool {
        self.keeps_panic() || self.holds_error.get()
    }
}

/// Per-thread state, const-initialised and without a destructor, so reading
/// it is a plain thread-local load.
struct ThreadState {
    guard: Cell<*const Guard<'static>>,
    /// True while the innermost guard holds a kept panic or error:
    /// fn-form `resume` callbacks then return their fallback without running
    /// user code.
    poisoned: Cell<bool>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState { guard: Cell::new(ptr::null()), poisoned: Cell::new(false) }
    };
}

/// Whether the innermost guard on this thread holds a kept panic or error.
/// Read only behind a [`PoisonFilter`], off the fast path.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) fn thread_poisoned() -> bool {
    THREAD.with(|t| t.poisoned.get())
}

/// A fn-form callback's filter in front of [`thread_poisoned`], one static
/// per callback (beside its [`Site`]): `0` while no thread is poisoned,
/// `0 - k` (wrapping) while `k` threads are. The trampoline compares its
/// user-data address with it, `addr <= limit`, which is true for null, and
/// for every pointer while some thread is poisoned: one compare stands for
/// the null and the poison check, and only the cold path reads the
/// thread-local. (Reading a thread-local from a library crate compiles as a
/// call to `__tls_get_addr`, which would make every trampoline save
/// registers.) Other threads only take the cold path while one is poisoned.
///
/// The filter is the callback's own static, not one of this crate's, so the
/// trampoline reads it directly: a static of another crate is read through
/// the GOT, one load more on every call. A new filter says `usize::MAX`,
/// which sends the first call down the cold path, where the filter joins
/// [`FILTERS`] and gets the current limit; from then on every change of the
/// limit is stored into it. Poisoning is rare (a kept panic or error), and
/// the list holds only the fn-form callbacks that have been called.
///
/// A filter never leaves the list: its static lives as long as the code
/// that calls it. The one way to outlive it is to unload (`dlclose`) a
/// shared object holding `#[callback]` fns while this crate stays loaded
/// in another, which needs this crate linked as a Rust `dylib`
/// (`-C prefer-dynamic`); loading and unloading shared objects is `unsafe`
/// and such a setup is not supported. A `cdylib` or an executable carries
/// its own copy of this crate, list included, and unloads it with the
/// filters.
#[doc(hidden)]
#[derive(Debug)]
pub struct PoisonFilter {
    limit: AtomicUsize,
    /// The next filter in [`FILTERS`] (the last one points at
    /// [`LAST_FILTER`]); null until the filter joins. Written only with
    /// `FILTERS` locked.
    next: AtomicPtr<PoisonFilter>,
}

impl PoisonFilter {
    /// A filter that has not joined [`FILTERS`] yet, for a `static`'s
    /// initialiser (each use is a new filter). A constant, not a `const fn`
    /// call, so that 500 callbacks do not evaluate 500 calls.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const NEW: Self = Self::new();

    /// A filter that has not joined [`FILTERS`] yet.
    const fn new() -> Self {
        PoisonFilter {
            limit: AtomicUsize::new(usize::MAX),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The limit: a user-data address at most this takes the cold path.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Joins [`FILTERS`] if the filter has not yet, taking the current
    /// limit. Called on the cold path, before the exact check.
    pub(crate) fn join(&'static self) {
        if !self.next.load(Ordering::Relaxed).is_null() {
            return;
        }
        let mut filters = lock_filters();
        if self.next.load(Ordering::Relaxed).is_null() {
            self.next.store(filters.first.cast_mut(), Ordering::Relaxed);
            filters.first = self;
            self.limit.store(filters.limit, Ordering::Relaxed);
        }
    }
}

/// The end of [`FILTERS`]: a filter that never joins, so a joined filter's
/// `next` is never null.
static LAST_FILTER: PoisonFilter = PoisonFilter::new();

/// Every [`PoisonFilter`] that has joined, as a list through their `next`
/// fields, and the limit they all hold.
struct Filters {
    first: *const PoisonFilter,
    limit: usize,
}

// SAFETY: `first` points at a `static` `PoisonFilter` (`Sync`: atomics
// only), which any thread may read.
unsafe impl Send for Filters {}

static FILTERS: Mutex<Filters> = Mutex::new(Filters {
    first: &LAST_FILTER,
    limit: 0,
});

/// Locks [`FILTERS`]. Nothing panics with it locked, and what it guards is
/// consistent after every store anyway, so a poisoned lock is used as is.
fn lock_filters() -> MutexGuard<'static, Filters> {
    FILTERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets this thread's poison flag, keeping every [`PoisonFilter`] in step.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn set_poisoned(t: &ThreadState, poisoned: bool) {
    if t.poisoned.replace(poisoned) != poisoned {
        update_filters(poisoned);
    }
}

/// One more (or one fewer) poisoned thread: stores the new limit into every
/// filter, before this thread runs another callback.
#[cold]
#[inline(never)]
fn update_filters(poisoned: bool) {
    let mut filters = lock_filters();
    filters.limit = if poisoned {
        filters.limit.wrapping_sub(1)
    } else {
        filters.limit.wrapping_add(1)
    };
    let mut filter = filters.first;
    while !ptr::eq(filter, &LAST_FILTER) {
        // SAFETY: every filter in the list is a `static`; `FILTERS` is
        // locked, so the list does not change meanwhile.
        let joined = unsafe { &*filter };
        joined.limit.store(filters.limit, Ordering::Relaxed);
        filter = joined.next.load(Ordering::Relaxed);
    }
}

/// Runs `run` with `guard` installed as the thread's innermost guard, then
/// puts the outer one back, however `run` ends.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn with_guard<R>(guard: &Guard<'_>, run: impl FnOnce() -> R) -> std::thread::Result<R> {
    /// Unlinks the guard; the thread is poisoned again if the outer guard,
    /// or one further out, holds something.
    struct Restore(*const Guard<'static>);
    impl Drop for Restore {
        #[cfg_attr(not(debug_assertions), inline(always))]
        #[cfg_attr(debug_assertions, inline)]
        fn drop(&mut self) {
            let outer = self.0;
            THREAD.with(|t| {
                t.guard.set(outer);
                set_poisoned(t, kept_outside(outer));
            });
        }
    }
    let restore = THREAD.with(|t| {
        // The guard outlives its installation: `Restore` unlinks it before
        // this function returns or unwinds. The lifetime is erased only for
        // the thread-local's sake; it is never used past that.
        let erased = ptr::from_ref(guard).cast::<Guard<'static>>();
        let outer = t.guard.replace(erased);
        guard.outer.set(outer);
        if !guard.began_unwinding && !outer.is_null() {
            // No unwind runs: any unwind during which a guard outside kept
            // its panic has ended inside that guard's call, so that panic
            // is the first one (an unwind this guard re-raises later is
            // not the one it was raised during).
            clear_kept_while_unwinding(outer);
        }
        // A new guard starts clean, unless a guard outside it holds a kept
        // panic or error: the thread stays poisoned until that one returns
        // (a holder's closure that starts its own guard while the thread is
        // poisoned must not run the poisoned fn-form callbacks again). An
        // outer error also poisons holders, through `outer_error_ticket`.
        set_poisoned(t, kept_outside(outer));
        Restore(outer)
    });
    let result = match catch_unwind(AssertUnwindSafe(run)) {
        Ok(value) => Ok(value),
        Err(own) => Err(own_panic_lost(guard, own)),
    };
    drop(restore);
    if let Some(ticket) = guard.ticket.take() {
        ticket.held.store(false, Ordering::Release);
    }
    result
}

/// `run`'s own panic, caught by `with_guard` while `guard` is still
/// installed: if the guard keeps an earlier panic that will be re-raised
/// instead (not one raised during an unwind that reached the guard, which
/// loses to it), the own payload is dropped here, still under the guard,
/// so that a callback its `Drop` makes C call is a later panic, disposed
/// of (the thread is poisoned meanwhile), not a fresh panic for the guard
/// outside to prefer to the kept one; the kept panic is returned as the
/// result instead. Otherwise returns `own`.
#[cold]
#[inline(never)]
fn own_panic_lost(guard: &Guard<'_>, own: Payload) -> Payload {
    if guard.kept_while_unwinding.get() || !guard.keeps_panic() {
        return own;
    }
    dispose(own);
    match guard.kept.take() {
        Some(kept) => kept,
        // `keeps_panic` said so, and only this thread's guards fill it,
        // never empty it, while it is installed.
        None => unreachable!("ffi-callback: a guard lost its kept panic"),
    }
}

/// Runs `f` (typically the C call that invokes callbacks) and re-raises,
/// with its original payload, the first panic that a `resume` callback kept
/// while `f` ran.
///
/// While a kept panic is pending, every `#[callback]` fn with
/// `on_panic = resume` on this thread returns its fallback without running
/// user code (the C library may keep calling after the error), and a
/// callback-type holder whose closure panicked does the same until this
/// guard has re-raised the panic.
///
/// Guards nest: an inner `resume_panics` keeps the panics of the C call it
/// wraps and re-raises them into the callback that called it, where the outer
/// guard keeps them in turn. An inner guard started while an outer one holds
/// a kept panic (or error) starts poisoned: the fn-form callbacks stay
/// stopped until the outer guard returns.
///
/// If `f` itself panics while a kept panic is pending, the kept (earlier)
/// panic is the one that propagates; both were printed by the panic hook when
/// they were raised. If the guard finishes while its thread is already
/// unwinding (a `resume_panics` inside a `Drop` that runs during a panic), it
/// reports the kept panic and drops it instead of panicking a second time.
///
/// ```
/// use std::ffi::c_void;
/// use ffi_callback::{callback, resume_panics};
///
/// #[callback]
/// extern "C" fn visit(item: i32, #[user_data] seen: &mut Vec<i32>) -> i32 {
///     assert!(item != 3, "three is not allowed");
///     seen.push(item);
///     0
/// }
///
/// // Stands in for a C library that calls back once per item.
/// unsafe extern "C" fn for_each(cb: Option<unsafe extern "C" fn(i32, *mut c_void) -> i32>, ud: *mut c_void) {
///     for i in 1..=5 {
///         unsafe { cb.unwrap()(i, ud) };
///     }
/// }
///
/// let mut seen: Vec<i32> = Vec::new();
/// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     resume_panics(|| unsafe { for_each(Some(visit), visit::user_data(&mut seen)) })
/// }));
/// let payload = caught.unwrap_err();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"three is not allowed"));
/// assert_eq!(seen, [1, 2]); // calls 4 and 5 did not run user code
/// ```
#[inline]
pub fn resume_panics<R>(f: impl FnOnce() -> R) -> R {
    run_erased(f, |run| run_guarded(None, None, run))
}

/// [`resume_panics`] for a C call that does not return by itself once a
/// panic is kept, such as an event loop (`g_main_loop_run`): `stop` is
/// called once, from inside the callback that panicked, right after the
/// panic is kept (`g_main_loop_quit(loop)`), so that `run` returns and the
/// panic can be re-raised. A panic inside `stop` is reported and dropped.
///
/// Errors stop the loop too: when a callback inside `run` fails with an
/// error that a [`try_resume`] outside this guard keeps, `stop` is called
/// the same way, so that `run` returns and the error comes back (`run`'s
/// value then goes to the code between the two guards, and `try_resume`
/// returns the error). An error kept by a `try_resume` inside `run` does
/// not call it: that guard's own C call ends, and `run` goes on. For an
/// event loop whose callbacks fail with typed errors,
/// [`try_resume_with`] is the one guard that does both.
///
/// ```
/// use std::cell::Cell;
/// use ffi_callback::{callback, resume_panics_with};
///
/// #[callback(fallback = 0)]
/// type Tick = unsafe extern "C" fn(#[user_data] ud: *mut std::ffi::c_void) -> i32;
///
/// // Stands in for an event loop that runs until told to quit.
/// let running = Cell::new(true);
/// let mut ticks = 0;
/// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     let tick = Tick::new(|| {
///         ticks += 1;
///         assert!(ticks < 3, "third tick");
///         1
///     });
///     resume_panics_with(
///         || while running.get() { unsafe { tick.function()(tick.user_data()) }; },
///         || running.set(false),
///     )
/// }));
/// assert!(caught.is_err());
/// assert_eq!(ticks, 3);
/// ```
#[inline]
pub fn resume_panics_with<R>(run: impl FnOnce() -> R, stop: impl Fn()) -> R {
    run_erased(run, |erased| run_guarded(Some(&stop), None, erased))
}

/// Runs `f` (the C call) and returns the first error that a callback
/// returning `Result<_, E>` failed with while `f` ran, or `f`'s value.
/// Panics are kept and re-raised as by [`resume_panics`], and win over an
/// error.
///
/// A callback that fails with `Err(e)` returns its `on_error` value (or its
/// fallback) to C, and `e` goes to the innermost `try_resume::<_, E>` (or
/// `try_scope`) on the thread, past inner guards of other types; an error
/// that no guard on the thread takes is reported and dropped. While an error is kept, the guard is poisoned as for a panic:
/// `resume` callbacks return their fallback without running user code until
/// `try_resume` returns.
///
/// A kept error also calls the `stop` of every [`resume_panics_with`]
/// guard it passed through on its way here (those inside `f`), so an event
/// loop under one of them ends, and `f` returns. For an event loop run
/// directly by `f`, [`try_resume_with`] names the `stop`.
///
/// ```
/// use std::ffi::c_void;
/// use ffi_callback::{callback, try_resume};
///
/// #[callback(fallback = -1)]
/// extern "C" fn check(item: i32, #[user_data] seen: &mut Vec<i32>) -> Result<i32, String> {
///     if item == 3 {
///         return Err(format!("item {item} is not allowed"));
///     }
///     seen.push(item);
///     Ok(0)
/// }
///
/// unsafe extern "C" fn for_each(cb: unsafe extern "C" fn(i32, *mut c_void) -> i32, ud: *mut c_void) -> i32 {
///     for i in 1..=5 {
///         if unsafe { cb(i, ud) } != 0 {
///             return -1;
///         }
///     }
///     0
/// }
///
/// let mut seen = Vec::new();
/// let result = try_resume(|| unsafe { for_each(check, check::user_data(&mut seen)) });
/// assert_eq!(result, Err("item 3 is not allowed".to_owned()));
/// assert_eq!(seen, [1, 2]);
/// ```
#[inline]
pub fn try_resume<R, E: 'static>(f: impl FnOnce() -> R) -> Result<R, E> {
    try_resume_guarded(f, None)
}

/// [`try_resume`] for a C call that does not return by itself once an
/// error or a panic is kept, such as an event loop (`g_main_loop_run`):
/// `stop` is called once, from inside the callback that failed (or
/// panicked), right after the error (or panic) is kept
/// (`g_main_loop_quit(loop)`), so that `run` returns and the error can be
/// returned (or the panic re-raised), as [`resume_panics_with`] does for
/// panics. A panic inside `stop` is reported and dropped.
///
/// ```
/// use std::cell::Cell;
/// use ffi_callback::{callback, try_resume_with};
///
/// #[derive(Debug, PartialEq)]
/// struct Overheated(u32);
///
/// #[callback(error = Overheated, on_error = 0)]
/// type Tick = unsafe extern "C" fn(#[user_data] ud: *mut std::ffi::c_void) -> i32;
///
/// // Stands in for an event loop that runs until told to quit.
/// let running = Cell::new(true);
/// let mut ticks = 0;
/// let mut dispatched = 0;
/// let tick = Tick::new(|| {
///     ticks += 1;
///     if ticks == 3 {
///         return Err(Overheated(ticks));
///     }
///     Ok(1)
/// });
/// let result = try_resume_with(
///     || while running.get() {
///         dispatched += 1;
///         // SAFETY: the holder is alive and unmoved for the call.
///         unsafe { tick.function()(tick.user_data()) };
///     },
///     || running.set(false),
/// );
/// assert_eq!(result, Err(Overheated(3)));
/// assert_eq!(dispatched, 3); // the loop ended right after the error
/// ```
#[inline]
pub fn try_resume_with<R, E: 'static>(run: impl FnOnce() -> R, stop: impl Fn()) -> Result<R, E> {
    try_resume_guarded(run, Some(&stop))
}

/// The body of [`try_resume`] and [`try_resume_with`].
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn try_resume_guarded<R, E: 'static>(
    f: impl FnOnce() -> R,
    stop: Option<&dyn Fn()>,
) -> Result<R, E> {
    let error = ErrorCell::<E>(Cell::new(None));
    let slot = ErrorSlot {
        type_id: TypeId::of::<E>(),
        type_name: std::any::type_name::<E>(),
        slot: ptr::from_ref(&error.0).cast(),
    };
    let value = run_erased(f, |run| run_guarded(stop, Some(&slot), run));
    match error.0.take() {
        Some((error, _)) => Err(error),
        None => Ok(value),
    }
}

/// What a `try_resume::<E>` keeps: the first error, and the callback that
/// failed with it (for the report if it cannot be returned).
type KeptError<E> = Cell<Option<(E, &'static Site)>>;

/// A `try_resume`'s error slot. It still holds an error when dropped only
/// if the guarded call unwound (a kept panic wins over an error): the error
/// is then dropped during that unwinding, where a panic of its `Drop` would
/// abort the process ("panic in a destructor during cleanup") without a
/// word about the callback. That panic is caught, reported naming the
/// callback, and dropped; the first panic goes on.
struct ErrorCell<E>(KeptError<E>);

impl<E> Drop for ErrorCell<E> {
    #[inline]
    fn drop(&mut self) {
        if let Some((error, site)) = self.0.take() {
            drop_error_caught(site, error, ErrorDrop::NotReturned);
        }
    }
}

/// Runs `f` through `guard`, which sees it only as an [`ErasedCall`]: the
/// guard's body (installing it, the catch, re-raising) is compiled once,
/// not once per guarded call site. `guard` runs `f` once, or unwinds.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn run_erased<F: FnOnce() -> R, R>(f: F, guard: impl FnOnce(ErasedCall<'_>)) -> R {
    let mut slot = CallSlot {
        value: None,
        f: Some(f),
    };
    guard(ErasedCall {
        slot: ptr::addr_of_mut!(slot).cast(),
        call: call_slot::<F, R>,
        discard: discard_for::<R>(),
        _slot: PhantomData,
    });
    match slot.value {
        Some(value) => value,
        // `run_guarded` returns only after running `f` to completion.
        None => unreachable!("ffi-callback: a guard returned without running its closure"),
    }
}

/// [`resume_panics`] around a call whose slot the caller lays out (a
/// callback type's `scope`, which then needs no closure for the guard to
/// run): `call` runs it once, and `slot` points at a `repr(C)` struct whose
/// first field is the call's value, an `Option<R>` that `call` fills.
///
/// # Safety
/// `slot` is such a struct, alive and otherwise unused until this returns;
/// `call(slot)` may be called once, for it.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) unsafe fn resume_panics_slot<R>(slot: *mut (), call: unsafe fn(*mut ())) {
    run_guarded(
        None,
        None,
        ErasedCall {
            slot,
            call,
            discard: discard_for::<R>(),
            _slot: PhantomData,
        },
    );
}

/// [`try_resume`] around a call whose slot the caller lays out, as for
/// [`resume_panics_slot`]: returns the first `E` a callback failed with
/// while `call` ran, if any (the value, then, is still in the slot).
///
/// # Safety
/// As for [`resume_panics_slot`].
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) unsafe fn try_resume_slot<R, E: 'static>(
    slot: *mut (),
    call: unsafe fn(*mut ()),
) -> Option<E> {
    let error = ErrorCell::<E>(Cell::new(None));
    let error_slot = ErrorSlot {
        type_id: TypeId::of::<E>(),
        type_name: std::any::type_name::<E>(),
        slot: ptr::from_ref(&error.0).cast(),
    };
    run_guarded(
        None,
        Some(&error_slot),
        ErasedCall {
            slot,
            call,
            discard: discard_for::<R>(),
            _slot: PhantomData,
        },
    );
    error.0.take().map(|(error, _)| error)
}

/// [`ErasedCall`]'s `discard` for a slot whose value (its first field) is
/// an `Option<R>`: generic over the value's type only, and one fn for
/// every value without drop glue, not one catch per guarded closure.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn discard_for<R>() -> unsafe fn(*mut ()) {
    if std::mem::needs_drop::<R>() {
        discard_slot::<R>
    } else {
        discard_nothing
    }
}

/// A guarded call's closure and, once it has run, its value. `repr(C)`,
/// the value first: its place does not depend on the closure's type, so
/// [`discard_slot`] reads it knowing `R` alone.
#[repr(C)]
struct CallSlot<F, R> {
    value: Option<R>,
    f: Option<F>,
}

/// A [`CallSlot`] seen by the guard, whatever its types: one fn per
/// guarded closure (a `&mut dyn FnMut` would be that closure plus its
/// vtable's shim).
pub(crate) struct ErasedCall<'a> {
    slot: *mut (),
    call: unsafe fn(*mut ()),
    /// Drops the closure's value, for a guard about to re-raise a kept
    /// panic: dropped by that unwind, a `Drop` that panics would abort.
    discard: unsafe fn(*mut ()),
    /// Borrows the slot for as long as the guard may run it.
    _slot: PhantomData<&'a mut ()>,
}

impl ErasedCall<'_> {
    /// Runs the closure (once: a second run finds it taken).
    fn run(self) {
        // SAFETY: `slot` points at the `CallSlot` that `run_erased` made
        // `call` for, alive and otherwise unused for `'_`.
        unsafe { (self.call)(self.slot) }
    }
}

/// [`ErasedCall::run`]'s body for one slot type.
///
/// # Safety
/// `slot` points at a live `CallSlot<F, R>`, otherwise unused meanwhile.
unsafe fn call_slot<F: FnOnce() -> R, R>(slot: *mut ()) {
    // SAFETY: the caller's promise.
    let slot = unsafe { &mut *slot.cast::<CallSlot<F, R>>() };
    if let Some(f) = slot.f.take() {
        slot.value = Some(f());
    }
}

/// [`ErasedCall`]'s `discard` for one value type: drops the value, a panic
/// of its `Drop` disposed of (the kept panic goes on).
///
/// # Safety
/// `slot` points at a live `CallSlot<_, R>`, otherwise unused meanwhile
/// (its value is the first field of a `repr(C)` struct, at its address).
unsafe fn discard_slot<R>(slot: *mut ()) {
    // SAFETY: the caller's promise.
    let value = unsafe { &mut *slot.cast::<Option<R>>() };
    if let Some(value) = value.take() {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
            dispose(payload);
        }
    }
}

/// [`ErasedCall`]'s `discard` for a value without drop glue: nothing to
/// drop, and nothing that could panic.
///
/// # Safety
/// None: the slot is not read.
unsafe fn discard_nothing(_slot: *mut ()) {}

/// The body of every guard: installs one on this thread around `run`, then
/// re-raises the kept panic (the earlier cause) in preference to `run`'s
/// own; returns normally only if `run` completed (while the thread is
/// already unwinding, a kept panic is reported and dropped instead).
#[inline(never)]
fn run_guarded(stop: Option<&dyn Fn()>, error: Option<&ErrorSlot>, run: ErasedCall<'_>) {
    // Not dropped: its only fields with a `Drop`, the kept panic and the
    // ticket, are taken before this returns (`with_guard` takes the
    // ticket, and the kept panic if `run` panicked too; the `kept.take()`
    // below takes the panic otherwise) and nothing fills them once the
    // guard is unlinked; their drop glue cost every guard a call.
    let guard = ManuallyDrop::new(Guard {
        outer: Cell::new(ptr::null()),
        kept: Cell::new(None),
        holds_error: Cell::new(false),
        error_reserved: Cell::new(false),
        error,
        ticket: Cell::new(None),
        stop,
        stopped: Cell::new(false),
        began_unwinding: std::thread::panicking(),
        kept_while_unwinding: Cell::new(false),
    });
    let (slot, discard) = (run.slot, run.discard);
    let result = with_guard(&guard, || {
        run.run();
        if guard.keeps_panic() && !std::thread::panicking() {
            // The kept panic is re-raised below: drop the value first, where
            // a panic of its `Drop` does not meet that unwind, and while
            // this guard is installed, so that a callback's panic there (the
            // value frees a C object) is a later one, disposed of, not a
            // fresh panic for the guard outside to prefer to the kept one.
            // SAFETY: `run_erased`'s slot, alive; its closure has returned,
            // and nothing else uses it until this guard returns or unwinds.
            unsafe { discard(slot) };
        }
    });
    let kept = guard.kept.take();
    if guard.kept_while_unwinding.get() && result.is_err() {
        // The unwind during which the kept panic was raised reached this
        // guard: it is the first panic.
        if let Some(kept) = kept {
            report::event(None, Event::KeptPanicDroppedWhileUnwinding, Some(&*kept));
            dispose(kept);
        }
        finish(result, None);
        return;
    }
    finish(result, kept);
}

/// Returns `f`'s value, or re-raises the kept panic (the earlier cause) in
/// preference to `f`'s own. While the thread is already unwinding, a kept
/// panic is reported and dropped instead (a second panic would abort).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn finish<R>(result: std::thread::Result<R>, kept: Option<Payload>) -> R {
    match (result, kept) {
        (Ok(value), None) => value,
        (result, kept) => finish_slow(result, kept),
    }
}

#[cold]
#[inline(never)]
fn finish_slow<R>(result: std::thread::Result<R>, kept: Option<Payload>) -> R {
    match (result, kept) {
        (Ok(value), None) => value,
        (Ok(value), Some(kept)) if std::thread::panicking() => {
            report::event(None, Event::KeptPanicDroppedWhileUnwinding, Some(&*kept));
            dispose(kept);
            value
        }
        (own, Some(kept)) => {
            if let Err(own) = own {
                dispose(own);
            }
            resume_unwind(kept)
        }
        (Err(own), None) => resume_unwind(own),
    }
}

/// What became of a panic that a `resume` callback handed to its guard.
pub(crate) enum Kept {
    /// The innermost guard keeps it; the thread is poisoned.
    Kept,
    /// No guard on this thread.
    NoGuard(Payload),
}

/// `on_panic = resume`: keeps `payload` in this thread's innermost guard and
/// poisons the thread, calling the guard's `stop` (once: the first time it
/// keeps something, unless an error passing through it called it before).
pub(crate) fn keep_for_guard(payload: Payload) -> Kept {
    let guard = THREAD.with(|t| {
        let guard = t.guard.get();
        if !guard.is_null() {
            set_poisoned(t, true);
        }
        guard
    });
    if guard.is_null() {
        return Kept::NoGuard(payload);
    }
    // SAFETY: a non-null guard pointer points at the `Guard` of a guard call
    // still running on this thread: `with_guard` unlinks it before that call
    // returns or unwinds.
    let guard = unsafe { &*guard };
    let unwinding_inside = !guard.began_unwinding && std::thread::panicking();
    if !std::thread::panicking() {
        // Any unwind a panic kept earlier was raised during has ended
        // inside the call: that panic is the first, whatever comes next.
        guard.kept_while_unwinding.set(false);
    }
    match guard.kept.take() {
        None => {
            // Raised while an unwind that began inside this guard's call
            // runs (a `Drop` there made C call back): if that unwind
            // reaches the guard it wins (`run_guarded`); if the call
            // catches it, this one is re-raised.
            guard.kept_while_unwinding.set(unwinding_inside);
            guard.kept.set(Some(payload));
        }
        Some(earlier) => {
            guard.kept.set(Some(earlier));
            dispose(payload);
        }
    }
    // The innermost guard keeps every panic: no guard inside it to stop.
    stop_up_to(guard);
    Kept::Kept
}

/// The `Err(e)` path of a `Result` callback (a fn, a callback type's
/// closure, a once-callback, a set's entry), run under the callback's
/// panic policy (its own catch, after the body's): computes C's value with
/// `on_error(&e)`, then hands `e` to the thread's guard
/// ([`keep_error_or_unwind`]). Returns C's value.
///
/// Nothing here may drop `e` while a panic unwinds, where a panic of `E`'s
/// `Drop` would abort the process with no word about the callback: if
/// `on_error` panics, `e` is dropped first, under a catch (a panic of that
/// drop is reported, naming the callback, and dropped), and then the
/// `on_error` panic goes on to the callback's policy. A panic of `E`'s
/// `Drop` when no guard keeps `e` unwinds from here like a panic of the
/// callback, so the policy handles it (kept, reported, or an abort naming
/// the callback), and C receives the fallback.
#[cold]
#[inline(never)]
pub(crate) fn fail<E: 'static, R>(
    site: &'static Site,
    error: E,
    on_error: impl FnOnce(&E) -> R,
) -> R {
    // Without an `on_error`, C gets the fallback, which may read `why`.
    crate::fallback_reason::note(Cow::Borrowed(crate::fallback_reason::RETURNED_ERR));
    // The guard that will keep `error` is reserved while `on_error` runs:
    // a callback that it makes C call (libxml2's `xmlXPathErr` calls the
    // context's error callback) and that fails too comes second.
    let reserved = reserve_error_slot::<E>();
    let value = match catch_unwind(AssertUnwindSafe(|| on_error(&error))) {
        Ok(value) => {
            crate::fallback_reason::forget();
            value
        }
        Err(payload) => {
            release_error_slot(reserved);
            drop_error_caught(site, error, ErrorDrop::OnErrorPanicked);
            resume_unwind(payload)
        }
    };
    release_error_slot(reserved);
    // If the error is not kept and its `Drop` panics, that panic unwinds
    // from here with only `value` live (what C would have received, a C
    // type), to the policy.
    keep_error_or_unwind(site, error);
    value
}

/// The `Err(e)` path of a `Result` callback after its body's catch (a
/// once-callback, a set's destroy entry): [`fail`] under the policy's own
/// catch. `Err(Caught)` once the policy handled a panic of `on_error` or
/// of the error's `Drop` (C then gets the fallback).
#[cold]
#[inline(never)]
pub(crate) fn fail_caught<P: Policy, E: 'static, R>(
    site: &'static Site,
    error: E,
    on_error: impl FnOnce(&E) -> R,
) -> Result<R, Caught> {
    P::catch(site, move || fail(site, error, on_error))
}

/// Hands a `Result` callback's error to the thread's guard ([`keep`]); an
/// error no guard keeps (none takes its type, or an earlier error won) is
/// dropped here, and a panic of its `Drop` unwinds from here, to the
/// policy's catch. Only called under that catch (see [`fail`]).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn keep_error_or_unwind<E: 'static>(site: &'static Site, error: E) {
    if let Some(rejected) = keep(site, error) {
        drop(rejected);
    }
}

/// A `Result` callback's `Err(e)`: kept in the innermost `try_resume` guard
/// for `E` (the first error wins; the thread is poisoned), passing through
/// inner guards that take no `E` (a `resume_panics`, a `try_resume` for
/// another type), as an exception finds its handler. Returns the error if
/// it was not kept: no guard on the thread takes `E` (reported), or an
/// earlier error won. The caller drops it: its `Drop` is user code, which
/// runs only once the guard's state is consistent. When a guard takes it
/// (kept or not), the `stop`s from the innermost guard out to that one are
/// called ([`stop_up_to`]; each only once, so after the first error only a
/// guard started since then, inside the keeper, is stopped).
fn keep<E: 'static>(site: &'static Site, error: E) -> Option<E> {
    let mut guard = THREAD.with(|t| t.guard.get());
    // For the report: the type the innermost typed guard takes instead.
    let mut innermost_type = None;
    while !guard.is_null() {
        // SAFETY: guards on the thread's list belong to guard calls still
        // running on this thread (`with_guard` unlinks them before they end).
        let g = unsafe { &*guard };
        if let Some(slot) = g.error {
            if slot.type_id != TypeId::of::<E>() {
                innermost_type.get_or_insert(slot.type_name);
                guard = g.outer.get();
                continue;
            }
            // SAFETY: the slot is the `KeptError<E>` of a `try_resume::<E>`
            // still running on this thread (the type ids match), and only
            // this thread touches it.
            let cell = unsafe { &*slot.slot.cast::<KeptError<E>>() };
            let rejected = match cell.take() {
                // An earlier error, still in its `on_error`, comes here
                // (see `fail`): this one loses to it, as to one kept.
                None if g.error_reserved.get() => Some(error),
                None => {
                    cell.set(Some((error, site)));
                    None
                }
                Some(earlier) => {
                    cell.set(Some(earlier));
                    Some(error)
                }
            };
            g.holds_error.set(true);
            // The thread is poisoned even when the error passed through
            // inner guards: the rest of the C call gets fallbacks, fn form
            // and holders alike.
            THREAD.with(|t| set_poisoned(t, true));
            // The C calls of this guard and of those the error passed
            // through must end for the error to come back: an event loop
            // under an inner `resume_panics_with` would otherwise run on,
            // poisoned, and this guard never return.
            stop_up_to(g);
            return rejected;
        }
        guard = g.outer.get();
    }
    report::error_without_guard(site, std::any::type_name::<E>(), innermost_type);
    Some(error)
}

/// Reserves the slot of the guard that would keep an `E` now (the
/// innermost `try_resume::<E>` on this thread), if it is empty and not
/// reserved already: that guard, for [`release_error_slot`].
fn reserve_error_slot<E: 'static>() -> *const Guard<'static> {
    let mut guard = THREAD.with(|t| t.guard.get());
    while !guard.is_null() {
        // SAFETY: as in `keep`.
        let g = unsafe { &*guard };
        if let Some(slot) = g.error {
            if slot.type_id == TypeId::of::<E>() {
                // SAFETY: as in `keep`.
                let cell = unsafe { &*slot.slot.cast::<KeptError<E>>() };
                let earlier = cell.take();
                let empty = earlier.is_none();
                cell.set(earlier);
                if empty && !g.error_reserved.get() {
                    g.error_reserved.set(true);
                    return guard;
                }
                return ptr::null();
            }
        }
        guard = g.outer.get();
    }
    ptr::null()
}

/// Ends a reservation of [`reserve_error_slot`] (null: none).
fn release_error_slot(guard: *const Guard<'static>) {
    if !guard.is_null() {
        // SAFETY: a guard on this thread's list when reserved, whose call
        // is still running: the `on_error` that ran since was inside it.
        unsafe { &*guard }.error_reserved.set(false);
    }
}

/// Why an error value is dropped under a catch (for the report if its
/// `Drop` panics).
#[derive(Clone, Copy)]
pub(crate) enum ErrorDrop {
    /// The callback's `on_error` expression panicked; that panic goes on.
    OnErrorPanicked,
    /// The callback's `keep_error = EXPR` panicked; that panic goes on.
    KeepErrorPanicked,
    /// It went to the `on_raise` handler of a callback with a raise exit,
    /// which then raises: no policy is at hand.
    Raised,
    /// A `try_resume` kept it, but ended by a panic instead.
    NotReturned,
}

/// Drops an error value whose `Drop` may panic where no panic may unwind:
/// such a panic is caught, reported naming the callback, and disposed of.
#[cold]
#[inline(never)]
pub(crate) fn drop_error_caught<E>(site: &'static Site, error: E, why: ErrorDrop) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(error))) {
        report::error_drop_panicked(site, std::any::type_name::<E>(), why, &*payload);
        dispose(payload);
    }
}

/// The innermost guard's ticket, if it holds a kept panic or error: a
/// holder whose closure caused it stays poisoned while the ticket is held.
pub(crate) fn poison_ticket() -> Option<Arc<Ticket>> {
    let guard = THREAD.with(|t| t.guard.get());
    if guard.is_null() {
        return None;
    }
    // SAFETY: as in `keep_for_guard`.
    let guard = unsafe { &*guard };
    if !guard.holds_something() {
        // An error kept by an outer `try_resume`: poison until that one
        // returns.
        return outer_error_ticket(guard);
    }
    Some(ticket_of(guard))
}

/// Whether `guard` or a guard outside it holds a kept panic or error.
fn kept_outside(mut guard: *const Guard<'static>) -> bool {
    while !guard.is_null() {
        // SAFETY: guards on the thread's list belong to guard calls still
        // running on this thread.
        let g = unsafe { &*guard };
        if g.holds_something() {
            return true;
        }
        guard = g.outer.get();
    }
    false
}

fn outer_error_ticket(mut guard: &Guard<'_>) -> Option<Arc<Ticket>> {
    loop {
        if guard.holds_error.get() {
            return Some(ticket_of(guard));
        }
        let outer = guard.outer.get();
        if outer.is_null() {
            return None;
        }
        // SAFETY: as in `keep_for_guard`.
        guard = unsafe { &*outer };
    }
}

fn ticket_of(guard: &Guard<'_>) -> Arc<Ticket> {
    let ticket = guard.ticket.take().unwrap_or_else(|| {
        Arc::new(Ticket {
            held: AtomicBool::new(true),
            joint: Vec::new(),
        })
    });
    guard.ticket.set(Some(Arc::clone(&ticket)));
    ticket
}

/// Calls the `stop` of every guard on this thread from the innermost out
/// to `keeper`, which keeps a panic or an error, `keeper` included (each
/// guard's `stop` at most once, innermost first): the C calls that must
/// end for what `keeper` keeps to come back. Guards outside `keeper` go on.
fn stop_up_to(keeper: &Guard<'_>) {
    let keeper = ptr::from_ref(keeper).cast::<Guard<'static>>();
    let mut guard = THREAD.with(|t| t.guard.get());
    while !guard.is_null() {
        // SAFETY: guards on the thread's list belong to guard calls still
        // running on this thread (`with_guard` unlinks them before they
        // end); a `stop` called below runs and returns inside them all.
        let g = unsafe { &*guard };
        call_stop(g);
        if ptr::eq(guard, keeper) {
            return;
        }
        guard = g.outer.get();
    }
}

/// Calls `guard`'s `stop`, unless it has been called already (or is being
/// called).
fn call_stop(guard: &Guard<'_>) {
    if let Some(stop) = guard.stop {
        if guard.stopped.replace(true) {
            return;
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(stop)) {
            report::event(None, Event::StopPanicked, Some(&*payload));
            dispose(payload);
        }
    }
}

/// Drops a payload whose `Drop` may itself panic, without letting that
/// second panic unwind: it is caught, and its own payload disposed of the
/// same way (a chain of panicking payloads is followed a few links deep;
/// past that the rest is leaked rather than risk unbounded recursion).
pub(crate) fn dispose(payload: Payload) {
    let mut payload = payload;
    for _ in 0..DISPOSE_DEPTH {
        match catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

pub(crate) const DISPOSE_DEPTH: usize = 8;

/// The message of a panic payload, if it is a string.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Raises a refusal as a real panic at the callback's definition, so that
/// the panic hook prints it and the callback's policy handles it like any
/// other panic.
#[cold]
#[inline(never)]
pub(crate) fn refuse(site: &Site, why: fmt::Arguments<'_>) -> ! {
    (site.refuse)(format_args!(
        "{REFUSAL_PREFIX}{}` refused the call: {why}",
        site.name
    ))
}

/// Refuses a call under `P`: `refusal` (a [`refuse`], which does not
/// return) raises the refusal,
/// which `P` handles as a panic of the callback (kept, reported, an abort),
/// and C gets the fallback: `Err(Caught)` once handled. While `P` keeps
/// panics and this thread's innermost guard already keeps one, the
/// refusal could only be dropped (the first panic wins), so it is not
/// raised: C gets the fallback quietly, as from a poisoned holder. A C
/// library that goes on calling after a failure (expat with no user data
/// set: every handler call refused) then costs no panic, hook print and
/// unwind per call. (A guard that keeps an error still gets the refusal: a
/// panic wins over an error.)
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) fn refuse_under<P: Policy>(
    site: &'static Site,
    refusal: impl FnOnce(),
) -> Result<(), Caught> {
    if P::KEEPS && guard_keeps_panic() {
        return Err(Caught);
    }
    P::catch(site, refusal)
}

/// Called inside a guard's call, where the thread is not unwinding (a
/// scope's `call` has returned, before the scope drops its closure or
/// state): an unwind during which the innermost guard's kept panic was
/// raised has ended inside the call, so that panic is the first one, and a
/// panic of the drop that follows is a later one (see
/// `kept_while_unwinding`). Does nothing while the thread unwinds.
pub(crate) fn unwind_ended_inside_guard() {
    let guard = THREAD.with(|t| t.guard.get());
    if !guard.is_null() && !std::thread::panicking() {
        // SAFETY: as in `guard_keeps_panic`.
        unsafe { (*guard).kept_while_unwinding.set(false) };
    }
}

/// Clears `kept_while_unwinding` on `guard` and every guard outside it.
#[cold]
#[inline(never)]
fn clear_kept_while_unwinding(mut guard: *const Guard<'static>) {
    while !guard.is_null() {
        // SAFETY: a guard in this thread's chain is still running (see
        // `keep_for_guard`).
        let g = unsafe { &*guard };
        g.kept_while_unwinding.set(false);
        guard = g.outer.get();
    }
}

/// Whether this thread's innermost guard keeps a panic.
pub(crate) fn guard_keeps_panic() -> bool {
    let guard = THREAD.with(|t| t.guard.get());
    // SAFETY: a non-null guard pointer points at the `Guard` of a guard
    // call still running on this thread: `with_guard` unlinks it before
    // that call returns or unwinds.
    !guard.is_null() && unsafe { (*guard).keeps_panic() }
}

/// Refusal messages start with this, so that reports can tell them from
/// the user's panics.
pub(crate) const REFUSAL_PREFIX: &str = "ffi-callback: `";

/// Whether a payload is one of this crate's refusals (see [`refuse`]).
pub(crate) fn is_refusal(payload: &(dyn Any + Send)) -> bool {
    payload_message(payload).is_some_and(|message| message.starts_with(REFUSAL_PREFIX))
}

/// The guard a callback type's `scope` installs: [`resume_panics`] when its
/// policy keeps panics, nothing otherwise.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn guarded<P: crate::policy::Policy, R>(f: impl FnOnce() -> R) -> R {
    if P::KEEPS { resume_panics(f) } else { f() }
}

/// A site's `refuse`: the panic, located where it is called (the site's
/// `refuse` fn, generated beside the callback). The `panic!` (its format
/// machinery) is here, once, rather than in each callback's `refuse` (2-3%
/// of rustc's instructions for a crate of callback types or fns).
#[doc(hidden)]
#[cold]
#[inline(never)]
#[track_caller]
pub fn refuse_at(message: fmt::Arguments<'_>) -> ! {
    panic!("{}", message)
}

/// The `Site` of a callback named `$name`, for generated code: its path,
/// where the `#[callback]` item is, and a refusal raised as a panic there.
#[doc(hidden)]
#[macro_export]
macro_rules! __site {
    ($owner:ident :: $name:ident) => {
        $crate::__private::Site {
            name: $crate::__private::core::concat!(
                $crate::__private::core::module_path!(),
                "::",
                $crate::__private::core::stringify!($owner),
                "::",
                $crate::__private::core::stringify!($name)
            ),
            file: $crate::__private::core::file!(),
            line: $crate::__private::core::line!(),
            column: $crate::__private::core::column!(),
            set_entry: true,
            refuse: {
                // A fn item, not a closure: a closure coerced to `fn` adds
                // its reify shim to every callback.
                #[cold]
                #[inline(never)]
                fn refuse(__ffi_message: $crate::__private::core::fmt::Arguments<'_>) -> ! {
                    $crate::__private::refuse_at(__ffi_message)
                }
                refuse
            },
        }
    };
    ($name:ident) => {
        $crate::__private::Site {
            name: $crate::__private::core::concat!(
                $crate::__private::core::module_path!(),
                "::",
                $crate::__private::core::stringify!($name)
            ),
            file: $crate::__private::core::file!(),
            line: $crate::__private::core::line!(),
            column: $crate::__private::core::column!(),
            set_entry: false,
            refuse: {
                // A fn item, not a closure: a closure coerced to `fn` adds
                // its reify shim to every callback.
                #[cold]
                #[inline(never)]
                fn refuse(__ffi_message: $crate::__private::core::fmt::Arguments<'_>) -> ! {
                    $crate::__private::refuse_at(__ffi_message)
                }
                refuse
            },
        }
    };
}

/// A refusal's reason (what follows "refused the call: "), if the payload
/// is one of this crate's refusals.
pub(crate) fn refusal_text(payload: &(dyn Any + Send)) -> Option<&str> {
    let message = payload_message(payload)?;
    let rest = message.strip_prefix(REFUSAL_PREFIX)?;
    rest.split_once("refused the call: ").map(|(_, why)| why)
}
