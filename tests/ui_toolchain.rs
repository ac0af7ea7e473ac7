//! The gate of the trybuild ui suites (`tests/tests/ui.rs`, edition 2024,
//! and `tests/ui_2021`, edition 2021), shared by `#[path]`: their `.stderr`
//! files hold rustc's own wording, which changes between releases, so the
//! cases run only under the release named in `tests/ui-toolchain` and are
//! skipped with a note under any other. `bash scripts/ui.sh` installs that
//! release and runs them; with `UI_TOOLCHAIN_REQUIRED=1` (which it sets) a
//! skip is a failure instead.

use std::io::Write as _;
use std::process::Command;

/// The rustc release the `.stderr` files were written with.
const UI_TOOLCHAIN: &str = include_str!("ui-toolchain");

/// Runs `cases` (the suite `suite`) under the pinned release; anywhere else
/// prints why it skips them.
pub(crate) fn run_pinned(suite: &str, cases: impl FnOnce()) {
    let wanted = UI_TOOLCHAIN.trim();
    let found = rustc_release();
    if found.as_deref() == Some(wanted) {
        cases();
        return;
    }
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
        "note: ui tests skipped ({suite}): {reason}; `bash scripts/ui.sh` runs them under rustc \
         {wanted}"
    );
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
