//! Issue 17.3: `scope_once` takes an `FnOnce` for a C call that calls back
//! at most once (a password callback): one call gets the closure's value, a
//! second is refused, and a closure never called is dropped when the scope
//! ends.

use std::ffi::{c_char, c_int, c_void};

use ffi_callback::{ReportKind, callback};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

use crate::{reporter, tracked};

/// `pem_password_cb`: writes the password into `buf`, returns its length.
#[callback(fallback = -1)]
type PemPassword = unsafe extern "C" fn(
    buf: *mut c_char,
    size: c_int,
    rwflag: c_int,
    #[user_data] u: *mut c_void,
) -> c_int;

/// The same, reporting instead of resuming.
#[callback(on_panic = fallback, fallback = -1)]
type LenientPassword = unsafe extern "C" fn(
    buf: *mut c_char,
    size: c_int,
    rwflag: c_int,
    #[user_data] u: *mut c_void,
) -> c_int;

type PasswordFn = unsafe extern "C" fn(*mut c_char, c_int, c_int, *mut c_void) -> c_int;

/// `PEM_read_bio_PrivateKey`: asks for the password `asks` times; what each
/// call returned, and the password the first call wrote.
///
/// # Safety
/// `u` is what `cb` expects.
unsafe fn read_key(cb: PasswordFn, u: *mut c_void, asks: usize) -> (Vec<c_int>, Vec<u8>) {
    let mut buf = [0 as c_char; 16];
    let mut results = Vec::new();
    let mut first = Vec::new();
    for _ in 0..asks {
        // SAFETY: forwarded; `buf` has room for 16 bytes.
        let n = unsafe { cb(buf.as_mut_ptr(), 16, 0, u) };
        if first.is_empty() && n > 0 {
            first = buf[..n as usize].iter().map(|&c| c as u8).collect();
        }
        results.push(n);
    }
    (results, first)
}

/// Writes `password` into the C buffer (a closure's body).
fn write_password(password: &[u8], buf: *mut c_char, size: c_int) -> c_int {
    let n = password.len().min(size as usize);
    // SAFETY: C passes a buffer of `size` bytes.
    unsafe { std::ptr::copy_nonoverlapping(password.as_ptr().cast(), buf, n) };
    n as c_int
}

#[test]
fn scope_once_called_once_returns_the_c_calls_value_and_consumes_the_closure() {
    let (track, drops) = tracked();
    let password = b"hunter2".to_vec();
    let got = PemPassword::scope_once(
        move |buf, size, _rwflag| {
            let _track = track;
            // `FnOnce`: the password moves out of the closure.
            let password = password;
            write_password(&password, buf, size)
        },
        |cb, u| {
            // SAFETY: `cb`/`u` are alive for the scope.
            let got = unsafe { read_key(cb, u, 1) };
            // The call consumed the closure (and dropped it).
            (got, drops.get())
        },
    );
    assert_eq!(got, ((vec![7], b"hunter2".to_vec()), 1));
}

#[test]
fn scope_once_called_twice_refuses_the_second_call() {
    let calls = std::cell::Cell::new(0);
    let mut got = (Vec::new(), Vec::new());
    let payload = panic_payload(|| {
        PemPassword::scope_once(
            |buf, size, _rwflag| {
                calls.set(calls.get() + 1);
                write_password(b"pw", buf, size)
            },
            // SAFETY: `cb`/`u` are alive for the scope.
            |cb, u| got = unsafe { read_key(cb, u, 2) },
        )
    });
    assert_eq!(got, (vec![2, -1], b"pw".to_vec()));
    assert_eq!(calls.get(), 1);
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `simulated_lessons::scope_once::PemPassword` refused the call: it was \
             called a second time, but its closure is `FnOnce`"
        ),
        "{msg}"
    );
}

#[test]
fn scope_once_called_twice_under_fallback_reports_and_returns_the_value() {
    let recording = reporter::recording();
    let ((results, first), raised) = panics_during(|| {
        LenientPassword::scope_once(
            |buf, size, _rwflag| write_password(b"pw", buf, size),
            // SAFETY: `cb`/`u` are alive for the scope.
            |cb, u| unsafe { read_key(cb, u, 3) },
        )
    });
    assert_eq!((results, first), (vec![2, -1, -1], b"pw".to_vec()));
    assert_eq!(raised.len(), 2, "{raised:?}");
    assert!(raised[0].contains("called a second time"), "{raised:?}");
    // Each refusal went to the reporter, with its reason.
    let reports = recording.about(concat!(module_path!(), "::LenientPassword"));
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports.iter().all(|r| r.kind == ReportKind::Refused));
    assert_eq!(
        reports[0].panic_message.as_deref(),
        Some(
            "it was called a second time, but its closure is `FnOnce` and was already taken (by the first call, or by `Once::into_inner`)"
        )
    );
}

#[test]
fn scope_once_not_called_drops_the_closure_when_the_scope_ends() {
    let (track, drops) = tracked();
    let inside = PemPassword::scope_once(
        move |buf, size, _rwflag| {
            let _track = track;
            write_password(b"never", buf, size)
        },
        // C decides it needs no password.
        |_cb, _u| drops.get(),
    );
    assert_eq!(inside, 0, "alive while the scope runs");
    assert_eq!(drops.get(), 1, "dropped when it ends");
}
