//! expat (the system library, apt `libexpat1-dev`) parsing through Rust
//! handlers, as an XML binding would write them: a `#[callback]` set whose
//! one state sits behind `XML_SetUserData` and receives the start and end
//! tags (names as `&CStr`, attributes as a slice of pointers), character
//! data (`&[u8]`), comments and processing instructions, and builds an
//! outline of the document.
//!
//! - the state lent for one `XML_Parse` (`scope`), lent again for each
//!   chunk, boxed across chunks (`boxed`, and taken back with
//!   `into_inner` after the last one), or handed over and ended with
//!   `DESTROY`: dropped exactly once, every way; a state the caller only
//!   borrows is lent through a wrapper of the borrow;
//! - a panic in one handler: expat goes on delivering the document, but no
//!   handler runs user code after it, and the panic comes back, with its
//!   payload, when `XML_Parse` returns; a boxed state runs again once the
//!   panic reached the caller (so the binding must stop feeding expat);
//! - null user data is refused, never dereferenced;
//! - handlers that get the parser (`XML_UseParserAsHandlerArg`, the user
//!   data read back with `XML_GetUserData`) stop it with `XML_StopParser`:
//!   from their body, from `on_error` (a handler failing with `?`, whose
//!   error comes back typed) and from `fallback` (after a panic or a
//!   refusal); expat's calls after the stop run no user code; a suspended
//!   parser resumes with the state lent again;
//! - an external entity parsed re-entrantly in its handler by a sub-parser
//!   that inherits the user data: refused for `&mut self` handlers, parsed
//!   with a state of its own lent to the sub-parser, or with `&self`
//!   handlers; a panic there fails the parse through the entity handler's
//!   fallback (`XML_STATUS_ERROR`);
//! - an unknown-encoding handler (a callback type) filling `XML_Encoding`
//!   (`&mut`) with a boxed `convert` callback whose `release` is its
//!   destroy, which `XML_ParserFree` calls once (or expat at once, when
//!   the handler panicked after filling it in).
//!
//! scripts/test-expat.sh runs this binary under valgrind memcheck too.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;
use std::sync::Once;

use ffi_callback::{callback, resume_panics, resume_panics_with, try_resume};

// ---------------------------------------------------------------------------
// expat, declared by hand
// ---------------------------------------------------------------------------

/// expat's `struct XML_ParserStruct`, opaque.
#[repr(C)]
struct XmlParserStruct {
    _opaque: [u8; 0],
}

/// `XML_Parser`.
type XmlParser = *mut XmlParserStruct;

const XML_STATUS_ERROR: c_int = 0;
const XML_STATUS_OK: c_int = 1;
const XML_STATUS_SUSPENDED: c_int = 2;
const XML_FALSE: u8 = 0;
const XML_TRUE: u8 = 1;
/// `enum XML_Error`'s values that the tests expect.
const XML_ERROR_NONE: c_int = 0;
const XML_ERROR_UNKNOWN_ENCODING: c_int = 18;
const XML_ERROR_EXTERNAL_ENTITY_HANDLING: c_int = 21;
const XML_ERROR_ABORTED: c_int = 35;

/// `XML_Encoding`: filled by the unknown-encoding handler.
#[repr(C)]
struct XmlEncoding {
    map: [c_int; 256],
    data: *mut c_void,
    convert: Option<ConvertFn>,
    release: Option<unsafe extern "C" fn(*mut c_void)>,
}

impl XmlEncoding {
    /// What expat passes to the handler: every byte invalid, no converter.
    fn is_blank(&self) -> bool {
        self.map.iter().all(|&m| m == -1)
            && self.data.is_null()
            && self.convert.is_none()
            && self.release.is_none()
    }
}

/// `<expat.h>`'s handler types, as a -sys crate declares them.
type XmlStartElementHandler =
    unsafe extern "C" fn(user_data: *mut c_void, name: *const c_char, atts: *mut *const c_char);
type XmlEndElementHandler = unsafe extern "C" fn(user_data: *mut c_void, name: *const c_char);
type XmlCharacterDataHandler =
    unsafe extern "C" fn(user_data: *mut c_void, s: *const c_char, len: c_int);
type XmlCommentHandler = unsafe extern "C" fn(user_data: *mut c_void, data: *const c_char);
type XmlProcessingInstructionHandler =
    unsafe extern "C" fn(user_data: *mut c_void, target: *const c_char, data: *const c_char);
type XmlExternalEntityRefHandler = unsafe extern "C" fn(
    parser: XmlParser,
    context: *const c_char,
    base: *const c_char,
    system_id: *const c_char,
    public_id: *const c_char,
) -> c_int;
type XmlUnknownEncodingHandler = unsafe extern "C" fn(
    encoding_handler_data: *mut c_void,
    name: *const c_char,
    info: *mut XmlEncoding,
) -> c_int;

unsafe extern "C" {
    fn XML_ParserCreate(encoding: *const c_char) -> XmlParser;
    fn XML_ParserFree(parser: XmlParser);
    fn XML_SetUserData(parser: XmlParser, user_data: *mut c_void);
    fn XML_UseParserAsHandlerArg(parser: XmlParser);
    fn XML_SetElementHandler(
        parser: XmlParser,
        start: Option<XmlStartElementHandler>,
        end: Option<XmlEndElementHandler>,
    );
    fn XML_SetCharacterDataHandler(parser: XmlParser, handler: Option<XmlCharacterDataHandler>);
    fn XML_SetCommentHandler(parser: XmlParser, handler: Option<XmlCommentHandler>);
    fn XML_SetProcessingInstructionHandler(
        parser: XmlParser,
        handler: Option<XmlProcessingInstructionHandler>,
    );
    fn XML_SetExternalEntityRefHandler(
        parser: XmlParser,
        handler: Option<XmlExternalEntityRefHandler>,
    );
    fn XML_SetUnknownEncodingHandler(
        parser: XmlParser,
        handler: Option<XmlUnknownEncodingHandler>,
        data: *mut c_void,
    );
    fn XML_ExternalEntityParserCreate(
        parser: XmlParser,
        context: *const c_char,
        encoding: *const c_char,
    ) -> XmlParser;
    fn XML_Parse(parser: XmlParser, s: *const c_char, len: c_int, is_final: c_int) -> c_int;
    fn XML_StopParser(parser: XmlParser, resumable: u8) -> c_int;
    fn XML_ResumeParser(parser: XmlParser) -> c_int;
    fn XML_GetErrorCode(parser: XmlParser) -> c_int;
}

/// expat's `XML_GetUserData`, a macro: the user data is the first field of
/// the parser.
///
/// # Safety
/// `parser` is a live parser.
unsafe fn xml_get_user_data(parser: XmlParser) -> *mut c_void {
    // SAFETY: `XML_GetUserData(parser)` is `(*(void **)(parser))`.
    unsafe { *parser.cast::<*mut c_void>() }
}

/// A parser, freed when dropped.
struct Parser(XmlParser);

impl Parser {
    fn new() -> Parser {
        // SAFETY: a null encoding lets the document say which.
        let parser = unsafe { XML_ParserCreate(ptr::null()) };
        assert!(!parser.is_null(), "XML_ParserCreate");
        Parser(parser)
    }

    /// A parser whose handlers are the `Handlers` set's entry points for `S`.
    fn with_handlers<S: Handlers>() -> Parser {
        let parser = Parser::new();
        // SAFETY: a live parser and the set's entry points for `S`, which
        // only run with user data made by `S::scope` or `S::boxed`.
        unsafe {
            XML_SetElementHandler(parser.0, Some(S::START), Some(S::END));
            XML_SetCharacterDataHandler(parser.0, Some(S::TEXT));
            XML_SetCommentHandler(parser.0, Some(S::COMMENT));
            XML_SetProcessingInstructionHandler(parser.0, Some(S::INSTRUCTION));
            XML_SetExternalEntityRefHandler(parser.0, Some(S::EXTERNAL_ENTITY));
        }
        parser
    }

    /// Feeds `chunk` to the parser; `XML_Parse`'s status.
    ///
    /// # Safety
    /// The parser's user data is what its handlers expect, alive until this
    /// returns.
    unsafe fn parse(&self, chunk: &[u8], last: bool) -> c_int {
        let len = c_int::try_from(chunk.len()).expect("a chunk fits an int");
        // SAFETY: `len` bytes at `chunk`; the user data is the caller's
        // promise.
        unsafe { XML_Parse(self.0, chunk.as_ptr().cast(), len, c_int::from(last)) }
    }

    fn error(&self) -> c_int {
        // SAFETY: a live parser.
        unsafe { XML_GetErrorCode(self.0) }
    }

    /// # Safety
    /// `user_data` is what the parser's handlers expect while it parses.
    unsafe fn set_user_data(&self, user_data: *mut c_void) {
        // SAFETY: a live parser; the rest is the caller's promise.
        unsafe { XML_SetUserData(self.0, user_data) }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: made by XML_ParserCreate, freed once.
        unsafe { XML_ParserFree(self.0) }
    }
}

// ---------------------------------------------------------------------------
// The handlers: a callback set behind XML_SetUserData
// ---------------------------------------------------------------------------

/// expat's handlers, as `<expat.h>` declares them, `void *userData` first.
#[callback]
trait Handlers {
    /// `XML_StartElementHandler`: `atts` borrowed as the slice of its
    /// name and value pointers, counted up to the terminating null (the
    /// strings themselves stay raw: no conversion borrows an array of C
    /// strings).
    unsafe extern "C" fn start(
        &mut self,
        #[user_data] user_data: *mut c_void,
        #[into(&CStr)] name: *const c_char,
        #[into(
            &[*const c_char],
            // SAFETY: expat passes a null-terminated array.
            len = unsafe { null_terminated_len(atts) },
        )]
        atts: *mut *const c_char,
    );
    /// `XML_EndElementHandler`.
    unsafe extern "C" fn end(
        &mut self,
        #[user_data] user_data: *mut c_void,
        #[into(&CStr)] name: *const c_char,
    );
    /// `XML_CharacterDataHandler`: `s` is not NUL-terminated.
    unsafe extern "C" fn text(
        &mut self,
        #[user_data] user_data: *mut c_void,
        #[into(&[u8], len = usize::try_from(len).expect("expat passes len >= 0"))] s: *const c_char,
        len: c_int,
    );
    /// `XML_CommentHandler`.
    unsafe extern "C" fn comment(
        &mut self,
        #[user_data] user_data: *mut c_void,
        #[into(&CStr)] data: *const c_char,
    );
    /// `XML_ProcessingInstructionHandler`.
    unsafe extern "C" fn instruction(
        &mut self,
        #[user_data] user_data: *mut c_void,
        #[into(&CStr)] target: *const c_char,
        #[into(&CStr)] data: *const c_char,
    );
    /// `XML_ExternalEntityRefHandler`: the parser comes first, not the
    /// user data, which is read back from it. `XML_STATUS_ERROR` (0, also
    /// the fallback after a panic) makes the parser fail.
    #[callback(
        // SAFETY: expat passes the live parser that parses the reference.
        user_data = unsafe { xml_get_user_data(parser) },
        on_continue = XML_STATUS_OK,
        on_break = XML_STATUS_ERROR,
    )]
    unsafe extern "C" fn external_entity(
        &mut self,
        parser: XmlParser,
        context: *const c_char,
        base: *const c_char,
        #[into(Option<&CStr>)] system_id: *const c_char,
        public_id: *const c_char,
    ) -> c_int;
}

/// The number of pointers before the null that ends `array`.
///
/// # Safety
/// `array` points to an array of pointers ended by a null one.
unsafe fn null_terminated_len(array: *mut *const c_char) -> usize {
    let mut len = 0;
    // SAFETY: the caller's promise: every element up to the null is
    // readable.
    while !unsafe { *array.add(len) }.is_null() {
        len += 1;
    }
    len
}

/// The attributes expat passes to a start handler: name/value pairs.
///
/// # Safety
/// `atts` holds expat's name and value pointers for this call: each a
/// NUL-terminated string, valid for the call, in pairs.
unsafe fn attributes(atts: &[*const c_char]) -> Vec<(String, String)> {
    atts.chunks_exact(2)
        .map(|pair| {
            // SAFETY: the caller's promise.
            let (name, value) = unsafe { (CStr::from_ptr(pair[0]), CStr::from_ptr(pair[1])) };
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// Counts drops (of the state holding it).
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// How `Outline` parses an external entity in its handler.
#[derive(Clone, Copy, PartialEq)]
enum Entities {
    /// With a sub-parser that inherits the parser's user data: its
    /// handlers are calls of this same state, nested in the entity
    /// handler's `&mut self` call.
    Inherit,
    /// With a sub-parser given a state of its own (another `Outline`, lent
    /// for the sub-parse).
    OwnState,
}

/// What the handlers share: an outline of the document, one line per event,
/// indented by depth (adjacent character data merged, blank text skipped).
struct Outline {
    /// Shared, so that it can be read while the state is boxed (a
    /// `BoxedSet` does not give its state back) and after a panic dropped
    /// it.
    lines: Rc<RefCell<Vec<String>>>,
    depth: usize,
    /// Text not yet written (expat splits character data at will).
    text: Vec<u8>,
    /// Handler calls that ran user code, shared for the same reasons.
    calls: Rc<Cell<u32>>,
    panicked_at: Rc<Cell<u32>>,
    /// Panics in the start handler of the element with this name.
    panic_on: Option<&'static str>,
    entities: Entities,
    _drops: DropCounter,
}

/// What a test reads of an `Outline` after the parse.
struct Probe {
    lines: Rc<RefCell<Vec<String>>>,
    calls: Rc<Cell<u32>>,
    /// `calls` when the start handler panicked.
    panicked_at: Rc<Cell<u32>>,
    drops: Rc<Cell<u32>>,
}

impl Probe {
    fn lines(&self) -> Vec<String> {
        self.lines.borrow().clone()
    }
}

impl Outline {
    fn new() -> (Outline, Probe) {
        let probe = Probe {
            lines: Rc::default(),
            calls: Rc::default(),
            panicked_at: Rc::default(),
            drops: Rc::default(),
        };
        let outline = Outline {
            lines: probe.lines.clone(),
            depth: 0,
            text: Vec::new(),
            calls: probe.calls.clone(),
            panicked_at: probe.panicked_at.clone(),
            panic_on: None,
            entities: Entities::Inherit,
            _drops: DropCounter(probe.drops.clone()),
        };
        (outline, probe)
    }

    fn count(&self) {
        self.calls.set(self.calls.get() + 1);
    }

    fn line(&mut self, line: String) {
        self.flush_text();
        let line = format!("{}{line}", "  ".repeat(self.depth));
        self.lines.borrow_mut().push(line);
    }

    fn flush_text(&mut self) {
        let text = std::mem::take(&mut self.text);
        let text = String::from_utf8(text).expect("expat passes UTF-8");
        let text = text.trim();
        if !text.is_empty() {
            let line = format!("{}{text:?}", "  ".repeat(self.depth));
            self.lines.borrow_mut().push(line);
        }
    }
}

impl Handlers for Outline {
    fn start(&mut self, name: &CStr, atts: &[*const c_char]) {
        self.count();
        let name = name.to_str().expect("UTF-8");
        if self.panic_on == Some(name) {
            self.panicked_at.set(self.calls.get());
            panic!("expected: <{name}> is not allowed");
        }
        // SAFETY: expat's attribute array for this call.
        let atts = unsafe { attributes(atts) };
        let atts: String = atts
            .iter()
            .map(|(name, value)| format!(" {name}={value:?}"))
            .collect();
        self.line(format!("<{name}{atts}>"));
        self.depth += 1;
    }

    fn end(&mut self, _name: &CStr) {
        self.count();
        self.flush_text();
        self.depth = (self.depth.checked_sub(1)).expect("expected: an end tag without its start");
    }

    fn text(&mut self, s: &[u8], _len: c_int) {
        self.count();
        self.text.extend_from_slice(s);
    }

    fn comment(&mut self, data: &CStr) {
        self.count();
        self.line(format!("<!--{}-->", data.to_string_lossy()));
    }

    fn instruction(&mut self, target: &CStr, data: &CStr) {
        self.count();
        let (target, data) = (target.to_string_lossy(), data.to_string_lossy());
        self.line(format!("<?{target} {data}?>"));
    }

    fn external_entity(
        &mut self,
        parser: XmlParser,
        context: *const c_char,
        _base: *const c_char,
        system_id: Option<&CStr>,
        _public_id: *const c_char,
    ) -> ControlFlow<()> {
        self.count();
        let system_id = system_id.map_or("?".into(), CStr::to_string_lossy);
        self.line(format!("&{system_id};"));
        // SAFETY: in an external entity handler, with its parser and context.
        let sub = unsafe { XML_ExternalEntityParserCreate(parser, context, ptr::null()) };
        assert!(!sub.is_null(), "XML_ExternalEntityParserCreate");
        let sub = Parser(sub);
        let status = match self.entities {
            // SAFETY: the sub-parser's user data is this state's
            // (inherited), alive for the call.
            Entities::Inherit => unsafe { sub.parse(ENTITY, true) },
            Entities::OwnState => {
                let (mut inner, probe) = Outline::new();
                inner.depth = self.depth;
                inner.panic_on = self.panic_on;
                let (status, _inner) = inner.scope(|ud| {
                    // SAFETY: `ud` is the lent `inner`, alive until the
                    // sub-parse returns.
                    unsafe {
                        sub.set_user_data(ud);
                        sub.parse(ENTITY, true)
                    }
                });
                self.lines.borrow_mut().extend(probe.lines());
                status
            }
        };
        if status == XML_STATUS_OK {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }
}

const DOCUMENT: &[u8] = br#"<?xml version="1.0"?>
<!-- an outline -->
<book lang="en" id="b1">
  <?render fast?>
  <title>Expat &amp; Rust</title>
  <chapter n="1">Callbacks<br/>sets</chapter>
  <chapter n="2">Panics</chapter>
</book>
"#;

const OUTLINE: &[&str] = &[
    "<!-- an outline -->",
    r#"<book lang="en" id="b1">"#,
    "  <?render fast?>",
    "  <title>",
    r#"    "Expat & Rust""#,
    r#"  <chapter n="1">"#,
    r#"    "Callbacks""#,
    "    <br>",
    r#"    "sets""#,
    r#"  <chapter n="2">"#,
    r#"    "Panics""#,
];

/// An entity declared external, referenced in the document.
const WITH_ENTITY: &[u8] = br#"<!DOCTYPE doc [ <!ENTITY part SYSTEM "part.xml"> ]>
<doc><a/>&part;<b/></doc>"#;

/// What `part.xml` holds.
const ENTITY: &[u8] = b"<inner>in the entity</inner>";

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<not a string>".to_owned())
}

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic to be resumed"),
        Err(payload) => payload,
    }
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

// ---------------------------------------------------------------------------
// Tests: the set behind XML_SetUserData
// ---------------------------------------------------------------------------

#[test]
fn the_set_outlines_a_document_lent_for_one_parse() {
    let parser = Parser::with_handlers::<Outline>();
    let (outline, probe) = Outline::new();
    let (status, outline) = outline.scope(|ud| {
        // SAFETY: `ud` is the lent `Outline`, alive until `scope` returns,
        // which is after the parse.
        unsafe {
            parser.set_user_data(ud);
            parser.parse(DOCUMENT, true)
        }
    });
    assert_eq!(status, XML_STATUS_OK, "error {}", parser.error());
    assert_eq!(probe.lines(), OUTLINE);
    assert_eq!(outline.depth, 0);
    assert!(probe.calls.get() > 10, "{}", probe.calls.get());
    assert_eq!(probe.drops.get(), 0, "the state came back");
    drop(outline);
    assert_eq!(probe.drops.get(), 1);
}

#[test]
fn a_boxed_state_keeps_its_outline_across_chunks_and_drops_once() {
    let (outline, probe) = Outline::new();
    let boxed = outline.boxed();
    {
        let parser = Parser::with_handlers::<Outline>();
        // SAFETY: the boxed state outlives the parser (dropped first).
        unsafe { parser.set_user_data(boxed.user_data()) };
        let chunks: Vec<&[u8]> = DOCUMENT.chunks(7).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            // Each `XML_Parse` is a C call of its own: its guard.
            // SAFETY: the boxed state is alive and not otherwise in use.
            let status = resume_panics(|| unsafe { parser.parse(chunk, last) });
            assert_eq!(status, XML_STATUS_OK, "chunk {i}: error {}", parser.error());
        }
    }
    assert_eq!(probe.lines(), OUTLINE, "the same outline as in one piece");
    assert_eq!(probe.drops.get(), 0, "kept while the BoxedSet lives");
    drop(boxed);
    assert_eq!(probe.drops.get(), 1, "dropped once, with the BoxedSet");
}

#[test]
fn a_boxed_state_comes_back_with_into_inner_after_the_last_chunk() {
    // The binding keeps the state boxed across chunks and takes it back
    // once expat is done, reading the document it built from the state
    // itself (the `Rc` in `Outline` is only for the other tests).
    let (outline, probe) = Outline::new();
    let boxed = outline.boxed();
    let parser = Parser::with_handlers::<Outline>();
    // SAFETY: the boxed state is alive until `into_inner`, after the last
    // chunk and after expat's user data no longer points at it.
    unsafe { parser.set_user_data(boxed.user_data()) };
    let chunks: Vec<&[u8]> = DOCUMENT.chunks(5).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        // SAFETY: the boxed state is alive and not otherwise in use.
        let status = resume_panics(|| unsafe { parser.parse(chunk, last) });
        assert_eq!(status, XML_STATUS_OK, "chunk {i}: error {}", parser.error());
    }
    // expat calls no handler after the final chunk; its user data is
    // cleared anyway, so that nothing can call with a freed pointer.
    // SAFETY: null user data is refused by every handler.
    unsafe { parser.set_user_data(ptr::null_mut()) };
    let outline = match boxed.into_inner() {
        Ok(outline) => outline,
        Err(_) => panic!("no handler runs after the last chunk"),
    };
    assert_eq!(outline.depth, 0, "every element closed");
    assert!(outline.text.is_empty(), "no text left over");
    assert_eq!(*outline.lines.borrow(), OUTLINE);
    assert!(outline.calls.get() > 0);
    assert_eq!(probe.drops.get(), 0, "moved out, not dropped");
    drop(parser);
    drop(outline);
    assert_eq!(probe.drops.get(), 1, "dropped once, by its owner");
}

#[test]
fn a_state_lent_again_for_each_chunk_keeps_its_outline() {
    let parser = Parser::with_handlers::<Outline>();
    let (mut outline, probe) = Outline::new();
    for (i, chunk) in DOCUMENT.chunks(11).enumerate() {
        let last = (i + 1) * 11 >= DOCUMENT.len();
        let status;
        // The holder lives in `scope`'s frame: its address changes from one
        // lend to the next, so the user data is set for every chunk, and
        // cleared after it (a call with the stale pointer would be a
        // dangling one; with null it is refused).
        (status, outline) = outline.scope(|ud| {
            // SAFETY: `ud` is the lent state, alive until `scope` returns;
            // cleared before it does.
            unsafe {
                parser.set_user_data(ud);
                let status = parser.parse(chunk, last);
                parser.set_user_data(ptr::null_mut());
                status
            }
        });
        assert_eq!(status, XML_STATUS_OK, "chunk {i}: error {}", parser.error());
    }
    assert_eq!(probe.lines(), OUTLINE);
    assert_eq!(outline.depth, 0);
    drop(outline);
    assert_eq!(probe.drops.get(), 1);
}

#[test]
fn a_state_handed_to_c_is_freed_once_by_destroy_after_the_parser() {
    let (outline, probe) = Outline::new();
    let user_data = outline.boxed().into_raw();
    let parser = Parser::with_handlers::<Outline>();
    // SAFETY: the state lives until `DESTROY` below, after the parser.
    unsafe { parser.set_user_data(user_data) };
    for (chunk, last) in [(&DOCUMENT[..100], false), (&DOCUMENT[100..], true)] {
        // SAFETY: the handed-over state is alive until `DESTROY`.
        let status = resume_panics(|| unsafe { parser.parse(chunk, last) });
        assert_eq!(status, XML_STATUS_OK);
    }
    drop(parser);
    assert_eq!(probe.drops.get(), 0);
    // expat has no destroy-notify: the binding ends the state itself.
    // SAFETY: the user data of a state handed over with `into_raw`, which
    // nothing calls any more, destroyed once.
    unsafe { Outline::DESTROY(user_data) };
    assert_eq!(probe.drops.get(), 1);
    assert_eq!(probe.lines(), OUTLINE);
}

#[test]
fn a_panic_in_a_handler_stops_user_code_and_is_resumed_after_xml_parse() {
    quiet_expected_panics();
    let parser = Parser::with_handlers::<Outline>();
    let (mut outline, probe) = Outline::new();
    outline.panic_on = Some("chapter");
    let status = Cell::new(None);
    let payload = payload_of(|| {
        outline.scope(|ud| {
            // SAFETY: `ud` is the lent state, alive until `scope` returns.
            unsafe {
                parser.set_user_data(ud);
                status.set(Some(parser.parse(DOCUMENT, true)));
            }
        })
    });
    assert_eq!(message(&*payload), "expected: <chapter> is not allowed");
    // expat was not stopped: it parsed the whole document, calling the
    // handlers for the rest of it, which returned without running user code.
    assert_eq!(status.get(), Some(XML_STATUS_OK));
    let lines = probe.lines();
    assert_eq!(lines, OUTLINE[..5], "nothing after the first <chapter>");
    assert_eq!(
        probe.calls.get(),
        probe.panicked_at.get(),
        "no user code ran after the panic"
    );
    assert!(probe.calls.get() >= 5);
    assert_eq!(probe.drops.get(), 1, "the lent state was dropped once");
}

/// The same panic, with the parse under `resume_panics_with`, whose `stop`
/// runs once the guard keeps the panic (inside the handler that panicked,
/// where expat allows `XML_StopParser`): expat stops at once, with the
/// usual `userData`-first handlers, and no handler call is wasted.
#[test]
fn a_panic_stops_the_parser_through_the_guards_stop() {
    quiet_expected_panics();
    let parser = Parser::with_handlers::<Outline>();
    let (mut outline, probe) = Outline::new();
    outline.panic_on = Some("chapter");
    let status = Cell::new(None);
    let payload = payload_of(|| {
        outline.scope(|ud| {
            // SAFETY: `ud` is the lent state, alive until `scope` returns.
            unsafe { parser.set_user_data(ud) };
            resume_panics_with(
                // SAFETY: as above.
                || status.set(Some(unsafe { parser.parse(DOCUMENT, true) })),
                // SAFETY: a live parser, stopped from inside its handler.
                || unsafe {
                    XML_StopParser(parser.0, XML_FALSE);
                },
            )
        })
    });
    assert_eq!(message(&*payload), "expected: <chapter> is not allowed");
    assert_eq!(status.get(), Some(XML_STATUS_ERROR));
    assert_eq!(parser.error(), XML_ERROR_ABORTED);
    assert_eq!(
        probe.lines(),
        OUTLINE[..5],
        "nothing after the first <chapter>"
    );
    assert_eq!(
        probe.calls.get(),
        probe.panicked_at.get(),
        "no user code ran after the panic"
    );
    assert_eq!(probe.drops.get(), 1);
}

#[test]
fn a_boxed_state_runs_again_after_its_panic_reached_the_caller() {
    quiet_expected_panics();
    let (mut outline, probe) = Outline::new();
    outline.panic_on = Some("title");
    let boxed = outline.boxed();
    let parser = Parser::with_handlers::<Outline>();
    // SAFETY: the boxed state outlives the parser (dropped first).
    unsafe { parser.set_user_data(boxed.user_data()) };
    let split = DOCUMENT
        .windows(7)
        .position(|w| w == b"<title>")
        .expect("a title")
        + 7;
    let (first, rest) = DOCUMENT.split_at(split);
    // SAFETY: the boxed state is alive and not otherwise in use.
    let payload = payload_of(|| resume_panics(|| unsafe { parser.parse(first, false) }));
    assert_eq!(message(&*payload), "expected: <title> is not allowed");
    let calls = probe.calls.get();
    assert_eq!(calls, probe.panicked_at.get());
    // The panic reached the caller, who decides: here, to go on with the
    // same parser. The holder is not poisoned any more, so the handlers
    // run user code again, on a state the panic left inconsistent (the
    // title's start never counted its depth): the book's end tag finds no
    // start. Nothing in the crate stops a binding from feeding expat more
    // after a panic; the binding must (see `ParserHandlers`' fallback).
    // SAFETY: as above.
    let payload = payload_of(|| resume_panics(|| unsafe { parser.parse(rest, true) }));
    assert_eq!(message(&*payload), "expected: an end tag without its start");
    assert!(probe.calls.get() > calls + 1, "user code ran again");
    assert_eq!(
        probe.lines(),
        [
            "<!-- an outline -->",
            r#"<book lang="en" id="b1">"#,
            "  <?render fast?>",
            // The title's text and end, then the chapters, one level up.
            r#"  "Expat & Rust""#,
            r#"<chapter n="1">"#,
            r#"  "Callbacks""#,
            "  <br>",
            r#"  "sets""#,
            r#"<chapter n="2">"#,
            r#"  "Panics""#,
        ]
    );
    drop(parser);
    drop(boxed);
    assert_eq!(probe.drops.get(), 1);
}

#[test]
fn handlers_without_user_data_are_refused_not_dereferenced() {
    quiet_expected_panics();
    let parser = Parser::with_handlers::<Outline>();
    // No XML_SetUserData: expat passes null.
    // SAFETY: null user data is refused by every entry point.
    let payload = payload_of(|| resume_panics(|| unsafe { parser.parse(DOCUMENT, true) }));
    let message = message(&*payload);
    assert!(message.contains("its user data is null"), "{message}");
}

#[test]
fn a_sub_parser_sharing_the_user_data_is_refused_inside_the_entity_handler() {
    quiet_expected_panics();
    let parser = Parser::with_handlers::<Outline>();
    let (outline, probe) = Outline::new();
    let status = Cell::new(None);
    let payload = payload_of(|| {
        outline.scope(|ud| {
            // SAFETY: `ud` is the lent state, alive until `scope` returns.
            unsafe {
                parser.set_user_data(ud);
                status.set(Some(parser.parse(WITH_ENTITY, true)));
            }
        })
    });
    let message = message(&*payload);
    // The sub-parser's first handler call came while `external_entity`
    // held `&mut self`: refused (two `&mut` would alias), and the refusal
    // is resumed like a panic.
    assert!(message.contains("refused"), "{message}");
    assert!(message.contains("Handlers::start"), "{message}");
    // The advice is a set's: `&self` entries, or a state of its own.
    assert!(
        message.contains("take `&self` in the set's entries"),
        "{message}"
    );
    assert_eq!(status.get(), Some(XML_STATUS_OK));
    assert_eq!(probe.lines(), ["<doc>", "  <a>", "  &part.xml;"]);
    assert_eq!(probe.drops.get(), 1);
}

#[test]
fn a_sub_parser_with_a_state_of_its_own_parses_the_entity_re_entrantly() {
    let parser = Parser::with_handlers::<Outline>();
    let (mut outline, probe) = Outline::new();
    outline.entities = Entities::OwnState;
    let (status, _outline) = outline.scope(|ud| {
        // SAFETY: `ud` is the lent state, alive until `scope` returns.
        unsafe {
            parser.set_user_data(ud);
            parser.parse(WITH_ENTITY, true)
        }
    });
    assert_eq!(status, XML_STATUS_OK, "error {}", parser.error());
    assert_eq!(
        probe.lines(),
        [
            "<doc>",
            "  <a>",
            "  &part.xml;",
            "  <inner>",
            r#"    "in the entity""#,
            "  <b>"
        ]
    );
}

#[test]
fn a_panic_parsing_the_entity_fails_the_parse_through_the_fallback() {
    quiet_expected_panics();
    let parser = Parser::with_handlers::<Outline>();
    let (mut outline, probe) = Outline::new();
    outline.entities = Entities::OwnState;
    // Only the entity's own state meets `<inner>`: its scope resumes the
    // panic inside `external_entity`, whose entry point keeps it and gives
    // expat its fallback, 0: the parse fails.
    outline.panic_on = Some("inner");
    let status = Cell::new(None);
    let payload = payload_of(|| {
        outline.scope(|ud| {
            // SAFETY: `ud` is the lent state, alive until `scope` returns.
            unsafe {
                parser.set_user_data(ud);
                status.set(Some(parser.parse(WITH_ENTITY, true)));
            }
        })
    });
    assert_eq!(message(&*payload), "expected: <inner> is not allowed");
    assert_eq!(status.get(), Some(XML_STATUS_ERROR));
    assert_eq!(parser.error(), XML_ERROR_EXTERNAL_ENTITY_HANDLING);
    assert_eq!(probe.lines(), ["<doc>", "  <a>", "  &part.xml;"]);
    assert_eq!(probe.drops.get(), 1);
}

// ---------------------------------------------------------------------------
// Handlers that get the parser: XML_UseParserAsHandlerArg
// ---------------------------------------------------------------------------

/// The same handlers after `XML_UseParserAsHandlerArg`: expat passes the
/// parser first instead of the user data, which is read back from it. A
/// handler can then stop the parser itself, and so can `on_error` and
/// `fallback`, which see the C parameters (but not the state).
#[callback(
    // SAFETY: expat passes the live parser (XML_UseParserAsHandlerArg).
    user_data = unsafe { xml_get_user_data(parser.cast()) },
    // After a panic or a refusal: abort the parse, so that expat stops
    // delivering the rest of the document.
    // SAFETY: the live parser, inside one of its handlers.
    fallback = { unsafe { XML_StopParser(parser.cast(), XML_FALSE) }; },
)]
trait ParserHandlers {
    #[callback(
        // SAFETY: the live parser, inside one of its handlers.
        on_error = { unsafe { XML_StopParser(parser.cast(), XML_FALSE) }; },
    )]
    unsafe extern "C" fn start(
        &mut self,
        parser: *mut c_void,
        #[into(&CStr)] name: *const c_char,
        atts: *mut *const c_char,
    ) -> Result<(), Refused>;
    unsafe extern "C" fn end(&mut self, parser: *mut c_void, #[into(&CStr)] name: *const c_char);
    unsafe extern "C" fn text(
        &mut self,
        parser: *mut c_void,
        #[into(&[u8], len = usize::try_from(len).expect("expat passes len >= 0"))] s: *const c_char,
        len: c_int,
    );
}

/// Why a document was refused.
#[derive(Debug, PartialEq)]
struct Refused {
    element: String,
    depth: usize,
}

/// Logs element names; stops the parser at `stop_at`, refuses elements
/// deeper than `max_depth`, panics on `panic_on`.
struct Checker {
    log: Vec<String>,
    depth: usize,
    max_depth: usize,
    stop_at: Option<&'static str>,
    /// Suspends the parser (resumable) at these elements.
    suspend_at: &'static [&'static str],
    panic_on: Option<&'static str>,
    calls: Rc<Cell<u32>>,
    _drops: DropCounter,
}

impl Checker {
    fn new() -> (Checker, Rc<Cell<u32>>, Rc<Cell<u32>>) {
        let calls = Rc::new(Cell::new(0));
        let drops = Rc::new(Cell::new(0));
        let checker = Checker {
            log: Vec::new(),
            depth: 0,
            max_depth: usize::MAX,
            stop_at: None,
            suspend_at: &[],
            panic_on: None,
            calls: calls.clone(),
            _drops: DropCounter(drops.clone()),
        };
        (checker, calls, drops)
    }

    fn parser() -> Parser {
        let parser = Parser::new();
        // SAFETY: a live parser; the set's entry points for `Checker`,
        // which find their state through `XML_GetUserData(parser)`, set
        // by `parse` before every parse.
        unsafe {
            XML_UseParserAsHandlerArg(parser.0);
            XML_SetElementHandler(parser.0, Some(Checker::START), Some(Checker::END));
            XML_SetCharacterDataHandler(parser.0, Some(Checker::TEXT));
        }
        parser
    }
}

impl Checker {
    /// One level deeper, refused past `max_depth`.
    fn enter(&mut self, element: &str) -> Result<(), Refused> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(Refused {
                element: element.to_owned(),
                depth: self.depth,
            });
        }
        Ok(())
    }
}

impl ParserHandlers for Checker {
    fn start(
        &mut self,
        parser: *mut c_void,
        name: &CStr,
        _atts: *mut *const c_char,
    ) -> Result<(), Refused> {
        self.calls.set(self.calls.get() + 1);
        let name = name.to_string_lossy().into_owned();
        if self.panic_on == Some(name.as_str()) {
            panic!("expected: <{name}> panicked");
        }
        self.enter(&name)?;
        if self.stop_at == Some(name.as_str()) {
            // SAFETY: the live parser, inside its start handler.
            let status = unsafe { XML_StopParser(parser.cast(), XML_FALSE) };
            assert_eq!(status, XML_STATUS_OK);
        }
        if self.suspend_at.contains(&name.as_str()) {
            // SAFETY: the live parser, inside its start handler.
            let status = unsafe { XML_StopParser(parser.cast(), XML_TRUE) };
            assert_eq!(status, XML_STATUS_OK);
        }
        self.log.push(name);
        Ok(())
    }

    fn end(&mut self, _parser: *mut c_void, name: &CStr) {
        self.calls.set(self.calls.get() + 1);
        self.depth -= 1;
        self.log.push(format!("/{}", name.to_string_lossy()));
    }

    fn text(&mut self, _parser: *mut c_void, _s: &[u8], _len: c_int) {
        self.calls.set(self.calls.get() + 1);
    }
}

// ---------------------------------------------------------------------------
// An unknown encoding: a callback type and a boxed `convert` with `release`
// ---------------------------------------------------------------------------

/// `XML_UnknownEncodingHandler`: fills `info` for the encoding `name`;
/// `XML_STATUS_ERROR` (0, also the fallback) if it does not know it.
#[callback]
type UnknownEncoding = unsafe extern "C" fn(
    #[user_data] data: *mut c_void,
    #[into(&CStr)] name: *const c_char,
    #[into(&mut XmlEncoding)] info: *mut XmlEncoding,
) -> c_int;

/// `XML_Encoding`'s `convert`: the scalar value of the multi-byte sequence at
/// `s`; -1 (the fallback) makes it invalid.
#[callback(fallback = -1)]
type Convert = unsafe extern "C" fn(#[user_data] data: *mut c_void, s: *const c_char) -> c_int;

// ---------------------------------------------------------------------------
// Tests: handlers that get the parser
// ---------------------------------------------------------------------------

/// A short document: a book of two chapters, each with a title.
const BOOK: &[u8] = b"<book><chapter><title>One</title></chapter>\
<chapter><title>Two</title></chapter></book>";

/// Lends `checker` to a fresh parser for one parse of `document`, under
/// `try_resume` inside the lend, so that an `Err` comes back typed and the
/// state comes back too; the parse's status and error code.
fn check(checker: Checker, document: &[u8]) -> (Result<c_int, Refused>, c_int, Checker) {
    let parser = Checker::parser();
    let (status, checker) = checker.scope(|ud| {
        // SAFETY: `ud` is the lent state, alive until `scope` returns; the
        // handlers read it back from the parser.
        unsafe { parser.set_user_data(ud) };
        // SAFETY: as above.
        try_resume(|| unsafe { parser.parse(document, true) })
    });
    (status, parser.error(), checker)
}

/// [`check`] for a checker that panics: the panic's payload (resumed when
/// `scope` returns, the lent state dropped with it), `XML_Parse`'s status
/// and the parser's error.
fn check_panicking(checker: Checker, document: &[u8]) -> (Box<dyn Any + Send>, c_int, c_int) {
    let parser = Checker::parser();
    let status = Cell::new(None);
    let payload = payload_of(|| {
        checker.scope(|ud| {
            // SAFETY: `ud` is the lent state, alive until `scope` returns.
            unsafe {
                parser.set_user_data(ud);
                status.set(Some(parser.parse(document, true)));
            }
        })
    });
    (
        payload,
        status.get().expect("XML_Parse returned"),
        parser.error(),
    )
}

#[test]
fn a_handler_stops_the_parser_it_receives() {
    let (mut checker, calls, drops) = Checker::new();
    checker.stop_at = Some("title");
    let (status, error, checker) = check(checker, BOOK);
    assert_eq!(status, Ok(XML_STATUS_ERROR));
    assert_eq!(error, XML_ERROR_ABORTED);
    // Nothing after the first title's start: expat stopped delivering.
    assert_eq!(checker.log, ["book", "chapter", "title"]);
    assert_eq!(calls.get(), 3);
    drop(checker);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_handler_returning_err_stops_the_parser_and_the_error_comes_back_typed() {
    let (mut checker, calls, drops) = Checker::new();
    checker.max_depth = 2;
    let (status, error, checker) = check(checker, BOOK);
    assert_eq!(
        status,
        Err(Refused {
            element: "title".into(),
            depth: 3
        })
    );
    // `on_error` stopped the parser: expat aborted the parse.
    assert_eq!(error, XML_ERROR_ABORTED);
    assert_eq!(checker.log, ["book", "chapter"]);
    assert_eq!(calls.get(), 3, "no handler ran user code after the Err");
    drop(checker);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_panicking_handler_stops_the_parser_through_the_fallback() {
    quiet_expected_panics();
    let (mut checker, calls, drops) = Checker::new();
    checker.panic_on = Some("title");
    let (payload, status, error) = check_panicking(checker, BOOK);
    assert_eq!(message(&*payload), "expected: <title> panicked");
    // The fallback stopped the parser, where `Handlers` had expat parse on.
    assert_eq!(status, XML_STATUS_ERROR);
    assert_eq!(error, XML_ERROR_ABORTED);
    assert_eq!(calls.get(), 3);
    assert_eq!(drops.get(), 1);
}

/// Empty elements: stopped in an empty element's start handler, expat
/// still calls its end handler ("some call-backs may still follow").
const EMPTY_TITLES: &[u8] = b"<book><chapter><title/></chapter><chapter><title/></chapter></book>";

#[test]
fn stopped_in_an_empty_element_expat_still_calls_its_end_handler() {
    // What the two tests below rely on: expat calls back after the stop.
    let (mut checker, _calls, _drops) = Checker::new();
    checker.stop_at = Some("title");
    let (status, error, checker) = check(checker, EMPTY_TITLES);
    assert_eq!(status, Ok(XML_STATUS_ERROR));
    assert_eq!(error, XML_ERROR_ABORTED);
    assert_eq!(checker.log, ["book", "chapter", "title", "/title"]);
}

#[test]
fn after_a_panic_in_an_empty_element_its_end_handler_runs_no_user_code() {
    quiet_expected_panics();
    let (mut checker, calls, drops) = Checker::new();
    checker.panic_on = Some("title");
    let (payload, status, error) = check_panicking(checker, EMPTY_TITLES);
    assert_eq!(message(&*payload), "expected: <title> panicked");
    assert_eq!(status, XML_STATUS_ERROR);
    assert_eq!(error, XML_ERROR_ABORTED);
    // book, chapter, title (panicked); expat's call of the title's end
    // handler returned the fallback (stopping again) without user code.
    assert_eq!(calls.get(), 3);
    assert_eq!(drops.get(), 1);
}

#[test]
fn after_an_err_in_an_empty_element_its_end_handler_runs_no_user_code() {
    let (mut checker, calls, drops) = Checker::new();
    checker.max_depth = 2;
    let (status, error, checker) = check(checker, EMPTY_TITLES);
    assert_eq!(
        status,
        Err(Refused {
            element: "title".into(),
            depth: 3
        })
    );
    assert_eq!(error, XML_ERROR_ABORTED);
    assert_eq!(checker.log, ["book", "chapter"], "no \"/title\"");
    assert_eq!(calls.get(), 3);
    drop(checker);
    assert_eq!(drops.get(), 1);
}

#[test]
fn without_user_data_the_first_refusal_stops_the_parser() {
    quiet_expected_panics();
    let parser = Checker::parser();
    // No XML_SetUserData: `XML_GetUserData(parser)` is null, refused, and
    // the fallback stops the parser at the first handler.
    // SAFETY: null user data is refused by every entry point.
    let payload = payload_of(|| resume_panics(|| unsafe { parser.parse(BOOK, true) }));
    let message = message(&*payload);
    assert!(message.contains("ParserHandlers::start"), "{message}");
    assert!(message.contains("its user data is null"), "{message}");
    assert_eq!(parser.error(), XML_ERROR_ABORTED);
}

#[test]
fn a_suspended_parser_resumes_with_the_state_lent_again() {
    let (mut checker, calls, drops) = Checker::new();
    checker.suspend_at = &["chapter"];
    let parser = Checker::parser();
    let mut statuses = Vec::new();
    let mut logs = Vec::new();
    // A pull parser: the state is lent for each `XML_Parse` or
    // `XML_ResumeParser` (which must not be called from a handler), and is
    // the caller's between them.
    let (mut status, mut checker) = checker.scope(|ud| {
        // SAFETY: `ud` is the lent state, alive until `scope` returns;
        // cleared before it does.
        unsafe {
            parser.set_user_data(ud);
            let status = parser.parse(BOOK, true);
            parser.set_user_data(ptr::null_mut());
            status
        }
    });
    while status == XML_STATUS_SUSPENDED {
        statuses.push(status);
        logs.push(checker.log.join(" "));
        (status, checker) = checker.scope(|ud| {
            // SAFETY: as above.
            unsafe {
                parser.set_user_data(ud);
                let status = XML_ResumeParser(parser.0);
                parser.set_user_data(ptr::null_mut());
                status
            }
        });
    }
    assert_eq!(status, XML_STATUS_OK, "error {}", parser.error());
    assert_eq!(statuses, [XML_STATUS_SUSPENDED; 2]);
    assert_eq!(
        logs,
        ["book chapter", "book chapter title /title /chapter chapter"]
    );
    assert_eq!(checker.log.len(), 10);
    assert_eq!(calls.get(), 12);
    drop(checker);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_valid_document_passes_the_checker() {
    let (checker, calls, _drops) = Checker::new();
    let (status, error, checker) = check(checker, BOOK);
    assert_eq!(status, Ok(XML_STATUS_OK));
    assert_eq!(error, XML_ERROR_NONE);
    assert_eq!(checker.log.len(), 10);
    assert_eq!(checker.depth, 0);
    assert_eq!(calls.get(), 12, "10 tags and 2 texts");
}

// ---------------------------------------------------------------------------
// Tests: an unknown encoding
// ---------------------------------------------------------------------------

/// `x-pairs`: ASCII, and two-byte sequences `0x80 b` (b >= 0x80) for
/// U+0400 + (b - 0x80), Cyrillic.
const PAIRS: &[u8] = b"<?xml version='1.0' encoding='x-pairs'?><w>\x80\x9f\x80\xb0</w>";

/// Fills `info` for `x-pairs`, with a boxed converter whose drop counts in
/// `released` (its calls in `converted`); then panics if `panic_after_fill`.
fn fill_pairs(
    info: &mut XmlEncoding,
    converted: &Rc<Cell<u32>>,
    released: &Rc<Cell<u32>>,
    panic_after_fill: bool,
) -> c_int {
    assert!(info.is_blank());
    for (byte, map) in info.map.iter_mut().enumerate() {
        *map = match byte {
            0..0x80 => c_int::try_from(byte).expect("ASCII"),
            0x80 => -2,
            _ => -1,
        };
    }
    let counter = DropCounter(released.clone());
    let converted = converted.clone();
    let convert = Convert::boxed(move |s: *const c_char| {
        let _ = &counter;
        converted.set(converted.get() + 1);
        // SAFETY: expat passes the two bytes of a sequence whose first
        // byte maps to -2.
        let second = unsafe { *s.add(1) }.cast_unsigned();
        if second < 0x80 {
            return -1;
        }
        0x400 + c_int::from(second - 0x80)
    })
    .into_raw();
    info.data = convert.user_data;
    info.convert = Some(convert.function);
    // expat releases the data once: when it frees the parser, or at once
    // if the handler fails: the boxed closure's destroy.
    info.release = Some(convert.destroy);
    assert!(!panic_after_fill, "expected: the handler panicked");
    XML_STATUS_OK
}

#[test]
fn an_unknown_encoding_converts_through_a_boxed_callback_released_once() {
    let converted = Rc::new(Cell::new(0));
    let released = Rc::new(Cell::new(0));
    let asked = RefCell::new(Vec::new());
    let handler = UnknownEncoding::new(|name: &CStr, info: &mut XmlEncoding| {
        asked.borrow_mut().push(name.to_string_lossy().into_owned());
        if name != c"x-pairs" {
            return XML_STATUS_ERROR;
        }
        fill_pairs(info, &converted, &released, false)
    });
    let parser = Parser::with_handlers::<Outline>();
    // SAFETY: `handler` stays alive and unmoved until after the parser is
    // freed below; expat calls it only inside `XML_Parse`.
    unsafe {
        XML_SetUnknownEncodingHandler(parser.0, Some(handler.function()), handler.user_data());
    }
    let (outline, probe) = Outline::new();
    let (status, _outline) = outline.scope(|ud| {
        // SAFETY: `ud` is the lent state, alive until `scope` returns.
        unsafe {
            parser.set_user_data(ud);
            parser.parse(PAIRS, true)
        }
    });
    assert_eq!(status, XML_STATUS_OK, "error {}", parser.error());
    assert_eq!(*asked.borrow(), ["x-pairs"]);
    assert_eq!(probe.lines(), ["<w>", "  \"\u{41f}\u{430}\""]);
    assert!(converted.get() >= 2);
    assert_eq!(released.get(), 0, "expat keeps the converter until freed");
    drop(parser);
    assert_eq!(released.get(), 1, "released once, by XML_ParserFree");
}

#[test]
fn an_encoding_handler_panicking_after_filling_info_has_it_released_at_once() {
    quiet_expected_panics();
    let converted = Rc::new(Cell::new(0));
    let released = Rc::new(Cell::new(0));
    let handler = UnknownEncoding::new(|_name: &CStr, info: &mut XmlEncoding| {
        fill_pairs(info, &converted, &released, true)
    });
    let parser = Parser::with_handlers::<Outline>();
    // SAFETY: as in the test above.
    unsafe {
        XML_SetUnknownEncodingHandler(parser.0, Some(handler.function()), handler.user_data());
    }
    let (outline, probe) = Outline::new();
    let status = Cell::new(None);
    let payload = payload_of(|| {
        outline.scope(|ud| {
            // SAFETY: `ud` is the lent state, alive until `scope` returns.
            unsafe {
                parser.set_user_data(ud);
                status.set(Some(parser.parse(PAIRS, true)));
            }
        })
    });
    assert_eq!(message(&*payload), "expected: the handler panicked");
    // The fallback, 0, failed the encoding: expat released what the
    // handler had filled in, at once, and parsed nothing.
    assert_eq!(status.get(), Some(XML_STATUS_ERROR));
    assert_eq!(parser.error(), XML_ERROR_UNKNOWN_ENCODING);
    assert_eq!(released.get(), 1, "released by expat, during the parse");
    assert_eq!(converted.get(), 0);
    assert!(probe.lines().is_empty());
    drop(parser);
    assert_eq!(released.get(), 1, "and not again");
}

// ---------------------------------------------------------------------------
// `&self` handlers: a sub-parser may share the user data
// ---------------------------------------------------------------------------

/// Element names, through `&self` entries, which may nest: the entity
/// handler parses the entity with a sub-parser that inherits the user data
/// (and so calls `start` on this same state) while it runs.
#[callback]
trait SharedHandlers {
    unsafe extern "C" fn start(
        &self,
        #[user_data] user_data: *mut c_void,
        #[into(&CStr)] name: *const c_char,
        atts: *mut *const c_char,
    );
    #[callback(
        // SAFETY: expat passes the live parser that parses the reference.
        user_data = unsafe { xml_get_user_data(parser) },
        on_continue = XML_STATUS_OK,
        on_break = XML_STATUS_ERROR,
    )]
    unsafe extern "C" fn external_entity(
        &self,
        parser: XmlParser,
        context: *const c_char,
        base: *const c_char,
        system_id: *const c_char,
        public_id: *const c_char,
    ) -> c_int;
}

/// The names of the elements started, the entity's included.
#[derive(Default)]
struct Names(RefCell<Vec<String>>);

impl SharedHandlers for Names {
    fn start(&self, name: &CStr, _atts: *mut *const c_char) {
        self.0
            .borrow_mut()
            .push(name.to_string_lossy().into_owned());
    }

    fn external_entity(
        &self,
        parser: XmlParser,
        context: *const c_char,
        _base: *const c_char,
        _system_id: *const c_char,
        _public_id: *const c_char,
    ) -> ControlFlow<()> {
        // SAFETY: in an external entity handler, with its parser and context.
        let sub = unsafe { XML_ExternalEntityParserCreate(parser, context, ptr::null()) };
        assert!(!sub.is_null(), "XML_ExternalEntityParserCreate");
        let sub = Parser(sub);
        // No borrow of `self.0` is live here: `start` borrows it again.
        // SAFETY: the inherited user data is this state, alive for the call.
        match unsafe { sub.parse(ENTITY, true) } {
            XML_STATUS_OK => ControlFlow::Continue(()),
            _ => ControlFlow::Break(()),
        }
    }
}

#[test]
fn shared_handlers_parse_the_entity_with_the_inherited_user_data() {
    let parser = Parser::new();
    // SAFETY: a live parser; the set's entry points for `Names`, run with
    // the user data set below.
    unsafe {
        XML_SetElementHandler(parser.0, Some(Names::START), None);
        XML_SetExternalEntityRefHandler(parser.0, Some(Names::EXTERNAL_ENTITY));
    }
    let (status, names) = Names::default().scope(|ud| {
        // SAFETY: `ud` is the lent state, alive until `scope` returns.
        unsafe {
            parser.set_user_data(ud);
            parser.parse(WITH_ENTITY, true)
        }
    });
    assert_eq!(status, XML_STATUS_OK, "error {}", parser.error());
    assert_eq!(names.0.into_inner(), ["doc", "a", "inner", "b"]);
}

/// A binding's `parse(&mut handler, ..)` lends a state it only borrows:
/// the set implemented for a wrapper of the borrow, forwarding each entry
/// (`scope` takes the state by value; nothing requires it to be `'static`).
struct Lend<'a>(&'a mut Names);

impl SharedHandlers for Lend<'_> {
    fn start(&self, name: &CStr, atts: *mut *const c_char) {
        self.0.start(name, atts);
    }
    fn external_entity(
        &self,
        parser: XmlParser,
        context: *const c_char,
        base: *const c_char,
        system_id: *const c_char,
        public_id: *const c_char,
    ) -> ControlFlow<()> {
        self.0
            .external_entity(parser, context, base, system_id, public_id)
    }
}

#[test]
fn a_borrowed_state_is_lent_through_a_forwarding_wrapper() {
    let parser = Parser::new();
    // SAFETY: a live parser; the entry point for `Lend`, run with the user
    // data set below.
    unsafe {
        XML_SetElementHandler(parser.0, Some(Lend::START), None);
    }
    let mut names = Names::default();
    let (status, _) = Lend(&mut names).scope(|ud| {
        // SAFETY: `ud` is the lent wrapper, alive until `scope` returns.
        unsafe {
            parser.set_user_data(ud);
            parser.parse(b"<a><b/></a>", true)
        }
    });
    assert_eq!(status, XML_STATUS_OK);
    assert_eq!(names.0.into_inner(), ["a", "b"]);
}
