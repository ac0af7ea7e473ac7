// After an error in a callback set, its stub trait takes the methods'
// parameters as the methods do, converted by `#[into(..)]`: the user's
// impl, written for the real trait, brings no second error.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback(bogus)]
pub trait Sink {
    unsafe extern "C" fn write(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&u8)] item: *const u8,
        n: c_int,
    ) -> c_int;
}

struct Count(c_int);

impl Sink for Count {
    fn write(&mut self, item: &u8, n: c_int) -> c_int {
        self.0 += c_int::from(*item) + n;
        self.0
    }
}

fn main() {}
