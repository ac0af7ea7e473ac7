#[deny(improper_ctypes_definitions)]
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: its `user_data = EXPR` must give null or a pointer
/// made by `counter::user_data(..)`, which only accepts the type this callback receives, still alive and otherwise unused for the call.
/// C calls it on the thread that made the user data (`#[callback(send)]` lets C call it on any thread, checking that what it receives may cross threads).
#[forbid(unsafe_op_in_unsafe_fn)]
unsafe extern "C-unwind" fn counter(l: *mut lua_State) -> c_int {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
        counter
    );
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_counter_body(
        #[allow(unused_variables)]
        l: *mut lua_State,
        state: &State,
    ) -> Result<c_int, String> {
        Ok(0)
    }
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_counter_user_data(
        #[allow(unused_variables)]
        l: *mut lua_State,
    ) -> *mut ::ffi_callback::__private::core::ffi::c_void {
        <_ as ::ffi_callback::__private::FetchedUserData<
            &State,
        >>::into_user_data_ptr(unsafe { lua_touserdata(l, lua_upvalueindex(1)) })
    }
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_counter_on_raise(
        #[allow(unused_variables)]
        failure: ::ffi_callback::Failure<'_, String>,
        #[allow(unused_variables)]
        l: *mut lua_State,
    ) {
        unsafe { push_message(l, &failure.message()) };
    }
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_counter_raise(#[allow(unused_variables)] l: *mut lua_State) {
        unsafe { lua_error(l) };
    }
    #[allow(unused_variables)]
    let __ffi_on_raise = |__ffi_failure: ::ffi_callback::Failure<'_, String>| {
        __ffi_callback_counter_on_raise(__ffi_failure, l);
    };
    let __ffi_fetch = || __ffi_callback_counter_user_data(l);
    let __ffi_result = unsafe {
        ::ffi_callback::__private::raise::call_fn_fetch_raising::<
            &State,
            _,
            _,
            _,
        >(
            &__FFI_CALLBACK_SITE,
            __ffi_fetch,
            move |state| __ffi_callback_counter_body(l, state),
            __ffi_on_raise,
        )
    };
    match __ffi_result {
        ::ffi_callback::__private::core::result::Result::Ok(__ffi_value) => __ffi_value,
        ::ffi_callback::__private::core::result::Result::Err(_) => {
            __ffi_callback_counter_raise(l);
            ::ffi_callback::__private::raise::raise_returned(&__FFI_CALLBACK_SITE)
        }
    }
}
/// The typed user data of the callback [`counter`](fn@counter): `counter::user_data(..)` makes the value to pass to C with it.
#[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
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
