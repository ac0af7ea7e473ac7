// The method must take the entry point's C parameters (all but the user
// data), with their types.
use ffi_callback::callback;
use std::ffi::{c_char, c_void};

#[callback]
trait CookieIo {
    #[callback(fallback = -1)]
    unsafe extern "C" fn write(
        &mut self,
        #[user_data] cookie: *mut c_void,
        buf: *const c_char,
        size: usize,
    ) -> isize;
}

struct MemFile;

impl CookieIo for MemFile {
    fn write(&mut self, buf: &[u8], size: usize) -> isize {
        let _ = buf;
        size as isize
    }
}

fn main() {}
