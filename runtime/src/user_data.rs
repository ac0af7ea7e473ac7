//! User data: the C-side slot that carries it (`void*`, `LPARAM`, ...) and
//! the Rust-side types a callback receives it as (`&T`, `&mut T`, `Box<T>`...).

use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

/// A C type that can carry user data: a raw pointer, or an integer exactly
/// the size of a pointer (`usize`, `isize`, Windows' `LPARAM`).
///
/// # Safety
/// `from_ptr` followed by `into_ptr` must give back the same pointer, with
/// its provenance.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry user data",
    label = "not a raw pointer or a pointer-sized integer",
    note = "a user-data slot is a raw pointer (`*mut c_void`, `*const T`, ...) or an integer \
            exactly the size of a pointer (`usize`, `isize`, `LPARAM`)"
)]
pub unsafe trait UserDataSlot: Copy {
    /// The slot value carrying `ptr`.
    fn from_ptr(ptr: *mut c_void) -> Self;
    /// The pointer this slot value carries.
    fn into_ptr(self) -> *mut c_void;
}

// SAFETY: a pointer cast keeps address and provenance.
unsafe impl<T> UserDataSlot for *mut T {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.cast()
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.cast()
    }
}

// SAFETY: a pointer cast keeps address and provenance.
unsafe impl<T> UserDataSlot for *const T {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.cast_const().cast()
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.cast_mut().cast()
    }
}

// Written out rather than by a macro, so that rustc's "these types
// implement it" list in a slot-type error stays short.

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the pointer-to-integer `as` cast exposes the provenance on the way in and
// the integer-to-pointer cast picks it up on the way out.
unsafe impl UserDataSlot for usize {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr as usize
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self as *mut c_void
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the pointer-to-integer `as` cast exposes the provenance on the way in and
// the integer-to-pointer cast picks it up on the way out.
unsafe impl UserDataSlot for isize {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr as isize
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self as usize as *mut c_void
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the pointer-to-integer `as` cast exposes the provenance on the way in and
// the integer-to-pointer cast picks it up on the way out.
#[cfg(target_pointer_width = "64")]
unsafe impl UserDataSlot for u64 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr as u64
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self as usize as *mut c_void
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the pointer-to-integer `as` cast exposes the provenance on the way in and
// the integer-to-pointer cast picks it up on the way out.
#[cfg(target_pointer_width = "64")]
unsafe impl UserDataSlot for i64 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr as i64
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self as usize as *mut c_void
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the pointer-to-integer `as` cast exposes the provenance on the way in and
// the integer-to-pointer cast picks it up on the way out.
#[cfg(target_pointer_width = "32")]
unsafe impl UserDataSlot for u32 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr as u32
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self as usize as *mut c_void
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the pointer-to-integer `as` cast exposes the provenance on the way in and
// the integer-to-pointer cast picks it up on the way out.
#[cfg(target_pointer_width = "32")]
unsafe impl UserDataSlot for i32 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr as i32
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self as usize as *mut c_void
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the pointer-to-integer `as` cast exposes the provenance on the way in and
// the integer-to-pointer cast picks it up on the way out.
#[cfg(target_pointer_width = "16")]
unsafe impl UserDataSlot for u16 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr as u16
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self as usize as *mut c_void
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the pointer-to-integer `as` cast exposes the provenance on the way in and
// the integer-to-pointer cast picks it up on the way out.
#[cfg(target_pointer_width = "16")]
unsafe impl UserDataSlot for i16 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr as i16
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self as usize as *mut c_void
    }
}

/// The carrier of [`UserDataAt`]'s implied bound: `&'a U` is well-formed
/// only where `U: 'a`, which lets `for<'a> UserDataAt<'a>` hold for every
/// `&T` without demanding `T: 'static` (a plain generic associated type
/// `At<'a> where Self: 'a` would, under the higher-ranked bound).
#[doc(hidden)]
#[allow(unreachable_pub)] // named only in `UserDataAt`'s default
pub struct ImpliedBound<T>(PhantomData<T>);

/// The user data `U` as one call receives it: `&'a T` for `&T`, `&'a mut T`
/// for `&mut T`, and `Option` of those, where `'a` is the call, whatever
/// lifetime `U` names (an alias may hide a `&'static mut T`: the runtime
/// hands the body `&'a mut T`, and a body that needs it for longer does not
/// compile). Owned forms (`Box<T>`, `Arc<T>`, ...) and raw pointers are
/// themselves.
///
/// The trampolines require the body to accept `for<'a> UserDataAt<'a>::At`,
/// so the borrow it gets lasts for the call and no longer.
///
/// # Safety
/// As for [`UserDataParam`]: [`lend`](Self::lend) must be sound for every
/// pointer that `U::into_ptr` produced while the value it came from is
/// valid as the form requires, for the duration of `'a` (one call), and
/// for null when `NON_NULL` is false.
#[diagnostic::on_unimplemented(
    message = "a callback cannot receive its user data as `{Self}`",
    label = "not a user-data type",
    note = "user data is received as `&T`, `&mut T`, `Option<&T>`, `Option<&mut T>`, \
            `Box<T>`, `Option<Box<T>>`, `Arc<T>`, `Rc<T>` or a raw pointer, with `T: Sized`"
)]
#[allow(unreachable_pub)] // a supertrait of `UserDataParam`, used through it
pub unsafe trait UserDataAt<'a, Bound = ImpliedBound<&'a Self>> {
    /// What the body receives for a call lasting `'a`.
    type At;

    /// Converts the pointer the C library passed back, for one call.
    ///
    /// # Safety
    /// `ptr` is null (only when `NON_NULL` is false), or came from
    /// `into_ptr` of this type and stays valid as it requires for `'a`.
    unsafe fn lend(ptr: *mut c_void) -> Self::At;
}

/// A Rust type a callback can receive its user data as: `&T`, `&mut T`,
/// `Option<&T>`, `Option<&mut T>`, `Box<T>`, `Option<Box<T>>`, `Arc<T>`,
/// `Rc<T>`, or a raw pointer.
///
/// `into_ptr` makes the C-side pointer from a value of the type (the typed
/// constructor `callback_name::user_data(..)` calls it) and `from_ptr`
/// turns it back, so each form is paired with its own constructor.
///
/// # Safety
/// `from_ptr` must be sound for every pointer that `into_ptr` of the same
/// type produced, while the value it came from is valid as the form
/// requires (borrowed and otherwise unused, or owned and not yet taken
/// back), and for null when `NON_NULL` is false.
#[diagnostic::on_unimplemented(
    message = "a callback cannot receive its user data as `{Self}`",
    label = "not a user-data type",
    note = "user data is received as `&T`, `&mut T`, `Option<&T>`, `Option<&mut T>`, \
            `Box<T>`, `Option<Box<T>>`, `Arc<T>`, `Rc<T>` or a raw pointer, with `T: Sized`"
)]
pub unsafe trait UserDataParam: Sized + for<'a> UserDataAt<'a> {
    /// Null is refused rather than converted.
    const NON_NULL: bool;
    /// Mutable access: with `debug_assertions`, a re-entrant call with the
    /// same pointer and type is refused (it would make two live `&mut`).
    const EXCLUSIVE: bool;
    /// Owns what the pointer points to: a call that runs no user code still
    /// takes it back and drops it.
    const OWNED: bool;
    /// The pointee, for the re-entry check (which skips zero-sized ones).
    type Target;

    /// Converts the pointer the C library passed back.
    ///
    /// # Safety
    /// `ptr` is null (only when `NON_NULL` is false), or came from
    /// [`into_ptr`](Self::into_ptr) of this type and is still valid as it
    /// requires.
    unsafe fn from_ptr(ptr: *mut c_void) -> Self;

    /// The pointer to hand to C for `self`.
    fn into_ptr(self) -> *mut c_void;
}

// SAFETY: non-null and, by the caller's promise, pointing at a live `T`
// that nothing mutates while the callback runs.
unsafe impl<T> UserDataParam for &T {
    const NON_NULL: bool = true;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { &*ptr.cast::<T>() }
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::from_ref(self).cast_mut().cast()
    }
}

// SAFETY: as for the `UserDataParam` impl; the borrow is the call's.
unsafe impl<'a, T> UserDataAt<'a> for &T {
    type At = &'a T;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self::At {
        // SAFETY: by the caller's promise.
        unsafe { &*ptr.cast::<T>() }
    }
}

// SAFETY: non-null and, by the caller's promise, pointing at a live `T`
// that nothing else accesses while the callback runs.
unsafe impl<T> UserDataParam for &mut T {
    const NON_NULL: bool = true;
    const EXCLUSIVE: bool = true;
    const OWNED: bool = false;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { &mut *ptr.cast::<T>() }
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::from_mut(self).cast()
    }
}

// SAFETY: as for the `UserDataParam` impl; the borrow is the call's.
unsafe impl<'a, T> UserDataAt<'a> for &mut T {
    type At = &'a mut T;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self::At {
        // SAFETY: by the caller's promise.
        unsafe { &mut *ptr.cast::<T>() }
    }
}

// SAFETY: null becomes `None`; otherwise as for `&T`.
unsafe impl<T> UserDataParam for Option<&T> {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { ptr.cast::<T>().as_ref() }
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.map_or(ptr::null_mut(), UserDataParam::into_ptr)
    }
}

// SAFETY: as for the `UserDataParam` impl; the borrow is the call's.
unsafe impl<'a, T> UserDataAt<'a> for Option<&T> {
    type At = Option<&'a T>;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self::At {
        // SAFETY: by the caller's promise.
        unsafe { ptr.cast::<T>().as_ref() }
    }
}

// SAFETY: null becomes `None`; otherwise as for `&mut T`.
unsafe impl<T> UserDataParam for Option<&mut T> {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = true;
    const OWNED: bool = false;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { ptr.cast::<T>().as_mut() }
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.map_or(ptr::null_mut(), UserDataParam::into_ptr)
    }
}

// SAFETY: as for the `UserDataParam` impl; the borrow is the call's.
unsafe impl<'a, T> UserDataAt<'a> for Option<&mut T> {
    type At = Option<&'a mut T>;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self::At {
        // SAFETY: by the caller's promise.
        unsafe { ptr.cast::<T>().as_mut() }
    }
}

// SAFETY: non-null and, by the caller's promise, from `Box::into_raw`
// (`into_ptr`) and handed back exactly once.
unsafe impl<T> UserDataParam for Box<T> {
    const NON_NULL: bool = true;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = true;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { Box::from_raw(ptr.cast::<T>()) }
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        Box::into_raw(self).cast()
    }
}

// SAFETY: as for the `UserDataParam` impl (no borrow to shorten).
unsafe impl<T> UserDataAt<'_> for Box<T> {
    type At = Self;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self {
        // SAFETY: by the caller's promise.
        unsafe { <Self as UserDataParam>::from_ptr(ptr) }
    }
}

// SAFETY: null becomes `None`; otherwise as for `Box<T>`.
unsafe impl<T> UserDataParam for Option<Box<T>> {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = true;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        (!ptr.is_null()).then(|| unsafe { Box::from_raw(ptr.cast::<T>()) })
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.map_or(ptr::null_mut(), UserDataParam::into_ptr)
    }
}

// SAFETY: as for the `UserDataParam` impl (no borrow to shorten).
unsafe impl<T> UserDataAt<'_> for Option<Box<T>> {
    type At = Self;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self {
        // SAFETY: by the caller's promise.
        unsafe { <Self as UserDataParam>::from_ptr(ptr) }
    }
}

// SAFETY: non-null and, by the caller's promise, from `Arc::into_raw`
// (`into_ptr`), whose strong count C holds while it may call back: the call
// takes one more count for itself, so a callback that makes C drop its own
// count meanwhile (replacing itself) frees nothing under the call.
unsafe impl<T> UserDataParam for Arc<T> {
    const NON_NULL: bool = true;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        let ptr = ptr.cast_const().cast::<T>();
        // SAFETY: see the impl.
        unsafe {
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        Arc::into_raw(self).cast_mut().cast()
    }
}

// SAFETY: as for the `UserDataParam` impl (no borrow to shorten).
unsafe impl<T> UserDataAt<'_> for Arc<T> {
    type At = Self;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self {
        // SAFETY: by the caller's promise.
        unsafe { <Self as UserDataParam>::from_ptr(ptr) }
    }
}

// SAFETY: as for `Arc<T>`, on the one thread an `Rc` lives on (the caller's
// promise for a callback that receives an `Rc`).
unsafe impl<T> UserDataParam for Rc<T> {
    const NON_NULL: bool = true;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        let ptr = ptr.cast_const().cast::<T>();
        // SAFETY: see the impl.
        unsafe {
            Rc::increment_strong_count(ptr);
            Rc::from_raw(ptr)
        }
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        Rc::into_raw(self).cast_mut().cast()
    }
}

// SAFETY: as for the `UserDataParam` impl (no borrow to shorten).
unsafe impl<T> UserDataAt<'_> for Rc<T> {
    type At = Self;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self {
        // SAFETY: by the caller's promise.
        unsafe { <Self as UserDataParam>::from_ptr(ptr) }
    }
}

// SAFETY: a raw pointer is passed through; using it is the callback's own
// `unsafe` business.
unsafe impl<T> UserDataParam for *mut T {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.cast()
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.cast()
    }
}

// SAFETY: as for the `UserDataParam` impl (no borrow to shorten).
unsafe impl<T> UserDataAt<'_> for *mut T {
    type At = Self;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self {
        // SAFETY: by the caller's promise.
        unsafe { <Self as UserDataParam>::from_ptr(ptr) }
    }
}

// SAFETY: as for `*mut T`.
unsafe impl<T> UserDataParam for *const T {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    type Target = T;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.cast_const().cast()
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        self.cast_mut().cast()
    }
}

// SAFETY: as for the `UserDataParam` impl (no borrow to shorten).
unsafe impl<T> UserDataAt<'_> for *const T {
    type At = Self;
    #[inline(always)]
    unsafe fn lend(ptr: *mut c_void) -> Self {
        // SAFETY: by the caller's promise.
        unsafe { <Self as UserDataParam>::from_ptr(ptr) }
    }
}

// SAFETY: no user data: the pointer is ignored.
unsafe impl UserDataParam for () {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    type Target = ();
    #[inline(always)]
    unsafe fn from_ptr(_: *mut c_void) -> Self {}
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::null_mut()
    }
}

// SAFETY: no user data: the pointer is ignored.
unsafe impl UserDataAt<'_> for () {
    type At = ();
    #[inline(always)]
    unsafe fn lend(_: *mut c_void) {}
}

/// User data a `#[callback(send)]` fn may receive: C may call such a fn on
/// any thread, so what it receives must be usable on another thread than
/// the one that made it (`&T` shares `T`, `&mut T` and `Box<T>` move it,
/// `Arc<T>` does both). A raw pointer is passed through, as the user's own.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used on another thread, but C may call this `#[callback(send)]` fn on any thread",
    label = "received by a `send` fn",
    note = "`&T` user data needs `T: Sync`, `&mut T` and `Box<T>` need `T: Send`, `Arc<T>` both, \
            and an `Rc<T>` cannot cross threads; without `send`, C must call the fn on the \
            thread that made its user data"
)]
#[doc(hidden)]
pub trait SendUserData: UserDataParam {}

impl<T: Sync> SendUserData for &T {}
impl<T: Send> SendUserData for &mut T {}
impl<T: Sync> SendUserData for Option<&T> {}
impl<T: Send> SendUserData for Option<&mut T> {}
impl<T: Send> SendUserData for Box<T> {}
impl<T: Send> SendUserData for Option<Box<T>> {}
impl<T: Send + Sync> SendUserData for Arc<T> {}
impl<T> SendUserData for *mut T {}
impl<T> SendUserData for *const T {}
impl SendUserData for () {}

/// Checks, where a `#[callback(send)]` fn names its user data's type, that
/// it may be used on another thread. Does nothing.
#[doc(hidden)]
#[inline(always)]
pub fn check_send_fn_user_data<U: SendUserData>() {}

/// What `#[callback(user_data = EXPR)]` may return for a callback type or
/// a set: the raw user-data pointer, as C keeps it. The holder's (or the
/// state's box's) type depends on the closure, so no reference to it can
/// be named, and a lookup's `&T` cannot stand for it.
#[diagnostic::on_unimplemented(
    message = "`user_data = EXPR` gives `{Self}`, but a callback type's or set's accessor returns the raw user-data pointer",
    label = "the accessor's value",
    note = "return the pointer as C keeps it (`*mut c_void`, as `sqlite3_user_data(ctx)` does): \
            it points at the holder (or the set's state), whose type no code outside the \
            expansion can name; references from lookups are for `#[callback]` fns"
)]
#[doc(hidden)]
pub trait FetchedHolder {
    /// The pointer to the holder.
    fn into_holder_ptr(self) -> *mut c_void;
}

impl<T> FetchedHolder for *mut T {
    #[inline(always)]
    fn into_holder_ptr(self) -> *mut c_void {
        self.cast()
    }
}

impl<T> FetchedHolder for *const T {
    #[inline(always)]
    fn into_holder_ptr(self) -> *mut c_void {
        self.cast_mut().cast()
    }
}

/// What `#[callback(user_data = EXPR)]` may return for a callback that
/// receives its user data as `U`: a raw pointer (what C accessors such as
/// `sqlite3_user_data` return), or a `'static` reference from a Rust-side
/// lookup, matching the received form (`&'static T` or `Option<&'static T>`
/// for `&T`, `&'static mut T` or `Option<&'static mut T>` for `&mut T`,
/// ...). The body gets the reference back for the length of the call, long
/// after the accessor returned: a shorter borrow (a lock guard's, a
/// temporary's) would have ended by then, so it is not accepted.
#[diagnostic::on_unimplemented(
    message = "`user_data = EXPR` gives `{Self}`, which cannot stand for user data received as `{U}`",
    label = "the accessor's value",
    note = "the accessor returns a raw pointer (`*mut T`, `*const T`, as C accessors do) or a \
            `'static` reference from a lookup, in the received form: `&'static T` / \
            `Option<&'static T>` for `&T` or `Option<&T>`, `&'static mut T` / \
            `Option<&'static mut T>` for `&mut T` or `Option<&mut T>`; a borrow that ends \
            when the accessor returns (a lock guard's, a temporary's) cannot reach the body"
)]
pub trait FetchedUserData<U> {
    /// The pointer `U::from_ptr` turns back.
    fn into_user_data_ptr(self) -> *mut c_void;
}

impl<T, U> FetchedUserData<U> for *mut T {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        self.cast()
    }
}

impl<T, U> FetchedUserData<U> for *const T {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        self.cast_mut().cast()
    }
}

impl<T> FetchedUserData<&T> for &'static T {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        ptr::from_ref(self).cast_mut().cast()
    }
}

impl<T> FetchedUserData<Option<&T>> for &'static T {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        ptr::from_ref(self).cast_mut().cast()
    }
}

impl<T> FetchedUserData<&T> for Option<&'static T> {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        self.map_or(ptr::null_mut(), |r| ptr::from_ref(r).cast_mut().cast())
    }
}

impl<T> FetchedUserData<Option<&T>> for Option<&'static T> {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        self.map_or(ptr::null_mut(), |r| ptr::from_ref(r).cast_mut().cast())
    }
}

impl<T> FetchedUserData<&mut T> for &'static mut T {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        ptr::from_mut(self).cast()
    }
}

impl<T> FetchedUserData<Option<&mut T>> for &'static mut T {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        ptr::from_mut(self).cast()
    }
}

impl<T> FetchedUserData<&mut T> for Option<&'static mut T> {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        self.map_or(ptr::null_mut(), |r| ptr::from_mut(r).cast())
    }
}

impl<T> FetchedUserData<Option<&mut T>> for Option<&'static mut T> {
    #[inline(always)]
    fn into_user_data_ptr(self) -> *mut c_void {
        self.map_or(ptr::null_mut(), |r| ptr::from_mut(r).cast())
    }
}

/// The C-side user-data value for a callback that receives `&mut T` (or
/// `Option<&mut T>`, or a raw pointer). The slot type (`*mut c_void`,
/// `LPARAM`, ...) is inferred from the C function being called.
///
/// Prefer the typed constructor generated beside each `#[callback]` fn,
/// `callback_name::user_data(&mut x)`, which only accepts the type the
/// callback receives (for a generic fn, given the generic arguments of the
/// fn pointer handed to C); this untyped one is for fns in impl blocks.
///
/// `x` stays mutably borrowed only for this expression: keep it alive and
/// untouched until the C library stops calling back (that is part of the
/// `unsafe` C call's contract).
#[inline(always)]
pub fn user_data<S: UserDataSlot, T>(x: &mut T) -> S {
    S::from_ptr(ptr::from_mut(x).cast())
}

/// The C-side user-data value for a callback that receives `&T` (or
/// `Option<&T>`, or a `*const` pointer). Prefer the typed constructor
/// `callback_name::user_data(&x)`.
#[inline(always)]
pub fn user_data_ref<S: UserDataSlot, T>(x: &T) -> S {
    S::from_ptr(ptr::from_ref(x).cast_mut().cast())
}

/// The C-side user-data value for a callback that takes ownership back as
/// `Box<T>` (a destroy-notify, a thread start routine). If the C call fails
/// and will never call back, take the box back with [`reclaim_box`]. Prefer
/// the typed constructor `callback_name::user_data(Box::new(x))`.
#[inline(always)]
pub fn user_data_box<S: UserDataSlot, T>(x: Box<T>) -> S {
    S::from_ptr(Box::into_raw(x).cast())
}

/// Takes back the box handed out by [`user_data_box`] when the C library
/// will never pass it to the callback (the registration failed).
///
/// # Safety
/// `slot` came from `user_data_box::<_, T>` (or a typed constructor for a
/// `Box<T>` callback) and no callback has received it or will receive it.
#[inline]
pub unsafe fn reclaim_box<S: UserDataSlot, T>(slot: S) -> Box<T> {
    // SAFETY: by the caller's promise the pointer is an unclaimed
    // `Box::into_raw` of a `Box<T>`.
    unsafe { Box::from_raw(slot.into_ptr().cast::<T>()) }
}

/// Drops the strong count that C held through user data made for an
/// `Arc<T>` callback (`callback_name::user_data(arc)`), once C will not call
/// back with it again.
///
/// # Safety
/// `slot` came from a typed constructor for an `Arc<T>` callback, and its
/// count was not released before.
#[inline]
pub unsafe fn release_arc<S: UserDataSlot, T>(slot: S) {
    // SAFETY: by the caller's promise the pointer is an `Arc::into_raw`
    // whose count is still C's.
    drop(unsafe { Arc::from_raw(slot.into_ptr().cast_const().cast::<T>()) });
}

/// [`release_arc`] for an `Rc<T>` callback.
///
/// # Safety
/// As for [`release_arc`], on the thread the `Rc` belongs to.
#[inline]
pub unsafe fn release_rc<S: UserDataSlot, T>(slot: S) {
    // SAFETY: by the caller's promise the pointer is an `Rc::into_raw` whose
    // count is still C's.
    drop(unsafe { Rc::from_raw(slot.into_ptr().cast_const().cast::<T>()) });
}

/// The counted user-data types, `Arc<T>` and `Rc<T>`: a typed constructor's
/// `release` drops C's count through this trait, chosen by the type the
/// callback receives (not by its name: `use std::sync::Arc as Rc` still
/// releases an `Arc`). Not a public API.
///
/// # Safety
/// `release` drops exactly the count that [`UserDataParam::into_ptr`] of
/// `Self` handed to C.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an `Arc<T>` or an `Rc<T>`: `release` has no count to drop",
    label = "not `std::sync::Arc<T>` or `std::rc::Rc<T>`",
    note = "a callback offers `release` when its user data is received as an `Arc<T>` or an \
            `Rc<T>`: a type named `Arc` or `Rc` must be one of them"
)]
pub unsafe trait CountedUserData: UserDataParam {
    /// Drops the count that C held.
    ///
    /// # Safety
    /// `ptr` came from `into_ptr` of this type, and its count was not
    /// released before (for an `Rc`: on the thread the `Rc` belongs to).
    unsafe fn release(ptr: *mut c_void);
}

/// User data received as a `Box<T>`: what a `#[callback]` fn's `reclaim`
/// takes back when C refused it (the C call that was to take it failed).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Box<T>`: `reclaim` has no box to take back",
    label = "not `std::boxed::Box<T>`",
    note = "a callback offers `reclaim` when its user data is received as a `Box<T>`: a type \
            named `Box` must be one"
)]
pub unsafe trait BoxedUserData: UserDataParam {
    /// The box that `into_ptr` handed to C.
    ///
    /// # Safety
    /// `ptr` came from `into_ptr` of this type, and neither C nor anyone
    /// else took it back or will use it.
    unsafe fn reclaim(ptr: *mut c_void) -> Self;
}

// SAFETY: `into_ptr` of a `Box<T>` is `Box::into_raw`, taken back once.
unsafe impl<T> BoxedUserData for Box<T> {
    #[inline]
    unsafe fn reclaim(ptr: *mut c_void) -> Box<T> {
        // SAFETY: by the caller's promise, a `Box::into_raw` of a `Box<T>`
        // that no one else takes back.
        unsafe { Box::from_raw(ptr.cast::<T>()) }
    }
}

// SAFETY: `into_ptr` of an `Arc<T>` is `Arc::into_raw`, and `release_arc`
// drops that count.
unsafe impl<T> CountedUserData for Arc<T> {
    #[inline]
    unsafe fn release(ptr: *mut c_void) {
        // SAFETY: by the caller's promise `ptr` is an `Arc::into_raw` of an
        // `Arc<T>` whose count is still C's.
        unsafe { release_arc::<*mut c_void, T>(ptr) }
    }
}

// SAFETY: `into_ptr` of an `Rc<T>` is `Rc::into_raw`, and `release_rc`
// drops that count.
unsafe impl<T> CountedUserData for Rc<T> {
    #[inline]
    unsafe fn release(ptr: *mut c_void) {
        // SAFETY: by the caller's promise `ptr` is an `Rc::into_raw` of an
        // `Rc<T>` whose count is still C's (on the thread it belongs to).
        unsafe { release_rc::<*mut c_void, T>(ptr) }
    }
}
