//! C calls back while a destroy drops the state: the state owns a C object
//! and frees it in its `Drop`, and C flushes through the callback while it
//! is freed (libarchive's `archive_write_free` calls the write and close
//! callbacks). The state is still alive, being dropped, so the call is not
//! "after the free": it is refused like any call after the destroy (C gets
//! the fallback, the refusal goes to the policy), the holder stays
//! allocated until the drop has returned, and it is freed once. For every
//! contract (the default, `local`, `send`, `sync`) and every way a state
//! ends: C's destroy-notify of a boxed callback, Rust dropping its `Boxed`
//! or `BoxedSet`, a set's `DESTROY`, a set's destroy entry (`close(self)`:
//! calls back from inside the entry and from the state's drop after it),
//! and a once-callback destroyed uncalled. Drop counters here, Miri for the
//! use after free or double free.

use std::sync::atomic::AtomicI32;

use super::*;

/// A C object that flushes through its one callback when freed.
#[repr(C)]
struct CObject {
    f: Option<HookPtr>,
    ud: *mut c_void,
}

/// `archive_write_new`: an object with no callback yet.
fn c_object_new() -> CHandle {
    CHandle(Box::into_raw(Box::new(CObject {
        f: None,
        ud: ptr::null_mut(),
    })))
}

/// `archive_write_open`: registers the callback and its user data.
unsafe fn c_object_open(obj: CHandle, f: HookPtr, ud: *mut c_void) {
    // SAFETY: the caller passes a live object.
    unsafe {
        (*obj.0).f = Some(f);
        (*obj.0).ud = ud;
    }
}

/// `archive_write_free`: calls the callback with `n` (a last flush), then
/// frees the object. What the callback returned (`c_int::MIN` with none).
unsafe extern "C" fn c_object_free(obj: CHandle, n: c_int) -> c_int {
    // SAFETY: the caller passes a live object, freed once, here; its
    // callback and user data go together.
    unsafe {
        let obj = Box::from_raw(obj.0);
        match obj.f {
            Some(f) => f(obj.ud, n),
            None => c_int::MIN,
        }
    }
}

/// The pointer to a C object, which the state owns (C does not care about
/// Rust's auto traits).
#[derive(Clone, Copy)]
#[repr(transparent)]
struct CHandle(*mut CObject);
// SAFETY: the simulated C object is used by one thread at a time: whoever
// owns the state that owns it.
unsafe impl Send for CHandle {}
// SAFETY: as above; shared, it is only copied.
unsafe impl Sync for CHandle {}

/// Owns the C object and frees it when dropped; records what the callback
/// C called meanwhile returned, and counts its drops.
struct Owner {
    obj: CHandle,
    got: Arc<AtomicI32>,
    drops: Arc<AtomicU32>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the object is this owner's, freed once, here.
        let got = unsafe { c_object_free(self.obj, 0) };
        self.got.store(got, Ordering::SeqCst);
    }
}

/// A C object and the owner that frees it, the callback's value during
/// the free, and the owner's drops.
fn owner() -> (Owner, CHandle, Arc<AtomicI32>, Arc<AtomicU32>) {
    let obj = c_object_new();
    let got = Arc::new(AtomicI32::new(i32::MAX));
    let drops = Arc::new(AtomicU32::new(0));
    let owner = Owner {
        obj,
        got: got.clone(),
        drops: drops.clone(),
    };
    (owner, obj, got, drops)
}

const DESTROYED: &str = "refused the call: it was called after it was destroyed (by C's \
                         destroy-notify or destroy entry, or by Rust dropping its owner or ending its scope)";

/// Runs `destroy` under a guard, which re-raises the kept refusal of the
/// call C made meanwhile: asserts it names `callback` and the destroy.
fn refused_under_resume(callback: &str, destroy: impl FnOnce()) {
    let payload = panic_payload(|| resume_panics(destroy));
    let msg = message(&*payload);
    assert!(
        msg.starts_with(&format!("ffi-callback: `{callback}` {DESTROYED}")),
        "{msg}"
    );
}

/// Poisons a boxed `resume` callback the way an application meets it: a
/// panic, kept and re-raised by its guard (whose ticket the holder keeps).
fn poison(f: HookPtr, ud: *mut c_void) {
    // SAFETY: the callback's own function and user data, alive.
    let payload = panic_payload(|| resume_panics(|| unsafe { f(ud, 1) }));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
}

/// The closure of the hooks below: panics when called with 1, else
/// returns `n + 10`; it owns the C object that calls it.
fn hook(owner: Owner) -> impl FnMut(c_int) -> c_int + Send + 'static {
    move |n| {
        let _ = &owner;
        if n == 1 {
            panic_any(Boom(1))
        }
        n + 10
    }
}

/// A `local` hook (GLib's, on its main context's thread).
#[callback(local, fallback = -1)]
type LocalHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A hook C may call on any thread, one call at a time.
#[callback(send, on_panic = fallback, fallback = -1)]
type SendHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A hook C may call on several threads at once.
#[callback(sync, on_panic = fallback, fallback = -1)]
type SyncHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn c_calls_back_while_the_state_is_dropped_by_its_destroy_notify() {
    let (owner, obj, got, drops) = owner();
    let raw = Hook::boxed(hook(owner)).into_raw();
    // SAFETY: the object is alive; it keeps the callback until it is freed.
    unsafe { c_object_open(obj, raw.function, raw.user_data) };
    // Poisoned earlier: the holder keeps the released ticket, and the call
    // during the drop heals it (reading the ticket) before it is refused.
    poison(raw.function, raw.user_data);
    refused_under_resume("hostile_c::Hook", || {
        // SAFETY: C's one destroy of the callback it owns.
        unsafe { (raw.destroy)(raw.user_data) }
    });
    assert_eq!(got.load(Ordering::SeqCst), -1, "C got the fallback");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped once");
}

#[test]
fn c_calls_back_while_the_state_of_a_local_callback_is_dropped_by_its_destroy_notify() {
    let (owner, obj, got, drops) = owner();
    let raw = LocalHook::boxed(hook(owner)).into_raw();
    // SAFETY: as above.
    unsafe { c_object_open(obj, raw.function, raw.user_data) };
    poison(raw.function, raw.user_data);
    refused_under_resume("hostile_c::calls_during_the_destroy::LocalHook", || {
        // SAFETY: as above.
        unsafe { (raw.destroy)(raw.user_data) }
    });
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn c_calls_back_while_the_state_of_a_send_callback_is_dropped_by_its_destroy_notify() {
    install_reporter();
    let (owner, obj, got, drops) = owner();
    let raw = SendHook::boxed(hook(owner)).into_raw();
    // SAFETY: as above.
    unsafe { c_object_open(obj, raw.function, raw.user_data) };
    // SAFETY: as above.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped and freed once");
    assert_eq!(
        reports_of("hostile_c::calls_during_the_destroy::SendHook"),
        [ReportKind::Refused]
    );
}

#[test]
fn c_calls_back_while_the_state_of_a_sync_callback_is_dropped_by_its_destroy_notify() {
    install_reporter();
    let (owner, obj, got, drops) = owner();
    let raw = SyncHook::boxed(move |n| {
        let _ = &owner;
        n + 10
    })
    .into_raw();
    // SAFETY: as above.
    unsafe { c_object_open(obj, raw.function, raw.user_data) };
    // SAFETY: as above.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        reports_of("hostile_c::calls_during_the_destroy::SyncHook"),
        [ReportKind::Refused]
    );
}

/// A hook whose refusals C receives as `-1` and reports, kept by Rust.
#[callback(send, on_panic = fallback, fallback = -1)]
type KeptSendHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn c_calls_back_while_rust_drops_a_kept_send_callback() {
    install_reporter();
    let (owner, obj, got, drops) = owner();
    let kept = KeptSendHook::boxed(hook(owner));
    // SAFETY: the object is alive; the `Boxed` outlives its use.
    unsafe { c_object_open(obj, kept.function(), kept.user_data()) };
    drop(kept);
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        reports_of("hostile_c::calls_during_the_destroy::KeptSendHook"),
        [ReportKind::Refused]
    );
}

/// A hook whose refusal, on another thread, waits in the reporter.
#[callback(send, on_panic = fallback, fallback = -1)]
type SlowSendHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn c_calls_back_on_another_thread_while_the_state_is_dropped_and_the_call_outlives_the_drop() {
    // C's free hands the last flush to a worker thread and returns before
    // the worker's call has: the refused call still holds the holder after
    // the state's drop, and the holder is freed when it lets go, once.
    install_reporter();
    let (in_report, wait_in_report) = mpsc::channel::<()>();
    let (go_on, wait_go_on) = mpsc::channel::<()>();
    let wait_go_on = Mutex::new(wait_go_on);
    *ON_REPORT.lock().unwrap_or_else(PoisonError::into_inner) = Some((
        "hostile_c::calls_during_the_destroy::SlowSendHook".to_owned(),
        Box::new(move || {
            in_report.send(()).unwrap();
            wait_go_on.lock().unwrap().recv().unwrap();
        }),
    ));
    let worker = Arc::new(Mutex::new(None::<thread::JoinHandle<c_int>>));
    let drops = Arc::new(AtomicU32::new(0));
    struct Flusher {
        registered: Arc<Mutex<Option<(HookPtr, SendPtr)>>>,
        worker: Arc<Mutex<Option<thread::JoinHandle<c_int>>>>,
        wait_in_report: Mutex<mpsc::Receiver<()>>,
        drops: Arc<AtomicU32>,
    }
    impl Drop for Flusher {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            let (f, ud) = self.registered.lock().unwrap().unwrap();
            // The holder is alive while its state is dropped; the call is
            // refused.
            let call = thread::spawn(move || {
                let ud = ud;
                // SAFETY: as above.
                unsafe { f(ud.0, 0) }
            });
            // Until the call is being refused, then return.
            self.wait_in_report.lock().unwrap().recv().unwrap();
            *self.worker.lock().unwrap() = Some(call);
        }
    }
    let registered = Arc::new(Mutex::new(None));
    let flusher = Flusher {
        registered: registered.clone(),
        worker: worker.clone(),
        wait_in_report: Mutex::new(wait_in_report),
        drops: drops.clone(),
    };
    let raw = SlowSendHook::boxed(move |n| {
        let _ = &flusher;
        n
    })
    .into_raw();
    *registered.lock().unwrap() = Some((raw.function, SendPtr(raw.user_data)));
    // SAFETY: C's one destroy.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    go_on.send(()).unwrap();
    let call = worker.lock().unwrap().take().unwrap();
    assert_eq!(call.join().unwrap(), -1, "refused");
}

// ---------------------------------------------------------------------------
// Sets.
// ---------------------------------------------------------------------------

/// libarchive's write callback, on a set: `DESTROY` ends it.
#[callback(fallback = -1)]
trait Archive {
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

/// The same under `send`, whose refusals C receives as `-1` and reports.
#[callback(send, on_panic = fallback, fallback = -1)]
trait SendArchive {
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

/// The same, for the test of `DESTROY` (each test reads its own reports).
#[callback(send, on_panic = fallback, fallback = -1)]
trait DestroyedSendArchive {
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

/// A set whose destroy entry is `close(self)`.
#[callback(fallback = -1)]
trait Closing {
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> c_int;
}

/// The same under `send`.
#[callback(send, on_panic = fallback, fallback = -1)]
trait SendClosing {
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> c_int;
}

/// The state of the sets: owns the C object (freed in its drop, or by
/// `close` when `free_in_close`).
struct Writer {
    owner: Option<Owner>,
    free_in_close: bool,
}

impl Writer {
    fn write(&mut self, n: c_int) -> c_int {
        if n == 1 {
            panic_any(Boom(1))
        }
        n + 10
    }

    fn close(mut self) -> c_int {
        if self.free_in_close {
            let owner = self.owner.take();
            drop(owner);
        }
        7
    }
}

impl Archive for Writer {
    fn write(&mut self, n: c_int) -> c_int {
        Writer::write(self, n)
    }
}

impl SendArchive for Writer {
    fn write(&mut self, n: c_int) -> c_int {
        Writer::write(self, n)
    }
}

impl DestroyedSendArchive for Writer {
    fn write(&mut self, n: c_int) -> c_int {
        Writer::write(self, n)
    }
}

impl Closing for Writer {
    fn write(&mut self, n: c_int) -> c_int {
        Writer::write(self, n)
    }
    fn close(self) -> c_int {
        Writer::close(self)
    }
}

impl SendClosing for Writer {
    fn write(&mut self, n: c_int) -> c_int {
        Writer::write(self, n)
    }
    fn close(self) -> c_int {
        Writer::close(self)
    }
}

fn writer(free_in_close: bool) -> (Writer, CHandle, Arc<AtomicI32>, Arc<AtomicU32>) {
    let (owner, obj, got, drops) = owner();
    let writer = Writer {
        owner: Some(owner),
        free_in_close,
    };
    (writer, obj, got, drops)
}

#[test]
fn c_calls_back_while_rust_drops_a_set_s_state() {
    let (state, obj, got, drops) = writer(false);
    let set = ArchiveExt::boxed(state);
    let ud = set.user_data();
    // SAFETY: the object is alive; the `BoxedSet` outlives its use.
    unsafe { c_object_open(obj, <Writer as ArchiveExt>::WRITE, ud) };
    poison(<Writer as ArchiveExt>::WRITE, ud);
    refused_under_resume(
        "hostile_c::calls_during_the_destroy::Archive::write",
        || drop(set),
    );
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn c_calls_back_while_rust_drops_a_send_set_s_state() {
    install_reporter();
    let (state, obj, got, drops) = writer(false);
    let set = SendArchiveExt::boxed(state);
    // SAFETY: as above.
    unsafe { c_object_open(obj, <Writer as SendArchiveExt>::WRITE, set.user_data()) };
    drop(set);
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        reports_of("hostile_c::calls_during_the_destroy::SendArchive::write"),
        [ReportKind::Refused]
    );
}

#[test]
fn c_calls_back_while_destroy_drops_a_set_s_state() {
    let (state, obj, got, drops) = writer(false);
    let ud = ArchiveExt::boxed(state).into_raw();
    // SAFETY: the object is alive; C ends the state after its last use.
    unsafe { c_object_open(obj, <Writer as ArchiveExt>::WRITE, ud) };
    poison(<Writer as ArchiveExt>::WRITE, ud);
    refused_under_resume(
        "hostile_c::calls_during_the_destroy::Archive::write",
        || {
            // SAFETY: C's one destroy of the state it owns.
            unsafe { <Writer as ArchiveExt>::DESTROY(ud) }
        },
    );
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn c_calls_back_while_destroy_drops_a_send_set_s_state() {
    install_reporter();
    let (state, obj, got, drops) = writer(false);
    let ud = DestroyedSendArchiveExt::boxed(state).into_raw();
    // SAFETY: as above.
    unsafe { c_object_open(obj, <Writer as DestroyedSendArchiveExt>::WRITE, ud) };
    // SAFETY: as above.
    unsafe { <Writer as DestroyedSendArchiveExt>::DESTROY(ud) };
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        reports_of("hostile_c::calls_during_the_destroy::DestroyedSendArchive::write"),
        [ReportKind::Refused]
    );
}

#[test]
fn c_calls_back_from_inside_a_set_s_destroy_entry() {
    let (state, obj, got, drops) = writer(true);
    let ud = ClosingExt::boxed(state).into_raw();
    // SAFETY: the object is alive; `close` frees it.
    unsafe { c_object_open(obj, <Writer as ClosingExt>::WRITE, ud) };
    let mut closed = 0;
    refused_under_resume(
        "hostile_c::calls_during_the_destroy::Closing::write",
        || {
            // SAFETY: C's one destroy entry call.
            closed = unsafe { <Writer as ClosingExt>::CLOSE(ud) }
        },
    );
    assert_eq!(closed, 7, "the entry ran");
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn c_calls_back_while_a_set_s_destroy_entry_drops_the_state() {
    let (state, obj, got, drops) = writer(false);
    let ud = ClosingExt::boxed(state).into_raw();
    // SAFETY: as above; the state's drop at the end of `close` frees it.
    unsafe { c_object_open(obj, <Writer as ClosingExt>::WRITE, ud) };
    let mut closed = 0;
    refused_under_resume(
        "hostile_c::calls_during_the_destroy::Closing::write",
        || {
            // SAFETY: as above.
            closed = unsafe { <Writer as ClosingExt>::CLOSE(ud) }
        },
    );
    assert_eq!(closed, 7);
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn c_calls_back_from_inside_a_send_set_s_destroy_entry() {
    install_reporter();
    let (state, obj, got, drops) = writer(true);
    let ud = SendClosingExt::boxed(state).into_raw();
    // SAFETY: as above.
    unsafe { c_object_open(obj, <Writer as SendClosingExt>::WRITE, ud) };
    // SAFETY: as above.
    let closed = unsafe { <Writer as SendClosingExt>::CLOSE(ud) };
    assert_eq!(closed, 7);
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        reports_of("hostile_c::calls_during_the_destroy::SendClosing::write"),
        [ReportKind::Refused]
    );
}

#[test]
fn c_calls_back_while_a_poisoned_set_s_destroy_entry_drops_the_state() {
    // A destroy entry on a poisoned state drops it without running.
    let (state, obj, got, drops) = writer(true);
    let ud = ClosingExt::boxed(state).into_raw();
    // SAFETY: as above.
    unsafe { c_object_open(obj, <Writer as ClosingExt>::WRITE, ud) };
    let mut closed = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: the set's own entries; `close` comes while the panic
            // is kept (the guard has not returned).
            unsafe {
                <Writer as ClosingExt>::WRITE(ud, 1);
                closed = <Writer as ClosingExt>::CLOSE(ud);
            }
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    assert_eq!(closed, -1, "the entry did not run");
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------
// Once-callbacks.
// ---------------------------------------------------------------------------

#[test]
fn c_calls_back_while_an_uncalled_once_callback_is_dropped_by_its_destroy_notify() {
    let (owner, obj, got, drops) = owner();
    let raw = Hook::once(move |n| {
        drop(owner);
        n
    })
    .into_raw_with_destroy();
    // SAFETY: as above.
    unsafe { c_object_open(obj, raw.function, raw.user_data) };
    let payload = panic_payload(|| {
        // SAFETY: C's one destroy, the callback never called.
        resume_panics(|| unsafe { (raw.destroy)(raw.user_data) })
    });
    assert!(
        message(&*payload).contains("it was called after it was destroyed"),
        "{}",
        message(&*payload)
    );
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// A hook C destroys twice.
#[callback(send, on_panic = fallback, fallback = -1)]
type AgainHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn c_destroys_again_while_the_state_is_dropped_by_its_destroy_notify() {
    // A second destroy while the first one's drop runs: the holder is still
    // alive, so it is absorbed, as during a deferred destroy.
    struct DestroysAgain {
        registered: Arc<Mutex<Option<(DestroyNotify, SendPtr)>>>,
        drops: Arc<AtomicU32>,
    }
    impl Drop for DestroysAgain {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            let registered = self.registered.lock().unwrap().take();
            if let Some((destroy, ud)) = registered {
                // SAFETY: the holder is alive while its state is dropped.
                unsafe { destroy(ud.0) };
            }
        }
    }
    for once in [false, true] {
        let slot = Arc::new(Mutex::new(None));
        let drops = Arc::new(AtomicU32::new(0));
        let state = DestroysAgain {
            registered: slot.clone(),
            drops: drops.clone(),
        };
        let (ud, destroy) = if once {
            let raw = AgainHook::once(move |n| {
                let _ = &state;
                n
            })
            .into_raw_with_destroy();
            (raw.user_data, raw.destroy)
        } else {
            let raw = AgainHook::boxed(move |n| {
                let _ = &state;
                n
            })
            .into_raw();
            (raw.user_data, raw.destroy)
        };
        *slot.lock().unwrap() = Some((destroy as DestroyNotify, SendPtr(ud)));
        // SAFETY: C's first destroy.
        unsafe { destroy(ud) };
        assert_eq!(drops.load(Ordering::SeqCst), 1, "once: {once}");
    }
}

// ---------------------------------------------------------------------------
// Borrowed holders (`new`, `scope`, `try_scope`, `scope_once`): no destroy
// frees them, but their drop drops the closure, which may free its C object
// too. The call C makes then is refused as after a destroy, under the guard
// of `scope` (or the caller's, for `new`).
// ---------------------------------------------------------------------------

#[test]
fn c_calls_back_while_the_closure_of_a_new_callback_is_dropped() {
    let (owner, obj, got, drops) = owner();
    refused_under_resume("hostile_c::Hook", || {
        let cb = Hook::new(hook(owner));
        // SAFETY: the object is alive; `cb`, which does not move, outlives
        // every call C makes with it (the last one is during its drop, in
        // place, at the end of this block).
        unsafe { c_object_open(obj, cb.function(), cb.user_data()) };
        // Poisoned earlier: the call during the drop heals it (reading the
        // ticket, still alive) before it is refused.
        poison(cb.function(), cb.user_data());
    });
    assert_eq!(got.load(Ordering::SeqCst), -1, "C got the fallback");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped once");
}

#[test]
fn c_calls_back_while_scope_drops_the_closure() {
    let (owner, obj, got, drops) = owner();
    refused_under_resume("hostile_c::Hook", || {
        Hook::scope(hook(owner), |f, ud| {
            // SAFETY: the object is alive; the closure owns it and frees it
            // when `scope` drops the closure.
            unsafe { c_object_open(obj, f, ud) }
        })
    });
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn c_calls_back_while_try_scope_drops_the_closure() {
    let (owner, obj, got, drops) = owner();
    refused_under_resume("hostile_c::Hook", || {
        let done: Result<(), std::convert::Infallible> = Hook::try_scope(hook(owner), |f, ud| {
            // SAFETY: as above.
            unsafe { c_object_open(obj, f, ud) }
        });
        let Ok(()) = done;
    });
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn c_calls_back_while_scope_once_drops_the_uncalled_closure() {
    let (owner, obj, got, drops) = owner();
    let payload = panic_payload(|| {
        Hook::scope_once(
            move |n| {
                drop(owner);
                n
            },
            |f, ud| {
                // SAFETY: as above; never called, the closure is dropped
                // when `scope_once` returns.
                unsafe { c_object_open(obj, f, ud) }
            },
        )
    });
    assert!(
        message(&*payload).contains("it was called after it was destroyed"),
        "{}",
        message(&*payload)
    );
    assert_eq!(got.load(Ordering::SeqCst), -1);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped once");
}
