use ffi_callback::callback;
use std::ffi::c_void;

#[callback]
type StartRoutine = unsafe extern "C" fn(#[user_data] arg: *mut c_void) -> *mut c_void;

fn main() {
    let name = String::from("worker");
    let raw = StartRoutine::once(|| {
        println!("{}", &name);
        std::ptr::null_mut()
    })
    .into_raw();
    let _ = raw;
}
