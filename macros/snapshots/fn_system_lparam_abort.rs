#[deny(improper_ctypes_definitions)]
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: the user data must be null or come from
/// `enum_proc::user_data(..)`, which only accepts the type this callback receives, alive and otherwise unused for the duration of the call.
/// C calls it on the thread that made the user data (`#[callback(send)]` lets C call it on any thread, checking that what it receives may cross threads).
/// (A binding that needs a safe `extern fn` type opts in with
/// `#[callback(unsafe(safe_fn))]`, promising this for every call.)
#[forbid(unsafe_op_in_unsafe_fn)]
unsafe extern "system" fn enum_proc(hwnd: HWND, found: LPARAM) -> BOOL {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
        enum_proc
    );
    static __FFI_CALLBACK_FILTER: ::ffi_callback::__private::PoisonFilter = ::ffi_callback::__private::PoisonFilter::NEW;
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_enum_proc_body(hwnd: HWND, found: &mut Vec<HWND>) -> BOOL {
        found.push(hwnd);
        TRUE
    }
    let __ffi_fallback = ::ffi_callback::__private::no_fallback::<BOOL> as fn() -> BOOL;
    let __ffi_on_error = ::ffi_callback::__private::no_error;
    unsafe {
        ::ffi_callback::__private::call_fn::<
            ::ffi_callback::__private::policy::Abort,
            &mut Vec<HWND>,
            _,
            _,
        >(
            move |found| __ffi_callback_enum_proc_body(hwnd, found),
            <LPARAM as ::ffi_callback::__private::UserDataSlot>::into_ptr(found),
            __ffi_on_error,
            __ffi_fallback,
            &__FFI_CALLBACK_SITE,
            &__FFI_CALLBACK_FILTER,
        )
    }
}
/// The typed user data of the callback [`enum_proc`](fn@enum_proc): `enum_proc::user_data(..)` makes the value to pass to C with it.
#[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
enum enum_proc {}
#[allow(dead_code, private_interfaces, private_bounds)]
impl enum_proc {
    /// The C-side user data for [`enum_proc`](fn@enum_proc), made from the value it receives: keep that value alive and unused for as long as C may call back with it.
    #[inline]
    pub fn user_data(value: &mut Vec<HWND>) -> LPARAM {
        <LPARAM as ::ffi_callback::__private::UserDataSlot>::from_ptr(
            <&mut Vec<HWND> as ::ffi_callback::__private::UserDataParam>::into_ptr(value),
        )
    }
}
