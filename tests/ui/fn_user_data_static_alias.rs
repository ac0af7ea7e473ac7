// An alias can hide `&'static mut` from the macro's token check: the
// runtime still lends the user data for one call only, so a body that
// keeps it beyond the call does not compile.
use ffi_callback::callback;
use std::ffi::c_int;
use std::sync::Mutex;

pub type Forever = &'static mut Vec<c_int>;

static KEPT: Mutex<Option<Forever>> = Mutex::new(None);

#[callback]
extern "C" fn collect(item: c_int, #[user_data] seen: Forever) -> c_int {
    seen.push(item);
    *KEPT.lock().unwrap() = Some(seen);
    0
}

fn main() {}
