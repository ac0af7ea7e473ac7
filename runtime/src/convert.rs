//! Conversions of C arguments for a callback type's closures and a set's
//! methods: a parameter marked `#[into(Type)]` reaches them as `Type`, made
//! with `Type::try_from` (every `From` gives one, whose error cannot happen
//! and costs nothing). A failed conversion is refused like any other call
//! the crate cannot make, naming the parameter; it happens inside the call,
//! so a panicking `try_from` is the closure's panic.

use std::any::type_name;
use std::fmt::Debug;

use crate::panic::{Site, refuse};

/// A C argument that converts into `T`, the type a closure receives for a
/// parameter marked `#[into(T)]`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[into({T})]`: a `{T}` cannot be made from the C parameter's `{Self}`",
    label = "`{T}` has no `From<{Self}>` or `TryFrom<{Self}>` with a `Debug` error",
    note = "`#[into(T)]` converts the C argument with `T::try_from`: implement `From<{Self}>` \
            for `{T}` (or `TryFrom<{Self}>`, whose `Debug` error a refused call prints), or \
            receive the C type and convert in the closure or method"
)]
pub trait IntoParam<T>: Sized {
    /// `T::try_from(self)`, or a refusal naming `param` of the callback at
    /// `site`.
    fn into_param(self, site: &'static Site, param: &'static str) -> T;
}

#[allow(unknown_or_malformed_diagnostic_attributes)]
#[diagnostic::do_not_recommend]
impl<C, T> IntoParam<T> for C
where
    T: TryFrom<C>,
    T::Error: Debug,
{
    #[inline(always)]
    fn into_param(self, site: &'static Site, param: &'static str) -> T {
        match T::try_from(self) {
            Ok(value) => value,
            Err(error) => refuse_conversion(site, param, type_name::<T>(), &error),
        }
    }
}

#[cold]
#[inline(never)]
fn refuse_conversion(site: &'static Site, param: &str, target: &str, error: &dyn Debug) -> ! {
    refuse(
        site,
        format_args!("its parameter {param} does not convert into `{target}`: {error:?}"),
    )
}
