//! The holder behind a `#[callback]` type: a closure plus the state word
//! that makes handing it to C sound (which calls run, poisoned, destroy
//! pending), kept in the holder itself rather than in a thread-local.
//!
//! The pointer given to C is derived from `&Holder`; everything C's calls
//! mutate sits in `Cell`s, atomics and an `UnsafeCell`, and the holder is
//! `!Unpin`, so that pointer stays valid under Stacked and Tree Borrows even
//! when code takes `&mut` to the holder (or to a struct holding it) while C
//! keeps it.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::marker::PhantomPinned;
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::panic::{Site, keep_error, poison_ticket, refuse};
use crate::policy::{Caught, Policy, Unwind};
use crate::report::{self, ReportKind};
use crate::returns::CallbackReturn;
use crate::threading::{
    DESTROYED, EXCLUSIVE, ExclusiveCalls, POISONED, RUNNING, SharedCalls, StateWord, Threading,
    current_thread,
};
use crate::trampoline::Failed;
use crate::user_data::UserDataSlot;

/// What the macro implements for each callback type (`ExecRow<F>`): the C
/// types involved, the closure, the contract and the policy. The runtime's
/// owned handles ([`Boxed`](crate::Boxed), [`Once`](crate::Once),
/// [`RawCallback`](crate::RawCallback)) are generic over it.
///
/// # Safety
/// `Function` is the type's trampoline pointer type and `Destroy` the type
/// of a destroy-notify taking `UserData`; the holder behind a `UserData` of
/// this type is a `Holder<Closure, Threading>` (or a `OnceHolder<Closure>`
/// for once-callbacks).
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

/// A closure and its state, as a callback type's trampoline sees it.
#[doc(hidden)]
pub struct Holder<F, T: Threading> {
    word: T::Word,
    /// The thread that owns the closure, where it matters: for `local`
    /// calls, and for a destroy that must not drop the closure elsewhere.
    home: Option<NonZeroU64>,
    /// Boxed (by `into_raw_box`), not borrowed: only then may a destroy
    /// free it.
    on_heap: bool,
    closure: UnsafeCell<F>,
    _pinned: PhantomPinned,
}

impl<F, T: Threading> Holder<F, T> {
    /// A holder for `closure`, to be borrowed by C.
    #[inline(always)]
    pub fn new(closure: F) -> Self {
        Holder {
            word: T::Word::NEW,
            home: if T::CALLS_ON_HOME_ONLY {
                Some(current_thread())
            } else {
                None
            },
            on_heap: false,
            closure: UnsafeCell::new(closure),
            _pinned: PhantomPinned,
        }
    }

    /// A boxed holder for `closure`, as a raw pointer for C; freed by
    /// [`Holder::destroy`].
    #[inline]
    pub fn into_raw_box(closure: F) -> *mut c_void {
        let mut holder = Self::new(closure);
        if T::DROPS_ON_HOME_ONLY {
            holder.home = Some(current_thread());
        }
        holder.on_heap = true;
        Box::into_raw(Box::new(holder)).cast()
    }

    /// The pointer handed to C as user data.
    #[inline(always)]
    pub fn as_ptr(&self) -> *mut c_void {
        (self as *const Self).cast_mut().cast()
    }

    /// The closure back, when the holder is no longer shared with C.
    #[inline(always)]
    pub fn into_inner(self) -> F {
        self.closure.into_inner()
    }

    /// Calls the closure exclusively (`FnMut`) through the pointer C passed
    /// back: a call while it runs is refused (it would alias `&mut F`);
    /// while poisoned, the call returns the fallback; null is refused; a
    /// destroy that arrived during the call frees the holder on the way out.
    ///
    /// # Safety
    /// `ptr` is null or came from [`Holder::as_ptr`] or
    /// [`Holder::into_raw_box`] on a holder of this type that is still
    /// alive and has not moved, and the C library calls it on the threads
    /// `T` declares.
    #[inline(always)]
    pub unsafe fn call_mut<P: Policy, O: CallbackReturn<R>, R>(
        ptr: *mut c_void,
        site: &'static Site,
        call: impl FnOnce(&mut F) -> O,
        on_error: impl FnOnce(&O::Error) -> R,
    ) -> Result<R, Failed>
    where
        T: ExclusiveCalls<F>,
    {
        if ptr.is_null() {
            return Err(refuse_null::<P>(site));
        }
        // SAFETY: by the caller's promise `ptr` points at a live holder;
        // only its `Cell`, atomic and `UnsafeCell` parts are written through
        // the shared reference.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if T::CALLS_ON_HOME_ONLY && holder.home != Some(current_thread()) {
            return Err(refuse_foreign_thread::<P>(site));
        }
        if !holder.word.try_enter_exclusive()
            && !enter_cold::<P, T::Word>(site, &holder.word, EXCLUSIVE)
        {
            return Err(Failed);
        }
        let run = || {
            // SAFETY: this call entered exclusively (the word had no call
            // running and now has `EXCLUSIVE`), so no other reference to the
            // closure exists until it leaves; `ExclusiveCalls` made `F: Send`
            // if the call may be on another thread than the last one.
            let closure = unsafe { &mut *holder.closure.get() };
            split(call(closure), on_error)
        };
        let caught = if P::UNWINDS {
            // The panic passes through here: leave (and free if destroyed)
            // on the way out. The other policies' paths cannot unwind.
            let leave = LeaveOnUnwind::<F, T>::new(ptr, site, EXCLUSIVE);
            let caught = P::catch(site, run);
            std::mem::forget(leave);
            caught
        } else {
            P::catch(site, run)
        };
        let result = settle::<P, T, _, R>(site, &holder.word, caught);
        // `holder` is not used past this point: the leave may free it.
        let word = holder.word.leave_exclusive();
        if word != 0 {
            // SAFETY: forwarded; this call has left.
            unsafe { after_leave::<P, F, T>(ptr, site, word) };
        }
        result
    }

    /// Calls the closure shared (`Fn`: types declared `reentrant` or
    /// `sync`), which may run several times at once, nested or (`sync`) on
    /// several threads; an exclusive call is never running meanwhile.
    ///
    /// # Safety
    /// As for [`Holder::call_mut`].
    #[inline(always)]
    pub unsafe fn call_ref<P: Policy, O: CallbackReturn<R>, R>(
        ptr: *mut c_void,
        site: &'static Site,
        call: impl FnOnce(&F) -> O,
        on_error: impl FnOnce(&O::Error) -> R,
    ) -> Result<R, Failed>
    where
        T: SharedCalls<F>,
    {
        if ptr.is_null() {
            return Err(refuse_null::<P>(site));
        }
        // SAFETY: as in `call_mut`.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if T::CALLS_ON_HOME_ONLY && holder.home != Some(current_thread()) {
            return Err(refuse_foreign_thread::<P>(site));
        }
        if !holder.word.try_enter_shared() && !enter_cold::<P, T::Word>(site, &holder.word, 0) {
            return Err(Failed);
        }
        let run = || {
            // SAFETY: shared calls only ever make shared references, and no
            // exclusive call runs while the word counts shared ones;
            // `SharedCalls` made `F: Sync` if they may run on several
            // threads.
            let closure = unsafe { &*holder.closure.get() };
            split(call(closure), on_error)
        };
        let caught = if P::UNWINDS {
            let leave = LeaveOnUnwind::<F, T>::new(ptr, site, 0);
            let caught = P::catch(site, run);
            std::mem::forget(leave);
            caught
        } else {
            P::catch(site, run)
        };
        let result = settle::<P, T, _, R>(site, &holder.word, caught);
        let word = holder.word.leave_shared();
        if word & DESTROYED != 0 {
            // SAFETY: forwarded; this call has left.
            unsafe { after_leave::<P, F, T>(ptr, site, word) };
        }
        result
    }

    /// The destroy-notify of a boxed holder (and a Rust-owned `Boxed`'s
    /// drop): frees it now if no call runs, or marks it so that the last
    /// running call frees it when it returns (C libraries destroy callbacks
    /// from inside their own calls). On a foreign thread, for contracts
    /// whose closures need not be `Send`, the closure is leaked rather than
    /// dropped there, and reported.
    ///
    /// # Safety
    /// `ptr` came from [`Holder::into_raw_box`] for this type, and this is
    /// its only destroy.
    pub unsafe fn destroy<P: Policy>(ptr: *mut c_void, site: &'static Site) {
        // SAFETY: forwarded.
        unsafe { Self::release::<P>(ptr, site, true) }
    }

    /// [`Holder::destroy`] for a Rust-owned [`Boxed`](crate::Boxed) being
    /// dropped: the type system already kept it on a thread where its
    /// closure may be dropped.
    ///
    /// # Safety
    /// As for [`Holder::destroy`].
    pub unsafe fn drop_owned<P: Policy>(ptr: *mut c_void, site: &'static Site) {
        // SAFETY: forwarded.
        unsafe { Self::release::<P>(ptr, site, false) }
    }

    unsafe fn release<P: Policy>(ptr: *mut c_void, site: &'static Site, check_home: bool) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: by the caller's promise, a live holder.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if !check_home && T::DROPS_ON_HOME_ONLY && holder.home != Some(current_thread()) {
            // A Rust owner (`Boxed`, `BoxedSet`) of a callback whose C calls
            // stay on its home thread, dropped elsewhere: C may be calling
            // it there right now, and its state word is not atomic. Leave
            // the holder alone, for good.
            report::event(Some(site), ReportKind::LeakedOnForeignThread, None);
            return;
        }
        if !holder.on_heap {
            // A destroy-notify for a holder lent by `scope` (sqlite calls
            // xDestroy at once when a registration fails): it is not C's to
            // free, and the scope still owns it.
            refuse_borrowed_destroy::<P, T::Word>(site, &holder.word);
            return;
        }
        let word = holder.word.set(DESTROYED);
        if word & RUNNING != 0 {
            // A running call frees it when it leaves.
            return;
        }
        // SAFETY: forwarded; no call runs, and none may start (destroyed).
        unsafe { free_box::<P, F, T>(ptr, site, check_home) };
    }
}

/// What a set's destroy entry (a method taking the state by value) found.
pub(crate) enum Taken<F> {
    /// The state, moved out of the freed box: the entry runs on it.
    State(F),
    /// Nothing for the entry to run on: the set is borrowed (refused), a
    /// call is running (the state is dropped when it returns), the state
    /// was poisoned (dropped without running the entry) or is on a foreign
    /// thread (leaked). C receives the fallback.
    Failed,
}

impl<F, T: Threading> Holder<F, T> {
    /// A set's destroy entry: frees a boxed holder and hands its state out,
    /// or marks it for the last running call to drop.
    ///
    /// # Safety
    /// `ptr` is a live holder of this type (boxed or borrowed), and this is
    /// its only destroy.
    pub(crate) unsafe fn take<P: Policy>(ptr: *mut c_void, site: &'static Site) -> Taken<F> {
        // SAFETY: by the caller's promise, a live holder.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if !holder.on_heap {
            refuse_borrowed_destroy::<P, T::Word>(site, &holder.word);
            return Taken::Failed;
        }
        let word = holder.word.set(DESTROYED);
        if word & RUNNING != 0 {
            return Taken::Failed;
        }
        // Poisoned while a guard still holds its panic or error: no method
        // of the state runs until then, this one neither.
        let poisoned = word & POISONED != 0 && holder.word.ticket_held();
        // SAFETY: boxed, destroyed, and no call runs: the box is ours. It is
        // freed without dropping the state, which moves out (or, on a
        // foreign thread, is leaked).
        let mut holder = unsafe { Box::from_raw(ptr.cast::<ManuallyDrop<Holder<F, T>>>()) };
        let foreign =
            T::DROPS_ON_HOME_ONLY && holder.home.is_some() && holder.home != Some(current_thread());
        // SAFETY: each part is dropped or moved once; the box frees the
        // memory.
        let state = unsafe {
            let Holder { word, closure, .. } = &mut **holder;
            std::ptr::drop_in_place(word);
            if foreign {
                report::event(Some(site), ReportKind::LeakedOnForeignThread, None);
                return Taken::Failed;
            }
            std::ptr::read(closure).into_inner()
        };
        drop(holder);
        if poisoned {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(state))) {
                crate::policy::destroy_panicked::<P>(site, payload);
            }
            return Taken::Failed;
        }
        Taken::State(state)
    }
}

/// A destroy (a set's destroy entry, or a destroy-notify) for a holder lent
/// by `scope`: refused under the policy, and, like every kept refusal,
/// poisoning.
#[cold]
#[inline(never)]
fn refuse_borrowed_destroy<P: Policy, W: StateWord>(site: &'static Site, word: &W) {
    let refused = P::catch(site, || -> () {
        refuse(
            site,
            format_args!(
                "it was destroyed, but it is borrowed for one C call (`scope`), which still owns \
                 it; a callback that C ends is made with `boxed(..).into_raw()`"
            ),
        )
    });
    if refused.is_err() && P::KEEPS {
        poison(word);
    }
}

/// Turns the body's value into what C gets, splitting off an `Err`'s error.
#[inline(always)]
pub(crate) fn split<O: CallbackReturn<R>, R>(
    output: O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, (R, O::Error)> {
    match output.into_result() {
        Ok(value) => Ok(value),
        Err(error) => Err((on_error(&error), error)),
    }
}

/// After the catch: keeps an `Err`'s error in the thread's guard and, when
/// a guard now holds this call's panic or error, poisons the holder with
/// that guard's ticket.
#[inline(always)]
fn settle<P: Policy, T: Threading, E: 'static, R>(
    site: &'static Site,
    word: &T::Word,
    caught: Result<Result<R, (R, E)>, Caught>,
) -> Result<R, Failed> {
    match caught {
        Ok(Ok(value)) => Ok(value),
        Ok(Err((value, error))) => {
            // Only a policy that keeps panics poisons: under `fallback` and
            // `abort` each call stands alone, as for the fn form, and a
            // poisoned `abort` holder would have no value for its next call.
            if P::KEEPS {
                keep_error_and_poison::<T::Word, E>(site, word, error);
            } else {
                keep_error_cold(site, error);
            }
            Ok(value)
        }
        Err(Caught) => {
            if P::KEEPS {
                poison::<T::Word>(word);
            }
            Err(Failed)
        }
    }
}

#[cold]
#[inline(never)]
fn keep_error_cold<E: 'static>(site: &'static Site, error: E) {
    keep_error(site, error);
}

#[cold]
#[inline(never)]
fn keep_error_and_poison<W: StateWord, E: 'static>(site: &'static Site, word: &W, error: E) {
    keep_error(site, error);
    poison(word);
}

/// Poisons the holder until the innermost guard that now holds something
/// re-raises it. Nothing happens with no guard (the policy reported or
/// aborted).
#[cold]
#[inline(never)]
fn poison<W: StateWord>(word: &W) {
    if let Some(ticket) = poison_ticket() {
        drop(word.set_ticket(Some(ticket)));
        word.set(POISONED);
    }
}

/// Entry when the fast path failed: a poisoned holder whose guard has
/// re-raised its panic is healed and entered; a holder still poisoned
/// returns the fallback quietly; a call into a running exclusive closure (or
/// an exclusive call into running shared ones) is refused under the policy,
/// and a kept refusal poisons like a panic. `exclusive` is `EXCLUSIVE` or 0.
#[cold]
#[inline(never)]
fn enter_cold<P: Policy, W: StateWord>(site: &'static Site, word: &W, exclusive: usize) -> bool {
    let current = word.load();
    if current & POISONED != 0 {
        if word.ticket_held() {
            return false;
        }
        drop(word.set_ticket(None));
        word.clear(POISONED);
        let entered = if exclusive != 0 {
            word.try_enter_exclusive()
        } else {
            word.try_enter_shared()
        };
        if entered {
            return true;
        }
    }
    let refused = if word.load() & DESTROYED != 0 {
        P::catch(site, || -> () { refuse_destroyed(site) })
    } else {
        P::catch(site, || -> () { refuse_reentry(site) })
    };
    if refused.is_err() && P::KEEPS {
        poison(word);
    }
    false
}

/// Leaves on an unwinding call (`on_panic = unwind`), freeing the holder
/// if a destroy came meanwhile.
struct LeaveOnUnwind<F, T: Threading> {
    ptr: *mut c_void,
    site: &'static Site,
    /// `EXCLUSIVE`, or 0 for a shared call.
    exclusive: usize,
    _holder: std::marker::PhantomData<Holder<F, T>>,
}

impl<F, T: Threading> LeaveOnUnwind<F, T> {
    fn new(ptr: *mut c_void, site: &'static Site, exclusive: usize) -> Self {
        LeaveOnUnwind {
            ptr,
            site,
            exclusive,
            _holder: std::marker::PhantomData,
        }
    }
}

impl<F, T: Threading> Drop for LeaveOnUnwind<F, T> {
    fn drop(&mut self) {
        // SAFETY: made by a call on a live holder, which has not left yet.
        let holder = unsafe { &*self.ptr.cast::<Holder<F, T>>() };
        let word = if self.exclusive == EXCLUSIVE {
            holder.word.leave_exclusive()
        } else {
            holder.word.leave_shared()
        };
        // SAFETY: this call has left.
        unsafe { after_leave::<Unwind, F, T>(self.ptr, self.site, word) };
    }
}

/// A call has left a holder whose word is not clean: if a destroy came and
/// no call runs any more, this was the last one: free.
///
/// # Safety
/// `ptr` is a holder of this type that the calling call has left.
#[cold]
#[inline(never)]
unsafe fn after_leave<P: Policy, F, T: Threading>(
    ptr: *mut c_void,
    site: &'static Site,
    word: usize,
) {
    if word & DESTROYED != 0 && word & RUNNING == 0 {
        // SAFETY: destroyed (so boxed, and no new call may start) and no
        // call runs.
        unsafe { free_box::<P, F, T>(ptr, site, true) };
    }
}

/// Drops and frees a boxed holder, or (on a foreign thread, for contracts
/// whose closures may not be dropped there, unless the type system already
/// vouched for this thread: `check_home` false) frees it without dropping
/// the closure, and reports the leak. A panic in the closure's drop is
/// reported, never unwound into C. (A free deferred to the last running
/// call happens on that call's thread, the home thread for such
/// contracts.)
///
/// # Safety
/// `ptr` came from [`Holder::into_raw_box`] for this type, no call runs on
/// it, and it is freed only here.
unsafe fn free_box<P: Policy, F, T: Threading>(
    ptr: *mut c_void,
    site: &'static Site,
    check_home: bool,
) {
    // SAFETY: by the caller's promise we own the box now.
    let holder = unsafe { Box::from_raw(ptr.cast::<ManuallyDrop<Holder<F, T>>>()) };
    let foreign = check_home
        && T::DROPS_ON_HOME_ONLY
        && holder.home.is_some()
        && holder.home != Some(current_thread());
    let mut holder = holder;
    // SAFETY: the holder is dropped (or, on a foreign thread, its closure
    // deliberately leaked) exactly once, here; the box frees the memory.
    unsafe {
        if foreign {
            let Holder { word, .. } = &mut **holder;
            std::ptr::drop_in_place(word);
            report::event(Some(site), ReportKind::LeakedOnForeignThread, None);
        } else if let Err(payload) =
            catch_unwind(AssertUnwindSafe(|| ManuallyDrop::drop(&mut *holder)))
        {
            crate::policy::destroy_panicked::<P>(site, payload);
        }
    }
}

#[cold]
#[inline(never)]
fn refuse_null<P: Policy>(site: &'static Site) -> Failed {
    let _ = P::catch(site, || -> () {
        refuse(
            site,
            format_args!("its user data is null instead of a pointer to its holder"),
        )
    });
    Failed
}

#[cold]
#[inline(never)]
fn refuse_foreign_thread<P: Policy>(site: &'static Site) -> Failed {
    let _ = P::catch(site, || -> () {
        refuse(
            site,
            format_args!(
                "it was called on another thread than the one it was made on, and its type is \
                 declared `local` (its closure may hold values that must stay on their thread)"
            ),
        )
    });
    Failed
}

#[cold]
#[inline(never)]
fn refuse_reentry(site: &'static Site) -> ! {
    refuse(
        site,
        format_args!(
            "it was called while its closure was already running (re-entered, or called from \
             two threads at once); an `FnMut` closure (or a set's `&mut self` entry) cannot run \
             twice at once. If the C library does this, declare the type \
             `#[callback(reentrant)]` (or `sync`) and pass an `Fn` closure, or take `&self` in \
             the set's entries"
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
             Rust dropping its owner); calling it then is the caller's bug"
        ),
    )
}

/// For callback types with `user_data = EXPR`: runs the accessor (user
/// code) under the policy. `Failed` after a handled panic (the trampoline
/// then returns its fallback); null is refused by the call that follows.
#[doc(hidden)]
#[inline(always)]
pub fn fetch_holder<C: CallbackType, X: crate::user_data::FetchedUserData<*mut c_void>>(
    fetch: impl FnOnce() -> X,
) -> Result<*mut c_void, Failed> {
    fetch_ptr::<C::Policy, X>(C::SITE, fetch)
}

/// [`fetch_holder`] with the policy and site given (callback sets).
#[doc(hidden)]
#[inline(always)]
pub fn fetch_ptr<P: Policy, X: crate::user_data::FetchedUserData<*mut c_void>>(
    site: &'static Site,
    fetch: impl FnOnce() -> X,
) -> Result<*mut c_void, Failed> {
    P::catch(site, || fetch().into_user_data_ptr()).map_err(|Caught| Failed)
}

/// A callback type's trampoline body, for exclusive (`FnMut`) calls:
/// [`Holder::call_mut`] with the type's contract, policy and site.
///
/// # Safety
/// As for [`Holder::call_mut`].
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_mut<C: CallbackType, O: CallbackReturn<R>, R>(
    user_data: C::UserData,
    call: impl FnOnce(&mut C::Closure) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, Failed>
where
    C::Threading: ExclusiveCalls<C::Closure>,
{
    // SAFETY: forwarded.
    unsafe {
        Holder::<C::Closure, C::Threading>::call_mut::<C::Policy, O, R>(
            user_data.into_ptr(),
            C::SITE,
            call,
            on_error,
        )
    }
}

/// A callback type's trampoline body, for shared (`Fn`) calls.
///
/// # Safety
/// As for [`Holder::call_ref`].
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_ref<C: CallbackType, O: CallbackReturn<R>, R>(
    user_data: C::UserData,
    call: impl FnOnce(&C::Closure) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, Failed>
where
    C::Threading: SharedCalls<C::Closure>,
{
    // SAFETY: forwarded.
    unsafe {
        Holder::<C::Closure, C::Threading>::call_ref::<C::Policy, O, R>(
            user_data.into_ptr(),
            C::SITE,
            call,
            on_error,
        )
    }
}

/// A callback type's once-trampoline body.
///
/// # Safety
/// As for [`OnceHolder::call`](crate::once::OnceHolder::call).
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_once<C: CallbackType, O: CallbackReturn<R>, R>(
    user_data: C::UserData,
    call: impl FnOnce(C::Closure) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
) -> Result<R, Failed> {
    // SAFETY: forwarded.
    unsafe {
        crate::once::OnceHolder::<C::Closure, C::Threading>::call::<C::Policy, O, R>(
            user_data.into_ptr(),
            C::SITE,
            call,
            on_error,
        )
    }
}

/// A callback type's destroy-notify body, for boxed holders.
///
/// # Safety
/// As for [`Holder::destroy`].
#[doc(hidden)]
#[inline(always)]
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
#[inline(always)]
pub unsafe fn destroy_once<C: CallbackType>(user_data: C::UserData) {
    // SAFETY: forwarded.
    unsafe {
        crate::once::OnceHolder::<C::Closure, C::Threading>::destroy::<C::Policy>(
            user_data.into_ptr(),
            C::SITE,
        )
    }
}

/// What a trampoline returns: the value, or (after a handled panic or
/// refusal) the fallback, computed by the user's `fallback = EXPR`; a panic
/// there cannot unwind into C and has no value to give it, so the process
/// aborts naming the callback.
#[doc(hidden)]
#[inline(always)]
pub fn value_or<R>(
    site: &'static Site,
    result: Result<R, Failed>,
    fallback: impl FnOnce() -> R,
) -> R {
    match result {
        Ok(value) => value,
        Err(Failed) => fallback_or_abort(site, fallback),
    }
}

#[cold]
#[inline(never)]
fn fallback_or_abort<R>(site: &'static Site, fallback: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(fallback)) {
        Ok(value) => value,
        Err(payload) => report::abort_in_fallback(site, &*payload),
    }
}
