//! Stage 1a: the arguments of `#[callback(...)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Meta, Path, Token};

use crate::errors::Errors;

/// What happens to a panic in the callback (`on_panic = ...`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OnPanic {
    Resume,
    Abort,
    Fallback,
    Unwind,
}

impl OnPanic {
    pub(crate) fn name(self) -> &'static str {
        match self {
            OnPanic::Resume => "resume",
            OnPanic::Abort => "abort",
            OnPanic::Fallback => "fallback",
            OnPanic::Unwind => "unwind",
        }
    }

    /// Whether C receives a fallback value after a panic or a refusal.
    pub(crate) fn returns_fallback(self) -> bool {
        matches!(self, OnPanic::Resume | OnPanic::Fallback)
    }
}

/// The parsed arguments, each with the span of its key for error messages.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) on_panic: Option<(OnPanic, Span)>,
    pub(crate) fallback: Option<(Expr, Span)>,
    pub(crate) user_data: Option<(Expr, Span)>,
    pub(crate) krate: Option<Path>,
    pub(crate) safe_fn: Option<Span>,
    pub(crate) reentrant: Option<Span>,
    pub(crate) send: Option<Span>,
    pub(crate) sync: Option<Span>,
}

const VALID: &str = "`on_panic = resume | abort | fallback | unwind`, `fallback = EXPR`, \
                     `user_data = EXPR`, `crate = path`, `unsafe(safe_fn)`, and for callback \
                     types `reentrant`, `send`, `sync`";

impl Options {
    /// Parses `args`, reporting every malformed, unknown or repeated option.
    pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Options {
        let mut options = Options::default();
        let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
            Ok(metas) => metas,
            Err(error) => {
                errors.push(error);
                return options;
            }
        };
        for meta in metas {
            options.add(meta, errors);
        }
        options
    }

    fn add(&mut self, meta: Meta, errors: &mut Errors) {
        let path = meta.path();
        let key_span = path.span();
        let Some(key) = path.get_ident().map(ToString::to_string) else {
            errors.spanned(
                path,
                format_args!("unknown option; the options are {VALID}"),
            );
            return;
        };
        match (key.as_str(), meta) {
            ("on_panic", Meta::NameValue(nv)) => {
                let policy = match &nv.value {
                    Expr::Path(p) if p.path.is_ident("resume") => Some(OnPanic::Resume),
                    Expr::Path(p) if p.path.is_ident("abort") => Some(OnPanic::Abort),
                    Expr::Path(p) if p.path.is_ident("fallback") => Some(OnPanic::Fallback),
                    Expr::Path(p) if p.path.is_ident("unwind") => Some(OnPanic::Unwind),
                    _ => None,
                };
                match policy {
                    Some(policy) => set(
                        &mut self.on_panic,
                        (policy, nv.value.span()),
                        key_span,
                        &key,
                        errors,
                    ),
                    None => errors.spanned(&nv.value, unknown_policy(&nv.value)),
                }
            }
            ("fallback", Meta::NameValue(nv)) => set(
                &mut self.fallback,
                (nv.value, key_span),
                key_span,
                &key,
                errors,
            ),
            ("user_data", Meta::NameValue(nv)) => set(
                &mut self.user_data,
                (nv.value, key_span),
                key_span,
                &key,
                errors,
            ),
            ("crate", Meta::NameValue(nv)) => match nv.value {
                Expr::Path(p) if p.qself.is_none() => {
                    set(&mut self.krate, p.path, key_span, &key, errors)
                }
                other => errors.spanned(
                    other,
                    "expected a path, as in `crate = ::my_crate::ffi_callback`",
                ),
            },
            ("unsafe", Meta::List(list)) => {
                let is_safe_fn = syn::parse2::<syn::Ident>(list.tokens.clone())
                    .is_ok_and(|ident| ident == "safe_fn");
                if is_safe_fn {
                    set(
                        &mut self.safe_fn,
                        list.tokens.span(),
                        key_span,
                        "unsafe(safe_fn)",
                        errors,
                    )
                } else {
                    errors.spanned(&list, "expected `unsafe(safe_fn)`");
                }
            }
            ("reentrant", Meta::Path(_)) => {
                set(&mut self.reentrant, key_span, key_span, &key, errors)
            }
            ("send", Meta::Path(_)) => set(&mut self.send, key_span, key_span, &key, errors),
            ("sync", Meta::Path(_)) => set(&mut self.sync, key_span, key_span, &key, errors),
            ("on_panic" | "fallback" | "user_data" | "crate", other) => {
                errors.spanned(&other, format_args!("expected `{key} = ...`"))
            }
            ("unsafe", other) => errors.spanned(&other, "expected `unsafe(safe_fn)`"),
            ("reentrant" | "send" | "sync", other) => {
                errors.spanned(&other, format_args!("`{key}` takes no value"))
            }
            (_, _) => errors.error(
                key_span,
                match did_you_mean(&key) {
                    Some(option) => {
                        format!("unknown option `{key}`: did you mean `{option}`? The options are {VALID}")
                    }
                    None => format!("unknown option `{key}`; the options are {VALID}"),
                },
            ),
        }
    }

    /// The panic policy, explicit or default: `abort` for types that may be
    /// called on other threads, where no guard can catch; else `resume`.
    pub(crate) fn policy(&self) -> OnPanic {
        match self.on_panic {
            Some((policy, _)) => policy,
            None if self.send.is_some() || self.sync.is_some() => OnPanic::Abort,
            None => OnPanic::Resume,
        }
    }

    /// The runtime crate's path: `::ffi_callback` unless `crate = path`.
    pub(crate) fn runtime(&self) -> TokenStream {
        match &self.krate {
            Some(path) => quote::quote!(#path),
            None => quote::quote!(::ffi_callback),
        }
    }
}

const POLICIES: [&str; 4] = ["resume", "abort", "fallback", "unwind"];

fn unknown_policy(value: &Expr) -> String {
    let expected = "expected `resume`, `abort`, `fallback` or `unwind`";
    let written = match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => {
            if POLICIES.contains(&s.value().as_str()) {
                return format!(
                    "write the panic policy without quotes: `on_panic = {}`",
                    s.value()
                );
            }
            return format!("unknown panic policy; {expected}");
        }
        Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
        _ => None,
    };
    match written.as_deref().and_then(|w| closest(w, &POLICIES)) {
        Some(policy) => format!("unknown panic policy: did you mean `{policy}`? {expected}"),
        None => format!("unknown panic policy; {expected}"),
    }
}

/// The option meant by a misspelt or misremembered key.
fn did_you_mean(key: &str) -> Option<&'static str> {
    match key {
        "safe_fn" | "unsafe_safe_fn" => return Some("unsafe(safe_fn)"),
        "panic" | "on_unwind" | "policy" | "panic_policy" => return Some("on_panic = ..."),
        "reentrancy" | "re_entrant" | "recursive" => return Some("reentrant"),
        "userdata" | "data" | "context" => return Some("user_data = EXPR"),
        "default" | "on_error" | "returns" | "return_value" => return Some("fallback = EXPR"),
        "krate" | "runtime" | "path" => return Some("crate = path"),
        _ => {}
    }
    const KEYS: [&str; 8] = [
        "on_panic",
        "fallback",
        "user_data",
        "crate",
        "unsafe",
        "reentrant",
        "send",
        "sync",
    ];
    closest(key, &KEYS).map(|key| match key {
        "unsafe" => "unsafe(safe_fn)",
        key => key,
    })
}

/// The candidate within a small edit distance of `word`, if one is.
fn closest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|candidate| (edit_distance(&word, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, on bytes (option names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn set<T>(slot: &mut Option<T>, value: T, span: Span, key: &str, errors: &mut Errors) {
    if slot.is_some() {
        errors.error(span, format_args!("`{key}` is given twice"));
    } else {
        *slot = Some(value);
    }
}
