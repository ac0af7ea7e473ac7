//! Lists the top-level windows through user32's `EnumWindows`, with a
//! `#[callback] extern "system" fn` that receives its `&mut Vec<Window>`
//! through the `LPARAM` slot.
//!
//! `enum_windows --panic` makes the callback panic on the second window:
//! the trampoline returns `FALSE` to Windows, which stops enumerating, and
//! `resume_panics` re-raises the panic, with its payload, once `EnumWindows`
//! has returned to Rust.
//!
//! Windows-only. Under Wine (see `scripts/test-windows.sh`):
//!
//! ```text
//! cargo build -p examples --example enum_windows --target x86_64-pc-windows-gnu
//! xvfb-run -a wine target/x86_64-pc-windows-gnu/debug/examples/enum_windows.exe
//! ```
//!
//! Without an X display Wine starts no desktop and `EnumWindows` finds no
//! window: run it under `xvfb-run`.

#[cfg(windows)]
mod windows {
    use std::cell::Cell;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::process::ExitCode;

    use ffi_callback::{callback, resume_panics};
    use windows_sys::Win32::Foundation::{FALSE, HWND, LPARAM, TRUE};
    use windows_sys::Win32::UI::WindowsAndMessaging::{
        EnumWindows, GetClassNameW, GetWindowTextW, IsWindowVisible,
    };
    use windows_sys::core::BOOL;

    /// What the callback records about one window.
    struct Window {
        hwnd: HWND,
        class: String,
        title: String,
        visible: bool,
    }

    /// Reads a window's class name or title with `GetClassNameW` /
    /// `GetWindowTextW`.
    fn read_text(hwnd: HWND, get: unsafe extern "system" fn(HWND, *mut u16, i32) -> i32) -> String {
        let mut buf = [0u16; 256];
        // SAFETY: `buf` is writable for its length, which is what we pass.
        let len = unsafe { get(hwnd, buf.as_mut_ptr(), buf.len() as i32) };
        String::from_utf16_lossy(&buf[..len.clamp(0, buf.len() as i32) as usize])
    }

    /// Called by `EnumWindows` once per top-level window; `FALSE` would stop
    /// the enumeration.
    #[callback]
    extern "system" fn collect_window(
        hwnd: HWND,
        #[user_data(LPARAM)] found: &mut Vec<Window>,
    ) -> BOOL {
        // SAFETY: `hwnd` is a window handle that Windows just passed us.
        let visible = unsafe { IsWindowVisible(hwnd) } != FALSE;
        found.push(Window {
            hwnd,
            class: read_text(hwnd, GetClassNameW),
            title: read_text(hwnd, GetWindowTextW),
            visible,
        });
        TRUE
    }

    /// The `--panic` mode's callback: records each window it sees, and
    /// panics on the second one.
    #[callback]
    extern "system" fn panic_on_second(
        hwnd: HWND,
        #[user_data(LPARAM)] seen: &mut Vec<HWND>,
    ) -> BOOL {
        seen.push(hwnd);
        if seen.len() == 2 {
            panic!("window #2 ({hwnd:?}) refused by the callback");
        }
        TRUE
    }

    fn list() -> ExitCode {
        let mut found: Vec<Window> = Vec::new();
        // SAFETY: `collect_window` receives `&mut Vec<Window>`, and `found`
        // is alive and untouched until `EnumWindows` returns; EnumWindows
        // calls back only on this thread, during the call.
        let ok = resume_panics(|| unsafe {
            EnumWindows(Some(collect_window), collect_window::user_data(&mut found))
        });
        println!(
            "EnumWindows returned {}: found {} top-level windows ({} visible)",
            if ok != FALSE { "TRUE" } else { "FALSE" },
            found.len(),
            found.iter().filter(|w| w.visible).count()
        );
        for w in found.iter().take(10) {
            println!(
                "  {:>10?}  class {:?}  title {:?}{}",
                w.hwnd,
                w.class,
                w.title,
                if w.visible { "  (visible)" } else { "" }
            );
        }
        if found.len() > 10 {
            println!("  ... and {} more", found.len() - 10);
        }
        if found.is_empty() {
            eprintln!("error: EnumWindows found no window (is there an X display? use xvfb-run)");
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    }

    fn panic_mode() -> ExitCode {
        let mut seen: Vec<HWND> = Vec::new();
        let returned: Cell<Option<BOOL>> = Cell::new(None);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            resume_panics(|| {
                // SAFETY: as in `list`, with `&mut Vec<HWND>` for
                // `panic_on_second`.
                let ok = unsafe {
                    EnumWindows(Some(panic_on_second), panic_on_second::user_data(&mut seen))
                };
                // Runs only if EnumWindows returned normally: the panic did
                // not unwind through user32.
                returned.set(Some(ok));
                ok
            })
        }));
        let Err(payload) = caught else {
            eprintln!("error: the callback's panic was not resumed: EnumWindows returned normally");
            return ExitCode::FAILURE;
        };
        let Some(ok) = returned.get() else {
            eprintln!("error: EnumWindows did not return to Rust before the panic was resumed");
            return ExitCode::FAILURE;
        };
        println!(
            "EnumWindows returned {ok} to Rust after {} callback calls",
            seen.len()
        );
        let Some(message) = payload.downcast_ref::<String>() else {
            eprintln!("error: the resumed panic lost its payload (not a String)");
            return ExitCode::FAILURE;
        };
        let expected = match seen.get(1) {
            Some(hwnd) => format!("window #2 ({hwnd:?}) refused by the callback"),
            None => "(a panic on window #2)".to_owned(),
        };
        if *message != expected || ok != FALSE || seen.len() != 2 {
            eprintln!(
                "error: expected payload {expected:?}, EnumWindows returning FALSE and 2 calls; \
                 got {message:?}, {ok}, {} calls",
                seen.len()
            );
            return ExitCode::FAILURE;
        }
        println!("panic resumed on the Rust side with its payload: {message:?}");
        ExitCode::SUCCESS
    }

    pub(crate) fn main() -> ExitCode {
        match std::env::args().nth(1).as_deref() {
            None => list(),
            Some("--panic") => panic_mode(),
            Some(other) => {
                eprintln!("usage: enum_windows [--panic] (unknown argument {other:?})");
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    windows::main()
}

#[cfg(not(windows))]
fn main() {
    println!(
        "enum_windows is a Windows-only example (user32's EnumWindows): build it for \
         x86_64-pc-windows-gnu and run it under Wine, as scripts/test-windows.sh does"
    );
}
