// Entry names must not take the names the set generates: `boxed`, `scope`,
// and `DESTROY` when no entry takes `self`.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Module {
    unsafe extern "C" fn scope(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn destroy(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
