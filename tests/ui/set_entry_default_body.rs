// An entry point is declared as the C header shapes it; the state's type
// implements it, so it has no body in the set.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Handlers {
    unsafe extern "C" fn start(&mut self, #[user_data] ud: *mut c_void, depth: c_int) {
        let _ = depth;
    }
}

fn main() {}
