//! Issue 14 (the simulated part): a C callback that runs once, on a C
//! thread, as a `Future`: `ffi_callback::future(|done| T::once(..))`.
//! Completed, cancelled (destroy without call, reclaim), dropped before
//! the call, a panic carried to the poll, and many completed at once in any
//! order, with the minimal `block_on` of `main.rs`.

use std::ffi::{c_int, c_void};
use std::panic::panic_any;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, ThreadId};

use ffi_callback::{Cancelled, callback};

use ffi_callback_tests::panics::panic_payload;

use crate::{Boom, SendPtr, block_on};

/// A completion callback that C calls on a thread of its own.
#[callback(send)]
type Notify = unsafe extern "C" fn(status: c_int, #[user_data] ud: *mut c_void);

/// `getaddrinfo_a`-style: calls `f(status, ud)` on a new thread, later.
fn c_call_later(f: NotifyFn, ud: *mut c_void, status: c_int) -> thread::JoinHandle<()> {
    let ud = SendPtr(ud);
    thread::spawn(move || {
        let ud = ud;
        // SAFETY: the caller passes a `send` once-callback's user data, for
        // its one call.
        unsafe { f(status, ud.0) };
    })
}

#[test]
fn future_completed_from_another_thread_resolves_to_the_value() {
    let (once, done) =
        ffi_callback::future(|done| Notify::once(move |status| done.complete(status * 2)));
    let raw = once.into_raw();
    let c_thread = c_call_later(raw.function, raw.user_data, 21);
    assert_eq!(block_on(done), Ok(42));
    c_thread.join().expect("the C thread finished");
}

#[test]
fn destroy_without_a_call_resolves_to_cancelled() {
    let (once, done) =
        ffi_callback::future(|done| Notify::once(move |status| done.complete(status)));
    let raw = once.into_raw_with_destroy();
    let (destroy, ud) = (raw.destroy, SendPtr(raw.user_data));
    // The C operation is cancelled: the destroy-notify comes, on C's thread,
    // without a call.
    let c_thread = thread::spawn(move || {
        let ud = ud;
        // SAFETY: the destroy-notify, once, uncalled.
        unsafe { destroy(ud.0) };
    });
    assert_eq!(block_on(done), Err(Cancelled));
    c_thread.join().expect("the C thread finished");
}

#[test]
fn reclaim_after_a_failed_c_call_resolves_to_cancelled() {
    let (once, done) =
        ffi_callback::future(|done| Notify::once(move |status| done.complete(status)));
    let raw = once.into_raw();
    // The C call that was to call back failed: it never will.
    // SAFETY: never called, and never will be.
    unsafe { raw.reclaim() };
    assert_eq!(block_on(done), Err(Cancelled));
}

/// A value that records the thread it is dropped on.
struct Reply {
    drops: Arc<Mutex<Vec<ThreadId>>>,
}

impl Drop for Reply {
    fn drop(&mut self) {
        self.drops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(thread::current().id());
    }
}

#[test]
fn future_dropped_before_the_call_drops_the_late_value_once_on_the_c_thread() {
    let drops = Arc::new(Mutex::new(Vec::new()));
    let made = drops.clone();
    let (once, done) = ffi_callback::future(|done| {
        Notify::once(move |_status| done.complete(Reply { drops: made }))
    });
    let raw = once.into_raw();
    drop(done);
    let c_thread = c_call_later(raw.function, raw.user_data, 0);
    let c_thread_id = c_thread.thread().id();
    c_thread.join().expect("the C thread finished");
    let drops = drops.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(drops, [c_thread_id]);
}

#[test]
fn complete_catching_carries_the_panic_to_the_poll() {
    let (once, done) = ffi_callback::future(|done| {
        Notify::once(move |status| {
            // The C thread never sees the panic (the type would abort).
            done.complete_catching(|| -> c_int { panic_any(Boom(status)) });
        })
    });
    let raw = once.into_raw();
    let c_thread = c_call_later(raw.function, raw.user_data, -3);
    let payload = panic_payload(|| block_on(done));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(-3)));
    c_thread.join().expect("the C thread did not panic");
}

/// How many futures, and how many simulated C threads complete them.
const FUTURES: usize = if cfg!(miri) { 24 } else { 1000 };
const C_THREADS: usize = 4;

/// Deterministic shuffle (xorshift Fisher-Yates).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = (seed % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[test]
fn many_futures_completed_from_several_c_threads_in_shuffled_order() {
    let completed = Arc::new(AtomicU32::new(0));
    let mut futures = Vec::with_capacity(FUTURES);
    let mut calls = Vec::with_capacity(FUTURES);
    for i in 0..FUTURES {
        let counter = completed.clone();
        let (once, done) = ffi_callback::future(|done| {
            Notify::once(move |status| {
                counter.fetch_add(1, Ordering::SeqCst);
                done.complete((status, thread::current().id()));
            })
        });
        let raw = once.into_raw();
        futures.push(done);
        calls.push((raw.function, SendPtr(raw.user_data), i as c_int));
    }
    shuffle(&mut calls, 0x9E37_79B9_7F4A_7C15);
    let per_thread = calls.len().div_ceil(C_THREADS);
    let mut c_threads = Vec::new();
    while !calls.is_empty() {
        let batch: Vec<_> = calls.drain(..per_thread.min(calls.len())).collect();
        c_threads.push(thread::spawn(move || {
            for (f, ud, status) in batch {
                // SAFETY: each once-callback is called once, on this thread
                // (`send`).
                unsafe { f(status, ud.0) };
            }
        }));
    }
    let main = thread::current().id();
    for (i, done) in futures.into_iter().enumerate() {
        let (status, on) = block_on(done).expect("completed, not cancelled");
        assert_eq!(status, i as c_int);
        assert_ne!(on, main);
    }
    for c_thread in c_threads {
        c_thread.join().expect("the C thread finished");
    }
    assert_eq!(completed.load(Ordering::SeqCst), FUTURES as u32);
}
