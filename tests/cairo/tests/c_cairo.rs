//! cairo (the system library, apt `libcairo2-dev`; Debian 12 ships 1.16.0)
//! driven through Rust callbacks, as a binding (cairo-rs, pycairo-style
//! wrappers) writes them by hand today:
//!
//! - `cairo_write_func_t` / `cairo_read_func_t`: PNG written into a Rust
//!   `Write` and read back from a Rust `Read` (lent for the call,
//!   `try_scope`), PDF and SVG stream surfaces writing into a closure that
//!   the surface owns (handed over, freed by cairo through the surface's
//!   user data after the last write), `io::Error`s coming back typed
//!   (`on_error = CAIRO_STATUS_WRITE_ERROR`), panics resumed, also from a
//!   surface's drop;
//! - `cairo_surface_set_user_data` / `cairo_set_user_data` with a
//!   `cairo_destroy_func_t` (a `#[callback]` fn receiving `Box<T>`): freed
//!   once when the object dies or the key is replaced or removed, reclaimed
//!   when cairo refuses it; `cairo_surface_set_mime_data`'s destroy, run
//!   when the last snapshot using the data (an SVG surface's) lets go;
//! - raster source patterns (acquire/release/snapshot/copy/finish) as one
//!   callback set whose state cairo owns: a copy of the pattern (a
//!   recording surface's snapshot) gets a state of its own from the copy
//!   callback, and each state is freed once by its pattern's finish;
//! - a user font face (init/render_glyph/unicode_to_glyph), whose callbacks
//!   receive the scaled font, not user data: the state behind
//!   `cairo_font_face_get_user_data` (`user_data = EXPR`), freed by the
//!   face's user-data destroy; text rendered through it, an unknown
//!   character's error typed back.
//!
//! scripts/test-cairo.sh runs this binary under valgrind memcheck too.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_double, c_int, c_uint, c_ulong, c_void};
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once, RwLock, RwLockReadGuard};

use ffi_callback::{callback, resume_panics, try_resume};

// ---------------------------------------------------------------------------
// cairo 1.16, declared by hand
// ---------------------------------------------------------------------------

#[repr(C)]
struct CairoSurface {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Cairo {
    _opaque: [u8; 0],
}
#[repr(C)]
struct CairoPattern {
    _opaque: [u8; 0],
}
#[repr(C)]
struct CairoFontFace {
    _opaque: [u8; 0],
}
#[repr(C)]
struct CairoScaledFont {
    _opaque: [u8; 0],
}

/// `cairo_user_data_key_t`: only its address matters.
#[repr(C)]
struct UserDataKey {
    _unused: c_int,
}

/// `cairo_rectangle_int_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
struct RectangleInt {
    x: c_int,
    y: c_int,
    width: c_int,
    height: c_int,
}

/// `cairo_font_extents_t`.
#[repr(C)]
struct FontExtents {
    ascent: c_double,
    descent: c_double,
    height: c_double,
    max_x_advance: c_double,
    max_y_advance: c_double,
}

/// `cairo_text_extents_t`.
#[repr(C)]
struct TextExtents {
    x_bearing: c_double,
    y_bearing: c_double,
    width: c_double,
    height: c_double,
    x_advance: c_double,
    y_advance: c_double,
}

/// `cairo_status_t` (a C enum).
type Status = c_int;
const CAIRO_STATUS_SUCCESS: Status = 0;
const CAIRO_STATUS_NO_MEMORY: Status = 1;
const CAIRO_STATUS_READ_ERROR: Status = 10;
const CAIRO_STATUS_WRITE_ERROR: Status = 11;
const CAIRO_STATUS_INVALID_SIZE: Status = 32;
const CAIRO_STATUS_USER_FONT_ERROR: Status = 27;

const CAIRO_FORMAT_ARGB32: c_int = 0;
const CAIRO_CONTENT_COLOR_ALPHA: c_int = 0x3000;
const CAIRO_MIME_TYPE_URI: &CStr = c"text/x-uri";

type DestroyFunc = unsafe extern "C" fn(data: *mut c_void);
type RasterReleaseFn = unsafe extern "C" fn(
    pattern: *mut CairoPattern,
    callback_data: *mut c_void,
    surface: *mut CairoSurface,
);
type WriteFn =
    unsafe extern "C" fn(closure: *mut c_void, data: *const u8, length: c_uint) -> Status;
type ReadFn = unsafe extern "C" fn(closure: *mut c_void, data: *mut u8, length: c_uint) -> Status;

#[link(name = "cairo")]
unsafe extern "C" {
    fn cairo_status_to_string(status: Status) -> *const c_char;
    fn cairo_debug_reset_static_data();

    fn cairo_image_surface_create(format: c_int, width: c_int, height: c_int) -> *mut CairoSurface;
    fn cairo_image_surface_get_data(surface: *mut CairoSurface) -> *mut u8;
    fn cairo_image_surface_get_stride(surface: *mut CairoSurface) -> c_int;
    fn cairo_image_surface_get_width(surface: *mut CairoSurface) -> c_int;
    fn cairo_image_surface_get_height(surface: *mut CairoSurface) -> c_int;
    fn cairo_recording_surface_create(content: c_int, extents: *const c_void) -> *mut CairoSurface;
    fn cairo_surface_flush(surface: *mut CairoSurface);
    fn cairo_surface_mark_dirty(surface: *mut CairoSurface);
    fn cairo_surface_finish(surface: *mut CairoSurface);
    fn cairo_surface_destroy(surface: *mut CairoSurface);
    fn cairo_surface_status(surface: *mut CairoSurface) -> Status;
    fn cairo_surface_set_user_data(
        surface: *mut CairoSurface,
        key: *const UserDataKey,
        user_data: *mut c_void,
        destroy: Option<DestroyFunc>,
    ) -> Status;
    fn cairo_surface_get_user_data(
        surface: *mut CairoSurface,
        key: *const UserDataKey,
    ) -> *mut c_void;
    fn cairo_surface_set_mime_data(
        surface: *mut CairoSurface,
        mime_type: *const c_char,
        data: *const u8,
        length: c_ulong,
        destroy: Option<DestroyFunc>,
        closure: *mut c_void,
    ) -> Status;
    fn cairo_surface_get_mime_data(
        surface: *mut CairoSurface,
        mime_type: *const c_char,
        data: *mut *const u8,
        length: *mut c_ulong,
    );

    fn cairo_surface_write_to_png_stream(
        surface: *mut CairoSurface,
        write_func: Option<WriteFn>,
        closure: *mut c_void,
    ) -> Status;
    fn cairo_image_surface_create_from_png_stream(
        read_func: Option<ReadFn>,
        closure: *mut c_void,
    ) -> *mut CairoSurface;
    fn cairo_pdf_surface_create_for_stream(
        write_func: Option<WriteFn>,
        closure: *mut c_void,
        width: c_double,
        height: c_double,
    ) -> *mut CairoSurface;
    fn cairo_svg_surface_create_for_stream(
        write_func: Option<WriteFn>,
        closure: *mut c_void,
        width: c_double,
        height: c_double,
    ) -> *mut CairoSurface;

    fn cairo_create(target: *mut CairoSurface) -> *mut Cairo;
    fn cairo_destroy(cr: *mut Cairo);
    fn cairo_status(cr: *mut Cairo) -> Status;
    fn cairo_set_user_data(
        cr: *mut Cairo,
        key: *const UserDataKey,
        user_data: *mut c_void,
        destroy: Option<DestroyFunc>,
    ) -> Status;
    fn cairo_get_user_data(cr: *mut Cairo, key: *const UserDataKey) -> *mut c_void;
    fn cairo_set_source_rgb(cr: *mut Cairo, r: c_double, g: c_double, b: c_double);
    fn cairo_set_source(cr: *mut Cairo, source: *mut CairoPattern);
    fn cairo_set_source_surface(
        cr: *mut Cairo,
        surface: *mut CairoSurface,
        x: c_double,
        y: c_double,
    );
    fn cairo_paint(cr: *mut Cairo);
    fn cairo_mask(cr: *mut Cairo, pattern: *mut CairoPattern);
    fn cairo_rectangle(cr: *mut Cairo, x: c_double, y: c_double, w: c_double, h: c_double);
    fn cairo_fill(cr: *mut Cairo);
    fn cairo_show_page(cr: *mut Cairo);
    fn cairo_move_to(cr: *mut Cairo, x: c_double, y: c_double);
    fn cairo_set_font_face(cr: *mut Cairo, face: *mut CairoFontFace);
    fn cairo_set_font_size(cr: *mut Cairo, size: c_double);
    fn cairo_show_text(cr: *mut Cairo, utf8: *const c_char);
    fn cairo_set_antialias(cr: *mut Cairo, antialias: c_int);

    fn cairo_pattern_create_raster_source(
        user_data: *mut c_void,
        content: c_int,
        width: c_int,
        height: c_int,
    ) -> *mut CairoPattern;
    fn cairo_raster_source_pattern_set_callback_data(pattern: *mut CairoPattern, data: *mut c_void);
    fn cairo_raster_source_pattern_get_callback_data(pattern: *mut CairoPattern) -> *mut c_void;
    fn cairo_raster_source_pattern_set_acquire(
        pattern: *mut CairoPattern,
        acquire: Option<RasterSourceAcquireFn>,
        release: Option<RasterReleaseFn>,
    );
    fn cairo_raster_source_pattern_set_snapshot(
        pattern: *mut CairoPattern,
        snapshot: Option<RasterSourceSnapshotFn>,
    );
    fn cairo_raster_source_pattern_set_copy(
        pattern: *mut CairoPattern,
        copy: Option<RasterSourceCopyFn>,
    );
    fn cairo_raster_source_pattern_set_finish(
        pattern: *mut CairoPattern,
        finish: Option<RasterSourceFinishFn>,
    );
    fn cairo_pattern_destroy(pattern: *mut CairoPattern);

    fn cairo_user_font_face_create() -> *mut CairoFontFace;
    fn cairo_user_font_face_set_init_func(face: *mut CairoFontFace, init: Option<UserFontInitFn>);
    fn cairo_user_font_face_set_render_glyph_func(
        face: *mut CairoFontFace,
        render: Option<UserFontRenderGlyphFn>,
    );
    fn cairo_user_font_face_set_unicode_to_glyph_func(
        face: *mut CairoFontFace,
        unicode_to_glyph: Option<UserFontUnicodeToGlyphFn>,
    );
    fn cairo_font_face_set_user_data(
        face: *mut CairoFontFace,
        key: *const UserDataKey,
        user_data: *mut c_void,
        destroy: Option<DestroyFunc>,
    ) -> Status;
    fn cairo_font_face_get_user_data(
        face: *mut CairoFontFace,
        key: *const UserDataKey,
    ) -> *mut c_void;
    fn cairo_font_face_destroy(face: *mut CairoFontFace);
    fn cairo_scaled_font_get_font_face(scaled_font: *mut CairoScaledFont) -> *mut CairoFontFace;
}

/// `CAIRO_ANTIALIAS_NONE`: whole pixels, so that tests can compare them.
const CAIRO_ANTIALIAS_NONE: c_int = 1;

// ---------------------------------------------------------------------------
// The binding's owned handles
// ---------------------------------------------------------------------------

/// An owned surface reference (cairo-rs's `Surface`). Destroying a stream
/// surface finishes it, which writes through its write callback: the drop
/// guards that call, so a writer's panic comes out of the drop (or is
/// reported, if the thread is already unwinding) instead of aborting.
struct Surface(*mut CairoSurface);

impl Surface {
    fn image(width: c_int, height: c_int) -> Surface {
        // SAFETY: plain constructor; an error surface on failure, which
        // `status` reports.
        let surface =
            Surface(unsafe { cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height) });
        assert_eq!(surface.status(), CAIRO_STATUS_SUCCESS);
        surface
    }

    fn status(&self) -> Status {
        // SAFETY: a surface reference we own.
        unsafe { cairo_surface_status(self.0) }
    }

    /// The ARGB32 pixel at (x, y) (premultiplied, native endian).
    fn pixel(&self, x: c_int, y: c_int) -> u32 {
        // SAFETY: an image surface we own; (x, y) inside it (asserted), and
        // the surface flushed before its memory is read.
        unsafe {
            assert!((0..cairo_image_surface_get_width(self.0)).contains(&x));
            assert!((0..cairo_image_surface_get_height(self.0)).contains(&y));
            cairo_surface_flush(self.0);
            let stride = cairo_image_surface_get_stride(self.0) as usize;
            let data = cairo_image_surface_get_data(self.0);
            data.add(y as usize * stride + x as usize * 4)
                .cast::<u32>()
                .read()
        }
    }

    fn pixels(&self) -> Vec<u32> {
        // SAFETY: an image surface we own.
        let (w, h) = unsafe {
            (
                cairo_image_surface_get_width(self.0),
                cairo_image_surface_get_height(self.0),
            )
        };
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| self.pixel(x, y))
            .collect()
    }

    /// `cairo_surface_finish`, guarded: a stream surface writes its end here.
    fn finish(&self) -> Result<Status, io::Error> {
        try_resume(|| {
            // SAFETY: a surface reference we own; finishing twice is a no-op.
            unsafe { cairo_surface_finish(self.0) };
            self.status()
        })
    }
}

impl Drop for Surface {
    fn drop(&mut self) {
        // SAFETY: the reference this handle owns, given up once.
        resume_panics(|| unsafe { cairo_surface_destroy(self.0) });
    }
}

/// An owned `cairo_t`.
struct Context(*mut Cairo);

impl Context {
    fn new(target: &Surface) -> Context {
        // SAFETY: `target` is a live surface; the context takes its own
        // reference.
        let cr = Context(unsafe { cairo_create(target.0) });
        assert_eq!(cr.status(), CAIRO_STATUS_SUCCESS);
        cr
    }

    fn status(&self) -> Status {
        // SAFETY: a context we own.
        unsafe { cairo_status(self.0) }
    }

    fn fill_rect(&self, rgb: (f64, f64, f64), x: f64, y: f64, w: f64, h: f64) {
        // SAFETY: a context we own. (Unguarded: replacing the source could
        // end a raster pattern's state, but the contexts this is used on
        // have only had solid sources, and no surface writes on a fill.)
        unsafe {
            cairo_set_source_rgb(self.0, rgb.0, rgb.1, rgb.2);
            cairo_rectangle(self.0, x, y, w, h);
            cairo_fill(self.0);
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the reference this handle owns; its source pattern and
        // font may be the last references to Rust states, whose destroys
        // run here.
        resume_panics(|| unsafe { cairo_destroy(self.0) });
    }
}

const OPAQUE_RED: u32 = 0xffff_0000;
const OPAQUE_BLUE: u32 = 0xff00_00ff;
const OPAQUE_GREEN: u32 = 0xff00_ff00;

/// A 4x2 picture: the left half red, the right half blue.
fn red_blue() -> Surface {
    let surface = Surface::image(4, 2);
    let cr = Context::new(&surface);
    cr.fill_rect((1.0, 0.0, 0.0), 0.0, 0.0, 2.0, 2.0);
    cr.fill_rect((0.0, 0.0, 1.0), 2.0, 0.0, 2.0, 2.0);
    drop(cr);
    surface
}

fn status_name(status: Status) -> String {
    // SAFETY: cairo returns a static string for any status.
    unsafe { CStr::from_ptr(cairo_status_to_string(status)) }
        .to_string_lossy()
        .into_owned()
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

/// Every test holds this (shared) while it uses cairo, so that
/// `reset_static_data` can take it alone.
static CAIRO_IN_USE: RwLock<()> = RwLock::new(());

fn cairo_in_use() -> RwLockReadGuard<'static, ()> {
    CAIRO_IN_USE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `cairo_debug_reset_static_data`: empties cairo's caches (the scaled
/// fonts it holds over after their last reference, and with them their
/// faces). Only allowed while no cairo object is alive, so it waits for
/// every other test to be done with cairo; the caller must hold no
/// `cairo_in_use` guard and no cairo object.
fn reset_static_data() {
    let _alone = CAIRO_IN_USE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // SAFETY: no cairo object is alive (the lock above, the caller's
    // promise); the faces' destroys run inside, guarded.
    resume_panics(|| unsafe { cairo_debug_reset_static_data() });
}

/// Counts drops (of the value holding it), on any thread.
struct SendDropCounter(Arc<AtomicU32>);

impl Drop for SendDropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts drops (of the value holding it).
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn the_status_values_declared_here_are_cairo_s() {
    let _cairo = cairo_in_use();
    assert_eq!(status_name(CAIRO_STATUS_SUCCESS), "no error has occurred");
    assert_eq!(status_name(CAIRO_STATUS_NO_MEMORY), "out of memory");
    assert_eq!(
        status_name(CAIRO_STATUS_READ_ERROR),
        "error while reading from input stream"
    );
    assert_eq!(
        status_name(CAIRO_STATUS_WRITE_ERROR),
        "error while writing to output stream"
    );
    assert_eq!(
        status_name(CAIRO_STATUS_USER_FONT_ERROR),
        "error occurred in a user-font callback function"
    );
    assert_eq!(
        status_name(CAIRO_STATUS_INVALID_SIZE),
        "invalid value (typically too big) for the size of the input (surface, pattern, etc.)"
    );
}

// ===========================================================================
// Streams: cairo_write_func_t / cairo_read_func_t
// ===========================================================================

/// `cairo_write_func_t`: all `length` bytes written, or an error status.
/// After a panic (or a refused call) cairo must see a failed write, not
/// the default 0, which is `CAIRO_STATUS_SUCCESS`.
#[callback(
    error = io::Error,
    on_error = CAIRO_STATUS_WRITE_ERROR,
    fallback = CAIRO_STATUS_WRITE_ERROR
)]
type WriteFunc = unsafe extern "C" fn(
    #[user_data] closure: *mut c_void,
    #[into(&[u8], len = length as usize)] data: *const u8,
    length: c_uint,
) -> Status;

/// `cairo_read_func_t`: exactly `length` bytes, or an error status.
#[callback(
    error = io::Error,
    on_error = CAIRO_STATUS_READ_ERROR,
    fallback = CAIRO_STATUS_READ_ERROR
)]
type ReadFunc = unsafe extern "C" fn(
    #[user_data] closure: *mut c_void,
    #[into(&mut [u8], len = length as usize)] data: *mut u8,
    length: c_uint,
) -> Status;

/// `cairo_surface_write_to_png_stream` into `out`, lent for the call:
/// cairo's status, or the writer's `io::Error`, typed.
fn write_to_png(surface: &Surface, out: &mut impl Write) -> Result<Status, io::Error> {
    let mut writes = 0;
    let result = WriteFunc::try_scope(
        |data: &[u8], _length| {
            writes += 1;
            out.write_all(data)?;
            Ok(CAIRO_STATUS_SUCCESS)
        },
        // SAFETY: the lent callback and its user data, used by cairo for
        // this call only.
        |write, closure| unsafe {
            cairo_surface_write_to_png_stream(surface.0, Some(write), closure)
        },
    );
    assert!(writes > 0);
    result
}

/// `cairo_image_surface_create_from_png_stream` from `input`: the surface
/// (maybe in an error status), or the reader's `io::Error`, typed.
fn read_png(input: &mut impl Read) -> Result<Surface, io::Error> {
    ReadFunc::try_scope(
        |data: &mut [u8], _length| {
            input.read_exact(data)?;
            Ok(CAIRO_STATUS_SUCCESS)
        },
        |read, closure| {
            // SAFETY: the lent callback and its user data, used by cairo
            // for this call only; the result is a new reference we own.
            Surface(unsafe { cairo_image_surface_create_from_png_stream(Some(read), closure) })
        },
    )
}

/// A reader handing out at most 5 bytes a call, so that `read_exact`
/// loops.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(5).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_png_written_into_a_vec_reads_back_with_the_same_pixels() {
    let _cairo = cairo_in_use();
    let picture = red_blue();
    assert_eq!(
        picture.pixels(),
        [OPAQUE_RED, OPAQUE_RED, OPAQUE_BLUE, OPAQUE_BLUE].repeat(2)
    );
    let mut png = Vec::new();
    assert_eq!(
        write_to_png(&picture, &mut png).expect("no io error"),
        CAIRO_STATUS_SUCCESS
    );
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let back = read_png(&mut Trickle(&png)).expect("no io error");
    assert_eq!(back.status(), CAIRO_STATUS_SUCCESS);
    assert_eq!(back.pixels(), picture.pixels());
}

/// A writer that fails after `left` bytes, counting the calls that come
/// after its failure.
struct Failing {
    left: usize,
    failed: bool,
    calls_after_failure: u32,
}

impl Failing {
    fn new(left: usize) -> Failing {
        Failing {
            left,
            failed: false,
            calls_after_failure: 0,
        }
    }
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            self.calls_after_failure += 1;
        }
        if buf.len() > self.left {
            self.failed = true;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "expected: disk full",
            ));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_s_io_error_comes_back_typed_and_cairo_stops_writing() {
    let _cairo = cairo_in_use();
    let mut out = Failing::new(20);
    let error = write_to_png(&red_blue(), &mut out).expect_err("the io::Error");
    assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    assert_eq!(error.to_string(), "expected: disk full");
    // libpng's error path (a longjmp inside cairo, after the callback
    // returned WRITE_ERROR) ends the write: the failing call was the last.
    assert!(out.failed);
    assert_eq!(out.calls_after_failure, 0);
}

#[test]
fn a_truncated_png_s_read_error_comes_back_typed() {
    let _cairo = cairo_in_use();
    let mut png = Vec::new();
    write_to_png(&red_blue(), &mut png).expect("no io error");
    let truncated = &png[..png.len() / 2];
    let error = read_png(&mut Trickle(truncated))
        .err()
        .expect("the io::Error");
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
}

#[test]
fn bytes_that_are_no_png_give_an_error_surface_and_no_io_error() {
    let _cairo = cairo_in_use();
    let mut not_png = Trickle(b"GIF89a, not a PNG at all, long enough for a header");
    let surface = read_png(&mut not_png).expect("the reader did not fail");
    assert_ne!(surface.status(), CAIRO_STATUS_SUCCESS);
}

#[test]
fn a_panic_in_the_write_callback_fails_the_write_and_is_resumed() {
    let _cairo = cairo_in_use();
    quiet_expected_panics();
    let picture = red_blue();
    let mut calls = 0;
    let payload = payload_of(|| {
        WriteFunc::try_scope(
            |_data: &[u8], _length| -> Result<Status, io::Error> {
                calls += 1;
                panic!("expected panic in write")
            },
            // SAFETY: the lent callback, used by cairo for this call only.
            |write, closure| unsafe {
                cairo_surface_write_to_png_stream(picture.0, Some(write), closure)
            },
        )
    });
    assert_eq!(message_of(&*payload), "expected panic in write");
    assert_eq!(calls, 1);
}

// ---------------------------------------------------------------------------
// Stream surfaces (PDF, SVG): the surface owns its write closure
// ---------------------------------------------------------------------------

/// The key under which a stream surface keeps its write closure.
static STREAM_KEY: UserDataKey = UserDataKey { _unused: 0 };

/// A writer shared with the test, counting its drops.
struct Shared {
    bytes: Rc<RefCell<Vec<u8>>>,
    _drops: DropCounter,
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The bytes a `Shared` writer collects.
type Collected = Rc<RefCell<Vec<u8>>>;

fn shared() -> (Shared, Collected, Rc<Cell<u32>>) {
    let bytes = Rc::new(RefCell::new(Vec::new()));
    let drops = Rc::new(Cell::new(0));
    let writer = Shared {
        bytes: bytes.clone(),
        _drops: DropCounter(drops.clone()),
    };
    (writer, bytes, drops)
}

/// A stream surface made by `create` writing into `out`, which the surface
/// owns: the closure is handed over to cairo, which frees it through the
/// surface's user data once the surface is gone (after its last write,
/// since cairo finishes a surface before it ends its user data).
fn stream_surface<W: Write + 'static>(
    create: unsafe extern "C" fn(
        Option<WriteFn>,
        *mut c_void,
        c_double,
        c_double,
    ) -> *mut CairoSurface,
    mut out: W,
    width: c_double,
    height: c_double,
) -> Surface {
    let raw = WriteFunc::boxed(move |data: &[u8], _length| {
        out.write_all(data)?;
        Ok(CAIRO_STATUS_SUCCESS)
    })
    .into_raw();
    // SAFETY: the handed-over callback and its user data, kept alive by the
    // surface's user data below until cairo ends it.
    let surface = Surface(unsafe { create(Some(raw.function), raw.user_data, width, height) });
    // SAFETY: `raw.destroy` frees `raw.user_data` once, which cairo calls
    // when the surface dies; on failure (an error surface takes no user
    // data, and writes nothing) it is ours to call.
    unsafe {
        if cairo_surface_set_user_data(surface.0, &STREAM_KEY, raw.user_data, Some(raw.destroy))
            != 0
        {
            (raw.destroy)(raw.user_data);
        }
    }
    surface
}

#[test]
fn a_pdf_surface_writes_into_a_closure_it_owns_and_frees_it_once() {
    let _cairo = cairo_in_use();
    let (writer, bytes, drops) = shared();
    let pdf = stream_surface(cairo_pdf_surface_create_for_stream, writer, 100.0, 50.0);
    assert_eq!(pdf.status(), CAIRO_STATUS_SUCCESS);
    let cr = Context::new(&pdf);
    cr.fill_rect((0.0, 1.0, 0.0), 10.0, 10.0, 30.0, 20.0);
    assert!(
        bytes.borrow().is_empty(),
        "cairo 1.16 writes nothing before the first page ends"
    );
    // SAFETY: a context we own.
    resume_panics(|| unsafe { cairo_show_page(cr.0) });
    // So every call that may end a page (show_page, finish, the last
    // destroy) is guarded: the writer runs there.
    assert!(bytes.borrow().starts_with(b"%PDF-1."));
    drop(cr);
    assert_eq!(pdf.finish().expect("no io error"), CAIRO_STATUS_SUCCESS);
    {
        let bytes = bytes.borrow();
        assert!(bytes.starts_with(b"%PDF-1."), "{:?}", &bytes[..8]);
        assert!(bytes.ends_with(b"%%EOF\n"));
    }
    assert_eq!(drops.get(), 0, "the surface still holds its closure");
    let written = bytes.borrow().len();
    drop(pdf);
    assert_eq!(drops.get(), 1);
    assert_eq!(
        bytes.borrow().len(),
        written,
        "nothing written after finish"
    );
}

#[test]
fn a_pdf_surface_destroyed_unfinished_writes_its_end_before_freeing_the_closure() {
    let _cairo = cairo_in_use();
    let (writer, bytes, drops) = shared();
    let pdf = stream_surface(cairo_pdf_surface_create_for_stream, writer, 10.0, 10.0);
    Context::new(&pdf).fill_rect((1.0, 0.0, 0.0), 0.0, 0.0, 5.0, 5.0);
    drop(pdf);
    assert_eq!(drops.get(), 1);
    assert!(bytes.borrow().ends_with(b"%%EOF\n"));
}

#[test]
fn a_pdf_writer_s_io_error_comes_back_typed_from_finish() {
    let _cairo = cairo_in_use();
    let pdf = stream_surface(
        cairo_pdf_surface_create_for_stream,
        Failing::new(300),
        10.0,
        10.0,
    );
    Context::new(&pdf).fill_rect((1.0, 0.0, 0.0), 0.0, 0.0, 5.0, 5.0);
    let error = pdf.finish().expect_err("the io::Error");
    assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    // cairo 1.16's PDF surface (behind its paginated wrapper) does not show
    // the failed write in its status: the typed error is the only news of
    // it.
    assert_eq!(pdf.status(), CAIRO_STATUS_SUCCESS);
}

/// A writer that panics at its first call.
struct Panicking;

impl Write for Panicking {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        panic!("expected panic in a stream's writer")
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_writer_s_panic_when_the_surface_is_dropped_comes_out_of_the_drop() {
    let _cairo = cairo_in_use();
    quiet_expected_panics();
    let svg = stream_surface(cairo_svg_surface_create_for_stream, Panicking, 10.0, 10.0);
    Context::new(&svg).fill_rect((1.0, 0.0, 0.0), 0.0, 0.0, 5.0, 5.0);
    // The SVG surface writes everything when it is finished, here by the
    // last reference's destroy.
    let payload = payload_of(|| drop(svg));
    assert_eq!(message_of(&*payload), "expected panic in a stream's writer");
}

// ===========================================================================
// User data and mime data: cairo_destroy_func_t
// ===========================================================================

/// `cairo_destroy_func_t` for a value the binding boxed: cairo's last use
/// of it (the object died, or the key was replaced or removed). Runs inside
/// any cairo call that drops a reference, guarded or not: a panic in the
/// value's `Drop` with no guard is reported rather than aborting.
#[callback(unguarded = fallback)]
extern "C" fn drop_boxed<T>(#[user_data] value: Box<T>) {
    drop(value);
}

/// A typed key (cairo-rs's `UserDataKey<T>`): its address is cairo's key,
/// its type the values stored under it.
struct Key<T> {
    raw: UserDataKey,
    _values: std::marker::PhantomData<fn(T)>,
}

impl<T> Key<T> {
    const fn new() -> Key<T> {
        Key {
            raw: UserDataKey { _unused: 0 },
            _values: std::marker::PhantomData,
        }
    }
}

// SAFETY: the key is never written (only its address is used).
unsafe impl<T> Sync for Key<T> {}

/// `cairo_surface_set_user_data` / `cairo_set_user_data` for owned Rust
/// values: each stored as a `Box<Rc<T>>` that `drop_boxed` frees, read
/// back as a clone of the `Rc` (a borrow could outlive a replacement).
trait UserData {
    /// # Safety
    /// The set function's contract, for `object`.
    unsafe fn set_raw(
        &self,
        key: *const UserDataKey,
        data: *mut c_void,
        destroy: Option<DestroyFunc>,
    ) -> Status;
    fn get_raw(&self, key: *const UserDataKey) -> *mut c_void;

    fn set_user_data<T: 'static>(
        &self,
        key: &'static Key<T>,
        value: Option<Rc<T>>,
    ) -> Result<(), Status> {
        let Some(value) = value else {
            // SAFETY: null removes the key (cairo destroys the old value).
            let status = unsafe { self.set_raw(&key.raw, ptr::null_mut(), None) };
            return if status == CAIRO_STATUS_SUCCESS {
                Ok(())
            } else {
                Err(status)
            };
        };
        let data = drop_boxed::user_data::<Rc<T>>(Box::new(value));
        // SAFETY: `drop_boxed::<Rc<T>>` with user data made for it; cairo
        // calls it once, when it lets go of the value.
        let status = unsafe { self.set_raw(&key.raw, data, Some(drop_boxed::<Rc<T>>)) };
        if status != CAIRO_STATUS_SUCCESS {
            // SAFETY: cairo refused the value and will never call the
            // destroy with it: it is still ours.
            drop(unsafe { ffi_callback::reclaim_box::<*mut c_void, Rc<T>>(data) });
            return Err(status);
        }
        Ok(())
    }

    fn user_data<T: 'static>(&self, key: &'static Key<T>) -> Option<Rc<T>> {
        let data = self.get_raw(&key.raw).cast::<Rc<T>>();
        // SAFETY: under a `Key<T>` only `set_user_data::<T>` stores values,
        // boxed `Rc<T>`s, alive while cairo holds them (we clone before any
        // other call can replace it).
        unsafe { data.as_ref() }.cloned()
    }
}

impl UserData for Surface {
    unsafe fn set_raw(
        &self,
        key: *const UserDataKey,
        data: *mut c_void,
        destroy: Option<DestroyFunc>,
    ) -> Status {
        // SAFETY: the caller's promise; a surface we own. A replaced
        // value's destroy runs inside, guarded.
        resume_panics(|| unsafe { cairo_surface_set_user_data(self.0, key, data, destroy) })
    }
    fn get_raw(&self, key: *const UserDataKey) -> *mut c_void {
        // SAFETY: a surface we own.
        unsafe { cairo_surface_get_user_data(self.0, key) }
    }
}

impl UserData for Context {
    unsafe fn set_raw(
        &self,
        key: *const UserDataKey,
        data: *mut c_void,
        destroy: Option<DestroyFunc>,
    ) -> Status {
        // SAFETY: the caller's promise; a context we own.
        resume_panics(|| unsafe { cairo_set_user_data(self.0, key, data, destroy) })
    }
    fn get_raw(&self, key: *const UserDataKey) -> *mut c_void {
        // SAFETY: a context we own.
        unsafe { cairo_get_user_data(self.0, key) }
    }
}

/// A value counting its drops.
struct Tagged {
    tag: &'static str,
    _drops: DropCounter,
}

fn tagged(tag: &'static str) -> (Rc<Tagged>, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    (
        Rc::new(Tagged {
            tag,
            _drops: DropCounter(drops.clone()),
        }),
        drops,
    )
}

static TAG_KEY: Key<Tagged> = Key::new();
static OTHER_KEY: Key<Tagged> = Key::new();

fn user_data_is_freed_once_when_replaced_removed_or_orphaned<U: UserData, K>(holder: (U, K)) {
    let (first, first_drops) = tagged("first");
    let (second, second_drops) = tagged("second");
    let (third, third_drops) = tagged("third");
    let ud = &holder.0;
    ud.set_user_data(&TAG_KEY, Some(first)).unwrap();
    ud.set_user_data(&OTHER_KEY, Some(third)).unwrap();
    assert_eq!(ud.user_data(&TAG_KEY).map(|t| t.tag), Some("first"));
    assert_eq!(first_drops.get(), 0);
    // Replaced: cairo destroys the old value at once.
    ud.set_user_data(&TAG_KEY, Some(second)).unwrap();
    assert_eq!((first_drops.get(), second_drops.get()), (1, 0));
    assert_eq!(ud.user_data(&TAG_KEY).map(|t| t.tag), Some("second"));
    // Removed.
    ud.set_user_data(&TAG_KEY, None).unwrap();
    assert_eq!((first_drops.get(), second_drops.get()), (1, 1));
    assert!(ud.user_data(&TAG_KEY).is_none());
    // Orphaned: the object's death destroys the rest.
    let kept = ud.user_data(&OTHER_KEY).expect("third");
    drop(holder);
    assert_eq!(third_drops.get(), 0, "the clone taken above still holds it");
    assert_eq!(Rc::strong_count(&kept), 1);
    drop(kept);
    assert_eq!(
        (first_drops.get(), second_drops.get(), third_drops.get()),
        (1, 1, 1)
    );
}

#[test]
fn surface_user_data_is_freed_once_when_replaced_removed_or_the_surface_dies() {
    let _cairo = cairo_in_use();
    user_data_is_freed_once_when_replaced_removed_or_orphaned((Surface::image(1, 1), ()));
}

#[test]
fn context_user_data_is_freed_once_when_replaced_removed_or_the_context_dies() {
    let _cairo = cairo_in_use();
    let surface = Surface::image(1, 1);
    user_data_is_freed_once_when_replaced_removed_or_orphaned((Context::new(&surface), surface));
}

#[test]
fn user_data_that_an_error_surface_refuses_is_reclaimed_not_leaked() {
    let _cairo = cairo_in_use();
    // SAFETY: plain constructor; the size is refused, giving cairo's static
    // error surface, which takes no user data.
    let nil = Surface(unsafe { cairo_image_surface_create(CAIRO_FORMAT_ARGB32, -1, -1) });
    assert_eq!(nil.status(), CAIRO_STATUS_INVALID_SIZE);
    let (value, drops) = tagged("refused");
    assert_eq!(
        nil.set_user_data(&TAG_KEY, Some(value)),
        Err(CAIRO_STATUS_INVALID_SIZE)
    );
    assert_eq!(drops.get(), 1);
}

/// Bytes counting their drops, for mime data.
struct Bytes {
    data: Vec<u8>,
    _drops: DropCounter,
}

impl Surface {
    /// `cairo_surface_set_mime_data` with bytes cairo keeps (without a
    /// copy) until the surface and every snapshot of it let go of them.
    fn set_mime_data(&self, mime_type: &CStr, bytes: Bytes) -> Result<(), Status> {
        let bytes = Box::new(bytes);
        // The box does not move its contents: the pointer stays valid until
        // the destroy frees them.
        let (data, length) = (bytes.data.as_ptr(), bytes.data.len());
        let closure = drop_boxed::user_data::<Bytes>(bytes);
        // SAFETY: `length` bytes at `data`, alive until `drop_boxed::<Bytes>`
        // frees them, called once by cairo with `closure`, made for it; a
        // replaced value's destroy runs inside, guarded.
        let status = resume_panics(|| unsafe {
            cairo_surface_set_mime_data(
                self.0,
                mime_type.as_ptr(),
                data,
                length as c_ulong,
                Some(drop_boxed::<Bytes>),
                closure,
            )
        });
        if status != CAIRO_STATUS_SUCCESS {
            // SAFETY: refused: cairo will not call the destroy.
            drop(unsafe { ffi_callback::reclaim_box::<*mut c_void, Bytes>(closure) });
            return Err(status);
        }
        Ok(())
    }

    /// A copy of the surface's mime data (a borrow could outlive a
    /// `set_mime_data` that frees it, which takes `&self` too).
    fn mime_data(&self, mime_type: &CStr) -> Option<Vec<u8>> {
        let (mut data, mut length) = (ptr::null(), 0);
        // SAFETY: a surface we own; the bytes are copied before any other
        // call could replace them.
        unsafe {
            cairo_surface_get_mime_data(self.0, mime_type.as_ptr(), &mut data, &mut length);
            (!data.is_null()).then(|| std::slice::from_raw_parts(data, length as usize).to_vec())
        }
    }
}

fn bytes(text: &str) -> (Bytes, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    (
        Bytes {
            data: text.as_bytes().to_vec(),
            _drops: DropCounter(drops.clone()),
        },
        drops,
    )
}

#[test]
fn mime_data_reaches_an_svg_and_is_freed_once_when_the_last_snapshot_lets_go() {
    let _cairo = cairo_in_use();
    let (writer, svg_bytes, _) = shared();
    let image = red_blue();
    let (old, old_drops) = bytes("https://example.invalid/old.png");
    image.set_mime_data(CAIRO_MIME_TYPE_URI, old).unwrap();
    let (uri, uri_drops) = bytes("https://example.invalid/tile.png");
    image.set_mime_data(CAIRO_MIME_TYPE_URI, uri).unwrap();
    assert_eq!(
        (old_drops.get(), uri_drops.get()),
        (1, 0),
        "the old data is replaced"
    );
    assert_eq!(
        image.mime_data(CAIRO_MIME_TYPE_URI).as_deref(),
        Some(&b"https://example.invalid/tile.png"[..])
    );

    let svg = stream_surface(cairo_svg_surface_create_for_stream, writer, 4.0, 2.0);
    let cr = Context::new(&svg);
    // SAFETY: a context and a surface we own.
    unsafe {
        cairo_set_source_surface(cr.0, image.0, 0.0, 0.0);
        cairo_paint(cr.0);
    }
    drop(cr);
    drop(image);
    assert_eq!(svg.finish().expect("no io error"), CAIRO_STATUS_SUCCESS);
    let text = String::from_utf8(svg_bytes.borrow().clone()).unwrap();
    assert!(text.contains("https://example.invalid/tile.png"), "{text}");
    drop(svg);
    assert_eq!((old_drops.get(), uri_drops.get()), (1, 1));
}

// ===========================================================================
// Raster source patterns: a callback set whose state cairo owns
// ===========================================================================

/// `cairo_raster_source_{acquire,release,snapshot,copy,finish}_func_t`:
/// one state behind a raster source pattern's callback data. The pattern
/// owns it (handed over with `into_raw`): `finish` frees it when the
/// pattern dies. cairo copies patterns (a recording surface keeps a copy of
/// each source) with `memcpy`, callback data included, then calls `copy`
/// on the copy: `copy` gives the copy a state of its own, or two patterns
/// would each free the same one.
#[callback]
trait RasterSource {
    /// A new surface with the pixels of `extents`, or null on failure;
    /// cairo gives it back to `release`.
    unsafe extern "C" fn acquire(
        &mut self,
        pattern: *mut CairoPattern,
        #[user_data] callback_data: *mut c_void,
        target: *mut CairoSurface,
        #[into(&RectangleInt)] extents: *const RectangleInt,
    ) -> *mut CairoSurface;
    /// Destroys what `acquire` returned. Runs while a panic in another
    /// call poisons the state (until the guard returns every other entry
    /// is refused), or the surface would leak.
    #[callback(runs_poisoned)]
    unsafe extern "C" fn release(
        &self,
        pattern: *mut CairoPattern,
        #[user_data] callback_data: *mut c_void,
        surface: *mut CairoSurface,
    );
    /// The pattern is kept for later (a recording surface's copy): what it
    /// shows must not change any more.
    #[callback(fallback = CAIRO_STATUS_NO_MEMORY, on_error = CAIRO_STATUS_NO_MEMORY)]
    unsafe extern "C" fn snapshot(
        &mut self,
        pattern: *mut CairoPattern,
        #[user_data] callback_data: *mut c_void,
    ) -> Result<Status, String>;
    /// `pattern` is a new copy of `other`, still holding `other`'s data.
    #[callback(fallback = CAIRO_STATUS_NO_MEMORY)]
    unsafe extern "C" fn copy(
        &self,
        pattern: *mut CairoPattern,
        #[user_data] callback_data: *mut c_void,
        other: *const CairoPattern,
    ) -> Status;
    /// The pattern is gone: the set's destroy.
    unsafe extern "C" fn finish(
        self,
        pattern: *mut CairoPattern,
        #[user_data] callback_data: *mut c_void,
    );
}

/// What the entries of a raster source did, in order.
type Log = Rc<RefCell<Vec<String>>>;

/// A checkerboard of two colours, `tile` pixels a square.
struct Checker {
    name: String,
    colors: [u32; 2],
    tile: c_int,
    frozen: bool,
    /// Fails its snapshot, or panics in acquire.
    fail_snapshot: bool,
    panic_in_acquire: bool,
    /// Panics at this acquire (1 the first).
    panic_at_acquire: Option<u32>,
    acquires: u32,
    /// How many acquired surfaces were destroyed.
    surfaces_freed: Rc<Cell<u32>>,
    log: Log,
    /// The callback data `copy` gave each copy.
    copies: Rc<RefCell<Vec<*mut c_void>>>,
    drops: DropCounter,
}

impl Checker {
    fn new(colors: [u32; 2], tile: c_int) -> (Checker, Log, Rc<Cell<u32>>) {
        let log = Rc::new(RefCell::new(Vec::new()));
        let drops = Rc::new(Cell::new(0));
        let checker = Checker {
            name: "original".to_owned(),
            colors,
            tile,
            frozen: false,
            fail_snapshot: false,
            panic_in_acquire: false,
            panic_at_acquire: None,
            acquires: 0,
            surfaces_freed: Rc::default(),
            log: log.clone(),
            copies: Rc::default(),
            drops: DropCounter(drops.clone()),
        };
        (checker, log, drops)
    }

    fn note(&self, what: &str) {
        self.log.borrow_mut().push(format!("{what} {}", self.name));
    }
}

impl RasterSource for Checker {
    fn acquire(
        &mut self,
        _pattern: *mut CairoPattern,
        _target: *mut CairoSurface,
        extents: &RectangleInt,
    ) -> *mut CairoSurface {
        self.note("acquire");
        self.acquires += 1;
        if self.panic_in_acquire || self.panic_at_acquire == Some(self.acquires) {
            panic!("expected panic in acquire");
        }
        // SAFETY: plain constructor; the image is written through its data
        // (inside its size, one row at a time) and marked dirty after.
        unsafe {
            let image =
                cairo_image_surface_create(CAIRO_FORMAT_ARGB32, extents.width, extents.height);
            let stride = cairo_image_surface_get_stride(image) as usize;
            let data = cairo_image_surface_get_data(image);
            for y in 0..extents.height {
                let row = data.add(y as usize * stride).cast::<u32>();
                for x in 0..extents.width {
                    let square = ((extents.x + x) / self.tile + (extents.y + y) / self.tile) % 2;
                    row.add(x as usize).write(self.colors[square as usize]);
                }
            }
            cairo_surface_mark_dirty(image);
            // Counts the image's end.
            let image = Surface(image);
            let tag = Rc::new(Tagged {
                tag: "acquired",
                _drops: DropCounter(self.surfaces_freed.clone()),
            });
            image.set_user_data(&TAG_KEY, Some(tag)).unwrap();
            let raw = image.0;
            std::mem::forget(image);
            raw
        }
    }

    fn snapshot(&mut self, _pattern: *mut CairoPattern) -> Result<Status, String> {
        self.note("snapshot");
        if self.fail_snapshot {
            return Err(format!("expected: {} cannot be frozen", self.name));
        }
        self.frozen = true;
        Ok(CAIRO_STATUS_SUCCESS)
    }

    fn copy(&self, pattern: *mut CairoPattern, _other: *const CairoPattern) -> Status {
        self.note("copy");
        let twin = Checker {
            name: format!("{} copy", self.name),
            colors: self.colors,
            tile: self.tile,
            frozen: false,
            fail_snapshot: self.fail_snapshot,
            panic_in_acquire: self.panic_in_acquire,
            panic_at_acquire: self.panic_at_acquire,
            acquires: 0,
            surfaces_freed: self.surfaces_freed.clone(),
            log: self.log.clone(),
            copies: self.copies.clone(),
            drops: DropCounter(self.drops.0.clone()),
        };
        let data = twin.boxed().into_raw();
        self.copies.borrow_mut().push(data);
        // SAFETY: the copy's own state, handed over: its finish frees it.
        unsafe { cairo_raster_source_pattern_set_callback_data(pattern, data) };
        CAIRO_STATUS_SUCCESS
    }

    fn release(&self, _pattern: *mut CairoPattern, surface: *mut CairoSurface) {
        // SAFETY: the reference `acquire` returned, given back once.
        unsafe { cairo_surface_destroy(surface) };
    }

    fn finish(self, _pattern: *mut CairoPattern) {
        self.note(if self.frozen {
            "finish frozen"
        } else {
            "finish"
        });
    }
}

/// An owned raster source pattern over `state`.
struct Pattern(*mut CairoPattern);

impl Pattern {
    fn raster<S: RasterSource + 'static>(state: S, width: c_int, height: c_int) -> Pattern {
        let data = state.boxed().into_raw();
        // SAFETY: the set's entries for `S` with its handed-over state,
        // freed by `finish` when the pattern (or a copy's) dies.
        unsafe {
            let pattern =
                cairo_pattern_create_raster_source(data, CAIRO_CONTENT_COLOR_ALPHA, width, height);
            assert_eq!(cairo_raster_source_pattern_get_callback_data(pattern), data);
            cairo_raster_source_pattern_set_acquire(
                pattern,
                Some(S::ACQUIRE),
                Some(S::RELEASE),
            );
            cairo_raster_source_pattern_set_snapshot(pattern, Some(S::SNAPSHOT));
            cairo_raster_source_pattern_set_copy(pattern, Some(S::COPY));
            cairo_raster_source_pattern_set_finish(pattern, Some(S::FINISH));
            Pattern(pattern)
        }
    }
}

impl Drop for Pattern {
    fn drop(&mut self) {
        // SAFETY: the reference we own; `finish` runs inside, guarded.
        resume_panics(|| unsafe { cairo_pattern_destroy(self.0) });
    }
}

/// Paints `pattern` over a `width` x `height` image: the image, and the
/// context's status.
fn paint(pattern: &Pattern, width: c_int, height: c_int) -> (Surface, Status) {
    let image = Surface::image(width, height);
    let cr = Context::new(&image);
    // SAFETY: a context and a pattern we own.
    resume_panics(|| unsafe {
        cairo_set_source(cr.0, pattern.0);
        cairo_paint(cr.0);
    });
    let status = cr.status();
    (image, status)
}

#[test]
fn a_raster_source_paints_through_acquire_and_release_and_finish_frees_it() {
    let _cairo = cairo_in_use();
    let (checker, log, drops) = Checker::new([OPAQUE_RED, OPAQUE_GREEN], 2);
    let freed = checker.surfaces_freed.clone();
    let pattern = Pattern::raster(checker, 4, 4);
    let (image, status) = paint(&pattern, 4, 4);
    assert_eq!(status, CAIRO_STATUS_SUCCESS);
    let (r, g) = (OPAQUE_RED, OPAQUE_GREEN);
    assert_eq!(
        image.pixels(),
        [[r, r, g, g], [r, r, g, g], [g, g, r, r], [g, g, r, r]].concat()
    );
    assert_eq!(*log.borrow(), ["acquire original"]);
    assert_eq!(freed.get(), 1, "released");
    assert_eq!(drops.get(), 0);
    drop(pattern);
    assert_eq!(*log.borrow(), ["acquire original", "finish original"]);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_recording_surface_s_copy_gets_its_own_state_and_each_is_freed_once() {
    let _cairo = cairo_in_use();
    let (checker, log, drops) = Checker::new([OPAQUE_BLUE, OPAQUE_RED], 1);
    let freed = checker.surfaces_freed.clone();
    let pattern = Pattern::raster(checker, 2, 2);
    // SAFETY: plain constructor (unbounded).
    let recording =
        Surface(unsafe { cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, ptr::null()) });
    let cr = Context::new(&recording);
    // SAFETY: a context and a pattern we own.
    resume_panics(|| unsafe {
        cairo_set_source(cr.0, pattern.0);
        cairo_paint(cr.0);
    });
    assert_eq!(cr.status(), CAIRO_STATUS_SUCCESS);
    drop(cr);
    drop(pattern);
    assert_eq!(
        *log.borrow(),
        ["copy original", "snapshot original copy", "finish original"]
    );
    assert_eq!(drops.get(), 1, "the original is freed, the copy lives on");
    // Replaying the recording draws through the copy's state.
    let image = Surface::image(2, 2);
    let cr = Context::new(&image);
    // SAFETY: a context and a surface we own.
    resume_panics(|| unsafe {
        cairo_set_source_surface(cr.0, recording.0, 0.0, 0.0);
        cairo_paint(cr.0);
    });
    drop(cr);
    assert_eq!(
        image.pixels(),
        [OPAQUE_BLUE, OPAQUE_RED, OPAQUE_RED, OPAQUE_BLUE]
    );
    drop(recording);
    assert_eq!(
        log.borrow()[3..],
        ["acquire original copy", "finish frozen original copy"]
    );
    assert_eq!(freed.get(), 1, "released");
    assert_eq!(drops.get(), 2);
}

#[test]
fn a_panic_in_acquire_fails_the_paint_and_is_resumed() {
    let _cairo = cairo_in_use();
    quiet_expected_panics();
    let (mut checker, log, drops) = Checker::new([OPAQUE_RED, OPAQUE_GREEN], 2);
    checker.panic_in_acquire = true;
    let pattern = Pattern::raster(checker, 4, 4);
    let payload = payload_of(|| paint(&pattern, 4, 4));
    assert_eq!(message_of(&*payload), "expected panic in acquire");
    // The null that acquire returned is no surface to release.
    assert_eq!(*log.borrow(), ["acquire original"]);
    drop(pattern);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_surface_acquired_before_a_panic_of_the_same_state_is_still_released() {
    let _cairo = cairo_in_use();
    quiet_expected_panics();
    let (mut checker, log, drops) = Checker::new([OPAQUE_RED, OPAQUE_GREEN], 2);
    checker.panic_at_acquire = Some(2);
    let freed = checker.surfaces_freed.clone();
    let pattern = Pattern::raster(checker, 4, 4);
    let image = Surface::image(4, 4);
    let cr = Context::new(&image);
    // The pattern is both the source and the mask: cairo acquires it
    // twice before it releases the first.
    let payload = payload_of(|| {
        // SAFETY: a context and a pattern we own.
        resume_panics(|| unsafe {
            cairo_set_source(cr.0, pattern.0);
            cairo_mask(cr.0, pattern.0);
        })
    });
    assert_eq!(message_of(&*payload), "expected panic in acquire");
    assert_eq!(*log.borrow(), ["acquire original", "acquire original"]);
    // The null that the panicking acquire returned failed the mask.
    assert_eq!(cr.status(), CAIRO_STATUS_NO_MEMORY);
    // The panic poisoned the state until the guard returned, but
    // `release` runs on a poisoned state: the first acquire's surface is
    // freed.
    assert_eq!(freed.get(), 1);
    drop((cr, image, pattern));
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_snapshot_s_err_fails_the_recording_and_comes_back_typed() {
    let _cairo = cairo_in_use();
    let (mut checker, log, drops) = Checker::new([OPAQUE_RED, OPAQUE_GREEN], 2);
    checker.fail_snapshot = true;
    let copies = checker.copies.clone();
    let pattern = Pattern::raster(checker, 4, 4);
    // SAFETY: plain constructor (unbounded).
    let recording =
        Surface(unsafe { cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, ptr::null()) });
    let cr = Context::new(&recording);
    let result = try_resume(|| {
        // SAFETY: a context and a pattern we own.
        unsafe {
            cairo_set_source(cr.0, pattern.0);
            cairo_paint(cr.0);
        }
        cr.status()
    });
    assert_eq!(
        result,
        Err("expected: original copy cannot be frozen".to_owned())
    );
    assert_eq!(cr.status(), CAIRO_STATUS_NO_MEMORY);
    drop((cr, recording, pattern));
    assert_eq!(
        *log.borrow(),
        ["copy original", "snapshot original copy", "finish original"]
    );
    // cairo 1.16 frees the failed copy without finishing it
    // (`_cairo_recording_surface_paint` skips `_cairo_pattern_fini` when
    // the snapshot fails): the copy's state, handed over, is left to us.
    assert_eq!(drops.get(), 1);
    let leaked = copies.take();
    assert_eq!(leaked.len(), 1);
    // SAFETY: the copy's handed-over state, which cairo will never finish.
    drop(unsafe { <Checker as RasterSourceExt>::from_raw(leaked[0]) });
    assert_eq!(drops.get(), 2);
}

// ===========================================================================
// A user font face: callbacks that receive the scaled font, not user data
// ===========================================================================

/// The key under which a user font face keeps its state.
static FONT_KEY: UserDataKey = UserDataKey { _unused: 0 };

/// The state a user font face keeps under `FONT_KEY`.
///
/// # Safety
/// `scaled_font` is a live scaled font.
unsafe fn font_state(scaled_font: *mut CairoScaledFont) -> *mut c_void {
    // SAFETY: the caller's promise; the face outlives its scaled fonts.
    unsafe {
        cairo_font_face_get_user_data(cairo_scaled_font_get_font_face(scaled_font), &FONT_KEY)
    }
}

/// `cairo_user_scaled_font_{init,render_glyph,unicode_to_glyph}_func_t`.
/// None passes user data: each finds the face's state through the scaled
/// font it gets. cairo takes any status but success as the font's failure.
///
/// `send`: cairo calls them inside the drawing call of the thread that
/// draws, but frees the face (and so the state) on whichever thread lets
/// go of its last scaled font, which may be another thread's cache
/// eviction (cairo holds up to 256 unused scaled fonts over, each holding
/// its face). `on_panic = resume` then carries a panic back to that
/// drawing call. (A face drawn with on two threads at once would need
/// `sync`, which refuses `resume`.)
#[callback(
    // SAFETY: cairo passes the live scaled font being made or drawn, whose
    // face is a user font face with a state under `FONT_KEY` (a face
    // without one gives null, refused).
    user_data = unsafe { font_state(scaled_font) },
    fallback = CAIRO_STATUS_USER_FONT_ERROR,
    send,
    on_panic = resume
)]
trait UserFont {
    /// Sets the font's extents (in font space, 1.0 the em).
    unsafe extern "C" fn init(
        &self,
        scaled_font: *mut CairoScaledFont,
        cr: *mut Cairo,
        #[into(&mut FontExtents)] extents: *mut FontExtents,
    ) -> Status;
    /// Draws `glyph` into `cr` (font space) and sets its advance.
    unsafe extern "C" fn render_glyph(
        &self,
        scaled_font: *mut CairoScaledFont,
        glyph: c_ulong,
        cr: *mut Cairo,
        #[into(&mut TextExtents)] extents: *mut TextExtents,
    ) -> Status;
    /// The glyph for a character.
    #[callback(on_error = CAIRO_STATUS_USER_FONT_ERROR)]
    unsafe extern "C" fn unicode_to_glyph(
        &self,
        scaled_font: *mut CairoScaledFont,
        unicode: c_ulong,
        #[into(&mut c_ulong)] glyph_index: *mut c_ulong,
    ) -> Result<Status, UnknownChar>;
}

#[derive(Debug, PartialEq)]
struct UnknownChar(char);

/// A font of blocks: each glyph is a full em square, or nothing.
struct Blocks {
    /// Glyph `i` is `glyphs[i]`: its character, and whether it is inked.
    glyphs: Vec<(char, bool)>,
    panic_in_render: bool,
    inits: Arc<AtomicU32>,
    renders: Arc<Mutex<Vec<c_ulong>>>,
    _drops: SendDropCounter,
}

/// What a test watches of a font.
#[derive(Default)]
struct FontWatch {
    inits: Arc<AtomicU32>,
    renders: Arc<Mutex<Vec<c_ulong>>>,
    drops: Arc<AtomicU32>,
}

impl Blocks {
    fn new(panic_in_render: bool) -> (Blocks, FontWatch) {
        let watch = FontWatch::default();
        let font = Blocks {
            glyphs: vec![('X', true), (' ', false), ('.', false)],
            panic_in_render,
            inits: watch.inits.clone(),
            renders: watch.renders.clone(),
            _drops: SendDropCounter(watch.drops.clone()),
        };
        (font, watch)
    }
}

impl UserFont for Blocks {
    fn init(
        &self,
        _scaled_font: *mut CairoScaledFont,
        _cr: *mut Cairo,
        extents: &mut FontExtents,
    ) -> Status {
        self.inits.fetch_add(1, Ordering::Relaxed);
        extents.ascent = 1.0;
        extents.descent = 0.0;
        extents.height = 1.0;
        extents.max_x_advance = 1.0;
        CAIRO_STATUS_SUCCESS
    }

    fn render_glyph(
        &self,
        _scaled_font: *mut CairoScaledFont,
        glyph: c_ulong,
        cr: *mut Cairo,
        extents: &mut TextExtents,
    ) -> Status {
        self.renders.lock().unwrap().push(glyph);
        if self.panic_in_render {
            panic!("expected panic in render_glyph");
        }
        let Some(&(_, inked)) = self.glyphs.get(glyph as usize) else {
            return CAIRO_STATUS_USER_FONT_ERROR;
        };
        if inked {
            // SAFETY: the context cairo records the glyph with, for this call.
            unsafe {
                cairo_rectangle(cr, 0.0, -1.0, 1.0, 1.0);
                cairo_fill(cr);
            }
        }
        extents.x_advance = 1.0;
        CAIRO_STATUS_SUCCESS
    }

    fn unicode_to_glyph(
        &self,
        _scaled_font: *mut CairoScaledFont,
        unicode: c_ulong,
        glyph_index: &mut c_ulong,
    ) -> Result<Status, UnknownChar> {
        let c = char::from_u32(unicode as u32).expect("cairo passes characters");
        let index = self
            .glyphs
            .iter()
            .position(|&(g, _)| g == c)
            .ok_or(UnknownChar(c))?;
        *glyph_index = index as c_ulong;
        Ok(CAIRO_STATUS_SUCCESS)
    }
}

/// An owned font face.
struct FontFace(*mut CairoFontFace);

impl FontFace {
    /// A user font face drawing with `state`, which the face owns (freed
    /// through its user data when the face dies).
    fn user<S: UserFont + 'static>(state: S) -> FontFace {
        // SAFETY: the set's entries for `S`; each finds the state that the
        // face keeps under `FONT_KEY`, handed over to it here, before any
        // scaled font of the face exists.
        unsafe {
            let face = cairo_user_font_face_create();
            cairo_user_font_face_set_init_func(face, Some(S::INIT));
            cairo_user_font_face_set_render_glyph_func(face, Some(S::RENDER_GLYPH));
            cairo_user_font_face_set_unicode_to_glyph_func(face, Some(S::UNICODE_TO_GLYPH));
            let data = state.boxed().into_raw();
            if cairo_font_face_set_user_data(face, &FONT_KEY, data, Some(S::DESTROY))
                != CAIRO_STATUS_SUCCESS
            {
                drop(S::from_raw(data));
            }
            FontFace(face)
        }
    }
}

impl Drop for FontFace {
    fn drop(&mut self) {
        // SAFETY: the reference we own; the state's destroy may run inside.
        resume_panics(|| unsafe { cairo_font_face_destroy(self.0) });
    }
}

/// Shows `text` in `face` at size 10 on a `10 * len` x 10 image, under
/// `try_resume`: the image, the context's status, and the first `Err`.
fn show_text(face: &FontFace, text: &CStr) -> (Surface, Status, Result<(), UnknownChar>) {
    let image = Surface::image(10 * text.count_bytes() as c_int, 10);
    let cr = Context::new(&image);
    let result = try_resume(|| {
        // SAFETY: a context and a face we own; the text is UTF-8.
        unsafe {
            cairo_set_antialias(cr.0, CAIRO_ANTIALIAS_NONE);
            cairo_set_font_face(cr.0, face.0);
            cairo_set_font_size(cr.0, 10.0);
            cairo_move_to(cr.0, 0.0, 10.0);
            cairo_show_text(cr.0, text.as_ptr());
        }
    });
    let status = cr.status();
    (image, status, result)
}

const OPAQUE_BLACK: u32 = 0xff00_0000;

#[test]
fn text_rendered_through_a_user_font_finds_its_state_behind_the_face() {
    let _cairo = cairo_in_use();
    let (font, watch) = Blocks::new(false);
    let face = FontFace::user(font);
    let (image, status, result) = show_text(&face, c"X X.X");
    assert_eq!((status, result), (CAIRO_STATUS_SUCCESS, Ok(())));
    let centers: Vec<u32> = (0..5).map(|i| image.pixel(10 * i + 5, 5)).collect();
    assert_eq!(centers, [OPAQUE_BLACK, 0, OPAQUE_BLACK, 0, OPAQUE_BLACK]);
    assert_eq!(watch.inits.load(Ordering::Relaxed), 1);
    // One render per glyph: cairo caches them in the scaled font.
    let mut rendered = watch.renders.lock().unwrap().clone();
    rendered.sort();
    assert_eq!(rendered, [0, 1, 2]);
    drop((image, face));
    // cairo holds the scaled font over after its last reference (its
    // font map keeps up to 256 for reuse), and the scaled font its face:
    // the state is freed when cairo lets go of both.
    assert_eq!(watch.drops.load(Ordering::Relaxed), 0);
    drop(_cairo);
    reset_static_data();
    assert_eq!(watch.drops.load(Ordering::Relaxed), 1);
}

#[test]
fn an_unknown_character_fails_the_text_and_its_error_comes_back_typed() {
    let _cairo = cairo_in_use();
    let (font, watch) = Blocks::new(false);
    let face = FontFace::user(font);
    let (_image, status, result) = show_text(&face, c"X?");
    assert_eq!(result, Err(UnknownChar('?')));
    assert_eq!(status, CAIRO_STATUS_USER_FONT_ERROR);
    assert_eq!(watch.inits.load(Ordering::Relaxed), 1);
    drop((_image, face, _cairo));
    reset_static_data();
    assert_eq!(watch.drops.load(Ordering::Relaxed), 1);
}

#[test]
fn a_panic_in_render_glyph_fails_the_text_and_is_resumed() {
    let _cairo = cairo_in_use();
    quiet_expected_panics();
    let (font, watch) = Blocks::new(true);
    let face = FontFace::user(font);
    let payload = payload_of(|| show_text(&face, c"X"));
    assert_eq!(message_of(&*payload), "expected panic in render_glyph");
    assert_eq!(*watch.renders.lock().unwrap(), [0]);
    drop((face, _cairo));
    reset_static_data();
    assert_eq!(watch.drops.load(Ordering::Relaxed), 1);
}

#[test]
fn a_face_whose_state_is_missing_is_refused_not_dereferenced() {
    let _cairo = cairo_in_use();
    quiet_expected_panics();
    // SAFETY: the set's entries for `Blocks`, on a face that has no state
    // under `FONT_KEY`: `user_data = EXPR` finds null.
    let face = FontFace(unsafe {
        let face = cairo_user_font_face_create();
        cairo_user_font_face_set_init_func(face, Some(Blocks::INIT));
        cairo_user_font_face_set_render_glyph_func(face, Some(Blocks::RENDER_GLYPH));
        face
    });
    let payload = payload_of(|| show_text(&face, c"X"));
    let message = message_of(&*payload);
    assert!(message.contains("null"), "{message}");
    drop((face, _cairo));
    reset_static_data();
}

thread_local! {
    /// The reports made on this thread.
    static REPORTS: RefCell<Vec<(ffi_callback::ReportKind, String)>> = const { RefCell::new(Vec::new()) };
}

/// Keeps each report on its thread (and prints it, as the default does).
fn record_reports() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        ffi_callback::set_reporter(|report| {
            eprintln!("{report}");
            REPORTS.with(|r| r.borrow_mut().push((report.kind(), report.to_string())));
        });
    });
}

#[test]
fn a_write_error_while_a_surface_is_dropped_is_reported_not_lost() {
    let _cairo = cairo_in_use();
    record_reports();
    let pdf = stream_surface(
        cairo_pdf_surface_create_for_stream,
        Failing::new(300),
        10.0,
        10.0,
    );
    Context::new(&pdf).fill_rect((1.0, 0.0, 0.0), 0.0, 0.0, 5.0, 5.0);
    REPORTS.with(|r| r.borrow_mut().clear());
    // No guard in a drop can return the error: it is reported (by its
    // type: the report does not carry the `io::Error` itself).
    drop(pdf);
    let reports = REPORTS.with(|r| r.take());
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].0, ffi_callback::ReportKind::ErrorDropped);
    assert!(
        reports[0].1.contains("`c_cairo::WriteFunc`"),
        "{}",
        reports[0].1
    );
    assert!(
        reports[0].1.contains("std::io::error::Error"),
        "{}",
        reports[0].1
    );
}

#[test]
fn a_face_let_go_by_cairo_s_cache_on_another_thread_frees_its_state_there() {
    let cairo = cairo_in_use();
    let (font, watch) = Blocks::new(false);
    let face = FontFace::user(font);
    let (image, status, _) = show_text(&face, c"X");
    assert_eq!(status, CAIRO_STATUS_SUCCESS);
    drop((image, face));
    // Held over by cairo's scaled-font cache (no reset can run while this
    // test holds `cairo`).
    assert_eq!(watch.drops.load(Ordering::Relaxed), 0);
    drop(cairo);
    // Another thread empties the cache: the face, and its state, end there
    // (a default-contract set would leak the state there, reported).
    std::thread::spawn(reset_static_data).join().unwrap();
    assert_eq!(watch.drops.load(Ordering::Relaxed), 1);
}
