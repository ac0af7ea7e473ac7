//! A SQL scalar function written as a Rust closure: `to_eur(amount,
//! currency)` converts an amount with an exchange-rate table that the
//! closure owns, and counts its calls. It is registered on an in-memory
//! SQLite database with `sqlite3_create_function_v2` through a
//! `#[callback]` type, then used in queries.
//!
//! ```text
//! cargo run -p examples --example sql_function
//! ```
//!
//! - SQLite has no user-data parameter in the function's signature: the
//!   callback type fetches it with `user_data = sqlite3_user_data(ctx)`.
//! - SQLite keeps the function after the registering call returns, so the
//!   closure is `boxed` (owned, `'static`) and its `destroy` is passed as
//!   `xDestroy`: SQLite frees the closure, and the rate table it captured,
//!   when the connection closes (the example prints when that happens).
//! - The closure reports bad input the SQLite way, with
//!   `sqlite3_result_error`. A panic would do the same through the type's
//!   `fallback` (the default policy, `resume`, then re-raises it when the
//!   `sqlite3_exec` call returns: here at the end of `ExecRow::scope`).
//!
//! SQLite is the copy that `libsqlite3-sys` builds from source (feature
//! `bundled`): no system library needed.

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::process::ExitCode;
use std::ptr;
use std::rc::Rc;

use ffi_callback::callback;
use libsqlite3_sys::{
    SQLITE_NULL, SQLITE_OK, SQLITE_UTF8, sqlite3, sqlite3_close, sqlite3_context,
    sqlite3_create_function_v2, sqlite3_errmsg, sqlite3_exec, sqlite3_free, sqlite3_open,
    sqlite3_result_double, sqlite3_result_error, sqlite3_result_null, sqlite3_user_data,
    sqlite3_value, sqlite3_value_double, sqlite3_value_text, sqlite3_value_type,
};

/// A scalar SQL function: `void (*xFunc)(sqlite3_context*, int, sqlite3_value**)`.
/// The user data comes from `sqlite3_user_data(ctx)`; after a panic (or a
/// refused call) the statement fails with an error instead of a result.
#[callback(
    // SAFETY: `ctx` is the context SQLite passed to this very call.
    user_data = unsafe { sqlite3_user_data(ctx) },
    // SAFETY: `ctx` is the context SQLite passed to this very call.
    fallback = unsafe { fail_statement(ctx, c"to_eur panicked") },
)]
type ScalarFunction =
    unsafe extern "C" fn(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value);

/// `sqlite3_exec`'s row callback; a non-zero return (and the fallback `1`,
/// after a panic) makes SQLite stop the statement with `SQLITE_ABORT`.
#[callback(fallback = 1)]
type ExecRow = unsafe extern "C" fn(
    #[user_data] arg: *mut c_void,
    n: c_int,
    values: *mut *mut c_char,
    names: *mut *mut c_char,
) -> c_int;

/// Makes the running function call fail with `message`.
///
/// # Safety
/// `ctx` is the context of the running function call.
unsafe fn fail_statement(ctx: *mut sqlite3_context, message: &CStr) {
    // SAFETY: by the caller's promise; SQLite copies the NUL-terminated
    // message (length -1).
    unsafe { sqlite3_result_error(ctx, message.as_ptr(), -1) }
}

/// What the `to_eur` closure owns: euros per unit of each currency. It says
/// when it is dropped, to show `xDestroy` at work.
struct Rates {
    euros_per: HashMap<String, f64>,
    calls: Rc<Cell<usize>>,
}

impl Drop for Rates {
    fn drop(&mut self) {
        println!(
            "xDestroy: SQLite freed the to_eur closure and its {} rates after {} calls",
            self.euros_per.len(),
            self.calls.get()
        );
    }
}

/// The `to_eur(amount, currency)` closure. `calls` is shared with `main`,
/// which reads it between queries (the closure runs on this thread only, so
/// `Rc<Cell<_>>` is enough).
fn to_eur(
    rates: Rates,
) -> impl FnMut(*mut sqlite3_context, c_int, *mut *mut sqlite3_value) + 'static {
    move |ctx, argc, argv| {
        rates.calls.set(rates.calls.get() + 1);
        if argc != 2 {
            // SAFETY: `ctx` is this call's context.
            return unsafe { fail_statement(ctx, c"to_eur takes (amount, currency)") };
        }
        // SAFETY: SQLite passes `argc` (2) valid values.
        let (amount, currency) = unsafe { (*argv, *argv.add(1)) };
        // SAFETY: `amount` and `currency` are valid values of this call.
        if unsafe {
            sqlite3_value_type(amount) == SQLITE_NULL || sqlite3_value_type(currency) == SQLITE_NULL
        } {
            // SQL's rule: NULL in, NULL out.
            // SAFETY: `ctx` is this call's context.
            return unsafe { sqlite3_result_null(ctx) };
        }
        // SAFETY: `currency` is a valid value of this call.
        let text = unsafe { sqlite3_value_text(currency) };
        if text.is_null() {
            // SAFETY: `ctx` is this call's context.
            return unsafe { fail_statement(ctx, c"to_eur: out of memory") };
        }
        // SAFETY: the text is NUL-terminated and lives until the value
        // changes, after we are done with it.
        let code = unsafe { CStr::from_ptr(text.cast::<c_char>()) }.to_string_lossy();
        match rates.euros_per.get(code.as_ref()) {
            // SAFETY: `amount` is a valid value, `ctx` this call's context.
            Some(rate) => unsafe {
                sqlite3_result_double(ctx, sqlite3_value_double(amount) * rate)
            },
            None => {
                let message = CString::new(format!("to_eur: unknown currency {code:?}"))
                    .unwrap_or_else(|_| c"to_eur: unknown currency".to_owned());
                // SAFETY: `ctx` is this call's context.
                unsafe { fail_statement(ctx, &message) }
            }
        }
    }
}

/// An open connection.
struct Db(*mut sqlite3);

impl Db {
    fn open_in_memory() -> Result<Db, String> {
        let mut db = ptr::null_mut();
        // SAFETY: the name is NUL-terminated and `db` is a valid out pointer.
        let rc = unsafe { sqlite3_open(c":memory:".as_ptr(), &mut db) };
        let db = Db(db); // closed on drop, even if opening failed
        if rc != SQLITE_OK {
            return Err(format!("sqlite3_open failed: {}", db.errmsg()));
        }
        Ok(db)
    }

    fn errmsg(&self) -> String {
        // SAFETY: `self.0` is a connection handle (errmsg accepts one whose
        // opening failed); the message is NUL-terminated.
        unsafe { CStr::from_ptr(sqlite3_errmsg(self.0)) }
            .to_string_lossy()
            .into_owned()
    }

    /// Registers `f` as the SQL function `name` taking `n_arg` arguments.
    fn create_function(
        &self,
        name: &CStr,
        n_arg: c_int,
        f: impl FnMut(*mut sqlite3_context, c_int, *mut *mut sqlite3_value) + 'static,
    ) -> Result<(), String> {
        let raw = ScalarFunction::boxed(f).into_raw();
        // SAFETY: `raw.function` finds its closure through
        // `sqlite3_user_data(ctx)`, which returns `raw.user_data`. SQLite
        // calls `raw.destroy` exactly once: when the function is replaced or
        // the connection closes, or right away if registering fails.
        let rc = unsafe {
            sqlite3_create_function_v2(
                self.0,
                name.as_ptr(),
                n_arg,
                SQLITE_UTF8,
                raw.user_data,
                Some(raw.function),
                None,
                None,
                Some(raw.destroy),
            )
        };
        if rc != SQLITE_OK {
            return Err(format!("sqlite3_create_function_v2: {}", self.errmsg()));
        }
        Ok(())
    }

    /// Runs `sql` and returns the rows it produced, each column as text
    /// (`NULL` for SQL NULL), or SQLite's error message.
    fn query(&self, sql: &str) -> Result<Vec<Vec<String>>, String> {
        let sql = CString::new(sql).map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        let mut errmsg: *mut c_char = ptr::null_mut();
        let rc = ExecRow::scope(
            |n, values, _names| {
                let n = usize::try_from(n).unwrap_or(0);
                let row = (0..n)
                    .map(|i| {
                        // SAFETY: SQLite passes `n` column values, each
                        // null or a NUL-terminated string valid during
                        // this call.
                        let value = unsafe { *values.add(i) };
                        if value.is_null() {
                            "NULL".to_owned()
                        } else {
                            // SAFETY: as above.
                            unsafe { CStr::from_ptr(value) }
                                .to_string_lossy()
                                .into_owned()
                        }
                    })
                    .collect();
                rows.push(row);
                0
            },
            // SAFETY: `func` takes `arg`, whose holder outlives the call;
            // `sql` is NUL-terminated and `errmsg` a valid out pointer.
            |func, arg| unsafe { sqlite3_exec(self.0, sql.as_ptr(), Some(func), arg, &mut errmsg) },
        );
        if rc == SQLITE_OK {
            return Ok(rows);
        }
        let message = if errmsg.is_null() {
            format!("error code {rc}")
        } else {
            // SAFETY: SQLite set `errmsg` to a NUL-terminated string that
            // we must free with `sqlite3_free`.
            unsafe {
                let message = CStr::from_ptr(errmsg).to_string_lossy().into_owned();
                sqlite3_free(errmsg.cast());
                message
            }
        };
        Err(message)
    }

    fn execute(&self, sql: &str) -> Result<(), String> {
        self.query(sql).map(drop)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: an open connection (or null), whose statements
        // `sqlite3_exec` has all finalized. Closing it runs the `xDestroy`
        // of every function registered on it.
        let rc = unsafe { sqlite3_close(self.0) };
        if rc != SQLITE_OK {
            eprintln!("error: sqlite3_close returned {rc}");
        }
    }
}

/// A number as SQLite prints it, with two decimals (`NULL` stays `NULL`).
fn money(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(x) => format!("{x:.2}"),
        Err(_) => text.to_owned(),
    }
}

fn run() -> Result<(), String> {
    let db = Db::open_in_memory()?;
    db.execute(
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT, amount REAL, currency TEXT);
         INSERT INTO orders(customer, amount, currency) VALUES
           ('Ada', 120.00, 'USD'), ('Grace', 80.50, 'GBP'), ('Linus', 1500, 'SEK'),
           ('Barbara', 42.00, 'EUR'), ('Ken', 9800, 'JPY'), ('Dennis', NULL, 'USD');",
    )?;

    let calls = Rc::new(Cell::new(0));
    let rates = Rates {
        euros_per: [
            ("EUR", 1.0),
            ("USD", 0.92),
            ("GBP", 1.17),
            ("SEK", 0.087),
            ("JPY", 0.0061),
        ]
        .map(|(code, rate)| (code.to_owned(), rate))
        .into_iter()
        .collect(),
        calls: calls.clone(),
    };
    db.create_function(c"to_eur", 2, to_eur(rates))?;
    println!("registered to_eur(amount, currency) on an in-memory database");
    println!();

    let rows = db.query(
        "SELECT customer, amount, currency, to_eur(amount, currency) FROM orders ORDER BY id",
    )?;
    println!(
        "  {:<8} {:>8} {:<4} {:>8}",
        "customer", "amount", "cur", "EUR"
    );
    for row in &rows {
        let (amount, eur) = (money(&row[1]), money(&row[3]));
        println!("  {:<8} {amount:>8} {:<4} {eur:>8}", row[0], row[2]);
    }
    println!(
        "to_eur was called {} times for {} rows",
        calls.get(),
        rows.len()
    );
    println!();

    let total = db.query("SELECT sum(to_eur(amount, currency)) FROM orders")?;
    println!(
        "total in EUR: {} (to_eur calls so far: {})",
        money(&total[0][0]),
        calls.get()
    );

    match db.query("SELECT to_eur(10, 'XYZ')") {
        Ok(rows) => return Err(format!("expected an error for XYZ, got {rows:?}")),
        Err(message) => println!("SELECT to_eur(10, 'XYZ') failed as it should: {message}"),
    }

    println!("closing the database");
    drop(db);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
