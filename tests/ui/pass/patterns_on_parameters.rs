//! Parameters bound by patterns (`_`, `mut x`, `ref x`, `(x)`, a struct
//! pattern) in each form: on the fn form's `#[user_data]` parameter (with a
//! slot or fetched by `user_data = EXPR`) and C parameters, on a callback
//! type's slot and parameters, and on a set's entry points.
#![deny(warnings)]
#![allow(unused_parens)]
use ffi_callback::{callback, resume_panics};
use std::ffi::{c_int, c_void};

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pair {
    a: c_int,
    b: c_int,
}

#[callback]
extern "C" fn sum(
    Pair { a, b }: Pair,
    mut m: c_int,
    _: c_int,
    ref r: c_int,
    #[user_data] (s): &mut u32,
) -> c_int {
    m += 1;
    *s += 1;
    *s as c_int + a + b + m + *r
}

#[callback]
extern "C" fn ignored(#[user_data] _: &mut u32, x: c_int) -> c_int {
    x
}

#[callback]
extern "C" fn by_ref_binding(#[user_data] ref s: &mut u32, x: c_int) -> c_int {
    **s as c_int + x
}

#[callback]
extern "C" fn rebound(#[user_data] mut s: &mut u32, x: c_int) -> c_int {
    *s += 1;
    let again = &mut *s;
    s = again;
    *s as c_int + x
}

#[callback(user_data = ctx)]
extern "C" fn fetched_ignored(ctx: *mut c_void, #[user_data] _: &mut u32) -> c_int {
    let _ = ctx;
    3
}

#[callback(user_data = ctx)]
extern "C" fn fetched_ref_mut(ctx: *mut c_void, #[user_data] ref mut s: &mut u32) -> c_int {
    let _ = ctx;
    **s += 1;
    **s as c_int
}

#[callback]
pub type Unnamed = unsafe extern "C" fn(_: c_int, #[user_data] _: *mut c_void, x: c_int) -> c_int;

#[callback]
pub trait Io {
    unsafe extern "C" fn read(
        &mut self,
        #[user_data] _: *mut c_void,
        _: c_int,
        Pair { a, b }: Pair,
    ) -> c_int;
    unsafe extern "C" fn write(
        &mut self,
        #[user_data] ud: *mut c_void,
        mut x: c_int,
        ref y: c_int,
    ) -> c_int;
}

struct Total(c_int);

impl Io for Total {
    fn read(&mut self, _: c_int, Pair { a, b }: Pair) -> c_int {
        self.0 += a + b;
        self.0
    }

    fn write(&mut self, mut x: c_int, ref y: c_int) -> c_int {
        x += *y;
        self.0 += x;
        self.0
    }
}

fn main() {
    let mut v = 5_u32;
    resume_panics(|| unsafe {
        assert_eq!(
            sum(Pair { a: 1, b: 2 }, 1, 0, 4, sum::user_data(&mut v)),
            6 + 1 + 2 + 2 + 4
        );
        assert_eq!(ignored(ignored::user_data(&mut v), 7), 7);
        assert_eq!(by_ref_binding(by_ref_binding::user_data(&mut v), 7), 13);
        assert_eq!(rebound(rebound::user_data(&mut v), 7), 14);
        assert_eq!(fetched_ignored(fetched_ignored::user_data(&mut v)), 3);
        assert_eq!(fetched_ref_mut(fetched_ref_mut::user_data(&mut v)), 8);
    });
    assert_eq!(v, 8);
    let r = Unnamed::scope(|a, x| a + x, |f, ud| unsafe { f(1, ud, 2) });
    assert_eq!(r, 3);
    let ((), total) = Total(0).scope(|ud| unsafe {
        assert_eq!(<Total as IoExt>::READ(ud, 9, Pair { a: 1, b: 2 }), 3);
        assert_eq!(<Total as IoExt>::WRITE(ud, 1, 2), 6);
    });
    assert_eq!(total.0, 6);
}
