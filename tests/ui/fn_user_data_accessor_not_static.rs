// `user_data = EXPR` runs before the body and its value reaches the body
// as the user data: a reference whose borrow ends when the accessor returns
// (a lock guard's, a temporary's) would dangle there, so a lookup must give
// a `'static` reference (or a raw pointer, dereferenced by the user's own
// `unsafe`).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};
use std::sync::Mutex;

static STATE: Mutex<Vec<c_int>> = Mutex::new(Vec::new());

// The guard is dropped inside the accessor: the body would get `&mut` to
// the vector with the lock released.
#[callback(user_data = &mut *STATE.lock().unwrap())]
extern "C" fn step(_ctx: *mut c_void, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(1);
    seen.len() as c_int
}

// A temporary, gone before the body runs.
#[callback(user_data = &mut Vec::new())]
extern "C" fn fresh(_ctx: *mut c_void, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(1);
    seen.len() as c_int
}

fn main() {}
