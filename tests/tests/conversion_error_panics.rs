//! A failed `#[into(T)]` conversion whose error panics in its `Debug` (which
//! the refusal prints) or its `Drop` (audit 27): the panic is the call's, as
//! a panicking `try_from` is, handled by the callback's policy. Before, the
//! `Debug` ran inside the panic machinery, formatting the refusal (a panic
//! while processing a panic: the process aborted without naming the
//! callback), and the `Drop` while the refusal unwound (an abort too).

use std::cell::Cell;
use std::ffi::{c_int, c_void};

use ffi_callback::{Report, ReportKind, callback, resume_panics};
use ffi_callback_tests::panics::{message, panic_payload, panics_during};

/// An odd number, converted from C's `int`.
struct Odd(c_int);

/// A conversion error whose `Debug` panics.
struct DebugPanics;

impl std::fmt::Debug for DebugPanics {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("the error's Debug panicked")
    }
}

/// A conversion error whose `Drop` panics.
#[derive(Debug)]
struct DropPanics;

impl Drop for DropPanics {
    fn drop(&mut self) {
        panic!("the error's Drop panicked")
    }
}

/// `Odd`, whose conversion fails for an even number with the error `E`.
struct OddVia<E>(Odd, std::marker::PhantomData<E>);

impl TryFrom<c_int> for OddVia<DebugPanics> {
    type Error = DebugPanics;
    fn try_from(n: c_int) -> Result<Self, DebugPanics> {
        if n % 2 == 1 {
            Ok(OddVia(Odd(n), std::marker::PhantomData))
        } else {
            Err(DebugPanics)
        }
    }
}

impl TryFrom<c_int> for OddVia<DropPanics> {
    type Error = DropPanics;
    fn try_from(n: c_int) -> Result<Self, DropPanics> {
        if n % 2 == 1 {
            Ok(OddVia(Odd(n), std::marker::PhantomData))
        } else {
            Err(DropPanics)
        }
    }
}

thread_local! {
    static REPORTS: std::cell::RefCell<Vec<(ReportKind, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn record(report: &Report<'_>) {
    let entry = (
        report.kind(),
        report.callback().unwrap_or_default().to_owned(),
    );
    REPORTS.with(|reports| reports.borrow_mut().push(entry));
}

/// The reports made on this thread while `f` runs.
fn reports_during<R>(f: impl FnOnce() -> R) -> (R, Vec<(ReportKind, String)>) {
    ffi_callback::set_reporter(record);
    let before = REPORTS.with(|reports| reports.borrow().len());
    let value = f();
    (value, REPORTS.with(|r| r.borrow_mut().split_off(before)))
}

#[callback(on_panic = fallback, fallback = -1)]
extern "C" fn half_debug(#[into(OddVia<DebugPanics>)] n: c_int) -> c_int {
    n.0.0 / 2
}

#[callback(on_panic = fallback, fallback = -1)]
extern "C" fn half_drop(#[into(OddVia<DropPanics>)] n: c_int) -> c_int {
    n.0.0 / 2
}

#[test]
fn an_error_whose_debug_panics_is_the_call_s_panic() {
    let ((got, reports), raised) =
        panics_during(|| reports_during(|| [half_debug(3), half_debug(4)]));
    assert_eq!(got, [1, -1]);
    assert_eq!(raised, ["the error's Debug panicked"]);
    assert_eq!(
        reports,
        [(
            ReportKind::PanicReturnedFallback,
            "conversion_error_panics::half_debug".to_owned()
        )]
    );
}

#[test]
fn an_error_whose_drop_panics_is_the_call_s_panic() {
    let ((got, reports), raised) =
        panics_during(|| reports_during(|| [half_drop(3), half_drop(4)]));
    assert_eq!(got, [1, -1]);
    assert_eq!(raised, ["the error's Drop panicked"]);
    assert_eq!(
        reports,
        [(
            ReportKind::PanicReturnedFallback,
            "conversion_error_panics::half_drop".to_owned()
        )]
    );
}

/// A callback type under `resume` (the default): the panic is kept and
/// resumed when the C call returns.
#[callback(fallback = -1)]
type Half = unsafe extern "C" fn(
    #[into(OddVia<DebugPanics>)] n: c_int,
    #[user_data] ud: *mut c_void,
) -> c_int;

#[test]
fn an_error_whose_debug_panics_is_resumed_with_its_payload() {
    let calls = Cell::new(0);
    let mut got = [0; 2];
    let payload = panic_payload(|| {
        Half::scope(
            |n: OddVia<DebugPanics>| {
                calls.set(calls.get() + 1);
                n.0.0 / 2
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| got = unsafe { [f(4, ud), f(3, ud)] },
        )
    });
    assert_eq!(message(&*payload), "the error's Debug panicked");
    assert_eq!(got, [-1, -1], "the panic poisons the rest of the call");
    assert_eq!(calls.get(), 0);
    // And under the caller's own guard, for a fn.
    let payload = panic_payload(|| resume_panics(|| half_debug_resumed(4)));
    assert_eq!(message(&*payload), "the error's Debug panicked");
}

#[callback(fallback = -1)]
extern "C" fn half_debug_resumed(#[into(OddVia<DebugPanics>)] n: c_int) -> c_int {
    n.0.0 / 2
}
