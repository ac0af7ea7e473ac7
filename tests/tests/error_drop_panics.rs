//! User code on the error path of a `Result` callback (README "Errors as
//! values"): the `on_error` expression and the `Drop` of the error value.
//! A panic there is handled like a panic of the callback under its
//! `on_panic` policy, or, where no policy can take it, caught and reported
//! naming the callback: never a silent drop, and never the bare
//! "panic in a destructor during cleanup" abort that a `Drop` panicking
//! during an unwinding causes.
//!
//! Every error value here panics when dropped (and counts its drops). The
//! C side is simulated in Rust. Scenarios that aborted the process before
//! the runtime handled this run in a child process (this test binary again,
//! with `SCENARIO` naming what to do, running only the `child` test, as in
//! `abort.rs`), so that an abort fails the test instead of ending the
//! suite; under Miri, which cannot spawn processes, they run in the test's
//! own process. The scenarios that must abort run only in a child.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ffi_callback::{Report, ReportKind, callback, resume_panics, try_resume};

use ffi_callback_tests::panics::{message, panic_payload};

// ---------------------------------------------------------------------------
// The error value and the callbacks
// ---------------------------------------------------------------------------

/// An error whose `Drop` counts, then panics if `explodes`. A negative
/// `code` makes `on_error = e.code()` panic.
#[derive(Debug)]
struct Bomb {
    code: c_int,
    explodes: bool,
    drops: Arc<AtomicU32>,
}

impl Bomb {
    fn new(code: c_int, explodes: bool, drops: &Arc<AtomicU32>) -> Self {
        Bomb {
            code,
            explodes,
            drops: Arc::clone(drops),
        }
    }

    /// What C receives for it (`on_error`); panics for a negative code.
    fn code(&self) -> c_int {
        if self.code < 0 {
            panic!("expected: on_error panicked for {}", self.code);
        }
        self.code
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.explodes {
            panic!("expected: dropping Bomb({}) panicked", self.code);
        }
    }
}

fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

fn count(drops: &Arc<AtomicU32>) -> u32 {
    drops.load(Ordering::SeqCst)
}

/// `on_panic = resume` (the default).
#[callback(fallback = -1, error = Bomb, on_error = e.code())]
type Step = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

/// `on_panic = fallback`.
#[callback(on_panic = fallback, fallback = -2, error = Bomb, on_error = e.code())]
type StepOrFallback = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

/// `on_panic = abort`.
#[callback(on_panic = abort, error = Bomb, on_error = e.code())]
type StepOrAbort = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

/// `on_panic = unwind`, with an unwinding ABI.
#[callback(on_panic = unwind, error = Bomb, on_error = e.code())]
type StepOrUnwind = unsafe extern "C-unwind" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

/// A callback set whose destroy entry can fail.
#[callback]
trait Conn {
    #[callback(fallback = -3, on_error = e.code())]
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> Result<c_int, Bomb>;
}

/// The set's state: `close` fails with `Bomb(code, explodes)`.
struct Connection {
    code: c_int,
    explodes: bool,
    drops: Arc<AtomicU32>,
}

impl Conn for Connection {
    fn close(self) -> Result<c_int, Bomb> {
        Err(Bomb::new(self.code, self.explodes, &self.drops))
    }
}

/// A fn-form callback that fails with an exploding `Bomb(n)`
/// (`on_panic = resume`, the default).
#[callback(fallback = -4, on_error = e.code())]
extern "C" fn fail_fn(n: c_int, #[user_data] drops: &Arc<AtomicU32>) -> Result<c_int, Bomb> {
    Err(Bomb::new(n, true, drops))
}

/// [`fail_fn`] under `on_panic = fallback`.
#[callback(on_panic = fallback, fallback = -5, on_error = e.code())]
extern "C" fn fail_fn_or_fallback(
    n: c_int,
    #[user_data] drops: &Arc<AtomicU32>,
) -> Result<c_int, Bomb> {
    Err(Bomb::new(n, true, drops))
}

/// [`fail_fn`] under `on_panic = abort`.
#[callback(on_panic = abort, on_error = e.code())]
extern "C" fn fail_fn_or_abort(
    n: c_int,
    #[user_data] drops: &Arc<AtomicU32>,
) -> Result<c_int, Bomb> {
    Err(Bomb::new(n, true, drops))
}

/// [`fail_fn`] under `on_panic = unwind`, with an unwinding ABI.
#[callback(on_panic = unwind, on_error = e.code())]
extern "C-unwind" fn fail_fn_or_unwind(
    n: c_int,
    #[user_data] drops: &Arc<AtomicU32>,
) -> Result<c_int, Bomb> {
    Err(Bomb::new(n, true, drops))
}

/// The status a raising child exits with: its `raise` stands in for a C
/// library's longjmp (which never returns) by ending the process.
const RAISED: i32 = 71;

/// [`fail_fn`] with a raise exit: its error goes to `on_raise`, is dropped
/// (which panics), and then the call raises.
#[callback(
    on_raise = eprintln!("child: on_raise saw: {failure}"),
    raise = std::process::exit(RAISED),
)]
extern "C" fn fail_fn_raising(
    n: c_int,
    #[user_data] drops: &Arc<AtomicU32>,
) -> Result<c_int, Bomb> {
    Err(Bomb::new(n, true, drops))
}

impl std::fmt::Display for Bomb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bomb({})", self.code)
    }
}

// ---------------------------------------------------------------------------
// Reports, recorded per thread
// ---------------------------------------------------------------------------

thread_local! {
    static REPORTS: RefCell<Vec<(ReportKind, String)>> = const { RefCell::new(Vec::new()) };
}

fn record(report: &Report<'_>) {
    let _ = REPORTS.try_with(|reports| {
        reports
            .borrow_mut()
            .push((report.kind(), report.to_string()));
    });
}

/// Runs `f`; returns its value and the reports made on this thread
/// meanwhile.
fn reports_during<R>(f: impl FnOnce() -> R) -> (R, Vec<(ReportKind, String)>) {
    ffi_callback::set_reporter(record);
    let before = REPORTS.with(|reports| reports.borrow().len());
    let value = f();
    let made = REPORTS.with(|reports| reports.borrow_mut().split_off(before));
    (value, made)
}

/// The one report of `kind` among `reports`, which must mention `needles`.
fn assert_reported(reports: &[(ReportKind, String)], kind: ReportKind, needles: &[&str]) {
    let found: Vec<&String> = reports
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(found.len(), 1, "one {kind:?} report in {reports:#?}");
    for needle in needles {
        assert!(
            found[0].contains(needle),
            "the report should mention {needle:?}: {}",
            found[0]
        );
    }
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/// The environment variable that selects the child's scenario.
const SCENARIO: &str = "FFI_CALLBACK_ERROR_DROP_SCENARIO";

/// The child side: does nothing unless `SCENARIO` is set.
#[test]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    disable_core_dumps();
    eprintln!("child: running scenario {scenario}");
    match scenario.as_str() {
        "on_error_panics_under_resume" => on_error_panics_under_resume(),
        "on_error_panics_in_a_once" => on_error_panics_in_a_once(),
        "on_error_panics_in_a_destroy_entry" => on_error_panics_in_a_destroy_entry(),
        "on_error_panics_under_fallback" => on_error_panics_under_fallback(),
        "kept_error_dropped_while_a_panic_wins" => kept_error_dropped_while_a_panic_wins(),
        "on_error_panics_under_abort" => on_error_panics_under_abort(),
        "on_error_panics_under_unwind" => on_error_panics_under_unwind(),
        "unkept_error_panics_without_any_guard" => unkept_error_panics_without_any_guard(),
        "fn_on_error_panics_under_resume" => fn_on_error_panics_under_resume(),
        "fn_on_error_panics_under_fallback" => fn_on_error_panics_under_fallback(),
        "fn_on_error_panics_under_unwind" => fn_on_error_panics_under_unwind(),
        "fn_on_error_panics_under_abort" => fn_on_error_panics_under_abort(),
        "fn_raising_error_drop_panics" => fn_raising_error_drop_panics(),
        "ended_on_error_panics" => ended_on_error_panics(),
        "ended_keep_error_panics" => ended_keep_error_panics(),
        "type_ended_on_error_panics" => type_ended_on_error_panics(),
        other => panic!("unknown scenario {other}"),
    }
    eprintln!("child: scenario {scenario} returned");
}

fn disable_core_dumps() {
    #[cfg(not(miri))]
    {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `none` is a valid `rlimit`; lowering a limit needs no
        // privilege.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    }
}

/// Runs the `child` test in a new process with `scenario`; how it ended
/// and its stderr.
fn spawn_child(scenario: &str) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains(&format!("child: running scenario {scenario}")),
        "the child ran the scenario; stderr:\n{stderr}"
    );
    (output.status, stderr)
}

/// Runs `scenario`, which must return (its own assertions passing): in a
/// child process, or, under Miri, here.
fn survives(name: &str, scenario: fn()) {
    if cfg!(miri) {
        scenario();
        return;
    }
    let (status, stderr) = spawn_child(name);
    assert!(
        status.success(),
        "the scenario must pass without aborting, not end with {status:?} (signal {:?}); \
         stderr:\n{stderr}",
        status.signal()
    );
    assert!(
        stderr.contains(&format!("child: scenario {name} returned")),
        "stderr:\n{stderr}"
    );
}

/// Runs `scenario` in a child process, which must abort with a message
/// naming the callback (and not Rust's bare destructor-during-cleanup
/// abort); its stderr.
fn aborts_naming(name: &str, needles: &[&str]) -> String {
    let (status, stderr) = spawn_child(name);
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "the child must die by SIGABRT, not {status:?}; stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("panic in a destructor during cleanup"),
        "the abort must be the crate's, naming the callback; stderr:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr should mention {needle:?}; it is:\n{stderr}"
        );
    }
    stderr
}

// ---------------------------------------------------------------------------
// `on_error` panics, and the error's `Drop` panics too: the error is
// dropped under a catch (reported), and the `on_error` panic goes to the
// policy. Before, the error was dropped while that panic unwound, and its
// `Drop`'s panic aborted the process.
// ---------------------------------------------------------------------------

fn on_error_panics_under_resume() {
    let drops = counter();
    let mut received = 0;
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            Step::try_scope(
                |n| -> Result<c_int, Bomb> { Err(Bomb::new(-n, true, &drops)) },
                // SAFETY: `f`/`ud` are alive for the scope.
                |f, ud| received = unsafe { f(3, ud) },
            )
        })
    });
    assert_eq!(message(&*payload), "expected: on_error panicked for -3");
    assert_eq!(received, -1, "C received the fallback");
    assert_eq!(count(&drops), 1, "the error was dropped once");
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "dropping the error value of the callback `error_drop_panics::Step`",
            "expected: dropping Bomb(-3) panicked",
            "`on_error` expression panicked",
        ],
    );
}

#[test]
fn on_error_panicking_while_the_error_drop_panics_goes_to_the_guard() {
    survives("on_error_panics_under_resume", on_error_panics_under_resume);
}

fn on_error_panics_in_a_once() {
    let drops = counter();
    let drops_in = Arc::clone(&drops);
    let raw = Step::once(move |n| -> Result<c_int, Bomb> { Err(Bomb::new(-n, true, &drops_in)) })
        .into_raw();
    let mut received = 0;
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            // SAFETY: the one call of a `once` trampoline with its user data.
            try_resume::<_, Bomb>(|| received = unsafe { (raw.function)(4, raw.user_data) })
        })
    });
    assert_eq!(message(&*payload), "expected: on_error panicked for -4");
    assert_eq!(received, -1);
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &["`error_drop_panics::Step`", "dropping Bomb(-4) panicked"],
    );
}

#[test]
fn once_callback_whose_on_error_and_error_drop_panic_goes_to_the_guard() {
    survives("on_error_panics_in_a_once", on_error_panics_in_a_once);
}

fn on_error_panics_in_a_destroy_entry() {
    let drops = counter();
    let state = Connection {
        code: -5,
        explodes: true,
        drops: Arc::clone(&drops),
    };
    let ud = state.boxed().into_raw();
    let mut received = 0;
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            // SAFETY: C's last call on the state it was handed.
            try_resume::<_, Bomb>(|| received = unsafe { Connection::CLOSE(ud) })
        })
    });
    assert_eq!(message(&*payload), "expected: on_error panicked for -5");
    assert_eq!(received, -3);
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &["dropping Bomb(-5) panicked"],
    );
}

#[test]
fn set_destroy_entry_whose_on_error_and_error_drop_panic_goes_to_the_guard() {
    survives(
        "on_error_panics_in_a_destroy_entry",
        on_error_panics_in_a_destroy_entry,
    );
}

fn on_error_panics_under_fallback() {
    let drops = counter();
    let (received, reports) = reports_during(|| {
        StepOrFallback::scope(
            |n| -> Result<c_int, Bomb> { Err(Bomb::new(-n, true, &drops)) },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| unsafe { f(6, ud) },
        )
    });
    assert_eq!(received, -2, "C received the fallback");
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "`error_drop_panics::StepOrFallback`",
            "dropping Bomb(-6) panicked",
        ],
    );
    assert_reported(
        &reports,
        ReportKind::PanicReturnedFallback,
        &[
            "`error_drop_panics::StepOrFallback`",
            "expected: on_error panicked for -6",
        ],
    );
}

#[test]
fn on_error_panicking_under_fallback_is_reported_and_returns_the_fallback() {
    survives(
        "on_error_panics_under_fallback",
        on_error_panics_under_fallback,
    );
}

fn on_error_panics_under_unwind() {
    let drops = counter();
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            StepOrUnwind::scope(
                |n| -> Result<c_int, Bomb> { Err(Bomb::new(-n, true, &drops)) },
                // SAFETY: `f`/`ud` are alive for the scope.
                |f, ud| unsafe { f(18, ud) },
            )
        })
    });
    // The panic unwound through the caller, and the call left the holder
    // on the way (the scope then dropped it without aborting).
    assert_eq!(message(&*payload), "expected: on_error panicked for -18");
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "`error_drop_panics::StepOrUnwind`",
            "dropping Bomb(-18) panicked",
        ],
    );
}

#[test]
fn on_error_panicking_under_unwind_unwinds_after_dropping_the_error() {
    survives("on_error_panics_under_unwind", on_error_panics_under_unwind);
}

fn on_error_panics_under_abort() {
    let drops = counter();
    StepOrAbort::scope(
        |n| -> Result<c_int, Bomb> { Err(Bomb::new(-n, true, &drops)) },
        // SAFETY: `f`/`ud` are alive for the scope.
        |f, ud| unsafe { f(7, ud) },
    );
}

#[test]
#[cfg_attr(miri, ignore = "aborts; Miri cannot run a child process")]
fn on_error_panicking_under_abort_aborts_naming_the_callback() {
    aborts_naming(
        "on_error_panics_under_abort",
        &[
            "ffi-callback: the callback `error_drop_panics::StepOrAbort` \
             (tests/tests/error_drop_panics.rs:",
            "panicked: expected: on_error panicked for -7",
            "(on_panic = abort)",
            "dropping the error value of the callback `error_drop_panics::StepOrAbort`",
        ],
    );
}

// ---------------------------------------------------------------------------
// An error kept by `try_resume` whose guarded call then panics: the panic
// wins, and the error is dropped while it unwinds. Its `Drop`'s panic is
// caught and reported; the first panic goes on. Before, it aborted.
// ---------------------------------------------------------------------------

fn kept_error_dropped_while_a_panic_wins() {
    let drops = counter();
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            Step::try_scope(
                |n| -> Result<c_int, Bomb> { Err(Bomb::new(n, true, &drops)) },
                |f, ud| {
                    // SAFETY: `f`/`ud` are alive for the scope.
                    let received = unsafe { f(8, ud) };
                    assert_eq!(received, 8, "C received `on_error`'s value");
                    panic!("expected: the C call panicked");
                },
            )
        })
    });
    assert_eq!(message(&*payload), "expected: the C call panicked");
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "`error_drop_panics::Step`",
            "dropping Bomb(8) panicked",
            "kept for `try_resume`/`try_scope`, which ended with a panic",
        ],
    );
}

#[test]
fn a_kept_error_whose_drop_panics_while_a_panic_wins_is_reported() {
    survives(
        "kept_error_dropped_while_a_panic_wins",
        kept_error_dropped_while_a_panic_wins,
    );
}

// ---------------------------------------------------------------------------
// An error that no guard keeps is dropped by the runtime: its `Drop`'s
// panic is a panic of the callback, for its policy. Before, it was caught
// and dropped without a word, and C received `on_error`'s value.
// ---------------------------------------------------------------------------

#[test]
fn error_without_a_guard_of_its_type_whose_drop_panics_is_resumed_by_the_guard() {
    let drops = counter();
    let mut received = [0; 2];
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            Step::scope(
                |n| -> Result<c_int, Bomb> { Err(Bomb::new(n, true, &drops)) },
                // SAFETY: `f`/`ud` are alive for the scope.
                |f, ud| received = unsafe { [f(9, ud), f(10, ud)] },
            )
        })
    });
    assert_eq!(message(&*payload), "expected: dropping Bomb(9) panicked");
    // The drop's panic is the callback's: C received the fallback, and the
    // holder, poisoned, did not run its closure again.
    assert_eq!(received, [-1, -1]);
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropped,
        &["`error_drop_panics::Step`"],
    );
}

#[test]
fn a_second_error_whose_drop_panics_is_a_panic_that_wins_over_the_first() {
    let drops = counter();
    let mut received = [0; 2];
    let calls = Rc::new(Cell::new(0));
    let payload = panic_payload(|| {
        try_resume::<_, Bomb>(|| {
            // Two holders: the first error is kept, the second is not.
            let (calls_in, drops_in) = (Rc::clone(&calls), Arc::clone(&drops));
            let first = Step::boxed(move |n| -> Result<c_int, Bomb> {
                calls_in.set(calls_in.get() + 1);
                Err(Bomb::new(n, false, &drops_in))
            });
            let (calls_in, drops_in) = (Rc::clone(&calls), Arc::clone(&drops));
            let second = Step::boxed(move |n| -> Result<c_int, Bomb> {
                calls_in.set(calls_in.get() + 1);
                Err(Bomb::new(n, true, &drops_in))
            });
            // SAFETY: both boxed holders are alive.
            received = unsafe {
                [
                    first.function()(11, first.user_data()),
                    second.function()(12, second.user_data()),
                ]
            };
        })
    });
    assert_eq!(message(&*payload), "expected: dropping Bomb(12) panicked");
    assert_eq!(calls.get(), 2);
    assert_eq!(received, [11, -1], "the second call's drop panicked");
    assert_eq!(count(&drops), 2, "both errors dropped once");
}

#[test]
fn destroy_entry_error_without_a_guard_whose_drop_panics_is_resumed_by_the_guard() {
    let drops = counter();
    let state = Connection {
        code: 13,
        explodes: true,
        drops: Arc::clone(&drops),
    };
    let ud = state.boxed().into_raw();
    let mut received = 0;
    let payload = panic_payload(|| {
        // SAFETY: C's last call on the state it was handed.
        resume_panics(|| received = unsafe { Connection::CLOSE(ud) })
    });
    assert_eq!(message(&*payload), "expected: dropping Bomb(13) panicked");
    assert_eq!(received, -3);
    assert_eq!(count(&drops), 1);
}

#[test]
fn once_error_without_a_guard_whose_drop_panics_is_resumed_by_the_guard() {
    let drops = counter();
    let drops_in = Arc::clone(&drops);
    let raw = Step::once(move |n| -> Result<c_int, Bomb> { Err(Bomb::new(n, true, &drops_in)) })
        .into_raw();
    let mut received = 0;
    let payload = panic_payload(|| {
        // SAFETY: the one call of a `once` trampoline with its user data.
        resume_panics(|| received = unsafe { (raw.function)(14, raw.user_data) })
    });
    assert_eq!(message(&*payload), "expected: dropping Bomb(14) panicked");
    assert_eq!(received, -1);
    assert_eq!(count(&drops), 1);
}

#[test]
fn on_error_panicking_under_fallback_after_an_unkept_error_reports_the_drop() {
    // `on_panic = fallback`, no guard at all: the error is reported as
    // dropped, its drop's panic as a panic turned into the fallback.
    let drops = counter();
    let (received, reports) = reports_during(|| {
        StepOrFallback::scope(
            |n| -> Result<c_int, Bomb> { Err(Bomb::new(n, true, &drops)) },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| unsafe { f(15, ud) },
        )
    });
    assert_eq!(received, -2);
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropped,
        &["`error_drop_panics::StepOrFallback`"],
    );
    assert_reported(
        &reports,
        ReportKind::PanicReturnedFallback,
        &["expected: dropping Bomb(15) panicked"],
    );
}

fn unkept_error_panics_without_any_guard() {
    let drops = counter();
    let holder = Step::boxed(move |n| -> Result<c_int, Bomb> { Err(Bomb::new(n, true, &drops)) });
    // SAFETY: the boxed holder is alive; no guard at all on this thread.
    unsafe { holder.function()(16, holder.user_data()) };
}

#[test]
#[cfg_attr(miri, ignore = "aborts; Miri cannot run a child process")]
fn unkept_error_whose_drop_panics_with_no_guard_at_all_aborts_naming_the_callback() {
    aborts_naming(
        "unkept_error_panics_without_any_guard",
        &[
            "ffi-callback: the callback `error_drop_panics::Step` \
             (tests/tests/error_drop_panics.rs:",
            "panicked: expected: dropping Bomb(16) panicked",
            "no `ffi_callback::resume_panics` guard",
        ],
    );
}

// ---------------------------------------------------------------------------
// The fn form: its `Err` path runs after the body's catch, under the
// policy's own, as for the callback types. Before, `on_error` ran inside
// the body's catch with the error live, and an error no guard kept was
// dropped outside any policy.
// ---------------------------------------------------------------------------

fn fn_on_error_panics_under_resume() {
    let drops = counter();
    let mut received = 0;
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            // SAFETY: the user data is made for `fail_fn` from a live `&Arc`.
            try_resume::<_, Bomb>(|| received = unsafe { fail_fn(-20, fail_fn::user_data(&drops)) })
        })
    });
    assert_eq!(message(&*payload), "expected: on_error panicked for -20");
    assert_eq!(received, -4, "C received the fallback");
    assert_eq!(count(&drops), 1, "the error was dropped once");
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "dropping the error value of the callback `error_drop_panics::fail_fn`",
            "expected: dropping Bomb(-20) panicked",
            "`on_error` expression panicked",
        ],
    );
}

#[test]
fn fn_form_on_error_panicking_while_the_error_drop_panics_goes_to_the_guard() {
    survives(
        "fn_on_error_panics_under_resume",
        fn_on_error_panics_under_resume,
    );
}

fn fn_on_error_panics_under_fallback() {
    let drops = counter();
    let (received, reports) = reports_during(|| {
        // SAFETY: the user data is made for `fail_fn_or_fallback` from a
        // live `&Arc`.
        unsafe { fail_fn_or_fallback(-21, fail_fn_or_fallback::user_data(&drops)) }
    });
    assert_eq!(received, -5, "C received the fallback");
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "`error_drop_panics::fail_fn_or_fallback`",
            "dropping Bomb(-21) panicked",
        ],
    );
    assert_reported(
        &reports,
        ReportKind::PanicReturnedFallback,
        &[
            "`error_drop_panics::fail_fn_or_fallback`",
            "expected: on_error panicked for -21",
        ],
    );
}

#[test]
fn fn_form_on_error_panicking_under_fallback_is_reported_and_returns_the_fallback() {
    survives(
        "fn_on_error_panics_under_fallback",
        fn_on_error_panics_under_fallback,
    );
}

fn fn_on_error_panics_under_unwind() {
    let drops = counter();
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            // SAFETY: the user data is made for `fail_fn_or_unwind` from a
            // live `&Arc`; the call may unwind (`C-unwind`).
            unsafe { fail_fn_or_unwind(-22, fail_fn_or_unwind::user_data(&drops)) }
        })
    });
    assert_eq!(message(&*payload), "expected: on_error panicked for -22");
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "`error_drop_panics::fail_fn_or_unwind`",
            "dropping Bomb(-22) panicked",
        ],
    );
}

#[test]
fn fn_form_on_error_panicking_under_unwind_unwinds_after_dropping_the_error() {
    survives(
        "fn_on_error_panics_under_unwind",
        fn_on_error_panics_under_unwind,
    );
}

fn fn_on_error_panics_under_abort() {
    let drops = counter();
    // SAFETY: the user data is made for `fail_fn_or_abort` from a live `&Arc`.
    unsafe { fail_fn_or_abort(-23, fail_fn_or_abort::user_data(&drops)) };
}

#[test]
#[cfg_attr(miri, ignore = "aborts; Miri cannot run a child process")]
fn fn_form_on_error_panicking_under_abort_aborts_naming_the_callback() {
    aborts_naming(
        "fn_on_error_panics_under_abort",
        &[
            "ffi-callback: the callback `error_drop_panics::fail_fn_or_abort` \
             (tests/tests/error_drop_panics.rs:",
            "panicked: expected: on_error panicked for -23",
            "(on_panic = abort)",
            "dropping the error value of the callback `error_drop_panics::fail_fn_or_abort`",
        ],
    );
}

#[test]
fn fn_form_error_without_a_guard_of_its_type_whose_drop_panics_is_resumed_by_the_guard() {
    let drops = counter();
    let mut received = [0; 2];
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            // SAFETY: the user data is made for `fail_fn` from a live `&Arc`.
            resume_panics(|| unsafe {
                let ud = fail_fn::user_data(&drops);
                received = [fail_fn(17, ud), fail_fn(18, ud)];
            })
        })
    });
    // The drop's panic is the callback's: kept for the guard, C received
    // the fallback, and the poisoned thread did not run the body again.
    assert_eq!(message(&*payload), "expected: dropping Bomb(17) panicked");
    assert_eq!(received, [-4, -4]);
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropped,
        &["`error_drop_panics::fail_fn`"],
    );
}

#[test]
fn fn_form_unkept_error_whose_drop_panics_under_fallback_returns_the_fallback() {
    let drops = counter();
    let (received, reports) = reports_during(|| {
        // SAFETY: the user data is made for `fail_fn_or_fallback` from a
        // live `&Arc`.
        unsafe { fail_fn_or_fallback(19, fail_fn_or_fallback::user_data(&drops)) }
    });
    assert_eq!(received, -5);
    assert_eq!(count(&drops), 1);
    assert_reported(
        &reports,
        ReportKind::ErrorDropped,
        &["`error_drop_panics::fail_fn_or_fallback`"],
    );
    assert_reported(
        &reports,
        ReportKind::PanicReturnedFallback,
        &["expected: dropping Bomb(19) panicked"],
    );
}

fn fn_raising_error_drop_panics() {
    let drops = counter();
    // SAFETY: the user data is made for `fail_fn_raising` from a live `&Arc`.
    unsafe { fail_fn_raising(24, fail_fn_raising::user_data(&drops)) };
}

#[test]
#[cfg_attr(miri, ignore = "exits; Miri cannot run a child process")]
fn fn_form_raise_whose_error_drop_panics_reports_it_and_raises() {
    let (status, stderr) = spawn_child("fn_raising_error_drop_panics");
    assert_eq!(
        status.code(),
        Some(RAISED),
        "the call raised; stderr:\n{stderr}"
    );
    for needle in [
        "child: on_raise saw: Bomb(24)",
        "dropping the error value of the callback `error_drop_panics::fail_fn_raising`",
        "expected: dropping Bomb(24) panicked",
        "went to its `on_raise` handler",
    ] {
        assert!(
            stderr.contains(needle),
            "stderr should mention {needle:?}; it is:\n{stderr}"
        );
    }
}

// ---------------------------------------------------------------------------
// `keep_error = false | EXPR` ends the error inside the call
// (`end_error`): a panic of `on_error` or of `keep_error`'s EXPR while the
// error's `Drop` panics is handled as for a kept error (the error dropped
// under a catch and reported, the panic the callback's). Before, the error
// was dropped while that panic unwound: the bare destructor-during-cleanup
// abort (audit 26).
// ---------------------------------------------------------------------------

/// [`fail_fn`] with `keep_error = false`.
#[callback(fallback = -6, on_error = e.code(), keep_error = false)]
extern "C" fn fail_fn_ended(n: c_int, #[user_data] drops: &Arc<AtomicU32>) -> Result<c_int, Bomb> {
    Err(Bomb::new(n, true, drops))
}

/// [`fail_fn`] with a `keep_error = EXPR` that panics for a negative code.
#[callback(fallback = -7, on_error = 0, keep_error = e.code() > 100)]
extern "C" fn fail_fn_keep_panics(
    n: c_int,
    #[user_data] drops: &Arc<AtomicU32>,
) -> Result<c_int, Bomb> {
    Err(Bomb::new(n, true, drops))
}

fn ended_on_error_panics() {
    let drops = counter();
    let mut received = 0;
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            resume_panics(|| {
                // SAFETY: the user data is made for `fail_fn_ended` from a
                // live `&Arc`.
                received = unsafe { fail_fn_ended(-30, fail_fn_ended::user_data(&drops)) }
            })
        })
    });
    assert_eq!(message(&*payload), "expected: on_error panicked for -30");
    assert_eq!(received, -6, "C received the fallback");
    assert_eq!(count(&drops), 1, "the error was dropped once");
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "`error_drop_panics::fail_fn_ended`",
            "expected: dropping Bomb(-30) panicked",
        ],
    );
}

#[test]
fn keep_error_false_on_error_panicking_while_the_error_drop_panics_goes_to_the_guard() {
    survives("ended_on_error_panics", ended_on_error_panics);
}

fn ended_keep_error_panics() {
    let drops = counter();
    let mut received = 0;
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            resume_panics(|| {
                // SAFETY: the user data is made for `fail_fn_keep_panics`
                // from a live `&Arc`.
                received =
                    unsafe { fail_fn_keep_panics(-31, fail_fn_keep_panics::user_data(&drops)) }
            })
        })
    });
    assert_eq!(message(&*payload), "expected: on_error panicked for -31");
    assert_eq!(received, -7, "C received the fallback");
    assert_eq!(count(&drops), 1, "the error was dropped once");
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "`error_drop_panics::fail_fn_keep_panics`",
            "expected: dropping Bomb(-31) panicked",
        ],
    );
}

#[test]
fn keep_error_expr_panicking_while_the_error_drop_panics_goes_to_the_guard() {
    survives("ended_keep_error_panics", ended_keep_error_panics);
}

/// [`Step`] with `keep_error = false`.
#[callback(fallback = -8, error = Bomb, on_error = e.code(), keep_error = false)]
type StepEnded = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

fn type_ended_on_error_panics() {
    let drops = counter();
    let mut received = 0;
    let (payload, reports) = reports_during(|| {
        panic_payload(|| {
            StepEnded::scope(
                |n| -> Result<c_int, Bomb> { Err(Bomb::new(-n, true, &drops)) },
                // SAFETY: `f`/`ud` are alive for the scope.
                |f, ud| received = unsafe { f(32, ud) },
            )
        })
    });
    assert_eq!(message(&*payload), "expected: on_error panicked for -32");
    assert_eq!(received, -8, "C received the fallback");
    assert_eq!(count(&drops), 1, "the error was dropped once");
    assert_reported(
        &reports,
        ReportKind::ErrorDropPanicked,
        &[
            "`error_drop_panics::StepEnded`",
            "expected: dropping Bomb(-32) panicked",
        ],
    );
}

#[test]
fn type_keep_error_false_on_error_panicking_while_the_error_drop_panics_goes_to_the_guard() {
    survives("type_ended_on_error_panics", type_ended_on_error_panics);
}
