// A fn returns its C value itself: `ControlFlow` is the closures' and set
// methods' way (with `on_continue`/`on_break`), refused here at the type
// rather than as a missing fallback, then as not FFI-safe.
use ffi_callback::callback;
use std::ffi::c_int;
use std::ops::ControlFlow;

#[callback]
extern "C" fn visit(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> ControlFlow<()> {
    seen.push(n);
    ControlFlow::Continue(())
}

fn main() {}
