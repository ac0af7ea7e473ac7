// A `where` clause on a callback set's trait was dropped without a word:
// a state that is not `Copy` implemented `where Self: Copy`. The set's
// bounds come from its threading contract.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
pub trait Counter
where
    Self: Copy,
{
    unsafe extern "C" fn bump(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
