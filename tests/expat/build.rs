//! Links the system expat (apt `libexpat1-dev`); the test declares the few
//! functions it calls by hand.

fn main() {
    println!("cargo:rustc-link-lib=expat");
}
