//! `#[callback]` in a crate that forbids `unsafe` code.
//!
//! The expansion is full of `unsafe`: the fn form's trampoline is an
//! `unsafe extern fn` with an `unsafe` block, a callback type's holder has
//! `unsafe extern` trampolines and `unsafe` blocks. None of it is the
//! user's: rustc does not report the `unsafe_code` lint for code whose span
//! comes from an external macro's expansion, and every `unsafe` keyword the
//! macro adds is spanned at the call site (never `quote_spanned!` onto a
//! user token: PyO3 #4574 fixed exactly that leak). The macro crate's unit
//! test `users_unsafe_stays_the_users_and_the_expansions_is_call_site`, and
//! the fuzz test on every one of its inputs, check that no generated
//! `unsafe` carries a user's span.
//!
//! What stays the user's, and is reported under `forbid(unsafe_code)` as in
//! any code:
//! - an `unsafe { .. }` block in a callback's body, in
//!   `#[callback(user_data = EXPR)]` or in `fallback = EXPR`: "usage of an
//!   `unsafe` block", on the user's block;
//! - `#[unsafe(no_mangle)]` / `#[unsafe(export_name = ..)]` on a callback:
//!   "declaration of a `no_mangle` function";
//! - `#[callback(unsafe(safe_fn))]`: "implementation of an `unsafe` trait",
//!   on the option's `unsafe` (the opt-in is the user's promise, so a crate
//!   that forbids `unsafe` cannot make it). The ui case
//!   `soundness_safe_fn_under_forbid_unsafe_code.rs` checks it, in
//!   `tests/ui` (edition 2024) and in `tests/ui_2021/ui` (edition 2021).
//!
//! The first two rest on the user's tokens passing through with their own
//! spans: `tests/ui/soundness_users_unsafe_under_forbid_unsafe_code.rs`
//! checks each is reported there.
//!
//! `tests/ui_2021` (run by `scripts/ui.sh`) holds edition-2021 twins of the
//! `tests/ui/soundness_*` cases: their rules (an unsafe call in
//! `user_data =`, `fallback =` or a body needs the user's own `unsafe { }`,
//! and `unsafe(safe_fn)` trips `unsafe_code`) must hold in both editions.
//!
//! One gap: `unsafe` written on a `#[callback]` fn itself
//! (`pub unsafe extern "C" fn f(..)`) is not reported as "declaration of an
//! `unsafe` function": rustc takes the fn item's span, which ends in the
//! macro's body braces, as the expansion's. With user data the trampoline is
//! `unsafe` anyway (the macro's contract, not the user's choice); without
//! user data the written `unsafe` only adds an obligation for callers, who
//! need `unsafe` of their own to call it.
#![forbid(unsafe_code)]

/// The three forms, in a module.
pub mod callbacks {
    use ffi_callback::callback;
    use std::cell::Cell;
    use std::ffi::{CStr, c_char, c_int, c_void};

    /// The fn form with user data: an `unsafe extern "C" fn`.
    #[callback]
    pub extern "C" fn visit(item: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
        seen.push(item);
        0
    }

    /// Private, no ABI written, `&T`.
    #[callback]
    fn count(#[user_data] calls: &Cell<u32>) {
        calls.set(calls.get() + 1);
    }

    /// Without user data: a safe `extern "C" fn`.
    #[callback(on_panic = abort)]
    pub extern "C" fn add(a: c_int, b: c_int) -> c_int {
        a.wrapping_add(b)
    }

    /// `Box<T>` user data.
    #[callback(on_panic = fallback)]
    pub extern "C" fn start(#[user_data] job: Box<u32>) -> *mut c_void {
        drop(job);
        std::ptr::null_mut()
    }

    /// A safe accessor for `user_data = EXPR`.
    #[must_use]
    pub fn context_data(ctx: *mut c_void) -> *mut c_void {
        ctx
    }

    /// `user_data = EXPR`.
    #[callback(user_data = context_data(ctx), fallback = -1)]
    pub extern "C" fn step(ctx: *mut c_void, #[user_data] total: &mut i64) -> c_int {
        *total += 1;
        0
    }

    /// `on_panic = unwind`, `"C-unwind"`.
    #[callback(on_panic = unwind)]
    pub extern "C-unwind" fn lua(#[user_data] state: Option<&mut u8>) -> c_int {
        c_int::from(state.is_some())
    }

    /// Slot first, `fallback`.
    #[callback(fallback = 1)]
    pub type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int) -> c_int;

    /// Slot-less.
    #[callback]
    pub type Compare = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

    /// `sync`.
    #[callback(sync)]
    pub type Worker = Option<unsafe extern "C" fn(data: *mut c_void, #[user_data] ud: *mut c_void)>;

    /// `send`, accessor.
    #[callback(send, user_data = context_data(ctx))]
    pub type Done = unsafe extern "C" fn(ctx: *mut c_void, status: c_int);

    /// `reentrant`, private.
    #[callback(reentrant)]
    type Reentrant = unsafe extern "system" fn(depth: c_int, #[user_data] ud: isize) -> c_int;

    /// Borrowed parameters (`#[into(&CStr)]`, `Option<&T>`): their
    /// `unsafe` borrow is the macro's, inside its own `unsafe` block.
    #[callback]
    pub type Named = unsafe extern "C" fn(
        #[user_data] ud: *mut c_void,
        #[into(&CStr)] name: *const c_char,
        #[into(Option<&c_int>)] value: *const c_int,
    ) -> c_int;

    /// A callback set, its entry points borrowing and converting.
    #[callback]
    pub trait Stream {
        /// Writes the next value through `out`.
        unsafe extern "C" fn read(
            &mut self,
            #[user_data] ud: *mut c_void,
            #[into(&mut c_int)] out: *mut c_int,
        ) -> c_int;
        /// Frees the state.
        unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void, #[into(u64)] code: u32);
    }

    /// A state for `Stream`.
    pub struct Counter(pub c_int);

    impl Stream for Counter {
        fn read(&mut self, out: &mut c_int) -> c_int {
            self.0 += 1;
            *out = self.0;
            0
        }
        fn close(self, _code: u64) {}
    }

    /// What safe code can do with the generated items: take the fn
    /// pointers, build holders (borrowed, boxed, once) and hand them over.
    #[must_use]
    pub fn handles() -> usize {
        let mut total = 0;
        let row = ExecRow::new(|n| {
            total += n;
            0
        });
        let (_function, _user_data) = (row.function(), row.user_data());
        let boxed = ExecRow::boxed(|n| n).into_raw();
        let once = ExecRow::once(|n| n).into_raw_with_destroy();
        let compare = Compare::new(|_, _| 0);
        let worker = Worker::new(|_| {});
        let done = Done::new(|_, _| {});
        let reentrant = Reentrant::new(|depth| depth);
        let named = Named::new(|name, value| {
            c_int::try_from(name.to_bytes().len()).unwrap_or(0) + value.copied().unwrap_or(0)
        });
        let (_named_function, _named_user_data) = (named.function(), named.user_data());
        let stream: [StreamReadFn; 1] = [Counter::READ];
        let _ = (stream, Counter::CLOSE, Counter(0).boxed().into_raw());
        let fns: [*const (); 6] = [
            visit as *const (),
            count as *const (),
            add as *const (),
            start as *const (),
            step as *const (),
            lua as *const (),
        ];
        let _ = (
            compare.function(),
            worker.function(),
            done.function(),
            reentrant.function(),
        );
        // Owned callbacks are for C to free; safe code cannot call
        // `destroy`, so these two leak on purpose here.
        let _ = (boxed.user_data, once.user_data);
        fns.len()
    }
}
