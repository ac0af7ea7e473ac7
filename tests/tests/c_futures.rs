//! C completions as Rust futures (issue 14), against glibc's `SIGEV_THREAD`
//! notifications, for real:
//!
//! - `getaddrinfo_a` resolving `localhost` from /etc/hosts (no network):
//!   the future resolves with the addresses, and the notification ran on a
//!   glibc thread;
//! - one-shot `timer_create(CLOCK_MONOTONIC, SIGEV_THREAD)` timers: a timer
//!   that fires resolves its future; a timer deleted before it fires, its
//!   pair reclaimed, resolves to `Cancelled`; a future dropped while its
//!   timer is still armed is safe (the late call runs, its value is dropped
//!   on glibc's thread);
//! - 1,000 timers firing on glibc threads in their own order: every future
//!   resolves once;
//! - a real executor (tokio) awaiting several completions concurrently;
//! - with the runtime's `stream` feature, a repeated callback as a stream:
//!   an interval timer's ticks arrive in order, and the stream ends when the
//!   callback drops its `Sender`; a consumer that drops the stream closes
//!   the sender, and the callback sees it; a one-shot timer re-armed from its
//!   own callback streams each call, and the stream ends when the callback
//!   is destroyed.
//!
//! Futures and streams are driven by a std-only `block_on` (park/unpark
//! waker), except in the tokio test.
#![cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]

use std::ffi::{CString, c_char, c_int, c_void};
use std::future::Future;
use std::io;
use std::mem::{offset_of, size_of};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread, ThreadId};
use std::time::{Duration, Instant};

use ffi_callback::{CallbackFuture, Cancelled, callback};
use ffi_callback_tests::panics::panic_payload;

// ---------------------------------------------------------------------------
// glibc declarations the `libc` crate does not have
// ---------------------------------------------------------------------------

/// glibc's `struct sigevent`. The `libc` crate declares only the
/// `sigev_notify_thread_id` member of glibc's `_sigev_un` union; the
/// `SIGEV_THREAD` member is `struct { void (*_function)(union sigval);
/// pthread_attr_t *_attribute; }`, laid out here with the rest of the
/// union's 48 bytes as padding.
#[repr(C)]
struct SigEvent {
    /// `union sigval { int sival_int; void *sival_ptr; }`: we pass pointers.
    sigev_value: *mut c_void,
    sigev_signo: c_int,
    sigev_notify: c_int,
    sigev_notify_function: Option<NotifyFn>,
    sigev_notify_attributes: *mut libc::pthread_attr_t,
    _pad: [c_int; 8],
}

// The layout, checked against the `libc` crate's declaration and glibc's
// `__SIGEV_MAX_SIZE` (64).
const _: () = {
    assert!(size_of::<SigEvent>() == 64);
    assert!(size_of::<SigEvent>() == size_of::<libc::sigevent>());
    assert!(align_of::<SigEvent>() == align_of::<libc::sigevent>());
    assert!(offset_of!(SigEvent, sigev_value) == offset_of!(libc::sigevent, sigev_value));
    assert!(offset_of!(SigEvent, sigev_signo) == offset_of!(libc::sigevent, sigev_signo));
    assert!(offset_of!(SigEvent, sigev_notify) == offset_of!(libc::sigevent, sigev_notify));
    // The union starts where `libc` puts its one member.
    assert!(
        offset_of!(SigEvent, sigev_notify_function)
            == offset_of!(libc::sigevent, sigev_notify_thread_id)
    );
    assert!(offset_of!(SigEvent, sigev_notify_attributes) == 24);
};

impl SigEvent {
    /// `SIGEV_THREAD`: glibc calls `function(value)` on a thread of its own.
    fn thread(function: NotifyFn, value: *mut c_void) -> SigEvent {
        SigEvent {
            sigev_value: value,
            sigev_signo: 0,
            sigev_notify: libc::SIGEV_THREAD,
            sigev_notify_function: Some(function),
            sigev_notify_attributes: ptr::null_mut(),
            _pad: [0; 8],
        }
    }

    fn as_libc(&mut self) -> *mut libc::sigevent {
        ptr::from_mut(self).cast()
    }
}

/// glibc's `struct gaicb` (`<netdb.h>`, `_GNU_SOURCE`).
#[repr(C)]
struct GaiCb {
    ar_name: *const c_char,
    ar_service: *const c_char,
    ar_request: *const libc::addrinfo,
    ar_result: *mut libc::addrinfo,
    __return: c_int,
    __glibc_reserved: [c_int; 5],
}

const _: () = assert!(size_of::<GaiCb>() == 56);

const GAI_NOWAIT: c_int = 1;

// In libc.so.6 since glibc 2.34 (libanl is an empty stub there), so no
// `#[link(name = "anl")]`.
unsafe extern "C" {
    fn getaddrinfo_a(
        mode: c_int,
        list: *mut *mut GaiCb,
        nitems: c_int,
        sevp: *mut libc::sigevent,
    ) -> c_int;
    fn gai_error(req: *mut GaiCb) -> c_int;
}

// ---------------------------------------------------------------------------
// The callback type
// ---------------------------------------------------------------------------

/// `void (*sigev_notify_function)(union sigval)`. The union (an `int` or a
/// pointer, pointer-sized) is passed like the pointer it carries on the
/// 64-bit Linux ABIs (one INTEGER eightbyte on x86_64, one register on
/// aarch64), so the user-data slot is declared as that pointer. glibc calls
/// it once, on a thread it creates: `send`.
#[callback(send)]
type Notify = unsafe extern "C" fn(#[user_data] value: *mut c_void);

// ---------------------------------------------------------------------------
// A std-only executor
// ---------------------------------------------------------------------------

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// How long a test waits for C before it fails (rather than hangs).
const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `future` on this thread, parking between polls, until it resolves.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut outputs = join_all(vec![future]);
    outputs.pop().unwrap()
}

/// Polls all `futures` concurrently on this thread until every one has
/// resolved; each is polled to completion exactly once (a second poll of a
/// `CallbackFuture` that resolved would panic).
fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut futures: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut pending = futures.len();
    let start = Instant::now();
    while pending > 0 {
        for (slot, output) in futures.iter_mut().zip(&mut outputs) {
            if let Some(future) = slot {
                if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                    *output = Some(value);
                    *slot = None;
                    pending -= 1;
                }
            }
        }
        if pending > 0 {
            let waited = start.elapsed();
            assert!(
                waited < DEADLINE,
                "{pending} futures still pending after {waited:?}"
            );
            thread::park_timeout(DEADLINE - waited);
        }
    }
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Waits until `done` holds, for C work that resolves no future.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------

/// A `timer_t`: what a callback needs to re-arm its own timer.
#[derive(Clone, Copy, Debug)]
struct TimerId(libc::timer_t);

// SAFETY: a POSIX timer id names a process-wide timer, which any thread
// may set or delete.
unsafe impl Send for TimerId {}
// SAFETY: as above; `timer_settime` may be called from several threads.
unsafe impl Sync for TimerId {}

impl TimerId {
    /// Arms the timer: it expires after `delay` (its nanoseconds rounded
    /// up to at least 1: a zero `it_value` would disarm it), then every
    /// `interval` (zero: once).
    ///
    /// # Safety
    /// The timer has not been deleted.
    unsafe fn arm(self, delay: Duration, interval: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: interval.as_secs().try_into().unwrap(),
                tv_nsec: interval.subsec_nanos().into(),
            },
            it_value: libc::timespec {
                tv_sec: delay.as_secs().try_into().unwrap(),
                tv_nsec: delay.subsec_nanos().max(1).into(),
            },
        };
        // SAFETY: a live timer (the caller's promise); `spec` is valid and
        // the old value is not wanted.
        if unsafe { libc::timer_settime(self.0, 0, &spec, ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A `timer_create(CLOCK_MONOTONIC, SIGEV_THREAD)` timer, deleted on drop.
struct Timer(TimerId);

impl Timer {
    /// A timer, not armed yet, that calls `function(value)` on a glibc
    /// thread each time it expires.
    ///
    /// # Safety
    /// `function` must accept `value`, called on other threads for as long
    /// as the timer is armed, and, since `timer_delete` does not wait for
    /// the notifications glibc already started, for a while after.
    unsafe fn new(function: NotifyFn, value: *mut c_void) -> io::Result<Timer> {
        let mut event = SigEvent::thread(function, value);
        let mut id: libc::timer_t = ptr::null_mut();
        // SAFETY: `event` is a valid glibc `sigevent` (glibc copies it) and
        // `id` a valid out pointer; the caller vouches for the pair.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, event.as_libc(), &mut id) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Timer(TimerId(id)))
    }

    /// A one-shot timer that calls `function(value)` on a glibc thread
    /// after `delay`.
    ///
    /// # Safety
    /// `function` must accept `value`, called once on another thread.
    unsafe fn one_shot(
        function: NotifyFn,
        value: *mut c_void,
        delay: Duration,
    ) -> io::Result<Timer> {
        // SAFETY: the caller's promise, for one call.
        let timer = unsafe { Timer::new(function, value) }?;
        timer.arm(delay, Duration::ZERO)?;
        Ok(timer)
    }

    fn id(&self) -> TimerId {
        self.0
    }

    /// [`TimerId::arm`], on a timer that is not deleted while `self` lives.
    fn arm(&self, delay: Duration, interval: Duration) -> io::Result<()> {
        // SAFETY: deleted only by `drop`.
        unsafe { self.0.arm(delay, interval) }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: a timer created by `new`, deleted only here.
        let rc = unsafe { libc::timer_delete(self.0.0) };
        assert_eq!(rc, 0, "timer_delete");
    }
}

/// A one-shot timer whose notification completes the returned future with
/// `on_fire()`'s value, computed on glibc's thread.
fn timer_future<V: Send + 'static>(
    delay: Duration,
    on_fire: impl FnOnce() -> V + Send + 'static,
) -> (Timer, CallbackFuture<V>) {
    let (once, done) = ffi_callback::future(|done| Notify::once(move || done.complete(on_fire())));
    let raw = once.into_raw();
    // SAFETY: `raw.function` takes `raw.user_data`, and may be called once
    // on any thread (a `send` once).
    match unsafe { Timer::one_shot(raw.function, raw.user_data, delay) } {
        Ok(timer) => (timer, done),
        Err(error) => {
            // SAFETY: no timer exists, so glibc never calls it.
            unsafe { raw.reclaim() };
            panic!("timer_create: {error}");
        }
    }
}

/// Where and when a timer's notification ran.
#[derive(Debug)]
struct Fired {
    thread: ThreadId,
    at: Instant,
}

fn fired() -> Fired {
    Fired {
        thread: thread::current().id(),
        at: Instant::now(),
    }
}

#[test]
fn one_shot_timer_resolves_its_future_after_it_fires_on_a_glibc_thread() {
    let start = Instant::now();
    let delay = Duration::from_millis(30);
    let (timer, done) = timer_future(delay, fired);
    let result = block_on(done);
    drop(timer);
    let fired = result.expect("the timer fired");
    assert_ne!(fired.thread, thread::current().id(), "on glibc's thread");
    assert!(
        fired.at.duration_since(start) >= delay,
        "not before the timer was due: {:?}",
        fired.at.duration_since(start)
    );
}

/// Counts drops, and records the thread each ran on.
#[derive(Clone, Default)]
struct Drops(Arc<Mutex<Vec<ThreadId>>>);

impl Drops {
    fn tracked(&self) -> Tracked {
        Tracked(self.clone())
    }

    fn threads(&self) -> Vec<ThreadId> {
        self.0.lock().unwrap().clone()
    }
}

struct Tracked(Drops);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.0.lock().unwrap().push(thread::current().id());
    }
}

#[test]
fn timer_deleted_before_it_fires_with_its_pair_reclaimed_resolves_to_cancelled() {
    let drops = Drops::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let captured = drops.tracked();
    let (once, done) = ffi_callback::future(|done| {
        let calls = Arc::clone(&calls);
        Notify::once(move || {
            let _ = &captured;
            calls.fetch_add(1, Ordering::SeqCst);
            done.complete(());
        })
    });
    let raw = once.into_raw();
    // SAFETY: `raw.function` takes `raw.user_data`, called at most once on
    // any thread.
    let timer = unsafe { Timer::one_shot(raw.function, raw.user_data, Duration::from_secs(3600)) }
        .expect("timer_create");
    drop(timer); // timer_delete: the hour-long timer never fires.
    // SAFETY: the timer is deleted before it fired, so glibc never calls
    // `raw.function`.
    unsafe { raw.reclaim() };
    assert_eq!(
        drops.threads(),
        [thread::current().id()],
        "the closure was dropped, here"
    );
    assert_eq!(block_on(done), Err(Cancelled));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn future_dropped_with_its_timer_armed_lets_the_late_call_run_and_drop_its_value() {
    let drops = Drops::default();
    let ran_on: Arc<Mutex<Option<ThreadId>>> = Arc::default();
    let (timer, done) = timer_future(Duration::from_millis(20), {
        let (drops, ran_on) = (drops.clone(), Arc::clone(&ran_on));
        move || {
            *ran_on.lock().unwrap() = Some(thread::current().id());
            drops.tracked()
        }
    });
    drop(done);
    // `drops` has one clone here and one in the closure until the call
    // frees it, and one in the `Tracked` value until that is dropped.
    wait_until("the late call ran and freed everything", || {
        !drops.threads().is_empty() && Arc::strong_count(&drops.0) == 1
    });
    drop(timer);
    let ran_on = ran_on.lock().unwrap().expect("the late call ran");
    assert_ne!(ran_on, thread::current().id());
    assert_eq!(
        drops.threads(),
        [ran_on],
        "the value was dropped once, on glibc's thread, by the completion"
    );
}

#[derive(Debug, PartialEq)]
struct TimerPanic(ThreadId);

#[test]
fn panic_on_glibc_thread_is_carried_into_the_future_by_complete_catching() {
    let (once, done) = ffi_callback::future(|done| {
        Notify::once(move || {
            done.complete_catching(|| -> u32 {
                std::panic::panic_any(TimerPanic(thread::current().id()))
            });
        })
    });
    let raw = once.into_raw();
    // SAFETY: `raw.function` takes `raw.user_data`, called once on any
    // thread.
    let timer = unsafe { Timer::one_shot(raw.function, raw.user_data, Duration::from_millis(5)) }
        .expect("timer_create");
    let payload = panic_payload(|| block_on(done));
    drop(timer);
    let TimerPanic(thread) = *payload
        .downcast::<TimerPanic>()
        .expect("the original payload");
    assert_ne!(
        thread,
        thread::current().id(),
        "it panicked on glibc's thread"
    );
}

/// How many timers the test arms at once: all of them, except under
/// qemu-user, which emulates at most 32 POSIX timers per process
/// (`timer_create` then fails with `EAGAIN`); scripts/test-aarch64.sh says
/// so through `FFI_CALLBACK_TIMER_LIMIT`. A few stay free for the other
/// timer tests running beside this one.
fn timers_at_once(count: usize) -> usize {
    std::env::var("FFI_CALLBACK_TIMER_LIMIT")
        .ok()
        .and_then(|limit| limit.parse::<usize>().ok())
        .map_or(count, |limit| limit.saturating_sub(8).clamp(1, count))
}

#[test]
fn thousand_timers_fire_on_glibc_threads_in_their_own_order_and_each_future_resolves_once() {
    const COUNT: usize = 1000;
    let order: Arc<Mutex<Vec<usize>>> = Arc::default();
    let mut results = Vec::with_capacity(COUNT);
    let indices: Vec<usize> = (0..COUNT).collect();
    for batch in indices.chunks(timers_at_once(COUNT)) {
        let mut timers = Vec::with_capacity(batch.len());
        let mut futures = Vec::with_capacity(batch.len());
        for &i in batch {
            // Delays 0.1..100 ms, in an order unrelated to `i`.
            let delay = Duration::from_micros(100 + (i as u64 * 7919 % 1000) * 100);
            let order = Arc::clone(&order);
            let (timer, done) = timer_future(delay, move || {
                order.lock().unwrap().push(i);
                (i, thread::current().id())
            });
            timers.push(timer);
            futures.push(done);
        }
        results.extend(join_all(futures));
        drop(timers);
    }
    let me = thread::current().id();
    for (i, result) in results.into_iter().enumerate() {
        let (value, thread) = result.expect("every timer fired");
        assert_eq!(value, i, "each future got its own timer's value");
        assert_ne!(thread, me);
    }
    let mut order = order.lock().unwrap().clone();
    assert_eq!(order.len(), COUNT, "each notification ran exactly once");
    assert_ne!(
        order,
        (0..COUNT).collect::<Vec<_>>(),
        "fired in delay order, not creation order"
    );
    order.sort_unstable();
    assert_eq!(order, (0..COUNT).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// getaddrinfo_a
// ---------------------------------------------------------------------------

/// One `getaddrinfo_a` request: the control block glibc writes to, and what
/// it points at. Heap-allocated and owned by [`Request`], so that its
/// address stays put until the notification.
struct Lookup {
    cb: GaiCb,
    name: CString,
    hints: libc::addrinfo,
}

/// Owns a [`Lookup`] through a raw pointer (glibc holds a pointer into it
/// too, so it is never moved or reborrowed as a `Box` while glibc works).
struct Request(*mut Lookup);

// SAFETY: the `Lookup` is only touched by glibc before the notification and
// by the thread that owns the `Request` after it.
unsafe impl Send for Request {}

impl Request {
    fn new(name: &str, flags: c_int) -> Request {
        // SAFETY: all-zero is a valid `addrinfo` (null pointers, zero ints).
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_socktype = libc::SOCK_STREAM;
        hints.ai_flags = flags;
        let lookup = Box::into_raw(Box::new(Lookup {
            cb: GaiCb {
                ar_name: ptr::null(),
                ar_service: ptr::null(),
                ar_request: ptr::null(),
                ar_result: ptr::null_mut(),
                __return: 0,
                __glibc_reserved: [0; 5],
            },
            name: CString::new(name).unwrap(),
            hints,
        }));
        // SAFETY: `lookup` is the fresh allocation above; the pointers
        // written point into it.
        unsafe {
            (*lookup).cb.ar_name = (*lookup).name.as_ptr();
            (*lookup).cb.ar_request = &raw const (*lookup).hints;
        }
        Request(lookup)
    }

    fn cb(&self) -> *mut GaiCb {
        // SAFETY: `self.0` is live until `drop`.
        unsafe { &raw mut (*self.0).cb }
    }

    /// After the notification: the addresses, or `gai_error`'s code.
    fn result(&self) -> Result<Vec<IpAddr>, c_int> {
        // SAFETY: glibc finished with the request (it notified).
        let status = unsafe { gai_error(self.cb()) };
        if status != 0 {
            return Err(status);
        }
        let mut addrs = Vec::new();
        // SAFETY: a finished request's `ar_result` is a valid list (owned by
        // the request until `drop` frees it).
        let mut ai = unsafe { (*self.cb()).ar_result };
        while !ai.is_null() {
            // SAFETY: `ai` is a node of that list, whose `ai_addr` points at
            // a `sockaddr_in` or `sockaddr_in6` as `ai_family` says.
            unsafe {
                match (*ai).ai_family {
                    libc::AF_INET => {
                        let sa = &*(*ai).ai_addr.cast::<libc::sockaddr_in>();
                        addrs.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let sa = &*(*ai).ai_addr.cast::<libc::sockaddr_in6>();
                        addrs.push(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
                ai = (*ai).ai_next;
            }
        }
        Ok(addrs)
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from `Box::into_raw`, and glibc is done with
        // it (notified, or the request was never queued); its result list
        // is ours to free.
        unsafe {
            let lookup = Box::from_raw(self.0);
            if !lookup.cb.ar_result.is_null() {
                libc::freeaddrinfo(lookup.cb.ar_result);
            }
        }
    }
}

/// What a lookup's notification saw.
#[derive(Debug)]
struct Resolved {
    addrs: Result<Vec<IpAddr>, c_int>,
    thread: ThreadId,
}

/// Starts resolving `name` with `getaddrinfo_a(GAI_NOWAIT)`, notified
/// through `SIGEV_THREAD`; the future resolves with the result.
fn resolve(name: &str, flags: c_int) -> CallbackFuture<Resolved> {
    let request = Request::new(name, flags);
    let mut list = [request.cb()];
    let (once, done) = ffi_callback::future(|done| {
        Notify::once(move || {
            done.complete(Resolved {
                addrs: request.result(),
                thread: thread::current().id(),
            });
        })
    });
    let raw = once.into_raw();
    let mut event = SigEvent::thread(raw.function, raw.user_data);
    // SAFETY: the control block stays valid until the notification (the
    // closure owns it); `raw.function` takes `raw.user_data`, called once on
    // a glibc thread; glibc copies `event`.
    let rc = unsafe { getaddrinfo_a(GAI_NOWAIT, list.as_mut_ptr(), 1, event.as_libc()) };
    if rc != 0 {
        // SAFETY: the request was not queued, so glibc never notifies.
        unsafe { raw.reclaim() };
    }
    done
}

#[test]
fn getaddrinfo_a_resolves_localhost_and_notifies_on_a_glibc_thread() {
    let resolved = block_on(resolve("localhost", 0)).expect("notified");
    let addrs = resolved.addrs.expect("localhost resolves from /etc/hosts");
    assert!(
        addrs.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "{addrs:?}"
    );
    assert!(addrs.iter().all(IpAddr::is_loopback), "{addrs:?}");
    assert_ne!(resolved.thread, thread::current().id(), "on glibc's thread");
}

#[test]
fn getaddrinfo_a_failure_reaches_the_future_as_gai_error() {
    let resolved = block_on(resolve("not a numeric host", libc::AI_NUMERICHOST)).expect("notified");
    assert_eq!(resolved.addrs, Err(libc::EAI_NONAME));
    assert_ne!(resolved.thread, thread::current().id());
}

#[test]
fn getaddrinfo_a_several_lookups_at_once() {
    let names = ["localhost", "127.0.0.1", "::1", "localhost"];
    let results = join_all(names.iter().map(|name| resolve(name, 0)).collect());
    let addrs: Vec<Vec<IpAddr>> = results
        .into_iter()
        .map(|r| r.expect("notified").addrs.expect("resolved"))
        .collect();
    assert!(addrs[0].contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(addrs[1], [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    assert_eq!(addrs[2], [IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    assert_eq!(addrs[3], addrs[0]);
}

// ---------------------------------------------------------------------------
// A real executor
// ---------------------------------------------------------------------------

#[test]
fn tokio_awaits_timers_and_lookups_concurrently() {
    const TASKS: usize = 6;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    // Each task counts itself in just before it awaits its timer, and each
    // timer's notification (on its own glibc thread) completes only once
    // every task is waiting: the timers can all complete only if tokio
    // awaits the futures concurrently (awaited one after the other, the
    // first would never see the others arrive, and report `false`).
    let waiting = Arc::new(AtomicUsize::new(0));
    let addrs = runtime.block_on(async {
        let lookup = tokio::spawn(resolve("localhost", 0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let waiting = Arc::clone(&waiting);
                tokio::spawn(async move {
                    let (timer, done) = timer_future(Duration::from_millis(1), {
                        let waiting = Arc::clone(&waiting);
                        move || {
                            let start = Instant::now();
                            while waiting.load(Ordering::SeqCst) < TASKS
                                && start.elapsed() < DEADLINE
                            {
                                thread::sleep(Duration::from_millis(1));
                            }
                            (waiting.load(Ordering::SeqCst) == TASKS, fired())
                        }
                    });
                    waiting.fetch_add(1, Ordering::SeqCst);
                    let result = done.await.expect("fired");
                    drop(timer);
                    (i, result)
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let resolved = lookup.await.unwrap().expect("notified");
        assert_ne!(resolved.thread, thread::current().id());
        (results, resolved.addrs.expect("resolved"))
    });
    let (results, addrs) = addrs;
    assert!(addrs.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    for (expected, (i, (all_waiting, fired))) in results.into_iter().enumerate() {
        assert_eq!(i, expected);
        assert!(
            all_waiting,
            "task {i}'s timer fired while not every task was awaiting"
        );
        assert_ne!(fired.thread, thread::current().id());
    }
}

// ---------------------------------------------------------------------------
// A repeated callback as a stream (the runtime's `stream` feature)
// ---------------------------------------------------------------------------

/// The same `sigev_notify_function`, for a timer that expires repeatedly.
/// glibc 2.36 starts a thread for each expiration, so a call that outlasts
/// the interval overlaps the next: `sync` (as the README says of
/// `timer_create` with `SIGEV_THREAD`), whose closures are `Fn + Send +
/// Sync`.
#[callback(sync)]
type OnTick = unsafe extern "C" fn(#[user_data] value: *mut c_void);

/// How many ticks a stream test takes, and how often its timer fires.
const TICKS: u32 = 5;
const INTERVAL: Duration = Duration::from_millis(2);

/// One call of an [`OnTick`] callback, as its stream yields it.
#[derive(Debug)]
struct Tick {
    /// 1 for the first call, then 2, 3...
    n: u32,
    /// The thread that made the call.
    thread: ThreadId,
}

impl Tick {
    fn now(n: u32) -> Tick {
        Tick {
            n,
            thread: thread::current().id(),
        }
    }
}

/// Callbacks that a deleted timer may still call: kept until the process
/// exits (valgrind counts them as still reachable, not leaked).
static KEPT: Mutex<Vec<Box<dyn Send>>> = Mutex::new(Vec::new());

/// An interval timer and the boxed callback it calls.
///
/// Dropping it deletes the timer but does not free the callback: glibc
/// runs each expiration on a thread it starts, and `timer_delete` does not
/// wait for the threads already started, so a call may still come after it
/// returns, and nothing tells when the last has. The callback is moved to
/// [`KEPT`] instead, as a binding of such an API must keep it alive for
/// good. (A timer re-armed one expiration at a time from its own callback
/// has a known last call, after which its callback can be destroyed: see
/// the last test.)
struct Ticker {
    timer: Option<Timer>,
    callback: Option<Box<dyn Send>>,
}

impl Ticker {
    /// Starts a timer that calls `function(user_data)` every `interval`,
    /// first after one `interval`.
    ///
    /// # Safety
    /// `function` must accept `user_data`, called on any thread, several
    /// at once, for as long as `callback` lives.
    unsafe fn start<C: Send + 'static>(
        function: OnTickFn,
        user_data: *mut c_void,
        callback: C,
        interval: Duration,
    ) -> Ticker {
        // SAFETY: `callback`, which keeps `user_data` valid, is never
        // dropped while the timer could call it (see `Drop`).
        let timer = unsafe { Timer::new(function, user_data) }.expect("timer_create");
        let ticker = Ticker {
            timer: Some(timer),
            callback: Some(Box::new(callback)),
        };
        let timer = ticker.timer.as_ref().unwrap();
        timer.arm(interval, interval).expect("timer_settime");
        ticker
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.timer.take());
        if let Some(callback) = self.callback.take() {
            KEPT.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(callback);
        }
    }
}

#[test]
fn interval_timer_ticks_stream_in_order_and_the_stream_ends_when_the_callback_drops_its_sender() {
    let (boxed, mut ticks) = ffi_callback::stream(|sender| {
        // The count and the sender under one lock, so that overlapping
        // calls send in the order they count.
        let state = Mutex::new((0, Some(sender)));
        OnTick::boxed(move || {
            let mut state = state.lock().unwrap();
            let (count, sender) = &mut *state;
            if let Some(tx) = sender {
                *count += 1;
                tx.send(Tick::now(*count));
                if *count == TICKS {
                    // The last `Sender`: the stream ends after the ticks
                    // queued. Later calls (until the timer is deleted) find
                    // none and do nothing.
                    *sender = None;
                }
            }
        })
    });
    // SAFETY: `boxed.function()` takes `boxed.user_data()`, a `sync`
    // callback that may be called from any thread, several at once; the
    // ticker keeps `boxed` alive for good.
    let ticker = unsafe { Ticker::start(boxed.function(), boxed.user_data(), boxed, INTERVAL) };
    let mut received = Vec::new();
    while let Some(tick) = block_on(ticks.recv()) {
        received.push(tick);
    }
    assert!(block_on(ticks.recv()).is_none(), "the stream stays ended");
    drop(ticker);
    let counts: Vec<u32> = received.iter().map(|tick| tick.n).collect();
    assert_eq!(
        counts,
        (1..=TICKS).collect::<Vec<_>>(),
        "every tick, in order"
    );
    let me = thread::current().id();
    assert!(
        received.iter().all(|tick| tick.thread != me),
        "each call ran on a glibc thread: {received:?}"
    );
}

#[test]
fn interval_timer_stream_dropped_by_its_consumer_closes_the_sender_and_the_callback_stops() {
    let stopped = Arc::new(AtomicBool::new(false));
    let (boxed, mut ticks) = ffi_callback::stream(|sender| {
        let stopped = Arc::clone(&stopped);
        let count = Mutex::new(0);
        OnTick::boxed(move || {
            let mut count = count.lock().unwrap();
            if sender.is_closed() {
                // What a callback that can tell C to stop would do.
                stopped.store(true, Ordering::SeqCst);
                return;
            }
            *count += 1;
            sender.send(Tick::now(*count));
        })
    });
    // SAFETY: as in the test above.
    let ticker = unsafe { Ticker::start(boxed.function(), boxed.user_data(), boxed, INTERVAL) };
    let me = thread::current().id();
    for n in 1..=TICKS {
        let tick = block_on(ticks.recv()).expect("the stream goes on while the callback lives");
        assert_eq!(tick.n, n, "in order");
        assert_ne!(tick.thread, me, "on a glibc thread");
    }
    // Ticks queued meanwhile are dropped with the stream; those sent later,
    // on glibc's threads.
    drop(ticks);
    wait_until("a call after the drop saw the sender closed", || {
        stopped.load(Ordering::SeqCst)
    });
    drop(ticker);
}

#[test]
fn rearmed_timer_streams_each_call_and_the_stream_ends_when_the_callback_is_destroyed() {
    let drops = Drops::default();
    let timer_id: Arc<OnceLock<TimerId>> = Arc::default();
    let (boxed, mut ticks) = ffi_callback::stream(|sender| {
        let (captured, timer_id) = (drops.tracked(), Arc::clone(&timer_id));
        let count = Mutex::new(0);
        OnTick::boxed(move || {
            let _ = &captured;
            let mut count = count.lock().unwrap();
            *count += 1;
            // One expiration at a time: each call but the last arms the
            // next, so glibc makes exactly `TICKS` calls.
            let rearmed = if *count < TICKS {
                let id = timer_id.get().expect("set before the timer was armed");
                // SAFETY: the test deletes the timer only after it received
                // the last tick, which is sent only after this `arm`
                // returned (the last call comes from an expiration armed
                // here or later).
                unsafe { id.arm(INTERVAL, Duration::ZERO) }.map_err(|error| error.to_string())
            } else {
                Ok(())
            };
            sender.send((Tick::now(*count), rearmed));
        })
    });
    // SAFETY: `boxed.function()` takes `boxed.user_data()`, which stays
    // valid while `boxed` lives: until after glibc's last call (below).
    let timer = unsafe { Timer::new(boxed.function(), boxed.user_data()) }.expect("timer_create");
    timer_id.set(timer.id()).unwrap();
    timer.arm(INTERVAL, Duration::ZERO).expect("timer_settime");
    let me = thread::current().id();
    for n in 1..=TICKS {
        let (tick, rearmed) = block_on(ticks.recv()).expect("a tick");
        rearmed.expect("the callback re-armed its timer");
        assert_eq!(tick.n, n, "in order");
        assert_ne!(tick.thread, me, "on a glibc thread");
    }
    // The last call armed nothing: no expiration is pending, so glibc
    // calls no more. The destroy may come while that call still runs: the
    // closure is then dropped when it returns, on glibc's thread.
    drop(timer);
    assert!(
        drops.threads().is_empty(),
        "the closure lives until destroyed"
    );
    drop(boxed);
    assert!(
        block_on(ticks.recv()).is_none(),
        "the stream ends with the callback"
    );
    wait_until("the closure was dropped", || drops.threads().len() == 1);
    assert!(block_on(ticks.recv()).is_none(), "the stream stays ended");
}
