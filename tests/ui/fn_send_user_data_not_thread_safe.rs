//! `#[callback(send)]` on a fn: C may call it on any thread, so what it
//! receives as user data must be usable on another thread.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::c_int;
use std::rc::Rc;

/// A destroy-notify C may call on any thread (cairo's font cache): an
/// `Rc` dropped there races with its clones.
#[callback(send)]
extern "C" fn free_font(#[user_data] font: Box<Rc<String>>) {
    drop(font);
}

/// `&T` shares `T` with C's thread: a `Cell` cannot be shared.
#[callback(send)]
extern "C" fn count(n: c_int, #[user_data] total: &Cell<c_int>) {
    total.set(total.get() + n);
}

/// A generic fn: the parameter must be `Send` too.
#[callback(send)]
extern "C" fn push<T: Default>(#[user_data] items: &mut Vec<T>) {
    items.push(T::default());
}

fn main() {}
