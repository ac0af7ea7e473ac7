//! Callback sets: one Rust state behind several C entry points (read,
//! write, seek and close of a `FILE*`; a GLib source's prepare, check,
//! dispatch and finalize). The state lives in a [`Holder`], so the entry
//! points share its guards: re-entry, poisoning and deferred destroy span
//! the whole set.

use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use crate::holder::{Holder, Taken, value_or};
use crate::owned::PartsMayMove;
use crate::panic::{Site, fail_caught};
use crate::policy::{Caught, Policy};
use crate::report::{self, ReportKind};
use crate::returns::CallbackReturn;
use crate::threading::{CallerThread, ExclusiveCalls, OwnerMayMove, SharedCalls, Threading};
use crate::trampoline::Failed;

/// The state of a callback set on the heap, from the set's `boxed`.
///
/// Either hand it to C for good with [`into_raw`](BoxedSet::into_raw), when
/// C ends it through the set's destroy entry (fopencookie's `close`) or its
/// `DESTROY` function, or keep it and pass [`user_data`](BoxedSet::user_data)
/// while C may call the entry points: the address stays the same while the
/// `BoxedSet` lives, and dropping it drops the state (after a running call
/// returns, if one is), or [`into_inner`](BoxedSet::into_inner) gives it
/// back once C is done with it. While it is kept, C's destroy (an entry
/// taking `self`, or `DESTROY`) is refused like any refused call (under
/// `resume`, kept and resumed by the guard; with no guard, an abort naming
/// the set), and the state stays with the `BoxedSet`: a set that C may end
/// so must be handed over with `into_raw`. An entry marked
/// `#[callback(destroy)]` (taking `&mut self` or `&self`) is never
/// refused: on a kept state it is a plain call, and the state stays; on
/// one handed over it runs, then frees the state.
///
/// `Th` is the set's threading contract, which decides whether the
/// `BoxedSet` may move to or be shared with another thread:
/// [`CallerThread`] (the default: neither), [`HomeThread`](crate::HomeThread)
/// (`local`: shared, its calls elsewhere are refused),
/// [`AnyThread`](crate::AnyThread) (`send` and `sync`: both, as the state
/// allows). The set's `boxed()` names it.
pub struct BoxedSet<T, Th = CallerThread> {
    user_data: NonNull<c_void>,
    drop_state: unsafe fn(*mut c_void, &'static Site),
    site: &'static Site,
    _state: PhantomData<(T, Th)>,
}

impl<T, Th: Threading> BoxedSet<T, Th> {
    /// Boxes `state` in a holder with the set's contract and policy.
    ///
    /// # Safety
    /// `Th` is the contract the set's entry points were generated for, so
    /// that they find the holder they expect.
    #[doc(hidden)]
    pub unsafe fn new<P: Policy>(state: T, site: &'static Site) -> Self {
        let user_data = Holder::<T, Th>::into_raw_box::<P>(state, site);
        BoxedSet {
            // A box is never null.
            user_data: NonNull::new(user_data).unwrap_or(NonNull::dangling()),
            drop_state: Holder::<T, Th>::drop_owned::<P>,
            site,
            _state: PhantomData,
        }
    }

    /// The `BoxedSet` back from the user data [`into_raw`](Self::into_raw)
    /// gave, for the set's `from_raw`.
    ///
    /// Panics on null, and, under a contract that is not `send` or
    /// `sync`, on another thread than the one that made the state.
    ///
    /// # Safety
    /// As for the set's `from_raw`; `Th` and `P` are the set's contract
    /// and policy, and `T` the state type `into_raw` was called for.
    #[doc(hidden)]
    pub unsafe fn from_raw<P: Policy>(user_data: *mut c_void) -> Self {
        let Some(user_data) = NonNull::new(user_data) else {
            panic!(
                "ffi-callback: a set's `from_raw` got null user data, not what `into_raw` returned"
            )
        };
        // SAFETY: by the caller's promise, a holder of this state type and
        // contract, handed over, not ended by C and no longer used by it.
        let site = match unsafe { Holder::<T, Th>::take_back(user_data.as_ptr()) } {
            Ok(site) => site,
            // Under a contract that is not `send` or `sync` the `BoxedSet`
            // is not `Send`: its `into_inner` and `with_mut` count on
            // running on the thread that made the state, which may not be
            // `Send` either. Left with C (leaked) rather than moved here.
            Err(site) => panic!(
                "ffi-callback: `{}`'s `from_raw` was called on another thread than the one that \
                 made the state; the set is not declared `send` or `sync`, so its state stays \
                 on that thread: take it back there",
                site.name
            ),
        };
        BoxedSet {
            user_data,
            drop_state: Holder::<T, Th>::drop_owned::<P>,
            site,
            _state: PhantomData,
        }
    }

    /// The user data to pass to C with the set's entry points.
    pub fn user_data(&self) -> *mut c_void {
        self.user_data.as_ptr()
    }

    /// The state back, moved out of the box, which is freed: when C is
    /// done with it (a streaming parser fed chunk by chunk has had its
    /// last chunk), the results it gathered are the caller's, with no
    /// `Rc<RefCell<..>>` to share them.
    ///
    /// `Err(self)`, the `BoxedSet` unchanged, while a call of the set runs
    /// on the state: this is called from inside one of its entry points
    /// (through a thread-local or an `Rc` the state can reach), or, for a
    /// `send` or `sync` set, a call runs on another thread. It never waits
    /// for the call: the state is not moved and nothing is freed under it,
    /// and the set works on as before (try again once the call has
    /// returned, or drop the `BoxedSet`, which then drops the state after
    /// the call). As before dropping the `BoxedSet`, C must have stopped
    /// calling: one atomic step of the state's word tells a call that is
    /// running (then this fails) from none, but a call C starts on another
    /// thread while this runs may reach the holder as it is freed.
    ///
    /// A poisoned state (an entry panicked, or returned `Err`, and a guard
    /// kept it) is given back all the same, whether that guard has
    /// returned or not (this called inside it): no call runs, and its
    /// owner asks for it. It is as the panic left it, as a poisoned
    /// `Mutex`'s value through
    /// [`PoisonError::into_inner`](std::sync::PoisonError::into_inner).
    /// The poisoning ends with the freed box, and the guard still raises
    /// the panic (or returns the `Err`) when it returns.
    ///
    /// Once this has returned `Ok`, the user data is freed: a call C makes
    /// with a copy it kept, or a destroy, is a use after free of C's
    /// making (as after dropping the `BoxedSet`): tell C to stop first
    /// (free the parser, unregister the callbacks).
    ///
    /// This takes `self`, so it runs where the `BoxedSet` is owned: for
    /// the default contract and `local`, on the thread that made it (a
    /// `BoxedSet` of those is not `Send`, and a `&BoxedSet` shared with
    /// another thread cannot give the state away).
    pub fn into_inner(self) -> Result<T, Self> {
        // SAFETY: our own boxed holder (`new` made it for `T` and `Th`),
        // still owned by Rust (`into_raw` consumes `self`), so alive and
        // freed by no destroy of C's (refused while Rust owns it); a
        // `BoxedSet` whose contract's word is not atomic is not `Send`, so
        // this is the thread that made it, where C calls it.
        match unsafe { Holder::<T, Th>::take_owned(self.user_data.as_ptr(), self.site) } {
            Some(state) => {
                // The holder is freed (or left to the last refused call
                // out): `Drop` must not free it again.
                std::mem::forget(self);
                Ok(state)
            }
            None => Err(self),
        }
    }

    /// The kept state, for `f`, between C's calls: a binding changes what
    /// its callbacks do next (a timer's new callback, a stream's buffer
    /// size) without sharing the state through an `Rc<RefCell<..>>`.
    ///
    /// `None`, and `f` not run, while a call of the set runs on the state
    /// (this called from inside one of its entry points, through something
    /// the state can reach, or, for a `send` or `sync` set, a call running
    /// on another thread), or while the state is poisoned by a panic or
    /// `Err` that a guard still keeps (once that guard has returned, this
    /// works again, as the entry points do). While `f` runs, a call C makes
    /// (from inside `f`, or on another thread) is refused as a call while
    /// another runs. A panic in `f` is the caller's: it unwinds out of
    /// here, the state as `f` left it.
    ///
    /// The user data is the crate's holder around the state, never the
    /// state itself: a pointer cast of it (as `BIO_get_data(bio) as *mut
    /// State`) reads the holder's header.
    pub fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> Option<R>
    where
        Th: ExclusiveCalls<T>,
    {
        // SAFETY: our own boxed holder (`new` made it for `T` and `Th`),
        // kept by Rust (`into_raw` consumes `self`, and C's destroy is
        // refused while Rust owns it), used by its owner through `&mut
        // self`.
        unsafe { Holder::<T, Th>::with_kept_mut(self.user_data.as_ptr(), self.site, f) }
    }

    /// [`with_mut`](Self::with_mut) for a look (or a change through
    /// `Cell`s, locks or atomics) that a `&self` entry could make: it runs
    /// beside the set's `&self` calls (from inside one of them, or, for a
    /// `sync` set, on another thread), not during a `&mut self` one, and
    /// through `&self`, so a `BoxedSet` kept behind an `Rc` (an allocator
    /// that every object of a C library holds) can read its counts. `None`
    /// as for `with_mut`, and on another thread than a `local` set's home
    /// one (its `BoxedSet` is `Sync`, its state is not to be used there).
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R>
    where
        Th: SharedCalls<T>,
    {
        // SAFETY: our own boxed holder (`new` made it for `T` and `Th`),
        // kept by Rust (`into_raw` consumes `self`, and C's destroy is
        // refused while Rust owns it), used by its owner, which neither
        // drops nor hands it over while `&self` is borrowed.
        unsafe { Holder::<T, Th>::with_kept_ref(self.user_data.as_ptr(), self.site, f) }
    }

    /// Hands the state over: C now owns it, and ends it through the set's
    /// destroy entry (taking `self`, or marked `#[callback(destroy)]`,
    /// which runs, then frees the state), or its `DESTROY`, exactly once.
    /// If the C call that was to take it fails without ending it (libxml2's
    /// `xmlOutputBufferCreateIO` returning null), the set's `from_raw`
    /// takes it back.
    #[must_use = "the state leaks unless C ends it"]
    pub fn into_raw(self) -> *mut c_void {
        let this = ManuallyDrop::new(self);
        let user_data = this.user_data.as_ptr();
        // SAFETY: our own boxed holder (`new` made it for `T` and `Th`),
        // alive until C ends it, which it could not before this (its
        // destroy was refused).
        unsafe { Holder::<T, Th>::hand_over(user_data) };
        user_data
    }
}

impl<T, Th> Drop for BoxedSet<T, Th> {
    fn drop(&mut self) {
        // SAFETY: not handed to C (`into_raw` forgets `self`), so this is the
        // holder's only destroy; `drop_state` is its own type's.
        unsafe { (self.drop_state)(self.user_data.as_ptr(), self.site) }
    }
}

impl<T, Th> fmt::Debug for BoxedSet<T, Th> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxedSet")
            .field("user_data", &self.user_data)
            .finish_non_exhaustive()
    }
}

// SAFETY: a `BoxedSet` owns its state; sending it sends the state, which
// its drop may then drop there while C calls on the thread it came from:
// only under a contract whose state word is atomic (`OwnerMayMove`).
unsafe impl<T: Send, Th: OwnerMayMove> Send for BoxedSet<T, Th> {}
// SAFETY: shared, it only hands out its pointer, with which another thread
// may call the set: only under a contract that handles calls on another
// thread (`PartsMayMove`).
unsafe impl<T: Sync, Th: PartsMayMove> Sync for BoxedSet<T, Th> {}

/// Lends `state` to C for one call: `call` gets the user data, the entry
/// points may run until it returns (a kept panic is resumed then, under
/// `resume`), and the state comes back. `site` names the set.
///
/// # Safety
/// `Th` is the threading contract the set's entry points were made for:
/// they read the holder's state word as that contract's (a `local` word
/// read by a `send` set's entry on another thread would race).
#[doc(hidden)]
pub unsafe fn scope<Th: Threading, P: Policy, T, R>(
    state: T,
    site: &'static Site,
    call: impl FnOnce(*mut c_void) -> R,
) -> (R, T) {
    // The holder is made and ended inside the guard, by [`run_scope`]
    // (the guard runs a fn on a slot laid out here, not a closure: one
    // function per use, not four).
    if !P::KEEPS {
        // No guard: the call runs here.
        return lend_and_call::<Th, P, T, R, _>(state, site, call);
    }
    let run = run_scope_for::<Th, P, T, R, _>(&call);
    let mut slot = ScopeSlot {
        value: None,
        args: Some((state, site, call)),
    };
    // SAFETY: `slot` is a `ScopeSlot`, `repr(C)` with its value first,
    // alive and unused but by the guard until it returns; `run` is for it.
    unsafe {
        crate::panic::resume_panics_slot::<(R, T)>(std::ptr::addr_of_mut!(slot).cast(), run);
    }
    match slot.value {
        Some(pair) => pair,
        // The guard returns only after running `run` to completion.
        None => unreachable!("ffi-callback: a guard returned without running its closure"),
    }
}

/// What [`scope`] hands its guard: the state, the site and the C call,
/// then the value and the state back. `repr(C)`, the value first (the
/// guard drops it knowing its type alone).
#[repr(C)]
struct ScopeSlot<V, Args> {
    value: Option<V>,
    args: Option<Args>,
}

/// [`run_scope`] for the C call `_call`'s type.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn run_scope_for<Th, P, T, R, Call>(_call: &Call) -> unsafe fn(*mut ())
where
    Th: Threading,
    P: Policy,
    Call: FnOnce(*mut c_void) -> R,
{
    run_scope::<Th, P, T, R, Call>
}

/// [`scope`]'s body, run by its guard (once: a second run finds it taken):
/// the state comes back (`into_inner` moves it out, so nothing of it is
/// dropped here), unless `call` unwinds, and then the holder's drop drops
/// it, user code that may make C call back: refused, under this guard
/// rather than after it.
///
/// # Safety
/// `slot` points at a live `ScopeSlot<(R, T), (T, &Site, Call)>`,
/// otherwise unused meanwhile; `Th` is as [`scope`] requires.
unsafe fn run_scope<Th, P, T, R, Call>(slot: *mut ())
where
    Th: Threading,
    P: Policy,
    Call: FnOnce(*mut c_void) -> R,
{
    // SAFETY: the caller's promise.
    let slot = unsafe { &mut *slot.cast::<ScopeSlot<(R, T), (T, &'static Site, Call)>>() };
    if let Some((state, site, call)) = slot.args.take() {
        slot.value = Some(lend_and_call::<Th, P, T, R, Call>(state, site, call));
    }
}

/// The body of [`scope`] proper: lends `state` to `call` in a holder,
/// dropped in place when `call` returns.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn lend_and_call<Th, P, T, R, Call>(state: T, site: &'static Site, call: Call) -> (R, T)
where
    Th: Threading,
    P: Policy,
    Call: FnOnce(*mut c_void) -> R,
{
    // A block whose end drops the holder in place: C has its address,
    // and a move (`drop(holder)`) would leave C a stale copy to call.
    let returned = {
        let holder = Holder::<T, Th>::new(state, site);
        let value = call(holder.as_ptr());
        if P::KEEPS && crate::panic::guard_keeps_panic() && !std::thread::panicking() {
            // The unit payload raised below must not pass for the first
            // panic: the kept one is.
            crate::panic::unwind_ended_inside_guard();
            // The guard re-raises a kept panic as this returns, and the
            // state handed back would be dropped by that unwinding,
            // after its holder is gone (a state whose `Drop` frees the
            // C object calling it would reach a dangling holder). Drop
            // it in its holder instead, where such a call is refused.
            drop(value);
            None
        } else {
            Some((value, holder.into_inner()))
        }
    };
    match returned {
        Some(pair) => pair,
        // Replaced by the kept panic. (Not while this thread unwinds
        // already: the guard then reports its panic and returns.)
        None => std::panic::resume_unwind(Box::new(())),
    }
}

/// A set's destroy entry (a method taking the state by value): moves the
/// state out of the box and runs `call` on it under the policy, then frees
/// the box (a call C makes meanwhile is refused, as after the destroy);
/// returns what C gets.
/// Refused on a borrowed set; during another call of the set, the state is
/// dropped when that call returns and C receives the fallback; with null,
/// nothing is destroyed and C receives the fallback.
///
/// # Safety
/// `user_data` is null or a live holder of this set (boxed or borrowed)
/// that no destroy has freed. (C calls the destroy once; a second one while
/// the first is deferred or drops the state does nothing.)
#[doc(hidden)]
#[inline]
pub unsafe fn destroy_entry<Th: Threading, P: Policy, T, O: CallbackReturn<R>, R>(
    user_data: *mut c_void,
    site: &'static Site,
    call: impl FnOnce(T) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
) -> R {
    // SAFETY: forwarded.
    let result = unsafe { take_and_call::<Th, P, T, O, R>(user_data, site, call, on_error) };
    value_or(site, result, fallback)
}

#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn take_and_call<Th: Threading, P: Policy, T, O: CallbackReturn<R>, R>(
    user_data: *mut c_void,
    site: &'static Site,
    call: impl FnOnce(T) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, Failed> {
    if user_data.is_null() {
        // Nothing to destroy, as for `free(NULL)`: C libraries end objects
        // whose user data was never set (OpenSSL destroys every BIO of a
        // method, `BIO_set_data` called or not). C gets the fallback.
        return Err(Failed);
    }
    // SAFETY: forwarded.
    match unsafe { Holder::<T, Th>::take::<P>(user_data, site) } {
        Taken::State(state, held) => {
            let result = match P::catch(site, move || call(state).into_result()) {
                Ok(Ok(value)) => Ok(value),
                // `on_error` and the error's `Drop` (user code) run under the
                // policy's catch too: a panic there is the entry's.
                Ok(Err(error)) => {
                    fail_caught::<P, _, _>(site, error, on_error).map_err(|Caught| Failed)
                }
                Err(Caught) => Err(Failed),
            };
            // The entry and the state's drop (user code, which may make C
            // call back) are over: the holder, destroyed and held until
            // now, is freed. (On an unwind, `held` frees it on the way.)
            drop(held);
            result
        }
        Taken::Deferred => {
            // The state is dropped when the running call returns; the
            // entry's body, which takes it, cannot run (Tcl's `$obj
            // destroy` deletes the command from inside its own call): say
            // so, since a cleanup written there is skipped.
            report::event(Some(site), ReportKind::DestroyEntryDeferred, None);
            Err(Failed)
        }
        Taken::Failed => Err(Failed),
    }
}
