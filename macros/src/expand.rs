//! Stage 3 entry: options, parse, check, then the form's expansion. On any
//! error the item is still emitted (without its `#[user_data]` markers)
//! beside the `compile_error!`s, so one mistake does not cascade.

use proc_macro2::{Span, TokenStream};
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
        syn::ReturnType::Type(_, ty) => {
            let span = spanned_type(ty);
            quote::quote_spanned!(span=> <#ty as #runtime::__private::Fallback>::fallback)
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

/// `#[cfg]`/`#[cfg_attr]` of the item, to repeat on every generated item.
pub(crate) fn cfg_attrs(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
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
