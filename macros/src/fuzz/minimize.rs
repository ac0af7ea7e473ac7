//! Shrinking a failing input to a small one that fails the same way.

use std::str::FromStr;

use proc_macro2::{Group, TokenStream, TokenTree};

use super::checks::{Failure, Stats, check};
use super::fresh_spans;
use super::generators::tokens;

/// Re-runs a failure from its text (invisible groups are lost in the
/// round trip, so a failure may not reproduce) and shrinks it: drop token
/// trees, unwrap groups, while the same kind of failure remains.
pub(super) fn minimize(failure: &Failure) -> Option<(String, String)> {
    let fails = |args: &[TokenTree], item: &[TokenTree]| {
        fresh_spans();
        let (args, item) = (
            TokenStream::from_str(&stream_text(args)).unwrap_or_default(),
            TokenStream::from_str(&stream_text(item)).unwrap_or_default(),
        );
        matches!(
            check(&args, &item, &mut Stats::default()),
            Err((kind, detail)) if kind == failure.kind && first_line(&detail) == first_line(&failure.detail)
        )
    };
    let mut args = tokens(&failure.args);
    let mut item = tokens(&failure.item);
    if !fails(&args, &item) {
        return None;
    }
    loop {
        let before = (stream_text(&args), stream_text(&item));
        for which in 0..2 {
            loop {
                let (current, other) = if which == 0 {
                    (&args, &item)
                } else {
                    (&item, &args)
                };
                let shrunk = shrink_candidates(current).into_iter().find(|candidate| {
                    if which == 0 {
                        fails(candidate, other)
                    } else {
                        fails(other, candidate)
                    }
                });
                let Some(shrunk) = shrunk else {
                    break;
                };
                if which == 0 {
                    args = shrunk;
                } else {
                    item = shrunk;
                }
            }
        }
        if (stream_text(&args), stream_text(&item)) == before {
            return Some(before);
        }
    }
}

/// Every input one step smaller: a tree dropped, a group unwrapped, or
/// the same inside a group.
fn shrink_candidates(tokens: &[TokenTree]) -> Vec<Vec<TokenTree>> {
    let mut out = Vec::new();
    for i in 0..tokens.len() {
        let mut removed = tokens.to_vec();
        removed.remove(i);
        out.push(removed);
        if let TokenTree::Group(group) = &tokens[i] {
            let inner: Vec<TokenTree> = group.stream().into_iter().collect();
            let mut unwrapped = tokens.to_vec();
            unwrapped.splice(i..=i, inner.iter().cloned());
            out.push(unwrapped);
            for shrunk in shrink_candidates(&inner) {
                let mut nested = tokens.to_vec();
                nested[i] =
                    TokenTree::Group(Group::new(group.delimiter(), shrunk.into_iter().collect()));
                out.push(nested);
            }
        }
    }
    out
}

/// What failures are grouped by: the message without the output it quotes.
pub(super) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn stream_text(tokens: &[TokenTree]) -> String {
    tokens.iter().cloned().collect::<TokenStream>().to_string()
}
