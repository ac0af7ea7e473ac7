// A `#[callback]` fn may be called on any thread, several at once, with
// the same C pointer: as for a callback type without user data, a shared
// borrow must be of a `Sync` type and an `&mut` of a `Send` one, as if the
// reference had been sent. A raw pointer written as the referent needs
// neither.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::marker::PhantomData;

#[repr(C)]
pub struct Config {
    hits: Cell<c_int>,
}

// Not `Send`: it stays on the thread that made it.
#[repr(C)]
pub struct Local {
    count: c_int,
    _home: PhantomData<*mut ()>,
}

#[callback]
extern "C" fn count_hit(#[into(&Config)] config: *const Config, #[user_data] total: &mut u32) {
    config.hits.set(config.hits.get() + 1);
    *total += 1;
}

#[callback]
extern "C" fn read_local(#[into(&mut Local)] local: *mut Local) -> c_int {
    local.count
}

// Fine: a raw pointer referent (`char **`).
#[callback]
extern "C" fn first_byte(#[into(&*const c_char)] s: *const *const c_char) -> c_int {
    (!s.is_null()) as c_int
}

// A generic referent needs the bound.
#[callback]
extern "C" fn compare<T: Ord>(#[into(&T)] a: *const c_void, #[into(&T)] b: *const c_void) -> c_int {
    a.cmp(b) as c_int
}

fn main() {}
