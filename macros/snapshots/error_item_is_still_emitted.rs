::core::compile_error! {
    "unknown panic policy; expected `resume`, `abort`, `fallback` or `unwind`"
}
::core::compile_error! {
    "`sync` describes the closures of a callback type; a `#[callback]` fn has no closure to check: remove it (a fn that C may call on any thread takes `send`)"
}
::core::compile_error! {
    "an `async fn` cannot be a C callback: C calls it and needs the result now; remove `async` (to await a C completion, see the callback types' `future`)"
}
::core::compile_error! {
    "only one parameter can carry the user data: `#[user_data]` is given more than once"
}
async fn twice(a: &mut u8, b: &mut u8) {}
