//! `#[into(&str)]` against C APIs simulated in Rust: a C string (or `len`
//! bytes) borrowed as `&str` for the call, refused when it is null or not
//! UTF-8, under the callback's policy, in callback types, a set's entries
//! and `#[callback]` fns. No C code runs, so the whole file runs under Miri
//! (`scripts/miri.sh`).

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::rc::Rc;

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

/// Counts its drops (captured by a closure to check it is freed once).
struct Tracked(Rc<Cell<u32>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// "ab", then a byte that no UTF-8 sequence starts with, NUL-terminated.
const NOT_UTF8: &[u8] = b"ab\xffc\0";

fn not_utf8() -> *const c_char {
    NOT_UTF8.as_ptr().cast()
}

// ---------------------------------------------------------------------------
// 1. A callback type: checked before the call reaches the holder
// ---------------------------------------------------------------------------

/// A parser's element handler, as expat hands one: the name, and an
/// attribute that may be absent (null), both UTF-8.
#[callback(fallback = -1)]
type OnElement = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&str)] name: *const c_char,
    #[into(Option<&str>)] lang: *const c_char,
) -> c_int;

#[test]
fn into_str_borrows_a_utf8_c_string_for_the_call() {
    let mut log = Vec::new();
    let got = OnElement::scope(
        |name: &str, lang: Option<&str>| {
            log.push((name.to_owned(), lang.map(str::to_owned)));
            name.len() as c_int
        },
        // SAFETY: `f`/`ud` are alive for the scope; the strings are
        // NUL-terminated and valid for each call.
        |f, ud| unsafe {
            [
                f(ud, c"title".as_ptr(), ptr::null()),
                f(ud, c"caf\xc3\xa9".as_ptr(), c"fr".as_ptr()),
                f(ud, c"".as_ptr(), c"".as_ptr()),
            ]
        },
    );
    assert_eq!(got, [5, 5, 0], "`é` is two bytes");
    assert_eq!(
        log,
        [
            ("title".to_owned(), None),
            ("café".to_owned(), Some("fr".to_owned())),
            (String::new(), Some(String::new())),
        ]
    );
}

#[test]
fn into_str_refuses_bytes_that_are_not_utf8_before_the_call_without_poisoning() {
    let calls = Cell::new(0);
    let mut got = [0; 3];
    let payload = panic_payload(|| {
        OnElement::scope(
            |_: &str, _: Option<&str>| {
                calls.set(calls.get() + 1);
                0
            },
            |f, ud| {
                // SAFETY: `f`/`ud` are alive for the scope; every non-null
                // pointer is a NUL-terminated string, valid for the call.
                got = unsafe {
                    [
                        f(ud, c"ok".as_ptr(), ptr::null()),
                        f(ud, not_utf8(), ptr::null()),
                        f(ud, c"ok".as_ptr(), ptr::null()),
                    ]
                };
            },
        )
    });
    assert_eq!(
        got,
        [0, -1, 0],
        "the refused call gets the fallback; refused before it reached the holder, it leaves \
         the closure's state untouched, so the holder is not poisoned and the next call runs"
    );
    assert_eq!(calls.get(), 2);
    let message = message(&*payload);
    assert!(
        message.contains(
            "OnElement` refused the call: its parameter `name` is not UTF-8 (valid up to byte \
             2), where it is borrowed as `&str`"
        ),
        "{message}"
    );
}

#[test]
fn into_str_refuses_null_and_an_option_refuses_only_bytes_that_are_not_utf8() {
    // The first refusal of a scope is the one resumed: one scope each.
    for (name, lang, expected) in [
        (
            ptr::null(),
            ptr::null(),
            "its parameter `name` is null, where it is borrowed as `&str`",
        ),
        (
            c"x".as_ptr(),
            not_utf8(),
            "its parameter `lang` is not UTF-8 (valid up to byte 2), where it is borrowed as \
             `core::option::Option<&str>`",
        ),
    ] {
        let calls = Cell::new(0);
        let mut got = [0; 2];
        let payload = panic_payload(|| {
            OnElement::scope(
                |_: &str, lang: Option<&str>| {
                    calls.set(calls.get() + 1);
                    c_int::from(lang.is_none())
                },
                |f, ud| {
                    // SAFETY: as above.
                    got = unsafe { [f(ud, name, lang), f(ud, c"x".as_ptr(), ptr::null())] };
                },
            )
        });
        assert_eq!(got, [-1, 1], "refused, then `None` for null");
        assert_eq!(calls.get(), 1);
        let message = message(&*payload);
        assert!(message.contains(expected), "{message}");
    }
}

/// Under `on_panic = fallback`: the refusal is reported, C gets the
/// fallback, nothing is resumed. Without user data, so calls may come on
/// any thread: `str` is `Sync`.
#[callback(on_panic = fallback, fallback = -1)]
type NameLength = unsafe extern "C" fn(#[into(&str)] name: *mut c_char) -> c_int;

#[test]
fn into_str_works_without_user_data_and_under_the_fallback_policy() {
    let holder = NameLength::new(|name: &str| name.chars().count() as c_int);
    let function = holder.function();
    let mut name = *b"na\xc3\xafve\0";
    let mut bad = *b"\xc3(\0";
    // SAFETY: NUL-terminated strings, valid for each call; null is refused,
    // not read.
    let (got, raised) = panics_during(|| unsafe {
        [
            function(name.as_mut_ptr().cast()),
            function(bad.as_mut_ptr().cast()),
            function(ptr::null_mut()),
        ]
    });
    assert_eq!(got, [5, -1, -1]);
    assert!(
        raised[0].contains("its parameter `name` is not UTF-8 (valid up to byte 0)"),
        "{raised:?}"
    );
    assert!(
        raised[1].contains("its parameter `name` is null"),
        "{raised:?}"
    );
}

/// A `once` closure checks inside its call: a refusal drops the closure.
#[test]
fn into_str_refused_in_a_once_call_drops_the_closure() {
    let drops = Rc::new(Cell::new(0));
    let guard = Tracked(drops.clone());
    let raw = OnElement::once(move |_: &str, _: Option<&str>| {
        let _keep = &guard;
        0
    })
    .into_raw();
    let mut got = 0;
    let payload = panic_payload(|| {
        // SAFETY: called once, as a `once` holder allows; the string is
        // NUL-terminated.
        resume_panics(|| got = unsafe { (raw.function)(raw.user_data, not_utf8(), ptr::null()) })
    });
    assert!(
        message(&*payload).contains("its parameter `name` is not UTF-8 (valid up to byte 2)"),
        "{}",
        message(&*payload)
    );
    assert_eq!(got, -1);
    assert_eq!(drops.get(), 1, "the closure was dropped, not leaked");
}

// ---------------------------------------------------------------------------
// 2. `len = EXPR`: that many bytes, no NUL needed, checked inside the call
// ---------------------------------------------------------------------------

/// sqlite's `sqlite3_value_text` with `sqlite3_value_bytes`, or expat's
/// character data (`XML_Char *s, int len`), which is not NUL-terminated.
#[callback(fallback = -1)]
type OnText = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&str, len = len as usize)] text: *const u8,
    len: c_int,
    #[into(Option<&str>, len = note_len)] note: *const c_void,
    note_len: usize,
) -> c_int;

#[test]
fn into_str_with_len_borrows_that_many_bytes() {
    let mut log = Vec::new();
    let got = OnText::scope(
        |text: &str, _: c_int, note: Option<&str>, _: usize| {
            log.push((text.to_owned(), note.map(str::to_owned)));
            0
        },
        // SAFETY: `f`/`ud` are alive for the scope; each pointer is null or
        // has the bytes its length says, valid for the call.
        |f, ud| unsafe {
            let data = "héllo world".as_ptr();
            [
                f(ud, data, 6, ptr::null(), 3),
                f(ud, ptr::null(), 0, data.add(7).cast(), 5),
                f(ud, data, 0, data.cast(), 0),
            ]
        },
    );
    assert_eq!(got, [0, 0, 0]);
    assert_eq!(
        log,
        [
            ("héllo".to_owned(), None),
            (String::new(), Some("world".to_owned())),
            (String::new(), Some(String::new())),
        ],
        "no NUL needed; null with a length of 0 is \"\", an `Option` is `None` for null"
    );
}

#[test]
fn into_str_with_len_refuses_inside_the_call() {
    for (bytes, len, expected) in [
        (
            "hé".as_ptr(),
            2,
            "its parameter `text` is not UTF-8 (valid up to byte 1), where it is borrowed as \
             `&str`",
        ),
        (
            ptr::null(),
            1,
            "its parameter `text` is null, where it is borrowed as `&str`",
        ),
    ] {
        let calls = Cell::new(0);
        let mut got = [0; 2];
        let payload = panic_payload(|| {
            OnText::scope(
                |_: &str, _: c_int, _: Option<&str>, _: usize| {
                    calls.set(calls.get() + 1);
                    0
                },
                |f, ud| {
                    // SAFETY: `f`/`ud` are alive for the scope; `bytes` is
                    // null or has `len` bytes (the first two of "hé" cut
                    // `é` in half), valid for the call.
                    got = unsafe {
                        [
                            f(ud, bytes, len, ptr::null(), 0),
                            f(ud, c"ok".as_ptr().cast(), 2, ptr::null(), 0),
                        ]
                    };
                },
            )
        });
        assert_eq!(
            got,
            [-1, -1],
            "refused inside the call, as a slice is: the holder is poisoned"
        );
        assert_eq!(calls.get(), 0);
        let message = message(&*payload);
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn into_option_str_with_len_refuses_bytes_that_are_not_utf8() {
    let mut got = 0;
    let payload = panic_payload(|| {
        OnText::scope(
            |_: &str, _: c_int, _: Option<&str>, _: usize| 0,
            |f, ud| {
                // SAFETY: `f`/`ud` are alive for the scope; `NOT_UTF8` has
                // 5 bytes.
                got = unsafe { f(ud, ptr::null(), 0, NOT_UTF8.as_ptr().cast(), 4) };
            },
        )
    });
    assert_eq!(got, -1);
    let message = message(&*payload);
    assert!(
        message.contains(
            "its parameter `note` is not UTF-8 (valid up to byte 2), where it is borrowed as \
             `core::option::Option<&str>`"
        ),
        "{message}"
    );
}

/// A `&str` beside a `&mut` buffer: C passing the same memory for both is
/// refused (the string's extent is its bytes and its NUL).
#[callback(fallback = -1)]
type Transcribe = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&str)] from: *const c_char,
    #[into(&mut [u8], len = size)] to: *mut c_char,
    size: usize,
) -> c_int;

#[test]
fn into_str_overlapping_a_mut_borrow_is_refused() {
    let mut buffer = *b"abc\0....";
    let mut got = [0; 2];
    let payload = panic_payload(|| {
        Transcribe::scope(
            |from: &str, to: &mut [u8], _: usize| {
                to[..from.len()].copy_from_slice(from.as_bytes());
                0
            },
            |f, ud| {
                let base = buffer.as_mut_ptr().cast::<c_char>();
                // SAFETY: `f`/`ud` are alive for the scope; "abc" and the
                // buffer's last four bytes (apart), then the NUL and its
                // next byte (within the string's extent, refused).
                got = unsafe { [f(ud, base, base.add(4), 4), f(ud, base, base.add(3), 2)] };
            },
        )
    });
    assert_eq!(got, [0, -1]);
    assert_eq!(&buffer, b"abc\0abc.");
    let message = message(&*payload);
    assert!(
        message.contains("its parameters `to` and `from` overlap"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// 3. A set's entries
// ---------------------------------------------------------------------------

/// A tokenizer's handlers: a word (a C string), a run of text with its
/// length, and a destroy entry with a borrowed reason.
#[callback]
trait Words {
    #[callback(fallback = -1)]
    unsafe extern "C" fn word(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&str)] word: *const c_char,
    ) -> c_int;
    #[callback(fallback = -1)]
    unsafe extern "C" fn run(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&str, len = n)] text: *const u8,
        n: usize,
    ) -> c_int;
    #[callback(fallback = -1)]
    unsafe extern "C" fn close(
        self,
        #[user_data] ud: *mut c_void,
        #[into(Option<&str>)] reason: *const c_char,
    ) -> c_int;
}

/// What the methods received.
type Received = Rc<RefCell<Vec<String>>>;

struct Collector {
    words: Received,
    _drops: Tracked,
}

impl Words for Collector {
    fn word(&mut self, word: &str) -> c_int {
        self.words.borrow_mut().push(word.to_owned());
        0
    }
    fn run(&mut self, text: &str, _: usize) -> c_int {
        self.words
            .borrow_mut()
            .extend(text.split(' ').map(str::to_owned));
        0
    }
    fn close(self, reason: Option<&str>) -> c_int {
        self.words.borrow_mut().push(format!("closed: {reason:?}"));
        0
    }
}

fn collector() -> (Collector, Received, Rc<Cell<u32>>) {
    let words = Rc::new(RefCell::new(Vec::new()));
    let drops = Rc::new(Cell::new(0));
    let state = Collector {
        words: words.clone(),
        _drops: Tracked(drops.clone()),
    };
    (state, words, drops)
}

#[test]
fn into_str_borrows_for_a_set_and_refuses_before_the_method() {
    let (state, words, _) = collector();
    let mut got = [0; 4];
    let payload = panic_payload(|| {
        state.scope(|ud| {
            // SAFETY: `ud` is the scoped state, alive for this call; the
            // strings are NUL-terminated or have `n` bytes.
            got = unsafe {
                [
                    Collector::WORD(ud, c"one".as_ptr()),
                    Collector::WORD(ud, not_utf8()),
                    Collector::RUN(ud, "two three!".as_ptr(), 9),
                    Collector::WORD(ud, c"four".as_ptr()),
                ]
            };
        })
    });
    assert_eq!(got, [0, -1, 0, 0], "not poisoned: the refusal came first");
    assert_eq!(*words.borrow(), ["one", "two", "three", "four"]);
    let message = message(&*payload);
    assert!(
        message.contains(
            "Words::word` refused the call: its parameter `word` is not UTF-8 (valid up to \
             byte 2), where it is borrowed as `&str`"
        ),
        "{message}"
    );
}

#[test]
fn into_str_in_a_destroy_entry_refuses_inside_and_drops_the_state() {
    let (state, words, drops) = collector();
    let ud = state.boxed().into_raw();
    let mut got = 0;
    let payload = panic_payload(|| {
        // SAFETY: `ud` carries the boxed state; `CLOSE`, its destroy, is
        // called once, with a NUL-terminated string.
        resume_panics(|| got = unsafe { Collector::CLOSE(ud, not_utf8()) })
    });
    assert!(
        message(&*payload).contains("its parameter `reason` is not UTF-8 (valid up to byte 2)"),
        "{}",
        message(&*payload)
    );
    assert_eq!(got, -1);
    assert!(words.borrow().is_empty(), "the method did not run");
    assert_eq!(drops.get(), 1, "the state was dropped, not leaked");

    let (state, words, drops) = collector();
    let ud = state.boxed().into_raw();
    // SAFETY: as above, with null (`None`).
    let got = resume_panics(|| unsafe { Collector::CLOSE(ud, ptr::null()) });
    assert_eq!(got, 0);
    assert_eq!(*words.borrow(), ["closed: None"]);
    assert_eq!(drops.get(), 1);
}

// ---------------------------------------------------------------------------
// 4. A `#[callback]` fn
// ---------------------------------------------------------------------------

/// A name's length in characters, with an optional suffix's.
#[callback(on_panic = fallback, fallback = -1)]
extern "C" fn char_count(
    #[into(&str)] name: *const c_char,
    #[into(Option<&str>, len = suffix_len)] suffix: *const c_char,
    suffix_len: usize,
) -> c_int {
    (name.chars().count() + suffix.map_or(0, |s| s.chars().count())) as c_int
}

#[test]
fn into_str_in_a_fn_refuses_with_the_fallback_and_a_report() {
    let f: unsafe extern "C" fn(*const c_char, *const c_char, usize) -> c_int = char_count;
    // SAFETY: NUL-terminated strings (or `suffix_len` bytes) or null, valid
    // for each call.
    let (got, raised) = panics_during(|| unsafe {
        [
            f(c"\xce\xbb".as_ptr(), ptr::null(), 9),
            f(c"ab".as_ptr(), c"cdef".as_ptr(), 2),
            f(not_utf8(), ptr::null(), 0),
            f(c"ab".as_ptr(), not_utf8(), 3),
            f(ptr::null(), ptr::null(), 0),
        ]
    });
    assert_eq!(got, [1, 4, -1, -1, -1]);
    assert_eq!(raised.len(), 3, "{raised:?}");
    assert!(
        raised[0].contains(
            "char_count` refused the call: its parameter `name` is not UTF-8 (valid up to byte \
             2), where it is borrowed as `&str`"
        ),
        "{raised:?}"
    );
    assert!(
        raised[1].contains("its parameter `suffix` is not UTF-8 (valid up to byte 2)"),
        "{raised:?}"
    );
    assert!(
        raised[2].contains("its parameter `name` is null"),
        "{raised:?}"
    );
}

// ---------------------------------------------------------------------------
// Bytes changed between the check and the borrow
// ---------------------------------------------------------------------------

thread_local! {
    /// A C string that safe code can change: "abc".
    static CHANGING: [Cell<u8>; 4] = const { [Cell::new(b'a'), Cell::new(b'b'), Cell::new(b'c'), Cell::new(0)] };
}

/// A conversion that changes the string the next parameter borrows: user
/// code that runs after the check before the call, and before the borrow
/// inside it (the audit's repro).
#[derive(Debug)]
struct Breaks;

impl From<c_int> for Breaks {
    fn from(_: c_int) -> Self {
        // The lead byte of a four-byte sequence, then the NUL: not UTF-8.
        CHANGING.with(|bytes| bytes[2].set(0xF0));
        Breaks
    }
}

#[callback(fallback = -1)]
type Changed = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(Breaks)] n: c_int,
    #[into(&str)] text: *const c_char,
) -> c_int;

#[test]
fn bytes_changed_after_the_check_are_refused_as_they_are_borrowed() {
    CHANGING.with(|bytes| bytes[2].set(b'c'));
    let text: *const c_char = CHANGING.with(|bytes| bytes.as_ptr().cast());
    let ran = Cell::new(false);
    let mut got = 0;
    let payload = panic_payload(|| {
        Changed::scope(
            |_: Breaks, text: &str| {
                ran.set(true);
                text.chars().count() as c_int
            },
            // SAFETY: C passes the string it was given, unchanged by C.
            |f, ud| got = unsafe { f(ud, 1, text) },
        )
    });
    assert!(
        !ran.get(),
        "no `&str` that is not UTF-8 reached the closure"
    );
    assert_eq!(got, -1);
    assert!(
        message(&*payload).contains("its parameter `text` is not UTF-8 (valid up to byte 2)"),
        "{}",
        message(&*payload)
    );
}

// ---------------------------------------------------------------------------
// Conversions (`TryFrom`, user code) run before any check and borrow
// ---------------------------------------------------------------------------

thread_local! {
    /// "abc" and its NUL, which the conversions below write to.
    static SPOILED_TEXT: [Cell<u8>; 4] = [b'a', b'b', b'c', 0].map(Cell::new);
    /// "abc", its NUL, then a 4-byte buffer "WXYZ" and a NUL.
    static TEXT_THEN_BUFFER: [Cell<u8>; 9] =
        [b'a', b'b', b'c', 0, b'W', b'X', b'Y', b'Z', 0].map(Cell::new);
}

/// Converting the C int (`#[into]` takes any `TryFrom`, so `From` too)
/// writes a UTF-8 lead byte into the string's third
/// byte (C's memory, reached by safe code through a `Cell`).
#[derive(Debug)]
struct Spoil;

impl From<c_int> for Spoil {
    fn from(_: c_int) -> Self {
        SPOILED_TEXT.with(|text| text[2].set(0xF0));
        Spoil
    }
}

/// Converting the C int turns the string's NUL into a letter: the string
/// then runs into the buffer after it.
#[derive(Debug)]
struct Unterminate;

impl From<c_int> for Unterminate {
    fn from(_: c_int) -> Self {
        TEXT_THEN_BUFFER.with(|bytes| bytes[3].set(b'd'));
        Unterminate
    }
}

#[callback]
type StrThenConverted = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(&str)] s: *const c_char,
    #[into(Spoil)] n: c_int,
) -> c_int;

#[callback]
type ConvertedThenStrAndBuffer = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(Unterminate)] n: c_int,
    #[into(&str)] s: *const c_char,
    #[into(&mut [u8], len = 4)] buf: *mut u8,
) -> c_int;

/// audit 17: the `&str` was checked and borrowed before the later
/// parameter's `TryFrom` ran, which made it invalid UTF-8 under the borrow.
#[test]
fn a_later_parameter_s_conversion_runs_before_a_str_is_checked() {
    let text: *const c_char = SPOILED_TEXT.with(|text| text.as_ptr().cast());
    let payload = panic_payload(|| {
        StrThenConverted::scope(
            |s: &str, _: Spoil| s.chars().count() as c_int,
            // SAFETY: a NUL-terminated string, alive for the call.
            |f, ud| unsafe { f(ud, text, 1) },
        )
    });
    assert!(
        message(&*payload).contains("its parameter `s` is not UTF-8"),
        "{}",
        message(&*payload)
    );
}

/// audit 17: the overlap check ran before an earlier parameter's `TryFrom`,
/// which grew the `&str` over the `&mut [u8]` it had found disjoint.
#[test]
fn an_earlier_parameter_s_conversion_runs_before_the_overlap_check() {
    let base: *mut u8 = TEXT_THEN_BUFFER.with(|bytes| bytes.as_ptr().cast_mut().cast());
    let payload = panic_payload(|| {
        ConvertedThenStrAndBuffer::scope(
            |_: Unterminate, s: &str, buf: &mut [u8]| {
                buf[0] = b'Q';
                s.len() as c_int
            },
            // SAFETY: a NUL-terminated string and, after it, a 4-byte
            // buffer, alive for the call.
            |f, ud| unsafe { f(ud, 1, base.cast_const().cast(), base.add(4)) },
        )
    });
    assert!(
        message(&*payload).contains("its parameters `buf` and `s` overlap"),
        "{}",
        message(&*payload)
    );
}
