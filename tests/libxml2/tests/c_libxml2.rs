//! libxml2 (the system library, apt `libxml2-dev`; Debian 12 ships 2.9.14)
//! driven through Rust callbacks, as a binding (the `libxml` crate,
//! nokogiri-style wrappers) writes them by hand today:
//!
//! - SAX2 (`xmlSAXHandler`: startElementNs, endElementNs, characters, the
//!   variadic error/warning handlers and the structured `serror`) as one
//!   callback set whose state is the handlers' `ctx`: the user data given to
//!   `xmlSAXUserParseMemory` / `xmlCreatePushParserCtxt`, or the parser
//!   context itself with the state behind `ctxt->_private`
//!   (`user_data = EXPR`); stopped from a handler with `xmlStopParser`, and
//!   after a panic through the guard's stop hook; a document parsed inside
//!   a handler (with a state of its own: runs; with the same state:
//!   refused);
//! - `xmlReadIO` / `xmlCreateIOParserCtxt` over a Rust `Read` (read and
//!   close as a set, close marked `destroy`): lent, or handed over and freed
//!   once by libxml2's close; an `io::Error` coming back typed, a panic
//!   resumed;
//! - `xmlOutputBufferCreateIO` into a Rust `Write`, kept by Rust and taken
//!   back, or handed over; a failing writer's `io::Error` typed;
//! - `xmlSetStructuredErrorFunc` (per thread in libxml2, with a context):
//!   lent for a parse, or kept by a binding's handle, `unguarded =
//!   fallback` for errors raised outside any guard;
//! - `xmlRegisterInputCallbacks` (process-wide; match and open have no user
//!   data: capturing closures lent with `scope_thread_local`, open handing
//!   over a boxed read/close set);
//! - XPath extension functions (`xmlXPathRegisterFunc`: no user data, but
//!   `ctxt->context->userData`), as a set that also takes the XPath
//!   context's structured error callback;
//! - `xmlHashScan` with a scanner closure, `xmlHashFree`'s deallocator as a
//!   `#[callback]` fn receiving each payload as `Box<T>`.
//!
//! scripts/test-libxml2.sh runs this binary under valgrind memcheck too.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io::{self, Read, Write};
use std::mem::offset_of;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;
use std::sync::{Mutex, Once};

use ffi_callback::{callback, resume_panics, resume_panics_with, try_resume};

// ---------------------------------------------------------------------------
// libxml2 2.9.14, declared by hand
// ---------------------------------------------------------------------------

/// `xmlParserCtxt`: only the fields the binding reads or writes, at the
/// offsets gcc gives on Debian 12 x86_64 (checked in
/// `struct_layouts_match_libxml2_2_9_14`).
#[repr(C)]
struct XmlParserCtxt {
    sax: *mut XmlSaxHandler,
    user_data: *mut c_void,
    my_doc: *mut XmlDoc,
    well_formed: c_int,
    _opaque0: [u8; 136 - 28],
    err_no: c_int,
    _opaque1: [u8; 424 - 140],
    /// "For user data, libxml won't touch it".
    private: *mut c_void,
    _opaque2: [u8; 752 - 432],
}

/// `xmlDoc`, opaque.
#[repr(C)]
struct XmlDoc {
    _opaque: [u8; 0],
}

/// `xmlNode`'s first fields.
#[repr(C)]
struct XmlNode {
    private: *mut c_void,
    kind: c_int,
    name: *const u8,
}

/// `xmlError` (2.9.14: handlers receive a `xmlErrorPtr`, not yet `const`).
#[repr(C)]
struct XmlError {
    domain: c_int,
    code: c_int,
    message: *mut c_char,
    level: c_int,
    file: *mut c_char,
    line: c_int,
    str1: *mut c_char,
    str2: *mut c_char,
    str3: *mut c_char,
    int1: c_int,
    int2: c_int,
    ctxt: *mut c_void,
    node: *mut c_void,
}

impl XmlError {
    fn message(&self) -> String {
        if self.message.is_null() {
            return String::new();
        }
        // SAFETY: libxml2's formatted message, NUL-terminated, alive for
        // the handler's call (the `&XmlError` does not outlive it).
        let message = unsafe { CStr::from_ptr(self.message) };
        message.to_string_lossy().trim_end().to_owned()
    }
}

type Unused = Option<unsafe extern "C" fn()>;
/// `errorSAXFunc` / `warningSAXFunc`: `(void *ctx, const char *msg, ...)`.
type VariadicMsgFn = unsafe extern "C" fn(ctx: *mut c_void, msg: *const c_char, ...);
type StartElementNsFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    localname: *const u8,
    prefix: *const u8,
    uri: *const u8,
    nb_namespaces: c_int,
    namespaces: *mut *const u8,
    nb_attributes: c_int,
    nb_defaulted: c_int,
    attributes: *mut *const u8,
);
type EndElementNsFn =
    unsafe extern "C" fn(ctx: *mut c_void, localname: *const u8, prefix: *const u8, uri: *const u8);
type CharactersFn = unsafe extern "C" fn(ctx: *mut c_void, ch: *const u8, len: c_int);
/// `xmlStructuredErrorFunc`.
type XmlStructuredErrorFunc = unsafe extern "C" fn(user_data: *mut c_void, error: *mut XmlError);

/// `xmlSAXHandler` (SAX2: `initialized == XML_SAX2_MAGIC`).
#[repr(C)]
struct XmlSaxHandler {
    /// internalSubset .. reference.
    before_characters: [Unused; 17],
    characters: Option<CharactersFn>,
    ignorable_whitespace: Option<CharactersFn>,
    processing_instruction: Unused,
    comment: Unused,
    warning: Option<VariadicMsgFn>,
    error: Option<VariadicMsgFn>,
    fatal_error: Option<VariadicMsgFn>,
    /// getParameterEntity, cdataBlock, externalSubset.
    after_fatal_error: [Unused; 3],
    initialized: c_uint,
    private: *mut c_void,
    start_element_ns: Option<StartElementNsFn>,
    end_element_ns: Option<EndElementNsFn>,
    serror: Option<XmlStructuredErrorFunc>,
}

const XML_SAX2_MAGIC: c_uint = 0xDEED_BEAF;
const XML_ERR_TAG_NAME_MISMATCH: c_int = 76;
const XML_ERR_USER_STOP: c_int = 111;
const XML_CHAR_ENCODING_NONE: c_int = 0;
/// `XML_PARSE_NOENT`: substitute entities.
const XML_PARSE_NOENT: c_int = 1 << 1;
const XML_PARSE_NOERROR: c_int = 1 << 5;
const XML_PARSE_NOWARNING: c_int = 1 << 6;

/// `xmlInputReadCallback`, `xmlInputCloseCallback`, and their output twins.
type XmlInputReadCallback =
    unsafe extern "C" fn(context: *mut c_void, buffer: *mut c_char, len: c_int) -> c_int;
type XmlCloseCallback = unsafe extern "C" fn(context: *mut c_void) -> c_int;
type XmlOutputWriteCallback =
    unsafe extern "C" fn(context: *mut c_void, buffer: *const c_char, len: c_int) -> c_int;
type InputMatchFnC = unsafe extern "C" fn(filename: *const c_char) -> c_int;
type InputOpenFnC = unsafe extern "C" fn(filename: *const c_char) -> *mut c_void;

/// `xmlOutputBuffer`, opaque.
#[repr(C)]
struct XmlOutputBuffer {
    _opaque: [u8; 0],
}

/// `xmlXPathContext`'s fields up to the error callback.
#[repr(C)]
struct XmlXPathContext {
    _opaque0: [u8; 168],
    /// The function being called, and its namespace URI.
    function: *const u8,
    function_uri: *const u8,
    _opaque1: [u8; 216 - 184],
    user_data: *mut c_void,
    error: Option<XmlStructuredErrorFunc>,
    _opaque2: [u8; 376 - 232],
}

/// `xmlXPathParserContext`'s fields up to `context`.
#[repr(C)]
struct XmlXPathParserContext {
    cur: *const u8,
    base: *const u8,
    error: c_int,
    context: *mut XmlXPathContext,
}

/// `xmlXPathObject`, opaque.
#[repr(C)]
struct XmlXPathObject {
    _opaque: [u8; 0],
}

type XPathFunctionFn = unsafe extern "C" fn(ctxt: *mut XmlXPathParserContext, nargs: c_int);
const XPATH_EXPR_ERROR: c_int = 7;
const XPATH_INVALID_TYPE: c_int = 11;
const XPATH_INVALID_ARITY: c_int = 12;

/// `xmlHashTable`, opaque.
#[repr(C)]
struct XmlHashTable {
    _opaque: [u8; 0],
}
type XmlHashScanner =
    unsafe extern "C" fn(payload: *mut c_void, data: *mut c_void, name: *const u8);
type HashDeallocatorFn = unsafe extern "C" fn(payload: *mut c_void, name: *const u8);

#[link(name = "xml2")]
unsafe extern "C" {
    static xmlFree: Option<unsafe extern "C" fn(*mut c_void)>;

    fn xmlInitParser();
    fn xmlSAXUserParseMemory(
        sax: *mut XmlSaxHandler,
        user_data: *mut c_void,
        buffer: *const c_char,
        size: c_int,
    ) -> c_int;
    fn xmlCreatePushParserCtxt(
        sax: *mut XmlSaxHandler,
        user_data: *mut c_void,
        chunk: *const c_char,
        size: c_int,
        filename: *const c_char,
    ) -> *mut XmlParserCtxt;
    fn xmlParseChunk(
        ctxt: *mut XmlParserCtxt,
        chunk: *const c_char,
        size: c_int,
        terminate: c_int,
    ) -> c_int;
    fn xmlStopParser(ctxt: *mut XmlParserCtxt);
    fn xmlFreeParserCtxt(ctxt: *mut XmlParserCtxt);
    fn xmlCreateIOParserCtxt(
        sax: *mut XmlSaxHandler,
        user_data: *mut c_void,
        ioread: Option<XmlInputReadCallback>,
        ioclose: Option<XmlCloseCallback>,
        ioctx: *mut c_void,
        enc: c_int,
    ) -> *mut XmlParserCtxt;
    fn xmlParseDocument(ctxt: *mut XmlParserCtxt) -> c_int;
    fn xmlReadIO(
        ioread: Option<XmlInputReadCallback>,
        ioclose: Option<XmlCloseCallback>,
        ioctx: *mut c_void,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> *mut XmlDoc;
    fn xmlReadMemory(
        buffer: *const c_char,
        size: c_int,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> *mut XmlDoc;
    fn xmlReadFile(filename: *const c_char, encoding: *const c_char, options: c_int)
    -> *mut XmlDoc;
    fn xmlFreeDoc(doc: *mut XmlDoc);
    fn xmlDocGetRootElement(doc: *mut XmlDoc) -> *mut XmlNode;
    fn xmlNodeGetContent(node: *const XmlNode) -> *mut u8;

    fn xmlOutputBufferCreateIO(
        iowrite: Option<XmlOutputWriteCallback>,
        ioclose: Option<XmlCloseCallback>,
        ioctx: *mut c_void,
        encoder: *mut c_void,
    ) -> *mut XmlOutputBuffer;
    fn xmlSaveFileTo(buf: *mut XmlOutputBuffer, doc: *mut XmlDoc, encoding: *const c_char)
    -> c_int;

    fn xmlSetStructuredErrorFunc(ctx: *mut c_void, handler: Option<XmlStructuredErrorFunc>);

    fn xmlRegisterInputCallbacks(
        match_fn: Option<InputMatchFnC>,
        open_fn: Option<InputOpenFnC>,
        read_fn: Option<XmlInputReadCallback>,
        close_fn: Option<XmlCloseCallback>,
    ) -> c_int;
    fn xmlPopInputCallbacks() -> c_int;

    fn xmlXPathNewContext(doc: *mut XmlDoc) -> *mut XmlXPathContext;
    fn xmlXPathFreeContext(ctx: *mut XmlXPathContext);
    fn xmlXPathRegisterFunc(
        ctx: *mut XmlXPathContext,
        name: *const u8,
        f: Option<XPathFunctionFn>,
    ) -> c_int;
    fn xmlXPathEvalExpression(expr: *const u8, ctx: *mut XmlXPathContext) -> *mut XmlXPathObject;
    fn xmlXPathFreeObject(obj: *mut XmlXPathObject);
    fn xmlXPathCastToString(obj: *mut XmlXPathObject) -> *mut u8;
    fn xmlXPathCastToNumber(obj: *mut XmlXPathObject) -> f64;
    fn xmlXPathPopString(ctxt: *mut XmlXPathParserContext) -> *mut u8;
    fn valuePush(ctxt: *mut XmlXPathParserContext, value: *mut XmlXPathObject) -> c_int;
    fn xmlXPathNewString(val: *const u8) -> *mut XmlXPathObject;
    fn xmlXPathNewFloat(val: f64) -> *mut XmlXPathObject;
    fn xmlXPathErr(ctxt: *mut XmlXPathParserContext, error: c_int);

    fn xmlHashCreate(size: c_int) -> *mut XmlHashTable;
    fn xmlHashAddEntry(table: *mut XmlHashTable, name: *const u8, userdata: *mut c_void) -> c_int;
    fn xmlHashScan(table: *mut XmlHashTable, f: Option<XmlHashScanner>, data: *mut c_void);
    fn xmlHashFree(table: *mut XmlHashTable, f: Option<HashDeallocatorFn>);
    fn xmlHashSize(table: *mut XmlHashTable) -> c_int;
}

fn init() {
    static INIT: Once = Once::new();
    // SAFETY: libxml2's initialisation; idempotent, first on the main use.
    INIT.call_once(|| unsafe { xmlInitParser() });
}

/// A string libxml2 allocated, copied and freed.
///
/// # Safety
/// `p` is null or a NUL-terminated string from libxml2's allocator.
unsafe fn take_xml_string(p: *mut u8) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the caller's promise.
    let s = unsafe { CStr::from_ptr(p.cast()) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: `xmlFree` is libxml2's deallocator for its strings.
    unsafe { xmlFree.expect("xmlFree")(p.cast()) };
    s
}

fn len_of(bytes: &[u8]) -> c_int {
    c_int::try_from(bytes.len()).expect("a document fits an int")
}

/// A document, freed when dropped.
struct Doc(*mut XmlDoc);

impl Doc {
    fn parse(xml: &str) -> Doc {
        init();
        // SAFETY: `xml.len()` bytes at `xml`.
        let doc = unsafe {
            xmlReadMemory(
                xml.as_ptr().cast(),
                len_of(xml.as_bytes()),
                ptr::null(),
                ptr::null(),
                0,
            )
        };
        assert!(!doc.is_null(), "xmlReadMemory");
        Doc(doc)
    }

    fn root_name(&self) -> String {
        // SAFETY: a live document; its root element's name is a live string.
        unsafe {
            let root = xmlDocGetRootElement(self.0);
            assert!(!root.is_null());
            CStr::from_ptr((*root).name.cast())
                .to_string_lossy()
                .into_owned()
        }
    }

    fn text(&self) -> String {
        // SAFETY: a live document; the content is a fresh string we free.
        unsafe { take_xml_string(xmlNodeGetContent(xmlDocGetRootElement(self.0))) }
    }
}

impl Drop for Doc {
    fn drop(&mut self) {
        // SAFETY: made by libxml2, freed once.
        unsafe { xmlFreeDoc(self.0) }
    }
}

/// Frees a parser context when dropped (also while a resumed panic
/// unwinds).
struct FreeCtxt(*mut XmlParserCtxt, Rc<Cell<c_int>>);

impl Drop for FreeCtxt {
    fn drop(&mut self) {
        // SAFETY: made by libxml2, freed once; no handler runs during the
        // free (its sax copy has no free callbacks).
        unsafe {
            self.1.set((*self.0).err_no);
            xmlFreeParserCtxt(self.0);
        }
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
            let payload = info.payload();
            if !message_of(payload).starts_with("expected") {
                default(info);
            }
        }));
    });
}

/// Counts drops (of the state holding it).
struct DropCounter(Rc<Cell<u32>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn struct_layouts_match_libxml2_2_9_14() {
    // gcc's offsetof/sizeof against Debian 12's <libxml/*.h>, x86_64.
    assert_eq!(offset_of!(XmlParserCtxt, user_data), 8);
    assert_eq!(offset_of!(XmlParserCtxt, well_formed), 24);
    assert_eq!(offset_of!(XmlParserCtxt, err_no), 136);
    assert_eq!(offset_of!(XmlParserCtxt, private), 424);
    assert_eq!(size_of::<XmlParserCtxt>(), 752);
    assert_eq!(size_of::<XmlSaxHandler>(), 256);
    assert_eq!(offset_of!(XmlSaxHandler, warning), 21 * 8);
    assert_eq!(offset_of!(XmlSaxHandler, start_element_ns), 232);
    assert_eq!(offset_of!(XmlXPathContext, function), 168);
    assert_eq!(offset_of!(XmlXPathContext, user_data), 216);
    assert_eq!(offset_of!(XmlXPathContext, error), 224);
    assert_eq!(size_of::<XmlXPathContext>(), 376);
    assert_eq!(offset_of!(XmlXPathParserContext, context), 24);
    assert_eq!(size_of::<XmlError>(), 88);
    assert_eq!(offset_of!(XmlError, int2), 68);
}

// ===========================================================================
// SAX2: the handlers as one callback set, ctx = the user data
// ===========================================================================

/// libxml2's SAX2 handlers, `void *ctx` first: the user data given to
/// `xmlSAXUserParseMemory` or `xmlCreatePushParserCtxt`.
#[callback]
#[allow(clippy::too_many_arguments)] // the C handler's arity
trait Sax {
    /// `startElementNsSAX2Func`: `attributes` holds 5 pointers per
    /// attribute (localname, prefix, URI, value, end of value).
    unsafe extern "C" fn start_element_ns(
        &mut self,
        #[user_data] ctx: *mut c_void,
        #[into(&str)] localname: *const u8,
        prefix: *const u8,
        #[into(Option<&str>)] uri: *const u8,
        nb_namespaces: c_int,
        namespaces: *mut *const u8,
        nb_attributes: c_int,
        nb_defaulted: c_int,
        #[into(&[*const u8], len = 5 * usize::try_from(nb_attributes).unwrap_or(0))]
        attributes: *mut *const u8,
    );
    /// `endElementNsSAX2Func`.
    unsafe extern "C" fn end_element_ns(
        &mut self,
        #[user_data] ctx: *mut c_void,
        #[into(&str)] localname: *const u8,
        prefix: *const u8,
        uri: *const u8,
    );
    /// `charactersSAXFunc`: `ch` is not NUL-terminated.
    unsafe extern "C" fn characters(
        &mut self,
        #[user_data] ctx: *mut c_void,
        #[into(&[u8], len = usize::try_from(len).unwrap_or(0))] ch: *const u8,
        len: c_int,
    );
    /// `errorSAXFunc` is `(void *ctx, const char *msg, ...)`: C-variadic,
    /// which neither stable Rust nor `#[callback]` can define. libxml2
    /// 2.9.14 calls a user's error channel as `channel(data, "%s", str)`,
    /// so the binding declares the first variadic argument as a fixed
    /// parameter (sound on x86_64 SysV, where a variadic call passes it in
    /// the same register; not portable) and casts the entry's pointer to
    /// the variadic type.
    unsafe extern "C" fn error(
        &mut self,
        #[user_data] ctx: *mut c_void,
        #[into(&CStr)] msg: *const c_char,
        first: *const c_char,
    );
    /// `warningSAXFunc`, as `error`.
    unsafe extern "C" fn warning(
        &mut self,
        #[user_data] ctx: *mut c_void,
        #[into(&CStr)] msg: *const c_char,
        first: *const c_char,
    );
    /// `xmlStructuredErrorFunc`, SAX2's `serror`: called instead of
    /// error/warning when set.
    unsafe extern "C" fn serror(
        &mut self,
        #[user_data] ctx: *mut c_void,
        #[into(&XmlError)] error: *mut XmlError,
    );
}

/// The handler struct for a state type `S`.
fn sax_handler<S: Sax>(structured: bool) -> XmlSaxHandler {
    // The `error`/`warning` entries are declared without the `...`: their
    // pointers must be cast to the variadic field type.
    // SAFETY: same ABI for the arguments libxml2 passes on x86_64 SysV
    // (`channel(data, "%s", str)`), see `Sax::error`.
    let (error, warning) = unsafe {
        (
            std::mem::transmute::<SaxErrorFn, VariadicMsgFn>(S::ERROR),
            std::mem::transmute::<SaxWarningFn, VariadicMsgFn>(S::WARNING),
        )
    };
    XmlSaxHandler {
        before_characters: [None; 17],
        characters: Some(S::CHARACTERS),
        ignorable_whitespace: Some(S::CHARACTERS),
        processing_instruction: None,
        comment: None,
        warning: Some(warning),
        error: Some(error),
        fatal_error: Some(error),
        after_fatal_error: [None; 3],
        initialized: XML_SAX2_MAGIC,
        private: ptr::null_mut(),
        start_element_ns: Some(S::START_ELEMENT_NS),
        end_element_ns: Some(S::END_ELEMENT_NS),
        serror: if structured { Some(S::SERROR) } else { None },
    }
}

/// What the handlers build: one line per event.
#[derive(Default)]
struct Events {
    log: Vec<String>,
    /// The push parser, for `xmlStopParser` from a handler: filled by the
    /// binding right after `xmlCreatePushParserCtxt`, which needs the user
    /// data first (the README's "reads it from a Cell").
    ctxt: Rc<Cell<*mut XmlParserCtxt>>,
    stop_at: Option<&'static str>,
    panic_at: Option<&'static str>,
    /// Handler bodies that ran.
    calls: Rc<Cell<u32>>,
    /// Character data that looks like a document is parsed, inside the
    /// handler, with a state of its own.
    parse_nested: bool,
}

impl Events {
    fn bump(&self) {
        self.calls.set(self.calls.get() + 1);
    }
}

impl Sax for Events {
    fn start_element_ns(
        &mut self,
        localname: &str,
        _prefix: *const u8,
        uri: Option<&str>,
        _nb_namespaces: c_int,
        _namespaces: *mut *const u8,
        nb_attributes: c_int,
        _nb_defaulted: c_int,
        attributes: &[*const u8],
    ) {
        self.bump();
        if self.panic_at == Some(localname) {
            panic!("expected panic at <{localname}>");
        }
        let mut line = format!("start {localname}");
        if let Some(uri) = uri {
            line += &format!(" {{{uri}}}");
        }
        for attribute in attributes.chunks_exact(5) {
            // SAFETY: libxml2's attribute record: a NUL-terminated name and
            // a value from `[3]` to `[4]`, valid for the call.
            let (name, value) = unsafe {
                let len = attribute[4].offset_from(attribute[3]) as usize;
                (
                    CStr::from_ptr(attribute[0].cast()).to_string_lossy(),
                    String::from_utf8_lossy(std::slice::from_raw_parts(attribute[3], len)),
                )
            };
            line += &format!(" {name}={value}");
        }
        assert_eq!(attributes.len(), 5 * nb_attributes as usize);
        self.log.push(line);
        if self.stop_at == Some(localname) {
            // SAFETY: the live push parser that is calling; libxml2 allows
            // xmlStopParser from a handler.
            unsafe { xmlStopParser(self.ctxt.get()) };
        }
    }

    fn end_element_ns(&mut self, localname: &str, _prefix: *const u8, _uri: *const u8) {
        self.bump();
        self.log.push(format!("end {localname}"));
    }

    fn characters(&mut self, ch: &[u8], _len: c_int) {
        self.bump();
        let text = String::from_utf8_lossy(ch);
        if text.trim().is_empty() {
            return;
        }
        if self.parse_nested && text.starts_with('<') {
            // A document inside a text node, parsed here, inside the
            // handler, with a state of its own lent for the nested parse.
            let mut sax = sax_handler::<Events>(true);
            let (rc, inner) = Events::default().scope(|ud| {
                // SAFETY: the handler struct's entries are `Events`', and
                // `ud` is an `Events` lent for the call.
                unsafe { xmlSAXUserParseMemory(&mut sax, ud, ch.as_ptr().cast(), len_of(ch)) }
            });
            assert_eq!(rc, 0);
            self.log.push(format!("nested [{}]", inner.log.join(", ")));
            return;
        }
        match self.log.last_mut() {
            Some(last) if last.starts_with("text ") => *last += &text,
            _ => self.log.push(format!("text {text}")),
        }
    }

    fn error(&mut self, msg: &CStr, first: *const c_char) {
        self.bump();
        self.log
            .push(format!("error {}", varargs_message(msg, first)));
    }

    fn warning(&mut self, msg: &CStr, first: *const c_char) {
        self.bump();
        self.log
            .push(format!("warning {}", varargs_message(msg, first)));
    }

    fn serror(&mut self, error: &XmlError) {
        self.bump();
        self.log
            .push(format!("serror {} {}", error.code, error.message()));
    }
}

/// The message of `channel(data, "%s", str)`.
fn varargs_message(msg: &CStr, first: *const c_char) -> String {
    if msg.to_bytes() == b"%s" && !first.is_null() {
        // SAFETY: libxml2 2.9.14 passes the formatted message as the one
        // argument of "%s".
        unsafe { CStr::from_ptr(first) }
            .to_string_lossy()
            .trim_end()
            .to_owned()
    } else {
        format!("(format {msg:?})")
    }
}

const DOC: &str = "<r xmlns='urn:x'><a id='1'>one</a><b>two</b><c/></r>";

#[test]
fn xml_sax_user_parse_memory_lends_the_state_for_the_parse() {
    init();
    let mut sax = sax_handler::<Events>(true);
    let (rc, events) = Events::default().scope(|ud| {
        // SAFETY: the handler struct's entries are `Events`', `ud` lent for
        // the call.
        unsafe { xmlSAXUserParseMemory(&mut sax, ud, DOC.as_ptr().cast(), len_of(DOC.as_bytes())) }
    });
    assert_eq!(rc, 0);
    assert_eq!(
        events.log,
        [
            "start r {urn:x}",
            "start a {urn:x} id=1",
            "text one",
            "end a",
            "start b {urn:x}",
            "text two",
            "end b",
            "start c {urn:x}",
            "end c",
            "end r",
        ]
    );
}

#[test]
fn a_malformed_document_reaches_serror_with_the_state_then_stops() {
    init();
    let mut sax = sax_handler::<Events>(true);
    let xml = "<r><a>text</b><c/></r>";
    let (rc, events) = Events::default().scope(|ud| {
        // SAFETY: as above.
        unsafe { xmlSAXUserParseMemory(&mut sax, ud, xml.as_ptr().cast(), len_of(xml.as_bytes())) }
    });
    assert_eq!(rc, XML_ERR_TAG_NAME_MISMATCH);
    // A fatal error disables SAX: no event after it.
    assert_eq!(events.log.len(), 4, "{:?}", events.log);
    assert_eq!(events.log[..3], ["start r", "start a", "text text"]);
    assert!(
        events.log[3].starts_with("serror 76 Opening and ending tag mismatch: a line 1 and b"),
        "{:?}",
        events.log
    );
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[test]
fn without_serror_the_variadic_error_handler_gets_the_message_as_its_first_vararg() {
    init();
    let mut sax = sax_handler::<Events>(false);
    let xml = "<r>&undefined;</r>";
    let (rc, events) = Events::default().scope(|ud| {
        // SAFETY: as above.
        unsafe { xmlSAXUserParseMemory(&mut sax, ud, xml.as_ptr().cast(), len_of(xml.as_bytes())) }
    });
    assert_ne!(rc, 0);
    let errors: Vec<_> = events
        .log
        .iter()
        .filter(|l| l.starts_with("error "))
        .collect();
    assert!(!errors.is_empty(), "{:?}", events.log);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Entity 'undefined' not defined")),
        "{errors:?}"
    );
}

#[test]
fn a_handler_stops_the_push_parser_with_xml_stop_parser() {
    init();
    let mut sax = sax_handler::<Events>(true);
    let ctxt_cell = Rc::new(Cell::new(ptr::null_mut()));
    let err_no = Rc::new(Cell::new(-1));
    let events = Events {
        stop_at: Some("b"),
        ctxt: ctxt_cell.clone(),
        ..Events::default()
    };
    let (rcs, events) = events.scope(|ud| {
        // SAFETY: the handler struct's entries are `Events`'; `ud` is lent
        // for this closure, and the parser freed before it returns.
        unsafe {
            let ctxt = xmlCreatePushParserCtxt(&mut sax, ud, ptr::null(), 0, ptr::null());
            assert!(!ctxt.is_null());
            ctxt_cell.set(ctxt);
            let _free = FreeCtxt(ctxt, err_no.clone());
            let mut rcs = Vec::new();
            for chunk in DOC.as_bytes().chunks(9) {
                rcs.push(xmlParseChunk(ctxt, chunk.as_ptr().cast(), len_of(chunk), 0));
            }
            rcs.push(xmlParseChunk(ctxt, ptr::null(), 0, 1));
            rcs
        }
    });
    assert_eq!(err_no.get(), XML_ERR_USER_STOP);
    assert_eq!(rcs.last(), Some(&XML_ERR_USER_STOP));
    assert_eq!(
        events.log.last().map(String::as_str),
        Some("start b {urn:x}")
    );
    assert!(
        !events.log.iter().any(|l| l.starts_with("serror")),
        "a stop is not reported"
    );
}

/// Parses DOC in one chunk through the push parser with `events` lent;
/// a panic in a handler comes back from the chunk's guard, after
/// `stop` (or not) told libxml2 to stop. Gives the parser's `errNo` at its
/// free.
fn push_parse_panicking(events: Events, stop: bool) -> (Box<dyn Any + Send>, c_int) {
    let mut sax = sax_handler::<Events>(true);
    let ctxt_cell = events.ctxt.clone();
    let err_no = Rc::new(Cell::new(-1));
    let payload = payload_of(|| {
        events.scope(|ud| {
            // SAFETY: as in `a_handler_stops_the_push_parser_with_xml_stop_parser`.
            unsafe {
                let ctxt = xmlCreatePushParserCtxt(&mut sax, ud, ptr::null(), 0, ptr::null());
                ctxt_cell.set(ctxt);
                let _free = FreeCtxt(ctxt, err_no.clone());
                let bytes = DOC.as_bytes();
                let parse = || xmlParseChunk(ctxt, bytes.as_ptr().cast(), len_of(bytes), 1);
                if stop {
                    resume_panics_with(parse, || xmlStopParser(ctxt))
                } else {
                    resume_panics(parse)
                }
            }
        })
    });
    (payload, err_no.get())
}

#[test]
fn a_panic_in_a_handler_stops_the_parse_through_the_guard_s_stop_hook() {
    quiet_expected_panics();
    init();
    let calls = Rc::new(Cell::new(0));
    let events = Events {
        panic_at: Some("a"),
        calls: calls.clone(),
        ..Events::default()
    };
    let (payload, err_no) = push_parse_panicking(events, true);
    assert_eq!(message_of(&*payload), "expected panic at <a>");
    // start r, start a (panicked): no body ran after the panic, and
    // libxml2 stopped at once.
    assert_eq!(calls.get(), 2);
    assert_eq!(err_no, XML_ERR_USER_STOP);
}

#[test]
fn without_a_stop_hook_libxml2_parses_on_after_a_panic_into_refused_handlers() {
    quiet_expected_panics();
    init();
    let calls = Rc::new(Cell::new(0));
    let events = Events {
        panic_at: Some("a"),
        calls: calls.clone(),
        ..Events::default()
    };
    let (payload, err_no) = push_parse_panicking(events, false);
    assert_eq!(message_of(&*payload), "expected panic at <a>");
    // libxml2 delivered the rest of the document (errNo stays 0: it saw a
    // well-formed document), but no handler body ran after the panic.
    assert_eq!(calls.get(), 2);
    assert_eq!(err_no, 0);
}

#[test]
fn a_document_parsed_inside_a_handler_with_its_own_state_nests() {
    init();
    let mut sax = sax_handler::<Events>(true);
    // CDATA (no cdataBlock handler): one characters call with the whole
    // inner document.
    let xml = "<outer><inner><![CDATA[<x a='1'>y</x>]]></inner></outer>";
    let events = Events {
        parse_nested: true,
        ..Events::default()
    };
    let (rc, events) = events.scope(|ud| {
        // SAFETY: as above.
        unsafe { xmlSAXUserParseMemory(&mut sax, ud, xml.as_ptr().cast(), len_of(xml.as_bytes())) }
    });
    assert_eq!(rc, 0);
    assert_eq!(
        events.log,
        [
            "start outer",
            "start inner",
            "nested [start x a=1, text y, end x]",
            "end inner",
            "end outer"
        ]
    );
}

// ===========================================================================
// A binding's push parser: the state kept by Rust, the context beside it
// ===========================================================================

/// A push parser whose handlers' state is a `BoxedSet` the parser keeps:
/// what a binding's `PushParser<H: Handler>` looks like.
struct PushParser<S: Sax + 'static> {
    ctxt: *mut XmlParserCtxt,
    state: Option<ffi_callback::BoxedSet<S>>,
}

impl<S: Sax + 'static> PushParser<S> {
    fn new(state: S) -> PushParser<S> {
        init();
        let state = SaxExt::boxed(state);
        let mut sax = sax_handler::<S>(true);
        // SAFETY: libxml2 copies the handler struct; the kept state
        // outlives the context (freed first in `Drop`).
        let ctxt = unsafe {
            xmlCreatePushParserCtxt(&mut sax, state.user_data(), ptr::null(), 0, ptr::null())
        };
        assert!(!ctxt.is_null());
        PushParser {
            ctxt,
            state: Some(state),
        }
    }

    /// Feeds a chunk; libxml2's error code if the document is broken or
    /// the parser was stopped. A handler's panic comes back from here,
    /// after the parser was stopped: libxml2 then refuses further chunks.
    fn feed(&mut self, chunk: &[u8], last: bool) -> Result<(), c_int> {
        let ctxt = self.ctxt;
        let rc = resume_panics_with(
            // SAFETY: a live context whose user data is the kept state.
            || unsafe {
                xmlParseChunk(
                    ctxt,
                    chunk.as_ptr().cast(),
                    len_of(chunk),
                    c_int::from(last),
                )
            },
            // SAFETY: libxml2 allows stopping from inside a handler.
            || unsafe { xmlStopParser(ctxt) },
        );
        if rc == 0 { Ok(()) } else { Err(rc) }
    }

    /// The last chunk, then the state back.
    fn finish(mut self) -> Result<S, c_int> {
        self.feed(&[], true)?;
        // SAFETY: freed once; no handler runs after the last chunk.
        unsafe { xmlFreeParserCtxt(self.ctxt) };
        self.ctxt = ptr::null_mut();
        let state = self.state.take().expect("kept until now");
        Ok(state
            .into_inner()
            .unwrap_or_else(|_| panic!("no call runs after the free")))
    }
}

impl<S: Sax + 'static> Drop for PushParser<S> {
    fn drop(&mut self) {
        if !self.ctxt.is_null() {
            // SAFETY: freed once, before the state it calls.
            unsafe { xmlFreeParserCtxt(self.ctxt) };
        }
    }
}

#[test]
fn a_push_parser_keeps_its_state_across_chunks_and_gives_it_back() {
    let mut parser = PushParser::new(Events::default());
    for chunk in DOC.as_bytes().chunks(5) {
        parser.feed(chunk, false).expect("well-formed so far");
    }
    let events = parser.finish().expect("well-formed");
    assert_eq!(events.log.len(), 10);
    assert_eq!(events.log[1], "start a {urn:x} id=1");
}

#[test]
fn after_a_handler_s_panic_the_stopped_push_parser_refuses_further_chunks() {
    quiet_expected_panics();
    let calls = Rc::new(Cell::new(0));
    let mut parser = PushParser::new(Events {
        panic_at: Some("b"),
        calls: calls.clone(),
        ..Events::default()
    });
    let payload = payload_of(|| {
        for chunk in DOC.as_bytes().chunks(5) {
            parser.feed(chunk, false).expect("well-formed so far");
        }
    });
    assert_eq!(message_of(&*payload), "expected panic at <b>");
    let after_panic = calls.get();
    // The boxed state would run user code again now that the panic reached
    // the caller; the stop hook made libxml2 refuse the rest instead.
    assert_eq!(parser.feed(b"<c/></r>", true), Err(XML_ERR_USER_STOP));
    assert_eq!(calls.get(), after_panic);
}

// ===========================================================================
// SAX2 with ctx = the parser context, the state behind ctxt->_private
// ===========================================================================

/// The parser context's `_private`.
///
/// # Safety
/// `ctx` is a live `xmlParserCtxt`.
unsafe fn ctxt_private(ctx: *mut c_void) -> *mut c_void {
    // SAFETY: the caller's promise.
    unsafe { (*ctx.cast::<XmlParserCtxt>()).private }
}

/// The handlers of a binding that passes no user data, so that libxml2
/// hands them the parser context (which they need for `xmlStopParser`,
/// line numbers, ...), and keeps its state behind `ctxt->_private`.
#[callback(
    // SAFETY: libxml2 passes the live parser context when no user data
    // was given.
    user_data = unsafe { ctxt_private(ctx) }
)]
#[allow(clippy::too_many_arguments)] // the C handler's arity
trait CtxtSax {
    unsafe extern "C" fn start_element_ns(
        &mut self,
        ctx: *mut c_void,
        #[into(&str)] localname: *const u8,
        prefix: *const u8,
        uri: *const u8,
        nb_namespaces: c_int,
        namespaces: *mut *const u8,
        nb_attributes: c_int,
        nb_defaulted: c_int,
        attributes: *mut *const u8,
    );
    /// Fails with the element's name when asked to: the parser stops.
    #[callback(
        // SAFETY: the parser context that is calling.
        on_error = unsafe { xmlStopParser(ctx.cast()) }
    )]
    unsafe extern "C" fn end_element_ns(
        &mut self,
        ctx: *mut c_void,
        #[into(&str)] localname: *const u8,
        prefix: *const u8,
        uri: *const u8,
    ) -> Result<(), String>;
}

#[derive(Default)]
struct Names {
    names: Vec<String>,
    stop_at: Option<&'static str>,
    /// The end handler fails here.
    fail_at: Option<&'static str>,
    /// Parse this document again with the *same* state from inside the
    /// start handler (re-entry).
    reenter: bool,
}

impl CtxtSax for Names {
    fn start_element_ns(
        &mut self,
        ctx: *mut c_void,
        localname: &str,
        _prefix: *const u8,
        _uri: *const u8,
        _nb_namespaces: c_int,
        _namespaces: *mut *const u8,
        _nb_attributes: c_int,
        _nb_defaulted: c_int,
        _attributes: *mut *const u8,
    ) {
        self.names.push(localname.to_owned());
        if self.stop_at == Some(localname) {
            // SAFETY: the parser context that is calling.
            unsafe { xmlStopParser(ctx.cast()) };
        }
        if self.reenter {
            self.reenter = false;
            // SAFETY: the calling parser's `_private` is this state's
            // holder; a new parser with the same `_private` calls this
            // state again while this call runs.
            let rc = unsafe { parse_with_private(ctxt_private(ctx), "<again/>") };
            self.names.push(format!("nested rc {rc}"));
        }
    }

    fn end_element_ns(
        &mut self,
        _ctx: *mut c_void,
        localname: &str,
        _prefix: *const u8,
        _uri: *const u8,
    ) -> Result<(), String> {
        if self.fail_at == Some(localname) {
            return Err(format!("expected error at </{localname}>"));
        }
        self.names.push(format!("/{localname}"));
        Ok(())
    }
}

fn ctxt_sax_handler() -> XmlSaxHandler {
    XmlSaxHandler {
        before_characters: [None; 17],
        characters: None,
        ignorable_whitespace: None,
        processing_instruction: None,
        comment: None,
        warning: None,
        error: None,
        fatal_error: None,
        after_fatal_error: [None; 3],
        initialized: XML_SAX2_MAGIC,
        private: ptr::null_mut(),
        start_element_ns: Some(Names::START_ELEMENT_NS),
        end_element_ns: Some(Names::END_ELEMENT_NS),
        serror: None,
    }
}

/// Push-parses `xml` with no user data and `private` as `ctxt->_private`;
/// `xmlParseChunk`'s status.
///
/// # Safety
/// `private` is null or a `Names` holder alive for the call.
unsafe fn parse_with_private(private: *mut c_void, xml: &str) -> c_int {
    let mut sax = ctxt_sax_handler();
    // SAFETY: a new parser; no user data, so the handlers get the context.
    unsafe {
        let ctxt = xmlCreatePushParserCtxt(&mut sax, ptr::null_mut(), ptr::null(), 0, ptr::null());
        assert!(!ctxt.is_null());
        (*ctxt).private = private;
        let _free = FreeCtxt(ctxt, Rc::default());
        xmlParseChunk(ctxt, xml.as_ptr().cast(), len_of(xml.as_bytes()), 1)
    }
}

#[test]
fn handlers_find_their_state_behind_ctxt_private_and_stop_the_parser_themselves() {
    init();
    let names = Names {
        stop_at: Some("b"),
        ..Names::default()
    };
    // SAFETY: `ud` is the `Names` lent for the call.
    let (rc, names) = names.scope(|ud| unsafe { parse_with_private(ud, DOC) });
    assert_eq!(rc, XML_ERR_USER_STOP);
    assert_eq!(names.names, ["r", "a", "/a", "b"]);
}

#[test]
fn a_handler_s_err_stops_the_parser_through_on_error_and_comes_back_typed() {
    init();
    let names = Names {
        fail_at: Some("a"),
        ..Names::default()
    };
    // SAFETY: `ud` is the `Names` lent for the call.
    let (result, names) = names.try_scope(|ud| unsafe { parse_with_private(ud, DOC) });
    assert_eq!(result, Err("expected error at </a>".to_owned()));
    // `on_error` stopped libxml2: nothing after the failing end tag.
    assert_eq!(names.names, ["r", "a"]);
}

#[test]
fn a_parser_without_private_data_is_refused_not_dereferenced() {
    quiet_expected_panics();
    init();
    // The binding forgot `_private`: every handler finds null.
    // SAFETY: null is allowed by `parse_with_private`.
    let payload =
        payload_of(|| resume_panics(|| unsafe { parse_with_private(ptr::null_mut(), DOC) }));
    let message = message_of(&*payload);
    assert!(message.contains("null"), "{message}");
}

#[test]
fn a_handler_parsing_again_with_the_same_state_is_refused_as_re_entry() {
    quiet_expected_panics();
    init();
    let names = Names {
        reenter: true,
        ..Names::default()
    };
    let payload = payload_of(|| {
        // SAFETY: as above.
        names.scope(|ud| resume_panics(|| unsafe { parse_with_private(ud, "<r><s/></r>") }))
    });
    let message = message_of(&*payload);
    assert!(
        message.contains("while another call of the same state was running"),
        "{message}"
    );
}

// ===========================================================================
// IO: xmlReadIO / xmlCreateIOParserCtxt over a Rust `Read`
// ===========================================================================

/// `xmlInputReadCallback` and `xmlInputCloseCallback` sharing one context.
#[callback(fallback = -1, on_error = -1)]
trait Input {
    /// Bytes read, 0 at the end, -1 on error.
    unsafe extern "C" fn read(
        &mut self,
        #[user_data] context: *mut c_void,
        #[into(&mut [u8], len = usize::try_from(len).unwrap_or(0))] buffer: *mut c_char,
        len: c_int,
    ) -> Result<c_int, io::Error>;
    /// libxml2's last call with the context, whoever owns it: a plain call
    /// on a lent or kept source, the destroy of one handed over.
    #[callback(destroy)]
    unsafe extern "C" fn close(&mut self, #[user_data] context: *mut c_void) -> c_int;
}

/// A Rust reader behind libxml2's input callbacks.
struct Source<R> {
    reader: R,
    reads: Rc<Cell<u32>>,
    closes: Rc<Cell<u32>>,
    /// Fails (or panics) at this read.
    fail_at: Option<(u32, bool)>,
    _drops: DropCounter,
}

/// What a test watches of a source.
#[derive(Default)]
struct Watch {
    reads: Rc<Cell<u32>>,
    closes: Rc<Cell<u32>>,
    drops: Rc<Cell<u32>>,
}

impl<R: Read> Source<R> {
    fn new(reader: R, fail_at: Option<(u32, bool)>) -> (Source<R>, Watch) {
        let watch = Watch::default();
        let source = Source {
            reader,
            reads: watch.reads.clone(),
            closes: watch.closes.clone(),
            fail_at,
            _drops: DropCounter(watch.drops.clone()),
        };
        (source, watch)
    }
}

impl<R: Read> Input for Source<R> {
    fn read(&mut self, buffer: &mut [u8], _len: c_int) -> Result<c_int, io::Error> {
        self.reads.set(self.reads.get() + 1);
        match self.fail_at {
            Some((n, false)) if n == self.reads.get() => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "expected: the source failed",
                ));
            }
            Some((n, true)) if n == self.reads.get() => panic!("expected panic in read"),
            _ => {}
        }
        // A short read each time, so that libxml2 comes back for more.
        let short = buffer.len().min(7);
        let n = self.reader.read(&mut buffer[..short])?;
        Ok(c_int::try_from(n).expect("at most len"))
    }

    fn close(&mut self) -> c_int {
        self.closes.set(self.closes.get() + 1);
        if self.fail_at == Some((0, true)) {
            panic!("expected panic in close");
        }
        0
    }
}

/// `xmlReadIO` over `source`, handed over to libxml2 (its close callback
/// frees it), under `try_resume`.
fn read_io_owned<R: Read + 'static>(source: Source<R>) -> Result<Option<Doc>, io::Error> {
    init();
    let context = source.boxed().into_raw();
    try_resume(|| {
        // SAFETY: the set's entries for `Source<R>` with its handed-over
        // holder; libxml2 calls close once, also when the parse fails.
        let doc = unsafe {
            xmlReadIO(
                Some(<Source<R> as InputExt>::READ),
                Some(<Source<R> as InputExt>::CLOSE),
                context,
                ptr::null(),
                ptr::null(),
                XML_PARSE_NOERROR | XML_PARSE_NOWARNING,
            )
        };
        (!doc.is_null()).then(|| Doc(doc))
    })
}

#[test]
fn xml_read_io_reads_a_handed_over_source_and_closes_it_once() {
    let (source, watch) = Source::new(DOC.as_bytes(), None);
    let doc = read_io_owned(source)
        .expect("no io error")
        .expect("a document");
    assert_eq!(doc.root_name(), "r");
    assert_eq!(doc.text(), "onetwo");
    assert!(watch.reads.get() > 3, "short reads");
    assert_eq!((watch.closes.get(), watch.drops.get()), (1, 1));
}

#[test]
fn an_io_error_fails_xml_read_io_and_comes_back_typed() {
    let (source, watch) = Source::new(DOC.as_bytes(), Some((3, false)));
    let error = read_io_owned(source).err().expect("the io::Error");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(error.to_string(), "expected: the source failed");
    // libxml2 stops reading after a failed read (2.9.14 swaps in an
    // end-of-input reader) and calls close; the kept `Err` poisons the
    // state, so close's body does not run, but the state is freed once.
    assert_eq!(watch.reads.get(), 3);
    assert_eq!((watch.closes.get(), watch.drops.get()), (0, 1));
}

#[test]
fn a_panic_in_read_fails_the_parse_frees_the_source_and_is_resumed() {
    quiet_expected_panics();
    let (source, watch) = Source::new(DOC.as_bytes(), Some((2, true)));
    let payload = payload_of(|| read_io_owned(source));
    assert_eq!(message_of(&*payload), "expected panic in read");
    assert_eq!(watch.reads.get(), 2);
    assert_eq!((watch.closes.get(), watch.drops.get()), (0, 1));
}

#[test]
fn a_panic_in_the_close_callback_still_frees_the_handed_over_source_once() {
    quiet_expected_panics();
    let (source, watch) = Source::new(DOC.as_bytes(), Some((0, true)));
    let payload = payload_of(|| read_io_owned(source));
    assert_eq!(message_of(&*payload), "expected panic in close");
    assert_eq!((watch.closes.get(), watch.drops.get()), (1, 1));
}

#[test]
fn a_lent_source_is_closed_by_a_plain_call_and_comes_back() {
    init();
    let (source, watch) = Source::new(DOC.as_bytes(), None);
    let (doc, source) = source.scope(|context| {
        // SAFETY: the set's entries for this type, `context` lent for the
        // call; close is a plain call on a lent state.
        unsafe {
            xmlReadIO(
                Some(<Source<&[u8]> as InputExt>::READ),
                Some(<Source<&[u8]> as InputExt>::CLOSE),
                context,
                ptr::null(),
                ptr::null(),
                0,
            )
        }
    });
    let doc = Doc(doc);
    assert_eq!(doc.root_name(), "r");
    assert_eq!(watch.closes.get(), 1);
    assert_eq!(watch.drops.get(), 0);
    assert!(source.reader.is_empty());
}

#[test]
fn xml_create_io_parser_ctxt_combines_a_sax_state_and_an_input_state() {
    init();
    let mut sax = sax_handler::<Events>(true);
    let (source, watch) = Source::new(DOC.as_bytes(), None);
    let input = source.boxed().into_raw();
    let ((), events) = Events::default().scope(|ud| {
        // SAFETY: `ud` is the lent `Events` for the SAX entries; `input` a
        // handed-over `Source` for the IO entries, closed by libxml2 when
        // the context is freed.
        unsafe {
            let ctxt = xmlCreateIOParserCtxt(
                &mut sax,
                ud,
                Some(<Source<&[u8]> as InputExt>::READ),
                Some(<Source<&[u8]> as InputExt>::CLOSE),
                input,
                XML_CHAR_ENCODING_NONE,
            );
            assert!(!ctxt.is_null());
            let _free = FreeCtxt(ctxt, Rc::default());
            assert_eq!(resume_panics(|| xmlParseDocument(ctxt)), 0);
        }
    });
    assert_eq!(
        events.log.first().map(String::as_str),
        Some("start r {urn:x}")
    );
    assert_eq!(events.log.len(), 10);
    assert_eq!((watch.closes.get(), watch.drops.get()), (1, 1));
}

// ===========================================================================
// Output: xmlOutputBufferCreateIO into a Rust `Write`
// ===========================================================================

/// `xmlOutputWriteCallback` and `xmlOutputCloseCallback`.
#[callback(fallback = -1, on_error = -1)]
trait Output {
    /// Bytes written, -1 on error.
    unsafe extern "C" fn write(
        &mut self,
        #[user_data] context: *mut c_void,
        #[into(&[u8], len = usize::try_from(len).unwrap_or(0))] buffer: *const c_char,
        len: c_int,
    ) -> Result<c_int, io::Error>;
    /// Flushes; libxml2's last call.
    #[callback(destroy)]
    unsafe extern "C" fn close(
        &mut self,
        #[user_data] context: *mut c_void,
    ) -> Result<c_int, io::Error>;
}

struct Sink<W> {
    writer: W,
    closes: u32,
}

impl<W: Write> Output for Sink<W> {
    fn write(&mut self, buffer: &[u8], len: c_int) -> Result<c_int, io::Error> {
        self.writer.write_all(buffer)?;
        Ok(len)
    }

    fn close(&mut self) -> Result<c_int, io::Error> {
        self.closes += 1;
        self.writer.flush()?;
        Ok(0)
    }
}

/// Saves `doc` into `sink`, kept by Rust and given back.
fn save_to<W: Write + 'static>(doc: &Doc, sink: Sink<W>) -> (Result<c_int, io::Error>, Sink<W>) {
    let sink = sink.boxed();
    let result = try_resume(|| {
        // SAFETY: the set's entries for `Sink<W>` and its kept holder,
        // alive until `into_inner` below; xmlSaveFileTo closes the buffer.
        unsafe {
            let out = xmlOutputBufferCreateIO(
                Some(<Sink<W> as OutputExt>::WRITE),
                Some(<Sink<W> as OutputExt>::CLOSE),
                sink.user_data(),
                ptr::null_mut(),
            );
            assert!(!out.is_null());
            xmlSaveFileTo(out, doc.0, ptr::null())
        }
    });
    let Ok(sink) = sink.into_inner() else {
        panic!("no call runs after xmlSaveFileTo");
    };
    (result, sink)
}

#[test]
fn xml_save_file_to_writes_into_a_vec_kept_by_rust() {
    let doc = Doc::parse(DOC);
    let (result, sink) = save_to(
        &doc,
        Sink {
            writer: Vec::new(),
            closes: 0,
        },
    );
    let written = result.expect("no io error");
    let text = String::from_utf8(sink.writer).unwrap();
    assert_eq!(written as usize, text.len());
    assert!(
        text.starts_with("<?xml version=\"1.0\"?>\n<r xmlns=\"urn:x\">"),
        "{text}"
    );
    assert_eq!(sink.closes, 1);
}

/// A writer that fails after `left` bytes.
struct Failing {
    left: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.left {
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
fn a_failing_writer_fails_xml_save_file_to_and_the_io_error_comes_back_typed() {
    let doc = Doc::parse(DOC);
    let (result, sink) = save_to(
        &doc,
        Sink {
            writer: Failing { left: 10 },
            closes: 0,
        },
    );
    let error = result.expect_err("the io::Error");
    assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    // The kept `Err` poisons the state: libxml2's close (a plain call on a
    // kept state) is refused, its body does not run.
    assert_eq!(sink.closes, 0);
}

#[test]
fn a_sink_handed_over_is_closed_and_freed_by_xml_output_buffer_close() {
    let doc = Doc::parse(DOC);
    let shared = Rc::new(RefCell::new(Vec::new()));
    struct Shared(Rc<RefCell<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let context = Sink {
        writer: Shared(shared.clone()),
        closes: 0,
    }
    .boxed()
    .into_raw();
    let written = try_resume::<_, io::Error>(|| {
        // SAFETY: the set's entries for `Sink<Shared>` with its handed-over
        // holder, which the close callback frees.
        unsafe {
            let out = xmlOutputBufferCreateIO(
                Some(<Sink<Shared> as OutputExt>::WRITE),
                Some(<Sink<Shared> as OutputExt>::CLOSE),
                context,
                ptr::null_mut(),
            );
            if out.is_null() {
                // 2.9.14 frees nothing when it fails: the binding takes the
                // state back (close's body does not run on it) and drops it.
                drop(<Sink<Shared> as OutputExt>::from_raw(context));
                return -1;
            }
            xmlSaveFileTo(out, doc.0, ptr::null())
        }
    })
    .expect("no io error");
    assert_eq!(written as usize, shared.borrow().len());
    assert_eq!(Rc::strong_count(&shared), 1, "the sink was freed");
}

// ===========================================================================
// xmlSetStructuredErrorFunc: a global (per thread) handler with a context
// ===========================================================================

/// `xmlStructuredErrorFunc`. libxml2 raises errors from everywhere (a parse
/// the binding guards, but also any other call on the thread), so a panic
/// with no guard is reported and C goes on.
#[callback(unguarded = fallback)]
type StructuredError = unsafe extern "C" fn(
    #[user_data] user_data: *mut c_void,
    #[into(&XmlError)] error: *mut XmlError,
);

/// Resets the thread's structured error handler when dropped.
struct ResetErrorFunc;

impl Drop for ResetErrorFunc {
    fn drop(&mut self) {
        // SAFETY: no handler.
        unsafe { xmlSetStructuredErrorFunc(ptr::null_mut(), None) }
    }
}

/// Parses `xml` with libxml2's own tree builder; whether a document came.
fn read_memory(xml: &str) -> bool {
    init();
    // SAFETY: `xml.len()` bytes at `xml`.
    let doc = unsafe {
        xmlReadMemory(
            xml.as_ptr().cast(),
            len_of(xml.as_bytes()),
            ptr::null(),
            ptr::null(),
            0,
        )
    };
    let ok = !doc.is_null();
    if ok {
        drop(Doc(doc));
    }
    ok
}

#[test]
fn a_structured_error_handler_lent_for_one_parse_collects_the_errors() {
    let mut errors = Vec::new();
    let ok = StructuredError::scope(
        |error: &XmlError| errors.push((error.code, error.line, error.message())),
        |handler, ud| {
            // SAFETY: `ud` is lent for this closure; the guard resets the
            // handler before it ends, also on unwind.
            unsafe { xmlSetStructuredErrorFunc(ud, Some(handler)) };
            let _reset = ResetErrorFunc;
            read_memory("<r>\n<a></b></r>")
        },
    );
    assert!(!ok);
    assert_eq!(errors[0].0, XML_ERR_TAG_NAME_MISMATCH);
    assert_eq!(errors[0].1, 2);
    assert!(
        errors[0]
            .2
            .starts_with("Opening and ending tag mismatch: a line 2 and b"),
        "{errors:?}"
    );
}

/// A binding's handle: the handler kept by Rust, installed while it lives.
struct ErrorCollector {
    handler: StructuredErrorBoxed,
}

type StructuredErrorBoxed = ffi_callback::Boxed<StructuredError<Box<dyn FnMut(&XmlError)>>>;

impl ErrorCollector {
    fn install(f: impl FnMut(&XmlError) + 'static) -> ErrorCollector {
        let handler = StructuredError::boxed(Box::new(f) as Box<dyn FnMut(&XmlError)>);
        // SAFETY: the boxed holder stays installed only while it lives
        // (reset in `Drop` before it is freed).
        unsafe { xmlSetStructuredErrorFunc(handler.user_data(), Some(handler.function())) };
        ErrorCollector { handler }
    }
}

impl Drop for ErrorCollector {
    fn drop(&mut self) {
        let _ = &self.handler;
        // SAFETY: no handler; the boxed one is freed after this.
        unsafe { xmlSetStructuredErrorFunc(ptr::null_mut(), None) }
    }
}

#[test]
fn a_kept_error_handler_sees_every_error_on_its_thread_and_a_panic_is_resumed() {
    quiet_expected_panics();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let seen2 = seen.clone();
    let collector = ErrorCollector::install(move |error: &XmlError| {
        seen2.borrow_mut().push(error.code);
        if error.message().contains("panic-please") {
            panic!("expected panic in the error handler");
        }
    });
    assert!(!read_memory("<a>"));
    assert!(!read_memory("<b></c>"));
    let before = seen.borrow().len();
    assert!(before >= 2, "{:?}", seen.borrow());
    // libxml2's handler is per thread: another thread's errors do not
    // reach it (so the default contract, "called on the registering
    // thread", is libxml2's).
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: that thread's own default handler (libxml2's stderr
            // output silenced by options).
            let doc = unsafe {
                xmlReadMemory(
                    c"<x>".as_ptr(),
                    3,
                    ptr::null(),
                    ptr::null(),
                    XML_PARSE_NOERROR,
                )
            };
            assert!(doc.is_null());
        });
    });
    assert_eq!(seen.borrow().len(), before);
    // A panic in a guarded parse comes back from the guard.
    let payload = payload_of(|| resume_panics(|| read_memory("<panic-please></x>")));
    assert_eq!(message_of(&*payload), "expected panic in the error handler");
    // Outside any guard (`unguarded = fallback`): reported, libxml2 goes on.
    let before = seen.borrow().len();
    assert!(!read_memory("<panic-please></x>"));
    assert!(seen.borrow().len() > before);
    // The unguarded panic poisoned nothing: the next error runs the
    // handler again.
    let before = seen.borrow().len();
    assert!(!read_memory("<a>"));
    assert!(seen.borrow().len() > before);
    drop(collector);
}

/// A set's `serror` entry reads its data as its holder: it must be the
/// user data, also when a global structured handler is set too (older
/// libxml2 releases passed the parser context there; Debian's 2.9.14
/// passes the user data). Probed with a raw handler, so that a wrong
/// pointer is seen, not dereferenced.
#[test]
fn with_a_global_handler_too_sax_serror_receives_the_user_data() {
    init();
    static SEEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    unsafe extern "C" fn probe(data: *mut c_void, _error: *mut XmlError) {
        SEEN.lock().unwrap().push(data as usize);
    }
    unsafe extern "C" fn global(_data: *mut c_void, _error: *mut XmlError) {}
    let mut sax = XmlSaxHandler {
        serror: Some(probe),
        ..ctxt_sax_handler()
    };
    sax.start_element_ns = None;
    sax.end_element_ns = None;
    let mut marker = 0u8;
    let user_data = (&raw mut marker).cast::<c_void>();
    let xml = "<r><a></b></r>";
    // SAFETY: raw handlers that only record the pointer.
    let ctxt_addr = unsafe {
        xmlSetStructuredErrorFunc(ptr::null_mut(), Some(global));
        let _reset = ResetErrorFunc;
        let ctxt = xmlCreatePushParserCtxt(&mut sax, user_data, ptr::null(), 0, ptr::null());
        let _free = FreeCtxt(ctxt, Rc::default());
        xmlParseChunk(ctxt, xml.as_ptr().cast(), len_of(xml.as_bytes()), 1);
        ctxt as usize
    };
    let seen = std::mem::take(&mut *SEEN.lock().unwrap());
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|&d| d == user_data as usize),
        "serror data {seen:x?}, user data {:#x}, parser context {ctxt_addr:#x}",
        user_data as usize
    );
}

// ===========================================================================
// xmlRegisterInputCallbacks: process-wide, match/open without user data
// ===========================================================================

/// `xmlInputMatchCallback`: no user data.
#[callback]
type InputMatch = unsafe extern "C" fn(#[into(&str)] filename: *const c_char) -> c_int;

/// `xmlInputOpenCallback`: no user data; returns the context read/close
/// receive (null: cannot open).
#[callback]
type InputOpen = unsafe extern "C" fn(#[into(&str)] filename: *const c_char) -> *mut c_void;

/// The input callbacks are one table for the whole process: one test at a
/// time registers.
static INPUT_CALLBACKS: Mutex<()> = Mutex::new(());

/// Pops the callbacks registered last when dropped.
struct PopInputCallbacks;

impl Drop for PopInputCallbacks {
    fn drop(&mut self) {
        // SAFETY: the entry this test pushed.
        unsafe { xmlPopInputCallbacks() };
    }
}

type MemSource = Source<io::Cursor<Vec<u8>>>;

/// Reads `name` with `files` served under `mem:` by input callbacks lent
/// for the call; the number of sources opened.
fn read_mem_file(
    files: &[(&str, &str)],
    name: &str,
    panic_in_open: bool,
    watch_drops: &Rc<Cell<u32>>,
) -> (Option<String>, u32) {
    init();
    let _serial = INPUT_CALLBACKS.lock().unwrap_or_else(|e| e.into_inner());
    let mut opened = 0;
    let text = InputMatch::scope_thread_local(
        |filename: &str| c_int::from(filename.starts_with("mem:")),
        |matcher| {
            InputOpen::scope_thread_local(
                |filename: &str| {
                    if panic_in_open {
                        panic!("expected panic in open");
                    }
                    let Some((_, body)) =
                        files.iter().find(|(n, _)| format!("mem:{n}") == filename)
                    else {
                        return ptr::null_mut();
                    };
                    opened += 1;
                    let (mut source, _watch) =
                        Source::new(io::Cursor::new(body.as_bytes().to_vec()), None);
                    source._drops = DropCounter(watch_drops.clone());
                    source.boxed().into_raw()
                },
                |open| {
                    let c_name = CString::new(name).unwrap();
                    // SAFETY: the match and open functions are lent for
                    // this call (popped by the guard before the scopes
                    // end); read/close are `MemSource`'s entries for the
                    // handed-over contexts `open` returns.
                    unsafe {
                        xmlRegisterInputCallbacks(
                            Some(matcher),
                            Some(open),
                            Some(<MemSource as InputExt>::READ),
                            Some(<MemSource as InputExt>::CLOSE),
                        );
                        let _pop = PopInputCallbacks;
                        let doc = xmlReadFile(c_name.as_ptr(), ptr::null(), XML_PARSE_NOENT);
                        (!doc.is_null()).then(|| Doc(doc).text())
                    }
                },
            )
        },
    );
    (text, opened)
}

#[test]
fn registered_input_callbacks_serve_a_document_and_its_external_entity() {
    let drops = Rc::new(Cell::new(0));
    let files = [
        (
            "doc.xml",
            "<!DOCTYPE r [<!ENTITY e SYSTEM 'mem:e.xml'>]><r>a&e;c</r>",
        ),
        ("e.xml", "b"),
    ];
    let (text, opened) = read_mem_file(&files, "mem:doc.xml", false, &drops);
    assert_eq!(text.as_deref(), Some("abc"));
    assert_eq!(opened, 2);
    assert_eq!(drops.get(), 2, "each source closed and freed once");
}

#[test]
fn a_panic_in_the_open_callback_fails_the_read_and_is_resumed() {
    quiet_expected_panics();
    let drops = Rc::new(Cell::new(0));
    let payload = payload_of(|| read_mem_file(&[("doc.xml", "<r/>")], "mem:doc.xml", true, &drops));
    assert_eq!(message_of(&*payload), "expected panic in open");
}

#[test]
fn another_thread_s_parse_does_not_reach_input_callbacks_lent_on_this_one() {
    init();
    let _serial = INPUT_CALLBACKS.lock().unwrap_or_else(|e| e.into_inner());
    let never_open = InputOpen::new(|_: &str| ptr::null_mut());
    let mut matched = 0;
    InputMatch::scope_thread_local(
        |_: &str| {
            matched += 1;
            1
        },
        |matcher| {
            // SAFETY: popped before the scope ends; no read/close needed,
            // since open never succeeds.
            unsafe {
                xmlRegisterInputCallbacks(Some(matcher), Some(never_open.function()), None, None);
                let _pop = PopInputCallbacks;
                // The table is process-wide: another thread's parse calls
                // the match function too, finds no closure lent on its
                // thread, is refused (reported) and gets 0, "not mine".
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let doc = xmlReadFile(
                            c"/nonexistent/other.xml".as_ptr(),
                            ptr::null(),
                            XML_PARSE_NOERROR | XML_PARSE_NOWARNING,
                        );
                        assert!(doc.is_null());
                    });
                });
            }
        },
    );
    assert_eq!(matched, 0);
}

#[test]
fn input_callbacks_left_registered_after_their_scope_are_refused_not_called() {
    init();
    let _serial = INPUT_CALLBACKS.lock().unwrap_or_else(|e| e.into_inner());
    // The binding registers inside the scopes but pops after them: libxml2
    // keeps the pointers, and calls match again for the next file.
    let matcher = InputMatch::scope_thread_local(|_: &str| 1, |matcher| matcher);
    // SAFETY: `matcher` is the type's one function; with no scope running
    // it refuses every call (fallback 0: "not mine").
    unsafe {
        xmlRegisterInputCallbacks(Some(matcher), None, None, None);
        let _pop = PopInputCallbacks;
        let doc = xmlReadFile(
            c"/nonexistent/file.xml".as_ptr(),
            ptr::null(),
            XML_PARSE_NOERROR | XML_PARSE_NOWARNING,
        );
        assert!(doc.is_null());
    }
}

// ===========================================================================
// XPath extension functions: state behind ctxt->context->userData
// ===========================================================================

/// The evaluation context's `userData`.
///
/// # Safety
/// `ctxt` is a live XPath parser context.
unsafe fn xpath_user_data(ctxt: *mut XmlXPathParserContext) -> *mut c_void {
    // SAFETY: the caller's promise.
    unsafe { (*(*ctxt).context).user_data }
}

#[derive(Debug, PartialEq)]
struct XPathError(c_int);

/// A context's XPath functions (`xmlXPathFunction`: no user data) and its
/// structured error callback (`ctx->error`, whose data is the same
/// `userData`): one state. The entries take `&self`: a function's
/// `on_error` (and `fallback`) raises the error with `xmlXPathErr`, which
/// calls `error` on the same state while the failing entry's call is still
/// open; were the function `&mut self`, that call would be refused (and
/// the refusal, a panic, would replace the function's typed `Err`).
#[callback(
    // SAFETY: libxml2 passes the live parser context of the evaluation.
    user_data = unsafe { xpath_user_data(ctxt) },
    // SAFETY: as for `user_data`: a failed function fails the evaluation.
    fallback = unsafe { xmlXPathErr(ctxt, XPATH_EXPR_ERROR) },
)]
trait XPathFunctions {
    /// `upper(string)`.
    #[callback(
        // SAFETY: as above.
        on_error = unsafe { xmlXPathErr(ctxt, e.0) }
    )]
    unsafe extern "C" fn upper(
        &self,
        ctxt: *mut XmlXPathParserContext,
        nargs: c_int,
    ) -> Result<(), XPathError>;
    /// `calls()`: how many function calls so far.
    unsafe extern "C" fn calls(&self, ctxt: *mut XmlXPathParserContext, nargs: c_int);
    /// `boom()`: panics.
    unsafe extern "C" fn boom(&self, ctxt: *mut XmlXPathParserContext, nargs: c_int);
    /// `report()`: reports an error through `xmlXPathErr` from its body,
    /// which calls `error` below (same state) inside this call.
    unsafe extern "C" fn report(&self, ctxt: *mut XmlXPathParserContext, nargs: c_int);
    /// The context's `error`: `xmlStructuredErrorFunc(userData, error)`:
    /// its own slot, and its own fallback (the set's reads `ctxt`).
    #[callback(fallback = ())]
    unsafe extern "C" fn error(
        &self,
        #[user_data] ud: *mut c_void,
        #[into(&XmlError)] error: *mut XmlError,
    );
}

#[derive(Default)]
struct Functions {
    calls: Cell<u32>,
    errors: RefCell<Vec<(c_int, String)>>,
}

impl XPathFunctions for Functions {
    fn upper(&self, ctxt: *mut XmlXPathParserContext, nargs: c_int) -> Result<(), XPathError> {
        self.calls.set(self.calls.get() + 1);
        if nargs != 1 {
            return Err(XPathError(XPATH_INVALID_ARITY));
        }
        // SAFETY: the evaluation's parser context with one argument on its
        // stack; the popped string is ours to free, the pushed object the
        // stack's.
        unsafe {
            let arg = take_xml_string(xmlXPathPopString(ctxt));
            if arg.is_empty() {
                return Err(XPathError(XPATH_INVALID_TYPE));
            }
            let upper = CString::new(arg.to_uppercase()).unwrap();
            valuePush(ctxt, xmlXPathNewString(upper.as_ptr().cast()));
        }
        Ok(())
    }

    fn calls(&self, ctxt: *mut XmlXPathParserContext, _nargs: c_int) {
        self.calls.set(self.calls.get() + 1);
        // SAFETY: the evaluation's parser context.
        unsafe { valuePush(ctxt, xmlXPathNewFloat(f64::from(self.calls.get()))) };
    }

    fn boom(&self, _ctxt: *mut XmlXPathParserContext, _nargs: c_int) {
        panic!("expected panic in an XPath function");
    }

    fn report(&self, ctxt: *mut XmlXPathParserContext, _nargs: c_int) {
        // SAFETY: the evaluation's parser context.
        unsafe { xmlXPathErr(ctxt, XPATH_INVALID_TYPE) };
    }

    fn error(&self, error: &XmlError) {
        self.errors.borrow_mut().push((error.code, error.message()));
    }
}

/// An XPath context on `doc` whose functions and error callback are
/// `Functions`' entries, `user_data` its holder; freed when dropped.
struct XPath(*mut XmlXPathContext);

impl XPath {
    /// # Safety
    /// `user_data` is a `Functions` holder alive while the context lives.
    unsafe fn new(doc: &Doc, user_data: *mut c_void) -> XPath {
        // SAFETY: a live document; the names are static C strings.
        unsafe {
            let ctx = xmlXPathNewContext(doc.0);
            assert!(!ctx.is_null());
            (*ctx).user_data = user_data;
            (*ctx).error = Some(Functions::ERROR);
            for (name, f) in [
                (c"upper", Functions::UPPER as XPathFunctionFn),
                (c"calls", Functions::CALLS),
                (c"boom", Functions::BOOM),
                (c"report", Functions::REPORT),
            ] {
                assert_eq!(xmlXPathRegisterFunc(ctx, name.as_ptr().cast(), Some(f)), 0);
            }
            XPath(ctx)
        }
    }

    /// The expression's value as a string, or None if it failed.
    fn string(&self, expr: &CStr) -> Option<String> {
        // SAFETY: a live context; the object is freed here.
        unsafe {
            let obj = xmlXPathEvalExpression(expr.as_ptr().cast(), self.0);
            if obj.is_null() {
                return None;
            }
            let s = take_xml_string(xmlXPathCastToString(obj));
            xmlXPathFreeObject(obj);
            Some(s)
        }
    }

    fn number(&self, expr: &CStr) -> Option<f64> {
        // SAFETY: as `string`.
        unsafe {
            let obj = xmlXPathEvalExpression(expr.as_ptr().cast(), self.0);
            if obj.is_null() {
                return None;
            }
            let n = xmlXPathCastToNumber(obj);
            xmlXPathFreeObject(obj);
            Some(n)
        }
    }
}

impl Drop for XPath {
    fn drop(&mut self) {
        // SAFETY: made by xmlXPathNewContext, freed once.
        unsafe { xmlXPathFreeContext(self.0) }
    }
}

#[test]
fn xpath_functions_reach_their_state_through_the_context_s_user_data() {
    let doc = Doc::parse(DOC);
    let (results, functions) = Functions::default().scope(|ud| {
        // SAFETY: `ud` is lent while the context lives (dropped inside).
        let xpath = unsafe { XPath::new(&doc, ud) };
        let results = (
            xpath.string(c"upper(string(/*[local-name()='r']/*[1]))"),
            xpath.number(c"calls() + calls()"),
        );
        drop(xpath);
        results
    });
    assert_eq!(results.0.as_deref(), Some("ONE"));
    assert_eq!(results.1, Some(5.0)); // upper, then calls() twice: 2 + 3
    assert_eq!(functions.calls.get(), 3);
}

#[test]
fn an_xpath_function_s_err_fails_the_evaluation_and_comes_back_typed() {
    let doc = Doc::parse(DOC);
    let (result, functions) = Functions::default().scope(|ud| {
        // SAFETY: as above.
        let xpath = unsafe { XPath::new(&doc, ud) };
        try_resume(|| xpath.string(c"upper('a', 'b')"))
    });
    assert_eq!(result, Err(XPathError(XPATH_INVALID_ARITY)));
    // `on_error` raised the XPath error, whose structured callback is an
    // entry of the same (`&self`) state, inside the failing call: it ran.
    let errors = functions.errors.borrow();
    assert_eq!(errors.len(), 1, "{errors:?}");
    // 2.9.14's xmlXPathErr fills `lastError` without a message for a
    // context's own error callback: the code only (XML_XPATH_INVALID_ARITY).
    assert_eq!(errors[0], (1212, String::new()));
}

#[test]
fn an_xpath_function_reporting_an_error_from_its_body_reaches_the_error_entry() {
    let doc = Doc::parse(DOC);
    let (result, functions) = Functions::default().scope(|ud| {
        // SAFETY: as above.
        let xpath = unsafe { XPath::new(&doc, ud) };
        resume_panics(|| xpath.string(c"report()"))
    });
    assert_eq!(result, None);
    assert_eq!(functions.errors.borrow().len(), 1);
}

#[test]
fn a_panic_in_an_xpath_function_fails_the_evaluation_and_is_resumed() {
    quiet_expected_panics();
    let doc = Doc::parse(DOC);
    let functions = Functions::default();
    let payload = payload_of(|| {
        functions.scope(|ud| {
            // SAFETY: as above.
            let xpath = unsafe { XPath::new(&doc, ud) };
            // The fallback raised XPATH_EXPR_ERROR: the evaluation failed,
            // and its error callback (poisoned state) did not run.
            assert_eq!(
                resume_panics(|| xpath.string(c"concat(boom(), calls())")),
                None
            );
        })
    });
    assert_eq!(message_of(&*payload), "expected panic in an XPath function");
}

// ===========================================================================
// xmlHashScan and xmlHashFree
// ===========================================================================

/// `xmlHashScanner`: the payload, the user data, the entry's name.
#[callback]
type HashScanner = unsafe extern "C" fn(
    #[into(&Entry)] payload: *mut c_void,
    #[user_data] data: *mut c_void,
    #[into(&str)] name: *const u8,
);

struct Entry {
    value: u32,
    _drops: DropCounter,
}

/// `xmlHashDeallocator`: each payload comes back as the `Box` it was
/// handed over as.
#[callback]
extern "C" fn free_entry(#[user_data] payload: Box<Entry>, _name: *const u8) {
    drop(payload);
}

/// A hash table of `Entry`s, freed with `free_entry` when dropped.
struct Table(*mut XmlHashTable);

impl Table {
    fn new(entries: &[(&str, u32)], drops: &Rc<Cell<u32>>) -> Table {
        init();
        // SAFETY: a new table.
        let table = Table(unsafe { xmlHashCreate(8) });
        for (name, value) in entries {
            let name = CString::new(*name).unwrap();
            let payload = free_entry::user_data(Box::new(Entry {
                value: *value,
                _drops: DropCounter(drops.clone()),
            }));
            // SAFETY: a live table; the payload is freed by `free_entry`.
            let rc = unsafe { xmlHashAddEntry(table.0, name.as_ptr().cast(), payload) };
            if rc != 0 {
                // Not added (a duplicate name): the payload is still ours.
                // SAFETY: made by `free_entry::user_data`, not handed over.
                unsafe { free_entry(payload, ptr::null()) };
            }
        }
        table
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // SAFETY: every payload was made by `free_entry::user_data`.
        resume_panics(|| unsafe { xmlHashFree(self.0, Some(free_entry)) });
    }
}

#[test]
fn xml_hash_scan_visits_every_entry_and_xml_hash_free_frees_each_payload_once() {
    let drops = Rc::new(Cell::new(0));
    let table = Table::new(&[("a", 1), ("b", 2), ("c", 3), ("a", 9)], &drops);
    assert_eq!(drops.get(), 1, "the duplicate was reclaimed");
    // SAFETY: a live table.
    assert_eq!(unsafe { xmlHashSize(table.0) }, 3);
    let mut seen = Vec::new();
    HashScanner::scope(
        |entry: &Entry, name: &str| seen.push(format!("{name}={}", entry.value)),
        // SAFETY: a live table whose payloads are `Entry`s.
        |scanner, ud| unsafe { xmlHashScan(table.0, Some(scanner), ud) },
    );
    seen.sort();
    assert_eq!(seen, ["a=1", "b=2", "c=3"]);
    drop(table);
    assert_eq!(drops.get(), 4);
}

#[test]
fn a_panic_in_the_scanner_skips_the_rest_of_the_scan_and_is_resumed() {
    quiet_expected_panics();
    let drops = Rc::new(Cell::new(0));
    let table = Table::new(&[("a", 1), ("b", 2), ("c", 3)], &drops);
    let calls = Cell::new(0);
    let payload = payload_of(|| {
        HashScanner::scope(
            |_entry: &Entry, _name: &str| -> () {
                calls.set(calls.get() + 1);
                panic!("expected panic in the scanner");
            },
            // SAFETY: as above. xmlHashScan cannot be stopped: it calls
            // the (poisoned) scanner for the other entries.
            |scanner, ud| unsafe { xmlHashScan(table.0, Some(scanner), ud) },
        )
    });
    assert_eq!(message_of(&*payload), "expected panic in the scanner");
    assert_eq!(calls.get(), 1);
    drop(table);
    assert_eq!(drops.get(), 3);
}
