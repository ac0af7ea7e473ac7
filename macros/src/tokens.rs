//! Printing helpers the printers share: the runtime path, spans, the site
//! label, the fallback, converted arguments, the `unsafe(safe_fn)`
//! promise, and bits of docs.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{Attribute, Ident, Type};

use crate::check::borrows_str;
use crate::model::{Common, Conversion, FallbackValue};
use crate::options::Options;

/// The runtime's path as generated code writes it. A `crate = path` keeps
/// the user's locations, so errors about it still point there, but
/// resolves and is linted as the macro's own tokens: the expansion repeats
/// the path many times, and lints such as `unused_qualifications` (on
/// `crate = crate::rt` at the crate root) would otherwise report each
/// repetition against the user's attribute.
pub(crate) fn runtime(options: &Options) -> TokenStream {
    fn respan(tokens: TokenStream) -> TokenStream {
        tokens
            .into_iter()
            .map(|mut tt| {
                if let TokenTree::Group(group) = &tt {
                    let mut new = Group::new(group.delimiter(), respan(group.stream()));
                    new.set_span(Span::call_site().located_at(group.span()));
                    return TokenTree::Group(new);
                }
                tt.set_span(Span::call_site().located_at(tt.span()));
                tt
            })
            .collect()
    }
    respan(options.runtime())
}

/// Every token of `tokens`, groups included, spanned at `span`.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(group) = &tt {
                let mut new = Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                return TokenTree::Group(new);
            }
            tt.set_span(span);
            tt
        })
        .collect()
}

/// `*mut c_void`, through the runtime's `core`.
pub(crate) fn c_void_pointer(runtime: &TokenStream) -> Type {
    syn::parse_quote!(*mut #runtime::__private::core::ffi::c_void)
}

/// Whether `tokens` contain the identifier `name`, or a string literal
/// that captures it as a format argument (`"{name}"`, `"{name:>4}"`; any
/// string literal counts, not only a format macro's: the helpers that take
/// what an expression mentions allow unused parameters).
pub(crate) fn mentions(tokens: TokenStream, name: &str) -> bool {
    // `r#n` and `n` are one identifier.
    let name = name.strip_prefix("r#").unwrap_or(name);
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(ident) => syn::ext::IdentExt::unraw(&ident) == name,
        TokenTree::Group(group) => mentions(group.stream(), name),
        TokenTree::Literal(literal) => captures(&literal.to_string(), name),
        TokenTree::Punct(_) => false,
    })
}

/// [`mentions`], for an expression's free variable only: `name` not as a
/// method or field (after a `.` that is not part of a range's `..`), a
/// path segment (next to `::`), a macro (before `!`) or a field or binding
/// declared with its type (before a lone `:`: `Opts { status: 1 }`, `|n:
/// u32|`). Still textual (a `let` or closure binding of that name is taken
/// for a use), but it no longer confuses `e.status()` with a parameter
/// `status`, and sees `Out { code: status }` and `0..n` read one.
pub(crate) fn mentions_as_variable(tokens: TokenStream, name: &str) -> bool {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let punct = |index: Option<usize>, c: char| matches!(index.and_then(|i| trees.get(i)), Some(TokenTree::Punct(p)) if p.as_char() == c);
    trees.iter().enumerate().any(|(i, tt)| match tt {
        TokenTree::Ident(ident) => {
            let (before, before2) = (i.checked_sub(1), i.checked_sub(2));
            // `.field`, `.method()`, but not `a..name`.
            let field = punct(before, '.') && !punct(before2, '.');
            // `path::name`.
            let path_segment = punct(before, ':') && punct(before2, ':');
            // `name::path`, or `name: ..` (a field or a typed binding).
            let before_colon = punct(Some(i + 1), ':');
            let is_macro = punct(Some(i + 1), '!');
            syn::ext::IdentExt::unraw(ident) == name
                && !field
                && !path_segment
                && !before_colon
                && !is_macro
        }
        TokenTree::Group(group) => mentions_as_variable(group.stream(), name),
        TokenTree::Literal(literal) => captures(&literal.to_string(), name),
        TokenTree::Punct(_) => false,
    })
}

/// Whether the literal (as written) is a string that names `name` as an
/// inline format argument: `{name}` or `{name:..}`, or as a width or
/// precision inside a placeholder, `{:name$}`, `{x:>name$}`, `{:.name$}`
/// (`{{` is an escaped brace).
fn captures(literal: &str, name: &str) -> bool {
    let is_string =
        literal.starts_with('"') || literal.starts_with("r\"") || literal.starts_with("r#");
    if !is_string {
        return false;
    }
    let is_ident_char = |c: char| c.is_alphanumeric() || c == '_';
    let mut rest = literal;
    while let Some(at) = rest.find('{') {
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            continue;
        }
        let end = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
        let (ident, after) = rest.split_at(end);
        if ident == name && (after.starts_with('}') || after.starts_with(':')) {
            return true;
        }
        // The placeholder's spec: each `IDENT$` in it names an argument.
        let Some(spec) = after.strip_prefix(':') else {
            continue;
        };
        let spec = &spec[..spec.find('}').unwrap_or(spec.len())];
        let mut dollars = spec.match_indices('$').map(|(at, _)| at);
        if dollars.any(|at| {
            let before = &spec[..at];
            let start = before.rfind(|c: char| !is_ident_char(c)).map_or(0, |i| {
                i + before[i..].chars().next().map_or(1, char::len_utf8)
            });
            &before[start..] == name
        }) {
            return true;
        }
    }
    false
}

/// Whether the statement contains the identifier `name` outside the items
/// nested in it (a local `fn`, `impl` or `struct`, at any depth: blocks,
/// closures and macro calls whose braces hold statements are searched).
/// A `macro_rules!` (or other macro) in item position is searched: its
/// tokens are not an item of their own, and where it expands `Self` is the
/// enclosing one.
pub(crate) fn mentions_outside_items(stmt: &syn::Stmt, name: &str) -> bool {
    in_stmt(stmt, name)
}

/// [`mentions_outside_items`] for any tokens (an option's expression):
/// the braces that hold statements are searched as statements.
pub(crate) fn tokens_mention_outside_items(tokens: TokenStream, name: &str) -> bool {
    in_tokens(tokens, name)
}

fn in_tokens(tokens: TokenStream, name: &str) -> bool {
    let name = name.strip_prefix("r#").unwrap_or(name);
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(ident) => syn::ext::IdentExt::unraw(&ident) == name,
        TokenTree::Group(group) => {
            let stmts = (group.delimiter() == proc_macro2::Delimiter::Brace)
                .then(|| syn::parse::Parser::parse2(syn::Block::parse_within, group.stream()).ok())
                .flatten();
            match stmts {
                Some(stmts) => stmts.iter().any(|stmt| in_stmt(stmt, name)),
                None => in_tokens(group.stream(), name),
            }
        }
        TokenTree::Literal(literal) => captures(&literal.to_string(), name),
        TokenTree::Punct(_) => false,
    })
}

fn in_stmt(stmt: &syn::Stmt, name: &str) -> bool {
    match stmt {
        syn::Stmt::Item(syn::Item::Macro(item)) => in_tokens(item.mac.tokens.clone(), name),
        syn::Stmt::Item(_) => false,
        other => in_tokens(other.to_token_stream(), name),
    }
}

/// The span to hang an error about `ty` on. `Span::join` is not available
/// on stable, so the first token stands for the type.
pub(crate) fn first_span(ty: &Type) -> Span {
    ty.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |tt| tt.span())
}

/// The `e` that `on_error = EXPR` reads, bound where `expr` is written (its
/// first token's hygiene): a preset's options are written elsewhere than
/// the attribute that carries them.
pub(crate) fn error_binding(expr: &syn::Expr) -> Ident {
    binding_for(expr, "e")
}

/// Whether an `on_error = EXPR` or `keep_error = EXPR` reads the error as
/// `e`: a callback type's then needs `error = Type` to read it as.
pub(crate) fn reads_error(expr: &syn::Expr) -> bool {
    mentions_as_variable(expr.to_token_stream(), "e")
}

/// `why` in a `fallback = EXPR` that reads it (see [`reads_reason`]): the
/// reason C gets the fallback, bound where `e` is.
pub(crate) fn reason_binding(expr: &syn::Expr) -> Ident {
    binding_for(expr, "why")
}

/// Whether a `fallback = EXPR` reads `why`, the reason C gets it (the
/// panic's message, the refusal's reason): its helper then takes it first,
/// from the runtime's `with_reason`, and a C parameter of that name is not
/// passed.
pub(crate) fn reads_reason(expr: &syn::Expr) -> bool {
    mentions_as_variable(expr.to_token_stream(), "why")
}

/// `name` bound for the user's expression `expr`, resolved where it was
/// written.
fn binding_for(expr: &syn::Expr, name: &str) -> Ident {
    let written = expr
        .to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |tt| tt.span());
    Ident::new(name, Span::call_site().resolved_at(written))
}

/// Whether `path` is the single name `name`, written raw (`r#cfg`) or not,
/// as rustc reads an attribute's name.
pub(crate) fn path_is(path: &syn::Path, name: &str) -> bool {
    path.get_ident()
        .is_some_and(|ident| syn::ext::IdentExt::unraw(ident) == name)
}

/// `#[cfg]`/`#[cfg_attr]` and lint levels of the item, to repeat on every
/// generated item (so `#[allow(improper_ctypes_definitions)]` on the alias
/// reaches its trampolines).
pub(crate) fn cfg_attrs(attrs: &[Attribute]) -> Vec<&Attribute> {
    const SHARED: &[&str] = &[
        "cfg", "cfg_attr", "allow", "warn", "deny", "forbid", "expect",
    ];
    attrs
        .iter()
        .filter(|a| matches!(a.style, syn::AttrStyle::Outer))
        .filter(|a| SHARED.iter().any(|name| path_is(a.path(), name)))
        .collect()
}

/// Whether the doc comments already have a `# Safety` section.
pub(crate) fn documents_safety(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .any(|a| a.to_token_stream().to_string().contains("# Safety"))
}

/// The `Site` value naming the callback at `path` (the fn or type, or a
/// set and its entry) in messages: its path, the place of the `#[callback]`
/// item, and a refusal raised as a panic there (the runtime's `site!`,
/// invoked with the user's names, so the panic hook points at the item).
pub(crate) fn site(runtime: &TokenStream, path: &[&Ident]) -> TokenStream {
    let span = path
        .last()
        .map_or_else(Span::call_site, |ident| ident.span());
    let bang = quote_spanned!(span=> !);
    quote!(#runtime::__private::site #bang (#(#path)::*))
}

/// For each slice borrowed from a pointer written to another type than its
/// elements' (`*const uv_buf_t` as `&[u8]`), a constant that fails to
/// compile unless the two are of one size: items, for the module (or, in a
/// fn form, its body), where `cargo check` evaluates them once. Each carries
/// the item's `cfgs`: a copy made for a `#[cfg]` parameter or entry point
/// is compiled only where its condition holds, and so are the types it
/// names.
pub(crate) fn slice_size_checks(
    conversions: &[Option<Conversion<'_>>],
    private: &TokenStream,
    cfgs: &[&Attribute],
) -> TokenStream {
    slice_size_check_list(conversions, private, false)
        .into_iter()
        .map(|check| quote!(#(#cfgs)* #check))
        .collect()
}

/// [`slice_size_checks`] as statements, for a fn in an impl block, whose
/// types may name the impl's generic parameters (which an item inside the
/// fn cannot use, E0401): a call whose constant is evaluated when the fn
/// is instantiated (by `cargo build`, not `cargo check`; an inline
/// `const { }` is newer than the MSRV).
pub(crate) fn slice_size_checks_as(
    conversions: &[Option<Conversion<'_>>],
    private: &TokenStream,
    inline: bool,
) -> TokenStream {
    slice_size_check_list(conversions, private, inline)
        .into_iter()
        .collect()
}

/// One check per slice of another type's pointer, as an item or (`inline`)
/// a statement.
fn slice_size_check_list(
    conversions: &[Option<Conversion<'_>>],
    private: &TokenStream,
    inline: bool,
) -> Vec<TokenStream> {
    conversions
        .iter()
        .flatten()
        .filter_map(|conversion| {
            let (pointee, element) = conversion.slice_of?;
            // Located at the target type (every token: a call's span runs
            // from its first to its last), resolved as the macro's own.
            let span = Span::call_site().located_at(first_span(conversion.target));
            let private = respan(private.clone(), span);
            Some(if inline {
                quote_spanned! {span=>
                    #private::slice_of_pointee_when_built::<#pointee, #element>();
                }
            } else {
                quote_spanned! {span=>
                    const _: () = #private::slice_of_pointee::<#pointee, #element>();
                }
            })
        })
        .collect()
}

/// The C arguments `names` as the closure or method receives them (`skip`:
/// the slot's index, which it does not), each converted where
/// `#[into(Type)]` says; a failed `try_from` is refused inside the call,
/// naming the parameter, at the callback's `site`. A borrowed parameter
/// (`#[into(&..)]`) is borrowed unchecked, [`borrow_checks`] coming first,
/// or, `checked_inside`, checked and refused inside the call (a set's
/// destroy entry, whose refusal must drop the state it moved).
///
/// Returns the arguments and what runs inside the call before them: the
/// borrowed slices' lengths (user code, run once each) and, where a
/// parameter is borrowed as `&mut` beside other borrowed ones, the checks
/// that they do not overlap (C may pass one buffer as input and output),
/// and, `across_threads` (calls may run on several threads at once), the
/// compile-time check that the shared borrows are of plain data.
pub(crate) fn converted_args(
    names: &[Ident],
    conversions: &[Option<Conversion<'_>>],
    skip: Option<usize>,
    private: &TokenStream,
    site: &TokenStream,
    checked_inside: bool,
    across_threads: bool,
) -> (TokenStream, Vec<TokenStream>) {
    let received = || {
        names
            .iter()
            .zip(conversions)
            .enumerate()
            .filter(move |(index, _)| Some(*index) != skip)
    };
    // Located at the target type, so that a missing conversion is
    // reported there; resolved as before.
    let located = |name: &Ident, target: &Type| {
        let mut arg = name.clone();
        arg.set_span(name.span().located_at(first_span(target)));
        arg
    };
    let lens = received().filter_map(|(index, (_, conversion))| {
        conversion.as_ref()?.len?;
        let (value, len) = (len_value(index), len_var(index));
        Some(quote!(let #value: usize = #len();))
    });
    let lens: TokenStream = lens.collect();
    let plain: TokenStream = received()
        .filter(|_| across_threads)
        .filter_map(|(_, (_, conversion))| {
            let target = conversion
                .as_ref()
                .filter(|c| c.borrowed && !c.raw_pointers)?
                .target;
            let span = first_span(target);
            Some(quote_spanned!(span=> #private::shared_across_threads::<#target>();))
        })
        .collect();
    // Each `&mut` borrow against every other borrow, each pair once.
    let borrowed: Vec<_> = received()
        .filter_map(|(index, (name, conversion))| {
            let conversion = conversion.as_ref().filter(|c| c.borrowed)?;
            let arg = located(name, conversion.target);
            let target = conversion.target;
            let extent = if conversion.len.is_some() {
                let value = len_value(index);
                quote!(#private::BorrowSlice::<#target>::extent(#arg, #value))
            } else if borrows_str(target) {
                quote!(#private::BorrowStr::<#target>::extent(#arg))
            } else {
                quote!(#private::BorrowParam::<#target>::extent(#arg))
            };
            let label = &conversion.label;
            Some((conversion.mutable, quote!((#label, #extent))))
        })
        .collect();
    let overlaps: TokenStream = borrowed
        .iter()
        .enumerate()
        .flat_map(|(i, (mutable, first))| {
            borrowed[i + 1..]
                .iter()
                .filter_map(move |(other_mutable, second)| {
                    let (mutable, other) = match (mutable, other_mutable) {
                        (true, _) => (first, second),
                        (false, true) => (second, first),
                        (false, false) => return None,
                    };
                    Some(quote!(#private::check_disjoint(#site, #mutable, #other);))
                })
        })
        .collect();
    let any_borrowed =
        received().any(|(_, (_, c))| c.as_ref().is_some_and(|c| c.borrowed || c.len.is_some()));
    let args = received()
        .map(|(index, (name, conversion))| {
            let Some(Conversion {
                target,
                label,
                borrowed,
                len,
                ..
            }) = conversion
            else {
                return quote!(#name);
            };
            let span = first_span(target);
            let arg = located(name, target);
            if len.is_some() {
                // A slice, checked and refused inside the call, where its
                // length (user code, `len_var`) ran. C's contract vouches
                // for the elements.
                let value = len_value(index);
                quote_spanned!(span=> #private::BorrowSlice::<#target>::borrow_slice(#arg, #value, #site, #label))
            } else if *borrowed {
                // An `unsafe` call, inside the trampoline's `unsafe` block:
                // `borrow_checks` ran before it, and C's contract, which the
                // trampoline's `unsafe` fn type (or `unsafe(safe_fn)`)
                // states, vouches for the rest; the closure's higher-ranked
                // bound keeps the borrow inside the call.
                // A string (`BorrowStr`) is checked again as it is
                // borrowed: user code runs between `borrow_checks` and the
                // call (another parameter's `TryFrom`, a `len` expression)
                // and could change its bytes, and a `&str` that is not
                // UTF-8 is undefined behaviour. The check before the call
                // keeps the common refusal from poisoning the holder.
                let is_str = borrows_str(target);
                let borrow = if is_str {
                    quote_spanned!(span=> #private::BorrowStr)
                } else {
                    quote_spanned!(span=> #private::BorrowParam)
                };
                if checked_inside || is_str {
                    quote_spanned!(span=> #borrow::<#target>::borrow_checked(#arg, #site, #label))
                } else {
                    quote_spanned!(span=> #borrow::<#target>::borrow(#arg))
                }
            } else if any_borrowed {
                // Converted before the lengths, the overlap checks and the
                // borrows: a `TryFrom` is user code, which must not run
                // while a borrow of C's memory is live, nor between a check
                // and the borrow it vouches for.
                let converted = converted_var(index);
                quote!(#converted)
            } else {
                quote_spanned!(span=> #private::IntoParam::<#target>::into_param(#arg, #site, #label))
            }
        })
        .collect();
    let conversions: TokenStream = received()
        .filter(|_| any_borrowed)
        .filter_map(|(index, (name, conversion))| {
            let Conversion { target, label, borrowed: false, len: None, .. } = conversion.as_ref()? else {
                return None;
            };
            let span = first_span(target);
            let arg = located(name, target);
            let converted = converted_var(index);
            Some(quote_spanned!(span=> let #converted = #private::IntoParam::<#target>::into_param(#arg, #site, #label);))
        })
        .collect();
    (quote!(#plain #conversions #lens #overlaps), args)
}

/// The variable holding a converted (`TryFrom`) parameter, inside the call.
fn converted_var(index: usize) -> Ident {
    format_ident!("__ffi_conv{}", index, span = Span::mixed_site())
}

/// `callee(args)`, after `prelude` (from [`converted_args`]) where there
/// is one.
pub(crate) fn call_after(
    prelude: &TokenStream,
    callee: TokenStream,
    args: &[TokenStream],
) -> TokenStream {
    if prelude.is_empty() {
        quote!(#callee(#(#args),*))
    } else {
        quote!({ #prelude #callee(#(#args),*) })
    }
}

/// The checks of the borrowed (`#[into(&..)]`) parameters among `names`,
/// before the call reaches the holder: for each, a refusal under `policy`
/// returning `fallback` (a closure variable) from the trampoline. Empty
/// when none is borrowed. A string's (`#[into(&str)]`, `BorrowStr`) reads
/// it to check UTF-8: an `unsafe` call, on C's contract; the others look
/// at the address only (`BorrowParam`, safe).
pub(crate) fn borrow_checks(
    names: &[Ident],
    conversions: &[Option<Conversion<'_>>],
    private: &TokenStream,
    site: &TokenStream,
    policy: &TokenStream,
    fallback: &Ident,
) -> TokenStream {
    names
        .iter()
        .zip(conversions)
        .filter_map(|(name, conversion)| {
            // A slice is checked inside the call (`converted_args`).
            let Conversion {
                target,
                label,
                borrowed: true,
                len: None,
                ..
            } = conversion.as_ref()?
            else {
                return None;
            };
            let span = first_span(target);
            let mut arg = name.clone();
            arg.set_span(name.span().located_at(span));
            let why = Ident::new("__ffi_why", Span::mixed_site());
            let check = if borrows_str(target) {
                let check = quote_spanned!(span=> #private::BorrowStr::<#target>::check(#arg));
                // The `unsafe` at the macro's span: the user wrote none.
                // SAFETY: C's contract, which the trampoline's `unsafe` fn
                // type (or `unsafe(safe_fn)`'s promise) states, as for the
                // borrow: the parameter is null or points at what it is
                // borrowed as, here a NUL-terminated string, valid for the
                // call. `check` only reads it.
                quote!(unsafe { #check })
            } else {
                quote_spanned!(span=> #private::BorrowParam::<#target>::check(#arg))
            };
            Some(quote_spanned! {span=>
                if let #private::core::result::Result::Err(#why) = #check {
                    return #private::refuse_borrow::<#policy, _>(#site, #label, #why, #fallback);
                }
            })
        })
        .collect()
}

/// The variable holding the closure that computes the length of the
/// borrowed slice at parameter `index` (`#[into(&[T], len = EXPR)]`):
/// defined by the printers before the call, called inside it.
pub(crate) fn len_var(index: usize) -> Ident {
    format_ident!("__ffi_len{}", index, span = Span::mixed_site())
}

/// The variable holding that length, inside the call.
fn len_value(index: usize) -> Ident {
    format_ident!("__ffi_n{}", index, span = Span::mixed_site())
}

/// A sentence for the C function-pointer type's docs when parameters are
/// borrowed (`#[into(&..)]`): the contract its `unsafe` callers keep.
pub(crate) fn borrow_contract_doc(conversions: &[Option<Conversion<'_>>]) -> String {
    borrow_contract(conversions, "Its trampolines borrow")
}

/// The contract of borrowed (`#[into(&..)]`) parameters, as one sentence
/// starting with `subject` (`"It borrows"`), after a space; empty when none
/// is borrowed.
pub(crate) fn borrow_contract(conversions: &[Option<Conversion<'_>>], subject: &str) -> String {
    let borrowed: Vec<&str> = conversions
        .iter()
        .flatten()
        .filter(|c| c.borrowed)
        .map(|c| c.label.as_str())
        .collect();
    if borrowed.is_empty() {
        return String::new();
    }
    let slices = conversions.iter().flatten().any(|c| c.len.is_some());
    let checked = borrowed.len() > 1 && conversions.iter().flatten().any(|c| c.mutable);
    format!(
        " {subject} the parameter{} {} (`#[into(&..)]`): a call passes there null or a pointer \
         to what the parameter is borrowed as{}, valid for the call and not touched by anything \
         else meanwhile{}.",
        if borrowed.len() == 1 { "" } else { "s" },
        borrowed.join(", "),
        if slices {
            " (for a slice, its `len` elements)"
        } else {
            ""
        },
        if checked {
            " (a `&mut` borrow overlapping another of the same call is refused)"
        } else {
            ""
        }
    )
}

/// The fallback as a closure over the C parameters (or, for a default, a fn
/// pointer), bound outside any `unsafe` block (it is the user's code), for
/// `ret` the C return type.
pub(crate) fn fallback_closure(common: &Common, ret: Option<&Type>) -> TokenStream {
    let runtime = &common.runtime;
    let ret_arrow = ret.map(|ty| quote!(-> #ty));
    match &common.fallback {
        FallbackValue::Expr(expr) => quote!(|| #ret_arrow { #expr }),
        // Fn pointers, not closures: one type for every callback returning
        // `ty`, so they share the code that runs their fallback (the
        // compiler still inlines the call). Not the fn item: where `ty` has
        // no `Fallback`, its use would report that a second time.
        FallbackValue::Default(Some(ty)) => {
            let span = first_span(ty);
            quote_spanned!(span=> <#ty as #runtime::__private::Fallback>::fallback as fn() -> #ty)
        }
        FallbackValue::Default(None) => {
            quote!(<() as #runtime::__private::Fallback>::fallback as fn())
        }
        FallbackValue::Never => match ret {
            Some(ty) => quote!(#runtime::__private::no_fallback::<#ty> as fn() -> #ty),
            None => quote!(#runtime::__private::no_fallback::<()> as fn()),
        },
    }
}

/// The value for an `Err(e)`: `on_error = EXPR` with `e` bound to the
/// error (of type `error`), or the fallback.
pub(crate) fn on_error_closure(
    common: &Common,
    error: &TokenStream,
    ret: Option<&Type>,
    fallback: &Ident,
    is_result: bool,
) -> TokenStream {
    let ret_arrow = ret.map(|ty| quote!(-> #ty));
    match &common.on_error {
        // No `Err` to map (the body does not return `Result`): a fn item
        // shared by every such callback, never called.
        None if !is_result => {
            let runtime = &common.runtime;
            quote!(#runtime::__private::no_error)
        }
        Some(expr) => {
            let e = error_binding(expr);
            quote!(|#e: &#error| #ret_arrow { #expr })
        }
        // `move`: a fallback that captures nothing is copied in, so that
        // this closure captures no reference to it (which would put it on
        // the trampoline's stack). A fallback expression may borrow the C
        // parameters mutably, so that one is borrowed as before.
        None if matches!(common.fallback, FallbackValue::Expr(_)) => {
            quote!(|_: &#error| #ret_arrow { #fallback() })
        }
        None => quote!(move |_: &#error| #ret_arrow { #fallback() }),
    }
}

/// `unsafe(safe_fn)`'s promise, as an item whose every token carries the
/// span of the user's `unsafe`: rustc reports it under `unsafe_code` as
/// the user's own (as `#[unsafe(no_mangle)]` is), so a
/// `#![forbid(unsafe_code)]` crate cannot opt in.
pub(crate) fn safe_fn_promise(common: &Common) -> TokenStream {
    // A preset's `unsafe { }` block, made this item's by `preset =
    // unsafe(path)`: the same promise, at that `unsafe`.
    let preset = common.preset_promise.map(|span| promise_at(common, span));
    let safe_fn = common.safe_fn.map(|span| promise_at(common, span));
    quote!(#preset #safe_fn)
}

fn promise_at(common: &Common, span: Span) -> TokenStream {
    let runtime = &common.runtime;
    // Clippy cannot find a `// SAFETY:` comment for a token inside an
    // attribute; write one above `#[callback(unsafe(safe_fn))]` anyway.
    let promise = quote! {
        #[allow(non_camel_case_types)]
        struct __ffi_callback_safe_fn_promise;
        #[allow(clippy::undocumented_unsafe_blocks)]
        unsafe impl #runtime::__private::SafeFnPromise for __ffi_callback_safe_fn_promise {}
    };
    let promise = respan(promise, span);
    quote!(const _: () = { #promise };)
}

/// Token-stream text with rustfmt-like spacing, for docs.
pub(crate) fn tidy(tokens: &str) -> String {
    let mut text = tokens.to_owned();
    for (from, to) in [
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
        (" (", "("),
        ("* mut ", "*mut "),
        ("* const ", "*const "),
        ("& ", "&"),
        (" :: ", "::"),
        (":: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        // A unary minus: `- 1` after an opening, a comma or at the start.
        ("(- ", "(-"),
        (", - ", ", -"),
    ] {
        text = text.replace(from, to);
    }
    match text.strip_prefix("- ") {
        Some(rest) => format!("-{rest}"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::{mentions, mentions_outside_items, tokens_mention_outside_items};

    #[test]
    fn mentions_format_captures() {
        let expr = quote!({
            eprintln!("{n} {{m}} {k:>4} {0}", x);
            -1
        });
        assert!(mentions(expr.clone(), "n"));
        assert!(mentions(expr.clone(), "k"));
        assert!(mentions(expr.clone(), "x"));
        assert!(!mentions(expr.clone(), "m"));
        assert!(!mentions(quote!(r"{n}"), "m"));
        assert!(mentions(quote!(format!(r#"{n}"#)), "n"));
        assert!(!mentions(quote!(b"{n}"), "n"));
        assert!(!mentions(quote!('{'), "n"));
    }

    #[test]
    fn mentions_format_width_and_precision() {
        assert!(mentions(quote!(eprintln!("{n:>w$}")), "w"));
        assert!(mentions(quote!(eprintln!("{n:>w$}")), "n"));
        assert!(mentions(quote!(eprintln!("{:.p$}", 1.5)), "p"));
        assert!(mentions(
            quote!(eprintln!("{0:x>width$.prec$}", 1.5)),
            "width"
        ));
        assert!(mentions(
            quote!(eprintln!("{0:x>width$.prec$}", 1.5)),
            "prec"
        ));
        assert!(mentions(quote!(eprintln!("{:_^é$}", 1)), "é"));
        assert!(!mentions(quote!(eprintln!("{:1$}", 1, 2)), "w"));
        assert!(!mentions(quote!(eprintln!("{:ww$}", 1)), "w"));
        assert!(!mentions(quote!(eprintln!("{:$>5} w$", 1)), "w"));
        assert!(!mentions(quote!(eprintln!("{{:w$}}", 1)), "w"));
        assert!(!mentions(quote!(eprintln!("{:.*}", 2, 1.5)), "p"));
    }

    #[test]
    fn mentions_outside_nested_items() {
        let block: syn::Block = syn::parse_quote!({
            struct P;
            impl P {
                fn new() -> Self {
                    P
                }
            }
            let x = {
                impl Q {
                    fn get() -> Self {}
                }
                1
            };
        });
        assert!(
            !block
                .stmts
                .iter()
                .any(|s| mentions_outside_items(s, "Self"))
        );
        let block: syn::Block = syn::parse_quote!({
            let f = || {
                let _ = Self::K;
            };
        });
        assert!(
            block
                .stmts
                .iter()
                .any(|s| mentions_outside_items(s, "Self"))
        );
        // A `macro_rules!` is not an item with its own `Self`: where it
        // expands, `Self` is the enclosing impl's.
        let block: syn::Block = syn::parse_quote!({
            macro_rules! k {
                () => {
                    Self::K
                };
            }
            k!()
        });
        assert!(
            block
                .stmts
                .iter()
                .any(|s| mentions_outside_items(s, "Self"))
        );
    }

    #[test]
    fn option_expressions_skip_nested_items() {
        let fallback = quote!({
            struct P;
            impl P {
                fn k() -> Self {
                    P
                }
            }
            let _ = P::k();
            -1
        });
        assert!(mentions(fallback.clone(), "Self"));
        assert!(!tokens_mention_outside_items(fallback, "Self"));
        assert!(tokens_mention_outside_items(quote!(Self::K), "Self"));
        assert!(tokens_mention_outside_items(
            quote!({
                let x = Self::K;
                x
            }),
            "Self"
        ));
    }
}
