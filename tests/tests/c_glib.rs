//! `#[callback]` types against GLib (`glib-sys`, the system library; run
//! with `scripts/test-glib.sh`): a `sync` closure called concurrently by the
//! worker threads of a `GThreadPool`, and owned idle callbacks with a
//! `GDestroyNotify` (`boxed` and `once(..).into_raw_with_destroy()`) run by
//! a `GMainLoop`.
#![cfg(feature = "glib")]

use std::collections::HashSet;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use ffi_callback::callback;
use glib_sys::{
    G_PRIORITY_DEFAULT_IDLE, G_PRIORITY_LOW, G_SOURCE_CONTINUE, G_SOURCE_REMOVE, GError, GFALSE,
    GMainLoop, GTRUE, g_error_free, g_idle_add_full, g_main_context_iteration, g_main_loop_new,
    g_main_loop_quit, g_main_loop_run, g_main_loop_unref, g_source_remove, g_thread_pool_free,
    g_thread_pool_new, g_thread_pool_push, gboolean, gpointer,
};

/// Counts drops of whatever holds it.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn load(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// Panics with the message of a `GError`, if any.
fn check_error(error: *mut GError) {
    if !error.is_null() {
        // SAFETY: GLib set `error` to a valid `GError`, which we own.
        let message = unsafe {
            let message = std::ffi::CStr::from_ptr((*error).message)
                .to_string_lossy()
                .into_owned();
            g_error_free(error);
            message
        };
        panic!("GLib error: {message}");
    }
}

// ---------------------------------------------------------------------------
// GThreadPool: a `sync` closure, called from several worker threads at once
// ---------------------------------------------------------------------------

/// `GFunc`: the task's data first, the pool's user data last.
#[callback(sync)]
type PoolFunc = unsafe extern "C" fn(data: gpointer, #[user_data] user_data: gpointer);

#[test]
fn thread_pool_calls_a_sync_closure_from_worker_threads() {
    const ITEMS: usize = 200;
    let items = AtomicUsize::new(0);
    let sum = AtomicUsize::new(0);
    let threads: Mutex<HashSet<ThreadId>> = Mutex::new(HashSet::new());
    // Items 1 and 2 wait for each other: the pool must run them at once
    // (GLib starts a new worker when none is waiting for work).
    let rendezvous = Barrier::new(2);
    let main_thread = thread::current().id();
    PoolFunc::scope(
        |data| {
            let item = data.addr();
            if item <= 2 {
                rendezvous.wait();
            }
            items.fetch_add(1, Ordering::SeqCst);
            sum.fetch_add(item, Ordering::SeqCst);
            threads.lock().unwrap().insert(thread::current().id());
        },
        |func, user_data| {
            let mut error: *mut GError = ptr::null_mut();
            // SAFETY: `func` takes `user_data`; the holder outlives the
            // pool, which `g_thread_pool_free(.., wait = TRUE)` drains
            // before this closure returns.
            unsafe {
                let pool = g_thread_pool_new(Some(func), user_data, 4, GFALSE, &mut error);
                check_error(error);
                assert!(!pool.is_null());
                for item in 1..=ITEMS {
                    // Task data must not be null: items start at 1.
                    let pushed =
                        g_thread_pool_push(pool, ptr::without_provenance_mut(item), &mut error);
                    check_error(error);
                    assert_eq!(pushed, GTRUE);
                }
                g_thread_pool_free(pool, GFALSE, GTRUE);
            }
        },
    );
    assert_eq!(load(&items), ITEMS, "every task ran once");
    assert_eq!(load(&sum), ITEMS * (ITEMS + 1) / 2);
    let threads = threads.into_inner().unwrap();
    assert!(
        !threads.contains(&main_thread),
        "tasks ran on worker threads"
    );
    assert!(
        threads.len() >= 2,
        "two tasks ran at once, so on two threads: {threads:?}"
    );
}

// ---------------------------------------------------------------------------
// g_idle_add_full: owned callbacks with a GDestroyNotify
// ---------------------------------------------------------------------------

/// `GSourceFunc`, for callbacks that GLib may call and destroy on whichever
/// thread runs the default main context.
#[callback(send)]
type SourceFunc = unsafe extern "C" fn(#[user_data] data: gpointer) -> gboolean;

/// The same, but a panic or a refusal returns the fallback `FALSE`
/// (`G_SOURCE_REMOVE`) instead of aborting.
#[callback(send, on_panic = fallback)]
type LenientSourceFunc = unsafe extern "C" fn(#[user_data] data: gpointer) -> gboolean;

/// `g_idle_add_full` always uses the global default main context, which one
/// thread at a time can run: the tests that use it take turns.
fn default_context() -> MutexGuard<'static, ()> {
    static DEFAULT_CONTEXT: Mutex<()> = Mutex::new(());
    DEFAULT_CONTEXT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A `GMainLoop` that an idle callback quits from whichever thread runs it.
struct LoopHandle(*mut GMainLoop);

// SAFETY: `g_main_loop_quit` may be called from any thread, and the loop
// outlives every callback holding this handle (see `run_until_idle`).
unsafe impl Send for LoopHandle {}

impl LoopHandle {
    fn quit(&self) {
        // SAFETY: the loop is alive (see above).
        unsafe { g_main_loop_quit(self.0) }
    }
}

/// Runs the default main context until every idle source at a priority
/// above `G_PRIORITY_LOW` is gone: a low-priority sentinel (itself a `once`
/// callback with a destroy-notify) quits the loop when it finally runs.
fn run_until_idle() {
    // SAFETY: a new loop on the default context, unreferenced below after
    // it stopped running.
    let main_loop = unsafe { g_main_loop_new(ptr::null_mut(), GFALSE) };
    let handle = LoopHandle(main_loop);
    let sentinel = SourceFunc::once(move || {
        handle.quit();
        G_SOURCE_REMOVE
    })
    .into_raw_with_destroy();
    // SAFETY: GLib calls `function` at most once with `user_data`, then
    // `destroy`; the loop outlives the sentinel, which runs inside
    // `g_main_loop_run` below.
    unsafe {
        g_idle_add_full(
            G_PRIORITY_LOW,
            Some(sentinel.function),
            sentinel.user_data,
            Some(sentinel.destroy),
        );
        g_main_loop_run(main_loop);
        // Anything left over (nothing, if all went well) runs now, before
        // the loop goes.
        while g_main_context_iteration(ptr::null_mut(), GFALSE) != GFALSE {}
        g_main_loop_unref(main_loop);
    }
}

#[test]
fn idle_boxed_runs_until_it_returns_false_then_is_destroyed_once() {
    let _turn = default_context();
    let (calls, drops) = (counter(), counter());
    let guard = DropCounter(drops.clone());
    let calls_in = calls.clone();
    let raw = SourceFunc::boxed(move || {
        let _ = &guard;
        if calls_in.fetch_add(1, Ordering::SeqCst) + 1 < 3 {
            G_SOURCE_CONTINUE
        } else {
            G_SOURCE_REMOVE
        }
    })
    .into_raw();
    // SAFETY: GLib calls `function` with `user_data` until it returns
    // FALSE, then `destroy` once; the closure is `Send + 'static`.
    unsafe {
        g_idle_add_full(
            G_PRIORITY_DEFAULT_IDLE,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    assert_eq!(load(&drops), 0, "alive while the source is");
    run_until_idle();
    assert_eq!(load(&calls), 3, "called until it returned FALSE");
    assert_eq!(load(&drops), 1, "the destroy-notify ran exactly once");
}

#[test]
fn idle_boxed_removed_before_it_runs_is_destroyed_once() {
    let _turn = default_context();
    let (calls, drops) = (counter(), counter());
    let guard = DropCounter(drops.clone());
    let calls_in = calls.clone();
    let raw = SourceFunc::boxed(move || {
        let _ = &guard;
        calls_in.fetch_add(1, Ordering::SeqCst);
        G_SOURCE_CONTINUE
    })
    .into_raw();
    // SAFETY: as above; the source is removed before the context runs.
    let removed = unsafe {
        let id = g_idle_add_full(
            G_PRIORITY_DEFAULT_IDLE,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        );
        g_source_remove(id)
    };
    assert_eq!(removed, GTRUE);
    assert_eq!(load(&drops), 1, "g_source_remove ran the destroy-notify");
    run_until_idle();
    assert_eq!(load(&calls), 0);
    assert_eq!(load(&drops), 1, "and nothing ran it again");
}

#[test]
fn idle_once_with_destroy_is_called_once() {
    let _turn = default_context();
    let (calls, drops) = (counter(), counter());
    let guard = DropCounter(drops.clone());
    let calls_in = calls.clone();
    let raw = SourceFunc::once(move || {
        let _guard = guard;
        calls_in.fetch_add(1, Ordering::SeqCst);
        G_SOURCE_REMOVE
    })
    .into_raw_with_destroy();
    // SAFETY: GLib calls `function` once (it returns FALSE), then `destroy`.
    unsafe {
        g_idle_add_full(
            G_PRIORITY_DEFAULT_IDLE,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    run_until_idle();
    assert_eq!(load(&calls), 1);
    assert_eq!(load(&drops), 1, "the call consumed the closure");
}

#[test]
fn idle_once_with_destroy_removed_uncalled_drops_the_closure() {
    let _turn = default_context();
    let (calls, drops) = (counter(), counter());
    let guard = DropCounter(drops.clone());
    let calls_in = calls.clone();
    let raw = SourceFunc::once(move || {
        let _guard = guard;
        calls_in.fetch_add(1, Ordering::SeqCst);
        G_SOURCE_REMOVE
    })
    .into_raw_with_destroy();
    // SAFETY: as above; removed before the context runs.
    let removed = unsafe {
        let id = g_idle_add_full(
            G_PRIORITY_DEFAULT_IDLE,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        );
        g_source_remove(id)
    };
    assert_eq!(removed, GTRUE);
    assert_eq!(load(&calls), 0);
    assert_eq!(load(&drops), 1, "destroy dropped the uncalled closure");
}

#[test]
fn idle_once_called_again_is_refused_with_the_fallback() {
    let _turn = default_context();
    let (calls, drops) = (counter(), counter());
    let guard = DropCounter(drops.clone());
    let calls_in = calls.clone();
    // Asks GLib to call it again, which a `once` closure cannot honour:
    // the second call is refused and returns FALSE, removing the source.
    let raw = LenientSourceFunc::once(move || {
        let _guard = guard;
        calls_in.fetch_add(1, Ordering::SeqCst);
        G_SOURCE_CONTINUE
    })
    .into_raw_with_destroy();
    // SAFETY: GLib calls `function` with `user_data` until it returns
    // FALSE, then `destroy`.
    unsafe {
        g_idle_add_full(
            G_PRIORITY_DEFAULT_IDLE,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    run_until_idle();
    assert_eq!(load(&calls), 1, "user code ran once");
    assert_eq!(load(&drops), 1);
}
