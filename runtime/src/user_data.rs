//! User data: the C-side slot that carries it (`void*`, `LPARAM`, ...) and
//! the Rust-side types a callback receives it as (`&T`, `&mut T`, `Box<T>`...).

use std::ffi::c_void;
use std::ptr;

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
// the provenance is exposed on the way in and picked up on the way out.
unsafe impl UserDataSlot for usize {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance()
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::with_exposed_provenance_mut(self)
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the provenance is exposed on the way in and picked up on the way out.
unsafe impl UserDataSlot for isize {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance() as isize
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::with_exposed_provenance_mut(self as usize)
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the provenance is exposed on the way in and picked up on the way out.
#[cfg(target_pointer_width = "64")]
unsafe impl UserDataSlot for u64 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance() as u64
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::with_exposed_provenance_mut(self as usize)
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the provenance is exposed on the way in and picked up on the way out.
#[cfg(target_pointer_width = "64")]
unsafe impl UserDataSlot for i64 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance() as i64
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::with_exposed_provenance_mut(self as usize)
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the provenance is exposed on the way in and picked up on the way out.
#[cfg(target_pointer_width = "32")]
unsafe impl UserDataSlot for u32 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance() as u32
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::with_exposed_provenance_mut(self as usize)
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the provenance is exposed on the way in and picked up on the way out.
#[cfg(target_pointer_width = "32")]
unsafe impl UserDataSlot for i32 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance() as i32
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::with_exposed_provenance_mut(self as usize)
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the provenance is exposed on the way in and picked up on the way out.
#[cfg(target_pointer_width = "16")]
unsafe impl UserDataSlot for u16 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance() as u16
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::with_exposed_provenance_mut(self as usize)
    }
}

// SAFETY: the integer is exactly pointer-sized, so the address round-trips;
// the provenance is exposed on the way in and picked up on the way out.
#[cfg(target_pointer_width = "16")]
unsafe impl UserDataSlot for i16 {
    #[inline(always)]
    fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.expose_provenance() as i16
    }
    #[inline(always)]
    fn into_ptr(self) -> *mut c_void {
        ptr::with_exposed_provenance_mut(self as usize)
    }
}

/// A Rust type a callback can receive its user data as: `&T`, `&mut T`,
/// `Option<&T>`, `Option<&mut T>`, `Box<T>`, `Option<Box<T>>`, or a raw
/// pointer.
///
/// # Safety
/// `from_ptr` must be sound for every pointer that the matching constructor
/// ([`user_data`], [`user_data_ref`], [`user_data_box`]) produced, and for
/// null when `NON_NULL` is false.
#[diagnostic::on_unimplemented(
    message = "a callback cannot receive its user data as `{Self}`",
    label = "not a user-data type",
    note = "user data is received as `&T`, `&mut T`, `Option<&T>`, `Option<&mut T>`, \
            `Box<T>`, `Option<Box<T>>` or a raw pointer, with `T: Sized`"
)]
pub unsafe trait UserDataParam: Sized {
    /// Null is refused rather than converted.
    const NON_NULL: bool;
    /// Mutable access: with `debug_assertions`, a re-entrant call with the
    /// same pointer is refused (it would make two live `&mut`).
    const EXCLUSIVE: bool;
    /// Owns what the pointer points to: a call that runs no user code still
    /// takes it back and drops it.
    const OWNED: bool;

    /// Converts the pointer the C library passed back.
    ///
    /// # Safety
    /// `ptr` is null (only when `NON_NULL` is false), or came from the
    /// matching constructor for this type and is still valid as it requires.
    unsafe fn from_ptr(ptr: *mut c_void) -> Self;
}

// SAFETY: non-null and, by the caller's promise, pointing at a live `T`
// that nothing mutates while the callback runs.
unsafe impl<T> UserDataParam for &T {
    const NON_NULL: bool = true;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { &*ptr.cast::<T>() }
    }
}

// SAFETY: non-null and, by the caller's promise, pointing at a live `T`
// that nothing else accesses while the callback runs.
unsafe impl<T> UserDataParam for &mut T {
    const NON_NULL: bool = true;
    const EXCLUSIVE: bool = true;
    const OWNED: bool = false;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { &mut *ptr.cast::<T>() }
    }
}

// SAFETY: null becomes `None`; otherwise as for `&T`.
unsafe impl<T> UserDataParam for Option<&T> {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { ptr.cast::<T>().as_ref() }
    }
}

// SAFETY: null becomes `None`; otherwise as for `&mut T`.
unsafe impl<T> UserDataParam for Option<&mut T> {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = true;
    const OWNED: bool = false;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { ptr.cast::<T>().as_mut() }
    }
}

// SAFETY: non-null and, by the caller's promise, from `user_data_box`
// and handed back exactly once.
unsafe impl<T> UserDataParam for Box<T> {
    const NON_NULL: bool = true;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = true;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        unsafe { Box::from_raw(ptr.cast::<T>()) }
    }
}

// SAFETY: null becomes `None`; otherwise as for `Box<T>`.
unsafe impl<T> UserDataParam for Option<Box<T>> {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = true;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        // SAFETY: see the impl.
        (!ptr.is_null()).then(|| unsafe { Box::from_raw(ptr.cast::<T>()) })
    }
}

// SAFETY: a raw pointer is passed through; using it is the callback's own
// `unsafe` business.
unsafe impl<T> UserDataParam for *mut T {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.cast()
    }
}

// SAFETY: as for `*mut T`.
unsafe impl<T> UserDataParam for *const T {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    #[inline(always)]
    unsafe fn from_ptr(ptr: *mut c_void) -> Self {
        ptr.cast_const().cast()
    }
}

// SAFETY: no user data: the pointer is ignored.
unsafe impl UserDataParam for () {
    const NON_NULL: bool = false;
    const EXCLUSIVE: bool = false;
    const OWNED: bool = false;
    #[inline(always)]
    unsafe fn from_ptr(_: *mut c_void) -> Self {}
}

/// The C-side user-data value for a callback that receives `&mut T` (or
/// `Option<&mut T>`, or a raw pointer). The slot type (`*mut c_void`,
/// `LPARAM`, ...) is inferred from the C function being called.
///
/// `x` stays mutably borrowed only for this expression: keep it alive and
/// untouched until the C library stops calling back (that is part of the
/// `unsafe` C call's contract).
#[inline(always)]
pub fn user_data<S: UserDataSlot, T>(x: &mut T) -> S {
    S::from_ptr(ptr::from_mut(x).cast())
}

/// The C-side user-data value for a callback that receives `&T` (or
/// `Option<&T>`, or a `*const` pointer).
#[inline(always)]
pub fn user_data_ref<S: UserDataSlot, T>(x: &T) -> S {
    S::from_ptr(ptr::from_ref(x).cast_mut().cast())
}

/// The C-side user-data value for a callback that takes ownership back as
/// `Box<T>` (a destroy-notify, a thread start routine). If the C call fails
/// and will never call back, take the box back with [`reclaim_box`].
#[inline(always)]
pub fn user_data_box<S: UserDataSlot, T>(x: Box<T>) -> S {
    S::from_ptr(Box::into_raw(x).cast())
}

/// Takes back the box handed out by [`user_data_box`] when the C library
/// will never pass it to the callback (the registration failed).
///
/// # Safety
/// `slot` came from `user_data_box::<_, T>` and no callback has received it
/// or will receive it.
#[inline]
pub unsafe fn reclaim_box<S: UserDataSlot, T>(slot: S) -> Box<T> {
    // SAFETY: by the caller's promise the pointer is an unclaimed
    // `Box::into_raw` of a `Box<T>`.
    unsafe { Box::from_raw(slot.into_ptr().cast::<T>()) }
}
