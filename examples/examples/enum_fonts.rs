//! Lists the installed font families through gdi32's `EnumFontFamiliesExW`,
//! with a `#[callback]` type: any Rust closure becomes a `FONTENUMPROCW` plus
//! the `LPARAM` that carries it, for the duration of `scope`.
//!
//! `enum_fonts --panic` makes the closure panic on the third font: the
//! trampoline returns `0` to Windows, which stops enumerating, and `scope`
//! re-raises the panic, with its payload, once `EnumFontFamiliesExW` has
//! returned to Rust.
//!
//! Windows-only. Under Wine (see `scripts/test-windows.sh`):
//!
//! ```text
//! cargo build -p examples --example enum_fonts --target x86_64-pc-windows-gnu
//! xvfb-run -a wine target/x86_64-pc-windows-gnu/debug/examples/enum_fonts.exe
//! ```

#[cfg(windows)]
mod windows {
    use std::cell::Cell;
    use std::collections::BTreeSet;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::process::ExitCode;
    use std::ptr;

    use ffi_callback::callback;
    use windows_sys::Win32::Foundation::LPARAM;
    use windows_sys::Win32::Graphics::Gdi::{
        CreateCompatibleDC, DEFAULT_CHARSET, DeleteDC, EnumFontFamiliesExW, HDC, LOGFONTW,
        TEXTMETRICW, TRUETYPE_FONTTYPE,
    };

    /// gdi32's `FONTENUMPROCW`, with its `LPARAM` marked as the user-data slot.
    #[callback]
    type FontEnumProc = unsafe extern "system" fn(
        lf: *const LOGFONTW,
        tm: *const TEXTMETRICW,
        font_type: u32,
        #[user_data] lparam: LPARAM,
    ) -> i32;

    /// The face name of a `LOGFONTW` that GDI passed to the callback.
    fn face_name(lf: *const LOGFONTW) -> String {
        // SAFETY: GDI passes a valid `LOGFONTW` (the head of an
        // `ENUMLOGFONTEXW`) for the duration of the callback.
        let name = unsafe { &(*lf).lfFaceName };
        let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        String::from_utf16_lossy(&name[..len])
    }

    /// A memory DC compatible with the screen, deleted on drop.
    struct Dc(HDC);

    impl Dc {
        fn new() -> Option<Dc> {
            // SAFETY: a null `hdc` asks for a DC compatible with the screen.
            let hdc = unsafe { CreateCompatibleDC(ptr::null_mut()) };
            (!hdc.is_null()).then_some(Dc(hdc))
        }
    }

    impl Drop for Dc {
        fn drop(&mut self) {
            // SAFETY: `self.0` came from `CreateCompatibleDC` and is deleted
            // once.
            unsafe { DeleteDC(self.0) };
        }
    }

    /// Every family in every character set.
    fn all_fonts() -> LOGFONTW {
        LOGFONTW {
            lfCharSet: DEFAULT_CHARSET,
            ..Default::default()
        }
    }

    fn list(dc: &Dc) -> ExitCode {
        let mut families: BTreeSet<String> = BTreeSet::new();
        let mut calls = 0usize;
        let mut truetype = 0usize;
        let lf = all_fonts();
        let last = FontEnumProc::scope(
            |lf, _tm, font_type| {
                calls += 1;
                // One call per (family, character set): keep each family once.
                if families.insert(face_name(lf)) && font_type & TRUETYPE_FONTTYPE != 0 {
                    truetype += 1;
                }
                1 // go on
            },
            // SAFETY: `proc_` and `lparam` come from the same holder, which
            // `scope` keeps alive until this call returns; GDI calls back
            // only on this thread, during the call. `lf` outlives the call.
            |proc_, lparam| unsafe { EnumFontFamiliesExW(dc.0, &lf, Some(proc_), lparam, 0) },
        );
        println!(
            "EnumFontFamiliesExW returned {last} after {calls} calls: found {} font families \
             ({truetype} TrueType)",
            families.len()
        );
        for name in &families {
            println!("  {name}");
        }
        if families.is_empty() {
            eprintln!("error: EnumFontFamiliesExW found no font family");
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    }

    fn panic_mode(dc: &Dc) -> ExitCode {
        let mut seen: Vec<String> = Vec::new();
        let returned: Cell<Option<i32>> = Cell::new(None);
        let lf = all_fonts();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            FontEnumProc::scope(
                |lf, _tm, _font_type| {
                    let name = face_name(lf);
                    seen.push(name.clone());
                    if seen.len() == 3 {
                        panic!("font #3 ({name}) refused by the closure");
                    }
                    1
                },
                |proc_, lparam| {
                    // SAFETY: as in `list`.
                    let last = unsafe { EnumFontFamiliesExW(dc.0, &lf, Some(proc_), lparam, 0) };
                    // Runs only if EnumFontFamiliesExW returned normally:
                    // the panic did not unwind through gdi32.
                    returned.set(Some(last));
                    last
                },
            )
        }));
        let Err(payload) = caught else {
            eprintln!(
                "error: the closure's panic was not resumed: EnumFontFamiliesExW returned normally"
            );
            return ExitCode::FAILURE;
        };
        let Some(last) = returned.get() else {
            eprintln!(
                "error: EnumFontFamiliesExW did not return to Rust before the panic was resumed"
            );
            return ExitCode::FAILURE;
        };
        println!(
            "EnumFontFamiliesExW returned {last} to Rust after {} closure calls",
            seen.len()
        );
        let Some(message) = payload.downcast_ref::<String>() else {
            eprintln!("error: the resumed panic lost its payload (not a String)");
            return ExitCode::FAILURE;
        };
        let expected = match seen.get(2) {
            Some(name) => format!("font #3 ({name}) refused by the closure"),
            None => "(a panic on font #3)".to_owned(),
        };
        if *message != expected || last != 0 || seen.len() != 3 {
            eprintln!(
                "error: expected payload {expected:?}, EnumFontFamiliesExW returning 0 and 3 \
                 calls; got {message:?}, {last}, {} calls",
                seen.len()
            );
            return ExitCode::FAILURE;
        }
        println!("panic resumed on the Rust side with its payload: {message:?}");
        ExitCode::SUCCESS
    }

    pub(crate) fn main() -> ExitCode {
        let Some(dc) = Dc::new() else {
            eprintln!("error: CreateCompatibleDC failed");
            return ExitCode::FAILURE;
        };
        match std::env::args().nth(1).as_deref() {
            None => list(&dc),
            Some("--panic") => panic_mode(&dc),
            Some(other) => {
                eprintln!("usage: enum_fonts [--panic] (unknown argument {other:?})");
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
        "enum_fonts is a Windows-only example (gdi32's EnumFontFamiliesExW): build it for \
         x86_64-pc-windows-gnu and run it under Wine, as scripts/test-windows.sh does"
    );
}
