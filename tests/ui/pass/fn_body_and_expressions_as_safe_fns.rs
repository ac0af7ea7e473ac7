//! The body and the option expressions are safe fns of their own: in a
//! free fn (also when items in its body name their own `Self`), in an impl
//! block (naming `Self`, in the signature, the body or an option, or
//! `in_impl`), generic, and warning-free for parameters the body ignores or
//! only an option reads (also through a format string's `{name}`).
#![deny(warnings)]
use ffi_callback::{callback, resume_panics, user_data};
use std::ffi::{c_int, c_void};

pub struct Counter {
    calls: c_int,
}

impl Counter {
    const FAILED: c_int = -1;

    #[callback(fallback = Self::FAILED)]
    pub extern "C" fn bump(step: c_int, #[user_data] counter: &mut Self) -> c_int {
        counter.calls += step;
        counter.calls
    }

    #[callback(in_impl)]
    pub extern "C" fn read(#[user_data] counter: &Counter) -> c_int {
        counter.calls
    }

    /// `Self` in the body only.
    #[callback]
    pub extern "C" fn undo(#[user_data] counter: &mut Counter) -> c_int {
        counter.calls += Self::FAILED;
        counter.calls
    }
}

/// A free fn whose body declares items that name their own `Self`.
#[callback]
extern "C" fn local_impls(#[user_data] base: &mut c_int) -> c_int {
    struct Step(c_int);
    impl Step {
        fn new() -> Self {
            Step(1)
        }
    }
    let two = {
        struct Two;
        impl Two {
            fn get(&self) -> Self {
                Two
            }
        }
        let _ = Two.get();
        2
    };
    *base + Step::new().0 + two
}

/// Option expressions reading C parameters only through format strings.
#[callback(
    on_panic = fallback,
    fallback = { let text = format!("{code}|{{code}}|{code:>4}"); text.len() as c_int }
)]
extern "C" fn formats_code(code: c_int, #[user_data] _hits: &mut c_int) -> c_int {
    assert!(code >= 0, "negative");
    0
}

#[callback(on_error = { let text = format!("{e}{code}"); text.len() as c_int })]
extern "C" fn formats_error(code: c_int, #[user_data] _hits: &mut c_int) -> Result<c_int, String> {
    Err("no".to_owned())
}

#[callback(on_panic = fallback, fallback = { let text = format!("{n}{n}"); text.len() as c_int })]
pub type Formats = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[callback]
pub trait FormatsSet {
    #[callback(on_panic = fallback, fallback = { let text = format!("{n}:{n}"); text.len() as c_int })]
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

struct Reader;

impl FormatsSet for Reader {
    fn read(&mut self, n: c_int) -> c_int {
        assert!(n >= 0, "negative");
        n
    }
}

#[callback(fallback = code)]
extern "C" fn ignores_code(code: c_int, #[user_data] hits: &mut c_int) -> c_int {
    *hits += 1;
    0
}

#[callback(on_error = if e.is_empty() { code } else { -code })]
extern "C" fn fails_with(code: c_int, #[user_data] _hits: &mut c_int) -> Result<c_int, String> {
    Err("no".to_owned())
}

#[callback]
extern "C" fn ignores_all(_unused: c_int, #[user_data] _s: &mut u8) -> c_int {
    0
}

#[callback]
extern "C" fn sized<T: Default + Into<c_int>, const N: usize>(#[user_data] seen: &mut [T; N]) -> c_int {
    seen[0] = T::default();
    N as c_int
}

/// Without user data the trampoline is a safe fn, whose own body is a safe
/// context: an impl's generic parameters stay in reach without `in_impl`.
pub struct Widen<T>(T);

impl<T: Copy + Into<i64>> Widen<T> {
    #[callback(fallback = -1)]
    pub extern "C" fn widen(value: *const T, #[cfg(all())] scale: i64) -> i64 {
        // SAFETY: C passes a valid `T`.
        let value: T = unsafe { *value };
        value.into() * scale
    }
}

fn main() {
    assert_eq!(Widen::<u8>::widen(&3, 2), 6);
    let mut counter = Counter { calls: 0 };
    let mut hits = 0;
    let mut seen = [7_u8; 3];
    resume_panics(|| unsafe {
        assert_eq!(Counter::bump(2, user_data(&mut counter)), 2);
        assert_eq!(Counter::read(ffi_callback::user_data_ref::<*mut c_void, _>(&counter)), 2);
        assert_eq!(ignores_code(5, ignores_code::user_data(&mut hits)), 0);
        assert_eq!(sized::<u8, 3>(sized::user_data(&mut seen)), 3);
    });
    let _: Result<c_int, String> =
        ffi_callback::try_resume(|| unsafe { fails_with(4, fails_with::user_data(&mut hits)) });
    let _ = ignores_all;
    assert_eq!(seen[0], 0);

    let mut base = 10;
    resume_panics(|| unsafe {
        assert_eq!(Counter::undo(user_data(&mut counter)), 1);
        assert_eq!(local_impls(local_impls::user_data(&mut base)), 13);
    });
    // The expected panics below, without their messages.
    std::panic::set_hook(Box::new(|_| {}));
    // SAFETY: user data from the typed constructors.
    unsafe {
        assert_eq!(
            formats_code(-12, formats_code::user_data(&mut hits)),
            "-12|{code}| -12".len() as c_int
        );
    }
    let failed: Result<c_int, String> = ffi_callback::try_resume(|| unsafe {
        let c_received = formats_error(123, formats_error::user_data(&mut hits));
        assert_eq!(c_received, "no123".len() as c_int);
        c_received
    });
    assert_eq!(failed, Err("no".to_owned()));
    let c_received = Formats::scope(
        |n| {
            assert!(n >= 0, "negative");
            n
        },
        |f, ud| unsafe { f(ud, -5) },
    );
    assert_eq!(c_received, 4);
    let (c_received, _) = Reader.scope(|ud| unsafe { <Reader as FormatsSetExt>::READ(ud, -7) });
    assert_eq!(c_received, 5);
}
