/// One row of `sqlite3_exec`.
///
/// `#[callback]` holder: borrowed (`new`, `scope`) or owned (`boxed`, `once`) C callbacks for closures `FnMut(c_int, *mut *mut c_char, *mut *mut c_char) -> c_int`. See the `ffi_callback` crate docs for each constructor.
pub struct ExecRow<F> {
    holder: ::ffi_callback::__private::Holder<F, ::ffi_callback::__private::LocalState>,
}
impl<F> ::ffi_callback::__private::core::fmt::Debug for ExecRow<F> {
    fn fmt(
        &self,
        f: &mut ::ffi_callback::__private::core::fmt::Formatter<'_>,
    ) -> ::ffi_callback::__private::core::fmt::Result {
        f.debug_struct("ExecRow").finish_non_exhaustive()
    }
}
#[allow(dead_code)]
impl<F> ExecRow<F>
where
    *mut c_void: ::ffi_callback::__private::UserDataSlot,
{
    /// Holds `f` for a C call: pass [`function`](Self::function) and
    /// [`user_data`](Self::user_data), and keep this holder alive and
    /// unmoved until C stops calling it. [`scope`](Self::scope) does
    /// all of that for one call.
    #[inline]
    pub fn new(f: F) -> Self
    where
        F: ::ffi_callback::__private::core::ops::FnMut(
            c_int,
            *mut *mut c_char,
            *mut *mut c_char,
        ) -> c_int,
    {
        Self {
            holder: ::ffi_callback::__private::Holder::new(f),
        }
    }
    /// The trampoline to pass to C with [`user_data`](Self::user_data).
    #[inline]
    pub fn function(
        &self,
    ) -> unsafe extern "C" fn(
        arg: *mut c_void,
        n: c_int,
        values: *mut *mut c_char,
        names: *mut *mut c_char,
    ) -> c_int
    where
        F: ::ffi_callback::__private::core::ops::FnMut(
            c_int,
            *mut *mut c_char,
            *mut *mut c_char,
        ) -> c_int,
    {
        Self::__ffi_trampoline
    }
    /// The user data to pass to C with [`function`](Self::function):
    /// a pointer to this holder.
    #[inline]
    pub fn user_data(&self) -> *mut c_void {
        <*mut c_void as ::ffi_callback::__private::UserDataSlot>::from_ptr(
            self.holder.as_ptr(),
        )
    }
    /// Runs `call` with the trampoline and user data for `f`, which C
    /// may call until `call` returns. A panic in `f` is carried past
    /// the C code and resumed when `call` returns (with
    /// `on_panic = resume`).
    #[inline]
    pub fn scope<T>(
        f: F,
        call: impl ::ffi_callback::__private::core::ops::FnOnce(
            unsafe extern "C" fn(
                arg: *mut c_void,
                n: c_int,
                values: *mut *mut c_char,
                names: *mut *mut c_char,
            ) -> c_int,
            *mut c_void,
        ) -> T,
    ) -> T
    where
        F: ::ffi_callback::__private::core::ops::FnMut(
            c_int,
            *mut *mut c_char,
            *mut *mut c_char,
        ) -> c_int,
    {
        let holder = Self::new(f);
        ::ffi_callback::__private::resume_panics(|| call(
            holder.function(),
            holder.user_data(),
        ))
    }
    /// The closure back.
    #[inline]
    pub fn into_inner(self) -> F {
        self.holder.into_inner()
    }
    /// Boxes `f` for a C library that keeps the callback and frees it
    /// through a destroy-notify: `into_raw()` gives `function`,
    /// `user_data` and `destroy`.
    #[inline]
    pub fn boxed(
        f: F,
    ) -> ::ffi_callback::Boxed<
        unsafe extern "C" fn(
            arg: *mut c_void,
            n: c_int,
            values: *mut *mut c_char,
            names: *mut *mut c_char,
        ) -> c_int,
        *mut c_void,
        unsafe extern "C" fn(*mut c_void),
    >
    where
        F: ::ffi_callback::__private::core::ops::FnMut(
                c_int,
                *mut *mut c_char,
                *mut *mut c_char,
            ) -> c_int + 'static,
    {
        let __ffi_ptr = ::ffi_callback::__private::Holder::<
            F,
            ::ffi_callback::__private::LocalState,
        >::into_raw_box(f);
        let raw = ::ffi_callback::RawCallback {
            function: Self::__ffi_trampoline
                as unsafe extern "C" fn(
                    arg: *mut c_void,
                    n: c_int,
                    values: *mut *mut c_char,
                    names: *mut *mut c_char,
                ) -> c_int,
            user_data: <*mut c_void as ::ffi_callback::__private::UserDataSlot>::from_ptr(
                __ffi_ptr,
            ),
            destroy: Self::__ffi_destroy as unsafe extern "C" fn(*mut c_void),
        };
        unsafe {
            ::ffi_callback::Boxed::from_parts(
                raw,
                ::ffi_callback::__private::Holder::<
                    F,
                    ::ffi_callback::__private::LocalState,
                >::free_box,
            )
        }
    }
    /// Boxes the `FnOnce` `f` for a C library that calls it once:
    /// `into_raw()` when the call frees it, `into_raw_with_destroy()`
    /// when a destroy-notify follows.
    #[inline]
    pub fn once(
        f: F,
    ) -> ::ffi_callback::Once<
        unsafe extern "C" fn(
            arg: *mut c_void,
            n: c_int,
            values: *mut *mut c_char,
            names: *mut *mut c_char,
        ) -> c_int,
        *mut c_void,
        unsafe extern "C" fn(*mut c_void),
    >
    where
        F: ::ffi_callback::__private::core::ops::FnOnce(
                c_int,
                *mut *mut c_char,
                *mut *mut c_char,
            ) -> c_int + 'static,
    {
        let __ffi_ptr = ::ffi_callback::__private::OnceHolder::<F>::into_raw_box(f);
        unsafe {
            ::ffi_callback::Once::from_parts(
                <*mut c_void as ::ffi_callback::__private::UserDataSlot>::from_ptr(
                    __ffi_ptr,
                ),
                Self::__ffi_call_and_free
                    as unsafe extern "C" fn(
                        arg: *mut c_void,
                        n: c_int,
                        values: *mut *mut c_char,
                        names: *mut *mut c_char,
                    ) -> c_int,
                Self::__ffi_call_at_most_once
                    as unsafe extern "C" fn(
                        arg: *mut c_void,
                        n: c_int,
                        values: *mut *mut c_char,
                        names: *mut *mut c_char,
                    ) -> c_int,
                Self::__ffi_destroy_once as unsafe extern "C" fn(*mut c_void),
                ::ffi_callback::__private::OnceHolder::<F>::free,
            )
        }
    }
    #[deny(improper_ctypes_definitions)]
    unsafe extern "C" fn __ffi_trampoline(
        arg: *mut c_void,
        n: c_int,
        values: *mut *mut c_char,
        names: *mut *mut c_char,
    ) -> c_int
    where
        F: ::ffi_callback::__private::core::ops::FnMut(
            c_int,
            *mut *mut c_char,
            *mut *mut c_char,
        ) -> c_int,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "ExecRow"
            ),
        };
        let __ffi_fallback = || 1;
        let __ffi_ptr = <*mut c_void as ::ffi_callback::__private::UserDataSlot>::into_ptr(
            arg,
        );
        #[allow(unused_unsafe)]
        unsafe {
            ::ffi_callback::__private::Holder::<
                F,
                ::ffi_callback::__private::LocalState,
            >::call_mut::<
                ::ffi_callback::__private::policy::Resume,
                _,
            >(
                __ffi_ptr,
                &__FFI_CALLBACK_SITE,
                __ffi_fallback,
                move |__ffi_closure: &mut F| __ffi_closure(n, values, names),
            )
        }
    }
    #[allow(improper_ctypes_definitions)]
    unsafe extern "C" fn __ffi_call_and_free(
        arg: *mut c_void,
        n: c_int,
        values: *mut *mut c_char,
        names: *mut *mut c_char,
    ) -> c_int
    where
        F: ::ffi_callback::__private::core::ops::FnOnce(
                c_int,
                *mut *mut c_char,
                *mut *mut c_char,
            ) -> c_int + 'static,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "ExecRow"
            ),
        };
        let __ffi_fallback = || 1;
        let __ffi_ptr = <*mut c_void as ::ffi_callback::__private::UserDataSlot>::into_ptr(
            arg,
        );
        #[allow(unused_unsafe)]
        unsafe {
            ::ffi_callback::__private::OnceHolder::<
                F,
            >::call_and_free::<
                ::ffi_callback::__private::policy::Resume,
                _,
            >(
                __ffi_ptr,
                &__FFI_CALLBACK_SITE,
                __ffi_fallback,
                move |__ffi_closure: F| __ffi_closure(n, values, names),
            )
        }
    }
    #[allow(improper_ctypes_definitions)]
    unsafe extern "C" fn __ffi_call_at_most_once(
        arg: *mut c_void,
        n: c_int,
        values: *mut *mut c_char,
        names: *mut *mut c_char,
    ) -> c_int
    where
        F: ::ffi_callback::__private::core::ops::FnOnce(
                c_int,
                *mut *mut c_char,
                *mut *mut c_char,
            ) -> c_int + 'static,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "ExecRow"
            ),
        };
        let __ffi_fallback = || 1;
        let __ffi_ptr = <*mut c_void as ::ffi_callback::__private::UserDataSlot>::into_ptr(
            arg,
        );
        #[allow(unused_unsafe)]
        unsafe {
            ::ffi_callback::__private::OnceHolder::<
                F,
            >::call_at_most_once::<
                ::ffi_callback::__private::policy::Resume,
                _,
            >(
                __ffi_ptr,
                &__FFI_CALLBACK_SITE,
                __ffi_fallback,
                move |__ffi_closure: F| __ffi_closure(n, values, names),
            )
        }
    }
    unsafe extern "C" fn __ffi_destroy(user_data: *mut c_void) {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "ExecRow"
            ),
        };
        unsafe {
            ::ffi_callback::__private::Holder::<
                F,
                ::ffi_callback::__private::LocalState,
            >::destroy_box::<
                ::ffi_callback::__private::policy::Resume,
            >(
                <*mut c_void as ::ffi_callback::__private::UserDataSlot>::into_ptr(
                    user_data,
                ),
                &__FFI_CALLBACK_SITE,
            )
        }
    }
    unsafe extern "C" fn __ffi_destroy_once(user_data: *mut c_void) {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "ExecRow"
            ),
        };
        unsafe {
            ::ffi_callback::__private::OnceHolder::<
                F,
            >::destroy::<
                ::ffi_callback::__private::policy::Resume,
            >(
                <*mut c_void as ::ffi_callback::__private::UserDataSlot>::into_ptr(
                    user_data,
                ),
                &__FFI_CALLBACK_SITE,
            )
        }
    }
}
