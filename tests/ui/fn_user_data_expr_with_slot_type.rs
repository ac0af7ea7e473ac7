use ffi_callback::callback;
use std::ffi::{c_int, c_void};

unsafe extern "C" fn req_get_data(req: *mut c_void) -> *mut c_void {
    req
}

#[callback(user_data = req_get_data(req))]
extern "C" fn on_done(req: *mut c_void, status: c_int, #[user_data(usize)] state: &mut Vec<c_int>) {
    let _ = req;
    state.push(status);
}

fn main() {}
