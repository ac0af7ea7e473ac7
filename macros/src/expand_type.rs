//! Printer, form 2: a `#[callback]` type alias becomes a holder generic
//! over the closure (with user data: an alias of the runtime's
//! `Callback<F, Marker>`, whose constructors are written once there), the
//! C function-pointer type under its own name (`ExecRowFn`), and
//! trampolines monomorphic in the closure type (no allocation, no vtable,
//! no executable memory). What each constructor does
//! lives in the runtime (`Holder`, `OnceHolder`, `Boxed`, `Once`); the
//! trampolines are nested in `unsafe` getters, so no safe code reaches one
//! without a holder.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{Ident, ReturnType, Type};

use crate::model::{FallbackValue, Flow, KeepError, TypeModel, TypeSlot};
use crate::parse::CallbackType;
use crate::tokens::{
    borrow_checks, borrow_contract_doc, call_after, cfg_attrs, converted_args, error_binding,
    first_span, len_var, path_is, reason_binding, safe_fn_promise, site, tidy,
};

pub(crate) fn print(model: &TypeModel<'_>) -> TokenStream {
    let runtime = &model.common.runtime;
    let fn_type = fn_type_alias(model);
    let holder = match model.slot {
        TypeSlot::None => print_slotless(model),
        _ => print_holder(model),
    };
    let user_exprs = user_exprs(model);
    let private = quote!(#runtime::__private);
    let cfgs: Vec<_> = model
        .item
        .attrs
        .iter()
        .filter(|attr| path_is(attr.path(), "cfg") || path_is(attr.path(), "cfg_attr"))
        .collect();
    let slice_checks = crate::tokens::slice_size_checks(&model.conversions, &private, &cfgs);
    quote!(#fn_type #holder #user_exprs #slice_checks)
}

/// The C type of the callback return, `None` for `()`.
fn c_return<'a>(model: &TypeModel<'a>) -> Option<&'a Type> {
    let item: &'a CallbackType = model.item;
    match &item.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(ty),
    }
}

/// `pub type ExecRowFn = unsafe extern "C" fn(..) -> ..;`: the C
/// function-pointer type, as declared, under a name the user can write.
fn fn_type_alias(model: &TypeModel<'_>) -> TokenStream {
    let item = model.item;
    let (vis, name) = (&item.vis, &model.fn_type);
    let cfgs = cfg_attrs(&item.attrs);
    // The macro's `unsafe`, not the user's token: a `#![forbid(unsafe_code)]`
    // crate may declare `unsafe extern` callback types.
    let unsafety = item.written_unsafe.map(|_| quote!(unsafe));
    let abi = model.common.abi.literal();
    let params = item.params.iter().map(|p| {
        let (attrs, ty) = (&p.attrs, &p.ty);
        match &p.name {
            Some(name) => quote!(#(#attrs)* #name: #ty),
            None => quote!(#(#attrs)* #ty),
        }
    });
    let output = &item.output;
    let doc = format!(
        " The C function-pointer type of [`{}`], as declared: what its `function()` returns.{}",
        item.ident,
        borrow_contract_doc(&model.conversions)
    );
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #vis type #name = #unsafety extern #abi fn(#(#params),*) #output;
    }
}

/// `O: CallbackReturn<R>` (or the stricter form the type needs): what a
/// closure may return.
fn return_bound(model: &TypeModel<'_>) -> TokenStream {
    let runtime = &model.common.runtime;
    return_bound_in(model, &quote!(#runtime::__private))
}

/// [`return_bound`] with the runtime's `__private` at `private`.
fn return_bound_in(model: &TypeModel<'_>, private: &TokenStream) -> TokenStream {
    let o = &model.common.names.output;
    let c_ret = c_return(model).map_or_else(|| quote!(()), ToTokens::to_token_stream);
    let flow = model.common.flow.is_some();
    let returns = match (&model.error, model.common.policy.returns_fallback(), flow) {
        (Some(error), _, false) => quote!(#private::DeclaredReturn<#c_ret, #error>),
        (None, true, false) => quote!(#private::CallbackReturn<#c_ret>),
        // No value to give C for an `Err` (`abort`, `unwind`, no `on_error`).
        (None, false, false) => quote!(#private::PlainReturn<#c_ret>),
        // `on_continue`/`on_break`: `ControlFlow<()>`, or a `Result` of it.
        (Some(error), _, true) => quote!(#private::DeclaredFlow<#error>),
        (None, true, true) => quote!(#private::FlowReturn),
        (None, false, true) => quote!(#private::PlainFlow),
    };
    quote!(#o: #returns)
}

/// The closure a trampoline hands the runtime for an `Err`: the user's
/// `on_error` reading the error as the type declared it, or the fallback.
fn on_error_call(model: &TypeModel<'_>, private: &TokenStream, fallback: &Ident) -> TokenStream {
    let common = &model.common;
    match (&common.on_error, &model.error) {
        (Some(_), Some(error)) => {
            let (owner, o) = (exprs_owner(model), &common.names.output);
            let c_ret = c_return(model).map_or_else(|| quote!(()), ToTokens::to_token_stream);
            let named = named_args(model, common.on_error);
            let declared = match common.flow {
                None => quote!(<#o as #private::DeclaredReturn<#c_ret, #error>>),
                Some(_) => quote!(<#o as #private::DeclaredFlow<#error>>),
            };
            quote! {
                move |e: &_| #owner::__ffi_on_error(#declared::declared_error(e), #(#named),*)
            }
        }
        // An `on_error` that reads no `e`: any error type.
        (Some(expr), None) => {
            let owner = exprs_owner(model);
            let named = named_args(model, Some(expr));
            quote!(move |_: &_| #owner::__ffi_on_error(#(#named),*))
        }
        // The fallback's own value: with a fallback that reads no C
        // parameter (a fn pointer, see `fallback_let`), the runtime's
        // closure, shared by every callback returning the same type.
        _ if model.fallback_params().is_empty() && !model.fallback_reads_reason() => {
            quote!(#private::fallback_on_error(#fallback))
        }
        _ => quote!(move |_: &_| #fallback()),
    }
}

/// `keep_error = false`: the closure's `Err` ends inside the call, through
/// `on_error` (`end_error`), so the runtime sees the plain C value
/// (`returned_type` becomes the C type) and never an error (`no_error`).
/// `keep_error = EXPR`: those EXPR says no to (`end_error_unless`; the
/// others stay `Err`, for the runtime's `on_error`). Otherwise all three
/// as they are.
fn end_errors(
    model: &TypeModel<'_>,
    private: &TokenStream,
    site: &TokenStream,
    returned: TokenStream,
    returned_type: TokenStream,
    on_error: TokenStream,
) -> (TokenStream, TokenStream, TokenStream) {
    let c_ret = c_return(model).map_or_else(|| quote!(()), ToTokens::to_token_stream);
    match (&model.common.keep_error, &model.error) {
        (KeepError::Always, _) => (returned, returned_type, on_error),
        (KeepError::Never, _) => (
            quote!(#private::end_error::<#returned_type, _>(#site, #returned, #on_error)),
            c_ret,
            quote!(#private::no_error),
        ),
        (KeepError::When(expr), Some(error)) => {
            let (owner, o) = (exprs_owner(model), &model.common.names.output);
            let named = named_args(model, Some(expr));
            let declared = match model.common.flow {
                None => quote!(<#o as #private::DeclaredReturn<#c_ret, #error>>),
                Some(_) => quote!(<#o as #private::DeclaredFlow<#error>>),
            };
            let keep = quote! {
                move |e: &_| #owner::__ffi_keep_error(#declared::declared_error(e), #(#named),*)
            };
            (
                quote!(#private::end_error_unless::<#returned_type, _>(#site, #returned, #keep, #on_error)),
                quote!(#private::core::result::Result<#c_ret, <#returned_type as #private::CallbackReturn<#c_ret>>::Error>),
                on_error,
            )
        }
        // An EXPR that reads no `e` (the check refuses one that does
        // without `error = Type`): any error type.
        (KeepError::When(expr), None) => {
            let owner = exprs_owner(model);
            let named = named_args(model, Some(expr));
            let keep = quote!(move |_: &_| #owner::__ffi_keep_error(#(#named),*));
            (
                quote!(#private::end_error_unless::<#returned_type, _>(#site, #returned, #keep, #on_error)),
                quote!(#private::core::result::Result<#c_ret, <#returned_type as #private::CallbackReturn<#c_ret>>::Error>),
                on_error,
            )
        }
    }
}

/// `let fallback = ..;` in a trampoline: a fn pointer to the type's
/// fallback fn if it reads no C parameter (one type for every trampoline
/// returning the same C type, so they share the code that runs it; the
/// call is still inlined), else a closure passing it the parameters.
fn fallback_let(model: &TypeModel<'_>, fallback: &Ident) -> TokenStream {
    let owner = exprs_owner(model);
    let runtime = &model.common.runtime;
    let output = &model.item.output;
    let args: Vec<&Ident> = model
        .fallback_params()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    if model.fallback_reads_reason() {
        let why = Ident::new("__ffi_why", Span::mixed_site());
        let private = quote!(#runtime::__private);
        quote! {
            let #fallback = move || #private::with_reason(|#why| #owner::__ffi_fallback(#why, #(#args),*));
        }
    } else if args.is_empty() {
        quote!(let #fallback = #owner::__ffi_fallback as fn() #output;)
    } else {
        quote!(let #fallback = move || #owner::__ffi_fallback(#(#args),*);)
    }
}

/// Where the user's expressions are fns (`user_exprs`): the marker of a
/// type with user data (`__ffi_ExecRow::ExecRow`), `Name::<()>` for one
/// without.
fn exprs_owner(model: &TypeModel<'_>) -> TokenStream {
    match model.slot {
        TypeSlot::None => {
            let ident = &model.item.ident;
            quote!(#ident::<()>)
        }
        _ => marker(model).0,
    }
}

/// The marker of a type with user data, which its name aliases
/// `Callback` over, and the hidden module holding it (named after the type,
/// whose name the marker takes, so that messages naming it name the type).
fn marker(model: &TypeModel<'_>) -> (TokenStream, Ident) {
    let ident = &model.item.ident;
    let module = format_ident!("__ffi_{}", ident);
    (quote!(#module::#ident), module)
}

/// The user's expressions (`fallback`, `on_error`, `user_data`), each
/// once, as fns of the C parameters in an impl for `Name<()>` (or the
/// marker, `exprs_owner`): no generic of the expansion is in scope there (a
/// user type called `F` is the user's),
/// each is compiled once (an error in one is reported once), and as safe
/// fns (an unsafe call needs the user's own `unsafe`).
fn user_exprs(model: &TypeModel<'_>) -> TokenStream {
    let common = &model.common;
    let runtime = &common.runtime;
    let item = model.item;
    let (owner, cfgs) = (exprs_owner(model), cfg_attrs(&item.attrs));
    let c_ret = c_return(model);
    let ret_arrow = c_ret.map(|ty| quote!(-> #ty));
    // Each takes the C parameters its expression names (by value: C
    // parameters are `Copy`, except by-value structs an expression rarely
    // reads).
    let params_of = |expr: Option<&syn::Expr>| -> Vec<TokenStream> {
        model
            .params_named_by(expr)
            .into_iter()
            .map(|(name, ty)| quote!(#name: #ty))
            .collect()
    };
    let mut params: Vec<TokenStream> = model
        .fallback_params()
        .into_iter()
        .map(|(name, ty)| quote!(#name: #ty))
        .collect();
    if let Some(expr) = model
        .fallback_expr()
        .filter(|_| model.fallback_reads_reason())
    {
        let why = reason_binding(expr);
        params.insert(0, quote!(#why: &str));
    }
    let fallback = match &common.fallback {
        FallbackValue::Expr(expr) => quote!(#expr),
        FallbackValue::Default(Some(ty)) => {
            let span = first_span(ty);
            quote_spanned!(span=> <#ty as #runtime::__private::Fallback>::fallback())
        }
        FallbackValue::Default(None) => quote!(()),
        FallbackValue::Never => quote!(#runtime::__private::no_fallback()),
    };
    let on_error = match (common.on_error, &model.error) {
        (Some(expr), Some(error)) => {
            let e = error_binding(expr);
            let params = params_of(Some(expr));
            quote! {
                #[inline]
                fn __ffi_on_error(#e: &#error, #(#params),*) #ret_arrow { #expr }
            }
        }
        (Some(expr), None) => {
            let params = params_of(Some(expr));
            quote! {
                #[inline]
                fn __ffi_on_error(#(#params),*) #ret_arrow { #expr }
            }
        }
        _ => quote!(),
    };
    let keep_error = match (common.keep_error.expr(), &model.error) {
        (Some(expr), Some(error)) => {
            let e = error_binding(expr);
            let params = params_of(Some(expr));
            quote! {
                #[inline]
                fn __ffi_keep_error(#e: &#error, #(#params),*) -> bool { #expr }
            }
        }
        (Some(expr), None) => {
            let params = params_of(Some(expr));
            quote! {
                #[inline]
                fn __ffi_keep_error(#(#params),*) -> bool { #expr }
            }
        }
        _ => quote!(),
    };
    let flow = match &common.flow {
        Some(Flow {
            on_continue,
            on_break,
        }) => {
            let (continue_params, break_params) =
                (params_of(Some(on_continue)), params_of(Some(on_break)));
            quote! {
                #[inline]
                fn __ffi_on_continue(#(#continue_params),*) #ret_arrow { #on_continue }
                #[inline]
                fn __ffi_on_break(#(#break_params),*) #ret_arrow { #on_break }
            }
        }
        None => quote!(),
    };
    // `len = EXPR` of each borrowed slice: its length.
    let lens = model
        .conversions
        .iter()
        .enumerate()
        .filter_map(|(index, conversion)| {
            let len = conversion.as_ref()?.len?;
            let (name, params) = (len_fn(index), params_of(Some(len)));
            Some(quote! {
                #[inline]
                fn #name(#(#params),*) -> usize { #len }
            })
        });
    let lens: TokenStream = lens.collect();
    let fetch = match &model.slot {
        TypeSlot::Accessor(expr) => {
            let params = params_of(Some(*expr));
            quote! {
                #[inline]
                fn __ffi_fetch(#(#params),*) -> impl #runtime::__private::FetchedHolder {
                    #expr
                }
            }
        }
        _ => quote!(),
    };
    quote! {
        #(#cfgs)*
        #[allow(dead_code, unused_variables, clippy::all)]
        impl #owner {
            #[inline]
            fn __ffi_fallback(#(#params),*) #ret_arrow { #fallback }
            #on_error
            #keep_error
            #flow
            #lens
            #fetch
        }
    }
}

/// `impl<F, O> Trampoline<O> for Name<F> where F: FnMut(A, B) -> O + ..`:
/// the closure's shape, stated once per kind (`Trampoline` for the holder,
/// `OnceTrampoline`), with the trampoline nested in its `unsafe` getter
/// (so that no safe code reaches a trampoline without a holder: it may be a
/// safe fn, with `unsafe(safe_fn)`). `entry` is the runtime's call
/// (`call_mut`, `call_ref`, `call_once`), `closure_ref` how it lends the
/// closure.
fn trampoline_impl(
    model: &TypeModel<'_>,
    trait_name: &str,
    fn_trait: &str,
    entry: &str,
    closure_ref: TokenStream,
) -> TokenStream {
    let common = &model.common;
    let runtime = &common.runtime;
    let private = quote!(#runtime::__private);
    let (f, o) = (&common.names.closure, &common.names.output);
    let item = model.item;
    let ident = &item.ident;
    let cfgs = cfg_attrs(&item.attrs);
    let abi = common.abi.literal();
    let trait_name = Ident::new(trait_name, Span::call_site());
    let fn_trait = Ident::new(fn_trait, Span::call_site());
    let entry = Ident::new(entry, Span::call_site());
    let types = model.closure_types();
    let extra = model.threading.extra_bound(runtime);
    let returns = return_bound(model);
    let bound = quote!(#f: #private::#fn_trait(#(#types),*) -> #o #extra, #returns);
    let unsafety = (!model.safe_trampoline).then(|| quote!(unsafe));
    // Inside the getter, the runtime's `__private` is `__ffi` (a local
    // import, invisible outside; renamed when the item's tokens use that
    // name, as an import is not hidden by hygiene): the nested trampoline
    // stays short.
    let local = &common.names.private;
    let local_returns = return_bound_in(model, &quote!(#local));
    let local_extra = model.threading.extra_bound_in(&quote!(#local));
    let local_bound = quote!(#f: #local::#fn_trait(#(#types),*) -> #o #local_extra, #local_returns);
    let names = &model.param_names;
    let params: Vec<TokenStream> = names
        .iter()
        .zip(&item.params)
        .map(|(name, p)| {
            let ty = &p.ty;
            quote!(#name: #ty)
        })
        .collect();
    let params = &params;
    let output = &item.output;
    let args = model.closure_args();
    let fallback = Ident::new("__ffi_fallback", Span::mixed_site());
    // Hygienic (a C parameter called `f` or `ud` is not these); the slot's
    // not a plain word, which a user's constant in scope would turn into a
    // pattern matching it (`f` is the public `new(f)`'s name anyway).
    let closure = Ident::new("f", Span::mixed_site());
    let slot = Ident::new("__ffi_ud", Span::mixed_site());
    // Hygienic: a C parameter called `trampoline` or `entry` does not hide
    // the fns that the retried call names.
    let tramp = Ident::new("trampoline", Span::mixed_site());
    let entry_fn = Ident::new("__ffi_entry", Span::mixed_site());
    // `Trampoline`'s trampolines come in two: for holders lent by `new` and
    // `scope` (`LENT`: no destroy can come during a call, so the leave does
    // not look for one) and for boxed ones. A once-holder has one. (A fresh
    // name: a user constant `LENT` in a parameter's type stays the user's.)
    let lent = &common.names.lent;
    let once = entry == "call_once";
    let (lent_decl, lent_arg, method_generics) = if once {
        (quote!(), quote!(), quote!())
    } else {
        (
            quote!(, const #lent: bool),
            quote!(, #lent),
            quote!(<const #lent: bool>),
        )
    };
    let on_error = on_error_call(model, &quote!(#local), &fallback);
    let owner = exprs_owner(model);
    let fetch_args = named_args(model, model.accessor_expr());
    let site = quote!(<#ident<#f> as #local::CallbackType>::SITE);
    // Borrowed parameters are checked before the call reaches the holder,
    // but a once-holder's: its one call frees the closure, so a refusal
    // must come inside it, where it drops the closure instead of leaking it.
    let (prelude, converted) = converted_args(
        names,
        &model.conversions,
        model.slot_index(),
        &quote!(#local),
        &site,
        once,
        model.threading.across_threads(),
    );
    let fallback_fn = fallback_let(model, &fallback);
    let flow_fns = call_closures(model);
    let checks = if once {
        quote!()
    } else {
        borrow_checks(
            names,
            &model.conversions,
            &quote!(#local),
            &site,
            &quote!(<#ident<#f> as #local::CallbackType>::Policy),
            &fallback,
        )
    };
    // The runtime's call. An exclusive or shared call gets the C arguments
    // but the slot once, as a tuple, for the closure or (after healing a
    // poisoned holder, rarely) for `retry`, which calls `again` with them:
    // the trampoline itself, so that the closure's call is compiled once.
    // `retry` goes as a fn pointer: the runtime's cold entry is then one
    // instance per C signature, not one per type (2.5% of rustc's work for
    // 100 types).
    let returned = flowed(
        model,
        call_after(&prelude, quote!(#closure), &converted),
        &quote!(#local),
    );
    let returned_type = flowed_type(model, &quote!(#local));
    let (returned, returned_type, on_error) = end_errors(
        model,
        &quote!(#local),
        &site,
        returned,
        returned_type,
        on_error,
    );
    let call = |user_data: TokenStream, again: TokenStream| {
        if once {
            quote! {
                #local::#entry::<#ident<#f>, #returned_type, _>(
                    #user_data,
                    move |#closure: #closure_ref| #returned,
                    #on_error,
                    #fallback,
                )
            }
        } else {
            quote! {
                #local::#entry::<#ident<#f>, _, #returned_type, _ #lent_arg>(
                    #user_data,
                    (#(#args,)*),
                    |#closure: #closure_ref, (#(#args,)*)| #returned,
                    #on_error,
                    #fallback,
                    (|(#(#args,)*), #slot| #again) as fn(_, _) -> _,
                )
            }
        }
    };
    // A trampoline that `retry` calls again is kept out of line: inlined
    // into the runtime's cold entry, it would be a second copy of the
    // closure's call per type (C calls it through the pointer anyway).
    let no_inline = if !once && matches!(model.slot, TypeSlot::Param(..)) {
        quote!(#[inline(never)])
    } else {
        quote!()
    };
    let (body, entry_fn_item) = match &model.slot {
        TypeSlot::Param(index, _) => {
            let user_data = names[*index].to_token_stream();
            let again_args = names.iter().enumerate().map(|(i, name)| {
                if i == *index {
                    quote!(#slot)
                } else {
                    quote!(#name)
                }
            });
            let call = call(
                user_data,
                quote!(#tramp::<#f, #o #lent_arg>(#(#again_args),*)),
            );
            let body = quote! {
                #fallback_fn
                #flow_fns
                #checks
                // SAFETY: C passes back the user data of a live holder of
                // this type, and pointers valid for the call where a
                // parameter is borrowed (`#[into(&..)]`) (the C call's
                // contract, or `unsafe(safe_fn)`'s promise); the runtime
                // refuses null; `retry` calls this trampoline with what C
                // passed.
                unsafe { #call }
            };
            (body, quote!())
        }
        TypeSlot::Accessor(_) => {
            let fetch = quote! {
                let #slot = match #local::fetch_holder::<#ident<#f>, _>(|| #owner::__ffi_fetch(#(#fetch_args),*)) {
                    #local::core::result::Result::Ok(__ffi_ptr) => __ffi_ptr,
                    #local::core::result::Result::Err(_) => {
                        #fallback_fn
                        return #local::value_or(#site, #local::core::result::Result::Err(#local::Failed), #fallback);
                    }
                };
            };
            if once {
                let call = call(quote!(#slot), quote!());
                let body = quote! {
                    #fetch
                    #fallback_fn
                    #flow_fns
                    #checks
                    // SAFETY: the accessor found the user data of a live
                    // holder of this type, or null, which the runtime
                    // refuses; borrowed parameters as for a slot.
                    unsafe { #call }
                };
                (body, quote!())
            } else {
                // The accessor (user code) runs once per call: a retried
                // call starts after it, in the entry.
                let call = call(
                    quote!(#slot),
                    quote!(#entry_fn::<#f, #o #lent_arg>(#slot, #(#names),*)),
                );
                let body = quote! {
                    #fetch
                    // SAFETY: the accessor found what the entry takes.
                    unsafe { #entry_fn::<#f, #o #lent_arg>(#slot, #(#names),*) }
                };
                let entry_fn_item = quote! {
                    /// # Safety
                    /// `ud` is null or the user data of a live holder of
                    /// this type; borrowed (`#[into(&..)]`) arguments are
                    /// valid for the call.
                    #[forbid(unsafe_op_in_unsafe_fn)]
                    // One parameter more than C's: not the user's to count.
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn #entry_fn<#f, #o #lent_decl>(#slot: *mut #local::core::ffi::c_void, #(#params),*) #output where #local_bound {
                        #fallback_fn
                        #flow_fns
                        #checks
                        // SAFETY: forwarded; the runtime refuses null;
                        // `retry` calls this with the same arguments.
                        unsafe { #call }
                    }
                };
                (body, entry_fn_item)
            }
        }
        TypeSlot::None => (quote!(), quote!()),
    };
    // What `try_scope` returns for the closure's first `Err`.
    let error = (!once).then(|| {
        let returns_trait = returns_trait(model, &private);
        quote!(type Error = <#o as #returns_trait>::Error;)
    });
    let marker = marker(model).0;
    quote! {
        #(#cfgs)*
        // SAFETY: the trampoline below is this type's, for closures `F`.
        unsafe impl<#f, #o> #private::#trait_name<#f, #o> for #marker where #bound {
            #error
            #[inline]
            unsafe fn trampoline #method_generics () -> <Self as #private::CallbackKind>::Function {
                use #private as #local;
                #[deny(improper_ctypes_definitions)]
                #[forbid(unsafe_op_in_unsafe_fn)]
                #no_inline
                #unsafety extern #abi fn #tramp<#f, #o #lent_decl>(#(#params),*) #output where #local_bound {
                    #body
                }
                #entry_fn_item
                #tramp::<#f, #o #lent_arg>
            }
        }
    }
}

fn struct_docs(model: &TypeModel<'_>, what: &str) -> TokenStream {
    let item = model.item;
    let (types, output) = (model.closure_types(), &item.output);
    let fn_trait = match model.slot {
        TypeSlot::None => "Fn",
        _ => model.threading.fn_trait(),
    };
    let threads = match model.slot {
        TypeSlot::None => " + Copy + Send + Sync + 'static",
        _ => model.threading.doc(),
    };
    let signature = tidy(&quote!(#(#types),*).to_string());
    let (output, flow) = match &model.common.flow {
        None => (tidy(&quote!(#output).to_string()), String::new()),
        Some(flow) => (
            "-> ControlFlow<()>".to_owned(),
            format!(
                " C receives `{}` for `ControlFlow::Continue(())` and `{}` for `Break(())`.",
                tidy(&flow.on_continue.to_token_stream().to_string()),
                tidy(&flow.on_break.to_token_stream().to_string())
            ),
        ),
    };
    let output = if output.is_empty() {
        String::new()
    } else {
        format!(" {output}")
    };
    let contract = match model.slot {
        TypeSlot::None => format!(
            " `scope_thread_local` lends it any `{}` closure of that shape instead, for one C \
             call on this thread.",
            model.threading.fn_trait()
        ),
        _ => format!(" The C library {}.", model.threading.contract()),
    };
    let fallback = match (&model.common.fallback, c_return(model)) {
        (FallbackValue::Expr(expr), _) => format!(
            " After a panic or a refused call, C receives `{}`.",
            tidy(&expr.to_token_stream().to_string())
        ),
        (FallbackValue::Default(_), Some(ty)) => format!(
            " After a panic or a refused call, C receives `{}`'s `Fallback` value (zero, null, \
             `false` or `None`).",
            tidy(&ty.to_token_stream().to_string())
        ),
        _ => String::new(),
    };
    let doc = format!(
        " `#[callback]` holder: {what} for closures `{fn_trait}({signature}){output}{threads}` \
         (or returning `Result<_, E>`).{flow}{contract}{fallback} The C function-pointer type is \
         [`{}`]; see the `ffi_callback` crate docs for each constructor.",
        model.fn_type
    );
    quote!(#[doc = ""] #[doc = #doc])
}

fn print_holder(model: &TypeModel<'_>) -> TokenStream {
    let item = model.item;
    let common = &model.common;
    let runtime = &common.runtime;
    let names = &common.names;
    let f = &names.closure;
    let (attrs, vis, ident) = (&item.attrs, &item.vis, &item.ident);
    let cfgs = cfg_attrs(attrs);
    let threading = model.threading.marker(runtime);
    let policy = common.policy.marker(runtime);
    let fn_type = &model.fn_type;
    let abi = common.abi.literal();
    let slot: TokenStream = match &model.slot {
        TypeSlot::Param(_, ty) => ty.to_token_stream(),
        _ => crate::tokens::c_void_pointer(runtime).into_token_stream(),
    };
    let private = quote!(#runtime::__private);
    let (entry, closure_ref) = if model.threading.shared() {
        ("call_ref", quote!(&#f))
    } else {
        ("call_mut", quote!(&mut #f))
    };
    let trampoline = trampoline_impl(
        model,
        "KindTrampoline",
        model.threading.fn_trait(),
        entry,
        closure_ref,
    );
    let once_trampoline = trampoline_impl(
        model,
        "KindOnceTrampoline",
        "FnOnce",
        "call_once",
        quote!(#f),
    );
    let docs = struct_docs(
        model,
        "borrowed (`new`, `scope`, `scope_once`) or owned (`boxed`, `once`) C callbacks",
    );
    let site_value = site_of(model);
    let promise = safe_fn_promise(common);
    let (marker, module) = marker(model);
    let marker_vis = vis_inside(vis);
    let name = syn::ext::IdentExt::unraw(ident).to_string();

    // The constructors are `Callback`'s, written once in the runtime; what
    // is the type's own is its marker's: the C types, the contract, the
    // trampolines (below) and the destroys.
    quote! {
        #(#attrs)*
        #docs
        #vis type #ident<#f> = #runtime::Callback<#f, #marker>;

        #(#cfgs)*
        #[doc(hidden)]
        #[allow(non_snake_case, unreachable_pub)]
        #vis mod #module {
            /// The marker of the `#[callback]` type of this name.
            #[allow(missing_debug_implementations)]
            #marker_vis enum #ident {}
        }

        #(#cfgs)*
        // SAFETY: the destroys below are this type's, for `Holder<F, _>` /
        // `OnceHolder<F, _>` with this contract, which its trampolines assume.
        unsafe impl #private::CallbackKind for #marker {
            type Function = #fn_type;
            type UserData = #slot;
            type Destroy = unsafe extern #abi fn(#slot);
            type Threading = #threading;
            type Policy = #policy;
            const SITE: &'static #private::Site = &#site_value;
            const NAME: &'static str = #name;
            #[inline]
            fn destroy<#f, const ONCE: bool>() -> Self::Destroy {
                unsafe extern #abi fn __ffi_destroy<#f, const ONCE: bool>(__ffi_user_data: #slot) {
                    // SAFETY: C calls it once, with a boxed holder's (a
                    // once-holder's if `ONCE`) user data.
                    unsafe {
                        if ONCE {
                            #private::destroy_once::<#ident<#f>>(__ffi_user_data)
                        } else {
                            #private::destroy::<#ident<#f>>(__ffi_user_data)
                        }
                    }
                }
                __ffi_destroy::<#f, ONCE>
            }
        }

        #trampoline
        #once_trampoline
        #promise
    }
}

/// `vis`, written one module further down (in the marker's module): the
/// marker is exactly as visible as the type, so that its impls may name
/// what the type's signature names (a private type of the module, E0446).
fn vis_inside(vis: &syn::Visibility) -> TokenStream {
    match vis {
        syn::Visibility::Inherited => quote!(pub(super)),
        syn::Visibility::Public(_) => vis.to_token_stream(),
        syn::Visibility::Restricted(restricted) => {
            let path = &restricted.path;
            let first = path.segments.first().map(|s| s.ident.to_string());
            match first.as_deref() {
                Some("crate") => vis.to_token_stream(),
                Some("self") => {
                    let rest = path.segments.iter().skip(1);
                    quote!(pub(in super #(::#rest)*))
                }
                Some("super") => quote!(pub(in super::#path)),
                _ => vis.to_token_stream(),
            }
        }
    }
}

/// Where `try_scope` finds the closures' error type.
fn returns_trait(model: &TypeModel<'_>, private: &TokenStream) -> TokenStream {
    let c_ret = c_return(model).map_or_else(|| quote!(()), ToTokens::to_token_stream);
    match model.common.flow {
        None => quote!(#private::CallbackReturn<#c_ret>),
        Some(_) => quote!(#private::FlowReturn),
    }
}

/// The `Site` literal of a callback type.
fn site_of(model: &TypeModel<'_>) -> TokenStream {
    site(&model.common.runtime, &[&model.item.ident])
}

/// The trampoline's parameters that `expr` names, to pass to the fn that
/// holds it.
/// The variables holding C's values for `ControlFlow` (`on_continue`,
/// `on_break`), hygienic.
fn flow_vars() -> (Ident, Ident) {
    (
        Ident::new("__ffi_continue", Span::mixed_site()),
        Ident::new("__ffi_break", Span::mixed_site()),
    )
}

/// The closures over the C parameters that the call runs, defined before
/// it as the fallback is: C's two values with `on_continue`/`on_break`, and
/// the length of each borrowed slice (`len = EXPR`, run inside the call,
/// where a panic in it is the closure's).
fn call_closures(model: &TypeModel<'_>) -> TokenStream {
    let owner = exprs_owner(model);
    let flow = model.common.flow.as_ref().map(|flow| {
        let (on_continue, on_break) = flow_vars();
        let continue_args = named_args(model, Some(flow.on_continue));
        let break_args = named_args(model, Some(flow.on_break));
        quote! {
            let #on_continue = move || #owner::__ffi_on_continue(#(#continue_args),*);
            let #on_break = move || #owner::__ffi_on_break(#(#break_args),*);
        }
    });
    let lens = model
        .conversions
        .iter()
        .enumerate()
        .filter_map(|(index, conversion)| {
            let len = conversion.as_ref()?.len?;
            let (var, name, args) = (len_var(index), len_fn(index), named_args(model, Some(len)));
            Some(quote!(let #var = move || #owner::#name(#(#args),*);))
        });
    quote!(#flow #(#lens)*)
}

/// The fn in `impl Name<()>` (or the marker's impl) holding the `len = EXPR` of the borrowed slice
/// at parameter `index`.
fn len_fn(index: usize) -> Ident {
    format_ident!("__ffi_len{}", index)
}

/// The closure's value `call` as the runtime takes it: as returned, or,
/// with `on_continue`/`on_break`, its `ControlFlow` made C's value.
fn flowed(model: &TypeModel<'_>, call: TokenStream, private: &TokenStream) -> TokenStream {
    if model.common.flow.is_none() {
        return call;
    }
    let (on_continue, on_break) = flow_vars();
    quote!(#private::flow(#call, #on_continue, #on_break))
}

/// The type of [`flowed`]: the closure's `O`, or `Result<R, O::Error>`.
fn flowed_type(model: &TypeModel<'_>, private: &TokenStream) -> TokenStream {
    let o = &model.common.names.output;
    if model.common.flow.is_none() {
        return quote!(#o);
    }
    let c_ret = c_return(model).map_or_else(|| quote!(()), ToTokens::to_token_stream);
    quote!(#private::core::result::Result<#c_ret, <#o as #private::FlowReturn>::Error>)
}

fn named_args<'m>(model: &'m TypeModel<'_>, expr: Option<&syn::Expr>) -> Vec<&'m Ident> {
    model
        .params_named_by(expr)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

fn print_slotless(model: &TypeModel<'_>) -> TokenStream {
    let item = model.item;
    let common = &model.common;
    let runtime = &common.runtime;
    let names = &common.names;
    let (f, o, t) = (&names.closure, &names.output, &names.result);
    let (attrs, vis, ident) = (&item.attrs, &item.vis, &item.ident);
    let cfgs = cfg_attrs(attrs);
    let policy = common.policy.marker(runtime);
    let fn_type = &model.fn_type;
    let abi = common.abi.literal();
    let types = model.closure_types();
    let returns = return_bound(model);
    let bound = quote!(#f: #runtime::__private::Fn(#(#types),*) -> #o + #runtime::__private::NoCaptures, #returns);
    // A type without user data is called on any thread.
    let (prelude, args) = converted_args(
        &model.param_names,
        &model.conversions,
        None,
        &quote!(#runtime::__private),
        &quote!(&__FFI_CALLBACK_SITE),
        false,
        true,
    );
    let params = model.param_names.iter().zip(&item.params).map(|(name, p)| {
        let ty = &p.ty;
        quote!(#name: #ty)
    });
    let output = &item.output;
    let closure = Ident::new("__ffi_closure", Span::mixed_site());
    let fallback = Ident::new("__ffi_fallback", Span::mixed_site());
    let fallback_let = fallback_let(model, &fallback);
    let on_error = on_error_call(model, &quote!(#runtime::__private), &fallback);
    let flow_fns = call_closures(model);
    let returned = flowed(
        model,
        call_after(&prelude, quote!(#closure), &args),
        &quote!(#runtime::__private),
    );
    let (returned, _, on_error) = end_errors(
        model,
        &quote!(#runtime::__private),
        &quote!(&__FFI_CALLBACK_SITE),
        returned,
        quote!(_),
        on_error,
    );
    let checks = borrow_checks(
        &model.param_names,
        &model.conversions,
        &quote!(#runtime::__private),
        &quote!(&__FFI_CALLBACK_SITE),
        &policy,
        &fallback,
    );
    let unsafety = item.written_unsafe.map(|_| quote!(unsafe));
    let site_value = site_of(model);
    let debug = debug_impl(model, f, &quote!(#runtime::__private));
    let docs = struct_docs(model, "C callbacks without user data, so only capture-free");
    let promise = safe_fn_promise(common);
    let thread_local_scope = print_thread_local_scope(model);

    quote! {
        #(#attrs)*
        #docs
        #vis struct #ident<#f> {
            closure: #f,
        }

        #debug

        #promise

        #(#cfgs)*
        #[allow(dead_code)]
        impl<#f> #ident<#f> {
            /// Holds the capture-free closure `f`; pass
            /// [`function`](Self::function) to C. (A type without a
            /// user-data slot has nowhere to carry captures, so `f` must be
            /// zero-sized.)
            #[inline]
            pub fn new<#o>(f: #f) -> Self where #bound {
                #runtime::__private::require_zero_sized::<#f>();
                Self { closure: f }
            }

            /// The trampoline to pass to C; it recreates the closure, which
            /// this holder proves exists.
            #[inline]
            pub fn function<#o>(&self) -> #fn_type where #bound {
                #[deny(improper_ctypes_definitions)]
                #[forbid(unsafe_op_in_unsafe_fn)]
                #unsafety extern #abi fn trampoline<#f, #o>(#(#params),*) #output where #bound {
                    static __FFI_CALLBACK_SITE: #runtime::__private::Site = #site_value;
                    static __FFI_CALLBACK_FILTER: #runtime::__private::PoisonFilter = #runtime::__private::PoisonFilter::NEW;
                    #fallback_let
                    #flow_fns
                    #checks
                    // SAFETY: this trampoline is only reachable through
                    // `function(&self)`, so a value of the zero-sized `F`
                    // was made; a borrowed (`#[into(&..)]`) parameter makes
                    // it an `unsafe` fn (`check`), whose caller passes
                    // pointers valid for the call.
                    unsafe {
                        #runtime::__private::call_slotless::<#policy, #f, _, _>(move |#closure: #f| #returned, #on_error, #fallback, &__FFI_CALLBACK_SITE, &__FFI_CALLBACK_FILTER)
                    }
                }
                trampoline::<#f, #o>
            }

            /// Runs `call` with the trampoline for `f`. A panic in `f` is
            /// carried past the C code and resumed when `call` returns
            /// (with `on_panic = resume`).
            #[inline]
            pub fn scope<#o, #t>(f: #f, call: impl #runtime::__private::FnOnce(#fn_type) -> #t) -> #t where #bound {
                let __ffi_holder = Self::new(f);
                #runtime::__private::guarded::<#policy, _>(|| call(__ffi_holder.function()))
            }

            /// The closure back.
            #[inline]
            pub fn into_inner(self) -> #f {
                self.closure
            }

            #thread_local_scope
        }
    }
}

/// A slot-less type's `scope_thread_local` and `try_scope_thread_local`
/// (any closure, lent for one C call on this thread), and the hidden
/// method that makes their parts: the type's thread-local and function
/// (one of each per type: items nested in a method are not generic), and
/// the call fn for the closure type, which runs the closure through the
/// lent holder the thread-local points at (`thread_local_scope` in the
/// runtime).
fn print_thread_local_scope(model: &TypeModel<'_>) -> TokenStream {
    let item = model.item;
    let common = &model.common;
    let runtime = &common.runtime;
    let private = quote!(#runtime::__private);
    let scoped = quote!(#private::thread_local_scope);
    let (f, o, t) = (
        &common.names.closure,
        &common.names.output,
        &common.names.result,
    );
    let policy = common.policy.marker(runtime);
    let fn_type = &model.fn_type;
    let abi = common.abi.literal();
    let types = model.closure_types();
    let returns = return_bound(model);
    let (fn_trait, entry, closure_ref) = if model.threading.shared() {
        (quote!(Fn), quote!(call_ref), quote!(&#f))
    } else {
        (quote!(FnMut), quote!(call_mut), quote!(&mut #f))
    };
    let bound = quote!(#f: #private::#fn_trait(#(#types),*) -> #o, #returns);
    let names = &model.param_names;
    let param_types: Vec<&Type> = item.params.iter().map(|p| &p.ty).collect();
    let params: Vec<TokenStream> = names
        .iter()
        .zip(&param_types)
        .map(|(name, ty)| quote!(#name: #ty))
        .collect();
    let output = &item.output;
    let c_void = quote!(#private::core::ffi::c_void);
    // The type's ABI: the function tail-calls it (an unwinding Rust fn
    // would need a landing pad), and `"C-unwind"` lets `unwind` unwind. The
    // holder last: C's arguments stay in their registers.
    let call_type = quote!(unsafe extern #abi fn(#(#param_types,)* *mut #c_void) #output);
    let unsafety = item.written_unsafe.map(|_| quote!(unsafe));
    // Hygienic names: a C parameter called `holder` or `call` is not these.
    let site = Ident::new("__FFI_CALLBACK_SITE", Span::mixed_site());
    let slot_static = Ident::new("__FFI_CALLBACK_PARKED", Span::mixed_site());
    let function = Ident::new("__ffi_function", Span::mixed_site());
    let call_fn = Ident::new("__ffi_call", Span::mixed_site());
    // (A user's constant of the same name would make a binding a pattern
    // matching it, hygiene or not: no plain words.)
    let holder = Ident::new("__ffi_holder", Span::mixed_site());
    let found = Ident::new("__ffi_found", Span::mixed_site());
    let closure = Ident::new("__ffi_closure", Span::mixed_site());
    let slot = Ident::new("__ffi_ud", Span::mixed_site());
    let fallback = Ident::new("__ffi_fallback", Span::mixed_site());
    let site_value = site_of(model);
    let fallback_fn = fallback_let(model, &fallback);
    let flow_fns = call_closures(model);
    let site_ref = quote!(&#site);
    // Borrows reach the closure parked on the calling thread only; their
    // referents' `Sync`/`Send` is checked once for the type (its
    // capture-free closures' trampoline runs on any thread).
    let (prelude, converted) = converted_args(
        names,
        &model.conversions,
        None,
        &private,
        &site_ref,
        false,
        false,
    );
    let checks = borrow_checks(
        names,
        &model.conversions,
        &private,
        &site_ref,
        &policy,
        &fallback,
    );
    let returned = flowed(
        model,
        call_after(&prelude, quote!(#closure), &converted),
        &private,
    );
    let returned_type = flowed_type(model, &private);
    let on_error = on_error_call(model, &private, &fallback);
    let (returned, returned_type, on_error) = end_errors(
        model,
        &private,
        &site_ref,
        returned,
        returned_type,
        on_error,
    );
    let args = model.closure_args();
    let c_ret = c_return(model).map_or_else(|| quote!(()), ToTokens::to_token_stream);
    let returns_trait = match common.flow {
        None => quote!(#private::CallbackReturn<#c_ret>),
        Some(_) => quote!(#private::FlowReturn),
    };
    // Where `try_scope_thread_local` finds the closures' error type, unless
    // the bound already says it.
    let try_bound = if returns.to_string() == quote!(#o: #returns_trait).to_string() {
        bound.clone()
    } else {
        quote!(#bound, #o: #returns_trait)
    };
    quote! {
        /// Runs `call` with the type's function, which calls `f` (any
        /// closure) while `call` runs, on this thread only (elsewhere C
        /// gets the fallback); a kept panic is resumed when it returns.
        #[inline]
        pub fn scope_thread_local<#o, #t>(f: #f, call: impl #private::FnOnce(#fn_type) -> #t) -> #t where #bound {
            #scoped::scope(f, Self::__ffi_thread_local::<#o>(), call)
        }

        /// [`scope_thread_local`](Self::scope_thread_local) that also
        /// returns the first `Err` of a closure returning `Result<_, E>`.
        #[inline]
        pub fn try_scope_thread_local<#o, #t>(
            f: #f,
            call: impl #private::FnOnce(#fn_type) -> #t,
        ) -> #private::core::result::Result<#t, <#o as #returns_trait>::Error>
        where #try_bound {
            #scoped::try_scope(f, Self::__ffi_thread_local::<#o>(), call)
        }

        #[inline]
        fn __ffi_thread_local<#o>() -> #scoped::Parking<#policy, #f, impl #private::core::marker::Copy + 'static, #fn_type> where #bound {
            static #site: #private::Site = #site_value;
            #scoped::thread_local! {
                static #slot_static: #scoped::ParkedSlot<#call_type> = const { #scoped::ParkedSlot::NEW };
            }
            #[deny(improper_ctypes_definitions)]
            #unsafety extern #abi fn #function(#(#params),*) #output {
                match #scoped::parked(&#slot_static) {
                    // SAFETY: the call fn and holder of the record a scope
                    // of this type parked on this thread; borrowed
                    // parameters as for the holder's trampolines.
                    #private::core::option::Option::Some((#found, #holder)) => unsafe { #found(#(#names,)* #holder) },
                    #private::core::option::Option::None => {
                        #fallback_fn
                        #scoped::refuse_unparked::<#policy, _>(&#site, #fallback)
                    }
                }
            }
            /// # Safety
            /// `holder` is the holder of a record parked by a scope whose
            /// closures are `F`; borrowed (`#[into(&..)]`) arguments are
            /// valid for the call.
            #[forbid(unsafe_op_in_unsafe_fn)]
            // One parameter more than C's: not the user's to count.
            #[allow(clippy::too_many_arguments)]
            unsafe extern #abi fn #call_fn<#f, #o>(#(#params,)* #holder: *mut #c_void) #output where #bound {
                #fallback_fn
                #flow_fns
                #checks
                // SAFETY: forwarded; `retry` calls this with the same
                // arguments.
                unsafe {
                    #scoped::#entry::<#policy, #f, _, #returned_type, _>(
                        #holder,
                        &#site,
                        (#(#args,)*),
                        |#closure: #closure_ref, (#(#args,)*)| #returned,
                        #on_error,
                        #fallback,
                        |(#(#args,)*), #slot| #call_fn::<#f, #o>(#(#args,)* #slot),
                    )
                }
            }
            // SAFETY: `__ffi_call::<F, _>` reads the holder only through
            // the runtime's call for `F`; the function passes C's
            // arguments to the record it finds in this type's
            // thread-local, or refuses.
            unsafe { #scoped::Parking::new(&#slot_static, &#site, #function, #call_fn::<#f, #o>) }
        }
    }
}

/// For an item with errors: the C function-pointer type as written, and a
/// stub holder of the same name with the constructors' names, so the
/// user's calls do not each add an error of their own.
pub(crate) fn stub(item: &CallbackType, fn_type: Option<&Ident>) -> TokenStream {
    let (attrs, vis, ident, generics) = (&item.attrs, &item.vis, &item.ident, &item.generics);
    // A `fn_type` naming the holder itself is refused; the stub's alias
    // takes the default name then, not a second item of the holder's.
    let fn_type = fn_type
        .filter(|given| *given != ident)
        .cloned()
        .unwrap_or_else(|| quote::format_ident!("{}Fn", ident));
    let unsafety = item.written_unsafe.map(|_| quote!(unsafe));
    let abi = &item.abi;
    let params = item
        .params
        .iter()
        .map(|p| {
            let (attrs, ty) = (&p.attrs, &p.ty);
            match &p.name {
                Some(name) => quote!(#(#attrs)* #name: #ty),
                None => quote!(#(#attrs)* #ty),
            }
        })
        .chain(item.variadic.clone());
    let (output, lifetimes) = (&item.output, &item.higher_ranked);
    // The item's `#[cfg]`s on every stub item: a copy made for `#[cfg]` on
    // a parameter (`cfg_split`) is one of several, each under its own.
    let cfgs = cfg_attrs(&item.attrs);
    let alias = quote! {
        #(#cfgs)*
        #vis type #fn_type #generics = #lifetimes #unsafety #abi fn(#(#params),*) #output;
    };
    let attrs = attrs
        .iter()
        .filter(|a| !a.path().is_ident("doc") && !crate::check::is_callback_attr(a));
    // The closure's parameters (the C ones but the slot) and what `call`
    // receives, as the real holder has them, so that the user's closures
    // infer their types and the values they make have theirs: the item's
    // own error stays the only one. Only for a signature that can be named
    // as written (no generic parameters, no `for<'a>`, no `...`, each refused
    // anyway); otherwise the methods stay untyped.
    let typed =
        item.generics.params.is_empty() && item.higher_ranked.is_none() && item.variadic.is_none();
    let methods = if typed {
        let closure_params: Vec<&Type> = item
            .params
            .iter()
            .filter(|p| p.user_data.is_empty())
            .map(|p| &p.ty)
            .collect();
        let slot = item.params.iter().find(|p| !p.user_data.is_empty());
        let (call_bound, slot_type) = match slot {
            Some(slot) => {
                let ty = &slot.ty;
                (
                    quote!(C: ::core::ops::FnOnce(#fn_type, #ty) -> T),
                    ty.to_token_stream(),
                )
            }
            None => (
                quote!(C: ::core::ops::FnOnce(#fn_type) -> T),
                quote!(*mut ::core::ffi::c_void),
            ),
        };
        let closure = quote!(F: ::core::ops::FnOnce(#(#closure_params),*) -> O);
        let fallible =
            quote!(F: ::core::ops::FnOnce(#(#closure_params),*) -> ::core::result::Result<O, E>);
        quote! {
            pub fn new<O>(f: F) -> Self where #closure { ::core::unreachable!() }
            pub fn function(&self) -> #fn_type { ::core::unreachable!() }
            pub fn user_data(&self) -> #slot_type { ::core::unreachable!() }
            pub fn scope<O, C, T>(f: F, call: C) -> T where #closure, #call_bound {
                ::core::unreachable!()
            }
            pub fn try_scope<O, C, T, E>(f: F, call: C) -> ::core::result::Result<T, E>
            where #fallible, #call_bound {
                ::core::unreachable!()
            }
            pub fn scope_once<O, C, T>(f: F, call: C) -> T where #closure, #call_bound {
                ::core::unreachable!()
            }
            pub fn boxed<O>(f: F) -> Self where #closure { ::core::unreachable!() }
            pub fn once<O>(f: F) -> Self where #closure { ::core::unreachable!() }
            pub fn scope_thread_local<O, C, T>(f: F, call: C) -> T
            where #closure, C: ::core::ops::FnOnce(#fn_type) -> T {
                ::core::unreachable!()
            }
            pub fn try_scope_thread_local<O, C, T, E>(f: F, call: C) -> ::core::result::Result<T, E>
            where #fallible, C: ::core::ops::FnOnce(#fn_type) -> T {
                ::core::unreachable!()
            }
        }
    } else {
        quote! {
            pub fn new(f: F) -> Self { ::core::unreachable!() }
            pub fn function(&self) -> ! { ::core::unreachable!() }
            pub fn user_data(&self) -> ! { ::core::unreachable!() }
            pub fn scope<C, T>(f: F, call: C) -> T { ::core::unreachable!() }
            pub fn try_scope<C, T>(f: F, call: C) -> T { ::core::unreachable!() }
            pub fn scope_once<C, T>(f: F, call: C) -> T { ::core::unreachable!() }
            pub fn boxed(f: F) -> ! { ::core::unreachable!() }
            pub fn once(f: F) -> ! { ::core::unreachable!() }
            pub fn scope_thread_local<C, T>(f: F, call: C) -> T { ::core::unreachable!() }
            pub fn try_scope_thread_local<C, T>(f: F, call: C) -> T { ::core::unreachable!() }
        }
    };
    quote! {
        #alias

        #(#attrs)*
        #vis struct #ident<F = ()>(::core::marker::PhantomData<F>);

        #(#cfgs)*
        #[allow(dead_code, unused_variables, clippy::all)]
        impl<F> #ident<F> {
            #methods
        }
    }
}

/// `Debug` for the holder, whatever the closure (which need not be
/// `Debug`): a struct holding a callback can derive it, and the type passes
/// `missing_debug_implementations` where a local `macro_rules!` wrote it.
fn debug_impl(model: &TypeModel<'_>, f: &Ident, private: &TokenStream) -> TokenStream {
    let ident = &model.item.ident;
    let name = syn::ext::IdentExt::unraw(ident).to_string();
    let cfgs = cfg_attrs(&model.item.attrs);
    quote! {
        #(#cfgs)*
        impl<#f> #private::core::fmt::Debug for #ident<#f> {
            fn fmt(&self, __ffi_formatter: &mut #private::core::fmt::Formatter<'_>) -> #private::core::fmt::Result {
                __ffi_formatter.debug_struct(#name).finish_non_exhaustive()
            }
        }
    }
}
