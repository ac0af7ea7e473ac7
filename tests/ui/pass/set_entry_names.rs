//! Entry names that meet the macro's own: an entry `step` that finds its
//! user data with `user_data = EXPR` (whose helper once was
//! `__ffi_entry_step_with`) beside an entry named `step_with`; a destroy
//! entry declared `mut self` (a binding of the implementing method's).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[repr(C)]
pub struct Ctx {
    ud: *mut c_void,
}

#[callback]
pub trait Agg {
    #[callback(user_data = unsafe { (*ctx).ud })]
    unsafe extern "C" fn step(&mut self, ctx: *const Ctx, x: c_int) -> c_int;
    unsafe extern "C" fn step_with(&mut self, #[user_data] ud: *mut c_void, x: c_int) -> c_int;
    unsafe extern "C" fn close(mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Sum(c_int);

impl Agg for Sum {
    fn step(&mut self, _ctx: *const Ctx, x: c_int) -> c_int {
        self.0 += x;
        self.0
    }
    fn step_with(&mut self, x: c_int) -> c_int {
        self.0 * x
    }
    fn close(mut self) -> c_int {
        self.0 += 100;
        self.0
    }
}

fn main() {
    let (value, state) = Sum(1).scope(|ud| {
        let ctx = Ctx { ud };
        // SAFETY: `ctx` carries the user data `scope` lent, for this call.
        unsafe { Sum::STEP(&ctx, 2) + Sum::STEP_WITH(ud, 10) }
    });
    assert_eq!((value, state.0), (33, 3));
    let ud = Sum(5).boxed().into_raw();
    // SAFETY: the boxed state's user data, ended once by its destroy entry.
    assert_eq!(unsafe { Sum::CLOSE(ud) }, 105);
}
