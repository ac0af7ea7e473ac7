use ffi_callback::{callback, resume_panics, user_data};
use std::ffi::{c_int, c_void};

#[callback]
extern "C" fn visit(item: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(item);
    0
}

#[callback(fallback = 1)]
pub type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

#[callback]
type Cmp = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

unsafe extern "C" fn for_each(
    cb: Option<unsafe extern "C" fn(c_int, *mut c_void) -> c_int>,
    ud: *mut c_void,
) {
    for i in 1..=5 {
        unsafe { cb.unwrap()(i, ud) };
    }
}

#[test]
fn smoke() {
    let mut seen: Vec<c_int> = Vec::new();
    resume_panics(|| unsafe { for_each(Some(visit), user_data(&mut seen)) });
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    let mut total = 0;
    ExecRow::scope(
        |n| {
            total += n;
            0
        },
        |f, ud| unsafe {
            f(ud, 3);
            f(ud, 4)
        },
    );
    assert_eq!(total, 7);
    let c = Cmp::new(|_a, _b| 0);
    assert_eq!(
        unsafe { c.function()(std::ptr::null(), std::ptr::null()) },
        0
    );
}
