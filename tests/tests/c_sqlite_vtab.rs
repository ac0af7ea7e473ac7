//! A read-only SQLite virtual table module (`sqlite3_module`) as a binding
//! (rusqlite's `vtab` is the model) would write it with callback sets,
//! against the bundled library of `libsqlite3-sys`.
//!
//! Three objects, three sets, three user data:
//!
//! - the module (`ModuleOps`: xCreate, xConnect): its state is the boxed
//!   aux data handed to `sqlite3_create_module_v2`, which C passes to
//!   xCreate/xConnect as `pAux` (a `#[user_data]` parameter) and frees
//!   through the set's generated `DESTROY`;
//! - each table (`VTabOps`: xBestIndex, xOpen): C only knows the
//!   `sqlite3_vtab *` xCreate/xConnect wrote, so that struct (`RawVTab`,
//!   the `sqlite3_vtab` base first) carries the boxed state, and the
//!   trait-level `user_data = EXPR` reads it back;
//! - each cursor (`CursorOps`: xFilter, xNext, xEof, xColumn, xRowid): the
//!   same through `RawCursor` (the `sqlite3_vtab_cursor` base first).
//!
//! xDisconnect/xDestroy and xClose free two things, the C-visible base
//! struct and the set's state, so they are written by hand: they free the
//! base and call the set's `DESTROY` on the state (see `disconnect` and
//! `close`).
//!
//! Every statement runs inside `resume_panics` (or `try_resume`), as a
//! binding's `step` would.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::ptr;
use std::rc::Rc;

use ffi_callback::{callback, resume_panics, try_resume};
use ffi_callback_tests::sqlite::Db;
use libsqlite3_sys::{
    SQLITE_DONE, SQLITE_ERROR, SQLITE_INDEX_CONSTRAINT_EQ, SQLITE_INDEX_CONSTRAINT_GE,
    SQLITE_MISUSE, SQLITE_NULL, SQLITE_OK, SQLITE_ROW, SQLITE_TRANSIENT, sqlite3,
    sqlite3_column_count, sqlite3_column_text, sqlite3_column_type, sqlite3_context,
    sqlite3_create_module_v2, sqlite3_declare_vtab, sqlite3_finalize, sqlite3_free,
    sqlite3_index_info, sqlite3_interrupt, sqlite3_module, sqlite3_mprintf, sqlite3_prepare_v2,
    sqlite3_result_error, sqlite3_result_int64, sqlite3_result_text, sqlite3_step, sqlite3_stmt,
    sqlite3_value, sqlite3_value_int64, sqlite3_vtab, sqlite3_vtab_cursor,
};

// ===========================================================================
// The binding: what a table author implements
// ===========================================================================

/// An error a table returns; its message is what `sqlite3_errmsg` shows.
#[derive(Debug, PartialEq)]
struct VTabError(String);

impl VTabError {
    fn new(message: impl Into<String>) -> Self {
        VTabError(message.into())
    }
}

/// A value of a column.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Text(String),
}

/// A constraint of the WHERE clause, as xBestIndex sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Constraint {
    column: c_int,
    op: u8,
    usable: bool,
}

/// xBestIndex's `sqlite3_index_info`, borrowed for the call.
struct IndexInfo<'a> {
    info: &'a mut sqlite3_index_info,
}

impl IndexInfo<'_> {
    fn constraints(&self) -> Vec<Constraint> {
        let n = usize::try_from(self.info.nConstraint).unwrap_or(0);
        if n == 0 {
            return Vec::new();
        }
        // SAFETY: sqlite passes `nConstraint` constraints at `aConstraint`,
        // valid for the xBestIndex call this borrow lives in.
        let raw = unsafe { std::slice::from_raw_parts(self.info.aConstraint, n) };
        raw.iter()
            .map(|c| Constraint {
                column: c.iColumn,
                op: c.op,
                usable: c.usable != 0,
            })
            .collect()
    }

    /// Passes constraint `i`'s right-hand value to xFilter as `argv[argv_index - 1]`.
    fn use_constraint(&mut self, i: usize, argv_index: c_int, omit: bool) {
        let n = usize::try_from(self.info.nConstraint).unwrap_or(0);
        assert!(i < n, "constraint {i} of {n}");
        // SAFETY: sqlite passes `nConstraint` usages at
        // `aConstraintUsage`, writable for the xBestIndex call.
        let usage = unsafe { &mut *self.info.aConstraintUsage.add(i) };
        usage.argvIndex = argv_index;
        usage.omit = omit.into();
    }

    fn set_idx_num(&mut self, idx_num: c_int) {
        self.info.idxNum = idx_num;
    }

    fn set_estimated_cost(&mut self, cost: f64) {
        self.info.estimatedCost = cost;
    }
}

/// A virtual table: made by xCreate/xConnect from the module's aux data
/// and the arguments of `CREATE VIRTUAL TABLE .. USING module(args)`.
trait Table: Sized + 'static {
    /// The module's data, shared by its tables.
    type Aux: 'static;
    type Cursor: TableCursor;

    /// The table's schema (`CREATE TABLE x(..)`) and the table.
    fn connect(aux: &Self::Aux, args: &[&str]) -> Result<(String, Self), VTabError>;
    fn best_index(&self, info: &mut IndexInfo<'_>) -> Result<(), VTabError>;
    fn open(&self) -> Result<Self::Cursor, VTabError>;
}

/// A cursor over a table, from xOpen to xClose.
trait TableCursor: Sized + 'static {
    fn filter(&mut self, idx_num: c_int, args: &[i64]) -> Result<(), VTabError>;
    fn next(&mut self) -> Result<(), VTabError>;
    fn eof(&self) -> bool;
    fn column(&self, i: c_int) -> Result<Value, VTabError>;
    fn rowid(&self) -> i64;
}

// ===========================================================================
// The binding: the C side
// ===========================================================================

/// What C sees of a table: the `sqlite3_vtab` base (sqlite fills in
/// `pModule`, `nRef`; `zErrMsg` carries our messages), then the set's
/// state, which the entries find through `user_data = EXPR`.
#[repr(C)]
struct RawVTab {
    base: sqlite3_vtab,
    /// From `TableState::<T>::boxed().into_raw()`; freed by `DESTROY`.
    state: *mut c_void,
    /// The connection, for fallbacks that can only stop a statement by
    /// interrupting it (xEof has no error return).
    db: *mut sqlite3,
}

/// What C sees of a cursor: the `sqlite3_vtab_cursor` base (sqlite sets
/// `pVtab` after xOpen), then the cursor set's state.
#[repr(C)]
struct RawCursor {
    base: sqlite3_vtab_cursor,
    /// From `CursorState::<C>::boxed().into_raw()`; freed by `DESTROY`.
    state: *mut c_void,
}

thread_local! {
    /// (allocated, freed) `RawVTab`s and `RawCursor`s on this thread: the
    /// C-visible halves, which no drop counter of the table sees.
    static RAW_VTABS: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
    static RAW_CURSORS: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

fn count_alloc(counter: &'static std::thread::LocalKey<Cell<(u32, u32)>>) {
    counter.with(|c| c.set((c.get().0 + 1, c.get().1)));
}

fn count_free(counter: &'static std::thread::LocalKey<Cell<(u32, u32)>>) {
    counter.with(|c| c.set((c.get().0, c.get().1 + 1)));
}

/// The table set's state pointer, read from the `sqlite3_vtab *` sqlite
/// passes.
///
/// # Safety
/// `vtab` is a `RawVTab` made by `ModuleOps::create`/`connect`, alive.
unsafe fn vtab_state(vtab: *mut sqlite3_vtab) -> *mut c_void {
    // SAFETY: by the caller's promise; `base` is the first field of a
    // `repr(C)` struct, so the pointers are the same.
    unsafe { (*vtab.cast::<RawVTab>()).state }
}

/// The cursor set's state pointer, read from the `sqlite3_vtab_cursor *`.
///
/// # Safety
/// `cursor` is a `RawCursor` made by `VTabOps::open`, alive.
unsafe fn cursor_state(cursor: *mut sqlite3_vtab_cursor) -> *mut c_void {
    // SAFETY: by the caller's promise, as in `vtab_state`.
    unsafe { (*cursor.cast::<RawCursor>()).state }
}

/// `message` in memory from `sqlite3_mprintf`, which sqlite frees.
fn sqlite_string(message: &str) -> *mut c_char {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: a NUL-terminated format with one `%s`, and its argument.
    unsafe { sqlite3_mprintf(c"%s".as_ptr(), message.as_ptr()) }
}

/// Puts `message` in the table's `zErrMsg` (where sqlite reads it after
/// xBestIndex, xOpen, xFilter...); `SQLITE_ERROR`.
///
/// # Safety
/// `vtab` is a live `sqlite3_vtab`.
unsafe fn vtab_error(vtab: *mut sqlite3_vtab, message: &str) -> c_int {
    // SAFETY: by the caller's promise; a previous message (never imported)
    // was sqlite3_mprintf's.
    unsafe {
        sqlite3_free((*vtab).zErrMsg.cast());
        (*vtab).zErrMsg = sqlite_string(message);
    }
    SQLITE_ERROR
}

/// [`vtab_error`] through a cursor's `pVtab`.
///
/// # Safety
/// `cursor` is a live cursor that sqlite has given its `pVtab`.
unsafe fn cursor_error(cursor: *mut sqlite3_vtab_cursor, message: &str) -> c_int {
    // SAFETY: by the caller's promise.
    unsafe { vtab_error((*cursor).pVtab, message) }
}

/// Puts `message` in xCreate/xConnect's `*pzErr`; `SQLITE_ERROR`.
///
/// # Safety
/// `pz_err` is xCreate/xConnect's out pointer.
unsafe fn connect_error(pz_err: *mut *mut c_char, message: &str) -> c_int {
    // SAFETY: by the caller's promise; sqlite frees what it finds there.
    unsafe { *pz_err = sqlite_string(message) };
    SQLITE_ERROR
}

/// xEof after a panic: xEof cannot fail the statement, and "at the end"
/// alone would let it carry on (and other cursors run) with a truncated
/// result, so this interrupts the connection's running statements too;
/// 1 (at the end).
///
/// # Safety
/// `cursor` is a live cursor that sqlite has given its `pVtab`, a
/// `RawVTab`.
unsafe fn eof_failed(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    // SAFETY: by the caller's promise; sqlite3_interrupt may be called at
    // any time on an open connection.
    unsafe { sqlite3_interrupt((*(*cursor).pVtab.cast::<RawVTab>()).db) };
    1
}

/// Fails an xColumn call through its context; `SQLITE_ERROR`.
///
/// # Safety
/// `ctx` is the running xColumn's context.
unsafe fn column_error(ctx: *mut sqlite3_context, message: &str) -> c_int {
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: by the caller's promise; sqlite copies the message.
    unsafe { sqlite3_result_error(ctx, message.as_ptr(), -1) };
    SQLITE_ERROR
}

/// xCreate and xConnect: the module's aux data is the state, passed as
/// `pAux`. A panic, or an `Err`, fails `CREATE VIRTUAL TABLE` (or the
/// statement that connects) with a message in `*pzErr`.
#[callback]
trait ModuleOps {
    #[callback(
        // SAFETY: `pz_err` is sqlite's out pointer for this call.
        fallback = unsafe { connect_error(pz_err, "xCreate panicked") },
        // SAFETY: as above.
        on_error = unsafe { connect_error(pz_err, &e.0) },
    )]
    unsafe extern "C" fn create(
        &self,
        db: *mut sqlite3,
        #[user_data] aux: *mut c_void,
        argc: c_int,
        #[into(&[*const c_char], len = argc as usize)] argv: *const *const c_char,
        #[into(&mut *mut sqlite3_vtab)] pp_vtab: *mut *mut sqlite3_vtab,
        pz_err: *mut *mut c_char,
    ) -> Result<c_int, VTabError>;
    #[callback(
        // SAFETY: `pz_err` is sqlite's out pointer for this call.
        fallback = unsafe { connect_error(pz_err, "xConnect panicked") },
        // SAFETY: as above.
        on_error = unsafe { connect_error(pz_err, &e.0) },
    )]
    unsafe extern "C" fn connect(
        &self,
        db: *mut sqlite3,
        #[user_data] aux: *mut c_void,
        argc: c_int,
        #[into(&[*const c_char], len = argc as usize)] argv: *const *const c_char,
        #[into(&mut *mut sqlite3_vtab)] pp_vtab: *mut *mut sqlite3_vtab,
        pz_err: *mut *mut c_char,
    ) -> Result<c_int, VTabError>;
}

/// A table's entries that sqlite calls with its `sqlite3_vtab *`.
#[callback(
    // SAFETY: sqlite passes the `sqlite3_vtab *` xCreate/xConnect made.
    user_data = unsafe { vtab_state(vtab) },
)]
trait VTabOps {
    #[callback(
        // SAFETY: `vtab` is this call's table.
        fallback = unsafe { vtab_error(vtab, "xBestIndex panicked") },
        // SAFETY: as above.
        on_error = unsafe { vtab_error(vtab, &e.0) },
    )]
    unsafe extern "C" fn best_index(
        &self,
        vtab: *mut sqlite3_vtab,
        #[into(&mut sqlite3_index_info)] info: *mut sqlite3_index_info,
    ) -> Result<c_int, VTabError>;
    #[callback(
        // SAFETY: `vtab` is this call's table.
        fallback = unsafe { vtab_error(vtab, "xOpen panicked") },
        // SAFETY: as above.
        on_error = unsafe { vtab_error(vtab, &e.0) },
    )]
    unsafe extern "C" fn open(
        &self,
        vtab: *mut sqlite3_vtab,
        #[into(&mut *mut sqlite3_vtab_cursor)] pp_cursor: *mut *mut sqlite3_vtab_cursor,
    ) -> Result<c_int, VTabError>;
}

/// A cursor's entries, which sqlite calls with its `sqlite3_vtab_cursor *`.
#[callback(
    // SAFETY: sqlite passes the `sqlite3_vtab_cursor *` xOpen made.
    user_data = unsafe { cursor_state(cursor) },
)]
trait CursorOps {
    #[callback(
        // SAFETY: `cursor` is this call's cursor, `pVtab` set by sqlite.
        fallback = unsafe { cursor_error(cursor, "xFilter panicked") },
        // SAFETY: as above.
        on_error = unsafe { cursor_error(cursor, &e.0) },
    )]
    unsafe extern "C" fn filter(
        &mut self,
        cursor: *mut sqlite3_vtab_cursor,
        idx_num: c_int,
        idx_str: *const c_char,
        argc: c_int,
        #[into(&[*mut sqlite3_value], len = argc as usize)] argv: *mut *mut sqlite3_value,
    ) -> Result<c_int, VTabError>;
    #[callback(
        // SAFETY: `cursor` is this call's cursor.
        fallback = unsafe { cursor_error(cursor, "xNext panicked") },
        // SAFETY: as above.
        on_error = unsafe { cursor_error(cursor, &e.0) },
    )]
    unsafe extern "C" fn next(
        &mut self,
        cursor: *mut sqlite3_vtab_cursor,
    ) -> Result<c_int, VTabError>;
    /// Non-zero at the end. After a panic: 1, and the statement is
    /// interrupted.
    #[callback(
        // SAFETY: `cursor` is this call's cursor, `pVtab` set by sqlite.
        fallback = unsafe { eof_failed(cursor) },
    )]
    unsafe extern "C" fn eof(&self, cursor: *mut sqlite3_vtab_cursor) -> c_int;
    #[callback(
        // SAFETY: `ctx` is this call's context.
        fallback = unsafe { column_error(ctx, "xColumn panicked") },
        // SAFETY: as above.
        on_error = unsafe { column_error(ctx, &e.0) },
    )]
    unsafe extern "C" fn column(
        &self,
        cursor: *mut sqlite3_vtab_cursor,
        ctx: *mut sqlite3_context,
        i: c_int,
    ) -> Result<c_int, VTabError>;
    #[callback(
        // SAFETY: `cursor` is this call's cursor.
        fallback = unsafe { cursor_error(cursor, "xRowid panicked") },
    )]
    unsafe extern "C" fn rowid(
        &self,
        cursor: *mut sqlite3_vtab_cursor,
        #[into(&mut i64)] rowid: *mut i64,
    ) -> c_int;
}

/// The module set's state: the aux data of table type `T`.
struct ModuleState<T: Table>(T::Aux, PhantomData<fn() -> T>);

/// The table set's state.
struct TableState<T>(T);

/// The cursor set's state.
struct CursorState<C>(C);

impl<T: Table> ModuleState<T> {
    /// xCreate and xConnect alike: the table, its schema declared, boxed
    /// behind a new `RawVTab` in `*pp_vtab`.
    fn make(
        &self,
        db: *mut sqlite3,
        argv: &[*const c_char],
        pp_vtab: &mut *mut sqlite3_vtab,
    ) -> Result<c_int, VTabError> {
        // argv[0] is the module's name, [1] the database's, [2] the
        // table's, then the arguments of `USING module(..)`.
        let args = argv
            .iter()
            .skip(3)
            // SAFETY: sqlite passes `argc` NUL-terminated strings, valid
            // for the call.
            .map(|&arg| unsafe { CStr::from_ptr(arg) }.to_str())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| VTabError::new(format!("argument not UTF-8: {e}")))?;
        let (schema, table) = T::connect(&self.0, &args)?;
        let schema = CString::new(schema).map_err(|e| VTabError::new(e.to_string()))?;
        // SAFETY: `db` is the connection running xCreate/xConnect, where
        // sqlite3_declare_vtab must be called; the schema is NUL-terminated.
        let rc = unsafe { sqlite3_declare_vtab(db, schema.as_ptr()) };
        if rc != SQLITE_OK {
            // `table` is dropped here, before anything was boxed.
            return Err(VTabError::new(format!(
                "bad schema {schema:?}: {}",
                // SAFETY: an open connection; the message is copied at once.
                unsafe { CStr::from_ptr(libsqlite3_sys::sqlite3_errmsg(db)) }.to_string_lossy()
            )));
        }
        let state = TableState(table).boxed().into_raw();
        let raw = Box::new(RawVTab {
            // SAFETY: a plain C struct of a pointer, an int and a pointer,
            // for which all zeroes are valid (null, 0, null): sqlite fills
            // it in.
            base: unsafe { std::mem::zeroed() },
            state,
            db,
        });
        count_alloc(&RAW_VTABS);
        *pp_vtab = Box::into_raw(raw).cast();
        Ok(SQLITE_OK)
    }
}

impl<T: Table> ModuleOps for ModuleState<T> {
    fn create(
        &self,
        db: *mut sqlite3,
        _argc: c_int,
        argv: &[*const c_char],
        pp_vtab: &mut *mut sqlite3_vtab,
        _pz_err: *mut *mut c_char,
    ) -> Result<c_int, VTabError> {
        self.make(db, argv, pp_vtab)
    }

    fn connect(
        &self,
        db: *mut sqlite3,
        _argc: c_int,
        argv: &[*const c_char],
        pp_vtab: &mut *mut sqlite3_vtab,
        _pz_err: *mut *mut c_char,
    ) -> Result<c_int, VTabError> {
        self.make(db, argv, pp_vtab)
    }
}

impl<T: Table> VTabOps for TableState<T> {
    fn best_index(
        &self,
        _vtab: *mut sqlite3_vtab,
        info: &mut sqlite3_index_info,
    ) -> Result<c_int, VTabError> {
        self.0.best_index(&mut IndexInfo { info })?;
        Ok(SQLITE_OK)
    }

    fn open(
        &self,
        _vtab: *mut sqlite3_vtab,
        pp_cursor: &mut *mut sqlite3_vtab_cursor,
    ) -> Result<c_int, VTabError> {
        let cursor = self.0.open()?;
        let state = CursorState(cursor).boxed().into_raw();
        let raw = Box::new(RawCursor {
            base: sqlite3_vtab_cursor {
                pVtab: ptr::null_mut(),
            },
            state,
        });
        count_alloc(&RAW_CURSORS);
        *pp_cursor = Box::into_raw(raw).cast();
        Ok(SQLITE_OK)
    }
}

impl<C: TableCursor> CursorOps for CursorState<C> {
    fn filter(
        &mut self,
        _cursor: *mut sqlite3_vtab_cursor,
        idx_num: c_int,
        _idx_str: *const c_char,
        _argc: c_int,
        argv: &[*mut sqlite3_value],
    ) -> Result<c_int, VTabError> {
        let args: Vec<i64> = argv
            .iter()
            // SAFETY: sqlite passes `argc` values, valid for the call.
            .map(|&value| unsafe { sqlite3_value_int64(value) })
            .collect();
        self.0.filter(idx_num, &args)?;
        Ok(SQLITE_OK)
    }

    fn next(&mut self, _cursor: *mut sqlite3_vtab_cursor) -> Result<c_int, VTabError> {
        self.0.next()?;
        Ok(SQLITE_OK)
    }

    fn eof(&self, _cursor: *mut sqlite3_vtab_cursor) -> c_int {
        self.0.eof().into()
    }

    fn column(
        &self,
        _cursor: *mut sqlite3_vtab_cursor,
        ctx: *mut sqlite3_context,
        i: c_int,
    ) -> Result<c_int, VTabError> {
        match self.0.column(i)? {
            // SAFETY: `ctx` is this xColumn call's context.
            Value::Int(n) => unsafe { sqlite3_result_int64(ctx, n) },
            Value::Text(text) => {
                let len = c_int::try_from(text.len()).map_err(|_| VTabError::new("too long"))?;
                // SAFETY: as above; sqlite copies the bytes (TRANSIENT).
                unsafe { sqlite3_result_text(ctx, text.as_ptr().cast(), len, SQLITE_TRANSIENT()) };
            }
        }
        Ok(SQLITE_OK)
    }

    fn rowid(&self, _cursor: *mut sqlite3_vtab_cursor, rowid: &mut i64) -> c_int {
        *rowid = self.0.rowid();
        SQLITE_OK
    }
}

/// xDisconnect and xDestroy (a read-only table keeps nothing outside
/// memory, so they are the same): frees the `RawVTab` and hands its state
/// to the set's `DESTROY`. Written by hand: see NOTES, the set's destroy
/// entry cannot free the C-visible half when it does not run.
///
/// # Safety
/// `vtab` is a `RawVTab` for `T`, and sqlite ends it once.
unsafe extern "C" fn disconnect<T: Table>(vtab: *mut sqlite3_vtab) -> c_int {
    // SAFETY: by the caller's promise: made by `Box::into_raw` in `make`.
    let raw = unsafe { Box::from_raw(vtab.cast::<RawVTab>()) };
    count_free(&RAW_VTABS);
    // SAFETY: a message sqlite never imported is ours to free (null is a
    // no-op); the state is `TableState<T>`'s, handed over by `into_raw`,
    // ended once, here.
    unsafe {
        sqlite3_free(raw.base.zErrMsg.cast());
        (<TableState<T> as VTabOpsExt>::DESTROY)(raw.state);
    }
    SQLITE_OK
}

/// xClose: frees the `RawCursor` and hands its state to `DESTROY`.
///
/// # Safety
/// `cursor` is a `RawCursor` for `C`, and sqlite closes it once.
unsafe extern "C" fn close<C: TableCursor>(cursor: *mut sqlite3_vtab_cursor) -> c_int {
    // SAFETY: by the caller's promise: made by `Box::into_raw` in `open`.
    let raw = unsafe { Box::from_raw(cursor.cast::<RawCursor>()) };
    count_free(&RAW_CURSORS);
    // SAFETY: the state is `CursorState<C>`'s, handed over by `into_raw`,
    // ended once, here.
    unsafe { (<CursorState<C> as CursorOpsExt>::DESTROY)(raw.state) };
    SQLITE_OK
}

/// The `sqlite3_module` of table type `T`: one per type, in static memory.
struct Module<T>(PhantomData<T>);

impl<T: Table> Module<T> {
    const MODULE: sqlite3_module = sqlite3_module {
        iVersion: 1,
        xCreate: Some(<ModuleState<T> as ModuleOpsExt>::CREATE),
        xConnect: Some(<ModuleState<T> as ModuleOpsExt>::CONNECT),
        xBestIndex: Some(<TableState<T> as VTabOpsExt>::BEST_INDEX),
        xDisconnect: Some(disconnect::<T>),
        xDestroy: Some(disconnect::<T>),
        xOpen: Some(<TableState<T> as VTabOpsExt>::OPEN),
        xClose: Some(close::<T::Cursor>),
        xFilter: Some(<CursorState<T::Cursor> as CursorOpsExt>::FILTER),
        xNext: Some(<CursorState<T::Cursor> as CursorOpsExt>::NEXT),
        xEof: Some(<CursorState<T::Cursor> as CursorOpsExt>::EOF),
        xColumn: Some(<CursorState<T::Cursor> as CursorOpsExt>::COLUMN),
        xRowid: Some(<CursorState<T::Cursor> as CursorOpsExt>::ROWID),
        // SAFETY: the rest are optional entry points (`None`) and ints,
        // for which all zeroes are valid.
        ..unsafe { std::mem::zeroed() }
    };
}

/// Registers table type `T` as module `name` of `db`, with `aux`. The aux
/// is freed once, by sqlite, through `DESTROY`: when the module is
/// replaced, when `db` closes, or at once if the registration fails.
fn register<T: Table>(db: &Db, name: &CStr, aux: T::Aux) -> c_int {
    let module: &'static sqlite3_module = const { &Module::<T>::MODULE };
    let aux = ModuleState::<T>(aux, PhantomData).boxed().into_raw();
    // SAFETY: `module` is static; `aux` is the `ModuleState<T>` its
    // xCreate/xConnect expect; sqlite calls `DESTROY` on it once.
    unsafe {
        sqlite3_create_module_v2(
            db.0,
            name.as_ptr(),
            module,
            aux,
            Some(<ModuleState<T> as ModuleOpsExt>::DESTROY),
        )
    }
}

// ===========================================================================
// Test tables
// ===========================================================================

/// What the tests watch: how many of each Rust object were made and
/// dropped, and which cursor methods ran, in order.
#[derive(Default)]
struct Watch {
    modules: Counter,
    tables: Counter,
    cursors: Counter,
    /// Cursors open at once, at most.
    max_open: Cell<u32>,
    /// The idxNum each xBestIndex chose, in order.
    plans: RefCell<Vec<c_int>>,
    /// Cursor methods that ran (and their idxNum for filter).
    log: RefCell<Vec<String>>,
}

#[derive(Default)]
struct Counter {
    made: Cell<u32>,
    dropped: Cell<u32>,
}

impl Counter {
    fn live(&self) -> u32 {
        self.made.get() - self.dropped.get()
    }
    fn get(&self) -> (u32, u32) {
        (self.made.get(), self.dropped.get())
    }
}

/// Counts itself into one of `Watch`'s counters.
struct Token(Rc<Watch>, fn(&Watch) -> &Counter);

impl Token {
    fn new(watch: &Rc<Watch>, which: fn(&Watch) -> &Counter) -> Token {
        let counter = which(watch);
        counter.made.set(counter.made.get() + 1);
        Token(Rc::clone(watch), which)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let counter = (self.1)(&self.0);
        counter.dropped.set(counter.dropped.get() + 1);
        if std::ptr::eq(counter, &self.0.cursors) {
            self.0.log.borrow_mut().push("drop cursor".into());
        }
    }
}

/// `people`'s aux: the rows and the watch.
struct PeopleAux {
    rows: Rc<Vec<(i64, String)>>,
    watch: Rc<Watch>,
    _token: Token,
}

/// A `Vec<(i64, String)>` as a table `(id, name)`. xBestIndex uses an
/// `id = ?` constraint (idxNum 1) when it can, else a full scan (0).
/// Arguments: none, or `broken_schema`.
struct People {
    rows: Rc<Vec<(i64, String)>>,
    watch: Rc<Watch>,
    /// `USING people(panicky_plan)`: xBestIndex panics.
    panicky_plan: bool,
    _token: Token,
}

struct PeopleCursor {
    rows: Rc<Vec<(i64, String)>>,
    /// Indices of the rows this scan visits.
    visit: Vec<usize>,
    at: usize,
    watch: Rc<Watch>,
    _token: Token,
}

impl PeopleCursor {
    fn log(&self, what: impl Into<String>) {
        self.watch.log.borrow_mut().push(what.into());
    }
}

impl Table for People {
    type Aux = PeopleAux;
    type Cursor = PeopleCursor;

    fn connect(aux: &PeopleAux, args: &[&str]) -> Result<(String, Self), VTabError> {
        let mut table = People {
            rows: Rc::clone(&aux.rows),
            watch: Rc::clone(&aux.watch),
            panicky_plan: false,
            _token: Token::new(&aux.watch, |w| &w.tables),
        };
        match args {
            [] => Ok(("CREATE TABLE x(id INTEGER, name TEXT)".into(), table)),
            ["panicky_plan"] => {
                table.panicky_plan = true;
                Ok(("CREATE TABLE x(id INTEGER, name TEXT)".into(), table))
            }
            ["broken_schema"] => Ok(("CREATE TABLE x(id INTEGER,".into(), table)),
            _ => Err(VTabError::new(format!(
                "people takes no arguments: {args:?}"
            ))),
        }
    }

    fn best_index(&self, info: &mut IndexInfo<'_>) -> Result<(), VTabError> {
        if self.panicky_plan {
            panic_any(Boom(-1));
        }
        let eq_id = info.constraints().iter().position(|c| {
            c.usable && c.column == 0 && c_int::from(c.op) == SQLITE_INDEX_CONSTRAINT_EQ
        });
        let plan = match eq_id {
            Some(i) => {
                info.use_constraint(i, 1, true);
                info.set_estimated_cost(1.0);
                1
            }
            None => {
                info.set_estimated_cost(1000.0);
                0
            }
        };
        info.set_idx_num(plan);
        self.watch.plans.borrow_mut().push(plan);
        Ok(())
    }

    fn open(&self) -> Result<PeopleCursor, VTabError> {
        let token = Token::new(&self.watch, |w| &w.cursors);
        let open = self.watch.cursors.live();
        self.watch.max_open.set(self.watch.max_open.get().max(open));
        Ok(PeopleCursor {
            rows: Rc::clone(&self.rows),
            visit: Vec::new(),
            at: 0,
            watch: Rc::clone(&self.watch),
            _token: token,
        })
    }
}

impl TableCursor for PeopleCursor {
    fn filter(&mut self, idx_num: c_int, args: &[i64]) -> Result<(), VTabError> {
        self.log(format!("filter {idx_num}"));
        self.visit = match (idx_num, args) {
            (0, []) => (0..self.rows.len()).collect(),
            (1, [-1]) => return Err(VTabError::new("people has no id -1, by design")),
            (1, [id]) => (0..self.rows.len())
                .filter(|&i| self.rows[i].0 == *id)
                .collect(),
            _ => return Err(VTabError::new(format!("bad plan {idx_num} {args:?}"))),
        };
        self.at = 0;
        Ok(())
    }

    fn next(&mut self) -> Result<(), VTabError> {
        self.log("next");
        self.at += 1;
        Ok(())
    }

    fn eof(&self) -> bool {
        self.log("eof");
        let end = self.at >= self.visit.len();
        if !end && self.rows[self.visit[self.at]].1 == "sink" {
            panic_any(Boom(self.rows[self.visit[self.at]].0));
        }
        end
    }

    fn column(&self, i: c_int) -> Result<Value, VTabError> {
        self.log(format!("column {i}"));
        let (id, name) = &self.rows[self.visit[self.at]];
        match i {
            0 => Ok(Value::Int(*id)),
            1 if name == "boom" => panic_any(Boom(*id)),
            1 => Ok(Value::Text(name.clone())),
            _ => Err(VTabError::new(format!("no column {i}"))),
        }
    }

    fn rowid(&self) -> i64 {
        self.log("rowid");
        self.rows[self.visit[self.at]].0
    }
}

/// The payload of xColumn's panic.
#[derive(Debug, PartialEq)]
struct Boom(i64);

/// `series(start, stop)`: a `generate_series`-like table of one column,
/// `value`; `WHERE value >= ?` is passed to xFilter (idxNum 1).
struct Series {
    start: i64,
    stop: i64,
    _token: Token,
}

struct SeriesCursor {
    at: i64,
    stop: i64,
}

impl Table for Series {
    type Aux = Rc<Watch>;
    type Cursor = SeriesCursor;

    fn connect(watch: &Rc<Watch>, args: &[&str]) -> Result<(String, Self), VTabError> {
        let bounds = args
            .iter()
            .map(|a| a.trim().parse::<i64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| VTabError::new(format!("series: {e}")))?;
        let [start, stop] = bounds[..] else {
            return Err(VTabError::new("series takes (start, stop)"));
        };
        let token = Token::new(watch, |w| &w.tables);
        Ok((
            "CREATE TABLE x(value INTEGER)".into(),
            Series {
                start,
                stop,
                _token: token,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo<'_>) -> Result<(), VTabError> {
        let ge = info
            .constraints()
            .iter()
            .position(|c| c.usable && c_int::from(c.op) == SQLITE_INDEX_CONSTRAINT_GE);
        if let Some(i) = ge {
            info.use_constraint(i, 1, true);
            info.set_idx_num(1);
        }
        Ok(())
    }

    fn open(&self) -> Result<SeriesCursor, VTabError> {
        Ok(SeriesCursor {
            at: self.start,
            stop: self.stop,
        })
    }
}

impl TableCursor for SeriesCursor {
    fn filter(&mut self, idx_num: c_int, args: &[i64]) -> Result<(), VTabError> {
        if let (1, [from]) = (idx_num, args) {
            self.at = self.at.max(*from);
        }
        Ok(())
    }
    fn next(&mut self) -> Result<(), VTabError> {
        self.at += 1;
        Ok(())
    }
    fn eof(&self) -> bool {
        self.at > self.stop
    }
    fn column(&self, _i: c_int) -> Result<Value, VTabError> {
        Ok(Value::Int(self.at))
    }
    fn rowid(&self) -> i64 {
        self.at
    }
}

// ===========================================================================
// Helpers
// ===========================================================================

type Rows = Vec<Vec<Option<String>>>;

/// Every row of `sql`, each column as text (NULL as `None`), or the result
/// code and `sqlite3_errmsg`. The statement is finalized before this
/// returns (its cursors closed), so callers guard all of it.
fn query(db: &Db, sql: &str) -> Result<Rows, (c_int, String)> {
    let sql = CString::new(sql).unwrap();
    let mut stmt: *mut sqlite3_stmt = ptr::null_mut();
    // SAFETY: an open connection, a NUL-terminated statement, valid out
    // pointers; the statement is finalized below, once.
    unsafe {
        let rc = sqlite3_prepare_v2(db.0, sql.as_ptr(), -1, &mut stmt, ptr::null_mut());
        if rc != SQLITE_OK {
            return Err((rc, db.errmsg()));
        }
        let columns = sqlite3_column_count(stmt);
        let mut rows = Vec::new();
        let rc = loop {
            match sqlite3_step(stmt) {
                SQLITE_ROW => rows.push(
                    (0..columns)
                        .map(|i| {
                            (sqlite3_column_type(stmt, i) != SQLITE_NULL).then(|| {
                                CStr::from_ptr(sqlite3_column_text(stmt, i).cast())
                                    .to_string_lossy()
                                    .into_owned()
                            })
                        })
                        .collect(),
                ),
                rc => break rc,
            }
        };
        let result = if rc == SQLITE_DONE {
            Ok(rows)
        } else {
            Err((rc, db.errmsg()))
        };
        sqlite3_finalize(stmt);
        result
    }
}

/// `query` under `resume_panics`, as a binding's statement would run.
fn guarded(db: &Db, sql: &str) -> Result<Rows, (c_int, String)> {
    resume_panics(|| query(db, sql))
}

fn rows(cells: &[&[&str]]) -> Rows {
    cells
        .iter()
        .map(|row| row.iter().map(|c| Some((*c).to_owned())).collect())
        .collect()
}

fn people_aux(names: &[(i64, &str)]) -> (PeopleAux, Rc<Watch>) {
    let watch = Rc::new(Watch::default());
    let aux = PeopleAux {
        rows: Rc::new(names.iter().map(|(i, n)| (*i, (*n).to_owned())).collect()),
        watch: Rc::clone(&watch),
        _token: Token::new(&watch, |w| &w.modules),
    };
    (aux, watch)
}

const PEOPLE: &[(i64, &str)] = &[(1, "ada"), (2, "grace"), (3, "edsger")];

/// The raw halves allocated and freed on this thread, since `before`.
fn raw_delta(before: [(u32, u32); 2]) -> [(u32, u32); 2] {
    let now = [RAW_VTABS.with(Cell::get), RAW_CURSORS.with(Cell::get)];
    [0, 1].map(|i| (now[i].0 - before[i].0, now[i].1 - before[i].1))
}

fn raw_now() -> [(u32, u32); 2] {
    [RAW_VTABS.with(Cell::get), RAW_CURSORS.with(Cell::get)]
}

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected the callback's panic to be resumed"),
        Err(payload) => payload,
    }
}

// ===========================================================================
// Tests
// ===========================================================================

#[test]
fn select_with_and_without_where_goes_through_best_index_and_filter() {
    let before = raw_now();
    let db = Db::memory();
    let (aux, watch) = people_aux(PEOPLE);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people")).expect("CREATE VIRTUAL TABLE");
    assert_eq!(watch.tables.get(), (1, 0), "xCreate made one table");

    let all = guarded(&db, "SELECT id, name FROM p");
    assert_eq!(
        all,
        Ok(rows(&[&["1", "ada"], &["2", "grace"], &["3", "edsger"]]))
    );
    assert_eq!(*watch.plans.borrow(), [0], "a full scan without WHERE");
    assert_eq!(watch.log.borrow()[0], "filter 0");

    watch.log.borrow_mut().clear();
    let one = guarded(&db, "SELECT name FROM p WHERE id = 2");
    assert_eq!(one, Ok(rows(&[&["grace"]])));
    assert_eq!(*watch.plans.borrow(), [0, 1], "the id = ? plan");
    assert_eq!(
        watch.log.borrow()[0],
        "filter 1",
        "xFilter got idxNum 1 and the constraint's value"
    );
    let none = guarded(&db, "SELECT name FROM p WHERE id = 42");
    assert_eq!(none, Ok(vec![]));

    // rowid comes from xRowid.
    let rowid = guarded(&db, "SELECT rowid FROM p WHERE name = 'edsger'");
    assert_eq!(rowid, Ok(rows(&[&["3"]])));
    assert!(watch.log.borrow().contains(&"rowid".to_owned()));

    assert_eq!(watch.cursors.live(), 0, "xClose freed every cursor");
    db.close();
    assert_eq!(watch.tables.get(), (1, 1), "xDisconnect on close");
    assert_eq!(watch.modules.get(), (1, 1), "the aux's DESTROY on close");
    let made = watch.cursors.made.get();
    assert_eq!(watch.cursors.get(), (made, made));
    assert_eq!(raw_delta(before), [(1, 1), (made, made)]);
}

#[test]
fn self_join_runs_two_cursors_at_once() {
    let db = Db::memory();
    let (aux, watch) = people_aux(PEOPLE);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people")).unwrap();

    let pairs = guarded(
        &db,
        "SELECT a.name, b.name FROM p a JOIN p b ON b.id = a.id + 1 ORDER BY a.id",
    );
    assert_eq!(pairs, Ok(rows(&[&["ada", "grace"], &["grace", "edsger"]])));
    assert_eq!(watch.max_open.get(), 2, "two cursors were open at once");
    assert!(
        watch.plans.borrow().contains(&1),
        "the inner loop used id = ?"
    );
    let log = watch.log.borrow();
    let filters: Vec<_> = log.iter().filter(|l| l.starts_with("filter")).collect();
    assert_eq!(
        filters,
        ["filter 0", "filter 1", "filter 1", "filter 1"],
        "an outer scan, and the inner cursor re-filtered per outer row"
    );
    drop(log);
    assert_eq!(watch.cursors.get(), (2, 2));
    db.close();
    assert_eq!(watch.tables.get(), (1, 1));
}

#[test]
fn panic_in_xcolumn_fails_the_statement_and_is_resumed_after_it() {
    let before = raw_now();
    let db = Db::memory();
    let (aux, watch) = people_aux(&[(1, "ada"), (2, "boom"), (3, "edsger")]);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people")).unwrap();

    let mut status = None;
    let mut log_at_return = Vec::new();
    let payload = payload_of(|| {
        resume_panics(|| {
            status = Some(query(&db, "SELECT a.name, b.name FROM p a, p b"));
            log_at_return = watch.log.borrow().clone();
        })
    });
    assert_eq!(
        payload.downcast_ref::<Boom>(),
        Some(&Boom(2)),
        "the original payload"
    );
    assert_eq!(
        status.expect("the statement returned before the panic resumed"),
        Err((SQLITE_ERROR, "xColumn panicked".to_owned())),
        "the fallback failed the statement through sqlite3_result_error"
    );
    // Nothing of ours ran after the panicking xColumn but the two cursors'
    // drops (xClose at finalize).
    let panicked = log_at_return
        .iter()
        .rposition(|l| l == "column 1")
        .expect("the panicking xColumn");
    assert_eq!(
        log_at_return[panicked + 1..],
        ["drop cursor", "drop cursor"]
    );
    assert_eq!(watch.cursors.get(), (2, 2), "both cursors freed once");

    // The panic has reached the caller: the table works again.
    let ids = guarded(&db, "SELECT id FROM p WHERE id = 3");
    assert_eq!(ids, Ok(rows(&[&["3"]])));

    db.close();
    assert_eq!(watch.tables.get(), (1, 1));
    assert_eq!(watch.modules.get(), (1, 1));
    let made = watch.cursors.made.get();
    assert_eq!(raw_delta(before), [(1, 1), (made, made)]);
}

#[test]
fn err_from_xfilter_reaches_sqlite3_errmsg_and_try_resume() {
    let db = Db::memory();
    let (aux, watch) = people_aux(PEOPLE);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people")).unwrap();

    let mut status = None;
    let result = try_resume::<_, VTabError>(|| {
        status = Some(query(&db, "SELECT name FROM p WHERE id = -1"));
    });
    assert_eq!(
        result,
        Err(VTabError::new("people has no id -1, by design")),
        "the typed error came back"
    );
    assert_eq!(
        status.expect("the statement returned"),
        Err((SQLITE_ERROR, "people has no id -1, by design".to_owned())),
        "on_error put the message in zErrMsg, which sqlite3_errmsg shows"
    );
    assert_eq!(watch.cursors.get(), (1, 1));

    // Under `resume_panics` only, the error is reported and dropped; the
    // message still reaches sqlite.
    let status = guarded(&db, "SELECT name FROM p WHERE id = -1");
    assert_eq!(
        status,
        Err((SQLITE_ERROR, "people has no id -1, by design".to_owned()))
    );
    db.close();
    assert_eq!(watch.tables.get(), (1, 1));
    assert_eq!(watch.cursors.get(), (2, 2));
}

#[test]
fn drop_table_frees_the_table_once_and_the_module_stays() {
    let before = raw_now();
    let db = Db::memory();
    let (aux, watch) = people_aux(PEOPLE);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people")).unwrap();
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE q USING people")).unwrap();
    assert_eq!(guarded(&db, "SELECT count(*) FROM p"), Ok(rows(&[&["3"]])));
    assert_eq!(watch.tables.get(), (2, 0));

    resume_panics(|| db.exec("DROP TABLE p")).unwrap();
    assert_eq!(watch.tables.get(), (2, 1), "xDestroy freed p once");
    assert_eq!(raw_delta(before)[0], (2, 1));
    let gone = guarded(&db, "SELECT * FROM p");
    assert_eq!(gone.map_err(|(rc, _)| rc), Err(SQLITE_ERROR));
    assert_eq!(guarded(&db, "SELECT count(*) FROM q"), Ok(rows(&[&["3"]])));
    assert_eq!(
        watch.modules.get(),
        (1, 0),
        "the module outlives its tables"
    );

    db.close();
    assert_eq!(watch.tables.get(), (2, 2), "q disconnected on close");
    assert_eq!(watch.modules.get(), (1, 1));
    let cursors = watch.cursors.made.get();
    assert_eq!(raw_delta(before), [(2, 2), (cursors, cursors)]);
}

#[test]
fn failed_xcreate_frees_everything_it_made() {
    let before = raw_now();
    let db = Db::memory();
    let (aux, watch) = people_aux(PEOPLE);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);

    // `connect` refuses the arguments: the message reaches the caller.
    let refused = resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people(1, 2)"));
    assert_eq!(
        refused,
        Err((
            SQLITE_ERROR,
            r#"people takes no arguments: ["1", "2"]"#.to_owned()
        ))
    );
    // The table is made, then its schema refused by sqlite3_declare_vtab:
    // dropped in Rust, nothing boxed.
    let broken = resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people(broken_schema)"));
    let (rc, message) = broken.expect_err("a schema that does not parse");
    assert_eq!(rc, SQLITE_ERROR);
    assert!(message.starts_with("bad schema"), "{message}");
    assert_eq!(watch.tables.get(), (2, 2), "both made tables dropped once");
    assert_eq!(raw_delta(before), [(0, 0), (0, 0)], "no RawVTab made");
    let missing = guarded(&db, "SELECT * FROM p");
    assert_eq!(missing.map_err(|(rc, _)| rc), Err(SQLITE_ERROR));
    db.close();
    assert_eq!(watch.modules.get(), (1, 1));
}

#[test]
fn xconnect_reconnects_a_table_from_a_file_and_disconnects_on_close() {
    let path = std::env::temp_dir().join(format!(
        "ffi-callback-vtab-{}-{:?}.db",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    let path_str = path.to_str().unwrap();

    let (aux, watch) = people_aux(PEOPLE);
    let db = Db::open(path_str);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people")).unwrap();
    db.close();
    assert_eq!(watch.tables.get(), (1, 1), "xDisconnect on close");
    assert_eq!(watch.modules.get(), (1, 1));

    // The schema holds `p`: a new connection reaches it through xConnect.
    let (aux, watch) = people_aux(PEOPLE);
    let db = Db::open(path_str);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    assert_eq!(watch.tables.get(), (0, 0), "connected lazily");
    let names = guarded(&db, "SELECT name FROM p WHERE id = 1");
    assert_eq!(names, Ok(rows(&[&["ada"]])));
    assert_eq!(watch.tables.get(), (1, 0), "xConnect made it");
    db.close();
    assert_eq!(watch.tables.get(), (1, 1));
    assert_eq!(watch.modules.get(), (1, 1));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn generate_series_like_table_takes_arguments_and_a_constraint() {
    let before = raw_now();
    let db = Db::memory();
    let watch = Rc::new(Watch::default());
    assert_eq!(
        register::<Series>(&db, c"series", Rc::clone(&watch)),
        SQLITE_OK
    );
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE s USING series(1, 5)")).unwrap();
    assert_eq!(
        guarded(&db, "SELECT value FROM s"),
        Ok(rows(&[&["1"], &["2"], &["3"], &["4"], &["5"]]))
    );
    assert_eq!(
        guarded(&db, "SELECT sum(value) FROM s WHERE value >= 4"),
        Ok(rows(&[&["9"]]))
    );
    let bad = resume_panics(|| db.exec("CREATE VIRTUAL TABLE t USING series(1, x)"));
    assert_eq!(
        bad,
        Err((
            SQLITE_ERROR,
            "series: invalid digit found in string".to_owned()
        ))
    );
    db.close();
    assert_eq!(watch.tables.get(), (1, 1));
    let [vtabs, cursors] = raw_delta(before);
    assert_eq!(vtabs, (1, 1));
    assert_eq!(cursors.0, cursors.1);
}

#[test]
fn module_aux_is_destroyed_once_when_replaced_or_refused() {
    let db = Db::memory();
    let (first, first_watch) = people_aux(PEOPLE);
    let (second, second_watch) = people_aux(PEOPLE);
    assert_eq!(register::<People>(&db, c"people", first), SQLITE_OK);
    assert_eq!(register::<People>(&db, c"people", second), SQLITE_OK);
    assert_eq!(
        first_watch.modules.get(),
        (1, 1),
        "replacing the module destroyed its aux"
    );
    assert_eq!(second_watch.modules.get(), (1, 0));

    // A registration refused by API armor (a null name: the bundled build
    // has SQLITE_ENABLE_API_ARMOR) returns SQLITE_MISUSE *without* calling
    // xDestroy, unlike a failure inside createModule (out of memory), which
    // calls it: the aux is still ours, and only `DESTROY` by hand frees it.
    let (third, third_watch) = people_aux(PEOPLE);
    let aux = ModuleState::<People>(third, PhantomData).boxed().into_raw();
    // SAFETY: as in `register`, with a null name, which armor refuses
    // before it looks at anything else.
    let rc = unsafe {
        sqlite3_create_module_v2(
            db.0,
            ptr::null(),
            const { &Module::<People>::MODULE },
            aux,
            Some(<ModuleState<People> as ModuleOpsExt>::DESTROY),
        )
    };
    assert_eq!(rc, SQLITE_MISUSE);
    assert_eq!(third_watch.modules.get(), (1, 0), "sqlite did not free it");
    // SAFETY: `aux` is the handed-over `ModuleState<People>`, which sqlite
    // did not keep and did not end: ended once, here.
    unsafe { (<ModuleState<People> as ModuleOpsExt>::DESTROY)(aux) };
    assert_eq!(third_watch.modules.get(), (1, 1));

    db.close();
    assert_eq!(second_watch.modules.get(), (1, 1));
    assert_eq!(third_watch.modules.get(), (1, 1));
}

#[test]
fn panic_in_xbestindex_fails_prepare_and_is_resumed() {
    let before = raw_now();
    let db = Db::memory();
    let (aux, watch) = people_aux(PEOPLE);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people(panicky_plan)")).unwrap();
    let mut status = None;
    let payload = payload_of(|| resume_panics(|| status = Some(query(&db, "SELECT * FROM p"))));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(-1)));
    assert_eq!(
        status.expect("prepare returned"),
        Err((SQLITE_ERROR, "xBestIndex panicked".to_owned())),
        "the fallback's zErrMsg reached sqlite3_errmsg"
    );
    assert_eq!(watch.cursors.get(), (0, 0), "no cursor was opened");
    // DROP TABLE after the guard returned: the table (which panicked) is
    // freed once.
    resume_panics(|| db.exec("DROP TABLE p")).unwrap();
    assert_eq!(watch.tables.get(), (1, 1));
    db.close();
    assert_eq!(watch.modules.get(), (1, 1));
    assert_eq!(raw_delta(before), [(1, 1), (0, 0)]);
}

#[test]
fn panic_in_xeof_interrupts_the_statement_so_no_other_cursor_runs_on() {
    let db = Db::memory();
    let (aux, watch) = people_aux(&[(1, "ada"), (2, "sink"), (3, "edsger")]);
    assert_eq!(register::<People>(&db, c"people", aux), SQLITE_OK);
    resume_panics(|| db.exec("CREATE VIRTUAL TABLE p USING people")).unwrap();

    let mut status = None;
    let mut log_at_return = Vec::new();
    let payload = payload_of(|| {
        resume_panics(|| {
            status = Some(query(&db, "SELECT a.id, b.id FROM p a, p b"));
            log_at_return = watch.log.borrow().clone();
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
    assert_eq!(
        status.expect("the statement returned"),
        Err((libsqlite3_sys::SQLITE_INTERRUPT, "interrupted".to_owned())),
        "without the interrupt the statement would succeed, truncated"
    );
    // After the panicking xEof (the inner cursor reaching `sink`), only
    // the cursors' drops ran.
    let panicked = log_at_return
        .iter()
        .rposition(|l| l == "eof")
        .expect("the panicking xEof");
    assert_eq!(
        log_at_return[panicked + 1..],
        ["drop cursor", "drop cursor"],
        "{log_at_return:?}"
    );
    let ids = guarded(&db, "SELECT name FROM p WHERE id = 3");
    assert_eq!(ids, Ok(rows(&[&["edsger"]])), "later statements run");
    db.close();
    assert_eq!(watch.cursors.get(), (3, 3));
    assert_eq!(watch.tables.get(), (1, 1));
}
