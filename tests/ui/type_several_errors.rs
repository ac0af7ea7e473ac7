use ffi_callback::callback;
use std::ffi::c_void;

#[callback(sync, on_panic = resume, unsafe(safe_fn))]
type PoolFunc<T> = unsafe extern "C" fn(task: *mut T, #[user_data(usize)] data: *mut c_void, ...);

fn main() {}
