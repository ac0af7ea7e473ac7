//! Issue 14: what a future costs and what a second call gets. A binary of
//! its own, for its counting global allocator: the count is per thread, so
//! the other tests running beside these do not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use ffi_callback::{Cancelled, Report, callback};

/// Counts this thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the count
// is a const-initialised thread-local `Cell` (no allocation, no
// re-entry).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many allocations `f` made on this thread, and its value.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let value = f();
    (ALLOCATIONS.with(Cell::get) - before, value)
}

/// A completion callback, as `getaddrinfo_a`'s notification is.
#[callback(send)]
type Notify = unsafe extern "C" fn(status: c_int, #[user_data] ud: *mut c_void);

/// The same with refusals reported rather than aborting, so that a second
/// call can be watched in-process.
#[callback(send, on_panic = fallback)]
type NotifyReported = unsafe extern "C" fn(status: c_int, #[user_data] ud: *mut c_void);

fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = pin!(future);
    future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_future_allocates_one_shared_cell_beyond_its_once_callback() {
    // The once-callback alone: its box, which C owns until the call.
    let (alone, once) = allocations(|| {
        Notify::once(|status: c_int| {
            let _ = status;
        })
    });
    drop(once);
    let (with_future, (once, done)) = allocations(|| {
        ffi_callback::future(|done| Notify::once(move |status| done.complete(status)))
    });
    assert_eq!(
        with_future,
        alone + 1,
        "the future adds one shared cell, nothing else"
    );
    let raw = once.into_raw();
    // C calls back (here, on this thread); then the future is ready, and
    // neither the call nor the poll allocates.
    let (during, ready) = allocations(|| {
        // SAFETY: the once-callback's pair, called once.
        unsafe { (raw.function)(21, raw.user_data) };
        poll_once(done)
    });
    assert_eq!(ready, Poll::Ready(Ok(21)));
    assert_eq!(during, 0, "completing and polling allocate nothing");
}

static REPORTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(report: &Report<'_>) {
    REPORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(report.to_string());
}

#[test]
fn a_second_call_of_a_futures_callback_is_refused_and_the_future_keeps_the_first_value() {
    ffi_callback::set_reporter(record);
    let (once, done) =
        ffi_callback::future(|done| NotifyReported::once(move |status| done.complete(status)));
    // Kept until the destroy-notify, so a second call reaches the holder.
    let raw = once.into_raw_with_destroy();
    // SAFETY: the pair of a once-callback with a destroy: C may call it
    // (a second call is refused), then destroys it once.
    unsafe {
        (raw.function)(1, raw.user_data);
        (raw.function)(2, raw.user_data);
        (raw.destroy)(raw.user_data);
    }
    assert_eq!(poll_once(done), Poll::Ready(Ok(1)));
    let reports = REPORTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(reports.len(), 1, "one refusal reported: {reports:?}");
    assert!(
        reports[0].contains("future_allocations::NotifyReported"),
        "{reports:?}"
    );
    assert!(reports[0].contains("called a second time"), "{reports:?}");
}

#[test]
fn a_dropped_futures_callback_destroyed_without_a_call_leaves_nothing() {
    let (once, done) =
        ffi_callback::future(|done| Notify::once(move |status| done.complete(status)));
    let raw = once.into_raw_with_destroy();
    drop(done);
    // SAFETY: destroyed once, never called.
    unsafe { (raw.destroy)(raw.user_data) };
    // Nothing leaks and nothing is freed twice: Miri (scripts/miri.sh runs
    // this file) checks both.
}

#[test]
fn a_futures_callback_destroyed_without_a_call_resolves_to_cancelled_without_allocating() {
    let (once, done) =
        ffi_callback::future(|done| Notify::once(move |status| done.complete(status)));
    let raw = once.into_raw_with_destroy();
    let (during, cancelled) = allocations(|| {
        // SAFETY: destroyed once, never called.
        unsafe { (raw.destroy)(raw.user_data) };
        poll_once(done)
    });
    assert_eq!(cancelled, Poll::Ready(Err(Cancelled)));
    assert_eq!(during, 0);
}
