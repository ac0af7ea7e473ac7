//! `#[cfg]` and `#[cfg_attr]` on a callback's parameters (and on a set's
//! entry points). The macro cannot evaluate a `cfg`, yet it prints each
//! parameter several times (the trampoline's, the body's, the call's, the
//! fn-pointer type's), and a call's arguments cannot carry a `cfg`. So the
//! item is split, before the pipeline, into one copy per combination of the
//! conditions (at most [`MAX_CONDITIONS`] of them), each copy with the
//! parameters its combination keeps and an item-level `#[cfg]` that holds
//! in that combination only; the pipeline expands each copy as if written
//! that way, and exactly one of them is compiled.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::parse::Parser;

use crate::tokens::path_is;
use syn::punctuated::Punctuated;
use syn::{
    Attribute, FnArg, GenericArgument, Item, Meta, PathArguments, Token, TraitItem, Type, TypeFnPtr,
};

/// Conditions beyond this make too many copies (2^n): the user is asked to
/// declare the callback once per configuration instead.
const MAX_CONDITIONS: usize = 4;

/// One copy of the item: the `cfg` predicate under which it is compiled,
/// and the item as that combination of conditions leaves it.
pub(crate) struct Variant {
    pub(crate) predicate: TokenStream,
    pub(crate) item: TokenStream,
}

/// The copies of `item` if any of its parameters or entry points carries a
/// `#[cfg]` or `#[cfg_attr]`; `Ok(None)` if none does (the common case: the
/// item is expanded as it is), or if it does not parse (the pipeline
/// reports that).
pub(crate) fn split(item: &TokenStream) -> syn::Result<Option<Vec<Variant>>> {
    // Most items name no `cfg` at all: a token scan spares them a parse.
    if !names_cfg(item.clone()) {
        return Ok(None);
    }
    let Ok(mut parsed) = syn::parse2::<Item>(item.clone()) else {
        return Ok(None);
    };
    refuse_on_generics(&parsed)?;
    let mut conditions: Vec<Condition> = Vec::new();
    // Every malformed condition is reported, not only the first.
    let mut malformed: Option<syn::Error> = None;
    for attrs in conditional_attrs(&mut parsed) {
        for attr in attrs {
            let (predicate, _) = match condition_of(attr) {
                Ok(Some(condition)) => condition,
                Ok(None) => continue,
                Err(error) => {
                    match &mut malformed {
                        Some(first) => first.combine(error),
                        None => malformed = Some(error),
                    }
                    continue;
                }
            };
            if conditions.iter().all(|c| c.key != predicate.to_string()) {
                if conditions.len() == MAX_CONDITIONS {
                    return Err(syn::Error::new_spanned(
                        attr,
                        format_args!(
                            "`#[callback]` takes at most {MAX_CONDITIONS} different `#[cfg]` \
                             conditions on parameters and entry points (it expands one copy \
                             per combination): declare the callback once per configuration \
                             instead, each under its own `#[cfg]`"
                        ),
                    ));
                }
                conditions.push(Condition {
                    key: predicate.to_string(),
                    predicate,
                });
            }
        }
    }
    if let Some(error) = malformed {
        return Err(error);
    }
    if conditions.is_empty() {
        return Ok(None);
    }
    let variants = (0..1_usize << conditions.len())
        .map(|mask| {
            let holds = |key: &str| {
                let index = conditions.iter().position(|c| c.key == key);
                index.is_some_and(|i| mask & (1 << i) != 0)
            };
            // (`syn` is built without `clone-impls`: each copy is parsed anew.)
            let mut copy = syn::parse2::<Item>(item.clone())?;
            resolve(&mut copy, &holds)?;
            let terms = conditions.iter().enumerate().map(|(i, c)| {
                let predicate = &c.predicate;
                if mask & (1 << i) != 0 {
                    quote!(#predicate)
                } else {
                    quote!(not(#predicate))
                }
            });
            let predicate = quote!(all(#(#terms),*));
            if let Some(attrs) = item_attrs(&mut copy) {
                attrs.insert(0, syn::parse_quote!(#[cfg(#predicate)]));
            }
            Ok(Variant {
                predicate,
                item: copy.into_token_stream(),
            })
        })
        .collect::<syn::Result<Vec<_>>>()?;
    Ok(Some(variants))
}

/// Whether `tokens` hold the identifier `cfg` or `cfg_attr` anywhere (in
/// an attribute or not): only then can the item need splitting.
fn names_cfg(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => {
            let ident = syn::ext::IdentExt::unraw(&ident);
            ident == "cfg" || ident == "cfg_attr"
        }
        TokenTree::Group(group) => names_cfg(group.stream()),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}

/// `item` without the `#[cfg]`s and `#[cfg_attr]`s that [`split`] refuses
/// (a malformed predicate), for the item emitted after that error: rustc
/// would report each again.
pub(crate) fn without_refused(item: &TokenStream) -> TokenStream {
    let Ok(mut parsed) = syn::parse2::<Item>(item.clone()) else {
        return item.clone();
    };
    for attrs in conditional_attrs(&mut parsed) {
        attrs.retain(|attr| condition_of(attr).is_ok());
    }
    parsed.into_token_stream()
}

struct Condition {
    key: String,
    predicate: TokenStream,
}

/// `#[cfg(P)]` as `(P, None)`, `#[cfg_attr(P, a, b)]` as `(P, Some([a, b]))`,
/// anything else as `None`. `P` is taken as tokens (one predicate, not a
/// `syn::Meta`: `true` and `false` are predicates too), and is checked to
/// be one, as the copies wrap it in `all(..)` and `not(..)`: a malformed
/// one is refused on the attribute, which would otherwise get rustc's
/// error at `#[callback]` (or two copies that both hold).
fn condition_of(attr: &Attribute) -> syn::Result<Option<(TokenStream, Option<Vec<Meta>>)>> {
    let is_cfg = path_is(attr.path(), "cfg");
    if !is_cfg && !path_is(attr.path(), "cfg_attr") {
        return Ok(None);
    }
    let malformed = || {
        let message = if is_cfg {
            "`#[cfg(..)]` on a parameter or entry point takes exactly one predicate: \
             `#[cfg(unix)]`, `#[cfg(all(unix, debug_assertions))]`"
        } else {
            "`#[cfg_attr(..)]` on a parameter or entry point takes one predicate, then the \
             attributes: `#[cfg_attr(unix, user_data)]`"
        };
        syn::Error::new_spanned(attr, message)
    };
    let tokens = attr
        .meta
        .require_list()
        .map_err(|_| malformed())?
        .tokens
        .clone();
    let (predicate, rest) = split_at_comma(tokens);
    if predicate.is_empty() {
        return Err(malformed());
    }
    if !is_predicate(predicate.clone()) {
        return Err(syn::Error::new_spanned(
            &predicate,
            "not a `cfg` predicate: a name (`unix`), `name = \"value\"`, `all(..)`, \
             `any(..)`, `not(..)`, `true` or `false`",
        ));
    }
    if is_cfg {
        // One predicate, and at most a trailing comma.
        return match rest {
            Some(rest) if !rest.is_empty() => Err(malformed()),
            _ => Ok(Some((predicate, None))),
        };
    }
    let rest = rest.ok_or_else(malformed)?;
    let attrs = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(rest)
        .map_err(|error| {
            syn::Error::new_spanned(attr, format_args!("malformed `cfg_attr`: {error}"))
        })?;
    let attrs: Vec<Meta> = attrs.into_iter().collect();
    if let Some(nested) = attrs
        .iter()
        .find(|meta| path_is(meta.path(), "cfg") || path_is(meta.path(), "cfg_attr"))
    {
        return Err(syn::Error::new_spanned(
            nested,
            "`#[callback]` does not take a `cfg` or `cfg_attr` nested in a `cfg_attr` on a \
             parameter or entry point: write the conditions side by side",
        ));
    }
    Ok(Some((predicate, Some(attrs))))
}

/// Whether `tokens` are one `cfg` predicate as rustc reads them: `name`,
/// `name = "value"`, `true`, `false`, `all(..)`/`any(..)` of predicates, or
/// `not(..)` of one. (Checked here, so that a malformed one is refused on
/// the attribute rather than by rustc in every copy, at `#[callback]`.)
fn is_predicate(tokens: TokenStream) -> bool {
    let mut tokens = tokens.into_iter();
    let Some(TokenTree::Ident(name)) = tokens.next() else {
        return false;
    };
    let name = syn::ext::IdentExt::unraw(&name).to_string();
    match (tokens.next(), tokens.next(), tokens.next()) {
        (None, ..) => true,
        (Some(TokenTree::Group(group)), None, _)
            if group.delimiter() == proc_macro2::Delimiter::Parenthesis =>
        {
            let mut list = Vec::new();
            let mut rest = Some(group.stream());
            while let Some(tokens) = rest.take() {
                let (one, after) = split_at_comma(tokens);
                if one.is_empty() {
                    // Only a trailing comma (or an empty list) leaves none.
                    if after.is_some() {
                        return false;
                    }
                    break;
                }
                list.push(one);
                rest = after;
            }
            let arity_fits = match name.as_str() {
                "all" | "any" => true,
                "not" => list.len() == 1,
                _ => false,
            };
            arity_fits && list.into_iter().all(is_predicate)
        }
        (Some(TokenTree::Punct(eq)), Some(TokenTree::Literal(value)), None)
            if eq.as_char() == '=' =>
        {
            let value = value.to_string();
            value.starts_with('"') || value.starts_with("r\"") || value.starts_with("r#")
        }
        _ => false,
    }
}

/// The tokens before the first top-level comma, and those after it (`None`
/// without a comma).
fn split_at_comma(tokens: TokenStream) -> (TokenStream, Option<TokenStream>) {
    let mut tokens = tokens.into_iter();
    let mut before = TokenStream::new();
    for tt in tokens.by_ref() {
        if matches!(&tt, TokenTree::Punct(punct) if punct.as_char() == ',') {
            return (before, Some(tokens.collect()));
        }
        before.extend([tt]);
    }
    (before, None)
}

/// A `#[cfg]` or `#[cfg_attr]` on a generic parameter is refused: the
/// generated code names the generic parameters in many places (turbofish,
/// holder types) that cannot carry a condition.
fn refuse_on_generics(item: &Item) -> syn::Result<()> {
    let mut generics: Vec<&syn::Generics> = Vec::new();
    match item {
        Item::Fn(item) => generics.push(&item.sig.generics),
        Item::Type(item) => generics.push(&item.generics),
        Item::Trait(item) => {
            generics.push(&item.generics);
            for entry in &item.items {
                if let TraitItem::Fn(entry) = entry {
                    generics.push(&entry.sig.generics);
                }
            }
        }
        _ => {}
    }
    let attrs = generics
        .into_iter()
        .flat_map(|g| &g.params)
        .flat_map(|param| match param {
            syn::GenericParam::Type(param) => &param.attrs,
            syn::GenericParam::Lifetime(param) => &param.attrs,
            syn::GenericParam::Const(param) => &param.attrs,
        });
    for attr in attrs {
        if path_is(attr.path(), "cfg") || path_is(attr.path(), "cfg_attr") {
            return Err(syn::Error::new_spanned(
                attr,
                "`#[callback]` does not take a `#[cfg]` or `#[cfg_attr]` on a generic \
                 parameter: declare the callback once per configuration instead, each under \
                 its own `#[cfg]`",
            ));
        }
    }
    Ok(())
}

/// Every attribute list the split looks at: the parameters of a fn, of a
/// callback type's fn pointer, and of a set's entry points, and the entry
/// points themselves.
fn conditional_attrs(item: &mut Item) -> Vec<&mut Vec<Attribute>> {
    let mut lists = Vec::new();
    match item {
        Item::Fn(item) => lists.extend(item.sig.inputs.iter_mut().map(fn_arg_attrs_mut)),
        Item::Type(item) => {
            if let Some(function) = fn_ptr_mut(&mut item.ty) {
                lists.extend(function.inputs.iter_mut().map(|input| &mut input.attrs));
            }
        }
        Item::Trait(item) => {
            for entry in &mut item.items {
                if let TraitItem::Fn(entry) = entry {
                    lists.push(&mut entry.attrs);
                    lists.extend(entry.sig.inputs.iter_mut().map(fn_arg_attrs_mut));
                }
            }
        }
        _ => {}
    }
    lists
}

/// The fn pointer of a callback type alias, also inside `Option<..>` (as
/// bindgen writes it) and parentheses.
fn fn_ptr_mut(ty: &mut Type) -> Option<&mut TypeFnPtr> {
    match ty {
        Type::FnPtr(fn_ptr) => Some(fn_ptr),
        Type::Paren(paren) => fn_ptr_mut(&mut paren.elem),
        Type::Group(group) => fn_ptr_mut(&mut group.elem),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last_mut()?;
            if last.ident != "Option" {
                return None;
            }
            match &mut last.arguments {
                PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                    match args.args.first_mut() {
                        Some(GenericArgument::Type(Type::FnPtr(fn_ptr))) => Some(fn_ptr),
                        _ => None,
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn fn_arg_attrs_mut(input: &mut FnArg) -> &mut Vec<Attribute> {
    match input {
        FnArg::Receiver(receiver) => &mut receiver.attrs,
        FnArg::Typed(typed) => &mut typed.attrs,
    }
}

/// The item-level attributes, where the copy's `#[cfg]` goes.
fn item_attrs(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    match item {
        Item::Fn(item) => Some(&mut item.attrs),
        Item::Type(item) => Some(&mut item.attrs),
        Item::Trait(item) => Some(&mut item.attrs),
        _ => None,
    }
}

/// Applies one combination to `item`: drops the parameters and entry
/// points whose `cfg` fails, removes the `cfg`s that hold, and replaces
/// each `cfg_attr` by its attributes (if it holds) or nothing.
fn resolve(item: &mut Item, holds: &dyn Fn(&str) -> bool) -> syn::Result<()> {
    match item {
        Item::Fn(item) => {
            item.sig.inputs = filter(
                std::mem::take(&mut item.sig.inputs),
                holds,
                fn_arg_attrs_mut,
            )?;
        }
        Item::Type(item) => {
            if let Some(function) = fn_ptr_mut(&mut item.ty) {
                function.inputs = filter(std::mem::take(&mut function.inputs), holds, |input| {
                    &mut input.attrs
                })?;
            }
        }
        Item::Trait(item) => {
            let mut kept = Vec::new();
            for mut entry in std::mem::take(&mut item.items) {
                if let TraitItem::Fn(entry) = &mut entry {
                    if !apply(&mut entry.attrs, holds)? {
                        continue;
                    }
                    entry.sig.inputs = filter(
                        std::mem::take(&mut entry.sig.inputs),
                        holds,
                        fn_arg_attrs_mut,
                    )?;
                }
                kept.push(entry);
            }
            item.items = kept;
        }
        _ => {}
    }
    Ok(())
}

/// The elements of `list` that this combination keeps, their conditions
/// applied.
fn filter<T, P: Default>(
    list: Punctuated<T, P>,
    holds: &dyn Fn(&str) -> bool,
    attrs: impl Fn(&mut T) -> &mut Vec<Attribute>,
) -> syn::Result<Punctuated<T, P>> {
    let mut kept = Punctuated::new();
    for mut element in list {
        if apply(attrs(&mut element), holds)? {
            kept.push(element);
        }
    }
    Ok(kept)
}

/// Applies the combination to one attribute list; false if a `cfg` fails.
fn apply(attrs: &mut Vec<Attribute>, holds: &dyn Fn(&str) -> bool) -> syn::Result<bool> {
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in std::mem::take(attrs) {
        match condition_of(&attr)? {
            None => kept.push(attr),
            Some((predicate, None)) => {
                if !holds(&predicate.to_string()) {
                    return Ok(false);
                }
            }
            Some((predicate, Some(metas))) => {
                if holds(&predicate.to_string()) {
                    let span = attr.pound_token.span;
                    kept.extend(
                        metas
                            .into_iter()
                            .map(|meta| syn::parse_quote_spanned!(span=> #[#meta])),
                    );
                }
            }
        }
    }
    *attrs = kept;
    Ok(true)
}
