//! `#[callback(send)]` on a fn whose user data may cross threads.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

#[callback(send)]
extern "C" fn free_name(#[user_data] name: Box<String>) {
    drop(name);
}

#[callback(send)]
extern "C" fn add(n: c_int, #[user_data] total: &AtomicI32) {
    total.fetch_add(n, Ordering::Relaxed);
}

#[callback(send, on_panic = resume)]
extern "C" fn push<T: Default + Send>(#[user_data] items: &mut Vec<T>) {
    items.push(T::default());
}

#[callback(send)]
extern "C" fn log(#[user_data] lines: Arc<Mutex<Vec<String>>>) {
    lines.lock().unwrap().push("called".into());
}

#[callback(send)]
extern "C" fn raw(#[user_data] ptr: *mut c_void) -> bool {
    ptr.is_null()
}

fn main() {
    let _ = (free_name, add, push::<u8>, log, raw);
}
