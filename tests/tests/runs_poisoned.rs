//! `#[callback(runs_poisoned)]`: a set's `&self` entry that runs while a
//! kept panic or `Err` poisons the state, for what must be given back
//! whatever failed (an allocator's `free` after a panic in its `malloc`,
//! which PCRE2 and zlib make inside the very call whose guard keeps the
//! panic). The other entries are still refused until the guard returns; a
//! running `&mut self` call still keeps it out. Against an allocator
//! library simulated in Rust, so the file runs under Miri.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::Mutex;

use ffi_callback::{callback, resume_panics};
use ffi_callback_tests::panics::{message, panic_payload};

/// `struct allocator { void *(*malloc)(size_t, void *); void (*free)(void *, void *); void *data; }`
#[callback]
trait Allocator {
    unsafe extern "C" fn malloc(&self, size: usize, #[user_data] data: *mut c_void) -> *mut c_void;
    #[callback(runs_poisoned)]
    unsafe extern "C" fn free(&self, block: *mut c_void, #[user_data] data: *mut c_void);
    /// Empties the allocator's free lists: takes `&mut self`.
    unsafe extern "C" fn trim(&mut self, #[user_data] data: *mut c_void) -> usize;
}

/// Counts live blocks; `malloc` panics for sizes over `limit`.
#[derive(Default)]
struct Counting {
    live: RefCell<HashMap<usize, Vec<u8>>>,
    limit: Cell<usize>,
    frees: Cell<u32>,
    /// What `trim` makes C do from inside it, with the user data C holds.
    during_trim: Cell<Option<fn(*mut c_void)>>,
}

impl Counting {
    fn new(limit: usize) -> Counting {
        let counting = Counting::default();
        counting.limit.set(limit);
        counting
    }

    fn live(&self) -> usize {
        self.live.borrow().len()
    }
}

impl Allocator for Counting {
    fn malloc(&self, size: usize) -> *mut c_void {
        if size > self.limit.get() {
            panic!("{size} bytes is over the limit");
        }
        if LOOK_IN_MALLOC.get() {
            NESTED_LOOK.set(Some(look()));
        }
        let mut block = vec![0u8; size.max(1)];
        let ptr = block.as_mut_ptr().cast::<c_void>();
        self.live.borrow_mut().insert(ptr as usize, block);
        ptr
    }

    fn free(&self, block: *mut c_void) {
        self.frees.set(self.frees.get() + 1);
        if block.is_null() {
            return;
        }
        if PANIC_ON_FREE.get() == block as usize {
            panic!("free panicked");
        }
        let freed = self.live.borrow_mut().remove(&(block as usize));
        assert!(freed.is_some(), "a block this allocator gave");
    }

    fn trim(&mut self) -> usize {
        if let Some(during) = self.during_trim.get() {
            during(USER_DATA.get());
        }
        0
    }
}

/// The C library: `compile` allocates a work block, then the result (which
/// may fail), and frees the work block before it returns, whatever
/// happened, as `pcre2_compile` does; NULL for a failed allocation.
///
/// # Safety
/// `data` is the allocator's user data, alive for the call.
unsafe fn c_compile(data: *mut c_void, work: usize, result: usize) -> *mut c_void {
    // SAFETY: by the caller's promise.
    unsafe {
        let work_block = Counting::MALLOC(work, data);
        if work_block.is_null() {
            return ptr::null_mut();
        }
        let result_block = Counting::MALLOC(result, data);
        Counting::FREE(work_block, data);
        result_block
    }
}

#[test]
fn free_runs_in_the_call_whose_malloc_panicked() {
    let counting = Counting::new(100);
    let mut compiled = ptr::null_mut();
    let ((), counting) = counting.scope(|data| {
        let caught = panic_payload(|| {
            resume_panics(|| {
                // SAFETY: `data` is the lent allocator.
                compiled = unsafe { c_compile(data, 10, 1000) };
                // Still in the guard that keeps the panic: malloc is
                // refused (null), free runs.
                // SAFETY: as above.
                let refused = unsafe { Counting::MALLOC(4, data) };
                assert!(refused.is_null(), "malloc is refused while poisoned");
            })
        });
        assert_eq!(message(&*caught), "1000 bytes is over the limit");
        assert!(compiled.is_null(), "C got the fallback for the result");
        // After the guard, every entry runs again.
        // SAFETY: as above.
        let block = unsafe { c_compile(data, 10, 20) };
        assert!(!block.is_null());
        // SAFETY: as above; `block` is this allocator's.
        unsafe { Counting::FREE(block, data) };
    });
    assert_eq!(
        counting.live(),
        0,
        "the work block was freed in the failing call"
    );
    assert_eq!(counting.frees.get(), 3);
}

#[test]
fn without_runs_poisoned_the_free_in_the_failing_call_is_refused() {
    /// The same allocator with a plain `free`.
    #[callback]
    trait PlainAllocator {
        unsafe extern "C" fn malloc(
            &self,
            size: usize,
            #[user_data] data: *mut c_void,
        ) -> *mut c_void;
        unsafe extern "C" fn free(&self, block: *mut c_void, #[user_data] data: *mut c_void);
    }
    struct Plain(Counting);
    impl PlainAllocator for Plain {
        fn malloc(&self, size: usize) -> *mut c_void {
            Allocator::malloc(&self.0, size)
        }
        fn free(&self, block: *mut c_void) {
            Allocator::free(&self.0, block)
        }
    }
    let ((), Plain(counting)) = Plain(Counting::new(100)).scope(|data| {
        let caught = panic_payload(|| {
            resume_panics(|| {
                // SAFETY: `data` is the lent allocator, alive for the call.
                unsafe {
                    let work = <Plain as PlainAllocatorExt>::MALLOC(10, data);
                    let result = <Plain as PlainAllocatorExt>::MALLOC(1000, data);
                    assert!(result.is_null());
                    <Plain as PlainAllocatorExt>::FREE(work, data);
                }
            })
        });
        assert_eq!(message(&*caught), "1000 bytes is over the limit");
    });
    assert_eq!(
        counting.live(),
        1,
        "the free was refused: the block is still live"
    );
}

#[test]
fn a_running_mut_self_call_still_keeps_it_out() {
    let counting = Counting::new(100);
    counting.during_trim.set(Some(|data| {
        // SAFETY: `data` is the allocator's user data, alive: C frees a
        // block from inside `trim` (re-entry into a `&mut self` call).
        unsafe { Counting::FREE(ptr::null_mut(), data) };
    }));
    let counting = counting.boxed();
    let data = counting.user_data();
    USER_DATA.set(data);
    let caught = panic_payload(|| {
        // SAFETY: `data` is the boxed allocator, alive.
        resume_panics(|| unsafe { Counting::TRIM(data) })
    });
    assert!(
        message(&*caught).contains("another call of the same state was running"),
        "{}",
        message(&*caught)
    );
    let Ok(counting) = counting.into_inner() else {
        panic!("no call runs")
    };
    assert_eq!(counting.frees.get(), 0, "free did not run");
}

#[test]
fn a_panic_in_the_poisoned_free_is_kept_too_and_the_first_panic_wins() {
    let counting = Counting::new(100);
    let ((), counting) = counting.scope(|data| {
        let caught = panic_payload(|| {
            resume_panics(|| {
                // SAFETY: `data` is the lent allocator, alive for the call.
                unsafe {
                    let work = Counting::MALLOC(10, data);
                    let _ = Counting::MALLOC(1000, data);
                    // The free of `work` panics while poisoned: kept too.
                    PANIC_ON_FREE.set(work as usize);
                    Counting::FREE(work, data);
                }
            })
        });
        assert_eq!(message(&*caught), "1000 bytes is over the limit");
    });
    // The panicking free ran (counted) but did not remove the block.
    assert_eq!(counting.frees.get(), 1);
    assert_eq!(counting.live(), 1);
}

thread_local! {
    /// `free` panics for this block (to check a panic while poisoned).
    static PANIC_ON_FREE: Cell<usize> = const { Cell::new(0) };
    /// The user data C holds, for what `trim` makes C do.
    static USER_DATA: Cell<*mut c_void> = const { Cell::new(ptr::null_mut()) };
}

/// The same allocator shared by threads (`send`: the atomic state word),
/// its panics resumed by the calling thread's guard.
#[callback(send, on_panic = resume)]
trait SharedAllocator {
    unsafe extern "C" fn malloc(&self, size: usize, #[user_data] data: *mut c_void) -> *mut c_void;
    #[callback(runs_poisoned)]
    unsafe extern "C" fn free(&self, block: *mut c_void, #[user_data] data: *mut c_void);
}

/// Counts live blocks behind a lock.
struct Locked {
    live: Mutex<Vec<Box<[u8]>>>,
}

impl SharedAllocator for Locked {
    fn malloc(&self, size: usize) -> *mut c_void {
        assert!(size <= 100, "{size} bytes is over the limit");
        let mut block = vec![0u8; size.max(1)].into_boxed_slice();
        let ptr = block.as_mut_ptr().cast::<c_void>();
        self.live.lock().unwrap().push(block);
        ptr
    }

    fn free(&self, block: *mut c_void) {
        let mut live = self.live.lock().unwrap();
        let at = live
            .iter()
            .position(|b| std::ptr::eq(b.as_ptr().cast::<c_void>(), block));
        live.swap_remove(at.expect("a block this allocator gave"));
    }
}

#[test]
fn a_send_set_s_free_runs_on_a_poisoned_state_too() {
    let locked = Locked {
        live: Mutex::new(Vec::new()),
    };
    let ((), locked) = locked.scope(|data| {
        let caught = panic_payload(|| {
            resume_panics(|| {
                // SAFETY: `data` is the lent allocator, alive for the call.
                unsafe {
                    let work = Locked::MALLOC(10, data);
                    assert!(Locked::MALLOC(1000, data).is_null());
                    Locked::FREE(work, data);
                }
            })
        });
        assert_eq!(message(&*caught), "1000 bytes is over the limit");
    });
    assert!(locked.live.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// `BoxedSet::with`: a shared look at a kept state (an allocator every C
// object holds, kept behind an `Rc`)
// ---------------------------------------------------------------------------

thread_local! {
    /// `malloc` looks at the kept allocator through `with`.
    static LOOK_IN_MALLOC: Cell<bool> = const { Cell::new(false) };
    /// What `with` gave, tried from inside an entry.
    static NESTED_LOOK: Cell<Option<Option<usize>>> = const { Cell::new(None) };
    /// The kept allocator, for entries to look at through `with`.
    static KEPT: RefCell<Option<std::rc::Rc<ffi_callback::BoxedSet<Counting>>>> =
        const { RefCell::new(None) };
}

/// Looks at the kept allocator through `with`, as code an entry reaches
/// would.
fn look() -> Option<usize> {
    KEPT.with(|kept| {
        kept.borrow()
            .as_ref()
            .and_then(|kept| kept.with(Counting::live))
    })
}

#[test]
fn with_looks_beside_shared_calls_but_not_during_an_exclusive_one() {
    let kept = std::rc::Rc::new(Counting::new(100).boxed());
    KEPT.with(|k| *k.borrow_mut() = Some(kept.clone()));
    let data = kept.user_data();
    USER_DATA.set(data);
    // SAFETY: `data` is the kept allocator, alive while `kept` is.
    let block = unsafe { Counting::MALLOC(8, data) };
    assert_eq!(
        kept.with(Counting::live),
        Some(1),
        "through `&self`, behind an `Rc`"
    );

    // From inside a `&self` entry: shared, so it runs.
    LOOK_IN_MALLOC.set(true);
    // SAFETY: as above.
    let second = unsafe { Counting::MALLOC(8, data) };
    LOOK_IN_MALLOC.set(false);
    assert_eq!(NESTED_LOOK.take(), Some(Some(1)), "beside `malloc`");
    // SAFETY: as above; `second` is this allocator's.
    unsafe { Counting::FREE(second, data) };

    // From inside a `&mut self` entry: the state is borrowed mutably.
    kept.with(|c| c.during_trim.set(Some(|_| NESTED_LOOK.set(Some(look())))));
    // SAFETY: as above.
    unsafe { Counting::TRIM(data) };
    assert_eq!(NESTED_LOOK.take(), Some(None), "refused during `trim`");

    // Poisoned (a kept panic in malloc): `None` until the guard returns.
    let caught = panic_payload(|| {
        resume_panics(|| {
            // SAFETY: as above.
            assert!(unsafe { Counting::MALLOC(1000, data) }.is_null());
            NESTED_LOOK.set(Some(look()));
        })
    });
    assert_eq!(message(&*caught), "1000 bytes is over the limit");
    assert_eq!(NESTED_LOOK.take(), Some(None), "refused while poisoned");
    assert_eq!(look(), Some(1), "healed once the guard returned");

    // SAFETY: as above; `block` is this allocator's.
    unsafe { Counting::FREE(block, data) };
    KEPT.with(|k| k.borrow_mut().take());
    let Ok(kept) = std::rc::Rc::try_unwrap(kept) else {
        panic!("the last `Rc`")
    };
    assert_eq!(kept.with(Counting::live), Some(0));
}

/// A `local` set's state stays on its thread; its `BoxedSet` is `Sync` (its
/// pointer may go elsewhere, where calls are refused), so `with` on
/// another thread is refused too, not run on the non-atomic state word.
#[callback(local)]
trait LocalCounter {
    unsafe extern "C" fn bump(&self, #[user_data] data: *mut c_void) -> u32;
}

struct Hits(std::sync::atomic::AtomicU32);

impl LocalCounter for Hits {
    fn bump(&self) -> u32 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }
}

#[test]
fn with_on_another_thread_than_a_local_set_s_home_is_refused() {
    let kept = Hits(std::sync::atomic::AtomicU32::new(0)).boxed();
    // SAFETY: the kept state's user data, alive while `kept` is.
    assert_eq!(unsafe { Hits::BUMP(kept.user_data()) }, 1);
    let elsewhere = std::thread::scope(|threads| {
        threads
            .spawn(|| kept.with(|h| h.0.load(std::sync::atomic::Ordering::Relaxed)))
            .join()
            .expect("no panic")
    });
    assert_eq!(elsewhere, None);
    assert_eq!(
        kept.with(|h| h.0.load(std::sync::atomic::Ordering::Relaxed)),
        Some(1)
    );
}
