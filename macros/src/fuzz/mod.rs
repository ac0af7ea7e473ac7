//! Hostile input. For every input, the expander must:
//! - never panic (each call runs under `catch_unwind`);
//! - put every `compile_error!` on a token of the input;
//! - emit items that parse as a `syn::File`, so a mistake gives its own
//!   error and not a cascade of parse errors; an input that is no item at
//!   all (rustc never passes one, but syn may lag rustc's syntax) comes back
//!   verbatim after the error, for rustc to judge;
//! - give every `unsafe` it adds a call-site span, except that the `unsafe`
//!   of `unsafe(safe_fn)` may carry the attribute's own `unsafe` (what
//!   makes `#![forbid(unsafe_code)]` crates work: see `unsafe_spans` and
//!   `tests/forbid_unsafe`).
//!
//! Modules: `corpus` (every input fragment: add new options and forms
//! there), `rng`, `generators` and `mutations` (the inputs), `checks` and
//! `unsafe_spans` (the invariants), `minimize` (the failure report).
//!
//! `cargo test -p ffi-callback-macros fuzz -- --nocapture` prints the
//! figures. Inputs come from a deterministic PRNG: case `n` of seed `s` is
//! always the same input, whatever the thread count.
//!
//! - `FUZZ_CASES=n` (default `DEFAULT_CASES`, a few seconds in a debug
//!   build; CI runs 100000) and `FUZZ_SEED=s` change the run;
//! - `FUZZ_CASE=n` prints case `n`'s input and output instead of the run.
//!
//! A failure is reported once per distinct message, with a reproducing case
//! number and a minimized input.
//!
//! Spans: `proc-macro2`'s `span-locations` feature (a dev-dependency of this
//! crate) gives tokens parsed from strings real locations outside a proc
//! macro. Every input token here is parsed from a string, so an error span
//! that has no source text is `Span::call_site()` (or `mixed_site()`): a
//! place the user never wrote. Those are failures, with two exceptions:
//! syn's error for arguments that end too early (`on_panic =`), which syn
//! can only put on the call site, and which rustc shows on the
//! `#[callback(...)]` attribute, where the missing tokens belong; and
//! syn's errors on an input that is no item.

mod checks;
mod corpus;
mod generators;
mod minimize;
mod mutations;
mod rng;
mod unsafe_spans;

use std::fmt::Write as _;
use std::time::Instant;

use checks::{Failure, Kind, Stats, check};
use generators::generate;
use minimize::{first_line, minimize};

/// About 4 s of CPU in a debug build (2 s on an idle 2-core machine), so
/// that `cargo test` stays quick; CI asks for 100000 with `FUZZ_CASES`.
const DEFAULT_CASES: u64 = 5_000;
const DEFAULT_SEED: u64 = 0x00ff_1cab_ba5e_5eed;

/// Spans live in a thread-local source map that only grows; each case
/// starts it afresh (which also makes "has source text" mean "in this
/// case's input").
fn fresh_spans() {
    proc_macro2::extra::invalidate_current_thread_spans();
}

/// Cases `worker`, `worker + workers`, ... below `cases`.
fn run_range(seed: u64, cases: u64, worker: u64, workers: u64) -> (Stats, Vec<Failure>) {
    let mut stats = Stats::default();
    let mut failures = Vec::new();
    let mut case = worker;
    while case < cases {
        fresh_spans();
        let (args, item) = generate(seed, case);
        if let Err((kind, detail)) = check(&args, &item, &mut stats) {
            failures.push(Failure {
                case,
                kind,
                detail,
                args: args.to_string(),
                item: item.to_string(),
            });
        }
        case += workers;
    }
    (stats, failures)
}

/// One minimized example per distinct failure (kind and message).
fn report(failures: &[Failure]) -> String {
    let mut report = String::new();
    let mut groups: Vec<(Kind, &str, usize, &Failure)> = Vec::new();
    for failure in failures {
        let key = first_line(&failure.detail);
        match groups
            .iter_mut()
            .find(|g| g.0 == failure.kind && g.1 == key)
        {
            Some(group) => group.2 += 1,
            None => groups.push((failure.kind, key, 1, failure)),
        }
    }
    for (kind, message, count, failure) in groups.iter().take(12) {
        let _ = writeln!(
            report,
            "\n{kind:?} x{count}: {message}\n  first: case {} (FUZZ_CASE={} reproduces it)\n  \
             args: {}\n  item: {}",
            failure.case, failure.case, failure.args, failure.item
        );
        match minimize(failure) {
            Some((args, item)) => {
                let _ = writeln!(report, "  minimal args: {args}\n  minimal item: {item}");
            }
            None => {
                let _ = writeln!(report, "  (does not reproduce from text: invisible groups)");
            }
        }
    }
    report
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| {
        let v = v.trim().replace('_', "");
        v.strip_prefix("0x")
            .map_or_else(|| v.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok())
    })
}

#[test]
fn fuzz_expander_with_hostile_input() {
    let seed = env_u64("FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    if let Some(case) = env_u64("FUZZ_CASE") {
        fresh_spans();
        let (args, item) = generate(seed, case);
        println!("case {case}\nargs: {args}\nitem: {item}");
        let output = crate::expand::callback(args.clone(), item.clone());
        println!("output: {output}");
        let result = check(&args, &item, &mut Stats::default());
        println!("check: {result:?}");
        return;
    }
    let cases = env_u64("FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u64;
    let started = Instant::now();
    let results: Vec<(Stats, Vec<Failure>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| scope.spawn(move || run_range(seed, cases, worker, workers)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("fuzz worker"))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut total = Stats::default();
    let mut failures = Vec::new();
    for (stats, mut found) in results {
        total.add(&stats);
        failures.append(&mut found);
    }
    failures.sort_by_key(|f| f.case);
    let tried = total.cases + failures.len() as u64;
    println!(
        "fuzz: {tried} hostile inputs tried in {:.1}s on {workers} threads (seed {seed:#x}): \
         {} expanded cleanly, {} rejected with {} spanned errors ({} of them syn's \
         end-of-arguments error on the attribute), {} not items (re-emitted verbatim), \
         {} with a bare `crate` expression (syn-only quirk), {} output tokens checked; \
         {} failures",
        elapsed.as_secs_f64(),
        total.expanded,
        total.rejected,
        total.errors,
        total.eof_at_attribute,
        total.not_an_item,
        total.bare_crate,
        total.output_tokens,
        failures.len(),
    );
    assert!(
        failures.is_empty(),
        "{} of {tried} inputs failed:{}",
        failures.len(),
        report(&failures)
    );
    assert!(tried >= cases, "only {tried} of {cases} inputs were tried");
}
