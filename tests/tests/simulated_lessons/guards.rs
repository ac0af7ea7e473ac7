//! Issue 16.3: panics with no guard (`unguarded = fallback`: reported, C
//! gets the fallback, no abort), and guards around C calls that do not
//! return by themselves (`resume_panics_with(run, stop)`: an event loop).

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::sync::{Mutex, PoisonError};

use ffi_callback::{ReportKind, callback, resume_panics, resume_panics_with};

use ffi_callback_tests::panics::{message, panic_payload};

use crate::{SendPtr, each, reporter, tracked};

// ---------------------------------------------------------------------------
// unguarded = fallback
// ---------------------------------------------------------------------------

/// libgit2's pack builder progress: called from raw calls the binding
/// cannot guard, and from the builder's own worker threads.
#[callback(unguarded = fallback, fallback = -5)]
extern "C" fn pack_progress(stage: c_int, #[user_data] seen: &Mutex<Vec<c_int>>) -> c_int {
    assert!(stage != 2, "expected: stage 2");
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(stage);
    0
}

/// `for (i = 0; i < n; i++) out[i] = f(i, ud);`, for the fn form.
///
/// # Safety
/// `ud` is what `f` expects.
unsafe fn each_fn(
    f: unsafe extern "C" fn(c_int, *mut c_void) -> c_int,
    ud: *mut c_void,
    n: c_int,
) -> Vec<c_int> {
    // SAFETY: forwarded.
    (0..n).map(|i| unsafe { f(i, ud) }).collect()
}

fn taken(seen: &Mutex<Vec<c_int>>) -> Vec<c_int> {
    std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner))
}

#[test]
fn unguarded_fallback_fn_with_no_guard_reports_and_returns_the_fallback() {
    let recording = reporter::recording();
    let seen = Mutex::new(Vec::new());
    // No guard on this thread: no abort; the panic is reported and C gets
    // -5; nothing is poisoned, so the next calls run.
    // SAFETY: `pack_progress` receives `&Mutex<Vec<c_int>>`.
    let got = unsafe { each_fn(pack_progress, pack_progress::user_data(&seen), 4) };
    assert_eq!(got, [0, 0, -5, 0]);
    assert_eq!(taken(&seen), [0, 1, 3]);
    let reports = recording.about(concat!(module_path!(), "::pack_progress"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::PanicReturnedFallback);
    assert_eq!(
        reports[0].panic_message.as_deref(),
        Some("expected: stage 2")
    );
    assert!(
        reports[0]
            .text
            .contains("no `resume_panics` guard was active on this thread"),
        "{}",
        reports[0].text
    );

    // Under a guard, the same panic is kept and resumed as usual.
    let mut guarded = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: as above.
            guarded = unsafe { each_fn(pack_progress, pack_progress::user_data(&seen), 4) };
        })
    });
    assert_eq!(message(&*payload), "expected: stage 2");
    assert_eq!(guarded, [0, 0, -5, -5]);
    assert_eq!(taken(&seen), [0, 1]);
    assert_eq!(
        recording
            .about(concat!(module_path!(), "::pack_progress"))
            .len(),
        1,
        "the guarded panic was not reported"
    );
}

#[test]
fn unguarded_fallback_fn_called_on_a_c_worker_thread_reports_and_returns_the_fallback() {
    let recording = reporter::recording();
    let seen = Mutex::new(Vec::new());
    let ud = SendPtr(pack_progress::user_data(&seen));
    let got = std::thread::scope(|s| {
        s.spawn(move || {
            let ud = ud;
            // SAFETY: `seen` outlives the scope; a `&Mutex` may be used from
            // any thread.
            unsafe { each_fn(pack_progress, ud.0, 3) }
        })
        .join()
        .expect("the worker finished")
    });
    assert_eq!(got, [0, 0, -5]);
    assert_eq!(taken(&seen), [0, 1]);
    let reports = recording.about(concat!(module_path!(), "::pack_progress"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        reports[0].panic_message.as_deref(),
        Some("expected: stage 2")
    );
}

/// A hook kept by C and also called where no guard is.
#[callback(unguarded = fallback, fallback = -5)]
type Progress = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn unguarded_fallback_holder_with_no_guard_reports_and_is_not_poisoned() {
    let recording = reporter::recording();
    let (track, drops) = tracked();
    let runs = std::rc::Rc::new(Cell::new(0));
    let runs_in = runs.clone();
    let raw = Progress::boxed(move |n| {
        let _ = &track;
        runs_in.set(runs_in.get() + 1);
        assert!(n != 1, "expected: progress 1");
        n
    })
    .into_raw();
    // SAFETY: alive until the destroy below.
    let got = unsafe { each(raw.function, raw.user_data, 3) };
    assert_eq!(got, [0, -5, 2]);
    assert_eq!(runs.get(), 3);
    let reports = recording.about(concat!(module_path!(), "::Progress"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::PanicReturnedFallback);
    // Under a guard: kept, resumed, and the holder poisoned meanwhile.
    let mut guarded = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: as above.
            guarded = unsafe { each(raw.function, raw.user_data, 3) };
        })
    });
    assert_eq!(message(&*payload), "expected: progress 1");
    assert_eq!(guarded, [0, -5, -5]);
    assert_eq!(runs.get(), 5);
    // SAFETY: the destroy-notify, once.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// resume_panics_with: an event loop that returns only when told to
// ---------------------------------------------------------------------------

/// `GSourceFunc`: 1 keeps the source, 0 removes it (the fallback).
#[callback(fallback = 0)]
type SourceFunc = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

/// A main loop with sources: `run` dispatches every source, over and over,
/// until `quit` is called. It gives up after `LIMIT` rounds so that a broken
/// test fails instead of hanging.
struct MainLoop {
    running: Cell<bool>,
    sources: RefCell<Vec<(SourceFuncFn, *mut c_void)>>,
    rounds: Cell<u32>,
}

const LIMIT: u32 = 1000;

unsafe extern "C" fn c_loop_run(main_loop: *const MainLoop) {
    // SAFETY: the caller passes a valid loop whose sources stay alive while
    // they are attached.
    let main_loop = unsafe { &*main_loop };
    main_loop.running.set(true);
    while main_loop.running.get() && main_loop.rounds.get() < LIMIT {
        main_loop.rounds.set(main_loop.rounds.get() + 1);
        let sources = main_loop.sources.borrow().clone();
        let mut keep = Vec::new();
        for (f, ud) in sources {
            // SAFETY: as above.
            if unsafe { f(ud) } != 0 {
                keep.push((f, ud));
            }
        }
        *main_loop.sources.borrow_mut() = keep;
    }
}

unsafe extern "C" fn c_loop_quit(main_loop: *const MainLoop) {
    // SAFETY: the caller passes a valid loop.
    unsafe { (*main_loop).running.set(false) };
}

fn new_loop() -> MainLoop {
    MainLoop {
        running: Cell::new(false),
        sources: RefCell::new(Vec::new()),
        rounds: Cell::new(0),
    }
}

#[test]
fn resume_panics_with_stops_an_event_loop_after_a_panic_and_resumes_it() {
    let main_loop = new_loop();
    let ticks = Cell::new(0);
    let other_ticks = Cell::new(0);
    let stops = Cell::new(0);
    let ticker = SourceFunc::new(|| {
        ticks.set(ticks.get() + 1);
        assert!(ticks.get() < 3, "expected: third tick");
        1
    });
    // A source that never removes itself: the loop would run forever.
    let other = SourceFunc::new(|| {
        other_ticks.set(other_ticks.get() + 1);
        1
    });
    main_loop.sources.borrow_mut().extend([
        (ticker.function(), ticker.user_data()),
        (other.function(), other.user_data()),
    ]);
    let payload = panic_payload(|| {
        resume_panics_with(
            // SAFETY: the loop and its sources outlive the call.
            || unsafe { c_loop_run(&main_loop) },
            || {
                stops.set(stops.get() + 1);
                // SAFETY: the loop is valid.
                unsafe { c_loop_quit(&main_loop) };
            },
        )
    });
    assert_eq!(message(&*payload), "expected: third tick");
    assert_eq!(stops.get(), 1);
    // The loop ended with the round of the panic: the panicking source got
    // the fallback (0: removed), the other source finished that round.
    assert_eq!(main_loop.rounds.get(), 3);
    assert_eq!((ticks.get(), other_ticks.get()), (3, 3));
    assert_eq!(main_loop.sources.borrow().len(), 1);
}

#[test]
fn resume_panics_with_calls_stop_once_for_several_panics_and_resumes_the_first() {
    let main_loop = new_loop();
    let stops = Cell::new(0);
    let first = SourceFunc::new(|| -> c_int { panic!("expected: first source") });
    let second = SourceFunc::new(|| -> c_int { panic!("expected: second source") });
    main_loop.sources.borrow_mut().extend([
        (first.function(), first.user_data()),
        (second.function(), second.user_data()),
    ]);
    let payload = panic_payload(|| {
        resume_panics_with(
            // SAFETY: the loop and its sources outlive the call.
            || unsafe { c_loop_run(&main_loop) },
            || {
                stops.set(stops.get() + 1);
                // SAFETY: the loop is valid.
                unsafe { c_loop_quit(&main_loop) };
            },
        )
    });
    assert_eq!(message(&*payload), "expected: first source");
    assert_eq!(stops.get(), 1);
    assert_eq!(main_loop.rounds.get(), 1);
}

#[test]
fn resume_panics_with_a_loop_that_ends_by_itself_never_calls_stop() {
    let main_loop = new_loop();
    let stops = Cell::new(0);
    let runs = Cell::new(0);
    let once = SourceFunc::new(|| {
        runs.set(runs.get() + 1);
        0
    });
    main_loop
        .sources
        .borrow_mut()
        .push((once.function(), once.user_data()));
    let main_loop_ptr: *const MainLoop = &main_loop;
    let quitter = SourceFunc::new(|| {
        // SAFETY: the loop is valid.
        unsafe { c_loop_quit(main_loop_ptr) };
        0
    });
    main_loop
        .sources
        .borrow_mut()
        .push((quitter.function(), quitter.user_data()));
    resume_panics_with(
        // SAFETY: the loop and its sources outlive the call.
        || unsafe { c_loop_run(main_loop_ptr) },
        || stops.set(stops.get() + 1),
    );
    assert_eq!((runs.get(), stops.get(), main_loop.rounds.get()), (1, 0, 1));
}
