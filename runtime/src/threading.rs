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
//!
//! A call whose entry fails goes to a slow path that still reads the word,
//! may write it (a refusal kept by a guard poisons the holder) and may run
//! user code meanwhile (the panic hook, while the call is refused). On the
//! atomic word, calls on other threads may leave during that time, and the
//! last one out of a destroyed holder frees it; so the slow path holds the
//! holder with one `SHARED` count for as long as it uses it, and releases
//! it as a shared call leaves, the last one out freeing: a failed shared
//! entry keeps the count its `fetch_add` added, a failed exclusive entry
//! (whose compare-exchange wrote nothing) adds one first. A destroy meanwhile
//! is deferred, as for a running call. Between the failed compare-exchange
//! and that count no user code runs: until some has run, no C program can
//! know that the call reached the holder at all, so it is no different from
//! a call that arrives a moment later, which C must not make once it may
//! have been freed; the same holds for the entry a healed call starts over
//! with. The fast paths are untouched. The word of a holder called on one
//! thread at a time needs no hold: nothing else can leave while its slow
//! path runs, and a destroy from that path's own user code is deferred by
//! the call it refused (re-entry runs beneath it).
//!
//! A destroy that ends the holder runs user code too: the closure's drop
//! (or a set's destroy entry), which may make C call back (a state that
//! owns a C object frees it, and the C library flushes through its
//! callbacks). Meanwhile the destroy holds the holder
//! ([`StateWord::hold_destroyed`]): the word shows a call running, so the
//! call back fails to enter and is refused as a call after the destroy,
//! its release frees nothing, and a second destroy finds a call running
//! and does nothing. The holder is freed once the hold is released, by the
//! destroy, or by a refused call on another thread that outlasted it.

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
///
/// The word as the methods below show it: the flags above, and `SHARED`
/// times the number of shared calls running.
#[doc(hidden)]
pub trait StateWord {
    /// An idle, healthy holder.
    const NEW: Self;

    /// Enters an exclusive call if the holder is idle and healthy: the
    /// fast path, one read-modify-write in place. When it does not, the
    /// caller calls
    /// [`hold_failed_exclusive`](StateWord::hold_failed_exclusive) first
    /// thing on its slow path.
    fn try_enter_exclusive(&self) -> bool;
    /// After a failed
    /// [`try_enter_exclusive`](StateWord::try_enter_exclusive): undoes what
    /// it left in the word, or, where calls on other threads may leave and
    /// free the holder meanwhile (the atomic word), holds the holder with
    /// one `SHARED` count, which defers a destroy as a running call does.
    /// Either way, until
    /// [`release_failed_entry`](StateWord::release_failed_entry).
    fn hold_failed_exclusive(&self);
    /// Enters a shared call if no exclusive call runs and the holder is
    /// healthy. When it does not, the caller calls
    /// [`hold_failed_shared`](StateWord::hold_failed_shared) first thing
    /// on its slow path.
    fn try_enter_shared(&self) -> bool;
    /// After a failed [`try_enter_shared`](StateWord::try_enter_shared):
    /// as [`hold_failed_exclusive`](StateWord::hold_failed_exclusive) (the
    /// atomic word keeps the count the failed entry added as the hold).
    fn hold_failed_shared(&self);
    /// After a failed [`try_enter_shared`](StateWord::try_enter_shared),
    /// before anything else: enters the shared call after all if only the
    /// poison kept it out (no exclusive call runs and no destroy came), for
    /// an entry that runs on a poisoned state (`runs_poisoned`: an
    /// allocator's `free`). Otherwise leaves the word as the failed entry
    /// left it, for the slow path. Off the fast paths.
    fn enter_shared_despite_poison(&self) -> bool;
    /// The last thing a failed entry's slow path does with the holder:
    /// releases the hold, if any, as [`leave_shared`](StateWord::leave_shared)
    /// does (0 if there is nothing more to do, else the word afterwards: a
    /// destroy came meanwhile, and the caller frees the holder if no call
    /// runs any more); 0 for a word that took no hold.
    ///
    /// # Safety
    /// `word` is the word of a live holder, after a `hold_failed_*` on it
    /// that has not been released. A raw pointer, not `&self`: once the
    /// hold is released another thread may free the holder, so no
    /// reference to it (protected for the length of a call that takes it)
    /// may outlive the release.
    unsafe fn release_failed_entry(word: *const Self) -> usize;
    /// Holds a destroyed holder that no call runs on while its destroy runs
    /// user code (the closure's drop, a set's destroy entry): the word
    /// shows a call running, so a call C makes meanwhile fails to enter
    /// (and is refused, as after the destroy), and neither its release nor
    /// a second destroy frees the holder. Until
    /// [`release_destroyed`](StateWord::release_destroyed). Off the fast
    /// paths.
    fn hold_destroyed(&self);
    /// Releases [`hold_destroyed`](StateWord::hold_destroyed)'s hold: true
    /// if no call runs or holds the holder any more (the caller frees it);
    /// false if a refused call on another thread still holds it (the last
    /// one out frees it, as after a leave).
    ///
    /// # Safety
    /// `word` is the word of a live holder, after a `hold_destroyed` on it
    /// that has not been released. A raw pointer, as for
    /// [`release_failed_entry`](StateWord::release_failed_entry).
    unsafe fn release_destroyed(word: *const Self) -> bool;
    /// Destroys and holds a holder that no call runs on or holds, poisoned
    /// or not, as one step: the word afterwards is as after
    /// [`set(DESTROYED)`](StateWord::set) then
    /// [`hold_destroyed`](StateWord::hold_destroyed), released by
    /// [`release_destroyed`](StateWord::release_destroyed). False, and the
    /// word unchanged, if a call runs or holds it (a failed entry's hold, a
    /// destroy's) or it is destroyed already. On the atomic word one
    /// compare-exchange decides: a call on another thread either entered
    /// (or holds it) before, and this fails, or comes after, and finds the
    /// holder destroyed. For a Rust owner taking the state back
    /// ([`BoxedSet::into_inner`](crate::BoxedSet::into_inner)); off the
    /// fast paths.
    fn try_destroy_idle(&self) -> bool;
    /// Leaves an exclusive call: 0 if there is nothing more to do, else
    /// non-zero (a destroy is pending or the holder was poisoned
    /// meanwhile): the word afterwards, unless `LEAVE_REREADS`.
    ///
    /// # Safety
    /// `word` is the word of a live holder that this call entered and has
    /// not left. A raw pointer, as for
    /// [`release_failed_entry`](StateWord::release_failed_entry): once the
    /// call has left, another thread's call or hold may free the holder.
    unsafe fn leave_exclusive(word: *const Self) -> usize;
    /// Leaves a shared call: 0 if there is nothing more to do, else
    /// non-zero (a destroy is pending; for a word that may be re-read, or
    /// the holder is poisoned): the word afterwards, unless
    /// `LEAVE_REREADS`.
    ///
    /// # Safety
    /// As for [`leave_exclusive`](StateWord::leave_exclusive).
    unsafe fn leave_shared(word: *const Self) -> usize;
    /// The word may be read again after a leave to see what the leave saw
    /// (calls and destroys come from one thread at a time): the leave is
    /// then one read-modify-write in place and a branch, and the slow path
    /// re-reads the word. An atomic word must keep what its own leave saw:
    /// re-reading would let two leaving threads both free.
    const LEAVE_REREADS: bool;
    /// The word.
    fn load(&self) -> usize;
    /// Sets `POISONED` or `DESTROYED`; the word before.
    fn set(&self, flag: usize) -> usize;
    /// Clears `POISONED`; the word before.
    fn clear(&self, flag: usize) -> usize;
    /// Poisons: keeps the guard's ticket and sets `POISONED`, as one step
    /// against a heal on another thread. A ticket there still held (a
    /// guard on another thread, or an outer one, keeps what poisoned the
    /// holder before) is kept with it ([`Ticket::join`]): the holder
    /// stays poisoned until both guards have let go. Returns the ticket
    /// replaced, to drop after.
    fn poison(&self, ticket: Arc<Ticket>) -> Option<Arc<Ticket>>;
    /// Heals a poisoned word whose ticket is no longer held: clears the
    /// ticket and `POISONED`, as one step against a poisoning on another
    /// thread (which would otherwise be wiped). `Err` while the ticket is
    /// held; `Ok` with the ticket taken (to drop after) otherwise, also
    /// when the word is no longer poisoned.
    fn heal(&self) -> Result<Option<Arc<Ticket>>, ()>;
    /// Whether the ticket that poisoned the holder is still held.
    fn ticket_held(&self) -> bool;
}

/// The word of a holder whose calls all come from one thread at a time.
///
/// Stored so that every check of the fast paths is one read-modify-write
/// in place and a branch on its result. The stored word is a run part plus
/// the flags: the run part is `IDLE` while no call runs, 0 while an
/// exclusive call runs, and `IDLE - SHARED * n` while `n` shared calls
/// run; `POISONED` and `DESTROYED` are each stored as their bit minus
/// `BLOCKED`, so that the word is negative exactly while one is set. Then
/// an exclusive call enters with `subq $IDLE, (word); jne` (only an idle,
/// healthy word becomes 0) and leaves with `addq $IDLE, (word); js`, and a
/// shared call enters with `subq $8, (word); js` (negative: a flag, an
/// exclusive call, or the count at its limit) and leaves with
/// `addq $8, (word); js`, all with 32-bit immediates on 64-bit targets. A
/// failed entry has changed the word, and is cancelled on the slow path.
#[doc(hidden)]
pub struct LocalWord {
    word: Cell<usize>,
    ticket: Cell<Option<Arc<Ticket>>>,
}

/// What each flag adds to a [`LocalWord`]'s stored word besides its bit
/// (it subtracts this). 2^31 on 64-bit targets; on narrower ones small
/// enough that both flags (-2 * BLOCKED) still leave the word negative.
const BLOCKED: usize = if usize::BITS >= 64 {
    1 << 31
} else {
    1 << (usize::BITS - 3)
};

/// A [`LocalWord`]'s run part while no call runs: below `BLOCKED` (one
/// flag makes the word negative), a multiple of 4 (the flags' bits stay
/// clear) but not of 8 (no count of shared calls brings it to 0, which
/// means an exclusive call), and an immediate operand on x86-64.
const IDLE: usize = if usize::BITS >= 64 {
    (1 << 30) + 4
} else {
    (1 << (usize::BITS - 4)) + 4
};

impl LocalWord {
    /// A flag's bit as stored: the bit, and minus `BLOCKED`.
    const fn stored(flag: usize) -> usize {
        flag.wrapping_sub(BLOCKED)
    }

    /// The stored word as [`StateWord::load`] shows it.
    #[inline]
    fn shown(word: usize) -> usize {
        let flags = word & (POISONED | DESTROYED);
        // Take the stored flags out: each is its bit minus `BLOCKED`.
        let count = (flags & POISONED) + (flags >> 1);
        let run = word
            .wrapping_sub(flags)
            .wrapping_add(count.wrapping_mul(BLOCKED));
        let running = if run == 0 {
            EXCLUSIVE
        } else {
            // `SHARED` times the shared calls.
            IDLE.wrapping_sub(run)
        };
        flags | running
    }
}

/// Keeps the compiler from carrying the word from an entry to its leave:
/// where it can see that the closure does not touch the word (a set's
/// state inline in the holder), it would keep the word from before the
/// entry in a register for the leave, which costs more instructions than
/// the leave's read-modify-write in place. Emits nothing.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn no_forwarding() {
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
}

impl StateWord for LocalWord {
    const NEW: Self = LocalWord {
        word: Cell::new(IDLE),
        ticket: Cell::new(None),
    };
    const LEAVE_REREADS: bool = true;

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn try_enter_exclusive(&self) -> bool {
        let word = self.word.get().wrapping_sub(IDLE);
        self.word.set(word);
        no_forwarding();
        // Not 0: a flag, or calls running; `hold_failed_exclusive` takes
        // the subtraction back, off the fast path.
        word == 0
    }

    fn hold_failed_exclusive(&self) {
        // Undone: no hold is needed (calls and destroys come from one
        // thread at a time).
        self.word.set(self.word.get().wrapping_add(IDLE));
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn try_enter_shared(&self) -> bool {
        let word = self.word.get().wrapping_sub(SHARED);
        self.word.set(word);
        no_forwarding();
        // Negative: poisoned, destroyed, or an exclusive call runs; the
        // count is taken back by `hold_failed_shared`, off the fast path.
        (word as isize) >= 0
    }

    fn hold_failed_shared(&self) {
        self.word.set(self.word.get().wrapping_add(SHARED));
    }

    fn enter_shared_despite_poison(&self) -> bool {
        // The failed entry's count, taken back to read the word as it was,
        // then put back: the entry's (entered) or the slow path's to undo.
        self.hold_failed_shared();
        let poisoned_only = self.load() & (DESTROYED | EXCLUSIVE) == 0;
        self.word.set(self.word.get().wrapping_sub(SHARED));
        poisoned_only
    }

    unsafe fn release_failed_entry(_: *const Self) -> usize {
        0
    }

    fn hold_destroyed(&self) {
        // As an exclusive entry: no call runs, so the run part goes from
        // `IDLE` to 0, which shows one exclusive call; the flag keeps the
        // word negative, so every entry fails meanwhile.
        self.word.set(self.word.get().wrapping_sub(IDLE));
    }

    unsafe fn release_destroyed(word: *const Self) -> bool {
        // SAFETY: a live holder's word, by the caller's promise.
        let cell = unsafe { &(*word).word };
        cell.set(cell.get().wrapping_add(IDLE));
        // Nothing else can be running: no call entered (destroyed and
        // held), and failed entries take no hold on this word.
        true
    }

    fn try_destroy_idle(&self) -> bool {
        // One thread at a time: nothing changes the word between the look
        // and the writes.
        if self.load() & !POISONED != 0 {
            return false;
        }
        self.set(DESTROYED);
        self.hold_destroyed();
        true
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    unsafe fn leave_exclusive(word: *const Self) -> usize {
        // SAFETY: a live holder's word, by the caller's promise.
        let cell = unsafe { &(*word).word };
        let word = cell.get().wrapping_add(IDLE);
        cell.set(word);
        usize::from((word as isize) < 0)
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    unsafe fn leave_shared(word: *const Self) -> usize {
        // SAFETY: as above.
        let cell = unsafe { &(*word).word };
        let word = cell.get().wrapping_add(SHARED);
        cell.set(word);
        usize::from((word as isize) < 0)
    }

    fn load(&self) -> usize {
        Self::shown(self.word.get())
    }

    fn set(&self, flag: usize) -> usize {
        let word = self.word.get();
        if word & flag == 0 {
            self.word.set(word.wrapping_add(Self::stored(flag)));
        }
        Self::shown(word)
    }

    fn clear(&self, flag: usize) -> usize {
        let word = self.word.get();
        if word & flag != 0 {
            self.word.set(word.wrapping_sub(Self::stored(flag)));
        }
        Self::shown(word)
    }

    fn poison(&self, ticket: Arc<Ticket>) -> Option<Arc<Ticket>> {
        let old = self.ticket.take();
        self.ticket.set(Some(Ticket::join(old.as_ref(), ticket)));
        self.set(POISONED);
        old
    }

    fn heal(&self) -> Result<Option<Arc<Ticket>>, ()> {
        if self.load() & POISONED == 0 {
            return Ok(None);
        }
        if self.ticket_held() {
            return Err(());
        }
        self.clear(POISONED);
        Ok(self.ticket.take())
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
    const LEAVE_REREADS: bool = false;

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn try_enter_exclusive(&self) -> bool {
        self.word
            .compare_exchange(0, EXCLUSIVE, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn try_enter_shared(&self) -> bool {
        // Not entered if a flag or an exclusive call is there: the count
        // stays, as the slow path's hold (`hold_failed_shared`), and is
        // released by `release_failed_entry`.
        let word = self.word.fetch_add(SHARED, Ordering::Acquire);
        word & (POISONED | DESTROYED | EXCLUSIVE) == 0
    }

    fn hold_failed_exclusive(&self) {
        // The failed compare-exchange wrote nothing: the hold is a count of
        // its own (see the module docs for the gap before it).
        self.word.fetch_add(SHARED, Ordering::Acquire);
    }

    fn hold_failed_shared(&self) {}

    fn enter_shared_despite_poison(&self) -> bool {
        // The failed entry's count is in the word: with it there no
        // exclusive call can enter, and a destroy coming after this look is
        // deferred until the count leaves, as for any shared call. An
        // exclusive call that left since the count was added did so with
        // release ordering, which this load acquires.
        self.load() & (DESTROYED | EXCLUSIVE) == 0
    }

    unsafe fn release_failed_entry(word: *const Self) -> usize {
        // SAFETY: by the caller's promise, a live holder's word, held. The
        // reference made here is to the atomic alone, all of it inside an
        // `UnsafeCell`, as for `Arc`'s count: a free on another thread once
        // the count is released does not invalidate it.
        let atomic = unsafe { &(*word).word };
        let word = atomic.fetch_sub(SHARED, Ordering::AcqRel) - SHARED;
        if word & DESTROYED != 0 { word } else { 0 }
    }

    fn hold_destroyed(&self) {
        // A count, as a failed entry's hold: refused calls on other threads
        // may hold it too, and whichever lets go last frees.
        self.word.fetch_add(SHARED, Ordering::Acquire);
    }

    unsafe fn release_destroyed(word: *const Self) -> bool {
        // SAFETY: as in `release_failed_entry`.
        let atomic = unsafe { &(*word).word };
        let word = atomic.fetch_sub(SHARED, Ordering::AcqRel) - SHARED;
        word & RUNNING == 0
    }

    fn try_destroy_idle(&self) -> bool {
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word & !POISONED != 0 {
                return false;
            }
            // Idle (poisoned or not) to destroyed and held, only if the
            // word is still `word`: a call that entered or took a hold
            // meanwhile makes this fail, and a call after it finds the
            // holder destroyed. Acquire: what the last call out wrote
            // (its leave releases) is seen by the owner it is handed to.
            match self.word.compare_exchange(
                word,
                word | DESTROYED | SHARED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                // Changed meanwhile (a stale first look, or a heal between
                // poisoned and healthy): look again; a call or hold now
                // there makes this fail above.
                Err(now) => word = now,
            }
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    unsafe fn leave_exclusive(word: *const Self) -> usize {
        // SAFETY: a live holder's word, by the caller's promise; the
        // reference is to the atomic alone, as in `release_failed_entry`.
        let atomic = unsafe { &(*word).word };
        atomic.fetch_sub(EXCLUSIVE, Ordering::AcqRel) - EXCLUSIVE
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    unsafe fn leave_shared(word: *const Self) -> usize {
        // SAFETY: as above.
        let atomic = unsafe { &(*word).word };
        let word = atomic.fetch_sub(SHARED, Ordering::AcqRel) - SHARED;
        if word & DESTROYED != 0 { word } else { 0 }
    }

    fn load(&self) -> usize {
        self.word.load(Ordering::Acquire)
    }

    fn set(&self, flag: usize) -> usize {
        self.word.fetch_or(flag, Ordering::AcqRel)
    }

    fn clear(&self, flag: usize) -> usize {
        self.word.fetch_and(!flag, Ordering::AcqRel)
    }

    fn poison(&self, ticket: Arc<Ticket>) -> Option<Arc<Ticket>> {
        // Under the ticket's lock, as `heal` checks and clears: the two
        // steps of each are one to the other.
        let mut slot = self.ticket.lock().unwrap_or_else(PoisonError::into_inner);
        let joined = Ticket::join(slot.as_ref(), ticket);
        let old = slot.replace(joined);
        self.word.fetch_or(POISONED, Ordering::AcqRel);
        old
    }

    fn heal(&self) -> Result<Option<Arc<Ticket>>, ()> {
        let mut slot = self.ticket.lock().unwrap_or_else(PoisonError::into_inner);
        if self.word.load(Ordering::Acquire) & POISONED == 0 {
            return Ok(None);
        }
        if slot.as_ref().is_some_and(|t| t.is_held()) {
            return Err(());
        }
        self.word.fetch_and(!POISONED, Ordering::AcqRel);
        Ok(slot.take())
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

/// The threading contract of a callback (set) declared without `send`,
/// `sync` or `local` (and with `reentrant`): called and destroyed on the
/// thread that made it (the C library's contract, as the declaration
/// states); a destroy found on another thread leaks the closure. Its
/// owners ([`BoxedSet`](crate::BoxedSet), [`Boxed`](crate::Boxed)) stay on
/// that thread.
#[derive(Debug)]
pub enum CallerThread {}

/// The threading contract of a callback (set) declared `local`: called
/// only on the thread that made it (calls from another thread are refused
/// and reported, and C gets the fallback; under `on_panic = abort` the
/// process aborts, under `unwind` the refusal unwinds), destroyed on any (a destroy on
/// another thread leaks the closure and reports it). A destroy on another
/// thread must not overlap a call on the home thread (GLib frees a source
/// after its dispatch returns): only one on the home thread during a call
/// is deferred until the call returns.
#[derive(Debug)]
pub enum HomeThread {}

/// The threading contract of a callback (set) declared `send` or `sync`:
/// called and destroyed on any thread (its state word is atomic).
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

/// Contracts under which a Rust owner (`Boxed`, `Once`, `BoxedSet`) may
/// move to another thread with its closure or state: only where C may call
/// on any thread too (the state word is atomic). Elsewhere C calls on the
/// home thread, and an owner dropped on another thread would race with
/// those calls.
#[diagnostic::on_unimplemented(
    message = "this callback's owner cannot move to another thread: its callback type or set is not declared `send` or `sync`",
    label = "C calls it on the thread that made it",
    note = "a callback type or set without `send`/`sync` is called by C on the thread that made \
            it, so the `Boxed`/`Once`/`BoxedSet` (or `new` holder) that owns it stays there too \
            (dropping it elsewhere would race with those calls); if C may call it on other \
            threads, or its C object moves between threads with its owner (a connection driven \
            from one thread at a time), declare it `#[callback(send)]`"
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

thread_local! {
    /// This thread's id from [`current_thread`], 0 until it asks.
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
}

/// A small unique id for the current thread (never 0, never reused),
/// from a const-initialised thread-local, handed out the first time a
/// thread asks.
#[inline]
pub(crate) fn current_thread() -> NonZeroU64 {
    match NonZeroU64::new(THREAD_ID.with(Cell::get)) {
        Some(id) => id,
        None => new_thread_id(),
    }
}

/// This thread's id if it has one, else 0: a thread-local load, for the
/// `local` trampolines' check (the thread that made a holder has an id).
#[inline]
pub(crate) fn current_thread_if_known() -> u64 {
    THREAD_ID.with(Cell::get)
}

#[cold]
#[inline(never)]
fn new_thread_id() -> NonZeroU64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
    THREAD_ID.with(|id| id.set(fresh));
    NonZeroU64::new(fresh).unwrap_or(NonZeroU64::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every combination of the flags and a few shared calls, on both
    /// words: a shared entry succeeds exactly when no flag is set, an
    /// exclusive one exactly on an idle healthy word, and `load` shows the
    /// flags and the count. (Run under Miri on a 32-bit target too, where
    /// `LocalWord`'s stored flags must not wrap to a positive word.)
    /// Runs `check` on a word in every combination of the flags and a few
    /// shared calls (or one exclusive call, for the `EXCLUSIVE` flag with
    /// none shared): the word, the shared calls, the flags, whether an
    /// exclusive call runs.
    fn each_state<W: StateWord>(mut check: impl FnMut(W, usize, usize, bool)) {
        for shared in 0..3usize {
            for flags in 0..8usize {
                let word = W::NEW;
                for _ in 0..shared {
                    assert!(word.try_enter_shared());
                }
                let exclusive = flags & EXCLUSIVE != 0 && shared == 0;
                if exclusive {
                    assert!(word.try_enter_exclusive());
                }
                for flag in [POISONED, DESTROYED] {
                    if flags & flag != 0 {
                        word.set(flag);
                    }
                }
                check(word, shared, flags, exclusive);
            }
        }
    }

    fn check_every_state<W: StateWord>() {
        each_state::<W>(|word, shared, flags, exclusive| {
            let blocked = flags & (POISONED | DESTROYED) != 0 || exclusive;
            let running = if exclusive {
                EXCLUSIVE
            } else {
                shared * SHARED
            };
            let shown = (flags & (POISONED | DESTROYED)) | running;
            assert_eq!(word.load(), shown, "flags {flags:#b}, {shared} shared");
            // A failed entry's slow path: the atomic word holds the
            // holder with one shared count meanwhile (a destroy then
            // waits for it), the other word undoes the entry; the
            // release reports a destroy to act on, as a leave does.
            let held = if W::LEAVE_REREADS {
                shown
            } else {
                shown + SHARED
            };
            let released = if W::LEAVE_REREADS {
                0
            } else {
                shown & DESTROYED
            };
            assert_eq!(word.try_enter_shared(), !blocked, "flags {flags:#b}");
            if blocked {
                word.hold_failed_shared();
                assert_eq!(word.load(), held, "flags {flags:#b}");
                // SAFETY: held above, released once.
                let left = unsafe { W::release_failed_entry(&word) };
                assert_eq!(left & DESTROYED, released, "flags {flags:#b}");
            } else {
                // SAFETY: a live word this test entered and has not left.
                assert_eq!(unsafe { W::leave_shared(&word) }, 0);
            }
            assert_eq!(word.load(), shown);
            assert_eq!(word.try_enter_exclusive(), shown == 0);
            if shown == 0 {
                assert_eq!(word.load(), EXCLUSIVE);
                // SAFETY: a live word this test entered and has not left.
                assert_eq!(unsafe { W::leave_exclusive(&word) }, 0);
            } else {
                word.hold_failed_exclusive();
                assert_eq!(word.load(), held, "flags {flags:#b}");
                // SAFETY: as above.
                let left = unsafe { W::release_failed_entry(&word) };
                assert_eq!(left & DESTROYED, released, "flags {flags:#b}");
            }
            assert_eq!(word.load(), shown);
            // The running calls leave: a leave reports something to do
            // exactly when a flag is set (for the atomic word, which
            // keeps what its leave saw, only a destroy).
            let flagged = flags & (POISONED | DESTROYED);
            let reported = |left: usize| {
                if W::LEAVE_REREADS {
                    left != 0
                } else {
                    left & DESTROYED != 0
                }
            };
            let reports = if W::LEAVE_REREADS {
                flagged != 0
            } else {
                flagged & DESTROYED != 0
            };
            if exclusive {
                assert_eq!(
                    // SAFETY: a live word this test entered and has not left.
                    reported(unsafe { W::leave_exclusive(&word) }),
                    reports,
                    "flags {flags:#b}"
                );
            }
            for _ in 0..shared {
                assert_eq!(
                    // SAFETY: a live word this test entered and has not left.
                    reported(unsafe { W::leave_shared(&word) }),
                    reports,
                    "flags {flags:#b}"
                );
            }
            assert_eq!(word.load(), flagged);
            if flags & POISONED != 0 {
                assert_eq!(word.clear(POISONED) & POISONED, POISONED);
                assert_eq!(word.load(), flagged & !POISONED);
            }
            // Back to idle and healthy: both kinds of call enter.
            if flagged & DESTROYED == 0 {
                assert!(word.try_enter_exclusive(), "flags {flags:#b}");
                // SAFETY: a live word this test entered and has not left.
                assert_eq!(unsafe { W::leave_exclusive(&word) }, 0);
                assert!(word.try_enter_shared(), "flags {flags:#b}");
                // SAFETY: a live word this test entered and has not left.
                assert_eq!(unsafe { W::leave_shared(&word) }, 0);
            }
        });
    }

    #[test]
    fn local_word_every_state() {
        check_every_state::<LocalWord>();
    }

    #[test]
    fn atomic_word_every_state() {
        check_every_state::<AtomicWord>();
    }

    /// `runs_poisoned`'s entry, from every state: entered after a failed
    /// shared entry only when the poison alone kept it out, and either way
    /// the word ends as it was.
    fn enter_despite_poison_every_state<W: StateWord>() {
        each_state::<W>(|word, shared, flags, exclusive| {
            let shown = word.load();
            if word.try_enter_shared() {
                // SAFETY: a live word this test entered and has not left.
                unsafe { W::leave_shared(&word) };
                return;
            }
            let poisoned_only = flags & POISONED != 0 && flags & DESTROYED == 0 && !exclusive;
            assert_eq!(
                word.enter_shared_despite_poison(),
                poisoned_only,
                "flags {flags:#b}"
            );
            if poisoned_only {
                assert_eq!(
                    word.load(),
                    shown + SHARED,
                    "flags {flags:#b}, {shared} shared"
                );
                // SAFETY: entered above, left once.
                unsafe { W::leave_shared(&word) };
            } else {
                word.hold_failed_shared();
                // SAFETY: held above, released once.
                unsafe { W::release_failed_entry(&word) };
            }
            assert_eq!(word.load(), shown, "flags {flags:#b}, {shared} shared");
        });
    }

    #[test]
    fn local_word_enter_despite_poison_every_state() {
        enter_despite_poison_every_state::<LocalWord>();
    }

    #[test]
    fn atomic_word_enter_despite_poison_every_state() {
        enter_despite_poison_every_state::<AtomicWord>();
    }

    /// A destroy's hold while the closure is dropped: the word shows a call
    /// running, every entry fails, a failed entry's release frees nothing,
    /// and the release of the hold says the holder is free to go.
    fn destroyed_and_held<W: StateWord>() {
        for poisoned in [false, true] {
            let word = W::NEW;
            if poisoned {
                word.set(POISONED);
            }
            word.set(DESTROYED);
            word.hold_destroyed();
            assert_ne!(word.load() & RUNNING, 0);
            assert!(!word.try_enter_exclusive());
            word.hold_failed_exclusive();
            // SAFETY: held above, released once.
            let left = unsafe { W::release_failed_entry(&word) };
            assert!(left == 0 || left & RUNNING != 0, "nothing to free");
            assert!(!word.try_enter_shared());
            word.hold_failed_shared();
            // SAFETY: as above.
            let left = unsafe { W::release_failed_entry(&word) };
            assert!(left == 0 || left & RUNNING != 0, "nothing to free");
            // A second destroy finds a call running: it does nothing.
            assert_ne!(word.set(DESTROYED) & RUNNING, 0);
            // SAFETY: held by `hold_destroyed`, released once.
            assert!(unsafe { W::release_destroyed(&word) });
            let flags = if poisoned {
                POISONED | DESTROYED
            } else {
                DESTROYED
            };
            assert_eq!(word.load(), flags);
        }
    }

    #[test]
    fn local_word_destroyed_and_held() {
        destroyed_and_held::<LocalWord>();
    }

    #[test]
    fn atomic_word_destroyed_and_held() {
        destroyed_and_held::<AtomicWord>();
    }

    /// A Rust owner takes an idle holder back (healthy or poisoned): the
    /// word is destroyed and held, as by a destroy, every entry fails, and
    /// the release says the holder is free to go. With a call running, or
    /// a failed entry holding the atomic word, or destroyed already, it
    /// fails and changes nothing.
    fn destroy_idle<W: StateWord>() {
        for poisoned in [false, true] {
            let flag = if poisoned { POISONED } else { 0 };
            let poison = |word: &W| {
                if poisoned {
                    word.set(POISONED);
                }
            };
            let word = W::NEW;
            poison(&word);
            assert!(word.try_destroy_idle());
            assert_eq!(word.load() & !RUNNING, flag | DESTROYED);
            assert_ne!(word.load() & RUNNING, 0, "held");
            assert!(!word.try_enter_exclusive());
            word.hold_failed_exclusive();
            // SAFETY: held above, released once.
            let left = unsafe { W::release_failed_entry(&word) };
            assert!(left == 0 || left & RUNNING != 0, "nothing to free");
            assert!(!word.try_enter_shared());
            word.hold_failed_shared();
            // SAFETY: as above.
            let left = unsafe { W::release_failed_entry(&word) };
            assert!(left == 0 || left & RUNNING != 0, "nothing to free");
            assert!(!word.try_destroy_idle(), "held");
            // SAFETY: held by `try_destroy_idle`, released once.
            assert!(unsafe { W::release_destroyed(&word) });
            assert_eq!(word.load(), flag | DESTROYED);
            assert!(!word.try_destroy_idle(), "destroyed already");
            assert_eq!(word.load(), flag | DESTROYED);

            // A call running: refused, nothing changed.
            let word = W::NEW;
            assert!(word.try_enter_exclusive());
            poison(&word);
            assert!(!word.try_destroy_idle());
            assert_eq!(word.load(), flag | EXCLUSIVE);
            // SAFETY: a live word this test entered and has not left.
            unsafe { W::leave_exclusive(&word) };
            word.clear(POISONED);
            assert!(word.try_enter_shared());
            poison(&word);
            assert!(!word.try_destroy_idle());
            assert_eq!(word.load(), flag | SHARED);
            // SAFETY: as above.
            unsafe { W::leave_shared(&word) };
            assert_eq!(word.load(), flag);
            assert!(word.try_destroy_idle(), "idle again");
        }
        if !W::LEAVE_REREADS {
            // A failed entry's hold on the atomic word (a call refused on
            // another thread): refused too.
            let word = W::NEW;
            word.set(POISONED);
            assert!(!word.try_enter_shared());
            word.hold_failed_shared();
            assert!(!word.try_destroy_idle());
            assert_eq!(word.load(), POISONED | SHARED);
            // SAFETY: held above, released once.
            assert_eq!(unsafe { W::release_failed_entry(&word) }, 0);
            assert!(word.try_destroy_idle(), "idle again");
        }
    }

    #[test]
    fn local_word_destroy_idle() {
        destroy_idle::<LocalWord>();
    }

    #[test]
    fn atomic_word_destroy_idle() {
        destroy_idle::<AtomicWord>();
    }

    /// A heal clears the poison only once the ticket's guard let it go, and
    /// takes the ticket with it; a poisoning keeps both.
    fn heal_follows_the_ticket<W: StateWord>() {
        let word = W::NEW;
        assert!(matches!(word.heal(), Ok(None)), "nothing to heal");
        let ticket = Arc::new(crate::panic::Ticket::held_for_test(true));
        assert!(word.poison(Arc::clone(&ticket)).is_none());
        assert_eq!(word.load() & POISONED, POISONED);
        assert!(word.ticket_held());
        assert!(word.heal().is_err(), "the guard still holds its panic");
        assert_eq!(word.load() & POISONED, POISONED);
        ticket.release_for_test();
        let taken = word.heal().expect("released: healed");
        assert!(taken.is_some_and(|taken| Arc::ptr_eq(&taken, &ticket)));
        assert_eq!(word.load() & POISONED, 0);
        assert!(!word.ticket_held());
    }

    /// Two guards poison one holder (calls on two threads): it stays
    /// poisoned until both have let go, whichever lets go first.
    fn poisoned_until_every_guard_lets_go<W: StateWord>() {
        for first_out in [0, 1] {
            let word = W::NEW;
            let tickets = [
                Arc::new(crate::panic::Ticket::held_for_test(true)),
                Arc::new(crate::panic::Ticket::held_for_test(true)),
            ];
            drop(word.poison(Arc::clone(&tickets[0])));
            drop(word.poison(Arc::clone(&tickets[1])));
            // Again: the same guard's ticket adds nothing.
            drop(word.poison(Arc::clone(&tickets[1])));
            tickets[first_out].release_for_test();
            assert!(word.ticket_held());
            assert!(
                word.heal().is_err(),
                "the other guard still keeps its panic"
            );
            tickets[1 - first_out].release_for_test();
            assert!(!word.ticket_held());
            assert!(word.heal().is_ok());
            assert_eq!(word.load() & POISONED, 0);
            // Released tickets are not kept: a new poisoning is its own.
            let third = Arc::new(crate::panic::Ticket::held_for_test(true));
            drop(word.poison(Arc::clone(&third)));
            third.release_for_test();
            assert!(
                word.heal()
                    .is_ok_and(|t| t.is_some_and(|t| Arc::ptr_eq(&t, &third)))
            );
        }
    }

    #[test]
    fn local_word_poisoned_until_every_guard_lets_go() {
        poisoned_until_every_guard_lets_go::<LocalWord>();
    }

    #[test]
    fn atomic_word_poisoned_until_every_guard_lets_go() {
        poisoned_until_every_guard_lets_go::<AtomicWord>();
    }

    #[test]
    fn local_word_heal_follows_the_ticket() {
        heal_follows_the_ticket::<LocalWord>();
    }

    #[test]
    fn atomic_word_heal_follows_the_ticket() {
        heal_follows_the_ticket::<AtomicWord>();
    }
}
