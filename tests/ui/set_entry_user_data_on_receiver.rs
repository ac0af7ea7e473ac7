// `self` is the state; the C slot is a parameter of its own. One error, at
// the marker (not also "no user data").
use ffi_callback::callback;

#[callback]
pub trait Io {
    unsafe extern "C" fn read(#[user_data] &mut self, n: usize) -> isize;
}

fn main() {}
