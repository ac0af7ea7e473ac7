//! Each panic policy, `fallback = EXPR`, and a user type with its own
//! `Fallback`.
use ffi_callback::{Fallback, callback, resume_panics, user_data};
use std::ffi::{c_int, c_void};

#[repr(C)]
#[derive(Debug, PartialEq)]
pub struct Point {
    x: c_int,
    y: c_int,
}

impl Fallback for Point {
    fn fallback() -> Self {
        Point { x: -1, y: -1 }
    }
}

#[callback]
extern "C" fn next_point(#[user_data] state: &mut c_int) -> Point {
    *state += 1;
    Point { x: *state, y: 0 }
}

#[callback(on_panic = fallback, fallback = -1)]
extern "C" fn checked(n: c_int) -> c_int {
    n
}

#[callback(on_panic = abort)]
extern "C" fn aborting(#[user_data] state: &mut c_int) -> f64 {
    f64::from(*state)
}

#[callback(fallback = Point { x: 0, y: 0 })]
type NextPoint = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> Point;

#[callback(on_panic = fallback)]
type Maybe = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> Option<extern "C" fn()>;

fn main() {
    let mut state = 0;
    let point = resume_panics(|| unsafe { next_point(user_data(&mut state)) });
    assert_eq!(point, Point { x: 1, y: 0 });
    assert_eq!(checked(3), 3);
    assert_eq!(unsafe { aborting(user_data(&mut state)) }, 1.0);
    let p = NextPoint::scope(|| Point { x: 2, y: 2 }, |f, ud| unsafe { f(ud) });
    assert_eq!(p, Point { x: 2, y: 2 });
    assert!(Maybe::scope(|| None, |f, ud| unsafe { f(ud) }).is_none());
}
