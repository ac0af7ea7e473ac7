//! C destroys a set a second time while the first destroy drops its state
//! (the state frees a C object in its `Drop`, and the C library runs its
//! delete proc again from there), or while the first is deferred during a
//! call (Tcl deleting a command twice from inside its own call). The holder
//! is alive, so the second destroy is absorbed: nothing is freed twice, and
//! C gets the fallback. It is no destroy entry deferred during a running
//! call: it is not reported as `DestroyEntryDeferred` (whose message tells
//! the user to move the entry's cleanup), under any contract, whether the
//! entry takes `self` or is marked `destroy` (audit 27; before, a second
//! destroy was so reported for `self` entries and under the contracts whose
//! word is not atomic). Drop counters here, Miri for the use after free or
//! double free.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use ffi_callback::{Report, ReportKind, callback};

thread_local! {
    /// The reports made on this thread, with the callback each names.
    static REPORTS: RefCell<Vec<(ReportKind, String)>> = const { RefCell::new(Vec::new()) };
}

fn record(report: &Report<'_>) {
    let name = report.callback().map(|site| site.to_owned());
    let entry = (report.kind(), name.unwrap_or_default());
    REPORTS.with(|reports| reports.borrow_mut().push(entry));
}

/// Runs `f` with `record` as the reporter; the reports made on this thread
/// meanwhile.
fn reports_during(f: impl FnOnce()) -> Vec<(ReportKind, String)> {
    ffi_callback::set_reporter(record);
    let before = REPORTS.with(|reports| reports.borrow().len());
    f();
    REPORTS.with(|reports| reports.borrow_mut().split_off(before))
}

/// Which entry C calls as the second destroy, from the state's drop.
type Again = unsafe extern "C" fn(*mut c_void) -> c_int;

/// The state: counts its drops, and from its drop makes C destroy it again
/// through `again` (the user data in `me`), as a C object freed there would.
struct State {
    me: Arc<AtomicPtr<c_void>>,
    again: Again,
    drops: Arc<AtomicU32>,
    /// What the second destroy returned to C.
    got: Arc<AtomicU32>,
}

impl Drop for State {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        let me = self.me.load(Ordering::SeqCst);
        // SAFETY: the holder is alive while its state is dropped by the
        // first destroy; the second destroy is what this test is about.
        let got = unsafe { (self.again)(me) };
        self.got.store(got as u32, Ordering::SeqCst);
    }
}

/// A delete proc taking `self` (Tcl's `Tcl_CmdDeleteProc` as a destroy
/// entry), default contract.
#[callback(fallback = 9)]
trait Closing {
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> c_int;
}

/// The same under `send`.
#[callback(send, on_panic = fallback, fallback = 9)]
trait SendClosing {
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void) -> c_int;
}

/// A delete proc marked `destroy`, taking `&mut self`, default contract.
#[callback]
trait Marked {
    #[callback(destroy, fallback = 9)]
    unsafe extern "C" fn delete(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

/// The same under `send`.
#[callback(send, on_panic = fallback)]
trait SendMarked {
    #[callback(destroy, fallback = 9)]
    unsafe extern "C" fn delete(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

/// A delete proc marked `destroy`, taking `&self`, default contract.
#[callback]
trait SharedMarked {
    #[callback(destroy, fallback = 9)]
    unsafe extern "C" fn delete(&self, #[user_data] ud: *mut c_void) -> c_int;
}

/// The same under `sync`.
#[callback(sync, on_panic = fallback)]
trait SyncMarked {
    #[callback(destroy, fallback = 9)]
    unsafe extern "C" fn delete(&self, #[user_data] ud: *mut c_void) -> c_int;
}

impl SharedMarked for State {
    fn delete(&self) -> c_int {
        1
    }
}

impl SyncMarked for State {
    fn delete(&self) -> c_int {
        1
    }
}

impl Closing for State {
    fn close(self) -> c_int {
        1
    }
}

impl SendClosing for State {
    fn close(self) -> c_int {
        1
    }
}

impl Marked for State {
    fn delete(&mut self) -> c_int {
        1
    }
}

impl SendMarked for State {
    fn delete(&mut self) -> c_int {
        1
    }
}

/// Hands `State` to C with `into_raw`, destroys it with `first`, which
/// drops the state, whose drop calls `again`; checks the state was dropped
/// once, C got the fallback from the second destroy, and nothing was
/// reported as a deferred destroy entry.
fn destroyed_twice(into_raw: fn(State) -> *mut c_void, first: Again, again: Again, name: &str) {
    let me = Arc::new(AtomicPtr::new(ptr::null_mut()));
    let drops = Arc::new(AtomicU32::new(0));
    let got = Arc::new(AtomicU32::new(0));
    let ud = into_raw(State {
        me: me.clone(),
        again,
        drops: drops.clone(),
        got: got.clone(),
    });
    me.store(ud, Ordering::SeqCst);
    let reports = reports_during(|| {
        // SAFETY: C's first destroy of the state it owns.
        unsafe { first(ud) };
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1, "{name}: dropped once");
    assert_eq!(got.load(Ordering::SeqCst), 9, "{name}: the fallback");
    assert!(
        !reports
            .iter()
            .any(|(kind, _)| *kind == ReportKind::DestroyEntryDeferred),
        "{name}: a second destroy reported as a deferred destroy entry: {reports:?}"
    );
}

#[test]
fn c_closes_a_set_again_while_its_close_drops_the_state() {
    destroyed_twice(
        |s| ClosingExt::boxed(s).into_raw(),
        <State as ClosingExt>::CLOSE,
        <State as ClosingExt>::CLOSE,
        "Closing",
    );
}

#[test]
fn c_closes_a_send_set_again_while_its_close_drops_the_state() {
    destroyed_twice(
        |s| SendClosingExt::boxed(s).into_raw(),
        <State as SendClosingExt>::CLOSE,
        <State as SendClosingExt>::CLOSE,
        "SendClosing",
    );
}

#[test]
fn c_deletes_a_set_again_while_its_marked_delete_drops_the_state() {
    destroyed_twice(
        |s| MarkedExt::boxed(s).into_raw(),
        <State as MarkedExt>::DELETE,
        <State as MarkedExt>::DELETE,
        "Marked",
    );
}

#[test]
fn c_deletes_a_send_set_again_while_its_marked_delete_drops_the_state() {
    destroyed_twice(
        |s| SendMarkedExt::boxed(s).into_raw(),
        <State as SendMarkedExt>::DELETE,
        <State as SendMarkedExt>::DELETE,
        "SendMarked",
    );
}

#[test]
fn c_deletes_a_set_again_while_its_shared_marked_delete_drops_the_state() {
    destroyed_twice(
        |s| SharedMarkedExt::boxed(s).into_raw(),
        <State as SharedMarkedExt>::DELETE,
        <State as SharedMarkedExt>::DELETE,
        "SharedMarked",
    );
}

#[test]
fn c_deletes_a_sync_set_again_while_its_shared_marked_delete_drops_the_state() {
    destroyed_twice(
        |s| SyncMarkedExt::boxed(s).into_raw(),
        <State as SyncMarkedExt>::DELETE,
        <State as SyncMarkedExt>::DELETE,
        "SyncMarked",
    );
}

/// Tcl's command: `invoke` deletes the command from inside its own call
/// (`rename $obj {}`), and C runs the delete proc twice meanwhile.
#[callback]
trait Command {
    #[callback(fallback = -1)]
    unsafe extern "C" fn invoke(&mut self, #[user_data] cd: *mut c_void) -> c_int;
    #[callback(fallback = 9)]
    unsafe extern "C" fn delete(self, #[user_data] cd: *mut c_void) -> c_int;
}

/// The same under `send`.
#[callback(send, on_panic = fallback)]
trait SendCommand {
    #[callback(fallback = -1)]
    unsafe extern "C" fn invoke(&mut self, #[user_data] cd: *mut c_void) -> c_int;
    #[callback(fallback = 9)]
    unsafe extern "C" fn delete(self, #[user_data] cd: *mut c_void) -> c_int;
}

/// The command's state: its user data, its delete proc, and its drops.
struct Object {
    me: Arc<AtomicPtr<c_void>>,
    delete: Again,
    drops: Arc<AtomicU32>,
}

impl Drop for Object {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl Object {
    fn invoke(&mut self) -> c_int {
        let me = self.me.load(Ordering::SeqCst);
        // SAFETY: the state's user data, alive during this call; the
        // first delete is deferred to its end, the second finds it
        // destroyed and alive.
        let got = unsafe { [(self.delete)(me), (self.delete)(me)] };
        assert_eq!(got, [9, 9], "both deletes get the fallback");
        0
    }
}

impl Command for Object {
    fn invoke(&mut self) -> c_int {
        Object::invoke(self)
    }
    fn delete(self) -> c_int {
        1
    }
}

impl SendCommand for Object {
    fn invoke(&mut self) -> c_int {
        Object::invoke(self)
    }
    fn delete(self) -> c_int {
        1
    }
}

/// Hands an `Object` to C with `into_raw`, calls `invoke`, which deletes
/// it twice; the first delete alone is reported as deferred.
fn deleted_twice_during_a_call(
    into_raw: fn(Object) -> *mut c_void,
    invoke: Again,
    delete: Again,
    name: &str,
) {
    let me = Arc::new(AtomicPtr::new(ptr::null_mut()));
    let drops = Arc::new(AtomicU32::new(0));
    let ud = into_raw(Object {
        me: me.clone(),
        delete,
        drops: drops.clone(),
    });
    me.store(ud, Ordering::SeqCst);
    let reports = reports_during(|| {
        // SAFETY: C's call of the state it owns, which deletes it.
        assert_eq!(unsafe { invoke(ud) }, 0);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1, "{name}: dropped once");
    let deferred: Vec<_> = reports
        .iter()
        .filter(|(kind, _)| *kind == ReportKind::DestroyEntryDeferred)
        .collect();
    assert_eq!(deferred.len(), 1, "{name}: {reports:?}");
}

#[test]
fn c_deletes_a_set_twice_during_its_call() {
    deleted_twice_during_a_call(
        |o| CommandExt::boxed(o).into_raw(),
        <Object as CommandExt>::INVOKE,
        <Object as CommandExt>::DELETE,
        "Command",
    );
}

#[test]
fn c_deletes_a_send_set_twice_during_its_call() {
    deleted_twice_during_a_call(
        |o| SendCommandExt::boxed(o).into_raw(),
        <Object as SendCommandExt>::INVOKE,
        <Object as SendCommandExt>::DELETE,
        "SendCommand",
    );
}
