// A `Result` is recognised by its name (`Result<R, E>`, `io::Result<R>`): a
// local alias is not, and the message says so.
use ffi_callback::callback;
use std::ffi::c_int;

pub struct Full;
type Step = Result<c_int, Full>;

#[callback(on_error = -1)]
extern "C" fn push(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> Step {
    seen.push(n);
    Ok(0)
}

fn main() {}
