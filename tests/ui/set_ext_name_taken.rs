// A set `Counter` generates `CounterExt` beside it (its entry points,
// `boxed` and `scope`): another item of that name is reported at the set's
// name.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Counter {
    unsafe extern "C" fn bump(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct CounterExt;

fn main() {}
