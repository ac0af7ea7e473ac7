// `len = EXPR` is the user's code, compiled as a safe fn of the C
// parameters it reads: an unsafe call in it needs the user's own `unsafe`
// block, although the trampoline around it is an `unsafe fn`.
use ffi_callback::callback;
use std::ffi::c_char;

unsafe fn c_strlen(s: *const c_char) -> usize {
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(s) }.to_bytes().len()
}

#[callback]
extern "C" fn bytes(#[into(&[u8], len = c_strlen(text))] text: *const c_char) -> usize {
    text.len()
}

fn main() {}
