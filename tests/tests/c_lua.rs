//! Rust functions called by real Lua 5.4 (built from source by `mlua-sys`,
//! feature `vendored`), whose failures become Lua errors through the raise
//! exit (issue 18): `on_raise` pushes the message onto the Lua stack, then
//! the trampoline calls `lua_error`, which longjmps to the `pcall` (or
//! `lua_pcall`, or `coroutine.resume`) that runs the call, past the trampoline's
//! frame only, where nothing is left to drop.
//!
//! - `pcall` of a function that panics, or returns `Err`, gets a Lua error
//!   carrying the message, and the Lua function that called it stops there
//!   while the code after `pcall` runs;
//! - uncaught, the error ends the chunk and `lua_pcall` returns it;
//! - the same function works again after any number of failures, with
//!   `&T` user data and with `&mut T` (whose debug re-entry guard must not
//!   be left behind by a raise), and a real re-entry with `&mut T` is
//!   refused with a Lua error;
//! - a refused call (null upvalue for a `&State` receiver) raises the
//!   refusal's reason; a panicking `on_raise` is reported and the raise
//!   still happens;
//! - everything the body owned is dropped (counted here, and valgrind sees
//!   the heap).
//!
//! The user data is the closure's first upvalue, a light userdata, fetched
//! with `user_data = EXPR`.

use std::cell::Cell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::fmt::Display;
use std::panic::panic_any;
use std::ptr;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::thread::{self, ThreadId};

use ffi_callback::{Failure, Report, ReportKind, callback, set_reporter};
use ffi_callback_tests::panics::panics_during;
use mlua_sys as ffi;

type LuaState = *mut ffi::lua_State;

// ---------------------------------------------------------------------------
// A Lua state for one test
// ---------------------------------------------------------------------------

/// A Lua state with the standard libraries, closed on drop.
struct Lua(LuaState);

impl Lua {
    fn new() -> Lua {
        // SAFETY: plain constructor; it returns null only when out of memory.
        let l = unsafe { ffi::luaL_newstate() };
        assert!(!l.is_null(), "luaL_newstate");
        // SAFETY: `l` is a fresh state.
        unsafe { ffi::luaL_openlibs(l) };
        Lua(l)
    }

    /// Sets the global `name` to a C closure of `f` whose upvalue 1 is the
    /// light userdata `upvalue`.
    ///
    /// # Safety
    /// `upvalue` must be what `f` fetches as its user data (or null), valid
    /// for as long as this state may call `f`.
    unsafe fn register(&self, name: &CStr, f: ffi::lua_CFunction, upvalue: *mut c_void) {
        // SAFETY: `self.0` is open; the stack has room for the two values;
        // the caller vouches for `upvalue`.
        unsafe {
            ffi::lua_pushlightuserdata(self.0, upvalue);
            ffi::lua_pushcclosure(self.0, f, 1);
            ffi::lua_setglobal(self.0, name.as_ptr());
        }
    }

    /// Loads and runs `source` under `lua_pcall`: its results as text, or
    /// the status and the error value.
    fn run(&self, source: &str) -> Result<Vec<String>, (c_int, String)> {
        let l = self.0;
        let source = CString::new(source).unwrap();
        // SAFETY: `l` is open and not running anything; loading and
        // `lua_pcall` are protected (they return a status, never raise);
        // every index read is between the old top and the new one.
        unsafe {
            let top = ffi::lua_gettop(l);
            let mut status = ffi::luaL_loadstring(l, source.as_ptr());
            if status == ffi::LUA_OK {
                status = ffi::lua_pcall(l, 0, ffi::LUA_MULTRET, 0);
            }
            let values = (top + 1..=ffi::lua_gettop(l))
                .map(|index| show(l, index))
                .collect::<Vec<_>>();
            ffi::lua_settop(l, top);
            if status == ffi::LUA_OK {
                Ok(values)
            } else {
                Err((status, values.concat()))
            }
        }
    }
}

impl Drop for Lua {
    fn drop(&mut self) {
        // SAFETY: `self.0` is open and closed only here.
        unsafe { ffi::lua_close(self.0) }
    }
}

/// The value at `index` as text, without calling anything that may raise
/// (no `__tostring`, no conversion in place).
///
/// # Safety
/// `index` must be a valid index of `l`'s stack.
unsafe fn show(l: LuaState, index: c_int) -> String {
    // SAFETY: forwarded.
    unsafe {
        match ffi::lua_type(l, index) {
            ffi::LUA_TNIL => "nil".to_owned(),
            ffi::LUA_TBOOLEAN => (ffi::lua_toboolean(l, index) != 0).to_string(),
            ffi::LUA_TNUMBER if ffi::lua_isinteger(l, index) != 0 => {
                ffi::lua_tointegerx(l, index, ptr::null_mut()).to_string()
            }
            ffi::LUA_TNUMBER => ffi::lua_tonumberx(l, index, ptr::null_mut()).to_string(),
            ffi::LUA_TSTRING => string_at(l, index).unwrap(),
            other => format!("<Lua type {other}>"),
        }
    }
}

/// The string at `index`, if it is one: `lua_tolstring` on a string
/// neither converts nor allocates, so it cannot raise.
///
/// # Safety
/// `index` must be a valid (or acceptable) index of `l`'s stack.
unsafe fn string_at(l: LuaState, index: c_int) -> Option<String> {
    // SAFETY: forwarded; for a string Lua returns a pointer to its `len`
    // bytes, alive while the value is on the stack (we copy them now).
    unsafe {
        if ffi::lua_type(l, index) != ffi::LUA_TSTRING {
            return None;
        }
        let mut len = 0;
        let bytes = ffi::lua_tolstring(l, index, &mut len);
        let bytes = std::slice::from_raw_parts(bytes.cast::<u8>(), len);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Pushes `message` as a Lua string. `lua_pushlstring` may raise a memory
/// error, which must not longjmp over the Rust frames that run `on_raise`:
/// it runs in a protected call of a C function whose frame holds nothing
/// to drop. On a memory error the pushed value is Lua's memory-error
/// message instead.
///
/// # Safety
/// `l` must be the state of the running call.
unsafe fn push_message(l: LuaState, message: &str) {
    /// Pushes the string of light userdata 1 and length 2.
    unsafe extern "C-unwind" fn push(l: LuaState) -> c_int {
        // SAFETY: called only by the `lua_pcall` below, with a pointer and a
        // length describing a live `&str`; only raw values in this frame.
        unsafe {
            let bytes = ffi::lua_touserdata(l, 1).cast::<c_char>();
            let len = ffi::lua_tointegerx(l, 2, ptr::null_mut()) as usize;
            ffi::lua_pushlstring(l, bytes, len);
        }
        1
    }
    // SAFETY: the caller gives the running call's state; these pushes do
    // not allocate (a light C function, a light userdata, an integer) and
    // `lua_pcall` is protected: it leaves the string or the error on top.
    unsafe {
        if ffi::lua_checkstack(l, 3) == 0 {
            return;
        }
        ffi::lua_pushcfunction(l, push);
        ffi::lua_pushlightuserdata(l, message.as_ptr().cast_mut().cast());
        ffi::lua_pushinteger(l, message.len() as ffi::lua_Integer);
        ffi::lua_pcall(l, 2, 1, 0);
    }
}

/// What the tests' `on_raise` hands Lua: which failure, and its message.
fn describe<E: Display>(failure: &Failure<'_, E>) -> String {
    let what = match failure {
        Failure::Panicked(_) => "panicked",
        Failure::Failed(_) => "failed",
        Failure::Refused(_) => "refused",
        _ => "failed somehow",
    };
    format!("{what}: {}", failure.message())
}

// ---------------------------------------------------------------------------
// The Rust functions
// ---------------------------------------------------------------------------

thread_local! {
    /// Values owned by a body and not dropped yet, on this thread.
    static LIVE: Cell<i32> = const { Cell::new(0) };
}

/// A heap value that a body owns while it runs: the trampoline must drop it
/// whatever the body does (counted in `LIVE`; valgrind sees the heap).
struct Owned {
    _heap: String,
}

impl Owned {
    fn new() -> Owned {
        LIVE.with(|live| live.set(live.get() + 1));
        Owned {
            _heap: "owned by the body".repeat(4),
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        LIVE.with(|live| live.set(live.get() - 1));
    }
}

fn live() -> i32 {
    LIVE.with(Cell::get)
}

/// The work the functions share, by argument 1: `"panic"`, `"panic_any"`
/// (a non-string payload), `"err"`; anything else returns the call number.
/// It calls nothing that can raise a Lua error.
fn count(l: LuaState, calls: &Cell<u32>) -> Result<c_int, String> {
    let _owned = Owned::new();
    let n = calls.get() + 1;
    calls.set(n);
    // SAFETY: `l` is the running call's state; index 1 is acceptable.
    let mode = unsafe { string_at(l, 1) };
    match mode.as_deref() {
        Some("panic") => panic!("expected: boom #{n}"),
        Some("panic_any") => panic_any(n),
        Some("err") => Err(format!("bad input #{n}")),
        _ => {
            // SAFETY: a C function may push up to LUA_MINSTACK values;
            // pushing an integer does not raise.
            unsafe { ffi::lua_pushinteger(l, n.into()) };
            Ok(1)
        }
    }
}

/// Shared user data: `&State`, with a `Cell` inside.
#[derive(Default)]
struct State {
    calls: Cell<u32>,
}

/// `count` over shared `&State`.
#[callback(
    // SAFETY: upvalue 1 is the light userdata pushed when this function was
    // registered: `counter::user_data(&state)` for a `State` that outlives
    // the Lua state, or null (refused).
    user_data = unsafe { ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) },
    // SAFETY: `l` is this call's state.
    on_raise = unsafe { push_message(l, &describe(&failure)) },
    // SAFETY: the message is on top of the stack; `lua_error` longjmps to
    // the pcall that runs this call, over this trampoline's frame only.
    raise = unsafe { ffi::lua_error(l) },
)]
extern "C-unwind" fn counter(l: LuaState, #[user_data] state: &State) -> Result<c_int, String> {
    count(l, &state.calls)
}

/// Exclusive user data: `&mut Tally`.
#[derive(Default)]
struct Tally {
    calls: u32,
}

/// `count` over `&mut Tally`; `counter_mut("nest", chunk)` runs `chunk`
/// under `lua_pcall` from inside the call and returns its result or its
/// error.
#[callback(
    // SAFETY: upvalue 1 is `counter_mut::user_data(&mut tally)` for a `Tally`
    // that outlives the Lua state and is not used otherwise meanwhile.
    user_data = unsafe { ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) },
    // SAFETY: `l` is this call's state.
    on_raise = unsafe { push_message(l, &describe(&failure)) },
    // SAFETY: the message is on top of the stack; `lua_error` longjmps to
    // the pcall that runs this call, over this trampoline's frame only.
    raise = unsafe { ffi::lua_error(l) },
)]
extern "C-unwind" fn counter_mut(
    l: LuaState,
    #[user_data] tally: &mut Tally,
) -> Result<c_int, String> {
    // SAFETY: `l` is the running call's state.
    if unsafe { string_at(l, 1) }.as_deref() == Some("nest") {
        // SAFETY: index 2 is acceptable.
        let chunk = unsafe { string_at(l, 2) }.unwrap_or_default();
        // SAFETY: loading and `lua_pcall` are protected: an error in the
        // nested chunk ends at this `lua_pcall`, which returns a status and
        // leaves one value (the chunk's result or its error) on top.
        unsafe {
            let status = ffi::luaL_loadbufferx(
                l,
                chunk.as_ptr().cast(),
                chunk.len(),
                c"=nested".as_ptr(),
                ptr::null(),
            );
            if status == ffi::LUA_OK {
                ffi::lua_pcall(l, 0, 1, 0);
            }
        }
        return Ok(1);
    }
    count(l, Cell::from_mut(&mut tally.calls))
}

/// A function whose `on_raise` pushes the message, then panics.
#[callback(
    // SAFETY: upvalue 1 is `fragile::user_data(&state)` for a `State` that
    // outlives the Lua state.
    user_data = unsafe { ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) },
    // SAFETY: `l` is this call's state.
    on_raise = unsafe { push_then_panic(l, &failure) },
    // SAFETY: the message is on top of the stack; `lua_error` longjmps to
    // the pcall that runs this call, over this trampoline's frame only.
    raise = unsafe { ffi::lua_error(l) },
)]
extern "C-unwind" fn fragile(l: LuaState, #[user_data] state: &State) -> Result<c_int, String> {
    count(l, &state.calls)
}

/// # Safety
/// `l` must be the state of the running call.
unsafe fn push_then_panic(l: LuaState, failure: &Failure<'_, String>) {
    // SAFETY: forwarded.
    unsafe { push_message(l, &describe(failure)) };
    panic!("expected: on_raise panicked after pushing the message");
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

/// A report as recorded: the kind, the callback, the panic message.
type Recorded = (ReportKind, Option<String>, Option<String>);

static REPORTS: Mutex<Vec<(ThreadId, Recorded)>> = Mutex::new(Vec::new());

fn record(report: &Report<'_>) {
    let recorded = (
        report.kind(),
        report.callback().map(str::to_owned),
        report.panic_message().map(str::to_owned),
    );
    REPORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((thread::current().id(), recorded));
}

/// Runs `f` with the recording reporter, one test at a time; returns its
/// value and the reports made on this thread meanwhile.
fn reports_during<R>(f: impl FnOnce() -> R) -> (R, Vec<Recorded>) {
    static SERIAL: Mutex<()> = Mutex::new(());
    static INSTALL: Once = Once::new();
    let _serial: MutexGuard<'_, ()> = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    INSTALL.call_once(|| set_reporter(record));
    let me = thread::current().id();
    REPORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(thread, _)| *thread != me);
    let value = f();
    let mut reports = REPORTS.lock().unwrap_or_else(PoisonError::into_inner);
    let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut *reports)
        .into_iter()
        .partition(|(thread, _)| *thread == me);
    *reports = others;
    (
        value,
        mine.into_iter().map(|(_, recorded)| recorded).collect(),
    )
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// A Lua state with `counter` registered over `state`.
///
/// # Safety
/// `state` must outlive the returned state (declare it first).
unsafe fn lua_with_counter(state: &State) -> Lua {
    let lua = Lua::new();
    // SAFETY: the caller keeps `state` alive for as long as `lua`.
    unsafe { lua.register(c"counter", counter, counter::user_data(state)) };
    lua
}

/// The function called inside a pcall'd Lua function, MODE replaced.
const PCALL: &str = r#"
    local after_call = false
    local ok, message = pcall(function()
        counter(MODE)
        after_call = true
    end)
    local after_pcall = true
    return ok, message, after_call, after_pcall
"#;

#[test]
fn pcall_of_a_panicking_function_gets_the_panic_message_and_stops_the_caller() {
    let state = State::default();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    let lua = unsafe { lua_with_counter(&state) };
    let (result, panics) = panics_during(|| lua.run(&PCALL.replace("MODE", "'panic'")));
    assert_eq!(
        result.unwrap(),
        ["false", "panicked: expected: boom #1", "false", "true"]
    );
    assert_eq!(panics, ["expected: boom #1"]);
    assert_eq!(state.calls.get(), 1);
    assert_eq!(live(), 0, "the body's values were dropped");
}

#[test]
fn pcall_of_a_function_returning_err_gets_the_error_and_stops_the_caller() {
    let state = State::default();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    let lua = unsafe { lua_with_counter(&state) };
    let (result, panics) = panics_during(|| lua.run(&PCALL.replace("MODE", "'err'")));
    assert_eq!(
        result.unwrap(),
        ["false", "failed: bad input #1", "false", "true"]
    );
    assert!(panics.is_empty(), "{panics:?}");
    assert_eq!(live(), 0, "the body's values were dropped");
}

#[test]
fn pcall_of_a_function_panicking_with_a_non_string_payload_gets_a_fixed_message() {
    let state = State::default();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    let lua = unsafe { lua_with_counter(&state) };
    let (result, _) = panics_during(|| lua.run(&PCALL.replace("MODE", "'panic_any'")));
    assert_eq!(
        result.unwrap(),
        [
            "false",
            "panicked: a Rust callback panicked",
            "false",
            "true"
        ]
    );
    assert_eq!(live(), 0);
}

#[test]
fn a_function_that_succeeds_returns_its_values_to_lua() {
    let state = State::default();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    let lua = unsafe { lua_with_counter(&state) };
    let result = lua.run("local a = counter(); local b = counter('x'); return a, b, a + b");
    assert_eq!(result.unwrap(), ["1", "2", "3"]);
    assert_eq!(state.calls.get(), 2);
}

#[test]
fn the_same_function_works_again_after_each_failure() {
    let state = State::default();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    let lua = unsafe { lua_with_counter(&state) };
    let (result, panics) = panics_during(|| {
        lua.run(
            r#"
            local a = counter()
            local ok1, m1 = pcall(counter, "panic")
            local b = counter()
            local ok2, m2 = pcall(counter, "err")
            local c = counter()
            local failures = 0
            for i = 1, 100 do
                local ok = pcall(counter, i % 2 == 0 and "err" or "panic")
                if not ok then failures = failures + 1 end
            end
            return a, ok1, m1, b, ok2, m2, c, failures, counter()
            "#,
        )
    });
    assert_eq!(
        result.unwrap(),
        [
            "1",
            "false",
            "panicked: expected: boom #2",
            "3",
            "false",
            "failed: bad input #4",
            "5",
            "100",
            "106"
        ]
    );
    assert_eq!(panics.len(), 51);
    assert_eq!(state.calls.get(), 106);
    assert_eq!(live(), 0, "the body's values were dropped");
    // A new chunk, too.
    assert_eq!(lua.run("return counter()").unwrap(), ["107"]);
}

#[test]
fn an_uncaught_error_ends_the_chunk_and_lua_pcall_returns_it() {
    let state = State::default();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    let lua = unsafe { lua_with_counter(&state) };
    let error = lua
        .run("before = true; counter('err'); after = true")
        .unwrap_err();
    assert_eq!(error, (ffi::LUA_ERRRUN, "failed: bad input #1".to_owned()));
    assert_eq!(lua.run("return before, after").unwrap(), ["true", "nil"]);

    let (error, _) = panics_during(|| lua.run("counter('panic'); reached = true"));
    assert_eq!(
        error.unwrap_err(),
        (ffi::LUA_ERRRUN, "panicked: expected: boom #2".to_owned())
    );
    assert_eq!(lua.run("return reached, counter()").unwrap(), ["nil", "3"]);
    assert_eq!(live(), 0);
}

#[test]
fn an_error_inside_a_coroutine_reaches_its_resume() {
    let state = State::default();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    let lua = unsafe { lua_with_counter(&state) };
    let (result, _) = panics_during(|| {
        lua.run(
            r#"
            local co = coroutine.create(function()
                counter()
                counter("panic")
                return "not reached"
            end)
            local ok, message = coroutine.resume(co)
            return ok, message, coroutine.status(co), counter()
            "#,
        )
    });
    assert_eq!(
        result.unwrap(),
        ["false", "panicked: expected: boom #2", "dead", "3"]
    );
    assert_eq!(live(), 0);
}

#[test]
fn xpcall_handler_and_nested_pcall_see_the_message() {
    let state = State::default();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    let lua = unsafe { lua_with_counter(&state) };
    let (result, _) = panics_during(|| {
        lua.run(
            r#"
            local inner
            local ok, message = xpcall(function()
                inner = select(2, pcall(counter, "err"))
                counter("panic")
            end, function(m) return "handled: " .. m end)
            return inner, ok, message
            "#,
        )
    });
    assert_eq!(
        result.unwrap(),
        [
            "failed: bad input #1",
            "false",
            "handled: panicked: expected: boom #2"
        ]
    );
}

#[test]
fn a_mut_user_data_function_works_again_after_a_raise() {
    let mut tally = Tally::default();
    let lua = Lua::new();
    // SAFETY: `tally` outlives `lua` (declared first) and is not used
    // otherwise until `lua` is dropped.
    unsafe {
        lua.register(
            c"counter_mut",
            counter_mut,
            counter_mut::user_data(&mut tally),
        )
    };
    // With debug assertions, a re-entry guard left behind by the first
    // failure would refuse the next calls.
    let (result, _) = panics_during(|| {
        lua.run(
            r#"
            local a = counter_mut()
            local ok1, m1 = pcall(counter_mut, "panic")
            local b = counter_mut()
            local ok2, m2 = pcall(counter_mut, "err")
            local c = counter_mut()
            return a, ok1, m1, b, ok2, m2, c
            "#,
        )
    });
    assert_eq!(
        result.unwrap(),
        [
            "1",
            "false",
            "panicked: expected: boom #2",
            "3",
            "false",
            "failed: bad input #4",
            "5"
        ]
    );
    assert_eq!(live(), 0);
    drop(lua);
    assert_eq!(tally.calls, 5);
}

/// Release builds do not check `&mut` re-entry (it is the caller's promise
/// there), so this runs with debug assertions only.
#[cfg(debug_assertions)]
#[test]
fn a_mut_user_data_function_entered_again_is_refused_with_a_lua_error() {
    let mut tally = Tally::default();
    let lua = Lua::new();
    // SAFETY: `tally` outlives `lua` (declared first) and is not used
    // otherwise until `lua` is dropped.
    unsafe {
        lua.register(
            c"counter_mut",
            counter_mut,
            counter_mut::user_data(&mut tally),
        )
    };
    let (result, panics) = panics_during(|| {
        lua.run(
            r#"
            local nested = counter_mut("nest", "return counter_mut()")
            return nested, counter_mut()
            "#,
        )
    });
    let result = result.unwrap();
    assert!(
        result[0].starts_with("refused: it was entered again with user data 0x")
            && result[0].contains("`c_lua::counter_mut` is still using mutably"),
        "{result:?}"
    );
    // The refused call ran no body; the outer one ended normally.
    assert_eq!(result[1], "1");
    assert_eq!(
        panics.len(),
        1,
        "the refusal is raised as a panic: {panics:?}"
    );
    drop(lua);
    assert_eq!(tally.calls, 1);
}

#[test]
fn a_null_upvalue_is_refused_with_a_lua_error() {
    let lua = Lua::new();
    // SAFETY: null is refused before anything is read through it.
    unsafe { lua.register(c"orphan", counter, ptr::null_mut()) };
    let (result, reports) = reports_during(|| {
        lua.run("local ok, m = pcall(orphan); return ok, m")
            .unwrap()
    });
    assert_eq!(
        result,
        [
            "false",
            "refused: its user data is null, but it receives it as `&c_lua::State`"
        ]
    );
    // The refusal went to Lua, like a panic or an `Err`; nothing to report.
    assert_eq!(reports, []);
    assert_eq!(live(), 0, "no body ran");
}

#[test]
fn a_panicking_on_raise_is_reported_and_the_error_still_raised() {
    let state = State::default();
    let lua = Lua::new();
    // SAFETY: `state` is declared first, so it outlives `lua`.
    unsafe { lua.register(c"fragile", fragile, fragile::user_data(&state)) };
    let ((result, panics), reports) = reports_during(|| {
        panics_during(|| {
            lua.run(
                r#"
                local ok1, m1 = pcall(fragile, "err")
                local ok2, m2 = pcall(fragile, "panic")
                return ok1, m1, ok2, m2, fragile()
                "#,
            )
        })
    });
    assert_eq!(
        result.unwrap(),
        [
            "false",
            "failed: bad input #1",
            "false",
            "panicked: expected: boom #2",
            "3"
        ]
    );
    let handler = "expected: on_raise panicked after pushing the message";
    assert_eq!(panics, [handler, "expected: boom #2", handler]);
    let report = (
        ReportKind::RaiseHandlerPanicked,
        Some("c_lua::fragile".to_owned()),
        Some(handler.to_owned()),
    );
    assert_eq!(reports, [report.clone(), report]);
    assert_eq!(live(), 0);
}
