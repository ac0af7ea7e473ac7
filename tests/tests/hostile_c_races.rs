//! Hostile C across threads (DESIGN.md "Hostile C"): C calls a callback that
//! may be called on any thread (`send`, `sync`) while another thread's call
//! runs, and destroys it meanwhile from a third. The concurrent call (or the
//! call during the deferred destroy) is refused, the destroy waits for every
//! call still using the holder, refused ones included, and the closure is
//! dropped once, by the last one out. Played by Rust threads calling the
//! fn pointers as C would, held in place by barriers in the closure and in
//! the panic hook (user code that runs while a call is refused), so that
//! each test runs the same interleaving every time, under Miri too.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Barrier, Mutex, Once, PoisonError};
use std::thread::{self, ThreadId};

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::message;

/// `send`, `FnMut`: a kept refusal poisons the holder (`resume`).
#[callback(send, on_panic = resume, fallback = -1)]
type SendWork = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `send`, `FnMut`, each call standing alone (`fallback`).
#[callback(send, on_panic = fallback, fallback = -1)]
type SendHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `sync`: shared (`Fn`) calls, concurrent ones allowed.
#[callback(sync, on_panic = fallback, fallback = -1)]
type SyncNotify = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `reentrant, send`: shared calls, and a kept refusal poisons (`resume`).
#[callback(reentrant, send, on_panic = resume, fallback = -1)]
type ReentrantSendHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// The C function-pointer type the types above share.
type HookPtr = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// `GDestroyNotify`.
type DestroyNotify = unsafe extern "C" fn(*mut c_void);

/// A callback's raw parts, moved to C's threads (C does not care about
/// Rust's auto traits).
#[derive(Clone, Copy)]
struct Raw {
    function: HookPtr,
    user_data: *mut c_void,
    destroy: DestroyNotify,
}
// SAFETY: only carries a `send`/`sync` callback's raw parts to the threads
// of the simulated C library, which these types allow.
unsafe impl Send for Raw {}

// ---------------------------------------------------------------------------
// The panic hook: records each thread's panic messages and runs what the
// thread asked to run while a panic (here: a refusal) is being raised.
// ---------------------------------------------------------------------------

thread_local! {
    static RAISED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static WHILE_REFUSED: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
}

fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let refusal = text.starts_with("ffi-callback: ");
            RAISED.with(|raised| raised.borrow_mut().push(text));
            if refusal {
                if let Some(hold) = WHILE_REFUSED.with(|f| f.borrow_mut().take()) {
                    hold();
                }
            } else {
                default(info);
            }
        }));
    });
}

/// Counts the closure's drops, and on which thread.
#[derive(Default)]
struct Drops(Mutex<Vec<ThreadId>>);

impl Drops {
    fn threads(&self) -> Vec<ThreadId> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Captured by each closure: records its drop.
struct Tracked(Arc<Drops>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(thread::current().id());
    }
}

/// Where the threads wait for each other: each barrier is between the main
/// thread (playing the C library's control thread) and one C thread.
#[derive(Clone)]
struct Steps {
    /// Call A is inside the closure.
    a_inside: Arc<Barrier>,
    /// Call A may return.
    a_go: Arc<Barrier>,
    /// Call B is being refused (in the panic hook).
    b_refusing: Arc<Barrier>,
    /// Call B's refusal may finish.
    b_go: Arc<Barrier>,
}

impl Steps {
    fn new() -> Self {
        let two = || Arc::new(Barrier::new(2));
        Steps {
            a_inside: two(),
            a_go: two(),
            b_refusing: two(),
            b_go: two(),
        }
    }

    /// The closure's body: call A (`n == 1`) stays inside until told.
    fn body(&self, n: c_int) -> c_int {
        if n == 1 {
            self.a_inside.wait();
            self.a_go.wait();
        }
        n
    }
}

/// What C's thread B saw: what its call returned, the panics raised on it
/// (the refusal, in the hook), what its guard re-raised (`resume`), and
/// the thread.
struct SeenByB {
    got: c_int,
    raised: Vec<String>,
    reraised: Option<String>,
    thread: ThreadId,
}

/// Thread A: C calls the callback (`n = 1`), which stays inside until told.
fn call_a(raw: Raw) -> thread::JoinHandle<c_int> {
    thread::spawn(move || {
        let raw = raw;
        // SAFETY: alive: the destroy is deferred past this call; `send` and
        // `sync` allow calls on this thread.
        unsafe { (raw.function)(raw.user_data, 1) }
    })
}

/// Thread B: C calls the callback (`n = 2`) while call A runs, through a
/// `resume_panics` guard; its refusal stays in the panic hook until told.
fn call_b(raw: Raw, steps: &Steps) -> thread::JoinHandle<SeenByB> {
    let steps = steps.clone();
    thread::spawn(move || {
        let raw = raw;
        WHILE_REFUSED.with(|f| {
            *f.borrow_mut() = Some(Box::new(move || {
                steps.b_refusing.wait();
                steps.b_go.wait();
            }));
        });
        let mut got = 0;
        let reraised = catch_unwind(AssertUnwindSafe(|| {
            resume_panics(|| {
                // SAFETY: the holder is alive when this call reaches it (call
                // A runs); `send` and `sync` allow calls on this thread.
                got = unsafe { (raw.function)(raw.user_data, 2) };
            })
        }))
        .err()
        .map(|payload| message(&*payload).to_owned());
        SeenByB {
            got,
            raised: RAISED.with(|raised| raised.take()),
            reraised,
            thread: thread::current().id(),
        }
    })
}

/// The refusal message of `callback` for a call into a running closure.
fn running(callback: &str) -> String {
    format!(
        "ffi-callback: `hostile_c_races::{callback}` refused the call: it was called while its \
         closure was already running (re-entered, or called from two threads at once)"
    )
}

/// The refusal message of `callback` for a call after its destroy.
fn destroyed(callback: &str) -> String {
    format!(
        "ffi-callback: `hostile_c_races::{callback}` refused the call: it was called after it \
         was destroyed"
    )
}

/// What the race looks like from C's side.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// B calls while A runs, then C destroys while both are inside.
    CallThenDestroy,
    /// C destroys while A runs (deferred), then B calls.
    DestroyThenCall,
}

/// Runs the race on `raw` (whose closure calls `steps.body`) and checks
/// the crate's answer: B refused with `refusal` (and, if `kept`, its guard
/// re-raises it), the destroy deferred past A's return and past B's
/// refusal, the closure dropped once, on B's thread (the last one out).
fn race(raw: Raw, steps: &Steps, drops: &Drops, order: Order, refusal: &str, kept: bool) {
    install_hook();
    let destroy = || {
        // SAFETY: the destroy-notify, once, while call A runs.
        unsafe { (raw.destroy)(raw.user_data) };
        assert_eq!(drops.threads(), [], "deferred: call A runs");
    };
    let a = call_a(raw);
    steps.a_inside.wait();
    if order == Order::DestroyThenCall {
        destroy();
    }
    let b = call_b(raw, steps);
    steps.b_refusing.wait();
    if order == Order::CallThenDestroy {
        destroy();
    }
    // Call A returns, and finds the destroy: not the last one out, while
    // B's refusal still uses the holder.
    steps.a_go.wait();
    assert_eq!(a.join().expect("call A returned"), 1);
    assert_eq!(
        drops.threads(),
        [],
        "deferred: the refused call still uses the holder"
    );
    steps.b_go.wait();
    let seen = b.join().expect("call B returned");
    assert_eq!(seen.got, -1, "call B got the fallback");
    assert_eq!(seen.raised.len(), 1, "{:?}", seen.raised);
    assert!(seen.raised[0].starts_with(refusal), "{:?}", seen.raised);
    if kept {
        let reraised = seen.reraised.expect("B's guard re-raised the refusal");
        assert!(reraised.starts_with(refusal), "{reraised}");
    } else {
        assert_eq!(seen.reraised, None);
    }
    // Freed once, by the refused call: the last one out.
    assert_eq!(drops.threads(), [seen.thread]);
}

#[test]
fn c_calls_a_send_callback_concurrently_while_destroying_it_in_another_thread() {
    // The concurrent call's refusal is kept by its guard, which poisons the
    // holder after the panic hook has run: the holder must still be there.
    let (steps, drops) = (Steps::new(), Arc::new(Drops::default()));
    let (body, track) = (steps.clone(), Tracked(drops.clone()));
    let raw = SendWork::boxed(move |n| {
        let _ = &track;
        body.body(n)
    })
    .into_raw();
    let raw = Raw {
        function: raw.function,
        user_data: raw.user_data,
        destroy: raw.destroy,
    };
    let refusal = running("SendWork");
    race(raw, &steps, &drops, Order::CallThenDestroy, &refusal, true);
}

#[test]
fn c_calls_a_send_callback_concurrently_while_destroying_it_in_another_thread_unguarded() {
    // The same with each call standing alone (`on_panic = fallback`): the
    // refusal is reported, nothing poisons.
    let (steps, drops) = (Steps::new(), Arc::new(Drops::default()));
    let (body, track) = (steps.clone(), Tracked(drops.clone()));
    let raw = SendHook::boxed(move |n| {
        let _ = &track;
        body.body(n)
    })
    .into_raw();
    let raw = Raw {
        function: raw.function,
        user_data: raw.user_data,
        destroy: raw.destroy,
    };
    let refusal = running("SendHook");
    race(raw, &steps, &drops, Order::CallThenDestroy, &refusal, false);
}

#[test]
fn c_calls_a_send_callback_from_another_thread_during_its_deferred_destroy() {
    let (steps, drops) = (Steps::new(), Arc::new(Drops::default()));
    let (body, track) = (steps.clone(), Tracked(drops.clone()));
    let raw = SendWork::boxed(move |n| {
        let _ = &track;
        body.body(n)
    })
    .into_raw();
    let raw = Raw {
        function: raw.function,
        user_data: raw.user_data,
        destroy: raw.destroy,
    };
    let refusal = destroyed("SendWork");
    race(raw, &steps, &drops, Order::DestroyThenCall, &refusal, true);
}

#[test]
fn c_calls_a_sync_callback_from_another_thread_during_its_deferred_destroy() {
    // A shared entry: its failed count is what holds the holder.
    let (steps, drops) = (Steps::new(), Arc::new(Drops::default()));
    let (body, track) = (steps.clone(), Tracked(drops.clone()));
    let raw = SyncNotify::boxed(move |n| {
        let _ = &track;
        body.body(n)
    })
    .into_raw();
    let raw = Raw {
        function: raw.function,
        user_data: raw.user_data,
        destroy: raw.destroy,
    };
    let refusal = destroyed("SyncNotify");
    race(raw, &steps, &drops, Order::DestroyThenCall, &refusal, false);
}

#[test]
fn c_calls_a_reentrant_send_callback_from_another_thread_during_its_deferred_destroy() {
    // A shared entry whose refusal is kept, and poisons after the hook.
    let (steps, drops) = (Steps::new(), Arc::new(Drops::default()));
    let (body, track) = (steps.clone(), Tracked(drops.clone()));
    let raw = ReentrantSendHook::boxed(move |n| {
        let _ = &track;
        body.body(n)
    })
    .into_raw();
    let raw = Raw {
        function: raw.function,
        user_data: raw.user_data,
        destroy: raw.destroy,
    };
    let refusal = destroyed("ReentrantSendHook");
    race(raw, &steps, &drops, Order::DestroyThenCall, &refusal, true);
}

#[test]
fn c_calls_a_send_callback_concurrently_and_keeps_it() {
    // No destroy: the refused call's hold is released, nothing is freed,
    // and once the guard has re-raised the refusal the callback runs again.
    install_hook();
    let (steps, drops) = (Steps::new(), Arc::new(Drops::default()));
    let (body, track) = (steps.clone(), Tracked(drops.clone()));
    let owned = SendWork::boxed(move |n| {
        let _ = &track;
        body.body(n)
    });
    let raw = Raw {
        function: owned.function(),
        user_data: owned.user_data(),
        destroy: {
            unsafe extern "C" fn never(_: *mut c_void) {
                unreachable!("not destroyed by C")
            }
            never
        },
    };
    let a = call_a(raw);
    steps.a_inside.wait();
    let b = call_b(raw, &steps);
    steps.b_refusing.wait();
    steps.b_go.wait();
    let seen = b.join().expect("call B returned");
    assert_eq!(seen.got, -1);
    let reraised = seen.reraised.expect("B's guard re-raised the refusal");
    assert!(reraised.starts_with(&running("SendWork")), "{reraised}");
    steps.a_go.wait();
    assert_eq!(a.join().expect("call A returned"), 1);
    // Healed (the guard has returned), so it runs again.
    // SAFETY: `owned` is alive; `send` allows this thread.
    assert_eq!(unsafe { (raw.function)(raw.user_data, 3) }, 3);
    assert_eq!(drops.threads(), []);
    drop(owned);
    assert_eq!(drops.threads(), [thread::current().id()]);
}

/// `send` whose refusals unwind into the caller (`on_panic = unwind`).
#[callback(send, on_panic = unwind)]
type SendUnwind = unsafe extern "C-unwind" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn c_calls_a_send_callback_concurrently_while_destroying_it_and_the_refusal_unwinds() {
    // The refusal unwinds out of the concurrent call: the holder is still
    // held while it does, and the last one out frees it on the way.
    install_hook();
    let (steps, drops) = (Steps::new(), Arc::new(Drops::default()));
    let (body, track) = (steps.clone(), Tracked(drops.clone()));
    let raw = SendUnwind::boxed(move |n| {
        let _ = &track;
        body.body(n)
    })
    .into_raw();
    #[derive(Clone, Copy)]
    struct UnwindRaw(SendUnwindFn, *mut c_void);
    // SAFETY: as for `Raw`.
    unsafe impl Send for UnwindRaw {}
    let parts = UnwindRaw(raw.function, raw.user_data);
    let a = thread::spawn(move || {
        let parts = parts;
        // SAFETY: alive: the destroy is deferred past this call.
        unsafe { (parts.0)(parts.1, 1) }
    });
    steps.a_inside.wait();
    let b_steps = steps.clone();
    let b = thread::spawn(move || {
        let parts = parts;
        WHILE_REFUSED.with(|f| {
            *f.borrow_mut() = Some(Box::new(move || {
                b_steps.b_refusing.wait();
                b_steps.b_go.wait();
            }));
        });
        // SAFETY: alive when this call reaches it (call A runs).
        let payload =
            catch_unwind(|| unsafe { (parts.0)(parts.1, 2) }).expect_err("the refusal unwinds");
        (message(&*payload).to_owned(), thread::current().id())
    });
    steps.b_refusing.wait();
    // SAFETY: the destroy-notify, once, while call A runs.
    unsafe { (raw.destroy)(raw.user_data) };
    steps.a_go.wait();
    assert_eq!(a.join().expect("call A returned"), 1);
    assert_eq!(drops.threads(), [], "the unwinding refusal still holds it");
    steps.b_go.wait();
    let (refusal, b_thread) = b.join().expect("call B unwound");
    assert!(refusal.starts_with(&running("SendUnwind")), "{refusal}");
    assert_eq!(drops.threads(), [b_thread]);
}

// ---------------------------------------------------------------------------
// An `Err` on one thread while another thread's guard keeps a panic
// ---------------------------------------------------------------------------

/// An error no guard on its thread takes (C runs the call on a thread of
/// its own).
#[derive(Debug)]
struct Oops;

/// `reentrant, send` with `resume`: shared calls on several threads at
/// once, a kept panic poisons the holder, and closures return `Result`.
#[callback(reentrant, send, on_panic = resume, fallback = -1, error = Oops, on_error = -2)]
type ReentrantSendWork = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// The parts of a `ReentrantSendWork`, for the simulated C threads.
#[derive(Clone, Copy)]
struct WorkRaw(ReentrantSendWorkFn, *mut c_void);
// SAFETY: the parts of a `send` callback, which C may call on any thread.
unsafe impl Send for WorkRaw {}

#[test]
fn c_calls_a_reentrant_send_callback_that_fails_while_another_threads_guard_keeps_its_panic() {
    // Call A (thread 1) is inside the closure when call B (this thread)
    // panics, and B's guard keeps the panic: the holder is poisoned until
    // that guard returns. A then returns `Err`, which no guard on thread 1
    // takes (reported and dropped; C gets `on_error`). A's `Err` path must
    // not heal the holder: call C, still inside B's guard, gets the
    // fallback without running the closure.
    let inside = Arc::new(Barrier::new(2));
    let go = Arc::new(Barrier::new(2));
    let ran_after_panic = Arc::new(Mutex::new(Vec::new()));
    let work = {
        let (inside, go, ran) = (inside.clone(), go.clone(), ran_after_panic.clone());
        ReentrantSendWork::boxed(move |n: c_int| -> Result<c_int, Oops> {
            match n {
                1 => {
                    inside.wait();
                    go.wait();
                    Err(Oops)
                }
                2 => panic!("call B panics"),
                _ => {
                    ran.lock().unwrap_or_else(PoisonError::into_inner).push(n);
                    Ok(n)
                }
            }
        })
    };
    let raw = WorkRaw(work.function(), work.user_data());
    let a = thread::spawn(move || {
        let raw = raw;
        // SAFETY: alive until `work` is dropped, after this thread ends.
        unsafe { (raw.0)(raw.1, 1) }
    });
    inside.wait();
    let mut late = None;
    let caught = catch_unwind(AssertUnwindSafe(|| {
        resume_panics(|| {
            // SAFETY: as above.
            assert_eq!(unsafe { (raw.0)(raw.1, 2) }, -1);
            go.wait();
            // A's `Err` path has run to its leave.
            assert_eq!(a.join().expect("call A returned"), -2);
            // SAFETY: as above.
            late = Some(unsafe { (raw.0)(raw.1, 3) });
        })
    }));
    assert_eq!(
        message(&*caught.expect_err("B's panic is re-raised")),
        "call B panics"
    );
    assert_eq!(late, Some(-1), "poisoned until B's guard returned");
    assert!(
        ran_after_panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    );
    // The guard has returned: the holder runs user code again.
    // SAFETY: as above.
    assert_eq!(unsafe { (raw.0)(raw.1, 4) }, 4);
    drop(work);
}

#[test]
fn c_calls_a_reentrant_send_callback_that_fails_under_a_guard_while_another_threads_guard_keeps_its_panic()
 {
    // As above, but thread 1's `try_resume` keeps A's `Err`, and returns
    // before B's guard does: the holder, poisoned by both guards, stays
    // poisoned until the last of them has let go.
    let inside = Arc::new(Barrier::new(2));
    let go = Arc::new(Barrier::new(2));
    let ran_after_panic = Arc::new(Mutex::new(Vec::new()));
    let work = {
        let (inside, go, ran) = (inside.clone(), go.clone(), ran_after_panic.clone());
        ReentrantSendWork::boxed(move |n: c_int| -> Result<c_int, Oops> {
            match n {
                1 => {
                    inside.wait();
                    go.wait();
                    Err(Oops)
                }
                2 => panic!("call B panics"),
                _ => {
                    ran.lock().unwrap_or_else(PoisonError::into_inner).push(n);
                    Ok(n)
                }
            }
        })
    };
    let raw = WorkRaw(work.function(), work.user_data());
    let a = thread::spawn(move || {
        let raw = raw;
        // SAFETY: alive until `work` is dropped, after this thread ends.
        ffi_callback::try_resume::<_, Oops>(|| unsafe { (raw.0)(raw.1, 1) }).is_err()
    });
    inside.wait();
    let mut late = None;
    let caught = catch_unwind(AssertUnwindSafe(|| {
        resume_panics(|| {
            // SAFETY: as above.
            assert_eq!(unsafe { (raw.0)(raw.1, 2) }, -1);
            go.wait();
            // Thread 1's guard has returned A's `Err`.
            assert!(a.join().expect("thread 1 returned"));
            // SAFETY: as above.
            late = Some(unsafe { (raw.0)(raw.1, 3) });
        })
    }));
    assert_eq!(
        message(&*caught.expect_err("B's panic is re-raised")),
        "call B panics"
    );
    assert_eq!(late, Some(-1), "poisoned until B's guard returned");
    assert!(
        ran_after_panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    );
    // SAFETY: as above.
    assert_eq!(unsafe { (raw.0)(raw.1, 4) }, 4);
    drop(work);
}
