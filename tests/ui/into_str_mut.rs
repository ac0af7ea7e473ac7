use ffi_callback::callback;
use std::ffi::{c_char, c_int, c_void};

/// `&mut str` is refused: C (or the closure) writing through it could
/// leave bytes that are not UTF-8.
#[callback]
type Rename = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&mut str)] name: *mut c_char,
    #[into(Option<&mut str>, len = n)] other: *mut c_char,
    n: usize,
) -> c_int;

/// The same in a fn.
#[callback]
extern "C" fn rename(#[into(&mut str)] name: *mut c_char) -> c_int {
    let _ = name;
    0
}

fn main() {}
