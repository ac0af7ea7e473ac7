// The companion trait of a set (`CounterExt`, which holds what the set
// generates) has one impl, for every implementing type: one by hand, which
// could swap an entry point for another type's, conflicts with it.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Counter {
    unsafe extern "C" fn bump(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Big(Vec<String>);

impl Counter for Big {
    fn bump(&mut self) -> c_int {
        self.0.push(String::new());
        0
    }
}

struct Small(u8);

impl Counter for Small {
    fn bump(&mut self) -> c_int {
        self.0 += 1;
        0
    }
}

impl CounterExt for Small {
    const BUMP: CounterBumpFn = <Big as CounterExt>::BUMP;
}

fn main() {}
