//! Everything the generators draw from: valid inputs, option lists and
//! the token vocabularies. A new option or form goes here: a valid use in
//! `CORPUS`, and in `GOOD_OPTIONS` (alone it is valid) and `OPTIONS` with
//! its garbled spellings.

use super::generators::tokens;

/// `(args, item)` as users write them: every form, option and slot kind
/// the design names, then misuses with valid syntax.
pub(super) const CORPUS: &[(&str, &str)] = &[
    (
        "",
        "extern \"C\" fn conditional(#[cfg(windows)] hwnd: HWND, n: c_int, #[cfg_attr(unix, user_data)] seen: &mut c_int) -> c_int { n }",
    ),
    (
        "",
        "type Conditional = Option<unsafe extern \"C\" fn(#[cfg(unix)] fd: c_int, #[cfg(all())] #[user_data] ud: *mut c_void)>;",
    ),
    (
        "",
        "trait Conditional { unsafe extern \"C\" fn read(&mut self, #[user_data] ud: *mut c_void, #[cfg(unix)] fd: c_int) -> c_int; #[cfg(feature = \"seek\")] unsafe extern \"C\" fn seek(&mut self, #[user_data] ud: *mut c_void) -> c_int; }",
    ),
    (
        "",
        "extern \"C\" fn visit(item: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int { seen.push(item); 0 }",
    ),
    (
        "on_error = -e.0, keep_error = false",
        "extern \"C\" fn half(x: c_int, #[user_data] seen: &mut Vec<c_int>) -> Result<c_int, Odd> { seen.push(x); Ok(x / 2) }",
    ),
    (
        "error = Odd, on_error = -1, keep_error = false",
        "type Half = unsafe extern \"C\" fn(x: c_int, #[user_data] ud: *mut c_void) -> c_int;",
    ),
    (
        "on_panic = abort",
        "extern \"system\" fn enum_proc(hwnd: HWND, #[user_data(LPARAM)] found: &mut Vec<HWND>) -> BOOL { found.push(hwnd); TRUE }",
    ),
    (
        "user_data = sqlite3_user_data(ctx), fallback = -1, crate = ::my::ffi_callback",
        "unsafe extern \"C\" fn call<T: Ord>(ctx: *mut sqlite3_context, (a, b): (i32, i32), #[user_data] state: &T) -> c_int { 0 }",
    ),
    (
        "on_panic = unwind",
        "#[unsafe(no_mangle)] extern \"C-unwind\" fn lua_fn(state: *mut lua_State) -> c_int { 1 }",
    ),
    (
        "fallback = 1",
        "/// One row.\npub type ExecRow = unsafe extern \"C\" fn(#[user_data] arg: *mut c_void, n: c_int, values: *mut *mut c_char, names: *mut *mut c_char) -> c_int;",
    ),
    (
        "sync, unsafe(safe_fn)",
        "type Worker = Option<extern \"C\" fn(data: gpointer, #[user_data] ud: gpointer)>;",
    ),
    (
        "",
        "type Compare = unsafe extern \"C\" fn(a: *const c_void, b: *const c_void) -> c_int;",
    ),
    (
        "on_panic = fallback",
        "pub(crate) extern \"C\" fn maybe(x: u32, #[user_data] state: Option<&Cell<u32>>) -> u32 { x }",
    ),
    (
        "",
        "extern \"C\" fn free_state(#[user_data] state: Box<State>) { drop(state); }",
    ),
    (
        "on_panic = fallback, fallback = 7",
        "extern \"C\" fn raw(#[user_data] p: *const u8, n: usize) -> i64 { n as i64 }",
    ),
    (
        "unsafe(safe_fn)",
        "extern \"C\" fn start(#[user_data(usize)] arg: Box<Job>) -> *mut c_void { core::ptr::null_mut() }",
    ),
    (
        "reentrant",
        "type Row = unsafe extern \"C\" fn(n: c_int, #[user_data] ud: *mut c_void) -> c_int;",
    ),
    (
        "send, on_panic = fallback",
        "pub type Timer = unsafe extern \"C\" fn(#[user_data] ud: *mut c_void);",
    ),
    (
        "user_data = uv_req_get_data(req)",
        "type Done = unsafe extern \"C\" fn(req: *mut uv_req_t, status: c_int);",
    ),
    (
        "crate = ::ffi_callback",
        "#[cfg(unix)]\n#[doc = \"documented\"]\n/// # Safety\n/// fine\n#[export_name = \"exported\"]\npub extern \"C\" fn exported(_: c_int, mut m: u8, #[user_data] s: &mut S) -> bool { m += 1; s.0 == m }",
    ),
    (
        "on_panic = resume",
        "extern \"C\" fn generic<'a, T: Copy + 'a, const N: usize>(x: [T; N], #[user_data] t: &T) where T: Default { }",
    ),
    (
        "on_panic = unwind",
        "type Lua = unsafe extern \"C-unwind\" fn(#[user_data] l: *mut lua_State) -> c_int;",
    ),
    (
        "",
        "type Unnamed = unsafe extern \"C\" fn(#[user_data] *mut c_void, c_int) -> c_int;",
    ),
    (
        "fallback = core::ptr::null_mut()",
        "unsafe extern \"C\" fn alloc(size: usize, #[user_data] pool: Option<&mut Pool>) -> *mut c_void { pool.map_or(core::ptr::null_mut(), |p| p.get(size)) }",
    ),
    (
        "sync",
        "pub type Pool = unsafe extern \"C\" fn(data: *mut c_void, #[user_data] ud: *mut c_void);",
    ),
    (
        "on_panic = abort",
        "extern \"efiapi\" fn efi(#[user_data(*const c_void)] ctx: &Ctx) -> usize { 0 }",
    ),
    (
        "on_continue = G_SOURCE_CONTINUE, on_break = G_SOURCE_REMOVE",
        "type Source = unsafe extern \"C\" fn(#[user_data] data: gpointer) -> gboolean;",
    ),
    (
        "",
        "type Visit = unsafe extern \"C\" fn(#[into(&CStr)] path: *const c_char, #[into(Option<&stat>)] sb: *const stat, #[into(Kind)] kind: c_int, #[user_data] ud: *mut c_void) -> c_int;",
    ),
    (
        "fallback = 0",
        "type Write = unsafe extern \"C\" fn(#[into(&[u8], len = size * nmemb)] ptr: *mut c_char, size: usize, nmemb: usize, #[user_data] ud: *mut c_void) -> usize;",
    ),
    (
        "fallback = -1",
        "type Filter = unsafe extern \"C\" fn(#[into(&[i16], len = n as usize)] input: *const i16, #[into(&mut [i16], len = n as usize)] output: *mut i16, n: c_int, #[into(Option<&mut i16>)] peak: *mut i16, #[user_data] ud: *mut c_void) -> c_int;",
    ),
    (
        "",
        "type Text = unsafe extern \"C\" fn(#[into(&str)] name: *const c_char, #[into(Option<&str>, len = n as usize)] value: *const u8, n: c_int, #[user_data] ud: *mut c_void) -> c_int;",
    ),
    (
        "reentrant, fallback = 0",
        "type Compare = unsafe extern \"C\" fn(#[into(&u32)] a: *const c_void, #[into(&u32)] b: *const c_void) -> c_int;",
    ),
    (
        "",
        "extern \"C\" fn by_value(#[into(&u32)] a: *const c_void, #[into(&str)] b: *const c_char, #[into(Kind)] k: c_int, #[user_data] seen: &mut u32) -> c_int { 0 }",
    ),
    ("", "extern fn plain() {}"),
    (
        "",
        "#[cfg_attr(all(), allow(unused))] fn no_abi(#[cfg(all())] a: u8, #[user_data] r: &u8) -> u8 { a + *r }",
    ),
    // Misuses with valid syntax: the error path.
    (
        "on_panic = sideways, send",
        "async fn twice(#[user_data] a: &mut u8, #[user_data] b: &mut u8) {}",
    ),
    ("", "struct NotAFunction { x: u8 }"),
    (
        "reentrant",
        "const unsafe extern \"Rust\" fn method(&self, #[user_data = 1] x: &'a u8, ...) {}",
    ),
    (
        "on_panic = resume, sync",
        "type Bad<T> = for<'a> extern \"C\" fn(#[user_data(usize)] x: &'a T, ...) -> T;",
    ),
];

/// Tokens for random streams and insertions (each parsed on its own).
pub(super) const VOCAB: &[&str] = &[
    "fn",
    "extern",
    "unsafe",
    "const",
    "async",
    "type",
    "pub",
    "crate",
    "self",
    "Self",
    "super",
    "struct",
    "impl",
    "where",
    "for",
    "dyn",
    "mut",
    "let",
    "move",
    "return",
    "static",
    "r#type",
    "_",
    "user_data",
    "callback",
    "on_panic",
    "fallback",
    "resume",
    "abort",
    "unwind",
    "reentrant",
    "send",
    "sync",
    "safe_fn",
    "c_int",
    "c_void",
    "Option",
    "Box",
    "Vec",
    "T",
    "F",
    "u8",
    "usize",
    "LPARAM",
    "core",
    "std",
    "ffi_callback",
    "no_mangle",
    "cfg",
    "doc",
    "export_name",
    "#",
    "!",
    ",",
    ";",
    ":",
    "::",
    "->",
    "=>",
    "=",
    "&",
    "&&",
    "*",
    "<",
    ">",
    "'a",
    "'static",
    "'_",
    ".",
    "..",
    "...",
    "@",
    "?",
    "+",
    "-",
    "|",
    "^",
    "~",
    "$",
    "/",
    "%",
    "\"C\"",
    "\"system\"",
    "\"C-unwind\"",
    "\"Rust\"",
    "\"\"",
    "\"efiapi\"",
    "\"x\\u{0}\"",
    "0",
    "1",
    "1.5",
    "'a'",
    "b\"x\"",
    "r#\"raw\"#",
    "c\"x\"",
    "1e9",
    "18446744073709551616u128",
    "0xffu8",
    "()",
    "[]",
    "{}",
    "(,)",
    "[user_data]",
    "{ 0 }",
    "(a: u8)",
    "<T>",
    "/// doc",
    "/** block */",
];

/// Types for type swaps, and for the grammar.
pub(super) const TYPES: &[&str] = &[
    "c_int",
    "*mut c_void",
    "*const c_void",
    "&mut Vec<u8>",
    "&T",
    "&'a T",
    "&'static mut T",
    "&'_ T",
    "Option<&T>",
    "Option<&mut T>",
    "Option<Box<T>>",
    "::core::option::Option<&u8>",
    "Box<T>",
    "Box<dyn Fn()>",
    "()",
    "!",
    "_",
    "impl Fn()",
    "dyn Send",
    "[u8; 4]",
    "[u8]",
    "(i32, i32)",
    "fn()",
    "unsafe extern \"C\" fn(*mut c_void)",
    "Option<unsafe extern \"C\" fn()>",
    "Self",
    "<T as Trait>::X",
    "LPARAM",
    "usize",
    "u8",
    "f64",
    "bool",
    "&str",
    "String",
    "for<'a> fn(&'a u8)",
    "T::Assoc",
    "std::ffi::c_int",
    "Option",
    "Option<>",
    "Option<&T, &T>",
    "&&T",
    "&mut &mut T",
    "*mut *mut c_char",
    "Option<Option<&T>>",
    "Option<&'a mut T>",
    "impl Sized + 'a",
    "m!(T)",
    "(T)",
    "(&mut T)",
];

/// Outer attributes for items and parameters, valid and garbled.
pub(super) const ATTRS: &[&str] = &[
    "#[user_data]",
    "#[user_data]",
    "#[user_data(LPARAM)]",
    "#[user_data(usize)]",
    "#[user_data(u8)]",
    "#[user_data(*const c_void)]",
    "#[user_data = 1]",
    "#[user_data()]",
    "#[user_data(1 +)]",
    "#[user_data(*const c_void, x)]",
    "#[user_data::x]",
    "#[cfg(test)]",
    "#[cfg(any())]",
    "#[doc = \"x\"]",
    "/// doc",
    "#[doc = \"# Safety\"]",
    "#[allow(unused)]",
    "#[unsafe(no_mangle)]",
    "#[export_name = \"x\"]",
    "#[inline]",
    "#[callback]",
    "#[deny(warnings)]",
    "#![inner]",
    "#[cfg_attr(all(), user_data)]",
];

/// Attribute arguments, valid and garbled, joined at random (so repeated
/// and conflicting options happen too).
pub(super) const OPTIONS: &[&str] = &[
    "on_panic = resume",
    "on_panic = abort",
    "on_panic = fallback",
    "on_panic = unwind",
    "on_panic = sideways",
    "on_panic = \"abort\"",
    "on_panic = a::b",
    "on_panic",
    "on_panic(abort)",
    "on_panic =",
    "fallback = 1",
    "fallback = -1",
    "fallback = ()",
    "fallback = { panic!() }",
    "fallback = |x| x",
    "fallback",
    "fallback(1)",
    "user_data = get(ctx)",
    "user_data = unsafe { x }",
    "user_data = *p",
    "user_data",
    "crate = ::ffi_callback",
    "crate = my::rt",
    "crate = \"x\"",
    "crate = <T as X>::Y",
    "crate = self",
    "crate = crate::rt",
    "crate",
    "unsafe(safe_fn)",
    "unsafe(safe_fn, safe_fn)",
    "unsafe()",
    "unsafe",
    "unsafe = 1",
    "unsafe(other)",
    "keep_error = false",
    "keep_error = true",
    "keep_error = 0",
    "keep_error",
    "keep_error(false)",
    "on_continue = 1",
    "on_break = 0",
    "on_continue",
    "on_break(0)",
    "on_continue = on_break",
    "reentrant",
    "reentrant = true",
    "send",
    "sync",
    "sync(x)",
    "foo",
    "foo::bar",
    "a::b = c",
    "::x",
    "1",
    "\"str\"",
    "#[x]",
    "= =",
];

/// Options that are each valid alone (their combination may not be).
pub(super) const GOOD_OPTIONS: &[&str] = &[
    "on_panic = resume",
    "on_panic = abort",
    "on_panic = fallback",
    "on_panic = unwind",
    "fallback = 0",
    "fallback = Default::default()",
    "reentrant",
    "send",
    "sync",
    "unsafe(safe_fn)",
    "crate = ::ffi_callback",
    "user_data = get(a)",
];

/// ABI strings, real, unknown and malformed.
pub(super) const ABIS: &[&str] = &[
    "\"C\"",
    "\"system\"",
    "\"C-unwind\"",
    "\"system-unwind\"",
    "\"Rust\"",
    "\"rust-call\"",
    "\"efiapi\"",
    "\"stdcall\"",
    "\"\"",
    "\"\\u{0}\"",
    "r\"C\"",
    "r#\"C-unwind\"#",
    "\"cdecl-unwind\"",
    "\"-unwind\"",
];

/// Parameter patterns, including names the expansion uses itself.
pub(super) const PATTERNS: &[&str] = &[
    "x",
    "mut x",
    "_",
    "(a, b)",
    "ref x",
    "ref mut x",
    "x @ _",
    "Wrapper(x)",
    "S { a, .. }",
    "[a, b]",
    "r#type",
    "&x",
    "self",
    "__ffi_user_data",
    "__ffi_body",
    "__ffi_arg0",
    "F",
];

/// Return types, including none.
pub(super) const RETURNS: &[&str] = &[
    "",
    "-> c_int",
    "-> *mut c_void",
    "-> bool",
    "-> ()",
    "-> !",
    "-> Option<NonNull<u8>>",
    "-> impl Sized",
    "-> Self",
    "-> BOOL",
    "-> T",
    "-> F",
    "-> __T",
];

pub(super) const VISIBILITIES: &[&str] =
    &["", "", "pub", "pub(crate)", "pub(super)", "pub(in a::b)"];

#[test]
fn every_entry_parses() {
    // A fragment that does not parse yields no tokens, and a grammar item
    // built with it yields none either: a typo here would silently shrink
    // the run instead of failing.
    let fragments = VOCAB
        .iter()
        .chain(TYPES)
        .chain(ATTRS)
        .chain(OPTIONS)
        .chain(GOOD_OPTIONS)
        .chain(ABIS)
        .chain(PATTERNS)
        .chain(RETURNS)
        .chain(VISIBILITIES)
        .chain(CORPUS.iter().flat_map(|(args, item)| [args, item]));
    for text in fragments {
        assert_eq!(
            tokens(text).is_empty(),
            text.is_empty(),
            "`{text}` does not parse"
        );
    }
}
