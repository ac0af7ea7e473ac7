//! Names and messages: `fn_type = Name` names a callback type's C
//! function-pointer type; a preset may carry `crate = path` (the runtime
//! re-exported by a binding's facade); a refusal's panic points at the
//! callback's own `#[callback]` item (so the panic hook's line is useful);
//! and a re-entry refusal says how to fix it.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::ops::RangeInclusive;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo, catch_unwind, resume_unwind};
use std::ptr;
use std::sync::Once;

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::{hook, message, panic_payload};

use crate::{Each, each};

// ---------------------------------------------------------------------------
// `fn_type = Name`
// ---------------------------------------------------------------------------

/// A progress callback whose C pointer type the binding names itself.
#[callback(fn_type = ProgressNotify, fallback = -1)]
type Progress = unsafe extern "C" fn(#[user_data] ud: *mut c_void, percent: c_int) -> c_int;

/// The C library's `job_run(notify, ud, steps)`, typed as bindgen types it:
/// `Option<fn>`. Calls `notify(ud, 0), notify(ud, 50), ..` up to 100.
///
/// # Safety
/// `ud` is what `notify` expects.
unsafe fn c_job_run(notify: Option<ProgressNotify>, ud: *mut c_void, steps: c_int) -> Vec<c_int> {
    let Some(notify) = notify else {
        return Vec::new();
    };
    // SAFETY: forwarded.
    (0..steps).map(|i| unsafe { notify(ud, i * 50) }).collect()
}

/// Only compiles if `ProgressNotify` is exactly the C shape `Each`.
fn same_shape(f: ProgressNotify) -> Each {
    f
}

#[test]
fn fn_type_names_the_function_pointer_type_that_c_calls() {
    let seen = RefCell::new(Vec::new());
    let cb = Progress::new(|percent| {
        seen.borrow_mut().push(percent);
        percent + 1
    });
    // The holder's function coerces to the named type.
    let notify: ProgressNotify = cb.function();
    // SAFETY: `cb` is alive and unmoved for the call.
    let got = unsafe { c_job_run(Some(notify), cb.user_data(), 3) };
    assert_eq!(got, [1, 51, 101]);
    // The same pointer, seen as the plain C shape, is called by C too.
    // SAFETY: as above.
    let again = unsafe { each(same_shape(notify), cb.user_data(), 2) };
    assert_eq!(again, [1, 2]);
    drop(cb);
    assert_eq!(*seen.borrow(), [0, 50, 100, 0, 1]);

    // `scope` hands the named type to the C call, and the fallback is the
    // type's own.
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        Progress::scope(
            |percent| {
                assert!(percent < 50, "expected: progress {percent}");
                percent
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f: ProgressNotify, ud| got = unsafe { c_job_run(Some(f), ud, 3) },
        )
    });
    assert_eq!(message(&*payload), "expected: progress 50");
    assert_eq!(got, [0, -1, -1]);

    // An owned holder's function is the named type as well.
    let boxed = Progress::boxed(|percent| percent * 2);
    let f: ProgressNotify = boxed.function();
    // SAFETY: `boxed` lives for the call.
    assert_eq!(unsafe { f(boxed.user_data(), 21) }, 42);
}

// ---------------------------------------------------------------------------
// A preset carrying `crate = path`
// ---------------------------------------------------------------------------

/// A binding's facade that re-exports the runtime (its users depend on the
/// facade only).
mod reexport {
    pub(super) use ffi_callback as runtime;
}

ffi_callback::preset! {
    /// The runtime through the facade, named by a relative path.
    pub(crate) facade = (crate = reexport::runtime, fallback = -9);
}

ffi_callback::preset! {
    /// The runtime by its absolute path, with a policy.
    pub(crate) absolute = (crate = ::ffi_callback, on_panic = fallback, fallback = -4);
}

/// The lines of `FacadeEach` (its attribute, then its alias).
const FACADE_EACH_LINES: RangeInclusive<u32> = (line!() + 1)..=(line!() + 2);
#[callback(preset = facade)]
type FacadeEach = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[callback(preset = facade)]
extern "C" fn facade_visit(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    assert!(n != 1, "expected: facade 1");
    seen.push(n);
    n
}

#[callback(preset = absolute)]
type AbsoluteEach = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// `for (i = 0; i < n; i++) out[i] = cb(i, ud);`
///
/// # Safety
/// `ud` is what `cb` expects.
unsafe fn visit_all(
    cb: unsafe extern "C" fn(c_int, *mut c_void) -> c_int,
    ud: *mut c_void,
    n: c_int,
) -> Vec<c_int> {
    // SAFETY: forwarded.
    (0..n).map(|i| unsafe { cb(i, ud) }).collect()
}

#[test]
fn a_preset_with_crate_through_a_reexport_gives_working_callbacks() {
    // A callback type: its fallback comes from the preset.
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        FacadeEach::scope(
            |n| {
                assert!(n != 1, "expected: facade type 1");
                n * 3
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f: FacadeEachFn, ud| got = unsafe { each(f, ud, 3) },
        )
    });
    assert_eq!(message(&*payload), "expected: facade type 1");
    assert_eq!(got, [0, -9, -9]);

    // A fn.
    let mut seen = Vec::new();
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `facade_visit` receives `&mut Vec<c_int>`.
            got = unsafe { visit_all(facade_visit, facade_visit::user_data(&mut seen), 3) };
        })
    });
    assert_eq!(message(&*payload), "expected: facade 1");
    assert_eq!(got, [0, -9, -9]);
    assert_eq!(seen, [0]);
}

#[test]
fn a_preset_with_an_absolute_crate_path_gives_working_callbacks() {
    let cb = AbsoluteEach::new(|n| {
        assert!(n != 1, "expected: absolute 1");
        n + 10
    });
    // `on_panic = fallback` from the preset: no guard needed; each call
    // stands alone.
    // SAFETY: `cb` is alive and unmoved for the call.
    let got = unsafe { each(cb.function(), cb.user_data(), 3) };
    assert_eq!(got, [10, -4, 12]);
}

// ---------------------------------------------------------------------------
// Where a refusal's panic points
// ---------------------------------------------------------------------------

/// Runs `f`; returns its value and where each panic raised on this thread
/// meanwhile was raised (file, line), as the panic hook sees it.
///
/// The recording hook is installed once, chained to the shared hook of
/// `ffi_callback_tests::panics` (installed first), and stays: it records
/// only on a thread inside `panic_locations`, and passes every panic on.
/// Putting the previous hook back after each test would leave std's default
/// hook installed for a moment (`take_hook`, then `set_hook`), and a test
/// panicking on another thread then would miss its `panics_during` log.
fn panic_locations<R>(f: impl FnOnce() -> R) -> (R, Vec<(String, u32)>) {
    thread_local! {
        static LOG: RefCell<Option<Vec<(String, u32)>>> = const { RefCell::new(None) };
    }
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        hook::install();
        let chained = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            let _ = LOG.try_with(|log| {
                if let (Some(log), Some(at)) = (log.borrow_mut().as_mut(), info.location()) {
                    log.push((at.file().to_owned(), at.line()));
                }
            });
            chained(info);
        }));
    });
    LOG.with(|log| *log.borrow_mut() = Some(Vec::new()));
    let value = catch_unwind(AssertUnwindSafe(f));
    let seen = LOG.with(|log| log.borrow_mut().take()).unwrap_or_default();
    match value {
        Ok(value) => (value, seen),
        Err(payload) => resume_unwind(payload),
    }
}

/// Asserts that the panics at `seen` were raised once, in this file, on
/// one of `lines` (the callback's `#[callback]` item).
#[track_caller]
fn assert_raised_at(seen: &[(String, u32)], lines: &RangeInclusive<u32>) {
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (file, line) = &seen[0];
    assert!(
        file.ends_with("names_and_messages.rs"),
        "raised in {file}:{line}, not in this file"
    );
    assert!(
        lines.contains(line),
        "raised at line {line}, not on the `#[callback]` item ({lines:?})"
    );
}

/// The lines of `Refusing` (its attribute, then its alias).
const REFUSING_LINES: RangeInclusive<u32> = (line!() + 1)..=(line!() + 2);
#[callback(fallback = -1)]
type Refusing = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// The lines of `refusing_fn`.
const REFUSING_FN_LINES: RangeInclusive<u32> = (line!() + 1)..=(line!() + 2);
#[callback(fallback = -1)]
extern "C" fn refusing_fn(n: c_int, #[user_data] total: &mut c_int) -> c_int {
    *total += n;
    *total
}

#[test]
fn a_null_user_data_refusal_of_a_type_points_at_its_callback_item() {
    let cb = Refusing::new(|n| n);
    let f = cb.function();
    let (payload, seen) = panic_locations(|| {
        panic_payload(|| {
            // SAFETY: null user data, which the trampoline refuses.
            resume_panics(|| unsafe { f(ptr::null_mut(), 1) })
        })
    });
    let msg = message(&*payload);
    assert_eq!(
        msg,
        "ffi-callback: `simulated_lessons::names_and_messages::Refusing` refused the call: its \
         user data is null instead of a pointer to its holder"
    );
    assert_raised_at(&seen, &REFUSING_LINES);
}

#[test]
fn a_null_user_data_refusal_of_a_fn_points_at_its_callback_item() {
    let (payload, seen) = panic_locations(|| {
        panic_payload(|| {
            // SAFETY: null user data, which the shim refuses.
            resume_panics(|| unsafe { refusing_fn(1, ptr::null_mut()) })
        })
    });
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `simulated_lessons::names_and_messages::refusing_fn` refused the call: \
             its user data is null"
        ),
        "{msg}"
    );
    assert_raised_at(&seen, &REFUSING_FN_LINES);
}

#[test]
fn a_re_entry_refusal_of_a_type_points_at_its_callback_item() {
    let emitter = Emitter::default();
    let (payload, seen) = panic_locations(|| {
        panic_payload(|| {
            Refusing::scope(
                |n| {
                    if n > 0 {
                        // SAFETY: the emitter holds this scope's pair.
                        unsafe { c_emit(&emitter, n - 1) };
                    }
                    n
                },
                |f: RefusingFn, ud| {
                    emitter.register(f, ud);
                    // SAFETY: registered for the scope.
                    unsafe { c_emit(&emitter, 1) }
                },
            )
        })
    });
    assert!(message(&*payload).contains("refused the call"));
    assert_raised_at(&seen, &REFUSING_LINES);
}

#[test]
fn a_refusal_of_a_type_made_with_a_preset_points_at_its_callback_item() {
    let cb = FacadeEach::new(|n| n);
    let f = cb.function();
    let (payload, seen) = panic_locations(|| {
        panic_payload(|| {
            // SAFETY: null user data, which the trampoline refuses.
            resume_panics(|| unsafe { f(ptr::null_mut(), 1) })
        })
    });
    assert!(
        message(&*payload).starts_with(
            "ffi-callback: `simulated_lessons::names_and_messages::FacadeEach` refused the call"
        ),
        "{}",
        message(&*payload)
    );
    assert_raised_at(&seen, &FACADE_EACH_LINES);
}

// ---------------------------------------------------------------------------
// A re-entry refusal names the fix
// ---------------------------------------------------------------------------

/// A C object that keeps a callback and its user data, and calls them, also
/// from inside the callback (the C library re-entering it).
#[derive(Default)]
struct Emitter {
    registered: Cell<Option<(Each, *mut c_void)>>,
    results: RefCell<Vec<c_int>>,
}

impl Emitter {
    fn register(&self, f: Each, ud: *mut c_void) {
        self.registered.set(Some((f, ud)));
    }
}

/// `emit(em, n)`: calls the registered callback with `n`, records and
/// returns its result.
///
/// # Safety
/// The registration's user data is alive, as its callback expects.
unsafe fn c_emit(em: &Emitter, n: c_int) -> c_int {
    let Some((f, ud)) = em.registered.get() else {
        return c_int::MIN;
    };
    // SAFETY: by the caller's promise.
    let got = unsafe { f(ud, n) };
    em.results.borrow_mut().push(got);
    got
}

/// The advice of a callback type's re-entry refusal (runtime/src/holder.rs).
const TYPE_ADVICE: &str = "If the C library does this, declare the type \
                           `#[callback(reentrant)]` (or `sync`) and pass an `Fn` closure";

/// The advice of the fn form's re-entry refusal (runtime/src/reentry.rs).
const FN_ADVICE: &str = "If the C library calls back re-entrantly, receive the user data as `&T` \
                         with `Cell`/`RefCell` inside, or use a callback type (whose holder \
                         always checks re-entry) or a callback set with `&self` methods";

/// A default callback type: `FnMut`, re-entry refused.
#[callback(fallback = -1)]
type Exclusive = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// The fix the refusal names: `reentrant`, with an `Fn` closure.
#[callback(reentrant, fallback = -1)]
type Shared = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[test]
fn a_re_entered_type_is_refused_with_a_message_naming_reentrant() {
    let emitter = Emitter::default();
    let mut ran = Vec::new();
    let payload = panic_payload(|| {
        Exclusive::scope(
            |n| {
                ran.push(n);
                if n > 0 {
                    // SAFETY: the emitter holds this scope's pair.
                    unsafe { c_emit(&emitter, n - 1) };
                }
                n
            },
            |f: ExclusiveFn, ud| {
                emitter.register(f, ud);
                // SAFETY: registered for the scope.
                unsafe { c_emit(&emitter, 1) }
            },
        )
    });
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `simulated_lessons::names_and_messages::Exclusive` refused the call: \
             it was called while its closure was already running"
        ),
        "{msg}"
    );
    assert!(msg.ends_with(TYPE_ADVICE), "{msg}");
    // The inner call got the fallback without running the closure; the
    // outer one finished.
    assert_eq!(ran, [1]);
    assert_eq!(*emitter.results.borrow(), [-1, 1]);

    // The advice, followed: the same C library with a `reentrant` type.
    let emitter = Emitter::default();
    let depth = Cell::new(0);
    let got = Shared::scope(
        |n| {
            depth.set(depth.get() + 1);
            if n > 0 {
                // SAFETY: the emitter holds this scope's pair.
                unsafe { c_emit(&emitter, n - 1) };
            }
            n
        },
        |f: SharedFn, ud| {
            emitter.register(f, ud);
            // SAFETY: registered for the scope.
            unsafe { c_emit(&emitter, 2) }
        },
    );
    assert_eq!(got, 2);
    assert_eq!(depth.get(), 3);
    assert_eq!(*emitter.results.borrow(), [0, 1, 2]);
}

#[callback(fallback = -1)]
extern "C" fn exclusive_fn(n: c_int, #[user_data] em: &mut EmitterState) -> c_int {
    em.ran.push(n);
    if n > 0 {
        // The C library calls back with the very pointer this call holds
        // as `&mut`.
        // SAFETY: `em.emitter` holds this fn with its own user data.
        unsafe { c_emit(&*em.emitter, n - 1) };
    }
    n
}

/// `exclusive_fn`'s user data: its log, and the C object that calls it.
struct EmitterState {
    ran: Vec<c_int>,
    emitter: *const Emitter,
}

/// `exclusive_fn` as the C shape `Each` (user data first).
unsafe extern "C" fn exclusive_fn_each(ud: *mut c_void, n: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { exclusive_fn(n, ud) }
}

#[test]
#[cfg(debug_assertions)]
fn a_re_entered_fn_is_refused_with_a_message_naming_the_fixes() {
    let emitter = Emitter::default();
    let mut state = EmitterState {
        ran: Vec::new(),
        emitter: &emitter,
    };
    emitter.register(exclusive_fn_each, exclusive_fn::user_data(&mut state));
    let mut got = 0;
    // SAFETY: `state` is alive for the call.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { c_emit(&emitter, 1) }));
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `simulated_lessons::names_and_messages::exclusive_fn` refused the \
             call: it was entered again with user data "
        ),
        "{msg}"
    );
    assert!(msg.ends_with(FN_ADVICE), "{msg}");
    assert_eq!(got, 1);
    assert_eq!(*emitter.results.borrow(), [-1, 1]);
    assert_eq!(state.ran, [1]);
}
