use ffi_callback::callback;
use std::ffi::c_int;

ffi_callback::preset! {
    // `reentrant` describes a callback type's threading contract; a fn has
    // none.
    pub(crate) sqlite_callback = (reentrant, fallback = 1);
}

#[callback(preset = sqlite_callback)]
extern "C" fn on_row(n: c_int, #[user_data] rows: &mut Vec<c_int>) -> c_int {
    rows.push(n);
    0
}

fn main() {}
