//! Stage 3 entry: options, parse, check, then the form's expansion. On any
//! error the item is still emitted (without its `#[user_data]` markers)
//! beside the `compile_error!`s, so one mistake does not cascade.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::{Attribute, Type};

use crate::check::{check_fn, check_type};
use crate::errors::Errors;
use crate::options::{OnPanic, Options};
use crate::parse::{self, Callback};
use crate::{expand_fn, expand_type};

/// The whole macro, on `proc_macro2` streams so that tests can call it.
pub(crate) fn callback(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = Options::parse(args, &mut errors);
    let parsed = match parse::parse(item.clone(), &mut errors) {
        Ok(parsed) => parsed,
        Err(error) => {
            errors.push(error);
            let error = errors.into_result().err().map(|e| e.to_compile_error());
            return quote!(#error #item);
        }
    };
    match parsed {
        Callback::Fn(item) => {
            check_fn(&item, &options, &mut errors);
            match errors.into_result() {
                Ok(()) => expand_fn::expand(&item, &options),
                Err(error) => {
                    let error = error.to_compile_error();
                    let item = expand_fn::unchanged(&item);
                    quote!(#error #item)
                }
            }
        }
        Callback::Type(item) => {
            check_type(&item, &options, &mut errors);
            match errors.into_result() {
                Ok(()) => expand_type::expand(&item, &options),
                Err(error) => {
                    let error = error.to_compile_error();
                    let item = expand_type::unchanged(&item);
                    quote!(#error #item)
                }
            }
        }
    }
}

/// The runtime's path as generated code writes it. A `crate = path` keeps
/// the user's locations, so errors about it still point there, but
/// resolves and is linted as the macro's own tokens: the expansion repeats
/// the path dozens of times, and lints such as `unused_qualifications`
/// (on `crate = crate::rt` at the crate root) would otherwise report each
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

/// `Resume`, `Abort`, ... marker type for the runtime.
pub(crate) fn policy_type(runtime: &TokenStream, policy: OnPanic) -> TokenStream {
    let name = match policy {
        OnPanic::Resume => quote!(Resume),
        OnPanic::Abort => quote!(Abort),
        OnPanic::Fallback => quote!(Fallback),
        OnPanic::Unwind => quote!(Unwind),
    };
    quote!(#runtime::__private::policy::#name)
}

/// The fallback the runtime calls on its cold path: `|| EXPR`, or the
/// return type's `Fallback` impl (spanned on the return type, so a type
/// without one is reported there), or nothing for policies that never
/// return one.
pub(crate) fn fallback_fn(
    runtime: &TokenStream,
    options: &Options,
    output: &syn::ReturnType,
) -> TokenStream {
    if !options.policy().returns_fallback() {
        return quote!(#runtime::__private::no_fallback);
    }
    if let Some((expr, _)) = &options.fallback {
        return quote!(|| #expr);
    }
    match output {
        syn::ReturnType::Default => quote!(<() as #runtime::__private::Fallback>::fallback),
        // A closure, not the fn item: passing the fn item would make rustc
        // report a missing `Fallback` a second time, on the call site.
        syn::ReturnType::Type(_, ty) => {
            let span = spanned_type(ty);
            quote::quote_spanned!(span=> || <#ty as #runtime::__private::Fallback>::fallback())
        }
    }
}

/// The span to hang an error about `ty` on. `Span::join` is not available
/// on stable, so the first token stands for the type.
pub(crate) fn spanned_type(ty: &Type) -> Span {
    ty.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |tt| tt.span())
}

/// `#[cfg]`/`#[cfg_attr]` and lint levels of the item, to repeat on every
/// generated item (so `#[allow(improper_ctypes_definitions)]` on the alias
/// reaches its trampolines).
pub(crate) fn cfg_attrs(attrs: &[Attribute]) -> Vec<&Attribute> {
    const SHARED: &[&str] = &["cfg", "cfg_attr", "allow", "warn", "deny", "forbid"];
    attrs
        .iter()
        .filter(|a| SHARED.iter().any(|name| a.path().is_ident(name)))
        .collect()
}

/// `module::path::Name` for the runtime's messages.
pub(crate) fn site(runtime: &TokenStream, name: &syn::Ident) -> TokenStream {
    let name = name.to_string();
    quote! {
        static __FFI_CALLBACK_SITE: #runtime::__private::Site = #runtime::__private::Site {
            name: #runtime::__private::core::concat!(
                #runtime::__private::core::module_path!(), "::", #name
            ),
        };
    }
}

/// Whether the doc comments already have a `# Safety` section.
pub(crate) fn documents_safety(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .any(|a| a.to_token_stream().to_string().contains("# Safety"))
}
