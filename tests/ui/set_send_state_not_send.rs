// A `send` set's state may be called and dropped on another thread: it must
// be `Send`.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::rc::Rc;

#[callback(send)]
trait Job {
    unsafe extern "C" fn run(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Counter(Rc<Cell<c_int>>);

impl Job for Counter {
    fn run(&mut self) -> c_int {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
}

fn main() {}
