//! C calls a once-callback twice (also from inside its first call),
//! destroys twice during a call, and calls a callback after its destroy
//! while the free is still deferred: each refused or absorbed while the
//! holder is alive. (After the free nothing can be checked: see the crate
//! root's docs.)

use super::*;

#[test]
fn c_calls_a_once_callback_twice() {
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let calls2 = calls.clone();
    let raw = Hook::once(move |n| {
        drop(track);
        calls2.set(calls2.get() + 1);
        n + 1
    })
    .into_raw_with_destroy();
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: two calls before the destroy are within the API (the
            // second is refused).
            got.push(unsafe { (raw.function)(raw.user_data, 1) });
            // SAFETY: as above.
            got.push(unsafe { (raw.function)(raw.user_data, 2) });
        })
    });
    assert_eq!(got, [2, -1]);
    assert_eq!((calls.get(), drops.get()), (1, 1));
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::Hook` refused the call: it was called a second time, but its \
         closure is `FnOnce` and was already taken (by the first call, or by `Once::into_inner`)"
    );
    // SAFETY: the destroy-notify, once.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_calls_a_scope_once_callback_twice() {
    // A password prompt C should ask once, asked twice during the call.
    let (track, drops) = tracked();
    let calls = Cell::new(0);
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        Hook::scope_once(
            |n| {
                drop(track);
                calls.set(calls.get() + 1);
                n * 3
            },
            // SAFETY: `f`/`ud` are alive for the scope; C calls twice.
            |f, ud| got = unsafe { vec![f(ud, 1), f(ud, 2)] },
        )
    });
    assert_eq!(got, [3, -1]);
    assert_eq!((calls.get(), drops.get()), (1, 1));
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::Hook` refused the call: it was called a second time, but its \
         closure is `FnOnce` and was already taken (by the first call, or by `Once::into_inner`)"
    );
}

#[test]
fn c_calls_a_once_callback_again_from_inside_its_call() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let inner = Rc::new(Cell::new(0));
    let inner2 = inner.clone();
    let raw = Hook::once(move |n| {
        let _ = &track;
        // SAFETY: the registry is valid; C calls the same once-callback
        // again while its first call runs.
        inner2.set(unsafe { c_hook_fire(reg_ptr, n + 1) });
        n
    })
    .into_raw_with_destroy();
    // SAFETY: the registry owns the once-callback and destroys it once.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    let mut got = 0;
    // SAFETY: the registry is valid.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { c_hook_fire(reg_ptr, 1) }));
    assert_eq!((got, inner.get()), (1, -1));
    assert!(
        message(&*payload).starts_with(
            "ffi-callback: `hostile_c::Hook` refused the call: it was called a second time"
        ),
        "{}",
        message(&*payload)
    );
    assert_eq!(drops.get(), 1, "consumed by the first call");
    // SAFETY: destroys it, once.
    unsafe { c_hook_clear(reg_ptr) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_destroys_twice_during_the_call() {
    // C's bug; while the call runs the holder is still alive, so the second
    // destroy finds the first one pending and adds nothing: freed once,
    // after the call. (A second destroy after the free reads freed memory:
    // not testable, C's bug; see the module docs.)
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let raw = Hook::boxed(move |n| {
        let _ = &track;
        // SAFETY: the registry is valid; the buggy C destroys the running
        // hook twice.
        unsafe {
            c_hook_destroy_but_keep(reg_ptr);
            c_hook_destroy_but_keep(reg_ptr);
        }
        n
    })
    .into_raw();
    // SAFETY: the registry owns the hook.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    // SAFETY: the registry is valid; its hook is alive for this call.
    let got = resume_panics(|| unsafe { c_hook_fire(reg_ptr, 9) });
    assert_eq!(got, 9);
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_calls_after_destroy_while_the_free_is_deferred() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let inner = Rc::new(Cell::new(0));
    let inner2 = inner.clone();
    let raw = ReentrantHook::boxed(move |n| {
        let _ = &track;
        if n == 0 {
            // SAFETY: the registry is valid. The buggy C destroys the
            // running hook but keeps it registered, and calls it again
            // (re-entry is allowed for this type: only the destroy refuses).
            unsafe {
                c_hook_destroy_but_keep(reg_ptr);
                inner2.set(c_hook_fire(reg_ptr, 1));
            }
        }
        n + 50
    })
    .into_raw();
    // SAFETY: the registry owns the hook.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    let mut got = 0;
    // SAFETY: the registry is valid; the hook is alive for this call.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { c_hook_fire(reg_ptr, 0) }));
    assert_eq!((got, inner.get()), (50, -1));
    // The refusal for a destroyed holder (not the re-entry one: this type
    // may be re-entered).
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `hostile_c::ReentrantHook` refused the call: it was called after it \
             was destroyed (by C's destroy-notify or destroy entry, or by Rust dropping its owner or ending its scope)"
        ),
        "{msg}"
    );
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// C ends a callback that Rust still owns (a kept `BoxedSet` or `Boxed`, not
// handed over with `into_raw`): the destroy is refused, as for a `scope`,
// and the owner's drop frees it, once.
// ---------------------------------------------------------------------------

/// fopencookie's functions, cut down: `write`, and `close`, the destroy
/// entry `fclose` calls.
#[callback]
trait Cookie {
    #[callback(fallback = -1)]
    unsafe extern "C" fn write(&mut self, #[user_data] cookie: *mut c_void, n: c_int) -> c_int;
    #[callback(fallback = -1)]
    unsafe extern "C" fn close(self, #[user_data] cookie: *mut c_void) -> c_int;
}

/// sqlite's aggregate, cut down: `step`, and `DESTROY` as its `xDestroy`.
#[callback]
trait Aggregate {
    #[callback(fallback = -1)]
    unsafe extern "C" fn step(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

/// The state behind both sets: what was written, and its drops.
struct Written {
    log: WriteLog,
    _drops: Tracked,
}

/// What the entries wrote, shared with the test.
type WriteLog = Rc<RefCell<Vec<c_int>>>;

fn written() -> (Written, WriteLog, Rc<Cell<u32>>) {
    let (track, drops) = tracked();
    let log = Rc::new(RefCell::new(Vec::new()));
    let state = Written {
        log: log.clone(),
        _drops: track,
    };
    (state, log, drops)
}

impl Cookie for Written {
    fn write(&mut self, n: c_int) -> c_int {
        self.log.borrow_mut().push(n);
        n
    }

    fn close(self) -> c_int {
        self.log.borrow_mut().push(0);
        0
    }
}

impl Aggregate for Written {
    fn step(&mut self, n: c_int) -> c_int {
        self.log.borrow_mut().push(n);
        n
    }
}

const OWNED_BY_RUST: &str = "it was destroyed by C, but a `Boxed` or `BoxedSet` that Rust keeps \
                             still owns it and frees it when dropped";

#[test]
fn c_closes_a_cookie_stream_whose_state_rust_keeps() {
    let (state, log, drops) = written();
    let set = CookieExt::boxed(state);
    let cookie = set.user_data();
    let (mut wrote, mut closed) = (0, 0);
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: the set's own user data, alive (the `BoxedSet` keeps
            // it); fclose calls `close`, which must not free what the
            // `BoxedSet` still owns.
            unsafe {
                wrote = <Written as CookieExt>::WRITE(cookie, 7);
                closed = <Written as CookieExt>::CLOSE(cookie);
            }
        })
    });
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `hostile_c::once_and_destroy_misuse::Cookie::close` refused the call: "
        ) && msg.contains(OWNED_BY_RUST),
        "{msg}"
    );
    assert_eq!((wrote, closed), (7, -1));
    assert_eq!(*log.borrow(), [7], "`close` did not run");
    assert_eq!(drops.get(), 0, "the state is still the `BoxedSet`'s");
    // The guard returned: the kept state runs again.
    // SAFETY: as above.
    assert_eq!(unsafe { <Written as CookieExt>::WRITE(cookie, 8) }, 8);
    assert_eq!(*log.borrow(), [7, 8]);
    drop(set);
    assert_eq!(drops.get(), 1, "freed once, by the `BoxedSet`");
}

#[test]
fn c_calls_the_destroy_notify_of_a_set_rust_keeps() {
    let (state, log, drops) = written();
    let set = AggregateExt::boxed(state);
    let ud = set.user_data();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: the set's own user data, alive; sqlite calling
            // `xDestroy` on a failed registration, while Rust keeps it.
            unsafe {
                <Written as AggregateExt>::STEP(ud, 3);
                <Written as AggregateExt>::DESTROY(ud);
            }
        })
    });
    assert!(
        message(&*payload).contains(OWNED_BY_RUST),
        "{}",
        message(&*payload)
    );
    assert_eq!(drops.get(), 0);
    // SAFETY: as above.
    assert_eq!(unsafe { <Written as AggregateExt>::STEP(ud, 4) }, 4);
    assert_eq!(*log.borrow(), [3, 4]);
    drop(set);
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_calls_a_destroy_notify_on_a_boxed_callback_rust_keeps() {
    // Two boxed callbacks of one closure type, so that the destroy-notify
    // one hands over fits the other: a C library pairing one
    // registration's destroy with the user data of a callback the binding
    // keeps (curl's socket function has none of its own).
    fn counter(track: Tracked) -> impl FnMut(c_int) -> c_int + 'static {
        move |n| {
            let _ = &track;
            n + 1
        }
    }
    let (track, drops) = tracked();
    let kept = Hook::boxed(counter(track));
    let (spare_track, spare_drops) = tracked();
    let spare = Hook::boxed(counter(spare_track)).into_raw();
    let payload = panic_payload(|| {
        // SAFETY: `kept` is alive; the destroy is the spare's, of the same
        // type, and must not free what `kept` owns.
        resume_panics(|| unsafe { (spare.destroy)(kept.user_data()) })
    });
    let msg = message(&*payload);
    assert!(
        msg.starts_with("ffi-callback: `hostile_c::Hook` refused the call: ")
            && msg.contains(OWNED_BY_RUST),
        "{msg}"
    );
    assert_eq!(drops.get(), 0);
    // SAFETY: `kept`'s own function and user data, alive.
    assert_eq!(unsafe { (kept.function())(kept.user_data(), 1) }, 2);
    drop(kept);
    assert_eq!(drops.get(), 1, "freed once, by the `Boxed`");
    // Handed over, the spare is C's to end.
    // SAFETY: the spare's one destroy.
    unsafe { (spare.destroy)(spare.user_data) };
    assert_eq!(spare_drops.get(), 1);
}

/// A cookie stream whose state may move to other threads (`send`), whose
/// refusals C receives as `-1` and reports.
#[callback(send, on_panic = fallback, fallback = -1)]
trait SendCookie {
    unsafe extern "C" fn write(&mut self, #[user_data] cookie: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn close(self, #[user_data] cookie: *mut c_void) -> c_int;
}

struct SendWritten {
    _drops: SendTracked,
}

impl SendCookie for SendWritten {
    fn write(&mut self, n: c_int) -> c_int {
        n
    }
    fn close(self) -> c_int {
        0
    }
}

#[test]
fn c_closes_a_kept_send_stream_on_another_thread_while_rust_drops_it() {
    install_reporter();
    let (track, drops) = send_tracked();
    let set = SendCookieExt::boxed(SendWritten { _drops: track });
    let cookie = SendPtr(set.user_data());
    let (to_owner, dropped_by_owner) = (mpsc::channel::<()>(), mpsc::channel::<()>());
    let (refusing, wait_for_refusal) = to_owner;
    let (owner_dropped, wait_for_drop) = dropped_by_owner;
    let wait_for_drop = Mutex::new(wait_for_drop);
    // While the refusal of C's `close` is reported (user code, on C's
    // thread), the owner drops its `BoxedSet` on this thread: the refusal
    // must not touch the holder after that.
    *ON_REPORT.lock().unwrap_or_else(PoisonError::into_inner) = Some((
        "hostile_c::once_and_destroy_misuse::SendCookie::close".to_owned(),
        Box::new(move || {
            refusing.send(()).unwrap();
            wait_for_drop.lock().unwrap().recv().unwrap();
        }),
    ));
    let c = thread::spawn(move || {
        let cookie = cookie;
        // SAFETY: the set's own user data, alive until the owner's drop,
        // which waits (above) until the refusal has begun; fclose on
        // another thread, while Rust keeps the state.
        unsafe { <SendWritten as SendCookieExt>::CLOSE(cookie.0) }
    });
    wait_for_refusal.recv().unwrap();
    drop(set);
    assert_eq!(drops.count(), 1, "freed once, by the `BoxedSet`");
    owner_dropped.send(()).unwrap();
    assert_eq!(c.join().unwrap(), -1, "C's close was refused");
    assert_eq!(
        reports_of("hostile_c::once_and_destroy_misuse::SendCookie::close"),
        [ReportKind::Refused]
    );
    assert_eq!(drops.threads(), [thread::current().id()]);
}
