//! The value a callback returns to C when its Rust code cannot run: after a
//! panic, or when a call is refused.

/// The value a callback returns to C after a panic or a refused call, unless
/// `#[callback(fallback = EXPR)]` names one.
///
/// Zero for integers and floats, `false`, null for raw pointers, `None` for
/// `Option<_>` (a nullable fn pointer or `NonNull`), `()`. Implement it for
/// your own `#[repr(C)]` return types, or give `fallback = EXPR` on the
/// callback.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no fallback value to return to C after a panic",
    label = "no `ffi_callback::Fallback` value for this return type",
    note = "name the value C should receive after a panic or a refused call: \
            `#[callback(fallback = EXPR)]`, or implement `ffi_callback::Fallback` for `{Self}` \
            (with `on_panic = abort` or `unwind` nothing is returned after a panic, and no \
            fallback is needed)"
)]
pub trait Fallback {
    /// The value returned to C.
    fn fallback() -> Self;
}

macro_rules! zero_fallback {
    ($($ty:ty),* $(,)?) => {
        $(
            impl Fallback for $ty {
                #[inline]
                fn fallback() -> Self {
                    0 as $ty
                }
            }
        )*
    };
}

zero_fallback!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64
);

impl Fallback for bool {
    #[inline]
    fn fallback() -> Self {
        false
    }
}

impl Fallback for () {
    #[inline]
    fn fallback() -> Self {}
}

impl<T> Fallback for *mut T {
    #[inline]
    fn fallback() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> Fallback for *const T {
    #[inline]
    fn fallback() -> Self {
        std::ptr::null()
    }
}

impl<T> Fallback for Option<T> {
    #[inline]
    fn fallback() -> Self {
        None
    }
}
