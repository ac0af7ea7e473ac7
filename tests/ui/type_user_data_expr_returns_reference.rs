// A callback type's (or a set's) `user_data = EXPR` finds the holder,
// whose type depends on the closure, so user code cannot name a reference
// to it: the accessor returns the raw pointer C carries
// (`sqlite3_user_data`), not a lookup's `&T`.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[repr(C)]
struct Ctx {
    data: *mut c_void,
}

struct Registry {
    calls: c_int,
}

fn lookup(ctx: *mut Ctx) -> &'static Registry {
    let _ = ctx;
    static REGISTRY: Registry = Registry { calls: 0 };
    &REGISTRY
}

#[callback(user_data = lookup(ctx))]
type Step = unsafe extern "C" fn(ctx: *mut Ctx, n: c_int) -> c_int;

fn main() {}

// The same for a set entry's accessor.
#[callback]
trait Steps {
    #[callback(user_data = lookup(ctx))]
    unsafe extern "C" fn step(&mut self, ctx: *mut Ctx, n: c_int) -> c_int;
}
