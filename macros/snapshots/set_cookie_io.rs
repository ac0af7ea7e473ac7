/// The C function-pointer type of the entry point `read` of [`CookieIo`], as declared.
pub type CookieIoReadFn = unsafe extern "C" fn(
    cookie: *mut c_void,
    buf: *mut c_char,
    size: usize,
) -> isize;
/// The C function-pointer type of the entry point `write` of [`CookieIo`], as declared.
pub type CookieIoWriteFn = unsafe extern "C" fn(
    cookie: *mut c_void,
    buf: *const c_char,
    size: usize,
) -> isize;
/// The C function-pointer type of the entry point `close` of [`CookieIo`], as declared.
pub type CookieIoCloseFn = unsafe extern "C" fn(cookie: *mut c_void) -> c_int;
/// fopencookie's `cookie_io_functions_t`.
///
/// `#[callback]` set: the C entry points of one state. Implement it for the state's type; the entry points for that type (`READ`, `WRITE`, `CLOSE`), to fill the C library's struct of function pointers, and `boxed` and `scope`, which make its user data, are in [`CookieIoExt`], which every implementing type has and no impl can change: bring it into scope with the set (`use path::{CookieIo, CookieIoExt}`).
pub trait CookieIo: ::ffi_callback::__private::core::marker::Sized {
    #[allow(clippy::too_many_arguments)]
    fn read(&mut self, buf: *mut c_char, size: usize) -> isize;
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        buf: *const c_char,
        size: usize,
    ) -> Result<isize, std::io::Error>;
    #[allow(clippy::too_many_arguments)]
    fn close(self) -> c_int;
}
/// What the `#[callback]` set [`CookieIo`] generates for each implementing type: the entry points (`READ`, `WRITE`, `CLOSE`), `boxed`, `scope` and `try_scope`. Implemented for every `CookieIo` and never by hand, so that an entry point always runs that type's own trampoline; import it with the set (`use path::{CookieIo, CookieIoExt}`).
#[allow(
    unused_variables,
    clippy::ptr_arg,
    clippy::not_unsafe_ptr_arg_deref,
    clippy::too_many_arguments,
    clippy::needless_pass_by_value
)]
pub trait CookieIoExt: CookieIo {
    /// The C entry point `read` for this state's type: a [`CookieIoReadFn`], to put in the C library's struct of function pointers. After a panic or a refused call, C receives `-1`.
    const READ: CookieIoReadFn = <Self as CookieIoExt>::__ffi_entry_read;
    #[doc(hidden)]
    #[deny(improper_ctypes_definitions)]
    #[forbid(unsafe_op_in_unsafe_fn)]
    #[inline(never)]
    unsafe extern "C" fn __ffi_entry_read(
        cookie: *mut c_void,
        buf: *mut c_char,
        size: usize,
    ) -> isize {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            CookieIo::read
        );
        let __ffi_fallback = move || <Self as CookieIoExt>::__ffi_fallback_read();
        let __ffi_on_error = ::ffi_callback::__private::no_error;
        unsafe {
            ::ffi_callback::__private::Holder::<
                Self,
                ::ffi_callback::__private::threading::CallerThread,
            >::call_mut::<
                ::ffi_callback::__private::policy::Resume,
                _,
                _,
                _,
                _,
                false,
            >(
                cookie,
                &__FFI_CALLBACK_SITE,
                (buf, size),
                |__ffi_state: &mut Self, (buf, size)| <Self as CookieIo>::read(
                    __ffi_state,
                    buf,
                    size,
                ),
                __ffi_on_error,
                __ffi_fallback,
                (|(buf, size), __ffi_slot| <Self as CookieIoExt>::__ffi_entry_read(
                    __ffi_slot,
                    buf,
                    size,
                )) as fn(_, _) -> _,
            )
        }
    }
    #[doc(hidden)]
    #[inline]
    fn __ffi_fallback_read() -> isize {
        -1
    }
    /// The C entry point `write` for this state's type: a [`CookieIoWriteFn`], to put in the C library's struct of function pointers. After a panic or a refused call, C receives `-1`.
    const WRITE: CookieIoWriteFn = <Self as CookieIoExt>::__ffi_entry_write;
    #[doc(hidden)]
    #[deny(improper_ctypes_definitions)]
    #[forbid(unsafe_op_in_unsafe_fn)]
    #[inline(never)]
    unsafe extern "C" fn __ffi_entry_write(
        cookie: *mut c_void,
        buf: *const c_char,
        size: usize,
    ) -> isize {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            CookieIo::write
        );
        let __ffi_fallback = move || <Self as CookieIoExt>::__ffi_fallback_write();
        let __ffi_on_error = move |__ffi_error: &std::io::Error| <Self as CookieIoExt>::__ffi_on_error_write(
            __ffi_error,
        );
        unsafe {
            ::ffi_callback::__private::Holder::<
                Self,
                ::ffi_callback::__private::threading::CallerThread,
            >::call_mut::<
                ::ffi_callback::__private::policy::Resume,
                _,
                _,
                _,
                _,
                false,
            >(
                cookie,
                &__FFI_CALLBACK_SITE,
                (buf, size),
                |__ffi_state: &mut Self, (buf, size)| <Self as CookieIo>::write(
                    __ffi_state,
                    buf,
                    size,
                ),
                __ffi_on_error,
                __ffi_fallback,
                (|(buf, size), __ffi_slot| <Self as CookieIoExt>::__ffi_entry_write(
                    __ffi_slot,
                    buf,
                    size,
                )) as fn(_, _) -> _,
            )
        }
    }
    #[doc(hidden)]
    #[inline]
    fn __ffi_fallback_write() -> isize {
        -1
    }
    #[doc(hidden)]
    #[inline]
    fn __ffi_on_error_write(e: &std::io::Error) -> isize {
        -1
    }
    /// The C entry point `close` for this state's type: a [`CookieIoCloseFn`], to put in the C library's struct of function pointers. After a panic or a refused call, C receives `-1`.
    const CLOSE: CookieIoCloseFn = <Self as CookieIoExt>::__ffi_entry_close;
    #[doc(hidden)]
    #[deny(improper_ctypes_definitions)]
    #[forbid(unsafe_op_in_unsafe_fn)]
    unsafe extern "C" fn __ffi_entry_close(cookie: *mut c_void) -> c_int {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            CookieIo::close
        );
        let __ffi_fallback = move || <Self as CookieIoExt>::__ffi_fallback_close();
        let __ffi_on_error = ::ffi_callback::__private::no_error;
        unsafe {
            ::ffi_callback::__private::set::destroy_entry::<
                ::ffi_callback::__private::threading::CallerThread,
                ::ffi_callback::__private::policy::Resume,
                Self,
                _,
                _,
            >(
                ::ffi_callback::__private::UserDataSlot::into_ptr(cookie),
                &__FFI_CALLBACK_SITE,
                move |__ffi_state: Self| <Self as CookieIo>::close(__ffi_state),
                __ffi_on_error,
                __ffi_fallback,
            )
        }
    }
    #[doc(hidden)]
    #[inline]
    fn __ffi_fallback_close() -> c_int {
        -1
    }
    /// Boxes the state for C: keep the `BoxedSet` and pass its
    /// `user_data()` while C may call the entry points, or hand it
    /// over with `into_raw()` when C ends it (its destroy entry, or
    /// `DESTROY`).
    fn boxed(self) -> ::ffi_callback::BoxedSet<Self, ::ffi_callback::CallerThread>
    where
        Self: 'static,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            CookieIo
        );
        unsafe {
            ::ffi_callback::BoxedSet::<
                Self,
                ::ffi_callback::CallerThread,
            >::new::<
                ::ffi_callback::__private::policy::Resume,
            >(self, &__FFI_CALLBACK_SITE)
        }
    }
    /// Takes back a state `into_raw()` handed to a C call that failed
    /// without ending it; panics off the state's thread unless `send`/`sync`.
    ///
    /// # Safety
    /// `user_data` came from `into_raw()` of this type's `boxed()`, is
    /// taken back once, and C has not ended it nor will use it again.
    unsafe fn from_raw(
        __ffi_user_data: *mut ::ffi_callback::__private::core::ffi::c_void,
    ) -> ::ffi_callback::BoxedSet<Self, ::ffi_callback::CallerThread>
    where
        Self: 'static,
    {
        unsafe {
            ::ffi_callback::BoxedSet::<
                Self,
                ::ffi_callback::CallerThread,
            >::from_raw::<::ffi_callback::__private::policy::Resume>(__ffi_user_data)
        }
    }
    /// Lends the state for one C call: `call` gets the user data,
    /// the entry points may run until it returns, and the state
    /// comes back (a kept panic is resumed then, under `resume`).
    fn scope<T>(
        self,
        call: impl ::ffi_callback::__private::FnOnce(
            *mut ::ffi_callback::__private::core::ffi::c_void,
        ) -> T,
    ) -> (T, Self) {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            CookieIo
        );
        unsafe {
            ::ffi_callback::__private::set::scope::<
                ::ffi_callback::__private::threading::CallerThread,
                ::ffi_callback::__private::policy::Resume,
                Self,
                T,
            >(self, &__FFI_CALLBACK_SITE, call)
        }
    }
    /// [`scope`](Self::scope) with `call` under
    /// `ffi_callback::try_resume`: also returns the first `Err` an
    /// entry point returned, typed, and the state either way.
    fn try_scope<T>(
        self,
        call: impl ::ffi_callback::__private::FnOnce(
            *mut ::ffi_callback::__private::core::ffi::c_void,
        ) -> T,
    ) -> (::ffi_callback::__private::core::result::Result<T, std::io::Error>, Self) {
        <Self as CookieIoExt>::scope(
            self,
            move |__ffi_user_data| ::ffi_callback::try_resume(move || call(
                __ffi_user_data,
            )),
        )
    }
}
impl<S: CookieIo> CookieIoExt for S {}
