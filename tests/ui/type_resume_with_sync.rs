use ffi_callback::callback;
use std::ffi::c_void;

#[callback(sync, on_panic = resume)]
type PoolFunc = unsafe extern "C" fn(task: *mut c_void, #[user_data] data: *mut c_void);

fn main() {}
