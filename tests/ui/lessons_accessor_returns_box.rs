use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[repr(C)]
struct Ctx {
    data: *mut c_void,
}

struct State {
    total: c_int,
}

fn lookup(ctx: *mut Ctx) -> Box<State> {
    // A lookup that hands out an owned box: not a form that stands for the
    // user data C carries.
    let _ = ctx;
    Box::new(State { total: 0 })
}

#[callback(user_data = lookup(ctx))]
extern "C" fn step(ctx: *mut Ctx, n: c_int, #[user_data] state: &mut State) -> c_int {
    state.total += n;
    state.total
}

fn main() {}
