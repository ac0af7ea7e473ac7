//! A C `FILE*` over a Rust buffer, with glibc's `fopencookie`, through a
//! `#[callback]` *set*: the stream's four operations (read, write, seek,
//! close) are the methods of one Rust type, `MemFile`, and C gets one
//! pointer to it as the cookie.
//!
//! ```text
//! cargo run -p examples --example cookie_file
//! ```
//!
//! C code writes with `fprintf` and `fputs`, seeks, reads back and closes;
//! each call that reaches the cookie runs a `MemFile` method. `fclose` ends
//! the state through `close`, which takes `self`: the set's destroy, run
//! once. A write that fails returns `Err(io::Error)`: C sees -1 (a failed
//! write: `fflush` returns `EOF`), and the `io::Error` itself comes back to
//! the Rust caller from `ffi_callback::try_resume`. A panic in a method would
//! give C the `fallback` (-1), stop every method of the stream until the
//! guard around the C calls returns, and be re-raised there.
//!
//! Linux with glibc only (`fopencookie` is a GNU extension).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    use std::cell::RefCell;
    use std::ffi::{CStr, c_char, c_int, c_void};
    use std::io;
    use std::process::ExitCode;
    use std::ptr;
    use std::rc::Rc;

    use ffi_callback::{callback, resume_panics, try_resume};
    use libc::{FILE, SEEK_CUR, SEEK_END, SEEK_SET};

    /// `cookie_io_functions_t` from glibc's `<stdio.h>`; the libc crate
    /// declares neither it nor `fopencookie`. (The seek takes an
    /// `off64_t *`.)
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CookieIoFunctions {
        read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
        write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
        seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
        close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    }

    unsafe extern "C" {
        fn fopencookie(
            cookie: *mut c_void,
            mode: *const c_char,
            io_funcs: CookieIoFunctions,
        ) -> *mut FILE;
    }

    /// The stream's operations, declared as the C header shapes them (the
    /// cookie first, marked `#[user_data]`), with the receiver each needs.
    /// Implementing it for a type gives that type the C entry points as
    /// constants: `MemFile::READ`, `::WRITE`, `::SEEK`, `::CLOSE` (items of
    /// the generated `CookieIoExt`, in scope here as the set is).
    #[callback]
    trait CookieIo {
        /// Bytes read, 0 at the end, -1 on error (and after a panic).
        #[callback(fallback = -1)]
        unsafe extern "C" fn read(
            &mut self,
            #[user_data] cookie: *mut c_void,
            buf: *mut c_char,
            size: usize,
        ) -> isize;
        /// Bytes written; `Err(e)` gives C -1 and `e` to `try_resume`.
        #[callback(fallback = -1, on_error = -1)]
        unsafe extern "C" fn write(
            &mut self,
            #[user_data] cookie: *mut c_void,
            buf: *const c_char,
            size: usize,
        ) -> Result<isize, io::Error>;
        /// Moves to `*offset` from `whence` and stores the new position.
        #[callback(fallback = -1)]
        unsafe extern "C" fn seek(
            &mut self,
            #[user_data] cookie: *mut c_void,
            offset: *mut i64,
            whence: c_int,
        ) -> c_int;
        /// `fclose`'s last call: takes the state by value, then it is
        /// dropped.
        #[callback(fallback = -1)]
        unsafe extern "C" fn close(self, #[user_data] cookie: *mut c_void) -> c_int;
    }

    /// What `fopencookie` gets: `MemFile`'s entry points.
    const MEM_FILE_IO: CookieIoFunctions = CookieIoFunctions {
        read: Some(MemFile::READ),
        write: Some(MemFile::WRITE),
        seek: Some(MemFile::SEEK),
        close: Some(MemFile::CLOSE),
    };

    /// A file in memory. The bytes are shared with the caller, who reads
    /// them after `fclose`.
    struct MemFile {
        data: Rc<RefCell<Vec<u8>>>,
        pos: usize,
        /// Writes past this many bytes fail.
        limit: usize,
    }

    impl CookieIo for MemFile {
        fn read(&mut self, buf: *mut c_char, size: usize) -> isize {
            let data = self.data.borrow();
            let available = data.get(self.pos..).unwrap_or_default();
            let n = available.len().min(size);
            // SAFETY: glibc passes room for `size` bytes at `buf`, and
            // `n <= size`; our bytes live in a separate `Vec`.
            unsafe { ptr::copy_nonoverlapping(available.as_ptr(), buf.cast::<u8>(), n) };
            self.pos += n;
            n as isize
        }

        fn write(&mut self, buf: *const c_char, size: usize) -> Result<isize, io::Error> {
            let end = self.pos + size;
            if end > self.limit {
                return Err(io::Error::other(format!(
                    "memory file full: {end} bytes asked, {} allowed",
                    self.limit
                )));
            }
            // SAFETY: glibc passes `size` readable bytes at `buf`.
            let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), size) };
            let mut data = self.data.borrow_mut();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[self.pos..end].copy_from_slice(bytes);
            self.pos = end;
            Ok(size as isize)
        }

        fn seek(&mut self, offset: *mut i64, whence: c_int) -> c_int {
            let base = match whence {
                SEEK_SET => 0,
                SEEK_CUR => self.pos as i64,
                SEEK_END => self.data.borrow().len() as i64,
                _ => return -1,
            };
            // SAFETY: glibc passes a valid `off64_t` to read and update.
            let target = base.checked_add(unsafe { *offset });
            let Some(pos) = target.and_then(|t| usize::try_from(t).ok()) else {
                return -1;
            };
            self.pos = pos;
            // SAFETY: as above.
            unsafe { *offset = pos as i64 };
            0
        }

        fn close(self) -> c_int {
            // Nothing to flush: the bytes are already in `data`. The state
            // is dropped when this returns.
            0
        }
    }

    /// Opens a `FILE*` over `file`. C owns the state from here on; `fclose`
    /// ends it through `close`.
    fn open(file: MemFile, mode: &CStr) -> io::Result<*mut FILE> {
        let boxed = file.boxed();
        // SAFETY: the cookie is the boxed state that `MEM_FILE_IO`'s entry
        // points expect; glibc calls `close` once, from `fclose`.
        let stream = unsafe { fopencookie(boxed.user_data(), mode.as_ptr(), MEM_FILE_IO) };
        if stream.is_null() {
            // C did not take it: dropping `boxed` frees the state.
            return Err(io::Error::last_os_error());
        }
        // Handed over: from now on only `close` ends it.
        let _ = boxed.into_raw();
        Ok(stream)
    }

    fn check(ok: bool, what: &str) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("{what} failed: {}", io::Error::last_os_error()))
        }
    }

    /// Writes a small report through stdio, reads parts of it back, closes.
    fn report(data: &Rc<RefCell<Vec<u8>>>) -> Result<(String, String, c_int), String> {
        let file = open(
            MemFile {
                data: Rc::clone(data),
                pos: 0,
                limit: 4096,
            },
            c"w+",
        )
        .map_err(|e| format!("fopencookie failed: {e}"))?;
        // The guard re-raises, after the C calls, a panic that a method
        // kept from C (none here).
        resume_panics(|| {
            // SAFETY: `file` is open until the `fclose` below, which runs
            // whatever happened before it; the format strings match their
            // arguments.
            unsafe {
                let read_back = (|| {
                    for (name, count) in [(c"apples", 3), (c"pears", 12), (c"plums", 7)] {
                        let written =
                            libc::fprintf(file, c"%-6s %3d\n".as_ptr(), name.as_ptr(), count);
                        check(written > 0, "fprintf")?;
                    }
                    check(libc::fputs(c"total   22\n".as_ptr(), file) >= 0, "fputs")?;
                    // Back to the second line, and read it (stdio wants an
                    // fflush or fseek between writing and reading).
                    check(libc::fseek(file, 11, SEEK_SET) == 0, "fseek")?;
                    let mut line = [0u8; 64];
                    let n = libc::fread(line.as_mut_ptr().cast(), 1, 11, file);
                    let second = String::from_utf8_lossy(&line[..n]).trim_end().to_owned();
                    // The last line, from the end.
                    check(libc::fseek(file, -11, SEEK_END) == 0, "fseek")?;
                    let n = libc::fread(line.as_mut_ptr().cast(), 1, line.len(), file);
                    let last = String::from_utf8_lossy(&line[..n]).trim_end().to_owned();
                    Ok((second, last))
                })();
                let closed = libc::fclose(file);
                read_back.map(|(second, last)| (second, last, closed))
            }
        })
    }

    /// A file too small for what C writes: the write's `io::Error` comes
    /// back from `try_resume`.
    fn overflow() -> Result<io::Error, String> {
        let data = Rc::new(RefCell::new(Vec::new()));
        let file = open(
            MemFile {
                data: Rc::clone(&data),
                pos: 0,
                limit: 16,
            },
            c"w",
        )
        .map_err(|e| format!("fopencookie failed: {e}"))?;
        let mut flushed = 0;
        let result = try_resume::<_, io::Error>(|| {
            // SAFETY: `file` is open (closed below).
            unsafe {
                libc::fputs(c"more than sixteen bytes\n".as_ptr(), file);
                flushed = libc::fflush(file);
            }
        });
        // SAFETY: `file` is open; `fclose` is its last call.
        let closed = resume_panics(|| unsafe { libc::fclose(file) });
        match result {
            Err(error) if flushed == libc::EOF && closed == 0 && data.borrow().is_empty() => {
                Ok(error)
            }
            Err(error) => Err(format!(
                "unexpected: fflush {flushed}, fclose {closed}, error {error}"
            )),
            Ok(()) => Err("the write past the limit did not fail".to_owned()),
        }
    }

    pub(crate) fn main() -> ExitCode {
        let data = Rc::new(RefCell::new(Vec::new()));
        let (second, last, closed) = match report(&data) {
            Ok(report) => report,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
        };
        let text = String::from_utf8_lossy(&data.borrow()).into_owned();
        println!(
            "wrote {} lines, {} bytes, into a Rust Vec<u8> through fprintf and fputs:",
            text.lines().count(),
            text.len()
        );
        for line in text.lines() {
            println!("  | {line}");
        }
        println!("fseek to byte 11, fread: {second:?}");
        println!("fseek 11 back from the end, fread: {last:?}");
        println!("fclose returned {closed}, the value of MemFile::close, which consumed the state");
        match overflow() {
            Ok(error) => {
                println!("a 16-byte file: fflush returned EOF, and try_resume gave back: {error}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    println!("cookie_file uses glibc's fopencookie: run it on Linux with glibc");
}
