use ffi_callback::callback;
use std::ffi::{c_int, c_void};

// A misspelt option: the type is still emitted (as a stub holder with the
// real closure and `call` signatures, and its `ExecRowFn` alias), so its uses
// below, written as they would be for the real holder, add no errors of their
// own: the macro's error is the only one.
#[callback(fallbak = 1)]
type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

unsafe extern "C" fn c_exec(f: ExecRowFn, ud: *mut c_void) -> c_int {
    unsafe { f(ud, 3) }
}

fn main() {
    let a = ExecRow::scope(|n| n * 2, |f, ud| unsafe { c_exec(f, ud) });
    let b: Result<c_int, ()> = ExecRow::try_scope(|n| Ok(n), |f, ud| unsafe { c_exec(f, ud) });
    let c = ExecRow::scope_once(|n| n, |f, ud| unsafe { c_exec(f, ud) });
    let cb = ExecRow::new(|n| n + 1);
    let d = unsafe { c_exec(cb.function(), cb.user_data()) };
    let owned = ExecRow::boxed(|n| n - 1);
    let e = unsafe { c_exec(owned.function(), owned.user_data()) };
    println!("{}", a + c + d + e + b.unwrap_or(0));
}
