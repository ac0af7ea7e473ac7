// The state's type must implement every entry point of the set.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Stream {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

struct File;

impl Stream for File {
    fn read(&mut self, n: c_int) -> c_int {
        n
    }
}

fn main() {}
