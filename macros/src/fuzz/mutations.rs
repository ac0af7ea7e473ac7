//! Token-tree mutations of a valid input: drop, duplicate, swap, replace,
//! insert, type swap, attribute duplication or insertion, group
//! truncation, re-delimiting (invisible groups included), flattening,
//! wrapping and moving, at any depth.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};

use super::corpus::{ATTRS, TYPES, VOCAB};
use super::generators::{random_tokens, spanned_group, tokens};
use super::rng::Rng;

/// One structural mutation somewhere in `tokens` (at a random depth).
pub(super) fn mutate(mut tokens: Vec<TokenTree>, rng: &mut Rng) -> Vec<TokenTree> {
    let groups: Vec<usize> = (0..tokens.len())
        .filter(|&i| matches!(tokens[i], TokenTree::Group(_)))
        .collect();
    if !groups.is_empty() && rng.one_in(2) {
        let index = rng.pick(&groups);
        if let TokenTree::Group(group) = &tokens[index] {
            let inner = mutate(group.stream().into_iter().collect(), rng);
            let mut new = Group::new(group.delimiter(), inner.into_iter().collect());
            new.set_span(group.span());
            tokens[index] = TokenTree::Group(new);
        }
        return tokens;
    }
    let len = tokens.len();
    let at = rng.below(len + 1);
    let index = at.min(len.saturating_sub(1));
    match rng.below(14) {
        0 if len > 0 => {
            tokens.remove(index);
        }
        1 if len > 0 => {
            let token = tokens[index].clone();
            tokens.insert(index, token);
        }
        2 if len > 1 => {
            let other = rng.below(len);
            tokens.swap(index, other);
        }
        3 if len > 0 => {
            let replacement = self::tokens(rng.pick(VOCAB));
            tokens.splice(index..=index, replacement);
        }
        4 => {
            let insertion = random_tokens(rng, 2);
            tokens.splice(at..at, insertion);
        }
        5 => swap_type(&mut tokens, rng),
        6 => {
            let attr = self::tokens(rng.pick(ATTRS));
            tokens.splice(at..at, attr);
        }
        7 => duplicate_attribute(&mut tokens, rng),
        8 if len > 0 => {
            if let TokenTree::Group(group) = &tokens[index] {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                let keep = rng.below(inner.len() + 1);
                let mut new =
                    Group::new(group.delimiter(), inner[..keep].iter().cloned().collect());
                new.set_span(group.span());
                tokens[index] = TokenTree::Group(new);
            } else {
                tokens.truncate(at);
            }
        }
        9 if len > 0 => {
            if let TokenTree::Group(group) = &tokens[index] {
                let delimiter = rng.pick(&[
                    Delimiter::Parenthesis,
                    Delimiter::Bracket,
                    Delimiter::Brace,
                    Delimiter::None,
                ]);
                let mut new = Group::new(delimiter, group.stream());
                new.set_span(group.span());
                tokens[index] = TokenTree::Group(new);
            }
        }
        10 if len > 0 => {
            if let TokenTree::Group(group) = &tokens[index] {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                tokens.splice(index..=index, inner);
            }
        }
        11 if len > 0 => {
            let end = (index + 1 + rng.below(4)).min(len);
            let delimiter = rng.pick(&[Delimiter::None, Delimiter::Parenthesis]);
            let inner: TokenStream = tokens[index..end].iter().cloned().collect();
            let group = spanned_group(delimiter, inner, rng);
            tokens.splice(index..end, [TokenTree::Group(group)]);
        }
        12 if len > 1 => {
            let end = (index + 1 + rng.below(3)).min(len);
            let moved: Vec<TokenTree> = tokens.drain(index..end).collect();
            let to = rng.below(tokens.len() + 1);
            tokens.splice(to..to, moved);
        }
        _ => {
            let insertion = self::tokens(rng.pick(VOCAB));
            tokens.splice(at..at, insertion);
        }
    }
    tokens
}

/// Replaces what follows a `:` or `->` (up to the next `,`) with a random
/// type.
fn swap_type(tokens: &mut Vec<TokenTree>, rng: &mut Rng) {
    let starts: Vec<usize> = (0..tokens.len())
        .filter(|&i| match &tokens[i] {
            TokenTree::Punct(p) if p.as_char() == ':' => {
                !matches!(tokens.get(i + 1), Some(TokenTree::Punct(n)) if n.as_char() == ':')
                    && !matches!(i.checked_sub(1).map(|j| &tokens[j]), Some(TokenTree::Punct(n)) if n.as_char() == ':')
            }
            TokenTree::Punct(p) if p.as_char() == '>' => {
                matches!(i.checked_sub(1).map(|j| &tokens[j]), Some(TokenTree::Punct(n)) if n.as_char() == '-')
            }
            _ => false,
        })
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = rng.pick(&starts) + 1;
    let end = (start..tokens.len())
        .find(|&i| matches!(&tokens[i], TokenTree::Punct(p) if p.as_char() == ',' || p.as_char() == ';'))
        .unwrap_or(tokens.len());
    let ty = self::tokens(rng.pick(TYPES));
    tokens.splice(start..end, ty);
}

/// Duplicates an existing `#[...]` (e.g. a second `#[user_data]`).
fn duplicate_attribute(tokens: &mut Vec<TokenTree>, rng: &mut Rng) {
    let starts: Vec<usize> = (0..tokens.len().saturating_sub(1))
        .filter(|&i| {
            matches!(&tokens[i], TokenTree::Punct(p) if p.as_char() == '#')
                && matches!(&tokens[i + 1], TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket)
        })
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = rng.pick(&starts);
    let attr: Vec<TokenTree> = tokens[start..start + 2].to_vec();
    let to = if rng.one_in(2) {
        start
    } else {
        rng.below(tokens.len() + 1)
    };
    tokens.splice(to..to, attr);
}
