use ffi_callback::callback;
use std::ffi::c_int;

struct Counter {
    count: c_int,
}

impl Counter {
    #[callback]
    extern "C" fn on_event(&mut self, code: c_int) -> c_int {
        self.count += code;
        0
    }
}

fn main() {}
