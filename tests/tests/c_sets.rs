//! Callback sets (`#[callback] trait`) against real C: glibc's
//! `fopencookie` (a Rust in-memory stream behind a `FILE*`: read, write,
//! seek and close sharing one state, `close` its destroy) and SQLite's
//! aggregate and window functions (`sqlite3_create_window_function`: xStep,
//! xFinal, xValue and xInverse finding the state through
//! `sqlite3_user_data(ctx)`, per-group state in `sqlite3_aggregate_context`,
//! and the generated `DESTROY` as xDestroy).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::ptr;
use std::rc::Rc;

use ffi_callback::{callback, resume_panics, try_resume};
use libc::{FILE, SEEK_CUR, SEEK_END, SEEK_SET};
use libsqlite3_sys::{
    SQLITE_DONE, SQLITE_ERROR, SQLITE_MISUSE, SQLITE_OK, SQLITE_ROW, SQLITE_UTF8, sqlite3,
    sqlite3_aggregate_context, sqlite3_close, sqlite3_column_int64, sqlite3_column_type,
    sqlite3_context, sqlite3_create_window_function, sqlite3_errmsg, sqlite3_finalize,
    sqlite3_open, sqlite3_prepare_v2, sqlite3_result_error, sqlite3_result_int64, sqlite3_step,
    sqlite3_stmt, sqlite3_user_data, sqlite3_value, sqlite3_value_int64,
};

#[derive(Debug, PartialEq)]
struct Boom(&'static str);

/// Counts drops of whatever holds it.
struct DropCounter(Rc<Cell<u32>>);

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

// ===========================================================================
// glibc fopencookie
// ===========================================================================

/// glibc's `cookie_io_functions_t` (`<stdio.h>`, `_GNU_SOURCE`); the libc
/// crate declares neither it nor `fopencookie`. glibc's seek takes an
/// `off64_t *`.
#[repr(C)]
#[derive(Clone, Copy)]
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
    ) -> *mut FILE;
}

/// `fseek`'s `whence`, which the set's `seek` receives converted
/// (`#[into(Whence)]`); glibc passes nothing else.
#[derive(Debug, Clone, Copy)]
enum Whence {
    Set,
    Cur,
    End,
}

impl TryFrom<c_int> for Whence {
    type Error = c_int;
    fn try_from(whence: c_int) -> Result<Self, c_int> {
        match whence {
            SEEK_SET => Ok(Whence::Set),
            SEEK_CUR => Ok(Whence::Cur),
            SEEK_END => Ok(Whence::End),
            other => Err(other),
        }
    }
}

/// The stream operations, as `<stdio.h>` shapes them: the cookie first;
/// the buffers borrowed as slices of `size` bytes, the offset as `&mut`.
#[callback]
trait CookieIo {
    #[callback(fallback = -1)]
    unsafe extern "C" fn read(
        &mut self,
        #[user_data] cookie: *mut c_void,
        #[into(&mut [u8], len = size)] buf: *mut c_char,
        size: usize,
    ) -> isize;
    /// `Err(e)`: glibc sees -1 (a failed write), and `e` goes to the
    /// `try_resume` around the C call.
    #[callback(fallback = -1, on_error = -1)]
    unsafe extern "C" fn write(
        &mut self,
        #[user_data] cookie: *mut c_void,
        #[into(&[u8], len = size)] buf: *const c_char,
        size: usize,
    ) -> Result<isize, io::Error>;
    #[callback(fallback = -1)]
    unsafe extern "C" fn seek(
        &mut self,
        #[user_data] cookie: *mut c_void,
        #[into(&mut i64)] offset: *mut i64,
        #[into(Whence)] whence: c_int,
    ) -> c_int;
    /// `fclose`'s last call: consumes the state.
    #[callback(fallback = -1)]
    unsafe extern "C" fn close(self, #[user_data] cookie: *mut c_void) -> c_int;
}

const MEM_FILE_IO: CookieIoFunctions = CookieIoFunctions {
    read: Some(MemFile::READ),
    write: Some(MemFile::WRITE),
    seek: Some(MemFile::SEEK),
    close: Some(MemFile::CLOSE),
};

/// How many times each method's body ran.
#[derive(Default)]
struct Calls {
    reads: Cell<u32>,
    writes: Cell<u32>,
    seeks: Cell<u32>,
    closes: Cell<u32>,
}

fn bump(counter: &Cell<u32>) {
    counter.set(counter.get() + 1);
}

/// What the next write does instead of writing.
enum WriteFailure {
    Panic,
    Err,
}

/// A file in memory: the bytes (shared with the test), the position.
struct MemFile {
    data: Rc<RefCell<Vec<u8>>>,
    pos: usize,
    calls: Rc<Calls>,
    fail_next_write: Option<WriteFailure>,
    _drops: DropCounter,
}

impl CookieIo for MemFile {
    fn read(&mut self, buf: &mut [u8], _size: usize) -> isize {
        bump(&self.calls.reads);
        let data = self.data.borrow();
        let available = data.get(self.pos..).unwrap_or_default();
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n;
        n as isize
    }

    fn write(&mut self, bytes: &[u8], size: usize) -> Result<isize, io::Error> {
        bump(&self.calls.writes);
        match self.fail_next_write.take() {
            Some(WriteFailure::Panic) => panic_any(Boom("write")),
            Some(WriteFailure::Err) => return Err(io::Error::other("disk full")),
            None => {}
        }
        let mut data = self.data.borrow_mut();
        let end = self.pos + size;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[self.pos..end].copy_from_slice(bytes);
        self.pos = end;
        Ok(size as isize)
    }

    fn seek(&mut self, offset: &mut i64, whence: Whence) -> c_int {
        bump(&self.calls.seeks);
        let base = match whence {
            Whence::Set => 0,
            Whence::Cur => self.pos as i64,
            Whence::End => self.data.borrow().len() as i64,
        };
        match base
            .checked_add(*offset)
            .and_then(|t| usize::try_from(t).ok())
        {
            Some(pos) => {
                self.pos = pos;
                *offset = pos as i64;
                0
            }
            None => -1,
        }
    }

    fn close(self) -> c_int {
        bump(&self.calls.closes);
        0
    }
}

/// What a test watches of a `MemFile` it handed to C.
struct Watch {
    data: Rc<RefCell<Vec<u8>>>,
    calls: Rc<Calls>,
    drops: Rc<Cell<u32>>,
}

impl Watch {
    fn contents(&self) -> String {
        String::from_utf8(self.data.borrow().clone()).expect("UTF-8")
    }

    /// (reads, writes, seeks, closes) so far.
    fn calls(&self) -> (u32, u32, u32, u32) {
        let c = &self.calls;
        (c.reads.get(), c.writes.get(), c.seeks.get(), c.closes.get())
    }
}

/// Opens a `FILE*` over a new `MemFile`. C owns the state from here: its
/// `fclose` ends it through `close`.
fn open_mem_file(fail_next_write: Option<WriteFailure>) -> (*mut FILE, Watch) {
    let watch = Watch {
        data: Rc::default(),
        calls: Rc::default(),
        drops: Rc::default(),
    };
    let state = MemFile {
        data: watch.data.clone(),
        pos: 0,
        calls: watch.calls.clone(),
        fail_next_write,
        _drops: DropCounter(watch.drops.clone()),
    };
    let boxed = state.boxed();
    // SAFETY: the cookie is the boxed state the entry points expect; the
    // mode is NUL-terminated.
    let file = unsafe { fopencookie(boxed.user_data(), c"w+".as_ptr(), MEM_FILE_IO) };
    assert!(!file.is_null(), "fopencookie");
    // Handed over only once C took it: `fclose` frees it through `close`.
    let _ = boxed.into_raw();
    (file, watch)
}

/// `fwrite` of all of `bytes`; the count written.
///
/// # Safety
/// `file` is an open stream.
unsafe fn write_all(file: *mut FILE, bytes: &[u8]) -> usize {
    // SAFETY: by the caller's promise; `bytes` is readable.
    unsafe { libc::fwrite(bytes.as_ptr().cast(), 1, bytes.len(), file) }
}

/// `fread` of up to `max` bytes.
///
/// # Safety
/// `file` is an open stream.
unsafe fn read_up_to(file: *mut FILE, max: usize) -> Vec<u8> {
    let mut buf = vec![0u8; max];
    // SAFETY: by the caller's promise; `buf` has room for `max` bytes.
    let n = unsafe { libc::fread(buf.as_mut_ptr().cast(), 1, max, file) };
    buf.truncate(n);
    buf
}

#[test]
fn fopencookie_stream_reads_writes_and_seeks_through_the_set() {
    let (file, watch) = open_mem_file(None);
    // SAFETY: `file` is open until the `fclose` at the end, C's last call.
    resume_panics(|| unsafe {
        assert_eq!(write_all(file, b"hello, world\n"), 13);
        assert_eq!(watch.calls().1, 0, "buffered by stdio");
        assert_eq!(libc::fflush(file), 0);
        assert_eq!(watch.calls().1, 1, "fflush wrote through the set");
        assert_eq!(watch.contents(), "hello, world\n");

        assert_eq!(libc::fseek(file, 7, SEEK_SET), 0);
        assert!(watch.calls().2 >= 1, "fseek went through the set");
        assert_eq!(write_all(file, b"there"), 5);
        // glibc 2.36 needs an fflush or fseek between a write and a read.
        assert_eq!(libc::fseek(file, 0, SEEK_SET), 0);
        assert_eq!(watch.contents(), "hello, there\n");
        assert_eq!(read_up_to(file, 64), b"hello, there\n");
        assert!(watch.calls().0 >= 1, "fread read through the set");
        assert_eq!(libc::ftell(file), 13);

        assert_eq!(libc::fseek(file, -6, SEEK_END), 0);
        assert_eq!(read_up_to(file, 3), b"the");
        // Out of range: the state's seek says no, and fseek reports it.
        assert_eq!(libc::fseek(file, -100, SEEK_CUR), -1);

        assert_eq!(watch.drops.get(), 0, "alive while the FILE is open");
        assert_eq!(libc::fclose(file), 0, "close's 0 reached fclose");
    });
    assert_eq!(watch.calls().3, 1, "close ran once");
    assert_eq!(watch.drops.get(), 1, "fclose freed the state exactly once");
    assert_eq!(watch.contents(), "hello, there\n");
}

#[test]
fn fclose_flushes_through_write_then_frees_the_state_once() {
    let (file, watch) = open_mem_file(None);
    // SAFETY: `file` is open; `fclose` is C's last call.
    let closed = resume_panics(|| unsafe {
        let greeting = c"written by fputs, flushed by fclose\n";
        assert!(libc::fputs(greeting.as_ptr(), file) >= 0);
        assert_eq!(watch.calls().1, 0);
        libc::fclose(file)
    });
    assert_eq!(closed, 0);
    assert_eq!(watch.contents(), "written by fputs, flushed by fclose\n");
    let (_, writes, _, closes) = watch.calls();
    assert_eq!((writes, closes), (1, 1));
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn fopencookie_panic_in_write_fails_fflush_and_is_resumed() {
    let (file, watch) = open_mem_file(Some(WriteFailure::Panic));
    let mut during = Vec::new();
    let payload = payload_of(|| {
        resume_panics(|| {
            // SAFETY: `file` is open (closed below, after the guard).
            unsafe {
                during.push(write_all(file, b"lost") as c_int);
                // write panics: glibc sees -1, fflush fails.
                during.push(libc::fflush(file));
                during.push(libc::ferror(file).signum());
                // Poisoned for the rest of the guard: this write would
                // succeed, but the set returns its fallback without running
                // user code, and so do the seek and the read.
                libc::clearerr(file);
                during.push(write_all(file, b"also lost") as c_int);
                during.push(libc::fflush(file));
                during.push(libc::fseek(file, 0, SEEK_SET));
                during.push(read_up_to(file, 8).len() as c_int);
            }
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("write")));
    assert_eq!(during, [4, libc::EOF, 1, 9, libc::EOF, -1, 0]);
    assert_eq!(
        watch.calls(),
        (0, 1, 0, 0),
        "after the panic no method ran within that guard"
    );
    assert_eq!(watch.contents(), "");

    // The panic reached the Rust caller: the stream works again.
    // SAFETY: `file` is open; `fclose` is C's last call.
    let closed = resume_panics(|| unsafe {
        libc::clearerr(file);
        assert_eq!(libc::fseek(file, 0, SEEK_SET), 0);
        assert_eq!(write_all(file, b"ok"), 2);
        assert_eq!(libc::fflush(file), 0);
        libc::fclose(file)
    });
    assert_eq!(closed, 0);
    assert_eq!(watch.contents(), "ok");
    let (_, writes, seeks, closes) = watch.calls();
    assert_eq!((writes, closes), (2, 1));
    assert!(seeks >= 1);
    assert_eq!(watch.drops.get(), 1, "a state that panicked is freed once");
}

#[test]
fn fopencookie_write_error_fails_fflush_and_comes_back_from_try_resume() {
    let (file, watch) = open_mem_file(Some(WriteFailure::Err));
    let mut flushed = 0;
    let result = try_resume::<_, io::Error>(|| {
        // SAFETY: `file` is open (closed below).
        unsafe {
            write_all(file, b"lost");
            flushed = libc::fflush(file);
        }
    });
    let error = result.expect_err("the write's io::Error");
    assert_eq!(error.kind(), io::ErrorKind::Other);
    assert_eq!(error.to_string(), "disk full");
    assert_eq!(flushed, libc::EOF, "on_error = -1 failed the write");
    // SAFETY: `file` is open; `fclose` is C's last call.
    let closed = resume_panics(|| unsafe { libc::fclose(file) });
    assert_eq!(closed, 0);
    assert_eq!(watch.calls().1, 1);
    assert_eq!(watch.drops.get(), 1);
}

// ===========================================================================
// SQLite aggregate and window functions
// ===========================================================================

/// Makes the statement fail, as sqlite expects from a function that cannot
/// compute its result.
///
/// # Safety
/// `ctx` is the context of the running function call.
unsafe fn fail_statement(ctx: *mut sqlite3_context, message: &CStr) {
    // SAFETY: by the caller's promise; sqlite copies the message.
    unsafe { sqlite3_result_error(ctx, message.as_ptr(), -1) }
}

/// [`fail_statement`] with a message of the moment.
///
/// # Safety
/// As for [`fail_statement`].
unsafe fn fail_with(ctx: *mut sqlite3_context, message: &str) {
    let message = std::ffi::CString::new(message).unwrap_or_default();
    // SAFETY: by the caller's promise.
    unsafe { fail_statement(ctx, &message) }
}

/// An argument the function refuses, as an error value.
#[derive(Debug, PartialEq)]
struct Rejected(i64);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ssum does not take {}", self.0)
    }
}

/// A window function's four entry points. None has a user-data parameter:
/// each finds the state through `sqlite3_user_data(ctx)`; after a panic
/// (or a refusal) the statement fails with an error, then the panic is
/// resumed. No entry takes `self`: sqlite frees the state through the
/// generated `DESTROY` (its xDestroy).
#[callback]
trait WindowFunction {
    /// `Err(e)` fails the statement with `e`'s message, and `e` goes to the
    /// `try_resume` around the query.
    #[callback(
        // SAFETY: `ctx` is the context sqlite passed to this very call.
        user_data = unsafe { sqlite3_user_data(ctx) },
        // SAFETY: as above.
        fallback = unsafe { fail_statement(ctx, c"xStep failed") },
        // SAFETY: as above.
        on_error = unsafe { fail_with(ctx, &e.to_string()) },
    )]
    unsafe extern "C" fn step(
        &mut self,
        ctx: *mut sqlite3_context,
        #[into(usize)] argc: c_int,
        argv: *mut *mut sqlite3_value,
    ) -> Result<(), Rejected>;
    #[callback(
        // SAFETY: `ctx` is the context sqlite passed to this very call.
        user_data = unsafe { sqlite3_user_data(ctx) },
        // SAFETY: as above.
        fallback = unsafe { fail_statement(ctx, c"xFinal failed") },
    )]
    unsafe extern "C" fn finish(&mut self, ctx: *mut sqlite3_context);
    #[callback(
        // SAFETY: `ctx` is the context sqlite passed to this very call.
        user_data = unsafe { sqlite3_user_data(ctx) },
        // SAFETY: as above.
        fallback = unsafe { fail_statement(ctx, c"xValue failed") },
    )]
    unsafe extern "C" fn value(&mut self, ctx: *mut sqlite3_context);
    #[callback(
        // SAFETY: `ctx` is the context sqlite passed to this very call.
        user_data = unsafe { sqlite3_user_data(ctx) },
        // SAFETY: as above.
        fallback = unsafe { fail_statement(ctx, c"xInverse failed") },
    )]
    unsafe extern "C" fn inverse(
        &mut self,
        ctx: *mut sqlite3_context,
        #[into(usize)] argc: c_int,
        argv: *mut *mut sqlite3_value,
    );
}

/// How many times each entry's body ran.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct WindowCalls {
    steps: u32,
    finals: u32,
    values: u32,
    inverses: u32,
}

/// `scaled_sum(x)`: the sum of the frame (or group), times `factor`. The
/// app-level state is this struct (shared by every group and window); the
/// running sum of each group lives in sqlite's aggregate context.
struct ScaledSum {
    factor: i64,
    panic_on: Option<i64>,
    reject: Option<i64>,
    calls: Rc<Cell<WindowCalls>>,
    _drops: DropCounter,
}

impl ScaledSum {
    fn count(&self, f: impl FnOnce(&mut WindowCalls)) {
        let mut calls = self.calls.get();
        f(&mut calls);
        self.calls.set(calls);
    }
}

/// The group's running sum, allocated (zeroed) by sqlite on first use.
///
/// # Safety
/// `ctx` is the context of the running aggregate call.
unsafe fn group_sum<'a>(ctx: *mut sqlite3_context) -> Option<&'a mut i64> {
    // SAFETY: by the caller's promise; sqlite returns memory of that size,
    // zeroed the first time and the same block for every call of the
    // group, aligned for any type, or null when out of memory.
    unsafe {
        sqlite3_aggregate_context(ctx, size_of::<i64>() as c_int)
            .cast::<i64>()
            .as_mut()
    }
}

/// The one argument of a call.
///
/// # Safety
/// `argv` holds `argc` values, as sqlite passes them.
unsafe fn arg(argc: usize, argv: *mut *mut sqlite3_value) -> i64 {
    assert_eq!(argc, 1);
    // SAFETY: by the caller's promise.
    unsafe { sqlite3_value_int64(*argv) }
}

impl WindowFunction for ScaledSum {
    fn step(
        &mut self,
        ctx: *mut sqlite3_context,
        argc: usize,
        argv: *mut *mut sqlite3_value,
    ) -> Result<(), Rejected> {
        self.count(|c| c.steps += 1);
        // SAFETY: sqlite passes this call's context and `argc` values.
        let (x, sum) = unsafe { (arg(argc, argv), group_sum(ctx)) };
        if self.panic_on == Some(x) {
            panic_any(x);
        }
        if self.reject == Some(x) {
            return Err(Rejected(x));
        }
        *sum.expect("aggregate context") += x;
        Ok(())
    }

    fn finish(&mut self, ctx: *mut sqlite3_context) {
        self.count(|c| c.finals += 1);
        // SAFETY: this call's context.
        let sum = unsafe { group_sum(ctx) }.map_or(0, |sum| *sum);
        // SAFETY: as above.
        unsafe { sqlite3_result_int64(ctx, sum * self.factor) };
    }

    fn value(&mut self, ctx: *mut sqlite3_context) {
        self.count(|c| c.values += 1);
        // SAFETY: this call's context.
        let sum = unsafe { group_sum(ctx) }.map_or(0, |sum| *sum);
        // SAFETY: as above.
        unsafe { sqlite3_result_int64(ctx, sum * self.factor) };
    }

    fn inverse(&mut self, ctx: *mut sqlite3_context, argc: usize, argv: *mut *mut sqlite3_value) {
        self.count(|c| c.inverses += 1);
        // SAFETY: sqlite passes this call's context and `argc` values.
        let (x, sum) = unsafe { (arg(argc, argv), group_sum(ctx)) };
        *sum.expect("aggregate context") -= x;
    }
}

/// An open connection, closed on drop (or by [`Db::close`]).
struct Db(*mut sqlite3);

impl Db {
    /// An in-memory database with `t(x)` holding 1..=5.
    fn numbers() -> Db {
        let mut db = ptr::null_mut();
        // SAFETY: the name is NUL-terminated and `db` a valid out pointer.
        let rc = unsafe { sqlite3_open(c":memory:".as_ptr(), &mut db) };
        assert_eq!(rc, SQLITE_OK, "sqlite3_open");
        let db = Db(db);
        db.query("CREATE TABLE t(x INTEGER)").unwrap();
        db.query("INSERT INTO t VALUES (1), (2), (3), (4), (5)")
            .unwrap();
        db
    }

    /// Runs `sql`; the first column of each row (`None` for NULL), or the
    /// error code and message.
    fn query(&self, sql: &str) -> Result<Vec<Option<i64>>, (c_int, String)> {
        let sql = std::ffi::CString::new(sql).unwrap();
        let mut stmt: *mut sqlite3_stmt = ptr::null_mut();
        // SAFETY: an open connection, a NUL-terminated statement, valid out
        // pointers; the statement is finalized below.
        unsafe {
            let rc = sqlite3_prepare_v2(self.0, sql.as_ptr(), -1, &mut stmt, ptr::null_mut());
            if rc != SQLITE_OK {
                return Err((rc, self.errmsg()));
            }
            let mut rows = Vec::new();
            let rc = loop {
                match sqlite3_step(stmt) {
                    SQLITE_ROW => rows.push(
                        (sqlite3_column_type(stmt, 0) != libsqlite3_sys::SQLITE_NULL)
                            .then(|| sqlite3_column_int64(stmt, 0)),
                    ),
                    rc => break rc,
                }
            };
            let result = if rc == SQLITE_DONE {
                Ok(rows)
            } else {
                Err((rc, self.errmsg()))
            };
            sqlite3_finalize(stmt);
            result
        }
    }

    fn errmsg(&self) -> String {
        // SAFETY: an open connection; sqlite returns a NUL-terminated
        // message valid until the next call on it.
        unsafe { CStr::from_ptr(sqlite3_errmsg(self.0)) }
            .to_string_lossy()
            .into_owned()
    }

    /// Registers `state` as the window function `name`: the set's entry
    /// points, its boxed state as the app data, `DESTROY` as xDestroy.
    fn register(&self, name: &CStr, n_arg: c_int, state: ScaledSum) -> c_int {
        let app = state.boxed().into_raw();
        // SAFETY: every entry finds the state through
        // `sqlite3_user_data(ctx)`, which returns `app`; sqlite calls
        // `DESTROY` once: when the function is replaced or the connection
        // closes, or right away if the registration fails.
        unsafe {
            sqlite3_create_window_function(
                self.0,
                name.as_ptr(),
                n_arg,
                SQLITE_UTF8,
                app,
                Some(ScaledSum::STEP),
                Some(ScaledSum::FINISH),
                Some(ScaledSum::VALUE),
                Some(ScaledSum::INVERSE),
                Some(ScaledSum::DESTROY),
            )
        }
    }

    /// Closes the connection now, checking that it closed.
    fn close(mut self) {
        let db = std::mem::replace(&mut self.0, ptr::null_mut());
        // SAFETY: an open connection with no unfinalized statements.
        assert_eq!(unsafe { sqlite3_close(db) }, SQLITE_OK);
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: null (already closed) or an open connection.
        unsafe { sqlite3_close(self.0) };
    }
}

/// A `ScaledSum` and what watches it: its call counts and drops.
fn scaled_sum(
    factor: i64,
    panic_on: Option<i64>,
) -> (ScaledSum, Rc<Cell<WindowCalls>>, Rc<Cell<u32>>) {
    let (calls, drops) = (Rc::default(), Rc::default());
    let state = ScaledSum {
        factor,
        panic_on,
        reject: None,
        calls: Rc::clone(&calls),
        _drops: DropCounter(Rc::clone(&drops)),
    };
    (state, calls, drops)
}

const SLIDING: &str =
    "SELECT ssum(x) OVER (ORDER BY x ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t";

#[test]
fn window_function_runs_every_entry_and_is_destroyed_once_on_close() {
    let db = Db::numbers();
    let (state, calls, drops) = scaled_sum(10, None);
    assert_eq!(db.register(c"ssum", 1, state), SQLITE_OK);

    // As a plain aggregate: xStep per row, then xFinal.
    let total = resume_panics(|| db.query("SELECT ssum(x) FROM t"));
    assert_eq!(total, Ok(vec![Some(150)]));
    assert_eq!(
        calls.get(),
        WindowCalls {
            steps: 5,
            finals: 1,
            values: 0,
            inverses: 0
        }
    );
    // Per-group state: each group has its own sum.
    let groups = resume_panics(|| db.query("SELECT ssum(x) FROM t GROUP BY x % 2 ORDER BY 1"));
    assert_eq!(groups, Ok(vec![Some(60), Some(90)]));

    // As a window function over a sliding frame: xValue per row, xInverse
    // as rows leave the frame.
    calls.set(WindowCalls::default());
    let sliding = resume_panics(|| db.query(SLIDING));
    assert_eq!(
        sliding,
        Ok([10, 30, 50, 70, 90].map(Some).to_vec()),
        "sums of each row and the one before, times 10"
    );
    let seen = calls.get();
    assert_eq!((seen.steps, seen.values), (5, 5));
    assert_eq!(seen.inverses, 3, "rows 1, 2 and 3 left the frame");
    assert_eq!(drops.get(), 0, "alive while registered");

    db.close();
    assert_eq!(
        drops.get(),
        1,
        "xDestroy (DESTROY) ran exactly once, on close"
    );
}

#[test]
fn window_function_replaced_destroys_the_old_state_once() {
    let db = Db::numbers();
    let (first, _, first_drops) = scaled_sum(1, None);
    let (second, _, second_drops) = scaled_sum(100, None);
    assert_eq!(db.register(c"ssum", 1, first), SQLITE_OK);
    assert_eq!(db.register(c"ssum", 1, second), SQLITE_OK);
    assert_eq!(first_drops.get(), 1, "replacing it destroyed the first");
    assert_eq!(second_drops.get(), 0);
    let total = resume_panics(|| db.query("SELECT ssum(x) FROM t"));
    assert_eq!(total, Ok(vec![Some(1500)]), "the second one runs");
    db.close();
    assert_eq!((first_drops.get(), second_drops.get()), (1, 1));
}

#[test]
fn window_function_failed_registration_still_destroys_once() {
    let db = Db::numbers();
    let (state, calls, drops) = scaled_sum(1, None);
    // nArg must be -1..=SQLITE_MAX_FUNCTION_ARG; sqlite refuses -2 and
    // calls xDestroy itself.
    assert_eq!(db.register(c"broken", -2, state), SQLITE_MISUSE);
    assert_eq!(drops.get(), 1, "xDestroy ran on failure");
    let missing = resume_panics(|| db.query("SELECT broken(x) FROM t"));
    assert_eq!(missing.map_err(|(rc, _)| rc), Err(SQLITE_ERROR));
    db.close();
    assert_eq!(drops.get(), 1, "and never again");
    assert_eq!(calls.get(), WindowCalls::default());
}

#[test]
fn window_function_panic_in_xstep_fails_the_statement_and_is_resumed() {
    let db = Db::numbers();
    let (state, calls, drops) = scaled_sum(1, Some(3));
    assert_eq!(db.register(c"ssum", 1, state), SQLITE_OK);
    let mut status = None;
    let payload = payload_of(|| resume_panics(|| status = Some(db.query(SLIDING))));
    assert_eq!(
        payload.downcast_ref::<i64>(),
        Some(&3),
        "the original payload"
    );
    let status = status.expect("the query returned before the panic resumed");
    assert_eq!(
        status,
        Err((SQLITE_ERROR, "xStep failed".to_owned())),
        "the fallback failed the statement"
    );
    let seen = calls.get();
    assert_eq!(seen.steps, 3, "no xStep ran after the panic");

    // The panic reached the Rust caller: the function runs again.
    let total = resume_panics(|| db.query("SELECT ssum(x) FROM t WHERE x < 3"));
    assert_eq!(total, Ok(vec![Some(3)]));
    db.close();
    assert_eq!(drops.get(), 1, "a state that panicked is destroyed once");
}

#[test]
fn window_function_err_in_xstep_fails_the_statement_and_comes_back_from_try_resume() {
    let db = Db::numbers();
    let (mut state, calls, drops) = scaled_sum(1, None);
    state.reject = Some(2);
    assert_eq!(db.register(c"ssum", 1, state), SQLITE_OK);
    let mut status = None;
    let result = try_resume::<_, Rejected>(|| status = Some(db.query("SELECT ssum(x) FROM t")));
    assert_eq!(result, Err(Rejected(2)), "the step's own error value");
    assert_eq!(
        status.expect("the query returned"),
        Err((SQLITE_ERROR, "ssum does not take 2".to_owned())),
        "on_error failed the statement with the error's message"
    );
    assert_eq!(calls.get().steps, 2);
    assert_eq!(calls.get().finals, 0, "no user code ran after the Err");
    db.close();
    assert_eq!(drops.get(), 1);
}
