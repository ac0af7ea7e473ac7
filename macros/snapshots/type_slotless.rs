///
/// `#[callback]` holder: C callbacks without user data, so only capture-free for closures `Fn(*const c_void, *const c_void) -> c_int`. See the `ffi_callback` crate docs for each constructor.
struct Compare<F> {
    closure: F,
}
impl<F> ::ffi_callback::__private::core::fmt::Debug for Compare<F> {
    fn fmt(
        &self,
        f: &mut ::ffi_callback::__private::core::fmt::Formatter<'_>,
    ) -> ::ffi_callback::__private::core::fmt::Result {
        f.debug_struct("Compare").finish_non_exhaustive()
    }
}
#[allow(dead_code)]
impl<F> Compare<F> {
    /// Holds the capture-free closure `f`; pass
    /// [`function`](Self::function) to C. (A type without a
    /// user-data slot has nowhere to carry captures, so `f` must be
    /// zero-sized.)
    #[inline]
    pub fn new(f: F) -> Self
    where
        F: ::ffi_callback::__private::core::ops::Fn(
                *const c_void,
                *const c_void,
            ) -> c_int + ::ffi_callback::__private::NoCaptures,
    {
        ::ffi_callback::__private::require_zero_sized::<F>();
        Self { closure: f }
    }
    /// The trampoline to pass to C.
    #[inline]
    pub fn function(
        &self,
    ) -> unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int
    where
        F: ::ffi_callback::__private::core::ops::Fn(
                *const c_void,
                *const c_void,
            ) -> c_int + ::ffi_callback::__private::NoCaptures,
    {
        Self::__ffi_trampoline
    }
    /// Runs `call` with the trampoline for `f`. A panic in `f` is
    /// carried past the C code and resumed when `call` returns
    /// (with `on_panic = resume`).
    #[inline]
    pub fn scope<T>(
        f: F,
        call: impl ::ffi_callback::__private::core::ops::FnOnce(
            unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int,
        ) -> T,
    ) -> T
    where
        F: ::ffi_callback::__private::core::ops::Fn(
                *const c_void,
                *const c_void,
            ) -> c_int + ::ffi_callback::__private::NoCaptures,
    {
        let holder = Self::new(f);
        ::ffi_callback::__private::resume_panics(|| call(holder.function()))
    }
    /// The closure back.
    #[inline]
    pub fn into_inner(self) -> F {
        self.closure
    }
    #[deny(improper_ctypes_definitions)]
    unsafe extern "C" fn __ffi_trampoline(a: *const c_void, b: *const c_void) -> c_int
    where
        F: ::ffi_callback::__private::core::ops::Fn(
                *const c_void,
                *const c_void,
            ) -> c_int + ::ffi_callback::__private::NoCaptures,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "Compare"
            ),
        };
        let __ffi_fallback = || <c_int as ::ffi_callback::__private::Fallback>::fallback();
        #[allow(unused_unsafe)]
        unsafe {
            ::ffi_callback::__private::call_fn::<
                ::ffi_callback::__private::policy::Resume,
                (),
                _,
            >(
                &__FFI_CALLBACK_SITE,
                ::ffi_callback::__private::core::ptr::null_mut(),
                __ffi_fallback,
                move |()| {
                    let __ffi_closure: &F = ::ffi_callback::__private::conjure_zero_sized::<
                        F,
                    >();
                    __ffi_closure(a, b)
                },
            )
        }
    }
}
