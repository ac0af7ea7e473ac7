//! Spawns threads through `pthread_create` directly, the way a C library
//! starts its own threads: first with a Rust closure that moves its inputs
//! into the new thread and hands its result back through `pthread_join`,
//! then with a `#[callback]` fn that takes ownership of a `Box<T>`.
//!
//! ```text
//! cargo run -p examples --example spawn_thread
//! ```
//!
//! - The closure goes through a callback type declared `send` (it runs on
//!   another thread: the closure must be `Send`) and created with `once`
//!   (the start routine is called exactly once and C has no destroy-notify:
//!   the call itself frees the closure).
//! - libc declares the start routine as a *safe* `extern "C" fn(*mut c_void)
//!   -> *mut c_void`, which an `unsafe fn` does not coerce to, so both forms
//!   opt in with `unsafe(safe_fn)`: our promise that only `pthread_create`,
//!   with the matching argument, will call them.
//! - Panics: a new thread has no Rust caller to resume a panic on, so the
//!   policy is `abort` (the default of `send` types; written out on the fn):
//!   a panic prints which callback panicked and aborts the process instead
//!   of unwinding into libc.
//!
//! Linux only (libc's `pthread_t` and start-routine types as glibc and musl
//! declare them).

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};
    use std::process::ExitCode;
    use std::ptr;

    use ffi_callback::{callback, reclaim_box};

    /// The start routine of `pthread_create`: `void *(*)(void *)`. libc
    /// declares it as a safe fn pointer type, hence `unsafe(safe_fn)`.
    // SAFETY: the pointer is only ever passed to `pthread_create` with the
    // user data of a `ThreadStart` holder (`spawn` below).
    #[callback(send, unsafe(safe_fn))]
    type ThreadStart = extern "C" fn(#[user_data] arg: *mut c_void) -> *mut c_void;

    /// Starts a thread running `start(arg)`.
    ///
    /// # Safety
    /// `start` must accept `arg` and run safely on another thread.
    unsafe fn spawn(
        start: extern "C" fn(*mut c_void) -> *mut c_void,
        arg: *mut c_void,
    ) -> Result<libc::pthread_t, c_int> {
        let mut thread: libc::pthread_t = 0;
        // SAFETY: `thread` is a valid out pointer, the attributes are the
        // defaults (null), and the caller vouches for `start` with `arg`.
        match unsafe { libc::pthread_create(&mut thread, ptr::null(), start, arg) } {
            0 => Ok(thread),
            rc => Err(rc),
        }
    }

    /// Waits for `thread` and returns what its start routine returned.
    fn join(thread: libc::pthread_t) -> *mut c_void {
        let mut returned: *mut c_void = ptr::null_mut();
        // SAFETY: `thread` is a joinable thread from `spawn`, joined once.
        let rc = unsafe { libc::pthread_join(thread, &mut returned) };
        assert_eq!(rc, 0, "pthread_join");
        returned
    }

    /// `true` if the calling thread is not `other`.
    fn elsewhere(other: libc::pthread_t) -> bool {
        // SAFETY: `pthread_self` and `pthread_equal` have no preconditions.
        unsafe { libc::pthread_equal(libc::pthread_self(), other) == 0 }
    }

    /// What the closure's thread computes.
    struct Primes {
        count: usize,
        largest: Option<u64>,
        on_another_thread: bool,
    }

    fn is_prime(n: u64) -> bool {
        n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
    }

    /// The closure form: `ThreadStart::once(closure).into_raw()`.
    fn closure_form() -> Result<(), String> {
        let limit: u64 = 100_000;
        let numbers: Vec<u64> = (0..limit).collect();
        // SAFETY: no preconditions.
        let spawner = unsafe { libc::pthread_self() };
        let start = ThreadStart::once(move || {
            // Runs on the new thread, which owns `numbers` now.
            let primes: Vec<u64> = numbers.into_iter().filter(|&n| is_prime(n)).collect();
            let report = Primes {
                count: primes.len(),
                largest: primes.last().copied(),
                on_another_thread: elsewhere(spawner),
            };
            // The thread's result, for `pthread_join`.
            Box::into_raw(Box::new(report)).cast::<c_void>()
        })
        .into_raw();
        // SAFETY: `start.function` takes `start.user_data`, exactly once,
        // and the closure is `Send`.
        let thread = match unsafe { spawn(start.function, start.user_data) } {
            Ok(thread) => thread,
            Err(rc) => {
                // SAFETY: no thread was started, so the closure was never
                // called: free it.
                unsafe { start.reclaim() };
                return Err(format!("pthread_create failed: {rc}"));
            }
        };
        // SAFETY: the closure returned a `Box<Primes>` as a raw pointer.
        let report = unsafe { Box::from_raw(join(thread).cast::<Primes>()) };
        println!(
            "closure thread: {} primes below {limit}, the largest {}; ran on another thread: {}",
            report.count,
            report.largest.map_or("none".to_owned(), |p| p.to_string()),
            report.on_another_thread
        );
        if report.count != 9592 || !report.on_another_thread {
            return Err("the closure thread computed the wrong thing".to_owned());
        }
        Ok(())
    }

    /// What the fn form's thread receives, and owns from then on.
    struct Job {
        words: Vec<String>,
        spawner: libc::pthread_t,
    }

    /// The fn form: `job` arrives as the `Box<Job>` that `main` gave away,
    /// and is dropped by this thread. The default policy of a fn is
    /// `resume`, which needs a Rust caller: on a new thread, say `abort`.
    // SAFETY: only `main` passes it to `pthread_create`, with
    // `count_letters::user_data(Box<Job>)`.
    #[callback(unsafe(safe_fn), on_panic = abort)]
    extern "C" fn count_letters(#[user_data] job: Box<Job>) -> *mut c_void {
        let letters: usize = job.words.iter().map(|w| w.chars().count()).sum();
        let result = (letters, job.words.len(), elsewhere(job.spawner));
        Box::into_raw(Box::new(result)).cast()
    }

    fn fn_form() -> Result<(), String> {
        let job = Box::new(Job {
            words: ["threads", "started", "from", "C"]
                .map(String::from)
                .to_vec(),
            // SAFETY: no preconditions.
            spawner: unsafe { libc::pthread_self() },
        });
        let arg: *mut c_void = count_letters::user_data(job);
        // SAFETY: `count_letters` takes back the `Box<Job>` that `arg`
        // carries, once.
        let thread = match unsafe { spawn(count_letters, arg) } {
            Ok(thread) => thread,
            Err(rc) => {
                // SAFETY: no thread was started, so `count_letters` never got
                // `arg`: take the box back.
                drop(unsafe { reclaim_box::<_, Job>(arg) });
                return Err(format!("pthread_create failed: {rc}"));
            }
        };
        // SAFETY: `count_letters` returned a `Box<(usize, usize, bool)>`.
        let (letters, words, on_another_thread) =
            *unsafe { Box::from_raw(join(thread).cast::<(usize, usize, bool)>()) };
        println!(
            "fn thread: {letters} letters in {words} words; ran on another thread: {on_another_thread}"
        );
        if (letters, words, on_another_thread) != (19, 4, true) {
            return Err("the fn thread computed the wrong thing".to_owned());
        }
        Ok(())
    }

    pub(crate) fn main() -> ExitCode {
        match closure_form().and_then(|()| fn_form()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("spawn_thread calls pthread_create as libc declares it on Linux: run it on Linux");
}
