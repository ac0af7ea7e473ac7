//! Conversions of C arguments for a callback type's closures, a set's
//! methods and a `#[callback]` fn's body: a parameter marked
//! `#[into(Type)]` reaches them as `Type`, made
//! with `Type::try_from` (every `From` gives one, whose error cannot happen
//! and costs nothing). A failed conversion is refused like any other call
//! the crate cannot make, naming the parameter; it happens inside the call,
//! so a panicking `try_from` is the closure's panic (as is a panic of its
//! error's `Debug`, which the refusal prints, or `Drop`).
//!
//! A reference type (`#[into(&CStr)]`, `#[into(&T)]`, `#[into(&mut T)]`, or
//! an `Option` of one) borrows what C's pointer points at, for the call
//! only: [`BorrowParam`]; `#[into(&str)]` borrows a C string that must be
//! UTF-8: [`BorrowStr`], whose check reads the string (and refuses one that
//! is not UTF-8 as it refuses null). Null is refused (or `None`), since C
//! libraries pass it where their headers allow; the rest (a live, valid,
//! aligned `T`, a NUL-terminated string) is C's contract, which the
//! callback's `unsafe` fn type states. (A debug build's own check of
//! `&*ptr` still aborts on a misaligned pointer, the sign of a mis-declared
//! `T`.)
//! The trampoline checks before it calls into the holder, so a refusal is
//! a cold call outside it ([`refuse_borrow`]): the call never starts, the
//! holder is not poisoned, and the fast path has no unwind edge to keep
//! registers for. (A once-holder's call, a set's destroy entry and a fn,
//! which free what they are handed, check inside the call instead:
//! [`BorrowParam::borrow_checked`].)
//!
//! C may pass one buffer for two parameters (input and output of an
//! in-place filter). Where one of them is borrowed as `&mut`, that would
//! alias it, so the call first checks their bytes apart
//! ([`check_disjoint`]) and refuses otherwise.

use std::any::type_name;
use std::ffi::CStr;
use std::fmt::Debug;
use std::mem::size_of;
use std::ptr::NonNull;

use crate::panic::{Site, refuse, refuse_under};
use crate::policy::Policy;

/// A C argument that converts into `T`, the type a closure receives for a
/// parameter marked `#[into(T)]`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[into({T})]`: a `{T}` cannot be made from the C parameter's `{Self}`",
    label = "`{T}` has no `From<{Self}>` or `TryFrom<{Self}>` with a `Debug` error",
    note = "`#[into(T)]` converts the C argument with `T::try_from`: implement `From<{Self}>` \
            for `{T}` (or `TryFrom<{Self}>`, whose `Debug` error a refused call prints), or \
            receive the C type and convert in the closure or method; to borrow what a C pointer \
            points at, write a reference (`#[into(&CStr)]`, `#[into(&T)]`)"
)]
pub trait IntoParam<T>: Sized {
    /// `T::try_from(self)`, or a refusal naming `param` of the callback at
    /// `site`.
    fn into_param(self, site: &'static Site, param: &'static str) -> T;
}

#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<C, T> IntoParam<T> for C
where
    T: TryFrom<C>,
    T::Error: Debug,
{
    #[inline(always)]
    fn into_param(self, site: &'static Site, param: &'static str) -> T {
        match T::try_from(self) {
            Ok(value) => value,
            Err(error) => conversion_failed(site, param, type_name::<T>(), error),
        }
    }
}

/// Refuses a failed conversion. The error's `Debug` and `Drop` are user
/// code: they run here, before the refusal is raised, so that a panic of
/// either is the call's, as a panicking `try_from` is. (Formatted by the
/// panic machinery, a panicking `Debug` would abort the process, a panic
/// while processing a panic, without naming the callback; dropped while
/// the refusal unwinds, a panicking `Drop` would abort too.)
#[cold]
#[inline(never)]
fn conversion_failed<E: Debug>(site: &'static Site, param: &str, target: &str, error: E) -> ! {
    let error_text = format!("{error:?}");
    drop(error);
    refuse_conversion(site, param, target, &error_text)
}

#[cold]
#[inline(never)]
fn refuse_conversion(site: &'static Site, param: &str, target: &str, error: &str) -> ! {
    refuse(
        site,
        format_args!("its parameter {param} does not convert into `{target}`: {error}"),
    )
}

/// A C pointer argument that a closure may borrow for one call as `T`:
/// `&T` (from any `*const U` or `*mut U`: the declaration says what C's
/// pointer points at, as a cast would), `&mut T` (from a `*mut U`), `&CStr`,
/// or an `Option` of one, `None` for null.
///
/// # Safety
/// [`borrow`](Self::borrow) returns, for a pointer that passed
/// [`check`](Self::check) and meets `borrow`'s contract, a `T` valid for as
/// long as that contract holds.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[into({T})]` cannot borrow from the C parameter's `{Self}`",
    label = "`{Self}` cannot be borrowed as `{T}`",
    note = "a reference in `#[into(..)]` borrows what a C pointer points at: `&T` or `&CStr` from \
            a `*const` or `*mut` pointer, `&mut T` from a `*mut` one, or an `Option` of one \
            (`None` for null); `&str` is written `&str` (the macro checks its UTF-8 by that \
            name, not through an alias)"
)]
pub unsafe trait BorrowParam<T>: Copy {
    /// What the trampoline checks before the call: not null, unless `T` is
    /// an `Option`.
    fn check(self) -> Result<(), Unborrowable>;

    /// The borrow.
    ///
    /// # Safety
    /// [`check`](Self::check) passed, and `self` is null or points at what
    /// `T` borrows: a valid, initialised referent (for `&CStr`, a
    /// NUL-terminated string), that nothing changes (for `&mut`, nothing
    /// else reads or writes) and that stays alive for as long as the caller
    /// uses the result. A trampoline hands it to the closure for one call
    /// only: the closure's bound is higher-ranked, so the borrow cannot
    /// leave the call.
    unsafe fn borrow(self) -> T;

    /// The bytes [`borrow`](Self::borrow) would borrow (none for null),
    /// for [`check_disjoint`].
    ///
    /// # Safety
    /// `self` is null or meets `borrow`'s contract (for `&CStr`, this
    /// reads the string for its length).
    unsafe fn extent(self) -> Extent;

    /// [`check`](Self::check) and [`borrow`](Self::borrow) inside the
    /// call, refusing by panicking: for a once-closure's call and a set's
    /// destroy entry, which free what they call, so that a refusal drops
    /// it instead of leaking it.
    ///
    /// # Safety
    /// As for [`borrow`](Self::borrow), but for `check`.
    #[inline(always)]
    unsafe fn borrow_checked(self, site: &'static Site, param: &'static str) -> T {
        if let Err(why) = self.check() {
            refuse_unborrowable(site, param, why);
        }
        // SAFETY: checked; the rest by the caller's promise.
        unsafe { self.borrow() }
    }
}

/// A C pointer that cannot be borrowed (null, or a string that is not
/// UTF-8), and what it would have been borrowed as, for the message. Two
/// words, passed in registers to the cold refusal.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Unborrowable {
    target: fn() -> &'static str,
    /// 0 for null; `n + 1` for bytes that are not UTF-8, valid up to byte
    /// `n` (at most `isize::MAX`, so no overflow).
    reason: usize,
}

impl Unborrowable {
    /// A null pointer, to be borrowed as `B`.
    #[inline(always)]
    fn null<B>() -> Self {
        Unborrowable {
            target: type_name::<B>,
            reason: 0,
        }
    }

    /// Bytes that are not UTF-8 from `valid_up_to` on, to be borrowed as
    /// `B`.
    #[inline(always)]
    fn not_utf8<B>(valid_up_to: usize) -> Self {
        Unborrowable {
            target: type_name::<B>,
            reason: valid_up_to + 1,
        }
    }
}

/// A C pointer, `*const U` or `*mut U`, as an address to borrow from
/// (sealed: these two only).
#[doc(hidden)]
pub trait CPointer: Copy + sealed::Sealed {
    /// The address it holds.
    fn address(self) -> *mut u8;
}

mod sealed {
    pub trait Sealed {}
    impl<U> Sealed for *const U {}
    impl<U> Sealed for *mut U {}
}

impl<U> CPointer for *const U {
    #[inline(always)]
    fn address(self) -> *mut u8 {
        self.cast::<u8>().cast_mut()
    }
}

impl<U> CPointer for *mut U {
    #[inline(always)]
    fn address(self) -> *mut u8 {
        self.cast()
    }
}

/// Refuses a null `ptr`, to be borrowed as `B`.
#[inline(always)]
fn non_null<B>(ptr: *mut u8) -> Result<(), Unborrowable> {
    if ptr.is_null() {
        return Err(Unborrowable::null::<B>());
    }
    Ok(())
}

// SAFETY: `borrow` gives `None` for null; the caller promises the rest of
// a valid `&T` for `'a`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: CPointer, T> BorrowParam<Option<&'a T>> for P {
    #[inline(always)]
    fn check(self) -> Result<(), Unborrowable> {
        Ok(())
    }
    #[inline(always)]
    unsafe fn borrow(self) -> Option<&'a T> {
        // SAFETY: null, or aligned, valid, unchanged and alive for `'a` by
        // the caller's promise.
        unsafe { self.address().cast::<T>().as_ref() }
    }
    #[inline(always)]
    unsafe fn extent(self) -> Extent {
        Extent::of::<T>(self.address(), 1)
    }
}

// SAFETY: as for `Option<&T>`, with null refused by `check`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: CPointer, T> BorrowParam<&'a T> for P {
    #[inline(always)]
    fn check(self) -> Result<(), Unborrowable> {
        non_null::<&T>(self.address())
    }
    #[inline(always)]
    unsafe fn borrow(self) -> &'a T {
        // SAFETY: non-null (`check`); aligned, valid, unchanged and alive
        // for `'a` by the caller's promise.
        unsafe { &*self.address().cast::<T>() }
    }
    #[inline(always)]
    unsafe fn extent(self) -> Extent {
        Extent::of::<T>(self.address(), 1)
    }
}

// SAFETY: as for `Option<&T>`, for a `&mut T`: the caller promises that
// nothing else accesses the referent for `'a`. Only from `*mut`: a
// `*const` parameter is C's promise not to be written through.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, U, T> BorrowParam<Option<&'a mut T>> for *mut U {
    #[inline(always)]
    fn check(self) -> Result<(), Unborrowable> {
        Ok(())
    }
    #[inline(always)]
    unsafe fn borrow(self) -> Option<&'a mut T> {
        // SAFETY: null, or aligned, valid, not otherwise accessed and alive
        // for `'a` by the caller's promise.
        unsafe { self.cast::<T>().as_mut() }
    }
    #[inline(always)]
    unsafe fn extent(self) -> Extent {
        Extent::of::<T>(self.cast(), 1)
    }
}

// SAFETY: as for `Option<&mut T>`, with null refused by `check`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, U, T> BorrowParam<&'a mut T> for *mut U {
    #[inline(always)]
    fn check(self) -> Result<(), Unborrowable> {
        non_null::<&mut T>(self.address())
    }
    #[inline(always)]
    unsafe fn borrow(self) -> &'a mut T {
        // SAFETY: non-null (`check`); aligned, valid, not otherwise accessed
        // and alive for `'a` by the caller's promise.
        unsafe { &mut *self.cast::<T>() }
    }
    #[inline(always)]
    unsafe fn extent(self) -> Extent {
        Extent::of::<T>(self.cast(), 1)
    }
}

// SAFETY: null gives `None`; `CStr::from_ptr` needs a NUL-terminated string
// (any address is aligned for bytes), valid, unchanged and alive for `'a`,
// which the caller promises.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: CPointer> BorrowParam<Option<&'a CStr>> for P {
    #[inline(always)]
    fn check(self) -> Result<(), Unborrowable> {
        Ok(())
    }
    #[inline(always)]
    unsafe fn borrow(self) -> Option<&'a CStr> {
        let ptr = self.address();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: non-null; the rest by the caller's promise.
        Some(unsafe { CStr::from_ptr(ptr.cast_const().cast()) })
    }
    #[inline(always)]
    unsafe fn extent(self) -> Extent {
        // SAFETY: the caller's promise, as for `borrow`.
        unsafe { c_string_extent(self.address()) }
    }
}

// SAFETY: as for `Option<&CStr>`, with null refused by `check`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: CPointer> BorrowParam<&'a CStr> for P {
    #[inline(always)]
    fn check(self) -> Result<(), Unborrowable> {
        non_null::<&CStr>(self.address())
    }
    #[inline(always)]
    unsafe fn borrow(self) -> &'a CStr {
        // SAFETY: non-null (`check`); the rest by the caller's promise.
        unsafe { CStr::from_ptr(self.address().cast_const().cast()) }
    }
    #[inline(always)]
    unsafe fn extent(self) -> Extent {
        // SAFETY: the caller's promise, as for `borrow`.
        unsafe { c_string_extent(self.address()) }
    }
}

/// A C pointer to bytes that a closure may borrow for one call as `&str`
/// (`#[into(&str)]`), or `Option<&str>`, `None` for null: a NUL-terminated
/// string that must be UTF-8. Unlike [`BorrowParam::check`], whose safe
/// check only looks at the address, [`check`](Self::check) reads the
/// string, to refuse one that is not UTF-8 before the call reaches the
/// holder; so it is `unsafe`, on C's contract. The trampoline borrows it
/// with [`borrow_checked`](Self::borrow_checked), which checks again:
/// user code runs between the two (another parameter's `TryFrom`, a `len`
/// expression) and could change the bytes. (`&mut str` is not offered: C
/// writing through it could leave bytes that are not UTF-8.)
///
/// # Safety
/// [`borrow`](Self::borrow) returns, for a pointer that passed
/// [`check`](Self::check) and meets `borrow`'s contract, a `T` valid for as
/// long as that contract holds.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[into({T})]` cannot borrow a string from the C parameter's `{Self}`",
    label = "`{Self}` is not a pointer to bytes",
    note = "`&str` borrows a NUL-terminated UTF-8 string (with `len = EXPR`, that many bytes) \
            from a pointer to bytes: `*const c_char`, `*const u8`, `*const i8` or `*const \
            c_void` (or `*mut`); for strings of wider characters (`wchar_t *`, UTF-16), \
            receive the C pointer"
)]
pub unsafe trait BorrowStr<T>: Copy {
    /// What the trampoline checks before the call: not null (unless `T` is
    /// an `Option`), and UTF-8.
    ///
    /// # Safety
    /// `self` is null or points at a NUL-terminated string, valid for
    /// reads.
    unsafe fn check(self) -> Result<(), Unborrowable>;

    /// The borrow.
    ///
    /// # Safety
    /// [`check`](Self::check) returned `Ok` for `self`, and the string it
    /// read stays unchanged and alive for as long as the caller uses the
    /// result (a trampoline hands it to the closure for one call only, as
    /// for [`BorrowParam::borrow`]).
    unsafe fn borrow(self) -> T;

    /// The bytes [`borrow`](Self::borrow) would borrow, its NUL included
    /// (none for null), for [`check_disjoint`].
    ///
    /// # Safety
    /// As for [`check`](Self::check).
    unsafe fn extent(self) -> Extent;

    /// [`check`](Self::check) and [`borrow`](Self::borrow) inside the
    /// call, refusing by panicking, as [`BorrowParam::borrow_checked`].
    ///
    /// # Safety
    /// As for [`check`](Self::check) and [`borrow`](Self::borrow), but for
    /// `check` having passed.
    #[inline(always)]
    unsafe fn borrow_checked(self, site: &'static Site, param: &'static str) -> T {
        // SAFETY: the caller's promise, as for `check`.
        if let Err(why) = unsafe { self.check() } {
            refuse_unborrowable(site, param, why);
        }
        // SAFETY: checked; the rest by the caller's promise.
        unsafe { self.borrow() }
    }
}

/// A C pointer to bytes (`*const c_char`, `*const u8`, `*const i8`,
/// `*const c_void`, or `*mut` of one), from which a string is borrowed
/// (sealed: these only).
#[doc(hidden)]
pub trait BytePointer: CPointer + bytes_sealed::Sealed {}

mod bytes_sealed {
    use std::ffi::c_void;

    pub trait Sealed {}
    impl Sealed for *const u8 {}
    impl Sealed for *mut u8 {}
    impl Sealed for *const i8 {}
    impl Sealed for *mut i8 {}
    impl Sealed for *const c_void {}
    impl Sealed for *mut c_void {}
}

impl<P: CPointer + bytes_sealed::Sealed> BytePointer for P {}

/// The NUL-terminated string at `ptr` as a `&str`, or why it cannot be one
/// (to be borrowed as `B`); `Ok(None)` for null.
///
/// # Safety
/// `ptr` is null or points at a NUL-terminated string, valid for reads,
/// unchanged and alive for `'a`.
#[inline(always)]
unsafe fn c_str_utf8<'a, B>(ptr: *mut u8) -> Result<Option<&'a str>, Unborrowable> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null; the rest by the caller's promise.
    let bytes = unsafe { CStr::from_ptr(ptr.cast_const().cast()) }.to_bytes();
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(error) => Err(Unborrowable::not_utf8::<B>(error.valid_up_to())),
    }
}

/// The string at `ptr` that [`c_str_utf8`] found UTF-8 (`""` for null,
/// which a caller has refused or made `None`).
///
/// # Safety
/// `ptr` is null or points at a NUL-terminated string that is UTF-8,
/// unchanged and alive for `'a`.
#[inline(always)]
unsafe fn c_str_utf8_unchecked<'a>(ptr: *mut u8) -> &'a str {
    if ptr.is_null() {
        return "";
    }
    // SAFETY: non-null; NUL-terminated and alive by the caller's promise.
    let bytes = unsafe { CStr::from_ptr(ptr.cast_const().cast()) }.to_bytes();
    // SAFETY: UTF-8 by the caller's promise.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

// SAFETY: `check` refuses null and bytes that are not UTF-8; `borrow`'s
// contract is that it passed on the same, unchanged, NUL-terminated string,
// alive for `'a`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: BytePointer> BorrowStr<&'a str> for P {
    #[inline(always)]
    unsafe fn check(self) -> Result<(), Unborrowable> {
        non_null::<&str>(self.address())?;
        // SAFETY: non-null, and a NUL-terminated string by the caller's
        // promise; the result is dropped here.
        unsafe { c_str_utf8::<&str>(self.address()) }.map(drop)
    }
    #[inline(always)]
    unsafe fn borrow(self) -> &'a str {
        // SAFETY: non-null and UTF-8 (`check`); the rest by the caller's
        // promise.
        unsafe { c_str_utf8_unchecked(self.address()) }
    }
    #[inline(always)]
    unsafe fn extent(self) -> Extent {
        // SAFETY: the caller's promise, as for `check`.
        unsafe { c_string_extent(self.address()) }
    }
}

// SAFETY: as for `&str`, with `None` for null.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: BytePointer> BorrowStr<Option<&'a str>> for P {
    #[inline(always)]
    unsafe fn check(self) -> Result<(), Unborrowable> {
        // SAFETY: the caller's promise; the result is dropped here.
        unsafe { c_str_utf8::<Option<&str>>(self.address()) }.map(drop)
    }
    #[inline(always)]
    unsafe fn borrow(self) -> Option<&'a str> {
        let ptr = self.address();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: non-null, UTF-8 (`check`); the rest by the caller's
        // promise.
        Some(unsafe { c_str_utf8_unchecked(ptr) })
    }
    #[inline(always)]
    unsafe fn extent(self) -> Extent {
        // SAFETY: the caller's promise, as for `check`.
        unsafe { c_string_extent(self.address()) }
    }
}

/// A C pointer that a closure may borrow for one call as a slice of `len`
/// elements (`#[into(&[T], len = EXPR)]`): `&[T]` from any `*const U` or
/// `*mut U`, `&mut [T]` from a `*mut U`, or an `Option` of one, `None` for
/// null. A null pointer with a length of 0 is an empty slice (C passes
/// `NULL, 0` for "nothing").
///
/// # Safety
/// [`borrow_slice`](Self::borrow_slice) returns, for a pointer that meets
/// its contract, a `T` valid for as long as that contract holds, and
/// refuses (by panicking) what it can tell is not: null with a non-zero
/// length, or a length no slice can have.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[into({T}, len = ..)]` cannot borrow from the C parameter's `{Self}`",
    label = "`{Self}` cannot be borrowed as `{T}`",
    note = "a slice in `#[into(..)]` borrows `len` elements from a C pointer: `&[T]` from a \
            `*const` or `*mut` pointer, `&mut [T]` from a `*mut` one, or an `Option` of one \
            (`None` for null)"
)]
pub unsafe trait BorrowSlice<T>: Copy {
    /// The slice, or a refusal naming `param` of the callback at `site`.
    ///
    /// # Safety
    /// `self` is null, or points at `len` valid, initialised, aligned
    /// elements that nothing changes (for `&mut`, nothing else reads or
    /// writes) and that stay alive for as long as the caller uses the
    /// result; a trampoline hands it to the closure for one call.
    unsafe fn borrow_slice(self, len: usize, site: &'static Site, param: &'static str) -> T;

    /// The bytes [`borrow_slice`](Self::borrow_slice) would borrow for
    /// `len` elements (none for null), for [`check_disjoint`].
    fn extent(self, len: usize) -> Extent;
}

/// The start of a slice of `len` `E`s at `ptr`, `None` for null; refuses a
/// length longer than a slice can be. `B` is what it is borrowed as.
#[inline(always)]
fn slice_start<E, B>(
    ptr: *mut u8,
    len: usize,
    site: &'static Site,
    param: &'static str,
) -> Option<*mut E> {
    if len > isize::MAX as usize / size_of::<E>().max(1) {
        refuse_too_long(site, param, len, type_name::<B>());
    }
    (!ptr.is_null()).then(|| ptr.cast())
}

/// [`slice_start`] for a slice that is not an `Option`: null is an empty
/// slice's dangling start for a length of 0, refused otherwise.
#[inline(always)]
fn non_null_start<E, B>(
    ptr: *mut u8,
    len: usize,
    site: &'static Site,
    param: &'static str,
) -> *mut E {
    match slice_start::<E, B>(ptr, len, site, param) {
        Some(start) => start,
        None if len == 0 => NonNull::dangling().as_ptr(),
        None => refuse_unborrowable(site, param, Unborrowable::null::<B>()),
    }
}

// SAFETY: `non_null_start` refuses what no slice can be (null with
// elements, a length past `isize::MAX` bytes) and gives a dangling, aligned
// start for an empty one; the caller promises the `len` elements for `'a`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: CPointer, T> BorrowSlice<&'a [T]> for P {
    #[inline(always)]
    unsafe fn borrow_slice(self, len: usize, site: &'static Site, param: &'static str) -> &'a [T] {
        let start = non_null_start::<T, &[T]>(self.address(), len, site, param);
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(start, len) }
    }
    #[inline(always)]
    fn extent(self, len: usize) -> Extent {
        Extent::of::<T>(self.address(), len)
    }
}

// SAFETY: as for `&[T]`, with `None` for null.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: CPointer, T> BorrowSlice<Option<&'a [T]>> for P {
    #[inline(always)]
    unsafe fn borrow_slice(
        self,
        len: usize,
        site: &'static Site,
        param: &'static str,
    ) -> Option<&'a [T]> {
        let start = slice_start::<T, Option<&[T]>>(self.address(), len, site, param)?;
        // SAFETY: as for `&[T]`.
        Some(unsafe { std::slice::from_raw_parts(start, len) })
    }
    #[inline(always)]
    fn extent(self, len: usize) -> Extent {
        Extent::of::<T>(self.address(), len)
    }
}

// SAFETY: as for `&[T]`, for `&mut [T]`: the caller promises that nothing
// else accesses the elements for `'a`. Only from `*mut`.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, U, T> BorrowSlice<&'a mut [T]> for *mut U {
    #[inline(always)]
    unsafe fn borrow_slice(
        self,
        len: usize,
        site: &'static Site,
        param: &'static str,
    ) -> &'a mut [T] {
        let start = non_null_start::<T, &mut [T]>(self.cast(), len, site, param);
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(start, len) }
    }
    #[inline(always)]
    fn extent(self, len: usize) -> Extent {
        Extent::of::<T>(self.cast(), len)
    }
}

// SAFETY: as for `&mut [T]`, with `None` for null.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, U, T> BorrowSlice<Option<&'a mut [T]>> for *mut U {
    #[inline(always)]
    unsafe fn borrow_slice(
        self,
        len: usize,
        site: &'static Site,
        param: &'static str,
    ) -> Option<&'a mut [T]> {
        let start = slice_start::<T, Option<&mut [T]>>(self.cast(), len, site, param)?;
        // SAFETY: as for `&mut [T]`.
        Some(unsafe { std::slice::from_raw_parts_mut(start, len) })
    }
    #[inline(always)]
    fn extent(self, len: usize) -> Extent {
        Extent::of::<T>(self.cast(), len)
    }
}

/// The `len` bytes at `start` (as [`slice_start`] gave it) as a `&str`, or
/// a refusal naming `param` of the callback at `site` when they are not
/// UTF-8. `B` is what they are borrowed as.
///
/// # Safety
/// `start` points at `len` initialised bytes, valid for reads, unchanged and
/// alive for `'a`.
#[inline(always)]
unsafe fn utf8_slice<'a, B>(
    start: *mut u8,
    len: usize,
    site: &'static Site,
    param: &'static str,
) -> &'a str {
    // SAFETY: by the caller's promise.
    let bytes = unsafe { std::slice::from_raw_parts(start.cast_const(), len) };
    match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => refuse_unborrowable(
            site,
            param,
            Unborrowable::not_utf8::<B>(error.valid_up_to()),
        ),
    }
}

// SAFETY: as for `&[u8]`, the `len` bytes then checked to be UTF-8
// (refused otherwise).
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: BytePointer> BorrowSlice<&'a str> for P {
    #[inline(always)]
    unsafe fn borrow_slice(self, len: usize, site: &'static Site, param: &'static str) -> &'a str {
        let start = non_null_start::<u8, &str>(self.address(), len, site, param);
        // SAFETY: as for `&[u8]`.
        unsafe { utf8_slice::<&str>(start, len, site, param) }
    }
    #[inline(always)]
    fn extent(self, len: usize) -> Extent {
        Extent::of::<u8>(self.address(), len)
    }
}

// SAFETY: as for `&str`, with `None` for null.
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
unsafe impl<'a, P: BytePointer> BorrowSlice<Option<&'a str>> for P {
    #[inline(always)]
    unsafe fn borrow_slice(
        self,
        len: usize,
        site: &'static Site,
        param: &'static str,
    ) -> Option<&'a str> {
        let start = slice_start::<u8, Option<&str>>(self.address(), len, site, param)?;
        // SAFETY: as for `&[u8]`.
        Some(unsafe { utf8_slice::<Option<&str>>(start, len, site, param) })
    }
    #[inline(always)]
    fn extent(self, len: usize) -> Extent {
        Extent::of::<u8>(self.address(), len)
    }
}

/// A borrowed parameter (`#[into(&..)]`) of a callback whose calls may run
/// on other threads, several at once (`send`, `sync`, without user data,
/// or a `#[callback]` fn): the borrow is then made on a thread that did not make the C
/// memory, and shared borrows of the same memory may be alive on two
/// threads. So what a shared borrow reaches must be `Sync` (a `Copy`
/// struct may still hold a `&Cell`), and what an exclusive one reaches
/// `Send` (an `&mut Rc` could clone the `Rc` away from its thread), as if
/// the reference itself had been sent: `&T: Send` needs `T: Sync`,
/// `&mut T: Send` needs `T: Send`. (The macro does not ask it of a raw
/// pointer written as the referent, `&*const T` or `&[*mut T]`: nothing
/// reaches through one without `unsafe`.)
///
/// # Safety
/// Implemented only here, where the bounds say so: the trampoline takes
/// it as proof that the borrow may be made on any thread.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[into({Self})]` on a callback that may run on other threads: the reference could not be sent there",
    label = "its calls on another thread borrow this C memory there",
    note = "a `send` or `sync` callback, one without user data, or a `#[callback]` fn may be \
            called on other threads, several at once, with the same pointer: a shared borrow (`&T`, `&[T]`) \
            must then be of a `Sync` type (no `Cell`, `Rc` or raw pointer field, nor a \
            reference to one), an `&mut T` of a `Send` type (a raw pointer written as such, \
            `&*const T`, needs neither; through an alias such as `gpointer` it is checked); a C \
            struct that is not `Sync` only for its raw pointer fields (`dl_phdr_info`) can be \
            borrowed as a `#[repr(transparent)]` newtype of it with `unsafe impl Sync`; or \
            receive the C pointer and borrow it in an `unsafe` block whose SAFETY comment says \
            why that holds"
)]
pub unsafe trait SharedAcrossThreads {}
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
// SAFETY: `&T` may be sent to another thread when `T: Sync`.
unsafe impl<T: ?Sized + Sync> SharedAcrossThreads for &T {}
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
// SAFETY: as for `&T`.
unsafe impl<T: ?Sized + Sync> SharedAcrossThreads for Option<&T> {}
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
// SAFETY: `&mut T` may be sent to another thread when `T: Send`; C's
// contract makes the borrow exclusive.
unsafe impl<T: ?Sized + Send> SharedAcrossThreads for &mut T {}
#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
// SAFETY: as for `&mut T`.
unsafe impl<T: ?Sized + Send> SharedAcrossThreads for Option<&mut T> {}

/// A slice borrowed from a C pointer written to another type than its
/// elements (`#[into(&[u8], len = n)] buf: *const uv_buf_t`): it borrows
/// the elements the pointer points at, so the two must be of one size; a
/// pointer to a struct that holds the buffer is read through its field
/// instead. Called in a constant, so checked at compile time.
#[doc(hidden)]
pub const fn slice_of_pointee<Pointee, Element>() {
    assert!(
        size_of::<Pointee>() == size_of::<Element>(),
        "`#[into(&[T], len = ..)]` borrows the elements its C pointer points at, but the \
         pointer's type points at something of another size than `T`: a pointer to a struct \
         that holds the buffer (libuv's `uv_buf_t`) is read through its field, and a \
         `void *` buffer is written `*const c_void`"
    );
}

/// [`slice_of_pointee`] where the types may name generic parameters of an
/// impl (a `#[callback]` fn in a generic impl): checked when the fn is
/// instantiated; emits nothing.
#[doc(hidden)]
#[inline(always)]
pub fn slice_of_pointee_when_built<Pointee, Element>() {
    let () = SameSize::<Pointee, Element>::CHECK;
}

/// [`slice_of_pointee_when_built`]'s constant.
struct SameSize<Pointee, Element>(std::marker::PhantomData<(Pointee, Element)>);

impl<Pointee, Element> SameSize<Pointee, Element> {
    const CHECK: () = slice_of_pointee::<Pointee, Element>();
}

/// Checks [`SharedAcrossThreads`] of a borrowed parameter's type, at
/// compile time; emits nothing.
#[doc(hidden)]
#[inline(always)]
pub fn shared_across_threads<T: SharedAcrossThreads>() {}

/// The bytes a borrowed parameter covers: `len` from the address `start`,
/// none for null.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Extent {
    start: usize,
    len: usize,
}

impl Extent {
    /// `count` `E`s at `ptr` (saturating: a length past the address space
    /// is refused when borrowed).
    #[inline(always)]
    fn of<E>(ptr: *mut u8, count: usize) -> Self {
        let len = if ptr.is_null() {
            0
        } else {
            count.saturating_mul(size_of::<E>())
        };
        Extent {
            start: ptr as usize,
            len,
        }
    }

    #[inline(always)]
    fn overlaps(self, other: Extent) -> bool {
        self.len != 0
            && other.len != 0
            && self.start < other.start.saturating_add(other.len)
            && other.start < self.start.saturating_add(self.len)
    }
}

/// The bytes of the C string at `ptr`, its NUL included; none for null.
///
/// # Safety
/// `ptr` is null or points at a NUL-terminated string, valid for reads.
#[inline(always)]
unsafe fn c_string_extent(ptr: *mut u8) -> Extent {
    if ptr.is_null() {
        return Extent::of::<u8>(ptr, 0);
    }
    // SAFETY: by the caller's promise.
    let bytes = unsafe { CStr::from_ptr(ptr.cast_const().cast()) }.to_bytes_with_nul();
    Extent::of::<u8>(ptr, bytes.len())
}

/// Refuses a call in which a parameter borrowed as `&mut` (`mutable`)
/// overlaps another borrowed one (`other`): C passes the same buffer as
/// input and output (in-place processing, `memmove`-like callbacks), which
/// is fine in C but would alias a `&mut`. Checked inside the call, after
/// the lengths, before any borrow.
#[doc(hidden)]
#[inline(always)]
pub fn check_disjoint(
    site: &'static Site,
    mutable: (&'static str, Extent),
    other: (&'static str, Extent),
) {
    if mutable.1.overlaps(other.1) {
        refuse_overlap(site, mutable.0, other.0);
    }
}

#[cold]
#[inline(never)]
fn refuse_overlap(site: &'static Site, mutable: &str, other: &str) -> ! {
    refuse(
        site,
        format_args!(
            "its parameters {mutable} and {other} overlap, where {mutable} is borrowed as `&mut` \
             (C passed the same memory twice: receive one of them as the C pointer instead)"
        ),
    )
}

#[cold]
#[inline(never)]
fn refuse_too_long(site: &'static Site, param: &str, len: usize, target: &str) -> ! {
    refuse(
        site,
        format_args!(
            "its parameter {param} has a length of {len}, longer than a `{target}` can be"
        ),
    )
}

/// Refuses a call whose parameter `param` failed [`BorrowParam::check`]
/// (or [`BorrowStr::check`]), under the callback's policy, before the call
/// reaches the holder (which stays as it was: no user code ran); C gets the
/// fallback. A cold tail call: the trampoline's fast path keeps no stack
/// frame for it.
#[doc(hidden)]
#[inline(always)]
pub fn refuse_borrow<P: Policy, R>(
    site: &'static Site,
    param: &'static str,
    why: Unborrowable,
    fallback: impl FnOnce() -> R,
) -> R {
    if P::UNWINDS {
        // `on_panic = unwind`: the refusal unwinds from the trampoline.
        refuse_unborrowable(site, param, why)
    }
    refuse_borrow_nounwind::<P, R, _>(site, param, why.target, why.reason, fallback)
}

/// [`refuse_borrow`] for the policies whose paths cannot unwind:
/// `extern "C"`, so that the trampoline tail-calls it with no landing pad.
/// (`why` in its two words: a struct argument may go through memory.)
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
extern "C" fn refuse_borrow_nounwind<P: Policy, R, Fallback: FnOnce() -> R>(
    site: &'static Site,
    param: &'static str,
    target: fn() -> &'static str,
    reason: usize,
    fallback: Fallback,
) -> R {
    let why = Unborrowable { target, reason };
    let _ = refuse_under::<P>(site, || refuse_unborrowable(site, param, why));
    // `abort` aborted in its catch.
    crate::holder::fallback_caught(site, fallback)
}

/// Refuses a call whose parameter `param` cannot be borrowed, saying why:
/// null, or (for `&str`) bytes that are not UTF-8 and where they start.
#[cold]
#[inline(never)]
fn refuse_unborrowable(site: &'static Site, param: &str, why: Unborrowable) -> ! {
    let target = (why.target)();
    match why.reason.checked_sub(1) {
        None => refuse(
            site,
            format_args!("its parameter {param} is null, where it is borrowed as `{target}`"),
        ),
        Some(valid_up_to) => refuse(
            site,
            format_args!(
                "its parameter {param} is not UTF-8 (valid up to byte {valid_up_to}), where it \
                 is borrowed as `{target}`"
            ),
        ),
    }
}
