//! Bindings that demand a safe `extern "C" fn` (libc's `pthread_create`)
//! are served through the explicit `unsafe(safe_fn)` promise.
use ffi_callback::{callback, user_data_box};
use std::ffi::c_void;

/// As libc declares `pthread_create`'s start routine.
type StartRoutine = extern "C" fn(*mut c_void) -> *mut c_void;

#[callback(unsafe(safe_fn), on_panic = abort)]
extern "C" fn start(#[user_data] name: Box<String>) -> *mut c_void {
    assert_eq!(*name, "worker");
    std::ptr::null_mut()
}

#[callback(send, unsafe(safe_fn))]
type Start = extern "C" fn(#[user_data] arg: *mut c_void) -> *mut c_void;

#[callback(sync, unsafe(safe_fn))]
type Worker = Option<extern "C" fn(data: *mut c_void, #[user_data] pool: *mut c_void)>;

fn main() {
    let routine: StartRoutine = start;
    routine(user_data_box(Box::new(String::from("worker"))));

    let name = String::from("worker");
    let raw = Start::once(move || {
        assert_eq!(name, "worker");
        std::ptr::null_mut()
    })
    .into_raw();
    let routine: StartRoutine = raw.function;
    routine(raw.user_data);

    let raw = Worker::boxed(|data| assert!(data.is_null())).into_raw();
    let worker: Option<extern "C" fn(*mut c_void, *mut c_void)> = Some(raw.function);
    worker.unwrap()(std::ptr::null_mut(), raw.user_data);
    // SAFETY: called once, after the last call.
    unsafe { (raw.destroy)(raw.user_data) };
}
