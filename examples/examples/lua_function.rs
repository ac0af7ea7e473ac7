//! A Rust function exposed to a Lua script: `seconds("1h30m")` parses a
//! duration. Its failures (an `Err` for bad input, a panic for a unit it
//! does not handle yet) reach the script as Lua errors, which `pcall`
//! catches like any other.
//!
//! ```text
//! cargo run -p examples --example lua_function
//! ```
//!
//! - A Lua C function has no user-data parameter: the state (call counts)
//!   is the closure's first upvalue, a light userdata, fetched with
//!   `user_data = lua_touserdata(l, lua_upvalueindex(1))`.
//! - Lua reports errors by `lua_error`, which longjmps out of the C
//!   function. The body must never call it (a longjmp over Rust frames
//!   skips their destructors and the crate's guards): it returns `Err` or
//!   panics, `on_raise` pushes the message, and the trampoline calls `lua_error`
//!   itself (`raise = ..`) once everything on the Rust side is dropped.
//!
//! Lua 5.4 is the copy that `mlua-sys` builds from source (feature
//! `vendored`): no system library needed.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int};
use std::fmt;
use std::process::ExitCode;
use std::ptr;

use ffi_callback::callback;
use mlua_sys as ffi;

type LuaState = *mut ffi::lua_State;

/// What `seconds` keeps between calls.
#[derive(Default)]
struct Stats {
    calls: Cell<u32>,
    succeeded: Cell<u32>,
    failed: Cell<u32>,
}

/// Why a duration does not parse.
#[derive(Debug)]
enum BadDuration {
    NotAString,
    Empty,
    NoNumberBefore(char),
    NoUnitAfter(u64),
    UnknownUnit(char),
}

impl fmt::Display for BadDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadDuration::NotAString => f.write_str("seconds: expected a string"),
            BadDuration::Empty => f.write_str("seconds: empty duration"),
            BadDuration::NoNumberBefore(unit) => write!(f, "seconds: no number before '{unit}'"),
            BadDuration::NoUnitAfter(n) => write!(f, "seconds: no unit after {n}"),
            BadDuration::UnknownUnit(unit) => write!(f, "seconds: unknown unit '{unit}'"),
        }
    }
}

/// `seconds(text)`: "1h30m" -> 5400. Units h, m, s; "d" is not done yet.
#[callback(
    // SAFETY: upvalue 1 is the light userdata `seconds::user_data(&stats)`
    // pushed when the function was registered; `stats` outlives the state.
    user_data = unsafe { ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) },
    // SAFETY: `l` is this call's state.
    on_raise = unsafe { push_message(l, &failure.message()) },
    // SAFETY: the message is on the stack; lua_error longjmps to Lua's pcall.
    raise = unsafe { ffi::lua_error(l) },
)]
extern "C-unwind" fn seconds(
    l: LuaState,
    #[user_data] stats: &Stats,
) -> Result<c_int, BadDuration> {
    stats.calls.set(stats.calls.get() + 1);
    // SAFETY: `l` is this call's state and 1 an acceptable index (none or a
    // value); argument 1 is read, not converted.
    let text = unsafe { string_arg(l, 1) };
    let total = text
        .ok_or(BadDuration::NotAString)
        .and_then(|text| parse(&text))
        .inspect_err(|_| stats.failed.set(stats.failed.get() + 1))?;
    stats.succeeded.set(stats.succeeded.get() + 1);
    // SAFETY: a C function may push a value; pushing an integer cannot raise.
    unsafe { ffi::lua_pushinteger(l, total as ffi::lua_Integer) };
    Ok(1)
}

fn parse(text: &str) -> Result<u64, BadDuration> {
    if text.is_empty() {
        return Err(BadDuration::Empty);
    }
    let (mut total, mut number) = (0, None::<u64>);
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(number.unwrap_or(0) * 10 + u64::from(digit));
            continue;
        }
        let n = number.take().ok_or(BadDuration::NoNumberBefore(c))?;
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            'd' => todo!("days in a duration"),
            other => return Err(BadDuration::UnknownUnit(other)),
        };
    }
    match number {
        Some(n) => Err(BadDuration::NoUnitAfter(n)),
        None => Ok(total),
    }
}

/// The value at `index`, if it is a string.
///
/// # Safety
/// `l` must be an open state and `index` an acceptable index of its stack
/// (Lua's term: a value, or a free slot within the stack space).
unsafe fn string_arg(l: LuaState, index: c_int) -> Option<String> {
    // SAFETY: forwarded; `lua_tolstring` on a string neither converts nor
    // allocates (it cannot raise) and returns its `len` bytes.
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
/// error, which must not longjmp over the Rust frames running `on_raise`,
/// so it runs in a protected call of a C function that owns nothing.
///
/// # Safety
/// `l` must be the running call's state.
unsafe fn push_message(l: LuaState, message: &str) {
    unsafe extern "C-unwind" fn push(l: LuaState) -> c_int {
        // SAFETY: called by the `lua_pcall` below with a pointer and the
        // length of a live `&str`; only raw values live in this frame.
        unsafe {
            let bytes = ffi::lua_touserdata(l, 1).cast::<c_char>();
            let len = ffi::lua_tointegerx(l, 2, ptr::null_mut()) as usize;
            ffi::lua_pushlstring(l, bytes, len);
        }
        1
    }
    // SAFETY: `l` is the running call's state; these pushes do not allocate
    // and `lua_pcall` is protected: it leaves the string (or Lua's memory
    // error) on top.
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

/// The script; it keeps its output in the global table `lines`.
const SCRIPT: &str = r#"
lines = {}
local total = 0
for _, text in ipairs({ "1h30m", "45s", "2h5m10s", "90x", "m", "3d" }) do
    local ok, result = pcall(seconds, text)
    if ok then
        total = total + result
        lines[#lines + 1] = string.format("  %-8s = %d s", text, result)
    else
        lines[#lines + 1] = string.format("  %-8s : %s", text, result)
    end
end
lines[#lines + 1] = string.format("total of the good ones: %d s", total)
-- Not caught here: this error ends the script, and lua_pcall returns it.
seconds("10")
lines[#lines + 1] = "not reached"
"#;

fn main() -> ExitCode {
    let stats = Stats::default();
    // SAFETY: plain constructor; null only when out of memory.
    let l = unsafe { ffi::luaL_newstate() };
    if l.is_null() {
        eprintln!("luaL_newstate failed");
        return ExitCode::FAILURE;
    }
    let script = CString::new(SCRIPT).unwrap();
    // SAFETY: `l` is a fresh state; `stats` outlives it (closed below);
    // loading and `lua_pcall` are protected (they return a status).
    let (status, error) = unsafe {
        ffi::luaL_openlibs(l);
        ffi::lua_pushlightuserdata(l, seconds::user_data(&stats));
        ffi::lua_pushcclosure(l, seconds, 1);
        ffi::lua_setglobal(l, c"seconds".as_ptr());
        let mut status = ffi::luaL_loadstring(l, script.as_ptr());
        if status == ffi::LUA_OK {
            status = ffi::lua_pcall(l, 0, 0, 0);
        }
        // On an error, its value is on top.
        let error = if status == ffi::LUA_OK {
            None
        } else {
            string_arg(l, -1)
        };
        ffi::lua_settop(l, 0);
        (status, error)
    };
    let lines = read_lines(l);
    // SAFETY: `l` is open; nothing uses it afterwards.
    unsafe { ffi::lua_close(l) };

    println!("the script called seconds() through pcall:");
    for line in &lines {
        println!("{line}");
    }
    match (status, error) {
        (ffi::LUA_OK, _) => {
            println!("the script ran to its end, past the uncaught error");
            return ExitCode::FAILURE;
        }
        (_, Some(error)) => println!("the script stopped: {error}"),
        (_, None) => println!("the script stopped with a non-string error"),
    }
    let (calls, succeeded, failed) = (stats.calls.get(), stats.succeeded.get(), stats.failed.get());
    println!(
        "seconds was called {calls} times: {succeeded} returned a value, {failed} an error, {} panicked",
        calls - succeeded - failed
    );
    ExitCode::SUCCESS
}

/// The strings of the global table `lines`.
fn read_lines(l: LuaState) -> Vec<String> {
    let mut lines = Vec::new();
    // SAFETY: `l` is open and idle; `lua_getglobal` on an ordinary global
    // table and `lua_rawgeti` do not call metamethods, and the stack has room.
    unsafe {
        if ffi::lua_getglobal(l, c"lines".as_ptr()) == ffi::LUA_TTABLE {
            for i in 1.. {
                ffi::lua_rawgeti(l, -1, i);
                let line = string_arg(l, -1);
                ffi::lua_settop(l, -2);
                match line {
                    Some(line) => lines.push(line),
                    None => break,
                }
            }
        }
        ffi::lua_settop(l, 0);
    }
    lines
}
