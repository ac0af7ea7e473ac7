//! Which spans an `unsafe` of the expansion may carry.
//!
//! `#![forbid(unsafe_code)]` works with `#[callback]` because rustc does
//! not report `unsafe_code` for spans of an external macro's expansion:
//! each `unsafe` the expansion adds must be call-site spanned (PyO3 #4574
//! fixed exactly this leak; `tests/forbid_unsafe` shows it works). Two
//! user spans are allowed besides:
//! - the user's own `unsafe` tokens (blocks in the body, in `user_data =`
//!   or `fallback =`, an `unsafe fn`), which keep their spans and are
//!   reported as in any other code. The output alone cannot tell such a
//!   token from an added `unsafe` given its span; for the type form, whose
//!   written `unsafe` sits in a fn pointer type the lint ignores, the test
//!   below checks that the expansion keeps none of it;
//! - the `unsafe` of `#[callback(unsafe(safe_fn))]`, which the expansion
//!   gives to the `unsafe impl` that opt-in makes, so that
//!   `#![forbid(unsafe_code)]` sees the opt-in as it sees
//!   `#[unsafe(no_mangle)]`.
//!
//! Both are the spans of `unsafe` keywords in the input, compared exactly
//! (same source string, same bytes): a token of the item at the same line
//! and columns as the attribute's `unsafe` is not that `unsafe`.

use std::str::FromStr;

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::quote;

use super::fresh_spans;

/// The spans of the `unsafe` keywords of an input, the only user spans an
/// `unsafe` of its expansion may carry.
pub(super) struct WrittenUnsafe(Vec<Span>);

impl WrittenUnsafe {
    pub(super) fn of(args: &TokenStream, item: &TokenStream) -> WrittenUnsafe {
        let mut spans = Vec::new();
        // In the arguments: the `unsafe(safe_fn)` opt-in, and blocks in
        // `user_data =` and `fallback =` expressions.
        unsafe_spans(args.clone(), &mut spans);
        unsafe_spans(item.clone(), &mut spans);
        WrittenUnsafe(spans)
    }

    fn allows(&self, span: Span) -> bool {
        span.source_text().is_none() || self.0.iter().any(|&written| same_span(written, span))
    }
}

fn unsafe_spans(stream: TokenStream, out: &mut Vec<Span>) {
    for tt in stream {
        match tt {
            TokenTree::Ident(ident) if ident == "unsafe" => out.push(ident.span()),
            TokenTree::Group(group) => unsafe_spans(group.stream(), out),
            _ => {}
        }
    }
}

/// Both spans have source text. `join` is `None` across source strings,
/// where byte ranges may coincide.
fn same_span(a: Span, b: Span) -> bool {
    a.join(b).is_some() && a.byte_range() == b.byte_range()
}

/// The source text under the first `unsafe` keyword of `stream` whose span
/// `written` does not allow.
pub(super) fn misplaced_unsafe(stream: TokenStream, written: &WrittenUnsafe) -> Option<String> {
    stream.into_iter().find_map(|tt| match tt {
        TokenTree::Ident(ident) if ident == "unsafe" && !written.allows(ident.span()) => {
            ident.span().source_text()
        }
        TokenTree::Group(group) => misplaced_unsafe(group.stream(), written),
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

/// The span of `stream`'s first top-level token that prints as `text`.
fn span_of(stream: &TokenStream, text: &str) -> Span {
    stream
        .clone()
        .into_iter()
        .find(|tt| tt.to_string() == text)
        .map(|tt| tt.span())
        .expect("token")
}

#[test]
fn users_unsafe_stays_the_users_and_the_expansions_is_call_site() {
    fresh_spans();
    // The fn form: the user's three `unsafe` blocks (body, `user_data`,
    // `fallback`) come out with their own spans, so `unsafe_code` still
    // reports them; the trampoline's `unsafe extern fn` and its `unsafe` blocks
    // are the macro's.
    let args = TokenStream::from_str(
        "user_data = unsafe { data(ctx) }, fallback = unsafe { zeroed() }, on_panic = fallback",
    )
    .expect("args");
    let item = TokenStream::from_str(
        "pub extern \"C\" fn f(ctx: *mut Ctx, #[user_data] s: &mut S) -> u8 { unsafe { g(s) } }",
    )
    .expect("item");
    let written = WrittenUnsafe::of(&args, &item);
    let output = crate::expand::callback(args, item);
    assert_eq!(misplaced_unsafe(output.clone(), &written), None);
    let (user, generated) = unsafe_keywords(output);
    assert_eq!(user, 3, "the user's `unsafe` blocks keep their spans");
    assert!(
        generated >= 2,
        "the trampoline is `unsafe extern` with an `unsafe` block"
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

#[test]
fn an_added_unsafe_may_carry_the_attributes_unsafe_and_no_other_span() {
    fresh_spans();
    let args = TokenStream::from_str("unsafe(safe_fn), sync").expect("args");
    let item = TokenStream::from_str("extern \"C\" fn f() {}").expect("item");
    let written = WrittenUnsafe::of(&args, &item);
    let added = |span: Span| {
        let unsafe_token = Ident::new("unsafe", span);
        quote!(const _: () = { #unsafe_token impl Send for S {} };)
    };

    let opt_in = span_of(&args, "unsafe");
    assert_eq!(misplaced_unsafe(added(opt_in), &written), None);
    assert_eq!(misplaced_unsafe(added(Span::call_site()), &written), None);

    let other_option = span_of(&args, "sync");
    assert_eq!(
        misplaced_unsafe(added(other_option), &written).as_deref(),
        Some("sync")
    );
    // Same line and columns as the attribute's `unsafe`, another token.
    let extern_token = span_of(&item, "extern");
    assert_eq!(
        (extern_token.start(), extern_token.end()),
        (opt_in.start(), opt_in.end())
    );
    assert_eq!(
        misplaced_unsafe(added(extern_token), &written).as_deref(),
        Some("extern")
    );
}
