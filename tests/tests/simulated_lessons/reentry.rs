//! Issue 16.1: the fn form's debug-only re-entry check keys on the user
//! data's address *and type*, and skips zero-sized types: legal nested calls
//! (two zero-sized values at one dangling address; a struct, then its first
//! field reborrowed from it) run, and a true re-entry with the same pointer
//! and type is still refused. Miri (check or no check) sees no UB in the
//! legal shapes.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

/// The C shape: `int (*)(int n, void *ud)`.
type Visit = unsafe extern "C" fn(c_int, *mut c_void) -> c_int;

/// `return f(n, ud);`
unsafe extern "C" fn c_call(f: Visit, n: c_int, ud: *mut c_void) -> c_int {
    // SAFETY: the caller passes the user data `f` expects.
    unsafe { f(n, ud) }
}

thread_local! {
    /// The addresses the zero-sized callbacks saw, outer then inner.
    static SEEN: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Two zero-sized user-data types (a binding's marker types, or two
/// capture-free closures).
struct OuterMarker;
struct InnerMarker;

#[callback(fallback = -1)]
extern "C" fn outer_zst(n: c_int, #[user_data] marker: &mut OuterMarker) -> c_int {
    SEEN.with(|s| s.borrow_mut().push(ptr::from_mut(marker) as usize));
    // A nested C call, with another zero-sized user data that sits at the
    // same (dangling) address.
    let inner: &'static mut InnerMarker = Box::leak(Box::new(InnerMarker));
    // SAFETY: `inner_zst` receives `&mut InnerMarker`.
    unsafe { c_call(inner_zst, n + 1, inner_zst::user_data(inner)) }
}

#[callback(fallback = -1)]
extern "C" fn inner_zst(n: c_int, #[user_data] marker: &mut InnerMarker) -> c_int {
    SEEN.with(|s| s.borrow_mut().push(ptr::from_mut(marker) as usize));
    n * 10
}

#[test]
fn two_zero_sized_user_data_types_at_one_address_are_not_refused() {
    SEEN.with(|s| s.borrow_mut().clear());
    let outer: &'static mut OuterMarker = Box::leak(Box::new(OuterMarker));
    let (got, raised) = panics_during(|| {
        // SAFETY: `outer_zst` receives `&mut OuterMarker`.
        resume_panics(|| unsafe { c_call(outer_zst, 1, outer_zst::user_data(outer)) })
    });
    assert_eq!(got, 20);
    assert!(raised.is_empty(), "{raised:?}");
    let seen = SEEN.with(|s| s.borrow().clone());
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1], "the two markers share one address");
}

#[callback(fallback = -1)]
extern "C" fn same_zst(n: c_int, #[user_data] marker: &mut InnerMarker) -> c_int {
    if n > 0 {
        // The same zero-sized type again, at the same address: a `&mut` to
        // nothing aliases nothing.
        // SAFETY: `same_zst` receives `&mut InnerMarker`.
        return unsafe { c_call(same_zst, n - 1, same_zst::user_data(marker)) } + 1;
    }
    0
}

#[test]
fn the_same_zero_sized_type_re_entered_at_one_address_is_not_refused() {
    let marker: &'static mut InnerMarker = Box::leak(Box::new(InnerMarker));
    let (got, raised) = panics_during(|| {
        // SAFETY: `same_zst` receives `&mut InnerMarker`.
        resume_panics(|| unsafe { c_call(same_zst, 3, same_zst::user_data(marker)) })
    });
    assert_eq!(got, 3);
    assert!(raised.is_empty(), "{raised:?}");
}

/// A parser state whose first field is handed down to a nested C call.
#[repr(C)]
struct Parser {
    depth: Depth,
    names: Vec<c_int>,
}

#[repr(C)]
struct Depth {
    level: c_int,
}

#[callback(fallback = -1)]
extern "C" fn on_element(n: c_int, #[user_data] parser: &mut Parser) -> c_int {
    parser.names.push(n);
    let at_same_address = ptr::addr_eq(&raw const parser.depth, &raw const *parser);
    // A legal reborrow: the parser is not used while its field is.
    // SAFETY: `on_depth` receives `&mut Depth`.
    let inner = unsafe { c_call(on_depth, n, on_depth::user_data(&mut parser.depth)) };
    parser.names.push(inner);
    if at_same_address { inner } else { -100 }
}

#[callback(fallback = -1)]
extern "C" fn on_depth(n: c_int, #[user_data] depth: &mut Depth) -> c_int {
    depth.level += 1;
    n + depth.level
}

#[test]
fn a_struct_then_its_first_field_at_one_address_are_not_refused() {
    let mut parser = Parser {
        depth: Depth { level: 0 },
        names: Vec::new(),
    };
    let (got, raised) = panics_during(|| {
        resume_panics(|| {
            // SAFETY: `on_element` receives `&mut Parser`.
            unsafe { [5, 7].map(|n| c_call(on_element, n, on_element::user_data(&mut parser))) }
        })
    });
    assert_eq!(got, [6, 9], "the field shares the struct's address");
    assert!(raised.is_empty(), "{raised:?}");
    assert_eq!(parser.names, [5, 6, 7, 9]);
    assert_eq!(parser.depth.level, 2);
}

/// A C object that keeps a callback and its user data and calls it,
/// also from inside the callback (re-entry with the same pointer).
#[repr(C)]
struct Emitter {
    f: Option<unsafe extern "C" fn(*mut Emitter, c_int, *mut c_void) -> c_int>,
    ud: *mut c_void,
}

unsafe extern "C" fn c_emit(em: *mut Emitter, n: c_int) -> c_int {
    // SAFETY: the caller passes a valid emitter with a consistent
    // registration.
    unsafe {
        match (*em).f {
            Some(f) => f(em, n, (*em).ud),
            None => c_int::MIN,
        }
    }
}

#[callback(fallback = -1)]
extern "C" fn on_emit(em: *mut Emitter, n: c_int, #[user_data] parser: &mut Parser) -> c_int {
    parser.names.push(n);
    if n > 0 {
        // C re-enters with the very pointer this call holds as `&mut`.
        // SAFETY: the emitter is valid for the calls.
        let inner = unsafe { c_emit(em, n - 1) };
        parser.names.push(inner);
    }
    n
}

#[test]
#[cfg(debug_assertions)]
fn the_same_pointer_and_type_re_entered_is_still_refused() {
    let mut parser = Parser {
        depth: Depth { level: 0 },
        names: Vec::new(),
    };
    let mut em = Emitter {
        f: Some(on_emit),
        ud: on_emit::user_data(&mut parser),
    };
    let mut got = 0;
    // SAFETY: `on_emit` receives `&mut Parser`, alive for the call.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { c_emit(&mut em, 1) }));
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `simulated_lessons::reentry::on_emit` refused the call: it was entered \
             again with user data "
        ),
        "{msg}"
    );
    assert!(
        msg.contains(
            "(a `simulated_lessons::reentry::Parser`), which `simulated_lessons::reentry::on_emit` \
             is still using mutably"
        ),
        "{msg}"
    );
    // The outer call finished; the inner one got the fallback without
    // running the body (no second `&mut`).
    assert_eq!(got, 1);
    assert_eq!(parser.names, [1, -1]);
}

/// A generic fn-form callback that runs the closure it receives.
#[callback(fallback = -1)]
extern "C" fn run_closure<F: FnMut(c_int) -> c_int>(n: c_int, #[user_data] f: &mut F) -> c_int {
    f(n)
}

/// `run_closure` for `f`'s type, with its user data.
fn closure_callback<F: FnMut(c_int) -> c_int>(f: &mut F) -> (Visit, *mut c_void) {
    (run_closure::<F>, run_closure::user_data(f))
}

#[test]
fn a_closure_then_its_first_capture_at_one_address_are_not_refused() {
    let mut total = 0;
    // Two closures of one fn: different types, with the same `type_name`.
    let mut inner = move |n: c_int| {
        total += n;
        total
    };
    let mut outer = move |n: c_int| -> c_int {
        // Its only capture, `inner`, sits at its own address; handing it
        // down is a legal reborrow.
        let (f, ud) = closure_callback(&mut inner);
        // SAFETY: `ud` is what `f` expects, alive for the call.
        unsafe { c_call(f, n, ud) }
    };
    let (f, ud) = closure_callback(&mut outer);
    let got = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as above.
        resume_panics(|| unsafe { [c_call(f, 2, ud), c_call(f, 3, ud)] })
    }))
    .unwrap_or_else(|payload| panic!("the nested call was refused: {}", message(&*payload)));
    assert_eq!(got, [2, 5]);
}
