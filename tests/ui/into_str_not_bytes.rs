use ffi_callback::callback;
use std::ffi::{c_int, c_void};

/// `&str` only from a pointer to bytes (`c_char`, `u8`, `i8`, `c_void`):
/// a `wchar_t *` or UTF-16 string is not one.
#[callback]
type Wide = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&str)] name: *const u32,
    #[into(Option<&str>, len = n)] utf16: *const u16,
    n: usize,
) -> c_int;

/// The same in a fn.
#[callback]
extern "C" fn wide(#[into(&str)] name: *const i32) -> c_int {
    name.len() as c_int
}

fn main() {}
