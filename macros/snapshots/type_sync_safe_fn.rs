/// The C function-pointer type of [`Worker`], as declared: what its `function()` returns.
type WorkerFn = extern "C" fn(data: gpointer, ud: gpointer);
///
/// `#[callback]` holder: borrowed (`new`, `scope`, `scope_once`) or owned (`boxed`, `once`) C callbacks for closures `Fn(gpointer) + Send + Sync` (or returning `Result<_, E>`). The C library may call it from several threads at once. The C function-pointer type is [`WorkerFn`]; see the `ffi_callback` crate docs for each constructor.
type Worker<F> = ::ffi_callback::Callback<F, __ffi_Worker::Worker>;
#[doc(hidden)]
#[allow(non_snake_case, unreachable_pub)]
mod __ffi_Worker {
    /// The marker of the `#[callback]` type of this name.
    #[allow(missing_debug_implementations)]
    pub(super) enum Worker {}
}
unsafe impl ::ffi_callback::__private::CallbackKind for __ffi_Worker::Worker {
    type Function = WorkerFn;
    type UserData = gpointer;
    type Destroy = unsafe extern "C" fn(gpointer);
    type Threading = ::ffi_callback::__private::threading::AnyThread;
    type Policy = ::ffi_callback::__private::policy::Abort;
    const SITE: &'static ::ffi_callback::__private::Site = &::ffi_callback::__private::site!(
        Worker
    );
    const NAME: &'static str = "Worker";
    #[inline]
    fn destroy<F, const ONCE: bool>() -> Self::Destroy {
        unsafe extern "C" fn __ffi_destroy<F, const ONCE: bool>(
            __ffi_user_data: gpointer,
        ) {
            unsafe {
                if ONCE {
                    ::ffi_callback::__private::destroy_once::<Worker<F>>(__ffi_user_data)
                } else {
                    ::ffi_callback::__private::destroy::<Worker<F>>(__ffi_user_data)
                }
            }
        }
        __ffi_destroy::<F, ONCE>
    }
}
unsafe impl<F, O> ::ffi_callback::__private::KindTrampoline<F, O>
for __ffi_Worker::Worker
where
    F: ::ffi_callback::__private::Fn(gpointer) -> O
        + ::ffi_callback::__private::SyncClosure,
    O: ::ffi_callback::__private::PlainReturn<()>,
{
    type Error = <O as ::ffi_callback::__private::CallbackReturn<()>>::Error;
    #[inline]
    unsafe fn trampoline<const LENT: bool>() -> <Self as ::ffi_callback::__private::CallbackKind>::Function {
        use ::ffi_callback::__private as __ffi;
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        #[inline(never)]
        extern "C" fn trampoline<F, O, const LENT: bool>(data: gpointer, ud: gpointer)
        where
            F: __ffi::Fn(gpointer) -> O + __ffi::SyncClosure,
            O: __ffi::PlainReturn<()>,
        {
            let __ffi_fallback = __ffi_Worker::Worker::__ffi_fallback as fn();
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
                    (|(data,), __ffi_ud| trampoline::<F, O, LENT>(data, __ffi_ud))
                        as fn(_, _) -> _,
                )
            }
        }
        trampoline::<F, O, LENT>
    }
}
unsafe impl<F, O> ::ffi_callback::__private::KindOnceTrampoline<F, O>
for __ffi_Worker::Worker
where
    F: ::ffi_callback::__private::FnOnce(gpointer) -> O
        + ::ffi_callback::__private::SyncClosure,
    O: ::ffi_callback::__private::PlainReturn<()>,
{
    #[inline]
    unsafe fn trampoline() -> <Self as ::ffi_callback::__private::CallbackKind>::Function {
        use ::ffi_callback::__private as __ffi;
        #[deny(improper_ctypes_definitions)]
        #[forbid(unsafe_op_in_unsafe_fn)]
        extern "C" fn trampoline<F, O>(data: gpointer, ud: gpointer)
        where
            F: __ffi::FnOnce(gpointer) -> O + __ffi::SyncClosure,
            O: __ffi::PlainReturn<()>,
        {
            let __ffi_fallback = __ffi_Worker::Worker::__ffi_fallback as fn();
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
#[allow(dead_code, unused_variables, clippy::all)]
impl __ffi_Worker::Worker {
    #[inline]
    fn __ffi_fallback() {
        ::ffi_callback::__private::no_fallback()
    }
}
