//! `#[callback(preset = path)]`: the item goes to the preset's macro (made
//! by `ffi_callback::preset!`), which hands it back to `#[callback]` with the
//! preset's options as defaults (`__preset(...)`) before the user's own.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::quote;

use crate::options::PresetUse;

/// `path! { [other options, __preset_use(..)] item }`: the options as
/// written, but `preset = ..`, which becomes `__preset_use(..)` (with the
/// user's tokens, so that the expansion can check the `unsafe` of
/// `unsafe(path)` against the preset's, and print its promises at that
/// token). Split at the commas between tokens (a comma inside a type's
/// `<..>` splits one option in two, which are joined again as they were:
/// only a piece that is `preset = ..` is left out), so that any option,
/// `error = Box<dyn Error>` included, reaches `#[callback]` as the user
/// wrote it.
pub(crate) fn hand_to(
    used: &PresetUse,
    key: Span,
    args: TokenStream,
    item: TokenStream,
) -> TokenStream {
    let mut pieces: Vec<Vec<TokenTree>> = vec![Vec::new()];
    for tree in args {
        match &tree {
            TokenTree::Punct(punct) if punct.as_char() == ',' => pieces.push(Vec::new()),
            _ => pieces.last_mut().map_or((), |piece| piece.push(tree)),
        }
    }
    let is_preset = |piece: &[TokenTree]| {
        matches!(piece, [TokenTree::Ident(key), TokenTree::Punct(eq), ..]
            if key == "preset" && eq.as_char() == '=')
    };
    let kept = pieces
        .into_iter()
        .filter(|piece| !piece.is_empty() && !is_preset(piece))
        .map(|piece| piece.into_iter().collect::<TokenStream>());
    let path = &used.path;
    let marker = Ident::new("__preset_use", key);
    let used_as = match &used.unsafe_token {
        Some(token) => quote!(#marker(#token(#path))),
        None => quote!(#marker(#path)),
    };
    quote!(#path! { [#(#kept,)* #used_as] #item })
}
