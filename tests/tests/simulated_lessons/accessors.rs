//! Issue 17.1: `user_data = EXPR` accepts what lookups return (`&T`,
//! `&mut T`, `Option<&T>`, `Option<&mut T>`), matching the received form;
//! a `None` for a callback that receives a reference is refused, like null.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr;

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::{message, panic_payload};

/// An OpenSSL-style object with application data slots (`SSL_get_ex_data`).
#[repr(C)]
struct Ssl {
    ex_data: [*mut c_void; 2],
}

/// What the binding stores in slot 0.
struct Verifier {
    calls: Cell<u32>,
    depth_limit: c_int,
}

/// What the binding stores in slot 1.
struct Stats {
    verified: Vec<c_int>,
}

fn ssl_with(verifier: &Verifier, stats: &mut Stats) -> Ssl {
    Ssl {
        ex_data: [
            ptr::from_ref(verifier).cast_mut().cast(),
            ptr::from_mut(stats).cast(),
        ],
    }
}

/// The binding's lookups, as such bindings write them.
///
/// # Safety
/// `ssl` is valid, and its slot `index` is null or holds a `T` that lives
/// for `'a` (and, for the `_mut` ones, is not otherwise used meanwhile).
unsafe fn ex_data<'a, T>(ssl: *mut Ssl, index: usize) -> Option<&'a T> {
    // SAFETY: by the caller's promise.
    unsafe { (*ssl).ex_data[index].cast::<T>().as_ref() }
}

/// # Safety
/// As for [`ex_data`].
unsafe fn ex_data_mut<'a, T>(ssl: *mut Ssl, index: usize) -> Option<&'a mut T> {
    // SAFETY: by the caller's promise.
    unsafe { (*ssl).ex_data[index].cast::<T>().as_mut() }
}

/// # Safety
/// As for [`ex_data`], and the slot is not null.
unsafe fn verifier<'a>(ssl: *mut Ssl) -> &'a Verifier {
    // SAFETY: by the caller's promise.
    unsafe { &*(*ssl).ex_data[0].cast::<Verifier>() }
}

/// # Safety
/// As for [`ex_data_mut`], and the slot is not null.
unsafe fn stats<'a>(ssl: *mut Ssl) -> &'a mut Stats {
    // SAFETY: by the caller's promise.
    unsafe { &mut *(*ssl).ex_data[1].cast::<Stats>() }
}

/// `SSL_verify_cb`-like: `int (*)(int ok, SSL *ssl)`.
type VerifyCb = unsafe extern "C" fn(c_int, *mut Ssl) -> c_int;

/// OpenSSL calling the verify callback once per certificate depth.
///
/// # Safety
/// `ssl` carries the user data `cb` fetches.
unsafe fn verify_chain(cb: VerifyCb, ssl: *mut Ssl, depths: c_int) -> Vec<c_int> {
    // SAFETY: forwarded.
    (0..depths).map(|depth| unsafe { cb(depth, ssl) }).collect()
}

// `&T` for `&T`.
#[callback(
    // SAFETY: the simulated OpenSSL passes a valid `SSL` whose slot 0 holds
    // a `Verifier`.
    user_data = unsafe { verifier(ssl) },
    fallback = -1
)]
extern "C" fn verify_ref(depth: c_int, ssl: *mut Ssl, #[user_data] v: &Verifier) -> c_int {
    v.calls.set(v.calls.get() + 1);
    c_int::from(depth <= v.depth_limit)
}

// `&mut T` for `&mut T`.
#[callback(
    // SAFETY: as above; slot 1 holds `Stats`, used only by this call.
    user_data = unsafe { stats(ssl) },
    fallback = -1
)]
extern "C" fn verify_mut(depth: c_int, ssl: *mut Ssl, #[user_data] s: &mut Stats) -> c_int {
    s.verified.push(depth);
    1
}

// `Option<&T>` for `&T`: `None` is refused.
#[callback(
    // SAFETY: as above; slot 0 is null or holds a `Verifier`.
    user_data = unsafe { ex_data::<Verifier>(ssl, 0) },
    fallback = -1
)]
extern "C" fn verify_lookup(depth: c_int, ssl: *mut Ssl, #[user_data] v: &Verifier) -> c_int {
    v.calls.set(v.calls.get() + 1);
    c_int::from(depth <= v.depth_limit)
}

// `Option<&mut T>` for `&mut T`: `None` is refused.
#[callback(
    // SAFETY: as above; slot 1 is null or holds `Stats`.
    user_data = unsafe { ex_data_mut::<Stats>(ssl, 1) },
    fallback = -1
)]
extern "C" fn verify_lookup_mut(depth: c_int, ssl: *mut Ssl, #[user_data] s: &mut Stats) -> c_int {
    s.verified.push(depth);
    1
}

// `Option<&T>` for `Option<&T>`: `None` reaches the body.
#[callback(
    // SAFETY: as above.
    user_data = unsafe { ex_data::<Verifier>(ssl, 0) },
    fallback = -1
)]
extern "C" fn verify_optional(
    depth: c_int,
    ssl: *mut Ssl,
    #[user_data] v: Option<&Verifier>,
) -> c_int {
    match v {
        Some(v) => c_int::from(depth <= v.depth_limit),
        None => 7,
    }
}

// `Option<&mut T>` for `Option<&mut T>`.
#[callback(
    // SAFETY: as above.
    user_data = unsafe { ex_data_mut::<Stats>(ssl, 1) },
    fallback = -1
)]
extern "C" fn verify_optional_mut(
    depth: c_int,
    ssl: *mut Ssl,
    #[user_data] s: Option<&mut Stats>,
) -> c_int {
    match s {
        Some(s) => {
            s.verified.push(depth);
            1
        }
        None => 7,
    }
}

fn verifier_value() -> Verifier {
    Verifier {
        calls: Cell::new(0),
        depth_limit: 1,
    }
}

#[test]
fn accessor_returning_references_gives_the_callback_its_state() {
    let v = verifier_value();
    let mut s = Stats {
        verified: Vec::new(),
    };
    let mut ssl = ssl_with(&v, &mut s);
    let ssl_ptr = &raw mut ssl;
    // SAFETY: `ssl` carries a live `Verifier` and `Stats` for every call.
    let got = resume_panics(|| unsafe {
        [
            verify_chain(verify_ref, ssl_ptr, 3),
            verify_chain(verify_lookup, ssl_ptr, 3),
            verify_chain(verify_optional, ssl_ptr, 3),
            verify_chain(verify_mut, ssl_ptr, 2),
            verify_chain(verify_lookup_mut, ssl_ptr, 2),
            verify_chain(verify_optional_mut, ssl_ptr, 2),
        ]
    });
    assert_eq!(
        got,
        [
            vec![1, 1, 0],
            vec![1, 1, 0],
            vec![1, 1, 0],
            vec![1, 1],
            vec![1, 1],
            vec![1, 1]
        ]
    );
    assert_eq!(v.calls.get(), 6);
    assert_eq!(s.verified, [0, 1, 0, 1, 0, 1]);
}

#[test]
fn accessor_returning_none_for_a_reference_is_refused() {
    let mut ssl = Ssl {
        ex_data: [ptr::null_mut(); 2],
    };
    let ssl_ptr = &raw mut ssl;
    for (cb, received) in [
        (
            verify_lookup as VerifyCb,
            "&simulated_lessons::accessors::Verifier",
        ),
        (
            verify_lookup_mut as VerifyCb,
            "&mut simulated_lessons::accessors::Stats",
        ),
    ] {
        let mut got = Vec::new();
        let payload = panic_payload(|| {
            resume_panics(|| {
                // SAFETY: the slots are null, which the callbacks refuse.
                got = unsafe { verify_chain(cb, ssl_ptr, 2) };
            })
        });
        assert_eq!(got, [-1, -1]);
        let msg = message(&*payload);
        assert!(
            msg.starts_with("ffi-callback: `simulated_lessons::accessors::verify_lookup"),
            "{msg}"
        );
        assert!(
            msg.ends_with(&format!(
                "refused the call: its user data is null, but it receives it as `{received}`"
            )),
            "{msg}"
        );
    }
}

#[test]
fn accessor_returning_none_for_an_option_reaches_the_body() {
    let mut ssl = Ssl {
        ex_data: [ptr::null_mut(); 2],
    };
    let ssl_ptr = &raw mut ssl;
    // SAFETY: the slots are null, which the callbacks receive as `None`.
    let got = unsafe {
        [
            verify_chain(verify_optional, ssl_ptr, 2),
            verify_chain(verify_optional_mut, ssl_ptr, 2),
        ]
    };
    assert_eq!(got, [[7, 7], [7, 7]].map(Vec::from));
}
