//! The fn form (`#[callback] extern "C" fn`) against C APIs simulated in
//! Rust: plain `extern "C"` fns below play the C library and call the
//! callbacks, several times, from several registrations, re-entrantly. No C
//! code runs, so the whole file runs under Miri (`scripts/miri.sh`), which
//! checks every pointer the trampolines unpack.
//!
//! Every policy (`resume`, `fallback`, `unwind`, `abort` on its happy path),
//! every user-data type and slot, every position of the slot, accessor user
//! data, refusals, generic fns, and parameters converted by `#[into(..)]`.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::panic_any;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use ffi_callback::{callback, resume_panics, try_resume, user_data, user_data_box, user_data_ref};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

/// A typed payload, to check that the original payload comes back.
#[derive(Debug, PartialEq)]
struct Boom(u32);

// ---------------------------------------------------------------------------
// The simulated C library.
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

// ---------------------------------------------------------------------------
// on_panic = resume
// ---------------------------------------------------------------------------

#[callback(fallback = -1)]
extern "C" fn visit_resume(i: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    if i == 2 {
        panic_any(Boom(2));
    }
    seen.push(i);
    i * 10
}

#[test]
fn resume_reraises_the_original_payload_after_the_c_call() {
    let mut seen: Vec<c_int> = Vec::new();
    let mut results = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `visit_resume` receives `&mut Vec<c_int>`; `seen` lives
            // through the call and nothing else touches it.
            results = unsafe { each(visit_resume, user_data(&mut seen), 5) };
        });
    });
    // The C call ran to its end before the panic was re-raised.
    assert_eq!(results, [0, 10, -1, -1, -1]);
    // Calls 3 and 4 returned the fallback without running user code.
    assert_eq!(seen, [0, 1]);
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
}

#[test]
fn resume_guard_is_unpoisoned_when_it_returns() {
    let mut seen: Vec<c_int> = Vec::new();
    let _ = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: as above.
            unsafe { each(visit_resume, user_data(&mut seen), 4) }
        })
    });
    assert_eq!(seen, [0, 1]);

    // A new guard starts clean: calls run user code again.
    let mut again: Vec<c_int> = Vec::new();
    let results = resume_panics(|| {
        // SAFETY: as above.
        unsafe { each(visit_resume, user_data(&mut again), 2) }
    });
    assert_eq!((results, again), (vec![0, 10], vec![0, 1]));

    // So does a call with no guard at all (no panic, so none is needed).
    let mut unguarded: Vec<c_int> = Vec::new();
    // SAFETY: as above.
    let results = unsafe { each(visit_resume, user_data(&mut unguarded), 2) };
    assert_eq!((results, unguarded), (vec![0, 10], vec![0, 1]));
}

// Several handlers sharing one user data, as expat's are: after one of them
// panics, none runs again while the guard is poisoned.

#[derive(Default)]
struct Doc {
    events: Vec<String>,
}

#[callback]
extern "C" fn on_start(tag: c_int, #[user_data] doc: &mut Doc) -> c_int {
    assert!(tag != 1, "expected: bad tag {tag}");
    doc.events.push(format!("start {tag}"));
    1
}

#[callback]
extern "C" fn on_text(tag: c_int, #[user_data] doc: &mut Doc) -> c_int {
    doc.events.push(format!("text {tag}"));
    2
}

#[callback]
extern "C" fn on_end(tag: c_int, #[user_data] doc: &mut Doc) -> c_int {
    doc.events.push(format!("end {tag}"));
    3
}

#[callback]
extern "C" fn count_calls(_i: c_int, #[user_data] calls: &Cell<u32>) -> c_int {
    calls.set(calls.get() + 1);
    7
}

/// A parser that delivers `<t0>text</t0><t1>text</t1>...` to three handlers,
/// carrying on after errors, and records what each returned.
unsafe extern "C" fn c_parse(
    start: Option<Visit>,
    text: Option<Visit>,
    end: Option<Visit>,
    ud: *mut c_void,
    tags: c_int,
    out: *mut c_int,
) {
    let (Some(start), Some(text), Some(end)) = (start, text, end) else {
        return;
    };
    for tag in 0..tags {
        let at = 3 * tag as usize;
        // SAFETY: the handlers accept `ud`; `out` has room for `3 * tags`.
        unsafe {
            *out.add(at) = start(tag, ud);
            *out.add(at + 1) = text(tag, ud);
            *out.add(at + 2) = end(tag, ud);
        }
    }
}

#[test]
fn resume_poisons_every_callback_sharing_the_guard() {
    let mut doc = Doc::default();
    let calls = Cell::new(0);
    let mut out = [c_int::MIN; 9];
    let mut other = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: the three handlers receive `&mut Doc`; `doc` outlives
            // the call and is not otherwise used; `out` holds 3 * 3 ints.
            unsafe {
                c_parse(
                    Some(on_start),
                    Some(on_text),
                    Some(on_end),
                    user_data(&mut doc),
                    3,
                    out.as_mut_ptr(),
                );
            }
            // Another C call in the same guard, with other fns and other
            // user data: still poisoned.
            // SAFETY: `count_calls` receives `&Cell<u32>`.
            other.extend(unsafe { each(count_calls, user_data_ref(&calls), 2) });
        })
    });
    assert_eq!(message(&*payload), "expected: bad tag 1");
    assert_eq!(doc.events, ["start 0", "text 0", "end 0"]);
    assert_eq!(out, [1, 2, 3, 0, 0, 0, 0, 0, 0]);
    assert_eq!((calls.get(), other), (0, vec![0, 0]));

    // After the guard, the same handlers run again.
    let mut doc = Doc::default();
    let mut out = [0; 3];
    resume_panics(|| {
        // SAFETY: as above, one tag.
        unsafe {
            c_parse(
                Some(on_start),
                Some(on_text),
                Some(on_end),
                user_data(&mut doc),
                1,
                out.as_mut_ptr(),
            );
        }
    });
    assert_eq!((doc.events.len(), out), (3, [1, 2, 3]));
}

// Poisoning is per thread: while one thread's guard holds a panic, the same
// fns still run on every other thread (whose calls then take the cold path:
// every callback's filter says some thread is poisoned), including fns
// called for the first time anywhere; and the poisoned thread gets
// fallbacks from every fn, including one it calls for the first time.
macro_rules! counting_fn {
    ($name:ident) => {
        #[callback(fallback = -1)]
        extern "C" fn $name(i: c_int, #[user_data] calls: &AtomicU32) -> c_int {
            calls.fetch_add(1, Ordering::Relaxed);
            i
        }
    };
}
counting_fn!(called_before_the_panic);
counting_fn!(first_called_on_the_other_thread);
counting_fn!(first_called_on_the_poisoned_thread);

#[test]
fn poisoned_thread_gets_fallbacks_while_other_threads_run_the_same_fns() {
    use std::sync::{Barrier, mpsc};

    /// Calls the three fns twice each, in this order.
    fn call_all(ud: *mut c_void) -> Vec<c_int> {
        // SAFETY: the three fns receive `&AtomicU32`, which `ud` points at.
        unsafe {
            let mut ran = each(first_called_on_the_poisoned_thread, ud, 2);
            ran.extend(each(called_before_the_panic, ud, 2));
            ran.extend(each(first_called_on_the_other_thread, ud, 2));
            ran
        }
    }

    let calls = AtomicU32::new(0);
    let ud = user_data_ref(&calls);
    // The pointer crosses to the other thread as an address: the
    // `AtomicU32` behind it is `Sync` and outlives the scope.
    let ud_addr = ud as usize;
    let step = Barrier::new(2);
    let (sender, receiver) = mpsc::channel();
    let poisoned_results = Cell::new(None);
    // SAFETY: `ud` points at `calls`.
    assert_eq!(unsafe { each(called_before_the_panic, ud, 1) }, [0]);
    std::thread::scope(|threads| {
        threads.spawn(|| {
            step.wait(); // the main thread is poisoned
            sender.send(call_all(ud_addr as *mut c_void)).unwrap();
            step.wait(); // the main thread has called them too
        });
        let mut seen: Vec<c_int> = Vec::new();
        let payload = panic_payload(|| {
            resume_panics(|| {
                // SAFETY: `visit_resume` receives `&mut Vec<c_int>`.
                unsafe { each(visit_resume, user_data(&mut seen), 3) };
                // SAFETY: as in `call_all`.
                let first = unsafe { each(first_called_on_the_poisoned_thread, ud, 1) };
                step.wait();
                let other = receiver.recv().unwrap();
                let here = call_all(ud);
                step.wait();
                // Checked once the other thread is done with the barrier.
                poisoned_results.set(Some((first, other, here)));
            })
        });
        assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
    });
    let (first, other, here) = poisoned_results.take().unwrap();
    assert_eq!(first, [-1]);
    assert_eq!(other, [0, 1, 0, 1, 0, 1]);
    assert_eq!(here, [-1; 6]);
    assert_eq!(calls.load(Ordering::Relaxed), 1 + 6);
    // After the guard, this thread runs them again.
    assert_eq!(call_all(ud), [0, 1, 0, 1, 0, 1]);
    assert_eq!(calls.load(Ordering::Relaxed), 1 + 6 + 6);
}

// Threads that get poisoned and healed over and over at once, calling the
// same fns (two of them first called by whichever thread comes first): on
// every thread, every call inside a poisoned guard returns the fallback and
// every call outside one runs, however the other threads' poisoning
// interleaves with it.
counting_fn!(called_by_all_threads_a);
counting_fn!(called_by_all_threads_b);

#[test]
fn threads_poisoned_and_healed_at_once_see_only_their_own_poison() {
    const THREADS: usize = 4;
    const ROUNDS: usize = if cfg!(miri) { 3 } else { 200 };

    let calls = AtomicU32::new(0);
    let ud_addr = user_data_ref::<*mut c_void, _>(&calls) as usize;
    std::thread::scope(|threads| {
        for _ in 0..THREADS {
            threads.spawn(move || {
                let ud = ud_addr as *mut c_void;
                for _ in 0..ROUNDS {
                    // SAFETY: both fns receive `&AtomicU32`, alive for the scope.
                    let healthy = unsafe {
                        (
                            each(called_by_all_threads_a, ud, 1),
                            each(called_by_all_threads_b, ud, 1),
                        )
                    };
                    assert_eq!(healthy, (vec![0], vec![0]));
                    let mut seen: Vec<c_int> = Vec::new();
                    let payload = panic_payload(|| {
                        resume_panics(|| {
                            // SAFETY: `visit_resume` receives `&mut Vec<c_int>`.
                            unsafe { each(visit_resume, user_data(&mut seen), 3) };
                            // SAFETY: as above.
                            let poisoned = unsafe {
                                (
                                    each(called_by_all_threads_a, ud, 1),
                                    each(called_by_all_threads_b, ud, 1),
                                )
                            };
                            assert_eq!(poisoned, (vec![-1], vec![-1]));
                        })
                    });
                    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
                }
            });
        }
    });
    assert_eq!(calls.load(Ordering::Relaxed) as usize, THREADS * ROUNDS * 2);
}

// A fn without user data is a safe `extern "C" fn`, resumed and poisoned
// like the others.
#[callback]
extern "C" fn square(x: c_int) -> c_int {
    assert!(x >= 0, "expected: negative");
    x * x
}

#[test]
fn resume_without_user_data() {
    let f: extern "C" fn(c_int) -> c_int = square;
    let mut got = Vec::new();
    let payload = panic_payload(|| resume_panics(|| got.extend([f(3), f(-1), f(4)])));
    assert_eq!(message(&*payload), "expected: negative");
    assert_eq!(got, [9, 0, 0]);
    assert_eq!(f(5), 25);
}

// ---------------------------------------------------------------------------
// on_panic = fallback, abort, unwind
// ---------------------------------------------------------------------------

#[callback(on_panic = fallback, fallback = -7)]
extern "C" fn visit_fallback(i: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    assert!(i != 1, "expected: fallback policy");
    seen.push(i);
    i * 10
}

#[test]
fn fallback_returns_the_fallback_and_later_calls_run() {
    let mut seen: Vec<c_int> = Vec::new();
    // No guard: the policy handles the panic itself.
    let (results, raised) = panics_during(|| {
        // SAFETY: `visit_fallback` receives `&mut Vec<c_int>`.
        unsafe { each(visit_fallback, user_data(&mut seen), 4) }
    });
    assert_eq!(results, [0, -7, 20, 30]);
    assert_eq!(seen, [0, 2, 3]);
    assert_eq!(raised, ["expected: fallback policy"]);
}

#[test]
fn fallback_inside_a_guard_does_not_poison_it() {
    let mut seen: Vec<c_int> = Vec::new();
    let mut other = Vec::new();
    // The guard returns normally: nothing was kept.
    resume_panics(|| {
        // SAFETY: as above.
        unsafe { each(visit_fallback, user_data(&mut seen), 3) };
        // SAFETY: `visit_resume` receives `&mut Vec<c_int>`.
        unsafe { each(visit_resume, user_data(&mut other), 2) };
    });
    assert_eq!((seen, other), (vec![0, 2], vec![0, 1]));
}

#[callback(on_panic = abort)]
extern "C" fn visit_abort(i: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(i);
    i + 100
}

#[test]
fn abort_policy_happy_path() {
    // (The abort itself runs in a subprocess elsewhere.)
    let mut seen: Vec<c_int> = Vec::new();
    // SAFETY: `visit_abort` receives `&mut Vec<c_int>`.
    let results = unsafe { each(visit_abort, user_data(&mut seen), 3) };
    assert_eq!((results, seen), (vec![100, 101, 102], vec![0, 1, 2]));
}

#[callback(on_panic = unwind)]
extern "C-unwind" fn visit_unwind(i: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    if i == 2 {
        panic_any(Boom(7));
    }
    seen.push(i);
    i
}

type VisitUnwind = unsafe extern "C-unwind" fn(c_int, *mut c_void) -> c_int;

/// `c_each` for a C library compiled with unwinding (`-fexceptions`).
unsafe extern "C-unwind" fn c_each_unwind(
    cb: Option<VisitUnwind>,
    ud: *mut c_void,
    n: c_int,
    out: *mut c_int,
) {
    let Some(cb) = cb else { return };
    for i in 0..n {
        // SAFETY: as in `c_each`.
        unsafe { *out.add(i as usize) = cb(i, ud) };
    }
}

#[test]
fn unwind_lets_the_panic_reach_the_caller() {
    let mut seen: Vec<c_int> = Vec::new();
    let mut out = [c_int::MIN; 4];
    let payload = panic_payload(|| {
        // SAFETY: `visit_unwind` receives `&mut Vec<c_int>`; `out` holds 4.
        unsafe {
            c_each_unwind(
                Some(visit_unwind),
                user_data(&mut seen),
                4,
                out.as_mut_ptr(),
            )
        }
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
    // The unwinding stopped the C loop: calls 3 and 4 never happened.
    assert_eq!(out, [0, 1, c_int::MIN, c_int::MIN]);
    assert_eq!(seen, [0, 1]);

    // A guard does not catch it either: it passes straight through.
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: as above. (With `debug_assertions`, the unwinding
            // call above also unlinked its re-entry record, or this same
            // pointer would now be refused.)
            unsafe {
                c_each_unwind(
                    Some(visit_unwind),
                    user_data(&mut seen),
                    4,
                    out.as_mut_ptr(),
                )
            }
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
    assert_eq!(seen, [0, 1, 0, 1]);
}

// ---------------------------------------------------------------------------
// fallback = EXPR and the default fallbacks
// ---------------------------------------------------------------------------

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pair {
    a: c_int,
    b: c_int,
}

const NO_PAIR: Pair = Pair { a: -1, b: -2 };

thread_local! {
    static FALLBACKS_MADE: Cell<u32> = const { Cell::new(0) };
}

/// A fallback with a side effect, to show it is evaluated only when used.
fn counted_fallback() -> c_int {
    FALLBACKS_MADE.with(|n| n.set(n.get() + 1));
    -42
}

// `Pair` has no `Fallback` impl: it must name one.
#[callback(fallback = NO_PAIR)]
extern "C" fn make_pair(i: c_int, #[user_data] made: &mut u32) -> Pair {
    assert!(i != 1, "expected: no pair");
    *made += 1;
    Pair { a: i, b: i * 2 }
}

#[callback(on_panic = fallback, fallback = counted_fallback())]
extern "C" fn lazily(i: c_int, #[user_data] _unused: &u8) -> c_int {
    assert!(i != 1, "expected: lazily");
    i
}

#[test]
fn fallback_expr_is_returned_and_evaluated_only_when_needed() {
    let mut made = 0;
    let mut pairs = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            let ud = user_data(&mut made);
            // SAFETY: `make_pair` receives `&mut u32`; `made` lives
            // through these calls, which never overlap.
            pairs.extend((0..3).map(|i| unsafe { make_pair(i, ud) }));
        })
    });
    assert_eq!(message(&*payload), "expected: no pair");
    assert_eq!(pairs, [Pair { a: 0, b: 0 }, NO_PAIR, NO_PAIR]);
    assert_eq!(made, 1);

    let byte = 0u8;
    let (got, _) = panics_during(|| {
        // SAFETY: `lazily` receives `&u8`.
        (0..4)
            .map(|i| unsafe { lazily(i, user_data_ref(&byte)) })
            .collect::<Vec<_>>()
    });
    assert_eq!(got, [0, -42, 2, 3]);
    assert_eq!(FALLBACKS_MADE.with(Cell::get), 1);
}

#[callback]
extern "C" fn ret_ptr(ok: bool) -> *const c_char {
    assert!(ok, "expected: ptr");
    c"ok".as_ptr()
}

#[callback]
extern "C" fn ret_bool(ok: bool) -> bool {
    assert!(ok, "expected: bool");
    true
}

#[callback]
extern "C" fn ret_f64(ok: bool) -> f64 {
    assert!(ok, "expected: f64");
    1.5
}

extern "C" fn noop() {}

#[callback]
extern "C" fn ret_fn_ptr(ok: bool) -> Option<extern "C" fn()> {
    assert!(ok, "expected: fn ptr");
    Some(noop)
}

thread_local! {
    static UNIT_RAN: Cell<u32> = const { Cell::new(0) };
}

#[callback]
extern "C" fn ret_unit(ok: bool) {
    assert!(ok, "expected: unit");
    UNIT_RAN.with(|n| n.set(n.get() + 1));
}

/// Calls `f(true)` and `f(false)` in separate guards: what each returned
/// to its caller, and the panic message resumed after the second.
fn both_ways<R>(f: extern "C" fn(bool) -> R) -> (R, R, String) {
    let ok = resume_panics(|| f(true));
    let mut failed = None;
    let payload = panic_payload(|| resume_panics(|| failed = Some(f(false))));
    (
        ok,
        failed.expect("the C call returned"),
        message(&*payload).to_owned(),
    )
}

#[test]
fn default_fallbacks_are_zero_null_false_none_unit() {
    let (ok, failed, msg) = both_ways(ret_ptr);
    assert!(!ok.is_null() && failed.is_null());
    assert_eq!(msg, "expected: ptr");

    assert_eq!(
        both_ways(ret_bool),
        (true, false, "expected: bool".to_owned())
    );
    assert_eq!(both_ways(ret_f64), (1.5, 0.0, "expected: f64".to_owned()));

    let (ok, failed, msg) = both_ways(ret_fn_ptr);
    assert!(ok.is_some() && failed.is_none());
    assert_eq!(msg, "expected: fn ptr");

    assert_eq!(both_ways(ret_unit), ((), (), "expected: unit".to_owned()));
    assert_eq!(UNIT_RAN.with(Cell::get), 1);
}

// ---------------------------------------------------------------------------
// User-data types
// ---------------------------------------------------------------------------

#[callback]
extern "C" fn add_shared(i: c_int, #[user_data] total: &Cell<c_int>) -> c_int {
    total.set(total.get() + i);
    total.get()
}

#[test]
fn shared_ref_user_data() {
    let total = Cell::new(100);
    // SAFETY: `add_shared` receives `&Cell<c_int>`.
    let results = unsafe { each(add_shared, user_data_ref(&total), 4) };
    assert_eq!(results, [100, 101, 103, 106]);
    assert_eq!(total.get(), 106);
}

#[callback]
extern "C" fn maybe_shared(i: c_int, #[user_data] total: Option<&Cell<c_int>>) -> c_int {
    match total {
        Some(total) => {
            total.set(total.get() + i);
            1
        }
        None => 2,
    }
}

#[callback]
extern "C" fn maybe_mut(i: c_int, #[user_data] seen: Option<&mut Vec<c_int>>) -> c_int {
    match seen {
        Some(seen) => {
            seen.push(i);
            1
        }
        None => 2,
    }
}

#[test]
fn option_ref_user_data_receives_none_for_null() {
    let total = Cell::new(0);
    // SAFETY: `maybe_shared` receives `Option<&Cell<c_int>>`; null is `None`.
    unsafe {
        assert_eq!(each(maybe_shared, user_data_ref(&total), 3), [1, 1, 1]);
        assert_eq!(each(maybe_shared, ptr::null_mut(), 2), [2, 2]);
    }
    assert_eq!(total.get(), 3);

    let mut seen: Vec<c_int> = Vec::new();
    // SAFETY: `maybe_mut` receives `Option<&mut Vec<c_int>>`; null is `None`.
    unsafe {
        assert_eq!(each(maybe_mut, user_data(&mut seen), 2), [1, 1]);
        assert_eq!(each(maybe_mut, ptr::null_mut(), 2), [2, 2]);
    }
    assert_eq!(seen, [0, 1]);
}

/// Owned user data: counts its drops, and whether user code saw it.
struct Owned {
    value: c_int,
    ran: Rc<Cell<u32>>,
    drops: Rc<Cell<u32>>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

fn owned(value: c_int) -> (Box<Owned>, Rc<Cell<u32>>, Rc<Cell<u32>>) {
    let (ran, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let owned = Owned {
        value,
        ran: ran.clone(),
        drops: drops.clone(),
    };
    (Box::new(owned), ran, drops)
}

type Notify = unsafe extern "C" fn(*mut c_void) -> c_int;

/// A destroy-notify: C hands the user data back once.
#[callback(fallback = -1)]
extern "C" fn take_box(#[user_data] owned: Box<Owned>) -> c_int {
    owned.ran.set(owned.ran.get() + 1);
    owned.value
}

#[callback(fallback = -1)]
extern "C" fn take_maybe_box(#[user_data] owned: Option<Box<Owned>>) -> c_int {
    match owned {
        Some(owned) => {
            owned.ran.set(owned.ran.get() + 1);
            owned.value
        }
        None => 0,
    }
}

/// What a C library does with a destroy-notify when it is done.
unsafe extern "C" fn c_release(notify: Option<Notify>, ud: *mut c_void) -> c_int {
    match notify {
        // SAFETY: the caller passes the user data `notify` expects.
        Some(notify) => unsafe { notify(ud) },
        None => c_int::MIN,
    }
}

#[test]
fn box_user_data_comes_back_and_is_dropped_once() {
    let (boxed, ran, drops) = owned(42);
    let ud = user_data_box(boxed);
    // SAFETY: `take_box` receives `Box<Owned>`; `ud` came from
    // `user_data_box` and is handed back once.
    let got = resume_panics(|| unsafe { c_release(Some(take_box), ud) });
    assert_eq!((got, ran.get(), drops.get()), (42, 1, 1));
}

/// A C call that was to take the box refuses it (cairo's
/// `cairo_surface_set_user_data` on an error surface): the binding takes
/// it back, typed, with the fn's `reclaim`.
#[test]
fn box_user_data_refused_by_c_is_reclaimed_typed() {
    let (boxed, ran, drops) = owned(7);
    let ud = take_box::user_data(boxed);
    // SAFETY: `ud` came from `take_box::user_data`, and C (which refused
    // it) will neither call back with it nor free it.
    let back: Box<Owned> = unsafe { take_box::reclaim(ud) };
    assert_eq!((back.value, ran.get(), drops.get()), (7, 0, 0));
    drop(back);
    assert_eq!(drops.get(), 1);
}

#[test]
fn box_user_data_is_dropped_by_a_poisoned_call() {
    let (boxed, ran, drops) = owned(42);
    let ud = user_data_box(boxed);
    let mut seen: Vec<c_int> = Vec::new();
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `visit_resume` receives `&mut Vec<c_int>`.
            unsafe { each(visit_resume, user_data(&mut seen), 3) };
            // Poisoned: user code does not run, but ownership came back.
            // SAFETY: as in the test above.
            got = unsafe { c_release(Some(take_box), ud) };
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
    assert_eq!((got, ran.get(), drops.get()), (-1, 0, 1));
}

#[test]
fn option_box_user_data() {
    let (boxed, ran, drops) = owned(5);
    // SAFETY: `take_maybe_box` receives `Option<Box<Owned>>`: a box from
    // `user_data_box`, handed back once, or null.
    unsafe {
        assert_eq!(c_release(Some(take_maybe_box), user_data_box(boxed)), 5);
        assert_eq!(c_release(Some(take_maybe_box), ptr::null_mut()), 0);
    }
    assert_eq!((ran.get(), drops.get()), (1, 1));

    // Poisoned: dropped without running user code.
    let (boxed, ran, drops) = owned(6);
    let ud = user_data_box(boxed);
    let mut got = 0;
    let _ = panic_payload(|| {
        resume_panics(|| {
            // Poisons the guard.
            square(-1);
            // SAFETY: as above.
            got = unsafe { c_release(Some(take_maybe_box), ud) };
        })
    });
    assert_eq!((got, ran.get(), drops.get()), (-1, 0, 1));
}

#[callback]
extern "C" fn raw_mut(i: c_int, #[user_data] total: *mut c_int) -> c_int {
    if total.is_null() {
        return -1;
    }
    // SAFETY: the tests pass a valid, exclusive `*mut c_int` or null.
    unsafe {
        *total += i;
        *total
    }
}

#[callback]
extern "C" fn raw_const(i: c_int, #[user_data] base: *const c_int) -> c_int {
    if base.is_null() {
        return -1;
    }
    // SAFETY: the tests pass a pointer to a live `c_int` or null.
    unsafe { *base + i }
}

#[test]
fn raw_pointer_user_data_is_passed_through_even_null() {
    let mut total = 10;
    // SAFETY: `raw_mut` takes a `*mut c_int`, valid here, or null.
    unsafe {
        assert_eq!(each(raw_mut, user_data(&mut total), 3), [10, 11, 13]);
        assert_eq!(each(raw_mut, ptr::null_mut(), 2), [-1, -1]);
    }
    assert_eq!(total, 13);
    let base = 100;
    // SAFETY: `raw_const` takes a `*const c_int`, valid here, or null.
    unsafe {
        assert_eq!(each(raw_const, user_data_ref(&base), 2), [100, 101]);
        assert_eq!(each(raw_const, ptr::null_mut(), 1), [-1]);
    }
}

// ---------------------------------------------------------------------------
// Slot types: integers and other pointers
// ---------------------------------------------------------------------------

#[callback]
extern "C" fn visit_usize(i: c_int, #[user_data(usize)] seen: &mut Vec<c_int>) -> c_int {
    seen.push(i);
    i
}

/// A C API whose user data is an integer (`uintptr_t`).
unsafe extern "C" fn c_each_usize(
    cb: Option<unsafe extern "C" fn(c_int, usize) -> c_int>,
    ud: usize,
    n: c_int,
) -> c_int {
    let Some(cb) = cb else { return -1 };
    // SAFETY: the caller passes the user data `cb` expects.
    (0..n).map(|i| unsafe { cb(i, ud) }).sum()
}

#[allow(clippy::upper_case_acronyms)]
type LPARAM = isize;

/// `EnumWindows`' callback: user data last, as an `LPARAM`; 0 stops.
#[callback]
extern "system" fn enum_proc(hwnd: usize, #[user_data(LPARAM)] found: &mut Vec<usize>) -> i32 {
    found.push(hwnd);
    i32::from(hwnd < 12)
}

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

#[callback]
extern "C" fn visit_const_slot(i: c_int, #[user_data(*const c_void)] total: &Cell<c_int>) -> c_int {
    total.set(total.get() + i);
    0
}

unsafe extern "C" fn c_each_const(
    cb: Option<unsafe extern "C" fn(c_int, *const c_void) -> c_int>,
    ud: *const c_void,
    n: c_int,
) {
    let Some(cb) = cb else { return };
    for i in 0..n {
        // SAFETY: the caller passes the user data `cb` expects.
        unsafe { cb(i, ud) };
    }
}

#[test]
fn integer_and_pointer_slots() {
    let mut seen: Vec<c_int> = Vec::new();
    // SAFETY: `visit_usize` receives `&mut Vec<c_int>` through a `usize`.
    let sum = unsafe { c_each_usize(Some(visit_usize), user_data(&mut seen), 4) };
    assert_eq!((sum, seen), (6, vec![0, 1, 2, 3]));

    let mut found: Vec<usize> = Vec::new();
    // SAFETY: `enum_proc` receives `&mut Vec<usize>` through an `LPARAM`.
    let finished = unsafe { c_enum_windows(Some(enum_proc), user_data(&mut found)) };
    assert_eq!((finished, found), (0, vec![10, 11, 12]));

    let total = Cell::new(0);
    // SAFETY: `visit_const_slot` receives `&Cell<c_int>` through a
    // `*const c_void`.
    unsafe { c_each_const(Some(visit_const_slot), user_data_ref(&total), 4) };
    assert_eq!(total.get(), 6);
}

#[test]
fn integer_slot_null_is_refused() {
    let payload = panic_payload(|| {
        // SAFETY: 0 is null; the trampoline refuses it.
        resume_panics(|| unsafe { c_each_usize(Some(visit_usize), 0, 2) })
    });
    assert!(
        message(&*payload)
            .starts_with("ffi-callback: `simulated_fn::visit_usize` refused the call: ")
    );
}

// ---------------------------------------------------------------------------
// Position of the user data
// ---------------------------------------------------------------------------

type Log = Vec<(c_int, c_int)>;

#[callback]
extern "C" fn ud_first(#[user_data] log: &mut Log, a: c_int, b: c_int) -> c_int {
    log.push((a, b));
    a * 10 + b
}

#[callback]
extern "C" fn ud_middle(a: c_int, #[user_data] log: &mut Log, b: c_int) -> c_int {
    log.push((a, b));
    a * 10 + b
}

#[callback]
extern "C" fn ud_last(a: c_int, b: c_int, #[user_data] log: &mut Log) -> c_int {
    log.push((a, b));
    a * 10 + b
}

unsafe extern "C" fn c_first(
    cb: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    ud: *mut c_void,
) -> c_int {
    // SAFETY: the caller passes the user data `cb` expects.
    cb.map_or(-1, |cb| unsafe { cb(ud, 1, 2) })
}

unsafe extern "C" fn c_middle(
    cb: Option<unsafe extern "C" fn(c_int, *mut c_void, c_int) -> c_int>,
    ud: *mut c_void,
) -> c_int {
    // SAFETY: as above.
    cb.map_or(-1, |cb| unsafe { cb(3, ud, 4) })
}

unsafe extern "C" fn c_last(
    cb: Option<unsafe extern "C" fn(c_int, c_int, *mut c_void) -> c_int>,
    ud: *mut c_void,
) -> c_int {
    // SAFETY: as above.
    cb.map_or(-1, |cb| unsafe { cb(5, 6, ud) })
}

#[test]
fn user_data_first_middle_last() {
    let mut log = Log::new();
    // SAFETY: each callback receives `&mut Log`.
    let got = unsafe {
        [
            c_first(Some(ud_first), user_data(&mut log)),
            c_middle(Some(ud_middle), user_data(&mut log)),
            c_last(Some(ud_last), user_data(&mut log)),
        ]
    };
    assert_eq!(got, [12, 34, 56]);
    assert_eq!(log, [(1, 2), (3, 4), (5, 6)]);
}

// ---------------------------------------------------------------------------
// user_data = EXPR
// ---------------------------------------------------------------------------

/// A context C passes instead of a user-data parameter (sqlite3_context).
#[repr(C)]
struct Ctx {
    user_data: *mut c_void,
    arg: c_int,
}

unsafe extern "C" fn c_ctx_user_data(ctx: *mut Ctx) -> *mut c_void {
    // SAFETY: C passes a valid context.
    unsafe { (*ctx).user_data }
}

unsafe extern "C" fn c_ctx_arg(ctx: *mut Ctx) -> c_int {
    // SAFETY: C passes a valid context.
    unsafe { (*ctx).arg }
}

#[callback(
    // SAFETY: the simulated C passes a valid context.
    user_data = unsafe { c_ctx_user_data(ctx) }
)]
extern "C" fn on_ctx(ctx: *mut Ctx, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    // SAFETY: C passes a valid context.
    let arg = unsafe { c_ctx_arg(ctx) };
    seen.push(arg);
    arg * 2
}

/// An accessor that panics on a null context.
fn checked_user_data(ctx: *mut Ctx) -> *mut c_void {
    assert!(!ctx.is_null(), "expected: null context");
    // SAFETY: checked non-null; the tests pass valid contexts.
    unsafe { (*ctx).user_data }
}

#[callback(user_data = checked_user_data(ctx), fallback = -5)]
extern "C" fn on_checked_ctx(ctx: *mut Ctx, #[user_data] calls: &Cell<u32>) -> c_int {
    let _ = ctx;
    calls.set(calls.get() + 1);
    1
}

/// Calls `f` once per argument, each time with a fresh context.
unsafe extern "C" fn c_run(
    f: Option<unsafe extern "C" fn(*mut Ctx) -> c_int>,
    ud: *mut c_void,
    args: *const c_int,
    n: usize,
    out: *mut c_int,
) {
    let Some(f) = f else { return };
    for i in 0..n {
        // SAFETY: `args` and `out` hold `n` ints; `f` accepts `ud`.
        unsafe {
            let mut ctx = Ctx {
                user_data: ud,
                arg: *args.add(i),
            };
            *out.add(i) = f(&mut ctx);
        }
    }
}

#[test]
fn accessor_user_data() {
    let mut seen: Vec<c_int> = Vec::new();
    let args = [4, 5, 6];
    let mut out = [0; 3];
    // SAFETY: `on_ctx` fetches `&mut Vec<c_int>` from the context.
    unsafe {
        c_run(
            Some(on_ctx),
            user_data(&mut seen),
            args.as_ptr(),
            3,
            out.as_mut_ptr(),
        )
    };
    assert_eq!((seen, out), (vec![4, 5, 6], [8, 10, 12]));

    // Null from the accessor is refused.
    let mut out = [0; 2];
    let payload = panic_payload(|| {
        // SAFETY: null, which the trampoline refuses.
        resume_panics(|| unsafe {
            c_run(
                Some(on_ctx),
                ptr::null_mut(),
                args.as_ptr(),
                2,
                out.as_mut_ptr(),
            );
        })
    });
    assert_eq!(out, [0, 0]);
    let msg = message(&*payload);
    assert!(msg.starts_with("ffi-callback: `simulated_fn::on_ctx` refused the call: "));
    assert!(msg.contains("its user data is null"), "{msg}");
}

#[test]
fn accessor_runs_inside_the_panic_catch() {
    let calls = Cell::new(0);
    let mut ctx = Ctx {
        user_data: user_data_ref(&calls),
        arg: 0,
    };
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: the accessor panics on null before any user data is
            // used; then a valid context (poisoned: user code does not run).
            got.push(unsafe { on_checked_ctx(ptr::null_mut()) });
            // SAFETY: as above.
            got.push(unsafe { on_checked_ctx(&mut ctx) });
        })
    });
    assert_eq!(message(&*payload), "expected: null context");
    assert_eq!((got, calls.get()), (vec![-5, -5], 0));
    // SAFETY: as above.
    assert_eq!(unsafe { on_checked_ctx(&mut ctx) }, 1);
    assert_eq!(calls.get(), 1);
}

// ---------------------------------------------------------------------------
// Refusals: null user data
// ---------------------------------------------------------------------------

#[callback(fallback = -3)]
extern "C" fn needs_shared(_i: c_int, #[user_data] calls: &Cell<u32>) -> c_int {
    calls.set(calls.get() + 1);
    1
}

#[test]
fn null_user_data_is_refused_with_a_clear_message() {
    let mut results = Vec::new();
    let payload = panic_payload(|| {
        // SAFETY: null, which the trampoline refuses.
        resume_panics(|| results = unsafe { each(visit_resume, ptr::null_mut(), 3) })
    });
    // Refused, then poisoned: the fallback every time.
    assert_eq!(results, [-1, -1, -1]);
    assert_eq!(
        message(&*payload),
        "ffi-callback: `simulated_fn::visit_resume` refused the call: its user data is null, \
         but it receives it as `&mut alloc::vec::Vec<i32>`"
    );

    let payload = panic_payload(|| {
        // SAFETY: as above.
        resume_panics(|| results = unsafe { each(needs_shared, ptr::null_mut(), 2) })
    });
    assert_eq!(results, [-3, -3]);
    let msg = message(&*payload);
    assert!(msg.starts_with("ffi-callback: `simulated_fn::needs_shared` refused the call: "));
    assert!(
        msg.contains("its user data is null") && msg.contains("Cell<u32>"),
        "{msg}"
    );

    let mut got = 0;
    let payload = panic_payload(|| {
        // SAFETY: as above.
        resume_panics(|| got = unsafe { c_release(Some(take_box), ptr::null_mut()) })
    });
    assert_eq!(got, -1);
    let msg = message(&*payload);
    assert!(msg.starts_with("ffi-callback: `simulated_fn::take_box` refused the call: "));
    assert!(msg.contains("Box<simulated_fn::Owned>"), "{msg}");
}

#[test]
fn null_user_data_under_fallback_policy() {
    let (results, raised) = panics_during(|| {
        // SAFETY: null, which the trampoline refuses.
        unsafe { each(visit_fallback, ptr::null_mut(), 2) }
    });
    // No poisoning with `fallback`: each call is refused on its own.
    assert_eq!(results, [-7, -7]);
    assert_eq!(raised.len(), 2);
    assert!(raised.iter().all(|m| m.starts_with(
        "ffi-callback: `simulated_fn::visit_fallback` refused the call: its user data is null"
    )));
}

// ---------------------------------------------------------------------------
// Re-entry
// ---------------------------------------------------------------------------

/// A C object that keeps a callback and its user data and calls it on
/// `c_emit`, from wherever `c_emit` is called: also from inside the
/// callback (re-entry).
#[repr(C)]
struct Emitter {
    cb: Option<Visit>,
    ud: *mut c_void,
}

unsafe extern "C" fn c_emitter_set(em: *mut Emitter, cb: Option<Visit>, ud: *mut c_void) {
    // SAFETY: the caller passes a valid emitter.
    unsafe {
        (*em).cb = cb;
        (*em).ud = ud;
    }
}

unsafe extern "C" fn c_emit(em: *mut Emitter, n: c_int) -> c_int {
    // SAFETY: the caller passes a valid emitter; its registration is
    // consistent.
    unsafe {
        match (*em).cb {
            Some(cb) => cb(n, (*em).ud),
            None => c_int::MIN,
        }
    }
}

fn new_emitter() -> Emitter {
    Emitter {
        cb: None,
        ud: ptr::null_mut(),
    }
}

struct Nest {
    emitter: *mut Emitter,
    log: Vec<(c_int, c_int)>,
}

/// Emits `n - 1` on its emitter (re-entering itself) while it holds
/// `&mut Nest`, and logs what that inner call returned.
#[callback(fallback = -1)]
extern "C" fn nested(n: c_int, #[user_data] nest: &mut Nest) -> c_int {
    let inner = if n > 0 {
        // SAFETY: the emitter outlives the test's C calls.
        unsafe { c_emit(nest.emitter, n - 1) }
    } else {
        0
    };
    nest.log.push((n, inner));
    n + 100
}

#[cfg(debug_assertions)]
#[test]
fn reentry_with_the_same_mut_pointer_is_refused_in_debug_builds() {
    let mut em = new_emitter();
    let em_ptr = &raw mut em;
    let mut nest = Nest {
        emitter: em_ptr,
        log: Vec::new(),
    };
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `nested` receives `&mut Nest`; `nest` and `em` outlive
            // the calls and are used only through these pointers meanwhile.
            unsafe {
                c_emitter_set(em_ptr, Some(nested), user_data(&mut nest));
                got = c_emit(em_ptr, 1);
            }
        })
    });
    // The inner call was refused before it made a second `&mut Nest`: the
    // outer call saw the fallback and finished.
    assert_eq!(got, 101);
    assert_eq!(nest.log, [(1, -1)]);
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `simulated_fn::nested` refused the call: it was entered again"
        ),
        "{msg}"
    );
    assert!(
        msg.contains("`simulated_fn::nested` is still using mutably"),
        "{msg}"
    );
}

#[test]
fn reentry_with_other_user_data_runs() {
    // Two emitters, each with its own `Nest`: the first's callback emits on
    // the second, so the same fn runs twice at once with distinct `&mut`.
    let (mut em1, mut em2) = (new_emitter(), new_emitter());
    let (em1_ptr, em2_ptr) = (&raw mut em1, &raw mut em2);
    let mut outer = Nest {
        emitter: em2_ptr,
        log: Vec::new(),
    };
    let mut inner = Nest {
        emitter: ptr::null_mut(),
        log: Vec::new(),
    };
    let got = resume_panics(|| {
        // SAFETY: `nested` receives `&mut Nest`; each emitter has its own
        // `Nest`, alive and otherwise unused during the calls.
        unsafe {
            c_emitter_set(em1_ptr, Some(nested), user_data(&mut outer));
            c_emitter_set(em2_ptr, Some(nested), user_data(&mut inner));
            c_emit(em1_ptr, 1)
        }
    });
    assert_eq!(got, 101);
    assert_eq!((outer.log, inner.log), (vec![(1, 100)], vec![(0, 0)]));
}

struct SharedNest {
    emitter: *mut Emitter,
    log: RefCell<Vec<c_int>>,
}

/// The documented way for re-entrant libraries: `&T` with a `RefCell`.
#[callback]
extern "C" fn nested_shared(n: c_int, #[user_data] nest: &SharedNest) -> c_int {
    let inner = if n > 0 {
        // SAFETY: the emitter outlives the test's C calls.
        unsafe { c_emit(nest.emitter, n - 1) }
    } else {
        0
    };
    nest.log.borrow_mut().push(n);
    inner + 1
}

#[test]
fn shared_user_data_may_be_reentered() {
    let mut em = new_emitter();
    let em_ptr = &raw mut em;
    let nest = SharedNest {
        emitter: em_ptr,
        log: RefCell::new(Vec::new()),
    };
    let got = resume_panics(|| {
        // SAFETY: `nested_shared` receives `&SharedNest`, alive meanwhile.
        unsafe {
            c_emitter_set(em_ptr, Some(nested_shared), user_data_ref(&nest));
            c_emit(em_ptr, 3)
        }
    });
    assert_eq!(got, 4);
    assert_eq!(*nest.log.borrow(), [0, 1, 2, 3]);
}

// ---------------------------------------------------------------------------
// Generic fns
// ---------------------------------------------------------------------------

#[callback]
extern "C" fn cmp<T: Ord>(
    a: *const c_void,
    b: *const c_void,
    #[user_data] calls: &mut u32,
) -> c_int {
    *calls += 1;
    // SAFETY: the sort passes pointers to two elements of its `T` array.
    let (a, b) = unsafe { (&*a.cast::<T>(), &*b.cast::<T>()) };
    a.cmp(b) as c_int
}

type CmpR = unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> c_int;

/// `qsort_r` (glibc argument order), as an insertion sort.
unsafe extern "C" fn c_qsort_r(
    base: *mut c_void,
    n: usize,
    size: usize,
    cmp: Option<CmpR>,
    ud: *mut c_void,
) {
    let Some(cmp) = cmp else { return };
    let base = base.cast::<u8>();
    for i in 1..n {
        let mut j = i;
        // SAFETY: `base` holds `n` elements of `size` bytes; `cmp` accepts
        // `ud`.
        unsafe {
            while j > 0
                && cmp(
                    base.add((j - 1) * size).cast(),
                    base.add(j * size).cast(),
                    ud,
                ) > 0
            {
                ptr::swap_nonoverlapping(base.add((j - 1) * size), base.add(j * size), size);
                j -= 1;
            }
        }
    }
}

/// Sorts `items` with `cmp::<T>` through the simulated `qsort_r`; returns
/// how many comparisons ran.
fn sort_with<T: Ord>(items: &mut [T]) -> u32 {
    let mut calls = 0u32;
    // SAFETY: `cmp::<T>` compares `T`s and receives `&mut u32`.
    unsafe {
        c_qsort_r(
            items.as_mut_ptr().cast(),
            items.len(),
            size_of::<T>(),
            Some(cmp::<T>),
            user_data(&mut calls),
        );
    }
    calls
}

#[test]
fn generic_fns_are_monomorphic_shims() {
    let mut small = [5u32, 3, 9, 1, 7];
    let calls = sort_with(&mut small);
    assert_eq!(small, [1, 3, 5, 7, 9]);
    assert!(calls >= 4, "{calls}");

    let mut wide = [-2i64, i64::MAX, i64::MIN, 0];
    assert!(sort_with(&mut wide) >= 3);
    assert_eq!(wide, [i64::MIN, -2, 0, i64::MAX]);

    let mut strings = ["pear", "apple", "fig"].map(String::from);
    assert!(sort_with(&mut strings) >= 2);
    assert_eq!(strings, ["apple", "fig", "pear"]);
}

// ---------------------------------------------------------------------------
// unsafe(safe_fn): a safe fn pointer type, as libc's pthread_create takes
// ---------------------------------------------------------------------------

struct Job {
    input: u32,
    reply: std::sync::mpsc::Sender<u32>,
}

/// A thread's start routine runs on the new thread: `send` checks that
/// the `Job` may go there.
// SAFETY: only passed to `pthread_create` with
// `thread_start::user_data(Box<Job>)`.
#[callback(unsafe(safe_fn), send)]
extern "C" fn thread_start(#[user_data] job: Box<Job>) -> *mut c_void {
    job.reply.send(job.input * 2).expect("receiver alive");
    ptr::null_mut()
}

type StartRoutine = extern "C" fn(*mut c_void) -> *mut c_void;

struct SendPtr(*mut c_void);
// SAFETY: the pointer is a boxed `Job`, which is `Send`.
unsafe impl Send for SendPtr {}

/// `pthread_create` + `pthread_join`, on a std thread.
unsafe extern "C" fn c_thread_run(start: StartRoutine, arg: *mut c_void) -> *mut c_void {
    let arg = SendPtr(arg);
    let ret = std::thread::spawn(move || {
        let arg = arg;
        SendPtr(start(arg.0))
    })
    .join();
    ret.map_or(ptr::null_mut(), |ret| ret.0)
}

#[test]
fn safe_fn_with_box_moving_into_a_thread() {
    let (reply, answers) = std::sync::mpsc::channel();
    let start: StartRoutine = thread_start;
    let arg = user_data_box(Box::new(Job { input: 21, reply }));
    // SAFETY: `thread_start` receives the boxed `Job`, once.
    let ret = unsafe { c_thread_run(start, arg) };
    assert!(ret.is_null());
    assert_eq!(answers.recv(), Ok(42));
    // The `Job` (and its sender) was dropped on the thread.
    assert!(answers.recv().is_err());
}

// ---------------------------------------------------------------------------
// #[into(..)]: the body receives converted parameters, C passes its types
// ---------------------------------------------------------------------------

/// A stateless comparator, as plain `qsort` takes one: the elements are
/// borrowed for the body, no `unsafe` block in it.
#[callback]
extern "C" fn compare_by_value(
    #[into(&u32)] a: *const c_void,
    #[into(&u32)] b: *const c_void,
) -> c_int {
    a.cmp(b) as c_int
}

/// The same, generic: `compare_generic::<T>` is one trampoline per `T`.
#[callback]
extern "C" fn compare_generic<T: Ord + Sync>(
    #[into(&T)] a: *const c_void,
    #[into(&T)] b: *const c_void,
) -> c_int {
    a.cmp(b) as c_int
}

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

/// Plain `qsort`, simulated: an insertion sort through `compare`.
///
/// # Safety
/// `base` points at `n` `T`s; `compare` compares two `T`s.
unsafe extern "C" fn c_sort<T>(base: *mut T, n: usize, compare: Compare) {
    for i in 1..n {
        let mut j = i;
        // SAFETY: `j - 1` and `j` are below `n`; `compare` reads two `T`s.
        while j > 0 && unsafe { compare(base.add(j - 1).cast(), base.add(j).cast()) } > 0 {
            // SAFETY: two distinct elements of the array.
            unsafe { ptr::swap(base.add(j - 1), base.add(j)) };
            j -= 1;
        }
    }
}

#[test]
fn into_borrows_what_c_points_at_and_c_sees_its_own_types() {
    // The C signature keeps the declared types, and borrowing makes it
    // `unsafe` (C's pointers are trusted).
    let compare: Compare = compare_by_value;
    let mut values = [30_u32, 10, 20, 10, 5];
    // SAFETY: `values` has 5 `u32`s, which `compare_by_value` borrows.
    unsafe { c_sort(values.as_mut_ptr(), values.len(), compare) };
    assert_eq!(values, [5, 10, 10, 20, 30]);

    let mut words = ["pear", "apple", "fig"];
    // SAFETY: `words` has 3 `&str`s, which `compare_generic::<&str>` borrows.
    unsafe { c_sort(words.as_mut_ptr(), words.len(), compare_generic::<&str>) };
    assert_eq!(words, ["apple", "fig", "pear"]);
}

/// A path's length, and its suffix's if any. `fallback` reads the C
/// parameters, as C passed them (the pointer, not the borrow).
#[callback(on_panic = fallback, fallback = if path.is_null() { -2 } else { -3 })]
extern "C" fn path_length(
    #[into(&CStr)] path: *const c_char,
    #[into(Option<&CStr>)] suffix: *const c_char,
) -> c_int {
    assert!(!path.is_empty(), "expected: an empty path");
    (path.to_bytes().len() + suffix.map_or(0, |s| s.to_bytes().len())) as c_int
}

#[test]
fn into_refuses_null_with_the_fallback_and_a_report() {
    let f: unsafe extern "C" fn(*const c_char, *const c_char) -> c_int = path_length;
    // SAFETY: NUL-terminated strings or null, valid for each call.
    let (got, raised) = panics_during(|| unsafe {
        [
            f(c"/tmp".as_ptr(), ptr::null()),
            f(c"/tmp".as_ptr(), c"/x".as_ptr()),
            f(ptr::null(), c"/x".as_ptr()),
            f(c"".as_ptr(), ptr::null()),
            f(c"ab".as_ptr(), ptr::null()),
        ]
    });
    // Null and the panic get the fallback, which saw the C pointer; the
    // policy is `fallback`, so later calls run.
    assert_eq!(got, [4, 6, -2, -3, 2]);
    assert_eq!(raised.len(), 2, "{raised:?}");
    assert!(
        raised[0].contains(
            "path_length` refused the call: its parameter `path` is null, where it is borrowed \
             as `&core::ffi::c_str::CStr`"
        ),
        "{raised:?}"
    );
    assert_eq!(raised[1], "expected: an empty path");
}

/// An out parameter, borrowed `&mut`.
#[callback(fallback = -1)]
extern "C" fn add_into(#[into(&mut c_int)] total: *mut c_int, value: c_int) -> c_int {
    if value < 0 {
        panic_any(Boom(value.unsigned_abs()));
    }
    *total += value;
    *total
}

#[test]
fn into_mut_writes_through_an_out_parameter() {
    let f: unsafe extern "C" fn(*mut c_int, c_int) -> c_int = add_into;
    let mut total = 1;
    // SAFETY: `total` is valid and unused elsewhere for each call.
    let got = resume_panics(|| unsafe { [f(&mut total, 2), f(&mut total, 3)] });
    assert_eq!((got, total), ([3, 6], 6));
}

#[test]
fn into_null_is_refused_under_resume_and_poisons_until_the_guard_returns() {
    let f: unsafe extern "C" fn(*mut c_int, c_int) -> c_int = add_into;
    let mut total = 0;
    let mut got = [0; 3];
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `total` is valid for each call, or null (refused).
            got = unsafe { [f(&mut total, 2), f(ptr::null_mut(), 3), f(&mut total, 4)] };
        })
    });
    // The refusal is kept like a panic: the next call is not run.
    assert_eq!((got, total), ([2, -1, -1], 2));
    let message = message(&*payload);
    assert!(
        message.contains("its parameter `total` is null, where it is borrowed as `&mut i32`"),
        "{message}"
    );
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { f(&mut total, 4) }), 6);
}

#[test]
fn into_panic_in_a_converted_call_is_resumed_with_its_payload() {
    let f: unsafe extern "C" fn(*mut c_int, c_int) -> c_int = add_into;
    let mut total = 0;
    let mut got = [0; 2];
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `total` is valid for each call.
            got = unsafe { [f(&mut total, -5), f(&mut total, 1)] };
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(5)));
    assert_eq!((got, total), ([-1, -1], 0));
}

/// `TryFrom` conversions need no pointer: the fn stays safe.
#[derive(Debug, PartialEq)]
enum Level {
    Low,
    High,
}

impl TryFrom<c_int> for Level {
    type Error = c_int;
    fn try_from(level: c_int) -> Result<Self, c_int> {
        match level {
            0 => Ok(Level::Low),
            1 => Ok(Level::High),
            other => Err(other),
        }
    }
}

#[callback(on_panic = fallback, fallback = -1)]
extern "C" fn level_code(#[into(Level)] level: c_int, #[into(u64)] weight: u8) -> c_int {
    match level {
        Level::Low => 10 + weight as c_int,
        Level::High => 20 + weight as c_int,
    }
}

#[test]
fn into_a_try_from_conversion_refuses_what_does_not_convert() {
    let f: extern "C" fn(c_int, u8) -> c_int = level_code;
    let (got, raised) = panics_during(|| [f(0, 1), f(1, 2), f(7, 3)]);
    assert_eq!(got, [11, 22, -1]);
    assert_eq!(raised.len(), 1);
    assert!(
        raised[0].contains("its parameter `level` does not convert into"),
        "{raised:?}"
    );
}

/// curl's write callback: `size * nmemb` bytes, borrowed as a slice; the
/// length reads the other C parameters, which the body also receives.
#[callback]
extern "C" fn write_bytes(
    #[into(&[u8], len = size * nmemb)] data: *const c_char,
    size: usize,
    nmemb: usize,
    #[user_data] sink: &mut Vec<u8>,
) -> usize {
    sink.extend_from_slice(data);
    data.len()
}

#[test]
fn into_slices_take_their_length_from_other_parameters() {
    let f: unsafe extern "C" fn(*const c_char, usize, usize, *mut c_void) -> usize = write_bytes;
    let mut sink = Vec::new();
    let text = b"hello, world";
    // SAFETY: `text` has the bytes each call says; `sink` is what
    // `write_bytes` receives, alive and unused elsewhere for the calls.
    let got = resume_panics(|| unsafe {
        let ud = write_bytes::user_data(&mut sink);
        [
            f(text.as_ptr().cast(), 1, 5, ud),
            f(text.as_ptr().add(5).cast(), 7, 1, ud),
            // C's "nothing": null with a length of 0.
            f(ptr::null(), 1, 0, ud),
        ]
    });
    assert_eq!(got, [5, 7, 0]);
    assert_eq!(sink, text);

    // Null with a length is refused inside the call.
    let mut got = usize::MAX;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: null, refused; `sink` as above.
            got = unsafe { f(ptr::null(), 1, 3, write_bytes::user_data(&mut sink)) };
        })
    });
    assert_eq!(got, 0);
    let message = message(&*payload);
    assert!(
        message.contains("its parameter `data` is null, where it is borrowed as `&[u8]`"),
        "{message}"
    );
}

/// An in-place filter's signature: C may pass one buffer twice.
#[callback(on_panic = fallback, fallback = -1)]
extern "C" fn double_into(
    #[into(&[i16], len = n as usize)] input: *const i16,
    #[into(&mut [i16], len = n as usize)] output: *mut i16,
    n: c_int,
) -> c_int {
    for (out, value) in output.iter_mut().zip(input) {
        *out = value * 2;
    }
    n
}

#[test]
fn into_mut_slice_overlapping_another_borrow_is_refused() {
    let f: unsafe extern "C" fn(*const i16, *mut i16, c_int) -> c_int = double_into;
    let input = [1_i16, 2, 3];
    let mut output = [0_i16; 3];
    // SAFETY: two distinct buffers of 3 elements.
    assert_eq!(unsafe { f(input.as_ptr(), output.as_mut_ptr(), 3) }, 3);
    assert_eq!(output, [2, 4, 6]);

    let mut both = [5_i16, 6, 7];
    let at = both.as_mut_ptr();
    // SAFETY: one buffer of 3 elements passed twice: refused, not read.
    let (got, raised) = panics_during(|| unsafe { f(at, at, 3) });
    assert_eq!((got, both), (-1, [5, 6, 7]));
    assert!(
        raised[0].contains("its parameters `output` and `input` overlap"),
        "{raised:?}"
    );
}

/// A `Result` body with converted parameters: `on_error` reads `e` and the
/// C parameters (the pointer, as C passed it).
#[derive(Debug, PartialEq)]
struct NotANumber(String);

#[callback(on_error = if text.is_null() { -100 } else { -(e.0.len() as c_int) })]
extern "C" fn parse_into(
    #[into(&CStr)] text: *const c_char,
    #[user_data] sum: &mut i64,
) -> Result<c_int, NotANumber> {
    let text = text.to_string_lossy();
    let n: i64 = text.parse().map_err(|_| NotANumber(text.to_string()))?;
    *sum += n;
    Ok(0)
}

#[test]
fn into_with_a_result_body_hands_the_error_to_the_guard() {
    let f: unsafe extern "C" fn(*const c_char, *mut c_void) -> c_int = parse_into;
    let mut sum = 0;
    let mut got = [c_int::MIN; 3];
    let result = try_resume(|| {
        // SAFETY: NUL-terminated strings; `sum` is what `parse_into`
        // receives, alive and unused elsewhere for the calls.
        got = unsafe {
            let ud = parse_into::user_data(&mut sum);
            [
                f(c"40".as_ptr(), ud),
                f(c"two".as_ptr(), ud),
                f(c"2".as_ptr(), ud),
            ]
        };
    });
    assert_eq!(result, Err(NotANumber("two".to_owned())));
    // The error's value from `on_error`, then the poisoned guard's fallback.
    assert_eq!((got, sum), ([0, -3, 0], 40));
}

/// Owned user data comes back even when a borrow is refused: the check is
/// made inside the call, which drops it.
#[callback(fallback = -1)]
extern "C" fn finish_job(
    #[into(&CStr)] name: *const c_char,
    #[user_data] job: Box<Owned>,
) -> c_int {
    job.ran.set(job.ran.get() + 1);
    job.value + name.to_bytes().len() as c_int
}

#[test]
fn into_refused_borrow_drops_owned_user_data() {
    let f: unsafe extern "C" fn(*const c_char, *mut c_void) -> c_int = finish_job;
    let (boxed, ran, drops) = owned(40);
    // SAFETY: a string, and a box from `finish_job::user_data`, handed
    // back once.
    let got = resume_panics(|| unsafe { f(c"ab".as_ptr(), finish_job::user_data(boxed)) });
    assert_eq!((got, ran.get(), drops.get()), (42, 1, 1));

    let (boxed, ran, drops) = owned(40);
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: null (refused) and a box handed back once.
            got = unsafe { f(ptr::null(), finish_job::user_data(boxed)) };
        })
    });
    assert!(message(&*payload).contains("its parameter `name` is null"));
    assert_eq!((got, ran.get(), drops.get()), (-1, 0, 1));
}

/// User data fetched by `user_data = EXPR` (which reads the C parameter
/// `ctx`) beside a borrowed parameter.
#[callback(user_data = ctx)]
extern "C" fn accumulate(
    ctx: *mut c_void,
    #[into(&u32)] value: *const u32,
    #[user_data] sum: &Cell<u32>,
) -> c_int {
    sum.set(sum.get() + value);
    0
}

#[test]
fn into_beside_a_user_data_accessor() {
    let f: unsafe extern "C" fn(*mut c_void, *const u32) -> c_int = accumulate;
    let sum = Cell::new(1);
    // SAFETY: `ctx` from `accumulate::user_data`, `sum` alive; the values
    // valid for each call.
    let got = resume_panics(|| unsafe {
        let ctx = accumulate::user_data(&sum);
        [f(ctx, &2), f(ctx, &3)]
    });
    assert_eq!((got, sum.get()), ([0, 0], 6));
}

/// `#[cfg]` on converted parameters: the copy compiled has only the
/// parameters whose `cfg` holds.
#[callback]
extern "C" fn cfg_sum(
    #[into(&u32)] a: *const u32,
    #[cfg(target_pointer_width = "16")]
    #[into(&u32)]
    never: *const u32,
    #[cfg(not(target_pointer_width = "16"))]
    #[into(&u32)]
    b: *const u32,
) -> u32 {
    a + b
}

#[test]
fn into_with_cfg_on_parameters() {
    let f: unsafe extern "C" fn(*const u32, *const u32) -> u32 = cfg_sum;
    // SAFETY: two valid `u32`s.
    assert_eq!(unsafe { f(&2, &5) }, 7);
}

/// A binding that demands a safe fn pointer type: `unsafe(safe_fn)`
/// promises that C passes valid strings (null is still refused).
#[callback(unsafe(safe_fn), on_panic = fallback)]
extern "C" fn safe_strlen(#[into(&CStr)] s: *const c_char) -> usize {
    s.to_bytes().len()
}

#[test]
fn into_with_safe_fn_is_a_safe_fn_that_still_refuses_null() {
    let f: extern "C" fn(*const c_char) -> usize = safe_strlen;
    assert_eq!(f(c"four".as_ptr()), 4);
    let (got, raised) = panics_during(|| f(ptr::null()));
    assert_eq!(got, 0);
    assert!(
        raised[0].contains("its parameter `s` is null"),
        "{raised:?}"
    );
}

/// A raise exit (Lua's `lua_error` stands for it in C; here a panic that
/// unwinds through the `-unwind` ABI into the simulated C caller): a
/// refused borrow goes to `on_raise` as a refusal, then the call raises.
struct Raised;

thread_local! {
    static RAISED_WITH: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

#[callback(
    on_raise = RAISED_WITH.with(|r| r.borrow_mut().push(failure.to_string())),
    raise = panic_any(Raised),
)]
extern "C-unwind" fn length_or_raise(#[into(&CStr)] s: *const c_char) -> usize {
    s.to_bytes().len()
}

#[test]
fn into_refusal_goes_to_the_raise_exit() {
    let f: unsafe extern "C-unwind" fn(*const c_char) -> usize = length_or_raise;
    // SAFETY: a NUL-terminated string.
    assert_eq!(unsafe { f(c"abc".as_ptr()) }, 3);
    // SAFETY: null, refused, then raised.
    let payload = panic_payload(|| unsafe { f(ptr::null()) });
    assert!(payload.downcast_ref::<Raised>().is_some());
    let raised = RAISED_WITH.with(|r| r.take());
    assert_eq!(raised.len(), 1);
    assert!(
        raised[0].contains("its parameter `s` is null, where it is borrowed as"),
        "{raised:?}"
    );
}

/// A point whose callbacks live in its impl block and name `Self` only in
/// `#[into(..)]`: `in_impl` is inferred from there too (audit 17).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
struct Point {
    x: c_int,
}

impl Point {
    const PAIR: usize = 2;

    /// The distance from `other` to the point in the user data.
    #[callback]
    extern "C" fn distance(
        #[into(&Self)] other: *const c_void,
        #[user_data] me: &mut Point,
    ) -> c_int {
        (other.x - me.x).abs()
    }

    /// The sum of a pair of points' coordinates.
    #[callback]
    extern "C" fn pair_sum(
        #[into(&[Point], len = Self::PAIR)] points: *const Point,
        #[user_data] calls: &mut u32,
    ) -> c_int {
        *calls += 1;
        points.iter().map(|p| p.x).sum()
    }
}

#[test]
fn callbacks_in_an_impl_naming_self_only_in_into_are_in_impl() {
    let other = Point { x: 7 };
    let mut me = Point { x: 3 };
    // SAFETY: `other` is a live `Point`, `me` the callback's own user data.
    let got =
        unsafe { Point::distance((&raw const other).cast(), ffi_callback::user_data(&mut me)) };
    assert_eq!(got, 4);

    let pair = [Point { x: 1 }, Point { x: 2 }];
    let mut calls = 0;
    // SAFETY: two live points, and the callback's own user data.
    let got = unsafe { Point::pair_sum(pair.as_ptr(), ffi_callback::user_data(&mut calls)) };
    assert_eq!((got, calls), (3, 1));
}

/// Presets as a binding declares them: exported from a module (with a
/// visibility, so it keeps its path there too), and one behind a `#[cfg]`
/// that is off (audit 18: the path was lost, and the off one's import
/// failed to resolve).
mod binding_presets {
    ffi_callback::preset! {
        /// Exported for other crates, declared in a module.
        #[macro_export]
        pub(crate) exported_in_module = (fallback = -2);
    }

    ffi_callback::preset! {
        /// Only on a platform this is not.
        #[cfg(any())]
        pub(crate) nowhere = (fallback = -3);
    }
}

#[callback(preset = crate::binding_presets::exported_in_module)]
extern "C" fn by_module_path(n: c_int) -> c_int {
    n
}

#[test]
fn an_exported_preset_in_a_module_is_usable_by_its_path() {
    assert_eq!(by_module_path(3), 3);
}

/// A fn in a generic impl borrowing a slice of the impl's `T` (audit 19:
/// the slice's size check, a constant item, could not name `T`, E0401).
struct Summer<T>(std::marker::PhantomData<T>);

impl<T: Copy + Into<i64> + Sync> Summer<T> {
    /// Sums `n` values of `T`.
    #[callback(in_impl)]
    extern "C" fn sum(
        #[into(&[T], len = n)] values: *const T,
        n: usize,
        #[user_data] total: &mut i64,
    ) -> c_int {
        *total += values.iter().map(|v| (*v).into()).sum::<i64>();
        0
    }
}

#[test]
fn a_generic_impls_slice_callback_compiles_and_runs() {
    let values = [1u32, 2, 3];
    let mut total = 0i64;
    // SAFETY: three live `u32`s and the callback's own user data.
    let got = unsafe {
        Summer::<u32>::sum(
            values.as_ptr(),
            values.len(),
            ffi_callback::user_data(&mut total),
        )
    };
    assert_eq!((got, total), (0, 6));
}

/// C calls a `send` fn from several threads at once, with one shared user
/// data (`&T`, so `T: Sync` is checked).
#[callback(send)]
extern "C" fn tally(n: c_int, #[user_data] total: &AtomicU32) -> c_int {
    total.fetch_add(n as u32, Ordering::Relaxed);
    n
}

#[test]
fn send_fn_called_from_several_threads_at_once() {
    let total = AtomicU32::new(0);
    let ud = tally::user_data(&total) as usize;
    std::thread::scope(|threads| {
        for _ in 0..4 {
            threads.spawn(move || {
                let mut out = [0; 5];
                // SAFETY: `tally` receives the `&AtomicU32`, alive for the
                // scope; `send` lets C call it on any thread.
                unsafe { c_each(Some(tally), ud as *mut c_void, 5, out.as_mut_ptr()) };
                assert_eq!(out, [0, 1, 2, 3, 4]);
            });
        }
    });
    assert_eq!(total.load(Ordering::Relaxed), 4 * 10);
}
