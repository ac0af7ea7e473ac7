#[deny(improper_ctypes_definitions)]
#[unsafe(no_mangle)]
#[deny(unsafe_op_in_unsafe_fn)]
extern "C-unwind" fn lua_fn(state: *mut lua_State) -> c_int {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
        name: ::ffi_callback::__private::core::concat!(
            ::ffi_callback::__private::core::module_path!(), "::", "lua_fn"
        ),
    };
    let __ffi_body = move |()| -> c_int {
        let state: *mut lua_State = state;
        { 1 }
    };
    let __ffi_fallback = ::ffi_callback::__private::no_fallback;
    #[allow(unused_unsafe)]
    unsafe {
        ::ffi_callback::__private::call_fn::<
            ::ffi_callback::__private::policy::Unwind,
            (),
            _,
        >(
            &__FFI_CALLBACK_SITE,
            ::ffi_callback::__private::core::ptr::null_mut(),
            __ffi_fallback,
            __ffi_body,
        )
    }
}
