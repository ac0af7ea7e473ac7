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

#[callback(preset = unsafe(git_callback))]
extern "C" fn transfer_progress(done: c_int, #[user_data] seen: &mut Vec<c_int>) -> c_int {
    assert!(done != 1, "expected: transfer 1");
    seen.push(done);
    0
}

/// The same preset, named by path, with the callback's own fallback.
#[callback(preset = unsafe(crate::presets::git_callback), fallback = -1)]
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
#[callback(preset = unsafe(git_callback))]
type Credentials = extern "C" fn(#[user_data] payload: *mut c_void, attempt: c_int) -> c_int;

/// The same, with its own fallback.
#[callback(preset = unsafe(git_callback), fallback = -3)]
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

ffi_callback::preset! {
    /// Options that read the callback's C parameters (`n`) and its error
    /// (`e`), as the same options written on the callback would.
    pub(crate) reads_parameters = (on_panic = fallback, fallback = -n, on_error = e.code - n);
}

ffi_callback::preset! {
    /// The user data fetched from a C parameter (`ctx`), as a binding
    /// fetches it with `sqlite3_user_data(ctx)`.
    pub(crate) from_context = (user_data = ctx);
}

ffi_callback::preset! {
    /// The same through an `unsafe` C accessor, as sqlite's.
    pub(crate) from_context_unsafely = (user_data = unsafe { context_user_data(ctx) });
}

/// A C accessor of the user data a context carries (`sqlite3_user_data`).
///
/// # Safety
/// `ctx` is a context C made.
unsafe fn context_user_data(ctx: *mut c_void) -> *mut c_void {
    ctx
}

/// An error with the code C should get.
#[derive(Debug)]
pub(crate) struct Failure {
    code: c_int,
}

#[callback(preset = reads_parameters)]
extern "C" fn fails_at_two(n: c_int, #[user_data] seen: &mut Vec<c_int>) -> Result<c_int, Failure> {
    assert!(n != 1, "expected: fails_at_two 1");
    if n == 2 {
        return Err(Failure { code: 100 });
    }
    seen.push(n);
    Ok(n)
}

#[callback(preset = reads_parameters, error = Failure)]
type FailsAtTwo = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

#[callback(preset = from_context)]
extern "C" fn adds_to_context(ctx: *mut c_void, n: c_int, #[user_data] total: &mut c_int) -> c_int {
    let _ = ctx;
    *total += n;
    *total
}

#[callback(preset = unsafe(from_context_unsafely))]
extern "C" fn adds_to_context_unsafely(
    ctx: *mut c_void,
    n: c_int,
    #[user_data] total: &mut c_int,
) -> c_int {
    let _ = ctx;
    *total += n;
    *total
}

#[test]
fn a_presets_expressions_read_the_callbacks_parameters_and_error() {
    let mut seen = Vec::new();
    let ud = fails_at_two::user_data(&mut seen);
    let (got, reports) = panics_during(|| {
        ffi_callback::try_resume::<_, Failure>(|| {
            (0..4)
                .map(|n| {
                    // SAFETY: `ud` is the `&mut Vec` made above, alive and
                    // unused meanwhile.
                    unsafe { fails_at_two(n, ud) }
                })
                .collect::<Vec<_>>()
        })
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    // The error comes back to the caller (`on_panic = fallback` does not
    // poison: 3 still runs).
    assert_eq!(got.map_err(|e| e.code).unwrap_err(), 100);
    assert_eq!(seen, [0, 3]);

    let got = FailsAtTwo::try_scope(
        |n| -> Result<c_int, Failure> {
            if n == 2 {
                return Err(Failure { code: 50 });
            }
            Ok(n)
        },
        // SAFETY: `scope` keeps the holder alive for the calls.
        |f, ud| (0..4).map(|n| unsafe { f(ud, n) }).collect::<Vec<_>>(),
    );
    assert_eq!(got.map_err(|e| e.code).unwrap_err(), 50);

    let mut total = 0;
    // SAFETY: `ctx` is the `&mut c_int` made by `user_data`, alive and
    // unused meanwhile.
    let got =
        resume_panics(|| unsafe { adds_to_context(adds_to_context::user_data(&mut total), 5) });
    assert_eq!((got, total), (5, 5));
    let ctx = adds_to_context_unsafely::user_data(&mut total);
    // SAFETY: as above.
    let got = resume_panics(|| unsafe { adds_to_context_unsafely(ctx, 2) });
    assert_eq!((got, total), (7, 7));
}

/// C's view of the same: what each call returned.
#[test]
fn a_presets_expressions_give_c_their_values() {
    let mut seen = Vec::new();
    let ud = fails_at_two::user_data(&mut seen);
    let (got, _) = panics_during(|| {
        (0..4)
            .map(|n| {
                // SAFETY: as above.
                unsafe { fails_at_two(n, ud) }
            })
            .collect::<Vec<_>>()
    });
    // 1: the panic's `fallback = -n`; 2: `on_error = e.code - n` (the error
    // is reported: no `try_resume` here); 0 and 3 are the callback's own.
    assert_eq!(got, [0, -1, 98, 3]);
    assert_eq!(seen, [0, 3]);
}
