// A callback type without `send`, `sync` or `local` is called by C on the
// thread that made it, and its holder's state is not atomic: a shared
// `Boxed` may not reach another thread, even with a
// `Sync` closure (C could then call it from both threads at once).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Progress = unsafe extern "C" fn(#[user_data] ud: *mut c_void, done: c_int) -> c_int;

fn main() {
    let owner = Progress::boxed(|done: c_int| done);
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = owner.user_data();
        });
    });
}
