//! The resolved model: what the check stage found out about an item, once,
//! so that the printers only print. One variant per form.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Expr, Ident, LitStr, Type};

use crate::options::OnPanic;
use crate::parse::{CallbackFn, CallbackSet, CallbackType, SetEntry, SetReceiver};

/// A checked item, ready to print.
pub(crate) enum Model<'a> {
    Fn(FnModel<'a>),
    Type(TypeModel<'a>),
    Set(SetModel<'a>),
}

/// What every form shares.
pub(crate) struct Common<'a> {
    /// The runtime's path, respanned once (see `tokens::runtime`).
    pub(crate) runtime: TokenStream,
    pub(crate) abi: Abi,
    pub(crate) policy: Policy,
    pub(crate) fallback: FallbackValue<'a>,
    /// `on_error = EXPR`, reading `e` and the C parameters.
    pub(crate) on_error: Option<&'a Expr>,
    /// Whether an `Err` goes to the thread's guard (kept, as by default) or
    /// ends at C, inside the call (C gets `on_error`'s value, the error is
    /// dropped there).
    pub(crate) keep_error: KeepError<'a>,
    /// `on_continue = EXPR, on_break = EXPR`: the closures (or methods)
    /// return `ControlFlow<()>`, C receives these.
    pub(crate) flow: Option<Flow<'a>>,
    /// `unsafe(safe_fn)`: the span of the user's `unsafe`.
    pub(crate) safe_fn: Option<Span>,
    /// `preset = unsafe(path)` of a preset whose options hold an `unsafe`
    /// block: the span of that `unsafe`, where the promise is printed (an
    /// `unsafe` block made of the user's `unsafe` and the preset's braces
    /// is another crate's expansion to `unsafe_code`).
    pub(crate) preset_promise: Option<Span>,
    /// `raise = EXPR` and `on_raise = EXPR` (fn form only).
    pub(crate) raise: Option<RaiseExit<'a>>,
    /// Fresh names for generated generics, unused by the item's tokens (a
    /// user type called `F` stays the user's).
    pub(crate) names: FreshNames,
}

/// `keep_error = ..`: where an `Err` goes.
pub(crate) enum KeepError<'a> {
    /// To the thread's guard (the default, or `keep_error = true`).
    Always,
    /// Ends at C (`keep_error = false`).
    Never,
    /// Kept where `EXPR` (reading `e` and the C parameters) is true,
    /// ended at C where it is false.
    When(&'a Expr),
}

impl<'a> KeepError<'a> {
    pub(crate) fn resolve(given: Option<&'a Expr>) -> KeepError<'a> {
        match given {
            None => KeepError::Always,
            Some(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Bool(keep),
                attrs,
            })) if attrs.is_empty() => {
                if keep.value {
                    KeepError::Always
                } else {
                    KeepError::Never
                }
            }
            Some(expr) => KeepError::When(expr),
        }
    }

    /// The expression, when it decides per error.
    pub(crate) fn expr(&self) -> Option<&'a Expr> {
        match self {
            KeepError::When(expr) => Some(expr),
            _ => None,
        }
    }
}

/// What C receives for a closure's `ControlFlow`, each expression reading
/// the C parameters it names.
pub(crate) struct Flow<'a> {
    pub(crate) on_continue: &'a Expr,
    pub(crate) on_break: &'a Expr,
}

/// The raise exit of a fn: the diverging C call, and what prepares it.
pub(crate) struct RaiseExit<'a> {
    pub(crate) call: &'a Expr,
    pub(crate) prepare: Option<&'a Expr>,
}

/// The ABI string a callback is declared with, and where it was written.
pub(crate) struct Abi {
    pub(crate) name: String,
    pub(crate) span: Span,
}

impl Abi {
    /// `extern "C" fn` and plain `fn` (for the fn form) mean `"C"`.
    pub(crate) fn resolve(abi: Option<&syn::Abi>, fn_span: Span) -> Abi {
        match abi {
            None => Abi {
                name: "C".to_owned(),
                span: fn_span,
            },
            Some(abi) => match &abi.name {
                None => Abi {
                    name: "C".to_owned(),
                    span: abi.extern_token.span,
                },
                Some(name) => Abi {
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

    pub(crate) fn literal(&self) -> LitStr {
        LitStr::new(&self.name, self.span)
    }
}

/// `on_panic` and `unguarded`, resolved.
#[derive(Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) on_panic: OnPanic,
    pub(crate) unguarded_fallback: bool,
}

impl Policy {
    /// The runtime's marker type.
    pub(crate) fn marker(self, runtime: &TokenStream) -> TokenStream {
        let name = match (self.on_panic, self.unguarded_fallback) {
            (OnPanic::Resume, false) => quote!(Resume),
            (OnPanic::Resume, true) => quote!(ResumeOrFallback),
            (OnPanic::Abort, _) => quote!(Abort),
            (OnPanic::Fallback, _) => quote!(ReportAndFallback),
            (OnPanic::Unwind, _) => quote!(Unwind),
        };
        quote!(#runtime::__private::policy::#name)
    }

    /// A panic is kept for the thread's guard (`resume`).
    pub(crate) fn keeps(self) -> bool {
        self.on_panic == OnPanic::Resume
    }

    pub(crate) fn returns_fallback(self) -> bool {
        self.on_panic.returns_fallback()
    }
}

/// What C receives after a panic or a refusal.
pub(crate) enum FallbackValue<'a> {
    /// `fallback = EXPR`.
    Expr(&'a Expr),
    /// The return type's `Fallback` impl (`None`: the return type is `()`).
    Default(Option<&'a Type>),
    /// The policy never returns one (`abort`, `unwind`).
    Never,
}

/// Generic names for the expansion that the user's tokens never mention.
pub(crate) struct FreshNames {
    /// The closure (`F`).
    pub(crate) closure: Ident,
    /// What the closure returns (`O`).
    pub(crate) output: Ident,
    /// `scope`'s result (`T`).
    pub(crate) result: Ident,
    /// The type form's local import of the runtime's `__private` (`__ffi`).
    pub(crate) private: Ident,
    /// The type form's `const LENT: bool` (lent or boxed holder).
    pub(crate) lent: Ident,
}

/// Form 1, checked.
pub(crate) struct FnModel<'a> {
    pub(crate) item: &'a CallbackFn,
    pub(crate) common: Common<'a>,
    /// `send`: C may call the fn on any thread, so its user data must be
    /// usable there (checked where the shim names its type).
    pub(crate) send: bool,
    pub(crate) user_data: Option<FnUserData<'a>>,
    pub(crate) output: Output<'a>,
    /// Whether the trampoline is an `unsafe fn` (it unpacks user data without
    /// `unsafe(safe_fn)`, or the user wrote `unsafe`).
    pub(crate) shim_unsafe: bool,
    /// Whether to generate the typed user-data constructor module.
    pub(crate) typed_constructor: bool,
    /// In an impl block, as far as the tokens tell: the fn (or an option)
    /// names `Self`, or `in_impl` says so.
    pub(crate) in_impl: bool,
    /// `#[into(Type)]`, by parameter (never the user data's): the body
    /// receives `Type`, C passes the declared type.
    pub(crate) conversions: Vec<Option<Conversion<'a>>>,
}

impl FnModel<'_> {
    /// Whether a parameter is borrowed (`#[into(&..)]`): the trampoline
    /// trusts C's pointer for it.
    pub(crate) fn borrows(&self) -> bool {
        self.conversions.iter().flatten().any(|c| c.borrowed)
    }
}

/// The fn form's user-data parameter.
pub(crate) struct FnUserData<'a> {
    /// Its position among the parameters.
    pub(crate) index: usize,
    /// The Rust type it is received as (`&mut State`, `Box<Job>`...).
    pub(crate) received: &'a Type,
    pub(crate) source: UserDataSource<'a>,
    /// Received as an `Arc<T>` or `Rc<T>` (by name): the constructor module
    /// offers `release`, which drops the count through the received type's
    /// `CountedUserData` impl (an alias resolves to what it names; another
    /// type is a trait error).
    pub(crate) counted: bool,
    /// Received as a `Box<T>` (by name): the constructor module offers
    /// `reclaim`, which takes the box back through the received type's
    /// `BoxedUserData` impl, for a C call that refused it.
    pub(crate) boxed: bool,
}

/// Where the user data comes from.
pub(crate) enum UserDataSource<'a> {
    /// A C parameter of this slot type (`None`: `*mut c_void`).
    Param(Option<&'a Type>),
    /// `user_data = EXPR`.
    Accessor(&'a Expr),
}

/// A fn's return type, split for `Result` bodies.
pub(crate) struct Output<'a> {
    /// The C return type (`None`: `()`).
    pub(crate) c_type: Option<&'a Type>,
    /// The type the body returns, as written (`None`: `()`).
    pub(crate) body_type: Option<&'a Type>,
    /// Whether the body returns a `Result` (by the type's name).
    pub(crate) is_result: bool,
    /// `E` of a written `Result<R, E>`.
    pub(crate) error: Option<&'a Type>,
}

/// A callback type's threading contract.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threading {
    /// Default: the caller's thread, never re-entered.
    Caller,
    /// `reentrant`.
    CallerReentrant,
    /// `local`.
    Home,
    /// `local, reentrant`.
    HomeReentrant,
    /// `send`.
    Send,
    /// `reentrant, send`.
    SendReentrant,
    /// `sync`.
    Sync,
}

impl Threading {
    /// The runtime's contract marker.
    pub(crate) fn marker(self, runtime: &TokenStream) -> TokenStream {
        let name = self.marker_name();
        quote!(#runtime::__private::threading::#name)
    }

    /// The same marker by its public path, for signatures users read (a
    /// set's `boxed()` returns `BoxedSet<Self, AnyThread>`).
    pub(crate) fn public_marker(self, runtime: &TokenStream) -> TokenStream {
        let name = self.marker_name();
        quote!(#runtime::#name)
    }

    /// Calls may run on several threads at once (the state word is
    /// atomic).
    pub(crate) fn across_threads(self) -> bool {
        matches!(
            self,
            Threading::Send | Threading::SendReentrant | Threading::Sync
        )
    }

    fn marker_name(self) -> TokenStream {
        match self {
            Threading::Caller | Threading::CallerReentrant => quote!(CallerThread),
            Threading::Home | Threading::HomeReentrant => quote!(HomeThread),
            Threading::Send | Threading::SendReentrant | Threading::Sync => quote!(AnyThread),
        }
    }

    /// Calls share the closure (`Fn`) rather than take it exclusively.
    pub(crate) fn shared(self) -> bool {
        matches!(
            self,
            Threading::CallerReentrant
                | Threading::HomeReentrant
                | Threading::SendReentrant
                | Threading::Sync
        )
    }

    /// `Fn` or `FnMut`.
    pub(crate) fn fn_trait(self) -> &'static str {
        if self.shared() { "Fn" } else { "FnMut" }
    }

    /// The bound after the `Fn` trait, with its rule's message.
    pub(crate) fn extra_bound(self, runtime: &TokenStream) -> TokenStream {
        self.extra_bound_in(&quote!(#runtime::__private))
    }

    /// [`Threading::extra_bound`] with the runtime's `__private` at
    /// `private`.
    pub(crate) fn extra_bound_in(self, private: &TokenStream) -> TokenStream {
        match self {
            Threading::Send => quote!(+ #private::SendClosure),
            Threading::SendReentrant => quote!(+ #private::ReentrantSendClosure),
            Threading::Sync => quote!(+ #private::SyncClosure),
            _ => quote!(),
        }
    }

    /// The bounds as the docs show them.
    pub(crate) fn doc(self) -> &'static str {
        match self {
            Threading::Send => " + Send",
            Threading::SendReentrant | Threading::Sync => " + Send + Sync",
            _ => "",
        }
    }

    /// What the C library may do, for the docs.
    pub(crate) fn contract(self) -> &'static str {
        match self {
            Threading::Caller => "calls it on the caller's thread, never re-entered",
            Threading::CallerReentrant => "calls it on the caller's thread, possibly re-entered",
            Threading::Home => {
                "calls it on the thread that made it (other threads are refused) and may destroy \
                 it on any"
            }
            Threading::HomeReentrant => {
                "calls it, possibly re-entered, on the thread that made it, and may destroy it \
                 on any"
            }
            Threading::Send => "may call or destroy it on any thread, one call at a time",
            Threading::SendReentrant => "may call or destroy it on any thread, possibly re-entered",
            Threading::Sync => "may call it from several threads at once",
        }
    }
}

/// `#[into(Type)]` on a parameter: the closure, method or fn body receives
/// `Type::try_from` of the C argument, or, for a reference type, a borrow
/// of what the C pointer points at.
pub(crate) struct Conversion<'a> {
    pub(crate) target: &'a Type,
    /// How a refusal names the parameter: `` `name` ``, or its position.
    pub(crate) label: String,
    /// `&T`, `&mut T`, `&CStr` or an `Option` of one: borrowed for the call
    /// (`BorrowParam`, an `unsafe` call), not converted by `TryFrom`.
    pub(crate) borrowed: bool,
    /// Borrowed as `&mut` (or an `Option` of one): checked not to overlap
    /// the other borrowed parameters.
    pub(crate) mutable: bool,
    /// Borrowed as raw pointers (`&*const T`, `&[*mut T]`, ..), as
    /// written: no `Sync`/`Send` check when calls may run on other
    /// threads, since reaching through them needs `unsafe`.
    pub(crate) raw_pointers: bool,
    /// `len = EXPR` of a borrowed slice (`&[T]`, `&mut [T]`): its length,
    /// reading the C parameters.
    pub(crate) len: Option<&'a Expr>,
    /// A borrowed slice's C pointee and element type, when the pointer is
    /// written to a type other than `c_void`: checked to be of one size.
    pub(crate) slice_of: Option<(&'a Type, &'a Type)>,
}

/// Where a callback type's trampoline finds its holder.
pub(crate) enum TypeSlot<'a> {
    /// A `#[user_data]` parameter (index, C type).
    Param(usize, &'a Type),
    /// `user_data = EXPR`, a pointer.
    Accessor(&'a Expr),
    /// None: the closure must be zero-sized.
    None,
}

/// Form 2, checked.
pub(crate) struct TypeModel<'a> {
    pub(crate) item: &'a CallbackType,
    pub(crate) common: Common<'a>,
    pub(crate) slot: TypeSlot<'a>,
    pub(crate) threading: Threading,
    /// The name of the C function-pointer type (`ExecRowFn`).
    pub(crate) fn_type: Ident,
    /// `error = Type`: the closures' error type, for `on_error`.
    pub(crate) error: Option<&'a Type>,
    /// The trampoline's parameter names: the user's where given.
    pub(crate) param_names: Vec<Ident>,
    /// `#[into(Type)]`, by parameter.
    pub(crate) conversions: Vec<Option<Conversion<'a>>>,
    /// The trampoline is a safe `extern fn` (`unsafe(safe_fn)`, or no user
    /// data to trust).
    pub(crate) safe_trampoline: bool,
}

impl<'a> TypeModel<'a> {
    pub(crate) fn slot_index(&self) -> Option<usize> {
        match self.slot {
            TypeSlot::Param(index, _) => Some(index),
            _ => None,
        }
    }

    /// The closure's parameter types: the C parameters minus the slot,
    /// converted where `#[into(Type)]` says.
    pub(crate) fn closure_types(&self) -> Vec<&'a Type> {
        let skip = self.slot_index();
        let item: &'a CallbackType = self.item;
        item.params
            .iter()
            .zip(&self.conversions)
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, (p, into))| into.as_ref().map_or(&p.ty, |into| into.target))
            .collect()
    }

    /// The C parameters (name, type) that `expr` names: what the fn
    /// holding the user's expression takes.
    pub(crate) fn params_named_by(&self, expr: Option<&Expr>) -> Vec<(&Ident, &'a Type)> {
        let tokens = expr
            .map(quote::ToTokens::to_token_stream)
            .unwrap_or_default();
        let item: &'a CallbackType = self.item;
        self.param_names
            .iter()
            .zip(&item.params)
            .filter(|(name, _)| crate::tokens::mentions(tokens.clone(), &name.to_string()))
            .map(|(name, p)| (name, &p.ty))
            .collect()
    }

    /// The C parameters `fallback = EXPR` reads: not `why`, if it reads
    /// that (the reason C gets the fallback).
    pub(crate) fn fallback_params(&self) -> Vec<(&Ident, &'a Type)> {
        let mut params = self.params_named_by(self.fallback_expr());
        if self.fallback_reads_reason() {
            params.retain(|(name, _)| *name != "why");
        }
        params
    }

    /// Whether `fallback = EXPR` reads `why`.
    pub(crate) fn fallback_reads_reason(&self) -> bool {
        self.fallback_expr()
            .is_some_and(crate::tokens::reads_reason)
    }

    /// `fallback = EXPR`, if given.
    pub(crate) fn fallback_expr(&self) -> Option<&'a Expr> {
        match self.common.fallback {
            FallbackValue::Expr(expr) => Some(expr),
            _ => None,
        }
    }

    /// `user_data = EXPR`, if given.
    pub(crate) fn accessor_expr(&self) -> Option<&'a Expr> {
        match self.slot {
            TypeSlot::Accessor(expr) => Some(expr),
            _ => None,
        }
    }

    /// The closure's arguments, by the trampoline's parameter names.
    pub(crate) fn closure_args(&self) -> Vec<&Ident> {
        let skip = self.slot_index();
        self.param_names
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, n)| n)
            .collect()
    }
}

/// Form 3, checked: a trait of C entry points sharing one state.
pub(crate) struct SetModel<'a> {
    pub(crate) item: &'a CallbackSet,
    /// The set's own options: runtime path, contract, the policy of its
    /// destroy and of a Rust-owned box's drop.
    pub(crate) runtime: TokenStream,
    pub(crate) threading: Threading,
    pub(crate) policy: Policy,
    pub(crate) entries: Vec<EntryModel<'a>>,
    /// The ABI of the generated `DESTROY` (when no entry is the destroy,
    /// taking `self` or marked `#[callback(destroy)]`):
    /// the entries' if they agree, else `"C"`.
    pub(crate) destroy_abi: Abi,
}

impl SetModel<'_> {
    /// The entry that ends a state C owns: the one taking `self`, or the
    /// one marked `#[callback(destroy)]` (at most one of them).
    pub(crate) fn destroy_entry(&self) -> Option<&EntryModel<'_>> {
        self.entries.iter().find(|entry| entry.ends_state())
    }

    /// The error type of the set's `Result` entries, when they all write
    /// the same one (as tokens): the only error `try_scope` can receive.
    /// `None` when no entry returns a `Result`, one names its error through
    /// an alias (`io::Result<R>`), or they differ.
    pub(crate) fn error_type(&self) -> Option<&Type> {
        let mut errors = self
            .entries
            .iter()
            .filter(|entry| entry.output.is_result)
            .map(|entry| entry.output.error);
        let first = errors.next()??;
        let written = first.to_token_stream().to_string();
        errors
            .all(|error| error.is_some_and(|e| e.to_token_stream().to_string() == written))
            .then_some(first)
    }
}

/// One entry point of a set, checked.
pub(crate) struct EntryModel<'a> {
    pub(crate) entry: &'a SetEntry,
    pub(crate) common: Common<'a>,
    pub(crate) receiver: SetReceiver,
    /// `#[callback(destroy)]` on a `&mut self` or `&self` entry: on a state
    /// C owns, the call is its destroy too.
    pub(crate) destroy: bool,
    /// `#[callback(runs_poisoned)]` on a `&self` entry: not kept out by a
    /// kept panic or `Err` (an allocator's `free`).
    pub(crate) runs_poisoned: bool,
    pub(crate) slot: TypeSlot<'a>,
    pub(crate) output: Output<'a>,
    /// The trampoline's parameter names: the user's where plain.
    pub(crate) param_names: Vec<Ident>,
    /// `#[into(Type)]`, by parameter.
    pub(crate) conversions: Vec<Option<Conversion<'a>>>,
    /// `CookieIoReadFn`: the entry's C function-pointer type.
    pub(crate) fn_type: Ident,
    /// `READ`: the trait's constant holding the entry point.
    pub(crate) const_name: Ident,
    /// `__ffi_read`: the trait's provided trampoline.
    pub(crate) trampoline: Ident,
    /// The trampoline is a safe `extern fn` (`unsafe(safe_fn)`).
    pub(crate) safe_trampoline: bool,
}

impl<'a> EntryModel<'a> {
    /// The set's destroy (takes `self`, or is marked `#[callback(destroy)]`),
    /// which decides its conversions inside the call, so that a refusal
    /// still ends the state.
    pub(crate) fn ends_state(&self) -> bool {
        self.receiver == SetReceiver::Owned || self.destroy
    }

    pub(crate) fn slot_index(&self) -> Option<usize> {
        match self.slot {
            TypeSlot::Param(index, _) => Some(index),
            _ => None,
        }
    }
}
