// A callback set without `send` or `sync` is called by C on the thread that
// made it: its `BoxedSet` stays there, even with a `Send + Sync` state
// (dropped or called elsewhere, it would race with C's calls on the
// holder's state, which is not atomic).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Meter {
    unsafe extern "C" fn tick(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Ticks(c_int);

impl Meter for Ticks {
    fn tick(&mut self) -> c_int {
        self.0 += 1;
        self.0
    }
}

fn main() {
    let state = Ticks(0).boxed();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ = state.user_data();
        });
    });
    std::thread::spawn(move || drop(state));
}
