//! Hostile C (DESIGN.md "Hostile C", issue 10): C libraries doing what real
//! ones do and the happy path never shows, played by Rust `extern "C"` fns so
//! that all of it runs under Miri (Stacked and Tree Borrows). One test per
//! behaviour, named for what C does, each asserting the crate's answer:
//! refused (with which message, and the fallback C got), deferred (freed
//! once, after the call, on which thread), or leaked and reported.
//!
//! Where C breaks its own contract in a way no runtime can observe safely,
//! there is no test that runs the undefined behaviour; the line is stated
//! here instead:
//!
//! - **Another callback's user data** (a pointer to a holder of another type
//!   or closure, or to another fn's `T`): the pointer carries no type, so
//!   the trampoline cannot tell; the fn form's generated `# Safety` text
//!   names the one constructor whose value it accepts, and callback types
//!   accept only their own holder's `user_data()`. C's contract.
//! - **Anything after the free** (a second destroy once the first has freed
//!   the holder, a call after `scope` returned or after a destroy that freed
//!   at once, a call of a `once(..).into_raw()` after its call freed it):
//!   the memory is gone, so nothing can be read to refuse it. C's bug. What
//!   *is* handled is everything that happens while the holder is still
//!   alive: a second destroy, or a call, while a destroy is deferred
//!   (`once_and_destroy_misuse`).
//! - **A default-contract (or `reentrant`) callback called from another
//!   thread**: the type declares "called on the caller's thread"; its state
//!   is not atomic and its closure need not be `Send`. C's contract (declare
//!   the type `local`, `send` or `sync` to have it checked). A destroy on
//!   another thread *is* handled: the closure is leaked and reported.
//! - **A `local` callback destroyed on another thread while a call runs on
//!   its home thread**: `local` promises calls on the home thread and
//!   destroys anywhere, but not both at once (GLib frees a source after its
//!   dispatch returns). C's contract.
//! - **A panic inside `fallback = EXPR`**: the process aborts naming the
//!   callback; an abort cannot be observed in-process, so tests/tests/abort.rs
//!   checks it in a subprocess.
//!
//! The modules: `null_user_data`, `after_an_error`, `destroy_during_the_call`,
//! `calls_during_the_destroy` (C calls back while a destroy drops the state),
//! `once_and_destroy_misuse`, `threads`, `reborrows` (a borrowed holder under
//! `&mut` reborrows: Miri's Stacked/Tree Borrows check) and, in debug builds,
//! `reentry_check` (the fn form's `&mut` re-entry check).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::panic::panic_any;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError, mpsc};
use std::thread::{self, ThreadId};

use ffi_callback::{Report, ReportKind, callback, resume_panics, set_reporter};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

#[derive(Debug, PartialEq)]
struct Boom(c_int);

/// Counts its drops (captured by closures to check they are freed once).
struct Tracked(Rc<Cell<u32>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn tracked() -> (Tracked, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    (Tracked(drops.clone()), drops)
}

/// How many times, and on which threads, a `SendTracked` was dropped.
#[derive(Default)]
struct Drops {
    threads: Mutex<Vec<ThreadId>>,
}

impl Drops {
    fn count(&self) -> usize {
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn threads(&self) -> Vec<ThreadId> {
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// `Tracked` for closures that cross threads: records the dropping thread.
struct SendTracked(Arc<Drops>);

impl Drop for SendTracked {
    fn drop(&mut self) {
        self.0
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(thread::current().id());
    }
}

fn send_tracked() -> (SendTracked, Arc<Drops>) {
    let drops = Arc::new(Drops::default());
    (SendTracked(drops.clone()), drops)
}

/// Owned user data: counts its drops.
struct Owned {
    value: c_int,
    drops: Rc<Cell<u32>>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

fn owned(value: c_int) -> (Box<Owned>, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    let owned = Owned {
        value,
        drops: drops.clone(),
    };
    (Box::new(owned), drops)
}

/// A capture that owns no heap memory (so that a closure leaked on purpose
/// is no leak to Miri) and is tied to its thread, like a GLib object: counts
/// its drops in a static.
struct ThreadBound {
    drops: &'static AtomicU32,
    _not_send: PhantomData<*const ()>,
}

impl ThreadBound {
    fn new(drops: &'static AtomicU32) -> Self {
        ThreadBound {
            drops,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ThreadBound {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A raw pointer a simulated C library moves to another thread (C does not
/// care about Rust's auto traits; the crate must).
#[derive(Clone, Copy)]
struct SendPtr(*mut c_void);
// SAFETY: only carries user data to the threads of the simulated C
// libraries below; each test says why that thread may touch it (or checks
// that the crate refuses it).
unsafe impl Send for SendPtr {}
// SAFETY: as above; shared, it is only copied.
unsafe impl Sync for SendPtr {}

// ---------------------------------------------------------------------------
// Reports: one reporter for the whole binary, recording what each callback
// reported. `set_reporter` is process-wide, so it is installed once and never
// replaced, and each test reads only the reports of its own callback type
// (no test shares a reporting type with another), so tests running in
// parallel do not see each other's reports.
// ---------------------------------------------------------------------------

static REPORTS: Mutex<Vec<(ReportKind, String)>> = Mutex::new(Vec::new());

/// Run by the reporter when the callback it names reports (once): user
/// code running in the middle of the crate's slow paths, where a C library
/// or the application may do something on another thread.
type ReportAction = (String, Box<dyn FnOnce() + Send>);
static ON_REPORT: Mutex<Option<ReportAction>> = Mutex::new(None);

fn record(report: &Report<'_>) {
    let callback = report.callback().unwrap_or("").to_owned();
    REPORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((report.kind(), callback.clone()));
    let action = {
        let mut on_report = ON_REPORT.lock().unwrap_or_else(PoisonError::into_inner);
        match on_report.take() {
            Some((name, action)) if name == callback => Some(action),
            other => {
                *on_report = other;
                None
            }
        }
    };
    if let Some(action) = action {
        action();
    }
}

fn install_reporter() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| set_reporter(record));
}

/// What the callback named `name` (`hostile_c::module::Type`) reported so far.
fn reports_of(name: &str) -> Vec<ReportKind> {
    REPORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(_, callback)| callback == name)
        .map(|(kind, _)| *kind)
        .collect()
}

// ---------------------------------------------------------------------------
// The callback types, as C headers declare them.
// ---------------------------------------------------------------------------

/// A hook (sqlite's commit hook, curl's socket function): default contract,
/// `FnMut`, caller's thread, `resume`.
#[callback(fallback = -1)]
type Hook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A hook the C library may re-enter: `Fn`.
#[callback(reentrant, fallback = -1)]
type ReentrantHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// The C function-pointer type all the hooks above share.
type HookPtr = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

/// `GDestroyNotify`, `xDestroy`.
type DestroyNotify = unsafe extern "C" fn(*mut c_void);

/// GLib's `GSourceFunc`: returns `G_SOURCE_CONTINUE` (1) or
/// `G_SOURCE_REMOVE` (0).
#[callback(fallback = 0)]
type SourceFunc = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> c_int;

type SourceFnPtr = unsafe extern "C" fn(*mut c_void) -> c_int;

/// A fn-form callback's C type: user data last.
type Visit = unsafe extern "C" fn(c_int, *mut c_void) -> c_int;

// ---------------------------------------------------------------------------
// The simulated C libraries.
// ---------------------------------------------------------------------------

/// A C object that keeps one hook with its destroy-notify (sqlite's
/// `sqlite3_create_function_v2` / hooks, a GLib signal handler).
#[repr(C)]
struct Registry {
    f: Option<HookPtr>,
    ud: *mut c_void,
    destroy: Option<DestroyNotify>,
}

fn new_registry() -> Registry {
    Registry {
        f: None,
        ud: ptr::null_mut(),
        destroy: None,
    }
}

/// Calls the hook, if any (reading it first: the hook may replace itself).
unsafe extern "C" fn c_hook_fire(reg: *mut Registry, n: c_int) -> c_int {
    // SAFETY: the caller passes a valid registry whose hook and user data go
    // together.
    unsafe {
        let (f, ud) = ((*reg).f, (*reg).ud);
        match f {
            Some(f) => f(ud, n),
            None => c_int::MIN,
        }
    }
}

/// Installs a hook; the old one's user data is destroyed at once, as sqlite
/// does when a function is redefined, even if the old hook is running.
unsafe extern "C" fn c_hook_set(
    reg: *mut Registry,
    f: Option<HookPtr>,
    ud: *mut c_void,
    destroy: Option<DestroyNotify>,
) {
    // SAFETY: the caller passes a valid registry; the old hook's
    // destroy-notify is called once, as its owner promised C may.
    unsafe {
        let old_ud = std::mem::replace(&mut (*reg).ud, ud);
        let old_destroy = std::mem::replace(&mut (*reg).destroy, destroy);
        (*reg).f = f;
        if let Some(old_destroy) = old_destroy {
            old_destroy(old_ud);
        }
    }
}

/// Removes the hook, destroying its user data (at once, even during its
/// call).
unsafe extern "C" fn c_hook_clear(reg: *mut Registry) {
    // SAFETY: forwarded.
    unsafe { c_hook_set(reg, None, ptr::null_mut(), None) }
}

/// A buggy C library: calls the destroy-notify but keeps the hook
/// registered.
unsafe extern "C" fn c_hook_destroy_but_keep(reg: *mut Registry) {
    // SAFETY: the caller passes a valid registry; calling its destroy is the
    // simulated bug each test using this states and keeps within what the
    // crate handles (the holder is still alive: a call of it is running).
    unsafe {
        if let Some(destroy) = (*reg).destroy {
            destroy((*reg).ud);
        }
    }
}

/// `f(n, ud)`: a C library calling a fn-form callback once.
unsafe extern "C" fn c_call(f: Visit, ud: *mut c_void, n: c_int) -> c_int {
    // SAFETY: the caller passes the user data `f` expects.
    unsafe { f(n, ud) }
}

/// A context C passes instead of a user-data parameter (`sqlite3_context`).
#[repr(C)]
struct Ctx {
    user_data: *mut c_void,
}

unsafe extern "C" fn c_ctx_user_data(ctx: *mut Ctx) -> *mut c_void {
    // SAFETY: C passes a valid context.
    unsafe { (*ctx).user_data }
}

/// A GLib main context with one source.
#[repr(C)]
struct MainContext {
    func: Option<SourceFnPtr>,
    data: *mut c_void,
    notify: Option<DestroyNotify>,
}

fn new_main_context() -> MainContext {
    MainContext {
        func: None,
        data: ptr::null_mut(),
        notify: None,
    }
}

/// `g_idle_add_full` / `g_timeout_add_full`.
unsafe extern "C" fn c_source_attach(
    ctx: *mut MainContext,
    func: SourceFnPtr,
    data: *mut c_void,
    notify: DestroyNotify,
) {
    // SAFETY: the caller passes a valid context.
    unsafe {
        (*ctx).func = Some(func);
        (*ctx).data = data;
        (*ctx).notify = Some(notify);
    }
}

/// `g_source_remove`: the hostile version calls the destroy-notify at once,
/// also from inside the source's own dispatch.
unsafe extern "C" fn c_source_remove(ctx: *mut MainContext) {
    // SAFETY: the caller passes a valid context; the notify is called once.
    unsafe {
        (*ctx).func = None;
        let data = std::mem::replace(&mut (*ctx).data, ptr::null_mut());
        if let Some(notify) = (*ctx).notify.take() {
            notify(data);
        }
    }
}

/// `g_main_context_iteration`: dispatches the source, if any; removes it if
/// it returned `G_SOURCE_REMOVE`. Whether it dispatched.
unsafe extern "C" fn c_main_context_iteration(ctx: *mut MainContext) -> bool {
    // SAFETY: the caller passes a valid context whose source's function and
    // data go together.
    unsafe {
        let (func, data) = ((*ctx).func, (*ctx).data);
        let Some(func) = func else { return false };
        if func(data) == 0 {
            c_source_remove(ctx);
        }
        true
    }
}

mod after_an_error;
mod calls_during_the_destroy;
mod destroy_during_the_call;
mod null_user_data;
mod once_and_destroy_misuse;
mod reborrows;
// The check it tests exists only with `debug_assertions`.
#[cfg(debug_assertions)]
mod reentry_check;
mod threads;
