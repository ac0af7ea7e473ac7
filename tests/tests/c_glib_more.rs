//! More GLib callback APIs, as a GLib binding would wrap them (`glib-sys`,
//! the system library; run with `scripts/test-glib.sh`): a `GHashTable`
//! whose keys and values are Rust boxes freed by their `GDestroyNotify`s,
//! with `GHashFunc`/`GEqualFunc` borrowing the keys; `g_hash_table_foreach`
//! and `g_hash_table_foreach_remove`; `g_list_sort_with_data` and
//! `g_ptr_array_sort_with_data` with closures returning `Ordering`;
//! `g_child_watch_add_full` on a real child process; `g_io_add_watch_full`
//! on a pipe; `g_main_context_invoke_full` into a context another thread
//! owns; `g_thread_new`; `g_log_set_handler_full`; and a timeout source on
//! another thread's context destroyed from this one.
#![cfg(feature = "glib")]

use std::cmp::Ordering as CmpOrdering;
use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

use ffi_callback::{ReportKind, callback, resume_panics, set_reporter};
use glib_sys::{
    G_IO_HUP, G_IO_IN, G_LOG_LEVEL_MESSAGE, G_LOG_LEVEL_WARNING, G_PRIORITY_DEFAULT,
    G_SOURCE_CONTINUE, G_SOURCE_REMOVE, G_SPAWN_DO_NOT_REAP_CHILD, GError, GFALSE, GIOChannel,
    GIOCondition, GList, GLogLevelFlags, GMainContext, GMainLoop, GPid, GPtrArray, GTRUE,
    g_child_watch_add_full, g_error_free, g_hash_table_foreach, g_hash_table_foreach_remove,
    g_hash_table_insert, g_hash_table_lookup, g_hash_table_new_full, g_hash_table_remove,
    g_hash_table_replace, g_hash_table_size, g_hash_table_steal, g_hash_table_unref,
    g_io_add_watch_full, g_io_channel_unix_new, g_io_channel_unref, g_list_append, g_list_free,
    g_list_length, g_list_nth_data, g_list_sort_with_data, g_log, g_log_remove_handler,
    g_log_set_handler_full, g_main_context_acquire, g_main_context_invoke_full,
    g_main_context_iteration, g_main_context_new, g_main_context_release, g_main_context_unref,
    g_main_loop_new, g_main_loop_quit, g_main_loop_run, g_main_loop_unref, g_ptr_array_add,
    g_ptr_array_free, g_ptr_array_new, g_ptr_array_sort_with_data, g_source_attach,
    g_source_destroy, g_source_set_callback, g_source_unref, g_spawn_async, g_thread_join,
    g_thread_new, g_timeout_source_new, gboolean, gconstpointer, gpointer,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn load(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// Panics with the message of a `GError`, if any.
fn check_error(error: *mut GError) {
    if !error.is_null() {
        // SAFETY: GLib set `error` to a valid `GError`, which we own.
        let message = unsafe {
            let message = CStr::from_ptr((*error).message)
                .to_string_lossy()
                .into_owned();
            g_error_free(error);
            message
        };
        panic!("GLib error: {message}");
    }
}

/// The default main context is one per process: the tests that run it take
/// turns.
fn default_context() -> MutexGuard<'static, ()> {
    static DEFAULT_CONTEXT: Mutex<()> = Mutex::new(());
    DEFAULT_CONTEXT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Iterates the default main context (blocking) until `done` holds, at most
/// `limit` iterations.
fn iterate_default_until(limit: usize, mut done: impl FnMut() -> bool) {
    for _ in 0..limit {
        if done() {
            return;
        }
        // SAFETY: the default context, run by this thread only (the tests
        // that use it take turns).
        unsafe { g_main_context_iteration(ptr::null_mut(), GTRUE) };
    }
    assert!(done(), "gave up after {limit} iterations");
}

/// Reports the crate made, by kind and callback name (the reporter is
/// process-wide: each test looks for its own callback's name).
static REPORTS: Mutex<Vec<(ReportKind, String)>> = Mutex::new(Vec::new());

fn record(report: &ffi_callback::Report) {
    REPORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((
            report.kind(),
            report.callback().unwrap_or_default().to_owned(),
        ));
}

/// How many reports of `kind` named a callback ending in `name`.
fn reports(kind: ReportKind, name: &str) -> usize {
    REPORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(k, n)| *k == kind && n.ends_with(name))
        .count()
}

// ---------------------------------------------------------------------------
// GHashTable: boxed keys and values freed by their GDestroyNotify
// ---------------------------------------------------------------------------

/// What the table's keys and values record when dropped.
type Log = Arc<Mutex<Vec<String>>>;

/// A key: a name, and the log its drop writes `key NAME` to.
struct Key {
    name: String,
    log: Log,
}

impl Drop for Key {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(format!("key {}", self.name));
    }
}

/// A value: a number, and the log its drop writes `value N` to.
struct Value {
    n: u32,
    log: Log,
}

impl Drop for Value {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(format!("value {}", self.n));
    }
}

/// The key's `GDestroyNotify`: GLib passes the key pointer itself, which
/// `free_key::user_data(Box::new(key))` made.
#[callback]
extern "C" fn free_key(#[user_data] key: Box<Key>) {
    drop(key);
}

/// The value's `GDestroyNotify`.
#[callback]
extern "C" fn free_value(#[user_data] value: Box<Value>) {
    drop(value);
}

/// `GHashFunc`: no user data, so the closure captures nothing; the key is
/// borrowed as the `Key` it is.
#[callback]
type HashFunc = unsafe extern "C" fn(#[into(&Key)] key: gconstpointer) -> c_uint;

/// `GEqualFunc`: `gboolean`, so the closure may return `bool`.
#[callback]
type EqualFunc = unsafe extern "C" fn(
    #[into(&Key)] a: gconstpointer,
    #[into(&Key)] b: gconstpointer,
) -> gboolean;

fn hash_key(key: &Key) -> c_uint {
    key.name.bytes().fold(5381, |h: c_uint, b| {
        h.wrapping_mul(33).wrapping_add(c_uint::from(b))
    })
}

/// A table of `Box<Key>` to `Box<Value>`, both freed by GLib.
fn new_table() -> *mut glib_sys::GHashTable {
    let hash = HashFunc::new(hash_key);
    let equal = EqualFunc::new(|a: &Key, b: &Key| a.name == b.name);
    // SAFETY: the hash and equal closures capture nothing, and the
    // trampoline of a type without user data recreates its zero-sized
    // closure, so it needs no holder alive after `function()` (the
    // generated `function` docs: "it recreates the closure");
    // every key is a `Box<Key>` made by `free_key::user_data`, every value
    // a `Box<Value>` made by `free_value::user_data`.
    unsafe {
        g_hash_table_new_full(
            Some(hash.function()),
            Some(equal.function()),
            Some(free_key),
            Some(free_value),
        )
    }
}

fn key(name: &str, log: &Log) -> gpointer {
    free_key::user_data(Box::new(Key {
        name: name.to_owned(),
        log: log.clone(),
    }))
}

fn value(n: u32, log: &Log) -> gpointer {
    free_value::user_data(Box::new(Value {
        n,
        log: log.clone(),
    }))
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// Looks `name` up with a probe key on the stack (never freed by GLib).
///
/// # Safety
/// `table` is from [`new_table`].
unsafe fn lookup(table: *mut glib_sys::GHashTable, name: &str) -> Option<u32> {
    let probe = std::mem::ManuallyDrop::new(Key {
        name: name.to_owned(),
        log: Log::default(),
    });
    // SAFETY: the table's hash and equal functions read the probe as a
    // `Key`, for the call only; a found value is a live `Box<Value>`.
    let found = unsafe { g_hash_table_lookup(table, (&raw const *probe).cast()) };
    let n = (!found.is_null()).then(|| {
        // SAFETY: values are `Value`s owned by the table, alive here.
        unsafe { (*found.cast::<Value>()).n }
    });
    drop(std::mem::ManuallyDrop::into_inner(probe));
    n
}

#[test]
fn hash_table_frees_boxed_keys_and_values_exactly_once() {
    let log = Log::default();
    let table = new_table();
    // SAFETY: keys and values as `new_table` requires; the table is ours.
    unsafe {
        g_hash_table_insert(table, key("a", &log), value(1, &log));
        g_hash_table_insert(table, key("b", &log), value(2, &log));
        g_hash_table_insert(table, key("c", &log), value(3, &log));
        assert_eq!(g_hash_table_size(table), 3);
        assert_eq!(lookup(table, "b"), Some(2));
        assert_eq!(lookup(table, "z"), None);
        assert!(take(&log).iter().all(|e| e.is_empty()), "nothing freed yet");

        // insert on an existing key keeps the old key: GLib frees the new
        // key and the old value.
        g_hash_table_insert(table, key("a", &log), value(10, &log));
        let mut freed = take(&log);
        freed.sort();
        assert_eq!(freed, ["key a", "value 1"]);
        assert_eq!(lookup(table, "a"), Some(10));

        // replace keeps the new key: GLib frees the old key and old value.
        g_hash_table_replace(table, key("b", &log), value(20, &log));
        let mut freed = take(&log);
        freed.sort();
        assert_eq!(freed, ["key b", "value 2"]);
        assert_eq!(lookup(table, "b"), Some(20));

        // remove frees both.
        let probe = std::mem::ManuallyDrop::new(Key {
            name: "c".into(),
            log: Log::default(),
        });
        assert_eq!(
            g_hash_table_remove(table, (&raw const *probe).cast()),
            GTRUE
        );
        drop(std::mem::ManuallyDrop::into_inner(probe));
        let mut freed = take(&log);
        freed.sort();
        assert_eq!(freed, ["key c", "value 3"]);
        assert_eq!(lookup(table, "c"), None);

        // the last reference frees the rest, once each.
        g_hash_table_unref(table);
    }
    let mut freed = take(&log);
    freed.sort();
    assert_eq!(freed, ["key a", "key b", "value 10", "value 20"]);
}

#[test]
fn hash_table_steal_hands_the_boxes_back_to_rust() {
    let log = Log::default();
    let table = new_table();
    let (k, v) = (key("k", &log), value(7, &log));
    // SAFETY: as above; after the steal the table forgets both pointers,
    // which are ours again, each taken back into its box once.
    unsafe {
        g_hash_table_insert(table, k, v);
        assert_eq!(g_hash_table_steal(table, k), GTRUE);
        g_hash_table_unref(table);
        assert!(take(&log).is_empty(), "the table freed nothing it stole");
        free_key(k);
        free_value(v);
    }
    let mut freed = take(&log);
    freed.sort();
    assert_eq!(freed, ["key k", "value 7"]);
}

/// `GHFunc`: key and value borrowed, the user data last.
#[callback]
type HFunc = unsafe extern "C" fn(
    #[into(&Key)] key: gpointer,
    #[into(&Value)] value: gpointer,
    #[user_data] user_data: gpointer,
);

/// `GHRFunc`: TRUE removes the entry (and GLib frees it).
#[callback]
type HRFunc = unsafe extern "C" fn(
    #[into(&Key)] key: gpointer,
    #[into(&Value)] value: gpointer,
    #[user_data] user_data: gpointer,
) -> gboolean;

fn filled_table(log: &Log, n: u32) -> *mut glib_sys::GHashTable {
    let table = new_table();
    for i in 1..=n {
        // SAFETY: keys and values as `new_table` requires.
        unsafe { g_hash_table_insert(table, key(&format!("k{i}"), log), value(i, log)) };
    }
    table
}

#[test]
fn hash_table_foreach_and_foreach_remove_with_scoped_closures() {
    let log = Log::default();
    let table = filled_table(&log, 6);
    let mut seen = Vec::new();
    HFunc::scope(
        |k: &Key, v: &Value| seen.push((k.name.clone(), v.n)),
        // SAFETY: GLib calls `func` with `ud` during the call only.
        |func, ud| unsafe { g_hash_table_foreach(table, Some(func), ud) },
    );
    seen.sort();
    let expected: Vec<_> = (1..=6).map(|i| (format!("k{i}"), i)).collect();
    assert_eq!(seen, expected);

    // Remove the even values: GLib frees their keys and values, once each.
    let mut asked = 0;
    let removed = HRFunc::scope(
        |_k: &Key, v: &Value| {
            asked += 1;
            v.n % 2 == 0
        },
        // SAFETY: as above.
        |func, ud| unsafe { g_hash_table_foreach_remove(table, Some(func), ud) },
    );
    assert_eq!((removed, asked), (3, 6));
    let mut freed = take(&log);
    freed.sort();
    assert_eq!(
        freed,
        [
            "key k2", "key k4", "key k6", "value 2", "value 4", "value 6"
        ]
    );
    // SAFETY: our table.
    unsafe {
        assert_eq!(g_hash_table_size(table), 3);
        g_hash_table_unref(table);
    }
    assert_eq!(take(&log).len(), 6);
}

#[test]
fn hash_table_foreach_panic_is_resumed_after_glib_returns() {
    let log = Log::default();
    let table = filled_table(&log, 5);
    let calls = counter();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        HFunc::scope(
            |_k: &Key, v: &Value| {
                if calls.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
                    panic_any(v.n);
                }
            },
            // SAFETY: as above.
            |func, ud| unsafe { g_hash_table_foreach(table, Some(func), ud) },
        );
    }))
    .expect_err("the panic is resumed when g_hash_table_foreach returns");
    assert!(
        payload.downcast_ref::<u32>().is_some(),
        "the original payload"
    );
    assert_eq!(
        load(&calls),
        2,
        "no closure body ran after the panic (GLib's later calls got the fallback)"
    );
    // The table is intact and still frees everything once.
    // SAFETY: our table.
    unsafe {
        assert_eq!(g_hash_table_size(table), 5);
        g_hash_table_unref(table);
    }
    assert_eq!(take(&log).len(), 10);
}

/// A key destroy that panics inside `g_hash_table_remove`: the fn form's
/// panic is resumed when the guarded C call returns, and the key was
/// dropped (unwinding dropped its `Box`).
#[callback]
extern "C" fn free_key_panicking(#[user_data] key: Box<Key>) {
    if key.name == "bad" {
        panic!("cannot free {}", key.name);
    }
}

#[test]
fn hash_table_key_destroy_panic_is_resumed_after_remove() {
    let log = Log::default();
    let hash = HashFunc::new(hash_key);
    let equal = EqualFunc::new(|a: &Key, b: &Key| a.name == b.name);
    // SAFETY: as in `new_table`, with `free_key_panicking` for the keys.
    let table = unsafe {
        g_hash_table_new_full(
            Some(hash.function()),
            Some(equal.function()),
            Some(free_key_panicking),
            Some(free_value),
        )
    };
    let bad = free_key_panicking::user_data(Box::new(Key {
        name: "bad".into(),
        log: log.clone(),
    }));
    // SAFETY: keys made for `free_key_panicking`, values for `free_value`.
    unsafe { g_hash_table_insert(table, bad, value(1, &log)) };
    let payload = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `bad` is the table's own key, alive until the remove.
        resume_panics(|| unsafe { g_hash_table_remove(table, bad) })
    }))
    .expect_err("the destroy's panic is resumed");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("cannot free bad")
    );
    let mut freed = take(&log);
    freed.sort();
    assert_eq!(freed, ["key bad", "value 1"], "both freed once");
    // SAFETY: our table, now empty.
    unsafe {
        assert_eq!(g_hash_table_size(table), 0);
        g_hash_table_unref(table);
    }
}

// ---------------------------------------------------------------------------
// Sorting with a GCompareDataFunc: closures returning `Ordering`
// ---------------------------------------------------------------------------

/// `GCompareDataFunc` for a `GList` of `u32`s: the elements themselves.
#[callback]
type CompareData = unsafe extern "C" fn(
    #[into(&u32)] a: gconstpointer,
    #[into(&u32)] b: gconstpointer,
    #[user_data] user_data: gpointer,
) -> c_int;

/// `GCompareDataFunc` as `g_ptr_array_sort_with_data` calls it: pointers
/// to the array's slots, each holding a `u32` pointer.
#[callback]
type CompareSlots = unsafe extern "C" fn(
    #[into(&*const u32)] a: gconstpointer,
    #[into(&*const u32)] b: gconstpointer,
    #[user_data] user_data: gpointer,
) -> c_int;

fn list_of(values: &[u32]) -> *mut GList {
    let mut list = ptr::null_mut();
    for v in values {
        // SAFETY: the list holds pointers into `values`, which outlives it
        // in every caller.
        list = unsafe { g_list_append(list, ptr::from_ref(v).cast_mut().cast()) };
    }
    list
}

/// # Safety
/// `list` is a list of `u32` pointers, all alive.
unsafe fn list_values(list: *mut GList) -> Vec<u32> {
    // SAFETY: by the caller's promise.
    unsafe {
        (0..g_list_length(list))
            .map(|i| *g_list_nth_data(list, i).cast::<u32>())
            .collect()
    }
}

#[test]
fn list_sort_with_data_takes_an_ordering_closure_with_captured_state() {
    let values = [5_u32, 3, 9, 1, 7, 3];
    let mut comparisons = 0;
    let descending = true;
    let sorted = CompareData::scope(
        |a: &u32, b: &u32| {
            comparisons += 1;
            if descending { b.cmp(a) } else { a.cmp(b) }
        },
        // SAFETY: the list's data are `u32`s in `values`; GLib calls
        // `compare` with `ud` during the sort only.
        |compare, ud| unsafe { g_list_sort_with_data(list_of(&values), Some(compare), ud) },
    );
    // SAFETY: `sorted` holds pointers into `values`.
    unsafe {
        assert_eq!(list_values(sorted), [9, 7, 5, 3, 3, 1]);
        g_list_free(sorted);
    }
    assert!(comparisons >= 5);
}

#[test]
fn list_sort_with_data_panic_is_resumed_and_the_list_survives() {
    let values = [4_u32, 2, 8, 6];
    let mut list = list_of(&values);
    let mut calls = 0;
    let payload = catch_unwind(AssertUnwindSafe(|| {
        CompareData::scope(
            |a: &u32, b: &u32| -> CmpOrdering {
                calls += 1;
                if calls == 2 {
                    panic!("comparator gave up at {a} vs {b}");
                }
                a.cmp(b)
            },
            // SAFETY: as above; the sorted head is written back before
            // the guard resumes the panic.
            |compare, ud| unsafe { list = g_list_sort_with_data(list, Some(compare), ud) },
        );
    }))
    .expect_err("the comparator's panic is resumed when the sort returns");
    assert!(
        payload
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("comparator gave up at")),
        "the original payload"
    );
    assert_eq!(calls, 2, "no comparison ran user code after the panic");
    // SAFETY: the list still holds the same pointers into `values`.
    let mut after = unsafe { list_values(list) };
    after.sort_unstable();
    assert_eq!(after, [2, 4, 6, 8], "a permutation: nothing lost");
    // SAFETY: ours.
    unsafe { g_list_free(list) };
}

#[test]
fn ptr_array_sort_with_data_borrows_the_slots() {
    let values = [30_u32, 10, 20];
    // SAFETY: a new array of pointers into `values`, freed below.
    let array: *mut GPtrArray = unsafe { g_ptr_array_new() };
    for v in &values {
        // SAFETY: `array` is alive; it holds pointers, freeing none.
        unsafe { g_ptr_array_add(array, ptr::from_ref(v).cast_mut().cast()) };
    }
    let mut comparisons = 0;
    CompareSlots::scope(
        |a: &*const u32, b: &*const u32| {
            comparisons += 1;
            // SAFETY: each slot points into `values`.
            let (a, b) = unsafe { (**a, **b) };
            a.cmp(&b)
        },
        // SAFETY: GLib calls `compare` with `ud` during the sort only,
        // with pointers to the array's slots.
        |compare, ud| unsafe { g_ptr_array_sort_with_data(array, Some(compare), ud) },
    );
    // SAFETY: the array has 3 slots, each pointing into `values`; freeing
    // the segment frees no element (the array has no free func).
    unsafe {
        let slots = std::slice::from_raw_parts((*array).pdata, 3);
        let sorted: Vec<u32> = slots.iter().map(|p| *p.cast::<u32>()).collect();
        assert_eq!(sorted, [10, 20, 30]);
        g_ptr_array_free(array, GTRUE);
    }
    assert!(comparisons >= 2);
}

// ---------------------------------------------------------------------------
// g_child_watch_add_full: a real child process
// ---------------------------------------------------------------------------

/// `GChildWatchFunc`: the default context may run on any thread.
#[callback(send)]
type ChildWatchFunc =
    unsafe extern "C" fn(pid: GPid, wait_status: c_int, #[user_data] user_data: gpointer);

/// Spawns `sh -c SCRIPT` without reaping it.
fn spawn_unreaped(script: &CStr) -> GPid {
    let argv = [
        c"/bin/sh".as_ptr().cast_mut(),
        c"-c".as_ptr().cast_mut(),
        script.as_ptr().cast_mut(),
        ptr::null_mut(),
    ];
    let mut pid: GPid = 0;
    let mut error: *mut GError = ptr::null_mut();
    // SAFETY: a null-terminated argv of C strings that outlive the call.
    let ok = unsafe {
        g_spawn_async(
            ptr::null(),
            argv.as_ptr().cast_mut(),
            ptr::null_mut(),
            G_SPAWN_DO_NOT_REAP_CHILD,
            None,
            ptr::null_mut(),
            &mut pid,
            &mut error,
        )
    };
    check_error(error);
    assert_eq!(ok, GTRUE);
    pid
}

#[test]
fn child_watch_once_reports_the_exit_status_then_is_destroyed() {
    let _turn = default_context();
    let result: Arc<Mutex<Option<(GPid, c_int)>>> = Arc::default();
    let drops = counter();
    let (result_in, drops_in) = (result.clone(), drops.clone());
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = OnDrop(drops_in);
    let raw = ChildWatchFunc::once(move |pid, status| {
        let _guard = guard;
        *result_in.lock().unwrap() = Some((pid, status));
    })
    .into_raw_with_destroy();
    let pid = spawn_unreaped(c"exit 3");
    // SAFETY: GLib calls `function` once with `user_data` when the child
    // exits, then `destroy`.
    unsafe {
        g_child_watch_add_full(
            G_PRIORITY_DEFAULT,
            pid,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    iterate_default_until(10_000, || load(&drops) == 1);
    let (got_pid, status) = result.lock().unwrap().expect("the watch ran");
    assert_eq!(got_pid, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 3);
}

// ---------------------------------------------------------------------------
// g_io_add_watch_full: a pipe
// ---------------------------------------------------------------------------

/// `GIOFunc`: TRUE keeps the watch.
#[callback(send, on_continue = GTRUE, on_break = GFALSE)]
type IoFunc = unsafe extern "C" fn(
    source: *mut GIOChannel,
    condition: GIOCondition,
    #[user_data] user_data: gpointer,
) -> gboolean;

#[test]
fn io_watch_reads_a_pipe_until_hangup_then_is_destroyed_once() {
    let _turn = default_context();
    let mut fds = [0; 2];
    // SAFETY: a new pipe into `fds`.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let [read_fd, write_fd] = fds;
    let received: Arc<Mutex<Vec<u8>>> = Arc::default();
    let (calls, drops) = (counter(), counter());
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = OnDrop(drops.clone());
    let (received_in, calls_in) = (received.clone(), calls.clone());
    let raw = IoFunc::boxed(move |_channel, condition| {
        let _ = &guard;
        calls_in.fetch_add(1, Ordering::SeqCst);
        if condition & G_IO_IN != 0 {
            let mut buf = [0_u8; 64];
            // SAFETY: `read_fd` is open until the channel's last unref.
            let n = unsafe { libc::read(read_fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                received_in
                    .lock()
                    .unwrap()
                    .extend_from_slice(&buf[..n.unsigned_abs()]);
                return ControlFlow::Continue(());
            }
        }
        // End of file or hang-up: the writer is gone.
        ControlFlow::Break(())
    })
    .into_raw();
    // SAFETY: the channel wraps `read_fd`; GLib calls `function` with
    // `user_data` until it returns FALSE, then `destroy`.
    let channel = unsafe {
        let channel = g_io_channel_unix_new(read_fd);
        g_io_add_watch_full(
            channel,
            G_PRIORITY_DEFAULT,
            G_IO_IN | G_IO_HUP,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        );
        channel
    };
    let writer = thread::spawn(move || {
        for chunk in [&b"hello, "[..], b"pipe"] {
            // SAFETY: `write_fd` is ours until closed below.
            let n = unsafe { libc::write(write_fd, chunk.as_ptr().cast(), chunk.len()) };
            assert_eq!(n.unsigned_abs(), chunk.len());
            thread::sleep(std::time::Duration::from_millis(5));
        }
        // SAFETY: ours, closed once.
        unsafe { libc::close(write_fd) };
    });
    iterate_default_until(10_000, || load(&drops) == 1);
    writer.join().unwrap();
    assert_eq!(&*received.lock().unwrap(), b"hello, pipe");
    assert!(
        load(&calls) >= 2,
        "one call per readable chunk, then the end"
    );
    // SAFETY: the watch is gone; our reference, and the fd we opened.
    unsafe {
        g_io_channel_unref(channel);
        libc::close(read_fd);
    }
}

// ---------------------------------------------------------------------------
// g_main_context_invoke_full: into a context another thread owns
// ---------------------------------------------------------------------------

/// `GSourceFunc` for a context that another thread runs: `send`.
#[callback(send)]
type SourceFunc = unsafe extern "C" fn(#[user_data] data: gpointer) -> gboolean;

/// The same declared `local` (the contract for a source on *this* thread's
/// context), misused for another thread's context.
#[callback(local)]
type LocalSourceFunc = unsafe extern "C" fn(#[user_data] data: gpointer) -> gboolean;

struct Ptr<T>(*mut T);
// SAFETY: used only for GLib objects whose functions used here are
// thread-safe (contexts, loops, sources).
unsafe impl<T> Send for Ptr<T> {}
impl<T> Clone for Ptr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Ptr<T> {}

/// A thread that owns a new context and runs a loop on it until quit.
struct Owner {
    context: Ptr<GMainContext>,
    main_loop: Ptr<GMainLoop>,
    thread: thread::JoinHandle<()>,
    id: ThreadId,
}

fn spawn_owner() -> Owner {
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        // SAFETY: a new context, acquired by this thread for its whole life
        // (so `g_main_context_invoke_full` elsewhere queues instead of
        // running in place), and a loop on it.
        unsafe {
            let context = g_main_context_new();
            assert_eq!(g_main_context_acquire(context), GTRUE);
            let main_loop = g_main_loop_new(context, GFALSE);
            tx.send((Ptr(context), Ptr(main_loop), thread::current().id()))
                .unwrap();
            g_main_loop_run(main_loop);
            while g_main_context_iteration(context, GFALSE) != GFALSE {}
            g_main_context_release(context);
        }
    });
    let (context, main_loop, id) = rx.recv().unwrap();
    Owner {
        context,
        main_loop,
        thread,
        id,
    }
}

impl Owner {
    fn stop(self) {
        // SAFETY: the loop is alive until unreferenced below.
        unsafe { g_main_loop_quit(self.main_loop.0) };
        self.thread.join().unwrap();
        // SAFETY: the owner thread is done with both.
        unsafe {
            g_main_loop_unref(self.main_loop.0);
            g_main_context_unref(self.context.0);
        }
    }
}

#[test]
fn invoke_full_runs_a_send_once_on_the_owning_thread() {
    let owner = spawn_owner();
    let (tx, rx) = mpsc::channel();
    let raw = SourceFunc::once(move || {
        tx.send(thread::current().id()).unwrap();
        G_SOURCE_REMOVE
    })
    .into_raw_with_destroy();
    // SAFETY: GLib calls `function` once on the owner thread (it returns
    // FALSE), then `destroy`; the closure is `Send + 'static`.
    unsafe {
        g_main_context_invoke_full(
            owner.context.0,
            G_PRIORITY_DEFAULT,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    let ran_on = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the owner ran it");
    assert_eq!(ran_on, owner.id);
    assert_ne!(ran_on, thread::current().id());
    owner.stop();
}

#[test]
fn invoke_full_with_a_local_type_is_refused_on_the_owning_thread() {
    set_reporter(record);
    let owner = spawn_owner();
    let calls = counter();
    let calls_in = calls.clone();
    // Compiles (a `local` closure need not be `Send`), but GLib calls it on
    // the owner thread, not the one that made it.
    let raw = LocalSourceFunc::boxed(move || {
        calls_in.fetch_add(1, Ordering::SeqCst);
        G_SOURCE_REMOVE
    })
    .into_raw();
    let done = Arc::new(Barrier::new(2));
    let done_in = done.clone();
    let marker = SourceFunc::once(move || {
        done_in.wait();
        G_SOURCE_REMOVE
    })
    .into_raw_with_destroy();
    // SAFETY: as above; the marker, queued after, runs after the first
    // source is done (same priority, FIFO).
    unsafe {
        g_main_context_invoke_full(
            owner.context.0,
            G_PRIORITY_DEFAULT,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        );
        g_main_context_invoke_full(
            owner.context.0,
            G_PRIORITY_DEFAULT,
            Some(marker.function),
            marker.user_data,
            Some(marker.destroy),
        );
    }
    done.wait();
    owner.stop();
    assert_eq!(load(&calls), 0, "the call on a foreign thread was refused");
    assert_eq!(reports(ReportKind::Refused, "LocalSourceFunc"), 1);
    assert_eq!(
        reports(ReportKind::LeakedOnForeignThread, "LocalSourceFunc"),
        1,
        "and its destroy there leaked the closure"
    );
}

// ---------------------------------------------------------------------------
// g_thread_new: a once-closure as a GThreadFunc, its value joined
// ---------------------------------------------------------------------------

/// `GThreadFunc`: runs once on the new thread; what it returns is what
/// `g_thread_join` returns.
#[callback(send)]
type ThreadFunc = unsafe extern "C" fn(#[user_data] data: gpointer) -> gpointer;

/// The same, for a binding that wants a panic on the thread to be a null
/// result rather than an abort.
#[callback(send, on_panic = fallback)]
type LenientThreadFunc = unsafe extern "C" fn(#[user_data] data: gpointer) -> gpointer;

#[test]
fn thread_new_runs_a_once_closure_and_join_returns_its_value() {
    let input: Vec<u64> = (1..=4).collect();
    let raw = ThreadFunc::once(move || {
        let result = Box::new((thread::current().id(), input.iter().sum::<u64>()));
        Box::into_raw(result).cast::<c_void>()
    })
    .into_raw();
    // SAFETY: GLib calls `function` once with `user_data` on the new
    // thread; what it returns is the box made there, taken back once.
    let (ran_on, sum) = unsafe {
        let thread = g_thread_new(c"ffi-callback".as_ptr(), Some(raw.function), raw.user_data);
        *Box::from_raw(g_thread_join(thread).cast::<(ThreadId, u64)>())
    };
    assert_eq!(sum, 10);
    assert_ne!(ran_on, thread::current().id());
}

#[test]
fn thread_new_panic_under_fallback_joins_null_and_drops_the_closure() {
    set_reporter(record);
    let drops = counter();
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = OnDrop(drops.clone());
    let raw = LenientThreadFunc::once(move || -> gpointer {
        let _guard = guard;
        panic!("worker failed")
    })
    .into_raw();
    // SAFETY: as above; the fallback is null.
    let joined = unsafe {
        let thread = g_thread_new(c"ffi-callback".as_ptr(), Some(raw.function), raw.user_data);
        g_thread_join(thread)
    };
    assert!(joined.is_null(), "the fallback reached g_thread_join");
    assert_eq!(load(&drops), 1, "the closure was dropped once");
    assert_eq!(
        reports(ReportKind::PanicReturnedFallback, "LenientThreadFunc"),
        1
    );
}

/// Polls a future that is already resolved (or panics resuming its panic).
fn poll_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("not resolved"),
    }
}

#[test]
fn thread_new_panic_carried_to_the_joiner_through_a_future() {
    let (once, done) = ffi_callback::future(|done| {
        ThreadFunc::once(move || {
            done.complete_catching(|| -> u64 { panic_any(7_u64) });
            ptr::null_mut()
        })
    });
    let raw = once.into_raw();
    // SAFETY: GLib calls `function` once with `user_data` on the new
    // thread; it returns null.
    let joined = unsafe {
        let thread = g_thread_new(c"ffi-callback".as_ptr(), Some(raw.function), raw.user_data);
        g_thread_join(thread)
    };
    assert!(joined.is_null());
    let payload = catch_unwind(AssertUnwindSafe(|| poll_ready(done)))
        .expect_err("the thread's panic is resumed where the future is polled");
    assert_eq!(payload.downcast_ref::<u64>(), Some(&7));
}

// ---------------------------------------------------------------------------
// g_log_set_handler_full: a `sync` handler with a destroy-notify
// ---------------------------------------------------------------------------

/// `GLogFunc`: GLib may call a handler from any thread, several at once.
#[callback(sync)]
type LogFunc = unsafe extern "C" fn(
    #[into(Option<&CStr>)] log_domain: *const c_char,
    log_level: GLogLevelFlags,
    #[into(&CStr)] message: *const c_char,
    #[user_data] user_data: gpointer,
);

#[test]
fn log_handler_receives_messages_from_two_threads_and_is_destroyed_on_removal() {
    const DOMAIN: &CStr = c"ffi-callback-tests";
    let messages: Arc<Mutex<Vec<(String, GLogLevelFlags, String)>>> = Arc::default();
    let drops = counter();
    struct OnDrop(Arc<AtomicUsize>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let guard = OnDrop(drops.clone());
    let messages_in = messages.clone();
    let raw = LogFunc::boxed(move |domain: Option<&CStr>, level, message: &CStr| {
        let _ = &guard;
        messages_in.lock().unwrap().push((
            domain
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default(),
            level,
            message.to_string_lossy().into_owned(),
        ));
    })
    .into_raw();
    // SAFETY: GLib calls `function` with `user_data` for this domain's
    // messages until the handler is removed, then `destroy` once.
    let id = unsafe {
        g_log_set_handler_full(
            DOMAIN.as_ptr(),
            G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    let log = |level, text: &CStr| {
        // SAFETY: a "%s" format with one C string argument.
        unsafe { g_log(DOMAIN.as_ptr(), level, c"%s".as_ptr(), text.as_ptr()) };
    };
    log(G_LOG_LEVEL_MESSAGE, c"from the test thread");
    thread::scope(|s| {
        s.spawn(|| log(G_LOG_LEVEL_WARNING, c"from another thread"));
    });
    assert_eq!(load(&drops), 0);
    // SAFETY: the handler installed above.
    unsafe { g_log_remove_handler(DOMAIN.as_ptr(), id) };
    assert_eq!(load(&drops), 1, "removal ran the destroy-notify once");
    let domain = DOMAIN.to_str().unwrap().to_owned();
    assert_eq!(
        *messages.lock().unwrap(),
        [
            (
                domain.clone(),
                G_LOG_LEVEL_MESSAGE,
                "from the test thread".to_owned()
            ),
            (
                domain,
                G_LOG_LEVEL_WARNING,
                "from another thread".to_owned()
            ),
        ]
    );
}

// ---------------------------------------------------------------------------
// A timeout source on another thread's context, destroyed from this one
// ---------------------------------------------------------------------------

#[test]
fn timeout_source_on_another_threads_context_destroyed_from_here_is_freed_once() {
    let owner = spawn_owner();
    let (tick_tx, tick_rx) = mpsc::channel();
    let drops: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    struct RecordDrop(Arc<Mutex<Vec<ThreadId>>>);
    impl Drop for RecordDrop {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(thread::current().id());
        }
    }
    let guard = RecordDrop(drops.clone());
    let ticks = counter();
    let ticks_in = ticks.clone();
    let raw = SourceFunc::boxed(move || {
        let _ = &guard;
        ticks_in.fetch_add(1, Ordering::SeqCst);
        // The receiver may be gone once the test stopped listening.
        let _ = tick_tx.send(thread::current().id());
        G_SOURCE_CONTINUE
    })
    .into_raw();
    // SAFETY: a 1 ms timeout calling `function` with `user_data` on the
    // owner thread until destroyed, then `destroy` once.
    let source = unsafe {
        let source = g_timeout_source_new(1);
        g_source_set_callback(source, Some(raw.function), raw.user_data, Some(raw.destroy));
        g_source_attach(source, owner.context.0);
        source
    };
    for _ in 0..3 {
        let ran_on = tick_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a tick");
        assert_eq!(ran_on, owner.id);
    }
    // SAFETY: `g_source_destroy` is thread-safe; we still hold our
    // reference, dropped after.
    unsafe {
        g_source_destroy(source);
        g_source_unref(source);
    }
    let ticks_at_destroy = load(&ticks);
    let owner_id = owner.id;
    // GLib frees the callback here, or on the owner thread right after a
    // dispatch that was running: either way once.
    owner.stop();
    let freed = drops.lock().unwrap().clone();
    assert_eq!(freed.len(), 1, "freed once: {freed:?}");
    assert!(freed[0] == owner_id || freed[0] == thread::current().id());
    assert!(
        load(&ticks) <= ticks_at_destroy + 1,
        "no tick after the destroy but the one that was running"
    );
}
