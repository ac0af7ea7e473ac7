#[deny(improper_ctypes_definitions)]
#[unsafe(no_mangle)]
#[forbid(unsafe_op_in_unsafe_fn)]
extern "C-unwind" fn lua_fn(state: *mut lua_State) -> c_int {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
        lua_fn
    );
    static __FFI_CALLBACK_FILTER: ::ffi_callback::__private::PoisonFilter = ::ffi_callback::__private::PoisonFilter::NEW;
    #[allow(clippy::boxed_local, clippy::needless_pass_by_value)]
    let __ffi_callback_lua_fn_body = |state: *mut lua_State| -> c_int { 1 };
    let __ffi_fallback = ::ffi_callback::__private::no_fallback::<c_int>
        as fn() -> c_int;
    let __ffi_on_error = ::ffi_callback::__private::no_error;
    unsafe {
        ::ffi_callback::__private::call_fn::<
            ::ffi_callback::__private::policy::Unwind,
            (),
            _,
            _,
        >(
            move |()| __ffi_callback_lua_fn_body(state),
            ::ffi_callback::__private::core::ptr::null_mut(),
            __ffi_on_error,
            __ffi_fallback,
            &__FFI_CALLBACK_SITE,
            &__FFI_CALLBACK_FILTER,
        )
    }
}
