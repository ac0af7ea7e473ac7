use std::ffi::{c_char, c_void};

use ffi_callback::callback;

/// libuv's `uv_buf_t`: the bytes are at `base`, not at the struct.
#[repr(C)]
pub struct uv_buf_t {
    pub base: *mut c_char,
    pub len: usize,
}

// A slice borrows the elements its pointer points at: `buf` points at a
// `uv_buf_t`, not at bytes.
#[callback]
pub type ReadCb = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    nread: isize,
    #[into(&[u8], len = nread.max(0) as usize)] buf: *const uv_buf_t,
);

// The same in a `#[callback]` fn.
#[callback]
unsafe extern "C" fn on_read(
    nread: isize,
    #[into(&[u8], len = nread.max(0) as usize)] buf: *const uv_buf_t,
    #[user_data] total: &mut usize,
) {
    *total += buf.len();
}

// In a set, on a parameter under a `#[cfg]` that holds: still checked.
#[callback]
pub trait Stream {
    unsafe extern "C" fn read(
        &mut self,
        #[user_data] ud: *mut c_void,
        nread: isize,
        #[cfg(all())]
        #[into(&[u8], len = nread.max(0) as usize)]
        buf: *const uv_buf_t,
    );
}

fn main() {
    ReadCb::scope(|_nread: isize, bytes: &[u8]| assert!(bytes.is_empty()), |_f, _ud| ());
}
