//! `extern "system"` (Windows' `CALLBACK`), and `"C-unwind"` with
//! `on_panic = unwind` (Lua-style C libraries that expect unwinding).
use ffi_callback::{callback, resume_panics, user_data};
use std::ffi::{c_int, c_void};

#[allow(clippy::upper_case_acronyms)]
type LPARAM = isize;
#[allow(clippy::upper_case_acronyms)]
type BOOL = c_int;

#[callback]
extern "system" fn enum_proc(
    hwnd: *mut c_void,
    #[user_data(LPARAM)] found: &mut Vec<usize>,
) -> BOOL {
    found.push(hwnd as usize);
    1
}

#[callback]
type WndEnumProc =
    Option<unsafe extern "system" fn(hwnd: *mut c_void, #[user_data] lparam: LPARAM) -> BOOL>;

#[callback(on_panic = unwind)]
extern "C-unwind" fn lua_fn(state: *mut c_void) -> c_int {
    if state.is_null() {
        panic!("null state");
    }
    1
}

#[callback(on_panic = unwind)]
type LuaCFunction = unsafe extern "C-unwind" fn(#[user_data] state: *mut c_void) -> c_int;

fn main() {
    let mut found: Vec<usize> = Vec::new();
    resume_panics(|| unsafe {
        enum_proc(std::ptr::null_mut(), user_data(&mut found));
    });
    assert_eq!(found, [0]);
    let n = WndEnumProc::scope(
        |_hwnd| 1,
        |f, lparam| unsafe { f(std::ptr::null_mut(), lparam) },
    );
    assert_eq!(n, 1);

    let f: extern "C-unwind" fn(*mut c_void) -> c_int = lua_fn;
    assert_eq!(f(std::ptr::NonNull::<c_void>::dangling().as_ptr()), 1);
    let _: unsafe extern "C-unwind" fn(*mut c_void) -> c_int = LuaCFunction::new(|| 0).function();
}
