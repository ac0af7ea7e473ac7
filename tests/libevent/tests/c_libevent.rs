//! libevent 2 (the system library, apt `libevent-dev`) driven through Rust
//! callbacks, as a binding to it (the `libevent` / `event` crates) writes
//! its trampolines by hand today:
//!
//! - `event_new` / `evtimer_new` / `evsignal_new`: a Rust-owned `boxed`
//!   closure per event, freed after `event_free` (also from inside its own
//!   callback, where the free waits for the call);
//! - `event_free_finalize`: the event's callback and its finalizer (which
//!   libevent passes the same `arg`) as one callback set, the finalizer
//!   its destroy;
//! - `event_base_once`: a once-callback; libevent frees its own record
//!   without calling back when the base is freed first, so the base keeps
//!   the uncalled ones' destroys and runs them after `event_base_free`;
//! - `bufferevent_setcb(bev, readcb, writecb, eventcb, cbarg)`: three entry
//!   points of one callback set, no destroy-notify: the `BufferEvent`
//!   keeps the `BoxedSet` and drops it after `bufferevent_free` (which
//!   clears the callbacks first); `&mut self` entries refuse the nested
//!   call `bufferevent_trigger` makes from inside a callback, a `&self` set
//!   allows it;
//! - `evbuffer_add_cb` (re-entered when the callback adds to its own
//!   buffer) and `evbuffer_add_reference`'s cleanup (a once-callback,
//!   reclaimed when the add fails);
//! - `event_set_log_callback`: global, no user data, a `#[callback]` fn;
//! - `event_base_loopbreak` from callbacks, and the guard's stop hook;
//! - panics in each kind of callback, coming back to the caller of
//!   `event_base_dispatch` (or of the call that made C call back);
//! - re-entry: `event_base_loop` from a callback (libevent refuses it) and
//!   `event_active` from a callback (libevent queues it).
//!
//! scripts/test-libevent.sh runs this binary under valgrind memcheck too.
#![allow(non_camel_case_types)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_long, c_short, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;
use std::sync::Mutex;

use ffi_callback::{Boxed, BoxedSet, RawCallback, callback, resume_panics, resume_panics_with};

// ---------------------------------------------------------------------------
// libevent, declared by hand
// ---------------------------------------------------------------------------

#[repr(C)]
struct event_base {
    _opaque: [u8; 0],
}
#[repr(C)]
struct event {
    _opaque: [u8; 0],
}
#[repr(C)]
struct bufferevent {
    _opaque: [u8; 0],
}
#[repr(C)]
struct evbuffer {
    _opaque: [u8; 0],
}
#[repr(C)]
struct evbuffer_cb_entry {
    _opaque: [u8; 0],
}

/// `struct evbuffer_cb_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
struct evbuffer_cb_info {
    orig_size: usize,
    n_added: usize,
    n_deleted: usize,
}

#[repr(C)]
struct timeval {
    tv_sec: c_long,
    tv_usec: c_long,
}

fn tv(ms: u64) -> timeval {
    timeval {
        tv_sec: (ms / 1000) as c_long,
        tv_usec: ((ms % 1000) * 1000) as c_long,
    }
}

type evutil_socket_t = c_int;

const EV_TIMEOUT: c_short = 0x01;
const EV_READ: c_short = 0x02;
const EV_WRITE: c_short = 0x04;
const EV_SIGNAL: c_short = 0x08;
const EV_PERSIST: c_short = 0x10;

const EVLOOP_ONCE: c_int = 0x01;
const EVLOOP_NONBLOCK: c_int = 0x02;

const BEV_OPT_CLOSE_ON_FREE: c_int = 0x01;
const BEV_OPT_DEFER_CALLBACKS: c_int = 0x04;

const BEV_EVENT_READING: c_short = 0x01;
const BEV_EVENT_EOF: c_short = 0x10;

const BEV_FINISHED: c_int = 2;
const BEV_TRIG_IGNORE_WATERMARKS: c_int = 1 << 16;

const EVENT_LOG_WARN: c_int = 2;

const SIGUSR1: c_int = 10;
const AF_UNIX: c_int = 1;
const SOCK_STREAM: c_int = 1;

/// `event_callback_fn`, `bufferevent_data_cb`, ..: declared again below
/// as `#[callback]` types and a set; these are the C shapes the functions
/// take.
type event_callback_fn = unsafe extern "C" fn(evutil_socket_t, c_short, *mut c_void);
type bufferevent_data_cb = unsafe extern "C" fn(*mut bufferevent, *mut c_void);
type bufferevent_event_cb = unsafe extern "C" fn(*mut bufferevent, c_short, *mut c_void);
type evbuffer_cb_func = unsafe extern "C" fn(*mut evbuffer, *const evbuffer_cb_info, *mut c_void);
type evbuffer_ref_cleanup_cb = unsafe extern "C" fn(*const c_void, usize, *mut c_void);
type event_log_cb = unsafe extern "C" fn(c_int, *const c_char);
type event_finalize_callback_fn = unsafe extern "C" fn(*mut event, *mut c_void);

#[link(name = "event")]
unsafe extern "C" {
    fn event_base_new() -> *mut event_base;
    fn event_base_free(base: *mut event_base);
    fn event_base_dispatch(base: *mut event_base) -> c_int;
    fn event_base_loop(base: *mut event_base, flags: c_int) -> c_int;
    fn event_base_loopbreak(base: *mut event_base) -> c_int;
    fn event_base_got_break(base: *mut event_base) -> c_int;
    fn event_base_once(
        base: *mut event_base,
        fd: evutil_socket_t,
        events: c_short,
        cb: Option<event_callback_fn>,
        arg: *mut c_void,
        timeout: *const timeval,
    ) -> c_int;

    fn event_new(
        base: *mut event_base,
        fd: evutil_socket_t,
        events: c_short,
        cb: Option<event_callback_fn>,
        arg: *mut c_void,
    ) -> *mut event;
    fn event_free(ev: *mut event);
    fn event_add(ev: *mut event, timeout: *const timeval) -> c_int;
    fn event_del(ev: *mut event) -> c_int;
    fn event_active(ev: *mut event, res: c_int, ncalls: c_short);
    fn event_pending(ev: *const event, events: c_short, tv: *mut timeval) -> c_int;
    fn event_free_finalize(
        flags: c_uint,
        ev: *mut event,
        cb: Option<event_finalize_callback_fn>,
    ) -> c_int;

    fn event_set_log_callback(cb: Option<event_log_cb>);

    fn evutil_socketpair(d: c_int, kind: c_int, protocol: c_int, sv: *mut evutil_socket_t)
    -> c_int;
    fn evutil_make_socket_nonblocking(fd: evutil_socket_t) -> c_int;

    fn bufferevent_socket_new(
        base: *mut event_base,
        fd: evutil_socket_t,
        options: c_int,
    ) -> *mut bufferevent;
    fn bufferevent_pair_new(
        base: *mut event_base,
        options: c_int,
        pair: *mut *mut bufferevent,
    ) -> c_int;
    fn bufferevent_setcb(
        bev: *mut bufferevent,
        readcb: Option<bufferevent_data_cb>,
        writecb: Option<bufferevent_data_cb>,
        eventcb: Option<bufferevent_event_cb>,
        cbarg: *mut c_void,
    );
    fn bufferevent_enable(bev: *mut bufferevent, event: c_short) -> c_int;
    fn bufferevent_write(bev: *mut bufferevent, data: *const c_void, size: usize) -> c_int;
    fn bufferevent_read(bev: *mut bufferevent, data: *mut c_void, size: usize) -> usize;
    fn bufferevent_free(bev: *mut bufferevent);
    fn bufferevent_trigger(bev: *mut bufferevent, iotype: c_short, options: c_int);
    fn bufferevent_flush(bev: *mut bufferevent, iotype: c_short, mode: c_int) -> c_int;

    fn evbuffer_new() -> *mut evbuffer;
    fn evbuffer_free(buf: *mut evbuffer);
    fn evbuffer_add(buf: *mut evbuffer, data: *const c_void, len: usize) -> c_int;
    fn evbuffer_drain(buf: *mut evbuffer, len: usize) -> c_int;
    fn evbuffer_get_length(buf: *const evbuffer) -> usize;
    fn evbuffer_freeze(buf: *mut evbuffer, at_front: c_int) -> c_int;
    fn evbuffer_add_cb(
        buf: *mut evbuffer,
        cb: Option<evbuffer_cb_func>,
        cbarg: *mut c_void,
    ) -> *mut evbuffer_cb_entry;
    fn evbuffer_remove_cb_entry(buf: *mut evbuffer, ent: *mut evbuffer_cb_entry) -> c_int;
    fn evbuffer_add_reference(
        buf: *mut evbuffer,
        data: *const c_void,
        len: usize,
        cleanup: Option<evbuffer_ref_cleanup_cb>,
        extra: *mut c_void,
    ) -> c_int;
}

unsafe extern "C" {
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn raise(sig: c_int) -> c_int;
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

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

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload,
    }
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_owned()
    }
}

// ---------------------------------------------------------------------------
// The base
// ---------------------------------------------------------------------------

/// `event_callback_fn`: the `fd` (or signal number), what happened, and
/// the user data last. `what` arrives as `Events`.
#[callback]
type EventCallback = unsafe extern "C" fn(
    fd: evutil_socket_t,
    #[into(Events)] what: c_short,
    #[user_data] arg: *mut c_void,
);

/// `EV_*` flags as the callbacks see them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Events(c_short);

impl From<c_short> for Events {
    fn from(bits: c_short) -> Self {
        Events(bits)
    }
}

impl Events {
    fn has(self, bit: c_short) -> bool {
        self.0 & bit != 0
    }
}

/// What an event's closure is, boxed once more so that `Event` is one type
/// whatever the closure (a closure that owns its own `Event` has to name
/// it).
type EventFn = Box<dyn FnMut(evutil_socket_t, Events)>;

/// `event_base_once`'s closures, once-callbacks of the same C type.
type OnceFn = Box<dyn FnOnce(evutil_socket_t, Events)>;

struct BaseInner {
    raw: *mut event_base,
    /// `event_base_once` callbacks libevent has not called yet, by id:
    /// libevent frees its own record of them, uncalled, in
    /// `event_base_free`, and has no destroy-notify.
    once_pending: RefCell<HashMap<u64, RawCallback<EventCallback<OnceFn>>>>,
    next_once: Cell<u64>,
}

impl Drop for BaseInner {
    fn drop(&mut self) {
        let raw = self.raw;
        // SAFETY: every `Event` and `BufferEvent` holds an `Rc` of this, so
        // none is left; what libevent still has are `once` records and
        // pending finalizers, which it runs now (user code: guarded).
        resume_panics(|| unsafe { event_base_free(raw) });
        // libevent freed its records without calling them: free the closures.
        for (_, raw) in self.once_pending.take() {
            // SAFETY: C will never call it (the base is gone); each
            // destroy runs once (the map owned it).
            resume_panics(|| unsafe { (raw.destroy)(raw.user_data) });
        }
    }
}

/// An event base, shared by the events made on it (which keep it alive).
#[derive(Clone)]
struct Base(Rc<BaseInner>);

impl Base {
    fn new() -> Base {
        // SAFETY: no arguments.
        let raw = unsafe { event_base_new() };
        assert!(!raw.is_null(), "event_base_new");
        Base(Rc::new(BaseInner {
            raw,
            once_pending: RefCell::new(HashMap::new()),
            next_once: Cell::new(0),
        }))
    }

    fn raw(&self) -> *mut event_base {
        self.0.raw
    }

    /// `event_base_dispatch`: runs until no event is pending, or
    /// `loopbreak`. A callback's panic breaks the loop (the guard's stop
    /// hook) and is resumed here.
    fn dispatch(&self) -> c_int {
        let raw = self.raw();
        resume_panics_with(
            // SAFETY: a live base; every callback's state lives until its
            // event is freed (after which libevent does not call it).
            || unsafe { event_base_dispatch(raw) },
            // SAFETY: a live base; allowed from inside callbacks.
            || unsafe {
                event_base_loopbreak(raw);
            },
        )
    }

    /// `event_base_loop`.
    fn run(&self, flags: c_int) -> c_int {
        let raw = self.raw();
        resume_panics_with(
            // SAFETY: as for `dispatch`.
            || unsafe { event_base_loop(raw, flags) },
            // SAFETY: as for `dispatch`.
            || unsafe {
                event_base_loopbreak(raw);
            },
        )
    }

    fn loopbreak(&self) {
        // SAFETY: a live base.
        assert_eq!(unsafe { event_base_loopbreak(self.raw()) }, 0);
    }

    fn got_break(&self) -> bool {
        // SAFETY: a live base.
        unsafe { event_base_got_break(self.raw()) != 0 }
    }

    /// `event_base_once`: `f` runs once, when `what` happens on `fd` or
    /// after `timeout_ms`. Uncalled when the base is freed first: then it
    /// is dropped uncalled.
    fn once(
        &self,
        fd: evutil_socket_t,
        what: c_short,
        timeout_ms: Option<u64>,
        f: impl FnOnce(evutil_socket_t, Events) + 'static,
    ) -> Result<(), c_int> {
        let id = self.0.next_once.get();
        self.0.next_once.set(id + 1);
        let inner = Rc::downgrade(&self.0);
        let f: OnceFn = Box::new(move |fd, what| {
            // Called: no longer the base's to destroy. The call has taken
            // the closure out of its holder, whose allocation only the
            // destroy frees (`into_raw_with_destroy`): run it now, which
            // the crate allows from inside the call, rather than keep
            // every fired record until the base goes.
            let raw = inner
                .upgrade()
                .and_then(|inner| inner.once_pending.borrow_mut().remove(&id));
            if let Some(raw) = raw {
                // SAFETY: called from inside the call, which has taken the
                // closure out: the destroy frees the allocation only. The
                // record left the map, so it is destroyed once.
                unsafe { (raw.destroy)(raw.user_data) };
            }
            f(fd, what)
        });
        let raw = EventCallback::once(f).into_raw_with_destroy();
        let timeout = timeout_ms.map(tv);
        // SAFETY: a live base; the closure lives until its call or the
        // base's drop destroys it.
        let rc = unsafe {
            event_base_once(
                self.raw(),
                fd,
                what,
                Some(raw.function),
                raw.user_data,
                timeout
                    .as_ref()
                    .map_or(ptr::null(), |t| t as *const timeval),
            )
        };
        if rc != 0 {
            // SAFETY: refused: libevent will never call it.
            unsafe { (raw.destroy)(raw.user_data) };
            return Err(rc);
        }
        self.0.once_pending.borrow_mut().insert(id, raw);
        Ok(())
    }

    fn pending_once(&self) -> usize {
        self.0.once_pending.borrow().len()
    }
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// An event and its closure: `event_free` first, then the closure.
struct Event {
    raw: *mut event,
    /// Dropped after `event_free` (fields drop after `Drop::drop`); when
    /// that is from inside the closure's own call, the free waits for it.
    _closure: Boxed<EventCallback<EventFn>>,
    _base: Base,
}

/// A copy of an event's pointer, for the closures (which cannot own the
/// `Event` they are part of without an `Rc` slot).
#[derive(Clone, Copy)]
struct EventRef(*mut event);

impl EventRef {
    fn add(self, timeout_ms: Option<u64>) {
        let timeout = timeout_ms.map(tv);
        // SAFETY: the event is alive while its owner is (the tests hold it).
        let rc = unsafe {
            event_add(
                self.0,
                timeout
                    .as_ref()
                    .map_or(ptr::null(), |t| t as *const timeval),
            )
        };
        assert_eq!(rc, 0, "event_add");
    }
    fn del(self) {
        // SAFETY: as for `add`.
        assert_eq!(unsafe { event_del(self.0) }, 0, "event_del");
    }
    /// `event_active`: libevent queues it (never a nested call).
    fn activate(self, what: c_short) {
        // SAFETY: as for `add`.
        unsafe { event_active(self.0, what as c_int, 0) };
    }
    fn is_pending(self, what: c_short) -> bool {
        // SAFETY: as for `add`.
        unsafe { event_pending(self.0, what, ptr::null_mut()) != 0 }
    }
}

impl Event {
    /// `event_new`.
    fn new(
        base: &Base,
        fd: evutil_socket_t,
        what: c_short,
        f: impl FnMut(evutil_socket_t, Events) + 'static,
    ) -> Event {
        let closure = EventCallback::boxed(Box::new(f) as EventFn);
        // SAFETY: a live base; the closure lives until after `event_free`.
        let raw = unsafe {
            event_new(
                base.raw(),
                fd,
                what,
                Some(closure.function()),
                closure.user_data(),
            )
        };
        assert!(!raw.is_null(), "event_new");
        Event {
            raw,
            _closure: closure,
            _base: base.clone(),
        }
    }

    /// `evtimer_new`.
    fn timer(base: &Base, f: impl FnMut(evutil_socket_t, Events) + 'static) -> Event {
        Event::new(base, -1, 0, f)
    }

    /// `evsignal_new`.
    fn signal(
        base: &Base,
        signal: c_int,
        f: impl FnMut(evutil_socket_t, Events) + 'static,
    ) -> Event {
        Event::new(base, signal, EV_SIGNAL | EV_PERSIST, f)
    }

    fn r(&self) -> EventRef {
        EventRef(self.raw)
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: our event, freed once; libevent calls it no more.
        unsafe { event_free(self.raw) };
    }
}

// ---------------------------------------------------------------------------
// Events ended by `event_free_finalize`: the event's `arg` goes to the
// finalizer too, so the callback and its destroy are one callback set
// ---------------------------------------------------------------------------

/// `event_callback_fn` and `event_finalize_callback_fn` on one `arg`: the
/// finalizer, which libevent runs once the callback can no longer run
/// (from the loop, or from `event_base_free`), is the set's destroy.
#[callback]
trait EventHandler {
    unsafe extern "C" fn fire(
        &mut self,
        fd: evutil_socket_t,
        #[into(Events)] what: c_short,
        #[user_data] arg: *mut c_void,
    );
    unsafe extern "C" fn finalize(self, ev: *mut event, #[user_data] arg: *mut c_void);
}

/// Any closure, as an `EventHandler`.
struct Handler<F>(F);

impl<F: FnMut(evutil_socket_t, Events) + 'static> EventHandler for Handler<F> {
    fn fire(&mut self, fd: evutil_socket_t, what: Events) {
        (self.0)(fd, what)
    }
    fn finalize(self, _ev: *mut event) {}
}

/// An event whose closure libevent owns: `event_free_finalize` ends it.
struct FinalizedEvent {
    raw: *mut event,
    /// The finalizer of the state's own type (`Handler::<F>::FINALIZE`),
    /// kept beside the event: `FinalizedEvent` is not generic.
    finalize: event_finalize_callback_fn,
    _base: Base,
}

impl FinalizedEvent {
    fn new<F: FnMut(evutil_socket_t, Events) + 'static>(
        base: &Base,
        fd: evutil_socket_t,
        what: c_short,
        f: F,
    ) -> FinalizedEvent {
        let state = Handler(f).boxed();
        // SAFETY: a live base; the state lives until the finalizer.
        let raw = unsafe {
            event_new(
                base.raw(),
                fd,
                what,
                Some(Handler::<F>::FIRE),
                state.user_data(),
            )
        };
        assert!(!raw.is_null(), "event_new");
        // From here libevent ends it, through `event_free_finalize`.
        let _ = state.into_raw();
        FinalizedEvent {
            raw,
            finalize: Handler::<F>::FINALIZE,
            _base: base.clone(),
        }
    }

    fn r(&self) -> EventRef {
        EventRef(self.raw)
    }
}

impl Drop for FinalizedEvent {
    fn drop(&mut self) {
        // SAFETY: our event, ended once; libevent runs the finalizer (the
        // state's destroy) once the callback cannot run any more, from the
        // loop or from `event_base_free`.
        let rc = unsafe { event_free_finalize(0, self.raw, Some(self.finalize)) };
        assert_eq!(rc, 0, "event_free_finalize");
    }
}

// ---------------------------------------------------------------------------
// Bufferevents: three callbacks, one cbarg, no destroy-notify
// ---------------------------------------------------------------------------

/// `bufferevent_data_cb` (read and write) and `bufferevent_event_cb`,
/// sharing the `cbarg` of `bufferevent_setcb`.
#[callback]
trait BevCallbacks {
    unsafe extern "C" fn read(&mut self, bev: *mut bufferevent, #[user_data] ctx: *mut c_void);
    unsafe extern "C" fn write(&mut self, bev: *mut bufferevent, #[user_data] ctx: *mut c_void);
    unsafe extern "C" fn event(
        &mut self,
        bev: *mut bufferevent,
        #[into(Events)] what: c_short,
        #[user_data] ctx: *mut c_void,
    );
}

/// A bufferevent, as the closures see it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bev(*mut bufferevent);

impl Bev {
    /// `bufferevent_write`. A socket bufferevent without
    /// `BEV_OPT_DEFER_CALLBACKS` may call its own callbacks before this
    /// returns: the binding guards it. (A pair always defers: its
    /// callbacks run from the loop.)
    fn write(self, data: &[u8]) {
        // SAFETY: a live bufferevent (the closures get it for the call).
        let rc = resume_panics(|| unsafe {
            bufferevent_write(self.0, data.as_ptr().cast(), data.len())
        });
        assert_eq!(rc, 0, "bufferevent_write");
    }
    fn read_all(self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            // SAFETY: a live bufferevent, a buffer of that size.
            let n = unsafe { bufferevent_read(self.0, chunk.as_mut_ptr().cast(), chunk.len()) };
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }
    fn enable(self, what: c_short) {
        // SAFETY: a live bufferevent.
        assert_eq!(unsafe { bufferevent_enable(self.0, what) }, 0);
    }
}

type BevFn = Box<dyn FnMut(Bev)>;
type BevEventFn = Box<dyn FnMut(Bev, Events)>;

/// The closures behind one bufferevent's `cbarg`.
#[derive(Default)]
struct Handlers {
    read: Option<BevFn>,
    write: Option<BevFn>,
    event: Option<BevEventFn>,
}

impl BevCallbacks for Handlers {
    fn read(&mut self, bev: *mut bufferevent) {
        if let Some(read) = &mut self.read {
            read(Bev(bev));
        }
    }
    fn write(&mut self, bev: *mut bufferevent) {
        if let Some(write) = &mut self.write {
            write(Bev(bev));
        }
    }
    fn event(&mut self, bev: *mut bufferevent, what: Events) {
        if let Some(event) = &mut self.event {
            event(Bev(bev), what);
        }
    }
}

/// A bufferevent and the state its callbacks share: `bufferevent_free`
/// first (it clears the callbacks), then the state.
struct BufferEvent<S: 'static = Handlers> {
    raw: *mut bufferevent,
    state: Option<BoxedSet<S>>,
    _base: Base,
}

impl<S: 'static> BufferEvent<S> {
    fn from_raw(base: &Base, raw: *mut bufferevent) -> Self {
        assert!(!raw.is_null());
        BufferEvent {
            raw,
            state: None,
            _base: base.clone(),
        }
    }

    /// `bufferevent_socket_new`.
    fn socket(base: &Base, fd: evutil_socket_t, options: c_int) -> Self {
        // SAFETY: a live base; `fd` is ours to hand over (CLOSE_ON_FREE).
        let raw = unsafe { bufferevent_socket_new(base.raw(), fd, options) };
        Self::from_raw(base, raw)
    }

    fn bev(&self) -> Bev {
        Bev(self.raw)
    }
}

impl<S: SharedBevCallbacks + 'static> BufferEvent<S> {
    /// `bufferevent_setcb` with a `&self` set's entries.
    fn set_shared_callbacks(&mut self, state: S) {
        let state = state.boxed();
        // SAFETY: as for `set_callbacks`.
        unsafe {
            bufferevent_setcb(
                self.raw,
                Some(<S as SharedBevCallbacksExt>::READ),
                Some(<S as SharedBevCallbacksExt>::WRITE),
                Some(<S as SharedBevCallbacksExt>::EVENT),
                state.user_data(),
            )
        };
        self.state = Some(state);
    }
}

impl<S: BevCallbacks + 'static> BufferEvent<S> {
    /// `bufferevent_setcb` with the set's three entries and `state`. The
    /// previous state is dropped once libevent has the new one (if this is
    /// called from inside one of its callbacks, after that call returns).
    fn set_callbacks(&mut self, state: S) {
        let state = state.boxed();
        // SAFETY: a live bufferevent; the state lives until the next
        // `setcb` or `bufferevent_free` replaces it.
        unsafe {
            bufferevent_setcb(
                self.raw,
                Some(S::READ),
                Some(S::WRITE),
                Some(S::EVENT),
                state.user_data(),
            )
        };
        self.state = Some(state);
    }

    fn with_state<R>(&mut self, f: impl FnOnce(&mut S) -> R) -> Option<R> {
        self.state.as_mut()?.with_mut(f)
    }
}

impl<S: 'static> Drop for BufferEvent<S> {
    fn drop(&mut self) {
        // SAFETY: our bufferevent, freed once: it sets its callbacks to
        // NULL before anything else, so the state is no longer reachable.
        unsafe { bufferevent_free(self.raw) };
        // `self.state` drops next (waiting for a running entry, if any).
    }
}

// ---------------------------------------------------------------------------
// evbuffers
// ---------------------------------------------------------------------------

/// `evbuffer_cb_func`: what changed, the user data last.
#[callback]
type BufferCallback = unsafe extern "C" fn(
    #[into(BufferRef)] buffer: *mut evbuffer,
    #[into(&evbuffer_cb_info)] info: *const evbuffer_cb_info,
    #[user_data] arg: *mut c_void,
);

/// The same, for closures that may add to their own buffer: libevent then
/// calls them again before the add returns.
#[callback(reentrant)]
type ReentrantBufferCallback = unsafe extern "C" fn(
    #[into(BufferRef)] buffer: *mut evbuffer,
    #[into(&evbuffer_cb_info)] info: *const evbuffer_cb_info,
    #[user_data] arg: *mut c_void,
);

/// `evbuffer_ref_cleanup_cb`: the referenced bytes are no longer used.
#[callback]
type RefCleanup =
    unsafe extern "C" fn(data: *const c_void, len: usize, #[user_data] extra: *mut c_void);

type BufferFn = Box<dyn FnMut(BufferRef, &evbuffer_cb_info)>;
type SharedBufferFn = Box<dyn Fn(BufferRef, &evbuffer_cb_info)>;

#[derive(Clone, Copy)]
struct BufferRef(*mut evbuffer);

impl From<*mut evbuffer> for BufferRef {
    fn from(raw: *mut evbuffer) -> Self {
        BufferRef(raw)
    }
}

impl BufferRef {
    /// `evbuffer_add`: runs the buffer's callbacks before it returns.
    fn add(self, data: &[u8]) {
        // SAFETY: a live buffer.
        let rc =
            resume_panics(|| unsafe { evbuffer_add(self.0, data.as_ptr().cast(), data.len()) });
        assert_eq!(rc, 0, "evbuffer_add");
    }
    fn len(self) -> usize {
        // SAFETY: a live buffer.
        unsafe { evbuffer_get_length(self.0) }
    }
}

/// An evbuffer, its callbacks' closures and the entries to remove them.
struct Buffer {
    raw: *mut evbuffer,
    /// Freed after `evbuffer_free` (which frees the entries, calling none).
    callbacks: Vec<(*mut evbuffer_cb_entry, Box<dyn Any>)>,
}

impl Buffer {
    fn new() -> Buffer {
        // SAFETY: no arguments.
        let raw = unsafe { evbuffer_new() };
        assert!(!raw.is_null());
        Buffer {
            raw,
            callbacks: Vec::new(),
        }
    }
    fn r(&self) -> BufferRef {
        BufferRef(self.raw)
    }
    fn add(&self, data: &[u8]) {
        self.r().add(data)
    }
    fn len(&self) -> usize {
        self.r().len()
    }
    /// `evbuffer_drain`: may end references (their cleanups run) and run
    /// the callbacks.
    fn drain(&self, len: usize) {
        // SAFETY: a live buffer.
        let rc = resume_panics(|| unsafe { evbuffer_drain(self.raw, len) });
        assert_eq!(rc, 0, "evbuffer_drain");
    }

    /// `evbuffer_add_cb`; returns the index for `remove_callback`.
    fn add_callback(&mut self, f: impl FnMut(BufferRef, &evbuffer_cb_info) + 'static) -> usize {
        let closure = BufferCallback::boxed(Box::new(f) as BufferFn);
        // SAFETY: a live buffer; the closure lives until the entry is
        // removed or the buffer freed.
        let entry =
            unsafe { evbuffer_add_cb(self.raw, Some(closure.function()), closure.user_data()) };
        assert!(!entry.is_null());
        self.callbacks.push((entry, Box::new(closure)));
        self.callbacks.len() - 1
    }

    /// `evbuffer_add_cb` for a closure that may add to its own buffer.
    fn add_reentrant_callback(&mut self, f: impl Fn(BufferRef, &evbuffer_cb_info) + 'static) {
        let closure = ReentrantBufferCallback::boxed(Box::new(f) as SharedBufferFn);
        // SAFETY: as for `add_callback`.
        let entry =
            unsafe { evbuffer_add_cb(self.raw, Some(closure.function()), closure.user_data()) };
        assert!(!entry.is_null());
        self.callbacks.push((entry, Box::new(closure)));
    }

    fn remove_callback(&mut self, index: usize) {
        let (entry, closure) = self.callbacks.remove(index);
        // SAFETY: an entry of this buffer, removed once.
        assert_eq!(unsafe { evbuffer_remove_cb_entry(self.raw, entry) }, 0);
        drop(closure);
    }

    /// `evbuffer_add_reference`: libevent reads `data` in place until it
    /// drains it (or the buffer is freed), then calls the cleanup, which
    /// drops `data` (and runs `on_cleanup`).
    fn add_reference(
        &self,
        data: Vec<u8>,
        on_cleanup: impl FnOnce(usize) + 'static,
    ) -> Result<(), Vec<u8>> {
        let (ptr_, len) = (data.as_ptr(), data.len());
        // The bytes stay where they are when the Vec moves into the closure.
        let data = Rc::new(RefCell::new(Some(data)));
        let kept = data.clone();
        let raw = RefCleanup::once(move |_data: *const c_void, len: usize| {
            drop(kept.take());
            on_cleanup(len);
        })
        .into_raw();
        // SAFETY: a live buffer; the bytes live until the cleanup runs.
        let rc = unsafe {
            evbuffer_add_reference(
                self.raw,
                ptr_.cast(),
                len,
                Some(raw.function),
                raw.user_data,
            )
        };
        if rc != 0 {
            // SAFETY: refused: libevent does not call the cleanup.
            unsafe { raw.reclaim() };
            return Err(data.take().expect("the cleanup did not run"));
        }
        Ok(())
    }

    fn freeze_end(&self) {
        // SAFETY: a live buffer.
        assert_eq!(unsafe { evbuffer_freeze(self.raw, 0) }, 0);
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let raw = self.raw;
        // SAFETY: our buffer, freed once; it runs the references' cleanups.
        resume_panics(|| unsafe { evbuffer_free(raw) });
        // `callbacks` drop next.
    }
}

// ---------------------------------------------------------------------------
// The log callback: global, no user data
// ---------------------------------------------------------------------------

/// What the log sink keeps; tests on other threads log too, so each test
/// picks its own lines out by a marker.
static LOG: Mutex<Vec<(c_int, String)>> = Mutex::new(Vec::new());

/// `event_log_cb`. Global and with no user data: a fixed fn with its state
/// in a static. libevent logs from inside any of its calls, on any thread,
/// so a panic here with no guard on that thread returns (and is reported)
/// rather than aborting.
#[callback(unguarded = fallback)]
extern "C" fn log_to_sink(severity: c_int, #[into(&CStr)] msg: *const c_char) {
    let msg = msg.to_string_lossy().into_owned();
    if PANIC_IN_LOGGER.get() {
        PANIC_IN_LOGGER.set(false);
        panic!("the logger panicked on {msg:?}");
    }
    LOG.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((severity, msg));
}

fn install_logger() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: a fn with no user data.
    ONCE.call_once(|| unsafe { event_set_log_callback(Some(log_to_sink)) });
}

fn logged(marker: &str) -> Vec<(c_int, String)> {
    LOG.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, m)| m.contains(marker))
        .cloned()
        .collect()
}

/// A socket pair, both ends non-blocking.
fn socketpair() -> [evutil_socket_t; 2] {
    let mut fds = [-1; 2];
    // SAFETY: room for two.
    let rc = unsafe { evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0);
    for fd in fds {
        // SAFETY: our socket.
        assert_eq!(unsafe { evutil_make_socket_nonblocking(fd) }, 0);
    }
    fds
}

fn write_fd(fd: c_int, data: &[u8]) {
    // SAFETY: our socket, our buffer.
    let n = unsafe { write(fd, data.as_ptr().cast(), data.len()) };
    assert_eq!(n, data.len() as isize);
}

fn close_fd(fd: c_int) {
    // SAFETY: our socket, closed once.
    assert_eq!(unsafe { close(fd) }, 0);
}

/// `BufferEvent::pair` for two state types.
fn pair_of<A: BevCallbacks + 'static, B: BevCallbacks + 'static>(
    base: &Base,
    options: c_int,
) -> (BufferEvent<A>, BufferEvent<B>) {
    let mut pair = [ptr::null_mut(); 2];
    // SAFETY: a live base, room for two.
    let rc = unsafe { bufferevent_pair_new(base.raw(), options, pair.as_mut_ptr()) };
    assert_eq!(rc, 0, "bufferevent_pair_new");
    (
        BufferEvent::from_raw(base, pair[0]),
        BufferEvent::from_raw(base, pair[1]),
    )
}

/// A state that implements the set itself: what it gathered is read back
/// with `with_state`, no `Rc<RefCell<..>>`.
#[derive(Default)]
struct Collector {
    got: Vec<u8>,
    reads: u32,
    writes: u32,
    events: Vec<Events>,
    panic_on_read: bool,
}

impl BevCallbacks for Collector {
    fn read(&mut self, bev: *mut bufferevent) {
        self.reads += 1;
        if self.panic_on_read {
            panic!("collector read panicked");
        }
        let data = Bev(bev).read_all();
        self.got.extend_from_slice(&data);
    }
    fn write(&mut self, _bev: *mut bufferevent) {
        self.writes += 1;
    }
    fn event(&mut self, _bev: *mut bufferevent, what: Events) {
        self.events.push(what);
    }
}

thread_local! {
    /// Makes the logger panic on its next line on this thread.
    static PANIC_IN_LOGGER: Cell<bool> = const { Cell::new(false) };
}

// ---------------------------------------------------------------------------
// Tests: events
// ---------------------------------------------------------------------------

#[test]
fn persistent_timer_breaks_the_loop_from_its_callback() {
    let base = Base::new();
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let (c, b) = (calls.clone(), base.clone());
    let ev = Event::new(&base, -1, EV_PERSIST, move |fd, what| {
        let _ = &track;
        assert_eq!(fd, -1);
        assert!(what.has(EV_TIMEOUT));
        c.set(c.get() + 1);
        if c.get() == 3 {
            b.loopbreak();
        }
    });
    ev.r().add(Some(1));
    assert_eq!(base.dispatch(), 0);
    assert!(base.got_break());
    assert_eq!(calls.get(), 3);
    assert!(
        ev.r().is_pending(EV_TIMEOUT),
        "a persistent timer stays pending"
    );
    // The closure holds a `Base` (an `Rc` cycle through `BaseInner` is not
    // made: events hold the base, the base holds no event).
    drop(ev);
    assert_eq!(drops.get(), 1, "event_free, then the closure");
}

#[test]
fn one_shot_timer_fires_once_and_is_added_again() {
    let base = Base::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let ev = Event::timer(&base, move |_, what| {
        assert_eq!(what, Events(EV_TIMEOUT));
        c.set(c.get() + 1);
    });
    ev.r().add(Some(1));
    assert_eq!(base.dispatch(), 1, "nothing left pending");
    assert_eq!(calls.get(), 1);
    assert!(!ev.r().is_pending(EV_TIMEOUT));
    ev.r().add(Some(0));
    assert_eq!(base.dispatch(), 1);
    assert_eq!(calls.get(), 2);
}

#[test]
fn event_freed_from_inside_its_own_callback() {
    let base = Base::new();
    let (track, drops) = tracked();
    let slot: Rc<RefCell<Option<Event>>> = Rc::new(RefCell::new(None));
    let seen_in_call = Rc::new(Cell::new(u32::MAX));
    let calls = Rc::new(Cell::new(0));
    let (s, d, seen, c) = (
        slot.clone(),
        drops.clone(),
        seen_in_call.clone(),
        calls.clone(),
    );
    let ev = Event::new(&base, -1, EV_PERSIST, move |_, _| {
        let _ = &track;
        c.set(c.get() + 1);
        if c.get() == 2 {
            // event_free, then the closure's `Boxed`: this very closure,
            // still running. Its free waits for this call to return.
            let ev = s.borrow_mut().take().expect("the event is in its slot");
            drop(ev);
            seen.set(d.get());
        }
    });
    ev.r().add(Some(1));
    *slot.borrow_mut() = Some(ev);
    assert_eq!(base.dispatch(), 1, "the freed event left nothing pending");
    assert_eq!(calls.get(), 2);
    assert_eq!(seen_in_call.get(), 0, "not dropped under its own call");
    assert_eq!(drops.get(), 1, "dropped once the call returned");
}

#[test]
fn event_active_from_a_callback_is_queued_not_nested() {
    let base = Base::new();
    let depth = Rc::new(Cell::new(0));
    let order = Rc::new(RefCell::new(Vec::new()));
    // The closures need their own event's pointer, which exists only once
    // `event_new` has the closure's user data: a cell filled afterwards.
    let other_ref = Rc::new(Cell::new(EventRef(ptr::null_mut())));
    let self_ref = Rc::new(Cell::new(EventRef(ptr::null_mut())));
    let (dp, o, me, other) = (
        depth.clone(),
        order.clone(),
        self_ref.clone(),
        other_ref.clone(),
    );
    let a = Event::new(&base, -1, 0, move |_, what| {
        dp.set(dp.get() + 1);
        assert_eq!(dp.get(), 1, "never nested");
        o.borrow_mut().push(("a", what.0));
        let n = o.borrow().iter().filter(|(name, _)| *name == "a").count();
        if n < 3 {
            me.get().activate(EV_READ);
            other.get().activate(EV_WRITE);
        }
        dp.set(dp.get() - 1);
    });
    let (dp, o) = (depth.clone(), order.clone());
    let b = Event::new(&base, -1, 0, move |_, what| {
        dp.set(dp.get() + 1);
        assert_eq!(dp.get(), 1, "never nested");
        o.borrow_mut().push(("b", what.0));
        dp.set(dp.get() - 1);
    });
    self_ref.set(a.r());
    other_ref.set(b.r());
    a.r().activate(EV_TIMEOUT);
    assert_eq!(base.dispatch(), 1);
    // `b` activated while already active is not queued twice.
    assert_eq!(
        *order.borrow(),
        [
            ("a", EV_TIMEOUT),
            ("a", EV_READ),
            ("b", EV_WRITE),
            ("a", EV_READ)
        ]
    );
}

#[test]
fn event_base_loop_from_inside_a_callback_is_refused() {
    install_logger();
    let base = Base::new();
    let inner_rc = Rc::new(Cell::new(0));
    let (b, r) = (base.clone(), inner_rc.clone());
    let ev = Event::timer(&base, move |_, _| {
        // libevent refuses a second loop on the base: -1 and a warning.
        r.set(b.run(EVLOOP_NONBLOCK));
    });
    ev.r().add(Some(0));
    assert_eq!(base.dispatch(), 1);
    assert_eq!(inner_rc.get(), -1);
    let lines = logged("reentrant invocation");
    assert!(
        !lines.is_empty(),
        "libevent warned through the log callback"
    );
    assert!(
        lines
            .iter()
            .all(|(severity, _)| *severity == EVENT_LOG_WARN)
    );
}

#[test]
fn base_once_is_called_once_and_uncalled_ones_are_dropped_with_the_base() {
    let base = Base::new();
    let fired = Rc::new(Cell::new(0));
    let (track, drops) = tracked();
    let f = fired.clone();
    base.once(-1, EV_TIMEOUT, Some(0), move |fd, what| {
        let _ = &track;
        assert_eq!((fd, what), (-1, Events(EV_TIMEOUT)));
        f.set(f.get() + 1);
    })
    .unwrap();
    let (late, late_drops) = tracked();
    base.once(-1, EV_TIMEOUT, Some(60_000), move |_, _| {
        let _ = &late;
        unreachable!("the base is freed first");
    })
    .unwrap();
    assert_eq!(base.pending_once(), 2);
    assert_eq!(base.run(EVLOOP_ONCE), 0);
    assert_eq!(fired.get(), 1);
    assert_eq!(drops.get(), 1, "consumed by its call");
    assert_eq!(base.pending_once(), 1, "the called one freed its record");

    // libevent refuses a persistent or signal `once`: the closure is ours.
    let (refused, refused_drops) = tracked();
    let rc = base.once(-1, EV_PERSIST, None, move |_, _| {
        let _ = &refused;
    });
    assert_eq!(rc, Err(-1));
    assert_eq!(refused_drops.get(), 1);

    assert_eq!(late_drops.get(), 0);
    drop(base);
    assert_eq!(
        late_drops.get(),
        1,
        "event_base_free, then the uncalled closure"
    );
}

#[test]
fn signal_event_runs_on_the_loop() {
    let base = Base::new();
    let got = Rc::new(RefCell::new(Vec::new()));
    let (g, b) = (got.clone(), base.clone());
    let ev = Event::signal(&base, SIGUSR1, move |signal, what| {
        g.borrow_mut().push((signal, what));
        b.loopbreak();
    });
    ev.r().add(None);
    // SAFETY: libevent's handler is installed for SIGUSR1 while the event
    // is added; it only notes the signal for the loop.
    assert_eq!(unsafe { raise(SIGUSR1) }, 0);
    assert_eq!(base.dispatch(), 0);
    assert_eq!(*got.borrow(), [(SIGUSR1, Events(EV_SIGNAL))]);
    ev.r().del();
}

// ---------------------------------------------------------------------------
// Tests: bufferevents
// ---------------------------------------------------------------------------

/// Runs what is ready (bufferevent pairs defer every callback to the
/// loop), a few rounds for ping-pongs.
fn settle(base: &Base) {
    for _ in 0..4 {
        base.run(EVLOOP_NONBLOCK);
    }
}

#[test]
fn bufferevent_pair_three_callbacks_share_one_state() {
    let base = Base::new();
    let (mut a, mut b) = pair_of::<Collector, Handlers>(&base, 0);
    a.set_callbacks(Collector::default());
    let b_reads = Rc::new(Cell::new(0));
    let r = b_reads.clone();
    b.set_callbacks(Handlers {
        read: Some(Box::new(move |bev| {
            r.set(r.get() + 1);
            // An echo, upper-cased.
            let data = bev.read_all().to_ascii_uppercase();
            bev.write(&data);
        })),
        ..Handlers::default()
    });
    a.bev().enable(EV_READ);
    b.bev().enable(EV_READ);
    a.bev().write(b"ping");
    assert_eq!(b_reads.get(), 0, "a pair defers its callbacks to the loop");
    settle(&base);
    assert_eq!(b_reads.get(), 1);
    let (got, reads, writes) = a
        .with_state(|s| (s.got.clone(), s.reads, s.writes))
        .unwrap();
    assert_eq!(got, b"PING");
    assert_eq!(reads, 1);
    assert!(writes >= 1, "a's output drained: its write callback ran");
    drop(b);
    settle(&base);
}

#[test]
fn bufferevent_pair_flush_finished_reports_eof_to_the_partner() {
    let base = Base::new();
    let (mut a, mut b) = pair_of::<Collector, Collector>(&base, 0);
    a.set_callbacks(Collector::default());
    b.set_callbacks(Collector::default());
    b.bev().enable(EV_READ);
    a.bev().write(b"last words");
    // SAFETY: a live bufferevent; BEV_FINISHED on EV_WRITE.
    let rc = unsafe { bufferevent_flush(a.raw, EV_WRITE, BEV_FINISHED) };
    assert_eq!(rc, 0);
    settle(&base);
    let (got, events) = b.with_state(|s| (s.got.clone(), s.events.clone())).unwrap();
    assert_eq!(got, b"last words");
    assert_eq!(events, [Events(BEV_EVENT_EOF | BEV_EVENT_READING)]);
}

#[test]
fn socket_bufferevent_frees_itself_on_eof_from_its_event_callback() {
    let base = Base::new();
    let [ours, theirs] = socketpair();
    let slot: Rc<RefCell<Option<BufferEvent>>> = Rc::new(RefCell::new(None));
    let got = Rc::new(RefCell::new(Vec::new()));
    let events = Rc::new(RefCell::new(Vec::new()));
    let (track, drops) = tracked();
    let seen_in_call = Rc::new(Cell::new(u32::MAX));
    let mut bev = BufferEvent::socket(&base, ours, BEV_OPT_CLOSE_ON_FREE);
    let g = got.clone();
    let (s, e, d, seen) = (
        slot.clone(),
        events.clone(),
        drops.clone(),
        seen_in_call.clone(),
    );
    bev.set_callbacks(Handlers {
        read: Some(Box::new(move |bev| g.borrow_mut().extend(bev.read_all()))),
        write: None,
        event: Some(Box::new(move |_bev, what| {
            let _ = &track;
            e.borrow_mut().push(what);
            if what.has(BEV_EVENT_EOF) {
                // bufferevent_free (callbacks cleared, the socket closed),
                // then the set's state: this one, running. The free waits
                // for this call.
                drop(s.borrow_mut().take());
                seen.set(d.get());
            }
        })),
    });
    bev.bev().enable(EV_READ);
    *slot.borrow_mut() = Some(bev);
    write_fd(theirs, b"hello, ");
    write_fd(theirs, b"libevent");
    close_fd(theirs);
    assert_eq!(
        base.dispatch(),
        1,
        "the freed bufferevent left nothing pending"
    );
    assert_eq!(*got.borrow(), b"hello, libevent");
    assert_eq!(
        *events.borrow(),
        [Events(BEV_EVENT_EOF | BEV_EVENT_READING)]
    );
    assert_eq!(seen_in_call.get(), 0, "not dropped under its own call");
    assert_eq!(drops.get(), 1);
    assert!(slot.borrow().is_none());
}

#[test]
fn bufferevent_callbacks_replaced_from_inside_a_callback() {
    let base = Base::new();
    let (mut a, b) = pair_of::<Collector, Handlers>(&base, 0);
    a.set_callbacks(Collector::default());
    let slot: Rc<RefCell<Option<BufferEvent>>> = Rc::new(RefCell::new(Some(b)));
    let log = Rc::new(RefCell::new(Vec::new()));
    let (first, first_drops) = tracked();
    let (s, l) = (slot.clone(), log.clone());
    slot.borrow_mut().as_mut().unwrap().set_callbacks(Handlers {
        read: Some(Box::new(move |bev| {
            let _ = &first;
            l.borrow_mut().push(format!("first {:?}", bev.read_all()));
            let l2 = l.clone();
            // The old state (this closure) is dropped once this call
            // returns; the new one gets the next read.
            s.borrow_mut().as_mut().unwrap().set_callbacks(Handlers {
                read: Some(Box::new(move |bev| {
                    l2.borrow_mut().push(format!("second {:?}", bev.read_all()))
                })),
                ..Handlers::default()
            });
        })),
        ..Handlers::default()
    });
    let b = slot.borrow().as_ref().unwrap().bev();
    b.enable(EV_READ);
    a.bev().write(b"1");
    settle(&base);
    assert_eq!(first_drops.get(), 1, "replaced, and dropped after its call");
    a.bev().write(b"2");
    settle(&base);
    assert_eq!(*log.borrow(), ["first [49]", "second [50]"]);
    drop(slot.borrow_mut().take());
}

// ---------------------------------------------------------------------------
// Tests: evbuffers
// ---------------------------------------------------------------------------

#[test]
fn evbuffer_callback_sees_adds_and_drains_until_removed() {
    let mut buf = Buffer::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s, (track, drops)) = (seen.clone(), tracked());
    let index = buf.add_callback(move |b, info| {
        let _ = &track;
        s.borrow_mut().push((*info, b.len()));
    });
    buf.add(b"hello");
    buf.drain(2);
    let info = |orig_size, n_added, n_deleted| evbuffer_cb_info {
        orig_size,
        n_added,
        n_deleted,
    };
    assert_eq!(*seen.borrow(), [(info(0, 5, 0), 5), (info(5, 0, 2), 3)]);
    buf.remove_callback(index);
    assert_eq!(drops.get(), 1);
    buf.add(b"more");
    assert_eq!(seen.borrow().len(), 2);
}

#[test]
fn evbuffer_callback_adding_to_its_own_buffer_is_refused_as_reentry() {
    let mut buf = Buffer::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    buf.add_callback(move |b, info| {
        c.set(c.get() + 1);
        if info.n_added > 0 && b.len() < 4 {
            // libevent runs this buffer's callbacks again, inside this
            // add: a second `&mut` into a running `FnMut`, refused.
            b.add(b"!");
        }
    });
    let payload = payload_of(|| buf.add(b"a"));
    let msg = message(&*payload);
    assert!(msg.contains("already running"), "{msg}");
    assert_eq!(calls.get(), 1, "the nested call did not run");
    // The refusal is over once the guard has raised it: the callback runs
    // again (and the "!" it added made it in).
    assert_eq!(buf.len(), 2);
}

#[test]
fn reentrant_evbuffer_callback_may_add_to_its_own_buffer() {
    let mut buf = Buffer::new();
    let depth = Rc::new(Cell::new(0));
    let max_depth = Rc::new(Cell::new(0));
    let (d, m) = (depth.clone(), max_depth.clone());
    buf.add_reentrant_callback(move |b, info| {
        d.set(d.get() + 1);
        m.set(m.get().max(d.get()));
        if info.n_added > 0 && b.len() < 4 {
            b.add(b"!");
        }
        d.set(d.get() - 1);
    });
    buf.add(b"a");
    assert_eq!(buf.len(), 4);
    assert_eq!(max_depth.get(), 4, "each add ran the callback, nested");
}

#[test]
fn reference_cleanup_runs_on_drain_and_on_free_and_is_reclaimed_when_refused() {
    let buf = Buffer::new();
    let cleaned = Rc::new(RefCell::new(Vec::new()));
    let c = cleaned.clone();
    buf.add_reference(b"borrowed bytes".to_vec(), move |len| {
        c.borrow_mut().push(len)
    })
    .unwrap();
    assert_eq!(buf.len(), 14);
    buf.drain(14);
    assert_eq!(*cleaned.borrow(), [14]);

    let c = cleaned.clone();
    buf.add_reference(vec![7; 3], move |len| c.borrow_mut().push(len))
        .unwrap();
    drop(buf);
    assert_eq!(
        *cleaned.borrow(),
        [14, 3],
        "evbuffer_free ends the reference"
    );

    let buf = Buffer::new();
    buf.freeze_end();
    let (track, drops) = tracked();
    let back = buf.add_reference(b"refused".to_vec(), move |_| {
        let _ = &track;
        unreachable!("never referenced");
    });
    assert_eq!(back, Err(b"refused".to_vec()));
    assert_eq!(drops.get(), 1, "reclaimed uncalled");
}

// ---------------------------------------------------------------------------
// Tests: the log callback
// ---------------------------------------------------------------------------

#[test]
fn log_callback_receives_warnings_from_outside_the_loop() {
    install_logger();
    // SAFETY: a bad descriptor: libevent warns and fails.
    assert_eq!(unsafe { evutil_make_socket_nonblocking(-77) }, -1);
    let lines = logged("fcntl(-77");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, EVENT_LOG_WARN);
}

// ---------------------------------------------------------------------------
// Tests: panics
// ---------------------------------------------------------------------------

#[test]
fn panic_in_an_event_callback_breaks_dispatch_and_the_loop_runs_again() {
    let base = Base::new();
    let calls = Rc::new(Cell::new(0));
    let other_calls = Rc::new(Cell::new(0));
    let (c, b) = (calls.clone(), base.clone());
    let ev = Event::new(&base, -1, EV_PERSIST, move |_, _| {
        c.set(c.get() + 1);
        match c.get() {
            2 => panic!("timer panicked on call 2"),
            4 => b.loopbreak(),
            _ => {}
        }
    });
    let o = other_calls.clone();
    let other = Event::new(&base, -1, EV_PERSIST, move |_, _| o.set(o.get() + 1));
    ev.r().add(Some(1));
    other.r().add(Some(1));
    let payload = payload_of(|| base.dispatch());
    assert_eq!(message(&*payload), "timer panicked on call 2");
    assert!(base.got_break(), "the guard's stop hook broke the loop");
    assert_eq!(calls.get(), 2);
    // The caller has the panic: the events work again.
    assert_eq!(base.dispatch(), 0);
    assert_eq!(calls.get(), 4);
    assert!(other_calls.get() >= 1);
}

#[test]
fn panic_in_a_once_callback_comes_back_from_the_loop() {
    let base = Base::new();
    base.once(-1, EV_TIMEOUT, Some(0), |_, _| panic!("once panicked"))
        .unwrap();
    let payload = payload_of(|| base.run(EVLOOP_ONCE));
    assert_eq!(message(&*payload), "once panicked");
    assert_eq!(base.pending_once(), 0);
}

#[test]
fn panic_in_a_bufferevent_callback_comes_back_from_the_loop_and_the_state_recovers() {
    let base = Base::new();
    let (mut a, mut b) = pair_of::<Collector, Collector>(&base, 0);
    a.set_callbacks(Collector::default());
    b.set_callbacks(Collector {
        panic_on_read: true,
        ..Collector::default()
    });
    b.bev().enable(EV_READ);
    a.bev().write(b"boom");
    let payload = payload_of(|| base.run(EVLOOP_NONBLOCK));
    assert_eq!(message(&*payload), "collector read panicked");
    // Back with the caller: the state is usable again. The bytes the
    // panicking read left are still in b's input.
    b.with_state(|s| s.panic_on_read = false)
        .expect("not poisoned any more");
    a.bev().write(b"!");
    settle(&base);
    assert_eq!(
        b.with_state(|s| (s.reads, s.got.clone())).unwrap(),
        (2, b"boom!".to_vec())
    );
}

#[test]
fn panic_in_a_deferred_bufferevent_callback_comes_back_from_dispatch() {
    let base = Base::new();
    let (mut a, mut b) = pair_of::<Collector, Collector>(&base, BEV_OPT_DEFER_CALLBACKS);
    a.set_callbacks(Collector::default());
    b.set_callbacks(Collector {
        panic_on_read: true,
        ..Collector::default()
    });
    b.bev().enable(EV_READ);
    a.bev().write(b"boom");
    let payload = payload_of(|| base.dispatch());
    assert_eq!(message(&*payload), "collector read panicked");
    // The stop hook broke the loop with `a`'s deferred write callback still
    // queued, holding a reference on `a`: `event_base_free` cancels it
    // without dropping that reference, and the pair would leak. Let the
    // loop finish its queue first.
    drop((a, b));
    settle(&base);
}

#[test]
fn panic_in_an_evbuffer_callback_comes_back_from_the_add() {
    let mut buf = Buffer::new();
    buf.add_callback(|_, info| {
        if info.n_added == 3 {
            panic!("evbuffer callback panicked");
        }
    });
    let payload = payload_of(|| buf.add(b"abc"));
    assert_eq!(message(&*payload), "evbuffer callback panicked");
    buf.add(b"de");
    assert_eq!(buf.len(), 5);
}

#[test]
fn panic_in_a_reference_cleanup_comes_back_from_the_drain() {
    let buf = Buffer::new();
    buf.add_reference(b"xyz".to_vec(), |_| panic!("cleanup panicked"))
        .unwrap();
    let payload = payload_of(|| buf.drain(3));
    assert_eq!(message(&*payload), "cleanup panicked");
    assert_eq!(buf.len(), 0);
}

#[test]
fn panic_in_the_log_callback_inside_the_loop_comes_back_from_dispatch() {
    install_logger();
    let base = Base::new();
    let b = base.clone();
    let ev = Event::timer(&base, move |_, _| {
        PANIC_IN_LOGGER.set(true);
        // The refused loop logs; the logger panics inside `run`'s guard,
        // which re-raises it here, in this closure; the event's guard
        // (dispatch's) takes it from there.
        b.run(EVLOOP_NONBLOCK);
        unreachable!("the logger's panic unwinds through here");
    });
    ev.r().add(Some(0));
    let payload = payload_of(|| base.dispatch());
    PANIC_IN_LOGGER.set(false);
    assert!(
        message(&*payload).contains("the logger panicked"),
        "{}",
        message(&*payload)
    );
}

#[test]
fn panic_in_the_log_callback_outside_any_guard_is_reported_not_fatal() {
    install_logger();
    PANIC_IN_LOGGER.set(true);
    // SAFETY: as in the warning test.
    assert_eq!(unsafe { evutil_make_socket_nonblocking(-78) }, -1);
    PANIC_IN_LOGGER.set(false);
    assert!(
        logged("fcntl(-78").is_empty(),
        "the panicking logger kept nothing"
    );
    // Still installed, and running again.
    // SAFETY: as above.
    assert_eq!(unsafe { evutil_make_socket_nonblocking(-79) }, -1);
    assert_eq!(logged("fcntl(-79").len(), 1);
}

/// Panics in its `Drop`.
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

#[test]
fn event_freed_from_its_own_callback_which_then_panics() {
    let base = Base::new();
    let (track, drops) = tracked();
    let slot: Rc<RefCell<Option<Event>>> = Rc::new(RefCell::new(None));
    let s = slot.clone();
    let ev = Event::new(&base, -1, EV_PERSIST, move |_, _| {
        let _ = &track;
        drop(s.borrow_mut().take());
        panic!("panicked after freeing its own event");
    });
    ev.r().add(Some(0));
    *slot.borrow_mut() = Some(ev);
    let payload = payload_of(|| base.dispatch());
    assert_eq!(message(&*payload), "panicked after freeing its own event");
    assert_eq!(
        drops.get(),
        1,
        "the closure was freed after its call all the same"
    );
}

#[test]
fn closure_whose_drop_panics_when_its_event_frees_it_from_inside_its_call() {
    let base = Base::new();
    let slot: Rc<RefCell<Option<Event>>> = Rc::new(RefCell::new(None));
    let s = slot.clone();
    let bomb = PanicOnDrop("the closure's capture panicked in its drop");
    let ev = Event::new(&base, -1, EV_PERSIST, move |_, _| {
        let _ = &bomb;
        // The free waits for this call; the closure's drop then panics,
        // inside the trampoline, under dispatch's guard.
        drop(s.borrow_mut().take());
    });
    ev.r().add(Some(0));
    *slot.borrow_mut() = Some(ev);
    let payload = payload_of(|| base.dispatch());
    assert_eq!(
        message(&*payload),
        "the closure's capture panicked in its drop"
    );
}

#[test]
fn bufferevent_state_replaced_by_a_callback_that_then_panics() {
    let base = Base::new();
    let (mut a, b) = pair_of::<Collector, Handlers>(&base, 0);
    a.set_callbacks(Collector::default());
    let slot: Rc<RefCell<Option<BufferEvent>>> = Rc::new(RefCell::new(Some(b)));
    let second = Rc::new(RefCell::new(Vec::new()));
    let (s, sec) = (slot.clone(), second.clone());
    slot.borrow_mut().as_mut().unwrap().set_callbacks(Handlers {
        read: Some(Box::new(move |_bev| {
            let sec = sec.clone();
            s.borrow_mut().as_mut().unwrap().set_callbacks(Handlers {
                read: Some(Box::new(move |bev| sec.borrow_mut().extend(bev.read_all()))),
                ..Handlers::default()
            });
            panic!("first handlers panicked after replacing themselves");
        })),
        ..Handlers::default()
    });
    slot.borrow().as_ref().unwrap().bev().enable(EV_READ);
    a.bev().write(b"x");
    let payload = payload_of(|| base.run(EVLOOP_NONBLOCK));
    assert_eq!(
        message(&*payload),
        "first handlers panicked after replacing themselves"
    );
    // The new state is not poisoned by the old one's panic.
    a.bev().write(b"y");
    settle(&base);
    assert_eq!(*second.borrow(), b"xy");
    drop(slot.borrow_mut().take());
    drop(a);
    settle(&base);
}

#[test]
fn event_free_finalize_ends_the_state_from_the_loop_or_the_base() {
    let base = Base::new();
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let ev = FinalizedEvent::new(&base, -1, EV_PERSIST, move |_, _| {
        let _ = &track;
        c.set(c.get() + 1);
    });
    ev.r().add(Some(0));
    assert_eq!(base.run(EVLOOP_ONCE), 0);
    assert_eq!(calls.get(), 1);
    drop(ev);
    assert_eq!(drops.get(), 0, "the finalizer runs from the loop");
    base.run(EVLOOP_NONBLOCK);
    assert_eq!(drops.get(), 1, "finalized");

    // One left to `event_base_free`.
    let (track, drops) = tracked();
    let ev = FinalizedEvent::new(&base, -1, 0, move |_, _| {
        let _ = &track;
    });
    drop(ev);
    drop(base);
    assert_eq!(drops.get(), 1, "event_base_free ran the finalizer");
}

#[test]
fn event_free_finalize_from_inside_its_own_callback() {
    let base = Base::new();
    let (track, drops) = tracked();
    let slot: Rc<RefCell<Option<FinalizedEvent>>> = Rc::new(RefCell::new(None));
    let seen_in_call = Rc::new(Cell::new(u32::MAX));
    let (s, d, seen) = (slot.clone(), drops.clone(), seen_in_call.clone());
    let ev = FinalizedEvent::new(&base, -1, EV_PERSIST, move |_, _| {
        let _ = &track;
        drop(s.borrow_mut().take());
        seen.set(d.get());
    });
    ev.r().add(Some(0));
    *slot.borrow_mut() = Some(ev);
    assert_eq!(base.dispatch(), 1);
    assert_eq!(seen_in_call.get(), 0);
    assert_eq!(drops.get(), 1);
}

/// The same three C entry points as `BevCallbacks`, taking `&self`: calls
/// may nest (libevent runs a bufferevent's callbacks synchronously from
/// `bufferevent_trigger` when it does not defer them).
#[callback]
trait SharedBevCallbacks {
    unsafe extern "C" fn read(&self, bev: *mut bufferevent, #[user_data] ctx: *mut c_void);
    unsafe extern "C" fn write(&self, bev: *mut bufferevent, #[user_data] ctx: *mut c_void);
    unsafe extern "C" fn event(
        &self,
        bev: *mut bufferevent,
        #[into(Events)] what: c_short,
        #[user_data] ctx: *mut c_void,
    );
}

/// Closures behind a `&self` set: each in its own `RefCell`, so that the
/// read closure may make libevent run the write closure, but not itself.
#[derive(Default)]
struct SharedHandlers {
    read: RefCell<Option<BevFn>>,
    write: RefCell<Option<BevFn>>,
}

impl SharedBevCallbacks for SharedHandlers {
    fn read(&self, bev: *mut bufferevent) {
        if let Some(read) = &mut *self.read.borrow_mut() {
            read(Bev(bev));
        }
    }
    fn write(&self, bev: *mut bufferevent) {
        if let Some(write) = &mut *self.write.borrow_mut() {
            write(Bev(bev));
        }
    }
    fn event(&self, _bev: *mut bufferevent, _what: Events) {}
}

impl Bev {
    /// `bufferevent_trigger`: runs the callback now unless deferred.
    fn trigger(self, what: c_short) {
        // SAFETY: a live bufferevent.
        resume_panics(|| unsafe { bufferevent_trigger(self.0, what, BEV_TRIG_IGNORE_WATERMARKS) });
    }
}

#[test]
fn trigger_from_inside_a_callback_into_a_mut_set_is_refused_as_reentry() {
    let base = Base::new();
    let [ours, theirs] = socketpair();
    let mut bev: BufferEvent = BufferEvent::socket(&base, ours, BEV_OPT_CLOSE_ON_FREE);
    let writes = Rc::new(Cell::new(0));
    let w = writes.clone();
    bev.set_callbacks(Handlers {
        read: Some(Box::new(|bev| {
            bev.read_all();
            // Not deferred: libevent calls the write callback right here,
            // on the same `&mut` state as this read: refused.
            bev.trigger(EV_WRITE);
        })),
        write: Some(Box::new(move |_| w.set(w.get() + 1))),
        event: None,
    });
    bev.bev().enable(EV_READ);
    write_fd(theirs, b"x");
    let payload = payload_of(|| base.run(EVLOOP_ONCE));
    assert!(
        message(&*payload).contains("another call of the same state"),
        "{}",
        message(&*payload)
    );
    assert_eq!(writes.get(), 0);
    drop(bev);
    close_fd(theirs);
}

#[test]
fn trigger_from_inside_a_callback_into_a_shared_set_nests() {
    let base = Base::new();
    let [ours, theirs] = socketpair();
    let mut bev: BufferEvent<SharedHandlers> =
        BufferEvent::socket(&base, ours, BEV_OPT_CLOSE_ON_FREE);
    let writes = Rc::new(Cell::new(0));
    let w = writes.clone();
    let state = SharedHandlers {
        read: RefCell::new(Some(Box::new(|bev| {
            bev.read_all();
            bev.trigger(EV_WRITE);
        }))),
        write: RefCell::new(Some(Box::new(move |_| w.set(w.get() + 1)))),
    };
    bev.set_shared_callbacks(state);
    bev.bev().enable(EV_READ);
    write_fd(theirs, b"x");
    assert_eq!(base.run(EVLOOP_ONCE), 0);
    assert_eq!(
        writes.get(),
        1,
        "the write callback ran inside the read callback"
    );
    drop(bev);
    close_fd(theirs);
}
