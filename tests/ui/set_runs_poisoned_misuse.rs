//! `runs_poisoned` marks one `&self` entry of a set.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

/// On the whole set: refused (it is per entry).
#[callback(runs_poisoned)]
trait WholeSet {
    unsafe extern "C" fn free(&self, block: *mut c_void, #[user_data] data: *mut c_void);
}

#[callback]
trait Entries {
    /// `&mut self`: a panic may have left the state half-changed.
    #[callback(runs_poisoned)]
    unsafe extern "C" fn reset(&mut self, #[user_data] data: *mut c_void);
    /// `self`: the set's destroy.
    #[callback(runs_poisoned)]
    unsafe extern "C" fn close(self, #[user_data] data: *mut c_void) -> c_int;
}

#[callback]
trait MarkedDestroy {
    /// A `destroy` entry ends the state.
    #[callback(destroy, runs_poisoned)]
    unsafe extern "C" fn finalize(&self, #[user_data] data: *mut c_void);
}

/// A fn has no state to poison.
#[callback(runs_poisoned)]
extern "C" fn free_block(#[user_data] block: Box<u8>) {
    drop(block);
}

/// Nor a callback type.
#[callback(runs_poisoned)]
type Free = unsafe extern "C" fn(block: *mut c_void, #[user_data] data: *mut c_void);

#[callback]
trait Misspelt {
    /// Did you mean `runs_poisoned`?
    #[callback(ignore_poison)]
    unsafe extern "C" fn free(&self, block: *mut c_void, #[user_data] data: *mut c_void);
}

fn main() {}
