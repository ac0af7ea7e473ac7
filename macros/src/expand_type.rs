//! Stage 3, form 2: a `#[callback]` type alias becomes a holder struct
//! generic over the closure, with trampolines monomorphic in the closure
//! type (no allocation, no vtable, no executable memory) and constructors
//! for each lifetime: `scope`/`new` (borrowed), `boxed` (destroy-notify),
//! `once` (called once).

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::{Ident, LitStr, ReturnType, Type};

use crate::check::ResolvedAbi;
use crate::expand::{cfg_attrs, fallback_fn, policy_type, site};
use crate::options::{OnPanic, Options};
use crate::parse::CallbackType;

/// Where a call finds its user data.
enum Slot<'a> {
    /// A `#[user_data]` parameter (index, C type).
    Param(usize, &'a Type),
    /// `user_data = EXPR`, a `*mut c_void`.
    Fetched(&'a syn::Expr),
    /// None: the closure must be zero-sized.
    None,
}

/// Everything the generated items share.
struct Plan<'a> {
    item: &'a CallbackType,
    runtime: TokenStream,
    abi: LitStr,
    policy: TokenStream,
    on_panic: OnPanic,
    /// The fallback as the trampolines use it: a local bound, outside their
    /// `unsafe` block, to `fallback_expr` (the user's code).
    fallback: TokenStream,
    fallback_expr: TokenStream,
    slot: Slot<'a>,
    /// The holder's state type: per threading contract.
    state: TokenStream,
    /// `Fn` (reentrant, sync) rather than `FnMut`.
    shared_call: bool,
    /// `+ Send` / `+ Send + Sync` on every closure, and as docs show it.
    thread_bounds: TokenStream,
    thread_doc: &'static str,
    /// The closure's generic name, and `scope`'s output type's.
    f: Ident,
    out: Ident,
    /// Trampoline parameter names: the user's where given.
    names: Vec<Ident>,
}

/// Picks `preferred` unless the signature already uses that name for
/// something else (a C type called `F`), then a reserved one.
fn fresh_name(preferred: &str, reserved: &str, used: &HashSet<String>) -> Ident {
    let name = if used.contains(preferred) {
        reserved
    } else {
        preferred
    };
    Ident::new(name, Span::call_site())
}

fn idents_in(tokens: TokenStream, into: &mut HashSet<String>) {
    for tt in tokens {
        match tt {
            TokenTree::Ident(ident) => {
                into.insert(ident.to_string());
            }
            TokenTree::Group(group) => idents_in(group.stream(), into),
            _ => {}
        }
    }
}

impl<'a> Plan<'a> {
    fn new(item: &'a CallbackType, options: &'a Options) -> Plan<'a> {
        let runtime = crate::expand::runtime(options);
        let abi = ResolvedAbi::resolve(item.abi.as_ref(), item.fn_span);
        let on_panic = options.policy();
        let slot = match (
            item.params.iter().position(|p| !p.user_data.is_empty()),
            &options.user_data,
        ) {
            (Some(index), _) => Slot::Param(index, &item.params[index].ty),
            (None, Some((expr, _))) => Slot::Fetched(expr),
            (None, None) => Slot::None,
        };
        let state = if options.sync.is_some() {
            quote!(#runtime::__private::NoState)
        } else if options.send.is_some() {
            quote!(#runtime::__private::SendState)
        } else {
            quote!(#runtime::__private::LocalState)
        };
        let thread_doc = match (options.send, options.sync) {
            (_, Some(_)) => " + Send + Sync",
            (Some(_), None) => " + Send",
            (None, None) => "",
        };
        let thread_bounds = if options.sync.is_some() {
            quote!(+ #runtime::__private::SyncClosure)
        } else if options.send.is_some() {
            quote!(+ #runtime::__private::SendClosure)
        } else {
            quote!()
        };
        let mut used = HashSet::new();
        for param in &item.params {
            idents_in(param.ty.to_token_stream(), &mut used);
        }
        idents_in(item.output.to_token_stream(), &mut used);
        let names = item
            .params
            .iter()
            .enumerate()
            .map(|(index, param)| match &param.name {
                Some(name) if name != "_" => name.clone(),
                _ => format_ident!("__ffi_arg{}", index, span = Span::mixed_site()),
            })
            .collect();
        Plan {
            item,
            abi: LitStr::new(&abi.name, abi.span),
            policy: policy_type(&runtime, on_panic),
            on_panic,
            fallback: Ident::new("__ffi_fallback", Span::mixed_site()).into_token_stream(),
            fallback_expr: fallback_fn(&runtime, options, &item.output),
            slot,
            state,
            shared_call: options.reentrant.is_some() || options.sync.is_some(),
            thread_bounds,
            thread_doc,
            f: fresh_name("F", "__F", &used),
            out: fresh_name("T", "__T", &used),
            names,
            runtime,
        }
    }

    fn slot_index(&self) -> Option<usize> {
        match self.slot {
            Slot::Param(index, _) => Some(index),
            _ => None,
        }
    }

    /// The closure's arguments: the C parameters minus the slot.
    fn closure_types(&self) -> Vec<&Type> {
        let skip = self.slot_index();
        self.item
            .params
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, p)| &p.ty)
            .collect()
    }

    fn closure_args(&self) -> Vec<&Ident> {
        let skip = self.slot_index();
        self.names
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, n)| n)
            .collect()
    }

    /// `FnMut(A, B) -> R` or `Fn(A, B) -> R`, with the threading bounds.
    fn bound(&self) -> TokenStream {
        let (types, output, bounds) =
            (self.closure_types(), &self.item.output, &self.thread_bounds);
        let runtime = &self.runtime;
        match self.slot {
            Slot::None => {
                quote!(#runtime::__private::core::ops::Fn(#(#types),*) #output + #runtime::__private::NoCaptures #bounds)
            }
            _ if self.shared_call => {
                quote!(#runtime::__private::core::ops::Fn(#(#types),*) #output #bounds)
            }
            _ => quote!(#runtime::__private::core::ops::FnMut(#(#types),*) #output #bounds),
        }
    }

    fn once_bound(&self) -> TokenStream {
        let (types, output, bounds) =
            (self.closure_types(), &self.item.output, &self.thread_bounds);
        let runtime = &self.runtime;
        quote!(#runtime::__private::core::ops::FnOnce(#(#types),*) #output + 'static #bounds)
    }

    /// The C slot type that `user_data()` returns and `destroy` takes.
    fn slot_type(&self) -> TokenStream {
        let runtime = &self.runtime;
        match self.slot {
            Slot::Param(_, ty) => quote!(#ty),
            _ => quote!(*mut #runtime::__private::core::ffi::c_void),
        }
    }

    /// The fn pointer type C takes, as written (minus `#[user_data]`).
    fn fn_ptr_type(&self) -> TokenStream {
        let unsafety = self.item.written_unsafe.map(|_| quote!(unsafe));
        let abi = &self.abi;
        let params = self.item.params.iter().map(|p| {
            let (attrs, ty) = (&p.attrs, &p.ty);
            match &p.name {
                Some(name) => quote!(#(#attrs)* #name: #ty),
                None => quote!(#(#attrs)* #ty),
            }
        });
        let output = &self.item.output;
        quote!(#unsafety extern #abi fn(#(#params),*) #output)
    }

    fn destroy_type(&self) -> TokenStream {
        let (abi, slot) = (&self.abi, self.slot_type());
        quote!(unsafe extern #abi fn(#slot))
    }

    /// A trampoline: `extern` fn with the C signature whose body is
    /// `make_call(ptr)` after the user data pointer is found.
    /// Its safety is the written type's: safe only for slot-less types and
    /// under `unsafe(safe_fn)`, which the check stage enforces.
    fn trampoline(&self, name: &Ident, bound: &TokenStream, call: TokenStream) -> TokenStream {
        let runtime = &self.runtime;
        let (abi, output, f) = (&self.abi, &self.item.output, &self.f);
        let (fallback, fallback_expr) = (&self.fallback, &self.fallback_expr);
        let unsafety = self.item.written_unsafe.map(|_| quote!(unsafe));
        let params = self.item.params.iter().zip(&self.names).map(|(p, name)| {
            let (attrs, ty) = (&p.attrs, &p.ty);
            quote!(#(#attrs)* #name: #ty)
        });
        let site_static = site(runtime, &self.item.ident);
        let ptr = Ident::new("__ffi_ptr", Span::mixed_site());
        let find_ptr = match self.slot {
            Slot::Param(index, ty) => {
                let name = &self.names[index];
                quote!(let #ptr = <#ty as #runtime::__private::UserDataSlot>::into_ptr(#name);)
            }
            Slot::Fetched(expr) => {
                let (policy, fallback) = (&self.policy, &self.fallback);
                quote! {
                    let #ptr = match #runtime::__private::fetch_user_data::<#policy>(
                        &__FFI_CALLBACK_SITE,
                        || #runtime::__private::UserDataSlot::into_ptr(
                            #[allow(unused_unsafe)]
                            unsafe { #expr }
                        ),
                    ) {
                        #runtime::__private::core::option::Option::Some(ptr) => ptr,
                        #runtime::__private::core::option::Option::None => return (#fallback)(),
                    };
                }
            }
            Slot::None => quote!(),
        };
        // One trampoline reports a C parameter or return type that is not
        // FFI-safe (on the user's token); the others share its signature.
        let lint = if name == "__ffi_trampoline" {
            quote!(#[deny(improper_ctypes_definitions)])
        } else {
            quote!(#[allow(improper_ctypes_definitions)])
        };
        quote! {
            #lint
            #unsafety extern #abi fn #name(#(#params),*) #output where #f: #bound {
                #site_static
                let #fallback = #fallback_expr;
                #find_ptr
                #[allow(unused_unsafe)]
                unsafe { #call }
            }
        }
    }
}

pub(crate) fn expand(item: &CallbackType, options: &Options) -> TokenStream {
    let plan = Plan::new(item, options);
    match plan.slot {
        Slot::None => expand_slotless(&plan),
        _ => expand_holder(&plan),
    }
}

/// Token-stream text with rustfmt-like spacing, for docs.
fn tidy(tokens: &str) -> String {
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
    ] {
        text = text.replace(from, to);
    }
    text
}

fn struct_docs(plan: &Plan<'_>, what: &str) -> TokenStream {
    let (types, output) = (plan.closure_types(), &plan.item.output);
    let fn_trait = match plan.slot {
        Slot::None => "Fn",
        _ if plan.shared_call => "Fn",
        _ => "FnMut",
    };
    let threads = plan.thread_doc;
    let signature = tidy(&quote!(#(#types),*).to_string());
    let output = tidy(&quote!(#output).to_string());
    let output = if output.is_empty() {
        String::new()
    } else {
        format!(" {output}")
    };
    let doc = format!(
        " `#[callback]` holder: {what} for closures `{fn_trait}({signature}){output}{threads}`. \
         See the `ffi_callback` crate docs for each constructor."
    );
    quote!(#[doc = ""] #[doc = #doc])
}

fn expand_holder(plan: &Plan<'_>) -> TokenStream {
    let item = plan.item;
    let runtime = &plan.runtime;
    let (attrs, vis, ident) = (&item.attrs, &item.vis, &item.ident);
    let cfgs = cfg_attrs(attrs);
    let (f, out, state, policy, fallback) = (
        &plan.f,
        &plan.out,
        &plan.state,
        &plan.policy,
        &plan.fallback,
    );
    let bound = plan.bound();
    let once_bound = plan.once_bound();
    let fn_ptr = plan.fn_ptr_type();
    let slot = plan.slot_type();
    let destroy = plan.destroy_type();
    let args = plan.closure_args();
    let ptr = Ident::new("__ffi_ptr", Span::mixed_site());
    let closure = Ident::new("__ffi_closure", Span::mixed_site());
    let holder = quote!(#runtime::__private::Holder::<#f, #state>);
    let once_holder = quote!(#runtime::__private::OnceHolder::<#f>);
    let from_ptr = quote!(<#slot as #runtime::__private::UserDataSlot>::from_ptr);
    let into_ptr = quote!(<#slot as #runtime::__private::UserDataSlot>::into_ptr);

    let call = if plan.shared_call {
        quote!(#holder::call_ref::<#policy, _>(#ptr, &__FFI_CALLBACK_SITE, #fallback, move |#closure: &#f| #closure(#(#args),*)))
    } else {
        quote!(#holder::call_mut::<#policy, _>(#ptr, &__FFI_CALLBACK_SITE, #fallback, move |#closure: &mut #f| #closure(#(#args),*)))
    };
    let trampoline = plan.trampoline(&format_ident!("__ffi_trampoline"), &bound, call);
    let once_call = |method: Ident| quote!(#once_holder::#method::<#policy, _>(#ptr, &__FFI_CALLBACK_SITE, #fallback, move |#closure: #f| #closure(#(#args),*)));
    let call_and_free = plan.trampoline(
        &format_ident!("__ffi_call_and_free"),
        &once_bound,
        once_call(format_ident!("call_and_free")),
    );
    let call_at_most_once = plan.trampoline(
        &format_ident!("__ffi_call_at_most_once"),
        &once_bound,
        once_call(format_ident!("call_at_most_once")),
    );
    let abi = &plan.abi;
    let site_static = site(runtime, ident);
    let resume = plan.on_panic == OnPanic::Resume;
    let scope_body = if resume {
        quote!(#runtime::__private::resume_panics(|| call(holder.function(), holder.user_data())))
    } else {
        quote!(call(holder.function(), holder.user_data()))
    };
    let docs = struct_docs(
        plan,
        "borrowed (`new`, `scope`) or owned (`boxed`, `once`) C callbacks",
    );
    let name = ident.to_string();
    let slot_check = slot_check(plan);

    quote! {
        #(#attrs)*
        #docs
        #vis struct #ident<#f> {
            holder: #runtime::__private::Holder<#f, #state>,
        }

        #(#cfgs)*
        impl<#f> #runtime::__private::core::fmt::Debug for #ident<#f> {
            fn fmt(&self, f: &mut #runtime::__private::core::fmt::Formatter<'_>) -> #runtime::__private::core::fmt::Result {
                f.debug_struct(#name).finish_non_exhaustive()
            }
        }

        #(#cfgs)*
        #[allow(dead_code)]
        impl<#f> #ident<#f> #slot_check {
            /// Holds `f` for a C call: pass [`function`](Self::function) and
            /// [`user_data`](Self::user_data), and keep this holder alive and
            /// unmoved until C stops calling it. [`scope`](Self::scope) does
            /// all of that for one call.
            #[inline]
            pub fn new(f: #f) -> Self where #f: #bound {
                Self { holder: #runtime::__private::Holder::new(f) }
            }

            /// The trampoline to pass to C with [`user_data`](Self::user_data).
            #[inline]
            pub fn function(&self) -> #fn_ptr where #f: #bound {
                Self::__ffi_trampoline
            }

            /// The user data to pass to C with [`function`](Self::function):
            /// a pointer to this holder.
            #[inline]
            pub fn user_data(&self) -> #slot {
                #from_ptr(self.holder.as_ptr())
            }

            /// Runs `call` with the trampoline and user data for `f`, which C
            /// may call until `call` returns. A panic in `f` is carried past
            /// the C code and resumed when `call` returns (with
            /// `on_panic = resume`).
            #[inline]
            pub fn scope<#out>(f: #f, call: impl #runtime::__private::core::ops::FnOnce(#fn_ptr, #slot) -> #out) -> #out where #f: #bound {
                let holder = Self::new(f);
                #scope_body
            }

            /// The closure back.
            #[inline]
            pub fn into_inner(self) -> #f {
                self.holder.into_inner()
            }

            /// Boxes `f` for a C library that keeps the callback and frees it
            /// through a destroy-notify: `into_raw()` gives `function`,
            /// `user_data` and `destroy`.
            #[inline]
            pub fn boxed(f: #f) -> #runtime::Boxed<#fn_ptr, #slot, #destroy> where #f: #bound + 'static {
                let #ptr = #holder::into_raw_box(f);
                let raw = #runtime::RawCallback {
                    function: Self::__ffi_trampoline as #fn_ptr,
                    user_data: #from_ptr(#ptr),
                    destroy: Self::__ffi_destroy as #destroy,
                };
                // SAFETY: `ptr` is a fresh boxed holder of this type, which
                // `free_box` and `__ffi_destroy` free.
                unsafe { #runtime::Boxed::from_parts(raw, #holder::free_box) }
            }

            /// Boxes the `FnOnce` `f` for a C library that calls it once:
            /// `into_raw()` when the call frees it, `into_raw_with_destroy()`
            /// when a destroy-notify follows.
            #[inline]
            pub fn once(f: #f) -> #runtime::Once<#fn_ptr, #slot, #destroy> where #f: #once_bound {
                let #ptr = #once_holder::into_raw_box(f);
                // SAFETY: `ptr` is a fresh boxed once-holder of this type,
                // which the trampolines, `__ffi_destroy_once` and `free`
                // expect.
                unsafe {
                    #runtime::Once::from_parts(
                        #from_ptr(#ptr),
                        Self::__ffi_call_and_free as #fn_ptr,
                        Self::__ffi_call_at_most_once as #fn_ptr,
                        Self::__ffi_destroy_once as #destroy,
                        #once_holder::free,
                    )
                }
            }

            #trampoline
            #call_and_free
            #call_at_most_once

            unsafe extern #abi fn __ffi_destroy(user_data: #slot) {
                #site_static
                // SAFETY: C calls the destroy-notify once, with the user data
                // of a `boxed` holder of this type, after its last call.
                unsafe { #holder::destroy_box::<#policy>(#into_ptr(user_data), &__FFI_CALLBACK_SITE) }
            }

            unsafe extern #abi fn __ffi_destroy_once(user_data: #slot) {
                #site_static
                // SAFETY: C calls the destroy-notify once, with the user data
                // of a `once` holder of this type, after its call.
                unsafe { #once_holder::destroy::<#policy>(#into_ptr(user_data), &__FFI_CALLBACK_SITE) }
            }
        }
    }
}

fn expand_slotless(plan: &Plan<'_>) -> TokenStream {
    let item = plan.item;
    let runtime = &plan.runtime;
    let (attrs, vis, ident) = (&item.attrs, &item.vis, &item.ident);
    let cfgs = cfg_attrs(attrs);
    let (f, out, policy, fallback) = (&plan.f, &plan.out, &plan.policy, &plan.fallback);
    let bound = plan.bound();
    let fn_ptr = plan.fn_ptr_type();
    let args = plan.closure_args();
    let closure = Ident::new("__ffi_closure", Span::mixed_site());
    let call = quote! {
        #runtime::__private::call_fn::<#policy, (), _>(
            &__FFI_CALLBACK_SITE,
            #runtime::__private::core::ptr::null_mut(),
            #fallback,
            move |()| {
                let #closure: &#f = #runtime::__private::conjure_zero_sized::<#f>();
                #closure(#(#args),*)
            },
        )
    };
    let trampoline = plan.trampoline(&format_ident!("__ffi_trampoline"), &bound, call);
    let resume = plan.on_panic == OnPanic::Resume;
    let scope_body = if resume {
        quote!(#runtime::__private::resume_panics(|| call(holder.function())))
    } else {
        quote!(call(holder.function()))
    };
    let docs = struct_docs(plan, "C callbacks without user data, so only capture-free");
    let require = quote!(#runtime::__private::require_zero_sized::<#f>());
    let name = ident.to_string();

    quote! {
        #(#attrs)*
        #docs
        #vis struct #ident<#f> {
            closure: #f,
        }

        #(#cfgs)*
        impl<#f> #runtime::__private::core::fmt::Debug for #ident<#f> {
            fn fmt(&self, f: &mut #runtime::__private::core::fmt::Formatter<'_>) -> #runtime::__private::core::fmt::Result {
                f.debug_struct(#name).finish_non_exhaustive()
            }
        }

        #(#cfgs)*
        #[allow(dead_code)]
        impl<#f> #ident<#f> {
            /// Holds the capture-free closure `f`; pass
            /// [`function`](Self::function) to C. (A type without a
            /// user-data slot has nowhere to carry captures, so `f` must be
            /// zero-sized.)
            #[inline]
            pub fn new(f: #f) -> Self where #f: #bound {
                #require;
                Self { closure: f }
            }

            /// The trampoline to pass to C.
            #[inline]
            pub fn function(&self) -> #fn_ptr where #f: #bound {
                Self::__ffi_trampoline
            }

            /// Runs `call` with the trampoline for `f`. A panic in `f` is
            /// carried past the C code and resumed when `call` returns
            /// (with `on_panic = resume`).
            #[inline]
            pub fn scope<#out>(f: #f, call: impl #runtime::__private::core::ops::FnOnce(#fn_ptr) -> #out) -> #out where #f: #bound {
                let holder = Self::new(f);
                #scope_body
            }

            /// The closure back.
            #[inline]
            pub fn into_inner(self) -> #f {
                self.closure
            }

            #trampoline
        }
    }
}

/// The alias as written, minus `#[user_data]`, for when the item has errors.
pub(crate) fn unchanged(item: &CallbackType) -> TokenStream {
    let (attrs, vis, ident, generics) = (&item.attrs, &item.vis, &item.ident, &item.generics);
    let unsafety = item
        .written_unsafe
        .map(|span| quote_spanned!(span=> unsafe));
    let abi = &item.abi;
    let params = item.params.iter().map(|p| {
        let (attrs, ty) = (&p.attrs, &p.ty);
        match &p.name {
            Some(name) => quote!(#(#attrs)* #name: #ty),
            None => quote!(#(#attrs)* #ty),
        }
    });
    let output: &ReturnType = &item.output;
    let lifetimes = &item.higher_ranked;
    quote! {
        #(#attrs)*
        #vis type #ident #generics = #lifetimes #unsafety #abi fn(#(#params),*) #output;
    }
}

/// `where Slot: UserDataSlot` on the holder's impl, spanned on the slot's
/// type: a type that cannot carry user data (`c_int` behind an alias) is
/// reported once, on the user's token, instead of at each of its uses.
fn slot_check(plan: &Plan<'_>) -> TokenStream {
    let Slot::Param(_, ty) = plan.slot else {
        return quote!();
    };
    let span = crate::expand::spanned_type(ty);
    let runtime: TokenStream = plan
        .runtime
        .clone()
        .into_iter()
        .map(|mut tt| {
            tt.set_span(Span::call_site().located_at(span));
            tt
        })
        .collect();
    quote_spanned!(span=> where #ty: #runtime::__private::UserDataSlot)
}
