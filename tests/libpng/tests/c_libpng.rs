//! libpng (the system library, apt `libpng-dev`) decoding a PNG through a
//! Rust read callback (`png_set_read_fn`) whose failures end the way
//! libpng expects, in `png_error`, which longjmps to the decoder's `setjmp`
//! (in csrc/png_guard.c). The callback never calls `png_error` itself: it
//! panics or returns `Err`, `on_raise` keeps the message, and the trampoline
//! raises (`raise = png_error(..)`) once nothing is left to drop.
//!
//! - a read that panics, or returns `Err`, at any point of the decode ends
//!   it with libpng's error handler receiving the message; libpng does not
//!   read again after it;
//! - the same callback decodes the next image (its `&mut` user data's
//!   debug re-entry guard is not left behind by a raise);
//! - a null io pointer is refused with a `png_error` too;
//! - everything the body owned is dropped (counted; valgrind sees the heap:
//!   scripts/test-libpng.sh runs this binary under memcheck).

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::fmt::Display;
use std::ptr;
use std::sync::Once;

use ffi_callback::{Failure, callback};

/// libpng's `png_struct`, opaque.
#[repr(C)]
struct PngStruct {
    _opaque: [u8; 0],
}

/// `struct guard_error` of png_guard.c: what libpng's error handler got.
#[repr(C)]
struct GuardError {
    message: [c_char; 256],
    raised: c_int,
}

/// libpng's `png_rw_ptr`.
type ReadFn = unsafe extern "C" fn(png: *mut PngStruct, data: *mut u8, length: usize);

unsafe extern "C" {
    fn png_get_io_ptr(png: *mut PngStruct) -> *mut c_void;
    fn png_error(png: *mut PngStruct, message: *const c_char) -> !;
    fn guard_decode_gray(
        read: ReadFn,
        io: *mut c_void,
        error: *mut GuardError,
        out: *mut u8,
        out_len: usize,
        width: *mut u32,
        height: *mut u32,
    ) -> c_int;
}

// ---------------------------------------------------------------------------
// The read callback
// ---------------------------------------------------------------------------

/// Where the callback should fail, by read number (from 1).
#[derive(Clone, Copy, Debug)]
enum Fail {
    Never,
    PanicAt(usize),
    ErrAt(usize),
}

/// The PNG bytes being read.
struct Source {
    data: Vec<u8>,
    pos: usize,
    reads: usize,
    fail: Fail,
}

thread_local! {
    /// Values owned by a read and not dropped yet, on this thread.
    static LIVE: Cell<i32> = const { Cell::new(0) };
    /// The message of the last failed read on this thread: `png_error`
    /// receives a pointer into it (libpng's handler copies it at once).
    static MESSAGE: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// A heap value that a read owns while it runs.
struct Owned {
    _heap: Vec<u8>,
}

impl Owned {
    fn new() -> Owned {
        LIVE.with(|live| live.set(live.get() + 1));
        Owned { _heap: vec![7; 64] }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        LIVE.with(|live| live.set(live.get() - 1));
    }
}

/// `on_raise`: keeps which failure it was and its message for the raise.
fn keep_message<E: Display>(failure: &Failure<'_, E>) {
    let what = match failure {
        Failure::Panicked(_) => "panicked",
        Failure::Failed(_) => "failed",
        Failure::Refused(_) => "refused",
        _ => "failed somehow",
    };
    let text = format!("{what}: {}", failure.message()).replace('\0', " ");
    let text = CString::new(text).expect("no NUL left");
    MESSAGE.with(|message| *message.borrow_mut() = Some(text));
}

/// The kept message, as a pointer that stays valid until the next
/// `keep_message` on this thread. Nothing of it is live in the caller's
/// frame once this returns (the `RefCell` borrow ends here).
fn kept_message() -> *const c_char {
    MESSAGE.with(|message| match &*message.borrow() {
        Some(text) => text.as_ptr(),
        None => c"the read callback failed".as_ptr(),
    })
}

#[callback(
    // SAFETY: the io pointer is the one `decode` passed with this function:
    // `read_data::user_data(&mut source)` for a `Source` that outlives the
    // decode and is not used otherwise meanwhile (or null: refused).
    user_data = unsafe { png_get_io_ptr(png) },
    on_raise = keep_message(&failure),
    // SAFETY: `png` is the struct reading; its error handler longjmps to the
    // `setjmp` in guard_decode_gray, over this trampoline's frame only; the
    // message lives in `MESSAGE` until the next failure on this thread.
    raise = unsafe { png_error(png, kept_message()) },
)]
extern "C" fn read_data(
    png: *mut PngStruct,
    data: *mut u8,
    length: usize,
    #[user_data] source: &mut Source,
) -> Result<(), String> {
    let _owned = Owned::new();
    source.reads += 1;
    let n = source.reads;
    match source.fail {
        Fail::PanicAt(k) if k == n => panic!("expected: read #{n} panicked"),
        Fail::ErrAt(k) if k == n => return Err(format!("read #{n} failed")),
        _ => {}
    }
    let bytes = source
        .data
        .get(source.pos..source.pos + length)
        .ok_or_else(|| format!("read #{n}: unexpected end of data"))?;
    // SAFETY: libpng passes a buffer of `length` bytes to fill.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), data, length) };
    source.pos += length;
    Ok(())
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

struct Decoded {
    /// Width, height and pixels, or the message libpng's error handler got.
    image: Result<(u32, u32, Vec<u8>), String>,
    /// How many times libpng called the read callback.
    reads: usize,
}

fn decode(png: &[u8], fail: Fail) -> Decoded {
    let mut source = Source {
        data: png.to_vec(),
        pos: 0,
        reads: 0,
        fail,
    };
    // SAFETY: `source` outlives the call and is not used until it returns.
    let image = unsafe { decode_with(read_data::user_data(&mut source)) };
    Decoded {
        image,
        reads: source.reads,
    }
}

/// # Safety
/// `io` must be null or made by `read_data::user_data` for a `Source`
/// valid and otherwise unused until this returns.
unsafe fn decode_with(io: *mut c_void) -> Result<(u32, u32, Vec<u8>), String> {
    let mut error = GuardError {
        message: [0; 256],
        raised: 0,
    };
    let mut pixels = vec![0u8; 4096];
    let (mut width, mut height) = (0, 0);
    // SAFETY: `read_data` accepts `io` (the caller's promise); every pointer
    // is to a live local of the size given.
    let status = unsafe {
        guard_decode_gray(
            read_data,
            io,
            &mut error,
            pixels.as_mut_ptr(),
            pixels.len(),
            &mut width,
            &mut height,
        )
    };
    match status {
        0 => {
            assert_eq!(error.raised, 0);
            pixels.truncate(width as usize * height as usize);
            Ok((width, height, pixels))
        }
        -1 => {
            assert_eq!(error.raised, 1);
            // SAFETY: png_guard.c NUL-terminates the copied message.
            let message = unsafe { CStr::from_ptr(error.message.as_ptr()) };
            Err(message.to_string_lossy().into_owned())
        }
        other => panic!("guard_decode_gray returned {other}"),
    }
}

// ---------------------------------------------------------------------------
// A PNG to read: 8-bit grayscale, one stored (uncompressed) deflate block
// ---------------------------------------------------------------------------

fn gray_png(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    assert_eq!(pixels.len(), width as usize * height as usize);
    let mut filtered = Vec::new();
    for row in pixels.chunks(width as usize) {
        filtered.push(0); // filter type None
        filtered.extend_from_slice(row);
    }
    let len = u16::try_from(filtered.len()).expect("one stored block");
    let mut zlib = vec![0x78, 0x01, 0x01]; // zlib header; final stored block
    zlib.extend(len.to_le_bytes());
    zlib.extend((!len).to_le_bytes());
    zlib.extend(&filtered);
    zlib.extend(adler32(&filtered).to_be_bytes());

    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 0, 0, 0, 0]); // depth 8, gray, deflate, filter 0, no interlace

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
    let start = png.len();
    png.extend(kind);
    png.extend(data);
    let crc = crc32(&png[start..]);
    png.extend(crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A 7x5 gradient.
fn image() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..5u8)
        .flat_map(|y| (0..7u8).map(move |x| y * 40 + x))
        .collect();
    (gray_png(7, 5, &pixels), pixels)
}

/// Deliberate panics (`expected...`) are not printed.
fn quiet_expected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
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

fn live() -> i32 {
    LIVE.with(Cell::get)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn libpng_decodes_through_the_rust_read_callback() {
    let (png, pixels) = image();
    let decoded = decode(&png, Fail::Never);
    assert_eq!(decoded.image.unwrap(), (7, 5, pixels));
    assert!(
        decoded.reads > 5,
        "libpng read in pieces: {}",
        decoded.reads
    );
    assert_eq!(live(), 0);
}

#[test]
fn a_read_that_panics_ends_in_png_error_with_the_panic_message() {
    quiet_expected_panics();
    let (png, _) = image();
    let reads = decode(&png, Fail::Never).reads;
    for k in 1..=reads {
        let decoded = decode(&png, Fail::PanicAt(k));
        assert_eq!(
            decoded.image.unwrap_err(),
            format!("panicked: expected: read #{k} panicked")
        );
        assert_eq!(decoded.reads, k, "libpng read again after the raise");
        assert_eq!(live(), 0, "the read's values were dropped");
    }
}

#[test]
fn a_read_that_returns_err_ends_in_png_error_with_the_error() {
    let (png, _) = image();
    let reads = decode(&png, Fail::Never).reads;
    for k in 1..=reads {
        let decoded = decode(&png, Fail::ErrAt(k));
        assert_eq!(
            decoded.image.unwrap_err(),
            format!("failed: read #{k} failed")
        );
        assert_eq!(decoded.reads, k, "libpng read again after the raise");
        assert_eq!(live(), 0, "the read's values were dropped");
    }
}

#[test]
fn truncated_data_ends_in_png_error_from_the_question_mark() {
    let (png, _) = image();
    let decoded = decode(&png[..40], Fail::Never);
    let error = decoded.image.unwrap_err();
    assert!(
        error.starts_with("failed: read #") && error.ends_with(": unexpected end of data"),
        "{error}"
    );
    assert_eq!(live(), 0);
}

#[test]
fn the_read_callback_decodes_again_after_each_raise() {
    quiet_expected_panics();
    let (png, pixels) = image();
    for fail in [Fail::PanicAt(1), Fail::ErrAt(3), Fail::PanicAt(6)] {
        assert!(decode(&png, fail).image.is_err(), "{fail:?}");
        // The same callback, and (with debug assertions) its `&mut`
        // re-entry check: a guard left behind would refuse this decode.
        let decoded = decode(&png, Fail::Never);
        assert_eq!(decoded.image.unwrap(), (7, 5, pixels.clone()), "{fail:?}");
    }
    assert_eq!(live(), 0);
}

#[test]
fn a_null_io_pointer_is_refused_with_png_error() {
    // SAFETY: null is refused before anything is read through it.
    let error = unsafe { decode_with(ptr::null_mut()) }.unwrap_err();
    assert_eq!(
        error,
        "refused: its user data is null, but it receives it as `&mut c_libpng::Source`"
    );
    assert_eq!(live(), 0);
}
