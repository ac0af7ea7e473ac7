//! C calls a once-callback twice (also from inside its first call),
//! destroys twice during a call, and calls a callback after its destroy
//! while the free is still deferred: each refused or absorbed while the
//! holder is alive. (After the free nothing can be checked: see the crate
//! root's docs.)

use super::*;

#[test]
fn c_calls_a_once_callback_twice() {
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let calls2 = calls.clone();
    let raw = Hook::once(move |n| {
        drop(track);
        calls2.set(calls2.get() + 1);
        n + 1
    })
    .into_raw_with_destroy();
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: two calls before the destroy are within the API (the
            // second is refused).
            got.push(unsafe { (raw.function)(raw.user_data, 1) });
            // SAFETY: as above.
            got.push(unsafe { (raw.function)(raw.user_data, 2) });
        })
    });
    assert_eq!(got, [2, -1]);
    assert_eq!((calls.get(), drops.get()), (1, 1));
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::Hook` refused the call: it was called a second time, but its \
         closure is `FnOnce` and the first call consumed it"
    );
    // SAFETY: the destroy-notify, once.
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_calls_a_scope_once_callback_twice() {
    // A password prompt C should ask once, asked twice during the call.
    let (track, drops) = tracked();
    let calls = Cell::new(0);
    let mut got = Vec::new();
    let payload = panic_payload(|| {
        Hook::scope_once(
            |n| {
                drop(track);
                calls.set(calls.get() + 1);
                n * 3
            },
            // SAFETY: `f`/`ud` are alive for the scope; C calls twice.
            |f, ud| got = unsafe { vec![f(ud, 1), f(ud, 2)] },
        )
    });
    assert_eq!(got, [3, -1]);
    assert_eq!((calls.get(), drops.get()), (1, 1));
    assert_eq!(
        message(&*payload),
        "ffi-callback: `hostile_c::Hook` refused the call: it was called a second time, but its \
         closure is `FnOnce` and the first call consumed it"
    );
}

#[test]
fn c_calls_a_once_callback_again_from_inside_its_call() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let inner = Rc::new(Cell::new(0));
    let inner2 = inner.clone();
    let raw = Hook::once(move |n| {
        let _ = &track;
        // SAFETY: the registry is valid; C calls the same once-callback
        // again while its first call runs.
        inner2.set(unsafe { c_hook_fire(reg_ptr, n + 1) });
        n
    })
    .into_raw_with_destroy();
    // SAFETY: the registry owns the once-callback and destroys it once.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    let mut got = 0;
    // SAFETY: the registry is valid.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { c_hook_fire(reg_ptr, 1) }));
    assert_eq!((got, inner.get()), (1, -1));
    assert!(
        message(&*payload).starts_with(
            "ffi-callback: `hostile_c::Hook` refused the call: it was called a second time"
        ),
        "{}",
        message(&*payload)
    );
    assert_eq!(drops.get(), 1, "consumed by the first call");
    // SAFETY: destroys it, once.
    unsafe { c_hook_clear(reg_ptr) };
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_destroys_twice_during_the_call() {
    // C's bug; while the call runs the holder is still alive, so the second
    // destroy finds the first one pending and adds nothing: freed once,
    // after the call. (A second destroy after the free reads freed memory:
    // not testable, C's bug; see the module docs.)
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let raw = Hook::boxed(move |n| {
        let _ = &track;
        // SAFETY: the registry is valid; the buggy C destroys the running
        // hook twice.
        unsafe {
            c_hook_destroy_but_keep(reg_ptr);
            c_hook_destroy_but_keep(reg_ptr);
        }
        n
    })
    .into_raw();
    // SAFETY: the registry owns the hook.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    // SAFETY: the registry is valid; its hook is alive for this call.
    let got = resume_panics(|| unsafe { c_hook_fire(reg_ptr, 9) });
    assert_eq!(got, 9);
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_calls_after_destroy_while_the_free_is_deferred() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let inner = Rc::new(Cell::new(0));
    let inner2 = inner.clone();
    let raw = ReentrantHook::boxed(move |n| {
        let _ = &track;
        if n == 0 {
            // SAFETY: the registry is valid. The buggy C destroys the
            // running hook but keeps it registered, and calls it again
            // (re-entry is allowed for this type: only the destroy refuses).
            unsafe {
                c_hook_destroy_but_keep(reg_ptr);
                inner2.set(c_hook_fire(reg_ptr, 1));
            }
        }
        n + 50
    })
    .into_raw();
    // SAFETY: the registry owns the hook.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    let mut got = 0;
    // SAFETY: the registry is valid; the hook is alive for this call.
    let payload = panic_payload(|| resume_panics(|| got = unsafe { c_hook_fire(reg_ptr, 0) }));
    assert_eq!((got, inner.get()), (50, -1));
    // The refusal for a destroyed holder (not the re-entry one: this type
    // may be re-entered).
    let msg = message(&*payload);
    assert!(
        msg.starts_with(
            "ffi-callback: `hostile_c::ReentrantHook` refused the call: it was called after it \
             was destroyed (by C's destroy-notify or destroy entry, or by Rust dropping its owner)"
        ),
        "{msg}"
    );
    assert_eq!(drops.get(), 1);
}
