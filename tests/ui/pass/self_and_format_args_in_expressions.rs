//! Which fns are in an impl, and which C parameters an expression reads:
//! a `Self` inside an item nested in an option's expression is that
//! item's own (the fn is still free and has its typed constructor), a
//! `macro_rules!` in a method's body names the method's impl's `Self`, and
//! a format string's width and precision arguments (`{n:>w$}`, `{:.p$}`)
//! read C parameters.
#![deny(warnings)]
use ffi_callback::{callback, resume_panics, user_data};
use std::ffi::{c_int, c_void};

#[callback(on_panic = fallback, fallback = {
    struct P;
    impl P {
        fn k() -> Self {
            P
        }
    }
    let _ = P::k();
    -1
})]
extern "C" fn free(n: c_int, #[user_data] total: &mut c_int) -> c_int {
    *total += n;
    *total
}

struct S(c_int);

impl S {
    const K: c_int = 7;

    #[callback]
    extern "C" fn method(n: c_int, #[user_data] s: &mut S) -> c_int {
        macro_rules! k {
            () => {
                Self::K
            };
        }
        s.0 += n + k!();
        s.0
    }
}

#[callback(on_panic = fallback, fallback = format!("{n:>w$}").len() as c_int)]
extern "C" fn width(n: c_int, w: usize, #[user_data] total: &mut c_int) -> c_int {
    *total += n;
    assert!(*total < 100, "{w}");
    *total
}

#[callback(on_panic = fallback, fallback = format!("{:.p$}", 1.5).len() as c_int)]
type Precision = unsafe extern "C" fn(n: c_int, p: usize, #[user_data] ud: *mut c_void) -> c_int;

/// A binding that names its slot type; a method whose only `Self` is in
/// its `#[user_data(..)]` is in an impl all the same.
pub trait Binding {
    type Slot;
}

pub struct Slotted(c_int);

impl Binding for Slotted {
    type Slot = *mut c_void;
}

impl Slotted {
    #[callback]
    pub extern "C" fn bump(n: c_int, #[user_data(<Self as Binding>::Slot)] s: &mut Slotted) -> c_int {
        s.0 += n;
        s.0
    }
}

fn main() {
    let mut slotted = Slotted(1);
    // SAFETY: the user data is `slotted`, alive and unused during the call.
    assert_eq!(resume_panics(|| unsafe { Slotted::bump(2, user_data(&mut slotted)) }), 3);

    let mut total = 0;
    // SAFETY: the user data is `total`, alive and unused during the call.
    assert_eq!(resume_panics(|| unsafe { free(2, free::user_data(&mut total)) }), 2);

    let mut s = S(0);
    // SAFETY: the user data is `s`, alive and unused during the call.
    assert_eq!(resume_panics(|| unsafe { S::method(1, user_data(&mut s)) }), 8);

    // A panic: the fallback formats `n` with width `w` ("     1").
    let mut total = 200;
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { width(1, 6, width::user_data(&mut total)) }), 6);

    let result = Precision::scope(
        |n, _p| -> c_int { panic!("{n}") },
        // SAFETY: `scope` keeps the holder alive during the call.
        |precision, ud| unsafe { precision(1, 2, ud) },
    );
    // The fallback formats 1.5 with precision `p` ("1.50").
    assert_eq!(result, 4);
}
