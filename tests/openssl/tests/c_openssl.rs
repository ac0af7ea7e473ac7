//! OpenSSL 3 (the system library, apt `libssl-dev`) driven through Rust
//! callbacks, as the `openssl` crate writes them by hand:
//!
//! - a custom `BIO_METHOD` (`BIO_meth_new`, `write_ex`, `read_ex`, `ctrl`,
//!   `create`, `destroy`) over a Rust `Read + Write` stream, its state
//!   behind `BIO_set_data` and found again with `BIO_get_data`
//!   (`user_data = EXPR` on the set), handed over to the BIO and freed by
//!   its destroy entry exactly once, when `SSL_free` frees the BIO;
//! - a real TLS 1.3 handshake in memory between a client `SSL` and a
//!   server `SSL`, each over its own BIO, with a self-signed Ed25519
//!   certificate generated with the EVP/X509 APIs;
//! - `io::Error`s and panics in the BIO entries failing the handshake and
//!   coming back to the caller typed (`try_resume`) or resumed;
//! - `SSL_CTX_set_verify`'s callback, which gets no user data: a
//!   `#[callback]` fn finding its state through the SSL's ex data (an index
//!   whose free function is a `#[callback]` fn taking the `Box` back), and
//!   a capturing closure lent with `scope_thread_local`;
//! - `SSL_CTX_set_default_passwd_cb` + `_userdata` (`pem_password_cb`)
//!   reading an encrypted PEM key, as a `scope_once` closure and as a
//!   `#[callback]` fn for `PEM_read_bio_PrivateKey`;
//! - `SSL_CTX_set_info_callback` (state through ex data, `Option<&T>`),
//!   `SSL_set_msg_callback` (a boxed closure, its bytes as `&[u8]`);
//! - `SSL_CTX_set_alpn_select_cb` (a boxed closure pointing OpenSSL into
//!   its own input, `fallback = SSL_TLSEXT_ERR_ALERT_FATAL`) and the SNI
//!   callback set through `SSL_CTX_callback_ctrl` (a macro in C).
//!
//! scripts/test-openssl.sh runs this binary under valgrind memcheck too.
#![allow(non_camel_case_types, clippy::upper_case_acronyms)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::{CStr, CString, c_char, c_int, c_long, c_uchar, c_uint, c_ulong, c_void};
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::ptr;
use std::rc::Rc;
use std::sync::OnceLock;

use ffi_callback::{callback, resume_panics, try_resume};

// ---------------------------------------------------------------------------
// OpenSSL, declared by hand
// ---------------------------------------------------------------------------

macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        struct $name {
            _opaque: [u8; 0],
        }
    )*};
}
opaque!(
    BIO,
    BIO_METHOD,
    SSL,
    SSL_CTX,
    SSL_METHOD,
    X509,
    X509_NAME,
    X509_STORE_CTX,
    EVP_PKEY,
    EVP_CIPHER,
    ASN1_INTEGER,
    ASN1_TIME,
    CRYPTO_EX_DATA
);

const BIO_TYPE_SOURCE_SINK: c_int = 0x0400;
const BIO_CTRL_INFO: c_int = 3;
const BIO_CTRL_FLUSH: c_int = 11;
const BIO_FLAGS_READ: c_int = 0x01;
const BIO_FLAGS_WRITE: c_int = 0x02;
const BIO_FLAGS_RWS: c_int = 0x07;
const BIO_FLAGS_SHOULD_RETRY: c_int = 0x08;
const CRYPTO_EX_INDEX_SSL: c_int = 0;
const CRYPTO_EX_INDEX_SSL_CTX: c_int = 1;
const MBSTRING_ASC: c_int = 0x1001;
const SSL_ERROR_SSL: c_int = 1;
const SSL_ERROR_WANT_READ: c_int = 2;
const SSL_ERROR_WANT_WRITE: c_int = 3;
const SSL_ERROR_SYSCALL: c_int = 5;
const SSL_VERIFY_PEER: c_int = 0x01;
const SSL_FILETYPE_PEM: c_int = 1;
const TLS1_3_VERSION: c_int = 0x0304;
const SSL_CB_HANDSHAKE_START: c_int = 0x10;
const SSL_CB_HANDSHAKE_DONE: c_int = 0x20;
const SSL_CTRL_SET_MSG_CALLBACK_ARG: c_int = 16;
const SSL_CTRL_SET_TLSEXT_SERVERNAME_CB: c_int = 53;
const SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG: c_int = 54;
const SSL_CTRL_SET_TLSEXT_HOSTNAME: c_int = 55;
const SSL_CTRL_SET_MIN_PROTO_VERSION: c_int = 123;
const TLSEXT_NAMETYPE_HOST_NAME: c_int = 0;
const SSL_TLSEXT_ERR_OK: c_int = 0;
const SSL_TLSEXT_ERR_ALERT_FATAL: c_int = 2;
const SSL_TLSEXT_ERR_NOACK: c_int = 3;
const SSL_AD_UNRECOGNIZED_NAME: c_int = 112;
const SSL3_RT_HANDSHAKE: c_int = 22;
const X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: c_int = 18;

/// `BIO_meth_set_*`'s function types, as a -sys crate declares them.
type BioWriteEx = unsafe extern "C" fn(*mut BIO, *const c_char, usize, *mut usize) -> c_int;
type BioReadEx = unsafe extern "C" fn(*mut BIO, *mut c_char, usize, *mut usize) -> c_int;
type BioCtrl = unsafe extern "C" fn(*mut BIO, c_int, c_long, *mut c_void) -> c_long;
type BioCreate = unsafe extern "C" fn(*mut BIO) -> c_int;
type BioDestroy = unsafe extern "C" fn(*mut BIO) -> c_int;
type CryptoExFree =
    unsafe extern "C" fn(*mut c_void, *mut c_void, *mut CRYPTO_EX_DATA, c_int, c_long, *mut c_void);
type VerifyCallback = unsafe extern "C" fn(c_int, *mut X509_STORE_CTX) -> c_int;
type InfoCallback = unsafe extern "C" fn(*const SSL, c_int, c_int);
type PemPasswordCb = unsafe extern "C" fn(*mut c_char, c_int, c_int, *mut c_void) -> c_int;

#[link(name = "crypto")]
unsafe extern "C" {
    fn BIO_meth_new(ty: c_int, name: *const c_char) -> *mut BIO_METHOD;
    fn BIO_meth_free(method: *mut BIO_METHOD);
    fn BIO_meth_set_write_ex(method: *mut BIO_METHOD, f: Option<BioWriteEx>) -> c_int;
    fn BIO_meth_set_read_ex(method: *mut BIO_METHOD, f: Option<BioReadEx>) -> c_int;
    fn BIO_meth_set_ctrl(method: *mut BIO_METHOD, f: Option<BioCtrl>) -> c_int;
    fn BIO_meth_set_create(method: *mut BIO_METHOD, f: Option<BioCreate>) -> c_int;
    fn BIO_meth_set_destroy(method: *mut BIO_METHOD, f: Option<BioDestroy>) -> c_int;
    fn BIO_new(method: *const BIO_METHOD) -> *mut BIO;
    fn BIO_free(bio: *mut BIO) -> c_int;
    fn BIO_set_data(bio: *mut BIO, data: *mut c_void);
    fn BIO_get_data(bio: *mut BIO) -> *mut c_void;
    fn BIO_set_init(bio: *mut BIO, init: c_int);
    fn BIO_set_flags(bio: *mut BIO, flags: c_int);
    fn BIO_clear_flags(bio: *mut BIO, flags: c_int);
    fn BIO_test_flags(bio: *const BIO, flags: c_int) -> c_int;
    fn BIO_ctrl(bio: *mut BIO, cmd: c_int, larg: c_long, parg: *mut c_void) -> c_long;
    fn BIO_write(bio: *mut BIO, data: *const c_void, len: c_int) -> c_int;
    fn BIO_read(bio: *mut BIO, data: *mut c_void, len: c_int) -> c_int;
    fn BIO_s_mem() -> *const BIO_METHOD;
    fn BIO_new_mem_buf(buf: *const c_void, len: c_int) -> *mut BIO;

    fn EVP_PKEY_Q_keygen(
        libctx: *mut c_void,
        propq: *const c_char,
        ty: *const c_char,
        ...
    ) -> *mut EVP_PKEY;
    fn EVP_PKEY_free(key: *mut EVP_PKEY);
    fn EVP_PKEY_eq(a: *const EVP_PKEY, b: *const EVP_PKEY) -> c_int;
    fn EVP_aes_256_cbc() -> *const EVP_CIPHER;
    fn PEM_write_bio_PrivateKey(
        bio: *mut BIO,
        key: *const EVP_PKEY,
        enc: *const EVP_CIPHER,
        kstr: *const c_uchar,
        klen: c_int,
        cb: Option<PemPasswordCb>,
        u: *mut c_void,
    ) -> c_int;
    fn PEM_read_bio_PrivateKey(
        bio: *mut BIO,
        x: *mut *mut EVP_PKEY,
        cb: Option<PemPasswordCb>,
        u: *mut c_void,
    ) -> *mut EVP_PKEY;

    fn X509_new() -> *mut X509;
    fn X509_free(x: *mut X509);
    fn X509_set_version(x: *mut X509, version: c_long) -> c_int;
    fn X509_get_serialNumber(x: *mut X509) -> *mut ASN1_INTEGER;
    fn ASN1_INTEGER_set(a: *mut ASN1_INTEGER, v: c_long) -> c_int;
    fn X509_getm_notBefore(x: *const X509) -> *mut ASN1_TIME;
    fn X509_getm_notAfter(x: *const X509) -> *mut ASN1_TIME;
    fn X509_gmtime_adj(s: *mut ASN1_TIME, adj: c_long) -> *mut ASN1_TIME;
    fn X509_set_pubkey(x: *mut X509, key: *mut EVP_PKEY) -> c_int;
    fn X509_get_subject_name(x: *const X509) -> *mut X509_NAME;
    fn X509_set_issuer_name(x: *mut X509, name: *const X509_NAME) -> c_int;
    fn X509_NAME_add_entry_by_txt(
        name: *mut X509_NAME,
        field: *const c_char,
        ty: c_int,
        bytes: *const c_uchar,
        len: c_int,
        loc: c_int,
        set: c_int,
    ) -> c_int;
    fn X509_NAME_oneline(name: *const X509_NAME, buf: *mut c_char, size: c_int) -> *mut c_char;
    fn X509_sign(x: *mut X509, key: *mut EVP_PKEY, md: *const c_void) -> c_int;
    fn X509_STORE_CTX_get_ex_data(ctx: *const X509_STORE_CTX, idx: c_int) -> *mut c_void;
    fn X509_STORE_CTX_get_current_cert(ctx: *const X509_STORE_CTX) -> *mut X509;
    fn X509_STORE_CTX_get_error(ctx: *const X509_STORE_CTX) -> c_int;
    fn X509_STORE_CTX_get_error_depth(ctx: *const X509_STORE_CTX) -> c_int;

    fn CRYPTO_get_ex_new_index(
        class_index: c_int,
        argl: c_long,
        argp: *mut c_void,
        new_func: *const c_void,
        dup_func: *const c_void,
        free_func: Option<CryptoExFree>,
    ) -> c_int;
    fn CRYPTO_free(ptr: *mut c_void, file: *const c_char, line: c_int);

    fn ERR_get_error() -> c_ulong;
    fn ERR_error_string_n(e: c_ulong, buf: *mut c_char, len: usize);
    fn ERR_clear_error();
}

#[link(name = "ssl")]
unsafe extern "C" {
    fn TLS_method() -> *const SSL_METHOD;
    fn SSL_CTX_new(method: *const SSL_METHOD) -> *mut SSL_CTX;
    fn SSL_CTX_free(ctx: *mut SSL_CTX);
    fn SSL_CTX_ctrl(ctx: *mut SSL_CTX, cmd: c_int, larg: c_long, parg: *mut c_void) -> c_long;
    fn SSL_CTX_callback_ctrl(
        ctx: *mut SSL_CTX,
        cmd: c_int,
        fp: Option<unsafe extern "C" fn()>,
    ) -> c_long;
    fn SSL_CTX_use_certificate(ctx: *mut SSL_CTX, x: *mut X509) -> c_int;
    fn SSL_CTX_use_PrivateKey(ctx: *mut SSL_CTX, key: *mut EVP_PKEY) -> c_int;
    fn SSL_CTX_use_PrivateKey_file(ctx: *mut SSL_CTX, file: *const c_char, ty: c_int) -> c_int;
    fn SSL_CTX_get0_privatekey(ctx: *const SSL_CTX) -> *mut EVP_PKEY;
    fn SSL_CTX_set_verify(ctx: *mut SSL_CTX, mode: c_int, cb: Option<VerifyCallback>);
    fn SSL_CTX_set_default_passwd_cb(ctx: *mut SSL_CTX, cb: Option<PemPasswordCb>);
    fn SSL_CTX_set_default_passwd_cb_userdata(ctx: *mut SSL_CTX, u: *mut c_void);
    fn SSL_CTX_set_info_callback(ctx: *mut SSL_CTX, cb: Option<InfoCallback>);
    fn SSL_CTX_set_alpn_select_cb(ctx: *mut SSL_CTX, cb: Option<AlpnSelectFn>, arg: *mut c_void);

    fn SSL_new(ctx: *mut SSL_CTX) -> *mut SSL;
    fn SSL_free(ssl: *mut SSL);
    fn SSL_ctrl(ssl: *mut SSL, cmd: c_int, larg: c_long, parg: *mut c_void) -> c_long;
    fn SSL_set_bio(ssl: *mut SSL, rbio: *mut BIO, wbio: *mut BIO);
    fn SSL_get_wbio(ssl: *const SSL) -> *mut BIO;
    fn SSL_set_connect_state(ssl: *mut SSL);
    fn SSL_set_verify(ssl: *mut SSL, mode: c_int, cb: Option<VerifyCallback>);
    fn SSL_set_accept_state(ssl: *mut SSL);
    fn SSL_do_handshake(ssl: *mut SSL) -> c_int;
    fn SSL_get_error(ssl: *const SSL, ret: c_int) -> c_int;
    fn SSL_write_ex(ssl: *mut SSL, buf: *const c_void, num: usize, written: *mut usize) -> c_int;
    fn SSL_read_ex(ssl: *mut SSL, buf: *mut c_void, num: usize, read: *mut usize) -> c_int;
    fn SSL_version(ssl: *const SSL) -> c_int;
    fn SSL_get_servername(ssl: *const SSL, ty: c_int) -> *const c_char;
    fn SSL_set_alpn_protos(ssl: *mut SSL, protos: *const c_uchar, len: c_uint) -> c_int;
    fn SSL_get0_alpn_selected(ssl: *const SSL, data: *mut *const c_uchar, len: *mut c_uint);
    fn SSL_set_msg_callback(ssl: *mut SSL, cb: Option<MsgCallbackFn>);
    fn SSL_get_ex_data_X509_STORE_CTX_idx() -> c_int;
    fn SSL_get_SSL_CTX(ssl: *const SSL) -> *mut SSL_CTX;
    fn SSL_CTX_set_ex_data(ctx: *mut SSL_CTX, idx: c_int, data: *mut c_void) -> c_int;
    fn SSL_CTX_get_ex_data(ctx: *const SSL_CTX, idx: c_int) -> *mut c_void;
    fn SSL_get_ex_data(ssl: *const SSL, idx: c_int) -> *mut c_void;
    fn SSL_set_ex_data(ssl: *mut SSL, idx: c_int, data: *mut c_void) -> c_int;
}

// ---------------------------------------------------------------------------
// The binding's error type
// ---------------------------------------------------------------------------

/// Why a TLS operation failed, as the binding returns it.
#[derive(Debug)]
enum Error {
    /// The Rust stream under the BIO failed: its own error, typed.
    Io(io::Error),
    /// OpenSSL failed on its own: `SSL_get_error`'s code and the error
    /// queue's messages.
    Ssl { code: c_int, errors: Vec<String> },
}

impl Error {
    fn ssl_errors(&self) -> &[String] {
        match self {
            Error::Ssl { errors, .. } => errors,
            Error::Io(e) => panic!("expected an OpenSSL error, got {e:?}"),
        }
    }
}

/// Drains OpenSSL's (thread-local) error queue into strings.
fn error_queue() -> Vec<String> {
    let mut errors = Vec::new();
    loop {
        // SAFETY: plain queries of the thread's error queue.
        let e = unsafe { ERR_get_error() };
        if e == 0 {
            return errors;
        }
        let mut buf = [0 as c_char; 256];
        // SAFETY: `buf` holds `len` bytes; OpenSSL NUL-terminates.
        unsafe { ERR_error_string_n(e, buf.as_mut_ptr(), buf.len()) };
        // SAFETY: NUL-terminated above.
        errors.push(
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        );
    }
}

/// Counts drops (of the state holding it).
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// What a panic carries in these tests, to check the payload comes back.
#[derive(Debug, PartialEq)]
struct Boom(&'static str);

fn payload(result: Result<impl Sized, Box<dyn Any + Send>>) -> Boom {
    match result {
        Ok(_) => panic!("expected a panic"),
        Err(p) => *p.downcast::<Boom>().expect("the callback's own payload"),
    }
}

// ---------------------------------------------------------------------------
// An in-memory duplex stream, with faults to inject
// ---------------------------------------------------------------------------

/// One direction of the wire.
type Wire = Rc<RefCell<VecDeque<u8>>>;

/// A fault the next read or write of a stream runs into.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// Writes fail with `ConnectionReset`.
    WriteError,
    /// Reads fail with `ConnectionAborted`.
    ReadError,
    WritePanic,
    ReadPanic,
}

/// What a test watches on a stream.
#[derive(Default)]
struct Watch {
    reads: Cell<u32>,
    writes: Cell<u32>,
    flushes: Cell<u32>,
    fault: Cell<Option<Fault>>,
}

/// One end of an in-memory connection: a `Read + Write` that reads what the
/// other end wrote, `WouldBlock` when nothing is there yet.
struct Duplex {
    rx: Wire,
    tx: Wire,
    watch: Rc<Watch>,
    _drops: DropCounter,
}

impl Duplex {
    fn fault(&self) -> Fault {
        self.watch.fault.get().unwrap_or(Fault::None)
    }
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.watch.reads.set(self.watch.reads.get() + 1);
        match self.fault() {
            Fault::ReadError => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "read side cut",
                ));
            }
            Fault::ReadPanic => panic_any(Boom("read")),
            _ => {}
        }
        let mut rx = self.rx.borrow_mut();
        if rx.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(rx.len());
        for (dst, src) in buf.iter_mut().zip(rx.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.watch.writes.set(self.watch.writes.get() + 1);
        match self.fault() {
            Fault::WriteError => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "write side cut",
                ));
            }
            Fault::WritePanic => panic_any(Boom("write")),
            _ => {}
        }
        self.tx.borrow_mut().extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.watch.flushes.set(self.watch.flushes.get() + 1);
        Ok(())
    }
}

/// Two connected ends, each with its watch and drop count.
struct Pair {
    client: Option<Duplex>,
    server: Option<Duplex>,
    client_watch: Rc<Watch>,
    server_watch: Rc<Watch>,
    client_drops: Rc<Cell<u32>>,
    server_drops: Rc<Cell<u32>>,
}

fn pair() -> Pair {
    let (a, b): (Wire, Wire) = Default::default();
    let (client_watch, server_watch) = (Rc::new(Watch::default()), Rc::new(Watch::default()));
    let (client_drops, server_drops) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    Pair {
        client: Some(Duplex {
            rx: a.clone(),
            tx: b.clone(),
            watch: client_watch.clone(),
            _drops: DropCounter(client_drops.clone()),
        }),
        server: Some(Duplex {
            rx: b,
            tx: a,
            watch: server_watch.clone(),
            _drops: DropCounter(server_drops.clone()),
        }),
        client_watch,
        server_watch,
        client_drops,
        server_drops,
    }
}

// ---------------------------------------------------------------------------
// The BIO_METHOD: a Rust `Read + Write` behind a BIO, as a callback set
// ---------------------------------------------------------------------------

/// The BIO's entry points. None has a user-data parameter: the state is
/// the BIO's data, found with `BIO_get_data`. `destroy` (`BIO_free`'s
/// call) takes `self`: the state was handed over to the BIO.
#[callback(
    // SAFETY: every BIO reaching these entries was made by `stream_bio`,
    // which set its data to the state's user data before any call.
    user_data = unsafe { BIO_get_data(bio) },
)]
trait BioStream {
    /// `BIO_meth_set_write_ex`: 1 and `*written` on success, 0 on failure.
    unsafe extern "C" fn write_ex(
        &mut self,
        bio: *mut BIO,
        #[into(&[u8], len = dlen)] data: *const c_char,
        dlen: usize,
        #[into(&mut usize)] written: *mut usize,
    ) -> Result<c_int, io::Error>;

    /// `BIO_meth_set_read_ex`: 1 and `*readbytes` on success, 0 on failure
    /// (with the retry flags set when the stream would block).
    unsafe extern "C" fn read_ex(
        &mut self,
        bio: *mut BIO,
        #[into(&mut [u8], len = dlen)] data: *mut c_char,
        dlen: usize,
        #[into(&mut usize)] readbytes: *mut usize,
    ) -> Result<c_int, io::Error>;

    /// `BIO_meth_set_ctrl`: `BIO_CTRL_FLUSH` flushes the stream; the
    /// others are not supported (0).
    unsafe extern "C" fn ctrl(
        &mut self,
        bio: *mut BIO,
        cmd: c_int,
        num: c_long,
        ptr: *mut c_void,
    ) -> Result<c_long, io::Error>;

    /// `BIO_meth_set_destroy`: `BIO_free`'s last call.
    unsafe extern "C" fn destroy(self, bio: *mut BIO) -> c_int;
}

/// What a stream BIO's data leads to.
struct StreamState<S> {
    stream: S,
    /// Destroy entries run (checked with the stream's own drop count).
    destroyed: Rc<Cell<u32>>,
}

impl<S: Read + Write> BioStream for StreamState<S> {
    fn write_ex(
        &mut self,
        bio: *mut BIO,
        data: &[u8],
        _dlen: usize,
        written: &mut usize,
    ) -> Result<c_int, io::Error> {
        // SAFETY: `bio` is the live BIO calling.
        unsafe { BIO_clear_flags(bio, BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY) };
        match self.stream.write(data) {
            Ok(n) => {
                *written = n;
                Ok(1)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // SAFETY: as above.
                unsafe { BIO_set_flags(bio, BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY) };
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    fn read_ex(
        &mut self,
        bio: *mut BIO,
        data: &mut [u8],
        _dlen: usize,
        readbytes: &mut usize,
    ) -> Result<c_int, io::Error> {
        // SAFETY: `bio` is the live BIO calling.
        unsafe { BIO_clear_flags(bio, BIO_FLAGS_RWS | BIO_FLAGS_SHOULD_RETRY) };
        match self.stream.read(data) {
            Ok(n) => {
                *readbytes = n;
                Ok(1)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // SAFETY: as above.
                unsafe { BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY) };
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    fn ctrl(
        &mut self,
        _bio: *mut BIO,
        cmd: c_int,
        _num: c_long,
        _ptr: *mut c_void,
    ) -> Result<c_long, io::Error> {
        match cmd {
            BIO_CTRL_FLUSH => {
                self.stream.flush()?;
                Ok(1)
            }
            _ => Ok(0),
        }
    }

    fn destroy(self, bio: *mut BIO) -> c_int {
        self.destroyed.set(self.destroyed.get() + 1);
        // SAFETY: `bio` is the live BIO being freed; its data is ours, and
        // is freed when this returns.
        unsafe {
            BIO_set_data(bio, ptr::null_mut());
            BIO_set_init(bio, 0);
        }
        1
    }
}

/// `BIO_meth_set_create`: runs inside `BIO_new`, before the state exists
/// (`BIO_get_data` is null there), so it cannot be an entry of the set.
#[callback]
extern "C" fn stream_bio_create(bio: *mut BIO) -> c_int {
    // SAFETY: `bio` is the BIO being created.
    unsafe { BIO_set_init(bio, 0) };
    1
}

/// `BIO_meth_set_destroy`. OpenSSL calls it for every BIO of the method,
/// also for one whose data was never set (freed right after `BIO_new`, or
/// a `BIO_dup_chain` copy), and expects it to cope. The set's destroy
/// entry refuses null user data (a panic under a guard, an abort without
/// one), so null is answered here, and the rest passed on to the set's.
#[callback(on_panic = abort)]
extern "C" fn stream_bio_destroy<S: Read + Write + 'static>(bio: *mut BIO) -> c_int {
    // SAFETY: `bio` is the BIO being freed.
    if unsafe { BIO_get_data(bio) }.is_null() {
        return 1;
    }
    // SAFETY: a BIO of this method, whose data `StreamMethod::bio` set to
    // a `StreamState<S>` handed over to it.
    unsafe { <StreamState<S>>::DESTROY(bio) }
}

/// A `BIO_METHOD` for streams of type `S` (its entries are monomorphic in
/// `S`), freed on drop: keep it alive as long as BIOs made with it.
struct StreamMethod<S>(*mut BIO_METHOD, std::marker::PhantomData<S>);

impl<S: Read + Write + 'static> StreamMethod<S> {
    fn new() -> Self {
        // SAFETY: plain constructors; the entries have the C types.
        unsafe {
            let method = BIO_meth_new(BIO_TYPE_SOURCE_SINK | 0x80, c"rust stream".as_ptr());
            assert!(!method.is_null());
            assert_eq!(
                BIO_meth_set_write_ex(method, Some(<StreamState<S> as BioStreamExt>::WRITE_EX)),
                1
            );
            assert_eq!(
                BIO_meth_set_read_ex(method, Some(<StreamState<S>>::READ_EX)),
                1
            );
            assert_eq!(BIO_meth_set_ctrl(method, Some(<StreamState<S>>::CTRL)), 1);
            assert_eq!(BIO_meth_set_create(method, Some(stream_bio_create)), 1);
            assert_eq!(
                BIO_meth_set_destroy(method, Some(stream_bio_destroy::<S>)),
                1
            );
            StreamMethod(method, std::marker::PhantomData)
        }
    }

    /// A BIO over `stream`, owning its state; `destroyed` counts the
    /// destroy entries run.
    fn bio(&self, stream: S, destroyed: Rc<Cell<u32>>) -> *mut BIO {
        let state = StreamState { stream, destroyed };
        // SAFETY: `self.0` is a live method.
        let bio = unsafe { BIO_new(self.0) };
        assert!(!bio.is_null());
        // SAFETY: the BIO owns the state from here; its destroy frees it.
        unsafe {
            BIO_set_data(bio, state.boxed().into_raw());
            BIO_set_init(bio, 1);
        }
        bio
    }
}

impl<S> Drop for StreamMethod<S> {
    fn drop(&mut self) {
        // SAFETY: every BIO made with it is freed (the owners drop first).
        unsafe { BIO_meth_free(self.0) };
    }
}

// ---------------------------------------------------------------------------
// Identities, contexts and connections
// ---------------------------------------------------------------------------

/// A self-signed Ed25519 certificate and its key.
struct Identity {
    key: *mut EVP_PKEY,
    cert: *mut X509,
}

impl Identity {
    fn new(common_name: &CStr) -> Identity {
        // SAFETY: plain constructors and setters on objects made here; the
        // variadic keygen takes no more arguments for Ed25519.
        unsafe {
            let key = EVP_PKEY_Q_keygen(ptr::null_mut(), ptr::null(), c"ED25519".as_ptr());
            assert!(!key.is_null(), "keygen: {:?}", error_queue());
            let cert = X509_new();
            assert_eq!(X509_set_version(cert, 2), 1);
            assert_eq!(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1), 1);
            assert!(!X509_gmtime_adj(X509_getm_notBefore(cert), 0).is_null());
            assert!(!X509_gmtime_adj(X509_getm_notAfter(cert), 3600).is_null());
            assert_eq!(X509_set_pubkey(cert, key), 1);
            let name = X509_get_subject_name(cert);
            let cn = common_name.to_bytes();
            assert_eq!(
                X509_NAME_add_entry_by_txt(
                    name,
                    c"CN".as_ptr(),
                    MBSTRING_ASC,
                    cn.as_ptr(),
                    cn.len() as c_int,
                    -1,
                    0
                ),
                1
            );
            assert_eq!(X509_set_issuer_name(cert, name), 1);
            assert!(
                X509_sign(cert, key, ptr::null()) > 0,
                "sign: {:?}",
                error_queue()
            );
            Identity { key, cert }
        }
    }

    /// The key as PEM, encrypted with AES-256-CBC under `passphrase`.
    fn encrypted_key_pem(&self, passphrase: &[u8]) -> Vec<u8> {
        // SAFETY: a memory BIO, written and read here; the passphrase is
        // given as (kstr, klen), so no callback runs.
        unsafe {
            let bio = BIO_new(BIO_s_mem());
            let rc = PEM_write_bio_PrivateKey(
                bio,
                self.key,
                EVP_aes_256_cbc(),
                passphrase.as_ptr(),
                passphrase.len() as c_int,
                None,
                ptr::null_mut(),
            );
            assert_eq!(rc, 1, "PEM_write_bio_PrivateKey: {:?}", error_queue());
            // BIO_get_mem_data is a macro over BIO_ctrl.
            let mut data: *mut c_char = ptr::null_mut();
            let len = BIO_ctrl(bio, BIO_CTRL_INFO, 0, (&raw mut data).cast());
            let pem = std::slice::from_raw_parts(data.cast::<u8>(), len as usize).to_vec();
            BIO_free(bio);
            pem
        }
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        // SAFETY: owned here; contexts hold their own references.
        unsafe {
            X509_free(self.cert);
            EVP_PKEY_free(self.key);
        }
    }
}

/// An `SSL_CTX`, and what its callbacks need alive as long as it.
struct Ctx {
    raw: *mut SSL_CTX,
    keep: Vec<Box<dyn Any>>,
}

impl Ctx {
    /// TLS 1.3 only.
    fn new() -> Ctx {
        // SAFETY: plain constructors.
        unsafe {
            let raw = SSL_CTX_new(TLS_method());
            assert!(!raw.is_null());
            // SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl.
            assert_eq!(
                SSL_CTX_ctrl(
                    raw,
                    SSL_CTRL_SET_MIN_PROTO_VERSION,
                    TLS1_3_VERSION as c_long,
                    ptr::null_mut()
                ),
                1
            );
            Ctx {
                raw,
                keep: Vec::new(),
            }
        }
    }

    fn server(id: &Identity) -> Ctx {
        let ctx = Ctx::new();
        // SAFETY: live objects; the context takes its own references.
        unsafe {
            assert_eq!(SSL_CTX_use_certificate(ctx.raw, id.cert), 1);
            assert_eq!(SSL_CTX_use_PrivateKey(ctx.raw, id.key), 1);
        }
        ctx
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: every SSL made from it is freed (they drop first); what
        // its callbacks use (`keep`) drops after it.
        resume_panics(|| unsafe { SSL_CTX_free(self.raw) });
    }
}

/// One end of a TLS connection over a stream BIO.
struct Tls {
    ssl: *mut SSL,
    keep: Vec<Box<dyn Any>>,
    _method: Rc<StreamMethod<Duplex>>,
}

impl Tls {
    fn new(
        ctx: &Ctx,
        method: &Rc<StreamMethod<Duplex>>,
        stream: Duplex,
        server: bool,
        destroyed: Rc<Cell<u32>>,
    ) -> Tls {
        // SAFETY: a live context and method; the SSL takes the BIO's one
        // reference (the same BIO for reading and writing).
        unsafe {
            let ssl = SSL_new(ctx.raw);
            assert!(!ssl.is_null());
            let bio = method.bio(stream, destroyed);
            SSL_set_bio(ssl, bio, bio);
            if server {
                SSL_set_accept_state(ssl);
            } else {
                SSL_set_connect_state(ssl);
            }
            Tls {
                ssl,
                keep: Vec::new(),
                _method: method.clone(),
            }
        }
    }

    fn check(&self, rc: c_int) -> Result<bool, Error> {
        if rc == 1 {
            return Ok(true);
        }
        // SAFETY: a live SSL, right after the call that returned `rc`.
        let code = unsafe { SSL_get_error(self.ssl, rc) };
        match code {
            SSL_ERROR_WANT_READ | SSL_ERROR_WANT_WRITE => Ok(false),
            _ => Err(Error::Ssl {
                code,
                errors: error_queue(),
            }),
        }
    }

    /// One `SSL_do_handshake`: `Ok(true)` once done, `Ok(false)` while it
    /// waits for the peer; the stream's `io::Error` typed, a panic resumed.
    fn step(&self) -> Result<bool, Error> {
        let ssl = self.ssl;
        // SAFETY: a live SSL whose BIO state and callbacks live as long as it.
        let rc =
            try_resume::<_, io::Error>(|| unsafe { SSL_do_handshake(ssl) }).map_err(Error::Io)?;
        self.check(rc)
    }

    fn write(&self, data: &[u8]) -> Result<usize, Error> {
        let (ssl, mut written) = (self.ssl, 0);
        // SAFETY: as in `step`; `data` and `written` outlive the call.
        let rc = try_resume::<_, io::Error>(|| unsafe {
            SSL_write_ex(ssl, data.as_ptr().cast(), data.len(), &mut written)
        })
        .map_err(Error::Io)?;
        self.check(rc).map(|_| written)
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let (ssl, mut read) = (self.ssl, 0);
        // SAFETY: as in `write`.
        let rc = try_resume::<_, io::Error>(|| unsafe {
            SSL_read_ex(ssl, buf.as_mut_ptr().cast(), buf.len(), &mut read)
        })
        .map_err(Error::Io)?;
        self.check(rc).map(|_| read)
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        // SAFETY: owned here; the BIO's destroy entry (and the ex data's
        // free function) run inside, under the guard.
        resume_panics(|| unsafe { SSL_free(self.ssl) });
    }
}

/// Drives a client and a server to the end of the handshake, or to the
/// first side that fails.
fn handshake(client: &Tls, server: &Tls) -> Result<(), (&'static str, Error)> {
    let (mut client_done, mut server_done) = (false, false);
    for _ in 0..10 {
        if !client_done {
            client_done = client.step().map_err(|e| ("client", e))?;
        }
        if !server_done {
            server_done = server.step().map_err(|e| ("server", e))?;
        }
        if client_done && server_done {
            return Ok(());
        }
    }
    panic!("the handshake did not finish in 10 rounds");
}

/// A client and a server connection over a fresh pair of streams.
struct Conn {
    client: Tls,
    server: Tls,
    pair: Pair,
    client_destroyed: Rc<Cell<u32>>,
    server_destroyed: Rc<Cell<u32>>,
}

fn connect(client_ctx: &Ctx, server_ctx: &Ctx) -> Conn {
    let method = Rc::new(StreamMethod::<Duplex>::new());
    let mut pair = pair();
    let (client_destroyed, server_destroyed) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let client = Tls::new(
        client_ctx,
        &method,
        pair.client.take().unwrap(),
        false,
        client_destroyed.clone(),
    );
    let server = Tls::new(
        server_ctx,
        &method,
        pair.server.take().unwrap(),
        true,
        server_destroyed.clone(),
    );
    Conn {
        client,
        server,
        pair,
        client_destroyed,
        server_destroyed,
    }
}

// ---------------------------------------------------------------------------
// Per-connection state in the SSL's ex data, for the callbacks that get no
// user data (verify, info)
// ---------------------------------------------------------------------------

/// What an SSL's ex data (at `peer_index()`) holds for its callbacks.
struct PeerState {
    /// The subject (`X509_NAME_oneline`) the verify callback accepts.
    pinned_subject: String,
    /// Panic in the verify callback (with this payload).
    verify_panics: bool,
    /// (preverify_ok, error, depth, subject) for each verify call.
    verified: RefCell<Vec<(c_int, c_int, c_int, String)>>,
    /// `where` of each info callback call.
    info: RefCell<Vec<c_int>>,
    _drops: DropCounter,
}

/// `CRYPTO_EX_free`: called by `SSL_free` for every SSL (with null where
/// the index was never set), so the state comes back as `Option<Box<_>>`.
#[callback]
extern "C" fn free_peer_state(
    _parent: *mut c_void,
    #[user_data] state: Option<Box<PeerState>>,
    _ad: *mut CRYPTO_EX_DATA,
    _idx: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) {
    drop(state);
}

/// The process's ex-data index for `PeerState`, made once
/// (`SSL_get_ex_new_index` is a macro over `CRYPTO_get_ex_new_index`).
fn peer_index() -> c_int {
    static INDEX: OnceLock<c_int> = OnceLock::new();
    *INDEX.get_or_init(|| {
        // SAFETY: a new index whose free function takes back what
        // `set_peer_state` stored.
        let index = unsafe {
            CRYPTO_get_ex_new_index(
                CRYPTO_EX_INDEX_SSL,
                0,
                ptr::null_mut(),
                ptr::null(),
                ptr::null(),
                Some(free_peer_state),
            )
        };
        assert!(index >= 0);
        index
    })
}

/// Hands `state` to the SSL's ex data: the index's free function ends it
/// in `SSL_free`.
fn set_peer_state(tls: &Tls, state: PeerState) {
    // The constructor takes what the fn receives: `Option<Box<_>>`.
    let ud = free_peer_state::user_data(Some(Box::new(state)));
    // SAFETY: a live SSL; the slot was empty.
    assert_eq!(unsafe { SSL_set_ex_data(tls.ssl, peer_index(), ud) }, 1);
}

fn peer_state(pinned_subject: &str, drops: &Rc<Cell<u32>>) -> PeerState {
    PeerState {
        pinned_subject: pinned_subject.to_owned(),
        verify_panics: false,
        verified: RefCell::default(),
        info: RefCell::default(),
        _drops: DropCounter(drops.clone()),
    }
}

/// The ex data of the SSL whose verification `store` runs.
///
/// # Safety
/// `store` is a store context OpenSSL passed to a verify callback.
unsafe fn peer_state_of_store(store: *mut X509_STORE_CTX) -> *mut c_void {
    // SAFETY: the caller's promise; libssl puts the SSL at this index.
    unsafe {
        let ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
        SSL_get_ex_data(ssl.cast(), peer_index())
    }
}

/// The subject of the certificate `store` is looking at.
///
/// # Safety
/// As `peer_state_of_store`.
unsafe fn current_subject(store: *mut X509_STORE_CTX) -> String {
    // SAFETY: the caller's promise; `X509_NAME_oneline` with a null buffer
    // allocates one, freed here.
    unsafe {
        let cert = X509_STORE_CTX_get_current_cert(store);
        let line = X509_NAME_oneline(X509_get_subject_name(cert), ptr::null_mut(), 0);
        let subject = CStr::from_ptr(line).to_string_lossy().into_owned();
        CRYPTO_free(line.cast(), c"rust".as_ptr(), 0);
        subject
    }
}

/// `SSL_verify_cb`: accepts the self-signed certificate whose subject the
/// connection pinned, whatever OpenSSL's own verdict. No user data: the
/// state is the SSL's ex data. The fallback, 0, rejects.
#[callback(
    // SAFETY: OpenSSL passes the store context of the verification an SSL runs.
    user_data = unsafe { peer_state_of_store(store) },
)]
extern "C" fn verify_pinned(
    preverify_ok: c_int,
    store: *mut X509_STORE_CTX,
    #[user_data] peer: &PeerState,
) -> c_int {
    // SAFETY: as for `user_data`.
    let (error, depth, subject) = unsafe {
        (
            X509_STORE_CTX_get_error(store),
            X509_STORE_CTX_get_error_depth(store),
            current_subject(store),
        )
    };
    peer.verified
        .borrow_mut()
        .push((preverify_ok, error, depth, subject.clone()));
    if peer.verify_panics {
        panic_any(Boom("verify"));
    }
    c_int::from(subject == peer.pinned_subject)
}

/// `SSL_CTX_set_info_callback`'s callback: no user data either; SSLs
/// without ex data (`None`) are not watched.
#[callback(
    // SAFETY: OpenSSL passes the live SSL.
    user_data = unsafe { SSL_get_ex_data(ssl, peer_index()) },
)]
extern "C" fn record_info(
    ssl: *const SSL,
    where_: c_int,
    _ret: c_int,
    #[user_data] peer: Option<&PeerState>,
) {
    if let Some(peer) = peer {
        peer.info.borrow_mut().push(where_);
    }
}

/// The context's ex-data index for an `InfoClosure` holder's user data
/// (`SSL_CTX_get_ex_new_index`, a macro too). No free function: the
/// holder is owned by the `Ctx`, and outlives the context.
fn ctx_info_index() -> c_int {
    static INDEX: OnceLock<c_int> = OnceLock::new();
    *INDEX.get_or_init(|| {
        // SAFETY: a new index, no callbacks.
        let index = unsafe {
            CRYPTO_get_ex_new_index(
                CRYPTO_EX_INDEX_SSL_CTX,
                0,
                ptr::null_mut(),
                ptr::null(),
                ptr::null(),
                None,
            )
        };
        assert!(index >= 0);
        index
    })
}

/// `SSL_CTX_set_info_callback`'s callback as a callback type: any
/// closure, its holder found through the SSL's context's ex data.
#[callback(
    // SAFETY: OpenSSL passes the live SSL, whose context is live; its ex
    // data at this index is a holder's user data (or null: refused).
    user_data = unsafe { SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_info_index()) },
)]
type InfoClosure = unsafe extern "C" fn(ssl: *const SSL, where_: c_int, ret: c_int);

/// `SSL_verify_cb` as a callback type, for capturing closures lent with
/// `scope_thread_local` (the type has no user-data slot).
#[callback]
type Verify = unsafe extern "C" fn(preverify_ok: c_int, store: *mut X509_STORE_CTX) -> c_int;

// ---------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------

/// `pem_password_cb`: the passphrase written into `buf`, its length
/// returned; 0 (the fallback) or less fails the decryption.
#[callback]
type PemPassword = unsafe extern "C" fn(
    #[into(&mut [u8], len = size as usize)] buf: *mut c_char,
    size: c_int,
    rwflag: c_int,
    #[user_data] u: *mut c_void,
) -> c_int;

/// Why a password callback gave no passphrase.
#[derive(Debug, PartialEq)]
enum PasswordError {
    NoPassphrase,
    TooLong { size: usize },
}

/// Copies `passphrase` into OpenSSL's buffer.
fn fill(buf: &mut [u8], passphrase: &[u8]) -> Result<c_int, PasswordError> {
    let size = buf.len();
    let dst = buf
        .get_mut(..passphrase.len())
        .ok_or(PasswordError::TooLong { size })?;
    dst.copy_from_slice(passphrase);
    Ok(passphrase.len() as c_int)
}

/// The same callback as a `#[callback]` fn, its state `&mut`.
#[callback]
extern "C" fn password_from(
    #[into(&mut [u8], len = size as usize)] buf: *mut c_char,
    size: c_int,
    rwflag: c_int,
    #[user_data] secret: &mut Secret,
) -> c_int {
    secret.asked.push((buf.len(), rwflag));
    fill(buf, &secret.passphrase).unwrap_or(0)
}

struct Secret {
    passphrase: Vec<u8>,
    asked: Vec<(usize, c_int)>,
}

/// Writes `pem` to a fresh file in the temporary directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "ffi-callback-openssl-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
    fn c_path(&self) -> CString {
        CString::new(self.0.to_str().unwrap()).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Message, ALPN and SNI callbacks
// ---------------------------------------------------------------------------

/// `SSL_set_msg_callback`'s callback; its user data is set with
/// `SSL_set_msg_callback_arg` (a macro over `SSL_ctrl`).
#[callback]
type MsgCallback = unsafe extern "C" fn(
    write_p: c_int,
    version: c_int,
    content_type: c_int,
    #[into(&[u8], len = len)] buf: *const c_void,
    len: usize,
    ssl: *mut SSL,
    #[user_data] arg: *mut c_void,
);

/// `SSL_CTX_set_alpn_select_cb`'s callback. 0 (`SSL_TLSEXT_ERR_OK`) would
/// tell OpenSSL that `*out` was set: the fallback is a fatal alert.
#[callback(fallback = SSL_TLSEXT_ERR_ALERT_FATAL)]
type AlpnSelect = unsafe extern "C" fn(
    ssl: *mut SSL,
    #[into(&mut *const c_uchar)] out: *mut *const c_uchar,
    #[into(&mut c_uchar)] outlen: *mut c_uchar,
    #[into(&[u8], len = inlen as usize)] input: *const c_uchar,
    inlen: c_uint,
    #[user_data] arg: *mut c_void,
) -> c_int;

/// The servername callback (`SSL_CTX_set_tlsext_servername_callback`, a
/// macro over `SSL_CTX_callback_ctrl`). 0 accepts: the fallback is a
/// fatal alert.
#[callback(fallback = SSL_TLSEXT_ERR_ALERT_FATAL)]
type ServerName = unsafe extern "C" fn(
    ssl: *mut SSL,
    #[into(&mut c_int)] al: *mut c_int,
    #[user_data] arg: *mut c_void,
) -> c_int;

/// A wire-format protocol list's entries.
fn alpn_entries(list: &[u8]) -> Vec<&[u8]> {
    let (mut out, mut rest) = (Vec::new(), list);
    while let Some((&len, tail)) = rest.split_first() {
        let (entry, tail) = tail.split_at(len as usize);
        out.push(entry);
        rest = tail;
    }
    out
}

// ---------------------------------------------------------------------------
// Tests: the stream BIO and the handshake
// ---------------------------------------------------------------------------

#[test]
fn tls13_handshake_over_rust_streams_and_states_freed_once() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    handshake(&conn.client, &conn.server).expect("handshake");
    // SAFETY: live SSLs.
    unsafe {
        assert_eq!(SSL_version(conn.client.ssl), TLS1_3_VERSION);
        assert_eq!(SSL_version(conn.server.ssl), TLS1_3_VERSION);
    }
    // Application data both ways, through both BIOs.
    assert_eq!(conn.client.write(b"ping over rust").unwrap(), 14);
    let mut buf = [0u8; 64];
    let n = conn.server.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping over rust");
    assert_eq!(conn.server.write(b"pong").unwrap(), 4);
    let n = conn.client.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"pong");
    assert!(conn.pair.client_watch.writes.get() >= 2 && conn.pair.server_watch.reads.get() >= 2);
    // A read with nothing on the wire: WANT_READ (through the retry flags
    // the read entry set), 0 bytes.
    let reads = conn.pair.server_watch.reads.get();
    assert_eq!(conn.server.read(&mut buf).unwrap(), 0);
    assert_eq!(conn.pair.server_watch.reads.get(), reads + 1);

    let Conn {
        client,
        server,
        pair,
        client_destroyed,
        server_destroyed,
    } = conn;
    assert_eq!((pair.client_drops.get(), client_destroyed.get()), (0, 0));
    drop(client);
    assert_eq!((pair.client_drops.get(), client_destroyed.get()), (1, 1));
    assert_eq!(pair.server_drops.get(), 0);
    drop(server);
    assert_eq!((pair.server_drops.get(), server_destroyed.get()), (1, 1));
}

#[test]
fn bio_write_io_error_fails_the_handshake_and_comes_back_typed() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    conn.pair.client_watch.fault.set(Some(Fault::WriteError));
    let (side, error) = handshake(&conn.client, &conn.server).unwrap_err();
    assert_eq!(side, "client");
    // SAFETY: a live SSL, right after its failed call: no OpenSSL error
    // queued, no retry flag, so OpenSSL blames the transport.
    let code = unsafe { SSL_get_error(conn.client.ssl, -1) };
    assert_eq!(code, SSL_ERROR_SYSCALL);
    match error {
        Error::Io(e) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(e.to_string(), "write side cut");
        }
        other => panic!("expected the stream's error, got {other:?}"),
    }
    // SAFETY: clears what the failed write left on this thread's queue.
    unsafe { ERR_clear_error() };
    // The connection still ends once, by the BIO's destroy.
    let Conn {
        client,
        server,
        pair,
        client_destroyed,
        ..
    } = conn;
    drop((client, server));
    assert_eq!(
        (
            pair.client_drops.get(),
            client_destroyed.get(),
            pair.server_drops.get()
        ),
        (1, 1, 1)
    );
}

#[test]
fn bio_read_io_error_on_the_server_comes_back_typed() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    assert!(
        !conn.client.step().unwrap(),
        "the ClientHello is out, the client waits"
    );
    conn.pair.server_watch.fault.set(Some(Fault::ReadError));
    match conn.server.step() {
        Err(Error::Io(e)) => assert_eq!(
            (e.kind(), e.to_string().as_str()),
            (io::ErrorKind::ConnectionAborted, "read side cut")
        ),
        other => panic!("expected the stream's error, got {other:?}"),
    }
    // The fault gone, the BIO runs again: the error was handed back, so
    // nothing stays poisoned, and the ClientHello, still on the wire (the
    // failed read took nothing), gets the handshake through.
    conn.pair.server_watch.fault.set(None);
    let reads = conn.pair.server_watch.reads.get();
    handshake(&conn.client, &conn.server).expect("the handshake, resumed");
    assert!(conn.pair.server_watch.reads.get() > reads);
}

#[test]
fn panic_in_bio_write_fails_the_handshake_and_is_resumed() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    conn.pair.client_watch.fault.set(Some(Fault::WritePanic));
    let result = catch_unwind(AssertUnwindSafe(|| handshake(&conn.client, &conn.server)));
    assert_eq!(payload(result), Boom("write"));
    assert_eq!(
        conn.pair.client_watch.writes.get(),
        1,
        "no user code ran after the panic"
    );
    // SAFETY: clears what the failed write left on this thread's queue.
    unsafe { ERR_clear_error() };
    let Conn {
        client,
        server,
        pair,
        client_destroyed,
        ..
    } = conn;
    drop((client, server));
    assert_eq!((pair.client_drops.get(), client_destroyed.get()), (1, 1));
}

#[test]
fn panic_in_bio_read_is_resumed_and_the_state_still_freed_once() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    conn.client.step().unwrap();
    conn.server.step().unwrap();
    conn.pair.client_watch.fault.set(Some(Fault::ReadPanic));
    let result = catch_unwind(AssertUnwindSafe(|| conn.client.step()));
    assert_eq!(payload(result), Boom("read"));
    // SAFETY: clears what the failed read left on this thread's queue.
    unsafe { ERR_clear_error() };
    let Conn {
        client,
        server,
        pair,
        client_destroyed,
        server_destroyed,
    } = conn;
    drop((client, server));
    assert_eq!((pair.client_drops.get(), client_destroyed.get()), (1, 1));
    assert_eq!((pair.server_drops.get(), server_destroyed.get()), (1, 1));
}

#[test]
fn bio_ctrl_flushes_the_stream_and_refuses_unknown_commands() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    handshake(&conn.client, &conn.server).unwrap();
    assert!(
        conn.pair.client_watch.flushes.get() >= 1,
        "libssl flushes after a flight"
    );
    // SAFETY: a live SSL's BIO; `BIO_flush` is a macro over `BIO_ctrl`.
    unsafe {
        let bio = SSL_get_wbio(conn.client.ssl);
        let before = conn.pair.client_watch.flushes.get();
        assert_eq!(BIO_ctrl(bio, BIO_CTRL_FLUSH, 0, ptr::null_mut()), 1);
        assert_eq!(conn.pair.client_watch.flushes.get(), before + 1);
        assert_eq!(BIO_ctrl(bio, 9999, 0, ptr::null_mut()), 0);
    }
}

#[test]
fn a_bio_freed_without_an_ssl_destroys_its_state_once() {
    let method = StreamMethod::<Duplex>::new();
    let mut pair = pair();
    let destroyed = Rc::new(Cell::new(0));
    let bio = method.bio(pair.client.take().unwrap(), destroyed.clone());
    // SAFETY: a live BIO, written and freed here, under a guard.
    unsafe {
        assert_eq!(BIO_write(bio, b"raw".as_ptr().cast(), 3), 3);
        assert_eq!(pair.client_watch.writes.get(), 1);
        assert_eq!(BIO_test_flags(bio, BIO_FLAGS_SHOULD_RETRY), 0);
        // Nothing to read: the read entry sets the retry flags on WouldBlock.
        let mut byte = 0u8;
        assert!(BIO_read(bio, (&raw mut byte).cast(), 1) <= 0);
        assert_ne!(
            BIO_test_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY),
            0
        );
        assert_eq!(pair.client_watch.reads.get(), 1);
        assert_eq!(resume_panics(|| BIO_free(bio)), 1);
    }
    assert_eq!((destroyed.get(), pair.client_drops.get()), (1, 1));
}

#[test]
fn a_bio_freed_before_its_data_is_set_is_destroyed_as_empty() {
    let method = StreamMethod::<Duplex>::new();
    // SAFETY: a BIO of the method, its data never set, freed at once: the
    // set's destroy entry never sees its null user data.
    unsafe {
        let bio = BIO_new(method.0);
        assert!(!bio.is_null());
        assert!(BIO_get_data(bio).is_null());
        assert_eq!(resume_panics(|| BIO_free(bio)), 1);
    }
}

#[test]
fn ssl_freed_inside_the_guard_that_keeps_a_bio_panic_drops_the_state_unrun() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    conn.pair.client_watch.fault.set(Some(Fault::WritePanic));
    let Conn {
        client,
        pair,
        client_destroyed,
        ..
    } = conn;
    let result = catch_unwind(AssertUnwindSafe(|| {
        resume_panics(|| {
            // SAFETY: a live SSL.
            assert_eq!(unsafe { SSL_do_handshake(client.ssl) }, -1);
            // Freed while the guard keeps the panic: the state is
            // poisoned, so the destroy entry's body does not run, but the
            // state is dropped, once.
            drop(client);
            assert_eq!((pair.client_drops.get(), client_destroyed.get()), (1, 0));
        })
    }));
    assert_eq!(payload(result), Boom("write"));
    assert_eq!((pair.client_drops.get(), client_destroyed.get()), (1, 0));
    // SAFETY: clears what the failed write left on this thread's queue.
    unsafe { ERR_clear_error() };
}

// ---------------------------------------------------------------------------
// Tests: certificate verification (callbacks without user data)
// ---------------------------------------------------------------------------

/// The ex-data state an SSL holds (for the assertions).
fn peer_of(tls: &Tls) -> &PeerState {
    // SAFETY: set by `set_peer_state`, freed only by `SSL_free`, which
    // `tls`'s drop runs after this borrow ends.
    unsafe { &*SSL_get_ex_data(tls.ssl, peer_index()).cast::<PeerState>() }
}

/// A client context whose verify and info callbacks find their state in
/// the SSL's ex data.
fn pinning_client_ctx() -> Ctx {
    let ctx = Ctx::new();
    // SAFETY: a live context; both callbacks are `'static` fns.
    unsafe {
        SSL_CTX_set_verify(ctx.raw, SSL_VERIFY_PEER, Some(verify_pinned));
        SSL_CTX_set_info_callback(ctx.raw, Some(record_info));
    }
    ctx
}

#[test]
fn verify_callback_finds_its_state_in_ex_data_and_accepts_the_pinned_certificate() {
    let id = Identity::new(c"pinned.test");
    let (client_ctx, server_ctx) = (pinning_client_ctx(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    let drops = Rc::new(Cell::new(0));
    set_peer_state(&conn.client, peer_state("/CN=pinned.test", &drops));
    handshake(&conn.client, &conn.server).expect("the pinned certificate is accepted");

    let peer = peer_of(&conn.client);
    let verified = peer.verified.borrow().clone();
    // OpenSSL's own verdict first (self-signed: rejected), then the chain
    // walk, each time for the leaf.
    assert_eq!(
        verified[0],
        (
            0,
            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
            0,
            "/CN=pinned.test".to_owned()
        )
    );
    assert!(
        verified
            .iter()
            .all(|(_, _, depth, subject)| *depth == 0 && subject == "/CN=pinned.test"),
        "{verified:?}"
    );
    let info = peer.info.borrow().clone();
    assert_eq!(info.first(), Some(&SSL_CB_HANDSHAKE_START), "{info:?}");
    assert!(info.contains(&SSL_CB_HANDSHAKE_DONE), "{info:?}");

    // The ex data is freed by its index's free function, once; the server
    // SSL, which has none, reaches it with null (`None`).
    assert_eq!(drops.get(), 0);
    drop(conn);
    assert_eq!(drops.get(), 1);
}

#[test]
fn verify_callback_rejecting_fails_the_handshake_on_the_client() {
    let id = Identity::new(c"impostor.test");
    let (client_ctx, server_ctx) = (pinning_client_ctx(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    let drops = Rc::new(Cell::new(0));
    set_peer_state(&conn.client, peer_state("/CN=pinned.test", &drops));
    let (side, error) = handshake(&conn.client, &conn.server).unwrap_err();
    assert_eq!(side, "client");
    assert!(
        matches!(
            error,
            Error::Ssl {
                code: SSL_ERROR_SSL,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .ssl_errors()
            .iter()
            .any(|e| e.contains("certificate verify failed")),
        "{error:?}"
    );
    assert_eq!(
        peer_of(&conn.client).verified.borrow().len(),
        1,
        "rejected at the first call"
    );
    drop(conn);
    assert_eq!(drops.get(), 1);
}

#[test]
fn panic_in_the_verify_callback_rejects_and_is_resumed() {
    let id = Identity::new(c"pinned.test");
    let (client_ctx, server_ctx) = (pinning_client_ctx(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    let drops = Rc::new(Cell::new(0));
    set_peer_state(
        &conn.client,
        PeerState {
            verify_panics: true,
            ..peer_state("/CN=pinned.test", &drops)
        },
    );
    let result = catch_unwind(AssertUnwindSafe(|| handshake(&conn.client, &conn.server)));
    assert_eq!(payload(result), Boom("verify"));
    assert_eq!(peer_of(&conn.client).verified.borrow().len(), 1);
    // The fallback (0) rejected the certificate: the connection is dead.
    let again = conn.client.step();
    assert!(matches!(again, Err(Error::Ssl { .. })), "{again:?}");
    drop(conn);
    assert_eq!(drops.get(), 1);
}

#[test]
fn verify_closure_lent_with_scope_thread_local_captures_the_caller_state() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    let expected = "/CN=localhost".to_owned();
    let mut seen = Vec::new();
    let result = Verify::scope_thread_local(
        |preverify_ok, store| {
            // SAFETY: OpenSSL passes the live store context.
            let subject = unsafe { current_subject(store) };
            seen.push((preverify_ok, subject.clone()));
            c_int::from(subject == expected)
        },
        |verify| {
            // SAFETY: a live SSL; the function is called during the
            // handshake, inside this scope.
            unsafe { SSL_set_verify(conn.client.ssl, SSL_VERIFY_PEER, Some(verify)) };
            handshake(&conn.client, &conn.server)
        },
    );
    result.expect("accepted by the closure");
    assert_eq!(seen[0], (0, "/CN=localhost".to_owned()));
    assert!(
        seen.len() >= 2 && seen.iter().skip(1).all(|(ok, _)| *ok == 1),
        "{seen:?}"
    );
}

#[test]
fn info_closure_found_through_the_contexts_ex_data() {
    let id = Identity::new(c"localhost");
    let (mut client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink = events.clone();
    let info = InfoClosure::boxed(move |_ssl, where_, _ret| sink.borrow_mut().push(where_));
    // SAFETY: a live context; the holder is kept in its `keep`, dropped
    // after `SSL_CTX_free`.
    unsafe {
        assert_eq!(
            SSL_CTX_set_ex_data(client_ctx.raw, ctx_info_index(), info.user_data()),
            1
        );
        SSL_CTX_set_info_callback(client_ctx.raw, Some(info.function()));
    }
    client_ctx.keep.push(Box::new(info));
    for _ in 0..2 {
        let conn = connect(&client_ctx, &server_ctx);
        handshake(&conn.client, &conn.server).unwrap();
    }
    let events = events.borrow();
    let starts = events
        .iter()
        .filter(|w| **w == SSL_CB_HANDSHAKE_START)
        .count();
    let dones = events
        .iter()
        .filter(|w| **w == SSL_CB_HANDSHAKE_DONE)
        .count();
    assert_eq!((starts, dones), (2, 2), "{events:?}");
    assert_eq!(events[0], SSL_CB_HANDSHAKE_START);
}

thread_local! {
    static REPORTS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Keeps this thread's reports for the test that reads them (and prints
/// them, as the default reporter does).
fn keep_report(report: &ffi_callback::Report) {
    eprintln!("{report}");
    REPORTS.with(|r| {
        r.borrow_mut()
            .push(format!("{:?}: {report}", report.kind()))
    });
}

#[test]
fn verify_function_kept_past_its_scope_is_refused_and_rejects() {
    ffi_callback::set_reporter(keep_report);
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let conn = connect(&client_ctx, &server_ctx);
    let calls = Cell::new(0);
    // The function escapes the scope, as one left registered on a context would.
    let verify = Verify::scope_thread_local(
        |_, _| {
            calls.set(calls.get() + 1);
            1
        },
        |verify| verify,
    );
    // SAFETY: a live SSL; the function refuses calls outside any scope.
    unsafe { SSL_set_verify(conn.client.ssl, SSL_VERIFY_PEER, Some(verify)) };
    let (side, error) = handshake(&conn.client, &conn.server).unwrap_err();
    assert_eq!(side, "client");
    assert!(
        error
            .ssl_errors()
            .iter()
            .any(|e| e.contains("certificate verify failed")),
        "{error:?}"
    );
    assert_eq!(calls.get(), 0);
    let reports = REPORTS.with(|r| r.take());
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("scope_thread_local"), "{reports:?}");
}

// ---------------------------------------------------------------------------
// Tests: the password callback and an encrypted key
// ---------------------------------------------------------------------------

/// Loads `file` as `ctx`'s key with the password callback lent for the
/// one call, and unset before the scope ends.
///
/// # Safety
/// `ctx` is live.
unsafe fn use_key_file(ctx: &Ctx, file: &TempFile, cb: PemPasswordFn, ud: *mut c_void) -> c_int {
    // SAFETY: the caller's promise; the callback is unset before returning.
    unsafe {
        SSL_CTX_set_default_passwd_cb(ctx.raw, Some(cb));
        SSL_CTX_set_default_passwd_cb_userdata(ctx.raw, ud);
        let rc = SSL_CTX_use_PrivateKey_file(ctx.raw, file.c_path().as_ptr(), SSL_FILETYPE_PEM);
        SSL_CTX_set_default_passwd_cb(ctx.raw, None);
        SSL_CTX_set_default_passwd_cb_userdata(ctx.raw, ptr::null_mut());
        rc
    }
}

#[test]
fn password_closure_decrypts_the_key_and_the_server_handshakes_with_it() {
    let id = Identity::new(c"localhost");
    let file = TempFile::new("good.pem", &id.encrypted_key_pem(b"correct horse"));
    let server_ctx = Ctx::new();
    // SAFETY: live objects.
    let rc = unsafe { SSL_CTX_use_certificate(server_ctx.raw, id.cert) };
    assert_eq!(rc, 1);
    let mut asked = Vec::new();
    let rc = PemPassword::scope_once(
        |buf: &mut [u8], size, rwflag| {
            asked.push((buf.len(), size, rwflag));
            fill(buf, b"correct horse").unwrap_or(0)
        },
        // SAFETY: a live context.
        |cb, ud| unsafe { use_key_file(&server_ctx, &file, cb, ud) },
    );
    assert_eq!(rc, 1, "{:?}", error_queue());
    // Asked once, for reading (rwflag 0), with OpenSSL's PEM_BUFSIZE.
    assert_eq!(asked, [(1024, 1024, 0)]);
    // SAFETY: live keys.
    let same = unsafe { EVP_PKEY_eq(SSL_CTX_get0_privatekey(server_ctx.raw), id.key) };
    assert_eq!(same, 1);
    let client_ctx = Ctx::new();
    let conn = connect(&client_ctx, &server_ctx);
    handshake(&conn.client, &conn.server).expect("a handshake with the decrypted key");
}

#[test]
fn password_closure_error_comes_back_typed_and_the_key_is_not_loaded() {
    let id = Identity::new(c"localhost");
    let file = TempFile::new("err.pem", &id.encrypted_key_pem(b"correct horse"));
    let ctx = Ctx::new();
    let result = PemPassword::try_scope(
        |_buf: &mut [u8], _size, _rwflag| -> Result<c_int, PasswordError> {
            Err(PasswordError::NoPassphrase)
        },
        // SAFETY: a live context.
        |cb, ud| unsafe { use_key_file(&ctx, &file, cb, ud) },
    );
    assert_eq!(result, Err(PasswordError::NoPassphrase));
    assert!(
        !error_queue().is_empty(),
        "OpenSSL reports the failed decryption too"
    );
    // SAFETY: a live context.
    assert!(unsafe { SSL_CTX_get0_privatekey(ctx.raw) }.is_null());
}

#[test]
fn wrong_password_is_openssls_error() {
    let id = Identity::new(c"localhost");
    let file = TempFile::new("wrong.pem", &id.encrypted_key_pem(b"correct horse"));
    let ctx = Ctx::new();
    let mut calls = 0;
    let rc = PemPassword::scope(
        |buf: &mut [u8], _size, _rwflag| {
            calls += 1;
            fill(buf, b"battery staple").unwrap_or(0)
        },
        // SAFETY: a live context.
        |cb, ud| unsafe { use_key_file(&ctx, &file, cb, ud) },
    );
    assert_eq!(rc, 0);
    assert_eq!(
        calls, 1,
        "OpenSSL caches the passphrase across its decoders"
    );
    // AES-CBC under the wrong key fails its padding check ("bad decrypt"),
    // or, 1 time in 256, passes it and the ASN.1 parse fails: either way
    // libssl reports the PEM failure, and no key is loaded.
    let errors = error_queue();
    assert!(errors.iter().any(|e| e.contains("PEM lib")), "{errors:?}");
    // SAFETY: a live context.
    assert!(unsafe { SSL_CTX_get0_privatekey(ctx.raw) }.is_null());
}

#[test]
fn password_fn_reads_a_key_from_a_memory_bio() {
    let id = Identity::new(c"localhost");
    let pem = id.encrypted_key_pem(b"open sesame");
    let read = |secret: &mut Secret| {
        // SAFETY: a read-only memory BIO over `pem`, freed here; the
        // callback's user data is `secret`, for this call only.
        unsafe {
            let bio = BIO_new_mem_buf(pem.as_ptr().cast(), pem.len() as c_int);
            let key = resume_panics(|| {
                PEM_read_bio_PrivateKey(
                    bio,
                    ptr::null_mut(),
                    Some(password_from),
                    password_from::user_data(secret),
                )
            });
            BIO_free(bio);
            key
        }
    };
    let mut secret = Secret {
        passphrase: b"open sesame".to_vec(),
        asked: Vec::new(),
    };
    let key = read(&mut secret);
    assert!(!key.is_null(), "{:?}", error_queue());
    // SAFETY: live keys; `key` is ours.
    unsafe {
        assert_eq!(EVP_PKEY_eq(key, id.key), 1);
        EVP_PKEY_free(key);
    }
    assert_eq!(secret.asked, [(1024, 0)]);

    // A passphrase longer than OpenSSL's buffer: the fn returns 0.
    let mut long = Secret {
        passphrase: vec![b'x'; 2000],
        asked: Vec::new(),
    };
    assert!(read(&mut long).is_null());
    assert_eq!(long.asked, [(1024, 0)]);
    assert!(!error_queue().is_empty());
}

// ---------------------------------------------------------------------------
// Tests: message, ALPN and SNI callbacks
// ---------------------------------------------------------------------------

#[test]
fn msg_callback_sees_the_handshake_messages_both_ways() {
    let id = Identity::new(c"localhost");
    let (client_ctx, server_ctx) = (Ctx::new(), Ctx::server(&id));
    let mut conn = connect(&client_ctx, &server_ctx);
    let log = Rc::new(RefCell::new(Vec::new()));
    let sink = log.clone();
    let cb = MsgCallback::boxed(
        move |write_p, version, content_type, buf: &[u8], len, _ssl| {
            if content_type == SSL3_RT_HANDSHAKE {
                assert_eq!(buf.len(), len);
                sink.borrow_mut().push((write_p, version, buf[0]));
            }
        },
    );
    // SAFETY: a live SSL; `cb` lives in `conn.client.keep`, dropped after
    // `SSL_free` (`SSL_set_msg_callback_arg` is a macro over `SSL_ctrl`).
    unsafe {
        SSL_set_msg_callback(conn.client.ssl, Some(cb.function()));
        SSL_ctrl(
            conn.client.ssl,
            SSL_CTRL_SET_MSG_CALLBACK_ARG,
            0,
            cb.user_data(),
        );
    }
    conn.client.keep.push(Box::new(cb));
    handshake(&conn.client, &conn.server).unwrap();
    let log = log.borrow();
    // ClientHello out, ServerHello in, ..., client Finished (20) out.
    assert_eq!(log[0], (1, TLS1_3_VERSION, 1));
    assert_eq!(log[1], (0, TLS1_3_VERSION, 2));
    assert!(
        log.contains(&(0, TLS1_3_VERSION, 11)),
        "the server's Certificate: {log:?}"
    );
    assert_eq!(log.last(), Some(&(1, TLS1_3_VERSION, 20)), "{log:?}");
}

/// An ALPN selector preferring `h2`, then `http/1.1`, that records what
/// the client offered; `*out` points into OpenSSL's own input.
/// The protocol lists a selector saw, one per call.
type Offers = Rc<RefCell<Vec<Vec<Vec<u8>>>>>;

// Naming a boxed closure's holder takes its whole closure signature.
#[allow(clippy::type_complexity)]
fn alpn_selector(
    offers: Offers,
) -> ffi_callback::Boxed<
    AlpnSelect<
        impl FnMut(*mut SSL, &mut *const c_uchar, &mut c_uchar, &[u8], c_uint) -> c_int + 'static,
    >,
> {
    AlpnSelect::boxed(
        move |_ssl, out: &mut *const c_uchar, outlen: &mut c_uchar, input: &[u8], _inlen| {
            let entries = alpn_entries(input);
            offers
                .borrow_mut()
                .push(entries.iter().map(|e| e.to_vec()).collect());
            if entries.iter().any(|e| e == b"boom") {
                panic_any(Boom("alpn"));
            }
            for want in [&b"h2"[..], b"http/1.1"] {
                if let Some(entry) = entries.iter().find(|e| **e == want) {
                    *out = entry.as_ptr();
                    *outlen = entry.len() as c_uchar;
                    return SSL_TLSEXT_ERR_OK;
                }
            }
            SSL_TLSEXT_ERR_NOACK
        },
    )
}

/// A server context with `alpn_selector` installed; the selector lives in
/// the context's `keep`, dropped after `SSL_CTX_free`.
fn alpn_server_ctx(id: &Identity, offers: &Offers) -> Ctx {
    let mut ctx = Ctx::server(id);
    let select = alpn_selector(offers.clone());
    // SAFETY: a live context; `select` outlives it.
    unsafe { SSL_CTX_set_alpn_select_cb(ctx.raw, Some(select.function()), select.user_data()) };
    ctx.keep.push(Box::new(select));
    ctx
}

/// Offers `protos` (wire format) from the client.
fn offer(tls: &Tls, protos: &[u8]) {
    // SAFETY: a live SSL; OpenSSL copies the list. 0 is success here.
    let rc = unsafe { SSL_set_alpn_protos(tls.ssl, protos.as_ptr(), protos.len() as c_uint) };
    assert_eq!(rc, 0);
}

fn selected(tls: &Tls) -> Vec<u8> {
    let (mut data, mut len) = (ptr::null(), 0);
    // SAFETY: a live SSL; the protocol is owned by it.
    unsafe {
        SSL_get0_alpn_selected(tls.ssl, &mut data, &mut len);
        if data.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(data, len as usize).to_vec()
        }
    }
}

#[test]
fn alpn_select_closure_points_openssl_into_its_input() {
    let id = Identity::new(c"localhost");
    let offers = Rc::default();
    let (client_ctx, server_ctx) = (Ctx::new(), alpn_server_ctx(&id, &offers));
    let conn = connect(&client_ctx, &server_ctx);
    offer(&conn.client, b"\x08http/1.1\x02h2");
    handshake(&conn.client, &conn.server).unwrap();
    assert_eq!(selected(&conn.client), b"h2");
    assert_eq!(selected(&conn.server), b"h2");
    assert_eq!(
        *offers.borrow(),
        [vec![b"http/1.1".to_vec(), b"h2".to_vec()]]
    );
}

#[test]
fn alpn_without_overlap_is_not_acknowledged() {
    let id = Identity::new(c"localhost");
    let offers = Rc::default();
    let (client_ctx, server_ctx) = (Ctx::new(), alpn_server_ctx(&id, &offers));
    let conn = connect(&client_ctx, &server_ctx);
    offer(&conn.client, b"\x06spdy/1");
    handshake(&conn.client, &conn.server).unwrap();
    assert_eq!(selected(&conn.client), b"");
    assert_eq!(offers.borrow().len(), 1);
}

#[test]
fn panic_in_alpn_select_sends_a_fatal_alert_and_is_resumed() {
    let id = Identity::new(c"localhost");
    let offers = Rc::default();
    let (client_ctx, server_ctx) = (Ctx::new(), alpn_server_ctx(&id, &offers));
    let conn = connect(&client_ctx, &server_ctx);
    offer(&conn.client, b"\x04boom\x02h2");
    let result = catch_unwind(AssertUnwindSafe(|| handshake(&conn.client, &conn.server)));
    assert_eq!(payload(result), Boom("alpn"));
    // SAFETY: clears the server's failure from this thread's queue.
    unsafe { ERR_clear_error() };
    // The fallback was SSL_TLSEXT_ERR_ALERT_FATAL, not 0 (`*out` unset):
    // the server sent an alert, which the client now reads.
    let (side, error) = handshake(&conn.client, &conn.server).unwrap_err();
    assert_eq!(side, "client");
    assert!(
        error
            .ssl_errors()
            .iter()
            .any(|e| e.contains("no application protocol")),
        "{error:?}"
    );
    // The server's connection is dead; the selector works for the next one.
    let conn = connect(&client_ctx, &server_ctx);
    offer(&conn.client, b"\x02h2");
    handshake(&conn.client, &conn.server).unwrap();
    assert_eq!(selected(&conn.client), b"h2");
}

/// A server context with a servername callback accepting no name or one
/// of `known`, set through `SSL_CTX_callback_ctrl` (what the C macro
/// `SSL_CTX_set_tlsext_servername_callback` expands to).
fn sni_server_ctx(
    id: &Identity,
    known: &'static str,
    seen: &Rc<RefCell<Vec<Option<String>>>>,
) -> Ctx {
    let mut ctx = Ctx::server(id);
    let seen = seen.clone();
    let cb = ServerName::boxed(move |ssl, alert: &mut c_int| {
        // SAFETY: OpenSSL passes the live SSL; the name is owned by it.
        let name = unsafe {
            let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_HOST_NAME);
            (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned())
        };
        seen.borrow_mut().push(name.clone());
        match name.as_deref() {
            None => SSL_TLSEXT_ERR_OK,
            Some(n) if n == known => SSL_TLSEXT_ERR_OK,
            Some(_) => {
                *alert = SSL_AD_UNRECOGNIZED_NAME;
                SSL_TLSEXT_ERR_ALERT_FATAL
            }
        }
    });
    // SAFETY: a live context; `cb` outlives it. `SSL_CTX_callback_ctrl`
    // takes every callback as `void (*)(void)`: OpenSSL casts it back to
    // the servername callback's type for this command.
    unsafe {
        let function = std::mem::transmute::<ServerNameFn, unsafe extern "C" fn()>(cb.function());
        assert_eq!(
            SSL_CTX_callback_ctrl(ctx.raw, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB, Some(function)),
            1
        );
        assert_eq!(
            SSL_CTX_ctrl(
                ctx.raw,
                SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG,
                0,
                cb.user_data()
            ),
            1
        );
    }
    ctx.keep.push(Box::new(cb));
    ctx
}

/// `SSL_set_tlsext_host_name`, a macro over `SSL_ctrl`.
fn send_server_name(tls: &Tls, name: &CStr) {
    // SAFETY: a live SSL; OpenSSL copies the name.
    let rc = unsafe {
        SSL_ctrl(
            tls.ssl,
            SSL_CTRL_SET_TLSEXT_HOSTNAME,
            TLSEXT_NAMETYPE_HOST_NAME as c_long,
            name.as_ptr().cast_mut().cast(),
        )
    };
    assert_eq!(rc, 1);
}

#[test]
fn sni_callback_set_through_callback_ctrl_sees_the_name() {
    let id = Identity::new(c"known.test");
    let seen = Rc::default();
    let (client_ctx, server_ctx) = (Ctx::new(), sni_server_ctx(&id, "known.test", &seen));
    let conn = connect(&client_ctx, &server_ctx);
    send_server_name(&conn.client, c"known.test");
    handshake(&conn.client, &conn.server).unwrap();
    // Without a name the callback runs too, and sees none.
    let conn = connect(&client_ctx, &server_ctx);
    handshake(&conn.client, &conn.server).unwrap();
    assert_eq!(*seen.borrow(), [Some("known.test".to_owned()), None]);
}

#[test]
fn sni_callback_rejects_an_unknown_name_with_its_alert() {
    let id = Identity::new(c"known.test");
    let seen = Rc::default();
    let (client_ctx, server_ctx) = (Ctx::new(), sni_server_ctx(&id, "known.test", &seen));
    let conn = connect(&client_ctx, &server_ctx);
    send_server_name(&conn.client, c"stranger.test");
    let (side, _) = handshake(&conn.client, &conn.server).unwrap_err();
    assert_eq!(side, "server");
    // The client reads the alert the callback chose.
    let error = conn.client.step().unwrap_err();
    assert!(
        error
            .ssl_errors()
            .iter()
            .any(|e| e.contains("unrecognized name")),
        "{error:?}"
    );
    assert_eq!(*seen.borrow(), [Some("stranger.test".to_owned())]);
}
