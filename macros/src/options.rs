//! Stage 1a: the arguments of `#[callback(...)]`, including the defaults a
//! preset passes in (`__preset(...)`, which the user's own options
//! override).

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use syn::parse::discouraged::Speculative;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Meta, Path, Token, Type};

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

/// A value given in the options, with the span of its key for errors.
pub(crate) struct Given<T> {
    pub(crate) value: T,
    pub(crate) key: Span,
}

/// How an item names its preset: `preset = path`, or `preset =
/// unsafe(path)`, which makes the promises of the `unsafe` in the preset's
/// options for this item (they are about the item: its parameters, its
/// safe fn).
pub(crate) struct PresetUse {
    pub(crate) path: Path,
    /// The `unsafe` of `unsafe(path)`.
    pub(crate) unsafe_token: Option<Ident>,
}

impl PresetUse {
    fn parse(input: ParseStream<'_>) -> syn::Result<PresetUse> {
        if input.peek(Token![unsafe]) && input.peek2(syn::token::Paren) {
            let unsafe_token = Ident::new("unsafe", input.parse::<Token![unsafe]>()?.span);
            let inner;
            syn::parenthesized!(inner in input);
            let path = inner.call(Path::parse_mod_style)?;
            if !inner.is_empty() {
                return Err(inner.error("expected the preset's path, as in `unsafe(git_callback)`"));
            }
            return Ok(PresetUse {
                path,
                unsafe_token: Some(unsafe_token),
            });
        }
        Ok(PresetUse {
            path: input.call(Path::parse_mod_style)?,
            unsafe_token: None,
        })
    }
}

/// The parsed arguments. Each is `None` when not given (by the user or by
/// the preset).
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) on_panic: Option<Given<OnPanic>>,
    /// `unguarded = fallback` (true) or `unguarded = abort` (false).
    pub(crate) unguarded_fallback: Option<Given<bool>>,
    pub(crate) fallback: Option<Given<Expr>>,
    pub(crate) on_error: Option<Given<Expr>>,
    /// `keep_error = false`: an `Err` ends at C (given `on_error`'s value)
    /// and is dropped there, not kept for a guard; `true` is the default;
    /// any other expression decides per error (reading `e`).
    pub(crate) keep_error: Option<Given<Expr>>,
    /// `on_continue = EXPR` and `on_break = EXPR`: what C receives for a
    /// closure's `ControlFlow::Continue(())` and `Break(())`.
    pub(crate) on_continue: Option<Given<Expr>>,
    pub(crate) on_break: Option<Given<Expr>>,
    pub(crate) error: Option<Given<Type>>,
    pub(crate) user_data: Option<Given<Expr>>,
    pub(crate) krate: Option<Given<Path>>,
    /// The span of `unsafe` in `unsafe(safe_fn)`: the expansion's promise
    /// carries it, so that the `unsafe_code` lint sees the user's opt-in.
    pub(crate) safe_fn: Option<Given<Span>>,
    pub(crate) reentrant: Option<Given<()>>,
    pub(crate) send: Option<Given<()>>,
    pub(crate) sync: Option<Given<()>>,
    pub(crate) local: Option<Given<()>>,
    pub(crate) fn_type: Option<Given<Ident>>,
    pub(crate) in_impl: Option<Given<()>>,
    /// `destroy` on a set's `&mut self` (or `&self`) entry: C's last call on
    /// a state it owns, which ends it after the call.
    pub(crate) destroy: Option<Given<()>>,
    /// `runs_poisoned` on a set's `&self` entry: it runs while a kept panic
    /// or `Err` poisons the state (an allocator's `free`).
    pub(crate) runs_poisoned: Option<Given<()>>,
    /// `preset = path` or `preset = unsafe(path)`: the expansion hands the
    /// item to that preset's macro.
    pub(crate) preset: Option<Given<PresetUse>>,
    /// `__preset_use(..)`: how the item named the preset whose options
    /// (`__preset(..)`) it now carries; written by [`crate::preset`].
    pub(crate) preset_use: Option<PresetUse>,
    /// The preset's options hold an `unsafe`, and one other than
    /// `unsafe(safe_fn)` (an `unsafe { }` block).
    pub(crate) preset_holds_unsafe: bool,
    pub(crate) preset_holds_unsafe_block: bool,
    /// `unsafe(safe_fn)` came from the preset, not the item: a binding's
    /// blanket preset, not an error where the item needs no promise.
    pub(crate) safe_fn_from_preset: bool,
    /// `raise = EXPR`: the diverging C call that ends a failed call
    /// (`lua_error(l)`).
    pub(crate) raise: Option<Given<Expr>>,
    /// `on_raise = EXPR`: prepares the raise (reads `failure`).
    pub(crate) on_raise: Option<Given<Expr>>,
}

pub(crate) const VALID: &str = "`on_panic = resume | abort | fallback | unwind`, \
     `unguarded = abort | fallback`, `fallback = EXPR`, `on_error = EXPR`, `keep_error = false | EXPR`, \
     `user_data = EXPR`, \
     `crate = path`, `unsafe(safe_fn)`, `preset = path` (or `unsafe(path)`), for fns `in_impl`, `send`, `raise = EXPR` and \
     `on_raise = EXPR`, for callback types `reentrant`, `send`, `sync`, `local`, \
     `error = Type`, `fn_type = Name`, for sets `send`, `sync`, `local`, for set entries `destroy` and `runs_poisoned`, and for callback types and set \
     entries `on_continue = EXPR` with `on_break = EXPR`";

const KEYS: [&str; 25] = [
    "on_continue",
    "on_break",
    "raise",
    "on_raise",
    "on_panic",
    "unguarded",
    "fallback",
    "on_error",
    "keep_error",
    "error",
    "user_data",
    "crate",
    "unsafe",
    "reentrant",
    "send",
    "sync",
    "local",
    "fn_type",
    "in_impl",
    "destroy",
    "runs_poisoned",
    "preset",
    "__preset",
    "__preset_use",
    "safe_fn",
];

impl Options {
    /// Parses `args`, reporting every malformed, unknown or repeated option.
    /// A `__preset(...)` group gives defaults that the other options
    /// override.
    pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Options {
        let mut options = Options::default();
        let mut defaults = Options::default();
        for arg in parse_args(args, errors) {
            match arg {
                Arg::Meta(Meta::List(list)) if list.path.is_ident("__preset") => {
                    let (any, blocks) = crate::preset_promises::unsafe_in(list.tokens.clone());
                    options.preset_holds_unsafe |= any;
                    options.preset_holds_unsafe_block |= blocks;
                    for arg in parse_args(list.tokens, errors) {
                        defaults.add(arg, errors);
                    }
                }
                arg => options.add(arg, errors),
            }
        }
        let safe_fn_from_preset = options.safe_fn.is_none() && defaults.safe_fn.is_some();
        let mut options = options.or(defaults);
        options.safe_fn_from_preset = safe_fn_from_preset;
        options
    }

    /// Each option not given here is taken from `defaults`.
    pub(crate) fn or(self, defaults: Options) -> Options {
        Options {
            on_panic: self.on_panic.or(defaults.on_panic),
            unguarded_fallback: self.unguarded_fallback.or(defaults.unguarded_fallback),
            fallback: self.fallback.or(defaults.fallback),
            on_error: self.on_error.or(defaults.on_error),
            keep_error: self.keep_error.or(defaults.keep_error),
            on_continue: self.on_continue.or(defaults.on_continue),
            on_break: self.on_break.or(defaults.on_break),
            error: self.error.or(defaults.error),
            user_data: self.user_data.or(defaults.user_data),
            krate: self.krate.or(defaults.krate),
            safe_fn: self.safe_fn.or(defaults.safe_fn),
            reentrant: self.reentrant.or(defaults.reentrant),
            send: self.send.or(defaults.send),
            sync: self.sync.or(defaults.sync),
            local: self.local.or(defaults.local),
            fn_type: self.fn_type.or(defaults.fn_type),
            in_impl: self.in_impl.or(defaults.in_impl),
            destroy: self.destroy.or(defaults.destroy),
            runs_poisoned: self.runs_poisoned.or(defaults.runs_poisoned),
            raise: self.raise.or(defaults.raise),
            on_raise: self.on_raise.or(defaults.on_raise),
            // A preset cannot name another preset.
            preset: self.preset,
            preset_use: self.preset_use,
            preset_holds_unsafe: self.preset_holds_unsafe,
            preset_holds_unsafe_block: self.preset_holds_unsafe_block,
            safe_fn_from_preset: self.safe_fn_from_preset,
        }
    }

    fn add(&mut self, arg: Arg, errors: &mut Errors) {
        let meta = match arg {
            Arg::Meta(meta) => meta,
            Arg::Type { key, ty } => return self.add_type(&key, ty, errors),
            Arg::Preset { key, value } => {
                return set(&mut self.preset, value, key.span(), "preset", errors);
            }
        };
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
                    Some(policy) => set(&mut self.on_panic, policy, nv.value.span(), &key, errors),
                    None => errors.spanned(
                        &nv.value,
                        unknown_word(&nv.value, &POLICIES, "panic policy"),
                    ),
                }
            }
            ("unguarded", Meta::NameValue(nv)) => {
                let fallback = match &nv.value {
                    Expr::Path(p) if p.path.is_ident("fallback") => Some(true),
                    Expr::Path(p) if p.path.is_ident("abort") => Some(false),
                    _ => None,
                };
                match fallback {
                    Some(fallback) => set(
                        &mut self.unguarded_fallback,
                        fallback,
                        key_span,
                        &key,
                        errors,
                    ),
                    None => errors.spanned(
                        &nv.value,
                        unknown_word(&nv.value, &["abort", "fallback"], "choice for `unguarded`"),
                    ),
                }
            }
            ("fallback", Meta::NameValue(nv)) => {
                set(&mut self.fallback, nv.value, key_span, &key, errors)
            }
            ("on_error", Meta::NameValue(nv)) => {
                set(&mut self.on_error, nv.value, key_span, &key, errors)
            }
            ("keep_error", Meta::NameValue(nv)) => {
                set(&mut self.keep_error, nv.value, key_span, &key, errors)
            }
            ("on_continue", Meta::NameValue(nv)) => {
                set(&mut self.on_continue, nv.value, key_span, &key, errors)
            }
            ("on_break", Meta::NameValue(nv)) => {
                set(&mut self.on_break, nv.value, key_span, &key, errors)
            }
            ("raise", Meta::NameValue(nv)) => {
                set(&mut self.raise, nv.value, key_span, &key, errors)
            }
            ("on_raise", Meta::NameValue(nv)) => {
                set(&mut self.on_raise, nv.value, key_span, &key, errors)
            }
            ("user_data", Meta::NameValue(nv)) => {
                set(&mut self.user_data, nv.value, key_span, &key, errors)
            }
            ("crate", Meta::NameValue(nv)) => match nv.value {
                Expr::Path(p) if p.qself.is_none() => {
                    set(&mut self.krate, p.path, key_span, &key, errors)
                }
                other => errors.spanned(
                    other,
                    "expected a path, as in `crate = ::my_crate::ffi_callback`",
                ),
            },
            ("preset", Meta::NameValue(nv)) => errors.spanned(nv.value, PRESET_EXPECTED),
            ("__preset_use", Meta::List(list)) => match list.parse_args_with(PresetUse::parse) {
                Ok(used) => self.preset_use = Some(used),
                Err(error) => errors.push(error),
            },
            ("unsafe", Meta::List(list)) => {
                let is_safe_fn = syn::parse2::<syn::Ident>(list.tokens.clone())
                    .is_ok_and(|ident| ident == "safe_fn");
                if is_safe_fn {
                    set(
                        &mut self.safe_fn,
                        key_span,
                        key_span,
                        "unsafe(safe_fn)",
                        errors,
                    )
                } else {
                    errors.spanned(&list, "expected `unsafe(safe_fn)`");
                }
            }
            ("reentrant", Meta::Path(_)) => set(&mut self.reentrant, (), key_span, &key, errors),
            ("send", Meta::Path(_)) => set(&mut self.send, (), key_span, &key, errors),
            ("sync", Meta::Path(_)) => set(&mut self.sync, (), key_span, &key, errors),
            ("local", Meta::Path(_)) => set(&mut self.local, (), key_span, &key, errors),
            ("in_impl", Meta::Path(_)) => set(&mut self.in_impl, (), key_span, &key, errors),
            ("destroy", Meta::Path(_)) => set(&mut self.destroy, (), key_span, &key, errors),
            ("runs_poisoned", Meta::Path(_)) => {
                set(&mut self.runs_poisoned, (), key_span, &key, errors)
            }
            (
                "on_panic" | "unguarded" | "fallback" | "on_error" | "keep_error" | "error"
                | "user_data" | "crate" | "preset" | "fn_type" | "raise" | "on_raise"
                | "on_continue" | "on_break",
                other,
            ) => errors.spanned(&other, format_args!("expected `{key} = ...`")),
            ("unsafe", other) => errors.spanned(&other, "expected `unsafe(safe_fn)`"),
            (
                "reentrant" | "send" | "sync" | "local" | "in_impl" | "destroy" | "runs_poisoned",
                other,
            ) => errors.spanned(&other, format_args!("`{key}` takes no value")),
            ("__preset" | "__preset_use", other) => errors.spanned(
                &other,
                "`__preset(...)` is written by `ffi_callback::preset!`; name a preset with \
                 `preset = path`",
            ),
            (_, _) => errors.error(
                key_span,
                match did_you_mean(&key) {
                    Some(option) => format!(
                        "unknown option `{key}`: did you mean `{option}`? The options are {VALID}"
                    ),
                    None => format!("unknown option `{key}`; the options are {VALID}"),
                },
            ),
        }
    }

    /// `error = Type` and `fn_type = Name`.
    fn add_type(&mut self, key: &Ident, ty: Type, errors: &mut Errors) {
        let name = key.to_string();
        if name == "error" {
            return set(&mut self.error, ty, key.span(), &name, errors);
        }
        match ty {
            Type::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                if let Some(ident) = p.path.get_ident() {
                    set(&mut self.fn_type, ident.clone(), key.span(), &name, errors);
                }
            }
            other => errors.spanned(other, FN_TYPE_EXPECTED),
        }
    }

    /// The runtime crate's path: `::ffi_callback` unless `crate = path`.
    pub(crate) fn runtime(&self) -> TokenStream {
        match &self.krate {
            Some(path) => {
                let path = &path.value;
                quote::quote!(#path)
            }
            None => quote::quote!(::ffi_callback),
        }
    }
}

/// One option as written: a `Meta` (`key`, `key(..)`, `key = EXPR`), or
/// one of the options whose value is a type, which `Meta` would read as an
/// expression (`error = Box<dyn Error>` is no expression).
enum Arg {
    Meta(Meta),
    Type {
        key: Ident,
        ty: Type,
    },
    /// `preset = path` or `preset = unsafe(path)` (no expression).
    Preset {
        key: Ident,
        value: PresetUse,
    },
}

const PRESET_EXPECTED: &str = "expected the path of a preset made with `ffi_callback::preset!`, \
     as in `preset = crate::git_callback` (or `preset = unsafe(crate::git_callback)` for a \
     preset whose options hold `unsafe`)";

const ERROR_EXPECTED: &str = "expected the error type, as in `error = MyError`";
const FN_TYPE_EXPECTED: &str =
    "expected a name for the C function-pointer type, as in `fn_type = ExecRowFn`";

/// The comma-separated options. A malformed one is reported and skipped,
/// so that the others still count (and report their own errors).
fn parse_args(args: TokenStream, errors: &mut Errors) -> Vec<Arg> {
    let last = args.clone().into_iter().last().map(|tree| tree.span());
    let parser = |input: ParseStream<'_>| -> syn::Result<Vec<Arg>> {
        let mut args = Vec::new();
        while !input.is_empty() {
            let parsed = parse_arg(input).and_then(|arg| {
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
                Ok(arg)
            });
            match parsed {
                Ok(arg) => args.push(arg),
                // Arguments that stop early (`on_panic =`): syn's error
                // points at the whole attribute; the last token is nearer.
                Err(error) if input.is_empty() => {
                    errors.error(last.unwrap_or_else(Span::call_site), error);
                }
                Err(error) => {
                    errors.push(error);
                    skip_to_next_option(input)?;
                }
            }
        }
        Ok(args)
    };
    parser.parse2(args).unwrap_or_else(|error| {
        errors.push(error);
        Vec::new()
    })
}

fn parse_arg(input: ParseStream<'_>) -> syn::Result<Arg> {
    let key_is = |names: &[&str]| {
        input.cursor().ident().is_some_and(|(key, rest)| {
            names.iter().any(|name| key == name)
                && rest
                    .punct()
                    .is_some_and(|(eq, _)| eq.as_char() == '=' && eq.spacing() == Spacing::Alone)
        })
    };
    if key_is(&["preset"]) {
        let key: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let fork = input.fork();
        let value = PresetUse::parse(&fork)
            .ok()
            .filter(|_| fork.is_empty() || fork.peek(Token![,]));
        if let Some(value) = value {
            input.advance_to(&fork);
            return Ok(Arg::Preset { key, value });
        }
        // The value as written, for the error.
        let mut written = TokenStream::new();
        while !input.is_empty() && !input.peek(Token![,]) {
            written.extend([input.parse::<TokenTree>()?]);
        }
        return Err(if written.is_empty() {
            input.error(PRESET_EXPECTED)
        } else {
            syn::Error::new_spanned(&written, PRESET_EXPECTED)
        });
    }
    let takes_type = key_is(&["error", "fn_type"]);
    if !takes_type {
        return input.parse().map(Arg::Meta);
    }
    let key: Ident = input.parse()?;
    input.parse::<Token![=]>()?;
    let message = if key == "error" {
        ERROR_EXPECTED
    } else {
        FN_TYPE_EXPECTED
    };
    // The value as written, for the error: syn's own would be about types
    // in general.
    let value = input.fork();
    let mut written = TokenStream::new();
    while !value.is_empty() && !value.peek(Token![,]) {
        written.extend([value.parse::<TokenTree>()?]);
    }
    if written.is_empty() {
        return Err(input.error(message));
    }
    let ty = input
        .parse()
        .map_err(|_| syn::Error::new_spanned(&written, message))?;
    Ok(Arg::Type { key, ty })
}

/// Past a malformed option: to the next comma that starts an option
/// (`key`, `key = ..`, `key(..)`), so that a comma inside the bad value
/// (`fallback = f::<A, B>(`) does not start another error.
fn skip_to_next_option(input: ParseStream<'_>) -> syn::Result<()> {
    loop {
        while !input.is_empty() && !input.peek(Token![,]) {
            input.parse::<TokenTree>()?;
        }
        if input.is_empty() {
            return Ok(());
        }
        input.parse::<Token![,]>()?;
        let cursor = input.cursor();
        let starts_option = cursor.eof()
            || cursor.ident().is_some_and(|(_, rest)| {
                rest.eof()
                    || rest
                        .punct()
                        .is_some_and(|(p, _)| p.as_char() == ',' || p.as_char() == '=')
                    || rest.group(Delimiter::Parenthesis).is_some()
            });
        if starts_option {
            return Ok(());
        }
    }
}

const POLICIES: [&str; 4] = ["resume", "abort", "fallback", "unwind"];

fn unknown_word(value: &Expr, words: &[&'static str], what: &str) -> String {
    let expected = match words {
        [a, b] => format!("expected `{a}` or `{b}`"),
        _ => {
            let (last, rest) = words.split_last().unwrap_or((&"", &[]));
            let rest: Vec<String> = rest.iter().map(|w| format!("`{w}`")).collect();
            format!("expected {} or `{last}`", rest.join(", "))
        }
    };
    let written = match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => {
            if words.contains(&s.value().as_str()) {
                return format!("write the {what} without quotes: `{}`", s.value());
            }
            return format!("unknown {what}; {expected}");
        }
        Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
        _ => None,
    };
    match written.as_deref().and_then(|w| closest(w, words)) {
        Some(word) => format!("unknown {what}: did you mean `{word}`? {expected}"),
        None => format!("unknown {what}; {expected}"),
    }
}

/// The option meant by a misspelt or misremembered key.
fn did_you_mean(key: &str) -> Option<&'static str> {
    match key {
        "safe_fn" | "unsafe_safe_fn" => return Some("unsafe(safe_fn)"),
        "panic" | "on_unwind" | "policy" | "panic_policy" => return Some("on_panic = ..."),
        "reentrancy" | "re_entrant" | "recursive" => return Some("reentrant"),
        "userdata" | "data" | "context" => return Some("user_data = EXPR"),
        "default" | "returns" | "return_value" => return Some("fallback = EXPR"),
        "on_err" | "error_value" | "on_failure" => return Some("on_error = EXPR"),
        "keep_errors" | "handled" | "handle_error" | "error_handled" | "consume_error" => {
            return Some("keep_error = false");
        }
        "krate" | "runtime" | "path" => return Some("crate = path"),
        "home" | "thread_local" | "home_thread" => return Some("local"),
        "fn_name" | "fn_ptr" | "pointer_type" => return Some("fn_type = Name"),
        "no_guard" | "without_guard" => return Some("unguarded = fallback"),
        "destructor" | "destroy_entry" | "frees" | "last_call" => return Some("destroy"),
        "even_poisoned" | "ignore_poison" | "run_poisoned" | "when_poisoned" | "cleanup" => {
            return Some("runs_poisoned");
        }
        "longjmp" | "throw" | "raise_error" => return Some("raise = EXPR"),
        "continue" | "on_continue_value" | "continue_value" => return Some("on_continue = EXPR"),
        "break" | "on_stop" | "stop" | "break_value" => return Some("on_break = EXPR"),
        _ => {}
    }
    closest(key, &KEYS).map(|key| match key {
        "unsafe" | "safe_fn" => "unsafe(safe_fn)",
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

fn set<T>(slot: &mut Option<Given<T>>, value: T, key: Span, name: &str, errors: &mut Errors) {
    if slot.is_some() {
        errors.error(key, format_args!("`{name}` is given twice"));
    } else {
        *slot = Some(Given { value, key });
    }
}
