// A user-data type named `Rc` that is not an `Arc` or an `Rc`: its
// `release` is a trait error on the type, not a release by name.
use ffi_callback::callback;
use std::ffi::c_int;

type Rc<T> = Box<T>;

#[callback]
extern "C" fn cb(#[user_data] total: Rc<c_int>) -> c_int {
    *total
}

fn main() {}
