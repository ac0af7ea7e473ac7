//! `#[callback]` types against GLib (`glib-sys`, the system library; run
//! with `scripts/test-glib.sh`): a `sync` closure called concurrently by the
//! worker threads of a `GThreadPool`, and owned idle callbacks with a
//! `GDestroyNotify` (`boxed` and `once(..).into_raw_with_destroy()`) run by
//! a `GMainLoop`, one returning `ControlFlow`; a one-shot timeout as a future, resolved or cancelled; a callback set as a custom `GSource` (`GSourceFuncs`); a
//! `local` source destroyed from another thread.
#![cfg(feature = "glib")]

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use ffi_callback::callback;
use glib_sys::{
    G_PRIORITY_DEFAULT, G_PRIORITY_DEFAULT_IDLE, G_PRIORITY_LOW, G_SOURCE_CONTINUE,
    G_SOURCE_REMOVE, GError, GFALSE, GMainLoop, GTRUE, g_error_free, g_idle_add_full,
    g_main_context_iteration, g_main_loop_new, g_main_loop_quit, g_main_loop_run,
    g_main_loop_unref, g_source_remove, g_thread_pool_free, g_thread_pool_new, g_thread_pool_push,
    g_timeout_add_full, gboolean, gpointer,
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

/// `GSourceFunc` whose closures return `ControlFlow<()>`: GLib's
/// `G_SOURCE_CONTINUE` keeps the source, `G_SOURCE_REMOVE` removes it.
#[callback(send, on_continue = G_SOURCE_CONTINUE, on_break = G_SOURCE_REMOVE)]
type FlowSourceFunc = unsafe extern "C" fn(#[user_data] data: gpointer) -> gboolean;

#[test]
fn idle_control_flow_continues_then_breaks_then_is_destroyed_once() {
    let _turn = default_context();
    let (calls, drops) = (counter(), counter());
    let guard = DropCounter(drops.clone());
    let calls_in = calls.clone();
    let raw = FlowSourceFunc::boxed(move || {
        let _ = &guard;
        if calls_in.fetch_add(1, Ordering::SeqCst) + 1 < 3 {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
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
    run_until_idle();
    assert_eq!(
        load(&calls),
        3,
        "Continue kept the source, Break removed it"
    );
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

// ---------------------------------------------------------------------------
// g_timeout_add_full: a one-shot timeout as a future
// ---------------------------------------------------------------------------

/// Polls `future` with a waker that does nothing, iterating the default main
/// context (blocking until a source is ready) between polls, until it
/// resolves: GLib's own loop drives the C side.
fn run_until_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        // SAFETY: the default context, run by this thread only (the tests
        // that use it take turns).
        unsafe { g_main_context_iteration(ptr::null_mut(), GTRUE) };
    }
}

#[test]
fn timeout_once_resolves_its_future_when_glib_calls_it() {
    let _turn = default_context();
    let (once, done) = ffi_callback::future(|done| {
        SourceFunc::once(move || {
            done.complete(42);
            G_SOURCE_REMOVE
        })
    });
    let raw = once.into_raw_with_destroy();
    // SAFETY: GLib calls `function` once (it returns FALSE) with
    // `user_data`, then `destroy`.
    unsafe {
        g_timeout_add_full(
            G_PRIORITY_DEFAULT,
            1,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    assert_eq!(run_until_ready(done), Ok(42));
}

#[test]
fn timeout_removed_before_it_fires_cancels_its_future() {
    let _turn = default_context();
    let calls = counter();
    let calls_in = calls.clone();
    let (once, done) = ffi_callback::future(|done| {
        SourceFunc::once(move || {
            calls_in.fetch_add(1, Ordering::SeqCst);
            done.complete(42);
            G_SOURCE_REMOVE
        })
    });
    let raw = once.into_raw_with_destroy();
    // SAFETY: as above; an hour is long enough never to fire here, and the
    // removal destroys it uncalled.
    unsafe {
        let id = g_timeout_add_full(
            G_PRIORITY_DEFAULT,
            3_600_000,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        );
        assert_ne!(g_source_remove(id), GFALSE);
    }
    assert_eq!(run_until_ready(done), Err(ffi_callback::Cancelled));
    assert_eq!(load(&calls), 0);
}

// ---------------------------------------------------------------------------
// GSourceFuncs: a custom source as a callback set
// ---------------------------------------------------------------------------

/// A custom `GSource` whose prepare, check, dispatch and finalize are the
/// entry points of one `#[callback]` set. GLib allocates the source (so the
/// source pointer cannot be the set's user data): the source struct is
/// `RustSource`, a `GSource` followed by the boxed state's pointer, and
/// every entry finds the state through it (`user_data = EXPR`).
/// `finalize` takes `self`: it is the set's destroy.
mod custom_source {
    use std::cell::{Cell, RefCell};
    use std::ffi::{c_int, c_uint, c_void};
    use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
    use std::rc::Rc;

    use ffi_callback::{callback, resume_panics, resume_panics_with};
    use glib_sys::{
        G_SOURCE_CONTINUE, G_SOURCE_REMOVE, GFALSE, GMainContext, GMainLoop, GSource, GSourceFunc,
        GSourceFuncs, GTRUE, g_main_context_iteration, g_main_context_new, g_main_context_unref,
        g_main_loop_new, g_main_loop_quit, g_main_loop_run, g_main_loop_unref, g_source_attach,
        g_source_destroy, g_source_new, g_source_unref, gboolean, gpointer,
    };

    /// The source as GLib allocates it: `g_source_new(&FUNCS, size_of::<RustSource>())`.
    #[repr(C)]
    struct RustSource {
        base: GSource,
        /// The boxed state (`boxed().into_raw()`), set right after
        /// `g_source_new`.
        state: *mut c_void,
    }

    /// The state's pointer, read from the source struct.
    ///
    /// # Safety
    /// `source` was made by [`new_source`].
    unsafe fn state_of(source: *mut GSource) -> *mut c_void {
        // SAFETY: by the caller's promise, `source` points at a `RustSource`.
        unsafe { (*source.cast::<RustSource>()).state }
    }

    #[callback]
    trait SourceFuncs {
        #[callback(
            // SAFETY: GLib passes the source of these funcs, a `RustSource`.
            user_data = unsafe { state_of(source) },
        )]
        unsafe extern "C" fn prepare(
            &mut self,
            source: *mut GSource,
            timeout: *mut c_int,
        ) -> gboolean;
        #[callback(
            // SAFETY: as above.
            user_data = unsafe { state_of(source) },
        )]
        unsafe extern "C" fn check(&mut self, source: *mut GSource) -> gboolean;
        /// After a panic: `G_SOURCE_REMOVE`, so GLib ends the source.
        #[callback(
            // SAFETY: as above.
            user_data = unsafe { state_of(source) },
            fallback = G_SOURCE_REMOVE,
        )]
        unsafe extern "C" fn dispatch(
            &mut self,
            source: *mut GSource,
            callback: GSourceFunc,
            data: gpointer,
        ) -> gboolean;
        /// GLib's last call on the source: consumes the state.
        #[callback(
            // SAFETY: as above.
            user_data = unsafe { state_of(source) },
        )]
        unsafe extern "C" fn finalize(self, source: *mut GSource);
    }

    /// The source's functions, in a `static` as GLib wants them (it keeps
    /// the pointer for the source's life and never writes through it).
    static TICKER_FUNCS: GSourceFuncs = GSourceFuncs {
        prepare: Some(Ticker::PREPARE),
        check: Some(Ticker::CHECK),
        dispatch: Some(Ticker::DISPATCH),
        finalize: Some(Ticker::FINALIZE),
        closure_callback: None,
        closure_marshal: None,
    };

    /// How the ticker's dispatch ends the source once it has ticked enough.
    #[derive(Clone, Copy)]
    enum End {
        /// Return `G_SOURCE_REMOVE`.
        Remove,
        /// `g_source_destroy` its own source, from inside dispatch, and
        /// return `G_SOURCE_CONTINUE`.
        DestroyInside,
    }

    /// Ticks `until` times, one per main-loop iteration, then quits the
    /// loop and ends its source.
    struct Ticker {
        ticks: u32,
        until: u32,
        end: End,
        panic_on: Option<u32>,
        main_loop: *mut GMainLoop,
        log: Rc<RefCell<Vec<&'static str>>>,
        drops: Rc<Cell<u32>>,
    }

    impl Drop for Ticker {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    impl SourceFuncs for Ticker {
        fn prepare(&mut self, _source: *mut GSource, timeout: *mut c_int) -> gboolean {
            self.log.borrow_mut().push("prepare");
            // Not ready yet, but poll without blocking: check decides.
            // SAFETY: GLib passes a valid out parameter.
            unsafe { *timeout = 0 };
            GFALSE
        }

        fn check(&mut self, _source: *mut GSource) -> gboolean {
            self.log.borrow_mut().push("check");
            GTRUE
        }

        fn dispatch(&mut self, source: *mut GSource, _: GSourceFunc, _: gpointer) -> gboolean {
            self.log.borrow_mut().push("dispatch");
            self.ticks += 1;
            if self.panic_on == Some(self.ticks) {
                panic_any(self.ticks);
            }
            if self.ticks < self.until {
                return G_SOURCE_CONTINUE;
            }
            // SAFETY: the loop outlives its sources (see `run_ticker`).
            unsafe { g_main_loop_quit(self.main_loop) };
            match self.end {
                End::Remove => G_SOURCE_REMOVE,
                End::DestroyInside => {
                    // SAFETY: GLib passed this source, which it keeps
                    // alive for the rest of the dispatch.
                    unsafe { g_source_destroy(source) };
                    G_SOURCE_CONTINUE
                }
            }
        }

        fn finalize(self, _source: *mut GSource) {
            self.log.borrow_mut().push("finalize");
        }
    }

    /// A `RustSource` holding `ticker`, owned by the caller (one reference).
    fn new_source(ticker: Ticker) -> *mut GSource {
        let size = c_uint::try_from(size_of::<RustSource>()).expect("small");
        // SAFETY: the funcs are static and GLib only reads them; the size
        // covers a `RustSource`, whose `GSource` comes first.
        let source = unsafe { g_source_new((&raw const TICKER_FUNCS).cast_mut(), size) };
        // SAFETY: GLib zeroed the whole `RustSource`; no entry point runs
        // before it is attached, and `finalize` (its destroy) ends the
        // state once, when GLib drops the last reference.
        unsafe { (*source.cast::<RustSource>()).state = ticker.boxed().into_raw() };
        source
    }

    /// A new context and a loop on it.
    fn new_loop() -> (*mut GMainContext, *mut GMainLoop) {
        // SAFETY: plain constructors; both are unreferenced by `free_loop`.
        unsafe {
            let context = g_main_context_new();
            (context, g_main_loop_new(context, GFALSE))
        }
    }

    /// Unreferences the loop and its context, after running what is left.
    ///
    /// # Safety
    /// From [`new_loop`], not running.
    unsafe fn free_loop(context: *mut GMainContext, main_loop: *mut GMainLoop) {
        // SAFETY: by the caller's promise.
        unsafe {
            while g_main_context_iteration(context, GFALSE) != GFALSE {}
            g_main_loop_unref(main_loop);
            g_main_context_unref(context);
        }
    }

    struct Run {
        log: Rc<RefCell<Vec<&'static str>>>,
        drops: Rc<Cell<u32>>,
    }

    fn ticker(
        main_loop: *mut GMainLoop,
        until: u32,
        end: End,
        panic_on: Option<u32>,
    ) -> (Ticker, Run) {
        let run = Run {
            log: Rc::default(),
            drops: Rc::default(),
        };
        let ticker = Ticker {
            ticks: 0,
            until,
            end,
            panic_on,
            main_loop,
            log: run.log.clone(),
            drops: run.drops.clone(),
        };
        (ticker, run)
    }

    /// Attaches a ticker's source to a fresh context and runs the loop
    /// until the ticker quits it.
    fn run_ticker(until: u32, end: End) -> Run {
        let (context, main_loop) = new_loop();
        let (state, run) = ticker(main_loop, until, end, None);
        let source = new_source(state);
        // SAFETY: the context takes its own reference to the source, so
        // ours goes; the loop runs on this thread, which calls every entry
        // point; the loop and context are freed after it stopped.
        resume_panics(|| unsafe {
            g_source_attach(source, context);
            g_source_unref(source);
            g_main_loop_run(main_loop);
            free_loop(context, main_loop);
        });
        run
    }

    const TICK: [&str; 3] = ["prepare", "check", "dispatch"];

    #[test]
    fn custom_source_runs_its_set_then_finalize_frees_the_state_once() {
        let run = run_ticker(3, End::Remove);
        let mut expected = [TICK, TICK, TICK].concat();
        expected.push("finalize");
        assert_eq!(*run.log.borrow(), expected);
        assert_eq!(run.drops.get(), 1, "finalize consumed the state, once");
    }

    #[test]
    fn custom_source_destroyed_inside_its_dispatch_is_finalized_once() {
        let run = run_ticker(2, End::DestroyInside);
        let mut expected = [TICK, TICK].concat();
        expected.push("finalize");
        assert_eq!(*run.log.borrow(), expected);
        assert_eq!(run.drops.get(), 1);
    }

    #[test]
    fn custom_source_destroyed_before_it_runs_is_finalized_once() {
        let (context, main_loop) = new_loop();
        let (state, run) = ticker(main_loop, 1, End::Remove, None);
        let source = new_source(state);
        // SAFETY: attached, then destroyed and our reference dropped: GLib
        // finalizes it right away; nothing runs it afterwards.
        unsafe {
            g_source_attach(source, context);
            g_source_destroy(source);
            assert_eq!(run.drops.get(), 0, "we still hold a reference");
            g_source_unref(source);
            free_loop(context, main_loop);
        }
        assert_eq!(*run.log.borrow(), ["finalize"]);
        assert_eq!(run.drops.get(), 1);
    }

    #[test]
    fn custom_source_panic_in_dispatch_ends_the_source_and_is_resumed() {
        let (context, main_loop) = new_loop();
        let (state, run) = ticker(main_loop, 5, End::Remove, Some(2));
        let source = new_source(state);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            resume_panics_with(
                // SAFETY: as in `run_ticker`.
                || unsafe {
                    g_source_attach(source, context);
                    g_source_unref(source);
                    g_main_loop_run(main_loop);
                },
                // The source is gone (dispatch's fallback removed it), so
                // nothing else would quit the loop.
                // SAFETY: the loop is alive until `free_loop` below.
                || unsafe { g_main_loop_quit(main_loop) },
            )
        }))
        .expect_err("the panic is resumed");
        // SAFETY: the loop stopped.
        unsafe { free_loop(context, main_loop) };
        assert_eq!(
            payload.downcast_ref::<u32>(),
            Some(&2),
            "the original payload"
        );
        let log = run.log.borrow();
        assert_eq!(log[..6], [TICK, TICK].concat(), "ticked until the panic");
        // GLib finalizes the removed source inside the guard, on the
        // poisoned state: the state is dropped without running finalize's
        // body, like every other entry after the panic.
        assert!(
            log[6..].is_empty(),
            "no prepare, check, dispatch or finalize body ran after the panic: {log:?}"
        );
        assert_eq!(
            run.drops.get(),
            1,
            "the fallback G_SOURCE_REMOVE ended it once"
        );
    }
}

// ---------------------------------------------------------------------------
// `local`: a source on a thread's own GMainContext, with a closure that
// must stay on that thread
// ---------------------------------------------------------------------------

mod local_source {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::Mutex;

    use ffi_callback::{ReportKind, callback, set_reporter};
    use glib_sys::{
        G_SOURCE_CONTINUE, GFALSE, GSource, g_idle_source_new, g_main_context_iteration,
        g_main_context_new, g_main_context_unref, g_source_attach, g_source_destroy,
        g_source_set_callback, g_source_unref, gboolean, gpointer,
    };

    /// GLib calls a source on the thread running its context, but whoever
    /// holds the `GSource` may destroy it, and with it the callback, on
    /// another thread: `local` refuses calls elsewhere and never drops the
    /// closure there.
    #[callback(local)]
    type LocalSourceFunc = unsafe extern "C" fn(#[user_data] data: gpointer) -> gboolean;

    /// Leaks reported for `LocalSourceFunc`s (the reporter is process-wide).
    static LEAKS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn record(report: &ffi_callback::Report) {
        if report.kind() == ReportKind::LeakedOnForeignThread {
            LEAKS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(report.callback().unwrap_or_default().to_owned());
        }
    }

    /// A source on a new context, calling a `local` closure that holds an
    /// `Rc`: the calls and the closure's drops, and the source.
    struct Attached {
        source: *mut GSource,
        context: *mut glib_sys::GMainContext,
    }

    /// A `GSource` pointer moved to another thread, which GLib allows
    /// (`g_source_destroy` is thread-safe).
    struct SourcePtr(*mut GSource);
    // SAFETY: GLib's source functions used on it are thread-safe.
    unsafe impl Send for SourcePtr {}

    fn attach(calls: &Rc<Cell<u32>>, drops: &Rc<Cell<u32>>) -> Attached {
        struct CountDrop(Rc<Cell<u32>>);
        impl Drop for CountDrop {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let (calls, guard) = (calls.clone(), CountDrop(drops.clone()));
        let raw = LocalSourceFunc::boxed(move || {
            let _ = &guard;
            calls.set(calls.get() + 1);
            G_SOURCE_CONTINUE
        })
        .into_raw();
        // SAFETY: a new context and idle source; GLib calls `function` with
        // `user_data` on the thread iterating the context, and `destroy`
        // once, where the source is destroyed.
        unsafe {
            let context = g_main_context_new();
            let source = g_idle_source_new();
            g_source_set_callback(source, Some(raw.function), raw.user_data, Some(raw.destroy));
            g_source_attach(source, context);
            Attached { source, context }
        }
    }

    fn iterate(attached: &Attached, times: u32) {
        for _ in 0..times {
            // SAFETY: the context is alive; this thread owns it.
            unsafe { g_main_context_iteration(attached.context, GFALSE) };
        }
    }

    fn finish(attached: Attached) {
        // SAFETY: the source was destroyed; drop our references.
        unsafe {
            g_source_unref(attached.source);
            g_main_context_unref(attached.context);
        }
    }

    #[test]
    fn local_source_destroyed_on_its_home_thread_drops_the_closure() {
        let (calls, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let attached = attach(&calls, &drops);
        iterate(&attached, 3);
        assert_eq!(calls.get(), 3);
        // SAFETY: the source is attached and alive.
        unsafe { g_source_destroy(attached.source) };
        assert_eq!(drops.get(), 1, "dropped on its own thread, once");
        finish(attached);
    }

    #[test]
    fn local_source_destroyed_from_another_thread_leaks_the_closure_and_reports_it() {
        set_reporter(record);
        let (calls, drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let attached = attach(&calls, &drops);
        iterate(&attached, 2);
        let source = SourcePtr(attached.source);
        std::thread::spawn(move || {
            let source = source;
            // SAFETY: `g_source_destroy` may be called from any thread; the
            // destroy-notify runs here, on the foreign thread.
            unsafe { g_source_destroy(source.0) };
        })
        .join()
        .expect("the destroying thread");
        assert_eq!(calls.get(), 2, "no call after the destroy");
        assert_eq!(
            drops.get(),
            0,
            "the closure (holding an `Rc`) was not dropped on the foreign thread"
        );
        let leaks = LEAKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert!(
            leaks.iter().any(|name| name.ends_with("LocalSourceFunc")),
            "the leak was reported, naming the type: {leaks:?}"
        );
        // Iterating on afterwards calls nothing.
        iterate(&attached, 2);
        assert_eq!(calls.get(), 2);
        finish(attached);
    }
}
