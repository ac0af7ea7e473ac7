//! `fallback = EXPR` reading `why`: the reason C gets the fallback (the
//! panic's message, the refusal's reason, an `Err` with no `on_error`, or
//! a call that did not run), for a binding that hands it to C (a Tcl
//! command's result, an SQL function's error). For each form, on
//! Rust-simulated C (also under Miri).

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};

use ffi_callback::{callback, resume_panics, set_reporter};
use ffi_callback_tests::panics::{message, panic_payload};

thread_local! {
    static WHYS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// What a C library's error slot would get: records `why`, gives C -1.
fn record(why: &str) -> c_int {
    WHYS.with(|w| w.borrow_mut().push(why.to_owned()));
    -1
}

fn whys() -> Vec<String> {
    WHYS.with(|w| w.take())
}

/// Reports go nowhere here: these tests look at `why`.
fn quiet() {
    set_reporter(|_| {});
}

/// Plays a C library calling `cb` once per input, whatever it returned.
fn drive(
    cb: unsafe extern "C" fn(c_int, *mut c_void) -> c_int,
    ud: *mut c_void,
    inputs: &[c_int],
) -> Vec<c_int> {
    inputs
        .iter()
        // SAFETY: `ud` is what the callback was made with (or null, which
        // the callback refuses), live for the whole call.
        .map(|&x| unsafe { cb(x, ud) })
        .collect()
}

// ---------------------------------------------------------------------------
// The fn form
// ---------------------------------------------------------------------------

/// Under `on_panic = fallback` each call stands alone: the panic's message
/// (a `String` payload, then a `&str`), a refusal's reason, then nothing.
#[callback(on_panic = fallback, fallback = record(why))]
extern "C" fn checked(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(x);
    match x {
        7 => panic!("{x} is unlucky"),
        8 => panic!("eight"),
        9 => std::panic::panic_any(9_u8),
        _ => x,
    }
}

#[test]
fn fn_form_fallback_reads_the_panic_message_or_the_refusal() {
    quiet();
    let mut seen = Vec::new();
    let returned = drive(checked, checked::user_data(&mut seen), &[1, 7, 8, 9, 2]);
    assert_eq!(returned, [1, -1, -1, -1, 2]);
    assert_eq!(
        whys(),
        [
            "7 is unlucky",
            "eight",
            "a Rust callback panicked (with a payload that is no string)"
        ]
    );
    // Null user data, received as `&mut`: refused, and why says so.
    assert_eq!(drive(checked, std::ptr::null_mut(), &[3]), [-1]);
    let why = whys();
    assert_eq!(why.len(), 1);
    assert!(why[0].contains("null"), "{why:?}");
}

/// Under `resume` the panic is kept: the failing call's fallback reads its
/// message, and the calls refused while it is kept read that they did not
/// run.
#[callback(fallback = record(why))]
extern "C" fn kept(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(x);
    if x == 5 {
        panic!("five");
    }
    x
}

#[test]
fn fn_form_resume_the_kept_panic_then_calls_that_did_not_run() {
    let mut seen = Vec::new();
    let mut returned = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| returned = drive(kept, kept::user_data(&mut seen), &[4, 5, 6]))
    });
    assert_eq!(message(&*payload), "five");
    assert_eq!(returned, [4, -1, -1]);
    assert_eq!(seen, [4, 5]);
    let why = whys();
    assert_eq!(why[0], "five");
    assert!(why[1].starts_with("the callback did not run"), "{why:?}");
    assert_eq!(why.len(), 2);
}

#[derive(Debug)]
struct Odd;

/// An `Err` with no `on_error` gives C the fallback, which reads so.
#[callback(fallback = record(why))]
extern "C" fn fails(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> Result<c_int, Odd> {
    seen.push(x);
    if x % 2 != 0 { Err(Odd) } else { Ok(x) }
}

#[test]
fn fn_form_an_err_without_on_error() {
    quiet();
    let mut seen = Vec::new();
    // No guard for `Odd`: reported (quietly here) and dropped.
    assert_eq!(drive(fails, fails::user_data(&mut seen), &[1, 2]), [-1, 2]);
    let why = whys();
    assert_eq!(why.len(), 1);
    assert!(why[0].contains("returned `Err`"), "{why:?}");
}

// ---------------------------------------------------------------------------
// Callback types
// ---------------------------------------------------------------------------

/// A C parameter named like nothing special, read beside `why`.
#[callback(on_panic = fallback, fallback = record(why) - n)]
type Visit = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[test]
fn type_fallback_reads_why_beside_the_c_parameters() {
    quiet();
    let returned = Visit::scope(
        |n| {
            if n == 3 {
                panic!("three");
            }
            n
        },
        |f, ud| drive(f, ud, &[1, 3]),
    );
    assert_eq!(returned, [1, -4]);
    assert_eq!(whys(), ["three"]);
}

#[callback(on_panic = fallback, fallback = record(why))]
type Reentering = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[test]
fn type_fallback_reads_a_re_entry_refusal() {
    quiet();
    struct Raw(ReenteringFn, *mut c_void);
    let raw = RefCell::new(None::<Raw>);
    let returned = Reentering::scope(
        |n| {
            if n == 0 {
                let raw = raw.borrow();
                let Raw(f, ud) = raw.as_ref().unwrap();
                // SAFETY: this scope's own function and holder, still live;
                // the crate refuses the nested call to the `FnMut`.
                unsafe { f(1, *ud) }
            } else {
                n
            }
        },
        |f, ud| {
            *raw.borrow_mut() = Some(Raw(f, ud));
            drive(f, ud, &[0])
        },
    );
    assert_eq!(returned, [-1], "the nested call's fallback, passed on");
    let why = whys();
    assert_eq!(why.len(), 1);
    assert!(why[0].contains("re-enter"), "{why:?}");
}

// ---------------------------------------------------------------------------
// Sets
// ---------------------------------------------------------------------------

#[callback(on_panic = fallback, fallback = record(why))]
trait Stream {
    unsafe extern "C" fn read(&mut self, n: c_int, #[user_data] ud: *mut c_void) -> c_int;
}

struct Reader;

impl Stream for Reader {
    fn read(&mut self, n: c_int) -> c_int {
        if n < 0 {
            panic!("cannot read {n} bytes");
        }
        n
    }
}

#[test]
fn set_fallback_reads_why() {
    quiet();
    let (returned, _) = Reader.scope(|ud| drive(Reader::READ, ud, &[4, -2]));
    assert_eq!(returned, [4, -1]);
    assert_eq!(whys(), ["cannot read -2 bytes"]);
}

// ---------------------------------------------------------------------------
// Slot-less types
// ---------------------------------------------------------------------------

#[callback(on_panic = fallback, fallback = record(why))]
type Check = extern "C" fn(n: c_int) -> c_int;

#[test]
fn slotless_fallback_reads_why_also_in_a_thread_local_scope() {
    quiet();
    let check = Check::new(|n| if n == 0 { panic!("zero") } else { n });
    let f = check.function();
    assert_eq!([f(2), f(0)], [2, -1]);
    assert_eq!(whys(), ["zero"]);

    let mut total = 0;
    let returned = Check::scope_thread_local(
        |n| {
            total += n;
            if n > 5 {
                panic!("{n} is too big");
            }
            n
        },
        |f| [f(1), f(6)],
    );
    assert_eq!(returned, [1, -1]);
    assert_eq!(whys(), ["6 is too big"]);
}

#[test]
fn once_callbacks_read_why() {
    quiet();
    let returned = Visit::scope_once(
        |n| -> c_int { panic!("once, {n}") },
        |f, ud| drive(f, ud, &[2]),
    );
    assert_eq!(returned, [-3], "record(why) - n");
    assert_eq!(whys(), ["once, 2"]);
}

// ---------------------------------------------------------------------------
// Another callback's reason (audit 26): `why` is noted per thread, so a
// reason noted where no fallback follows, or while user code that reaches
// another callback runs, was read by that other callback's fallback.
// ---------------------------------------------------------------------------

/// A callback type whose `boxed` holders C destroys (a destroy-notify).
#[callback]
type Tick = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

fn tick(n: c_int) -> c_int {
    n
}

/// C destroys a holder that a `Boxed` keeps (refused: no fallback follows,
/// a destroy returns nothing), then calls a callback that the kept refusal
/// keeps from running: that one reads that it did not run, not the
/// destroy's refusal.
#[test]
fn a_refused_destroy_s_reason_is_not_another_callback_s_why() {
    quiet();
    let kept_by_rust = Tick::boxed(tick as fn(c_int) -> c_int);
    let handed_over = Tick::boxed(tick as fn(c_int) -> c_int).into_raw();
    let mut seen = Vec::new();
    let mut returned = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: the destroy-notify of this type for holders of the
            // same closure type, given a live holder of that type (that
            // a `Boxed` still owns: refused).
            unsafe { (handed_over.destroy)(kept_by_rust.user_data()) };
            returned = drive(kept, kept::user_data(&mut seen), &[1]);
        })
    });
    assert!(
        message(&*payload).contains("destroyed by C"),
        "{}",
        message(&*payload)
    );
    assert_eq!(returned, [-1]);
    assert!(
        seen.is_empty(),
        "the thread is poisoned: `kept` did not run"
    );
    let why = whys();
    assert_eq!(why.len(), 1);
    assert!(why[0].starts_with("the callback did not run"), "{why:?}");
    // SAFETY: C's one destroy of the holder handed over.
    unsafe { (handed_over.destroy)(handed_over.user_data) };
    drop(kept_by_rust);
}

/// Under `on_panic = fallback` (so it runs on a poisoned thread), its
/// `on_error` makes C call `kept`, which the kept panic keeps from
/// running.
#[callback(on_panic = fallback, on_error = call_kept(e.0))]
extern "C" fn err_calls_back(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> Result<c_int, Odd2> {
    seen.push(x);
    Err(Odd2(x))
}

#[derive(Debug)]
struct Odd2(c_int);

fn call_kept(x: c_int) -> c_int {
    let mut seen = Vec::new();
    let returned = drive(kept, kept::user_data(&mut seen), &[x]);
    assert!(seen.is_empty(), "`kept` did not run");
    returned[0]
}

#[test]
fn an_err_s_reason_is_not_the_why_of_a_callback_its_on_error_reaches() {
    quiet();
    let mut seen = Vec::new();
    let mut returned = Vec::new();
    let mut seen_err = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            returned = drive(kept, kept::user_data(&mut seen), &[5]);
            returned.extend(drive(
                err_calls_back,
                err_calls_back::user_data(&mut seen_err),
                &[3],
            ));
        })
    });
    assert_eq!(message(&*payload), "five");
    assert_eq!(returned, [-1, -1]);
    assert_eq!(seen_err, [3]);
    let why = whys();
    assert_eq!(why[0], "five");
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[1].starts_with("the callback did not run"), "{why:?}");
}

/// Panics with "inner" under `on_panic = fallback`.
#[callback(on_panic = fallback, fallback = record(why))]
extern "C" fn inner(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(x);
    panic!("inner")
}

/// A panic payload whose `Drop` (user code, run while the policy handles
/// the panic) makes C call `inner`.
struct CallsInnerWhenDropped;

impl Drop for CallsInnerWhenDropped {
    fn drop(&mut self) {
        let mut seen = Vec::new();
        assert_eq!(drive(inner, inner::user_data(&mut seen), &[1]), [-1]);
    }
}

#[callback(on_panic = fallback, fallback = record(why))]
extern "C" fn outer(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    seen.push(x);
    std::panic::panic_any(CallsInnerWhenDropped)
}

/// The outer callback's reason is noted once its policy handled the panic
/// (which dropped the payload, reaching `inner`): each fallback reads its
/// own.
#[test]
fn a_callback_reached_while_the_policy_handles_a_panic_does_not_take_its_why() {
    quiet();
    let mut seen = Vec::new();
    assert_eq!(drive(outer, outer::user_data(&mut seen), &[2]), [-1]);
    assert_eq!(
        whys(),
        [
            "inner",
            "a Rust callback panicked (with a payload that is no string)"
        ]
    );
}

/// A call after its `scope_thread_local` returned (C kept the function
/// pointer) is refused: why says so, not that an earlier failure is kept.
#[test]
fn a_call_with_no_scope_running_reads_its_refusal() {
    quiet();
    let f = Check::scope_thread_local(|n| n, |f| f);
    assert_eq!(f(4), -1);
    let why = whys();
    assert_eq!(why.len(), 1);
    assert!(why[0].contains("no `scope_thread_local`"), "{why:?}");
}

/// A `local` type called on another thread: refused, and why says so.
#[callback(on_panic = fallback, fallback = record(why), local)]
type Here = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

#[test]
fn a_local_callback_called_on_another_thread_reads_its_refusal() {
    quiet();
    let here = Here::boxed(|n| n);
    let (f, ud) = (here.function(), here.user_data() as usize);
    let why = std::thread::spawn(move || {
        // SAFETY: a live holder (the `Boxed` outlives the join), called
        // on another thread, which its contract refuses.
        let returned = unsafe { f(5, ud as *mut c_void) };
        (returned, whys())
    })
    .join()
    .unwrap();
    assert_eq!(why.0, -1);
    assert_eq!(why.1.len(), 1);
    assert!(why.1[0].contains("another thread"), "{why:?}");
    drop(here);
}

// ---------------------------------------------------------------------------
// Destroys, and user code run between the note and the fallback
// ---------------------------------------------------------------------------

/// A closure's capture that makes C call `inner` (which panics, and gives
/// its fallback) when it is dropped.
struct CallsInnerOnDrop;

impl Drop for CallsInnerOnDrop {
    fn drop(&mut self) {
        let mut seen = Vec::new();
        assert_eq!(drive(inner, inner::user_data(&mut seen), &[1]), [-1]);
    }
}

#[callback(on_panic = fallback, fallback = record(why))]
type Doomed = unsafe extern "C" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;

thread_local! {
    /// C's destroy of the holder it was handed, for a closure that has C
    /// destroy it from inside its own call.
    static DESTROY_DOOMED: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
}

/// C destroys a callback it owns from inside its call, which then panics:
/// the last call out frees the closure, whose drop reaches `inner`, before
/// the fallback. Each fallback reads its own reason.
#[test]
fn a_callback_reached_while_its_destroyed_closure_drops_does_not_take_its_why() {
    quiet();
    let dropper = CallsInnerOnDrop;
    let raw = Doomed::boxed(move |n| -> c_int {
        let _keep = &dropper;
        if let Some(destroy) = DESTROY_DOOMED.take() {
            destroy();
        }
        panic!("doomed {n}")
    })
    .into_raw();
    let (function, user_data, destroy) = (raw.function, raw.user_data, raw.destroy);
    DESTROY_DOOMED.set(Some(Box::new(move || {
        // SAFETY: C's one destroy of the holder it was handed, from inside
        // its call (deferred until the call leaves).
        unsafe { destroy(user_data) }
    })));
    assert_eq!(drive(function, user_data, &[3]), [-1]);
    assert_eq!(whys(), ["inner", "doomed 3"]);
}

#[callback(on_panic = fallback, fallback = record(why))]
trait Closing {
    unsafe extern "C" fn step(&mut self, n: c_int, #[user_data] ud: *mut c_void) -> c_int;
    #[callback(destroy)]
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

thread_local! {
    /// The user data C holds for a `Closes` state.
    static CLOSES_UD: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

struct Closes;

impl Closing for Closes {
    /// Step n has C close the state n times from inside this call.
    fn step(&mut self, n: c_int) -> c_int {
        for _ in 0..n {
            // SAFETY: C's close of the state it owns, from inside one of
            // its calls (deferred: the state is freed when this call
            // returns); a second one during that call finds it destroyed.
            let closed = unsafe { Closes::CLOSE(CLOSES_UD.get()) };
            assert_eq!(closed, -1);
        }
        n
    }

    fn close(&mut self) -> c_int {
        0
    }
}

/// A destroy entry whose body does not run gives C its fallback, and
/// `why` says why: null user data, a close during a call of the state, a
/// second close then.
#[test]
fn a_destroy_entry_that_does_not_run_reads_why() {
    quiet();
    // SAFETY: null user data, which the entry refuses.
    assert_eq!(unsafe { Closes::CLOSE(std::ptr::null_mut()) }, -1);
    let why = whys();
    assert_eq!(why.len(), 1);
    assert!(why[0].contains("null"), "{why:?}");

    let ud = Closes.boxed().into_raw();
    CLOSES_UD.set(ud);
    // SAFETY: a state C owns; step 1 closes it, which frees it when the
    // call returns; no call follows.
    assert_eq!(unsafe { Closes::STEP(1, ud) }, 1);
    let why = whys();
    assert_eq!(why.len(), 1);
    assert!(why[0].contains("during a call"), "{why:?}");

    let ud = Closes.boxed().into_raw();
    CLOSES_UD.set(ud);
    // SAFETY: as above; step 2 closes it twice (C's bug, but during the
    // call the state is alive, and the second close frees nothing).
    assert_eq!(unsafe { Closes::STEP(2, ud) }, 2);
    let why = whys();
    assert_eq!(why.len(), 2);
    assert!(why[0].contains("during a call"), "{why:?}");
    assert!(why[1].contains("destroyed already"), "{why:?}");
}
