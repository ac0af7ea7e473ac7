use ffi_callback::callback;
use std::ffi::{CStr, c_char, c_int, c_void};

/// A borrow lasts for the call: no `'static`, no named lifetime.
#[callback]
type Named = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&'static CStr)] name: *const c_char,
    #[into(Option<&'a c_int>)] value: *const c_int,
);

/// A safe fn pointer type would let safe code pass any pointer.
#[callback]
type SafePath = extern "C" fn(#[into(&CStr)] path: *const c_char) -> c_int;

/// `&mut` only from a `*mut` pointer, and only pointers borrow.
#[callback]
type Wrong = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&mut c_int)] out: *const c_int,
    #[into(&CStr)] len: usize,
);

/// The same rules for a set's methods.
#[callback]
trait Visitor {
    unsafe extern "C" fn visit(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&'static CStr)] name: *const c_char,
        #[into(&mut c_int)] out: *const c_int,
    );
}

fn main() {}

/// C's pointer cannot point at a Rust reference, container or cell.
#[callback]
type NotC = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&&CStr)] name: *const *const c_char,
    #[into(Option<&mut Vec<u8>>)] bytes: *mut c_void,
    #[into(&std::cell::Cell<c_int>)] counter: *mut c_int,
);
