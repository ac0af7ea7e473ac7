use ffi_callback::callback;
use std::ffi::{c_int, c_void};

/// `on_continue` and `on_break` come together.
#[callback(on_continue = 1)]
type Half = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

/// A callback that returns nothing gives C no value.
#[callback(on_continue = 1, on_break = 0)]
type Void = unsafe extern "C" fn(#[user_data] ud: *mut c_void);

/// A fn's body returns its C value.
#[callback(on_continue = 1, on_break = 0)]
extern "C" fn visit(#[user_data] n: &mut c_int) -> c_int {
    *n
}

/// A set's entries each say it.
#[callback(on_break = 0)]
trait Source {
    #[callback(on_break = 0)]
    unsafe extern "C" fn dispatch(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

#[callback(on_continue = 1, on_break = 0)]
type Tick = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `abort`: nothing to give C for an `Err`.
#[callback(on_panic = abort, on_continue = 1, on_break = 0)]
type Strict = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

#[derive(Debug)]
struct Mine;

/// A declared error is the only one.
#[callback(on_continue = 1, on_break = 0, error = Mine, on_error = -1)]
type Declared = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

fn main() {
    // The closures of a type declaring `on_continue` return `ControlFlow<()>`.
    let _ = Tick::new(|n| n);
    let _ = Strict::new(|| -> Result<std::ops::ControlFlow<()>, Mine> { Err(Mine) });
    let _ = Declared::new(|| -> Result<std::ops::ControlFlow<()>, String> { Err(String::new()) });
}
