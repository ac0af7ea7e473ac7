// An entry point is declared as the C header shapes it: a `where` clause
// (which the expansion would otherwise drop) is refused.
use ffi_callback::callback;
use std::ffi::c_void;

pub trait Helper {}

#[callback]
pub trait Io {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: usize) -> isize
    where
        Self: Helper;
}

fn main() {}
