//! Case `n`'s input, by `n % 20`:
//! - grammar (8 in 20): a random fn or callback-type item built from every
//!   feature the macro knows (attributes, ABIs, qualifiers, patterns, slot
//!   types, generics), with random well-formed or garbled options;
//! - corpus mutations (6 in 20): a `CORPUS` input, then 1-4 token-tree
//!   mutations (see `mutations`);
//! - corpus items under garbled options (3 in 20);
//! - random token streams from the vocabulary, alone or spliced into a
//!   corpus item (3 in 20).

use std::fmt::Write as _;
use std::str::FromStr;

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};

use super::corpus::{
    ABIS, ATTRS, CORPUS, GOOD_OPTIONS, OPTIONS, PATTERNS, RETURNS, TYPES, VISIBILITIES, VOCAB,
};
use super::mutations::mutate;
use super::rng::Rng;

/// `text`'s tokens, each spanned on `text` (none if it does not parse).
pub(super) fn tokens(text: &str) -> Vec<TokenTree> {
    TokenStream::from_str(text)
        .map(|stream| stream.into_iter().collect())
        .unwrap_or_default()
}

/// Up to 11 vocabulary tokens or groups of them (nested up to depth 4).
pub(super) fn random_tokens(rng: &mut Rng, depth: usize) -> Vec<TokenTree> {
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
pub(super) fn spanned_group(delimiter: Delimiter, stream: TokenStream, rng: &mut Rng) -> Group {
    let mut group = Group::new(delimiter, stream);
    let token = tokens(rng.pick(VOCAB));
    group.set_span(token[0].span());
    group
}

/// Up to `max` attributes, one a line.
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

/// A fn item from the grammar.
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

/// A callback type item from the grammar.
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

/// Up to two distinct options, each valid alone.
fn good_args(rng: &mut Rng) -> String {
    let mut args: Vec<&str> = Vec::new();
    for _ in 0..rng.below(3) {
        let option = rng.pick(GOOD_OPTIONS);
        if !args.contains(&option) {
            args.push(option);
        }
    }
    args.join(", ")
}

/// Up to three options from `OPTIONS`, sometimes badly separated.
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

/// Case `case`'s input: `(args, item)`.
pub(super) fn generate(seed: u64, case: u64) -> (TokenStream, TokenStream) {
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
