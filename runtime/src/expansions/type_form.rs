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
pub type ExecRow<F> = ::ffi_callback::Callback<F, __ffi_ExecRow::ExecRow>;
#[doc(hidden)]
#[allow(non_snake_case, unreachable_pub)]
pub mod __ffi_ExecRow {
    /// The marker of the `#[callback]` type of this name.
    #[allow(missing_debug_implementations)]
    pub enum ExecRow {}
}
unsafe impl ::ffi_callback::__private::CallbackKind for __ffi_ExecRow::ExecRow {
    type Function = ExecRowFn;
    type UserData = *mut c_void;
    type Destroy = unsafe extern "C" fn(*mut c_void);
    type Threading = ::ffi_callback::__private::threading::CallerThread;
    type Policy = ::ffi_callback::__private::policy::Resume;
    const SITE: &'static ::ffi_callback::__private::Site = &::ffi_callback::__private::site!(
        ExecRow
    );
    const NAME: &'static str = "ExecRow";
    #[inline]
    fn destroy<F, const ONCE: bool>() -> Self::Destroy {
        unsafe extern "C" fn __ffi_destroy<F, const ONCE: bool>(
            __ffi_user_data: *mut c_void,
        ) {
            unsafe {
                if ONCE {
                    ::ffi_callback::__private::destroy_once::<
                        ExecRow<F>,
                    >(__ffi_user_data)
                } else {
                    ::ffi_callback::__private::destroy::<ExecRow<F>>(__ffi_user_data)
                }
            }
        }
        __ffi_destroy::<F, ONCE>
    }
}
unsafe impl<F, O> ::ffi_callback::__private::KindTrampoline<F, O>
for __ffi_ExecRow::ExecRow
where
    F: ::ffi_callback::__private::FnMut(c_int, *mut *mut c_char, *mut *mut c_char) -> O,
    O: ::ffi_callback::__private::CallbackReturn<c_int>,
{
    type Error = <O as ::ffi_callback::__private::CallbackReturn<c_int>>::Error;
    #[inline]
    unsafe fn trampoline<const LENT: bool>() -> <Self as ::ffi_callback::__private::CallbackKind>::Function {
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
            let __ffi_fallback = __ffi_ExecRow::ExecRow::__ffi_fallback as fn() -> c_int;
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
                    (|(n, values, names), __ffi_ud| trampoline::<
                        F,
                        O,
                        LENT,
                    >(__ffi_ud, n, values, names)) as fn(_, _) -> _,
                )
            }
        }
        trampoline::<F, O, LENT>
    }
}
unsafe impl<F, O> ::ffi_callback::__private::KindOnceTrampoline<F, O>
for __ffi_ExecRow::ExecRow
where
    F: ::ffi_callback::__private::FnOnce(c_int, *mut *mut c_char, *mut *mut c_char) -> O,
    O: ::ffi_callback::__private::CallbackReturn<c_int>,
{
    #[inline]
    unsafe fn trampoline() -> <Self as ::ffi_callback::__private::CallbackKind>::Function {
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
            let __ffi_fallback = __ffi_ExecRow::ExecRow::__ffi_fallback as fn() -> c_int;
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
#[allow(dead_code, unused_variables, clippy::all)]
impl __ffi_ExecRow::ExecRow {
    #[inline]
    fn __ffi_fallback() -> c_int {
        1
    }
}
