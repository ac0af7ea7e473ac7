//! Callbacks whose closure lives on the heap: a boxed closure that C frees
//! through a destroy-notify or that Rust owns (`boxed`), and a closure C
//! calls once (`once`), with the raw parts handed to C.
//!
//! Their auto traits follow the closure, never the C slot type: an integer
//! `LPARAM` slot makes nothing `Send`.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use crate::holder::{CallbackType, Holder};
use crate::once::OnceHolder;
use crate::threading::{AnyThread, HomeThread, OwnerMayMove};
use crate::user_data::UserDataSlot;

/// Makes a handle `!Send` and `!Sync` until the impls below say otherwise.
type NotThreadSafe = PhantomData<*const ()>;

/// Contracts under which C may get a callback's parts on another thread
/// than the one that made it without harm: `send`/`sync` (the state word is
/// atomic) and `local` (calls there are refused before they touch the
/// holder, a destroy there leaks the closure). Under the default contract
/// C calls on the caller's thread only, and the holder's state is not
/// atomic: parts shared with another thread could call it from both.
#[diagnostic::on_unimplemented(
    message = "this callback's parts cannot be shared with another thread: its callback type or set is not declared `send`, `sync` or `local`",
    label = "C calls it on the thread that made it",
    note = "a callback type or set without a threading option is called by C on the thread \
            that made it, and its holder's state is not atomic: a `RawCallback`, or a `Boxed` \
            or `BoxedSet` shared with another thread, would let C call it from both; declare \
            it `#[callback(send)]` if C may call it on other threads"
)]
#[doc(hidden)]
pub trait PartsMayMove {}
impl PartsMayMove for AnyThread {}
impl PartsMayMove for HomeThread {}

/// An owned callback as C takes it: the function, its user data, and the
/// function that frees the user data (`GDestroyNotify`, sqlite's
/// `xDestroy`), from [`Boxed::into_raw`] or [`Once::into_raw_with_destroy`].
///
/// `destroy` has the callback type's ABI and takes the slot type, so
/// `(raw.destroy)(raw.user_data)` type-checks and it coerces to an
/// `Option<unsafe extern "C" fn(*mut c_void)>` field. C calls it exactly
/// once, after its last call of `function` or during it (the free then
/// waits for the call to return).
pub struct RawCallback<C: CallbackType> {
    /// The trampoline C calls.
    pub function: C::Function,
    /// The user data to pass with it.
    pub user_data: C::UserData,
    /// Frees the user data; called once, when C is done with the callback.
    pub destroy: C::Destroy,
    _closure: PhantomData<C::Closure>,
    _not_thread_safe: NotThreadSafe,
}

impl<C: CallbackType> Clone for RawCallback<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: CallbackType> Copy for RawCallback<C> {}

impl<C: CallbackType> fmt::Debug for RawCallback<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawCallback")
            .field("user_data", &self.user_data.into_ptr())
            .finish_non_exhaustive()
    }
}

// SAFETY: the parts are pointers to a heap holder of `C::Closure`: sending
// them sends the closure (C may then call or destroy it there), which only
// a contract whose calls and destroys on another thread are handled
// allows (`PartsMayMove`).
unsafe impl<C: CallbackType> Send for RawCallback<C>
where
    C::Closure: Send,
    C::Threading: PartsMayMove,
{
}
// SAFETY: shared, the parts are only copied: as for `Send`.
unsafe impl<C: CallbackType> Sync for RawCallback<C>
where
    C::Closure: Sync,
    C::Threading: PartsMayMove,
{
}

/// A boxed closure (from a callback type's `boxed`), for a C library that
/// keeps the callback across calls.
///
/// Either hand it to C for good with [`into_raw`](Boxed::into_raw), when C
/// frees it through a destroy-notify (GLib, sqlite's `xDestroy`), or keep
/// it and pass [`function`](Boxed::function) and
/// [`user_data`](Boxed::user_data), when C has no destroy-notify (curl's
/// `CURLMOPT_SOCKETFUNCTION`, `sqlite3_progress_handler`): the heap address
/// stays the same while the `Boxed` lives (moving it is fine), and dropping
/// it frees the closure. Drop it after C is told to stop calling; a drop
/// during a call (the closure told C to unregister, and the binding dropped
/// it) waits for that call to return.
pub struct Boxed<C: CallbackType> {
    raw: RawCallback<C>,
}

impl<C: CallbackType> Boxed<C> {
    /// Boxes `closure` for the given trampoline and destroy-notify.
    ///
    /// # Safety
    /// `function` and `destroy` are `C`'s trampoline and destroy for a
    /// boxed `Holder<C::Closure, C::Threading>`.
    #[doc(hidden)]
    #[inline]
    pub unsafe fn from_closure(
        closure: C::Closure,
        function: C::Function,
        destroy: C::Destroy,
    ) -> Self {
        let user_data =
            Holder::<C::Closure, C::Threading>::into_raw_box::<C::Policy>(closure, C::SITE);
        Boxed {
            raw: RawCallback {
                function,
                user_data: C::UserData::from_ptr(user_data),
                destroy,
                _closure: PhantomData,
                _not_thread_safe: PhantomData,
            },
        }
    }

    /// The trampoline to pass to C with [`user_data`](Boxed::user_data).
    #[inline]
    pub fn function(&self) -> C::Function {
        self.raw.function
    }

    /// The user data to pass to C with [`function`](Boxed::function): the
    /// closure's heap address, the same for as long as this `Boxed` lives.
    #[inline]
    pub fn user_data(&self) -> C::UserData {
        self.raw.user_data
    }

    /// Hands the callback over: C now owns it, and must call `destroy`
    /// exactly once, after (or during) its last call of `function`.
    #[must_use = "the callback leaks unless C calls `destroy`"]
    pub fn into_raw(self) -> RawCallback<C> {
        let raw = ManuallyDrop::new(self).raw;
        // SAFETY: our own boxed holder, alive until C destroys it (which
        // it could not before this: the destroy was refused).
        unsafe { Holder::<C::Closure, C::Threading>::hand_over(raw.user_data.into_ptr()) };
        raw
    }
}

impl<C: CallbackType> Drop for Boxed<C> {
    fn drop(&mut self) {
        // SAFETY: not handed to C for good (`into_raw` forgets `self`), so
        // this is the holder's only destroy.
        unsafe {
            Holder::<C::Closure, C::Threading>::drop_owned::<C::Policy>(
                self.raw.user_data.into_ptr(),
                C::SITE,
            )
        }
    }
}

impl<C: CallbackType> fmt::Debug for Boxed<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Boxed")
            .field("user_data", &self.raw.user_data.into_ptr())
            .finish_non_exhaustive()
    }
}

// SAFETY: a `Boxed` owns its closure; sending it sends the closure (which
// its drop may then drop there). Only under a contract whose calls may come
// from any thread, whose state word is atomic: the drop may then race with
// a call without harm (it is deferred).
unsafe impl<C: CallbackType> Send for Boxed<C>
where
    C::Closure: Send,
    C::Threading: OwnerMayMove,
{
}
// SAFETY: shared, it only hands out copies of its two pointers, with which
// another thread may call it: only under a contract that handles calls on
// another thread (`PartsMayMove`; the default contract's word is not
// atomic).
unsafe impl<C: CallbackType> Sync for Boxed<C>
where
    C::Closure: Sync,
    C::Threading: PartsMayMove,
{
}

/// A closure C calls once (from a callback type's `once`), not yet handed
/// over. Pick the shape of the C API:
/// [`into_raw`](Once::into_raw) when C calls it exactly once and has no
/// destroy-notify (`pthread_create`), [`into_raw_with_destroy`](Once::into_raw_with_destroy)
/// when C calls it at most once and then calls a destroy-notify
/// (`g_idle_add_full`).
///
/// Or keep it, and pass [`function`](Once::function) and
/// [`user_data`](Once::user_data), when C calls it at most once and may
/// also drop it uncalled without telling anyone (libevent's
/// `event_base_once`, whose pending callbacks `event_base_free` frees
/// uncalled): the call runs the closure and leaves the allocation to the
/// `Once`; [`was_called`](Once::was_called) tells whether it ran, and
/// dropping the `Once` frees it, dropping the closure if no call took it
/// (a drop during the call waits for the call to have taken it). As for a
/// kept [`Boxed`], drop it only once C will not call any more (after the
/// call, or once the C object that holds it is gone); a second call is
/// refused.
pub struct Once<C: CallbackType> {
    raw: RawCallback<C>,
}

impl<C: CallbackType> Once<C> {
    /// Boxes `closure` for the given once-trampoline and destroy-notify.
    ///
    /// # Safety
    /// `function` and `destroy` are `C`'s once-trampoline and once-destroy
    /// for a boxed `OnceHolder<C::Closure, C::Threading>`.
    #[doc(hidden)]
    #[inline]
    pub unsafe fn from_closure(
        closure: C::Closure,
        function: C::Function,
        destroy: C::Destroy,
    ) -> Self {
        let user_data = OnceHolder::<C::Closure, C::Threading>::into_raw_box(closure);
        Once {
            raw: RawCallback {
                function,
                user_data: C::UserData::from_ptr(user_data),
                destroy,
                _closure: PhantomData,
                _not_thread_safe: PhantomData,
            },
        }
    }

    /// The once-trampoline to pass to C with [`user_data`](Once::user_data),
    /// for a `Once` that Rust keeps (see [`Once`]).
    #[inline]
    pub fn function(&self) -> C::Function {
        self.raw.function
    }

    /// The user data to pass to C with [`function`](Once::function): the
    /// closure's heap address, the same for as long as this `Once` lives.
    #[inline]
    pub fn user_data(&self) -> C::UserData {
        self.raw.user_data
    }

    /// Whether C has called it (the call took the closure out, and is
    /// running it or has run it).
    #[inline]
    pub fn was_called(&self) -> bool {
        // SAFETY: our own boxed holder, alive while `self` is.
        let holder = unsafe {
            &*self
                .raw
                .user_data
                .into_ptr()
                .cast::<OnceHolder<C::Closure, C::Threading>>()
        };
        holder.was_called()
    }

    /// The closure back, if C has not called it, and frees the allocation,
    /// as dropping the `Once` does; `None` if C called it (or a call on
    /// another thread is taking it: the free then waits for that call).
    /// As before dropping it, C must no longer call it (the C object that
    /// held it is gone): the allocation is freed here, so a call C makes
    /// afterwards with the parts is not refused, it is a use after free.
    pub fn into_inner(self) -> Option<C::Closure> {
        let ptr = self.raw.user_data.into_ptr();
        // SAFETY: our own boxed holder, alive while `self` is, with no
        // destroy yet (that is `self`'s drop, below).
        unsafe { OnceHolder::<C::Closure, C::Threading>::take_owned(ptr) }
    }

    /// For C APIs that call the function exactly once and have no
    /// destroy-notify: the call consumes the closure and frees it. If the C
    /// call fails and will never call back, [`RawOnce::reclaim`] frees it.
    ///
    /// A kept `Once` whose parts C already holds may be handed over too
    /// (C's call, on any thread the type allows, then frees it); if C has
    /// already called it, the allocation is leaked (a later call is still
    /// refused).
    #[must_use = "the closure leaks unless C calls it or it is reclaimed"]
    pub fn into_raw(self) -> RawOnce<C> {
        let raw = ManuallyDrop::new(self).raw;
        // SAFETY: our own boxed holder, alive (no call frees it before this
        // mark, and its only destroy was `self`'s drop, forgotten above);
        // its parts may be in C's hands already (`function()` and
        // `user_data()`), which `free_on_call` allows.
        unsafe {
            OnceHolder::<C::Closure, C::Threading>::free_on_call(raw.user_data.into_ptr());
        }
        RawOnce {
            function: raw.function,
            user_data: raw.user_data,
            _closure: PhantomData,
            _not_thread_safe: PhantomData,
        }
    }

    /// For C APIs that call the function at most once and then call a
    /// destroy-notify: the call consumes the closure, `destroy` frees the
    /// allocation (and drops the closure if it was never called), and a
    /// second call before `destroy` is refused.
    #[must_use = "the callback leaks unless C calls `destroy`"]
    pub fn into_raw_with_destroy(self) -> RawCallback<C> {
        ManuallyDrop::new(self).raw
    }
}

impl<C: CallbackType> Drop for Once<C> {
    fn drop(&mut self) {
        // SAFETY: not handed to C for good (`into_raw` and
        // `into_raw_with_destroy` forget `self`), so this is its only
        // destroy and no call frees it; C calls it only while `self` lives
        // (the promise of the C call given `user_data()`), and a call
        // still reading the closure out is left the free.
        unsafe {
            OnceHolder::<C::Closure, C::Threading>::drop_owned::<C::Policy>(
                self.raw.user_data.into_ptr(),
                C::SITE,
            )
        }
    }
}

impl<C: CallbackType> fmt::Debug for Once<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("user_data", &self.raw.user_data.into_ptr())
            .finish_non_exhaustive()
    }
}

// SAFETY: a `Once` owns its closure; sending it sends the closure; as for
// `Boxed`, only under a contract with an atomic state.
unsafe impl<C: CallbackType> Send for Once<C>
where
    C::Closure: Send,
    C::Threading: OwnerMayMove,
{
}
// SAFETY: shared, it hands out copies of its two pointers, with which
// another thread may make the call: the closure then moves out and runs
// there, so it must be `Send` (a once-holder's state is atomic under every
// contract, and a `local` type's call away from home is refused, as for
// `RawOnce`); and `Sync` for the shared reference itself.
unsafe impl<C: CallbackType> Sync for Once<C> where C::Closure: Send + Sync {}

/// A once-callback handed to C by [`Once::into_raw`]: the call frees it.
pub struct RawOnce<C: CallbackType> {
    /// The trampoline C calls, exactly once.
    pub function: C::Function,
    /// The user data to pass with it.
    pub user_data: C::UserData,
    _closure: PhantomData<C::Closure>,
    _not_thread_safe: NotThreadSafe,
}

impl<C: CallbackType> RawOnce<C> {
    /// Drops the closure uncalled and frees it, when the C call that was to
    /// call it failed.
    ///
    /// # Safety
    /// `function` has not been called with `user_data` and never will be.
    pub unsafe fn reclaim(self) {
        // SAFETY: by the caller's promise the holder is still unclaimed.
        unsafe {
            OnceHolder::<C::Closure, C::Threading>::drop_owned::<C::Policy>(
                self.user_data.into_ptr(),
                C::SITE,
            )
        }
    }
}

impl<C: CallbackType> fmt::Debug for RawOnce<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawOnce")
            .field("user_data", &self.user_data.into_ptr())
            .finish_non_exhaustive()
    }
}

// SAFETY: a `RawOnce` is the parts of a heap once-holder of `C::Closure`,
// with no drop of its own: safe code can only copy them. Its call and its
// `reclaim` are `unsafe`, with their own contract; what they do on another
// thread is handled whatever `C::Threading` says (unlike `RawCallback`'s
// holder), because a once-holder's state is atomic under every contract
// (once.rs), a `local` type's call there is refused, and `reclaim` drops
// an uncalled closure on whichever thread runs it. So moving the parts
// needs only what moving the closure needs: `Send`.
unsafe impl<C: CallbackType> Send for RawOnce<C> where C::Closure: Send {}
// SAFETY: shared, it hands out copies of its parts (its fields are
// public; `reclaim` takes it by value, and it is not `Clone`), with which
// another thread may make the call: the closure then runs and is dropped
// there, as for `Send`; and `Sync` for the shared reference itself.
unsafe impl<C: CallbackType> Sync for RawOnce<C> where C::Closure: Send + Sync {}
