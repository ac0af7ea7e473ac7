//! `#[callback]` against more of glibc, as a binding author would adopt it:
//! `bsearch` (a slot-less type borrowing elements, and a `#[callback]` fn
//! borrowing them too), `qsort` over an array of C strings and with a fn
//! borrowing its `u32`s, `nftw` with a fn borrowing path, `stat` and `FTW`
//! (and one borrowing the path as `&str`), `tsearch`/`tfind`/`tdelete`/
//! `tdestroy` (the free function takes the Rust-boxed keys back),
//! `scandir` (filter and comparator), `glob`'s `errfunc`,
//! `pthread_key_create`'s destructor at thread exit, and `lfind`/`lsearch`.
//! All called for real (no mocks).

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ffi_callback::{callback, reclaim_box, resume_panics};

/// Counts drops of whatever holds it.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A fresh, empty directory under the system's temp dir for one test.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ffi-callback-glibc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn c_path(path: &std::path::Path) -> CString {
    CString::new(path.to_str().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------
// bsearch: a callback type without user data, borrowing key and element
// ---------------------------------------------------------------------------

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Record {
    id: u32,
    score: i32,
}

/// `bsearch`'s comparator: glibc passes the key first, then an element of
/// the array. The key is a `u32`, the elements `Record`s, so each side is
/// borrowed as what it is.
#[callback]
type FindRecord = unsafe extern "C" fn(
    #[into(&u32)] key: *const c_void,
    #[into(&Record)] element: *const c_void,
) -> c_int;

thread_local! {
    /// A capture-free closure's way to count: bsearch calls back on the
    /// calling thread.
    static FIND_CALLS: Cell<usize> = const { Cell::new(0) };
    static PANIC_ON_ID: Cell<Option<u32>> = const { Cell::new(None) };
}

fn records() -> Vec<Record> {
    // Sorted by id, as bsearch requires.
    (0..100)
        .map(|i| Record {
            id: i * 3 + 1,
            score: 1000 - i as i32,
        })
        .collect()
}

/// `bsearch` for `id` in `records`, through a `FindRecord` closure.
fn find_record(records: &[Record], id: u32) -> Option<Record> {
    let found = FindRecord::scope(
        |key: &u32, element: &Record| {
            FIND_CALLS.with(|c| c.set(c.get() + 1));
            key.cmp(&element.id) as c_int
        },
        // SAFETY: `id` and `records` outlive the call; the comparator
        // borrows the key as a `u32` and each element as a `Record`, which
        // is what bsearch passes.
        |compare| unsafe {
            libc::bsearch(
                ptr::from_ref(&id).cast(),
                records.as_ptr().cast(),
                records.len(),
                size_of::<Record>(),
                Some(compare),
            )
        },
    );
    // SAFETY: bsearch returns null or a pointer to an element of `records`.
    unsafe { found.cast::<Record>().as_ref() }.copied()
}

#[test]
fn bsearch_finds_with_a_slot_less_type_borrowing_key_and_element() {
    let records = records();
    FIND_CALLS.with(|c| c.set(0));
    for (i, record) in records.iter().enumerate() {
        assert_eq!(find_record(&records, record.id), Some(*record), "#{i}");
    }
    let calls = FIND_CALLS.with(Cell::get);
    // A binary search of 100 elements takes at most 7 comparisons.
    assert!(
        (100..=700).contains(&calls),
        "{calls} comparisons for 100 searches"
    );

    FIND_CALLS.with(|c| c.set(0));
    assert_eq!(find_record(&records, 0), None);
    assert_eq!(find_record(&records, 2), None, "between 1 and 4");
    assert_eq!(find_record(&records, 1000), None);
    assert!(FIND_CALLS.with(Cell::get) <= 21);
}

#[test]
fn bsearch_panic_is_resumed_and_its_fallback_zero_meant_found() {
    let records = records();
    let target = records[10].id;
    // The first comparison of glibc's bsearch is with the middle element.
    let middle = records[records.len() / 2];
    PANIC_ON_ID.with(|p| p.set(Some(middle.id)));
    FIND_CALLS.with(|c| c.set(0));
    let returned = Cell::new(None);
    let payload = catch_unwind(AssertUnwindSafe(|| {
        FindRecord::scope(
            |key: &u32, element: &Record| {
                FIND_CALLS.with(|c| c.set(c.get() + 1));
                if PANIC_ON_ID.with(Cell::get) == Some(element.id) {
                    panic!("compared with {}", element.id);
                }
                key.cmp(&element.id) as c_int
            },
            // SAFETY: as in `find_record`.
            |compare| unsafe {
                let found = libc::bsearch(
                    ptr::from_ref(&target).cast(),
                    records.as_ptr().cast(),
                    records.len(),
                    size_of::<Record>(),
                    Some(compare),
                );
                returned.set(Some(found.cast::<Record>().as_ref().copied()));
            },
        )
    }))
    .expect_err("the comparator's panic is resumed by scope");
    PANIC_ON_ID.with(|p| p.set(None));
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some(format!("compared with {}", middle.id).as_str())
    );
    assert_eq!(FIND_CALLS.with(Cell::get), 1, "one call ran user code");
    // The fallback 0 reached glibc as "equal": bsearch stopped at the
    // middle element and returned it, the wrong record (the panic is what
    // tells the caller not to trust it).
    assert_eq!(returned.get(), Some(Some(middle)));
}

// ---------------------------------------------------------------------------
// bsearch with a `#[callback]` fn (no state: the fn form), and lfind/lsearch
// ---------------------------------------------------------------------------

/// A fn needs no holder; it borrows the two `u64`s C points at (every
/// caller below passes a key and an element of a `u64` array), so its body
/// needs no `unsafe`.
#[callback]
extern "C" fn compare_u64(#[into(&u64)] a: *const c_void, #[into(&u64)] b: *const c_void) -> c_int {
    a.cmp(b) as c_int
}

#[test]
fn bsearch_with_a_callback_fn() {
    let primes: Vec<u64> = vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    let search = |key: u64| {
        // SAFETY: `key` and `primes` outlive the call; `compare_u64`
        // compares two `u64`s.
        let found = resume_panics(|| unsafe {
            libc::bsearch(
                ptr::from_ref(&key).cast(),
                primes.as_ptr().cast(),
                primes.len(),
                size_of::<u64>(),
                Some(compare_u64),
            )
        });
        // SAFETY: null or a pointer into `primes`.
        (!found.is_null()).then(|| unsafe { found.cast::<u64>().offset_from(primes.as_ptr()) })
    };
    assert_eq!(search(2), Some(0));
    assert_eq!(search(19), Some(7));
    assert_eq!(search(37), Some(11));
    assert_eq!(search(20), None);
    assert_eq!(search(1), None);
}

unsafe extern "C" {
    fn lfind(
        key: *const c_void,
        base: *const c_void,
        nmemb: *mut usize,
        size: usize,
        compar: Option<unsafe extern "C" fn(*const c_void, *const c_void) -> c_int>,
    ) -> *mut c_void;
    fn lsearch(
        key: *const c_void,
        base: *mut c_void,
        nmemb: *mut usize,
        size: usize,
        compar: Option<unsafe extern "C" fn(*const c_void, *const c_void) -> c_int>,
    ) -> *mut c_void;
}

#[test]
fn lsearch_appends_what_lfind_does_not_find() {
    let mut table = [0_u64; 8];
    let mut len = 0_usize;
    for key in [40_u64, 10, 40, 30, 10, 20] {
        // SAFETY: `table` has room for 8 `u64`s and `len` <= 4 distinct
        // keys are ever stored; `compare_u64` compares two `u64`s.
        let slot = unsafe {
            lsearch(
                ptr::from_ref(&key).cast(),
                table.as_mut_ptr().cast(),
                &mut len,
                size_of::<u64>(),
                Some(compare_u64),
            )
        };
        // SAFETY: lsearch returns a pointer into `table`.
        assert_eq!(unsafe { *slot.cast::<u64>() }, key);
    }
    assert_eq!(len, 4, "duplicates were found, not appended");
    assert_eq!(&table[..len], [40, 10, 30, 20], "in first-seen order");

    let position = |key: u64| {
        let mut n = len;
        // SAFETY: as above, `n` elements of `table` are initialised.
        let found = unsafe {
            lfind(
                ptr::from_ref(&key).cast(),
                table.as_ptr().cast(),
                &mut n,
                size_of::<u64>(),
                Some(compare_u64),
            )
        };
        // SAFETY: null or a pointer into `table`.
        (!found.is_null()).then(|| unsafe { found.cast::<u64>().offset_from(table.as_ptr()) })
    };
    assert_eq!(position(30), Some(2));
    assert_eq!(position(20), Some(3));
    assert_eq!(position(50), None);
}

// ---------------------------------------------------------------------------
// plain qsort and nftw with `#[callback]` fns borrowing their parameters
// ---------------------------------------------------------------------------

/// Plain `qsort`'s comparator as a fn: the elements borrowed as `&u32`.
#[callback]
extern "C" fn compare_u32(#[into(&u32)] a: *const c_void, #[into(&u32)] b: *const c_void) -> c_int {
    assert!(*a != 13 && *b != 13, "expected: unlucky");
    a.cmp(b) as c_int
}

#[test]
fn qsort_with_a_fn_borrowing_its_elements() {
    let mut values: Vec<u32> = vec![42, 7, 19, 7, 3, 100, 0, 56];
    // SAFETY: `values` holds `len` `u32`s, which `compare_u32` borrows.
    resume_panics(|| unsafe {
        libc::qsort(
            values.as_mut_ptr().cast(),
            values.len(),
            size_of::<u32>(),
            Some(compare_u32),
        )
    });
    assert_eq!(values, [0, 3, 7, 7, 19, 42, 56, 100]);

    // A panic in the body is carried past qsort (which the fallback 0,
    // "equal", lets finish) and resumed after it.
    let mut unlucky: Vec<u32> = vec![5, 13, 1];
    let payload = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as above.
        resume_panics(|| unsafe {
            libc::qsort(
                unlucky.as_mut_ptr().cast(),
                unlucky.len(),
                size_of::<u32>(),
                Some(compare_u32),
            )
        })
    }))
    .expect_err("the comparator's panic is resumed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"expected: unlucky"));
    unlucky.sort_unstable();
    assert_eq!(unlucky, [1, 5, 13], "qsort only permuted the elements");
}

/// `<ftw.h>`'s `struct FTW`, which the libc crate does not declare.
#[repr(C)]
struct Ftw {
    base: c_int,
    level: c_int,
}

type NftwVisit = unsafe extern "C" fn(*const c_char, *const libc::stat, c_int, *mut Ftw) -> c_int;

unsafe extern "C" {
    fn nftw(
        dirpath: *const c_char,
        visit: Option<NftwVisit>,
        nopenfd: c_int,
        flags: c_int,
    ) -> c_int;
}

const FTW_F: c_int = 0;
const FTW_D: c_int = 1;

thread_local! {
    static VISITED: RefCell<Vec<(String, c_int, i64, c_int)>> = const { RefCell::new(Vec::new()) };
}

/// nftw has no user data: the fn keeps its findings in a thread local (nftw
/// calls back on the calling thread). The path, the `stat` and the `FTW`
/// are borrowed; a name starting with `stop` stops the walk.
#[callback]
extern "C" fn visit_entry(
    #[into(&CStr)] path: *const c_char,
    #[into(&libc::stat)] stat: *const libc::stat,
    flag: c_int,
    #[into(&Ftw)] ftw: *mut Ftw,
) -> c_int {
    let name = String::from_utf8_lossy(&path.to_bytes()[ftw.base as usize..]).into_owned();
    let stop = name.starts_with("stop");
    VISITED.with(|v| v.borrow_mut().push((name, flag, stat.st_size, ftw.level)));
    c_int::from(stop)
}

#[test]
fn nftw_with_a_fn_borrowing_path_stat_and_ftw() {
    let dir = temp_dir("nftw_into");
    std::fs::write(dir.join("four"), "1234").unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub").join("seven"), "1234567").unwrap();
    let dir_c = c_path(&dir);
    VISITED.with(|v| v.borrow_mut().clear());
    // SAFETY: a NUL-terminated path; nftw passes valid paths, `stat`s and
    // `FTW`s for each call, which `visit_entry` borrows for the call.
    let rc = resume_panics(|| unsafe { nftw(dir_c.as_ptr(), Some(visit_entry), 4, 0) });
    assert_eq!(rc, 0);
    let mut visited = VISITED.with(|v| v.take());
    visited.sort();
    let root = dir.file_name().unwrap().to_string_lossy().into_owned();
    let files: Vec<_> = visited.iter().filter(|v| v.1 == FTW_F).cloned().collect();
    assert_eq!(
        files,
        [
            ("four".to_owned(), FTW_F, 4, 1),
            ("seven".to_owned(), FTW_F, 7, 2)
        ]
    );
    let dirs: Vec<_> = visited
        .iter()
        .filter(|v| v.1 == FTW_D)
        .map(|v| (v.0.clone(), v.3))
        .collect();
    assert_eq!(dirs, [(root, 0), ("sub".to_owned(), 1)]);

    // A non-zero return stops the walk and is nftw's result.
    std::fs::write(dir.join("stop-here"), "").unwrap();
    // SAFETY: as above.
    let rc = resume_panics(|| unsafe { nftw(dir_c.as_ptr(), Some(visit_entry), 4, 0) });
    assert_eq!(rc, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

thread_local! {
    static VISITED_STR: RefCell<Vec<(String, c_int)>> = const { RefCell::new(Vec::new()) };
}

/// The same walk with the path borrowed as `&str`: a path that is not
/// UTF-8 (Linux file names are any bytes) is refused before the body runs,
/// reported, and nftw gets the fallback, 0, so the walk goes on.
#[callback(on_panic = fallback, fallback = 0)]
extern "C" fn visit_utf8_entry(
    #[into(&str)] path: *const c_char,
    _stat: *const libc::stat,
    flag: c_int,
    #[into(&Ftw)] ftw: *mut Ftw,
) -> c_int {
    let name = path[ftw.base as usize..].to_owned();
    VISITED_STR.with(|v| v.borrow_mut().push((name, flag)));
    0
}

#[test]
fn nftw_with_a_fn_borrowing_the_path_as_str_refuses_one_that_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;

    let dir = temp_dir("nftw_str");
    std::fs::write(dir.join("caf\u{e9}"), "").unwrap();
    std::fs::write(dir.join(std::ffi::OsStr::from_bytes(b"bad\xff")), "").unwrap();
    let dir_c = c_path(&dir);
    VISITED_STR.with(|v| v.borrow_mut().clear());
    // SAFETY: a NUL-terminated path; nftw passes valid paths, `stat`s and
    // `FTW`s for each call.
    let (rc, raised) = ffi_callback_tests::panics::panics_during(|| unsafe {
        nftw(dir_c.as_ptr(), Some(visit_utf8_entry), 4, 0)
    });
    assert_eq!(rc, 0, "the refused call's fallback, 0, goes on");
    let mut visited = VISITED_STR.with(|v| v.take());
    visited.sort();
    let root = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        visited,
        [("caf\u{e9}".to_owned(), FTW_F), (root, FTW_D)],
        "every entry but the one whose path is not UTF-8"
    );
    // The bytes of "<dir>/bad" are UTF-8, the 0xff after them is not.
    let valid = dir_c.as_bytes().len() + "/bad".len();
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(
        raised[0].contains(&format!(
            "visit_utf8_entry` refused the call: its parameter `path` is not UTF-8 (valid up to \
             byte {valid}), where it is borrowed as `&str`"
        )),
        "{raised:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// qsort over `char *` elements
// ---------------------------------------------------------------------------

/// `qsort` of a `const char *[]`: each argument points at an element, a
/// `char *`, borrowed as `&*const c_char` (a raw pointer needs no `Sync`
/// for a slot-less type: reading through it takes the closure's own
/// `unsafe`).
#[callback]
type CompareStrings = unsafe extern "C" fn(
    #[into(&*const c_char)] a: *const c_void,
    #[into(&*const c_char)] b: *const c_void,
) -> c_int;

#[test]
fn qsort_sorts_an_array_of_c_strings() {
    let owned: Vec<CString> = ["pear", "Apple", "fig", "banana", "cherry", "", "date"]
        .iter()
        .map(|s| CString::new(*s).unwrap())
        .collect();
    let mut pointers: Vec<*const c_char> = owned.iter().map(|s| s.as_ptr()).collect();
    // By length, then bytewise (`strcmp` order: uppercase first).
    CompareStrings::scope(
        |a: &*const c_char, b: &*const c_char| {
            // SAFETY: qsort passes pointers to two elements of `pointers`,
            // each a C string of `owned`, alive for the sort.
            let (a, b) = unsafe { (CStr::from_ptr(*a), CStr::from_ptr(*b)) };
            (a.count_bytes(), a).cmp(&(b.count_bytes(), b))
        },
        // SAFETY: `pointers` is a valid array of `*const c_char`, each a
        // NUL-terminated string that outlives the call.
        |compare| unsafe {
            libc::qsort(
                pointers.as_mut_ptr().cast(),
                pointers.len(),
                size_of::<*const c_char>(),
                Some(compare),
            )
        },
    );
    let sorted: Vec<&str> = pointers
        .iter()
        // SAFETY: each is one of `owned`'s strings, a permutation.
        .map(|&p| unsafe { CStr::from_ptr(p) }.to_str().unwrap())
        .collect();
    assert_eq!(
        sorted,
        ["", "fig", "date", "pear", "Apple", "banana", "cherry"]
    );
}

// ---------------------------------------------------------------------------
// tsearch / tfind / tdelete / tdestroy over Rust-boxed keys
// ---------------------------------------------------------------------------

/// A tree key, owned by the tree from `tsearch` until `tdestroy`.
struct Entry {
    id: u32,
    name: String,
    _drops: DropCounter,
}

/// The tree's comparator: both sides borrowed as the `Entry` they are.
#[callback]
type CompareEntries = unsafe extern "C" fn(
    #[into(&Entry)] a: *const c_void,
    #[into(&Entry)] b: *const c_void,
) -> c_int;

thread_local! {
    /// The ids `free_entry` freed, in order.
    static FREED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// `tdestroy`'s free function: each key is a `Box<Entry>` handed to
/// `tsearch` as `free_entry::user_data(..)`, so the fn form's `Box<T>` user
/// data takes it back (a null key is refused, not dropped).
#[callback]
extern "C" fn free_entry(#[user_data] entry: Box<Entry>) {
    FREED.with(|f| f.borrow_mut().push(entry.id));
}

unsafe extern "C" {
    fn tsearch(
        key: *const c_void,
        rootp: *mut *mut c_void,
        compar: Option<CompareEntriesFn>,
    ) -> *mut c_void;
    fn tfind(
        key: *const c_void,
        rootp: *const *mut c_void,
        compar: Option<CompareEntriesFn>,
    ) -> *mut c_void;
    fn tdelete(
        key: *const c_void,
        rootp: *mut *mut c_void,
        compar: Option<CompareEntriesFn>,
    ) -> *mut c_void;
    fn tdestroy(root: *mut c_void, free_node: Option<unsafe extern "C" fn(*mut c_void)>);
}

/// The key a `tsearch`/`tfind` node holds (`<search.h>`: a node's first
/// field is its key pointer).
///
/// # Safety
/// `node` is a non-null node of a live tree.
unsafe fn key_of(node: *mut c_void) -> *mut c_void {
    // SAFETY: by the caller's promise.
    unsafe { *node.cast::<*mut c_void>() }
}

#[test]
fn tsearch_tree_of_boxed_keys_freed_once_by_tdestroy() {
    let drops = Arc::new(AtomicUsize::new(0));
    let probe_drops = Arc::new(AtomicUsize::new(0));
    let entry = |id: u32, name: &str, drops: &Arc<AtomicUsize>| Entry {
        id,
        name: name.to_owned(),
        _drops: DropCounter(drops.clone()),
    };
    let compare = CompareEntries::new(|a: &Entry, b: &Entry| a.id.cmp(&b.id) as c_int);
    let compare = Some(compare.function());
    let mut root: *mut c_void = ptr::null_mut();

    let names = ["five", "three", "eight", "one", "four", "seven", "nine"];
    for (id, name) in [5, 3, 8, 1, 4, 7, 9].into_iter().zip(names) {
        let key: *mut c_void = free_entry::user_data(Box::new(entry(id, name, &drops)));
        // SAFETY: `key` is a live `Entry` the tree owns from here;
        // `compare` borrows two `Entry`s, which is all this tree holds.
        let node = resume_panics(|| unsafe { tsearch(key, &mut root, compare) });
        assert!(!node.is_null());
        // SAFETY: a node of `root`.
        assert_eq!(unsafe { key_of(node) }, key, "{name} was inserted");
    }

    // A duplicate id finds the node already there: the new key is ours.
    let duplicate: *mut c_void = free_entry::user_data(Box::new(entry(4, "FOUR", &drops)));
    // SAFETY: as above.
    let node = resume_panics(|| unsafe { tsearch(duplicate, &mut root, compare) });
    // SAFETY: a node of `root`, whose key is a live `Entry`.
    let existing = unsafe { &*key_of(node).cast::<Entry>() };
    assert_eq!((existing.id, existing.name.as_str()), (4, "four"));
    // SAFETY: the tree did not take `duplicate`, and it was never passed
    // to `free_entry`.
    drop(unsafe { reclaim_box::<_, Entry>(duplicate) });
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    let find = |id: u32, root: &*mut c_void| -> Option<*mut c_void> {
        let probe = entry(id, "probe", &probe_drops);
        // SAFETY: `probe` outlives the call; `compare` borrows `Entry`s.
        let node = resume_panics(|| unsafe { tfind(ptr::from_ref(&probe).cast(), root, compare) });
        // SAFETY: a node of `root`.
        (!node.is_null()).then(|| unsafe { key_of(node) })
    };
    // SAFETY: `find` returns live keys of the tree.
    let name_of = |key: *mut c_void| unsafe { &*key.cast::<Entry>() }.name.clone();
    assert_eq!(find(7, &root).map(name_of).as_deref(), Some("seven"));
    assert_eq!(find(1, &root).map(name_of).as_deref(), Some("one"));
    assert_eq!(find(6, &root), None);

    // tdelete unlinks the node; its key is ours to free again.
    let three = find(3, &root).expect("3 is in the tree");
    let probe = entry(3, "probe", &probe_drops);
    // SAFETY: as for `tfind`.
    let parent =
        resume_panics(|| unsafe { tdelete(ptr::from_ref(&probe).cast(), &mut root, compare) });
    assert!(!parent.is_null(), "tdelete found 3");
    assert_eq!(find(3, &root), None);
    // SAFETY: `three` left the tree and is passed to no callback.
    let three = unsafe { reclaim_box::<_, Entry>(three) };
    assert_eq!(three.name, "three");
    drop(three);
    assert_eq!(drops.load(Ordering::SeqCst), 2);

    FREED.with(|f| f.borrow_mut().clear());
    // SAFETY: every key left in `root` is a `Box<Entry>` made by
    // `free_entry::user_data`, and `free_entry` takes each back once.
    resume_panics(|| unsafe { tdestroy(root, Some(free_entry)) });
    let mut freed = FREED.with(|f| f.take());
    freed.sort_unstable();
    assert_eq!(freed, [1, 4, 5, 7, 8, 9], "each remaining key once");
    assert_eq!(drops.load(Ordering::SeqCst), 8, "all 8 entries made");
    assert_eq!(probe_drops.load(Ordering::SeqCst), 5, "and the 5 probes");
}

// ---------------------------------------------------------------------------
// scandir: a filter and a comparator, both without user data
// ---------------------------------------------------------------------------

use ffi_callback_tests::scandir::{ScanCompare, ScanFilter, name_bytes, scandir, take_names};

thread_local! {
    static FILTERED: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

#[test]
fn scandir_filters_and_sorts_a_directory() {
    let dir = temp_dir("scandir");
    for name in ["a", "bbb", "cc", "skip-me", "dddd"] {
        std::fs::write(dir.join(name), name).unwrap();
    }
    std::fs::create_dir(dir.join("ee")).unwrap();
    let dir_c = c_path(&dir);

    FILTERED.with(|f| f.borrow_mut().clear());
    let filter = ScanFilter::new(|entry: &libc::dirent| {
        let name = name_bytes(entry);
        FILTERED.with(|f| f.borrow_mut().push(name.clone()));
        !(name.starts_with(b".") || name.starts_with(b"skip"))
    });
    // Longest name first, then by name.
    let compare = ScanCompare::new(|a: &*const libc::dirent, b: &*const libc::dirent| {
        // SAFETY: scandir passes two elements of its list, each a `dirent`
        // it allocated.
        let (a, b) = unsafe { (name_bytes(&**a), name_bytes(&**b)) };
        b.len().cmp(&a.len()).then_with(|| a.cmp(&b)) as c_int
    });
    let mut list: *mut *mut libc::dirent = ptr::null_mut();
    // SAFETY: a NUL-terminated path and an out pointer; the filter and
    // comparator borrow what scandir passes, for the call.
    let n = unsafe {
        scandir(
            dir_c.as_ptr(),
            &mut list,
            Some(filter.function()),
            Some(compare.function()),
        )
    };
    assert!(
        n >= 0,
        "scandir failed: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: what scandir returned, taken once.
    let names = unsafe { take_names(list, n) };
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(names, ["dddd", "bbb", "cc", "ee", "a"]);
    let mut filtered = FILTERED.with(|f| f.take());
    filtered.sort();
    assert_eq!(
        filtered,
        [
            &b"."[..],
            b"..",
            b"a",
            b"bbb",
            b"cc",
            b"dddd",
            b"ee",
            b"skip-me"
        ],
        "the filter saw every entry once"
    );
}

// ---------------------------------------------------------------------------
// glob: errfunc, without user data
// ---------------------------------------------------------------------------

/// `glob`'s `errfunc`, as the libc crate declares it: a *safe*
/// `extern "C" fn`. Borrowing `epath` as `&CStr` trusts glob's pointer,
/// which a safe fn pointer type cannot say: `unsafe(safe_fn)` promises that
/// only glob calls it.
#[callback(unsafe(safe_fn))]
type GlobError = extern "C" fn(#[into(&CStr)] epath: *const c_char, errno: c_int) -> c_int;

thread_local! {
    static GLOB_ERRORS: RefCell<Vec<(String, c_int)>> = const { RefCell::new(Vec::new()) };
    /// What the errfunc returns: non-zero makes glob stop.
    static GLOB_STOP: Cell<c_int> = const { Cell::new(0) };
}

fn glob_with_errors(pattern: &CStr, flags: c_int, globbed: &mut libc::glob_t) -> c_int {
    let on_error = GlobError::new(|path: &CStr, errno| {
        GLOB_ERRORS.with(|e| {
            e.borrow_mut()
                .push((path.to_str().unwrap().to_owned(), errno))
        });
        GLOB_STOP.with(Cell::get)
    });
    // SAFETY: a NUL-terminated pattern and a `glob_t` (zeroed, or filled by
    // an earlier glob for GLOB_APPEND).
    resume_panics(|| unsafe {
        libc::glob(pattern.as_ptr(), flags, Some(on_error.function()), globbed)
    })
}

fn glob_paths(globbed: &libc::glob_t) -> Vec<String> {
    (0..globbed.gl_pathc)
        .map(|i| {
            // SAFETY: glob filled `gl_pathc` NUL-terminated paths.
            unsafe { CStr::from_ptr(*globbed.gl_pathv.add(i)) }
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn glob_reports_a_directory_it_cannot_open_to_errfunc() {
    const GLOB_ABORTED: c_int = 2;
    const GLOB_NOMATCH: c_int = 3;
    let dir = temp_dir("glob");
    std::fs::create_dir(dir.join("ok")).unwrap();
    std::fs::write(dir.join("ok/one.txt"), b"1").unwrap();
    std::fs::write(dir.join("ok/two.txt"), b"2").unwrap();
    // A symlink to itself: opendir fails with ELOOP, for root too.
    std::os::unix::fs::symlink(dir.join("loop"), dir.join("loop")).unwrap();
    let loop_dir = dir.join("loop").to_str().unwrap().to_owned();

    // SAFETY: an all-zero `glob_t` is its documented initial state.
    let mut globbed: libc::glob_t = unsafe { std::mem::zeroed() };
    GLOB_ERRORS.with(|e| e.borrow_mut().clear());
    GLOB_STOP.with(|s| s.set(0));
    let rc = glob_with_errors(&c_path(&dir.join("ok/*.txt")), 0, &mut globbed);
    assert_eq!(rc, 0);
    assert_eq!(GLOB_ERRORS.with(|e| e.borrow().len()), 0);
    // errfunc returns 0: glob goes on, finds nothing more, keeps the rest.
    let rc = glob_with_errors(
        &c_path(&dir.join("loop/*")),
        libc::GLOB_APPEND,
        &mut globbed,
    );
    assert_eq!(rc, GLOB_NOMATCH);
    let paths = glob_paths(&globbed);
    assert_eq!(paths.len(), 2);
    assert!(paths[0].ends_with("ok/one.txt") && paths[1].ends_with("ok/two.txt"));
    assert_eq!(
        GLOB_ERRORS.with(|e| e.take()),
        [(loop_dir.clone(), libc::ELOOP)]
    );

    // errfunc returns non-zero: glob stops with GLOB_ABORTED.
    GLOB_STOP.with(|s| s.set(1));
    let rc = glob_with_errors(
        &c_path(&dir.join("loop/*")),
        libc::GLOB_APPEND,
        &mut globbed,
    );
    assert_eq!(rc, GLOB_ABORTED);
    assert_eq!(GLOB_ERRORS.with(|e| e.take()), [(loop_dir, libc::ELOOP)]);

    // A directory without read permission, where permissions apply.
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        println!("running as root: an unreadable directory stays readable, not tested");
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(dir.join("locked")).unwrap();
        std::fs::set_permissions(dir.join("locked"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        GLOB_STOP.with(|s| s.set(0));
        let rc = glob_with_errors(
            &c_path(&dir.join("locked/*")),
            libc::GLOB_APPEND,
            &mut globbed,
        );
        std::fs::set_permissions(dir.join("locked"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        assert_eq!(rc, GLOB_NOMATCH);
        let locked = dir.join("locked").to_str().unwrap().to_owned();
        assert_eq!(GLOB_ERRORS.with(|e| e.take()), [(locked, libc::EACCES)]);
    }
    // SAFETY: filled by glob above.
    unsafe { libc::globfree(&mut globbed) };
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// pthread_key_create: a destructor run at other threads' exit
// ---------------------------------------------------------------------------

/// A thread's value for the key.
struct ThreadValue {
    thread: usize,
    sum: u64,
    log: Arc<Mutex<Vec<(usize, u64)>>>,
    _drops: DropCounter,
}

/// The key's destructor: glibc calls it at thread exit with the thread's
/// non-null value, a `Box<ThreadValue>` made by `free_value::user_data`.
/// No guard runs on those threads: a panic would abort, naming the fn.
#[callback(on_panic = abort)]
extern "C" fn free_value(#[user_data] value: Box<ThreadValue>) {
    value.log.lock().unwrap().push((value.thread, value.sum));
}

#[test]
fn pthread_key_destructor_frees_each_threads_value_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `free_value` takes back the `Box<ThreadValue>` that every
    // non-null value of this key is.
    let created = unsafe { libc::pthread_key_create(&mut key, Some(free_value)) };
    assert_eq!(created, 0);

    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let (log, drops) = (log.clone(), drops.clone());
            std::thread::spawn(move || {
                let value = |sum| -> *mut c_void {
                    free_value::user_data(Box::new(ThreadValue {
                        thread,
                        sum,
                        log: log.clone(),
                        _drops: DropCounter(drops.clone()),
                    }))
                };
                let (first, second) = (value(1), value(thread as u64 * 10));
                // SAFETY: `key` is live (deleted after every thread is
                // joined), and each value set is a `Box<ThreadValue>` made
                // by `free_value::user_data`; a value is reclaimed only
                // once it is no longer the thread's value, so neither
                // `free_value` nor anything else takes it again.
                unsafe {
                    assert_eq!(libc::pthread_setspecific(key, first), 0);
                    assert_eq!(libc::pthread_getspecific(key), first);
                    // Replacing a value runs no destructor: the old one is
                    // ours to free.
                    assert_eq!(libc::pthread_setspecific(key, second), 0);
                    drop(reclaim_box::<_, ThreadValue>(first));
                    if thread == 3 {
                        // A null value gets no destructor call.
                        assert_eq!(libc::pthread_setspecific(key, ptr::null()), 0);
                        drop(reclaim_box::<_, ThreadValue>(second));
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut log = std::mem::take(&mut *log.lock().unwrap());
    log.sort_unstable();
    assert_eq!(
        log,
        [(0, 0), (1, 10), (2, 20)],
        "each value freed at its thread's exit"
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        8,
        "8 values, each dropped once"
    );
    // This thread never set a value: deleting the key runs no destructor.
    // SAFETY: `key` is live and no thread uses it any more.
    assert_eq!(unsafe { libc::pthread_key_delete(key) }, 0);
    assert_eq!(drops.load(Ordering::SeqCst), 8);
}
