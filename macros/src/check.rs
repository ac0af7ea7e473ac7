//! Stage 2: every rule the tokens can show, checked on the parsed item and
//! options; all errors of the item are collected. What passes comes back as
//! the resolved [`Model`], so the printers never work a fact out again.
//! Rules that depend on types the macro cannot see through (aliases such as
//! `LPARAM`) are left to rustc, through spanned assertions in the expansion
//! and `#[diagnostic::on_unimplemented]` on the runtime's traits.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote};
use syn::ext::IdentExt;
use syn::{GenericArgument, GenericParam, Ident, PathArguments, Type};

use crate::errors::Errors;
use crate::model::{
    Abi, Common, Conversion, EntryModel, FallbackValue, Flow, FnModel, FnUserData, FreshNames,
    KeepError, Model, Output, Policy, RaiseExit, SetModel, Threading, TypeModel, TypeSlot,
    UserDataSource,
};
use crate::options::{Given, OnPanic, Options};
use crate::parse::{
    Callback, CallbackFn, CallbackSet, CallbackType, IntoAttr, SetEntry, SetReceiver, UserDataAttr,
};
use crate::tokens;

/// Checks the item against every rule; the model when nothing failed.
/// `entry_options` are a set's entries' own (see [`entry_options`]); empty
/// for the other forms.
pub(crate) fn check<'a>(
    callback: &'a Callback,
    options: &'a Options,
    entry_options: &'a [Options],
    errors: &mut Errors,
) -> Option<Model<'a>> {
    match callback {
        Callback::Fn(item) => check_fn(item, options, errors).map(Model::Fn),
        Callback::Type(item) => check_type(item, options, errors).map(Model::Type),
        Callback::Set(item) => check_set(item, options, entry_options, errors).map(Model::Set),
    }
}

/// The policy: `abort` by default for types that may be called on other
/// threads, where no guard can catch; else `resume`.
fn policy(options: &Options, threaded: bool) -> Policy {
    let on_panic = match &options.on_panic {
        Some(given) => given.value,
        None if threaded => OnPanic::Abort,
        None => OnPanic::Resume,
    };
    Policy {
        on_panic,
        unguarded_fallback: options.unguarded_fallback.as_ref().is_some_and(|g| g.value),
    }
}

/// Rules shared by every form, on the options against the ABI and policy.
fn check_policy(options: &Options, policy: Policy, abi: &Abi, errors: &mut Errors) {
    if let Some(Given {
        value: OnPanic::Unwind,
        key,
    }) = &options.on_panic
    {
        if !abi.unwinds() && !abi.is_rust() {
            errors.error(
                *key,
                format_args!(
                    "`on_panic = unwind` needs an ABI that can unwind: write `extern \"{}-unwind\"` \
                     (a panic unwinding out of an `extern \"{}\"` fn aborts the process)",
                    abi.name, abi.name
                ),
            );
        }
    }
    if let Some(given) = &options.fallback {
        if !policy.returns_fallback() {
            errors.error(
                given.key,
                format_args!(
                    "`fallback` is never used with `on_panic = {}`: only `resume` and `fallback` \
                     return a value to C after a panic; remove one of them",
                    policy.on_panic.name()
                ),
            );
        }
    }
    if let Some(given) = &options.unguarded_fallback {
        if policy.on_panic != OnPanic::Resume {
            errors.error(
                given.key,
                format_args!(
                    "`unguarded` says what a `resume` callback does with no guard on its thread, \
                     but this callback is `on_panic = {}`: remove one of them",
                    policy.on_panic.name()
                ),
            );
        }
    }
}

/// The ABI must be one C can call.
fn check_abi(abi: &Abi, errors: &mut Errors) {
    if abi.is_rust() {
        errors.error(
            abi.span,
            format_args!(
                "a callback for C needs a foreign ABI such as \"C\" or \"system\", not \"{}\"",
                abi.name
            ),
        );
    }
}

/// What C receives after a panic, as the printers need it.
fn fallback<'a>(
    options: &'a Options,
    policy: Policy,
    output: Option<&'a Type>,
) -> FallbackValue<'a> {
    if !policy.returns_fallback() || options.raise.is_some() {
        return FallbackValue::Never;
    }
    match &options.fallback {
        Some(given) => FallbackValue::Expr(&given.value),
        None => FallbackValue::Default(output),
    }
}

/// Every `#[user_data]` marker of the item, in order.
fn markers<'a, P: 'a>(
    params: &'a [P],
    user_data: impl Fn(&'a P) -> &'a [UserDataAttr],
) -> Vec<&'a UserDataAttr> {
    params.iter().flat_map(user_data).collect()
}

/// Reports every marker after the first.
fn check_single_marker(markers: &[&UserDataAttr], errors: &mut Errors) {
    for marker in markers.iter().skip(1) {
        errors.spanned(
            &marker.tokens,
            "only one parameter can carry the user data: `#[user_data]` is given more than once",
        );
    }
}

/// What the `#[user_data]` parameter carries, for the error when it is
/// marked `#[into(..)]`.
const SLOT_NOT_CONVERTED: &str = "the `#[user_data]` parameter carries the holder (or the set's \
                                  state), not a value for the closures: it cannot be converted; \
                                  remove `#[into(..)]`";

/// The same, for a fn's `#[user_data]` parameter.
const FN_USER_DATA_NOT_CONVERTED: &str = "the `#[user_data]` parameter receives the user data as \
                                          its own type (`&mut State`, `Box<Job>`...), which says \
                                          how C's pointer is unpacked: it cannot be converted; \
                                          remove `#[into(..)]`";

/// The `#[into(Type)]` conversions of a fn's, a callback type's or a set
/// entry's parameters (their markers, whether each is the user-data slot,
/// its name if the user gave one, its C type): one at most per parameter,
/// never on the slot (`slot_error` says why).
fn conversions<'a>(
    params: impl Iterator<Item = (&'a [IntoAttr], bool, Option<&'a Ident>, &'a Type)>,
    generics: &syn::Generics,
    slot_error: &str,
    errors: &mut Errors,
) -> Vec<Option<Conversion<'a>>> {
    params
        .enumerate()
        .map(|(index, (markers, is_slot, name, c_type))| {
            let mut markers = markers.iter();
            let first = markers.next()?;
            for extra in markers {
                errors.spanned(
                    &extra.tokens,
                    "a parameter converts into one type: `#[into(..)]` is given more than once",
                );
            }
            if is_slot {
                errors.spanned(&first.tokens, slot_error);
                return None;
            }
            let label = match name {
                Some(name) if name != "_" => format!("`{}`", name.unraw()),
                _ => format!("{}", index + 1),
            };
            let target = first.target.as_ref()?;
            let borrowed = is_borrow(target);
            if borrowed {
                refuse_named_lifetimes(target.to_token_stream(), errors);
                refuse_rust_referent(target, errors);
            }
            let is_slice = matches!(borrowed_referent(target), Some(Type::Slice(_)));
            let is_str = borrows_str(target);
            if is_str && is_mut_borrow(target) {
                errors.spanned(
                    target,
                    "`&mut str` cannot be borrowed from C: what C or the closure writes through \
                     it could leave bytes that are not UTF-8; borrow `&mut [u8]` (with \
                     `len = EXPR`) and check it with `std::str::from_utf8_mut`, or `&str`",
                );
            }
            match (&first.len, is_slice || is_str) {
                (Some((key, _)), false) => errors.error(
                    *key,
                    "`len = EXPR` is the length of a borrowed slice or string: the type is \
                     `&[T]`, `&mut [T]` or `&str` (or an `Option` of one)",
                ),
                (None, true) if is_slice => errors.spanned(
                    target,
                    "a borrowed slice needs its length, which C passes beside the pointer: \
                     `#[into(&[u8], len = size)]` (EXPR reads the C parameters, as a `usize`)",
                ),
                _ => {}
            }
            Some(Conversion {
                target,
                label,
                borrowed,
                mutable: borrowed && is_mut_borrow(target),
                raw_pointers: borrowed && borrows_raw_pointers(target),
                len: first.len.as_ref().map(|(_, len)| len),
                slice_of: if is_slice {
                    slice_of(c_type, target, generics)
                } else {
                    None
                },
            })
        })
        .collect()
}

/// A borrowed slice's C pointee and element type, when the C parameter is
/// written as a pointer to a type other than `c_void` (`*const uv_buf_t`
/// borrowed as `&[u8]`): their sizes are then checked equal, since a slice
/// borrows the elements the pointer points at, not a struct that holds
/// them. (An alias such as `gpointer` is not seen into.)
fn slice_of<'a>(
    c_type: &'a Type,
    target: &'a Type,
    generics: &syn::Generics,
) -> Option<(&'a Type, &'a Type)> {
    let Type::Ptr(pointer) = ungroup(c_type) else {
        return None;
    };
    let pointee = ungroup(&pointer.elem);
    if let Type::Path(path) = pointee {
        if path.qself.is_none() && path.path.segments.last()?.ident == "c_void" {
            return None;
        }
    }
    let Type::Slice(slice) = borrowed_referent(target)? else {
        return None;
    };
    let element = ungroup(&slice.elem);
    // Written alike: one type, nothing to check.
    if pointee.to_token_stream().to_string() == element.to_token_stream().to_string() {
        return None;
    }
    // Checked by a constant, which cannot name generic parameters.
    let generic = |ty: &Type| {
        let tokens = ty.to_token_stream();
        tokens::mentions(tokens.clone(), "Self")
            || generics.params.iter().any(|param| match param {
                GenericParam::Type(t) => tokens::mentions(tokens.clone(), &t.ident.to_string()),
                GenericParam::Const(c) => tokens::mentions(tokens.clone(), &c.ident.to_string()),
                GenericParam::Lifetime(_) => false,
            })
    };
    (!generic(pointee) && !generic(element)).then_some((pointee, element))
}

/// Whether a callback type borrows one of its parameters (`#[into(&..)]`):
/// its trampoline then trusts C's pointers.
fn borrows_parameters(item: &CallbackType) -> bool {
    item.params
        .iter()
        .filter_map(|p| p.into.first())
        .any(|m| m.target.as_ref().is_some_and(is_borrow))
}

/// Whether an `#[into(..)]` target borrows from a C pointer: a reference,
/// or an `Option` of one.
fn is_borrow(ty: &Type) -> bool {
    borrowed_referent(ty).is_some()
}

/// Whether a borrowed `#[into(..)]` target is `&mut T` (or an `Option` of
/// one).
fn is_mut_borrow(ty: &Type) -> bool {
    let ty = ungroup(ty);
    matches!(
        single_generic(ty, "Option").map_or(ty, ungroup),
        Type::Reference(reference) if reference.mutability.is_some()
    )
}

/// Whether a borrowed `#[into(..)]` target reads raw pointers from C
/// (`&*const T`, `&mut *mut T`, `&[*const T]`, or an `Option` of one), as
/// written: nothing reaches through a raw pointer without `unsafe`, so
/// such a borrow may be made on any thread (raw pointers are not `Sync`
/// or `Send`, by convention only).
fn borrows_raw_pointers(ty: &Type) -> bool {
    let referent = match borrowed_referent(ty) {
        Some(Type::Slice(slice)) => ungroup(&slice.elem),
        Some(other) => other,
        None => return false,
    };
    matches!(referent, Type::Ptr(_))
}

/// Whether a borrowed `#[into(..)]` target is a string, `&str` (or
/// `&mut str`, refused, or an `Option` of one), as written: its check reads
/// C's memory (`BorrowStr`). (An alias of `str` is not seen here, and its
/// `BorrowParam` has no impl: a compile error, never an unchecked borrow.)
pub(crate) fn borrows_str(ty: &Type) -> bool {
    let Some(Type::Path(path)) = borrowed_referent(ty) else {
        return false;
    };
    if path.qself.is_some() {
        return false;
    }
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|segment| match segment.arguments {
            PathArguments::None => segment.ident.to_string(),
            _ => String::new(),
        })
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    matches!(
        segments.as_slice(),
        ["str"] | ["std" | "core", "primitive", "str"]
    )
}

/// What a borrowed conversion reads from C's pointer: `T` of `&T`,
/// `&mut T` or an `Option` of one.
fn borrowed_referent(ty: &Type) -> Option<&Type> {
    let ty = ungroup(ty);
    match single_generic(ty, "Option").map_or(ty, ungroup) {
        Type::Reference(reference) => Some(ungroup(&reference.elem)),
        _ => None,
    }
}

/// Refuses a borrowed conversion whose referent no C library can have
/// written: a Rust reference (a C pointer is not a `&T`, and `&CStr` or
/// `&[T]` not even its size), a standard container, or a cell (whose
/// mutation through `&` C does not expect: a `sync` callback's closures
/// would race on it).
fn refuse_rust_referent(target: &Type, errors: &mut Errors) {
    let Some(referent) = borrowed_referent(target) else {
        return;
    };
    // A slice's elements are what C wrote.
    let referent = match referent {
        Type::Slice(slice) => ungroup(&slice.elem),
        other => other,
    };
    let is_cell = match referent {
        Type::Path(path) => path.path.segments.last().is_some_and(|last| {
            ["Cell", "UnsafeCell", "OnceCell", "SyncUnsafeCell"]
                .iter()
                .any(|name| last.ident == name)
        }),
        _ => false,
    };
    if matches!(referent, Type::Reference(_)) || is_std_container(referent) || is_cell {
        errors.spanned(
            referent,
            format_args!(
                "`{}` is not a C type, so C's pointer cannot point at one: borrow what the C \
                 header declares (`&CStr` for a `char *`, `&T` for a `T *`, `&*const T` for a \
                 `T **`), or receive the pointer and convert it in the closure",
                display(referent)
            ),
        );
    }
}

/// Refuses named lifetimes in a borrowed conversion's type: the borrow
/// lasts for one call, which only an elided (higher-ranked) lifetime says;
/// `&'static CStr` would let the closure keep what C frees afterwards.
fn refuse_named_lifetimes(tokens: TokenStream, errors: &mut Errors) {
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Group(group) => refuse_named_lifetimes(group.stream(), errors),
            TokenTree::Punct(quote) if quote.as_char() == '\'' => {
                if let Some(TokenTree::Ident(name)) = tokens.peek() {
                    if name != "_" {
                        let lifetime = quote!(#quote #name);
                        errors.spanned(
                            &lifetime,
                            format_args!(
                                "a borrowed parameter lasts for the call only, so it takes no \
                                 named lifetime: write the reference without `'{name}` (the \
                                 closure then borrows it for each call); to keep what C passed, \
                                 copy it in the closure (`.to_owned()`)"
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

/// Fresh names: the generics `F`, `O`, `T`, the type form's `LENT` and its
/// local import `__ffi`, unless the item or its options mention them (a C
/// type or a constant called `F`), then with trailing underscores until
/// they are unused. A macro call in the tokens could expand to anything, so
/// then long reserved names are used.
fn fresh_names(tokens: TokenStream) -> FreshNames {
    let mut used = HashSet::new();
    let mut has_macro = false;
    idents_in(tokens, &mut used, &mut has_macro);
    let fresh = |preferred: &str, reserved: &str, span: Span| -> Ident {
        let mut name = if has_macro {
            reserved.to_owned()
        } else {
            preferred.to_owned()
        };
        while used.contains(&name) {
            name.push('_');
        }
        Ident::new(&name, span)
    };
    let generic = |preferred: &str| {
        fresh(
            preferred,
            &format!("__FfiCallback{preferred}"),
            Span::call_site(),
        )
    };
    FreshNames {
        closure: generic("F"),
        output: generic("O"),
        result: generic("T"),
        // Mixed-site spans do not hide items and imports: these names are
        // fresh too (a user `mod __ffi` or `const LENT` in a parameter's
        // type stays the user's).
        private: fresh("__ffi", "__ffi_callback_private", Span::mixed_site()),
        lent: fresh("LENT", "__FFI_CALLBACK_LENT", Span::mixed_site()),
    }
}

fn idents_in(tokens: TokenStream, into: &mut HashSet<String>, has_macro: &mut bool) {
    let mut previous_ident = false;
    for tt in tokens {
        match tt {
            TokenTree::Ident(ident) => {
                into.insert(ident.to_string());
                previous_ident = true;
                continue;
            }
            TokenTree::Punct(punct) if punct.as_char() == '!' && previous_ident => {
                *has_macro = true;
            }
            TokenTree::Group(group) => idents_in(group.stream(), into, has_macro),
            _ => {}
        }
        previous_ident = false;
    }
}

/// All the tokens the user wrote that end up in generated scopes.
fn user_tokens(options: &Options, item: impl ToTokens) -> TokenStream {
    let mut tokens = item.to_token_stream();
    for expr in option_exprs(options) {
        expr.to_tokens(&mut tokens);
    }
    if let Some(error) = &options.error {
        error.value.to_tokens(&mut tokens);
    }
    tokens
}

/// The options' expressions, which may name the C parameters.
fn option_exprs(options: &Options) -> impl Iterator<Item = &syn::Expr> {
    [
        &options.fallback,
        &options.on_error,
        &options.keep_error,
        &options.user_data,
        &options.on_continue,
        &options.on_break,
        &options.raise,
        &options.on_raise,
    ]
    .into_iter()
    .flatten()
    .map(|given| &given.value)
}

/// The option expressions that may read the C parameters by name, and the
/// `len = EXPR` of `#[into(..)]`s.
fn exprs_reading_params<'a>(
    options: &Options,
    intos: impl Iterator<Item = &'a [IntoAttr]>,
) -> TokenStream {
    let mut tokens = TokenStream::new();
    for expr in option_exprs(options) {
        expr.to_tokens(&mut tokens);
    }
    for (_, len) in intos.flatten().filter_map(|into| into.len.as_ref()) {
        len.to_tokens(&mut tokens);
    }
    tokens
}

/// A trampoline's name for a C parameter: the user's where it is a plain
/// name (the docs and the expressions in `read` use it), else a hygienic
/// one; also for an `_unused` name that nothing in `read` reads, which the
/// trampoline passes on and clippy's `used_underscore_binding` would blame
/// on the user.
fn trampoline_param_name(name: Option<&Ident>, index: usize, read: &TokenStream) -> Ident {
    match name {
        Some(name)
            if name != "_"
                && (!name.unraw().to_string().starts_with('_')
                    || tokens::mentions(read.clone(), &name.to_string())) =>
        {
            name.clone()
        }
        _ => format_ident!("__ffi_arg{}", index, span = Span::mixed_site()),
    }
}

fn common<'a>(
    options: &'a Options,
    abi: Abi,
    policy: Policy,
    output: Option<&'a Type>,
    names: FreshNames,
) -> Common<'a> {
    Common {
        runtime: tokens::runtime(options),
        abi,
        policy,
        fallback: fallback(options, policy, output),
        on_error: options.on_error.as_ref().map(|given| &given.value),
        keep_error: KeepError::resolve(options.keep_error.as_ref().map(|given| &given.value)),
        flow: match (&options.on_continue, &options.on_break) {
            (Some(on_continue), Some(on_break)) => Some(Flow {
                on_continue: &on_continue.value,
                on_break: &on_break.value,
            }),
            _ => None,
        },
        safe_fn: options.safe_fn.as_ref().map(|given| given.value),
        preset_promise: options
            .preset_use
            .as_ref()
            .filter(|_| options.preset_holds_unsafe_block)
            .and_then(|used| used.unsafe_token.as_ref())
            .map(Ident::span),
        raise: options.raise.as_ref().map(|given| RaiseExit {
            call: &given.value,
            prepare: options.on_raise.as_ref().map(|given| &given.value),
        }),
        names,
    }
}

fn check_fn<'a>(
    item: &'a CallbackFn,
    options: &'a Options,
    errors: &mut Errors,
) -> Option<FnModel<'a>> {
    let abi = Abi::resolve(item.abi.as_ref(), item.fn_span);
    let markers = markers(&item.params, |p| &p.user_data);
    let marker = markers.first().copied();
    // `send`: C may call the fn on any thread, which aborts on a panic
    // unless `resume` is written, as for a `send` callback type.
    let policy = policy(options, options.send.is_some());
    let output = split_output(&item.output);
    // Converted as for a callback type's closures; the body receives the
    // converted values, the trampoline keeps the C types.
    let conversions = conversions(
        item.params.iter().map(|p| {
            let name = match &*p.pat {
                syn::Pat::Ident(binding) => Some(&binding.ident),
                _ => None,
            };
            (&p.into[..], !p.user_data.is_empty(), name, &*p.ty)
        }),
        &item.generics,
        FN_USER_DATA_NOT_CONVERTED,
        errors,
    );
    let borrows = conversions.iter().flatten().any(|c| c.borrowed);
    refuse_flow(options, errors);
    check_reason_name(
        options,
        &pat_names(item.params.iter().map(|p| &*p.pat)),
        errors,
    );

    // The attribute's options, as written before the item.
    check_policy(options, policy, &abi, errors);
    for (key, given) in [
        ("reentrant", &options.reentrant),
        ("sync", &options.sync),
        ("local", &options.local),
    ] {
        if let Some(given) = given {
            let hint = if key == "sync" {
                " (a fn that C may call on any thread takes `send`)"
            } else {
                ""
            };
            errors.error(
                given.key,
                format_args!(
                    "`{key}` describes the closures of a callback type; a `#[callback]` fn \
                     has no closure to check: remove it{hint}"
                ),
            );
        }
    }
    for (key, span) in [
        ("error", options.error.as_ref().map(|g| g.key)),
        ("fn_type", options.fn_type.as_ref().map(|g| g.key)),
    ] {
        if let Some(span) = span {
            let why = if key == "error" {
                "a `#[callback]` fn's error type is the `E` of the `Result<_, E>` it returns"
            } else {
                "a `#[callback]` fn is itself the C function"
            };
            errors.error(
                span,
                format_args!("`{key}` is for callback types: {why}; remove it"),
            );
        }
    }
    refuse_destroy_outside_entries(options, "a `#[callback]` fn has no state to end", errors);
    if let (Some(given), None) = (&options.user_data, marker) {
        errors.error(
            given.key,
            "`user_data = EXPR` needs a parameter to receive it: mark it `#[user_data]`, as in \
             `#[user_data] state: &mut State`",
        );
    }
    if let Some(given) = &options.safe_fn {
        if marker.is_none() && !borrows {
            // A binding's preset gives it to every callback: needless here,
            // not wrong.
            if !options.safe_fn_from_preset {
                errors.error(
                    given.key,
                    "`unsafe(safe_fn)` is not needed: a callback without user data or borrowed \
                     parameters (`#[into(&..)]`) is already a safe fn",
                );
            }
        } else if item.written_unsafe.is_some() {
            errors.error(
                given.key,
                "`unsafe(safe_fn)` makes the callback a safe fn, but it is declared `unsafe fn`: \
                 remove one of them",
            );
        }
    }
    let result_span = match &item.output {
        syn::ReturnType::Type(_, ty) => tokens::first_span(ty),
        syn::ReturnType::Default => item.fn_span,
    };
    if options.raise.is_some() {
        check_raise(options, errors);
    } else {
        check_on_error(
            options,
            policy,
            output.is_result,
            result_span,
            ResultSubject::FnBody,
            errors,
        );
        if let Some(given) = &options.on_raise {
            errors.error(
                given.key,
                "`on_raise` prepares the `raise = EXPR` exit, which is missing: add `raise = \
                 unsafe { lua_error(l) }` (the C library's diverging error call), or remove \
                 `on_raise`",
            );
        }
    }

    // The item, in source order.
    refuse_repeated(&item.attrs, errors);
    if let Some(span) = item.constness {
        errors.error(span, "a `const fn` cannot be a C callback: remove `const`");
    }
    if let Some(span) = item.asyncness {
        errors.error(
            span,
            "an `async fn` cannot be a C callback: C calls it and needs the result now; remove \
             `async` (to await a C completion, see the callback types' `future`)",
        );
    }
    check_abi(&abi, errors);
    if let Some(receiver) = &item.receiver {
        errors.spanned(
            receiver,
            "a C callback cannot take `self`: make it a free fn and pass the state as \
             `#[user_data] state: &mut State`",
        );
    }
    check_single_marker(&markers, errors);
    for param in item.params.iter().filter(|p| p.user_data.is_empty()) {
        check_c_param(&param.ty, errors);
    }
    let index = item.params.iter().position(|p| !p.user_data.is_empty());
    if let Some(index) = index {
        let param = &item.params[index];
        check_received_type(&param.ty, errors);
        let slot = param.user_data[0].slot.as_ref();
        match (slot, &options.user_data) {
            (Some(slot), Some(_)) => errors.spanned(
                slot,
                "with `user_data = EXPR` the user data is not a C parameter, so it has no slot \
                 type: write `#[user_data]`",
            ),
            (Some(slot), None) => check_slot_type(slot, errors),
            (None, _) => {}
        }
    }
    if let Some(variadic) = &item.variadic {
        errors.spanned(
            variadic,
            "a C-variadic fn (`...`) cannot be a `#[callback]`: stable Rust cannot define one",
        );
    }
    check_c_return(&item.output, errors);
    refuse_flow_return(output.c_type, errors);
    if errors.has_errors() {
        return None;
    }

    let user_data = index.map(|index| {
        let param = &item.params[index];
        let source = match &options.user_data {
            Some(given) => UserDataSource::Accessor(&given.value),
            None => UserDataSource::Param(param.user_data[0].slot.as_ref()),
        };
        let received: &Type = &param.ty;
        let counted = single_generic(ungroup(received), "Arc")
            .or_else(|| single_generic(ungroup(received), "Rc"))
            .is_some();
        let boxed = single_generic(ungroup(received), "Box").is_some();
        FnUserData {
            index,
            received,
            source,
            counted,
            boxed,
        }
    });
    // Unpacking user data and borrowing what C's pointers point at both
    // trust C: the caller's `unsafe`, or `unsafe(safe_fn)`'s promise.
    let shim_unsafe = item.written_unsafe.is_some()
        || ((user_data.is_some() || borrows) && options.safe_fn.is_none());
    // A module cannot sit in an impl block; a fn that names `Self` is in
    // one. `in_impl` says so for the others. Only the fn's own `Self`
    // counts: an item nested in the body or in an option's expression (a
    // local `impl`) has its own.
    let in_impl = options.in_impl.is_some()
        || names_self(item)
        || tokens::tokens_mention_outside_items(user_tokens(options, TokenStream::new()), "Self");
    let typed_constructor = user_data.is_some() && !in_impl;
    let names = fresh_names(user_tokens(options, item.source.clone()));
    Some(FnModel {
        item,
        common: common(options, abi, policy, output.c_type, names),
        send: options.send.is_some(),
        user_data,
        output,
        shim_unsafe,
        typed_constructor,
        in_impl,
        conversions,
    })
}

/// Whether the fn names its impl's `Self`: in its signature, or in its
/// body outside the items nested there (whose `Self` is their own: a
/// local `impl Point { fn new() -> Self }` in a free fn).
fn names_self(item: &CallbackFn) -> bool {
    let mut signature = item.generics.to_token_stream();
    item.generics.where_clause.to_tokens(&mut signature);
    for param in &item.params {
        param.pat.to_tokens(&mut signature);
        param.ty.to_tokens(&mut signature);
        // `#[user_data(<Self as Binding>::Slot)]`
        for marker in &param.user_data {
            marker.slot.to_tokens(&mut signature);
        }
        // `#[into(&Self)]`, `#[into(&[u8], len = Self::LEN)]`
        for into in &param.into {
            into.target.to_tokens(&mut signature);
            if let Some((_, len)) = &into.len {
                len.to_tokens(&mut signature);
            }
        }
    }
    item.output.to_tokens(&mut signature);
    tokens::mentions(signature, "Self")
        || item
            .block
            .stmts
            .iter()
            .any(|stmt| tokens::mentions_outside_items(stmt, "Self"))
}

/// Whether the attribute is `#[callback]` (by its path's last segment:
/// `callback`, `ffi_callback::callback`).
pub(crate) fn is_callback_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|last| last.ident == "callback")
}

/// A `#[callback]` left among the item's attributes is a second one: it
/// would wrap the generated code in a second trampoline.
fn refuse_repeated(attrs: &[syn::Attribute], errors: &mut Errors) {
    for attr in attrs.iter().filter(|attr| is_callback_attr(attr)) {
        errors.spanned(
            attr,
            "`#[callback]` is applied twice: one `#[callback(...)]` takes all the options; \
             remove this one",
        );
    }
}

/// An entry point's `#[callback]` attributes besides the one `#[callback(...)]`
/// its options are read from: a second one, or one written `#[callback =
/// ..]`, whose options would be lost.
fn refuse_entry_callback_attrs(entry: &SetEntry, errors: &mut Errors) {
    for attr in &entry.other_callback_attrs {
        match &attr.meta {
            syn::Meta::NameValue(nv) => {
                // `#[callback = "fallback = -1"]`: its text, as it should be written.
                let written = match &nv.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => s.value(),
                    _ => "...".to_owned(),
                };
                errors.spanned(
                    attr,
                    format_args!(
                        "an entry point's options go in parentheses: write `#[callback({written})]`"
                    ),
                );
            }
            _ => errors.spanned(
                attr,
                format_args!(
                    "`#[callback]` is given twice on the entry point `{}`: one `#[callback(...)]` \
                     takes all its options; move them into the first and remove this one",
                    entry.ident.unraw()
                ),
            ),
        }
    }
}

/// With `raise = EXPR` every failure ends by raising: the options that
/// choose a value for C have nothing to do.
fn check_raise(options: &Options, errors: &mut Errors) {
    for (key, span) in [
        ("on_panic", options.on_panic.as_ref().map(|g| g.key)),
        (
            "unguarded",
            options.unguarded_fallback.as_ref().map(|g| g.key),
        ),
        ("fallback", options.fallback.as_ref().map(|g| g.key)),
        ("on_error", options.on_error.as_ref().map(|g| g.key)),
        ("keep_error", options.keep_error.as_ref().map(|g| g.key)),
    ] {
        if let Some(span) = span {
            errors.error(
                span,
                format_args!(
                    "with `raise = EXPR` a panic, an `Err` or a refused call ends by raising the \
                     C library's error, so `{key}` is never used: remove it (prepare the raise \
                     with `on_raise = EXPR`, which reads `failure`)"
                ),
            );
        }
    }
}

/// `raise` and `on_raise` are the fn form's.
fn raise_not_here(options: &Options, what: &str, errors: &mut Errors) {
    for given in [&options.raise, &options.on_raise].into_iter().flatten() {
        errors.error(
            given.key,
            format_args!(
                "`raise` and `on_raise` are for `#[callback]` fns (a Lua C function, a libpng \
                 read callback), not {what}"
            ),
        );
    }
}

/// The C return type of a callback type's alias, if any.
fn type_output(output: &syn::ReturnType) -> Option<&Type> {
    match output {
        syn::ReturnType::Type(_, ty) => Some(ty),
        syn::ReturnType::Default => None,
    }
}

/// `on_continue` and `on_break` come together, for a callback that returns
/// a C value (`output`).
fn check_flow(options: &Options, output: Option<&Type>, errors: &mut Errors) {
    match (&options.on_continue, &options.on_break) {
        (Some(given), None) | (None, Some(given)) => errors.error(
            given.key,
            "`on_continue` and `on_break` come together: the closures return `ControlFlow<()>`, \
             and C receives one value for `Continue(())`, the other for `Break(())`",
        ),
        (Some(given), Some(_)) if output.is_none() => errors.error(
            given.key,
            "`on_continue` and `on_break` are the values C receives, but this callback returns \
             nothing to C: remove them",
        ),
        _ => {}
    }
}

/// `on_continue` and `on_break` are for closures and methods, whose return
/// type the C signature does not fix; a fn's body returns its C value.
fn refuse_flow(options: &Options, errors: &mut Errors) {
    if let Some(given) = options.on_continue.as_ref().or(options.on_break.as_ref()) {
        errors.error(
            given.key,
            "`on_continue` and `on_break` are for callback types and set entries, whose closures \
             and methods return `ControlFlow<()>`; a `#[callback]` fn returns the C value it \
             declares: return it from the body",
        );
    }
}

/// A set entry declaring `ControlFlow` (by name) as it would a `Result`:
/// an entry declares the C type, and `on_continue`/`on_break` make its
/// method return `ControlFlow<()>`.
fn refuse_entry_flow_return(c_type: Option<&Type>, errors: &mut Errors) {
    if let Some(path) = flow_path(c_type) {
        errors.spanned(
            path,
            "a set's entry point declares the C type C receives (`-> c_int`), with \
             `on_continue = ..` and `on_break = ..` for the `ControlFlow<()>` its method then \
             returns (a `Result` is declared as the method returns it, as it carries the C \
             value)",
        );
    }
}

/// The return type, if it is a `ControlFlow` (by name).
fn flow_path(c_type: Option<&Type>) -> Option<&syn::TypePath> {
    path_named(c_type, "ControlFlow")
}

/// `ty`, if it is a path whose last segment is `name`.
fn path_named<'a>(ty: Option<&'a Type>, name: &str) -> Option<&'a syn::TypePath> {
    match ty.map(ungroup) {
        Some(Type::Path(path))
            if path
                .path
                .segments
                .last()
                .is_some_and(|last| last.ident == name) =>
        {
            Some(path)
        }
        _ => None,
    }
}

/// A fn returning `ControlFlow` (by name), as a callback type's closures
/// do: C receives what the fn returns, which `ControlFlow` is not.
fn refuse_flow_return(c_type: Option<&Type>, errors: &mut Errors) {
    if let Some(path) = flow_path(c_type) {
        errors.spanned(
            path,
            "a `#[callback]` fn returns the C value itself (`c_int`, `gboolean`, ...): \
             `ControlFlow` with `on_continue`/`on_break` is for callback types and set entries; \
             return the C type",
        );
    }
    // A comparator written as a fn: its `Ordering` would reach C as an
    // `i8`, where C reads an `int`.
    if let Some(path) = path_named(c_type, "Ordering") {
        errors.spanned(
            path,
            "a `#[callback]` fn returns the C value itself, and `Ordering` is an `i8` to C, \
             not the `int` a comparator returns: return `c_int` (`a.cmp(b) as c_int`), or \
             declare a callback type, whose closures may return `Ordering`",
        );
    }
}

/// The plain names among parameter patterns.
fn pat_names<'p>(pats: impl Iterator<Item = &'p syn::Pat>) -> Vec<String> {
    pats.filter_map(|pat| match pat {
        syn::Pat::Ident(binding) => Some(binding.ident.unraw().to_string()),
        _ => None,
    })
    .collect()
}

/// `fallback = EXPR` reads why C gets it as `why`; `failure` (the raise
/// exit's name for it) is a likely slip, named here rather than left to
/// rustc's "cannot find value".
fn check_reason_name(options: &Options, params: &[String], errors: &mut Errors) {
    let Some(given) = &options.fallback else {
        return;
    };
    if tokens::mentions_as_variable(given.value.to_token_stream(), "failure")
        && !params.iter().any(|name| name == "failure")
    {
        errors.spanned(
            &given.value,
            "`fallback = EXPR` reads why C gets the fallback as `why` (a `&str`: the panic's \
             message, or the refusal's reason); `failure` is what `on_raise` reads, with `raise`",
        );
    }
}

/// Whose `Result` [`check_on_error`] speaks of: a fn's body returns it, a
/// set entry declares it (its method returns what it declares).
#[derive(Clone, Copy)]
enum ResultSubject {
    FnBody,
    SetEntry,
}

/// `on_error` needs a `Result`; a `Result` needs something to give C.
fn check_on_error(
    options: &Options,
    policy: Policy,
    is_result: bool,
    result_span: Span,
    subject: ResultSubject,
    errors: &mut Errors,
) {
    let (what, fix) = match subject {
        ResultSubject::FnBody => ("its body returns", "return `Result<R, E>`"),
        ResultSubject::SetEntry => (
            "the entry point declares",
            "declare it `-> Result<R, E>` (C receives the `R`), which its method returns",
        ),
    };
    if let (Some(given), false) = (&options.keep_error, is_result) {
        errors.error(
            given.key,
            format_args!(
                "`keep_error` says where an `Err(e)` of the callback goes, but {what} no \
                 `Result`: {fix}, or remove `keep_error`"
            ),
        );
    }
    match (&options.on_error, is_result) {
        (Some(given), false) => errors.error(
            given.key,
            format_args!(
                "`on_error` gives C a value when the callback fails with `Err(e)`, but {what} no \
                 `Result`: {fix}, or remove `on_error` (the macro knows a `Result` by its name: \
                 write `Result<R, E>` in place of an alias)"
            ),
        ),
        (None, true) if !policy.returns_fallback() => errors.error(
            result_span,
            format_args!(
                "{what} a `Result`, but with `on_panic = {}` there is no fallback value to give \
                 C for an `Err`: add `on_error = EXPR` (it may read the error as `e`)",
                policy.on_panic.name()
            ),
        ),
        _ => {}
    }
}

/// The fn's return type, and whether it is a `Result` (by name: `Result<R,
/// E>` or an alias such as `io::Result<R>`).
pub(crate) fn split_output(output: &syn::ReturnType) -> Output<'_> {
    let syn::ReturnType::Type(_, ty) = output else {
        return Output {
            c_type: None,
            body_type: None,
            is_result: false,
            error: None,
        };
    };
    let written = ungroup(ty);
    if let Type::Path(path) = written {
        if let Some(last) = path.path.segments.last().filter(|s| s.ident == "Result") {
            if let PathArguments::AngleBracketed(args) = &last.arguments {
                let types: Vec<&Type> = args
                    .args
                    .iter()
                    .filter_map(|arg| match arg {
                        GenericArgument::Type(ty) => Some(ty),
                        _ => None,
                    })
                    .collect();
                if let [ok, rest @ ..] = types.as_slice() {
                    if rest.len() <= 1 {
                        return Output {
                            c_type: Some(*ok),
                            body_type: Some(&**ty),
                            is_result: true,
                            error: rest.first().copied(),
                        };
                    }
                }
            }
        }
    }
    Output {
        c_type: Some(&**ty),
        body_type: Some(&**ty),
        is_result: false,
        error: None,
    }
}

fn check_type<'a>(
    item: &'a CallbackType,
    options: &'a Options,
    errors: &mut Errors,
) -> Option<TypeModel<'a>> {
    let abi = Abi::resolve(item.abi.as_ref(), item.fn_span);
    let markers = markers(&item.params, |p| &p.user_data);
    let marker = markers.first().copied();
    let has_user_data = marker.is_some() || options.user_data.is_some();
    let threading = threading(options, errors);
    let conversions = conversions(
        item.params
            .iter()
            .map(|p| (&p.into[..], !p.user_data.is_empty(), p.name.as_ref(), &p.ty)),
        &item.generics,
        SLOT_NOT_CONVERTED,
        errors,
    );
    let threaded = matches!(
        threading,
        Some(Threading::Send | Threading::SendReentrant | Threading::Sync)
    );
    let policy = policy(options, threaded);

    // The attribute's options, as written before the item.
    if item.abi.is_some() {
        check_policy(options, policy, &abi, errors);
    }
    if let (
        Some(Given {
            value: OnPanic::Resume,
            key,
        }),
        Some(Threading::Sync),
    ) = (&options.on_panic, threading)
    {
        errors.error(
            *key,
            "`on_panic = resume` cannot be used with `sync`: the callback may run on several \
             threads at once, where no `resume_panics` guard can carry the panic back; use \
             `abort` (the default for `sync`) or `fallback`",
        );
    }
    if let Some(given) = options.fn_type.as_ref().filter(|g| g.value == item.ident) {
        errors.spanned(
            &given.value,
            format_args!(
                "`{0}` becomes the holder of the closures: give the C function-pointer type \
                 another name (by default `{0}Fn`)",
                item.ident.unraw()
            ),
        );
    }
    if let Some(given) = &options.user_data {
        if marker.is_some() {
            errors.error(
                given.key,
                "the user data is either a `#[user_data]` parameter or fetched by \
                 `user_data = EXPR`, not both: remove one of them",
            );
        } else if item.params.iter().any(|p| p.name.is_none()) {
            errors.error(
                given.key,
                "`user_data = EXPR` reads the other parameters by name: name them all, as in \
                 `fn(ctx: *mut sqlite3_context, n: c_int)`",
            );
        }
    }
    if let Some(given) = &options.safe_fn {
        if item.written_unsafe.is_some() {
            errors.error(
                given.key,
                "`unsafe(safe_fn)` makes the trampoline a safe fn, but this type is an `unsafe` \
                 fn pointer: remove one of them",
            );
        } else if !has_user_data && !borrows_parameters(item) && !options.safe_fn_from_preset {
            errors.error(
                given.key,
                "`unsafe(safe_fn)` is not needed: a callback type without user data or borrowed \
                 parameters has a safe trampoline",
            );
        }
    }
    if let Some(given) = &options.in_impl {
        errors.error(
            given.key,
            "`in_impl` is for `#[callback]` fns in impl blocks; a callback type is a module item: \
             remove it",
        );
    }
    refuse_destroy_outside_entries(
        options,
        "a callback type's closure is ended by its destroy-notify (the `destroy` of \
         `boxed(..).into_raw()`)",
        errors,
    );
    raise_not_here(options, "callback types", errors);
    check_flow(options, type_output(&item.output), errors);
    let names: Vec<String> = item
        .params
        .iter()
        .filter_map(|p| p.name.as_ref())
        .map(|name| name.unraw().to_string())
        .collect();
    check_reason_name(options, &names, errors);
    // An `on_error` that reads no `e` (a constant such as
    // `PCRE2_ERROR_CALLOUT`) serves closures failing with any error.
    if let (Some(given), None) = (&options.on_error, &options.error) {
        if tokens::reads_error(&given.value) {
            errors.error(
                given.key,
                "a callback type's `on_error` reads the closures' error as `e`, so it needs that \
                 error's type: add `error = YourError` (closures then return `R` or \
                 `Result<R, YourError>`), or give C a value that does not read `e`",
            );
        }
    }
    if let Some(given) = &options.keep_error {
        let decides = !matches!(
            &given.value,
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Bool(_),
                ..
            })
        );
        if decides && options.error.is_none() && tokens::reads_error(&given.value) {
            errors.error(
                given.key,
                "a callback type's `keep_error = EXPR` reads the closures' error as `e`, so it \
                 needs that error's type: add `error = YourError` (closures then return `R` or \
                 `Result<R, YourError>`), or write `keep_error = false`",
            );
        }
    }
    if let (Some(given), None) = (&options.error, &options.on_error) {
        errors.error(
            given.key,
            "`error = Type` names the error type that `on_error = EXPR` reads: add `on_error`, or \
             remove `error` (closures may return `Result<R, E>` for any `E` without it)",
        );
    }

    // The item, in source order.
    refuse_repeated(&item.attrs, errors);
    if let Some(param) = item.generics.params.first() {
        let span = match param {
            GenericParam::Lifetime(l) => l.lifetime.span(),
            GenericParam::Type(t) => t.ident.span(),
            GenericParam::Const(c) => c.ident.span(),
        };
        errors.error(
            span,
            "a `#[callback]` type cannot have generic parameters: its name becomes a holder \
             generic over the closure",
        );
    }
    if let Some(lifetimes) = &item.higher_ranked {
        errors.spanned(
            lifetimes,
            "`for<'a>` callback types are not supported: write the parameters with elided \
             lifetimes (`&T`), which already mean any lifetime",
        );
    }
    if item.abi.is_none() {
        errors.error(
            item.fn_span,
            "a C callback type needs its ABI: write `unsafe extern \"C\" fn(...)` (or \
             `extern \"system\"`, ...)",
        );
    } else {
        check_abi(&abi, errors);
    }
    if let (None, None, true) = (item.written_unsafe, &options.safe_fn, has_user_data) {
        let span = item
            .abi
            .as_ref()
            .map_or(item.fn_span, |abi| abi.extern_token.span);
        errors.error(
            span,
            "a safe fn pointer type cannot carry user data unchecked: its trampoline trusts the \
             pointer to be the holder; write `unsafe extern ...`, or, if the binding demands a \
             safe fn (libc's `pthread_create`), promise it with `#[callback(unsafe(safe_fn))]`",
        );
    }
    if let (None, None, false) = (item.written_unsafe, &options.safe_fn, has_user_data) {
        let borrows = item.params.iter().filter_map(|p| p.into.first());
        for marker in borrows.filter(|m| m.target.as_ref().is_some_and(is_borrow)) {
            errors.spanned(
                &marker.tokens,
                "a borrowed parameter trusts C's pointer, which a safe fn cannot: calling the \
                 trampoline must take an `unsafe` block, so write the type as `unsafe extern \
                 ...`, or, if the binding demands a safe fn (libc's `glob`), promise it with \
                 `#[callback(unsafe(safe_fn))]`",
            );
        }
    }
    check_single_marker(&markers, errors);
    for param in item.params.iter().filter(|p| p.user_data.is_empty()) {
        check_c_param(&param.ty, errors);
    }
    let index = item.params.iter().position(|p| !p.user_data.is_empty());
    if let Some(index) = index {
        let param = &item.params[index];
        match &param.user_data[0].slot {
            Some(slot) => errors.spanned(
                slot,
                "in a callback type the slot's C type is the parameter's own type: write \
                 `#[user_data] name: Type`",
            ),
            None => check_type_slot(&param.ty, false, errors),
        }
    }
    // Without user data, `reentrant` says whether the closures that
    // `scope_thread_local` lends may nest (`Fn`); `local` and `send` would
    // add nothing: capture-free closures run on any thread, and every call
    // that reaches a lent closure is on the scope's thread.
    if !has_user_data {
        for (key, given) in [("local", &options.local), ("send", &options.send)] {
            if let Some(given) = given {
                errors.error(
                    given.key,
                    format_args!(
                        "a callback type without user data calls its capture-free closures on \
                         any thread, and the closures `scope_thread_local` lends only on the \
                         scope's thread, so `{key}` has nothing to add: remove it"
                    ),
                );
            }
        }
    }
    if let Some(variadic) = &item.variadic {
        errors.spanned(
            variadic,
            "a C-variadic callback (`...`) cannot be written in Rust",
        );
    }
    check_c_return(&item.output, errors);
    let threading = threading?;
    if errors.has_errors() {
        return None;
    }

    let slot = match (index, &options.user_data) {
        (Some(index), _) => TypeSlot::Param(index, &item.params[index].ty),
        (None, Some(given)) => TypeSlot::Accessor(&given.value),
        (None, None) => TypeSlot::None,
    };
    let read = exprs_reading_params(options, item.params.iter().map(|p| &p.into[..]));
    let param_names = item
        .params
        .iter()
        .enumerate()
        .map(|(index, param)| trampoline_param_name(param.name.as_ref(), index, &read))
        .collect();
    let fn_type = match &options.fn_type {
        Some(given) => given.value.clone(),
        None => format_ident!("{}Fn", item.ident),
    };
    let output = match &item.output {
        syn::ReturnType::Default => None,
        syn::ReturnType::Type(_, ty) => Some(&**ty),
    };
    let names = fresh_names(user_tokens(options, item.source.clone()));
    let safe_trampoline = options.safe_fn.is_some() || matches!(slot, TypeSlot::None);
    Some(TypeModel {
        item,
        common: common(options, abi, policy, output, names),
        slot,
        threading,
        fn_type,
        error: options.error.as_ref().map(|given| &given.value),
        param_names,
        conversions,
        safe_trampoline,
    })
}

/// The threading contract from `reentrant`, `local`, `send`, `sync`.
pub(crate) fn threading(options: &Options, errors: &mut Errors) -> Option<Threading> {
    let reentrant = options.reentrant.is_some();
    match (&options.local, &options.send, &options.sync) {
        (Some(local), Some(_), _) | (Some(local), _, Some(_)) => {
            errors.error(
                local.key,
                "`local` says the closure stays on its thread, `send` and `sync` that the C \
                 library may call it on others: keep one of them",
            );
            None
        }
        (_, Some(send), Some(_)) => {
            errors.error(
                send.key,
                "`sync` already allows calls from any thread (several at once): remove `send`",
            );
            None
        }
        (_, _, Some(_)) => {
            if let Some(given) = &options.reentrant {
                errors.error(
                    given.key,
                    "`sync` closures are `Fn` and may already run several times at once: remove \
                     `reentrant`",
                );
                return None;
            }
            Some(Threading::Sync)
        }
        (_, Some(_), None) if reentrant => Some(Threading::SendReentrant),
        (_, Some(_), None) => Some(Threading::Send),
        (Some(_), None, None) if reentrant => Some(Threading::HomeReentrant),
        (Some(_), None, None) => Some(Threading::Home),
        (None, None, None) if reentrant => Some(Threading::CallerReentrant),
        (None, None, None) => Some(Threading::Caller),
    }
}

const IMPL_TRAIT_USER_DATA: &str = "`impl Trait` cannot be the user-data type: C passes back \
                                    a pointer to one concrete type; use a generic parameter \
                                    (`fn cb<T: Trait>(#[user_data] state: &mut T)`)";

/// The return type C receives: `!` and `impl Trait` are not C types (a
/// callback returns to C even after a panic, with the fallback).
fn check_c_return(output: &syn::ReturnType, errors: &mut Errors) {
    let syn::ReturnType::Type(_, ty) = output else {
        return;
    };
    let written = ungroup(ty);
    // `Result<R, E>`: `R` is what C receives.
    let ok = match written {
        Type::Path(path) => path.path.segments.last().and_then(|last| {
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            (last.ident == "Result")
                .then(|| {
                    args.args.iter().find_map(|arg| match arg {
                        GenericArgument::Type(ty) => Some(ty),
                        _ => None,
                    })
                })
                .flatten()
        }),
        _ => None,
    };
    let returned = ok.map_or(written, ungroup);
    for ty in [written, returned] {
        match ty {
            Type::Never(_) => {
                errors.spanned(
                    ty,
                    "a callback returns a value to C, even after a panic or a refused call (the \
                     fallback): `!` cannot be its return type; declare the C return type (`()` \
                     for `void`)",
                );
                return;
            }
            Type::ImplTrait(_) => {
                errors.spanned(
                    ty,
                    "a callback returns a value of the C type its header declares: name it (`-> \
                     c_int`), `impl Trait` cannot be the return type",
                );
                return;
            }
            _ => {}
        }
    }
}

/// The Rust type a fn receives its user data as. Which types work is the
/// runtime trait's rule (`UserDataParam`, for aliases the macro cannot see
/// through); what the tokens already show is reported here: a named
/// lifetime (the reference only lives for the call), an unsized pointee (C
/// passes a thin pointer), and values that are neither borrowed nor boxed.
fn check_received_type(ty: &Type, errors: &mut Errors) {
    let ty = ungroup(ty);
    let inner = single_generic(ty, "Option").map_or(ty, ungroup);
    let pointee = match inner {
        Type::Reference(r) => {
            if let Some(lifetime) = r.lifetime.as_ref().filter(|l| l.ident != "_") {
                errors.spanned(
                    lifetime,
                    "user data is borrowed for one call only: leave the lifetime out \
                     (`&T`, `&mut T`)",
                );
            }
            Some(&*r.elem)
        }
        Type::ImplTrait(_) => {
            errors.spanned(inner, IMPL_TRAIT_USER_DATA);
            None
        }
        _ => match single_generic(inner, "Box")
            .or_else(|| single_generic(inner, "Arc"))
            .or_else(|| single_generic(inner, "Rc"))
        {
            Some(boxed) => Some(boxed),
            None => {
                if is_visibly_owned(inner) || unsized_kind(inner).is_some() {
                    errors.spanned(
                        inner,
                        "a callback cannot receive its user data by value: C hands back a \
                         pointer, received as `&T`, `&mut T`, `Option<&T>`, `Option<&mut T>`, \
                         `Box<T>` (ownership comes back), `Arc<T>`/`Rc<T>` (a count for the call) \
                         or a raw pointer",
                    );
                }
                None
            }
        },
    };
    if let Some(pointee) = pointee.map(ungroup) {
        if let Type::ImplTrait(_) = pointee {
            errors.spanned(pointee, IMPL_TRAIT_USER_DATA);
        }
        if let Some(what) = unsized_kind(pointee) {
            errors.spanned(
                pointee,
                format_args!(
                    "user data travels through C as a thin pointer, but {what} is unsized: \
                     wrap it in a sized value (a `String`, a `Vec<T>`, a `Box<dyn Trait>`); \
                     where C passes back the data itself (a destructor such as \
                     `sqlite3_bind_blob`'s), the pointer must be the bytes: a `#[repr(C)]` \
                     struct with the bytes first, or receive `*mut c_void`"
                ),
            );
        }
    }
}

/// A C parameter (not the user data) that is a reference to a Rust
/// standard type: C has no such type, so this is almost surely the user
/// data without its `#[user_data]` marker. (References to other types may be
/// `#[repr(C)]` structs, and non-FFI-safe values are reported by rustc's
/// `improper_ctypes_definitions`.)
fn check_c_param(ty: &Type, errors: &mut Errors) {
    let ty = ungroup(ty);
    let inner = single_generic(ty, "Option").map_or(ty, ungroup);
    let Type::Reference(reference) = inner else {
        return;
    };
    if is_std_container(&reference.elem) {
        errors.spanned(
            ty,
            format_args!(
                "`{}` is not a C type, so a C library cannot pass it: if this parameter receives \
                 the user data (a `void *` in C), mark it `#[user_data]`",
                display(ty)
            ),
        );
    }
}

/// A type as a user writes it, for messages: `&mut Vec<c_int>`, not
/// `& mut Vec < c_int >`.
fn display(ty: &Type) -> String {
    let mut text = quote::ToTokens::to_token_stream(ty).to_string();
    for (from, to) in [
        ("& ", "&"),
        ("* ", "*"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (" ::", "::"),
        (":: ", "::"),
        ("' ", "'"),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// Standard collections and smart pointers, which no C header declares.
fn is_std_container(ty: &Type) -> bool {
    const STD: &[&str] = &[
        "String", "Vec", "VecDeque", "HashMap", "HashSet", "BTreeMap", "BTreeSet", "Rc", "Arc",
        "RefCell", "Mutex", "RwLock",
    ];
    match ungroup(ty) {
        Type::Path(p) => {
            p.qself.is_none()
                && p.path
                    .segments
                    .last()
                    .is_some_and(|s| STD.iter().any(|name| s.ident == name))
        }
        _ => false,
    }
}

/// `(T)` and invisible groups stand for `T`.
fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Paren(paren) => ungroup(&paren.elem),
        Type::Group(group) => ungroup(&group.elem),
        other => other,
    }
}

/// `T` in `Name<T>` (any path ending in `Name`).
fn single_generic<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next()) {
        (Some(ty), None) => Some(ty),
        _ => None,
    }
}

/// `str`, `[T]` and `dyn Trait`, by name.
fn unsized_kind(ty: &Type) -> Option<&'static str> {
    match ungroup(ty) {
        Type::Slice(_) => Some("a slice"),
        Type::TraitObject(_) => Some("a `dyn` type"),
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => Some("`str`"),
        _ => None,
    }
}

/// Owned standard types that a C `void *` cannot be turned back into.
fn is_visibly_owned(ty: &Type) -> bool {
    const OWNED: &[&str] = &[
        "String", "Vec", "VecDeque", "HashMap", "HashSet", "BTreeMap", "BTreeSet", "Rc", "Arc",
        "RefCell", "Cell", "Mutex", "RwLock",
    ];
    match ungroup(ty) {
        Type::Path(p) => {
            p.qself.is_none()
                && p.path
                    .segments
                    .last()
                    .is_some_and(|s| OWNED.iter().any(|name| s.ident == name))
        }
        Type::Tuple(t) => !t.elems.is_empty(),
        Type::Array(_) => true,
        _ => false,
    }
}

/// The C type of a user-data slot: what the tokens show cannot be a raw
/// pointer or a pointer-sized integer. Aliases (`LPARAM`, `gpointer`) and
/// integers whose size depends on the target are left to the runtime's
/// `UserDataSlot`.
fn check_slot_type(ty: &Type, errors: &mut Errors) {
    const SLOT: &str = "a user-data slot is a raw pointer (`*mut c_void`, `*const T`, ...) or \
                        an integer exactly the size of a pointer (`usize`, `isize`, `LPARAM`)";
    const NEVER: &[&str] = &[
        "bool", "char", "f32", "f64", "str", "u8", "i8", "u128", "i128",
    ];
    let ty = ungroup(ty);
    let what = match ty {
        Type::Reference(_) => Some("a reference"),
        Type::Tuple(t) if t.elems.is_empty() => Some("`()`"),
        Type::Tuple(_) => Some("a tuple"),
        Type::Array(_) => Some("an array"),
        Type::Slice(_) => Some("a slice"),
        Type::FnPtr(_) => Some("a fn pointer"),
        Type::TraitObject(_) | Type::ImplTrait(_) => Some("a trait type"),
        Type::Never(_) => Some("`!`"),
        Type::Path(p) if p.qself.is_none() => {
            if NEVER.iter().any(|name| p.path.is_ident(name)) {
                Some("not pointer-sized")
            } else if single_generic(ty, "Option").is_some()
                || single_generic(ty, "Box").is_some()
                || is_visibly_owned(ty)
            {
                Some("a Rust type")
            } else {
                None
            }
        }
        _ => None,
    };
    if let Some(what) = what {
        errors.spanned(
            ty,
            format_args!("`{}` cannot carry user data ({what}): {SLOT}", display(ty)),
        );
    }
}

/// A callback type's (or a set entry's) `#[user_data]` parameter is the C
/// slot itself; the Rust-side types of the fn form (`&mut State`,
/// `Box<State>`) are a likely mix-up.
fn check_type_slot(ty: &Type, in_set: bool, errors: &mut Errors) {
    let ty = ungroup(ty);
    let rust_side = matches!(ty, Type::Reference(_))
        || single_generic(ty, "Option").is_some()
        || single_generic(ty, "Box").is_some();
    if rust_side {
        let (form, state) = if in_set {
            (
                "a callback set",
                "the entry's method receives the state as `self`",
            )
        } else {
            (
                "a callback type",
                "the closure captures the state instead of receiving it",
            )
        };
        errors.spanned(
            ty,
            format_args!(
                "in {form} the `#[user_data]` parameter is the C slot, as the C header declares \
                 it (`*mut c_void`, `gpointer`, `LPARAM`); {state}"
            ),
        );
    } else {
        check_slot_type(ty, errors);
    }
}

/// The options of each entry of a set: its own `#[callback(...)]`, with the
/// set's as defaults (re-read quietly: the set's own errors are reported
/// once, by the caller).
pub(crate) fn entry_options(
    set: &CallbackSet,
    set_args: &TokenStream,
    errors: &mut Errors,
) -> Vec<Options> {
    set.entries
        .iter()
        .map(|entry| {
            let own = match &entry.options {
                Some(tokens) => Options::parse(tokens.clone(), errors),
                None => Options::default(),
            };
            for (key, span) in [
                ("send", own.send.as_ref().map(|g| g.key)),
                ("sync", own.sync.as_ref().map(|g| g.key)),
                ("local", own.local.as_ref().map(|g| g.key)),
                ("reentrant", own.reentrant.as_ref().map(|g| g.key)),
                ("crate", own.krate.as_ref().map(|g| g.key)),
                ("in_impl", own.in_impl.as_ref().map(|g| g.key)),
                ("preset", own.preset.as_ref().map(|g| g.key)),
                ("error", own.error.as_ref().map(|g| g.key)),
            ] {
                if let Some(span) = span {
                    let why = if key == "error" {
                        "an entry's error type is the `E` of the `Result<_, E>` it returns"
                    } else {
                        "it is an option of the whole set: write it on the trait's \
                         `#[callback(...)]`"
                    };
                    errors.error(span, format_args!("`{key}` on an entry point: {why}"));
                }
            }
            let mut defaults = Options::parse(set_args.clone(), &mut Errors::default());
            if let (
                Some(Given {
                    value: OnPanic::Resume,
                    key,
                }),
                Some(_),
            ) = (&own.on_panic, &defaults.sync)
            {
                errors.error(
                    *key,
                    "`on_panic = resume` cannot be used in a `sync` set: its entry points may run \
                     on several threads at once, where no `resume_panics` guard can carry the \
                     panic back",
                );
            }
            // The set's `destroy` is an error, reported on the set, not
            // once more for each entry as if it were written there.
            defaults.destroy = None;
            defaults.runs_poisoned = None;
            // The set's `user_data = EXPR` serves the entries that have no
            // `#[user_data]` slot of their own.
            if entry.params.iter().any(|p| !p.user_data.is_empty()) {
                defaults.user_data = None;
            }
            // The set's `on_error = EXPR` (its own, or its preset's) serves
            // the entries that declare a `Result`: the others never fail
            // with an `Err`.
            if !split_output(&entry.output).is_result {
                defaults.on_error = None;
                defaults.keep_error = None;
            }
            // The set's expressions read parameters by name: one that
            // another entry has and this one (which they serve) lacks is
            // named here, rather than left to rustc's "cannot find value"
            // at the trait. (`e` is `on_error`'s error.)
            let names = |e: &SetEntry| -> Vec<String> {
                e.params
                    .iter()
                    .filter_map(|p| match &*p.pat {
                        syn::Pat::Ident(i) => Some(i.ident.unraw().to_string()),
                        _ => None,
                    })
                    .collect()
            };
            let mine = names(entry);
            for (key, set_expr, own_expr) in [
                ("on_error", &defaults.on_error, &own.on_error),
                ("fallback", &defaults.fallback, &own.fallback),
                ("user_data", &defaults.user_data, &own.user_data),
            ] {
                let (Some(given), None) = (set_expr, own_expr) else {
                    continue;
                };
                let expr = given.value.to_token_stream();
                let missing: std::collections::BTreeSet<String> = set
                    .entries
                    .iter()
                    .flat_map(names)
                    .filter(|n| {
                        (key != "on_error" || n != "e")
                            && !mine.contains(n)
                            && tokens::mentions_as_variable(expr.clone(), n)
                    })
                    .collect();
                if !missing.is_empty() {
                    let missing: Vec<String> = missing.into_iter().collect();
                    errors.error(
                        entry.ident.span(),
                        format_args!(
                            "the set's `{key} = ..` reads `{}`, which this entry point has no \
                             parameter named: name it the same here, or give this entry its \
                             own `#[callback({key} = ..)]`",
                            missing.join("`, `")
                        ),
                    );
                }
            }
            // The set's `preset = unsafe(path)`: its promises are each
            // entry's (`or` keeps an item's own use only, so that a
            // preset's options cannot name a use of their own).
            let preset_use = defaults.preset_use.take();
            let holds = (
                defaults.preset_holds_unsafe,
                defaults.preset_holds_unsafe_block,
            );
            let mut merged = own.or(defaults);
            merged.preset_use = preset_use;
            (merged.preset_holds_unsafe, merged.preset_holds_unsafe_block) = holds;
            merged
        })
        .collect()
}

fn check_set<'a>(
    item: &'a CallbackSet,
    options: &'a Options,
    entry_options: &'a [Options],
    errors: &mut Errors,
) -> Option<SetModel<'a>> {
    let threading = threading(options, errors);
    let threaded = matches!(threading, Some(Threading::Send | Threading::Sync));
    let set_policy = policy(options, threaded);
    if let Some(given) = &options.reentrant {
        errors.error(
            given.key,
            "a callback set's `&self` entry points may nest already: remove `reentrant`",
        );
    }
    refuse_runs_poisoned_outside_entries(options, errors);
    if let Some(given) = &options.destroy {
        errors.error(
            given.key,
            "`destroy` marks the one entry point that ends a state C owns, not the whole set: \
             write `#[callback(destroy)]` on that entry (C's last call, such as libarchive's \
             `close`)",
        );
    }
    for (key, given) in [
        ("fn_type", options.fn_type.as_ref().map(|g| g.key)),
        ("in_impl", options.in_impl.as_ref().map(|g| g.key)),
        ("error", options.error.as_ref().map(|g| g.key)),
        ("on_continue", options.on_continue.as_ref().map(|g| g.key)),
        ("on_break", options.on_break.as_ref().map(|g| g.key)),
    ] {
        if let Some(span) = given {
            errors.error(
                span,
                format_args!("`{key}` is an option of each entry point: write it on the entry's own `#[callback(...)]`"),
            );
        }
    }
    if let (
        Some(Given {
            value: OnPanic::Resume,
            key,
        }),
        Some(Threading::Sync),
    ) = (&options.on_panic, threading)
    {
        errors.error(
            *key,
            "`on_panic = resume` cannot be used with `sync`: the entry points may run on several \
             threads at once, where no `resume_panics` guard can carry the panic back",
        );
    }
    let any_result = item
        .entries
        .iter()
        .any(|entry| split_output(&entry.output).is_result);
    if let (Some(given), false) = (&options.keep_error, any_result) {
        errors.error(
            given.key,
            "`keep_error` on a set says where an `Err(e)` of its entry points goes, but none of \
             them declares a `Result`: declare `-> Result<R, E>` on those that can fail, or \
             remove `keep_error`",
        );
    }
    if let Some(given) = &options.on_error {
        if !any_result {
            errors.error(
                given.key,
                "`on_error` on a set gives C a value when one of its entry points fails with \
                 `Err(e)`, but none of them declares a `Result`: declare `-> Result<R, E>` on \
                 those that can fail (C receives the `R`), or remove `on_error` (the macro knows \
                 a `Result` by its name: write `Result<R, E>` in place of an alias)",
            );
        }
    }
    refuse_repeated(&item.attrs, errors);
    if let Some(span) = item.unsafety {
        errors.error(
            span,
            "a callback set cannot be an `unsafe trait`: its entry points' contract is the \
             macro's to check, and the state's type implements it with a plain `impl`; remove \
             `unsafe`",
        );
    }
    if let Some(param) = item.generics.params.first() {
        let span = match param {
            GenericParam::Lifetime(l) => l.lifetime.span(),
            GenericParam::Type(t) => t.ident.span(),
            GenericParam::Const(c) => c.ident.span(),
        };
        errors.error(
            span,
            "a callback set cannot have generic parameters: its entry points are monomorphic in \
             the state's type",
        );
    }
    if let Some(supertraits) = &item.supertraits {
        errors.spanned(
            supertraits,
            "a callback set's supertraits come from its threading contract (`send`: `Send`, \
             `sync`: `Send + Sync`): remove them",
        );
    }
    if let Some(where_clause) = &item.generics.where_clause {
        errors.spanned(
            where_clause,
            "a callback set's bounds come from its threading contract (`send`: `Send`, `sync`: \
             `Send + Sync`): remove the `where` clause",
        );
    }
    for other in &item.other_items {
        errors.spanned(
            other,
            "a callback set declares only its C entry points, as `unsafe extern \"C\" fn name(&mut \
             self, #[user_data] ud: *mut c_void, ..) -> R;`",
        );
    }
    if item.entries.is_empty() {
        errors.spanned(&item.ident, "a callback set needs at least one entry point");
    }

    let mut entries = Vec::new();
    // The first destroy: its name, and whether it takes `self` (else it is
    // marked `#[callback(destroy)]`).
    let mut destroy_seen: Option<(String, bool)> = None;
    for (entry, options) in item.entries.iter().zip(entry_options) {
        if let Some(entry) = check_entry(item, entry, options, threading, errors) {
            let owned = entry.receiver == SetReceiver::Owned;
            if owned || entry.destroy {
                let this = (entry.entry.ident.unraw().to_string(), owned);
                if let Some((first, first_owned)) = destroy_seen.replace(this) {
                    let first_is = if first_owned {
                        "already takes `self`"
                    } else {
                        "is already marked `#[callback(destroy)]`"
                    };
                    // (`check_entry` refused `destroy` on a `self` entry.)
                    let (span, fix) = match &options.destroy {
                        Some(given) => (given.key, "remove `destroy` here"),
                        None => (entry.entry.ident.span(), "take `&mut self` here"),
                    };
                    errors.error(
                        span,
                        format_args!("a callback set has one destroy: `{first}` {first_is}; {fix}"),
                    );
                }
            }
            entries.push(entry);
        }
    }
    check_set_names(&entries, destroy_seen.is_some(), errors);
    let threading = threading?;
    if errors.has_errors() {
        return None;
    }
    let destroy_abi = match entries.first() {
        Some(first)
            if entries
                .iter()
                .all(|e| e.common.abi.name == first.common.abi.name) =>
        {
            Abi {
                name: first.common.abi.name.clone(),
                span: first.common.abi.span,
            }
        }
        _ => Abi {
            name: "C".to_owned(),
            span: item.ident.span(),
        },
    };
    Some(SetModel {
        item,
        runtime: tokens::runtime(options),
        threading,
        policy: set_policy,
        entries,
        destroy_abi,
    })
}

/// An entry's method or constant must not take a name the set generates
/// (`boxed`, `scope`; `DESTROY` when no entry is the destroy).
fn check_set_names(entries: &[EntryModel<'_>], has_destroy_entry: bool, errors: &mut Errors) {
    // Names made from the entries' names (`fooBar` and `foobar` both make
    // `FOOBAR`; `foo_bar` and `fooBar` both make `IoFooBarFn`): reported
    // on the second entry, naming the first.
    let mut consts: Vec<(String, &Ident)> = Vec::new();
    let mut fn_types: Vec<(String, &Ident)> = Vec::new();
    for entry in entries {
        let ident = &entry.entry.ident;
        for (made, seen, what) in [
            (entry.const_name.to_string(), &mut consts, "constant"),
            (
                entry.fn_type.to_string(),
                &mut fn_types,
                "function-pointer type",
            ),
        ] {
            if let Some((_, first)) = seen.iter().find(|(name, _)| *name == made) {
                errors.spanned(
                    ident,
                    format_args!(
                        "the entry points `{}` and `{}` would both generate the {what} `{made}`: \
                         name one otherwise (the C field's name does not matter){}",
                        first.unraw(),
                        ident.unraw(),
                        if what == "constant" {
                            ""
                        } else {
                            ", or name its type with `#[callback(fn_type = Name)]`"
                        }
                    ),
                );
            } else {
                seen.push((made, ident));
            }
        }
    }
    for entry in entries {
        let ident = &entry.entry.ident;
        let bare = ident.unraw().to_string();
        // (A destroy entry generates no `DESTROY`: the way out for a C field
        // that is the destroy.)
        let clash = match bare.as_str() {
            "boxed" | "scope" => Some((format!("the set's provided `{bare}`"), "")),
            _ if entry.const_name == "DESTROY" && !has_destroy_entry => Some((
                "the set's generated `DESTROY` (its destroy-notify)".to_owned(),
                ", or, for a destroy, take `self` or mark it `#[callback(destroy)]`",
            )),
            _ => None,
        };
        if let Some((clash, or_destroy)) = clash {
            errors.spanned(
                ident,
                format_args!(
                    "the entry point `{bare}` would clash with {clash}: name the method \
                     otherwise (the C field's name does not matter){or_destroy}"
                ),
            );
        }
    }
}

/// `destroy` on a fn or a callback type: it marks a set's entry point.
fn refuse_destroy_outside_entries(options: &Options, why: &str, errors: &mut Errors) {
    if let Some(given) = &options.destroy {
        errors.error(
            given.key,
            format_args!(
                "`destroy` marks the entry point of a callback set that ends a state C owns (a \
                 `#[callback(destroy)]` entry of a `#[callback] trait`); {why}: remove it"
            ),
        );
    }
    refuse_runs_poisoned_outside_entries(options, errors);
}

/// `runs_poisoned` is for one `&self` entry of a set, never a whole set,
/// a fn or a callback type.
fn refuse_runs_poisoned_outside_entries(options: &Options, errors: &mut Errors) {
    if let Some(given) = &options.runs_poisoned {
        errors.error(
            given.key,
            "`runs_poisoned` marks a callback set's `&self` entry point that must run while a \
             kept panic or `Err` poisons the state (an allocator's `free`, a `release` of what \
             another entry handed out): write `#[callback(runs_poisoned)]` on that entry",
        );
    }
}

/// The name of an entry point's C function-pointer type: `fn_type = Name`,
/// or the set's name, the entry's in camel case and `Fn` (`CookieIoReadFn`).
pub(crate) fn entry_fn_type(set: &CallbackSet, entry: &SetEntry, options: &Options) -> Ident {
    if let Some(given) = &options.fn_type {
        return given.value.clone();
    }
    let camel: String = entry
        .ident
        .unraw()
        .to_string()
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().collect::<String>() + chars.as_str()
            })
        })
        .collect();
    format_ident!("{}{}Fn", set.ident, camel)
}

/// The constant holding an entry point: its name in capitals (`READ`),
/// spanned at the entry.
pub(crate) fn entry_const_name(entry: &SetEntry) -> Ident {
    let bare = entry.ident.unraw().to_string().to_uppercase();
    format_ident!("{}", bare, span = entry.ident.span())
}

/// One entry point of a set: every rule a callback type's has, plus the
/// receiver.
fn check_entry<'a>(
    set: &'a CallbackSet,
    entry: &'a SetEntry,
    options: &'a Options,
    threading: Option<Threading>,
    errors: &mut Errors,
) -> Option<EntryModel<'a>> {
    let abi = Abi::resolve(entry.abi.as_ref(), entry.fn_span);
    let markers = markers(&entry.params, |p| &p.user_data);
    let marker = markers.first().copied();
    let threaded = matches!(threading, Some(Threading::Send | Threading::Sync));
    let policy = policy(options, threaded);
    let output = split_output(&entry.output);
    let before = errors.has_errors();
    let mut failed = false;
    let mut error = |errors: &mut Errors, e: syn::Error| {
        failed = true;
        errors.push(e);
    };

    refuse_entry_callback_attrs(entry, errors);
    check_policy(options, policy, &abi, errors);
    raise_not_here(options, "callback sets", errors);
    let conversions = conversions(
        entry.params.iter().map(|p| {
            let name = match &*p.pat {
                syn::Pat::Ident(binding) => Some(&binding.ident),
                _ => None,
            };
            (&p.into[..], !p.user_data.is_empty(), name, &*p.ty)
        }),
        &entry.generics,
        SLOT_NOT_CONVERTED,
        errors,
    );
    let result_span = match &entry.output {
        syn::ReturnType::Type(_, ty) => tokens::first_span(ty),
        syn::ReturnType::Default => entry.fn_span,
    };
    check_on_error(
        options,
        policy,
        output.is_result,
        result_span,
        ResultSubject::SetEntry,
        errors,
    );
    check_flow(options, output.c_type, errors);
    check_reason_name(
        options,
        &pat_names(entry.params.iter().map(|p| &*p.pat)),
        errors,
    );
    refuse_entry_flow_return(output.c_type, errors);
    let receiver = match &entry.receiver {
        Some((SetReceiver::Unsupported, tokens)) => {
            error(
                errors,
                syn::Error::new_spanned(
                    tokens,
                    format_args!(
                        "the entry point `{}` takes the state as `&mut self`, `&self` (which may \
                         nest) or `self` (the set's destroy), borrowed for the call (no named \
                         lifetime): the state is in a holder C points at, never a `Box` or other \
                         smart pointer",
                        entry.ident.unraw()
                    ),
                ),
            );
            None
        }
        Some((SetReceiver::Exclusive, tokens)) if threading == Some(Threading::Sync) => {
            error(
                errors,
                syn::Error::new_spanned(
                    tokens,
                    format_args!(
                        "a `sync` set's entry points may run at once on several threads, so \
                         `{}` cannot take `&mut self`: take `&self` and keep what changes in a \
                         `Mutex` or atomics (or declare the set `send`, whose calls never \
                         overlap)",
                        entry.ident.unraw()
                    ),
                ),
            );
            None
        }
        Some((SetReceiver::Owned, _)) if options.destroy.is_some() => {
            let key = options
                .destroy
                .as_ref()
                .map_or(entry.ident.span(), |g| g.key);
            error(
                errors,
                syn::Error::new(
                    key,
                    format_args!(
                        "the entry point `{}` takes `self`, so it is the set's destroy already: \
                         remove `destroy`, or take `&mut self` (the entry then borrows the state, \
                         and frees it after the call only when C owns it)",
                        entry.ident.unraw()
                    ),
                ),
            );
            None
        }
        Some((receiver, _)) => Some(*receiver),
        None => {
            error(
                errors,
                syn::Error::new(
                    entry.ident.span(),
                    format_args!(
                        "the entry point `{}` needs the state: take `&mut self` (or `&self`, \
                         which may nest, or `self` for the set's destroy)",
                        entry.ident.unraw()
                    ),
                ),
            );
            None
        }
    };
    if let Some(span) = entry.default {
        error(
            errors,
            syn::Error::new(
                span,
                format_args!(
                    "the entry point `{}` is declared as the C header shapes it; the state's \
                     type implements it: remove the body",
                    entry.ident.unraw()
                ),
            ),
        );
    }
    if let Some(span) = entry.constness {
        error(
            errors,
            syn::Error::new(
                span,
                "a `const fn` cannot be a C entry point: remove `const`",
            ),
        );
    }
    if let Some(span) = entry.asyncness {
        error(
            errors,
            syn::Error::new(
                span,
                "an `async fn` cannot be a C entry point: C calls it and needs the result now; \
                 remove `async`",
            ),
        );
    }
    if let Some(param) = entry.generics.params.first() {
        error(
            errors,
            syn::Error::new_spanned(param, "an entry point cannot have generic parameters"),
        );
    }
    if let Some(where_clause) = &entry.generics.where_clause {
        error(
            errors,
            syn::Error::new_spanned(
                where_clause,
                "an entry point cannot have a `where` clause: C calls it for any state's type \
                 that implements the set; remove the clause",
            ),
        );
    }
    if entry.abi.is_none() {
        error(
            errors,
            syn::Error::new(
                entry.fn_span,
                "an entry point needs its C ABI: write `unsafe extern \"C\" fn ...` (or \
                 `extern \"system\"`, ...)",
            ),
        );
    } else {
        check_abi(&abi, errors);
    }
    for marker in &entry.receiver_user_data {
        error(
            errors,
            syn::Error::new_spanned(
                &marker.tokens,
                "`self` is the set's state, not the C user data: the slot is a parameter of its \
                 own, as in `#[user_data] ud: *mut c_void`",
            ),
        );
    }
    let has_user_data =
        marker.is_some() || options.user_data.is_some() || !entry.receiver_user_data.is_empty();
    if !has_user_data {
        error(
            errors,
            syn::Error::new(
                entry.ident.span(),
                format_args!(
                    "the entry point `{}` has no user data to find the state with: mark its slot \
                     `#[user_data] ud: *mut c_void`, or fetch it with `user_data = EXPR` (on \
                     the entry, or on the set for every entry without a slot)",
                    entry.ident.unraw()
                ),
            ),
        );
    }
    if let (Some(given), Some(_)) = (&options.user_data, marker) {
        error(
            errors,
            syn::Error::new(
                given.key,
                "the user data is either a `#[user_data]` parameter or fetched by \
                 `user_data = EXPR`, not both: remove one of them",
            ),
        );
    }
    match (&options.safe_fn, entry.written_unsafe) {
        (Some(given), Some(_)) => error(
            errors,
            syn::Error::new(
                given.key,
                "`unsafe(safe_fn)` makes the entry point a safe fn, but it is declared `unsafe`: \
                 remove one of them",
            ),
        ),
        (None, None) if entry.abi.is_some() => {
            let span = entry
                .abi
                .as_ref()
                .map_or(entry.fn_span, |abi| abi.extern_token.span);
            error(
                errors,
                syn::Error::new(
                    span,
                    format_args!(
                        "the entry point `{}` trusts its user data to be the set's state: write \
                         `unsafe extern ...`, or, for a binding that demands a safe fn, promise \
                         it with `#[callback(unsafe(safe_fn))]`",
                        entry.ident.unraw()
                    ),
                ),
            );
        }
        _ => {}
    }
    check_single_marker(&markers, errors);
    for param in entry.params.iter().filter(|p| p.user_data.is_empty()) {
        check_c_param(&param.ty, errors);
    }
    let index = entry.params.iter().position(|p| !p.user_data.is_empty());
    if let Some(index) = index {
        let param = &entry.params[index];
        match &param.user_data[0].slot {
            Some(slot) => errors.spanned(
                slot,
                "in a callback set the slot's C type is the parameter's own type: write \
                 `#[user_data] name: Type`",
            ),
            None => check_type_slot(&param.ty, true, errors),
        }
    }
    if let Some(variadic) = &entry.variadic {
        errors.spanned(
            variadic,
            "a C-variadic entry point (`...`) cannot be written in Rust",
        );
    }
    check_c_return(&entry.output, errors);
    if failed || (errors.has_errors() && !before) {
        return None;
    }
    let receiver = receiver?;
    if let Some(given) = &options.runs_poisoned {
        let why = match (receiver, options.destroy.is_some()) {
            (SetReceiver::Shared, false) => None,
            (SetReceiver::Shared, true) => Some(
                "a `destroy` entry ends the state: on a poisoned one it drops the state without \
                 running (remove one of them)",
            ),
            (SetReceiver::Owned, _) => Some(
                "it takes `self`, the set's destroy, which drops a poisoned state without \
                 running it",
            ),
            _ => Some(
                "it takes `&mut self`: a panic may have left the state half-changed, and only \
                 `&self` entries (which change it through `Cell`s, locks or atomics, as a \
                 poisoned `Mutex`'s `into_inner` would) may read it then; take `&self`",
            ),
        };
        if let Some(why) = why {
            errors.error(
                given.key,
                format_args!(
                    "`runs_poisoned` cannot mark the entry point `{}`: {why}",
                    entry.ident.unraw()
                ),
            );
            return None;
        }
    }

    let slot = match (index, &options.user_data) {
        (Some(index), _) => TypeSlot::Param(index, &entry.params[index].ty),
        (None, Some(given)) => TypeSlot::Accessor(&given.value),
        (None, None) => TypeSlot::None,
    };
    let read = exprs_reading_params(options, entry.params.iter().map(|p| &p.into[..]));
    let param_names = entry
        .params
        .iter()
        .enumerate()
        .map(|(index, param)| {
            let name = match &*param.pat {
                syn::Pat::Ident(binding)
                    if binding.by_ref.is_none() && binding.subpat.is_none() =>
                {
                    Some(&binding.ident)
                }
                _ => None,
            };
            trampoline_param_name(name, index, &read)
        })
        .collect();
    let bare = entry.ident.unraw().to_string();
    let fn_type = entry_fn_type(set, entry, options);
    let const_name = entry_const_name(entry);
    let trampoline = format_ident!("__ffi_entry_{}", bare);
    let names = fresh_names(user_tokens(options, set.source.clone()));
    Some(EntryModel {
        entry,
        common: common(options, abi, policy, output.c_type, names),
        receiver,
        destroy: options.destroy.is_some(),
        runs_poisoned: options.runs_poisoned.is_some(),
        slot,
        output,
        param_names,
        conversions,
        fn_type,
        const_name,
        trampoline,
        safe_trampoline: options.safe_fn.is_some(),
    })
}
