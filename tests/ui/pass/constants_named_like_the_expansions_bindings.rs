//! Lowercase constants in the callbacks' module named like the bindings
//! the expansion makes inside its bodies (`result`, `ptr`, `holder`, the
//! runtime's `message`...): a `let` or a parameter whose name resolves to
//! a constant is a pattern matching it, whatever the identifier's hygiene,
//! so the expansion names its own bindings `__ffi_*`. (The parameters of
//! the generated public fns keep their documented names: `f`, `call`,
//! `value`, `user_data`.)
#![allow(dead_code, non_upper_case_globals, unused_variables)]
use std::ffi::{c_char, c_int, c_void};

macro_rules! consts {
    ($($name:ident)*) => { $(pub const $name: () = ();)* };
}

pub struct State(pub c_int);

#[repr(C)]
pub struct Ctx {
    pub data: *mut c_void,
}

pub fn data_of(_ctx: *mut Ctx) -> *mut c_void {
    std::ptr::null_mut()
}

pub fn raise_error(_l: *mut c_void) -> ! {
    std::process::abort()
}

/// The forms with user data, whose typed constructors and holders take
/// `user_data` and `value` by those names.
pub mod forms {
    use super::*;
    use ffi_callback::callback;

    consts!(result failed message ptr formatter holder function trampoline found closure ud);

    #[callback]
    pub extern "C" fn with_data(a: c_int, #[user_data] state: &mut State) -> c_int {
        state.0 += a;
        a
    }

    #[callback(user_data = data_of(ctx), fallback = -1)]
    pub extern "C" fn fetched(
        ctx: *mut Ctx,
        #[into(&str)] s: *const c_char,
        #[user_data] state: &mut State,
    ) -> c_int {
        c_int::try_from(s.len()).unwrap_or(-1)
    }

    #[callback]
    pub type Typed = unsafe extern "C" fn(#[user_data] ud_: *mut c_void, n: c_int) -> c_int;

    #[callback(user_data = data_of(ctx))]
    pub type Fetched = unsafe extern "C" fn(ctx: *mut Ctx, n: c_int) -> c_int;

    #[callback]
    pub type Slotless = unsafe extern "C" fn(n: c_int) -> c_int;

    #[callback(on_continue = 0, on_break = 1, error = String, on_error = -1)]
    pub type Flowing = unsafe extern "C" fn(#[user_data] ud_: *mut c_void, n: c_int) -> c_int;

    #[callback(send)]
    pub type Sent = unsafe extern "C" fn(
        #[user_data] ud_: *mut c_void,
        #[into(&c_int)] p: *const c_int,
        #[into(&[u8], len = n)] b: *const u8,
        n: usize,
        #[into(u8)] c: c_int,
    );

    #[callback(user_data = data_of(ctx))]
    pub trait Fetching {
        unsafe extern "C" fn read(&mut self, ctx: *mut Ctx, n: c_int) -> c_int;
        unsafe extern "C" fn close(self, ctx: *mut Ctx);
    }

    #[callback(on_error = -1)]
    pub trait Stream {
        unsafe extern "C" fn read(
            &mut self,
            #[user_data] ud_: *mut c_void,
            #[into(&mut [u8], len = n)] b: *mut u8,
            n: usize,
        ) -> Result<c_int, String>;
        unsafe extern "C" fn peek(
            &self,
            #[user_data] ud_: *mut c_void,
            #[into(&str)] s: *const c_char,
        ) -> c_int;
        #[callback(destroy, on_continue = 0, on_break = 1)]
        unsafe extern "C" fn close(
            &mut self,
            #[user_data] ud_: *mut c_void,
            #[into(u8)] c: c_int,
        ) -> c_int;
    }
}

/// A raising fn without user data (no typed constructor): `value` too.
pub mod raising {
    use super::*;
    use ffi_callback::callback;

    consts!(result value message);

    #[callback(raise = raise_error(l))]
    pub extern "C" fn raising(l: *mut c_void) -> Result<c_int, String> {
        Ok(1)
    }
}

fn main() {
    use forms::*;
    let mut state = State(0);
    // SAFETY: the user data is `state`, alive and unused during the call.
    let got =
        ffi_callback::resume_panics(|| unsafe { with_data(2, with_data::user_data(&mut state)) });
    assert_eq!((got, state.0), (2, 2));
    let got = Typed::scope(
        |n| n + 1,
        |cb, ud_| {
            // SAFETY: `scope` keeps the holder alive during the call.
            unsafe { cb(ud_, 1) }
        },
    );
    assert_eq!(got, 2);
    // SAFETY: the function runs inside `scope_thread_local`.
    assert_eq!(
        Slotless::scope_thread_local(|n| n * 2, |cb| unsafe { cb(4) }),
        8
    );
    let _ = format!("{:?}", Typed::new(|n| n));
    drop(Typed::boxed(|n| n));
    drop(Typed::once(|n| n));
    assert_eq!(
        ffi_callback::resume_panics(|| raising::raising(std::ptr::null_mut())),
        1
    );
}
