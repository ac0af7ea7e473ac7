// A `sync` (or `send`, or slot-less) callback may run on other threads,
// several at once, with the same C pointer: the borrow is made there, so a
// shared borrow must be of a `Sync` type and an `&mut` of a `Send` one, as
// if the reference had been sent. A `Cell` (hidden in a struct or an
// alias, where the name check cannot see it), a `Copy` struct holding a
// `&Cell`, and an `&mut` of what stays on its thread would each be used
// from two threads.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;

#[repr(C)]
pub struct Config {
    hits: Cell<c_int>,
}

pub type Hits = Cell<c_int>;

// `Copy`, and no cell of its own, but it reaches one.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Counter {
    hits: &'static Cell<c_int>,
}

#[callback(sync)]
type Job = unsafe extern "C" fn(#[into(&Config)] config: *const Config, #[user_data] ud: *mut c_void);

#[callback(send)]
type Tally = unsafe extern "C" fn(#[into(Option<&[Hits]>, len = n)] hits: *const c_int, n: usize, #[user_data] ud: *mut c_void);

#[callback(send)]
type Count = unsafe extern "C" fn(#[into(&Counter)] counter: *const Counter, #[user_data] ud: *mut c_void);

// Not `Send`: it stays on the thread that made it.
#[repr(C)]
pub struct Local {
    count: c_int,
    _home: PhantomData<*mut ()>,
}

#[callback]
type Share = unsafe extern "C" fn(#[into(&mut Local)] local: *mut Local) -> c_int;

fn main() {
    let job = Job::new(|config: &Config| config.hits.set(config.hits.get() + 1));
    let tally = Tally::new(|hits: Option<&[Hits]>, _| drop(hits));
    let count = Count::new(|counter: &Counter| counter.hits.set(counter.hits.get() + 1));
    let share = Share::new(|local: &mut Local| local.count);
    let _ = (job, tally, count, share);
}
