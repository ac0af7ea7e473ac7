//! C calls or destroys a callback on a thread its type does not allow, or
//! from several threads at once: `local` refuses foreign calls and leaks
//! (and reports) a closure destroyed on a foreign thread; a `send` `FnMut`
//! refuses a concurrent call; `send` and `sync` defer a destroy that comes
//! from another thread while calls run.

use super::*;

/// Called on its home thread only (a GLib source on a thread's main
/// context); no guard on C's threads, so refusals there are reported.
#[callback(local, unguarded = fallback, fallback = -1)]
type LocalHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `LocalHook`, for the once test (its own reports).
#[callback(local, unguarded = fallback, fallback = -1)]
type LocalOnceHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// Runs `f(ud, n)` on a new thread, as a C library with its own worker
/// thread; returns C's result and the panics raised there.
fn call_on_c_thread(f: HookPtr, ud: *mut c_void, n: c_int) -> (c_int, Vec<String>) {
    let ud = SendPtr(ud);
    thread::spawn(move || {
        let ud = ud;
        // SAFETY: the tests pass a live holder's user data, for a type whose
        // trampoline checks the calling thread before it touches anything.
        panics_during(|| unsafe { f(ud.0, n) })
    })
    .join()
    .expect("the C thread finished")
}

#[test]
fn c_calls_a_local_callback_from_another_thread() {
    install_reporter();
    let calls = Rc::new(Cell::new(0));
    let calls2 = calls.clone();
    let hook = LocalHook::new(move |n| {
        // An `Rc` capture: running this on another thread would race.
        calls2.set(calls2.get() + 1);
        n
    });
    let (got, raised) = call_on_c_thread(hook.function(), hook.user_data(), 3);
    assert_eq!((got, calls.get()), (-1, 0));
    assert_eq!(
        raised,
        [
            "ffi-callback: `hostile_c::threads::LocalHook` refused the call: it was called on \
             another thread than the one it was made on, and its type is declared `local` (its \
             closure may hold values that must stay on their thread)"
        ]
    );
    assert_eq!(
        reports_of("hostile_c::threads::LocalHook"),
        [ReportKind::Refused]
    );
    // On its home thread it runs.
    // SAFETY: the holder's own user data; `hook` is alive and unmoved.
    assert_eq!(unsafe { (hook.function())(hook.user_data(), 4) }, 4);
    assert_eq!(calls.get(), 1);
}

#[test]
fn c_calls_a_local_once_callback_from_another_thread() {
    install_reporter();
    let (track, drops) = tracked();
    let raw = LocalOnceHook::once(move |n| {
        drop(track);
        n + 1
    })
    .into_raw_with_destroy();
    let (got, raised) = call_on_c_thread(raw.function, raw.user_data, 3);
    assert_eq!((got, drops.get()), (-1, 0));
    assert_eq!(
        raised,
        [
            "ffi-callback: `hostile_c::threads::LocalOnceHook` refused the call: it was called on \
             another thread than the one it was made on, and its type is declared `local` (its \
             closure may hold values that must stay on their thread)"
        ]
    );
    assert_eq!(
        reports_of("hostile_c::threads::LocalOnceHook"),
        [ReportKind::Refused]
    );
    // Not consumed: its one call on the home thread runs it.
    // SAFETY: the one call, then the destroy, once, on the home thread.
    unsafe {
        assert_eq!((raw.function)(raw.user_data, 5), 6);
        (raw.destroy)(raw.user_data);
    }
    assert_eq!(drops.get(), 1);
}

/// `LocalHook` under the default policy (`resume`, no `unguarded`): C's
/// thread has no guard, yet a call there is refused without aborting.
#[callback(local, fallback = -1)]
type DefaultLocalHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `DefaultLocalHook`, for the once test (its own reports).
#[callback(local, fallback = -1)]
type DefaultLocalOnceHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn c_calls_a_local_callback_from_another_thread_under_the_default_policy() {
    install_reporter();
    let calls = Rc::new(Cell::new(0));
    let calls2 = calls.clone();
    let hook = DefaultLocalHook::new(move |n| {
        calls2.set(calls2.get() + 1);
        n
    });
    // No guard on C's thread, none needed: no user code runs there, the
    // refusal is reported and C gets the fallback.
    let (got, raised) = call_on_c_thread(hook.function(), hook.user_data(), 3);
    assert_eq!((got, calls.get()), (-1, 0));
    assert_eq!(
        raised,
        [
            "ffi-callback: `hostile_c::threads::DefaultLocalHook` refused the call: it was called \
             on another thread than the one it was made on, and its type is declared `local` (its \
             closure may hold values that must stay on their thread)"
        ]
    );
    assert_eq!(
        reports_of("hostile_c::threads::DefaultLocalHook"),
        [ReportKind::Refused]
    );
    // A guard on C's thread changes nothing: the refusal is not a panic of
    // the closure, so the guard has nothing to resume.
    let (function, ud) = (hook.function(), SendPtr(hook.user_data()));
    let guarded = thread::spawn(move || {
        let ud = ud;
        // SAFETY: as in `call_on_c_thread`.
        resume_panics(|| unsafe { function(ud.0, 4) })
    })
    .join()
    .expect("the guard on C's thread had nothing to resume");
    assert_eq!((guarded, calls.get()), (-1, 0));
    // Not poisoned: on its home thread it runs.
    // SAFETY: the holder's own user data; `hook` is alive and unmoved.
    assert_eq!(unsafe { (hook.function())(hook.user_data(), 5) }, 5);
    assert_eq!(calls.get(), 1);

    let (track, drops) = tracked();
    let raw = DefaultLocalOnceHook::once(move |n| {
        drop(track);
        n + 1
    })
    .into_raw_with_destroy();
    let (got, _) = call_on_c_thread(raw.function, raw.user_data, 3);
    assert_eq!((got, drops.get()), (-1, 0));
    assert_eq!(
        reports_of("hostile_c::threads::DefaultLocalOnceHook"),
        [ReportKind::Refused]
    );
    // SAFETY: the one call, then the destroy, once, on the home thread.
    unsafe {
        assert_eq!((raw.function)(raw.user_data, 5), 6);
        (raw.destroy)(raw.user_data);
    }
    assert_eq!(drops.get(), 1);
}

/// A `send` type with an `FnMut` closure: C may call it from any thread,
/// one call at a time; `fallback` so that a refused concurrent call returns
/// to C instead of aborting.
#[callback(send, on_panic = fallback, fallback = -1)]
type SendHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

const ROUNDS: usize = if cfg!(miri) { 2 } else { 50 };

#[test]
fn c_calls_a_send_fnmut_from_two_threads_at_once() {
    let barrier = Arc::new(Barrier::new(2));
    let entered = Arc::new(AtomicU32::new(0));
    let (track, drops) = send_tracked();
    let (barrier2, entered2) = (barrier.clone(), entered.clone());
    // A plain counter mutated through `&mut F`: two calls in the closure at
    // once would be a data race, which Miri reports.
    let mut entries = 0u32;
    let hook = SendHook::boxed(move |n| {
        let _ = &track;
        entries += 1;
        entered2.store(entries, Ordering::SeqCst);
        // Stay inside until the other thread's call has been refused.
        barrier2.wait();
        n
    });
    let (f, ud) = (hook.function(), SendPtr(hook.user_data()));
    for round in 0..ROUNDS {
        let mut results: Vec<(c_int, Vec<String>)> = thread::scope(|s| {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let ud = ud;
                        // SAFETY: `hook` outlives the scope; `send` allows
                        // calls from other threads.
                        let (got, raised) = panics_during(|| unsafe { f(ud.0, 7) });
                        if got == -1 {
                            // Refused while the other call was inside: let
                            // it leave.
                            barrier.wait();
                        }
                        (got, raised)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("C thread finished"))
                .collect()
        });
        results.sort();
        assert_eq!(results[0].0, -1, "round {round}: one call refused");
        assert_eq!(results[1], (7, Vec::new()), "round {round}: one call ran");
        assert_eq!(results[0].1.len(), 1, "round {round}");
        assert!(
            results[0].1[0].starts_with(
                "ffi-callback: `hostile_c::threads::SendHook` refused the call: it was called \
                 while its closure was already running (re-entered, or called from two threads at \
                 once)"
            ),
            "{:?}",
            results[0].1
        );
    }
    assert_eq!(entered.load(Ordering::SeqCst), ROUNDS as u32);
    drop(hook);
    assert_eq!(drops.count(), 1);
}

/// A `send` job (abort on panic, the default for `send`).
#[callback(send)]
type SendJob = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn c_destroys_a_send_callback_on_another_thread_while_it_runs() {
    let (track, drops) = send_tracked();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let raw = SendJob::boxed(move |n| {
        let _ = &track;
        entered_tx.send(()).expect("destroying thread alive");
        // Wait until the other thread has called the destroy-notify.
        go_rx.recv().expect("destroying thread alive");
        n + 1
    })
    .into_raw();
    let (f, ud) = (raw.function, SendPtr(raw.user_data));
    let caller = thread::spawn(move || {
        let ud = ud;
        // SAFETY: the holder is alive until the destroy below, which the
        // crate defers past this call; `send` allows this thread.
        let got = unsafe { f(ud.0, 1) };
        (got, thread::current().id())
    });
    entered_rx.recv().expect("the call entered");
    // SAFETY: the destroy-notify, once, on this (another) thread, while the
    // call runs on the caller thread.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.count(), 0, "deferred: the call is running");
    go_tx.send(()).expect("the call is waiting");
    let (got, caller_id) = caller.join().expect("caller finished");
    assert_eq!(got, 2);
    // Freed once, by the call, on the calling thread.
    assert_eq!(drops.threads(), [caller_id]);
}

/// A `timer_create(SIGEV_THREAD)` notification: may run on several threads
/// at once.
#[callback(sync)]
type TimerNotify = unsafe extern "C" fn(#[user_data] ud: *mut c_void, overrun: c_int);

const NOTIFIERS: usize = 3;

#[test]
fn c_destroys_a_sync_callback_while_several_threads_run_it() {
    // `timer_delete` while notifications still run: every notification
    // thread is inside the closure when the destroy comes.
    let (track, drops) = send_tracked();
    let all_inside = Arc::new(Barrier::new(NOTIFIERS + 1));
    let destroyed = Arc::new(Barrier::new(NOTIFIERS + 1));
    let seen_inside = Arc::new(Mutex::new(Vec::new()));
    let (all_inside2, destroyed2, seen2, drops2) = (
        all_inside.clone(),
        destroyed.clone(),
        seen_inside.clone(),
        drops.clone(),
    );
    let raw = TimerNotify::boxed(move |_overrun| {
        let _ = &track;
        all_inside2.wait();
        destroyed2.wait();
        seen2
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(drops2.count());
    })
    .into_raw();
    let (f, ud) = (raw.function, SendPtr(raw.user_data));
    let notifiers: Vec<_> = (0..NOTIFIERS)
        .map(|i| {
            thread::spawn(move || {
                let ud = ud;
                // SAFETY: the holder is alive until the destroy, which is
                // deferred past the running calls; `sync` allows concurrent
                // calls from any thread.
                unsafe { f(ud.0, i as c_int) };
                thread::current().id()
            })
        })
        .collect();
    all_inside.wait();
    // SAFETY: the destroy-notify, once, while every notification runs.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.count(), 0);
    destroyed.wait();
    let ids: Vec<ThreadId> = notifiers
        .into_iter()
        .map(|t| t.join().expect("notification finished"))
        .collect();
    // No call saw the closure dropped; the last one to leave freed it, once.
    assert_eq!(
        *seen_inside.lock().unwrap_or_else(PoisonError::into_inner),
        [0; NOTIFIERS]
    );
    let dropped_on = drops.threads();
    assert_eq!(dropped_on.len(), 1);
    assert!(
        ids.contains(&dropped_on[0]),
        "freed by a notification thread"
    );
}

/// A `local` source destroyed on another thread (its own reports).
#[callback(local, unguarded = fallback, fallback = -1)]
type LocalSource = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A `local` once-source destroyed on another thread (its own reports).
#[callback(local, unguarded = fallback, fallback = -1)]
type LocalIdle = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// The default contract, destroyed on another thread (its own reports).
#[callback(fallback = -1)]
type DefaultSource = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// Runs `destroy(ud)` on a new thread, as a C library that frees callbacks
/// from its worker thread.
fn destroy_on_c_thread(destroy: DestroyNotify, ud: *mut c_void) {
    let ud = SendPtr(ud);
    thread::spawn(move || {
        let ud = ud;
        // SAFETY: the tests pass an owned callback's user data and its
        // destroy-notify, called once, while no call runs.
        unsafe { destroy(ud.0) };
    })
    .join()
    .expect("the C thread finished");
}

#[test]
fn c_destroys_a_local_callback_on_another_thread() {
    install_reporter();
    static DROPS: AtomicU32 = AtomicU32::new(0);
    let bound = ThreadBound::new(&DROPS);
    let raw = LocalSource::boxed(move |n| {
        let _ = &bound;
        n
    })
    .into_raw();
    // SAFETY: alive; called on its home thread.
    assert_eq!(unsafe { (raw.function)(raw.user_data, 2) }, 2);
    destroy_on_c_thread(raw.destroy, raw.user_data);
    // Not dropped on the foreign thread: leaked (it owns no heap memory, so
    // Miri's leak check has nothing to find), and reported.
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    assert_eq!(
        reports_of("hostile_c::threads::LocalSource"),
        [ReportKind::LeakedOnForeignThread]
    );
}

#[test]
fn c_destroys_an_uncalled_local_once_callback_on_another_thread() {
    install_reporter();
    static DROPS: AtomicU32 = AtomicU32::new(0);
    let bound = ThreadBound::new(&DROPS);
    let raw = LocalIdle::once(move |n| {
        drop(bound);
        n
    })
    .into_raw_with_destroy();
    destroy_on_c_thread(raw.destroy, raw.user_data);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    assert_eq!(
        reports_of("hostile_c::threads::LocalIdle"),
        [ReportKind::LeakedOnForeignThread]
    );
}

#[test]
fn c_destroys_a_default_contract_callback_on_another_thread() {
    install_reporter();
    static DROPS: AtomicU32 = AtomicU32::new(0);
    let bound = ThreadBound::new(&DROPS);
    let raw = DefaultSource::boxed(move |n| {
        let _ = &bound;
        n
    })
    .into_raw();
    destroy_on_c_thread(raw.destroy, raw.user_data);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    assert_eq!(
        reports_of("hostile_c::threads::DefaultSource"),
        [ReportKind::LeakedOnForeignThread]
    );
}
