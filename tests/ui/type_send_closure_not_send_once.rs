use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::c_void;
use std::rc::Rc;

#[callback(send)]
type IdleFunc = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> i32;

fn main() {
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let _ = IdleFunc::once(move || {
        c.set(c.get() + 1);
        0
    });
}
