// The state lives in a holder C points at: an entry takes `&mut self`,
// `&self` or `self`, never a smart pointer, and borrows it for the call
// (a named lifetime was accepted and then failed inside the expansion).
// `mut self` on the destroy entry is the implementing method's business.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Counter {
    unsafe extern "C" fn get(self: Box<Self>, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn bump(self: &mut Self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn peek(&'static self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn close(mut self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
