//! A C callback that runs once, as a [`Future`]; behind the `stream`
//! feature, a callback that runs repeatedly, as a stream.
//!
//! C libraries report the end of asynchronous work through a callback that
//! runs once, often on a thread of their own (glibc `getaddrinfo_a` and
//! `timer_create` with `SIGEV_THREAD`, GIO's `GAsyncReadyCallback`, libuv,
//! c-ares). [`channel`] makes the two halves of such a completion: a
//! [`Completion`], moved into the closure that C calls, and a
//! [`CallbackFuture`], which resolves when that closure completes it:
//!
//! | what happens on the C side | what the future resolves to |
//! |---|---|
//! | [`Completion::complete`]`(value)` | `Ok(value)` |
//! | [`Completion::complete_catching`]`(f)`, `f` returns `value` | `Ok(value)` |
//! | [`Completion::complete_catching`]`(f)`, `f` panics | the panic, resumed in `poll` with its original payload |
//! | the `Completion` is dropped without completing (C called `destroy` without a call, or the callback was reclaimed because the C call failed) | `Err(`[`Cancelled`]`)` |
//! | C destroys a `local` callback type's holder on another thread than its own, without a call | nothing: the closure, `Completion` included, may not be dropped on that thread, so it is leaked (and reported) and the future stays pending; use a `send` type where C may destroy on another thread |
//!
//! The two halves share one reference-counted cell (one allocation per
//! future; nothing is allocated per poll except what the executor's
//! `Waker::clone` does, and the waker is cloned only when it changed). No
//! executor is assumed: only [`std::task::Waker`]. Either half may be used
//! on any thread; whichever side finishes second does the clean-up, so
//! everything is dropped exactly once:
//!
//! - the future is dropped before C calls back: the late completion still
//!   runs (C runs the closure anyway), and its value, or panic payload, is
//!   dropped **on the completing thread**, inside `complete`. That is why a
//!   callback type whose closure may run on another thread needs `V: Send`
//!   ([`Completion`] is `Send` only if `V` is);
//! - C completes before the future is polled or dropped: the value waits in
//!   the cell, and is returned by `poll`, or dropped with the future on the
//!   future's thread.
//!
//! No `unsafe` code: the cell is a `Mutex`, held only for a few moves, and
//! never while user code runs (wakers are woken, and values dropped, after
//! it is released).
#![forbid(unsafe_code)]

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::panic::dispose;
use std::task::{Context, Poll, Waker};

#[cfg(feature = "stream")]
mod stream;
#[cfg(feature = "stream")]
pub use self::stream::{CallbackStream, Sender, stream, stream_channel};

/// A panic payload, as `catch_unwind` returns it.
type Payload = Box<dyn Any + Send + 'static>;

/// Makes the two halves of a one-shot completion: the [`Completion`] goes
/// into the closure that C calls, the [`CallbackFuture`] to the code that
/// awaits the result.
///
/// ```text
/// let (completion, future) = channel::<V>();
/// let once = T::once(move |a, b| completion.complete(f(a, b)));
/// ```
#[must_use = "dropping both halves does nothing"]
pub fn channel<V>() -> (Completion<V>, CallbackFuture<V>) {
    let cell = Arc::new(Mutex::new(State::Waiting(None)));
    let completion = Completion {
        cell: Some(Arc::clone(&cell)),
    };
    (completion, CallbackFuture { cell })
}

/// The cell that both halves share.
type Shared<V> = Arc<Mutex<State<V>>>;

enum State<V> {
    /// Neither half has finished. Holds the waker of the latest `poll`, if
    /// the future was polled.
    Waiting(Option<Waker>),
    /// The completion has resolved; the future has not taken the outcome.
    Done(Outcome<V>),
    /// Nothing more happens: the future took the outcome, or was dropped.
    /// The future sees this state only after it resolved (it cannot observe
    /// its own drop); the completion sees it only when the future is gone
    /// (the completion resolves once, so the future cannot have taken
    /// anything yet).
    Closed,
}

enum Outcome<V> {
    Value(V),
    Panicked(Payload),
    Cancelled,
}

/// Locks a cell. A poisoned lock is used as it is: while a cell is locked
/// this module only moves values, and the calls that could panic there
/// (`Waker::clone`, the stream's `VecDeque::push_back`) run before the state
/// they change is written, so a panic never leaves it half-updated. No user
/// code (a `Drop` of `V` or of a payload, `Waker::wake`) runs under the lock.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Stores `new` in `slot` unless the waker already there would wake the same
/// task; returns the waker replaced, for the caller to drop once the lock is
/// released. `new` is cloned before `slot` is written.
fn register(slot: &mut Option<Waker>, new: &Waker) -> Option<Waker> {
    match slot {
        Some(old) if old.will_wake(new) => None,
        _ => slot.replace(new.clone()),
    }
}

/// Runs `f`; a panic that escapes it is caught and its payload disposed of,
/// so that nothing unwinds into the caller.
fn contain(f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        dispose(payload);
    }
}

/// The sending half of a [`future`](fn@crate::future): moved into the
/// closure that C calls once, it resolves the [`CallbackFuture`].
///
/// Complete it with [`complete`](Completion::complete) or
/// [`complete_catching`](Completion::complete_catching); dropping it without
/// completing (also while a panic unwinds) resolves the future to
/// `Err(`[`Cancelled`]`)`. It may be completed, or dropped, on any thread:
/// it is `Send` (and `Sync`) if `V` is `Send`, so a closure that owns it
/// can be a `send` callback.
pub struct Completion<V> {
    /// `Some` until a consuming method takes it, so that `Drop` then does
    /// nothing.
    cell: Option<Shared<V>>,
}

impl<V> Completion<V> {
    /// Resolves the future to `Ok(value)` and wakes it.
    ///
    /// If the future was already dropped, `value` is dropped here, on the
    /// calling (completing) thread. A panic of that drop, or of the future's
    /// waker, unwinds out of this call, to be handled like any other panic
    /// of the callback; see [`complete_catching`](Completion::complete_catching)
    /// for a call that never unwinds.
    pub fn complete(mut self, value: V) {
        if let Some(cell) = self.cell.take() {
            resolve(&cell, Outcome::Value(value));
        }
    }

    /// Runs `f` and resolves the future to its value; if `f` panics, the
    /// panic is carried to the future instead, and resumed, with its original
    /// payload, by the `poll` that finds it (as with a thread's
    /// `JoinHandle`, the panic is reported where the result is awaited, so
    /// `f` need not be `UnwindSafe`).
    ///
    /// Never unwinds: the C thread that runs the callback never sees a
    /// panic. If the future was already dropped, the value, or the panic
    /// payload, is dropped here, on the completing thread, and a panic of
    /// that drop (or of the future's waker) is caught and discarded (it was
    /// already reported by the panic hook).
    pub fn complete_catching(mut self, f: impl FnOnce() -> V) {
        let outcome = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Outcome::Value(value),
            Err(payload) => Outcome::Panicked(payload),
        };
        if let Some(cell) = self.cell.take() {
            contain(move || resolve(&cell, outcome));
        }
    }
}

impl<V> Drop for Completion<V> {
    /// Resolves the future to `Err(Cancelled)` if it was not completed.
    /// While a panic unwinds, a panic of the future's waker is caught rather
    /// than aborting the process.
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            if std::thread::panicking() {
                contain(move || resolve(&cell, Outcome::Cancelled));
            } else {
                resolve(&cell, Outcome::Cancelled);
            }
        }
    }
}

/// Stores `outcome` for the future and wakes it, or, if the future is gone,
/// drops `outcome` here. Called once per cell, by the completion.
fn resolve<V>(cell: &Mutex<State<V>>, outcome: Outcome<V>) {
    let mut state = lock(cell);
    let unwanted = match &mut *state {
        State::Waiting(waker) => {
            let waker = waker.take();
            *state = State::Done(outcome);
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
            return;
        }
        // `Done` cannot be found here (the completion resolves once); if it
        // were, keeping the first outcome would be right.
        State::Closed | State::Done(_) => outcome,
    };
    drop(state);
    match unwanted {
        Outcome::Panicked(payload) => dispose(payload),
        other => drop(other),
    }
}

impl<V> fmt::Debug for Completion<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.cell {
            None => "completed",
            Some(cell) => match *lock(cell) {
                State::Waiting(_) => "waiting",
                State::Done(_) | State::Closed => "future dropped",
            },
        };
        f.debug_struct("Completion")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// A future that resolves when a C callback completes it: to `Ok(value)`,
/// or to `Err(`[`Cancelled`]`)` if the callback was dropped without being
/// called.
///
/// If the callback's closure panicked and the panic was carried here
/// (rather than handled by the callback type's panic policy), the `poll`
/// that finds it resumes that panic with its original payload.
///
/// It may be polled from any thread (it is `Send` and `Sync` if `V` is
/// `Send`), with a different waker each time. Like most futures it must
/// not be polled again after it resolved: that panics.
///
/// Dropping it before C calls back is safe: C still runs the callback, and
/// the value it produces is dropped on the thread that completes it. If C
/// already completed, dropping the future drops the value on the dropping
/// thread.
pub struct CallbackFuture<V> {
    cell: Shared<V>,
}

impl<V> Future for CallbackFuture<V> {
    type Output = Result<V, Cancelled>;

    /// # Panics
    ///
    /// Resumes the callback's panic, if one was carried here; panics if the
    /// future already resolved.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.cell);
        if let State::Waiting(slot) = &mut *state {
            let replaced = register(slot, cx.waker());
            drop(state);
            drop(replaced);
            return Poll::Pending;
        }
        let outcome = match mem::replace(&mut *state, State::Closed) {
            State::Done(outcome) => outcome,
            State::Waiting(_) | State::Closed => {
                drop(state);
                polled_after_resolved()
            }
        };
        drop(state);
        Poll::Ready(match outcome {
            Outcome::Value(value) => Ok(value),
            Outcome::Cancelled => Err(Cancelled),
            Outcome::Panicked(payload) => panic::resume_unwind(payload),
        })
    }
}

#[cold]
#[inline(never)]
fn polled_after_resolved() -> ! {
    panic!("`CallbackFuture` polled after it resolved")
}

impl<V> Drop for CallbackFuture<V> {
    /// Tells the completion that nobody waits any more, and drops what it
    /// left: its value (on this thread), or its panic payload (a panic of
    /// the payload's `Drop` is discarded).
    fn drop(&mut self) {
        let left = mem::replace(&mut *lock(&self.cell), State::Closed);
        match left {
            State::Done(Outcome::Panicked(payload)) => dispose(payload),
            other => drop(other),
        }
    }
}

impl<V> fmt::Debug for CallbackFuture<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match *lock(&self.cell) {
            State::Waiting(_) => "pending",
            State::Done(_) => "ready",
            State::Closed => "resolved",
        };
        f.debug_struct("CallbackFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "futures-core")]
impl<V> futures_core::future::FusedFuture for CallbackFuture<V> {
    fn is_terminated(&self) -> bool {
        matches!(*lock(&self.cell), State::Closed)
    }
}

/// The error of a [`CallbackFuture`] whose callback was dropped without
/// being called: C released it (called its destroy-notify) without calling
/// it, or it was reclaimed because the C call that was to run it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the callback was dropped without being called, so its future was cancelled \
             (C released it without calling it, or the C call that was to run it failed)",
        )
    }
}

impl Error for Cancelled {}

/// Test helpers shared with the stream's tests: a minimal `block_on`, and
/// wakers that count their wake-ups.
#[cfg(test)]
mod test_support {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread};

    /// A waker that counts its wake-ups and unparks a thread.
    pub(super) struct Counter {
        wakes: AtomicUsize,
        thread: Thread,
    }

    impl Counter {
        pub(super) fn wakes(&self) -> usize {
            self.wakes.load(SeqCst)
        }
    }

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, SeqCst);
            self.thread.unpark();
        }
    }

    /// A waker for the current thread, and its counter. Each clone of the
    /// waker adds one to `Arc::strong_count` of the counter.
    pub(super) fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter {
            wakes: AtomicUsize::new(0),
            thread: thread::current(),
        });
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    /// Polls `future` once with `waker`.
    pub(super) fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        std::pin::Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    /// Runs `future` to completion on this thread, parking between polls.
    pub(super) fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let (_counter, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            thread::park();
        }
    }

    /// A waker whose `wake` panics.
    pub(super) struct Panicky;

    impl Wake for Panicky {
        fn wake(self: Arc<Self>) {
            panic!("the waker panics");
        }
    }

    /// Deterministic shuffle (xorshift Fisher-Yates), std only.
    pub(super) fn shuffle<T>(items: &mut [T], mut seed: u64) {
        for i in (1..items.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let j = usize::try_from(seed % (i as u64 + 1)).unwrap();
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{Panicky, block_on, counting_waker, poll_once, shuffle};
    use super::*;
    use crate::panic::DISPOSE_DEPTH;
    use std::panic::{UnwindSafe, catch_unwind, panic_any};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::thread::{self, ThreadId};

    /// Records every drop: how many, and on which thread.
    #[derive(Clone, Default)]
    struct Drops(Arc<Mutex<Vec<ThreadId>>>);

    impl Drops {
        fn item(&self, id: usize) -> Tracked {
            Tracked {
                id,
                drops: self.clone(),
            }
        }
        fn count(&self) -> usize {
            self.0.lock().unwrap().len()
        }
        fn threads(&self) -> Vec<ThreadId> {
            self.0.lock().unwrap().clone()
        }
    }

    struct Tracked {
        id: usize,
        drops: Drops,
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.drops.0.lock().unwrap().push(thread::current().id());
        }
    }

    /// A panic payload (or value) whose `Drop` panics if `then > 0`, with a
    /// payload of the same kind whose `then` is one less (`usize::MAX`: no
    /// end). Dropping one makes `then + 1` drops in all.
    struct PanicOnDrop {
        drops: Arc<AtomicUsize>,
        then: usize,
    }

    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            self.drops.fetch_add(1, SeqCst);
            if self.then == usize::MAX {
                // An endless chain.
                panic_any(PanicOnDrop {
                    drops: Arc::clone(&self.drops),
                    then: usize::MAX,
                });
            }
            if self.then > 0 {
                panic_any(PanicOnDrop {
                    drops: Arc::clone(&self.drops),
                    then: self.then - 1,
                });
            }
        }
    }

    fn assert_traits<T: Send + Sync + Unpin + UnwindSafe>() {}

    #[test]
    fn auto_traits() {
        assert_traits::<Completion<String>>();
        assert_traits::<CallbackFuture<String>>();
        assert_traits::<Cancelled>();
        // `V: Send` without `Sync` is enough for both halves.
        assert_traits::<Completion<std::cell::Cell<u8>>>();
        assert_traits::<CallbackFuture<std::cell::Cell<u8>>>();
    }

    #[test]
    fn complete_before_poll() {
        let (completion, future) = channel();
        completion.complete(String::from("done"));
        assert_eq!(block_on(future), Ok(String::from("done")));
    }

    #[test]
    fn complete_after_poll_from_another_thread() {
        let (completion, mut future) = channel::<u32>();
        let (counter, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        thread::spawn(move || completion.complete(7))
            .join()
            .unwrap();
        assert_eq!(counter.wakes(), 1);
        assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Ok(7)));
    }

    #[test]
    fn complete_while_blocked_on() {
        let (completion, future) = channel::<u32>();
        let c = thread::spawn(move || {
            thread::yield_now();
            completion.complete(9);
        });
        assert_eq!(block_on(future), Ok(9));
        c.join().unwrap();
    }

    #[test]
    fn completion_dropped_before_poll_cancels() {
        let (completion, future) = channel::<u32>();
        drop(completion);
        assert_eq!(block_on(future), Err(Cancelled));
    }

    #[test]
    fn completion_dropped_after_poll_cancels_and_wakes() {
        let (completion, mut future) = channel::<u32>();
        let (counter, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        thread::spawn(move || drop(completion)).join().unwrap();
        assert_eq!(counter.wakes(), 1);
        assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Err(Cancelled)));
    }

    #[test]
    fn completion_dropped_while_unwinding_cancels() {
        let (completion, mut future) = channel::<u32>();
        let (counter, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        let unwound = catch_unwind(AssertUnwindSafe(move || {
            let _completion = completion;
            panic!("the closure panics before completing");
        }));
        assert!(unwound.is_err());
        assert_eq!(counter.wakes(), 1);
        assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Err(Cancelled)));
    }

    #[test]
    fn completion_dropped_while_unwinding_with_a_panicking_waker_does_not_abort() {
        let (completion, mut future) = channel::<u32>();
        let panicky = Waker::from(Arc::new(Panicky));
        assert!(poll_once(&mut future, &panicky).is_pending());
        let unwound = catch_unwind(AssertUnwindSafe(move || {
            let _completion = completion;
            panic!("the closure panics before completing");
        }));
        let payload = unwound.unwrap_err();
        // The original panic is the one that arrives, not the waker's.
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the closure panics before completing")
        );
        let (_counter, waker) = counting_waker();
        assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Err(Cancelled)));
    }

    #[test]
    fn future_dropped_before_completion_value_dropped_once_on_completing_thread() {
        let drops = Drops::default();
        let (completion, mut future) = channel::<Tracked>();
        let (_counter, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        drop(future);
        let item = drops.item(1);
        let completing = thread::spawn(move || {
            completion.complete(item);
            thread::current().id()
        })
        .join()
        .unwrap();
        assert_eq!(drops.threads(), vec![completing]);
    }

    #[test]
    fn future_dropped_before_first_poll_value_dropped_on_completing_thread() {
        let drops = Drops::default();
        let (completion, future) = channel::<Tracked>();
        drop(future);
        let item = drops.item(1);
        let completing = thread::spawn(move || {
            completion.complete_catching(|| item);
            thread::current().id()
        })
        .join()
        .unwrap();
        assert_eq!(drops.threads(), vec![completing]);
    }

    #[test]
    fn future_dropped_after_completion_value_dropped_once_with_the_future() {
        let drops = Drops::default();
        let (completion, future) = channel::<Tracked>();
        let item = drops.item(1);
        thread::spawn(move || completion.complete(item))
            .join()
            .unwrap();
        assert_eq!(drops.count(), 0);
        let dropping = thread::spawn(move || {
            drop(future);
            thread::current().id()
        })
        .join()
        .unwrap();
        assert_eq!(drops.threads(), vec![dropping]);
    }

    #[test]
    fn value_taken_by_poll_is_not_dropped_by_the_channel() {
        let drops = Drops::default();
        let (completion, future) = channel::<Tracked>();
        completion.complete(drops.item(5));
        let item = block_on(future).ok().unwrap();
        assert_eq!((item.id, drops.count()), (5, 0));
        drop(item);
        assert_eq!(drops.count(), 1);
    }

    #[test]
    fn complete_catching_returns_the_value() {
        let (completion, future) = channel();
        completion.complete_catching(|| 40 + 2);
        assert_eq!(block_on(future), Ok(42));
    }

    #[derive(Debug, PartialEq)]
    struct Payload42(u32);

    #[test]
    fn panic_is_carried_and_resumed_with_its_original_payload() {
        let (completion, future) = channel::<u32>();
        let completed = thread::spawn(move || {
            completion.complete_catching(|| panic_any(Payload42(42)));
        })
        .join();
        assert!(completed.is_ok(), "complete_catching unwound");
        let resumed = catch_unwind(AssertUnwindSafe(|| block_on(future))).unwrap_err();
        assert_eq!(resumed.downcast_ref::<Payload42>(), Some(&Payload42(42)));
    }

    #[test]
    fn panic_is_resumed_when_polled_after_waiting() {
        let (completion, mut future) = channel::<u32>();
        let (counter, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        thread::spawn(move || completion.complete_catching(|| panic!("carried")))
            .join()
            .unwrap();
        assert_eq!(counter.wakes(), 1);
        let resumed = catch_unwind(AssertUnwindSafe(|| poll_once(&mut future, &waker)));
        let payload = resumed.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"carried"));
    }

    #[test]
    fn panic_payload_dropped_with_the_unpolled_future() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completion, future) = channel::<u32>();
        let payload_drops = Arc::clone(&drops);
        completion.complete_catching(move || {
            panic_any(PanicOnDrop {
                drops: payload_drops,
                then: 0,
            })
        });
        assert_eq!(drops.load(SeqCst), 0);
        drop(future);
        assert_eq!(drops.load(SeqCst), 1);
    }

    #[test]
    fn panicking_payload_drop_does_not_unwind_when_the_future_is_gone() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completion, future) = channel::<u32>();
        drop(future);
        let payload_drops = Arc::clone(&drops);
        // A chain of three drops that each panic, ending in one that does not.
        let completed = catch_unwind(AssertUnwindSafe(move || {
            completion.complete_catching(move || {
                panic_any(PanicOnDrop {
                    drops: payload_drops,
                    then: 3,
                })
            });
        }));
        assert!(completed.is_ok(), "complete_catching unwound");
        assert_eq!(drops.load(SeqCst), 4);
    }

    #[test]
    fn panicking_payload_drop_does_not_unwind_from_the_future_drop() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completion, future) = channel::<u32>();
        let payload_drops = Arc::clone(&drops);
        completion.complete_catching(move || {
            panic_any(PanicOnDrop {
                drops: payload_drops,
                then: 1,
            })
        });
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(future)));
        assert!(dropped.is_ok(), "the future's drop unwound");
        assert_eq!(drops.load(SeqCst), 2);
    }

    // An endless chain is cut off and the rest leaked, which Miri's leak
    // check would report.
    #[cfg(not(miri))]
    #[test]
    fn endless_chain_of_panicking_payload_drops_is_cut_off() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completion, future) = channel::<u32>();
        drop(future);
        let payload_drops = Arc::clone(&drops);
        completion.complete_catching(move || {
            panic_any(PanicOnDrop {
                drops: payload_drops,
                then: usize::MAX,
            })
        });
        assert_eq!(drops.load(SeqCst), DISPOSE_DEPTH);
    }

    #[test]
    fn panicking_value_drop_does_not_unwind_from_complete_catching() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completion, future) = channel::<PanicOnDrop>();
        drop(future);
        let value_drops = Arc::clone(&drops);
        let completed = catch_unwind(AssertUnwindSafe(move || {
            completion.complete_catching(move || PanicOnDrop {
                drops: value_drops,
                then: 1,
            });
        }));
        assert!(completed.is_ok(), "complete_catching unwound");
        assert_eq!(drops.load(SeqCst), 2);
    }

    #[test]
    fn panicking_value_drop_unwinds_from_complete() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completion, future) = channel::<PanicOnDrop>();
        drop(future);
        let value_drops = Arc::clone(&drops);
        let completed = catch_unwind(AssertUnwindSafe(move || {
            completion.complete(PanicOnDrop {
                drops: value_drops,
                then: 1,
            });
        }));
        let payload = completed.expect_err("complete hands the panic to the callback's policy");
        assert_eq!(drops.load(SeqCst), 1);
        drop(payload);
        assert_eq!(drops.load(SeqCst), 2);
    }

    #[test]
    fn panicking_waker_does_not_unwind_from_complete_catching() {
        let (completion, mut future) = channel::<u32>();
        let panicky = Waker::from(Arc::new(Panicky));
        assert!(poll_once(&mut future, &panicky).is_pending());
        let completed = catch_unwind(AssertUnwindSafe(move || {
            completion.complete_catching(|| 3);
        }));
        assert!(completed.is_ok(), "complete_catching unwound");
        // The value was stored before the waker ran.
        let (_counter, waker) = counting_waker();
        assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Ok(3)));
    }

    #[test]
    fn repoll_with_the_same_waker_does_not_clone_it() {
        let (completion, mut future) = channel::<u32>();
        let (counter, waker) = counting_waker();
        assert_eq!(Arc::strong_count(&counter), 2);
        assert!(poll_once(&mut future, &waker).is_pending());
        assert_eq!(Arc::strong_count(&counter), 3);
        for _ in 0..3 {
            assert!(poll_once(&mut future, &waker).is_pending());
        }
        assert_eq!(Arc::strong_count(&counter), 3);
        completion.complete(1);
        assert_eq!(counter.wakes(), 1);
        // Woken by value: the stored clone is gone.
        assert_eq!(Arc::strong_count(&counter), 2);
        assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Ok(1)));
    }

    #[test]
    fn repoll_with_a_different_waker_wakes_only_the_latest() {
        let (completion, mut future) = channel::<u32>();
        let (first, first_waker) = counting_waker();
        let (second, second_waker) = counting_waker();
        assert!(poll_once(&mut future, &first_waker).is_pending());
        assert!(poll_once(&mut future, &second_waker).is_pending());
        // The first waker's clone was released.
        assert_eq!(Arc::strong_count(&first), 2);
        assert_eq!(Arc::strong_count(&second), 3);
        thread::spawn(move || completion.complete(2))
            .join()
            .unwrap();
        assert_eq!((first.wakes(), second.wakes()), (0, 1));
        assert_eq!(poll_once(&mut future, &first_waker), Poll::Ready(Ok(2)));
    }

    #[test]
    fn future_drop_releases_its_waker() {
        let (completion, mut future) = channel::<u32>();
        let (counter, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        assert_eq!(Arc::strong_count(&counter), 3);
        drop(future);
        assert_eq!(Arc::strong_count(&counter), 2);
        completion.complete(1);
        assert_eq!(counter.wakes(), 0);
    }

    #[test]
    #[should_panic(expected = "`CallbackFuture` polled after it resolved")]
    fn poll_after_resolved_panics() {
        let (completion, mut future) = channel::<u32>();
        completion.complete(1);
        let (_counter, waker) = counting_waker();
        assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Ok(1)));
        let _ = poll_once(&mut future, &waker);
    }

    #[test]
    #[should_panic(expected = "`CallbackFuture` polled after it resolved")]
    fn poll_after_resumed_panic_panics() {
        let (completion, mut future) = channel::<u32>();
        completion.complete_catching(|| panic!("carried"));
        let (_counter, waker) = counting_waker();
        assert!(catch_unwind(AssertUnwindSafe(|| poll_once(&mut future, &waker))).is_err());
        let _ = poll_once(&mut future, &waker);
    }

    #[test]
    fn many_futures_completed_from_several_threads_in_shuffled_order() {
        let (count, threads) = if cfg!(miri) { (24, 3) } else { (1000, 4) };
        let drops = Drops::default();
        let mut completions = Vec::new();
        let mut futures = Vec::new();
        for id in 0..count {
            let (completion, future) = channel::<Tracked>();
            completions.push((id, completion));
            futures.push(Some(future));
        }
        shuffle(&mut completions, 0x9e37_79b9_7f4a_7c15);
        let mut shares: Vec<Vec<(usize, Completion<Tracked>)>> =
            (0..threads).map(|_| Vec::new()).collect();
        for (i, entry) in completions.into_iter().enumerate() {
            shares[i % threads].push(entry);
        }
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let drops = drops.clone();
                thread::spawn(move || {
                    for (id, completion) in share {
                        match id % 3 {
                            0 => completion.complete(drops.item(id)),
                            1 => completion.complete_catching(|| drops.item(id)),
                            _ if id % 5 == 0 => drop(completion),
                            _ => completion.complete(drops.item(id)),
                        }
                    }
                })
            })
            .collect();
        // Poll every future until all resolved, each exactly once.
        let (_counter, waker) = counting_waker();
        let mut resolved = 0;
        let mut values = 0;
        while resolved < count {
            for (id, slot) in futures.iter_mut().enumerate() {
                let Some(future) = slot else { continue };
                if let Poll::Ready(result) = poll_once(future, &waker) {
                    *slot = None;
                    resolved += 1;
                    match result {
                        Ok(item) => {
                            assert_eq!(item.id, id);
                            assert!(id % 3 != 2 || id % 5 != 0);
                            values += 1;
                        }
                        Err(Cancelled) => assert!(id % 3 == 2 && id % 5 == 0),
                    }
                }
            }
            if resolved < count {
                thread::park();
            }
        }
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(drops.count(), values);
        assert_eq!(
            values,
            (0..count).filter(|id| id % 3 != 2 || id % 5 != 0).count()
        );
    }

    #[test]
    fn future_drop_racing_completion_drops_each_value_once() {
        let rounds = if cfg!(miri) { 8 } else { 500 };
        let drops = Drops::default();
        for id in 0..rounds {
            let (completion, mut future) = channel::<Tracked>();
            let (_counter, waker) = counting_waker();
            if id % 2 == 0 {
                assert!(poll_once(&mut future, &waker).is_pending());
            }
            let item = drops.item(id);
            let completing = thread::spawn(move || completion.complete(item));
            let dropping = thread::spawn(move || drop(future));
            completing.join().unwrap();
            dropping.join().unwrap();
            assert_eq!(drops.count(), id + 1);
        }
    }

    #[test]
    fn poll_racing_completion_resolves_once() {
        let rounds = if cfg!(miri) { 8 } else { 500 };
        for id in 0..rounds {
            let (completion, future) = channel::<usize>();
            let completing = thread::spawn(move || completion.complete(id));
            assert_eq!(block_on(future), Ok(id));
            completing.join().unwrap();
        }
    }

    #[cfg(feature = "futures-core")]
    #[test]
    fn fused_future_is_terminated_once_resolved() {
        use futures_core::future::FusedFuture;
        let (completion, mut future) = channel::<u32>();
        let (_counter, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_pending());
        assert!(!future.is_terminated());
        completion.complete(1);
        assert!(!future.is_terminated());
        assert_eq!(poll_once(&mut future, &waker), Poll::Ready(Ok(1)));
        assert!(future.is_terminated());
    }

    #[test]
    fn cancelled_is_an_error_with_a_clear_message() {
        let error: Box<dyn Error + Send + Sync> = Box::new(Cancelled);
        let message = error.to_string();
        assert!(
            message.contains("dropped without being called"),
            "{message}"
        );
        assert_eq!(format!("{Cancelled:?}"), "Cancelled");
        let copy = Cancelled;
        assert_eq!(copy, Cancelled.clone());
    }

    #[test]
    fn debug_shows_the_state_without_requiring_debug_values() {
        struct Opaque;
        let (completion, mut future) = channel::<Opaque>();
        assert!(format!("{future:?}").contains("pending"));
        assert!(format!("{completion:?}").contains("waiting"));
        completion.complete(Opaque);
        assert!(format!("{future:?}").contains("ready"));
        let (_counter, waker) = counting_waker();
        assert!(poll_once(&mut future, &waker).is_ready());
        assert!(format!("{future:?}").contains("resolved"));
        let (completion, future) = channel::<Opaque>();
        drop(future);
        assert!(format!("{completion:?}").contains("future dropped"));
    }
}

/// A callback whose call completes a future: `make` receives the
/// [`Completion`] and builds the C-side callback around it (usually a
/// callback type's `once`), and the [`CallbackFuture`] resolves when that
/// callback completes it, or to `Err(Cancelled)` when the callback is
/// destroyed or reclaimed uncalled:
///
/// | what happens on the C side | what the future resolves to |
/// |---|---|
/// | [`Completion::complete`]`(value)` | `Ok(value)` |
/// | [`Completion::complete_catching`]`(f)`, `f` returns `value` | `Ok(value)` |
/// | [`Completion::complete_catching`]`(f)`, `f` panics | the panic, resumed in `poll` with its original payload |
/// | the `Completion` is dropped without completing (C called `destroy` without a call, or the callback was reclaimed because the C call failed) | `Err(`[`Cancelled`]`)` |
/// | C destroys a `local` callback type's holder on another thread than its own, without a call | nothing: the closure, `Completion` included, may not be dropped on that thread, so it is leaked (and reported) and the future stays pending; use a `send` type where C may destroy on another thread |
///
/// Any executor awaits it (only [`std::task::Waker`] is used); the example
/// below blocks on it with a few lines of its own.
///
/// ```
/// use std::ffi::{c_int, c_void};
/// use ffi_callback::callback;
///
/// #[callback(send)]
/// type Notify = unsafe extern "C" fn(status: c_int, #[user_data] ud: *mut c_void);
///
/// let (once, done) = ffi_callback::future(|done| Notify::once(move |status| done.complete(status)));
/// let raw = once.into_raw();
/// let (function, user_data) = (raw.function, raw.user_data as usize);
/// // Stands in for a C library that calls back from a thread of its own.
/// std::thread::spawn(move || unsafe { function(7, user_data as *mut c_void) });
///
/// /// Polls `f` on this thread, parking it until the waker unparks it.
/// fn block_on<F: std::future::Future>(f: F) -> F::Output {
///     struct Unpark(std::thread::Thread);
///     impl std::task::Wake for Unpark {
///         fn wake(self: std::sync::Arc<Self>) {
///             self.0.unpark()
///         }
///     }
///     let waker = std::sync::Arc::new(Unpark(std::thread::current())).into();
///     let mut cx = std::task::Context::from_waker(&waker);
///     let mut f = std::pin::pin!(f);
///     loop {
///         if let std::task::Poll::Ready(value) = f.as_mut().poll(&mut cx) {
///             return value;
///         }
///         std::thread::park();
///     }
/// }
/// assert_eq!(block_on(done), Ok(7));
/// ```
///
/// With [`Completion::complete_catching`] instead of `complete`, a panic
/// of the computation is resumed where the future is polled (the awaiting
/// task owns it) rather than handled by the callback type's policy.
pub fn future<V, X>(make: impl FnOnce(Completion<V>) -> X) -> (X, CallbackFuture<V>) {
    let (completion, future) = channel();
    (make(completion), future)
}
