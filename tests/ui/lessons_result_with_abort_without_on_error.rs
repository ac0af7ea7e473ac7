use ffi_callback::callback;
use std::ffi::c_int;

#[derive(Debug)]
struct RowError;

// `abort` returns no fallback, so nothing says what C gets for an `Err`.
#[callback(on_panic = abort)]
extern "C" fn on_row(n: c_int) -> Result<c_int, RowError> {
    if n < 0 { Err(RowError) } else { Ok(n) }
}

fn main() {}
