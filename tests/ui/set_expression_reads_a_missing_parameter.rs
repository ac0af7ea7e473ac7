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

pub struct Out {
    pub code: c_int,
}

fn code(out: Out) -> c_int {
    out.code
}

// Read as a struct field's value, and as a range's end.
#[callback(fallback = code(Out { code: status }))]
trait Watcher {
    unsafe extern "C" fn changed(&mut self, #[user_data] ud: *mut c_void, status: c_int) -> c_int;
    unsafe extern "C" fn stopped(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

#[callback(fallback = (0..n).sum())]
trait Counter {
    unsafe extern "C" fn count(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn reset(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

fn main() {}
