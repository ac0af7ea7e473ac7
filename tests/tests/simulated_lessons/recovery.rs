//! Issue 15.1 and 15.2: a holder C keeps across many calls runs user code
//! again once its panic has reached the Rust caller, whatever kind of
//! holder it is; and a Rust-owned `Boxed` serves C APIs that keep a
//! callback but never free it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::panic::panic_any;
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::{message, panic_payload};

use crate::{Boom, Each, SendPtr, each, send_tracked, tracked};

/// A hook the C library keeps and calls once per row (a sqlite hook,
/// curl's socket function).
#[callback(fallback = -1)]
type Hook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, row: c_int) -> c_int;

/// The same hook for a connection that moves between threads but calls
/// back on the thread that drives it.
#[callback(send, on_panic = resume, fallback = -1)]
type SendHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, row: c_int) -> c_int;

// ---------------------------------------------------------------------------
// The simulated C library: a connection that keeps one hook, with an
// optional destroy-notify.
// ---------------------------------------------------------------------------

#[repr(C)]
struct Conn {
    hook: Option<Each>,
    ud: *mut c_void,
    destroy: Option<unsafe extern "C" fn(*mut c_void)>,
}

fn new_conn() -> Conn {
    Conn {
        hook: None,
        ud: ptr::null_mut(),
        destroy: None,
    }
}

/// `conn_set_hook`: replaces the hook, calling the old one's destroy-notify.
unsafe extern "C" fn c_conn_set_hook(
    conn: *mut Conn,
    hook: Option<Each>,
    ud: *mut c_void,
    destroy: Option<unsafe extern "C" fn(*mut c_void)>,
) {
    // SAFETY: the caller passes a valid connection; the old registration
    // is destroyed once, after the new one is in place.
    unsafe {
        let old = ((*conn).ud, (*conn).destroy.take());
        (*conn).hook = hook;
        (*conn).ud = ud;
        (*conn).destroy = destroy;
        if let (old_ud, Some(old_destroy)) = old {
            old_destroy(old_ud);
        }
    }
}

/// One statement: calls the hook for rows `0..rows` (reading the
/// registration again before each row, as C does), `c_int::MIN` for a row
/// with no hook.
unsafe extern "C" fn c_conn_step(conn: *mut Conn, rows: c_int, out: *mut c_int) {
    for row in 0..rows {
        // SAFETY: the caller passes a valid connection with a consistent
        // registration, and `out` with room for `rows` ints.
        unsafe {
            let got = match (*conn).hook {
                Some(hook) => hook((*conn).ud, row),
                None => c_int::MIN,
            };
            *out.add(row as usize) = got;
        }
    }
}

/// Runs a statement and collects what the hook returned for each row.
///
/// # Safety
/// `conn` is valid and its registration consistent.
unsafe fn step(conn: *mut Conn, rows: c_int) -> Vec<c_int> {
    let mut out = vec![0; rows as usize];
    // SAFETY: forwarded; `out` has room for `rows` ints.
    unsafe { c_conn_step(conn, rows, out.as_mut_ptr()) };
    out
}

/// Closes the connection: destroys the hook, once.
unsafe fn close(conn: *mut Conn) {
    // SAFETY: forwarded.
    unsafe { c_conn_set_hook(conn, None, ptr::null_mut(), None) };
}

/// A connection that a test moves to another thread, as a `Send` binding
/// type does.
struct SendConn(Conn);

// SAFETY: its hook is a `send` holder (callable and destroyable on any
// thread), and the connection is used by one thread at a time.
unsafe impl Send for SendConn {}

// ---------------------------------------------------------------------------
// 15.1: a holder that panicked runs again in the next guarded C call
// ---------------------------------------------------------------------------

#[test]
fn boxed_hook_that_panicked_runs_again_in_the_next_guarded_call() {
    let (track, drops) = tracked();
    let rows = Rc::new(RefCell::new(Vec::new()));
    let seen = rows.clone();
    let raw = Hook::boxed(move |row| {
        let _ = &track;
        seen.borrow_mut().push(row);
        if row == 2 {
            panic_any(Boom(2));
        }
        row * 10
    })
    .into_raw();
    let mut conn = new_conn();
    let conn_ptr = &raw mut conn;
    // SAFETY: the connection owns the hook until `close`.
    unsafe {
        c_conn_set_hook(
            conn_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };

    // First statement: row 2 panics; C goes on to the end of the statement,
    // and the rows after the panic get the fallback without running the
    // closure.
    let mut first = Vec::new();
    // SAFETY: the registration is consistent.
    let payload = panic_payload(|| resume_panics(|| first = unsafe { step(conn_ptr, 4) }));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
    assert_eq!(first, [0, 10, -1, -1]);
    assert_eq!(*rows.borrow(), [0, 1, 2]);

    // The panic reached the Rust caller: the next statement runs the hook.
    // SAFETY: as above.
    let second = resume_panics(|| unsafe { step(conn_ptr, 2) });
    assert_eq!(second, [0, 10]);
    assert_eq!(*rows.borrow(), [0, 1, 2, 0, 1]);

    // And it can panic again, and recover again.
    // SAFETY: as above.
    let payload = panic_payload(|| resume_panics(|| unsafe { step(conn_ptr, 3) }));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { step(conn_ptr, 1) }), [0]);

    assert_eq!(drops.get(), 0);
    // SAFETY: as above; destroys the hook once.
    unsafe { close(conn_ptr) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn send_resume_hook_panics_on_the_thread_the_connection_moved_to_and_runs_again() {
    let (track, drops) = send_tracked();
    let rows = Arc::new(Mutex::new(Vec::new()));
    let seen = rows.clone();
    let raw = SendHook::boxed(move |row| {
        let _ = &track;
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((row, std::thread::current().id()));
        if row == 1 {
            panic_any(Boom(1));
        }
        row * 10
    })
    .into_raw();
    let mut conn = SendConn(new_conn());
    // SAFETY: the connection owns the hook until `close`.
    unsafe {
        c_conn_set_hook(
            &mut conn.0,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };

    // The connection moves to another thread before the panicking
    // statement runs there, under that thread's guard.
    let worker = std::thread::spawn(move || {
        let mut conn = conn;
        let mut first = Vec::new();
        // SAFETY: the registration is consistent; `send` allows this thread.
        let payload = panic_payload(|| resume_panics(|| first = unsafe { step(&mut conn.0, 3) }));
        let boom = payload.downcast_ref::<Boom>().map(|b| b.0);
        // SAFETY: as above.
        let second = resume_panics(|| unsafe { step(&mut conn.0, 1) });
        (conn, boom, first, second, std::thread::current().id())
    });
    let (mut conn, boom, first, second, worker_id) = worker.join().expect("the worker finished");
    assert_eq!(boom, Some(1));
    assert_eq!(first, [0, -1, -1]);
    assert_eq!(second, [0]);

    // Back on this thread, the hook runs here too.
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { step(&mut conn.0, 1) }), [0]);
    let seen: Vec<_> = rows
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|&(row, thread)| (row, thread == worker_id))
        .collect();
    assert_eq!(seen, [(0, true), (1, true), (0, true), (0, false)]);
    assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 0);
    // SAFETY: destroys the hook once.
    unsafe { close(&mut conn.0) };
    assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn send_resume_hook_recovers_on_the_home_thread_and_is_destroyed_on_another() {
    let (track, drops) = send_tracked();
    let raw = SendHook::boxed(move |row| {
        let _ = &track;
        assert!(row != 1, "expected: row one");
        row
    })
    .into_raw();
    let mut conn = SendConn(new_conn());
    // SAFETY: the connection owns the hook until `close`.
    unsafe {
        c_conn_set_hook(
            &mut conn.0,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    let mut first = Vec::new();
    // SAFETY: the registration is consistent.
    let payload = panic_payload(|| resume_panics(|| first = unsafe { step(&mut conn.0, 3) }));
    assert_eq!(message(&*payload), "expected: row one");
    assert_eq!(first, [0, -1, -1]);
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { step(&mut conn.0, 1) }), [0]);
    // Closed on another thread (`send`).
    std::thread::spawn(move || {
        let mut conn = conn;
        // SAFETY: destroys the hook once; `send` allows this thread.
        unsafe { close(&mut conn.0) };
    })
    .join()
    .expect("closed");
    assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn once_with_destroy_that_panicked_refuses_a_second_call_and_is_destroyed_once() {
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let counted = calls.clone();
    let raw = Hook::once(move |row| -> c_int {
        let _ = &track;
        counted.set(counted.get() + 1);
        panic_any(Boom(row))
    })
    .into_raw_with_destroy();
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: at most one call, then the destroy-notify, once.
            got = unsafe { (raw.function)(raw.user_data, 7) };
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
    assert_eq!(got, -1);
    // The call consumed the closure; the panic dropped it.
    assert_eq!((calls.get(), drops.get()), (1, 1));

    // C calls it again (its bug): refused, the closure is not run twice.
    let mut again = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: a second call before `destroy` is allowed by the API
            // (it is refused).
            again = unsafe { (raw.function)(raw.user_data, 8) };
        })
    });
    assert!(
        message(&*payload).starts_with(
            "ffi-callback: `simulated_lessons::recovery::Hook` refused the call: it was called a \
             second time"
        ),
        "{}",
        message(&*payload)
    );
    assert_eq!((again, calls.get()), (-1, 1));

    // SAFETY: the destroy-notify, once; frees the allocation only.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// 15.2: Rust-owned `Boxed`, for C APIs without a destroy-notify
// ---------------------------------------------------------------------------

/// A binding's handle that owns the hook it registered.
struct Binding<B> {
    hook: B,
}

#[test]
fn rust_owned_boxed_keeps_its_address_when_moved_and_is_freed_by_rust() {
    let (track, drops) = tracked();
    let mut total = 0;
    let boxed = Hook::boxed(move |row| {
        let _ = &track;
        total += row;
        total
    });
    let (function, user_data) = (boxed.function(), boxed.user_data());
    let mut conn = new_conn();
    let conn_ptr = &raw mut conn;
    // No destroy-notify: Rust keeps the `Boxed`.
    // SAFETY: `boxed` (wherever it moves) outlives the registration.
    unsafe { c_conn_set_hook(conn_ptr, Some(function), user_data, None) };
    // SAFETY: as above.
    assert_eq!(unsafe { step(conn_ptr, 3) }, [0, 1, 3]);

    // Moved between calls: into a vector, out of it, into a struct, onto
    // the heap. The closure's address, which C holds, stays the same.
    let mut moved = vec![boxed];
    let boxed = moved.pop().expect("just pushed");
    let binding = Box::new(Binding { hook: boxed });
    assert_eq!(binding.hook.user_data(), user_data);
    // SAFETY: as above.
    assert_eq!(unsafe { step(conn_ptr, 3) }, [3, 4, 6]);
    let binding = *binding;
    assert_eq!(binding.hook.user_data(), user_data);
    // SAFETY: as above.
    assert_eq!(unsafe { step(conn_ptr, 2) }, [6, 7]);

    // C is told to stop, then Rust drops it: freed once, by Rust.
    // SAFETY: no destroy-notify is registered, so this only unregisters.
    unsafe { close(conn_ptr) };
    assert_eq!(drops.get(), 0);
    drop(binding);
    assert_eq!(drops.get(), 1);
}

#[test]
fn rust_owned_boxed_dropped_during_its_own_call_is_freed_after_it() {
    let mut conn = new_conn();
    let conn_ptr = &raw mut conn;
    // The binding's slot for the `Boxed` (type-erased: the closure cannot
    // name its own type).
    let slot: Rc<RefCell<Option<Box<dyn Any>>>> = Rc::default();
    let (track, drops) = tracked();
    let inside = Rc::new(Cell::new(None));
    let (slot_in, inside_in) = (slot.clone(), inside.clone());
    let boxed = Hook::boxed(move |row| {
        if row == 1 {
            // The closure tells C to unregister it, and the binding drops
            // its `Boxed`, all during this call.
            // SAFETY: the connection outlives the calls; no destroy-notify.
            unsafe { close(conn_ptr) };
            drop(slot_in.borrow_mut().take());
            // Still running: its captures are alive (Miri checks this read).
            inside_in.set(Some(track.drops()));
        }
        row + 100
    });
    // SAFETY: `boxed` lives in the slot until the closure drops it.
    unsafe { c_conn_set_hook(conn_ptr, Some(boxed.function()), boxed.user_data(), None) };
    *slot.borrow_mut() = Some(Box::new(boxed));

    // SAFETY: the registration is consistent until the closure clears it.
    let got = resume_panics(|| unsafe { step(conn_ptr, 3) });
    // Row 1 ran to its end; row 2 found no hook.
    assert_eq!(got, [100, 101, c_int::MIN]);
    // Not freed during the call; freed, once, when it returned.
    assert_eq!(inside.get(), Some(0));
    assert_eq!(drops.get(), 1);
    assert!(slot.borrow().is_none());
}

#[test]
fn rust_owned_boxed_of_a_send_type_moves_to_another_thread_and_is_dropped_there() {
    let (track, drops) = send_tracked();
    let boxed = SendHook::boxed(move |row| {
        let _ = &track;
        row * 2
    });
    let (function, user_data) = (boxed.function(), SendPtr(boxed.user_data()));
    let (got, moved_ud) = std::thread::spawn(move || {
        let user_data = user_data;
        // SAFETY: `boxed` is alive (moved here); `send` allows this thread.
        let got = resume_panics(|| unsafe { each(function, user_data.0, 3) });
        let moved_ud = boxed.user_data() == user_data.0;
        drop(boxed);
        (got, moved_ud)
    })
    .join()
    .expect("the worker finished");
    assert_eq!(got, [0, 2, 4]);
    assert!(moved_ud, "the user data stayed the same across the move");
    assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
}
