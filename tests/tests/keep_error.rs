//! `keep_error = false`: an `Err` that is routine for the C library (Tcl's
//! `catch`, nghttp2's per-stream failures) ends at C. C receives
//! `on_error`'s value, the error is dropped inside the call, and nothing is
//! kept for a guard, reported or poisoned: the next call runs. For each
//! form (fn, callback type with and without a slot, set), on Rust-simulated
//! C (also under Miri).

use std::cell::RefCell;
use std::ffi::{c_int, c_void};

use ffi_callback::{Report, callback, resume_panics, set_reporter, try_resume};
use ffi_callback_tests::panics::{message, panic_payload};

/// An error whose drops are counted, per thread (tests run in parallel).
#[derive(Debug, PartialEq)]
struct Odd(c_int);

thread_local! {
    static ODD_DROPS: RefCell<usize> = const { RefCell::new(0) };
    static REPORTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

impl Drop for Odd {
    fn drop(&mut self) {
        ODD_DROPS.with(|d| *d.borrow_mut() += 1);
    }
}

fn odd_drops() -> usize {
    ODD_DROPS.with(|d| *d.borrow())
}

/// Records each report on the thread that raised it.
fn record_report(report: &Report<'_>) {
    REPORTS.with(|r| r.borrow_mut().push(report.to_string()));
}

fn reports() -> Vec<String> {
    set_reporter(record_report);
    REPORTS.with(|r| r.borrow().clone())
}

/// Halves even numbers; an odd one is an error, routine for this C caller.
fn halve(x: c_int) -> Result<c_int, Odd> {
    if x % 2 != 0 { Err(Odd(x)) } else { Ok(x / 2) }
}

/// Plays a C library that calls `cb` for each input and keeps calling
/// whatever the callback returned.
fn drive(
    cb: unsafe extern "C" fn(c_int, *mut c_void) -> c_int,
    ud: *mut c_void,
    inputs: &[c_int],
) -> Vec<c_int> {
    inputs
        .iter()
        // SAFETY: `ud` is what the callback was made with, live for the
        // caller's whole call.
        .map(|&x| unsafe { cb(x, ud) })
        .collect()
}

// ---------------------------------------------------------------------------
// The fn form
// ---------------------------------------------------------------------------

#[callback(on_error = -e.0, keep_error = false)]
extern "C" fn halve_each(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> Result<c_int, Odd> {
    seen.push(x);
    halve(x)
}

#[test]
fn fn_form_errors_end_at_c_and_the_next_call_runs() {
    set_reporter(record_report);
    let before = (odd_drops(), reports().len());
    let mut seen = Vec::new();
    let result =
        try_resume::<_, Odd>(|| drive(halve_each, halve_each::user_data(&mut seen), &[3, 4, 5, 6]));
    assert_eq!(result, Ok(vec![-3, 2, -5, 3]), "the guard gets no error");
    assert_eq!(seen, [3, 4, 5, 6], "nothing poisoned: every call ran");
    assert_eq!(
        odd_drops() - before.0,
        2,
        "each error dropped once, in the call"
    );
    assert_eq!(reports().len(), before.1, "nothing reported");

    // With no guard at all: the same, and still no report.
    let mut seen = Vec::new();
    let returned = drive(halve_each, halve_each::user_data(&mut seen), &[1, 2]);
    assert_eq!(returned, [-1, 1]);
    assert_eq!(
        reports().len(),
        before.1,
        "no guard, and still nothing reported"
    );
}

/// `on_error` is the callback's code: its panic is the callback's, kept by
/// the guard under `resume` (C gets the fallback, 0).
#[callback(on_error = if e.0 == 13 { panic!("unlucky {}", e.0) } else { -1 }, keep_error = false)]
extern "C" fn unlucky(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> Result<c_int, Odd> {
    seen.push(x);
    halve(x)
}

#[test]
fn fn_form_a_panic_in_on_error_is_the_callback_s_and_its_error_is_dropped() {
    let before = odd_drops();
    let mut seen = Vec::new();
    let mut returned = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            returned = drive(unlucky, unlucky::user_data(&mut seen), &[1, 13, 2]);
        })
    });
    assert_eq!(message(&*payload), "unlucky 13");
    assert_eq!(
        returned,
        [-1, 0, 0],
        "the fallback, then poisoned until the guard"
    );
    assert_eq!(seen, [1, 13]);
    assert_eq!(
        odd_drops() - before,
        2,
        "both errors dropped, the second while unwinding"
    );
}

// ---------------------------------------------------------------------------
// Callback types
// ---------------------------------------------------------------------------

#[callback(error = Odd, on_error = -e.0, keep_error = false)]
type Visit = unsafe extern "C" fn(x: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[test]
fn type_errors_end_at_c_for_scope_try_scope_and_boxed() {
    set_reporter(record_report);
    let before = (odd_drops(), reports().len());
    let mut seen = Vec::new();
    let returned = Visit::try_scope(
        |x| {
            seen.push(x);
            halve(x)
        },
        |f, ud| drive(f, ud, &[7, 8, 9]),
    );
    assert_eq!(returned, Ok(vec![-7, 4, -9]), "try_scope gets no error");
    assert_eq!(seen, [7, 8, 9], "nothing poisoned");

    let returned = Visit::scope(halve, |f, ud| drive(f, ud, &[1, 2]));
    assert_eq!(returned, [-1, 1]);

    let boxed = Visit::boxed(halve);
    let returned = drive(boxed.function(), boxed.user_data(), &[5, 10, 11]);
    assert_eq!(returned, [-5, 5, -11]);
    drop(boxed);
    assert_eq!(odd_drops() - before.0, 5);
    assert_eq!(reports().len(), before.1, "nothing reported");
}

#[callback(error = Odd, on_error = -100 - e.0, keep_error = false)]
type Check = extern "C" fn(x: c_int) -> c_int;

#[test]
fn slotless_type_errors_end_at_c() {
    let before = odd_drops();
    let check = Check::new(halve);
    let f = check.function();
    let returned = try_resume::<_, Odd>(|| [f(3), f(4), f(5)]);
    assert_eq!(returned, Ok([-103, 2, -105]));
    assert_eq!(odd_drops() - before, 2);
}

// ---------------------------------------------------------------------------
// Sets
// ---------------------------------------------------------------------------

/// `keep_error = false` on the set serves `read`; `seek` keeps its errors
/// (its own `keep_error = true`), which reach `try_scope` and poison the
/// state until the guard returns.
#[callback(on_error = -e.0, keep_error = false)]
trait Reader {
    unsafe extern "C" fn read(
        &mut self,
        #[user_data] ud: *mut c_void,
        n: c_int,
    ) -> Result<c_int, Odd>;
    #[callback(keep_error = true)]
    unsafe extern "C" fn seek(
        &mut self,
        #[user_data] ud: *mut c_void,
        to: c_int,
    ) -> Result<c_int, Odd>;
    unsafe extern "C" fn count(&self, #[user_data] ud: *mut c_void) -> c_int;
}

struct ReaderState {
    reads: c_int,
}

impl Reader for ReaderState {
    fn read(&mut self, n: c_int) -> Result<c_int, Odd> {
        self.reads += 1;
        halve(n)
    }
    fn seek(&mut self, to: c_int) -> Result<c_int, Odd> {
        halve(to)
    }
    fn count(&self) -> c_int {
        self.reads
    }
}

#[test]
fn set_entries_end_their_errors_at_c_unless_they_keep_them() {
    set_reporter(record_report);
    let before = (odd_drops(), reports().len());
    let (result, state) = ReaderState { reads: 0 }.try_scope(|ud| {
        // SAFETY: `ud` is the scoped state, for these calls.
        unsafe {
            assert_eq!(ReaderState::READ(ud, 3), -3);
            assert_eq!(ReaderState::READ(ud, 4), 2, "not poisoned");
            assert_eq!(ReaderState::COUNT(ud), 2);
            assert_eq!(ReaderState::SEEK(ud, 5), -5);
            assert_eq!(ReaderState::READ(ud, 6), 0, "poisoned by the kept error");
        }
        Ok::<_, Odd>(())
    });
    assert_eq!(odd_drops() - before.0, 1, "read's error, in the call");
    assert!(
        matches!(result, Err(Odd(5))),
        "only the kept error comes back"
    );
    assert_eq!(state.reads, 2);
    assert_eq!(reports().len(), before.1, "nothing reported");
}

// ---------------------------------------------------------------------------
// `keep_error = EXPR`: decided per error (nghttp2: a stream's failure is
// reset by the library and ends there, a session's is fatal and kept)
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Http2Error {
    Stream(c_int),
    Session,
}

impl Http2Error {
    fn code(&self) -> c_int {
        match self {
            Http2Error::Stream(_) => -521,
            Http2Error::Session => -902,
        }
    }
    fn fatal(&self) -> bool {
        matches!(self, Http2Error::Session)
    }
}

/// Negative: that stream's failure; zero: the session's.
fn frame(x: c_int) -> Result<c_int, Http2Error> {
    match x {
        0 => Err(Http2Error::Session),
        x if x < 0 => Err(Http2Error::Stream(x)),
        x => Ok(x),
    }
}

#[callback(on_error = e.code(), keep_error = e.fatal())]
extern "C" fn on_frame(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> Result<c_int, Http2Error> {
    seen.push(x);
    frame(x)
}

#[test]
fn fn_form_keeps_only_the_errors_keep_error_says_yes_to() {
    set_reporter(record_report);
    let before = reports().len();
    let mut seen = Vec::new();
    let mut returned = Vec::new();
    let result = try_resume::<_, Http2Error>(|| {
        returned = drive(on_frame, on_frame::user_data(&mut seen), &[1, -1, 2, 0, 3]);
    });
    assert_eq!(result, Err(Http2Error::Session));
    assert_eq!(
        returned,
        [1, -521, 2, -902, 0],
        "a stream's error ends at C; the session's is kept and poisons"
    );
    assert_eq!(seen, [1, -1, 2, 0]);
    assert_eq!(reports().len(), before);
}

/// Reads a C parameter too: `n == 7` is kept whatever the error.
#[callback(error = Http2Error, on_error = e.code(), keep_error = e.fatal() || n == -7)]
type Frame = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[test]
fn type_keeps_only_the_errors_keep_error_says_yes_to() {
    let returned = Frame::try_scope(frame, |f, ud| drive(f, ud, &[-1, 4, -3, 5]));
    assert_eq!(returned, Ok(vec![-521, 4, -521, 5]), "no error kept");
    let returned = Frame::try_scope(frame, |f, ud| drive(f, ud, &[-1, 0, 5]));
    assert_eq!(returned, Err(Http2Error::Session));
    let mut seen = Vec::new();
    let returned = Frame::try_scope(
        |n| {
            seen.push(n);
            frame(n)
        },
        |f, ud| drive(f, ud, &[-7, 5]),
    );
    assert_eq!(
        returned,
        Err(Http2Error::Stream(-7)),
        "kept for its C parameter"
    );
    assert_eq!(seen, [-7], "and it poisoned the holder");
}

#[callback(on_error = e.code(), keep_error = e.fatal())]
trait Session {
    unsafe extern "C" fn on_header(
        &mut self,
        n: c_int,
        #[user_data] ud: *mut c_void,
    ) -> Result<c_int, Http2Error>;
    unsafe extern "C" fn send(&mut self, n: c_int, #[user_data] ud: *mut c_void) -> c_int;
}

struct Server {
    sent: Vec<c_int>,
}

impl Session for Server {
    fn on_header(&mut self, n: c_int) -> Result<c_int, Http2Error> {
        frame(n)
    }
    fn send(&mut self, n: c_int) -> c_int {
        self.sent.push(n);
        n
    }
}

#[test]
fn set_keeps_only_the_errors_keep_error_says_yes_to() {
    let (result, server) = Server { sent: Vec::new() }.try_scope(|ud| {
        // SAFETY: `ud` is the scoped state, for these calls.
        unsafe {
            assert_eq!(Server::ON_HEADER(-1, ud), -521);
            // The stream's reset goes out: the state is not poisoned.
            assert_eq!(Server::SEND(1, ud), 1);
            assert_eq!(Server::ON_HEADER(0, ud), -902);
            assert_eq!(Server::SEND(2, ud), 0, "poisoned by the kept error");
        }
        Ok::<_, Http2Error>(())
    });
    assert_eq!(result, Err(Http2Error::Session));
    assert_eq!(server.sent, [1]);
}

// ---------------------------------------------------------------------------
// The other ways in: once-callbacks, a slot-less type's thread-local scope,
// a set's destroy entry taking `self`
// ---------------------------------------------------------------------------

#[test]
fn once_callbacks_end_their_errors_at_c() {
    let before = odd_drops();
    let returned = Visit::scope_once(halve, |f, ud| drive(f, ud, &[3]));
    assert_eq!(returned, [-3]);
    let once = Visit::once(halve);
    let raw = once.into_raw();
    // SAFETY: the once-callback's own pair, called once.
    let value = unsafe { (raw.function)(9, raw.user_data) };
    assert_eq!(value, -9);
    assert_eq!(odd_drops() - before, 2);
}

#[test]
fn thread_local_scope_ends_its_errors_at_c() {
    let mut seen = Vec::new();
    let returned = try_resume::<_, Odd>(|| {
        Check::scope_thread_local(
            |x| {
                seen.push(x);
                halve(x)
            },
            |f| [f(1), f(2), f(3)],
        )
    });
    assert_eq!(returned, Ok([-101, 1, -103]));
    assert_eq!(seen, [1, 2, 3]);
}

/// A destroy entry taking `self` that fails: its error ends at C too.
#[callback(on_error = -e.0, keep_error = false)]
trait Closing {
    unsafe extern "C" fn close(
        self,
        #[user_data] ud: *mut c_void,
        code: c_int,
    ) -> Result<c_int, Odd>;
}

struct Closer;

impl Closing for Closer {
    fn close(self, code: c_int) -> Result<c_int, Odd> {
        halve(code)
    }
}

#[test]
fn a_destroy_entry_s_error_ends_at_c() {
    let ud = Closer.boxed().into_raw();
    let result = try_resume::<_, Odd>(|| {
        // SAFETY: C's one destroy of the state it was handed.
        unsafe { Closer::CLOSE(ud, 5) }
    });
    assert_eq!(result, Ok(-5));
}
