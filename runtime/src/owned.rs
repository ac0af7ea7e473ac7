//! Callbacks that C owns: a boxed closure freed through a destroy-notify
//! (`boxed`), and a closure C calls once (`once`).

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::panic::{Site, refuse};
use crate::policy::{Caught, Policy};
use crate::user_data::UserDataSlot;

/// An owned callback as C takes it: the function, its user data, and the
/// function that frees the user data (`GDestroyNotify`, sqlite's
/// `xDestroy`).
///
/// `destroy` has the callback type's ABI and takes the slot type, so
/// `(raw.destroy)(raw.user_data)` type-checks and it coerces to an
/// `Option<unsafe extern "C" fn(*mut c_void)>` field. Call it exactly once,
/// after the last call of `function`.
#[derive(Debug, Clone, Copy)]
pub struct RawCallback<Function, Slot, Destroy> {
    /// The trampoline C calls.
    pub function: Function,
    /// The user data to pass with it.
    pub user_data: Slot,
    /// Frees the user data; call it once, when C is done with the callback.
    pub destroy: Destroy,
}

/// A boxed closure not yet handed to C (from a callback type's `boxed`).
/// [`Boxed::into_raw`] hands it over; dropping it instead frees it.
pub struct Boxed<Function, Slot: UserDataSlot, Destroy> {
    raw: RawCallback<Function, Slot, Destroy>,
    free: unsafe fn(*mut c_void),
}

impl<Function, Slot: UserDataSlot, Destroy> Boxed<Function, Slot, Destroy> {
    #[doc(hidden)]
    /// # Safety
    /// `raw.user_data` is a live boxed holder that `free` (and
    /// `raw.destroy`) free, and nothing else owns it.
    pub unsafe fn from_parts(
        raw: RawCallback<Function, Slot, Destroy>,
        free: unsafe fn(*mut c_void),
    ) -> Self {
        Boxed { raw, free }
    }

    /// Hands the callback over: C now owns it, and must call `destroy`
    /// exactly once after its last call of `function`.
    #[must_use = "the callback leaks unless C calls `destroy`"]
    pub fn into_raw(self) -> RawCallback<Function, Slot, Destroy> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again.
        unsafe { std::ptr::read(&this.raw) }
    }
}

impl<Function, Slot: UserDataSlot, Destroy> Drop for Boxed<Function, Slot, Destroy> {
    fn drop(&mut self) {
        // SAFETY: not handed to C (`into_raw` forgets `self`), so we own it.
        unsafe { (self.free)(self.raw.user_data.into_ptr()) }
    }
}

impl<Function, Slot: UserDataSlot, Destroy> fmt::Debug for Boxed<Function, Slot, Destroy> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Boxed")
            .field("user_data", &self.raw.user_data.into_ptr())
            .finish_non_exhaustive()
    }
}

/// A closure C calls once (from a callback type's `once`), not yet handed
/// over. Pick the shape of the C API:
/// [`into_raw`](Once::into_raw) when C calls it exactly once and has no
/// destroy-notify (`pthread_create`), [`into_raw_with_destroy`](Once::into_raw_with_destroy)
/// when C calls it at most once and then calls a destroy-notify
/// (`g_idle_add_full`). Dropping it instead frees it uncalled.
pub struct Once<Function, Slot: UserDataSlot, Destroy> {
    user_data: Slot,
    call_and_free: Function,
    call_at_most_once: Function,
    destroy: Destroy,
    free: unsafe fn(*mut c_void),
}

impl<Function, Slot: UserDataSlot, Destroy> Once<Function, Slot, Destroy> {
    #[doc(hidden)]
    /// # Safety
    /// `user_data` is a live boxed once-holder that the three functions
    /// and `free` expect, and nothing else owns it.
    pub unsafe fn from_parts(
        user_data: Slot,
        call_and_free: Function,
        call_at_most_once: Function,
        destroy: Destroy,
        free: unsafe fn(*mut c_void),
    ) -> Self {
        Once {
            user_data,
            call_and_free,
            call_at_most_once,
            destroy,
            free,
        }
    }

    /// For C APIs that call the function exactly once and have no
    /// destroy-notify: the call consumes the closure and frees it. If the C
    /// call fails and will never call back, [`RawOnce::reclaim`] frees it.
    #[must_use = "the closure leaks unless C calls it or it is reclaimed"]
    pub fn into_raw(self) -> RawOnce<Function, Slot> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; each field is read once.
        unsafe {
            RawOnce {
                function: std::ptr::read(&this.call_and_free),
                user_data: this.user_data,
                free: this.free,
            }
        }
    }

    /// For C APIs that call the function at most once and then call a
    /// destroy-notify: the call consumes the closure, `destroy` frees the
    /// allocation (and drops the closure if it was never called), and a
    /// second call before `destroy` is refused.
    #[must_use = "the callback leaks unless C calls `destroy`"]
    pub fn into_raw_with_destroy(self) -> RawCallback<Function, Slot, Destroy> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; each field is read once.
        unsafe {
            RawCallback {
                function: std::ptr::read(&this.call_at_most_once),
                user_data: this.user_data,
                destroy: std::ptr::read(&this.destroy),
            }
        }
    }
}

impl<Function, Slot: UserDataSlot, Destroy> Drop for Once<Function, Slot, Destroy> {
    fn drop(&mut self) {
        // SAFETY: not handed to C, so we own it and it was never called.
        unsafe { (self.free)(self.user_data.into_ptr()) }
    }
}

impl<Function, Slot: UserDataSlot, Destroy> fmt::Debug for Once<Function, Slot, Destroy> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("user_data", &self.user_data.into_ptr())
            .finish_non_exhaustive()
    }
}

/// A once-callback handed to C by [`Once::into_raw`]: the call frees it.
#[derive(Debug)]
pub struct RawOnce<Function, Slot> {
    /// The trampoline C calls, exactly once.
    pub function: Function,
    /// The user data to pass with it.
    pub user_data: Slot,
    free: unsafe fn(*mut c_void),
}

impl<Function, Slot: UserDataSlot> RawOnce<Function, Slot> {
    /// Drops the closure uncalled and frees it, when the C call that was to
    /// call it failed.
    ///
    /// # Safety
    /// `function` has not been called with `user_data` and never will be.
    pub unsafe fn reclaim(self) {
        // SAFETY: by the caller's promise the holder is still unclaimed.
        unsafe { (self.free)(self.user_data.into_ptr()) }
    }
}

/// The heap cell of a once-callback: the closure until its call moves it
/// out, and whether that happened. The flag is atomic whatever the type's
/// threading contract: a second call, from any thread, must find it set
/// (taking the closure twice would be a double move), and a once-callback
/// is called once, so the cost does not matter.
#[doc(hidden)]
pub struct OnceHolder<F> {
    taken: AtomicBool,
    closure: UnsafeCell<MaybeUninit<F>>,
}

impl<F> OnceHolder<F> {
    /// A boxed once-holder for `closure`, as a raw pointer.
    #[inline(always)]
    pub fn into_raw_box(closure: F) -> *mut c_void {
        let holder = OnceHolder {
            taken: AtomicBool::new(false),
            closure: UnsafeCell::new(MaybeUninit::new(closure)),
        };
        Box::into_raw(Box::new(holder)).cast()
    }

    /// The `into_raw` trampoline's body: takes the closure, frees the
    /// holder, then calls the closure.
    ///
    /// # Safety
    /// `ptr` came from [`OnceHolder::into_raw_box`] for this type and this
    /// is its only call (nothing else frees it).
    #[inline(always)]
    pub unsafe fn call_and_free<P: Policy, R>(
        ptr: *mut c_void,
        site: &'static Site,
        fallback: impl FnOnce() -> R,
        call: impl FnOnce(F) -> R,
    ) -> R {
        // SAFETY: by the caller's promise we own the box now.
        let holder = unsafe { Box::from_raw(ptr.cast::<Self>()) };
        // SAFETY: the closure is initialised until a call takes it, and this
        // is the only call.
        let closure = unsafe { holder.closure.into_inner().assume_init() };
        match P::catch(site, move || call(closure)) {
            Ok(value) => value,
            Err(Caught) => fallback(),
        }
    }

    /// The `into_raw_with_destroy` trampoline's body: takes the closure out
    /// (a second call is refused) and calls it; the holder stays until
    /// `destroy`.
    ///
    /// # Safety
    /// `ptr` came from [`OnceHolder::into_raw_box`] for this type and
    /// `destroy` has not run.
    #[inline(always)]
    pub unsafe fn call_at_most_once<P: Policy, R>(
        ptr: *mut c_void,
        site: &'static Site,
        fallback: impl FnOnce() -> R,
        call: impl FnOnce(F) -> R,
    ) -> R {
        // SAFETY: by the caller's promise the holder is alive; only its
        // state and `UnsafeCell` are written through this reference.
        let holder = unsafe { &*ptr.cast::<Self>() };
        if holder.taken.swap(true, Ordering::Acquire) {
            return match P::catch(site, || -> R { refuse_second_call(site) }) {
                Ok(never) => never,
                Err(Caught) => fallback(),
            };
        }
        // SAFETY: this call set `taken` just now, so the closure is
        // initialised and nobody else reads it again.
        let closure = unsafe { (*holder.closure.get()).assume_init_read() };
        match P::catch(site, move || call(closure)) {
            Ok(value) => value,
            Err(Caught) => fallback(),
        }
    }

    /// The destroy-notify of `into_raw_with_destroy`: drops the closure if
    /// it was never called, then frees the holder; a panic in the closure's
    /// `Drop` is handled under the policy.
    ///
    /// # Safety
    /// `ptr` came from [`OnceHolder::into_raw_box`] for this type, is freed
    /// only once, and no call is running.
    #[inline(always)]
    pub unsafe fn destroy<P: Policy>(ptr: *mut c_void, site: &'static Site) {
        // SAFETY: forwarded from the caller.
        let _ = P::catch(site, || unsafe { Self::free(ptr) });
    }

    /// Frees the holder, dropping the closure if it was never called.
    ///
    /// # Safety
    /// As for [`OnceHolder::destroy`].
    pub unsafe fn free(ptr: *mut c_void) {
        // SAFETY: by the caller's promise we own the box now.
        let holder = unsafe { Box::from_raw(ptr.cast::<Self>()) };
        if !holder.taken.load(Ordering::Acquire) {
            // SAFETY: not taken means the closure is still there.
            drop(unsafe { holder.closure.into_inner().assume_init() });
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn refuse_second_call(site: &'static Site) -> ! {
    refuse(
        site,
        format_args!(
            "it was called a second time, but its closure is `FnOnce` and the first call \
             consumed it"
        ),
    )
}
