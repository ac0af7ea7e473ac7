//! Stage 1b: the annotated item, parsed into a model that keeps every span
//! the checks and the expansion need. Nothing is rejected here that the
//! model can still represent: that is the check stage's job, so all errors
//! come together.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{
    Abi, Attribute, Block, FnArg, GenericArgument, Generics, Ident, Item, ItemFn, ItemType, Pat,
    PathArguments, ReturnType, Safety, Type, TypeFnPtr, Visibility,
};

use crate::errors::Errors;

/// A `#[user_data]` or `#[user_data(SlotType)]` marker on a parameter.
pub(crate) struct UserDataAttr {
    pub(crate) span: Span,
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
        let span = attr.span();
        let slot = match &attr.meta {
            syn::Meta::Path(_) => None,
            syn::Meta::List(list) => match syn::parse2::<Type>(list.tokens.clone()) {
                Ok(ty) => Some(ty),
                Err(_) => {
                    errors.spanned(
                        &list.tokens,
                        "expected the C type of the user-data slot, as in `#[user_data(LPARAM)]`",
                    );
                    None
                }
            },
            syn::Meta::NameValue(nv) => {
                errors.spanned(
                    nv,
                    "expected `#[user_data]`, or `#[user_data(SlotType)]` to name the C type \
                     of the slot",
                );
                None
            }
        };
        markers.push(UserDataAttr { span, slot });
    }
    (kept, markers)
}

pub(crate) enum Callback {
    Fn(CallbackFn),
    Type(CallbackType),
}

/// A parameter of a `#[callback]` fn.
pub(crate) struct FnParam {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) pat: Box<Pat>,
    pub(crate) ty: Box<Type>,
    pub(crate) user_data: Vec<UserDataAttr>,
}

/// Form 1: a fn the C library calls directly.
pub(crate) struct CallbackFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) constness: Option<Span>,
    pub(crate) asyncness: Option<Span>,
    pub(crate) written_unsafe: Option<Span>,
    pub(crate) abi: Option<Abi>,
    pub(crate) fn_span: Span,
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) receiver: Option<Span>,
    pub(crate) variadic: Option<Span>,
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
}

/// Form 2: a C callback type, whose name becomes a holder for closures.
pub(crate) struct CallbackType {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) ident: Ident,
    pub(crate) generics: Generics,
    pub(crate) higher_ranked: Option<Span>,
    pub(crate) written_unsafe: Option<Span>,
    pub(crate) abi: Option<Abi>,
    pub(crate) fn_span: Span,
    pub(crate) variadic: Option<Span>,
    pub(crate) params: Vec<TypeParam>,
    pub(crate) output: ReturnType,
}

/// Parses the item. `Err` only when there is no model to check at all.
pub(crate) fn parse(item: TokenStream, errors: &mut Errors) -> Result<Callback, syn::Error> {
    match syn::parse2::<Item>(item)? {
        Item::Fn(item) => Ok(Callback::Fn(parse_fn(item, errors))),
        Item::Type(item) => parse_type(item, errors).map(Callback::Type),
        other => Err(syn::Error::new(
            item_span(&other),
            "#[callback] goes on a fn (the C library calls it directly) or on a C callback \
             type alias such as `type Cb = unsafe extern \"C\" fn(#[user_data] ud: *mut c_void);`",
        )),
    }
}

fn item_span(item: &Item) -> Span {
    use quote::ToTokens;
    item.to_token_stream()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |tt| tt.span())
}

fn parse_fn(item: ItemFn, errors: &mut Errors) -> CallbackFn {
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
            FnArg::Receiver(r) => receiver = Some(r.self_token.span),
            FnArg::Typed(pat_type) => {
                let (attrs, user_data) = take_user_data(pat_type.attrs, errors);
                params.push(FnParam {
                    attrs,
                    pat: pat_type.pat,
                    ty: pat_type.ty,
                    user_data,
                });
            }
        }
    }
    CallbackFn {
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
        variadic: sig.variadic.map(|v| v.dots.spans[0]),
        params,
        output: sig.output,
        block,
    }
}

fn parse_type(item: ItemType, errors: &mut Errors) -> Result<CallbackType, syn::Error> {
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
            TypeParam {
                attrs,
                name: arg.name.map(|(name, _)| name),
                ty: arg.ty,
                user_data,
            }
        })
        .collect();
    Ok(CallbackType {
        attrs,
        vis,
        ident,
        generics,
        higher_ranked: lifetimes.map(|l| l.for_token.span),
        written_unsafe: unsafety.map(|t| t.span),
        abi,
        fn_span: fn_token.span,
        variadic: variadic.map(|v| v.dots.spans[0]),
        params,
        output,
    })
}

/// `Option<unsafe extern "C" fn(..)>`, as bindgen writes typedefs, is taken
/// as the fn pointer inside.
fn unwrap_option(ty: Type) -> Result<TypeFnPtr, Type> {
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
            let inner = path
                .path
                .segments
                .last_mut()
                .map(|last| std::mem::replace(&mut last.arguments, PathArguments::None));
            if let Some(PathArguments::AngleBracketed(args)) = inner {
                let mut args = args.args.into_iter();
                if let (Some(GenericArgument::Type(Type::FnPtr(fn_ptr))), None) =
                    (args.next(), args.next())
                {
                    return Ok(fn_ptr);
                }
            }
            Err(Type::Path(path))
        }
        other => Err(other),
    }
}
