//! The holder behind a `#[callback]` type: a closure plus the state word
//! that makes handing it to C sound (which calls run, poisoned, destroy
//! pending), kept in the holder itself rather than in a thread-local.
//!
//! The pointer given to C is derived from `&Holder`; everything C's calls
//! mutate sits in `Cell`s, atomics and an `UnsafeCell`, and the holder is
//! `!Unpin`, so that pointer stays valid under Stacked and Tree Borrows even
//! when code takes `&mut` to the holder (or to a struct holding it) while C
//! keeps it.

use std::borrow::Cow;
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::marker::{PhantomData, PhantomPinned};
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::panic::{Site, Ticket, fail, poison_ticket, refuse, refuse_under};
use crate::policy::{Caught, Policy};
use crate::report::{self, ReportKind};
use crate::returns::CallbackReturn;
use crate::threading::{
    DESTROYED, ExclusiveCalls, POISONED, RUNNING, SharedCalls, StateWord, Threading,
    current_thread, current_thread_if_known,
};
use crate::trampoline::Failed;
use crate::user_data::UserDataSlot;

/// What each callback type (`ExecRow<F>`) says about itself: the C types
/// involved, the closure, the contract and the policy (the runtime's
/// `Callback` implements it from the type's marker, `CallbackKind`). The
/// runtime's owned handles ([`Boxed`](crate::Boxed), [`Once`](crate::Once),
/// [`RawCallback`](crate::RawCallback)) are generic over it.
///
/// # Safety
/// `Function` is the type's trampoline pointer type and `Destroy` the type
/// of a destroy-notify taking `UserData`; the holder behind a `UserData` of
/// this type is a `Holder<Closure, Threading>` (or a `OnceHolder<Closure>`
/// for once-callbacks), and the type's `Trampoline` and `OnceTrampoline`
/// impls return trampolines for exactly those holders.
#[doc(hidden)]
pub unsafe trait CallbackType {
    /// The C function-pointer type (`ExecRowFn`).
    type Function: Copy;
    /// The C type of the user-data slot.
    type UserData: UserDataSlot;
    /// The destroy-notify type: the type's ABI, taking the slot.
    type Destroy: Copy;
    /// The closure.
    type Closure;
    /// The threading contract.
    type Threading: Threading;
    /// The `on_panic` policy.
    type Policy: Policy;
    /// Names the type in messages.
    const SITE: &'static Site;
}

/// The part of a holder that does not depend on the closure, first in
/// every holder: the slow paths take the holder's address and see only
/// this, so they are generic over the contract, not over each closure.
#[repr(C)]
struct Header<T: Threading> {
    /// Dropped by whichever ends the holder, once its closure is gone: the
    /// header's drop for a boxed holder, [`LentTail`] for a lent one.
    word: ManuallyDrop<T::Word>,
    /// The thread that owns the closure, where it matters: for `local`
    /// calls, and for a destroy that must not drop the closure elsewhere.
    home: Option<NonZeroU64>,
    /// Frees the holder, for one boxed by `into_raw_box` (only then may a
    /// destroy free it); `None` for a holder lent by `new` or `scope`.
    free: Option<FreeBox>,
    /// Set while Rust owns the boxed holder (a `Boxed` or `BoxedSet` not
    /// handed over with `into_raw`): C's destroy is then refused, as for a
    /// lent holder, since the owner's drop frees it. Read and written only
    /// on the cold paths (made, handed over, destroyed); atomic because a
    /// `send` holder's destroy may come on another thread.
    owned_by_rust: AtomicBool,
    /// Set once a destroy has dropped the closure (or leaked it on a foreign
    /// thread, or moved a set's state out for its destroy entry or for its
    /// Rust owner, [`Holder::take_owned`]): what is
    /// left to free is the header and the memory. Read by [`free_box`]
    /// only, for the free a refused call on another thread may be left
    /// with (see there).
    state_gone: AtomicBool,
    /// The callback type (or set) the holder is for, named by the abort of
    /// a holder dropped while a call runs on it.
    site: &'static Site,
    /// While a lent holder's closure is dropped: the header of the lent
    /// holder whose closure was being dropped before on this thread (see
    /// [`LENT_ENDING`]).
    outer_lent: Cell<*mut c_void>,
    /// `!Unpin`, as the holder: the `&mut self` of the header's drop then
    /// reborrows nothing uniquely, and the pointer C has stays valid for
    /// the calls C makes while the closure is dropped.
    _pinned: PhantomPinned,
}

std::thread_local! {
    /// The header of the lent holder whose closure this thread is dropping
    /// (the innermost: a closure's drop may drop another lent holder),
    /// from the header's drop to [`LentTail`]'s, which the drop glue runs
    /// in that order, around the closure's, on one thread.
    static LENT_ENDING: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// A holder is dropped (lent by `new`, `scope`; a boxed one is freed only
/// once no call runs) while a call runs on it: its own closure dropped it
/// (the holder was kept where the closure could reach it), or its owner on
/// another thread. Freeing it now would free the closure under the running
/// call: abort instead. Only a holder's drop reads this, never a call.
///
/// A boxed holder's header is dropped by [`free_box`] once the closure is
/// gone, and drops its word here. A lent holder's (`new`, `scope`: the
/// holder dropped as a value, by the drop glue, which drops the header,
/// then the closure, then [`LentTail`]) starts the teardown of
/// [`free_box`] without the free, the memory being the owner's: the closure's
/// drop is user code, and may make C call back with this holder (a closure
/// that owns a C object frees it in its `Drop`, and libarchive's free
/// flushes through its callbacks). So the holder is marked destroyed and
/// held ([`StateWord::hold_destroyed`]) here, before the closure's drop:
/// such a call fails to enter and is refused as a call after the destroy
/// (under the policy: C gets the fallback), never reads the closure, and
/// finds the word (and a poisoning's ticket) alive, dropped only by
/// [`LentTail`] after the closure, which releases the hold. (A holder whose
/// closure is moved out, `into_inner`, is not dropped: it drops its word.)
impl<T: Threading> Drop for Header<T> {
    fn drop(&mut self) {
        if self.free.is_some() {
            if self.word.load() & RUNNING != 0 {
                report::abort_dropped_while_running(self.site);
            }
            // SAFETY: a boxed holder's header, dropped once, by `free_box`,
            // with nothing holding it any more: its word is dropped once,
            // here.
            unsafe { ManuallyDrop::drop(&mut self.word) };
            return;
        }
        if self.word.set(DESTROYED) & RUNNING != 0 {
            report::abort_dropped_while_running(self.site);
        }
        // Destroyed and no call running: from here every entry fails (and
        // is refused as after a destroy) until `LentTail` releases it.
        self.word.hold_destroyed();
        let header: *mut Self = self;
        self.outer_lent
            .set(LENT_ENDING.with(|ending| ending.replace(header.cast())));
    }
}

/// The last field of a holder: for a lent one, dropped by the drop glue
/// right after the closure, on the same thread, it ends what the header's
/// drop began (see there): releases the hold, and drops the word. A
/// refused call on another thread that still holds the holder then would
/// be left with memory about to go away: that aborts
/// ([`report::abort_lent_held_by_refused_call`]) rather than wait for C. A
/// boxed holder is freed as a `ManuallyDrop`, and never drops this.
struct LentTail<T: Threading>(PhantomData<T>);

impl<T: Threading> Drop for LentTail<T> {
    fn drop(&mut self) {
        let header = LENT_ENDING.with(Cell::get).cast::<Header<T>>();
        // SAFETY: the drop glue dropped this holder's header (which set
        // `LENT_ENDING` to it, a pointer from its `&mut self`, which
        // reborrowed nothing: `!Unpin`), then its closure, on this thread,
        // and now this: nested lent holders dropped meanwhile (from the
        // closure's drop) have set it back. So `header` is this holder's,
        // alive (its word not dropped yet), destroyed and held by its drop;
        // the hold is released, and the word dropped, once, here; through
        // places, no reference to the header (refused calls on other
        // threads may still read it until the release).
        unsafe {
            LENT_ENDING.with(|ending| ending.set((*header).outer_lent.get()));
            let word = std::ptr::addr_of_mut!((*header).word).cast::<T::Word>();
            if !T::Word::release_destroyed(word) {
                report::abort_lent_held_by_refused_call((*header).site);
            }
            std::ptr::drop_in_place(word);
        }
    }
}

impl<T: Threading> Header<T> {
    /// Whether this is the thread the holder was made on (which for a
    /// `local` holder has an id: a thread that never asked for one is not
    /// its home, and need not get one to be refused).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn on_home_thread(&self) -> bool {
        self.home.map_or(0, NonZeroU64::get) == current_thread_if_known()
    }

    /// Whether C owns the holder: boxed and handed over (`into_raw`), so
    /// that its destroy is C's to call. A lent holder (`scope`, `new`) and
    /// one a Rust owner keeps are not. Off the fast paths: read by a set's
    /// destroy-marked entry only.
    fn owned_by_c(&self) -> bool {
        self.free.is_some() && !self.owned_by_rust.load(Ordering::Relaxed)
    }
}

/// [`free_box`] for one holder type: `(holder, site, check_home)`.
type FreeBox = unsafe fn(*mut c_void, &'static Site, bool);

/// A closure and its state, as a callback type's trampoline sees it.
#[doc(hidden)]
#[repr(C)]
pub struct Holder<F, T: Threading> {
    header: Header<T>,
    closure: UnsafeCell<F>,
    /// Dropped right after the closure (fields drop in order): the end of
    /// a lent holder's teardown, which its header's drop began.
    _tail: LentTail<T>,
    _pinned: PhantomPinned,
}

impl<F, T: Threading> Holder<F, T> {
    /// A holder for `closure`, to be borrowed by C, for the callback type
    /// (or set) `site` names.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn new(closure: F, site: &'static Site) -> Self {
        Holder {
            header: Header {
                word: ManuallyDrop::new(T::Word::NEW),
                home: if T::CALLS_ON_HOME_ONLY {
                    Some(current_thread())
                } else {
                    None
                },
                free: None,
                owned_by_rust: AtomicBool::new(false),
                state_gone: AtomicBool::new(false),
                site,
                outer_lent: Cell::new(std::ptr::null_mut()),
                _pinned: PhantomPinned,
            },
            closure: UnsafeCell::new(closure),
            _tail: LentTail(PhantomData),
            _pinned: PhantomPinned,
        }
    }

    /// A boxed holder for `closure`, as a raw pointer, owned by Rust (a
    /// `Boxed` or `BoxedSet`, which frees it with
    /// [`Holder::drop_owned`]) until [`Holder::hand_over`] gives it to C,
    /// whose [`Holder::destroy`] (or a set's destroy entry) is refused
    /// until then. A panic in the closure's drop is handled under `P`.
    #[inline]
    pub fn into_raw_box<P: Policy>(closure: F, site: &'static Site) -> *mut c_void {
        // Boxed first, then marked boxed: should the allocation unwind
        // (`-Zoom=panic`), the holder dropped meanwhile is still a lent
        // one, whose header's drop and `LentTail` pair up.
        let mut holder = Box::new(Self::new(closure, site));
        if T::DROPS_ON_HOME_ONLY {
            holder.header.home = Some(current_thread());
        }
        holder.header.free = Some(free_box::<P, F, T>);
        *holder.header.owned_by_rust.get_mut() = true;
        Box::into_raw(holder).cast()
    }

    /// Hands a boxed holder from its Rust owner over to C: from now on C
    /// ends it, through its destroy-notify or a set's destroy entry.
    ///
    /// # Safety
    /// `ptr` came from [`Holder::into_raw_box`] for this type and has not
    /// been freed.
    #[inline]
    pub unsafe fn hand_over(ptr: *mut c_void) {
        // SAFETY: by the caller's promise, a live holder; the flag is
        // atomic, so a call or destroy C makes meanwhile on another thread
        // (with the pointer it got from `user_data()`) does not race with
        // this.
        let header = unsafe { &(*ptr.cast::<Self>()).header };
        header.owned_by_rust.store(false, Ordering::Relaxed);
    }

    /// Takes a holder handed over to C back to a Rust owner, when C
    /// refused it: C's destroy of it is refused from now on, and the
    /// owner's drop frees it; the set's site. `Err`, and nothing taken back, on another
    /// thread than the holder's home under a contract whose closures stay
    /// there (`DROPS_ON_HOME_ONLY`): its owner is not `Send`, and would
    /// give the closure to this thread (`into_inner`, `with_mut`).
    ///
    /// # Safety
    /// `ptr` came from [`Holder::into_raw_box`] for this type, was handed
    /// over, and C has not ended it and will not use it again.
    pub(crate) unsafe fn take_back(ptr: *mut c_void) -> Result<&'static Site, &'static Site> {
        // SAFETY: by the caller's promise, a live holder; `home` and `site`
        // are not written after `into_raw_box`, and the flag is atomic.
        let header = unsafe { &(*ptr.cast::<Self>()).header };
        if T::DROPS_ON_HOME_ONLY && header.home != Some(current_thread()) {
            return Err(header.site);
        }
        header.owned_by_rust.store(true, Ordering::Relaxed);
        Ok(header.site)
    }

    /// The pointer handed to C as user data.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn as_ptr(&self) -> *mut c_void {
        (self as *const Self).cast_mut().cast()
    }

    /// The closure back, when the holder is no longer shared with C.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn into_inner(self) -> F {
        let mut holder = ManuallyDrop::new(self);
        if holder.header.word.load() & RUNNING != 0 {
            report::abort_dropped_while_running(holder.header.site);
        }
        // SAFETY: taken by value with no call running, the holder is no
        // longer shared with C; it is not dropped (its header's drop would
        // start a lent holder's teardown, which has nothing to drop here):
        // the closure is moved out once, and the word, the only part of the
        // rest with anything to drop, dropped once, here.
        unsafe {
            let closure = std::ptr::read(holder.closure.get());
            ManuallyDrop::drop(&mut holder.header.word);
            closure
        }
    }

    /// Calls the closure exclusively (`FnMut`) through the user data C
    /// passed back and returns what C gets: a call while it runs is refused
    /// (it would alias `&mut F`); while poisoned, the call returns the
    /// fallback; null is refused; a destroy that arrived during the call
    /// frees the holder on the way out.
    ///
    /// `args` are the C arguments but the user data, which `call` passes
    /// to the closure. Every slow path leaves the trampoline for good (a
    /// tail call that ends in the value for C), so the fast path keeps
    /// nothing across a call. The rare entry that heals a holder whose
    /// guard has returned gives `args` and `user_data` to `retry`, which
    /// calls the trampoline again with them (so no second copy of the
    /// closure's call is compiled).
    ///
    /// `LENT`: the holder is one lent by [`Holder::new`] (`new`, `scope`),
    /// which no destroy can free, so the leave does not look for one that
    /// came during the call: one branch fewer.
    ///
    /// # Safety
    /// `user_data` is null or came from [`Holder::as_ptr`] or
    /// [`Holder::into_raw_box`] on a holder of this type that is still
    /// alive and has not moved (from `as_ptr` on a holder lent by
    /// [`Holder::new`] if `LENT`), and the C library calls it on the
    /// threads `T` declares; `retry` calls this again with its arguments.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub unsafe fn call_mut<
        P: Policy,
        S: UserDataSlot,
        A,
        O: CallbackReturn<R>,
        R,
        const LENT: bool,
    >(
        user_data: S,
        site: &'static Site,
        args: A,
        call: impl FnOnce(&mut F, A) -> O,
        on_error: impl FnOnce(&O::Error) -> R,
        fallback: impl FnOnce() -> R,
        retry: impl FnOnce(A, S) -> R,
    ) -> R
    where
        T: ExclusiveCalls<F>,
    {
        let ptr = user_data.into_ptr();
        if ptr.is_null() {
            return refused::<P, R, _>(site, Refusal::Null, fallback);
        }
        // SAFETY: by the caller's promise `ptr` points at a live holder;
        // only its `Cell`, atomic and `UnsafeCell` parts are written through
        // the shared reference.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if T::CALLS_ON_HOME_ONLY && !holder.header.on_home_thread() {
            return refused_foreign_call::<P, R, _>(site, fallback);
        }
        if !holder.header.word.try_enter_exclusive() {
            // SAFETY: forwarded.
            return unsafe {
                enter_cold::<P, T, S, A, R, false>(retry, args, user_data, fallback, site)
            };
        }
        let lend = move |ptr: *mut c_void| {
            // SAFETY: this call entered exclusively (the word had no call
            // running and now has `EXCLUSIVE`), so no other reference to the
            // closure exists until it leaves; `ExclusiveCalls` made `F: Send`
            // if the call may be on another thread than the last one.
            call(unsafe { &mut *(*ptr.cast::<Self>()).closure.get() }, args)
        };
        // SAFETY: entered exclusively, by this call.
        unsafe { run_entered::<P, T, O, R, true, LENT>(ptr, site, lend, on_error, fallback) }
    }

    /// Calls the closure shared (`Fn`: types declared `reentrant` or
    /// `sync`), which may run several times at once, nested or (`sync`) on
    /// several threads; an exclusive call is never running meanwhile.
    ///
    /// # Safety
    /// As for [`Holder::call_mut`].
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub unsafe fn call_ref<
        P: Policy,
        S: UserDataSlot,
        A,
        O: CallbackReturn<R>,
        R,
        const LENT: bool,
    >(
        user_data: S,
        site: &'static Site,
        args: A,
        call: impl FnOnce(&F, A) -> O,
        on_error: impl FnOnce(&O::Error) -> R,
        fallback: impl FnOnce() -> R,
        retry: impl FnOnce(A, S) -> R,
    ) -> R
    where
        T: SharedCalls<F>,
    {
        // SAFETY: forwarded.
        unsafe {
            Self::call_shared::<P, S, A, O, R, LENT, false>(
                user_data, site, args, call, on_error, fallback, retry,
            )
        }
    }

    /// [`Holder::call_ref`], and with `EVEN_POISONED` for an entry that
    /// runs on a poisoned state (`#[callback(runs_poisoned)]`, a set's
    /// `&self` entry such as an allocator's `free`): a panic or `Err` kept
    /// by a guard does not keep it out; a running exclusive call (re-entry)
    /// and a destroy still do.
    ///
    /// # Safety
    /// As for [`Holder::call_mut`].
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub unsafe fn call_shared<
        P: Policy,
        S: UserDataSlot,
        A,
        O: CallbackReturn<R>,
        R,
        const LENT: bool,
        const EVEN_POISONED: bool,
    >(
        user_data: S,
        site: &'static Site,
        args: A,
        call: impl FnOnce(&F, A) -> O,
        on_error: impl FnOnce(&O::Error) -> R,
        fallback: impl FnOnce() -> R,
        retry: impl FnOnce(A, S) -> R,
    ) -> R
    where
        T: SharedCalls<F>,
    {
        let ptr = user_data.into_ptr();
        if ptr.is_null() {
            return refused::<P, R, _>(site, Refusal::Null, fallback);
        }
        // SAFETY: as in `call_mut`.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if T::CALLS_ON_HOME_ONLY && !holder.header.on_home_thread() {
            return refused_foreign_call::<P, R, _>(site, fallback);
        }
        let entered = holder.header.word.try_enter_shared()
            || (EVEN_POISONED && enter_shared_despite_poison::<T>(&holder.header.word));
        if !entered {
            // SAFETY: forwarded.
            return unsafe {
                enter_cold::<P, T, S, A, R, true>(retry, args, user_data, fallback, site)
            };
        }
        let lend = move |ptr: *mut c_void| {
            // SAFETY: shared calls only ever make shared references, and no
            // exclusive call runs while the word counts shared ones;
            // `SharedCalls` made `F: Sync` if they may run on several
            // threads.
            call(unsafe { &*(*ptr.cast::<Self>()).closure.get() }, args)
        };
        // SAFETY: entered shared, by this call.
        unsafe { run_entered::<P, T, O, R, false, LENT>(ptr, site, lend, on_error, fallback) }
    }

    /// A set's destroy-marked entry (`#[callback(destroy)]` on a `&mut
    /// self` entry): on a holder C owns (handed over with `into_raw`), the
    /// call, then the holder's destroy; on one lent by `scope` or kept by a
    /// `BoxedSet`, a plain [`Holder::call_mut`].
    ///
    /// C's last call on a state it owns, so the holder is marked destroyed
    /// as the call enters: a call C makes from inside the body is refused
    /// as a call after the destroy, and the leave frees the holder, whether
    /// the body returned, failed or panicked (the policy handles the
    /// panic). An entry that fails ends the holder without running the
    /// body (see [`Holder::destroy_instead_of_call`]), as a destroy entry
    /// taking `self` does: during another call of the state the free waits
    /// for that call to return, and a poisoned state is dropped unrun.
    ///
    /// # Safety
    /// As for [`Holder::call_mut`]; on a holder C owns, this is its
    /// destroy: C calls it once, and not again after it.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub unsafe fn call_mut_then_destroy<P: Policy, S: UserDataSlot, A, O: CallbackReturn<R>, R>(
        user_data: S,
        site: &'static Site,
        args: A,
        call: impl FnOnce(&mut F, A) -> O,
        on_error: impl FnOnce(&O::Error) -> R,
        fallback: impl FnOnce() -> R,
        retry: impl FnOnce(A, S) -> R,
    ) -> R
    where
        T: ExclusiveCalls<F>,
    {
        let ptr = user_data.into_ptr();
        if ptr.is_null() {
            // Nothing to destroy, as at every destroy: C gets the fallback.
            crate::fallback_reason::note(Cow::Borrowed(crate::fallback_reason::NULL_DESTROY));
            return fallback_caught(site, fallback);
        }
        // SAFETY: by the caller's promise, a live holder; only its header
        // is read here.
        if !unsafe { &(*ptr.cast::<Self>()).header }.owned_by_c() {
            // SAFETY: forwarded.
            return unsafe {
                Self::call_mut::<P, S, A, O, R, false>(
                    user_data, site, args, call, on_error, fallback, retry,
                )
            };
        }
        // SAFETY: by the caller's promise, a live holder; only its `Cell`,
        // atomic and `UnsafeCell` parts are written through the reference.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if T::CALLS_ON_HOME_ONLY && !holder.header.on_home_thread() {
            // SAFETY: forwarded: C's destroy of a holder it owns.
            unsafe { Self::destroy_on_foreign_thread::<P>(ptr, site) };
            crate::fallback_reason::note(Cow::Borrowed(crate::fallback_reason::DESTROY_FOREIGN));
            return fallback_caught(site, fallback);
        }
        if !holder.header.word.try_enter_exclusive() {
            // SAFETY: forwarded; not null.
            return unsafe {
                Self::destroy_instead_of_call::<P, S, A, R, false>(
                    retry, args, user_data, fallback, site,
                )
            };
        }
        // Destroyed from here, with this call running: the leave frees.
        holder.header.word.set(DESTROYED);
        let lend = move |ptr: *mut c_void| {
            // SAFETY: this call entered exclusively, and no call enters a
            // destroyed holder, so no other reference to the closure exists
            // until it leaves; `ExclusiveCalls` made `F: Send` if the call
            // may be on another thread than the last one.
            call(unsafe { &mut *(*ptr.cast::<Self>()).closure.get() }, args)
        };
        // SAFETY: entered exclusively, by this call, on a boxed holder.
        unsafe { run_entered::<P, T, O, R, true, false>(ptr, site, lend, on_error, fallback) }
    }

    /// [`Holder::call_mut_then_destroy`] for a `&self` entry: shared calls
    /// (`&self` entries) running meanwhile keep the holder until the last
    /// of them leaves.
    ///
    /// # Safety
    /// As for [`Holder::call_mut_then_destroy`].
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub unsafe fn call_ref_then_destroy<P: Policy, S: UserDataSlot, A, O: CallbackReturn<R>, R>(
        user_data: S,
        site: &'static Site,
        args: A,
        call: impl FnOnce(&F, A) -> O,
        on_error: impl FnOnce(&O::Error) -> R,
        fallback: impl FnOnce() -> R,
        retry: impl FnOnce(A, S) -> R,
    ) -> R
    where
        T: SharedCalls<F>,
    {
        let ptr = user_data.into_ptr();
        if ptr.is_null() {
            // As in `call_mut_then_destroy`.
            crate::fallback_reason::note(Cow::Borrowed(crate::fallback_reason::NULL_DESTROY));
            return fallback_caught(site, fallback);
        }
        // SAFETY: as in `call_mut_then_destroy`.
        if !unsafe { &(*ptr.cast::<Self>()).header }.owned_by_c() {
            // SAFETY: forwarded.
            return unsafe {
                Self::call_ref::<P, S, A, O, R, false>(
                    user_data, site, args, call, on_error, fallback, retry,
                )
            };
        }
        // SAFETY: as in `call_mut_then_destroy`.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if T::CALLS_ON_HOME_ONLY && !holder.header.on_home_thread() {
            // SAFETY: forwarded: C's destroy of a holder it owns.
            unsafe { Self::destroy_on_foreign_thread::<P>(ptr, site) };
            crate::fallback_reason::note(Cow::Borrowed(crate::fallback_reason::DESTROY_FOREIGN));
            return fallback_caught(site, fallback);
        }
        if !holder.header.word.try_enter_shared() {
            // SAFETY: forwarded; not null.
            return unsafe {
                Self::destroy_instead_of_call::<P, S, A, R, true>(
                    retry, args, user_data, fallback, site,
                )
            };
        }
        // Destroyed from here, with this call running: the last call out
        // frees.
        holder.header.word.set(DESTROYED);
        let lend = move |ptr: *mut c_void| {
            // SAFETY: shared calls only ever make shared references, and no
            // exclusive call runs while the word counts shared ones (nor
            // enters a destroyed holder); `SharedCalls` made `F: Sync` if
            // they may run on several threads.
            call(unsafe { &*(*ptr.cast::<Self>()).closure.get() }, args)
        };
        // SAFETY: entered shared, by this call, on a boxed holder.
        unsafe { run_entered::<P, T, O, R, false, false>(ptr, site, lend, on_error, fallback) }
    }

    /// A destroy-marked entry called on a `local` holder C owns, on another
    /// thread than its home: the body may not run there, and the call is
    /// still C's destroy, which ends the holder as a destroy-notify on that
    /// thread does (the state leaked and reported, the memory freed).
    ///
    /// # Safety
    /// As for [`Holder::destroy`].
    #[cold]
    #[inline(never)]
    unsafe fn destroy_on_foreign_thread<P: Policy>(ptr: *mut c_void, site: &'static Site) {
        // SAFETY: forwarded.
        unsafe { Self::destroy::<P>(ptr, site) }
    }

    /// A destroy-marked entry whose entry failed on a holder C owns
    /// (`SHARED`: a shared entry): a state poisoned by a panic its guard
    /// has re-raised is healed, and the call starts over (`retry`), as for
    /// any entry; otherwise the body does not run, and the call is the
    /// holder's destroy all the same, as a destroy entry taking `self` is:
    /// during another call of the state (re-entered, or on another thread)
    /// the holder is freed when the last call leaves (reported, as
    /// `DestroyEntryDeferred`: the method's cleanup is skipped); a poisoned
    /// state is dropped now. Neither is refused: C gets the fallback. A second
    /// destroy (during the first's deferred free, or while it drops the
    /// state) frees nothing.
    ///
    /// # Safety
    /// As for [`Holder::call_mut_then_destroy`]; `user_data` is not null,
    /// and is a holder C owns whose entry has just failed.
    #[cold]
    #[inline(never)]
    unsafe fn destroy_instead_of_call<P: Policy, S: UserDataSlot, A, R, const SHARED: bool>(
        retry: impl FnOnce(A, S) -> R,
        args: A,
        user_data: S,
        fallback: impl FnOnce() -> R,
        site: &'static Site,
    ) -> R {
        let ptr = user_data.into_ptr();
        let healed = {
            // SAFETY: by the caller's promise, a live holder, which the
            // failed entry left as it was; the hold taken first keeps it so
            // until it is released below (threading's module docs). The
            // reference is not used past this block.
            let word = unsafe { &(*ptr.cast::<Header<T>>()).word };
            if SHARED {
                word.hold_failed_shared();
            } else {
                word.hold_failed_exclusive();
            }
            // No user code runs here: nothing is raised, so there is
            // nothing for an unwinding policy to release on the way out.
            word.load() & POISONED != 0 && word.heal().is_ok()
        };
        // SAFETY: held above and not released; from here on this call does
        // not touch the holder, unless it frees it as the last one out, or
        // destroys it (C owns it, and this is its destroy).
        let left = unsafe { release_failed_entry::<T>(ptr) };
        // Why C gets the fallback (`why`); a poisoned state, dropped now,
        // reads that the callback did not run.
        let mut reason = None;
        if left != 0 {
            // Destroyed already (a second destroy): the last one out frees.
            // SAFETY: this call's hold is released, and `left` is what the
            // release returned, as for a leave.
            unsafe { free_if_last::<T>(ptr, left, site) };
            reason = Some(crate::fallback_reason::DESTROYED_ALREADY);
        } else if healed {
            return retry(args, user_data);
        } else {
            // SAFETY: a holder C owns, alive by the caller's promise; only
            // its word is read.
            let word = unsafe { (*ptr.cast::<Header<T>>()).word.load() };
            if word & DESTROYED != 0 {
                // C's second destroy, while the first is deferred or drops
                // the state: `release` below does nothing.
                reason = Some(crate::fallback_reason::DESTROYED_ALREADY);
            }
            // SAFETY: a holder C owns, alive by the caller's promise, and
            // this is its destroy. (A destroy that came before, C's second
            // one, was seen by the release above on a word that takes
            // holds; on one that takes none, it left the holder running or
            // held, so this destroy finds a call running and frees
            // nothing.)
            if unsafe { Self::release::<P>(ptr, site, true) } {
                // Left to the call running on the state (C destroyed it
                // from inside that call): the method does not run, as for
                // a destroy entry taking `self`, and a cleanup written
                // there is skipped: say so, as that one does.
                report::event(Some(site), ReportKind::DestroyEntryDeferred, None);
                reason = Some(crate::fallback_reason::DESTROY_DEFERRED);
            }
        }
        drop(args);
        if let Some(reason) = reason {
            crate::fallback_reason::note(Cow::Borrowed(reason));
        }
        fallback_caught(site, fallback)
    }

    /// The destroy-notify of a boxed holder (a Rust owner's drop is
    /// [`Holder::drop_owned`]): frees it now if no call runs, or marks it
    /// so that the last running call frees it when it returns (C libraries
    /// destroy callbacks from inside their own calls). While the closure is
    /// dropped the holder stays allocated, and a call C makes from that
    /// drop is refused ([`free_box`]); a second destroy then (C's bug, but
    /// the holder is alive) finds it held, as during a call, and does
    /// nothing. Refused while a
    /// `Boxed` or `BoxedSet` still owns it, or for a holder lent by
    /// `scope`. On a foreign thread, for contracts whose closures need not
    /// be `Send`, the closure is leaked rather than dropped there, and
    /// reported.
    ///
    /// # Safety
    /// `ptr` came from [`Holder::into_raw_box`] for this type (or is a lent
    /// holder, alive), and no destroy of it has freed it.
    pub unsafe fn destroy<P: Policy>(ptr: *mut c_void, site: &'static Site) {
        // SAFETY: forwarded.
        unsafe { Self::release::<P>(ptr, site, true) };
    }

    /// [`Holder::destroy`] for a Rust-owned [`Boxed`](crate::Boxed) being
    /// dropped: the type system already kept it on a thread where its
    /// closure may be dropped.
    ///
    /// # Safety
    /// As for [`Holder::destroy`].
    pub unsafe fn drop_owned<P: Policy>(ptr: *mut c_void, site: &'static Site) {
        // SAFETY: forwarded.
        unsafe { Self::release::<P>(ptr, site, false) };
    }

    /// The body of [`Holder::destroy`] and [`Holder::drop_owned`]: true if
    /// this destroy, the holder's first, left the free to a call running on
    /// it (false for a second destroy, which finds it destroyed already).
    unsafe fn release<P: Policy>(ptr: *mut c_void, site: &'static Site, check_home: bool) -> bool {
        if ptr.is_null() {
            return false;
        }
        // SAFETY: by the caller's promise, a live holder.
        let header = unsafe { &(*ptr.cast::<Self>()).header };
        if !check_home && T::DROPS_ON_HOME_ONLY && header.home != Some(current_thread()) {
            // A Rust owner (`Boxed`, `BoxedSet`) of a callback whose C calls
            // stay on its home thread, dropped elsewhere: C may be calling
            // it there right now, and its state word is not atomic. Leave
            // the holder alone, for good.
            report::event(Some(site), ReportKind::LeakedOnForeignThread, None);
            return false;
        }
        if header.free.is_none() {
            // A destroy-notify for a holder lent by `scope` (sqlite calls
            // xDestroy at once when a registration fails): it is not C's to
            // free, and the scope still owns it.
            refuse_foreign_destroy::<P, T::Word>(site, Owner::Scope(&header.word));
            return false;
        }
        if check_home && header.owned_by_rust.load(Ordering::Relaxed) {
            // C's destroy of a holder a `Boxed` or `BoxedSet` still owns:
            // the owner's drop frees it; freeing it here too would free it
            // twice.
            refuse_foreign_destroy::<P, T::Word>(site, Owner::Rust);
            return false;
        }
        let word = header.word.set(DESTROYED);
        if word & RUNNING != 0 {
            // A running call frees it when it leaves (or, for a second
            // destroy while the first drops the closure, that one does).
            // Only a first destroy is left to a call: a second one (C's,
            // during the first's deferred free or its drop) is not what the
            // caller's report is about.
            return word & DESTROYED == 0;
        }
        // SAFETY: forwarded; destroyed with no call running, found by this
        // destroy alone (none may start, and a second destroy finds it
        // held or freed), so it is ended here only.
        unsafe { free_box::<P, F, T>(ptr, site, check_home) };
        false
    }
}

/// What a set's destroy entry (a method taking the state by value) found.
pub(crate) enum Taken<F, T: Threading> {
    /// The state, moved out of the holder, which stays allocated, destroyed
    /// and held, until the [`DestroyHold`] is dropped: the entry runs on
    /// the state meanwhile, and a call C makes from inside it (or from the
    /// state's drop) is refused as a call after the destroy.
    State(F, DestroyHold<T>),
    /// A call is running: the state is dropped when it returns, and the
    /// entry does not run. C receives the fallback.
    Deferred,
    /// Nothing for the entry to run on: the set is borrowed (refused), the
    /// state was poisoned (dropped without running the entry) or is on a
    /// foreign thread (leaked), or this is a second destroy (C's, while the
    /// first is deferred or drops the state). C receives the fallback.
    Failed,
}

/// A destroyed holder's hold ([`StateWord::hold_destroyed`]) while its
/// state, moved out, is used by a destroy entry: dropped (also on an
/// unwind) once the entry has returned, it releases the hold and frees the
/// holder, whose state is gone, or leaves the free to a refused call on
/// another thread that still holds it.
pub(crate) struct DestroyHold<T: Threading> {
    ptr: *mut c_void,
    site: &'static Site,
    _contract: std::marker::PhantomData<T>,
}

impl<T: Threading> Drop for DestroyHold<T> {
    fn drop(&mut self) {
        // SAFETY: made by `take` on a live boxed holder, destroyed and held
        // by it, whose `state_gone` is set; the hold is released once, here,
        // and then the holder is freed by the last one out, once.
        unsafe { release_destroy_hold::<T>(self.ptr, self.site) }
    }
}

/// Releases a destroy's hold on a holder whose state is gone, and frees it
/// (header and memory, through its `free`) if no refused call holds it any
/// more; otherwise the last of those frees it as it lets go.
///
/// # Safety
/// `ptr` is a live boxed holder of contract `T`, destroyed and held by the
/// caller ([`StateWord::hold_destroyed`]), whose `state_gone` is set; the
/// caller does not touch it afterwards.
unsafe fn release_destroy_hold<T: Threading>(ptr: *mut c_void, site: &'static Site) {
    let header = ptr.cast::<Header<T>>();
    // SAFETY: held by the caller until this release; a place, not a
    // reference, to the word, as for a leave.
    let last =
        unsafe { T::Word::release_destroyed(std::ptr::addr_of!((*header).word).cast::<T::Word>()) };
    if last {
        // SAFETY: no call runs or holds it and none may start (destroyed):
        // it is ours to free, and boxed, so `free` is set; its state is
        // gone, so `free` frees the rest only.
        unsafe {
            if let Some(free) = (*header).free {
                free(ptr, site, true);
            }
        }
    }
}

impl<F, T: Threading> Holder<F, T> {
    /// A set's destroy entry: moves the state out of a boxed holder for the
    /// entry to run on, the holder kept allocated, destroyed and held, until
    /// the entry has returned (the [`DestroyHold`] frees it then); or marks
    /// it for the last running call to drop.
    ///
    /// # Safety
    /// `ptr` is a live holder of this type (boxed or borrowed): no destroy
    /// has freed it. (C destroys it once; a second destroy while the first
    /// is deferred or drops the state finds it alive, and does nothing.)
    pub(crate) unsafe fn take<P: Policy>(ptr: *mut c_void, site: &'static Site) -> Taken<F, T> {
        // SAFETY: by the caller's promise, a live holder: it stays so until
        // the hold below is released, which is after this reference's last
        // use (the `DestroyHold` is dropped at the end, or by the caller).
        let header = unsafe { &(*ptr.cast::<Self>()).header };
        if header.free.is_none() {
            refuse_foreign_destroy::<P, T::Word>(site, Owner::Scope(&header.word));
            return Taken::Failed;
        }
        if header.owned_by_rust.load(Ordering::Relaxed) {
            refuse_foreign_destroy::<P, T::Word>(site, Owner::Rust);
            return Taken::Failed;
        }
        let word = header.word.set(DESTROYED);
        if word & RUNNING != 0 {
            // A running call (or, while a destroy drops the state, that
            // destroy's hold) frees it when it leaves. Deferred, and
            // reported so, only if this is the first destroy: a second one
            // (C's, during the first's deferred free or while it drops the
            // state) does nothing, as a second destroy-notify does.
            if word & DESTROYED != 0 {
                return Taken::Failed;
            }
            return Taken::Deferred;
        }
        // Destroyed and no call runs: the holder is ours to end. Held from
        // here until `held` is dropped: a call C makes meanwhile (user code
        // runs below: the state's drop, the entry) fails to enter, is
        // refused, and frees nothing.
        header.word.hold_destroyed();
        let held = DestroyHold::<T> {
            ptr,
            site,
            _contract: std::marker::PhantomData,
        };
        // Poisoned while a guard still holds its panic or error: no method
        // of the state runs until then, this one neither.
        let poisoned = word & POISONED != 0 && header.word.ticket_held();
        let home = header.home;
        if T::DROPS_ON_HOME_ONLY && home.is_some() && home != Some(current_thread()) {
            header.state_gone.store(true, Ordering::Release);
            report::event(Some(site), ReportKind::LeakedOnForeignThread, None);
            return Taken::Failed;
        }
        // SAFETY: destroyed and held, with no call running: no one else
        // reads the state, which moves out once, here; `state_gone` (set
        // before the hold is released) keeps the holder's free from
        // dropping it again.
        let state = unsafe { std::ptr::read((*ptr.cast::<Self>()).closure.get()) };
        header.state_gone.store(true, Ordering::Release);
        if poisoned {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(state))) {
                crate::policy::destroy_panicked::<P>(site, payload);
            }
            drop(held);
            return Taken::Failed;
        }
        Taken::State(state, held)
    }

    /// A Rust owner taking its state back
    /// ([`BoxedSet::into_inner`](crate::BoxedSet::into_inner)): if no call
    /// runs on the boxed holder or holds it, destroys it and moves the
    /// state out, poisoned or not (the poison and its ticket go with the
    /// holder; the guard that keeps the panic still raises it), then frees
    /// the holder, or leaves the free to a call refused meanwhile on
    /// another thread that still holds it. `None`, with the holder as it
    /// was, while a call runs or holds it: one step of the word
    /// ([`StateWord::try_destroy_idle`]) decides, so a call on another
    /// thread either runs and this fails, or finds the holder destroyed
    /// and is refused. No user code runs here.
    ///
    /// # Safety
    /// `ptr` came from [`Holder::into_raw_box`] for this type and Rust
    /// still owns it (not handed over with [`Holder::hand_over`]), so no
    /// destroy has freed it; under a contract whose word is not atomic,
    /// this runs on the thread C calls it on. On `Some`, the caller does
    /// not use `ptr` again.
    pub(crate) unsafe fn take_owned(ptr: *mut c_void, site: &'static Site) -> Option<F> {
        // SAFETY: by the caller's promise, a live holder, which stays so
        // at least until the hold below is released (after this
        // reference's last use); C's destroy of it is refused while Rust
        // owns it (`owned_by_rust`), so only this frees it.
        let header = unsafe { &(*ptr.cast::<Self>()).header };
        if !header.word.try_destroy_idle() {
            return None;
        }
        // Destroyed and held, with no call running: from here a call C
        // makes (on another thread) fails to enter, is refused as a call
        // after the destroy, and frees nothing while the hold lasts.
        let held = DestroyHold::<T> {
            ptr,
            site,
            _contract: std::marker::PhantomData,
        };
        // SAFETY: destroyed and held, no call running and none may start:
        // no one else reads the state, which moves out once, here;
        // `state_gone` (set before the hold is released) keeps the
        // holder's free from dropping it again.
        let state = unsafe { std::ptr::read((*ptr.cast::<Self>()).closure.get()) };
        header.state_gone.store(true, Ordering::Release);
        // Frees the holder (its header, word and ticket; the state is
        // gone), unless a refused call still holds it and frees it as it
        // lets go.
        drop(held);
        Some(state)
    }
}

impl<F, T: Threading> Holder<F, T> {
    /// Rust's own use of a holder it keeps (a [`BoxedSet`](crate::BoxedSet)
    /// not handed over), between C's calls: entered exclusively, as a call
    /// is, so that a call C makes meanwhile (from inside `f`, or, for an
    /// atomic word, on another thread) is refused as re-entry, and left
    /// afterwards, on an unwind too. `None` when it cannot enter: a call
    /// runs on it (this from inside an entry, or a call on another thread),
    /// or a guard still keeps the panic or error that poisoned it (once
    /// that guard has returned, the holder is healed here, as a call heals
    /// it).
    ///
    /// # Safety
    /// `ptr` is a live boxed holder of this type that Rust owns (its
    /// `owned_by_rust` set: C's destroy of it is refused), used by its
    /// owner, which neither drops nor hands it over meanwhile.
    pub(crate) unsafe fn with_kept_mut<R>(
        ptr: *mut c_void,
        site: &'static Site,
        f: impl FnOnce(&mut F) -> R,
    ) -> Option<R>
    where
        T: ExclusiveCalls<F>,
    {
        // SAFETY: forwarded. The closure gets the state's pointer once
        // entered exclusively: no other reference to the state exists
        // until it leaves (a call C makes meanwhile fails to enter);
        // `ExclusiveCalls` made `F: Send` if calls may come from another
        // thread.
        unsafe { Self::with_kept::<R, false>(ptr, site, |state| f(&mut *state)) }
    }

    /// [`Holder::with_kept_mut`] for shared use (`&F`): entered as a `&self`
    /// entry is, so it runs beside other shared calls and uses (nested, or
    /// on other threads for a `sync` holder), and not during an exclusive
    /// one.
    ///
    /// # Safety
    /// As for [`Holder::with_kept_mut`].
    pub(crate) unsafe fn with_kept_ref<R>(
        ptr: *mut c_void,
        site: &'static Site,
        f: impl FnOnce(&F) -> R,
    ) -> Option<R>
    where
        T: SharedCalls<F>,
    {
        // SAFETY: forwarded. The closure gets the state's pointer once
        // entered shared: shared uses only make shared references, and no
        // exclusive call runs while the word counts them; `SharedCalls`
        // made `F: Sync` if they may run on several threads.
        unsafe { Self::with_kept::<R, true>(ptr, site, |state| f(&*state)) }
    }

    /// The body of [`Holder::with_kept_mut`] and [`Holder::with_kept_ref`]
    /// (`SHARED`): enters, runs `f` with the state's pointer, leaves.
    ///
    /// # Safety
    /// As for [`Holder::with_kept_mut`].
    unsafe fn with_kept<R, const SHARED: bool>(
        ptr: *mut c_void,
        site: &'static Site,
        f: impl FnOnce(*mut F) -> R,
    ) -> Option<R> {
        // SAFETY: by the caller's promise, a live holder that nothing frees
        // while this runs (Rust owns it, and its owner is here).
        let header = unsafe { &*ptr.cast::<Header<T>>() };
        // A `local` set's `BoxedSet` is `Sync` (its pointer may go to other
        // threads, whose calls are refused), but its word is not atomic:
        // `with` through `&self` on another thread is refused too.
        if T::CALLS_ON_HOME_ONLY && !header.on_home_thread() {
            return None;
        }
        let word = &header.word;
        loop {
            let entered = if SHARED {
                word.try_enter_shared()
            } else {
                word.try_enter_exclusive()
            };
            if entered {
                break;
            }
            if SHARED {
                word.hold_failed_shared();
            } else {
                word.hold_failed_exclusive();
            }
            let healed = word.load() & POISONED != 0 && word.heal().is_ok();
            // SAFETY: held just above, released once.
            let left = unsafe { release_failed_entry::<T>(ptr) };
            if left != 0 {
                // Destroyed meanwhile, which a kept holder is not (C's
                // destroy is refused): freed by the last one out, as after
                // any failed entry.
                // SAFETY: this hold is released; `left` is what the
                // release returned.
                unsafe { free_if_last::<T>(ptr, left, site) };
                return None;
            }
            if !healed {
                return None;
            }
        }
        // Left on the way out if `f` unwinds (the panic is the caller's:
        // Rust code, not a callback, and it goes on to the caller).
        let leave_on_unwind = LeaveOnUnwind::<T>::new(ptr, site, !SHARED);
        // SAFETY: entered, by this use, until it leaves: the state is alive
        // (what the pointer allows is the caller's to say).
        let value = f(unsafe { (*ptr.cast::<Self>()).closure.get() });
        std::mem::forget(leave_on_unwind);
        // SAFETY: entered and not left; a place, not a reference.
        let left = unsafe {
            if SHARED {
                leave::<T, false>(ptr)
            } else {
                leave::<T, true>(ptr)
            }
        };
        if left != 0 {
            let left = if <T::Word as StateWord>::LEAVE_REREADS {
                0
            } else {
                left
            };
            // SAFETY: this use has left; `left` is what its leave saw (or
            // the word is re-read).
            return Some(unsafe { after_leave::<T, R>(value, ptr, left, site) });
        }
        Some(value)
    }
}

/// Who owns a holder that C's destroy may not free.
enum Owner<'a, W> {
    /// Lent by `scope` (or `new`), which outlives the refusal: `scope` by
    /// construction (the destroy comes during its C call), `new` by the
    /// promise of the `unsafe` C call that handed it out (alive while C may
    /// call or destroy it). Its word, poisoned once the refusal is kept.
    Scope(&'a W),
    /// A `Boxed` or `BoxedSet` that Rust keeps (not handed over with
    /// `into_raw`). Its owner may drop it while the refusal runs user code
    /// (the panic hook, the reporter; for a `send` holder, another thread
    /// meanwhile), so the refusal does not touch the holder: no poison (the
    /// refused destroy changed nothing in the state). A drop that overlaps
    /// the reads before the refusal (`free`, `owned_by_rust`) is a use
    /// after free of C's making, which nothing can detect.
    Rust,
}

/// A destroy (a set's destroy entry, or a destroy-notify) for a holder C
/// does not own (lent by `scope`, or kept by a `Boxed` or `BoxedSet`):
/// refused under the policy; a kept refusal of a lent holder's destroy
/// poisons it, like every kept refusal.
#[cold]
#[inline(never)]
fn refuse_foreign_destroy<P: Policy, W: StateWord>(site: &'static Site, owner: Owner<'_, W>) {
    let refused = P::catch(site, || -> () {
        match owner {
            Owner::Scope(_) => refuse(
                site,
                format_args!(
                    "it was destroyed, but it is borrowed for one C call (`scope`), which still \
                     owns it; a callback that C ends is made with `boxed(..).into_raw()`"
                ),
            ),
            Owner::Rust => refuse(
                site,
                format_args!(
                    "it was destroyed by C, but a `Boxed` or `BoxedSet` that Rust keeps still \
                     owns it and frees it when dropped; hand it over with `into_raw()` when C \
                     ends it (its destroy-notify, destroy entry or `DESTROY`)"
                ),
            ),
        }
    });
    // A destroy has no fallback to read the refusal's reason as `why`: not
    // another callback's either.
    crate::fallback_reason::forget();
    if let (Err(Caught), Owner::Scope(word)) = (refused, owner) {
        if P::KEEPS {
            poison(word);
        }
    }
}

/// A call that has entered the holder at `ptr` (exclusively or shared):
/// runs `lend` (which lends the closure out of the holder and calls it)
/// under the policy, leaves, and returns what C gets. The ways out other
/// than a clean return are tail calls into slow paths generic over the
/// contract, the policy and the types involved, not over the closure.
///
/// # Safety
/// This call entered the live holder at `ptr` (`EXCLUSIVE` or shared), and
/// has not left; if `LENT`, the holder was lent by [`Holder::new`].
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn run_entered<
    P: Policy,
    T: Threading,
    O: CallbackReturn<R>,
    R,
    const EXCLUSIVE: bool,
    const LENT: bool,
>(
    ptr: *mut c_void,
    site: &'static Site,
    lend: impl FnOnce(*mut c_void) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
) -> R {
    // The `Err` path runs after the catch, in a tail call: `on_error` and
    // the error's `Drop` (user code that may panic) are not inside this
    // catch, which then needs no landing pad for a body that cannot panic.
    let run = move || lend(ptr).into_result();
    let caught = if P::UNWINDS {
        // The panic passes through here: leave (and free if destroyed)
        // on the way out. The other policies' paths cannot unwind.
        let leave = LeaveOnUnwind::<T>::new(ptr, site, EXCLUSIVE);
        let caught = P::catch(site, run);
        std::mem::forget(leave);
        caught
    } else {
        P::catch(site, run)
    };
    let value = match caught {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            if P::UNWINDS {
                // SAFETY: forwarded: entered and not left.
                return unsafe {
                    failed_unwinding::<T, O::Error, R, EXCLUSIVE>(ptr, site, error, on_error)
                };
            }
            // SAFETY: forwarded: entered and not left; `P` does not unwind.
            return unsafe {
                failed::<P, T, O::Error, R, EXCLUSIVE>(ptr, site, error, on_error, fallback)
            };
        }
        Err(Caught) => {
            // SAFETY: forwarded.
            unsafe { panicked::<P, T, EXCLUSIVE>(ptr, site) };
            return fallback_caught(site, fallback);
        }
    };
    // SAFETY: entered and not left, so alive; a place, not a reference:
    // after the leave the holder may be freed.
    let left = unsafe { leave::<T, EXCLUSIVE>(ptr) };
    // A lent holder has no destroy to wait for (a destroy-notify for one
    // is refused and does not mark it): what the leave saw needs no look.
    if !LENT && left != 0 {
        // A word that may be re-read is not kept in a register for this.
        let left = if <T::Word as StateWord>::LEAVE_REREADS {
            0
        } else {
            left
        };
        // SAFETY: this call has left; `left` is what its leave saw (or the
        // word is re-read).
        return unsafe { after_leave::<T, R>(value, ptr, left, site) };
    }
    value
}

/// An entered call whose closure returned `Err(error)`: C's value is
/// `on_error(&error)`, and the error goes to the thread's guard ([`fail`]),
/// under the policy's catch: a panic of `on_error`, or of the error's
/// `Drop` when no guard keeps it, is handled like a panic of the closure
/// (see [`panicked`]), and C gets the fallback. Otherwise, under a policy
/// that keeps panics, the holder is poisoned with the guard's ticket (under
/// `fallback` and `abort` each call stands alone, as for the fn form, and a
/// poisoned `abort` holder would have no value for its next call); then
/// the call leaves, and C gets `on_error`'s value.
///
/// # Safety
/// As for [`run_entered`]; `P` does not unwind (`failed_unwinding` is for
/// those that do).
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
unsafe extern "C" fn failed<P, T, E, R, const EXCLUSIVE: bool>(
    ptr: *mut c_void,
    site: &'static Site,
    error: E,
    on_error: impl FnOnce(&E) -> R,
    fallback: impl FnOnce() -> R,
) -> R
where
    P: Policy,
    T: Threading,
    E: 'static,
{
    // While `on_error` runs, an exclusive call is still entered, though its
    // body has returned: a call C makes meanwhile on this state (`on_error`
    // reports the error to C, which calls another entry of the set, as
    // libxml2's `xmlXPathErr` calls the context's error callback) finds the
    // state poisoned, by a ticket only this call holds, and gets its
    // fallback quietly. Refused as re-entry instead, its refusal (a panic)
    // would win over the `Err` at the guard. Only under a policy that
    // poisons (the others refuse and report, which replaces nothing), and
    // only for an exclusive call: a shared one's nested shared calls run,
    // as they may during its body.
    let finishing = (P::KEEPS && EXCLUSIVE).then(|| {
        let ticket = Ticket::held_by_caller();
        // SAFETY: entered and not left, so alive.
        let word = unsafe { &(*ptr.cast::<Header<T>>()).word };
        // Poisoned already, by a guard that still keeps what poisoned it
        // (a shared call, nested or on another thread, panicked or failed;
        // a call refused meanwhile on another thread)? Its ticket is
        // joined, not replaced: the heal below does not end that.
        drop(word.poison(Arc::clone(&ticket)));
        ticket
    });
    let value = P::catch(site, move || fail(site, error, on_error));
    if P::KEEPS {
        // SAFETY: entered and not left, so alive.
        let word = unsafe { &(*ptr.cast::<Header<T>>()).word };
        // The guard now keeps the error (or the panic of `on_error`): its
        // ticket joins this call's. With no guard keeping anything (no
        // guard of the error's type), and none that poisoned it meanwhile,
        // the call's own ticket, released, heals away, and the state is as
        // before.
        poison::<T::Word>(word);
        if let Some(ticket) = finishing {
            ticket.release();
        }
        drop(word.heal());
    }
    // SAFETY: forwarded.
    unsafe { leave_cold::<T, EXCLUSIVE>(ptr, site) };
    match value {
        Ok(value) => value,
        Err(Caught) => fallback_caught(site, fallback),
    }
}

/// [`failed`] under `on_panic = unwind`: a panic of `on_error` or of the
/// error's `Drop` unwinds to the caller, leaving the holder (and freeing
/// it if a destroy came meanwhile) on the way, as a panic of the closure
/// does. That policy keeps nothing, so nothing is poisoned.
///
/// # Safety
/// As for [`run_entered`].
#[cold]
#[inline(never)]
unsafe fn failed_unwinding<T: Threading, E: 'static, R, const EXCLUSIVE: bool>(
    ptr: *mut c_void,
    site: &'static Site,
    error: E,
    on_error: impl FnOnce(&E) -> R,
) -> R {
    let leave = LeaveOnUnwind::<T>::new(ptr, site, EXCLUSIVE);
    let value = fail(site, error, on_error);
    std::mem::forget(leave);
    // SAFETY: forwarded: entered and not left.
    unsafe { leave_cold::<T, EXCLUSIVE>(ptr, site) };
    value
}

/// An entered call whose closure panicked, the panic handled by the policy
/// (kept, or reported): poisons the holder if a guard now holds the panic,
/// and leaves. The trampoline then returns its fallback.
///
/// # Safety
/// As for [`run_entered`].
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
unsafe extern "C" fn panicked<P: Policy, T: Threading, const EXCLUSIVE: bool>(
    ptr: *mut c_void,
    site: &'static Site,
) {
    if P::KEEPS {
        // SAFETY: entered and not left, so alive.
        poison::<T::Word>(unsafe { &(*ptr.cast::<Header<T>>()).word });
    }
    // SAFETY: forwarded.
    unsafe { leave_cold::<T, EXCLUSIVE>(ptr, site) };
}

/// Leaves, off the fast path, and frees the holder if this was the last
/// call of a destroyed one.
///
/// # Safety
/// As for [`run_entered`].
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn leave_cold<T: Threading, const EXCLUSIVE: bool>(ptr: *mut c_void, site: &'static Site) {
    // SAFETY: entered and not left, so alive.
    let left = unsafe { leave::<T, EXCLUSIVE>(ptr) };
    // SAFETY: this call has left, and `left` is what its leave returned.
    unsafe { free_if_last::<T>(ptr, left, site) };
}

/// A call has left a holder and its leave saw a word that is not clean
/// (`left`, or, for a word that may be re-read, the word now): if a destroy
/// came and no call runs any more, this was the last one: free. Returns
/// `value`, passed through so that the fast path keeps nothing across this
/// call.
///
/// # Safety
/// As for [`free_if_last`].
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
unsafe extern "C" fn after_leave<T: Threading, R>(
    value: R,
    ptr: *mut c_void,
    left: usize,
    site: &'static Site,
) -> R {
    // SAFETY: forwarded.
    unsafe { free_if_last::<T>(ptr, left, site) };
    value
}

/// Frees a destroyed holder if the leave that returned `left` was the last
/// call out.
///
/// # Safety
/// `ptr` is a holder of this type that the calling call has left, and
/// `left` is what its leave returned (for a word that may be re-read, it
/// need not be what the leave saw: the word is read again); or one whose
/// failed entry has released its hold, and `left` is what the release
/// returned, not 0 (only a word that takes holds, and is not re-read,
/// returns anything else).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn free_if_last<T: Threading>(ptr: *mut c_void, left: usize, site: &'static Site) {
    let left = if <T::Word as StateWord>::LEAVE_REREADS {
        // SAFETY: calls and destroys of such a holder come from one thread
        // at a time, and this thread has not freed it since its leave: it
        // is alive, and the word is what the leave left.
        unsafe { (*ptr.cast::<Header<T>>()).word.load() }
    } else {
        left
    };
    if left & DESTROYED != 0 && left & RUNNING == 0 {
        // SAFETY: destroyed, so boxed, and no new call may start; no call
        // runs and no destroy holds it (`free_box` holds it while it drops
        // the closure, so a call refused meanwhile never gets here before
        // that hold is released), so no one else frees it or reads it any
        // more: it is alive until this frees it (or, its closure already
        // dropped by that destroy, frees what is left).
        unsafe {
            if let Some(free) = (*ptr.cast::<Header<T>>()).free {
                // The call leaving may have failed and be about to give its
                // fallback: its `why` is set aside while the closure's drop
                // (user code, which may reach other callbacks) runs.
                crate::fallback_reason::set_aside(|| free(ptr, site, true));
            }
        }
    }
}

/// Poisons the holder until the innermost guard that now holds something
/// re-raises it. Nothing happens with no guard (the policy reported or
/// aborted).
#[cold]
#[inline(never)]
fn poison<W: StateWord>(word: &W) {
    if let Some(ticket) = poison_ticket() {
        drop(word.poison(ticket));
    }
}

/// Entry when the fast path failed (`SHARED`: a shared entry, whose word
/// may want its failed entry cancelled). A poisoned holder whose guard has
/// re-raised its panic is healed, and the call starts over (`retry`, the
/// trampoline called again with the same arguments) rather than running
/// the closure from here; anything else ends in the fallback.
///
/// # Safety
/// As for [`Holder::call_mut`]; `user_data` is not null.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn enter_cold<P: Policy, T: Threading, S: UserDataSlot, A, R, const SHARED: bool>(
    retry: impl FnOnce(A, S) -> R,
    args: A,
    user_data: S,
    fallback: impl FnOnce() -> R,
    site: &'static Site,
) -> R {
    if P::UNWINDS {
        // SAFETY: forwarded.
        unsafe {
            enter_cold_unwinding::<P, T, S, A, R, _, _, SHARED>(
                args, user_data, fallback, site, retry,
            )
        }
    } else {
        // SAFETY: forwarded.
        unsafe {
            enter_cold_nounwind::<P, T, S, A, R, _, _, SHARED>(
                args, user_data, fallback, site, retry,
            )
        }
    }
}

/// [`enter_cold`] for the policies whose paths cannot unwind: `extern "C"`,
/// so that the trampoline needs no landing pad around it and tail-calls
/// it, with the arguments in the order they came in (`retry`, a fn pointer
/// shared by the types of a C signature, last).
///
/// The slow path proper: [`heal_entry`] (out of line, one function for
/// every callback of a contract and policy), then the call starts over or
/// returns the fallback.
///
/// # Safety
/// As for [`Holder::call_mut`]; `user_data` is not null, and the failed
/// entry was on the holder while it was alive.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
unsafe extern "C" fn enter_cold_nounwind<P, T, S, A, R, Retry, Fallback, const SHARED: bool>(
    args: A,
    user_data: S,
    fallback: Fallback,
    site: &'static Site,
    retry: Retry,
) -> R
where
    P: Policy,
    T: Threading,
    S: UserDataSlot,
    Retry: FnOnce(A, S) -> R,
    Fallback: FnOnce() -> R,
{
    // SAFETY: forwarded.
    if unsafe { heal_entry_nounwind::<P, T, SHARED>(user_data.into_ptr(), site) } {
        return retry(args, user_data);
    }
    drop(args);
    fallback_caught(site, fallback)
}

/// [`enter_cold`] for `on_panic = unwind`, whose retried call may unwind.
#[cold]
#[inline(never)]
unsafe fn enter_cold_unwinding<P, T, S, A, R, Retry, Fallback, const SHARED: bool>(
    args: A,
    user_data: S,
    fallback: Fallback,
    site: &'static Site,
    retry: Retry,
) -> R
where
    P: Policy,
    T: Threading,
    S: UserDataSlot,
    Retry: FnOnce(A, S) -> R,
    Fallback: FnOnce() -> R,
{
    // SAFETY: forwarded.
    if unsafe { heal_entry_unwinding::<P, T, SHARED>(user_data.into_ptr(), site) } {
        return retry(args, user_data);
    }
    drop(args);
    fallback_caught(site, fallback)
}

/// [`heal_entry`] for `on_panic = unwind`, whose refusals unwind.
///
/// # Safety
/// As for [`heal_entry`].
#[cold]
#[inline(never)]
unsafe fn heal_entry_unwinding<P: Policy, T: Threading, const SHARED: bool>(
    ptr: *mut c_void,
    site: &'static Site,
) -> bool {
    // SAFETY: forwarded.
    unsafe { heal_entry::<P, T, SHARED>(ptr, site) }
}

/// [`heal_entry`] for the policies whose refusals are handled inside:
/// nounwind (`extern "C"`), so the cold path around it needs no landing
/// pad.
///
/// # Safety
/// As for [`heal_entry`].
#[cold]
#[inline(never)]
unsafe extern "C" fn heal_entry_nounwind<P: Policy, T: Threading, const SHARED: bool>(
    ptr: *mut c_void,
    site: &'static Site,
) -> bool {
    // SAFETY: forwarded.
    unsafe { heal_entry::<P, T, SHARED>(ptr, site) }
}

/// What a failed entry does with the holder, whatever its closure:
/// holds it (`hold_failed_*`: on the atomic word a count that defers a
/// destroy, since calls on other threads may leave and free it
/// meanwhile), heals or refuses, releases the hold (the last one out of a
/// destroyed holder frees it, as a leaving call does). True if the call
/// may start over: the holder was healed, and no destroy came meanwhile
/// (a call that healed the holder while a destroy came is refused).
/// From true on, the holder is as alive as the failed entry found it.
///
/// # Safety
/// `ptr` is a holder of contract `T` (not null) that a failed entry was on
/// while it was alive, as for [`enter_cold`].
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn heal_entry<P: Policy, T: Threading, const SHARED: bool>(
    ptr: *mut c_void,
    site: &'static Site,
) -> bool {
    let healed = {
        // SAFETY: by the caller's promise, a live holder, which the failed
        // entry left as it was; no user code has run since, so it is as
        // alive as when the entry looked (threading's module docs), and
        // the hold taken first keeps it so until it is released below.
        // The reference is not used past this block.
        let word = unsafe { &(*ptr.cast::<Header<T>>()).word };
        if SHARED {
            word.hold_failed_shared();
        } else {
            word.hold_failed_exclusive();
        }
        if P::UNWINDS {
            // A refusal under `unwind` passes through here: release the
            // hold (and free if last) on the way out.
            let release = ReleaseOnUnwind::<T> {
                ptr,
                site,
                _contract: std::marker::PhantomData,
            };
            let healed = heal_or_refuse::<P, T::Word>(site, word);
            std::mem::forget(release);
            healed
        } else {
            heal_or_refuse::<P, T::Word>(site, word)
        }
    };
    // SAFETY: held above and not released; from here on this call does not
    // touch the holder, unless it frees it as the last one out.
    let left = unsafe { release_failed_entry::<T>(ptr) };
    if left != 0 {
        // A destroy came while the hold kept the holder alive.
        // SAFETY: this call's hold is released, and `left` is what the
        // release returned, as for a leave.
        unsafe { free_if_last::<T>(ptr, left, site) };
        if healed {
            refuse_destroyed_meanwhile::<P>(site);
        }
        return false;
    }
    healed
}

/// [`StateWord::enter_shared_despite_poison`], out of line: the slow path
/// of a `runs_poisoned` entry, before the common one.
#[cold]
#[inline(never)]
fn enter_shared_despite_poison<T: Threading>(word: &T::Word) -> bool {
    word.enter_shared_despite_poison()
}

/// Leaves the call this thread entered on the holder at `ptr`.
///
/// # Safety
/// As for [`StateWord::leave_exclusive`], `ptr` a holder of this contract
/// that this call entered (exclusively if `EXCLUSIVE`) and has not left.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn leave<T: Threading, const EXCLUSIVE: bool>(ptr: *mut c_void) -> usize {
    // SAFETY: a live holder, by the caller's promise; a place, no
    // reference.
    let word = unsafe { std::ptr::addr_of!((*ptr.cast::<Header<T>>()).word).cast::<T::Word>() };
    if EXCLUSIVE {
        // SAFETY: forwarded.
        unsafe { T::Word::leave_exclusive(word) }
    } else {
        // SAFETY: forwarded.
        unsafe { T::Word::leave_shared(word) }
    }
}

/// Releases a failed entry's hold: [`StateWord::release_failed_entry`] on
/// the holder at `ptr`.
///
/// # Safety
/// As for [`StateWord::release_failed_entry`], `ptr` a holder of this
/// contract.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
unsafe fn release_failed_entry<T: Threading>(ptr: *mut c_void) -> usize {
    // SAFETY: forwarded; a place, not a reference, to the word.
    unsafe {
        T::Word::release_failed_entry(
            std::ptr::addr_of!((*ptr.cast::<Header<T>>()).word).cast::<T::Word>(),
        )
    }
}

/// Releases a failed entry's hold on an unwinding refusal (`on_panic =
/// unwind`), freeing the holder if a destroy came meanwhile and this was
/// the last one out.
struct ReleaseOnUnwind<T: Threading> {
    ptr: *mut c_void,
    site: &'static Site,
    _contract: std::marker::PhantomData<T>,
}

impl<T: Threading> Drop for ReleaseOnUnwind<T> {
    fn drop(&mut self) {
        // SAFETY: made by a failed entry holding the live holder, which has
        // not released its hold; the release's result goes to the free, as
        // for a leave.
        unsafe {
            let left = release_failed_entry::<T>(self.ptr);
            if left != 0 {
                free_if_last::<T>(self.ptr, left, self.site);
            }
        }
    }
}

/// A call that healed a poisoned holder, on which a destroy came before it
/// could start over: refused as a call during a destroy, under the policy,
/// without poisoning (the holder is being freed: this call may have done
/// it).
#[cold]
#[inline(never)]
fn refuse_destroyed_meanwhile<P: Policy>(site: &'static Site) {
    let _ = refuse_under::<P>(site, || refuse_destroyed(site));
}

/// Why an entry failed: a poisoned holder whose guard has re-raised its
/// panic is healed (true: the call may start over); a holder still
/// poisoned makes the call return the fallback quietly; a call into a
/// running exclusive closure (or an exclusive call into running shared
/// ones), or into a destroyed holder, is refused under the policy, and a
/// kept refusal poisons like a panic. `word` is the word of a holder the
/// failed entry holds (`hold_failed_*`): alive through the refusal's user
/// code (the panic hook) and the poisoning after it, whatever other
/// threads' calls and destroys do meanwhile.
#[cold]
#[inline(never)]
fn heal_or_refuse<P: Policy, W: StateWord>(site: &'static Site, word: &W) -> bool {
    if word.load() & POISONED != 0 {
        return match word.heal() {
            Ok(ticket) => {
                drop(ticket);
                true
            }
            Err(()) => {
                // Not run: `why` reads so, not a reason noted for another
                // call.
                crate::fallback_reason::forget();
                false
            }
        };
    }
    let refused = if word.load() & DESTROYED != 0 {
        refuse_under::<P>(site, || refuse_destroyed(site))
    } else {
        refuse_under::<P>(site, || refuse_reentry(site))
    };
    if refused.is_err() && P::KEEPS {
        poison(word);
    }
    false
}

/// Leaves on an unwinding call (`on_panic = unwind`), freeing the holder
/// if a destroy came meanwhile.
struct LeaveOnUnwind<T: Threading> {
    ptr: *mut c_void,
    site: &'static Site,
    exclusive: bool,
    _contract: std::marker::PhantomData<T>,
}

impl<T: Threading> LeaveOnUnwind<T> {
    fn new(ptr: *mut c_void, site: &'static Site, exclusive: bool) -> Self {
        LeaveOnUnwind {
            ptr,
            site,
            exclusive,
            _contract: std::marker::PhantomData,
        }
    }
}

impl<T: Threading> Drop for LeaveOnUnwind<T> {
    fn drop(&mut self) {
        // SAFETY: made by a call on a live holder, which has not left yet.
        unsafe {
            if self.exclusive {
                leave_cold::<T, true>(self.ptr, self.site);
            } else {
                leave_cold::<T, false>(self.ptr, self.site);
            }
        }
    }
}

/// Ends a boxed holder whose destroy came (C's destroy-notify, a Rust
/// owner's drop, or the last call out of a holder whose destroy was
/// deferred): drops the closure, or (on a foreign thread, for contracts
/// whose closures may not be dropped there, unless the type system already
/// vouched for this thread: `check_home` false) leaks it and reports the
/// leak; then frees the holder. A panic in the closure's drop is handled by
/// the policy, never unwound into C; only a Rust owner's own drop
/// (`check_home` false: no C frame below it) lets it unwind, once the
/// memory is freed, as a `Box`'s drop would. (A free deferred to the last
/// running call happens on that call's thread, the home thread for such
/// contracts.)
///
/// The closure's drop is user code, and may make C call back with this
/// holder (a state that owns a C object frees it in its `Drop`, and
/// libarchive's free flushes through its callbacks). So the holder stays
/// allocated until the drop has returned, and its word says destroyed and
/// held meanwhile ([`StateWord::hold_destroyed`]): such a call fails to
/// enter, is refused as a call after the destroy (under the policy: C gets
/// the fallback), and its release frees nothing. The closure is dropped
/// before the header, whose word (and the ticket of a poisoning) such a
/// call reads. Once the hold is released, the header is dropped and the
/// memory freed; unless a refused call on another thread still holds the
/// holder (C returned from its free before that call did): the last of
/// those frees it as it lets go, through this function again, which then
/// finds the closure gone (`state_gone`) and frees the rest.
///
/// # Safety
/// `ptr` came from [`Holder::into_raw_box`] for this type, destroyed, no
/// call runs on it, and it is ended only here: by the one that found it
/// destroyed with no call running, or (`state_gone` set) by the last one
/// out after [`release_destroy_hold`].
unsafe fn free_box<P: Policy, F, T: Threading>(
    ptr: *mut c_void,
    site: &'static Site,
    check_home: bool,
) {
    let holder = ptr.cast::<Holder<F, T>>();
    let mut unwind = None;
    {
        // SAFETY: by the caller's promise a live holder, ours to end; the
        // reference is to the header only (calls made meanwhile share it),
        // and is not used past the release of the hold.
        let header = unsafe { &(*holder).header };
        if !header.state_gone.load(Ordering::Acquire) {
            header.word.hold_destroyed();
            let home = header.home;
            let foreign = check_home
                && T::DROPS_ON_HOME_ONLY
                && home.is_some()
                && home != Some(current_thread());
            if foreign {
                report::event(Some(site), ReportKind::LeakedOnForeignThread, None);
            } else {
                // SAFETY: the closure is dropped once, here: destroyed and
                // held, the holder has no call running and lets none enter,
                // so nothing else borrows it; through a place, so that only
                // the closure's bytes are borrowed mutably, not the header
                // that calls C makes meanwhile read.
                let drop_closure = || unsafe {
                    std::ptr::drop_in_place(std::ptr::addr_of_mut!((*holder).closure))
                };
                if let Err(payload) = catch_unwind(AssertUnwindSafe(drop_closure)) {
                    if check_home {
                        crate::policy::destroy_panicked::<P>(site, payload);
                    } else {
                        unwind = Some(payload);
                    }
                }
            }
            header.state_gone.store(true, Ordering::Release);
            // SAFETY: held above, released once, here; `header` is not used
            // after it.
            let last = unsafe {
                T::Word::release_destroyed(
                    std::ptr::addr_of!((*holder).header.word).cast::<T::Word>(),
                )
            };
            if !last {
                // A refused call on another thread still holds it, and frees
                // it when it lets go.
                if let Some(payload) = unwind {
                    std::panic::resume_unwind(payload);
                }
                return;
            }
        }
    }
    // SAFETY: destroyed, its closure gone, and no call runs or holds it (the
    // last hold is released): no one else reads it any more. The header is
    // dropped once, here, and the box (which does not drop the holder again)
    // frees the memory.
    unsafe {
        std::ptr::drop_in_place(std::ptr::addr_of_mut!((*holder).header));
        drop(Box::from_raw(holder.cast::<ManuallyDrop<Holder<F, T>>>()));
    }
    if let Some(payload) = unwind {
        std::panic::resume_unwind(payload);
    }
}

/// Why a call is refused before it enters.
#[derive(Clone, Copy)]
enum Refusal {
    Null,
    ForeignThread,
}

/// Refuses a call of a `local` callback on another thread than its home
/// one. No user code has run and no user state is touched, and C's thread
/// has no guard a panic could go to, so it is not the policy's: it is
/// reported and C gets the fallback, or, with no fallback to give (`on_panic
/// = abort`), the process aborts saying so; under `unwind` the refusal
/// unwinds, as that policy says.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub(crate) fn refuse_foreign_call<P: Policy>(site: &'static Site) {
    if P::UNWINDS {
        refusal(site, Refusal::ForeignThread);
    }
    if P::ABORTS {
        refuse_foreign_call_aborting(site);
    }
    refuse_foreign_call_reporting(site);
}

/// [`refuse_foreign_call`] for a callback with a fallback: raises the
/// refusal (the panic hook prints it, as for every refusal), reports it,
/// and returns.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refuse_foreign_call_reporting(site: &'static Site) {
    let payload = foreign_call_refusal(site);
    let reason = crate::fallback_reason::panic_reason(&*payload);
    report::foreign_call_refused(site, payload);
    // For a `fallback = EXPR` that reads `why`: the fallback follows (noted
    // after the report, user code that may reach another callback).
    crate::fallback_reason::note(reason);
}

/// [`refuse_foreign_call`] for a callback with no fallback: raises the
/// refusal, then aborts naming the callback and the wrong thread.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refuse_foreign_call_aborting(site: &'static Site) -> ! {
    let payload = foreign_call_refusal(site);
    report::abort_on_foreign_call(site, &*payload)
}

/// The refusal of a call on a foreign thread, raised as a panic and
/// caught.
fn foreign_call_refusal(site: &'static Site) -> crate::panic::Payload {
    match catch_unwind(|| -> std::convert::Infallible { refusal(site, Refusal::ForeignThread) }) {
        Ok(never) => match never {},
        Err(payload) => payload,
    }
}

/// A call refused before it entered (null user data): the refusal under
/// `P` (raised to the caller by an unwinding policy), then the fallback, in
/// one cold nounwind call, which the trampoline reaches by a tail call (a
/// call that may unwind, or two calls, would keep a register saved on its
/// fast path too).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn refused<P: Policy, R, F: FnOnce() -> R>(site: &'static Site, why: Refusal, fallback: F) -> R {
    if P::UNWINDS {
        refusal(site, why);
    }
    refused_nounwind::<P, R, F>(site, why, fallback)
}

#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refused_nounwind<P: Policy, R, F: FnOnce() -> R>(
    site: &'static Site,
    why: Refusal,
    fallback: F,
) -> R {
    refuse_call::<P>(site, why);
    fallback_caught(site, fallback)
}

/// [`refused`] for a call on a foreign thread.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn refused_foreign_call<P: Policy, R, F: FnOnce() -> R>(site: &'static Site, fallback: F) -> R {
    if P::UNWINDS {
        refusal(site, Refusal::ForeignThread);
    }
    refused_foreign_call_nounwind::<P, R, F>(site, fallback)
}

#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refused_foreign_call_nounwind<P: Policy, R, F: FnOnce() -> R>(
    site: &'static Site,
    fallback: F,
) -> R {
    refuse_foreign_call::<P>(site);
    fallback_caught(site, fallback)
}

/// Refuses a call under the policy (which may abort, or let the refusal
/// unwind); C then gets the fallback.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn refuse_call<P: Policy>(site: &'static Site, why: Refusal) {
    if P::UNWINDS {
        refusal(site, why);
    }
    if P::ABORTS {
        refuse_call_aborting::<P>(site, why);
    }
    refuse_call_nounwind::<P>(site, why);
}

/// [`refuse_call_nounwind`] for a policy that aborts: it does not return,
/// and the compiler knows it (no fallback is computed after it).
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refuse_call_aborting<P: Policy>(site: &'static Site, why: Refusal) -> ! {
    let _ = P::catch(site, || -> () { refusal(site, why) });
    // The policy aborted in its catch; this is never reached.
    std::process::abort()
}

#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refuse_call_nounwind<P: Policy>(site: &'static Site, why: Refusal) {
    let _ = refuse_under::<P>(site, || refusal(site, why));
}

#[cold]
#[inline(never)]
fn refusal(site: &'static Site, why: Refusal) -> ! {
    match why {
        Refusal::Null => refuse(
            site,
            format_args!("its user data is null instead of a pointer to its holder"),
        ),
        Refusal::ForeignThread => refuse(
            site,
            format_args!(
                "it was called on another thread than the one it was made on, and its type is \
                 declared `local` (its closure may hold values that must stay on their thread)"
            ),
        ),
    }
}

#[cold]
#[inline(never)]
fn refuse_reentry(site: &'static Site) -> ! {
    if site.set_entry {
        refuse(
            site,
            format_args!(
                "it was called while another call of the same state was running (re-entered, \
                 or called from two threads at once), and one of the two takes `&mut self`, \
                 which no other call of the state may overlap. If the C library does this (a \
                 sub-parser that inherits the user data, as expat's external entities do), take \
                 `&self` in the set's entries (with `Cell`/`RefCell` in the state), or hand the \
                 nested call a state of its own"
            ),
        )
    }
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

#[cold]
#[inline(never)]
fn refuse_destroyed(site: &'static Site) -> ! {
    refuse(
        site,
        format_args!(
            "it was called after it was destroyed (by C's destroy-notify or destroy entry, or by \
             Rust dropping its owner or ending its scope), or while its closure or state was \
             being dropped or taken back (`BoxedSet::into_inner`): there is nothing left to \
             call"
        ),
    )
}

/// For callback types with `user_data = EXPR`: runs the accessor (user
/// code) under the policy. `Failed` after a handled panic (the trampoline
/// then returns its fallback); null is refused by the call that follows.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn fetch_holder<C: CallbackType, X: crate::user_data::FetchedHolder>(
    fetch: impl FnOnce() -> X,
) -> Result<*mut c_void, Failed> {
    fetch_ptr::<C::Policy, X>(C::SITE, fetch)
}

/// [`fetch_holder`] with the policy and site given (callback sets).
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn fetch_ptr<P: Policy, X: crate::user_data::FetchedHolder>(
    site: &'static Site,
    fetch: impl FnOnce() -> X,
) -> Result<*mut c_void, Failed> {
    P::catch(site, || fetch().into_holder_ptr()).map_err(|Caught| Failed)
}

/// A callback type's trampoline body, for exclusive (`FnMut`) calls:
/// [`Holder::call_mut`] with the type's contract, policy and site.
///
/// # Safety
/// As for [`Holder::call_mut`].
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn call_mut<C: CallbackType, A, O: CallbackReturn<R>, R, const LENT: bool>(
    user_data: C::UserData,
    args: A,
    call: impl FnOnce(&mut C::Closure, A) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
    retry: impl FnOnce(A, C::UserData) -> R,
) -> R
where
    C::Threading: ExclusiveCalls<C::Closure>,
{
    // SAFETY: forwarded.
    unsafe {
        Holder::<C::Closure, C::Threading>::call_mut::<C::Policy, C::UserData, A, O, R, LENT>(
            user_data,
            C::SITE,
            args,
            call,
            on_error,
            fallback,
            retry,
        )
    }
}

/// A callback type's trampoline body, for shared (`Fn`) calls.
///
/// # Safety
/// As for [`Holder::call_ref`].
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn call_ref<C: CallbackType, A, O: CallbackReturn<R>, R, const LENT: bool>(
    user_data: C::UserData,
    args: A,
    call: impl FnOnce(&C::Closure, A) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
    retry: impl FnOnce(A, C::UserData) -> R,
) -> R
where
    C::Threading: SharedCalls<C::Closure>,
{
    // SAFETY: forwarded.
    unsafe {
        Holder::<C::Closure, C::Threading>::call_ref::<C::Policy, C::UserData, A, O, R, LENT>(
            user_data,
            C::SITE,
            args,
            call,
            on_error,
            fallback,
            retry,
        )
    }
}

/// A callback type's once-trampoline body.
///
/// # Safety
/// As for [`OnceHolder::call`](crate::once::OnceHolder::call).
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn call_once<C: CallbackType, O: CallbackReturn<R>, R>(
    user_data: C::UserData,
    call: impl FnOnce(C::Closure) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
) -> R {
    // SAFETY: forwarded.
    let result = unsafe {
        crate::once::OnceHolder::<C::Closure, C::Threading>::call::<C::Policy, O, R>(
            user_data.into_ptr(),
            C::SITE,
            call,
            on_error,
        )
    };
    value_or(C::SITE, result, fallback)
}

/// A callback type's destroy-notify body, for boxed holders.
///
/// # Safety
/// As for [`Holder::destroy`].
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn destroy<C: CallbackType>(user_data: C::UserData) {
    // SAFETY: forwarded.
    unsafe {
        Holder::<C::Closure, C::Threading>::destroy::<C::Policy>(user_data.into_ptr(), C::SITE)
    }
}

/// A callback type's destroy-notify body, for once-holders.
///
/// # Safety
/// As for [`OnceHolder::destroy`](crate::once::OnceHolder::destroy).
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub unsafe fn destroy_once<C: CallbackType>(user_data: C::UserData) {
    // SAFETY: forwarded.
    unsafe {
        crate::once::OnceHolder::<C::Closure, C::Threading>::destroy::<C::Policy>(
            user_data.into_ptr(),
            C::SITE,
        )
    }
}

/// What a call that ends once (a once-callback, a set's destroy entry, a
/// raise-free accessor) returns: the value, or (after a handled panic or
/// refusal) the fallback.
#[doc(hidden)]
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
pub fn value_or<R>(
    site: &'static Site,
    result: Result<R, Failed>,
    fallback: impl FnOnce() -> R,
) -> R {
    match result {
        Ok(value) => value,
        Err(Failed) => fallback_caught(site, fallback),
    }
}

/// The fallback, computed by the user's `fallback = EXPR`; a panic there
/// cannot unwind into C and has no value to give it, so the process aborts
/// naming the callback. A catch, out of line: a drop guard's cleanup runs
/// only when the unwinder finds a handler further up, and inlined into a
/// trampoline or a cold `extern "C"` fn (nounwind) of an optimised build it
/// found none ("failed to initiate panic", and no word about the callback;
/// scripts/test-optimized.sh). Reached by a call that ends the trampoline's
/// slow paths, so its fast path pays nothing for it. One instance per
/// fallback type: a fn pointer for every default fallback and every
/// `fallback = EXPR` that reads no parameter. Nothing unwinds out of it, and
/// it says so (`extern "C"`, nounwind): a call to it is not an `invoke`, so it
/// can be a tail call, also from a nounwind trampoline.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
pub(crate) extern "C" fn fallback_caught<R, F: FnOnce() -> R>(
    site: &'static Site,
    fallback: F,
) -> R {
    match catch_unwind(AssertUnwindSafe(fallback)) {
        Ok(value) => {
            // Read (as `why`) or not, it was this call's.
            crate::fallback_reason::forget();
            value
        }
        Err(payload) => {
            // Not dropped: its `Drop` is user code, and the process stops.
            std::mem::forget(payload);
            report::abort_in_fallback(site)
        }
    }
}
