//! Compile-time behaviour of `#[callback]`: every misuse in DESIGN.md
//! "Compile-time errors" fails with a reviewed message (`ui/*.rs` and their
//! `.stderr`), and the accepted shapes compile (`ui/pass/*.rs`).
//!
//! The `.stderr` files hold rustc's own wording, which changes between
//! releases, so the cases run only under the release named in
//! `tests/ui-toolchain` and are skipped with a note under any other.
//! `bash scripts/ui.sh` installs that release and runs them; with
//! `UI_TOOLCHAIN_REQUIRED=1` (which it sets) a skip is a failure instead.
//!
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo +$(cat tests/ui-toolchain) test -p ffi-callback-tests --test ui`
//! and read every diff.

use std::io::Write as _;
use std::process::Command;

/// The rustc release the `.stderr` files were written with.
const UI_TOOLCHAIN: &str = include_str!("../ui-toolchain");

#[test]
fn ui() {
    let wanted = UI_TOOLCHAIN.trim();
    let found = rustc_release();
    if found.as_deref() != Some(wanted) {
        let this = found.map_or_else(
            || "`rustc --version` did not run".to_owned(),
            |found| format!("this is rustc {found}"),
        );
        let reason = format!("the .stderr files are rustc {wanted}'s wording and {this}");
        assert!(
            std::env::var_os("UI_TOOLCHAIN_REQUIRED").is_none(),
            "UI_TOOLCHAIN_REQUIRED is set but {reason}"
        );
        // Straight to stderr: libtest would swallow a passing test's
        // `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "note: ui tests skipped: {reason}; `bash scripts/ui.sh` runs them under rustc {wanted}"
        );
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
    t.pass("ui/pass/*.rs");
}

/// The release of the rustc trybuild's builds will use, found as cargo
/// finds it: `$RUSTC`, else `rustc` on the PATH, which rustup resolves to
/// the toolchain `cargo +TOOLCHAIN` picked. `None` if it does not run.
fn rustc_release() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).arg("--version").output().ok()?;
    // `rustc 1.95.0 (59807616e 2026-04-14)`; a beta or nightly says
    // `1.95.0-beta.3` or `1.97.0-nightly` and does not match.
    let stdout = String::from_utf8(output.stdout).ok()?;
    stdout.split_whitespace().nth(1).map(str::to_owned)
}
