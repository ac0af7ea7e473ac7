#[deny(improper_ctypes_definitions)]
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: its `user_data = EXPR` must give null or a pointer
/// made by `counter::user_data(..)`, which only accepts the type this callback receives, still alive and otherwise unused for the call.
#[forbid(unsafe_op_in_unsafe_fn)]
unsafe extern "C-unwind" fn counter(l: *mut lua_State) -> c_int {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
        counter
    );
    #[allow(unused_variables)]
    let __ffi_on_raise = |failure: ::ffi_callback::Failure<'_, String>| {
        unsafe { push_message(l, &failure.message()) };
    };
    let __ffi_fetch = || unsafe { lua_touserdata(l, lua_upvalueindex(1)) };
    let __ffi_body = move |state: &State| -> Result<c_int, String> {
        #[allow(unused_variables)]
        let l: *mut lua_State = l;
        { Ok(0) }
    };
    let result = unsafe {
        ::ffi_callback::__private::raise::call_fn_fetch_raising::<
            &State,
            _,
            _,
            _,
        >(&__FFI_CALLBACK_SITE, __ffi_fetch, __ffi_body, __ffi_on_raise)
    };
    match result {
        ::ffi_callback::__private::core::result::Result::Ok(value) => value,
        #[allow(unreachable_code)]
        ::ffi_callback::__private::core::result::Result::Err(_) => {
            unsafe { lua_error(l) };
            ::ffi_callback::__private::raise::raise_returned(&__FFI_CALLBACK_SITE)
        }
    }
}
/// The typed user data of the callback [`counter`](fn@counter): `counter::user_data(..)` makes the value to pass to C with it.
#[allow(non_camel_case_types, dead_code)]
enum counter {}
#[allow(dead_code, private_interfaces, private_bounds)]
impl counter {
    /// The C-side user data for [`counter`](fn@counter), made from the value it receives: keep that value alive and unused for as long as C may call back with it.
    #[inline]
    pub fn user_data(
        value: &State,
    ) -> *mut ::ffi_callback::__private::core::ffi::c_void {
        <*mut ::ffi_callback::__private::core::ffi::c_void as ::ffi_callback::__private::UserDataSlot>::from_ptr(
            <&State as ::ffi_callback::__private::UserDataParam>::into_ptr(value),
        )
    }
}
