use ffi_callback::callback;
use std::ffi::c_int;

// `unguarded` says what `resume` does with no guard; `abort` never looks.
#[callback(on_panic = abort, unguarded = fallback)]
extern "C" fn progress(stage: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(stage);
    0
}

fn main() {}
