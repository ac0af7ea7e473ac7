//! Overhead of `#[callback]` against hand-written trampolines and its peers.
//!
//! Every variant sorts the same pseudo-random `u32`s with glibc's `qsort_r`
//! (or `qsort`, for the ones without user data) and a comparator that counts
//! its calls. The variants live here so that the divan benchmark
//! (`benches/overhead.rs`) and the callgrind driver (`src/bin/overhead-driver.rs`,
//! run by `scripts/instructions.sh`) measure the very same code.
//!
//! Each variant has two entry points, both `#[inline(never)]` so that
//! callgrind can collect exactly them:
//! - `sort(data)`: sorts `data`, returns the number of comparator calls;
//! - `setup_teardown()`: builds the callback exactly as `sort` does, hands it
//!   to a C-ABI function that calls back zero times ([`c::zero_calls_r`]),
//!   and tears it down: the per-closure fixed cost.

pub mod c;
pub mod variants;

/// The seed every run uses, so that all variants sort the same data.
pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// `n` pseudo-random `u32` from a xorshift64 generator seeded with `seed`.
#[must_use]
pub fn data(n: usize, seed: u64) -> Vec<u32> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // The high half: xorshift's low bits are the weakest.
            (state >> 32) as u32
        })
        .collect()
}

/// Compares two `u32` the way `qsort` expects.
///
/// # Safety
/// `a` and `b` point at live, aligned `u32`s.
#[inline(always)]
#[must_use]
pub unsafe fn compare(a: *const std::ffi::c_void, b: *const std::ffi::c_void) -> std::ffi::c_int {
    // SAFETY: by the caller's promise.
    let (a, b) = unsafe { (*a.cast::<u32>(), *b.cast::<u32>()) };
    a.cmp(&b) as std::ffi::c_int
}

/// [`compare`] out of line, as a C function a callback body ends by
/// calling: the body's last call is then a tail call.
///
/// # Safety
/// As for [`compare`].
#[inline(never)]
#[must_use]
pub unsafe extern "C" fn compare_out_of_line(
    a: *const std::ffi::c_void,
    b: *const std::ffi::c_void,
) -> std::ffi::c_int {
    // SAFETY: by the caller's promise.
    unsafe { compare(a, b) }
}

/// One way of handing the counting comparator to C.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// Short key, as the driver and the benchmark take it (`a`, `b`, `c1`...).
    pub key: &'static str,
    /// What it is, for tables.
    pub name: &'static str,
    /// Sorts the data; returns the number of comparator calls.
    pub sort: fn(&mut [u32]) -> u64,
    /// Builds the callback, hands it to a C call that calls back zero
    /// times, tears it down. Returns the (zero) call count.
    pub setup_teardown: fn() -> u64,
    /// The variant's module (`module_path!()`), whose `setup_teardown` the
    /// instruction script collects.
    pub module: &'static str,
    /// Whether the C call takes user data (`qsort_r`) or not (`qsort`).
    pub user_data: bool,
    /// A glob matching the symbol that C calls, where the variant has a
    /// named one; `scripts/instructions.sh` uses it for callgrind's
    /// `--toggle-collect` (a cross-check) and for code size.
    pub entry: Option<&'static str>,
}

/// All variants that this build has, in table order.
pub const VARIANTS: &[Variant] = &[
    variants::a_floor::VARIANT,
    variants::b_trampoline::VARIANT,
    variants::c_trampoline_catch::VARIANT,
    variants::c1_fn_catch::VARIANT,
    variants::c1t_fn_catch_tail::VARIANT,
    variants::cr_trampoline_result::VARIANT,
    variants::c1r_fn_result::VARIANT,
    variants::d_box_dyn::VARIANT,
    #[cfg(feature = "libffi")]
    variants::e_libffi::VARIANT,
    variants::g_callback_fn::VARIANT,
    variants::gt_callback_fn_tail::VARIANT,
    variants::h_callback_type::VARIANT,
    variants::i_callback_reentrant::VARIANT,
    variants::j_callback_fn_result::VARIANT,
    variants::k_callback_type_result::VARIANT,
    variants::l_callback_set::VARIANT,
    variants::l1_callback_set_boxed::VARIANT,
    variants::m_callback_local::VARIANT,
    variants::n_callback_sync::VARIANT,
    variants::o_callback_type_into::VARIANT,
    variants::p_callback_type_borrowed::VARIANT,
    variants::q_callback_thread_local::VARIANT,
];

/// The variant with this key.
#[must_use]
pub fn variant(key: &str) -> Option<&'static Variant> {
    VARIANTS.iter().find(|v| v.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, not two: the floor (a) counts in a static, so its runs
    /// must not overlap.
    #[test]
    fn every_variant_sorts_counts_the_same_calls_and_sets_up_without_calls() {
        let input = data(10_000, SEED);
        let mut expected = input.clone();
        expected.sort_unstable();
        let mut calls = None;
        for v in VARIANTS {
            let mut d = input.clone();
            let n = (v.sort)(&mut d);
            assert_eq!(d, expected, "variant {} did not sort", v.key);
            assert!(n > 0, "variant {} counted no call", v.key);
            assert_eq!(*calls.get_or_insert(n), n, "variant {} call count", v.key);
            assert_eq!((v.setup_teardown)(), 0, "variant {} called back", v.key);
        }
    }

    #[test]
    fn data_is_fixed() {
        assert_eq!(data(4, SEED), data(4, SEED));
        assert_ne!(data(4, SEED), data(4, SEED + 1));
    }
}
