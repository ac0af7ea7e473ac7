//! Stage 1b: the annotated item, parsed into a model that keeps every span
//! the checks and the expansion need. Nothing is rejected here that the
//! model can still represent: that is the check stage's job, so all errors
//! come together.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{
    Abi, Attribute, Block, BoundLifetimes, FnArg, GenericArgument, Generics, Ident, Item, ItemFn,
    ItemType, Pat, PatIdent, PathArguments, Receiver, ReceiverKind, ReturnType, Safety, Type,
    TypeFnPtr, TypeReference, Visibility,
};

use crate::errors::Errors;

/// A `#[user_data]` or `#[user_data(SlotType)]` marker on a parameter.
pub(crate) struct UserDataAttr {
    /// The whole attribute, for errors spanned on it.
    pub(crate) tokens: TokenStream,
    pub(crate) slot: Option<Type>,
}

/// Splits `#[user_data]` markers off a parameter's attributes.
fn take_user_data(
    attrs: Vec<Attribute>,
    errors: &mut Errors,
) -> (Vec<Attribute>, Vec<UserDataAttr>) {
    let mut kept = Vec::new();
    let mut markers = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("user_data") {
            kept.push(attr);
            continue;
        }
        let tokens = attr.to_token_stream();
        let slot = match &attr.meta {
            syn::Meta::Path(_) => None,
            syn::Meta::List(list) => match syn::parse2::<Type>(list.tokens.clone()) {
                Ok(ty) => Some(ty),
                Err(_) => {
                    // Empty parentheses have no token to point at: the
                    // whole attribute stands for them.
                    let message = "expected the C type of the user-data slot, as in \
                                   `#[user_data(LPARAM)]`, or `#[user_data]` for `*mut c_void`";
                    if list.tokens.is_empty() {
                        errors.spanned(&tokens, message);
                    } else {
                        errors.spanned(&list.tokens, message);
                    }
                    None
                }
            },
            syn::Meta::NameValue(nv) => {
                errors.spanned(
                    nv,
                    format_args!(
                        "the slot's C type goes in parentheses: write `#[user_data({})]`, or \
                         `#[user_data]` for `*mut c_void`",
                        nv.value.to_token_stream().to_string().replace(" :: ", "::")
                    ),
                );
                None
            }
        };
        markers.push(UserDataAttr { tokens, slot });
    }
    (kept, markers)
}

/// An `#[into(Type)]` marker on a parameter: the closures, methods or fn
/// body receive the C argument converted into `Type`; `#[into(&[T], len =
/// EXPR)]` borrows a slice of `EXPR` elements.
pub(crate) struct IntoAttr {
    /// The whole attribute, for errors spanned on it.
    pub(crate) tokens: TokenStream,
    pub(crate) target: Option<Type>,
    /// `len = EXPR`, with the span of `len`.
    pub(crate) len: Option<(Span, syn::Expr)>,
}

const LEN_EXPECTED: &str = "expected `len = EXPR` after the type, as in `#[into(&[u8], len = \
                            size)]`";

const INTO_EXPECTED: &str = "expected the Rust type the closures receive, as in `#[into(Pid)] \
                             pid: pid_t` (converted with `TryFrom`)";

/// `Type` or `Type, len = EXPR`, the arguments of `#[into(..)]`.
fn into_args(input: syn::parse::ParseStream<'_>) -> syn::Result<(Type, Option<(Span, syn::Expr)>)> {
    let whole: TokenStream = input.fork().parse()?;
    let target: Type = input
        .parse()
        .map_err(|_| syn::Error::new_spanned(&whole, INTO_EXPECTED))?;
    if input.is_empty() {
        return Ok((target, None));
    }
    // What follows the type, for errors: syn's own at the end of the
    // input would point at the macro call, not at the attribute.
    let rest: TokenStream = input.fork().parse()?;
    let len = (|| {
        input.parse::<syn::Token![,]>()?;
        let key: Ident = input.parse()?;
        if key != "len" {
            return Err(syn::Error::new(key.span(), LEN_EXPECTED));
        }
        input.parse::<syn::Token![=]>()?;
        let len: syn::Expr = input.parse()?;
        if !input.is_empty() {
            input.parse::<syn::Token![,]>()?;
        }
        Ok((key.span(), len))
    })()
    .map_err(|_| syn::Error::new_spanned(&rest, LEN_EXPECTED))?;
    Ok((target, Some(len)))
}

/// Splits `#[into(Type)]` markers off a parameter's attributes.
fn take_into(attrs: Vec<Attribute>, errors: &mut Errors) -> (Vec<Attribute>, Vec<IntoAttr>) {
    let mut kept = Vec::new();
    let mut markers = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("into") {
            kept.push(attr);
            continue;
        }
        let tokens = attr.to_token_stream();
        let (target, len) = match &attr.meta {
            syn::Meta::List(list) if !list.tokens.is_empty() => {
                match syn::parse::Parser::parse2(into_args, list.tokens.clone()) {
                    Ok((ty, len)) => (Some(ty), len),
                    Err(error) => {
                        errors.push(error);
                        (None, None)
                    }
                }
            }
            _ => {
                errors.spanned(&tokens, INTO_EXPECTED);
                (None, None)
            }
        };
        markers.push(IntoAttr {
            tokens,
            target,
            len,
        });
    }
    (kept, markers)
}

pub(crate) enum Callback {
    Fn(CallbackFn),
    Type(CallbackType),
    Set(CallbackSet),
}

/// A parameter of a `#[callback]` fn.
pub(crate) struct FnParam {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) pat: Box<Pat>,
    pub(crate) ty: Box<Type>,
    pub(crate) user_data: Vec<UserDataAttr>,
    /// `#[into(..)]` markers: the body receives the converted value (never
    /// on the `#[user_data]` parameter).
    pub(crate) into: Vec<IntoAttr>,
}

/// Form 1: a fn the C library calls directly.
pub(crate) struct CallbackFn {
    /// The item as written, for scans over all its tokens.
    pub(crate) source: TokenStream,
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) constness: Option<Span>,
    pub(crate) asyncness: Option<Span>,
    pub(crate) written_unsafe: Option<Span>,
    pub(crate) abi: Option<Abi>,
    pub(crate) fn_span: Span,
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    /// `self`, `&mut self`, ... (refused). It is also kept in `params` as
    /// `self: Type`, so that the item emitted beside the error still
    /// compiles as the method it was.
    pub(crate) receiver: Option<TokenStream>,
    /// `...` (refused), with its pattern if written.
    pub(crate) variadic: Option<TokenStream>,
    pub(crate) params: Vec<FnParam>,
    pub(crate) output: ReturnType,
    pub(crate) block: Box<Block>,
}

/// A parameter of a `#[callback]` type's fn pointer.
pub(crate) struct TypeParam {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) name: Option<Ident>,
    pub(crate) ty: Type,
    pub(crate) user_data: Vec<UserDataAttr>,
    /// `#[into(Type)]`: what the closures receive instead of `ty`.
    pub(crate) into: Vec<IntoAttr>,
}

/// Form 2: a C callback type, whose name becomes a holder for closures.
pub(crate) struct CallbackType {
    /// The item as written, for scans over all its tokens.
    pub(crate) source: TokenStream,
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    /// `for<'a>` (refused).
    pub(crate) higher_ranked: Option<BoundLifetimes>,
    pub(crate) written_unsafe: Option<Span>,
    pub(crate) abi: Option<Abi>,
    pub(crate) fn_span: Span,
    /// `...` (refused).
    pub(crate) variadic: Option<TokenStream>,
    pub(crate) params: Vec<TypeParam>,
    pub(crate) output: ReturnType,
}

/// Parses the item. `Err` only when there is no model to check at all.
pub(crate) fn parse(item: TokenStream, errors: &mut Errors) -> Result<Callback, syn::Error> {
    let source = item.clone();
    match syn::parse2::<Item>(item)? {
        Item::Fn(item) => Ok(Callback::Fn(parse_fn(item, source, errors))),
        Item::Type(item) => parse_type(item, source, errors).map(Callback::Type),
        Item::Trait(item) => Ok(Callback::Set(parse_set(item, source, errors))),
        other => Err(syn::Error::new(
            item_span(&other),
            "`#[callback]` goes on a fn that C calls directly, on a C callback type alias \
             such as `type Cb = unsafe extern \"C\" fn(#[user_data] ud: *mut c_void);`, or on a \
             trait declaring a callback set (several C entry points sharing one state)",
        )),
    }
}

/// The item's keyword (`struct`, `impl`, ...), past its attributes and
/// visibility.
fn item_span(item: &Item) -> Span {
    let mut tokens = item.to_token_stream().into_iter().peekable();
    while let Some(tt) = tokens.next() {
        match &tt {
            proc_macro2::TokenTree::Punct(p) if p.as_char() == '#' => {
                tokens.next();
            }
            proc_macro2::TokenTree::Ident(ident) if ident == "pub" => {
                if matches!(
                    tokens.peek(),
                    Some(proc_macro2::TokenTree::Group(g))
                        if g.delimiter() == proc_macro2::Delimiter::Parenthesis
                ) {
                    tokens.next();
                }
            }
            _ => return tt.span(),
        }
    }
    Span::call_site()
}

/// The receiver as the typed parameter it stands for: `&mut self` is
/// `self: &mut Self`.
fn receiver_param(receiver: Receiver) -> FnParam {
    let Receiver {
        attrs,
        mutability,
        self_token,
        kind,
    } = receiver;
    let self_type = || -> Type { syn::parse_quote_spanned!(self_token.span=> Self) };
    let (by_ref, ty) = match kind {
        ReceiverKind::Reference(and_token, lifetime, mutability) => (
            None,
            Type::Reference(TypeReference {
                attrs: Vec::new(),
                and_token,
                lifetime,
                mutability,
                elem: Box::new(self_type()),
            }),
        ),
        ReceiverKind::Typed(_, ty) => (mutability, *ty),
        _ => (mutability, self_type()),
    };
    FnParam {
        attrs,
        pat: Box::new(Pat::Ident(PatIdent {
            attrs: Vec::new(),
            by_ref: None,
            mutability: by_ref,
            ident: Ident::from(self_token),
            subpat: None,
        })),
        ty: Box::new(ty),
        user_data: Vec::new(),
        into: Vec::new(),
    }
}

fn parse_fn(item: ItemFn, source: TokenStream, errors: &mut Errors) -> CallbackFn {
    let ItemFn {
        attrs,
        vis,
        modifiers: _,
        sig,
        block,
    } = item;
    let mut receiver = None;
    let mut params = Vec::new();
    for arg in sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                receiver = Some(r.to_token_stream());
                params.push(receiver_param(r));
            }
            FnArg::Typed(pat_type) => {
                let (attrs, user_data) = take_user_data(pat_type.attrs, errors);
                let (attrs, into) = take_into(attrs, errors);
                params.push(FnParam {
                    attrs,
                    pat: pat_type.pat,
                    ty: pat_type.ty,
                    user_data,
                    into,
                });
            }
        }
    }
    CallbackFn {
        source,
        attrs,
        vis,
        constness: sig.constness.map(|t| t.span),
        asyncness: sig.asyncness.map(|t| t.span),
        written_unsafe: match sig.safety {
            Safety::Unsafe(t) => Some(t.span),
            _ => None,
        },
        abi: sig.abi,
        fn_span: sig.fn_token.span,
        ident: sig.ident,
        generics: sig.generics,
        receiver,
        variadic: sig.variadic.map(|v| {
            let mut tokens = TokenStream::new();
            if let Some((pat, colon)) = &v.pat {
                pat.to_tokens(&mut tokens);
                colon.to_tokens(&mut tokens);
            }
            v.dots.to_tokens(&mut tokens);
            tokens
        }),
        params,
        output: sig.output,
        block,
    }
}

fn parse_type(
    item: ItemType,
    source: TokenStream,
    errors: &mut Errors,
) -> Result<CallbackType, syn::Error> {
    let ItemType {
        attrs,
        vis,
        ident,
        generics,
        ty,
        ..
    } = item;
    let fn_ptr = match unwrap_option(*ty) {
        Ok(fn_ptr) => fn_ptr,
        Err(other) => {
            return Err(syn::Error::new_spanned(
                other,
                "expected a C function pointer type, as in \
                 `unsafe extern \"C\" fn(#[user_data] ud: *mut c_void, x: c_int) -> c_int`",
            ));
        }
    };
    let TypeFnPtr {
        lifetimes,
        unsafety,
        abi,
        fn_token,
        inputs,
        variadic,
        output,
        ..
    } = fn_ptr;
    let params = inputs
        .into_iter()
        .map(|arg| {
            let (attrs, user_data) = take_user_data(arg.attrs, errors);
            let (attrs, into) = take_into(attrs, errors);
            TypeParam {
                attrs,
                name: arg.name.map(|(name, _)| name),
                ty: arg.ty,
                user_data,
                into,
            }
        })
        .collect();
    Ok(CallbackType {
        source,
        attrs,
        vis,
        ident,
        generics,
        higher_ranked: lifetimes,
        written_unsafe: unsafety.map(|t| t.span),
        abi,
        fn_span: fn_token.span,
        variadic: variadic.map(|v| v.dots.to_token_stream()),
        params,
        output,
    })
}

/// `Option<unsafe extern "C" fn(..)>`, as bindgen writes typedefs, is taken
/// as the fn pointer inside.
fn unwrap_option(ty: Type) -> Result<TypeFnPtr, Box<Type>> {
    match ty {
        Type::FnPtr(fn_ptr) => Ok(fn_ptr),
        Type::Paren(paren) => unwrap_option(*paren.elem),
        Type::Group(group) => unwrap_option(*group.elem),
        Type::Path(mut path)
            if path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Option") =>
        {
            // Taken apart only when it is `Option<fn>`: anything else is
            // reported whole.
            if let Some(PathArguments::AngleBracketed(args)) = path
                .path
                .segments
                .last_mut()
                .map(|last| &mut last.arguments)
            {
                let is_fn_ptr = args.args.len() == 1
                    && matches!(
                        args.args.first(),
                        Some(GenericArgument::Type(Type::FnPtr(_)))
                    );
                if is_fn_ptr {
                    if let Some(GenericArgument::Type(Type::FnPtr(fn_ptr))) = args.args.pop() {
                        return Ok(fn_ptr);
                    }
                }
            }
            Err(Box::new(Type::Path(path)))
        }
        other => Err(Box::new(other)),
    }
}

/// How a set's entry point reaches the state.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetReceiver {
    /// `&self`: may nest with other `&self` entries.
    Shared,
    /// `&mut self`: exclusive.
    Exclusive,
    /// `self`: the destroy entry; consumes the state.
    Owned,
    /// `self: Box<Self>` and other typed receivers (refused).
    Unsupported,
}

/// One C entry point of a set: a trait fn written as the C header shapes
/// it, with `self` standing for the state and `#[user_data]` on the slot.
pub(crate) struct SetEntry {
    /// Its own `#[callback(...)]` options, as tokens (parsed by the check
    /// stage, so that their errors join the others).
    pub(crate) options: Option<TokenStream>,
    /// Its `#[callback]` attributes after the first, and a first one
    /// written `#[callback = ..]` (refused: their options would be lost).
    pub(crate) other_callback_attrs: Vec<Attribute>,
    /// Its other attributes (docs).
    pub(crate) attrs: Vec<Attribute>,
    /// `const` and `async` (refused).
    pub(crate) constness: Option<Span>,
    pub(crate) asyncness: Option<Span>,
    pub(crate) written_unsafe: Option<Span>,
    pub(crate) abi: Option<Abi>,
    pub(crate) fn_span: Span,
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    /// The receiver, and its tokens for errors (`None`: no receiver).
    pub(crate) receiver: Option<(SetReceiver, TokenStream)>,
    /// `#[user_data]` markers on the receiver (refused: `self` is the
    /// state, not the C slot).
    pub(crate) receiver_user_data: Vec<UserDataAttr>,
    /// The C parameters (the receiver is not one of them).
    pub(crate) params: Vec<FnParam>,
    pub(crate) variadic: Option<TokenStream>,
    pub(crate) output: ReturnType,
    /// A default body (refused: the state's type implements the method).
    pub(crate) default: Option<Span>,
}

/// Form 3: a trait declaring the C entry points of a callback set.
pub(crate) struct CallbackSet {
    pub(crate) source: TokenStream,
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    /// `unsafe trait` (refused: the macro checks the entry points).
    pub(crate) unsafety: Option<Span>,
    /// Supertraits as written (refused: the contract sets them).
    pub(crate) supertraits: Option<TokenStream>,
    pub(crate) entries: Vec<SetEntry>,
    /// Items other than fns (refused), for errors.
    pub(crate) other_items: Vec<TokenStream>,
}

/// `self: Self`, `self: &Self` and `self: &mut Self` are the plain
/// receivers spelled out; anything else is not a way to reach the state.
fn typed_receiver(ty: &Type) -> SetReceiver {
    let is_self =
        |ty: &Type| matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"));
    match ty {
        ty if is_self(ty) => SetReceiver::Owned,
        Type::Reference(r) if is_self(&r.elem) => {
            if r.mutability.is_some() {
                SetReceiver::Exclusive
            } else {
                SetReceiver::Shared
            }
        }
        _ => SetReceiver::Unsupported,
    }
}

fn parse_set(item: syn::ItemTrait, source: TokenStream, errors: &mut Errors) -> CallbackSet {
    let syn::ItemTrait {
        attrs,
        vis,
        unsafety,
        ident,
        generics,
        supertraits,
        items,
        ..
    } = item;
    let mut entries = Vec::new();
    let mut other_items = Vec::new();
    for item in items {
        let syn::TraitItem::Fn(item) = item else {
            other_items.push(item.to_token_stream());
            continue;
        };
        let syn::TraitItemFn {
            attrs,
            sig,
            default,
            ..
        } = item;
        let (callback_attrs, attrs): (Vec<Attribute>, Vec<Attribute>) =
            attrs.into_iter().partition(crate::check::is_callback_attr);
        let mut callback_attrs = callback_attrs.into_iter().peekable();
        let options = match callback_attrs.peek().map(|a| &a.meta) {
            Some(syn::Meta::List(list)) => Some(list.tokens.clone()),
            Some(syn::Meta::Path(_)) => Some(TokenStream::new()),
            // `#[callback = ..]`: left with the others, for its error.
            Some(syn::Meta::NameValue(_)) | None => None,
        };
        if options.is_some() {
            callback_attrs.next();
        }
        let other_callback_attrs: Vec<Attribute> = callback_attrs.collect();
        let mut receiver = None;
        let mut receiver_user_data = Vec::new();
        let mut params = Vec::new();
        for arg in sig.inputs {
            match arg {
                FnArg::Receiver(mut r) => {
                    let kind = match &r.kind {
                        // A named lifetime would tie the state's borrow to
                        // the trait's user, not to the call.
                        ReceiverKind::Reference(_, Some(_), _) => SetReceiver::Unsupported,
                        ReceiverKind::Reference(_, None, Some(_)) => SetReceiver::Exclusive,
                        ReceiverKind::Reference(_, None, None) => SetReceiver::Shared,
                        ReceiverKind::Typed(_, ty) => typed_receiver(ty),
                        _ => SetReceiver::Owned,
                    };
                    // `mut self` binds the state mutably in the implementing
                    // method; the trait's declaration has no body for it.
                    r.mutability = None;
                    // Off the receiver's tokens, which are printed again.
                    let (attrs, markers) = take_user_data(std::mem::take(&mut r.attrs), errors);
                    r.attrs = attrs;
                    receiver_user_data = markers;
                    receiver = Some((kind, r.to_token_stream()));
                }
                FnArg::Typed(pat_type) => {
                    let (attrs, user_data) = take_user_data(pat_type.attrs, errors);
                    let (attrs, into) = take_into(attrs, errors);
                    params.push(FnParam {
                        attrs,
                        pat: pat_type.pat,
                        ty: pat_type.ty,
                        user_data,
                        into,
                    });
                }
            }
        }
        entries.push(SetEntry {
            options,
            other_callback_attrs,
            attrs,
            constness: sig.constness.map(|t| t.span),
            asyncness: sig.asyncness.map(|t| t.span),
            written_unsafe: match sig.safety {
                Safety::Unsafe(t) => Some(t.span),
                _ => None,
            },
            abi: sig.abi,
            fn_span: sig.fn_token.span,
            ident: sig.ident,
            generics: sig.generics,
            receiver,
            receiver_user_data,
            params,
            variadic: sig.variadic.map(|v| v.dots.to_token_stream()),
            output: sig.output,
            default: default.map(|block| block.brace_token.span.join()),
        });
    }
    CallbackSet {
        source,
        attrs,
        vis,
        ident,
        generics,
        unsafety: unsafety.map(|t| t.span),
        supertraits: (!supertraits.is_empty()).then(|| supertraits.to_token_stream()),
        entries,
        other_items,
    }
}
