//! Hostile input. For every input, the expander must:
//! - never panic (each call runs under `catch_unwind`);
//! - put every `compile_error!` on a token of the input;
//! - emit items that parse as a `syn::File`, so a mistake gives its own
//!   error and not a cascade of parse errors; an input that is no item at
//!   all (rustc never passes one, but syn may lag rustc's syntax) comes back
//!   verbatim after the error, for rustc to judge;
//! - give every `unsafe` it adds a call-site span, never a user token's
//!   (what makes `#![forbid(unsafe_code)]` crates work: see
//!   `tests/forbid_unsafe`).
//!
//! `cargo test -p ffi-callback-macros fuzz -- --nocapture` prints the figures.
//! Inputs come from a deterministic PRNG (SplitMix64, no dependency): case
//! `n` of seed `s` is always the same input, whatever the thread count.
//!
//! - `FUZZ_CASES=n` (default 100000) and `FUZZ_SEED=s` change the run;
//! - `FUZZ_CASE=n` prints case `n`'s input and output instead of the run.
//!
//! A failure is reported once per distinct message, with a reproducing case
//! number and a minimized input.
//!
//! Spans: `proc-macro2`'s `span-locations` feature (a dev-dependency of this
//! crate) gives tokens parsed from strings real locations outside a proc
//! macro. Every input token here is parsed from a string, so an error span
//! that has no source text is `Span::call_site()` (or `mixed_site()`): a
//! place the user never wrote. Those are failures, with two exceptions:
//! syn's error for arguments that end too early (`on_panic =`), which syn
//! can only put on the call site, and which rustc shows on the
//! `#[callback(...)]` attribute, where the missing tokens belong; and
//! syn's errors on an input that is no item.
//!
//! Generators, by case number:
//! - grammar: a random fn or callback-type item built from every feature
//!   the macro knows (attributes, ABIs, qualifiers, patterns, slot types,
//!   generics), with random well-formed or garbled options;
//! - corpus mutations: one of ~25 valid inputs, then 1-4 token-tree
//!   mutations (drop, duplicate, swap, replace, insert, type swap,
//!   attribute duplication or insertion, group truncation, re-delimiting
//!   including invisible groups, flattening, wrapping);
//! - corpus items under garbled options;
//! - random token streams from a vocabulary, alone or spliced into a
//!   corpus item.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;
use std::time::Instant;

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};

const DEFAULT_CASES: u64 = 100_000;
const DEFAULT_SEED: u64 = 0x00ff_1cab_ba5e_5eed;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn for_case(seed: u64, case: u64) -> Rng {
        let mut rng = Rng(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            // The modulo bias is irrelevant here.
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------- corpus --

/// Valid inputs: every form, option and slot kind the design names.
const CORPUS: &[(&str, &str)] = &[
    (
        "",
        "extern \"C\" fn visit(item: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int { seen.push(item); 0 }",
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
const VOCAB: &[&str] = &[
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
const TYPES: &[&str] = &[
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

const ATTRS: &[&str] = &[
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

const OPTIONS: &[&str] = &[
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

const ABIS: &[&str] = &[
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

const PATTERNS: &[&str] = &[
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

const RETURNS: &[&str] = &[
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

const VISIBILITIES: &[&str] = &["", "", "pub", "pub(crate)", "pub(super)", "pub(in a::b)"];

#[test]
fn vocabularies_parse() {
    // Every entry is a token stream (the spans of inserted tokens come from
    // parsing them); a fragment that does not parse would insert nothing.
    for text in VOCAB
        .iter()
        .chain(TYPES)
        .chain(ATTRS)
        .chain(ABIS)
        .chain(PATTERNS)
    {
        assert!(!tokens(text).is_empty(), "`{text}` does not parse");
    }
}

// ------------------------------------------------------------ generators --

fn tokens(text: &str) -> Vec<TokenTree> {
    TokenStream::from_str(text)
        .map(|stream| stream.into_iter().collect())
        .unwrap_or_default()
}

fn random_tokens(rng: &mut Rng, depth: usize) -> Vec<TokenTree> {
    let len = rng.below(12);
    let mut out = Vec::new();
    for _ in 0..len {
        if depth < 4 && rng.one_in(6) {
            let delimiter = rng.pick(&[
                Delimiter::Parenthesis,
                Delimiter::Bracket,
                Delimiter::Brace,
                Delimiter::None,
            ]);
            let inner: TokenStream = random_tokens(rng, depth + 1).into_iter().collect();
            out.push(TokenTree::Group(spanned_group(delimiter, inner, rng)));
        } else {
            out.extend(tokens(rng.pick(VOCAB)));
        }
    }
    out
}

/// A group whose span comes from the input (never call-site), so that any
/// error spanned on it counts as inside the input.
fn spanned_group(delimiter: Delimiter, stream: TokenStream, rng: &mut Rng) -> Group {
    let mut group = Group::new(delimiter, stream);
    let token = tokens(rng.pick(VOCAB));
    group.set_span(token[0].span());
    group
}

fn attrs(rng: &mut Rng, max: usize) -> String {
    let mut out = String::new();
    for _ in 0..rng.below(max + 1) {
        out.push_str(rng.pick(ATTRS));
        out.push('\n');
    }
    out
}

fn abi(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => String::new(),
        1 => "extern ".to_owned(),
        _ => format!("extern {} ", rng.pick(ABIS)),
    }
}

fn grammar_fn(rng: &mut Rng) -> String {
    let mut item = attrs(rng, 2);
    let _ = write!(item, "{} ", rng.pick(VISIBILITIES));
    for (qualifier, odds) in [("const", 12), ("async", 12), ("unsafe", 3)] {
        if rng.one_in(odds) {
            let _ = write!(item, "{qualifier} ");
        }
    }
    item.push_str(&abi(rng));
    let name = rng.pick(&["f", "callback", "r#fn", "__FFI_CALLBACK_SITE", "F"]);
    let _ = write!(item, "fn {name}");
    if rng.one_in(5) {
        item.push_str(rng.pick(&[
            "<T>",
            "<'a>",
            "<T: Copy, const N: usize>",
            "<>",
            "<'a, T: 'a>",
        ]));
    }
    item.push('(');
    let params = rng.below(5);
    let marked = rng.below(params + 1);
    for index in 0..params {
        item.push_str(&attrs(rng, 1));
        if index == marked || rng.one_in(10) {
            item.push_str(rng.pick(ATTRS));
        }
        if rng.one_in(25) {
            item.push_str(rng.pick(&["self", "&self", "&mut self", "mut self: Box<Self>"]));
        } else {
            let _ = write!(item, "{}: {}", rng.pick(PATTERNS), rng.pick(TYPES));
        }
        item.push_str(", ");
    }
    if rng.one_in(20) {
        item.push_str("...");
    }
    let _ = write!(item, ") {}", rng.pick(RETURNS));
    if rng.one_in(8) {
        item.push_str(" where T: Copy");
    }
    item.push_str(rng.pick(&[
        " {}",
        " { 0 }",
        " { unsafe { *p } }",
        " { let __ffi_body = 1; __ffi_body }",
        " { return Default::default(); }",
        " { loop {} }",
        " { __FFI_CALLBACK_SITE; }",
        ";",
    ]));
    item
}

fn grammar_type(rng: &mut Rng) -> String {
    let mut item = attrs(rng, 2);
    let _ = write!(item, "{} type ", rng.pick(VISIBILITIES));
    item.push_str(rng.pick(&["Cb", "F", "T", "r#type", "__ffi_trampoline"]));
    if rng.one_in(10) {
        item.push_str(rng.pick(&["<T>", "<'a>", "<const N: usize>"]));
    }
    item.push_str(" = ");
    let mut ty = String::new();
    if rng.one_in(12) {
        ty.push_str("for<'a> ");
    }
    if !rng.one_in(4) {
        ty.push_str("unsafe ");
    }
    ty.push_str(&abi(rng));
    ty.push_str("fn(");
    let params = rng.below(5);
    let marked = rng.below(params + 1);
    for index in 0..params {
        ty.push_str(&attrs(rng, 1));
        if index == marked || rng.one_in(10) {
            ty.push_str(rng.pick(ATTRS));
        }
        if rng.one_in(4) {
            ty.push_str(rng.pick(TYPES));
        } else {
            let name = rng.pick(&["a", "_", "ud", "F", "T", "__ffi_ptr", "user_data", "r#in"]);
            let _ = write!(ty, "{name}: {}", rng.pick(TYPES));
        }
        ty.push_str(", ");
    }
    if rng.one_in(20) {
        ty.push_str("...");
    }
    let _ = write!(ty, ") {}", rng.pick(RETURNS));
    let ty = match rng.below(8) {
        0 => format!("Option<{ty}>"),
        1 => format!("({ty})"),
        2 => format!("::core::option::Option<{ty}>"),
        3 if rng.one_in(3) => format!("Option<{ty}, u8>"),
        4 if rng.one_in(3) => rng.pick(TYPES).to_string(),
        _ => ty,
    };
    let _ = write!(item, "{ty};");
    item
}

/// Options that are each valid (their combination may not be).
fn good_args(rng: &mut Rng) -> String {
    const GOOD: &[&str] = &[
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
    let mut args: Vec<&str> = Vec::new();
    for _ in 0..rng.below(3) {
        let option = rng.pick(GOOD);
        if !args.contains(&option) {
            args.push(option);
        }
    }
    args.join(", ")
}

fn grammar_args(rng: &mut Rng) -> String {
    let mut args = Vec::new();
    for _ in 0..rng.below(4) {
        args.push(rng.pick(OPTIONS));
    }
    let separator = if rng.one_in(15) { "; " } else { ", " };
    let mut out = args.join(separator);
    if rng.one_in(10) {
        out.push(',');
    }
    if rng.one_in(30) {
        out.insert_str(0, ", ");
    }
    out
}

// ------------------------------------------------------------- mutation --

/// One structural mutation somewhere in `tokens` (at a random depth).
fn mutate(mut tokens: Vec<TokenTree>, rng: &mut Rng) -> Vec<TokenTree> {
    let groups: Vec<usize> = (0..tokens.len())
        .filter(|&i| matches!(tokens[i], TokenTree::Group(_)))
        .collect();
    if !groups.is_empty() && rng.one_in(2) {
        let index = rng.pick(&groups);
        if let TokenTree::Group(group) = &tokens[index] {
            let inner = mutate(group.stream().into_iter().collect(), rng);
            let mut new = Group::new(group.delimiter(), inner.into_iter().collect());
            new.set_span(group.span());
            tokens[index] = TokenTree::Group(new);
        }
        return tokens;
    }
    let len = tokens.len();
    let at = rng.below(len + 1);
    let index = at.min(len.saturating_sub(1));
    match rng.below(14) {
        0 if len > 0 => {
            tokens.remove(index);
        }
        1 if len > 0 => {
            let token = tokens[index].clone();
            tokens.insert(index, token);
        }
        2 if len > 1 => {
            let other = rng.below(len);
            tokens.swap(index, other);
        }
        3 if len > 0 => {
            let replacement = self::tokens(rng.pick(VOCAB));
            tokens.splice(index..=index, replacement);
        }
        4 => {
            let insertion = random_tokens(rng, 2);
            tokens.splice(at..at, insertion);
        }
        5 => swap_type(&mut tokens, rng),
        6 => {
            let attr = self::tokens(rng.pick(ATTRS));
            tokens.splice(at..at, attr);
        }
        7 => duplicate_attribute(&mut tokens, rng),
        8 if len > 0 => {
            if let TokenTree::Group(group) = &tokens[index] {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                let keep = rng.below(inner.len() + 1);
                let mut new =
                    Group::new(group.delimiter(), inner[..keep].iter().cloned().collect());
                new.set_span(group.span());
                tokens[index] = TokenTree::Group(new);
            } else {
                tokens.truncate(at);
            }
        }
        9 if len > 0 => {
            if let TokenTree::Group(group) = &tokens[index] {
                let delimiter = rng.pick(&[
                    Delimiter::Parenthesis,
                    Delimiter::Bracket,
                    Delimiter::Brace,
                    Delimiter::None,
                ]);
                let mut new = Group::new(delimiter, group.stream());
                new.set_span(group.span());
                tokens[index] = TokenTree::Group(new);
            }
        }
        10 if len > 0 => {
            if let TokenTree::Group(group) = &tokens[index] {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                tokens.splice(index..=index, inner);
            }
        }
        11 if len > 0 => {
            let end = (index + 1 + rng.below(4)).min(len);
            let delimiter = rng.pick(&[Delimiter::None, Delimiter::Parenthesis]);
            let inner: TokenStream = tokens[index..end].iter().cloned().collect();
            let group = spanned_group(delimiter, inner, rng);
            tokens.splice(index..end, [TokenTree::Group(group)]);
        }
        12 if len > 1 => {
            let end = (index + 1 + rng.below(3)).min(len);
            let moved: Vec<TokenTree> = tokens.drain(index..end).collect();
            let to = rng.below(tokens.len() + 1);
            tokens.splice(to..to, moved);
        }
        _ => {
            let insertion = self::tokens(rng.pick(VOCAB));
            tokens.splice(at..at, insertion);
        }
    }
    tokens
}

/// Replaces what follows a `:` or `->` (up to the next `,`) with a random
/// type.
fn swap_type(tokens: &mut Vec<TokenTree>, rng: &mut Rng) {
    let starts: Vec<usize> = (0..tokens.len())
        .filter(|&i| match &tokens[i] {
            TokenTree::Punct(p) if p.as_char() == ':' => {
                !matches!(tokens.get(i + 1), Some(TokenTree::Punct(n)) if n.as_char() == ':')
                    && !matches!(i.checked_sub(1).map(|j| &tokens[j]), Some(TokenTree::Punct(n)) if n.as_char() == ':')
            }
            TokenTree::Punct(p) if p.as_char() == '>' => {
                matches!(i.checked_sub(1).map(|j| &tokens[j]), Some(TokenTree::Punct(n)) if n.as_char() == '-')
            }
            _ => false,
        })
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = rng.pick(&starts) + 1;
    let end = (start..tokens.len())
        .find(|&i| matches!(&tokens[i], TokenTree::Punct(p) if p.as_char() == ',' || p.as_char() == ';'))
        .unwrap_or(tokens.len());
    let ty = self::tokens(rng.pick(TYPES));
    tokens.splice(start..end, ty);
}

/// Duplicates an existing `#[...]` (e.g. a second `#[user_data]`).
fn duplicate_attribute(tokens: &mut Vec<TokenTree>, rng: &mut Rng) {
    let starts: Vec<usize> = (0..tokens.len().saturating_sub(1))
        .filter(|&i| {
            matches!(&tokens[i], TokenTree::Punct(p) if p.as_char() == '#')
                && matches!(&tokens[i + 1], TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket)
        })
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = rng.pick(&starts);
    let attr: Vec<TokenTree> = tokens[start..start + 2].to_vec();
    let to = if rng.one_in(2) {
        start
    } else {
        rng.below(tokens.len() + 1)
    };
    tokens.splice(to..to, attr);
}

/// Case `case`'s input: `(args, item)`.
fn generate(seed: u64, case: u64) -> (TokenStream, TokenStream) {
    let mut rng = Rng::for_case(seed, case);
    let (args, item) = match case % 20 {
        // Grammar: deep into check and expand.
        0..=7 => {
            let item = if rng.one_in(2) {
                grammar_fn(&mut rng)
            } else {
                grammar_type(&mut rng)
            };
            let args = if rng.one_in(2) {
                good_args(&mut rng)
            } else {
                grammar_args(&mut rng)
            };
            (tokens(&args), tokens(&item))
        }
        // Corpus, mutated.
        8..=13 => {
            let (args, item) = rng.pick(CORPUS);
            let (mut args, mut item) = (tokens(args), tokens(item));
            for _ in 0..=rng.below(4) {
                if rng.one_in(4) {
                    args = mutate(args, &mut rng);
                } else {
                    item = mutate(item, &mut rng);
                }
            }
            (args, item)
        }
        // Corpus items under garbled options.
        14..=16 => {
            let (_, item) = rng.pick(CORPUS);
            let mut args = tokens(&grammar_args(&mut rng));
            if rng.one_in(2) {
                args = mutate(args, &mut rng);
            }
            (args, tokens(item))
        }
        // Random token streams, alone or spliced into a valid item.
        _ => {
            let args = random_tokens(&mut rng, 0);
            let item = if rng.one_in(2) {
                random_tokens(&mut rng, 0)
            } else {
                let mut item = tokens(rng.pick(CORPUS).1);
                let at = rng.below(item.len() + 1);
                item.splice(at..at, random_tokens(&mut rng, 1));
                item
            };
            (args, item)
        }
    };
    (args.into_iter().collect(), item.into_iter().collect())
}

// ---------------------------------------------------------------- checks --

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Panic,
    CallSiteSpan,
    UnsafeSpan,
    Unparsable,
    ItemNotReemitted,
}

/// What one expansion did.
#[derive(Default)]
struct Stats {
    cases: u64,
    expanded: u64,
    rejected: u64,
    errors: u64,
    eof_at_attribute: u64,
    not_an_item: u64,
    bare_crate: u64,
    output_tokens: u64,
}

struct Failure {
    case: u64,
    kind: Kind,
    detail: String,
    args: String,
    item: String,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// The `compile_error!`s of an expansion: (span of `compile_error`, span of
/// its argument group, message).
fn compile_errors(stream: TokenStream, out: &mut Vec<(Span, Span, String)>) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Ident(ident) if ident == "compile_error" => {
                if let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(group))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                {
                    if bang.as_char() == '!' {
                        out.push((ident.span(), group.span(), group.stream().to_string()));
                    }
                }
            }
            TokenTree::Group(group) => compile_errors(group.stream(), out),
            _ => {}
        }
    }
}

/// Runs one input through every check. `Ok` updates the figures.
fn check(args: &TokenStream, item: &TokenStream, stats: &mut Stats) -> Result<(), (Kind, String)> {
    let output = panic::catch_unwind(AssertUnwindSafe(|| {
        crate::expand::callback(args.clone(), item.clone())
    }))
    .map_err(|payload| (Kind::Panic, panic_message(&*payload)))?;

    let mut errors = Vec::new();
    compile_errors(output.clone(), &mut errors);
    let is_item = syn::parse2::<syn::Item>(item.clone()).is_ok();
    let args_eof = args_end_of_input_error(args);
    for (start, end, message) in &errors {
        let located = start.source_text().is_some() && end.source_text().is_some();
        if located {
            continue;
        }
        if args_eof.as_ref() == Some(message) {
            // syn's error for arguments that stop early: shown on the
            // attribute, where the missing tokens belong.
            stats.eof_at_attribute += 1;
        } else if !is_item {
            // syn's own error on an input that is no item: rustc never
            // passes one, so where syn puts it does not matter.
        } else {
            return Err((
                Kind::CallSiteSpan,
                format!("error spanned outside the input: {message}"),
            ));
        }
    }

    if let Some(text) = misplaced_unsafe(output.clone()) {
        return Err((
            Kind::UnsafeSpan,
            format!("a generated `unsafe` carries the span of the user's `{text}`"),
        ));
    }

    if !is_item {
        // Not an item at all (rustc never passes one, but syn may not know
        // newer syntax): it must come back verbatim, for rustc to judge.
        stats.not_an_item += 1;
        if errors.is_empty() || !output.to_string().ends_with(&item.to_string()) {
            return Err((
                Kind::ItemNotReemitted,
                format!("an unparsable item is not given back verbatim\noutput: {output}"),
            ));
        }
    } else if has_bare_crate_expression(args.clone()) {
        // `user_data = crate(x)`: syn takes a bare `crate` as an expression
        // in the arguments but not at the start of a statement, while rustc
        // parses both and reports E0423 on the user's `crate`. Not a
        // cascade, so the output is not held to syn's parser.
        stats.bare_crate += 1;
    } else if let Err(error) = syn::parse2::<syn::File>(output.clone()) {
        return Err((
            Kind::Unparsable,
            format!("output does not parse as items: {error}\noutput: {output}"),
        ));
    }

    stats.cases += 1;
    stats.errors += errors.len() as u64;
    stats.output_tokens += count_tokens(output) as u64;
    if errors.is_empty() {
        stats.expanded += 1;
    } else {
        stats.rejected += 1;
    }
    Ok(())
}

/// The message of syn's error for arguments that end too early (`on_panic
/// =`, `fallback = |x`), as the `compile_error!` literal shows it. syn puts
/// such errors on the call site, which for an attribute macro is the
/// `#[callback(...)]` attribute.
fn args_end_of_input_error(args: &TokenStream) -> Option<String> {
    use syn::parse::Parser;
    let parser = syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated;
    let error = parser.parse2(args.clone()).err()?;
    (error.span().source_text().is_none())
        .then(|| proc_macro2::Literal::string(&error.to_string()).to_string())
}

/// The source text under the first `unsafe` keyword of `stream` whose
/// span is the user's but not an `unsafe` the user wrote.
///
/// `#![forbid(unsafe_code)]` works with `#[callback]` because rustc does
/// not report `unsafe_code` for spans of an external macro's expansion:
/// each `unsafe` the expansion adds must be call-site spanned (PyO3 #4574
/// fixed exactly this leak), while the user's own `unsafe` tokens keep
/// their spans and are reported as in any other code.
fn misplaced_unsafe(stream: TokenStream) -> Option<String> {
    stream.into_iter().find_map(|tt| match tt {
        TokenTree::Ident(ident) if ident == "unsafe" => {
            ident.span().source_text().filter(|text| text != "unsafe")
        }
        TokenTree::Group(group) => misplaced_unsafe(group.stream()),
        _ => None,
    })
}

/// The `unsafe` keywords of `stream`: (the user's, generated).
fn unsafe_keywords(stream: TokenStream) -> (usize, usize) {
    stream
        .into_iter()
        .fold((0, 0), |(user, generated), tt| match tt {
            TokenTree::Ident(ident) if ident == "unsafe" => match ident.span().source_text() {
                Some(_) => (user + 1, generated),
                None => (user, generated + 1),
            },
            TokenTree::Group(group) => {
                let (u, g) = unsafe_keywords(group.stream());
                (user + u, generated + g)
            }
            _ => (user, generated),
        })
}

#[test]
fn users_unsafe_stays_the_users_and_the_expansions_is_call_site() {
    fresh_spans();
    // The fn form: the user's three `unsafe` blocks (body, `user_data`,
    // `fallback`) come out with their own spans, so `unsafe_code` still
    // reports them; the shim's `unsafe extern fn` and its `unsafe` blocks
    // are the macro's.
    let args = TokenStream::from_str(
        "user_data = unsafe { data(ctx) }, fallback = unsafe { zeroed() }, on_panic = fallback",
    )
    .expect("args");
    let item = TokenStream::from_str(
        "pub extern \"C\" fn f(ctx: *mut Ctx, #[user_data] s: &mut S) -> u8 { unsafe { g(s) } }",
    )
    .expect("item");
    let output = crate::expand::callback(args, item);
    assert_eq!(misplaced_unsafe(output.clone()), None);
    let (user, generated) = unsafe_keywords(output);
    assert_eq!(user, 3, "the user's `unsafe` blocks keep their spans");
    assert!(
        generated >= 2,
        "the shim is `unsafe extern` with an `unsafe` block"
    );

    // The type form: every `unsafe`, including the one copied from the
    // written fn pointer type, is the macro's.
    fresh_spans();
    let item = TokenStream::from_str(
        "pub type Cb = unsafe extern \"C\" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;",
    )
    .expect("item");
    let output = crate::expand::callback(TokenStream::new(), item);
    let (user, generated) = unsafe_keywords(output);
    assert_eq!(user, 0);
    assert!(generated > 0);
}

/// A `crate` that neither starts a path nor is the `crate = path` key.
fn has_bare_crate_expression(args: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = args.into_iter().collect();
    tokens.iter().enumerate().any(|(i, token)| match token {
        TokenTree::Ident(ident) if ident == "crate" => !matches!(
            tokens.get(i + 1),
            Some(TokenTree::Punct(p)) if p.as_char() == ':' || p.as_char() == '='
        ),
        TokenTree::Group(group) => has_bare_crate_expression(group.stream()),
        _ => false,
    })
}

fn count_tokens(stream: TokenStream) -> usize {
    stream
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(group) => 1 + count_tokens(group.stream()),
            _ => 1,
        })
        .sum()
}

/// Spans live in a thread-local source map that only grows; each case
/// starts it afresh (which also makes "has source text" mean "in this
/// case's input").
fn fresh_spans() {
    proc_macro2::extra::invalidate_current_thread_spans();
}

fn run_range(seed: u64, cases: u64, worker: u64, workers: u64) -> (Stats, Vec<Failure>) {
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    let mut case = worker;
    while case < cases {
        fresh_spans();
        let (args, item) = generate(seed, case);
        if let Err((kind, detail)) = check(&args, &item, &mut stats) {
            failures.push(Failure {
                case,
                kind,
                detail,
                args: args.to_string(),
                item: item.to_string(),
            });
        }
        case += workers;
    }
    (stats, failures)
}

/// Re-runs a failure from its text (invisible groups are lost in the
/// round trip, so a failure may not reproduce) and shrinks it: drop token
/// trees, unwrap groups, while the same kind of failure remains.
fn minimize(failure: &Failure) -> Option<(String, String)> {
    let fails = |args: &[TokenTree], item: &[TokenTree]| {
        fresh_spans();
        let (args, item) = (
            TokenStream::from_str(&stream_text(args)).unwrap_or_default(),
            TokenStream::from_str(&stream_text(item)).unwrap_or_default(),
        );
        matches!(
            check(&args, &item, &mut Stats::default()),
            Err((kind, detail)) if kind == failure.kind && first_line(&detail) == first_line(&failure.detail)
        )
    };
    let mut args = tokens(&failure.args);
    let mut item = tokens(&failure.item);
    if !fails(&args, &item) {
        return None;
    }
    loop {
        let before = (stream_text(&args), stream_text(&item));
        for which in 0..2 {
            loop {
                let (current, other) = if which == 0 {
                    (&args, &item)
                } else {
                    (&item, &args)
                };
                let shrunk = shrink_candidates(current).into_iter().find(|candidate| {
                    if which == 0 {
                        fails(candidate, other)
                    } else {
                        fails(other, candidate)
                    }
                });
                let Some(shrunk) = shrunk else {
                    break;
                };
                if which == 0 {
                    args = shrunk;
                } else {
                    item = shrunk;
                }
            }
        }
        if (stream_text(&args), stream_text(&item)) == before {
            return Some(before);
        }
    }
}

fn shrink_candidates(tokens: &[TokenTree]) -> Vec<Vec<TokenTree>> {
    let mut out = Vec::new();
    for i in 0..tokens.len() {
        let mut removed = tokens.to_vec();
        removed.remove(i);
        out.push(removed);
        if let TokenTree::Group(group) = &tokens[i] {
            let inner: Vec<TokenTree> = group.stream().into_iter().collect();
            let mut unwrapped = tokens.to_vec();
            unwrapped.splice(i..=i, inner.iter().cloned());
            out.push(unwrapped);
            for shrunk in shrink_candidates(&inner) {
                let mut nested = tokens.to_vec();
                nested[i] =
                    TokenTree::Group(Group::new(group.delimiter(), shrunk.into_iter().collect()));
                out.push(nested);
            }
        }
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn stream_text(tokens: &[TokenTree]) -> String {
    tokens.iter().cloned().collect::<TokenStream>().to_string()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| {
        let v = v.trim().replace('_', "");
        v.strip_prefix("0x")
            .map_or_else(|| v.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok())
    })
}

#[test]
fn fuzz_expander_with_hostile_input() {
    let seed = env_u64("FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    if let Some(case) = env_u64("FUZZ_CASE") {
        fresh_spans();
        let (args, item) = generate(seed, case);
        println!("case {case}\nargs: {args}\nitem: {item}");
        let output = crate::expand::callback(args.clone(), item.clone());
        println!("output: {output}");
        let result = check(&args, &item, &mut Stats::default());
        println!("check: {result:?}");
        return;
    }
    let cases = env_u64("FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u64;
    let started = Instant::now();
    let results: Vec<(Stats, Vec<Failure>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| scope.spawn(move || run_range(seed, cases, worker, workers)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("fuzz worker"))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut total = Stats::default();
    let mut failures = Vec::new();
    for (stats, mut found) in results {
        total.cases += stats.cases;
        total.expanded += stats.expanded;
        total.rejected += stats.rejected;
        total.errors += stats.errors;
        total.eof_at_attribute += stats.eof_at_attribute;
        total.not_an_item += stats.not_an_item;
        total.bare_crate += stats.bare_crate;
        total.output_tokens += stats.output_tokens;
        failures.append(&mut found);
    }
    failures.sort_by_key(|f| f.case);
    let tried = total.cases + failures.len() as u64;
    println!(
        "fuzz: {tried} hostile inputs tried in {:.1}s on {workers} threads (seed {seed:#x}): \
         {} expanded cleanly, {} rejected with {} spanned errors ({} of them syn's \
         end-of-arguments error on the attribute), {} not items (re-emitted verbatim), \
         {} with a bare `crate` expression (syn-only quirk), {} output tokens checked; \
         {} failures",
        elapsed.as_secs_f64(),
        total.expanded,
        total.rejected,
        total.errors,
        total.eof_at_attribute,
        total.not_an_item,
        total.bare_crate,
        total.output_tokens,
        failures.len(),
    );
    // One minimized example per distinct failure (kind and message).
    let mut report = String::new();
    let mut groups: Vec<(Kind, &str, usize, &Failure)> = Vec::new();
    for failure in &failures {
        let key = first_line(&failure.detail);
        match groups
            .iter_mut()
            .find(|g| g.0 == failure.kind && g.1 == key)
        {
            Some(group) => group.2 += 1,
            None => groups.push((failure.kind, key, 1, failure)),
        }
    }
    for (kind, message, count, failure) in groups.iter().take(12) {
        let _ = writeln!(
            report,
            "\n{kind:?} x{count}: {message}\n  first: case {} (FUZZ_CASE={} reproduces it)\n  \
             args: {}\n  item: {}",
            failure.case, failure.case, failure.args, failure.item
        );
        match minimize(failure) {
            Some((args, item)) => {
                let _ = writeln!(report, "  minimal args: {args}\n  minimal item: {item}");
            }
            None => {
                let _ = writeln!(report, "  (does not reproduce from text: invisible groups)");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} inputs failed:{report}",
        failures.len()
    );
    assert!(tried >= cases, "only {tried} of {cases} inputs were tried");
}
