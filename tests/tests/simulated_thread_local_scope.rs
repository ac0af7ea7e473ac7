//! `scope_thread_local` of callback types without a user-data slot (plain
//! `qsort`, `nftw`, `bsearch`) against C APIs simulated in Rust: any
//! closure (capturing, borrowing, not `Send`) is lent for one C call on
//! this thread; calls from other threads and after the scope are refused,
//! nested scopes each reach their own closure, re-entry into an `FnMut` is
//! refused, panics poison the rest of the call and are resumed, and every
//! closure is dropped once (drop counters here, Miri's leak check). No C
//! code runs, so the whole file runs under Miri (`scripts/miri.sh`).

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::ptr;
use std::rc::Rc;
use std::sync::{Mutex, PoisonError};

use ffi_callback::{ReportKind, callback, set_reporter};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

// ---------------------------------------------------------------------------
// The callback types, as a C header would declare them (no user data).
// ---------------------------------------------------------------------------

/// `qsort`'s comparator, elements borrowed.
#[callback]
type Compare =
    unsafe extern "C" fn(#[into(&i32)] a: *const c_void, #[into(&i32)] b: *const c_void) -> c_int;

/// The same C shape, raw pointers: a second type, so a second thread-local.
#[callback]
type CompareRaw = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

/// `nftw`'s visitor, reduced: a path and a depth; non-zero stops the walk.
#[callback(fallback = -1)]
type Visit = unsafe extern "C" fn(#[into(&CStr)] path: *const c_char, depth: c_int) -> c_int;

/// `Visit` again, for the one test that counts its refusals exactly (tests
/// run in parallel, and the reporter is the process's).
#[callback(fallback = -1)]
type VisitFromCThreads =
    unsafe extern "C" fn(#[into(&CStr)] path: *const c_char, depth: c_int) -> c_int;

/// A library that calls back into itself while the callback runs.
#[callback(reentrant, fallback = -1)]
type Nest = unsafe extern "C" fn(depth: c_int) -> c_int;

/// Each call stands alone: no poisoning.
#[callback(on_panic = fallback, fallback = -2)]
type EachAlone = unsafe extern "C" fn(n: c_int) -> c_int;

/// A fallback read from a parameter; an error value for `Err`.
#[callback(fallback = -n, error = String, on_error = 100 + e.len() as c_int)]
type Checked = unsafe extern "C" fn(n: c_int) -> c_int;

/// The bindgen spelling, with the `"system"` ABI.
#[callback]
type SystemCb = Option<unsafe extern "system" fn(n: c_int) -> c_int>;

/// C may call the function on any thread; a lent closure still runs only
/// on the scope's thread, so it need not be `Send`.
#[callback(on_panic = fallback, fallback = -3)]
type AnyThread = unsafe extern "C" fn(n: c_int) -> c_int;

/// `ControlFlow` for a walk: 0 goes on, 1 stops.
#[callback(on_continue = 0, on_break = 1)]
type Step = unsafe extern "C" fn(n: c_int) -> c_int;

/// Panics unwind through the (`-unwind`) C frames.
#[callback(on_panic = unwind)]
type Unwinding = unsafe extern "C-unwind" fn(n: c_int) -> c_int;

// ---------------------------------------------------------------------------
// The simulated C library.
// ---------------------------------------------------------------------------

/// An insertion sort with `qsort`'s signature.
unsafe extern "C" fn c_qsort(
    base: *mut c_void,
    n: usize,
    size: usize,
    compar: Option<unsafe extern "C" fn(*const c_void, *const c_void) -> c_int>,
) {
    let compar = compar.unwrap();
    let base = base.cast::<u8>();
    let mut tmp = vec![0u8; size];
    for i in 1..n {
        let mut j = i;
        // SAFETY: `base` holds `n` elements of `size` bytes (the caller's
        // promise); `tmp` holds one.
        unsafe {
            while j > 0 && compar(base.add((j - 1) * size).cast(), base.add(j * size).cast()) > 0 {
                ptr::copy_nonoverlapping(base.add((j - 1) * size), tmp.as_mut_ptr(), size);
                ptr::copy_nonoverlapping(base.add(j * size), base.add((j - 1) * size), size);
                ptr::copy_nonoverlapping(tmp.as_ptr(), base.add(j * size), size);
                j -= 1;
            }
        }
    }
}

fn sort_i32(items: &mut [i32], compar: CompareFn) {
    // SAFETY: `items` are `i32`s, which the comparator borrows.
    unsafe { c_qsort(items.as_mut_ptr().cast(), items.len(), 4, Some(compar)) };
}

/// Visits each path with its depth until the visitor returns non-zero,
/// which it returns.
unsafe fn c_walk(paths: &[CString], visit: VisitFn) -> c_int {
    for (depth, path) in paths.iter().enumerate() {
        // SAFETY: a NUL-terminated path, valid for the call.
        let rc = unsafe { visit(path.as_ptr(), depth as c_int) };
        if rc != 0 {
            return rc;
        }
    }
    0
}

/// Calls `f(i)` for `i` in `0..n`, collecting what it returns.
fn c_each(n: c_int, f: impl Fn(c_int) -> c_int) -> Vec<c_int> {
    (0..n).map(f).collect()
}

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

/// Reports the crate made, by kind, callback name and the thread that made
/// them (the reporter is process-wide and tests run in parallel, each on a
/// thread named after it: a test counts its own thread's reports).
static REPORTS: Mutex<Vec<(ReportKind, String, Option<String>)>> = Mutex::new(Vec::new());

fn record(report: &ffi_callback::Report<'_>) {
    REPORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((
            report.kind(),
            report.callback().unwrap_or_default().to_owned(),
            std::thread::current().name().map(str::to_owned),
        ));
}

/// How many reports of `kind` named a callback ending in `name`, made on
/// this thread.
fn reports(kind: ReportKind, name: &str) -> usize {
    let this = std::thread::current().name().map(str::to_owned);
    count_reports(kind, name, |thread| *thread == this)
}

/// How many reports of `kind` named a callback ending in `name`, on any
/// thread (for a callback that only one test uses).
fn reports_on_any_thread(kind: ReportKind, name: &str) -> usize {
    count_reports(kind, name, |_| true)
}

fn count_reports(kind: ReportKind, name: &str, thread: impl Fn(&Option<String>) -> bool) -> usize {
    REPORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(k, n, t)| *k == kind && n.ends_with(name) && thread(t))
        .count()
}

// ---------------------------------------------------------------------------
// Any closure, for the call
// ---------------------------------------------------------------------------

#[test]
fn a_capturing_closure_sorts_by_a_runtime_key() {
    // A key known only at run time, a counter the closure mutates, an `Rc`
    // (not `Send`), all borrowed from this frame (not `'static`).
    let rank = [5, 3, 9, 1, 7];
    let mut comparisons = 0;
    let shared = Rc::new(Cell::new(0));
    let mut items = [0, 1, 2, 3, 4];
    Compare::scope_thread_local(
        |a: &i32, b: &i32| {
            comparisons += 1;
            shared.set(shared.get() + 1);
            rank[*a as usize].cmp(&rank[*b as usize])
        },
        |compare| sort_i32(&mut items, compare),
    );
    assert_eq!(items, [3, 1, 0, 4, 2]);
    assert!(comparisons > 0);
    assert_eq!(shared.get(), comparisons);
}

#[test]
fn a_visitor_collects_borrowed_paths_into_a_captured_vec() {
    let paths: Vec<CString> = ["/a", "/a/b", "/a/b/c"]
        .iter()
        .map(|p| CString::new(*p).unwrap())
        .collect();
    let mut seen = Vec::new();
    let rc = Visit::scope_thread_local(
        |path: &CStr, depth| {
            seen.push((path.to_owned(), depth));
            0
        },
        // SAFETY: the visitor borrows each NUL-terminated path.
        |visit| unsafe { c_walk(&paths, visit) },
    );
    assert_eq!(rc, 0);
    let expected: Vec<(CString, c_int)> = paths.iter().cloned().zip(0..).collect();
    assert_eq!(seen, expected);
}

#[test]
fn the_slot_less_scope_and_new_are_unchanged_beside_it() {
    let mut items = [3, 1, 2];
    CompareRaw::scope(
        |a: *const c_void, b: *const c_void| {
            // SAFETY: the sort passes two `i32` elements.
            unsafe { (*a.cast::<i32>()).cmp(&*b.cast::<i32>()) as c_int }
        },
        // SAFETY: the comparator compares `i32`s.
        |compare| unsafe { c_qsort(items.as_mut_ptr().cast(), 3, 4, Some(compare)) },
    );
    assert_eq!(items, [1, 2, 3]);
}

// ---------------------------------------------------------------------------
// Calls where nothing is parked: another thread, after the scope
// ---------------------------------------------------------------------------

#[test]
fn a_call_from_another_thread_is_refused_with_the_fallback() {
    set_reporter(record);
    let ran = Cell::new(0);
    let before = reports_on_any_thread(ReportKind::Refused, "::VisitFromCThreads");
    let path = CString::new("/elsewhere").unwrap();
    let (on_other_thread, raised) = panics_during(|| {
        VisitFromCThreads::scope_thread_local(
            |_: &CStr, _| {
                ran.set(ran.get() + 1);
                0
            },
            |visit| {
                let address = path.as_ptr() as usize;
                // A C library calling back on a thread of its own.
                std::thread::scope(|s| {
                    s.spawn(move || {
                        // SAFETY: a NUL-terminated path, alive for the call.
                        unsafe { visit(address as *const c_char, 0) }
                    })
                    .join()
                    .unwrap()
                })
            },
        )
    });
    assert_eq!(on_other_thread, -1, "the fallback");
    assert_eq!(ran.get(), 0, "the closure never ran there");
    assert!(
        raised.is_empty(),
        "nothing raised on this thread: {raised:?}"
    );
    assert_eq!(
        reports_on_any_thread(ReportKind::Refused, "::VisitFromCThreads"),
        before + 1
    );
}

#[test]
fn a_call_after_the_scope_returned_is_refused() {
    set_reporter(record);
    let (guard, drops) = tracked();
    let ran = Cell::new(0);
    // C keeps the pointer (a GHashTable's compare function, an atexit).
    let kept = EachAlone::scope_thread_local(
        move |n| {
            let _keep = &guard;
            ran.set(ran.get() + 1);
            n
        },
        |each| {
            // SAFETY: any `int`.
            assert_eq!(unsafe { each(7) }, 7);
            each
        },
    );
    assert_eq!(drops.get(), 1, "dropped when the scope ended");
    let before = reports(ReportKind::Refused, "::EachAlone");
    let (late, raised) = panics_during(|| {
        // SAFETY: any `int`.
        unsafe { kept(8) }
    });
    assert_eq!(late, -2, "the fallback");
    assert_eq!(
        raised.len(),
        1,
        "the refusal, raised and caught: {raised:?}"
    );
    assert!(
        raised[0].contains("no `scope_thread_local` of its type is running on this thread"),
        "{raised:?}"
    );
    assert_eq!(reports(ReportKind::Refused, "::EachAlone"), before + 1);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_call_after_the_scope_returned_refuses_under_resume_without_a_guard_too() {
    set_reporter(record);
    let kept = Visit::scope_thread_local(|_: &CStr, _| 0, |visit| visit);
    let before = reports(ReportKind::Refused, "::Visit");
    // No guard on this thread: still reported, not an abort.
    // SAFETY: a NUL-terminated path.
    let late = unsafe { kept(c"/late".as_ptr(), 0) };
    assert_eq!(late, -1);
    assert!(reports(ReportKind::Refused, "::Visit") > before);
}

// ---------------------------------------------------------------------------
// Nesting
// ---------------------------------------------------------------------------

#[test]
fn a_comparators_body_sorting_again_reaches_its_own_closure() {
    let mut outer_calls = 0;
    let inner_calls = Cell::new(0);
    let mut items = [4, 2, 3, 1];
    Compare::scope_thread_local(
        |a: &i32, b: &i32| {
            outer_calls += 1;
            // Another closure type of the same callback type, parked on
            // top of this one while its sort runs.
            let mut inner = [*a, *b, 0];
            Compare::scope_thread_local(
                |x: &i32, y: &i32| {
                    inner_calls.set(inner_calls.get() + 1);
                    y.cmp(x)
                },
                |compare| sort_i32(&mut inner, compare),
            );
            assert_eq!(inner[2], 0, "sorted descending: 0 last");
            a.cmp(b)
        },
        |compare| sort_i32(&mut items, compare),
    );
    assert_eq!(
        items,
        [1, 2, 3, 4],
        "every outer call reached the outer closure"
    );
    assert!(outer_calls > 0 && inner_calls.get() >= 2 * outer_calls);
}

#[test]
fn the_outer_closure_is_back_after_an_inner_scope_unwinds() {
    let outer = Cell::new(0);
    let result = Visit::scope_thread_local(
        |_: &CStr, depth| {
            outer.set(outer.get() + 1);
            depth + 10
        },
        |visit| {
            let payload = panic_payload(|| {
                Visit::scope_thread_local(
                    |_: &CStr, _| -> c_int { panic_any("expected: inner") },
                    // SAFETY: a NUL-terminated path.
                    |visit| unsafe { visit(c"/inner".as_ptr(), 0) },
                )
            });
            assert_eq!(message(&*payload), "expected: inner");
            // SAFETY: a NUL-terminated path.
            unsafe { visit(c"/outer".as_ptr(), 1) }
        },
    );
    assert_eq!(result, 11);
    assert_eq!(outer.get(), 1);
}

#[test]
fn the_outer_closure_is_back_after_an_inner_scope_unwinds_through_c() {
    let outer = Cell::new(0);
    let payload = panic_payload(|| {
        Unwinding::scope_thread_local(
            |n| {
                outer.set(outer.get() + 1);
                n
            },
            |each| {
                let inner = catch_unwind(AssertUnwindSafe(|| {
                    Unwinding::scope_thread_local(
                        |_| -> c_int { panic_any("expected: unwound") },
                        // SAFETY: any `int`; the panic unwinds through it.
                        |each| unsafe { each(1) },
                    )
                }));
                assert!(inner.is_err());
                // SAFETY: any `int`.
                assert_eq!(unsafe { each(5) }, 5, "the outer closure");
                panic_any("expected: outer");
            },
        )
    });
    assert_eq!(message(&*payload), "expected: outer");
    assert_eq!(outer.get(), 1);
}

#[test]
fn two_types_nest_each_in_its_own_thread_local() {
    // scandir's filter and comparator: two slot-less types, one C call.
    let mut filtered = 0;
    let mut compared = 0;
    let mut items = [3, 1, 2];
    Visit::scope_thread_local(
        |_: &CStr, _| {
            filtered += 1;
            0
        },
        |visit| {
            Compare::scope_thread_local(
                |a: &i32, b: &i32| {
                    compared += 1;
                    a.cmp(b)
                },
                |compare| {
                    // SAFETY: a NUL-terminated path.
                    unsafe { visit(c"/x".as_ptr(), 0) };
                    sort_i32(&mut items, compare);
                    // SAFETY: a NUL-terminated path.
                    unsafe { visit(c"/y".as_ptr(), 0) };
                },
            );
        },
    );
    assert_eq!((filtered, items), (2, [1, 2, 3]));
    assert!(compared > 0);
}

// ---------------------------------------------------------------------------
// Re-entry
// ---------------------------------------------------------------------------

#[test]
fn reentry_into_a_running_fnmut_is_refused_never_aliased() {
    let function: Cell<Option<EachAloneFn>> = Cell::new(None);
    let mut depth_seen = Vec::new();
    let (results, raised) = panics_during(|| {
        EachAlone::scope_thread_local(
            |n| {
                depth_seen.push(n);
                if n == 1 {
                    // C calling back into the running callback.
                    // SAFETY: any `int`.
                    return unsafe { function.get().unwrap()(99) };
                }
                n
            },
            |each| {
                function.set(Some(each));
                c_each(3, |n| {
                    // SAFETY: any `int`.
                    unsafe { each(n) }
                })
            },
        )
    });
    assert_eq!(results, [0, -2, 2], "the nested call got the fallback");
    assert_eq!(depth_seen, [0, 1, 2], "the closure never ran twice at once");
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(raised[0].contains("already running"), "{raised:?}");
}

#[test]
fn reentry_under_resume_is_raised_when_the_scope_returns() {
    let function: Cell<Option<VisitFn>> = Cell::new(None);
    let mut calls = 0;
    let payload = panic_payload(|| {
        Visit::scope_thread_local(
            |_: &CStr, depth| {
                calls += 1;
                if depth == 0 {
                    // SAFETY: a NUL-terminated path.
                    let nested = unsafe { function.get().unwrap()(c"/again".as_ptr(), 1) };
                    assert_eq!(nested, -1, "refused");
                }
                0
            },
            |visit| {
                function.set(Some(visit));
                // SAFETY: a NUL-terminated path.
                let first = unsafe { visit(c"/first".as_ptr(), 0) };
                // Poisoned by the kept refusal: no user code runs again.
                // SAFETY: as above.
                let second = unsafe { visit(c"/second".as_ptr(), 2) };
                (first, second)
            },
        )
    });
    assert!(message(&*payload).contains("already running"));
    assert_eq!(calls, 1);
}

#[test]
fn a_reentrant_type_nests_fn_closures() {
    let function: Cell<Option<NestFn>> = Cell::new(None);
    let calls = Cell::new(0);
    let rc = Nest::scope_thread_local(
        |depth| {
            calls.set(calls.get() + 1);
            if depth < 3 {
                // SAFETY: any `int`.
                return unsafe { function.get().unwrap()(depth + 1) } + 1;
            }
            0
        },
        |nest| {
            function.set(Some(nest));
            // SAFETY: any `int`.
            unsafe { nest(0) }
        },
    );
    assert_eq!((rc, calls.get()), (3, 4));
}

// ---------------------------------------------------------------------------
// The closure's drop
// ---------------------------------------------------------------------------

/// Calls the type's function when dropped, as a closure owning a C object
/// whose free flushes through the callback would.
struct CallsBackWhenDropped {
    function: Rc<Cell<Option<EachAloneFn>>>,
    got: Rc<Cell<Option<c_int>>>,
    drops: Rc<Cell<u32>>,
}

impl Drop for CallsBackWhenDropped {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if let Some(each) = self.function.get() {
            // SAFETY: any `int`.
            self.got.set(Some(unsafe { each(5) }));
        }
    }
}

#[test]
fn the_closure_is_dropped_once_and_a_call_from_its_drop_is_refused() {
    let function = Rc::new(Cell::new(None));
    let got = Rc::new(Cell::new(None));
    let drops = Rc::new(Cell::new(0));
    let owner = CallsBackWhenDropped {
        function: function.clone(),
        got: got.clone(),
        drops: drops.clone(),
    };
    let ran = Rc::new(Cell::new(0));
    let ran_in = ran.clone();
    let ((), raised) = panics_during(|| {
        EachAlone::scope_thread_local(
            move |n| {
                let _owner = &owner;
                ran_in.set(ran_in.get() + 1);
                n
            },
            |each| {
                function.set(Some(each));
                // SAFETY: any `int`.
                assert_eq!(unsafe { each(1) }, 1);
            },
        )
    });
    assert_eq!(drops.get(), 1, "dropped exactly once");
    assert_eq!(
        got.get(),
        Some(-2),
        "the call from the drop got the fallback"
    );
    assert_eq!(ran.get(), 1, "and did not run the closure");
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(raised[0].contains("after it was destroyed"), "{raised:?}");
}

#[test]
fn a_call_from_the_drop_under_resume_is_raised_by_the_scope() {
    let function: Rc<Cell<Option<VisitFn>>> = Rc::new(Cell::new(None));
    struct Flush(Rc<Cell<Option<VisitFn>>>, Rc<Cell<u32>>);
    impl Drop for Flush {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
            if let Some(visit) = self.0.get() {
                // SAFETY: a NUL-terminated path.
                assert_eq!(unsafe { visit(c"/flush".as_ptr(), 0) }, -1);
            }
        }
    }
    let drops = Rc::new(Cell::new(0));
    let flush = Flush(function.clone(), drops.clone());
    let payload = panic_payload(|| {
        Visit::scope_thread_local(
            move |_: &CStr, _| {
                let _flush = &flush;
                0
            },
            |visit| function.set(Some(visit)),
        )
    });
    assert!(message(&*payload).contains("after it was destroyed"));
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_closure_whose_drop_panics_is_dropped_once_and_the_thread_local_restored() {
    struct PanicsOnDrop(Rc<Cell<u32>>);
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            panic_any("expected: drop");
        }
    }
    let drops = Rc::new(Cell::new(0));
    let guard = PanicsOnDrop(drops.clone());
    let kept = Cell::new(None);
    let payload = panic_payload(|| {
        EachAlone::scope_thread_local(
            move |n| {
                let _guard = &guard;
                n
            },
            |each| kept.set(Some(each)),
        )
    });
    assert_eq!(message(&*payload), "expected: drop");
    assert_eq!(drops.get(), 1);
    // Nothing parked any more: refused, not a dangling closure.
    // SAFETY: any `int`.
    let ((), raised) = panics_during(|| assert_eq!(unsafe { kept.get().unwrap()(3) }, -2));
    assert_eq!(raised.len(), 1, "{raised:?}");
}

// ---------------------------------------------------------------------------
// Panics, errors, options
// ---------------------------------------------------------------------------

#[test]
fn a_panic_poisons_the_rest_of_the_call_and_is_resumed_when_it_returns() {
    let mut calls = Vec::new();
    let mut after = None;
    let payload = panic_payload(|| {
        Visit::scope_thread_local(
            |_: &CStr, depth| {
                calls.push(depth);
                if depth == 1 {
                    panic_any(42_u32);
                }
                0
            },
            |visit| {
                // SAFETY: NUL-terminated paths.
                let got: Vec<c_int> = (0..4)
                    .map(|depth| unsafe { visit(c"/p".as_ptr(), depth) })
                    .collect();
                after = Some(got);
            },
        )
    });
    assert_eq!(
        payload.downcast_ref::<u32>(),
        Some(&42),
        "the original payload"
    );
    assert_eq!(calls, [0, 1], "no user code ran after the panic");
    assert_eq!(
        after,
        Some(vec![0, -1, -1, -1]),
        "the call closure finished first"
    );
}

#[test]
fn the_next_scope_runs_again_after_a_poisoned_one() {
    let _ = panic_payload(|| {
        Visit::scope_thread_local(
            |_: &CStr, _| -> c_int { panic_any("expected: once") },
            // SAFETY: a NUL-terminated path.
            |visit| unsafe { visit(c"/p".as_ptr(), 0) },
        )
    });
    let rc = Visit::scope_thread_local(
        |_: &CStr, depth| depth * 2,
        // SAFETY: a NUL-terminated path.
        |visit| unsafe { visit(c"/p".as_ptr(), 4) },
    );
    assert_eq!(rc, 8);
}

#[test]
fn on_panic_fallback_reports_each_panic_and_carries_on() {
    set_reporter(record);
    let before = reports(ReportKind::PanicReturnedFallback, "::EachAlone");
    let mut ran = 0;
    let (results, raised) = panics_during(|| {
        EachAlone::scope_thread_local(
            |n| {
                ran += 1;
                if n % 2 == 1 {
                    panic_any("expected: odd");
                }
                n
            },
            // SAFETY: any `int`.
            |each| c_each(4, |n| unsafe { each(n) }),
        )
    });
    assert_eq!(results, [0, -2, 2, -2]);
    assert_eq!(ran, 4, "no poisoning");
    assert_eq!(raised.len(), 2);
    assert_eq!(
        reports(ReportKind::PanicReturnedFallback, "::EachAlone"),
        before + 2
    );
}

#[test]
fn try_scope_thread_local_returns_the_first_err_and_c_gets_on_error() {
    let mut seen = Vec::new();
    let result = Checked::try_scope_thread_local(
        |n| {
            seen.push(n);
            if n >= 2 {
                return Err(format!("too big: {n}"));
            }
            Ok(n * 10)
        },
        // SAFETY: any `int`.
        |checked| c_each(4, |n| unsafe { checked(n) }),
    );
    assert_eq!(result, Err("too big: 2".to_owned()));
    assert_eq!(seen, [0, 1, 2], "poisoned after the first error");

    let fine: Result<Vec<c_int>, String> = Checked::try_scope_thread_local(
        Ok,
        // SAFETY: any `int`.
        |checked| c_each(3, |n| unsafe { checked(n) }),
    );
    assert_eq!(fine, Ok(vec![0, 1, 2]));
}

#[test]
fn on_error_and_fallback_read_the_c_parameters() {
    let mut values = None;
    let result = Checked::try_scope_thread_local(
        |n| {
            if n == 1 {
                Err("four".to_owned())
            } else {
                Ok(n)
            }
        },
        // SAFETY: any `int`.
        |checked| values = Some(c_each(3, |n| unsafe { checked(n) })),
    );
    assert_eq!(result, Err("four".to_owned()));
    // `on_error` for the `Err`, then the fallback `-n` while poisoned.
    assert_eq!(values, Some(vec![0, 104, -2]));
}

#[test]
fn the_bindgen_spelling_and_the_system_abi() {
    let mut total = 0;
    let f: SystemCbFn = SystemCb::scope_thread_local(
        |n| {
            total += n;
            n
        },
        |f| {
            // SAFETY: any `int`.
            assert_eq!(unsafe { f(20) }, 20);
            f
        },
    );
    let _: Option<unsafe extern "system" fn(c_int) -> c_int> = Some(f);
    assert_eq!(total, 20);
}

#[test]
fn a_non_send_closure_runs_only_on_the_scopes_thread() {
    set_reporter(record);
    let before = reports_on_any_thread(ReportKind::Refused, "::AnyThread");
    let local = Rc::new(Cell::new(0)); // not `Send`
    let (here, there) = AnyThread::scope_thread_local(
        |n| {
            local.set(local.get() + n);
            n
        },
        |f| {
            // SAFETY: any `int`.
            let here = unsafe { f(4) };
            let there = std::thread::scope(|s| {
                // SAFETY: any `int`.
                s.spawn(move || unsafe { f(5) }).join().unwrap()
            });
            (here, there)
        },
    );
    assert_eq!((here, there, local.get()), (4, -3, 4));
    assert_eq!(
        reports_on_any_thread(ReportKind::Refused, "::AnyThread"),
        before + 1
    );
}

#[test]
fn control_flow_closures() {
    let mut seen = Vec::new();
    let rc = Step::scope_thread_local(
        |n| {
            seen.push(n);
            if n < 2 {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        },
        // SAFETY: any `int`.
        |step| c_each(4, |n| unsafe { step(n) }),
    );
    assert_eq!(rc, [0, 0, 1, 1]);
    assert_eq!(seen, [0, 1, 2, 3]);
}

#[test]
fn ordering_and_borrowed_elements_with_a_fallback_for_null() {
    // A null element is refused before the closure runs: C gets 0.
    let mut calls = 0;
    let ((), raised) = panics_during(|| {
        let payload = panic_payload(|| {
            Compare::scope_thread_local(
                |a: &i32, b: &i32| {
                    calls += 1;
                    a.cmp(b)
                },
                |compare| {
                    let one = 1;
                    // SAFETY: a valid `i32` and a null, which is refused.
                    let got = unsafe { compare(ptr::from_ref(&one).cast(), ptr::null()) };
                    assert_eq!(got, 0);
                    // SAFETY: two valid `i32`s.
                    let got =
                        unsafe { compare(ptr::from_ref(&one).cast(), ptr::from_ref(&2).cast()) };
                    assert_eq!(got, Ordering::Less as c_int, "not poisoned by the refusal");
                },
            )
        });
        assert!(message(&*payload).contains("`b`"));
    });
    assert_eq!(calls, 1);
    assert!(!raised.is_empty());
}

#[test]
fn refcell_state_across_calls() {
    let log = RefCell::new(String::new());
    Visit::scope_thread_local(
        |path: &CStr, _| {
            log.borrow_mut().push_str(path.to_str().unwrap());
            0
        },
        |visit| {
            let paths = [CString::new("a").unwrap(), CString::new("b").unwrap()];
            // SAFETY: NUL-terminated paths.
            unsafe { c_walk(&paths, visit) }
        },
    );
    assert_eq!(log.into_inner(), "ab");
}
