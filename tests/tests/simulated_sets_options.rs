//! Callback sets (`#[callback] trait`) with the per-entry options of the
//! other forms, against C APIs simulated in Rust: an entry's own `on_panic`
//! beside the set's default, the `#[user_data]` slot in the middle or last
//! (also through the call that heals a poisoned state and starts over),
//! typed slots (a `struct app_ctx *`, a `uintptr_t`, an `LPARAM`),
//! `extern "system"` entry points in a `#[repr(C)]` struct of function
//! pointers, two different `&self` entries nesting, and arguments converted
//! for the methods (`#[into(Type)]`, and borrowed: `#[into(&CStr)]`). No C code runs, so
//! the whole file runs under Miri (Stacked and Tree Borrows; integer slots
//! need `-Zmiri-permissive-provenance`).

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::marker::{PhantomData, PhantomPinned};
use std::ops::ControlFlow;
use std::ptr;
use std::rc::Rc;

use ffi_callback::{Report, ReportKind, callback, resume_panics, try_resume};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

/// Counts its drops (held by states to check they are freed once).
struct Tracked(Rc<Cell<u32>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Runs `f`, which returns a value and the state that `scope` gives back:
/// the value and the state, or, if `f` panicked, the payload and no state.
fn panic_payload_and<T, S>(
    f: impl FnOnce() -> (T, S),
) -> (Result<T, Box<dyn std::any::Any + Send>>, Option<S>) {
    ffi_callback_tests::panics::hook::install();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok((value, state)) => (Ok(value), Some(state)),
        Err(payload) => (Err(payload), None),
    }
}

const REENTRY: &str =
    "refused the call: it was called while another call of the same state was running";

/// What the states below log: which entry ran, with which C arguments.
type Log = Rc<RefCell<Vec<(&'static str, c_int, c_int)>>>;

// ---------------------------------------------------------------------------
// 1. An entry's own `on_panic` beside the set's default (`resume`)
// ---------------------------------------------------------------------------

/// An expat-like parser's handlers: `text` may fail alone (its panic is
/// reported and C gets -1, as `on_panic = fallback` says: each call stands
/// alone), `end` keeps the set's default, `resume`.
#[callback]
trait Handlers {
    #[callback(on_panic = fallback, fallback = -1)]
    unsafe extern "C" fn text(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    #[callback(fallback = -2)]
    unsafe extern "C" fn end(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

/// Panics (with an `expected` message, which the test hook does not print)
/// when given 666; otherwise logs and returns `n * 10 + k` (k: which entry).
struct Parser {
    log: Log,
    _drops: Tracked,
}

impl Parser {
    fn run(&mut self, entry: &'static str, n: c_int, k: c_int) -> c_int {
        assert!(n != 666, "expected: {entry} panicked on {n}");
        self.log.borrow_mut().push((entry, n, 0));
        n * 10 + k
    }
}

impl Handlers for Parser {
    fn text(&mut self, n: c_int) -> c_int {
        self.run("text", n, 1)
    }

    fn end(&mut self, n: c_int) -> c_int {
        self.run("end", n, 2)
    }
}

thread_local! {
    /// The reports made on this thread: kind and callback.
    static REPORTS: RefCell<Vec<(ReportKind, String)>> = const { RefCell::new(Vec::new()) };
}

/// The reporter of this test binary: records each report on its thread.
fn record(report: &Report<'_>) {
    let entry = (
        report.kind(),
        report.callback().unwrap_or_default().to_owned(),
    );
    REPORTS.with(|reports| reports.borrow_mut().push(entry));
}

/// Runs `f` with `record` as the reporter; its value and the reports made
/// on this thread meanwhile.
fn reports_during<R>(f: impl FnOnce() -> R) -> (R, Vec<(ReportKind, String)>) {
    ffi_callback::set_reporter(record);
    let before = REPORTS.with(|reports| reports.borrow().len());
    let value = f();
    let reports = REPORTS.with(|reports| reports.borrow_mut().split_off(before));
    (value, reports)
}

/// The report of a panic that `on_panic = fallback` turned into the fallback.
fn fallback_report(entry: &str) -> (ReportKind, String) {
    (
        ReportKind::PanicReturnedFallback,
        format!("simulated_sets_options::Handlers::{entry}"),
    )
}

fn parser() -> (Parser, Log, Rc<Cell<u32>>) {
    let log = Log::default();
    let drops = Rc::new(Cell::new(0));
    let state = Parser {
        log: log.clone(),
        _drops: Tracked(drops.clone()),
    };
    (state, log, drops)
}

#[test]
fn fallback_entry_panic_returns_its_fallback_and_leaves_the_set_running() {
    let (state, log, drops) = parser();
    let (((got, raised), reports), state) = state.scope(|ud| {
        reports_during(|| {
            panics_during(|| {
                // SAFETY: `ud` is the scoped state, alive for this call.
                unsafe {
                    [
                        Parser::TEXT(ud, 1),
                        Parser::TEXT(ud, 666),
                        // Not poisoned: both entries run user code again at
                        // once.
                        Parser::TEXT(ud, 2),
                        Parser::END(ud, 3),
                    ]
                }
            })
        })
    });
    // The scope returned normally: nothing was kept to resume.
    assert_eq!(got, [11, -1, 21, 32]);
    assert_eq!(
        raised,
        ["expected: text panicked on 666"],
        "the panic was raised once"
    );
    assert_eq!(reports, [fallback_report("text")], "and reported");
    assert_eq!(
        *log.borrow(),
        [("text", 1, 0), ("text", 2, 0), ("end", 3, 0)]
    );
    assert_eq!(drops.get(), 0, "the state came back");
    drop(state);
    assert_eq!(drops.get(), 1);
}

#[test]
fn default_entry_panic_is_resumed_by_scope_and_stops_the_fallback_entry_too() {
    let (state, log, drops) = parser();
    let mut got = Vec::new();
    let ((result, state), reports) = reports_during(|| {
        panic_payload_and(|| {
            state.scope(|ud| {
                // SAFETY: `ud` is the scoped state, alive for this call.
                unsafe {
                    got.push(Parser::TEXT(ud, 1));
                    got.push(Parser::END(ud, 666));
                    // Poisoned by the kept panic: every entry returns its
                    // own fallback without running, whatever its policy.
                    got.push(Parser::TEXT(ud, 2));
                    got.push(Parser::END(ud, 3));
                }
            })
        })
    });
    assert!(
        reports.is_empty(),
        "kept, and quietly poisoned: {reports:?}"
    );
    let payload = result.expect_err("the end's panic is resumed, not reported");
    assert_eq!(message(&*payload), "expected: end panicked on 666");
    assert!(state.is_none());
    assert_eq!(got, [11, -2, -1, -2]);
    assert_eq!(*log.borrow(), [("text", 1, 0)]);
    assert_eq!(drops.get(), 1, "the lent state dropped once");
}

#[test]
fn fallback_entry_panic_inside_a_guard_is_not_kept() {
    // With a boxed state and an explicit guard: the guard has nothing to
    // re-raise, and the state is never poisoned.
    let (state, log, drops) = parser();
    let boxed = state.boxed();
    let ud = boxed.user_data();
    let ((got, raised), reports) = reports_during(|| {
        panics_during(|| {
            // SAFETY: `boxed` is alive and unmoved.
            resume_panics(|| unsafe { [Parser::TEXT(ud, 666), Parser::END(ud, 4)] })
        })
    });
    assert_eq!(got, [-1, 42]);
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(reports, [fallback_report("text")]);
    assert_eq!(*log.borrow(), [("end", 4, 0)]);
    // Then a panic of the default entry is kept, and the fallback entry
    // stops with the rest of the set until the guard returns.
    let mut after = Vec::new();
    let payload = panic_payload(|| {
        // SAFETY: as above.
        resume_panics(|| unsafe {
            after.push(Parser::END(ud, 666));
            after.push(Parser::TEXT(ud, 5));
        })
    });
    assert_eq!(message(&*payload), "expected: end panicked on 666");
    assert_eq!(after, [-2, -1]);
    // SAFETY: as above.
    let healed = resume_panics(|| unsafe { Parser::TEXT(ud, 6) });
    assert_eq!(healed, 61, "runs again once the guard re-raised");
    assert_eq!(*log.borrow(), [("end", 4, 0), ("text", 6, 0)]);
    drop(boxed);
    assert_eq!(drops.get(), 1);
}

/// The other way round: the set reports its panics (`fallback`), and one
/// entry keeps its own (`resume`), so `scope` must still install the guard
/// that entry's panic needs (without one it would abort).
#[callback(on_panic = fallback, fallback = -1)]
trait Strict {
    #[callback(on_panic = resume)]
    unsafe extern "C" fn check(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn note(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

struct Checker(Log);

impl Strict for Checker {
    fn check(&mut self, n: c_int) -> c_int {
        self.0.borrow_mut().push(("check", n, 0));
        assert!(n != 666, "check panicked on {n}");
        n
    }

    fn note(&mut self, n: c_int) -> c_int {
        self.0.borrow_mut().push(("note", n, 0));
        n
    }
}

#[test]
fn resume_entry_of_a_fallback_set_is_resumed_by_scope() {
    let log = Log::default();
    let mut got = Vec::new();
    let ((result, state), reports) = reports_during(|| {
        panic_payload_and(|| {
            Checker(log.clone()).scope(|ud| {
                // SAFETY: `ud` is the scoped state, alive for this call.
                unsafe {
                    got.push(Checker::CHECK(ud, 1));
                    got.push(Checker::CHECK(ud, 666));
                    // Poisoned by the kept panic: the set's other entry
                    // returns its fallback without running.
                    got.push(Checker::NOTE(ud, 2));
                }
            })
        })
    });
    assert!(reports.is_empty(), "kept, not reported: {reports:?}");
    let payload = result.expect_err("the check's panic is resumed when scope returns");
    assert_eq!(message(&*payload), "check panicked on 666");
    assert!(state.is_none());
    assert_eq!(got, [1, -1, -1]);
    assert_eq!(*log.borrow(), [("check", 1, 0), ("check", 666, 0)]);
}

// ---------------------------------------------------------------------------
// 2. The slot in the middle or last
// ---------------------------------------------------------------------------

/// Entry points whose user data is not the first parameter, with C
/// parameters of one type on both sides of it, so that a swap shows.
#[callback]
trait Slots {
    /// The slot last (`EnumWindows`' shape).
    #[callback(fallback = -1)]
    unsafe extern "C" fn last(&mut self, a: c_int, b: c_int, #[user_data] ud: *mut c_void)
    -> c_int;
    /// The slot in the middle, shared.
    #[callback(fallback = -2)]
    unsafe extern "C" fn middle(&self, a: c_int, #[user_data] ud: *mut c_void, b: c_int) -> c_int;
    /// The slot last, shared.
    #[callback(fallback = -3)]
    unsafe extern "C" fn tail(&self, a: c_int, b: c_int, #[user_data] ud: *mut c_void) -> c_int;
    /// The destroy, its slot in the middle.
    #[callback(fallback = -4)]
    unsafe extern "C" fn finish(self, a: c_int, #[user_data] ud: *mut c_void, b: c_int) -> c_int;
}

/// What an entry does after logging itself; its value is the entry's.
type Hook = Box<dyn Fn(&'static str, c_int, c_int) -> c_int>;

struct Args {
    log: Log,
    hook: Hook,
    _drops: Tracked,
}

impl Args {
    fn run(&self, entry: &'static str, a: c_int, b: c_int) -> c_int {
        self.log.borrow_mut().push((entry, a, b));
        (self.hook)(entry, a, b)
    }
}

impl Slots for Args {
    fn last(&mut self, a: c_int, b: c_int) -> c_int {
        self.run("last", a, b)
    }

    fn middle(&self, a: c_int, b: c_int) -> c_int {
        self.run("middle", a, b)
    }

    fn tail(&self, a: c_int, b: c_int) -> c_int {
        self.run("tail", a, b)
    }

    fn finish(self, a: c_int, b: c_int) -> c_int {
        self.run("finish", a, b)
    }
}

/// `a * 10 + b`: tells `(a, b)` from `(b, a)`. Panics on `a == 666`.
fn ordered(_: &'static str, a: c_int, b: c_int) -> c_int {
    assert!(a != 666, "expected: a panic with the slot elsewhere");
    a * 10 + b
}

fn args(
    hook: impl Fn(&'static str, c_int, c_int) -> c_int + 'static,
) -> (Args, Log, Rc<Cell<u32>>) {
    let log = Log::default();
    let drops = Rc::new(Cell::new(0));
    let state = Args {
        log: log.clone(),
        hook: Box::new(hook),
        _drops: Tracked(drops.clone()),
    };
    (state, log, drops)
}

#[test]
fn slot_last_or_in_the_middle_passes_the_other_arguments_in_order() {
    let (state, log, drops) = args(ordered);
    let ud = state.boxed().into_raw();
    // C calls with its own argument order, the user data where the header
    // puts it.
    // SAFETY: `ud` is the boxed state, alive until `finish`, C's last call.
    let got = resume_panics(|| unsafe {
        [
            Args::LAST(3, 4, ud),
            Args::MIDDLE(5, ud, 6),
            Args::TAIL(7, 8, ud),
            Args::FINISH(1, ud, 2),
        ]
    });
    assert_eq!(got, [34, 56, 78, 12]);
    assert_eq!(
        *log.borrow(),
        [
            ("last", 3, 4),
            ("middle", 5, 6),
            ("tail", 7, 8),
            ("finish", 1, 2)
        ]
    );
    assert_eq!(drops.get(), 1, "finish consumed and dropped the state");
}

#[test]
fn healing_call_after_a_resumed_panic_keeps_the_argument_order() {
    // The first call after the guard re-raised heals the state and starts
    // the entry point over with what C passed: the slot goes back where it
    // was.
    let (state, log, drops) = args(ordered);
    let ud = state.boxed().into_raw();
    for (entry, panicking) in [("last", 0), ("middle", 1), ("tail", 2)] {
        let call = |a: c_int, b: c_int| -> c_int {
            // SAFETY: `ud` is the boxed state, alive until `finish`.
            unsafe {
                match panicking {
                    0 => Args::LAST(a, b, ud),
                    1 => Args::MIDDLE(a, ud, b),
                    _ => Args::TAIL(a, b, ud),
                }
            }
        };
        let mut during = Vec::new();
        let payload = panic_payload(|| {
            resume_panics(|| {
                during.push(call(666, 1));
                during.push(call(2, 3));
            })
        });
        assert!(message(&*payload).starts_with("expected"), "{entry}");
        let fallback = -1 - panicking;
        assert_eq!(during, [fallback, fallback], "{entry}: poisoned");
        // Healed by this call, which then runs with its own arguments.
        let healed = resume_panics(|| call(4, 5));
        assert_eq!(healed, 45, "{entry}");
        assert_eq!(
            log.borrow_mut().split_off(0),
            [(entry, 666, 1), (entry, 4, 5)],
            "{entry}: the poisoned call did not run"
        );
    }
    // The destroy heals too.
    let payload = panic_payload(|| {
        // SAFETY: as above.
        resume_panics(|| unsafe { Args::LAST(666, 0, ud) })
    });
    assert!(message(&*payload).starts_with("expected"));
    // SAFETY: C's last call.
    let finished = resume_panics(|| unsafe { Args::FINISH(8, ud, 9) });
    assert_eq!(finished, 89);
    assert_eq!(*log.borrow(), [("last", 666, 0), ("finish", 8, 9)]);
    assert_eq!(drops.get(), 1);
}

#[test]
fn different_shared_entries_nest_with_the_slot_elsewhere() {
    // `middle` calls `tail`, which calls `middle` again: `&self` entries
    // nest, whichever they are.
    let (state, log, drops) = args(|entry, a, b| {
        let ud = NESTING_UD.with(Cell::get);
        match (entry, a) {
            // SAFETY: the state is alive: this call runs on it.
            ("middle", 3) => 1000 + unsafe { Args::TAIL(2, b, ud) },
            // SAFETY: as above.
            ("tail", 2) => 100 + unsafe { Args::MIDDLE(1, ud, b) },
            _ => a * 10 + b,
        }
    });
    let (got, state) = state.scope(|ud| {
        NESTING_UD.with(|cell| cell.set(ud));
        // SAFETY: `ud` is the scoped state, alive for this call.
        unsafe { Args::MIDDLE(3, ud, 7) }
    });
    assert_eq!(got, 1000 + 100 + 17);
    assert_eq!(
        *log.borrow(),
        [("middle", 3, 7), ("tail", 2, 7), ("middle", 1, 7)]
    );
    drop(state);
    assert_eq!(drops.get(), 1);
}

#[test]
fn exclusive_entry_two_shared_calls_deep_is_refused() {
    let inner = Rc::new(Cell::new(0));
    let inner_in = inner.clone();
    let (state, log, _) = args(move |entry, a, b| {
        let ud = NESTING_UD.with(Cell::get);
        match entry {
            // SAFETY: the state is alive: this call runs on it.
            "middle" => unsafe { Args::TAIL(a + 1, b, ud) },
            "tail" => {
                // SAFETY: as above.
                inner_in.set(unsafe { Args::LAST(a, b, ud) });
                a * 10 + b
            }
            _ => a * 10 + b,
        }
    });
    let outer = Cell::new(0);
    let (result, state) = panic_payload_and(|| {
        state.scope(|ud| {
            NESTING_UD.with(|cell| cell.set(ud));
            // SAFETY: `ud` is the scoped state, alive for this call.
            outer.set(unsafe { Args::MIDDLE(1, ud, 2) });
        })
    });
    let payload = result.expect_err("the refusal is resumed");
    let message = message(&*payload);
    assert!(
        message.starts_with("ffi-callback: `simulated_sets_options::Slots::last` ")
            && message.contains(REENTRY),
        "{message}"
    );
    assert!(state.is_none());
    assert_eq!(inner.get(), -1, "the nested `last` got its fallback");
    assert_eq!(outer.get(), 22, "the shared calls finished");
    assert_eq!(*log.borrow(), [("middle", 1, 2), ("tail", 2, 2)]);
}

thread_local! {
    /// Where the nesting hooks find the user data C holds.
    static NESTING_UD: Cell<*mut c_void> = const { Cell::new(ptr::null_mut()) };
}

// ---------------------------------------------------------------------------
// 3. Typed slots: a pointer to the C library's own struct, an integer
// ---------------------------------------------------------------------------

/// The C library's opaque `struct app_ctx`, as which its header types the
/// user data. Never made in Rust: only pointed at.
#[allow(dead_code)] // opaque: its fields only shape it
#[repr(C)]
struct AppCtx {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

#[callback]
trait Typed {
    /// `int (*on_ctx)(struct app_ctx *ctx, int n)`.
    #[callback(fallback = -1)]
    unsafe extern "C" fn on_ctx(&mut self, #[user_data] ctx: *mut AppCtx, n: c_int) -> c_int;
    /// `int (*on_word)(int n, uintptr_t word)`.
    #[callback(fallback = -2)]
    unsafe extern "C" fn on_word(&self, n: c_int, #[user_data] word: usize) -> c_int;
    /// `int (*close)(const struct app_ctx *ctx)`: the destroy.
    #[callback(fallback = -3)]
    unsafe extern "C" fn close(self, #[user_data] ctx: *const AppCtx) -> c_int;
}

/// The C library's table, with the types its header declares.
#[repr(C)]
struct TypedFuncs {
    on_ctx: Option<unsafe extern "C" fn(*mut AppCtx, c_int) -> c_int>,
    on_word: Option<unsafe extern "C" fn(c_int, usize) -> c_int>,
    close: Option<unsafe extern "C" fn(*const AppCtx) -> c_int>,
}

static TYPED_FUNCS: TypedFuncs = TypedFuncs {
    on_ctx: Some(Total::ON_CTX),
    on_word: Some(Total::ON_WORD),
    close: Some(Total::CLOSE),
};

struct Total {
    sum: c_int,
    _drops: Tracked,
}

impl Typed for Total {
    fn on_ctx(&mut self, n: c_int) -> c_int {
        self.sum += n;
        self.sum
    }

    fn on_word(&self, n: c_int) -> c_int {
        self.sum * 100 + n
    }

    fn close(self) -> c_int {
        -self.sum
    }
}

fn total() -> (Total, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    let state = Total {
        sum: 0,
        _drops: Tracked(drops.clone()),
    };
    (state, drops)
}

#[test]
fn typed_pointer_and_integer_slots_reach_the_state() {
    let (state, drops) = total();
    // The C library keeps the user data as its own types.
    let raw = state.boxed().into_raw();
    let (ctx, word) = (raw.cast::<AppCtx>(), raw as usize);
    let f = &TYPED_FUNCS;
    let (on_ctx, on_word, close) = (f.on_ctx.unwrap(), f.on_word.unwrap(), f.close.unwrap());
    // SAFETY: `ctx` and `word` carry the boxed state, alive until `close`,
    // C's last call.
    let got = resume_panics(|| unsafe {
        [
            on_ctx(ctx, 2),
            on_ctx(ctx, 5),
            on_word(3, word),
            close(ctx.cast_const()),
        ]
    });
    assert_eq!(got, [2, 7, 703, -7]);
    assert_eq!(drops.get(), 1);
}

#[test]
fn typed_slots_of_a_scoped_state() {
    let (state, drops) = total();
    let (got, state) = state.scope(|ud| {
        // SAFETY: `ud` is the scoped state, alive for this call.
        unsafe { [Total::ON_CTX(ud.cast(), 4), Total::ON_WORD(1, ud as usize)] }
    });
    assert_eq!(got, [4, 401]);
    assert_eq!(state.sum, 4, "the state came back changed");
    drop(state);
    assert_eq!(drops.get(), 1);
}

#[test]
fn null_typed_slots_are_refused() {
    // (Not the destroy, `close`: null there is nothing to destroy, below.)
    for (name, expected) in [("on_ctx", -1), ("on_word", -2)] {
        let mut got = 0;
        let payload = panic_payload(|| {
            // SAFETY: null user data is refused before it is used.
            resume_panics(|| unsafe {
                got = match name {
                    "on_ctx" => Total::ON_CTX(ptr::null_mut(), 1),
                    _ => Total::ON_WORD(1, 0),
                }
            })
        });
        assert_eq!(got, expected, "{name}");
        let message = message(&*payload);
        assert!(
            message.starts_with(&format!(
                "ffi-callback: `simulated_sets_options::Typed::{name}` refused the call: its \
                 user data is null"
            )),
            "{message}"
        );
    }
    // A destroy with a null typed slot frees nothing, quietly.
    let (got, raised) = panics_during(|| {
        // SAFETY: null, which a destroy takes as nothing to free.
        resume_panics(|| unsafe { Total::CLOSE(ptr::null()) })
    });
    assert_eq!(got, -3);
    assert!(raised.is_empty(), "{raised:?}");
}

// ---------------------------------------------------------------------------
// 4. `extern "system"` entry points (Windows' `CALLBACK`), `LPARAM` slots
// ---------------------------------------------------------------------------

// Windows' own names.
#[allow(clippy::upper_case_acronyms)]
type HWND = usize;
#[allow(clippy::upper_case_acronyms)]
type LPARAM = isize;
#[allow(clippy::upper_case_acronyms)]
type BOOL = c_int;

#[callback]
trait WindowWalk {
    /// `WNDENUMPROC`: `FALSE` stops the enumeration.
    unsafe extern "system" fn window(&mut self, hwnd: HWND, #[user_data] lparam: LPARAM) -> BOOL;
    /// Another `CALLBACK` of the same user data, shared.
    #[callback(fallback = -1)]
    unsafe extern "system" fn count(&self, #[user_data] lparam: LPARAM) -> BOOL;
}

/// What a Windows header's struct of callbacks looks like: `system` fn
/// pointers, and the destroy-notify (`DESTROY` is `system` too, as every
/// entry is).
#[repr(C)]
struct WalkProcs {
    window: Option<unsafe extern "system" fn(HWND, LPARAM) -> BOOL>,
    count: Option<unsafe extern "system" fn(LPARAM) -> BOOL>,
    destroy: Option<unsafe extern "system" fn(*mut c_void)>,
}

static WALK_PROCS: WalkProcs = WalkProcs {
    window: Some(Found::WINDOW),
    count: Some(Found::COUNT),
    destroy: Some(Found::DESTROY),
};

/// `EnumWindows`, simulated: calls `proc_` for each window until it
/// returns `FALSE`.
///
/// # Safety
/// `lparam` is what `proc_` expects.
unsafe extern "system" fn c_enum_windows(
    proc_: Option<unsafe extern "system" fn(HWND, LPARAM) -> BOOL>,
    lparam: LPARAM,
) -> BOOL {
    let proc_ = proc_.expect("a window procedure");
    for hwnd in [0x10, 0x20, 0x30, 0x40] {
        // SAFETY: by the caller's promise.
        if unsafe { proc_(hwnd, lparam) } == 0 {
            return 0;
        }
    }
    1
}

struct Found {
    windows: Vec<HWND>,
    stop_at: HWND,
    _drops: Tracked,
}

impl WindowWalk for Found {
    fn window(&mut self, hwnd: HWND) -> BOOL {
        assert!(hwnd != 0x666, "expected: a window panicked");
        self.windows.push(hwnd);
        BOOL::from(hwnd != self.stop_at)
    }

    fn count(&self) -> BOOL {
        self.windows.len() as BOOL
    }
}

fn found(stop_at: HWND) -> (Found, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    let state = Found {
        windows: Vec::new(),
        stop_at,
        _drops: Tracked(drops.clone()),
    };
    (state, drops)
}

#[test]
fn system_entries_called_through_a_repr_c_struct() {
    let (state, drops) = found(0x30);
    let lparam = state.boxed().into_raw() as LPARAM;
    let procs = &WALK_PROCS;
    // SAFETY: `lparam` carries the boxed state, alive until the destroy.
    let (walked, count) = resume_panics(|| unsafe {
        (
            c_enum_windows(procs.window, lparam),
            (procs.count.unwrap())(lparam),
        )
    });
    assert_eq!(walked, 0, "the state's FALSE stopped the walk");
    assert_eq!(count, 3, "0x10, 0x20, 0x30");
    assert_eq!(drops.get(), 0);
    // SAFETY: the destroy-notify, once.
    unsafe { (procs.destroy.unwrap())(lparam as *mut c_void) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn system_entry_of_a_scoped_state_to_the_end_then_a_panic_resumed() {
    let (state, drops) = found(0);
    let (walked, state) = state.scope(|ud| {
        // SAFETY: `ud` is the scoped state, alive for this call.
        unsafe { c_enum_windows(Some(Found::WINDOW), ud as LPARAM) }
    });
    assert_eq!(walked, 1, "walked to the end");
    assert_eq!(state.windows, [0x10, 0x20, 0x30, 0x40]);
    // A panic in a `system` entry: C gets the default fallback (FALSE,
    // which stops the walk), and the scope resumes it.
    let mut got = (0, 0);
    let (result, _) = panic_payload_and(|| {
        state.scope(|ud| {
            // SAFETY: as above.
            unsafe {
                got = (
                    Found::WINDOW(0x666, ud as LPARAM),
                    Found::COUNT(ud as LPARAM),
                );
            }
        })
    });
    let payload = result.expect_err("resumed");
    assert_eq!(message(&*payload), "expected: a window panicked");
    assert_eq!(got, (0, -1), "the fallbacks: FALSE, then poisoned");
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// 5. Arguments converted for the methods (`#[into(Type)]`)
// ---------------------------------------------------------------------------

/// What an event is, as a C library passes it: an `int`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Open,
    Close,
}

#[derive(Debug)]
struct UnknownKind(#[allow(dead_code)] c_int); // read through `Debug`, in the refusal

impl TryFrom<c_int> for Kind {
    type Error = UnknownKind;
    fn try_from(value: c_int) -> Result<Self, UnknownKind> {
        match value {
            0 => Ok(Kind::Open),
            1 => Ok(Kind::Close),
            other => Err(UnknownKind(other)),
        }
    }
}

/// An event sink: the methods receive a `Kind` and a `u64`, the C entry
/// points an `int` and a `uint32_t`; the destroy converts too.
#[callback]
trait Events {
    #[callback(fallback = -1)]
    unsafe extern "C" fn event(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(Kind)] kind: c_int,
        #[into(u64)] size: u32,
    ) -> c_int;
    #[callback(fallback = -2)]
    unsafe extern "C" fn finish(
        self,
        #[into(Kind)] kind: c_int,
        #[user_data] ud: *mut c_void,
    ) -> c_int;
}

/// What the methods received.
type Seen = Rc<RefCell<Vec<(Kind, u64)>>>;

struct Recorder {
    seen: Seen,
    _drops: Tracked,
}

impl Events for Recorder {
    fn event(&mut self, kind: Kind, size: u64) -> c_int {
        self.seen.borrow_mut().push((kind, size));
        0
    }
    fn finish(self, kind: Kind) -> c_int {
        self.seen.borrow_mut().push((kind, 0));
        7
    }
}

fn recorder() -> (Recorder, Seen, Rc<Cell<u32>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let drops = Rc::new(Cell::new(0));
    let state = Recorder {
        seen: seen.clone(),
        _drops: Tracked(drops.clone()),
    };
    (state, seen, drops)
}

#[test]
fn into_converts_arguments_for_the_methods_and_the_destroy() {
    let (state, seen, drops) = recorder();
    let ud = state.boxed().into_raw();
    // SAFETY: `ud` carries the boxed state until `FINISH`, its destroy,
    // called once.
    let got = resume_panics(|| unsafe {
        [
            Recorder::EVENT(ud, 1, u32::MAX),
            Recorder::EVENT(ud, 0, 3),
            Recorder::FINISH(1, ud),
        ]
    });
    assert_eq!(got, [0, 0, 7]);
    assert_eq!(
        *seen.borrow(),
        [
            (Kind::Close, u64::from(u32::MAX)),
            (Kind::Open, 3),
            (Kind::Close, 0)
        ]
    );
    assert_eq!(drops.get(), 1);
}

#[test]
fn into_that_fails_for_a_method_is_refused_naming_the_parameter() {
    let (state, seen, drops) = recorder();
    let mut got = [0; 2];
    let (result, _) = panic_payload_and(|| {
        state.scope(|ud| {
            // SAFETY: `ud` is the scoped state, alive for this call.
            got = unsafe { [Recorder::EVENT(ud, 9, 1), Recorder::EVENT(ud, 0, 1)] };
        })
    });
    let payload = result.expect_err("the refusal is resumed when the scope ends");
    let message = message(&*payload);
    assert!(
        message.contains("Events::event` refused the call: its parameter `kind` does not convert")
            && message.contains("Kind`: UnknownKind(9)"),
        "{message}"
    );
    assert_eq!(got, [-1, -1], "refused, then the set is poisoned");
    assert!(seen.borrow().is_empty(), "no method ran");
    assert_eq!(drops.get(), 1);
}

/// A tokenizer's handlers, as a C parser shapes them: each token as a C
/// string, a position struct, and an out parameter the handler may set.
#[repr(C)]
struct Position {
    line: u32,
    column: u32,
}

#[callback]
trait Tokens {
    #[callback(fallback = -1)]
    unsafe extern "C" fn token(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&CStr)] text: *const c_char,
        #[into(Option<&Position>)] at: *const Position,
        #[into(&mut c_int)] stop: *mut c_int,
    ) -> c_int;
}

#[derive(Default)]
struct Collector {
    tokens: Vec<(String, Option<u32>)>,
}

impl Tokens for Collector {
    fn token(&mut self, text: &CStr, at: Option<&Position>, stop: &mut c_int) -> c_int {
        let text = text.to_str().unwrap().to_owned();
        *stop = c_int::from(text == "end");
        self.tokens
            .push((text, at.map(|at| at.line * 100 + at.column)));
        0
    }
}

#[test]
fn into_a_reference_borrows_for_a_method() {
    let at = Position { line: 2, column: 5 };
    let mut stops = [9; 2];
    let (got, state) = Collector::default().scope(|ud| {
        // SAFETY: `ud` is the scoped state, alive for this call; the
        // strings, `at` and `stops` are valid for each call.
        unsafe {
            let [first, second] = &mut stops;
            [
                Collector::TOKEN(ud, c"word".as_ptr(), &at, first),
                Collector::TOKEN(ud, c"end".as_ptr(), ptr::null(), second),
            ]
        }
    });
    assert_eq!(got, [0, 0]);
    assert_eq!(stops, [0, 1], "written through the `&mut c_int`");
    assert_eq!(
        state.tokens,
        [("word".to_owned(), Some(205)), ("end".to_owned(), None)]
    );
}

#[test]
fn into_a_reference_refuses_null_for_a_method() {
    let mut stop = 0;
    let mut got = 0;
    let (result, _) = panic_payload_and(|| {
        Collector::default().scope(|ud| {
            // SAFETY: `ud` is the scoped state, alive for this call; null
            // is refused before anything reads it.
            got = unsafe { Collector::TOKEN(ud, ptr::null(), ptr::null(), &mut stop) };
        })
    });
    let payload = result.expect_err("the refusal is resumed when the scope ends");
    let message = message(&*payload);
    assert!(
        message.contains("Tokens::token` refused the call: its parameter `text` is null"),
        "{message}"
    );
    assert_eq!(got, -1);
}

/// A destroy entry with a borrowed parameter: its check runs inside the
/// call, so a refusal drops the state it moved instead of leaking it.
#[callback]
trait Closing {
    #[callback(fallback = -1)]
    unsafe extern "C" fn close(
        self,
        #[user_data] ud: *mut c_void,
        #[into(&CStr)] reason: *const c_char,
    ) -> c_int;
}

/// What the destroy entry received.
type Reasons = Rc<RefCell<Vec<String>>>;

struct Closer {
    reasons: Reasons,
    _drops: Tracked,
}

impl Closing for Closer {
    fn close(self, reason: &CStr) -> c_int {
        let reason = reason.to_string_lossy().into_owned();
        self.reasons.borrow_mut().push(reason);
        0
    }
}

fn closer() -> (Closer, Reasons, Rc<Cell<u32>>) {
    let reasons = Rc::new(RefCell::new(Vec::new()));
    let drops = Rc::new(Cell::new(0));
    let state = Closer {
        reasons: reasons.clone(),
        _drops: Tracked(drops.clone()),
    };
    (state, reasons, drops)
}

#[test]
fn into_a_reference_borrows_for_a_destroy_entry() {
    let (state, reasons, drops) = closer();
    let ud = state.boxed().into_raw();
    // SAFETY: `ud` carries the boxed state; `CLOSE`, its destroy, is
    // called once, with a string valid for the call.
    let got = resume_panics(|| unsafe { Closer::CLOSE(ud, c"done".as_ptr()) });
    assert_eq!(got, 0);
    assert_eq!(*reasons.borrow(), ["done"]);
    assert_eq!(drops.get(), 1);
}

#[test]
fn into_a_reference_refused_in_a_destroy_entry_drops_the_state() {
    let (state, reasons, drops) = closer();
    let ud = state.boxed().into_raw();
    let mut got = 0;
    let payload = panic_payload(|| {
        // SAFETY: as above, with a null string, refused before it is read.
        resume_panics(|| got = unsafe { Closer::CLOSE(ud, ptr::null()) })
    });
    let message = message(&*payload);
    assert!(
        message.contains("Closing::close` refused the call: its parameter `reason` is null"),
        "{message}"
    );
    assert_eq!(got, -1);
    assert!(reasons.borrow().is_empty(), "the method did not run");
    assert_eq!(drops.get(), 1, "the state was dropped, not leaked");
}

// ---------------------------------------------------------------------------
// 6. Methods returning `ControlFlow<()>` (`on_continue`, `on_break`)
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
struct Failed(c_int);

/// A source as GLib shapes one: `dispatch` keeps it (TRUE) or removes it
/// (FALSE); `poll` may fail, and stops a walk with 1.
#[callback]
trait Ticker {
    #[callback(on_continue = 1, on_break = 0)]
    unsafe extern "C" fn dispatch(&mut self, #[user_data] ud: *mut c_void, tick: c_int) -> c_int;
    #[callback(on_continue = 0, on_break = 1, fallback = -1)]
    unsafe extern "C" fn poll(
        &self,
        #[user_data] ud: *mut c_void,
        n: c_int,
    ) -> Result<c_int, Failed>;
}

struct Countdown {
    ticks: Vec<c_int>,
}

impl Ticker for Countdown {
    fn dispatch(&mut self, tick: c_int) -> ControlFlow<()> {
        self.ticks.push(tick);
        if tick < 3 {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }
    fn poll(&self, n: c_int) -> Result<ControlFlow<()>, Failed> {
        match n {
            0 => Ok(ControlFlow::Break(())),
            n if n < 0 => Err(Failed(n)),
            _ => Ok(ControlFlow::Continue(())),
        }
    }
}

#[test]
fn control_flow_methods_give_c_the_declared_values() {
    let mut got = [0; 6];
    let (result, state) = Countdown { ticks: Vec::new() }.scope(|ud| {
        ffi_callback::try_resume(|| {
            // SAFETY: `ud` is the scoped state, alive for this call.
            got = unsafe {
                [
                    Countdown::DISPATCH(ud, 1),
                    Countdown::DISPATCH(ud, 3),
                    Countdown::POLL(ud, 5),
                    Countdown::POLL(ud, 0),
                    Countdown::POLL(ud, -4),
                    Countdown::POLL(ud, 5),
                ]
            };
        })
    });
    assert_eq!(
        got,
        [1, 0, 0, 1, -1, -1],
        "Continue, Break, Continue, Break, the Err's fallback, then poisoned by the kept error"
    );
    assert_eq!(result, Err(Failed(-4)));
    assert_eq!(state.ticks, [1, 3]);
}

// ---------------------------------------------------------------------------
// 7. Borrowed slices in methods (`#[into(&[T], len = EXPR)]`)
// ---------------------------------------------------------------------------

/// A sink as C shapes one: a buffer and its length.
#[callback]
trait Sink {
    #[callback(fallback = -1)]
    unsafe extern "C" fn put(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&[u16], len = count as usize)] values: *const u16,
        count: c_int,
    ) -> c_int;
}

#[derive(Default)]
struct SliceTotal(u64);

impl Sink for SliceTotal {
    fn put(&mut self, values: &[u16], _count: c_int) -> c_int {
        self.0 += values.iter().map(|&v| u64::from(v)).sum::<u64>();
        c_int::try_from(values.len()).unwrap()
    }
}

#[test]
fn into_a_slice_borrows_for_a_method() {
    let values = [1u16, 2, 3, 4];
    let (got, state) = SliceTotal::default().scope(|ud| {
        // SAFETY: `ud` is the scoped state, alive for this call; `values`
        // has as many elements as each count says.
        unsafe {
            [
                SliceTotal::PUT(ud, values.as_ptr(), 4),
                SliceTotal::PUT(ud, values.as_ptr(), 2),
                SliceTotal::PUT(ud, ptr::null(), 0),
            ]
        }
    });
    assert_eq!(got, [4, 2, 0]);
    assert_eq!(state.0, 10 + 3);
}

// ---------------------------------------------------------------------------
// Overlapping borrows in a method: an out parameter inside the input
// ---------------------------------------------------------------------------

#[callback]
trait Summer {
    #[callback(fallback = -1)]
    unsafe extern "C" fn sum(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&[u16], len = count as usize)] values: *const u16,
        count: c_int,
        #[into(&mut u64)] total: *mut u64,
    ) -> c_int;
}

struct Sums(u32);

impl Summer for Sums {
    fn sum(&mut self, values: &[u16], _count: c_int, total: &mut u64) -> c_int {
        self.0 += 1;
        *total = values.iter().map(|&v| u64::from(v)).sum();
        0
    }
}

#[test]
fn into_a_mut_borrow_overlapping_another_is_refused_for_a_method() {
    let mut words = [1u64, 2, 3];
    let mut got = [9; 2];
    let payload = panic_payload(|| {
        Sums(0).scope(|ud| {
            // SAFETY: `ud` is the scoped state; the first call's total is
            // apart from its values, the second's is their first word.
            got = unsafe {
                let start = words.as_mut_ptr();
                [
                    Sums::SUM(ud, start.add(1).cast(), 4, start),
                    Sums::SUM(ud, start.cast(), 4, start),
                ]
            };
        });
    });
    let message = message(&*payload);
    assert!(
        message.contains("its parameters `total` and `values` overlap"),
        "{message}"
    );
    assert_eq!(got, [0, -1]);
    assert_eq!(
        words[0], 2,
        "the first call's total: the four `u16`s of `2u64`"
    );
}

// ---------------------------------------------------------------------------
// 8. `on_error` on the set (or in its preset): for the entries that return
//    a `Result`
// ---------------------------------------------------------------------------

/// A client API as libarchive shapes one: each callback receives the
/// library's handle `ctx` first, a failing one records its error there
/// and returns -30 (`ARCHIVE_FATAL`).
struct ClientCtx {
    error: RefCell<Option<String>>,
}

/// Records `message` on the context and gives C the failure status.
///
/// # Safety
/// `ctx` points at a live `ClientCtx`.
unsafe fn record_failure(ctx: *const ClientCtx, message: String) -> c_int {
    // SAFETY: the caller's promise.
    unsafe { *(*ctx).error.borrow_mut() = Some(message) };
    -30
}

#[derive(Debug, PartialEq)]
struct ClientError(&'static str);

/// `on_error` once for the set: `open` and `read` fail with `Err` and get
/// it; `close` returns no `Result` and is left alone; `skip` names its own.
#[callback(
    // SAFETY: every entry receives the live context first.
    on_error = unsafe { record_failure(ctx, e.0.to_string()) }
)]
trait Client {
    unsafe extern "C" fn open(
        &mut self,
        ctx: *const ClientCtx,
        #[user_data] ud: *mut c_void,
    ) -> Result<c_int, ClientError>;
    unsafe extern "C" fn read(
        &mut self,
        ctx: *const ClientCtx,
        #[user_data] ud: *mut c_void,
        n: c_int,
    ) -> Result<c_int, ClientError>;
    #[callback(on_error = -1)]
    unsafe extern "C" fn skip(
        &mut self,
        ctx: *const ClientCtx,
        #[user_data] ud: *mut c_void,
        n: c_int,
    ) -> Result<c_int, ClientError>;
    unsafe extern "C" fn close(
        &mut self,
        ctx: *const ClientCtx,
        #[user_data] ud: *mut c_void,
    ) -> c_int;
}

struct ClientState {
    closes: u32,
}

impl Client for ClientState {
    fn open(&mut self, _ctx: *const ClientCtx) -> Result<c_int, ClientError> {
        Ok(0)
    }
    fn read(&mut self, _ctx: *const ClientCtx, n: c_int) -> Result<c_int, ClientError> {
        if n < 0 {
            Err(ClientError("short read"))
        } else {
            Ok(n)
        }
    }
    fn skip(&mut self, _ctx: *const ClientCtx, n: c_int) -> Result<c_int, ClientError> {
        if n < 0 {
            Err(ClientError("cannot skip back"))
        } else {
            Ok(n)
        }
    }
    fn close(&mut self, _ctx: *const ClientCtx) -> c_int {
        self.closes += 1;
        0
    }
}

#[test]
fn the_set_s_on_error_serves_the_entries_that_return_a_result() {
    let ctx = ClientCtx {
        error: RefCell::new(None),
    };
    let ctx_ptr: *const ClientCtx = &ctx;
    let (result, state) = ClientState { closes: 0 }.try_scope(|ud| {
        // SAFETY: `ud` is the scoped state and `ctx_ptr` a live context,
        // for these calls.
        unsafe {
            assert_eq!(ClientState::OPEN(ctx_ptr, ud), 0);
            assert_eq!(ClientState::READ(ctx_ptr, ud, 7), 7);
            assert_eq!(ClientState::CLOSE(ctx_ptr, ud), 0);
            assert_eq!(
                ClientState::READ(ctx_ptr, ud, -1),
                -30,
                "the set's on_error"
            );
        }
        Ok::<_, ClientError>(())
    });
    assert_eq!(result, Err(ClientError("short read")));
    assert_eq!(ctx.error.borrow().as_deref(), Some("short read"));
    assert_eq!(state.closes, 1);

    // An entry's own `on_error` wins over the set's.
    let ctx = ClientCtx {
        error: RefCell::new(None),
    };
    let ctx_ptr: *const ClientCtx = &ctx;
    let (result, _) = ClientState { closes: 0 }.try_scope(|ud| {
        // SAFETY: as above.
        assert_eq!(unsafe { ClientState::SKIP(ctx_ptr, ud, -2) }, -1);
        Ok::<_, ClientError>(())
    });
    assert_eq!(result, Err(ClientError("cannot skip back")));
    assert_eq!(*ctx.error.borrow(), None, "the entry's own on_error ran");
}

ffi_callback::preset! {
    /// A binding's convention for its client callbacks: an `Err` is
    /// recorded on the context, a panic gives C -30 too.
    client_convention = (
        fallback = -30,
        // SAFETY: the callbacks using it receive the live context first.
        on_error = unsafe { record_failure(ctx, format!("client: {}", e.0)) },
    );
}

/// The same through a preset, which a set takes on the trait.
#[callback(preset = unsafe(client_convention))]
trait PresetClient {
    unsafe extern "C" fn read(
        &mut self,
        ctx: *const ClientCtx,
        #[user_data] ud: *mut c_void,
        n: c_int,
    ) -> Result<c_int, ClientError>;
    unsafe extern "C" fn close(
        &mut self,
        ctx: *const ClientCtx,
        #[user_data] ud: *mut c_void,
    ) -> c_int;
}

/// A state of its own: a type implementing two sets would need the
/// qualified `<T as ClientExt>::scope` for every call.
struct PresetState {
    closes: u32,
}

impl PresetClient for PresetState {
    fn read(&mut self, _ctx: *const ClientCtx, n: c_int) -> Result<c_int, ClientError> {
        if n < 0 {
            Err(ClientError("short read"))
        } else {
            Ok(n)
        }
    }
    fn close(&mut self, _ctx: *const ClientCtx) -> c_int {
        self.closes += 1;
        0
    }
}

#[test]
fn a_preset_with_on_error_serves_a_set() {
    let ctx = ClientCtx {
        error: RefCell::new(None),
    };
    let ctx_ptr: *const ClientCtx = &ctx;
    let (result, state) = PresetState { closes: 0 }.try_scope(|ud| {
        // SAFETY: `ud` is the scoped state and `ctx_ptr` a live context.
        unsafe {
            assert_eq!(PresetState::READ(ctx_ptr, ud, -1), -30);
            assert_eq!(
                PresetState::CLOSE(ctx_ptr, ud),
                -30,
                "poisoned: the preset's fallback"
            );
        }
        Ok::<_, ClientError>(())
    });
    assert_eq!(result, Err(ClientError("short read")));
    assert_eq!(ctx.error.borrow().as_deref(), Some("client: short read"));
    assert_eq!(state.closes, 0, "no user code ran while the error was kept");
}

/// SAX2's `startElementNs` has nine parameters, and sqlite's `xBestIndex`
/// shapes go further: what the macro generates from such a C signature
/// trips no lint of the user's (`clippy::too_many_arguments`).
#[callback]
trait WideEntries {
    unsafe extern "C" fn start(
        &mut self,
        #[user_data] ctx: *mut c_void,
        a: c_int,
        b: c_int,
        c: c_int,
        d: c_int,
        e: c_int,
        f: c_int,
        g: c_int,
        h: c_int,
    );
}

#[callback]
type WideCallback = unsafe extern "C" fn(
    #[user_data] ctx: *mut c_void,
    a: c_int,
    b: c_int,
    c: c_int,
    d: c_int,
    e: c_int,
    f: c_int,
    g: c_int,
    h: c_int,
);

#[callback]
extern "C" fn wide_fn(
    a: c_int,
    b: c_int,
    c: c_int,
    d: c_int,
    e: c_int,
    f: c_int,
    g: c_int,
    h: c_int,
    #[user_data] sum: &mut c_int,
) {
    *sum += a + b + c + d + e + f + g + h;
}

struct Wide(c_int);

impl WideEntries for Wide {
    fn start(
        &mut self,
        a: c_int,
        b: c_int,
        c: c_int,
        d: c_int,
        e: c_int,
        f: c_int,
        g: c_int,
        h: c_int,
    ) {
        self.0 += a + b + c + d + e + f + g + h;
    }
}

#[test]
fn entries_and_callbacks_of_nine_parameters() {
    let mut sum = 0;
    // SAFETY: the state's user data, for this call.
    unsafe { wide_fn(1, 1, 1, 1, 1, 1, 1, 1, wide_fn::user_data(&mut sum)) };
    // SAFETY: the state's user data, for this call.
    let (_, state) = Wide(0).scope(|ud| unsafe { Wide::START(ud, 1, 2, 3, 4, 5, 6, 7, 8) });
    assert_eq!((sum, state.0), (8, 36));
    let total = std::cell::Cell::new(0);
    WideCallback::scope(
        |a, b, c, d, e, f, g, h| total.set(a + b + c + d + e + f + g + h),
        // SAFETY: the holder's user data, for this call.
        |func, ud| unsafe { func(ud, 1, 1, 1, 1, 1, 1, 1, 2) },
    );
    assert_eq!(total.get(), 9);
}

/// `on_error` reports the error to C, which calls another entry of the
/// same state (libxml2's `xmlXPathErr` calls the context's error
/// callback): that call gets its fallback without running, and the `Err`
/// comes back, not a re-entry refusal in its place.
#[callback]
trait Reporting {
    // SAFETY: `ud` is the state's user data, which C passed this call.
    #[callback(on_error = unsafe { report_to_c(ud) })]
    unsafe extern "C" fn eval(&mut self, #[user_data] ud: *mut c_void) -> Result<c_int, String>;
    #[callback(fallback = -9)]
    unsafe extern "C" fn error(&mut self, #[user_data] ud: *mut c_void, code: c_int) -> c_int;
}

/// C's error path: calls the state's error entry, and returns what that
/// returned.
///
/// # Safety
/// `ud` is a live `Reporter`'s user data.
unsafe fn report_to_c(ud: *mut c_void) -> c_int {
    // SAFETY: by the caller's promise.
    unsafe { Reporter::ERROR(ud, 7) }
}

#[derive(Default)]
struct Reporter {
    evals: c_int,
    errors: c_int,
    fail: bool,
}

impl Reporting for Reporter {
    fn eval(&mut self) -> Result<c_int, String> {
        self.evals += 1;
        if self.fail {
            Err("x".to_owned())
        } else {
            Ok(0)
        }
    }

    fn error(&mut self, code: c_int) -> c_int {
        self.errors += 1;
        code
    }
}

#[test]
fn an_entry_that_on_error_makes_c_call_gets_its_fallback_and_the_err_comes_back() {
    let state = Reporter {
        fail: true,
        ..Reporter::default()
    };
    let (got, state) = state.scope(|ud| {
        try_resume::<_, String>(|| {
            // SAFETY: the state's user data, for this call.
            let eval = unsafe { Reporter::EVAL(ud) };
            // SAFETY: as above.
            let error = unsafe { Reporter::ERROR(ud, 1) };
            (eval, error)
        })
    });
    // C got the fallback from the nested call (-9, what `on_error`
    // returned), and the entry C called after it was poisoned by the kept
    // `Err` (-9 too); the `Err` came back.
    assert_eq!(got, Err("x".to_owned()));
    assert_eq!((state.evals, state.errors), (1, 0));

    // With no guard keeping the error (a guard of another type), it is
    // reported and dropped, and the state is not left poisoned.
    let state = Reporter {
        fail: true,
        ..Reporter::default()
    };
    let (got, state) = state.scope(|ud| {
        // SAFETY: the state's user data, for these calls.
        unsafe { (Reporter::EVAL(ud), Reporter::ERROR(ud, 1)) }
    });
    assert_eq!(got, (-9, 1));
    assert_eq!((state.evals, state.errors), (1, 1));
}

/// libxml2's shape with `&self` entries: an XPath function fails, its
/// `on_error` reports to C, which calls the context's error callback, a
/// `&self` entry that runs (as it may during the body) and fails too
/// (audit 25).
#[callback]
trait SharedReporting {
    // SAFETY: `ud` is the state's user data, which C passed this call.
    #[callback(on_error = unsafe { SharedReporter::ERROR(ud, 7) })]
    unsafe extern "C" fn eval(&self, #[user_data] ud: *mut c_void) -> Result<c_int, String>;
    #[callback(fallback = -9, on_error = -8)]
    unsafe extern "C" fn error(
        &self,
        #[user_data] ud: *mut c_void,
        code: c_int,
    ) -> Result<c_int, String>;
}

#[derive(Default)]
struct SharedReporter {
    errors: Cell<c_int>,
}

impl SharedReporting for SharedReporter {
    fn eval(&self) -> Result<c_int, String> {
        Err("the function failed".to_owned())
    }

    fn error(&self, code: c_int) -> Result<c_int, String> {
        self.errors.set(self.errors.get() + 1);
        Err(format!("error {code} reported"))
    }
}

#[test]
fn an_err_from_a_call_that_on_error_makes_c_make_comes_after_the_first() {
    let (got, state) = SharedReporter::default().scope(|ud| {
        try_resume::<_, String>(|| {
            // SAFETY: the state's user data, for this call.
            unsafe { SharedReporter::EVAL(ud) }
        })
    });
    // The error entry ran (C got its `on_error`, -8, and returned it), and
    // its `Err`, returned while the first one's `on_error` ran, lost to it.
    assert_eq!(got, Err("the function failed".to_owned()));
    assert_eq!(state.errors.get(), 1);
}

/// Tcl's `$obj destroy`: the object command deletes itself from inside
/// its own call, and Tcl calls its delete proc there and then.
#[callback]
trait ObjectCommand {
    #[callback(fallback = -1)]
    unsafe extern "C" fn invoke(&self, #[user_data] cd: *mut c_void, destroy: c_int) -> c_int;
    unsafe extern "C" fn delete(self, #[user_data] cd: *mut c_void);
}

struct Object {
    /// Its own user data, as Tcl's command token stands for it.
    me: Rc<Cell<*mut c_void>>,
    deleted: Rc<Cell<bool>>,
    _drops: Tracked,
}

impl ObjectCommand for Object {
    fn invoke(&self, destroy: c_int) -> c_int {
        if destroy != 0 {
            // SAFETY: the state's user data; Tcl's one delete proc call,
            // made from inside this call (`rename $obj {}`).
            unsafe { Object::DELETE(self.me.get()) };
        }
        destroy
    }

    fn delete(self) {
        self.deleted.set(true);
    }
}

/// An object handed to C, and what watches it.
fn object() -> (*mut c_void, Rc<Cell<bool>>, Rc<Cell<u32>>) {
    let (me, deleted, drops) = (
        Rc::new(Cell::new(ptr::null_mut())),
        Rc::default(),
        Rc::default(),
    );
    let cd = Object {
        me: me.clone(),
        deleted: Rc::clone(&deleted),
        _drops: Tracked(Rc::clone(&drops)),
    }
    .boxed()
    .into_raw();
    me.set(cd);
    (cd, deleted, drops)
}

#[test]
fn a_self_destroy_entry_called_during_a_call_is_reported_as_not_run() {
    // C's delete outside any call: the entry runs, nothing is reported.
    let (cd, deleted, drops) = object();
    let (got, reports) = reports_during(|| {
        // SAFETY: `cd` is the handed-over state, alive until its delete.
        resume_panics(|| unsafe { (Object::INVOKE(cd, 0), Object::DELETE(cd)) })
    });
    assert_eq!(got, (0, ()));
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!((deleted.get(), drops.get()), (true, 1));

    // During `invoke`: deferred to its end, the state dropped then,
    // `delete`'s body not run, and that reported.
    let (cd, deleted, drops) = object();
    let (got, reports) = reports_during(|| {
        // SAFETY: `cd` is alive for this call, which deletes it.
        resume_panics(|| unsafe { Object::INVOKE(cd, 1) })
    });
    assert_eq!(got, 1);
    assert_eq!(
        reports,
        [(
            ReportKind::DestroyEntryDeferred,
            "simulated_sets_options::ObjectCommand::delete".to_owned()
        )]
    );
    assert_eq!((deleted.get(), drops.get()), (false, 1));
}

/// [`ObjectCommand`] with its delete proc marked `destroy` and taking
/// `&mut self` instead of `self` (audit 25).
#[callback]
trait MarkedObjectCommand {
    #[callback(fallback = -1)]
    unsafe extern "C" fn invoke(&self, #[user_data] cd: *mut c_void, destroy: c_int) -> c_int;
    #[callback(destroy)]
    unsafe extern "C" fn delete(&mut self, #[user_data] cd: *mut c_void);
}

/// The same, its `invoke` taking `&mut self` and its delete `&self`.
#[callback]
trait MarkedRefObjectCommand {
    #[callback(fallback = -1)]
    unsafe extern "C" fn invoke(&mut self, #[user_data] cd: *mut c_void, destroy: c_int) -> c_int;
    #[callback(destroy)]
    unsafe extern "C" fn delete(&self, #[user_data] cd: *mut c_void);
}

/// [`Object`] for [`MarkedObjectCommand`].
struct MarkedObject(Object);

/// [`Object`] for [`MarkedRefObjectCommand`].
struct MarkedRefObject(Object);

impl MarkedObjectCommand for MarkedObject {
    fn invoke(&self, destroy: c_int) -> c_int {
        if destroy != 0 {
            // SAFETY: as in `ObjectCommand::invoke`.
            unsafe { MarkedObject::DELETE(self.0.me.get()) };
        }
        destroy
    }

    fn delete(&mut self) {
        self.0.deleted.set(true);
    }
}

impl MarkedRefObjectCommand for MarkedRefObject {
    fn invoke(&mut self, destroy: c_int) -> c_int {
        if destroy != 0 {
            // SAFETY: as in `ObjectCommand::invoke`.
            unsafe { MarkedRefObject::DELETE(self.0.me.get()) };
        }
        destroy
    }

    fn delete(&self) {
        self.0.deleted.set(true);
    }
}

/// An [`Object`] handed to C by `into_raw`, and what watches it.
fn marked_object(
    into_raw: fn(Object) -> *mut c_void,
) -> (*mut c_void, Rc<Cell<bool>>, Rc<Cell<u32>>) {
    let (me, deleted, drops) = (
        Rc::new(Cell::new(ptr::null_mut())),
        Rc::default(),
        Rc::default(),
    );
    let cd = into_raw(Object {
        me: me.clone(),
        deleted: Rc::clone(&deleted),
        _drops: Tracked(Rc::clone(&drops)),
    });
    me.set(cd);
    (cd, deleted, drops)
}

#[test]
fn a_marked_destroy_entry_that_cannot_run_during_a_call_is_reported_as_not_run() {
    let deferred = |set: &str| {
        vec![(
            ReportKind::DestroyEntryDeferred,
            format!("simulated_sets_options::{set}::delete"),
        )]
    };

    // A `&mut self` delete during a `&self` call: it cannot run (the state
    // is shared), the state is dropped when the call returns, and that is
    // said, as for an entry taking `self`.
    let (cd, deleted, drops) = marked_object(|o| MarkedObject(o).boxed().into_raw());
    let (got, reports) = reports_during(|| {
        // SAFETY: `cd` is alive for this call, which deletes it.
        resume_panics(|| unsafe { MarkedObject::INVOKE(cd, 1) })
    });
    assert_eq!(got, 1);
    assert_eq!(reports, deferred("MarkedObjectCommand"));
    assert_eq!((deleted.get(), drops.get()), (false, 1));

    // A `&self` delete during a `&mut self` call: the same.
    let (cd, deleted, drops) = marked_object(|o| MarkedRefObject(o).boxed().into_raw());
    let (got, reports) = reports_during(|| {
        // SAFETY: as above.
        resume_panics(|| unsafe { MarkedRefObject::INVOKE(cd, 1) })
    });
    assert_eq!(got, 1);
    assert_eq!(reports, deferred("MarkedRefObjectCommand"));
    assert_eq!((deleted.get(), drops.get()), (false, 1));

    // Outside any call, the marked delete runs, and nothing is reported.
    let (cd, deleted, drops) = marked_object(|o| MarkedObject(o).boxed().into_raw());
    let (got, reports) = reports_during(|| {
        // SAFETY: `cd` is the handed-over state, alive until its delete.
        resume_panics(|| unsafe { (MarkedObject::INVOKE(cd, 0), MarkedObject::DELETE(cd)) })
    });
    assert_eq!(got, (0, ()));
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!((deleted.get(), drops.get()), (true, 1));
}
