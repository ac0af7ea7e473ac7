//! Closures that meet each threading contract, and each constructor.
use ffi_callback::callback;
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[callback]
type Local = unsafe extern "C" fn(#[user_data] data: *mut c_void, n: c_int) -> c_int;

#[callback(reentrant)]
type Reentrant = unsafe extern "C" fn(#[user_data] data: *mut c_void, n: c_int) -> c_int;

#[callback(send)]
type Sent = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> c_int;

#[callback(sync)]
type Shared = unsafe extern "C" fn(task: *mut c_void, #[user_data] data: *mut c_void);

#[callback(local)]
type HomeOnly = unsafe extern "C" fn(#[user_data] data: *mut c_void) -> c_int;

// Raw pointers borrowed on a `sync` callback: nothing reaches through one
// without `unsafe`, so they need no `Sync` (a `*mut c_void` is not).
#[callback(sync)]
type Tasks = unsafe extern "C" fn(
    #[into(&[*mut c_void], len = n)] tasks: *const *mut c_void,
    n: usize,
    #[into(&mut *mut c_void)] out: *mut *mut c_void,
    #[user_data] data: *mut c_void,
);

#[callback(send)]
trait SentSet {
    unsafe extern "C" fn run(&mut self, #[user_data] data: *mut c_void) -> c_int;
}

struct Job(c_int);

impl SentSet for Job {
    fn run(&mut self) -> c_int {
        self.0
    }
}

fn is_send<T: Send>(_: &T) {}
fn is_sync<T: Sync>(_: &T) {}

fn main() {
    // Default: `FnMut`, borrowing from the stack.
    let mut total = 0;
    Local::scope(
        |n| {
            total += n;
            0
        },
        |f, ud| unsafe { f(ud, 2) },
    );
    let cb = Local::new(|n| n * 2);
    assert_eq!(unsafe { cb.function()(cb.user_data(), 3) }, 6);

    // `reentrant`: `Fn`, state in a `Cell`.
    let calls = Cell::new(0);
    Reentrant::scope(
        |n| {
            calls.set(calls.get() + n);
            0
        },
        |f, ud| unsafe { f(ud, 1) },
    );

    // `send`: `Send + 'static` for `boxed`, `FnOnce + Send` for `once`.
    let counter = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&counter);
    let raw = Sent::boxed(move || {
        c.fetch_add(1, Ordering::Relaxed);
        0
    })
    .into_raw();
    unsafe {
        (raw.function)(raw.user_data);
        (raw.destroy)(raw.user_data);
    }
    let owned = String::from("moved in");
    let raw = Sent::once(move || owned.len() as c_int).into_raw();
    assert_eq!(unsafe { (raw.function)(raw.user_data) }, 8);
    let raw = Sent::once(|| 0).into_raw_with_destroy();
    unsafe {
        (raw.function)(raw.user_data);
        (raw.destroy)(raw.user_data);
    }

    // The owners and raw parts of `send` callbacks (and sets) move and are
    // shared; a `local` one's parts too (calls elsewhere are refused).
    let owner = Sent::boxed(|| 0);
    is_send(&owner);
    // A holder from `new` too, before it is lent: made on one thread, it
    // may be handed to C on another.
    let lent = Sent::new(|| 0);
    is_send(&lent);
    let lent = std::thread::spawn(move || {
        // SAFETY: the holder's own function and user data, alive.
        assert_eq!(unsafe { (lent.function())(lent.user_data()) }, 0);
        lent
    })
    .join()
    .unwrap();
    drop(lent);
    is_sync(&owner);
    let raw = HomeOnly::boxed(|| 0).into_raw();
    is_send(&raw);
    is_sync(&raw);
    unsafe { (raw.destroy)(raw.user_data) };
    let set: ffi_callback::BoxedSet<Job, ffi_callback::AnyThread> = Job(1).boxed();
    is_send(&set);
    is_sync(&set);

    // `sync`: `Fn + Send + Sync`.
    let c = Arc::clone(&counter);
    let raw = Shared::boxed(move |_task| {
        c.fetch_add(1, Ordering::Relaxed);
    })
    .into_raw();
    let (function, user_data) = (raw.function, raw.user_data as usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(move || unsafe { function(std::ptr::null_mut(), user_data as *mut c_void) });
        }
    });
    unsafe { (raw.destroy)(raw.user_data) };
    assert_eq!(
        (total, calls.get(), counter.load(Ordering::Relaxed)),
        (2, 1, 3)
    );

    // `sync` with raw pointers borrowed: the last task goes out.
    let mut tasks = [std::ptr::null_mut::<c_void>(), 8 as *mut c_void];
    let mut out = std::ptr::null_mut();
    Tasks::scope(
        |tasks: &[*mut c_void], _n, out: &mut *mut c_void| *out = tasks[tasks.len() - 1],
        |function, data| unsafe { function(tasks.as_mut_ptr(), tasks.len(), &mut out, data) },
    );
    assert_eq!(out as usize, 8);
}
