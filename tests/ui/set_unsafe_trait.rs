// The expansion's trait is a plain one (`impl Io for S`): an `unsafe` that
// it would drop is refused (once: the `unsafe impl` written for it brings
// no second error).
use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
pub unsafe trait Io {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: usize) -> isize;
}

struct File;

unsafe impl Io for File {
    fn read(&mut self, n: usize) -> isize {
        n as isize
    }
}

fn main() {}
