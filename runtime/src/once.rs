//! The holder of a closure that C calls at most once (`once`, `scope_once`,
//! `future`): the call moves the closure out, so nothing of the holder is
//! used while the closure runs, and a destroy that races the call's first
//! steps is deferred until the closure has been read out.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::marker::{PhantomData, PhantomPinned};
use std::mem::MaybeUninit;
use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::panic::{Site, fail_caught, refuse, refuse_under};
use crate::policy::{Caught, Policy};
use crate::report::{self, ReportKind};
use crate::returns::CallbackReturn;
use crate::threading::{Threading, current_thread};
use crate::trampoline::Failed;

/// A call is reading the closure out.
const READING: u8 = 1;
/// A call has taken the closure.
const TAKEN: u8 = 2;
/// A destroy came; whoever finishes last frees.
const DESTROYED: u8 = 4;
/// The call frees the holder (`into_raw`: no destroy-notify will come).
const FREE_ON_CALL: u8 = 8;
/// The holder is on the heap (`once`), not on a `scope_once` stack.
const BOXED: u8 = 16;

/// The cell of a once-callback: the closure until its call moves it out.
/// The state is atomic whatever the contract: a second call, from any
/// thread, must find the closure taken (taking it twice would be a double
/// move), and a once-callback is called once, so the cost does not matter.
///
/// `!Unpin`, as a [`Holder`](crate::holder::Holder): the `&mut self` of
/// its drop then reborrows none of it, and the pointer C has stays valid
/// for a call C makes while the closure is dropped.
#[doc(hidden)]
pub struct OnceHolder<F, T: Threading> {
    state: AtomicU8,
    /// Where the closure may be dropped uncalled (for contracts whose
    /// closures need not be `Send`).
    home: Option<NonZeroU64>,
    closure: UnsafeCell<MaybeUninit<F>>,
    _contract: PhantomData<T>,
    _pinned: PhantomPinned,
}

impl<F, T: Threading> OnceHolder<F, T> {
    /// A once-holder on the caller's stack (`scope_once`).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn new(closure: F) -> Self {
        OnceHolder {
            state: AtomicU8::new(0),
            home: (T::CALLS_ON_HOME_ONLY || T::DROPS_ON_HOME_ONLY).then(current_thread),
            closure: UnsafeCell::new(MaybeUninit::new(closure)),
            _contract: PhantomData,
            _pinned: PhantomPinned,
        }
    }

    /// A boxed once-holder for `closure`, as a raw pointer.
    #[inline]
    pub fn into_raw_box(closure: F) -> *mut c_void {
        let holder = Self::new(closure);
        holder.state.store(BOXED, Ordering::Relaxed);
        Box::into_raw(Box::new(holder)).cast()
    }

    /// The pointer handed to C as user data.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn as_ptr(&self) -> *mut c_void {
        (self as *const Self).cast_mut().cast()
    }

    /// Marks a boxed holder to be freed by its call (no destroy-notify).
    /// Its parts may already be in C's hands (a [`Once`](crate::Once)
    /// kept by Rust, then handed over), and a call on another thread may
    /// find the mark at any time after it is set and free the holder. If a
    /// call took the closure before the mark, nothing frees the holder: it
    /// is leaked, so that a later call with the parts is still refused.
    ///
    /// # Safety
    /// `ptr` came from [`OnceHolder::into_raw_box`], is alive, with no
    /// destroy yet, and this is its only mark; the caller does not use it
    /// after this.
    pub(crate) unsafe fn free_on_call(ptr: *mut c_void) {
        // SAFETY: by the caller's promise; only the atomic is used through
        // the shared reference.
        let holder = unsafe { &*ptr.cast::<Self>() };
        // Release: a call on another thread that finds the mark frees the
        // holder (its `AcqRel` read-modify-write), after everything this
        // thread did with it, this reference included.
        holder.state.fetch_or(FREE_ON_CALL, Ordering::AcqRel);
    }

    /// The trampoline's body: takes the closure out (a second call is
    /// refused), frees the holder if nothing else will, and calls it.
    ///
    /// # Safety
    /// `ptr` is null or came from [`OnceHolder::as_ptr`] or
    /// [`OnceHolder::into_raw_box`] on a holder of this type that is alive
    /// (a boxed one until its destroy, or its call when freed by the call).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub unsafe fn call<P: Policy, O: CallbackReturn<R>, R>(
        ptr: *mut c_void,
        site: &'static Site,
        call: impl FnOnce(F) -> O,
        on_error: impl FnOnce(&O::Error) -> R,
    ) -> Result<R, Failed> {
        if ptr.is_null() {
            return Err(refused::<P>(site, Refusal::Null));
        }
        // SAFETY: by the caller's promise; only the atomic and the
        // `UnsafeCell` are used through the shared reference.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if T::CALLS_ON_HOME_ONLY && holder.home != Some(current_thread()) {
            crate::holder::refuse_foreign_call::<P>(site);
            return Err(Failed);
        }
        let mut state = holder.state.load(Ordering::Acquire);
        loop {
            if state & (READING | TAKEN) != 0 {
                return Err(refused::<P>(site, Refusal::SecondCall));
            }
            if state & DESTROYED != 0 {
                return Err(refused::<P>(site, Refusal::Destroyed));
            }
            match holder.state.compare_exchange_weak(
                state,
                state | READING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: this call set `READING` on a fresh holder, so the closure
        // is initialised and no one else reads it again.
        let closure = unsafe { (*holder.closure.get()).assume_init_read() };
        let state = holder.state.fetch_add(TAKEN - READING, Ordering::AcqRel);
        if state & (FREE_ON_CALL | DESTROYED) != 0 {
            // SAFETY: boxed (only `into_raw` and destroys set these bits),
            // the closure is out, and no one else frees it: a destroy that
            // came while reading left the free to us.
            drop(unsafe { Box::from_raw(ptr.cast::<Self>()) });
        }
        // The holder is not used past this point.
        match P::catch(site, move || call(closure).into_result()) {
            Ok(Ok(value)) => Ok(value),
            // `on_error` and the error's `Drop` (user code) run under the
            // policy's catch too: a panic there is the callback's.
            Ok(Err(error)) => {
                fail_caught::<P, _, _>(site, error, on_error).map_err(|Caught| Failed)
            }
            Err(Caught) => Err(Failed),
        }
    }

    /// The destroy-notify of `into_raw_with_destroy`, a `RawOnce`'s
    /// reclaim, and a `Once`'s drop: drops the closure if it was never
    /// called (leaking it on a foreign thread where it may not be dropped),
    /// and frees the holder, or leaves the free to a call reading it out.
    ///
    /// # Safety
    /// `ptr` came from [`OnceHolder::into_raw_box`] for this type, and this
    /// is its only destroy; it is not freed by a call (`into_raw`) unless
    /// it was never called.
    pub unsafe fn destroy<P: Policy>(ptr: *mut c_void, site: &'static Site) {
        // SAFETY: forwarded.
        unsafe { Self::release::<P>(ptr, site, true) }
    }

    /// [`OnceHolder::destroy`] for a Rust-owned [`Once`](crate::Once) or
    /// [`RawOnce`](crate::RawOnce), which the type system kept on a thread
    /// where the closure may be dropped: a `Once` leaves its thread only
    /// under a contract whose calls may come from anywhere, a `RawOnce`
    /// only with a `Send` closure, and its `reclaim` promises that no call
    /// comes. So, unlike C's destroy, this one drops the closure wherever
    /// it runs (leaking it away from home would also leave a future made
    /// with it pending for ever).
    ///
    /// # Safety
    /// As for [`OnceHolder::destroy`].
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
        if holder.state.load(Ordering::Relaxed) & BOXED == 0 {
            // Lent by `scope_once`, which still owns it: not C's to free.
            let _ = P::catch(site, || -> () {
                refuse(
                    site,
                    format_args!(
                        "it was destroyed, but it is borrowed for one C call (`scope_once`), \
                         which still owns it; a callback that C ends is made with \
                         `once(..).into_raw_with_destroy()`"
                    ),
                )
            });
            // No fallback reads the refusal's reason as `why`: not another
            // callback's either.
            crate::fallback_reason::forget();
            return;
        }
        let state = holder.state.fetch_or(DESTROYED, Ordering::AcqRel);
        if state & (READING | DESTROYED) != 0 {
            // The call reading the closure out frees it. Or a destroy came
            // before (C's second destroy), and the holder is still alive
            // (anything else is C's use after free): that destroy's free
            // is deferred to such a call, or it is dropping the closure
            // (below, user code that may make C destroy again). Either way
            // it is freed once, by them.
            return;
        }
        let mut unwind = None;
        if state & TAKEN == 0 {
            if check_home
                && T::DROPS_ON_HOME_ONLY
                && holder.home.is_some()
                && holder.home != Some(current_thread())
            {
                report::event(Some(site), ReportKind::LeakedOnForeignThread, None);
            } else {
                // SAFETY: never taken, so initialised, and dropped only here.
                // The holder stays allocated meanwhile (the closure's drop is
                // user code, which may make C call back: the call finds it
                // destroyed and is refused, touching the state alone), and
                // only the closure's bytes are borrowed mutably, through the
                // `UnsafeCell`.
                let drop_closure = || unsafe { (*holder.closure.get()).assume_init_drop() };
                if let Err(payload) = catch_unwind(AssertUnwindSafe(drop_closure)) {
                    if check_home {
                        crate::policy::destroy_panicked::<P>(site, payload);
                    } else {
                        // A Rust owner's drop (`Once`, a `RawOnce`'s
                        // reclaim): no C frame below, so the panic unwinds
                        // from it once the memory is freed, as a `Box`'s
                        // would.
                        unwind = Some(payload);
                    }
                }
            }
        }
        // SAFETY: destroyed, the closure dropped, leaked or taken, and no
        // call is reading it or may start: the free is ours, once. (The
        // state says destroyed and boxed: the holder's own drop leaves the
        // closure alone.)
        drop(unsafe { Box::from_raw(ptr.cast::<Self>()) });
        if let Some(payload) = unwind {
            std::panic::resume_unwind(payload);
        }
    }

    /// Whether the closure was called (`scope_once`).
    pub fn was_called(&self) -> bool {
        self.state.load(Ordering::Acquire) & (READING | TAKEN) != 0
    }

    /// Takes the uncalled closure out of a Rust-kept boxed holder (a
    /// `Once`'s `into_inner`), as a call would: a call that comes later is
    /// refused as a second one. `None` if a call took it first.
    ///
    /// # Safety
    /// `ptr` came from [`OnceHolder::into_raw_box`] for this type and is
    /// alive, with no destroy yet.
    pub(crate) unsafe fn take_owned(ptr: *mut c_void) -> Option<F> {
        // SAFETY: by the caller's promise; only the atomic and the
        // `UnsafeCell` are used through the shared reference.
        let holder = unsafe { &*ptr.cast::<Self>() };
        let mut state = holder.state.load(Ordering::Acquire);
        loop {
            if state & (READING | TAKEN | DESTROYED) != 0 {
                return None;
            }
            match holder.state.compare_exchange_weak(
                state,
                state | TAKEN,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: this set `TAKEN` on a holder whose closure no call read
        // out, so it is initialised, and no one reads it again (a call now
        // finds it taken; the holder's release leaves a taken closure).
        Some(unsafe { (*holder.closure.get()).assume_init_read() })
    }
}

impl<F, T: Threading> Drop for OnceHolder<F, T> {
    fn drop(&mut self) {
        // A stack holder (`scope_once`) whose closure was never called, or
        // a boxed one freed by `destroy` (which dropped or leaked the
        // closure itself and leaves the state taken or destroyed).
        //
        // Marked destroyed first, as `release` does: the closure's drop is
        // user code, which may make C call back with this holder (a
        // closure that owns a C object frees it in its `Drop`); that call
        // then finds it destroyed and is refused, touching the state alone,
        // rather than reading out the closure being dropped.
        let holder: *mut Self = self;
        // SAFETY: alive for this drop; a shared reference to the atomic
        // alone, as a call C makes meanwhile takes.
        let state = unsafe { (*holder).state.fetch_or(DESTROYED, Ordering::AcqRel) };
        if state & (READING | TAKEN | BOXED) == 0 {
            // SAFETY: never taken, so initialised, and dropped only here
            // (a call C makes from now on is refused before it reads it).
            // Through the `UnsafeCell`'s place, so that only the closure's
            // bytes are borrowed mutably, not the state such a call reads.
            unsafe {
                (*UnsafeCell::raw_get(std::ptr::addr_of!((*holder).closure))).assume_init_drop();
            }
        }
    }
}

enum Refusal {
    Null,
    SecondCall,
    Destroyed,
}

#[cold]
#[inline(never)]
fn refused<P: Policy>(site: &'static Site, why: Refusal) -> Failed {
    let _ = refuse_under::<P>(site, || match why {
        Refusal::Null => refuse(
            site,
            format_args!("its user data is null instead of a pointer to its holder"),
        ),
        Refusal::SecondCall => refuse(
            site,
            format_args!(
                "it was called a second time, but its closure is `FnOnce` and was already \
                 taken (by the first call, or by `Once::into_inner`)"
            ),
        ),
        Refusal::Destroyed => refuse(
            site,
            format_args!(
                "it was called after it was destroyed (by C's destroy-notify, or by Rust \
                 dropping its owner or ending its `scope_once`), or while its closure was being \
                 dropped: there is nothing left to call"
            ),
        ),
    });
    Failed
}
