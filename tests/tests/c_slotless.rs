//! glibc's callbacks without user data (`qsort`, `nftw`, `bsearch`,
//! `scandir`), called for real with capturing closures through
//! `scope_thread_local`: the state that used to live in a hand-written
//! `thread_local!` or `static` is captured. (A call from another thread or
//! after the scope is simulated in `simulated_thread_local_scope.rs`: glibc makes
//! neither.)

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::panic_any;
use std::ptr;

use ffi_callback::callback;

use ffi_callback_tests::panics::panic_payload;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ffi-callback-slotless-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn c_path(path: &std::path::Path) -> CString {
    CString::new(path.to_str().unwrap()).unwrap()
}

// ---------------------------------------------------------------------------
// qsort: sorting by a key known only at run time
// ---------------------------------------------------------------------------

/// `qsort`'s comparator, for `usize` elements (indices into the key).
#[callback]
type IndexCompare = unsafe extern "C" fn(
    #[into(&usize)] a: *const c_void,
    #[into(&usize)] b: *const c_void,
) -> c_int;

fn qsort_indices(items: &mut [usize], compare: IndexCompareFn) {
    // SAFETY: `items` are `usize`s, which the comparator borrows.
    unsafe {
        libc::qsort(
            items.as_mut_ptr().cast(),
            items.len(),
            size_of::<usize>(),
            Some(compare),
        )
    };
}

#[test]
fn qsort_sorts_by_a_captured_key() {
    let names = ["pear", "fig", "apple", "kiwi", "banana"];
    let mut comparisons = 0;
    let mut order: Vec<usize> = (0..names.len()).collect();
    IndexCompare::scope_thread_local(
        |a: &usize, b: &usize| {
            comparisons += 1;
            names[*a]
                .len()
                .cmp(&names[*b].len())
                .then(names[*a].cmp(names[*b]))
        },
        |compare| qsort_indices(&mut order, compare),
    );
    let sorted: Vec<&str> = order.iter().map(|&i| names[i]).collect();
    assert_eq!(sorted, ["fig", "kiwi", "pear", "apple", "banana"]);
    assert!(comparisons >= names.len() - 1);
}

#[test]
fn a_qsort_comparator_that_sorts_again_reaches_its_own_closure() {
    // Each comparison sorts the two keys' letters with another qsort of the
    // same callback type: nested scopes, each with its own closure.
    let words = ["cab", "bca", "abd", "aab"];
    let inner_sorts = Cell::new(0);
    let letters = |word: &str| -> Vec<usize> {
        let mut letters: Vec<usize> = word.bytes().map(usize::from).collect();
        IndexCompare::scope_thread_local(
            |a: &usize, b: &usize| a.cmp(b),
            |compare| qsort_indices(&mut letters, compare),
        );
        inner_sorts.set(inner_sorts.get() + 1);
        letters
    };
    let mut order: Vec<usize> = (0..words.len()).collect();
    IndexCompare::scope_thread_local(
        |a: &usize, b: &usize| {
            letters(words[*a])
                .cmp(&letters(words[*b]))
                .then(words[*a].cmp(words[*b]))
        },
        |compare| qsort_indices(&mut order, compare),
    );
    let sorted: Vec<&str> = order.iter().map(|&i| words[i]).collect();
    // By sorted letters ("aab", "abc", "abc", "abd"), then by the word.
    assert_eq!(sorted, ["aab", "bca", "cab", "abd"]);
    assert!(inner_sorts.get() > 0);
}

// ---------------------------------------------------------------------------
// nftw: paths into a captured Vec; a panic resumed after the walk
// ---------------------------------------------------------------------------

/// `<ftw.h>`'s `struct FTW`.
#[repr(C)]
struct Ftw {
    base: c_int,
    level: c_int,
}

/// `nftw`'s callback; after a panic C gets -1, which stops the walk.
#[callback(fallback = -1)]
type NftwVisit = unsafe extern "C" fn(
    #[into(&CStr)] path: *const c_char,
    #[into(&libc::stat)] stat: *const libc::stat,
    type_flag: c_int,
    #[into(&Ftw)] ftw: *mut Ftw,
) -> c_int;

unsafe extern "C" {
    fn nftw(dir: *const c_char, visit: Option<NftwVisitFn>, fds: c_int, flags: c_int) -> c_int;
}

const FTW_F: c_int = 0;
const FTW_PHYS: c_int = 1;

fn tree(name: &str) -> std::path::PathBuf {
    let root = temp_dir(name);
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("three"), b"abc").unwrap();
    std::fs::write(root.join("sub/five"), b"abcde").unwrap();
    root
}

#[test]
fn nftw_collects_paths_into_a_captured_vec() {
    let root = tree("nftw");
    let root_c = c_path(&root);
    let mut files = Vec::new();
    let mut dirs = 0;
    let result = NftwVisit::scope_thread_local(
        |path: &CStr, stat: &libc::stat, type_flag, ftw: &Ftw| {
            if type_flag == FTW_F {
                let name = path.to_bytes()[ftw.base as usize..].to_vec();
                files.push((String::from_utf8(name).unwrap(), stat.st_size, ftw.level));
            } else {
                dirs += 1;
            }
            0
        },
        // SAFETY: a NUL-terminated path; nftw passes a path, a `stat` and
        // an `FTW` valid for each call, as the type declares.
        |visit| unsafe { nftw(root_c.as_ptr(), Some(visit), 4, FTW_PHYS) },
    );
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(result, 0);
    files.sort();
    assert_eq!(
        files,
        [("five".to_owned(), 5, 2), ("three".to_owned(), 3, 1)]
    );
    assert_eq!(dirs, 2);
}

#[test]
fn a_panic_in_nftw_stops_the_walk_and_is_resumed_after_it() {
    let root = tree("nftw-panic");
    let root_c = c_path(&root);
    let mut visited = Vec::new();
    let mut walk_returned = None;
    let payload = panic_payload(|| {
        NftwVisit::scope_thread_local(
            |path: &CStr, _: &libc::stat, type_flag, _: &Ftw| {
                visited.push(path.to_owned());
                if type_flag == FTW_F {
                    panic_any(String::from("expected: a file"));
                }
                0
            },
            |visit| {
                // SAFETY: as above.
                walk_returned = Some(unsafe { nftw(root_c.as_ptr(), Some(visit), 4, FTW_PHYS) });
            },
        )
    });
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("expected: a file")
    );
    assert_eq!(walk_returned, Some(-1), "the fallback stopped the walk");
    let files = visited
        .iter()
        .filter(|p| p.to_bytes().ends_with(b"three") || p.to_bytes().ends_with(b"five"))
        .count();
    assert_eq!(files, 1, "no user code ran after the panic: {visited:?}");
}

// ---------------------------------------------------------------------------
// bsearch: a captured probe counter
// ---------------------------------------------------------------------------

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Record {
    id: u32,
    score: i32,
}

/// glibc passes the key first, then an element.
#[callback]
type FindRecord = unsafe extern "C" fn(
    #[into(&u32)] key: *const c_void,
    #[into(&Record)] element: *const c_void,
) -> c_int;

#[test]
fn bsearch_counts_its_probes_in_a_captured_counter() {
    let records: Vec<Record> = (0..100)
        .map(|i| Record {
            id: i * 3 + 1,
            score: 1000 - i as i32,
        })
        .collect();
    for target in [records[0], records[57], records[99]] {
        let mut probes = 0;
        let found = FindRecord::scope_thread_local(
            |key: &u32, element: &Record| -> Ordering {
                probes += 1;
                key.cmp(&element.id)
            },
            // SAFETY: the key and the records outlive the call; the
            // comparator borrows them as what bsearch passes.
            |compare| unsafe {
                libc::bsearch(
                    ptr::from_ref(&target.id).cast(),
                    records.as_ptr().cast(),
                    records.len(),
                    size_of::<Record>(),
                    Some(compare),
                )
            },
        );
        // SAFETY: null or an element of `records`.
        assert_eq!(unsafe { found.cast::<Record>().as_ref() }, Some(&target));
        assert!((1..=7).contains(&probes), "{probes} probes");
    }
}

// ---------------------------------------------------------------------------
// scandir: a capturing filter and comparator, two types in one C call
// ---------------------------------------------------------------------------

use ffi_callback_tests::scandir::{ScanCompare, ScanFilter, name_bytes, scandir, take_names};

#[test]
fn scandir_with_a_capturing_filter_and_comparator() {
    let dir = temp_dir("scandir");
    for name in ["a", "bbb", "cc", "dddd", "eeeee"] {
        std::fs::write(dir.join(name), name).unwrap();
    }
    let dir_c = c_path(&dir);
    // Chosen at run time: the filter keeps these, and counts what it saw.
    let wanted: HashSet<&[u8]> = [&b"a"[..], b"cc", b"eeeee"].into_iter().collect();
    let mut seen = 0;
    let mut compared = 0;
    let mut list: *mut *mut libc::dirent = ptr::null_mut();
    let n = ScanFilter::scope_thread_local(
        |entry: &libc::dirent| {
            seen += 1;
            wanted.contains(&name_bytes(entry)[..])
        },
        |filter| {
            ScanCompare::scope_thread_local(
                |a: &*const libc::dirent, b: &*const libc::dirent| {
                    compared += 1;
                    // SAFETY: scandir passes two elements of its list.
                    let (a, b) = unsafe { (name_bytes(&**a), name_bytes(&**b)) };
                    b.len().cmp(&a.len())
                },
                // SAFETY: a NUL-terminated path and an out pointer; the
                // callbacks borrow what scandir passes, for the call.
                |compar| unsafe { scandir(dir_c.as_ptr(), &mut list, Some(filter), Some(compar)) },
            )
        },
    );
    assert!(n >= 0, "scandir: {}", std::io::Error::last_os_error());
    // SAFETY: what scandir returned, taken once.
    let names = unsafe { take_names(list, n) };
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(names, ["eeeee", "cc", "a"]);
    assert_eq!(seen, 7, "five files, `.` and `..`");
    assert!(compared > 0);
}
