// A `send` set's `&self` entries may run at once on two threads: the state
// must be `Sync` as well as `Send`.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};

#[callback(send)]
trait Gauge {
    unsafe extern "C" fn get(&self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Level(Cell<c_int>);

impl Gauge for Level {
    fn get(&self) -> c_int {
        self.0.get()
    }
}

fn main() {}
