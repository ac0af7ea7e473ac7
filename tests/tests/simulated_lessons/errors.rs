//! Issue 13.1: callbacks that return `Result`. `Ok(r)` goes to C as `r`;
//! for `Err(e)` C gets `on_error` (default: the fallback) and `e` goes to
//! the innermost `try_resume` / `try_scope` of its type on the thread, typed
//! (past inner guards of other types): the first
//! error wins, and a kept error poisons like a kept panic until its guard
//! returns. A panic wins over an error; an error with no guard of its type
//! is reported and dropped.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::panic::panic_any;
use std::rc::Rc;

use ffi_callback::{ReportKind, callback, resume_panics, try_resume};

use ffi_callback_tests::panics::panic_payload;

use crate::{Boom, child, each, reporter};

#[derive(Debug, PartialEq)]
struct ItemError(c_int);

#[derive(Debug, PartialEq)]
struct OtherError;

/// An error that counts its drops, to check each is dropped once.
#[derive(Debug)]
struct Failure {
    code: c_int,
    drops: Rc<Cell<u32>>,
}

impl Drop for Failure {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// `for (i = 0; i < n; i++) out[i] = cb(i, ud);` (fn-form argument order):
/// C keeps calling after a failure, as expat does.
///
/// # Safety
/// `ud` is what `cb` expects.
unsafe fn visit_all(
    cb: unsafe extern "C" fn(c_int, *mut c_void) -> c_int,
    ud: *mut c_void,
    n: c_int,
) -> Vec<c_int> {
    // SAFETY: forwarded.
    (0..n).map(|i| unsafe { cb(i, ud) }).collect()
}

/// Items 2, 5, 8... fail.
#[callback(fallback = -1)]
extern "C" fn check_item(
    item: c_int,
    #[user_data] seen: &mut Vec<c_int>,
) -> Result<c_int, ItemError> {
    if item % 3 == 2 {
        return Err(ItemError(item));
    }
    seen.push(item);
    Ok(item * 10)
}

/// Items from 1 on fail, with an error that counts its drops.
#[callback(fallback = -1)]
extern "C" fn fail_from_one(
    item: c_int,
    #[user_data] drops: &Rc<Cell<u32>>,
) -> Result<c_int, Failure> {
    if item >= 1 {
        return Err(Failure {
            code: item,
            drops: drops.clone(),
        });
    }
    Ok(item)
}

/// C receives a value computed from the error and a C parameter.
#[callback(on_error = -(e.0 * 100 + item), fallback = -1)]
extern "C" fn coded_item(
    item: c_int,
    #[user_data] seen: &mut Vec<c_int>,
) -> Result<c_int, ItemError> {
    if item == 2 {
        return Err(ItemError(7));
    }
    seen.push(item);
    Ok(item)
}

/// A row callback type; closures may return `c_int` or `Result<c_int, E>`.
#[callback(fallback = -1)]
type Row = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A type that names its error, so that `on_error` can read it.
#[callback(error = ItemError, on_error = -(e.0 + n), fallback = -1)]
type CodedRow = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `on_panic = abort` (the default for `send`): no fallback, so an `Err`
/// needs the type's `on_error`.
#[callback(send, error = ItemError, on_error = -e.0)]
type SendRow = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

// ---------------------------------------------------------------------------
// fn form with try_resume
// ---------------------------------------------------------------------------

#[test]
fn try_resume_returns_the_error_and_poisons_until_it_returns() {
    let mut seen = Vec::new();
    let mut got = Vec::new();
    let result = try_resume::<_, ItemError>(|| {
        // SAFETY: `check_item` receives `&mut Vec<c_int>`.
        got = unsafe { visit_all(check_item, check_item::user_data(&mut seen), 6) };
    });
    assert_eq!(result, Err(ItemError(2)));
    // After the error C kept calling: the fallback, without user code (so
    // item 5 did not fail a second time).
    assert_eq!(got, [0, 10, -1, -1, -1, -1]);
    assert_eq!(seen, [0, 1]);

    // The guard returned: user code runs again; the `Ok` path is unaffected.
    let again = try_resume::<_, ItemError>(|| {
        // SAFETY: as above.
        unsafe { visit_all(check_item, check_item::user_data(&mut seen), 2) }
    });
    assert_eq!(again, Ok(vec![0, 10]));
    assert_eq!(seen, [0, 1, 0, 1]);
}

#[test]
fn the_first_error_wins_and_a_later_one_is_dropped() {
    let drops = Rc::new(Cell::new(0));
    let mut results = (Vec::new(), Vec::new());
    let result = try_resume::<_, Failure>(|| {
        // SAFETY: `fail_from_one` receives `&Rc<Cell<u32>>`.
        results.0 = unsafe { visit_all(fail_from_one, fail_from_one::user_data(&drops), 3) };
        // A holder that has not failed yet is not poisoned by the fn's
        // error; it fails too: its error is dropped, the first one kept.
        let holder = Row::new(|n| -> Result<c_int, Failure> {
            Err(Failure {
                code: 100 + n,
                drops: drops.clone(),
            })
        });
        // SAFETY: `holder` is alive and unmoved.
        results.1 = unsafe { each(holder.function(), holder.user_data(), 2) };
    });
    let error = result.expect_err("an error was kept");
    assert_eq!(error.code, 1);
    assert_eq!(results, (vec![0, -1, -1], vec![-1, -1]));
    assert_eq!(drops.get(), 1, "the later error, dropped once");
    drop(error);
    assert_eq!(drops.get(), 2);
}

#[test]
fn on_error_reads_the_error_and_a_c_parameter() {
    let mut seen = Vec::new();
    let mut got = Vec::new();
    let result = try_resume::<_, ItemError>(|| {
        // SAFETY: `coded_item` receives `&mut Vec<c_int>`.
        got = unsafe { visit_all(coded_item, coded_item::user_data(&mut seen), 4) };
    });
    assert_eq!(result, Err(ItemError(7)));
    // -(7 * 100 + 2) for the failing item; then the fallback while poisoned.
    assert_eq!(got, [0, 1, -702, -1]);
    assert_eq!(seen, [0, 1]);
}

#[test]
fn a_panic_after_an_error_wins_and_the_error_is_dropped() {
    let drops = Rc::new(Cell::new(0));
    let payload = panic_payload(|| {
        try_resume::<_, Failure>(|| {
            // SAFETY: `fail_from_one` receives `&Rc<Cell<u32>>`.
            unsafe { visit_all(fail_from_one, fail_from_one::user_data(&drops), 2) };
            let holder = Row::new(|n| -> c_int { panic_any(Boom(n)) });
            // SAFETY: `holder` is alive and unmoved.
            unsafe { each(holder.function(), holder.user_data(), 1) };
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(0)));
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_panic_before_an_error_wins_and_the_error_is_dropped() {
    let drops = Rc::new(Cell::new(0));
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        try_resume::<_, Failure>(|| {
            let panics = Row::new(|n| -> c_int { panic_any(Boom(n)) });
            let fails = Row::new(|n| -> Result<c_int, Failure> {
                Err(Failure {
                    code: n,
                    drops: drops.clone(),
                })
            });
            // SAFETY: both holders are alive and unmoved.
            unsafe {
                got.extend(each(panics.function(), panics.user_data(), 1));
                got.extend(each(fails.function(), fails.user_data(), 1));
            }
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(0)));
    assert_eq!(got, [-1, -1]);
    assert_eq!(drops.get(), 1);
}

#[test]
fn an_error_of_another_type_than_the_guards_is_reported_and_dropped() {
    let recording = reporter::recording();
    let mut seen = Vec::new();
    let result = try_resume::<_, OtherError>(|| {
        // SAFETY: `check_item` receives `&mut Vec<c_int>`.
        unsafe { visit_all(check_item, check_item::user_data(&mut seen), 4) }
    });
    // Not kept, so nothing is poisoned: item 3 ran.
    assert_eq!(result, Ok(vec![0, 10, -1, 30]));
    let reports = recording.about(concat!(module_path!(), "::check_item"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::ErrorDropped);
    assert!(
        reports[0].text.contains(
            "no `try_resume`/`try_scope` guard on this thread takes its error type \
             `simulated_lessons::errors::ItemError` (the innermost takes \
             `simulated_lessons::errors::OtherError`)"
        ),
        "{}",
        reports[0].text
    );

    let drops = Rc::new(Cell::new(0));
    let result = try_resume::<_, ItemError>(|| {
        // SAFETY: `fail_from_one` receives `&Rc<Cell<u32>>`.
        unsafe { visit_all(fail_from_one, fail_from_one::user_data(&drops), 3) }
    });
    assert_eq!(result, Ok(vec![0, -1, -1]));
    assert_eq!(drops.get(), 2, "each error dropped once");
}

#[test]
fn an_error_passes_inner_guards_of_other_types_to_its_own() {
    // `try_resume::<ItemError>` around a `try_resume::<OtherError>` (a
    // binding's call wrapped by a library that relays its own errors): the
    // `ItemError` is the outer guard's, as an exception finds its handler;
    // the thread is poisoned until the outer guard returns, so item 3 does
    // not run, and the inner guard returns `Ok`.
    let recording = reporter::recording();
    let mut seen = Vec::new();
    let result = try_resume::<_, ItemError>(|| {
        try_resume::<_, OtherError>(|| {
            // SAFETY: `check_item` receives `&mut Vec<c_int>`.
            unsafe { visit_all(check_item, check_item::user_data(&mut seen), 4) }
        })
    });
    assert_eq!(result, Err(ItemError(2)));
    assert_eq!(seen, [0, 1]);
    let reports = recording.about(concat!(module_path!(), "::check_item"));
    assert!(reports.is_empty(), "kept, not reported: {reports:?}");
    // The thread is healthy again afterwards.
    let result = try_resume::<_, ItemError>(|| {
        // SAFETY: as above.
        unsafe { visit_all(check_item, check_item::user_data(&mut seen), 2) }
    });
    assert_eq!(result, Ok(vec![0, 10]));
}

#[test]
fn an_error_with_no_try_guard_is_reported_and_dropped() {
    let recording = reporter::recording();
    let drops = Rc::new(Cell::new(0));
    // SAFETY: `fail_from_one` receives `&Rc<Cell<u32>>`.
    let got = unsafe { visit_all(fail_from_one, fail_from_one::user_data(&drops), 3) };
    assert_eq!(got, [0, -1, -1]);
    assert_eq!(drops.get(), 2);
    // A `resume_panics` guard does not take errors either.
    // SAFETY: as above.
    let got =
        resume_panics(|| unsafe { visit_all(fail_from_one, fail_from_one::user_data(&drops), 2) });
    assert_eq!(got, [0, -1]);
    assert_eq!(drops.get(), 3);
    let reports = recording.about(concat!(module_path!(), "::fail_from_one"));
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert!(reports.iter().all(|r| r.kind == ReportKind::ErrorDropped));
    assert!(
        reports[0].text.contains(
            "no `try_resume::<simulated_lessons::errors::Failure>` (or `try_scope`) guard was \
             active on this thread"
        ),
        "{}",
        reports[0].text
    );
}

// ---------------------------------------------------------------------------
// Callback types
// ---------------------------------------------------------------------------

#[test]
fn try_scope_returns_the_closures_first_error_and_poisons_the_holder() {
    let mut got = Vec::new();
    let mut ran = Vec::new();
    let result = Row::try_scope(
        |n| {
            ran.push(n);
            if n == 1 { Err(ItemError(n)) } else { Ok(n * 2) }
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| got = unsafe { each(f, ud, 4) },
    );
    assert_eq!(result, Err(ItemError(1)));
    assert_eq!(got, [0, -1, -1, -1]);
    assert_eq!(ran, [0, 1]);

    let ok = Row::try_scope(
        |n| -> Result<c_int, ItemError> { Ok(n + 1) },
        // SAFETY: as above.
        |f, ud| unsafe { each(f, ud, 3) },
    );
    assert_eq!(ok, Ok(vec![1, 2, 3]));
}

#[test]
fn boxed_holder_that_failed_runs_again_once_try_resume_returned() {
    let raw = Row::boxed(|n| if n == 1 { Err(ItemError(n)) } else { Ok(n) }).into_raw();
    let mut got = Vec::new();
    let first = try_resume::<_, ItemError>(|| {
        // SAFETY: alive until the destroy below.
        got = unsafe { each(raw.function, raw.user_data, 3) };
    });
    assert_eq!(first, Err(ItemError(1)));
    assert_eq!(got, [0, -1, -1]);
    // SAFETY: as above.
    let second = try_resume::<_, ItemError>(|| unsafe {
        [
            (raw.function)(raw.user_data, 2),
            (raw.function)(raw.user_data, 0),
        ]
    });
    assert_eq!(second, Ok([2, 0]));
    // SAFETY: the destroy-notify, once.
    unsafe { (raw.destroy)(raw.user_data) };
}

#[test]
fn type_error_and_on_error_give_c_a_value_read_from_the_error() {
    let mut got = Vec::new();
    let result = CodedRow::try_scope(
        |n| if n == 2 { Err(ItemError(40)) } else { Ok(n) },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| got = unsafe { each(f, ud, 4) },
    );
    assert_eq!(result, Err(ItemError(40)));
    // -(40 + 2) for the failure, then the fallback while poisoned.
    assert_eq!(got, [0, 1, -42, -1]);
}

#[test]
fn a_type_with_an_error_accepts_closures_that_never_fail() {
    // `error = ItemError` names what closures fail with; one that cannot
    // fail returns the C type itself.
    let mut got = Vec::new();
    let result = CodedRow::try_scope(
        |n| n * 3,
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| got = unsafe { each(f, ud, 3) },
    );
    assert_eq!(result, Ok(()));
    assert_eq!(got, [0, 3, 6]);
    let mut plain = Vec::new();
    // SAFETY: `f`/`ud` are alive for the scope.
    CodedRow::scope(|n| n + 1, |f, ud| plain = unsafe { each(f, ud, 2) });
    assert_eq!(plain, [1, 2]);
}

/// In a child process: an `on_panic = abort` type's closure fails once
/// under `try_scope`, and C calls it again.
pub(crate) fn abort_type_after_an_error_scenario() {
    let mut got = Vec::new();
    let result = SendRow::try_scope(
        |n| if n == 1 { Err(ItemError(9)) } else { Ok(n) },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| got = unsafe { each(f, ud, 3) },
    );
    println!("child: {result:?} {got:?}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot start a process")]
fn abort_type_with_on_error_keeps_the_error_and_survives_the_next_call() {
    let output = child::run("abort_type_after_an_error");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // `on_error` (-9) for the failure; try_scope returns the error.
    assert!(
        stdout.contains("child: Err(ItemError(9)) [0, -9, "),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------
// Nested guards
// ---------------------------------------------------------------------------

#[test]
fn try_resume_inside_resume_panics_returns_the_error_and_leaves_the_outer_clean() {
    let mut seen = Vec::new();
    let (inner, after) = resume_panics(|| {
        let inner = try_resume::<_, ItemError>(|| {
            // SAFETY: `check_item` receives `&mut Vec<c_int>`.
            unsafe { visit_all(check_item, check_item::user_data(&mut seen), 4) }
        });
        // The error went to the inner guard only: the outer one is not
        // poisoned.
        // SAFETY: as above.
        let after = unsafe { visit_all(check_item, check_item::user_data(&mut seen), 2) };
        (inner, after)
    });
    assert_eq!(inner, Err(ItemError(2)));
    assert_eq!(after, [0, 10]);

    // A panic goes through both guards with its payload.
    let payload = panic_payload(|| {
        resume_panics(|| {
            try_resume::<_, ItemError>(|| {
                let holder = Row::new(|n| -> c_int { panic_any(Boom(n)) });
                // SAFETY: `holder` is alive and unmoved.
                unsafe { each(holder.function(), holder.user_data(), 2) }
            })
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(0)));
}

#[test]
fn an_error_inside_a_scope_inside_try_resume_reaches_try_resume_and_poisons_the_holder() {
    let mut got = Vec::new();
    let mut ran = Vec::new();
    let result = try_resume::<_, ItemError>(|| {
        // `scope` guards with `resume_panics`, which does not take errors:
        // the error goes on to the `try_resume` around it.
        Row::scope(
            |n| {
                ran.push(n);
                if n == 1 { Err(ItemError(n)) } else { Ok(n) }
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| got = unsafe { each(f, ud, 4) },
        );
    });
    assert_eq!(result, Err(ItemError(1)));
    assert_eq!(got, [0, -1, -1, -1]);
    assert_eq!(ran, [0, 1]);
}

#[test]
fn an_error_inside_resume_panics_inside_try_resume_poisons_the_fn_form() {
    let mut seen = Vec::new();
    let mut got = Vec::new();
    let result = try_resume::<_, ItemError>(|| {
        resume_panics(|| {
            // SAFETY: `check_item` receives `&mut Vec<c_int>`.
            got = unsafe { visit_all(check_item, check_item::user_data(&mut seen), 6) };
        });
    });
    assert_eq!(result, Err(ItemError(2)));
    // As with no inner guard (and as a holder does): C's later calls run no
    // user code until `try_resume` returns.
    assert_eq!(got, [0, 10, -1, -1, -1, -1]);
    assert_eq!(seen, [0, 1]);
}

// ---------------------------------------------------------------------------
// on_panic = fallback: each call stands alone, errors included
// ---------------------------------------------------------------------------

#[callback(on_panic = fallback, fallback = -1)]
extern "C" fn lenient_item(
    item: c_int,
    #[user_data] seen: &mut Vec<c_int>,
) -> Result<c_int, ItemError> {
    if item % 3 == 2 {
        return Err(ItemError(item));
    }
    seen.push(item);
    Ok(item * 10)
}

#[callback(on_panic = fallback, fallback = -1)]
type LenientRow = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn fallback_fn_keeps_running_after_its_error_which_try_resume_returns() {
    let mut seen = Vec::new();
    let mut got = Vec::new();
    let result = try_resume::<_, ItemError>(|| {
        // SAFETY: `lenient_item` receives `&mut Vec<c_int>`.
        got = unsafe { visit_all(lenient_item, lenient_item::user_data(&mut seen), 6) };
    });
    // The first error wins; `fallback` callbacks are not poisoned.
    assert_eq!(result, Err(ItemError(2)));
    assert_eq!(got, [0, 10, -1, 30, 40, -1]);
    assert_eq!(seen, [0, 1, 3, 4]);
}

#[test]
fn fallback_holder_keeps_running_after_its_error_like_a_fallback_fn() {
    let mut got = Vec::new();
    let mut ran = Vec::new();
    let result = LenientRow::try_scope(
        |n| {
            ran.push(n);
            if n % 3 == 1 { Err(ItemError(n)) } else { Ok(n) }
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| got = unsafe { each(f, ud, 5) },
    );
    assert_eq!(result, Err(ItemError(1)));
    assert_eq!(got, [0, -1, 2, 3, -1]);
    assert_eq!(ran, [0, 1, 2, 3, 4]);
}
