//! libarchive (the system library, apt `libarchive-dev`) driven through
//! Rust client callbacks, as a binding like the `compress-tools` or
//! `libarchive` crates writes them by hand:
//!
//! - `archive_read_open2` / `archive_read_open` with a Rust `Read + Seek`
//!   source behind one client data pointer, as a callback set (open, read,
//!   skip, seek, close), one trait for every owner: the state lent for the
//!   archive's life (`scope`), kept by the reader and taken back with
//!   `into_inner`, or handed over and ended by libarchive's close callback
//!   (`close(&mut self)`, marked `destroy`: a plain call on a lent or kept
//!   state, and the destroy of one handed over), exactly once, also when
//!   the open callback fails;
//! - `archive_write_open2` into a Rust `Write` (a `Vec<u8>`, taken back
//!   after `archive_write_free`), with libarchive's free callback as the
//!   set's destroy;
//! - errors: a source or sink failing with `io::Error` reports it to
//!   libarchive with `archive_set_error` (`on_error`), libarchive fails the
//!   operation, and the `io::Error` comes back typed from `try_resume`;
//! - panics in a read or write callback: libarchive sees `ARCHIVE_FATAL`,
//!   no user code runs for the rest of the operation, and the panic comes
//!   back with its payload;
//! - a nested archive (a tar inside a tar) read through the outer
//!   archive's `archive_read_data`, from the inner archive's read callback;
//! - `archive_read_set_passphrase_callback` (a callback type returning a
//!   pointer into its own closure) on an encrypted zip;
//! - `archive_write_disk_set_user_lookup`, a boxed closure with a cleanup
//!   (destroy-notify) that libarchive calls when the lookup is replaced or
//!   the archive freed, its name borrowed as `Option<&str>`.
//!
//! scripts/test-libarchive.sh runs this binary under valgrind memcheck too.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::ptr;
use std::rc::Rc;
use std::sync::Once;

use ffi_callback::{BoxedSet, callback, resume_panics, try_resume};

// ---------------------------------------------------------------------------
// libarchive, declared by hand
// ---------------------------------------------------------------------------

/// `struct archive`, opaque.
#[repr(C)]
struct Archive {
    _opaque: [u8; 0],
}

/// `struct archive_entry`, opaque.
#[repr(C)]
struct ArchiveEntry {
    _opaque: [u8; 0],
}

const ARCHIVE_EOF: c_int = 1;
const ARCHIVE_OK: c_int = 0;
const ARCHIVE_WARN: c_int = -20;
const ARCHIVE_FAILED: c_int = -25;
const ARCHIVE_FATAL: c_int = -30;
/// `AE_IFREG`.
const AE_IFREG: c_uint = 0o100_000;
/// `<stdio.h>`'s whence values, which libarchive's seek callback receives.
const SEEK_SET: c_int = 0;
const SEEK_CUR: c_int = 1;
const SEEK_END: c_int = 2;
/// libarchive's errno for its own failures.
const ARCHIVE_ERRNO_MISC: c_int = -1;
/// `EIO`, what the panic fallbacks report.
const EIO: c_int = 5;

/// `<archive.h>`'s client callback types, as a -sys crate declares them.
type OpenCallback = unsafe extern "C" fn(*mut Archive, *mut c_void) -> c_int;
type ReadCallback = unsafe extern "C" fn(*mut Archive, *mut c_void, *mut *const c_void) -> isize;
type SkipCallback = unsafe extern "C" fn(*mut Archive, *mut c_void, i64) -> i64;
type SeekCallback = unsafe extern "C" fn(*mut Archive, *mut c_void, i64, c_int) -> i64;
type WriteCallback = unsafe extern "C" fn(*mut Archive, *mut c_void, *const c_void, usize) -> isize;
type CloseCallback = unsafe extern "C" fn(*mut Archive, *mut c_void) -> c_int;
type FreeCallback = unsafe extern "C" fn(*mut Archive, *mut c_void) -> c_int;
type PassphraseCallback = unsafe extern "C" fn(*mut Archive, *mut c_void) -> *const c_char;
type LookupCallback = unsafe extern "C" fn(*mut c_void, *const c_char, i64) -> i64;
type CleanupCallback = unsafe extern "C" fn(*mut c_void);

#[link(name = "archive")]
unsafe extern "C" {
    fn archive_read_new() -> *mut Archive;
    fn archive_read_support_filter_all(a: *mut Archive) -> c_int;
    fn archive_read_support_format_all(a: *mut Archive) -> c_int;
    fn archive_read_support_format_tar(a: *mut Archive) -> c_int;
    fn archive_read_support_format_zip_seekable(a: *mut Archive) -> c_int;
    fn archive_read_set_seek_callback(a: *mut Archive, seek: Option<SeekCallback>) -> c_int;
    fn archive_read_open(
        a: *mut Archive,
        client_data: *mut c_void,
        open: Option<OpenCallback>,
        read: Option<ReadCallback>,
        close: Option<CloseCallback>,
    ) -> c_int;
    fn archive_read_open2(
        a: *mut Archive,
        client_data: *mut c_void,
        open: Option<OpenCallback>,
        read: Option<ReadCallback>,
        skip: Option<SkipCallback>,
        close: Option<CloseCallback>,
    ) -> c_int;
    fn archive_read_open_memory(a: *mut Archive, buff: *const c_void, size: usize) -> c_int;
    fn archive_read_next_header(a: *mut Archive, entry: *mut *mut ArchiveEntry) -> c_int;
    fn archive_read_data(a: *mut Archive, buf: *mut c_void, size: usize) -> isize;
    fn archive_read_free(a: *mut Archive) -> c_int;
    fn archive_read_set_passphrase_callback(
        a: *mut Archive,
        client_data: *mut c_void,
        callback: Option<PassphraseCallback>,
    ) -> c_int;

    fn archive_write_new() -> *mut Archive;
    fn archive_write_set_format_pax_restricted(a: *mut Archive) -> c_int;
    fn archive_write_set_format_zip(a: *mut Archive) -> c_int;
    fn archive_write_set_options(a: *mut Archive, options: *const c_char) -> c_int;
    fn archive_write_set_passphrase(a: *mut Archive, passphrase: *const c_char) -> c_int;
    fn archive_write_open2(
        a: *mut Archive,
        client_data: *mut c_void,
        open: Option<OpenCallback>,
        write: Option<WriteCallback>,
        close: Option<CloseCallback>,
        free: Option<FreeCallback>,
    ) -> c_int;
    fn archive_write_header(a: *mut Archive, entry: *mut ArchiveEntry) -> c_int;
    fn archive_write_data(a: *mut Archive, buf: *const c_void, size: usize) -> isize;
    fn archive_write_close(a: *mut Archive) -> c_int;
    fn archive_write_free(a: *mut Archive) -> c_int;

    fn archive_write_disk_new() -> *mut Archive;
    fn archive_write_disk_set_user_lookup(
        a: *mut Archive,
        private_data: *mut c_void,
        lookup: Option<LookupCallback>,
        cleanup: Option<CleanupCallback>,
    ) -> c_int;
    fn archive_write_disk_uid(a: *mut Archive, name: *const c_char, id: i64) -> i64;

    fn archive_error_string(a: *mut Archive) -> *const c_char;
    fn archive_errno(a: *mut Archive) -> c_int;
    fn archive_set_error(a: *mut Archive, err: c_int, fmt: *const c_char, ...);

    fn archive_entry_new() -> *mut ArchiveEntry;
    fn archive_entry_free(entry: *mut ArchiveEntry);
    fn archive_entry_set_pathname(entry: *mut ArchiveEntry, name: *const c_char);
    fn archive_entry_set_size(entry: *mut ArchiveEntry, size: i64);
    fn archive_entry_set_filetype(entry: *mut ArchiveEntry, filetype: c_uint);
    fn archive_entry_set_perm(entry: *mut ArchiveEntry, perm: u32);
    fn archive_entry_pathname(entry: *mut ArchiveEntry) -> *const c_char;
}

// ---------------------------------------------------------------------------
// The binding's error type and its helpers
// ---------------------------------------------------------------------------

/// Why an archive operation failed, as the binding returns it.
#[derive(Debug)]
enum Error {
    /// The Rust source or sink failed: its own error, typed, as the
    /// callback returned it.
    Io(io::Error),
    /// libarchive failed on its own: its status, errno and message.
    Archive {
        code: c_int,
        errno: c_int,
        message: String,
    },
}

/// libarchive's error string (empty when none is set).
///
/// # Safety
/// `a` is a live archive.
unsafe fn error_string(a: *mut Archive) -> String {
    // SAFETY: a live archive; the string, if any, is NUL-terminated and
    // owned by the archive.
    unsafe {
        let s = archive_error_string(a);
        if s.is_null() {
            String::new()
        } else {
            CStr::from_ptr(s).to_string_lossy().into_owned()
        }
    }
}

/// Records `message` as the archive's error, as a client callback that
/// fails must (libarchive reports it from the failed call).
///
/// # Safety
/// `a` is the live archive that called the callback.
unsafe fn set_error(a: *mut Archive, errno: c_int, message: &str) {
    let message = CString::new(message.replace('\0', "?")).expect("no NUL left");
    // SAFETY: a live archive; "%s" takes one NUL-terminated string, which
    // libarchive copies.
    unsafe { archive_set_error(a, errno, c"%s".as_ptr(), message.as_ptr()) }
}

/// `set_error` for an `io::Error` a callback returned.
///
/// # Safety
/// As `set_error`.
unsafe fn set_io_error(a: *mut Archive, error: &io::Error) {
    let errno = error.raw_os_error().unwrap_or(EIO);
    // SAFETY: the caller's promise.
    unsafe { set_error(a, errno, &error.to_string()) }
}

/// Runs one libarchive call whose callbacks may fail with `io::Error`
/// (under `try_resume`: a panic is resumed, the first `Err` comes back as
/// `Error::Io`), and turns a failing status into `Error::Archive`.
///
/// # Safety
/// `a` is a live archive, and `call` is a call on it whose callbacks' user
/// data is alive.
unsafe fn checked(a: *mut Archive, call: impl FnOnce() -> c_int) -> Result<c_int, Error> {
    let code = try_resume::<_, io::Error>(call).map_err(Error::Io)?;
    if code >= ARCHIVE_WARN {
        return Ok(code);
    }
    Err(Error::Archive {
        code,
        // SAFETY: the caller's promise.
        errno: unsafe { archive_errno(a) },
        // SAFETY: the caller's promise.
        message: unsafe { error_string(a) },
    })
}

// ---------------------------------------------------------------------------
// The read side: a Rust `Read + Seek` behind the client callbacks
// ---------------------------------------------------------------------------

/// `archive_seek_callback`'s whence, converted by `#[into(Whence)]`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Whence {
    Set,
    Cur,
    End,
}

impl TryFrom<c_int> for Whence {
    type Error = c_int;
    fn try_from(whence: c_int) -> Result<Self, c_int> {
        match whence {
            SEEK_SET => Ok(Whence::Set),
            SEEK_CUR => Ok(Whence::Cur),
            SEEK_END => Ok(Whence::End),
            other => Err(other),
        }
    }
}

/// What a client callback returns to libarchive when it fails:
/// `ARCHIVE_FATAL` for a status or an offset, -1 for a size.
trait Fatal {
    const FATAL: Self;
}

impl Fatal for c_int {
    const FATAL: c_int = ARCHIVE_FATAL;
}

impl Fatal for isize {
    const FATAL: isize = -1;
}

impl Fatal for i64 {
    const FATAL: i64 = ARCHIVE_FATAL as i64;
}

/// The fallback's value after a panic or a refused call: records the
/// failure with `archive_set_error`, unless an error is already set, and
/// returns the value that tells libarchive so. (The fallback also runs
/// for calls refused while the state is poisoned by an earlier `Err`:
/// libarchive's cleanup close after a failed open. Without the check, it
/// replaced the open's own message with this one.)
///
/// # Safety
/// As `set_error`.
unsafe fn fail<T: Fatal>(a: *mut Archive, errno: c_int, message: &str) -> T {
    // SAFETY: the caller's promise.
    unsafe {
        if archive_error_string(a).is_null() {
            set_error(a, errno, message);
        }
    }
    T::FATAL
}

/// `fail` for an `io::Error` a callback returned.
///
/// # Safety
/// As `set_error`.
unsafe fn fail_io<T: Fatal>(a: *mut Archive, error: &io::Error) -> T {
    // SAFETY: the caller's promise.
    unsafe { set_io_error(a, error) };
    T::FATAL
}

ffi_callback::preset! {
    /// libarchive's client callbacks (`struct archive *` first, the
    /// client data second): after a panic or a refusal, the failure is
    /// recorded with `archive_set_error`, and libarchive gets
    /// `ARCHIVE_FATAL` (-1 for a size); the same for an `Err` of the
    /// entries that return a `Result`, with the error's own message.
    archive_client = (
        // SAFETY: libarchive passes the live archive that calls.
        fallback = unsafe { fail(archive, EIO, "a client callback panicked") },
        // SAFETY: as for `fallback`.
        on_error = unsafe { fail_io(archive, e) },
    );
}

/// libarchive's client callbacks for reading, sharing one client data
/// (the second parameter). libarchive calls `close` at the end whoever
/// owns the client data, so one trait serves a source lent for the
/// archive's life, kept by the reader, or handed over to libarchive.
#[callback(preset = unsafe(archive_client))]
trait ReadClient {
    /// `archive_open_callback`.
    unsafe extern "C" fn open(
        &mut self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
    ) -> Result<c_int, io::Error>;

    /// `archive_read_callback`: the next block, through `*buffer`, which
    /// must stay valid until the next call: the state's own buffer.
    unsafe extern "C" fn read(
        &mut self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
        #[into(&mut *const c_void)] buffer: *mut *const c_void,
    ) -> Result<isize, io::Error>;

    /// `archive_skip_callback`: how much was skipped (maybe less).
    unsafe extern "C" fn skip(
        &mut self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
        request: i64,
    ) -> Result<i64, io::Error>;

    /// `archive_seek_callback`: the new position.
    unsafe extern "C" fn seek(
        &mut self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
        offset: i64,
        #[into(Whence)] whence: c_int,
    ) -> Result<i64, io::Error>;

    /// `archive_close_callback`, libarchive's last call with this client
    /// data. Marked `destroy`: a lent or kept source stays with its owner;
    /// one handed over (`boxed().into_raw()`) is freed after the body.
    #[callback(destroy)]
    unsafe extern "C" fn close(
        &mut self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
    ) -> c_int;
}

/// Counts drops (of the state holding it).
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// How many times each callback's body ran, and what the test watches.
#[derive(Default)]
struct Calls {
    opens: Cell<u32>,
    reads: Cell<u32>,
    skips: Cell<u32>,
    skipped: Cell<i64>,
    seeks: Cell<u32>,
    seek_whences: std::cell::RefCell<Vec<Whence>>,
    closes: Cell<u32>,
    writes: Cell<u32>,
    frees: Cell<u32>,
    drops: Rc<Cell<u32>>,
}

fn bump(counter: &Cell<u32>) {
    counter.set(counter.get() + 1);
}

/// What a callback does instead of its work, once it is reached.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Fail {
    /// The open callback fails with an `io::Error`.
    OpenErr,
    /// The open callback panics.
    OpenPanic,
    /// The read (or write) callback fails at its `n`th call (from 1).
    Err(u32),
    /// The read (or write) callback panics at its `n`th call.
    Panic(u32),
}

/// A panic payload the tests recognise.
#[derive(Debug, PartialEq)]
struct Boom(&'static str);

/// The client state: a Rust `Read + Seek`, the block libarchive reads
/// from, and the test's counters.
struct Source<R> {
    reader: R,
    block: Vec<u8>,
    block_size: usize,
    fail: Option<Fail>,
    calls: Rc<Calls>,
    _drops: DropCounter,
}

impl<R> Source<R> {
    fn new(reader: R, block_size: usize, fail: Option<Fail>) -> (Source<R>, Rc<Calls>) {
        let calls = Rc::new(Calls::default());
        let source = Source {
            reader,
            block: vec![0; block_size],
            block_size,
            fail,
            calls: calls.clone(),
            _drops: DropCounter(calls.drops.clone()),
        };
        (source, calls)
    }

    fn open(&mut self) -> Result<c_int, io::Error> {
        bump(&self.calls.opens);
        match self.fail {
            Some(Fail::OpenErr) => Err(io::Error::new(io::ErrorKind::NotFound, "no such archive")),
            Some(Fail::OpenPanic) => panic_any(Boom("open")),
            _ => Ok(ARCHIVE_OK),
        }
    }

    /// Fails as told at the `n`th call of `counter`.
    fn maybe_fail(&self, n: u32, what: &'static str) -> Result<(), io::Error> {
        match self.fail {
            Some(Fail::Err(at)) if at == n => Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "the source went away",
            )),
            Some(Fail::Panic(at)) if at == n => panic_any(Boom(what)),
            _ => Ok(()),
        }
    }
}

impl<R: Read> Source<R> {
    fn read(&mut self, buffer: &mut *const c_void) -> Result<isize, io::Error> {
        bump(&self.calls.reads);
        self.maybe_fail(self.calls.reads.get(), "read")?;
        self.block.resize(self.block_size, 0);
        let n = self.reader.read(&mut self.block)?;
        *buffer = self.block.as_ptr().cast();
        Ok(isize::try_from(n).expect("a block fits isize"))
    }
}

impl<R: Read + Seek> ReadClient for Source<R> {
    fn open(&mut self, _archive: *mut Archive) -> Result<c_int, io::Error> {
        Source::open(self)
    }

    fn read(
        &mut self,
        _archive: *mut Archive,
        buffer: &mut *const c_void,
    ) -> Result<isize, io::Error> {
        Source::read(self, buffer)
    }

    fn skip(&mut self, _archive: *mut Archive, request: i64) -> Result<i64, io::Error> {
        bump(&self.calls.skips);
        let pos = self.reader.stream_position()?;
        let end = self.reader.seek(SeekFrom::End(0))?;
        let to = end.min(pos + u64::try_from(request).unwrap_or(0));
        self.reader.seek(SeekFrom::Start(to))?;
        let skipped = i64::try_from(to - pos).expect("fits");
        self.calls.skipped.set(self.calls.skipped.get() + skipped);
        Ok(skipped)
    }

    fn seek(
        &mut self,
        _archive: *mut Archive,
        offset: i64,
        whence: Whence,
    ) -> Result<i64, io::Error> {
        bump(&self.calls.seeks);
        self.calls.seek_whences.borrow_mut().push(whence);
        let from = match whence {
            Whence::Set => SeekFrom::Start(u64::try_from(offset).map_err(io::Error::other)?),
            Whence::Cur => SeekFrom::Current(offset),
            Whence::End => SeekFrom::End(offset),
        };
        let pos = self.reader.seek(from)?;
        Ok(i64::try_from(pos).expect("fits"))
    }

    fn close(&mut self, _archive: *mut Archive) -> c_int {
        bump(&self.calls.closes);
        ARCHIVE_OK
    }
}

/// The source the tests read from.
type CursorSource = Source<Cursor<Vec<u8>>>;

/// What a reader yields: each entry's path and contents.
type Entries = Vec<(String, Vec<u8>)>;

/// Reads every entry of an open archive.
///
/// # Safety
/// `a` is an archive opened for reading whose callbacks' user data is
/// alive.
unsafe fn read_entries(a: *mut Archive) -> Result<Entries, Error> {
    let mut entries = Vec::new();
    loop {
        let mut entry = ptr::null_mut();
        // SAFETY: the caller's promise; `entry` receives the archive's own.
        let rc = unsafe { checked(a, || archive_read_next_header(a, &mut entry))? };
        if rc == ARCHIVE_EOF {
            return Ok(entries);
        }
        // SAFETY: a header was read: the entry is the archive's, alive
        // until the next header.
        let path = unsafe { CStr::from_ptr(archive_entry_pathname(entry)) }
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let mut n = 0;
            // SAFETY: as above; `buf` has room for its length.
            unsafe {
                checked(a, || {
                    n = archive_read_data(a, buf.as_mut_ptr().cast(), buf.len());
                    if n < 0 { n as c_int } else { ARCHIVE_OK }
                })?;
            }
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n as usize]);
        }
        entries.push((path, data));
    }
}

/// Only the entries' names, their data skipped.
///
/// # Safety
/// As `read_entries`.
unsafe fn read_names(a: *mut Archive) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    loop {
        let mut entry = ptr::null_mut();
        // SAFETY: the caller's promise.
        let rc = unsafe { checked(a, || archive_read_next_header(a, &mut entry))? };
        if rc == ARCHIVE_EOF {
            return Ok(names);
        }
        // SAFETY: a header was read.
        let path = unsafe { CStr::from_ptr(archive_entry_pathname(entry)) };
        names.push(path.to_string_lossy().into_owned());
    }
}

/// A new reading archive with every filter and format.
fn new_reader() -> *mut Archive {
    // SAFETY: plain constructors.
    unsafe {
        let a = archive_read_new();
        assert!(!a.is_null());
        archive_read_support_filter_all(a);
        archive_read_support_format_all(a);
        a
    }
}

/// A reading archive freed when dropped (its callbacks' user data must
/// outlive it).
struct ReadArchive(*mut Archive);

impl Drop for ReadArchive {
    fn drop(&mut self) {
        // SAFETY: freed once; the owner keeps the callbacks' user data
        // alive until after this.
        unsafe { archive_read_free(self.0) };
    }
}

/// A reader that owns its archive and its source: the binding's type.
/// The archive is freed before the source (libarchive's free calls the
/// close callback), and the source can be taken back.
struct Reader<R: Read + Seek + 'static> {
    archive: *mut Archive,
    source: Option<BoxedSet<Source<R>>>,
}

impl<R: Read + Seek + 'static> Reader<R> {
    /// Opens `source` with `archive_read_open2` (open, read, skip, close).
    fn open(source: Source<R>) -> Result<Reader<R>, Error> {
        let source = ReadClientExt::boxed(source);
        let reader = Reader {
            archive: new_reader(),
            source: None,
        };
        // SAFETY: a new archive; the boxed source outlives it (`Drop`
        // frees the archive first).
        let opened = unsafe {
            checked(reader.archive, || {
                archive_read_open2(
                    reader.archive,
                    source.user_data(),
                    Some(<Source<R> as ReadClientExt>::OPEN),
                    Some(<Source<R> as ReadClientExt>::READ),
                    Some(<Source<R> as ReadClientExt>::SKIP),
                    Some(<Source<R> as ReadClientExt>::CLOSE),
                )
            })
        };
        let mut reader = reader;
        reader.source = Some(source);
        opened.map(|_| reader)
    }

    fn entries(&mut self) -> Result<Entries, Error> {
        // SAFETY: opened, with its source alive in `self`.
        unsafe { read_entries(self.archive) }
    }

    /// Frees the archive (which closes the source) and gives the source
    /// back.
    fn into_source(mut self) -> Source<R> {
        // SAFETY: freed once; the source is alive for its close callback.
        resume_panics(|| unsafe { archive_read_free(self.archive) });
        self.archive = ptr::null_mut();
        let source = self.source.take().expect("the source");
        match source.into_inner() {
            Ok(source) => source,
            Err(_) => panic!("no callback runs after archive_read_free"),
        }
    }
}

impl<R: Read + Seek + 'static> Drop for Reader<R> {
    fn drop(&mut self) {
        if !self.archive.is_null() {
            // SAFETY: freed once, before the source (dropped after this).
            resume_panics(|| unsafe { archive_read_free(self.archive) });
        }
    }
}

// ---------------------------------------------------------------------------
// The write side: a Rust `Write` behind the client callbacks
// ---------------------------------------------------------------------------

/// libarchive's client callbacks for writing. `free` takes `self`: it is
/// the set's destroy (`archive_write_open2`'s free callback).
#[callback(preset = unsafe(archive_client))]
trait WriteClient {
    /// `archive_open_callback`.
    unsafe extern "C" fn open(
        &mut self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
    ) -> c_int;

    /// `archive_write_callback`: bytes written, -1 on error.
    unsafe extern "C" fn write(
        &mut self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
        #[into(&[u8], len = length)] buffer: *const c_void,
        length: usize,
    ) -> Result<isize, io::Error>;

    /// `archive_close_callback`: flushes the sink.
    unsafe extern "C" fn close(
        &mut self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
    ) -> Result<c_int, io::Error>;

    /// `archive_free_callback`: the last call; ends the state.
    unsafe extern "C" fn free(
        self,
        archive: *mut Archive,
        #[user_data] client_data: *mut c_void,
    ) -> c_int;
}

/// The client state: a Rust `Write` and the test's counters.
struct Sink<W> {
    writer: W,
    fail: Option<Fail>,
    calls: Rc<Calls>,
    _drops: DropCounter,
}

impl<W> Sink<W> {
    fn new(writer: W, fail: Option<Fail>) -> (Sink<W>, Rc<Calls>) {
        let calls = Rc::new(Calls::default());
        let sink = Sink {
            writer,
            fail,
            calls: calls.clone(),
            _drops: DropCounter(calls.drops.clone()),
        };
        (sink, calls)
    }
}

impl<W: Write> WriteClient for Sink<W> {
    fn open(&mut self, _archive: *mut Archive) -> c_int {
        bump(&self.calls.opens);
        ARCHIVE_OK
    }

    fn write(
        &mut self,
        _archive: *mut Archive,
        buffer: &[u8],
        _length: usize,
    ) -> Result<isize, io::Error> {
        bump(&self.calls.writes);
        match self.fail {
            Some(Fail::Err(at)) if at == self.calls.writes.get() => {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            Some(Fail::Panic(at)) if at == self.calls.writes.get() => panic_any(Boom("write")),
            _ => {}
        }
        self.writer.write_all(buffer)?;
        Ok(isize::try_from(buffer.len()).expect("fits"))
    }

    fn close(&mut self, _archive: *mut Archive) -> Result<c_int, io::Error> {
        bump(&self.calls.closes);
        self.writer.flush()?;
        Ok(ARCHIVE_OK)
    }

    fn free(self, _archive: *mut Archive) -> c_int {
        bump(&self.calls.frees);
        ARCHIVE_OK
    }
}

/// A regular file entry.
struct File {
    path: &'static CStr,
    data: Vec<u8>,
}

fn files() -> Vec<File> {
    vec![
        File {
            path: c"hello.txt",
            data: b"hello, archive\n".to_vec(),
        },
        File {
            path: c"big.bin",
            data: (0..100_000u32).map(|i| (i % 251) as u8).collect(),
        },
        File {
            path: c"dir/last.txt",
            data: b"the end\n".to_vec(),
        },
    ]
}

fn expected(files: &[File]) -> Entries {
    files
        .iter()
        .map(|f| (f.path.to_str().unwrap().to_owned(), f.data.clone()))
        .collect()
}

/// Writes `files` as entries of an open writing archive.
///
/// # Safety
/// `a` is an archive opened for writing whose callbacks' user data is
/// alive.
unsafe fn write_entries(a: *mut Archive, files: &[File]) -> Result<(), Error> {
    for file in files {
        // SAFETY: plain entry calls on a new entry, freed below.
        let entry = unsafe {
            let entry = archive_entry_new();
            archive_entry_set_pathname(entry, file.path.as_ptr());
            archive_entry_set_size(entry, i64::try_from(file.data.len()).unwrap());
            archive_entry_set_filetype(entry, AE_IFREG);
            archive_entry_set_perm(entry, 0o644);
            entry
        };
        // SAFETY: the caller's promise; the entry is alive.
        let header = unsafe { checked(a, || archive_write_header(a, entry)) };
        // SAFETY: made above, freed once (libarchive copied what it needs).
        unsafe { archive_entry_free(entry) };
        header?;
        // SAFETY: the caller's promise; `data` is readable.
        unsafe {
            checked(a, || {
                let n = archive_write_data(a, file.data.as_ptr().cast(), file.data.len());
                if n < 0 { n as c_int } else { ARCHIVE_OK }
            })?;
        }
    }
    Ok(())
}

/// A writing archive in the restricted pax format (a tar), small blocks
/// so that big entries take several writes.
fn new_tar_writer() -> *mut Archive {
    // SAFETY: plain constructors.
    unsafe {
        let a = archive_write_new();
        assert!(!a.is_null());
        archive_write_set_format_pax_restricted(a);
        a
    }
}

/// Writes `files` into a `Vec<u8>` through a kept `BoxedSet` (the free
/// callback not registered: Rust keeps the sink and takes it back).
fn tar_of(files: &[File]) -> Vec<u8> {
    let (sink, calls) = Sink::new(Vec::new(), None);
    let sink = sink.boxed();
    let a = new_tar_writer();
    // SAFETY: a new archive; the boxed sink outlives it (freed below,
    // before `into_inner`).
    unsafe {
        checked(a, || {
            archive_write_open2(
                a,
                sink.user_data(),
                Some(Sink::<Vec<u8>>::OPEN),
                Some(Sink::<Vec<u8>>::WRITE),
                Some(Sink::<Vec<u8>>::CLOSE),
                None,
            )
        })
        .unwrap();
        write_entries(a, files).unwrap();
        checked(a, || archive_write_close(a)).unwrap();
        checked(a, || archive_write_free(a)).unwrap();
    }
    assert_eq!((calls.opens.get(), calls.closes.get()), (1, 1));
    match sink.into_inner() {
        Ok(sink) => sink.writer,
        Err(_) => panic!("no callback runs after archive_write_free"),
    }
}

// ---------------------------------------------------------------------------
// Test helpers
// ---------------------------------------------------------------------------

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic to be resumed"),
        Err(payload) => payload,
    }
}

/// Deliberate panics (`Boom` payloads, `expected...` messages) are not
/// printed.
fn quiet_expected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            if payload.is::<Boom>() {
                return;
            }
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !message.is_some_and(|m| m.starts_with("expected")) {
                default(info);
            }
        }));
    });
}

// ===========================================================================
// Tests: reading through the client callbacks
// ===========================================================================

#[test]
fn a_reader_lent_for_the_archive_s_life_reads_every_entry() {
    let tar = tar_of(&files());
    let (source, calls) = Source::new(Cursor::new(tar), 1024, None);
    let (entries, source) = ReadClientExt::scope(source, |ud| {
        let a = new_reader();
        // SAFETY: `ud` is the lent source, alive until `scope` returns,
        // after `archive_read_free`.
        unsafe {
            let opened = archive_read_open(
                a,
                ud,
                Some(<CursorSource as ReadClientExt>::OPEN),
                Some(<CursorSource as ReadClientExt>::READ),
                Some(<CursorSource as ReadClientExt>::CLOSE),
            );
            assert_eq!(opened, ARCHIVE_OK);
            let entries = read_entries(a);
            assert_eq!(archive_read_free(a), ARCHIVE_OK);
            entries
        }
    });
    assert_eq!(entries.unwrap(), expected(&files()));
    assert_eq!((calls.opens.get(), calls.closes.get()), (1, 1));
    assert!(
        calls.reads.get() > 100,
        "1 KiB blocks: {}",
        calls.reads.get()
    );
    assert_eq!(calls.skips.get(), 0, "no skip callback registered");
    assert!(
        source.reader.position() > 100_000,
        "read up to the end marker"
    );
    assert_eq!(calls.drops.get(), 0, "the lent source came back");
    drop(source);
    assert_eq!(calls.drops.get(), 1);
}

#[test]
fn a_kept_reader_skips_unread_data_and_gives_the_source_back() {
    let tar = tar_of(&files());
    let (source, calls) = Source::new(Cursor::new(tar), 512, None);
    let reader = Reader::open(source).unwrap();
    // SAFETY: opened, its source alive in `reader`.
    let names = unsafe { read_names(reader.archive) }.unwrap();
    assert_eq!(names, ["hello.txt", "big.bin", "dir/last.txt"]);
    assert!(calls.skips.get() >= 1, "the big entry's data was skipped");
    assert!(
        calls.skipped.get() >= 90_000,
        "skipped {} bytes",
        calls.skipped.get()
    );
    assert!(
        calls.reads.get() < 50,
        "not read block by block: {}",
        calls.reads.get()
    );
    assert_eq!(calls.closes.get(), 0);
    let source = reader.into_source();
    assert_eq!(calls.closes.get(), 1, "archive_read_free closed the source");
    assert_eq!(calls.drops.get(), 0, "taken back, not dropped");
    assert!(source.reader.position() > 100_000);
    drop(source);
    assert_eq!(calls.drops.get(), 1);
}

#[test]
fn a_tar_written_into_a_vec_reads_back_through_libarchive() {
    let tar = tar_of(&files());
    assert_eq!(tar.len() % 10_240, 0, "whole blocks");
    let a = new_reader();
    // SAFETY: a new archive over `tar`, which outlives it.
    let entries = unsafe {
        assert_eq!(
            archive_read_open_memory(a, tar.as_ptr().cast(), tar.len()),
            ARCHIVE_OK
        );
        let entries = read_entries(a);
        archive_read_free(a);
        entries
    };
    assert_eq!(entries.unwrap(), expected(&files()));
}

#[test]
fn a_zip_is_read_through_the_seek_callback() {
    let (sink, _) = Sink::new(Vec::new(), None);
    let sink = sink.boxed();
    // SAFETY: plain constructors; the boxed sink outlives the archive.
    let zip = unsafe {
        let a = archive_write_new();
        archive_write_set_format_zip(a);
        checked(a, || {
            archive_write_open2(
                a,
                sink.user_data(),
                None,
                Some(Sink::<Vec<u8>>::WRITE),
                Some(Sink::<Vec<u8>>::CLOSE),
                None,
            )
        })
        .unwrap();
        write_entries(a, &files()).unwrap();
        checked(a, || archive_write_free(a)).unwrap();
        match sink.into_inner() {
            Ok(sink) => sink.writer,
            Err(_) => panic!("no callback after the free"),
        }
    };
    let (source, calls) = Source::new(Cursor::new(zip), 4096, None);
    let (entries, _source) = ReadClientExt::scope(source, |ud| {
        // SAFETY: a new archive; `ud` is the lent source, alive until
        // `scope` returns, after `archive_read_free`.
        unsafe {
            let a = archive_read_new();
            archive_read_support_format_zip_seekable(a);
            archive_read_set_seek_callback(a, Some(<CursorSource as ReadClientExt>::SEEK));
            checked(a, || {
                archive_read_open2(
                    a,
                    ud,
                    None,
                    Some(<CursorSource as ReadClientExt>::READ),
                    Some(<CursorSource as ReadClientExt>::SKIP),
                    Some(<CursorSource as ReadClientExt>::CLOSE),
                )
            })
            .unwrap();
            let entries = read_entries(a);
            archive_read_free(a);
            entries
        }
    });
    assert_eq!(entries.unwrap(), expected(&files()));
    let whences = calls.seek_whences.borrow();
    assert!(
        whences.contains(&Whence::End),
        "the central directory is found from the end: {whences:?}"
    );
    assert!(calls.seeks.get() >= 2);
}

#[test]
fn an_io_error_in_the_read_callback_reaches_libarchive_and_comes_back_typed() {
    let tar = tar_of(&files());
    let (source, calls) = Source::new(Cursor::new(tar), 1024, Some(Fail::Err(3)));
    let ((entries, message, errno), _source) = ReadClientExt::scope(source, |ud| {
        let a = new_reader();
        // SAFETY: `ud` is the lent source, alive until `scope` returns.
        unsafe {
            let opened = archive_read_open(
                a,
                ud,
                Some(<CursorSource as ReadClientExt>::OPEN),
                Some(<CursorSource as ReadClientExt>::READ),
                Some(<CursorSource as ReadClientExt>::CLOSE),
            );
            assert_eq!(opened, ARCHIVE_OK);
            let entries = read_entries(a);
            let seen = (error_string(a), archive_errno(a));
            archive_read_free(a);
            (entries, seen.0, seen.1)
        }
    });
    match entries {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(e.to_string(), "the source went away");
        }
        other => panic!("expected the io::Error, got {other:?}"),
    }
    assert_eq!(message, "the source went away", "on_error told libarchive");
    assert_eq!(errno, EIO);
    assert_eq!(calls.reads.get(), 3, "no read after the failing one");
    assert_eq!(calls.closes.get(), 1, "closed once by archive_read_free");
}

#[test]
fn an_open_error_fails_archive_read_open_and_comes_back_typed() {
    let (source, calls) = Source::new(Cursor::new(Vec::new()), 1024, Some(Fail::OpenErr));
    let error = match Reader::open(source) {
        Ok(_) => panic!("the open callback failed"),
        Err(error) => error,
    };
    match error {
        Error::Io(e) => {
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            assert_eq!(e.to_string(), "no such archive");
        }
        other => panic!("expected the io::Error, got {other:?}"),
    }
    assert_eq!(calls.opens.get(), 1);
    assert_eq!(calls.reads.get(), 0);
    // libarchive calls the close callback when the open callback fails,
    // inside the same archive_read_open2 call: the kept `Err` poisons
    // the state until the guard returns, so close returns its fallback
    // without running.
    assert_eq!(calls.closes.get(), 0, "close ran no user code");
    assert_eq!(calls.drops.get(), 1, "the reader dropped its source once");
}

#[test]
fn a_panic_in_the_read_callback_fails_the_header_and_is_resumed() {
    quiet_expected_panics();
    let tar = tar_of(&files());
    let (source, calls) = Source::new(Cursor::new(tar), 1024, Some(Fail::Panic(2)));
    let mut reader = Reader::open(source).unwrap();
    let payload = payload_of(|| reader.entries());
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("read")));
    assert_eq!(calls.reads.get(), 2, "no read ran after the panic");
    // SAFETY: the reader's archive is alive.
    let message = unsafe { error_string(reader.archive) };
    assert_eq!(
        message, "a client callback panicked",
        "the fallback told libarchive"
    );
    // The panic reached the caller; libarchive's state is fatal now.
    let mut entry = ptr::null_mut();
    // SAFETY: as above.
    let rc = unsafe { archive_read_next_header(reader.archive, &mut entry) };
    assert_eq!(rc, ARCHIVE_FATAL);
    assert_eq!(calls.reads.get(), 2);
    drop(reader);
    assert_eq!(calls.drops.get(), 1, "dropped once, with the reader");
}

// ---------------------------------------------------------------------------
// A source handed over to libarchive: the close callback ends it
// ---------------------------------------------------------------------------

/// Opens a new archive over `source`, handed over to libarchive: the same
/// `ReadClient` as for a lent or kept source, whose `close`, marked
/// `destroy`, runs and then frees the source.
fn open_owned<R: Read + Seek + 'static>(source: Source<R>) -> (*mut Archive, Result<c_int, Error>) {
    let a = new_reader();
    let client_data = ReadClientExt::boxed(source).into_raw();
    // SAFETY: a new archive; the state is libarchive's from here, ended by
    // its close callback (also when the open callback fails).
    let opened = unsafe {
        checked(a, || {
            archive_read_open(
                a,
                client_data,
                Some(<Source<R> as ReadClientExt>::OPEN),
                Some(<Source<R> as ReadClientExt>::READ),
                Some(<Source<R> as ReadClientExt>::CLOSE),
            )
        })
    };
    (a, opened)
}

#[test]
fn a_source_handed_over_is_freed_once_by_the_close_callback() {
    let (source, calls) = Source::new(Cursor::new(tar_of(&files())), 700, None);
    let (a, opened) = open_owned(source);
    assert_eq!(opened.unwrap(), ARCHIVE_OK);
    // SAFETY: opened; the source is libarchive's until its close.
    let entries = unsafe { read_entries(a) }.unwrap();
    assert_eq!(entries, expected(&files()));
    assert_eq!(calls.drops.get(), 0, "libarchive still owns it");
    // SAFETY: freed once; the close callback is libarchive's last call.
    let freed = resume_panics(|| unsafe { archive_read_free(a) });
    assert_eq!(freed, ARCHIVE_OK);
    assert_eq!(calls.closes.get(), 1);
    assert_eq!(calls.drops.get(), 1, "freed exactly once by close");
}

#[test]
fn a_failed_open_frees_a_handed_over_source_once() {
    let (source, calls) = Source::new(Cursor::new(Vec::new()), 1024, Some(Fail::OpenErr));
    let (a, opened) = open_owned(source);
    match opened {
        Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
        other => panic!("expected the open's io::Error, got {other:?}"),
    }
    // libarchive called the close callback inside archive_read_open: the
    // state is gone (poisoned by the kept `Err`, the destroy dropped it
    // without running `close`'s body).
    assert_eq!(calls.drops.get(), 1, "freed by libarchive's cleanup close");
    assert_eq!(calls.closes.get(), 0, "close's body did not run");
    // SAFETY: a live archive.
    let message = unsafe { error_string(a) };
    assert_eq!(message, "no such archive", "the cleanup close's fallback kept it");
    // SAFETY: freed once; libarchive does not close a second time.
    let freed = resume_panics(|| unsafe { archive_read_free(a) });
    assert_eq!(freed, ARCHIVE_OK);
    assert_eq!(calls.drops.get(), 1);
}

#[test]
fn a_handed_over_source_is_freed_once_after_a_fatal_read_error() {
    let (source, calls) = Source::new(Cursor::new(tar_of(&files())), 1024, Some(Fail::Err(2)));
    let (a, opened) = open_owned(source);
    assert_eq!(opened.unwrap(), ARCHIVE_OK);
    // SAFETY: opened; the source is libarchive's until its close.
    let entries = unsafe { read_entries(a) };
    assert!(matches!(entries, Err(Error::Io(_))), "{entries:?}");
    assert_eq!(calls.drops.get(), 0);
    // SAFETY: freed once.
    let freed = resume_panics(|| unsafe { archive_read_free(a) });
    assert_eq!(freed, ARCHIVE_OK);
    assert_eq!(
        (calls.closes.get(), calls.drops.get()),
        (1, 1),
        "a fatal archive still closes its client once"
    );
}

#[test]
fn a_panic_in_the_open_callback_fails_the_open_frees_the_source_and_is_resumed() {
    quiet_expected_panics();
    let (source, calls) = Source::new(Cursor::new(Vec::new()), 1024, Some(Fail::OpenPanic));
    let a = new_reader();
    let client_data = ReadClientExt::boxed(source).into_raw();
    let rc = Cell::new(0);
    let payload = payload_of(|| {
        // SAFETY: a new archive; the state is libarchive's from here.
        resume_panics(|| unsafe {
            rc.set(archive_read_open(
                a,
                client_data,
                Some(<CursorSource as ReadClientExt>::OPEN),
                Some(<CursorSource as ReadClientExt>::READ),
                Some(<CursorSource as ReadClientExt>::CLOSE),
            ));
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("open")));
    assert_eq!(rc.get(), ARCHIVE_FATAL, "the fallback failed the open");
    // SAFETY: a live archive.
    assert_eq!(unsafe { error_string(a) }, "a client callback panicked");
    assert_eq!(calls.drops.get(), 1, "the cleanup close freed it");
    // SAFETY: freed once.
    unsafe { archive_read_free(a) };
    assert_eq!(calls.drops.get(), 1);
}

// ---------------------------------------------------------------------------
// A nested archive, read through the outer archive's data
// ---------------------------------------------------------------------------

/// The inner archive's client: its bytes are the outer archive's current
/// entry, read with `archive_read_data` from inside the inner read
/// callback (which may call the outer source's read callback: a call of
/// another state, nested).
struct EntryData {
    outer: *mut Archive,
    block: Vec<u8>,
    reads: Rc<Cell<u32>>,
}

impl ReadClient for EntryData {
    fn open(&mut self, _archive: *mut Archive) -> Result<c_int, io::Error> {
        Ok(ARCHIVE_OK)
    }

    fn read(
        &mut self,
        _archive: *mut Archive,
        buffer: &mut *const c_void,
    ) -> Result<isize, io::Error> {
        bump(&self.reads);
        self.block.resize(3000, 0);
        // SAFETY: the outer archive is alive and positioned at this
        // entry's data while the inner archive reads (the test's order).
        let n = unsafe {
            archive_read_data(self.outer, self.block.as_mut_ptr().cast(), self.block.len())
        };
        if n < 0 {
            // SAFETY: as above.
            return Err(io::Error::other(unsafe { error_string(self.outer) }));
        }
        *buffer = self.block.as_ptr().cast();
        Ok(n)
    }

    // Not registered (NULL in archive_read_open): a set's entries cannot
    // be left out, so they are written anyway.
    fn skip(&mut self, _archive: *mut Archive, _request: i64) -> Result<i64, io::Error> {
        unreachable!("not registered")
    }

    fn seek(
        &mut self,
        _archive: *mut Archive,
        _offset: i64,
        _whence: Whence,
    ) -> Result<i64, io::Error> {
        unreachable!("not registered")
    }

    fn close(&mut self, _archive: *mut Archive) -> c_int {
        ARCHIVE_OK
    }
}

#[test]
fn a_tar_inside_a_tar_is_read_through_the_outer_archive_s_data() {
    let inner = tar_of(&files());
    let outer = tar_of(&[
        File {
            path: c"inner.tar",
            data: inner,
        },
        File {
            path: c"after.txt",
            data: b"after the inner archive".to_vec(),
        },
    ]);
    let (source, calls) = Source::new(Cursor::new(outer), 2048, None);
    let inner_reads = Rc::new(Cell::new(0));
    let (result, _source) = ReadClientExt::scope(source, |ud| -> Result<_, Error> {
        let a = new_reader();
        // SAFETY: `ud` is the lent source, alive until `scope` returns;
        // both archives are freed before.
        unsafe {
            checked(a, || {
                archive_read_open2(
                    a,
                    ud,
                    None,
                    Some(<CursorSource as ReadClientExt>::READ),
                    Some(<CursorSource as ReadClientExt>::SKIP),
                    Some(<CursorSource as ReadClientExt>::CLOSE),
                )
            })?;
            let mut entry = ptr::null_mut();
            checked(a, || archive_read_next_header(a, &mut entry))?;
            let name = CStr::from_ptr(archive_entry_pathname(entry)).to_owned();
            assert_eq!(name.as_c_str(), c"inner.tar");
            let data = EntryData {
                outer: a,
                block: Vec::new(),
                reads: inner_reads.clone(),
            };
            let (inner_entries, _data) = data.scope(|inner_ud| {
                let b = archive_read_new();
                archive_read_support_format_tar(b);
                let entries = checked(b, || {
                    archive_read_open(
                        b,
                        inner_ud,
                        Some(EntryData::OPEN),
                        Some(EntryData::READ),
                        Some(EntryData::CLOSE),
                    )
                })
                .and_then(|_| read_entries(b));
                archive_read_free(b);
                entries
            });
            let rest = read_entries(a);
            archive_read_free(a);
            Ok((inner_entries?, rest?))
        }
    });
    let (inner_entries, rest) = result.unwrap();
    assert_eq!(inner_entries, expected(&files()));
    assert_eq!(
        rest,
        [("after.txt".to_owned(), b"after the inner archive".to_vec())]
    );
    assert!(
        inner_reads.get() > 30,
        "3000-byte blocks: {}",
        inner_reads.get()
    );
    assert!(
        calls.reads.get() > 50,
        "the outer source was read from inside the inner reads"
    );
}

// ===========================================================================
// Tests: writing through the client callbacks
// ===========================================================================

/// Opens a new tar writer over `sink`, handed over to libarchive, whose
/// free callback ends it.
fn open_owned_writer<W: Write + 'static>(sink: Sink<W>) -> *mut Archive {
    let a = new_tar_writer();
    let client_data = sink.boxed().into_raw();
    // SAFETY: a new archive; the state is libarchive's from here, ended by
    // its free callback (also when the open fails).
    unsafe {
        checked(a, || {
            archive_write_open2(
                a,
                client_data,
                Some(Sink::<W>::OPEN),
                Some(Sink::<W>::WRITE),
                Some(Sink::<W>::CLOSE),
                Some(Sink::<W>::FREE),
            )
        })
        .unwrap();
    }
    a
}

/// A `Write` that appends to a shared buffer, so that the test reads what
/// a sink wrote after libarchive freed it.
#[derive(Clone, Default)]
struct Shared(Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_sink_handed_over_is_closed_then_freed_once_by_archive_write_free() {
    let shared = Shared::default();
    let (sink, calls) = Sink::new(shared.clone(), None);
    let a = open_owned_writer(sink);
    // SAFETY: opened; the sink is libarchive's until its free callback.
    unsafe { write_entries(a, &files()) }.unwrap();
    assert_eq!(calls.closes.get(), 0);
    // No archive_write_close: archive_write_free flushes the last block
    // through write, then calls close and free.
    // SAFETY: freed once.
    let freed = resume_panics(|| unsafe { archive_write_free(a) });
    assert_eq!(freed, ARCHIVE_OK);
    assert_eq!(
        (calls.opens.get(), calls.closes.get(), calls.frees.get()),
        (1, 1, 1)
    );
    assert_eq!(calls.drops.get(), 1, "freed exactly once");
    let tar = shared.0.borrow().clone();
    assert_eq!(tar.len() % 10_240, 0);
    let (source, _) = Source::new(Cursor::new(tar), 4096, None);
    let (entries, _) = ReadClientExt::scope(source, |ud| {
        let r = new_reader();
        // SAFETY: `ud` is the lent source, alive until after the free.
        unsafe {
            archive_read_open(
                r,
                ud,
                None,
                Some(<CursorSource as ReadClientExt>::READ),
                None,
            );
            let entries = read_entries(r);
            archive_read_free(r);
            entries
        }
    });
    assert_eq!(entries.unwrap(), expected(&files()));
}

#[test]
fn an_io_error_in_the_write_callback_fails_the_data_and_comes_back_typed() {
    let (sink, calls) = Sink::new(Shared::default(), Some(Fail::Err(2)));
    let a = open_owned_writer(sink);
    // SAFETY: opened; the sink is libarchive's until its free callback.
    let written = unsafe { write_entries(a, &files()) };
    match written {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::StorageFull);
            assert_eq!(e.to_string(), "disk full");
        }
        other => panic!("expected the write's io::Error, got {other:?}"),
    }
    assert_eq!(
        // SAFETY: a live archive.
        unsafe { error_string(a) },
        "disk full",
        "on_error told libarchive"
    );
    assert_eq!(calls.writes.get(), 2, "no write after the failing one");
    // libarchive does not make the archive fatal after a failed write:
    // archive_write_free flushes what is left through the callbacks.
    // SAFETY: freed once.
    resume_panics(|| unsafe { archive_write_free(a) });
    assert_eq!(calls.writes.get(), 3, "the free wrote the last block");
    assert_eq!(calls.closes.get(), 1);
    assert_eq!((calls.frees.get(), calls.drops.get()), (1, 1));
}

#[test]
fn a_panic_in_the_write_callback_is_resumed_and_the_sink_still_freed_once() {
    quiet_expected_panics();
    let (sink, calls) = Sink::new(Shared::default(), Some(Fail::Panic(1)));
    let a = open_owned_writer(sink);
    let payload = payload_of(|| {
        // SAFETY: opened; the sink is libarchive's until its free callback.
        unsafe { write_entries(a, &files()) }
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("write")));
    assert_eq!(calls.writes.get(), 1);
    // SAFETY: a live archive.
    assert_eq!(unsafe { error_string(a) }, "a client callback panicked");
    // The panic reached the caller: the state runs user code again, and
    // libarchive's free (the archive is not fatal after a failed write)
    // flushes the rest through it, then closes and frees it. A binding
    // that must not write after a panic stops the sink itself.
    // SAFETY: freed once.
    resume_panics(|| unsafe { archive_write_free(a) });
    assert!(calls.writes.get() > 1, "user code ran again");
    assert_eq!(calls.closes.get(), 1);
    assert_eq!((calls.frees.get(), calls.drops.get()), (1, 1));
}

// ===========================================================================
// Tests: the passphrase callback and a lookup with a cleanup
// ===========================================================================

/// `archive_passphrase_callback`: a passphrase to try, or null to give
/// up. libarchive copies the string before the next call, so a pointer
/// into the closure's own captures is valid long enough.
#[callback]
type Passphrase = unsafe extern "C" fn(
    archive: *mut Archive,
    #[user_data] client_data: *mut c_void,
) -> *const c_char;

/// `files` as a zip whose entries are encrypted with `passphrase`
/// (WinZip AES-256: its 2-byte password verifier lets a wrong passphrase through once in 65,536 tries; traditional PKWARE encryption, whose check is 1 byte, made these tests fail about once in 256 runs).
fn encrypted_zip(files: &[File], passphrase: &CStr) -> Vec<u8> {
    let (sink, _) = Sink::new(Vec::new(), None);
    let sink = sink.boxed();
    // SAFETY: plain setup calls; the boxed sink outlives the archive.
    unsafe {
        let a = archive_write_new();
        archive_write_set_format_zip(a);
        assert_eq!(
            archive_write_set_options(a, c"zip:encryption=aes256".as_ptr()),
            ARCHIVE_OK,
            "{}",
            error_string(a)
        );
        assert_eq!(
            archive_write_set_passphrase(a, passphrase.as_ptr()),
            ARCHIVE_OK
        );
        checked(a, || {
            archive_write_open2(
                a,
                sink.user_data(),
                None,
                Some(Sink::<Vec<u8>>::WRITE),
                Some(Sink::<Vec<u8>>::CLOSE),
                None,
            )
        })
        .unwrap();
        write_entries(a, files).unwrap();
        checked(a, || archive_write_free(a)).unwrap();
    }
    match sink.into_inner() {
        Ok(sink) => sink.writer,
        Err(_) => panic!("no callback after the free"),
    }
}

/// Reads `zip` with a passphrase callback: the closure's answers.
fn read_encrypted(
    zip: Vec<u8>,
    answers: impl FnMut(*mut Archive) -> *const c_char,
) -> Result<Entries, Error> {
    let (source, _) = Source::new(Cursor::new(zip), 4096, None);
    let (entries, _) = ReadClientExt::scope(source, |ud| {
        Passphrase::scope(answers, |passphrase, passphrase_ud| {
            // Freed when this closure ends, also when a panic resumed in
            // `checked` unwinds through it.
            let a = ReadArchive(new_reader());
            // SAFETY: both user data are lent until their scopes return,
            // after `archive_read_free`.
            unsafe {
                archive_read_set_passphrase_callback(a.0, passphrase_ud, Some(passphrase));
                checked(a.0, || {
                    archive_read_open(
                        a.0,
                        ud,
                        None,
                        Some(<CursorSource as ReadClientExt>::READ),
                        None,
                    )
                })
                .and_then(|_| read_entries(a.0))
            }
        })
    });
    entries
}

#[test]
fn the_passphrase_callback_is_asked_until_one_decrypts_the_zip() {
    let zip = encrypted_zip(&files(), c"open sesame");
    assert!(
        !zip.windows(14).any(|w| w == b"hello, archive"),
        "the data is encrypted"
    );
    let answers = [c"wrong".to_owned(), c"open sesame".to_owned()];
    let mut asked = 0;
    let entries = read_encrypted(zip, |_archive| {
        asked += 1;
        answers.get(asked - 1).map_or(ptr::null(), |p| p.as_ptr())
    });
    assert_eq!(entries.unwrap(), expected(&files()));
    assert_eq!(asked, 2, "libarchive kept the right one for later entries");
}

#[test]
fn a_passphrase_callback_that_gives_up_fails_the_read() {
    let zip = encrypted_zip(&files(), c"open sesame");
    let mut asked = 0;
    let entries = read_encrypted(zip, |_archive| {
        asked += 1;
        if asked == 1 {
            c"wrong".as_ptr()
        } else {
            ptr::null()
        }
    });
    match entries {
        Err(Error::Archive {
            code,
            errno,
            message,
        }) => {
            assert_eq!(message, "Incorrect passphrase");
            // The entry failed, not the archive.
            assert_eq!((code, errno), (ARCHIVE_FAILED, ARCHIVE_ERRNO_MISC));
        }
        other => panic!("expected libarchive's error, got {other:?}"),
    }
    assert_eq!(asked, 2, "asked again after the wrong one, then gave up");
}

#[test]
fn a_panic_in_the_passphrase_callback_fails_the_read_and_is_resumed() {
    quiet_expected_panics();
    let zip = encrypted_zip(&files(), c"open sesame");
    let mut asked = 0;
    let payload = payload_of(|| {
        read_encrypted(zip, |_archive| -> *const c_char {
            asked += 1;
            panic_any(Boom("passphrase"))
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("passphrase")));
    assert_eq!(asked, 1, "not asked again after the panic");
}

/// `archive_write_disk_set_user_lookup`'s lookup: a user name (null when
/// the entry has none) and the archive's uid, to the uid to use. After a
/// panic libarchive gets the archive's own uid, not 0 (root).
#[callback(fallback = id)]
type UserLookup = unsafe extern "C" fn(
    #[user_data] private_data: *mut c_void,
    #[into(Option<&str>)] name: *const c_char,
    id: i64,
) -> i64;

/// A user table as a closure, dropped (counted) when libarchive cleans it
/// up.
fn user_table(drops: &Rc<Cell<u32>>) -> impl FnMut(Option<&str>, i64) -> i64 + 'static {
    let counter = DropCounter(drops.clone());
    move |name, id| {
        let _ = &counter;
        match name {
            Some("alice") => 2001,
            Some("bob") => 2002,
            Some("mallory") => panic_any(Boom("lookup")),
            _ => id,
        }
    }
}

#[test]
fn a_boxed_user_lookup_maps_names_and_is_cleaned_up_once() {
    let drops = Rc::new(Cell::new(0));
    let raw = UserLookup::boxed(user_table(&drops)).into_raw();
    // SAFETY: plain constructor; the lookup is libarchive's from here,
    // ended by its cleanup (the raw pair's destroy).
    let a = unsafe { archive_write_disk_new() };
    // SAFETY: a live archive; the function, user data and destroy of one
    // boxed callback.
    unsafe {
        archive_write_disk_set_user_lookup(a, raw.user_data, Some(raw.function), Some(raw.destroy));
    }
    // SAFETY: a live archive whose lookup is alive until replaced.
    let uids = resume_panics(|| unsafe {
        [
            archive_write_disk_uid(a, c"alice".as_ptr(), 1000),
            archive_write_disk_uid(a, c"bob".as_ptr(), 1000),
            archive_write_disk_uid(a, c"carol".as_ptr(), 1003),
            archive_write_disk_uid(a, ptr::null(), 1004),
        ]
    });
    assert_eq!(uids, [2001, 2002, 1003, 1004]);
    assert_eq!(drops.get(), 0);
    // Replacing the lookup cleans the old one up.
    let drops2 = Rc::new(Cell::new(0));
    let raw2 = UserLookup::boxed(user_table(&drops2)).into_raw();
    // SAFETY: as above.
    unsafe {
        archive_write_disk_set_user_lookup(
            a,
            raw2.user_data,
            Some(raw2.function),
            Some(raw2.destroy),
        );
    }
    assert_eq!(drops.get(), 1, "the replaced lookup was cleaned up once");
    // SAFETY: freed once; the free cleans up the current lookup.
    resume_panics(|| unsafe { archive_write_free(a) });
    assert_eq!((drops.get(), drops2.get()), (1, 1));
}

#[test]
fn a_panic_in_the_lookup_gives_libarchive_the_archive_s_uid_and_is_resumed() {
    quiet_expected_panics();
    let drops = Rc::new(Cell::new(0));
    let raw = UserLookup::boxed(user_table(&drops)).into_raw();
    // SAFETY: as in the test above.
    let a = unsafe { archive_write_disk_new() };
    // SAFETY: as above.
    unsafe {
        archive_write_disk_set_user_lookup(a, raw.user_data, Some(raw.function), Some(raw.destroy));
    }
    let uids = RefCell::new(Vec::new());
    let payload = payload_of(|| {
        // SAFETY: a live archive whose lookup is alive.
        resume_panics(|| unsafe {
            uids.borrow_mut()
                .push(archive_write_disk_uid(a, c"mallory".as_ptr(), 1666));
            // Poisoned until the guard returns: no user code, the fallback.
            uids.borrow_mut()
                .push(archive_write_disk_uid(a, c"alice".as_ptr(), 1000));
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom("lookup")));
    assert_eq!(
        *uids.borrow(),
        [1666, 1000],
        "the archive's own uids, never root"
    );
    // The panic reached the caller: the lookup runs again.
    // SAFETY: as above.
    let alice = resume_panics(|| unsafe { archive_write_disk_uid(a, c"alice".as_ptr(), 1000) });
    assert_eq!(alice, 2001);
    // SAFETY: freed once.
    resume_panics(|| unsafe { archive_write_free(a) });
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// A writer that keeps its sink: finished, or dropped unfinished
// ---------------------------------------------------------------------------

/// A writer that owns its archive and its sink: the binding's type. The
/// free callback is not registered (Rust keeps the sink); the archive is
/// freed before the sink.
struct Writer<W: Write + 'static> {
    archive: *mut Archive,
    sink: Option<BoxedSet<Sink<W>>>,
}

impl<W: Write + 'static> Writer<W> {
    fn new(sink: Sink<W>) -> Result<Writer<W>, Error> {
        let writer = Writer {
            archive: new_tar_writer(),
            sink: Some(sink.boxed()),
        };
        let user_data = writer.sink.as_ref().expect("the sink").user_data();
        // SAFETY: a new archive; the boxed sink outlives it (`Drop` frees
        // the archive first).
        unsafe {
            checked(writer.archive, || {
                archive_write_open2(
                    writer.archive,
                    user_data,
                    Some(Sink::<W>::OPEN),
                    Some(Sink::<W>::WRITE),
                    Some(Sink::<W>::CLOSE),
                    None,
                )
            })?;
        }
        Ok(writer)
    }

    fn add(&mut self, files: &[File]) -> Result<(), Error> {
        // SAFETY: opened, its sink alive in `self`.
        unsafe { write_entries(self.archive, files) }
    }

    /// Writes the end of the archive, closes the sink (its flush may
    /// fail), and gives the `Write` back.
    fn finish(mut self) -> Result<W, Error> {
        // SAFETY: opened, its sink alive in `self`.
        let closed = unsafe { checked(self.archive, || archive_write_close(self.archive)) };
        // SAFETY: freed once (closed already: no callback runs).
        resume_panics(|| unsafe { archive_write_free(self.archive) });
        self.archive = ptr::null_mut();
        closed?;
        match self.sink.take().expect("the sink").into_inner() {
            Ok(sink) => Ok(sink.writer),
            Err(_) => panic!("no callback runs after archive_write_free"),
        }
    }
}

impl<W: Write + 'static> Drop for Writer<W> {
    fn drop(&mut self) {
        if !self.archive.is_null() {
            // Unfinished: libarchive's free writes the end of the archive
            // through the sink, which is still alive (dropped after this).
            // SAFETY: freed once.
            resume_panics(|| unsafe { archive_write_free(self.archive) });
        }
    }
}

/// A `Write` whose flush fails.
struct FlushFails(Vec<u8>);

impl Write for FlushFails {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "the pipe closed"))
    }
}

#[test]
fn a_writer_finishes_into_its_vec_or_flushes_through_the_sink_when_dropped() {
    let (sink, calls) = Sink::new(Vec::new(), None);
    let mut writer = Writer::new(sink).unwrap();
    writer.add(&files()).unwrap();
    let tar = writer.finish().unwrap();
    assert_eq!(
        tar,
        tar_of(&files()),
        "the same bytes as any other tar of them"
    );
    assert_eq!((calls.closes.get(), calls.frees.get()), (1, 0));
    assert_eq!(calls.drops.get(), 1, "taken back once, its Vec moved out");

    let shared = Shared::default();
    let (sink, calls) = Sink::new(shared.clone(), None);
    let mut writer = Writer::new(sink).unwrap();
    writer.add(&files()).unwrap();
    let written = calls.writes.get();
    drop(writer);
    assert!(
        calls.writes.get() > written,
        "the free flushed through write"
    );
    assert_eq!(calls.closes.get(), 1);
    assert_eq!(
        calls.drops.get(),
        1,
        "the sink dropped once, after the archive"
    );
    assert_eq!(*shared.0.borrow(), tar, "a complete archive all the same");
}

#[test]
fn a_failing_flush_in_the_close_callback_comes_back_from_finish() {
    let (sink, calls) = Sink::new(FlushFails(Vec::new()), None);
    let mut writer = Writer::new(sink).unwrap();
    writer.add(&files()).unwrap();
    match writer.finish() {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
            assert_eq!(e.to_string(), "the pipe closed");
        }
        Err(other) => panic!("expected the flush's io::Error, got {other:?}"),
        Ok(_) => panic!("expected the flush's io::Error"),
    }
    assert_eq!(calls.closes.get(), 1);
    assert_eq!(calls.drops.get(), 1, "dropped once, with the writer");
}
