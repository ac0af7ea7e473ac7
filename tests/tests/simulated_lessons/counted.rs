//! Issue 17.2: `Arc<T>` (and, on one thread, `Rc<T>`) user data. C holds
//! one count (made by `name::user_data(arc)`, dropped by
//! `name::release(ud)`); each call takes a count of its own, so a callback
//! that makes C replace its own user data while it runs frees nothing under
//! itself. Counts are checked here, and Miri checks that nothing is used
//! after its free and that everything is freed.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ffi_callback::{callback, resume_panics};

/// The state a binding keeps behind the count (OpenSSL's new-session
/// callback state).
struct Session {
    id: c_int,
    drops: Arc<AtomicU32>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

type SessionCb = unsafe extern "C" fn(*mut Ctx, c_int, *mut c_void) -> c_int;

/// A C context that keeps one callback, its user data, and the function
/// that frees that user data when it is replaced.
#[repr(C)]
struct Ctx {
    cb: Option<SessionCb>,
    ud: *mut c_void,
    free_ud: Option<unsafe extern "C" fn(*mut c_void)>,
}

fn new_ctx() -> Ctx {
    Ctx {
        cb: None,
        ud: ptr::null_mut(),
        free_ud: None,
    }
}

/// Replaces the callback; frees the old user data (possibly from inside
/// the old callback's own call).
unsafe extern "C" fn c_ctx_set(
    ctx: *mut Ctx,
    cb: Option<SessionCb>,
    ud: *mut c_void,
    free_ud: Option<unsafe extern "C" fn(*mut c_void)>,
) {
    // SAFETY: the caller passes a valid context; the old user data is freed
    // once, after the new registration is in place.
    unsafe {
        let (old_ud, old_free) = ((*ctx).ud, (*ctx).free_ud.take());
        (*ctx).cb = cb;
        (*ctx).ud = ud;
        (*ctx).free_ud = free_ud;
        if let Some(free) = old_free {
            free(old_ud);
        }
    }
}

unsafe extern "C" fn c_ctx_fire(ctx: *mut Ctx, n: c_int) -> c_int {
    // SAFETY: the caller passes a valid context with a consistent
    // registration.
    unsafe {
        match (*ctx).cb {
            Some(cb) => cb(ctx, n, (*ctx).ud),
            None => c_int::MIN,
        }
    }
}

thread_local! {
    /// `(count on entry, count after the replacement)` for each call.
    static COUNTS: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

fn counts() -> Vec<(usize, usize)> {
    COUNTS.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

#[callback(fallback = -1)]
extern "C" fn on_session(ctx: *mut Ctx, n: c_int, #[user_data] session: Arc<Session>) -> c_int {
    let before = Arc::strong_count(&session);
    if n == 1 {
        // The callback replaces itself: C drops its count of `session`.
        let next = Arc::new(Session {
            id: session.id + 1,
            drops: session.drops.clone(),
        });
        // SAFETY: `ctx` is the valid context C passed; the new user data is
        // made for `on_session`, and `release_session` releases it.
        unsafe {
            c_ctx_set(
                ctx,
                Some(on_session),
                on_session::user_data(next),
                Some(release_session),
            );
        }
    }
    let after = Arc::strong_count(&session);
    COUNTS.with(|c| c.borrow_mut().push((before, after)));
    // Still usable: this call holds a count of its own.
    session.id * 10 + n
}

unsafe extern "C" fn release_session(ud: *mut c_void) {
    // SAFETY: C calls this once per user data it got from
    // `on_session::user_data`.
    unsafe { on_session::release(ud) }
}

#[test]
fn arc_callback_replacing_its_own_user_data_frees_nothing_under_itself() {
    counts();
    let drops = Arc::new(AtomicU32::new(0));
    let first = Arc::new(Session {
        id: 1,
        drops: drops.clone(),
    });
    let weak = Arc::downgrade(&first);
    let mut ctx = new_ctx();
    let ctx_ptr = &raw mut ctx;
    // SAFETY: C owns one count, released by `release_session`.
    unsafe {
        c_ctx_set(
            ctx_ptr,
            Some(on_session),
            on_session::user_data(first),
            Some(release_session),
        );
    }
    assert_eq!(weak.strong_count(), 1, "C holds the only count");

    // SAFETY: the registration is consistent for every call.
    let got = resume_panics(|| unsafe { [0, 1, 2].map(|n| c_ctx_fire(ctx_ptr, n)) });
    assert_eq!(got, [10, 11, 22]);
    // Call 1 ran on its own count after C released its one; the first
    // session was freed when call 1 returned, not before.
    assert_eq!(counts(), [(2, 2), (2, 1), (2, 2)]);
    assert_eq!(weak.strong_count(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    // SAFETY: unregisters; C releases the second session's count.
    unsafe { c_ctx_set(ctx_ptr, None, ptr::null_mut(), None) };
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn arc_release_drops_cs_count() {
    let drops = Arc::new(AtomicU32::new(0));
    let session = Arc::new(Session {
        id: 3,
        drops: drops.clone(),
    });
    let ud = on_session::user_data(session.clone());
    assert_eq!(Arc::strong_count(&session), 2);
    let mut ctx = new_ctx();
    // SAFETY: C holds the count made above; no free function is given, so
    // the Rust side releases it below.
    unsafe { c_ctx_set(&mut ctx, Some(on_session), ud, None) };
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { c_ctx_fire(&mut ctx, 4) }), 34);
    // The call's own count came and went.
    assert_eq!(Arc::strong_count(&session), 2);
    // SAFETY: `ud` came from `on_session::user_data` and C will not call
    // back with it again.
    unsafe { on_session::release(ud) };
    assert_eq!(Arc::strong_count(&session), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(session);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[callback(fallback = -1)]
extern "C" fn on_rc_session(ctx: *mut Ctx, n: c_int, #[user_data] session: Rc<Session>) -> c_int {
    let before = Rc::strong_count(&session);
    if n == 0 {
        let next = Rc::new(Session {
            id: session.id + 1,
            drops: session.drops.clone(),
        });
        // SAFETY: as in `on_session`, on this one thread.
        unsafe {
            c_ctx_set(
                ctx,
                Some(on_rc_session),
                on_rc_session::user_data(next),
                Some(release_rc_session),
            );
        }
    }
    let after = Rc::strong_count(&session);
    COUNTS.with(|c| c.borrow_mut().push((before, after)));
    session.id * 10 + n
}

unsafe extern "C" fn release_rc_session(ud: *mut c_void) {
    // SAFETY: C calls this once per user data it got from
    // `on_rc_session::user_data`, on this thread.
    unsafe { on_rc_session::release(ud) }
}

#[test]
fn rc_callback_replacing_its_own_user_data_frees_nothing_under_itself() {
    counts();
    let drops = Arc::new(AtomicU32::new(0));
    let first = Rc::new(Session {
        id: 5,
        drops: drops.clone(),
    });
    let weak = Rc::downgrade(&first);
    let mut ctx = new_ctx();
    let ctx_ptr = &raw mut ctx;
    // SAFETY: C owns one count, released by `release_rc_session`.
    unsafe {
        c_ctx_set(
            ctx_ptr,
            Some(on_rc_session),
            on_rc_session::user_data(first),
            Some(release_rc_session),
        );
    }
    // SAFETY: the registration is consistent for every call.
    let got = resume_panics(|| unsafe { [0, 1].map(|n| c_ctx_fire(ctx_ptr, n)) });
    assert_eq!(got, [50, 61]);
    assert_eq!(counts(), [(2, 1), (2, 2)]);
    assert!(weak.upgrade().is_none());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // SAFETY: unregisters; C releases the second session's count.
    unsafe { c_ctx_set(ctx_ptr, None, ptr::null_mut(), None) };
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}
