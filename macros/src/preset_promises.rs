//! `ffi_callback::preset!`'s `unsafe`: every `unsafe` written in a preset's
//! options (`unsafe(safe_fn)`, an `unsafe { }` block in `fallback = ...`)
//! is reported under `unsafe_code` where the preset is declared.
//!
//! The preset's options reach `#[callback]` through the body of the
//! `macro_rules!` that `preset!` declares, which is `ffi_callback`'s
//! expansion: rustc reports no `unsafe_code` there (an external macro), so
//! the promise `#[callback]` prints for them would be silent. `preset!`
//! therefore also hands its options to this macro while they are still the
//! user's own tokens (the metavariables of the macro the user invoked), and
//! for each `unsafe` it prints an `unsafe impl` spanned at that token, as
//! `tokens::safe_fn_promise` does for `#[callback(unsafe(safe_fn))]`.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::quote;

use crate::tokens::respan;

/// `[runtime] options...`: one promise item per `unsafe` in the options.
pub(crate) fn preset_promises(input: TokenStream) -> TokenStream {
    let mut tokens = input.into_iter();
    let runtime = match tokens.next() {
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Bracket => group.stream(),
        _ => {
            return quote!(::core::compile_error! {
                "ffi_callback::__private::__preset_promises! expects `[runtime path] options`"
            });
        }
    };
    let mut spans = Vec::new();
    unsafe_spans(tokens.collect(), &mut spans);
    spans
        .into_iter()
        .map(|span| promise(&runtime, span))
        .collect()
}

/// Whether a preset's options hold an `unsafe` that `unsafe_code` reports,
/// and whether one of them is not the key of `unsafe(safe_fn)` (an
/// `unsafe { }` block in a value).
pub(crate) fn unsafe_in(options: TokenStream) -> (bool, bool) {
    let mut spans = Vec::new();
    unsafe_spans(options.clone(), &mut spans);
    let trees: Vec<TokenTree> = options.into_iter().collect();
    let safe_fn_keys = trees
        .windows(2)
        .filter(|pair| match pair {
            [TokenTree::Ident(key), TokenTree::Group(group)] => {
                key == "unsafe"
                    && group.delimiter() == Delimiter::Parenthesis
                    && group.stream().to_string() == "safe_fn"
            }
            _ => false,
        })
        .count();
    (!spans.is_empty(), spans.len() > safe_fn_keys)
}

/// The spans of the `unsafe` keywords of `tokens`, groups included, but for
/// those of fn pointer types (`unsafe fn`, `unsafe extern "C" fn`), which
/// `unsafe_code` does not report either.
fn unsafe_spans(tokens: TokenStream, spans: &mut Vec<Span>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tt) in tokens.iter().enumerate() {
        match tt {
            TokenTree::Group(group) => unsafe_spans(group.stream(), spans),
            TokenTree::Ident(ident) if ident == "unsafe" && !starts_fn_type(&tokens[i + 1..]) => {
                spans.push(ident.span());
            }
            _ => {}
        }
    }
}

/// Whether `rest` starts with `fn` or `extern "ABI" fn`.
fn starts_fn_type(rest: &[TokenTree]) -> bool {
    let is =
        |tt: Option<&TokenTree>, name: &str| matches!(tt, Some(TokenTree::Ident(i)) if i == name);
    let mut rest = rest.iter();
    match rest.next() {
        first if is(first, "fn") => true,
        first if is(first, "extern") => {
            let next = rest.next();
            match next {
                Some(TokenTree::Literal(_)) => is(rest.next(), "fn"),
                _ => is(next, "fn"),
            }
        }
        _ => false,
    }
}

/// The declaring crate's promise for one `unsafe`: every token but the
/// trait's path carries its span, so that rustc reports the `unsafe impl`
/// as that crate's own code (the path keeps its own span: `$crate`
/// resolves by it).
fn promise(runtime: &TokenStream, span: Span) -> TokenStream {
    let impl_start = respan(
        quote! {
            // Constructed below: no `dead_code`, and no `allow(dead_code)`,
            // which a crate that forbids `dead_code` would refuse.
            struct PresetPromise;
            // As for `#[callback(unsafe(safe_fn))]`: clippy cannot find a
            // `// SAFETY:` comment for a token inside a macro's arguments.
            #[allow(clippy::undocumented_unsafe_blocks)]
            unsafe impl
        },
        span,
    );
    let impl_end = respan(
        quote! {
            for PresetPromise {}
            let _ = PresetPromise;
        },
        span,
    );
    let mut block = Group::new(
        Delimiter::Brace,
        quote!(#impl_start #runtime::__private::SafeFnPromise #impl_end),
    );
    block.set_span(span);
    let head = respan(quote!(const _: () =), span);
    let semi = respan(quote!(;), span);
    quote!(#head #block #semi)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn promises(options: &str) -> usize {
        let input = TokenStream::from_str(&format!("[::ffi_callback] {options}")).unwrap();
        let output = preset_promises(input).to_string();
        output.matches("unsafe impl").count()
    }

    #[test]
    fn every_unsafe_but_fn_pointer_types_is_promised() {
        assert_eq!(promises("on_panic = abort, fallback = -7"), 0);
        assert_eq!(promises("unsafe(safe_fn)"), 1);
        assert_eq!(promises("fallback = -7, unsafe(safe_fn)"), 1);
        assert_eq!(promises("fallback = unsafe { *p }, unsafe(safe_fn)"), 2);
        assert_eq!(promises("user_data = f(|p| unsafe { *p })"), 1);
        assert_eq!(promises("fallback = None::<unsafe fn()>"), 0);
        assert_eq!(promises("fallback = None::<unsafe extern \"C\" fn()>"), 0);
        assert_eq!(promises("fallback = None::<unsafe extern fn()>"), 0);
        // Not a fn pointer type: an `unsafe extern` block, an unsafe impl.
        assert_eq!(promises("fallback = { unsafe extern \"C\" { } 0 }"), 1);
        assert_eq!(
            promises("fallback = { struct S; unsafe impl Send for S {} 0 }"),
            1
        );
    }

    #[test]
    fn without_a_runtime_path_is_an_error() {
        let output = preset_promises(TokenStream::from_str("unsafe(safe_fn)").unwrap());
        assert!(output.to_string().contains("compile_error"));
    }
}
