/// The C function-pointer type of [`ExecRow`], as declared: what its `function()` returns.
pub type ExecRowFn = unsafe extern "C" fn(
    arg: *mut c_void,
    n: c_int,
    values: *mut *mut c_char,
    names: *mut *mut c_char,
) -> c_int;
/// One row of `sqlite3_exec`.
///
/// `#[callback]` holder: borrowed (`new`, `scope`, `scope_once`) or owned (`boxed`, `once`) C callbacks for closures `FnMut(c_int, *mut *mut c_char, *mut *mut c_char) -> c_int` (or returning `Result<_, E>`). The C library calls it on the caller's thread, never re-entered. After a panic or a refused call, C receives `1`. The C function-pointer type is [`ExecRowFn`]; see the `ffi_callback` crate docs for each constructor.
pub struct ExecRow<F> {
    lent: ::ffi_callback::__private::lend::Lent<
        F,
        ::ffi_callback::__private::threading::CallerThread,
        ExecRowFn,
    >,
}
impl<F> ::ffi_callback::__private::core::fmt::Debug for ExecRow<F> {
    fn fmt(
        &self,
        __ffi_formatter: &mut ::ffi_callback::__private::core::fmt::Formatter<'_>,
    ) -> ::ffi_callback::__private::core::fmt::Result {
        __ffi_formatter.debug_struct("ExecRow").finish_non_exhaustive()
    }
}
unsafe impl<F> ::ffi_callback::__private::CallbackType for ExecRow<F> {
    type Function = ExecRowFn;
    type UserData = *mut c_void;
    type Destroy = unsafe extern "C" fn(*mut c_void);
    type Closure = F;
    type Threading = ::ffi_callback::__private::threading::CallerThread;
    type Policy = ::ffi_callback::__private::policy::Resume;
    const SITE: &'static ::ffi_callback::__private::Site = &::ffi_callback::__private::site!(
        ExecRow
    );
}
unsafe impl<F, O> ::ffi_callback::__private::Trampoline<O> for ExecRow<F>
where
    F: ::ffi_callback::__private::FnMut(c_int, *mut *mut c_char, *mut *mut c_char) -> O,
    O: ::ffi_callback::__private::CallbackReturn<c_int>,
{
    #[inline]
    unsafe fn trampoline<const LENT: bool>() -> <Self as ::ffi_callback::__private::CallbackType>::Function {
        use ::ffi_callback::__private as __ffi;
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        #[inline(never)]
        unsafe extern "C" fn trampoline<F, O, const LENT: bool>(
            arg: *mut c_void,
            n: c_int,
            values: *mut *mut c_char,
            names: *mut *mut c_char,
        ) -> c_int
        where
            F: __ffi::FnMut(c_int, *mut *mut c_char, *mut *mut c_char) -> O,
            O: __ffi::CallbackReturn<c_int>,
        {
            let __ffi_fallback = ExecRow::<()>::__ffi_fallback as fn() -> c_int;
            unsafe {
                __ffi::call_mut::<
                    ExecRow<F>,
                    _,
                    O,
                    _,
                    LENT,
                >(
                    arg,
                    (n, values, names),
                    |f: &mut F, (n, values, names)| f(n, values, names),
                    __ffi::fallback_on_error(__ffi_fallback),
                    __ffi_fallback,
                    |(n, values, names), __ffi_ud| trampoline::<
                        F,
                        O,
                        LENT,
                    >(__ffi_ud, n, values, names),
                )
            }
        }
        trampoline::<F, O, LENT>
    }
}
unsafe impl<F, O> ::ffi_callback::__private::OnceTrampoline<O> for ExecRow<F>
where
    F: ::ffi_callback::__private::FnOnce(c_int, *mut *mut c_char, *mut *mut c_char) -> O,
    O: ::ffi_callback::__private::CallbackReturn<c_int>,
{
    #[inline]
    unsafe fn trampoline() -> <Self as ::ffi_callback::__private::CallbackType>::Function {
        use ::ffi_callback::__private as __ffi;
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        unsafe extern "C" fn trampoline<F, O>(
            arg: *mut c_void,
            n: c_int,
            values: *mut *mut c_char,
            names: *mut *mut c_char,
        ) -> c_int
        where
            F: __ffi::FnOnce(c_int, *mut *mut c_char, *mut *mut c_char) -> O,
            O: __ffi::CallbackReturn<c_int>,
        {
            let __ffi_fallback = ExecRow::<()>::__ffi_fallback as fn() -> c_int;
            unsafe {
                __ffi::call_once::<
                    ExecRow<F>,
                    O,
                    _,
                >(
                    arg,
                    move |f: F| f(n, values, names),
                    __ffi::fallback_on_error(__ffi_fallback),
                    __ffi_fallback,
                )
            }
        }
        trampoline::<F, O>
    }
}
#[allow(dead_code)]
impl<F> ExecRow<F> {
    /// Holds `f` for C: pass [`function`](Self::function) and
    /// [`user_data`](Self::user_data), and keep the holder alive and
    /// unmoved while C may call it, and end it where it lies (out of
    /// scope: `drop(holder)` moves it first); [`scope`](Self::scope)
    /// does it all.
    #[inline]
    pub fn new<O>(f: F) -> Self
    where
        Self: ::ffi_callback::__private::Trampoline<O>,
    {
        Self {
            lent: unsafe {
                ::ffi_callback::__private::lend::Lent::new(
                    f,
                    <Self as ::ffi_callback::__private::Trampoline<
                        O,
                    >>::trampoline::<true>(),
                    <Self as ::ffi_callback::__private::CallbackType>::SITE,
                )
            },
        }
    }
    /// The trampoline to pass to C with [`user_data`](Self::user_data).
    #[inline]
    pub fn function(&self) -> ExecRowFn {
        self.lent.function()
    }
    /// The user data to pass to C: a pointer to this holder.
    #[inline]
    pub fn user_data(&self) -> *mut c_void {
        <*mut c_void as ::ffi_callback::__private::UserDataSlot>::from_ptr(
            self.lent.as_ptr(),
        )
    }
    /// Runs `call` with the trampoline and user data for `f`, which
    /// C may call until `call` returns; a kept panic is resumed then.
    #[inline]
    pub fn scope<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(ExecRowFn, *mut c_void) -> T,
    ) -> T
    where
        Self: ::ffi_callback::__private::Trampoline<O>,
    {
        ::ffi_callback::__private::lend::scope::<Self, O, T>(f, call)
    }
    /// [`scope`](Self::scope) that also returns the first `Err` of
    /// a closure returning `Result<_, E>`.
    #[inline]
    pub fn try_scope<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(ExecRowFn, *mut c_void) -> T,
    ) -> ::ffi_callback::__private::core::result::Result<
        T,
        <O as ::ffi_callback::__private::CallbackReturn<c_int>>::Error,
    >
    where
        Self: ::ffi_callback::__private::Trampoline<O>,
        O: ::ffi_callback::__private::CallbackReturn<c_int>,
    {
        ::ffi_callback::__private::lend::try_scope::<
            Self,
            O,
            T,
            <O as ::ffi_callback::__private::CallbackReturn<c_int>>::Error,
        >(f, call)
    }
    /// Boxes `f` for a C library that keeps the callback: with a
    /// destroy-notify, hand it over (`into_raw()`); without one, keep
    /// the `Boxed` and pass its `function()` and `user_data()`.
    #[inline]
    pub fn boxed<O>(f: F) -> ::ffi_callback::Boxed<Self>
    where
        Self: ::ffi_callback::__private::Trampoline<O>,
        F: 'static,
    {
        unsafe {
            let __ffi_function = <Self as ::ffi_callback::__private::Trampoline<
                O,
            >>::trampoline::<false>();
            ::ffi_callback::Boxed::<
                Self,
            >::from_closure(f, __ffi_function, Self::__ffi_destroy)
        }
    }
    /// Boxes the `FnOnce` `f` for a C library that calls it once:
    /// `into_raw()`, or `into_raw_with_destroy()` when a
    /// destroy-notify follows.
    #[inline]
    pub fn once<O>(f: F) -> ::ffi_callback::Once<Self>
    where
        Self: ::ffi_callback::__private::OnceTrampoline<O>,
        F: 'static,
    {
        unsafe {
            let __ffi_function = <Self as ::ffi_callback::__private::OnceTrampoline<
                O,
            >>::trampoline();
            ::ffi_callback::Once::<
                Self,
            >::from_closure(f, __ffi_function, Self::__ffi_destroy_once)
        }
    }
    /// [`scope`](Self::scope) for the `FnOnce` `f`, which C may call
    /// at most once (a second call is refused).
    #[inline]
    pub fn scope_once<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(ExecRowFn, *mut c_void) -> T,
    ) -> T
    where
        Self: ::ffi_callback::__private::OnceTrampoline<O>,
    {
        ::ffi_callback::__private::lend::scope_once::<Self, O, T>(f, call)
    }
    /// The closure back.
    #[inline]
    pub fn into_inner(self) -> F {
        self.lent.into_inner()
    }
    unsafe extern "C" fn __ffi_destroy(__ffi_user_data: *mut c_void) {
        unsafe { ::ffi_callback::__private::destroy::<Self>(__ffi_user_data) }
    }
    unsafe extern "C" fn __ffi_destroy_once(__ffi_user_data: *mut c_void) {
        unsafe { ::ffi_callback::__private::destroy_once::<Self>(__ffi_user_data) }
    }
}
#[allow(dead_code, unused_variables, clippy::all)]
impl ExecRow<()> {
    #[inline]
    fn __ffi_fallback() -> c_int {
        1
    }
}
