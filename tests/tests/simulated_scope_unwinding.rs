//! A scope's state (a set's, or a callback type's closure) that owns the C
//! object calling it, dropped while a panic leaves the scope: the state is
//! dropped in its holder, in place, where C's call from its `Drop` is
//! refused, and the panic that comes out is the first one (the entry's, or
//! the caller's own), not a refusal or panic raised during that unwind:
//! after an entry's panic under `scope`, `try_scope` or a guard inside the
//! closure, after another callback's panic, the caller's own panic, nested
//! scopes of two sets (audit 18). No C code runs, so the whole file runs
//! under Miri.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::rc::Rc;

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

#[derive(Debug)]
struct ReadError;

/// A libarchive-shaped client: `archive_read_free` calls the close entry.
#[callback]
trait Client {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    unsafe extern "C" fn check(&mut self, #[user_data] ud: *mut c_void)
    -> Result<c_int, ReadError>;
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

/// Stands in for `struct archive`.
struct FakeArchive {
    ud: *mut c_void,
    close: Option<ClientCloseFn>,
    closed: Rc<Cell<Option<c_int>>>,
}

/// `archive_read_free`: an opened archive is closed through its callback.
unsafe fn fake_archive_free(archive: *mut FakeArchive) {
    // SAFETY: the caller's promise.
    let archive = unsafe { Box::from_raw(archive) };
    if let Some(close) = archive.close {
        // SAFETY: the caller's promise.
        archive.closed.set(Some(unsafe { close(archive.ud) }));
    }
}

/// The binding's reader: it owns the archive and frees it when dropped.
struct Reader {
    archive: *mut FakeArchive,
    closes: Rc<Cell<u32>>,
    drops: Rc<Cell<u32>>,
    /// Released by the close (libarchive: the client's buffer).
    buffer: Option<Vec<u8>>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        // SAFETY: the reader's own archive, freed once.
        unsafe { fake_archive_free(self.archive) }
    }
}

impl Client for Reader {
    fn read(&mut self) -> c_int {
        panic!("a read failed");
    }
    fn check(&mut self) -> Result<c_int, ReadError> {
        Err(ReadError)
    }
    fn close(&mut self) -> c_int {
        self.closes.set(self.closes.get() + 1);
        drop(self.buffer.take());
        0
    }
}

struct Counts {
    closes: Rc<Cell<u32>>,
    drops: Rc<Cell<u32>>,
    closed: Rc<Cell<Option<c_int>>>,
}

fn reader() -> (Reader, *mut FakeArchive, Counts) {
    let (closes, drops, closed) = (Rc::default(), Rc::default(), Rc::default());
    let archive = Box::into_raw(Box::new(FakeArchive {
        ud: ptr::null_mut(),
        close: None,
        closed: Rc::clone(&closed),
    }));
    let reader = Reader {
        archive,
        closes: Rc::clone(&closes),
        drops: Rc::clone(&drops),
        buffer: Some(vec![1, 2, 3]),
    };
    (
        reader,
        archive,
        Counts {
            closes,
            drops,
            closed,
        },
    )
}

/// Registers the lent state with the fake archive, as `archive_read_open` does.
unsafe fn open(archive: *mut FakeArchive, ud: *mut c_void) {
    // SAFETY: the caller's promise.
    unsafe {
        (*archive).ud = ud;
        (*archive).close = Some(Reader::CLOSE);
    }
}

/// The README's advice: a guard inside the closure (here `try_scope`'s
/// own) re-raises the panic there; the state is then dropped by the
/// unwinding of `call`, in its holder, where the close is refused. The
/// refusal must be quiet and the user's panic must come out.
#[test]
fn try_scope_keeps_the_entrys_panic_when_the_state_closes_in_its_holder() {
    let (reader, archive, counts) = reader();
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            // SAFETY: the fake archive is alive (its reader owns it), and the
            // user data is the lent state its callbacks expect.
            reader.try_scope::<c_int>(|ud| unsafe {
                open(archive, ud);
                Reader::READ(ud)
            })
        })
    });
    assert_eq!(counts.drops.get(), 1);
    assert_eq!(counts.closes.get(), 0);
    assert_eq!(counts.closed.get(), Some(0));
    assert_eq!(message(&*payload), "a read failed", "raised: {raised:?}");
    assert_eq!(raised[0], "a read failed");
}

/// The same with a `resume_panics` inside `scope`'s closure.
#[test]
fn an_inner_guard_keeps_the_entrys_panic_when_the_state_closes_in_its_holder() {
    let (reader, archive, counts) = reader();
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            // SAFETY: the fake archive is alive (its reader owns it), and the
            // user data is the lent state its callbacks expect.
            reader.scope(|ud| unsafe {
                open(archive, ud);
                resume_panics(|| Reader::READ(ud))
            })
        })
    });
    assert_eq!(counts.drops.get(), 1);
    assert_eq!(message(&*payload), "a read failed", "raised: {raised:?}");
    assert_eq!(raised[0], "a read failed");
}

/// The caller's own panic inside `call` (no callback panicked).
#[test]
fn the_callers_own_panic_in_call_is_the_one_raised() {
    let (reader, archive, counts) = reader();
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            reader.scope(|ud| {
                // SAFETY: the fake archive is alive (its reader owns it), and the
                // user data is the lent state its callbacks expect.
                unsafe { open(archive, ud) };
                panic!("the caller's own panic");
            })
        })
    });
    assert_eq!(counts.drops.get(), 1);
    assert_eq!(
        message(&*payload),
        "the caller's own panic",
        "raised: {raised:?}"
    );
}

/// Two sets' scopes nested: the inner state's entry panics; the outer
/// state owns the C object that closes through it.
#[test]
fn nested_scopes_of_two_sets_raise_the_entrys_panic() {
    let (outer, archive, counts) = reader();
    let (inner, _inner_archive, inner_counts) = reader();
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            outer.scope(|ud| {
                // SAFETY: the fake archive is alive (its reader owns it), and the
                // user data is the lent state its callbacks expect.
                unsafe { open(archive, ud) };
                // SAFETY: the fake archive is alive (its reader owns it), and the
                // user data is the lent state its callbacks expect.
                inner.scope(|inner_ud| unsafe { Reader::READ(inner_ud) })
            })
        })
    });
    assert_eq!(counts.drops.get(), 1);
    assert_eq!(inner_counts.drops.get(), 1);
    assert_eq!(message(&*payload), "a read failed", "raised: {raised:?}");
}

/// An `Err` kept by try_scope: the state comes back, no refusal.
#[test]
fn try_scope_with_an_error_gives_the_state_back() {
    let (reader, archive, counts) = reader();
    let ((result, reader), raised) = panics_during(|| {
        // SAFETY: the fake archive is alive (its reader owns it), and the
        // user data is the lent state its callbacks expect.
        reader.try_scope::<c_int>(|ud| unsafe {
            open(archive, ud);
            Reader::CHECK(ud)
        })
    });
    assert!(matches!(result, Err(ReadError)));
    assert!(raised.is_empty(), "{raised:?}");
    // The reader's Drop would call close with a dead ud now: close it first.
    // SAFETY: the fake archive is alive (its reader owns it), and the
    // user data is the lent state its callbacks expect.
    unsafe { (*archive).close = None };
    drop(reader);
    assert_eq!(counts.drops.get(), 1);
}

/// R whose Drop panics, on the kept-panic path: the kept panic wins and
/// the state is dropped once.
struct PanicsOnDrop;
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("R's drop");
    }
}

#[test]
fn a_return_value_whose_drop_panics_on_the_kept_panic_path() {
    let (reader, archive, counts) = reader();
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            // SAFETY: the fake archive is alive (its reader owns it), and the
            // user data is the lent state its callbacks expect.
            reader.scope(|ud| unsafe {
                open(archive, ud);
                Reader::READ(ud);
                PanicsOnDrop
            })
        })
    });
    assert_eq!(counts.drops.get(), 1);
    assert_eq!(counts.closes.get(), 0);
    assert_eq!(message(&*payload), "a read failed", "raised: {raised:?}");
}

// ---------------------------------------------------------------------------
// The state dropped through a moved holder: `drop(holder)` in set::scope
// ---------------------------------------------------------------------------

/// A fn-form callback of the same C call that panics: the scope's guard
/// keeps its panic, but the set's holder is not poisoned.
#[callback]
extern "C" fn other_callback(#[user_data] _seen: &i32) -> c_int {
    panic!("another callback panicked");
}

/// b46dc30 drops the state with `drop(holder)`, which moves the holder
/// (pinned in spirit: C has its address) before dropping it. The state's
/// `Drop` frees the C object, which calls the close entry with the address
/// C was given: the moved-from copy, not destroyed, not poisoned, so the
/// close runs user code on a stale bitwise copy of the state being dropped.
#[test]
fn a_state_dropped_after_another_callbacks_panic_is_closed_through_its_own_holder() {
    let (reader, archive, counts) = reader();
    let seen = 0;
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            // SAFETY: the fake archive is alive (its reader owns it), and the
            // user data is the lent state its callbacks expect.
            reader.scope(|ud| unsafe {
                open(archive, ud);
                other_callback(other_callback::user_data(&seen))
            })
        })
    });
    assert_eq!(
        message(&*payload),
        "another callback panicked",
        "raised: {raised:?}"
    );
    assert_eq!(counts.drops.get(), 1);
    assert_eq!(
        counts.closes.get(),
        0,
        "the close ran user code on a moved-from holder"
    );
    assert_eq!(counts.closed.get(), Some(0));
}

// ---------------------------------------------------------------------------
// The same replacement with a callback type's scope (a closure owning the
// C object that calls it back when freed)
// ---------------------------------------------------------------------------

#[callback]
type Tick = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

/// Owns a "C object" that calls the callback once more when freed.
struct OwnsCObject {
    registered: Rc<Cell<Option<(TickFn, *mut c_void)>>>,
}

impl Drop for OwnsCObject {
    fn drop(&mut self) {
        if let Some((function, ud)) = self.registered.get() {
            // SAFETY: C's contract: the callback and the user data it was given.
            unsafe { function(ud) };
        }
    }
}

#[test]
fn a_callback_types_scope_raises_the_callers_panic_not_the_drops_refusal() {
    let registered = Rc::new(Cell::new(None));
    let object = OwnsCObject {
        registered: Rc::clone(&registered),
    };
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            Tick::scope(
                move || {
                    let _ = &object;
                    0
                },
                |function, ud| {
                    registered.set(Some((function, ud)));
                    panic!("the caller's own panic");
                },
            )
        })
    });
    assert_eq!(
        message(&*payload),
        "the caller's own panic",
        "raised: {raised:?}"
    );
}

// ---------------------------------------------------------------------------
// A callback that panics while the scope's call unwinds (the README's
// advice: free the C object in a `Drop` guard made before the call)
// ---------------------------------------------------------------------------

#[callback]
trait Closing {
    unsafe extern "C" fn close(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct PanickyClose;

impl Closing for PanickyClose {
    fn close(&mut self) -> c_int {
        panic!("the close panicked");
    }
}

/// Frees the C object (which calls the close entry) when dropped.
struct CloseOnDrop(*mut c_void);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        // SAFETY: the lent state's user data, alive in the scope.
        unsafe { <PanickyClose as ClosingExt>::CLOSE(self.0) };
    }
}

#[test]
fn a_callback_panicking_while_the_call_unwinds_does_not_replace_the_first_panic() {
    let (payload, raised) = panics_during(|| {
        panic_payload(|| {
            PanickyClose.scope(|ud| {
                let _free = CloseOnDrop(ud);
                panic!("the caller's own panic");
            })
        })
    });
    assert_eq!(
        message(&*payload),
        "the caller's own panic",
        "raised: {raised:?}"
    );
}
