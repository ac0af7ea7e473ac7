// An entry point trusts its user data to be the set's state: it is an
// `unsafe extern` fn unless the binding promises it with `unsafe(safe_fn)`.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Handlers {
    extern "C" fn start(&mut self, #[user_data] ud: *mut c_void, depth: c_int);
}

fn main() {}
