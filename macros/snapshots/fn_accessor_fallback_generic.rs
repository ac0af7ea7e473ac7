#[deny(improper_ctypes_definitions)]
///
/// After a panic or a refused call, C receives `-1` (`fallback`).
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: its `user_data = EXPR` must give null or a pointer
/// made by `call::user_data::<..>(..)` with the same generic arguments as the `call::<..>` handed to C (the compiler does not check that they match), still alive and otherwise unused for the call.
/// C calls it on the thread that made the user data (`#[callback(send)]` lets C call it on any thread, checking that what it receives may cross threads).
#[forbid(unsafe_op_in_unsafe_fn)]
unsafe extern "C" fn call<T: Ord>(
    ctx: *mut sqlite3_context,
    __ffi_arg1: (i32, i32),
) -> c_int {
    static __FFI_CALLBACK_SITE: ::my::ffi_callback::__private::Site = ::my::ffi_callback::__private::site!(
        call
    );
    static __FFI_CALLBACK_FILTER: ::my::ffi_callback::__private::PoisonFilter = ::my::ffi_callback::__private::PoisonFilter::NEW;
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_call_body<T: Ord>(
        #[allow(unused_variables)]
        ctx: *mut sqlite3_context,
        (a, b): (i32, i32),
        state: &T,
    ) -> c_int {
        0
    }
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_call_fallback<T: Ord>() -> c_int {
        -1
    }
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_call_user_data<T: Ord>(
        #[allow(unused_variables)]
        ctx: *mut sqlite3_context,
    ) -> *mut ::my::ffi_callback::__private::core::ffi::c_void {
        <_ as ::my::ffi_callback::__private::FetchedUserData<
            &T,
        >>::into_user_data_ptr(sqlite3_user_data(ctx))
    }
    let __ffi_fallback = || __ffi_callback_call_fallback::<T>();
    let __ffi_on_error = ::my::ffi_callback::__private::no_error;
    let __ffi_fetch = || __ffi_callback_call_user_data::<T>(ctx);
    unsafe {
        ::my::ffi_callback::__private::call_fn_fetch::<
            ::my::ffi_callback::__private::policy::Resume,
            &T,
            _,
            _,
            _,
        >(
            __ffi_fetch,
            move |state| __ffi_callback_call_body::<T>(ctx, __ffi_arg1, state),
            __ffi_on_error,
            __ffi_fallback,
            &__FFI_CALLBACK_SITE,
            &__FFI_CALLBACK_FILTER,
        )
    }
}
/// The typed user data of the callback [`call`](fn@call): `call::user_data(..)` makes the value to pass to C with it.
#[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
enum call {}
#[allow(dead_code, private_interfaces, private_bounds)]
impl call {
    /// The C-side user data for [`call`](fn@call), made from the value it receives: keep that value alive and unused for as long as C may call back with it. Give it the generic arguments of the `call::<..>` handed to C: nothing ties the two together.
    #[inline]
    pub fn user_data<T: Ord>(
        value: &T,
    ) -> *mut ::my::ffi_callback::__private::core::ffi::c_void {
        <*mut ::my::ffi_callback::__private::core::ffi::c_void as ::my::ffi_callback::__private::UserDataSlot>::from_ptr(
            <&T as ::my::ffi_callback::__private::UserDataParam>::into_ptr(value),
        )
    }
}
