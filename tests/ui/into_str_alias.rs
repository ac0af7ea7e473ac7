use ffi_callback::callback;
use std::ffi::{c_char, c_int, c_void};

/// `str` through an alias: the macro cannot see that it is a string, whose
/// check reads C's memory, so it is not borrowed at all (never unchecked).
type Text = str;

#[callback]
type Named = unsafe extern "C" fn(#[user_data] ud: *mut c_void, #[into(&Text)] name: *const c_char)
    -> c_int;

/// A named lifetime is refused as for any borrow.
#[callback]
type Kept = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&'static str)] name: *const c_char,
) -> c_int;

fn main() {}
