//! `#[user_data(SlotType)]`: any pointer, or an integer the size of a
//! pointer, including aliases the macro cannot see through.
use ffi_callback::{callback, resume_panics, user_data};
use std::ffi::{c_int, c_void};

#[allow(clippy::upper_case_acronyms)]
type LPARAM = isize;

#[callback]
extern "C" fn in_usize(#[user_data(usize)] total: &mut c_int, n: c_int) {
    *total += n;
}

#[callback]
extern "C" fn in_isize(n: c_int, #[user_data(isize)] total: &mut c_int) {
    *total += n;
}

#[callback]
extern "C" fn in_const_ptr(n: c_int, #[user_data(*const c_void)] total: &mut c_int) {
    *total += n;
}

#[callback]
extern "system" fn in_lparam(n: c_int, #[user_data(LPARAM)] total: &mut c_int) -> c_int {
    *total += n;
    1
}

#[callback]
extern "C" fn in_typed_ptr(n: c_int, #[user_data(*mut c_int)] total: &mut c_int) {
    *total += n;
}

fn main() {
    let mut total = 0;
    resume_panics(|| unsafe {
        in_usize(user_data(&mut total), 1);
        in_isize(2, user_data(&mut total));
        in_const_ptr(3, user_data(&mut total));
        in_lparam(4, user_data(&mut total));
        in_typed_ptr(5, user_data(&mut total));
    });
    assert_eq!(total, 15);
    let _: unsafe extern "system" fn(c_int, LPARAM) -> c_int = in_lparam;
    let _: unsafe extern "C" fn(usize, c_int) = in_usize;
}
