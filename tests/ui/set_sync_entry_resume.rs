// `on_panic = resume` is refused on an entry of a `sync` set, as on the set
// itself: the entry points may run on several threads at once.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(sync)]
pub trait Workers {
    #[callback(on_panic = resume, fallback = -1)]
    unsafe extern "C" fn work(&self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn idle(&self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
