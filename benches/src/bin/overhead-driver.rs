//! Runs one variant once, for `scripts/instructions.sh` to measure under
//! callgrind. Counts heap allocations with a wrapping global allocator.
//!
//! ```text
//! overhead-driver list                 key, user data (r/-), module, entry glob, name
//! overhead-driver sort KEY [N]         sorts N (100000) values; prints calls= allocs=
//! overhead-driver setup KEY [K]        K (1000) x setup_teardown; prints runs= allocs=
//!                                      (KEY may be `base` or `base_r`: the baselines)
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use ffi_callback_benches::{SEED, VARIANTS, data, variant, variants::baseline};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn usage() -> ExitCode {
    eprintln!("usage: overhead-driver list | sort KEY [N] | setup KEY [K]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["list"] => {
            for v in VARIANTS {
                let r = if v.user_data { "r" } else { "-" };
                println!(
                    "{}\t{r}\t{}\t{}\t{}",
                    v.key,
                    v.module,
                    v.entry.unwrap_or("-"),
                    v.name
                );
            }
            ExitCode::SUCCESS
        }
        ["sort", key, rest @ ..] => {
            let Some(v) = variant(key) else {
                eprintln!("unknown variant {key}");
                return usage();
            };
            let n = rest.first().map_or(Ok(100_000), |n| n.parse());
            let Ok(n) = n else { return usage() };
            let mut values = data(n, SEED);
            let before = ALLOCS.load(Relaxed);
            let calls = (v.sort)(black_box(&mut values));
            let allocs = ALLOCS.load(Relaxed) - before;
            assert!(values.is_sorted(), "variant {key} did not sort");
            println!("calls={calls} allocs={allocs}");
            ExitCode::SUCCESS
        }
        ["setup", key, rest @ ..] => {
            let f: fn() -> u64 = match *key {
                "base" => baseline::plain,
                "base_r" => baseline::with_user_data,
                key => match variant(key) {
                    Some(v) => v.setup_teardown,
                    None => {
                        eprintln!("unknown variant {key}");
                        return usage();
                    }
                },
            };
            let k = rest.first().map_or(Ok(1000), |k| k.parse());
            let Ok(k) = k else { return usage() };
            let before = ALLOCS.load(Relaxed);
            for _ in 0..k {
                black_box(black_box(f)());
            }
            let allocs = ALLOCS.load(Relaxed) - before;
            println!("runs={k} allocs={allocs}");
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
