// A comparator written as a fn returning `Ordering`: C would receive an
// `i8` where it reads an `int`. (A callback type's closures may return
// `Ordering`: the trampoline converts it.)
use ffi_callback::callback;
use std::cmp::Ordering;
use std::ffi::c_void;

#[callback]
extern "C" fn by_address(a: *const c_void, b: *const c_void) -> Ordering {
    a.cmp(&b)
}

#[callback]
extern "C" fn by_address_or_error(a: *const c_void, b: *const c_void) -> Result<std::cmp::Ordering, String> {
    Ok(a.cmp(&b))
}

fn main() {}
