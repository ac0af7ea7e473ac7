// A `#[cfg]` or `#[cfg_attr]` on a parameter that is not one predicate is
// refused on the attribute (the copies wrap the predicate in `all(..)` and
// `not(..)`); rustc reports it there too.
use ffi_callback::callback;
use std::ffi::c_int;

#[callback]
extern "C" fn two(#[cfg(unix, windows)] _a: c_int, #[user_data] total: &mut c_int) {
    *total += 1;
}

#[callback]
extern "C" fn empty(#[cfg()] _a: c_int, #[user_data] total: &mut c_int) {
    *total += 1;
}

#[callback]
extern "C" fn no_attrs(#[cfg_attr(unix)] _a: c_int, #[user_data] total: &mut c_int) {
    *total += 1;
}

// Not predicates at all: a literal, a path, two names, `not` of two.
#[callback]
extern "C" fn literal(#[cfg(1)] _a: c_int, #[user_data] total: &mut c_int) {
    *total += 1;
}

#[callback]
extern "C" fn path(#[cfg(a::b)] _a: c_int, #[user_data] total: &mut c_int) {
    *total += 1;
}

#[callback]
type Words = unsafe extern "C" fn(
    #[cfg_attr(foo bar, user_data)] ud: *mut std::ffi::c_void,
    #[cfg(not(unix, windows))] n: c_int,
);

// Predicates, nested: accepted.
#[callback]
extern "C" fn nested(
    #[cfg(all(any(unix, windows), not(miri), target_os = "linux", true,))] _a: c_int,
    #[user_data] total: &mut c_int,
) {
    *total += 1;
}

// Reported together with the options' own mistakes.
#[callback(on_panic = sometimes)]
extern "C" fn with_bad_option(#[cfg()] _a: c_int, #[user_data] total: &mut c_int) {
    *total += 1;
}

fn main() {}
