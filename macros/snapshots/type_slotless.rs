/// The C function-pointer type of [`Compare`], as declared: what its `function()` returns. Its trampolines borrow the parameter `b` (`#[into(&..)]`): a call passes there null or a pointer to what the parameter is borrowed as, valid for the call and not touched by anything else meanwhile.
type CompareFn = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;
///
/// `#[callback]` holder: C callbacks without user data, so only capture-free for closures `Fn(Elem, &u32) -> c_int + Copy + Send + Sync + 'static` (or returning `Result<_, E>`). `scope_thread_local` lends it any `FnMut` closure of that shape instead, for one C call on this thread. After a panic or a refused call, C receives `c_int`'s `Fallback` value (zero, null, `false` or `None`). The C function-pointer type is [`CompareFn`]; see the `ffi_callback` crate docs for each constructor.
struct Compare<F> {
    closure: F,
}
impl<F> ::ffi_callback::__private::core::fmt::Debug for Compare<F> {
    fn fmt(
        &self,
        __ffi_formatter: &mut ::ffi_callback::__private::core::fmt::Formatter<'_>,
    ) -> ::ffi_callback::__private::core::fmt::Result {
        __ffi_formatter.debug_struct("Compare").finish_non_exhaustive()
    }
}
#[allow(dead_code)]
impl<F> Compare<F> {
    /// Holds the capture-free closure `f`; pass
    /// [`function`](Self::function) to C. (A type without a
    /// user-data slot has nowhere to carry captures, so `f` must be
    /// zero-sized.)
    #[inline]
    pub fn new<O>(f: F) -> Self
    where
        F: ::ffi_callback::__private::Fn(Elem, &u32) -> O
            + ::ffi_callback::__private::NoCaptures,
        O: ::ffi_callback::__private::CallbackReturn<c_int>,
    {
        ::ffi_callback::__private::require_zero_sized::<F>();
        Self { closure: f }
    }
    /// The trampoline to pass to C; it recreates the closure, which
    /// this holder proves exists.
    #[inline]
    pub fn function<O>(&self) -> CompareFn
    where
        F: ::ffi_callback::__private::Fn(Elem, &u32) -> O
            + ::ffi_callback::__private::NoCaptures,
        O: ::ffi_callback::__private::CallbackReturn<c_int>,
    {
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        unsafe extern "C" fn trampoline<F, O>(
            a: *const c_void,
            b: *const c_void,
        ) -> c_int
        where
            F: ::ffi_callback::__private::Fn(Elem, &u32) -> O
                + ::ffi_callback::__private::NoCaptures,
            O: ::ffi_callback::__private::CallbackReturn<c_int>,
        {
            static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
                Compare
            );
            static __FFI_CALLBACK_FILTER: ::ffi_callback::__private::PoisonFilter = ::ffi_callback::__private::PoisonFilter::NEW;
            let __ffi_fallback = Compare::<()>::__ffi_fallback as fn() -> c_int;
            if let ::ffi_callback::__private::core::result::Result::Err(__ffi_why) = ::ffi_callback::__private::BorrowParam::<
                &u32,
            >::check(b) {
                return ::ffi_callback::__private::refuse_borrow::<
                    ::ffi_callback::__private::policy::Resume,
                    _,
                >(&__FFI_CALLBACK_SITE, "`b`", __ffi_why, __ffi_fallback);
            }
            unsafe {
                ::ffi_callback::__private::call_slotless::<
                    ::ffi_callback::__private::policy::Resume,
                    F,
                    _,
                    _,
                >(
                    move |__ffi_closure: F| {
                        ::ffi_callback::__private::shared_across_threads::<&u32>();
                        let __ffi_conv0 = ::ffi_callback::__private::IntoParam::<
                            Elem,
                        >::into_param(a, &__FFI_CALLBACK_SITE, "`a`");
                        __ffi_closure(
                            __ffi_conv0,
                            ::ffi_callback::__private::BorrowParam::<&u32>::borrow(b),
                        )
                    },
                    ::ffi_callback::__private::fallback_on_error(__ffi_fallback),
                    __ffi_fallback,
                    &__FFI_CALLBACK_SITE,
                    &__FFI_CALLBACK_FILTER,
                )
            }
        }
        trampoline::<F, O>
    }
    /// Runs `call` with the trampoline for `f`. A panic in `f` is
    /// carried past the C code and resumed when `call` returns
    /// (with `on_panic = resume`).
    #[inline]
    pub fn scope<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(CompareFn) -> T,
    ) -> T
    where
        F: ::ffi_callback::__private::Fn(Elem, &u32) -> O
            + ::ffi_callback::__private::NoCaptures,
        O: ::ffi_callback::__private::CallbackReturn<c_int>,
    {
        let __ffi_holder = Self::new(f);
        ::ffi_callback::__private::guarded::<
            ::ffi_callback::__private::policy::Resume,
            _,
        >(|| call(__ffi_holder.function()))
    }
    /// The closure back.
    #[inline]
    pub fn into_inner(self) -> F {
        self.closure
    }
    /// Runs `call` with the type's function, which calls `f` (any
    /// closure) while `call` runs, on this thread only (elsewhere C
    /// gets the fallback); a kept panic is resumed when it returns.
    #[inline]
    pub fn scope_thread_local<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(CompareFn) -> T,
    ) -> T
    where
        F: ::ffi_callback::__private::FnMut(Elem, &u32) -> O,
        O: ::ffi_callback::__private::CallbackReturn<c_int>,
    {
        ::ffi_callback::__private::thread_local_scope::scope(
            f,
            Self::__ffi_thread_local::<O>(),
            call,
        )
    }
    /// [`scope_thread_local`](Self::scope_thread_local) that also
    /// returns the first `Err` of a closure returning `Result<_, E>`.
    #[inline]
    pub fn try_scope_thread_local<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(CompareFn) -> T,
    ) -> ::ffi_callback::__private::core::result::Result<
        T,
        <O as ::ffi_callback::__private::CallbackReturn<c_int>>::Error,
    >
    where
        F: ::ffi_callback::__private::FnMut(Elem, &u32) -> O,
        O: ::ffi_callback::__private::CallbackReturn<c_int>,
    {
        ::ffi_callback::__private::thread_local_scope::try_scope(
            f,
            Self::__ffi_thread_local::<O>(),
            call,
        )
    }
    #[inline]
    fn __ffi_thread_local<O>() -> ::ffi_callback::__private::thread_local_scope::Parking<
        ::ffi_callback::__private::policy::Resume,
        F,
        impl ::ffi_callback::__private::core::marker::Copy + 'static,
        CompareFn,
    >
    where
        F: ::ffi_callback::__private::FnMut(Elem, &u32) -> O,
        O: ::ffi_callback::__private::CallbackReturn<c_int>,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
            Compare
        );
        ::ffi_callback::__private::thread_local_scope::thread_local! {
            static __FFI_CALLBACK_PARKED :
            ::ffi_callback::__private::thread_local_scope::ParkedSlot < unsafe extern "C"
            fn (* const c_void, * const c_void, * mut
            ::ffi_callback::__private::core::ffi::c_void) -> c_int > = const {
            ::ffi_callback::__private::thread_local_scope::ParkedSlot::NEW };
        }
        #[deny(improper_ctypes_definitions)]
        unsafe extern "C" fn __ffi_function(
            a: *const c_void,
            b: *const c_void,
        ) -> c_int {
            match ::ffi_callback::__private::thread_local_scope::parked(
                &__FFI_CALLBACK_PARKED,
            ) {
                ::ffi_callback::__private::core::option::Option::Some(
                    (__ffi_found, __ffi_holder),
                ) => unsafe { __ffi_found(a, b, __ffi_holder) }
                ::ffi_callback::__private::core::option::Option::None => {
                    let __ffi_fallback = Compare::<()>::__ffi_fallback as fn() -> c_int;
                    ::ffi_callback::__private::thread_local_scope::refuse_unparked::<
                        ::ffi_callback::__private::policy::Resume,
                        _,
                    >(&__FFI_CALLBACK_SITE, __ffi_fallback)
                }
            }
        }
        /// # Safety
        /// `holder` is the holder of a record parked by a scope whose
        /// closures are `F`; borrowed (`#[into(&..)]`) arguments are
        /// valid for the call.
        #[forbid(unsafe_op_in_unsafe_fn)]
        #[allow(clippy::too_many_arguments)]
        unsafe extern "C" fn __ffi_call<F, O>(
            a: *const c_void,
            b: *const c_void,
            __ffi_holder: *mut ::ffi_callback::__private::core::ffi::c_void,
        ) -> c_int
        where
            F: ::ffi_callback::__private::FnMut(Elem, &u32) -> O,
            O: ::ffi_callback::__private::CallbackReturn<c_int>,
        {
            let __ffi_fallback = Compare::<()>::__ffi_fallback as fn() -> c_int;
            if let ::ffi_callback::__private::core::result::Result::Err(__ffi_why) = ::ffi_callback::__private::BorrowParam::<
                &u32,
            >::check(b) {
                return ::ffi_callback::__private::refuse_borrow::<
                    ::ffi_callback::__private::policy::Resume,
                    _,
                >(&__FFI_CALLBACK_SITE, "`b`", __ffi_why, __ffi_fallback);
            }
            unsafe {
                ::ffi_callback::__private::thread_local_scope::call_mut::<
                    ::ffi_callback::__private::policy::Resume,
                    F,
                    _,
                    O,
                    _,
                >(
                    __ffi_holder,
                    &__FFI_CALLBACK_SITE,
                    (a, b),
                    |__ffi_closure: &mut F, (a, b)| {
                        let __ffi_conv0 = ::ffi_callback::__private::IntoParam::<
                            Elem,
                        >::into_param(a, &__FFI_CALLBACK_SITE, "`a`");
                        __ffi_closure(
                            __ffi_conv0,
                            ::ffi_callback::__private::BorrowParam::<&u32>::borrow(b),
                        )
                    },
                    ::ffi_callback::__private::fallback_on_error(__ffi_fallback),
                    __ffi_fallback,
                    |(a, b), __ffi_ud| __ffi_call::<F, O>(a, b, __ffi_ud),
                )
            }
        }
        unsafe {
            ::ffi_callback::__private::thread_local_scope::Parking::new(
                &__FFI_CALLBACK_PARKED,
                &__FFI_CALLBACK_SITE,
                __ffi_function,
                __ffi_call::<F, O>,
            )
        }
    }
}
#[allow(dead_code, unused_variables, clippy::all)]
impl Compare<()> {
    #[inline]
    fn __ffi_fallback() -> c_int {
        <c_int as ::ffi_callback::__private::Fallback>::fallback()
    }
}
