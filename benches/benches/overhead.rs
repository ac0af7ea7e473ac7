//! Wall-clock time of every variant sorting the same 1,000,000 pseudo-random
//! `u32` with glibc `qsort_r`/`qsort`, side by side:
//!
//! ```text
//! cargo bench -p ffi-callback-benches --features libffi --bench overhead
//! ```
//!
//! (Without `--features libffi` the libffi variant is left out.) Wall-clock
//! figures are noisy on a shared machine; `scripts/instructions.sh` gives the
//! deterministic instruction counts.

use std::sync::LazyLock;

use divan::{AllocProfiler, Bencher};
use ffi_callback_benches::{SEED, VARIANTS, data, variant};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

const N: usize = 1_000_000;

static DATA: LazyLock<Vec<u32>> = LazyLock::new(|| data(N, SEED));

fn keys() -> impl Iterator<Item = &'static str> {
    VARIANTS.iter().map(|v| v.key)
}

/// One sort of the 1,000,000 values (the copy to sort is made outside the
/// timed part).
#[divan::bench(args = keys(), sample_count = 20, sample_size = 1)]
fn sort_1m(bencher: Bencher<'_, '_>, key: &str) {
    let v = variant(key).expect("a listed key");
    bencher
        .with_inputs(|| DATA.clone())
        .bench_local_refs(|values| (v.sort)(values));
}

/// Building the callback, handing it to a C call that calls back zero
/// times, and tearing it down.
#[divan::bench(args = keys())]
fn setup_teardown(bencher: Bencher<'_, '_>, key: &str) {
    let v = variant(key).expect("a listed key");
    bencher.bench_local(v.setup_teardown);
}

fn main() {
    eprintln!("variants:");
    for v in VARIANTS {
        eprintln!("  {:<3} {}", v.key, v.name);
    }
    divan::main();
}
