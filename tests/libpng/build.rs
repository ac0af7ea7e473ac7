//! Builds the C side of the libpng test (the `setjmp` must be in C: Rust
//! cannot call `setjmp` soundly) and links the system libpng.

fn main() {
    println!("cargo:rerun-if-changed=csrc/png_guard.c");
    cc::Build::new()
        .file("csrc/png_guard.c")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("png_guard");
    println!("cargo:rustc-link-lib=png16");
}
