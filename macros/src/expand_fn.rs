//! Stage 3, form 1: a `#[callback]` fn becomes a C-ABI shim with the same
//! name whose body is one call into the runtime (`call_fn`), which unpacks
//! the user data and runs the user's body, kept as a closure, under the
//! panic policy.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitStr, Pat};

use crate::check::ResolvedAbi;
use crate::expand::{documents_safety, fallback_fn, policy_type, site};
use crate::options::Options;
use crate::parse::CallbackFn;

/// The shim's name for a parameter: the user's own when the pattern is a
/// plain binding (so docs and `user_data = EXPR` can use it), else a
/// hygienic one.
fn param_name(pat: &Pat, index: usize) -> Ident {
    match pat {
        Pat::Ident(binding) if binding.by_ref.is_none() && binding.subpat.is_none() => {
            binding.ident.clone()
        }
        _ => format_ident!("__ffi_arg{}", index, span = Span::mixed_site()),
    }
}

/// Whether `tokens` contain the identifier `name`.
fn mentions(tokens: TokenStream, name: &Ident) -> bool {
    tokens.into_iter().any(|tt| match tt {
        proc_macro2::TokenTree::Ident(ident) => ident == *name,
        proc_macro2::TokenTree::Group(group) => mentions(group.stream(), name),
        _ => false,
    })
}

pub(crate) fn expand(item: &CallbackFn, options: &Options) -> TokenStream {
    let runtime = crate::expand::runtime(options);
    let abi = ResolvedAbi::resolve(item.abi.as_ref(), item.fn_span);
    let abi = LitStr::new(&abi.name, abi.span);
    let policy = policy_type(&runtime, options.policy());
    let fallback = fallback_fn(&runtime, options, &item.output);
    // Bound outside the shim's `unsafe` block: `fallback = EXPR` is the
    // user's code and needs its own `unsafe` for unsafe operations.
    let fallback_var = Ident::new("__ffi_fallback", Span::mixed_site());
    let c_void = quote!(#runtime::__private::core::ffi::c_void);

    let user_data = item.params.iter().position(|p| !p.user_data.is_empty());
    let fetched = options.user_data.as_ref().map(|(expr, _)| expr);

    let mut c_params = Vec::new();
    // The body becomes one closure taking the user data (or `()`), which
    // rebinds the C parameters with the user's own patterns and runs the
    // block: `return`, `?`, patterns, generics and `Self` keep their meaning.
    let mut body_param = None;
    let mut body_lets = Vec::new();
    let mut user_data_slot = None;
    for (index, param) in item.params.iter().enumerate() {
        let name = param_name(&param.pat, index);
        let (attrs, pat, ty) = (&param.attrs, &param.pat, &param.ty);
        // A parameter that `user_data = EXPR` reads is used, even if the
        // body (a closure here) does not read it.
        let read_by_fetch = fetched
            .is_some_and(|expr| mentions(expr.to_token_stream(), &name))
            .then(|| quote!(#[allow(unused_variables)]));
        if Some(index) == user_data {
            body_param = Some(quote!(#(#attrs)* #pat: #ty));
            if fetched.is_none() {
                let slot = match &param.user_data[0].slot {
                    Some(slot) => quote!(#slot),
                    None => quote!(*mut #c_void),
                };
                c_params.push(quote!(#(#attrs)* #name: #slot));
                user_data_slot = Some((name, slot));
            }
        } else {
            c_params.push(quote!(#(#attrs)* #name: #ty));
            body_lets.push(quote!(#(#attrs)* #read_by_fetch let #pat: #ty = #name;));
        }
    }

    let has_user_data = user_data.is_some();
    let received = match user_data {
        Some(index) => {
            let ty = &item.params[index].ty;
            quote_spanned!(ty.span()=> #ty)
        }
        None => quote!(()),
    };
    let require_received = user_data.map(|index| {
        let ty = &item.params[index].ty;
        quote_spanned! {ty.span()=>
            let _ = <#ty as #runtime::__private::UserDataParam>::NON_NULL;
        }
    });
    let body = Ident::new("__ffi_body", Span::mixed_site());
    let body_param = body_param.unwrap_or_else(|| quote!(()));
    let site_static = site(&runtime, &item.ident);
    let site_ref = quote!(&__FFI_CALLBACK_SITE);

    let call = match (fetched, &user_data_slot) {
        (Some(expr), _) => quote! {
            #runtime::__private::call_fn_fetch::<#policy, #received, _>(
                #site_ref,
                || #runtime::__private::UserDataSlot::into_ptr(
                    #[allow(unused_unsafe)]
                    unsafe { #expr }
                ),
                #fallback_var,
                #body,
            )
        },
        (None, Some((name, slot))) => {
            let into_ptr = quote_spanned! {slot.span()=>
                <#slot as #runtime::__private::UserDataSlot>::into_ptr(#name)
            };
            quote! {
                #runtime::__private::call_fn::<#policy, #received, _>(
                    #site_ref,
                    #into_ptr,
                    #fallback_var,
                    #body,
                )
            }
        }
        (None, None) => quote! {
            #runtime::__private::call_fn::<#policy, (), _>(
                #site_ref,
                #runtime::__private::core::ptr::null_mut(),
                #fallback_var,
                #body,
            )
        },
    };

    let shim_unsafe = match (
        has_user_data && options.safe_fn.is_none(),
        item.written_unsafe,
    ) {
        (_, Some(span)) => Some(quote_spanned!(span=> unsafe)),
        (true, None) => Some(quote!(unsafe)),
        (false, None) => None,
    };
    let safety_doc = (shim_unsafe.is_some() && has_user_data && !documents_safety(&item.attrs))
        .then(|| {
            let lines = [
                "",
                " # Safety",
                "",
                " Made `unsafe` by `#[callback]`: the user data must be null or come from",
                " `ffi_callback::user_data`, `user_data_ref` or `user_data_box` for a value of the",
                " type the callback receives, alive and otherwise unused for the duration of the call.",
            ];
            quote!(#(#[doc = #lines])*)
        });
    let (attrs, vis, ident) = (outer_attrs(item), &item.vis, &item.ident);
    let generics = &item.generics;
    let where_clause = &item.generics.where_clause;
    let output = &item.output;
    // A closure's body takes no inner attributes: they go on a nested block.
    let block = match user_block(item) {
        block if inner_attrs(item).next().is_some() => quote!({ #block }),
        block => block,
    };
    let fn_token = quote_spanned!(item.fn_span=> fn);

    quote! {
        #[deny(improper_ctypes_definitions)]
        #(#attrs)*
        #safety_doc
        #[deny(unsafe_op_in_unsafe_fn)]
        #vis #shim_unsafe extern #abi #fn_token #ident #generics (#(#c_params),*) #output #where_clause {
            #site_static
            #require_received
            let #body = move |#body_param| #output { #(#body_lets)* #block };
            let #fallback_var = #fallback;
            #[allow(unused_unsafe)]
            unsafe { #call }
        }
    }
}

/// The attributes before the fn. (syn files the body's inner attributes,
/// `#![allow(..)]`, with the fn's; printed before the fn they would be an
/// error.)
fn outer_attrs(item: &CallbackFn) -> impl Iterator<Item = &syn::Attribute> {
    item.attrs
        .iter()
        .filter(|a| matches!(a.style, syn::AttrStyle::Outer))
}

fn inner_attrs(item: &CallbackFn) -> impl Iterator<Item = &syn::Attribute> {
    item.attrs
        .iter()
        .filter(|a| matches!(a.style, syn::AttrStyle::Inner(_)))
}

/// The body as written, its inner attributes included.
fn user_block(item: &CallbackFn) -> TokenStream {
    let mut tokens = TokenStream::new();
    item.block.brace_token.surround(&mut tokens, |tokens| {
        tokens.extend(inner_attrs(item).map(ToTokens::to_token_stream));
        tokens.extend(item.block.stmts.iter().map(ToTokens::to_token_stream));
    });
    tokens
}

/// The fn as written, minus `#[user_data]`, for when the item has errors.
pub(crate) fn unchanged(item: &CallbackFn) -> TokenStream {
    let (attrs, vis, ident, generics) = (outer_attrs(item), &item.vis, &item.ident, &item.generics);
    let where_clause = &item.generics.where_clause;
    let params = item.params.iter().map(|p| {
        let (attrs, pat, ty) = (&p.attrs, &p.pat, &p.ty);
        quote!(#(#attrs)* #pat: #ty)
    });
    let abi = &item.abi;
    let unsafety = item
        .written_unsafe
        .map(|span| quote_spanned!(span=> unsafe));
    let (output, block) = (&item.output, user_block(item));
    quote! {
        #(#attrs)*
        #vis #unsafety #abi fn #ident #generics (#(#params),*) #output #where_clause #block
    }
}
