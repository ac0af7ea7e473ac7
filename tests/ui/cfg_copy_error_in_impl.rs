// A mistake in a method with a `#[cfg]` parameter: each copy's error is a
// `#[cfg(..)] compile_error!`, valid among associated items, so only the
// mistake is reported.
use ffi_callback::callback;
use std::ffi::c_int;

struct S(c_int);

impl S {
    #[callback(in_impl, bogus)]
    extern "C" fn cb(#[cfg(all())] a: c_int, #[user_data] s: &mut Self) -> c_int {
        s.0 += a;
        s.0
    }
}

fn main() {}
