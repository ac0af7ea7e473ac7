//! `#[callback]` against glibc: `qsort_r`, `qsort`, `dl_iterate_phdr`,
//! `pthread_create`, `twalk_r` and `nftw`, called for real (no mocks).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ffi_callback::{callback, reclaim_box, resume_panics, user_data, user_data_box};

/// The comparator type `qsort_r` takes (glibc order: user data last).
type RawCompareR = unsafe extern "C" fn(*const c_void, *const c_void, *mut c_void) -> c_int;

thread_local! {
    /// The comparator `observed_compare` forwards to.
    static INNER: Cell<Option<RawCompareR>> = const { Cell::new(None) };
    /// What the forwarded comparator returned to `qsort_r`, call by call.
    static RETURNED: RefCell<Vec<c_int>> = const { RefCell::new(Vec::new()) };
}

/// Sits between `qsort_r` and the comparator under test, recording every
/// call glibc makes and what the comparator returned to it, so a test can
/// see the calls that ran no user code.
unsafe extern "C" fn observed_compare(
    a: *const c_void,
    b: *const c_void,
    ud: *mut c_void,
) -> c_int {
    let inner = INNER.with(Cell::get).expect("observed_qsort_r sets INNER");
    // SAFETY: the arguments are forwarded unchanged from `qsort_r`, which
    // received `ud` for exactly this comparator (see `observed_qsort_r`).
    let returned = unsafe { inner(a, b, ud) };
    RETURNED.with(|r| r.borrow_mut().push(returned));
    returned
}

/// `qsort_r(data, compare, ud)` through `observed_compare`; returns what
/// `compare` returned on each of glibc's calls.
///
/// # Safety
/// `compare` must accept `ud` and compare two `T`s.
unsafe fn observed_qsort_r<T>(data: &mut [T], compare: RawCompareR, ud: *mut c_void) -> Vec<c_int> {
    INNER.with(|i| i.set(Some(compare)));
    RETURNED.with(|r| r.borrow_mut().clear());
    // SAFETY: `data` is a valid, exclusively borrowed array of `len`
    // elements of `size_of::<T>()` bytes; the caller vouches for `compare`
    // with `ud`, which `observed_compare` forwards to.
    unsafe {
        libc::qsort_r(
            data.as_mut_ptr().cast(),
            data.len(),
            size_of::<T>(),
            Some(observed_compare),
            ud,
        );
    }
    INNER.with(|i| i.set(None));
    RETURNED.with(|r| r.take())
}

/// A panic payload that is not a string, to check that the original
/// payload (not a copy or a message) reaches the caller.
#[derive(Debug, PartialEq)]
struct ComparatorPanic {
    call: usize,
}

fn scrambled(n: u32) -> Vec<u32> {
    // A fixed permutation of 0..n (n coprime to 37).
    (0..n).map(|i| (i * 37 + 11) % n).collect()
}

fn is_sorted<T: PartialOrd>(data: &[T]) -> bool {
    data.windows(2).all(|w| w[0] <= w[1])
}

/// Runs `f`, which must end in a resumed panic, and returns its payload.
///
/// Panicking tests run one at a time: a panic raised inside a
/// `dl_iterate_phdr` callback runs the panic hook while glibc holds the
/// loader lock, and a hook printing a backtrace (`RUST_BACKTRACE=1`) on
/// another thread at the same time takes the backtrace lock and then waits
/// for the loader lock (to list the loaded objects): a deadlock between
/// glibc and std, whatever the callback does.
fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    static ONE_PANIC_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = ONE_PANIC_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected the callback's panic to be resumed"),
        Err(payload) => payload,
    }
}

// ---------------------------------------------------------------------------
// qsort_r, fn form: user data last
// ---------------------------------------------------------------------------

struct CompareState {
    /// Calls that ran user code.
    calls: usize,
    /// Panic (with a `ComparatorPanic`) on this call.
    panic_on: Option<usize>,
}

#[callback]
extern "C" fn compare_u32(
    a: *const c_void,
    b: *const c_void,
    #[user_data] state: &mut CompareState,
) -> c_int {
    state.calls += 1;
    if state.panic_on == Some(state.calls) {
        panic_any(ComparatorPanic { call: state.calls });
    }
    // SAFETY: qsort_r passes pointers to two elements of the `u32` array
    // being sorted.
    let (a, b) = unsafe { (*a.cast::<u32>(), *b.cast::<u32>()) };
    a.cmp(&b) as c_int
}

#[test]
fn qsort_r_fn_form_sorts_with_user_data_last() {
    let mut data = scrambled(64);
    let mut state = CompareState {
        calls: 0,
        panic_on: None,
    };
    // SAFETY: `compare_u32` receives `&mut CompareState`; `state` outlives
    // the call and is not touched until it returns.
    let returned = resume_panics(|| unsafe {
        observed_qsort_r(&mut data, compare_u32, user_data(&mut state))
    });
    assert!(is_sorted(&data), "{data:?}");
    assert_eq!(data, (0..64).collect::<Vec<_>>());
    assert!(
        state.calls >= 63,
        "a sort of 64 items compares at least 63 times"
    );
    assert_eq!(
        state.calls,
        returned.len(),
        "every glibc call ran user code"
    );
}

#[test]
fn qsort_r_panic_reaches_resume_panics_with_its_payload_and_stops_user_code() {
    let mut data = scrambled(64);
    let mut state = CompareState {
        calls: 0,
        panic_on: Some(5),
    };
    let mut returned = Vec::new();
    let payload = payload_of(|| {
        // SAFETY: as in the test above.
        resume_panics(|| unsafe {
            returned = observed_qsort_r(&mut data, compare_u32, user_data(&mut state));
        })
    });
    let payload = payload
        .downcast::<ComparatorPanic>()
        .expect("the original payload, downcastable");
    assert_eq!(*payload, ComparatorPanic { call: 5 });
    assert_eq!(state.calls, 5, "no user code ran after the panic");
    assert!(
        returned.len() > 5,
        "glibc kept calling the comparator after the panic ({} calls)",
        returned.len()
    );
    assert!(
        returned[4..].iter().all(|&r| r == 0),
        "the panicking call and every later one returned the fallback 0: {:?}",
        &returned[4..]
    );
    // The data is a permutation of what it was: qsort_r finished normally.
    data.sort_unstable();
    assert_eq!(data, (0..64).collect::<Vec<_>>());
}

#[test]
fn a_kept_panic_stops_every_resume_fn_on_the_thread_until_the_guard_returns() {
    let mut data = scrambled(16);
    let mut state = CompareState {
        calls: 0,
        panic_on: Some(1),
    };
    let mut walk = Walk::new();
    let mut walk_result = None;
    let payload = payload_of(|| {
        resume_panics(|| {
            // SAFETY: as in `qsort_r_fn_form_sorts_with_user_data_last`.
            unsafe { observed_qsort_r(&mut data, compare_u32, user_data(&mut state)) };
            // A different callback under the same, now poisoned, guard.
            // SAFETY: `walk_objects` receives `&mut Walk`; `walk` outlives
            // the call and is not touched until it returns.
            walk_result =
                Some(unsafe { libc::dl_iterate_phdr(Some(walk_objects), user_data(&mut walk)) });
        })
    });
    assert!(payload.is::<ComparatorPanic>());
    assert_eq!(state.calls, 1);
    assert!(
        walk.names.is_empty(),
        "walk_objects ran user code: {:?}",
        walk.names
    );
    assert_eq!(
        walk_result,
        Some(-1),
        "it returned its fallback, which stops the walk"
    );

    // Once the guard has returned, the thread is no longer poisoned.
    let mut walk = Walk::new();
    // SAFETY: as above.
    let result = resume_panics(|| unsafe {
        libc::dl_iterate_phdr(Some(walk_objects), user_data(&mut walk))
    });
    assert_eq!(result, 0);
    assert!(!walk.names.is_empty());
}

// ---------------------------------------------------------------------------
// qsort_r, callback type + scope capturing state
// ---------------------------------------------------------------------------

#[callback]
type CompareWith =
    unsafe extern "C" fn(a: *const c_void, b: *const c_void, #[user_data] ud: *mut c_void) -> c_int;

#[test]
fn qsort_r_callback_type_scope_captures_state() {
    let keys = ["pear", "apple", "fig", "banana", "cherry", "date", "kiwi"];
    let mut order: Vec<usize> = (0..keys.len()).collect();
    let mut calls = 0;
    let returned = CompareWith::scope(
        |a, b| {
            calls += 1;
            // SAFETY: qsort_r passes pointers to two `usize` elements of
            // `order`.
            let (a, b) = unsafe { (*a.cast::<usize>(), *b.cast::<usize>()) };
            keys[a].cmp(keys[b]) as c_int
        },
        // SAFETY: `func` takes `ud` and compares two `usize`s.
        |func, ud| unsafe { observed_qsort_r(&mut order, func, ud) },
    );
    let sorted: Vec<&str> = order.iter().map(|&i| keys[i]).collect();
    assert_eq!(
        sorted,
        ["apple", "banana", "cherry", "date", "fig", "kiwi", "pear"]
    );
    assert!(calls >= keys.len() - 1);
    assert_eq!(calls, returned.len());
}

#[test]
fn qsort_r_callback_type_scope_resumes_the_panic_and_poisons_the_holder() {
    let mut data = scrambled(64);
    let mut calls = 0;
    let mut returned = Vec::new();
    let payload = payload_of(|| {
        CompareWith::scope(
            |a, b| {
                calls += 1;
                if calls == 3 {
                    panic_any(ComparatorPanic { call: calls });
                }
                // SAFETY: pointers to two `u32` elements of `data`.
                let (a, b) = unsafe { (*a.cast::<u32>(), *b.cast::<u32>()) };
                a.cmp(&b) as c_int
            },
            // SAFETY: `func` takes `ud` and compares two `u32`s.
            |func, ud| unsafe { returned = observed_qsort_r(&mut data, func, ud) },
        )
    });
    assert_eq!(
        *payload
            .downcast::<ComparatorPanic>()
            .expect("original payload"),
        ComparatorPanic { call: 3 }
    );
    assert_eq!(
        calls, 3,
        "the poisoned holder ran no user code after the panic"
    );
    assert!(
        returned.len() > 3,
        "glibc kept calling ({})",
        returned.len()
    );
    assert!(
        returned[2..].iter().all(|&r| r == 0),
        "{:?}",
        &returned[2..]
    );
}

// ---------------------------------------------------------------------------
// qsort: no user-data slot, capture-free closures only
// ---------------------------------------------------------------------------

#[callback]
type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

thread_local! {
    /// A capture-free closure's only way to keep count.
    static PLAIN_CALLS: Cell<usize> = const { Cell::new(0) };
}

fn plain_qsort(
    data: &mut [i64],
    func: unsafe extern "C" fn(*const c_void, *const c_void) -> c_int,
) {
    // SAFETY: `data` is a valid, exclusively borrowed `i64` array and
    // `func` compares two `i64`s.
    unsafe {
        libc::qsort(
            data.as_mut_ptr().cast(),
            data.len(),
            size_of::<i64>(),
            Some(func),
        )
    }
}

#[test]
fn qsort_with_a_capture_free_closure() {
    let mut data: Vec<i64> = vec![5, -3, 12, 0, 7, -8, 1];
    PLAIN_CALLS.with(|c| c.set(0));
    Compare::scope(
        |a, b| {
            PLAIN_CALLS.with(|c| c.set(c.get() + 1));
            // SAFETY: qsort passes pointers to two `i64` elements.
            let (a, b) = unsafe { (*a.cast::<i64>(), *b.cast::<i64>()) };
            b.cmp(&a) as c_int // descending
        },
        |func| plain_qsort(&mut data, func),
    );
    assert_eq!(data, [12, 7, 5, 1, 0, -3, -8]);
    assert!(PLAIN_CALLS.with(Cell::get) >= 6);

    // `new` + `function()` for a call split over statements.
    let ascending = Compare::new(|a, b| {
        // SAFETY: as above.
        let (a, b) = unsafe { (*a.cast::<i64>(), *b.cast::<i64>()) };
        a.cmp(&b) as c_int
    });
    plain_qsort(&mut data, ascending.function());
    assert_eq!(data, [-8, -3, 0, 1, 5, 7, 12]);
}

#[test]
fn qsort_capture_free_closure_panic_is_resumed_by_scope() {
    let mut data: Vec<i64> = (0..40).rev().collect();
    PLAIN_CALLS.with(|c| c.set(0));
    let payload = payload_of(|| {
        Compare::scope(
            |a, b| {
                let call = PLAIN_CALLS.with(|c| {
                    c.set(c.get() + 1);
                    c.get()
                });
                if call == 2 {
                    panic!("second comparison");
                }
                // SAFETY: qsort passes pointers to two `i64` elements.
                let (a, b) = unsafe { (*a.cast::<i64>(), *b.cast::<i64>()) };
                a.cmp(&b) as c_int
            },
            |func| plain_qsort(&mut data, func),
        )
    });
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"second comparison"),
        "the original payload"
    );
    assert_eq!(
        PLAIN_CALLS.with(Cell::get),
        2,
        "no user code after the panic"
    );
}

// ---------------------------------------------------------------------------
// dl_iterate_phdr: non-zero stops the walk and is returned
// ---------------------------------------------------------------------------

struct Walk {
    names: Vec<String>,
    /// Return this (non-zero) once `names` has this many entries.
    stop_after: Option<(usize, c_int)>,
    /// Panic on this object (1-based).
    panic_on: Option<usize>,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            names: Vec::new(),
            stop_after: None,
            panic_on: None,
        }
    }
}

#[callback(fallback = -1)]
extern "C" fn walk_objects(
    info: *mut libc::dl_phdr_info,
    size: usize,
    #[user_data] walk: &mut Walk,
) -> c_int {
    assert!(size > 0);
    // SAFETY: glibc passes a valid `dl_phdr_info` for the duration of the call.
    let name = unsafe { (*info).dlpi_name };
    let name = if name.is_null() {
        String::new()
    } else {
        // SAFETY: `dlpi_name` is a NUL-terminated string owned by the loader.
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned()
    };
    walk.names.push(name);
    if walk.panic_on == Some(walk.names.len()) {
        panic_any(walk.names.len());
    }
    match walk.stop_after {
        Some((after, value)) if walk.names.len() == after => value,
        _ => 0,
    }
}

fn full_walk() -> Vec<String> {
    let mut walk = Walk::new();
    // SAFETY: `walk_objects` receives `&mut Walk`; `walk` outlives the call.
    let result = resume_panics(|| unsafe {
        libc::dl_iterate_phdr(Some(walk_objects), user_data(&mut walk))
    });
    assert_eq!(result, 0, "a walk that is never stopped returns 0");
    walk.names
}

#[test]
fn dl_iterate_phdr_visits_every_loaded_object() {
    let names = full_walk();
    assert!(
        names.len() >= 3,
        "the main program, the vDSO, libc, ld.so...: {names:?}"
    );
    assert!(
        names.iter().any(|n| n.contains("libc.so")),
        "libc is among {names:?}"
    );
}

#[test]
fn dl_iterate_phdr_non_zero_stops_the_walk_and_is_returned() {
    let total = full_walk().len();
    assert!(total >= 3);
    let mut walk = Walk::new();
    walk.stop_after = Some((2, 4242));
    // SAFETY: as in `full_walk`.
    let result = resume_panics(|| unsafe {
        libc::dl_iterate_phdr(Some(walk_objects), user_data(&mut walk))
    });
    assert_eq!(result, 4242, "dl_iterate_phdr returns the callback's value");
    assert_eq!(walk.names.len(), 2, "and stops there (of {total} objects)");
}

#[test]
fn dl_iterate_phdr_panic_returns_the_fallback_which_stops_the_walk() {
    let total = full_walk().len();
    let mut walk = Walk::new();
    walk.panic_on = Some(2);
    let result = Cell::new(None);
    let payload = payload_of(|| {
        // SAFETY: as in `full_walk`.
        resume_panics(|| unsafe {
            result.set(Some(libc::dl_iterate_phdr(
                Some(walk_objects),
                user_data(&mut walk),
            )));
        })
    });
    assert_eq!(payload.downcast_ref::<usize>(), Some(&2));
    assert_eq!(
        result.get(),
        Some(-1),
        "the fallback -1 reached glibc, which returned it"
    );
    assert_eq!(
        walk.names.len(),
        2,
        "the walk stopped at the panic (of {total})"
    );
}

// ---------------------------------------------------------------------------
// pthread_create: Box<T> user data (fn form) and a `once` + `send` closure
// ---------------------------------------------------------------------------

/// Counts drops of whatever holds it.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Job {
    numbers: Vec<u64>,
    spawned_by: libc::pthread_t,
    _drops: DropCounter,
}

struct JobResult {
    sum: u64,
    on_another_thread: bool,
}

/// libc declares the start routine as a safe `extern "C" fn`, hence
/// `unsafe(safe_fn)`; the panic policy is `abort` because the new thread has
/// no `resume_panics` guard.
// SAFETY: only passed to `pthread_create` with `run_job::user_data(..)`.
#[callback(unsafe(safe_fn), on_panic = abort)]
extern "C" fn run_job(#[user_data] job: Box<Job>) -> *mut c_void {
    // SAFETY: `pthread_self` and `pthread_equal` have no preconditions.
    let on_another_thread =
        unsafe { libc::pthread_equal(libc::pthread_self(), job.spawned_by) } == 0;
    let result = JobResult {
        sum: job.numbers.iter().sum(),
        on_another_thread,
    };
    drop(job);
    Box::into_raw(Box::new(result)).cast()
}

#[test]
fn pthread_create_moves_a_box_into_the_new_thread() {
    let drops = Arc::new(AtomicUsize::new(0));
    let job = Box::new(Job {
        numbers: (1..=100).collect(),
        // SAFETY: no preconditions.
        spawned_by: unsafe { libc::pthread_self() },
        _drops: DropCounter(drops.clone()),
    });
    let ud: *mut c_void = user_data_box(job);
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `run_job` takes back the `Box<Job>` that `ud` carries, once.
    let rc = unsafe { libc::pthread_create(&mut thread, std::ptr::null(), run_job, ud) };
    if rc != 0 {
        // SAFETY: the thread was not created, so `run_job` never gets `ud`.
        drop(unsafe { reclaim_box::<_, Job>(ud) });
        panic!("pthread_create failed: {rc}");
    }
    let mut ret: *mut c_void = std::ptr::null_mut();
    // SAFETY: `thread` is a joinable thread created above.
    assert_eq!(unsafe { libc::pthread_join(thread, &mut ret) }, 0);
    // SAFETY: `run_job` returned a `Box<JobResult>` as a raw pointer.
    let result = unsafe { Box::from_raw(ret.cast::<JobResult>()) };
    assert_eq!(result.sum, 5050);
    assert!(result.on_another_thread);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the Box was dropped once, by the thread"
    );
}

// SAFETY: only passed to `pthread_create` with a `ThreadStart` holder's
// user data.
#[callback(send, unsafe(safe_fn))]
type ThreadStart = extern "C" fn(#[user_data] arg: *mut c_void) -> *mut c_void;

#[test]
fn pthread_create_with_a_once_send_closure() {
    let drops = Arc::new(AtomicUsize::new(0));
    let words: Vec<String> = ["moved", "into", "the", "thread"]
        .map(String::from)
        .to_vec();
    let guard = DropCounter(drops.clone());
    // SAFETY: no preconditions.
    let spawned_by = unsafe { libc::pthread_self() };
    let start = ThreadStart::once(move || {
        let _guard = guard;
        // SAFETY: no preconditions.
        let here = unsafe { libc::pthread_self() };
        // SAFETY: no preconditions.
        let elsewhere = unsafe { libc::pthread_equal(here, spawned_by) } == 0;
        let joined = words.join(" ");
        Box::into_raw(Box::new((joined, elsewhere))).cast::<c_void>()
    })
    .into_raw();
    let mut thread: libc::pthread_t = 0;
    // SAFETY: the trampoline takes `user_data` and is called exactly once
    // by the new thread.
    let rc = unsafe {
        libc::pthread_create(
            &mut thread,
            std::ptr::null(),
            start.function,
            start.user_data,
        )
    };
    if rc != 0 {
        // SAFETY: no thread, so the closure was never called.
        unsafe { start.reclaim() };
        panic!("pthread_create failed: {rc}");
    }
    let mut ret: *mut c_void = std::ptr::null_mut();
    // SAFETY: a joinable thread created above.
    assert_eq!(unsafe { libc::pthread_join(thread, &mut ret) }, 0);
    // SAFETY: the closure returned a `Box<(String, bool)>` as a raw pointer.
    let (joined, elsewhere) = *unsafe { Box::from_raw(ret.cast::<(String, bool)>()) };
    assert_eq!(joined, "moved into the thread");
    assert!(elsewhere, "the closure ran on the new thread");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "its captures dropped once");
}

#[test]
fn pthread_create_failure_reclaims_the_once_closure_uncalled() {
    let drops = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(drops.clone());
    let calls_in = calls.clone();
    let start = ThreadStart::once(move || {
        let _guard = guard;
        calls_in.fetch_add(1, Ordering::SeqCst);
        std::ptr::null_mut()
    })
    .into_raw();
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: `attr` is initialised by `pthread_attr_init` before any use.
    let attr = unsafe {
        assert_eq!(libc::pthread_attr_init(attr.as_mut_ptr()), 0);
        attr.assume_init_mut()
    };
    // A stack no machine can map: pthread_create must fail.
    // SAFETY: `attr` is an initialised attribute object.
    assert_eq!(unsafe { libc::pthread_attr_setstacksize(attr, 1 << 62) }, 0);
    let mut thread: libc::pthread_t = 0;
    // SAFETY: as in the test above.
    let rc = unsafe { libc::pthread_create(&mut thread, attr, start.function, start.user_data) };
    // SAFETY: `attr` was initialised above and is not used again.
    unsafe { libc::pthread_attr_destroy(attr) };
    assert_ne!(rc, 0, "a 4 EiB stack cannot be allocated");
    // SAFETY: no thread was created, so the closure was never called.
    unsafe { start.reclaim() };
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "reclaim dropped the closure"
    );
}

// glibc's binary trees (`<search.h>`): `tsearch` inserts, `twalk_r` (glibc
// 2.30) visits every node with a user-data pointer, `tdestroy` frees.
unsafe extern "C" {
    fn tsearch(
        key: *const c_void,
        rootp: *mut *mut c_void,
        compar: unsafe extern "C" fn(*const c_void, *const c_void) -> c_int,
    ) -> *mut c_void;
    fn twalk_r(root: *const c_void, action: Option<TwalkActionFn>, closure: *mut c_void);
    fn tdestroy(root: *mut c_void, free_node: unsafe extern "C" fn(*mut c_void));
}

/// `<search.h>`'s `VISIT`, which C passes as an `int`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Visit {
    Preorder,
    Postorder,
    Endorder,
    Leaf,
}

impl TryFrom<c_int> for Visit {
    type Error = c_int;
    fn try_from(which: c_int) -> Result<Self, c_int> {
        match which {
            0 => Ok(Visit::Preorder),
            1 => Ok(Visit::Postorder),
            2 => Ok(Visit::Endorder),
            3 => Ok(Visit::Leaf),
            other => Err(other),
        }
    }
}

/// `twalk_r`'s action: the closures receive a `Visit`, not the `int`.
#[callback]
type TwalkAction = unsafe extern "C" fn(
    nodep: *const c_void,
    #[into(Visit)] which: c_int,
    #[user_data] closure: *mut c_void,
);

unsafe extern "C" fn compare_keys(a: *const c_void, b: *const c_void) -> c_int {
    // SAFETY: `tsearch` passes two of the keys below, `u32`s.
    unsafe { (*a.cast::<u32>()).cmp(&*b.cast::<u32>()) as c_int }
}

unsafe extern "C" fn keep_key(_: *mut c_void) {}

#[test]
fn twalk_r_passes_visit_converted_by_into() {
    static KEYS: [u32; 3] = [2, 1, 3];
    let mut root = std::ptr::null_mut();
    for key in &KEYS {
        // SAFETY: the keys are `static`; `compare_keys` compares `u32`s.
        let node = unsafe { tsearch(ptr_of(key), &mut root, compare_keys) };
        assert!(!node.is_null());
    }
    let mut visits = Vec::new();
    TwalkAction::scope(
        |node: *const c_void, which: Visit| {
            // SAFETY: a node's first field is its key pointer (`tsearch`'s
            // documented layout), here one of `KEYS`.
            let key = unsafe { **node.cast::<*const u32>() };
            visits.push((key, which));
        },
        // SAFETY: `root` is a tree made by `tsearch`; the holder is alive
        // for the walk.
        |action, ud| unsafe { twalk_r(root, Some(action), ud) },
    );
    use Visit::*;
    assert_eq!(
        visits,
        [
            (2, Preorder),
            (1, Leaf),
            (2, Postorder),
            (3, Leaf),
            (2, Endorder)
        ]
    );
    // SAFETY: `root` came from `tsearch`; the keys are not owned by it.
    unsafe { tdestroy(root, keep_key) };
}

fn ptr_of(key: &'static u32) -> *const c_void {
    std::ptr::from_ref(key).cast()
}

// ---------------------------------------------------------------------------
// Borrowed parameters (`#[into(&CStr)]`, `#[into(&T)]`): what C's pointers
// point at, for the call
// ---------------------------------------------------------------------------

/// `<ftw.h>`'s `struct FTW`.
#[repr(C)]
struct Ftw {
    base: c_int,
    level: c_int,
}

/// `nftw`'s callback: the path as a C string, the `stat` and the `FTW` as
/// pointers; no user data, so the closure captures nothing.
#[callback]
type NftwVisit = unsafe extern "C" fn(
    #[into(&CStr)] path: *const c_char,
    #[into(&libc::stat)] stat: *const libc::stat,
    type_flag: c_int,
    #[into(&mut Ftw)] ftw: *mut Ftw,
) -> c_int;

unsafe extern "C" {
    fn nftw(dir: *const c_char, visit: Option<NftwVisitFn>, fds: c_int, flags: c_int) -> c_int;
}

#[test]
fn nftw_passes_paths_and_stats_borrowed_by_into() {
    const FTW_F: c_int = 0;
    const FTW_D: c_int = 1;
    const FTW_PHYS: c_int = 1;
    /// A visited entry: its name, its size if a file, its type flag and
    /// depth.
    type Entry = (String, Option<i64>, c_int, c_int);
    static SEEN: std::sync::Mutex<Vec<Entry>> = std::sync::Mutex::new(Vec::new());

    let root = std::env::temp_dir().join(format!("ffi-callback-nftw-{}", std::process::id()));
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("three"), b"abc").unwrap();
    std::fs::write(root.join("sub/five"), b"abcde").unwrap();
    let root_c = std::ffi::CString::new(root.to_str().unwrap()).unwrap();

    let visit = NftwVisit::new(|path: &CStr, stat: &libc::stat, type_flag, ftw: &mut Ftw| {
        let path = path.to_str().unwrap();
        let name = &path[ftw.base as usize..];
        let size = (type_flag == FTW_F).then_some(stat.st_size);
        SEEN.lock()
            .unwrap()
            .push((name.to_owned(), size, type_flag, ftw.level));
        0
    });
    // SAFETY: a NUL-terminated path; `nftw` passes the callback a path, a
    // `stat` and an `FTW` valid for each call, as the type declares.
    let result = unsafe { nftw(root_c.as_ptr(), Some(visit.function()), 4, FTW_PHYS) };
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(result, 0);
    let mut seen = std::mem::take(&mut *SEEN.lock().unwrap());
    seen.sort();
    let root_name = root.file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(
        seen,
        [
            (root_name, None, FTW_D, 0),
            ("five".to_owned(), Some(5), FTW_F, 2),
            ("sub".to_owned(), None, FTW_D, 1),
            ("three".to_owned(), Some(3), FTW_F, 1),
        ]
    );
}

/// `dl_iterate_phdr`'s callback as a callback type: each loaded object's
/// `dl_phdr_info`, borrowed; a closure, not a `Walk` struct, keeps the names.
#[callback]
type PhdrVisit = unsafe extern "C" fn(
    #[into(&libc::dl_phdr_info)] info: *mut libc::dl_phdr_info,
    size: usize,
    #[user_data] data: *mut c_void,
) -> c_int;

#[test]
fn dl_iterate_phdr_passes_info_borrowed_by_into() {
    let mut names = Vec::new();
    let mut headers = 0;
    PhdrVisit::scope(
        |info: &libc::dl_phdr_info, size| {
            assert!(size >= std::mem::size_of::<libc::dl_phdr_info>());
            headers += usize::from(info.dlpi_phnum);
            if !info.dlpi_name.is_null() {
                // SAFETY: the loader's NUL-terminated name for the object.
                let name = unsafe { CStr::from_ptr(info.dlpi_name) };
                names.push(name.to_string_lossy().into_owned());
            }
            0
        },
        // SAFETY: the holder is alive for the walk; glibc passes a valid
        // `dl_phdr_info` for each call.
        |visit, data| unsafe { libc::dl_iterate_phdr(Some(visit), data) },
    );
    assert!(names.iter().any(|n| n.contains("libc.so")), "{names:?}");
    assert!(headers >= names.len(), "every object has program headers");
}

/// `dl_phdr_info` as the fn form borrows it: a `#[callback]` fn may run on
/// any thread, so what it borrows must be `Sync`, and `dl_phdr_info` is not
/// (raw pointer fields). A transparent newtype says what is true of it.
#[repr(transparent)]
struct PhdrInfo(libc::dl_phdr_info);

// SAFETY: `dl_phdr_info` holds integers and raw pointers only; shared
// across threads, safe code can read those values, nothing more (reaching
// through a pointer takes `unsafe`).
unsafe impl Sync for PhdrInfo {}

#[callback]
extern "C" fn count_headers(
    #[into(&PhdrInfo)] info: *mut libc::dl_phdr_info,
    _size: usize,
    #[user_data] headers: &mut usize,
) -> c_int {
    *headers += usize::from(info.0.dlpi_phnum);
    0
}

#[test]
fn dl_iterate_phdr_info_borrowed_by_a_fn_through_a_sync_newtype() {
    let mut headers = 0;
    // SAFETY: `count_headers` receives `&mut usize`, alive for the walk;
    // glibc passes a valid `dl_phdr_info` for each call.
    unsafe { libc::dl_iterate_phdr(Some(count_headers), count_headers::user_data(&mut headers)) };
    assert!(headers > 0, "every object has program headers");
}
