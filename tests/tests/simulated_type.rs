//! Callback types (`#[callback] type T = unsafe extern "C" fn(..)`) against
//! C APIs simulated in Rust: the holders (`scope`, `new`, `boxed`, `once`),
//! re-entry, poisoning, ownership (every closure dropped exactly once,
//! checked with drop counters here and by Miri's leak check), the threading
//! contracts (`send`, `sync`), slot-less types and accessor user data. No C
//! code runs, so the whole file runs under Miri (`scripts/miri.sh`).

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ops::ControlFlow;
use std::panic::panic_any;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

#[derive(Debug, PartialEq)]
struct Boom(u32);

/// Counts its drops (captured by closures to check they are freed once).
struct Tracked(Rc<Cell<u32>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn tracked() -> (Tracked, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    (Tracked(drops.clone()), drops)
}

/// `Tracked` for closures that cross threads.
struct SendTracked(Arc<AtomicU32>);

impl Drop for SendTracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn send_tracked() -> (SendTracked, Arc<AtomicU32>) {
    let drops = Arc::new(AtomicU32::new(0));
    (SendTracked(drops.clone()), drops)
}

// ---------------------------------------------------------------------------
// The callback types, as a C header would declare them.
// ---------------------------------------------------------------------------

/// Default contract: `FnMut`, caller's thread, re-entry refused.
#[callback(fallback = -1)]
type Each = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// May be re-entered: `Fn`.
#[callback(reentrant, fallback = -1)]
type EachReentrant = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// Each call stands alone: no poisoning.
#[callback(on_panic = fallback, fallback = -1)]
type EachFallback = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

// ---------------------------------------------------------------------------
// The simulated C library.
// ---------------------------------------------------------------------------

/// `for (i = 0; i < n; i++) out[i] = f(ud, i);`
unsafe extern "C" fn c_each(f: Option<EachFn>, ud: *mut c_void, n: c_int, out: *mut c_int) {
    let Some(f) = f else { return };
    for i in 0..n {
        // SAFETY: the caller passes the user data `f` expects, and `out`
        // with room for `n` ints.
        unsafe { *out.add(i as usize) = f(ud, i) };
    }
}

/// Calls `c_each` and collects what the callback returned each time.
///
/// # Safety
/// `ud` is what `f` expects.
unsafe fn each(f: EachFn, ud: *mut c_void, n: c_int) -> Vec<c_int> {
    let mut out = vec![c_int::MIN; n as usize];
    // SAFETY: forwarded; `out` has room for `n` ints.
    unsafe { c_each(Some(f), ud, n, out.as_mut_ptr()) };
    out
}

/// A C object that keeps a callback and calls it on `c_emit`, also from
/// inside the callback (re-entry).
#[repr(C)]
struct Emitter {
    f: Option<EachFn>,
    ud: *mut c_void,
}

unsafe extern "C" fn c_emitter_set(em: *mut Emitter, f: Option<EachFn>, ud: *mut c_void) {
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
        match (*em).f {
            Some(f) => f((*em).ud, n),
            None => c_int::MIN,
        }
    }
}

fn new_emitter() -> Emitter {
    Emitter {
        f: None,
        ud: ptr::null_mut(),
    }
}

/// A registry that owns a callback and frees it with a GLib-style
/// destroy-notify, typed as bindings type it.
#[repr(C)]
struct Registry {
    f: Option<EachFn>,
    ud: *mut c_void,
    destroy: Option<unsafe extern "C" fn(*mut c_void)>,
}

unsafe extern "C" fn c_registry_fire(reg: *mut Registry, n: c_int) -> c_int {
    // SAFETY: the caller passes a valid registry.
    unsafe {
        match (*reg).f {
            Some(f) => f((*reg).ud, n),
            None => c_int::MIN,
        }
    }
}

unsafe extern "C" fn c_registry_clear(reg: *mut Registry) {
    // SAFETY: the caller passes a valid registry; its destroy-notify is
    // called once, after the last call.
    unsafe {
        if let Some(destroy) = (*reg).destroy.take() {
            destroy((*reg).ud);
        }
        (*reg).f = None;
        (*reg).ud = ptr::null_mut();
    }
}

#[test]
fn holders_are_debug_whatever_the_closure() {
    // The closures are not `Debug`.
    let each = Each::new(|n| n);
    let compare = Compare::new(|_: *const c_void, _: *const c_void| 0);
    assert_eq!(
        format!("{each:?} {compare:?}"),
        "Each { .. } Compare { .. }"
    );
}

// ---------------------------------------------------------------------------
// scope
// ---------------------------------------------------------------------------

#[test]
fn scope_returns_the_c_calls_value() {
    let mut seen = Vec::new();
    let results = Each::scope(
        |n| {
            seen.push(n);
            n * 3
        },
        // SAFETY: `f` and `ud` come together from the holder, alive for the
        // whole scope.
        |f, ud| unsafe { each(f, ud, 4) },
    );
    assert_eq!(results, [0, 3, 6, 9]);
    assert_eq!(seen, [0, 1, 2, 3]);
}

#[test]
fn scope_resumes_the_payload_and_poisons_the_holder() {
    let mut seen = Vec::new();
    let mut results = Vec::new();
    let payload = panic_payload(|| {
        Each::scope(
            |n| {
                if n == 2 {
                    panic_any(Boom(2));
                }
                seen.push(n);
                n
            },
            // SAFETY: as above.
            |f, ud| results = unsafe { each(f, ud, 5) },
        )
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
    // The C call went on to its end; calls after the panic got the
    // fallback without running the closure.
    assert_eq!(results, [0, 1, -1, -1, -1]);
    assert_eq!(seen, [0, 1]);
}

// ---------------------------------------------------------------------------
// new + function + user_data, over several statements
// ---------------------------------------------------------------------------

#[test]
fn new_function_user_data_split_over_statements() {
    let mut reg = Registry {
        f: None,
        ud: ptr::null_mut(),
        destroy: None,
    };
    let mut total = 0;
    let cb = Each::new(|n| {
        total += n;
        total
    });
    // SAFETY: `cb` stays alive and unmoved until the registry is cleared.
    let got = resume_panics(|| unsafe {
        reg.f = Some(cb.function());
        reg.ud = cb.user_data();
        let a = c_registry_fire(&mut reg, 5);
        let b = c_registry_fire(&mut reg, 7);
        c_registry_clear(&mut reg);
        (a, b)
    });
    // Ends the closure's borrow of `total`.
    let _ = cb.into_inner();
    assert_eq!(got, (5, 12));
    assert_eq!(total, 12);
}

#[test]
fn into_inner_gives_the_closure_back() {
    let (track, drops) = tracked();
    let mut count = 0;
    let cb = Each::new(move |n| {
        let _ = &track;
        count += 1;
        n + count
    });
    // SAFETY: `cb` is alive and unmoved for the call.
    let got = unsafe { each(cb.function(), cb.user_data(), 2) };
    assert_eq!(got, [1, 3]);
    let mut closure = cb.into_inner();
    // Its state carried over.
    assert_eq!(closure(10), 13);
    assert_eq!(drops.get(), 0);
    drop(closure);
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// Re-entry
// ---------------------------------------------------------------------------

#[test]
fn reentry_is_refused_and_never_aliases() {
    let mut em = new_emitter();
    let em_ptr = &raw mut em;
    let mut log: Vec<(c_int, c_int)> = Vec::new();
    let cb = Each::new(|n| {
        // The closure holds `&mut log` (through `&mut F`) while it
        // re-enters the C library, which calls the same holder again.
        let inner = if n > 0 {
            // SAFETY: the emitter outlives the calls.
            unsafe { c_emit(em_ptr, n - 1) }
        } else {
            0
        };
        log.push((n, inner));
        n + 100
    });
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `cb` is alive and unmoved while the emitter uses it.
            unsafe {
                c_emitter_set(em_ptr, Some(cb.function()), cb.user_data());
                got = c_emit(em_ptr, 2);
            }
        })
    });
    // The refusal was kept like a panic and poisoned the holder until the
    // guard re-raised it; now the closure runs again.
    // SAFETY: as above.
    let later = unsafe { c_emit(em_ptr, 0) };
    let _ = cb.into_inner();
    // The inner call was refused (fallback -1) without touching the
    // closure; the outer call finished. (Miri checks that no second
    // `&mut` was made.)
    assert_eq!((got, later), (102, 100));
    assert_eq!(log, [(2, -1), (0, 0)]);
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `simulated_type::Each` refused the call: it was called while its \
             closure was already running"
        ),
        "{msg}"
    );
    assert!(msg.contains("#[callback(reentrant)]"), "{msg}");
}

#[test]
fn reentrant_type_may_be_reentered() {
    let mut em = new_emitter();
    let em_ptr = &raw mut em;
    let log = RefCell::new(Vec::new());
    let got = EachReentrant::scope(
        |n| {
            let inner = if n > 0 {
                // SAFETY: the emitter outlives the calls.
                unsafe { c_emit(em_ptr, n - 1) }
            } else {
                0
            };
            log.borrow_mut().push((n, inner));
            inner + 1
        },
        // SAFETY: `f`/`ud` are alive for the scope, the emitter too.
        |f, ud| unsafe {
            c_emitter_set(em_ptr, Some(f), ud);
            c_emit(em_ptr, 3)
        },
    );
    assert_eq!(got, 4);
    assert_eq!(*log.borrow(), [(0, 0), (1, 1), (2, 2), (3, 3)]);
}

// ---------------------------------------------------------------------------
// Poisoning
// ---------------------------------------------------------------------------

#[test]
fn a_panic_poisons_the_holder_until_the_guard_reraises_it() {
    let calls = Cell::new(0);
    let cb = Each::new(|n| {
        calls.set(calls.get() + 1);
        if n == 1 {
            panic_any(Boom(1));
        }
        n + 10
    });
    let (f, ud) = (cb.function(), cb.user_data());
    let mut results = Vec::new();
    // SAFETY: `cb` is alive and unmoved for every call below.
    let payload = panic_payload(|| resume_panics(|| results = unsafe { each(f, ud, 4) }));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    // After the panic, the rest of the C call got the fallback without
    // running the closure (C libraries keep calling after an error).
    assert_eq!(results, [10, -1, -1, -1]);
    assert_eq!(calls.get(), 2);

    // The guard re-raised the panic, so the Rust caller has it and decides:
    // later C calls, under a fresh guard or none, run the closure again.
    let mut again = Vec::new();
    // SAFETY: as above.
    let payload = panic_payload(|| resume_panics(|| again = unsafe { each(f, ud, 3) }));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    assert_eq!(
        again,
        [10, -1, -1],
        "n == 1 panics again, and poisons again"
    );
    assert_eq!(calls.get(), 4);
    // SAFETY: as above; no guard needed for a call that does not panic.
    assert_eq!(unsafe { f(ud, 0) }, 10);
}

#[test]
fn a_panic_poisons_a_reentrant_holder_until_the_guard_reraises_it() {
    let calls = Cell::new(0);
    let cb = EachReentrant::new(|n| {
        calls.set(calls.get() + 1);
        assert!(n != 0, "expected: first call");
        n
    });
    let (f, ud) = (cb.function(), cb.user_data());
    // SAFETY: `cb` is alive and unmoved for every call below.
    let payload = panic_payload(|| resume_panics(|| unsafe { each(f, ud, 3) }));
    assert_eq!(message(&*payload), "expected: first call");
    assert_eq!(calls.get(), 1);
    // The guard re-raised the panic: the closure runs again.
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: as above.
        resume_panics(|| unsafe { f(ud, 1) + f(ud, 2) })
    }));
    assert_eq!(again.ok(), Some(3));
    assert_eq!(calls.get(), 3);
}

#[test]
fn fallback_policy_does_not_poison() {
    let calls = Cell::new(0);
    let (results, raised) = panics_during(|| {
        EachFallback::scope(
            |n| {
                calls.set(calls.get() + 1);
                assert!(n != 1, "expected: fallback type");
                n * 2
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| unsafe { each(f, ud, 4) },
        )
    });
    assert_eq!(results, [0, -1, 4, 6]);
    assert_eq!(calls.get(), 4);
    assert_eq!(raised, ["expected: fallback type"]);
}

/// A C library built with unwinding (`-fexceptions`): the panic passes
/// through it.
#[callback(on_panic = unwind)]
type EachUnwind = unsafe extern "C-unwind" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

unsafe extern "C-unwind" fn c_each_unwind(f: EachUnwindFn, ud: *mut c_void, n: c_int) -> c_int {
    // SAFETY: the caller passes the user data `f` expects.
    (0..n).map(|i| unsafe { f(ud, i) }).sum()
}

#[test]
fn unwind_type_lets_the_panic_through_and_stays_usable() {
    let calls = Cell::new(0);
    let cb = EachUnwind::new(|n| {
        calls.set(calls.get() + 1);
        if n == 1 {
            panic_any(Boom(1));
        }
        n
    });
    let (f, ud) = (cb.function(), cb.user_data());
    // No guard needed: the panic unwinds through the (`C-unwind`) C call
    // into this frame.
    // SAFETY: `cb` is alive and unmoved for every call below.
    let payload = panic_payload(|| unsafe { c_each_unwind(f, ud, 3) });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    // The unwinding stopped the C loop.
    assert_eq!(calls.get(), 2);
    // Not poisoned, not left "running": the next C call runs the closure
    // (a holder stuck running would refuse it).
    // SAFETY: as above.
    assert_eq!(unsafe { c_each_unwind(f, ud, 1) }, 0);
    assert_eq!(calls.get(), 3);
}

// ---------------------------------------------------------------------------
// once
// ---------------------------------------------------------------------------

#[test]
fn once_into_raw_is_freed_by_its_call() {
    let (track, drops) = tracked();
    let raw = Each::once(move |n| {
        drop(track);
        n * 2
    })
    .into_raw();
    assert_eq!(drops.get(), 0);
    // SAFETY: the one call of a `once` trampoline with its user data.
    let got = resume_panics(|| unsafe { (raw.function)(raw.user_data, 21) });
    assert_eq!(got, 42);
    assert_eq!(drops.get(), 1);
}

#[test]
fn once_into_raw_panicking_still_frees() {
    let (track, drops) = tracked();
    let raw = Each::once(move |n| -> c_int {
        let _ = &track;
        panic_any(Boom(n as u32))
    })
    .into_raw();
    let mut got = 0;
    let payload = panic_payload(|| {
        // SAFETY: the one call.
        resume_panics(|| got = unsafe { (raw.function)(raw.user_data, 8) })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(8)));
    assert_eq!((got, drops.get()), (-1, 1));
}

/// A `RawOnce` of a default-contract type with a `Send` closure is `Send`:
/// reclaimed on the thread it was moved to (its C call failed there), it
/// drops the closure there, and a future made with it resolves to
/// `Cancelled` (it was leaked, and the future stayed pending).
#[test]
fn once_reclaimed_on_another_thread_drops_its_closure_there() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let flag = Arc::clone(&dropped);
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let flag = Flag(flag);
    let (once, done) = ffi_callback::future(|done| {
        Each::once(move |n| {
            let _keep = &flag;
            done.complete(n);
            n
        })
    });
    let raw = once.into_raw();
    std::thread::spawn(move || {
        let raw = raw;
        // SAFETY: the C call that was to call it "failed": it never will.
        unsafe { raw.reclaim() };
    })
    .join()
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    let waker = std::task::Waker::noop();
    let mut done = std::pin::pin!(done);
    let polled = done
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker));
    assert!(
        matches!(polled, std::task::Poll::Ready(Err(_))),
        "{polled:?}"
    );
}

#[test]
fn once_reclaim_and_drop_free_the_uncalled_closure() {
    let ran = Rc::new(Cell::new(false));
    let (track, drops) = tracked();
    let ran2 = ran.clone();
    let raw = Each::once(move |n| {
        drop(track);
        ran2.set(true);
        n
    })
    .into_raw();
    // SAFETY: the C call that was to call it "failed": it never will.
    unsafe { raw.reclaim() };
    assert_eq!((drops.get(), ran.get()), (1, false));

    let (track, drops) = tracked();
    let once = Each::once(move |n| {
        drop(track);
        n
    });
    drop(once);
    assert_eq!(drops.get(), 1);
}

#[test]
fn once_with_destroy_call_then_destroy() {
    let (track, drops) = tracked();
    let raw = Each::once(move |n| {
        drop(track);
        n + 1
    })
    .into_raw_with_destroy();
    // SAFETY: at most one call, then the destroy-notify, once.
    let got = resume_panics(|| unsafe { (raw.function)(raw.user_data, 1) });
    assert_eq!((got, drops.get()), (2, 1));
    // SAFETY: as above.
    unsafe { (raw.destroy)(raw.user_data) };
    // Consumed by the call, so `destroy` only freed the allocation.
    assert_eq!(drops.get(), 1);
}

#[test]
fn once_with_destroy_second_call_is_refused() {
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let calls2 = calls.clone();
    let raw = Each::once(move |n| {
        drop(track);
        calls2.set(calls2.get() + 1);
        n + 1
    })
    .into_raw_with_destroy();
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: two calls before `destroy` are allowed by the API
            // (the second is refused); then `destroy`, once.
            got.push(unsafe { (raw.function)(raw.user_data, 1) });
            // SAFETY: as above.
            got.push(unsafe { (raw.function)(raw.user_data, 2) });
        })
    });
    assert_eq!(got, [2, -1]);
    assert_eq!((calls.get(), drops.get()), (1, 1));
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `simulated_type::Each` refused the call: it was called a second time"
        ),
        "{msg}"
    );
    // SAFETY: as above.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn once_with_destroy_and_no_call_drops_the_closure() {
    let (track, drops) = tracked();
    let raw = Each::once(move |n| {
        drop(track);
        n
    })
    .into_raw_with_destroy();
    assert_eq!(drops.get(), 0);
    // SAFETY: never called; destroyed once.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn once_kept_by_rust_is_called_once_and_freed_by_its_drop() {
    let (track, drops) = tracked();
    let once = Each::once(move |n| {
        drop(track);
        n + 1
    });
    let mut em = new_emitter();
    // SAFETY: `once` stays alive while `em` may call it (until the drop
    // below, after the last `c_emit`).
    unsafe { c_emitter_set(&mut em, Some(once.function()), once.user_data()) };
    assert!(!once.was_called());
    // SAFETY: the emitter is valid and its registration consistent.
    let got = resume_panics(|| unsafe { c_emit(&mut em, 1) });
    assert_eq!((got, drops.get()), (2, 1));
    assert!(once.was_called());
    // A second call is refused, and the allocation is still the `Once`'s.
    // SAFETY: as above.
    let payload = panic_payload(|| resume_panics(|| unsafe { c_emit(&mut em, 2) }));
    assert!(message(&*payload).contains("it was called a second time"));
    assert!(once.into_inner().is_none());
    assert_eq!(drops.get(), 1);
}

#[test]
fn once_kept_by_rust_and_never_called_drops_its_closure() {
    // C dropped it uncalled (`event_base_free` with a pending
    // `event_base_once`): dropping the `Once` drops the closure.
    let (track, drops) = tracked();
    let once = Each::once(move |n| {
        drop(track);
        n
    });
    {
        let mut em = new_emitter();
        // SAFETY: the emitter goes (never emitting) before `once`.
        unsafe { c_emitter_set(&mut em, Some(once.function()), once.user_data()) };
    }
    assert!(!once.was_called());
    drop(once);
    assert_eq!(drops.get(), 1);

    // Or takes the uncalled closure back.
    let (track, drops) = tracked();
    let once = Each::once(move |n| {
        drop(track);
        n * 10
    });
    let f = once.into_inner().expect("never called");
    assert_eq!(drops.get(), 0);
    assert_eq!(f(4), 40);
    assert_eq!(drops.get(), 1);
}

#[test]
fn once_kept_by_rust_dropped_during_its_own_call() {
    // The closure frees its own `Once` while it runs (a binding's map of
    // pending once-callbacks, pruned from inside the call): the call has
    // taken the closure out, so the allocation goes at once, and the
    // closure's captures when it returns.
    type Pending = Rc<RefCell<Option<Box<dyn std::any::Any>>>>;
    let pending: Pending = Rc::new(RefCell::new(None));
    let (track, drops) = tracked();
    let inside = Rc::new(Cell::new(u32::MAX));
    let (pending2, inside2, drops2) = (pending.clone(), inside.clone(), drops.clone());
    let once = Each::once(move |n| {
        let _track = track;
        drop(pending2.borrow_mut().take());
        inside2.set(drops2.get());
        n + 1
    });
    let mut em = new_emitter();
    // SAFETY: the `Once` lives until its call drops it, and `em` calls it
    // only once.
    unsafe { c_emitter_set(&mut em, Some(once.function()), once.user_data()) };
    *pending.borrow_mut() = Some(Box::new(once));
    // SAFETY: the emitter is valid and its registration consistent.
    let got = resume_panics(|| unsafe { c_emit(&mut em, 1) });
    assert_eq!((got, inside.get(), drops.get()), (2, 0, 1));
    assert!(pending.borrow().is_none());
}

#[test]
fn once_kept_by_rust_that_panicked_is_freed_by_its_drop() {
    let (track, drops) = tracked();
    let once = Each::once(move |n| -> c_int {
        let _track = track;
        panic!("boom {n}")
    });
    let mut em = new_emitter();
    // SAFETY: `once` outlives every call.
    unsafe { c_emitter_set(&mut em, Some(once.function()), once.user_data()) };
    // SAFETY: the emitter is valid and its registration consistent.
    let payload = panic_payload(|| resume_panics(|| unsafe { c_emit(&mut em, 7) }));
    assert_eq!(message(&*payload), "boom 7");
    assert_eq!(drops.get(), 1);
    assert!(once.was_called());
    drop(once);
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// boxed
// ---------------------------------------------------------------------------

#[test]
fn boxed_destroy_frees_exactly_once() {
    let (track, drops) = tracked();
    let mut total = 0;
    let raw = Each::boxed(move |n| {
        let _ = &track;
        total += n;
        total
    })
    .into_raw();
    let mut reg = Registry {
        f: Some(raw.function),
        ud: raw.user_data,
        // A plain fn pointer, which coerces to the `Option` bindings use.
        destroy: Some(raw.destroy),
    };
    // SAFETY: the registry owns the callback until it is cleared, which
    // calls `destroy` once.
    let got = resume_panics(|| unsafe {
        let got = [c_registry_fire(&mut reg, 2), c_registry_fire(&mut reg, 3)];
        assert_eq!(drops.get(), 0);
        c_registry_clear(&mut reg);
        got
    });
    assert_eq!(got, [2, 5]);
    assert_eq!(drops.get(), 1);
    // SAFETY: cleared: `destroy` is not called again.
    unsafe { c_registry_clear(&mut reg) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn dropping_boxed_without_into_raw_frees() {
    let (track, drops) = tracked();
    let boxed = Each::boxed(move |n| {
        let _ = &track;
        n
    });
    assert_eq!(drops.get(), 0);
    drop(boxed);
    assert_eq!(drops.get(), 1);
}

#[test]
fn boxed_that_panicked_runs_again_and_destroys_once() {
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let calls2 = calls.clone();
    let raw = Each::boxed(move |n| {
        let _ = &track;
        calls2.set(calls2.get() + 1);
        assert!(n != 0, "expected: boxed");
        n
    })
    .into_raw();
    // SAFETY: alive until `destroy` below.
    let payload =
        panic_payload(|| resume_panics(|| unsafe { each(raw.function, raw.user_data, 2) }));
    assert_eq!(message(&*payload), "expected: boxed");
    // The panic reached the Rust caller: the holder C keeps runs again.
    // SAFETY: as above.
    assert_eq!(unsafe { (raw.function)(raw.user_data, 5) }, 5);
    assert_eq!(calls.get(), 2);
    // SAFETY: once, after the last call.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// send: called and destroyed on other threads
// ---------------------------------------------------------------------------

#[callback(send)]
type Job = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[callback(send, on_panic = fallback, fallback = -1)]
type SendEach = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A raw pointer a simulated C library moves to its own thread.
#[derive(Clone, Copy)]
struct SendPtr(*mut c_void);
// SAFETY: used only for user data of `send`/`sync` holders, whose closures
// are `Send` (and `Sync` where shared).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// `pthread_create` + `pthread_join`: calls `f(ud, n)` on a new thread.
unsafe extern "C" fn c_thread_call(f: EachFn, ud: *mut c_void, n: c_int) -> c_int {
    let ud = SendPtr(ud);
    std::thread::spawn(move || {
        let ud = ud;
        // SAFETY: the caller passes the user data `f` expects, usable from
        // another thread.
        unsafe { f(ud.0, n) }
    })
    .join()
    .unwrap_or(c_int::MIN)
}

/// A worker thread that calls the callback `times` times, then frees it
/// through its destroy-notify.
unsafe extern "C" fn c_worker(
    f: EachFn,
    ud: *mut c_void,
    destroy: unsafe extern "C" fn(*mut c_void),
    times: c_int,
) -> c_int {
    let ud = SendPtr(ud);
    std::thread::spawn(move || {
        let ud = ud;
        // SAFETY: the caller hands over an owned callback: calls, then one
        // destroy, all on this thread.
        unsafe {
            let last = (0..times).fold(0, |_, i| f(ud.0, i));
            destroy(ud.0);
            last
        }
    })
    .join()
    .unwrap_or(c_int::MIN)
}

#[test]
fn send_once_runs_on_another_thread() {
    let (tx, rx) = mpsc::channel();
    let (track, drops) = send_tracked();
    let raw = Job::once(move |n| {
        let _ = &track;
        tx.send((n, std::thread::current().id()))
            .expect("receiver alive");
        n + 1
    })
    .into_raw();
    // SAFETY: the one call of a `send` once-callback, on another thread.
    let got = unsafe { c_thread_call(raw.function, raw.user_data, 4) };
    assert_eq!(got, 5);
    let (n, thread) = rx.recv().expect("the closure ran");
    assert_eq!(n, 4);
    assert_ne!(thread, std::thread::current().id());
    // Dropped by its call, on that thread.
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn send_once_kept_then_handed_over_while_c_thread_holds_its_parts() {
    // C's worker thread got the parts of a kept `Once` at registration and
    // calls it, once, when its work is done; meanwhile the owner hands the
    // callback over with `into_raw` (the call frees it). Nothing orders the
    // two but the holder's state (`done` is a relaxed flag, the worker's
    // own "work done"): the call's free must come after everything the
    // owner's thread did with the holder (Miri's data-race check).
    let (track, drops) = send_tracked();
    let once = Job::once(move |n| {
        let _ = &track;
        n + 1
    });
    let (f, ud) = (once.function(), SendPtr(once.user_data()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done2 = Arc::clone(&done);
    let worker = std::thread::spawn(move || {
        let ud = ud;
        while !done2.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        // SAFETY: the one call, with the parts it was given, of a `send`
        // once-callback that is alive: kept by its `Once`, then handed over
        // to this call, which frees it.
        unsafe { f(ud.0, 4) }
    });
    let raw = once.into_raw();
    assert_eq!(raw.user_data, ud.0);
    done.store(true, Ordering::Relaxed);
    assert_eq!(worker.join().expect("worker"), 5);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn send_boxed_called_and_destroyed_on_another_thread() {
    let (track, drops) = send_tracked();
    let mut total = 0;
    let raw = Job::boxed(move |n| {
        let _ = &track;
        total += n;
        total
    })
    .into_raw();
    // SAFETY: ownership moves to the worker, which destroys it once.
    let last = unsafe { c_worker(raw.function, raw.user_data, raw.destroy, 4) };
    assert_eq!(last, 6);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn send_holder_refuses_concurrent_entry() {
    // Thread A enters the closure and waits inside it; meanwhile this
    // thread calls the same holder: refused (fallback -1), not raced.
    // Channels order the steps; there is no timing.
    let (entered_tx, entered_rx) = mpsc::channel();
    let (proceed_tx, proceed_rx) = mpsc::channel::<()>();
    let runs = AtomicU32::new(0);
    let runs_ref = &runs;
    // `move`: the closure owns the channel ends (a `Receiver` is `Send`
    // but not `Sync`, so it cannot be captured by reference).
    let cb = SendEach::new(move |n| {
        runs_ref.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            entered_tx.send(()).expect("main thread alive");
            proceed_rx.recv().expect("main thread alive");
        }
        n + 100
    });
    let (f, ud) = (cb.function(), SendPtr(cb.user_data()));
    let (in_a, (refused, raised), after) = std::thread::scope(|s| {
        let a = s.spawn(move || {
            let ud = ud;
            // SAFETY: `cb` outlives the scope; `send` allows other threads.
            unsafe { f(ud.0, 0) }
        });
        entered_rx.recv().expect("thread A entered");
        // SAFETY: as above.
        let refused = panics_during(|| unsafe { f(ud.0, 5) });
        proceed_tx.send(()).expect("thread A waiting");
        let in_a = a.join().expect("thread A finished");
        // Idle again: runs.
        // SAFETY: as above.
        let after = unsafe { f(ud.0, 7) };
        (in_a, refused, after)
    });
    assert_eq!((in_a, refused, after), (100, -1, 107));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(raised.len(), 1);
    assert!(
        raised[0].starts_with(
            "ffi-callback: `simulated_type::SendEach` refused the call: it was called while its \
             closure was already running"
        ),
        "{raised:?}"
    );
}

// ---------------------------------------------------------------------------
// sync: called from several threads at once
// ---------------------------------------------------------------------------

#[callback(sync)]
type PoolFunc = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int);

type PoolFn = unsafe extern "C" fn(*mut c_void, c_int);

const WORKERS: usize = 3;
const ROUNDS: c_int = if cfg!(miri) { 2 } else { 20 };

/// `g_thread_pool`: `WORKERS` threads each call `f(ud, i)` for
/// `i in 0..rounds`, all at once.
unsafe extern "C" fn c_pool_run(f: PoolFn, ud: *mut c_void, rounds: c_int) {
    let ud = SendPtr(ud);
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(move || {
                let ud = ud;
                for i in 0..rounds {
                    // SAFETY: the caller passes a `sync` callback's user
                    // data, alive for the scope.
                    unsafe { f(ud.0, i) };
                }
            });
        }
    });
}

#[test]
fn sync_holder_is_called_from_several_threads_at_once() {
    // The barrier releases only when all workers are inside the closure at
    // the same time: the holder lets them in together (a refusal would
    // abort under the default `on_panic = abort` of `sync`).
    let barrier = Barrier::new(WORKERS);
    let sum = AtomicI32::new(0);
    let calls = AtomicU32::new(0);
    PoolFunc::scope(
        |n| {
            barrier.wait();
            calls.fetch_add(1, Ordering::SeqCst);
            sum.fetch_add(n, Ordering::SeqCst);
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| unsafe { c_pool_run(f, ud, ROUNDS) },
    );
    let expected = WORKERS as c_int * (0..ROUNDS).sum::<c_int>();
    assert_eq!(sum.load(Ordering::SeqCst), expected);
    assert_eq!(calls.load(Ordering::SeqCst), WORKERS as u32 * ROUNDS as u32);
}

#[test]
fn sync_boxed_destroyed_once_after_concurrent_calls() {
    let (track, drops) = send_tracked();
    let sum = Arc::new(AtomicI32::new(0));
    let sum2 = sum.clone();
    let raw = PoolFunc::boxed(move |n| {
        let _ = &track;
        sum2.fetch_add(n + 1, Ordering::SeqCst);
    })
    .into_raw();
    // SAFETY: alive until the destroy below, after the pool finished.
    unsafe { c_pool_run(raw.function, raw.user_data, 2) };
    assert_eq!(sum.load(Ordering::SeqCst), WORKERS as c_int * 3);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let destroy = SendPtr(raw.user_data);
    std::thread::spawn(move || {
        let destroy = destroy;
        // SAFETY: once, after the last call, on another thread (`sync`).
        unsafe { (raw.destroy)(destroy.0) };
    })
    .join()
    .expect("destroyed");
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------
// Types without a user-data slot: capture-free closures only
// ---------------------------------------------------------------------------

#[callback]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

/// `qsort` (no user data), as an insertion sort.
unsafe extern "C" fn c_qsort(base: *mut c_void, n: usize, size: usize, cmp: Option<CompareFn>) {
    let Some(cmp) = cmp else { return };
    let base = base.cast::<u8>();
    for i in 1..n {
        let mut j = i;
        // SAFETY: `base` holds `n` elements of `size` bytes.
        unsafe {
            while j > 0 && cmp(base.add((j - 1) * size).cast(), base.add(j * size).cast()) > 0 {
                ptr::swap_nonoverlapping(base.add((j - 1) * size), base.add(j * size), size);
                j -= 1;
            }
        }
    }
}

thread_local! {
    static COMPARISONS: Cell<u32> = const { Cell::new(0) };
}

fn compare_i32(a: *const c_void, b: *const c_void) -> c_int {
    COMPARISONS.with(|n| n.set(n.get() + 1));
    // SAFETY: the sort passes pointers to two `i32` elements.
    let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
    assert!(a != 13 && b != 13, "expected: unlucky");
    a.cmp(&b) as c_int
}

fn sort(items: &mut [i32]) {
    Compare::scope(
        // A fn item is a capture-free closure too.
        compare_i32,
        // SAFETY: the comparator compares `i32`s.
        |f| unsafe { c_qsort(items.as_mut_ptr().cast(), items.len(), 4, Some(f)) },
    );
}

#[test]
fn slotless_type_with_capture_free_closure() {
    let mut items = [3, 1, 2, 0];
    sort(&mut items);
    assert_eq!(items, [0, 1, 2, 3]);

    let cmp = Compare::new(|a, b| compare_i32(b, a));
    let mut items = [3, 1, 2];
    // SAFETY: the comparator compares `i32`s.
    unsafe { c_qsort(items.as_mut_ptr().cast(), 3, 4, Some(cmp.function())) };
    assert_eq!(items, [3, 2, 1]);
}

#[test]
fn slotless_type_resumes_and_poisons_the_thread_guard() {
    let mut items = [5, 13, 4, 3, 2];
    COMPARISONS.with(|n| n.set(0));
    let payload = panic_payload(|| sort(&mut items));
    assert_eq!(message(&*payload), "expected: unlucky");
    // The first comparison panicked; the others returned 0 ("equal")
    // without running the closure, so nothing moved.
    assert_eq!(COMPARISONS.with(Cell::get), 1);
    assert_eq!(items, [5, 13, 4, 3, 2]);
}

/// A safe fn pointer type (signal handlers, `atexit`): fine without user
/// data.
#[callback(on_panic = fallback)]
type Handler = extern "C" fn(sig: c_int);

thread_local! {
    static SIGNALS: RefCell<Vec<c_int>> = const { RefCell::new(Vec::new()) };
}

#[test]
fn slotless_safe_fn_type() {
    let handler = Handler::new(|sig| {
        assert!(sig != 0, "expected: signal 0");
        SIGNALS.with(|s| s.borrow_mut().push(sig));
    });
    let f: extern "C" fn(c_int) = handler.function();
    let ((), raised) = panics_during(|| {
        f(2);
        f(0);
        f(15);
    });
    assert_eq!(SIGNALS.with(|s| s.borrow().clone()), [2, 15]);
    assert_eq!(raised, ["expected: signal 0"]);
}

// ---------------------------------------------------------------------------
// Slot position, integer slots, accessor user data
// ---------------------------------------------------------------------------

#[allow(clippy::upper_case_acronyms)]
type LPARAM = isize;

/// `EnumWindows`: user data last, an integer; returning 0 stops.
#[callback]
type EnumProc = unsafe extern "system" fn(hwnd: usize, #[user_data] lparam: LPARAM) -> i32;

unsafe extern "system" fn c_enum_windows(
    proc_: Option<unsafe extern "system" fn(usize, LPARAM) -> i32>,
    lparam: LPARAM,
) -> i32 {
    let Some(proc_) = proc_ else { return 0 };
    for hwnd in 10..20 {
        // SAFETY: the caller passes the `lparam` `proc_` expects.
        if unsafe { proc_(hwnd, lparam) } == 0 {
            return 0;
        }
    }
    1
}

/// sqlite3_trace_v2's callback: user data in the middle.
#[callback]
type Trace = unsafe extern "C" fn(
    mask: u32,
    #[user_data] ctx: *mut c_void,
    p: *mut c_void,
    x: *mut c_void,
) -> c_int;

#[test]
fn integer_slot_last_position() {
    let mut found = Vec::new();
    let finished = EnumProc::scope(
        |hwnd| {
            found.push(hwnd);
            i32::from(hwnd < 12)
        },
        // SAFETY: `proc_`/`lparam` are alive for the scope.
        |proc_, lparam| unsafe { c_enum_windows(Some(proc_), lparam) },
    );
    assert_eq!((finished, found), (0, vec![10, 11, 12]));

    // `destroy` takes the slot type.
    let (track, drops) = tracked();
    let raw = EnumProc::boxed(move |hwnd| {
        let _ = &track;
        i32::from(hwnd < 11)
    })
    .into_raw();
    let lparam: LPARAM = raw.user_data;
    // SAFETY: alive until `destroy`, called once.
    unsafe {
        assert_eq!(c_enum_windows(Some(raw.function), lparam), 0);
        (raw.destroy)(lparam);
    }
    assert_eq!(drops.get(), 1);
}

#[test]
fn slot_in_the_middle() {
    let mut seen = Vec::new();
    let mut marker = 0u8;
    let marker_ptr: *mut c_void = (&raw mut marker).cast();
    let got = Trace::scope(
        |mask, p, x| {
            seen.push((mask, p == marker_ptr, x.is_null()));
            7
        },
        // SAFETY: `f`/`ctx` are alive for the scope.
        |f, ctx| unsafe { f(0x2, ctx, marker_ptr, ptr::null_mut()) },
    );
    assert_eq!(got, 7);
    assert_eq!(seen, [(0x2, true, true)]);
}

/// A context C passes instead of a user-data parameter (sqlite3_context).
#[repr(C)]
struct Ctx {
    user_data: *mut c_void,
}

unsafe extern "C" fn c_ctx_user_data(ctx: *mut Ctx) -> *mut c_void {
    // SAFETY: C passes a valid context.
    unsafe { (*ctx).user_data }
}

#[callback(
    // SAFETY: the simulated C passes a valid context.
    user_data = unsafe { c_ctx_user_data(ctx) },
    fallback = -1
)]
type ScalarFunc = unsafe extern "C" fn(ctx: *mut Ctx, n: c_int) -> c_int;

#[test]
fn accessor_user_data_type() {
    let mut total = 0;
    let cb = ScalarFunc::new(|ctx, n| {
        assert!(!ctx.is_null());
        total += n;
        total
    });
    let mut ctx = Ctx {
        user_data: cb.user_data(),
    };
    let f = cb.function();
    // SAFETY: the context carries the holder's user data; `cb` is alive.
    let got = resume_panics(|| unsafe { [f(&mut ctx, 2), f(&mut ctx, 3)] });
    let _ = cb.into_inner();
    assert_eq!((got, total), ([2, 5], 5));

    // A boxed one, with `xDestroy`.
    let (track, drops) = tracked();
    let raw = ScalarFunc::boxed(move |_ctx, n| {
        let _ = &track;
        n * n
    })
    .into_raw();
    let mut ctx = Ctx {
        user_data: raw.user_data,
    };
    // SAFETY: alive until `destroy`, called once.
    unsafe {
        assert_eq!((raw.function)(&mut ctx, 9), 81);
        (raw.destroy)(raw.user_data);
    }
    assert_eq!(drops.get(), 1);
}

#[test]
fn accessor_null_is_refused() {
    let calls = Cell::new(0);
    let cb = ScalarFunc::new(|_ctx, n| {
        calls.set(calls.get() + 1);
        n
    });
    let mut ctx = Ctx {
        user_data: ptr::null_mut(),
    };
    let f = cb.function();
    let mut got = 0;
    // SAFETY: a null user data, which the trampoline refuses.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { f(&mut ctx, 1) }));
    assert_eq!((got, calls.get()), (-1, 0));
    assert_eq!(
        message(&*payload),
        "ffi-callback: `simulated_type::ScalarFunc` refused the call: its user data is null instead of a \
          pointer to its holder"
    );
}

/// A `sync` type's `once`: its holder has no running state (its closures
/// are `Fn` and may run concurrently), but a once-callback still must not
/// hand out its closure twice.
#[callback(sync, on_panic = fallback)]
type SyncOnce = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn sync_once_second_call_is_refused() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let raw = SyncOnce::once(move |n| {
        counted.fetch_add(1, Ordering::SeqCst);
        n + 1
    })
    .into_raw_with_destroy();
    let (got, raised) = panics_during(|| {
        // SAFETY: two calls before `destroy` are allowed by the API (the
        // second is refused); then `destroy`, once.
        let first = unsafe { (raw.function)(raw.user_data, 1) };
        // SAFETY: as above.
        let second = unsafe { (raw.function)(raw.user_data, 2) };
        [first, second]
    });
    assert_eq!(got, [2, 0], "the second call got the fallback");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(raised[0].contains("called a second time"), "{raised:?}");
    // SAFETY: as above.
    unsafe { (raw.destroy)(raw.user_data) };
}

/// GLib's `GSourceFunc`: a `gboolean` (a C `int`) saying whether to call
/// again.
#[callback]
type SourceFunc = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

#[test]
fn closure_returning_bool_gives_c_one_or_zero() {
    let mut ticks = 0;
    let got = SourceFunc::scope(
        || {
            ticks += 1;
            ticks < 3
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| unsafe { [f(ud), f(ud), f(ud)] },
    );
    assert_eq!(got, [1, 1, 0]);
}

/// A log level as a C library passes it: an `int` of which only some values
/// mean something.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Level {
    Info,
    Warn,
}

#[derive(Debug)]
struct UnknownLevel(#[allow(dead_code)] c_int); // read through `Debug`, in the refusal

impl TryFrom<c_int> for Level {
    type Error = UnknownLevel;
    fn try_from(value: c_int) -> Result<Self, UnknownLevel> {
        match value {
            0 => Ok(Level::Info),
            1 => Ok(Level::Warn),
            other => Err(UnknownLevel(other)),
        }
    }
}

/// A logging hook whose closures receive a `Level` (fallible) and a `u64`
/// (infallible, `From<u32>`) instead of the C integers.
#[callback(fallback = -1)]
type LogHook = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(Level)] level: c_int,
    #[into(u64)] bytes: u32,
) -> c_int;

#[test]
fn into_converts_c_arguments_for_the_closure() {
    let mut seen = Vec::new();
    let got = LogHook::scope(
        |level: Level, bytes: u64| {
            seen.push((level, bytes));
            0
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| unsafe { [f(ud, 1, u32::MAX), f(ud, 0, 7)] },
    );
    assert_eq!(got, [0, 0]);
    assert_eq!(seen, [(Level::Warn, u64::from(u32::MAX)), (Level::Info, 7)]);
}

#[test]
fn into_that_fails_is_refused_naming_the_parameter() {
    let calls = Cell::new(0);
    let mut got = [0; 2];
    let payload = panic_payload(|| {
        LogHook::scope(
            |_: Level, _: u64| {
                calls.set(calls.get() + 1);
                0
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| got = unsafe { [f(ud, 9, 1), f(ud, 0, 1)] },
        )
    });
    assert_eq!(
        got,
        [-1, -1],
        "the refused call and, while its refusal waits for the guard, the next one get the \
         fallback"
    );
    assert_eq!(calls.get(), 0, "the closure never ran");
    let message = message(&*payload);
    assert!(
        message.contains("LogHook` refused the call: its parameter `level` does not convert into")
            && message.contains("Level`: UnknownLevel(9)"),
        "{message}"
    );
}

/// The same conversion for a one-shot closure and for a type without user
/// data.
#[callback(fallback = -1)]
type LogOnce =
    unsafe extern "C" fn(#[into(Level)] level: c_int, #[user_data] ud: *mut c_void) -> c_int;

// `_`, not an unnamed parameter: rustfmt 1.9 deletes attributes on those.
#[callback(on_panic = fallback, fallback = -1)]
type LogBare = extern "C" fn(#[into(Level)] _: c_int) -> c_int;

#[test]
fn into_converts_for_once_and_slotless_closures() {
    let raw = LogOnce::once(|level: Level| level as c_int + 10).into_raw();
    // SAFETY: called once, as a `once` holder allows; the call frees it.
    assert_eq!(unsafe { (raw.function)(1, raw.user_data) }, 11);

    let bare = LogBare::new(|level: Level| level as c_int + 20);
    let function = bare.function();
    assert_eq!(function(0), 20);
    let (got, raised) = panics_during(|| function(5));
    assert_eq!(got, -1);
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(
        raised[0].contains("its parameter 1 does not convert into")
            && raised[0].contains("UnknownLevel(5)"),
        "an unnamed parameter is named by its position: {raised:?}"
    );
}

/// A log callback as C declares it: the message as a C string (null when
/// there is none), the record as a pointer to a C struct, and an out
/// parameter.
#[repr(C)]
#[derive(Debug, PartialEq)]
struct Record {
    line: u32,
    column: u32,
}

#[callback(fallback = -1)]
type OnRecord = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&CStr)] message: *const c_char,
    #[into(Option<&CStr>)] detail: *const c_char,
    #[into(&Record)] record: *const c_void,
    #[into(&mut u32)] seen: *mut u32,
) -> c_int;

#[test]
fn into_a_reference_borrows_what_c_points_at_for_the_call() {
    let mut log = Vec::new();
    let record = Record { line: 3, column: 7 };
    let mut seen = 0u32;
    let got = OnRecord::scope(
        |message: &CStr, detail: Option<&CStr>, record: &Record, seen: &mut u32| {
            *seen += 1;
            log.push((
                message.to_owned(),
                detail.map(CStr::to_owned),
                record.line + record.column,
            ));
            0
        },
        // SAFETY: `f`/`ud` are alive for the scope; the strings, the record
        // and `seen` are valid for each call.
        |f, ud| unsafe {
            let record = ptr::from_ref(&record).cast();
            [
                f(ud, c"first".as_ptr(), ptr::null(), record, &mut seen),
                f(ud, c"second".as_ptr(), c"more".as_ptr(), record, &mut seen),
            ]
        },
    );
    assert_eq!(got, [0, 0]);
    assert_eq!(seen, 2, "written through the `&mut u32`");
    assert_eq!(
        log,
        [
            (c"first".to_owned(), None, 10),
            (c"second".to_owned(), Some(c"more".to_owned()), 10)
        ]
    );
}

#[test]
fn into_a_reference_refuses_null_before_the_call_without_poisoning() {
    let calls = Cell::new(0);
    let record = [0u32; 3];
    let mut seen = 0u32;
    let mut got = [0; 3];
    let payload = panic_payload(|| {
        OnRecord::scope(
            |_: &CStr, _: Option<&CStr>, _: &Record, _: &mut u32| {
                calls.set(calls.get() + 1);
                0
            },
            |f, ud| {
                // SAFETY: `f`/`ud` are alive for the scope; every non-null
                // pointer is valid for the call.
                got = unsafe {
                    let record = record.as_ptr().cast::<c_void>();
                    [
                        f(ud, ptr::null(), ptr::null(), record, &mut seen),
                        f(ud, c"x".as_ptr(), ptr::null(), record, &mut seen),
                        f(ud, c"x".as_ptr(), ptr::null(), record, &mut seen),
                    ]
                }
            },
        )
    });
    assert_eq!(
        got,
        [-1, 0, 0],
        "the refused call gets the fallback; refused before it reached the holder, it leaves \
         the closure's state untouched, so the holder is not poisoned and the next calls run"
    );
    assert_eq!(calls.get(), 2);
    let message = message(&*payload);
    assert!(
        message.contains(
            "OnRecord` refused the call: its parameter `message` is null, where it is borrowed \
             as `&core::ffi::c_str::CStr`"
        ),
        "{message}"
    );
}

#[test]
fn into_a_reference_refuses_a_null_out_parameter() {
    let payload = panic_payload(|| {
        OnRecord::scope(
            |_: &CStr, _: Option<&CStr>, _: &Record, _: &mut u32| 0,
            // SAFETY: as above, with a null `seen`.
            |f, ud| unsafe {
                let record = Record { line: 0, column: 0 };
                f(
                    ud,
                    c"x".as_ptr(),
                    ptr::null(),
                    ptr::from_ref(&record).cast(),
                    ptr::null_mut(),
                )
            },
        )
    });
    let message = message(&*payload);
    assert!(
        message.contains("its parameter `seen` is null, where it is borrowed as `&mut u32`"),
        "{message}"
    );
}

/// Without user data: the closure captures nothing, the path arrives as a
/// C string.
#[callback(on_panic = fallback, fallback = -1)]
type PathLength = unsafe extern "C" fn(#[into(&CStr)] path: *const c_char) -> c_int;

#[test]
fn into_a_reference_works_without_user_data() {
    let holder = PathLength::new(|path: &CStr| path.to_bytes().len() as c_int);
    let function = holder.function();
    // SAFETY: a NUL-terminated string, valid for the call.
    assert_eq!(unsafe { function(c"/tmp/x".as_ptr()) }, 6);
    // SAFETY: null is refused, not read.
    let (got, raised) = panics_during(|| unsafe { function(ptr::null()) });
    assert_eq!(got, -1);
    assert!(
        raised[0].contains("its parameter `path` is null"),
        "{raised:?}"
    );
}

#[test]
fn into_a_reference_infers_the_closures_parameter_types() {
    let mut total = 0;
    OnRecord::scope(
        |message, detail, record, seen| {
            *seen = 1;
            total +=
                message.to_bytes().len() + usize::from(detail.is_some()) + record.line as usize;
            0
        },
        // SAFETY: `f`/`ud` are alive for the scope; the pointers are valid
        // for the call.
        |f, ud| unsafe {
            let record = Record { line: 2, column: 0 };
            let mut seen = 0;
            f(
                ud,
                c"abc".as_ptr(),
                c"".as_ptr(),
                ptr::from_ref(&record).cast(),
                &mut seen,
            )
        },
    );
    assert_eq!(total, 3 + 1 + 2);
}

#[test]
fn into_a_reference_borrows_for_a_once_closure() {
    let raw = OnRecord::once(
        |message: &CStr, _: Option<&CStr>, record: &Record, seen: &mut u32| {
            *seen = record.line;
            message.to_bytes().len() as c_int
        },
    )
    .into_raw();
    let record = Record { line: 4, column: 0 };
    let mut seen = 0;
    // SAFETY: called once, as a `once` holder allows (the call frees it);
    // the string, the record and `seen` are valid for the call.
    let got = unsafe {
        (raw.function)(
            raw.user_data,
            c"four".as_ptr(),
            ptr::null(),
            ptr::from_ref(&record).cast(),
            &mut seen,
        )
    };
    assert_eq!((got, seen), (4, 4));
}

#[test]
fn into_a_reference_refused_in_a_once_call_drops_the_closure() {
    let drops = Rc::new(Cell::new(0));
    let guard = Tracked(drops.clone());
    let raw = OnRecord::once(move |_: &CStr, _: Option<&CStr>, _: &Record, _: &mut u32| {
        let _keep = &guard;
        0
    })
    .into_raw();
    let record = Record { line: 0, column: 0 };
    let mut seen = 0;
    let payload = panic_payload(|| {
        // SAFETY: called once, as a `once` holder allows; the null message
        // is refused before it is read.
        resume_panics(|| unsafe {
            (raw.function)(
                raw.user_data,
                ptr::null(),
                ptr::null(),
                ptr::from_ref(&record).cast(),
                &mut seen,
            )
        })
    });
    assert!(
        message(&*payload).contains("its parameter `message` is null"),
        "{}",
        message(&*payload)
    );
    assert_eq!(
        drops.get(),
        1,
        "the one call freed the closure, refused or not"
    );
}

// ---------------------------------------------------------------------------
// `on_continue` / `on_break`: closures returning `ControlFlow<()>`
// ---------------------------------------------------------------------------

/// A visitor as GLib shapes its sources: TRUE keeps it, FALSE removes it;
/// `on_continue` reads a C parameter.
#[callback(on_continue = step + 100, on_break = 0)]
type Visitor = unsafe extern "C" fn(#[user_data] ud: *mut c_void, step: c_int) -> c_int;

#[test]
fn control_flow_gives_c_the_declared_values() {
    let mut seen = Vec::new();
    let got = Visitor::scope(
        |step| {
            seen.push(step);
            if step < 2 {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| unsafe { [f(ud, 1), f(ud, 2)] },
    );
    assert_eq!(got, [101, 0], "on_continue read `step`");
    assert_eq!(seen, [1, 2]);
}

#[derive(Debug, PartialEq)]
struct Stop(c_int);

#[test]
fn control_flow_in_a_result_keeps_the_error_for_try_scope() {
    let got = Cell::new([0; 2]);
    let result = Visitor::try_scope(
        |step| -> Result<ControlFlow<()>, Stop> {
            if step == 9 {
                return Err(Stop(step));
            }
            Ok(ControlFlow::Continue(()))
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| got.set(unsafe { [f(ud, 1), f(ud, 9)] }),
    );
    assert_eq!(result, Err(Stop(9)));
    assert_eq!(got.get(), [101, 0], "the Err gave C the fallback, 0");
}

/// With a declared error: `on_error` reads it.
#[callback(on_continue = 1, on_break = 0, error = Stop, on_error = -e.0)]
type Checked = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[test]
fn control_flow_with_a_declared_error_reads_it_in_on_error() {
    let mut got = [0; 3];
    let result = Checked::try_scope(
        |n| match n {
            0 => Ok(ControlFlow::Break(())),
            n if n < 0 => Err(Stop(n)),
            _ => Ok(ControlFlow::Continue(())),
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| got = unsafe { [f(5, ud), f(0, ud), f(-7, ud)] },
    );
    assert_eq!(got, [1, 0, 7]);
    assert_eq!(result, Err(Stop(-7)));
}

/// `abort`, once and without user data: a plain `ControlFlow<()>`.
#[callback(on_panic = abort, on_continue = 1, on_break = 2)]
type Walk = unsafe extern "C" fn(depth: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[callback(on_continue = 10, on_break = 20)]
type Bare = unsafe extern "C" fn(depth: c_int) -> c_int;

#[test]
fn control_flow_for_once_and_slotless_closures() {
    let raw = Walk::once(|depth| {
        if depth > 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .into_raw();
    // SAFETY: called once, as a `once` holder allows; the call frees it.
    assert_eq!(unsafe { (raw.function)(3, raw.user_data) }, 2);

    let bare = Bare::new(|depth| {
        if depth > 0 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let function = bare.function();
    // SAFETY: no user data to trust.
    assert_eq!(unsafe { [function(0), function(1)] }, [10, 20]);
}

// ---------------------------------------------------------------------------
// Borrowed slices: `#[into(&[T], len = EXPR)]`
// ---------------------------------------------------------------------------

/// A write callback as curl shapes it: `size * nmemb` bytes at `data`; and
/// a buffer to fill, `Option` for a C side that may pass none.
#[callback(fallback = 0)]
type OnData = unsafe extern "C" fn(
    #[into(&[u8], len = size * nmemb)] data: *const c_char,
    size: usize,
    nmemb: usize,
    #[into(Option<&mut [u32]>, len = out_len as usize)] out: *mut u32,
    out_len: c_int,
    #[user_data] ud: *mut c_void,
) -> usize;

#[test]
fn into_a_slice_borrows_len_elements() {
    let mut received = Vec::new();
    let mut out = [0u32; 3];
    let got = OnData::scope(
        |data: &[u8], size, nmemb, out: Option<&mut [u32]>, _| {
            received.push(data.to_vec());
            if let Some(out) = out {
                out.fill(7);
            }
            size * nmemb
        },
        // SAFETY: `f`/`ud` are alive for the scope; each pointer points at
        // as many elements as its length says, or is null.
        |f, ud| unsafe {
            let text = b"hello, world";
            [
                f(text.as_ptr().cast(), 1, 5, out.as_mut_ptr(), 2, ud),
                f(text.as_ptr().cast(), 4, 3, ptr::null_mut(), 9, ud),
                f(ptr::null(), 1, 0, ptr::null_mut(), 0, ud),
            ]
        },
    );
    assert_eq!(got, [5, 12, 0]);
    assert_eq!(
        received,
        [b"hello".to_vec(), b"hello, world".to_vec(), Vec::new()]
    );
    assert_eq!(
        out,
        [7, 7, 0],
        "the first two elements, through the `&mut [u32]`"
    );
}

#[test]
fn into_a_slice_refuses_null_with_a_length_and_poisons() {
    let calls = Cell::new(0);
    let mut got = [9; 2];
    let payload = panic_payload(|| {
        OnData::scope(
            |_: &[u8], _, _, _: Option<&mut [u32]>, _| {
                calls.set(calls.get() + 1);
                1
            },
            |f, ud| {
                // SAFETY: `f`/`ud` are alive for the scope; the null data
                // is refused before it is read.
                got = unsafe {
                    [
                        f(ptr::null(), 1, 4, ptr::null_mut(), 0, ud),
                        f(ptr::null(), 1, 0, ptr::null_mut(), 0, ud),
                    ]
                }
            },
        )
    });
    let message = message(&*payload);
    assert!(
        message.contains("OnData` refused the call: its parameter `data` is null, where it is borrowed as `&[u8]`"),
        "{message}"
    );
    assert_eq!(
        got,
        [0, 0],
        "refused inside the call: the holder stays poisoned"
    );
    assert_eq!(calls.get(), 0);
}

/// `size * nmemb` overflows: a panic in `len = EXPR` (debug builds) is the
/// closure's, and a wrapped length (release builds) is refused.
#[test]
fn into_a_slice_length_that_overflows_is_refused_or_panics() {
    let payload = panic_payload(|| {
        OnData::scope(
            |_: &[u8], _, _, _: Option<&mut [u32]>, _| 1,
            // SAFETY: refused before anything is read.
            |f, ud| unsafe { f(c"x".as_ptr(), usize::MAX, 2, ptr::null_mut(), 0, ud) },
        )
    });
    let message = message(&*payload);
    assert!(
        message.contains("attempt to multiply with overflow")
            || message.contains("longer than a `&[u8]` can be"),
        "{message}"
    );
}

#[test]
fn into_a_slice_refuses_a_negative_length_made_huge() {
    let mut out = [0u32; 1];
    let payload = panic_payload(|| {
        OnData::scope(
            |_: &[u8], _, _, _: Option<&mut [u32]>, _| 1,
            // SAFETY: refused before anything is read.
            |f, ud| unsafe { f(c"x".as_ptr(), 1, 1, out.as_mut_ptr(), -1, ud) },
        )
    });
    let message = message(&*payload);
    let expected = format!(
        "its parameter `out` has a length of {}, longer than",
        usize::MAX
    );
    assert!(message.contains(&expected), "{message}");
}

// ---------------------------------------------------------------------------
// Overlapping borrows: C passes one buffer as input and output
// ---------------------------------------------------------------------------

/// An in-place-capable filter as audio and codec libraries shape one: C may
/// pass the same buffer as `input` and `output` (fine in C, two aliasing
/// borrows in Rust), and a scale factor it may also point into either.
#[callback(fallback = -1)]
type Filter = unsafe extern "C" fn(
    #[into(&[i16], len = n as usize)] input: *const i16,
    #[into(&mut [i16], len = n as usize)] output: *mut i16,
    n: c_int,
    #[into(Option<&i16>)] gain: *const i16,
    #[user_data] ud: *mut c_void,
) -> c_int;

fn double(input: &[i16], output: &mut [i16], gain: Option<&i16>) -> c_int {
    let gain = gain.copied().unwrap_or(2);
    for (out, value) in output.iter_mut().zip(input) {
        *out = value * gain;
    }
    c_int::try_from(input.len()).unwrap()
}

#[test]
fn into_borrows_that_do_not_overlap_are_lent() {
    let mut buffer = [1i16, 2, 3, 4, 0, 0, 0, 0];
    let gain = 3i16;
    let got = Filter::scope(
        |input: &[i16], output: &mut [i16], _, gain: Option<&i16>| double(input, output, gain),
        // SAFETY: `f`/`ud` are alive for the scope; the halves of `buffer`
        // touch but do not overlap, and `gain` is apart.
        |f, ud| unsafe {
            let start = buffer.as_mut_ptr();
            [
                f(start, start.add(4), 4, ptr::null(), ud),
                f(start, start.add(4), 2, &gain, ud),
                f(ptr::null(), ptr::null_mut(), 0, ptr::null(), ud),
            ]
        },
    );
    assert_eq!(got, [4, 2, 0]);
    assert_eq!(buffer, [1, 2, 3, 4, 3, 6, 6, 8]);
}

#[test]
fn into_borrows_that_overlap_are_refused_naming_both() {
    let calls = Cell::new(0);
    let mut buffer = [1i16, 2, 3, 4];
    let mut got = [9; 2];
    let payload = panic_payload(|| {
        Filter::scope(
            |input: &[i16], output: &mut [i16], _, gain: Option<&i16>| {
                calls.set(calls.get() + 1);
                double(input, output, gain)
            },
            |f, ud| {
                // SAFETY: `f`/`ud` are alive for the scope; both pointers
                // point at `n` elements of `buffer`, one past the other.
                got = unsafe {
                    let start = buffer.as_mut_ptr();
                    [
                        f(start, start.add(1), 3, ptr::null(), ud),
                        f(start, start.add(2), 2, ptr::null(), ud),
                    ]
                }
            },
        )
    });
    let message = message(&*payload);
    assert!(
        message.contains(
            "Filter` refused the call: its parameters `output` and `input` overlap, where \
             `output` is borrowed as `&mut`"
        ),
        "{message}"
    );
    assert_eq!(got, [-1, -1], "refused, then poisoned");
    assert_eq!(calls.get(), 0, "no borrow was made");
    assert_eq!(buffer, [1, 2, 3, 4]);
}

#[test]
fn into_a_reference_inside_a_mut_slice_is_refused() {
    let mut buffer = [1i16, 2, 3, 4];
    let input = [5i16, 6];
    let payload = panic_payload(|| {
        Filter::scope(
            |input: &[i16], output: &mut [i16], _, gain: Option<&i16>| double(input, output, gain),
            // SAFETY: `f`/`ud` are alive for the scope; `gain` points at
            // the last element of the output.
            |f, ud| unsafe {
                let start = buffer.as_mut_ptr();
                f(input.as_ptr(), start, 2, start.add(1), ud)
            },
        )
    });
    let message = message(&*payload);
    assert!(
        message.contains("its parameters `output` and `gain` overlap"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// Seven C parameters: the generated fns that take one more (the entry after
// a `user_data = EXPR` accessor, a thread-local scope's call) are not the
// user's to count (`clippy::too_many_arguments` under the workspace's
// `-D warnings`).
// ---------------------------------------------------------------------------

/// nghttp2's data source read callback's shape: the holder behind
/// `source->ptr`.
#[callback(
    // SAFETY: C passes `source` pointing at the holder's user data.
    user_data = unsafe { *source }
)]
type SevenRead = unsafe extern "C" fn(
    a: c_int,
    b: c_int,
    c: c_int,
    d: c_int,
    e: c_int,
    source: *mut *mut c_void,
    session_ud: *mut c_void,
) -> c_int;

#[callback(on_panic = fallback)]
type SevenPlain =
    extern "C" fn(a: c_int, b: c_int, c: c_int, d: c_int, e: c_int, f: c_int, g: c_int) -> c_int;

#[test]
fn seven_parameter_types_pass_clippy_and_run() {
    let read = SevenRead::boxed(|a, b, c, d, e, _source, _ud| a + b + c + d + e);
    let mut ud = read.user_data();
    // SAFETY: `source` points at the holder's user data, as the accessor
    // reads it; the holder is alive.
    let sum = unsafe { read.function()(1, 2, 3, 4, 5, &mut ud, std::ptr::null_mut()) };
    assert_eq!(sum, 15);
    let sum = SevenPlain::scope_thread_local(
        |a, b, c, d, e, f, g| a + b + c + d + e + f + g,
        |f| f(1, 2, 3, 4, 5, 6, 7),
    );
    assert_eq!(sum, 28);
}

// ---------------------------------------------------------------------------
// `bool` and `Ordering` inside a `Result`, for a C `int`
// ---------------------------------------------------------------------------

/// A filter C calls per value: non-zero keeps it.
#[callback(on_error = -7)]
type Keep = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

/// A comparator whose closures fail with a `String` (`error = Type`).
#[callback(error = String, on_error = 99)]
type Order = unsafe extern "C" fn(a: c_int, b: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[test]
fn closures_return_bool_or_ordering_inside_a_result() {
    let mut seen = Vec::new();
    let c_got = Cell::new([0; 3]);
    let result: Result<(), String> = Keep::try_scope(
        |n| -> Result<bool, String> {
            seen.push(n);
            if n < 0 {
                Err(format!("{n} is negative"))
            } else {
                Ok(n % 2 == 0)
            }
        },
        |f, ud| {
            // SAFETY: the scope's pair, called during the scope.
            c_got.set([2, 3, -1].map(|n| unsafe { f(n, ud) }));
        },
    );
    assert_eq!(result, Err("-1 is negative".to_owned()));
    assert_eq!(seen, [2, 3, -1]);
    assert_eq!(c_got.get(), [1, 0, -7], "true, false, then `on_error`");

    let mut calls = 0;
    let got: Result<Vec<c_int>, String> = Order::try_scope(
        |a, b| {
            calls += 1;
            if a == b {
                Err(format!("{a} twice"))
            } else {
                Ok(a.cmp(&b))
            }
        },
        |f, ud| {
            [(1, 2), (2, 1)]
                // SAFETY: the scope's pair, called during the scope.
                .map(|(a, b)| unsafe { f(a, b, ud) })
                .to_vec()
        },
    );
    assert_eq!(got, Ok(vec![-1, 1]));
    assert_eq!(calls, 2);
}
