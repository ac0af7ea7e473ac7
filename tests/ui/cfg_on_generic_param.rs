// A `#[cfg]` on a generic parameter is refused on the attribute: the
// expansion names the generic parameters where no condition can go.
use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
extern "C" fn cb<#[cfg(any())] T, U: Default + Into<c_int>>(n: c_int, #[user_data] s: &mut U) -> c_int {
    n + std::mem::take(s).into()
}

#[callback]
type Visit<#[cfg_attr(all(), allow(unused))] T> = unsafe extern "C" fn(item: *const T, #[user_data] ud: *mut std::ffi::c_void);

fn main() {}
