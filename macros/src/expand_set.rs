//! Printer, form 3: a `#[callback]` trait of C entry points becomes the
//! trait the state's type implements (one method per entry point, as Rust
//! sees it, and nothing else), with, per entry, the C function-pointer type
//! under its own name (`CookieIoReadFn`). Everything generated lives in a
//! companion trait, `CookieIoExt`, implemented for every implementing type
//! by a blanket impl, so that no impl can override it (an entry-point
//! constant naming another type's trampoline would hand it this type's
//! state): a constant holding each entry point (`READ`) and the trampoline
//! behind it, monomorphic in the type; `DESTROY` (unless an entry takes
//! `self`), `boxed` and `scope`; and each user expression (`fallback`,
//! `on_error`, `user_data`, ...) as a safe fn of the C parameters it names,
//! so that an unsafe operation in it needs the user's own `unsafe` (inside
//! the `unsafe` trampoline, only a lint would ask for it, and rustc reports
//! no lint inside another crate's macro).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, Ident};

use crate::check::{entry_const_name, entry_fn_type, split_output, threading};
use crate::errors::Errors;
use crate::model::{Abi, EntryModel, FallbackValue, KeepError, SetModel, Threading, TypeSlot};
use crate::options::Options;
use crate::parse::{CallbackSet, SetReceiver};
use crate::tokens::{
    borrow_checks, borrow_contract_doc, call_after, cfg_attrs, converted_args, error_binding,
    fallback_closure, len_var, mentions, path_is, reads_reason, reason_binding, respan,
    safe_fn_promise, site, tidy,
};

pub(crate) fn print(model: &SetModel<'_>) -> TokenStream {
    let item = model.item;
    let runtime = &model.runtime;
    let private = quote!(#runtime::__private);
    let (attrs, vis, ident) = (&item.attrs, &item.vis, &item.ident);
    let ext = ext_ident(ident);
    let cfgs = cfg_attrs(attrs);
    let threading = model.threading.marker(runtime);
    let public_threading = model.threading.public_marker(runtime);
    let set_policy = model.policy.marker(runtime);
    // `scope` installs the guard if any entry keeps its panics, whatever
    // the set's own policy: one entry's `on_panic = resume` is resumed
    // when the C call returns, not an abort for want of a guard.
    let scope_policy = std::iter::once(model.policy)
        .chain(model.entries.iter().map(|entry| entry.common.policy))
        .find(|policy| policy.keeps())
        .unwrap_or(model.policy)
        .marker(runtime);
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
    // Not a word a user's constant could take (a `const user_data` in
    // scope would make it a pattern matching that constant).
    let user_data = Ident::new("__ffi_user_data", Span::mixed_site());
    let destroy = if model.destroy_entry().is_some() {
        quote!()
    } else {
        let abi = model.destroy_abi.literal();
        quote! {
            /// Ends a boxed state (`boxed(..).into_raw()`) for C libraries
            /// that free the user data through a destroy-notify: drops the
            /// state, after a call of the set that is running returns.
            const DESTROY: unsafe extern #abi fn(*mut #c_void) = <Self as #ext>::__ffi_destroy;

            #[doc(hidden)]
            unsafe extern #abi fn __ffi_destroy(#user_data: *mut #c_void) {
                static __FFI_CALLBACK_SITE: #private::Site = #set_site;
                // SAFETY: C calls the destroy-notify once, with the user data
                // of a boxed state of this set.
                unsafe { #private::Holder::<Self, #threading>::destroy::<#set_policy>(#user_data, &__FFI_CALLBACK_SITE) }
            }
        }
    };
    let consts = model
        .entries
        .iter()
        .map(|entry| format!("`{}`", entry.const_name))
        .collect::<Vec<_>>()
        .join(", ");
    let doc = format!(
        " `#[callback]` set: the C entry points of one state. Implement it for the state's \
         type; the entry points for that type ({consts}), to fill the C library's struct of \
         function pointers, and `boxed` and `scope`, which make its user data, are in \
         [`{ext}`], which every implementing type has and no impl can change: bring it into \
         scope with the set (`use path::{{{ident}, {ext}}}`)."
    );
    let ext_doc = format!(
        " What the `#[callback]` set [`{ident}`] generates for each implementing type: the \
         entry points ({consts}), {destroy_doc}`boxed`, `scope` and `try_scope`. Implemented for every `{ident}` \
         and never by hand, so that an entry point always runs that type's own trampoline; \
         import it with the set (`use path::{{{ident}, {ext}}}`).",
        destroy_doc = if model.destroy_entry().is_some() {
            ""
        } else {
            "`DESTROY`, "
        },
    );
    let ext_attrs = quote! {
        #(#cfgs)*
        #[doc = #ext_doc]
        // The helpers holding the user's expressions take the C parameters
        // (and the error) as the entry declares them.
        #[allow(
            unused_variables,
            clippy::ptr_arg,
            clippy::not_unsafe_ptr_arg_deref,
            clippy::too_many_arguments,
            clippy::needless_pass_by_value
        )]
    };
    // `try_scope` receives the entries' error type when they name one
    // (a guard of another type would let their errors pass, dropped); the
    // caller picks it among several.
    let try_scope = match model.error_type() {
        Some(error) => quote! {
            /// [`scope`](Self::scope) with `call` under
            /// `ffi_callback::try_resume`: also returns the first `Err` an
            /// entry point returned, typed, and the state either way.
            fn try_scope<#r>(
                self,
                call: impl #private::FnOnce(*mut #c_void) -> #r,
            ) -> (#private::core::result::Result<#r, #error>, Self) {
                <Self as #ext>::scope(self, move |#user_data| #runtime::try_resume(move || call(#user_data)))
            }
        },
        None => quote! {
            /// [`scope`](Self::scope) with `call` under
            /// `ffi_callback::try_resume::<_, E>`: also returns the first
            /// `Err(E)` an entry point returned, typed, and the state
            /// either way (the entry points name different error types,
            /// or none: `E` says which this guard receives).
            fn try_scope<#r, E: 'static>(
                self,
                call: impl #private::FnOnce(*mut #c_void) -> #r,
            ) -> (#private::core::result::Result<#r, E>, Self) {
                <Self as #ext>::scope(self, move |#user_data| #runtime::try_resume(move || call(#user_data)))
            }
        },
    };
    // With a destroy-marked entry, whose call on a kept state is a plain
    // call, keeping the state is no longer the exception.
    let boxed_doc = match model.destroy_entry().filter(|entry| entry.destroy) {
        Some(entry) => {
            let doc = format!(
                " Boxes the state for C: keep the `BoxedSet` and pass its `user_data()` while C \
                 may call the entry points (then `{0}`, marked `destroy`, is a plain call), or \
                 hand it over with `into_raw()` when C ends it: `{0}` runs, then frees it.",
                entry.const_name
            );
            quote!(#[doc = #doc])
        }
        None => quote! {
            /// Boxes the state for C: keep the `BoxedSet` and pass its
            /// `user_data()` while C may call the entry points, or hand it
            /// over with `into_raw()` when C ends it (its destroy entry, or
            /// `DESTROY`).
        },
    };
    let ext_body = quote! {
        #(#entry_points)*

        #destroy

        #boxed_doc
        fn boxed(self) -> #runtime::BoxedSet<Self, #public_threading> where Self: 'static {
            static __FFI_CALLBACK_SITE: #private::Site = #set_site;
            // SAFETY: the contract this set's entry points were made for.
            unsafe { #runtime::BoxedSet::<Self, #public_threading>::new::<#set_policy>(self, &__FFI_CALLBACK_SITE) }
        }

        /// Takes back a state `into_raw()` handed to a C call that failed
        /// without ending it; panics off the state's thread unless `send`/`sync`.
        ///
        /// # Safety
        /// `user_data` came from `into_raw()` of this type's `boxed()`, is
        /// taken back once, and C has not ended it nor will use it again.
        unsafe fn from_raw(#user_data: *mut #c_void) -> #runtime::BoxedSet<Self, #public_threading> where Self: 'static {
            // SAFETY: the caller's promise; the contract and policy this
            // set's `boxed` uses.
            unsafe { #runtime::BoxedSet::<Self, #public_threading>::from_raw::<#set_policy>(#user_data) }
        }

        /// Lends the state for one C call: `call` gets the user data,
        /// the entry points may run until it returns, and the state
        /// comes back (a kept panic is resumed then, under `resume`).
        fn scope<#r>(self, call: impl #private::FnOnce(*mut #c_void) -> #r) -> (#r, Self) {
            static __FFI_CALLBACK_SITE: #private::Site = #set_site;
            // SAFETY: the contract this set's entry points were made for.
            unsafe { #private::set::scope::<#threading, #scope_policy, Self, #r>(self, &__FFI_CALLBACK_SITE, call) }
        }

        #try_scope
    };
    let ext_trait = ext_trait(item, &ext, &ext_attrs, &ext_body);
    let blanket = blanket_impl(item, &ext);

    let set_cfgs: Vec<_> = only_cfgs(item).collect();
    let slice_checks = model
        .entries
        .iter()
        .map(|entry| crate::tokens::slice_size_checks(&entry.conversions, &private, &set_cfgs));
    quote! {
        #(#fn_types)*
        #(#slice_checks)*

        #(#attrs)*
        #[doc = ""]
        #[doc = #doc]
        #vis trait #ident: #private::core::marker::Sized #supertraits {
            #(#methods)*
        }

        #ext_trait

        #blanket
    }
}

/// `trait CookieIoExt: CookieIo { .. }`, spanned at the set's name, where
/// a clash with a user item is reported.
fn ext_trait(
    item: &CallbackSet,
    ext: &Ident,
    attrs: &TokenStream,
    body: &TokenStream,
) -> TokenStream {
    let (vis, ident) = (&item.vis, &item.ident);
    quote_spanned! {ident.span()=>
        #attrs
        #vis trait #ext: #ident {
            #body
        }
    }
}

/// `CookieIoExt`: the companion trait of the set `CookieIo`, spanned at the
/// set's name (a clash with a user item is reported there).
fn ext_ident(ident: &Ident) -> Ident {
    format_ident!("{}Ext", ident)
}

/// The set's `#[cfg]`s, for items without code, where a lint level could
/// go unused (an `expect` unmet).
fn only_cfgs(item: &CallbackSet) -> impl Iterator<Item = &syn::Attribute> {
    item.attrs
        .iter()
        .filter(|attr| path_is(attr.path(), "cfg") || path_is(attr.path(), "cfg_attr"))
}

/// `impl<S: CookieIo> CookieIoExt for S {}`: the only impl the companion
/// trait has (one by hand conflicts with it).
fn blanket_impl(item: &CallbackSet, ext: &Ident) -> TokenStream {
    let ident = &item.ident;
    let cfgs = only_cfgs(item);
    // Any name but the set's.
    let state = Ident::new(if ident == "S" { "S_" } else { "S" }, Span::call_site());
    quote_spanned! {ident.span()=>
        #(#cfgs)*
        impl<#state: #ident> #ext for #state {}
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
    // The names as declared (the trampoline's may be hygienic ones).
    let params = e.params.iter().map(|p| {
        let (attrs, ty) = (&p.attrs, &p.ty);
        match &*p.pat {
            syn::Pat::Ident(binding) => {
                let name = &binding.ident;
                quote!(#(#attrs)* #name: #ty)
            }
            _ => quote!(#(#attrs)* _: #ty),
        }
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
            let (attrs, pat) = (&p.attrs, declared_pat(&p.pat));
            let ty = conversion.as_ref().map_or(&*p.ty, |c| c.target);
            quote!(#(#attrs)* #pat: #ty)
        });
    // The C header decides how many parameters it takes.
    quote! {
        #(#attrs)*
        #[allow(clippy::too_many_arguments)]
        fn #ident(#receiver, #(#params),*) #output;
    }
}

/// A parameter's pattern as a method without a body may declare it: a
/// plain name (`mut x` and `ref x` as `x`) or `_`. The patterns themselves
/// are the implementing method's to write.
fn declared_pat(pat: &syn::Pat) -> TokenStream {
    match pat {
        syn::Pat::Ident(binding) if binding.subpat.is_none() => binding.ident.to_token_stream(),
        syn::Pat::Wild(wild) => wild.to_token_stream(),
        other => {
            let span = other.span();
            quote_spanned!(span=> _)
        }
    }
}

/// The entry point: its constant and its provided trampoline.
fn entry_point(model: &SetModel<'_>, entry: &EntryModel<'_>) -> TokenStream {
    let item = model.item;
    let runtime = &model.runtime;
    let private = quote!(#runtime::__private);
    let set = &item.ident;
    let ext = ext_ident(set);
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
    // A set-wide `fallback = EXPR` that does not fit an entry returning
    // nothing is reported at that entry ("expected `()` because of return
    // type"), not only at the expression, as one returning a value is.
    let fallback_ret = ret_arrow
        .clone()
        .unwrap_or_else(|| quote_spanned!(e.ident.span()=> -> ()));
    let fallback_var = Ident::new("__ffi_fallback", Span::mixed_site());
    let on_error_var = Ident::new("__ffi_on_error", Span::mixed_site());
    let (continue_var, break_var) = (
        Ident::new("__ffi_continue", Span::mixed_site()),
        Ident::new("__ffi_break", Span::mixed_site()),
    );
    let state = Ident::new("__ffi_state", Span::mixed_site());
    // The user's expressions, each a safe fn of the C parameters it names.
    let mut helpers = Vec::new();
    let mut helper =
        |role: String, expr: &Expr, except: Option<&str>, extra: TokenStream, ret, body| {
            let name = format_ident!("__ffi_{}_{}", role, e.ident.unraw());
            let (params, args): (Vec<TokenStream>, Vec<&Ident>) = entry
                .param_names
                .iter()
                .zip(&e.params)
                .filter(|(name, _)| Some(&*name.to_string()) != except)
                .filter(|(name, _)| mentions(expr.to_token_stream(), &name.to_string()))
                .map(|(name, p)| {
                    let ty = &p.ty;
                    (quote!(#name: #ty), name)
                })
                .unzip();
            helpers.push(quote! {
                #[doc(hidden)]
                #[inline]
                fn #name(#extra #(#params),*) #ret { #body }
            });
            (quote!(<Self as #ext>::#name), args)
        };
    let fallback = match &common.fallback {
        FallbackValue::Expr(expr) if reads_reason(expr) => {
            let why = reason_binding(expr);
            let (callee, args) = helper(
                "fallback".into(),
                expr,
                Some("why"),
                quote!(#why: &str,),
                Some(fallback_ret.clone()),
                quote!(#expr),
            );
            let why = Ident::new("__ffi_why", Span::mixed_site());
            quote!(move || #private::with_reason(|#why| #callee(#why, #(#args),*)))
        }
        FallbackValue::Expr(expr) => {
            let (callee, args) = helper(
                "fallback".into(),
                expr,
                None,
                quote!(),
                Some(fallback_ret.clone()),
                quote!(#expr),
            );
            quote!(move || #callee(#(#args),*))
        }
        _ => fallback_closure(common, c_ret),
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
            let e = error_binding(expr);
            let (callee, args) = helper(
                "on_error".into(),
                expr,
                Some("e"),
                quote!(#e: &#error_type,),
                ret_arrow.clone(),
                quote!(#expr),
            );
            let error = Ident::new("__ffi_error", Span::mixed_site());
            quote!(move |#error: &#error_type| #callee(#error, #(#args),*))
        }
        // No `Err` to map: a fn item shared by every such entry, never
        // called.
        None if entry.output.error.is_none() && !entry.output.is_result => {
            quote!(#private::no_error)
        }
        // `move` as in the other forms' default (`tokens::on_error_closure`).
        None if matches!(common.fallback, FallbackValue::Expr(_)) => {
            quote!(|_: &#error_type| #ret_arrow { #fallback_var() })
        }
        None => quote!(move |_: &#error_type| #ret_arrow { #fallback_var() }),
    };
    // `keep_error = EXPR`: a helper reading `e` and the C parameters it
    // names, and `on_error` a second time, for the errors it ends.
    let keep_var = Ident::new("__ffi_keep_error", Span::mixed_site());
    let ended_var = Ident::new("__ffi_on_error_ended", Span::mixed_site());
    let keep_error = common.keep_error.expr().map(|expr| {
        let e = error_binding(expr);
        let (callee, args) = helper(
            "keep_error".into(),
            expr,
            Some("e"),
            quote!(#e: &#error_type,),
            Some(quote!(-> bool)),
            quote!(#expr),
        );
        let error = Ident::new("__ffi_error", Span::mixed_site());
        quote! {
            let #keep_var = move |#error: &#error_type| #callee(#error, #(#args),*);
            let #ended_var = #on_error;
        }
    });
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
    // (A prefix of its own: `__ffi_entry_{name}_with` would be the
    // trampoline of an entry named `{name}_with`.)
    let with_user_data = format_ident!(
        "__ffi_with{}",
        trampoline.to_string().trim_start_matches("__ffi_entry")
    );
    // An exclusive or shared call gets the C arguments but the slot once, as
    // a tuple, for the method or (after healing a poisoned state, rarely)
    // for `retry`, which calls `again` with them: the trampoline itself, so
    // that the method's call is compiled once. `retry` goes as a fn pointer where it
    // captures nothing (`as_fn`), so that the runtime's cold entry is one
    // instance per C signature, not one per entry point.
    let call = |user_data: TokenStream, site: TokenStream, again: TokenStream, as_fn: bool| {
        let (prelude, converted) = converted_args(
            &entry.param_names,
            &entry.conversions,
            skip,
            &private,
            &site,
            entry.ends_state(),
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
        // `keep_error = false`: the `Err` ends inside the call, through
        // `on_error`, and the runtime sees the plain C value; `keep_error
        // = EXPR`: those EXPR says no to (the others stay `Err`).
        let runtime_on_error = match common.keep_error {
            KeepError::Always => quote!(#on_error_var),
            KeepError::Never => {
                returned = quote!(#private::end_error(#site, #returned, #on_error_var));
                quote!(#private::no_error)
            }
            KeepError::When(_) => {
                returned =
                    quote!(#private::end_error_unless(#site, #returned, #keep_var, #ended_var));
                quote!(#on_error_var)
            }
        };
        match entry.receiver {
            SetReceiver::Exclusive | SetReceiver::Shared => {
                let (holder_call, state_ref) = match (entry.receiver, entry.destroy) {
                    (SetReceiver::Exclusive, false) => (
                        quote!(call_mut::<#policy, _, _, _, _, false>),
                        quote!(&mut Self),
                    ),
                    (SetReceiver::Exclusive, true) => (
                        quote!(call_mut_then_destroy::<#policy, _, _, _, _>),
                        quote!(&mut Self),
                    ),
                    (_, false) if entry.runs_poisoned => (
                        quote!(call_shared::<#policy, _, _, _, _, false, true>),
                        quote!(&Self),
                    ),
                    (_, false) => (
                        quote!(call_ref::<#policy, _, _, _, _, false>),
                        quote!(&Self),
                    ),
                    (_, true) => (
                        quote!(call_ref_then_destroy::<#policy, _, _, _, _>),
                        quote!(&Self),
                    ),
                };
                let retry = quote!(|(#(#args,)*), #slot_var| #again);
                let retry = if as_fn {
                    quote!((#retry) as fn(_, _) -> _)
                } else {
                    retry
                };
                quote! {
                    #private::Holder::<Self, #threading>::#holder_call(
                        #user_data,
                        #site,
                        (#(#args,)*),
                        |#state: #state_ref, (#(#args,)*)| #returned,
                        #runtime_on_error,
                        #fallback_var,
                        #retry,
                    )
                }
            }
            SetReceiver::Owned => quote! {
                #private::set::destroy_entry::<#threading, #policy, Self, _, _>(
                    #private::UserDataSlot::into_ptr(#user_data),
                    #site,
                    move |#state: Self| #returned,
                    #runtime_on_error,
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
            let (on_continue_expr, on_break_expr) = (flow.on_continue, flow.on_break);
            let (on_continue, continue_args) = helper(
                "on_continue".into(),
                flow.on_continue,
                None,
                quote!(),
                ret_arrow.clone(),
                quote!(#on_continue_expr),
            );
            let (on_break, break_args) = helper(
                "on_break".into(),
                flow.on_break,
                None,
                quote!(),
                ret_arrow.clone(),
                quote!(#on_break_expr),
            );
            quote! {
                let #continue_var = move || #on_continue(#(#continue_args),*);
                let #break_var = move || #on_break(#(#break_args),*);
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
            let (callee, args) = helper(
                format!("len{index}"),
                len,
                None,
                quote!(),
                Some(quote!(-> usize)),
                quote!(#len),
            );
            Some(quote!(let #var = move || #callee(#(#args),*);))
        })
        .collect::<Vec<_>>();
    let closures = quote! {
        let #fallback_var = #fallback;
        let #on_error_var = #on_error;
        #keep_error
        #flow_closures
        #(#lens)*
    };
    // `user_data = EXPR`: the raw pointer C keeps, converted where written
    // (a value that is not a pointer is reported at the accessor).
    let fetch = match &entry.slot {
        TypeSlot::Accessor(expr) => {
            let at = Span::call_site().located_at(expr.span());
            let convert = respan(quote!(#private::FetchedHolder::into_holder_ptr), at);
            let into_ptr = quote_spanned!(at=> #convert(#expr));
            let (callee, args) = helper(
                "user_data".into(),
                expr,
                None,
                quote!(),
                Some(quote!(-> *mut #private::core::ffi::c_void)),
                into_ptr,
            );
            quote!(move || #callee(#(#args),*))
        }
        _ => quote!(),
    };
    // Before the call, but for the destroy entry (`self`, or marked
    // `destroy`), whose call checks them itself: its refusal still ends the
    // state.
    let checks = |site: TokenStream| {
        if entry.ends_state() {
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
    // An entry point that `retry` calls again is kept out of line: inlined
    // into the runtime's cold entry, it would be a second copy of the
    // method's call per entry point (C calls it through the pointer anyway).
    let retried = matches!(entry.receiver, SetReceiver::Exclusive | SetReceiver::Shared);
    let no_inline = if retried && matches!(entry.slot, TypeSlot::Param(..)) {
        quote!(#[inline(never)])
    } else {
        quote!()
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
                quote!(&__FFI_CALLBACK_SITE),
                quote!(<Self as #ext>::#trampoline(#(#again_args),*)),
                true,
            );
            let checks = checks(quote!(&__FFI_CALLBACK_SITE));
            let body = quote! {
                #closures
                #checks
                // SAFETY: C passes back the user data of a live state of
                // this set, calls the set's destroy (its `self` or
                // `destroy` entry, on a state C owns) once and nothing
                // after it, and passes pointers valid for the call where a
                // parameter is borrowed (`#[into(&..)]`) (the C call's
                // contract, or `unsafe(safe_fn)`'s promise); the runtime
                // refuses null; `retry` calls this entry point with what C
                // passed.
                unsafe { #call }
            };
            (body, quote!())
        }
        TypeSlot::Accessor(_) => {
            let fetch_var = Ident::new("__ffi_fetch", Span::mixed_site());
            let (ptr, failed) = (
                Ident::new("__ffi_ptr", Span::mixed_site()),
                Ident::new("__ffi_failed", Span::mixed_site()),
            );
            let checks = checks(quote!(#site_var));
            let call = call(
                quote!(#slot_var),
                quote!(#site_var),
                quote!(<Self as #ext>::#with_user_data(#slot_var, #site_var, #(#args),*)),
                // Captures the site: a closure, not a fn pointer.
                false,
            );
            let params = entry.param_names.iter().zip(&e.params).map(|(name, p)| {
                let (attrs, ty) = (&p.attrs, &p.ty);
                quote!(#(#attrs)* #name: #ty)
            });
            let body = quote! {
                let #fetch_var = #fetch;
                let #slot_var = match #private::fetch_ptr::<#policy, _>(&__FFI_CALLBACK_SITE, #fetch_var) {
                    #private::core::result::Result::Ok(#ptr) => #ptr,
                    #private::core::result::Result::Err(#failed) => {
                        let #fallback_var = #fallback;
                        return #private::value_or(&__FFI_CALLBACK_SITE, #private::core::result::Result::Err(#failed), #fallback_var);
                    }
                };
                // SAFETY: as the entry requires, from the accessor.
                unsafe { <Self as #ext>::#with_user_data(#slot_var, &__FFI_CALLBACK_SITE, #(#args),*) }
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
        const #const_name: #fn_type = <Self as #ext>::#trampoline;

        #[doc(hidden)]
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        #no_inline
        #unsafety extern #abi fn #trampoline(#(#params),*) #output {
            static __FFI_CALLBACK_SITE: #private::Site = #site;
            #promise
            #body
        }

        #with

        #(#helpers)*
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
/// the entry points), and its companion trait with what the user's code
/// reads of it (the entry points' function-pointer types and constants,
/// `DESTROY`, `boxed`, `scope`), as the real ones are typed but without a
/// trampoline behind them: the impls and uses of the set, written for the
/// real one, do not each add an error.
pub(crate) fn stub(
    item: &CallbackSet,
    options: &Options,
    entry_options: &[Options],
) -> TokenStream {
    let (attrs, vis, ident) = (&item.attrs, &item.vis, &item.ident);
    let attrs = attrs
        .iter()
        .filter(|a| !a.path().is_ident("doc") && !crate::check::is_callback_attr(a));
    let default_options = Options::default();
    let options_of = |index: usize| entry_options.get(index).unwrap_or(&default_options);
    let methods = item.entries.iter().enumerate().map(|(index, e)| {
        let (attrs, name) = (&e.attrs, &e.ident);
        let receiver = e.receiver.as_ref().map(|(_, tokens)| quote!(#tokens,));
        // As the methods take them: converted where `#[into(Type)]` says,
        // so that the user's impl, written for the real trait, fits.
        let params = e.params.iter().filter(|p| p.user_data.is_empty()).map(|p| {
            let pat = declared_pat(&p.pat);
            let ty = match p.into.first().and_then(|into| into.target.as_ref()) {
                Some(target) => target.to_token_stream(),
                None => p.ty.to_token_stream(),
            };
            quote!(#pat: #ty)
        });
        // And returning what they return (`ControlFlow<()>` in place of
        // the C value with `on_continue`/`on_break`).
        let entry_options = options_of(index);
        let flow = entry_options.on_continue.is_some() || entry_options.on_break.is_some();
        let output = match (flow, split_output(&e.output).error) {
            (false, _) => e.output.to_token_stream(),
            (true, None) => quote!(-> ::core::ops::ControlFlow<()>),
            (true, Some(error)) => {
                quote!(-> ::core::result::Result<::core::ops::ControlFlow<()>, #error>)
            }
        };
        quote!(#(#attrs)* fn #name(#receiver #(#params),*) #output;)
    });
    // The slots' types, named once so that their imports stay used (an
    // error of the set must not bring an `unused import` warning along).
    let slot_types = item
        .entries
        .iter()
        .flat_map(|e| e.params.iter().filter(|p| !p.user_data.is_empty()))
        .map(|p| &p.ty);
    let cfgs = cfg_attrs(&item.attrs);
    // Each entry's function-pointer type and constant, once per name (two
    // entries making the same name may be the error).
    let (mut aliases, mut consts) = (Vec::new(), Vec::new());
    let (mut alias_names, mut const_names) = (Vec::new(), Vec::new());
    for (index, e) in item.entries.iter().enumerate() {
        if !e.generics.params.is_empty() || e.variadic.is_some() {
            continue;
        }
        let fn_type = entry_fn_type(item, e, options_of(index));
        let const_name = entry_const_name(e);
        let unsafety = e.written_unsafe.map(|_| quote!(unsafe));
        let abi = Abi::resolve(e.abi.as_ref(), e.fn_span).literal();
        let types: Vec<_> = e.params.iter().map(|p| &p.ty).collect();
        let output = match split_output(&e.output).c_type {
            Some(ty) => quote!(-> #ty),
            None => quote!(),
        };
        if !alias_names.contains(&fn_type) {
            let params = e.params.iter().map(|p| {
                let (attrs, ty) = (&p.attrs, &p.ty);
                quote!(#(#attrs)* #ty)
            });
            aliases.push(quote! {
                #(#cfgs)*
                #vis type #fn_type = #unsafety extern #abi fn(#(#params),*) #output;
            });
            alias_names.push(fn_type.clone());
        }
        if !const_names.contains(&const_name) {
            // A safe fn of the same shape coerces to the declared type,
            // `unsafe` or not.
            consts.push(quote! {
                const #const_name: #fn_type = {
                    #[allow(improper_ctypes_definitions, clippy::all)]
                    extern #abi fn __ffi_stub(#(_: #types),*) #output { ::core::unreachable!() }
                    __ffi_stub
                };
            });
            const_names.push(const_name);
        }
    }
    let runtime = crate::tokens::runtime(options);
    let c_void = quote!(::core::ffi::c_void);
    let threading = threading(options, &mut Errors::default()).unwrap_or(Threading::Caller);
    let public_threading = threading.public_marker(&runtime);
    let has_destroy = item.entries.iter().enumerate().any(|(index, e)| {
        matches!(e.receiver, Some((SetReceiver::Owned, _))) || options_of(index).destroy.is_some()
    });
    if !has_destroy && !const_names.iter().any(|name| name == "DESTROY") {
        // The entries' ABI if they share one, as the real `DESTROY`'s.
        let abis: Vec<Abi> = item
            .entries
            .iter()
            .map(|e| Abi::resolve(e.abi.as_ref(), e.fn_span))
            .collect();
        let abi = match abis.first() {
            Some(first) if abis.iter().all(|abi| abi.name == first.name) => first.literal(),
            _ => syn::LitStr::new("C", Span::call_site()),
        };
        consts.push(quote! {
            const DESTROY: unsafe extern #abi fn(*mut #c_void) = {
                extern #abi fn __ffi_stub(_: *mut #c_void) { ::core::unreachable!() }
                __ffi_stub
            };
        });
    }
    let ext = ext_ident(ident);
    let ext_body = quote! {
        #(#consts)*

        fn boxed(self) -> #runtime::BoxedSet<Self, #public_threading>
        where
            Self: ::core::marker::Sized + 'static,
        {
            ::core::unreachable!()
        }

        unsafe fn from_raw(_: *mut #c_void) -> #runtime::BoxedSet<Self, #public_threading>
        where
            Self: ::core::marker::Sized + 'static,
        {
            ::core::unreachable!()
        }

        fn scope<R>(self, call: impl ::core::ops::FnOnce(*mut #c_void) -> R) -> (R, Self)
        where
            Self: ::core::marker::Sized,
        {
            ::core::unreachable!()
        }
    };
    let ext_attrs = quote! {
        #(#cfgs)*
        #[allow(dead_code, unused_variables, clippy::all)]
    };
    let blanket = blanket_impl(item, &ext);
    let ext_trait = ext_trait(item, &ext, &ext_attrs, &ext_body);
    // An `unsafe trait` (refused) stays one here, so that the user's
    // `unsafe impl` brings no error of its own.
    let unsafety = item.unsafety.map(|span| quote_spanned!(span=> unsafe));
    quote! {
        #(#aliases)*

        #(#attrs)*
        #vis #unsafety trait #ident {
            #(#methods)*
        }

        #ext_trait

        #blanket

        const _: ::core::option::Option<fn(#(#slot_types),*)> = ::core::option::Option::None;
    }
}
