//! What a second real binding taught (issue 15), against the bundled
//! SQLite of `libsqlite3-sys`:
//!
//! - `sqlite3_progress_handler` has no destroy-notify: the binding keeps a
//!   Rust-owned `Boxed` (`T::boxed(f)`), passes `function()`/`user_data()`,
//!   may move the `Boxed`, and drops it after unregistering; a handler that
//!   unregisters itself and drops its own `Boxed` mid-call is freed when
//!   that call returns (15.2);
//! - a boxed hook that panics in one guarded statement runs user code
//!   again in the next one, also as `send, on_panic = resume` (15.1).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::panic::panic_any;
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ffi_callback::{callback, resume_panics};
use ffi_callback_tests::panics::panic_payload;
use ffi_callback_tests::sqlite::Db;
use libsqlite3_sys::{SQLITE_INTERRUPT, sqlite3_progress_handler};

/// Removes a connection's progress handler.
trait ClearProgressHandler {
    fn clear_progress_handler(&self);
}

impl ClearProgressHandler for Db {
    fn clear_progress_handler(&self) {
        // SAFETY: `self.0` is open; a null handler unregisters.
        unsafe { sqlite3_progress_handler(self.0, 0, None, ptr::null_mut()) };
    }
}

/// A statement that runs long enough to call a progress handler every 100
/// VM instructions many times.
const LONG_QUERY: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) \
     SELECT sum(x) FROM c";

/// Counts drops of whatever holds it.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// `int (*)(void *)`: non-zero interrupts the statement, and so does the
/// fallback 1 after a panic.
#[callback(fallback = 1)]
type Progress = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

#[derive(Debug, PartialEq)]
struct ProgressPanic(usize);

// ---------------------------------------------------------------------------
// 15.2: Rust-owned boxed holders, for C without a destroy-notify
// ---------------------------------------------------------------------------

#[test]
fn progress_handler_rust_owned_boxed_survives_a_move_and_is_dropped_after_unregistering() {
    let db = Db::memory();
    let calls = Rc::new(Cell::new(0usize));
    let drops = Rc::new(Cell::new(0));
    let handler = Progress::boxed({
        let (calls, guard) = (Rc::clone(&calls), DropCounter(Rc::clone(&drops)));
        move || {
            let _ = &guard;
            calls.set(calls.get() + 1);
            c_int::from(calls.get() == 5)
        }
    });
    // SAFETY: the boxed handler outlives its registration (cleared below,
    // before the `Boxed` is dropped).
    unsafe { sqlite3_progress_handler(db.0, 100, Some(handler.function()), handler.user_data()) };
    let registered = handler.user_data();
    // The binding moves its `Boxed` (into its connection struct, say): the
    // closure C points at does not move.
    let kept = vec![handler];
    assert_eq!(kept[0].user_data(), registered);

    let result = resume_panics(|| db.exec(LONG_QUERY));
    assert_eq!(
        result,
        Err((SQLITE_INTERRUPT, "interrupted".to_owned())),
        "the fifth call's 1 interrupted the statement"
    );
    assert_eq!(calls.get(), 5);

    db.clear_progress_handler();
    assert_eq!(drops.get(), 0, "alive until Rust drops it");
    drop(kept);
    assert_eq!(drops.get(), 1, "dropped once, by Rust");
    assert_eq!(resume_panics(|| db.exec(LONG_QUERY)), Ok(()));
    assert_eq!(calls.get(), 5, "not called once unregistered");
}

#[test]
fn progress_handler_that_unregisters_and_drops_its_own_boxed_mid_call_is_freed_after_the_call() {
    let db = Db::memory();
    let handle = db.0;
    let calls = Rc::new(Cell::new(0usize));
    let drops = Rc::new(Cell::new(0));
    let drops_seen_inside = Rc::new(Cell::new(None));
    // The binding keeps the `Boxed` where the closure can reach it (type
    // erased: the closure cannot name its own type).
    let slot: Rc<RefCell<Option<Box<dyn Any>>>> = Rc::default();
    let handler = Progress::boxed({
        let (calls, slot, seen) = (
            Rc::clone(&calls),
            Rc::clone(&slot),
            Rc::clone(&drops_seen_inside),
        );
        let guard = DropCounter(Rc::clone(&drops));
        move || {
            calls.set(calls.get() + 1);
            if calls.get() == 3 {
                // Tell C to stop, then drop the handler, from inside its call.
                // SAFETY: `handle` is the open connection running this
                // statement; sqlite allows replacing the handler from it.
                unsafe { sqlite3_progress_handler(handle, 0, None, ptr::null_mut()) };
                let own = slot.borrow_mut().take();
                drop(own);
                // This closure (and `guard`) is still alive: the free waits
                // for this call to return.
                seen.set(Some(guard.0.get()));
            }
            0
        }
    });
    // SAFETY: the boxed handler stays alive while registered: it is dropped
    // only after it unregistered itself.
    unsafe { sqlite3_progress_handler(db.0, 100, Some(handler.function()), handler.user_data()) };
    *slot.borrow_mut() = Some(Box::new(handler));

    let result = resume_panics(|| db.exec(LONG_QUERY));
    assert_eq!(result, Ok(()), "returned 0, then was no longer called");
    assert_eq!(calls.get(), 3);
    assert_eq!(
        drops_seen_inside.get(),
        Some(0),
        "not freed during its own call"
    );
    assert_eq!(drops.get(), 1, "freed once, when the call returned");
    assert!(slot.borrow().is_none());
    assert_eq!(
        Rc::strong_count(&slot),
        1,
        "the closure's clone went with it"
    );
}

// ---------------------------------------------------------------------------
// 15.1: a boxed hook that panicked runs again in the next guarded call
// ---------------------------------------------------------------------------

#[test]
fn boxed_progress_handler_panics_in_one_guarded_statement_and_runs_again_in_the_next() {
    let db = Db::memory();
    let calls = Rc::new(Cell::new(0usize));
    let handler = Progress::boxed({
        let calls = Rc::clone(&calls);
        move || -> c_int {
            calls.set(calls.get() + 1);
            if calls.get() == 2 {
                panic_any(ProgressPanic(2));
            }
            0
        }
    });
    // SAFETY: the boxed handler outlives its registration (cleared below).
    unsafe { sqlite3_progress_handler(db.0, 100, Some(handler.function()), handler.user_data()) };

    let mut first = None;
    let payload = panic_payload(|| resume_panics(|| first = Some(db.exec(LONG_QUERY))));
    assert_eq!(
        payload.downcast_ref::<ProgressPanic>(),
        Some(&ProgressPanic(2))
    );
    assert_eq!(
        first,
        Some(Err((SQLITE_INTERRUPT, "interrupted".to_owned()))),
        "the fallback 1 interrupted the statement"
    );
    assert_eq!(calls.get(), 2);

    let second = resume_panics(|| db.exec(LONG_QUERY));
    assert_eq!(second, Ok(()));
    assert!(
        calls.get() > 3,
        "the handler ran user code again, on every call: {} calls",
        calls.get()
    );

    db.clear_progress_handler();
    drop(handler);
}

/// The same handler type for a connection that may move between threads.
#[callback(send, on_panic = resume, fallback = 1)]
type SendProgress = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

#[test]
fn send_resume_boxed_progress_handler_runs_again_after_its_panic_reached_the_caller() {
    let db = Db::memory();
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = SendProgress::boxed({
        let calls = Arc::clone(&calls);
        move || -> c_int {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                panic_any(ProgressPanic(1));
            }
            0
        }
    });
    // SAFETY: the boxed handler outlives its registration (cleared below).
    unsafe { sqlite3_progress_handler(db.0, 100, Some(handler.function()), handler.user_data()) };

    let mut first = None;
    let payload = panic_payload(|| resume_panics(|| first = Some(db.exec(LONG_QUERY))));
    assert_eq!(
        payload.downcast_ref::<ProgressPanic>(),
        Some(&ProgressPanic(1))
    );
    assert_eq!(
        first,
        Some(Err((SQLITE_INTERRUPT, "interrupted".to_owned())))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    assert_eq!(resume_panics(|| db.exec(LONG_QUERY)), Ok(()));
    assert!(calls.load(Ordering::SeqCst) > 2);

    db.clear_progress_handler();
    drop(handler);
}
