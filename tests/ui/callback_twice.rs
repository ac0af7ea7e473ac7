// A second `#[callback]` on the same item would wrap the trampoline in
// another one: refused, in each form and in an impl block.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
#[callback]
extern "C" fn twice(#[user_data] state: &mut c_int) -> c_int {
    *state
}

pub struct State(Vec<u64>);

impl State {
    #[callback(fallback = -1)]
    #[ffi_callback::callback]
    extern "C" fn push(#[user_data] state: &mut Self) -> c_int {
        state.0.push(1);
        state.0.len() as c_int
    }
}

#[callback]
#[callback]
pub type Twice = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

#[callback]
#[callback]
pub trait Io {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {
    let _ = (twice, State::push);
}
