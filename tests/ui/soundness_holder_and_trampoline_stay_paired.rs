// A callback type's holder (the runtime's `Callback`) must not let a holder
// of one closure be paired with the trampoline of another (the trampoline's
// type is the same for every closure): its one field, which keeps both, is
// private to the runtime (it was a generated struct's, in the user's module).
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
