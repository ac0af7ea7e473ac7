//! The invariants every input is held to, and the figures of a run.

use std::panic::{self, AssertUnwindSafe};

use proc_macro2::{Span, TokenStream, TokenTree};

use super::unsafe_spans::{WrittenUnsafe, misplaced_unsafe};

/// Which invariant an input broke.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Panic,
    CallSiteSpan,
    UnsafeSpan,
    Unparsable,
    ItemNotReemitted,
}

/// What the expansions of a run did.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) cases: u64,
    pub(super) expanded: u64,
    pub(super) rejected: u64,
    pub(super) errors: u64,
    pub(super) eof_at_attribute: u64,
    pub(super) not_an_item: u64,
    pub(super) bare_crate: u64,
    pub(super) output_tokens: u64,
}

impl Stats {
    pub(super) fn add(&mut self, other: &Stats) {
        self.cases += other.cases;
        self.expanded += other.expanded;
        self.rejected += other.rejected;
        self.errors += other.errors;
        self.eof_at_attribute += other.eof_at_attribute;
        self.not_an_item += other.not_an_item;
        self.bare_crate += other.bare_crate;
        self.output_tokens += other.output_tokens;
    }
}

/// An input that broke an invariant, as text for the report.
pub(super) struct Failure {
    pub(super) case: u64,
    pub(super) kind: Kind,
    pub(super) detail: String,
    pub(super) args: String,
    pub(super) item: String,
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
pub(super) fn check(
    args: &TokenStream,
    item: &TokenStream,
    stats: &mut Stats,
) -> Result<(), (Kind, String)> {
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

    if let Some(text) = misplaced_unsafe(output.clone(), &WrittenUnsafe::of(args, item)) {
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

/// Token trees, groups and their contents.
fn count_tokens(stream: TokenStream) -> usize {
    stream
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(group) => 1 + count_tokens(group.stream()),
            _ => 1,
        })
        .sum()
}
