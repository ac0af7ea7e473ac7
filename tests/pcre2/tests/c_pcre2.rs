//! PCRE2 (the system library, apt `libpcre2-dev`; Debian 12 ships 10.42),
//! 8-bit (`pcre2-8`, every function suffixed `_8`), driven through Rust
//! callbacks as a regex binding writes them by hand today:
//!
//! - callouts (`pcre2_set_callout` on a match context, patterns with
//!   `(?C1)` / `(?C"text")`) as closures borrowing the callout block
//!   (`#[into(&CalloutBlock)]`): number, string, positions and captures
//!   read; the match steered by the return (0 continue, > 0 fail here,
//!   < 0 end the match with that value); an `Err` ending the match and
//!   coming back typed (`try_scope`, `try_resume`); a panic resumed after
//!   `pcre2_match`; a match run from inside a callout (on its own
//!   context; on the same one, refused as re-entry); a binding's match
//!   context keeping a boxed callout across matches;
//! - `pcre2_callout_enumerate` collecting a compiled pattern's callouts
//!   (a closure returning `ControlFlow`);
//! - substitution callouts (`pcre2_set_substitute_callout` with
//!   `pcre2_substitute`): each replacement seen in the output buffer,
//!   rejected (> 0) or ending the substitution (< 0, from an `Err` that
//!   comes back typed);
//! - a custom allocator (`pcre2_general_context_create`'s private_malloc
//!   and private_free) as one callback set counting live blocks and bytes,
//!   serving compile and match contexts, compiled code, match data and the
//!   match's heap frames, everything given back; malloc failing (null:
//!   PCRE2_ERROR_NOMEMORY, nothing leaks) and panicking (the panic resumed;
//!   the frees PCRE2 makes in the same guard, also inside the failing
//!   `pcre2_compile`, run on the poisoned state: `free` is marked
//!   `runs_poisoned`), and the same allocator as `#[callback]` fns whose
//!   `free` is `on_panic = fallback`;
//! - the compile recursion guard (`pcre2_set_compile_recursion_guard`):
//!   each depth seen, compiling stopped by a closure returning `true`, a
//!   panic resumed.
//!
//! scripts/test-pcre2.sh runs this binary under valgrind memcheck too.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;
use std::sync::Once;

use ffi_callback::{BoxedSet, callback, resume_panics, try_resume};

// ---------------------------------------------------------------------------
// PCRE2 10.42, 8-bit, declared by hand
// ---------------------------------------------------------------------------

macro_rules! opaque {
    ($($name:ident),*) => {
        $(
            #[repr(C)]
            struct $name {
                _opaque: [u8; 0],
            }
        )*
    };
}

opaque!(
    GeneralContext,
    CompileContext,
    MatchContext,
    Code,
    MatchData
);

/// `pcre2_callout_block` (version 2).
#[repr(C)]
struct CalloutBlock {
    version: u32,
    callout_number: u32,
    capture_top: u32,
    capture_last: u32,
    offset_vector: *mut usize,
    mark: *const u8,
    subject: *const u8,
    subject_length: usize,
    start_match: usize,
    current_position: usize,
    pattern_position: usize,
    next_item_length: usize,
    callout_string_offset: usize,
    callout_string_length: usize,
    callout_string: *const u8,
    callout_flags: u32,
}

impl CalloutBlock {
    /// The subject being matched.
    fn subject(&self) -> &[u8] {
        // SAFETY: PCRE2 passes the subject it matches, `subject_length`
        // bytes, alive for the call (the block is borrowed for it).
        unsafe { std::slice::from_raw_parts(self.subject, self.subject_length) }
    }

    /// `(?C"text")`'s text; `None` for a numbered callout.
    fn string(&self) -> Option<&[u8]> {
        if self.callout_string.is_null() {
            return None;
        }
        // SAFETY: a string callout's text inside the compiled pattern,
        // `callout_string_length` bytes.
        Some(unsafe { std::slice::from_raw_parts(self.callout_string, self.callout_string_length) })
    }

    /// Capture `n`'s offsets, if set so far (`capture_top` pairs are valid,
    /// and an unset capture is PCRE2_UNSET in both).
    fn capture(&self, n: u32) -> Option<(usize, usize)> {
        if n >= self.capture_top {
            return None;
        }
        // SAFETY: the offset vector holds `capture_top` valid pairs.
        let (start, end) = unsafe {
            (
                *self.offset_vector.add(2 * n as usize),
                *self.offset_vector.add(2 * n as usize + 1),
            )
        };
        (start != PCRE2_UNSET).then_some((start, end))
    }

    /// Capture `n`'s text.
    fn capture_text(&self, n: u32) -> Option<&[u8]> {
        self.capture(n).map(|(s, e)| &self.subject()[s..e])
    }
}

/// `pcre2_callout_enumerate_block` (version 0).
#[repr(C)]
struct EnumerateBlock {
    version: u32,
    pattern_position: usize,
    next_item_length: usize,
    callout_number: u32,
    callout_string_offset: usize,
    callout_string_length: usize,
    callout_string: *const u8,
}

impl EnumerateBlock {
    fn string(&self) -> Option<&[u8]> {
        if self.callout_string.is_null() {
            return None;
        }
        // SAFETY: a string callout's text inside the compiled pattern.
        Some(unsafe { std::slice::from_raw_parts(self.callout_string, self.callout_string_length) })
    }
}

/// `pcre2_substitute_callout_block` (version 0).
#[repr(C)]
struct SubstituteBlock {
    version: u32,
    input: *const u8,
    output: *const u8,
    output_offsets: [usize; 2],
    ovector: *mut usize,
    oveccount: u32,
    subscount: u32,
}

impl SubstituteBlock {
    /// The replacement just written into the output buffer.
    fn replacement(&self) -> &[u8] {
        let [start, end] = self.output_offsets;
        // SAFETY: PCRE2 has written the output buffer up to `end` (the
        // replacement's end), which stays alive for the call.
        unsafe { std::slice::from_raw_parts(self.output.add(start), end - start) }
    }

    /// The matched part of the input (ovector pair 0).
    fn matched(&self) -> (usize, usize) {
        // SAFETY: `oveccount` (> 0) pairs are set.
        unsafe { (*self.ovector, *self.ovector.add(1)) }
    }
}

const PCRE2_UNSET: usize = !0;
const PCRE2_AUTO_CALLOUT: u32 = 0x0000_0004;
const PCRE2_NO_START_OPTIMIZE: u32 = 0x0001_0000;
const PCRE2_SUBSTITUTE_GLOBAL: u32 = 0x0000_0100;
const PCRE2_ERROR_NOMATCH: c_int = -1;
const PCRE2_ERROR_CALLOUT: c_int = -37;
const PCRE2_ERROR_NOMEMORY: c_int = -48;
/// Compile error 21 ("failed to allocate heap memory").
const PCRE2_ERROR_HEAP_FAILED: c_int = 121;
/// Compile error 33 ("parentheses are too deeply nested (stack check)"),
/// what a recursion guard's non-zero return gives.
const PCRE2_ERROR_PARENTHESES_STACK_CHECK: c_int = 133;

type MallocFn = unsafe extern "C" fn(size: usize, memory_data: *mut c_void) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(ptr: *mut c_void, memory_data: *mut c_void);

#[link(name = "pcre2-8")]
unsafe extern "C" {
    fn pcre2_general_context_create_8(
        private_malloc: Option<MallocFn>,
        private_free: Option<FreeFn>,
        memory_data: *mut c_void,
    ) -> *mut GeneralContext;
    fn pcre2_general_context_free_8(gcontext: *mut GeneralContext);
    fn pcre2_compile_context_create_8(gcontext: *mut GeneralContext) -> *mut CompileContext;
    fn pcre2_compile_context_free_8(ccontext: *mut CompileContext);
    fn pcre2_set_compile_recursion_guard_8(
        ccontext: *mut CompileContext,
        guard: Option<RecursionGuardFn>,
        user_data: *mut c_void,
    ) -> c_int;
    fn pcre2_match_context_create_8(gcontext: *mut GeneralContext) -> *mut MatchContext;
    fn pcre2_match_context_free_8(mcontext: *mut MatchContext);
    fn pcre2_set_callout_8(
        mcontext: *mut MatchContext,
        callout: Option<CalloutFn>,
        callout_data: *mut c_void,
    ) -> c_int;
    fn pcre2_set_substitute_callout_8(
        mcontext: *mut MatchContext,
        callout: Option<SubstituteCalloutFn>,
        callout_data: *mut c_void,
    ) -> c_int;
    fn pcre2_compile_8(
        pattern: *const u8,
        length: usize,
        options: u32,
        errorcode: *mut c_int,
        erroroffset: *mut usize,
        ccontext: *mut CompileContext,
    ) -> *mut Code;
    fn pcre2_code_free_8(code: *mut Code);
    fn pcre2_callout_enumerate_8(
        code: *const Code,
        callback: Option<EnumerateCalloutFn>,
        user_data: *mut c_void,
    ) -> c_int;
    fn pcre2_match_data_create_from_pattern_8(
        code: *const Code,
        gcontext: *mut GeneralContext,
    ) -> *mut MatchData;
    fn pcre2_match_data_free_8(match_data: *mut MatchData);
    fn pcre2_get_ovector_pointer_8(match_data: *mut MatchData) -> *mut usize;
    fn pcre2_match_8(
        code: *const Code,
        subject: *const u8,
        length: usize,
        startoffset: usize,
        options: u32,
        match_data: *mut MatchData,
        mcontext: *mut MatchContext,
    ) -> c_int;
    fn pcre2_substitute_8(
        code: *const Code,
        subject: *const u8,
        length: usize,
        startoffset: usize,
        options: u32,
        match_data: *mut MatchData,
        mcontext: *mut MatchContext,
        replacement: *const u8,
        rlength: usize,
        outputbuffer: *mut u8,
        outlengthptr: *mut usize,
    ) -> c_int;
}

/// The C library's allocator, behind the Rust ones.
mod libc {
    use std::ffi::c_void;

    unsafe extern "C" {
        pub fn malloc(size: usize) -> *mut c_void;
        pub fn free(ptr: *mut c_void);
    }
}

// ---------------------------------------------------------------------------
// The binding: the callback types
// ---------------------------------------------------------------------------

/// `int (*)(pcre2_callout_block *, void *)`: 0 goes on, > 0 fails at this
/// point (backtracking), < 0 ends the match with that value. After a panic
/// (and for every call a poisoned holder refuses) PCRE2_ERROR_CALLOUT, so
/// the match stops at once instead of running on (the default 0 would be
/// "continue"); an `Err` gives the same (no `on_error`: the fallback).
#[callback(fallback = PCRE2_ERROR_CALLOUT)]
type Callout = unsafe extern "C" fn(
    #[into(&CalloutBlock)] block: *mut CalloutBlock,
    #[user_data] callout_data: *mut c_void,
) -> c_int;

/// `int (*)(pcre2_callout_enumerate_block *, void *)`: 0 goes on, anything
/// else stops the enumeration, which returns it.
#[callback(on_continue = 0, on_break = 1, fallback = -1)]
type EnumerateCallout = unsafe extern "C" fn(
    #[into(&EnumerateBlock)] block: *mut EnumerateBlock,
    #[user_data] user_data: *mut c_void,
) -> c_int;

/// `int (*)(pcre2_substitute_callout_block *, void *)`: 0 accepts the
/// replacement, > 0 rejects it (the matched text is copied instead) and goes
/// on, < 0 rejects it and copies the rest of the input. A panic or an `Err`
/// ends the substitution (-1).
#[callback(fallback = -1)]
type SubstituteCallout = unsafe extern "C" fn(
    #[into(&SubstituteBlock)] block: *mut SubstituteBlock,
    #[user_data] callout_data: *mut c_void,
) -> c_int;

/// `int (*)(uint32_t depth, void *)`: non-zero stops compiling (compile
/// error 133). After a panic: 1, stop.
#[callback(fallback = 1)]
type RecursionGuard =
    unsafe extern "C" fn(depth: u32, #[user_data] user_data: *mut c_void) -> c_int;

// ---------------------------------------------------------------------------
// The binding: owned PCRE2 objects
// ---------------------------------------------------------------------------

/// A compile error: PCRE2's code and the offset in the pattern.
#[derive(Debug, PartialEq)]
struct CompileError {
    code: c_int,
    offset: usize,
}

/// A compiled pattern.
struct Regex {
    code: *mut Code,
}

impl Regex {
    fn new(pattern: &str) -> Result<Self, CompileError> {
        // SAFETY: null is the default compile context.
        unsafe { Self::with(pattern, 0, ptr::null_mut()) }
    }

    /// # Safety
    ///
    /// `ccontext` is null or a live compile context, whose callbacks'
    /// user data stays valid for the call.
    unsafe fn with(
        pattern: &str,
        options: u32,
        ccontext: *mut CompileContext,
    ) -> Result<Self, CompileError> {
        let mut error = CompileError { code: 0, offset: 0 };
        // SAFETY: `pattern.len()` bytes; `ccontext` as the caller promises.
        // The context's callbacks (guard, allocator) may panic: guarded.
        let code = resume_panics(|| unsafe {
            pcre2_compile_8(
                pattern.as_ptr(),
                pattern.len(),
                options,
                &mut error.code,
                &mut error.offset,
                ccontext,
            )
        });
        if code.is_null() {
            Err(error)
        } else {
            Ok(Regex { code })
        }
    }

    /// Match data sized for this pattern, on `gcontext`'s allocator (null:
    /// the default); `None` when the allocation failed.
    fn match_data(&self, gcontext: *mut GeneralContext) -> Option<Matches> {
        // SAFETY: a live pattern; the allocator's user data outlives the
        // match data (the tests drop it first).
        let md = resume_panics(|| unsafe {
            pcre2_match_data_create_from_pattern_8(self.code, gcontext)
        });
        (!md.is_null()).then_some(Matches { md })
    }

    /// `pcre2_match` of `subject` from 0: the return code.
    fn raw_match(&self, subject: &[u8], md: &Matches, mcontext: *mut MatchContext) -> c_int {
        self.raw_match_opts(subject, 0, md, mcontext)
    }

    fn raw_match_opts(
        &self,
        subject: &[u8],
        options: u32,
        md: &Matches,
        mcontext: *mut MatchContext,
    ) -> c_int {
        // SAFETY: live pattern and match data, `subject.len()` bytes;
        // `mcontext` is null or a live context whose callouts' user data
        // is alive (the callers' scopes).
        unsafe {
            pcre2_match_8(
                self.code,
                subject.as_ptr(),
                subject.len(),
                0,
                options,
                md.md,
                mcontext,
            )
        }
    }

    /// `pcre2_callout_enumerate` with a closure.
    fn callouts(&self, f: impl FnMut(&EnumerateBlock) -> ControlFlow<()>) -> c_int {
        EnumerateCallout::scope(f, |func, ud| {
            // SAFETY: a live pattern; the callback is called during the call only.
            unsafe { pcre2_callout_enumerate_8(self.code, Some(func), ud) }
        })
    }
}

impl Drop for Regex {
    fn drop(&mut self) {
        // SAFETY: compiled by `new`, freed once. Its allocator's free may
        // panic: guarded.
        resume_panics(|| unsafe { pcre2_code_free_8(self.code) });
    }
}

/// Match data.
struct Matches {
    md: *mut MatchData,
}

impl Matches {
    /// Pair `n` of the ovector.
    fn pair(&self, n: usize) -> (usize, usize) {
        // SAFETY: match data made from the pattern holds at least one pair
        // per capture group plus one; tests ask for the ones the match set.
        unsafe {
            let ov = pcre2_get_ovector_pointer_8(self.md);
            (*ov.add(2 * n), *ov.add(2 * n + 1))
        }
    }
}

impl Drop for Matches {
    fn drop(&mut self) {
        // SAFETY: made by `match_data`, freed once.
        resume_panics(|| unsafe { pcre2_match_data_free_8(self.md) });
    }
}

/// A match context, on the default allocator or another.
struct Context {
    mctx: *mut MatchContext,
    /// The callout it holds, if the binding keeps one (`set_callout`).
    kept: Option<Box<dyn Any>>,
}

impl Context {
    fn new() -> Self {
        // SAFETY: null is the default general context.
        unsafe { Self::on(ptr::null_mut()) }.expect("a match context")
    }

    /// # Safety
    ///
    /// `gcontext` is null or a live general context whose allocator's user
    /// data outlives the context.
    unsafe fn on(gcontext: *mut GeneralContext) -> Option<Self> {
        // SAFETY: as the caller promises.
        let mctx = resume_panics(|| unsafe { pcre2_match_context_create_8(gcontext) });
        (!mctx.is_null()).then_some(Context { mctx, kept: None })
    }

    /// Runs `body` with `f` as this context's callout, lent for the
    /// duration (`scope`), and unset again on every path: the context
    /// outlives the scope, and a panic of `body` itself must not leave it
    /// pointing at the scope's holder.
    fn with_callout<F, R>(&mut self, f: F, body: impl FnOnce(&Self) -> R) -> R
    where
        F: FnMut(&CalloutBlock) -> c_int,
    {
        Callout::scope(f, |func, ud| {
            let _unset = self.lend_callout(func, ud);
            body(self)
        })
    }

    /// `with_callout` for a closure returning `Result`: the first `Err`
    /// comes back typed (PCRE2 got PCRE2_ERROR_CALLOUT for it).
    fn try_with_callout<F, E, R>(&mut self, f: F, body: impl FnOnce(&Self) -> R) -> Result<R, E>
    where
        F: FnMut(&CalloutBlock) -> Result<c_int, E>,
        E: 'static,
    {
        Callout::try_scope(f, |func, ud| {
            let _unset = self.lend_callout(func, ud);
            body(self)
        })
    }

    fn lend_callout(&self, func: CalloutFn, ud: *mut c_void) -> UnsetCallout {
        // SAFETY: a live context; the returned guard unsets the callout
        // before the scope ends.
        unsafe { pcre2_set_callout_8(self.mctx, Some(func), ud) };
        UnsetCallout(self.mctx)
    }

    /// Keeps `f` as this context's callout for every match until replaced
    /// or the context is dropped.
    fn set_callout<F>(&mut self, f: F)
    where
        F: FnMut(&CalloutBlock) -> c_int + 'static,
    {
        let boxed = Callout::boxed(f);
        // SAFETY: a live context; `boxed` is kept beside it (below) and
        // dropped only after the context stops pointing at it.
        unsafe { pcre2_set_callout_8(self.mctx, Some(boxed.function()), boxed.user_data()) };
        // The previous callout, if any, is no longer pointed at.
        self.kept = Some(Box::new(boxed));
    }

    /// `pcre2_substitute` of `replacement` for the matches of `re` in
    /// `subject`, `f` seeing each replacement: the return code and the
    /// output.
    fn substitute<F, E>(
        &mut self,
        re: &Regex,
        subject: &[u8],
        replacement: &[u8],
        options: u32,
        f: F,
    ) -> Result<(c_int, Vec<u8>), E>
    where
        F: FnMut(&SubstituteBlock) -> Result<c_int, E>,
        E: 'static,
    {
        let mctx = self.mctx;
        SubstituteCallout::try_scope(f, |func, ud| {
            // SAFETY: a live context; unset by the guard before the scope ends.
            unsafe { pcre2_set_substitute_callout_8(mctx, Some(func), ud) };
            let _unset = UnsetSubstituteCallout(mctx);
            let mut out = vec![0u8; 256];
            let mut len = out.len();
            // SAFETY: a live pattern and context, `subject.len()` and
            // `replacement.len()` bytes, an output buffer of `len` bytes;
            // null match data makes PCRE2 use its own.
            let rc = unsafe {
                pcre2_substitute_8(
                    re.code,
                    subject.as_ptr(),
                    subject.len(),
                    0,
                    options,
                    ptr::null_mut(),
                    mctx,
                    replacement.as_ptr(),
                    replacement.len(),
                    out.as_mut_ptr(),
                    &mut len,
                )
            };
            out.truncate(if rc >= 0 { len } else { 0 });
            (rc, out)
        })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: made by `on`, freed once, before `kept` (a field, dropped
        // after this body) which its callout points at.
        resume_panics(|| unsafe { pcre2_match_context_free_8(self.mctx) });
    }
}

/// Unsets a lent callout on every path out of a scope.
struct UnsetCallout(*mut MatchContext);

impl Drop for UnsetCallout {
    fn drop(&mut self) {
        // SAFETY: the context outlives the scope this guard lives in.
        unsafe { pcre2_set_callout_8(self.0, None, ptr::null_mut()) };
    }
}

struct UnsetSubstituteCallout(*mut MatchContext);

impl Drop for UnsetSubstituteCallout {
    fn drop(&mut self) {
        // SAFETY: as for `UnsetCallout`.
        unsafe { pcre2_set_substitute_callout_8(self.0, None, ptr::null_mut()) };
    }
}

// ---------------------------------------------------------------------------
// Helpers
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

#[test]
fn the_declared_blocks_match_pcre2s_layout() {
    // Offsets of the last fields, as gcc lays out pcre2.h on x86_64.
    assert_eq!(std::mem::offset_of!(CalloutBlock, callout_flags), 104);
    assert_eq!(size_of::<CalloutBlock>(), 112);
    assert_eq!(std::mem::offset_of!(EnumerateBlock, callout_string), 48);
    assert_eq!(size_of::<EnumerateBlock>(), 56);
    assert_eq!(std::mem::offset_of!(SubstituteBlock, subscount), 52);
}

// ===========================================================================
// Callouts
// ===========================================================================

/// What one callout saw.
#[derive(Debug, PartialEq)]
struct Seen {
    number: u32,
    string: Option<String>,
    position: usize,
    capture_top: u32,
    last: Option<Vec<u8>>,
}

fn seen(b: &CalloutBlock) -> Seen {
    Seen {
        number: b.callout_number,
        string: b.string().map(|s| String::from_utf8_lossy(s).into_owned()),
        position: b.current_position,
        capture_top: b.capture_top,
        last: b.capture_text(b.capture_last).map(<[u8]>::to_vec),
    }
}

#[test]
fn callouts_see_their_number_string_position_and_captures() {
    let re = Regex::new(r#"(a+)(?C1)(b)(?C"after b")c"#).unwrap();
    let md = re.match_data(ptr::null_mut()).unwrap();
    let mut ctx = Context::new();
    let mut calls = Vec::new();
    let rc = ctx.with_callout(
        |b| {
            calls.push(seen(b));
            0
        },
        |ctx| re.raw_match(b"xaabc", &md, ctx.mctx),
    );
    assert_eq!(rc, 3);
    assert_eq!(
        [md.pair(0), md.pair(1), md.pair(2)],
        [(1, 5), (1, 3), (3, 4)]
    );
    assert_eq!(
        calls,
        [
            Seen {
                number: 1,
                string: None,
                position: 3,
                capture_top: 2,
                last: Some(b"aa".to_vec()),
            },
            Seen {
                number: 0,
                string: Some("after b".to_owned()),
                position: 4,
                capture_top: 3,
                last: Some(b"b".to_vec()),
            },
        ]
    );
}

/// A positive return fails the match at that point: here every word of
/// three letters is rejected, so the match is the first longer word.
#[test]
fn a_positive_return_fails_the_match_at_the_callout() {
    let re = Regex::new(r"\b(\w+)\b(?C1)").unwrap();
    let md = re.match_data(ptr::null_mut()).unwrap();
    let mut ctx = Context::new();
    let mut rejected = Vec::new();
    let rc = ctx.with_callout(
        |b| {
            let word = b.capture_text(1).expect("group 1 is set").to_vec();
            if word.len() == 3 {
                rejected.push(word);
                1
            } else {
                0
            }
        },
        |ctx| re.raw_match(b"cat dog bird ant", &md, ctx.mctx),
    );
    assert_eq!(rc, 2);
    assert_eq!(md.pair(1), (8, 12));
    assert_eq!(rejected, [b"cat".to_vec(), b"dog".to_vec()]);

    // Rejecting every word: no match at all.
    let rc = ctx.with_callout(|_| 1, |ctx| re.raw_match(b"cat dog", &md, ctx.mctx));
    assert_eq!(rc, PCRE2_ERROR_NOMATCH);
}

/// A negative return ends the match with that value, whatever it is.
#[test]
fn a_negative_return_ends_the_match_with_that_value() {
    let re = Regex::new(r"a(?C7)b(?C8)c").unwrap();
    let md = re.match_data(ptr::null_mut()).unwrap();
    let mut ctx = Context::new();
    for value in [PCRE2_ERROR_CALLOUT, -1000] {
        let mut numbers = Vec::new();
        let rc = ctx.with_callout(
            |b| {
                numbers.push(b.callout_number);
                if b.callout_number == 7 { value } else { 0 }
            },
            |ctx| re.raw_match(b"xabc", &md, ctx.mctx),
        );
        assert_eq!((rc, numbers), (value, vec![7]));
    }
}

/// Auto-callouts (number 255 before every item) trace how the match goes,
/// backtracking included.
#[test]
fn auto_callouts_trace_the_match() {
    // SAFETY: the default compile context.
    let re = unsafe {
        Regex::with(
            "a+b",
            PCRE2_AUTO_CALLOUT | PCRE2_NO_START_OPTIMIZE,
            ptr::null_mut(),
        )
    }
    .unwrap();
    let md = re.match_data(ptr::null_mut()).unwrap();
    let mut ctx = Context::new();
    let mut trace = Vec::new();
    let rc = ctx.with_callout(
        |b| {
            trace.push((
                b.callout_number,
                b.start_match,
                b.current_position,
                b.pattern_position,
            ));
            0
        },
        |ctx| re.raw_match(b"xaab", &md, ctx.mctx),
    );
    assert_eq!(rc, 1);
    assert_eq!(md.pair(0), (1, 4));
    assert!(trace.iter().all(|&(n, ..)| n == 255));
    // The attempt at 0 stops at `a`; the one at 1 runs `a+`, `b` and the end.
    assert_eq!(trace.first(), Some(&(255, 0, 0, 0)));
    assert_eq!(trace.last(), Some(&(255, 1, 4, 3)));
    assert!(
        trace
            .iter()
            .any(|&(_, start, _, pat)| start == 1 && pat == 2)
    );
}

#[derive(Debug, PartialEq)]
enum CalloutError {
    Forbidden(String),
}

/// An `Err` gives PCRE2 PCRE2_ERROR_CALLOUT (the fallback: the type has no
/// `on_error`), which ends the match, and comes back typed from the scope.
#[test]
fn an_err_from_a_callout_ends_the_match_and_comes_back_typed() {
    let re = Regex::new(r#"(\w+)(?C"check")=(\d+)"#).unwrap();
    let md = re.match_data(ptr::null_mut()).unwrap();
    let mut ctx = Context::new();
    let rc = Cell::new(0);
    let mut checked = 0;
    let result = ctx.try_with_callout(
        |b| {
            checked += 1;
            let name = b.capture_text(1).unwrap();
            if name == b"password" {
                return Err(CalloutError::Forbidden(
                    String::from_utf8_lossy(name).into(),
                ));
            }
            Ok(0)
        },
        |ctx| rc.set(re.raw_match(b"password=1234", &md, ctx.mctx)),
    );
    assert_eq!(result, Err(CalloutError::Forbidden("password".into())));
    assert_eq!((rc.get(), checked), (PCRE2_ERROR_CALLOUT, 1));

    // Accepted names match as usual, and the scope's value comes back.
    let result = ctx.try_with_callout(
        |b| match b.capture_text(1) {
            Some(b"password") => Err(CalloutError::Forbidden("password".into())),
            _ => Ok(0),
        },
        |ctx| re.raw_match(b"user=42", &md, ctx.mctx),
    );
    assert_eq!(result, Ok(3));
    assert_eq!(md.pair(2), (5, 7));
}

/// The same with a holder made by `new` and the guard written out: the
/// callout set on the context across statements.
#[test]
fn an_err_from_a_new_callout_comes_back_from_try_resume() {
    let re = Regex::new(r"(\d)(?C1)").unwrap();
    let md = re.match_data(ptr::null_mut()).unwrap();
    let ctx = Context::new();
    let callout = Callout::new(|b: &CalloutBlock| match b.capture_text(1) {
        Some(b"7") => Err("seven"),
        _ => Ok(1), // fail every other digit, so the match goes on
    });
    // SAFETY: `callout` outlives the context's use of it: unset below
    // before it goes out of scope.
    unsafe { pcre2_set_callout_8(ctx.mctx, Some(callout.function()), callout.user_data()) };
    let _unset = UnsetCallout(ctx.mctx);
    let result = try_resume(|| re.raw_match(b"123456789", &md, ctx.mctx));
    assert_eq!(result, Err("seven"));
    // After the guard the holder runs again: 1..6 fail, 7 errs again.
    let result = try_resume::<_, &str>(|| re.raw_match(b"12", &md, ctx.mctx));
    assert_eq!(result, Ok(PCRE2_ERROR_NOMATCH));
}

/// A panic gives PCRE2 the fallback, PCRE2_ERROR_CALLOUT, ending the match
/// (no callout runs afterwards), and is resumed when the scope returns.
#[test]
fn a_panic_in_a_callout_is_resumed_after_the_match() {
    quiet_expected_panics();
    let re = Regex::new(r"(?C1)a(?C2)b(?C3)").unwrap();
    let md = re.match_data(ptr::null_mut()).unwrap();
    let mut ctx = Context::new();
    let numbers = RefCell::new(Vec::new());
    let rc = Cell::new(0);
    let payload = payload_of(|| {
        ctx.with_callout(
            |b| {
                numbers.borrow_mut().push(b.callout_number);
                if b.callout_number == 2 {
                    panic!("expected panic in callout 2");
                }
                0
            },
            |ctx| rc.set(re.raw_match(b"ab", &md, ctx.mctx)),
        )
    });
    assert_eq!(message_of(&*payload), "expected panic in callout 2");
    assert_eq!(rc.get(), PCRE2_ERROR_CALLOUT);
    assert_eq!(*numbers.borrow(), [1, 2]);
    // The context was unset on the way out: a match without callouts.
    assert_eq!(re.raw_match(b"ab", &md, ctx.mctx), 1);
}

/// A callout may run another match. On a context of its own, with a
/// callout of its own, both run (scopes nest). On the same context the
/// inner match re-enters the running `FnMut` callout: refused, the inner
/// match gets PCRE2_ERROR_CALLOUT, and the refusal comes back from the
/// outer scope.
#[test]
fn a_match_inside_a_callout_runs_on_its_own_context_and_is_refused_on_the_same() {
    quiet_expected_panics();
    let words = Regex::new(r"(\w+)(?C1)").unwrap();
    let digits = Regex::new(r"^\d+(?C2)$").unwrap();
    let md = words.match_data(ptr::null_mut()).unwrap();
    let inner_md = digits.match_data(ptr::null_mut()).unwrap();
    let mut outer = Context::new();
    let mut inner = Context::new();
    let inner_calls = Cell::new(0);
    let mut candidates = Vec::new();
    let rc = outer.with_callout(
        |b| {
            let word = b.capture_text(1).unwrap();
            candidates.push(String::from_utf8_lossy(word).into_owned());
            // Reject words that are all digits, asking another regex.
            let rc = inner.with_callout(
                |_| {
                    inner_calls.set(inner_calls.get() + 1);
                    0
                },
                |inner| digits.raw_match(word, &inner_md, inner.mctx),
            );
            c_int::from(rc > 0)
        },
        |ctx| words.raw_match(b"123 abc", &md, ctx.mctx),
    );
    assert_eq!((rc, md.pair(1)), (2, (4, 7)));
    // `\w+` before a callout is made possessive (no "12", "1"): each start
    // offers its longest word.
    assert_eq!(candidates, ["123", "23", "3", "abc"]);
    // Once per digit-only candidate.
    assert_eq!(inner_calls.get(), 3);

    // The same context from inside its own callout.
    let inner_rc = Cell::new(0);
    let mctx = outer.mctx;
    let payload = payload_of(|| {
        outer.with_callout(
            |b| {
                let word = b.capture_text(1).unwrap();
                inner_rc.set(digits.raw_match(word, &inner_md, mctx));
                0
            },
            |ctx| words.raw_match(b"123", &md, ctx.mctx),
        )
    });
    assert_eq!(inner_rc.get(), PCRE2_ERROR_CALLOUT);
    assert!(
        message_of(&*payload).contains("already running"),
        "{}",
        message_of(&*payload)
    );
}

/// A binding keeps a callout on a match context for every match it runs,
/// then replaces it (the old one is freed only after PCRE2 stops pointing
/// at it).
#[test]
fn a_match_context_keeps_a_boxed_callout_across_matches() {
    let re = Regex::new(r"(\d+)(?C1)").unwrap();
    let md = re.match_data(ptr::null_mut()).unwrap();
    let mut ctx = Context::new();
    let numbers = Rc::new(RefCell::new(Vec::new()));
    let kept = numbers.clone();
    ctx.set_callout(move |b| {
        kept.borrow_mut().push(b.capture_text(1).unwrap().to_vec());
        0
    });
    let rcs = resume_panics(|| {
        [
            re.raw_match(b"x12", &md, ctx.mctx),
            re.raw_match(b"345", &md, ctx.mctx),
        ]
    });
    assert_eq!(rcs, [2, 2]);
    assert_eq!(*numbers.borrow(), [b"12".to_vec(), b"345".to_vec()]);
    // Replaced by one that only accepts even numbers.
    ctx.set_callout(|b| c_int::from(b.capture_text(1).unwrap().last().unwrap() % 2 != 0));
    assert_eq!(
        Rc::strong_count(&numbers),
        1,
        "the first closure was dropped"
    );
    let rc = resume_panics(|| re.raw_match(b"135 246", &md, ctx.mctx));
    // 135, 13, 1, 35, 3, 5 all fail; 246 passes.
    assert_eq!((rc, md.pair(1)), (2, (4, 7)));
}

// ===========================================================================
// pcre2_callout_enumerate
// ===========================================================================

#[derive(Debug, PartialEq)]
struct Listed {
    number: u32,
    string: Option<String>,
    position: usize,
}

#[test]
fn callout_enumerate_lists_the_patterns_callouts() {
    let re = Regex::new(r#"a(?C1)b(?C"two")c(?C{three})d(?C255)"#).unwrap();
    let mut listed = Vec::new();
    let rc = re.callouts(|b| {
        listed.push(Listed {
            number: b.callout_number,
            string: b.string().map(|s| String::from_utf8_lossy(s).into_owned()),
            position: b.pattern_position,
        });
        ControlFlow::Continue(())
    });
    assert_eq!(rc, 0);
    assert_eq!(
        listed,
        [
            Listed {
                number: 1,
                string: None,
                position: 6
            },
            Listed {
                number: 0,
                string: Some("two".into()),
                position: 16
            },
            Listed {
                number: 0,
                string: Some("three".into()),
                position: 28
            },
            Listed {
                number: 255,
                string: None,
                position: 36
            },
        ]
    );
    // Breaking stops the enumeration, which returns `on_break`'s value.
    let mut count = 0;
    let rc = re.callouts(|_| {
        count += 1;
        if count == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!((rc, count), (1, 2));
    // A pattern without callouts never calls.
    let plain = Regex::new("abc").unwrap();
    assert_eq!(plain.callouts(|_| panic!("no callout to list")), 0);
}

// ===========================================================================
// Substitution callouts
// ===========================================================================

#[test]
fn substitute_callouts_see_each_replacement_and_may_reject_it() {
    let re = Regex::new(r"\d+").unwrap();
    let mut ctx = Context::new();
    let mut seen = Vec::new();
    let result =
        ctx.substitute::<_, ()>(&re, b"a1b22c333", b"<$0>", PCRE2_SUBSTITUTE_GLOBAL, |b| {
            seen.push((b.subscount, b.matched(), b.replacement().to_vec()));
            // Reject the second replacement: its matched text stays.
            Ok(c_int::from(b.subscount == 2))
        });
    assert_eq!(result, Ok((3, b"a<1>b22c<333>".to_vec())));
    assert_eq!(
        seen,
        [
            (1, (1, 2), b"<1>".to_vec()),
            (2, (3, 5), b"<22>".to_vec()),
            (3, (6, 9), b"<333>".to_vec()),
        ]
    );
}

#[derive(Debug, PartialEq)]
struct TooMany(u32);

/// An `Err` gives PCRE2 -1 (the fallback): this replacement is rejected,
/// the rest of the input copied, and the substitution ends, returning the
/// matches so far; the error comes back typed.
#[test]
fn an_err_from_a_substitute_callout_ends_the_substitution_and_comes_back_typed() {
    let re = Regex::new(r"\d+").unwrap();
    let mut ctx = Context::new();
    let result = ctx.substitute(&re, b"a1b22c333", b"#", PCRE2_SUBSTITUTE_GLOBAL, |b| {
        if b.subscount > 1 {
            Err(TooMany(b.subscount))
        } else {
            Ok(0)
        }
    });
    assert_eq!(result, Err(TooMany(2)));
    // The value the scope's call returned was replaced by the error; a
    // panic-free `Ok` run shows what PCRE2 made of the same -1.
    let mut calls = 0;
    let result = ctx.substitute::<_, ()>(&re, b"a1b22c333", b"#", PCRE2_SUBSTITUTE_GLOBAL, |b| {
        calls += 1;
        Ok(if b.subscount > 1 { -1 } else { 0 })
    });
    assert_eq!(result, Ok((2, b"a#b22c333".to_vec())));
    assert_eq!(calls, 2);
}

#[test]
fn a_panic_in_a_substitute_callout_is_resumed() {
    quiet_expected_panics();
    let re = Regex::new(r"o").unwrap();
    let mut ctx = Context::new();
    let payload = payload_of(|| {
        ctx.substitute::<_, ()>(
            &re,
            b"foo",
            b"0",
            PCRE2_SUBSTITUTE_GLOBAL,
            |_| -> Result<c_int, ()> { panic!("expected panic in substitute callout") },
        )
    });
    assert_eq!(
        message_of(&*payload),
        "expected panic in substitute callout"
    );
    // The context's callout was unset: substitution runs without it.
    assert_eq!(
        ctx.substitute::<_, ()>(&re, b"foo", b"0", PCRE2_SUBSTITUTE_GLOBAL, |_| Ok(0)),
        Ok((2, b"f00".to_vec()))
    );
}

// ===========================================================================
// The compile recursion guard
// ===========================================================================

/// A compile context on the default allocator.
struct CompileCtx(*mut CompileContext);

impl CompileCtx {
    fn new() -> Self {
        // SAFETY: null is the default general context.
        let ccontext = unsafe { pcre2_compile_context_create_8(ptr::null_mut()) };
        assert!(!ccontext.is_null());
        CompileCtx(ccontext)
    }

    /// Compiles `pattern` with `guard` lent as the recursion guard.
    fn compile_guarded(
        &self,
        pattern: &str,
        guard: impl FnMut(u32) -> bool,
    ) -> Result<Regex, CompileError> {
        RecursionGuard::scope(guard, |func, ud| {
            // SAFETY: a live context; unset below before the scope ends.
            unsafe { pcre2_set_compile_recursion_guard_8(self.0, Some(func), ud) };
            let _unset = UnsetGuard(self.0);
            // SAFETY: a live context, whose guard is lent for this call.
            unsafe { Regex::with(pattern, 0, self.0) }
        })
    }
}

impl Drop for CompileCtx {
    fn drop(&mut self) {
        // SAFETY: made by `new`, freed once.
        unsafe { pcre2_compile_context_free_8(self.0) };
    }
}

struct UnsetGuard(*mut CompileContext);

impl Drop for UnsetGuard {
    fn drop(&mut self) {
        // SAFETY: the context outlives the scope this guard lives in.
        unsafe { pcre2_set_compile_recursion_guard_8(self.0, None, ptr::null_mut()) };
    }
}

#[test]
fn the_recursion_guard_sees_each_depth_and_may_stop_compiling() {
    let cc = CompileCtx::new();
    let mut depths = Vec::new();
    let re = cc.compile_guarded("(a(b(c)))(d)", |depth| {
        depths.push(depth);
        false
    });
    assert!(re.is_ok());
    depths.sort_unstable();
    depths.dedup();
    // Depth 0 is the pattern itself.
    assert_eq!(depths, [0, 1, 2, 3]);

    // `true` (1 to C) refuses nesting deeper than 2.
    let result = cc.compile_guarded("(a(b(c)))", |depth| depth > 2);
    assert_eq!(
        result.err().map(|e| e.code),
        Some(PCRE2_ERROR_PARENTHESES_STACK_CHECK)
    );
    // A shallow pattern passes the same guard.
    assert!(cc.compile_guarded("(a(b))", |depth| depth > 2).is_ok());
}

#[test]
fn a_panic_in_the_recursion_guard_fails_the_compile_and_is_resumed() {
    quiet_expected_panics();
    let cc = CompileCtx::new();
    let payload = payload_of(|| {
        cc.compile_guarded("((a))", |depth| {
            assert!(depth < 2, "expected panic at depth {depth}");
            false
        })
    });
    assert_eq!(message_of(&*payload), "expected panic at depth 2");
    // The guard was unset: the same pattern compiles.
    // SAFETY: a live context without a guard.
    assert!(unsafe { Regex::with("((a))", 0, cc.0) }.is_ok());
}

// ===========================================================================
// A custom allocator (`pcre2_general_context_create`)
// ===========================================================================

/// private_malloc and private_free as one set: both get `memory_data`.
/// `&self` entries: one allocator serves every object made from its
/// contexts, whose frees may come inside other objects' calls.
#[callback]
trait Memory {
    /// `void *private_malloc(PCRE2_SIZE, void *)`: null is
    /// PCRE2_ERROR_NOMEMORY (or compile error 121) for the call.
    unsafe extern "C" fn malloc(
        &self,
        size: usize,
        #[user_data] memory_data: *mut c_void,
    ) -> *mut c_void;
    /// `void private_free(void *, void *)`: runs while a panic in
    /// `malloc` poisons the state, since PCRE2 frees in the very call
    /// whose allocation failed.
    #[callback(runs_poisoned)]
    unsafe extern "C" fn free(&self, ptr: *mut c_void, #[user_data] memory_data: *mut c_void);
}

/// An allocator over the C library's, counting live blocks and bytes.
struct Counting {
    /// Live blocks and their sizes (private_free is not told the size).
    live: RefCell<HashMap<usize, usize>>,
    bytes: Cell<usize>,
    allocations: Cell<u32>,
    /// Fails (null) or panics at this allocation (counted from 1), once.
    fail_at: Cell<Option<(u32, Failure)>>,
    /// Blocks `Drop` had to free (none: `free` runs on a poisoned state
    /// too, and every object made on the allocator is gone before it).
    leftover: Rc<Cell<usize>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Failure {
    Null,
    Panic,
}

impl Counting {
    fn new(leftover: Rc<Cell<usize>>) -> Self {
        Counting {
            live: RefCell::default(),
            bytes: Cell::new(0),
            allocations: Cell::new(0),
            fail_at: Cell::new(None),
            leftover,
        }
    }

    fn blocks(&self) -> (usize, usize) {
        (self.live.borrow().len(), self.bytes.get())
    }

    /// Arms a failure `ahead` allocations from now (1: the next one).
    fn fail_in(&self, ahead: u32, how: Failure) {
        self.fail_at
            .set(Some((self.allocations.get() + ahead, how)));
    }

    fn allocate(&self, size: usize) -> *mut c_void {
        let n = self.allocations.get() + 1;
        self.allocations.set(n);
        match self.fail_at.get() {
            Some((at, how)) if at == n => {
                self.fail_at.set(None);
                match how {
                    Failure::Null => return ptr::null_mut(),
                    Failure::Panic => panic!("expected panic in allocation {n} ({size} bytes)"),
                }
            }
            _ => {}
        }
        // SAFETY: the C allocator.
        let p = unsafe { libc::malloc(size) };
        if !p.is_null() {
            self.live.borrow_mut().insert(p as usize, size);
            self.bytes.set(self.bytes.get() + size);
        }
        p
    }

    fn release(&self, p: *mut c_void) {
        if p.is_null() {
            return;
        }
        let size = self
            .live
            .borrow_mut()
            .remove(&(p as usize))
            .expect("a live block");
        self.bytes.set(self.bytes.get() - size);
        // SAFETY: a block this allocator handed out, freed once by PCRE2.
        unsafe { libc::free(p) };
    }
}

impl Memory for Counting {
    fn malloc(&self, size: usize) -> *mut c_void {
        self.allocate(size)
    }

    fn free(&self, ptr: *mut c_void) {
        self.release(ptr);
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        // Nothing should be left; whatever is, is freed (and counted).
        let live = self.live.take();
        self.leftover.set(live.len());
        for p in live.into_keys() {
            // SAFETY: blocks of this allocator PCRE2 no longer uses (every
            // object made on it is gone before the allocator).
            unsafe { libc::free(p as *mut c_void) };
        }
    }
}

/// A general context on a kept allocator state.
struct General(*mut GeneralContext);

impl General {
    /// # Safety
    ///
    /// `alloc` outlives the context and everything made from it.
    unsafe fn on(alloc: &BoxedSet<Counting>) -> Option<Self> {
        // SAFETY: the set's entry points and its user data, kept alive by
        // the caller's promise. The allocation may panic: guarded.
        let g = resume_panics(|| unsafe {
            pcre2_general_context_create_8(
                Some(Counting::MALLOC),
                Some(Counting::FREE),
                alloc.user_data(),
            )
        });
        (!g.is_null()).then_some(General(g))
    }

    fn compile_context(&self) -> Option<CompileCtx> {
        // SAFETY: a live general context.
        let c = resume_panics(|| unsafe { pcre2_compile_context_create_8(self.0) });
        (!c.is_null()).then_some(CompileCtx(c))
    }
}

impl Drop for General {
    fn drop(&mut self) {
        // SAFETY: made by `on`, freed once (through its own free).
        resume_panics(|| unsafe { pcre2_general_context_free_8(self.0) });
    }
}

fn counting() -> (BoxedSet<Counting>, Rc<Cell<usize>>) {
    let leftover = Rc::new(Cell::new(0));
    (Counting::new(leftover.clone()).boxed(), leftover)
}

fn blocks(alloc: &mut BoxedSet<Counting>) -> (usize, usize) {
    alloc.with_mut(|a| a.blocks()).expect("no call runs")
}

#[test]
fn a_counting_allocator_serves_contexts_code_and_match_data() {
    let (mut alloc, leftover) = counting();
    {
        // SAFETY: `alloc` outlives this block, where everything made on
        // it is dropped.
        let general = unsafe { General::on(&alloc) }.expect("a general context");
        assert_eq!(blocks(&mut alloc).0, 1, "the general context itself");
        let cc = general.compile_context().expect("a compile context");
        // SAFETY: as above.
        let ctx = unsafe { Context::on(general.0) }.expect("a match context");
        let after_contexts = blocks(&mut alloc);
        assert_eq!(after_contexts.0, 3);
        // SAFETY: a live compile context on the allocator.
        let re = unsafe { Regex::with(r"(\w+)@(\w+)\.org", 0, cc.0) }.unwrap();
        let md = re.match_data(general.0).expect("match data");
        let before_match = blocks(&mut alloc);
        assert_eq!(before_match.0, 5, "+ the code and the match data");
        assert!(before_match.1 > after_contexts.1);
        let rc = resume_panics(|| re.raw_match(b"mail alice@example.org now", &md, ctx.mctx));
        assert_eq!(rc, 3);
        assert_eq!([md.pair(1), md.pair(2)], [(5, 10), (11, 18)]);
        // The match's heap frames are the match data's, on the same
        // allocator, and stay with it.
        let after_match = blocks(&mut alloc);
        assert_eq!(after_match.0, 6, "+ the match's heap frames");
        drop((md, re, ctx, cc));
        assert_eq!(blocks(&mut alloc).0, 1);
    }
    // Everything came back through `free`, the general context last.
    let (allocations, live) = alloc
        .with_mut(|a| (a.allocations.get(), a.blocks()))
        .expect("no call runs");
    assert_eq!((allocations, live), (6, (0, 0)));
    drop(alloc);
    assert_eq!(leftover.get(), 0);
}

/// A null from malloc is PCRE2's "no memory", for every kind of object;
/// nothing is poisoned and nothing leaks.
#[test]
fn malloc_returning_null_fails_each_call_with_no_memory() {
    let (mut alloc, leftover) = counting();
    let arm = |alloc: &mut BoxedSet<Counting>, ahead| {
        alloc
            .with_mut(|a| a.fail_in(ahead, Failure::Null))
            .expect("no call runs")
    };
    arm(&mut alloc, 1);
    // SAFETY: `alloc` outlives everything made on it in this test.
    assert!(unsafe { General::on(&alloc) }.is_none());
    // SAFETY: as above.
    let general = unsafe { General::on(&alloc) }.expect("a general context");
    arm(&mut alloc, 1);
    assert!(general.compile_context().is_none());
    let cc = general.compile_context().expect("a compile context");
    arm(&mut alloc, 1);
    // SAFETY: a live compile context on the allocator.
    let failed = unsafe { Regex::with("(a|b)+c", 0, cc.0) };
    assert_eq!(failed.err().map(|e| e.code), Some(PCRE2_ERROR_HEAP_FAILED));
    // SAFETY: as above.
    let re = unsafe { Regex::with("(a|b)+c", 0, cc.0) }.unwrap();
    arm(&mut alloc, 1);
    assert!(re.match_data(general.0).is_none());
    let md = re.match_data(general.0).expect("match data");
    // The match's heap frames.
    arm(&mut alloc, 1);
    assert_eq!(
        resume_panics(|| re.raw_match(b"abac", &md, ptr::null_mut())),
        PCRE2_ERROR_NOMEMORY
    );
    assert_eq!(
        resume_panics(|| re.raw_match(b"abac", &md, ptr::null_mut())),
        2
    );
    assert_eq!(md.pair(0), (0, 4));
    drop((md, re, cc, general));
    assert_eq!(blocks(&mut alloc), (0, 0));
    drop(alloc);
    assert_eq!(leftover.get(), 0);
}

/// A panic in malloc is resumed by the guard around the PCRE2 call, which
/// saw null (PCRE2_ERROR_NOMEMORY). While that guard keeps the panic, the
/// set's state is poisoned: `malloc` is refused, but `free` is marked
/// `runs_poisoned`, so a free in the same guard (here the binding frees
/// the match data right after the failed match) runs and is counted.
#[test]
fn a_panic_in_malloc_is_resumed_and_frees_in_the_same_guard_run() {
    quiet_expected_panics();
    let (mut alloc, leftover) = counting();
    {
        // SAFETY: `alloc` outlives this block.
        let general = unsafe { General::on(&alloc) }.expect("a general context");
        let re = Regex::new(r"(\d+)-(\d+)").unwrap();
        let md = re.match_data(general.0).expect("match data");
        alloc
            .with_mut(|a| a.fail_in(1, Failure::Panic))
            .expect("no call runs");
        let rc = Cell::new(0);
        let payload = payload_of(|| {
            resume_panics(|| {
                rc.set(re.raw_match(b"10-20", &md, ptr::null_mut()));
                // The match failed: the binding drops its match data in
                // the same guarded call.
                drop(md);
            })
        });
        assert!(message_of(&*payload).starts_with("expected panic in allocation 3"));
        assert_eq!(rc.get(), PCRE2_ERROR_NOMEMORY);
        // The match data's free ran on the poisoned state.
        assert_eq!(blocks(&mut alloc).0, 1, "the general context only");
        drop(general);
        assert_eq!(blocks(&mut alloc), (0, 0));
    }
    drop(alloc);
    assert_eq!(leftover.get(), 0, "nothing left for Drop");
}

/// Within one `pcre2_compile` call: a long pattern is parsed into a heap
/// block first; when the compiled code's allocation then panics, PCRE2
/// frees the parsed pattern before returning, in the same C call, where no
/// guard placement could help a `free` that the poison refused: marked
/// `runs_poisoned`, it runs, as after a null from malloc.
#[test]
fn a_panic_in_malloc_inside_compile_still_frees_compiles_own_block() {
    quiet_expected_panics();
    let pattern = "a".repeat(3000);
    for how in [Failure::Null, Failure::Panic] {
        let (mut alloc, leftover) = counting();
        {
            // SAFETY: `alloc` outlives this block.
            let general = unsafe { General::on(&alloc) }.expect("a general context");
            let cc = general.compile_context().unwrap();
            alloc.with_mut(|a| a.fail_in(2, how)).expect("no call runs");
            // SAFETY: a live compile context on the allocator.
            let compile = || unsafe { Regex::with(&pattern, 0, cc.0) };
            match how {
                Failure::Null => {
                    let e = compile().err().expect("no memory");
                    assert_eq!(e.code, PCRE2_ERROR_HEAP_FAILED);
                }
                Failure::Panic => {
                    let payload = payload_of(compile);
                    assert!(message_of(&*payload).starts_with("expected panic in allocation 4"));
                }
            }
            // The general and compile contexts: the parsed pattern was
            // freed either way.
            assert_eq!(blocks(&mut alloc).0, 2);
            assert_eq!(
                alloc.with_mut(|a| a.allocations.get()),
                Some(4),
                "the contexts, the parsed pattern, the code"
            );
        }
        assert_eq!(blocks(&mut alloc), (0, 0));
        drop(alloc);
        assert_eq!(leftover.get(), 0);
    }
}

/// The same allocator as `#[callback]` fns sharing one `&Counting`:
/// `free` is `on_panic = fallback`, which the fn form does not poison, so
/// the free in the failing guard runs and every block is counted back.
#[callback]
extern "C" fn counted_malloc(size: usize, #[user_data] a: &Counting) -> *mut c_void {
    a.allocate(size)
}

#[callback(on_panic = fallback)]
extern "C" fn counted_free(ptr: *mut c_void, #[user_data] a: &Counting) {
    a.release(ptr);
}

#[test]
fn allocator_fns_keep_freeing_after_a_panic_in_malloc() {
    quiet_expected_panics();
    let leftover = Rc::new(Cell::new(0));
    let alloc = Counting::new(leftover.clone());
    {
        // SAFETY: `alloc` (the fns' user data) outlives this block, where
        // everything made on it is dropped.
        let general = unsafe {
            pcre2_general_context_create_8(
                Some(counted_malloc),
                Some(counted_free),
                counted_malloc::user_data(&alloc),
            )
        };
        assert!(!general.is_null());
        let general = General(general);
        let re = Regex::new(r"(\d+)-(\d+)").unwrap();
        let md = re.match_data(general.0).expect("match data");
        alloc.fail_in(1, Failure::Panic);
        let rc = Cell::new(0);
        let payload = payload_of(|| {
            resume_panics(|| {
                rc.set(re.raw_match(b"10-20", &md, ptr::null_mut()));
                drop(md);
            })
        });
        assert!(message_of(&*payload).starts_with("expected panic in allocation 3"));
        assert_eq!(rc.get(), PCRE2_ERROR_NOMEMORY);
        // The match data's free ran while the panic was kept.
        assert_eq!(alloc.blocks().0, 1);
        // And the allocator serves again.
        let md = re.match_data(general.0).expect("match data");
        assert_eq!(
            resume_panics(|| re.raw_match(b"10-20", &md, ptr::null_mut())),
            3
        );
        assert_eq!(md.pair(2), (3, 5));
    }
    assert_eq!(alloc.blocks(), (0, 0));
    drop(alloc);
    assert_eq!(leftover.get(), 0);
}

/// The allocator and a callout together: a match on a context made on the
/// counting allocator, with a callout that reads the captures, and the
/// callout's holder and every block gone at the end.
#[test]
fn callouts_on_a_context_made_on_the_counting_allocator() {
    let (mut alloc, leftover) = counting();
    {
        // SAFETY: `alloc` outlives this block.
        let general = unsafe { General::on(&alloc) }.expect("a general context");
        let cc = general.compile_context().unwrap();
        // SAFETY: as above.
        let mut ctx = unsafe { Context::on(general.0) }.unwrap();
        // SAFETY: a live compile context on the allocator.
        let re = unsafe { Regex::with(r"(?<y>\d{4})-(?<m>\d\d)(?C1)", 0, cc.0) }.unwrap();
        let md = re.match_data(general.0).unwrap();
        let mut months = Vec::new();
        let rc = ctx.with_callout(
            |b| {
                let m = b.capture_text(2).unwrap();
                months.push(m.to_vec());
                // Only months 01-12.
                c_int::from(m > b"12".as_slice())
            },
            |ctx| re.raw_match(b"2024-13 2025-07", &md, ctx.mctx),
        );
        assert_eq!((rc, md.pair(0)), (3, (8, 15)));
        assert_eq!(months, [b"13".to_vec(), b"07".to_vec()]);
        assert!(blocks(&mut alloc).0 > 4);
    }
    assert_eq!(blocks(&mut alloc), (0, 0));
    drop(alloc);
    assert_eq!(leftover.get(), 0);
}
