//! The rest of SQLite's callback API, as a binding (rusqlite-like) would
//! wire it with `#[callback]`, against the bundled library of
//! `libsqlite3-sys`:
//!
//! - `sqlite3_set_authorizer` (`#[into(Option<&CStr>)]` arguments, a table
//!   denied, a column ignored, a panic that denies);
//! - `sqlite3_trace_v2` with `SQLITE_TRACE_PROFILE` (`X` borrowed as
//!   `&i64`) and what a mask adding `SQLITE_TRACE_ROW` does to that borrow;
//! - `sqlite3_commit_hook` (`ControlFlow`), `sqlite3_rollback_hook` and
//!   `sqlite3_update_hook` (`#[into(&CStr)]` names, `#[into(Op)]`) as
//!   Rust-owned boxed hooks, replaced and dropped; a panicking commit hook;
//! - `sqlite3_wal_hook` returning `Result` with `?` under `try_scope`;
//! - `sqlite3_create_collation_v2` (slices of both strings, or `&str`s,
//!   refused when not UTF-8; `boxed` + `xDestroy`, destroyed once on
//!   replacement, on close, and by hand when the registration fails) and
//!   `sqlite3_collation_needed` (fn form);
//! - `sqlite3_exec` rows borrowed as `&[*mut c_char]` slices;
//! - `sqlite3_bind_blob` / `sqlite3_result_text` destructors freeing a Rust
//!   `Box` exactly once (fn form, `Box<T>` user data);
//! - `sqlite3_auto_extension` (fn form without user data), a panic in it
//!   failing `sqlite3_open`;
//! - `sqlite3_busy_handler` that ends the contention itself.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::path::PathBuf;
use std::ptr;
use std::rc::Rc;

use ffi_callback::{callback, resume_panics};
use ffi_callback_tests::sqlite::Db;
use libsqlite3_sys::{
    SQLITE_AUTH, SQLITE_BUSY, SQLITE_CONSTRAINT, SQLITE_DELETE, SQLITE_DENY, SQLITE_DONE,
    SQLITE_ERROR, SQLITE_FULL, SQLITE_IGNORE, SQLITE_INSERT, SQLITE_MISUSE, SQLITE_OK,
    SQLITE_RANGE, SQLITE_READ, SQLITE_ROW, SQLITE_TRACE_PROFILE, SQLITE_TRACE_ROW, SQLITE_UPDATE,
    SQLITE_UTF8, sqlite3, sqlite3_api_routines, sqlite3_auto_extension, sqlite3_bind_blob,
    sqlite3_busy_handler, sqlite3_cancel_auto_extension, sqlite3_collation_needed,
    sqlite3_column_text, sqlite3_commit_hook, sqlite3_context, sqlite3_create_collation_v2,
    sqlite3_create_function_v2, sqlite3_finalize, sqlite3_mprintf, sqlite3_open,
    sqlite3_prepare_v2, sqlite3_reset, sqlite3_result_int64, sqlite3_result_text,
    sqlite3_rollback_hook, sqlite3_set_authorizer, sqlite3_sql, sqlite3_step, sqlite3_stmt,
    sqlite3_trace_v2, sqlite3_update_hook, sqlite3_user_data, sqlite3_value, sqlite3_value_text,
    sqlite3_wal_hook,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The first column of every row of a query, through a prepared statement.
trait Column {
    /// The first column of every row of `sql`, as text (NULL as `None`),
    /// through a prepared statement (no row callback).
    fn column(&self, sql: &str) -> Result<Vec<Option<String>>, (c_int, String)>;
}

impl Column for Db {
    fn column(&self, sql: &str) -> Result<Vec<Option<String>>, (c_int, String)> {
        let stmt = Stmt::prepare(self, sql)?;
        let mut values = Vec::new();
        loop {
            // SAFETY: `stmt` is a live statement of this connection.
            match unsafe { sqlite3_step(stmt.0) } {
                SQLITE_ROW => values.push(stmt.text(0)),
                SQLITE_DONE => return Ok(values),
                rc => return Err((rc, self.errmsg())),
            }
        }
    }
}

/// A prepared statement, finalized on drop.
struct Stmt(*mut sqlite3_stmt);

impl Stmt {
    fn prepare(db: &Db, sql: &str) -> Result<Stmt, (c_int, String)> {
        let sql = CString::new(sql).unwrap();
        let mut stmt = ptr::null_mut();
        // SAFETY: `db.0` is open, `sql` NUL-terminated, `stmt` a valid out
        // pointer; the tail is not wanted.
        let rc = unsafe { sqlite3_prepare_v2(db.0, sql.as_ptr(), -1, &mut stmt, ptr::null_mut()) };
        if rc == SQLITE_OK {
            Ok(Stmt(stmt))
        } else {
            Err((rc, db.errmsg()))
        }
    }

    /// Column `i` of the current row as text.
    fn text(&self, i: c_int) -> Option<String> {
        // SAFETY: `self.0` is positioned on a row; the text is valid until
        // the next step, and we copy it at once.
        let text = unsafe { sqlite3_column_text(self.0, i) };
        (!text.is_null()).then(|| {
            // SAFETY: non-null column text is NUL-terminated.
            unsafe { CStr::from_ptr(text.cast()) }
                .to_string_lossy()
                .into_owned()
        })
    }

    fn step(&self) -> c_int {
        // SAFETY: `self.0` is a live statement.
        unsafe { sqlite3_step(self.0) }
    }

    fn reset(&self) {
        // SAFETY: `self.0` is a live statement.
        unsafe { sqlite3_reset(self.0) };
    }

    fn finalize(mut self) {
        let stmt = std::mem::replace(&mut self.0, ptr::null_mut());
        // SAFETY: `stmt` is a live statement, finalized once.
        unsafe { sqlite3_finalize(stmt) };
    }
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: null (already finalized) or a live statement.
        unsafe { sqlite3_finalize(self.0) };
    }
}

/// A database file in the temp directory, removed (with its journals) on
/// drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        let path = std::env::temp_dir().join(format!(
            "ffi-callback-more-{name}-{}.sqlite3",
            std::process::id()
        ));
        let db = TempDb(path);
        db.remove();
        db
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn remove(&self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Counts drops of whatever holds it.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected the callback's panic to be resumed"),
        Err(payload) => payload,
    }
}

fn strings(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some((*v).to_owned())).collect()
}

// ---------------------------------------------------------------------------
// sqlite3_set_authorizer: borrowed optional names
// ---------------------------------------------------------------------------

/// `int xAuth(void*, int action, const char*, const char*, const char*,
/// const char*)`: every name may be NULL. A panic (or a refusal) denies.
#[callback(fallback = SQLITE_DENY)]
type Authorizer = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    action: c_int,
    #[into(Option<&CStr>)] arg1: *const c_char,
    #[into(Option<&CStr>)] arg2: *const c_char,
    #[into(Option<&CStr>)] db_name: *const c_char,
    #[into(Option<&CStr>)] trigger: *const c_char,
) -> c_int;

/// Registers the authorizer for the duration of `run`, then removes it
/// (also when `run` panics).
fn with_authorizer<R>(db: &Db, func: AuthorizerFn, ud: *mut c_void, run: impl FnOnce() -> R) -> R {
    /// Removes the authorizer on drop.
    struct Registered(*mut sqlite3);
    impl Drop for Registered {
        fn drop(&mut self) {
            // SAFETY: `self.0` is open; a null authorizer unregisters.
            unsafe { sqlite3_set_authorizer(self.0, None, ptr::null_mut()) };
        }
    }
    // SAFETY: `db.0` is open; `func` takes `ud`, which the caller keeps
    // alive until this returns, and `Registered` unregisters it before that.
    let rc = unsafe { sqlite3_set_authorizer(db.0, Some(func), ud) };
    assert_eq!(rc, SQLITE_OK);
    let _registered = Registered(db.0);
    run()
}

fn secrets_db() -> Db {
    let db = Db::memory();
    db.exec(
        "CREATE TABLE public(x, hidden); INSERT INTO public VALUES (1, 'h1'), (2, 'h2');
         CREATE TABLE secret(y); INSERT INTO secret VALUES ('s');",
    )
    .unwrap();
    db
}

#[test]
fn authorizer_denies_a_table_and_ignores_a_column_by_borrowed_name() {
    let db = secrets_db();
    let mut reads = Vec::new();
    let (public, hidden, secret) = Authorizer::scope(
        |action, table: Option<&CStr>, column: Option<&CStr>, db_name: Option<&CStr>, trigger| {
            if action != SQLITE_READ {
                return SQLITE_OK;
            }
            let (table, column) = (table.unwrap(), column.unwrap());
            reads.push((
                table.to_str().unwrap().to_owned(),
                column.to_str().unwrap().to_owned(),
                db_name.map(|d| d.to_str().unwrap().to_owned()),
                trigger.is_none(),
            ));
            match (table.to_bytes(), column.to_bytes()) {
                (b"secret", _) => SQLITE_DENY,
                (b"public", b"hidden") => SQLITE_IGNORE,
                _ => SQLITE_OK,
            }
        },
        |func, ud| {
            with_authorizer(&db, func, ud, || {
                (
                    db.column("SELECT x FROM public ORDER BY x"),
                    db.column("SELECT hidden FROM public ORDER BY x"),
                    db.column("SELECT y FROM secret"),
                )
            })
        },
    );
    assert_eq!(public, Ok(strings(&["1", "2"])));
    assert_eq!(
        hidden,
        Ok(vec![None, None]),
        "IGNORE reads the column as NULL"
    );
    assert_eq!(
        secret,
        Err((SQLITE_AUTH, "access to secret.y is prohibited".to_owned()))
    );
    let main = Some("main".to_owned());
    assert_eq!(
        reads,
        [
            ("public".to_owned(), "x".to_owned(), main.clone(), true),
            ("public".to_owned(), "x".to_owned(), main.clone(), true),
            ("public".to_owned(), "hidden".to_owned(), main.clone(), true),
            ("public".to_owned(), "x".to_owned(), main.clone(), true),
            ("secret".to_owned(), "y".to_owned(), main, true),
        ]
    );
    // Unregistered: the secret is readable again.
    assert_eq!(db.column("SELECT y FROM secret"), Ok(strings(&["s"])));
}

#[derive(Debug, PartialEq)]
struct AuthPanic(String);

#[test]
fn authorizer_panic_denies_with_the_fallback_and_poisons_it_until_resumed() {
    let db = secrets_db();
    let mut calls = 0;
    let mut results = Vec::new();
    let payload = payload_of(|| {
        Authorizer::scope(
            |action, table: Option<&CStr>, _column, _db, _trigger| -> c_int {
                calls += 1;
                if action == SQLITE_READ && table.unwrap().to_bytes() == b"secret" {
                    panic_any(AuthPanic("secret".to_owned()));
                }
                SQLITE_OK
            },
            |func, ud| {
                with_authorizer(&db, func, ud, || {
                    results.push(db.column("SELECT x FROM public ORDER BY x"));
                    results.push(db.column("SELECT y FROM secret"));
                    // Poisoned: every call gets SQLITE_DENY without running
                    // the closure, so even a harmless statement is refused.
                    results.push(db.column("SELECT 1"));
                })
            },
        )
    });
    assert_eq!(
        payload.downcast_ref::<AuthPanic>(),
        Some(&AuthPanic("secret".to_owned()))
    );
    assert_eq!(results[0], Ok(strings(&["1", "2"])));
    assert_eq!(
        results[1],
        Err((SQLITE_AUTH, "access to secret.y is prohibited".to_owned())),
        "the fallback SQLITE_DENY refused the read"
    );
    assert_eq!(results[2], Err((SQLITE_AUTH, "not authorized".to_owned())));
    // SELECT (1) + READ x (2, the ORDER BY reads it again); SELECT + READ
    // y (panics): 5 calls, none after the panic.
    assert_eq!(calls, 5);
}

// ---------------------------------------------------------------------------
// sqlite3_trace_v2: SQLITE_TRACE_PROFILE, X borrowed as `&i64`
// ---------------------------------------------------------------------------

/// `int(unsigned mask, void *ctx, void *P, void *X)` for a connection traced
/// with `SQLITE_TRACE_PROFILE` only: P is the statement, X points at the
/// run time in nanoseconds.
#[callback]
type ProfileTrace = unsafe extern "C" fn(
    mask: c_uint,
    #[user_data] ctx: *mut c_void,
    p: *mut c_void,
    #[into(&i64)] nanoseconds: *mut c_void,
) -> c_int;

/// The SQL text of a statement.
///
/// # Safety
/// `stmt` is a live statement.
unsafe fn sql_of(stmt: *mut c_void) -> String {
    // SAFETY: by the caller's promise; the text lives as long as the
    // statement and is copied at once.
    unsafe { CStr::from_ptr(sqlite3_sql(stmt.cast())) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn trace_v2_profile_borrows_the_nanoseconds_behind_x() {
    let db = Db::memory();
    let mut profiles = Vec::new();
    ProfileTrace::scope(
        |mask, p, nanoseconds: &i64| {
            assert_eq!(mask, SQLITE_TRACE_PROFILE);
            // SAFETY: for SQLITE_TRACE_PROFILE, P is the running statement.
            profiles.push((unsafe { sql_of(p) }, *nanoseconds));
            0
        },
        |func, ud| {
            // SAFETY: `func` takes `ud`; the trace is removed before the
            // holder goes.
            let rc = unsafe { sqlite3_trace_v2(db.0, SQLITE_TRACE_PROFILE, Some(func), ud) };
            assert_eq!(rc, SQLITE_OK);
            db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);")
                .unwrap();
            assert_eq!(db.column("SELECT sum(x) FROM t"), Ok(strings(&["3"])));
            // SAFETY: removes the trace callback.
            unsafe { sqlite3_trace_v2(db.0, 0, None, ptr::null_mut()) };
        },
    );
    let sql: Vec<&str> = profiles.iter().map(|(sql, _)| sql.as_str()).collect();
    assert_eq!(
        sql,
        [
            "CREATE TABLE t(x);",
            "INSERT INTO t VALUES (1), (2);",
            "SELECT sum(x) FROM t"
        ]
    );
    assert!(
        profiles.iter().all(|&(_, ns)| ns >= 0),
        "run times in nanoseconds: {profiles:?}"
    );
}

/// The same type registered with `SQLITE_TRACE_ROW` too: for a row event X
/// is unused (NULL), so the `&i64` borrow refuses that call, naming the
/// parameter, and the refusal comes back from `scope` like a panic. The
/// refusal happens before the holder, which is not poisoned: the statement's
/// PROFILE event, after its rows, still runs the closure.
#[test]
fn trace_v2_row_event_with_null_x_is_refused_by_the_borrow() {
    let db = Db::memory();
    db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    let mut profiles = 0;
    let mut rows = None;
    let payload = payload_of(|| {
        ProfileTrace::scope(
            |_mask, _p, _nanoseconds: &i64| {
                profiles += 1;
                0
            },
            |func, ud| {
                // SAFETY: as above.
                unsafe {
                    sqlite3_trace_v2(
                        db.0,
                        SQLITE_TRACE_PROFILE | SQLITE_TRACE_ROW,
                        Some(func),
                        ud,
                    )
                };
                rows = Some(db.column("SELECT x FROM t ORDER BY x"));
                // SAFETY: removes the trace callback.
                unsafe { sqlite3_trace_v2(db.0, 0, None, ptr::null_mut()) };
            },
        )
    });
    let message = payload
        .downcast_ref::<String>()
        .expect("a refusal is a panic with a message");
    assert!(
        message.contains("nanoseconds"),
        "names the parameter: {message}"
    );
    assert!(message.contains("null"), "says why: {message}");
    assert_eq!(
        rows,
        Some(Ok(strings(&["1", "2"]))),
        "sqlite ignores the trace's return value"
    );
    assert_eq!(
        profiles, 1,
        "the two ROW calls were refused before the holder, which ran for the PROFILE"
    );
}

// ---------------------------------------------------------------------------
// Commit, rollback and update hooks: Rust-owned boxed holders
// ---------------------------------------------------------------------------

/// `int xCommit(void*)`: non-zero turns the COMMIT into a ROLLBACK. After a
/// panic the fallback 1 vetoes too (the default 0 would commit).
#[callback(on_continue = 0, on_break = 1, fallback = 1)]
type CommitHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

/// `void xRollback(void*)`.
#[callback]
type RollbackHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Insert,
    Update,
    Delete,
}

impl TryFrom<c_int> for Op {
    type Error = c_int;
    fn try_from(op: c_int) -> Result<Op, c_int> {
        match op {
            SQLITE_INSERT => Ok(Op::Insert),
            SQLITE_UPDATE => Ok(Op::Update),
            SQLITE_DELETE => Ok(Op::Delete),
            other => Err(other),
        }
    }
}

/// `void xUpdate(void*, int op, const char *db, const char *table,
/// sqlite3_int64 rowid)`.
#[callback]
type UpdateHook = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(Op)] op: c_int,
    #[into(&CStr)] db_name: *const c_char,
    #[into(&CStr)] table: *const c_char,
    rowid: i64,
);

#[derive(Debug, PartialEq)]
enum Event {
    Change(Op, String, String, i64),
    Commit(&'static str),
    Rollback,
}

#[test]
fn commit_rollback_update_hooks_veto_a_commit_and_are_replaced_and_dropped() {
    let db = Db::memory();
    db.exec("CREATE TABLE t(x)").unwrap();
    let events: Rc<RefCell<Vec<Event>>> = Rc::default();
    let drops = Rc::new(Cell::new(0));
    let veto = Rc::new(Cell::new(false));

    let commit = CommitHook::boxed({
        let (events, veto, guard) = (events.clone(), veto.clone(), DropCounter(drops.clone()));
        move || {
            let _ = &guard;
            events.borrow_mut().push(Event::Commit("first"));
            if veto.get() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    });
    let rollback = RollbackHook::boxed({
        let (events, guard) = (events.clone(), DropCounter(drops.clone()));
        move || {
            let _ = &guard;
            events.borrow_mut().push(Event::Rollback);
        }
    });
    let update = UpdateHook::boxed({
        let (events, guard) = (events.clone(), DropCounter(drops.clone()));
        move |op, db_name: &CStr, table: &CStr, rowid| {
            let _ = &guard;
            events.borrow_mut().push(Event::Change(
                op,
                db_name.to_str().unwrap().to_owned(),
                table.to_str().unwrap().to_owned(),
                rowid,
            ));
        }
    });
    // SAFETY: each boxed hook outlives its registration (all are replaced or
    // removed below before they are dropped).
    unsafe {
        assert!(sqlite3_commit_hook(db.0, Some(commit.function()), commit.user_data()).is_null());
        assert!(
            sqlite3_rollback_hook(db.0, Some(rollback.function()), rollback.user_data()).is_null()
        );
        assert!(sqlite3_update_hook(db.0, Some(update.function()), update.user_data()).is_null());
    }

    resume_panics(|| db.exec("BEGIN; INSERT INTO t VALUES (1); UPDATE t SET x = 2; COMMIT;"))
        .unwrap();
    veto.set(true);
    let vetoed = resume_panics(|| {
        db.exec("BEGIN; INSERT INTO t VALUES (3); DELETE FROM t WHERE x > 0; COMMIT;")
    });
    assert_eq!(
        vetoed.map_err(|e| e.0),
        Err(SQLITE_CONSTRAINT),
        "Break became 1: the COMMIT failed"
    );
    let main = || "main".to_owned();
    let t = || "t".to_owned();
    assert_eq!(
        *events.borrow(),
        [
            Event::Change(Op::Insert, main(), t(), 1),
            Event::Change(Op::Update, main(), t(), 1),
            Event::Commit("first"),
            Event::Change(Op::Insert, main(), t(), 2),
            Event::Change(Op::Delete, main(), t(), 1),
            Event::Change(Op::Delete, main(), t(), 2),
            Event::Commit("first"),
            Event::Rollback,
        ]
    );
    assert_eq!(
        db.column("SELECT x FROM t"),
        Ok(strings(&["2"])),
        "rolled back"
    );

    // Replacing a hook hands back the old user data: the binding checks it
    // is the holder it kept, then drops that holder.
    events.borrow_mut().clear();
    let second = CommitHook::boxed({
        let events = events.clone();
        move || {
            events.borrow_mut().push(Event::Commit("second"));
            ControlFlow::Continue(())
        }
    });
    // SAFETY: `second` outlives its registration (removed below).
    let old = unsafe { sqlite3_commit_hook(db.0, Some(second.function()), second.user_data()) };
    assert_eq!(old, commit.user_data());
    assert_eq!(drops.get(), 0);
    drop(commit);
    assert_eq!(drops.get(), 1, "the replaced hook dropped once, by Rust");
    resume_panics(|| db.exec("INSERT INTO t VALUES (4)")).unwrap();
    assert_eq!(
        *events.borrow(),
        [
            Event::Change(Op::Insert, main(), t(), 2),
            Event::Commit("second"),
        ]
    );

    // SAFETY: removes every hook before its holder is dropped.
    unsafe {
        assert_eq!(
            sqlite3_commit_hook(db.0, None, ptr::null_mut()),
            second.user_data()
        );
        assert_eq!(
            sqlite3_rollback_hook(db.0, None, ptr::null_mut()),
            rollback.user_data()
        );
        assert_eq!(
            sqlite3_update_hook(db.0, None, ptr::null_mut()),
            update.user_data()
        );
    }
    drop((second, rollback, update));
    assert_eq!(drops.get(), 3);
    db.close();
}

#[derive(Debug, PartialEq)]
struct CommitPanic(u32);

#[test]
fn commit_hook_panic_rolls_back_with_the_fallback_and_is_resumed() {
    let db = Db::memory();
    db.exec("CREATE TABLE t(x)").unwrap();
    let rollbacks = Rc::new(Cell::new(0));
    let commits = Rc::new(Cell::new(0u32));
    let commit = CommitHook::boxed({
        let commits = commits.clone();
        move || -> ControlFlow<()> {
            commits.set(commits.get() + 1);
            if commits.get() == 2 {
                panic_any(CommitPanic(2));
            }
            ControlFlow::Continue(())
        }
    });
    let rollback = RollbackHook::boxed({
        let rollbacks = rollbacks.clone();
        move || rollbacks.set(rollbacks.get() + 1)
    });
    // SAFETY: both hooks outlive their registration (removed below).
    unsafe {
        sqlite3_commit_hook(db.0, Some(commit.function()), commit.user_data());
        sqlite3_rollback_hook(db.0, Some(rollback.function()), rollback.user_data());
    }
    resume_panics(|| db.exec("INSERT INTO t VALUES (1)")).unwrap();
    let mut second = None;
    let payload =
        payload_of(|| resume_panics(|| second = Some(db.exec("INSERT INTO t VALUES (2)"))));
    assert_eq!(payload.downcast_ref::<CommitPanic>(), Some(&CommitPanic(2)));
    assert_eq!(
        second.map(|r| r.map_err(|e| e.0)),
        Some(Err(SQLITE_CONSTRAINT)),
        "the fallback 1 vetoed the commit"
    );
    assert_eq!(
        rollbacks.get(),
        1,
        "the rollback hook (another holder) still ran"
    );
    assert_eq!(db.column("SELECT x FROM t"), Ok(strings(&["1"])));

    // The panic reached the caller: the hook commits again.
    resume_panics(|| db.exec("INSERT INTO t VALUES (3)")).unwrap();
    assert_eq!(commits.get(), 3);
    assert_eq!(
        db.column("SELECT x FROM t ORDER BY x"),
        Ok(strings(&["1", "3"]))
    );
    // SAFETY: removes both hooks before they are dropped.
    unsafe {
        sqlite3_commit_hook(db.0, None, ptr::null_mut());
        sqlite3_rollback_hook(db.0, None, ptr::null_mut());
    }
}

// ---------------------------------------------------------------------------
// sqlite3_wal_hook: `Result` with `?`
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
struct WalTooBig {
    db: String,
    pages: c_int,
}

/// Fails when the WAL holds more than `limit` pages.
fn check_wal(db: &CStr, pages: c_int, limit: c_int) -> Result<(), WalTooBig> {
    if pages > limit {
        return Err(WalTooBig {
            db: db.to_string_lossy().into_owned(),
            pages,
        });
    }
    Ok(())
}

/// `int xWal(void*, sqlite3*, const char *db, int pages)`: an error code
/// fails the statement that committed (the commit itself stands).
#[callback(error = WalTooBig, on_error = SQLITE_FULL)]
type WalHook = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    db: *mut sqlite3,
    #[into(&CStr)] db_name: *const c_char,
    pages: c_int,
) -> c_int;

#[test]
fn wal_hook_error_with_question_mark_fails_the_statement_and_try_scope_returns_it() {
    let file = TempDb::new("wal");
    let db = Db::open(file.path());
    assert_eq!(
        db.column("PRAGMA journal_mode = WAL"),
        Ok(strings(&["wal"]))
    );
    db.exec("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(x)")
        .unwrap();
    let handle = db.0;
    let mut seen = Vec::new();
    let mut results = Vec::new();
    let result = WalHook::try_scope(
        |conn, name: &CStr, pages| {
            assert_eq!(conn, handle);
            seen.push((name.to_str().unwrap().to_owned(), pages));
            check_wal(name, pages, 10)?;
            Ok(SQLITE_OK)
        },
        |func, ud| {
            // SAFETY: `func` takes `ud`; the hook is removed before the
            // holder goes.
            unsafe { sqlite3_wal_hook(db.0, Some(func), ud) };
            results.push(db.exec("INSERT INTO t VALUES (1)"));
            results.push(db.exec("INSERT INTO t VALUES (zeroblob(100000))"));
            // SAFETY: removes the hook.
            unsafe { sqlite3_wal_hook(db.0, None, ptr::null_mut()) };
        },
    );
    let err = result.expect_err("the hook's error came back");
    assert_eq!(err.db, "main");
    assert!(err.pages > 10, "{err:?}");
    assert_eq!(results[0], Ok(()));
    let (rc, message) = results[1].clone().unwrap_err();
    assert_eq!(
        rc, SQLITE_FULL,
        "on_error's code failed the statement: {message}"
    );
    assert_eq!(seen.len(), 2);
    assert!(seen[0].1 >= 1 && seen[0].1 <= 10, "{seen:?}");
    assert_eq!(seen[1].1, err.pages);
    assert_eq!(
        db.column("SELECT count(*) FROM t"),
        Ok(strings(&["2"])),
        "the failing statement's commit stands"
    );
}

// ---------------------------------------------------------------------------
// sqlite3_create_collation_v2: slices, boxed + xDestroy
// ---------------------------------------------------------------------------

/// `int xCompare(void*, int n1, const void *a, int n2, const void *b)`: both
/// strings borrowed as byte slices.
#[callback]
type Collation = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    n1: c_int,
    #[into(&[u8], len = n1 as usize)] a: *const c_void,
    n2: c_int,
    #[into(&[u8], len = n2 as usize)] b: *const c_void,
) -> c_int;

/// A collation ordering by `key`, counting calls and drops.
fn collation(
    key: fn(&[u8], &[u8]) -> std::cmp::Ordering,
    calls: Rc<Cell<usize>>,
    drops: Rc<Cell<usize>>,
) -> impl FnMut(c_int, &[u8], c_int, &[u8]) -> c_int + 'static {
    let guard = DropCounter(drops);
    move |n1, a, n2, b| {
        let _ = &guard;
        assert_eq!((a.len(), b.len()), (n1 as usize, n2 as usize));
        calls.set(calls.get() + 1);
        key(a, b) as c_int
    }
}

fn reverse(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    b.cmp(a)
}

fn by_length(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then(a.cmp(b))
}

/// Registers a boxed collation that sqlite frees through `xDestroy`; on a
/// failed registration sqlite does *not* call it, so the binding does.
fn create_collation(
    db: *mut sqlite3,
    name: &CStr,
    text_rep: c_int,
    f: impl FnMut(c_int, &[u8], c_int, &[u8]) -> c_int + 'static,
) -> c_int {
    let raw = Collation::boxed(f).into_raw();
    // SAFETY: `db` is an open connection (the caller's promise: every
    // caller passes one); `raw.function` takes `raw.user_data`; sqlite
    // calls `raw.destroy` once, when the collation is replaced or the
    // connection closes.
    let rc = unsafe {
        sqlite3_create_collation_v2(
            db,
            name.as_ptr(),
            text_rep,
            raw.user_data,
            Some(raw.function),
            Some(raw.destroy),
        )
    };
    if rc != SQLITE_OK {
        // SAFETY: sqlite kept nothing (createCollation returns before it
        // stores xDestroy), so this is the one destroy.
        unsafe { (raw.destroy)(raw.user_data) };
    }
    rc
}

fn words_db() -> Db {
    let db = Db::memory();
    db.exec("CREATE TABLE w(s); INSERT INTO w VALUES ('pear'), ('fig'), ('banana'), ('apple');")
        .unwrap();
    db
}

#[test]
fn collation_boxed_with_xdestroy_is_destroyed_once_on_replacement_and_on_close() {
    let db = words_db();
    let calls = Rc::new(Cell::new(0));
    let (first, second) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    assert_eq!(
        create_collation(
            db.0,
            c"custom",
            SQLITE_UTF8,
            collation(reverse, calls.clone(), first.clone())
        ),
        SQLITE_OK
    );
    assert_eq!(
        db.column("SELECT s FROM w ORDER BY s COLLATE custom"),
        Ok(strings(&["pear", "fig", "banana", "apple"]))
    );
    assert!(calls.get() >= 3);
    assert_eq!(first.get(), 0, "alive while registered");

    assert_eq!(
        create_collation(
            db.0,
            c"custom",
            SQLITE_UTF8,
            collation(by_length, calls.clone(), second.clone())
        ),
        SQLITE_OK
    );
    assert_eq!(first.get(), 1, "replacing it destroyed the first, once");
    assert_eq!(
        db.column("SELECT s FROM w ORDER BY s COLLATE custom"),
        Ok(strings(&["fig", "pear", "apple", "banana"]))
    );
    db.close();
    assert_eq!(
        (first.get(), second.get()),
        (1, 1),
        "close destroyed the second, once"
    );
}

#[test]
fn collation_failed_registration_is_not_destroyed_by_sqlite() {
    let db = words_db();
    let calls = Rc::new(Cell::new(0));
    let drops = Rc::new(Cell::new(0));
    // eTextRep 0 is no encoding: SQLITE_MISUSE, and sqlite never calls
    // xDestroy (unlike sqlite3_create_function_v2).
    let rc = create_collation(
        db.0,
        c"broken",
        0,
        collation(reverse, calls.clone(), drops.clone()),
    );
    assert_eq!(rc, SQLITE_MISUSE);
    assert_eq!(drops.get(), 1, "the binding's own destroy freed it");
    assert_eq!(
        db.column("SELECT s FROM w ORDER BY s COLLATE broken"),
        Err((
            SQLITE_ERROR,
            "no such collation sequence: broken".to_owned()
        ))
    );
    db.close();
    assert_eq!((drops.get(), calls.get()), (1, 0), "and never again");
}

/// The same comparator with both strings borrowed as `&str` (`len` bytes,
/// which sqlite does not NUL-terminate): a string that is not UTF-8
/// (`CAST(x'..' AS TEXT)` stores any bytes) is refused, naming the
/// parameter; the comparison gets the fallback, 0.
#[callback(fallback = 0)]
type TextCollation = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    n1: c_int,
    #[into(&str, len = n1 as usize)] a: *const c_void,
    n2: c_int,
    #[into(&str, len = n2 as usize)] b: *const c_void,
) -> c_int;

/// Registers `func`/`ud` as the collation `chars` for the duration of
/// `run`, then removes it (also when `run` panics).
fn with_text_collation<R>(
    db: &Db,
    func: TextCollationFn,
    ud: *mut c_void,
    run: impl FnOnce() -> R,
) -> R {
    /// Removes the collation on drop.
    struct Registered(*mut sqlite3);
    impl Drop for Registered {
        fn drop(&mut self) {
            // SAFETY: `self.0` is open; a null comparator removes the
            // collation.
            let rc = unsafe {
                sqlite3_create_collation_v2(
                    self.0,
                    c"chars".as_ptr(),
                    SQLITE_UTF8,
                    ptr::null_mut(),
                    None,
                    None,
                )
            };
            assert_eq!(rc, SQLITE_OK);
        }
    }
    // SAFETY: `db.0` is open; `func` takes `ud`, which the caller keeps
    // alive until this returns, and `Registered` removes it before that.
    let rc = unsafe {
        sqlite3_create_collation_v2(db.0, c"chars".as_ptr(), SQLITE_UTF8, ud, Some(func), None)
    };
    assert_eq!(rc, SQLITE_OK);
    let _registered = Registered(db.0);
    run()
}

/// By number of characters, then by text.
fn by_chars(_: c_int, a: &str, _: c_int, b: &str) -> c_int {
    let key = |s: &str| (s.chars().count(), s.to_owned());
    key(a).cmp(&key(b)) as c_int
}

#[test]
fn collation_borrowing_str_orders_by_characters() {
    let db = Db::memory();
    db.exec("CREATE TABLE w(s); INSERT INTO w VALUES ('abcd'), ('\u{e9}t\u{e9}'), ('ab');")
        .unwrap();
    let sorted = TextCollation::scope(by_chars, |func, ud| {
        with_text_collation(&db, func, ud, || {
            db.column("SELECT s FROM w ORDER BY s COLLATE chars")
        })
    });
    assert_eq!(
        sorted,
        Ok(strings(&["ab", "\u{e9}t\u{e9}", "abcd"])),
        "\"\u{e9}t\u{e9}\" is 3 characters in 5 bytes"
    );
}

#[test]
fn collation_borrowing_str_refuses_text_that_is_not_utf8() {
    let db = Db::memory();
    db.exec("CREATE TABLE w(s); INSERT INTO w VALUES ('ab'), (CAST(x'61ff62' AS TEXT));")
        .unwrap();
    let calls = Cell::new(0);
    let payload = payload_of(|| {
        TextCollation::scope(
            |n1, a: &str, n2, b: &str| {
                calls.set(calls.get() + 1);
                by_chars(n1, a, n2, b)
            },
            |func, ud| {
                with_text_collation(&db, func, ud, || {
                    db.column("SELECT s FROM w ORDER BY s COLLATE chars")
                })
            },
        )
    });
    assert_eq!(calls.get(), 0, "the only comparison was refused");
    let message = payload
        .downcast_ref::<String>()
        .expect("a refusal's message");
    assert!(
        message.contains("TextCollation` refused the call: its parameter `")
            && message
                .contains("is not UTF-8 (valid up to byte 1), where it is borrowed as `&str`"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// sqlite3_collation_needed: fn form, registering from inside the callback
// ---------------------------------------------------------------------------

/// What the collation-needed callback works on.
struct Provider {
    requested: RefCell<Vec<String>>,
    calls: Rc<Cell<usize>>,
    drops: Rc<Cell<usize>>,
}

/// `void xNeeded(void*, sqlite3*, int eTextRep, const char *name)`: the fn
/// form cannot borrow `name` as `&CStr` (`#[into]` is for closures), so the
/// body does.
#[callback]
extern "C" fn provide_collation(
    #[user_data] provider: &Provider,
    db: *mut sqlite3,
    _text_rep: c_int,
    name: *const c_char,
) {
    // SAFETY: sqlite passes the collation's NUL-terminated name.
    let name = unsafe { CStr::from_ptr(name) };
    provider
        .requested
        .borrow_mut()
        .push(name.to_string_lossy().into_owned());
    if name.to_bytes() == b"rust_reverse" {
        let f = collation(reverse, provider.calls.clone(), provider.drops.clone());
        let rc = create_collation(db, name, SQLITE_UTF8, f);
        assert_eq!(rc, SQLITE_OK);
    }
}

#[test]
fn collation_needed_registers_the_collation_on_first_use() {
    let db = words_db();
    let provider = Provider {
        requested: RefCell::default(),
        calls: Rc::default(),
        drops: Rc::default(),
    };
    // SAFETY: `provide_collation` receives `&Provider`, which outlives the
    // connection (closed below).
    let rc = unsafe {
        sqlite3_collation_needed(
            db.0,
            provide_collation::user_data(&provider),
            Some(provide_collation),
        )
    };
    assert_eq!(rc, SQLITE_OK);
    let query = "SELECT s FROM w ORDER BY s COLLATE rust_reverse";
    let reversed = strings(&["pear", "fig", "banana", "apple"]);
    assert_eq!(resume_panics(|| db.column(query)), Ok(reversed.clone()));
    assert_eq!(resume_panics(|| db.column(query)), Ok(reversed));
    assert_eq!(
        resume_panics(|| db.column("SELECT s FROM w ORDER BY s COLLATE unknown")),
        Err((
            SQLITE_ERROR,
            "no such collation sequence: unknown".to_owned()
        ))
    );
    assert_eq!(
        *provider.requested.borrow(),
        ["rust_reverse", "unknown"],
        "asked once per missing collation"
    );
    assert!(provider.calls.get() >= 6);
    db.close();
    assert_eq!(
        provider.drops.get(),
        1,
        "the collation it made, destroyed on close"
    );
}

// ---------------------------------------------------------------------------
// sqlite3_exec: rows borrowed as slices of `char *`
// ---------------------------------------------------------------------------

/// `sqlite3_exec`'s row callback with both arrays borrowed as `n` pointers.
#[callback(fallback = 1)]
type ExecSlices = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    n: c_int,
    #[into(&[*mut c_char], len = n as usize)] values: *mut *mut c_char,
    #[into(&[*mut c_char], len = n as usize)] names: *mut *mut c_char,
) -> c_int;

/// One `char *` of a row, copied.
///
/// # Safety
/// `text` is null or a NUL-terminated string valid for the call.
unsafe fn owned(text: *mut c_char) -> Option<String> {
    (!text.is_null()).then(|| {
        // SAFETY: by the caller's promise.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    })
}

#[test]
fn exec_rows_borrowed_as_slices_of_c_strings() {
    let db = Db::memory();
    db.exec("CREATE TABLE f(name, n); INSERT INTO f VALUES ('apple', 3), ('fig', NULL);")
        .unwrap();
    let mut header = Vec::new();
    let mut rows = Vec::new();
    let result = ExecSlices::scope(
        |n, values: &[*mut c_char], names: &[*mut c_char]| {
            assert_eq!(values.len(), n as usize);
            if header.is_empty() {
                // SAFETY: sqlite's column names are NUL-terminated for the call.
                header = names.iter().map(|&p| unsafe { owned(p) }).collect();
            }
            // SAFETY: values are NULL or NUL-terminated for the call.
            rows.push(
                values
                    .iter()
                    .map(|&p| unsafe { owned(p) })
                    .collect::<Vec<_>>(),
            );
            0
        },
        // SAFETY: `func` takes `ud`, and the holder outlives the call.
        |func, ud| unsafe {
            db.exec_with(
                "SELECT name, n, 'k' AS k FROM f ORDER BY name",
                Some(func),
                ud,
            )
        },
    );
    assert_eq!(result, (SQLITE_OK, None));
    assert_eq!(header, strings(&["name", "n", "k"]));
    assert_eq!(
        rows,
        [
            strings(&["apple", "3", "k"]),
            vec![Some("fig".to_owned()), None, Some("k".to_owned())],
        ]
    );
}

// ---------------------------------------------------------------------------
// Destructors of bound and returned values: `void(*)(void*)` receiving the
// data pointer itself
// ---------------------------------------------------------------------------

/// A blob whose bytes are at its own address, so the pointer sqlite hands
/// the destructor (the data pointer) is the `Box`'s.
#[repr(C)]
struct Blob {
    bytes: [u8; 4],
    drops: Rc<Cell<usize>>,
}

impl Drop for Blob {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// sqlite's destructor for a bound blob: ownership comes back.
#[callback]
extern "C" fn free_blob(#[user_data] blob: Box<Blob>) {
    drop(blob);
}

/// Binds `bytes` to parameter `index` without a copy; sqlite frees it.
fn bind_blob(stmt: &Stmt, index: c_int, bytes: [u8; 4], drops: &Rc<Cell<usize>>) -> c_int {
    let data = free_blob::user_data(Box::new(Blob {
        bytes,
        drops: drops.clone(),
    }));
    // SAFETY: `data` points at 4 bytes (the `repr(C)` first field), alive
    // until sqlite calls `free_blob` with that same pointer, once (also when
    // the bind fails).
    unsafe { sqlite3_bind_blob(stmt.0, index, data, 4, Some(free_blob)) }
}

#[test]
fn bind_blob_destructor_frees_the_rust_box_exactly_once() {
    let db = Db::memory();
    let drops = Rc::new(Cell::new(0));
    let stmt = Stmt::prepare(&db, "SELECT hex(?1), length(?1)").unwrap();
    assert_eq!(bind_blob(&stmt, 1, [1, 2, 3, 4], &drops), SQLITE_OK);
    assert_eq!(drops.get(), 0, "sqlite keeps the blob while bound");
    assert_eq!(stmt.step(), SQLITE_ROW);
    assert_eq!(
        (stmt.text(0), stmt.text(1)),
        (Some("01020304".to_owned()), Some("4".to_owned()))
    );
    // Binding to a running statement is misuse: sqlite frees the blob at once.
    assert_eq!(bind_blob(&stmt, 1, [0xCD; 4], &drops), SQLITE_MISUSE);
    assert_eq!(drops.get(), 1);
    // Reset, rebinding the parameter frees the first blob.
    stmt.reset();
    assert_eq!(bind_blob(&stmt, 1, [0xAB; 4], &drops), SQLITE_OK);
    assert_eq!(drops.get(), 2);
    // A failed bind (no parameter 9) frees its blob at once.
    assert_eq!(bind_blob(&stmt, 9, [0; 4], &drops), SQLITE_RANGE);
    assert_eq!(drops.get(), 3);
    assert_eq!(stmt.step(), SQLITE_ROW);
    assert_eq!(stmt.text(0), Some("ABABABAB".to_owned()));
    stmt.finalize();
    assert_eq!(drops.get(), 4, "finalize freed the bound one; each once");
}

/// A result text built in Rust, handed to sqlite without a copy.
#[repr(C)]
struct Text {
    bytes: [u8; 16],
    drops: Rc<Cell<usize>>,
}

impl Drop for Text {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

#[callback]
extern "C" fn free_text(#[user_data] text: Box<Text>) {
    drop(text);
}

/// `shout(s)`: `s` upper-cased (up to 16 bytes), returned through
/// `sqlite3_result_text` with `free_text` as its destructor.
#[callback(
    // SAFETY: `ctx` is the context sqlite passed to this very call.
    user_data = unsafe { sqlite3_user_data(ctx) }
)]
extern "C" fn shout(
    ctx: *mut sqlite3_context,
    _argc: c_int,
    argv: *mut *mut sqlite3_value,
    #[user_data] drops: &Rc<Cell<usize>>,
) {
    // SAFETY: registered with one argument, which the test passes as
    // non-NULL text, valid (NUL-terminated) for the call.
    let arg = unsafe { CStr::from_ptr(sqlite3_value_text(*argv).cast()) };
    let mut text = Text {
        bytes: [0; 16],
        drops: drops.clone(),
    };
    let n = arg.to_bytes().len().min(16);
    text.bytes[..n].copy_from_slice(&arg.to_bytes()[..n]);
    text.bytes.make_ascii_uppercase();
    let data = free_text::user_data(Box::new(text));
    // SAFETY: `data` points at `n` bytes of text, alive until sqlite calls
    // `free_text` with that pointer, once.
    unsafe { sqlite3_result_text(ctx, data.cast(), n as c_int, Some(free_text)) };
}

#[test]
fn result_text_destructor_frees_each_rust_box_exactly_once() {
    let db = Db::memory();
    db.exec("CREATE TABLE w(s); INSERT INTO w VALUES ('fig'), ('pear'), ('apple');")
        .unwrap();
    let drops = Rc::new(Cell::new(0));
    // SAFETY: `shout` receives `&Rc<Cell<usize>>` through
    // `sqlite3_user_data`; `drops` outlives the connection (closed below).
    let rc = unsafe {
        sqlite3_create_function_v2(
            db.0,
            c"shout".as_ptr(),
            1,
            SQLITE_UTF8,
            shout::user_data(&drops),
            Some(shout),
            None,
            None,
            None,
        )
    };
    assert_eq!(rc, SQLITE_OK);
    let values = resume_panics(|| db.column("SELECT shout(s) FROM w ORDER BY s"));
    assert_eq!(values, Ok(strings(&["APPLE", "FIG", "PEAR"])));
    assert_eq!(drops.get(), 3, "one box per call, each freed once");
    db.close();
    assert_eq!(drops.get(), 3);
}

// ---------------------------------------------------------------------------
// sqlite3_auto_extension: a fn without user data
// ---------------------------------------------------------------------------

thread_local! {
    /// Connections this thread opened while the extension was registered.
    static EXTENDED: Cell<usize> = const { Cell::new(0) };
    /// Makes the extension panic on this thread.
    static PANIC_IN_EXTENSION: Cell<bool> = const { Cell::new(false) };
}

/// Sets `*err` to a message sqlite frees, and fails.
fn extension_failed(err: *mut *mut c_char) -> c_int {
    // SAFETY: sqlite passes a valid out pointer for the message, which it
    // frees with `sqlite3_free`; the format has no conversions.
    unsafe { *err = sqlite3_mprintf(c"rust extension panicked".as_ptr()) };
    SQLITE_ERROR
}

/// Runs for every connection opened in the process: registers `answer()`.
/// The process-wide registration means other tests' connections (on other
/// threads) run it too, so it touches thread-local state only; and code the
/// binding does not control may open connections with no guard on its
/// thread, so a panic there is reported and fails that open instead of
/// aborting (`unguarded = fallback`).
#[callback(unguarded = fallback, fallback = extension_failed(err))]
extern "C" fn answer_extension(
    db: *mut sqlite3,
    err: *mut *mut c_char,
    _api: *const sqlite3_api_routines,
) -> c_int {
    EXTENDED.with(|n| n.set(n.get() + 1));
    if PANIC_IN_EXTENSION.with(Cell::get) {
        panic_any("extension failed");
    }
    // SAFETY: `db` is the connection being opened; `answer` takes no user
    // data.
    unsafe {
        sqlite3_create_function_v2(
            db,
            c"answer".as_ptr(),
            0,
            SQLITE_UTF8,
            ptr::null_mut(),
            Some(answer),
            None,
            None,
            None,
        )
    }
}

#[callback]
extern "C" fn answer(ctx: *mut sqlite3_context, _argc: c_int, _argv: *mut *mut sqlite3_value) {
    // SAFETY: `ctx` is this call's context.
    unsafe { sqlite3_result_int64(ctx, 42) };
}

/// Cancels the auto extension even if the test fails.
struct AutoExtension;

impl AutoExtension {
    fn register() -> AutoExtension {
        // SAFETY: `answer_extension` is a plain fn with no user data, valid
        // for the life of the process.
        let rc = unsafe { sqlite3_auto_extension(Some(answer_extension)) };
        assert_eq!(rc, SQLITE_OK);
        AutoExtension
    }
}

impl Drop for AutoExtension {
    fn drop(&mut self) {
        // SAFETY: cancels the registration made above.
        unsafe { sqlite3_cancel_auto_extension(Some(answer_extension)) };
    }
}

#[test]
fn auto_extension_runs_for_each_new_connection_and_its_panic_fails_the_open() {
    let registration = AutoExtension::register();
    let before = EXTENDED.with(Cell::get);
    let db = resume_panics(Db::memory);
    assert_eq!(EXTENDED.with(Cell::get), before + 1);
    assert_eq!(db.column("SELECT answer()"), Ok(strings(&["42"])));

    PANIC_IN_EXTENSION.with(|p| p.set(true));
    let mut opened = None;
    let payload = payload_of(|| {
        resume_panics(|| {
            let mut handle = ptr::null_mut();
            // SAFETY: a NUL-terminated name and a valid out pointer.
            let rc = unsafe { sqlite3_open(c":memory:".as_ptr(), &mut handle) };
            let failed = Db(handle);
            opened = Some((rc, failed.errmsg()));
        })
    });
    PANIC_IN_EXTENSION.with(|p| p.set(false));

    // A thread with no guard (another library opening a connection): the
    // panic is reported, not resumed, and the open fails the same way.
    let unguarded = std::thread::spawn(|| {
        PANIC_IN_EXTENSION.with(|p| p.set(true));
        let mut handle = ptr::null_mut();
        // SAFETY: a NUL-terminated name and a valid out pointer.
        let rc = unsafe { sqlite3_open(c":memory:".as_ptr(), &mut handle) };
        let failed = Db(handle);
        (rc, failed.errmsg(), EXTENDED.with(Cell::get))
    })
    .join()
    .expect("no panic reached the thread");
    assert_eq!(
        unguarded,
        (
            SQLITE_ERROR,
            "automatic extension loading failed: rust extension panicked".to_owned(),
            1
        )
    );
    drop(registration);
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"extension failed"));
    assert_eq!(
        opened,
        Some((
            SQLITE_ERROR,
            "automatic extension loading failed: rust extension panicked".to_owned()
        )),
        "the fallback's code and message reached sqlite3_open"
    );
    assert_eq!(EXTENDED.with(Cell::get), before + 2);

    // Cancelled: new connections lack `answer`.
    let plain = Db::memory();
    assert_eq!(EXTENDED.with(Cell::get), before + 2);
    assert_eq!(
        plain.column("SELECT answer()"),
        Err((SQLITE_ERROR, "no such function: answer".to_owned()))
    );
}

// ---------------------------------------------------------------------------
// sqlite3_busy_handler: a handler that ends the contention
// ---------------------------------------------------------------------------

#[callback(fallback = 0)]
type BusyHandler = unsafe extern "C" fn(#[user_data] ud: *mut c_void, count: c_int) -> c_int;

#[test]
fn busy_handler_commits_the_lock_holder_and_the_write_goes_through() {
    let file = TempDb::new("busy-release");
    let holder = Db::open(file.path());
    holder
        .exec("CREATE TABLE t(x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
        .unwrap();
    let writer = Db::open(file.path());
    let counts = Rc::new(RefCell::new(Vec::new()));
    let handler = BusyHandler::boxed({
        let counts = counts.clone();
        let holder = holder.0;
        move |count| {
            counts.borrow_mut().push(count);
            // The holder of the write lock commits; retry.
            let holder = std::mem::ManuallyDrop::new(Db(holder));
            holder.exec("COMMIT").unwrap();
            1
        }
    });
    // SAFETY: the boxed handler outlives its registration (removed below).
    unsafe { sqlite3_busy_handler(writer.0, Some(handler.function()), handler.user_data()) };
    let result = resume_panics(|| writer.exec("INSERT INTO t VALUES (2)"));
    assert_eq!(result, Ok(()));
    assert_eq!(*counts.borrow(), [0], "one wait, then the lock was free");
    assert_eq!(
        holder.column("SELECT x FROM t ORDER BY x"),
        Ok(strings(&["1", "2"]))
    );
    // A second holder transaction with a handler that gives up.
    holder.exec("BEGIN IMMEDIATE").unwrap();
    let gives_up = BusyHandler::boxed(|_| 0);
    // SAFETY: replaces the handler; `gives_up` outlives its registration.
    unsafe { sqlite3_busy_handler(writer.0, Some(gives_up.function()), gives_up.user_data()) };
    drop(handler);
    let result = resume_panics(|| writer.exec("INSERT INTO t VALUES (3)"));
    assert_eq!(result.map_err(|e| e.0), Err(SQLITE_BUSY));
    // SAFETY: removes the handler before it is dropped.
    unsafe { sqlite3_busy_handler(writer.0, None, ptr::null_mut()) };
    holder.exec("COMMIT").unwrap();
}
