// A `sync` (or `send`) callback may run on several threads at once with the
// same C pointer: a shared borrow must be of plain data (`Copy`), or a
// `Cell` in it (hidden in a struct or an alias, where the name check cannot
// see it) would be changed from both threads.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};

#[repr(C)]
pub struct Config {
    hits: Cell<c_int>,
}

pub type Hits = Cell<c_int>;

#[callback(sync)]
type Job = unsafe extern "C" fn(#[into(&Config)] config: *const Config, #[user_data] ud: *mut c_void);

#[callback(send)]
type Tally = unsafe extern "C" fn(#[into(Option<&[Hits]>, len = n)] hits: *const c_int, n: usize, #[user_data] ud: *mut c_void);

fn main() {
    let job = Job::new(|config: &Config| config.hits.set(config.hits.get() + 1));
    let tally = Tally::new(|hits: Option<&[Hits]>, _| drop(hits));
    let _ = (job, tally);
}
