// The struct a callback type generates sits in the user's module, so its
// fields are visible there: they must not let a holder of one closure be
// paired with the trampoline of another (the trampoline's type is the same
// for every closure). Its one field keeps both, private to the runtime.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Visit = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

fn main() {
    let small = 1;
    let names = vec![String::new()];
    let mut a = Visit::new(move |n| n + small);
    let b = Visit::new(move |n| names.len() as c_int + n);
    a.lent.function = b.function();
    a.lent = b.lent;
}
