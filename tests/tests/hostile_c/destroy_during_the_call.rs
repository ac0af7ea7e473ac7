//! C destroys a callback during its own call: from inside the closure, from
//! a nested call, by replacing a hook from inside the hook (sqlite), by
//! removing a GLib source in its dispatch, and Rust dropping its own `Boxed`
//! from inside its call. The free is deferred until the last running call
//! returns, then happens exactly once (drop counters here, Miri for the
//! use-after-free).

use super::*;

#[test]
fn c_destroys_a_boxed_callback_during_its_call() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let drops_inside = Rc::new(Cell::new(u32::MAX));
    let (drops2, inside2) = (drops.clone(), drops_inside.clone());
    let raw = Hook::boxed(move |n| {
        let _ = &track;
        // SAFETY: the registry is valid; clearing it destroys this very
        // hook while it runs, which the crate defers.
        unsafe { c_hook_clear(reg_ptr) };
        // Still alive: this closure and its captures are in use.
        inside2.set(drops2.get());
        n + 1
    })
    .into_raw();
    // SAFETY: the registry owns the hook; it destroys it once.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    // SAFETY: the registry is valid.
    let got = resume_panics(|| unsafe { c_hook_fire(reg_ptr, 1) });
    assert_eq!(got, 2);
    assert_eq!(drops_inside.get(), 0, "not freed under the running call");
    assert_eq!(drops.get(), 1, "freed once the call returned");
    // The registry is empty now.
    // SAFETY: as above.
    assert_eq!(unsafe { c_hook_fire(reg_ptr, 1) }, c_int::MIN);
}

#[test]
fn c_destroys_a_boxed_callback_during_its_call_which_then_panics() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let raw = Hook::boxed(move |n| -> c_int {
        let _ = &track;
        // SAFETY: as in the test above.
        unsafe { c_hook_clear(reg_ptr) };
        panic_any(Boom(n))
    })
    .into_raw();
    // SAFETY: the registry owns the hook; it destroys it once.
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
    let payload = panic_payload(|| resume_panics(|| got = unsafe { c_hook_fire(reg_ptr, 5) }));
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(5)));
    assert_eq!(got, -1);
    // Poisoned and destroyed at once: freed when the call left, once.
    assert_eq!(drops.get(), 1);
}

/// A hook for a C library built with unwinding (`-fexceptions`).
#[callback(on_panic = unwind)]
type UnwindHook = unsafe extern "C-unwind" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

/// A registry for `UnwindHook`: its destroy-notify has the type's ABI.
#[repr(C)]
struct UnwindRegistry {
    ud: *mut c_void,
    destroy: Option<unsafe extern "C-unwind" fn(*mut c_void)>,
}

unsafe extern "C-unwind" fn c_unwind_clear(reg: *mut UnwindRegistry) {
    // SAFETY: the caller passes a valid registry; its destroy-notify is
    // called once.
    unsafe {
        if let Some(destroy) = (*reg).destroy.take() {
            destroy((*reg).ud);
        }
    }
}

#[test]
fn c_destroys_during_the_call_then_the_panic_unwinds_through_c() {
    let (track, drops) = tracked();
    let mut reg = UnwindRegistry {
        ud: ptr::null_mut(),
        destroy: None,
    };
    let reg_ptr = &raw mut reg;
    let raw = UnwindHook::boxed(move |n| -> c_int {
        let _ = &track;
        // SAFETY: the registry is valid; this destroys the running hook.
        unsafe { c_unwind_clear(reg_ptr) };
        panic_any(Boom(n))
    })
    .into_raw();
    // SAFETY: the registry owns the hook and destroys it once.
    unsafe {
        (*reg_ptr).ud = raw.user_data;
        (*reg_ptr).destroy = Some(raw.destroy);
    }
    // SAFETY: the hook is alive; the panic unwinds through the (`C-unwind`)
    // call into this frame.
    let payload = panic_payload(|| unsafe { (raw.function)(raw.user_data, 3) });
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(3)));
    // Freed on the way out of the unwinding call, once.
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_destroys_a_hook_from_a_callback_nested_inside_it() {
    // sqlite: the commit hook runs a statement (`sqlite3_exec`, a nested C
    // call with its own row callback), and that row callback unregisters
    // the commit hook.
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let drops_after_nested = Rc::new(Cell::new(u32::MAX));
    let (drops2, after2) = (drops.clone(), drops_after_nested.clone());
    let raw = Hook::boxed(move |n| {
        let _ = &track;
        let rows = Hook::scope(
            |row| {
                // SAFETY: the registry is valid; this destroys the outer
                // hook, which is running.
                unsafe { c_hook_clear(reg_ptr) };
                row
            },
            // SAFETY: `f`/`ud` are alive for the scope.
            |f, ud| unsafe { f(ud, n) },
        );
        after2.set(drops2.get());
        rows + 1
    })
    .into_raw();
    // SAFETY: the registry owns the hook; it destroys it once.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    // SAFETY: the registry is valid.
    let got = resume_panics(|| unsafe { c_hook_fire(reg_ptr, 4) });
    assert_eq!(got, 5);
    assert_eq!(drops_after_nested.get(), 0, "deferred past the nested call");
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_destroys_a_reentrant_callback_from_its_nested_call() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (track, drops) = tracked();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (drops2, seen2) = (drops.clone(), seen.clone());
    let raw = ReentrantHook::boxed(move |n| {
        let _ = &track;
        if n > 0 {
            // SAFETY: the registry is valid; C re-enters the same hook.
            let inner = unsafe { c_hook_fire(reg_ptr, n - 1) };
            seen2.borrow_mut().push((n, inner, drops2.get()));
        } else {
            // The innermost call destroys the hook, two calls deep.
            // SAFETY: as above.
            unsafe { c_hook_clear(reg_ptr) };
            seen2.borrow_mut().push((n, 0, drops2.get()));
        }
        n
    })
    .into_raw();
    // SAFETY: the registry owns the hook; it destroys it once.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    // SAFETY: the registry is valid.
    let got = resume_panics(|| unsafe { c_hook_fire(reg_ptr, 2) });
    assert_eq!(got, 2);
    // Not freed while any of the nested calls ran; freed once after the
    // outermost returned.
    assert_eq!(*seen.borrow(), [(0, 0, 0), (1, 0, 0), (2, 1, 0)]);
    assert_eq!(drops.get(), 1);
}

#[test]
fn c_replaces_a_hook_from_inside_the_hook() {
    // sqlite: the hook installs a new hook on its own connection; sqlite
    // destroys the old hook's user data at once, while the old hook runs.
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let (old_track, old_drops) = tracked();
    let (new_track, new_drops) = tracked();
    let mut new_track = Some(new_track);
    let old_drops_inside = Rc::new(Cell::new(u32::MAX));
    let (old_drops2, inside2) = (old_drops.clone(), old_drops_inside.clone());
    let raw = Hook::boxed(move |n| {
        let _ = &old_track;
        if let Some(track) = new_track.take() {
            let new = Hook::boxed(move |n| {
                let _ = &track;
                n * 100
            })
            .into_raw();
            // SAFETY: the registry is valid; it takes the new hook, and
            // destroys this (running) one.
            unsafe {
                c_hook_set(
                    reg_ptr,
                    Some(new.function),
                    new.user_data,
                    Some(new.destroy),
                )
            };
            inside2.set(old_drops2.get());
        }
        n + 1
    })
    .into_raw();
    // SAFETY: the registry owns the hook; it destroys it once.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    // SAFETY: the registry is valid.
    let (first, second) =
        resume_panics(|| unsafe { (c_hook_fire(reg_ptr, 1), c_hook_fire(reg_ptr, 2)) });
    assert_eq!(
        (first, second),
        (2, 200),
        "the old hook finished, then the new one ran"
    );
    assert_eq!(old_drops_inside.get(), 0);
    assert_eq!((old_drops.get(), new_drops.get()), (1, 0));
    // SAFETY: destroys the new hook, once.
    unsafe { c_hook_clear(reg_ptr) };
    assert_eq!((old_drops.get(), new_drops.get()), (1, 1));
}

#[test]
fn glib_removes_a_once_source_in_its_dispatch() {
    // `g_idle_add_full(.., func, data, notify)` with a once-callback; the
    // callback calls `g_source_remove` on its own source, and this GLib
    // calls the notify at once, inside the dispatch.
    let mut ctx = new_main_context();
    let ctx_ptr = &raw mut ctx;
    let (track, drops) = tracked();
    let drops_inside = Rc::new(Cell::new(u32::MAX));
    let (drops2, inside2) = (drops.clone(), drops_inside.clone());
    let raw = SourceFunc::once(move || {
        let _ = &track;
        // SAFETY: the context is valid; this destroys the running source.
        unsafe { c_source_remove(ctx_ptr) };
        inside2.set(drops2.get());
        0
    })
    .into_raw_with_destroy();
    // SAFETY: the context owns the source: at most one call, one notify.
    unsafe { c_source_attach(ctx_ptr, raw.function, raw.user_data, raw.destroy) };
    // SAFETY: the context is valid.
    let dispatched = resume_panics(|| unsafe {
        [
            c_main_context_iteration(ctx_ptr),
            c_main_context_iteration(ctx_ptr),
        ]
    });
    assert_eq!(dispatched, [true, false]);
    // The closure was moved out of its holder by the call, so the notify
    // freed only the holder; the closure's captures went at the call's end.
    assert_eq!(drops_inside.get(), 0);
    assert_eq!(drops.get(), 1);
}

#[test]
fn glib_removes_a_repeating_source_in_its_dispatch() {
    // `g_timeout_add_full` with a boxed callback that returns
    // `G_SOURCE_CONTINUE`, and on its third dispatch removes its own source.
    let mut ctx = new_main_context();
    let ctx_ptr = &raw mut ctx;
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let drops_inside = Rc::new(Cell::new(u32::MAX));
    let (calls2, drops2, inside2) = (calls.clone(), drops.clone(), drops_inside.clone());
    let raw = SourceFunc::boxed(move || {
        let _ = &track;
        calls2.set(calls2.get() + 1);
        if calls2.get() == 3 {
            // SAFETY: the context is valid; this destroys the running
            // source, which the crate defers.
            unsafe { c_source_remove(ctx_ptr) };
            inside2.set(drops2.get());
        }
        1
    })
    .into_raw();
    // SAFETY: the context owns the source and notifies once.
    unsafe { c_source_attach(ctx_ptr, raw.function, raw.user_data, raw.destroy) };
    let dispatched: Vec<bool> = resume_panics(|| {
        (0..4)
            // SAFETY: the context is valid.
            .map(|_| unsafe { c_main_context_iteration(ctx_ptr) })
            .collect()
    });
    assert_eq!(dispatched, [true, true, true, false]);
    assert_eq!(calls.get(), 3);
    assert_eq!(drops_inside.get(), 0);
    assert_eq!(drops.get(), 1);
}

/// curl's multi handle: keeps a socket function and its user data, with no
/// destroy-notify (the binding owns the callback).
#[repr(C)]
struct Multi {
    socket_fn: Option<HookPtr>,
    socket_ud: *mut c_void,
}

unsafe extern "C" fn c_multi_set_socket_fn(m: *mut Multi, f: Option<HookPtr>, ud: *mut c_void) {
    // SAFETY: the caller passes a valid handle.
    unsafe {
        (*m).socket_fn = f;
        (*m).socket_ud = ud;
    }
}

unsafe extern "C" fn c_multi_perform(m: *mut Multi, n: c_int) -> c_int {
    // SAFETY: the caller passes a valid handle whose function and user data
    // go together.
    unsafe {
        let (f, ud) = ((*m).socket_fn, (*m).socket_ud);
        match f {
            Some(f) => f(ud, n),
            None => c_int::MIN,
        }
    }
}

/// The Rust binding of a multi handle: owns the `Boxed` socket function (as
/// `dyn Any`, since the closure that reaches the binding cannot name its own
/// type).
struct MultiBinding {
    multi: *mut Multi,
    socket_fn: RefCell<Option<Box<dyn Any>>>,
}

#[test]
fn rust_owned_boxed_is_dropped_during_its_own_call() {
    let mut multi = Multi {
        socket_fn: None,
        socket_ud: ptr::null_mut(),
    };
    let binding = Rc::new(MultiBinding {
        multi: &raw mut multi,
        socket_fn: RefCell::new(None),
    });
    let (track, drops) = tracked();
    let drops_inside = Rc::new(Cell::new(u32::MAX));
    let (binding2, drops2, inside2) = (binding.clone(), drops.clone(), drops_inside.clone());
    let boxed = Hook::boxed(move |n| {
        let _ = &track;
        if n == 2 {
            // The binding's `unset_socket_function`: tell C to stop, then
            // drop the `Boxed`, which is this running closure's own.
            // SAFETY: the handle is valid.
            unsafe { c_multi_set_socket_fn(binding2.multi, None, ptr::null_mut()) };
            let owned = binding2.socket_fn.borrow_mut().take();
            drop(owned);
            inside2.set(drops2.get());
        }
        n * 10
    });
    // SAFETY: the binding keeps `boxed` (its heap address stays put) until
    // it unsets the function.
    unsafe { c_multi_set_socket_fn(binding.multi, Some(boxed.function()), boxed.user_data()) };
    *binding.socket_fn.borrow_mut() = Some(Box::new(boxed));
    let got: Vec<c_int> = resume_panics(|| {
        (1..=3)
            // SAFETY: the handle is valid.
            .map(|n| unsafe { c_multi_perform(binding.multi, n) })
            .collect()
    });
    assert_eq!(got, [10, 20, c_int::MIN]);
    assert_eq!(drops_inside.get(), 0, "the drop waited for the call");
    assert_eq!(drops.get(), 1);
    // The closure's own `Rc` to the binding went with it.
    assert_eq!(Rc::strong_count(&binding), 1);
}

#[test]
fn c_calls_a_destroy_notify_on_a_scoped_callback_during_its_call() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    // A `Copy` closure, so that a boxed callback of the same closure type
    // supplies a destroy-notify that fits the scoped holder's type: a C
    // library that pairs one registration's destroy with another's user
    // data. The scoped holder belongs to `scope`: the destroy is refused,
    // nothing is freed, and the call goes on.
    let step = move |n: c_int| {
        // SAFETY: the registry is valid; clearing it calls the destroy-notify
        // with this scoped callback's user data, while it runs.
        unsafe { c_hook_clear(reg_ptr) };
        n + 1
    };
    let spare = Hook::boxed(step).into_raw();
    let mut got = c_int::MIN;
    let payload = panic_payload(|| {
        Hook::scope(step, |function, user_data| {
            // SAFETY: the registry is valid; it keeps the scoped callback only
            // during this call, and its destroy-notify is the spare's.
            unsafe {
                c_hook_set(reg_ptr, Some(function), user_data, Some(spare.destroy));
                got = c_hook_fire(reg_ptr, 1);
            }
        })
    });
    assert_eq!(got, 2, "the call went on after the refused destroy");
    assert!(
        message(&*payload).contains("borrowed for one C call (`scope`)"),
        "{}",
        message(&*payload)
    );
    // SAFETY: the spare was never handed to C; this is its one destroy.
    unsafe { (spare.destroy)(spare.user_data) };
}
