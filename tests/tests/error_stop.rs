//! A callback that fails with `Err` inside an event loop that runs until
//! told to quit (GLib's `g_main_loop_run` / `g_main_loop_quit`): the error
//! must end the loop, as a panic does, or the guard that keeps it never
//! returns (every later tick gets the fallback, poisoned, forever).
//!
//! When an error is kept, the `stop` of every guard from the innermost out
//! to the one that keeps it is called, once each: `try_resume` around
//! `resume_panics_with`, and `try_resume_with` (alone, or inside
//! `resume_panics_with`). A guard outside the keeper goes on: an error kept
//! by a `try_resume` inside its loop does not stop that loop.
//!
//! The event loop is simulated in Rust (no GLib needed), so all of it runs
//! under Miri. It is capped at `CAP` iterations so that a test of a loop
//! that is never stopped fails instead of hanging.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};

use ffi_callback::{callback, resume_panics, resume_panics_with, try_resume, try_resume_with};

use ffi_callback_tests::panics::{message, panic_payload};

/// The error of the callbacks here.
#[derive(Debug, PartialEq)]
struct Failed(u32);

/// A loop source: a boxed closure that may fail. C receives 0 for an
/// `Err`, -1 after a panic.
#[callback(fallback = -1, error = Failed, on_error = 0)]
type Tick = unsafe extern "C" fn(#[user_data] ud: *mut c_void) -> c_int;

/// The iterations after which the simulated loop gives up: far more than
/// any test needs, reached only by a loop that was never stopped.
const CAP: u32 = 200;

/// A simulated `GMainLoop`: runs until `quit`.
struct EventLoop {
    name: &'static str,
    running: Cell<bool>,
    /// Loop iterations so far.
    iterations: Cell<u32>,
    /// Calls of `quit`.
    quits: Cell<u32>,
}

thread_local! {
    /// The loops told to quit on this thread, in order.
    static QUIT_ORDER: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
}

impl EventLoop {
    fn new(name: &'static str) -> Self {
        EventLoop {
            name,
            running: Cell::new(true),
            iterations: Cell::new(0),
            quits: Cell::new(0),
        }
    }

    /// `g_main_loop_run`: each iteration dispatches every source once (as
    /// GLib dispatches all the sources that are ready), until `quit` is
    /// called or the cap is reached. Returns the iterations.
    ///
    /// # Safety
    /// Each source is a trampoline with user data valid for it.
    unsafe fn run(&self, sources: &[(TickFn, *mut c_void)]) -> u32 {
        while self.running.get() && self.iterations.get() < CAP {
            self.iterations.set(self.iterations.get() + 1);
            for &(function, user_data) in sources {
                // SAFETY: by the caller's promise.
                unsafe { function(user_data) };
            }
        }
        self.iterations.get()
    }

    /// `g_main_loop_quit`.
    fn quit(&self) {
        self.quits.set(self.quits.get() + 1);
        self.running.set(false);
        QUIT_ORDER.with(|order| order.borrow_mut().push(self.name));
    }

    fn assert_stopped_once(&self, iterations: u32) {
        assert_eq!(
            self.iterations.get(),
            iterations,
            "loop {}: iterations (CAP = {CAP}: never stopped)",
            self.name
        );
        assert_eq!(self.quits.get(), 1, "loop {}: quit called once", self.name);
    }
}

fn quit_order() -> Vec<&'static str> {
    QUIT_ORDER.with(|order| order.take())
}

/// A source whose closure fails with `Failed(n)` on its `n`-th call;
/// counts its calls.
fn failing_at(n: u32, calls: &Cell<u32>) -> Tick<impl FnMut() -> Result<c_int, Failed> + '_> {
    Tick::new(move || {
        calls.set(calls.get() + 1);
        if calls.get() == n {
            return Err(Failed(n));
        }
        Ok(1)
    })
}

fn source<F>(tick: &Tick<F>) -> (TickFn, *mut c_void) {
    (tick.function(), tick.user_data())
}

/// A fn-form source: fails with `Failed(n)` on call `n` of its counter.
#[callback(fallback = -1, on_error = 0)]
extern "C" fn tick_fn(#[user_data] state: &(u32, Cell<u32>)) -> Result<c_int, Failed> {
    let (fail_at, calls) = state;
    calls.set(calls.get() + 1);
    if calls.get() == *fail_at {
        return Err(Failed(*fail_at));
    }
    Ok(1)
}

// ---------------------------------------------------------------------------
// `try_resume` around `resume_panics_with`: the error passes the inner
// guard, which takes no error type, and is kept by the outer one; the inner
// guard's `stop` ends the loop.
// ---------------------------------------------------------------------------

#[test]
fn an_error_kept_outside_resume_panics_with_stops_its_loop() {
    let _ = quit_order();
    let main_loop = EventLoop::new("main");
    let calls = Cell::new(0);
    let tick = failing_at(3, &calls);
    let result = try_resume::<_, Failed>(|| {
        resume_panics_with(
            // SAFETY: the source's holder is alive for the call.
            || unsafe { main_loop.run(&[source(&tick)]) },
            || main_loop.quit(),
        )
    });
    assert_eq!(result, Err(Failed(3)));
    assert_eq!(calls.get(), 3);
    main_loop.assert_stopped_once(3);
    assert_eq!(quit_order(), ["main"]);
}

#[test]
fn a_fn_form_error_kept_outside_resume_panics_with_stops_its_loop() {
    let main_loop = EventLoop::new("main");
    let state = (4, Cell::new(0));
    let result = try_resume::<_, Failed>(|| {
        resume_panics_with(
            // SAFETY: `tick_fn`'s user data is made from a live `&state`.
            || unsafe { main_loop.run(&[(tick_fn, tick_fn::user_data(&state))]) },
            || main_loop.quit(),
        )
    });
    assert_eq!(result, Err(Failed(4)));
    assert_eq!(state.1.get(), 4);
    main_loop.assert_stopped_once(4);
}

#[test]
fn an_error_passing_two_loops_stops_both_innermost_first() {
    let _ = quit_order();
    let outer = EventLoop::new("outer");
    let inner = EventLoop::new("inner");
    let calls = Cell::new(0);
    let tick = failing_at(2, &calls);
    // The outer loop's source runs the inner loop (a nested
    // `g_main_loop_run`, as a modal dialog does) once.
    let nested = Tick::new(|| -> Result<c_int, Failed> {
        if inner.iterations.get() == 0 {
            resume_panics_with(
                // SAFETY: the source's holder is alive for the call.
                || unsafe { inner.run(&[source(&tick)]) },
                || inner.quit(),
            );
        }
        Ok(1)
    });
    let result = try_resume::<_, Failed>(|| {
        resume_panics_with(
            // SAFETY: the source's holder is alive for the call.
            || unsafe { outer.run(&[source(&nested)]) },
            || outer.quit(),
        )
    });
    assert_eq!(result, Err(Failed(2)));
    inner.assert_stopped_once(2);
    outer.assert_stopped_once(1);
    assert_eq!(quit_order(), ["inner", "outer"]);
}

// ---------------------------------------------------------------------------
// `try_resume_with`: the guard that keeps the error stops its own loop.
// ---------------------------------------------------------------------------

#[test]
fn try_resume_with_stops_its_loop_on_an_error() {
    let main_loop = EventLoop::new("main");
    let calls = Cell::new(0);
    let tick = failing_at(3, &calls);
    let result = try_resume_with::<_, Failed>(
        // SAFETY: the source's holder is alive for the call.
        || unsafe { main_loop.run(&[source(&tick)]) },
        || main_loop.quit(),
    );
    assert_eq!(result, Err(Failed(3)));
    assert_eq!(calls.get(), 3);
    main_loop.assert_stopped_once(3);
}

#[test]
fn try_resume_with_stops_its_loop_on_a_fn_form_error() {
    let main_loop = EventLoop::new("main");
    let state = (2, Cell::new(0));
    let result = try_resume_with::<_, Failed>(
        // SAFETY: `tick_fn`'s user data is made from a live `&state`.
        || unsafe { main_loop.run(&[(tick_fn, tick_fn::user_data(&state))]) },
        || main_loop.quit(),
    );
    assert_eq!(result, Err(Failed(2)));
    main_loop.assert_stopped_once(2);
}

#[test]
fn try_resume_with_stops_its_loop_on_a_panic() {
    let main_loop = EventLoop::new("main");
    let calls = Cell::new(0);
    let tick = Tick::new(|| -> Result<c_int, Failed> {
        calls.set(calls.get() + 1);
        assert!(calls.get() < 2, "expected: the second tick panicked");
        Ok(1)
    });
    let payload = panic_payload(|| {
        try_resume_with::<_, Failed>(
            // SAFETY: the source's holder is alive for the call.
            || unsafe { main_loop.run(&[source(&tick)]) },
            || main_loop.quit(),
        )
    });
    assert_eq!(message(&*payload), "expected: the second tick panicked");
    main_loop.assert_stopped_once(2);
}

#[test]
fn try_resume_with_returns_the_value_when_nothing_fails() {
    let main_loop = EventLoop::new("main");
    let tick = Tick::new(|| -> Result<c_int, Failed> {
        if main_loop.iterations.get() == 5 {
            main_loop.quit();
        }
        Ok(1)
    });
    let result = try_resume_with::<_, Failed>(
        // SAFETY: the source's holder is alive for the call.
        || unsafe { main_loop.run(&[source(&tick)]) },
        || panic!("stop is called only when something is kept"),
    );
    assert_eq!(result, Ok(5));
    main_loop.assert_stopped_once(5);
}

// ---------------------------------------------------------------------------
// `resume_panics_with` around `try_resume_with`: the inner guard keeps the
// error and stops its own loop; the outer loop is not the inner guard's
// business, and goes on.
// ---------------------------------------------------------------------------

#[test]
fn resume_panics_with_around_try_resume_with_stops_the_inner_loop_only() {
    let _ = quit_order();
    let outer = EventLoop::new("outer");
    let inner = EventLoop::new("inner");
    let calls = Cell::new(0);
    let tick = failing_at(3, &calls);
    let mut inner_result = None;
    let iterations = resume_panics_with(
        || {
            inner_result = Some(try_resume_with::<_, Failed>(
                // SAFETY: the source's holder is alive for the call.
                || unsafe { inner.run(&[source(&tick)]) },
                || inner.quit(),
            ));
            // The C call of the outer guard goes on after the inner one.
            // SAFETY: the source's holder is alive for the call.
            unsafe { outer.run(&[source(&tick)]) }
        },
        || outer.quit(),
    );
    assert_eq!(inner_result, Some(Err(Failed(3))));
    inner.assert_stopped_once(3);
    // The outer loop ran to its cap: nothing stopped it (nothing failed in
    // it: the holder runs again once its error was returned).
    assert_eq!(iterations, CAP);
    assert_eq!(outer.quits.get(), 0);
    assert_eq!(calls.get(), 3 + CAP);
    assert_eq!(quit_order(), ["inner"]);
}

#[test]
fn an_error_kept_by_a_try_resume_inside_a_loop_does_not_stop_that_loop() {
    let outer = EventLoop::new("outer");
    let state = (1, Cell::new(0));
    let errors = Cell::new(0);
    // Each tick of the outer loop makes a C call under its own
    // `try_resume`, which fails: the error comes back to the tick, and the
    // outer loop goes on until the tick quits it.
    let tick = Tick::new(|| -> Result<c_int, Failed> {
        state.1.set(0);
        // SAFETY: `tick_fn`'s user data is made from a live `&state`.
        let result = try_resume::<_, Failed>(|| unsafe { tick_fn(tick_fn::user_data(&state)) });
        assert_eq!(result, Err(Failed(1)));
        errors.set(errors.get() + 1);
        if errors.get() == 4 {
            outer.quit();
        }
        Ok(1)
    });
    let iterations = resume_panics_with(
        // SAFETY: the source's holder is alive for the call.
        || unsafe { outer.run(&[source(&tick)]) },
        || panic!("the outer guard keeps nothing"),
    );
    assert_eq!(iterations, 4);
    outer.assert_stopped_once(4);
}

// ---------------------------------------------------------------------------
// `stop` is called once, whatever follows the first error: a second
// error (rejected, the first wins), a panic.
// ---------------------------------------------------------------------------

#[test]
fn stop_is_called_once_for_a_second_error_and_a_panic() {
    let main_loop = EventLoop::new("main");
    let (first_calls, second_calls) = (Cell::new(0), Cell::new(0));
    // All three fail in the same iteration: GLib dispatches every ready
    // source of an iteration even after `g_main_loop_quit`.
    let first = failing_at(2, &first_calls);
    let second = failing_at(2, &second_calls);
    let panicking = Tick::new(|| -> Result<c_int, Failed> {
        assert!(main_loop.running.get(), "expected: a panic after the error");
        Ok(1)
    });
    let payload = panic_payload(|| {
        try_resume::<_, Failed>(|| {
            resume_panics_with(
                // SAFETY: the sources' holders are alive for the call.
                || unsafe { main_loop.run(&[source(&first), source(&second), source(&panicking)]) },
                || main_loop.quit(),
            )
        })
    });
    // The panic wins over the error.
    assert_eq!(message(&*payload), "expected: a panic after the error");
    assert_eq!((first_calls.get(), second_calls.get()), (2, 2));
    main_loop.assert_stopped_once(2);
}

#[test]
fn stop_is_called_once_for_two_errors_with_try_resume_with() {
    let main_loop = EventLoop::new("main");
    let (first_calls, second_calls) = (Cell::new(0), Cell::new(0));
    let first = failing_at(2, &first_calls);
    let second = failing_at(2, &second_calls);
    let result = try_resume_with::<_, Failed>(
        // SAFETY: the sources' holders are alive for the call.
        || unsafe { main_loop.run(&[source(&first), source(&second)]) },
        || main_loop.quit(),
    );
    assert_eq!(result, Err(Failed(2)), "the first error wins");
    assert_eq!((first_calls.get(), second_calls.get()), (2, 2));
    main_loop.assert_stopped_once(2);
}

#[test]
fn a_panic_stops_only_the_innermost_guards_loop() {
    // As before: a panic is kept by the innermost guard, whose `stop` ends
    // its loop; the outer guard gets it when the inner one re-raises it
    // into the callback, and stops its own loop then.
    let _ = quit_order();
    let outer = EventLoop::new("outer");
    let inner = EventLoop::new("inner");
    let panicking = Tick::new(|| -> Result<c_int, Failed> {
        assert!(
            inner.iterations.get() < 2,
            "expected: the inner loop panicked"
        );
        Ok(1)
    });
    let nested = Tick::new(|| -> Result<c_int, Failed> {
        resume_panics_with(
            // SAFETY: the source's holder is alive for the call.
            || unsafe { inner.run(&[source(&panicking)]) },
            || inner.quit(),
        );
        Ok(1)
    });
    let payload = panic_payload(|| {
        resume_panics_with(
            // SAFETY: the source's holder is alive for the call.
            || unsafe { outer.run(&[source(&nested)]) },
            || outer.quit(),
        )
    });
    assert_eq!(message(&*payload), "expected: the inner loop panicked");
    inner.assert_stopped_once(2);
    outer.assert_stopped_once(1);
    assert_eq!(quit_order(), ["inner", "outer"]);
}

#[test]
fn an_error_with_no_guard_of_its_type_stops_nothing() {
    let main_loop = EventLoop::new("main");
    let calls = Cell::new(0);
    let tick = Tick::new(|| -> Result<c_int, Failed> {
        calls.set(calls.get() + 1);
        if calls.get() == 2 {
            return Err(Failed(2));
        }
        if calls.get() == 4 {
            main_loop.quit();
        }
        Ok(1)
    });
    // No guard takes `Failed`: the error is reported and dropped, nothing
    // is poisoned, and the loop goes on.
    let iterations = resume_panics(|| {
        resume_panics_with(
            // SAFETY: the source's holder is alive for the call.
            || unsafe { main_loop.run(&[source(&tick)]) },
            || panic!("nothing is kept"),
        )
    });
    assert_eq!(iterations, 4);
    main_loop.assert_stopped_once(4);
}
