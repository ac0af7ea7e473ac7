//! Stage 2: every rule the tokens can show, checked on the model; all
//! errors of the item are collected. Rules that depend on types the macro
//! cannot see through (aliases such as `LPARAM`) are left to rustc, through
//! spanned assertions in the expansion and `#[diagnostic::on_unimplemented]`
//! on the runtime's traits.

use proc_macro2::Span;
use syn::{GenericArgument, GenericParam, PathArguments, Type};

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

    pub(crate) fn is_rust(&self) -> bool {
        matches!(
            self.name.as_str(),
            "Rust" | "rust-call" | "rust-intrinsic" | "rust-cold"
        )
    }
}

/// Rules shared by both forms, on the attribute's options against the ABI.
fn check_policy(options: &Options, abi: &ResolvedAbi, errors: &mut Errors) {
    let policy = options.policy();
    if let Some((OnPanic::Unwind, span)) = options.on_panic {
        if !abi.unwinds() && !abi.is_rust() {
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
                     return a value to C after a panic; remove one of them",
                    policy.name()
                ),
            );
        }
    }
}

/// The ABI must be one C can call.
fn check_abi(abi: &ResolvedAbi, errors: &mut Errors) {
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

pub(crate) fn check_fn(item: &CallbackFn, options: &Options, errors: &mut Errors) {
    let abi = ResolvedAbi::resolve(item.abi.as_ref(), item.fn_span);
    let markers = markers(&item.params, |p| &p.user_data);
    let marker = markers.first().copied();

    // The attribute's options, as written before the item.
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
                     has no closure to check: remove it"
                ),
            );
        }
    }
    if let (Some((_, span)), None) = (&options.user_data, marker) {
        errors.error(
            *span,
            "`user_data = EXPR` needs a parameter to receive it: mark it `#[user_data]`, as in \
             `#[user_data] state: &mut State`",
        );
    }
    if let Some(span) = options.safe_fn {
        if marker.is_none() {
            errors.error(
                span,
                "`unsafe(safe_fn)` is not needed: a callback without user data is already a safe fn",
            );
        } else if item.written_unsafe.is_some() {
            errors.error(
                span,
                "`unsafe(safe_fn)` makes the callback a safe fn, but it is declared `unsafe fn`: \
                 remove one of them",
            );
        }
    }

    // The item, in source order.
    if let Some(span) = item.constness {
        errors.error(span, "a `const fn` cannot be a C callback: remove `const`");
    }
    if let Some(span) = item.asyncness {
        errors.error(
            span,
            "an `async fn` cannot be a C callback: C calls it and needs the result now; remove \
             `async`",
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
    if let Some(param) = item.params.iter().find(|p| !p.user_data.is_empty()) {
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
            errors.spanned(
                inner,
                "the user data's type must be named: C hands back a pointer to a value of one type",
            );
            None
        }
        _ => match single_generic(inner, "Box") {
            Some(boxed) => Some(boxed),
            None => {
                if is_visibly_owned(inner) || unsized_kind(inner).is_some() {
                    errors.spanned(
                        inner,
                        "a callback cannot receive its user data by value: C hands back a \
                         pointer, received as `&T`, `&mut T`, `Option<&T>`, `Option<&mut T>`, \
                         `Box<T>` (ownership comes back) or a raw pointer",
                    );
                }
                None
            }
        },
    };
    if let Some(pointee) = pointee {
        if let Some(what) = unsized_kind(pointee) {
            errors.spanned(
                pointee,
                format_args!(
                    "user data travels through C as a thin pointer, but {what} is unsized: \
                     wrap it in a sized value (a `String`, a `Vec<T>`, a `Box<dyn Trait>`)"
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

pub(crate) fn check_type(item: &CallbackType, options: &Options, errors: &mut Errors) {
    let abi = ResolvedAbi::resolve(item.abi.as_ref(), item.fn_span);
    let markers = markers(&item.params, |p| &p.user_data);
    let marker = markers.first().copied();
    let has_user_data = marker.is_some() || options.user_data.is_some();

    // The attribute's options, as written before the item.
    if item.abi.is_some() {
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
    if let Some((_, span)) = &options.user_data {
        if marker.is_some() {
            errors.error(
                *span,
                "the user data is either a `#[user_data]` parameter or fetched by \
                 `user_data = EXPR`, not both: remove one of them",
            );
        } else if item.params.iter().any(|p| p.name.is_none()) {
            errors.error(
                *span,
                "`user_data = EXPR` reads the other parameters by name: name them all, as in \
                 `fn(ctx: *mut sqlite3_context, n: c_int)`",
            );
        }
    }
    if let Some(span) = options.safe_fn {
        if item.written_unsafe.is_some() {
            errors.error(
                span,
                "`unsafe(safe_fn)` makes the trampoline a safe fn, but this type is an `unsafe` \
                 fn pointer: remove one of them",
            );
        } else if !has_user_data {
            errors.error(
                span,
                "`unsafe(safe_fn)` is not needed: a callback type without user data has a safe \
                 trampoline",
            );
        }
    }

    // The item, in source order.
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
    if let (None, None, true) = (item.written_unsafe, options.safe_fn, has_user_data) {
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
    check_single_marker(&markers, errors);
    for param in item.params.iter().filter(|p| p.user_data.is_empty()) {
        check_c_param(&param.ty, errors);
    }
    if let Some(param) = item.params.iter().find(|p| !p.user_data.is_empty()) {
        match &param.user_data[0].slot {
            Some(slot) => errors.spanned(
                slot,
                "in a callback type the slot's C type is the parameter's own type: write \
                 `#[user_data] name: Type`",
            ),
            None => check_type_slot(&param.ty, errors),
        }
    }
    if let Some(variadic) = &item.variadic {
        errors.spanned(
            variadic,
            "a C-variadic callback (`...`) cannot be written in Rust",
        );
    }
}

/// A callback type's `#[user_data]` parameter is the C slot itself; the
/// Rust-side types of the fn form (`&mut State`, `Box<State>`) are a likely
/// mix-up.
fn check_type_slot(ty: &Type, errors: &mut Errors) {
    let ty = ungroup(ty);
    let rust_side = matches!(ty, Type::Reference(_))
        || single_generic(ty, "Option").is_some()
        || single_generic(ty, "Box").is_some();
    if rust_side {
        errors.spanned(
            ty,
            "in a callback type the `#[user_data]` parameter is the C slot, as the C header \
             declares it (`*mut c_void`, `gpointer`, `LPARAM`); the closure captures the state \
             instead of receiving it",
        );
    } else {
        check_slot_type(ty, errors);
    }
}
