#[deny(improper_ctypes_definitions)]
/// Collects loaded objects.
///
/// After a panic or a refused call, C receives `c_int`'s `Fallback` value (zero, null, `false` or `None`).
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: the user data must be null or come from
/// `collect::user_data(..)`, which only accepts the type this callback receives, alive and otherwise unused for the duration of the call.
/// C calls it on the thread that made the user data (`#[callback(send)]` lets C call it on any thread, checking that what it receives may cross threads).
/// (A binding that needs a safe `extern fn` type opts in with
/// `#[callback(unsafe(safe_fn))]`, promising this for every call.)
#[forbid(unsafe_op_in_unsafe_fn)]
pub unsafe extern "C" fn collect(
    info: *mut dl_phdr_info,
    size: usize,
    names: *mut ::ffi_callback::__private::core::ffi::c_void,
) -> c_int {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
        collect
    );
    static __FFI_CALLBACK_FILTER: ::ffi_callback::__private::PoisonFilter = ::ffi_callback::__private::PoisonFilter::NEW;
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_collect_body(
        info: *mut dl_phdr_info,
        size: usize,
        names: &mut Vec<String>,
    ) -> c_int {
        names.push(String::new());
        0
    }
    let __ffi_fallback = <c_int as ::ffi_callback::__private::Fallback>::fallback
        as fn() -> c_int;
    let __ffi_on_error = ::ffi_callback::__private::no_error;
    unsafe {
        ::ffi_callback::__private::call_fn::<
            ::ffi_callback::__private::policy::Resume,
            &mut Vec<String>,
            _,
            _,
        >(
            move |names| __ffi_callback_collect_body(info, size, names),
            <*mut ::ffi_callback::__private::core::ffi::c_void as ::ffi_callback::__private::UserDataSlot>::into_ptr(
                names,
            ),
            __ffi_on_error,
            __ffi_fallback,
            &__FFI_CALLBACK_SITE,
            &__FFI_CALLBACK_FILTER,
        )
    }
}
/// The typed user data of the callback [`collect`](fn@collect): `collect::user_data(..)` makes the value to pass to C with it.
#[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
pub enum collect {}
#[allow(dead_code, private_interfaces, private_bounds)]
impl collect {
    /// The C-side user data for [`collect`](fn@collect), made from the value it receives: keep that value alive and unused for as long as C may call back with it.
    #[inline]
    pub fn user_data(
        value: &mut Vec<String>,
    ) -> *mut ::ffi_callback::__private::core::ffi::c_void {
        <*mut ::ffi_callback::__private::core::ffi::c_void as ::ffi_callback::__private::UserDataSlot>::from_ptr(
            <&mut Vec<
                String,
            > as ::ffi_callback::__private::UserDataParam>::into_ptr(value),
        )
    }
}
