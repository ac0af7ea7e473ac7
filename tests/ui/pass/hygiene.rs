//! The expansion uses absolute paths only: it compiles with no prelude and
//! with `core`, `std`, `Option`, `Result`, `Box` and `Fn` shadowed. Names
//! the expansion declares do not hide the user's in parameter types (a
//! module `__ffi`, a constant `LENT`), with or without a macro call there.
#![no_implicit_prelude]
#![deny(warnings)]

#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
mod std {}
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Box;
#[allow(dead_code)]
trait Fn {}
#[allow(dead_code)]
trait FnMut {}
#[allow(dead_code)]
trait FnOnce {}
#[allow(dead_code)]
trait Send {}
#[allow(dead_code)]
trait Sync {}

use ::ffi_callback::callback;
use ::std::ffi::{c_int, c_void};

#[callback]
extern "C" fn visit(n: c_int, #[user_data] total: &mut c_int) -> c_int {
    *total += n;
    0
}

#[callback(user_data = unsafe { fetch(ctx) }, on_panic = fallback, fallback = 7)]
extern "C" fn fetched(ctx: *mut c_void, #[user_data] total: &mut c_int) -> c_int {
    let _ = ctx;
    *total
}

unsafe extern "C" fn fetch(ctx: *mut c_void) -> *mut c_void {
    ctx
}

#[callback(fallback = 1)]
pub type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

#[callback(sync)]
pub type Pool = unsafe extern "C" fn(task: *mut c_void, #[user_data] data: *mut c_void);

#[callback(send, user_data = unsafe { fetch(ctx) })]
pub type Accessor = unsafe extern "C" fn(ctx: *mut c_void, n: c_int);

#[callback]
pub type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

#[allow(non_camel_case_types)]
mod __ffi {
    pub type Int = ::std::ffi::c_int;
}

const LENT: usize = 4;

macro_rules! int {
    () => {
        __ffi::Int
    };
}

#[callback]
pub type Shadowed = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    x: __ffi::Int,
    buf: *mut [u8; LENT],
) -> __ffi::Int;

#[callback(user_data = ud)]
pub type ShadowedFetched =
    unsafe extern "C" fn(ud: *mut c_void, x: __ffi::Int, buf: *mut [u8; LENT]) -> c_int;

#[callback]
pub type ShadowedInMacro =
    unsafe extern "C" fn(#[user_data] ud: *mut c_void, x: int!(), buf: *mut [u8; LENT]) -> c_int;

fn main() {
    let mut total = 0;
    ::ffi_callback::resume_panics(|| unsafe {
        visit(1, ::ffi_callback::user_data(&mut total));
        fetched(::ffi_callback::user_data(&mut total));
    });
    ExecRow::scope(|n| n, |f, ud| unsafe { f(ud, 1) });
    let _ = Pool::boxed(|_| {}).into_raw();
    let _ = Accessor::once(|_, _| {});
    let _ = Compare::new(|_, _| 0).function();

    let mut buf = [0_u8; LENT];
    let got = Shadowed::scope(
        |x, buf| {
            // SAFETY: the call below passes a live buffer.
            unsafe { (*buf)[0] = 1 };
            x + LENT as c_int
        },
        |f, ud| unsafe { f(ud, 2, &mut buf) },
    );
    ::std::assert_eq!((got, buf[0]), (6, 1));
    let got = ShadowedFetched::scope(|_, x, _| x, |f, ud| unsafe { f(ud, 3, &mut buf) });
    ::std::assert_eq!(got, 3);
    let got = ShadowedInMacro::scope(|x, _| x + 1, |f, ud| unsafe { f(ud, 4, &mut buf) });
    ::std::assert_eq!(got, 5);
}
