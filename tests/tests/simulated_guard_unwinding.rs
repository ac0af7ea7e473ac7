//! Guards and unwinds that start inside their call (audit 19): a `resume`
//! callback's panic raised while an unwind that is caught inside the
//! guard's call runs (a `catch_unwind` in the caller's code, a callback's
//! own catch under `on_panic = fallback`) is the first panic, kept and
//! re-raised (an unwind that reaches the guard would win instead, as
//! `simulated_scope_unwinding` checks); and a guard that re-raises a kept
//! panic drops its closure's value first, so a value whose `Drop` panics
//! does not abort the process. No C code: runs under Miri too.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use ffi_callback::{callback, resume_panics};
use ffi_callback_tests::panics::{message, panic_payload};

#[callback]
extern "C" fn visit(item: c_int, #[user_data] seen: &Cell<u32>) -> c_int {
    assert!(item != 3, "three is not allowed");
    assert!(item != 7, "seven is not allowed");
    seen.set(seen.get() + 1);
    0
}

/// Stands in for a C library calling back once.
unsafe fn c_call(ud: *mut c_void, item: c_int) -> c_int {
    // SAFETY: the caller's promise.
    unsafe { visit(item, ud) }
}

/// Makes the C library call back when dropped (a C object freed in `Drop`).
struct CallsBackOnDrop(*mut c_void);

impl Drop for CallsBackOnDrop {
    fn drop(&mut self) {
        // SAFETY: `self.0` is `visit`'s user data, alive for the test.
        unsafe { c_call(self.0, 3) };
    }
}

/// The caller catches its own, unrelated panic inside the guard's call;
/// during that (caught) unwind a `Drop` makes C call `visit`, which
/// panics. That unwind never reaches the guard, so the callback's panic is
/// the only one: the guard should re-raise it.
#[test]
fn a_callback_panic_during_an_unwind_caught_inside_the_guard_is_resumed() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let payload = panic_payload(|| {
        resume_panics(|| {
            let caught = catch_unwind(AssertUnwindSafe(|| {
                let _free = CallsBackOnDrop(ud);
                std::panic::panic_any("expected: the caller's own panic, caught at once");
            }));
            assert!(caught.is_err());
        })
    });
    assert_eq!(message(&*payload), "three is not allowed");
}

/// Same, and then the C call goes on: a `resume` fn-form callback whose
/// panic was dropped leaves the thread poisoned, so the next (healthy)
/// call silently returns the fallback without running the body.
#[test]
fn after_a_dropped_panic_the_next_callback_still_runs_or_the_guard_raises() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let result = catch_unwind(AssertUnwindSafe(|| {
        resume_panics(|| {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                let _free = CallsBackOnDrop(ud);
                std::panic::panic_any("expected: the caller's own panic, caught at once");
            }));
            // A healthy call: item 4.
            // SAFETY: `ud` is alive.
            unsafe { c_call(ud, 4) };
        })
    }));
    // Either the guard resumes the callback's panic (then the later call
    // must not run: poisoned), or nothing was kept and the call ran.
    match result {
        Err(payload) => {
            assert_eq!(message(&*payload), "three is not allowed");
            assert_eq!(seen.get(), 0);
        }
        Ok(()) => assert_eq!(
            seen.get(),
            1,
            "the guard returned normally, but the healthy call did not run its body"
        ),
    }
}

/// A callback under `on_panic = fallback` panics; its own catch is the end
/// of that unwind. During it, a local's `Drop` makes C call a `resume`
/// callback that panics: that panic is dropped too, so the guard returns
/// normally although a `resume` callback panicked.
#[callback(on_panic = fallback)]
type Lenient = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

#[test]
fn a_resume_callbacks_panic_raised_during_a_fallback_callbacks_unwind_is_resumed() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let lenient = Lenient::new(move || -> c_int {
        let _free = CallsBackOnDrop(ud);
        std::panic::panic_any("expected: the lenient callback's panic, reported");
    });
    let result = catch_unwind(AssertUnwindSafe(|| {
        resume_panics(|| {
            // SAFETY: the holder is alive and unmoved.
            unsafe { lenient.function()(lenient.user_data()) }
        })
    }));
    match result {
        Err(payload) => assert_eq!(message(&*payload), "three is not allowed"),
        Ok(_) => panic!("the resume callback's panic was dropped: the guard returned normally"),
    }
}

/// A set's `scope`: the caller catches its own panic inside the call,
/// during which an entry panics; `scope` then drops the state in its holder
/// and raises a unit payload for the guard to replace with the kept panic.
/// (Checks a fix does not let that unit payload win.)
#[callback]
trait Items {
    unsafe extern "C" fn item(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
}

struct Picky;

impl Items for Picky {
    fn item(&mut self, n: c_int) -> c_int {
        assert!(n != 3, "three is not allowed");
        0
    }
}

struct ItemOnDrop(*mut c_void);

impl Drop for ItemOnDrop {
    fn drop(&mut self) {
        // SAFETY: the scope's user data, alive during the scope.
        unsafe { Picky::ITEM(self.0, 3) };
    }
}

#[test]
fn a_set_entrys_panic_during_an_unwind_caught_inside_its_scope_is_resumed() {
    let payload = panic_payload(|| {
        Picky.scope(|ud| {
            let caught = catch_unwind(AssertUnwindSafe(|| {
                let _free = ItemOnDrop(ud);
                std::panic::panic_any("expected: the caller's own panic, caught at once");
            }));
            assert!(caught.is_err());
        })
    });
    assert_eq!(message(&*payload), "three is not allowed");
}

/// An event loop under `resume_panics_with`: after such a dropped panic the
/// loop's `stop` is never called, and the loop runs on with every `resume`
/// fn-form callback returning its fallback (bounded here at 100 turns).
#[test]
fn stop_is_called_for_a_callback_panic_during_an_unwind_caught_inside() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let running = Cell::new(true);
    let turns = Cell::new(0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        ffi_callback::resume_panics_with(
            || {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    let _free = CallsBackOnDrop(ud);
                    std::panic::panic_any("expected: the caller's own panic, caught at once");
                }));
                while running.get() && turns.get() < 100 {
                    turns.set(turns.get() + 1);
                    // SAFETY: `ud` is alive.
                    unsafe { c_call(ud, 4) };
                }
            },
            || running.set(false),
        )
    }));
    assert!(
        !running.get(),
        "stop was never called: the loop ran {} turns, {} of them ran the callback",
        turns.get(),
        seen.get()
    );
    assert!(result.is_err());
}

// ---------------------------------------------------------------------------
// A guard's value whose `Drop` panics, while the guard re-raises a kept
// panic
// ---------------------------------------------------------------------------

#[callback(fallback = -1)]
type VisitType = unsafe extern "C" fn(item: c_int, #[user_data] ud: *mut c_void) -> c_int;

/// What the caller's closure returns: its `Drop` panics.
struct Loud;

impl Drop for Loud {
    fn drop(&mut self) {
        panic!("the returned value's drop panics");
    }
}

#[test]
fn a_guards_value_whose_drop_panics_under_a_kept_panic_does_not_abort() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let payload = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: `ud` is `visit`'s, alive for the call.
            unsafe { c_call(ud, 3) };
            Loud
        })
    });
    assert_eq!(message(&*payload), "three is not allowed");
}

#[test]
fn a_type_scopes_value_whose_drop_panics_under_a_kept_panic_does_not_abort() {
    let payload = panic_payload(|| {
        VisitType::scope(
            |item| -> c_int {
                assert!(item != 3, "three is not allowed either");
                0
            },
            |function, ud| {
                // SAFETY: the scope's pair, called during the scope.
                unsafe { function(3, ud) };
                Loud
            },
        )
    });
    assert_eq!(message(&*payload), "three is not allowed either");
}

// ---------------------------------------------------------------------------
// A kept panic against later ones (audit 20)
// ---------------------------------------------------------------------------

/// A C object freed in `Drop`: C calls `visit` with `item` as it is freed.
struct CallsBackWithOnDrop(*mut c_void, c_int);

impl Drop for CallsBackWithOnDrop {
    fn drop(&mut self) {
        // SAFETY: `self.0` is `visit`'s user data, alive for the test.
        unsafe { c_call(self.0, self.1) };
    }
}

#[callback(fallback = -1)]
type Tick = unsafe extern "C" fn(item: c_int, #[user_data] ud: *mut c_void) -> c_int;

/// The guard keeps a panic raised during an unwind the caller caught
/// inside the call; later in the same call an inner guard (a callback
/// type's `scope`) re-raises its own callback's panic. That unwind is not
/// the one the kept panic was raised during: the kept panic, the first,
/// comes out.
#[test]
fn a_kept_panic_is_not_replaced_by_an_inner_guards_later_panic() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let payload = panic_payload(|| {
        resume_panics(|| {
            let caught = catch_unwind(AssertUnwindSafe(|| {
                let _free = CallsBackWithOnDrop(ud, 3);
                std::panic::panic_any("the caller's own panic, caught at once");
            }));
            assert!(caught.is_err());
            Tick::scope(
                |_item| -> c_int { panic!("the later tick panic") },
                |function, ud| {
                    // SAFETY: the scope's pair, called during the scope.
                    unsafe { function(1, ud) }
                },
            );
        })
    });
    assert_eq!(message(&*payload), "three is not allowed");
}

/// The same with a nested `resume_panics` around a holder's call.
#[test]
fn a_kept_panic_is_not_replaced_by_a_nested_resume_panics() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let tick = Tick::new(|_item| -> c_int { panic!("the later tick panic") });
    let payload = panic_payload(|| {
        resume_panics(|| {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                let _free = CallsBackWithOnDrop(ud, 3);
                std::panic::panic_any("the caller's own panic, caught at once");
            }));
            // SAFETY: the holder is alive and unmoved.
            resume_panics(|| unsafe { tick.function()(1, tick.user_data()) });
        })
    });
    assert_eq!(message(&*payload), "three is not allowed");
}

/// An inner guard re-raising its kept panic drops its closure's value
/// first, inside the guard: a callback's panic from that value's `Drop`
/// (it frees a C object) is a later panic of that guard, disposed of, not
/// a fresh one for the outer guard to prefer.
#[test]
fn the_inner_guards_kept_panic_wins_over_one_raised_by_its_values_drop() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let payload = panic_payload(|| {
        resume_panics(|| {
            let _conn = resume_panics(|| {
                // SAFETY: `ud` is alive.
                unsafe { c_call(ud, 3) };
                // What the C call made: a C object that calls back when freed.
                CallsBackWithOnDrop(ud, 7)
            });
            unreachable!("the inner guard re-raises the kept panic");
        })
    });
    assert_eq!(message(&*payload), "three is not allowed");
}

/// A panic payload that is a C object: C calls `visit` with `item` as it
/// is freed.
struct PayloadCallsBack(*mut c_void, c_int);

// SAFETY: test only: the payload is dropped on the thread that raised it.
unsafe impl Send for PayloadCallsBack {}

impl Drop for PayloadCallsBack {
    fn drop(&mut self) {
        // SAFETY: `self.0` is `visit`'s user data, alive for the test.
        unsafe { c_call(self.0, self.1) };
    }
}

/// An inner guard whose call panics after a callback's panic was kept:
/// the kept panic is re-raised and the call's own payload dropped. That
/// drop happens under the inner guard, so a callback's panic from the
/// payload's `Drop` (it frees a C object) is a later panic of that guard,
/// not a fresh one for the outer guard to prefer (audit 23).
#[test]
fn the_inner_guards_kept_panic_wins_over_one_raised_by_its_own_payloads_drop() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let payload = panic_payload(|| {
        resume_panics(|| {
            resume_panics(|| {
                // SAFETY: `ud` is alive.
                unsafe { c_call(ud, 3) };
                std::panic::panic_any(PayloadCallsBack(ud, 7));
            })
        })
    });
    assert_eq!(message(&*payload), "three is not allowed");
}

// ---------------------------------------------------------------------------
// A scope's closure dropped after its call caught an unwind (audit 21)
// ---------------------------------------------------------------------------

/// Panics when dropped: a capture of the scope's closure.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("expected: the closure's capture panicked as the scope dropped it");
    }
}

/// The caller catches its own panic inside the scope's call; during that
/// unwind C calls `visit`, which panics, and the scope's guard keeps that
/// panic. The scope then drops its closure, whose capture panics: a later
/// panic, after `call` returned, which must not replace the kept one.
fn caught_unwind_during_which_visit_panics(ud: *mut c_void) {
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _free = CallsBackWithOnDrop(ud, 3);
        std::panic::panic_any("expected: the caller's own panic, caught at once");
    }));
    assert!(caught.is_err());
}

/// A slot-less type, for `scope_thread_local`.
#[callback]
type Order = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

#[test]
fn a_kept_panic_is_not_replaced_by_the_scopes_closure_drop_after_a_caught_unwind() {
    let seen = Cell::new(0);
    let ud = visit::user_data(&seen);
    let capture = PanicsOnDrop;
    let payload = panic_payload(|| {
        Tick::scope(
            move |_item| -> c_int {
                let _ = &capture;
                0
            },
            |_function, _tick| caught_unwind_during_which_visit_panics(ud),
        )
    });
    assert_eq!(message(&*payload), "three is not allowed");

    let capture = PanicsOnDrop;
    let payload = panic_payload(|| {
        Tick::try_scope(
            move |_item| -> Result<c_int, String> {
                let _ = &capture;
                Ok(0)
            },
            |_function, _tick| caught_unwind_during_which_visit_panics(ud),
        )
    });
    assert_eq!(message(&*payload), "three is not allowed", "try_scope");

    let capture = PanicsOnDrop;
    let payload = panic_payload(|| {
        Tick::scope_once(
            move |_item| -> c_int {
                drop(capture);
                0
            },
            |_function, _tick| caught_unwind_during_which_visit_panics(ud),
        )
    });
    assert_eq!(message(&*payload), "three is not allowed", "scope_once");

    let capture = PanicsOnDrop;
    let payload = panic_payload(|| {
        Order::scope_thread_local(
            move |_a, _b| -> c_int {
                let _ = &capture;
                0
            },
            |_function| caught_unwind_during_which_visit_panics(ud),
        )
    });
    assert_eq!(
        message(&*payload),
        "three is not allowed",
        "scope_thread_local"
    );
}
