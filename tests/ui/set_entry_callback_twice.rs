// An entry point's options are read from one `#[callback(...)]`: a second
// one, or one written `#[callback = ".."]`, would be lost (here the asked-for
// `on_panic = abort`), so both are refused.
use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
pub trait Io {
    #[callback(fallback = -1)]
    #[callback(on_panic = abort)]
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: usize) -> isize;
    #[callback = "fallback = -1"]
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: usize) -> isize;
}

fn main() {}
