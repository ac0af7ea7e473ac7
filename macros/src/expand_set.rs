//! Printer, form 3: a `#[callback]` trait of C entry points becomes the
//! trait the state's type implements (one method per entry point, as Rust
//! sees it), with, per entry, the C function-pointer type under its own name
//! (`CookieIoReadFn`), a constant holding the entry point for the
//! implementing type (`READ`), and the provided trampoline behind it,
//! monomorphic in that type; plus `DESTROY` (unless an entry takes `self`),
//! `boxed` and `scope`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::model::{EntryModel, FallbackValue, SetModel, Threading, TypeSlot};
use crate::parse::{CallbackSet, SetReceiver};
use crate::tokens::{
    borrow_checks, borrow_contract_doc, call_after, cfg_attrs, converted_args, first_span, len_var,
    safe_fn_promise, site, tidy,
};

pub(crate) fn print(model: &SetModel<'_>) -> TokenStream {
    let item = model.item;
    let runtime = &model.runtime;
    let private = quote!(#runtime::__private);
    let (attrs, vis, ident) = (&item.attrs, &item.vis, &item.ident);
    let threading = model.threading.marker(runtime);
    let public_threading = model.threading.public_marker(runtime);
    let set_policy = model.policy.marker(runtime);
    // Marker supertraits whose messages name the contract (`Send`/`Sync`
    // alone would not say why). `&self` entries may run at once, under
    // `send` on two threads, so the state must then be `Sync` too.
    let has_shared = model
        .entries
        .iter()
        .any(|entry| entry.receiver == SetReceiver::Shared);
    let supertraits = match model.threading {
        Threading::Send | Threading::SendReentrant if has_shared => {
            quote!(+ #private::SendSharedState)
        }
        Threading::Send | Threading::SendReentrant => quote!(+ #private::SendState),
        Threading::Sync => quote!(+ #private::SyncState),
        _ => quote!(),
    };
    let fn_types = model
        .entries
        .iter()
        .map(|entry| fn_type_alias(model, entry));
    let methods = model.entries.iter().map(|entry| method(entry, &private));
    let entry_points = model.entries.iter().map(|entry| entry_point(model, entry));
    // Not a name the user's tokens use (a C type called `R`).
    let r = model.entries.first().map_or_else(
        || Ident::new("R", Span::call_site()),
        |e| e.common.names.result.clone(),
    );
    let set_site = site(runtime, &[ident]);
    let c_void = quote!(#private::core::ffi::c_void);
    let destroy = if model.destroy_entry().is_some() {
        quote!()
    } else {
        let abi = model.destroy_abi.literal();
        quote! {
            /// Ends a boxed state (`boxed(..).into_raw()`) for C libraries
            /// that free the user data through a destroy-notify: drops the
            /// state, after a call of the set that is running returns.
            const DESTROY: unsafe extern #abi fn(*mut #c_void) = <Self as #ident>::__ffi_destroy;

            #[doc(hidden)]
            unsafe extern #abi fn __ffi_destroy(user_data: *mut #c_void) {
                static SITE: #private::Site = #set_site;
                // SAFETY: C calls the destroy-notify once, with the user data
                // of a boxed state of this set.
                unsafe { #private::Holder::<Self, #threading>::destroy::<#set_policy>(user_data, &SITE) }
            }
        }
    };
    let doc = format!(
        " `#[callback]` set: the C entry points of one state. Implement it for the state's \
         type; the entry points for that type are its constants ({}), to fill the C library's \
         struct of function pointers; `boxed` and `scope` make its user data.",
        model
            .entries
            .iter()
            .map(|entry| format!("`{}`", entry.const_name))
            .collect::<Vec<_>>()
            .join(", ")
    );

    quote! {
        #(#fn_types)*

        #(#attrs)*
        #[doc = ""]
        #[doc = #doc]
        #vis trait #ident: #private::core::marker::Sized #supertraits {
            #(#methods)*

            #(#entry_points)*

            #destroy

            /// Boxes the state for C: keep the `BoxedSet` and pass its
            /// `user_data()` while C may call the entry points, or hand it
            /// over with `into_raw()` when C ends it (its destroy entry, or
            /// `DESTROY`).
            fn boxed(self) -> #runtime::BoxedSet<Self, #public_threading> where Self: 'static {
                static SITE: #private::Site = #set_site;
                // SAFETY: the contract this set's entry points were made for.
                unsafe { #runtime::BoxedSet::<Self, #public_threading>::new::<#set_policy>(self, &SITE) }
            }

            /// Lends the state for one C call: `call` gets the user data,
            /// the entry points may run until it returns, and the state
            /// comes back (a kept panic is resumed then, under `resume`).
            fn scope<#r>(self, call: impl #private::FnOnce(*mut #c_void) -> #r) -> (#r, Self) {
                #private::set::scope::<#threading, #set_policy, Self, #r>(self, call)
            }
        }
    }
}

/// `pub type CookieIoReadFn = unsafe extern "C" fn(..) -> ..;`.
fn fn_type_alias(model: &SetModel<'_>, entry: &EntryModel<'_>) -> TokenStream {
    let item = model.item;
    let e = entry.entry;
    let (vis, name) = (&item.vis, &entry.fn_type);
    let cfgs = cfg_attrs(&item.attrs);
    let unsafety = e.written_unsafe.map(|_| quote!(unsafe));
    let abi = entry.common.abi.literal();
    let params = entry.param_names.iter().zip(&e.params).map(|(name, p)| {
        let (attrs, ty) = (&p.attrs, &p.ty);
        quote!(#(#attrs)* #name: #ty)
    });
    let output = c_output(entry);
    let doc = format!(
        " The C function-pointer type of the entry point `{}` of [`{}`], as declared.{}",
        e.ident,
        item.ident,
        borrow_contract_doc(&entry.conversions)
    );
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #vis type #name = #unsafety extern #abi fn(#(#params),*) #output;
    }
}

/// `-> R` for the C return type.
fn c_output(entry: &EntryModel<'_>) -> TokenStream {
    match entry.output.c_type {
        Some(ty) => quote!(-> #ty),
        None => quote!(),
    }
}

/// The Rust method the state's type implements: the receiver and the C
/// parameters but the slot, returning what the entry declares, or, with
/// `on_continue`/`on_break`, `ControlFlow<()>` in its place.
fn method(entry: &EntryModel<'_>, private: &TokenStream) -> TokenStream {
    let e = entry.entry;
    let (attrs, ident) = (&e.attrs, &e.ident);
    let output = match (&entry.common.flow, &entry.output.error) {
        (None, _) => e.output.to_token_stream(),
        (Some(_), None) => quote!(-> #private::core::ops::ControlFlow<()>),
        (Some(_), Some(error)) => {
            quote!(-> #private::core::result::Result<#private::core::ops::ControlFlow<()>, #error>)
        }
    };
    let receiver = e.receiver.as_ref().map(|(_, tokens)| tokens);
    let skip = entry.slot_index();
    let params = e
        .params
        .iter()
        .zip(&entry.conversions)
        .enumerate()
        .filter(|(index, _)| Some(*index) != skip)
        .map(|(_, (p, conversion))| {
            let (attrs, pat) = (&p.attrs, &p.pat);
            let ty = conversion.as_ref().map_or(&*p.ty, |c| c.target);
            quote!(#(#attrs)* #pat: #ty)
        });
    quote! {
        #(#attrs)*
        fn #ident(#receiver, #(#params),*) #output;
    }
}

/// The entry point: its constant and its provided trampoline.
fn entry_point(model: &SetModel<'_>, entry: &EntryModel<'_>) -> TokenStream {
    let item = model.item;
    let runtime = &model.runtime;
    let private = quote!(#runtime::__private);
    let set = &item.ident;
    let e = entry.entry;
    let common = &entry.common;
    let threading = model.threading.marker(runtime);
    let policy = common.policy.marker(runtime);
    let abi = common.abi.literal();
    let (name, fn_type, const_name, trampoline) = (
        &e.ident,
        &entry.fn_type,
        &entry.const_name,
        &entry.trampoline,
    );
    let unsafety = (!entry.safe_trampoline).then(|| quote!(unsafe));
    let params = entry.param_names.iter().zip(&e.params).map(|(name, p)| {
        let (attrs, ty) = (&p.attrs, &p.ty);
        quote!(#(#attrs)* #name: #ty)
    });
    let output = c_output(entry);
    let c_ret = entry.output.c_type;
    let ret_arrow = c_ret.map(|ty| quote!(-> #ty));
    let fallback_var = Ident::new("__ffi_fallback", Span::mixed_site());
    let on_error_var = Ident::new("__ffi_on_error", Span::mixed_site());
    let (continue_var, break_var) = (
        Ident::new("__ffi_continue", Span::mixed_site()),
        Ident::new("__ffi_break", Span::mixed_site()),
    );
    let state = Ident::new("__ffi_state", Span::mixed_site());
    let fallback = match &common.fallback {
        FallbackValue::Expr(expr) => quote!(|| #ret_arrow { #expr }),
        FallbackValue::Default(Some(ty)) => {
            let span = first_span(ty);
            quote_spanned!(span=> || <#ty as #private::Fallback>::fallback())
        }
        FallbackValue::Default(None) => quote!(|| ()),
        FallbackValue::Never => quote!(|| #ret_arrow { #private::no_fallback() }),
    };
    let error_type = match (&entry.output.error, entry.output.body_type, c_ret) {
        (Some(error), _, _) => quote!(#error),
        (None, Some(body), Some(c_ret)) if entry.output.is_result => {
            quote!(<#body as #runtime::CallbackReturn<#c_ret>>::Error)
        }
        _ => quote!(#private::core::convert::Infallible),
    };
    let on_error = match common.on_error {
        Some(expr) => {
            let e = Ident::new("e", Span::call_site());
            quote!(|#e: &#error_type| #ret_arrow { #expr })
        }
        // `move` as in the other forms' default (`tokens::on_error_closure`).
        None if matches!(common.fallback, FallbackValue::Expr(_)) => {
            quote!(|_: &#error_type| #ret_arrow { #fallback_var() })
        }
        None => quote!(move |_: &#error_type| #ret_arrow { #fallback_var() }),
    };
    let skip = entry.slot_index();
    let args: Vec<&Ident> = entry
        .param_names
        .iter()
        .enumerate()
        .filter(|(index, _)| Some(*index) != skip)
        .map(|(_, name)| name)
        .collect();
    let slot_var = Ident::new("__ffi_slot", Span::mixed_site());
    let site_var = Ident::new("__ffi_site", Span::mixed_site());
    // For an accessor: the entry after the accessor ran, which a retried
    // call starts again from (the accessor is user code, run once per call).
    let with_user_data = format_ident!("{}_with", trampoline);
    // An exclusive or shared call gets the C arguments but the slot once, as
    // a tuple, for the method or (after healing a poisoned state, rarely)
    // for `retry`, which calls `again` with them: the trampoline itself, so
    // that the method's call is compiled once.
    let call = |user_data: TokenStream, site: TokenStream, again: TokenStream| {
        let (prelude, converted) = converted_args(
            &entry.param_names,
            &entry.conversions,
            skip,
            &private,
            &site,
            entry.receiver == SetReceiver::Owned,
            model.threading.across_threads(),
        );
        // The method's value as the runtime takes it: with
        // `on_continue`/`on_break`, its `ControlFlow` made C's value.
        let mut args_with_state = vec![quote!(#state)];
        args_with_state.extend(converted);
        let mut returned = call_after(&prelude, quote!(<Self as #set>::#name), &args_with_state);
        if common.flow.is_some() {
            returned = quote!(#private::flow(#returned, #continue_var, #break_var));
        }
        match entry.receiver {
            SetReceiver::Exclusive | SetReceiver::Shared => {
                let (holder_call, state_ref) = if entry.receiver == SetReceiver::Exclusive {
                    (quote!(call_mut), quote!(&mut Self))
                } else {
                    (quote!(call_ref), quote!(&Self))
                };
                quote! {
                    #private::Holder::<Self, #threading>::#holder_call::<#policy, _, _, _, _, false>(
                        #user_data,
                        #site,
                        (#(#args,)*),
                        |#state: #state_ref, (#(#args,)*)| #returned,
                        #on_error_var,
                        #fallback_var,
                        |(#(#args,)*), #slot_var| #again,
                    )
                }
            }
            SetReceiver::Owned => quote! {
                #private::set::destroy_entry::<#threading, #policy, Self, _, _>(
                    #private::UserDataSlot::into_ptr(#user_data),
                    #site,
                    move |#state: Self| #returned,
                    #on_error_var,
                    #fallback_var,
                )
            },
            // `check_entry` makes no model for an entry with such a receiver.
            SetReceiver::Unsupported => unreachable!("an unsupported receiver was refused"),
        }
    };
    let site = site(runtime, &[set, name]);
    let promise = safe_fn_promise(common);
    let doc = format!(
        " The C entry point `{name}` for this state's type: a [`{fn_type}`], to put in the C \
         library's struct of function pointers. {}",
        fallback_doc(entry)
    );
    let flow_closures = match &common.flow {
        Some(flow) => {
            let (on_continue, on_break) = (flow.on_continue, flow.on_break);
            quote! {
                let #continue_var = || #ret_arrow { #on_continue };
                let #break_var = || #ret_arrow { #on_break };
            }
        }
        None => quote!(),
    };
    // `len = EXPR` of each borrowed slice, run inside the call.
    let lens = entry
        .conversions
        .iter()
        .enumerate()
        .filter_map(|(index, conversion)| {
            let (var, len) = (len_var(index), conversion.as_ref()?.len?);
            Some(quote!(let #var = || -> usize { #len };))
        });
    let closures = quote! {
        let #fallback_var = #fallback;
        let #on_error_var = #on_error;
        #flow_closures
        #(#lens)*
    };
    // Before the call, but for the destroy entry (`self`), whose call
    // checks them itself: its refusal drops the state it moved.
    let checks = |site: TokenStream| {
        if entry.receiver == SetReceiver::Owned {
            return quote!();
        }
        borrow_checks(
            &entry.param_names,
            &entry.conversions,
            &private,
            &site,
            &policy,
            &fallback_var,
        )
    };
    let (body, with) = match &entry.slot {
        TypeSlot::Param(index, _) => {
            let slot = &entry.param_names[*index];
            let again_args = entry.param_names.iter().enumerate().map(|(i, name)| {
                if i == *index {
                    quote!(#slot_var)
                } else {
                    quote!(#name)
                }
            });
            let call = call(
                quote!(#slot),
                quote!(&SITE),
                quote!(<Self as #set>::#trampoline(#(#again_args),*)),
            );
            let checks = checks(quote!(&SITE));
            let body = quote! {
                #closures
                #checks
                // SAFETY: C passes back the user data of a live state of
                // this set, and pointers valid for the call where a
                // parameter is borrowed (`#[into(&..)]`) (the C call's
                // contract, or `unsafe(safe_fn)`'s promise); the runtime
                // refuses null; `retry` calls this entry point with what C
                // passed.
                unsafe { #call }
            };
            (body, quote!())
        }
        TypeSlot::Accessor(expr) => {
            let fetch = Ident::new("__ffi_fetch", Span::mixed_site());
            let checks = checks(quote!(#site_var));
            let call = call(
                quote!(#slot_var),
                quote!(#site_var),
                quote!(<Self as #set>::#with_user_data(#slot_var, #site_var, #(#args),*)),
            );
            let params = entry.param_names.iter().zip(&e.params).map(|(name, p)| {
                let (attrs, ty) = (&p.attrs, &p.ty);
                quote!(#(#attrs)* #name: #ty)
            });
            // Spanned at the accessor: a value that is not a pointer is
            // reported there.
            let fetch_ptr = quote_spanned!(expr.span()=> #private::fetch_ptr::<#policy, _>);
            let body = quote! {
                let #fetch = || #expr;
                let #slot_var = match #fetch_ptr(&SITE, #fetch) {
                    #private::core::result::Result::Ok(ptr) => ptr,
                    #private::core::result::Result::Err(failed) => {
                        let #fallback_var = #fallback;
                        return #private::value_or(&SITE, #private::core::result::Result::Err(failed), #fallback_var);
                    }
                };
                // SAFETY: as the entry requires, from the accessor.
                unsafe { <Self as #set>::#with_user_data(#slot_var, &SITE, #(#args),*) }
            };
            let with = quote! {
                #[doc(hidden)]
                #[forbid(unsafe_op_in_unsafe_fn)]
                /// # Safety
                /// `user_data` is what the accessor found: the user data of
                /// a live state of this set.
                unsafe fn #with_user_data(
                    #slot_var: *mut #private::core::ffi::c_void,
                    #site_var: &'static #private::Site,
                    #(#params),*
                ) #output {
                    #closures
                    #checks
                    // SAFETY: forwarded; the runtime refuses null; `retry`
                    // calls this with the same arguments.
                    unsafe { #call }
                }
            };
            (body, with)
        }
        TypeSlot::None => (quote!(), quote!()),
    };
    quote! {
        #[doc = #doc]
        const #const_name: #fn_type = <Self as #set>::#trampoline;

        #[doc(hidden)]
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        #unsafety extern #abi fn #trampoline(#(#params),*) #output {
            static SITE: #private::Site = #site;
            #promise
            #body
        }

        #with
    }
}

/// What C receives after a panic or a refusal, for the docs.
fn fallback_doc(entry: &EntryModel<'_>) -> String {
    match (&entry.common.fallback, entry.output.c_type) {
        (FallbackValue::Expr(expr), _) => format!(
            "After a panic or a refused call, C receives `{}`.",
            tidy(&expr.to_token_stream().to_string())
        ),
        (FallbackValue::Default(_), Some(ty)) => format!(
            "After a panic or a refused call, C receives `{}`'s `Fallback` value.",
            tidy(&ty.to_token_stream().to_string())
        ),
        _ => String::new(),
    }
}

/// For a set with errors: the trait as Rust sees it (the methods, without
/// the entry points), so that its implementations do not each add errors.
pub(crate) fn stub(item: &CallbackSet) -> TokenStream {
    let (attrs, vis, ident) = (&item.attrs, &item.vis, &item.ident);
    let attrs = attrs.iter().filter(|a| !a.path().is_ident("doc"));
    let methods = item.entries.iter().map(|e| {
        let (attrs, name, output) = (&e.attrs, &e.ident, &e.output);
        let receiver = e.receiver.as_ref().map(|(_, tokens)| quote!(#tokens,));
        let params = e.params.iter().filter(|p| p.user_data.is_empty()).map(|p| {
            let (pat, ty) = (&p.pat, &p.ty);
            quote!(#pat: #ty)
        });
        quote!(#(#attrs)* fn #name(#receiver #(#params),*) #output;)
    });
    // The slots' types, named once so that their imports stay used (an
    // error of the set must not bring an `unused import` warning along).
    let slot_types = item
        .entries
        .iter()
        .flat_map(|e| e.params.iter().filter(|p| !p.user_data.is_empty()))
        .map(|p| &p.ty);
    quote! {
        #(#attrs)*
        #vis trait #ident {
            #(#methods)*
        }

        const _: ::core::option::Option<fn(#(#slot_types),*)> = ::core::option::Option::None;
    }
}
