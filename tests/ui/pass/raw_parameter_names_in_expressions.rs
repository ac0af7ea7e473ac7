// A parameter written raw (`r#n`) and an expression naming it plainly
// (`n`), or the other way round: one identifier to Rust, and to
// `#[callback]`'s expressions.
use ffi_callback::{callback, resume_panics};
use std::ffi::{c_int, c_void};

#[callback(on_panic = fallback, fallback = -(n as c_int))]
type Sum = unsafe extern "C" fn(
    #[into(&[u8], len = n)] r#in: *const u8,
    r#n: usize,
    #[user_data] ud: *mut c_void,
) -> c_int;

#[callback(fallback = r#len as c_int)]
extern "C" fn count(len: usize, #[user_data] total: &mut usize) -> c_int {
    assert!(len != 7, "seven");
    *total += len;
    0
}

fn main() {
    let bytes = [1u8, 2, 3];
    let sum = Sum::scope(
        |bytes: &[u8], n: usize| bytes.iter().map(|&b| c_int::from(b)).sum::<c_int>() + n as c_int,
        // SAFETY: `bytes` holds `n` bytes; `scope` keeps the holder alive.
        |f, ud| unsafe { f(bytes.as_ptr(), bytes.len(), ud) },
    );
    assert_eq!(sum, 9);
    let mut total = 0;
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the user data is `total`, alive and unused meanwhile.
        resume_panics(|| unsafe { count(7, count::user_data(&mut total)) })
    }));
    assert!(got.is_err());
    assert_eq!(total, 0);
}
