// `error = Type` takes any type, generic arguments included, also beside
// a preset (which hands the item's other options on as written).
use ffi_callback::callback;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};

ffi_callback::preset! {
    pub(crate) visit_callback = (fallback = -1, on_error = -2);
}

#[callback(preset = visit_callback, error = HashMap<c_int, String>)]
pub type Keyed = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[callback(error = Box<dyn std::error::Error>, on_error = -1)]
pub type Visit = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[callback(error = Vec<u8>, on_error = -c_int::from(e.len() > 0), fallback = 0)]
pub type Bytes = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn main() {
    let mut got = Vec::new();
    let result = Visit::try_scope(
        |n| if n < 0 { Err("negative".into()) } else { Ok(n) },
        // SAFETY: `f` takes `ud`, alive for the scope.
        |f, ud| got = [unsafe { f(ud, 1) }, unsafe { f(ud, -1) }].to_vec(),
    );
    assert_eq!(got, [1, -1]);
    assert_eq!(result.map_err(|e| e.to_string()), Err("negative".to_owned()));

    let result = Bytes::try_scope(
        |n| if n == 2 { Err(vec![1, 2]) } else { Ok(n) },
        // SAFETY: as above.
        |f, ud| got = [unsafe { f(ud, 2) }].to_vec(),
    );
    assert_eq!(got, [-1]);
    assert_eq!(result, Err(vec![1, 2]));

    let result = Keyed::try_scope(
        |n| if n == 3 { Err(HashMap::from([(n, "three".to_owned())])) } else { Ok(n) },
        // SAFETY: as above.
        |f, ud| got = [unsafe { f(ud, 1) }, unsafe { f(ud, 3) }].to_vec(),
    );
    assert_eq!(got, [1, -2], "the preset's on_error");
    assert_eq!(result, Err(HashMap::from([(3, "three".to_owned())])));
}
