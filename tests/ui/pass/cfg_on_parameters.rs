//! `#[cfg]` and `#[cfg_attr]` on parameters and on a set's entry points:
//! the macro expands one copy per combination of the conditions, and the
//! one that holds is compiled (a parameter whose `cfg` fails is not there).
#![deny(warnings)]
use ffi_callback::{callback, resume_panics};
use std::ffi::{c_int, c_void};

#[callback]
extern "C" fn add(
    #[cfg(any())] absent: NoSuchType,
    #[cfg(all())] step: c_int,
    #[cfg_attr(all(), user_data)] total: &mut c_int,
) -> c_int {
    *total += step;
    *total
}

/// `true` and `false` are predicates (Rust 1.88).
#[callback]
extern "C" fn add_true(
    #[cfg(false)] absent: NoSuchType,
    step: c_int,
    #[cfg_attr(true, user_data)] total: &mut c_int,
) -> c_int {
    *total += step;
    *total
}

/// A second `#[user_data]` would be an error, but only in the copy that is
/// not compiled.
#[callback]
extern "C" fn read_total(
    #[cfg(any())]
    #[user_data]
    other: &mut c_int,
    #[user_data] total: &c_int,
) -> c_int {
    *total
}

#[callback]
type Visit = unsafe extern "C" fn(
    #[cfg(any())] absent: NoSuchType,
    n: c_int,
    #[cfg(all())]
    #[user_data]
    ud: *mut c_void,
) -> c_int;

/// A set whose `seek` entry exists in one configuration only.
#[callback]
pub trait Stream {
    unsafe extern "C" fn read(&mut self, #[user_data] ud: *mut c_void, #[cfg(any())] flags: NoSuchType) -> c_int;
    #[cfg(any())]
    unsafe extern "C" fn seek(&mut self, #[user_data] ud: *mut c_void, to: NoSuchType) -> c_int;
}

/// A slice borrowed from a pointer to another type is checked for its
/// size only in the copy that is compiled: the other names a type that
/// does not exist there.
#[callback]
type ReadBytes = unsafe extern "C" fn(
    #[user_data] ud: *mut c_void,
    #[cfg(any())]
    #[into(&[u8], len = n)]
    buf: *const NoSuchType,
    n: usize,
);

/// The same in a set: on a parameter, and on an entry point.
#[callback]
pub trait Reader {
    unsafe extern "C" fn read(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[cfg(any())]
        #[into(&[u8], len = n)]
        buf: *const NoSuchType,
        n: usize,
    );
    #[cfg(any())]
    unsafe extern "C" fn peek(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&[u8], len = n)] buf: *const NoSuchType,
        n: usize,
    );
}

struct Count(c_int);

struct Bytes(usize);

impl Reader for Bytes {
    fn read(&mut self, n: usize) {
        self.0 += n;
    }
}

impl Stream for Count {
    fn read(&mut self) -> c_int {
        self.0 += 1;
        self.0
    }
}

fn main() {
    let mut total = 0;
    // SAFETY: the user data is `total`, alive and unused during the call.
    let sum = resume_panics(|| unsafe { add(2, add::user_data(&mut total)) });
    assert_eq!((sum, total), (2, 2));
    // SAFETY: as above.
    let sum = resume_panics(|| unsafe { add_true(3, add_true::user_data(&mut total)) });
    assert_eq!((sum, total), (5, 5));
    // SAFETY: as above.
    assert_eq!(resume_panics(|| unsafe { read_total(read_total::user_data(&total)) }), 5);

    let mut seen = 0;
    let result = Visit::scope(
        |n| {
            seen += n;
            seen
        },
        // SAFETY: `scope` keeps the holder alive during the call.
        |visit, ud| unsafe { visit(5, ud) },
    );
    assert_eq!((result, seen), (5, 5));

    let read = <Count as StreamExt>::READ;
    // SAFETY: `scope` keeps the state alive during the call.
    let (got, state) = Count(0).scope(|ud| unsafe { read(ud) + read(ud) });
    assert_eq!((got, state.0), (3, 2));

    let (_, state) = Bytes(0).scope(|ud| {
        // SAFETY: `scope` keeps the state alive during the call.
        unsafe { <Bytes as ReaderExt>::READ(ud, 4) }
    });
    assert_eq!(state.0, 4);
    let _ = ReadBytes::new(|n: usize| assert_eq!(n, 0));
}
