//! Shared helpers for ffi-callback's tests.

/// Panic bookkeeping for the Rust-simulated C API tests.
pub mod panics {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    /// Records the message of every panic raised on the current thread, so that
    /// tests can check panics that the policy swallowed (`on_panic = fallback`).
    /// The hook is process-global but installed once and the log is per thread,
    /// so tests running in parallel do not see each other's panics. Deliberate
    /// panics (refusals, `expected:` messages, typed payloads) are not printed;
    /// anything else (a failing assertion) goes to the default hook.
    pub mod hook {
        use std::cell::RefCell;
        use std::sync::Once;

        thread_local! {
            static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
        }

        pub fn install() {
            static INSTALL: Once = Once::new();
            INSTALL.call_once(|| {
                let default = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    let payload = info.payload();
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned());
                    let deliberate = message.as_deref().is_none_or(|m| {
                        m.starts_with("ffi-callback: ") || m.starts_with("expected")
                    });
                    let _ = LOG.try_with(|log| {
                        log.borrow_mut()
                            .push(message.unwrap_or_else(|| "<typed payload>".to_owned()));
                    });
                    if !deliberate {
                        default(info);
                    }
                }));
            });
        }

        /// Runs `f`; returns its value and the panics raised on this thread
        /// meanwhile, caught or not.
        pub fn panics_during<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
            install();
            let before = LOG.with(|log| log.borrow().len());
            let value = f();
            let raised = LOG.with(|log| log.borrow_mut().split_off(before));
            (value, raised)
        }
    }

    pub use hook::panics_during;

    /// Runs `f`, which must panic; returns the payload.
    pub fn panic_payload<R>(f: impl FnOnce() -> R) -> Box<dyn std::any::Any + Send> {
        hook::install();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(_) => panic!("the call returned instead of panicking"),
            Err(payload) => payload,
        }
    }

    /// The message of a `&str` or `String` payload.
    pub fn message(payload: &(dyn std::any::Any + Send)) -> &str {
        payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or_else(|| panic!("not a string payload"))
    }
}

/// An sqlite connection for the real-sqlite tests (bundled
/// `libsqlite3-sys`): opened, run, closed on drop.
pub mod sqlite {
    use std::ffi::{CStr, CString, c_char, c_int, c_void};
    use std::ptr;

    use libsqlite3_sys::{
        SQLITE_OK, sqlite3, sqlite3_close, sqlite3_errmsg, sqlite3_exec, sqlite3_free, sqlite3_open,
    };

    /// The row callback type `sqlite3_exec` takes.
    pub type RawExecRow =
        unsafe extern "C" fn(*mut c_void, c_int, *mut *mut c_char, *mut *mut c_char) -> c_int;

    /// An open connection, closed on drop (or by [`Db::close`]).
    #[derive(Debug)]
    pub struct Db(pub *mut sqlite3);

    impl Db {
        /// Opens `path` (a file, or `:memory:`).
        pub fn open(path: &str) -> Db {
            let path = CString::new(path).unwrap();
            let mut db = ptr::null_mut();
            // SAFETY: `path` is NUL-terminated and `db` is a valid out pointer.
            let rc = unsafe { sqlite3_open(path.as_ptr(), &mut db) };
            assert_eq!(rc, SQLITE_OK, "sqlite3_open");
            Db(db)
        }

        /// An in-memory database.
        pub fn memory() -> Db {
            Db::open(":memory:")
        }

        /// Runs `sql` with `callback`/`ud` as the row callback: the result
        /// code and the error message.
        ///
        /// # Safety
        /// `callback` must accept `ud`, which must stay valid until this
        /// returns.
        pub unsafe fn exec_with(
            &self,
            sql: &str,
            callback: Option<RawExecRow>,
            ud: *mut c_void,
        ) -> (c_int, Option<String>) {
            // SAFETY: forwarded from the caller; `self.0` is open.
            unsafe { exec_raw(self.0, sql, callback, ud) }
        }

        /// Runs `sql` (no row callback): `Ok`, or the result code and
        /// message.
        pub fn exec(&self, sql: &str) -> Result<(), (c_int, String)> {
            // SAFETY: no callback.
            match unsafe { self.exec_with(sql, None, ptr::null_mut()) } {
                (SQLITE_OK, _) => Ok(()),
                (rc, message) => Err((rc, message.unwrap_or_default())),
            }
        }

        /// The connection's last error message.
        pub fn errmsg(&self) -> String {
            // SAFETY: `self.0` is open; the message is NUL-terminated and
            // valid until the next call on the connection, and is copied at
            // once.
            unsafe { CStr::from_ptr(sqlite3_errmsg(self.0)) }
                .to_string_lossy()
                .into_owned()
        }

        /// Closes the connection now, checking that it closed.
        pub fn close(mut self) {
            let db = std::mem::replace(&mut self.0, ptr::null_mut());
            // SAFETY: `db` is an open connection with no unfinalized
            // statements.
            assert_eq!(unsafe { sqlite3_close(db) }, SQLITE_OK);
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            // SAFETY: null (already closed) or an open connection.
            unsafe { sqlite3_close(self.0) };
        }
    }

    /// `sqlite3_exec` on a raw handle: the result code and the error message.
    ///
    /// # Safety
    /// `db` is an open connection; `callback` accepts `ud`, which stays
    /// valid until this returns.
    pub unsafe fn exec_raw(
        db: *mut sqlite3,
        sql: &str,
        callback: Option<RawExecRow>,
        ud: *mut c_void,
    ) -> (c_int, Option<String>) {
        let sql = CString::new(sql).unwrap();
        let mut errmsg: *mut c_char = ptr::null_mut();
        // SAFETY: by the caller's promise; `sql` is NUL-terminated and
        // `errmsg` a valid out pointer.
        let rc = unsafe { sqlite3_exec(db, sql.as_ptr(), callback, ud, &mut errmsg) };
        let message = (!errmsg.is_null()).then(|| {
            // SAFETY: sqlite set `errmsg` to a NUL-terminated string that we
            // must free with `sqlite3_free`.
            unsafe {
                let message = CStr::from_ptr(errmsg).to_string_lossy().into_owned();
                sqlite3_free(errmsg.cast());
                message
            }
        });
        (rc, message)
    }
}

/// glibc's `scandir` with its two callbacks, which take no user data: the
/// types and declarations the real-glibc suites share (`c_glibc_more.rs`
/// keeps state in a `thread_local!` by hand, `c_slotless.rs` lends
/// capturing closures with `scope_thread_local`).
pub mod scandir {
    use std::ffi::{c_char, c_int};

    use ffi_callback::callback;

    /// The filter: the entry borrowed; non-zero keeps it.
    #[callback]
    pub type ScanFilter =
        unsafe extern "C" fn(#[into(&libc::dirent)] entry: *const libc::dirent) -> c_int;

    /// The comparator takes `const struct dirent **`: pointers to the
    /// list's pointers, borrowed as `&*const dirent`.
    #[callback]
    pub type ScanCompare = unsafe extern "C" fn(
        #[into(&*const libc::dirent)] a: *const *const libc::dirent,
        #[into(&*const libc::dirent)] b: *const *const libc::dirent,
    ) -> c_int;

    unsafe extern "C" {
        pub fn scandir(
            dir: *const c_char,
            namelist: *mut *mut *mut libc::dirent,
            filter: Option<ScanFilterFn>,
            compar: Option<ScanCompareFn>,
        ) -> c_int;
    }

    /// An entry's name, without a borrow of C memory past the call.
    pub fn name_bytes(entry: &libc::dirent) -> Vec<u8> {
        entry
            .d_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect()
    }

    /// The names of the `n` entries `scandir` returned in `list`, which it
    /// frees (each entry, then the array).
    ///
    /// # Safety
    /// `list` and `n` are what a successful `scandir` gave: `n` malloc'd
    /// entries in a malloc'd array, not freed yet.
    pub unsafe fn take_names(list: *mut *mut libc::dirent, n: c_int) -> Vec<String> {
        let names = (0..n as usize)
            .map(|i| {
                // SAFETY: by the caller's promise; each entry is freed
                // once, after its name is read.
                unsafe {
                    let entry = *list.add(i);
                    let name = String::from_utf8(name_bytes(&*entry)).unwrap();
                    libc::free(entry.cast());
                    name
                }
            })
            .collect();
        // SAFETY: the array, its entries freed above.
        unsafe { libc::free(list.cast()) };
        names
    }
}
