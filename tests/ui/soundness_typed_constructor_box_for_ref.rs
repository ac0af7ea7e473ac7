//! The typed constructor only accepts the form the fn receives: a `Box<T>`
//! for a callback that borrows `&T` does not compile.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};

#[callback]
extern "C" fn total(n: c_int, #[user_data] sum: &Cell<c_int>) -> c_int {
    sum.set(sum.get() + n);
    sum.get()
}

fn main() {
    let _ud: *mut c_void = total::user_data(Box::new(Cell::new(0)));
}
