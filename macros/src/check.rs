//! Stage 2: every rule the tokens can show, checked on the model; all
//! errors of the item are collected. Rules that depend on types the macro
//! cannot see through (aliases such as `LPARAM`) are left to rustc, through
//! spanned assertions in the expansion and `#[diagnostic::on_unimplemented]`
//! on the runtime's traits.

use proc_macro2::Span;
use syn::{GenericParam, Type};

use crate::errors::Errors;
use crate::options::{OnPanic, Options};
use crate::parse::{CallbackFn, CallbackType, UserDataAttr};

/// The ABI string a callback is declared with, and where it was written.
pub(crate) struct ResolvedAbi {
    pub(crate) name: String,
    pub(crate) span: Span,
}

impl ResolvedAbi {
    /// `extern "C" fn` and plain `fn` (for the fn form) mean `"C"`.
    pub(crate) fn resolve(abi: Option<&syn::Abi>, fn_span: Span) -> ResolvedAbi {
        match abi {
            None => ResolvedAbi {
                name: "C".to_owned(),
                span: fn_span,
            },
            Some(abi) => match &abi.name {
                None => ResolvedAbi {
                    name: "C".to_owned(),
                    span: abi.extern_token.span,
                },
                Some(name) => ResolvedAbi {
                    name: name.value(),
                    span: name.span(),
                },
            },
        }
    }

    pub(crate) fn unwinds(&self) -> bool {
        self.name.ends_with("-unwind")
    }

    fn is_rust(&self) -> bool {
        matches!(
            self.name.as_str(),
            "Rust" | "rust-call" | "rust-intrinsic" | "rust-cold"
        )
    }
}

/// Rules shared by both forms: the options against the ABI.
fn check_policy(options: &Options, abi: &ResolvedAbi, errors: &mut Errors) {
    let policy = options.policy();
    if let Some((OnPanic::Unwind, span)) = options.on_panic {
        if !abi.unwinds() {
            errors.error(
                span,
                format_args!(
                    "`on_panic = unwind` needs an ABI that can unwind: write `extern \"{}-unwind\"` \
                     (a panic unwinding out of an `extern \"{}\"` fn aborts the process)",
                    abi.name, abi.name
                ),
            );
        }
    }
    if let Some((_, span)) = &options.fallback {
        if !policy.returns_fallback() {
            errors.error(
                *span,
                format_args!(
                    "`fallback` is never used with `on_panic = {}`: only `resume` and `fallback` \
                     return a value to C after a panic",
                    policy.name()
                ),
            );
        }
    }
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

/// The one `#[user_data]` marker, reporting every extra one.
fn single_marker<'a>(
    markers: impl Iterator<Item = &'a UserDataAttr>,
    errors: &mut Errors,
) -> Option<&'a UserDataAttr> {
    let mut first = None;
    for marker in markers {
        if first.is_none() {
            first = Some(marker);
        } else {
            errors.error(
                marker.span,
                "only one parameter can carry the user data: `#[user_data]` is given more than once",
            );
        }
    }
    first
}

pub(crate) fn check_fn(item: &CallbackFn, options: &Options, errors: &mut Errors) {
    if let Some(span) = item.constness {
        errors.error(span, "a `const fn` cannot be a C callback: remove `const`");
    }
    if let Some(span) = item.asyncness {
        errors.error(
            span,
            "an `async fn` cannot be a C callback: C calls it and needs the result now",
        );
    }
    if let Some(span) = item.receiver {
        errors.error(
            span,
            "a C callback cannot take `self`: pass the state as `#[user_data] state: &mut State`",
        );
    }
    if let Some(span) = item.variadic {
        errors.error(
            span,
            "a variadic fn cannot be written in Rust as a C callback",
        );
    }
    let abi = ResolvedAbi::resolve(item.abi.as_ref(), item.fn_span);
    check_policy(options, &abi, errors);
    for (key, span) in [
        ("reentrant", options.reentrant),
        ("send", options.send),
        ("sync", options.sync),
    ] {
        if let Some(span) = span {
            errors.error(
                span,
                format_args!(
                    "`{key}` describes the closures of a callback type; a `#[callback]` fn \
                     has no closure to check"
                ),
            );
        }
    }

    let marker = single_marker(item.params.iter().flat_map(|p| &p.user_data), errors);
    let user_data_param = item.params.iter().find(|p| !p.user_data.is_empty());
    if let Some(param) = user_data_param {
        check_received_type(&param.ty, errors);
    }
    match (&options.user_data, marker) {
        (Some((_, span)), None) => errors.error(
            *span,
            "`user_data = EXPR` needs a parameter to receive it: mark it `#[user_data]`",
        ),
        (Some(_), Some(marker)) => {
            if let Some(slot) = &marker.slot {
                errors.spanned(
                    slot,
                    "with `user_data = EXPR` the user data is not a C parameter, so it has no \
                     slot type: write `#[user_data]`",
                );
            }
        }
        (None, _) => {}
    }
    if let (Some(span), None) = (options.safe_fn, marker) {
        errors.error(
            span,
            "`unsafe(safe_fn)` is not needed: a callback without user data is already a safe fn",
        );
    }
}

/// The Rust type a fn receives its user data as. Which types work is the
/// runtime trait's rule; a named lifetime is refused here because the
/// reference only lives for the call.
fn check_received_type(ty: &Type, errors: &mut Errors) {
    let reference = match ty {
        Type::Reference(r) => Some(r),
        Type::Path(p) => p.path.segments.last().and_then(|s| match &s.arguments {
            syn::PathArguments::AngleBracketed(a) if s.ident == "Option" => {
                a.args.iter().find_map(|arg| match arg {
                    syn::GenericArgument::Type(Type::Reference(r)) => Some(r),
                    _ => None,
                })
            }
            _ => None,
        }),
        _ => None,
    };
    if let Some(lifetime) = reference.and_then(|r| r.lifetime.as_ref()) {
        if lifetime.ident != "_" {
            errors.spanned(
                lifetime,
                "user data is borrowed for one call only: leave the lifetime out (`&T`, `&mut T`)",
            );
        }
    }
}

pub(crate) fn check_type(item: &CallbackType, options: &Options, errors: &mut Errors) {
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
    if let Some(span) = item.higher_ranked {
        errors.error(
            span,
            "`for<'a>` callback types are not supported: elided lifetimes (`&T`) already mean \
             any lifetime",
        );
    }
    if let Some(span) = item.variadic {
        errors.error(span, "a variadic callback cannot be written in Rust");
    }
    if item.abi.is_none() {
        errors.error(
            item.fn_span,
            "a C callback type needs its ABI: write `unsafe extern \"C\" fn(...)` (or \
             `extern \"system\"`, ...)",
        );
    } else {
        let abi = ResolvedAbi::resolve(item.abi.as_ref(), item.fn_span);
        check_policy(options, &abi, errors);
    }
    let threaded = match (options.send, options.sync) {
        (_, Some(_)) => Some("sync"),
        (Some(_), None) => Some("send"),
        (None, None) => None,
    };
    if let (Some((OnPanic::Resume, span)), Some(key)) = (options.on_panic, threaded) {
        errors.error(
            span,
            format_args!(
                "`on_panic = resume` cannot be used with `{key}`: the callback may run on another \
                 thread, where no `resume_panics` guard can carry the panic back; use `abort` \
                 (the default for `{key}`) or `fallback`"
            ),
        );
    }

    let marker = single_marker(item.params.iter().flat_map(|p| &p.user_data), errors);
    if let Some(marker) = marker {
        if let Some(slot) = &marker.slot {
            errors.spanned(
                slot,
                "in a callback type the slot's C type is the parameter's own type: write \
                 `#[user_data] name: Type`",
            );
        }
        if let Some((_, span)) = &options.user_data {
            errors.error(
                *span,
                "the user data is either a `#[user_data]` parameter or fetched by \
                 `user_data = EXPR`, not both",
            );
        }
    }
    if let Some((_, span)) = &options.user_data {
        if item.params.iter().any(|p| p.name.is_none()) {
            errors.error(
                *span,
                "`user_data = EXPR` reads the other parameters by name: name them all, as in \
                 `fn(ctx: *mut sqlite3_context, n: c_int)`",
            );
        }
    }
    let has_user_data = marker.is_some() || options.user_data.is_some();
    match (item.written_unsafe, options.safe_fn, has_user_data) {
        (None, None, true) => errors.error(
            item.fn_span,
            "this is a safe fn pointer type, but its trampoline turns the user data back into \
             the closure, which is only sound for the pointer this crate handed out; write \
             `unsafe extern ...`, or, if the binding demands a safe fn type (libc's \
             `pthread_create`), promise it with `#[callback(unsafe(safe_fn))]`",
        ),
        (Some(_), Some(span), _) => errors.error(
            span,
            "`unsafe(safe_fn)` makes the trampoline a safe fn, but this type is an `unsafe` fn \
             pointer: remove one of them",
        ),
        (_, Some(span), false) => errors.error(
            span,
            "`unsafe(safe_fn)` is not needed: a callback type without user data has a safe \
             trampoline",
        ),
        _ => {}
    }
}
