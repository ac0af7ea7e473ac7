//! libuv (the system library, apt `libuv1-dev`) driven through Rust
//! callbacks, as a binding like the `uv`/`libuv` crates writes them by hand:
//!
//! - handles (timers, idles, asyncs, pipes) whose state lives behind the
//!   handle's own `data` field, found by `user_data = EXPR`, as one
//!   `local` callback set: the handle's event entries (timer, idle, async,
//!   a stream's alloc and read) and its close callback (the set's destroy),
//!   which ends the state and with it the handle's memory; a timer that
//!   closes its own handle from its callback; a repeating timer as a
//!   stream, a one-shot timer as `sleep`, the close as a future;
//! - a Rust-owned timer closure (`boxed`), dropped by its owner between
//!   runs or from inside its own callback (the drop waits for the call);
//! - `uv_async_send` from other threads waking the loop;
//! - `uv_queue_work`: `work_cb` on a thread-pool thread and `after_work_cb`
//!   on the loop thread, a `send` set, its result as a future (a panic in
//!   the job carried to the loop thread); cancelled with `uv_cancel`;
//! - `uv_fs_*` and `uv_write` requests as once-callbacks behind
//!   `req->data`, as futures, driven by a small `block_on` that runs the
//!   loop; a request refused synchronously reclaimed; a future dropped
//!   before its callback;
//! - `uv_walk` with a lent closure and with a `#[callback]` fn, and the
//!   `Loop`'s `Drop` closing every handle through it;
//! - a `#[callback]` fn close callback taking its `Box` back from
//!   `handle->data`, also when a panic on the thread skips its body;
//! - panics and `Err`s in callbacks stop the loop (`uv_stop`, the guard's
//!   stop hook) and come back to the caller, typed.
//!
//! scripts/test-libuv.sh runs this binary under valgrind memcheck too.
#![allow(non_camel_case_types)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::pin::pin;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use ffi_callback::{
    CallbackFuture, Cancelled, Completion, callback, future, resume_panics, try_resume_with,
};

// ---------------------------------------------------------------------------
// libuv, declared by hand
// ---------------------------------------------------------------------------

/// `uv_loop_t`, opaque: allocated with `uv_loop_size()`.
#[repr(C)]
struct uv_loop_t {
    _opaque: [u8; 0],
}

/// The public head of every handle (`UV_HANDLE_FIELDS`): `data` first, as
/// libuv documents it ("libuv does not use and does not touch this
/// field"). The rest is private: handles are allocated with
/// `uv_handle_size(type)`.
#[repr(C)]
struct uv_handle_t {
    data: *mut c_void,
    loop_: *mut uv_loop_t,
    type_: c_int,
}

/// Each handle type begins with the handle's head.
#[repr(C)]
struct uv_timer_t {
    head: uv_handle_t,
}
#[repr(C)]
struct uv_idle_t {
    head: uv_handle_t,
}
#[repr(C)]
struct uv_async_t {
    head: uv_handle_t,
}
#[repr(C)]
struct uv_prepare_t {
    head: uv_handle_t,
}
#[repr(C)]
struct uv_stream_t {
    head: uv_handle_t,
}
#[repr(C)]
struct uv_pipe_t {
    head: uv_handle_t,
}
#[repr(C)]
struct uv_write_t {
    _opaque: [u8; 0],
}

/// Requests (`UV_REQ_FIELDS`: `data` first); reached through the
/// `uv_req_get_data` / `uv_req_set_data` accessors here.
#[repr(C)]
struct uv_req_t {
    _opaque: [u8; 0],
}
#[repr(C)]
struct uv_fs_t {
    _opaque: [u8; 0],
}
#[repr(C)]
struct uv_work_t {
    _opaque: [u8; 0],
}

/// `uv_buf_t` on Unix.
#[repr(C)]
struct uv_buf_t {
    base: *mut c_char,
    len: usize,
}

/// The head of `uv_stat_t` (all `uint64_t`), up to `st_size`.
#[repr(C)]
struct uv_stat_t {
    st_dev: u64,
    st_mode: u64,
    st_nlink: u64,
    st_uid: u64,
    st_gid: u64,
    st_rdev: u64,
    st_ino: u64,
    st_size: u64,
}

// uv_handle_type
const UV_ASYNC: c_int = 1;
const UV_IDLE: c_int = 6;
const UV_NAMED_PIPE: c_int = 7;
const UV_PREPARE: c_int = 9;
const UV_TIMER: c_int = 13;
// uv_req_type
const UV_WRITE: c_int = 3;
const UV_FS: c_int = 6;
const UV_WORK: c_int = 7;
// uv_run_mode
const UV_RUN_DEFAULT: c_int = 0;
const UV_RUN_ONCE: c_int = 1;
// errors (negated errno on Unix)
const UV_ENOENT: c_int = -2;
const UV_EINVAL: c_int = -22;
const UV_ECANCELED: c_int = -125;
const UV_EOF: c_int = -4095;
// open flags
const O_RDONLY: c_int = 0;

type uv_close_cb = unsafe extern "C" fn(*mut uv_handle_t);
type uv_timer_cb = unsafe extern "C" fn(*mut uv_timer_t);
type uv_idle_cb = unsafe extern "C" fn(*mut uv_idle_t);
type uv_async_cb = unsafe extern "C" fn(*mut uv_async_t);
type uv_prepare_cb = unsafe extern "C" fn(*mut uv_prepare_t);
type uv_walk_cb = unsafe extern "C" fn(*mut uv_handle_t, *mut c_void);
type uv_alloc_cb = unsafe extern "C" fn(*mut uv_handle_t, usize, *mut uv_buf_t);
type uv_read_cb = unsafe extern "C" fn(*mut uv_stream_t, isize, *const uv_buf_t);
type uv_write_cb = unsafe extern "C" fn(*mut uv_write_t, c_int);
type uv_fs_cb = unsafe extern "C" fn(*mut uv_fs_t);
type uv_work_cb = unsafe extern "C" fn(*mut uv_work_t);
type uv_after_work_cb = unsafe extern "C" fn(*mut uv_work_t, c_int);

#[link(name = "uv")]
unsafe extern "C" {
    fn uv_loop_size() -> usize;
    fn uv_loop_init(lp: *mut uv_loop_t) -> c_int;
    fn uv_loop_close(lp: *mut uv_loop_t) -> c_int;
    fn uv_run(lp: *mut uv_loop_t, mode: c_int) -> c_int;
    fn uv_loop_alive(lp: *const uv_loop_t) -> c_int;
    fn uv_stop(lp: *mut uv_loop_t);
    fn uv_walk(lp: *mut uv_loop_t, cb: Option<uv_walk_cb>, arg: *mut c_void);

    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_handle_get_type(handle: *const uv_handle_t) -> c_int;
    fn uv_is_closing(handle: *const uv_handle_t) -> c_int;
    fn uv_close(handle: *mut uv_handle_t, cb: Option<uv_close_cb>);

    fn uv_timer_init(lp: *mut uv_loop_t, timer: *mut uv_timer_t) -> c_int;
    fn uv_timer_start(
        timer: *mut uv_timer_t,
        cb: Option<uv_timer_cb>,
        timeout: u64,
        repeat: u64,
    ) -> c_int;
    fn uv_timer_stop(timer: *mut uv_timer_t) -> c_int;

    fn uv_idle_init(lp: *mut uv_loop_t, idle: *mut uv_idle_t) -> c_int;
    fn uv_idle_start(idle: *mut uv_idle_t, cb: Option<uv_idle_cb>) -> c_int;

    fn uv_async_init(lp: *mut uv_loop_t, handle: *mut uv_async_t, cb: Option<uv_async_cb>)
    -> c_int;
    fn uv_async_send(handle: *mut uv_async_t) -> c_int;

    fn uv_prepare_init(lp: *mut uv_loop_t, prepare: *mut uv_prepare_t) -> c_int;
    fn uv_prepare_start(prepare: *mut uv_prepare_t, cb: Option<uv_prepare_cb>) -> c_int;

    fn uv_pipe_init(lp: *mut uv_loop_t, pipe: *mut uv_pipe_t, ipc: c_int) -> c_int;
    fn uv_pipe_open(pipe: *mut uv_pipe_t, fd: c_int) -> c_int;
    fn uv_read_start(
        stream: *mut uv_stream_t,
        alloc: Option<uv_alloc_cb>,
        read: Option<uv_read_cb>,
    ) -> c_int;
    fn uv_write(
        req: *mut uv_write_t,
        stream: *mut uv_stream_t,
        bufs: *const uv_buf_t,
        nbufs: c_uint,
        cb: Option<uv_write_cb>,
    ) -> c_int;

    fn uv_req_size(kind: c_int) -> usize;
    fn uv_req_get_data(req: *const uv_req_t) -> *mut c_void;
    fn uv_req_set_data(req: *mut uv_req_t, data: *mut c_void);
    fn uv_cancel(req: *mut uv_req_t) -> c_int;

    fn uv_queue_work(
        lp: *mut uv_loop_t,
        req: *mut uv_work_t,
        work: Option<uv_work_cb>,
        after_work: Option<uv_after_work_cb>,
    ) -> c_int;

    fn uv_fs_open(
        lp: *mut uv_loop_t,
        req: *mut uv_fs_t,
        path: *const c_char,
        flags: c_int,
        mode: c_int,
        cb: Option<uv_fs_cb>,
    ) -> c_int;
    fn uv_fs_read(
        lp: *mut uv_loop_t,
        req: *mut uv_fs_t,
        file: c_int,
        bufs: *const uv_buf_t,
        nbufs: c_uint,
        offset: i64,
        cb: Option<uv_fs_cb>,
    ) -> c_int;
    fn uv_fs_close(
        lp: *mut uv_loop_t,
        req: *mut uv_fs_t,
        file: c_int,
        cb: Option<uv_fs_cb>,
    ) -> c_int;
    fn uv_fs_stat(
        lp: *mut uv_loop_t,
        req: *mut uv_fs_t,
        path: *const c_char,
        cb: Option<uv_fs_cb>,
    ) -> c_int;
    fn uv_fs_get_result(req: *const uv_fs_t) -> isize;
    fn uv_fs_get_statbuf(req: *mut uv_fs_t) -> *mut uv_stat_t;
    fn uv_fs_req_cleanup(req: *mut uv_fs_t);

    fn uv_err_name(err: c_int) -> *const c_char;
}

// ---------------------------------------------------------------------------
// The binding's error type
// ---------------------------------------------------------------------------

/// What the binding returns: a libuv error code, or the application's own
/// error, returned by a callback and carried out of the loop.
#[derive(Debug, PartialEq)]
enum Error {
    Uv(c_int),
    App(String),
}

impl Error {
    fn name(&self) -> String {
        match self {
            // SAFETY: uv_err_name returns a static string (or a leaked
            // "Unknown system error" one) for any code.
            Error::Uv(code) => unsafe { CStr::from_ptr(uv_err_name(*code)) }
                .to_string_lossy()
                .into_owned(),
            Error::App(message) => message.clone(),
        }
    }
}

fn check(rc: c_int) -> Result<c_int, Error> {
    if rc < 0 { Err(Error::Uv(rc)) } else { Ok(rc) }
}

// ---------------------------------------------------------------------------
// Memory for opaque handles and requests
// ---------------------------------------------------------------------------

/// A zeroed block of `uv_handle_size()` / `uv_req_size()` bytes.
struct Mem {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: plain memory; who may touch it is the owner's business (a work
// request's state moves to the pool thread with it).
unsafe impl Send for Mem {}

impl Mem {
    fn new(size: usize) -> Mem {
        let layout = Layout::from_size_align(size, 16).expect("a handle's size");
        // SAFETY: libuv's sizes are never 0.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Mem { ptr, layout }
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Counts drops.
struct Tracked(Rc<Cell<u32>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn tracked() -> (Tracked, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    (Tracked(drops.clone()), drops)
}

/// A panic payload the tests recognise.
#[derive(Debug, PartialEq)]
struct Boom(&'static str);

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload,
    }
}

// ---------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------

/// An event loop; dropping it closes every handle the binding made (its
/// close callbacks free their state) and closes the loop.
struct Loop {
    raw: *mut uv_loop_t,
    _mem: Mem,
}

impl Loop {
    fn new() -> Loop {
        // SAFETY: a size query.
        let mem = Mem::new(unsafe { uv_loop_size() });
        let raw = mem.ptr.cast::<uv_loop_t>();
        // SAFETY: `uv_loop_size()` bytes, not yet a loop.
        check(unsafe { uv_loop_init(raw) }).expect("uv_loop_init");
        Loop { raw, _mem: mem }
    }

    /// Runs the loop in `mode`. A callback's panic stops the loop (its
    /// `uv_stop` makes `uv_run` return after this iteration) and is resumed
    /// here; a callback's `Err` does the same and is returned.
    fn run_mode(&self, mode: c_int) -> Result<c_int, Error> {
        let raw = self.raw;
        // SAFETY: a live loop, run on its thread; every callback's state
        // lives until its close (or after-work, or once) callback.
        try_resume_with(|| unsafe { uv_run(raw, mode) }, || unsafe { uv_stop(raw) })
    }

    fn run(&self) -> Result<c_int, Error> {
        self.run_mode(UV_RUN_DEFAULT)
    }

    /// Runs the loop until `fut` is ready.
    fn block_on<T>(&self, fut: impl Future<Output = T>) -> Result<T, Error> {
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(value) = fut.as_mut().poll(&mut cx) {
                return Ok(value);
            }
            // SAFETY: a live loop.
            if unsafe { uv_loop_alive(self.raw) } == 0 {
                panic!("the loop has nothing left to do and the future is pending");
            }
            self.run_mode(UV_RUN_ONCE)?;
        }
    }

    /// Every handle of the loop, lent to `f` for the walk.
    fn walk(&self, mut f: impl FnMut(Handle)) {
        // SAFETY: a live loop; the walk calls back during the call only.
        WalkCb::scope(
            |handle| f(Handle(handle)),
            |walk, arg| unsafe { uv_walk(self.raw, Some(walk), arg) },
        );
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // Close what is still open, let the close callbacks free it.
        self.walk(|handle| {
            if !handle.is_closing() {
                handle.close();
            }
        });
        let raw = self.raw;
        // SAFETY: a live loop; only close callbacks are left.
        resume_panics(|| unsafe { uv_run(raw, UV_RUN_DEFAULT) });
        // SAFETY: every handle is closed.
        let rc = unsafe { uv_loop_close(raw) };
        if !thread::panicking() {
            assert_eq!(rc, 0, "uv_loop_close: {}", Error::Uv(rc).name());
        }
    }
}

/// `uv_walk_cb`: the loop's handles, user data last.
#[callback]
type WalkCb = unsafe extern "C" fn(handle: *mut uv_handle_t, #[user_data] arg: *mut c_void);

// ---------------------------------------------------------------------------
// Handles: one callback set per handle, its state behind `handle->data`
// ---------------------------------------------------------------------------

/// A handle's callbacks. The state is found through the handle's own
/// `data` field; `close` (`uv_close`'s callback) is the destroy: it ends
/// the state, which frees the handle's memory.
#[callback(
    local,
    // SAFETY: every handle that reaches these entries was made by
    // `HandleState::open`, which set `data` to the state's user data.
    user_data = unsafe { (*handle.cast::<uv_handle_t>()).data },
)]
trait HandleCallbacks {
    /// `uv_timer_cb`.
    unsafe extern "C" fn timer(&mut self, handle: *mut uv_timer_t) -> Result<(), Error>;
    /// `uv_idle_cb`.
    unsafe extern "C" fn idle(&mut self, handle: *mut uv_idle_t) -> Result<(), Error>;
    /// `uv_async_cb`.
    unsafe extern "C" fn wake(&mut self, handle: *mut uv_async_t) -> Result<(), Error>;
    /// `uv_alloc_cb`: where the next read goes (the state's own buffer).
    unsafe extern "C" fn alloc(
        &mut self,
        handle: *mut uv_handle_t,
        suggested_size: usize,
        #[into(&mut uv_buf_t)] buf: *mut uv_buf_t,
    );
    /// `uv_read_cb`: `nread` bytes in the buffer `alloc` gave, or an error
    /// (`UV_EOF`). The buffer is left raw: its bytes are the state's own.
    unsafe extern "C" fn read(
        &mut self,
        handle: *mut uv_stream_t,
        nread: isize,
        buf: *const uv_buf_t,
    ) -> Result<(), Error>;
    /// `uv_close_cb`: the last call.
    unsafe extern "C" fn close(self, handle: *mut uv_handle_t);
}

type EventFn = Box<dyn FnMut(Handle) -> Result<(), Error>>;
type ReadFn = Box<dyn FnMut(Handle, Result<&[u8], Error>) -> Result<(), Error>>;

/// What the binding hangs on a handle.
#[derive(Default)]
struct Parts {
    on_event: Option<EventFn>,
    on_read: Option<ReadFn>,
    on_close: Option<Box<dyn FnOnce()>>,
}

/// What a handle's `data` leads to.
struct HandleState {
    parts: Parts,
    /// A stream's read buffer, handed out by `alloc`.
    buffer: Vec<u8>,
    /// The handle itself: freed when the state drops, in the close callback.
    _mem: Mem,
}

impl HandleState {
    fn event(&mut self, handle: *mut uv_handle_t) -> Result<(), Error> {
        match &mut self.parts.on_event {
            Some(on_event) => on_event(Handle(handle)),
            None => Ok(()),
        }
    }
}

impl HandleCallbacks for HandleState {
    fn timer(&mut self, handle: *mut uv_timer_t) -> Result<(), Error> {
        self.event(handle.cast())
    }
    fn idle(&mut self, handle: *mut uv_idle_t) -> Result<(), Error> {
        self.event(handle.cast())
    }
    fn wake(&mut self, handle: *mut uv_async_t) -> Result<(), Error> {
        self.event(handle.cast())
    }
    fn alloc(&mut self, _handle: *mut uv_handle_t, suggested_size: usize, buf: &mut uv_buf_t) {
        self.buffer.resize(suggested_size, 0);
        buf.base = self.buffer.as_mut_ptr().cast();
        buf.len = self.buffer.len();
    }
    fn read(
        &mut self,
        handle: *mut uv_stream_t,
        nread: isize,
        _buf: *const uv_buf_t,
    ) -> Result<(), Error> {
        let data = if nread < 0 {
            Err(Error::Uv(nread as c_int))
        } else {
            Ok(&self.buffer[..nread as usize])
        };
        match &mut self.parts.on_read {
            Some(on_read) => on_read(Handle(handle.cast()), data),
            None => Ok(()),
        }
    }
    fn close(self, _handle: *mut uv_handle_t) {
        if let Some(on_close) = self.parts.on_close {
            on_close();
        }
    }
}

impl HandleState {
    /// Allocates a handle of `kind`, initialises it with `init`, and hangs
    /// the state on its `data`.
    fn open(
        lp: &Loop,
        kind: c_int,
        parts: Parts,
        init: impl FnOnce(*mut uv_loop_t, *mut uv_handle_t) -> c_int,
    ) -> Result<Handle, Error> {
        // SAFETY: a size query.
        let mem = Mem::new(unsafe { uv_handle_size(kind) });
        let handle = mem.ptr.cast::<uv_handle_t>();
        // A failed init leaves nothing registered: `mem` is simply freed.
        check(init(lp.raw, handle))?;
        let state = HandleState {
            parts,
            buffer: Vec::new(),
            _mem: mem,
        };
        // SAFETY: an initialised handle, whose `data` libuv leaves to us.
        unsafe { (*handle).data = state.boxed().into_raw() };
        Ok(Handle(handle))
    }
}

/// A handle made by the binding: a copyable reference, valid until its
/// close callback has run.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Handle(*mut uv_handle_t);

impl Handle {
    fn kind(self) -> c_int {
        // SAFETY: a live handle.
        unsafe { uv_handle_get_type(self.0) }
    }
    fn is_closing(self) -> bool {
        // SAFETY: a live handle.
        unsafe { uv_is_closing(self.0) != 0 }
    }
    /// `uv_close`: the close callback ends the state. Only for handles
    /// made by `HandleState::open` (their `data` is a `HandleState`).
    fn close(self) {
        match self.kind() {
            // SAFETY: a live handle made by `HandleState::open`, not closing.
            UV_TIMER | UV_IDLE | UV_ASYNC | UV_NAMED_PIPE => unsafe {
                uv_close(self.0, Some(HandleState::CLOSE))
            },
            other => panic!("not a binding handle: type {other}"),
        }
    }
    fn timer(self) -> *mut uv_timer_t {
        assert_eq!(self.kind(), UV_TIMER);
        self.0.cast()
    }
    /// `uv_timer_start`.
    fn start_timer(self, timeout: u64, repeat: u64) -> Result<(), Error> {
        // SAFETY: a live timer made by `HandleState::open`.
        check(unsafe { uv_timer_start(self.timer(), Some(HandleState::TIMER), timeout, repeat) })
            .map(drop)
    }
    /// `uv_timer_stop`.
    fn stop_timer(self) {
        // SAFETY: a live timer.
        unsafe { uv_timer_stop(self.timer()) };
    }
}

/// `uv_timer_init` + `uv_timer_start`.
fn timer(
    lp: &Loop,
    timeout: u64,
    repeat: u64,
    f: impl FnMut(Handle) -> Result<(), Error> + 'static,
) -> Result<Handle, Error> {
    timer_on_close(lp, timeout, repeat, f, None)
}

/// `timer`, with what the close callback runs.
fn timer_on_close(
    lp: &Loop,
    timeout: u64,
    repeat: u64,
    f: impl FnMut(Handle) -> Result<(), Error> + 'static,
    on_close: Option<Box<dyn FnOnce()>>,
) -> Result<Handle, Error> {
    // SAFETY: a live loop and `uv_handle_size(UV_TIMER)` bytes.
    let handle = HandleState::open(
        lp,
        UV_TIMER,
        Parts {
            on_event: Some(Box::new(f)),
            on_close,
            ..Parts::default()
        },
        |lp, h| unsafe { uv_timer_init(lp, h.cast()) },
    )?;
    handle.start_timer(timeout, repeat)?;
    Ok(handle)
}

/// `uv_idle_init` + `uv_idle_start`.
fn idle(lp: &Loop, f: impl FnMut(Handle) -> Result<(), Error> + 'static) -> Result<Handle, Error> {
    // SAFETY: as for `timer`.
    let handle = HandleState::open(
        lp,
        UV_IDLE,
        Parts {
            on_event: Some(Box::new(f)),
            ..Parts::default()
        },
        |lp, h| unsafe { uv_idle_init(lp, h.cast()) },
    )?;
    // SAFETY: a live idle made by `open`.
    check(unsafe { uv_idle_start(handle.0.cast(), Some(HandleState::IDLE)) })?;
    Ok(handle)
}

/// The thread-safe half of an async handle: `uv_async_send` is the one
/// libuv call allowed from any thread.
#[derive(Clone, Copy)]
struct AsyncSender(*mut uv_async_t);

// SAFETY: only `uv_async_send` is called through it, which libuv allows
// from any thread; the tests join the senders before the handle closes.
unsafe impl Send for AsyncSender {}

impl AsyncSender {
    fn send(self) {
        // SAFETY: the handle is alive while senders run (see above).
        check(unsafe { uv_async_send(self.0) }).expect("uv_async_send");
    }
}

/// `uv_async_init`.
fn async_handle(
    lp: &Loop,
    f: impl FnMut(Handle) -> Result<(), Error> + 'static,
) -> Result<(Handle, AsyncSender), Error> {
    // SAFETY: as for `timer`; the callback is the set's `wake` entry.
    let handle = HandleState::open(
        lp,
        UV_ASYNC,
        Parts {
            on_event: Some(Box::new(f)),
            ..Parts::default()
        },
        |lp, h| unsafe { uv_async_init(lp, h.cast(), Some(HandleState::WAKE)) },
    )?;
    Ok((handle, AsyncSender(handle.0.cast())))
}

// ---------------------------------------------------------------------------
// Requests: `uv_fs_*`, a once-callback behind `req->data`, as a future
// ---------------------------------------------------------------------------

/// `uv_fs_cb`: the request's `data` leads to the closure.
#[callback(
    // SAFETY: every fs request reaching it was made by `fs_request`, which
    // set `data` to the once-callback's user data.
    user_data = unsafe { uv_req_get_data(req.cast()) },
)]
type FsCb = unsafe extern "C" fn(req: *mut uv_fs_t);

/// Starts one fs request: `start` gets the request and the callback and
/// makes the `uv_fs_*` call; `finish` reads the result in the callback.
/// The future resolves to it; the request's memory is freed by the
/// callback (or at once, if libuv refuses the request synchronously).
fn fs_request<T: 'static>(
    lp: &Loop,
    keep: impl Any,
    start: impl FnOnce(*mut uv_loop_t, *mut uv_fs_t, uv_fs_cb) -> c_int,
    finish: impl FnOnce(*mut uv_fs_t, isize) -> Result<T, Error> + 'static,
) -> Result<CallbackFuture<Result<T, Error>>, Error> {
    // SAFETY: a size query.
    let mem = Mem::new(unsafe { uv_req_size(UV_FS) });
    let req = mem.ptr.cast::<uv_fs_t>();
    let (once, fut) = future(|done: Completion<Result<T, Error>>| {
        FsCb::once(move |req: *mut uv_fs_t| {
            let _keep = keep; // buffers and paths libuv reads until now
            // SAFETY: libuv passes the finished request.
            let result = unsafe { uv_fs_get_result(req) };
            let value = if result < 0 {
                Err(Error::Uv(result as c_int))
            } else {
                finish(req, result)
            };
            // SAFETY: the request is done; its memory is freed right after.
            unsafe { uv_fs_req_cleanup(req) };
            drop(mem);
            done.complete(value);
        })
    });
    let raw = once.into_raw();
    // SAFETY: our request's memory; libuv leaves `data` to us.
    unsafe { uv_req_set_data(req.cast(), raw.user_data) };
    let rc = start(lp.raw, req, raw.function);
    if rc < 0 {
        // SAFETY: libuv refused the request: the callback will never run.
        unsafe { raw.reclaim() };
        return Err(Error::Uv(rc));
    }
    Ok(fut)
}

/// `uv_fs_stat`: the file's size.
fn stat_size(lp: &Loop, path: &str) -> Result<CallbackFuture<Result<u64, Error>>, Error> {
    let path = CString::new(path).expect("no NUL");
    let p = path.as_ptr();
    fs_request(
        lp,
        path,
        // SAFETY: `path` is kept alive by the callback's closure.
        move |lp, req, cb| unsafe { uv_fs_stat(lp, req, p, Some(cb)) },
        // SAFETY: a finished stat request.
        |req, _| Ok(unsafe { (*uv_fs_get_statbuf(req)).st_size }),
    )
}

/// `uv_fs_open`: the file.
fn open(lp: &Loop, path: &str) -> Result<CallbackFuture<Result<c_int, Error>>, Error> {
    let path = CString::new(path).expect("no NUL");
    let p = path.as_ptr();
    fs_request(
        lp,
        path,
        // SAFETY: as for `stat_size`.
        move |lp, req, cb| unsafe { uv_fs_open(lp, req, p, O_RDONLY, 0, Some(cb)) },
        |_, fd| Ok(fd as c_int),
    )
}

/// `uv_fs_read` of up to `len` bytes at `offset`. `nbufs = 0` when `len`
/// is 0, which libuv refuses synchronously (`UV_EINVAL`).
fn read(
    lp: &Loop,
    fd: c_int,
    len: usize,
    offset: i64,
) -> Result<CallbackFuture<Result<Vec<u8>, Error>>, Error> {
    let buf = Rc::new(RefCell::new(vec![0u8; len]));
    let uv_buf = uv_buf_t {
        base: buf.borrow_mut().as_mut_ptr().cast(),
        len,
    };
    let nbufs = if len == 0 { 0 } else { 1 };
    let out = buf.clone();
    fs_request(
        lp,
        buf,
        // SAFETY: the buffer is kept alive by the callback's closure;
        // libuv copies the `uv_buf_t` itself.
        move |lp, req, cb| unsafe { uv_fs_read(lp, req, fd, &uv_buf, nbufs, offset, Some(cb)) },
        move |_, n| {
            let mut data = out.take();
            data.truncate(n as usize);
            Ok(data)
        },
    )
}

/// `uv_fs_close`.
fn close_file(lp: &Loop, fd: c_int) -> Result<CallbackFuture<Result<(), Error>>, Error> {
    fs_request(
        lp,
        (),
        // SAFETY: a live loop.
        move |lp, req, cb| unsafe { uv_fs_close(lp, req, fd, Some(cb)) },
        |_, _| Ok(()),
    )
}

/// A future's value, or `Cancelled` as the binding's error.
fn settled<T>(value: Result<Result<T, Error>, Cancelled>) -> Result<T, Error> {
    value.unwrap_or(Err(Error::Uv(UV_ECANCELED)))
}

// ---------------------------------------------------------------------------
// The thread pool: `uv_queue_work`
// ---------------------------------------------------------------------------

/// `uv_work_cb` runs on a thread-pool thread, `uv_after_work_cb` on the
/// loop thread afterwards: one state, called from two threads, one call at
/// a time (`send`). `after_work` is the destroy.
#[callback(
    send,
    // SAFETY: every work request reaching it was made by `queue_work`.
    user_data = unsafe { uv_req_get_data(req.cast()) },
)]
trait WorkCallbacks {
    /// `uv_work_cb`: a panic here aborts (`send`'s default); the job's own
    /// panics are carried to the future by `complete_catching`.
    unsafe extern "C" fn work(&mut self, req: *mut uv_work_t);
    /// `uv_after_work_cb`: on the loop thread, inside `uv_run`'s guard.
    #[callback(on_panic = resume)]
    unsafe extern "C" fn after_work(self, req: *mut uv_work_t, status: c_int);
}

struct WorkState<F, T> {
    job: Option<F>,
    done: Option<Completion<Result<T, Error>>>,
    /// The request: freed with the state, in `after_work`.
    _mem: Mem,
    after: Option<Box<dyn FnOnce(c_int) + Send>>,
}

impl<F: FnOnce() -> T + Send + 'static, T: Send + 'static> WorkCallbacks for WorkState<F, T> {
    fn work(&mut self, _req: *mut uv_work_t) {
        if let (Some(job), Some(done)) = (self.job.take(), self.done.take()) {
            done.complete_catching(move || Ok(job()));
        }
    }
    fn after_work(self, _req: *mut uv_work_t, status: c_int) {
        if let Some(after) = self.after {
            after(status);
        }
        // Cancelled: the job never ran; its completion says so.
        if let Some(done) = self.done {
            done.complete(Err(Error::Uv(status)));
        }
    }
}

/// libuv's thread-pool size: 4, or `UV_THREADPOOL_SIZE`.
fn pool_threads() -> usize {
    std::env::var("UV_THREADPOOL_SIZE")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(4, |n| n.clamp(1, 1024))
}

/// Held by the tests that occupy pool threads until something happens,
/// so that they cannot starve each other.
fn pool_lock() -> std::sync::MutexGuard<'static, ()> {
    static POOL: Mutex<()> = Mutex::new(());
    POOL.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What `queue_work` resolves to.
type WorkFuture<T> = CallbackFuture<Result<T, Error>>;

/// `uv_queue_work`: `job` runs on the thread pool; the future resolves to
/// its value (its panic, resumed where the future is polled), or to
/// `Err(UV_ECANCELED)` if `uv_cancel` got it first.
fn queue_work<F: FnOnce() -> T + Send + 'static, T: Send + 'static>(
    lp: &Loop,
    job: F,
    after: Option<Box<dyn FnOnce(c_int) + Send>>,
) -> Result<(WorkFuture<T>, *mut uv_work_t), Error> {
    // SAFETY: a size query.
    let mem = Mem::new(unsafe { uv_req_size(UV_WORK) });
    let req = mem.ptr.cast::<uv_work_t>();
    let (boxed, fut) = future(|done| {
        WorkState {
            job: Some(job),
            done: Some(done),
            _mem: mem,
            after,
        }
        .boxed()
    });
    // SAFETY: our request; libuv leaves `data` to us.
    unsafe { uv_req_set_data(req.cast(), boxed.user_data()) };
    // SAFETY: a live loop; the state lives until `after_work`, which libuv
    // always calls once the request was queued.
    let rc = unsafe {
        uv_queue_work(
            lp.raw,
            req,
            Some(WorkState::<F, T>::WORK),
            Some(WorkState::<F, T>::AFTER_WORK),
        )
    };
    if rc < 0 {
        // Never queued: no entry will run; the state is still ours.
        drop(boxed);
        return Err(Error::Uv(rc));
    }
    // Queued: `after_work` ends the state.
    let _ = boxed.into_raw();
    Ok((fut, req))
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn repeating_timer_as_a_stream_ends_when_the_handle_closes() {
    let lp = Loop::new();
    let (t, mut ticks) = ffi_callback::stream(|tx| {
        let mut n = 0;
        timer(&lp, 0, 1, move |handle| {
            n += 1;
            tx.send(n);
            if n == 3 {
                // The sender goes with the state, in the close callback:
                // that ends the stream.
                handle.close();
            }
            Ok(())
        })
    });
    t.unwrap();
    let got = lp
        .block_on(async {
            let mut got = Vec::new();
            while let Some(n) = ticks.recv().await {
                got.push(n);
            }
            got
        })
        .unwrap();
    assert_eq!(got, [1, 2, 3]);

    // Stopped from its own callback and restarted from outside; the
    // stream dropped early: later sends are dropped.
    let (t, ticks) = ffi_callback::stream(|tx| {
        let mut n = 0;
        timer(&lp, 0, 1, move |handle| {
            n += 1;
            tx.send(n);
            if n == 2 {
                handle.stop_timer();
            }
            Ok(())
        })
    });
    let t = t.unwrap();
    assert_eq!(lp.run(), Ok(0));
    drop(ticks);
    t.start_timer(0, 0).unwrap();
    assert_eq!(lp.run(), Ok(0));
    t.close();
    assert_eq!(lp.run(), Ok(0));
}

#[test]
fn timer_closes_its_own_handle_from_its_callback() {
    let lp = Loop::new();
    let (track, drops) = tracked();
    let seen_in_callback = Rc::new(Cell::new(u32::MAX));
    let (d, seen) = (drops.clone(), seen_in_callback.clone());
    timer(&lp, 0, 1, move |handle| {
        let _ = &track;
        handle.close();
        // uv_close only schedules: the state is still ours for this call.
        seen.set(d.get());
        assert!(handle.is_closing());
        Ok(())
    })
    .unwrap();
    assert_eq!(lp.run(), Ok(0), "the closed repeating timer ends the loop");
    assert_eq!(seen_in_callback.get(), 0, "not dropped under its own call");
    assert_eq!(drops.get(), 1, "dropped by the close callback");
}

#[test]
fn idle_runs_each_iteration_until_it_closes_itself() {
    let lp = Loop::new();
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    idle(&lp, move |handle| {
        let _ = &track;
        c.set(c.get() + 1);
        if c.get() == 5 {
            handle.close();
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(lp.run(), Ok(0));
    assert_eq!((calls.get(), drops.get()), (5, 1));
}

#[test]
fn async_send_from_other_threads_delivers_every_payload() {
    let lp = Loop::new();
    let queue: Arc<Mutex<Vec<u32>>> = Arc::default();
    let received = Rc::new(RefCell::new(Vec::new()));
    let wakeups = Rc::new(Cell::new(0));
    let (q, r, w) = (queue.clone(), received.clone(), wakeups.clone());
    let loop_thread = thread::current().id();
    let (_, sender) = async_handle(&lp, move |handle| {
        assert_eq!(
            thread::current().id(),
            loop_thread,
            "async callbacks run on the loop thread"
        );
        w.set(w.get() + 1);
        let batch = std::mem::take(&mut *q.lock().unwrap());
        let mut r = r.borrow_mut();
        r.extend(batch);
        if r.len() == 400 {
            handle.close();
        }
        Ok(())
    })
    .unwrap();
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let queue = queue.clone();
            thread::spawn(move || {
                for i in 0..100 {
                    queue.lock().unwrap().push(t * 1000 + i);
                    sender.send();
                }
            })
        })
        .collect();
    // The loop runs while the threads send; the async handle keeps it alive
    // until its callback has seen all 400 and closed it.
    assert_eq!(lp.run(), Ok(0));
    for s in senders {
        s.join().unwrap();
    }
    let mut got = received.borrow().clone();
    got.sort_unstable();
    let mut want: Vec<u32> = (0..4)
        .flat_map(|t| (0..100).map(move |i| t * 1000 + i))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);
    assert!(
        (1..=400).contains(&wakeups.get()),
        "sends coalesce: {} wakeups",
        wakeups.get()
    );
}

#[test]
fn loop_on_its_own_thread_is_woken_by_async_send_from_main() {
    let (tx, rx) = mpsc::channel::<AsyncSender>();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let runner = thread::spawn(move || {
        let lp = Loop::new();
        let (_, sender) = async_handle(&lp, move |handle| {
            if c.fetch_add(1, Ordering::SeqCst) + 1 >= 3 {
                handle.close();
            }
            Ok(())
        })
        .unwrap();
        tx.send(sender).unwrap();
        lp.run()
    });
    let sender = rx.recv().unwrap();
    // Each send waits for the wakeup it caused, so none coalesce.
    for n in 1..=3 {
        sender.send();
        while counter.load(Ordering::SeqCst) < n {
            thread::yield_now();
        }
    }
    assert_eq!(runner.join().unwrap(), Ok(0));
    assert_eq!(counter.load(Ordering::SeqCst), 3);
}

#[test]
fn panic_in_timer_stops_a_loop_kept_alive_by_an_idle_and_is_resumed() {
    let lp = Loop::new();
    let ticks = Rc::new(Cell::new(0));
    let idles = Rc::new(Cell::new(0));
    let (t, i) = (ticks.clone(), idles.clone());
    // Never stops by itself: without the guard's uv_stop the loop spins.
    idle(&lp, move |_| {
        i.set(i.get() + 1);
        Ok(())
    })
    .unwrap();
    timer(&lp, 0, 1, move |_| {
        t.set(t.get() + 1);
        if t.get() == 2 {
            panic_any(Boom("tick 2"));
        }
        Ok(())
    })
    .unwrap();
    let payload = payload_of(|| lp.run());
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("tick 2")));
    assert_eq!(ticks.get(), 2);
    // The holder runs again once the panic has reached us: run until the
    // timer ticks again (UV_RUN_ONCE may run the timers twice: libuv runs
    // them again at the end of a ONCE iteration).
    while ticks.get() == 2 {
        lp.run_mode(UV_RUN_ONCE).unwrap();
    }
    assert!(ticks.get() >= 3);
    // Drop closes the idle and the timer.
}

#[test]
fn err_from_timer_stops_the_loop_and_comes_back_typed() {
    let lp = Loop::new();
    idle(&lp, |_| Ok(())).unwrap();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    timer(&lp, 0, 1, move |_| {
        t.set(t.get() + 1);
        if t.get() == 3 {
            Err(Error::App(format!("tick {}", t.get())))
        } else {
            Ok(())
        }
    })
    .unwrap();
    assert_eq!(lp.run(), Err(Error::App("tick 3".into())));
    assert_eq!(ticks.get(), 3);
}

#[test]
fn panic_in_close_callback_still_frees_the_state_and_is_resumed() {
    let lp = Loop::new();
    let (track, drops) = tracked();
    let t = timer_on_close(
        &lp,
        0,
        0,
        move |_| {
            let _ = &track;
            Ok(())
        },
        Some(Box::new(|| panic_any(Boom("close")))),
    )
    .unwrap();
    lp.run().unwrap();
    t.close();
    let payload = payload_of(|| lp.run());
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("close")));
    assert_eq!(
        drops.get(),
        1,
        "the state (and the handle's memory) freed anyway"
    );
}

#[test]
fn handle_with_null_data_is_refused_not_dereferenced() {
    let lp = Loop::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let t = timer(&lp, 0, 0, move |_| {
        c.set(c.get() + 1);
        Ok(())
    })
    .unwrap();
    // A binding bug: the handle's data is lost.
    // SAFETY: a live handle; the state is put back below.
    let saved = unsafe { std::mem::replace(&mut (*t.0).data, ptr::null_mut()) };
    let payload = payload_of(|| lp.run());
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("null"),
        "the refusal names null user data: {message:?}"
    );
    assert_eq!(calls.get(), 0);
    // SAFETY: restored, so that the close callback frees it.
    unsafe { (*t.0).data = saved };
}

#[test]
fn walk_lists_every_handle_with_a_closure_or_a_fn_and_the_drop_closes_them_all() {
    let (track, drops) = tracked();
    let drops2 = Rc::new((track, Cell::new(0)));
    {
        let lp = Loop::new();
        let (a, b, c) = (drops2.clone(), drops2.clone(), drops2.clone());
        timer(&lp, 1_000_000, 0, move |_| {
            let _ = &a;
            Ok(())
        })
        .unwrap();
        idle(&lp, move |_| {
            let _ = &b;
            Ok(())
        })
        .unwrap();
        async_handle(&lp, move |_| {
            let _ = &c;
            Ok(())
        })
        .unwrap();
        let mut kinds = Vec::new();
        lp.walk(|handle| kinds.push(handle.kind()));
        kinds.sort_unstable();
        assert_eq!(kinds, [UV_ASYNC, UV_IDLE, UV_TIMER]);
        assert_eq!(Rc::strong_count(&drops2), 4);
        // The same walk with a `#[callback]` fn.
        let mut counts = [0usize; 20];
        // SAFETY: a live loop; `counts` outlives the walk.
        resume_panics(|| unsafe {
            uv_walk(
                lp.raw,
                Some(count_by_type),
                count_by_type::user_data(&mut counts),
            )
        });
        assert_eq!(
            (
                counts[UV_TIMER as usize],
                counts[UV_IDLE as usize],
                counts[UV_ASYNC as usize]
            ),
            (1, 1, 1)
        );
    }
    assert_eq!(
        Rc::strong_count(&drops2),
        1,
        "the loop's drop freed all three states"
    );
    drop(drops2);
    assert_eq!(drops.get(), 1);
}

/// `uv_walk_cb` as a fn: counts handles by type into an array.
#[callback]
extern "C" fn count_by_type(handle: *mut uv_handle_t, #[user_data] counts: &mut [usize; 20]) {
    // SAFETY: uv_walk passes live handles.
    let kind = unsafe { uv_handle_get_type(handle) };
    counts[kind as usize] += 1;
}

/// A plain handle (a prepare) whose `data` is a `Box` of its own: the
/// close callback takes it back. A fn, its user data fetched from the
/// handle. The handle's memory is freed by `Plain`'s `Drop`, not by the
/// callback's body: after a panic elsewhere on the thread in the same
/// loop iteration the body is skipped and only the `Box` is dropped (in
/// the body, valgrind found the 256 bytes definitely lost).
struct Plain {
    closes: Rc<Cell<u32>>,
    handle: *mut PrepareMem,
}

impl Drop for Plain {
    fn drop(&mut self) {
        // SAFETY: dropped only by the close callback (run or refused):
        // libuv is done with the handle's memory.
        drop(unsafe { Box::from_raw(self.handle) });
    }
}

#[callback(
    // SAFETY: only handles whose data is `free_plain::user_data(Box<Plain>)`
    // are closed with this callback.
    user_data = unsafe { (*handle).data },
)]
extern "C" fn free_plain(handle: *mut uv_handle_t, #[user_data] plain: Box<Plain>) {
    assert_eq!(plain.handle.cast::<uv_handle_t>(), handle);
    plain.closes.set(plain.closes.get() + 1);
}

/// A prepare handle's memory, with room to spare.
#[repr(C, align(16))]
struct PrepareMem([u8; 256]);

#[callback]
extern "C" fn prepare_tick(handle: *mut uv_prepare_t) {
    // SAFETY: a live handle.
    unsafe { uv_close(handle.cast(), Some(free_plain)) };
}

/// A prepare handle whose `data` is `free_plain`'s `Box<Plain>`.
fn plain_prepare(lp: &Loop, closes: &Rc<Cell<u32>>) -> *mut uv_prepare_t {
    // SAFETY: a size query.
    assert!(unsafe { uv_handle_size(UV_PREPARE) } <= 256);
    let handle = Box::into_raw(Box::new(PrepareMem([0; 256]))).cast::<uv_prepare_t>();
    // SAFETY: a live loop and a handle-sized block; `data` set after init.
    unsafe {
        check(uv_prepare_init(lp.raw, handle)).unwrap();
        (*handle).head.data = free_plain::user_data(Box::new(Plain {
            closes: closes.clone(),
            handle: handle.cast(),
        }));
    }
    handle
}

#[test]
fn fn_form_close_callback_takes_its_box_back_from_handle_data() {
    let lp = Loop::new();
    // A prepare that closes itself: the close callback's body runs.
    let closes = Rc::new(Cell::new(0));
    let handle = plain_prepare(&lp, &closes);
    // SAFETY: a live prepare handle.
    check(unsafe { uv_prepare_start(handle, Some(prepare_tick)) }).unwrap();
    assert_eq!(lp.run(), Ok(0));
    assert_eq!(closes.get(), 1);
    assert_eq!(Rc::strong_count(&closes), 1, "the Box was dropped");

    // A prepare closed by a callback that then panics: libuv runs the
    // close callback in the same iteration, while the thread's fn-form
    // callbacks are poisoned: its body is skipped, its Box dropped.
    let closes = Rc::new(Cell::new(0));
    let other = plain_prepare(&lp, &closes) as usize;
    timer(&lp, 0, 0, move |handle| -> Result<(), Error> {
        // SAFETY: the live prepare made above, closed once.
        unsafe { uv_close((other as *mut uv_prepare_t).cast(), Some(free_plain)) };
        handle.close();
        panic_any(Boom("closing"))
    })
    .unwrap();
    let payload = payload_of(|| lp.run());
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("closing")));
    assert_eq!(closes.get(), 0, "the close callback's body did not run");
    assert_eq!(
        Rc::strong_count(&closes),
        1,
        "its Box (and the handle's memory) dropped all the same"
    );
}

#[test]
fn work_runs_on_a_pool_thread_and_after_work_on_the_loop_thread() {
    let lp = Loop::new();
    let loop_thread = thread::current().id();
    let after_status = Arc::new(Mutex::new(None::<(c_int, ThreadId)>));
    let a = after_status.clone();
    let (fut, _) = queue_work(
        &lp,
        || (thread::current().id(), (1..=10u64).product::<u64>()),
        Some(Box::new(move |status| {
            *a.lock().unwrap() = Some((status, thread::current().id()))
        })),
    )
    .unwrap();
    let (work_thread, value) = settled(lp.block_on(fut).unwrap()).unwrap();
    assert_eq!(value, 3_628_800);
    assert_ne!(work_thread, loop_thread, "work_cb runs on the thread pool");
    lp.run().unwrap();
    assert_eq!(*after_status.lock().unwrap(), Some((0, loop_thread)));
}

#[test]
fn panic_in_work_reaches_the_future_on_the_loop_thread() {
    let lp = Loop::new();
    let (fut, _) = queue_work(&lp, || -> u32 { panic_any(Boom("work")) }, None).unwrap();
    let payload = payload_of(|| lp.block_on(fut));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("work")));
}

#[test]
fn cancelled_work_never_runs_and_after_work_frees_it() {
    let lp = Loop::new();
    let _pool = pool_lock();
    // Occupy every pool thread so that the next request stays queued and
    // can be cancelled.
    let threads = pool_threads();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let started = Arc::new(AtomicUsize::new(0));
    let mut blockers = Vec::new();
    for _ in 0..threads {
        let (rx, started) = (release_rx.clone(), started.clone());
        let (fut, _) = queue_work(
            &lp,
            move || {
                started.fetch_add(1, Ordering::SeqCst);
                rx.lock().unwrap().recv().unwrap();
            },
            None,
        )
        .unwrap();
        blockers.push(fut);
    }
    while started.load(Ordering::SeqCst) < threads {
        thread::yield_now();
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let status = Arc::new(Mutex::new(None));
    let s = status.clone();
    let (fut, req) = queue_work(
        &lp,
        move || r.fetch_add(1, Ordering::SeqCst),
        Some(Box::new(move |status| *s.lock().unwrap() = Some(status))),
    )
    .unwrap();
    // SAFETY: a queued request, not yet started.
    assert_eq!(unsafe { uv_cancel(req.cast()) }, 0);
    for _ in 0..threads {
        release_tx.send(()).unwrap();
    }
    assert_eq!(
        settled(lp.block_on(fut).unwrap()),
        Err(Error::Uv(UV_ECANCELED))
    );
    for b in blockers {
        settled(lp.block_on(b).unwrap()).unwrap();
    }
    lp.run().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(*status.lock().unwrap(), Some(UV_ECANCELED));
}

fn temp_file(name: &str, contents: &[u8]) -> String {
    let path =
        std::env::temp_dir().join(format!("ffi-callback-libuv-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn fs_open_read_close_chained_in_one_async_block() {
    let path = temp_file("read", b"hello from libuv, through ffi-callback");
    let lp = Loop::new();
    let got = lp
        .block_on(async {
            assert_eq!(settled(stat_size(&lp, &path)?.await)?, 38);
            let fd = settled(open(&lp, &path)?.await)?;
            let head = settled(read(&lp, fd, 5, 0)?.await)?;
            let rest = settled(read(&lp, fd, 100, 11)?.await)?;
            settled(close_file(&lp, fd)?.await)?;
            Ok::<_, Error>((head, rest))
        })
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        got,
        Ok((b"hello".to_vec(), b"libuv, through ffi-callback".to_vec()))
    );
}

#[test]
fn fs_errors_come_back_typed_from_the_callback_or_at_once() {
    let lp = Loop::new();
    // From the callback: the request ran and failed.
    let got = settled(
        lp.block_on(open(&lp, "/nonexistent/ffi-callback-libuv").unwrap())
            .unwrap(),
    );
    assert_eq!(got, Err(Error::Uv(UV_ENOENT)));
    assert_eq!(Error::Uv(UV_ENOENT).name(), "ENOENT");
    // At once: `nbufs == 0`, libuv returns UV_EINVAL and never calls back;
    // the once-callback (with the request memory and the buffer it owns)
    // is reclaimed (valgrind: nothing leaks).
    assert_eq!(read(&lp, 0, 0, 0).err(), Some(Error::Uv(UV_EINVAL)));
    assert_eq!(lp.run(), Ok(0), "nothing pending");
}

// ---------------------------------------------------------------------------
// A Rust-owned timer: a callback type, `boxed`, dropped by Rust
// ---------------------------------------------------------------------------

/// `uv_timer_cb` as a callback type: the closure found through the
/// handle's `data`.
#[callback(
    // SAFETY: only timers made by `OwnedTimer::new` get this trampoline,
    // and their `data` is the boxed closure's user data until `uv_close`
    // (after which the timer never fires).
    user_data = unsafe { (*handle.cast::<uv_handle_t>()).data },
)]
type TimerCb = unsafe extern "C" fn(handle: *mut uv_timer_t);

/// `uv_close_cb` for a handle whose `data` was swapped to its own memory
/// at close time: frees it.
#[callback(
    // SAFETY: `OwnedTimer::drop` set `data` to `free_mem::user_data(..)`
    // right before `uv_close`.
    user_data = unsafe { (*handle).data },
)]
extern "C" fn free_mem(handle: *mut uv_handle_t, #[user_data] mem: Box<Mem>) {
    assert_eq!(mem.ptr.cast::<uv_handle_t>(), handle);
    drop(mem);
}

/// A timer whose closure Rust owns (`TimerCb::boxed`): dropping it closes
/// the handle and drops the closure at once (if the timer's own callback
/// drops it, the crate defers the closure's drop until that call returns);
/// the handle's memory waits for the close callback.
struct OwnedTimer<F: FnMut(*mut uv_timer_t) + 'static> {
    handle: *mut uv_timer_t,
    parts: Option<(Mem, ffi_callback::Boxed<TimerCb<F>>)>,
}

impl<F: FnMut(*mut uv_timer_t) + 'static> OwnedTimer<F> {
    fn new(lp: &Loop, f: F) -> OwnedTimer<F> {
        // SAFETY: a size query.
        let mem = Mem::new(unsafe { uv_handle_size(UV_TIMER) });
        let handle = mem.ptr.cast::<uv_timer_t>();
        // SAFETY: a live loop and a timer-sized block.
        check(unsafe { uv_timer_init(lp.raw, handle) }).unwrap();
        let cb = TimerCb::boxed(f);
        // SAFETY: our handle; `data` is ours.
        unsafe { (*handle).head.data = cb.user_data() };
        OwnedTimer {
            handle,
            parts: Some((mem, cb)),
        }
    }

    fn start(&self, timeout: u64, repeat: u64) {
        let (_, cb) = self.parts.as_ref().expect("open");
        // SAFETY: a live timer whose data is `cb`'s.
        check(unsafe { uv_timer_start(self.handle, Some(cb.function()), timeout, repeat) })
            .unwrap();
    }
}

impl<F: FnMut(*mut uv_timer_t) + 'static> Drop for OwnedTimer<F> {
    fn drop(&mut self) {
        let Some((mem, cb)) = self.parts.take() else {
            return;
        };
        // SAFETY: a live handle: from here its data is its memory, for
        // the close callback; uv_close stops the timer first.
        unsafe {
            (*self.handle).head.data = free_mem::user_data(Box::new(mem));
            uv_close(self.handle.cast(), Some(free_mem));
        }
        drop(cb);
    }
}

#[test]
fn rust_owned_timer_dropped_between_runs_or_from_its_own_callback() {
    let lp = Loop::new();
    let (track, drops) = tracked();
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let timer = OwnedTimer::new(&lp, move |handle| {
        let _ = &track;
        t.set(t.get() + 1);
        if t.get() == 2 {
            // SAFETY: the live timer calling us.
            unsafe { uv_timer_stop(handle) };
        }
    });
    timer.start(0, 1);
    assert_eq!(lp.run(), Ok(0));
    assert_eq!((ticks.get(), drops.get()), (2, 0));
    drop(timer);
    assert_eq!(drops.get(), 1, "the closure is dropped by Rust at once");
    assert_eq!(lp.run(), Ok(0), "the close callback frees the handle");

    // Dropped by its owner from inside its own callback.
    {
        let (track, drops) = tracked();
        let slot: Rc<RefCell<Option<Box<dyn Any>>>> = Rc::default();
        let seen_in_callback = Rc::new(Cell::new(u32::MAX));
        let (s, d, seen) = (slot.clone(), drops.clone(), seen_in_callback.clone());
        let timer = OwnedTimer::new(&lp, move |_| {
            let _ = &track;
            // The owner drops the timer from inside its callback: the crate
            // defers the closure's drop (this closure) until the call returns.
            let owned = s.borrow_mut().take();
            drop(owned);
            seen.set(d.get());
        });
        timer.start(0, 1);
        *slot.borrow_mut() = Some(Box::new(timer));
        assert_eq!(lp.run(), Ok(0));
        assert_eq!(seen_in_callback.get(), 0, "not dropped under its own call");
        assert_eq!(drops.get(), 1);
    }
}

// ---------------------------------------------------------------------------
// Futures from handles: sleep, close
// ---------------------------------------------------------------------------

/// The binding's `sleep`: a one-shot timer that completes a future and
/// closes itself.
fn sleep(lp: &Loop, ms: u64) -> Result<CallbackFuture<()>, Error> {
    let (handle, fut) = future(|done| {
        let mut done = Some(done);
        timer(lp, ms, 0, move |handle| {
            if let Some(done) = done.take() {
                done.complete(());
            }
            handle.close();
            Ok(())
        })
    });
    handle?;
    Ok(fut)
}

#[test]
fn sleep_futures_from_one_shot_timers() {
    let start = std::time::Instant::now();
    let lp = Loop::new();
    let order = RefCell::new(Vec::new());
    lp.block_on(async {
        let long = sleep(&lp, 30).unwrap();
        let short = sleep(&lp, 1).unwrap();
        short.await.unwrap();
        order.borrow_mut().push("short");
        long.await.unwrap();
        order.borrow_mut().push("long");
    })
    .unwrap();
    assert_eq!(*order.borrow(), ["short", "long"]);
    // libuv's timers count from its cached, coarse loop time (a few ms
    // of slack).
    assert!(start.elapsed() >= std::time::Duration::from_millis(25));
    // A sleep dropped before it fires: the timer still fires, completes
    // into nothing, and closes; nothing leaks (valgrind).
    drop(sleep(&lp, 1).unwrap());
    assert_eq!(lp.run(), Ok(0));
}

#[test]
fn close_callback_completes_a_future_and_frees_the_state_once() {
    let lp = Loop::new();
    let (track, drops) = tracked();
    let fired = Rc::new(Cell::new(0));
    let f = fired.clone();
    // The state is out of reach once handed to libuv, so what the close
    // callback completes is given at creation.
    let (t, closed) = future(|done| {
        timer_on_close(
            &lp,
            1,
            0,
            move |_| {
                let _ = &track;
                f.set(f.get() + 1);
                Ok(())
            },
            Some(Box::new(move || done.complete(()))),
        )
    });
    let t = t.unwrap();
    assert_eq!(lp.run(), Ok(0));
    assert_eq!(
        (fired.get(), drops.get()),
        (1, 0),
        "a stopped timer stays open"
    );
    t.close();
    assert!(matches!(lp.block_on(closed), Ok(Ok(()))));
    assert_eq!(
        (fired.get(), drops.get()),
        (1, 1),
        "closed once, the state dropped once"
    );
}

#[test]
fn close_requested_by_a_panicking_callback_skips_the_close_entry_but_frees_the_state() {
    let lp = Loop::new();
    let (track, drops) = tracked();
    let (t, closed) = future(|done| {
        timer_on_close(
            &lp,
            0,
            0,
            move |handle| -> Result<(), Error> {
                let _ = &track;
                handle.close();
                panic_any(Boom("after close"))
            },
            Some(Box::new(move || done.complete(()))),
        )
    });
    t.unwrap();
    let payload = payload_of(|| lp.run());
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("after close")));
    // libuv ran the close callback in the same iteration, while the state
    // was poisoned: the entry's body did not run, the state was dropped
    // (its completion with it).
    assert_eq!(drops.get(), 1, "freed all the same");
    assert!(matches!(lp.block_on(closed), Ok(Err(Cancelled))));
}

#[test]
fn panic_in_after_work_is_resumed_by_the_loop_guard() {
    let lp = Loop::new();
    let (fut, _) =
        queue_work(&lp, || 5, Some(Box::new(|_| panic_any(Boom("after_work"))))).unwrap();
    let payload = payload_of(|| lp.run());
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("after_work")));
    assert_eq!(
        settled(lp.block_on(fut).unwrap()),
        Ok(5),
        "the job itself had completed"
    );
}

#[test]
fn panic_in_a_walk_inside_a_timer_callback_stops_the_loop() {
    let lp = Loop::new();
    idle(&lp, |_| Ok(())).unwrap(); // keeps the loop spinning: only uv_stop ends it
    let raw = lp.raw;
    let visits = Rc::new(Cell::new(0));
    let v = visits.clone();
    timer(&lp, 0, 0, move |_| {
        // A nested guard (the walk's scope) inside the set's entry: the
        // walk's panic comes out of `scope` here, as the timer's own.
        // SAFETY: the live loop running us; uv_walk calls back during the call.
        WalkCb::scope(
            // (`-> ()`: a closure that only panics returns `!` under
            // edition 2024's never-type fallback, which the type refuses.)
            #[allow(clippy::unused_unit)]
            |_| -> () {
                v.set(v.get() + 1);
                panic_any(Boom("walk in timer"))
            },
            |walk, arg| unsafe { uv_walk(raw, Some(walk), arg) },
        );
        Ok(())
    })
    .unwrap();
    let payload = payload_of(|| lp.run());
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("walk in timer")));
    assert_eq!(visits.get(), 1, "the poisoned walk closure ran once");
}

#[test]
fn fs_future_dropped_before_its_callback_still_frees_the_request() {
    let path = temp_file("dropped", b"abc");
    let lp = Loop::new();
    let (track, drops) = tracked();
    let c_path = CString::new(path.clone()).unwrap();
    let p = c_path.as_ptr();
    let fut = fs_request(
        &lp,
        track,
        // SAFETY: `c_path` outlives the loop's run below.
        move |lp, req, cb| unsafe { uv_fs_stat(lp, req, p, Some(cb)) },
        |_, _| Ok(()),
    )
    .unwrap();
    drop(fut);
    assert_eq!(drops.get(), 0, "libuv still holds the request");
    assert_eq!(lp.run(), Ok(0));
    assert_eq!(drops.get(), 1, "the late callback ran and freed it");
    std::fs::remove_file(&path).unwrap();
}

// ---------------------------------------------------------------------------
// Streams: a pipe read through `alloc` + `read` entries, written with
// `uv_write` (a once-callback behind `req->data`)
// ---------------------------------------------------------------------------

/// `uv_pipe_init` + `uv_pipe_open(fd)` + `uv_read_start`.
fn pipe_reader(
    lp: &Loop,
    fd: c_int,
    on_read: impl FnMut(Handle, Result<&[u8], Error>) -> Result<(), Error> + 'static,
) -> Result<Handle, Error> {
    let parts = Parts {
        on_read: Some(Box::new(on_read)),
        ..Parts::default()
    };
    // SAFETY: a live loop and a pipe-sized block.
    let handle = HandleState::open(lp, UV_NAMED_PIPE, parts, |lp, h| unsafe {
        uv_pipe_init(lp, h.cast(), 0)
    })?;
    // SAFETY: a live pipe made by `open`; the fd is ours to give.
    let opened = check(unsafe { uv_pipe_open(handle.0.cast(), fd) }).and_then(|_| {
        // SAFETY: as above; the entries find the state through `data`.
        check(unsafe {
            uv_read_start(
                handle.0.cast(),
                Some(HandleState::ALLOC),
                Some(HandleState::READ),
            )
        })
    });
    if let Err(e) = opened {
        handle.close();
        return Err(e);
    }
    Ok(handle)
}

/// `uv_write_cb`: the request's `data` leads to the closure.
#[callback(
    // SAFETY: every write request reaching it was made by `write`.
    user_data = unsafe { uv_req_get_data(req.cast()) },
)]
type WriteCb = unsafe extern "C" fn(req: *mut uv_write_t, status: c_int);

/// `uv_write` of `data` (kept alive by the callback), as a future.
/// The same shape as `fs_request`, written again: `once` is an inherent
/// method of each callback type, so no helper is generic over them.
fn write(stream: Handle, data: Vec<u8>) -> Result<CallbackFuture<Result<(), Error>>, Error> {
    // SAFETY: a size query.
    let mem = Mem::new(unsafe { uv_req_size(UV_WRITE) });
    let req = mem.ptr.cast::<uv_write_t>();
    let buf = uv_buf_t {
        base: data.as_ptr().cast_mut().cast(),
        len: data.len(),
    };
    let (once, fut) = future(|done: Completion<Result<(), Error>>| {
        WriteCb::once(move |_req, status: c_int| {
            drop((data, mem));
            done.complete(check(status).map(drop));
        })
    });
    let raw = once.into_raw();
    // SAFETY: our request; `data` is ours.
    unsafe { uv_req_set_data(req.cast(), raw.user_data) };
    // SAFETY: a live stream; the bytes live in the callback's closure.
    let rc = unsafe { uv_write(req, stream.0.cast(), &buf, 1, Some(raw.function)) };
    if rc < 0 {
        // SAFETY: refused: no callback will come.
        unsafe { raw.reclaim() };
        return Err(Error::Uv(rc));
    }
    Ok(fut)
}

#[test]
fn pipe_reads_through_alloc_and_read_entries_and_writes_with_a_future() {
    use std::io::{Read, Write};
    use std::os::fd::IntoRawFd;
    use std::os::unix::net::UnixStream;

    let (ours, theirs) = UnixStream::pair().unwrap();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expected = [b"pong".as_slice(), &payload].concat();
    // The other end: reads our "ping", answers "pong" and a payload larger
    // than one read, then shuts its side (EOF).
    let peer = thread::spawn(move || {
        let mut theirs = theirs;
        let mut ping = [0u8; 4];
        theirs.read_exact(&mut ping).unwrap();
        theirs.write_all(b"pong").unwrap();
        theirs.write_all(&payload).unwrap();
        theirs.shutdown(std::net::Shutdown::Write).unwrap();
        ping
    });
    let lp = Loop::new();
    let received = Rc::new(RefCell::new(Vec::new()));
    let reads = Rc::new(Cell::new(0));
    let (r, n) = (received.clone(), reads.clone());
    let stream = pipe_reader(&lp, ours.into_raw_fd(), move |handle, data| {
        match data {
            Ok(bytes) => {
                n.set(n.get() + 1);
                r.borrow_mut().extend_from_slice(bytes);
            }
            Err(Error::Uv(UV_EOF)) => handle.close(),
            Err(e) => return Err(e),
        }
        Ok(())
    })
    .unwrap();
    let written = lp
        .block_on(write(stream, b"ping".to_vec()).unwrap())
        .unwrap();
    assert!(matches!(written, Ok(Ok(()))));
    assert_eq!(lp.run(), Ok(0), "EOF closed the pipe");
    assert_eq!(&peer.join().unwrap(), b"ping");
    assert!(
        *received.borrow() == expected,
        "every byte, in order ({} bytes)",
        received.borrow().len()
    );
    assert!(reads.get() > 1, "more than one read: {}", reads.get());
}

// ---------------------------------------------------------------------------
// One `sync` closure shared by many work requests
// ---------------------------------------------------------------------------

/// `uv_work_cb` for requests that all carry the same closure: the pool's
/// threads call it at once (`sync`).
#[callback(
    sync,
    // SAFETY: every request reaching it was queued by the test below with
    // the shared closure's user data.
    user_data = unsafe { uv_req_get_data(req.cast()) },
)]
type SharedWork = unsafe extern "C" fn(req: *mut uv_work_t);

/// A work request's memory, with room to spare.
#[repr(C, align(16))]
struct WorkMem([u8; 256]);

static SHARED_AFTER: AtomicUsize = AtomicUsize::new(0);

/// `uv_after_work_cb` for those requests: frees the request.
#[callback]
extern "C" fn after_shared(req: *mut uv_work_t, status: c_int) {
    assert_eq!(status, 0);
    SHARED_AFTER.fetch_add(1, Ordering::SeqCst);
    // SAFETY: libuv is done with the request (boxed by the test).
    drop(unsafe { Box::from_raw(req.cast::<WorkMem>()) });
}

#[test]
fn sync_closure_shared_by_many_work_requests_runs_concurrently() {
    // SAFETY: a size query.
    assert!(unsafe { uv_req_size(UV_WORK) } <= 256);
    let _pool = pool_lock();
    let lp = Loop::new();
    let calls = Arc::new(AtomicUsize::new(0));
    // The first two calls wait for each other: they must overlap, which a
    // `send` holder would refuse (one call at a time).
    let overlap = if pool_threads() >= 2 { 2 } else { 0 };
    let meet = Arc::new(std::sync::Barrier::new(2));
    let (c, m) = (calls.clone(), meet.clone());
    let shared = SharedWork::boxed(move |_req| {
        if c.fetch_add(1, Ordering::SeqCst) < overlap {
            m.wait();
        }
    });
    for _ in 0..8 {
        let req = Box::into_raw(Box::new(WorkMem([0; 256]))).cast::<uv_work_t>();
        // SAFETY: a request-sized block; the shared closure outlives the
        // loop's run (dropped below, after every after_work).
        unsafe {
            uv_req_set_data(req.cast(), shared.user_data());
            check(uv_queue_work(
                lp.raw,
                req,
                Some(shared.function()),
                Some(after_shared),
            ))
            .unwrap();
        }
    }
    let before = SHARED_AFTER.load(Ordering::SeqCst);
    assert_eq!(lp.run(), Ok(0));
    assert_eq!(calls.load(Ordering::SeqCst), 8);
    assert_eq!(SHARED_AFTER.load(Ordering::SeqCst) - before, 8);
    drop(shared);
    assert_eq!(Arc::strong_count(&calls), 1, "the closure was dropped");
}
