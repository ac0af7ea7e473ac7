//! Awaits several C completions at once: glibc's `getaddrinfo_a` lookups
//! and a `timer_create` timer, both notifying through `SIGEV_THREAD` (a
//! callback that glibc runs once, on a thread of its own), each turned into
//! a Rust future with `ffi_callback::future`.
//!
//! ```text
//! cargo run -p examples --example async_lookup
//! ```
//!
//! - The notification is a callback type declared `send` (glibc calls it
//!   on its own thread) and created with `once` (called exactly once, no
//!   destroy-notify: the call frees the closure). Its closure owns the
//!   request and completes the future with the result.
//! - If the C call that would start the work fails, glibc never calls back:
//!   the binding reclaims the callback (`RawOnce::reclaim`), and the future
//!   resolves to `Err(Cancelled)`.
//! - No async runtime is needed: the futures only use `std::task::Waker`,
//!   so the small `join_all` below drives them (any executor would do).
//!
//! Only `localhost` and numeric addresses are looked up, so it runs
//! offline. The lines for each name list what this machine's /etc/hosts
//! says; the last line is the same everywhere.
//!
//! Linux with glibc only (`getaddrinfo_a` and `SIGEV_THREAD` timers).

#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
mod linux {
    use std::ffi::{CStr, CString, c_char, c_int, c_void};
    use std::future::Future;
    use std::io;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::pin::Pin;
    use std::process::ExitCode;
    use std::ptr;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread, ThreadId};
    use std::time::{Duration, Instant};

    use ffi_callback::{Cancelled, callback};

    /// `void (*)(union sigval)`: glibc's `SIGEV_THREAD` notification. The
    /// union carries our pointer and is passed like one on 64-bit Linux.
    #[callback(send)]
    type Notify = unsafe extern "C" fn(#[user_data] value: *mut c_void);

    /// glibc's `struct sigevent` with its `SIGEV_THREAD` members, which the
    /// `libc` crate leaves out of its declaration (same size: 64 bytes).
    #[repr(C)]
    struct SigEvent {
        value: *mut c_void,
        signo: c_int,
        notify: c_int,
        function: Option<NotifyFn>,
        attributes: *mut libc::pthread_attr_t,
        _pad: [c_int; 8],
    }

    const _: () = assert!(size_of::<SigEvent>() == size_of::<libc::sigevent>());

    impl SigEvent {
        fn thread(function: NotifyFn, value: *mut c_void) -> SigEvent {
            SigEvent {
                value,
                signo: 0,
                notify: libc::SIGEV_THREAD,
                function: Some(function),
                attributes: ptr::null_mut(),
                _pad: [0; 8],
            }
        }
    }

    /// glibc's `struct gaicb`.
    #[repr(C)]
    struct GaiCb {
        name: *const c_char,
        service: *const c_char,
        request: *const libc::addrinfo,
        result: *mut libc::addrinfo,
        status: c_int,
        _reserved: [c_int; 5],
    }

    const GAI_NOWAIT: c_int = 1;

    // In libc.so.6 since glibc 2.34.
    unsafe extern "C" {
        fn getaddrinfo_a(
            mode: c_int,
            list: *mut *mut GaiCb,
            nitems: c_int,
            sevp: *mut SigEvent,
        ) -> c_int;
        fn gai_error(req: *mut GaiCb) -> c_int;
    }

    fn gai_message(code: c_int) -> String {
        // SAFETY: `gai_strerror` returns a static NUL-terminated string.
        let message = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
        message.to_string_lossy().into_owned()
    }

    /// One lookup's control block and what it points at, on the heap so
    /// that glibc's pointers stay valid; owned through a raw pointer until
    /// the notification (or a failed start) frees it.
    struct Request {
        cb: GaiCb,
        name: CString,
        hints: libc::addrinfo,
    }

    /// Owns a `Request`. Sent to glibc's notification thread.
    struct Owned(*mut Request);

    // SAFETY: glibc touches the request only until it notifies; after that
    // only the owner of `Owned` does.
    unsafe impl Send for Owned {}

    impl Owned {
        /// The addresses glibc found, once it notified.
        fn addresses(&self) -> io::Result<Vec<IpAddr>> {
            // SAFETY: `self.0` is live; glibc is done with it.
            let cb = unsafe { &raw mut (*self.0).cb };
            // SAFETY: a finished control block.
            let status = unsafe { gai_error(cb) };
            if status != 0 {
                return Err(io::Error::other(gai_message(status)));
            }
            let mut addrs = Vec::new();
            // SAFETY: the result list of a finished lookup, freed in `drop`.
            let mut ai = unsafe { (*cb).result };
            while !ai.is_null() {
                // SAFETY: `ai` is a node of that list; `ai_addr` points at
                // the `sockaddr` its `ai_family` names.
                unsafe {
                    match (*ai).ai_family {
                        libc::AF_INET => {
                            let sa = &*(*ai).ai_addr.cast::<libc::sockaddr_in>();
                            addrs.push(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)).into());
                        }
                        libc::AF_INET6 => {
                            let sa = &*(*ai).ai_addr.cast::<libc::sockaddr_in6>();
                            addrs.push(Ipv6Addr::from(sa.sin6_addr.s6_addr).into());
                        }
                        _ => {}
                    }
                    ai = (*ai).ai_next;
                }
            }
            addrs.dedup();
            Ok(addrs)
        }
    }

    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: from `Box::into_raw`; glibc is done with it, and its
            // result list is ours to free.
            unsafe {
                let request = Box::from_raw(self.0);
                if !request.cb.result.is_null() {
                    libc::freeaddrinfo(request.cb.result);
                }
            }
        }
    }

    /// What a lookup found, and where glibc ran its notification.
    struct Found {
        addrs: Vec<IpAddr>,
        notified_on: ThreadId,
    }

    /// Resolves `name` in the background; the future resolves when glibc
    /// calls back.
    fn lookup(name: &str) -> impl Future<Output = io::Result<Found>> + Send + 'static {
        // SAFETY: all-zero is a valid `addrinfo` (null pointers, zeros).
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        let request = Box::into_raw(Box::new(Request {
            cb: GaiCb {
                name: ptr::null(),
                service: ptr::null(),
                request: ptr::null(),
                result: ptr::null_mut(),
                status: 0,
                _reserved: [0; 5],
            },
            name: CString::new(name).expect("no NUL in a host name"),
            hints,
        }));
        // SAFETY: `request` is the fresh allocation above.
        let mut list = unsafe {
            (*request).cb.name = (*request).name.as_ptr();
            (*request).cb.request = &raw const (*request).hints;
            [&raw mut (*request).cb]
        };
        let owned = Owned(request);
        let (once, done) = ffi_callback::future(|done| {
            Notify::once(move || {
                // On glibc's thread: read the result, then free the request.
                done.complete(owned.addresses().map(|addrs| Found {
                    addrs,
                    notified_on: thread::current().id(),
                }));
            })
        });
        let raw = once.into_raw();
        let mut event = SigEvent::thread(raw.function, raw.user_data);
        // SAFETY: the control block stays valid until the notification (its
        // closure owns it); `raw.function` takes `raw.user_data` and is
        // called once; glibc copies `event`.
        let rc = unsafe { getaddrinfo_a(GAI_NOWAIT, list.as_mut_ptr(), 1, &mut event) };
        let started = if rc == 0 {
            Ok(())
        } else {
            // SAFETY: nothing was queued, so glibc never calls back: free
            // the closure (and the request it owns); `done` is cancelled.
            unsafe { raw.reclaim() };
            Err(io::Error::other(format!(
                "getaddrinfo_a: {}",
                gai_message(rc)
            )))
        };
        async move {
            started?;
            done.await
                .map_err(|Cancelled| io::Error::other("the lookup was cancelled"))?
        }
    }

    /// A one-shot `CLOCK_MONOTONIC` timer, deleted on drop.
    struct Timer(libc::timer_t);

    // SAFETY: a timer id names a process-wide timer.
    unsafe impl Send for Timer {}

    impl Drop for Timer {
        fn drop(&mut self) {
            // SAFETY: a timer from `sleep`, deleted once.
            unsafe { libc::timer_delete(self.0) };
        }
    }

    /// Resolves after `delay`, with the instant glibc's thread saw.
    ///
    /// Dropped before it fires, it deletes the timer and leaks the small
    /// closure: glibc cannot say whether a notification is already on its
    /// way, so reclaiming it would race with that call. Here every future
    /// is awaited.
    fn sleep(delay: Duration) -> impl Future<Output = io::Result<Instant>> + Send + 'static {
        let (once, done) =
            ffi_callback::future(|done| Notify::once(move || done.complete(Instant::now())));
        let raw = once.into_raw();
        let mut event = SigEvent::thread(raw.function, raw.user_data);
        let mut id: libc::timer_t = ptr::null_mut();
        // SAFETY: `event` is a valid glibc `sigevent` (copied by glibc), `id`
        // a valid out pointer, and `raw.function` takes `raw.user_data`.
        let timer = if unsafe {
            libc::timer_create(libc::CLOCK_MONOTONIC, (&raw mut event).cast(), &mut id)
        } == 0
        {
            let timer = Timer(id);
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: delay.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                    tv_nsec: delay.subsec_nanos().max(1).into(),
                },
            };
            // SAFETY: a live timer; the old value is not wanted.
            match unsafe { libc::timer_settime(timer.0, 0, &spec, ptr::null_mut()) } {
                0 => Ok(timer),
                // Dropping the timer deletes it before it was armed.
                _ => Err(io::Error::last_os_error()),
            }
        } else {
            Err(io::Error::last_os_error())
        };
        if timer.is_err() {
            // SAFETY: no armed timer exists, so glibc never calls back.
            unsafe { raw.reclaim() };
        }
        async move {
            let timer = timer?;
            let fired = done
                .await
                .map_err(|Cancelled| io::Error::other("cancelled"));
            drop(timer);
            fired
        }
    }

    /// Unparks the thread that polls.
    struct Unpark(Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

    /// Drives all `tasks` on this thread until each has finished; their
    /// outputs in the order given.
    fn join_all<T>(tasks: Vec<Task<'_, T>>) -> Vec<T> {
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut tasks: Vec<Option<Task<'_, T>>> = tasks.into_iter().map(Some).collect();
        let mut outputs: Vec<Option<T>> = tasks.iter().map(|_| None).collect();
        while outputs.iter().any(Option::is_none) {
            for (task, output) in tasks.iter_mut().zip(&mut outputs) {
                if let Some(future) = task {
                    if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                        *output = Some(value);
                        *task = None;
                    }
                }
            }
            if outputs.iter().any(Option::is_none) {
                thread::park();
            }
        }
        outputs.into_iter().flatten().collect()
    }

    enum Done {
        Lookup(&'static str, io::Result<Found>),
        Timer(Duration, io::Result<Instant>),
    }

    pub(crate) fn main() -> ExitCode {
        let names = ["localhost", "127.0.0.1", "::1"];
        let delay = Duration::from_millis(50);
        let start = Instant::now();
        let mut tasks: Vec<Task<'_, Done>> = names
            .iter()
            .map(|&name| -> Task<'_, Done> {
                let found = lookup(name);
                Box::pin(async move { Done::Lookup(name, found.await) })
            })
            .collect();
        let slept = sleep(delay);
        tasks.push(Box::pin(async move { Done::Timer(delay, slept.await) }));

        let me = thread::current().id();
        let (mut resolved, mut on_glibc_threads, mut timer_ok) = (0, true, false);
        for done in join_all(tasks) {
            match done {
                Done::Lookup(name, Ok(found)) => {
                    let addrs: Vec<String> = found.addrs.iter().map(IpAddr::to_string).collect();
                    println!("{name} -> {}", addrs.join(", "));
                    resolved += usize::from(!found.addrs.is_empty());
                    on_glibc_threads &= found.notified_on != me;
                }
                Done::Lookup(name, Err(error)) => println!("{name}: {error}"),
                Done::Timer(delay, Ok(at)) => timer_ok = at.duration_since(start) >= delay,
                Done::Timer(_, Err(error)) => println!("timer: {error}"),
            }
        }
        println!(
            "resolved {resolved} of {} names and a {} ms timer fired: {}; notified on glibc threads: {on_glibc_threads}",
            names.len(),
            delay.as_millis(),
            timer_ok
        );
        if resolved == names.len() && timer_ok && on_glibc_threads {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64")))]
fn main() {
    println!(
        "async_lookup uses glibc's getaddrinfo_a and SIGEV_THREAD timers: run it on 64-bit Linux with glibc"
    );
}
