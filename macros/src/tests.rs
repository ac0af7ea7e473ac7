//! Expansion snapshots: each case's output, pretty-printed, is compared
//! with `macros/snapshots/<case>.rs`, so any change to the generated code is
//! a reviewed diff. `UPDATE_SNAPSHOTS=1 cargo test -p ffi-callback-macros`
//! rewrites them; read the diff before committing. Two of them are also the
//! runtime's "what the macro generates" page (`runtime/src/expansions/`),
//! which lives in the runtime's package and is checked here too.

use std::path::PathBuf;

use proc_macro2::TokenStream;
use quote::quote;

fn snapshot(name: &str, args: TokenStream, item: TokenStream) {
    let expanded = crate::expand::callback(args, item);
    let file: syn::File = match syn::parse2(expanded.clone()) {
        Ok(file) => file,
        Err(error) => panic!("expansion of {name} is not a valid file: {error}\n{expanded}"),
    };
    let pretty = prettyplease::unparse(&file);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(format!("{name}.rs"));
    compare(name, &path, &pretty);
    let documented = match name {
        "fn_mut_ref_user_data_last" => Some("fn_form.rs"),
        "type_slot_first_fallback" => Some("type_form.rs"),
        _ => None,
    };
    if let Some(file) = documented {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../runtime/src/expansions")
            .join(file);
        compare(name, &path, &pretty);
    }
}

fn compare(name: &str, path: &std::path::Path, pretty: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, pretty).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != pretty {
        let first_difference = expected
            .lines()
            .zip(pretty.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(pretty.lines().count()));
        panic!(
            "expansion of `{name}` differs from {} from line {}: rerun with UPDATE_SNAPSHOTS=1 \
             and review the diff.\n--- new expansion ---\n{pretty}",
            path.display(),
            first_difference + 1
        );
    }
}

#[test]
fn fn_mut_ref_user_data_last() {
    snapshot(
        "fn_mut_ref_user_data_last",
        quote!(),
        quote! {
            /// Collects loaded objects.
            pub extern "C" fn collect(info: *mut dl_phdr_info, size: usize, #[user_data] names: &mut Vec<String>) -> c_int {
                names.push(String::new());
                0
            }
        },
    );
}

#[test]
fn fn_system_lparam_abort() {
    snapshot(
        "fn_system_lparam_abort",
        quote!(on_panic = abort),
        quote! {
            extern "system" fn enum_proc(hwnd: HWND, #[user_data(LPARAM)] found: &mut Vec<HWND>) -> BOOL {
                found.push(hwnd);
                TRUE
            }
        },
    );
}

#[test]
fn fn_accessor_fallback_generic() {
    snapshot(
        "fn_accessor_fallback_generic",
        quote!(
            user_data = sqlite3_user_data(ctx),
            fallback = -1,
            crate = ::my::ffi_callback
        ),
        quote! {
            unsafe extern "C" fn call<T: Ord>(ctx: *mut sqlite3_context, (a, b): (i32, i32), #[user_data] state: &T) -> c_int {
                0
            }
        },
    );
}

#[test]
fn fn_into_slice_and_out_param() {
    snapshot(
        "fn_into_slice_and_out_param",
        quote!(fallback = if data.is_null() { 0 } else { size * nmemb + 1 }),
        quote! {
            extern "C" fn write(#[into(&[u8], len = size * nmemb)] data: *const c_char, size: usize, nmemb: usize, #[into(&mut c_int)] status: *mut c_int, #[user_data] sink: &mut Vec<u8>) -> usize {
                sink.extend_from_slice(data);
                *status = 0;
                data.len()
            }
        },
    );
}

#[test]
fn fn_no_user_data_unwind() {
    snapshot(
        "fn_no_user_data_unwind",
        quote!(on_panic = unwind),
        quote! {
            #[unsafe(no_mangle)]
            extern "C-unwind" fn lua_fn(state: *mut lua_State) -> c_int {
                1
            }
        },
    );
}

#[test]
fn type_slot_first_fallback() {
    snapshot(
        "type_slot_first_fallback",
        quote!(fallback = 1),
        quote! {
            /// One row of `sqlite3_exec`.
            pub type ExecRow = unsafe extern "C" fn(#[user_data] arg: *mut c_void, n: c_int, values: *mut *mut c_char, names: *mut *mut c_char) -> c_int;
        },
    );
}

#[test]
fn type_sync_safe_fn() {
    snapshot(
        "type_sync_safe_fn",
        quote!(sync, unsafe(safe_fn)),
        quote! {
            type Worker = Option<extern "C" fn(data: gpointer, #[user_data] ud: gpointer)>;
        },
    );
}

/// No user-data slot; one parameter converted for the closures
/// (`#[into(Elem)]`), one borrowed (`#[into(&u32)]`).
#[test]
fn type_slotless() {
    snapshot(
        "type_slotless",
        quote!(),
        quote! {
            type Compare = unsafe extern "C" fn(#[into(Elem)] a: *const c_void, #[into(&u32)] b: *const c_void) -> c_int;
        },
    );
}

#[test]
fn error_item_is_still_emitted() {
    snapshot(
        "error_item_is_still_emitted",
        quote!(on_panic = sideways, sync),
        quote! {
            async fn twice(#[user_data] a: &mut u8, #[user_data] b: &mut u8) {}
        },
    );
}

#[test]
fn set_cookie_io() {
    snapshot(
        "set_cookie_io",
        quote!(),
        quote! {
            /// fopencookie's `cookie_io_functions_t`.
            pub trait CookieIo {
                #[callback(fallback = -1)]
                unsafe extern "C" fn read(&mut self, #[user_data] cookie: *mut c_void, buf: *mut c_char, size: usize) -> isize;
                #[callback(fallback = -1, on_error = -1)]
                unsafe extern "C" fn write(&mut self, #[user_data] cookie: *mut c_void, buf: *const c_char, size: usize) -> Result<isize, std::io::Error>;
                #[callback(fallback = -1)]
                unsafe extern "C" fn close(self, #[user_data] cookie: *mut c_void) -> c_int;
            }
        },
    );
}

/// A destroy-marked `&mut self` entry: no `DESTROY`, the entry calls the
/// runtime's `call_mut_then_destroy`, and `boxed`'s docs name it.
#[test]
fn set_destroy_marked_close() {
    snapshot(
        "set_destroy_marked_close",
        quote!(),
        quote! {
            /// libarchive's read client, whoever owns the client data.
            pub trait ReadClient {
                unsafe extern "C" fn read(&mut self, archive: *mut Archive, #[user_data] client_data: *mut c_void, #[into(&mut *const c_void)] buffer: *mut *const c_void) -> isize;
                #[callback(destroy)]
                unsafe extern "C" fn close(&mut self, archive: *mut Archive, #[user_data] client_data: *mut c_void) -> c_int;
            }
        },
    );
}

#[test]
fn fn_raise_lua() {
    snapshot(
        "fn_raise_lua",
        quote!(
            user_data = unsafe { lua_touserdata(l, lua_upvalueindex(1)) },
            on_raise = unsafe { push_message(l, &failure.message()) },
            raise = unsafe { lua_error(l) },
        ),
        quote! {
            extern "C-unwind" fn counter(l: *mut lua_State, #[user_data] state: &State) -> Result<c_int, String> {
                Ok(0)
            }
        },
    );
}
