//! The threading contracts a callback type declares, and the state word a
//! holder keeps for them: which calls are running (one exclusive `FnMut`
//! call, or any number of shared `Fn` calls), whether the holder is
//! poisoned, and whether a destroy is waiting for the running calls to
//! return.
//!
//! Every contract's word tracks exclusive entry, so no holder can hand out
//! two `&mut F`; and the contracts whose calls may come from other threads
//! use atomics and demand `Send`/`Sync` of the closure in the holder's own
//! bounds, whatever the macro generates.

use std::cell::Cell;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::panic::Ticket;

/// A closure's panic was kept by a guard: calls return the fallback until
/// the guard has re-raised it (its ticket is released).
pub(crate) const POISONED: usize = 1;
/// A destroy arrived while calls were running: the last one to leave frees.
pub(crate) const DESTROYED: usize = 2;
/// One exclusive (`FnMut`) call is running.
pub(crate) const EXCLUSIVE: usize = 4;
/// One shared (`Fn`) call; the count of them is `word / SHARED`.
pub(crate) const SHARED: usize = 8;
/// Bits that say some call is running.
pub(crate) const RUNNING: usize = !(POISONED | DESTROYED);

/// A holder's state word and the ticket of the guard that poisoned it.
#[doc(hidden)]
pub trait StateWord {
    /// An idle, healthy holder.
    const NEW: Self;

    /// Enters an exclusive call if the holder is idle and healthy: the
    /// fast path, one compare in place.
    fn try_enter_exclusive(&self) -> bool;
    /// Enters a shared call if no exclusive call runs and the holder is
    /// healthy.
    fn try_enter_shared(&self) -> bool;
    /// Leaves an exclusive call; the word afterwards (non-zero: a destroy
    /// is pending or the holder was poisoned meanwhile).
    fn leave_exclusive(&self) -> usize;
    /// Leaves a shared call; the word afterwards.
    fn leave_shared(&self) -> usize;
    /// The word.
    fn load(&self) -> usize;
    /// Sets bits; the word before.
    fn set(&self, bits: usize) -> usize;
    /// Clears bits; the word before.
    fn clear(&self, bits: usize) -> usize;
    /// Replaces the poisoning guard's ticket.
    fn set_ticket(&self, ticket: Option<Arc<Ticket>>) -> Option<Arc<Ticket>>;
    /// Whether the ticket that poisoned the holder is still held.
    fn ticket_held(&self) -> bool;
}

/// The word of a holder whose calls all come from one thread at a time.
#[doc(hidden)]
pub struct LocalWord {
    word: Cell<usize>,
    ticket: Cell<Option<Arc<Ticket>>>,
}

impl StateWord for LocalWord {
    const NEW: Self = LocalWord {
        word: Cell::new(0),
        ticket: Cell::new(None),
    };

    #[inline(always)]
    fn try_enter_exclusive(&self) -> bool {
        if self.word.get() != 0 {
            return false;
        }
        self.word.set(EXCLUSIVE);
        true
    }

    #[inline(always)]
    fn try_enter_shared(&self) -> bool {
        let word = self.word.get();
        if word & (POISONED | DESTROYED | EXCLUSIVE) != 0 {
            return false;
        }
        self.word.set(word + SHARED);
        true
    }

    #[inline(always)]
    fn leave_exclusive(&self) -> usize {
        let word = self.word.get() - EXCLUSIVE;
        self.word.set(word);
        word
    }

    #[inline(always)]
    fn leave_shared(&self) -> usize {
        let word = self.word.get() - SHARED;
        self.word.set(word);
        word
    }

    fn load(&self) -> usize {
        self.word.get()
    }

    fn set(&self, bits: usize) -> usize {
        let word = self.word.get();
        self.word.set(word | bits);
        word
    }

    fn clear(&self, bits: usize) -> usize {
        let word = self.word.get();
        self.word.set(word & !bits);
        word
    }

    fn set_ticket(&self, ticket: Option<Arc<Ticket>>) -> Option<Arc<Ticket>> {
        self.ticket.replace(ticket)
    }

    fn ticket_held(&self) -> bool {
        let ticket = self.ticket.take();
        let held = ticket.as_ref().is_some_and(|t| t.is_held());
        self.ticket.set(ticket);
        held
    }
}

/// The word of a holder that may be called, or destroyed, on several
/// threads.
#[doc(hidden)]
#[derive(Debug)]
pub struct AtomicWord {
    word: AtomicUsize,
    ticket: Mutex<Option<Arc<Ticket>>>,
}

impl StateWord for AtomicWord {
    const NEW: Self = AtomicWord {
        word: AtomicUsize::new(0),
        ticket: Mutex::new(None),
    };

    #[inline(always)]
    fn try_enter_exclusive(&self) -> bool {
        self.word
            .compare_exchange(0, EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline(always)]
    fn try_enter_shared(&self) -> bool {
        let word = self.word.fetch_add(SHARED, Ordering::Acquire);
        if word & (POISONED | DESTROYED | EXCLUSIVE) == 0 {
            return true;
        }
        // Not entered after all: undo. (A destroy racing this refused call
        // is C calling a callback it is destroying: the holder may then
        // leak, never be freed twice.)
        self.word.fetch_sub(SHARED, Ordering::AcqRel);
        false
    }

    #[inline(always)]
    fn leave_exclusive(&self) -> usize {
        self.word.fetch_sub(EXCLUSIVE, Ordering::AcqRel) - EXCLUSIVE
    }

    #[inline(always)]
    fn leave_shared(&self) -> usize {
        self.word.fetch_sub(SHARED, Ordering::AcqRel) - SHARED
    }

    fn load(&self) -> usize {
        self.word.load(Ordering::Acquire)
    }

    fn set(&self, bits: usize) -> usize {
        self.word.fetch_or(bits, Ordering::AcqRel)
    }

    fn clear(&self, bits: usize) -> usize {
        self.word.fetch_and(!bits, Ordering::AcqRel)
    }

    fn set_ticket(&self, ticket: Option<Arc<Ticket>>) -> Option<Arc<Ticket>> {
        let mut slot = self.ticket.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, ticket)
    }

    fn ticket_held(&self) -> bool {
        let slot = self.ticket.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().is_some_and(|t| t.is_held())
    }
}

/// A callback type's threading contract: the holder's state word, and
/// which threads may call it and drop its closure.
///
/// # Safety
/// `Word` must be an [`AtomicWord`] unless every call and destroy of a
/// holder with this contract comes from one thread at a time (the
/// contract's promise about the C library).
#[doc(hidden)]
pub unsafe trait Threading {
    /// The holder's state.
    type Word: StateWord;
    /// Calls on any thread but the holder's home are refused (`local`).
    const CALLS_ON_HOME_ONLY: bool;
    /// A destroy on another thread than the holder's home leaks the closure
    /// instead of dropping it there (every contract that does not require
    /// `Send` of its closures).
    const DROPS_ON_HOME_ONLY: bool;
}

/// Default and `reentrant`: called and destroyed on the thread that made
/// the callback (the C library's contract, as the type declares it); a
/// destroy found on another thread leaks the closure.
#[doc(hidden)]
#[derive(Debug)]
pub enum CallerThread {}

/// `local`: called only on the thread that made the callback (calls from
/// another thread are refused), destroyed on any (a destroy on another
/// thread leaks the closure and reports it).
#[doc(hidden)]
#[derive(Debug)]
pub enum HomeThread {}

/// `send` and `sync`: called and destroyed on any thread.
#[doc(hidden)]
#[derive(Debug)]
pub enum AnyThread {}

// SAFETY: the contract promises calls and destroys on the caller's thread.
unsafe impl Threading for CallerThread {
    type Word = LocalWord;
    const CALLS_ON_HOME_ONLY: bool = false;
    const DROPS_ON_HOME_ONLY: bool = true;
}

// SAFETY: calls from another thread are refused before they touch the word;
// destroys from another thread only read it while, by the contract, no call
// runs (GLib frees a source after its dispatch returns).
unsafe impl Threading for HomeThread {
    type Word = LocalWord;
    const CALLS_ON_HOME_ONLY: bool = true;
    const DROPS_ON_HOME_ONLY: bool = true;
}

// SAFETY: the word is atomic.
unsafe impl Threading for AnyThread {
    type Word = AtomicWord;
    const CALLS_ON_HOME_ONLY: bool = false;
    const DROPS_ON_HOME_ONLY: bool = false;
}

/// Contracts under which a Rust owner (`Boxed`, `Once`) may move to another
/// thread with its closure: only where C may call on any thread too (the
/// state word is atomic). Elsewhere C calls on the home thread, and an owner
/// dropped on another thread would race with those calls.
#[diagnostic::on_unimplemented(
    message = "this callback's owner cannot move to another thread: its callback type is not declared `send` or `sync`",
    label = "C calls it on the thread that made it",
    note = "a callback type without `send`/`sync` is called by C on the thread that made it, so \
            the `Boxed`/`Once` that owns it stays there too (dropping it elsewhere would race \
            with those calls); if C may call it on other threads, declare the type \
            `#[callback(send)]`"
)]
#[doc(hidden)]
pub trait OwnerMayMove {}
impl OwnerMayMove for AnyThread {}

/// What a closure must be for exclusive (`FnMut`) calls under a contract:
/// anything on one thread, `Send` when calls may come from any thread.
#[doc(hidden)]
pub trait ExclusiveCalls<F> {}
impl<F> ExclusiveCalls<F> for CallerThread {}
impl<F> ExclusiveCalls<F> for HomeThread {}
impl<F: Send> ExclusiveCalls<F> for AnyThread {}

/// What a closure must be for shared (`Fn`) calls under a contract:
/// `Send + Sync` when they may run on several threads at once.
#[doc(hidden)]
pub trait SharedCalls<F> {}
impl<F> SharedCalls<F> for CallerThread {}
impl<F> SharedCalls<F> for HomeThread {}
impl<F: Send + Sync> SharedCalls<F> for AnyThread {}

/// A small unique id for the current thread (never 0, never reused),
/// from a const-initialised thread-local.
pub(crate) fn current_thread() -> NonZeroU64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: Cell<u64> = const { Cell::new(0) };
    }
    ID.with(|id| {
        let known = id.get();
        let known = if known == 0 {
            let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
            id.set(fresh);
            fresh
        } else {
            known
        };
        NonZeroU64::new(known).unwrap_or(NonZeroU64::MIN)
    })
}
