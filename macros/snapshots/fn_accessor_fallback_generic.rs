#[deny(improper_ctypes_definitions)]
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: the user data must be null or come from
/// `ffi_callback::user_data`, `user_data_ref` or `user_data_box` for a value of the
/// type the callback receives, alive and otherwise unused for the duration of the call.
#[deny(unsafe_op_in_unsafe_fn)]
unsafe extern "C" fn call<T: Ord>(
    ctx: *mut sqlite3_context,
    __ffi_arg1: (i32, i32),
) -> c_int {
    static __FFI_CALLBACK_SITE: ::my::ffi_callback::__private::Site = ::my::ffi_callback::__private::Site {
        name: ::my::ffi_callback::__private::core::concat!(
            ::my::ffi_callback::__private::core::module_path!(), "::", "call"
        ),
    };
    let _ = <&T as ::my::ffi_callback::__private::UserDataParam>::NON_NULL;
    let __ffi_body = move |state: &T| -> c_int {
        #[allow(unused_variables)]
        let ctx: *mut sqlite3_context = ctx;
        let (a, b): (i32, i32) = __ffi_arg1;
        { 0 }
    };
    let __ffi_fallback = || -1;
    #[allow(unused_unsafe)]
    unsafe {
        ::my::ffi_callback::__private::call_fn_fetch::<
            ::my::ffi_callback::__private::policy::Resume,
            &T,
            _,
        >(
            &__FFI_CALLBACK_SITE,
            || ::my::ffi_callback::__private::UserDataSlot::into_ptr(
                #[allow(unused_unsafe)]
                unsafe { sqlite3_user_data(ctx) },
            ),
            __ffi_fallback,
            __ffi_body,
        )
    }
}
