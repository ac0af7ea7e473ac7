//! `#[callback]` types against SQLite (the bundled library of
//! `libsqlite3-sys`): `sqlite3_exec` (user data first, re-entered by a
//! nested exec), `sqlite3_create_function_v2` (accessor user data and
//! `xDestroy`), `sqlite3_busy_handler` and `sqlite3_trace_v2` (user data in
//! the middle), and a row callback returning `ControlFlow`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::path::PathBuf;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ffi_callback::{callback, resume_panics};
use ffi_callback_tests::sqlite::{Db, RawExecRow, exec_raw};
use libsqlite3_sys::{
    SQLITE_ABORT, SQLITE_BUSY, SQLITE_ERROR, SQLITE_MISUSE, SQLITE_OK, SQLITE_TRACE_CLOSE,
    SQLITE_TRACE_STMT, SQLITE_UTF8, sqlite3, sqlite3_busy_handler, sqlite3_context,
    sqlite3_create_function_v2, sqlite3_result_error, sqlite3_result_int64, sqlite3_trace_v2,
    sqlite3_user_data, sqlite3_value, sqlite3_value_int64,
};

// ---------------------------------------------------------------------------
// Helpers
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

/// All `n` columns of a row.
///
/// # Safety
/// `values` is a row array `sqlite3_exec` passed with `n` columns.
unsafe fn columns(values: *mut *mut c_char, n: c_int) -> Vec<Option<String>> {
    let n = usize::try_from(n).unwrap();
    // SAFETY: by the caller's promise, `i < n` is in bounds.
    (0..n).map(|i| unsafe { column(values, i) }).collect()
}

/// Counts drops of whatever holds it.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A database file in the temp directory, removed on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        let path = std::env::temp_dir().join(format!(
            "ffi-callback-{name}-{}.sqlite3",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        TempDb(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("sqlite3-journal"));
    }
}

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected the callback's panic to be resumed"),
        Err(payload) => payload,
    }
}

fn numbers_db() -> Db {
    let db = Db::memory();
    db.exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1), (2), (3), (4), (5);")
        .unwrap();
    db
}

// ---------------------------------------------------------------------------
// sqlite3_exec: user data first
// ---------------------------------------------------------------------------

/// The row callback, as sqlite declares it; returning non-zero (and the
/// fallback 1 after a panic) makes `sqlite3_exec` stop with SQLITE_ABORT.
#[callback(fallback = 1)]
type ExecRow = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    n: c_int,
    values: *mut *mut c_char,
    names: *mut *mut c_char,
) -> c_int;

/// The same, for a nested `sqlite3_exec` that re-enters the callback.
#[callback(reentrant, fallback = 1)]
type ReentrantExecRow = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    n: c_int,
    values: *mut *mut c_char,
    names: *mut *mut c_char,
) -> c_int;

#[test]
fn exec_collects_rows_with_user_data_first() {
    let db = Db::memory();
    db.exec("CREATE TABLE fruit(name TEXT, n INTEGER); INSERT INTO fruit VALUES ('apple', 3), ('fig', NULL);")
        .unwrap();
    let mut rows = Vec::new();
    let mut header = Vec::new();
    let (rc, message) = ExecRow::scope(
        |n, values, names| {
            if header.is_empty() {
                // SAFETY: sqlite passes `n` column names.
                header = unsafe { columns(names, n) };
            }
            // SAFETY: sqlite passes `n` values.
            rows.push(unsafe { columns(values, n) });
            0
        },
        // SAFETY: `func` takes `ud`, and the holder outlives the call.
        |func, ud| unsafe {
            db.exec_with("SELECT name, n FROM fruit ORDER BY name", Some(func), ud)
        },
    );
    assert_eq!((rc, message), (SQLITE_OK, None));
    assert_eq!(header, [Some("name".to_owned()), Some("n".to_owned())]);
    assert_eq!(
        rows,
        [
            vec![Some("apple".to_owned()), Some("3".to_owned())],
            vec![Some("fig".to_owned()), None],
        ]
    );
}

#[test]
fn exec_non_zero_from_the_callback_aborts() {
    let db = numbers_db();
    let mut seen = 0;
    let (rc, _) = ExecRow::scope(
        |_, _, _| {
            seen += 1;
            c_int::from(seen == 2)
        },
        // SAFETY: as above.
        |func, ud| unsafe { db.exec_with("SELECT x FROM t", Some(func), ud) },
    );
    assert_eq!(rc, SQLITE_ABORT);
    assert_eq!(seen, 2);
}

#[test]
fn exec_panic_aborts_the_statement_and_is_resumed() {
    let db = numbers_db();
    let mut seen = Vec::new();
    let rc = Cell::new(None);
    let payload = payload_of(|| {
        ExecRow::scope(
            |_, values, _| {
                // SAFETY: one column per row.
                let x: i64 = unsafe { column(values, 0) }.unwrap().parse().unwrap();
                seen.push(x);
                if x == 3 {
                    panic_any(x);
                }
                0
            },
            |func, ud| {
                // SAFETY: `func` takes `ud`, and the holder outlives the call.
                let (code, _) =
                    unsafe { db.exec_with("SELECT x FROM t ORDER BY x", Some(func), ud) };
                rc.set(Some(code));
            },
        )
    });
    assert_eq!(payload.downcast_ref::<i64>(), Some(&3));
    assert_eq!(
        rc.get(),
        Some(SQLITE_ABORT),
        "the fallback 1 stopped sqlite3_exec"
    );
    assert_eq!(seen, [1, 2, 3]);
}

#[test]
fn nested_exec_reenters_a_reentrant_callback() {
    let db = numbers_db();
    let log: RefCell<Vec<(u32, i64)>> = RefCell::new(Vec::new());
    let depth = Cell::new(0u32);
    let nested_rc = RefCell::new(Vec::new());
    let me: Cell<Option<(RawExecRow, *mut c_void)>> = Cell::new(None);
    let callback = ReentrantExecRow::new(|_, values, _| {
        // SAFETY: one column per row.
        let x: i64 = unsafe { column(values, 0) }.unwrap().parse().unwrap();
        log.borrow_mut().push((depth.get(), x));
        if depth.get() == 0 {
            let (func, ud) = me.get().expect("set before the exec");
            depth.set(1);
            // The same holder, re-entered while this call runs.
            // SAFETY: `func` takes `ud`; the holder outlives the outer exec.
            let (rc, _) = unsafe {
                db.exec_with(
                    &format!("SELECT x * 10 FROM t WHERE x = {x}"),
                    Some(func),
                    ud,
                )
            };
            depth.set(0);
            nested_rc.borrow_mut().push(rc);
        }
        0
    });
    me.set(Some((callback.function(), callback.user_data())));
    // SAFETY: the holder is alive and unmoved until the call returns.
    let (rc, _) = resume_panics(|| unsafe {
        db.exec_with(
            "SELECT x FROM t WHERE x <= 3 ORDER BY x",
            Some(callback.function()),
            callback.user_data(),
        )
    });
    assert_eq!(rc, SQLITE_OK);
    assert_eq!(*nested_rc.borrow(), [SQLITE_OK; 3]);
    assert_eq!(
        *log.borrow(),
        [(0, 1), (1, 10), (0, 2), (1, 20), (0, 3), (1, 30)]
    );
}

#[test]
fn nested_exec_into_a_non_reentrant_callback_is_refused() {
    let db = numbers_db();
    let mut log: Vec<(u32, i64)> = Vec::new();
    let mut nested_rc = Vec::new();
    let mut depth = 0u32;
    let me: Cell<Option<(RawExecRow, *mut c_void)>> = Cell::new(None);
    let callback = ExecRow::new(|_, values, _| {
        // SAFETY: one column per row.
        let x: i64 = unsafe { column(values, 0) }.unwrap().parse().unwrap();
        log.push((depth, x));
        if depth == 0 {
            let (func, ud) = me.get().expect("set before the exec");
            depth = 1;
            // SAFETY: `func` takes `ud`; the holder outlives the outer exec.
            let (rc, _) = unsafe { db.exec_with("SELECT 99", Some(func), ud) };
            depth = 0;
            nested_rc.push(rc);
        }
        0
    });
    me.set(Some((callback.function(), callback.user_data())));
    let outer_rc = Cell::new(None);
    let payload = payload_of(|| {
        // SAFETY: the holder is alive and unmoved until the call returns.
        resume_panics(|| unsafe {
            outer_rc.set(Some(
                db.exec_with(
                    "SELECT x FROM t WHERE x <= 2 ORDER BY x",
                    Some(callback.function()),
                    callback.user_data(),
                )
                .0,
            ));
        })
    });
    let message = payload
        .downcast_ref::<String>()
        .expect("a refusal is a panic with a message");
    assert!(message.contains("refused the call"), "{message}");
    assert!(message.contains("reentrant"), "names the fix: {message}");
    // The kept refusal poisoned the holder, as a panic would: the first
    // row's closure call finished, the second row got the fallback, and
    // the outer exec stopped there, as the fn form does.
    assert_eq!(outer_rc.get(), Some(SQLITE_ABORT));
    assert_eq!(
        nested_rc,
        [SQLITE_ABORT],
        "the one refused call returned the fallback 1"
    );
    assert_eq!(
        log,
        [(0, 1)],
        "the closure never ran nested, nor after the refusal"
    );
}

// ---------------------------------------------------------------------------
// sqlite3_exec, fn form: `&mut T` re-entry is refused, `&T` re-enters
// ---------------------------------------------------------------------------

/// What the fn-form row callbacks work on.
struct Nesting {
    db: *mut sqlite3,
    log: Vec<(u32, i64)>,
    depth: u32,
}

/// Receives `&mut Nesting` and, on a top-level row, runs a nested exec
/// that calls it again with the same user data: with `debug_assertions`
/// that second `&mut` is refused rather than aliased.
#[callback(fallback = 1)]
extern "C" fn exclusive_row(
    #[user_data] state: &mut Nesting,
    _n: c_int,
    values: *mut *mut c_char,
    _names: *mut *mut c_char,
) -> c_int {
    // SAFETY: one column per row.
    let x: i64 = unsafe { column(values, 0) }.unwrap().parse().unwrap();
    state.log.push((state.depth, x));
    if state.depth == 0 {
        state.depth = 1;
        let me: *mut Nesting = state;
        // SAFETY: `exclusive_row` takes `*mut Nesting` as its user data;
        // re-entering it with that pointer is what this test is about.
        unsafe { exec_raw(state.db, "SELECT 99", Some(exclusive_row), me.cast()) };
        state.depth = 0;
    }
    0
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the fn form detects `&mut` re-entry only with debug_assertions"
)]
fn fn_form_mut_user_data_reentered_by_a_nested_exec_is_refused() {
    let db = numbers_db();
    let mut state = Nesting {
        db: db.0,
        log: Vec::new(),
        depth: 0,
    };
    let mut rc = None;
    let payload = payload_of(|| {
        // SAFETY: `exclusive_row` receives `&mut Nesting`; `state` outlives
        // the call.
        resume_panics(|| unsafe {
            rc = Some(
                db.exec_with(
                    "SELECT x FROM t ORDER BY x",
                    Some(exclusive_row),
                    ffi_callback::user_data(&mut state),
                )
                .0,
            );
        })
    });
    let message = payload.downcast_ref::<String>().expect("a refusal message");
    assert!(message.contains("refused the call"), "{message}");
    assert!(
        message.contains("`Cell`/`RefCell`"),
        "names the fix: {message}"
    );
    assert_eq!(
        rc,
        Some(SQLITE_ABORT),
        "after the refusal every call returned the fallback 1"
    );
    assert_eq!(state.log, [(0, 1)], "the nested call never ran user code");
}

/// What the shared fn-form row callback works on: `&T`, with `Cell` and
/// `RefCell` inside, as the docs advise for re-entrant libraries.
struct SharedNesting {
    db: *mut sqlite3,
    log: RefCell<Vec<(u32, i64)>>,
    depth: Cell<u32>,
}

#[callback(fallback = 1)]
extern "C" fn shared_row(
    #[user_data] state: &SharedNesting,
    _n: c_int,
    values: *mut *mut c_char,
    _names: *mut *mut c_char,
) -> c_int {
    // SAFETY: one column per row.
    let x: i64 = unsafe { column(values, 0) }.unwrap().parse().unwrap();
    state.log.borrow_mut().push((state.depth.get(), x));
    if state.depth.get() == 0 {
        state.depth.set(1);
        let sql = format!("SELECT x * 100 FROM t WHERE x = {x}");
        // SAFETY: `shared_row` receives `&SharedNesting`, which may be
        // shared by the nested call.
        let (rc, _) = unsafe {
            exec_raw(
                state.db,
                &sql,
                Some(shared_row),
                ffi_callback::user_data_ref(state),
            )
        };
        assert_eq!(rc, SQLITE_OK);
        state.depth.set(0);
    }
    0
}

#[test]
fn fn_form_shared_user_data_reentered_by_a_nested_exec() {
    let db = numbers_db();
    let state = SharedNesting {
        db: db.0,
        log: RefCell::new(Vec::new()),
        depth: Cell::new(0),
    };
    // SAFETY: `shared_row` receives `&SharedNesting`; `state` outlives the
    // call.
    let (rc, _) = resume_panics(|| unsafe {
        db.exec_with(
            "SELECT x FROM t WHERE x <= 2 ORDER BY x",
            Some(shared_row),
            ffi_callback::user_data_ref(&state),
        )
    });
    assert_eq!(rc, SQLITE_OK);
    assert_eq!(*state.log.borrow(), [(0, 1), (1, 100), (0, 2), (1, 200)]);
}

// ---------------------------------------------------------------------------
// sqlite3_create_function_v2: accessor user data and xDestroy
// ---------------------------------------------------------------------------

/// Makes the statement fail, as sqlite expects from a function that cannot
/// compute its result.
///
/// # Safety
/// `ctx` is the context of the running function call.
unsafe fn fail_statement(ctx: *mut sqlite3_context) {
    // SAFETY: by the caller's promise; the message is NUL-terminated and
    // sqlite copies it.
    unsafe { sqlite3_result_error(ctx, c"rust function panicked".as_ptr(), -1) }
}

/// A scalar SQL function. The user data is not a parameter: sqlite hands
/// it out through `sqlite3_user_data(ctx)`. After a panic (or a refusal) the
/// statement fails with an error, then the panic is resumed.
#[callback(
    // SAFETY: `ctx` is the context sqlite passed to this very call.
    user_data = unsafe { sqlite3_user_data(ctx) },
    // SAFETY: as above.
    fallback = unsafe { fail_statement(ctx) },
)]
type ScalarFunction =
    unsafe extern "C" fn(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value);

/// `times(x)`: `x * factor`, counting calls, panicking on `panic_on`.
fn times(
    factor: i64,
    panic_on: Option<i64>,
    calls: Rc<Cell<usize>>,
    drops: Arc<AtomicUsize>,
) -> impl FnMut(*mut sqlite3_context, c_int, *mut *mut sqlite3_value) + 'static {
    let guard = DropCounter(drops);
    move |ctx, argc, argv| {
        let _ = &guard;
        calls.set(calls.get() + 1);
        assert_eq!(argc, 1);
        // SAFETY: sqlite passes `argc` (1) valid values.
        let x = unsafe { sqlite3_value_int64(*argv) };
        if panic_on == Some(x) {
            panic_any(x);
        }
        // SAFETY: `ctx` is this call's context.
        unsafe { sqlite3_result_int64(ctx, x * factor) };
    }
}

/// Registers `f` as `name` with `n_arg` arguments through `boxed`.
fn register(
    db: &Db,
    name: &CStr,
    n_arg: c_int,
    f: impl FnMut(*mut sqlite3_context, c_int, *mut *mut sqlite3_value) + 'static,
) -> c_int {
    let raw = ScalarFunction::boxed(f).into_raw();
    // SAFETY: `raw.function` finds its holder through `sqlite3_user_data`,
    // which returns `raw.user_data`; sqlite calls `raw.destroy` once, when
    // the function is replaced or the connection closes, or right away if
    // the registration fails.
    unsafe {
        sqlite3_create_function_v2(
            db.0,
            name.as_ptr(),
            n_arg,
            SQLITE_UTF8,
            raw.user_data,
            Some(raw.function),
            None,
            None,
            Some(raw.destroy),
        )
    }
}

/// The first column of every row of `sql`, as text, and the result code
/// and error message of `sqlite3_exec`, stored as soon as it returns (a
/// panic kept meanwhile is resumed after that, when `scope` ends).
fn query_column_into(
    db: &Db,
    sql: &str,
    values: &mut Vec<Option<String>>,
    status: &mut Option<(c_int, Option<String>)>,
) {
    ExecRow::scope(
        |_, row, _| {
            // SAFETY: at least one column per row.
            values.push(unsafe { column(row, 0) });
            0
        },
        // SAFETY: `func` takes `ud`, and the holder outlives the call.
        |func, ud| *status = Some(unsafe { db.exec_with(sql, Some(func), ud) }),
    );
}

fn query_column(db: &Db, sql: &str) -> (c_int, Option<String>, Vec<Option<String>>) {
    let (mut values, mut status) = (Vec::new(), None);
    query_column_into(db, sql, &mut values, &mut status);
    let (rc, message) = status.expect("sqlite3_exec returned");
    (rc, message, values)
}

#[test]
fn create_function_with_accessor_user_data_and_destroy_on_close() {
    let db = numbers_db();
    let calls = Rc::new(Cell::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let rc = register(
        &db,
        c"times",
        1,
        times(7, None, calls.clone(), drops.clone()),
    );
    assert_eq!(rc, SQLITE_OK);
    let (rc, _, values) = query_column(&db, "SELECT times(x) FROM t ORDER BY x");
    assert_eq!(rc, SQLITE_OK);
    assert_eq!(
        values,
        ["7", "14", "21", "28", "35"].map(|s| Some(s.to_owned()))
    );
    assert_eq!(calls.get(), 5);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "alive while registered");
    db.close();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "xDestroy ran exactly once, on close"
    );
}

#[test]
fn create_function_replaced_destroys_the_old_one_once() {
    let db = numbers_db();
    let calls = Rc::new(Cell::new(0));
    let (first, second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    assert_eq!(
        register(&db, c"f", 1, times(2, None, calls.clone(), first.clone())),
        SQLITE_OK
    );
    assert_eq!(
        register(&db, c"f", 1, times(3, None, calls.clone(), second.clone())),
        SQLITE_OK
    );
    assert_eq!(
        first.load(Ordering::SeqCst),
        1,
        "replacing it destroyed the first"
    );
    assert_eq!(second.load(Ordering::SeqCst), 0);
    let (_, _, values) = query_column(&db, "SELECT f(5)");
    assert_eq!(values, [Some("15".to_owned())]);
    db.close();
    assert_eq!(first.load(Ordering::SeqCst), 1);
    assert_eq!(second.load(Ordering::SeqCst), 1);
}

#[test]
fn create_function_failed_registration_still_destroys_once() {
    let db = numbers_db();
    let calls = Rc::new(Cell::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    // nArg must be -1..=SQLITE_MAX_FUNCTION_ARG (1000 in this build); sqlite
    // refuses -2 and calls xDestroy itself.
    let rc = register(
        &db,
        c"broken",
        -2,
        times(1, None, calls.clone(), drops.clone()),
    );
    assert_eq!(rc, SQLITE_MISUSE);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "xDestroy ran on failure");
    // A name longer than 255 bytes is refused the same way.
    let long = CString::new("x".repeat(300)).unwrap();
    let rc = register(&db, &long, 1, times(1, None, calls.clone(), drops.clone()));
    assert_eq!(rc, SQLITE_MISUSE);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    let (rc, message, _) = query_column(&db, "SELECT broken(1)");
    assert_eq!(rc, SQLITE_ERROR, "{message:?}");
    db.close();
    assert_eq!(drops.load(Ordering::SeqCst), 2, "and never again");
    assert_eq!(calls.get(), 0);
}

#[test]
fn create_function_panic_fails_the_statement_and_is_resumed() {
    let db = numbers_db();
    let calls = Rc::new(Cell::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        register(
            &db,
            c"times",
            1,
            times(10, Some(3), calls.clone(), drops.clone())
        ),
        SQLITE_OK
    );
    let (mut values, mut status) = (Vec::new(), None);
    let payload = payload_of(|| {
        // Rowid order, so that rows are delivered as they are computed (an
        // ORDER BY would compute every row into a sorter first).
        query_column_into(&db, "SELECT times(x) FROM t", &mut values, &mut status)
    });
    assert_eq!(
        payload.downcast_ref::<i64>(),
        Some(&3),
        "the original payload"
    );
    let (rc, message) = status.expect("sqlite3_exec returned before the panic resumed");
    assert_eq!(rc, SQLITE_ERROR, "the fallback failed the statement");
    assert_eq!(message.as_deref(), Some("rust function panicked"));
    assert_eq!(values, [Some("10".to_owned()), Some("20".to_owned())]);
    assert_eq!(calls.get(), 3);

    // The panic reached the Rust caller when the guard re-raised it, so the
    // boxed holder C keeps runs user code again in the next guarded call.
    let (rc, message, values) = resume_panics(|| query_column(&db, "SELECT times(1)"));
    assert_eq!(rc, SQLITE_OK, "{message:?}");
    assert_eq!(values, [Some("10".to_owned())]);
    assert_eq!(calls.get(), 4);

    db.close();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "a holder that panicked is still destroyed once"
    );
}

/// The fn form with accessor user data: `&Cell<i64>` comes from
/// `sqlite3_user_data(ctx)`, not from a C parameter.
#[callback(
    // SAFETY: `ctx` is the context sqlite passed to this very call.
    user_data = unsafe { sqlite3_user_data(ctx) }
)]
extern "C" fn running_total(
    ctx: *mut sqlite3_context,
    _argc: c_int,
    argv: *mut *mut sqlite3_value,
    #[user_data] total: &Cell<i64>,
) {
    // SAFETY: registered with one argument.
    let x = unsafe { sqlite3_value_int64(*argv) };
    total.set(total.get() + x);
    // SAFETY: `ctx` is this call's context.
    unsafe { sqlite3_result_int64(ctx, total.get()) };
}

#[test]
fn fn_form_scalar_function_with_accessor_user_data() {
    let db = numbers_db();
    let total: Cell<i64> = Cell::new(1000);
    // SAFETY: `running_total` receives `&Cell<i64>` through
    // `sqlite3_user_data`; `total` outlives the connection (closed below),
    // and no destroy-notify is needed for a borrow.
    let rc = unsafe {
        sqlite3_create_function_v2(
            db.0,
            c"running_total".as_ptr(),
            1,
            SQLITE_UTF8,
            ffi_callback::user_data_ref(&total),
            Some(running_total),
            None,
            None,
            None,
        )
    };
    assert_eq!(rc, SQLITE_OK);
    let (rc, _, values) = query_column(&db, "SELECT running_total(x) FROM t");
    assert_eq!(rc, SQLITE_OK);
    assert_eq!(
        values,
        ["1001", "1003", "1006", "1010", "1015"].map(|s| Some(s.to_owned()))
    );
    db.close();
    assert_eq!(total.get(), 1015);
}

// ---------------------------------------------------------------------------
// sqlite3_busy_handler: 0 gives up
// ---------------------------------------------------------------------------

#[callback(fallback = 0)]
type BusyHandler = unsafe extern "C" fn(#[user_data] ud: *mut c_void, count: c_int) -> c_int;

/// Two connections to one file; the first holds an exclusive lock.
fn locked_pair(name: &str) -> (TempDb, Db, Db) {
    let file = TempDb::new(name);
    let holder = Db::open(file.path());
    holder
        .exec("CREATE TABLE t(x); INSERT INTO t VALUES (1); BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);")
        .unwrap();
    let waiter = Db::open(file.path());
    (file, holder, waiter)
}

#[test]
fn busy_handler_retries_until_it_returns_zero() {
    let (_file, holder, waiter) = locked_pair("busy-retry");
    let counts = RefCell::new(Vec::new());
    let handler = BusyHandler::new(|count| {
        counts.borrow_mut().push(count);
        c_int::from(count < 3)
    });
    // SAFETY: `handler` outlives its registration (removed below).
    unsafe { sqlite3_busy_handler(waiter.0, Some(handler.function()), handler.user_data()) };
    let result = resume_panics(|| waiter.exec("SELECT count(*) FROM t"));
    assert_eq!(result.map_err(|e| e.0), Err(SQLITE_BUSY));
    assert_eq!(
        *counts.borrow(),
        [0, 1, 2, 3],
        "retried while it returned 1"
    );

    holder.exec("COMMIT").unwrap();
    let result = resume_panics(|| waiter.exec("SELECT count(*) FROM t"));
    assert_eq!(result, Ok(()));
    assert_eq!(counts.borrow().len(), 4, "not called without contention");
    // SAFETY: unregisters the handler before it is dropped.
    unsafe { sqlite3_busy_handler(waiter.0, None, ptr::null_mut()) };
}

#[test]
fn busy_handler_panic_gives_up_with_the_fallback_zero() {
    let (_file, holder, waiter) = locked_pair("busy-panic");
    let calls = Cell::new(0);
    let handler = BusyHandler::new(|_count| -> c_int {
        calls.set(calls.get() + 1);
        assert!(calls.get() > 1, "busy handler gave up");
        0
    });
    // SAFETY: `handler` outlives its registration (removed below).
    unsafe { sqlite3_busy_handler(waiter.0, Some(handler.function()), handler.user_data()) };
    let mut result = None;
    let payload =
        payload_of(|| resume_panics(|| result = Some(waiter.exec("SELECT count(*) FROM t"))));
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"busy handler gave up")
    );
    assert_eq!(
        result.map(|r| r.map_err(|e| e.0)),
        Some(Err(SQLITE_BUSY)),
        "0 made sqlite give up at once"
    );
    assert_eq!(calls.get(), 1);

    // The guard re-raised the panic, so the next call runs the handler
    // again (its 0 gives up at once).
    let result = resume_panics(|| waiter.exec("SELECT count(*) FROM t"));
    assert_eq!(result.map_err(|e| e.0), Err(SQLITE_BUSY));
    assert_eq!(calls.get(), 2);

    // SAFETY: unregisters the handler before it is dropped.
    unsafe { sqlite3_busy_handler(waiter.0, None, ptr::null_mut()) };
    holder.exec("COMMIT").unwrap();
}

// ---------------------------------------------------------------------------
// sqlite3_trace_v2: user data in the middle
// ---------------------------------------------------------------------------

/// `int(unsigned mask, void *ctx, void *p, void *x)`: the context is the
/// second parameter.
#[callback]
type Trace = unsafe extern "C" fn(
    mask: c_uint,
    #[user_data] ctx: *mut c_void,
    p: *mut c_void,
    x: *mut c_void,
) -> c_int;

#[derive(Debug, PartialEq)]
enum Event {
    Statement(String),
    Close(*mut c_void),
}

#[test]
fn trace_v2_with_user_data_in_the_middle() {
    let db = Db::memory();
    let handle = db.0;
    let mut events = Vec::new();
    Trace::scope(
        |mask, p, x| {
            match mask {
                SQLITE_TRACE_STMT => {
                    assert!(!p.is_null(), "P is the statement");
                    // SAFETY: for SQLITE_TRACE_STMT, X is the statement's
                    // NUL-terminated SQL text.
                    let sql = unsafe { CStr::from_ptr(x.cast::<c_char>()) };
                    events.push(Event::Statement(sql.to_string_lossy().into_owned()));
                }
                SQLITE_TRACE_CLOSE => events.push(Event::Close(p)),
                other => panic!("unexpected trace event {other}"),
            }
            0
        },
        |func, ud| {
            // SAFETY: `func` takes `ud`; the holder outlives this closure,
            // and the connection is closed before it returns.
            unsafe {
                assert_eq!(
                    sqlite3_trace_v2(
                        handle,
                        SQLITE_TRACE_STMT | SQLITE_TRACE_CLOSE,
                        Some(func),
                        ud
                    ),
                    SQLITE_OK
                );
            }
            db.exec("CREATE TABLE t(x)").unwrap();
            db.exec("INSERT INTO t VALUES (42)").unwrap();
            db.close();
        },
    );
    assert_eq!(
        events,
        [
            Event::Statement("CREATE TABLE t(x)".to_owned()),
            Event::Statement("INSERT INTO t VALUES (42)".to_owned()),
            Event::Close(handle.cast()),
        ]
    );
}

#[test]
fn trace_v2_panic_is_resumed_after_the_statement() {
    let db = Db::memory();
    let mut calls = 0;
    let mut results = Vec::new();
    let payload = payload_of(|| {
        Trace::scope(
            |_, _, _| -> c_int {
                calls += 1;
                panic!("trace failed");
            },
            |func, ud| {
                // SAFETY: `func` takes `ud`; the trace is removed before
                // the holder goes.
                unsafe { sqlite3_trace_v2(db.0, SQLITE_TRACE_STMT, Some(func), ud) };
                results.push(db.exec("CREATE TABLE t(x)"));
                results.push(db.exec("INSERT INTO t VALUES (1)"));
                // SAFETY: removes the trace callback.
                unsafe { sqlite3_trace_v2(db.0, 0, None, ptr::null_mut()) };
            },
        )
    });
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"trace failed"));
    assert_eq!(
        results,
        [Ok(()), Ok(())],
        "sqlite ignores the trace's return value"
    );
    assert_eq!(
        calls, 1,
        "the poisoned holder ran no user code for the second statement"
    );
    let (_, _, values) = query_column(&db, "SELECT count(*) FROM t");
    assert_eq!(values, [Some("1".to_owned())]);
}

// ---------------------------------------------------------------------------
// `ControlFlow` rows: `on_continue = 0, on_break = 1`, and borrowed names
// ---------------------------------------------------------------------------

/// `sqlite3_exec`'s row callback: 0 goes on, non-zero aborts the statement.
#[callback(on_continue = 0, on_break = 1)]
type ExecFlow = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    n: c_int,
    values: *mut *mut c_char,
    names: *mut *mut c_char,
) -> c_int;

#[test]
fn exec_row_callback_breaks_with_control_flow() {
    let db = Db::memory();
    db.exec("CREATE TABLE t(x); INSERT INTO t VALUES ('a'), ('b'), ('c'), ('d');")
        .unwrap();
    let mut seen = Vec::new();
    let (rc, message) = ExecFlow::scope(
        |n, values, _names| {
            assert_eq!(n, 1);
            // SAFETY: sqlite passes the row's one column.
            seen.push(unsafe { column(values, 0) }.unwrap());
            if seen.len() < 2 {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        },
        // SAFETY: `func` takes `ud`, alive for the call.
        |func, ud| unsafe { db.exec_with("SELECT x FROM t ORDER BY x", Some(func), ud) },
    );
    assert_eq!(
        rc, SQLITE_ABORT,
        "Break gave sqlite 1, which aborts: {message:?}"
    );
    assert_eq!(seen, ["a", "b"]);
}
