use ffi_callback::callback;
use std::ffi::c_int;

/// An alias the macro cannot see through: the runtime's trait reports it.
type Seen = Vec<c_int>;

#[callback]
extern "C" fn on_item(item: c_int, #[user_data] mut seen: Seen) -> c_int {
    seen.push(item);
    0
}

fn main() {}
