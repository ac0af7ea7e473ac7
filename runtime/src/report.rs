//! What the crate tells the application: reports (a panic turned into a
//! fallback, a refusal, a destroy that panicked...) go to a replaceable
//! reporter; only the message right before an abort is written to stderr
//! directly.

use std::any::Any;
use std::fmt;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::panic::{ErrorDrop, Payload, Site, dispose, is_refusal, payload_message};

/// What happened, in a [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportKind {
    /// A callback panicked; by its policy (`on_panic = fallback`, or
    /// `unguarded = fallback` with no guard on the thread) C received its
    /// fallback value and the panic was dropped.
    PanicReturnedFallback,
    /// A call was refused (null user data, re-entry, a second call of a
    /// once-callback, a call on a foreign thread) and C received the
    /// fallback value.
    Refused,
    /// A callback's destroy panicked while dropping its closure; the panic
    /// was dropped (a destroy returns nothing to C).
    DestroyPanicked,
    /// A callback with a home thread (`local`, or the default contract's
    /// owned holders) was destroyed on another thread: its closure, which
    /// may hold values that must stay on its thread, was leaked.
    LeakedOnForeignThread,
    /// A callback failed with an error value, but no `try_resume` /
    /// `try_scope` guard for its error type was active on the thread: the
    /// error was dropped.
    ErrorDropped,
    /// Dropping a callback's error value panicked where that panic could
    /// not go to the callback's policy: while its `on_error` expression
    /// panicked (that panic goes to the policy), while a panic won over the
    /// error kept by `try_resume` / `try_scope` (that panic goes on), or
    /// after a callback with a raise exit handed it to its `on_raise` (the
    /// raise goes on). The panic of the `Drop` was dropped.
    ErrorDropPanicked,
    /// A guard finished while its thread was already unwinding (a guard in
    /// a `Drop` during a panic): the panic it kept was dropped instead of
    /// being raised a second time.
    KeptPanicDroppedWhileUnwinding,
    /// The `stop` of `resume_panics_with` panicked; that panic was dropped.
    StopPanicked,
    /// A callback's `on_raise` handler panicked; that panic was dropped and
    /// the raise went ahead.
    RaiseHandlerPanicked,
    /// A callback set's destroy entry (taking `self`, or marked
    /// `#[callback(destroy)]`) was called while another call of the state
    /// ran (C destroyed it from inside that call): the state is dropped
    /// when that call returns, and the entry's body did not run. Cleanup
    /// belongs in the state's `Drop`, or, if the calls C destroys it from
    /// take `&self`, in an entry taking `&self` marked
    /// `#[callback(destroy)]`, which runs during those.
    DestroyEntryDeferred,
}

/// One thing the crate reports, handed to the reporter (see
/// [`set_reporter`]). Its `Display` is the whole message.
#[derive(Debug)]
pub struct Report<'a> {
    kind: ReportKind,
    callback: Option<&'a Site>,
    panic_message: Option<&'a str>,
    detail: Option<&'a str>,
}

impl Report<'_> {
    /// What happened.
    pub fn kind(&self) -> ReportKind {
        self.kind
    }

    /// The callback's path (`module::name`), when one is concerned.
    pub fn callback(&self) -> Option<&str> {
        self.callback.map(|site| site.name)
    }

    /// Where the callback is defined: file, line, column.
    pub fn location(&self) -> Option<(&str, u32, u32)> {
        self.callback
            .map(|site| (site.file, site.line, site.column))
    }

    /// The message of the panic concerned, if it had a string payload.
    pub fn panic_message(&self) -> Option<&str> {
        self.panic_message
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let callback = self.callback.map_or_else(
            || "a callback".to_owned(),
            |site| format!("the callback {}", site.describe()),
        );
        match self.kind {
            ReportKind::PanicReturnedFallback => write!(f, "{callback} panicked")?,
            ReportKind::Refused => write!(f, "{callback} refused a call")?,
            ReportKind::DestroyPanicked => write!(
                f,
                "dropping the closure of {callback} in its destroy panicked"
            )?,
            ReportKind::DestroyEntryDeferred => write!(
                f,
                "{callback} was called while another call of the same state was running (C \
                 destroyed the state from inside that call): the state is dropped when that \
                 call returns, and this destroy entry did not run. Put its cleanup in the \
                 state's `Drop`, or, if that call takes `&self`, take `&self` and mark the \
                 entry `#[callback(destroy)]`, which runs during `&self` calls"
            )?,
            ReportKind::LeakedOnForeignThread => write!(
                f,
                "{callback} was destroyed on another thread than the one it belongs to; its \
                 closure was leaked rather than dropped there"
            )?,
            ReportKind::ErrorDropped => write!(f, "{callback} failed with an error")?,
            ReportKind::ErrorDropPanicked => {
                write!(f, "dropping the error value of {callback} panicked")?;
            }
            ReportKind::KeptPanicDroppedWhileUnwinding => write!(
                f,
                "a guard finished while its thread was already panicking; the callback panic it \
                 kept was dropped instead of being raised a second time"
            )?,
            ReportKind::StopPanicked => write!(
                f,
                "the `stop` of `resume_panics_with` panicked; the panic was dropped"
            )?,
            ReportKind::RaiseHandlerPanicked => write!(
                f,
                "the `on_raise` handler of {callback} panicked; the panic was dropped and the \
                 raise went ahead"
            )?,
        }
        if let Some(message) = self.panic_message {
            write!(f, ": {message}")?;
        }
        if let Some(detail) = self.detail {
            write!(f, "; {detail}")?;
        }
        Ok(())
    }
}

/// The function reports go to.
pub type Reporter = fn(&Report<'_>);

static REPORTER: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Replaces the reporter, process-wide. Reports are rare events that do not
/// stop the program: a panic turned into a fallback value, a refused call, a
/// destroy that panicked, an error with no guard to take it. The default
/// prints `ffi-callback: {report}` with `eprintln!` (so test harnesses
/// capture it like the panic hook's output); with the `tracing` or `log`
/// feature it emits a warning through that crate instead.
///
/// The reporter runs inside the callback, on the C library's thread; a
/// panic in it is caught and dropped.
///
/// ```
/// fn quiet(report: &ffi_callback::Report<'_>) {
///     let _ = report; // count it, log it, or ignore it
/// }
/// ffi_callback::set_reporter(quiet);
/// ```
pub fn set_reporter(reporter: Reporter) {
    REPORTER.store(reporter as *mut (), Ordering::Release);
}

fn reporter() -> Reporter {
    let reporter = REPORTER.load(Ordering::Acquire);
    if reporter.is_null() {
        default_reporter
    } else {
        // SAFETY: the only non-null values stored are `Reporter` fn pointers
        // (`set_reporter`), and a fn pointer survives the round trip through
        // a data pointer on every target std supports.
        unsafe { std::mem::transmute::<*mut (), Reporter>(reporter) }
    }
}

fn default_reporter(report: &Report<'_>) {
    #[cfg(feature = "tracing")]
    {
        tracing::warn!(target: "ffi_callback", "{report}");
    }
    #[cfg(all(feature = "log", not(feature = "tracing")))]
    {
        log::warn!(target: "ffi_callback", "{report}");
    }
    #[cfg(not(any(feature = "log", feature = "tracing")))]
    {
        eprintln!("ffi-callback: {report}");
    }
}

/// Hands a report to the reporter; a panic in it is caught and dropped.
fn send(report: &Report<'_>) {
    let reporter = reporter();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| reporter(report))) {
        dispose(payload);
    }
}

/// Reports `kind` for `site`, with the payload's message if it has one.
#[cold]
#[inline(never)]
pub(crate) fn event(site: Option<&Site>, kind: ReportKind, payload: Option<&(dyn Any + Send)>) {
    send(&Report {
        kind,
        callback: site,
        panic_message: payload.and_then(payload_message).map(refusal_reason),
        detail: None,
    });
}

/// A panic or refusal turned into the fallback value (`on_panic =
/// fallback`, or `unguarded = fallback`): reported, then dropped.
#[cold]
#[inline(never)]
pub(crate) fn fallback_returned(site: &Site, payload: Payload, unguarded: bool) {
    let kind = if is_refusal(&*payload) {
        ReportKind::Refused
    } else {
        ReportKind::PanicReturnedFallback
    };
    let detail = if unguarded {
        "no `resume_panics` guard was active on this thread (`unguarded = fallback`), so C \
         received the callback's fallback value and the panic was dropped"
    } else {
        "C received the callback's fallback value (`on_panic = fallback`)"
    };
    send(&Report {
        kind,
        callback: Some(site),
        panic_message: payload_message(&*payload).map(refusal_reason),
        detail: Some(detail),
    });
    dispose(payload);
}

/// A panic while a destroy dropped the closure: there is no value to
/// return, so it is reported and dropped.
#[cold]
#[inline(never)]
pub(crate) fn destroy_panicked(site: &Site, payload: Payload) {
    event(Some(site), ReportKind::DestroyPanicked, Some(&*payload));
    dispose(payload);
}

/// An error value with no guard of its type to take it.
#[cold]
#[inline(never)]
pub(crate) fn error_without_guard(site: &Site, error_type: &str, guard_type: Option<&str>) {
    let detail = match guard_type {
        Some(guard_type) => format!(
            "no `try_resume`/`try_scope` guard on this thread takes its error type \
             `{error_type}` (the innermost takes `{guard_type}`), so the error was dropped (C \
             received the callback's `on_error` value)"
        ),
        None => format!(
            "no `try_resume::<{error_type}>` (or `try_scope`) guard was active on this thread \
             to return it to, so the error was dropped (C received the callback's `on_error` \
             value); wrap the C call in `ffi_callback::try_resume(|| unsafe {{ ... }})`"
        ),
    };
    send(&Report {
        kind: ReportKind::ErrorDropped,
        callback: Some(site),
        panic_message: None,
        detail: Some(&detail),
    });
}

/// A panic of an error value's `Drop` that no policy can take (see
/// [`ErrorDrop`]): reported, naming the callback; the caller disposes of
/// the payload.
#[cold]
#[inline(never)]
pub(crate) fn error_drop_panicked(
    site: &Site,
    error_type: &str,
    why: ErrorDrop,
    payload: &(dyn Any + Send),
) {
    let detail = match why {
        ErrorDrop::OnErrorPanicked => format!(
            "the callback failed with an error of type `{error_type}`, its `on_error` \
             expression panicked, and the error was dropped before that panic went on to the \
             callback's `on_panic` policy; the panic of the error's `Drop` was dropped"
        ),
        ErrorDrop::KeepErrorPanicked => format!(
            "the callback failed with an error of type `{error_type}`, its `keep_error` \
             expression panicked, and the error was dropped before that panic went on to the \
             callback's `on_panic` policy; the panic of the error's `Drop` was dropped"
        ),
        ErrorDrop::Raised => format!(
            "the callback failed with an error of type `{error_type}`, which went to its \
             `on_raise` handler; a panic of the error's `Drop` cannot unwind into C, and the \
             raise goes on; it was dropped"
        ),
        ErrorDrop::NotReturned => format!(
            "the error (of type `{error_type}`) was kept for `try_resume`/`try_scope`, which \
             ended with a panic instead (a panic wins over an error); the panic of the error's \
             `Drop` was dropped, and the first panic goes on"
        ),
    };
    send(&Report {
        kind: ReportKind::ErrorDropPanicked,
        callback: Some(site),
        panic_message: payload_message(payload).map(refusal_reason),
        detail: Some(&detail),
    });
}

/// `on_panic = abort`, or `resume` with no guard: says which callback
/// panicked (or refused a call), what the panic said, and what both the
/// program's user and the callback's author can do, then aborts.
#[cold]
#[inline(never)]
pub(crate) fn abort_on_panic(site: &Site, payload: &(dyn Any + Send), no_guard: bool) -> ! {
    let what = if is_refusal(payload) {
        "refused a call"
    } else {
        "panicked"
    };
    let why = if no_guard {
        "with no `ffi_callback::resume_panics` guard active on its thread to carry the panic \
         past the C code that called it. A panic cannot unwind through C, so the process stops \
         here. For the callback's author: wrap the C call in `resume_panics(|| unsafe { .. })` \
         (the `scope` of a callback type or set does), or choose `on_panic = fallback` or \
         `unguarded = fallback`"
    } else {
        "(on_panic = abort). A panic cannot unwind through the C code that called it, so the \
         process stops here. For the callback's author: `on_panic = fallback` returns a \
         fallback value to C instead, and `resume` (on the caller's thread) carries the panic \
         back to the Rust caller"
    };
    let message = payload_message(payload)
        .map(refusal_reason)
        .map_or_else(String::new, |m| format!(": {m}"));
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: the callback {} {what}{message}\nffi-callback: it {what} {why}; aborting",
        site.describe()
    );
    std::process::abort()
}

/// A refusal's reason without its `ffi-callback: `name` refused the call: `
/// head, which the report already says; other messages unchanged.
fn refusal_reason(message: &str) -> &str {
    match message.strip_prefix(crate::panic::REFUSAL_PREFIX) {
        Some(rest) => rest
            .split_once("refused the call: ")
            .map_or(message, |(_, why)| why),
        None => message,
    }
}

/// A call of a `local` callback on another thread than its home one,
/// refused whatever the policy (no user code ran), and C received the
/// fallback: reported, then dropped.
#[cold]
#[inline(never)]
pub(crate) fn foreign_call_refused(site: &Site, payload: Payload) {
    send(&Report {
        kind: ReportKind::Refused,
        callback: Some(site),
        panic_message: payload_message(&*payload).map(refusal_reason),
        detail: Some(
            "C received the callback's fallback value (a call on another thread than a `local` \
             callback's own is refused under every `on_panic` policy: no user code ran)",
        ),
    });
    dispose(payload);
}

/// A call of a `local` callback on another thread, for a callback with no
/// fallback value (`on_panic = abort`): aborts, saying so.
#[cold]
#[inline(never)]
pub(crate) fn abort_on_foreign_call(site: &Site, payload: &(dyn Any + Send)) -> ! {
    let message = payload_message(payload)
        .map(refusal_reason)
        .map_or_else(String::new, |m| format!(": {m}"));
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: the callback {} refused a call{message}\nffi-callback: the call came from \
         the wrong thread, and the callback has no fallback value to return to C \
         (`on_panic = abort`): the process stops here. C must call a `local` callback only on \
         the thread that made it; if the C library calls it on other threads, declare the type \
         `send`, or give it a fallback (`on_panic = fallback`) to have such calls refused; \
         aborting",
        site.describe()
    );
    std::process::abort()
}

/// A call of a callback type's thread-local function on a thread where no
/// `scope_thread_local` of the type runs (another thread, or after the
/// scope returned), refused whatever the policy (no user code ran), and C
/// received the fallback: reported, then dropped.
#[cold]
#[inline(never)]
pub(crate) fn unparked_call_refused(site: &Site, payload: Payload) {
    send(&Report {
        kind: ReportKind::Refused,
        callback: Some(site),
        panic_message: payload_message(&*payload).map(refusal_reason),
        detail: Some(
            "C received the callback's fallback value (a call with no `scope_thread_local` of \
             its type running on its thread is refused under every `on_panic` policy: no user \
             code ran)",
        ),
    });
    dispose(payload);
}

/// [`unparked_call_refused`] for a callback with no fallback value
/// (`on_panic = abort`): aborts, saying so.
#[cold]
#[inline(never)]
pub(crate) fn abort_on_unparked_call(site: &Site, payload: &(dyn Any + Send)) -> ! {
    let message = payload_message(payload)
        .map(refusal_reason)
        .map_or_else(String::new, |m| format!(": {m}"));
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: the callback {} refused a call{message}\nffi-callback: no scope of its \
         type was running on the calling thread, and the callback has no fallback value to \
         return to C (`on_panic = abort`): the process stops here. C must call a closure lent \
         by `scope_thread_local` only on the scope's thread and before the scope returns; give \
         the type a fallback (`on_panic = fallback`) to have such calls refused; aborting",
        site.describe()
    );
    std::process::abort()
}

/// A `scope_thread_local` ended while a scope of the same type that began
/// inside it still runs (only stack switching, a stackful coroutine, can
/// do that): the inner scope's record would outlive its frame.
#[cold]
#[inline(never)]
pub(crate) fn abort_thread_local_scopes_out_of_order(site: &Site) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: a `scope_thread_local` of the callback {} ended while a scope of the same \
         type that began inside it was still running on its thread (its stack was switched \
         away, as a stackful coroutine does): the closures they lent would outlive their \
         scopes; aborting",
        site.describe()
    );
    std::process::abort()
}

/// A destroy's panic under `on_panic = abort` (or `resume` with no guard).
#[cold]
#[inline(never)]
pub(crate) fn abort_in_destroy(site: &Site, payload: &(dyn Any + Send)) -> ! {
    let message = payload_message(payload).map_or_else(String::new, |m| format!(": {m}"));
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: dropping the closure of the callback {} in its destroy-notify \
         panicked{message}\nffi-callback: a panic cannot unwind through the C code that called \
         the destroy, and no `resume_panics` guard is active to carry it; aborting",
        site.describe()
    );
    std::process::abort()
}

/// A callback's holder (from a callback type's `new`) was dropped while
/// C was calling it: freeing it would free the closure under the running
/// call, so the process aborts, naming the callback type (or set).
#[cold]
#[inline(never)]
pub(crate) fn abort_dropped_while_running(site: &Site) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: a holder of the callback {} was dropped while C was calling it (by its \
         own closure, which could reach the holder, or by its owner on another thread)\n\
         ffi-callback: freeing it would free the closure under the running call. A holder made \
         by `new` must outlive every call C makes with it (`scope` does this); for a callback \
         that its own call may end, use `boxed`, whose drop during a call waits for the call to \
         return; aborting",
        site.describe()
    );
    std::process::abort()
}

/// A holder lent by `new` or `scope` ends while a call C made on another
/// thread during the closure's drop (refused, as after the destroy) still
/// holds it: the holder's memory (its owner's: a stack frame, a struct)
/// goes away right after, under that call. Aborts rather than wait for C.
#[cold]
#[inline(never)]
pub(crate) fn abort_lent_held_by_refused_call(site: &Site) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: a holder of the callback {}, lent by `new` or `scope`, was dropped \
         while a call C made on another thread during the closure's drop was still being \
         refused\n\
         ffi-callback: the holder's memory is about to go away under that call. A callback \
         whose closure's drop makes C call it on other threads is made with `boxed`, whose \
         holder stays allocated until such calls have returned; aborting",
        site.describe()
    );
    std::process::abort()
}

/// `fallback = EXPR` panicked: C gets no value, so the process aborts.
#[cold]
#[inline(never)]
pub(crate) fn abort_in_fallback(site: &Site) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: the `fallback = ..` expression of the callback {} panicked (the panic \
         hook's message above says how)\n\
         ffi-callback: C needs a value from it and a panic cannot unwind into C; aborting",
        site.describe()
    );
    std::process::abort()
}

/// `raise = EXPR` returned instead of leaving the call.
#[cold]
#[inline(never)]
pub(crate) fn abort_raise_returned(site: &Site) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "ffi-callback: the `raise = ..` call of the callback {} returned, but it must not \
         return (it is the C library's error exit, such as `lua_error`); aborting",
        site.describe()
    );
    std::process::abort()
}

/// The default reporter's forwarding to `log` and `tracing`, each in a
/// build with that feature (`.ci/run` runs both; with both features on,
/// `tracing` wins).
#[cfg(all(test, any(feature = "log", feature = "tracing")))]
mod forwarding_tests {
    use super::{ReportKind, event};

    /// What a report with no callback says, for finding it among others.
    const STOP_PANICKED: &str = "the `stop` of `resume_panics_with` panicked";

    #[cfg(all(feature = "log", not(feature = "tracing")))]
    #[test]
    fn the_default_reporter_forwards_to_log_as_a_warning() {
        use std::sync::{Mutex, PoisonError};

        static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

        struct Capture;

        impl log::Log for Capture {
            fn enabled(&self, _: &log::Metadata<'_>) -> bool {
                true
            }
            fn log(&self, record: &log::Record<'_>) {
                RECORDS
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((
                        record.level(),
                        record.target().to_owned(),
                        record.args().to_string(),
                    ));
            }
            fn flush(&self) {}
        }

        static CAPTURE: Capture = Capture;
        log::set_logger(&CAPTURE).expect("the only logger of this test binary");
        log::set_max_level(log::LevelFilter::Trace);
        event(None, ReportKind::StopPanicked, None);
        let records = RECORDS.lock().unwrap_or_else(PoisonError::into_inner);
        let found = records
            .iter()
            .find(|(_, _, message)| message.contains(STOP_PANICKED))
            .unwrap_or_else(|| panic!("no record of the report: {records:?}"));
        assert_eq!(found.0, log::Level::Warn);
        assert_eq!(found.1, "ffi_callback");
    }

    #[cfg(feature = "tracing")]
    #[test]
    fn the_default_reporter_forwards_to_tracing_as_a_warning() {
        use std::fmt::Debug;
        use std::sync::{Arc, Mutex, PoisonError};

        use tracing::field::{Field, Visit};
        use tracing::span::{Attributes, Id, Record};
        use tracing::{Event, Level, Metadata, Subscriber};

        type Events = Arc<Mutex<Vec<(Level, String, String)>>>;

        struct Capture(Events);

        struct Message<'a>(&'a mut String);

        impl Visit for Message<'_> {
            fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{value:?}");
                }
            }
        }

        impl Subscriber for Capture {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut message = String::new();
                event.record(&mut Message(&mut message));
                let metadata = event.metadata();
                self.0.lock().unwrap_or_else(PoisonError::into_inner).push((
                    *metadata.level(),
                    metadata.target().to_owned(),
                    message,
                ));
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }

        let events = Events::default();
        tracing::subscriber::with_default(Capture(Arc::clone(&events)), || {
            event(None, ReportKind::StopPanicked, None);
        });
        let events = events.lock().unwrap_or_else(PoisonError::into_inner);
        let found = events
            .iter()
            .find(|(_, _, message)| message.contains(STOP_PANICKED))
            .unwrap_or_else(|| panic!("no event for the report: {events:?}"));
        assert_eq!(found.0, Level::WARN);
        assert_eq!(found.1, "ffi_callback");
    }
}
