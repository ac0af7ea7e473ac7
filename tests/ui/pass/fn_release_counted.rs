//! `cb::release` drops C's count through the type the callback receives,
//! not through its name: an `Arc` imported as `Rc` is released as an `Arc`,
//! and an `Rc<Arc<T>>` as an `Rc`.
#![deny(warnings)]
use ffi_callback::{callback, resume_panics};
use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

mod aliased {
    pub use std::sync::Arc as Rc;
}
use aliased::Rc;

#[callback]
extern "C" fn add(n: c_int, #[user_data] total: Rc<AtomicI32>) -> c_int {
    total.fetch_add(n, Ordering::Relaxed) + n
}

#[callback]
extern "C" fn len(#[user_data] name: std::rc::Rc<std::sync::Arc<String>>) -> usize {
    name.len()
}

fn main() {
    let total = std::sync::Arc::new(AtomicI32::new(0));
    let ud = add::user_data(total.clone());
    assert_eq!(std::sync::Arc::strong_count(&total), 2);
    // SAFETY: `ud` holds a count of `total`, alive until released below.
    assert_eq!(resume_panics(|| unsafe { add(3, ud) }), 3);
    assert_eq!(std::sync::Arc::strong_count(&total), 2);
    // SAFETY: `ud` came from `add::user_data` and is released once.
    unsafe { add::release(ud) };
    assert_eq!(std::sync::Arc::strong_count(&total), 1);

    let inner = std::sync::Arc::new(String::from("abc"));
    let name = std::rc::Rc::new(inner.clone());
    let ud = len::user_data(name.clone());
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { len(ud) }), 3);
    assert_eq!(std::rc::Rc::strong_count(&name), 2);
    // SAFETY: as above, on the thread the `Rc` belongs to.
    unsafe { len::release(ud) };
    assert_eq!(std::rc::Rc::strong_count(&name), 1);
    assert_eq!(std::sync::Arc::strong_count(&inner), 2);
}
