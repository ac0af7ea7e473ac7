use std::ffi::{c_int, c_void};

use ffi_callback::callback;

// Every entry that can fail names the same error type: `try_scope` returns
// that one, and a caller expecting another is told at compile time (its
// guard would let the entries' errors pass, dropped).
#[callback]
trait Source {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void) -> Result<c_int, String>;
}

struct Empty;

impl Source for Empty {
    fn read(&mut self) -> Result<c_int, String> {
        Ok(0)
    }
}

fn main() {
    let (result, _state): (Result<(), std::io::Error>, Empty) = Empty.try_scope(|_ud| ());
    drop(result);
}
