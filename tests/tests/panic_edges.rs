//! Panic edge cases and refusals (DESIGN.md "Panics and refusals"), against
//! C APIs simulated in Rust so that all of it runs under Miri:
//!
//! - a panic payload whose own `Drop` panics: under `on_panic = fallback`,
//!   when a second panic meets a kept one, and when the guarded call itself
//!   panics while one is kept;
//! - a panic inside a `destroy` (a closure capture whose `Drop` panics),
//!   under `resume` with a guard and under `fallback`;
//! - a panic while another is pending: the first is kept, the second dropped;
//! - nested `scope` / `resume_panics`;
//! - a callback invoked after its holder was poisoned;
//! - each refusal (null user data, re-entry, second call of a `once`) with
//!   its message and the fallback its policy returns.
//!
//! The abort paths (no guard, `on_panic = abort`) run in subprocesses in
//! another suite.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ffi_callback::{callback, resume_panics, user_data, user_data_box, user_data_ref};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

#[derive(Debug, PartialEq)]
struct Boom(u32);

/// A panic payload whose `Drop` panics (with a zero-sized payload of its
/// own, see `DropPanicked`).
struct DropBomb(Arc<AtomicU32>);

/// The payload of the panic a `DropBomb` raises when dropped. Zero-sized, so
/// its box owns no allocation: the runtime leaks such secondary payloads on
/// purpose (see `drop_panic_with_a_string_payload_is_not_leaked`), and Miri
/// would report anything else as a leak.
struct DropPanicked;

impl Drop for DropBomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic_any(DropPanicked);
    }
}

fn bomb() -> (DropBomb, Arc<AtomicU32>) {
    let drops = Arc::new(AtomicU32::new(0));
    (DropBomb(drops.clone()), drops)
}

/// A closure capture whose `Drop` panics (after counting).
struct PanicOnDrop(Rc<Cell<u32>>);

impl PanicOnDrop {
    fn touch(&self) {}
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
        panic!("expected: capture drop");
    }
}

fn counter() -> Rc<Cell<u32>> {
    Rc::new(Cell::new(0))
}

// ---------------------------------------------------------------------------
// Callbacks and the simulated C library.
// ---------------------------------------------------------------------------

type Visit = unsafe extern "C" fn(c_int, *mut c_void) -> c_int;

/// `for (i = 0; i < n; i++) out[i] = cb(i, ud);`
unsafe extern "C" fn c_each(cb: Option<Visit>, ud: *mut c_void, n: c_int, out: *mut c_int) {
    let Some(cb) = cb else { return };
    for i in 0..n {
        // SAFETY: the caller passes a callback that accepts `ud`, and `out`
        // with room for `n` ints.
        unsafe { *out.add(i as usize) = cb(i, ud) };
    }
}

/// Calls `c_each` and collects what the callback returned each time.
///
/// # Safety
/// `ud` is what `cb` expects.
unsafe fn each(cb: Visit, ud: *mut c_void, n: c_int) -> Vec<c_int> {
    let mut out = vec![c_int::MIN; n as usize];
    // SAFETY: forwarded; `out` has room for `n` ints.
    unsafe { c_each(Some(cb), ud, n, out.as_mut_ptr()) };
    out
}

/// `for (i = 0; i < n; i++) out[i] = f(ud, i);`, as a `Vec`.
///
/// # Safety
/// `ud` is what `f` expects.
unsafe fn each_ud_first(f: EachFn, ud: *mut c_void, n: c_int) -> Vec<c_int> {
    // SAFETY: forwarded.
    (0..n).map(|i| unsafe { f(ud, i) }).collect()
}

#[callback(fallback = -1)]
type Each = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[callback(on_panic = fallback, fallback = -2)]
type EachFallback = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// Panics with `Boom(i)` when `i == 1`.
#[callback(fallback = -1)]
extern "C" fn boom_at_one(i: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    if i == 1 {
        panic_any(Boom(1));
    }
    seen.push(i);
    i
}

// ---------------------------------------------------------------------------
// A panic payload whose Drop panics
// ---------------------------------------------------------------------------

#[callback(on_panic = fallback, fallback = -9)]
extern "C" fn bomb_fallback(i: c_int, #[user_data] drops: &Arc<AtomicU32>) -> c_int {
    if i == 1 {
        panic_any(DropBomb(drops.clone()));
    }
    i
}

#[test]
fn payload_with_panicking_drop_under_fallback_policy() {
    let drops = Arc::new(AtomicU32::new(0));
    let (results, raised) = panics_during(|| {
        // SAFETY: `bomb_fallback` receives `&Arc<AtomicU32>`.
        unsafe { each(bomb_fallback, user_data_ref(&drops), 3) }
    });
    // The payload was dropped exactly once; its Drop's panic did not reach
    // the C frames (that would have aborted) and the C loop carried on.
    assert_eq!(results, [0, -9, 2]);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // Both panics went through the hook: the bomb, then its Drop's.
    assert_eq!(raised, ["<typed payload>", "<typed payload>"]);
}

#[test]
fn payload_with_panicking_drop_in_a_fallback_holder() {
    let (bomb_payload, drops) = bomb();
    let mut bomb_payload = Some(bomb_payload);
    let (results, _) = panics_during(|| {
        EachFallback::scope(
            |n| {
                if n == 0 {
                    panic_any(bomb_payload.take().expect("first call"));
                }
                n
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| unsafe { each_ud_first(f, ud, 2) },
        )
    });
    assert_eq!(results, [-2, 1]);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn kept_panic_then_second_panic_with_panicking_drop() {
    // A fn-form callback panics (kept, poisons the guard); then a holder,
    // which has its own state and is not poisoned, panics with a bomb: the
    // second payload is dropped, its Drop's panic contained, and the first
    // one resumed.
    let (bomb_payload, drops) = bomb();
    let mut bomb_payload = Some(bomb_payload);
    let mut seen: Vec<c_int> = Vec::new();
    let mut second = Vec::new();
    let payload = panic_payload(|| {
        Each::scope(
            |_| -> c_int { panic_any(bomb_payload.take().expect("called once")) },
            |f, ud| {
                // SAFETY: `boom_at_one` receives `&mut Vec<c_int>`.
                unsafe { each(boom_at_one, user_data(&mut seen), 3) };
                // SAFETY: `f`/`ud` are alive for the scope.
                second = unsafe { each_ud_first(f, ud, 2) };
            },
        )
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(seen, [0]);
    assert_eq!(second, [-1, -1]);
}

#[test]
fn guarded_call_panicking_with_a_bomb_while_one_is_kept() {
    let (bomb_payload, drops) = bomb();
    let mut seen: Vec<c_int> = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `boom_at_one` receives `&mut Vec<c_int>`.
            unsafe { each(boom_at_one, user_data(&mut seen), 2) };
            // The guarded code itself panics while `Boom(1)` is kept.
            panic_any(bomb_payload)
        })
    });
    // The kept (earlier) panic propagates; the later one was dropped once.
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn kept_bomb_is_resumed_as_is() {
    // The runtime does not drop a kept payload: the guard hands the bomb
    // itself to the caller, whose own drop then panics.
    let (bomb_payload, drops) = bomb();
    let mut bomb_payload = Some(bomb_payload);
    let payload = panic_payload(|| {
        Each::scope(
            |_| -> c_int { panic_any(bomb_payload.take().expect("called once")) },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| unsafe { each_ud_first(f, ud, 2) },
        )
    });
    assert!(payload.is::<DropBomb>());
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    assert!(dropped.unwrap_err().is::<DropPanicked>());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Like `DropBomb`, but its Drop panics with an ordinary message, whose
/// payload box owns an allocation.
struct StrBomb;

impl Drop for StrBomb {
    fn drop(&mut self) {
        panic!("expected: str bomb drop");
    }
}

#[callback(on_panic = fallback, fallback = -9)]
extern "C" fn str_bomb_fallback(i: c_int, #[user_data] calls: &Cell<u32>) -> c_int {
    calls.set(calls.get() + 1);
    if i == 0 {
        panic_any(StrBomb);
    }
    i
}

#[test]
fn drop_panic_with_a_string_payload_is_not_leaked() {
    let calls = Cell::new(0);
    let (results, raised) = panics_during(|| {
        // SAFETY: `str_bomb_fallback` receives `&Cell<u32>`.
        unsafe { each(str_bomb_fallback, user_data_ref(&calls), 2) }
    });
    assert_eq!(results, [-9, 1]);
    assert_eq!(calls.get(), 2);
    assert_eq!(raised, ["<typed payload>", "expected: str bomb drop"]);
}

// ---------------------------------------------------------------------------
// A panic inside a destroy
// ---------------------------------------------------------------------------

#[test]
fn panic_in_boxed_destroy_under_resume_is_resumed_by_the_guard() {
    let drops = counter();
    let capture = PanicOnDrop(drops.clone());
    let raw = Each::boxed(move |n| {
        capture.touch();
        n * 2
    })
    .into_raw();
    // SAFETY: alive until the destroy below.
    assert_eq!(unsafe { (raw.function)(raw.user_data, 4) }, 8);
    let payload = panic_payload(|| {
        // SAFETY: once, after the last call.
        resume_panics(|| unsafe { (raw.destroy)(raw.user_data) })
    });
    assert_eq!(message(&*payload), "expected: capture drop");
    // Dropped once, and the holder freed (Miri checks the allocation).
    assert_eq!(drops.get(), 1);
}

#[test]
fn panic_in_boxed_destroy_under_fallback_is_contained() {
    let drops = counter();
    let capture = PanicOnDrop(drops.clone());
    let raw = EachFallback::boxed(move |n| {
        capture.touch();
        n
    })
    .into_raw();
    let ((), raised) = panics_during(|| {
        // SAFETY: never called; destroyed once. No guard: `fallback`
        // contains the panic itself.
        unsafe { (raw.destroy)(raw.user_data) }
    });
    assert_eq!(drops.get(), 1);
    assert_eq!(raised, ["expected: capture drop"]);
}

#[test]
fn panic_in_once_destroy_of_an_uncalled_closure() {
    let drops = counter();
    let capture = PanicOnDrop(drops.clone());
    let raw = Each::once(move |n| {
        capture.touch();
        n
    })
    .into_raw_with_destroy();
    let payload = panic_payload(|| {
        // SAFETY: never called; destroyed once.
        resume_panics(|| unsafe { (raw.destroy)(raw.user_data) })
    });
    assert_eq!(message(&*payload), "expected: capture drop");
    assert_eq!(drops.get(), 1);

    let drops = counter();
    let capture = PanicOnDrop(drops.clone());
    let raw = EachFallback::once(move |n| {
        capture.touch();
        n
    })
    .into_raw_with_destroy();
    let ((), raised) = panics_during(|| {
        // SAFETY: as above.
        unsafe { (raw.destroy)(raw.user_data) }
    });
    assert_eq!((drops.get(), raised.len()), (1, 1));
}

#[test]
fn panic_when_a_once_call_drops_its_closure() {
    // The call consumes the closure; dropping it at the end of the call
    // panics: handled like a panic in the closure.
    let drops = counter();
    let capture = PanicOnDrop(drops.clone());
    let raw = Each::once(move |n| {
        capture.touch();
        n + 1
    })
    .into_raw();
    let mut got = 0;
    let payload = panic_payload(|| {
        // SAFETY: the one call.
        resume_panics(|| got = unsafe { (raw.function)(raw.user_data, 1) })
    });
    assert_eq!(message(&*payload), "expected: capture drop");
    assert_eq!((got, drops.get()), (-1, 1));
}

/// A destroy-notify in the fn form whose user data panics when dropped.
#[callback(on_panic = fallback)]
extern "C" fn free_state(#[user_data] state: Box<PanicOnDrop>) {
    state.touch();
}

#[test]
fn panic_in_fn_form_destroy_notify_under_fallback() {
    let drops = counter();
    let ud = user_data_box(Box::new(PanicOnDrop(drops.clone())));
    let ((), raised) = panics_during(|| {
        // SAFETY: `free_state` receives the box, once.
        unsafe { free_state(ud) }
    });
    assert_eq!(drops.get(), 1);
    assert_eq!(raised, ["expected: capture drop"]);
}

// ---------------------------------------------------------------------------
// A panic while another is pending
// ---------------------------------------------------------------------------

#[test]
fn second_panic_is_dropped_and_the_first_resumed() {
    // Two holders in one guard (each with its own state, so the second is
    // not poisoned by the first): both panic; the first is resumed, the
    // second discarded; both were raised through the hook, in order.
    let first = Each::new(|_| -> c_int { panic!("expected: first") });
    let mut results = Vec::new();
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            Each::scope(
                |_| -> c_int { panic!("expected: second") },
                |f, ud| {
                    // SAFETY: both holders are alive for the scope.
                    unsafe {
                        results.extend(each_ud_first(first.function(), first.user_data(), 2));
                        results.extend(each_ud_first(f, ud, 2));
                    }
                },
            )
        })
    });
    assert_eq!(message(&*payload), "expected: first");
    assert_eq!(results, [-1, -1, -1, -1]);
    assert_eq!(raised, ["expected: first", "expected: second"]);
}

#[test]
fn second_panic_payload_is_dropped_exactly_once() {
    let drops = Arc::new(AtomicU32::new(0));
    let second = SendCounted(drops.clone());
    let mut second = Some(second);
    let first = Each::new(|_| -> c_int { panic_any(Boom(1)) });
    let payload = panic_payload(|| {
        Each::scope(
            |_| -> c_int { panic_any(second.take().expect("called once")) },
            |f, ud| {
                // SAFETY: both holders are alive for the scope.
                unsafe {
                    each_ud_first(first.function(), first.user_data(), 1);
                    each_ud_first(f, ud, 1);
                }
            },
        )
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    // Dropped by the runtime when it was discarded, not leaked.
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// A `Send` payload that counts its drops.
struct SendCounted(Arc<AtomicU32>);

impl Drop for SendCounted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// Nested scope / resume_panics
// ---------------------------------------------------------------------------

#[test]
fn nested_scopes_carry_the_inner_panic_out_through_the_outer() {
    let mut outer_log = Vec::new();
    let mut inner_log = Vec::new();
    let mut inner_results = Vec::new();
    let mut outer_results = Vec::new();
    let payload = panic_payload(|| {
        Each::scope(
            |n| {
                outer_log.push(n);
                if n == 1 {
                    // An inner C call with its own callback, inside the
                    // outer callback.
                    inner_results = Each::scope(
                        |m| {
                            if m == 1 {
                                panic_any(Boom(9));
                            }
                            inner_log.push(m);
                            m
                        },
                        // SAFETY: `f`/`ud` are alive for the scope.
                        |f, ud| unsafe { each_ud_first(f, ud, 3) },
                    );
                    unreachable!("the inner scope re-raised the panic");
                }
                n
            },
            // SAFETY: as above.
            |f, ud| outer_results = unsafe { each_ud_first(f, ud, 3) },
        )
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(9)));
    // Inner: m = 0 ran, m = 1 panicked, m = 2 got the fallback (the inner
    // scope never returned, so its results were not stored).
    assert_eq!(inner_log, [0]);
    assert!(inner_results.is_empty());
    // Outer: n = 0 ran, n = 1 panicked (re-raised by the inner scope),
    // n = 2 got the fallback.
    assert_eq!(outer_log, [0, 1]);
    assert_eq!(outer_results, [0, -1, -1]);
}

#[test]
fn an_inner_guard_inside_a_poisoned_one_starts_poisoned_and_restores_the_outer_state() {
    let mut first: Vec<c_int> = Vec::new();
    let mut inner = Vec::new();
    let mut after = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `boom_at_one` receives `&mut Vec<c_int>` (for all the
            // calls below).
            unsafe { each(boom_at_one, user_data(&mut first), 3) };
            // The outer guard is poisoned now, and holds the panic until it
            // returns: an inner guard started meanwhile is poisoned too
            // (DESIGN: every `resume` fn-form callback on the thread returns
            // the fallback until the guard that keeps the panic returns).
            inner = resume_panics(|| {
                // SAFETY: as above.
                unsafe { each(boom_at_one, user_data(&mut Vec::<c_int>::new()), 1) }
            });
            // Back in the outer guard: poisoned again.
            // SAFETY: as above.
            after = unsafe { each(boom_at_one, user_data(&mut Vec::<c_int>::new()), 1) };
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    assert_eq!(first, [0]);
    assert_eq!(inner, [-1]);
    assert_eq!(after, [-1]);
}

#[test]
fn an_inner_guards_panic_caught_inside_the_outer_does_not_poison_it() {
    let mut seen: Vec<c_int> = Vec::new();
    let mut later = Vec::new();
    resume_panics(|| {
        let inner = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `boom_at_one` receives `&mut Vec<c_int>`.
            resume_panics(|| unsafe { each(boom_at_one, user_data(&mut seen), 3) })
        }));
        assert!(inner.unwrap_err().is::<Boom>());
        // The outer guard holds nothing and is not poisoned.
        // SAFETY: as above.
        later = unsafe { each(boom_at_one, user_data(&mut seen), 1) };
    });
    assert_eq!(seen, [0, 0]);
    assert_eq!(later, [0]);
}

// ---------------------------------------------------------------------------
// A callback invoked after its holder was poisoned
// ---------------------------------------------------------------------------

#[test]
fn a_holder_poisoned_by_its_panic_runs_again_once_the_guard_reraised_it() {
    let calls = Cell::new(0);
    let cb = Each::new(|n| {
        calls.set(calls.get() + 1);
        assert!(n != 0, "expected: poison me");
        n
    });
    let (f, ud) = (cb.function(), cb.user_data());
    // While the guard holds the panic, the holder returns the fallback
    // without running the closure (C may keep calling after an error).
    let during = Cell::new([0; 2]);
    // SAFETY: `cb` is alive and unmoved for every call below.
    let payload = panic_payload(|| resume_panics(|| unsafe { during.set([f(ud, 0), f(ud, 1)]) }));
    assert_eq!(message(&*payload), "expected: poison me");
    assert_eq!(during.get(), [-1, -1]);
    assert_eq!(calls.get(), 1);

    // The guard has re-raised it: from a new guard, from no guard, from
    // another holder's scope, the closure runs again.
    let (got, raised) = panics_during(|| {
        // SAFETY: as above.
        let a = resume_panics(|| unsafe { f(ud, 1) });
        // SAFETY: as above.
        let b = unsafe { f(ud, 2) };
        // SAFETY: as above.
        let c = Each::scope(|n| n, |_, _| unsafe { f(ud, 3) });
        [a, b, c]
    });
    assert_eq!(got, [1, 2, 3]);
    assert!(raised.is_empty(), "{raised:?}");
    assert_eq!(calls.get(), 4);
    let mut closure = cb.into_inner();
    assert_eq!(closure(5), 5);
}

// ---------------------------------------------------------------------------
// Refusals, each with its message and its policy's fallback
// ---------------------------------------------------------------------------

const REFUSED: &str = "refused the call: ";

#[callback(fallback = -3)]
extern "C" fn needs_data(_i: c_int, #[user_data] data: &mut u32) -> c_int {
    *data += 1;
    1
}

#[callback(on_panic = fallback, fallback = -4)]
extern "C" fn needs_data_fallback(_i: c_int, #[user_data] data: &u32) -> c_int {
    c_int::try_from(*data).unwrap_or(0)
}

#[callback(on_panic = unwind)]
extern "C-unwind" fn needs_data_unwind(_i: c_int, #[user_data] data: &mut u32) -> c_int {
    *data += 1;
    1
}

#[test]
fn refusal_null_user_data_under_resume() {
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        // SAFETY: null, which the trampoline refuses.
        resume_panics(|| got = unsafe { each(needs_data, ptr::null_mut(), 2) })
    });
    assert_eq!(got, [-3, -3]);
    assert_eq!(
        message(&*payload),
        "ffi-callback: `panic_edges::needs_data` refused the call: its user data is null, but it \
         receives it as `&mut u32`"
    );
}

#[test]
fn refusal_null_user_data_under_fallback() {
    let (got, raised) = panics_during(|| {
        // SAFETY: null, which the trampoline refuses.
        unsafe { each(needs_data_fallback, ptr::null_mut(), 2) }
    });
    assert_eq!(got, [-4, -4]);
    let expected = "ffi-callback: `panic_edges::needs_data_fallback` refused the call: its user \
                    data is null, but it receives it as `&u32`";
    assert_eq!(raised, [expected, expected]);
    // And with data, it runs.
    let data = 6;
    // SAFETY: `needs_data_fallback` receives `&u32`.
    let got = unsafe { each(needs_data_fallback, user_data_ref(&data), 1) };
    assert_eq!(got, [6]);
}

#[test]
fn refusal_null_user_data_under_unwind() {
    let payload = panic_payload(|| {
        // SAFETY: null, which the trampoline refuses; the refusal unwinds into
        // the (`C-unwind`) caller.
        unsafe { needs_data_unwind(0, ptr::null_mut()) }
    });
    assert_eq!(
        message(&*payload),
        "ffi-callback: `panic_edges::needs_data_unwind` refused the call: its user data is null, \
         but it receives it as `&mut u32`"
    );
}

#[callback(
    // SAFETY: the simulated C passes a valid context.
    user_data = unsafe { c_ctx_user_data(ctx) },
    on_panic = fallback,
    fallback = -6
)]
type ScalarFunc = unsafe extern "C" fn(ctx: *mut Ctx, n: c_int) -> c_int;

#[repr(C)]
struct Ctx {
    user_data: *mut c_void,
}

unsafe extern "C" fn c_ctx_user_data(ctx: *mut Ctx) -> *mut c_void {
    // SAFETY: C passes a valid context.
    unsafe { (*ctx).user_data }
}

#[test]
fn refusal_null_accessor_user_data_under_fallback() {
    let calls = Cell::new(0);
    let cb = ScalarFunc::new(|_ctx, n| {
        calls.set(calls.get() + 1);
        n
    });
    let mut null_ctx = Ctx {
        user_data: ptr::null_mut(),
    };
    let mut ctx = Ctx {
        user_data: cb.user_data(),
    };
    let f = cb.function();
    let (got, raised) = panics_during(|| {
        // SAFETY: null (refused), then the holder's user data.
        unsafe { [f(&mut null_ctx, 1), f(&mut ctx, 2)] }
    });
    assert_eq!(got, [-6, 2]);
    assert_eq!(calls.get(), 1);
    assert_eq!(
        raised,
        [
            "ffi-callback: `panic_edges::ScalarFunc` refused the call: its user data is null instead of a \
          pointer to its holder"
        ]
    );
}

/// A C object that calls its callback on `c_emit`, also from inside it.
#[repr(C)]
struct Emitter {
    f: Option<EachFn>,
    ud: *mut c_void,
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

/// Registers `f`/`ud` on a new emitter and emits `n`: the callback
/// re-enters by emitting `n - 1` on it.
///
/// # Safety
/// `ud` is what `f` expects, alive for the call.
unsafe fn emit_reentrant(f: EachFn, ud: *mut c_void, em: *mut Emitter, n: c_int) -> c_int {
    // SAFETY: `em` is valid (the caller's); forwarded.
    unsafe {
        (*em).f = Some(f);
        (*em).ud = ud;
        c_emit(em, n)
    }
}

#[test]
fn refusal_reentry_under_resume() {
    let mut em = Emitter {
        f: None,
        ud: ptr::null_mut(),
    };
    let em_ptr = &raw mut em;
    let mut inner_results = Vec::new();
    let mut got = 0;
    let payload = panic_payload(|| {
        Each::scope(
            |n| {
                if n > 0 {
                    // SAFETY: the emitter outlives the scope.
                    inner_results.push(unsafe { c_emit(em_ptr, n - 1) });
                }
                n
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| got = unsafe { emit_reentrant(f, ud, em_ptr, 1) },
        )
    });
    assert_eq!((got, inner_results), (1, vec![-1]));
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `panic_edges::Each` refused the call: it was called while its closure \
             was already running (re-entered, or called from two threads at once)"
        ),
        "{msg}"
    );
}

#[test]
fn refusal_reentry_under_fallback() {
    let mut em = Emitter {
        f: None,
        ud: ptr::null_mut(),
    };
    let em_ptr = &raw mut em;
    let mut inner_results = Vec::new();
    let (got, raised) = panics_during(|| {
        EachFallback::scope(
            |n| {
                if n > 0 {
                    // SAFETY: the emitter outlives the scope.
                    inner_results.push(unsafe { c_emit(em_ptr, n - 1) });
                }
                n
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| unsafe { emit_reentrant(f, ud, em_ptr, 2) },
        )
    });
    assert_eq!((got, inner_results), (2, vec![-2]));
    assert_eq!(raised.len(), 1);
    assert!(
        raised[0].starts_with(&format!(
            "ffi-callback: `panic_edges::EachFallback` {REFUSED}"
        )),
        "{raised:?}"
    );
    assert!(raised[0].contains("already running"), "{raised:?}");
}

#[callback(on_panic = unwind)]
type EachUnwind = unsafe extern "C-unwind" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `Emitter` for a C library built with unwinding.
#[repr(C)]
struct UnwindEmitter {
    f: Option<unsafe extern "C-unwind" fn(*mut c_void, c_int) -> c_int>,
    ud: *mut c_void,
}

unsafe extern "C-unwind" fn c_emit_unwind(em: *mut UnwindEmitter, n: c_int) -> c_int {
    // SAFETY: the caller passes a valid emitter with a consistent
    // registration.
    unsafe {
        match (*em).f {
            Some(f) => f((*em).ud, n),
            None => c_int::MIN,
        }
    }
}

unsafe extern "C-unwind" fn c_set_unwind(
    em: *mut UnwindEmitter,
    f: unsafe extern "C-unwind" fn(*mut c_void, c_int) -> c_int,
    ud: *mut c_void,
) {
    // SAFETY: the caller passes a valid emitter.
    unsafe {
        (*em).f = Some(f);
        (*em).ud = ud;
    }
}

#[test]
fn refusal_reentry_under_unwind() {
    let mut em = UnwindEmitter {
        f: None,
        ud: ptr::null_mut(),
    };
    let em_ptr = &raw mut em;
    let calls = Cell::new(0);
    let cb = EachUnwind::new(|n| {
        calls.set(calls.get() + 1);
        if n > 0 {
            // SAFETY: the emitter outlives the calls.
            unsafe { c_emit_unwind(em_ptr, n - 1) };
        }
        n
    });
    let (f, ud) = (cb.function(), cb.user_data());
    // SAFETY: `cb` is alive and unmoved while the emitter uses it.
    unsafe { c_set_unwind(em_ptr, f, ud) };
    // The refusal unwinds out of the inner call, through the outer
    // closure, to the caller.
    // SAFETY: as above.
    let payload = panic_payload(|| unsafe { c_emit_unwind(em_ptr, 1) });
    let msg = message(&*payload);
    assert!(
        msg.starts_with(&format!(
            "ffi-callback: `panic_edges::EachUnwind` {REFUSED}it was called while its closure \
             was already running"
        )),
        "{msg}"
    );
    assert_eq!(calls.get(), 1);
    // The outer call was unwound, not left running: the holder runs again.
    // SAFETY: as above.
    assert_eq!(unsafe { c_emit_unwind(em_ptr, 0) }, 0);
    assert_eq!(calls.get(), 2);
}

/// `&mut` user data that re-enters its own C object.
struct Nest {
    emitter: *mut Emitter,
    depth: Vec<c_int>,
}

#[callback(on_panic = fallback, fallback = -8)]
extern "C" fn nested_fallback(n: c_int, #[user_data] nest: &mut Nest) -> c_int {
    let inner = if n > 0 {
        // SAFETY: the emitter outlives the test's calls.
        unsafe { c_emit(nest.emitter, n - 1) }
    } else {
        0
    };
    nest.depth.push(inner);
    n
}

/// `nested_fallback` as an `EachFn` (user data first), via a plain C-style
/// adapter.
unsafe extern "C" fn nested_adapter(ud: *mut c_void, n: c_int) -> c_int {
    // SAFETY: forwarded from the emitter, which holds `nested_fallback`'s
    // user data.
    unsafe { nested_fallback(n, ud) }
}

#[cfg(debug_assertions)]
#[test]
fn refusal_reentry_fn_form_under_fallback_in_debug_builds() {
    let mut em = Emitter {
        f: None,
        ud: ptr::null_mut(),
    };
    let em_ptr = &raw mut em;
    let mut nest = Nest {
        emitter: em_ptr,
        depth: Vec::new(),
    };
    let (got, raised) = panics_during(|| {
        // SAFETY: `nested_fallback` receives `&mut Nest`, alive meanwhile.
        unsafe { emit_reentrant(nested_adapter, user_data(&mut nest), em_ptr, 1) }
    });
    assert_eq!(got, 1);
    assert_eq!(nest.depth, [-8]);
    assert_eq!(raised.len(), 1);
    assert!(
        raised[0].starts_with(&format!(
            "ffi-callback: `panic_edges::nested_fallback` {REFUSED}it was entered again with user \
             data "
        )),
        "{raised:?}"
    );
}

#[test]
fn refusal_second_once_call_under_resume() {
    let raw = Each::once(|n| n + 1).into_raw_with_destroy();
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        // SAFETY: two calls then one destroy; the second call is refused.
        resume_panics(|| unsafe { got.extend(each_ud_first(raw.function, raw.user_data, 2)) })
    });
    assert_eq!(got, [1, -1]);
    assert_eq!(
        message(&*payload),
        "ffi-callback: `panic_edges::Each` refused the call: it was called a second time, but its \
         closure is `FnOnce` and was already taken (by the first call, or by `Once::into_inner`)"
    );
    // SAFETY: once.
    unsafe { (raw.destroy)(raw.user_data) };
}

#[test]
fn refusal_second_once_call_under_fallback() {
    let raw = EachFallback::once(|n| n + 1).into_raw_with_destroy();
    let (got, raised) = panics_during(|| {
        // SAFETY: three calls then one destroy; calls 2 and 3 are refused.
        unsafe { each_ud_first(raw.function, raw.user_data, 3) }
    });
    assert_eq!(got, [1, -2, -2]);
    assert_eq!(raised.len(), 2);
    assert!(
        raised.iter().all(|m| m.starts_with(&format!(
            "ffi-callback: `panic_edges::EachFallback` {REFUSED}it was called a second time"
        ))),
        "{raised:?}"
    );
    // SAFETY: once.
    unsafe { (raw.destroy)(raw.user_data) };
}
