/// The C function-pointer type of [`Worker`], as declared: what its `function()` returns.
type WorkerFn = extern "C" fn(data: gpointer, ud: gpointer);
///
/// `#[callback]` holder: borrowed (`new`, `scope`, `scope_once`) or owned (`boxed`, `once`) C callbacks for closures `Fn(gpointer) + Send + Sync` (or returning `Result<_, E>`). The C library may call it from several threads at once. The C function-pointer type is [`WorkerFn`]; see the `ffi_callback` crate docs for each constructor.
struct Worker<F> {
    lent: ::ffi_callback::__private::lend::Lent<
        F,
        ::ffi_callback::__private::threading::AnyThread,
        WorkerFn,
    >,
}
impl<F> ::ffi_callback::__private::core::fmt::Debug for Worker<F> {
    fn fmt(
        &self,
        __ffi_formatter: &mut ::ffi_callback::__private::core::fmt::Formatter<'_>,
    ) -> ::ffi_callback::__private::core::fmt::Result {
        __ffi_formatter.debug_struct("Worker").finish_non_exhaustive()
    }
}
unsafe impl<F> ::ffi_callback::__private::CallbackType for Worker<F> {
    type Function = WorkerFn;
    type UserData = gpointer;
    type Destroy = unsafe extern "C" fn(gpointer);
    type Closure = F;
    type Threading = ::ffi_callback::__private::threading::AnyThread;
    type Policy = ::ffi_callback::__private::policy::Abort;
    const SITE: &'static ::ffi_callback::__private::Site = &::ffi_callback::__private::site!(
        Worker
    );
}
unsafe impl<F, O> ::ffi_callback::__private::Trampoline<O> for Worker<F>
where
    F: ::ffi_callback::__private::Fn(gpointer) -> O
        + ::ffi_callback::__private::SyncClosure,
    O: ::ffi_callback::__private::PlainReturn<()>,
{
    #[inline]
    unsafe fn trampoline<const LENT: bool>() -> <Self as ::ffi_callback::__private::CallbackType>::Function {
        use ::ffi_callback::__private as __ffi;
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        #[inline(never)]
        extern "C" fn trampoline<F, O, const LENT: bool>(data: gpointer, ud: gpointer)
        where
            F: __ffi::Fn(gpointer) -> O + __ffi::SyncClosure,
            O: __ffi::PlainReturn<()>,
        {
            let __ffi_fallback = Worker::<()>::__ffi_fallback as fn();
            unsafe {
                __ffi::call_ref::<
                    Worker<F>,
                    _,
                    O,
                    _,
                    LENT,
                >(
                    ud,
                    (data,),
                    |f: &F, (data,)| f(data),
                    __ffi::fallback_on_error(__ffi_fallback),
                    __ffi_fallback,
                    |(data,), __ffi_ud| trampoline::<F, O, LENT>(data, __ffi_ud),
                )
            }
        }
        trampoline::<F, O, LENT>
    }
}
unsafe impl<F, O> ::ffi_callback::__private::OnceTrampoline<O> for Worker<F>
where
    F: ::ffi_callback::__private::FnOnce(gpointer) -> O
        + ::ffi_callback::__private::SyncClosure,
    O: ::ffi_callback::__private::PlainReturn<()>,
{
    #[inline]
    unsafe fn trampoline() -> <Self as ::ffi_callback::__private::CallbackType>::Function {
        use ::ffi_callback::__private as __ffi;
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        extern "C" fn trampoline<F, O>(data: gpointer, ud: gpointer)
        where
            F: __ffi::FnOnce(gpointer) -> O + __ffi::SyncClosure,
            O: __ffi::PlainReturn<()>,
        {
            let __ffi_fallback = Worker::<()>::__ffi_fallback as fn();
            unsafe {
                __ffi::call_once::<
                    Worker<F>,
                    O,
                    _,
                >(
                    ud,
                    move |f: F| f(data),
                    __ffi::fallback_on_error(__ffi_fallback),
                    __ffi_fallback,
                )
            }
        }
        trampoline::<F, O>
    }
}
const _: () = {
    #[allow(non_camel_case_types)]
    struct __ffi_callback_safe_fn_promise;
    #[allow(clippy::undocumented_unsafe_blocks)]
    unsafe impl ::ffi_callback::__private::SafeFnPromise
    for __ffi_callback_safe_fn_promise {}
};
#[allow(dead_code)]
impl<F> Worker<F> {
    /// Holds `f` for C: pass [`function`](Self::function) and
    /// [`user_data`](Self::user_data), and keep the holder alive and
    /// unmoved while C may call it, and end it where it lies (out of
    /// scope: `drop(holder)` moves it first); [`scope`](Self::scope)
    /// does it all.
    #[inline]
    pub fn new<O>(f: F) -> Self
    where
        Self: ::ffi_callback::__private::Trampoline<O>,
    {
        Self {
            lent: unsafe {
                ::ffi_callback::__private::lend::Lent::new(
                    f,
                    <Self as ::ffi_callback::__private::Trampoline<
                        O,
                    >>::trampoline::<true>(),
                    <Self as ::ffi_callback::__private::CallbackType>::SITE,
                )
            },
        }
    }
    /// The trampoline to pass to C with [`user_data`](Self::user_data).
    #[inline]
    pub fn function(&self) -> WorkerFn {
        self.lent.function()
    }
    /// The user data to pass to C: a pointer to this holder.
    #[inline]
    pub fn user_data(&self) -> gpointer {
        <gpointer as ::ffi_callback::__private::UserDataSlot>::from_ptr(
            self.lent.as_ptr(),
        )
    }
    /// Runs `call` with the trampoline and user data for `f`, which
    /// C may call until `call` returns; a kept panic is resumed then.
    #[inline]
    pub fn scope<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(WorkerFn, gpointer) -> T,
    ) -> T
    where
        Self: ::ffi_callback::__private::Trampoline<O>,
    {
        ::ffi_callback::__private::lend::scope::<Self, O, T>(f, call)
    }
    /// [`scope`](Self::scope) that also returns the first `Err` of
    /// a closure returning `Result<_, E>`.
    #[inline]
    pub fn try_scope<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(WorkerFn, gpointer) -> T,
    ) -> ::ffi_callback::__private::core::result::Result<
        T,
        <O as ::ffi_callback::__private::CallbackReturn<()>>::Error,
    >
    where
        Self: ::ffi_callback::__private::Trampoline<O>,
        O: ::ffi_callback::__private::CallbackReturn<()>,
    {
        ::ffi_callback::__private::lend::try_scope::<
            Self,
            O,
            T,
            <O as ::ffi_callback::__private::CallbackReturn<()>>::Error,
        >(f, call)
    }
    /// Boxes `f` for a C library that keeps the callback: with a
    /// destroy-notify, hand it over (`into_raw()`); without one, keep
    /// the `Boxed` and pass its `function()` and `user_data()`.
    #[inline]
    pub fn boxed<O>(f: F) -> ::ffi_callback::Boxed<Self>
    where
        Self: ::ffi_callback::__private::Trampoline<O>,
        F: 'static,
    {
        unsafe {
            let __ffi_function = <Self as ::ffi_callback::__private::Trampoline<
                O,
            >>::trampoline::<false>();
            ::ffi_callback::Boxed::<
                Self,
            >::from_closure(f, __ffi_function, Self::__ffi_destroy)
        }
    }
    /// Boxes the `FnOnce` `f` for a C library that calls it once:
    /// `into_raw()`, or `into_raw_with_destroy()` when a
    /// destroy-notify follows.
    #[inline]
    pub fn once<O>(f: F) -> ::ffi_callback::Once<Self>
    where
        Self: ::ffi_callback::__private::OnceTrampoline<O>,
        F: 'static,
    {
        unsafe {
            let __ffi_function = <Self as ::ffi_callback::__private::OnceTrampoline<
                O,
            >>::trampoline();
            ::ffi_callback::Once::<
                Self,
            >::from_closure(f, __ffi_function, Self::__ffi_destroy_once)
        }
    }
    /// [`scope`](Self::scope) for the `FnOnce` `f`, which C may call
    /// at most once (a second call is refused).
    #[inline]
    pub fn scope_once<O, T>(
        f: F,
        call: impl ::ffi_callback::__private::FnOnce(WorkerFn, gpointer) -> T,
    ) -> T
    where
        Self: ::ffi_callback::__private::OnceTrampoline<O>,
    {
        ::ffi_callback::__private::lend::scope_once::<Self, O, T>(f, call)
    }
    /// The closure back.
    #[inline]
    pub fn into_inner(self) -> F {
        self.lent.into_inner()
    }
    unsafe extern "C" fn __ffi_destroy(__ffi_user_data: gpointer) {
        unsafe { ::ffi_callback::__private::destroy::<Self>(__ffi_user_data) }
    }
    unsafe extern "C" fn __ffi_destroy_once(__ffi_user_data: gpointer) {
        unsafe { ::ffi_callback::__private::destroy_once::<Self>(__ffi_user_data) }
    }
}
#[allow(dead_code, unused_variables, clippy::all)]
impl Worker<()> {
    #[inline]
    fn __ffi_fallback() {
        ::ffi_callback::__private::no_fallback()
    }
}
