//! What happens to a panic inside a C callback: glibc's `qsort_r` calls a
//! comparator that panics on its third call; the panic is kept while glibc
//! finishes (later calls return the fallback without running Rust code) and
//! re-raised, with its payload, when `qsort_r` returns.
//!
//! `cargo run -p examples --example panic_in_callback`
//!
//! Built with `panic = "abort"` (`RUSTFLAGS="-C panic=abort"`), nothing can
//! be caught: the process aborts at the panic, after the panic hook printed
//! it, and never unwinds into C. `scripts/panic-abort.sh` checks both.

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use ffi_callback::{callback, resume_panics};

    struct Comparisons {
        ran: u32,
    }

    #[callback]
    extern "C" fn compare(
        a: *const c_void,
        b: *const c_void,
        #[user_data] seen: &mut Comparisons,
    ) -> c_int {
        seen.ran += 1;
        if seen.ran == 3 {
            panic!("the third comparison refuses to compare");
        }
        // SAFETY: qsort_r passes pointers to two `u32` elements of the slice.
        let (a, b) = unsafe { (*a.cast::<u32>(), *b.cast::<u32>()) };
        a.cmp(&b) as c_int
    }

    pub(crate) fn main() {
        let mut values = [5_u32, 3, 9, 1, 7, 2, 8];
        let mut seen = Comparisons { ran: 0 };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `compare` receives `&mut Comparisons`; `seen` and
            // `values` outlive the call and nothing else touches them.
            resume_panics(|| unsafe {
                libc::qsort_r(
                    values.as_mut_ptr().cast(),
                    values.len(),
                    size_of::<u32>(),
                    Some(compare),
                    compare::user_data(&mut seen),
                );
            })
        }));
        match outcome {
            Ok(()) => println!("sorted without a panic: {values:?}"),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .unwrap_or("(not a string)");
                println!("qsort_r returned; the panic was resumed on the Rust side: {message:?}");
                println!(
                    "Rust code ran {} times; glibc got 0 from every later call",
                    seen.ran
                );
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("panic_in_callback uses glibc's qsort_r: run it on Linux");
}
