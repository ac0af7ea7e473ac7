// A callback type without `send` is called by C on the thread that made it:
// the `Boxed` owning it stays there, even with a `Send` closure (dropping it
// elsewhere would race with C's calls on the holder's state).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Progress = unsafe extern "C" fn(#[user_data] ud: *mut c_void, done: c_int) -> c_int;

fn main() {
    let owner = Progress::boxed(|done: c_int| done);
    std::thread::spawn(move || drop(owner));
}
