//! C keeps calling after an error (expat delivers the rest of the document,
//! curl keeps calling its socket function): a kept panic or `Err` poisons,
//! later calls get the fallback without running user code, and once the
//! guard has returned the callback runs again. Owned user data that reaches
//! a poisoned thread is dropped, not leaked.

use super::*;

#[derive(Default)]
struct Parse {
    events: Vec<(char, c_int)>,
}

#[callback(fallback = -1)]
extern "C" fn on_start(tag: c_int, #[user_data] parse: &mut Parse) -> c_int {
    assert!(tag != 1, "expected: bad start tag");
    parse.events.push(('<', tag));
    0
}

#[callback(fallback = -1)]
extern "C" fn on_end(tag: c_int, #[user_data] parse: &mut Parse) -> c_int {
    parse.events.push(('>', tag));
    0
}

/// expat: for each element, the start then the end handler, with one user
/// data; it goes on to the end of the document whatever they return.
unsafe extern "C" fn c_parse(start: Visit, end: Visit, ud: *mut c_void, n: c_int, out: *mut c_int) {
    for tag in 0..n {
        // SAFETY: the caller passes the user data both handlers expect, and
        // `out` with room for `2 * n` ints.
        unsafe {
            *out.add(2 * tag as usize) = start(tag, ud);
            *out.add(2 * tag as usize + 1) = end(tag, ud);
        }
    }
}

/// # Safety
/// `ud` is what `start` and `end` expect.
unsafe fn parse(start: Visit, end: Visit, ud: *mut c_void, n: c_int) -> Vec<c_int> {
    let mut out = vec![c_int::MIN; 2 * n as usize];
    // SAFETY: forwarded; `out` has room for `2 * n` ints.
    unsafe { c_parse(start, end, ud, n, out.as_mut_ptr()) };
    out
}

#[test]
fn c_keeps_delivering_events_after_a_handler_panicked() {
    let mut doc = Parse::default();
    let mut results = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: both handlers receive `&mut Parse`, alive and
            // otherwise unused meanwhile.
            results = unsafe { parse(on_start, on_end, on_start::user_data(&mut doc), 3) };
        })
    });
    assert_eq!(message(&*payload), "expected: bad start tag");
    // Every call after the panic, of either handler, got the fallback
    // without running user code on the broken state.
    assert_eq!(results, [0, 0, -1, -1, -1, -1]);
    assert_eq!(doc.events, [('<', 0), ('>', 0)]);

    // The guard returned: the next document runs the handlers again.
    // SAFETY: as above.
    let again =
        resume_panics(|| unsafe { parse(on_start, on_end, on_start::user_data(&mut doc), 1) });
    assert_eq!(again, [0, 0]);
    assert_eq!(doc.events, [('<', 0), ('>', 0), ('<', 0), ('>', 0)]);
}

#[test]
fn c_keeps_calling_a_boxed_hook_after_it_panicked() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let calls2 = calls.clone();
    let raw = Hook::boxed(move |n| {
        let _ = &track;
        calls2.set(calls2.get() + 1);
        assert!(n != 1, "expected: hook panic");
        n * 2
    })
    .into_raw();
    // SAFETY: the registry owns the hook until it is cleared.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    let mut during = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            for n in 0..4 {
                // SAFETY: the registry is valid; its hook is alive.
                during.push(unsafe { c_hook_fire(reg_ptr, n) });
            }
        })
    });
    assert_eq!(message(&*payload), "expected: hook panic");
    assert_eq!(during, [0, -1, -1, -1]);
    assert_eq!(calls.get(), 2);
    // The panic reached the Rust caller: the hook C keeps runs again.
    // SAFETY: as above.
    assert_eq!(unsafe { c_hook_fire(reg_ptr, 3) }, 6);
    assert_eq!(calls.get(), 3);
    // SAFETY: destroys the hook, once.
    unsafe { c_hook_clear(reg_ptr) };
    assert_eq!(drops.get(), 1);
}

#[derive(Debug, PartialEq)]
struct RowError(c_int);

#[test]
fn c_keeps_calling_after_the_callback_returned_an_error() {
    let runs = Cell::new(0);
    let mut results = Vec::new();
    let got = Hook::try_scope(
        |n| -> Result<c_int, RowError> {
            runs.set(runs.get() + 1);
            if n == 1 { Err(RowError(n)) } else { Ok(n + 10) }
        },
        |f, ud| {
            // SAFETY: `f`/`ud` are alive for the scope; C calls four times
            // whatever the callback returns.
            results = (0..4).map(|n| unsafe { f(ud, n) }).collect();
        },
    );
    assert_eq!(got, Err(RowError(1)));
    // The error's call and every later one got the fallback; the closure
    // did not run on after the error.
    assert_eq!(results, [10, -1, -1, -1]);
    assert_eq!(runs.get(), 2);
}

#[callback]
extern "C" fn explode(n: c_int) -> c_int {
    panic_any(Boom(n))
}

static FINALIZE_RUNS: AtomicU32 = AtomicU32::new(0);

/// sqlite's `xFinal`-style: the context's user data is handed back owned.
#[callback(
    // SAFETY: the simulated C passes a valid context.
    user_data = unsafe { c_ctx_user_data(ctx) },
    fallback = -8
)]
extern "C" fn finalize(ctx: *mut Ctx, #[user_data] state: Box<Owned>) -> c_int {
    let _ = ctx;
    FINALIZE_RUNS.fetch_add(1, Ordering::SeqCst);
    state.value
}

#[test]
fn c_hands_back_owned_user_data_through_an_accessor_on_a_poisoned_thread() {
    let (boxed, drops) = owned(11);
    let mut ctx = Ctx {
        user_data: finalize::user_data(boxed),
    };
    let mut got = 0;
    let payload = panic_payload(|| {
        resume_panics(|| {
            // Poisons the thread's guard.
            explode(1);
            // SAFETY: the context carries the box `finalize` receives,
            // handed back once.
            got = unsafe { finalize(&mut ctx) };
        })
    });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(1)));
    // User code did not run, but the box came back and was dropped, once.
    assert_eq!((got, FINALIZE_RUNS.load(Ordering::SeqCst)), (-8, 0));
    assert_eq!(drops.get(), 1);
}

/// A handler that counts the times its body runs, and panics on 1.
#[callback(fallback = -1)]
extern "C" fn on_counted(n: c_int, #[user_data] runs: &Cell<u32>) -> c_int {
    runs.set(runs.get() + 1);
    assert!(n != 1, "expected: counted handler panics on 1");
    0
}

#[test]
fn c_calls_a_holder_that_guards_its_own_c_call_while_a_panic_is_kept() {
    let runs = Cell::new(0);
    let ud = on_counted::user_data(&runs);
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        Hook::scope(
            |n| {
                // A holder (not poisoned: it did not panic) wraps a C call of
                // its own in a guard while the scope's guard holds a panic.
                // SAFETY: `runs` is alive; the handler only reads it.
                resume_panics(|| unsafe { c_call(on_counted, ud, n) })
            },
            |hook, hook_ud| {
                // SAFETY: the handler's user data is `runs`, alive; the
                // hook's is the scope's.
                unsafe {
                    got.push(c_call(on_counted, ud, 1)); // panics: kept, thread poisoned
                    got.push(c_call(on_counted, ud, 3)); // poisoned: the fallback
                    got.push(hook(hook_ud, 2)); // the inner guard is poisoned too
                }
            },
        )
    });
    assert_eq!(message(&*payload), "expected: counted handler panics on 1");
    assert_eq!(got, [-1, -1, -1]);
    assert_eq!(
        runs.get(),
        1,
        "no handler body ran while the panic was kept"
    );
    // The scope returned: the handler runs again, also under a nested guard.
    let again = Hook::scope(
        // SAFETY: as above.
        |n| resume_panics(|| unsafe { c_call(on_counted, ud, n) }),
        // SAFETY: the hook's own user data.
        |hook, hook_ud| unsafe { hook(hook_ud, 2) },
    );
    assert_eq!((again, runs.get()), (0, 2));
}
