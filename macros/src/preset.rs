//! `#[callback(preset = path)]`: the item goes to the preset's macro (made
//! by `ffi_callback::preset!`), which hands it back to `#[callback]` with the
//! preset's options as defaults (`__preset(...)`) before the user's own.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Meta, Path, Token};

/// `path! { [other options] item }`.
pub(crate) fn hand_to(path: &Path, args: TokenStream, item: TokenStream) -> TokenStream {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated
        .parse2(args)
        .map(|metas| {
            metas
                .into_iter()
                .filter(|meta| !meta.path().is_ident("preset"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    quote!(#path! { [#(#metas),*] #item })
}
