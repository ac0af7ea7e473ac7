//! Callbacks returning `Result` against real C (issue 13.1), and a `send,
//! on_panic = resume` hook on a connection that moves to another thread
//! (issue 13.2):
//!
//! - `sqlite3_exec` (bundled SQLite) whose row closure fails with `?`:
//!   sqlite stops with `SQLITE_ABORT`, `try_scope` returns the Rust error;
//! - `dl_iterate_phdr` (glibc) stopped by a fn-form callback's `Err`: its
//!   `on_error` value is the non-zero that stops the walk, and `try_resume`
//!   returns the error;
//! - glibc's `fopencookie`, whose `write` fails with an `io::Error`:
//!   `fflush` (buffered) or `fwrite` (unbuffered) report the failure, and
//!   the `io::Error` comes back from `try_resume`;
//! - a panic wins over an error, whichever came first;
//! - `sqlite3_update_hook` as a Rust-owned boxed `send, on_panic = resume`
//!   callback: the connection moves to another thread, the hook panics in a
//!   statement there, and that thread's guard gets the panic.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::io;
use std::num::ParseIntError;
use std::panic::panic_any;
use std::ptr;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use ffi_callback::{Report, ReportKind, callback, resume_panics, set_reporter, try_resume};
use ffi_callback_tests::panics::panic_payload;
use ffi_callback_tests::sqlite::Db;
use libsqlite3_sys::{
    SQLITE_ABORT, SQLITE_INSERT, SQLITE_OK, sqlite3_threadsafe, sqlite3_update_hook,
};

// ---------------------------------------------------------------------------
// SQLite helpers
// ---------------------------------------------------------------------------

/// Column `i` of a row as `sqlite3_exec` delivers it.
///
/// # Safety
/// `values` is the row array `sqlite3_exec` passed, with more than `i`
/// columns.
unsafe fn column(values: *mut *mut c_char, i: usize) -> Option<String> {
    // SAFETY: by the caller's promise.
    let value = unsafe { *values.add(i) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a non-null value is a NUL-terminated string owned by sqlite
    // for the duration of the callback.
    let value = unsafe { CStr::from_ptr(value) };
    Some(value.to_string_lossy().into_owned())
}

/// The row callback, as sqlite declares it; non-zero (the fallback 1, also
/// what an `Err` gives C) makes `sqlite3_exec` stop with `SQLITE_ABORT`.
#[callback(fallback = 1)]
type ExecRow = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    n: c_int,
    values: *mut *mut c_char,
    names: *mut *mut c_char,
) -> c_int;

/// Why a row could not be summed.
#[derive(Debug, PartialEq)]
enum RowError {
    Null,
    NotANumber(ParseIntError),
}

impl From<ParseIntError> for RowError {
    fn from(error: ParseIntError) -> Self {
        RowError::NotANumber(error)
    }
}

/// A closure that sums the first column of each row into `sum`, failing
/// with `?` on a NULL or a non-number; `rows` counts its calls.
fn summing<'a>(
    rows: &'a mut usize,
    sum: &'a mut i64,
) -> impl FnMut(c_int, *mut *mut c_char, *mut *mut c_char) -> Result<c_int, RowError> + 'a {
    move |_, values, _| {
        *rows += 1;
        // SAFETY: every query below selects one column.
        let text = unsafe { column(values, 0) }.ok_or(RowError::Null)?;
        *sum += text.parse::<i64>()?;
        Ok(0)
    }
}

fn table(values: &str) -> Db {
    let db = Db::memory();
    db.exec(&format!(
        "CREATE TABLE t(x TEXT); INSERT INTO t VALUES {values};"
    ))
    .unwrap();
    db
}

// ---------------------------------------------------------------------------
// sqlite3_exec: `?` in the row closure, `try_scope`
// ---------------------------------------------------------------------------

#[test]
fn exec_row_closure_failing_with_question_mark_aborts_and_try_scope_returns_the_error() {
    let db = table("('1'), ('2'), ('three'), ('4')");
    let (mut rows, mut sum) = (0, 0);
    let mut status = None;
    let result = ExecRow::try_scope(summing(&mut rows, &mut sum), |func, ud| {
        // SAFETY: `func` takes `ud`, and the holder outlives the call.
        status = Some(unsafe { db.exec_with("SELECT x FROM t ORDER BY rowid", Some(func), ud) });
    });
    let expected: RowError = "three".parse::<i64>().unwrap_err().into();
    assert_eq!(result, Err(expected), "the typed Rust error came back");
    let (rc, message) = status.expect("sqlite3_exec returned");
    assert_eq!(rc, SQLITE_ABORT, "the error's C value 1 stopped the query");
    assert_eq!(message.as_deref(), Some("query aborted"));
    assert_eq!(rows, 3, "no row after the failing one was delivered");
    assert_eq!(sum, 3);
}

#[test]
fn exec_row_closure_that_never_fails_gives_try_scope_the_call_value() {
    let db = table("('1'), ('2'), ('3'), ('4')");
    let (mut rows, mut sum) = (0, 0);
    let result = ExecRow::try_scope(summing(&mut rows, &mut sum), |func, ud| {
        // SAFETY: `func` takes `ud`, and the holder outlives the call.
        unsafe { db.exec_with("SELECT x FROM t", Some(func), ud) }
    });
    assert_eq!(result, Ok((SQLITE_OK, None)));
    assert_eq!((rows, sum), (4, 10));
}

#[test]
fn exec_null_column_fails_with_the_other_variant_through_question_mark() {
    let db = table("('5'), (NULL), ('7')");
    let (mut rows, mut sum) = (0, 0);
    let result = ExecRow::try_scope(summing(&mut rows, &mut sum), |func, ud| {
        // SAFETY: `func` takes `ud`, and the holder outlives the call.
        unsafe { db.exec_with("SELECT x FROM t ORDER BY rowid", Some(func), ud) }.0
    });
    assert_eq!(result, Err(RowError::Null));
    assert_eq!((rows, sum), (2, 5));
}

#[test]
fn first_error_wins_over_a_later_one_from_another_callback() {
    let first = table("('1'), ('x')");
    let second = table("(NULL)");
    let (mut rows_a, mut sum_a, mut rows_b, mut sum_b) = (0, 0, 0, 0);
    let mut codes = Vec::new();
    let result = try_resume::<_, RowError>(|| {
        let a = ExecRow::new(summing(&mut rows_a, &mut sum_a));
        let b = ExecRow::new(summing(&mut rows_b, &mut sum_b));
        // SAFETY: each function takes its own holder's user data; both
        // holders outlive the calls.
        unsafe {
            codes.push(
                first
                    .exec_with("SELECT x FROM t", Some(a.function()), a.user_data())
                    .0,
            );
            codes.push(
                second
                    .exec_with("SELECT x FROM t", Some(b.function()), b.user_data())
                    .0,
            );
        }
    });
    let expected: RowError = "x".parse::<i64>().unwrap_err().into();
    assert_eq!(result, Err(expected), "the first error, not `Null`");
    assert_eq!(codes, [SQLITE_ABORT, SQLITE_ABORT]);
    assert_eq!(
        (rows_a, rows_b),
        (2, 1),
        "the second holder still ran its code and failed too"
    );
}

// ---------------------------------------------------------------------------
// A panic wins over an error
// ---------------------------------------------------------------------------

/// A row closure that panics with a typed payload on its first row.
fn panicking(
    calls: &mut usize,
) -> impl FnMut(c_int, *mut *mut c_char, *mut *mut c_char) -> Result<c_int, RowError> + '_ {
    move |_, _, _| {
        *calls += 1;
        panic_any(RowPanic);
    }
}

#[derive(Debug, PartialEq)]
struct RowPanic;

#[test]
fn panic_after_a_kept_error_wins_and_is_resumed() {
    let failing = table("('nope')");
    let numbers = table("('1'), ('2')");
    let (mut rows, mut sum, mut panics) = (0, 0, 0);
    let mut codes = Vec::new();
    let payload = panic_payload(|| {
        try_resume::<_, RowError>(|| {
            let erring = ExecRow::new(summing(&mut rows, &mut sum));
            let panicking = ExecRow::new(panicking(&mut panics));
            // SAFETY: each function takes its own holder's user data; both
            // holders outlive the calls.
            unsafe {
                let (f, ud) = (erring.function(), erring.user_data());
                codes.push(failing.exec_with("SELECT x FROM t", Some(f), ud).0);
                let (f, ud) = (panicking.function(), panicking.user_data());
                codes.push(numbers.exec_with("SELECT x FROM t", Some(f), ud).0);
            }
        })
    });
    assert_eq!(payload.downcast_ref::<RowPanic>(), Some(&RowPanic));
    assert_eq!(codes, [SQLITE_ABORT, SQLITE_ABORT]);
    assert_eq!((rows, panics), (1, 1));
}

#[test]
fn error_after_a_kept_panic_does_not_replace_it() {
    let failing = table("('nope')");
    let numbers = table("('1'), ('2')");
    let (mut rows, mut sum, mut panics) = (0, 0, 0);
    let mut codes = Vec::new();
    let payload = panic_payload(|| {
        try_resume::<_, RowError>(|| {
            let erring = ExecRow::new(summing(&mut rows, &mut sum));
            let panicking = ExecRow::new(panicking(&mut panics));
            // SAFETY: as above.
            unsafe {
                let (f, ud) = (panicking.function(), panicking.user_data());
                codes.push(numbers.exec_with("SELECT x FROM t", Some(f), ud).0);
                let (f, ud) = (erring.function(), erring.user_data());
                codes.push(failing.exec_with("SELECT x FROM t", Some(f), ud).0);
            }
        })
    });
    assert_eq!(payload.downcast_ref::<RowPanic>(), Some(&RowPanic));
    assert_eq!(codes, [SQLITE_ABORT, SQLITE_ABORT]);
    assert_eq!((rows, panics), (1, 1), "the erring holder was not poisoned");
}

// ---------------------------------------------------------------------------
// dl_iterate_phdr: a fn-form `Err` stops the walk
// ---------------------------------------------------------------------------

/// The walk was told to stop after `limit` objects; `next` is the one it
/// refused.
#[derive(Debug, PartialEq)]
struct TooManyObjects {
    limit: usize,
    next: String,
}

impl TooManyObjects {
    /// The non-zero that `dl_iterate_phdr` stops on and returns.
    fn stop_code(&self) -> c_int {
        1000 + c_int::try_from(self.limit).unwrap()
    }
}

struct Walk {
    names: Vec<String>,
    limit: usize,
}

#[callback(on_error = e.stop_code())]
extern "C" fn walk_objects(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    #[user_data] walk: &mut Walk,
) -> Result<c_int, TooManyObjects> {
    // SAFETY: glibc passes a valid `dl_phdr_info` whose `dlpi_name` is a
    // NUL-terminated string (empty for the main program).
    let name = unsafe { CStr::from_ptr((*info).dlpi_name) }
        .to_string_lossy()
        .into_owned();
    if walk.names.len() == walk.limit {
        return Err(TooManyObjects {
            limit: walk.limit,
            next: name,
        });
    }
    walk.names.push(name);
    Ok(0)
}

/// Walks the loaded objects under `try_resume`; `dl_iterate_phdr`'s return
/// value and the guard's result.
fn walk_with_limit(limit: usize) -> (Walk, c_int, Result<(), TooManyObjects>) {
    let mut walk = Walk {
        names: Vec::new(),
        limit,
    };
    let mut returned = None;
    let result = try_resume(|| {
        // SAFETY: `walk_objects` receives `&mut Walk`; `walk` outlives the
        // call and is not touched until it returns.
        returned = Some(unsafe {
            libc::dl_iterate_phdr(Some(walk_objects), walk_objects::user_data(&mut walk))
        });
    });
    (walk, returned.expect("dl_iterate_phdr returned"), result)
}

#[test]
fn dl_iterate_phdr_stopped_by_an_err_returns_on_error_and_the_error() {
    let (all, returned, result) = walk_with_limit(usize::MAX);
    assert_eq!((returned, result), (0, Ok(())), "a full walk");
    assert!(
        all.names.len() >= 3,
        "the program, the vdso and libc at least: {:?}",
        all.names
    );

    let (walk, returned, result) = walk_with_limit(2);
    let error = result.expect_err("the walk's error came back");
    assert_eq!(
        error,
        TooManyObjects {
            limit: 2,
            next: all.names[2].clone(),
        }
    );
    assert_eq!(
        returned,
        error.stop_code(),
        "on_error's value stopped the walk (the fallback 0 would have let it finish with 0)"
    );
    assert_eq!(walk.names, all.names[..2]);

    // The guard returned: the thread runs user code again.
    let (again, returned, result) = walk_with_limit(usize::MAX);
    assert_eq!((returned, result), (0, Ok(())));
    assert_eq!(again.names, all.names);
}

thread_local! {
    /// The reports raised on this thread: kind, callback, message.
    static REPORTS: RefCell<Vec<(ReportKind, Option<String>, String)>> =
        const { RefCell::new(Vec::new()) };
}

/// Records each report on the thread that raised it (and prints it as the
/// default reporter does).
fn record_report(report: &Report<'_>) {
    eprintln!("ffi-callback: {report}");
    REPORTS.with(|r| {
        r.borrow_mut().push((
            report.kind(),
            report.callback().map(str::to_owned),
            report.to_string(),
        ));
    });
}

#[test]
fn dl_iterate_phdr_err_with_no_guard_for_its_type_is_reported_and_dropped() {
    set_reporter(record_report);
    let mut walk = Walk {
        names: Vec::new(),
        limit: 1,
    };
    // A guard for another error type, and no guard for any error type.
    let mut returned = Vec::new();
    let result = try_resume::<_, String>(|| {
        // SAFETY: `walk_objects` receives `&mut Walk`; `walk` outlives the
        // call and is not touched until it returns.
        returned.push(unsafe {
            libc::dl_iterate_phdr(Some(walk_objects), walk_objects::user_data(&mut walk))
        });
    });
    assert_eq!(
        result,
        Ok(()),
        "a `String` guard does not take a `TooManyObjects`"
    );
    walk.names.clear();
    resume_panics(|| {
        // SAFETY: as above.
        returned.push(unsafe {
            libc::dl_iterate_phdr(Some(walk_objects), walk_objects::user_data(&mut walk))
        });
    });
    assert_eq!(
        returned,
        [1001, 1001],
        "C still received on_error's value, which stopped each walk"
    );
    let reports = REPORTS.with(RefCell::take);
    assert_eq!(reports.len(), 2, "{reports:#?}");
    for (kind, callback, message) in &reports {
        assert_eq!(*kind, ReportKind::ErrorDropped);
        assert!(
            callback
                .as_deref()
                .is_some_and(|c| c.ends_with("walk_objects")),
            "{callback:?}"
        );
        assert!(message.contains("TooManyObjects"), "{message}");
    }
    assert!(
        reports[0].2.contains("String"),
        "names the guard's type: {}",
        reports[0].2
    );
    assert!(
        reports[1].2.contains("try_resume"),
        "names the fix: {}",
        reports[1].2
    );
}

// ---------------------------------------------------------------------------
// fopencookie: a `write` that fails with an `io::Error`
// ---------------------------------------------------------------------------

/// glibc's `cookie_io_functions_t` (`<stdio.h>`, `_GNU_SOURCE`); the
/// `libc` crate does not declare it.
#[repr(C)]
struct CookieIoFunctions {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

unsafe extern "C" {
    fn fopencookie(
        cookie: *mut c_void,
        mode: *const c_char,
        io_funcs: CookieIoFunctions,
    ) -> *mut libc::FILE;
}

/// A byte sink with a fixed capacity.
struct Sink {
    written: Vec<u8>,
    capacity: usize,
    /// Calls that ran user code.
    writes: usize,
}

impl Sink {
    fn new(capacity: usize) -> Sink {
        Sink {
            written: Vec::new(),
            capacity,
            writes: 0,
        }
    }
}

/// The cookie's `write`: the cookie is the first parameter. An `Err` (and a
/// refused call: the fallback) gives glibc 0, its "error" for a cookie
/// write: the glibc manual says a cookie writer returns 0 on error and must
/// not return a negative value. (With -1, glibc 2.36 takes the count as
/// `size_t`: an unbuffered `fwrite` then reports every byte written and
/// copies bytes past the caller's buffer; tried.)
#[callback(on_error = 0)]
extern "C" fn sink_write(
    #[user_data] sink: &mut Sink,
    buf: *const c_char,
    size: usize,
) -> Result<isize, io::Error> {
    sink.writes += 1;
    if sink.written.len() + size > sink.capacity {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!(
                "sink full: {} of {} bytes used, {size} more",
                sink.written.len(),
                sink.capacity
            ),
        ));
    }
    // SAFETY: glibc passes `size` readable bytes at `buf`.
    let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), size) };
    sink.written.extend_from_slice(bytes);
    Ok(isize::try_from(size).expect("a buffer fits in isize"))
}

/// Opens a write-only stream on `sink`.
///
/// # Safety
/// `sink` must outlive the stream (until `fclose`), and the stream must be
/// used inside a guard.
unsafe fn open_sink(sink: &mut Sink) -> *mut libc::FILE {
    let funcs = CookieIoFunctions {
        read: None,
        write: Some(sink_write),
        seek: None,
        close: None,
    };
    // SAFETY: `sink_write` receives `&mut Sink`, the cookie is a `&mut
    // Sink` that the caller keeps alive; `read`, `seek` and `close` may be
    // null for a write-only stream.
    let fp = unsafe { fopencookie(sink_write::user_data(sink), c"w".as_ptr(), funcs) };
    assert!(!fp.is_null(), "fopencookie");
    fp
}

/// `fwrite(data)` on `fp`: the number of bytes it reports written.
///
/// # Safety
/// `fp` is an open stream.
unsafe fn fwrite_all(fp: *mut libc::FILE, data: &[u8]) -> usize {
    // SAFETY: `data` is readable for its length; `fp` is open.
    unsafe { libc::fwrite(data.as_ptr().cast(), 1, data.len(), fp) }
}

#[test]
fn fopencookie_write_error_fails_fflush_and_comes_back_from_try_resume() {
    let mut sink = Sink::new(8);
    let mut steps = Vec::new();
    let result: Result<(), io::Error> = try_resume(|| {
        // SAFETY: `sink` outlives the stream, closed below, inside this guard.
        unsafe {
            let fp = open_sink(&mut sink);
            steps.push(("fwrite", fwrite_all(fp, b"hello\n") as c_int));
            steps.push(("fflush", libc::fflush(fp)));
            steps.push(("fwrite", fwrite_all(fp, b"world\n") as c_int));
            steps.push(("fflush", libc::fflush(fp)));
            steps.push(("ferror", c_int::from(libc::ferror(fp) != 0)));
            // glibc keeps calling: the kept error poisons the thread's
            // `resume` fns until `try_resume` returns, so this write (which
            // would fit) gets the fallback 0 without running user code.
            libc::clearerr(fp);
            steps.push(("fwrite", fwrite_all(fp, b"ok\n") as c_int));
            steps.push(("fflush", libc::fflush(fp)));
            libc::fclose(fp);
        }
    });
    let error = result.expect_err("the sink's io::Error came back");
    assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    assert_eq!(error.to_string(), "sink full: 6 of 8 bytes used, 6 more");
    assert_eq!(
        steps,
        [
            ("fwrite", 6),
            ("fflush", 0),
            ("fwrite", 6),
            ("fflush", libc::EOF),
            ("ferror", 1),
            ("fwrite", 3),
            ("fflush", libc::EOF),
        ],
        "buffered: the failing write surfaced in fflush"
    );
    assert_eq!(sink.written, b"hello\n");
    assert_eq!(sink.writes, 2, "no user code ran after the error");
}

#[test]
fn fopencookie_unbuffered_fwrite_reports_the_failed_write() {
    let mut sink = Sink::new(8);
    let mut steps = Vec::new();
    let result: Result<(), io::Error> = try_resume(|| {
        // SAFETY: `sink` outlives the stream, closed below, inside this guard.
        unsafe {
            let fp = open_sink(&mut sink);
            assert_eq!(libc::setvbuf(fp, ptr::null_mut(), libc::_IONBF, 0), 0);
            steps.push(fwrite_all(fp, b"hi\n"));
            steps.push(fwrite_all(fp, b"too long now\n"));
            steps.push(usize::from(libc::ferror(fp) != 0));
            libc::fclose(fp);
        }
    });
    let error = result.expect_err("the sink's io::Error came back");
    assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    assert_eq!(error.to_string(), "sink full: 3 of 8 bytes used, 13 more");
    assert_eq!(steps, [3, 0, 1], "fwrite wrote nothing of the second call");
    assert_eq!(sink.written, b"hi\n");
    assert_eq!(sink.writes, 2);
}

// ---------------------------------------------------------------------------
// send + on_panic = resume: a boxed hook on a connection that moves
// ---------------------------------------------------------------------------

/// `sqlite3_update_hook`'s callback. The connection (and its hook) may move
/// to another thread, and it is always called on the thread that runs the
/// statement, inside that thread's guard.
#[callback(send, on_panic = resume)]
type UpdateHook = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    op: c_int,
    db: *const c_char,
    table: *const c_char,
    rowid: i64,
);

/// A connection that may be sent to another thread.
struct SendDb(Db);

// SAFETY: the bundled SQLite is built thread-safe (checked with
// `sqlite3_threadsafe` in the test), so a connection may be used from
// whichever single thread owns it.
unsafe impl Send for SendDb {}

#[derive(Debug, PartialEq)]
struct HookPanic(i64);

/// What the update hook saw: the thread, the operation, the table, the rowid.
type HookCall = (ThreadId, c_int, String, i64);

#[test]
fn send_resume_update_hook_panics_on_the_thread_the_connection_moved_to() {
    // SAFETY: a plain query of the library's build flags.
    assert_ne!(unsafe { sqlite3_threadsafe() }, 0, "a thread-safe build");
    let db = SendDb(Db::memory());
    db.0.exec("CREATE TABLE t(x)").unwrap();
    let log: Arc<Mutex<Vec<HookCall>>> = Arc::default();
    let hook = UpdateHook::boxed({
        let log = Arc::clone(&log);
        move |op, _db, table: *const c_char, rowid| {
            // SAFETY: sqlite passes the table's NUL-terminated name.
            let table = unsafe { CStr::from_ptr(table) }
                .to_string_lossy()
                .into_owned();
            log.lock()
                .unwrap()
                .push((thread::current().id(), op, table, rowid));
            if rowid == 2 {
                panic_any(HookPanic(rowid));
            }
        }
    });
    // SAFETY: the boxed hook outlives its registration (removed on the other
    // thread before it is dropped there).
    unsafe { sqlite3_update_hook(db.0.0, Some(hook.function()), hook.user_data()) };
    resume_panics(|| db.0.exec("INSERT INTO t VALUES ('on main')")).unwrap();
    let main = thread::current().id();

    let worker = thread::spawn(move || {
        // The whole `SendDb` moves (a closure would capture only `db.0`).
        let db = db;
        let payload =
            panic_payload(|| resume_panics(|| db.0.exec("INSERT INTO t VALUES ('panics')")));
        // The guard re-raised it: the hook runs user code again.
        let next = resume_panics(|| db.0.exec("INSERT INTO t VALUES ('after')"));
        let mut count = None;
        let counted = ExecRow::scope(
            |_, values, _| {
                // SAFETY: one column.
                count = unsafe { column(values, 0) };
                0
            },
            // SAFETY: `func` takes `ud`, and the holder outlives the call.
            |func, ud| unsafe { db.0.exec_with("SELECT count(*) FROM t", Some(func), ud) }.0,
        );
        // SAFETY: unregisters the hook before it is dropped.
        unsafe { sqlite3_update_hook(db.0.0, None, ptr::null_mut()) };
        drop(hook);
        (thread::current().id(), payload, next, counted, count)
    });
    let (worker_id, payload, next, counted, count): (ThreadId, Box<dyn Any + Send>, _, _, _) =
        worker.join().expect("the worker did not panic");
    assert_ne!(worker_id, main);
    assert_eq!(payload.downcast_ref::<HookPanic>(), Some(&HookPanic(2)));
    assert_eq!(next, Ok(()));
    assert_eq!(counted, SQLITE_OK);
    assert_eq!(
        count.as_deref(),
        Some("3"),
        "the update hook's panic did not fail its statement"
    );
    let t = String::from("t");
    assert_eq!(
        *log.lock().unwrap(),
        [
            (main, SQLITE_INSERT, t.clone(), 1),
            (worker_id, SQLITE_INSERT, t.clone(), 2),
            (worker_id, SQLITE_INSERT, t, 3),
        ]
    );
}
