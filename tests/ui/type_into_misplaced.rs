use ffi_callback::callback;
use std::ffi::{c_int, c_void};

// The slot carries the holder: it has nothing to convert. A parameter
// converts into one type. The target type goes in parentheses.
#[callback]
type Log = unsafe extern "C" fn(
    #[user_data]
    #[into(usize)]
    ud: *mut c_void,
    #[into(i64)]
    #[into(u64)]
    level: c_int,
    #[into] bytes: u32,
    #[into(= u64)] count: u32,
);

// A fn's user data is received as its own type.
#[callback]
extern "C" fn log(#[into(i64)] level: c_int, #[user_data] #[into(usize)] count: &mut u32) {
    *count += level as u32;
}

// A set entry's slot carries the state.
#[callback]
trait Sink {
    unsafe extern "C" fn write(&mut self, #[into(usize)] #[user_data] ud: *mut c_void, n: c_int);
}

fn main() {}
