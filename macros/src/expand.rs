//! The pipeline: options, parse, check (into the resolved model), then the
//! form's printer. On any error the item is still emitted (without its
//! `#[user_data]` markers, or as a stub holder for a callback type) beside
//! the `compile_error!`s, so one mistake does not cascade.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::quote;

use crate::check::check;
use crate::errors::Errors;
use crate::model::Model;
use crate::options::{Options, PresetUse};
use crate::parse::{self, Callback};
use crate::{cfg_split, expand_fn, expand_set, expand_type, preset};

/// The whole macro, on `proc_macro2` streams so that tests can call it.
pub(crate) fn callback(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = preset_options_at_item(args, &item);
    let mut errors = Errors::default();
    let mut options = Options::parse(args.clone(), &mut errors);
    if let Some(preset) = options.preset.take() {
        if !errors.has_errors() {
            return preset::hand_to(&preset.value, preset.key, args, item);
        }
    }
    match cfg_split::split(&item) {
        Ok(None) => {
            let (error, items) = expand(&args, options, errors, item);
            let error = error.map(|error| error.to_compile_error());
            quote!(#error #items)
        }
        // One copy per combination of the parameters' conditions; a copy's
        // errors are compiled (and reported) only where its `cfg` holds:
        // each is a `#[cfg(..)] ::core::compile_error! {..}`, valid as an
        // item and as an associated item (the copy may be a method).
        Ok(Some(variants)) => variants
            .into_iter()
            .map(|variant| {
                let mut errors = Errors::default();
                let options = Options::parse(args.clone(), &mut errors);
                let (error, items) = expand(&args, options, errors, variant.item);
                let predicate = variant.predicate;
                let errors = error.into_iter().flatten().map(|part| {
                    let part = part.to_compile_error();
                    quote!(#[cfg(#predicate)] #part)
                });
                quote!(#(#errors)* #items)
            })
            .collect(),
        // The item is still emitted as after any other error (its `cfg`s on
        // parameters are valid Rust there; a refused one is left out, as
        // rustc would report it again).
        Err(error) => {
            // With the options' own errors, so that one build shows all.
            errors.push(error);
            let error = errors.into_result().err().map(|e| e.to_compile_error());
            let item = cfg_split::without_refused(&item);
            let item = match parse::parse(item.clone(), &mut Errors::default()) {
                Ok(parsed) => {
                    let entry_options = match &parsed {
                        Callback::Set(set) => {
                            crate::check::entry_options(set, &args, &mut Errors::default())
                        }
                        _ => Vec::new(),
                    };
                    stub(&parsed, &options, &entry_options)
                }
                Err(_) => item,
            };
            quote!(#error #item)
        }
    }
}

/// The group after the ident `name` at the top level of `args`
/// (`__preset(..)`, `__preset_use(..)`).
fn group_after(args: &TokenStream, name: &str) -> Option<Group> {
    let mut trees = args.clone().into_iter();
    while let Some(tree) = trees.next() {
        if matches!(&tree, TokenTree::Ident(ident) if ident == name) {
            if let Some(TokenTree::Group(group)) = trees.next() {
                return Some(group);
            }
        }
    }
    None
}

/// A preset's `unsafe` (`unsafe(safe_fn)`, an `unsafe { }` block in an
/// option) promises something about each item that uses it (who calls its
/// safe fn, what its parameters point at), so the item's crate makes the
/// promise: it names the preset `preset = unsafe(path)`, whose `unsafe`
/// the promises then carry ([`preset_options_at_item`]), where
/// `unsafe_code` sees them. A crate using another crate's preset thus
/// writes the `unsafe` it relies on.
fn check_preset_use(args: &TokenStream, options: &Options, errors: &mut Errors) {
    let Some(preset) = group_after(args, "__preset") else {
        return;
    };
    let holds_unsafe = options.preset_holds_unsafe;
    let name = |used: &PresetUse| {
        let path = &used.path;
        quote!(#path).to_string().replace(' ', "")
    };
    match &options.preset_use {
        Some(used) if holds_unsafe && used.unsafe_token.is_none() => errors.spanned(
            &used.path,
            format_args!(
                "the preset `{0}` holds `unsafe` (`unsafe(safe_fn)`, or an `unsafe {{ }}` block \
                 in an option): its promise is about this callback (who calls its safe fn, what \
                 its parameters point at), so this crate makes it: write `preset = \
                 unsafe({0})`",
                name(used)
            ),
        ),
        Some(used) if !holds_unsafe => {
            if let Some(token) = &used.unsafe_token {
                errors.error(
                    token.span(),
                    format_args!(
                        "`unsafe` is not needed: the preset `{}` holds no `unsafe`; write \
                         `preset = {0}`",
                        name(used)
                    ),
                );
            }
        }
        Some(_) => {}
        // The preset's macro invoked by hand, not through `preset = ..`.
        None if holds_unsafe => errors.error(
            preset.span(),
            "a preset whose options hold `unsafe` is used through `#[callback(preset = \
             unsafe(path))]`",
        ),
        None => {}
    }
}

/// The pipeline for one item: the errors (if any), and the items to emit.
fn expand(
    args: &TokenStream,
    options: Options,
    mut errors: Errors,
    item: TokenStream,
) -> (Option<syn::Error>, TokenStream) {
    check_preset_use(args, &options, &mut errors);
    let parsed = match parse::parse(item.clone(), &mut errors) {
        Ok(parsed) => parsed,
        Err(error) => {
            errors.push(error);
            return (errors.into_result().err(), item);
        }
    };
    let entry_options = match &parsed {
        Callback::Set(set) => crate::check::entry_options(set, args, &mut errors),
        _ => Vec::new(),
    };
    let model = check(&parsed, &options, &entry_options, &mut errors);
    match (model, errors.into_result()) {
        (Some(Model::Fn(model)), Ok(())) => (None, expand_fn::print(&model)),
        (Some(Model::Type(model)), Ok(())) => (None, expand_type::print(&model)),
        (Some(Model::Set(model)), Ok(())) => (None, expand_set::print(&model)),
        (_, result) => (result.err(), stub(&parsed, &options, &entry_options)),
    }
}

/// What stands for the item after an error: the fn without its markers,
/// or a stub holder or set, so that one mistake does not cascade.
fn stub(parsed: &Callback, options: &Options, entry_options: &[Options]) -> TokenStream {
    match parsed {
        Callback::Fn(item) => expand_fn::unchanged(item),
        Callback::Type(item) => {
            expand_type::stub(item, options.fn_type.as_ref().map(|given| &given.value))
        }
        Callback::Set(item) => expand_set::stub(item, options, entry_options),
    }
}

/// `args` with the names in a preset's option values (`__preset(..)`) resolved
/// as the item's own tokens are: a preset's `fallback = n * 10` or
/// `user_data = unsafe { sqlite3_user_data(ctx) }` reads the item's
/// parameters, as the same options written on the item do. (They come from
/// the body of the preset's `macro_rules!`, whose hygiene would hide them.)
/// `$crate` keeps its own: it names the declaring crate's runtime. An
/// `unsafe` becomes the `unsafe` of the item's `preset = unsafe(path)`:
/// its promise is about this item, so the item's crate makes it, and
/// `unsafe_code` reports it there (it is also reported where the preset is
/// declared, by `preset!`).
fn preset_options_at_item(args: TokenStream, item: &TokenStream) -> TokenStream {
    fn at_item(tokens: TokenStream, item: Span, used_unsafe: Option<Span>) -> TokenStream {
        tokens
            .into_iter()
            .map(|tree| match tree {
                TokenTree::Group(group) => {
                    let stream = at_item(group.stream(), item, used_unsafe);
                    let mut new = Group::new(group.delimiter(), stream);
                    new.set_span(group.span());
                    TokenTree::Group(new)
                }
                TokenTree::Ident(mut ident) if ident == "unsafe" => {
                    if let Some(span) = used_unsafe {
                        ident.set_span(span);
                    }
                    TokenTree::Ident(ident)
                }
                TokenTree::Ident(mut ident) if ident != "$crate" => {
                    ident.set_span(ident.span().resolved_at(item));
                    TokenTree::Ident(ident)
                }
                other => other,
            })
            .collect()
    }
    let Some(item_span) = item.clone().into_iter().next().map(|tree| tree.span()) else {
        return args;
    };
    // The `unsafe` of `__preset_use(unsafe(path))`.
    let used_unsafe = group_after(&args, "__preset_use").and_then(|group| {
        match group.stream().into_iter().next() {
            Some(TokenTree::Ident(ident)) if ident == "unsafe" => Some(ident.span()),
            _ => None,
        }
    });
    // Only the options' values: an error about an option itself keeps
    // pointing at the preset and at the use it came through.
    fn values_at_item(options: TokenStream, item: Span, used_unsafe: Option<Span>) -> TokenStream {
        let mut out = Vec::new();
        let mut value = None;
        for tree in options {
            match (&tree, value.as_mut()) {
                (TokenTree::Punct(punct), _) if punct.as_char() == ',' => {
                    if let Some(tokens) = value.take() {
                        out.extend(at_item(tokens, item, used_unsafe));
                    }
                    out.push(tree);
                }
                (_, Some(tokens)) => tokens.extend([tree]),
                (TokenTree::Punct(punct), None) if punct.as_char() == '=' => {
                    out.push(tree);
                    value = Some(TokenStream::new());
                }
                // `unsafe(safe_fn)`: a key, but the promise of the use's
                // `unsafe` too.
                (TokenTree::Ident(ident), None) if ident == "unsafe" => {
                    let mut ident = ident.clone();
                    if let Some(span) = used_unsafe {
                        ident.set_span(span);
                    }
                    out.push(TokenTree::Ident(ident));
                }
                _ => out.push(tree),
            }
        }
        if let Some(tokens) = value {
            out.extend(at_item(tokens, item, used_unsafe));
        }
        out.into_iter().collect()
    }
    let mut trees = args.into_iter().peekable();
    let mut out = Vec::new();
    while let Some(tree) = trees.next() {
        let is_preset = matches!(&tree, TokenTree::Ident(ident) if ident == "__preset");
        out.push(tree);
        if is_preset {
            if let Some(TokenTree::Group(group)) = trees.peek() {
                let options = values_at_item(group.stream(), item_span, used_unsafe);
                let mut new = Group::new(group.delimiter(), options);
                new.set_span(group.span());
                out.push(TokenTree::Group(new));
                trees.next();
            }
        }
    }
    out.into_iter().collect()
}
