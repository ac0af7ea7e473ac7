#[deny(improper_ctypes_definitions)]
/// Collects loaded objects.
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: the user data must be null or come from
/// `ffi_callback::user_data`, `user_data_ref` or `user_data_box` for a value of the
/// type the callback receives, alive and otherwise unused for the duration of the call.
#[deny(unsafe_op_in_unsafe_fn)]
pub unsafe extern "C" fn collect(
    info: *mut dl_phdr_info,
    size: usize,
    names: *mut ::ffi_callback::__private::core::ffi::c_void,
) -> c_int {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
        name: ::ffi_callback::__private::core::concat!(
            ::ffi_callback::__private::core::module_path!(), "::", "collect"
        ),
    };
    let _ = <&mut Vec<String> as ::ffi_callback::__private::UserDataParam>::NON_NULL;
    let __ffi_body = move |names: &mut Vec<String>| -> c_int {
        let info: *mut dl_phdr_info = info;
        let size: usize = size;
        {
            names.push(String::new());
            0
        }
    };
    let __ffi_fallback = || <c_int as ::ffi_callback::__private::Fallback>::fallback();
    #[allow(unused_unsafe)]
    unsafe {
        ::ffi_callback::__private::call_fn::<
            ::ffi_callback::__private::policy::Resume,
            &mut Vec<String>,
            _,
        >(
            &__FFI_CALLBACK_SITE,
            <*mut ::ffi_callback::__private::core::ffi::c_void as ::ffi_callback::__private::UserDataSlot>::into_ptr(
                names,
            ),
            __ffi_fallback,
            __ffi_body,
        )
    }
}
