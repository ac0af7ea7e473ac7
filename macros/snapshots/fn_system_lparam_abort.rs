#[deny(improper_ctypes_definitions)]
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: the user data must be null or come from
/// `ffi_callback::user_data`, `user_data_ref` or `user_data_box` for a value of the
/// type the callback receives, alive and otherwise unused for the duration of the call.
#[deny(unsafe_op_in_unsafe_fn)]
unsafe extern "system" fn enum_proc(hwnd: HWND, found: LPARAM) -> BOOL {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
        name: ::ffi_callback::__private::core::concat!(
            ::ffi_callback::__private::core::module_path!(), "::", "enum_proc"
        ),
    };
    let _ = <&mut Vec<HWND> as ::ffi_callback::__private::UserDataParam>::NON_NULL;
    let __ffi_body = move |found: &mut Vec<HWND>| -> BOOL {
        let hwnd: HWND = hwnd;
        {
            found.push(hwnd);
            TRUE
        }
    };
    let __ffi_fallback = ::ffi_callback::__private::no_fallback;
    #[allow(unused_unsafe)]
    unsafe {
        ::ffi_callback::__private::call_fn::<
            ::ffi_callback::__private::policy::Abort,
            &mut Vec<HWND>,
            _,
        >(
            &__FFI_CALLBACK_SITE,
            <LPARAM as ::ffi_callback::__private::UserDataSlot>::into_ptr(found),
            __ffi_fallback,
            __ffi_body,
        )
    }
}
