//! The `#[callback]` attribute of [ffi-callback](https://docs.rs/ffi-callback).
//! See that crate for documentation; this one only turns the attribute into
//! code that calls its runtime.
//!
//! Stages, one file each: `options` (the attribute's arguments), `parse`
//! (the item into a model that keeps spans), `check` (every rule the
//! tokens can show, all errors of an item reported together), then
//! `expand_fn` or `expand_type` (the only places that call `quote!`).

mod check;
mod errors;
mod expand;
mod expand_fn;
mod expand_type;
#[cfg(test)]
mod fuzz;
mod options;
mod parse;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Turns a Rust fn into a C-ABI callback, or a C callback type alias into a
/// holder for Rust closures. See the `ffi-callback` crate.
#[proc_macro_attribute]
pub fn callback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::callback(args.into(), item.into()).into()
}
