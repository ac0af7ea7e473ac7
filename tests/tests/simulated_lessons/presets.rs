//! Issue 16.4: a binding declares its defaults once with
//! `ffi_callback::preset!`, every `#[callback(preset = ..)]` applies them,
//! and a callback's own option overrides the preset's.

use std::ffi::{c_int, c_void};

use ffi_callback::{callback, resume_panics};

use ffi_callback_tests::panics::{message, panic_payload, panics_during};

ffi_callback::preset! {
    /// libgit2's conventions: its -sys crate types every callback as a safe
    /// fn pointer, and `GIT_EUSER` (-7) tells it that the callback failed.
    pub(crate) git_callback = (unsafe(safe_fn), fallback = -7);
}

ffi_callback::preset! {
    /// Panics become a `-2` for C and a report.
    pub(crate) lenient = (on_panic = fallback, fallback = -2);
}

/// `git_indexer_progress_cb`, as libgit2-sys types it: a safe fn pointer.
type GitProgressCb = extern "C" fn(c_int, *mut c_void) -> c_int;

/// `for (i = 0; i < n; i++) out[i] = cb(i, payload);`
fn git_fetch(cb: GitProgressCb, payload: *mut c_void, n: c_int) -> Vec<c_int> {
    (0..n).map(|i| cb(i, payload)).collect()
}

#[callback(preset = git_callback)]
extern "C" fn transfer_progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    assert!(done != 1, "expected: transfer 1");
    seen.push(done);
    0
}

/// The same preset, named by path, with the callback's own fallback.
#[callback(preset = crate::presets::git_callback, fallback = -1)]
extern "C" fn sideband_progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    assert!(done != 1, "expected: sideband 1");
    seen.push(done);
    0
}

#[test]
fn preset_on_a_fn_gives_a_safe_fn_and_its_fallback() {
    let mut seen = Vec::new();
    // `unsafe(safe_fn)` from the preset: the shim is a safe fn.
    let cb: GitProgressCb = transfer_progress;
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| got = git_fetch(cb, transfer_progress::user_data(&mut seen), 3))
    });
    assert_eq!(message(&*payload), "expected: transfer 1");
    // `fallback = -7` from the preset.
    assert_eq!(got, [0, -7, -7]);
    assert_eq!(seen, [0]);
}

#[test]
fn a_fns_own_option_overrides_the_presets() {
    let mut seen = Vec::new();
    let cb: GitProgressCb = sideband_progress;
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| got = git_fetch(cb, sideband_progress::user_data(&mut seen), 3))
    });
    assert_eq!(message(&*payload), "expected: sideband 1");
    assert_eq!(got, [0, -1, -1]);
    assert_eq!(seen, [0]);
}

#[callback(preset = lenient)]
extern "C" fn lenient_visit(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    assert!(n != 1, "expected: lenient 1");
    seen.push(n);
    n
}

/// The preset's policy overridden: this one resumes (and keeps the
/// preset's fallback, which `resume` uses too).
#[callback(preset = lenient, on_panic = resume)]
extern "C" fn strict_visit(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    assert!(n != 1, "expected: strict 1");
    seen.push(n);
    n
}

/// `for (i = 0; i < n; i++) out[i] = cb(i, ud);` for unsafe shims.
///
/// # Safety
/// `ud` is what `cb` expects.
unsafe fn visit_all(
    cb: unsafe extern "C" fn(c_int, *mut c_void) -> c_int,
    ud: *mut c_void,
    n: c_int,
) -> Vec<c_int> {
    // SAFETY: forwarded.
    (0..n).map(|i| unsafe { cb(i, ud) }).collect()
}

#[test]
fn a_presets_policy_applies_and_a_fns_own_policy_overrides_it() {
    let mut seen = Vec::new();
    // `on_panic = fallback` from the preset: no guard needed, no poison.
    let (got, raised) = panics_during(|| {
        // SAFETY: `lenient_visit` receives `&mut Vec<c_int>`.
        unsafe { visit_all(lenient_visit, lenient_visit::user_data(&mut seen), 3) }
    });
    assert_eq!(got, [0, -2, 2]);
    assert_eq!(seen, [0, 2]);
    assert_eq!(raised, ["expected: lenient 1"]);

    let mut seen = Vec::new();
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `strict_visit` receives `&mut Vec<c_int>`.
            got = unsafe { visit_all(strict_visit, strict_visit::user_data(&mut seen), 3) };
        })
    });
    assert_eq!(message(&*payload), "expected: strict 1");
    assert_eq!(got, [0, -2, -2]);
    assert_eq!(seen, [0]);
}

/// `git_credential_acquire_cb`-like, as a callback type: a safe fn pointer
/// type that carries user data, allowed by the preset's `unsafe(safe_fn)`.
#[callback(preset = git_callback)]
type Credentials = extern "C" fn(#[user_data] payload: *mut c_void, attempt: c_int) -> c_int;

/// The same, with its own fallback.
#[callback(preset = git_callback, fallback = -3)]
type Certificate = extern "C" fn(#[user_data] payload: *mut c_void, depth: c_int) -> c_int;

#[test]
fn preset_on_a_type_gives_a_safe_fn_pointer_and_its_fallback() {
    let mut attempts = Vec::new();
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        Credentials::scope(
            |attempt| {
                attempts.push(attempt);
                assert!(attempt < 1, "expected: second attempt");
                0
            },
            // Safe calls: the preset made the trampoline a safe fn.
            |f: extern "C" fn(*mut c_void, c_int) -> c_int, payload| {
                got = (0..3).map(|i| f(payload, i)).collect();
            },
        )
    });
    assert_eq!(message(&*payload), "expected: second attempt");
    assert_eq!(got, [0, -7, -7]);
    assert_eq!(attempts, [0, 1]);
}

#[test]
fn a_types_own_option_overrides_the_presets() {
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        Certificate::scope(
            |depth| -> c_int { panic!("expected: certificate {depth}") },
            |f, payload| got = (0..2).map(|i| f(payload, i)).collect(),
        )
    });
    assert_eq!(message(&*payload), "expected: certificate 0");
    assert_eq!(got, [-3, -3]);
}
