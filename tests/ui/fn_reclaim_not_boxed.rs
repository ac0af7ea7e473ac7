// A user-data type named `Box` that is not a `Box`: its `reclaim` is a
// trait error on the type, not a `Box::from_raw` by name.
use ffi_callback::callback;
use std::ffi::c_int;

type Box<T> = std::sync::Arc<T>;

#[callback]
extern "C" fn cb(#[user_data] total: Box<c_int>) -> c_int {
    *total
}

fn main() {}
