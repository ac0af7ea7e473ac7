// A set's `on_error` (or `fallback`, or `user_data`) written on the trait
// reads C parameters by name: an entry that names one differently (libuv's
// headers say `stream` where others say `handle`) is told so.
use std::ffi::{c_int, c_void};

use ffi_callback::callback;

pub struct Ctx;

#[derive(Debug)]
pub struct ClientError(pub c_int);

fn record(_ctx: *const Ctx, code: c_int) -> c_int {
    code
}

#[callback(on_error = record(ctx, e.0))]
trait Client {
    unsafe extern "C" fn open(&mut self, ctx: *const Ctx, #[user_data] ud: *mut c_void)
    -> Result<c_int, ClientError>;
    unsafe extern "C" fn read(&mut self, archive: *const Ctx, #[user_data] ud: *mut c_void)
    -> Result<c_int, ClientError>;
}

#[repr(C)]
pub struct Handle {
    data: *mut c_void,
}

#[callback(user_data = unsafe { (*handle).data })]
trait Timer {
    unsafe extern "C" fn fire(&mut self, handle: *mut Handle);
    unsafe extern "C" fn close(&mut self, stream: *mut Handle);
}

fn main() {}
