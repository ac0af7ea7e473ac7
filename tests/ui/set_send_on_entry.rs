// The threading contract is the whole set's: `send` goes on the trait.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Worker {
    #[callback(send)]
    unsafe extern "C" fn work(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

fn main() {}
