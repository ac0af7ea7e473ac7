// C calls an entry point and needs its result now: `async` (which the
// expansion would otherwise drop) is refused, as on a fn.
use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
pub trait Io {
    async unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: usize) -> isize;
}

fn main() {}
