// Issue 10: no safe fn conjures values. `call_slotless` recreates a
// slotless callback's zero-sized closure from nothing, so it is `unsafe`:
// only a trampoline reached from a holder (which took a value of the
// closure) may call it.
use ffi_callback::__private::{PoisonFilter, Site, call_slotless, no_error, policy::Resume};
use std::ffi::c_int;

fn main() {
    static SITE: Site = ffi_callback::__private::site!(main);
    static FILTER: PoisonFilter = PoisonFilter::NEW;
    let n: c_int = call_slotless::<Resume, fn(c_int) -> c_int, _, _>(
        |f: fn(c_int) -> c_int| f(1),
        no_error,
        || 0,
        &SITE,
        &FILTER,
    );
    println!("{n}");
}
