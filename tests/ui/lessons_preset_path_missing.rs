use ffi_callback::callback;
use std::ffi::c_int;

ffi_callback::preset! {
    pub(crate) git_callback = (unsafe(safe_fn), fallback = -7);
}

// A misspelt preset name. rustc cannot find the preset's macro, so the fn
// is not emitted at all (hence the unused import).
#[callback(preset = git_calback)]
extern "C" fn progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(done);
    0
}

fn main() {}
