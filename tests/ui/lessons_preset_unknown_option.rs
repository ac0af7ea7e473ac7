use ffi_callback::callback;
use std::ffi::c_int;

ffi_callback::preset! {
    // A misspelt option, in the preset's own declaration.
    pub(crate) git_callback = (unsafe(safe_fn), fallbak = -7);
}

#[callback(preset = git_callback)]
extern "C" fn progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(done);
    0
}

fn main() {}
