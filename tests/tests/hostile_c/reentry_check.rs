//! The fn form's re-entry check (debug builds): two zero-sized user data at
//! one address and a struct then its first field are legal and must not be
//! refused; the same pointer, same type, `&mut`, re-entered by C, must.

use super::*;

/// A C object that keeps a fn-form callback and calls it on `c_emit`, also
/// from inside it (re-entry).
#[repr(C)]
struct Emitter {
    f: Option<Visit>,
    ud: *mut c_void,
}

unsafe extern "C" fn c_emitter_set(em: *mut Emitter, f: Option<Visit>, ud: *mut c_void) {
    // SAFETY: the caller passes a valid emitter.
    unsafe {
        (*em).f = f;
        (*em).ud = ud;
    }
}

unsafe extern "C" fn c_emit(em: *mut Emitter, n: c_int) -> c_int {
    // SAFETY: the caller passes a valid emitter with a consistent
    // registration.
    unsafe {
        let (f, ud) = ((*em).f, (*em).ud);
        match f {
            Some(f) => f(n, ud),
            None => c_int::MIN,
        }
    }
}

struct MarkerA;
struct MarkerB;

#[callback(fallback = -1)]
extern "C" fn with_marker_a(n: c_int, #[user_data] a: &mut MarkerA) -> c_int {
    let b: &'static mut MarkerB = Box::leak(Box::new(MarkerB));
    let same_address = ptr::from_mut(&mut *a).addr() == ptr::from_mut(&mut *b).addr();
    // SAFETY: `with_marker_b` receives `&mut MarkerB`; `b` lives forever.
    let inner = unsafe { c_call(with_marker_b, with_marker_b::user_data(b), n) };
    if same_address { inner } else { c_int::MIN }
}

#[callback(fallback = -1)]
extern "C" fn with_marker_b(n: c_int, #[user_data] b: &mut MarkerB) -> c_int {
    let _ = b;
    n + 1
}

#[test]
fn c_nests_two_zero_sized_user_data_at_one_address() {
    let a: &'static mut MarkerA = Box::leak(Box::new(MarkerA));
    let (got, raised) = panics_during(|| {
        // SAFETY: `with_marker_a` receives `&mut MarkerA`; `a` lives
        // forever.
        resume_panics(|| unsafe { c_call(with_marker_a, with_marker_a::user_data(a), 4) })
    });
    // Both at the dangling address, both `&mut`, nothing aliased: not
    // refused.
    assert_eq!(got, 5);
    assert!(raised.is_empty(), "{raised:?}");
}

#[repr(C)]
struct Doc {
    header: Header,
    emitter: *mut Emitter,
    log: Vec<c_int>,
}

struct Header {
    visits: u32,
}

/// Hands its first field down to another callback, by a legal reborrow:
/// same address, another type.
#[callback(fallback = -1)]
extern "C" fn on_doc(n: c_int, #[user_data] doc: &mut Doc) -> c_int {
    doc.log.push(n);
    // SAFETY: `on_header` receives `&mut Header`, reborrowed from `doc` for
    // the call.
    let inner = unsafe { c_call(on_header, on_header::user_data(&mut doc.header), n) };
    doc.log.push(inner);
    inner
}

#[callback(fallback = -1)]
extern "C" fn on_header(n: c_int, #[user_data] header: &mut Header) -> c_int {
    header.visits += 1;
    n * 10
}

#[test]
fn c_nests_a_struct_then_its_first_field() {
    let mut doc = Doc {
        header: Header { visits: 0 },
        emitter: ptr::null_mut(),
        log: Vec::new(),
    };
    assert_eq!(
        ptr::from_mut(&mut doc).addr(),
        ptr::from_mut(&mut doc.header).addr()
    );
    let (got, raised) = panics_during(|| {
        // SAFETY: `on_doc` receives `&mut Doc`, alive and otherwise unused
        // meanwhile.
        resume_panics(|| unsafe { c_call(on_doc, on_doc::user_data(&mut doc), 2) })
    });
    assert_eq!(got, 20);
    assert!(raised.is_empty(), "{raised:?}");
    assert_eq!((doc.log, doc.header.visits), (vec![2, 20], 1));
}

/// Re-enters through the C object that holds its own pointer.
#[callback(fallback = -1)]
extern "C" fn on_doc_nested(n: c_int, #[user_data] doc: &mut Doc) -> c_int {
    let inner = if n > 0 {
        // SAFETY: the emitter outlives the test's calls.
        unsafe { c_emit(doc.emitter, n - 1) }
    } else {
        0
    };
    doc.log.push(inner);
    n
}

#[test]
fn c_reenters_a_fn_with_the_same_mut_pointer() {
    let mut em = Emitter {
        f: None,
        ud: ptr::null_mut(),
    };
    let em_ptr = &raw mut em;
    let mut doc = Doc {
        header: Header { visits: 0 },
        emitter: em_ptr,
        log: Vec::new(),
    };
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `on_doc_nested` receives `&mut Doc`; `doc` and `em`
            // outlive the calls and are used only through these pointers
            // meanwhile.
            unsafe {
                c_emitter_set(
                    em_ptr,
                    Some(on_doc_nested),
                    on_doc_nested::user_data(&mut doc),
                );
                got = c_emit(em_ptr, 1);
            }
        })
    });
    // Refused before a second `&mut Doc` existed; the outer call finished.
    assert_eq!(got, 1);
    assert_eq!(doc.log, [-1]);
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `hostile_c::reentry_check::on_doc_nested` refused the call: it was \
             entered again with user data "
        ),
        "{msg}"
    );
    assert!(
        msg.contains(
            "(a `hostile_c::reentry_check::Doc`), which \
             `hostile_c::reentry_check::on_doc_nested` is still using mutably"
        ),
        "{msg}"
    );
}
