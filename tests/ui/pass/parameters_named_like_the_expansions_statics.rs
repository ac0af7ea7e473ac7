//! C parameters named like the statics and locals an expansion declares
//! (`SITE`, `FILTER`, `PARKED`, `holder`, `call`): the expansion's own are
//! `__FFI_CALLBACK_*` or hygienic, so the user's names stay parameters.
#![allow(non_snake_case)]
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Slotless = unsafe extern "C" fn(SITE: c_int, FILTER: c_int, PARKED: c_int) -> c_int;

#[callback]
type Slotted =
    unsafe extern "C" fn(SITE: c_int, holder: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[callback]
trait Entries {
    unsafe extern "C" fn add(&mut self, SITE: c_int, #[user_data] ud: *mut c_void) -> c_int;
}

struct Sum(c_int);

impl Entries for Sum {
    fn add(&mut self, SITE: c_int) -> c_int {
        self.0 += SITE;
        self.0
    }
}

fn main() {
    // SAFETY: the scopes' own functions and user data, for their calls.
    let got = Slotless::scope_thread_local(
        |a, b, c| a + b + c,
        |f| unsafe { f(1, 2, 3) },
    );
    assert_eq!(got, 6);
    let zero_sized = Slotless::new(|a, b, c| a * b * c);
    assert_eq!(unsafe { (zero_sized.function())(2, 3, 4) }, 24);
    let got = Slotted::scope(|a, b| a - b, |f, ud| unsafe { f(5, 2, ud) });
    assert_eq!(got, 3);
    let (got, state) = Sum(1).scope(|ud| unsafe { <Sum as EntriesExt>::ADD(4, ud) });
    assert_eq!((got, state.0), (5, 5));
}
