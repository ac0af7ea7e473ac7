// A `sync` set's entry points may run on several threads at once: its state
// must be `Send + Sync`, however it is lent or boxed.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};

#[callback(sync)]
trait Tally {
    unsafe extern "C" fn hit(&self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

struct Hits(Cell<c_int>);

impl Tally for Hits {
    fn hit(&self, n: c_int) -> c_int {
        self.0.set(self.0.get() + n);
        self.0.get()
    }
}

fn main() {
    let _boxed = Hits(Cell::new(0)).boxed();
    let (_, _state) = Hits(Cell::new(0)).scope(|_ud| ());
}
