use ffi_callback::callback;
use std::ffi::c_int;

// One copy per combination of the parameters' conditions; a mistake every
// copy shares is reported once, by the copy that is compiled.
#[callback(on_panic = sometimes)]
extern "C" fn step(#[cfg(any())] skipped: c_int, #[cfg(all())] n: c_int, #[user_data] total: &mut c_int) {
    *total += n;
}

fn main() {}
