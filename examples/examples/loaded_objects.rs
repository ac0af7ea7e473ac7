//! Lists the shared objects loaded into this process, through glibc's
//! `dl_iterate_phdr`, with a `#[callback]` fn receiving `&mut Vec<String>`.
//!
//! `cargo run -p examples --example loaded_objects`

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{CStr, c_int};

    use ffi_callback::{callback, resume_panics};

    /// Called by glibc once per loaded object; returning non-zero would stop
    /// the walk.
    #[callback]
    extern "C" fn collect_object(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        #[user_data] names: &mut Vec<String>,
    ) -> c_int {
        // SAFETY: glibc passes a valid `dl_phdr_info` for the duration of the call.
        let info = unsafe { &*info };
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: `dlpi_name` is a NUL-terminated string owned by the loader.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        names.push(if name.is_empty() {
            "(main program)".to_owned()
        } else {
            name
        });
        0
    }

    pub(crate) fn main() {
        let mut names: Vec<String> = Vec::new();
        // SAFETY: `collect_object` receives `&mut Vec<String>`, and `names` is
        // alive and untouched until `dl_iterate_phdr` returns.
        let stopped_by = resume_panics(|| unsafe {
            libc::dl_iterate_phdr(Some(collect_object), collect_object::user_data(&mut names))
        });
        println!(
            "{} shared objects loaded (walk returned {stopped_by}):",
            names.len()
        );
        for name in &names {
            println!("  {name}");
        }
    }
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("loaded_objects uses glibc's dl_iterate_phdr: run it on Linux");
}
