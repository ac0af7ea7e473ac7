// A set-level expression naming a method or a field that shares another
// entry's parameter name (`e.status()`, `DEFAULTS.nread`) reads no such
// parameter: the check that names an entry lacking one (ui
// set_expression_reads_a_missing_parameter) leaves it alone (audit 19).
// Nor does a struct literal's field name (`Status { status: -1 }`).

use std::ffi::{c_int, c_void};

use ffi_callback::callback;

#[derive(Debug)]
pub struct UvError(c_int);

impl UvError {
    /// The libuv status code to hand back.
    pub fn status(&self) -> c_int {
        self.0
    }
}

pub struct Defaults {
    pub nread: isize,
}

pub const DEFAULTS: Defaults = Defaults { nread: -4095 };

/// libuv-shaped: `uv_connect_cb(req, status)`, `uv_read_cb(stream, nread, buf)`.
#[callback(on_error = e.status())]
pub trait Client {
    unsafe extern "C" fn connected(
        &mut self,
        #[user_data] ud: *mut c_void,
        status: c_int,
    ) -> Result<c_int, UvError>;
    // The set's `on_error` reads no `status` here: `.status()` is the
    // error's method.
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, n: isize)
    -> Result<c_int, UvError>;
}

/// `fallback` naming a field that shares a parameter's name.
#[callback(fallback = DEFAULTS.nread)]
pub trait Reader {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, nread: isize) -> isize;
    unsafe extern "C" fn peek(&mut self, #[user_data] ud: *mut c_void) -> isize;
}

/// A struct literal whose field shares a parameter's name.
pub struct Status {
    pub status: c_int,
}

/// `fallback` naming a struct field that shares a parameter's name.
#[callback(fallback = Status { status: -1 }.status)]
pub trait Watcher {
    unsafe extern "C" fn changed(&mut self, #[user_data] ud: *mut c_void, status: c_int) -> c_int;
    unsafe extern "C" fn stopped(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct State;

impl Watcher for State {
    fn changed(&mut self, status: c_int) -> c_int {
        status
    }
    fn stopped(&mut self) -> c_int {
        0
    }
}

impl Client for State {
    fn connected(&mut self, status: c_int) -> Result<c_int, UvError> {
        Err(UvError(status))
    }
    fn read(&mut self, _n: isize) -> Result<c_int, UvError> {
        Ok(0)
    }
}

impl Reader for State {
    fn read(&mut self, nread: isize) -> isize {
        nread
    }
    fn peek(&mut self) -> isize {
        0
    }
}

fn main() {
    let _ = (<State as ClientExt>::CONNECTED, <State as ReaderExt>::PEEK);
    let _ = <State as WatcherExt>::STOPPED;
}
