use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[derive(Debug)]
struct JobError;

// `send` types abort on a panic: no fallback, and no `on_error` for an `Err`.
#[callback(send)]
type Job = unsafe extern "C" fn(#[user_data] data: *mut c_void, n: c_int) -> c_int;

fn main() {
    let job = Job::new(|n: c_int| if n < 0 { Err(JobError) } else { Ok(n) });
    let _ = job.function();
}
