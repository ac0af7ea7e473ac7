// `unsafe(safe_fn)` promises what a borrowed parameter trusts; a fn that
// converts only by `TryFrom` (and has no user data) is a safe fn already.
use ffi_callback::callback;
use std::ffi::c_int;

#[callback(unsafe(safe_fn))]
extern "C" fn on_event(#[into(i64)] code: c_int) -> c_int {
    code as c_int
}

fn main() {}
