/// The C function-pointer type of the entry point `read` of [`ReadClient`], as declared. Its trampolines borrow the parameter `buffer` (`#[into(&..)]`): a call passes there null or a pointer to what the parameter is borrowed as, valid for the call and not touched by anything else meanwhile.
pub type ReadClientReadFn = unsafe extern "C" fn(
    archive: *mut Archive,
    client_data: *mut c_void,
    buffer: *mut *const c_void,
) -> isize;
/// The C function-pointer type of the entry point `close` of [`ReadClient`], as declared.
pub type ReadClientCloseFn = unsafe extern "C" fn(
    archive: *mut Archive,
    client_data: *mut c_void,
) -> c_int;
/// libarchive's read client, whoever owns the client data.
///
/// `#[callback]` set: the C entry points of one state. Implement it for the state's type; the entry points for that type (`READ`, `CLOSE`), to fill the C library's struct of function pointers, and `boxed` and `scope`, which make its user data, are in [`ReadClientExt`], which every implementing type has and no impl can change: bring it into scope with the set (`use path::{ReadClient, ReadClientExt}`).
pub trait ReadClient: ::ffi_callback::__private::core::marker::Sized {
    #[allow(clippy::too_many_arguments)]
    fn read(&mut self, archive: *mut Archive, buffer: &mut *const c_void) -> isize;
    #[allow(clippy::too_many_arguments)]
    fn close(&mut self, archive: *mut Archive) -> c_int;
}
/// What the `#[callback]` set [`ReadClient`] generates for each implementing type: the entry points (`READ`, `CLOSE`), `boxed`, `scope` and `try_scope`. Implemented for every `ReadClient` and never by hand, so that an entry point always runs that type's own trampoline; import it with the set (`use path::{ReadClient, ReadClientExt}`).
#[allow(
    unused_variables,
    clippy::ptr_arg,
    clippy::not_unsafe_ptr_arg_deref,
    clippy::too_many_arguments,
    clippy::needless_pass_by_value
)]
pub trait ReadClientExt: ReadClient {
    /// The C entry point `read` for this state's type: a [`ReadClientReadFn`], to put in the C library's struct of function pointers. After a panic or a refused call, C receives `isize`'s `Fallback` value.
    const READ: ReadClientReadFn = <Self as ReadClientExt>::__ffi_entry_read;
    #[doc(hidden)]
    #[deny(improper_ctypes_definitions)]
    #[forbid(unsafe_op_in_unsafe_fn)]
    #[inline(never)]
    unsafe extern "C" fn __ffi_entry_read(
        archive: *mut Archive,
        client_data: *mut c_void,
        buffer: *mut *const c_void,
    ) -> isize {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            ReadClient::read
        );
        let __ffi_fallback = <isize as ::ffi_callback::__private::Fallback>::fallback
            as fn() -> isize;
        let __ffi_on_error = ::ffi_callback::__private::no_error;
        if let ::ffi_callback::__private::core::result::Result::Err(__ffi_why) = ::ffi_callback::__private::BorrowParam::<
            &mut *const c_void,
        >::check(buffer) {
            return ::ffi_callback::__private::refuse_borrow::<
                ::ffi_callback::__private::policy::Resume,
                _,
            >(&__FFI_CALLBACK_SITE, "`buffer`", __ffi_why, __ffi_fallback);
        }
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
                client_data,
                &__FFI_CALLBACK_SITE,
                (archive, buffer),
                |__ffi_state: &mut Self, (archive, buffer)| <Self as ReadClient>::read(
                    __ffi_state,
                    archive,
                    ::ffi_callback::__private::BorrowParam::<
                        &mut *const c_void,
                    >::borrow(buffer),
                ),
                __ffi_on_error,
                __ffi_fallback,
                (|(archive, buffer), __ffi_slot| <Self as ReadClientExt>::__ffi_entry_read(
                    archive,
                    __ffi_slot,
                    buffer,
                )) as fn(_, _) -> _,
            )
        }
    }
    /// The C entry point `close` for this state's type: a [`ReadClientCloseFn`], to put in the C library's struct of function pointers. After a panic or a refused call, C receives `c_int`'s `Fallback` value.
    const CLOSE: ReadClientCloseFn = <Self as ReadClientExt>::__ffi_entry_close;
    #[doc(hidden)]
    #[deny(improper_ctypes_definitions)]
    #[forbid(unsafe_op_in_unsafe_fn)]
    #[inline(never)]
    unsafe extern "C" fn __ffi_entry_close(
        archive: *mut Archive,
        client_data: *mut c_void,
    ) -> c_int {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            ReadClient::close
        );
        let __ffi_fallback = <c_int as ::ffi_callback::__private::Fallback>::fallback
            as fn() -> c_int;
        let __ffi_on_error = ::ffi_callback::__private::no_error;
        unsafe {
            ::ffi_callback::__private::Holder::<
                Self,
                ::ffi_callback::__private::threading::CallerThread,
            >::call_mut_then_destroy::<
                ::ffi_callback::__private::policy::Resume,
                _,
                _,
                _,
                _,
            >(
                client_data,
                &__FFI_CALLBACK_SITE,
                (archive,),
                |__ffi_state: &mut Self, (archive,)| <Self as ReadClient>::close(
                    __ffi_state,
                    archive,
                ),
                __ffi_on_error,
                __ffi_fallback,
                (|(archive,), __ffi_slot| <Self as ReadClientExt>::__ffi_entry_close(
                    archive,
                    __ffi_slot,
                )) as fn(_, _) -> _,
            )
        }
    }
    /// Boxes the state for C: keep the `BoxedSet` and pass its `user_data()` while C may call the entry points (then `CLOSE`, marked `destroy`, is a plain call), or hand it over with `into_raw()` when C ends it: `CLOSE` runs, then frees it.
    fn boxed(self) -> ::ffi_callback::BoxedSet<Self, ::ffi_callback::CallerThread>
    where
        Self: 'static,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            ReadClient
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
            ReadClient
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
    /// `ffi_callback::try_resume::<_, E>`: also returns the first
    /// `Err(E)` an entry point returned, typed, and the state
    /// either way (the entry points name different error types,
    /// or none: `E` says which this guard receives).
    fn try_scope<T, E: 'static>(
        self,
        call: impl ::ffi_callback::__private::FnOnce(
            *mut ::ffi_callback::__private::core::ffi::c_void,
        ) -> T,
    ) -> (::ffi_callback::__private::core::result::Result<T, E>, Self) {
        <Self as ReadClientExt>::scope(
            self,
            move |__ffi_user_data| ::ffi_callback::try_resume(move || call(
                __ffi_user_data,
            )),
        )
    }
}
impl<S: ReadClient> ReadClientExt for S {}
