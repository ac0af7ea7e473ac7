//! Issue 16.2: home-thread callbacks (`local`). GLib runs a source on its
//! context's thread but may free it on whichever thread removes it: a call
//! on another thread is refused (reported, not handed to a guard there: no
//! user code ran), a destroy on another thread leaks the closure (which may
//! hold `Rc`s) and reports it, a destroy at home drops it.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use ffi_callback::{ReportKind, callback, resume_panics};

use ffi_callback_tests::panics::panics_during;

use crate::{SendPtr, reporter, tracked};

/// `GSourceFunc` for a source attached to this thread's main context.
#[callback(local, fallback = -1)]
type Source = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

const FOREIGN_CALL: &str = "ffi-callback: `simulated_lessons::threads::Source` refused the call: \
                            it was called on another thread than the one it was made on, and its \
                            type is declared `local`";

/// Calls `f(ud)` on a new thread under a guard there; what C got, and the
/// messages of the panics raised there (the refusal, which the guard does
/// not re-raise: it is reported, and C gets the fallback).
fn call_on_another_thread(f: SourceFn, ud: *mut c_void) -> (c_int, Vec<String>) {
    let ud = SendPtr(ud);
    std::thread::spawn(move || {
        let ud = ud;
        // SAFETY: the holder is alive; the call is expected to be refused
        // before it touches the closure.
        panics_during(|| resume_panics(|| unsafe { f(ud.0) }))
    })
    .join()
    .expect("the guard on the other thread had nothing to re-raise")
}

/// Whether `raised` is the one refusal of a call on another thread.
fn is_foreign_call_refusal(raised: &[String]) -> bool {
    matches!(raised, [msg] if msg.starts_with(FOREIGN_CALL))
}

#[test]
fn local_source_called_from_another_thread_is_refused() {
    // `Rc`: the closure must never run, or be dropped, elsewhere.
    let runs = Rc::new(Cell::new(0));
    let runs_in = runs.clone();
    let cb = Source::new(move || {
        runs_in.set(runs_in.get() + 1);
        1
    });
    let recording = reporter::recording();
    let (got, raised) = call_on_another_thread(cb.function(), cb.user_data());
    assert_eq!(got, -1);
    assert!(is_foreign_call_refusal(&raised), "{raised:?}");
    assert_eq!(runs.get(), 0);
    let reports = recording.about(concat!(module_path!(), "::Source"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::Refused);
    // At home it runs.
    // SAFETY: `cb` is alive and unmoved.
    assert_eq!(unsafe { (cb.function())(cb.user_data()) }, 1);
    assert_eq!(runs.get(), 1);
}

/// Counts the drops of the closure leaked below in a static, so that the
/// leak owns no heap memory (Miri would report that).
static LEAKED_DROPS: AtomicU32 = AtomicU32::new(0);

/// A value that must stay on its thread (`!Send`), like an `Rc`.
struct HomeOnly {
    drops: &'static AtomicU32,
    _not_send: PhantomData<*const ()>,
}

impl Drop for HomeOnly {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn local_boxed_destroyed_on_another_thread_is_leaked_and_reported() {
    let recording = reporter::recording();
    let value = HomeOnly {
        drops: &LEAKED_DROPS,
        _not_send: PhantomData,
    };
    let raw = Source::boxed(move || {
        let _ = &value;
        1
    })
    .into_raw();
    // SAFETY: alive until the destroy below.
    assert_eq!(unsafe { (raw.function)(raw.user_data) }, 1);
    // The source is removed from another thread: GLib calls the
    // destroy-notify there.
    let (destroy, ud) = (raw.destroy, SendPtr(raw.user_data));
    std::thread::spawn(move || {
        let ud = ud;
        // SAFETY: the destroy-notify, once, after the last call.
        unsafe { destroy(ud.0) };
    })
    .join()
    .expect("destroyed");
    assert_eq!(LEAKED_DROPS.load(Ordering::SeqCst), 0, "not dropped there");
    let reports = recording.about(concat!(module_path!(), "::Source"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::LeakedOnForeignThread);
    assert!(
        reports[0].text.contains(
            "was destroyed on another thread than the one it belongs to; its closure was leaked \
             rather than dropped there"
        ),
        "{}",
        reports[0].text
    );
}

#[test]
fn local_boxed_destroyed_on_its_home_thread_is_dropped() {
    let (track, drops) = tracked();
    let raw = Source::boxed(move || {
        let _ = &track;
        0
    })
    .into_raw();
    // SAFETY: alive until the destroy below.
    assert_eq!(unsafe { (raw.function)(raw.user_data) }, 0);
    assert_eq!(drops.get(), 0);
    // SAFETY: the destroy-notify, once, on the home thread.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn local_once_called_from_another_thread_is_refused_and_stays_callable_at_home() {
    let (track, drops) = tracked();
    let raw = Source::once(move || {
        drop(track);
        5
    })
    .into_raw_with_destroy();
    // Its turn with the reporter: the refusal reports about `Source`, which
    // the other tests here count.
    let recording = reporter::recording();
    let (got, raised) = call_on_another_thread(raw.function, raw.user_data);
    assert_eq!(got, -1);
    assert!(is_foreign_call_refusal(&raised), "{raised:?}");
    assert_eq!(drops.get(), 0);
    let reports = recording.about(concat!(module_path!(), "::Source"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, ReportKind::Refused);
    // SAFETY: the one call, at home, then the destroy-notify, once.
    unsafe {
        assert_eq!((raw.function)(raw.user_data), 5);
        (raw.destroy)(raw.user_data);
    }
    assert_eq!(drops.get(), 1);
}
