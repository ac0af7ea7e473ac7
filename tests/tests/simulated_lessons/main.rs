//! What the ports of real bindings taught (issues 13, 15, 16, 17 and the
//! simulated half of 14), against C APIs played by Rust `extern "C"` fns, so
//! that all of it runs under Miri (Stacked and Tree Borrows), which checks
//! every pointer the generated code unpacks and every allocation's single
//! free:
//!
//! - `recovery`: holders that run again once their panic reached the Rust
//!   caller (`boxed`, `send, on_panic = resume`, `once` with destroy), and
//!   Rust-owned `Boxed` holders without a destroy-notify (15.1, 15.2);
//! - `reports`: the reporter, a guard in a `Drop` during a panic, a destroy
//!   that panicked (15.3, 13.3);
//! - `reentry`: the fn form's debug re-entry check keyed on address and type
//!   (16.1);
//! - `threads`: `local` callbacks (16.2);
//! - `guards`: `unguarded = fallback`, `resume_panics_with` (16.3);
//! - `presets`: `ffi_callback::preset!` (16.4);
//! - `accessors`: `user_data = EXPR` returning references (17.1);
//! - `counted`: `Arc<T>` / `Rc<T>` user data (17.2);
//! - `scope_once`: `FnOnce` for one synchronous call (17.3);
//! - `errors`: callbacks returning `Result` (13.1);
//! - `futures`: a callback that runs once, as a `Future` (14).

mod accessors;
mod counted;
mod errors;
mod futures;
mod guards;
mod names_and_messages;
mod presets;
mod recovery;
mod reentry;
mod reports;
mod scope_once;
mod threads;

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A typed panic payload, to check that the original payload comes back.
#[derive(Debug, PartialEq)]
struct Boom(c_int);

/// Counts its drops (captured by closures to check they are freed once).
struct Tracked(Rc<Cell<u32>>);

impl Tracked {
    /// Reads the counter through the capture: a use of the closure's state
    /// that Miri checks is still alive.
    fn drops(&self) -> u32 {
        self.0.get()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn tracked() -> (Tracked, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    (Tracked(drops.clone()), drops)
}

/// `Tracked` for values that cross threads.
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

/// A raw pointer that a simulated C library moves to one of its threads.
#[derive(Clone, Copy, Debug)]
struct SendPtr(*mut c_void);

// SAFETY: only carries user data to the threads a test's simulated C
// library runs on; each test says why what it points to may be used there
// (a `send` holder, a `&Mutex`, or a call or destroy that a `local` holder
// refuses or leaks).
unsafe impl Send for SendPtr {}

/// The C function-pointer shape most simulated APIs below take:
/// `int (*)(void *ud, int n)`.
type Each = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// `for (i = 0; i < n; i++) out[i] = f(ud, i);` as a Rust vector: C keeps
/// calling whatever the callback returned.
///
/// # Safety
/// `ud` is what `f` expects, for `n` calls.
unsafe fn each(f: Each, ud: *mut c_void, n: c_int) -> Vec<c_int> {
    // SAFETY: forwarded.
    (0..n).map(|i| unsafe { f(ud, i) }).collect()
}

/// The reporter, replaced for the tests that read what the crate reports.
/// `set_reporter` is process-wide, so those tests take turns (a static
/// lock), and each reads only the reports about its own callbacks (tests
/// that do not take the lock may report meanwhile).
mod reporter {
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use ffi_callback::{Report, ReportKind};

    /// One report, as the recording reporter saw it.
    #[derive(Debug, Clone)]
    pub(crate) struct Recorded {
        pub(crate) kind: ReportKind,
        pub(crate) callback: Option<String>,
        pub(crate) file: Option<String>,
        pub(crate) panic_message: Option<String>,
        /// The report's `Display`.
        pub(crate) text: String,
    }

    static TURN: Mutex<()> = Mutex::new(());
    static LOG: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());

    fn log() -> MutexGuard<'static, Vec<Recorded>> {
        LOG.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(report: &Report<'_>) {
        let recorded = Recorded {
            kind: report.kind(),
            callback: report.callback().map(str::to_owned),
            file: report.location().map(|(file, _, _)| file.to_owned()),
            panic_message: report.panic_message().map(str::to_owned),
            text: report.to_string(),
        };
        log().push(recorded);
    }

    fn quiet(_: &Report<'_>) {}

    /// While alive, reports are recorded; then a quiet reporter is left.
    pub(crate) struct Recording {
        _turn: MutexGuard<'static, ()>,
    }

    /// Waits for this test's turn, then records reports.
    pub(crate) fn recording() -> Recording {
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        log().clear();
        ffi_callback::set_reporter(record);
        Recording { _turn: turn }
    }

    impl Recording {
        /// The reports about the callback at `path` (`module::Name`).
        pub(crate) fn about(&self, path: &str) -> Vec<Recorded> {
            log()
                .iter()
                .filter(|r| r.callback.as_deref() == Some(path))
                .cloned()
                .collect()
        }

        /// The reports of `kind` whose panic message is `message`.
        pub(crate) fn with_message(&self, kind: ReportKind, message: &str) -> Vec<Recorded> {
            log()
                .iter()
                .filter(|r| r.kind == kind && r.panic_message.as_deref() == Some(message))
                .cloned()
                .collect()
        }
    }

    impl Drop for Recording {
        fn drop(&mut self) {
            ffi_callback::set_reporter(quiet);
        }
    }
}

/// Scenarios that could end the process run in a child process: this test
/// binary again, running only the `child` test with `SCENARIO` naming what
/// to do. (Miri cannot start processes: the tests that do are ignored
/// there.)
mod child {
    use std::process::{Command, Output};

    /// The environment variable that selects the child's scenario.
    pub(crate) const SCENARIO: &str = "FFI_CALLBACK_LESSONS_SCENARIO";

    /// Runs `scenario` in a child process; its output.
    pub(crate) fn run(scenario: &str) -> Output {
        let exe = std::env::current_exe().expect("the test binary's path");
        Command::new(exe)
            .args(["child", "--exact", "--nocapture", "--test-threads=1"])
            .env(SCENARIO, scenario)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("the child runs")
    }
}

/// The child side of `child::run`: does nothing unless `SCENARIO` is set.
#[test]
fn child() {
    let Ok(scenario) = std::env::var(child::SCENARIO) else {
        return;
    };
    match scenario.as_str() {
        "fallback_report" => reports::fallback_report_scenario(),
        "abort_type_after_an_error" => errors::abort_type_after_an_error_scenario(),
        other => panic!("unknown scenario {other}"),
    }
}

/// A minimal executor: polls `future` on this thread, parking between
/// polls; its waker unparks this thread.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread};

    struct Unpark(Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}
