///
/// `#[callback]` holder: borrowed (`new`, `scope`) or owned (`boxed`, `once`) C callbacks for closures `Fn(gpointer) + Send + Sync`. See the `ffi_callback` crate docs for each constructor.
struct Worker<F> {
    holder: ::ffi_callback::__private::Holder<F, ::ffi_callback::__private::NoState>,
}
impl<F> ::ffi_callback::__private::core::fmt::Debug for Worker<F> {
    fn fmt(
        &self,
        f: &mut ::ffi_callback::__private::core::fmt::Formatter<'_>,
    ) -> ::ffi_callback::__private::core::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}
#[allow(dead_code)]
impl<F> Worker<F>
where
    gpointer: ::ffi_callback::__private::UserDataSlot,
{
    /// Holds `f` for a C call: pass [`function`](Self::function) and
    /// [`user_data`](Self::user_data), and keep this holder alive and
    /// unmoved until C stops calling it. [`scope`](Self::scope) does
    /// all of that for one call.
    #[inline]
    pub fn new(f: F) -> Self
    where
        F: ::ffi_callback::__private::core::ops::Fn(gpointer)
            + ::ffi_callback::__private::SyncClosure,
    {
        Self {
            holder: ::ffi_callback::__private::Holder::new(f),
        }
    }
    /// The trampoline to pass to C with [`user_data`](Self::user_data).
    #[inline]
    pub fn function(&self) -> extern "C" fn(data: gpointer, ud: gpointer)
    where
        F: ::ffi_callback::__private::core::ops::Fn(gpointer)
            + ::ffi_callback::__private::SyncClosure,
    {
        Self::__ffi_trampoline
    }
    /// The user data to pass to C with [`function`](Self::function):
    /// a pointer to this holder.
    #[inline]
    pub fn user_data(&self) -> gpointer {
        <gpointer as ::ffi_callback::__private::UserDataSlot>::from_ptr(
            self.holder.as_ptr(),
        )
    }
    /// Runs `call` with the trampoline and user data for `f`, which C
    /// may call until `call` returns. A panic in `f` is carried past
    /// the C code and resumed when `call` returns (with
    /// `on_panic = resume`).
    #[inline]
    pub fn scope<T>(
        f: F,
        call: impl ::ffi_callback::__private::core::ops::FnOnce(
            extern "C" fn(data: gpointer, ud: gpointer),
            gpointer,
        ) -> T,
    ) -> T
    where
        F: ::ffi_callback::__private::core::ops::Fn(gpointer)
            + ::ffi_callback::__private::SyncClosure,
    {
        let holder = Self::new(f);
        call(holder.function(), holder.user_data())
    }
    /// The closure back.
    #[inline]
    pub fn into_inner(self) -> F {
        self.holder.into_inner()
    }
    /// Boxes `f` for a C library that keeps the callback and frees it
    /// through a destroy-notify: `into_raw()` gives `function`,
    /// `user_data` and `destroy`.
    #[inline]
    pub fn boxed(
        f: F,
    ) -> ::ffi_callback::Boxed<
        extern "C" fn(data: gpointer, ud: gpointer),
        gpointer,
        unsafe extern "C" fn(gpointer),
    >
    where
        F: ::ffi_callback::__private::core::ops::Fn(gpointer)
            + ::ffi_callback::__private::SyncClosure + 'static,
    {
        let __ffi_ptr = ::ffi_callback::__private::Holder::<
            F,
            ::ffi_callback::__private::NoState,
        >::into_raw_box(f);
        let raw = ::ffi_callback::RawCallback {
            function: Self::__ffi_trampoline
                as extern "C" fn(data: gpointer, ud: gpointer),
            user_data: <gpointer as ::ffi_callback::__private::UserDataSlot>::from_ptr(
                __ffi_ptr,
            ),
            destroy: Self::__ffi_destroy as unsafe extern "C" fn(gpointer),
        };
        unsafe {
            ::ffi_callback::Boxed::from_parts(
                raw,
                ::ffi_callback::__private::Holder::<
                    F,
                    ::ffi_callback::__private::NoState,
                >::free_box,
            )
        }
    }
    /// Boxes the `FnOnce` `f` for a C library that calls it once:
    /// `into_raw()` when the call frees it, `into_raw_with_destroy()`
    /// when a destroy-notify follows.
    #[inline]
    pub fn once(
        f: F,
    ) -> ::ffi_callback::Once<
        extern "C" fn(data: gpointer, ud: gpointer),
        gpointer,
        unsafe extern "C" fn(gpointer),
    >
    where
        F: ::ffi_callback::__private::core::ops::FnOnce(gpointer) + 'static
            + ::ffi_callback::__private::SyncClosure,
    {
        let __ffi_ptr = ::ffi_callback::__private::OnceHolder::<F>::into_raw_box(f);
        unsafe {
            ::ffi_callback::Once::from_parts(
                <gpointer as ::ffi_callback::__private::UserDataSlot>::from_ptr(
                    __ffi_ptr,
                ),
                Self::__ffi_call_and_free as extern "C" fn(data: gpointer, ud: gpointer),
                Self::__ffi_call_at_most_once
                    as extern "C" fn(data: gpointer, ud: gpointer),
                Self::__ffi_destroy_once as unsafe extern "C" fn(gpointer),
                ::ffi_callback::__private::OnceHolder::<F>::free,
            )
        }
    }
    #[deny(improper_ctypes_definitions)]
    extern "C" fn __ffi_trampoline(data: gpointer, ud: gpointer)
    where
        F: ::ffi_callback::__private::core::ops::Fn(gpointer)
            + ::ffi_callback::__private::SyncClosure,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "Worker"
            ),
        };
        let __ffi_fallback = ::ffi_callback::__private::no_fallback;
        let __ffi_ptr = <gpointer as ::ffi_callback::__private::UserDataSlot>::into_ptr(
            ud,
        );
        #[allow(unused_unsafe)]
        unsafe {
            ::ffi_callback::__private::Holder::<
                F,
                ::ffi_callback::__private::NoState,
            >::call_ref::<
                ::ffi_callback::__private::policy::Abort,
                _,
            >(
                __ffi_ptr,
                &__FFI_CALLBACK_SITE,
                __ffi_fallback,
                move |__ffi_closure: &F| __ffi_closure(data),
            )
        }
    }
    #[allow(improper_ctypes_definitions)]
    extern "C" fn __ffi_call_and_free(data: gpointer, ud: gpointer)
    where
        F: ::ffi_callback::__private::core::ops::FnOnce(gpointer) + 'static
            + ::ffi_callback::__private::SyncClosure,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "Worker"
            ),
        };
        let __ffi_fallback = ::ffi_callback::__private::no_fallback;
        let __ffi_ptr = <gpointer as ::ffi_callback::__private::UserDataSlot>::into_ptr(
            ud,
        );
        #[allow(unused_unsafe)]
        unsafe {
            ::ffi_callback::__private::OnceHolder::<
                F,
            >::call_and_free::<
                ::ffi_callback::__private::policy::Abort,
                _,
            >(
                __ffi_ptr,
                &__FFI_CALLBACK_SITE,
                __ffi_fallback,
                move |__ffi_closure: F| __ffi_closure(data),
            )
        }
    }
    #[allow(improper_ctypes_definitions)]
    extern "C" fn __ffi_call_at_most_once(data: gpointer, ud: gpointer)
    where
        F: ::ffi_callback::__private::core::ops::FnOnce(gpointer) + 'static
            + ::ffi_callback::__private::SyncClosure,
    {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "Worker"
            ),
        };
        let __ffi_fallback = ::ffi_callback::__private::no_fallback;
        let __ffi_ptr = <gpointer as ::ffi_callback::__private::UserDataSlot>::into_ptr(
            ud,
        );
        #[allow(unused_unsafe)]
        unsafe {
            ::ffi_callback::__private::OnceHolder::<
                F,
            >::call_at_most_once::<
                ::ffi_callback::__private::policy::Abort,
                _,
            >(
                __ffi_ptr,
                &__FFI_CALLBACK_SITE,
                __ffi_fallback,
                move |__ffi_closure: F| __ffi_closure(data),
            )
        }
    }
    unsafe extern "C" fn __ffi_destroy(user_data: gpointer) {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "Worker"
            ),
        };
        unsafe {
            ::ffi_callback::__private::Holder::<
                F,
                ::ffi_callback::__private::NoState,
            >::destroy_box::<
                ::ffi_callback::__private::policy::Abort,
            >(
                <gpointer as ::ffi_callback::__private::UserDataSlot>::into_ptr(
                    user_data,
                ),
                &__FFI_CALLBACK_SITE,
            )
        }
    }
    unsafe extern "C" fn __ffi_destroy_once(user_data: gpointer) {
        static __FFI_CALLBACK_SITE: ::ffi_callback::__private::Site = ::ffi_callback::__private::Site {
            name: ::ffi_callback::__private::core::concat!(
                ::ffi_callback::__private::core::module_path!(), "::", "Worker"
            ),
        };
        unsafe {
            ::ffi_callback::__private::OnceHolder::<
                F,
            >::destroy::<
                ::ffi_callback::__private::policy::Abort,
            >(
                <gpointer as ::ffi_callback::__private::UserDataSlot>::into_ptr(
                    user_data,
                ),
                &__FFI_CALLBACK_SITE,
            )
        }
    }
}
