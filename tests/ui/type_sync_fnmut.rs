use ffi_callback::callback;
use std::ffi::c_void;

#[callback(sync)]
type PoolFunc = unsafe extern "C" fn(task: *mut c_void, #[user_data] data: *mut c_void);

fn main() {
    let mut done = Vec::new();
    let pool = PoolFunc::new(|task| done.push(task as usize));
    let _ = pool.user_data();
}
