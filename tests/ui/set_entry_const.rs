use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
pub trait Io {
    const unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: usize) -> isize;
}

fn main() {}
