//! Name, visibility, docs, `cfg`s and other attributes survive the macro.
#![deny(missing_docs)]

use ffi_callback::callback;
use std::ffi::{c_int, c_void};

/// Exported under a C name.
#[callback]
#[unsafe(export_name = "ffi_callback_ui_exported")]
pub extern "C" fn exported(n: c_int) -> c_int {
    n
}

/// Exported unmangled.
#[callback]
#[unsafe(no_mangle)]
pub extern "C" fn ffi_callback_ui_unmangled(n: c_int, #[user_data] total: &mut c_int) {
    *total += n;
}

/// Compiled out: its body does not even type-check.
#[callback]
#[cfg(any())]
pub extern "C" fn compiled_out(n: c_int) -> c_int {
    n + "not an int"
}

/// Compiled out too, as a type.
#[callback]
#[cfg(any())]
pub type CompiledOut = unsafe extern "C" fn(#[user_data] data: *mut c_void, n: NoSuchType);

/// Kept: its `cfg` holds.
#[callback]
#[cfg(all())]
pub type Kept = unsafe extern "C" fn(#[user_data] data: *mut c_void, n: c_int) -> c_int;

mod inner {
    use super::*;

    /// Visible to the parent module only.
    #[callback]
    pub(super) extern "C" fn restricted(#[user_data] total: &mut c_int) {
        *total += 1;
    }
}

/// A set whose attributes are written by their full path: the entry's
/// `#[ffi_callback::callback(..)]` gives its options as `#[callback(..)]`
/// would.
#[ffi_callback::callback(on_panic = fallback)]
pub trait Spelled {
    /// Its one entry point, with its own fallback.
    #[ffi_callback::callback(fallback = -7)]
    unsafe extern "C" fn get(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Panics;

impl Spelled for Panics {
    fn get(&mut self) -> c_int {
        panic!("expected: the entry's own fallback")
    }
}

fn main() {
    // Expected: keep the output quiet.
    std::panic::set_hook(Box::new(|_| {}));
    ffi_callback::set_reporter(|_| {});
    let (got, _) = SpelledExt::scope(Panics, |ud| unsafe { Panics::GET(ud) });
    assert_eq!(got, -7);
    let _: extern "C" fn(c_int) -> c_int = exported;
    let _: unsafe extern "C" fn(c_int, *mut c_void) = ffi_callback_ui_unmangled;
    let _: unsafe extern "C" fn(*mut c_void) = inner::restricted;
    let _ = Kept::new(|n| n).function();
}
