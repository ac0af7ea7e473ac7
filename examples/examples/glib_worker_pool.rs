//! A GLib worker pool (`g_thread_pool_new`) running a Rust closure on its
//! worker threads: each work item is a number whose Collatz sequence the
//! closure walks; it adds the steps to a shared total and records which
//! worker thread did the item. The program prints how the items were
//! spread over the workers and checks the total against a plain loop.
//!
//! ```text
//! cargo run -p examples --features glib --example glib_worker_pool
//! ```
//!
//! Needs the system GLib: `apt-get install libglib2.0-dev pkg-config` (Debian,
//! Ubuntu), hence the `glib` feature.
//!
//! GLib calls a pool's function from several worker threads at once, so the
//! callback type is declared `sync`: the closure must be `Fn + Send + Sync`,
//! checked at compile time (it shares its state through atomics and a
//! `Mutex`). Its panic policy is `sync`'s default, `abort`: a worker thread
//! has no Rust caller to resume a panic on, so a panic prints which callback
//! panicked and aborts the process instead of unwinding into GLib.

use std::collections::HashMap;
use std::ffi::CStr;
use std::process::ExitCode;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, ThreadId};

use ffi_callback::callback;
use glib_sys::{
    GError, GFALSE, GTRUE, g_error_free, g_thread_pool_free, g_thread_pool_new, g_thread_pool_push,
    gpointer,
};

/// `GFunc`: `void (*)(gpointer data, gpointer user_data)`, the task's
/// data first, the pool's user data last.
#[callback(sync)]
type PoolFunc = unsafe extern "C" fn(data: gpointer, #[user_data] user_data: gpointer);

const ITEMS: usize = 10_000;
const MAX_THREADS: i32 = 4;

/// Steps for `n` to reach 1 by the Collatz rule.
fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// Takes GLib's error, if any, as a message.
fn take_error(error: &mut *mut GError) -> Result<(), String> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: GLib set `*error` to a valid `GError`, which we own and
    // free here.
    let message = unsafe {
        let message = CStr::from_ptr((**error).message)
            .to_string_lossy()
            .into_owned();
        g_error_free(*error);
        message
    };
    *error = ptr::null_mut();
    Err(message)
}

fn main() -> ExitCode {
    let main_thread = thread::current().id();
    let done = AtomicUsize::new(0);
    let total_steps = AtomicU64::new(0);
    let per_thread: Mutex<HashMap<ThreadId, usize>> = Mutex::new(HashMap::new());

    let result = PoolFunc::scope(
        // Called by the worker threads, several at once: it only reads
        // its captures or goes through atomics and the mutex.
        |data| {
            let item = data.addr() as u64;
            total_steps.fetch_add(collatz_steps(item), Ordering::Relaxed);
            done.fetch_add(1, Ordering::Relaxed);
            *per_thread
                .lock()
                .unwrap()
                .entry(thread::current().id())
                .or_default() += 1;
        },
        |func, user_data| -> Result<(), String> {
            let mut error: *mut GError = ptr::null_mut();
            // SAFETY: `func` takes `user_data`, whose holder lives until
            // `scope` returns, after this closure; the pool is freed,
            // waiting for every queued task, before this closure returns.
            let pool = unsafe {
                g_thread_pool_new(Some(func), user_data, MAX_THREADS, GFALSE, &mut error)
            };
            take_error(&mut error)?;
            let mut pushed = Ok(());
            for item in 1..=ITEMS {
                // The task data is the item itself, as a pointer-sized
                // integer (GLib refuses NULL: items start at 1).
                // SAFETY: `pool` is the live pool created above.
                unsafe { g_thread_pool_push(pool, ptr::without_provenance_mut(item), &mut error) };
                pushed = take_error(&mut error);
                if pushed.is_err() {
                    break;
                }
            }
            // immediate = FALSE, wait = TRUE: run every queued task, then
            // join the workers.
            // SAFETY: `pool` is live and not used after this.
            unsafe { g_thread_pool_free(pool, GFALSE, GTRUE) };
            pushed
        },
    );
    if let Err(message) = result {
        eprintln!("error: GLib: {message}");
        return ExitCode::FAILURE;
    }

    let per_thread = per_thread.into_inner().unwrap();
    let mut counts: Vec<usize> = per_thread.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let done = done.into_inner();
    let total_steps = total_steps.into_inner();
    println!(
        "{done} items processed by {} worker threads (at most {MAX_THREADS})",
        per_thread.len()
    );
    for (i, n) in counts.iter().enumerate() {
        println!("  worker {}: {n} items", i + 1);
    }
    let expected: u64 = (1..=ITEMS as u64).map(collatz_steps).sum();
    println!("total Collatz steps for 1..={ITEMS}: {total_steps} (sequential check: {expected})");

    let on_main = per_thread.contains_key(&main_thread);
    if done != ITEMS || total_steps != expected || on_main {
        eprintln!(
            "error: expected {ITEMS} items and {expected} steps, all on worker threads; \
                 got {done} items, {total_steps} steps{}",
            if on_main {
                ", some on the main thread"
            } else {
                ""
            }
        );
        return ExitCode::FAILURE;
    }
    println!("ok: every item ran once, on a worker thread");
    ExitCode::SUCCESS
}
