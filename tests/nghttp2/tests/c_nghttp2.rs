//! nghttp2 (the system library, apt `libnghttp2-dev`; Debian 12 ships
//! 1.52.0) driven through Rust callbacks, as an HTTP/2 binding writes them
//! by hand today, with a client and a server session talking through
//! memory (no sockets):
//!
//! - `nghttp2_session_callbacks` (on_begin_headers, on_header,
//!   on_frame_recv, on_data_chunk_recv, on_stream_close, send,
//!   error_callback2, before_frame_send) as one callback set whose state is
//!   the session's user data, kept by the binding's `Session` and freed
//!   once after `nghttp2_session_del`;
//! - per-stream user data (`nghttp2_submit_request`'s `stream_user_data`,
//!   read back with `nghttp2_session_get_stream_user_data`);
//! - data providers (`nghttp2_data_provider`) as boxed closures whose
//!   user data is `source.ptr` (`user_data = EXPR`) or the stream's user
//!   data: EOF, NGHTTP2_ERR_DEFERRED and `nghttp2_session_resume_data`
//!   (also from inside another callback), `Result`s mapped to
//!   NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE / NGHTTP2_ERR_CALLBACK_FAILURE
//!   and returned typed through `try_resume`;
//! - a custom allocator (`nghttp2_mem`), as a callback set and as `#[callback]`
//!   fns sharing one `&State` (the form whose `free` still runs after a
//!   panic in `malloc`);
//! - a panic in each kind of callback coming back when the session call
//!   returns, nghttp2 having seen the failure value, and no user code
//!   running on the poisoned state meanwhile; re-entry (submit_* and
//!   resume_data from callbacks, which nghttp2 allows; a nested
//!   `nghttp2_session_mem_send`, refused by the set).
//!
//! scripts/test-nghttp2.sh runs this binary under valgrind memcheck too.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::mem::{MaybeUninit, offset_of};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;
use std::sync::Once;

use ffi_callback::{Boxed, BoxedSet, callback, resume_panics, try_resume};

// ---------------------------------------------------------------------------
// nghttp2 1.52, declared by hand
// ---------------------------------------------------------------------------

/// `nghttp2_session`, opaque.
#[repr(C)]
struct NgSession {
    _opaque: [u8; 0],
}

/// `nghttp2_session_callbacks`, opaque.
#[repr(C)]
struct NgCallbacks {
    _opaque: [u8; 0],
}

/// `nghttp2_frame_hd`.
#[repr(C)]
#[derive(Clone, Copy)]
struct FrameHd {
    length: usize,
    stream_id: i32,
    kind: u8,
    flags: u8,
    reserved: u8,
}

/// `nghttp2_frame`: a union of the frame kinds, 64 bytes, every member
/// starting with the header. The rest is read only for HEADERS (`cat`), and
/// left `MaybeUninit` since other frames do not write it all.
#[repr(C)]
struct Frame {
    hd: FrameHd,
    rest: [MaybeUninit<u8>; 48],
}

/// `offsetof(nghttp2_headers, cat)`.
const HEADERS_CAT_OFFSET: usize = 56;

impl Frame {
    /// `frame->headers.cat`, for a HEADERS frame.
    fn headers_cat(&self) -> Option<c_int> {
        if self.hd.kind != NGHTTP2_HEADERS {
            return None;
        }
        let at = HEADERS_CAT_OFFSET - size_of::<FrameHd>();
        // SAFETY: a HEADERS frame's `nghttp2_headers` has written its `cat`
        // (an int, 4-aligned, inside the 64 bytes `&self` covers).
        Some(unsafe { self.rest.as_ptr().add(at).cast::<c_int>().read() })
    }

    fn end_stream(&self) -> bool {
        self.hd.flags & NGHTTP2_FLAG_END_STREAM != 0
    }
}

/// `nghttp2_nv`.
#[repr(C)]
struct Nv {
    name: *const u8,
    value: *const u8,
    namelen: usize,
    valuelen: usize,
    flags: u8,
}

fn nv(name: &'static [u8], value: &'static [u8]) -> Nv {
    Nv {
        name: name.as_ptr(),
        value: value.as_ptr(),
        namelen: name.len(),
        valuelen: value.len(),
        flags: NGHTTP2_NV_FLAG_NONE,
    }
}

/// `nghttp2_data_source`.
#[repr(C)]
#[derive(Clone, Copy)]
union DataSource {
    fd: c_int,
    ptr: *mut c_void,
}

/// `nghttp2_data_source_read_callback`.
type DataSourceReadFn = unsafe extern "C" fn(
    session: *mut NgSession,
    stream_id: i32,
    buf: *mut u8,
    length: usize,
    data_flags: *mut u32,
    source: *mut DataSource,
    user_data: *mut c_void,
) -> isize;

/// `nghttp2_data_provider`.
#[repr(C)]
struct DataProvider {
    source: DataSource,
    read_callback: Option<DataSourceReadFn>,
}

/// `nghttp2_malloc` .. `nghttp2_realloc`.
type MallocFn = unsafe extern "C" fn(size: usize, mem_user_data: *mut c_void) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(ptr: *mut c_void, mem_user_data: *mut c_void);
type CallocFn =
    unsafe extern "C" fn(nmemb: usize, size: usize, mem_user_data: *mut c_void) -> *mut c_void;
type ReallocFn =
    unsafe extern "C" fn(ptr: *mut c_void, size: usize, mem_user_data: *mut c_void) -> *mut c_void;

/// `nghttp2_mem` (copied into the session by `nghttp2_session_*_new3`).
#[repr(C)]
struct NgMem {
    mem_user_data: *mut c_void,
    malloc: Option<MallocFn>,
    free: Option<FreeFn>,
    calloc: Option<CallocFn>,
    realloc: Option<ReallocFn>,
}

const NGHTTP2_ERR_INVALID_ARGUMENT: c_int = -501;
const NGHTTP2_ERR_DEFERRED: c_int = -508;
const NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE: c_int = -521;
const NGHTTP2_ERR_HTTP_HEADER: c_int = -531;
const NGHTTP2_ERR_CANCEL: c_int = -535;
const NGHTTP2_ERR_NOMEM: c_int = -901;
const NGHTTP2_ERR_CALLBACK_FAILURE: c_int = -902;
const NGHTTP2_ERR_BAD_CLIENT_MAGIC: c_int = -903;
const NGHTTP2_NV_FLAG_NONE: u8 = 0;
const NGHTTP2_DATA: u8 = 0;
const NGHTTP2_HEADERS: u8 = 1;
const NGHTTP2_SETTINGS: u8 = 4;
const NGHTTP2_GOAWAY: u8 = 7;
const NGHTTP2_FLAG_NONE: u8 = 0;
const NGHTTP2_FLAG_END_STREAM: u8 = 1;
const NGHTTP2_DATA_FLAG_EOF: u32 = 1;
const NGHTTP2_DATA_FLAG_NO_END_STREAM: u32 = 2;
const NGHTTP2_HCAT_REQUEST: c_int = 0;
const NGHTTP2_NO_ERROR: u32 = 0;
const NGHTTP2_PROTOCOL_ERROR: u32 = 1;
const NGHTTP2_INTERNAL_ERROR: u32 = 2;
const NGHTTP2_CANCEL: u32 = 8;

#[link(name = "nghttp2")]
unsafe extern "C" {
    fn nghttp2_session_callbacks_new(callbacks: *mut *mut NgCallbacks) -> c_int;
    fn nghttp2_session_callbacks_del(callbacks: *mut NgCallbacks);
    fn nghttp2_session_callbacks_set_on_begin_headers_callback(
        cbs: *mut NgCallbacks,
        f: Option<Http2OnBeginHeadersFn>,
    );
    fn nghttp2_session_callbacks_set_on_header_callback(
        cbs: *mut NgCallbacks,
        f: Option<Http2OnHeaderFn>,
    );
    fn nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs: *mut NgCallbacks,
        f: Option<Http2OnFrameRecvFn>,
    );
    fn nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs: *mut NgCallbacks,
        f: Option<Http2OnDataChunkRecvFn>,
    );
    fn nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs: *mut NgCallbacks,
        f: Option<Http2OnStreamCloseFn>,
    );
    fn nghttp2_session_callbacks_set_send_callback(cbs: *mut NgCallbacks, f: Option<Http2SendFn>);
    fn nghttp2_session_callbacks_set_error_callback2(
        cbs: *mut NgCallbacks,
        f: Option<Http2ErrorCallback2Fn>,
    );
    fn nghttp2_session_callbacks_set_before_frame_send_callback(
        cbs: *mut NgCallbacks,
        f: Option<Http2BeforeFrameSendFn>,
    );

    fn nghttp2_session_client_new3(
        session: *mut *mut NgSession,
        callbacks: *const NgCallbacks,
        user_data: *mut c_void,
        option: *const c_void,
        mem: *mut NgMem,
    ) -> c_int;
    fn nghttp2_session_server_new3(
        session: *mut *mut NgSession,
        callbacks: *const NgCallbacks,
        user_data: *mut c_void,
        option: *const c_void,
        mem: *mut NgMem,
    ) -> c_int;
    fn nghttp2_session_del(session: *mut NgSession);
    fn nghttp2_session_send(session: *mut NgSession) -> c_int;
    fn nghttp2_session_mem_send(session: *mut NgSession, data: *mut *const u8) -> isize;
    fn nghttp2_session_mem_recv(session: *mut NgSession, data: *const u8, len: usize) -> isize;
    fn nghttp2_session_resume_data(session: *mut NgSession, stream_id: i32) -> c_int;
    fn nghttp2_session_want_read(session: *mut NgSession) -> c_int;
    fn nghttp2_session_want_write(session: *mut NgSession) -> c_int;
    fn nghttp2_session_terminate_session(session: *mut NgSession, error_code: u32) -> c_int;
    fn nghttp2_session_get_stream_user_data(session: *mut NgSession, stream_id: i32)
    -> *mut c_void;

    fn nghttp2_submit_settings(
        session: *mut NgSession,
        flags: u8,
        iv: *const c_void,
        niv: usize,
    ) -> c_int;
    fn nghttp2_submit_request(
        session: *mut NgSession,
        pri_spec: *const c_void,
        nva: *const Nv,
        nvlen: usize,
        data_prd: *const DataProvider,
        stream_user_data: *mut c_void,
    ) -> i32;
    fn nghttp2_submit_trailer(
        session: *mut NgSession,
        stream_id: i32,
        nva: *const Nv,
        nvlen: usize,
    ) -> c_int;
    fn nghttp2_submit_rst_stream(
        session: *mut NgSession,
        flags: u8,
        stream_id: i32,
        error_code: u32,
    ) -> c_int;
    fn nghttp2_submit_response(
        session: *mut NgSession,
        stream_id: i32,
        nva: *const Nv,
        nvlen: usize,
        data_prd: *const DataProvider,
    ) -> c_int;
}

/// The C library's allocator, behind the Rust ones.
mod libc {
    use std::ffi::c_void;

    unsafe extern "C" {
        pub fn malloc(size: usize) -> *mut c_void;
        pub fn calloc(nmemb: usize, size: usize) -> *mut c_void;
        pub fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
        pub fn free(ptr: *mut c_void);
    }
}

// ---------------------------------------------------------------------------
// The binding: session callbacks as one set
// ---------------------------------------------------------------------------

/// What a callback that can fail reports: the stream only (nghttp2 resets
/// it and goes on), or the whole session.
#[derive(Debug, PartialEq)]
enum Http2Error {
    Stream(&'static str),
    Session(&'static str),
}

impl Http2Error {
    fn code(&self) -> c_int {
        match self {
            Http2Error::Stream(_) => NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE,
            Http2Error::Session(_) => NGHTTP2_ERR_CALLBACK_FAILURE,
        }
    }

    /// A session's failure is fatal and comes back to Rust; a stream's is
    /// nghttp2's to handle (it resets the stream and goes on).
    fn fatal(&self) -> bool {
        matches!(self, Http2Error::Session(_))
    }
}

/// `nghttp2_session_callbacks`: every callback gets the session's user data
/// last, so the callbacks are one set, whose state is that user data.
/// nghttp2 reads a non-zero return as failure, and its documented failure
/// value is NGHTTP2_ERR_CALLBACK_FAILURE: the set's fallback.
#[callback(fallback = NGHTTP2_ERR_CALLBACK_FAILURE)]
#[allow(clippy::too_many_arguments)] // the C callbacks' arity
trait Http2 {
    /// `nghttp2_on_begin_headers_callback`.
    unsafe extern "C" fn on_begin_headers(
        &mut self,
        session: *mut NgSession,
        #[into(&Frame)] frame: *const Frame,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;
    /// `nghttp2_on_header_callback`: a `Stream` error resets the stream
    /// (NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE), a `Session` error fails the
    /// session. Only the session's comes back (`keep_error`): nghttp2
    /// handles a stream's, and the other callbacks must run on.
    #[callback(on_error = e.code(), keep_error = e.fatal())]
    unsafe extern "C" fn on_header(
        &mut self,
        session: *mut NgSession,
        #[into(&Frame)] frame: *const Frame,
        #[into(&[u8], len = namelen)] name: *const u8,
        namelen: usize,
        #[into(&[u8], len = valuelen)] value: *const u8,
        valuelen: usize,
        flags: u8,
        #[user_data] user_data: *mut c_void,
    ) -> Result<c_int, Http2Error>;
    /// `nghttp2_on_frame_recv_callback`.
    unsafe extern "C" fn on_frame_recv(
        &mut self,
        session: *mut NgSession,
        #[into(&Frame)] frame: *const Frame,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;
    /// `nghttp2_on_data_chunk_recv_callback`.
    unsafe extern "C" fn on_data_chunk_recv(
        &mut self,
        session: *mut NgSession,
        flags: u8,
        stream_id: i32,
        #[into(&[u8], len = len)] data: *const u8,
        len: usize,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;
    /// `nghttp2_on_stream_close_callback`.
    unsafe extern "C" fn on_stream_close(
        &mut self,
        session: *mut NgSession,
        stream_id: i32,
        error_code: u32,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;
    /// `nghttp2_send_callback` (only `nghttp2_session_send` calls it).
    #[callback(fallback = NGHTTP2_ERR_CALLBACK_FAILURE as isize)]
    unsafe extern "C" fn send(
        &mut self,
        session: *mut NgSession,
        #[into(&[u8], len = length)] data: *const u8,
        length: usize,
        flags: c_int,
        #[user_data] user_data: *mut c_void,
    ) -> isize;
    /// `nghttp2_error_callback2`: `msg` is `len` bytes, not NUL-terminated.
    unsafe extern "C" fn error_callback2(
        &mut self,
        session: *mut NgSession,
        lib_error_code: c_int,
        #[into(&str, len = len)] msg: *const c_char,
        len: usize,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;
    /// `nghttp2_before_frame_send_callback`: 0, NGHTTP2_ERR_CANCEL, or a
    /// failure.
    unsafe extern "C" fn before_frame_send(
        &mut self,
        session: *mut NgSession,
        #[into(&Frame)] frame: *const Frame,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;
}

/// `nghttp2_data_source_read_callback` with its closure behind
/// `source->ptr` (the provider's own user data; the trailing `user_data` is
/// the session's, passed through). A `Stream` error resets the stream, a
/// `Session` error fails the session; a panic fails the session.
#[callback(
    fallback = NGHTTP2_ERR_CALLBACK_FAILURE as isize,
    error = Http2Error,
    on_error = e.code() as isize,
    // SAFETY: nghttp2 passes the provider's `source`, whose `ptr` member
    // the binding set to this holder's user data.
    user_data = unsafe { (*source).ptr },
)]
type DataRead = unsafe extern "C" fn(
    session: *mut NgSession,
    stream_id: i32,
    #[into(&mut [u8], len = length)] buf: *mut u8,
    length: usize,
    #[into(&mut u32)] data_flags: *mut u32,
    source: *mut DataSource,
    user_data: *mut c_void,
) -> isize;

/// The same callback, its closure found through the stream's user data
/// (`nghttp2_submit_request`'s `stream_user_data`) instead of `source`.
#[callback(
    fallback = NGHTTP2_ERR_CALLBACK_FAILURE as isize,
    // SAFETY: nghttp2 calls the provider with its own live session and
    // one of its stream ids; the stream's user data is this holder's.
    user_data = unsafe { nghttp2_session_get_stream_user_data(session, stream_id) },
)]
#[allow(clippy::too_many_arguments)] // the C callback's arity
type StreamDataRead = unsafe extern "C" fn(
    session: *mut NgSession,
    stream_id: i32,
    #[into(&mut [u8], len = length)] buf: *mut u8,
    length: usize,
    #[into(&mut u32)] data_flags: *mut u32,
    source: *mut DataSource,
    user_data: *mut c_void,
) -> isize;

/// The `nghttp2_data_provider` for a kept `DataRead` holder (any closure):
/// the holder's user data in `source.ptr`.
fn provider_of<F>(b: &Boxed<DataRead<F>>) -> DataProvider {
    DataProvider {
        source: DataSource { ptr: b.user_data() },
        read_callback: Some(b.function()),
    }
}

/// A body served in chunks of at most `chunk` bytes (0: as much as nghttp2
/// asks for), EOF after the last: the provider and its kept holder.
fn body_provider(
    body: Vec<u8>,
    chunk: usize,
    drops: Option<DropCounter>,
) -> (DataProvider, Box<dyn Any>) {
    let mut at = 0;
    let b = DataRead::boxed(
        move |_session, _stream_id, buf: &mut [u8], _length, flags: &mut u32, _source, _ud| {
            let _counted = &drops;
            let mut n = (body.len() - at).min(buf.len());
            if chunk != 0 {
                n = n.min(chunk);
            }
            buf[..n].copy_from_slice(&body[at..at + n]);
            at += n;
            if at == body.len() {
                *flags |= NGHTTP2_DATA_FLAG_EOF;
            }
            Ok(n as isize)
        },
    );
    (provider_of(&b), Box::new(b))
}

/// A session and its kept state: `nghttp2_session_del` first, then the
/// state (nghttp2 calls no session callback from `del`).
struct Session<S: Http2 + 'static> {
    ptr: *mut NgSession,
    state: Option<BoxedSet<S>>,
    /// The last session call's return value, kept before a resumed panic
    /// leaves the call.
    last_rc: Cell<isize>,
}

impl<S: Http2 + 'static> Session<S> {
    fn client(state: S) -> Self {
        // SAFETY: nghttp2's default allocator.
        unsafe { Self::new(false, state, ptr::null_mut()) }
    }

    fn server(state: S) -> Self {
        // SAFETY: nghttp2's default allocator.
        unsafe { Self::new(true, state, ptr::null_mut()) }
    }

    /// A client or server session on the allocator `mem`.
    ///
    /// # Safety
    /// `mem` is null (nghttp2's default allocator) or an `nghttp2_mem`
    /// whose functions stay callable with its user data until the session
    /// is dropped (nghttp2 copies the struct itself).
    unsafe fn new(server: bool, state: S, mem: *mut NgMem) -> Self {
        let state = state.boxed();
        let mut cbs = ptr::null_mut();
        let mut session = ptr::null_mut();
        // SAFETY: the callbacks object is ours until `del`; every entry is
        // `S`'s, and the user data is `S`'s kept holder, which outlives the
        // session (dropped after `nghttp2_session_del`); `mem` is the
        // caller's promise.
        let rc = unsafe {
            assert_eq!(nghttp2_session_callbacks_new(&mut cbs), 0);
            nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, Some(S::ON_BEGIN_HEADERS));
            nghttp2_session_callbacks_set_on_header_callback(cbs, Some(S::ON_HEADER));
            nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, Some(S::ON_FRAME_RECV));
            nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
                cbs,
                Some(S::ON_DATA_CHUNK_RECV),
            );
            nghttp2_session_callbacks_set_on_stream_close_callback(cbs, Some(S::ON_STREAM_CLOSE));
            nghttp2_session_callbacks_set_send_callback(cbs, Some(S::SEND));
            nghttp2_session_callbacks_set_error_callback2(cbs, Some(S::ERROR_CALLBACK2));
            nghttp2_session_callbacks_set_before_frame_send_callback(
                cbs,
                Some(S::BEFORE_FRAME_SEND),
            );
            let new = if server {
                nghttp2_session_server_new3
            } else {
                nghttp2_session_client_new3
            };
            // The allocator may panic: guarded like every call into nghttp2.
            let rc = resume_panics(|| new(&mut session, cbs, state.user_data(), ptr::null(), mem));
            nghttp2_session_callbacks_del(cbs);
            rc
        };
        assert_eq!(rc, 0, "nghttp2_session_*_new3");
        let session = Session {
            ptr: session,
            state: Some(state),
            last_rc: Cell::new(0),
        };
        // SAFETY: a live session; no settings entries.
        let rc = session.guarded(|s| unsafe {
            nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, ptr::null(), 0)
        } as isize);
        assert_eq!(rc, 0, "nghttp2_submit_settings");
        session
    }

    /// Runs one call into nghttp2 under the guard that resumes a
    /// callback's panic, the call's value kept in `last_rc` first.
    fn guarded(&self, call: impl FnOnce(*mut NgSession) -> isize) -> isize {
        resume_panics(|| {
            let rc = call(self.ptr);
            self.last_rc.set(rc);
            rc
        })
    }

    /// Everything `nghttp2_session_mem_send` has to send (stops at an
    /// error, kept in `last_rc`).
    fn mem_send(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.guarded(|s| {
            loop {
                let mut data = ptr::null();
                // SAFETY: a live session; `data` is valid until the next
                // send call, and copied before it.
                let n = unsafe { nghttp2_session_mem_send(s, &mut data) };
                if n <= 0 {
                    return n;
                }
                // SAFETY: nghttp2 wrote `n` bytes at `data`.
                out.extend_from_slice(unsafe { std::slice::from_raw_parts(data, n as usize) });
            }
        });
        out
    }

    /// `nghttp2_session_mem_recv` of all of `data`.
    fn mem_recv(&self, data: &[u8]) -> isize {
        // SAFETY: a live session, `data.len()` bytes at `data`.
        self.guarded(|s| unsafe { nghttp2_session_mem_recv(s, data.as_ptr(), data.len()) })
    }

    /// `nghttp2_session_send`: through the set's `send` entry.
    fn send(&self) -> isize {
        // SAFETY: a live session.
        self.guarded(|s| unsafe { nghttp2_session_send(s) } as isize)
    }

    /// `nghttp2_submit_request` (GET, or POST with a body), `stream_user_data`
    /// passed as is; the provider's holder goes to the state's `keep`.
    fn request(&self, body: Option<&DataProvider>, stream_user_data: *mut c_void) -> i32 {
        self.request_with(&[], body, stream_user_data)
    }

    /// `request` with `extra` header fields after the pseudo-headers.
    fn request_with(
        &self,
        extra: &[(&'static [u8], &'static [u8])],
        body: Option<&DataProvider>,
        stream_user_data: *mut c_void,
    ) -> i32 {
        let method: &'static [u8] = if body.is_some() { b"POST" } else { b"GET" };
        let mut nva = vec![
            nv(b":method", method),
            nv(b":scheme", b"http"),
            nv(b":authority", b"example.test"),
            nv(b":path", b"/"),
        ];
        nva.extend(extra.iter().map(|(name, value)| nv(name, value)));
        let prd = body.map_or(ptr::null(), |p| p as *const DataProvider);
        // SAFETY: a live session; nghttp2 copies the headers; the provider
        // struct is copied, and what it points at is kept by the caller
        // until the stream closes.
        let id = self.guarded(|s| unsafe {
            nghttp2_submit_request(
                s,
                ptr::null(),
                nva.as_ptr(),
                nva.len(),
                prd,
                stream_user_data,
            )
        } as isize);
        assert!(id > 0, "nghttp2_submit_request: {id}");
        id as i32
    }

    /// The kept state, between calls.
    fn state<R>(&mut self, f: impl FnOnce(&mut S) -> R) -> R {
        let state = self.state.as_mut().expect("a live session");
        state.with_mut(f).expect("no call of the set runs")
    }

    /// Ends the session and gives its state back.
    fn into_state(mut self) -> S {
        // SAFETY: a live session, deleted once (`ptr` nulled for `Drop`).
        unsafe { nghttp2_session_del(self.ptr) };
        self.ptr = ptr::null_mut();
        let state = self.state.take().expect("a live session");
        state.into_inner().expect("no call of the set runs")
    }
}

impl<S: Http2 + 'static> Drop for Session<S> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: a live session, deleted once; the state (a field)
            // is dropped after this, when nghttp2 no longer holds it.
            unsafe { nghttp2_session_del(self.ptr) };
        }
    }
}

/// Feeds each side's output to the other until neither has more.
fn exchange<A: Http2 + 'static, B: Http2 + 'static>(client: &Session<A>, server: &Session<B>) {
    for _ in 0..50 {
        let to_server = client.mem_send();
        assert!(
            client.last_rc.get() >= 0,
            "client mem_send: {}",
            client.last_rc.get()
        );
        let rc = server.mem_recv(&to_server);
        assert_eq!(rc, to_server.len() as isize, "server mem_recv");
        let to_client = server.mem_send();
        assert!(
            server.last_rc.get() >= 0,
            "server mem_send: {}",
            server.last_rc.get()
        );
        let rc = client.mem_recv(&to_client);
        assert_eq!(rc, to_client.len() as isize, "client mem_recv");
        if to_server.is_empty() && to_client.is_empty() {
            return;
        }
    }
    panic!("the sessions never went quiet");
}

// ---------------------------------------------------------------------------
// Test helpers
// ---------------------------------------------------------------------------

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("no panic was resumed"),
        Err(payload) => payload,
    }
}

fn message_of(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<not a string>".to_owned())
}

/// Deliberate panics (`expected...` messages) are not printed.
fn quiet_expected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !message_of(info.payload()).starts_with("expected") {
                default(info);
            }
        }));
    });
}

/// Counts drops (of whatever holds it).
#[derive(Clone)]
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn counter() -> Rc<Cell<u32>> {
    Rc::new(Cell::new(0))
}

// ---------------------------------------------------------------------------
// The state both sides use
// ---------------------------------------------------------------------------

/// A header name, and the error `on_header` returns for it.
type FailingHeader = (&'static str, fn() -> Http2Error);
/// Makes a response's provider and the holder to keep.
type MakeReader = dyn FnOnce() -> (DataProvider, Box<dyn Any>);

/// One side's state: what it saw, and switches for the tests.
#[derive(Default)]
struct Peer {
    server: bool,
    /// One line per callback body that ran.
    log: Vec<String>,
    /// Callback bodies that ran, seen from outside the state.
    calls: Rc<Cell<u32>>,
    /// The entry that panics, and after how many of its calls.
    panic_in: Option<(&'static str, u32)>,
    /// Received response/request headers and bodies, by stream.
    headers: HashMap<i32, Vec<(String, String)>>,
    bodies: HashMap<i32, Vec<u8>>,
    closed: Vec<(i32, u32)>,
    /// What the `send` entry was given.
    outbox: Vec<u8>,
    /// Frame kinds `before_frame_send` saw; the kind it cancels.
    sending: Vec<(u8, i32)>,
    cancel: Option<u8>,
    /// `error_callback2`'s calls.
    errors: Vec<(c_int, String)>,
    /// A header whose name makes `on_header` fail, and how.
    failing_header: Option<FailingHeader>,
    /// Server: the body every response carries, in chunks of this size.
    response: Vec<u8>,
    response_chunk: usize,
    /// Server: the response body waits (NGHTTP2_ERR_DEFERRED) until the
    /// request's body has ended, then `on_frame_recv` resumes it.
    defer_response: bool,
    request_done: Rc<Cell<bool>>,
    resume_rc: Option<c_int>,
    /// Server: a reader to serve the response with, instead of `response`.
    reader: Option<Box<MakeReader>>,
    /// Data providers' holders, kept while nghttp2 may call them and
    /// dropped when their stream closes.
    providers: HashMap<i32, Box<dyn Any>>,
    provider_drops: Rc<Cell<u32>>,
    /// Client: per-stream bodies behind `stream_user_data`.
    stream_bodies: HashMap<i32, Rc<RefCell<Vec<u8>>>>,
    /// Re-entry: `nghttp2_session_mem_send` on this session from inside
    /// `on_frame_recv`, and what it returned.
    nested_send: bool,
    nested_rc: Option<isize>,
    /// `nghttp2_session_terminate_session` from inside `on_frame_recv`.
    terminate: bool,
    _drops: Option<DropCounter>,
}

impl Peer {
    fn server() -> Self {
        Peer {
            server: true,
            response: b"hello, h2".to_vec(),
            ..Peer::default()
        }
    }

    /// Every entry's first step: counts the call, panics where asked.
    fn enter(&mut self, entry: &'static str) {
        self.calls.set(self.calls.get() + 1);
        if let Some((name, after)) = &mut self.panic_in
            && *name == entry
        {
            if *after == 0 {
                panic!("expected panic in {entry}");
            }
            *after -= 1;
        }
    }

    /// Server: answers `stream_id` with status 200 and the response body,
    /// from inside a callback (nghttp2 allows submit_* there).
    fn respond(&mut self, session: *mut NgSession, stream_id: i32) {
        let (prd, keep) = if let Some(reader) = self.reader.take() {
            reader()
        } else if self.defer_response {
            let ready = self.request_done.clone();
            let mut rest = Some(self.response.clone());
            let drops = DropCounter(self.provider_drops.clone());
            let b = DataRead::boxed(
                move |_s, _id, buf: &mut [u8], _len, flags: &mut u32, _src, _ud| {
                    let _counted = &drops;
                    if !ready.get() {
                        return Ok(NGHTTP2_ERR_DEFERRED as isize);
                    }
                    let body = rest.take().unwrap_or_default();
                    buf[..body.len()].copy_from_slice(&body);
                    *flags |= NGHTTP2_DATA_FLAG_EOF;
                    Ok(body.len() as isize)
                },
            );
            (provider_of(&b), Box::new(b) as Box<dyn Any>)
        } else {
            let drops = DropCounter(self.provider_drops.clone());
            body_provider(self.response.clone(), self.response_chunk, Some(drops))
        };
        let nva = [nv(b":status", b"200")];
        // SAFETY: the live session calling us; the headers are copied, the
        // provider's holder kept until the stream closes.
        let rc = unsafe { nghttp2_submit_response(session, stream_id, nva.as_ptr(), 1, &prd) };
        assert_eq!(rc, 0, "nghttp2_submit_response");
        self.providers.insert(stream_id, keep);
    }
}

impl Http2 for Peer {
    fn on_begin_headers(&mut self, _session: *mut NgSession, frame: &Frame) -> c_int {
        self.enter("on_begin_headers");
        self.log
            .push(format!("begin_headers {}", frame.hd.stream_id));
        0
    }

    fn on_header(
        &mut self,
        _session: *mut NgSession,
        frame: &Frame,
        name: &[u8],
        _namelen: usize,
        value: &[u8],
        _valuelen: usize,
        _flags: u8,
    ) -> Result<c_int, Http2Error> {
        self.enter("on_header");
        let name = String::from_utf8_lossy(name).into_owned();
        if let Some((failing, error)) = self.failing_header
            && failing == name
        {
            return Err(error());
        }
        let value = String::from_utf8_lossy(value).into_owned();
        self.headers
            .entry(frame.hd.stream_id)
            .or_default()
            .push((name, value));
        Ok(0)
    }

    fn on_frame_recv(&mut self, session: *mut NgSession, frame: &Frame) -> c_int {
        self.enter("on_frame_recv");
        let (kind, id) = (frame.hd.kind, frame.hd.stream_id);
        self.log.push(format!("frame_recv {kind} {id}"));
        if self.terminate && kind == NGHTTP2_HEADERS {
            // SAFETY: the live session calling us; nghttp2 queues a GOAWAY.
            let rc = unsafe { nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR) };
            assert_eq!(rc, 0);
        }
        if self.nested_send && kind == NGHTTP2_HEADERS {
            self.nested_send = false;
            let mut data = ptr::null();
            // SAFETY: the live session calling us, and a place for the
            // data pointer (not read). nghttp2 does not forbid a send from a
            // receive callback: it works on the outbound queue only, and
            // this one stops at its first callback (before_frame_send, on
            // this busy state), as valgrind checks.
            self.nested_rc = Some(unsafe { nghttp2_session_mem_send(session, &mut data) });
        }
        if !self.server {
            return 0;
        }
        let request_headers = frame.headers_cat() == Some(NGHTTP2_HCAT_REQUEST);
        if request_headers && (frame.end_stream() || self.defer_response) {
            self.respond(session, id);
        } else if kind == NGHTTP2_HEADERS && !request_headers {
            // Trailers: none in these tests.
        } else if kind == NGHTTP2_DATA && frame.end_stream() {
            if self.defer_response {
                self.request_done.set(true);
                // SAFETY: the live session calling us; nghttp2 allows
                // resume_data from a callback.
                self.resume_rc = Some(unsafe { nghttp2_session_resume_data(session, id) });
            } else {
                self.respond(session, id);
            }
        }
        0
    }

    fn on_data_chunk_recv(
        &mut self,
        session: *mut NgSession,
        _flags: u8,
        stream_id: i32,
        data: &[u8],
        _len: usize,
    ) -> c_int {
        self.enter("on_data_chunk_recv");
        self.bodies
            .entry(stream_id)
            .or_default()
            .extend_from_slice(data);
        if self.stream_bodies.contains_key(&stream_id) {
            // SAFETY: the live session calling us, about one of its streams.
            let ud = unsafe { nghttp2_session_get_stream_user_data(session, stream_id) };
            // SAFETY: for the streams in `stream_bodies`, the request's
            // stream user data is that `Rc`'s `RefCell`, alive while kept.
            let body = unsafe { &*ud.cast::<RefCell<Vec<u8>>>() };
            body.borrow_mut().extend_from_slice(data);
        }
        0
    }

    fn on_stream_close(
        &mut self,
        _session: *mut NgSession,
        stream_id: i32,
        error_code: u32,
    ) -> c_int {
        self.enter("on_stream_close");
        self.closed.push((stream_id, error_code));
        // nghttp2 calls no provider of a closed stream: its holder goes.
        self.providers.remove(&stream_id);
        0
    }

    fn send(
        &mut self,
        _session: *mut NgSession,
        data: &[u8],
        length: usize,
        _flags: c_int,
    ) -> isize {
        self.enter("send");
        self.outbox.extend_from_slice(data);
        length as isize
    }

    fn error_callback2(
        &mut self,
        _session: *mut NgSession,
        lib_error_code: c_int,
        msg: &str,
        _len: usize,
    ) -> c_int {
        self.enter("error_callback2");
        self.errors.push((lib_error_code, msg.to_owned()));
        0
    }

    fn before_frame_send(&mut self, _session: *mut NgSession, frame: &Frame) -> c_int {
        self.enter("before_frame_send");
        self.sending.push((frame.hd.kind, frame.hd.stream_id));
        if self.cancel == Some(frame.hd.kind) {
            return NGHTTP2_ERR_CANCEL;
        }
        0
    }
}

#[test]
fn struct_layouts_match_nghttp2_1_52() {
    // gcc's offsetof/sizeof against Debian 12's <nghttp2/nghttp2.h>, x86_64.
    assert_eq!(size_of::<FrameHd>(), 16);
    assert_eq!(offset_of!(FrameHd, kind), 12);
    assert_eq!(offset_of!(FrameHd, flags), 13);
    assert_eq!(size_of::<Frame>(), 64);
    assert_eq!(size_of::<Nv>(), 40);
    assert_eq!(size_of::<DataProvider>(), 16);
    assert_eq!(size_of::<NgMem>(), 40);
}

// ===========================================================================
// The session callbacks as one set
// ===========================================================================

#[test]
fn a_request_and_its_response_go_through_every_receive_callback() {
    let client_drops = counter();
    let server_drops = counter();
    let client = Session::client(Peer {
        _drops: Some(DropCounter(client_drops.clone())),
        ..Peer::default()
    });
    let mut server = Session::server(Peer {
        _drops: Some(DropCounter(server_drops.clone())),
        ..Peer::server()
    });
    let id = client.request(None, ptr::null_mut());
    assert_eq!(id, 1);
    exchange(&client, &server);

    let mut client = client.into_state();
    let server_log = server.state(|s| s.log.clone());
    // The server saw SETTINGS, then the request's HEADERS (with
    // END_STREAM), and answered it from inside on_frame_recv.
    assert!(
        server_log.contains(&"begin_headers 1".to_owned()),
        "{server_log:?}"
    );
    assert!(server_log.contains(&format!("frame_recv {NGHTTP2_HEADERS} 1")));
    assert!(
        server_log
            .iter()
            .any(|l| l == &format!("frame_recv {NGHTTP2_SETTINGS} 0"))
    );
    assert_eq!(server.state(|s| s.closed.clone()), [(1, NGHTTP2_NO_ERROR)]);
    let request = server.state(|s| s.headers[&1].clone());
    assert!(
        request.contains(&(":method".to_owned(), "GET".to_owned())),
        "{request:?}"
    );
    // The client got the status, the body, and the close, all on the one
    // state its entries share.
    assert_eq!(
        client.headers[&1],
        [(":status".to_owned(), "200".to_owned())]
    );
    assert_eq!(client.bodies[&1], b"hello, h2");
    assert_eq!(client.closed, [(1, NGHTTP2_NO_ERROR)]);
    assert!(client.errors.is_empty());
    // The response's provider was dropped when its stream closed.
    assert_eq!(
        server.state(|s| (s.providers.len(), s.provider_drops.get())),
        (0, 1)
    );
    // The state given back is not dropped; the kept one is, once, after
    // `nghttp2_session_del`.
    assert_eq!(client_drops.get(), 0);
    client._drops = None;
    assert_eq!(client_drops.get(), 1);
    drop(server);
    assert_eq!(server_drops.get(), 1);
}

#[test]
fn before_frame_send_sees_each_frame_and_can_cancel_one() {
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer::server());
    client.request(None, ptr::null_mut());
    exchange(&client, &server);
    let sent = server.state(|s| s.sending.clone());
    // Its SETTINGS, the ack of the client's, then the response's HEADERS:
    // nghttp2 calls it for non-DATA frames only.
    assert_eq!(
        sent,
        [
            (NGHTTP2_SETTINGS, 0),
            (NGHTTP2_SETTINGS, 0),
            (NGHTTP2_HEADERS, 1)
        ]
    );

    // A cancelled HEADERS never leaves: the request's stream closes on the
    // client with no frame on the wire, the server sees no request.
    let mut client = Session::client(Peer {
        cancel: Some(NGHTTP2_HEADERS),
        ..Peer::default()
    });
    let mut server = Session::server(Peer::server());
    let id = client.request(None, ptr::null_mut());
    exchange(&client, &server);
    assert_eq!(server.state(|s| s.headers.len()), 0);
    let closed = client.state(|s| s.closed.clone());
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].0, id);
}

#[test]
fn nghttp2_session_send_writes_through_the_send_entry() {
    let mut client = Session::client(Peer::default());
    client.request(None, ptr::null_mut());
    assert_eq!(client.send(), 0);
    let wire = client.state(|s| std::mem::take(&mut s.outbox));
    // The client connection preface, then frames.
    assert!(wire.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    // The server takes those bytes as mem_send's would be.
    let mut server = Session::server(Peer::server());
    assert_eq!(server.mem_recv(&wire), wire.len() as isize);
    assert_eq!(server.state(|s| s.headers[&1].len()), 4);
    // Nothing more to send: the entry is not called again.
    let calls = client.state(|s| s.calls.get());
    assert_eq!(client.send(), 0);
    assert_eq!(client.state(|s| s.calls.get()), calls);
}

#[test]
fn error_callback2_gets_the_message_as_str() {
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer::server());
    // A connection-specific field is invalid in HTTP/2: the server reports
    // it through error_callback2 and resets the stream.
    let id = client.request_with(&[(b"connection", b"close")], None, ptr::null_mut());
    exchange(&client, &server);
    let errors = server.state(|s| s.errors.clone());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, NGHTTP2_ERR_HTTP_HEADER);
    assert!(errors[0].1.contains("name: [connection]"), "{errors:?}");
    assert_eq!(client.into_state().closed, [(id, NGHTTP2_PROTOCOL_ERROR)]);
    // A bad preface is reported through the return value only.
    let mut server = Session::server(Peer::server());
    let rc = server.mem_recv(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(rc, NGHTTP2_ERR_BAD_CLIENT_MAGIC as isize);
    assert!(server.state(|s| s.errors.is_empty()));
}

#[test]
fn per_stream_user_data_routes_each_body() {
    let mut client = Session::client(Peer::default());
    let server = Session::server(Peer {
        response: vec![b'x'; 40_000],
        ..Peer::server()
    });
    let bodies = [
        Rc::new(RefCell::new(Vec::new())),
        Rc::new(RefCell::new(Vec::new())),
    ];
    let ids = bodies.each_ref().map(|b| {
        let ud = Rc::as_ptr(b).cast_mut().cast();
        client.request(None, ud)
    });
    client.state(|s| {
        for (id, body) in ids.iter().zip(&bodies) {
            s.stream_bodies.insert(*id, body.clone());
        }
    });
    exchange(&client, &server);
    for (id, body) in ids.iter().zip(&bodies) {
        assert_eq!(body.borrow().len(), 40_000, "stream {id}");
        assert_eq!(client.state(|s| s.bodies[id].len()), 40_000);
    }
    assert_eq!(client.state(|s| s.closed.len()), 2);
}

// ===========================================================================
// Data providers
// ===========================================================================

#[test]
fn a_request_body_is_read_in_chunks_until_eof() {
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let drops = counter();
    let (prd, keep) = body_provider(body.clone(), 1000, Some(DropCounter(drops.clone())));
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer::server());
    let id = client.request(Some(&prd), ptr::null_mut());
    exchange(&client, &server);
    assert_eq!(server.state(|s| s.bodies[&id].clone()), body);
    assert_eq!(server.state(|s| s.closed.clone()), [(id, NGHTTP2_NO_ERROR)]);
    // The binding drops the provider once its stream has closed.
    assert_eq!(drops.get(), 0);
    drop(keep);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_provider_found_through_the_stream_user_data() {
    let reads = counter();
    let seen = reads.clone();
    let mut body = Some(b"by stream user data".to_vec());
    let b = StreamDataRead::boxed(
        move |_s, _id, buf: &mut [u8], _len, flags: &mut u32, _src, _ud| -> isize {
            seen.set(seen.get() + 1);
            let body = body.take().unwrap_or_default();
            buf[..body.len()].copy_from_slice(&body);
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            body.len() as isize
        },
    );
    // `source` is left unset: the holder is the stream's user data.
    let prd = DataProvider {
        source: DataSource { fd: -1 },
        read_callback: Some(b.function()),
    };
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer::server());
    let id = client.request(Some(&prd), b.user_data());
    exchange(&client, &server);
    assert_eq!(
        server.state(|s| s.bodies[&id].clone()),
        b"by stream user data"
    );
    assert_eq!(reads.get(), 1);
}

#[test]
fn a_deferred_provider_resumed_from_outside() {
    let ready = Rc::new(RefCell::new(None::<Vec<u8>>));
    let pending = ready.clone();
    let deferrals = counter();
    let counted = deferrals.clone();
    let b = DataRead::boxed(
        move |_s, _id, buf: &mut [u8], _len, flags: &mut u32, _src, _ud| {
            let Some(body) = pending.borrow_mut().take() else {
                counted.set(counted.get() + 1);
                return Ok(NGHTTP2_ERR_DEFERRED as isize);
            };
            buf[..body.len()].copy_from_slice(&body);
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            Ok(body.len() as isize)
        },
    );
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer::server());
    let id = client.request(Some(&provider_of(&b)), ptr::null_mut());
    exchange(&client, &server);
    // Headers went, the body waits.
    assert_eq!(deferrals.get(), 1);
    assert_eq!(server.state(|s| s.headers[&id].len()), 4);
    assert!(server.state(|s| !s.bodies.contains_key(&id)));
    // Still deferred: nghttp2 does not call it again by itself.
    exchange(&client, &server);
    assert_eq!(deferrals.get(), 1);

    *ready.borrow_mut() = Some(b"later".to_vec());
    // SAFETY: a live session with a deferred stream `id`.
    let rc = client.guarded(|s| unsafe { nghttp2_session_resume_data(s, id) } as isize);
    assert_eq!(rc, 0);
    exchange(&client, &server);
    assert_eq!(server.state(|s| s.bodies[&id].clone()), b"later");
    // SAFETY: as above; the stream is gone now.
    let rc = client.guarded(|s| unsafe { nghttp2_session_resume_data(s, id) } as isize);
    assert_eq!(rc, NGHTTP2_ERR_INVALID_ARGUMENT as isize);
}

#[test]
fn a_deferred_response_resumed_from_inside_on_frame_recv() {
    // The upload waits until the server has tried (and deferred) its
    // response body, so that the upload's end, in a later flight, finds
    // that body deferred.
    let go = Rc::new(Cell::new(false));
    let upload = go.clone();
    let mut sent = false;
    let b = DataRead::boxed(
        move |_s, _id, buf: &mut [u8], _len, flags: &mut u32, _src, _ud| {
            if !upload.get() {
                return Ok(NGHTTP2_ERR_DEFERRED as isize);
            }
            assert!(!sent);
            sent = true;
            buf[..6].copy_from_slice(b"upload");
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            Ok(6)
        },
    );
    let mut client = Session::client(Peer::default());
    let mut server = Session::server(Peer {
        defer_response: true,
        response: b"after the upload".to_vec(),
        ..Peer::server()
    });
    let id = client.request(Some(&provider_of(&b)), ptr::null_mut());
    exchange(&client, &server);
    assert_eq!(client.state(|s| s.headers[&id].len()), 1);
    assert!(client.state(|s| !s.bodies.contains_key(&id)));
    assert_eq!(server.state(|s| s.resume_rc), None);

    go.set(true);
    // SAFETY: a live session whose stream `id` has deferred data.
    let rc = client.guarded(|s| unsafe { nghttp2_session_resume_data(s, id) } as isize);
    assert_eq!(rc, 0);
    exchange(&client, &server);
    // The server resumed its body from inside its own on_frame_recv.
    assert_eq!(server.state(|s| s.resume_rc), Some(0));
    assert_eq!(server.state(|s| s.bodies[&id].clone()), b"upload");
    assert_eq!(client.state(|s| s.bodies[&id].clone()), b"after the upload");
    assert_eq!(client.state(|s| s.closed.clone()), [(id, NGHTTP2_NO_ERROR)]);
}

/// A server whose response reader is `reader`.
fn server_with(reader: impl FnOnce() -> (DataProvider, Box<dyn Any>) + 'static) -> Session<Peer> {
    Session::server(Peer {
        reader: Some(Box::new(reader)),
        ..Peer::server()
    })
}

#[test]
fn a_stream_error_resets_only_that_stream_and_comes_back_typed() {
    let client = Session::client(Peer::default());
    // The first response's reader fails; the second is the default body.
    let mut server = server_with(|| {
        let b = DataRead::boxed(
            |_s, _id, _buf: &mut [u8], _len, _flags: &mut u32, _src, _ud| {
                Err(Http2Error::Stream("expected: the file went away"))
            },
        );
        (provider_of(&b), Box::new(b))
    });
    let first = client.request(None, ptr::null_mut());
    let second = client.request(None, ptr::null_mut());
    // One guard around the whole exchange: the `Err` poisons only the
    // provider's own holder, so the session's callbacks and the other
    // stream's provider run on.
    let result = try_resume::<_, Http2Error>(|| exchange(&client, &server));
    assert_eq!(
        result,
        Err(Http2Error::Stream("expected: the file went away"))
    );
    // NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE: nghttp2 reset the stream with
    // INTERNAL_ERROR and kept the session.
    let mut client = client.into_state();
    client.closed.sort();
    assert_eq!(
        client.closed,
        [(first, NGHTTP2_INTERNAL_ERROR), (second, NGHTTP2_NO_ERROR)]
    );
    assert_eq!(
        client.headers[&first],
        [(":status".to_owned(), "200".to_owned())]
    );
    assert!(!client.bodies.contains_key(&first));
    assert_eq!(client.bodies[&second], b"hello, h2");
    assert_eq!(server.state(|s| s.closed.len()), 2);
}

#[test]
fn a_provider_submits_trailers_from_inside_its_read_callback() {
    let client = Session::client(Peer::default());
    let server = server_with(|| {
        let b = DataRead::boxed(
            |session, id, buf: &mut [u8], _len, flags: &mut u32, _src, _ud| {
                buf[..4].copy_from_slice(b"body");
                *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
                let trailer = [nv(b"x-checksum", b"42")];
                // SAFETY: the live session calling us, about the stream being
                // read; nghttp2 documents submit_trailer as allowed here.
                let rc = unsafe { nghttp2_submit_trailer(session, id, trailer.as_ptr(), 1) };
                if rc != 0 {
                    return Err(Http2Error::Session("expected: submit_trailer failed"));
                }
                Ok(4)
            },
        );
        (provider_of(&b), Box::new(b))
    });
    let id = client.request(None, ptr::null_mut());
    exchange(&client, &server);
    let client = client.into_state();
    assert_eq!(client.bodies[&id], b"body");
    assert_eq!(
        client.headers[&id],
        [
            (":status".to_owned(), "200".to_owned()),
            ("x-checksum".to_owned(), "42".to_owned())
        ]
    );
    assert_eq!(client.closed, [(id, NGHTTP2_NO_ERROR)]);
}

#[test]
fn a_session_error_fails_the_session_call_and_comes_back_typed() {
    let client = Session::client(Peer::default());
    let server = server_with(|| {
        let b = DataRead::boxed(
            |_s, _id, _buf: &mut [u8], _len, _flags: &mut u32, _src, _ud| {
                Err(Http2Error::Session("expected: out of disk"))
            },
        );
        (provider_of(&b), Box::new(b))
    });
    client.request(None, ptr::null_mut());
    let to_server = client.mem_send();
    server.mem_recv(&to_server);
    let result = try_resume::<_, Http2Error>(|| server.mem_send());
    assert_eq!(
        result.map(|_| ()),
        Err(Http2Error::Session("expected: out of disk"))
    );
    // NGHTTP2_ERR_CALLBACK_FAILURE ended mem_send.
    assert_eq!(server.last_rc.get(), NGHTTP2_ERR_CALLBACK_FAILURE as isize);
}

#[test]
fn an_on_header_error_maps_to_a_stream_reset() {
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer {
        failing_header: Some((":path", || Http2Error::Stream("expected: bad path"))),
        ..Peer::server()
    });
    let id = client.request(None, ptr::null_mut());
    let to_server = client.mem_send();
    // A stream's error is nghttp2's (`keep_error = e.fatal()`): the guard
    // gets nothing, and the session call goes on.
    let result = try_resume::<_, Http2Error>(|| server.mem_recv(&to_server));
    assert_eq!(result, Ok(to_server.len() as isize));
    assert_eq!(server.last_rc.get(), to_server.len() as isize);
    exchange(&client, &server);
    // NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE: the server reset the stream
    // instead of answering it, and the session goes on.
    let mut client = client.into_state();
    assert_eq!(client.closed, [(id, NGHTTP2_INTERNAL_ERROR)]);
    assert!(!client.headers.contains_key(&id));
    client.closed.clear();
    assert!(server.state(|s| s.providers.is_empty()));
}

/// An `Err` nghttp2 recovers from (a stream reset) ends at nghttp2
/// (`keep_error = e.fatal()`): nothing is kept or poisoned, so one guard may
/// span several session calls, and the reset nghttp2 queued goes out
/// through the set's other callbacks.
#[test]
fn an_on_header_stream_error_ends_at_nghttp2_and_the_session_goes_on() {
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer {
        failing_header: Some((":path", || Http2Error::Stream("expected: bad path"))),
        ..Peer::server()
    });
    let id = client.request(None, ptr::null_mut());
    let calls = server.state(|s| s.calls.clone());
    let result = try_resume::<_, Http2Error>(|| {
        let to_server = client.mem_send();
        server.mem_recv(&to_server);
        let before = calls.get();
        // The RST_STREAM nghttp2 queued: before_frame_send runs for it.
        let to_client = server.mem_send();
        assert!(calls.get() > before);
        assert!(!to_client.is_empty());
        client.mem_recv(&to_client);
    });
    assert_eq!(result, Ok(()));
    let client = client.into_state();
    assert_eq!(client.closed, [(id, NGHTTP2_INTERNAL_ERROR)]);
}

// ===========================================================================
// Panics in each kind of callback
// ===========================================================================

/// Which session call failed, what it returned, the panic it resumed, and
/// how many callback bodies its side had run.
struct Failure {
    server_side: bool,
    rc: isize,
    message: String,
    calls: u32,
}

/// Runs a request (a POST when `upload`) through memory, step by step,
/// until one session call resumes a panic; the client sends through
/// `nghttp2_session_send` when `use_send`.
fn run_until_panic(client: Peer, server: Session<Peer>, upload: bool, use_send: bool) -> Failure {
    quiet_expected_panics();
    let client_calls = client.calls.clone();
    let mut client = Session::client(client);
    let mut server = server;
    let server_calls = server.state(|s| s.calls.clone());
    let (prd, _keep) = body_provider(b"some upload".to_vec(), 0, None);
    let step = |f: &mut dyn FnMut()| catch_unwind(AssertUnwindSafe(f)).err();
    if let Some(p) = step(&mut || {
        client.request(upload.then_some(&prd), ptr::null_mut());
    }) {
        return Failure {
            server_side: false,
            rc: client.last_rc.get(),
            message: message_of(&*p),
            calls: client_calls.get(),
        };
    }
    for _ in 0..20 {
        let mut to_server = Vec::new();
        if let Some(p) = step(&mut || {
            to_server = if use_send {
                client.send();
                client.state(|s| std::mem::take(&mut s.outbox))
            } else {
                client.mem_send()
            };
        }) {
            return Failure {
                server_side: false,
                rc: client.last_rc.get(),
                message: message_of(&*p),
                calls: client_calls.get(),
            };
        }
        if let Some(p) = step(&mut || {
            server.mem_recv(&to_server);
        }) {
            return Failure {
                server_side: true,
                rc: server.last_rc.get(),
                message: message_of(&*p),
                calls: server_calls.get(),
            };
        }
        let mut to_client = Vec::new();
        if let Some(p) = step(&mut || to_client = server.mem_send()) {
            return Failure {
                server_side: true,
                rc: server.last_rc.get(),
                message: message_of(&*p),
                calls: server_calls.get(),
            };
        }
        if let Some(p) = step(&mut || {
            client.mem_recv(&to_client);
        }) {
            return Failure {
                server_side: false,
                rc: client.last_rc.get(),
                message: message_of(&*p),
                calls: client_calls.get(),
            };
        }
    }
    panic!("no callback panicked");
}

/// A panic in `entry` on one side (after `after` of its calls): nghttp2
/// got NGHTTP2_ERR_CALLBACK_FAILURE, the session call resumed the panic
/// with its payload, and no body ran after it on that side.
fn assert_panic_comes_back(
    entry: &'static str,
    after: u32,
    server_side: bool,
    upload: bool,
    use_send: bool,
) {
    let calls = counter();
    let drops = counter();
    let switch = Peer {
        panic_in: Some((entry, after)),
        calls: calls.clone(),
        _drops: Some(DropCounter(drops.clone())),
        ..Peer::default()
    };
    let (client, server) = if server_side {
        (
            Peer::default(),
            Session::server(Peer {
                server: true,
                response: b"hello, h2".to_vec(),
                ..switch
            }),
        )
    } else {
        (switch, Session::server(Peer::server()))
    };
    let failure = run_until_panic(client, server, upload, use_send);
    assert_eq!(failure.message, format!("expected panic in {entry}"));
    assert_eq!(failure.server_side, server_side, "{entry}");
    assert_eq!(failure.rc, NGHTTP2_ERR_CALLBACK_FAILURE as isize, "{entry}");
    // The panicking body was the last one that ran on that state.
    assert_eq!(failure.calls, calls.get(), "{entry}");
    // Both sessions are gone: the panicking side's state was dropped once.
    assert_eq!(drops.get(), 1, "{entry}");
}

#[test]
fn a_panic_in_on_begin_headers_comes_back_from_mem_recv() {
    assert_panic_comes_back("on_begin_headers", 0, true, false, false);
}

#[test]
fn a_panic_in_on_header_comes_back_from_mem_recv() {
    assert_panic_comes_back("on_header", 2, true, false, false);
}

#[test]
fn a_panic_in_on_frame_recv_comes_back_from_mem_recv() {
    assert_panic_comes_back("on_frame_recv", 1, true, false, false);
}

#[test]
fn a_panic_in_on_data_chunk_recv_comes_back_from_mem_recv() {
    assert_panic_comes_back("on_data_chunk_recv", 0, true, true, false);
}

#[test]
fn a_panic_in_on_stream_close_comes_back_from_the_client() {
    assert_panic_comes_back("on_stream_close", 0, false, false, false);
}

#[test]
fn a_panic_in_send_comes_back_from_nghttp2_session_send() {
    assert_panic_comes_back("send", 0, false, false, true);
}

#[test]
fn a_panic_in_before_frame_send_comes_back_from_mem_send() {
    assert_panic_comes_back("before_frame_send", 1, false, false, false);
}

#[test]
fn a_panic_in_error_callback2_comes_back_from_mem_recv() {
    quiet_expected_panics();
    let calls = counter();
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer {
        panic_in: Some(("error_callback2", 0)),
        calls: calls.clone(),
        ..Peer::server()
    });
    client.request_with(&[(b"connection", b"close")], None, ptr::null_mut());
    let to_server = client.mem_send();
    let payload = payload_of(|| server.mem_recv(&to_server));
    assert_eq!(message_of(&*payload), "expected panic in error_callback2");
    assert_eq!(server.last_rc.get(), NGHTTP2_ERR_CALLBACK_FAILURE as isize);
    // The panicking body ran last, and the state runs again after the
    // guard (nghttp2 leaves it to the application to end the session).
    let ran = calls.get();
    assert_eq!(server.state(|s| s.errors.len()), 0);
    assert_eq!(
        server.state(|s| s.log.clone()),
        ["frame_recv 4 0", "begin_headers 1"]
    );
    assert_eq!(calls.get(), ran);
}

#[test]
fn a_panic_in_a_data_provider_comes_back_from_mem_send() {
    quiet_expected_panics();
    let drops = counter();
    let counted = DropCounter(drops.clone());
    let client = Session::client(Peer::default());
    let server = server_with(move || {
        let b = DataRead::boxed(
            move |_s, _id, _buf: &mut [u8], _len, _flags: &mut u32, _src, _ud| -> isize {
                let _counted = &counted;
                panic!("expected panic in the provider");
            },
        );
        (provider_of(&b), Box::new(b))
    });
    client.request(None, ptr::null_mut());
    let to_server = client.mem_send();
    server.mem_recv(&to_server);
    let payload = payload_of(|| server.mem_send());
    assert_eq!(message_of(&*payload), "expected panic in the provider");
    assert_eq!(server.last_rc.get(), NGHTTP2_ERR_CALLBACK_FAILURE as isize);
    // The provider's holder is the server state's, dropped with it once.
    assert_eq!(drops.get(), 0);
    drop(server);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_poisoned_state_runs_no_body_until_its_guard_returns() {
    quiet_expected_panics();
    let calls = counter();
    let client = Session::client(Peer {
        panic_in: Some(("before_frame_send", 0)),
        calls: calls.clone(),
        ..Peer::default()
    });
    let server = Session::server(Peer::server());
    let to_client = server.mem_send();
    let rcs = RefCell::new(Vec::new());
    // One guard around two raw calls on the client, as a binding that
    // guards a whole event-loop turn does.
    let payload = payload_of(|| {
        resume_panics(|| {
            let mut data = ptr::null();
            // The first call returns the preface alone; the second
            // serializes SETTINGS.
            let rc = loop {
                // SAFETY: a live session; `data` is not read.
                let rc = unsafe { nghttp2_session_mem_send(client.ptr, &mut data) };
                if rc <= 0 {
                    break rc;
                }
            };
            rcs.borrow_mut().push(rc);
            // SAFETY: a live session, `to_client.len()` bytes.
            rcs.borrow_mut().push(unsafe {
                nghttp2_session_mem_recv(client.ptr, to_client.as_ptr(), to_client.len())
            });
        })
    });
    assert_eq!(message_of(&*payload), "expected panic in before_frame_send");
    // The receive's first callback (on_frame_recv for SETTINGS) was refused
    // without running: one body ran in all, the one that panicked.
    assert_eq!(*rcs.borrow(), [NGHTTP2_ERR_CALLBACK_FAILURE as isize; 2]);
    assert_eq!(calls.get(), 1);
}

// ===========================================================================
// Re-entry
// ===========================================================================

#[test]
fn a_nested_mem_send_from_a_callback_is_refused_by_the_set() {
    quiet_expected_panics();
    let client = Session::client(Peer::default());
    let mut server = Session::server(Peer {
        nested_send: true,
        ..Peer::server()
    });
    client.request(None, ptr::null_mut());
    let to_server = client.mem_send();
    let payload = payload_of(|| server.mem_recv(&to_server));
    // before_frame_send, called by the nested send while on_frame_recv runs
    // on the same state, was refused: the nested send failed, and the
    // refusal came back when the outer call returned.
    let message = message_of(&*payload);
    assert!(message.contains("before_frame_send"), "{message}");
    assert_eq!(
        server.state(|s| s.nested_rc),
        Some(NGHTTP2_ERR_CALLBACK_FAILURE as isize)
    );
    assert!(server.state(|s| !s.sending.iter().any(|&(kind, _)| kind == NGHTTP2_HEADERS)));
}

#[test]
fn terminate_session_from_inside_a_callback_ends_the_session() {
    let drops = counter();
    let client = Session::client(Peer::default());
    let server = Session::server(Peer {
        terminate: true,
        _drops: Some(DropCounter(drops.clone())),
        ..Peer::server()
    });
    client.request(None, ptr::null_mut());
    exchange(&client, &server);
    // SAFETY: live sessions.
    unsafe {
        assert_eq!(nghttp2_session_want_read(server.ptr), 0);
        assert_eq!(nghttp2_session_want_write(server.ptr), 0);
    }
    let client = client.into_state();
    // The client got the GOAWAY; its stream was never answered.
    assert!(
        client
            .log
            .contains(&format!("frame_recv {NGHTTP2_GOAWAY} 0")),
        "{:?}",
        client.log
    );
    assert!(client.headers.is_empty());
    drop(server);
    assert_eq!(drops.get(), 1);
}

// ===========================================================================
// Freeing
// ===========================================================================

#[test]
fn a_session_dropped_by_a_resumed_panic_frees_its_state_once() {
    quiet_expected_panics();
    let drops = counter();
    let provider_drops = counter();
    let client = Session::client(Peer::default());
    let counted = DropCounter(drops.clone());
    let pdrops = provider_drops.clone();
    let payload = payload_of(|| {
        let server = Session::server(Peer {
            panic_in: Some(("on_stream_close", 0)),
            // Deferred for ever: the provider is still kept at the panic.
            defer_response: true,
            provider_drops: pdrops,
            _drops: Some(counted),
            ..Peer::server()
        });
        client.request(None, ptr::null_mut());
        let to_server = client.mem_send();
        server.mem_recv(&to_server);
        assert!(!server.mem_send().is_empty());
        // RST the stream from the client side: its close panics.
        // SAFETY: a live session; stream 1 is open.
        client.guarded(|s| unsafe {
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, 1, NGHTTP2_CANCEL)
        } as isize);
        let to_server = client.mem_send();
        server.mem_recv(&to_server)
    });
    assert_eq!(message_of(&*payload), "expected panic in on_stream_close");
    // The state, and the provider its panicking on_stream_close could not
    // remove, were dropped once, with the session, during the unwind.
    assert_eq!((drops.get(), provider_drops.get()), (1, 1));
}

#[test]
fn providers_of_streams_open_at_del_are_dropped_once_with_the_state() {
    let drops = counter();
    let state_drops = counter();
    let client = Session::client(Peer::default());
    let counted = DropCounter(drops.clone());
    let server = server_with(move || {
        let b = DataRead::boxed(
            move |_s, _id, _buf: &mut [u8], _len, _flags: &mut u32, _src, _ud| {
                let _counted = &counted;
                Ok(NGHTTP2_ERR_DEFERRED as isize)
            },
        );
        (provider_of(&b), Box::new(b))
    });
    let mut server = server;
    server.state(|s| s._drops = Some(DropCounter(state_drops.clone())));
    client.request(None, ptr::null_mut());
    exchange(&client, &server);
    // nghttp2 never calls on_stream_close from nghttp2_session_del: the
    // binding's map is what frees the provider.
    assert_eq!(server.state(|s| s.providers.len()), 1);
    drop(server);
    assert_eq!((drops.get(), state_drops.get()), (1, 1));
}

// ===========================================================================
// A custom allocator (`nghttp2_mem`)
// ===========================================================================

/// `nghttp2_mem`'s functions as one set: all four get `mem_user_data`.
/// `&self` entries: nghttp2 never nests them, but one allocator may serve
/// several sessions, whose callbacks run inside each other's calls.
#[callback]
trait Allocator {
    /// `nghttp2_malloc`: null fails the nghttp2 call with NGHTTP2_ERR_NOMEM.
    unsafe extern "C" fn malloc(
        &self,
        size: usize,
        #[user_data] mem_user_data: *mut c_void,
    ) -> *mut c_void;
    /// `nghttp2_free`.
    unsafe extern "C" fn free(&self, ptr: *mut c_void, #[user_data] mem_user_data: *mut c_void);
    /// `nghttp2_calloc`.
    unsafe extern "C" fn calloc(
        &self,
        nmemb: usize,
        size: usize,
        #[user_data] mem_user_data: *mut c_void,
    ) -> *mut c_void;
    /// `nghttp2_realloc`.
    unsafe extern "C" fn realloc(
        &self,
        ptr: *mut c_void,
        size: usize,
        #[user_data] mem_user_data: *mut c_void,
    ) -> *mut c_void;
}

/// An allocator over the C library's, tracking every live block.
struct Tracking {
    live: RefCell<Vec<usize>>,
    allocations: Cell<u32>,
    /// Panics at this allocation (counted from 1), once.
    panic_at: Cell<Option<u32>>,
    /// Blocks `Drop` had to free: nghttp2 freed them while the set's state
    /// was poisoned, so the `free` entry never ran.
    leftover: Rc<Cell<usize>>,
}

impl Tracking {
    fn new(leftover: Rc<Cell<usize>>) -> Self {
        Tracking {
            live: RefCell::default(),
            allocations: Cell::new(0),
            panic_at: Cell::new(None),
            leftover,
        }
    }

    fn allocated(&self, p: *mut c_void) -> *mut c_void {
        let n = self.allocations.get() + 1;
        self.allocations.set(n);
        if self.panic_at.get() == Some(n) {
            self.panic_at.set(None);
            // SAFETY: the block was just allocated and is not handed out.
            unsafe { libc::free(p) };
            panic!("expected panic in allocation {n}");
        }
        if !p.is_null() {
            self.live.borrow_mut().push(p as usize);
        }
        p
    }

    fn released(&self, p: *mut c_void) {
        if !p.is_null() {
            let mut live = self.live.borrow_mut();
            let at = live
                .iter()
                .position(|&q| q == p as usize)
                .expect("a live block");
            live.swap_remove(at);
        }
    }
}

impl Allocator for Tracking {
    fn malloc(&self, size: usize) -> *mut c_void {
        // SAFETY: the C allocator.
        self.allocated(unsafe { libc::malloc(size) })
    }

    fn free(&self, ptr: *mut c_void) {
        self.released(ptr);
        // SAFETY: a block this allocator handed out, freed once by nghttp2.
        unsafe { libc::free(ptr) };
    }

    fn calloc(&self, nmemb: usize, size: usize) -> *mut c_void {
        // SAFETY: the C allocator.
        self.allocated(unsafe { libc::calloc(nmemb, size) })
    }

    fn realloc(&self, ptr: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: `ptr` is null or a live block of this allocator.
        let p = unsafe { libc::realloc(ptr, size) };
        if !p.is_null() {
            self.released(ptr);
            self.live.borrow_mut().push(p as usize);
        }
        p
    }
}

impl Drop for Tracking {
    fn drop(&mut self) {
        // What must be freed whatever happened belongs in `Drop`: the
        // `free` entry does not run on a poisoned state.
        let live = self.live.take();
        self.leftover.set(live.len());
        for p in live {
            // SAFETY: blocks of this allocator nghttp2 no longer uses (its
            // sessions are gone before the allocator).
            unsafe { libc::free(p as *mut c_void) };
        }
    }
}

/// The `nghttp2_mem` of a kept allocator state.
fn tracking_mem(alloc: &BoxedSet<Tracking>) -> NgMem {
    NgMem {
        mem_user_data: alloc.user_data(),
        malloc: Some(Tracking::MALLOC),
        free: Some(Tracking::FREE),
        calloc: Some(Tracking::CALLOC),
        realloc: Some(Tracking::REALLOC),
    }
}

#[test]
fn an_allocator_set_serves_both_sessions() {
    let leftover = counter_usize();
    let mut alloc = Tracking::new(leftover.clone()).boxed();
    let mut mem = tracking_mem(&alloc);
    {
        // SAFETY: as above.
        let (client, server) = unsafe {
            (
                Session::new(false, Peer::default(), &mut mem),
                Session::new(true, Peer::server(), &mut mem),
            )
        };
        client.request(None, ptr::null_mut());
        exchange(&client, &server);
        assert_eq!(client.into_state().bodies[&1], b"hello, h2");
        assert!(
            alloc
                .with_mut(|a| a.live.borrow().len())
                .expect("no call runs")
                > 0
        );
    }
    let (allocations, live) = alloc
        .with_mut(|a| (a.allocations.get(), a.live.borrow().len()))
        .expect("no call runs");
    assert!(allocations > 10, "{allocations}");
    // nghttp2_session_del gave every block back through `free`.
    assert_eq!(live, 0);
    drop(alloc);
    assert_eq!(leftover.get(), 0);
}

fn counter_usize() -> Rc<Cell<usize>> {
    Rc::new(Cell::new(0))
}

/// The panic comes back, but the set's state is poisoned until the guard
/// returns, so the blocks nghttp2 frees meanwhile (here: a binding that
/// deletes the failed session inside the same guarded turn) never reach
/// `free`: only the state's `Drop` can free them (NOTES.md).
#[test]
fn a_panic_in_the_allocator_set_comes_back_and_its_frees_wait_for_drop() {
    quiet_expected_panics();
    let leftover = counter_usize();
    let mut alloc = Tracking::new(leftover.clone()).boxed();
    let mut mem = tracking_mem(&alloc);
    let client = Session::client(Peer::default());
    // SAFETY: `alloc` (the functions' user data) is dropped after the
    // session, which ends inside the guard below.
    let server = unsafe { Session::new(true, Peer::server(), &mut mem) };
    client.request(None, ptr::null_mut());
    let to_server = client.mem_send();
    let armed = alloc.with_mut(|a| a.panic_at.set(Some(a.allocations.get() + 3)));
    assert!(armed.is_some());
    let rc = Cell::new(0);
    let payload = payload_of(|| {
        resume_panics(|| {
            // SAFETY: a live session, `to_server.len()` bytes.
            rc.set(unsafe {
                nghttp2_session_mem_recv(server.ptr, to_server.as_ptr(), to_server.len())
            });
            // The turn failed: the binding ends the session right here.
            drop(server);
        })
    });
    assert!(message_of(&*payload).starts_with("expected panic in allocation"));
    assert_eq!(rc.get(), NGHTTP2_ERR_NOMEM as isize);
    let live = alloc
        .with_mut(|a| a.live.borrow().len())
        .expect("no call runs");
    // nghttp2_session_del's frees were refused on the poisoned state.
    assert!(live > 0, "{live}");
    drop(alloc);
    assert_eq!(leftover.get(), live);
}

/// The same allocator as `#[callback]` fns sharing one `&Counted`: the
/// `free` fn is `on_panic = fallback`, so a kept panic does not stop it,
/// and every block comes back through it.
#[derive(Default)]
struct Counted {
    live: Cell<isize>,
    allocations: Cell<u32>,
    panic_at: Cell<Option<u32>>,
}

impl Counted {
    fn allocated(&self, p: *mut c_void) -> *mut c_void {
        let n = self.allocations.get() + 1;
        self.allocations.set(n);
        if self.panic_at.get() == Some(n) {
            self.panic_at.set(None);
            // SAFETY: the block was just allocated and is not handed out.
            unsafe { libc::free(p) };
            panic!("expected panic in allocation {n}");
        }
        if !p.is_null() {
            self.live.set(self.live.get() + 1);
        }
        p
    }
}

#[callback]
extern "C" fn counted_malloc(size: usize, #[user_data] a: &Counted) -> *mut c_void {
    // SAFETY: the C allocator.
    a.allocated(unsafe { libc::malloc(size) })
}

#[callback(on_panic = fallback)]
extern "C" fn counted_free(ptr: *mut c_void, #[user_data] a: &Counted) {
    if !ptr.is_null() {
        a.live.set(a.live.get() - 1);
    }
    // SAFETY: a block of this allocator, freed once by nghttp2.
    unsafe { libc::free(ptr) };
}

#[callback]
extern "C" fn counted_calloc(nmemb: usize, size: usize, #[user_data] a: &Counted) -> *mut c_void {
    // SAFETY: the C allocator.
    a.allocated(unsafe { libc::calloc(nmemb, size) })
}

#[callback]
extern "C" fn counted_realloc(
    ptr: *mut c_void,
    size: usize,
    #[user_data] a: &Counted,
) -> *mut c_void {
    // SAFETY: `ptr` is null or a live block of this allocator.
    let p = unsafe { libc::realloc(ptr, size) };
    if ptr.is_null() && !p.is_null() {
        a.live.set(a.live.get() + 1);
    }
    p
}

#[test]
fn allocator_fns_keep_freeing_after_a_panic_in_malloc() {
    quiet_expected_panics();
    let counted = Counted::default();
    let mut mem = NgMem {
        mem_user_data: counted_malloc::user_data(&counted),
        malloc: Some(counted_malloc),
        free: Some(counted_free),
        calloc: Some(counted_calloc),
        realloc: Some(counted_realloc),
    };
    {
        let client = Session::client(Peer::default());
        // SAFETY: `counted` (the fns' user data) outlives this block's
        // sessions.
        let server = unsafe { Session::new(true, Peer::server(), &mut mem) };
        client.request(None, ptr::null_mut());
        let to_server = client.mem_send();
        counted.panic_at.set(Some(counted.allocations.get() + 3));
        let rc = Cell::new(0);
        // The same turn as with the set: receive, fail, delete, in one guard.
        let payload = payload_of(|| {
            resume_panics(|| {
                // SAFETY: a live session, `to_server.len()` bytes.
                rc.set(unsafe {
                    nghttp2_session_mem_recv(server.ptr, to_server.as_ptr(), to_server.len())
                });
                drop(server);
            })
        });
        assert!(message_of(&*payload).starts_with("expected panic in allocation"));
        assert_eq!(rc.get(), NGHTTP2_ERR_NOMEM as isize);
        // `free` ran for every block while the panic was kept.
        assert_eq!(counted.live.get(), 0);
        // After the guard the allocator serves again: a fresh request goes
        // through on a new pair of sessions sharing it.
        // SAFETY: as above.
        let (client, server) = unsafe {
            (
                Session::new(false, Peer::default(), &mut mem),
                Session::new(true, Peer::server(), &mut mem),
            )
        };
        client.request(None, ptr::null_mut());
        exchange(&client, &server);
        assert_eq!(client.into_state().bodies[&1], b"hello, h2");
    }
    // Every block came back through `free`, the panicking call's included.
    assert_eq!(counted.live.get(), 0);
    assert!(counted.allocations.get() > 10);
}
