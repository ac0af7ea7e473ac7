//! Callback sets (`#[callback] trait`) against C APIs simulated in Rust:
//! one state behind several entry points, and the guard rules that span
//! the whole set: poisoning, re-entry (`&mut self` exclusive, `&self`
//! nesting), the destroy (an entry taking `self`, one marked
//! `#[callback(destroy)]`, which is a plain call on a lent or kept state,
//! or the generated `DESTROY`) deferred while a call runs and run once,
//! `BoxedSet` dropped by Rust during a call, its state taken back
//! (`into_inner`: refused while a call runs, here or on another thread;
//! given back poisoned), `scope`,
//! null user data, `Err` values, and the threading contracts (`send`,
//! `sync`, `local`). No C code runs, so the whole file runs under Miri
//! (Stacked and Tree Borrows).

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::panic::panic_any;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, ThreadId};

use ffi_callback::{BoxedSet, callback, resume_panics, try_resume};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

#[derive(Debug, PartialEq)]
struct Boom(u32);

/// Counts its drops (held by states to check they are freed once).
struct Tracked(Rc<Cell<u32>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// `Tracked` for states that cross threads.
struct SendTracked(Arc<AtomicU32>);

impl Drop for SendTracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
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

// ---------------------------------------------------------------------------
// The set, as a C header would declare it: `struct stream_funcs`.
// ---------------------------------------------------------------------------

/// A stream's operations, sharing the user data C was given with them.
#[callback]
trait Stream {
    #[callback(fallback = -1)]
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    #[callback(fallback = -2)]
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    /// May nest with itself: `&self`.
    #[callback(fallback = -3)]
    unsafe extern "C" fn peek(&self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    /// `Err(e)`: C receives `e.0`, and `e` goes to `try_resume`.
    #[callback(fallback = -5, on_error = e.0)]
    unsafe extern "C" fn flush(
        &mut self,
        #[user_data] ud: *mut c_void,
        n: c_int,
    ) -> Result<c_int, FlushError>;
    /// Ends the stream: C's last call, which frees the state.
    #[callback(fallback = -4)]
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> c_int;
}

#[derive(Debug, PartialEq)]
struct FlushError(c_int);

/// The C library's table of function pointers, filled with the entry
/// points of `Probe`, in a `static` as C code would have it.
#[repr(C)]
struct StreamFuncs {
    read: Option<StreamReadFn>,
    write: Option<StreamWriteFn>,
    peek: Option<StreamPeekFn>,
    flush: Option<StreamFlushFn>,
    close: Option<StreamCloseFn>,
}

static PROBE_FUNCS: StreamFuncs = StreamFuncs {
    read: Some(Probe::READ),
    write: Some(Probe::WRITE),
    peek: Some(Probe::PEEK),
    flush: Some(Probe::FLUSH),
    close: Some(Probe::CLOSE),
};

/// A C stream object: its operations and the user data it was opened
/// with. Each method is the C library calling one operation.
struct CStream {
    funcs: &'static StreamFuncs,
    ud: Cell<*mut c_void>,
}

impl CStream {
    fn new() -> Rc<CStream> {
        Rc::new(CStream {
            funcs: &PROBE_FUNCS,
            ud: Cell::new(ptr::null_mut()),
        })
    }

    /// # Safety
    /// `ud` is the user data of a state of `Probe` that is alive (or null).
    unsafe fn read(&self, n: c_int) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { (self.funcs.read.expect("read"))(self.ud.get(), n) }
    }

    /// # Safety
    /// As for [`CStream::read`].
    unsafe fn write(&self, n: c_int) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { (self.funcs.write.expect("write"))(self.ud.get(), n) }
    }

    /// # Safety
    /// As for [`CStream::read`].
    unsafe fn peek(&self, n: c_int) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { (self.funcs.peek.expect("peek"))(self.ud.get(), n) }
    }

    /// # Safety
    /// As for [`CStream::read`].
    unsafe fn flush(&self, n: c_int) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { (self.funcs.flush.expect("flush"))(self.ud.get(), n) }
    }

    /// # Safety
    /// As for [`CStream::read`], and the state is not used after this
    /// (unless it is borrowed, or this comes during one of its calls).
    unsafe fn close(&self) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { (self.funcs.close.expect("close"))(self.ud.get()) }
    }
}

// ---------------------------------------------------------------------------
// The state: logs each entry it runs, then runs the test's hook (which may
// call back into the C stream).
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Entry {
    Read,
    Write,
    Peek,
    Flush,
    Close,
}

type Log = Rc<RefCell<Vec<(Entry, c_int)>>>;

/// What an entry does after logging itself; its value is the entry's.
type Hook = Box<dyn Fn(&CStream, Entry, c_int) -> c_int>;

struct Probe {
    stream: Rc<CStream>,
    log: Log,
    hook: Hook,
    /// Written by the `&mut self` entries only.
    exclusive_calls: u32,
    _drops: Tracked,
}

impl Probe {
    fn run(&self, entry: Entry, n: c_int) -> c_int {
        self.log.borrow_mut().push((entry, n));
        (self.hook)(&self.stream, entry, n)
    }
}

impl Stream for Probe {
    fn read(&mut self, n: c_int) -> c_int {
        self.exclusive_calls += 1;
        self.run(Entry::Read, n)
    }

    fn write(&mut self, n: c_int) -> c_int {
        self.exclusive_calls += 1;
        self.run(Entry::Write, n)
    }

    fn peek(&self, n: c_int) -> c_int {
        self.run(Entry::Peek, n)
    }

    fn flush(&mut self, n: c_int) -> Result<c_int, FlushError> {
        self.exclusive_calls += 1;
        match self.run(Entry::Flush, n) {
            bad if bad < 0 => Err(FlushError(bad)),
            good => Ok(good),
        }
    }

    fn close(self) -> c_int {
        self.run(Entry::Close, self.exclusive_calls as c_int)
    }
}

/// What a test watches: the C stream, the state's log and its drops.
struct Watch {
    stream: Rc<CStream>,
    log: Log,
    drops: Rc<Cell<u32>>,
}

impl Watch {
    fn log(&self) -> Vec<(Entry, c_int)> {
        self.log.borrow().clone()
    }
}

/// A `Probe` whose entries run `hook`, and what watches it.
fn probe(hook: impl Fn(&CStream, Entry, c_int) -> c_int + 'static) -> (Probe, Watch) {
    let stream = CStream::new();
    let log = Log::default();
    let drops = Rc::new(Cell::new(0));
    let probe = Probe {
        stream: stream.clone(),
        log: log.clone(),
        hook: Box::new(hook),
        exclusive_calls: 0,
        _drops: Tracked(drops.clone()),
    };
    (probe, Watch { stream, log, drops })
}

/// Each entry returns `n * 10 + k` (k: which entry), and does nothing else.
fn plain(_: &CStream, entry: Entry, n: c_int) -> c_int {
    let k = match entry {
        Entry::Read => 1,
        Entry::Write => 2,
        Entry::Peek => 3,
        Entry::Flush => 4,
        Entry::Close => 5,
    };
    n * 10 + k
}

/// Boxes `probe` and opens the C stream on it, handing the state to C.
fn open(probe: Probe, watch: &Watch) {
    watch.stream.ud.set(probe.boxed().into_raw());
}

// ---------------------------------------------------------------------------
// Each entry point reaches the state; the destroy entry frees it once
// ---------------------------------------------------------------------------

#[test]
fn c_calls_every_entry_then_close_frees_the_state_once() {
    let (state, watch) = probe(plain);
    open(state, &watch);
    let s = &watch.stream;
    // SAFETY: the stream's user data is the boxed state, alive until the
    // `close` below.
    let got = resume_panics(|| unsafe { [s.read(1), s.write(2), s.peek(3), s.flush(4)] });
    assert_eq!(got, [11, 22, 33, 44]);
    assert_eq!(watch.drops.get(), 0, "alive until C closes it");
    // SAFETY: C's last call on the state.
    let closed = resume_panics(|| unsafe { s.close() });
    // `close` received the state with its three exclusive calls counted.
    assert_eq!(closed, 35);
    assert_eq!(watch.drops.get(), 1, "close consumed and dropped it");
    assert_eq!(
        watch.log(),
        [
            (Entry::Read, 1),
            (Entry::Write, 2),
            (Entry::Peek, 3),
            (Entry::Flush, 4),
            (Entry::Close, 3)
        ]
    );
}

#[test]
fn entry_points_are_constants_of_the_implementing_type() {
    // A `const` of the C struct, not only a `static`: the entry points are
    // known at compile time.
    const FUNCS: StreamFuncs = StreamFuncs {
        read: Some(<Probe as StreamExt>::READ),
        write: Some(Probe::WRITE),
        peek: None,
        flush: None,
        close: Some(Probe::CLOSE),
    };
    let (state, watch) = probe(plain);
    let ud = state.boxed().into_raw();
    let read = FUNCS.read.expect("set");
    let close = FUNCS.close.expect("set");
    // SAFETY: `ud` is the boxed state; `close` is its last call.
    let got = resume_panics(|| unsafe { (read(ud, 7), close(ud)) });
    assert_eq!(got, (71, 15));
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn a_handed_over_state_that_c_refused_is_taken_back() {
    // The C call that was to take the state failed without ending it
    // (libxml2's `xmlOutputBufferCreateIO` returning null): `from_raw`
    // gives the `BoxedSet` back, the close entry's body never runs, and
    // the state is freed once, by the `BoxedSet`.
    let (state, watch) = probe(plain);
    let ud = state.boxed().into_raw();
    // SAFETY: from this `into_raw`; C refused it and will not use it.
    let mut boxed = unsafe { Probe::from_raw(ud) };
    assert_eq!(boxed.user_data(), ud);
    assert_eq!(boxed.with_mut(|p| p.exclusive_calls), Some(0));
    // Kept by Rust again: a destroy C makes anyway is refused (and kept
    // by the guard), the state stays with the `BoxedSet`.
    let payload = panic_payload(|| {
        // SAFETY: `ud` is the state's user data, alive while `boxed` is.
        resume_panics(|| unsafe { Probe::CLOSE(ud) })
    });
    assert!(
        message(&*payload).contains("refused"),
        "{}",
        message(&*payload)
    );
    assert_eq!(watch.drops.get(), 0);
    let state = boxed.into_inner().expect("no call runs");
    assert_eq!(watch.log(), []);
    drop(state);
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn a_refused_state_of_a_set_that_is_not_send_is_taken_back_on_its_own_thread_only() {
    // The set is not `send`: its `BoxedSet` is not `Send`, and its state
    // (`Rc`s here) stays on the thread that made it. `from_raw` on another
    // thread would give that thread a `BoxedSet`, and through `into_inner`
    // the state: it panics, and takes nothing back.
    let (state, watch) = probe(plain);
    let ud = state.boxed().into_raw() as usize;
    let payload = thread::spawn(move || {
        std::panic::catch_unwind(|| {
            // SAFETY: from this `into_raw`; C refused it and will not use
            // it. (Refused here, on another thread.)
            drop(unsafe { Probe::from_raw(ud as *mut c_void) })
        })
        .expect_err("refused on another thread")
    })
    .join()
    .expect("the thread returns the payload");
    assert!(
        message(&*payload).contains("another thread"),
        "{}",
        message(&*payload)
    );
    // Still C's: the thread that made it takes it back.
    // SAFETY: as above, on the thread that made it.
    let boxed = unsafe { Probe::from_raw(ud as *mut c_void) };
    assert_eq!(watch.drops.get(), 0);
    drop(boxed);
    assert_eq!(watch.drops.get(), 1);
}

// ---------------------------------------------------------------------------
// Poisoning spans the set
// ---------------------------------------------------------------------------

#[test]
fn panic_in_one_entry_stops_every_entry_until_the_guard_returns() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Write && n == 666 {
            panic_any(Boom(1));
        }
        plain(s, entry, n)
    });
    open(state, &watch);
    let s = &watch.stream;
    let mut during = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: the boxed state is alive until the `close` below.
            unsafe {
                during.push(s.read(1));
                during.push(s.write(666));
                // Poisoned: every entry of the set returns its fallback
                // without running user code.
                during.push(s.read(2));
                during.push(s.write(3));
                during.push(s.peek(4));
                during.push(s.flush(5));
            }
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    assert_eq!(during, [11, -2, -1, -2, -3, -5]);
    assert_eq!(watch.log(), [(Entry::Read, 1), (Entry::Write, 666)]);

    // The panic reached the Rust caller: the state runs user code again.
    // SAFETY: as above.
    let after = resume_panics(|| unsafe { [s.read(6), s.peek(7)] });
    assert_eq!(after, [61, 73]);
    // SAFETY: C's last call on the state.
    let closed = resume_panics(|| unsafe { s.close() });
    assert_eq!(closed, 35, "close ran: read, write(666), read counted");
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn panic_in_a_shared_entry_poisons_the_exclusive_ones() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Peek {
            panic_any(Boom(2));
        }
        plain(s, entry, n)
    });
    let (value, state) = panic_payload_and(|| {
        state.scope(|ud| {
            watch.stream.ud.set(ud);
            let s = &watch.stream;
            // SAFETY: `ud` is the scoped state, alive for this call.
            unsafe { [s.peek(1), s.write(2), s.read(3)] }
        })
    });
    let payload = value.expect_err("the peek's panic is resumed");
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(2)));
    assert!(state.is_none());
    assert_eq!(watch.log(), [(Entry::Peek, 1)]);
    assert_eq!(watch.drops.get(), 1, "the scoped state dropped once");
}

#[test]
fn close_on_a_poisoned_state_drops_it_without_running_close() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Write {
            panic_any(Boom(3));
        }
        plain(s, entry, n)
    });
    open(state, &watch);
    let s = &watch.stream;
    let mut closed = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: the boxed state is alive until `close`, C's last call.
            unsafe {
                s.write(1);
                closed = s.close();
            }
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(3)));
    assert_eq!(watch.drops.get(), 1, "freed, not leaked");
    assert_eq!(closed, -4, "C receives close's fallback");
    assert_eq!(
        watch.log(),
        [(Entry::Write, 1)],
        "no user code ran after the panic, within the guard"
    );
}

// ---------------------------------------------------------------------------
// Err values
// ---------------------------------------------------------------------------

#[test]
fn err_from_an_entry_comes_back_from_try_resume_and_stops_the_set() {
    let (state, watch) = probe(|s, entry, n| match entry {
        Entry::Flush => -n,
        _ => plain(s, entry, n),
    });
    open(state, &watch);
    let s = &watch.stream;
    let mut during = Vec::new();
    let result = try_resume::<_, FlushError>(|| {
        // SAFETY: the boxed state is alive until the `close` below.
        unsafe {
            during.push(s.flush(7));
            // The first error is kept: the set is poisoned like for a panic.
            during.push(s.read(1));
            during.push(s.flush(8));
        }
    });
    assert_eq!(result, Err(FlushError(-7)));
    // `on_error = e.0` gave C the error's own code.
    assert_eq!(during, [-7, -1, -5]);
    assert_eq!(watch.log(), [(Entry::Flush, 7)]);
    // SAFETY: as above.
    let after = resume_panics(|| unsafe { [s.flush(2), s.read(3)] });
    assert_eq!(
        after,
        [-2, 31],
        "healed; the next Err has no guard to go to"
    );
    // SAFETY: C's last call.
    resume_panics(|| unsafe { s.close() });
    assert_eq!(watch.drops.get(), 1);
}

// ---------------------------------------------------------------------------
// Re-entry: `&mut self` exclusive, `&self` nesting
// ---------------------------------------------------------------------------

const REENTRY: &str =
    "refused the call: it was called while another call of the same state was running";

#[test]
fn nested_mut_entry_from_inside_another_is_refused() {
    let inner = Rc::new(Cell::new(0));
    let inner_in = inner.clone();
    let (state, watch) = probe(move |s, entry, n| {
        if entry == Entry::Read {
            // SAFETY: the state is alive (this call runs on it).
            inner_in.set(unsafe { s.write(n) });
        }
        plain(s, entry, n)
    });
    open(state, &watch);
    let s = &watch.stream;
    let (mut outer, mut next) = (0, 0);
    let payload = panic_payload(|| {
        // SAFETY: the boxed state is alive until `close`.
        resume_panics(|| unsafe {
            outer = s.read(4);
            // The kept refusal poisons the set like a panic.
            next = s.peek(5);
        })
    });
    assert_eq!(outer, 41, "the outer call finished");
    assert_eq!(next, -3);
    assert_eq!(inner.get(), -2, "the nested write got its fallback");
    let message = message(&*payload);
    assert!(
        message.starts_with("ffi-callback: `simulated_sets::Stream::write` ")
            && message.contains(REENTRY),
        "{message}"
    );
    assert_eq!(watch.log(), [(Entry::Read, 4)], "write never ran");
    // SAFETY: C's last call.
    resume_panics(|| unsafe { s.close() });
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn shared_entry_inside_an_exclusive_one_is_refused() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Write {
            // SAFETY: the state is alive (this call runs on it).
            return unsafe { s.peek(n) };
        }
        plain(s, entry, n)
    });
    let (result, state) = panic_payload_and(|| {
        state.scope(|ud| {
            watch.stream.ud.set(ud);
            // SAFETY: `ud` is the scoped state, alive for this call.
            unsafe { watch.stream.write(5) }
        })
    });
    let payload = result.expect_err("the refusal is resumed");
    let message = message(&*payload);
    assert!(
        message.starts_with("ffi-callback: `simulated_sets::Stream::peek` ")
            && message.contains(REENTRY),
        "{message}"
    );
    assert!(state.is_none());
    assert_eq!(watch.log(), [(Entry::Write, 5)]);
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn exclusive_entry_inside_a_shared_one_is_refused() {
    let inner = Rc::new(Cell::new(0));
    let inner_in = inner.clone();
    let (state, watch) = probe(move |s, entry, n| {
        if entry == Entry::Peek {
            // SAFETY: the state is alive (this call runs on it).
            inner_in.set(unsafe { s.read(n) });
        }
        plain(s, entry, n)
    });
    let (result, _) = panic_payload_and(|| {
        state.scope(|ud| {
            watch.stream.ud.set(ud);
            // SAFETY: `ud` is the scoped state, alive for this call.
            unsafe { watch.stream.peek(6) }
        })
    });
    let payload = result.expect_err("the refusal is resumed");
    let message = message(&*payload);
    assert!(
        message.starts_with("ffi-callback: `simulated_sets::Stream::read` ")
            && message.contains(REENTRY),
        "{message}"
    );
    assert_eq!(inner.get(), -1);
    assert_eq!(watch.log(), [(Entry::Peek, 6)]);
}

#[test]
fn shared_entries_nest() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Peek && n > 0 {
            // SAFETY: the state is alive (this call runs on it).
            return 1 + unsafe { s.peek(n - 1) };
        }
        plain(s, entry, n)
    });
    let (depth, state) = state.scope(|ud| {
        watch.stream.ud.set(ud);
        // SAFETY: `ud` is the scoped state, alive for this call.
        unsafe { watch.stream.peek(3) }
    });
    assert_eq!(
        depth,
        3 + 3,
        "three nested peeks, then the innermost's 0*10+3"
    );
    assert_eq!(
        watch.log(),
        [
            (Entry::Peek, 3),
            (Entry::Peek, 2),
            (Entry::Peek, 1),
            (Entry::Peek, 0)
        ]
    );
    // And once the nest is done, an exclusive entry runs.
    let (got, state) = state.scope(|ud| {
        watch.stream.ud.set(ud);
        // SAFETY: as above.
        unsafe { watch.stream.read(2) }
    });
    assert_eq!(got, 21);
    drop(state);
    assert_eq!(watch.drops.get(), 1);
}

// ---------------------------------------------------------------------------
// Destroys during a call are deferred, and run once
// ---------------------------------------------------------------------------

#[test]
fn close_from_inside_another_entry_is_deferred_until_it_returns() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let seen_in = seen.clone();
    let (state, watch) = probe(move |s, entry, n| {
        if entry == Entry::Read {
            // SAFETY: the state is alive (this call runs on it); C closes
            // it from inside, as a C library may.
            let closed = unsafe { s.close() };
            seen_in.borrow_mut().push(closed);
        }
        plain(s, entry, n)
    });
    open(state, &watch);
    // SAFETY: the boxed state is alive for this call; its close comes from
    // inside it and is deferred to its end.
    let (got, raised) = panics_during(|| resume_panics(|| unsafe { watch.stream.read(8) }));
    assert_eq!(got, 81, "the running call finished on the live state");
    assert_eq!(*seen.borrow(), [-4], "C got close's fallback");
    assert!(
        raised.is_empty(),
        "a deferred close is no error: {raised:?}"
    );
    assert_eq!(watch.drops.get(), 1, "dropped when the read returned");
    assert_eq!(
        watch.log(),
        [(Entry::Read, 8)],
        "close's body did not run: the state was dropped instead"
    );
}

#[test]
fn state_is_alive_until_the_call_that_saw_the_close_returns() {
    // The drop counter, read from inside the call after C's close.
    let drops = Rc::new(Cell::new(0));
    let after_close = Rc::new(Cell::new(None));
    let (drops_in, after_in) = (drops.clone(), after_close.clone());
    let stream = CStream::new();
    let state = Probe {
        stream: stream.clone(),
        log: Log::default(),
        hook: Box::new(move |s, entry, n| {
            if entry == Entry::Write {
                // SAFETY: the state is alive (this call runs on it).
                unsafe { s.close() };
                after_in.set(Some(drops_in.get()));
            }
            n
        }),
        exclusive_calls: 0,
        _drops: Tracked(drops.clone()),
    };
    stream.ud.set(state.boxed().into_raw());
    // SAFETY: the boxed state is alive for this call.
    resume_panics(|| unsafe { stream.write(1) });
    assert_eq!(after_close.get(), Some(0), "not dropped during the call");
    assert_eq!(drops.get(), 1, "dropped after it");
}

#[test]
fn close_twice_during_one_call_drops_the_state_once() {
    let closes = Rc::new(RefCell::new(Vec::new()));
    let closes_in = closes.clone();
    let (state, watch) = probe(move |s, entry, n| {
        if entry == Entry::Write {
            // SAFETY: the state is alive until this call returns, whatever
            // C says meanwhile.
            closes_in
                .borrow_mut()
                .extend(unsafe { [s.close(), s.close()] });
        }
        plain(s, entry, n)
    });
    open(state, &watch);
    // SAFETY: the boxed state is alive for this call.
    let got = resume_panics(|| unsafe { watch.stream.write(2) });
    assert_eq!(got, 22);
    assert_eq!(*closes.borrow(), [-4, -4]);
    assert_eq!(watch.drops.get(), 1, "once");
}

#[test]
fn panic_in_close_is_resumed_and_the_state_dropped_once() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Close {
            panic_any(Boom(6));
        }
        plain(s, entry, n)
    });
    open(state, &watch);
    let mut closed = 0;
    let payload = panic_payload(|| {
        // SAFETY: the boxed state is alive; `close` is C's last call.
        resume_panics(|| closed = unsafe { watch.stream.close() })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(6)));
    assert_eq!(closed, -4, "C got close's fallback");
    assert_eq!(watch.log(), [(Entry::Close, 0)]);
    assert_eq!(watch.drops.get(), 1, "dropped while the panic unwound");
}

#[test]
fn entry_after_a_deferred_close_is_refused() {
    let inner = Rc::new(Cell::new(0));
    let inner_in = inner.clone();
    let (state, watch) = probe(move |s, entry, n| {
        if entry == Entry::Peek && n == 1 {
            // SAFETY: the state is alive until this call returns.
            unsafe {
                s.close();
                inner_in.set(s.peek(2));
            }
        }
        plain(s, entry, n)
    });
    open(state, &watch);
    let payload = panic_payload(|| {
        // SAFETY: the boxed state is alive for this call.
        resume_panics(|| unsafe { watch.stream.peek(1) })
    });
    let message = message(&*payload);
    assert!(
        message.starts_with("ffi-callback: `simulated_sets::Stream::peek` refused the call: ")
            && message.contains("after it was destroyed"),
        "{message}"
    );
    assert_eq!(inner.get(), -3);
    assert_eq!(watch.log(), [(Entry::Peek, 1)]);
    assert_eq!(watch.drops.get(), 1);
}

/// A set without a destroy entry: C frees the user data through the
/// generated `DESTROY` (a GLib-style destroy-notify).
#[callback]
trait Events {
    unsafe extern "C" fn event(&mut self, #[user_data] ud: *mut c_void, code: c_int) -> c_int;
    unsafe extern "C" fn pending(&self, #[user_data] ud: *mut c_void) -> c_int;
}

type DestroyNotify = unsafe extern "C" fn(*mut c_void);

/// The C library's registration: entry points, user data, destroy-notify.
#[repr(C)]
struct CRegistration {
    event: Option<EventsEventFn>,
    pending: Option<EventsPendingFn>,
    ud: *mut c_void,
    destroy: Option<DestroyNotify>,
}

impl CRegistration {
    fn new(ud: *mut c_void) -> CRegistration {
        CRegistration {
            event: Some(Recorder::EVENT),
            pending: Some(Recorder::PENDING),
            ud,
            destroy: Some(Recorder::DESTROY),
        }
    }

    /// # Safety
    /// `ud` is a live state of `Recorder` (until `unregister`).
    unsafe fn event(&self, code: c_int) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { (self.event.expect("event"))(self.ud, code) }
    }

    /// # Safety
    /// As for [`CRegistration::event`].
    unsafe fn pending(&self) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { (self.pending.expect("pending"))(self.ud) }
    }

    /// Calls the destroy-notify, once.
    ///
    /// # Safety
    /// As for [`CRegistration::event`], and `ud` was handed over with
    /// `into_raw`.
    unsafe fn unregister(&self) {
        // SAFETY: by the caller's promise.
        unsafe { (self.destroy.expect("destroy"))(self.ud) }
    }
}

/// Run on each event with the C registration (may call back into C).
type OnEvent = Box<dyn Fn(&CRegistration, c_int)>;

/// Where the state finds the registration calling it.
type Caller = Rc<Cell<*const CRegistration>>;

struct Recorder {
    events: Vec<c_int>,
    on_event: OnEvent,
    registration: Caller,
    _drops: Tracked,
}

impl Events for Recorder {
    fn event(&mut self, code: c_int) -> c_int {
        self.events.push(code);
        // SAFETY: the test points `registration` at the registration that
        // is calling, alive for the whole call.
        let registration = unsafe { &*self.registration.get() };
        (self.on_event)(registration, code);
        self.events.len() as c_int
    }

    fn pending(&self) -> c_int {
        self.events.iter().sum()
    }
}

fn recorder(
    on_event: impl Fn(&CRegistration, c_int) + 'static,
) -> (Recorder, Caller, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    let registration = Rc::new(Cell::new(ptr::null()));
    let state = Recorder {
        events: Vec::new(),
        on_event: Box::new(on_event),
        registration: registration.clone(),
        _drops: Tracked(drops.clone()),
    };
    (state, registration, drops)
}

#[test]
fn generated_destroy_frees_the_state_once() {
    let (state, registration, drops) = recorder(|_, _| {});
    let reg = CRegistration::new(state.boxed().into_raw());
    registration.set(&raw const reg);
    // SAFETY: the registration's user data is the boxed state, alive until
    // `unregister`.
    let got = resume_panics(|| unsafe { (reg.event(4), reg.event(5), reg.pending()) });
    assert_eq!(got, (1, 2, 9));
    assert_eq!(drops.get(), 0);
    // SAFETY: the destroy-notify, once.
    unsafe { reg.unregister() };
    assert_eq!(drops.get(), 1);
}

#[test]
fn generated_destroy_from_inside_an_entry_is_deferred_until_it_returns() {
    let inside = Rc::new(Cell::new(None));
    let inside_in = inside.clone();
    let (state, registration, drops) = recorder(move |reg, code| {
        if code == 2 {
            // SAFETY: the state is alive: this call runs on it.
            unsafe { reg.unregister() };
            // Destroyed but not yet dropped: the `pending` it refuses
            // would otherwise read freed memory.
            // SAFETY: as above.
            inside_in.set(Some(unsafe { reg.pending() }));
        }
    });
    let reg = CRegistration::new(state.boxed().into_raw());
    registration.set(&raw const reg);
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        // SAFETY: the boxed state is alive until the event that unregisters
        // it returns.
        resume_panics(|| unsafe {
            got.push(reg.event(1));
            got.push(reg.event(2));
        })
    });
    assert_eq!(got, [1, 2], "the event that unregistered finished");
    assert_eq!(inside.get(), Some(0), "the nested call got its fallback");
    assert!(
        message(&*payload)
            .starts_with("ffi-callback: `simulated_sets::Events::pending` refused the call"),
        "{}",
        message(&*payload)
    );
    assert_eq!(drops.get(), 1, "dropped once, when the event returned");
}

#[test]
fn generated_destroy_on_a_scoped_state_does_not_free_it() {
    // The natural mistake: `state.scope(|ud| c_register(ud, .., S::DESTROY))`
    // with a C library that calls the destroy-notify right away when the
    // registration fails (sqlite does).
    let (state, _, drops) = recorder(|_, _| {});
    let (result, state) = panic_payload_and(|| {
        state.scope(|ud| {
            // SAFETY: what is being tested: C calling the destroy-notify
            // with the user data of a lent state.
            unsafe { Recorder::DESTROY(ud) }
        })
    });
    assert_eq!(
        drops.get(),
        u32::from(result.is_err()),
        "not dropped while lent"
    );
    drop(state);
    assert_eq!(drops.get(), 1, "dropped once");
}

#[test]
fn rust_drops_its_boxed_set_during_a_call_and_the_state_outlives_the_call() {
    // Rust keeps the `BoxedSet` (C only borrows its user data) and drops it
    // from inside a call: the state stays until the call returns.
    let owner: Rc<RefCell<Option<BoxedSet<Probe>>>> = Rc::new(RefCell::new(None));
    let owner_in = owner.clone();
    let dropped_inside = Rc::new(Cell::new(false));
    let dropped_in = dropped_inside.clone();
    let (state, watch) = probe(move |s, entry, n| {
        if entry == Entry::Write {
            drop(owner_in.borrow_mut().take());
            dropped_in.set(true);
            // The state is still here: its next entry is simply refused
            // rather than running on freed memory.
            // SAFETY: the state is alive until this call returns.
            return unsafe { s.peek(n) };
        }
        plain(s, entry, n)
    });
    let boxed = state.boxed();
    watch.stream.ud.set(boxed.user_data());
    *owner.borrow_mut() = Some(boxed);
    let s = &watch.stream;
    // SAFETY: the `BoxedSet` lives in `owner` until the write drops it.
    let read = resume_panics(|| unsafe { s.read(1) });
    assert_eq!(read, 11);
    let mut write = 0;
    let payload = panic_payload(|| {
        // SAFETY: as above; nothing calls after the write.
        resume_panics(|| write = unsafe { s.write(2) })
    });
    assert!(dropped_inside.get());
    assert_eq!(write, -3, "the nested peek's fallback, passed on");
    assert!(message(&*payload).contains("after it was destroyed"));
    assert_eq!(watch.drops.get(), 1, "dropped once, after the write");
    assert!(owner.borrow().is_none());
}

#[test]
fn boxed_set_kept_by_rust_is_dropped_once() {
    let (state, watch) = probe(plain);
    let boxed = state.boxed();
    watch.stream.ud.set(boxed.user_data());
    // SAFETY: `boxed` is alive and unmoved.
    let got = resume_panics(|| unsafe { [watch.stream.read(1), watch.stream.peek(2)] });
    assert_eq!(got, [11, 23]);
    assert_eq!(watch.drops.get(), 0);
    // Moving the handle does not move the state C sees.
    let moved = boxed;
    assert_eq!(moved.user_data(), watch.stream.ud.get());
    drop(moved);
    assert_eq!(watch.drops.get(), 1);
}

// ---------------------------------------------------------------------------
// into_inner: the state back from a kept `BoxedSet`
// ---------------------------------------------------------------------------

#[test]
fn into_inner_gives_the_state_back_and_frees_the_box_once() {
    let (state, watch) = probe(plain);
    let boxed = state.boxed();
    watch.stream.ud.set(boxed.user_data());
    let s = &watch.stream;
    // SAFETY: `boxed` is alive and unmoved until `into_inner`, after these.
    let got = resume_panics(|| unsafe { [s.read(1), s.write(2), s.peek(3)] });
    assert_eq!(got, [11, 22, 33]);
    let state = boxed.into_inner().expect("no call runs");
    // C is done with it: its pointer is stale from here.
    watch.stream.ud.set(ptr::null_mut());
    assert_eq!(watch.drops.get(), 0, "moved out, not dropped");
    assert_eq!(state.exclusive_calls, 2, "what the calls left in it");
    assert_eq!(
        watch.log(),
        [(Entry::Read, 1), (Entry::Write, 2), (Entry::Peek, 3)]
    );
    // The state is an ordinary value again (the box is freed: Miri reports
    // a leak otherwise), dropped once, by its owner.
    drop(state);
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn into_inner_inside_an_entry_of_the_same_state_gives_the_boxed_set_back() {
    let owner: Rc<RefCell<Option<BoxedSet<Probe>>>> = Rc::new(RefCell::new(None));
    let owner_in = owner.clone();
    let refused = Rc::new(RefCell::new(Vec::new()));
    let refused_in = refused.clone();
    let (state, watch) = probe(move |s, entry, n| {
        if matches!(entry, Entry::Write | Entry::Peek) {
            // Exclusive or shared, a call runs on the state: not given.
            let boxed = owner_in.borrow_mut().take().expect("kept by the test");
            let ud = boxed.user_data();
            match boxed.into_inner() {
                Ok(_) => panic!("the state was taken from under its running {entry:?}"),
                Err(boxed) => {
                    assert_eq!(boxed.user_data(), ud, "the same state");
                    *owner_in.borrow_mut() = Some(boxed);
                    refused_in.borrow_mut().push(entry);
                }
            }
        }
        plain(s, entry, n)
    });
    let boxed = state.boxed();
    watch.stream.ud.set(boxed.user_data());
    *owner.borrow_mut() = Some(boxed);
    let s = &watch.stream;
    // SAFETY: the `BoxedSet` lives in `owner`, unmoved, until `into_inner`
    // below, after these calls.
    let got = resume_panics(|| unsafe { [s.write(1), s.peek(2), s.read(3)] });
    assert_eq!(got, [12, 23, 31], "the entries finished normally");
    assert_eq!(*refused.borrow(), [Entry::Write, Entry::Peek]);
    assert_eq!(watch.drops.get(), 0);
    // The set still works, and comes back once no call runs.
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { s.read(4) }), 41);
    let boxed = owner.borrow_mut().take().expect("given back");
    let state = boxed.into_inner().expect("no call runs now");
    assert_eq!(state.exclusive_calls, 3);
    assert_eq!(watch.drops.get(), 0);
    drop(state);
    assert_eq!(watch.drops.get(), 1, "dropped once");
}

#[test]
fn into_inner_refused_inside_an_entry_then_the_boxed_set_dropped_there() {
    // Given back from inside the entry, then dropped there: the state is
    // dropped once, after the entry returns, as for any drop during a call.
    let owner: Rc<RefCell<Option<BoxedSet<Probe>>>> = Rc::new(RefCell::new(None));
    let owner_in = owner.clone();
    let (state, watch) = probe(move |s, entry, n| {
        if entry == Entry::Read {
            let boxed = owner_in.borrow_mut().take().expect("kept by the test");
            match boxed.into_inner() {
                Ok(_) => panic!("the state was taken from under its running read"),
                Err(boxed) => drop(boxed),
            }
        }
        plain(s, entry, n)
    });
    let boxed = state.boxed();
    watch.stream.ud.set(boxed.user_data());
    *owner.borrow_mut() = Some(boxed);
    let drops = watch.drops.clone();
    // SAFETY: the state is alive until the read that drops it returns, and
    // nothing calls after it.
    let read = resume_panics(|| unsafe { watch.stream.read(5) });
    assert_eq!(read, 51);
    assert_eq!(drops.get(), 1, "dropped once, after the read");
}

#[test]
fn into_inner_inside_the_guard_that_keeps_a_panic_gives_the_poisoned_state() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Write {
            panic_any(Boom(7));
        }
        plain(s, entry, n)
    });
    let boxed = state.boxed();
    watch.stream.ud.set(boxed.user_data());
    let s = &watch.stream;
    let mut back = None;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `boxed` is alive until `into_inner` below.
            let got = unsafe { [s.read(1), s.write(2), s.read(3)] };
            assert_eq!(got, [11, -2, -1], "poisoned after the write");
            // The guard still holds the panic: the owner gets the state
            // anyway (no call runs); the panic is raised all the same.
            back = Some(boxed.into_inner().expect("no call runs"));
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
    let state = back.expect("given back inside the guard");
    assert_eq!(state.exclusive_calls, 2, "as the panic left it");
    assert_eq!(watch.drops.get(), 0, "not dropped by the crate");
    drop(state);
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn into_inner_after_the_guard_raised_the_panic_gives_the_state() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Flush {
            panic_any(Boom(8));
        }
        plain(s, entry, n)
    });
    let boxed = state.boxed();
    watch.stream.ud.set(boxed.user_data());
    let s = &watch.stream;
    let payload = panic_payload(|| {
        // SAFETY: `boxed` is alive until `into_inner` below.
        resume_panics(|| unsafe { [s.read(1), s.flush(2), s.write(3)] })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(8)));
    // Poisoned until a call heals it; none came: the owner takes it.
    let state = boxed.into_inner().expect("no call runs");
    assert_eq!(
        state.exclusive_calls, 2,
        "read, and the flush that panicked"
    );
    assert_eq!(watch.log(), [(Entry::Read, 1), (Entry::Flush, 2)]);
    assert_eq!(watch.drops.get(), 0);
    drop(state);
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn into_inner_after_an_err_kept_by_try_resume_gives_the_state() {
    let (state, watch) = probe(|s, entry, n| match entry {
        Entry::Flush => -n,
        _ => plain(s, entry, n),
    });
    let boxed = state.boxed();
    watch.stream.ud.set(boxed.user_data());
    let s = &watch.stream;
    let mut back = None;
    let result = try_resume::<_, FlushError>(|| {
        // SAFETY: `boxed` is alive until `into_inner` below.
        let got = unsafe { [s.flush(4), s.read(1)] };
        assert_eq!(got, [-4, -1], "poisoned by the kept Err");
        back = Some(boxed.into_inner().expect("no call runs"));
    });
    assert_eq!(result, Err(FlushError(-4)));
    let state = back.expect("given back");
    assert_eq!(state.exclusive_calls, 1);
    drop(state);
    assert_eq!(watch.drops.get(), 1);
}

// ---------------------------------------------------------------------------
// scope: lent for one C call
// ---------------------------------------------------------------------------

#[test]
fn scope_lends_the_state_for_one_call_and_gives_it_back() {
    let (state, watch) = probe(plain);
    let (got, state) = state.scope(|ud| {
        watch.stream.ud.set(ud);
        // SAFETY: `ud` is the scoped state, alive for this call.
        unsafe { [watch.stream.read(1), watch.stream.write(2)] }
    });
    assert_eq!(got, [11, 22]);
    assert_eq!(state.exclusive_calls, 2, "the state came back changed");
    assert_eq!(watch.drops.get(), 0);
    drop(state);
    assert_eq!(watch.drops.get(), 1);
}

#[test]
fn scope_refuses_the_destroy_entry() {
    let (state, watch) = probe(plain);
    let mut closed = 0;
    let (result, state) = panic_payload_and(|| {
        state.scope(|ud| {
            watch.stream.ud.set(ud);
            // SAFETY: `ud` is the scoped state, alive for this call; the
            // close is refused, not run.
            closed = unsafe { watch.stream.close() };
        })
    });
    let payload = result.expect_err("the refusal is resumed");
    let message = message(&*payload);
    assert!(
        message.starts_with("ffi-callback: `simulated_sets::Stream::close` refused the call: ")
            && message.contains("borrowed for one C call (`scope`)"),
        "{message}"
    );
    assert_eq!(closed, -4);
    assert!(state.is_none());
    assert!(watch.log().is_empty(), "close's body did not run");
    assert_eq!(watch.drops.get(), 1, "the lent state dropped once");
}

#[test]
fn scope_refused_close_poisons_the_set_like_other_refusals() {
    let (state, watch) = probe(plain);
    let mut got = Vec::new();
    let (result, _) = panic_payload_and(|| {
        state.scope(|ud| {
            watch.stream.ud.set(ud);
            // SAFETY: `ud` is the scoped state, alive for this call.
            unsafe {
                got.push(watch.stream.close());
                got.push(watch.stream.read(1));
            }
        })
    });
    assert!(result.is_err(), "the refusal is resumed");
    assert_eq!(got, [-4, -1], "poisoned until the scope re-raises");
    assert!(watch.log().is_empty());
}

#[test]
fn scope_panic_is_resumed_and_the_state_dropped_once() {
    let (state, watch) = probe(|s, entry, n| {
        if entry == Entry::Read {
            panic_any(Boom(4));
        }
        plain(s, entry, n)
    });
    let mut got = Vec::new();
    let (result, _) = panic_payload_and(|| {
        state.scope(|ud| {
            watch.stream.ud.set(ud);
            // SAFETY: `ud` is the scoped state, alive for this call.
            unsafe {
                got.push(watch.stream.read(1));
                got.push(watch.stream.write(2));
            }
        })
    });
    assert_eq!(
        result
            .expect_err("resumed")
            .downcast_ref::<Boom>()
            .expect("the original payload"),
        &Boom(4)
    );
    assert_eq!(got, [-1, -2]);
    assert_eq!(watch.log(), [(Entry::Read, 1)]);
    assert_eq!(watch.drops.get(), 1);
}

/// `try_scope` lends the state for one C call under `try_resume`: the first
/// `Err` comes back typed, and the state with it (in the other order,
/// `try_resume(|| state.scope(..))`, an `Err` drops the state with the
/// `(value, state)` pair it replaces).
#[test]
fn try_scope_returns_the_first_err_and_the_state() {
    let (state, watch) = probe(|s, entry, n| match entry {
        Entry::Flush => -n,
        _ => plain(s, entry, n),
    });
    let s = &watch.stream;
    let mut during = Vec::new();
    let (result, state) = state.try_scope(|ud| {
        s.ud.set(ud);
        // SAFETY: the lent state's user data, alive for this call.
        unsafe {
            during.push(s.flush(7));
            during.push(s.read(1));
            during.push(s.flush(8));
        }
        s.ud.set(ptr::null_mut());
    });
    assert_eq!(result, Err(FlushError(-7)));
    assert_eq!(during, [-7, -1, -5]);
    assert_eq!(watch.drops.get(), 0, "the state came back");
    // And `Ok` with the call's value when no entry fails.
    let (result, state) = state.try_scope(|ud| {
        s.ud.set(ud);
        // SAFETY: as above.
        let got = unsafe { s.read(2) };
        s.ud.set(ptr::null_mut());
        got
    });
    assert_eq!(result, Ok(21));
    drop(state);
    assert_eq!(watch.drops.get(), 1);
    assert_eq!(watch.log(), [(Entry::Flush, 7), (Entry::Read, 2)]);
}

// ---------------------------------------------------------------------------
// Null user data
// ---------------------------------------------------------------------------

#[test]
fn null_user_data_is_refused_by_every_kind_of_entry() {
    let stream = CStream::new();
    // (Not the destroy, `close`: null there is nothing to destroy, below.)
    for (expected, name) in [(-1, "read"), (-3, "peek"), (-5, "flush")] {
        let mut got = 0;
        let payload = panic_payload(|| {
            // SAFETY: null user data is refused before it is used.
            resume_panics(|| unsafe {
                got = match name {
                    "read" => stream.read(1),
                    "peek" => stream.peek(1),
                    _ => stream.flush(1),
                }
            })
        });
        assert_eq!(got, expected, "{name}");
        let message = message(&*payload);
        assert!(
            message.starts_with(&format!(
                "ffi-callback: `simulated_sets::Stream::{name}` refused the call: its user data \
                 is null"
            )),
            "{message}"
        );
    }
}

/// expat with no `XML_SetUserData`: every handler call of the document
/// comes with null. The first refusal is raised and kept by the guard; the
/// others could only be dropped (the first panic wins), so they return the
/// fallback without a panic each (no hook print, no unwind per call).
#[test]
fn null_user_data_again_and_again_raises_one_refusal_under_one_guard() {
    let stream = CStream::new();
    let mut got = Vec::new();
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            resume_panics(|| {
                for _ in 0..10 {
                    // SAFETY: null user data is refused before it is used.
                    got.push(unsafe { (stream.read(1), stream.close()) });
                }
            })
        })
    });
    assert_eq!(got, vec![(-1, -4); 10]);
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(
        message(&*payload).starts_with(
            "ffi-callback: `simulated_sets::Stream::read` refused the call: its user data is null"
        ),
        "{}",
        message(&*payload)
    );
    // Under a new guard, the first null call is refused again.
    let payload = panic_payload(|| {
        // SAFETY: as above.
        resume_panics(|| unsafe { stream.write(1) })
    });
    assert!(message(&*payload).contains("Stream::write` refused the call"));
}

// ---------------------------------------------------------------------------
// Accessor user data: found through the C parameters
// ---------------------------------------------------------------------------

/// sqlite's shape: the app data comes from the context, not a parameter.
#[repr(C)]
struct CContext {
    app: *mut c_void,
    result: Cell<i64>,
}

#[callback]
trait Aggregate {
    #[callback(
        // SAFETY: C passes a valid context.
        user_data = unsafe { (*ctx).app },
        // SAFETY: as above.
        fallback = unsafe { (*ctx).result.set(-1) },
    )]
    unsafe extern "C" fn step(&mut self, ctx: *const CContext, x: i64);
    #[callback(
        // SAFETY: C passes a valid context.
        user_data = unsafe { (*ctx).app },
        fallback = i64::MIN,
    )]
    unsafe extern "C" fn total(&self, ctx: *const CContext) -> i64;
}

struct Sum {
    sum: i64,
    panic_on: i64,
}

impl Aggregate for Sum {
    fn step(&mut self, ctx: *const CContext, x: i64) {
        if x == self.panic_on {
            panic_any(Boom(5));
        }
        self.sum += x;
        // SAFETY: C passes a valid context.
        unsafe { (*ctx).result.set(self.sum) };
    }

    fn total(&self, _ctx: *const CContext) -> i64 {
        self.sum
    }
}

#[test]
fn accessor_user_data_reaches_the_state_and_fallback_reads_the_c_parameters() {
    let boxed = Sum {
        sum: 0,
        panic_on: 3,
    }
    .boxed();
    let ctx = CContext {
        app: boxed.user_data(),
        result: Cell::new(0),
    };
    let (step, total) = (Sum::STEP, Sum::TOTAL);
    let mut results = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            for x in 1..=4 {
                // SAFETY: `ctx` carries the live boxed state.
                unsafe { step(&ctx, x) };
                results.push(ctx.result.get());
            }
            // SAFETY: as above.
            results.push(unsafe { total(&ctx) });
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(5)));
    // The fallback wrote -1 through the C parameter after the panic, then
    // again for the poisoned step; `total` returned its own fallback.
    assert_eq!(results, [1, 3, -1, -1, i64::MIN]);
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { total(&ctx) }), 3);
    // A null app pointer from the accessor is refused like a null slot.
    let null_ctx = CContext {
        app: ptr::null_mut(),
        result: Cell::new(0),
    };
    let payload = panic_payload(|| {
        // SAFETY: refused before use.
        resume_panics(|| unsafe { step(&null_ctx, 1) })
    });
    assert!(message(&*payload).contains("its user data is null"));
    assert_eq!(null_ctx.result.get(), -1);
}

/// The set's `user_data = EXPR` serves every entry without a slot, as an
/// sqlite aggregate's entries all find the state through their context;
/// an entry named as the C field (`final`, a Rust keyword) and spelled-out
/// receivers work as the plain ones.
#[callback(
    // SAFETY: C passes a valid context.
    user_data = unsafe { (*ctx).app },
    fallback = -9,
)]
#[allow(clippy::needless_arbitrary_self_type)] // spelled out on purpose
trait Window {
    unsafe extern "C" fn step(self: &mut Self, ctx: *const CContext, x: i64) -> i64;
    unsafe extern "C" fn value(self: &Self, ctx: *const CContext) -> i64;
    /// Named like sqlite's `xFinal`; `FINAL` is its constant.
    unsafe extern "C" fn r#final(self: Self, ctx: *const CContext) -> i64;
    /// Has its own slot, so the set's accessor does not apply.
    unsafe extern "C" fn peek(&self, #[user_data] ud: *mut c_void) -> i64;
}

struct Acc {
    sum: i64,
}

impl Window for Acc {
    fn step(&mut self, _ctx: *const CContext, x: i64) -> i64 {
        self.sum += x;
        self.sum
    }

    fn value(&self, _ctx: *const CContext) -> i64 {
        self.sum
    }

    fn r#final(self, _ctx: *const CContext) -> i64 {
        self.sum * 10
    }

    fn peek(&self) -> i64 {
        self.sum + 1000
    }
}

#[test]
fn set_level_accessor_raw_entry_names_and_typed_receivers() {
    // Handed to C, which ends it through `final`.
    let ud = Acc { sum: 0 }.boxed().into_raw();
    let ctx = CContext {
        app: ud,
        result: Cell::new(0),
    };
    let (step, value, finish, peek) = (Acc::STEP, Acc::VALUE, Acc::FINAL, Acc::PEEK);
    // SAFETY: `ctx` carries the live boxed state; `final` ends it, once.
    let got = resume_panics(|| unsafe {
        [
            step(&ctx, 2),
            step(&ctx, 5),
            value(&ctx),
            peek(ud),
            finish(&ctx),
        ]
    });
    assert_eq!(got, [2, 7, 7, 1007, 70]);
}

/// `send` with a `&self` entry: the state must be `Sync` too (two threads
/// may be inside `get` at once), which the set's supertrait requires.
#[callback(send)]
trait Gauge {
    unsafe extern "C" fn get(&self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn bump(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Level(AtomicI32);

impl Gauge for Level {
    fn get(&self) -> c_int {
        self.0.load(Ordering::SeqCst)
    }

    fn bump(&mut self) -> c_int {
        *self.0.get_mut() += 1;
        *self.0.get_mut()
    }
}

#[test]
fn send_set_with_a_shared_entry_runs_it_on_other_threads() {
    let state = Level(AtomicI32::new(4)).boxed();
    let ud = SendPtr(state.user_data());
    let (get, bump) = (Level::GET, Level::BUMP);
    // SAFETY: the state is alive until `state` drops, after the threads.
    assert_eq!(unsafe { bump(ud.0) }, 5);
    let seen: Vec<c_int> = thread::scope(|threads| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                threads.spawn(move || {
                    let ud = ud;
                    // SAFETY: as above; `get` takes `&self`.
                    unsafe { get(ud.0) }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(seen, [5, 5]);
    drop(state);
}

// ---------------------------------------------------------------------------
// Threading contracts: `send`, `sync`, `local`
// ---------------------------------------------------------------------------

/// A raw pointer a simulated C library moves to its own thread.
#[derive(Clone, Copy)]
struct SendPtr(*mut c_void);
// SAFETY: used only for user data of `send`/`sync` sets, whose states are
// `Send` (and `Sync` for `sync`).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// Called and destroyed on whichever thread C likes, one call at a time.
#[callback(send)]
trait Worker {
    unsafe extern "C" fn work(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn done(self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Job {
    total: c_int,
    threads: Vec<ThreadId>,
    report: std::sync::mpsc::Sender<(c_int, Vec<ThreadId>)>,
    _drops: SendTracked,
}

impl Worker for Job {
    fn work(&mut self, n: c_int) -> c_int {
        self.total += n;
        self.threads.push(thread::current().id());
        self.total
    }

    fn done(self) -> c_int {
        self.report
            .send((self.total, self.threads.clone()))
            .expect("the test waits");
        self.total
    }
}

#[test]
fn send_set_is_called_and_ended_on_another_thread() {
    let (tx, rx) = std::sync::mpsc::channel();
    let drops = Arc::new(AtomicU32::new(0));
    let ud = SendPtr(
        Job {
            total: 0,
            threads: Vec::new(),
            report: tx,
            _drops: SendTracked(drops.clone()),
        }
        .boxed()
        .into_raw(),
    );
    let worker = thread::spawn(move || {
        let ud = ud;
        // SAFETY: C owns the `send` state now: calls, then its one `done`,
        // all on this thread.
        unsafe {
            let a = Job::WORK(ud.0, 2);
            let b = Job::WORK(ud.0, 3);
            let c = Job::DONE(ud.0);
            (a, b, c, thread::current().id())
        }
    });
    let (a, b, c, worker_id) = worker.join().expect("the worker finished");
    assert_eq!((a, b, c), (2, 5, 5));
    let (total, threads) = rx.recv().expect("done reported");
    assert_eq!(total, 5);
    assert_eq!(threads, [worker_id, worker_id]);
    assert_ne!(worker_id, thread::current().id());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn send_boxed_set_moves_to_another_thread_and_drops_there() {
    let (tx, rx) = std::sync::mpsc::channel();
    let drops = Arc::new(AtomicU32::new(0));
    let boxed = Job {
        total: 10,
        threads: Vec::new(),
        report: tx,
        _drops: SendTracked(drops.clone()),
    }
    .boxed();
    let got = thread::spawn(move || {
        // SAFETY: `boxed` is alive for the call.
        let got = unsafe { Job::WORK(boxed.user_data(), 1) };
        drop(boxed);
        got
    })
    .join()
    .expect("the thread finished");
    assert_eq!(got, 11);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(
        rx.try_recv().is_err(),
        "`done` did not run: Rust dropped it"
    );
}

/// `&self` entries that C calls from several threads at once.
#[callback(sync)]
trait Tally {
    unsafe extern "C" fn hit(&self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    unsafe extern "C" fn count(&self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Hits {
    total: AtomicI32,
    /// Released only when every worker is inside `hit` at the same time.
    together: Barrier,
    _drops: SendTracked,
}

impl Tally for Hits {
    fn hit(&self, n: c_int) -> c_int {
        self.together.wait();
        self.total.fetch_add(n, Ordering::SeqCst) + n
    }

    fn count(&self) -> c_int {
        self.total.load(Ordering::SeqCst)
    }
}

#[test]
fn sync_set_entries_run_on_several_threads_at_once() {
    const WORKERS: c_int = 3;
    let drops = Arc::new(AtomicU32::new(0));
    let boxed = Hits {
        total: AtomicI32::new(0),
        together: Barrier::new(WORKERS as usize),
        _drops: SendTracked(drops.clone()),
    }
    .boxed();
    let ud = SendPtr(boxed.user_data());
    thread::scope(|s| {
        for n in 1..=WORKERS {
            s.spawn(move || {
                let ud = ud;
                // SAFETY: `boxed` outlives the scope; `sync` allows calls on
                // several threads at once. A refused call would abort (the
                // default `on_panic` of `sync`), and a serialised one would
                // never pass the barrier.
                unsafe { Hits::HIT(ud.0, n) }
            });
        }
    });
    // SAFETY: as above.
    assert_eq!(unsafe { Hits::COUNT(ud.0) }, 6);
    drop(boxed);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// `Hits`, but `hit` waits for the test's word while it runs.
struct Gate {
    entered: std::sync::mpsc::Sender<()>,
    proceed: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    _drops: SendTracked,
}

impl Tally for Gate {
    fn hit(&self, n: c_int) -> c_int {
        self.entered.send(()).expect("the test waits");
        let proceed = self.proceed.lock().expect("one hit at a time here");
        proceed.recv().expect("the test answers");
        n
    }

    fn count(&self) -> c_int {
        0
    }
}

#[test]
fn sync_set_destroyed_on_one_thread_while_another_runs_an_entry() {
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (proceed_tx, proceed_rx) = std::sync::mpsc::channel();
    let drops = Arc::new(AtomicU32::new(0));
    let ud = SendPtr(
        Gate {
            entered: entered_tx,
            proceed: std::sync::Mutex::new(proceed_rx),
            _drops: SendTracked(drops.clone()),
        }
        .boxed()
        .into_raw(),
    );
    let worker = thread::spawn(move || {
        let ud = ud;
        // SAFETY: the state is alive until this call leaves: the destroy
        // below is deferred to it.
        unsafe { Gate::HIT(ud.0, 9) }
    });
    entered_rx.recv().expect("the worker entered `hit`");
    // SAFETY: C's one destroy-notify, while the worker's call runs.
    unsafe { Gate::DESTROY(ud.0) };
    assert_eq!(drops.load(Ordering::SeqCst), 0, "deferred: a call runs");
    proceed_tx.send(()).expect("the worker waits");
    assert_eq!(worker.join().expect("the worker finished"), 9);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "freed by the last call out"
    );
}

// into_inner while another thread runs a call: the `BoxedSet` back, then,
// once the call has left, the state, with what the call wrote.

/// A `send` set whose one entry meets the test twice: once inside, once
/// before it writes and returns.
#[callback(send)]
trait Relay {
    unsafe extern "C" fn step(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

struct Stepper {
    /// Plain data, written by the call on the worker thread and read by
    /// the test after `into_inner`: Miri sees a race unless the take is
    /// ordered after the call's leave.
    total: c_int,
    meet: Arc<Barrier>,
    _drops: SendTracked,
}

impl Relay for Stepper {
    fn step(&mut self, n: c_int) -> c_int {
        self.meet.wait();
        self.meet.wait();
        self.total += n;
        self.total
    }
}

/// Takes the state back with `into_inner` (`take`) as soon as no call
/// runs, trying again (`into_inner` never waits) while one does.
fn into_inner_once_free<B, T>(mut boxed: B, take: impl Fn(B) -> Result<T, B>) -> T {
    loop {
        match take(boxed) {
            Ok(state) => return state,
            Err(again) => {
                boxed = again;
                thread::yield_now();
            }
        }
    }
}

#[test]
fn send_set_into_inner_during_a_call_on_another_thread_gives_the_boxed_set_back() {
    let drops = Arc::new(AtomicU32::new(0));
    let meet = Arc::new(Barrier::new(2));
    let boxed = Stepper {
        total: 1,
        meet: meet.clone(),
        _drops: SendTracked(drops.clone()),
    }
    .boxed();
    let ud = SendPtr(boxed.user_data());
    let worker = thread::spawn(move || {
        let ud = ud;
        // SAFETY: the state is alive until `into_inner` takes it, which it
        // cannot while this call runs; nothing calls after it.
        unsafe { Stepper::STEP(ud.0, 5) }
    });
    meet.wait();
    // The worker is inside `step`: not taken, and nothing waits for it.
    let boxed = match boxed.into_inner() {
        Ok(_) => panic!("the state was taken from under the worker's call"),
        Err(boxed) => boxed,
    };
    assert_eq!(boxed.user_data(), ud.0);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    meet.wait();
    // The call writes and leaves while this tries again.
    let state = into_inner_once_free(boxed, BoxedSet::into_inner);
    assert_eq!(state.total, 6, "the worker's write is seen");
    assert_eq!(worker.join().expect("the worker finished"), 6);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "moved out, not dropped");
    drop(state);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn send_boxed_set_moves_to_another_thread_and_gives_its_state_back_there() {
    let drops = Arc::new(AtomicU32::new(0));
    let boxed = Stepper {
        total: 2,
        meet: Arc::new(Barrier::new(1)),
        _drops: SendTracked(drops.clone()),
    }
    .boxed();
    let state = thread::spawn(move || {
        // SAFETY: `boxed` is alive for the call.
        assert_eq!(unsafe { Stepper::STEP(boxed.user_data(), 3) }, 5);
        match boxed.into_inner() {
            Ok(state) => state,
            Err(_) => panic!("no call runs"),
        }
    })
    .join()
    .expect("the thread finished");
    assert_eq!(state.total, 5);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(state);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// `Hits`, but `hit` meets the test twice: once inside, once before it
/// returns.
struct Rendezvous {
    total: AtomicI32,
    meet: Arc<Barrier>,
    _drops: SendTracked,
}

impl Tally for Rendezvous {
    fn hit(&self, n: c_int) -> c_int {
        self.meet.wait();
        self.meet.wait();
        self.total.fetch_add(n, Ordering::SeqCst) + n
    }

    fn count(&self) -> c_int {
        self.total.load(Ordering::SeqCst)
    }
}

#[test]
fn sync_set_into_inner_during_a_shared_call_on_another_thread_gives_the_boxed_set_back() {
    let drops = Arc::new(AtomicU32::new(0));
    let meet = Arc::new(Barrier::new(2));
    let boxed = Rendezvous {
        total: AtomicI32::new(0),
        meet: meet.clone(),
        _drops: SendTracked(drops.clone()),
    }
    .boxed();
    let ud = SendPtr(boxed.user_data());
    let worker = thread::spawn(move || {
        let ud = ud;
        // SAFETY: as in the `send` test above.
        unsafe { Rendezvous::HIT(ud.0, 4) }
    });
    meet.wait();
    let boxed = match boxed.into_inner() {
        Ok(_) => panic!("the state was taken from under the worker's call"),
        Err(boxed) => boxed,
    };
    // Shared calls still run beside the one on the worker.
    // SAFETY: `boxed` is alive; `count` takes `&self`.
    assert_eq!(unsafe { Rendezvous::COUNT(boxed.user_data()) }, 0);
    meet.wait();
    let state = into_inner_once_free(boxed, BoxedSet::into_inner);
    assert_eq!(state.total.load(Ordering::SeqCst), 4);
    assert_eq!(worker.join().expect("the worker finished"), 4);
    drop(state);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Called only on the thread that made it; calls from other threads are
/// refused (here with the fallback, reported).
#[callback(local, on_panic = fallback)]
trait HomeOnly {
    #[callback(fallback = -1)]
    unsafe extern "C" fn get(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Home(Rc<Cell<c_int>>);

impl HomeOnly for Home {
    fn get(&mut self) -> c_int {
        self.0.set(self.0.get() + 1);
        self.0.get()
    }
}

#[test]
fn local_set_refuses_calls_from_another_thread() {
    let calls = Rc::new(Cell::new(0));
    let boxed = Home(calls.clone()).boxed();
    let ud = SendPtr(boxed.user_data());
    // SAFETY: `boxed` is alive; the call on the home thread runs.
    assert_eq!(unsafe { Home::GET(ud.0) }, 1);
    let (got, raised) = thread::spawn(move || {
        let ud = ud;
        // SAFETY: `boxed` outlives the thread (joined below); the call is
        // refused before it touches the state.
        panics_during(|| unsafe { Home::GET(ud.0) })
    })
    .join()
    .expect("the thread finished");
    assert_eq!(got, -1);
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(
        raised[0].starts_with("ffi-callback: `simulated_sets::HomeOnly::get` refused the call")
            && raised[0].contains("`local`"),
        "{raised:?}"
    );
    assert_eq!(calls.get(), 1, "the state never ran on the other thread");
    drop(boxed);
}

/// A `local` set's state that is `Send` and `Sync` itself: its `BoxedSet`
/// may be shared with other threads (`Sync`), never sent (`local`: C calls
/// it on its home thread, and its word is not atomic).
struct HomeCount(c_int);

impl HomeOnly for HomeCount {
    fn get(&mut self) -> c_int {
        self.0 += 1;
        self.0
    }
}

/// Compiles only for types that are not `Send` (with two impls to choose
/// from for a `Send` type, `<T as NotSend<_>>` is ambiguous).
trait NotSend<A> {
    fn check() {}
}
impl<T: ?Sized> NotSend<()> for T {}
impl<T: ?Sized + Send> NotSend<u8> for T {}

#[test]
fn local_set_state_comes_back_on_its_home_thread_and_not_through_a_shared_ref() {
    <BoxedSet<HomeCount, ffi_callback::HomeThread> as NotSend<_>>::check();
    fn shared<T: Sync>(_: &T) {}
    let boxed = HomeCount(0).boxed();
    shared(&boxed);
    // SAFETY: `boxed` is alive; the call on the home thread runs.
    assert_eq!(unsafe { HomeCount::GET(boxed.user_data()) }, 1);
    let (got, raised) = thread::scope(|threads| {
        threads
            .spawn(|| {
                // Shared, it gives the user data only: `boxed.into_inner()`
                // here would move out of a shared reference.
                let boxed = &boxed;
                // SAFETY: `boxed` outlives the scope; the call is refused
                // before it touches the state.
                panics_during(|| unsafe { HomeCount::GET(boxed.user_data()) })
            })
            .join()
            .expect("the thread finished")
    });
    assert_eq!(got, -1);
    assert_eq!(raised.len(), 1, "{raised:?}");
    let state = match boxed.into_inner() {
        Ok(state) => state,
        Err(_) => panic!("no call runs"),
    };
    assert_eq!(state.0, 1, "the state never ran on the other thread");
}

// ---------------------------------------------------------------------------
// A Rust-owned state of a default-contract set, dropped on another thread
// ---------------------------------------------------------------------------

/// Default contract: C calls on the thread that made the state.
#[callback]
trait Meter {
    #[callback(fallback = -1)]
    unsafe extern "C" fn tick(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

/// The count, and a drop counter (held only to be dropped).
struct Ticks(c_int, #[allow(dead_code)] SendTracked);

impl Meter for Ticks {
    fn tick(&mut self) -> c_int {
        self.0 += 1;
        self.0
    }
}

static FOREIGN_LEAKS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn record_foreign_leaks(report: &ffi_callback::Report) {
    if report.kind() == ffi_callback::ReportKind::LeakedOnForeignThread {
        FOREIGN_LEAKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(report.callback().unwrap_or_default().to_owned());
    }
}

#[test]
// The state is leaked on purpose, which Miri's leak check reports.
#[cfg_attr(miri, ignore = "leaks the holder by design")]
fn default_set_state_destroyed_on_another_thread_is_leaked_and_reported() {
    ffi_callback::set_reporter(record_foreign_leaks);
    let drops = Arc::new(AtomicU32::new(0));
    // (The `BoxedSet` of a default set is not `Send`: ui
    // `soundness_set_boxed_default_not_send`. C may still destroy it elsewhere.)
    let ud = Ticks(0, SendTracked(drops.clone())).boxed().into_raw();
    let tick = Ticks::TICK;
    // SAFETY: the state is alive until the destroy below.
    assert_eq!(resume_panics(|| unsafe { tick(ud) }), 1);
    // C destroys it on another thread: the state, which may hold values
    // that must not be dropped there, is leaked rather than dropped.
    let address = ud as usize;
    thread::spawn(move || {
        // SAFETY: the live state's one destroy.
        unsafe { (Ticks::DESTROY)(address as *mut c_void) }
    })
    .join()
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "not dropped elsewhere");
    let leaks = FOREIGN_LEAKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert!(
        leaks.iter().any(|name| name.contains("Meter")),
        "the leak is reported: {leaks:?}"
    );
}

// ------------------------------------------ the companion (`Ext`) trait --
// What a set generates (entry points, `DESTROY`, `boxed`, `scope`) is in
// its companion trait, implemented for every implementing type and by no
// impl by hand (ui `set_generated_items_not_overridable`,
// `set_ext_not_implementable`); the user's expressions are safe fns there
// (ui `set_external_macro_unsafe_in_exprs`).

/// Two sets declared in another module, used here through imports.
mod instruments {
    use std::ffi::{c_int, c_void};

    use ffi_callback::callback;

    /// Adds to the state.
    #[callback]
    pub(crate) trait Dial {
        unsafe extern "C" fn turn(&mut self, #[user_data] ud: *mut c_void, by: c_int) -> c_int;
    }

    /// Reads the state, in the same module: its companion is `KnobExt`.
    #[callback]
    pub(crate) trait Knob {
        unsafe extern "C" fn read(&self, #[user_data] ud: *mut c_void) -> c_int;
    }
}

use instruments::{Dial, DialExt, Knob, KnobExt};

struct Position(c_int);

impl Dial for Position {
    fn turn(&mut self, by: c_int) -> c_int {
        self.0 += by;
        self.0
    }
}

impl Knob for Position {
    fn read(&self) -> c_int {
        self.0
    }
}

#[test]
fn two_sets_of_another_module_run_through_their_imported_companions() {
    // One type implements both: each set's `scope` is named through its
    // companion (`boxed`/`scope` exist in both).
    let (turned, position) = <Position as DialExt>::scope(Position(1), |ud| {
        // SAFETY: the state's user data, during `scope`.
        unsafe { Position::TURN(ud, 2) + Position::TURN(ud, 3) }
    });
    assert_eq!(turned, 3 + 6);
    let boxed = <Position as KnobExt>::boxed(position);
    // SAFETY: the boxed state is alive while `boxed` is.
    let read = resume_panics(|| unsafe { Position::READ(boxed.user_data()) });
    assert_eq!(read, 6);
}

/// Entries whose options are expressions reading the C parameters: each a
/// safe fn the trampoline calls with them.
#[callback]
trait Probed {
    /// The state through `*slot` (the user's own `unsafe`); after a panic,
    /// C receives `-code`.
    #[callback(
        // SAFETY: C passes a valid slot holding the user data.
        user_data = unsafe { *slot },
        fallback = -code
    )]
    unsafe extern "C" fn fetch(&mut self, slot: *const *mut c_void, code: c_int) -> c_int;
    /// `Err(e)`: C receives `e + code`.
    #[callback(fallback = -1, on_error = *e + code)]
    unsafe extern "C" fn check(
        &mut self,
        #[user_data] ud: *mut c_void,
        code: c_int,
    ) -> Result<c_int, c_int>;
    /// `n` bytes at `bytes`; C receives `n` to go on, `-n` to stop.
    #[callback(on_continue = n as c_int, on_break = -(n as c_int))]
    unsafe extern "C" fn feed(
        &self,
        #[user_data] ud: *mut c_void,
        #[into(&[u8], len = n)] bytes: *const u8,
        n: usize,
    ) -> c_int;
}

struct Reading(c_int);

impl Probed for Reading {
    fn fetch(&mut self, _slot: *const *mut c_void, code: c_int) -> c_int {
        if code < 0 {
            panic_any(Boom(0));
        }
        self.0 += code;
        self.0
    }
    fn check(&mut self, code: c_int) -> Result<c_int, c_int> {
        if code < 0 { Err(code * 10) } else { Ok(code) }
    }
    fn feed(&self, bytes: &[u8], _n: usize) -> std::ops::ControlFlow<()> {
        if bytes.iter().all(|&b| b != 0) {
            std::ops::ControlFlow::Continue(())
        } else {
            std::ops::ControlFlow::Break(())
        }
    }
}

#[test]
fn expressions_read_the_c_parameters_they_name() {
    let (fetched, sum) = Reading(0).scope(|ud| {
        let slot: *const *mut c_void = &ud;
        // SAFETY: the slot holds the state's user data, during `scope`.
        unsafe { Reading::FETCH(slot, 5) }
    });
    assert_eq!((fetched, sum.0), (5, 5));
    // The method panics for a negative code: C receives `-code`, and
    // `scope` resumes the panic.
    let received = Cell::new(0);
    let payload = panic_payload(|| {
        Reading(0).scope(|ud| {
            let slot: *const *mut c_void = &ud;
            // SAFETY: as above.
            received.set(unsafe { Reading::FETCH(slot, -7) });
        })
    });
    assert_eq!(received.get(), 7);
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(0)));
    let ((stopped, went_on), _) = Reading(0).scope(|ud| {
        // SAFETY: as above; the bytes are valid for each call.
        unsafe {
            (
                Reading::FEED(ud, b"a\0c".as_ptr(), 3),
                Reading::FEED(ud, b"ab".as_ptr(), 2),
            )
        }
    });
    assert_eq!((stopped, went_on), (-3, 2));
    let state = Reading(0).boxed();
    let ud = state.user_data();
    let received = Cell::new((0, 0));
    // SAFETY: the boxed state is alive while `state` is.
    let checked = try_resume::<_, c_int>(|| unsafe {
        received.set((Reading::CHECK(ud, 4), Reading::CHECK(ud, -2)));
    });
    // `Err(-20)`: C received `e + code` (-22); the error comes back.
    assert_eq!(received.get(), (4, -22));
    assert_eq!(checked, Err(-20));
}

// ---------------------------------------------------------------------------
// A lent state that owns the C object calling it, after a panic
// ---------------------------------------------------------------------------

/// A libarchive-shaped client: `archive_read_free` calls the close entry.
#[callback]
trait ArchiveClient {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

/// Stands in for `struct archive`: the client data and callbacks it keeps.
struct FakeArchive {
    ud: *mut c_void,
    read: Option<ArchiveClientReadFn>,
    close: Option<ArchiveClientCloseFn>,
    /// What the close callback returned (the fallback if refused).
    closed: Rc<Cell<Option<c_int>>>,
}

/// `archive_read_free`: an opened archive is closed through its callback.
///
/// # Safety
/// `archive` came from `Box::into_raw`, and its client data is what its
/// callbacks expect (or freed, then refused by the holder's state word).
unsafe fn fake_archive_free(archive: *mut FakeArchive) {
    // SAFETY: the caller's promise.
    let archive = unsafe { Box::from_raw(archive) };
    if let Some(close) = archive.close {
        // SAFETY: the caller's promise.
        archive.closed.set(Some(unsafe { close(archive.ud) }));
    }
}

/// The binding's reader: it owns the archive and frees it when dropped.
struct ArchiveReader {
    archive: *mut FakeArchive,
    closes: Rc<Cell<u32>>,
    drops: Rc<Cell<u32>>,
}

impl Drop for ArchiveReader {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        // SAFETY: the reader's own archive, freed once.
        unsafe { fake_archive_free(self.archive) }
    }
}

impl ArchiveClient for ArchiveReader {
    fn read(&mut self) -> c_int {
        panic!("a read failed");
    }
    fn close(&mut self) -> c_int {
        self.closes.set(self.closes.get() + 1);
        0
    }
}

/// audit 17: when an entry panicked, `scope`'s guard re-raises the panic as
/// `scope` returns; the state handed back was then dropped by that unwind,
/// after its holder was gone, and a `Drop` that frees the C object (which
/// calls the close entry) reached a dangling holder. Now the state is
/// dropped in its holder, where that call is refused like one after a
/// destroy (under Miri: no use after free).
#[test]
fn a_lent_state_whose_drop_calls_back_is_dropped_in_its_holder_after_a_panic() {
    let (closes, drops, closed) = (Rc::default(), Rc::default(), Rc::default());
    let archive = Box::into_raw(Box::new(FakeArchive {
        ud: ptr::null_mut(),
        read: None,
        close: None,
        closed: Rc::clone(&closed),
    }));
    let reader = ArchiveReader {
        archive,
        closes: Rc::clone(&closes),
        drops: Rc::clone(&drops),
    };
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            reader.scope(|ud| {
                // SAFETY: `archive` is alive (the reader owns it) and `ud`
                // is the lent state, as its callbacks expect.
                unsafe {
                    (*archive).ud = ud;
                    (*archive).read = Some(ArchiveReader::READ);
                    (*archive).close = Some(ArchiveReader::CLOSE);
                    ArchiveReader::READ(ud)
                }
            })
        })
    });
    assert_eq!(message(&*payload), "a read failed");
    assert_eq!(drops.get(), 1, "dropped once, by the scope");
    assert_eq!(closes.get(), 0, "the close from its Drop ran no user code");
    assert_eq!(closed.get(), Some(0), "C got the close entry's fallback");
    assert_eq!(
        raised,
        ["a read failed"],
        "the close's refusal is quiet: the guard already keeps a panic"
    );
}

// ---------------------------------------------------------------------------
// A destroy-marked entry (`#[callback(destroy)]` on `&mut self`): a plain
// call on a lent or kept state, the destroy of a state C owns
// ---------------------------------------------------------------------------

/// A stream whose C library calls `close` at the end whoever owns the
/// user data (as libarchive does): one trait serves a binding that lends
/// the state, keeps it, or hands it over. `close` borrows the state, and,
/// marked `destroy`, also frees a state C owns, after its body.
#[callback]
trait ClosingStream {
    #[callback(fallback = -1)]
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    #[callback(destroy, fallback = -4)]
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

/// What a `Closer`'s hook and the test both see: the user data C was
/// given, and the state's drops.
struct CloserC {
    ud: Cell<*mut c_void>,
    drops: Rc<Cell<u32>>,
}

impl CloserC {
    /// C calls `read`.
    ///
    /// # Safety
    /// The user data is a live state of `Closer` (or null).
    unsafe fn read(&self, n: c_int) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { Closer::READ(self.ud.get(), n) }
    }

    /// C calls `close`.
    ///
    /// # Safety
    /// As for [`CloserC::read`]; a state C owns is not used after this
    /// (unless this comes during one of its calls).
    unsafe fn close(&self) -> c_int {
        // SAFETY: by the caller's promise.
        unsafe { Closer::CLOSE(self.ud.get()) }
    }
}

/// What a `Closer`'s entry does after logging itself; its value is the
/// entry's.
type CloserHook = Box<dyn Fn(&CloserC, Entry, c_int) -> c_int>;

struct Closer {
    c: Rc<CloserC>,
    log: Log,
    hook: CloserHook,
    /// Counted by `close`'s body.
    closes: u32,
    _drops: Tracked,
}

impl Closer {
    fn run(&self, entry: Entry, n: c_int) -> c_int {
        self.log.borrow_mut().push((entry, n));
        (self.hook)(&self.c, entry, n)
    }
}

impl ClosingStream for Closer {
    fn read(&mut self, n: c_int) -> c_int {
        self.run(Entry::Read, n)
    }

    fn close(&mut self) -> c_int {
        self.closes += 1;
        self.run(Entry::Close, self.closes as c_int)
    }
}

/// A `Closer` whose entries run `hook`, the C side it calls back through,
/// and its log.
fn closer(hook: impl Fn(&CloserC, Entry, c_int) -> c_int + 'static) -> (Closer, Rc<CloserC>, Log) {
    let drops = Rc::new(Cell::new(0));
    let c = Rc::new(CloserC {
        ud: Cell::new(ptr::null_mut()),
        drops: drops.clone(),
    });
    let log = Log::default();
    let state = Closer {
        c: c.clone(),
        log: log.clone(),
        hook: Box::new(hook),
        closes: 0,
        _drops: Tracked(drops),
    };
    (state, c, log)
}

/// Each entry returns `n * 10 + k` (k: which entry), as `plain` does.
fn numbered(_: &CloserC, entry: Entry, n: c_int) -> c_int {
    plain(&CStream::new(), entry, n)
}

#[test]
fn destroy_marked_close_on_a_lent_state_is_a_plain_call() {
    let (state, c, log) = closer(numbered);
    let (got, state) = state.scope(|ud| {
        c.ud.set(ud);
        // SAFETY: `ud` is the lent state, alive for this call; `close`
        // borrows it like any other entry.
        unsafe { [c.read(1), c.close(), c.read(2)] }
    });
    assert_eq!(got, [11, 15, 21], "read works on after close");
    assert_eq!(state.closes, 1, "close's body ran on the lent state");
    assert_eq!(c.drops.get(), 0, "and did not free it");
    assert_eq!(
        *log.borrow(),
        [(Entry::Read, 1), (Entry::Close, 1), (Entry::Read, 2)]
    );
    drop(state);
    assert_eq!(c.drops.get(), 1);
}

#[test]
fn destroy_marked_close_on_a_kept_state_is_a_plain_call_and_into_inner_gives_it_back() {
    let (state, c, log) = closer(numbered);
    let boxed = state.boxed();
    c.ud.set(boxed.user_data());
    let (got, raised) = panics_during(|| {
        // SAFETY: the kept state is alive while `boxed` is; `close`
        // borrows it.
        resume_panics(|| unsafe { [c.read(1), c.close(), c.close()] })
    });
    assert_eq!(got, [11, 15, 25], "close ran twice, on the same state");
    assert!(raised.is_empty(), "nothing refused: {raised:?}");
    assert_eq!(c.drops.get(), 0, "the `BoxedSet` keeps it");
    let state = boxed.into_inner().expect("no call runs");
    assert_eq!(state.closes, 2);
    assert_eq!(c.drops.get(), 0);
    drop(state);
    assert_eq!(c.drops.get(), 1);
    assert_eq!(log.borrow().len(), 3);
}

#[test]
fn destroy_marked_close_on_a_kept_state_leaves_it_to_the_boxed_set_s_drop() {
    let (state, c, _log) = closer(numbered);
    let boxed = state.boxed();
    c.ud.set(boxed.user_data());
    // SAFETY: the kept state is alive while `boxed` is.
    let closed = resume_panics(|| unsafe { c.close() });
    assert_eq!(closed, 15);
    assert_eq!(c.drops.get(), 0);
    drop(boxed);
    assert_eq!(c.drops.get(), 1, "dropped once, by its owner");
}

#[test]
fn destroy_marked_close_on_a_handed_over_state_runs_then_frees_it_once() {
    let alive_in_close = Rc::new(Cell::new(None));
    let alive_in = alive_in_close.clone();
    let (state, c, log) = closer(move |c, entry, n| {
        if entry == Entry::Close {
            alive_in.set(Some(c.drops.get()));
        }
        numbered(c, entry, n)
    });
    c.ud.set(state.boxed().into_raw());
    // SAFETY: C owns the state, alive until its `close`.
    let got = resume_panics(|| unsafe { [c.read(1), c.read(2)] });
    assert_eq!(got, [11, 21]);
    assert_eq!(c.drops.get(), 0, "alive until C closes it");
    // SAFETY: C's last call on the state.
    let closed = resume_panics(|| unsafe { c.close() });
    assert_eq!(closed, 15, "close's body ran and C got its value");
    assert_eq!(alive_in_close.get(), Some(0), "on the live state");
    assert_eq!(c.drops.get(), 1, "then freed, once");
    assert_eq!(
        *log.borrow(),
        [(Entry::Read, 1), (Entry::Read, 2), (Entry::Close, 1)]
    );
}

#[test]
fn destroy_marked_close_inside_another_call_frees_the_state_when_that_call_returns() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let seen_in = seen.clone();
    let (state, c, log) = closer(move |c, entry, n| {
        if entry == Entry::Read {
            // SAFETY: the state is alive (this call runs on it); C closes
            // it from inside, as a C library may.
            let closed = unsafe { c.close() };
            seen_in.borrow_mut().push((closed, c.drops.get()));
        }
        numbered(c, entry, n)
    });
    c.ud.set(state.boxed().into_raw());
    // SAFETY: C owns the state, alive for this call; its close comes from
    // inside it and frees the state once it returns.
    let (got, raised) = panics_during(|| resume_panics(|| unsafe { c.read(8) }));
    assert_eq!(got, 81, "the running call finished on the live state");
    assert_eq!(
        *seen.borrow(),
        [(-4, 0)],
        "C got close's fallback; not freed yet"
    );
    assert!(
        raised.is_empty(),
        "a deferred close is no error: {raised:?}"
    );
    assert_eq!(c.drops.get(), 1, "freed when the read returned");
    assert_eq!(
        *log.borrow(),
        [(Entry::Read, 8)],
        "close's body did not run: it would have overlapped the read's `&mut self`"
    );
}

#[test]
fn destroy_marked_close_on_a_poisoned_state_frees_it_without_running() {
    let (state, c, log) = closer(|c, entry, n| {
        if entry == Entry::Read {
            panic_any(Boom(7));
        }
        numbered(c, entry, n)
    });
    c.ud.set(state.boxed().into_raw());
    let mut closed = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: C owns the state, alive until `close`, its last call.
            unsafe {
                c.read(1);
                closed = c.close();
            }
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));
    assert_eq!(closed, -4, "C got close's fallback");
    assert_eq!(c.drops.get(), 1, "freed, not leaked");
    assert_eq!(
        *log.borrow(),
        [(Entry::Read, 1)],
        "no user code ran after the panic, within the guard"
    );
}

#[test]
fn destroy_marked_close_after_the_guard_raised_the_panic_runs_then_frees() {
    let (state, c, log) = closer(|c, entry, n| {
        if entry == Entry::Read {
            panic_any(Boom(8));
        }
        numbered(c, entry, n)
    });
    c.ud.set(state.boxed().into_raw());
    // SAFETY: C owns the state, alive until `close`.
    let payload = panic_payload(|| resume_panics(|| unsafe { c.read(1) }));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(8)));
    // SAFETY: C's last call on the state.
    let closed = resume_panics(|| unsafe { c.close() });
    assert_eq!(closed, 15, "the guard has returned: close runs again");
    assert_eq!(c.drops.get(), 1);
    assert_eq!(*log.borrow(), [(Entry::Read, 1), (Entry::Close, 1)]);
}

#[test]
fn panic_in_a_destroy_marked_close_is_resumed_and_the_state_freed_once() {
    let (state, c, log) = closer(|c, entry, n| {
        if entry == Entry::Close {
            panic_any(Boom(9));
        }
        numbered(c, entry, n)
    });
    c.ud.set(state.boxed().into_raw());
    let mut closed = 0;
    let payload = panic_payload(|| {
        // SAFETY: C's last call on the state it owns.
        resume_panics(|| closed = unsafe { c.close() })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(9)));
    assert_eq!(closed, -4, "C got close's fallback");
    assert_eq!(*log.borrow(), [(Entry::Close, 1)]);
    assert_eq!(c.drops.get(), 1, "freed all the same");
}

#[test]
fn call_from_inside_a_destroy_marked_close_is_refused_as_after_the_destroy() {
    let inner = Rc::new(Cell::new(0));
    let inner_in = inner.clone();
    let (state, c, log) = closer(move |c, entry, n| {
        if entry == Entry::Close {
            // SAFETY: the state is alive until this call returns.
            inner_in.set(unsafe { c.read(3) });
        }
        numbered(c, entry, n)
    });
    c.ud.set(state.boxed().into_raw());
    // SAFETY: C's last call on the state it owns.
    let payload = panic_payload(|| resume_panics(|| unsafe { c.close() }));
    let message = message(&*payload);
    assert!(
        message
            .starts_with("ffi-callback: `simulated_sets::ClosingStream::read` refused the call: ")
            && message.contains("after it was destroyed"),
        "{message}"
    );
    assert_eq!(inner.get(), -1, "C got read's fallback");
    assert_eq!(*log.borrow(), [(Entry::Close, 1)]);
    assert_eq!(c.drops.get(), 1);
}

/// `close` taking `&self`, marked `destroy`: it may run nested in another
/// `&self` call, and a state C owns is then freed when that call returns.
#[callback]
trait SharedClosingStream {
    #[callback(fallback = -3)]
    unsafe extern "C" fn peek(&self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    #[callback(destroy, fallback = -4)]
    unsafe extern "C" fn close(&self, #[user_data] ud: *mut c_void) -> c_int;
}

/// A `Closer` behind the `&self` set (a type of its own: implementing both
/// sets would make `Closer::CLOSE` ambiguous).
struct SharedCloser(Closer);

impl SharedClosingStream for SharedCloser {
    fn peek(&self, n: c_int) -> c_int {
        self.0.run(Entry::Peek, n)
    }

    fn close(&self) -> c_int {
        self.0.run(Entry::Close, 0)
    }
}

#[test]
fn shared_destroy_marked_close_nested_in_a_shared_call_runs_then_frees_after_it() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let seen_in = seen.clone();
    let (state, c, log) = closer(move |c, entry, n| {
        if entry == Entry::Peek && n == 1 {
            // SAFETY: the state is alive (this call runs on it); `&self`
            // calls nest.
            let closed = unsafe { SharedCloser::CLOSE(c.ud.get()) };
            seen_in.borrow_mut().push((closed, c.drops.get()));
        }
        numbered(c, entry, n)
    });
    let ud = SharedCloser(state).boxed().into_raw();
    c.ud.set(ud);
    // SAFETY: C owns the state, alive for this call, whose nested close is
    // C's last call on it.
    let (got, raised) = panics_during(|| resume_panics(|| unsafe { SharedCloser::PEEK(ud, 1) }));
    assert_eq!(got, 13);
    assert!(raised.is_empty(), "{raised:?}");
    assert_eq!(
        *seen.borrow(),
        [(5, 0)],
        "close ran nested; not freed under the peek"
    );
    assert_eq!(c.drops.get(), 1, "freed when the peek returned");
    assert_eq!(*log.borrow(), [(Entry::Peek, 1), (Entry::Close, 0)]);
}

/// Called on whichever thread C likes; `finish`, marked `destroy`, ends a
/// state C owns. Under `resume`, so that a `finish` during a call on
/// another thread has a fallback to return.
#[callback(send, on_panic = resume)]
trait ClosingWorker {
    unsafe extern "C" fn work(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    #[callback(destroy)]
    unsafe extern "C" fn finish(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Shift {
    total: c_int,
    finished: u32,
    /// `work` waits here twice: once it runs, and until the test lets it
    /// return.
    gate: Option<Arc<Barrier>>,
    _drops: SendTracked,
}

impl ClosingWorker for Shift {
    fn work(&mut self, n: c_int) -> c_int {
        if let Some(gate) = &self.gate {
            gate.wait();
            gate.wait();
        }
        self.total += n;
        self.total
    }

    fn finish(&mut self) -> c_int {
        self.finished += 1;
        self.total
    }
}

#[test]
fn send_destroy_marked_entry_frees_a_handed_over_state_on_another_thread_once() {
    let drops = Arc::new(AtomicU32::new(0));
    let shift = Shift {
        total: 0,
        finished: 0,
        gate: None,
        _drops: SendTracked(drops.clone()),
    };
    let ud = SendPtr(shift.boxed().into_raw());
    let got = thread::spawn(move || {
        let ud = ud;
        // SAFETY: C owns the `send` state: calls, then its one `finish`,
        // all on this thread.
        unsafe {
            [
                Shift::WORK(ud.0, 2),
                Shift::WORK(ud.0, 3),
                Shift::FINISH(ud.0),
            ]
        }
    })
    .join()
    .expect("the worker finished");
    assert_eq!(got, [2, 5, 5]);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn send_destroy_marked_entry_on_a_kept_state_is_a_plain_call_on_another_thread() {
    let drops = Arc::new(AtomicU32::new(0));
    let boxed = Shift {
        total: 0,
        finished: 0,
        gate: None,
        _drops: SendTracked(drops.clone()),
    }
    .boxed();
    let ud = SendPtr(boxed.user_data());
    let got = thread::spawn(move || {
        let ud = ud;
        // SAFETY: the kept state is alive while `boxed` is, which outlives
        // this thread.
        unsafe {
            [
                Shift::WORK(ud.0, 4),
                Shift::FINISH(ud.0),
                Shift::FINISH(ud.0),
            ]
        }
    })
    .join()
    .expect("the worker finished");
    assert_eq!(got, [4, 4, 4]);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the `BoxedSet` keeps it");
    let shift = boxed.into_inner().expect("no call runs");
    assert_eq!(shift.finished, 2);
    drop(shift);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn send_destroy_marked_entry_during_a_call_on_another_thread_frees_the_state_after_it() {
    let drops = Arc::new(AtomicU32::new(0));
    let gate = Arc::new(Barrier::new(2));
    let shift = Shift {
        total: 0,
        finished: 0,
        gate: Some(gate.clone()),
        _drops: SendTracked(drops.clone()),
    };
    let ud = SendPtr(shift.boxed().into_raw());
    let worker = thread::spawn(move || {
        let ud = ud;
        // SAFETY: C owns the `send` state, alive for this call (its
        // `finish` comes while this runs).
        unsafe { Shift::WORK(ud.0, 7) }
    });
    gate.wait();
    // SAFETY: C's one `finish`, while the work call runs on the other
    // thread: the state stays alive until that call returns.
    let finished = unsafe { Shift::FINISH(ud.0) };
    let drops_during = drops.load(Ordering::SeqCst);
    gate.wait();
    assert_eq!(worker.join().expect("the worker finished"), 7);
    assert_eq!(finished, 0, "C got finish's fallback: its body did not run");
    assert_eq!(drops_during, 0, "not freed under the running call");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "freed as that call left");
}

/// Called only on its home thread (`local`); `release`, marked `destroy`,
/// is C's last call, which may come on another thread.
#[callback(local)]
trait Beacon {
    unsafe extern "C" fn tick(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    #[callback(destroy, fallback = -1)]
    unsafe extern "C" fn release(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

/// The count, and a drop counter (held only to be dropped).
struct Lamp(c_int, #[allow(dead_code)] SendTracked);

impl Beacon for Lamp {
    fn tick(&mut self) -> c_int {
        self.0 += 1;
        self.0
    }

    fn release(&mut self) -> c_int {
        self.0
    }
}

#[test]
// The state is leaked on purpose, which Miri's leak check reports.
#[cfg_attr(miri, ignore = "leaks the holder by design")]
fn local_destroy_marked_entry_on_another_thread_leaks_the_state_and_reports_it() {
    ffi_callback::set_reporter(record_foreign_leaks);
    let drops = Arc::new(AtomicU32::new(0));
    let ud = Lamp(0, SendTracked(drops.clone())).boxed().into_raw();
    // SAFETY: the state C owns is alive until its `release`.
    assert_eq!(resume_panics(|| unsafe { Lamp::TICK(ud) }), 1);
    let address = ud as usize;
    let released = thread::spawn(move || {
        // SAFETY: C's last call on the state it owns, on another thread.
        unsafe { Lamp::RELEASE(address as *mut c_void) }
    })
    .join()
    .unwrap();
    assert_eq!(
        released, -1,
        "the body may not run there: C got the fallback"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 0, "not dropped elsewhere");
    let leaks = FOREIGN_LEAKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert!(
        leaks.iter().any(|name| name.contains("Beacon")),
        "the leak is reported: {leaks:?}"
    );
}

// ---------------------------------------------------------------------------
// A destroy with null user data: nothing to destroy
// ---------------------------------------------------------------------------

/// OpenSSL destroys every BIO of a method, its data set or not; GLib
/// calls a destroy-notify with the data it was given, null too. A destroy
/// entry (taking `self`, or marked `destroy`) called with null frees
/// nothing and raises nothing: C gets its fallback, as `free(NULL)` does
/// nothing.
#[test]
fn destroys_called_with_null_user_data_free_nothing_and_raise_nothing() {
    let (got, raised) = panics_during(|| {
        resume_panics(|| {
            // SAFETY: null, which every destroy takes as nothing to free.
            unsafe {
                [
                    <Probe as StreamExt>::CLOSE(ptr::null_mut()),
                    Closer::CLOSE(ptr::null_mut()),
                ]
            }
        })
    });
    assert_eq!(got, [-4, -4], "each entry's fallback");
    assert!(raised.is_empty(), "nothing refused: {raised:?}");
}

// ---------------------------------------------------------------------------
// `BoxedSet::with_mut`: the kept state, between C's calls
// ---------------------------------------------------------------------------

/// A timer as libuv or GLib keep one: C calls `tick` until told to stop,
/// and the binding changes what the next ticks do in between.
#[callback]
trait Ticking {
    #[callback(fallback = -1)]
    unsafe extern "C" fn tick(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Ticker {
    step: c_int,
    total: c_int,
    /// `tick` panics when `total` reaches this.
    panic_at: Option<c_int>,
    /// What `with_mut` gave `tick` when it tried to reach its own
    /// `BoxedSet` (parked in `KEPT_TICKER`).
    nested: Option<Option<c_int>>,
    _drops: Tracked,
}

thread_local! {
    /// Where a test parks its `BoxedSet<Ticker>` for `tick` to reach.
    static KEPT_TICKER: RefCell<Option<BoxedSet<Ticker>>> = const { RefCell::new(None) };
}

impl Ticking for Ticker {
    fn tick(&mut self) -> c_int {
        if self.panic_at == Some(self.total) {
            panic!("the tick failed");
        }
        self.total += self.step;
        // Reaching the state's own `BoxedSet` from inside the call.
        self.nested = KEPT_TICKER.with(|kept| {
            kept.try_borrow_mut()
                .ok()
                .and_then(|mut kept| kept.as_mut().map(|kept| kept.with_mut(|s| s.total)))
        });
        self.total
    }
}

fn ticker(drops: &Rc<Cell<u32>>) -> Ticker {
    Ticker {
        step: 1,
        total: 0,
        panic_at: None,
        nested: None,
        _drops: Tracked(drops.clone()),
    }
}

#[test]
fn with_mut_changes_a_kept_state_between_c_calls() {
    let drops = Rc::new(Cell::new(0));
    let mut kept = ticker(&drops).boxed();
    let ud = kept.user_data();
    // SAFETY: `ud` is the kept state's, alive while `kept` is.
    assert_eq!(unsafe { Ticker::TICK(ud) }, 1);
    assert_eq!(kept.with_mut(|state| state.step = 10), Some(()));
    assert_eq!(
        // SAFETY: as above.
        unsafe { Ticker::TICK(ud) },
        11,
        "C's next call sees the change"
    );
    assert_eq!(kept.with_mut(|state| state.total), Some(11));
    drop(kept);
    assert_eq!(drops.get(), 1);
}

#[test]
fn with_mut_from_inside_an_entry_gets_none() {
    let drops = Rc::new(Cell::new(0));
    let kept = ticker(&drops).boxed();
    let ud = kept.user_data();
    KEPT_TICKER.with(|parked| *parked.borrow_mut() = Some(kept));
    // SAFETY: `ud` is the parked state's, alive while it is parked.
    assert_eq!(unsafe { Ticker::TICK(ud) }, 1);
    let kept = KEPT_TICKER.with(|parked| parked.borrow_mut().take());
    let mut kept = kept.expect("parked");
    assert_eq!(
        kept.with_mut(|state| state.nested),
        Some(Some(None)),
        "inside the call, with_mut saw the call running"
    );
    drop(kept);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_call_c_makes_inside_with_mut_is_refused() {
    let drops = Rc::new(Cell::new(0));
    let mut kept = ticker(&drops).boxed();
    let ud = kept.user_data();
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `ud` is the kept state's, alive while `kept` is.
            kept.with_mut(|_| got = unsafe { Ticker::TICK(ud) })
        })
    });
    assert_eq!(got, -1, "the tick's fallback");
    assert!(
        message(&*payload).contains("Ticking::tick` refused the call"),
        "{}",
        message(&*payload)
    );
    // The guard has returned: the state runs again, unchanged.
    // SAFETY: as above.
    assert_eq!(unsafe { Ticker::TICK(ud) }, 1);
}

#[test]
fn with_mut_on_a_poisoned_state_gets_none_until_the_guard_returns() {
    let drops = Rc::new(Cell::new(0));
    let mut state = ticker(&drops);
    state.panic_at = Some(0);
    let mut kept = state.boxed();
    let ud = kept.user_data();
    let mut inside = None;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `ud` is the kept state's, alive while `kept` is.
            assert_eq!(unsafe { Ticker::TICK(ud) }, -1);
            inside = Some(kept.with_mut(|state| state.total));
        })
    });
    assert_eq!(message(&*payload), "the tick failed");
    assert_eq!(
        inside,
        Some(None),
        "poisoned while the guard keeps the panic"
    );
    assert_eq!(
        kept.with_mut(|state| {
            state.panic_at = None;
            state.total
        }),
        Some(0),
        "healed once the guard has returned"
    );
    // SAFETY: as above.
    assert_eq!(unsafe { Ticker::TICK(ud) }, 1);
}

#[test]
fn a_panic_in_with_mut_reaches_its_caller_and_leaves_the_state_usable() {
    let drops = Rc::new(Cell::new(0));
    let mut kept = ticker(&drops).boxed();
    let ud = kept.user_data();
    let payload = panic_payload(|| {
        kept.with_mut(|state| {
            state.step = 5;
            panic!("the binding's own panic")
        })
    });
    assert_eq!(message(&*payload), "the binding's own panic");
    assert_eq!(
        // SAFETY: `ud` is the kept state's, alive while `kept` is.
        unsafe { Ticker::TICK(ud) },
        5,
        "entered again, as `f` left it"
    );
    drop(kept);
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// `with_mut` against racing and nested calls (audit 20)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct SendUserData(*mut c_void);
// SAFETY: user data of a `sync` set, whose state is `Send + Sync`.
unsafe impl Send for SendUserData {}

#[callback(sync, on_panic = fallback)]
trait HitCounter {
    #[callback(fallback = -1)]
    unsafe extern "C" fn hit(&self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

struct RacedHits {
    total: AtomicI32,
    plain: i32,
}

impl HitCounter for RacedHits {
    fn hit(&self, n: c_int) -> c_int {
        // Reads the plain field: a data race with `with_mut`'s write if
        // both ran at once.
        self.total.fetch_add(n, Ordering::SeqCst) + self.plain
    }
}

/// A `sync` set's `&self` entry racing `with_mut` on another thread: every
/// call either runs (and `with_mut` then gets `None` or waits its turn) or
/// is refused (C gets -1); never both at once (Miri's race detector).
#[test]
fn with_mut_races_a_sync_entry_on_another_thread() {
    let mut kept = RacedHits {
        total: AtomicI32::new(0),
        plain: 0,
    }
    .boxed();
    let ud = SendUserData(kept.user_data());
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut got = 0;
    std::thread::scope(|s| {
        let done = &done;
        s.spawn(move || {
            let ud = ud;
            for _ in 0..20 {
                // SAFETY: `kept` outlives the scope; `sync` allows other threads.
                let _ = unsafe { RacedHits::HIT(ud.0, 1) };
            }
            done.store(true, Ordering::SeqCst);
        });
        for i in 0..20 {
            if kept.with_mut(|state| state.plain = i).is_some() {
                got += 1;
            }
        }
    });
    assert!(done.load(Ordering::SeqCst));
    assert!(got > 0);
}

#[callback]
trait KeptStream {
    #[callback(fallback = -1)]
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    #[callback(destroy, fallback = -2)]
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Conn {
    reads: c_int,
    closes: Cell<c_int>,
}

impl KeptStream for Conn {
    fn read(&mut self) -> c_int {
        self.reads += 1;
        self.reads
    }
    fn close(&mut self) -> c_int {
        self.closes.set(self.closes.get() + 1);
        0
    }
}

/// `f` makes C close the stream (a destroy-marked entry) on the kept
/// state: a plain call, refused as re-entry; the state stays and is
/// dropped once, by the `BoxedSet`.
#[test]
fn a_destroy_marked_entry_called_inside_with_mut_is_refused_and_frees_nothing() {
    let mut kept = Conn {
        reads: 0,
        closes: Cell::new(0),
    }
    .boxed();
    let ud = kept.user_data();
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `ud` is the kept state's, alive while `kept` is.
            kept.with_mut(|_| got = unsafe { Conn::CLOSE(ud) })
        })
    });
    assert_eq!(got, -2);
    assert!(
        message(&*payload).contains("refused"),
        "{}",
        message(&*payload)
    );
    // SAFETY: as above.
    assert_eq!(unsafe { Conn::READ(ud) }, 1);
    assert_eq!(kept.with_mut(|s| s.closes.get()), Some(0));
    // A null close is quiet (cedef1a): the fallback, nothing raised.
    // SAFETY: null.
    assert_eq!(unsafe { Conn::CLOSE(std::ptr::null_mut()) }, -2);
    drop(kept);
}

// ---------------------------------------------------------------------------
// Poisoned by two guards
// ---------------------------------------------------------------------------

/// A lent state poisoned by a panic the scope's guard keeps, then by a
/// refused destroy that an inner guard keeps and re-raises: it stays
/// poisoned until the scope's guard returns.
#[callback]
trait TwoGuards {
    unsafe extern "C" fn step(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

struct GuardedSteps(Rc<Cell<u32>>);

impl TwoGuards for GuardedSteps {
    fn step(&mut self, n: c_int) -> c_int {
        assert!(n != 1, "step 1 panics");
        self.0.set(self.0.get() + 1);
        n
    }
}

#[test]
fn a_refusal_kept_by_an_inner_guard_does_not_heal_the_outer_guards_poisoning() {
    let ran = Rc::new(Cell::new(0));
    let mut later = 0;
    let payload = panic_payload(|| {
        GuardedSteps(ran.clone()).scope(|ud| {
            // SAFETY: the lent state's user data, during `scope`.
            unsafe {
                // Panics: kept by the scope's guard, the state poisoned.
                GuardedSteps::STEP(ud, 1);
                // Code between C calls wraps one in a guard, and that C
                // call destroys the lent state: refused, the refusal kept
                // by the inner guard (which poisons with its own ticket),
                // and re-raised when it returns.
                let inner = panic_payload(|| resume_panics(|| GuardedSteps::DESTROY(ud)));
                assert!(message(&*inner).contains("refused"), "{}", message(&*inner));
                // The scope's guard still keeps step 1's panic.
                later = GuardedSteps::STEP(ud, 2);
            }
        })
    });
    assert_eq!(message(&*payload), "step 1 panics");
    assert_eq!(
        (later, ran.get()),
        (0, 0),
        "ran while the scope's guard kept its panic"
    );
}
