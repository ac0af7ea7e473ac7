//! The variants, one module each. Every comparator counts its calls in state
//! it captures (or, for the floor, in a static) and compares two `u32`.
//!
//! Hand-written variants that catch panics abort on one: their happy path,
//! which is all that is measured, is the same whatever the error path does.

use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::c::{CCall, Sort, ZeroCalls};
use crate::{Variant, compare};

/// What the setup and teardown costs are measured against: handing C a
/// static function and no state, in the `qsort` and `qsort_r` shapes.
pub mod baseline {
    use super::*;

    unsafe extern "C" fn noop(_: *const c_void, _: *const c_void) -> c_int {
        0
    }

    unsafe extern "C" fn noop_r(_: *const c_void, _: *const c_void, _: *mut c_void) -> c_int {
        0
    }

    /// `zero_calls(noop)`.
    #[inline(never)]
    pub fn plain() -> u64 {
        // SAFETY: `noop` never dereferences anything.
        unsafe { ZeroCalls.call(noop) };
        0
    }

    /// `zero_calls_r(noop_r, null)`.
    #[inline(never)]
    pub fn with_user_data() -> u64 {
        // SAFETY: `noop_r` never dereferences anything.
        unsafe { ZeroCalls.call_r(noop_r, std::ptr::null_mut()) };
        0
    }
}

/// (a) The floor: a plain `extern "C"` comparator for `qsort`, no user data
/// (its counter is a static), no panic handling.
pub mod a_floor {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use super::*;

    static CALLS: AtomicU64 = AtomicU64::new(0);

    unsafe extern "C" fn floor_cmp(a: *const c_void, b: *const c_void) -> c_int {
        // A load and a store, not a locked read-modify-write.
        CALLS.store(CALLS.load(Relaxed) + 1, Relaxed);
        // SAFETY: `qsort` passes pointers to two elements of the `u32` array.
        unsafe { compare(a, b) }
    }

    fn run(call: impl CCall) -> u64 {
        CALLS.store(0, Relaxed);
        // SAFETY: `floor_cmp` only reads the two elements `qsort` passes.
        unsafe { call.call(floor_cmp) };
        CALLS.load(Relaxed)
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "a",
        name: "plain extern \"C\" fn, no user data (floor)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: false,
        entry: Some("*a_floor::floor_cmp*"),
    };
}

/// (b) A hand-written generic trampoline casting `void*` to the closure.
pub mod b_trampoline {
    use super::*;

    unsafe extern "C" fn trampoline<F: FnMut(*const c_void, *const c_void) -> c_int>(
        a: *const c_void,
        b: *const c_void,
        user_data: *mut c_void,
    ) -> c_int {
        // SAFETY: `user_data` is the `&mut F` that `run` passed with this
        // trampoline, alive for the whole C call.
        let f = unsafe { &mut *user_data.cast::<F>() };
        f(a, b)
    }

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        let mut f = |a, b| {
            calls += 1;
            // SAFETY: `qsort_r` passes pointers to two elements of the array.
            unsafe { compare(a, b) }
        };
        let (function, user_data) = parts(&mut f);
        // SAFETY: `user_data` points at `f`, alive until after the call.
        unsafe { call.call_r(function, user_data) };
        calls
    }

    fn parts<F: FnMut(*const c_void, *const c_void) -> c_int>(
        f: &mut F,
    ) -> (crate::c::CmpR, *mut c_void) {
        (trampoline::<F>, std::ptr::from_mut(f).cast())
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "b",
        name: "hand-written trampoline, void* -> closure",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*b_trampoline::trampoline*"),
    };
}

/// (c) (b) plus `catch_unwind`.
pub mod c_trampoline_catch {
    use super::*;

    unsafe extern "C" fn trampoline<F: FnMut(*const c_void, *const c_void) -> c_int>(
        a: *const c_void,
        b: *const c_void,
        user_data: *mut c_void,
    ) -> c_int {
        // SAFETY: `user_data` is the `&mut F` that `run` passed with this
        // trampoline, alive for the whole C call.
        let f = unsafe { &mut *user_data.cast::<F>() };
        match catch_unwind(AssertUnwindSafe(|| f(a, b))) {
            Ok(order) => order,
            Err(_) => std::process::abort(),
        }
    }

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        let mut f = |a, b| {
            calls += 1;
            // SAFETY: `qsort_r` passes pointers to two elements of the array.
            unsafe { compare(a, b) }
        };
        let (function, user_data) = parts(&mut f);
        // SAFETY: `user_data` points at `f`, alive until after the call.
        unsafe { call.call_r(function, user_data) };
        calls
    }

    fn parts<F: FnMut(*const c_void, *const c_void) -> c_int>(
        f: &mut F,
    ) -> (crate::c::CmpR, *mut c_void) {
        (trampoline::<F>, std::ptr::from_mut(f).cast())
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "c",
        name: "(b) + catch_unwind",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*c_trampoline_catch::trampoline*"),
    };
}

/// (c') A hand-written `extern "C"` fn casting `void*` to the state itself,
/// with `catch_unwind`: what the fn form replaces.
pub mod c1_fn_catch {
    use super::*;

    /// The comparator's state.
    #[derive(Debug, Default)]
    pub struct State {
        /// Comparator calls.
        pub calls: u64,
    }

    unsafe extern "C" fn cmp(a: *const c_void, b: *const c_void, user_data: *mut c_void) -> c_int {
        match catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `user_data` is the `&mut State` that `run` passed,
            // alive for the whole C call.
            let state = unsafe { &mut *user_data.cast::<State>() };
            state.calls += 1;
            // SAFETY: `qsort_r` passes pointers to two elements of the array.
            unsafe { compare(a, b) }
        })) {
            Ok(order) => order,
            Err(_) => std::process::abort(),
        }
    }

    fn run(call: impl CCall) -> u64 {
        let mut state = State::default();
        // SAFETY: the user data points at `state`, alive until after the call.
        unsafe { call.call_r(cmp, std::ptr::from_mut(&mut state).cast()) };
        state.calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "c1",
        name: "hand-written extern \"C\" fn, void* -> state, + catch_unwind",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*c1_fn_catch::cmp*"),
    };
}

/// (c't) (c') with a body that ends by calling a C function (a tail call).
pub mod c1t_fn_catch_tail {
    use super::*;

    /// The comparator's state.
    #[derive(Debug, Default)]
    pub struct State {
        /// Comparator calls.
        pub calls: u64,
    }

    unsafe extern "C" fn cmp(a: *const c_void, b: *const c_void, user_data: *mut c_void) -> c_int {
        match catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `user_data` is the `&mut State` that `run` passed,
            // alive for the whole C call.
            let state = unsafe { &mut *user_data.cast::<State>() };
            state.calls += 1;
            // SAFETY: `qsort_r` passes pointers to two elements of the array.
            unsafe { crate::compare_out_of_line(a, b) }
        })) {
            Ok(order) => order,
            Err(_) => std::process::abort(),
        }
    }

    fn run(call: impl CCall) -> u64 {
        let mut state = State::default();
        // SAFETY: the user data points at `state`, alive until after the call.
        unsafe { call.call_r(cmp, std::ptr::from_mut(&mut state).cast()) };
        state.calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "c1t",
        name: "(c') with a body ending in a call to C (tail call)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*c1t_fn_catch_tail::cmp*"),
    };
}

/// (d) `Box<dyn FnMut>` behind one non-generic trampoline (with
/// `catch_unwind`, as (c)).
pub mod d_box_dyn {
    use super::*;

    type DynCmp<'a> = dyn FnMut(*const c_void, *const c_void) -> c_int + 'a;

    unsafe extern "C" fn trampoline(
        a: *const c_void,
        b: *const c_void,
        user_data: *mut c_void,
    ) -> c_int {
        // SAFETY: `user_data` is the `&mut Box<DynCmp>` that `run` passed,
        // alive for the whole C call.
        let f = unsafe { &mut *user_data.cast::<Box<DynCmp<'_>>>() };
        match catch_unwind(AssertUnwindSafe(|| f(a, b))) {
            Ok(order) => order,
            Err(_) => std::process::abort(),
        }
    }

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        let mut f: Box<DynCmp<'_>> = Box::new(|a, b| {
            calls += 1;
            // SAFETY: `qsort_r` passes pointers to two elements of the array.
            unsafe { compare(a, b) }
        });
        // SAFETY: the user data points at `f`, alive until after the call.
        unsafe { call.call_r(trampoline, std::ptr::from_mut(&mut f).cast()) };
        drop(f);
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "d",
        name: "Box<dyn FnMut> behind one trampoline (+ catch_unwind)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*d_box_dyn::trampoline*"),
    };
}

/// (e) libffi's high-level `ClosureMut2`: a closure turned into a plain
/// function pointer (executable trampoline memory), passed to `qsort`.
#[cfg(feature = "libffi")]
pub mod e_libffi {
    use libffi::high::ClosureMut2;

    use super::*;

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        let mut f = |a: *const c_void, b: *const c_void| -> c_int {
            calls += 1;
            // SAFETY: `qsort` passes pointers to two elements of the array.
            unsafe { compare(a, b) }
        };
        let closure = ClosureMut2::new(&mut f);
        // SAFETY: `FnPtr2` is a `repr(transparent)` wrapper around exactly
        // this `extern "C" fn` type.
        let code: extern "C" fn(*const c_void, *const c_void) -> c_int =
            unsafe { std::mem::transmute(*closure.code_ptr()) };
        // SAFETY: the code pointer is valid while `closure` lives, which is
        // until after the call.
        unsafe { call.call(code) };
        drop(closure);
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "e",
        name: "libffi 5 high::ClosureMut2 (qsort)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: false,
        entry: None,
    };
}

/// (g) The `#[callback]` fn form.
pub mod g_callback_fn {
    use ffi_callback::{callback, resume_panics};

    use super::*;

    /// The comparator's state.
    #[derive(Debug, Default)]
    pub struct State {
        /// Comparator calls.
        pub calls: u64,
    }

    #[callback]
    extern "C" fn cmp(a: *const c_void, b: *const c_void, #[user_data] state: &mut State) -> c_int {
        state.calls += 1;
        // SAFETY: `qsort_r` passes pointers to two elements of the array.
        unsafe { compare(a, b) }
    }

    fn run(call: impl CCall) -> u64 {
        let mut state = State::default();
        // SAFETY: the user data points at `state`, alive until after the call.
        resume_panics(|| unsafe { call.call_r(cmp, cmp::user_data(&mut state)) });
        state.calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "g",
        name: "#[callback] fn form (resume_panics)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*g_callback_fn::cmp*"),
    };
}

/// (gt) The fn form with a body that ends by calling a C function: a tail
/// call, which a cold path coming back to the body would make the fast
/// path save registers for.
pub mod gt_callback_fn_tail {
    use ffi_callback::{callback, resume_panics};

    use super::*;

    /// The comparator's state.
    #[derive(Debug, Default)]
    pub struct State {
        /// Comparator calls.
        pub calls: u64,
    }

    #[callback]
    extern "C" fn cmp(a: *const c_void, b: *const c_void, #[user_data] state: &mut State) -> c_int {
        state.calls += 1;
        // SAFETY: `qsort_r` passes pointers to two elements of the array.
        unsafe { crate::compare_out_of_line(a, b) }
    }

    fn run(call: impl CCall) -> u64 {
        let mut state = State::default();
        // SAFETY: the user data points at `state`, alive until after the call.
        resume_panics(|| unsafe { call.call_r(cmp, cmp::user_data(&mut state)) });
        state.calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "gt",
        name: "#[callback] fn form, body ending in a call to C (tail call)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*gt_callback_fn_tail::cmp*"),
    };
}

/// (h) A `#[callback]` type with default options (`FnMut`, re-entry refused,
/// `on_panic = resume` with poisoning), through `scope`.
pub mod h_callback_type {
    use ffi_callback::callback;

    use super::*;

    /// `qsort_r`'s comparator type.
    #[callback]
    pub type CmpH = unsafe extern "C" fn(
        a: *const c_void,
        b: *const c_void,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        CmpH::scope(
            |a, b| {
                calls += 1;
                // SAFETY: `qsort_r` passes pointers to two elements of the array.
                unsafe { compare(a, b) }
            },
            // SAFETY: `scope` keeps the holder alive until after the call.
            |function, user_data| unsafe { call.call_r(function, user_data) },
        );
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "h",
        name: "#[callback] type, scope, default (FnMut)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some(
            "*ffi_callback::callback::KindTrampoline<F,O> for *h_callback_type::__ffi_CmpH::CmpH>::trampoline::trampoline",
        ),
    };
}

/// (i) A `#[callback(reentrant)]` type: `Fn` closures, poisoning, through
/// `scope`.
pub mod i_callback_reentrant {
    use std::cell::Cell;

    use ffi_callback::callback;

    use super::*;

    /// `qsort_r`'s comparator type, declared re-entrant.
    #[callback(reentrant)]
    pub type CmpI = unsafe extern "C" fn(
        a: *const c_void,
        b: *const c_void,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;

    fn run(call: impl CCall) -> u64 {
        let calls = Cell::new(0u64);
        CmpI::scope(
            |a, b| {
                calls.set(calls.get() + 1);
                // SAFETY: `qsort_r` passes pointers to two elements of the array.
                unsafe { compare(a, b) }
            },
            // SAFETY: `scope` keeps the holder alive until after the call.
            |function, user_data| unsafe { call.call_r(function, user_data) },
        );
        calls.get()
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "i",
        name: "#[callback(reentrant)] type, scope (Fn)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some(
            "*ffi_callback::callback::KindTrampoline<F,O> for *i_callback_reentrant::__ffi_CmpI::CmpI>::trampoline::trampoline",
        ),
    };
}

/// The error of the `Result` variants: never produced on the measured path,
/// but possible (the body fails when its call count reaches `fail_at`, which
/// is `u64::MAX` through `black_box`), so the compiler keeps the `Err` path.
#[derive(Debug)]
pub struct CmpError {
    /// The call that failed.
    pub at: u64,
}

/// The count at which the `Result` variants would fail: never reached, and
/// opaque to the optimizer.
#[inline(always)]
fn fail_at() -> u64 {
    std::hint::black_box(u64::MAX)
}

/// (cr) The hand-written equivalent of a callback type whose closure
/// returns `Result`: (c) with the closure's error kept beside it (the
/// trampoline stores the first `Err` there and returns a fallback), read
/// back when the C call returns.
pub mod cr_trampoline_result {
    use super::*;

    /// The closure and the slot for its first error, behind `void*`.
    struct WithError<F> {
        f: F,
        error: Option<CmpError>,
    }

    unsafe extern "C" fn trampoline<
        F: FnMut(*const c_void, *const c_void) -> Result<c_int, CmpError>,
    >(
        a: *const c_void,
        b: *const c_void,
        user_data: *mut c_void,
    ) -> c_int {
        // SAFETY: `user_data` is the `&mut WithError<F>` that `run` passed
        // with this trampoline, alive for the whole C call.
        let this = unsafe { &mut *user_data.cast::<WithError<F>>() };
        match catch_unwind(AssertUnwindSafe(|| (this.f)(a, b))) {
            Ok(Ok(order)) => order,
            Ok(Err(error)) => {
                this.error.get_or_insert(error);
                0
            }
            Err(_) => std::process::abort(),
        }
    }

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        let fail_at = fail_at();
        let counter = &mut calls;
        let mut with = WithError {
            f: move |a, b| {
                *counter += 1;
                if *counter == fail_at {
                    return Err(CmpError { at: *counter });
                }
                // SAFETY: `qsort_r` passes pointers to two elements of the array.
                Ok(unsafe { compare(a, b) })
            },
            error: None,
        };
        let (function, user_data) = parts(&mut with);
        // SAFETY: `user_data` points at `with`, alive until after the call.
        unsafe { call.call_r(function, user_data) };
        if let Some(error) = with.error {
            panic!("comparator failed at call {}", error.at);
        }
        calls
    }

    fn parts<F: FnMut(*const c_void, *const c_void) -> Result<c_int, CmpError>>(
        with: &mut WithError<F>,
    ) -> (crate::c::CmpR, *mut c_void) {
        (trampoline::<F>, std::ptr::from_mut(with).cast())
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "cr",
        name: "(c) with a Result closure, error kept beside it",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*cr_trampoline_result::trampoline*"),
    };
}

/// (c'r) The hand-written equivalent of a `Result` fn: (c') whose body
/// returns `Result`, the first error kept in the state.
pub mod c1r_fn_result {
    use super::*;

    /// The comparator's state.
    #[derive(Debug)]
    pub struct State {
        /// Comparator calls.
        pub calls: u64,
        /// The call count at which the body fails.
        pub fail_at: u64,
        /// The first error.
        pub error: Option<CmpError>,
    }

    fn body(a: *const c_void, b: *const c_void, state: &mut State) -> Result<c_int, CmpError> {
        state.calls += 1;
        if state.calls == state.fail_at {
            return Err(CmpError { at: state.calls });
        }
        // SAFETY: `qsort_r` passes pointers to two elements of the array.
        Ok(unsafe { compare(a, b) })
    }

    unsafe extern "C" fn cmp(a: *const c_void, b: *const c_void, user_data: *mut c_void) -> c_int {
        match catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `user_data` is the `&mut State` that `run` passed,
            // alive for the whole C call.
            let state = unsafe { &mut *user_data.cast::<State>() };
            match body(a, b, state) {
                Ok(order) => order,
                Err(error) => {
                    state.error.get_or_insert(error);
                    0
                }
            }
        })) {
            Ok(order) => order,
            Err(_) => std::process::abort(),
        }
    }

    fn run(call: impl CCall) -> u64 {
        let mut state = State {
            calls: 0,
            fail_at: fail_at(),
            error: None,
        };
        // SAFETY: the user data points at `state`, alive until after the call.
        unsafe { call.call_r(cmp, std::ptr::from_mut(&mut state).cast()) };
        if let Some(error) = state.error {
            panic!("comparator failed at call {}", error.at);
        }
        state.calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "c1r",
        name: "(c') with a Result body, error kept in the state",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*c1r_fn_result::cmp*"),
    };
}

/// (j) A `#[callback]` fn whose body returns `Result`, on the `Ok` path,
/// inside `try_resume`.
pub mod j_callback_fn_result {
    use ffi_callback::{callback, try_resume};

    use super::*;

    /// The comparator's state.
    #[derive(Debug)]
    pub struct State {
        /// Comparator calls.
        pub calls: u64,
        /// The call count at which the body fails.
        pub fail_at: u64,
    }

    #[callback]
    extern "C" fn cmp(
        a: *const c_void,
        b: *const c_void,
        #[user_data] state: &mut State,
    ) -> Result<c_int, CmpError> {
        state.calls += 1;
        if state.calls == state.fail_at {
            return Err(CmpError { at: state.calls });
        }
        // SAFETY: `qsort_r` passes pointers to two elements of the array.
        Ok(unsafe { compare(a, b) })
    }

    fn run(call: impl CCall) -> u64 {
        let mut state = State {
            calls: 0,
            fail_at: fail_at(),
        };
        // SAFETY: the user data points at `state`, alive until after the call.
        let sorted = try_resume::<_, CmpError>(|| unsafe {
            call.call_r(cmp, cmp::user_data(&mut state));
        });
        if let Err(error) = sorted {
            panic!("comparator failed at call {}", error.at);
        }
        state.calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "j",
        name: "#[callback] fn returning Result, Ok path (try_resume)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*j_callback_fn_result::cmp*"),
    };
}

/// (k) A `#[callback]` type (default options) whose closure returns
/// `Result`, on the `Ok` path, through `try_scope`.
pub mod k_callback_type_result {
    use ffi_callback::callback;

    use super::*;

    /// `qsort_r`'s comparator type.
    #[callback]
    pub type CmpK = unsafe extern "C" fn(
        a: *const c_void,
        b: *const c_void,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        let fail_at = fail_at();
        let counter = &mut calls;
        let sorted = CmpK::try_scope(
            move |a, b| {
                *counter += 1;
                if *counter == fail_at {
                    return Err(CmpError { at: *counter });
                }
                // SAFETY: `qsort_r` passes pointers to two elements of the array.
                Ok(unsafe { compare(a, b) })
            },
            // SAFETY: `try_scope` keeps the holder alive until after the call.
            |function, user_data| unsafe { call.call_r(function, user_data) },
        );
        if let Err(error) = sorted {
            panic!("comparator failed at call {}", error.at);
        }
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "k",
        name: "#[callback] type, closure returning Result, Ok path (try_scope)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some(
            "*ffi_callback::callback::KindTrampoline<F,O> for *k_callback_type_result::__ffi_CmpK::CmpK>::trampoline::trampoline",
        ),
    };
}

/// (l) A callback set's `&mut self` entry point (the comparator), the state
/// lent for the C call with the set's `scope`.
pub mod l_callback_set {
    use ffi_callback::callback;

    use super::*;

    /// The comparator as the one entry point of a set.
    #[callback]
    pub trait CmpSetL {
        /// `qsort_r`'s comparator.
        unsafe extern "C" fn compare(
            &mut self,
            a: *const c_void,
            b: *const c_void,
            #[user_data] user_data: *mut c_void,
        ) -> c_int;
    }

    /// The set's state (private: its entry points are not an API).
    #[derive(Debug, Default)]
    struct State {
        calls: u64,
    }

    impl CmpSetL for State {
        fn compare(&mut self, a: *const c_void, b: *const c_void) -> c_int {
            self.calls += 1;
            // SAFETY: `qsort_r` passes pointers to two elements of the array.
            unsafe { compare(a, b) }
        }
    }

    fn run(call: impl CCall) -> u64 {
        let ((), state) = State::default().scope(|user_data| {
            // SAFETY: `scope` keeps the state alive until after the call.
            unsafe { call.call_r(<State as CmpSetLExt>::COMPARE, user_data) }
        });
        state.calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "l",
        name: "#[callback] set, &mut self entry, scope",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*l_callback_set::CmpSetLExt::__ffi_*compare"),
    };
}

/// (l') A set entry point as in (l), the state boxed (`boxed()`, dropped by
/// Rust after the C call), with no guard around the call.
pub mod l1_callback_set_boxed {
    use ffi_callback::callback;

    use super::*;

    /// The comparator as the one entry point of a set.
    #[callback]
    pub trait CmpSetL1 {
        /// `qsort_r`'s comparator.
        unsafe extern "C" fn compare(
            &mut self,
            a: *const c_void,
            b: *const c_void,
            #[user_data] user_data: *mut c_void,
        ) -> c_int;
    }

    /// The set's state: counts, and reports its count where `out` points
    /// when dropped (a boxed state is `'static`). Private: its entry points
    /// are not an API.
    #[derive(Debug)]
    struct State {
        calls: u64,
        out: *mut u64,
    }

    impl Drop for State {
        fn drop(&mut self) {
            // SAFETY: `out` points at `run`'s counter, which outlives the
            // boxed state (dropped inside `run`).
            unsafe { *self.out = self.calls };
        }
    }

    impl CmpSetL1 for State {
        fn compare(&mut self, a: *const c_void, b: *const c_void) -> c_int {
            self.calls += 1;
            // SAFETY: `qsort_r` passes pointers to two elements of the array.
            unsafe { compare(a, b) }
        }
    }

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        let boxed = State {
            calls: 0,
            out: &raw mut calls,
        }
        .boxed();
        // SAFETY: `boxed` keeps the state alive until after the call.
        unsafe { call.call_r(<State as CmpSetL1Ext>::COMPARE, boxed.user_data()) };
        drop(boxed);
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "l1",
        name: "#[callback] set, &mut self entry, boxed()",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some("*l1_callback_set_boxed::CmpSetL1Ext::__ffi_*compare"),
    };
}

/// (m) A `#[callback(local)]` type: `FnMut`, re-entry refused, poisoning,
/// and a check per call that it runs on the thread that made it.
pub mod m_callback_local {
    use ffi_callback::callback;

    use super::*;

    /// `qsort_r`'s comparator type, declared `local`.
    #[callback(local)]
    pub type CmpM = unsafe extern "C" fn(
        a: *const c_void,
        b: *const c_void,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        CmpM::scope(
            |a, b| {
                calls += 1;
                // SAFETY: `qsort_r` passes pointers to two elements of the array.
                unsafe { compare(a, b) }
            },
            // SAFETY: `scope` keeps the holder alive until after the call.
            |function, user_data| unsafe { call.call_r(function, user_data) },
        );
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "m",
        name: "#[callback(local)] type, scope (home-thread check)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some(
            "*ffi_callback::callback::KindTrampoline<F,O> for *m_callback_local::__ffi_CmpM::CmpM>::trampoline::trampoline",
        ),
    };
}

/// (n) A `#[callback(sync)]` type: `Fn + Send + Sync`, concurrent calls
/// counted in the holder's atomic word (`on_panic = abort`, so `scope`
/// installs no guard). The closure counts with a relaxed `fetch_add`: one
/// `lock add` instruction, as many as the other variants' `add`.
pub mod n_callback_sync {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use ffi_callback::callback;

    use super::*;

    /// `qsort_r`'s comparator type, declared `sync`.
    #[callback(sync)]
    pub type CmpN = unsafe extern "C" fn(
        a: *const c_void,
        b: *const c_void,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;

    fn run(call: impl CCall) -> u64 {
        let calls = AtomicU64::new(0);
        CmpN::scope(
            |a, b| {
                calls.fetch_add(1, Relaxed);
                // SAFETY: `qsort_r` passes pointers to two elements of the array.
                unsafe { compare(a, b) }
            },
            // SAFETY: `scope` keeps the holder alive until after the call.
            |function, user_data| unsafe { call.call_r(function, user_data) },
        );
        calls.load(Relaxed)
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "n",
        name: "#[callback(sync)] type, scope (atomic word)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some(
            "*ffi_callback::callback::KindTrampoline<F,O> for *n_callback_sync::__ffi_CmpN::CmpN>::trampoline::trampoline",
        ),
    };
}

/// (o) (h) whose closure receives each element pointer converted by
/// `#[into(Elem)]` (a `From` newtype): a conversion that costs nothing
/// should add nothing to (h).
pub mod o_callback_type_into {
    use ffi_callback::callback;

    use super::*;

    /// An element pointer as the closure receives it.
    #[derive(Clone, Copy)]
    pub struct Elem(*const c_void);

    impl From<*const c_void> for Elem {
        #[inline]
        fn from(ptr: *const c_void) -> Self {
            Elem(ptr)
        }
    }

    /// `qsort_r`'s comparator type, its element pointers converted.
    #[callback]
    pub type CmpO = unsafe extern "C" fn(
        #[into(Elem)] a: *const c_void,
        #[into(Elem)] b: *const c_void,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        CmpO::scope(
            |a: Elem, b: Elem| {
                calls += 1;
                // SAFETY: `qsort_r` passes pointers to two elements of the array.
                unsafe { compare(a.0, b.0) }
            },
            // SAFETY: `scope` keeps the holder alive until after the call.
            |function, user_data| unsafe { call.call_r(function, user_data) },
        );
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "o",
        name: "#[callback] type, scope, #[into] (From) arguments",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some(
            "*ffi_callback::callback::KindTrampoline<F,O> for *o_callback_type_into::__ffi_CmpO::CmpO>::trampoline::trampoline",
        ),
    };
}

/// (p) (h) whose closure borrows both elements as `&u32`
/// (`#[into(&u32)]`): the cost of a borrowed parameter's null and alignment
/// checks, against (h)'s raw pointers.
pub mod p_callback_type_borrowed {
    use ffi_callback::callback;

    use super::*;

    /// `qsort_r`'s comparator type, its elements borrowed.
    #[callback]
    pub type CmpP = unsafe extern "C" fn(
        #[into(&u32)] a: *const c_void,
        #[into(&u32)] b: *const c_void,
        #[user_data] user_data: *mut c_void,
    ) -> c_int;

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        CmpP::scope(
            |a: &u32, b: &u32| {
                calls += 1;
                a.cmp(b) as c_int
            },
            // SAFETY: `scope` keeps the holder alive until after the call;
            // `qsort_r` passes pointers to two `u32`s of the array.
            |function, user_data| unsafe { call.call_r(function, user_data) },
        );
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "p",
        name: "#[callback] type, scope, #[into(&u32)] (borrowed) arguments",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: true,
        entry: Some(
            "*ffi_callback::callback::KindTrampoline<F,O> for *p_callback_type_borrowed::__ffi_CmpP::CmpP>::trampoline::trampoline",
        ),
    };
}

/// (q) A `#[callback]` type without user data, for plain `qsort`: a
/// capturing closure lent by `scope_thread_local` (parked in the type's
/// thread-local for the C call).
pub mod q_callback_thread_local {
    use ffi_callback::callback;

    use super::*;

    /// `qsort`'s comparator type: no user data.
    #[callback]
    pub type CmpQ = unsafe extern "C" fn(a: *const c_void, b: *const c_void) -> c_int;

    fn run(call: impl CCall) -> u64 {
        let mut calls = 0u64;
        CmpQ::scope_thread_local(
            |a, b| {
                calls += 1;
                // SAFETY: `qsort` passes pointers to two elements of the array.
                unsafe { compare(a, b) }
            },
            // SAFETY: the closure stays parked until after the call.
            |function| unsafe { call.call(function) },
        );
        calls
    }

    /// Sorts `data`; returns the comparator calls.
    #[inline(never)]
    pub fn sort(data: &mut [u32]) -> u64 {
        run(Sort(data))
    }

    /// Setup and teardown around a C call that calls back zero times.
    #[inline(never)]
    pub fn setup_teardown() -> u64 {
        run(ZeroCalls)
    }

    /// This variant.
    pub const VARIANT: Variant = Variant {
        key: "q",
        name: "#[callback] type without user data, scope_thread_local (plain qsort)",
        sort,
        setup_teardown,
        module: module_path!(),
        user_data: false,
        // The type's function; the call fn it dispatches to runs inside it.
        entry: Some("*q_callback_thread_local::CmpQ<F>::__ffi_thread_local::__ffi_function"),
    };
}
