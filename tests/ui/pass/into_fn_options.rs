// `#[into(..)]` on a fn's parameters with the fn form's options: the
// option expressions read the C parameters as C passed them, the body the
// converted ones; in an impl block, generic, with `raise`, under
// `#![forbid(unsafe_code)]` (no `unsafe` is the user's; `unsafe(safe_fn)`
// is, and is tested in `tests/tests/simulated_fn.rs`).
#![forbid(unsafe_code)]
#![deny(unused)]

use ffi_callback::callback;
use std::ffi::{c_char, c_int, c_void, CStr};

pub struct Pid(pub c_int);

impl From<c_int> for Pid {
    fn from(pid: c_int) -> Self {
        Pid(pid)
    }
}

#[derive(Debug)]
pub struct Failed;

#[callback(
    fallback = if name.is_null() { -2 } else { -1 },
    on_error = if bytes.is_null() { -4 } else { -3 },
)]
pub extern "C" fn options(
    #[into(&CStr)] name: *const c_char,
    #[into(Option<&[u8]>, len = n)] bytes: *const u8,
    n: usize,
    #[into(Pid)] pid: c_int,
    #[user_data] total: &mut usize,
) -> Result<c_int, Failed> {
    *total += name.to_bytes().len() + bytes.map_or(0, <[u8]>::len) + n;
    if pid.0 < 0 {
        return Err(Failed);
    }
    Ok(pid.0)
}

#[callback(user_data = ctx)]
pub extern "C" fn fetched(ctx: *mut c_void, #[into(&mut u32)] out: *mut u32, #[user_data] add: &u32) {
    *out += *add;
}

pub struct Table;

impl Table {
    const BASE: c_int = 7;

    #[callback(in_impl)]
    pub extern "C" fn method(#[into(&u32)] value: *const u32) -> c_int {
        Self::BASE + *value as c_int
    }
}

#[callback]
pub extern "C" fn generic<T: Ord + Sync, const N: usize>(
    #[into(&[T; N])] a: *const c_void,
    #[into(&[T; N])] b: *const c_void,
) -> c_int {
    a.cmp(b) as c_int
}

#[callback]
pub extern "C" fn with_cfg(
    #[cfg(any())]
    #[into(&u32)]
    never: *const u32,
    #[cfg_attr(all(), allow(unused_variables))]
    #[into(&u32)]
    value: *const u32,
) -> u32 {
    *value
}

fn main() {
    let _: unsafe extern "C" fn(*const c_char, *const u8, usize, c_int, *mut c_void) -> c_int =
        options;
    let _: unsafe extern "C" fn(*mut c_void, *mut u32) = fetched;
    let _: unsafe extern "C" fn(*const u32) -> c_int = Table::method;
    let _: unsafe extern "C" fn(*const c_void, *const c_void) -> c_int = generic::<u8, 4>;
    let _: unsafe extern "C" fn(*const u32) -> u32 = with_cfg;
    let mut total = 0;
    let _ = options::user_data(&mut total);
}
