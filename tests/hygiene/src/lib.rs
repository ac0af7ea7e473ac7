//! Hygiene, tested: every form and option of `#[callback]` in a crate with
//! no implicit prelude, whose own items shadow `core`, `std`, `Option`,
//! `Result`, `Box` (and the other names generated code could reach for
//! unqualified), under `deny(warnings)` and `clippy::pedantic`.
//!
//! `cargo build -p ffi-callback-hygiene` and
//! `cargo clippy -p ffi-callback-hygiene --all-targets -- -D warnings` must
//! pass; `cargo test -p ffi-callback-hygiene` runs each callback once.
//! Anything that fails here is a path or lint leak in the expansion.

#![no_implicit_prelude]
#![deny(warnings)]
#![deny(clippy::pedantic)]
#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    unused_qualifications,
    unsafe_op_in_unsafe_fn
)]

// ------------------------------------------------------------ shadowing --
// The crate's own items under the names generated code must not pick up.

/// Shadows the `core` crate for relative paths.
pub mod core {}
/// Shadows the `std` crate for relative paths.
pub mod std {}
/// Shadows the runtime's name for relative paths (`::ffi_callback` is
/// still the crate).
pub mod ffi_callback {}
/// Shadows `__private` in case a path forgets its crate.
pub mod __private {}

/// Shadows the prelude's `Option`.
#[derive(Debug)]
pub struct Option;
/// Shadows the prelude's `Result`.
#[derive(Debug)]
pub struct Result;
/// Shadows the prelude's `Box`.
#[derive(Debug)]
pub struct Box;
/// Shadows the prelude's `Some`.
#[derive(Debug)]
pub struct Some;
/// Shadows the prelude's `None`.
#[derive(Debug)]
pub struct None;
/// Shadows the prelude's `Ok`.
#[derive(Debug)]
pub struct Ok;
/// Shadows the prelude's `Err`.
#[derive(Debug)]
pub struct Err;
/// Shadows the prelude's `Fn`.
pub trait Fn {}
/// Shadows the prelude's `FnMut`.
pub trait FnMut {}
/// Shadows the prelude's `FnOnce`.
pub trait FnOnce {}
/// Shadows the prelude's `Send`.
pub trait Send {}
/// Shadows the prelude's `Sync`.
pub trait Sync {}
/// Shadows the prelude's `Sized`.
pub trait Sized {}
/// Shadows the prelude's `Copy`.
pub trait Copy {}
/// Shadows the prelude's `Drop`.
pub trait Drop {}
/// Shadows the prelude's `Default`.
pub trait Default {}
/// Shadows the runtime's trait names.
pub trait Fallback {}
/// Shadows the runtime's trait names.
pub trait UserDataSlot {}
/// Shadows the runtime's trait names.
pub trait UserDataParam {}
/// Shadows the prelude's `drop`.
pub fn drop() {}

#[allow(unused_macros)]
macro_rules! concat {
    ($($t:tt)*) => {
        compile_error!("the local `concat!` was used")
    };
}
#[allow(unused_macros)]
macro_rules! module_path {
    ($($t:tt)*) => {
        compile_error!("the local `module_path!` was used")
    };
}
#[allow(unused_macros)]
macro_rules! unreachable {
    ($($t:tt)*) => {
        compile_error!("the local `unreachable!` was used")
    };
}
#[allow(unused_macros)]
macro_rules! panic {
    ($($t:tt)*) => {
        compile_error!("the local `panic!` was used")
    };
}
#[allow(unused_macros)]
macro_rules! assert {
    ($($t:tt)*) => {
        compile_error!("the local `assert!` was used")
    };
}

// -------------------------------------------------------------- imports --

use ::ffi_callback::callback;
use ::std::cell::Cell;
use ::std::ffi::{CStr, c_char, c_int, c_void};
use ::std::vec::Vec;

/// A pointer-sized integer alias, as Windows' `LPARAM`.
pub type Lparam = isize;

/// The runtime under another path, for `crate = path`.
pub mod rt {
    pub use ::ffi_callback::*;
}

/// State the callbacks receive.
#[derive(Debug)]
pub struct State {
    /// What the callbacks saw.
    pub seen: Vec<c_int>,
}

impl State {
    /// Nothing seen yet.
    #[must_use]
    pub const fn empty() -> State {
        State { seen: Vec::new() }
    }
}

/// A C-style context an accessor fetches the user data from.
#[derive(Debug)]
#[repr(C)]
pub struct Context {
    /// The user data.
    pub data: *mut c_void,
}

/// The user data stored in `ctx`, as `sqlite3_user_data` returns it.
///
/// # Safety
/// `ctx` points at a live `Context`.
#[must_use]
pub unsafe fn context_data(ctx: *mut Context) -> *mut c_void {
    // SAFETY: by the caller's promise.
    unsafe { (*ctx).data }
}

// ----------------------------------------------------- the fn form: slots --

/// `&mut T` in the default `*mut c_void` slot, last.
#[callback]
pub extern "C" fn mut_ref_last(item: c_int, #[user_data] state: &mut State) -> c_int {
    state.seen.push(item);
    0
}

/// An unused parameter named `_size`, as clippy asks (`dl_iterate_phdr`'s
/// shape): the expansion passes it on without `used_underscore_binding`.
#[callback]
pub extern "C" fn underscore_param(_size: usize, #[user_data] state: &mut State) -> c_int {
    state.seen.push(7);
    0
}

/// A `#[callback]` fn written by a local `macro_rules!`: its generated
/// `# Safety` section is seen (`missing_safety_doc`).
macro_rules! generated_callback {
    ($name:ident) => {
        /// Written by a local `macro_rules!`.
        #[callback]
        pub extern "C" fn $name(item: c_int, #[user_data] state: &mut State) -> c_int {
            state.seen.push(item);
            0
        }
    };
}
generated_callback!(from_macro_rules);

/// A callback type and a set written by a local `macro_rules!`: the
/// expansion's items are linted as the user's there.
macro_rules! generated_type_and_set {
    ($ty:ident, $set:ident) => {
        /// Written by a local `macro_rules!`.
        #[callback]
        pub type $ty = unsafe extern "C" fn(item: c_int, #[user_data] ud: *mut c_void) -> c_int;

        /// Written by a local `macro_rules!`.
        #[callback]
        pub trait $set {
            /// Its one entry point.
            unsafe extern "C" fn get(&mut self, #[user_data] ud: *mut c_void) -> c_int;
        }
    };
}
generated_type_and_set!(FromMacroRules, FromMacroRulesSet);

/// Unused parameters named `_x`, as clippy asks, in a type and a set.
#[callback]
pub type Underscored = unsafe extern "C" fn(_unused: c_int, #[user_data] ud: *mut c_void) -> c_int;

/// A set entry with an unused `_x` parameter.
#[callback]
pub trait UnderscoredSet {
    /// Its one entry point.
    unsafe extern "C" fn get(&mut self, _unused: c_int, #[user_data] ud: *mut c_void) -> c_int;
}

/// `&T` first, no ABI written (means `"C"`).
#[callback]
pub fn shared_ref_first(#[user_data] seen: &Cell<c_int>, item: c_int) -> c_int {
    seen.set(seen.get() + item);
    1
}

/// `Option<&T>` in a `usize` slot.
#[callback]
pub extern "C" fn option_ref(#[user_data(usize)] seen: ::core::option::Option<&Cell<c_int>>) {
    if let ::core::option::Option::Some(seen) = seen {
        seen.set(seen.get() + 1);
    }
}

/// `Option<&mut T>` in an `isize` alias slot (`LPARAM`), `"system"` ABI.
#[callback]
pub extern "system" fn option_mut(
    #[user_data(Lparam)] state: ::core::option::Option<&mut State>,
    item: c_int,
) -> ::core::primitive::bool {
    match state {
        ::core::option::Option::Some(state) => {
            state.seen.push(item);
            true
        }
        ::core::option::Option::None => false,
    }
}

/// `Box<T>` (a destroy-notify) in a `*const c_void` slot, `extern` with no
/// ABI string.
#[callback]
pub extern "C" fn boxed_destroy(#[user_data(*const c_void)] state: ::std::boxed::Box<State>) {
    ::core::mem::drop(state);
}

/// `Option<Box<T>>`.
#[callback]
pub extern "C" fn option_box(#[user_data] state: ::core::option::Option<::std::boxed::Box<State>>) {
    ::core::mem::drop(state);
}

/// A raw pointer, passed through, in a `*mut u8` slot.
#[callback]
pub extern "C" fn raw_mut(#[user_data(*mut u8)] state: *mut State) -> *mut c_void {
    state.cast()
}

/// A `*const T`.
#[callback]
pub extern "C" fn raw_const(#[user_data] state: *const State) -> ::core::primitive::usize {
    // `as` rather than `addr()` (Rust 1.84): this crate builds on the MSRV.
    state as ::core::primitive::usize
}

/// No user data: a safe `extern "C" fn`, exported.
#[callback]
// Edition 2021 (this crate checks the MSRV): the plain form of the
// attribute; the 2024 `#[unsafe(..)]` form is a ui pass case.
#[export_name = "ffi_callback_hygiene_no_user_data"]
pub extern "C" fn no_user_data(a: c_int, _: c_int, mut b: c_int) -> c_int {
    #![allow(clippy::needless_late_init)]
    b += a;
    b
}

/// Generic: `compare::<T>` is a monomorphic trampoline.
#[callback]
pub extern "C" fn compare<T>(a: *const T, b: *const T, #[user_data] calls: &Cell<c_int>) -> c_int
where
    T: ::core::cmp::Ord + ::core::marker::Copy,
{
    calls.set(calls.get() + 1);
    // SAFETY: the caller passes pointers to live `T`s.
    let (a, b) = unsafe { (*a, *b) };
    match a.cmp(&b) {
        ::core::cmp::Ordering::Less => -1,
        ::core::cmp::Ordering::Equal => 0,
        ::core::cmp::Ordering::Greater => 1,
    }
}

/// A private callback with a written `unsafe`, `cfg` and inner attributes.
#[callback]
#[cfg(not(any()))]
unsafe extern "C" fn private_unsafe(#[user_data] state: &mut State) {
    #![allow(clippy::no_effect_underscore_binding)]
    state.seen.clear();
}

// --------------------------------------------------- the fn form: options --

/// `on_panic = abort`.
#[callback(on_panic = abort)]
pub extern "C" fn abort_policy(#[user_data] state: &mut State) -> c_int {
    state.seen.push(-1);
    2
}

/// `on_panic = fallback` with `fallback = EXPR`.
#[callback(on_panic = fallback, fallback = -7)]
pub extern "C" fn fallback_policy(#[user_data] state: &State) -> c_int {
    ::core::convert::TryFrom::try_from(state.seen.len()).unwrap_or(c_int::MAX)
}

/// `on_panic = unwind` on a `-unwind` ABI.
#[callback(on_panic = unwind)]
pub extern "C-unwind" fn unwind_policy(#[user_data] state: &State) -> c_int {
    ::core::convert::From::from(state.seen.is_empty())
}

/// `on_panic = resume` written out, with `fallback`.
#[callback(on_panic = resume, fallback = 9)]
pub extern "C" fn resume_policy(#[user_data] state: &mut State) -> c_int {
    state.seen.push(3);
    3
}

/// `user_data = EXPR`: fetched from the other arguments.
#[callback(
    // SAFETY: C passes the context it was given.
    user_data = unsafe { context_data(ctx) }
)]
pub extern "C" fn accessor(ctx: *mut Context, item: c_int, #[user_data] state: &mut State) {
    state.seen.push(item);
}

/// `unsafe(safe_fn)`: a safe fn type, by the caller's promise.
// SAFETY: only ever called with `safe_start::user_data(..)`.
#[callback(unsafe(safe_fn))]
pub extern "C" fn safe_start(#[user_data] state: ::std::boxed::Box<State>) -> *mut c_void {
    ::core::mem::drop(state);
    ::core::ptr::null_mut()
}

/// `crate = path`.
#[callback(crate = crate::rt, on_panic = abort)]
pub extern "C" fn renamed_runtime(#[user_data] state: &State) -> ::core::primitive::usize {
    state.seen.len()
}

// ------------------------------------------------- the callback-type form --

/// Slot first, `fallback`.
#[callback(fallback = 1)]
pub type ExecRow = unsafe extern "C" fn(
    #[user_data] arg: *mut c_void,
    n: c_int,
    values: *mut *mut ::std::ffi::c_char,
) -> c_int;

// rustfmt 1.9 deletes attributes on unnamed fn-pointer parameters
// (rust-lang/rustfmt#6607), which would silently drop `#[user_data]`; it
// leaves a braced macro call alone (and `#[rustfmt::skip]` does not resolve
// under `no_implicit_prelude`).
macro_rules! unformatted {
    ($($item:tt)*) => { $($item)* };
}
unformatted! {
    /// Slot last, unnamed parameters, bindgen's `Option<...>`.
    #[callback]
    pub type Visit = ::core::option::Option<unsafe extern "C" fn(c_int, #[user_data] *mut c_void) -> c_int>;
}

/// Slot in the middle, an integer slot, `"system"`.
#[callback]
pub type EnumProc = unsafe extern "system" fn(
    hwnd: *mut c_void,
    #[user_data] lparam: Lparam,
    extra: c_int,
) -> ::core::primitive::bool;

/// No slot: capture-free closures only.
#[callback]
pub type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

/// No slot, a safe fn pointer type.
#[callback]
pub type AtExit = extern "C" fn();

/// A level, converted from a C `int` by `TryFrom`.
#[derive(Debug, Clone, Copy)]
pub struct Level(pub c_int);

impl ::core::convert::TryFrom<c_int> for Level {
    type Error = c_int;
    fn try_from(level: c_int) -> ::core::result::Result<Self, c_int> {
        if level >= 0 {
            ::core::result::Result::Ok(Level(level))
        } else {
            ::core::result::Result::Err(level)
        }
    }
}

/// Parameters converted (`#[into(Level)]`) and borrowed (`&CStr`,
/// `Option<&T>`, `&mut T`).
#[callback]
pub type Converted = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[into(Level)] level: c_int,
    #[into(&CStr)] name: *const c_char,
    #[into(::core::option::Option<&c_int>)] value: *const c_int,
    #[into(&mut c_int)] out: *mut c_int,
    #[into(&[u8], len = len)] bytes: *const u8,
    len: usize,
) -> c_int;

/// Closures returning `ControlFlow<()>`, C's values reading a parameter.
#[callback(on_continue = n + 1, on_break = 0)]
pub type Flowing = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A callback set: exclusive, shared and destroy entries, with converted
/// and borrowed parameters.
#[callback]
pub trait Stream {
    /// Writes the state's count through `out` (checked not to overlap
    /// `tag`).
    unsafe extern "C" fn read(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&mut c_int)] out: *mut c_int,
        #[into(::core::option::Option<&CStr>)] tag: *const c_char,
    ) -> c_int;
    /// The length of `name`.
    unsafe extern "C" fn name(
        &self,
        #[user_data] ud: *mut c_void,
        #[into(&CStr)] name: *const c_char,
    ) -> c_int;
    /// Goes on while `n` is positive.
    #[callback(on_continue = 1, on_break = 0)]
    unsafe extern "C" fn more(&self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    /// Frees the state.
    unsafe extern "C" fn close(
        self,
        #[user_data] ud: *mut c_void,
        #[into(Level)] level: c_int,
    ) -> c_int;
}

impl Stream for State {
    fn read(&mut self, out: &mut c_int, _tag: ::core::option::Option<&CStr>) -> c_int {
        self.seen.push(1);
        *out = <c_int as ::core::convert::TryFrom<usize>>::try_from(self.seen.len())
            .unwrap_or_default();
        0
    }
    fn name(&self, name: &CStr) -> c_int {
        <c_int as ::core::convert::TryFrom<usize>>::try_from(name.to_bytes().len())
            .unwrap_or_default()
    }
    fn more(&self, n: c_int) -> ::core::ops::ControlFlow<()> {
        if n > 0 {
            ::core::ops::ControlFlow::Continue(())
        } else {
            ::core::ops::ControlFlow::Break(())
        }
    }
    fn close(self, level: Level) -> c_int {
        level.0
    }
}

/// Accessor.
#[callback(
    // SAFETY: C passes the context it was given.
    user_data = unsafe { context_data(ctx) }
)]
pub type Step = unsafe extern "C" fn(ctx: *mut Context, argc: c_int);

/// `reentrant`.
#[callback(reentrant)]
pub type Reentrant = unsafe extern "C" fn(#[user_data] ud: *mut c_void, depth: c_int) -> c_int;

/// `send`, default (abort) policy.
#[callback(send)]
pub type Timer = unsafe extern "C" fn(#[user_data] ud: *mut c_void);

/// `send` with `on_panic = fallback`.
#[callback(send, on_panic = fallback)]
pub type SendFallback = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

/// `sync` with `unsafe(safe_fn)`, as `GFunc` for `GThreadPool`.
// SAFETY: only ever handed to C with the user data of a `Worker` holder.
#[callback(sync, unsafe(safe_fn))]
pub type Worker =
    ::core::option::Option<extern "C" fn(data: *mut c_void, #[user_data] ud: *mut c_void)>;

/// `on_panic = unwind`.
#[callback(on_panic = unwind)]
pub type Lua = unsafe extern "C-unwind" fn(#[user_data] state: *mut c_void) -> c_int;

/// `on_panic = abort`, a private type, `crate = path`.
#[callback(on_panic = abort, crate = crate::rt)]
type Private = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> *mut c_void;

/// A type whose signature already uses the names `F` and `T`.
#[callback]
pub type Names = unsafe extern "C" fn(#[user_data] ud: *mut c_void, f: F, t: T) -> T;

/// A C type named `F`.
pub type F = c_int;
/// A C type named `T`.
pub type T = c_int;

/// Both forms in a nested module, with restricted visibility, where
/// `crate = crate::rt` is a necessary qualification.
pub mod nested {
    use ::ffi_callback::callback;

    /// `pub(crate)` fn form.
    #[callback]
    pub(crate) extern "C" fn in_module(#[user_data] state: &mut super::State) {
        state.seen.push(0);
    }

    /// `pub(crate)` type form, `crate = path`.
    #[callback(crate = crate::rt)]
    pub(crate) type InModule = unsafe extern "C" fn(#[user_data] ud: *mut super::c_void);
}

/// Callback types whose options and signatures use the names the macro
/// would give its own generic parameters (`F`, `O`, `T`): a user type `F`
/// in `fallback = EXPR` and in the C signature, a C type `F_` (the first
/// fresh name after `F`), and macro calls, which could expand to any of
/// them. Each fallback is the user's value, and C receives it.
pub mod fresh {
    use ::ffi_callback::callback;
    use ::std::ffi::{c_int, c_void};

    /// A user type named `F`, FFI-safe, carrying the fallback.
    #[derive(Debug, Clone, Copy)]
    #[repr(transparent)]
    pub struct F(pub c_int);

    impl F {
        /// What C receives after a panic or a refused call.
        pub const VALUE: c_int = 100;
    }

    /// A C type named `F_`.
    pub type F_ = c_int;
    /// A C type named `O`.
    pub type O = c_int;

    // Expand to the user's `F`: with a macro call in the tokens the
    // expansion's generics must not be `F` (nor `F_`, `O`, ...).
    macro_rules! user_fallback {
        () => {
            F::VALUE + 1
        };
    }
    macro_rules! f_param {
        () => {
            F
        };
    }

    /// `fallback = F::VALUE` naming the user's `F`, parameters of the types
    /// `F`, `F_` and `O`, the default (`resume`) policy.
    #[callback(fallback = F::VALUE)]
    pub type NamedF =
        unsafe extern "C" fn(#[user_data] ud: *mut c_void, f: F, f_: F_, o: O) -> c_int;

    /// `fallback = user_fallback!()` (`F::VALUE + 1`) and a parameter type
    /// `f_param!()` (`F`), `on_panic = fallback`.
    #[callback(on_panic = fallback, fallback = user_fallback!())]
    pub type Macros = unsafe extern "C" fn(f: f_param!(), #[user_data] ud: *mut c_void) -> c_int;

    /// `F` only in `fallback = F::VALUE + 3`, `on_panic = fallback`.
    #[callback(on_panic = fallback, fallback = F::VALUE + 3)]
    pub type FallbackOnly = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

    /// No slot, `fallback = F::VALUE + 2`, `on_panic = fallback`.
    #[callback(on_panic = fallback, fallback = F::VALUE + 2)]
    pub type Slotless = unsafe extern "C" fn(f: F, f_: F_) -> F_;
}

/// Two callback sets in one module, each with its own companion trait
/// (`AggregateExt`, `SExt`), one named `S`, the name the companion's blanket
/// impl would give its parameter; every user expression reads C
/// parameters: an accessor with the user's own `unsafe`, `fallback`,
/// `on_error` reading `e`, a slice's `len`, `on_continue`/`on_break`.
pub mod sets {
    use super::{Context, context_data};
    use ::ffi_callback::callback;
    use ::std::ffi::{c_int, c_void};

    /// Entries fetching their state through a context, or given it.
    #[callback]
    pub trait Aggregate {
        /// One row: `argc` counted, `Err` for a negative one.
        #[callback(
            // SAFETY: C passes the context it was given.
            user_data = unsafe { context_data(ctx) },
            fallback = -argc,
            on_error = if e.is_empty() { argc } else { argc - 1 }
        )]
        unsafe extern "C" fn step(
            &mut self,
            ctx: *mut Context,
            argc: c_int,
        ) -> ::core::result::Result<c_int, ::std::string::String>;
        /// Bytes whose length is a parameter: goes on while some came.
        #[callback(on_continue = marker, on_break = -marker)]
        unsafe extern "C" fn feed(
            &self,
            #[user_data] ud: *mut c_void,
            #[into(&[u8], len = len)] bytes: *const u8,
            len: usize,
            marker: c_int,
        ) -> c_int;
    }

    /// A set named `S`.
    #[callback]
    pub trait S {
        /// Adds one.
        unsafe extern "C" fn count(&mut self, #[user_data] ud: *mut c_void) -> c_int;
    }

    /// The state of both sets.
    #[derive(Debug)]
    pub struct Sums {
        /// What the entries added.
        pub total: c_int,
    }

    impl Aggregate for Sums {
        fn step(
            &mut self,
            _ctx: *mut Context,
            argc: c_int,
        ) -> ::core::result::Result<c_int, ::std::string::String> {
            if argc < 0 {
                return ::core::result::Result::Err(::std::borrow::ToOwned::to_owned("negative"));
            }
            self.total += argc;
            ::core::result::Result::Ok(self.total)
        }
        fn feed(&self, bytes: &[u8], _len: usize, _marker: c_int) -> ::core::ops::ControlFlow<()> {
            if bytes.is_empty() {
                ::core::ops::ControlFlow::Break(())
            } else {
                ::core::ops::ControlFlow::Continue(())
            }
        }
    }

    impl S for Sums {
        fn count(&mut self) -> c_int {
            self.total += 1;
            self.total
        }
    }
}

/// Calls [`sets`]' entry points from another module, which imports only
/// their companion traits: `2 + 5 + 4 - 4 + 6` and the state's total (6).
#[must_use]
pub fn run_sets() -> c_int {
    use sets::{AggregateExt, SExt, Sums};

    let (mut total, sums) = <Sums as AggregateExt>::scope(Sums { total: 0 }, |ud| {
        let mut ctx = Context { data: ud };
        let ctx = ::core::ptr::addr_of_mut!(ctx);
        // SAFETY: the context carries the state's user data, and the bytes
        // are valid for the call.
        unsafe {
            Sums::STEP(ctx, 2)
                + Sums::STEP(ctx, 3)
                + Sums::FEED(ud, b"xy".as_ptr(), 2, 4)
                + Sums::FEED(ud, b"".as_ptr(), 0, 4)
        }
    });
    let (counted, sums) = <Sums as SExt>::scope(sums, |ud| {
        // SAFETY: the state's user data, during `scope`.
        unsafe { Sums::COUNT(ud) }
    });
    total += counted + sums.total;
    total
}

/// Calls [`fresh`]'s callbacks as C would, and returns what C received: a
/// normal call (`1 + 2 + 3`), then the user's fallbacks after refusals
/// (null user data) and panics: `[6, 100, 101, 101, 103, 7, 102]`.
#[must_use]
pub fn run_fresh_names() -> [c_int; 7] {
    use fresh::{F, FallbackOnly, Macros, NamedF, Slotless};

    let normal = NamedF::scope(
        |f, f_, o| f.0 + f_ + o,
        // SAFETY: the trampoline with its own user data.
        |call, ud| unsafe { call(ud, F(1), 2, 3) },
    );
    // Null user data is refused: C receives `F::VALUE`, and the refusal,
    // kept under `resume`, is raised again when `scope` returns.
    let refused = Cell::new(0);
    let resumed = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
        NamedF::scope(
            |f, f_, o| f.0 + f_ + o,
            // SAFETY: null user data, which the trampoline refuses.
            |call, _| refused.set(unsafe { call(::core::ptr::null_mut(), F(1), 2, 3) }),
        );
    }));
    let resumed = <c_int as ::core::convert::From<bool>>::from(resumed.is_err());

    // `on_panic = fallback`: reported, C receives `F::VALUE + 1`.
    let macro_refused = Macros::scope(
        |f| f.0,
        // SAFETY: null user data, which the trampoline refuses.
        |call, _| unsafe { call(F(5), ::core::ptr::null_mut()) },
    );
    let macro_panicked = Macros::scope(
        |f| {
            if f.0 < 0 {
                ::std::panic::panic_any("hygiene: a negative F");
            }
            f.0
        },
        // SAFETY: the trampoline with its own user data.
        |call, ud| unsafe { call(F(-1), ud) },
    );

    let fallback_only = FallbackOnly::scope(
        |n| n,
        // SAFETY: null user data, which the trampoline refuses.
        |call, _| unsafe { call(::core::ptr::null_mut(), 8) },
    );

    let slotless = Slotless::new(|f: F, f_| {
        if f.0 < 0 {
            ::std::panic::panic_any("hygiene: a negative F");
        }
        f.0 + f_
    });
    // SAFETY: the trampoline takes no user data.
    let slotless_normal = unsafe { slotless.function()(F(3), 4) };
    // SAFETY: as above.
    let slotless_panicked = unsafe { slotless.function()(F(-1), 4) };

    [
        normal,
        refused.get() * resumed,
        macro_refused,
        macro_panicked,
        fallback_only,
        slotless_normal,
        slotless_panicked,
    ]
}

// ------------------------------------------------------------ uses --

/// Every callback once, as a C library would call it; returns a checksum.
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn run_all() -> c_int {
    let mut state = State::empty();
    let seen = Cell::new(0);
    let mut total = 0;
    ::ffi_callback::resume_panics(|| {
        // SAFETY: each user data is what the callback receives, alive for
        // the call.
        unsafe {
            total += mut_ref_last(1, ::ffi_callback::user_data(&mut state));
            total += underscore_param(8, ::ffi_callback::user_data(&mut state));
            total += from_macro_rules(3, ::ffi_callback::user_data(&mut state));
            total += shared_ref_first(::ffi_callback::user_data_ref(&seen), 2);
            option_ref(::ffi_callback::user_data_ref(&seen));
            option_ref(0);
            let _: ::core::primitive::bool = option_mut(::ffi_callback::user_data(&mut state), 4);
            boxed_destroy(::ffi_callback::user_data_box(::std::boxed::Box::new(
                State::empty(),
            )));
            option_box(::core::ptr::null_mut());
            let _ = raw_mut(::ffi_callback::user_data(&mut state));
            let _ = raw_const(::ffi_callback::user_data_ref(&state));
            total += no_user_data(1, 2, 3);
            total += compare::<u8>(&1, &2, ::ffi_callback::user_data_ref(&seen));
            private_unsafe(::ffi_callback::user_data(&mut state));
            total += abort_policy(::ffi_callback::user_data(&mut state));
            total += fallback_policy(::ffi_callback::user_data_ref(&state));
            total += unwind_policy(::ffi_callback::user_data_ref(&state));
            total += resume_policy(::ffi_callback::user_data(&mut state));
            let mut ctx = Context {
                data: ::ffi_callback::user_data(&mut state),
            };
            accessor(::core::ptr::addr_of_mut!(ctx), 5);
            let _ = safe_start(::ffi_callback::user_data_box(::std::boxed::Box::new(
                State::empty(),
            )));
            let _ = renamed_runtime(::ffi_callback::user_data_ref(&state));
            nested::in_module(::ffi_callback::user_data(&mut state));
        }
    });

    total += ExecRow::scope(
        |n, _values| n,
        // SAFETY: the trampoline with its own user data.
        |f, ud| unsafe { f(ud, 4, ::core::ptr::null_mut()) },
    );
    let visit = Visit::new(|n| n + 1);
    // SAFETY: as above.
    total += ::ffi_callback::resume_panics(|| unsafe { visit.function()(1, visit.user_data()) });
    total += <c_int as ::core::convert::From<bool>>::from(EnumProc::scope(
        |_hwnd, extra| extra > 0,
        // SAFETY: as above.
        |f, lparam| unsafe { f(::core::ptr::null_mut(), lparam, 1) },
    ));
    let compare = Compare::new(|_a, _b| 0);
    // SAFETY: the trampoline ignores its arguments.
    total += unsafe { compare.function()(::core::ptr::null(), ::core::ptr::null()) };
    AtExit::scope(|| {}, |f| f());
    let mut steps = 0;
    Step::scope(
        |_ctx, argc| steps += argc,
        // SAFETY: the context carries the holder's user data.
        |f, ud| unsafe {
            let mut ctx = Context { data: ud };
            f(::core::ptr::addr_of_mut!(ctx), 2);
        },
    );
    total += steps;
    total += Reentrant::scope(
        |depth| depth,
        // SAFETY: as above.
        |f, ud| unsafe { f(ud, 3) },
    );
    let timer = Timer::boxed(|| {}).into_raw();
    // SAFETY: called once, then destroyed once.
    unsafe {
        (timer.function)(timer.user_data);
        (timer.destroy)(timer.user_data);
    }
    let once = SendFallback::once(|| 6).into_raw();
    // SAFETY: called exactly once, which frees it.
    total += unsafe { (once.function)(once.user_data) };
    let at_most_once = SendFallback::once(|| 7).into_raw_with_destroy();
    // SAFETY: called once, then destroyed once.
    unsafe {
        total += (at_most_once.function)(at_most_once.user_data);
        (at_most_once.destroy)(at_most_once.user_data);
    }
    let worker = Worker::new(|_data| {});
    worker.function()(::core::ptr::null_mut(), worker.user_data());
    let _: fn(*mut c_void) = worker.into_inner();
    total += Lua::scope(
        || 8,
        // SAFETY: as above.
        |f, ud| unsafe { f(ud) },
    );
    let private = Private::new(::core::ptr::null_mut);
    // SAFETY: as above.
    let _ = unsafe { private.function()(private.user_data()) };
    total += Names::scope(
        |f, t| f + t,
        // SAFETY: as above.
        |call, ud| unsafe { call(ud, 1, 2) },
    );
    nested::InModule::scope(
        || {},
        // SAFETY: as above.
        |f, ud| unsafe { f(ud) },
    );
    let kept = ExecRow::boxed(|n, _values| n);
    ::core::mem::drop(kept);
    let mut out = 0;
    total += Converted::scope(
        |level: Level,
         name: &CStr,
         value: ::core::option::Option<&c_int>,
         out: &mut c_int,
         bytes: &[u8],
         _len| {
            *out = level.0 + value.copied().unwrap_or_default();
            <c_int as ::core::convert::TryFrom<usize>>::try_from(
                name.to_bytes().len() + bytes.len(),
            )
            .unwrap_or_default()
        },
        // SAFETY: as above; the string, `out` and the bytes are valid for
        // the call.
        |f, ud| unsafe {
            f(
                ud,
                2,
                c"abc".as_ptr(),
                ::core::ptr::null(),
                &mut out,
                b"xy".as_ptr(),
                2,
            )
        },
    );
    total += out;
    total += Flowing::scope(
        |n| {
            if n > 0 {
                ::core::ops::ControlFlow::Continue(())
            } else {
                ::core::ops::ControlFlow::Break(())
            }
        },
        // SAFETY: as above.
        |f, ud| unsafe { f(ud, 2) + f(ud, 0) },
    );
    let stream = State::empty().boxed().into_raw();
    // SAFETY: `stream` carries the boxed state until `CLOSE`, called once;
    // the string and `out` are valid for each call.
    unsafe {
        total += State::READ(stream, &mut out, ::core::ptr::null());
        total += State::NAME(stream, c"ab".as_ptr());
        total += State::MORE(stream, 1) + State::MORE(stream, 0);
        total += State::CLOSE(stream, 4);
    }
    total += out;
    total += run_sets();
    for received in run_fresh_names() {
        total += received;
    }
    total
        + <c_int as ::core::convert::TryFrom<usize>>::try_from(state.seen.len()).unwrap_or_default()
        + seen.get()
}

#[cfg(test)]
mod tests {
    #[::core::prelude::v1::test]
    fn every_callback_runs() {
        ::core::assert_eq!(super::run_all(), super::run_all());
    }

    /// C receives the user's fallback values, under the names the macro
    /// would otherwise have used for its generics.
    #[::core::prelude::v1::test]
    fn fresh_names_fallbacks_reach_c() {
        ::core::assert_eq!(super::run_fresh_names(), [6, 100, 101, 101, 103, 7, 102]);
    }

    /// Two sets in one module, called from another through their
    /// companion traits.
    #[::core::prelude::v1::test]
    fn sets_run_through_their_companion_traits() {
        ::core::assert_eq!(super::run_sets(), 19);
    }
}
