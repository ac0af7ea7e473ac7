//! A callback type with no user-data slot (plain `qsort`, `atexit`) takes
//! capture-free closures.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

#[callback(on_panic = abort)]
type AtExit = Option<extern "C" fn()>;

fn main() {
    let descending = Compare::scope(
        |a, b| {
            // SAFETY: the test passes pointers to live `c_int`s.
            let (a, b) = unsafe { (*a.cast::<c_int>(), *b.cast::<c_int>()) };
            b - a
        },
        |cmp| {
            let (a, b): (c_int, c_int) = (1, 2);
            unsafe { cmp(std::ptr::from_ref(&a).cast(), std::ptr::from_ref(&b).cast()) }
        },
    );
    assert_eq!(descending, 1);
    let at_exit = AtExit::new(|| {});
    let f: Option<extern "C" fn()> = Some(at_exit.function());
    f.unwrap()();
}
