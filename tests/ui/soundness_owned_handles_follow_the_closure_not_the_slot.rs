//! `Boxed` and `Once` are `Send` only if their closure is (and the type's
//! contract allows it), never because the slot is an integer: an `Rc`
//! capture behind a `usize` slot stays on its thread.
use ffi_callback::callback;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

#[callback]
type EnumProc = unsafe extern "system" fn(hwnd: usize, #[user_data] lparam: usize) -> i32;

fn main() {
    let count = Rc::new(Cell::new(0));

    let c = count.clone();
    let boxed = EnumProc::boxed(move |_hwnd| {
        c.set(c.get() + 1);
        1
    });
    std::thread::spawn(move || drop(boxed));

    // Another `!Send` capture, so that rustc reports this one too.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let once = EnumProc::once(move |hwnd| {
        seen.borrow_mut().push(hwnd);
        1
    });
    std::thread::spawn(move || drop(once));
}
