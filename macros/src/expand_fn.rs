//! Printer, form 1: a `#[callback]` fn becomes a C-ABI trampoline with the same
//! name whose body is one call into the runtime (`call_fn`), which unpacks
//! the user data and runs the user's body, kept as a safe fn of its own
//! (as are `fallback`, `on_error`, `user_data` and the raise exit), under
//! the panic policy; beside it, a module of the same name with the typed
//! user-data constructor.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Pat};

use crate::model::{FallbackValue, FnModel, FnUserData, KeepError, UserDataSource};
use crate::parse::CallbackFn;
use crate::tokens::{
    borrow_contract, call_after, converted_args, documents_safety, error_binding, fallback_closure,
    first_span, len_var, mentions, on_error_closure, reads_reason, reason_binding, safe_fn_promise,
    site, tidy,
};

/// The trampoline's name for a parameter: the user's own when the pattern is a
/// plain binding (so docs and `user_data = EXPR` can use it), else a
/// hygienic one. An `_unused` name that no option expression (`exprs`)
/// reads keeps its text (the docs show it) but gets the macro's span: the
/// trampoline passes every parameter on, and clippy's
/// `used_underscore_binding` would blame the user's name for that use.
fn param_name(pat: &Pat, index: usize, exprs: &[TokenStream]) -> Ident {
    match pat {
        Pat::Ident(binding) if binding.by_ref.is_none() && binding.subpat.is_none() => {
            let name = binding.ident.to_string();
            if !name.starts_with('_') || exprs.iter().any(|expr| mentions(expr.clone(), &name)) {
                return binding.ident.clone();
            }
            // Not a raw identifier: raw ones do not start with `_`.
            Ident::new(&name, Span::call_site())
        }
        _ => format_ident!("__ffi_arg{}", index, span = Span::mixed_site()),
    }
}

pub(crate) fn print(model: &FnModel<'_>) -> TokenStream {
    let item = model.item;
    let common = &model.common;
    let runtime = &common.runtime;
    let abi = common.abi.literal();
    let policy = common.policy.marker(runtime);
    let c_ret = model.output.c_type;
    let fallback_var = Ident::new("__ffi_fallback", Span::mixed_site());
    let on_error_var = Ident::new("__ffi_on_error", Span::mixed_site());
    let on_raise_var = Ident::new("__ffi_on_raise", Span::mixed_site());
    let fetch_var = Ident::new("__ffi_fetch", Span::mixed_site());
    // Not words a user's constant could take (a `const value` in scope
    // makes `value` a pattern matching it, hygiene or not).
    let (result, value) = (
        Ident::new("__ffi_result", Span::mixed_site()),
        Ident::new("__ffi_value", Span::mixed_site()),
    );
    let accessor = match &model.user_data {
        Some(user_data) => match &user_data.source {
            UserDataSource::Accessor(expr) => Some(expr),
            UserDataSource::Param(_) => None,
        },
        None => None,
    };
    // The user's expressions besides the body, each compiled in a helper
    // fn of its own that receives the C parameters it names.
    let exprs = user_exprs(model);
    let helpers = Helpers::new(model);

    // The C parameters: the trampoline's (name, attributes, C type).
    let mut c_params = Vec::new();
    // The body's parameters, as the user wrote them (the user data as its
    // received type, a converted parameter as its `#[into(Type)]`), and
    // the trampoline's names for them.
    let mut body_params = Vec::new();
    let mut names = Vec::new();
    let mut user_data_arg_for_body = None;
    let mut lent = None;
    let mut user_data_arg = quote!(#runtime::__private::core::ptr::null_mut());
    for (index, param) in item.params.iter().enumerate() {
        let name = param_name(&param.pat, index, &exprs);
        let (attrs, pat, ty) = (&param.attrs, &param.pat, &param.ty);
        names.push(name.clone());
        // A parameter that another expression reads is used, even if the
        // body does not read it.
        let read_elsewhere = exprs
            .iter()
            .any(|expr| mentions(expr.clone(), &name.to_string()))
            .then(|| quote!(#[allow(unused_variables)]));
        let body_ty = match &model.conversions[index] {
            Some(conversion) => conversion.target.to_token_stream(),
            None => ty.to_token_stream(),
        };
        body_params.push(quote!(#(#attrs)* #read_elsewhere #pat: #body_ty));
        match &model.user_data {
            Some(user_data) if user_data.index == index => {
                // What the runtime lends for the call; a simple binding
                // keeps its name, for the error when the received type asks
                // for longer (an alias of `&'static mut T`).
                let lent_name = match &**pat {
                    Pat::Ident(_) => name.clone(),
                    _ => Ident::new("__ffi_user_data", Span::mixed_site()),
                };
                // Located at the received type (for its errors), resolved
                // as the closure's parameter is (mixed-site for a pattern).
                let mut arg = lent_name.clone();
                arg.set_span(arg.span().located_at(first_span(ty)));
                user_data_arg_for_body = Some((index, arg.into_token_stream()));
                lent = Some(lent_name);
                if let UserDataSource::Param(slot) = &user_data.source {
                    let slot = slot.map_or_else(
                        || crate::tokens::c_void_pointer(runtime).into_token_stream(),
                        ToTokens::to_token_stream,
                    );
                    let into_ptr = quote_spanned! {slot.span()=>
                        <#slot as #runtime::__private::UserDataSlot>::into_ptr(#name)
                    };
                    c_params.push((name, attrs, slot));
                    user_data_arg = into_ptr;
                }
            }
            _ => c_params.push((name, attrs, ty.to_token_stream())),
        }
    }
    // What the body receives: each C argument, converted where
    // `#[into(Type)]` says (inside the call, where a refusal is handled
    // as the body's panic), and the user data the runtime lends. A fn may
    // be called on any thread, so borrows are checked as a slot-less
    // type's are.
    let site_ref = quote!(&__FFI_CALLBACK_SITE);
    let (prelude, mut body_args) = converted_args(
        &names,
        &model.conversions,
        None,
        &quote!(#runtime::__private),
        &site_ref,
        true,
        true,
    );
    if let Some((index, arg)) = user_data_arg_for_body {
        body_args[index] = arg;
    }
    // The C parameters `expr` names (all of them may be used), as helper
    // parameters and as arguments, leaving out `except` (the helper's own
    // `e` or `failure`).
    let named_params = |expr: &TokenStream, except: Option<&str>| {
        let named = c_params.iter().filter(|(name, ..)| {
            let name = name.to_string();
            except != Some(name.as_str()) && mentions(expr.clone(), &name)
        });
        let params: Vec<TokenStream> = named
            .clone()
            .map(|(name, attrs, ty)| quote!(#(#attrs)* #[allow(unused_variables)] #name: #ty))
            .collect();
        let args: Vec<&Ident> = named.map(|(name, ..)| name).collect();
        (params, args)
    };

    let received = match &model.user_data {
        Some(user_data) => {
            let ty = &user_data.received;
            quote_spanned!(ty.span()=> #ty)
        }
        None => quote!(()),
    };
    let body_ret = model.output.body_type.as_ref().map(|ty| quote!(-> #ty));
    let error_type = match (&model.output.error, &model.output.body_type, c_ret) {
        (Some(error), _, _) => quote!(#error),
        (None, Some(body), Some(c_ret)) if model.output.is_result => {
            quote!(<#body as #runtime::CallbackReturn<#c_ret>>::Error)
        }
        _ => quote!(#runtime::__private::core::convert::Infallible),
    };
    let c_output = c_ret.map(|ty| quote!(-> #ty));
    let mut helper_items = Vec::new();

    // The body: a safe fn with the user's parameters, patterns and block
    // (`return`, `?`, generics and `Self` keep their meaning), inlined
    // into the trampoline's fast path and its cold copy alike.
    // A closure's block takes no inner attributes: they go on a block in it.
    let block = match user_block(item) {
        block if helpers.in_safe_shim && inner_attrs(item).next().is_some() => quote!({ #block }),
        block => block,
    };
    let body_fn = helpers.item(
        "body",
        &body_params,
        body_ret.as_ref(),
        block,
        &mut helper_items,
    );
    let body_param = match &lent {
        Some(lent) => quote!(#lent),
        None => quote!(()),
    };
    // Written in the runtime call, where its signature is taken from the
    // runtime's higher-ranked bound: the user data is lent for one call.
    // Located at the received type, so that a type that is no user data,
    // or asks for the user data for longer than the call (an alias of
    // `&'static mut T`), is reported there.
    // `keep_error = false`: an `Err` ends inside the call, through
    // `on_error`, and the runtime sees the plain C value; `keep_error =
    // EXPR`: those EXPR says no to (the others stay `Err`).
    let keep_var = Ident::new("__ffi_keep_error", Span::mixed_site());
    let ended_var = Ident::new("__ffi_on_error_ended", Span::mixed_site());
    let end_error = |call: TokenStream| match common.keep_error {
        KeepError::Always => call,
        KeepError::Never => {
            quote!(#runtime::__private::end_error(#site_ref, #call, #on_error_var))
        }
        KeepError::When(_) => {
            quote!(#runtime::__private::end_error_unless(#site_ref, #call, #keep_var, #ended_var))
        }
    };
    let body = match &model.user_data {
        Some(user_data) => {
            let located = Span::call_site().located_at(first_span(user_data.received));
            let body_fn = crate::tokens::respan(body_fn, located);
            // The call's parentheses too: a borrow error is reported at
            // the whole call.
            let call = end_error(quote_spanned!(located=> #body_fn(#(#body_args),*)));
            if prelude.is_empty() {
                quote_spanned!(located=> move |#body_param| #call)
            } else {
                quote_spanned!(located=> move |#body_param| { #prelude #call })
            }
        }
        None => {
            let call = call_after(&prelude, body_fn, &body_args);
            let call = end_error(call);
            quote!(move |#body_param| #call)
        }
    };
    // `len = EXPR` of each borrowed slice, a helper reading the C
    // parameters it names, run inside the call (`converted_args`).
    let lens: TokenStream = model
        .conversions
        .iter()
        .enumerate()
        .filter_map(|(index, conversion)| {
            let len = conversion.as_ref()?.len?.to_token_stream();
            let (params, args) = named_params(&len, None);
            let callee = helpers.item(
                &format!("len{index}"),
                &params,
                Some(&quote!(-> usize)),
                quote!({ #len }),
                &mut helper_items,
            );
            let var = len_var(index);
            Some(quote!(let #var = move || #callee(#(#args),*);))
        })
        .collect();

    let fallback = match &common.fallback {
        FallbackValue::Expr(written) => {
            let expr = written.to_token_stream();
            let reads_why = reads_reason(written);
            let (mut params, args) = named_params(&expr, reads_why.then_some("why"));
            if reads_why {
                let why = reason_binding(written);
                params.insert(0, quote!(#[allow(unused_variables)] #why: &str));
            }
            let callee = helpers.item(
                "fallback",
                &params,
                c_output.as_ref(),
                quote!({ #expr }),
                &mut helper_items,
            );
            if reads_why {
                let why = Ident::new("__ffi_why", Span::mixed_site());
                quote!(|| #runtime::__private::with_reason(|#why| #callee(#why, #(#args),*)))
            } else {
                quote!(|| #callee(#(#args),*))
            }
        }
        _ => fallback_closure(common, c_ret),
    };
    let on_error = match common.on_error {
        Some(expr) => {
            let e = error_binding(expr);
            let expr = expr.to_token_stream();
            let (mut params, args) = named_params(&expr, Some("e"));
            params.insert(0, quote!(#[allow(unused_variables)] #e: &#error_type));
            let callee = helpers.item(
                "on_error",
                &params,
                c_output.as_ref(),
                quote!({ #expr }),
                &mut helper_items,
            );
            let error = Ident::new("__ffi_error", Span::mixed_site());
            quote!(|#error: &#error_type| #callee(#error, #(#args),*))
        }
        None => on_error_closure(
            common,
            &error_type,
            c_ret,
            &fallback_var,
            model.output.is_result,
        ),
    };
    let fetch = accessor.map(|expr| {
        let expr = expr.to_token_stream();
        let (params, args) = named_params(&expr, None);
        let span = expr.span();
        let pointer = crate::tokens::c_void_pointer(runtime);
        let fetched = quote_spanned! {span=>
            <_ as #runtime::__private::FetchedUserData<#received>>::into_user_data_ptr(#expr)
        };
        let callee = helpers.item(
            "user_data",
            &params,
            Some(&quote!(-> #pointer)),
            quote!({ #fetched }),
            &mut helper_items,
        );
        quote!(let #fetch_var = || #callee(#(#args),*);)
    });
    let site_value = site(runtime, &[&item.ident]);
    let promise = safe_fn_promise(common);

    let filter_ref = quote!(&__FFI_CALLBACK_FILTER);
    // Under `keep_error = false` the body ends its own `Err`s.
    let runtime_on_error = match common.keep_error {
        KeepError::Never => quote!(#runtime::__private::no_error),
        _ => quote!(#on_error_var),
    };
    // `keep_error = EXPR`: a helper reading `e` and the C parameters it
    // names, and `on_error` a second time, for the errors it ends.
    let keep_error = common.keep_error.expr().map(|expr| {
        let e = error_binding(expr);
        let expr = expr.to_token_stream();
        let (mut params, args) = named_params(&expr, Some("e"));
        params.insert(0, quote!(#[allow(unused_variables)] #e: &#error_type));
        let callee = helpers.item(
            "keep_error",
            &params,
            Some(&quote!(-> bool)),
            quote!({ #expr }),
            &mut helper_items,
        );
        let error = Ident::new("__ffi_error", Span::mixed_site());
        quote! {
            let #keep_var = |#error: &#error_type| #callee(#error, #(#args),*);
            let #ended_var = #on_error;
        }
    });
    // The poison filter, only where the policy keeps panics (a raising
    // callback has no use for it).
    let filter = common.raise.is_none().then(|| {
        quote!(static __FFI_CALLBACK_FILTER: #runtime::__private::PoisonFilter = #runtime::__private::PoisonFilter::NEW;)
    });
    let call = match (accessor, &common.raise) {
        (Some(_), None) => quote! {
            #runtime::__private::call_fn_fetch::<#policy, #received, _, _, _>(
                #fetch_var, #body, #runtime_on_error, #fallback_var, #site_ref, #filter_ref,
            )
        },
        (None, None) => quote! {
            #runtime::__private::call_fn::<#policy, #received, _, _>(
                #body, #user_data_arg, #runtime_on_error, #fallback_var, #site_ref, #filter_ref,
            )
        },
        (Some(_), Some(_)) => quote! {
            #runtime::__private::raise::call_fn_fetch_raising::<#received, _, _, _>(
                #site_ref, #fetch_var, #body, #on_raise_var,
            )
        },
        (None, Some(_)) => quote! {
            #runtime::__private::raise::call_fn_raising::<#received, _, _>(
                #site_ref, #user_data_arg, #body, #on_raise_var,
            )
        },
    };
    // The raise exit: `on_raise` (reading `failure`) runs inside the
    // runtime's catch; the diverging call comes after it returns, from this
    // frame, where nothing with a destructor is alive any more.
    let (on_raise, finish) = match &common.raise {
        Some(raise) => {
            let failure_type = quote!(#runtime::Failure<'_, #error_type>);
            let failure = Ident::new("__ffi_failure", Span::mixed_site());
            let prepare = match raise.prepare {
                Some(expr) => {
                    let expr = expr.to_token_stream();
                    let named = Ident::new("failure", Span::call_site());
                    let (mut params, args) = named_params(&expr, Some("failure"));
                    params.insert(0, quote!(#[allow(unused_variables)] #named: #failure_type));
                    let callee = helpers.item(
                        "on_raise",
                        &params,
                        None,
                        quote!({ #expr; }),
                        &mut helper_items,
                    );
                    quote!(#callee(#failure, #(#args),*))
                }
                None => quote!(),
            };
            let expr = raise.call.to_token_stream();
            let (params, args) = named_params(&expr, None);
            let raise_call = helpers.item(
                "raise",
                &params,
                None,
                quote!({ #expr; }),
                &mut helper_items,
            );
            (
                quote! {
                    #[allow(unused_variables)]
                    let #on_raise_var = |#failure: #failure_type| { #prepare; };
                },
                quote! {
                    match #result {
                        #runtime::__private::core::result::Result::Ok(#value) => #value,
                        #runtime::__private::core::result::Result::Err(_) => {
                            #raise_call(#(#args),*);
                            #runtime::__private::raise::raise_returned(&__FFI_CALLBACK_SITE)
                        }
                    }
                },
            )
        }
        None => (
            quote! {
                let #fallback_var = #fallback;
                let #on_error_var = #on_error;
                #keep_error
            },
            quote!(),
        ),
    };
    let call = if common.raise.is_some() {
        quote! {
            // SAFETY: the user data is null or was made for this fn's
            // received type, and a borrowed (`#[into(&..)]`) parameter is
            // null (refused inside the call) or points at what it is
            // borrowed as, valid for the call (the `unsafe` C call's
            // contract, or `unsafe(safe_fn)`'s promise).
            let #result = unsafe { #call };
            #finish
        }
    } else {
        quote! {
            // SAFETY: the user data is null or was made for this fn's
            // received type, and a borrowed (`#[into(&..)]`) parameter is
            // null (refused inside the call) or points at what it is
            // borrowed as, valid for the call (the `unsafe` C call's
            // contract, or `unsafe(safe_fn)`'s promise).
            unsafe { #call }
        }
    };
    let shim_unsafe = match (model.shim_unsafe, item.written_unsafe) {
        (_, Some(span)) => Some(quote_spanned!(span=> unsafe)),
        (true, None) => Some(quote!(unsafe)),
        (false, None) => None,
    };
    let safety_doc = (model.shim_unsafe
        && (model.user_data.is_some() || model.borrows())
        && !documents_safety(&item.attrs))
    .then(|| safety_doc(model));
    let fallback_doc = fallback_doc(model);
    let c_params = c_params
        .iter()
        .map(|(name, attrs, ty)| quote!(#(#attrs)* #name: #ty));
    let (attrs, vis, ident) = (outer_attrs(item), &item.vis, &item.ident);
    let generics = &item.generics;
    let where_clause = &item.generics.where_clause;
    let fn_token = quote_spanned!(item.fn_span=> fn);
    let module = typed_constructor(model);
    // Nested in the trampoline (items first), or beside it in the impl.
    let (nested, beside) = if helpers.in_impl && !helpers.in_safe_shim {
        (Vec::new(), helper_items)
    } else {
        (helper_items, Vec::new())
    };

    // `send`: the received type must be usable on another thread; checked
    // here, where the shim names it (its generics in scope), and reported
    // at the type.
    let send_check = model
        .user_data
        .as_ref()
        .filter(|_| model.send)
        .map(|user_data| {
            let ty = user_data.received;
            quote_spanned!(ty.span()=> #runtime::__private::check_send_fn_user_data::<#ty>();)
        });
    let slice_checks = crate::tokens::slice_size_checks_as(
        &model.conversions,
        &quote!(#runtime::__private),
        model.in_impl,
    );
    quote! {
        #[deny(improper_ctypes_definitions)]
        #(#attrs)*
        #fallback_doc
        #safety_doc
        #[forbid(unsafe_op_in_unsafe_fn)]
        #vis #shim_unsafe extern #abi #fn_token #ident #generics (#(#c_params),*) #c_output #where_clause {
            static __FFI_CALLBACK_SITE: #runtime::__private::Site = #site_value;
            #filter
            #slice_checks
            #send_check
            #promise
            #(#nested)*
            #on_raise
            #fetch
            #lens
            #call
        }
        #(#beside)*
        #module
    }
}

/// Where the user's code goes: safe fns of its own, never inside the
/// trampoline's `unsafe fn` body (there only `unsafe_op_in_unsafe_fn`
/// would keep it safe, a lint that rustc does not report for code from
/// another crate's macro: `extmac::read_ptr!(p)` would compile without
/// `unsafe`). In a free fn they are nested in the trampoline (an item in
/// a fn body has its own safety context; the fn's generics are declared
/// again and passed); in an impl block (the fn names `Self`, or has no
/// typed constructor beside it) they are associated fns beside it.
/// `user_data = EXPR`, `fallback = EXPR`, `on_error = EXPR`, `raise = EXPR`,
/// `on_raise = EXPR` and the `len = EXPR` of `#[into(..)]`, where given.
fn user_exprs(model: &FnModel<'_>) -> Vec<TokenStream> {
    let common = &model.common;
    [
        match &model.user_data {
            Some(FnUserData {
                source: UserDataSource::Accessor(expr),
                ..
            }) => Some(expr.to_token_stream()),
            _ => None,
        },
        match &common.fallback {
            FallbackValue::Expr(expr) => Some(expr.to_token_stream()),
            _ => None,
        },
        common.on_error.map(ToTokens::to_token_stream),
        common.raise.as_ref().map(|r| r.call.to_token_stream()),
        common
            .raise
            .as_ref()
            .and_then(|r| r.prepare)
            .map(ToTokens::to_token_stream),
    ]
    .into_iter()
    .flatten()
    .chain(
        model
            .conversions
            .iter()
            .flatten()
            .filter_map(|c| c.len.map(ToTokens::to_token_stream)),
    )
    .collect()
}

struct Helpers<'m> {
    in_impl: bool,
    /// The trampoline is a safe fn: its body is a safe context, so the
    /// helpers are closures in it (which keep the impl's generics and
    /// `Self` in reach, wherever the fn is).
    in_safe_shim: bool,
    ident: &'m Ident,
    generics: &'m syn::Generics,
    /// `::<T, N>`: the type and const parameters, passed on.
    turbofish: TokenStream,
    /// `cfg`s and lint levels, repeated beside the trampoline.
    attrs: Vec<&'m syn::Attribute>,
}

impl<'m> Helpers<'m> {
    fn new(model: &'m FnModel<'_>) -> Self {
        let item = model.item;
        // Where the fn names `Self` (`check`: not in an item nested in its
        // body) or `in_impl` says so.
        let in_impl = model.in_impl;
        let passed = item.generics.params.iter().filter_map(|param| match param {
            syn::GenericParam::Type(t) => Some(&t.ident),
            syn::GenericParam::Const(c) => Some(&c.ident),
            syn::GenericParam::Lifetime(_) => None,
        });
        let passed: Vec<&Ident> = passed.collect();
        let turbofish = if passed.is_empty() {
            quote!()
        } else {
            quote!(::<#(#passed),*>)
        };
        Helpers {
            in_impl,
            in_safe_shim: !model.shim_unsafe,
            ident: &item.ident,
            generics: &item.generics,
            turbofish,
            attrs: crate::tokens::cfg_attrs(&item.attrs),
        }
    }

    /// Adds the helper fn `role` to `items`; returns the path to call it.
    fn item(
        &self,
        role: &str,
        params: &[TokenStream],
        ret: Option<&TokenStream>,
        block: TokenStream,
        items: &mut Vec<TokenStream>,
    ) -> TokenStream {
        let name = format_ident!(
            "__ffi_callback_{}_{}",
            self.ident,
            role,
            span = Span::mixed_site()
        );
        if self.in_safe_shim {
            // A local: call-site hygiene, as the call is respanned to the
            // user's tokens (for its errors).
            let name = Ident::new(&name.to_string(), Span::call_site());
            items.push(quote! {
                #[allow(clippy::boxed_local, clippy::needless_pass_by_value)]
                let #name = |#(#params),*| #ret #block;
            });
            return quote!(#name);
        }
        let (generics, where_clause) = (self.generics, &self.generics.where_clause);
        let attrs = if self.in_impl {
            let attrs = &self.attrs;
            quote!(#(#attrs)* #[doc(hidden)])
        } else {
            quote!()
        };
        items.push(quote! {
            #attrs
            #[inline(always)]
            // The user data is received by value (a `Box<T>` is ownership
            // coming back), and the C signature is C's.
            #[allow(
                clippy::inline_always,
                clippy::too_many_arguments,
                clippy::boxed_local,
                clippy::needless_pass_by_value
            )]
            fn #name #generics (#(#params),*) #ret #where_clause #block
        });
        let turbofish = &self.turbofish;
        if self.in_impl {
            quote!(Self::#name #turbofish)
        } else {
            quote!(#name #turbofish)
        }
    }
}

/// What C receives after a panic or a refused call, in the fn's docs (a
/// zero can mean something to C: OpenSSL's callbacks, README), when the
/// policy returns one and the fn returns a value.
fn fallback_doc(model: &FnModel<'_>) -> TokenStream {
    let line = match (&model.common.fallback, model.output.c_type) {
        (FallbackValue::Expr(expr), Some(_)) => format!(
            " After a panic or a refused call, C receives `{}` (`fallback`).",
            tidy(&expr.to_token_stream().to_string())
        ),
        (FallbackValue::Default(_), Some(ty)) => format!(
            " After a panic or a refused call, C receives `{}`'s `Fallback` value (zero, null, \
             `false` or `None`).",
            tidy(&ty.to_token_stream().to_string())
        ),
        _ => return TokenStream::new(),
    };
    let lines = [String::new(), line];
    quote!(#(#[doc = #lines])*)
}

/// The `# Safety` section of an `unsafe` trampoline, naming its constructor
/// and the parameters it borrows.
fn safety_doc(model: &FnModel<'_>) -> TokenStream {
    let borrows = borrow_contract(&model.conversions, "It borrows");
    if model.user_data.is_none() {
        let lines = [
            String::new(),
            " # Safety".into(),
            String::new(),
            format!(" Made `unsafe` by `#[callback]`.{borrows}"),
            " (A binding that needs a safe `extern fn` type opts in with".into(),
            " `#[callback(unsafe(safe_fn))]`, promising this for every call.)".into(),
        ];
        return doc_lines_at_fn(model, &lines);
    }
    let name = &model.item.ident;
    let constructor = if model.typed_constructor && is_generic(model) {
        // The constructor declares the fn's generics again: nothing ties
        // its instantiation to the fn pointer's.
        format!(
            " `{name}::user_data::<..>(..)` with the same generic arguments as the `{name}::<..>` \
             handed to C (the compiler does not check that they match),"
        )
    } else if model.typed_constructor {
        format!(" `{name}::user_data(..)`, which only accepts the type this callback receives,")
    } else {
        " the untyped `ffi_callback::user_data(&mut x)` / `user_data_ref(&x)` / \
         `user_data_box(b)` matching the type this callback receives,"
            .to_owned()
    };
    let accessor = matches!(
        model.user_data.as_ref().map(|u| &u.source),
        Some(UserDataSource::Accessor(_))
    );
    // Without `send`, nothing checked that the received value may be used
    // on another thread (a `Box<Rc<T>>` dropped there): C's promise. A raw
    // pointer is passed through, the user's own.
    let received_raw = model
        .user_data
        .as_ref()
        .is_some_and(|u| matches!(u.received, syn::Type::Ptr(_)));
    let thread = if model.send || received_raw {
        String::new()
    } else {
        " C calls it on the thread that made the user data (`#[callback(send)]` lets C call \
         it on any thread, checking that what it receives may cross threads)."
            .to_owned()
    };
    let mut lines: Vec<String> = if accessor {
        vec![
            String::new(),
            " # Safety".into(),
            String::new(),
            " Made `unsafe` by `#[callback]`: its `user_data = EXPR` must give null or a pointer"
                .into(),
            format!(
                " made by{constructor} still alive and otherwise unused for the call.{borrows}"
            ),
        ]
    } else {
        vec![
            String::new(),
            " # Safety".into(),
            String::new(),
            " Made `unsafe` by `#[callback]`: the user data must be null or come from".into(),
            format!(
                "{constructor} alive and otherwise unused for the duration of the call.{borrows}"
            ),
        ]
    };
    if !thread.is_empty() {
        lines.push(thread);
    }
    if !accessor {
        lines.push(" (A binding that needs a safe `extern fn` type opts in with".into());
        lines.push(" `#[callback(unsafe(safe_fn))]`, promising this for every call.)".into());
    }
    doc_lines_at_fn(model, &lines)
}

/// `lines` as doc attributes, at the user's `fn`: clippy's
/// `missing_safety_doc` skips doc attributes from another crate's macro,
/// yet lints the fn when a local `macro_rules!` wrote it.
fn doc_lines_at_fn(model: &FnModel<'_>, lines: &[String]) -> TokenStream {
    let span = model.item.fn_span;
    let lines = lines.iter().map(|line| {
        let mut line = proc_macro2::Literal::string(line);
        line.set_span(span);
        line
    });
    quote_spanned!(span=> #(#[doc = #lines])*)
}

/// Whether the fn has type or const parameters (lifetimes do not change
/// what the user data is).
fn is_generic(model: &FnModel<'_>) -> bool {
    model
        .item
        .generics
        .params
        .iter()
        .any(|param| !matches!(param, syn::GenericParam::Lifetime(_)))
}

/// The typed user-data constructor beside the fn: an uninhabited enum of
/// the fn's name (the type namespace, so it does not clash with the fn; an
/// enum rather than a module so that types defined in the same block are
/// in scope) whose `user_data` builds the C-side value and only accepts the
/// type the callback receives.
fn typed_constructor(model: &FnModel<'_>) -> TokenStream {
    let Some(user_data) = model.user_data.as_ref().filter(|_| model.typed_constructor) else {
        return quote!();
    };
    let runtime = &model.common.runtime;
    let item = model.item;
    let (vis, ident) = (&item.vis, &item.ident);
    let cfgs = crate::tokens::cfg_attrs(&item.attrs);
    let generics = &item.generics;
    let where_clause = &generics.where_clause;
    let received = &user_data.received;
    let slot = match &user_data.source {
        UserDataSource::Param(Some(slot)) => quote!(#slot),
        _ => quote!(*mut #runtime::__private::core::ffi::c_void),
    };
    let type_doc = format!(
        " The typed user data of the callback [`{ident}`](fn@{ident}): \
         `{ident}::user_data(..)` makes the value to pass to C with it."
    );
    let doc = format!(
        " The C-side user data for [`{ident}`](fn@{ident}), made from the value it \
         receives: keep that value alive and unused for as long as C may call back with it.{}",
        if is_generic(model) {
            format!(
                " Give it the generic arguments of the `{ident}::<..>` handed to C: nothing \
                 ties the two together."
            )
        } else {
            String::new()
        }
    );
    // Through the received type's `CountedUserData` impl, not its name (an
    // alias `use std::sync::Arc as Rc` is an `Arc`). The unsafe block holds
    // generated names only.
    let release = user_data.counted.then(|| {
        let doc = format!(
            " Drops the count that C held through user data from `{ident}::user_data`, once \
             C will not call back with it again."
        );
        quote! {
            #[doc = #doc]
            ///
            /// # Safety
            /// `user_data` came from `user_data` here and its count was
            /// not released before.
            #[inline]
            pub unsafe fn release #generics (user_data: #slot) #where_clause {
                let __ffi_release: unsafe fn(*mut #runtime::__private::core::ffi::c_void) =
                    <#received as #runtime::__private::CountedUserData>::release;
                let __ffi_ptr = <#slot as #runtime::__private::UserDataSlot>::into_ptr(user_data);
                // SAFETY: by the caller's promise, `user_data` came from
                // `user_data` here (`into_ptr` of the received type) and its
                // count was not released before.
                unsafe { __ffi_release(__ffi_ptr) }
            }
        }
    });
    let reclaim = user_data.boxed.then(|| {
        let doc = format!(
            " Takes back the box made by `{ident}::user_data` when C refused it (the C call \
             that was to take it failed) and will not call back with it."
        );
        quote! {
            #[doc = #doc]
            ///
            /// # Safety
            /// `user_data` came from `user_data` here, and C will not call
            /// back with it or free it.
            #[inline]
            pub unsafe fn reclaim #generics (user_data: #slot) -> #received #where_clause {
                let __ffi_reclaim: unsafe fn(*mut #runtime::__private::core::ffi::c_void) -> #received =
                    <#received as #runtime::__private::BoxedUserData>::reclaim;
                let __ffi_ptr = <#slot as #runtime::__private::UserDataSlot>::into_ptr(user_data);
                // SAFETY: by the caller's promise, `user_data` came from
                // `user_data` here (`into_ptr` of the received type) and
                // nothing else takes it back.
                unsafe { __ffi_reclaim(__ffi_ptr) }
            }
        }
    });
    quote! {
        #(#cfgs)*
        #[doc = #type_doc]
        // Named after the fn, and never a value (so nothing to debug-print):
        // lints that would blame the user's name for it (seen when a local
        // `macro_rules!` writes the fn) are the expansion's to allow.
        #[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
        #vis enum #ident {}

        #(#cfgs)*
        #[allow(dead_code, private_interfaces, private_bounds)]
        impl #ident {
            #[doc = #doc]
            #[inline]
            pub fn user_data #generics (value: #received) -> #slot #where_clause {
                <#slot as #runtime::__private::UserDataSlot>::from_ptr(
                    <#received as #runtime::__private::UserDataParam>::into_ptr(value),
                )
            }

            #release
            #reclaim
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

/// The fn as written, minus `#[user_data]` (and a repeated `#[callback]`),
/// for when the item has errors.
pub(crate) fn unchanged(item: &CallbackFn) -> TokenStream {
    let attrs = outer_attrs(item).filter(|attr| !crate::check::is_callback_attr(attr));
    let (vis, ident, generics) = (&item.vis, &item.ident, &item.generics);
    let where_clause = &item.generics.where_clause;
    let params = item.params.iter().map(|p| {
        let (attrs, pat, ty) = (&p.attrs, &p.pat, &p.ty);
        quote!(#(#attrs)* #pat: #ty)
    });
    let abi = &item.abi;
    let constness = item.constness.map(|span| quote_spanned!(span=> const));
    let asyncness = item.asyncness.map(|span| quote_spanned!(span=> async));
    let unsafety = item
        .written_unsafe
        .map(|span| quote_spanned!(span=> unsafe));
    let (output, block) = (&item.output, user_block(item));
    quote! {
        #(#attrs)*
        #vis #constness #asyncness #unsafety #abi fn #ident #generics (#(#params),*) #output #where_clause #block
    }
}
