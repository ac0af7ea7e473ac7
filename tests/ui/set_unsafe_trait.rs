// The expansion's trait is a plain one (`impl Io for S`): an `unsafe` that
// it would drop is refused.
use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
pub unsafe trait Io {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: usize) -> isize;
}

fn main() {}
