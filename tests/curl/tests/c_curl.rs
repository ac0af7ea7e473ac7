//! libcurl (the system library, apt `libcurl4-openssl-dev`; Debian 12
//! ships 7.88), driven through Rust callbacks as a binding (the `curl`
//! crate) writes them by hand today. No network: `file://` URLs on
//! temporary files, and a tiny HTTP server on 127.0.0.1 run by the test.
//!
//! - CURLOPT_WRITEFUNCTION lent for one `curl_easy_perform` (`try_scope`)
//!   into a Rust `Write`: the bytes; an `io::Error` ending the transfer
//!   (CURLE_WRITE_ERROR) and coming back typed; a short write; a panic
//!   resumed after the perform, the handle working again;
//! - CURLOPT_HEADERFUNCTION, CURLOPT_READFUNCTION (an upload to a file and
//!   an HTTP POST body from a Rust `Read`; an `io::Error` aborting with
//!   CURL_READFUNC_ABORT, typed back), CURLOPT_XFERINFOFUNCTION aborting
//!   a transfer, CURLOPT_DEBUGFUNCTION;
//! - a binding's `Easy<H>` keeping the five callbacks as one callback set
//!   (WRITEDATA = HEADERDATA = READDATA = XFERINFODATA = DEBUGDATA) across
//!   performs, its errors typed back per perform, the handler dropped once;
//! - the multi interface: CURLMOPT_SOCKETFUNCTION and TIMERFUNCTION as a
//!   callback set driving transfers with `curl_multi_socket_action` and
//!   `poll`;
//! - `curl_global_init_mem`: malloc/free/realloc/strdup/calloc, which take
//!   no user data, as slot-less types whose captureless closures count
//!   into a `static` and a `thread_local!`; every block a handle took on
//!   this thread given back.
//!
//! scripts/test-curl.sh runs this binary under valgrind memcheck too.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_long, c_short, c_void};
use std::io::{self, Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::ptr;
use std::rc::Rc;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};

use ffi_callback::{BoxedSet, callback, resume_panics, try_resume};

// ---------------------------------------------------------------------------
// libcurl 7.88, declared by hand
// ---------------------------------------------------------------------------

#[repr(C)]
struct Curl {
    _opaque: [u8; 0],
}
#[repr(C)]
struct CurlM {
    _opaque: [u8; 0],
}

type CurlCode = c_int;
type CurlOff = i64;
type CurlSocket = c_int;

const CURLE_OK: CurlCode = 0;
const CURLE_WRITE_ERROR: CurlCode = 23;
const CURLE_ABORTED_BY_CALLBACK: CurlCode = 42;

const CURLOPT_WRITEDATA: c_int = 10001;
const CURLOPT_URL: c_int = 10002;
const CURLOPT_READDATA: c_int = 10009;
const CURLOPT_WRITEFUNCTION: c_int = 20011;
const CURLOPT_READFUNCTION: c_int = 20012;
const CURLOPT_HEADERDATA: c_int = 10029;
const CURLOPT_VERBOSE: c_int = 41;
const CURLOPT_NOPROGRESS: c_int = 43;
const CURLOPT_UPLOAD: c_int = 46;
const CURLOPT_POST: c_int = 47;
const CURLOPT_XFERINFODATA: c_int = 10057;
const CURLOPT_HEADERFUNCTION: c_int = 20079;
const CURLOPT_DEBUGFUNCTION: c_int = 20094;
const CURLOPT_DEBUGDATA: c_int = 10095;
const CURLOPT_NOSIGNAL: c_int = 99;
const CURLOPT_INFILESIZE_LARGE: c_int = 30115;
const CURLOPT_POSTFIELDSIZE_LARGE: c_int = 30120;
const CURLOPT_XFERINFOFUNCTION: c_int = 20219;

const CURLINFO_RESPONSE_CODE: c_int = 0x200000 + 2;

const CURLINFO_TEXT: c_int = 0;
const CURLINFO_HEADER_IN: c_int = 1;
const CURLINFO_HEADER_OUT: c_int = 2;
const CURLINFO_DATA_IN: c_int = 3;
const CURLINFO_DATA_OUT: c_int = 4;

const CURL_READFUNC_ABORT: usize = 0x1000_0000;
const CURL_GLOBAL_ALL: c_long = 3;

const CURLMOPT_SOCKETFUNCTION: c_int = 20001;
const CURLMOPT_SOCKETDATA: c_int = 10002;
const CURLMOPT_TIMERFUNCTION: c_int = 20004;
const CURLMOPT_TIMERDATA: c_int = 10005;
const CURL_SOCKET_TIMEOUT: CurlSocket = -1;
const CURL_POLL_IN: c_int = 1;
const CURL_POLL_OUT: c_int = 2;
const CURL_POLL_REMOVE: c_int = 4;
const CURL_CSELECT_IN: c_int = 1;
const CURL_CSELECT_OUT: c_int = 2;
const CURLMSG_DONE: c_int = 1;

/// `CURLMsg`: the union's `result` read as its first 4 bytes (the union
/// is a pointer wide).
#[repr(C)]
struct CurlMsg {
    msg: c_int,
    easy_handle: *mut Curl,
    data: *mut c_void,
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}
const POLLIN: c_short = 1;
const POLLOUT: c_short = 4;

#[link(name = "curl")]
unsafe extern "C" {
    fn curl_global_init_mem(
        flags: c_long,
        m: MallocFn,
        f: FreeFn,
        r: ReallocFn,
        s: StrdupFn,
        c: CallocFn,
    ) -> CurlCode;
    fn curl_easy_init() -> *mut Curl;
    fn curl_easy_cleanup(handle: *mut Curl);
    /// Variadic, as in the header: the third argument's type follows the
    /// option's range (long, pointer, function pointer, curl_off_t).
    fn curl_easy_setopt(handle: *mut Curl, option: c_int, ...) -> CurlCode;
    fn curl_easy_perform(handle: *mut Curl) -> CurlCode;
    fn curl_easy_getinfo(handle: *mut Curl, info: c_int, ...) -> CurlCode;

    fn curl_multi_init() -> *mut CurlM;
    fn curl_multi_cleanup(multi: *mut CurlM) -> c_int;
    fn curl_multi_setopt(multi: *mut CurlM, option: c_int, ...) -> c_int;
    fn curl_multi_add_handle(multi: *mut CurlM, easy: *mut Curl) -> c_int;
    fn curl_multi_remove_handle(multi: *mut CurlM, easy: *mut Curl) -> c_int;
    fn curl_multi_socket_action(
        multi: *mut CurlM,
        s: CurlSocket,
        ev_bitmask: c_int,
        running_handles: *mut c_int,
    ) -> c_int;
    fn curl_multi_info_read(multi: *mut CurlM, msgs_in_queue: *mut c_int) -> *mut CurlMsg;
}

unsafe extern "C" {
    fn poll(fds: *mut PollFd, nfds: u64, timeout: c_int) -> c_int;
}

fn global_init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Captureless closures: the types' functions recreate them from
        // nothing, so curl may keep the functions after the holders go.
        // Each forwards to the C allocator with curl's own arguments.
        let malloc = Malloc::new(|size| {
            // SAFETY: `malloc` takes any size.
            counted(unsafe { malloc(size) }, 1)
        });
        let free = Free::new(|ptr| {
            if !ptr.is_null() {
                count(-1);
            }
            // SAFETY: curl frees only what these functions gave it.
            unsafe { free(ptr) }
        });
        let realloc = Realloc::new(|ptr, size| {
            // SAFETY: curl reallocates only what these functions gave it.
            let p = unsafe { realloc(ptr, size) };
            if ptr.is_null() { counted(p, 1) } else { p }
        });
        let strdup = Strdup::new(|s| {
            // SAFETY: curl passes a NUL-terminated string.
            counted(unsafe { strdup(s) }.cast(), 1).cast()
        });
        let calloc = Calloc::new(|n, size| {
            // SAFETY: `calloc` checks `n * size` itself.
            counted(unsafe { calloc(n, size) }, 1)
        });
        // SAFETY: once per process, before any other curl call of this
        // file (every handle is made after this); the five functions have
        // the types curl_global_init_mem takes.
        let code = unsafe {
            curl_global_init_mem(
                CURL_GLOBAL_ALL,
                malloc.function(),
                free.function(),
                realloc.function(),
                strdup.function(),
                calloc.function(),
            )
        };
        assert_eq!(code, CURLE_OK);
    });
}

// ---------------------------------------------------------------------------
// curl_global_init_mem: five allocator functions with no user data
// ---------------------------------------------------------------------------

unsafe extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
    fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn strdup(s: *const c_char) -> *mut c_char;
    fn calloc(n: usize, size: usize) -> *mut c_void;
}

/// `curl_malloc_callback` and friends: no user data, called on any thread
/// (the threaded resolver's), for the life of the process. Slot-less
/// types: only captureless closures, so the Rust state they count into is
/// a `static` (process-wide) and a `thread_local!` (this thread's, which
/// the test reads: the suite's tests run in parallel).
#[callback(sync, on_panic = fallback)]
type Malloc = unsafe extern "C" fn(size: usize) -> *mut c_void;
#[callback(sync, on_panic = fallback)]
type Free = unsafe extern "C" fn(ptr: *mut c_void);
#[callback(sync, on_panic = fallback)]
type Realloc = unsafe extern "C" fn(ptr: *mut c_void, size: usize) -> *mut c_void;
#[callback(sync, on_panic = fallback)]
type Strdup = unsafe extern "C" fn(s: *const c_char) -> *mut c_char;
#[callback(sync, on_panic = fallback)]
type Calloc = unsafe extern "C" fn(n: usize, size: usize) -> *mut c_void;

/// Allocations through curl's allocator functions, every thread.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Blocks allocated minus blocks freed, on this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// `p`, counted as a new block if not null.
fn counted(p: *mut c_void, delta: isize) -> *mut c_void {
    if !p.is_null() {
        count(delta);
    }
    p
}

fn count(delta: isize) {
    if delta > 0 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
    // `try_with`: a free during thread exit, after LIVE is gone.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

#[test]
fn curls_allocations_go_through_the_rust_allocator_functions() {
    global_init();
    let file = TempFile::new("alloc", &pattern(1000));
    let before_live = LIVE.with(Cell::get);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let easy = EasyHandle::new();
    easy.set_url(&file.url());
    // On this thread, during the handle's life: more blocks than before.
    assert!(LIVE.with(Cell::get) > before_live);
    let mut out = Vec::new();
    assert_eq!(
        perform_into(&easy, &mut out, &Cell::new(-1)).unwrap(),
        CURLE_OK
    );
    assert_eq!(out, pattern(1000));
    drop(easy);
    // Every block the handle took on this thread came back.
    assert_eq!(LIVE.with(Cell::get), before_live);
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);
}

// ---------------------------------------------------------------------------
// The easy handle, as a binding's raw layer
// ---------------------------------------------------------------------------

/// An easy handle without callbacks of its own. Its `Drop` runs
/// `curl_easy_cleanup` under `resume_panics` (with VERBOSE on, cleanup
/// calls the debug callback: "Closing connection").
struct EasyHandle(*mut Curl);

impl EasyHandle {
    fn new() -> EasyHandle {
        global_init();
        // SAFETY: curl is initialised.
        let raw = unsafe { curl_easy_init() };
        assert!(!raw.is_null());
        let easy = EasyHandle(raw);
        easy.set_long(CURLOPT_NOSIGNAL, 1);
        easy
    }

    fn set_long(&self, option: c_int, value: c_long) {
        assert!(option < 10000);
        // SAFETY: a long option gets a long.
        assert_eq!(unsafe { curl_easy_setopt(self.0, option, value) }, CURLE_OK);
    }

    fn set_off(&self, option: c_int, value: CurlOff) {
        assert!((30000..40000).contains(&option));
        // SAFETY: a curl_off_t option gets a curl_off_t.
        assert_eq!(unsafe { curl_easy_setopt(self.0, option, value) }, CURLE_OK);
    }

    fn set_url(&self, url: &str) {
        let url = CString::new(url).unwrap();
        // SAFETY: curl copies string options.
        let code = unsafe { curl_easy_setopt(self.0, CURLOPT_URL, url.as_ptr()) };
        assert_eq!(code, CURLE_OK);
    }

    /// A function option and its data option.
    ///
    /// # Safety
    /// `function` must have the C type curl expects for `option`, and
    /// `data` must be valid for it for as long as curl may call it.
    unsafe fn set_callback(
        &self,
        option: c_int,
        function: *const (),
        data_option: c_int,
        data: *mut c_void,
    ) {
        // SAFETY: the caller's promise.
        unsafe {
            assert_eq!(curl_easy_setopt(self.0, option, function), CURLE_OK);
            assert_eq!(curl_easy_setopt(self.0, data_option, data), CURLE_OK);
        }
    }

    /// Puts curl's defaults back (null function: fwrite/fread to
    /// stdout/stdin, which no test performs with), so that no pointer to
    /// a scope's holder outlives the scope.
    fn unset_callback(&self, option: c_int, data_option: c_int) {
        // SAFETY: null is "the default" for every function option, and
        // null data is never read while the function is the default and
        // no perform runs.
        unsafe { self.set_callback(option, ptr::null(), data_option, ptr::null_mut()) }
    }

    fn response_code(&self) -> c_long {
        let mut code: c_long = 0;
        // SAFETY: CURLINFO_RESPONSE_CODE writes a long.
        let rc = unsafe { curl_easy_getinfo(self.0, CURLINFO_RESPONSE_CODE, &mut code) };
        assert_eq!(rc, CURLE_OK);
        code
    }

    /// `curl_easy_perform` without callbacks that can panic.
    fn perform_raw(&self) -> CurlCode {
        // SAFETY: a handle of ours; the callbacks set on it, if any, are
        // valid (the callers' `set_callback` promises).
        unsafe { curl_easy_perform(self.0) }
    }
}

impl Drop for EasyHandle {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and freed once.
        resume_panics(|| unsafe { curl_easy_cleanup(self.0) });
    }
}

/// Unsets a function option when dropped, also on the way out of a
/// panicking scope.
struct Unset<'a>(&'a EasyHandle, c_int, c_int);

impl Drop for Unset<'_> {
    fn drop(&mut self) {
        self.0.unset_callback(self.1, self.2);
    }
}

// ---------------------------------------------------------------------------
// Callback types, lent for one perform
// ---------------------------------------------------------------------------

/// `curl_write_callback`: all `size * nmemb` bytes taken, or fewer (0
/// after a panic or an `Err`), which curl reports as CURLE_WRITE_ERROR.
#[callback(error = io::Error, on_error = 0, fallback = 0)]
type WriteFunction = unsafe extern "C" fn(
    #[into(&[u8], len = size * nmemb)] ptr: *const c_char,
    size: usize,
    nmemb: usize,
    #[user_data] userdata: *mut c_void,
) -> usize;

/// The header callback: the same C type as the write callback, a type of
/// its own so that a write and a header closure can be lent together.
#[callback(fallback = 0)]
type HeaderFunction = unsafe extern "C" fn(
    #[into(&[u8], len = size * nitems)] buffer: *const c_char,
    size: usize,
    nitems: usize,
    #[user_data] userdata: *mut c_void,
) -> usize;

/// `curl_read_callback`: bytes put in `buffer`, 0 at the end,
/// CURL_READFUNC_ABORT on error.
#[callback(error = io::Error, on_error = CURL_READFUNC_ABORT, fallback = CURL_READFUNC_ABORT)]
type ReadFunction = unsafe extern "C" fn(
    #[into(&mut [u8], len = size * nitems)] buffer: *mut c_char,
    size: usize,
    nitems: usize,
    #[user_data] userdata: *mut c_void,
) -> usize;

/// `curl_xferinfo_callback`: 0 goes on, non-zero aborts
/// (CURLE_ABORTED_BY_CALLBACK).
#[callback(on_continue = 0, on_break = 1, fallback = 1)]
type XferInfoFunction = unsafe extern "C" fn(
    #[user_data] clientp: *mut c_void,
    dltotal: CurlOff,
    dlnow: CurlOff,
    ultotal: CurlOff,
    ulnow: CurlOff,
) -> c_int;

/// `curl_debug_callback`: must return 0.
#[callback]
type DebugFunction = unsafe extern "C" fn(
    handle: *mut Curl,
    kind: c_int,
    #[into(&[u8], len = size)] data: *const c_char,
    size: usize,
    #[user_data] userptr: *mut c_void,
) -> c_int;

/// The binding's `Easy::perform_into`: one perform writing the body into
/// `out`, lent for the call. curl's code, or `out`'s `io::Error`, typed;
/// `code` gets curl's code in both cases.
fn perform_into(
    easy: &EasyHandle,
    out: &mut impl Write,
    code: &Cell<CurlCode>,
) -> Result<CurlCode, io::Error> {
    WriteFunction::try_scope(
        |data: &[u8], _size, _nmemb| out.write(data),
        |write, userdata| {
            // SAFETY: `write` is a `curl_write_callback`; its holder lives
            // until the scope returns, and `Unset` takes it from curl first.
            unsafe {
                easy.set_callback(
                    CURLOPT_WRITEFUNCTION,
                    write as *const (),
                    CURLOPT_WRITEDATA,
                    userdata,
                )
            };
            let _unset = Unset(easy, CURLOPT_WRITEFUNCTION, CURLOPT_WRITEDATA);
            code.set(easy.perform_raw());
            code.get()
        },
    )
}

// ---------------------------------------------------------------------------
// Fixtures: temporary files and a one-shot HTTP server on 127.0.0.1
// ---------------------------------------------------------------------------

/// A temporary file, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("ffi-callback-curl-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn url(&self) -> String {
        format!("file://{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Contents of `n` bytes, not all alike.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A server answering `responses.len()` connections, one request each
/// (headers, then a Content-Length body), with the given responses; its
/// thread returns the requests it read.
struct Server {
    base: String,
    thread: Option<JoinHandle<Vec<Vec<u8>>>>,
}

impl Server {
    fn start(responses: Vec<Vec<u8>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let thread = thread::spawn(move || {
            let mut requests = Vec::new();
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                requests.push(read_request(&mut stream));
                // The client may have aborted: a failed write is fine.
                let _ = stream.write_all(&response);
            }
            requests
        });
        Server {
            base,
            thread: Some(thread),
        }
    }

    fn requests(mut self) -> Vec<Vec<u8>> {
        self.thread.take().unwrap().join().unwrap()
    }
}

fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut request = Vec::new();
    let mut byte = [0u8];
    while !request.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap() == 0 {
            return request;
        }
        request.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    request.extend_from_slice(&body);
    request
}

fn response(body: &[u8], extra_header: &str) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{extra_header}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Write callback, lent
// ---------------------------------------------------------------------------

#[test]
fn a_file_url_is_written_into_a_rust_write() {
    let contents = pattern(100_000);
    let file = TempFile::new("download", &contents);
    let easy = EasyHandle::new();
    easy.set_url(&file.url());
    let mut out = Vec::new();
    let code = Cell::new(-1);
    assert_eq!(perform_into(&easy, &mut out, &code).unwrap(), CURLE_OK);
    assert_eq!(out, contents);
}

/// A writer failing with an `io::Error` after `budget` bytes.
struct Failing {
    written: Vec<u8>,
    budget: usize,
    calls: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.written.len() + buf.len() > self.budget {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_io_error_in_the_write_callback_aborts_with_write_error_and_comes_back_typed() {
    let file = TempFile::new("write-error", &pattern(200_000));
    let easy = EasyHandle::new();
    easy.set_url(&file.url());
    let mut out = Failing {
        written: Vec::new(),
        budget: 20_000,
        calls: 0,
    };
    let code = Cell::new(-1);
    let err = perform_into(&easy, &mut out, &code).unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string()),
        (io::ErrorKind::StorageFull, "disk full".to_owned())
    );
    assert_eq!(code.get(), CURLE_WRITE_ERROR);
    // curl stopped at the failing write: no call after it.
    assert!(out.written.len() <= 20_000);
    let calls = out.calls;
    assert!(calls >= 2, "{calls}");
    // The next perform on the same handle works.
    let mut again = Vec::new();
    assert_eq!(perform_into(&easy, &mut again, &code).unwrap(), CURLE_OK);
    assert_eq!(again.len(), 200_000);
}

#[test]
fn a_short_write_aborts_with_write_error() {
    let file = TempFile::new("short-write", &pattern(10));
    let easy = EasyHandle::new();
    easy.set_url(&file.url());
    struct Short(usize);
    impl Write for Short {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += 1;
            Ok(buf.len() - 1)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut short = Short(0);
    let code = Cell::new(-1);
    assert_eq!(
        perform_into(&easy, &mut short, &code).unwrap(),
        CURLE_WRITE_ERROR
    );
    assert_eq!(short.0, 1);
}

#[test]
fn a_panic_in_the_write_callback_is_resumed_after_the_perform() {
    let file = TempFile::new("write-panic", &pattern(200_000));
    let easy = EasyHandle::new();
    easy.set_url(&file.url());
    let calls = Cell::new(0);
    let code = Cell::new(-1);
    let payload = catch_unwind(AssertUnwindSafe(|| {
        WriteFunction::scope(
            |_data: &[u8], _size, _nmemb| -> io::Result<usize> {
                calls.set(calls.get() + 1);
                panic!("writer exploded");
            },
            |write, userdata| {
                // SAFETY: as in `perform_into`.
                unsafe {
                    easy.set_callback(
                        CURLOPT_WRITEFUNCTION,
                        write as *const (),
                        CURLOPT_WRITEDATA,
                        userdata,
                    )
                };
                let _unset = Unset(&easy, CURLOPT_WRITEFUNCTION, CURLOPT_WRITEDATA);
                code.set(easy.perform_raw());
            },
        )
    }))
    .unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"writer exploded"));
    // curl saw 0 bytes taken, and did not call again.
    assert_eq!((code.get(), calls.get()), (CURLE_WRITE_ERROR, 1));
    let mut out = Vec::new();
    assert_eq!(perform_into(&easy, &mut out, &code).unwrap(), CURLE_OK);
    assert_eq!(out.len(), 200_000);
}

// ---------------------------------------------------------------------------
// Header, read, progress and debug callbacks, lent
// ---------------------------------------------------------------------------

#[test]
fn headers_and_body_from_a_local_http_server() {
    let server = Server::start(vec![response(
        b"hello, curl",
        "X-Test: one\r\nX-Test: two\r\n",
    )]);
    let easy = EasyHandle::new();
    easy.set_url(&format!("{}/hello", server.base));
    let mut headers: Vec<String> = Vec::new();
    let mut body = Vec::new();
    let code = Cell::new(-1);
    // Two lent closures: two nested scopes.
    let result = HeaderFunction::scope(
        |line: &[u8], _size, _nitems| {
            headers.push(String::from_utf8_lossy(line).trim_end().to_owned());
            line.len()
        },
        |header, userdata| {
            // SAFETY: a `curl_write_callback`-shaped header callback, its
            // holder alive until the scope returns; unset before.
            unsafe {
                easy.set_callback(
                    CURLOPT_HEADERFUNCTION,
                    header as *const (),
                    CURLOPT_HEADERDATA,
                    userdata,
                )
            };
            let _unset = Unset(&easy, CURLOPT_HEADERFUNCTION, CURLOPT_HEADERDATA);
            perform_into(&easy, &mut body, &code)
        },
    );
    assert_eq!(result.unwrap(), CURLE_OK);
    assert_eq!(body, b"hello, curl");
    assert_eq!(easy.response_code(), 200);
    assert_eq!(
        headers,
        [
            "HTTP/1.1 200 OK",
            "Content-Length: 11",
            "X-Test: one",
            "X-Test: two",
            "Connection: close",
            ""
        ]
    );
    let requests = server.requests();
    assert!(requests[0].starts_with(b"GET /hello HTTP/1.1\r\n"));
}

/// The binding's upload: `source` read through CURLOPT_READFUNCTION, lent
/// for one perform.
fn perform_reading(
    easy: &EasyHandle,
    source: &mut impl Read,
    out: &mut Vec<u8>,
) -> Result<CurlCode, io::Error> {
    let code = Cell::new(-1);
    ReadFunction::try_scope(
        |buffer: &mut [u8], _size, _nitems| source.read(buffer),
        |read, userdata| {
            // SAFETY: a `curl_read_callback`, its holder alive until the
            // scope returns; unset before.
            unsafe {
                easy.set_callback(
                    CURLOPT_READFUNCTION,
                    read as *const (),
                    CURLOPT_READDATA,
                    userdata,
                )
            };
            let _unset = Unset(easy, CURLOPT_READFUNCTION, CURLOPT_READDATA);
            // The read callback's error and the write callback's are both
            // `io::Error`: the inner guard takes the write's.
            perform_into(easy, out, &code)
        },
    )?
}

#[test]
fn an_upload_to_a_file_url_reads_a_rust_read() {
    let file = TempFile::new("upload", b"");
    let contents = pattern(70_000);
    let easy = EasyHandle::new();
    easy.set_url(&file.url());
    easy.set_long(CURLOPT_UPLOAD, 1);
    easy.set_off(CURLOPT_INFILESIZE_LARGE, contents.len() as CurlOff);
    let mut source = Cursor::new(contents.clone());
    let mut out = Vec::new();
    assert_eq!(
        perform_reading(&easy, &mut source, &mut out).unwrap(),
        CURLE_OK
    );
    assert_eq!(std::fs::read(&file.0).unwrap(), contents);
    assert_eq!(source.position(), 70_000);
}

#[test]
fn a_post_body_comes_from_a_rust_read() {
    let server = Server::start(vec![response(b"created", "")]);
    let easy = EasyHandle::new();
    easy.set_url(&format!("{}/post", server.base));
    easy.set_long(CURLOPT_POST, 1);
    let body = b"name=ferris&lang=rust".to_vec();
    easy.set_off(CURLOPT_POSTFIELDSIZE_LARGE, body.len() as CurlOff);
    let mut out = Vec::new();
    let mut source = Cursor::new(body.clone());
    assert_eq!(
        perform_reading(&easy, &mut source, &mut out).unwrap(),
        CURLE_OK
    );
    assert_eq!(out, b"created");
    let requests = server.requests();
    assert!(requests[0].starts_with(b"POST /post HTTP/1.1\r\n"));
    assert!(requests[0].ends_with(b"\r\n\r\nname=ferris&lang=rust"));
}

/// A reader failing after `good` bytes.
struct BrokenRead {
    good: usize,
    calls: usize,
}

impl Read for BrokenRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.good == 0 {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "source gone"));
        }
        let n = self.good.min(buf.len());
        buf[..n].fill(b'x');
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn an_io_error_in_the_read_callback_aborts_the_upload_and_comes_back_typed() {
    let file = TempFile::new("upload-error", b"");
    let easy = EasyHandle::new();
    easy.set_url(&file.url());
    easy.set_long(CURLOPT_UPLOAD, 1);
    easy.set_off(CURLOPT_INFILESIZE_LARGE, 100_000);
    let mut source = BrokenRead { good: 30, calls: 0 };
    let mut out = Vec::new();
    let err = perform_reading(&easy, &mut source, &mut out).unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string()),
        (io::ErrorKind::BrokenPipe, "source gone".to_owned())
    );
    // No call after the failing one.
    assert_eq!(source.calls, 2);
}

#[test]
fn the_xferinfo_callback_aborts_a_transfer() {
    let server = Server::start(vec![response(&pattern(50_000), "")]);
    let easy = EasyHandle::new();
    easy.set_url(&format!("{}/big", server.base));
    easy.set_long(CURLOPT_NOPROGRESS, 0);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    let code = Cell::new(-1);
    let result = XferInfoFunction::scope(
        |dltotal, dlnow, _ultotal, _ulnow| {
            seen.push((dltotal, dlnow));
            if dlnow > 0 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
        |xferinfo, clientp| {
            // SAFETY: a `curl_xferinfo_callback`, its holder alive until
            // the scope returns; unset before.
            unsafe {
                easy.set_callback(
                    CURLOPT_XFERINFOFUNCTION,
                    xferinfo as *const (),
                    CURLOPT_XFERINFODATA,
                    clientp,
                )
            };
            let _unset = Unset(&easy, CURLOPT_XFERINFOFUNCTION, CURLOPT_XFERINFODATA);
            perform_into(&easy, &mut out, &code)
        },
    );
    assert_eq!(result.unwrap(), CURLE_ABORTED_BY_CALLBACK);
    let (last_total, last_now) = *seen.last().unwrap();
    assert!(last_now > 0 && last_total == 50_000, "{seen:?}");
    // The callback broke at the first call with data, and only there.
    assert_eq!(seen.iter().filter(|(_, now)| *now > 0).count(), 1);
    assert_eq!(out.len() as CurlOff, last_now);
    drop(easy);
    server.requests();
}

#[test]
fn the_debug_callback_sees_headers_and_data() {
    let server = Server::start(vec![response(b"0123456789", "")]);
    let easy = EasyHandle::new();
    easy.set_url(&format!("{}/dbg", server.base));
    easy.set_long(CURLOPT_VERBOSE, 1);
    let mut kinds: Vec<(c_int, Vec<u8>)> = Vec::new();
    let mut out = Vec::new();
    let code = Cell::new(-1);
    let result = DebugFunction::scope(
        |handle, kind, data: &[u8], _size| {
            assert_eq!(handle, easy.0);
            kinds.push((kind, data.to_vec()));
            0
        },
        |debug, userptr| {
            // SAFETY: a `curl_debug_callback`, its holder alive until the
            // scope returns; unset before (cleanup calls it too).
            unsafe {
                easy.set_callback(
                    CURLOPT_DEBUGFUNCTION,
                    debug as *const (),
                    CURLOPT_DEBUGDATA,
                    userptr,
                )
            };
            let _unset = Unset(&easy, CURLOPT_DEBUGFUNCTION, CURLOPT_DEBUGDATA);
            perform_into(&easy, &mut out, &code)
        },
    );
    assert_eq!(result.unwrap(), CURLE_OK);
    let all = |kind: c_int| -> Vec<u8> {
        kinds
            .iter()
            .filter(|(k, _)| *k == kind)
            .flat_map(|(_, d)| d.clone())
            .collect()
    };
    assert!(all(CURLINFO_HEADER_OUT).starts_with(b"GET /dbg HTTP/1.1\r\n"));
    assert!(all(CURLINFO_HEADER_IN).starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(all(CURLINFO_DATA_IN), b"0123456789");
    assert!(all(CURLINFO_DATA_OUT).is_empty());
    assert!(contains(&all(CURLINFO_TEXT), b"Connected to 127.0.0.1"));
    assert_eq!(out, b"0123456789");
    drop(easy);
    server.requests();
}

// ---------------------------------------------------------------------------
// A binding's `Easy<H>`: the five callbacks as one set, kept across performs
// ---------------------------------------------------------------------------

/// What a user of the binding implements (the `curl` crate's `Handler`).
trait Handler {
    fn write(&mut self, data: &[u8]) -> io::Result<usize>;
    fn header(&mut self, _line: &[u8]) -> bool {
        true
    }
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
    fn progress(
        &mut self,
        _dltotal: CurlOff,
        _dlnow: CurlOff,
        _ultotal: CurlOff,
        _ulnow: CurlOff,
    ) -> bool {
        true
    }
}

/// The five callbacks of one easy handle over one user data.
#[callback]
trait Transfer {
    #[callback(fallback = 0, on_error = 0)]
    unsafe extern "C" fn write(
        &mut self,
        #[into(&[u8], len = size * nmemb)] ptr: *const c_char,
        size: usize,
        nmemb: usize,
        #[user_data] userdata: *mut c_void,
    ) -> Result<usize, io::Error>;
    #[callback(fallback = 0)]
    unsafe extern "C" fn header(
        &mut self,
        #[into(&[u8], len = size * nitems)] buffer: *const c_char,
        size: usize,
        nitems: usize,
        #[user_data] userdata: *mut c_void,
    ) -> usize;
    #[callback(fallback = CURL_READFUNC_ABORT, on_error = CURL_READFUNC_ABORT)]
    unsafe extern "C" fn read(
        &mut self,
        #[into(&mut [u8], len = size * nitems)] buffer: *mut c_char,
        size: usize,
        nitems: usize,
        #[user_data] userdata: *mut c_void,
    ) -> Result<usize, io::Error>;
    #[callback(fallback = 1)]
    unsafe extern "C" fn xferinfo(
        &mut self,
        #[user_data] clientp: *mut c_void,
        dltotal: CurlOff,
        dlnow: CurlOff,
        ultotal: CurlOff,
        ulnow: CurlOff,
    ) -> c_int;
    /// Runs while the state is poisoned: curl logs the failing transfer's
    /// end (and `curl_easy_cleanup` its connection's) after another
    /// callback failed, and curl ignores what it returns anyway.
    #[callback(runs_poisoned)]
    unsafe extern "C" fn debug(
        &self,
        handle: *mut Curl,
        kind: c_int,
        #[into(&[u8], len = size)] data: *const c_char,
        size: usize,
        #[user_data] userptr: *mut c_void,
    ) -> c_int;
}

/// The set's state: the user's handler, and the debug log behind a
/// `RefCell` since `debug` takes `&self`.
struct State<H> {
    handler: H,
    debug: std::cell::RefCell<Vec<(c_int, Vec<u8>)>>,
}

impl<H: Handler> Transfer for State<H> {
    fn write(&mut self, data: &[u8], _size: usize, _nmemb: usize) -> Result<usize, io::Error> {
        self.handler.write(data)
    }
    fn header(&mut self, line: &[u8], _size: usize, _nitems: usize) -> usize {
        if self.handler.header(line) {
            line.len()
        } else {
            0
        }
    }
    fn read(&mut self, buf: &mut [u8], _size: usize, _nitems: usize) -> Result<usize, io::Error> {
        self.handler.read(buf)
    }
    fn xferinfo(
        &mut self,
        dltotal: CurlOff,
        dlnow: CurlOff,
        ultotal: CurlOff,
        ulnow: CurlOff,
    ) -> c_int {
        c_int::from(!self.handler.progress(dltotal, dlnow, ultotal, ulnow))
    }
    fn debug(&self, _handle: *mut Curl, kind: c_int, data: &[u8], _size: usize) -> c_int {
        self.debug.borrow_mut().push((kind, data.to_vec()));
        0
    }
}

/// The binding's handle (`curl::easy::Easy2<H>`): owns its handler for
/// every perform. Field order: the handle is cleaned up (which may call
/// the debug callback) before the state is freed.
struct Easy<H: Handler + 'static> {
    handle: EasyHandle,
    state: BoxedSet<State<H>>,
}

impl<H: Handler + 'static> Easy<H> {
    fn new(handler: H) -> Easy<H> {
        let handle = EasyHandle::new();
        let state = State {
            handler,
            debug: Default::default(),
        }
        .boxed();
        let ud = state.user_data();
        // SAFETY: each entry has the C type of its option; the state lives
        // in `self.state`, dropped after `handle` is cleaned up, so curl
        // never calls with a freed user data.
        unsafe {
            handle.set_callback(
                CURLOPT_WRITEFUNCTION,
                State::<H>::WRITE as *const (),
                CURLOPT_WRITEDATA,
                ud,
            );
            handle.set_callback(
                CURLOPT_HEADERFUNCTION,
                State::<H>::HEADER as *const (),
                CURLOPT_HEADERDATA,
                ud,
            );
            handle.set_callback(
                CURLOPT_READFUNCTION,
                State::<H>::READ as *const (),
                CURLOPT_READDATA,
                ud,
            );
            handle.set_callback(
                CURLOPT_XFERINFOFUNCTION,
                State::<H>::XFERINFO as *const (),
                CURLOPT_XFERINFODATA,
                ud,
            );
            handle.set_callback(
                CURLOPT_DEBUGFUNCTION,
                State::<H>::DEBUG as *const (),
                CURLOPT_DEBUGDATA,
                ud,
            );
        }
        Easy { handle, state }
    }

    /// One transfer: curl's code, or the first `io::Error` a callback
    /// returned; a panic is resumed.
    fn perform(&mut self) -> Result<CurlCode, io::Error> {
        try_resume(|| self.handle.perform_raw())
    }

    fn get_ref(&self) -> &H {
        // `with` gives the state only inside a closure; the binding wants
        // `&H` for `&self`'s lifetime, which the `BoxedSet` cannot lend.
        let state: *const State<H> = self
            .state
            .with(|s| s as *const State<H>)
            .expect("no call runs");
        // SAFETY: no call of the set runs (`with` returned `Some`), and
        // none can start while `&self` is borrowed: curl calls only from
        // `curl_easy_perform` (and cleanup, in `drop`), which this file
        // runs on an `Easy`'s handle only through `perform(&mut self)`.
        &unsafe { &*state }.handler
    }

    fn get_mut(&mut self) -> &mut H {
        let state: *mut State<H> = self
            .state
            .with_mut(|s| s as *mut State<H>)
            .expect("no call runs");
        // SAFETY: as in `get_ref`, with `&mut self`.
        &mut unsafe { &mut *state }.handler
    }

    fn debug_log(&self) -> Vec<(c_int, Vec<u8>)> {
        self.state.with(|s| s.debug.borrow().clone()).unwrap()
    }
}

/// A handler collecting headers and the body, uploading from a buffer,
/// and failing or panicking on request.
#[derive(Default)]
struct Collector {
    body: Vec<u8>,
    headers: Vec<String>,
    upload: Cursor<Vec<u8>>,
    progress_calls: usize,
    fail_write: Option<&'static str>,
    panic_read: bool,
    _drops: DropCount,
}

/// Counts its drops.
#[derive(Default)]
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

impl Handler for Collector {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if let Some(message) = self.fail_write {
            return Err(io::Error::other(message));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }
    fn header(&mut self, line: &[u8]) -> bool {
        self.headers
            .push(String::from_utf8_lossy(line).trim_end().to_owned());
        true
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(!self.panic_read, "reader exploded");
        self.upload.read(buf)
    }
    fn progress(
        &mut self,
        _dltotal: CurlOff,
        _dlnow: CurlOff,
        _ultotal: CurlOff,
        _ulnow: CurlOff,
    ) -> bool {
        self.progress_calls += 1;
        true
    }
}

#[test]
fn an_easy_handle_keeps_one_set_for_all_its_callbacks_across_performs() {
    let drops = Rc::new(Cell::new(0));
    let server = Server::start(vec![
        response(b"first", "X-N: 1\r\n"),
        response(b"second", "X-N: 2\r\n"),
        response(b"third", "X-N: 3\r\n"),
        response(b"fourth", "X-N: 4\r\n"),
    ]);
    let mut easy = Easy::new(Collector {
        _drops: DropCount(drops.clone()),
        ..Default::default()
    });
    easy.handle.set_long(CURLOPT_NOPROGRESS, 0);
    easy.handle.set_long(CURLOPT_VERBOSE, 1);

    // 1: a GET through write, header, xferinfo and debug.
    easy.handle.set_url(&format!("{}/one", server.base));
    assert_eq!(easy.perform().unwrap(), CURLE_OK);
    assert_eq!(easy.get_ref().body, b"first");
    assert!(easy.get_ref().headers.contains(&"X-N: 1".to_owned()));
    assert!(easy.get_ref().progress_calls > 0);
    let log = easy.debug_log();
    assert!(
        log.iter()
            .any(|(kind, data)| *kind == CURLINFO_HEADER_OUT && data.starts_with(b"GET /one "))
    );
    let data_in: Vec<u8> = log
        .iter()
        .filter(|(kind, _)| *kind == CURLINFO_DATA_IN)
        .flat_map(|(_, d)| d.clone())
        .collect();
    assert_eq!(data_in, b"first");

    // 2: a POST whose body the read entry takes from the handler.
    easy.get_mut().upload = Cursor::new(b"payload".to_vec());
    easy.get_mut().body.clear();
    easy.handle.set_url(&format!("{}/two", server.base));
    easy.handle.set_long(CURLOPT_POST, 1);
    easy.handle.set_off(CURLOPT_POSTFIELDSIZE_LARGE, 7);
    assert_eq!(easy.perform().unwrap(), CURLE_OK);
    assert_eq!(easy.get_ref().body, b"second");

    // 3: the write entry's `Err`, typed back from this perform only.
    easy.handle.set_long(CURLOPT_POST, 0);
    easy.get_mut().fail_write = Some("no room");
    easy.handle.set_url(&format!("{}/three", server.base));
    let err = easy.perform().unwrap_err();
    assert_eq!(err.to_string(), "no room");
    // The debug entry ran on the poisoned state: curl's "Failure writing
    // output" line, logged after the failing write.
    let failure = easy.debug_log().iter().position(|(kind, data)| {
        *kind == CURLINFO_TEXT && contains(data, b"Failure writing output")
    });
    assert!(failure.is_some());

    // 4: the state works again after the guard returned.
    easy.get_mut().fail_write = None;
    easy.get_mut().body.clear();
    easy.handle.set_url(&format!("{}/four", server.base));
    assert_eq!(easy.perform().unwrap(), CURLE_OK);
    assert_eq!(easy.get_ref().body, b"fourth");
    assert_eq!(
        easy.get_ref()
            .headers
            .iter()
            .filter(|h| h.starts_with("X-N:"))
            .count(),
        4
    );

    assert_eq!(drops.get(), 0);
    drop(easy);
    assert_eq!(drops.get(), 1);
    let requests = server.requests();
    assert!(
        requests[1].starts_with(b"POST /two HTTP/1.1\r\n")
            && requests[1].ends_with(b"\r\n\r\npayload")
    );
}

#[test]
fn a_panic_in_an_easy_handles_read_entry_is_resumed_and_the_handle_goes_on() {
    let drops = Rc::new(Cell::new(0));
    let file = TempFile::new("set-upload", b"");
    let mut easy = Easy::new(Collector {
        _drops: DropCount(drops.clone()),
        panic_read: true,
        ..Default::default()
    });
    easy.handle.set_url(&file.url());
    easy.handle.set_long(CURLOPT_UPLOAD, 1);
    easy.handle.set_off(CURLOPT_INFILESIZE_LARGE, 5);
    let payload = catch_unwind(AssertUnwindSafe(|| easy.perform())).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"reader exploded"));
    easy.get_mut().panic_read = false;
    easy.get_mut().upload = Cursor::new(b"12345".to_vec());
    assert_eq!(easy.perform().unwrap(), CURLE_OK);
    assert_eq!(std::fs::read(&file.0).unwrap(), b"12345");
    drop(easy);
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// The multi interface: socket and timer callbacks as one set
// ---------------------------------------------------------------------------

/// CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION over one state
/// (SOCKETDATA = TIMERDATA).
#[callback(fallback = -1)]
trait MultiEvents {
    unsafe extern "C" fn socket(
        &mut self,
        easy: *mut Curl,
        s: CurlSocket,
        what: c_int,
        #[user_data] userp: *mut c_void,
        socketp: *mut c_void,
    ) -> c_int;
    unsafe extern "C" fn timer(
        &mut self,
        multi: *mut CurlM,
        timeout_ms: c_long,
        #[user_data] userp: *mut c_void,
    ) -> c_int;
}

/// What curl asked for: sockets with their events, and the timeout
/// (None: no timer).
#[derive(Default)]
struct Watches {
    sockets: Vec<(CurlSocket, c_int)>,
    timeout: Option<c_long>,
    socket_calls: usize,
    removed: usize,
    timer_calls: usize,
}

impl MultiEvents for Watches {
    fn socket(
        &mut self,
        _easy: *mut Curl,
        s: CurlSocket,
        what: c_int,
        _socketp: *mut c_void,
    ) -> c_int {
        self.socket_calls += 1;
        self.sockets.retain(|&(fd, _)| fd != s);
        if what == CURL_POLL_REMOVE {
            self.removed += 1;
        } else {
            self.sockets.push((s, what));
        }
        0
    }
    fn timer(&mut self, _multi: *mut CurlM, timeout_ms: c_long) -> c_int {
        self.timer_calls += 1;
        self.timeout = (timeout_ms >= 0).then_some(timeout_ms);
        0
    }
}

#[test]
fn the_multi_socket_interface_drives_two_transfers_through_its_callbacks() {
    let server_a = Server::start(vec![response(&pattern(30_000), "")]);
    let server_b = Server::start(vec![response(b"small", "")]);
    let easies = [EasyHandle::new(), EasyHandle::new()];
    easies[0].set_url(&format!("{}/a", server_a.base));
    easies[1].set_url(&format!("{}/b", server_b.base));
    let mut bodies = [Vec::new(), Vec::new()];

    // Each easy handle's write callback: a kept `WriteFunction` (the
    // transfers run over many `socket_action` calls, not one C call).
    let [body_a, body_b] = &mut bodies;
    // (Two closures are two types: one fn makes both, so that the
    // holders fit in one array.)
    fn sink(body: &mut Vec<u8>) -> impl FnMut(&[u8], usize, usize) -> io::Result<usize> + '_ {
        |data, _size, _nmemb| body.write(data)
    }
    let writers = [
        WriteFunction::new(sink(body_a)),
        WriteFunction::new(sink(body_b)),
    ];
    for (easy, writer) in easies.iter().zip(&writers) {
        // SAFETY: the holders stay in `writers`, unmoved, until after the
        // handles left the multi handle and were unset below.
        unsafe {
            easy.set_callback(
                CURLOPT_WRITEFUNCTION,
                writer.function() as *const (),
                CURLOPT_WRITEDATA,
                writer.user_data(),
            )
        };
    }

    global_init();
    // SAFETY: curl is initialised.
    let multi = unsafe { curl_multi_init() };
    assert!(!multi.is_null());
    let watches = Watches::default().boxed();
    // SAFETY: the entries have the C types of their options; the state
    // outlives the multi handle (cleaned up below, before it is dropped).
    unsafe {
        let ud = watches.user_data();
        assert_eq!(
            curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, Watches::SOCKET),
            0
        );
        assert_eq!(curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, ud), 0);
        assert_eq!(
            curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, Watches::TIMER),
            0
        );
        assert_eq!(curl_multi_setopt(multi, CURLMOPT_TIMERDATA, ud), 0);
    }
    let mut running: c_int = 0;
    let result = try_resume::<_, io::Error>(|| {
        for easy in &easies {
            // SAFETY: both handles are ours and in no other multi handle.
            assert_eq!(unsafe { curl_multi_add_handle(multi, easy.0) }, 0);
        }
        // The timer callback asked for an immediate timeout: kick off.
        assert!(watches.with(|w| w.timer_calls).unwrap() > 0);
        // SAFETY: not from inside a callback.
        unsafe { curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &mut running) };
        let mut rounds = 0;
        while running > 0 {
            rounds += 1;
            assert!(rounds < 100_000);
            // Read what the callbacks asked for, between curl's calls.
            let (mut fds, timeout) = watches
                .with(|w| {
                    let fds: Vec<PollFd> = w
                        .sockets
                        .iter()
                        .map(|&(fd, what)| PollFd {
                            fd,
                            events: if what & CURL_POLL_IN != 0 { POLLIN } else { 0 }
                                | if what & CURL_POLL_OUT != 0 {
                                    POLLOUT
                                } else {
                                    0
                                },
                            revents: 0,
                        })
                        .collect();
                    (fds, w.timeout)
                })
                .expect("no call runs");
            let wait = timeout.map_or(1000, |t| t.min(1000) as c_int);
            // SAFETY: `fds` holds `fds.len()` entries.
            let ready = unsafe { poll(fds.as_mut_ptr(), fds.len() as u64, wait) };
            if ready <= 0 {
                // SAFETY: not from inside a callback.
                unsafe { curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &mut running) };
                continue;
            }
            for fd in fds.iter().filter(|fd| fd.revents != 0) {
                let mut mask = 0;
                if fd.revents & POLLIN != 0 {
                    mask |= CURL_CSELECT_IN;
                }
                if fd.revents & POLLOUT != 0 {
                    mask |= CURL_CSELECT_OUT;
                }
                // SAFETY: not from inside a callback.
                unsafe { curl_multi_socket_action(multi, fd.fd, mask, &mut running) };
            }
        }
        let mut done = Vec::new();
        loop {
            let mut left = 0;
            // SAFETY: the multi handle is ours.
            let msg = unsafe { curl_multi_info_read(multi, &mut left) };
            if msg.is_null() {
                break;
            }
            // SAFETY: a message curl keeps until the next multi call.
            let msg = unsafe { &*msg };
            assert_eq!(msg.msg, CURLMSG_DONE);
            let which = easies.iter().position(|e| e.0 == msg.easy_handle).unwrap();
            done.push((which, msg.data as usize as u32 as CurlCode));
        }
        for easy in &easies {
            // SAFETY: both were added above.
            assert_eq!(unsafe { curl_multi_remove_handle(multi, easy.0) }, 0);
        }
        done.sort();
        done
    });
    // SAFETY: every easy handle left it; no call of its callbacks follows.
    resume_panics(|| unsafe { curl_multi_cleanup(multi) });
    for easy in &easies {
        easy.unset_callback(CURLOPT_WRITEFUNCTION, CURLOPT_WRITEDATA);
    }
    drop(writers);
    assert_eq!(result.unwrap(), [(0, CURLE_OK), (1, CURLE_OK)]);
    assert_eq!(bodies[0], pattern(30_000));
    assert_eq!(bodies[1], b"small");
    let watches = watches.into_inner().ok().unwrap();
    assert!(
        watches.socket_calls >= 2 && watches.removed >= 2,
        "{} {}",
        watches.socket_calls,
        watches.removed
    );
    assert!(watches.sockets.is_empty());
    server_a.requests();
    server_b.requests();
}

#[test]
fn layout_of_curl_msg() {
    // msg, easy_handle, the union `data` (a pointer or a CURLcode).
    assert_eq!(std::mem::size_of::<CurlMsg>(), 24);
}
