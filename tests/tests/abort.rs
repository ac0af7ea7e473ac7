//! The paths that end the process: each runs in a child process (this test
//! binary again, with `ABORT_SCENARIO` naming what to do, running only the
//! `child` test), which must die by SIGABRT after printing which callback
//! it was and what to do about it. The callbacks are called by real C code
//! (glibc's `qsort_r`, `dl_iterate_phdr`, `pthread_create`), except the
//! `C-unwind` one, whose caller stands in for a C library built with
//! unwinding.

use std::ffi::{c_int, c_void};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use ffi_callback::{callback, user_data};

/// The environment variable that selects the child's scenario.
const SCENARIO: &str = "FFI_CALLBACK_ABORT_SCENARIO";

/// The child side: does nothing unless `SCENARIO` is set.
#[test]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    disable_core_dumps();
    eprintln!("child: running scenario {scenario}");
    match scenario.as_str() {
        "resume_without_guard" => resume_without_guard(),
        "abort_fn" => abort_fn(),
        "send_type_on_pthread" => send_type_on_pthread(),
        "refusal_under_abort" => refusal_under_abort(),
        "panicking_fallback" => panicking_fallback(),
        "panicking_fallback_resume_first_call" => panicking_fallback_resume_first_call(),
        "type_null_fallback_panics" => type_null_fallback_panics(),
        "type_shared_null_fallback_panics" => type_shared_null_fallback_panics(),
        "local_type_foreign_fallback_panics" => local_type_foreign_fallback_panics(),
        "set_null_fallback_panics" => set_null_fallback_panics(),
        "set_destroy_null_fallback_panics" => set_destroy_null_fallback_panics(),
        "error_without_guard" => error_without_guard(),
        "panicking_fallback_type" => panicking_fallback_type(),
        "panicking_fallback_unwind_abi" => panicking_fallback_unwind_abi(),
        "send_resume_type_on_unguarded_thread" => send_resume_type_on_unguarded_thread(),
        "future_callback_panics_on_a_pthread" => future_callback_panics_on_a_pthread(),
        "new_holder_dropped_by_its_own_closure" => new_holder_dropped_by_its_own_closure(),
        "local_abort_type_called_on_another_thread" => local_abort_type_called_on_another_thread(),
        "new_holder_dropped_while_another_thread_calls" => {
            new_holder_dropped_while_another_thread_calls()
        }
        "new_holder_dropped_while_a_refused_call_holds_it" => {
            new_holder_dropped_while_a_refused_call_holds_it()
        }
        "thread_local_scope_fallback_panics_elsewhere" => {
            thread_local_scope_fallback_panics_elsewhere()
        }
        "refused_borrow_fallback_panics" => refused_borrow_fallback_panics(),
        "refused_reentry_fallback_panics" => refused_reentry_fallback_panics(),
        other => panic!("unknown scenario {other}"),
    }
    eprintln!("child: scenario {scenario} returned without aborting");
    std::process::exit(3);
}

fn disable_core_dumps() {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `none` is a valid `rlimit`; lowering a limit needs no privilege.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
}

/// Runs the `child` test in a new process with `scenario`; its stderr.
fn run_child(scenario: &str) -> String {
    let (status, stderr) = spawn_child(scenario);
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "the child must die by SIGABRT, not {status:?}; stderr:\n{stderr}"
    );
    stderr
}

/// Runs the `child` test in a new process with `scenario`; how it ended
/// and its stderr (which libtest does not capture with `--nocapture`, so
/// the default reporter's `eprintln!` lands there).
fn spawn_child(scenario: &str) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains(&format!("child: running scenario {scenario}")),
        "the child ran the scenario; stderr:\n{stderr}"
    );
    (output.status, stderr)
}

fn assert_mentions(stderr: &str, needles: &[&str]) {
    for needle in needles {
        // The needles name this file as the workspace's build does; the
        // optimised build (tests/optimized) compiles it from elsewhere,
        // where `file!()` differs.
        #[allow(clippy::no_effect_replace)]
        let needle = &needle.replace("tests/tests/abort.rs", file!());
        assert!(
            stderr.contains(needle),
            "stderr should mention {needle:?}; it is:\n{stderr}"
        );
    }
}

fn sort_with(
    compare: unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> c_int,
    ud: *mut c_void,
) {
    let mut data = [3u32, 1, 2];
    // SAFETY: `data` is a valid array of three `u32`s; whatever `compare`
    // does with `ud` is what the scenario is about, and it never returns
    // from a bad call (the process aborts).
    unsafe {
        libc::qsort_r(
            data.as_mut_ptr().cast(),
            data.len(),
            size_of::<u32>(),
            Some(compare),
            ud,
        )
    };
}

// ---------------------------------------------------------------------------
// 1. `resume` (the default) with no `resume_panics` guard on the thread
// ---------------------------------------------------------------------------

#[callback]
extern "C" fn unguarded_compare(
    _a: *const c_void,
    _b: *const c_void,
    #[user_data] calls: &mut usize,
) -> c_int {
    *calls += 1;
    panic!("unguarded comparator exploded");
}

fn resume_without_guard() {
    let mut calls = 0usize;
    // No `resume_panics` around the C call.
    sort_with(unguarded_compare, user_data(&mut calls));
}

#[test]
fn resume_without_a_guard_aborts_naming_the_callback_and_the_fix() {
    let stderr = run_child("resume_without_guard");
    assert_mentions(
        &stderr,
        &[
            "unguarded comparator exploded",
            "`abort::unguarded_compare` (tests/tests/abort.rs:",
            ") panicked: unguarded comparator exploded",
            "no `ffi_callback::resume_panics` guard active on its thread",
            "wrap the C call in `resume_panics(|| unsafe { .. })`",
            "`unguarded = fallback`",
        ],
    );
}

// ---------------------------------------------------------------------------
// 2. `on_panic = abort`, fn form
// ---------------------------------------------------------------------------

#[callback(on_panic = abort)]
extern "C" fn aborting_walk(
    _info: *mut libc::dl_phdr_info,
    _size: usize,
    #[user_data] seen: &mut usize,
) -> c_int {
    *seen += 1;
    panic!("walk exploded");
}

fn abort_fn() {
    let mut seen = 0usize;
    // SAFETY: `aborting_walk` receives `&mut usize`; `seen` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(aborting_walk), user_data(&mut seen)) };
}

#[test]
fn on_panic_abort_fn_aborts_naming_the_callback() {
    let stderr = run_child("abort_fn");
    assert_mentions(
        &stderr,
        &[
            "walk exploded",
            "`abort::aborting_walk` (tests/tests/abort.rs:",
            ") panicked: walk exploded",
            "aborting",
        ],
    );
}

// ---------------------------------------------------------------------------
// 3. a `send` callback type (abort by default) panicking on a new thread
// ---------------------------------------------------------------------------

// SAFETY: only passed to `pthread_create` with a `ThreadStart` holder's
// user data.
#[callback(send, unsafe(safe_fn))]
type ThreadStart = extern "C" fn(#[user_data] arg: *mut c_void) -> *mut c_void;

fn send_type_on_pthread() {
    let message = String::from("thread body exploded");
    let start = ThreadStart::once(move || -> *mut c_void { panic!("{message}") }).into_raw();
    // SAFETY: the once's own user data, called once.
    unsafe { run_on_pthread(start.function, start.user_data) };
}

/// Runs `start(arg)` on a new pthread and joins it (the process aborts
/// first in these scenarios).
///
/// # Safety
/// `arg` is what `start` takes, for one call on another thread.
unsafe fn run_on_pthread(start: extern "C" fn(*mut c_void) -> *mut c_void, arg: *mut c_void) {
    let mut thread: libc::pthread_t = 0;
    // SAFETY: the caller's promise; `thread` is a valid out pointer.
    let rc = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), start, arg) };
    assert_eq!(rc, 0, "pthread_create");
    // SAFETY: a joinable thread created above.
    unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
}

#[test]
fn send_type_panicking_on_a_pthread_aborts_naming_the_type() {
    let stderr = run_child("send_type_on_pthread");
    assert_mentions(&stderr, &["thread body exploded", "`abort::ThreadStart` ("]);
}

// ---------------------------------------------------------------------------
// 4. a refusal (null user data where `&mut T` is expected) under `abort`
// ---------------------------------------------------------------------------

#[callback(on_panic = abort)]
extern "C" fn needs_state(
    _a: *const c_void,
    _b: *const c_void,
    #[user_data] state: &mut Vec<u8>,
) -> c_int {
    state.push(1);
    0
}

fn refusal_under_abort() {
    sort_with(needs_state, std::ptr::null_mut());
}

#[test]
fn null_user_data_under_abort_is_refused_then_aborts() {
    let stderr = run_child("refusal_under_abort");
    assert_mentions(
        &stderr,
        &[
            "`abort::needs_state` refused the call",
            "its user data is null",
            "&mut alloc::vec::Vec<u8>",
            "`abort::needs_state` (tests/tests/abort.rs:",
            ") refused a call: its user data is null",
        ],
    );
}

// ---------------------------------------------------------------------------
// 5. the `fallback = EXPR` expression itself panics
// ---------------------------------------------------------------------------

fn no_order_known() -> c_int {
    panic!("no fallback order either")
}

#[callback(on_panic = fallback, fallback = no_order_known())]
extern "C" fn compare_or_give_up(
    _a: *const c_void,
    _b: *const c_void,
    #[user_data] calls: &mut usize,
) -> c_int {
    *calls += 1;
    panic!("comparator exploded");
}

fn panicking_fallback() {
    let mut calls = 0usize;
    sort_with(compare_or_give_up, user_data(&mut calls));
}

#[test]
fn a_panicking_fallback_expression_aborts_naming_the_callback() {
    let stderr = run_child("panicking_fallback");
    assert_mentions(
        &stderr,
        &[
            // The body's panic is reported first (policy `fallback`) ...
            ") panicked: comparator exploded",
            // ... then the fallback expression's, by the panic hook ...
            "no fallback order either",
            // ... which has nowhere to go.
            "the `fallback = ..` expression of the callback `abort::compare_or_give_up` (tests/tests/abort.rs:",
            "a panic cannot unwind into C; aborting",
        ],
    );
}

/// The same under the default `on_panic = resume`, on the fn's first call:
/// that call runs the body on the cold path (it joins the fn's poison
/// filter), inside a nounwind fn of the runtime, where the fallback's panic
/// must be caught rather than met by a drop guard (in an optimised build,
/// the guard's cleanup was inlined into that nounwind frame and never ran:
/// "failed to initiate panic", no word of the callback). CI runs this file
/// in an optimised build too (scripts/test-optimized.sh).
#[callback(fallback = no_order_known())]
extern "C" fn compare_or_give_up_resume(
    _a: *const c_void,
    _b: *const c_void,
    #[user_data] calls: &mut usize,
) -> c_int {
    *calls += 1;
    panic!("comparator exploded on its first call");
}

fn panicking_fallback_resume_first_call() {
    let mut calls = 0usize;
    ffi_callback::resume_panics(|| {
        sort_with(compare_or_give_up_resume, user_data(&mut calls));
    });
}

#[test]
fn a_panicking_fallback_on_the_first_call_of_a_resume_fn_aborts_naming_the_callback() {
    let stderr = run_child("panicking_fallback_resume_first_call");
    assert_mentions(
        &stderr,
        &[
            "comparator exploded on its first call",
            "no fallback order either",
            "the `fallback = ..` expression of the callback `abort::compare_or_give_up_resume` \
             (tests/tests/abort.rs:",
            "a panic cannot unwind into C; aborting",
        ],
    );
}

// The refusals a trampoline ends in one cold nounwind call (null user
// data, a `local` type's call on another thread), whose `fallback = EXPR`
// panics: the abort names the callback, in optimised builds too (audit 18).

#[callback(on_panic = fallback, fallback = no_order_known())]
type NullRefused = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn type_null_fallback_panics() {
    let cb = NullRefused::new(|n| n);
    // SAFETY: null user data, which the trampoline refuses.
    unsafe { cb.function()(std::ptr::null_mut(), 1) };
}

#[callback(on_panic = fallback, fallback = no_order_known(), reentrant)]
type SharedNullRefused = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn type_shared_null_fallback_panics() {
    let cb = SharedNullRefused::new(|n| n);
    // SAFETY: as above, for the shared (`Fn`) entry.
    unsafe { cb.function()(std::ptr::null_mut(), 1) };
}

#[callback(local, on_panic = fallback, fallback = no_order_known())]
type LocalRefused = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn local_type_foreign_fallback_panics() {
    let cb = LocalRefused::new(|n| n);
    let (f, ud) = (cb.function(), cb.user_data() as usize);
    std::thread::scope(|s| {
        // SAFETY: the holder is alive; the call on another thread is refused.
        let _ = s.spawn(move || unsafe { f(ud as *mut c_void, 1) }).join();
    });
}

#[callback(on_panic = fallback, fallback = no_order_known())]
trait NullClient {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> c_int;
}

struct NullClientState;

impl NullClient for NullClientState {
    fn read(&mut self, n: c_int) -> c_int {
        n
    }
    fn close(self) -> c_int {
        0
    }
}

fn set_null_fallback_panics() {
    // SAFETY: null user data, refused.
    unsafe { NullClientState::READ(std::ptr::null_mut(), 1) };
}

fn set_destroy_null_fallback_panics() {
    // SAFETY: null user data, refused.
    unsafe { NullClientState::CLOSE(std::ptr::null_mut()) };
}

#[test]
fn refusals_whose_fallback_panics_abort_naming_the_callback() {
    for (scenario, callback) in [
        ("type_null_fallback_panics", "abort::NullRefused"),
        (
            "type_shared_null_fallback_panics",
            "abort::SharedNullRefused",
        ),
        ("local_type_foreign_fallback_panics", "abort::LocalRefused"),
        ("set_null_fallback_panics", "abort::NullClient::read"),
        (
            "set_destroy_null_fallback_panics",
            "abort::NullClient::close",
        ),
    ] {
        let stderr = run_child(scenario);
        assert_mentions(
            &stderr,
            &[
                "no fallback order either",
                &format!("the `fallback = ..` expression of the callback `{callback}`"),
            ],
        );
    }
}

// ---------------------------------------------------------------------------
// 6. a callback type's `fallback = EXPR` panics
// ---------------------------------------------------------------------------

fn no_type_order_known() -> c_int {
    panic!("no fallback order for the type either")
}

#[callback(on_panic = fallback, fallback = no_type_order_known())]
type CompareOrGiveUp =
    unsafe extern "C" fn(a: *const c_void, b: *const c_void, #[user_data] ud: *mut c_void) -> c_int;

fn panicking_fallback_type() {
    CompareOrGiveUp::scope(
        |_a, _b| -> c_int { panic!("type comparator exploded") },
        sort_with,
    );
}

#[test]
fn a_panicking_fallback_expression_of_a_type_aborts_naming_the_type() {
    let stderr = run_child("panicking_fallback_type");
    assert_mentions(
        &stderr,
        &[
            // The closure's panic is reported first (policy `fallback`) ...
            "the callback `abort::CompareOrGiveUp` (tests/tests/abort.rs:",
            ") panicked: type comparator exploded",
            // ... then the fallback expression's, by the panic hook ...
            "no fallback order for the type either",
            // ... which has nowhere to go.
            "the `fallback = ..` expression of the callback `abort::CompareOrGiveUp` \
             (tests/tests/abort.rs:",
            "a panic cannot unwind into C; aborting",
        ],
    );
}

// ---------------------------------------------------------------------------
// 7. `fallback = EXPR` panics in a fn with an unwinding (`C-unwind`) ABI
// ---------------------------------------------------------------------------

fn no_count_known() -> c_int {
    panic!("no fallback count either")
}

#[callback(on_panic = fallback, fallback = no_count_known())]
extern "C-unwind" fn count_or_give_up(_x: c_int, #[user_data] calls: &mut usize) -> c_int {
    *calls += 1;
    panic!("unwinding counter exploded");
}

/// Stands in for a C library compiled with unwinding (`-fexceptions`): a
/// panic could pass through it, so only the callback stops one.
unsafe extern "C-unwind" fn c_apply_unwind(
    f: unsafe extern "C-unwind" fn(c_int, *mut c_void) -> c_int,
    ud: *mut c_void,
    x: c_int,
) -> c_int {
    // SAFETY: the caller passes the user data `f` expects.
    unsafe { f(x, ud) }
}

fn panicking_fallback_unwind_abi() {
    let mut calls = 0usize;
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `count_or_give_up` receives `&mut usize`; `calls` outlives
        // the call.
        unsafe { c_apply_unwind(count_or_give_up, user_data(&mut calls), 1) }
    }));
    // Not reached when the process aborts, as it must.
    match unwound {
        Ok(value) => eprintln!("child: C received {value}"),
        Err(_) => eprintln!("child: the fallback's panic unwound into the caller"),
    }
}

#[test]
fn a_panicking_fallback_expression_aborts_even_with_an_unwinding_abi() {
    let stderr = run_child("panicking_fallback_unwind_abi");
    assert_mentions(
        &stderr,
        &[
            "`abort::count_or_give_up` (tests/tests/abort.rs:",
            ") panicked: unwinding counter exploded",
            "no fallback count either",
            "the `fallback = ..` expression of the callback `abort::count_or_give_up` \
             (tests/tests/abort.rs:",
            "a panic cannot unwind into C; aborting",
        ],
    );
}

// ---------------------------------------------------------------------------
// 8. a `send, on_panic = resume` type panicking on a thread with no guard
//    (the caller's thread has one: guards are per thread)
// ---------------------------------------------------------------------------

#[callback(send, on_panic = resume)]
type CompareOnWorker =
    unsafe extern "C" fn(a: *const c_void, b: *const c_void, #[user_data] ud: *mut c_void) -> c_int;

fn send_resume_type_on_unguarded_thread() {
    let compare = CompareOnWorker::new(|_a, _b| -> c_int { panic!("worker comparator exploded") });
    // A guard on this thread, none on the worker that calls C.
    ffi_callback::resume_panics(|| sort_on_another_thread(compare.function(), compare.user_data()));
    drop(compare);
}

/// C sorting with `function` and `ud` on a thread of its own, joined.
fn sort_on_another_thread(
    function: unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> c_int,
    ud: *mut c_void,
) {
    // The user data as an address, to cross to the worker thread.
    let ud = ud as usize;
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || sort_with(function, ud as *mut c_void));
        // Not reached when the process aborts, as it must.
        let joined = worker.join();
        eprintln!("child: the worker returned (panicked: {})", joined.is_err());
    });
}

#[test]
fn send_resume_type_panicking_on_a_thread_without_a_guard_aborts_naming_the_type() {
    let stderr = run_child("send_resume_type_on_unguarded_thread");
    assert_mentions(
        &stderr,
        &[
            "worker comparator exploded",
            "`abort::CompareOnWorker` (tests/tests/abort.rs:",
            ") panicked: worker comparator exploded",
            "no `ffi_callback::resume_panics` guard active on its thread",
            "wrap the C call in `resume_panics(|| unsafe { .. })`",
            "`unguarded = fallback`",
            "; aborting",
        ],
    );
}

// ---------------------------------------------------------------------------
// 9. the callback of a future (a `send` type, so `abort` by default)
//    panicking on the C library's thread
// ---------------------------------------------------------------------------

// SAFETY: only passed to `pthread_create` with a `FutureStart` once's user
// data.
#[callback(send, unsafe(safe_fn))]
type FutureStart = extern "C" fn(#[user_data] arg: *mut c_void) -> *mut c_void;

/// What the future's callback computes: a panic.
fn future_value() -> c_int {
    panic!("future body exploded")
}

fn future_callback_panics_on_a_pthread() {
    let (start, done) = ffi_callback::future(|done| {
        FutureStart::once(move || -> *mut c_void {
            done.complete(future_value());
            std::ptr::null_mut()
        })
    });
    let start = start.into_raw();
    // SAFETY: the once's own user data, called once.
    unsafe { run_on_pthread(start.function, start.user_data) };
    // Not reached when the process aborts, as it must.
    drop(done);
}

#[test]
fn a_future_callback_panicking_on_a_pthread_aborts_naming_the_type() {
    let stderr = run_child("future_callback_panics_on_a_pthread");
    assert_mentions(
        &stderr,
        &[
            "future body exploded",
            "`abort::FutureStart` (tests/tests/abort.rs:",
            ") panicked: future body exploded",
            "(on_panic = abort)",
            "; aborting",
        ],
    );
}

// ---------------------------------------------------------------------------
// 6b. a type without user data, whose function C calls on a thread where no
//     `scope_thread_local` runs: refused, and its `fallback = EXPR` panics
// ---------------------------------------------------------------------------

#[callback(on_panic = fallback, fallback = no_type_order_known())]
type CompareElsewhere = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

fn thread_local_scope_fallback_panics_elsewhere() {
    CompareElsewhere::scope_thread_local(
        |_a, _b| 0,
        |compare| {
            // C calls the function on a thread of its own: nothing is
            // parked there.
            // SAFETY: any pointers; the call is refused before reading them.
            std::thread::spawn(move || unsafe { compare(std::ptr::null(), std::ptr::null()) })
                .join()
        },
    )
    .ok();
    eprintln!("child: the refused call returned");
}

#[test]
fn a_panicking_fallback_of_a_refused_thread_local_scope_call_aborts_naming_the_type() {
    let stderr = run_child("thread_local_scope_fallback_panics_elsewhere");
    assert_mentions(
        &stderr,
        &[
            "no `scope_thread_local` of its type is running on this thread",
            "no fallback order for the type either",
            "the `fallback = ..` expression of the callback `abort::CompareElsewhere` \
             (tests/tests/abort.rs:",
            "a panic cannot unwind into C; aborting",
        ],
    );
    assert!(
        !stderr.contains("child: the refused call returned"),
        "stderr:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// 6c. refusals decided in the runtime's cold paths (a null where a parameter
//     is borrowed, a call into a running closure) whose `fallback = EXPR`
//     panics: the same abort, naming the callback
// ---------------------------------------------------------------------------

#[callback(on_panic = fallback, fallback = no_type_order_known())]
type BorrowingCompare = unsafe extern "C" fn(
    #[into(&u32)] a: *const c_void,
    #[into(&u32)] b: *const c_void,
    #[user_data] ud: *mut c_void,
) -> c_int;

fn refused_borrow_fallback_panics() {
    BorrowingCompare::scope(
        |a: &u32, b: &u32| a.cmp(b) as c_int,
        // SAFETY: null where `a` is borrowed, which is refused before the
        // closure runs.
        |f, ud| unsafe { f(std::ptr::null(), std::ptr::null(), ud) },
    );
    eprintln!("child: the refused call returned");
}

#[callback(on_panic = fallback, fallback = no_type_order_known())]
type Reentered = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn refused_reentry_fallback_panics() {
    let again: std::cell::Cell<Option<(ReenteredFn, usize)>> = std::cell::Cell::new(None);
    Reentered::scope(
        |n| match (n, again.get()) {
            // C calls back into the running callback.
            // SAFETY: the scope's own function and user data.
            (0, Some((f, ud))) => unsafe { f(ud as *mut c_void, 1) },
            _ => n,
        },
        |f, ud| {
            again.set(Some((f, ud as usize)));
            // SAFETY: as above.
            unsafe { f(ud, 0) }
        },
    );
    eprintln!("child: the refused call returned");
}

#[test]
fn a_panicking_fallback_of_a_refused_borrow_aborts_naming_the_type() {
    let stderr = run_child("refused_borrow_fallback_panics");
    assert_mentions(
        &stderr,
        &[
            "its parameter `a` is null",
            "no fallback order for the type either",
            "the `fallback = ..` expression of the callback `abort::BorrowingCompare` \
             (tests/tests/abort.rs:",
            "a panic cannot unwind into C; aborting",
        ],
    );
    assert!(
        !stderr.contains("child: the refused call returned"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn a_panicking_fallback_of_a_refused_reentry_aborts_naming_the_type() {
    let stderr = run_child("refused_reentry_fallback_panics");
    assert_mentions(
        &stderr,
        &[
            "it was called while its closure was already running",
            "no fallback order for the type either",
            "the `fallback = ..` expression of the callback `abort::Reentered` \
             (tests/tests/abort.rs:",
            "a panic cannot unwind into C; aborting",
        ],
    );
    assert!(
        !stderr.contains("child: the refused call returned"),
        "stderr:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// 10. a holder made by `new`, kept where its own closure can reach it, and
//     dropped by that closure while C calls it
// ---------------------------------------------------------------------------

#[callback(fallback = -1)]
type SelfDroppingHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

fn new_holder_dropped_by_its_own_closure() {
    type Slot = std::rc::Rc<std::cell::RefCell<Option<Box<dyn std::any::Any>>>>;
    let slot = Slot::default();
    let reach = slot.clone();
    let data = String::from("heap");
    let hook = SelfDroppingHook::new(move |n| {
        // Drops the holder, and with it this closure and `data`, while it
        // runs: the crate must stop here, before the free.
        drop(reach.borrow_mut().take());
        n + data.len() as c_int
    });
    let hook = Box::new(hook);
    let (function, ud) = (hook.function(), hook.user_data());
    *slot.borrow_mut() = Some(hook);
    // SAFETY: the holder's own function and user data, alive (in `slot`)
    // when the call starts.
    let got = ffi_callback::resume_panics(|| unsafe { function(ud, 1) });
    // Not reached when the process aborts, as it must.
    eprintln!("child: the call returned {got}");
}

#[test]
fn a_new_holder_dropped_by_its_own_closure_aborts_naming_the_callback() {
    let stderr = run_child("new_holder_dropped_by_its_own_closure");
    assert_mentions(
        &stderr,
        &[
            "a holder of the callback `abort::SelfDroppingHook` (tests/tests/abort.rs:",
            ") was dropped while C was calling it",
            "by its own closure",
            "must outlive every call C makes with it",
            "use `boxed`",
            "; aborting",
        ],
    );
    assert!(
        !stderr.contains("child: the call returned"),
        "stderr:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// 11. a `local, on_panic = abort` type called by C on another thread: no
//     fallback to return, so the process stops, saying the thread was wrong
// ---------------------------------------------------------------------------

#[callback(local, on_panic = abort)]
type LocalCompare =
    unsafe extern "C" fn(a: *const c_void, b: *const c_void, #[user_data] ud: *mut c_void) -> c_int;

fn local_abort_type_called_on_another_thread() {
    let compare = LocalCompare::new(|_a, _b| -> c_int { 0 });
    sort_on_another_thread(compare.function(), compare.user_data());
    drop(compare);
}

#[test]
fn a_local_abort_type_called_on_another_thread_aborts_naming_the_wrong_thread() {
    let stderr = run_child("local_abort_type_called_on_another_thread");
    assert_mentions(
        &stderr,
        &[
            "`abort::LocalCompare` (tests/tests/abort.rs:",
            "refused a call: it was called on another thread than the one it was made on",
            "the call came from the wrong thread",
            "no fallback value to return to C",
            "; aborting",
        ],
    );
    assert!(!stderr.contains("resume_panics"), "stderr:\n{stderr}");
}

// ---------------------------------------------------------------------------
// The default reporter: an error with no `try_resume` guard is reported on
// stderr (not in a panic, not silently) and dropped; the process goes on.
// ---------------------------------------------------------------------------

/// An error C cannot carry: returned with no `try_resume` guard around the
/// C call, so it goes to the reporter.
#[derive(Debug)]
struct CompareFailed;

#[callback(on_panic = fallback)]
extern "C" fn failing_compare(
    _a: *const c_void,
    _b: *const c_void,
    #[user_data] calls: &mut u32,
) -> Result<c_int, CompareFailed> {
    *calls += 1;
    Err(CompareFailed)
}

fn error_without_guard() {
    let mut calls = 0u32;
    sort_with(failing_compare, failing_compare::user_data(&mut calls));
    assert!(calls >= 2, "qsort_r compared three values");
    eprintln!("child: {calls} comparisons failed");
}

#[test]
fn the_default_reporter_prints_an_unguarded_error_on_stderr_and_goes_on() {
    let (status, stderr) = spawn_child("error_without_guard");
    // The scenario returned: the child exits with 3, not by a signal.
    assert_eq!(status.code(), Some(3), "stderr:\n{stderr}");
    assert_mentions(
        &stderr,
        &[
            "ffi-callback: ",
            "`abort::failing_compare` (tests/tests/abort.rs:",
            "failed with an error",
            "no `try_resume::<abort::CompareFailed>` (or `try_scope`) guard",
            "the error was dropped",
            "wrap the C call in `ffi_callback::try_resume(",
        ],
    );
    // One report per failed call, each with its own error.
    let reports = stderr.matches("ffi-callback: ").count();
    let calls: usize = stderr
        .lines()
        .find_map(|line| {
            line.strip_prefix("child: ")?
                .strip_suffix(" comparisons failed")
        })
        .and_then(|n| n.parse().ok())
        .expect("the child said how many comparisons ran");
    assert_eq!(reports, calls, "stderr:\n{stderr}");
}

// ---------------------------------------------------------------------------
// 12. a `sync` type's holder made by `new`, dropped by its owner while a
//     call C started on another thread is still running inside it
// ---------------------------------------------------------------------------

#[callback(sync, on_panic = fallback)]
type WorkerHook = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// How long a scenario waits for the other thread before giving up (it
/// never should: the process aborts first, or the thread arrives at once).
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

fn new_holder_dropped_while_another_thread_calls() {
    use std::sync::{Mutex, mpsc};
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let (entered_tx, released) = (Mutex::new(entered_tx), Mutex::new(released));
    // Boxed, so that the holder stays where C's user data points when it
    // is dropped (`drop(hook)` of the holder itself would move it first).
    let hook = Box::new(WorkerHook::new(|n| {
        entered_tx.lock().unwrap().send(()).unwrap();
        // Stays inside the call until the holder has been dropped: the
        // process aborts first.
        let _ = released.lock().unwrap().recv_timeout(PATIENCE);
        n
    }));
    // The user data as an address, to cross to C's thread.
    let (function, ud) = (hook.function(), hook.user_data() as usize);
    // SAFETY: the holder's own function and user data, alive when the call
    // starts.
    let worker = std::thread::spawn(move || unsafe { function(ud as *mut c_void, 7) });
    entered
        .recv_timeout(PATIENCE)
        .expect("C's thread entered the call");
    // The owner drops the holder while C's call runs inside it: the crate
    // must stop here, before the closure is dropped.
    drop(hook);
    // Not reached when the process aborts, as it must.
    eprintln!("child: the holder was dropped under the running call");
    let _ = release.send(());
    let _ = worker.join();
}

#[test]
fn a_new_holder_dropped_while_another_thread_calls_it_aborts() {
    let stderr = run_child("new_holder_dropped_while_another_thread_calls");
    assert_mentions(
        &stderr,
        &[
            "a holder of the callback `abort::WorkerHook` (tests/tests/abort.rs:",
            ") was dropped while C was calling it",
            "by its owner on another thread",
            "freeing it would free the closure under the running call",
            "; aborting",
        ],
    );
    assert!(
        !stderr.contains("child: the holder was dropped under the running call"),
        "stderr:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// 13. a `sync` type's holder made by `new`, whose closure's drop makes C
//     call it on another thread: that call is refused (as after the
//     destroy), and is still being refused when the closure's drop returns
// ---------------------------------------------------------------------------

/// Set by the reporter once C's thread's call has been refused.
static REFUSED_ON_C_THREAD: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The name of the thread that stands in for C's.
const C_THREAD: &str = "c-library-thread";

/// A reporter that keeps C's thread inside the refusal (for as long as the
/// process lives, up to `PATIENCE`): the refused call still holds the
/// holder when the closure's drop returns.
fn hold_refusals_on_c_thread(report: &ffi_callback::Report<'_>) {
    eprintln!("child: reported {:?}", report.kind());
    if std::thread::current().name() == Some(C_THREAD)
        && report.kind() == ffi_callback::ReportKind::Refused
    {
        REFUSED_ON_C_THREAD.store(true, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(PATIENCE);
    }
}

/// Owned by the closure: its drop makes C call the holder on C's thread
/// (`target` is the holder's function and user data, set once it exists),
/// and returns once that call has been refused.
struct CallsBackOnAnotherThread<'a> {
    target: &'a std::sync::OnceLock<(WorkerHookFn, usize)>,
}

impl Drop for CallsBackOnAnotherThread<'_> {
    fn drop(&mut self) {
        let &(function, ud) = self.target.get().expect("the holder's user data");
        std::thread::Builder::new()
            .name(C_THREAD.into())
            // SAFETY: the holder's own function and user data; the holder
            // is being dropped, not freed, when the call reaches it.
            .spawn(move || unsafe { function(ud as *mut c_void, 1) })
            .expect("C's thread starts");
        let start = std::time::Instant::now();
        while !REFUSED_ON_C_THREAD.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(start.elapsed() < PATIENCE, "C's call was never refused");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        eprintln!("child: the closure's drop returns while C's call is refused");
    }
}

fn new_holder_dropped_while_a_refused_call_holds_it() {
    ffi_callback::set_reporter(hold_refusals_on_c_thread);
    let target = std::sync::OnceLock::new();
    let calls_back = CallsBackOnAnotherThread { target: &target };
    // Boxed, so that the holder stays where C's user data points when it
    // is dropped.
    let hook = Box::new(WorkerHook::new(move |n| {
        let _ = &calls_back;
        n
    }));
    let _ = target.set((hook.function(), hook.user_data() as usize));
    // The closure's drop makes C call on its thread; the refused call
    // still holds the holder when the drop returns: the crate must stop
    // here, before the holder's memory goes away.
    drop(hook);
    // Not reached when the process aborts, as it must.
    eprintln!("child: the holder was dropped under the refused call");
}

#[test]
fn a_new_holder_dropped_while_a_refused_call_on_another_thread_holds_it_aborts() {
    let stderr = run_child("new_holder_dropped_while_a_refused_call_holds_it");
    assert_mentions(
        &stderr,
        &[
            // C's call, made from the closure's drop, was refused ...
            "refused the call: it was called after it was destroyed",
            "child: reported Refused",
            "child: the closure's drop returns while C's call is refused",
            // ... and still held the holder when the drop returned.
            "a holder of the callback `abort::WorkerHook` (tests/tests/abort.rs:",
            "), lent by `new` or `scope`, was dropped while a call C made on another thread during \
             the closure's drop was still being refused",
            "the holder's memory is about to go away under that call",
            "; aborting",
        ],
    );
    assert!(
        !stderr.contains("child: the holder was dropped under the refused call"),
        "stderr:\n{stderr}"
    );
}
