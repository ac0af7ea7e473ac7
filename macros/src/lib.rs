//! The `#[callback]` attribute of [ffi-callback](https://docs.rs/ffi-callback).
//! See that crate for documentation; this one only turns the attribute into
//! code that calls its runtime.
//!
//! Stages, one file each, data flowing one way: `options` (the attribute's
//! arguments) and `parse` (the item, keeping spans), then `check` (every
//! rule the tokens can show, all errors of an item reported together),
//! which returns the resolved `model`; the printers `expand_fn`,
//! `expand_type` and `expand_set` only print it, with the helpers in `tokens`. `expand` is
//! the pipeline; `preset` hands an item to a preset's macro, and
//! `preset_promises` reports a preset's `unsafe` where it is declared.

mod cfg_split;
mod check;
mod errors;
mod expand;
mod expand_fn;
mod expand_set;
mod expand_type;
#[cfg(test)]
mod fuzz;
mod model;
mod options;
mod parse;
mod preset;
mod preset_promises;
#[cfg(test)]
mod tests;
mod tokens;

use proc_macro::TokenStream;

/// Turns a Rust fn into a C-ABI callback, or a C callback type alias into a
/// holder for Rust closures. See the `ffi-callback` crate.
#[proc_macro_attribute]
pub fn callback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::callback(args.into(), item.into()).into()
}

/// `ffi_callback::preset!`'s check: the `unsafe` tokens of a preset's
/// options, as `unsafe impl`s spanned at them, so that `unsafe_code` reports
/// them in the crate that declares the preset. Not public API.
#[doc(hidden)]
#[proc_macro]
pub fn __preset_promises(input: TokenStream) -> TokenStream {
    preset_promises::preset_promises(input.into()).into()
}
