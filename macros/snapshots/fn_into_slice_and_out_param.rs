#[deny(improper_ctypes_definitions)]
///
/// After a panic or a refused call, C receives `if data . is_null() { 0 } else { size * nmemb + 1 }` (`fallback`).
///
/// # Safety
///
/// Made `unsafe` by `#[callback]`: the user data must be null or come from
/// `write::user_data(..)`, which only accepts the type this callback receives, alive and otherwise unused for the duration of the call. It borrows the parameters `data`, `status` (`#[into(&..)]`): a call passes there null or a pointer to what the parameter is borrowed as (for a slice, its `len` elements), valid for the call and not touched by anything else meanwhile (a `&mut` borrow overlapping another of the same call is refused).
/// C calls it on the thread that made the user data (`#[callback(send)]` lets C call it on any thread, checking that what it receives may cross threads).
/// (A binding that needs a safe `extern fn` type opts in with
/// `#[callback(unsafe(safe_fn))]`, promising this for every call.)
#[forbid(unsafe_op_in_unsafe_fn)]
unsafe extern "C" fn write(
    data: *const c_char,
    size: usize,
    nmemb: usize,
    status: *mut c_int,
    sink: *mut ::ffi_callback::__private::core::ffi::c_void,
) -> usize {
    static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::site!(
        write
    );
    static __FFI_CALLBACK_FILTER: ::ffi_callback::__private::PoisonFilter = ::ffi_callback::__private::PoisonFilter::NEW;
    const _: () = ::ffi_callback::__private::slice_of_pointee::<c_char, u8>();
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_write_body(
        #[allow(unused_variables)]
        data: &[u8],
        #[allow(unused_variables)]
        size: usize,
        #[allow(unused_variables)]
        nmemb: usize,
        status: &mut c_int,
        sink: &mut Vec<u8>,
    ) -> usize {
        sink.extend_from_slice(data);
        *status = 0;
        data.len()
    }
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_write_len0(
        #[allow(unused_variables)]
        size: usize,
        #[allow(unused_variables)]
        nmemb: usize,
    ) -> usize {
        size * nmemb
    }
    #[inline(always)]
    #[allow(
        clippy::inline_always,
        clippy::too_many_arguments,
        clippy::boxed_local,
        clippy::needless_pass_by_value
    )]
    fn __ffi_callback_write_fallback(
        #[allow(unused_variables)]
        data: *const c_char,
        #[allow(unused_variables)]
        size: usize,
        #[allow(unused_variables)]
        nmemb: usize,
    ) -> usize {
        if data.is_null() { 0 } else { size * nmemb + 1 }
    }
    let __ffi_fallback = || __ffi_callback_write_fallback(data, size, nmemb);
    let __ffi_on_error = ::ffi_callback::__private::no_error;
    let __ffi_len0 = move || __ffi_callback_write_len0(size, nmemb);
    unsafe {
        ::ffi_callback::__private::call_fn::<
            ::ffi_callback::__private::policy::Resume,
            &mut Vec<u8>,
            _,
            _,
        >(
            move |sink| {
                ::ffi_callback::__private::shared_across_threads::<&[u8]>();
                ::ffi_callback::__private::shared_across_threads::<&mut c_int>();
                let __ffi_n0: usize = __ffi_len0();
                ::ffi_callback::__private::check_disjoint(
                    &__FFI_CALLBACK_SITE,
                    (
                        "`status`",
                        ::ffi_callback::__private::BorrowParam::<
                            &mut c_int,
                        >::extent(status),
                    ),
                    (
                        "`data`",
                        ::ffi_callback::__private::BorrowSlice::<
                            &[u8],
                        >::extent(data, __ffi_n0),
                    ),
                );
                __ffi_callback_write_body(
                    ::ffi_callback::__private::BorrowSlice::<
                        &[u8],
                    >::borrow_slice(data, __ffi_n0, &__FFI_CALLBACK_SITE, "`data`"),
                    size,
                    nmemb,
                    ::ffi_callback::__private::BorrowParam::<
                        &mut c_int,
                    >::borrow_checked(status, &__FFI_CALLBACK_SITE, "`status`"),
                    sink,
                )
            },
            <*mut ::ffi_callback::__private::core::ffi::c_void as ::ffi_callback::__private::UserDataSlot>::into_ptr(
                sink,
            ),
            __ffi_on_error,
            __ffi_fallback,
            &__FFI_CALLBACK_SITE,
            &__FFI_CALLBACK_FILTER,
        )
    }
}
/// The typed user data of the callback [`write`](fn@write): `write::user_data(..)` makes the value to pass to C with it.
#[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
enum write {}
#[allow(dead_code, private_interfaces, private_bounds)]
impl write {
    /// The C-side user data for [`write`](fn@write), made from the value it receives: keep that value alive and unused for as long as C may call back with it.
    #[inline]
    pub fn user_data(
        value: &mut Vec<u8>,
    ) -> *mut ::ffi_callback::__private::core::ffi::c_void {
        <*mut ::ffi_callback::__private::core::ffi::c_void as ::ffi_callback::__private::UserDataSlot>::from_ptr(
            <&mut Vec<u8> as ::ffi_callback::__private::UserDataParam>::into_ptr(value),
        )
    }
}
