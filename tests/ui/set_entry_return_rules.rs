// What a set's entry point declares: the `Result` its method returns (C
// receives the `R`), or the C type itself, with `on_continue`/`on_break`
// when its method returns `ControlFlow<()>`. The expat port wrote both the
// other way round.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};
use std::ops::ControlFlow;

#[callback]
pub trait Handlers {
    // `on_error` on an entry declaring the C type: declare the `Result`.
    #[callback(on_error = -1)]
    unsafe extern "C" fn start(&mut self, #[user_data] ud: *mut c_void, depth: c_int) -> c_int;

    // `ControlFlow` declared as a `Result` would be: declare the C type.
    #[callback(on_continue = 1, on_break = 0)]
    unsafe extern "C" fn entity(&mut self, #[user_data] ud: *mut c_void) -> ControlFlow<()>;
}

fn main() {}
