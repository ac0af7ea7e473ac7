// A type without user data: its capture-free closures run on any thread,
// and `scope_thread_local` lends a closure only on the scope's thread, so
// `local` and `send` describe nothing (`reentrant` does: lent closures
// may then nest, as `Fn`).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(local)]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

#[callback(send)]
type Visit = unsafe extern "C" fn(path: *const c_void) -> c_int;

#[callback(reentrant)]
type Nested = unsafe extern "C" fn(n: c_int) -> c_int;

fn main() {}
