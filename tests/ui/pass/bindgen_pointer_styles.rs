//! The generated items fit the pointer types bindings declare: bindgen's
//! `Option<unsafe extern "C" fn>` fields and aliases, bare fn fields (like
//! zlib's `alloc_func`), and GLib-style destroy-notifies.
use ffi_callback::{callback, resume_panics, user_data};
use std::ffi::{c_int, c_uint, c_void};

// As bindgen writes a C header.
pub type GDestroyNotify = Option<unsafe extern "C" fn(data: *mut c_void)>;
pub type GSourceFunc = Option<unsafe extern "C" fn(user_data: *mut c_void) -> c_int>;
#[allow(non_camel_case_types)]
pub type alloc_func =
    unsafe extern "C" fn(opaque: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void;
#[allow(non_camel_case_types)]
pub type free_func = unsafe extern "C" fn(opaque: *mut c_void, address: *mut c_void);

/// A struct with bare (non-`Option`) fn fields, like `z_stream`.
#[repr(C)]
pub struct Stream {
    pub zalloc: alloc_func,
    pub zfree: free_func,
    pub opaque: *mut c_void,
}

/// A struct with bindgen's nullable fields.
#[repr(C)]
pub struct Source {
    pub func: GSourceFunc,
    pub data: *mut c_void,
    pub notify: GDestroyNotify,
}

#[callback]
extern "C" fn count_alloc(
    #[user_data] calls: &mut c_uint,
    items: c_uint,
    size: c_uint,
) -> *mut c_void {
    *calls += items * size;
    std::ptr::null_mut()
}

#[callback]
extern "C" fn count_free(#[user_data] calls: &mut c_uint, address: *mut c_void) {
    let _ = address;
    *calls += 1;
}

// The C typedefs, written as the header declares them.
#[callback]
type Alloc = unsafe extern "C" fn(
    #[user_data] opaque: *mut c_void,
    items: c_uint,
    size: c_uint,
) -> *mut c_void;

#[callback(send)]
type SourceFunc = Option<unsafe extern "C" fn(#[user_data] user_data: *mut c_void) -> c_int>;

fn main() {
    let mut calls: c_uint = 0;
    let stream = Stream {
        zalloc: count_alloc,
        zfree: count_free,
        opaque: user_data(&mut calls),
    };
    resume_panics(|| unsafe {
        (stream.zalloc)(stream.opaque, 2, 3);
        (stream.zfree)(stream.opaque, std::ptr::null_mut());
    });
    assert_eq!(calls, 7);

    let alloc = Alloc::new(|items, size| {
        let _ = (items, size);
        std::ptr::null_mut()
    });
    let _ = Stream {
        zalloc: alloc.function(),
        zfree: count_free,
        opaque: alloc.user_data(),
    };

    let raw = SourceFunc::boxed(|| 0).into_raw();
    let source = Source {
        func: Some(raw.function),
        data: raw.user_data,
        notify: Some(raw.destroy),
    };
    // SAFETY: the callback and its destroy-notify, each called as C would.
    unsafe {
        assert_eq!(source.func.unwrap()(source.data), 0);
        source.notify.unwrap()(source.data);
    }
}
