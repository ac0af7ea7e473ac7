use ffi_callback::callback;
use std::ffi::c_void;

#[callback(unsafe(safe_fn))]
unsafe extern "C" fn start(#[user_data] name: Box<String>) -> *mut c_void {
    println!("{name}");
    std::ptr::null_mut()
}

fn main() {}
