use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[repr(C)]
struct Ctx {
    data: *mut c_void,
}

struct State {
    total: c_int,
}

fn lookup<'a>(ctx: *mut Ctx) -> Option<&'a State> {
    // SAFETY: the context's data is null or a `State`.
    unsafe { (*ctx).data.cast::<State>().as_ref() }
}

// A shared reference cannot stand for the `&mut State` the body receives.
#[callback(user_data = lookup(ctx))]
extern "C" fn step(ctx: *mut Ctx, n: c_int, #[user_data] state: &mut State) -> c_int {
    state.total += n;
    state.total
}

fn main() {}
