//! Sums file sizes by extension under a directory, through glibc's `nftw`,
//! whose callback takes no user data: `scope_thread_local` lends it a
//! closure that captures the totals, and the path arrives as `&str`.
//!
//! `cargo run -p examples --example walk_tree` walks a small tree it makes
//! in a temporary directory; `cargo run -p examples --example walk_tree --
//! DIR` walks DIR.

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeMap;
    use std::ffi::{CString, c_char, c_int};
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    use ffi_callback::callback;

    /// `<ftw.h>`'s `struct FTW`, which the libc crate does not declare.
    #[repr(C)]
    pub(crate) struct Ftw {
        base: c_int,
        level: c_int,
    }

    /// `nftw`'s callback, as `<ftw.h>` declares it, with no user data. A
    /// name that is not UTF-8 is refused (and reported): C gets the
    /// fallback `0`, and the walk goes on.
    #[callback(on_panic = fallback, fallback = 0)]
    type Visit = unsafe extern "C" fn(
        #[into(&str)] path: *const c_char,
        #[into(&libc::stat)] stat: *const libc::stat,
        flag: c_int,
        #[into(&Ftw)] ftw: *mut Ftw,
    ) -> c_int;

    unsafe extern "C" {
        fn nftw(dir: *const c_char, visit: Option<VisitFn>, fds: c_int, flags: c_int) -> c_int;
    }

    const FTW_F: c_int = 0;
    const FTW_D: c_int = 1;
    const FTW_PHYS: c_int = 1;

    /// Files and bytes per extension.
    #[derive(Default)]
    struct Totals {
        by_extension: BTreeMap<String, (u64, u64)>,
        directories: u64,
        largest: Option<(u64, String)>,
    }

    fn walk(dir: &Path) -> (c_int, Totals) {
        let dir_c = CString::new(dir.as_os_str().as_bytes()).expect("no NUL in the path");
        let mut totals = Totals::default();
        let rc = Visit::scope_thread_local(
            |path: &str, stat: &libc::stat, flag, ftw: &Ftw| {
                match flag {
                    FTW_D => totals.directories += 1,
                    FTW_F => {
                        let name = &path[ftw.base as usize..];
                        let extension = match name.rsplit_once('.') {
                            Some((stem, extension)) if !stem.is_empty() => format!(".{extension}"),
                            _ => "(none)".to_owned(),
                        };
                        let size = stat.st_size as u64;
                        let entry = totals.by_extension.entry(extension).or_default();
                        *entry = (entry.0 + 1, entry.1 + size);
                        if totals.largest.as_ref().is_none_or(|(most, _)| size > *most) {
                            totals.largest = Some((size, path.to_owned()));
                        }
                    }
                    _ => {}
                }
                0
            },
            // SAFETY: a NUL-terminated path; nftw passes a valid path, `stat`
            // and `FTW` to each call, on this thread, until it returns.
            |visit| unsafe { nftw(dir_c.as_ptr(), Some(visit), 16, FTW_PHYS) },
        );
        (rc, totals)
    }

    /// A small tree with known sizes, so that the output can be checked.
    fn sample_tree() -> PathBuf {
        let root = std::env::temp_dir().join(format!("ffi-callback-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src/bin")).unwrap();
        for (path, size) in [
            ("README.txt", 40),
            ("notes.txt", 2),
            ("src/lib.rs", 300),
            ("src/bin/main.rs", 120),
            ("Makefile", 7),
        ] {
            std::fs::write(root.join(path), vec![b'x'; size]).unwrap();
        }
        root
    }

    pub(crate) fn main() {
        let given = std::env::args_os().nth(1).map(PathBuf::from);
        let dir = given.clone().unwrap_or_else(sample_tree);
        let (rc, totals) = walk(&dir);
        let files: u64 = totals.by_extension.values().map(|(n, _)| n).sum();
        println!(
            "nftw returned {rc}: {files} files in {} directories",
            totals.directories
        );
        for (extension, (count, bytes)) in &totals.by_extension {
            let files = if *count == 1 { "file" } else { "files" };
            println!("  {extension:<8} {count:>4} {files:<5} {bytes:>10} bytes");
        }
        if let Some((size, path)) = &totals.largest {
            let shown = Path::new(path)
                .strip_prefix(&dir)
                .unwrap_or(Path::new(path));
            println!("the largest: {} ({size} bytes)", shown.display());
        }
        if given.is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("walk_tree needs glibc's nftw (Linux)");
}
