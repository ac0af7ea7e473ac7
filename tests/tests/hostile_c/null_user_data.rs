//! C passes NULL user data: to a fn taking `&T`, `&mut T`, `Box<T>`; to a
//! callback type's trampoline and a once-trampoline; from an accessor
//! (`user_data = EXPR`); and to a destroy-notify. Refused with the message
//! that says so, the fallback returned, no user code run.

use super::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

static SHARED_REF_RUNS: AtomicU32 = AtomicU32::new(0);

#[callback(fallback = -3)]
extern "C" fn add_to_cell(n: c_int, #[user_data] total: &Cell<c_int>) -> c_int {
    SHARED_REF_RUNS.fetch_add(1, Ordering::SeqCst);
    total.set(total.get() + n);
    total.get()
}

#[test]
fn c_passes_null_to_a_fn_taking_a_shared_ref() {
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: null, which the shim refuses; twice, as a C loop would.
            got = unsafe {
                vec![
                    c_call(add_to_cell, ptr::null_mut(), 1),
                    c_call(add_to_cell, ptr::null_mut(), 2),
                ]
            };
        })
    });
    // Refused, then the thread was poisoned: the fallback both times.
    assert_eq!(got, [-3, -3]);
    assert_eq!(SHARED_REF_RUNS.load(Ordering::SeqCst), 0);
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::null_user_data::add_to_cell` refused the call: its user data \
         is null, but it receives it as `&core::cell::Cell<i32>`"
    );
}

static MUT_REF_RUNS: AtomicU32 = AtomicU32::new(0);

#[callback(on_panic = fallback, fallback = -4)]
extern "C" fn push_to_vec(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    MUT_REF_RUNS.fetch_add(1, Ordering::SeqCst);
    seen.push(n);
    n
}

#[test]
fn c_passes_null_to_a_fn_taking_a_mut_ref() {
    let (got, raised) = panics_during(|| {
        // SAFETY: null, which the shim refuses; `fallback` handles each call
        // on its own.
        unsafe {
            [
                c_call(push_to_vec, ptr::null_mut(), 1),
                c_call(push_to_vec, ptr::null_mut(), 2),
            ]
        }
    });
    assert_eq!(got, [-4, -4]);
    assert_eq!(MUT_REF_RUNS.load(Ordering::SeqCst), 0);
    let expected = "ffi-callback: `hostile_c::null_user_data::push_to_vec` refused the call: its \
                    user data is null, but it receives it as `&mut alloc::vec::Vec<i32>`";
    assert_eq!(raised, [expected, expected]);
}

static BOX_RUNS: AtomicU32 = AtomicU32::new(0);

/// A destroy-notify in the fn form: ownership comes back.
#[callback(on_panic = fallback, fallback = -5)]
extern "C" fn free_owned(#[user_data] owned: Box<Owned>) -> c_int {
    BOX_RUNS.fetch_add(1, Ordering::SeqCst);
    owned.value
}

/// What a C library does with a destroy-notify returning a status.
unsafe extern "C" fn c_notify(
    notify: unsafe extern "C" fn(*mut c_void) -> c_int,
    ud: *mut c_void,
) -> c_int {
    // SAFETY: the caller passes the user data `notify` expects.
    unsafe { notify(ud) }
}

#[test]
fn c_passes_null_to_a_destroy_notify_taking_a_box() {
    let (got, raised) = panics_during(|| {
        // SAFETY: null, which the shim refuses.
        unsafe { c_notify(free_owned, ptr::null_mut()) }
    });
    assert_eq!(got, -5);
    assert_eq!(BOX_RUNS.load(Ordering::SeqCst), 0);
    assert_eq!(
        raised,
        [
            "ffi-callback: `hostile_c::null_user_data::free_owned` refused the call: its user \
             data is null, but it receives it as `alloc::boxed::Box<hostile_c::Owned>`"
        ]
    );
    // With a box, it runs and drops it once.
    let (boxed, drops) = owned(7);
    // SAFETY: `free_owned` receives `Box<Owned>`, handed back once.
    let got = unsafe { c_notify(free_owned, free_owned::user_data(boxed)) };
    assert_eq!(
        (got, drops.get(), BOX_RUNS.load(Ordering::SeqCst)),
        (7, 1, 1)
    );
}

#[test]
fn c_passes_null_to_a_callback_type() {
    let calls = Cell::new(0);
    let hook = Hook::new(|n| {
        calls.set(calls.get() + 1);
        n
    });
    let f = hook.function();
    let mut got = 0;
    // SAFETY: null instead of the holder's user data, which the trampoline
    // refuses before reading anything.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { f(ptr::null_mut(), 1) }));
    assert_eq!((got, calls.get()), (-1, 0));
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::Hook` refused the call: its user data is null instead of a \
         pointer to its holder"
    );
    // The holder itself was not touched: it runs.
    // SAFETY: the holder's own user data; `hook` is alive and unmoved.
    assert_eq!(unsafe { f(hook.user_data(), 2) }, 2);
    assert_eq!(calls.get(), 1);
}

#[test]
fn c_passes_null_to_a_once_callback() {
    let (track, drops) = tracked();
    let raw = Hook::once(move |n| {
        drop(track);
        n
    })
    .into_raw_with_destroy();
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: null, which the once-trampoline refuses.
            got = unsafe { (raw.function)(ptr::null_mut(), 1) };
        })
    });
    assert_eq!((got, drops.get()), (-1, 0));
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::Hook` refused the call: its user data is null instead of a \
         pointer to its holder"
    );
    // The real one was not consumed: C may still call it once.
    // SAFETY: the one call, then the destroy-notify, once.
    unsafe {
        assert_eq!((raw.function)(raw.user_data, 3), 3);
        (raw.destroy)(raw.user_data);
    }
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_calls_a_destroy_notify_with_null() {
    let (track, drops) = tracked();
    let raw = Hook::boxed(move |n| {
        let _ = &track;
        n
    })
    .into_raw();
    // SAFETY: a destroy-notify with null (GLib calls `notify(data)` whatever
    // `data` is): nothing to free. Then the real one, once.
    unsafe { (raw.destroy)(ptr::null_mut()) };
    assert_eq!(drops.get(), 0);
    // SAFETY: the holder is still alive.
    assert_eq!(unsafe { (raw.function)(raw.user_data, 4) }, 4);
    // SAFETY: once, after the last call.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

#[callback(
    // SAFETY: the simulated C passes a valid context.
    user_data = unsafe { c_ctx_user_data(ctx) },
    on_panic = fallback,
    fallback = -6
)]
type ScalarFunc = unsafe extern "C" fn(ctx: *mut Ctx, n: c_int) -> c_int;

#[test]
fn c_accessor_returns_null_to_a_callback_type() {
    let calls = Cell::new(0);
    let func = ScalarFunc::new(|_ctx, n| {
        calls.set(calls.get() + 1);
        n * 2
    });
    let f = func.function();
    let mut null_ctx = Ctx {
        user_data: ptr::null_mut(),
    };
    let mut ctx = Ctx {
        user_data: func.user_data(),
    };
    let (got, raised) = panics_during(|| {
        // SAFETY: a context whose user data is null (refused), then one with
        // the holder's; `func` is alive and unmoved.
        unsafe { [f(&mut null_ctx, 1), f(&mut ctx, 2)] }
    });
    assert_eq!(got, [-6, 4]);
    assert_eq!(calls.get(), 1);
    assert_eq!(
        raised,
        [
            "ffi-callback: `hostile_c::null_user_data::ScalarFunc` refused the call: its user \
             data is null instead of a pointer to its holder"
        ]
    );
}

static ACCESSOR_RUNS: AtomicU32 = AtomicU32::new(0);

#[callback(
    // SAFETY: the simulated C passes a valid context.
    user_data = unsafe { c_ctx_user_data(ctx) },
    fallback = -7
)]
extern "C" fn step(ctx: *mut Ctx, #[user_data] rows: &mut Vec<c_int>) -> c_int {
    let _ = ctx;
    ACCESSOR_RUNS.fetch_add(1, Ordering::SeqCst);
    rows.push(1);
    1
}

#[test]
fn c_accessor_returns_null_to_a_fn() {
    let mut ctx = Ctx {
        user_data: ptr::null_mut(),
    };
    let mut got = 0;
    // SAFETY: the accessor finds null, which the shim refuses.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { step(&mut ctx) }));
    assert_eq!(got, -7);
    assert_eq!(ACCESSOR_RUNS.load(Ordering::SeqCst), 0);
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::null_user_data::step` refused the call: its user data is \
         null, but it receives it as `&mut alloc::vec::Vec<i32>`"
    );
}

// ---------------------------------------------------------------------------
// C that goes on calling with null (expat with no user data set: every
// handler call of the document): the first refusal is raised and kept by
// the guard; the others could only be dropped (the first panic wins), so
// they return the fallback without raising a panic each.
// ---------------------------------------------------------------------------

#[test]
fn c_passes_null_again_and_again_to_a_callback_type_under_one_guard() {
    let hook = Hook::new(|n| n);
    let once = Hook::once(|n| n).into_raw_with_destroy();
    let f = hook.function();
    let mut got = Vec::new();
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            resume_panics(|| {
                for n in 0..10 {
                    // SAFETY: null, which both trampolines refuse before
                    // reading anything.
                    got.push(unsafe {
                        (f(ptr::null_mut(), n), (once.function)(ptr::null_mut(), n))
                    });
                }
            })
        })
    });
    assert_eq!(got, vec![(-1, -1); 10]);
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::Hook` refused the call: its user data is null instead of a \
         pointer to its holder"
    );
    // The holders were not touched.
    // SAFETY: the holder's own user data; `hook` is alive and unmoved. Then
    // the once-callback's one call and its destroy-notify.
    unsafe {
        assert_eq!(f(hook.user_data(), 2), 2);
        assert_eq!((once.function)(once.user_data, 3), 3);
        (once.destroy)(once.user_data);
    }
}

#[derive(Debug, PartialEq)]
struct RowError(c_int);

#[test]
fn c_passes_null_after_an_error_was_kept_and_the_refusal_still_wins() {
    let (got, raised) = panics_during(|| {
        catch_unwind(AssertUnwindSafe(|| {
            Hook::try_scope(
                |n| -> Result<c_int, RowError> { Err(RowError(n)) },
                |f, ud| {
                    // SAFETY: the holder's own user data (its error is
                    // kept), then null, refused: a panic wins over an
                    // error, so it is raised even though the guard holds
                    // something.
                    unsafe { (f(ud, 1), f(ptr::null_mut(), 2), f(ptr::null_mut(), 3)) }
                },
            )
        }))
    });
    let payload = got.expect_err("the refusal is resumed");
    assert!(
        message(&*payload).contains("its user data is null"),
        "{}",
        message(&*payload)
    );
    assert_eq!(raised.len(), 1, "{raised:?}");
}
