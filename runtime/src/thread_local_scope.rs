//! `scope_thread_local` of a callback type without a user-data slot (plain
//! `qsort`, `bsearch`, `nftw`): any closure, capturing and borrowing, lent
//! to C for one call on this thread.
//!
//! Without a slot, C hands the callback nothing to find the closure with,
//! so the closure is parked where the type's function can find it: in a
//! thread-local that belongs to the callback type (the macro declares one
//! per type, const-initialised, without a destructor). While the scope's
//! C call runs, that thread-local points at the scope's [`Parked`] record:
//! the address of a lent [`Holder`] of the closure, and the call fn
//! monomorphised for that closure's type, which alone reads the holder.
//! The type's function (one per type, not generic, valid for ever) reads
//! the thread-local and calls through the record's call fn: it never
//! names the closure's type, so it cannot guess it wrong. Where nothing is
//! parked (another thread, or after the scope returned: C kept the
//! pointer) the call is refused.
//!
//! Each scope saves the record it replaces and puts it back when it ends
//! (also when it unwinds), so nested scopes of one type (a comparator's
//! body sorting again) each reach their own closure. The holder is the
//! one `scope` lends, with the caller-thread contract's word (a plain
//! `Cell`: every call that reaches it is on this thread), so everything a
//! lent holder does holds here too: re-entry into an `FnMut` is refused,
//! a `reentrant` type's `Fn` calls nest, a panic poisons the holder until
//! the guard that keeps it re-raises it (this scope's guard, so for the
//! rest of the C call), and a call C makes while the closure is dropped
//! is refused.

use std::cell::Cell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::catch_unwind;
use std::thread::LocalKey;

use crate::holder::{Holder, fallback_caught};
use crate::panic::{Site, guarded, refuse};
use crate::policy::Policy;
use crate::report;
use crate::returns::CallbackReturn;
use crate::threading::CallerThread;

/// A callback type's thread-local: the innermost [`Parked`] record of a
/// `scope_thread_local` running on this thread, or null. Written only by
/// [`scope`] (its field is private), which restores it on the way out.
#[doc(hidden)]
pub struct ParkedSlot<Call: 'static> {
    top: Cell<*const Parked<Call>>,
}

impl<Call: 'static> ParkedSlot<Call> {
    /// Nothing parked: the thread-local's initial value, copied into each
    /// thread's slot (interior mutability is the point).
    #[allow(clippy::declare_interior_mutable_const)]
    pub const NEW: Self = ParkedSlot {
        top: Cell::new(std::ptr::null()),
    };
}

/// What a callback type's thread-local points at while a scope runs: the
/// address of the scope's lent holder, and `call`, the call fn
/// monomorphised for the holder's closure type (as [`Parking::new`]
/// promised). Both are set together, by one scope, from one frame.
struct Parked<Call> {
    call: Call,
    holder: Cell<*mut c_void>,
}

/// One scope's stack frame: the record, the holder, and the restore, in
/// the order their drops run. The holder's drop drops the closure while
/// the record is still parked (a call C makes from that drop reaches the
/// holder and is refused as after a destroy), then [`Unpark`] puts the
/// outer record back, also when the closure's drop panics.
struct Frame<F, Call: 'static> {
    parked: Parked<Call>,
    holder: Holder<F, CallerThread>,
    unpark: Unpark<Call>,
}

/// Puts back the record a scope replaced in its type's thread-local.
struct Unpark<Call: 'static> {
    slot: &'static LocalKey<ParkedSlot<Call>>,
    site: &'static Site,
    /// The record this scope replaced (an outer scope's, or null).
    outer: Cell<*const Parked<Call>>,
    /// This scope's record, once parked.
    this: Cell<*const Parked<Call>>,
}

impl<Call: 'static> Drop for Unpark<Call> {
    fn drop(&mut self) {
        let this = self.this.get();
        if this.is_null() {
            return;
        }
        let outer = self.outer.get();
        let in_order = self.slot.with(|slot| {
            let in_order = slot.top.get() == this;
            slot.top.set(outer);
            in_order
        });
        if !in_order {
            // Another record is on top: a scope that began inside this one
            // is still running (its stack was switched away: a stackful
            // coroutine), and would put this scope's record back when it
            // ends, after this frame is gone: stop.
            report::abort_thread_local_scopes_out_of_order(self.site);
        }
    }
}

impl<F, Call: Copy + 'static> Frame<F, Call> {
    /// Parks the record: from here until the frame is dropped, this
    /// thread's calls of the type's function reach this frame's holder.
    fn park(&self) {
        self.parked.holder.set(self.holder.as_ptr());
        let this: *const Parked<Call> = &self.parked;
        let outer = self.unpark.slot.with(|slot| slot.top.replace(this));
        self.unpark.outer.set(outer);
        self.unpark.this.set(this);
    }
}

/// What the macro makes for one callback type (with its policy `P`) and
/// one closure type `F`: the type's thread-local and function, and the
/// call fn for `F`. Made
/// only by the unsafe [`Parking::new`], whose promise is what lets
/// [`scope`] pair the call fn with a holder of `F`.
#[doc(hidden)]
pub struct Parking<P, F, Call: 'static, Function> {
    slot: &'static LocalKey<ParkedSlot<Call>>,
    site: &'static Site,
    call: Call,
    function: Function,
    _closure: PhantomData<fn(F) -> F>,
    _policy: PhantomData<fn() -> P>,
}

impl<P, F, Call: Copy + 'static, Function: Copy> Parking<P, F, Call, Function> {
    /// The parts of a callback type's `scope_thread_local` for closures
    /// `F`.
    ///
    /// # Safety
    /// `call`, given the holder address of a record found in `slot` (see
    /// [`parked`]) and C's arguments, treats it as a `Holder<F, _>` only
    /// through [`call_mut`] or [`call_ref`] with this `F`; `function` is
    /// the callback type's function, which passes C's arguments to the
    /// `call` of the record [`parked`] finds in `slot`, with its holder,
    /// and refuses the call when there is none.
    #[inline(always)]
    pub unsafe fn new(
        slot: &'static LocalKey<ParkedSlot<Call>>,
        site: &'static Site,
        function: Function,
        call: Call,
    ) -> Self {
        Parking {
            slot,
            site,
            call,
            function,
            _closure: PhantomData,
            _policy: PhantomData,
        }
    }
}

/// `Name::scope_thread_local`: parks `f` in the type's thread-local for
/// the duration of `call`, under the type's guard (a kept panic is
/// resumed when `call` returns).
#[doc(hidden)]
#[inline]
pub fn scope<P: Policy, F, Call: Copy + 'static, Function: Copy, T>(
    f: F,
    parking: Parking<P, F, Call, Function>,
    call: impl FnOnce(Function) -> T,
) -> T {
    // Made and dropped inside the guard, as in `lend::scope`: the closure's
    // drop is user code that may make C call back, and the refusal of that
    // call, kept, is resumed by this guard.
    guarded::<P, _>(|| {
        let frame = frame(f, &parking);
        frame.park();
        let value = call(parking.function);
        // As in `lend::scope`: the closure's drop follows, later than a
        // panic kept during an unwind that `call` caught.
        crate::panic::unwind_ended_inside_guard();
        value
    })
}

/// `Name::try_scope_thread_local`: [`scope`] under `try_resume`, which
/// also returns the first `Err` of the closure.
#[doc(hidden)]
#[inline]
pub fn try_scope<P, F, Call: Copy + 'static, Function: Copy, T, E: 'static>(
    f: F,
    parking: Parking<P, F, Call, Function>,
    call: impl FnOnce(Function) -> T,
) -> Result<T, E> {
    crate::try_resume(|| {
        let frame = frame(f, &parking);
        frame.park();
        let value = call(parking.function);
        // As in `scope`.
        crate::panic::unwind_ended_inside_guard();
        value
    })
}

#[inline(always)]
fn frame<P, F, Call: Copy + 'static, Function>(
    f: F,
    parking: &Parking<P, F, Call, Function>,
) -> Frame<F, Call> {
    Frame {
        parked: Parked {
            call: parking.call,
            holder: Cell::new(std::ptr::null_mut()),
        },
        holder: Holder::new(f, parking.site),
        unpark: Unpark {
            slot: parking.slot,
            site: parking.site,
            outer: Cell::new(std::ptr::null()),
            this: Cell::new(std::ptr::null()),
        },
    }
}

/// The record parked in `slot` on this thread, as the call fn to call and
/// the holder address to pass it; `None` when no scope of the type runs
/// on this thread. A thread-local read and a branch.
#[doc(hidden)]
#[inline(always)]
pub fn parked<Call: Copy + 'static>(
    slot: &'static LocalKey<ParkedSlot<Call>>,
) -> Option<(Call, *mut c_void)> {
    let top = slot.with(|slot| slot.top.get());
    if top.is_null() {
        return None;
    }
    // SAFETY: only `scope` and `try_scope` set a slot's top (its field is
    // private), to the record of a frame on this thread's stack, and the
    // frame's `Unpark` takes it off again before the frame's memory goes:
    // the frame is a local of the scope, dropped when the scope returns or
    // unwinds (Rust frames are never skipped), and `Unpark` is its last
    // field, dropped after the closure and the holder. It puts back the
    // record it replaced, which is then on top again only if its own scope
    // is still running (else `Unpark` aborts first). So a non-null top is
    // the record of a live frame, read on its thread.
    let parked = unsafe { &*top };
    Some((parked.call, parked.holder.get()))
}

/// A parked call, exclusive (`FnMut`): [`Holder::call_mut`] on the lent
/// holder of the record's scope.
///
/// # Safety
/// `holder` is what [`parked`] returned with the call fn that calls this,
/// which [`Parking::new`] made for closures `F`; `retry` calls that call
/// fn again with its arguments.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_mut<P: Policy, F, A, O: CallbackReturn<R>, R>(
    holder: *mut c_void,
    site: &'static Site,
    args: A,
    call: impl FnOnce(&mut F, A) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
    retry: impl FnOnce(A, *mut c_void) -> R,
) -> R {
    // SAFETY: `holder` is the lent holder of a live frame of closures `F`
    // (by the caller's promise and `parked`'s), made by `Holder::new`
    // (`LENT`), on this thread, where every call of it comes (the
    // thread-local is this thread's): the caller-thread contract.
    unsafe {
        Holder::<F, CallerThread>::call_mut::<P, *mut c_void, A, O, R, true>(
            holder, site, args, call, on_error, fallback, retry,
        )
    }
}

/// A parked call, shared (`Fn`, for types declared `reentrant` or
/// `sync`): [`Holder::call_ref`] on the lent holder of the record's
/// scope; such calls may nest.
///
/// # Safety
/// As for [`call_mut`].
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call_ref<P: Policy, F, A, O: CallbackReturn<R>, R>(
    holder: *mut c_void,
    site: &'static Site,
    args: A,
    call: impl FnOnce(&F, A) -> O,
    on_error: impl FnOnce(&O::Error) -> R,
    fallback: impl FnOnce() -> R,
    retry: impl FnOnce(A, *mut c_void) -> R,
) -> R {
    // SAFETY: as in `call_mut`.
    unsafe {
        Holder::<F, CallerThread>::call_ref::<P, *mut c_void, A, O, R, true>(
            holder, site, args, call, on_error, fallback, retry,
        )
    }
}

/// A call of the type's function on a thread where no scope of the type
/// runs: from another thread, or after the scope returned (C kept the
/// pointer). No user code runs and no closure is touched; C's thread may
/// have no guard a panic could go to, so, as for a `local` callback called
/// on another thread, the refusal is reported and C gets the fallback, or,
/// with no fallback (`on_panic = abort`), the process aborts saying so;
/// under `unwind` it unwinds.
///
/// The report (or the abort) is a cold call that cannot unwind; the
/// fallback is computed here, in the type's function, where a panic of
/// `fallback = EXPR` reaches [`fallback_caught`]'s catch and its abort
/// names the callback.
#[doc(hidden)]
#[inline(always)]
pub fn refuse_unparked<P: Policy, R>(site: &'static Site, fallback: impl FnOnce() -> R) -> R {
    if P::UNWINDS {
        unparked(site);
    }
    if P::ABORTS {
        refuse_unparked_aborting(site);
    }
    refuse_unparked_reporting(site);
    fallback_caught(site, fallback)
}

#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refuse_unparked_reporting(site: &'static Site) {
    let payload = unparked_refusal(site);
    let reason = crate::fallback_reason::panic_reason(&*payload);
    report::unparked_call_refused(site, payload);
    // For a `fallback = EXPR` that reads `why`: the fallback follows (noted
    // after the report, user code that may reach another callback).
    crate::fallback_reason::note(reason);
}

#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refuse_unparked_aborting(site: &'static Site) -> ! {
    let payload = unparked_refusal(site);
    report::abort_on_unparked_call(site, &*payload)
}

/// The refusal, raised as a panic (the panic hook prints it) and caught.
fn unparked_refusal(site: &'static Site) -> crate::panic::Payload {
    match catch_unwind(|| -> std::convert::Infallible { unparked(site) }) {
        Ok(never) => match never {},
        Err(payload) => payload,
    }
}

#[cold]
#[inline(never)]
fn unparked(site: &'static Site) -> ! {
    refuse(
        site,
        format_args!(
            "no `scope_thread_local` of its type is running on this thread: it was called on \
             another thread, or after its scope returned (the C library kept the function \
             pointer); its closure is lent to C only on the thread that runs the scope, and only \
             until the scope's call returns"
        ),
    )
}
