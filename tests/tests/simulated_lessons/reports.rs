//! Issue 13.3 and 15.3: what the crate reports goes to the application's
//! reporter, not to stderr; a guard that finishes while its thread is
//! already unwinding (a binding's `Drop` during a panic) reports its kept
//! panic instead of aborting; a destroy that panicked says so.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::panic::panic_any;
use std::rc::Rc;

use ffi_callback::{Boxed, ReportKind, callback, resume_panics};

use ffi_callback_tests::panics::{message, panic_payload};

use crate::{Each, child, each, reporter, tracked};

/// Each call stands alone: a panic is reported, C gets -2.
#[callback(on_panic = fallback, fallback = -2)]
type Quiet = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A cleanup callback, called by a C library's `*_cleanup` for each handle
/// it still has.
#[callback(fallback = -1)]
type Cleanup = unsafe extern "C" fn(#[user_data] ud: *mut c_void, handle: c_int) -> c_int;

// ---------------------------------------------------------------------------
// 13.3: reports
// ---------------------------------------------------------------------------

#[test]
fn fallback_panic_goes_to_the_reporter_with_the_callback_and_its_message() {
    let recording = reporter::recording();
    let got = Quiet::scope(
        |n| {
            assert!(n != 1, "expected: quiet one");
            n
        },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| unsafe { each(f, ud, 3) },
    );
    assert_eq!(got, [0, -2, 2]);
    let reports = recording.about(concat!(module_path!(), "::Quiet"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report.kind, ReportKind::PanicReturnedFallback);
    assert_eq!(report.panic_message.as_deref(), Some("expected: quiet one"));
    assert!(
        report
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("reports.rs")),
        "{report:?}"
    );
    assert!(
        report.text.starts_with(
            "the callback `simulated_lessons::reports::Quiet` (tests/tests/simulated_lessons/reports.rs:"
        ),
        "{}",
        report.text
    );
    assert!(
        report
            .text
            .ends_with("panicked: expected: quiet one; C received the callback's fallback value (`on_panic = fallback`)"),
        "{}",
        report.text
    );
}

/// A closure capture whose `Drop` panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("expected: dropped in destroy");
    }
}

#[test]
fn destroy_panic_under_fallback_is_reported_as_destroy_panicked() {
    let recording = reporter::recording();
    let (track, drops) = tracked();
    let bomb = PanicOnDrop;
    let raw = Quiet::boxed(move |n| {
        let _ = (&bomb, &track);
        n
    })
    .into_raw();
    // SAFETY: alive until the destroy below.
    assert_eq!(unsafe { (raw.function)(raw.user_data, 4) }, 4);
    // SAFETY: the destroy-notify, once. Its panic does not unwind into C.
    unsafe { (raw.destroy)(raw.user_data) };
    // The rest of the closure was dropped too, once.
    assert_eq!(drops.get(), 1);
    let reports = recording.about(concat!(module_path!(), "::Quiet"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::DestroyPanicked);
    assert_eq!(
        reports[0].panic_message.as_deref(),
        Some("expected: dropped in destroy")
    );
    assert!(
        reports[0].text.starts_with(
            "dropping the closure of the callback `simulated_lessons::reports::Quiet`"
        ),
        "{}",
        reports[0].text
    );
}

/// Aborts on a panic in a C call; a Rust owner's drop is not one.
#[callback(on_panic = abort)]
type Strict = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A set whose entry aborts on a panic, owned by a `BoxedSet`.
#[callback(on_panic = abort)]
trait StrictSet {
    unsafe extern "C" fn get(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Bomb {
    _bomb: PanicOnDrop,
    _track: crate::Tracked,
}

impl StrictSet for Bomb {
    fn get(&mut self) -> c_int {
        7
    }
}

#[test]
fn a_rust_owners_drop_lets_the_closures_drop_panic_unwind_from_it() {
    // No C frame is below a `Boxed`, `Once` or `BoxedSet` dropped by Rust
    // code, so a panic in the closure's (or state's) drop unwinds from the
    // owner's drop, as a `Box`'s would, whatever the callback's policy: not
    // an abort "in its destroy-notify", not a report. The rest is dropped
    // once and the memory freed (Miri checks the leak).
    let recording = reporter::recording();
    let (track, drops) = tracked();
    let bomb = PanicOnDrop;
    let boxed = Strict::boxed(move |n| {
        let _ = (&bomb, &track);
        n
    });
    // SAFETY: alive and owned here.
    assert_eq!(unsafe { (boxed.function())(boxed.user_data(), 3) }, 3);
    let payload = panic_payload(move || drop(boxed));
    assert_eq!(message(&*payload), "expected: dropped in destroy");
    assert_eq!(drops.get(), 1);

    let (track, drops) = tracked();
    let bomb = PanicOnDrop;
    let once = Strict::once(move |n| {
        let _ = (&bomb, &track);
        n
    });
    let payload = panic_payload(move || drop(once));
    assert_eq!(message(&*payload), "expected: dropped in destroy");
    assert_eq!(drops.get(), 1);

    let (track, drops) = tracked();
    let set = StrictSetExt::boxed(Bomb {
        _bomb: PanicOnDrop,
        _track: track,
    });
    // SAFETY: alive and owned here.
    assert_eq!(unsafe { Bomb::GET(set.user_data()) }, 7);
    let payload = panic_payload(move || drop(set));
    assert_eq!(message(&*payload), "expected: dropped in destroy");
    assert_eq!(drops.get(), 1);

    let about = |name: &str| recording.about(&format!("{}::{name}", module_path!()));
    assert!(about("Strict").is_empty(), "{:?}", about("Strict"));
    assert!(about("StrictSet").is_empty(), "{:?}", about("StrictSet"));
}

/// Prints each report to stdout, so that the parent sees it arrived.
fn to_stdout(report: &ffi_callback::Report<'_>) {
    println!("reported: {report}");
}

/// In a child process: a panic under `on_panic = fallback`, with a reporter
/// that prints to stdout and a panic hook that prints nothing.
pub(crate) fn fallback_report_scenario() {
    std::panic::set_hook(Box::new(|_| {}));
    ffi_callback::set_reporter(to_stdout);
    let got = Quiet::scope(
        |n| -> c_int { panic!("expected: child panic {n}") },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| unsafe { f(ud, 5) },
    );
    println!("child returned {got}");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot start a process")]
fn fallback_panic_goes_to_the_reporter_and_nothing_to_stderr() {
    let output = child::run("fallback_report");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "reported: the callback `simulated_lessons::reports::Quiet` \
             (tests/tests/simulated_lessons/reports.rs:"
        ) && stdout.contains("panicked: expected: child panic 5;"),
        "{stdout}"
    );
    assert!(stdout.contains("child returned -2"), "{stdout}");
    assert!(!stderr.contains("ffi-callback"), "{stderr}");
}

// ---------------------------------------------------------------------------
// 15.3: a guard inside a destructor that runs during a panic
// ---------------------------------------------------------------------------

/// The outer panic's payload.
#[derive(Debug, PartialEq)]
struct Outer(&'static str);

/// A binding's multi handle: its `Drop` runs the C cleanup, which calls
/// back for each handle, under a guard (curl's `Multi::drop` calling
/// `curl_multi_cleanup`).
struct Multi<F: 'static> {
    cleanup: Boxed<Cleanup<F>>,
    results: Rc<RefCell<Vec<c_int>>>,
}

impl<F: 'static> Drop for Multi<F> {
    fn drop(&mut self) {
        let (f, ud) = (self.cleanup.function(), self.cleanup.user_data());
        // SAFETY: `self.cleanup` is alive for the whole C call.
        let got = resume_panics(|| unsafe { each(f, ud, 3) });
        *self.results.borrow_mut() = got;
    }
}

#[test]
fn guard_in_a_drop_during_a_panic_reports_the_kept_panic_and_the_outer_one_goes_on() {
    let recording = reporter::recording();
    let (track, drops) = tracked();
    let cleaned = Rc::new(RefCell::new(Vec::new()));
    let results = Rc::new(RefCell::new(Vec::new()));
    let cleaned_in = cleaned.clone();
    let multi = Multi {
        cleanup: Cleanup::boxed(move |handle| {
            let _ = &track;
            cleaned_in.borrow_mut().push(handle);
            assert!(handle != 1, "expected: cleanup of handle 1");
            0
        }),
        results: results.clone(),
    };
    let payload = panic_payload(move || {
        let _multi = multi;
        panic_any(Outer("expected: the outer panic"))
    });
    // No abort: the outer panic went on with its own payload.
    assert_eq!(
        payload.downcast_ref::<Outer>(),
        Some(&Outer("expected: the outer panic"))
    );
    // The cleanup ran during the unwinding: handle 1 panicked, handle 2 got
    // the fallback, the guard returned.
    assert_eq!(*cleaned.borrow(), [0, 1]);
    assert_eq!(*results.borrow(), [0, -1, -1]);
    assert_eq!(drops.get(), 1);
    // The inner panic was reported.
    let reports = recording.with_message(
        ReportKind::KeptPanicDroppedWhileUnwinding,
        "expected: cleanup of handle 1",
    );
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0]
            .text
            .starts_with("a guard finished while its thread was already panicking"),
        "{}",
        reports[0].text
    );
    // The thread is not left poisoned: a guarded call runs user code.
    let again = Cleanup::scope(
        |handle| handle + 1,
        |f, ud| {
            // SAFETY: `f`/`ud` are alive for the scope.
            unsafe { each(f, ud, 2) }
        },
    );
    assert_eq!(again, [1, 2]);
}

/// The same, with the destructor's C call in a callback type's `scope`.
struct Statement {
    finalized: Rc<RefCell<Vec<c_int>>>,
}

impl Drop for Statement {
    fn drop(&mut self) {
        let finalized = self.finalized.clone();
        let got = Cleanup::scope(
            |handle| {
                finalized.borrow_mut().push(handle);
                assert!(handle != 0, "expected: finalizer");
                handle
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f: Each, ud| unsafe { each(f, ud, 2) },
        );
        self.finalized.borrow_mut().extend(got);
    }
}

#[test]
fn scope_in_a_drop_during_a_panic_returns_and_the_outer_panic_goes_on() {
    let recording = reporter::recording();
    let finalized = Rc::new(RefCell::new(Vec::new()));
    let statement = Statement {
        finalized: finalized.clone(),
    };
    let payload = panic_payload(move || {
        let _statement = statement;
        panic!("expected: the statement's owner panicked");
    });
    assert_eq!(
        message(&*payload),
        "expected: the statement's owner panicked"
    );
    // Handle 0 panicked, handle 1 got the fallback; the scope returned the
    // C call's value instead of raising the kept panic, and reported it.
    assert_eq!(*finalized.borrow(), [0, -1, -1]);
    let reports = recording.with_message(
        ReportKind::KeptPanicDroppedWhileUnwinding,
        "expected: finalizer",
    );
    assert_eq!(reports.len(), 1, "{reports:?}");
}
