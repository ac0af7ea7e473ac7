//! Where a panic raised inside a callback goes: the thread's resume guard,
//! the messages printed before an abort, and the disposal of payloads that
//! must not unwind into C.
//!
//! Every slow path here is `#[cold]` and non-generic, so the shims stay small
//! and the logic is compiled once; the ones a shim calls on its catch path
//! are `extern "C"`, so the compiler knows they cannot unwind and the shim
//! needs no landing pad for them.

use std::any::Any;
use std::cell::Cell;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A panic payload, as `catch_unwind` returns it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// Names a callback in the messages this crate prints.
#[doc(hidden)]
#[derive(Debug)]
pub struct Site {
    /// `module::path::name` of the callback fn or type.
    pub name: &'static str,
}

/// Where a `resume` panic waits in a [`resume_panics`] guard to be
/// re-raised. The first panic is kept; a later one is dropped (the hook
/// printed both). No `Drop`: `finish` always takes the payload, since the
/// guarded code runs inside `catch_unwind`.
struct KeptPanic(Cell<Option<Payload>>);

impl KeptPanic {
    const fn new() -> KeptPanic {
        KeptPanic(Cell::new(None))
    }

    fn keep(&self, payload: Payload) {
        match self.0.take() {
            None => self.0.set(Some(payload)),
            Some(first) => {
                self.0.set(Some(first));
                dispose(payload);
            }
        }
    }

    /// Returns `value`, or re-raises the kept panic (the earlier cause) in
    /// preference to `own`, the panic of the guarded code itself.
    #[inline(always)]
    fn finish<R>(&self, result: std::thread::Result<R>) -> R {
        match (result, self.0.take()) {
            (Ok(value), None) => value,
            (result, kept) => resume_kept(result.err(), kept),
        }
    }
}

/// `KeptPanic::finish`'s slow path: re-raise the kept panic, else the own.
#[cold]
#[inline(never)]
fn resume_kept(own: Option<Payload>, kept: Option<Payload>) -> ! {
    match (own, kept) {
        (own, Some(kept)) => {
            if let Some(own) = own {
                dispose(own);
            }
            resume_unwind(kept)
        }
        (Some(own), None) => resume_unwind(own),
        (None, None) => unreachable!("finish only takes this path with a panic"),
    }
}

/// The innermost active [`resume_panics`] call on a thread. Lives on that
/// call's stack; the thread state points at it only while it runs.
struct Guard {
    kept: KeptPanic,
}

/// Per-thread state, const-initialised and without a destructor, so reading
/// it is a plain thread-local load.
struct ThreadState {
    guard: Cell<*const Guard>,
    /// True while the innermost guard holds a kept panic: `resume` callbacks
    /// then return their fallback without running user code.
    poisoned: Cell<bool>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState { guard: Cell::new(ptr::null()), poisoned: Cell::new(false) }
    };
}

/// Whether the innermost [`resume_panics`] guard on this thread holds a kept
/// panic. Read only behind [`poison_limit`], off the fast path.
#[inline(always)]
pub(crate) fn thread_poisoned() -> bool {
    THREAD.with(|t| t.poisoned.get())
}

/// A process-wide filter in front of [`thread_poisoned`]: `0` while no
/// thread is poisoned, `0 - k` (wrapping) while `k` threads are. A fn-form
/// shim compares its user-data address with it, `addr <= limit`, which is
/// true for null, and for every pointer while some thread is poisoned: one
/// compare stands for the null and the poison check, and only the cold path
/// reads the thread-local. (Reading a thread-local from a library crate
/// compiles as a call to `__tls_get_addr`, which would make every shim save
/// registers.) Other threads only take the cold path while one is poisoned.
static POISON_LIMIT: AtomicUsize = AtomicUsize::new(0);

#[inline(always)]
pub(crate) fn poison_limit() -> usize {
    POISON_LIMIT.load(Relaxed)
}

/// Sets this thread's poison flag, keeping [`POISON_LIMIT`] in step.
#[inline(always)]
fn set_poisoned(t: &ThreadState, poisoned: bool) {
    if t.poisoned.replace(poisoned) != poisoned {
        if poisoned {
            POISON_LIMIT.fetch_sub(1, Relaxed);
        } else {
            POISON_LIMIT.fetch_add(1, Relaxed);
        }
    }
}

/// Runs `f` (typically the C call that invokes callbacks) and re-raises,
/// with its original payload, the first panic that a `resume` callback kept
/// while `f` ran.
///
/// While a kept panic is pending, every `#[callback]` fn with
/// `on_panic = resume` on this thread returns its fallback without running
/// user code (the C library may keep calling after the error), and a holder
/// whose closure panicked stays poisoned.
///
/// Guards nest: an inner `resume_panics` keeps the panics of the C call it
/// wraps and re-raises them into the callback that called it, where the outer
/// guard keeps them in turn.
///
/// If `f` itself panics while a kept panic is pending, the kept (earlier)
/// panic is the one that propagates; both were printed by the panic hook when
/// they were raised.
///
/// ```
/// use std::ffi::c_void;
/// use ffi_callback::{callback, resume_panics, user_data};
///
/// #[callback]
/// extern "C" fn visit(item: i32, #[user_data] seen: &mut Vec<i32>) -> i32 {
///     assert!(item != 3, "three is not allowed");
///     seen.push(item);
///     0
/// }
///
/// // Stands in for a C library that calls back once per item.
/// unsafe extern "C" fn for_each(cb: Option<unsafe extern "C" fn(i32, *mut c_void) -> i32>, ud: *mut c_void) {
///     for i in 1..=5 {
///         unsafe { cb.unwrap()(i, ud) };
///     }
/// }
///
/// let mut seen: Vec<i32> = Vec::new();
/// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     resume_panics(|| unsafe { for_each(Some(visit), user_data(&mut seen)) })
/// }));
/// let payload = caught.unwrap_err();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"three is not allowed"));
/// assert_eq!(seen, [1, 2]); // calls 4 and 5 did not run user code
/// ```
#[inline]
pub fn resume_panics<R>(f: impl FnOnce() -> R) -> R {
    let guard = Guard {
        kept: KeptPanic::new(),
    };
    let restore = Restore::install(&guard);
    let result = catch_unwind(AssertUnwindSafe(f));
    drop(restore);
    guard.kept.finish(result)
}

/// Puts the outer guard back when a [`resume_panics`] call ends, however it
/// ends.
struct Restore {
    outer_guard: *const Guard,
    outer_poisoned: bool,
}

impl Restore {
    #[inline(always)]
    fn install(guard: &Guard) -> Restore {
        THREAD.with(|t| {
            let restore = Restore {
                outer_guard: t.guard.replace(guard),
                outer_poisoned: t.poisoned.get(),
            };
            set_poisoned(t, false);
            restore
        })
    }
}

impl Drop for Restore {
    #[inline(always)]
    fn drop(&mut self) {
        THREAD.with(|t| {
            t.guard.set(self.outer_guard);
            set_poisoned(t, self.outer_poisoned);
        });
    }
}

/// `on_panic = resume`: keeps `payload` in this thread's innermost guard and
/// poisons the thread, or aborts with a message naming the callback and the
/// fix when no guard is active.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
pub(crate) extern "C" fn keep_for_guard(site: &Site, payload: Payload) {
    let kept = THREAD.with(|t| {
        let guard = t.guard.get();
        if guard.is_null() {
            return Err(payload);
        }
        // SAFETY: a non-null `guard` points at the `Guard` of a `resume_panics`
        // call still running on this thread: `Restore` unsets it before that
        // call returns or unwinds.
        let guard = unsafe { &*guard };
        set_poisoned(t, true);
        guard.kept.keep(payload);
        Ok(())
    });
    if kept.is_err() {
        abort_with(format_args!(
            "the callback `{}` panicked and no `ffi_callback::resume_panics` guard is active \
             on this thread to carry the panic past the C code. Wrap the C call in \
             `ffi_callback::resume_panics(|| unsafe {{ ... }})` (or use the callback type's \
             `scope`), or choose `#[callback(on_panic = abort)]` or `on_panic = fallback`",
            site.name
        ));
    }
}

/// `on_panic = abort`: says which callback panicked (or refused a call),
/// then aborts.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
pub(crate) extern "C" fn abort_on_panic(site: &Site, payload: &Payload) -> ! {
    let what = if is_refusal(payload) {
        "refused a call"
    } else {
        "panicked"
    };
    abort_with(format_args!(
        "the callback `{}` {what} (on_panic = abort). To return a fallback value to C \
         instead, use `on_panic = fallback` (or `resume` on the caller's thread)",
        site.name
    ))
}

/// Whether a payload is one of this crate's refusals (see [`refuse`]).
fn is_refusal(payload: &Payload) -> bool {
    payload
        .downcast_ref::<String>()
        .is_some_and(|message| message.starts_with(REFUSAL_PREFIX))
}

const REFUSAL_PREFIX: &str = "ffi-callback: `";

/// `on_panic = fallback`: says the panic stops here, and drops it.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)] // Rust-to-Rust; `extern "C"` only to be nounwind
pub(crate) extern "C" fn report_and_dispose(site: &Site, payload: Payload) {
    let what = if is_refusal(&payload) {
        "refused a call"
    } else {
        "panicked"
    };
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: the callback `{}` {what} (on_panic = fallback); \
         its fallback value was returned to the C caller",
        site.name
    );
    dispose(payload);
}

/// Drops a payload whose `Drop` may itself panic, without letting that
/// second panic unwind: it is caught, and its own payload disposed of the
/// same way (a chain of panicking payloads is followed a few links deep;
/// past that the rest is leaked rather than risk unbounded recursion).
pub(crate) fn dispose(payload: Payload) {
    let mut payload = payload;
    for _ in 0..DISPOSE_DEPTH {
        match catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

const DISPOSE_DEPTH: usize = 8;

/// Prints `ffi-callback: {message}; aborting` and aborts the process.
#[cold]
#[inline(never)]
pub(crate) fn abort_with(message: std::fmt::Arguments<'_>) -> ! {
    let _ = writeln!(std::io::stderr(), "ffi-callback: {message}; aborting");
    std::process::abort()
}

/// Raises a refusal as a real panic in the callback, so that the panic hook
/// prints it and the callback's policy handles it like any other panic.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn refuse(site: &Site, why: std::fmt::Arguments<'_>) -> ! {
    panic!("{REFUSAL_PREFIX}{}` refused the call: {why}", site.name)
}
