// `on_panic = unwind` lets the panic through to C's caller: C never gets a
// fallback, so `fallback = EXPR` is refused with it, as with `abort`.
use ffi_callback::callback;
use std::ffi::c_int;

#[callback(on_panic = unwind, fallback = -1)]
extern "C-unwind" fn on_event(code: c_int) -> c_int {
    code
}

fn main() {}
