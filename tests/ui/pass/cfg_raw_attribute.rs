// `#[r#cfg(..)]` on a parameter is a `#[cfg(..)]` to rustc, and so to
// `#[callback]`: the parameter is left out where its condition fails.
use ffi_callback::{callback, resume_panics};
use std::ffi::{c_int, c_void};

#[callback]
extern "C" fn add(
    #[r#cfg(any())] absent: NoSuchType,
    step: c_int,
    #[user_data] total: &mut c_int,
) -> c_int {
    *total += step;
    *total
}

#[callback]
type Visit = unsafe extern "C" fn(
    a: c_int,
    #[r#cfg(any())] absent: NoSuchType,
    n: c_int,
    #[user_data] ud: *mut c_void,
) -> c_int;

fn main() {
    let mut total = 0;
    // SAFETY: the user data is `total`, alive and unused meanwhile.
    let sum = resume_panics(|| unsafe { add(2, add::user_data(&mut total)) });
    assert_eq!((sum, total), (2, 2));
    // SAFETY: `scope` keeps the holder alive for the call.
    let r = Visit::scope(|a, n| a + n, |v, ud| unsafe { v(1, 5, ud) });
    assert_eq!(r, 6);
}
