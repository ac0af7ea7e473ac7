//! Every Rust type a fn can receive its user data as, and `user_data = EXPR`.
use ffi_callback::{callback, resume_panics, user_data, user_data_box, user_data_ref};
use std::cell::Cell;
use std::ffi::{c_int, c_void};

#[callback]
extern "C" fn by_ref(#[user_data] total: &Cell<c_int>, n: c_int) {
    total.set(total.get() + n);
}

#[callback]
extern "C" fn by_mut(n: c_int, #[user_data] total: &mut c_int) {
    *total += n;
}

#[callback]
extern "C" fn by_option_ref(n: c_int, #[user_data] total: Option<&Cell<c_int>>) {
    if let Some(total) = total {
        total.set(total.get() + n);
    }
}

#[callback]
extern "C" fn by_option_mut(n: c_int, #[user_data] total: Option<&mut c_int>) {
    if let Some(total) = total {
        *total += n;
    }
}

#[callback]
extern "C" fn by_box(#[user_data] name: Box<String>) -> usize {
    name.len()
}

#[callback]
extern "C" fn by_option_box(#[user_data] name: Option<Box<String>>) -> usize {
    name.map_or(0, |name| name.len())
}

#[callback]
extern "C" fn by_mut_ptr(#[user_data] raw: *mut c_int) -> bool {
    raw.is_null()
}

#[callback]
extern "C" fn by_const_ptr(#[user_data] raw: *const c_int) -> bool {
    raw.is_null()
}

/// A C accessor, like `sqlite3_user_data(ctx)`.
unsafe extern "C" fn context_data(ctx: *mut c_void) -> *mut c_void {
    ctx
}

// SAFETY: C passes the context it was given.
#[callback(user_data = unsafe { context_data(ctx) })]
extern "C" fn fetched(ctx: *mut c_void, n: c_int, #[user_data] total: &mut c_int) {
    let _ = ctx;
    *total += n;
}

fn main() {
    let total = Cell::new(0);
    let mut sum = 0;
    resume_panics(|| unsafe {
        by_ref(user_data_ref(&total), 1);
        by_mut(2, user_data(&mut sum));
        by_option_ref(3, std::ptr::null_mut());
        by_option_mut(4, user_data(&mut sum));
        assert_eq!(by_box(user_data_box(Box::new(String::from("abc")))), 3);
        assert_eq!(by_option_box(std::ptr::null_mut()), 0);
        assert!(by_mut_ptr(std::ptr::null_mut()));
        assert!(by_const_ptr(std::ptr::null_mut()));
        fetched(user_data(&mut sum), 5);
    });
    assert_eq!((total.get(), sum), (1, 11));
}
