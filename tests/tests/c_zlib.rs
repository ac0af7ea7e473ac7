//! `#[callback]` against zlib (`libz-sys`, built from source): custom
//! `zalloc`/`zfree` with their user data in `z_stream.opaque`.
//!
//! libz-sys declares both fields as bare (non-`Option`) fn pointers, so a
//! `z_stream` cannot be `mem::zeroed()` (that would be a null fn pointer);
//! every test builds it field by field.
//!
//! zlib hands the one `opaque` to both functions. The fn form fits that
//! directly (both fns receive the same `&ZStats`); two callback types, each
//! with its own holder, find their holders through `user_data = EXPR` from
//! an `Opaque` struct that carries both.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use ffi_callback::{callback, resume_panics, user_data_ref};
use libz_sys::{
    Z_FINISH, Z_MEM_ERROR, Z_OK, Z_STREAM_END, alloc_func, deflate, deflateEnd, deflateInit_,
    free_func, inflate, inflateEnd, inflateInit_, uInt, voidpf, z_stream, zlibVersion,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Some compressible bytes, large enough that zlib allocates its full
/// window and buffers.
fn sample() -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..200_000)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if i % 7 == 0 {
                b'a' + (state % 26) as u8
            } else {
                b"the quick brown fox "[i % 20]
            }
        })
        .collect()
}

/// A stream with the given allocator and nothing else set.
fn new_stream(zalloc: alloc_func, zfree: free_func, opaque: voidpf) -> z_stream {
    z_stream {
        next_in: ptr::null_mut(),
        avail_in: 0,
        total_in: 0,
        next_out: ptr::null_mut(),
        avail_out: 0,
        total_out: 0,
        msg: ptr::null_mut(),
        state: ptr::null_mut(),
        zalloc,
        zfree,
        opaque,
        data_type: 0,
        adler: 0,
        reserved: 0,
    }
}

fn stream_size() -> c_int {
    c_int::try_from(size_of::<z_stream>()).unwrap()
}

fn len(n: usize) -> uInt {
    uInt::try_from(n).unwrap()
}

/// `deflateInit` with the allocator; the result code.
///
/// # Safety
/// `zalloc`/`zfree` accept `opaque`, which stays valid until the stream
/// ends; `strm` is not moved while initialised.
unsafe fn deflate_init(strm: &mut z_stream) -> c_int {
    // SAFETY: by the caller's promise; the version and size are zlib's own.
    unsafe { deflateInit_(strm, 6, zlibVersion(), stream_size()) }
}

/// Compresses then decompresses `input` with the allocator; returns the
/// compressed and the decompressed bytes.
///
/// # Safety
/// `zalloc`/`zfree` accept `opaque`, which stays valid until this returns.
unsafe fn roundtrip(
    zalloc: alloc_func,
    zfree: free_func,
    opaque: voidpf,
    input: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let mut compressed = vec![0u8; input.len() + input.len() / 100 + 64];
    let mut strm = new_stream(zalloc, zfree, opaque);
    // SAFETY: forwarded from the caller; `strm` stays put until `deflateEnd`.
    assert_eq!(unsafe { deflate_init(&mut strm) }, Z_OK);
    strm.next_in = input.as_ptr().cast_mut();
    strm.avail_in = len(input.len());
    strm.next_out = compressed.as_mut_ptr();
    strm.avail_out = len(compressed.len());
    // SAFETY: the stream is initialised; zlib only reads `next_in` and
    // writes `avail_out` bytes at `next_out`.
    unsafe {
        assert_eq!(deflate(&mut strm, Z_FINISH), Z_STREAM_END);
        assert_eq!(deflateEnd(&mut strm), Z_OK);
    }
    compressed.truncate(usize::try_from(strm.total_out).unwrap());

    let mut output = vec![0u8; input.len()];
    let mut strm = new_stream(zalloc, zfree, opaque);
    strm.next_in = compressed.as_mut_ptr();
    strm.avail_in = len(compressed.len());
    // SAFETY: as above, for inflate.
    unsafe {
        assert_eq!(inflateInit_(&mut strm, zlibVersion(), stream_size()), Z_OK);
        strm.next_out = output.as_mut_ptr();
        strm.avail_out = len(output.len());
        assert_eq!(inflate(&mut strm, Z_FINISH), Z_STREAM_END);
        assert_eq!(inflateEnd(&mut strm), Z_OK);
    }
    output.truncate(usize::try_from(strm.total_out).unwrap());
    (compressed, output)
}

/// What the allocation-counting closures record.
#[derive(Default)]
struct ZStats {
    /// Addresses handed out and not yet freed.
    live: RefCell<HashSet<usize>>,
    /// Allocations that ran user code.
    allocs: Cell<usize>,
    frees: Cell<usize>,
    bytes: Cell<usize>,
    /// Panic on this allocation (1-based).
    panic_on: Option<usize>,
}

impl ZStats {
    fn alloc(&self, items: uInt, size: uInt) -> voidpf {
        self.allocs.set(self.allocs.get() + 1);
        if self.panic_on == Some(self.allocs.get()) {
            panic!("allocation {} refused", self.allocs.get());
        }
        let (items, size) = (items as usize, size as usize);
        self.bytes.set(self.bytes.get() + items * size);
        // SAFETY: `calloc` has no preconditions.
        let address = unsafe { libc::calloc(items, size) };
        assert!(!address.is_null());
        self.live.borrow_mut().insert(address as usize);
        address
    }

    fn free(&self, address: voidpf) {
        self.frees.set(self.frees.get() + 1);
        assert!(
            self.live.borrow_mut().remove(&(address as usize)),
            "zlib frees only what it allocated"
        );
        // SAFETY: `address` came from `calloc` in `alloc` and was not freed.
        unsafe { libc::free(address) };
    }

    fn assert_balanced(&self) {
        assert!(self.live.borrow().is_empty(), "everything was freed");
        assert_eq!(self.allocs.get(), self.frees.get());
    }
}

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected the callback's panic to be resumed"),
        Err(payload) => payload,
    }
}

// ---------------------------------------------------------------------------
// Fn form: both callbacks receive the same user data, first
// ---------------------------------------------------------------------------

#[callback]
extern "C" fn counting_zalloc(#[user_data] stats: &ZStats, items: uInt, size: uInt) -> voidpf {
    stats.alloc(items, size)
}

#[callback]
extern "C" fn counting_zfree(#[user_data] stats: &ZStats, address: voidpf) {
    stats.free(address);
}

#[test]
fn fn_form_zalloc_zfree_share_the_opaque() {
    let input = sample();
    let stats = ZStats::default();
    // SAFETY: both callbacks receive `&ZStats`; `stats` outlives the call.
    let (compressed, output) = resume_panics(|| unsafe {
        roundtrip(
            counting_zalloc,
            counting_zfree,
            user_data_ref(&stats),
            &input,
        )
    });
    assert!(compressed.len() < input.len() / 2, "{}", compressed.len());
    assert!(output == input, "the data round-trips");
    assert!(
        stats.allocs.get() >= 6,
        "deflate and inflate state, window, buffers"
    );
    assert!(stats.bytes.get() > 64 * 1024, "a 32 KiB window at least");
    stats.assert_balanced();
}

// ---------------------------------------------------------------------------
// Callback types: each holder found through `user_data = EXPR`
// ---------------------------------------------------------------------------

/// What `z_stream.opaque` points at: the user data of both holders.
struct Opaque {
    alloc: *mut c_void,
    free: *mut c_void,
}

/// zlib's `alloc_func`. Its holder is fetched from the `Opaque`; after a
/// panic it returns `Z_NULL` (the default fallback for a pointer), which
/// zlib reports as `Z_MEM_ERROR`.
#[callback(
    // SAFETY: zlib passes back the `opaque` of the stream: a live `Opaque`.
    user_data = unsafe { (*opaque.cast::<Opaque>()).alloc },
)]
type Alloc = unsafe extern "C" fn(opaque: voidpf, items: uInt, size: uInt) -> voidpf;

/// zlib's `free_func`.
#[callback(
    // SAFETY: as for `Alloc`.
    user_data = unsafe { (*opaque.cast::<Opaque>()).free },
)]
type Free = unsafe extern "C" fn(opaque: voidpf, address: voidpf);

#[test]
fn callback_types_count_allocations_through_the_opaque() {
    let input = sample();
    let stats = ZStats::default();
    let alloc = Alloc::new(|_opaque, items, size| stats.alloc(items, size));
    let free = Free::new(|_opaque, address| stats.free(address));
    let opaque = Opaque {
        alloc: alloc.user_data(),
        free: free.user_data(),
    };
    let opaque_ptr: voidpf = ptr::from_ref(&opaque).cast_mut().cast();
    // SAFETY: `opaque` and both holders are alive and unmoved until the
    // call returns; the trampolines fetch their holders from it.
    let (compressed, output) = resume_panics(|| unsafe {
        roundtrip(alloc.function(), free.function(), opaque_ptr, &input)
    });
    assert!(compressed.len() < input.len() / 2);
    assert!(output == input, "the data round-trips");
    assert!(stats.allocs.get() >= 6);
    stats.assert_balanced();
}

#[test]
fn zalloc_panic_returns_z_null_and_is_resumed() {
    let stats = ZStats {
        panic_on: Some(2),
        ..ZStats::default()
    };
    let alloc = Alloc::new(|_opaque, items, size| stats.alloc(items, size));
    let free = Free::new(|_opaque, address| stats.free(address));
    let opaque = Opaque {
        alloc: alloc.user_data(),
        free: free.user_data(),
    };
    let opaque_ptr: voidpf = ptr::from_ref(&opaque).cast_mut().cast();
    let mut strm = new_stream(alloc.function(), free.function(), opaque_ptr);
    let mut rc = None;
    let payload = payload_of(|| {
        // SAFETY: `opaque` and both holders outlive the stream, which fails
        // to initialise (and frees what it got) inside this call.
        resume_panics(|| rc = Some(unsafe { deflate_init(&mut strm) }))
    });
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("allocation 2 refused"),
        "the original payload"
    );
    assert_eq!(rc, Some(Z_MEM_ERROR), "Z_NULL made deflateInit fail");
    assert_eq!(
        stats.allocs.get(),
        2,
        "the poisoned holder ran no user code for zlib's later allocations"
    );
    assert_eq!(stats.frees.get(), 1, "zlib freed the one block it got");
    assert!(stats.live.borrow().is_empty());
}
