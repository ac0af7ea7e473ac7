//! Tcl 8.6 (the system library, apt `tcl8.6-dev`, linked directly, no
//! stubs) driven through Rust callbacks, as a binding to it writes its
//! trampolines by hand today:
//!
//! - `Tcl_CreateObjCommand(interp, name, proc, clientData, deleteProc)`: a
//!   boxed closure handed over with `into_raw()`, its `destroy` the
//!   command's deleteProc, which Tcl calls on `rename cmd {}` (also from
//!   inside the command itself: the free waits for the call), on
//!   redefinition and in `Tcl_DeleteInterp`;
//! - commands that evaluate scripts calling themselves again (re-entry:
//!   refused under the default contract, allowed with `reentrant`);
//! - commands returning `Result`: `on_error` sets the interp's result and
//!   returns `TCL_ERROR`, and the typed error comes back through
//!   `try_resume`; panics become Tcl errors (`fallback = EXPR`), also under
//!   Tcl's `catch`, and come back to the Rust caller of the eval;
//! - once-callbacks Tcl may drop uncalled: `Tcl_DoWhenIdle` /
//!   `Tcl_CancelIdleCall`, `Tcl_CreateTimerHandler` /
//!   `Tcl_DeleteTimerHandler`, `Tcl_CreateExitHandler` /
//!   `Tcl_DeleteExitHandler` (and the per-thread ones, run by
//!   `Tcl_FinalizeThread`), `Tcl_CallWhenDeleted` /
//!   `Tcl_DontCallWhenDeleted`;
//! - `Tcl_TraceVar` (a callback returning `char *`: an error message Tcl
//!   frees), `Tcl_CreateObjTrace` (with its delete proc),
//!   `Tcl_SetAssocData` (a `Box<T>` whose delete proc takes it back);
//! - an "object command" (`obj incr`, `obj destroy`): the command proc and
//!   its deleteProc as one callback set, the deleteProc its destroy (taking
//!   `self`, or a `&self` entry marked `destroy`), deleted from inside its
//!   own call;
//! - `Tcl_AsyncCreate`: a handler marked from other threads, run on its
//!   own (by `Tcl_AsyncInvoke` or the next eval);
//! - a `Tcl_ChannelType` as a callback set over a Rust buffer, its close
//!   proc the set's destroy, driven from scripts by `puts`, `gets` and
//!   `close`;
//! - the guard's stop hook as `Tcl_CancelEval(.., TCL_CANCEL_UNWIND)`: a
//!   panic stops the whole script (past `catch`) and `vwait`.
//!
//! Every test thread ends Tcl's per-thread state with `Tcl_FinalizeThread`
//! (a thread-local's drop), or valgrind sees it as lost.
//!
//! scripts/test-tcl.sh runs this binary under valgrind memcheck too.
#![allow(non_camel_case_types, non_snake_case)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;

use ffi_callback::{Once, RawOnce, callback, resume_panics, resume_panics_with, try_resume};

// ---------------------------------------------------------------------------
// Tcl, declared by hand
// ---------------------------------------------------------------------------

#[repr(C)]
struct Tcl_Interp {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Tcl_Obj {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Tcl_Command_ {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Tcl_TimerToken_ {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Tcl_Trace_ {
    _opaque: [u8; 0],
}
#[repr(C)]
struct Tcl_Channel_ {
    _opaque: [u8; 0],
}

type ClientData = *mut c_void;
type Tcl_Command = *mut Tcl_Command_;
type Tcl_TimerToken = *mut Tcl_TimerToken_;
type Tcl_Trace = *mut Tcl_Trace_;
type Tcl_Channel = *mut Tcl_Channel_;
#[repr(C)]
struct Tcl_AsyncHandler_ {
    _opaque: [u8; 0],
}
type Tcl_AsyncHandler = *mut Tcl_AsyncHandler_;

const TCL_OK: c_int = 0;
const TCL_ERROR: c_int = 1;

const TCL_CANCEL_UNWIND: c_int = 0x100000;
const TCL_GLOBAL_ONLY: c_int = 1;
const TCL_TRACE_READS: c_int = 0x10;
const TCL_TRACE_WRITES: c_int = 0x20;
const TCL_TRACE_UNSETS: c_int = 0x40;
const TCL_INTERP_DESTROYED: c_int = 0x100;
const TCL_TRACE_RESULT_DYNAMIC: c_int = 0x8000;

const TCL_DONT_WAIT: c_int = 1 << 1;
const TCL_TIMER_EVENTS: c_int = 1 << 4;
const TCL_IDLE_EVENTS: c_int = 1 << 5;

const TCL_READABLE: c_int = 1 << 1;
const TCL_WRITABLE: c_int = 1 << 2;

const EIO: c_int = 5;
const EINVAL: c_int = 22;

/// The C shapes the functions take (`Tcl_ObjCmdProc *`, ..): the
/// `#[callback]` types below name their own fn types, which are these.
type Tcl_ObjCmdProc =
    unsafe extern "C" fn(ClientData, *mut Tcl_Interp, c_int, *const *mut Tcl_Obj) -> c_int;
type Tcl_CmdDeleteProc = unsafe extern "C" fn(ClientData);
type Tcl_ClientProc = unsafe extern "C" fn(ClientData);
type Tcl_InterpDeleteProc = unsafe extern "C" fn(ClientData, *mut Tcl_Interp);
type Tcl_AsyncProc = unsafe extern "C" fn(ClientData, *mut Tcl_Interp, c_int) -> c_int;
type Tcl_VarTraceProc = unsafe extern "C" fn(
    ClientData,
    *mut Tcl_Interp,
    *const c_char,
    *const c_char,
    c_int,
) -> *mut c_char;
type Tcl_CmdObjTraceProc = unsafe extern "C" fn(
    ClientData,
    *mut Tcl_Interp,
    c_int,
    *const c_char,
    Tcl_Command,
    c_int,
    *const *mut Tcl_Obj,
) -> c_int;

#[link(name = "tcl8.6")]
unsafe extern "C" {
    fn Tcl_FindExecutable(argv0: *const c_char);
    fn Tcl_CreateInterp() -> *mut Tcl_Interp;
    fn Tcl_DeleteInterp(interp: *mut Tcl_Interp);
    fn Tcl_InterpDeleted(interp: *mut Tcl_Interp) -> c_int;
    fn Tcl_FinalizeThread();

    fn Tcl_EvalEx(
        interp: *mut Tcl_Interp,
        script: *const c_char,
        len: c_int,
        flags: c_int,
    ) -> c_int;
    fn Tcl_EvalObjEx(interp: *mut Tcl_Interp, obj: *mut Tcl_Obj, flags: c_int) -> c_int;
    fn Tcl_GetStringResult(interp: *mut Tcl_Interp) -> *const c_char;
    fn Tcl_CancelEval(
        interp: *mut Tcl_Interp,
        result: *mut Tcl_Obj,
        client_data: ClientData,
        flags: c_int,
    ) -> c_int;
    fn Tcl_SetObjResult(interp: *mut Tcl_Interp, obj: *mut Tcl_Obj);

    fn Tcl_NewStringObj(bytes: *const c_char, len: c_int) -> *mut Tcl_Obj;
    fn Tcl_GetString(obj: *mut Tcl_Obj) -> *const c_char;
    fn Tcl_GetIntFromObj(interp: *mut Tcl_Interp, obj: *mut Tcl_Obj, out: *mut c_int) -> c_int;
    fn Tcl_DbIncrRefCount(obj: *mut Tcl_Obj, file: *const c_char, line: c_int);
    fn Tcl_DbDecrRefCount(obj: *mut Tcl_Obj, file: *const c_char, line: c_int);

    fn Tcl_CreateObjCommand(
        interp: *mut Tcl_Interp,
        name: *const c_char,
        proc_: Option<Tcl_ObjCmdProc>,
        client_data: ClientData,
        delete_proc: Option<Tcl_CmdDeleteProc>,
    ) -> Tcl_Command;

    fn Tcl_DeleteCommandFromToken(interp: *mut Tcl_Interp, token: Tcl_Command) -> c_int;

    fn Tcl_GetVar(interp: *mut Tcl_Interp, name: *const c_char, flags: c_int) -> *const c_char;
    fn Tcl_SetVar(
        interp: *mut Tcl_Interp,
        name: *const c_char,
        value: *const c_char,
        flags: c_int,
    ) -> *const c_char;
    fn Tcl_TraceVar(
        interp: *mut Tcl_Interp,
        name: *const c_char,
        flags: c_int,
        proc_: Option<Tcl_VarTraceProc>,
        client_data: ClientData,
    ) -> c_int;
    fn Tcl_UntraceVar(
        interp: *mut Tcl_Interp,
        name: *const c_char,
        flags: c_int,
        proc_: Option<Tcl_VarTraceProc>,
        client_data: ClientData,
    );

    fn Tcl_Alloc(size: std::ffi::c_uint) -> *mut c_char;

    fn Tcl_DoOneEvent(flags: c_int) -> c_int;
    fn Tcl_DoWhenIdle(proc_: Option<Tcl_ClientProc>, client_data: ClientData);
    fn Tcl_CancelIdleCall(proc_: Option<Tcl_ClientProc>, client_data: ClientData);
    fn Tcl_CreateTimerHandler(
        ms: c_int,
        proc_: Option<Tcl_ClientProc>,
        client_data: ClientData,
    ) -> Tcl_TimerToken;
    fn Tcl_DeleteTimerHandler(token: Tcl_TimerToken);
    fn Tcl_CreateExitHandler(proc_: Option<Tcl_ClientProc>, client_data: ClientData);
    fn Tcl_DeleteExitHandler(proc_: Option<Tcl_ClientProc>, client_data: ClientData);
    fn Tcl_CreateThreadExitHandler(proc_: Option<Tcl_ClientProc>, client_data: ClientData);
    fn Tcl_DeleteThreadExitHandler(proc_: Option<Tcl_ClientProc>, client_data: ClientData);

    fn Tcl_AsyncCreate(proc_: Option<Tcl_AsyncProc>, client_data: ClientData) -> Tcl_AsyncHandler;
    fn Tcl_AsyncMark(handler: Tcl_AsyncHandler);
    fn Tcl_AsyncInvoke(interp: *mut Tcl_Interp, code: c_int) -> c_int;
    fn Tcl_AsyncReady() -> c_int;
    fn Tcl_AsyncDelete(handler: Tcl_AsyncHandler);

    fn Tcl_CallWhenDeleted(
        interp: *mut Tcl_Interp,
        proc_: Option<Tcl_InterpDeleteProc>,
        client_data: ClientData,
    );
    fn Tcl_DontCallWhenDeleted(
        interp: *mut Tcl_Interp,
        proc_: Option<Tcl_InterpDeleteProc>,
        client_data: ClientData,
    );
    fn Tcl_SetAssocData(
        interp: *mut Tcl_Interp,
        name: *const c_char,
        proc_: Option<Tcl_InterpDeleteProc>,
        client_data: ClientData,
    );
    fn Tcl_GetAssocData(
        interp: *mut Tcl_Interp,
        name: *const c_char,
        proc_out: *mut Option<Tcl_InterpDeleteProc>,
    ) -> ClientData;
    fn Tcl_DeleteAssocData(interp: *mut Tcl_Interp, name: *const c_char);

    fn Tcl_CreateObjTrace(
        interp: *mut Tcl_Interp,
        level: c_int,
        flags: c_int,
        proc_: Option<Tcl_CmdObjTraceProc>,
        client_data: ClientData,
        delete_proc: Option<Tcl_CmdDeleteProc>,
    ) -> Tcl_Trace;
    fn Tcl_DeleteTrace(interp: *mut Tcl_Interp, trace: Tcl_Trace);

    fn Tcl_CreateChannel(
        type_: *const Tcl_ChannelType,
        name: *const c_char,
        instance_data: ClientData,
        mask: c_int,
    ) -> Tcl_Channel;
    fn Tcl_RegisterChannel(interp: *mut Tcl_Interp, chan: Tcl_Channel);
    fn Tcl_GetChannelName(chan: Tcl_Channel) -> *const c_char;
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Counts drops.
struct Tracked(Rc<Cell<u32>>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn tracked() -> (Tracked, Rc<Cell<u32>>) {
    let drops = Rc::new(Cell::new(0));
    (Tracked(drops.clone()), drops)
}

fn payload_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload,
    }
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_owned()
    }
}

fn cstring(s: &str) -> CString {
    CString::new(s).expect("no NUL inside")
}

/// `Tcl_IncrRefCount` / `Tcl_DecrRefCount` are macros; the `Db` forms are
/// functions.
fn incr(obj: *mut Tcl_Obj) {
    // SAFETY: a live object.
    unsafe { Tcl_DbIncrRefCount(obj, c"c_tcl.rs".as_ptr(), 0) }
}
fn decr(obj: *mut Tcl_Obj) {
    // SAFETY: a live object we hold a count of.
    unsafe { Tcl_DbDecrRefCount(obj, c"c_tcl.rs".as_ptr(), 0) }
}

/// A counted reference to a `Tcl_Obj`, released on drop (also when a
/// guard re-raises a callback's panic past the code that holds it).
struct ObjRef(*mut Tcl_Obj);

impl ObjRef {
    fn new(obj: *mut Tcl_Obj) -> ObjRef {
        incr(obj);
        ObjRef(obj)
    }
}

impl Drop for ObjRef {
    fn drop(&mut self) {
        decr(self.0);
    }
}

fn new_string(s: &str) -> *mut Tcl_Obj {
    // SAFETY: `len` bytes at `s`.
    unsafe { Tcl_NewStringObj(s.as_ptr().cast(), s.len() as c_int) }
}

/// The interp's result, as Rust reads it.
fn string_result(interp: *mut Tcl_Interp) -> String {
    // SAFETY: a live interp; its result is a NUL-terminated string.
    unsafe { CStr::from_ptr(Tcl_GetStringResult(interp)) }
        .to_string_lossy()
        .into_owned()
}

/// `Tcl_SetObjResult` with a string, returning `code`: what `fallback` and
/// `on_error` expressions call to make the interp see an error.
fn set_result(interp: *mut Tcl_Interp, msg: &str, code: c_int) -> c_int {
    if !interp.is_null() {
        // SAFETY: the interp C passed to this call.
        unsafe { Tcl_SetObjResult(interp, new_string(msg)) };
    }
    code
}

fn obj_str(obj: *mut Tcl_Obj) -> String {
    // SAFETY: a live object; its string rep is NUL-terminated.
    unsafe { CStr::from_ptr(Tcl_GetString(obj)) }
        .to_string_lossy()
        .into_owned()
}

/// `Tcl_FindExecutable` initialises Tcl's process-wide state (encodings)
/// once, before the first interp.
///
/// Tcl keeps per-thread data (the notifier, the thread's namespaces and
/// object caches) that only `Tcl_FinalizeThread` frees: a binding ends
/// every thread that used Tcl with it, here from a thread-local's `Drop`.
fn init_tcl() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: null argv0 is allowed.
    ONCE.call_once(|| unsafe { Tcl_FindExecutable(ptr::null()) });
    THREAD_END.with(|_| {});
}

struct FinalizeThread;

impl Drop for FinalizeThread {
    fn drop(&mut self) {
        // SAFETY: the thread is ending; its interps are gone. The thread
        // exit handlers Tcl runs here are guarded.
        resume_panics(|| unsafe { Tcl_FinalizeThread() });
    }
}

thread_local! {
    static THREAD_END: FinalizeThread = const { FinalizeThread };
}

// ---------------------------------------------------------------------------
// The interp
// ---------------------------------------------------------------------------

/// What Tcl calls once when the interp is deleted (`Tcl_CallWhenDeleted`,
/// and the delete proc of assoc data).
#[callback]
type InterpDeleteProc = unsafe extern "C" fn(#[user_data] cd: ClientData, interp: *mut Tcl_Interp);

type WhenDeletedFn = Box<dyn FnOnce(*mut Tcl_Interp)>;

/// An interp. What Tcl calls exactly once when the interp goes
/// (`Tcl_CallWhenDeleted`) is handed over (`RawOnce`: the call frees it);
/// the binding keeps the parts only to cancel, which reclaims it. (A kept
/// `Once`, dropped after `Tcl_DeleteInterp`, would be freed too early when
/// Tcl defers the deletion: an interp deleted while one of its evals runs
/// calls its deletion callbacks when that eval unwinds.)
struct Interp {
    raw: *mut Tcl_Interp,
    when_deleted: RefCell<Vec<RawOnce<InterpDeleteProc<WhenDeletedFn>>>>,
}

/// An interp as a command's closure sees it: borrowed for the call.
#[derive(Clone, Copy, Debug, PartialEq)]
struct InterpRef(*mut Tcl_Interp);

impl From<*mut Tcl_Interp> for InterpRef {
    fn from(raw: *mut Tcl_Interp) -> Self {
        InterpRef(raw)
    }
}

impl InterpRef {
    /// `Tcl_EvalEx`, guarded: a panic of a callback it runs comes back here.
    fn eval(self, script: &str) -> Result<String, String> {
        // SAFETY: a live interp (the caller's call holds it), `len` bytes.
        let rc = resume_panics(|| unsafe {
            Tcl_EvalEx(self.0, script.as_ptr().cast(), script.len() as c_int, 0)
        });
        self.outcome(rc)
    }

    /// `Tcl_EvalEx` that stops the whole script once a callback's panic is
    /// kept: the guard's stop hook cancels the evaluation with
    /// `TCL_CANCEL_UNWIND`, which no `catch` in the script can stop.
    fn eval_unwinding_on_panic(self, script: &str) -> Result<String, String> {
        // Released by its drop: `resume_panics_with` re-raises a panic
        // right here, past any statement after it.
        let obj = ObjRef::new(new_string(script));
        let rc = resume_panics_with(
            // SAFETY: a live interp; the object is held for the call.
            || unsafe { Tcl_EvalObjEx(self.0, obj.0, 0) },
            // SAFETY: a live interp; allowed from inside its commands.
            || unsafe {
                Tcl_CancelEval(self.0, ptr::null_mut(), ptr::null_mut(), TCL_CANCEL_UNWIND);
            },
        );
        self.outcome(rc)
    }

    /// `Tcl_EvalObjEx` on a script object, guarded.
    fn eval_obj(self, script: &str) -> Result<String, String> {
        let obj = ObjRef::new(new_string(script));
        // SAFETY: a live interp; the object is held for the call.
        let rc = resume_panics(|| unsafe { Tcl_EvalObjEx(self.0, obj.0, 0) });
        self.outcome(rc)
    }

    /// `Tcl_EvalEx` under `try_resume`: an `E` a callback returned comes
    /// back typed, outside the Tcl result.
    fn try_eval<E: 'static>(self, script: &str) -> Result<Result<String, String>, E> {
        // SAFETY: as for `eval`.
        let rc = try_resume(|| unsafe {
            Tcl_EvalEx(self.0, script.as_ptr().cast(), script.len() as c_int, 0)
        })?;
        Ok(self.outcome(rc))
    }

    fn outcome(self, rc: c_int) -> Result<String, String> {
        let result = string_result(self.0);
        if rc == TCL_OK {
            Ok(result)
        } else {
            Err(result)
        }
    }

    fn set_var(self, name: &str, value: &str) -> Result<(), String> {
        let (name, value) = (cstring(name), cstring(value));
        // SAFETY: a live interp, NUL-terminated strings; traces it runs
        // are guarded.
        let r = resume_panics(|| unsafe {
            Tcl_SetVar(self.0, name.as_ptr(), value.as_ptr(), TCL_GLOBAL_ONLY)
        });
        if r.is_null() {
            Err(string_result(self.0))
        } else {
            Ok(())
        }
    }

    fn get_var(self, name: &str) -> Option<String> {
        let name = cstring(name);
        // SAFETY: as for `set_var`.
        let r = resume_panics(|| unsafe { Tcl_GetVar(self.0, name.as_ptr(), TCL_GLOBAL_ONLY) });
        // SAFETY: Tcl's NUL-terminated value, read at once.
        (!r.is_null()).then(|| unsafe { CStr::from_ptr(r) }.to_string_lossy().into_owned())
    }
}

impl Interp {
    fn new() -> Interp {
        init_tcl();
        // SAFETY: Tcl is initialised.
        let raw = unsafe { Tcl_CreateInterp() };
        assert!(!raw.is_null());
        Interp {
            raw,
            when_deleted: RefCell::new(Vec::new()),
        }
    }

    fn r(&self) -> InterpRef {
        InterpRef(self.raw)
    }

    fn eval(&self, script: &str) -> Result<String, String> {
        self.r().eval(script)
    }

    /// `Tcl_CallWhenDeleted`: `f` runs when the interp is deleted, unless
    /// the returned id is passed to `dont_call_when_deleted` first.
    fn call_when_deleted(&self, f: impl FnOnce(*mut Tcl_Interp) + 'static) -> ClientData {
        let once = InterpDeleteProc::once(Box::new(f) as WhenDeletedFn).into_raw();
        // SAFETY: a live interp; Tcl calls it once, when the interp is
        // deleted, which frees it, unless it is cancelled (and reclaimed).
        unsafe { Tcl_CallWhenDeleted(self.raw, Some(once.function), once.user_data) };
        let id = once.user_data;
        self.when_deleted.borrow_mut().push(once);
        id
    }

    /// `Tcl_DontCallWhenDeleted`: cancelled, the closure dropped uncalled.
    fn dont_call_when_deleted(&self, id: ClientData) {
        let mut kept = self.when_deleted.borrow_mut();
        let at = kept
            .iter()
            .position(|o| o.user_data == id)
            .expect("a pending call");
        let once = kept.remove(at);
        // SAFETY: a live interp, not deleted yet (`&self`): the callback has
        // not run, and Tcl forgets the pair, so it never will.
        unsafe {
            Tcl_DontCallWhenDeleted(self.raw, Some(once.function), once.user_data);
            once.reclaim();
        }
    }

    /// The interp's assoc data `name`, if it is a `T` this binding set.
    fn assoc<T: 'static>(&self, name: &str) -> Option<&T> {
        let name = cstring(name);
        let mut proc_ = None;
        // SAFETY: a live interp, a NUL-terminated name, an out pointer.
        let data = unsafe { Tcl_GetAssocData(self.raw, name.as_ptr(), &mut proc_) };
        let ours: Tcl_InterpDeleteProc = free_assoc::<T>;
        if data.is_null() || proc_.map(|p| p as usize) != Some(ours as usize) {
            return None;
        }
        // SAFETY: `free_assoc::<T>` is the delete proc only of the data
        // `set_assoc::<T>` made, a `Box<T>`; the interp keeps it until the
        // entry is replaced or deleted, which takes `&self`... not `&mut`:
        // see NOTES (a binding hands out `&T` tied to `&self` on faith).
        Some(unsafe { &*data.cast::<T>() })
    }

    /// `Tcl_SetAssocData` with a `Box<T>` that Tcl hands back to
    /// `free_assoc::<T>` when the interp is deleted or the entry is
    /// deleted. Replacing an entry does not call its delete proc, so the
    /// binding takes the old value back itself.
    fn set_assoc<T: 'static>(&self, name: &str, value: T) -> Option<T> {
        let cname = cstring(name);
        let mut proc_ = None;
        // SAFETY: as for `assoc`.
        let old = unsafe { Tcl_GetAssocData(self.raw, cname.as_ptr(), &mut proc_) };
        let ours: Tcl_InterpDeleteProc = free_assoc::<T>;
        let old = if !old.is_null() && proc_.map(|p| p as usize) == Some(ours as usize) {
            // SAFETY: ours (above), and Tcl forgets it just below, when the
            // entry is overwritten.
            Some(*unsafe { Box::from_raw(old.cast::<T>()) })
        } else {
            assert!(old.is_null(), "assoc data {name} is not ours");
            None
        };
        // The constructor of a generic fn takes the generic arguments itself:
        // nothing ties them to the `free_assoc::<T>` passed beside it.
        let data = free_assoc::user_data::<T>(Box::new(value));
        // SAFETY: a live interp; Tcl hands `data` to `free_assoc::<T>` once.
        unsafe { Tcl_SetAssocData(self.raw, cname.as_ptr(), Some(free_assoc::<T>), data) };
        old
    }

    fn delete_assoc(&self, name: &str) {
        let name = cstring(name);
        // SAFETY: a live interp; Tcl calls the delete proc.
        resume_panics(|| unsafe { Tcl_DeleteAssocData(self.raw, name.as_ptr()) });
    }
}

/// Assoc data's delete proc: ownership of the `Box<T>` comes back.
#[callback]
extern "C" fn free_assoc<T: 'static>(#[user_data] data: Box<T>, _interp: *mut Tcl_Interp) {
    drop(data);
}

impl Drop for Interp {
    fn drop(&mut self) {
        let raw = self.raw;
        // SAFETY: our interp, deleted once; the commands' deleteProcs, the
        // assoc data and `Tcl_CallWhenDeleted` callbacks run now (user
        // code: guarded).
        resume_panics(|| unsafe { Tcl_DeleteInterp(raw) });
        // The `Tcl_CallWhenDeleted` callbacks are Tcl's to call (and so to
        // free): nothing to do with their parts.
    }
}

// ---------------------------------------------------------------------------
// Object commands
// ---------------------------------------------------------------------------

/// `Tcl_ObjCmdProc`. After a panic (or a refused call) the interp sees an
/// error: `fallback` sets the result and returns `TCL_ERROR` (`0` would be
/// `TCL_OK`, an empty success).
#[callback(fallback = set_result(interp, "ffi-callback: the Rust command failed", TCL_ERROR))]
type ObjCmd = unsafe extern "C" fn(
    #[user_data] cd: ClientData,
    #[into(InterpRef)] interp: *mut Tcl_Interp,
    objc: c_int,
    #[into(&[*mut Tcl_Obj], len = objc as usize)] objv: *const *mut Tcl_Obj,
) -> c_int;

/// The same, for commands whose script may call them again while they run
/// (`Fn` closures).
#[callback(reentrant, fallback = set_result(interp, "ffi-callback: the Rust command failed", TCL_ERROR))]
type ReentrantCmd = unsafe extern "C" fn(
    #[user_data] cd: ClientData,
    #[into(InterpRef)] interp: *mut Tcl_Interp,
    objc: c_int,
    #[into(&[*mut Tcl_Obj], len = objc as usize)] objv: *const *mut Tcl_Obj,
) -> c_int;

/// A command's failure, as Rust code returns it: the interp sees its
/// message (`on_error` reads the interp), the Rust caller of the eval gets
/// it back typed (`try_resume`).
#[derive(Debug, Clone, PartialEq)]
struct CmdError(String);

#[callback(
    error = CmdError,
    on_error = set_result(interp, &e.0, TCL_ERROR),
    fallback = set_result(interp, "ffi-callback: the Rust command failed", TCL_ERROR),
)]
type FallibleCmd = unsafe extern "C" fn(
    #[user_data] cd: ClientData,
    #[into(InterpRef)] interp: *mut Tcl_Interp,
    objc: c_int,
    #[into(&[*mut Tcl_Obj], len = objc as usize)] objv: *const *mut Tcl_Obj,
) -> c_int;

/// The same, for a binding whose command errors are Tcl's control flow
/// (scripts `catch` them): `keep_error = false` ends each `Err` at Tcl,
/// through `on_error`, with nothing kept for Rust, reported or poisoned.
#[callback(
    error = CmdError,
    on_error = set_result(interp, &e.0, TCL_ERROR),
    keep_error = false,
    fallback = set_result(interp, "ffi-callback: the Rust command failed", TCL_ERROR),
)]
type TclErrorCmd = unsafe extern "C" fn(
    #[user_data] cd: ClientData,
    #[into(InterpRef)] interp: *mut Tcl_Interp,
    objc: c_int,
    #[into(&[*mut Tcl_Obj], len = objc as usize)] objv: *const *mut Tcl_Obj,
) -> c_int;

impl InterpRef {
    /// `Tcl_CreateObjCommand`: the closure is Tcl's from here, freed by the
    /// command's deleteProc (`rename cmd {}`, redefinition, interp
    /// deletion).
    fn create_command(
        self,
        name: &str,
        f: impl FnMut(InterpRef, c_int, &[*mut Tcl_Obj]) -> c_int + 'static,
    ) {
        // Generic in the closure: the raw parts are plain pointers, so no
        // `Box<dyn FnMut>` is needed to store them.
        let raw = ObjCmd::boxed(f).into_raw();
        let name = cstring(name);
        // SAFETY: a live interp; Tcl calls `destroy` once, when the command
        // goes.
        let token = resume_panics(|| unsafe {
            Tcl_CreateObjCommand(
                self.0,
                name.as_ptr(),
                Some(raw.function),
                raw.user_data,
                Some(raw.destroy),
            )
        });
        if token.is_null() {
            // SAFETY: refused (the interp is being deleted): Tcl keeps
            // nothing and calls nothing.
            unsafe { (raw.destroy)(raw.user_data) };
        }
    }

    fn create_reentrant_command(
        self,
        name: &str,
        f: impl Fn(InterpRef, c_int, &[*mut Tcl_Obj]) -> c_int + 'static,
    ) {
        let raw = ReentrantCmd::boxed(f).into_raw();
        let name = cstring(name);
        // SAFETY: as for `create_command`.
        let token = resume_panics(|| unsafe {
            Tcl_CreateObjCommand(
                self.0,
                name.as_ptr(),
                Some(raw.function),
                raw.user_data,
                Some(raw.destroy),
            )
        });
        if token.is_null() {
            // SAFETY: as for `create_command`.
            unsafe { (raw.destroy)(raw.user_data) };
        }
    }

    fn create_tcl_error_command(
        self,
        name: &str,
        f: impl FnMut(InterpRef, c_int, &[*mut Tcl_Obj]) -> Result<c_int, CmdError> + 'static,
    ) {
        let raw = TclErrorCmd::boxed(f).into_raw();
        let name = cstring(name);
        // SAFETY: as for `create_command`.
        let token = resume_panics(|| unsafe {
            Tcl_CreateObjCommand(
                self.0,
                name.as_ptr(),
                Some(raw.function),
                raw.user_data,
                Some(raw.destroy),
            )
        });
        if token.is_null() {
            // SAFETY: as for `create_command`.
            unsafe { (raw.destroy)(raw.user_data) };
        }
    }

    fn create_fallible_command(
        self,
        name: &str,
        f: impl FnMut(InterpRef, c_int, &[*mut Tcl_Obj]) -> Result<c_int, CmdError> + 'static,
    ) {
        let raw = FallibleCmd::boxed(f).into_raw();
        let name = cstring(name);
        // SAFETY: as for `create_command`.
        let token = resume_panics(|| unsafe {
            Tcl_CreateObjCommand(
                self.0,
                name.as_ptr(),
                Some(raw.function),
                raw.user_data,
                Some(raw.destroy),
            )
        });
        if token.is_null() {
            // SAFETY: as for `create_command`.
            unsafe { (raw.destroy)(raw.user_data) };
        }
    }

    fn set_result(self, s: &str) {
        set_result(self.0, s, TCL_OK);
    }

    fn int_arg(self, obj: *mut Tcl_Obj) -> Result<c_int, String> {
        let mut v = 0;
        // SAFETY: a live interp and object (the command's arguments).
        if unsafe { Tcl_GetIntFromObj(self.0, obj, &mut v) } == TCL_OK {
            Ok(v)
        } else {
            Err(string_result(self.0))
        }
    }
}

impl Interp {
    fn create_command(
        &self,
        name: &str,
        f: impl FnMut(InterpRef, c_int, &[*mut Tcl_Obj]) -> c_int + 'static,
    ) {
        self.r().create_command(name, f)
    }
}

// ---------------------------------------------------------------------------
// Tests: commands
// ---------------------------------------------------------------------------

#[test]
fn command_sees_its_arguments_and_sets_the_result() {
    let interp = Interp::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    interp.create_command("join3", move |interp, objc, objv| {
        c.set(c.get() + 1);
        assert_eq!(objc as usize, objv.len());
        let words: Vec<String> = objv[1..].iter().map(|&o| obj_str(o)).collect();
        interp.set_result(&words.join("+"));
        TCL_OK
    });
    assert_eq!(interp.eval("join3 a b c").as_deref(), Ok("a+b+c"));
    assert_eq!(
        interp
            .eval("set x [join3 1 2]; string length $x")
            .as_deref(),
        Ok("3")
    );
    assert_eq!(calls.get(), 2);
}

#[test]
fn command_deleted_by_rename_drops_its_closure() {
    let interp = Interp::new();
    let (track, drops) = tracked();
    interp.create_command("gone", move |_, _, _| {
        let _ = &track;
        TCL_OK
    });
    assert_eq!(interp.eval("gone"), Ok(String::new()));
    assert_eq!(drops.get(), 0);
    assert_eq!(interp.eval("rename gone {}"), Ok(String::new()));
    assert_eq!(drops.get(), 1, "deleteProc is the boxed closure's destroy");
    assert!(
        interp
            .eval("gone")
            .unwrap_err()
            .contains("invalid command name")
    );
}

#[test]
fn command_renamed_away_from_inside_itself_is_freed_after_its_call() {
    let interp = Interp::new();
    let (track, drops) = tracked();
    let seen_in_call = Rc::new(Cell::new(u32::MAX));
    let (d, seen) = (drops.clone(), seen_in_call.clone());
    interp.create_command("selfdestruct", move |interp, _, _| {
        let _ = &track;
        // Tcl calls the deleteProc right away, inside this call: the
        // crate's destroy waits for the call to return.
        assert_eq!(interp.eval("rename selfdestruct {}"), Ok(String::new()));
        seen.set(d.get());
        interp.set_result("still running");
        TCL_OK
    });
    assert_eq!(interp.eval("selfdestruct").as_deref(), Ok("still running"));
    assert_eq!(seen_in_call.get(), 0, "not dropped under its own call");
    assert_eq!(drops.get(), 1, "dropped once the call returned");
    assert!(interp.eval("selfdestruct").is_err());
}

#[test]
fn command_redefined_drops_the_old_closure() {
    let interp = Interp::new();
    let (old, old_drops) = tracked();
    let (new, new_drops) = tracked();
    interp.create_command("v", move |interp, _, _| {
        let _ = &old;
        interp.set_result("one");
        TCL_OK
    });
    assert_eq!(interp.eval("v").as_deref(), Ok("one"));
    interp.create_command("v", move |interp, _, _| {
        let _ = &new;
        interp.set_result("two");
        TCL_OK
    });
    assert_eq!(old_drops.get(), 1);
    assert_eq!(interp.eval("v").as_deref(), Ok("two"));
    // A `proc` of the same name replaces it too.
    assert_eq!(
        interp.eval("proc v {} {return three}; v").as_deref(),
        Ok("three")
    );
    assert_eq!(new_drops.get(), 1);
}

#[test]
fn command_redefined_from_inside_itself() {
    let interp = Interp::new();
    let (track, drops) = tracked();
    let d = drops.clone();
    interp.create_command("phoenix", move |interp, _, _| {
        let _ = &track;
        // Replaces itself: Tcl deletes this command (its deleteProc runs
        // now, deferred by the crate) and installs the new one.
        interp.create_command("phoenix", |interp, _, _| {
            interp.set_result("reborn");
            TCL_OK
        });
        assert_eq!(d.get(), 0);
        interp.set_result("first");
        TCL_OK
    });
    assert_eq!(interp.eval("phoenix").as_deref(), Ok("first"));
    assert_eq!(drops.get(), 1);
    assert_eq!(interp.eval("phoenix").as_deref(), Ok("reborn"));
}

#[test]
fn deleting_the_interp_drops_every_command() {
    let (a, a_drops) = tracked();
    let (b, b_drops) = tracked();
    {
        let interp = Interp::new();
        interp.create_command("a", move |_, _, _| {
            let _ = &a;
            TCL_OK
        });
        interp.r().create_reentrant_command("b", move |_, _, _| {
            let _ = &b;
            TCL_OK
        });
        assert!(interp.eval("a; b").is_ok());
        assert_eq!(a_drops.get() + b_drops.get(), 0);
    }
    assert_eq!((a_drops.get(), b_drops.get()), (1, 1));
}

/// `fact n`, computed by evaluating `fact n-1` from inside the command.
fn fact_body(interp: InterpRef, objv: &[*mut Tcl_Obj]) -> c_int {
    let n = match interp.int_arg(objv[1]) {
        Ok(n) => n,
        Err(_) => return TCL_ERROR,
    };
    if n <= 1 {
        interp.set_result("1");
        return TCL_OK;
    }
    match interp.eval_obj(&format!("fact {}", n - 1)) {
        Ok(below) => {
            interp.set_result(&(n * below.parse::<c_int>().unwrap()).to_string());
            TCL_OK
        }
        // The inner eval's error is in the interp's result already.
        Err(_) => TCL_ERROR,
    }
}

#[test]
fn recursive_command_is_refused_under_the_default_contract() {
    let interp = Interp::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    interp.create_command("fact", move |interp, _, objv| {
        c.set(c.get() + 1);
        fact_body(interp, objv)
    });
    // `fact 1` does not recurse.
    assert_eq!(interp.eval("fact 1").as_deref(), Ok("1"));
    // `fact 3` calls `fact 2` while `fact 3` runs: the `FnMut` holder
    // refuses (the fallback makes it a Tcl error), and the refusal comes
    // back to the Rust caller of the eval as a panic.
    let payload = payload_of(|| interp.eval("fact 3"));
    let msg = message(&*payload);
    eprintln!("refusal: {msg}");
    assert!(msg.contains("ObjCmd"), "names the callback type: {msg}");
    assert!(
        msg.contains("entered again") || msg.contains("re-ent") || msg.contains("reentrant"),
        "{msg}"
    );
    assert_eq!(calls.get(), 2, "the nested call never ran");
    // The holder runs again once the guard has raised the refusal.
    assert_eq!(interp.eval("fact 1").as_deref(), Ok("1"));
}

#[test]
fn recursive_command_runs_when_reentrant() {
    let interp = Interp::new();
    let depth = Rc::new(Cell::new(0));
    let max_depth = Rc::new(Cell::new(0));
    let (d, m) = (depth.clone(), max_depth.clone());
    interp
        .r()
        .create_reentrant_command("fact", move |interp, _, objv| {
            d.set(d.get() + 1);
            m.set(m.get().max(d.get()));
            let rc = fact_body(interp, objv);
            d.set(d.get() - 1);
            rc
        });
    assert_eq!(interp.eval("fact 5").as_deref(), Ok("120"));
    assert_eq!(max_depth.get(), 5);
    // Through a Tcl proc in between, too.
    assert_eq!(
        interp
            .eval("proc via {n} {fact $n}; fact 1; via 4")
            .as_deref(),
        Ok("24")
    );
}

#[test]
fn fallible_command_sets_the_interp_result_and_returns_the_error_typed() {
    let interp = Interp::new();
    interp
        .r()
        .create_fallible_command("half", |interp, _, objv| {
            let n = interp.int_arg(objv[1]).map_err(CmdError)?;
            if n % 2 != 0 {
                return Err(CmdError(format!("{n} is odd")));
            }
            interp.set_result(&(n / 2).to_string());
            Ok(TCL_OK)
        });
    // Without a `try_resume` guard of its type, the error is Tcl's only:
    // the interp sees `on_error`'s result (the crate reports and drops the
    // `CmdError`).
    assert_eq!(interp.eval("half 8").as_deref(), Ok("4"));
    assert_eq!(interp.eval("half 7"), Err("7 is odd".to_owned()));
    // Under `try_resume`, the first error comes back typed, and the
    // script's own result beside it is gone.
    let r: Result<_, CmdError> = interp.r().try_eval("half 6");
    assert_eq!(r, Ok(Ok("3".to_owned())));
    let r: Result<_, CmdError> = interp.r().try_eval("half 5");
    assert_eq!(r, Err(CmdError("5 is odd".to_owned())));
    // `catch` in the script sees the Tcl error; the typed error still
    // comes back to Rust, and the rest of the script ran.
    let r: Result<_, CmdError> = interp
        .r()
        .try_eval("set caught [catch {half 3} msg]; set after $msg");
    assert_eq!(r, Err(CmdError("3 is odd".to_owned())));
    assert_eq!(interp.r().get_var("caught").as_deref(), Some("1"));
    assert_eq!(interp.r().get_var("after").as_deref(), Some("3 is odd"));
    // While the error is kept, the holder is poisoned: a second call in the
    // same script gets the fallback, not its own error.
    let r: Result<_, CmdError> = interp
        .r()
        .try_eval("catch {half 3} first; catch {half 4} second; list $first $second");
    assert_eq!(r, Err(CmdError("3 is odd".to_owned())));
    assert_eq!(interp.r().get_var("first").as_deref(), Some("3 is odd"));
    assert_eq!(
        interp.r().get_var("second").as_deref(),
        Some("ffi-callback: the Rust command failed")
    );
}

#[test]
fn panicking_command_is_a_tcl_error_and_the_panic_comes_back() {
    let interp = Interp::new();
    interp.create_command("boom", |_, _, _| panic!("boom went the command"));
    let payload = payload_of(|| interp.eval("boom"));
    assert_eq!(message(&*payload), "boom went the command");
    // The interp saw the fallback's error.
    assert_eq!(
        string_result(interp.raw),
        "ffi-callback: the Rust command failed"
    );
    // Not poisoned any more: it runs (and panics) again.
    let payload = payload_of(|| interp.eval("boom"));
    assert_eq!(message(&*payload), "boom went the command");
}

#[test]
fn panicking_command_under_catch_the_script_goes_on_and_the_panic_is_kept() {
    let interp = Interp::new();
    let boom_calls = Rc::new(Cell::new(0));
    let other_calls = Rc::new(Cell::new(0));
    let (bc, oc) = (boom_calls.clone(), other_calls.clone());
    interp.create_command("boom", move |_, _, _| {
        bc.set(bc.get() + 1);
        panic!("boom under catch")
    });
    interp.create_command("other", move |interp, _, _| {
        oc.set(oc.get() + 1);
        interp.set_result("other ran");
        TCL_OK
    });
    let payload = payload_of(|| {
        interp.eval(
            "set a [catch {boom} msg]; set m $msg; \
             set b [catch {boom} msg2]; set m2 $msg2; \
             set o [other]; set done yes",
        )
    });
    assert_eq!(message(&*payload), "boom under catch");
    // The script went on: `catch` saw a Tcl error each time.
    assert_eq!(interp.r().get_var("a").as_deref(), Some("1"));
    assert_eq!(
        interp.r().get_var("m").as_deref(),
        Some("ffi-callback: the Rust command failed")
    );
    assert_eq!(interp.r().get_var("b").as_deref(), Some("1"));
    assert_eq!(interp.r().get_var("done").as_deref(), Some("yes"));
    // The panicking holder was poisoned: the second `boom` never ran.
    assert_eq!(boom_calls.get(), 1);
    // Another holder (another closure) still ran.
    assert_eq!(other_calls.get(), 1);
    assert_eq!(interp.r().get_var("o").as_deref(), Some("other ran"));
}

// ---------------------------------------------------------------------------
// The notifier: idle calls and timers, at most once, cancellable
// ---------------------------------------------------------------------------

/// `Tcl_IdleProc`, `Tcl_TimerProc`, `Tcl_ExitProc`: one C shape.
#[callback]
type ClientProc = unsafe extern "C" fn(#[user_data] cd: ClientData);

/// Exit handlers run in `Tcl_Finalize`, on whichever thread calls it.
#[callback(send)]
type ExitProc = unsafe extern "C" fn(#[user_data] cd: ClientData);

type NotifierFn = Box<dyn FnOnce()>;

/// `Tcl_DoWhenIdle`: Tcl calls it at most once, and forgets it for good on
/// `Tcl_CancelIdleCall` (no destroy-notify either way): the handle keeps
/// the `Once`, and dropping it cancels the call if it has not run.
#[must_use = "dropping it cancels the idle call"]
struct IdleCall(Once<ClientProc<NotifierFn>>);

impl IdleCall {
    fn new(f: impl FnOnce() + 'static) -> IdleCall {
        let once = ClientProc::once(Box::new(f) as NotifierFn);
        // SAFETY: the `Once` lives until Tcl has called it or forgotten it.
        unsafe { Tcl_DoWhenIdle(Some(once.function()), once.user_data()) };
        IdleCall(once)
    }
    fn was_called(&self) -> bool {
        self.0.was_called()
    }
}

impl Drop for IdleCall {
    fn drop(&mut self) {
        // SAFETY: after the call it matches nothing; before, Tcl forgets it.
        unsafe { Tcl_CancelIdleCall(Some(self.0.function()), self.0.user_data()) };
        // The `Once` drops next: the closure too, if it never ran.
    }
}

/// `Tcl_CreateTimerHandler`, cancelled by `Tcl_DeleteTimerHandler`.
#[must_use = "dropping it deletes the timer"]
struct Timer {
    token: Tcl_TimerToken,
    once: Once<ClientProc<NotifierFn>>,
}

impl Timer {
    fn new(ms: c_int, f: impl FnOnce() + 'static) -> Timer {
        let once = ClientProc::once(Box::new(f) as NotifierFn);
        // SAFETY: as for `IdleCall::new`.
        let token = unsafe { Tcl_CreateTimerHandler(ms, Some(once.function()), once.user_data()) };
        Timer { token, once }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: our token; a fired timer's token matches nothing.
        unsafe { Tcl_DeleteTimerHandler(self.token) };
    }
}

/// `Tcl_DoOneEvent`, guarded.
fn do_one_event(flags: c_int) -> c_int {
    // SAFETY: the thread's notifier; every callback it may run is alive.
    resume_panics(|| unsafe { Tcl_DoOneEvent(flags) })
}

#[test]
fn idle_call_runs_once_and_a_cancelled_one_is_dropped_uncalled() {
    init_tcl();
    let ran = Rc::new(RefCell::new(Vec::new()));
    let (t1, d1) = tracked();
    let (t2, d2) = tracked();
    let r = ran.clone();
    let first = IdleCall::new(move || {
        let _ = &t1;
        r.borrow_mut().push("first");
    });
    let r = ran.clone();
    let second = IdleCall::new(move || {
        let _ = &t2;
        r.borrow_mut().push("second");
    });
    drop(second);
    assert_eq!(d2.get(), 1, "cancelled: dropped uncalled");
    while do_one_event(TCL_IDLE_EVENTS | TCL_DONT_WAIT) != 0 {}
    assert_eq!(*ran.borrow(), ["first"]);
    assert!(first.was_called());
    assert_eq!(d1.get(), 1, "the call consumed the closure");
    drop(first);
}

#[test]
fn idle_call_dropped_from_inside_its_own_call() {
    init_tcl();
    let slot: Rc<RefCell<Option<IdleCall>>> = Rc::new(RefCell::new(None));
    let (track, drops) = tracked();
    let s = slot.clone();
    let call = IdleCall::new(move || {
        let _ = &track;
        // A fire-and-forget binding keeps each pending call in a table and
        // removes it when it runs: the `Once` is dropped inside its call.
        drop(s.borrow_mut().take());
    });
    *slot.borrow_mut() = Some(call);
    while do_one_event(TCL_IDLE_EVENTS | TCL_DONT_WAIT) != 0 {}
    assert!(slot.borrow().is_none());
    assert_eq!(drops.get(), 1);
}

#[test]
fn timers_fire_in_order_and_a_deleted_one_never_does() {
    init_tcl();
    let ran = Rc::new(RefCell::new(Vec::new()));
    let (r1, r2, r3) = (ran.clone(), ran.clone(), ran.clone());
    let (t, dropped) = tracked();
    let late = Timer::new(5, move || r1.borrow_mut().push(5));
    let early = Timer::new(1, move || r2.borrow_mut().push(1));
    let never = Timer::new(2, move || {
        let _ = &t;
        r3.borrow_mut().push(2)
    });
    drop(never);
    assert_eq!(dropped.get(), 1);
    while ran.borrow().len() < 2 {
        do_one_event(TCL_TIMER_EVENTS);
    }
    assert_eq!(*ran.borrow(), [1, 5]);
    assert!(early.once.was_called() && late.once.was_called());
}

#[test]
fn panicking_timer_comes_back_from_do_one_event() {
    init_tcl();
    let t = Timer::new(0, || panic!("the timer panicked"));
    let payload = payload_of(|| {
        while !t.once.was_called() {
            do_one_event(TCL_TIMER_EVENTS);
        }
    });
    assert_eq!(message(&*payload), "the timer panicked");
}

#[test]
fn exit_handler_deleted_is_dropped_uncalled() {
    init_tcl();
    let (t, drops) = tracked_send();
    let once = ExitProc::once(Box::new(move || -> () {
        let _ = &t;
        unreachable!("Tcl_Finalize is not called in this test")
    }) as Box<dyn FnOnce() + Send>);
    // SAFETY: kept until deleted just below.
    unsafe { Tcl_CreateExitHandler(Some(once.function()), once.user_data()) };
    // SAFETY: the same pair: Tcl forgets it.
    unsafe { Tcl_DeleteExitHandler(Some(once.function()), once.user_data()) };
    drop(once);
    assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn thread_exit_handlers_run_in_tcl_finalize_thread() {
    init_tcl();
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let ran = Arc::new(AtomicU32::new(0));
    let r = ran.clone();
    std::thread::spawn(move || {
        let interp = Interp::new();
        let r2 = r.clone();
        let called = ClientProc::once(Box::new(move || {
            r2.fetch_add(1, Ordering::SeqCst);
        }) as NotifierFn);
        let (t, drops) = tracked();
        let cancelled = ClientProc::once(Box::new(move || -> () {
            let _ = &t;
            unreachable!("deleted")
        }) as NotifierFn);
        // SAFETY: both live until after `Tcl_FinalizeThread` (or deletion).
        unsafe {
            Tcl_CreateThreadExitHandler(Some(called.function()), called.user_data());
            Tcl_CreateThreadExitHandler(Some(cancelled.function()), cancelled.user_data());
            Tcl_DeleteThreadExitHandler(Some(cancelled.function()), cancelled.user_data());
        }
        drop(cancelled);
        assert_eq!(drops.get(), 1);
        drop(interp);
        // SAFETY: this thread's Tcl state, finalised once, at its end.
        resume_panics(|| unsafe { Tcl_FinalizeThread() });
        assert!(called.was_called());
    })
    .join()
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

fn tracked_send() -> (TrackedSend, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    (TrackedSend(drops.clone()), drops)
}

struct TrackedSend(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl Drop for TrackedSend {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// Interp deletion callbacks and assoc data
// ---------------------------------------------------------------------------

#[test]
fn call_when_deleted_runs_once_and_a_cancelled_one_is_dropped() {
    let ran = Rc::new(Cell::new(0));
    let (t, cancelled_drops) = tracked();
    {
        let interp = Interp::new();
        let (r, raw) = (ran.clone(), interp.raw);
        interp.call_when_deleted(move |i| {
            assert_eq!(i, raw);
            // SAFETY: the interp being deleted, still readable.
            assert_ne!(unsafe { Tcl_InterpDeleted(i) }, 0);
            r.set(r.get() + 1);
        });
        let id = interp.call_when_deleted(move |_| {
            let _ = &t;
            unreachable!("cancelled")
        });
        interp.dont_call_when_deleted(id);
        assert_eq!(cancelled_drops.get(), 1);
        assert_eq!(ran.get(), 0);
    }
    assert_eq!(ran.get(), 1);
}

#[test]
fn assoc_data_is_freed_by_its_delete_proc() {
    let (t1, d1) = tracked();
    let (t2, d2) = tracked();
    let (t3, d3) = tracked();
    {
        let interp = Interp::new();
        assert!(interp.set_assoc("rust:config", (7u32, t1)).is_none());
        assert_eq!(
            interp.assoc::<(u32, Tracked)>("rust:config").map(|v| v.0),
            Some(7)
        );
        assert!(
            interp.assoc::<String>("rust:config").is_none(),
            "another type"
        );
        // Replaced: Tcl does not call the old delete proc; the binding
        // takes the old value back.
        let old = interp.set_assoc("rust:config", (8u32, t2));
        assert_eq!(old.map(|v| v.0), Some(7));
        assert_eq!(d1.get(), 1);
        // Deleted: Tcl calls the delete proc.
        interp.delete_assoc("rust:config");
        assert_eq!(d2.get(), 1);
        assert!(interp.assoc::<(u32, Tracked)>("rust:config").is_none());
        interp.set_assoc("rust:other", t3);
    }
    // The interp's deletion freed the last one.
    assert_eq!(d3.get(), 1);
}

// ---------------------------------------------------------------------------
// Variable traces
// ---------------------------------------------------------------------------

/// `Tcl_VarTraceProc`: null, or an error message. The binding registers
/// with `TCL_TRACE_RESULT_DYNAMIC`, so a message is a `Tcl_Alloc`ed copy
/// that Tcl frees; the fallback is one too.
#[callback(
    error = String,
    on_error = tcl_strdup(e),
    fallback = tcl_strdup("ffi-callback: the trace failed"),
)]
type VarTraceProc = unsafe extern "C" fn(
    #[user_data] cd: ClientData,
    #[into(InterpRef)] interp: *mut Tcl_Interp,
    #[into(&CStr)] name1: *const c_char,
    #[into(Option<&CStr>)] name2: *const c_char,
    flags: c_int,
) -> *mut c_char;

fn tcl_strdup(s: &str) -> *mut c_char {
    // SAFETY: Tcl's allocator, `len + 1` bytes.
    let p = unsafe { Tcl_Alloc((s.len() + 1) as std::ffi::c_uint) };
    // SAFETY: room for the bytes and the NUL.
    unsafe {
        ptr::copy_nonoverlapping(s.as_ptr(), p.cast::<u8>(), s.len());
        *p.add(s.len()) = 0;
    }
    p
}

type TraceFn =
    Box<dyn FnMut(InterpRef, &CStr, Option<&CStr>, c_int) -> Result<*mut c_char, String>>;

/// A trace on a global variable: no destroy-notify in Tcl (the trace goes
/// with `Tcl_UntraceVar`, or with the variable when it is unset), so Rust
/// keeps the closure and unregisters it on drop.
struct VarTrace<'i> {
    interp: &'i Interp,
    name: CString,
    flags: c_int,
    closure: ffi_callback::Boxed<VarTraceProc<TraceFn>>,
}

impl<'i> VarTrace<'i> {
    fn new(
        interp: &'i Interp,
        name: &str,
        flags: c_int,
        mut f: impl FnMut(InterpRef, &CStr, Option<&CStr>, c_int) -> Result<(), String> + 'static,
    ) -> VarTrace<'i> {
        let closure = VarTraceProc::boxed(Box::new(move |i, n1: &CStr, n2: Option<&CStr>, fl| {
            f(i, n1, n2, fl).map(|()| ptr::null_mut())
        }) as TraceFn);
        let name = cstring(name);
        let flags = flags | TCL_GLOBAL_ONLY | TCL_TRACE_RESULT_DYNAMIC;
        // SAFETY: a live interp; the closure lives until `Tcl_UntraceVar`.
        let rc = unsafe {
            Tcl_TraceVar(
                interp.raw,
                name.as_ptr(),
                flags,
                Some(closure.function()),
                closure.user_data(),
            )
        };
        assert_eq!(rc, TCL_OK);
        VarTrace {
            interp,
            name,
            flags,
            closure,
        }
    }
}

impl Drop for VarTrace<'_> {
    fn drop(&mut self) {
        // SAFETY: a live interp (borrowed); a no-op if the variable's unset
        // removed the trace already.
        unsafe {
            Tcl_UntraceVar(
                self.interp.raw,
                self.name.as_ptr(),
                self.flags,
                Some(self.closure.function()),
                self.closure.user_data(),
            )
        };
    }
}

#[test]
fn variable_trace_sees_reads_writes_and_unsets() {
    let interp = Interp::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    interp.eval("set watched 1").unwrap();
    let trace = VarTrace::new(
        &interp,
        "watched",
        TCL_TRACE_READS | TCL_TRACE_WRITES | TCL_TRACE_UNSETS,
        move |_, name1, name2, flags| {
            let op = if flags & TCL_TRACE_READS != 0 {
                "read"
            } else if flags & TCL_TRACE_WRITES != 0 {
                "write"
            } else {
                "unset"
            };
            s.borrow_mut()
                .push((op, name1.to_str().unwrap().to_owned(), name2.is_some()));
            Ok(())
        },
    );
    interp
        .eval("set watched 2; set x $watched; unset watched")
        .unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            ("write", "watched".to_owned(), false),
            ("read", "watched".to_owned(), false),
            ("unset", "watched".to_owned(), false)
        ]
    );
    drop(trace);
}

#[test]
fn variable_trace_error_message_is_freed_by_tcl() {
    let interp = Interp::new();
    interp.eval("set ro 1").unwrap();
    let trace = VarTrace::new(&interp, "ro", TCL_TRACE_WRITES, |_, _, _, _| {
        // The `Err` becomes the message Tcl reports (and frees).
        Err("read-only".to_owned())
    });
    let err = interp.eval("set ro 2").unwrap_err();
    assert_eq!(err, "can't set \"ro\": read-only");
    // From Rust's `Tcl_SetVar` too.
    assert_eq!(
        interp.r().set_var("ro", "5"),
        Err("can't set \"ro\": read-only".to_owned())
    );
    // Under `try_resume`, the message is Tcl's and the `String` Rust's.
    let r: Result<_, String> = interp.r().try_eval("catch {set ro 3} m; set m");
    assert_eq!(r, Err("read-only".to_owned()));
    drop(trace);
    assert_eq!(interp.eval("set ro 4").as_deref(), Ok("4"));
}

#[test]
fn variable_trace_panic_is_a_tcl_error_and_comes_back() {
    let interp = Interp::new();
    interp.eval("set v 1").unwrap();
    let trace = VarTrace::new(&interp, "v", TCL_TRACE_READS, |_, _, _, _| {
        panic!("trace panicked")
    });
    let payload = payload_of(|| interp.r().get_var("v"));
    assert_eq!(message(&*payload), "trace panicked");
    let payload = payload_of(|| interp.eval("set v"));
    assert_eq!(message(&*payload), "trace panicked");
    assert_eq!(
        string_result(interp.raw),
        "can't read \"v\": ffi-callback: the trace failed"
    );
    drop(trace);
}

#[test]
fn variable_trace_on_interp_deletion() {
    let flags_seen = Rc::new(Cell::new(0));
    let f = flags_seen.clone();
    let interp = Interp::new();
    interp.eval("set doomed 1").unwrap();
    // A trace kept for the interp's life: handed to Tcl here (no drop
    // before the interp's), so leak the guard's untrace and keep the
    // closure until after the deletion.
    let closure = VarTraceProc::boxed(Box::new(move |_, _: &CStr, _: Option<&CStr>, flags| {
        f.set(flags);
        Ok(ptr::null_mut())
    }) as TraceFn);
    // SAFETY: a live interp; the closure outlives it (dropped below).
    unsafe {
        Tcl_TraceVar(
            interp.raw,
            c"doomed".as_ptr(),
            TCL_GLOBAL_ONLY | TCL_TRACE_UNSETS | TCL_TRACE_RESULT_DYNAMIC,
            Some(closure.function()),
            closure.user_data(),
        )
    };
    drop(interp);
    assert_ne!(flags_seen.get() & TCL_INTERP_DESTROYED, 0);
    assert_ne!(flags_seen.get() & TCL_TRACE_UNSETS, 0);
    drop(closure);
}

// ---------------------------------------------------------------------------
// Command traces (`Tcl_CreateObjTrace`, with a delete proc)
// ---------------------------------------------------------------------------

#[callback(fallback = TCL_ERROR)]
type ObjTraceProc = unsafe extern "C" fn(
    #[user_data] cd: ClientData,
    interp: *mut Tcl_Interp,
    level: c_int,
    #[into(&CStr)] command: *const c_char,
    token: Tcl_Command,
    objc: c_int,
    #[into(&[*mut Tcl_Obj], len = objc as usize)] objv: *const *mut Tcl_Obj,
) -> c_int;

#[test]
fn object_trace_sees_each_command_and_its_delete_proc_frees_it() {
    let interp = Interp::new();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (track, drops) = tracked();
    let s = seen.clone();
    let raw = ObjTraceProc::boxed(
        move |_interp, level, command: &CStr, _token, _objc, objv: &[*mut Tcl_Obj]| {
            let _ = &track;
            s.borrow_mut().push((
                level,
                command.to_str().unwrap().to_owned(),
                obj_str(objv[0]),
            ));
            TCL_OK
        },
    )
    .into_raw();
    // SAFETY: a live interp; Tcl calls `destroy` once, on `Tcl_DeleteTrace`
    // or the interp's deletion.
    let trace = unsafe {
        Tcl_CreateObjTrace(
            interp.raw,
            0,
            0,
            Some(raw.function),
            raw.user_data,
            Some(raw.destroy),
        )
    };
    interp.eval("set a 1; incr a").unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            (1, "set a 1".to_owned(), "set".to_owned()),
            (1, "incr a".to_owned(), "incr".to_owned())
        ]
    );
    assert_eq!(drops.get(), 0);
    // SAFETY: our trace, deleted once.
    unsafe { Tcl_DeleteTrace(interp.raw, trace) };
    assert_eq!(drops.get(), 1);
    interp.eval("set a 3").unwrap();
    assert_eq!(seen.borrow().len(), 2);
}

// ---------------------------------------------------------------------------
// A channel type over a Rust buffer
// ---------------------------------------------------------------------------

/// `Tcl_ChannelType`, version 5 (only the fields this binding fills are
/// typed; the rest are null).
#[repr(C)]
struct Tcl_ChannelType {
    type_name: *const c_char,
    version: usize,
    close_proc: Option<MemChannelCloseFn>,
    input_proc: Option<MemChannelInputFn>,
    output_proc: Option<MemChannelOutputFn>,
    seek_proc: *const c_void,
    set_option_proc: *const c_void,
    get_option_proc: *const c_void,
    watch_proc: Option<MemChannelWatchFn>,
    get_handle_proc: Option<MemChannelGetHandleFn>,
    close2_proc: *const c_void,
    block_mode_proc: Option<MemChannelBlockModeFn>,
    flush_proc: *const c_void,
    handler_proc: *const c_void,
    wide_seek_proc: *const c_void,
    thread_action_proc: *const c_void,
    truncate_proc: *const c_void,
}

/// A static of C function pointers and a string: shared by every thread.
struct ChannelType(Tcl_ChannelType);
// SAFETY: immutable, and every pointer in it is to static code or data.
unsafe impl Sync for ChannelType {}

/// The driver procs of one channel instance, sharing its `instanceData`.
#[callback]
trait MemChannel {
    /// `Tcl_DriverCloseProc`: 0 or an errno; ends the instance.
    #[callback(fallback = EIO)]
    unsafe extern "C" fn close(
        self,
        #[user_data] instance: ClientData,
        interp: *mut Tcl_Interp,
    ) -> c_int;
    /// `Tcl_DriverInputProc`: bytes read, 0 at the end, -1 with an errno.
    #[callback(
        // SAFETY: Tcl passes its error code's address.
        fallback = unsafe { fail_io(error_code) }
    )]
    unsafe extern "C" fn input(
        &mut self,
        #[user_data] instance: ClientData,
        #[into(&mut [u8], len = to_read as usize)] buf: *mut c_char,
        to_read: c_int,
        #[into(&mut c_int)] error_code: *mut c_int,
    ) -> c_int;
    /// `Tcl_DriverOutputProc`: bytes written, or -1 with an errno.
    #[callback(
        // SAFETY: Tcl passes its error code's address.
        fallback = unsafe { fail_io(error_code) }
    )]
    unsafe extern "C" fn output(
        &mut self,
        #[user_data] instance: ClientData,
        #[into(&[u8], len = to_write as usize)] buf: *const c_char,
        to_write: c_int,
        #[into(&mut c_int)] error_code: *mut c_int,
    ) -> c_int;
    /// `Tcl_DriverWatchProc`: nothing to watch in memory.
    unsafe extern "C" fn watch(&mut self, #[user_data] instance: ClientData, mask: c_int);
    /// `Tcl_DriverGetHandleProc`: no OS handle.
    #[callback(fallback = TCL_ERROR)]
    unsafe extern "C" fn get_handle(
        &mut self,
        #[user_data] instance: ClientData,
        direction: c_int,
        handle: *mut ClientData,
    ) -> c_int;
    /// `Tcl_DriverBlockModeProc`: 0 or an errno.
    #[callback(fallback = EINVAL)]
    unsafe extern "C" fn block_mode(
        &mut self,
        #[user_data] instance: ClientData,
        mode: c_int,
    ) -> c_int;
}

/// What `fallback` writes for C: -1 and `EIO` in `*errorCodePtr`.
///
/// # Safety
/// `error_code` is null or points at Tcl's error code, as Tcl passes it.
unsafe fn fail_io(error_code: *mut c_int) -> c_int {
    if !error_code.is_null() {
        // SAFETY: by the caller's promise.
        unsafe { *error_code = EIO };
    }
    -1
}

/// A channel over bytes in memory; what was written goes to `sink` when
/// the channel closes.
struct MemChan {
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
    sink: Rc<RefCell<Option<Vec<u8>>>>,
    fail_writes: bool,
}

impl MemChannel for MemChan {
    fn close(self, _interp: *mut Tcl_Interp) -> c_int {
        *self.sink.borrow_mut() = Some(self.output);
        0
    }
    fn input(&mut self, buf: &mut [u8], _to_read: c_int, _error_code: &mut c_int) -> c_int {
        let n = buf.len().min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        n as c_int
    }
    fn output(&mut self, buf: &[u8], _to_write: c_int, error_code: &mut c_int) -> c_int {
        if self.fail_writes {
            *error_code = EIO;
            return -1;
        }
        if buf.starts_with(b"panic") {
            panic!("the channel refused {:?}", String::from_utf8_lossy(buf));
        }
        self.output.extend_from_slice(buf);
        buf.len() as c_int
    }
    fn watch(&mut self, _mask: c_int) {}
    fn get_handle(&mut self, _direction: c_int, _handle: *mut ClientData) -> c_int {
        TCL_ERROR
    }
    fn block_mode(&mut self, _mode: c_int) -> c_int {
        0
    }
}

static MEM_CHANNEL: ChannelType = ChannelType(Tcl_ChannelType {
    type_name: c"rustmem".as_ptr(),
    version: 5,
    close_proc: Some(MemChan::CLOSE),
    input_proc: Some(MemChan::INPUT),
    output_proc: Some(MemChan::OUTPUT),
    seek_proc: ptr::null(),
    set_option_proc: ptr::null(),
    get_option_proc: ptr::null(),
    watch_proc: Some(MemChan::WATCH),
    get_handle_proc: Some(MemChan::GET_HANDLE),
    close2_proc: ptr::null(),
    block_mode_proc: Some(MemChan::BLOCK_MODE),
    flush_proc: ptr::null(),
    handler_proc: ptr::null(),
    wide_seek_proc: ptr::null(),
    thread_action_proc: ptr::null(),
    truncate_proc: ptr::null(),
});

/// Makes a channel over `input` in `interp` and returns its Tcl name.
fn open_mem_channel(interp: &Interp, name: &str, state: MemChan) -> String {
    let name = cstring(name);
    // Tcl owns the state from here: the close proc ends it.
    let instance = state.boxed().into_raw();
    // SAFETY: a static channel type; Tcl calls `close` once.
    let chan = unsafe {
        Tcl_CreateChannel(
            &MEM_CHANNEL.0,
            name.as_ptr(),
            instance,
            TCL_READABLE | TCL_WRITABLE,
        )
    };
    assert!(!chan.is_null());
    // SAFETY: a live interp and channel.
    unsafe { Tcl_RegisterChannel(interp.raw, chan) };
    // SAFETY: the channel's NUL-terminated name.
    unsafe { CStr::from_ptr(Tcl_GetChannelName(chan)) }
        .to_str()
        .unwrap()
        .to_owned()
}

fn mem_chan(input: &[u8]) -> (MemChan, Rc<RefCell<Option<Vec<u8>>>>) {
    let sink = Rc::new(RefCell::new(None));
    (
        MemChan {
            input: input.to_vec(),
            pos: 0,
            output: Vec::new(),
            sink: sink.clone(),
            fail_writes: false,
        },
        sink,
    )
}

#[test]
fn channel_type_serves_gets_puts_and_close_from_a_script() {
    let interp = Interp::new();
    let (state, sink) = mem_chan(b"first line\nsecond line\n");
    let chan = open_mem_channel(&interp, "mem0", state);
    assert_eq!(chan, "mem0");
    interp
        .eval("fconfigure mem0 -translation lf -buffering full")
        .unwrap();
    assert_eq!(interp.eval("gets mem0").as_deref(), Ok("first line"));
    assert_eq!(interp.eval("gets mem0 line").as_deref(), Ok("11"));
    assert_eq!(interp.r().get_var("line").as_deref(), Some("second line"));
    assert_eq!(interp.eval("gets mem0").as_deref(), Ok(""));
    assert_eq!(interp.eval("eof mem0").as_deref(), Ok("1"));
    interp
        .eval("puts mem0 hello; puts -nonewline mem0 world")
        .unwrap();
    assert!(sink.borrow().is_none());
    interp.eval("close mem0").unwrap();
    assert_eq!(sink.borrow().as_deref(), Some(&b"hello\nworld"[..]));
}

#[test]
fn channel_closed_by_interp_deletion() {
    let (state, sink) = mem_chan(b"");
    {
        let interp = Interp::new();
        open_mem_channel(&interp, "mem1", state);
        interp.eval("puts mem1 unflushed").unwrap();
    }
    assert_eq!(sink.borrow().as_deref(), Some(&b"unflushed\n"[..]));
}

#[test]
fn channel_write_errors_and_panics_reach_the_script_and_rust() {
    let interp = Interp::new();
    let (mut state, _sink) = mem_chan(b"");
    state.fail_writes = true;
    open_mem_channel(&interp, "mem2", state);
    let err = interp
        .eval("fconfigure mem2 -buffering none; puts mem2 x")
        .unwrap_err();
    assert!(
        err.contains("I/O error") || err.contains("error writing"),
        "{err}"
    );

    let (state, sink) = mem_chan(b"");
    open_mem_channel(&interp, "mem3", state);
    let payload =
        payload_of(|| interp.eval("fconfigure mem3 -buffering none; catch {puts mem3 panic!}"));
    assert!(
        message(&*payload).contains("the channel refused"),
        "{}",
        message(&*payload)
    );
    // The state was not dropped by the panic: `close` still runs it.
    interp.eval("puts mem3 after; close mem3").unwrap();
    assert_eq!(sink.borrow().as_deref(), Some(&b"after\n"[..]));
    let _ = interp.eval("catch {close mem2}");
}

#[test]
fn panicking_command_under_catch_with_a_stop_hook_unwinds_the_script() {
    let interp = Interp::new();
    interp.create_command("boom", |_, _, _| panic!("boom, then unwind"));
    let payload = payload_of(|| {
        interp
            .r()
            .eval_unwinding_on_panic("set before 1; catch {boom} msg; set after 1")
    });
    assert_eq!(message(&*payload), "boom, then unwind");
    assert_eq!(interp.r().get_var("before").as_deref(), Some("1"));
    // `catch` took the command's own error (the fallback), but the
    // cancellation unwound the script at the next command.
    assert_eq!(
        interp.r().get_var("msg").as_deref(),
        Some("ffi-callback: the Rust command failed")
    );
    assert_eq!(interp.r().get_var("after"), None, "the script stopped");
    // The interp evaluates again afterwards: `Tcl_EvalObjEx` resets the
    // cancellation when the unwound eval returns (`Tcl_EvalEx` does not,
    // and every later eval then fails with "eval unwound").
    assert_eq!(interp.eval("set after 2").as_deref(), Ok("2"));
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("the command's closure panicked while dropped");
    }
}

#[test]
fn closure_panicking_in_its_drop_comes_back_from_the_rename() {
    let interp = Interp::new();
    let guard = PanicOnDrop;
    interp.create_command("fragile", move |_, _, _| {
        let _ = &guard;
        TCL_OK
    });
    let payload = payload_of(|| interp.eval("rename fragile {}; set after 1"));
    assert_eq!(
        message(&*payload),
        "the command's closure panicked while dropped"
    );
    assert_eq!(
        interp.r().get_var("after").as_deref(),
        Some("1"),
        "Tcl saw nothing"
    );
    assert!(interp.eval("fragile").is_err(), "deleted all the same");
}

#[test]
fn closure_panicking_in_its_drop_comes_back_from_the_interp_deletion() {
    let interp = Interp::new();
    let guard = PanicOnDrop;
    interp.create_command("fragile", move |_, _, _| {
        let _ = &guard;
        TCL_OK
    });
    let payload = payload_of(|| drop(interp));
    assert_eq!(
        message(&*payload),
        "the command's closure panicked while dropped"
    );
}

#[test]
fn error_of_a_command_nested_in_another_reaches_the_outer_try_resume() {
    let interp = Interp::new();
    interp.r().create_fallible_command("fail", |_, _, objv| {
        Err(CmdError(format!("failed with {}", obj_str(objv[1]))))
    });
    // `outer` evaluates a script of its own (under `resume_panics` only):
    // the inner `Err` passes that guard, to the caller's `try_resume`.
    interp.create_command("outer", |interp, _, _| match interp.eval("fail inner") {
        Ok(_) => TCL_OK,
        Err(msg) => {
            assert_eq!(msg, "failed with inner");
            interp.set_result("outer saw it");
            TCL_OK
        }
    });
    let r: Result<_, CmdError> = interp.r().try_eval("outer");
    assert_eq!(r, Err(CmdError("failed with inner".to_owned())));
    assert_eq!(string_result(interp.raw), "outer saw it");
}

#[test]
fn panic_in_an_after_script_stops_vwait_through_the_stop_hook() {
    let interp = Interp::new();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    interp.create_command("tick", move |_, _, _| {
        c.set(c.get() + 1);
        panic!("tick panicked in the event loop")
    });
    // `after` runs `tick` from the event loop `vwait` spins; Tcl turns its
    // error into a background error and would wait for ever. The stop
    // hook unwinds the `vwait`, and the panic comes back.
    let payload = payload_of(|| {
        interp
            .r()
            .eval_unwinding_on_panic("after 1 tick; vwait forever; set after 1")
    });
    assert_eq!(message(&*payload), "tick panicked in the event loop");
    assert_eq!(calls.get(), 1);
    assert_eq!(interp.r().get_var("after"), None);
    assert_eq!(interp.eval("set ok 1").as_deref(), Ok("1"));
}

#[test]
fn panic_in_a_rust_timer_stops_vwait_through_the_stop_hook() {
    let interp = Interp::new();
    let t = Timer::new(1, || panic!("the Rust timer panicked under vwait"));
    let payload = payload_of(|| interp.r().eval_unwinding_on_panic("vwait forever"));
    assert_eq!(message(&*payload), "the Rust timer panicked under vwait");
    assert!(t.once.was_called());
}

thread_local! {
    /// The reports made on this thread, while a test records them.
    static REPORTS: RefCell<Option<Vec<(ffi_callback::ReportKind, String)>>> = const { RefCell::new(None) };
}

/// Records reports on threads that asked for it; prints the others as the
/// default reporter does.
fn recording_reporter(report: &ffi_callback::Report<'_>) {
    let kept = REPORTS.with(|r| {
        r.borrow_mut()
            .as_mut()
            .map(|v| v.push((report.kind(), report.callback().unwrap_or("").to_owned())))
            .is_some()
    });
    if !kept {
        eprintln!("ffi-callback: {report}");
    }
}

#[test]
fn err_returned_to_tcl_without_a_try_resume_is_reported_each_time() {
    ffi_callback::set_reporter(recording_reporter);
    REPORTS.set(Some(Vec::new()));
    let interp = Interp::new();
    interp.r().create_fallible_command("check", |_, _, objv| {
        if obj_str(objv[1]) == "bad" {
            Err(CmdError("bad input".to_owned()))
        } else {
            Ok(TCL_OK)
        }
    });
    // A Tcl script handling errors as Tcl scripts do: every `Err` reaches
    // Tcl through `on_error`, and is also reported as dropped, for want of
    // a `try_resume::<CmdError>` the binding does not want here.
    let r = interp.eval("foreach x {ok bad bad ok bad} {catch {check $x}}; set done 1");
    assert_eq!(r.as_deref(), Ok("1"));
    let reports = REPORTS.take().unwrap();
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert!(
        reports
            .iter()
            .all(|(k, cb)| *k == ffi_callback::ReportKind::ErrorDropped
                && cb.ends_with("FallibleCmd"))
    );
}

#[test]
fn errors_as_tcl_control_flow_end_at_tcl_with_keep_error_false() {
    ffi_callback::set_reporter(recording_reporter);
    REPORTS.set(Some(Vec::new()));
    let interp = Interp::new();
    interp
        .r()
        .create_tcl_error_command("half", |interp, _, objv| {
            let n = interp.int_arg(objv[1]).map_err(CmdError)?;
            if n % 2 != 0 {
                return Err(CmdError(format!("{n} is odd")));
            }
            interp.set_result(&(n / 2).to_string());
            Ok(TCL_OK)
        });
    // Each error is the script's to catch: the next call runs, also under a
    // `try_resume`, which gets nothing, and nothing is reported.
    let r: Result<_, CmdError> = interp
        .r()
        .try_eval("catch {half 3} first; catch {half 4} second; list $first $second");
    assert_eq!(r, Ok(Ok("{3 is odd} 2".to_owned())));
    let r = interp.eval("foreach x {1 2 3 4 5} {lappend out [catch {half $x} m] $m}; set out");
    assert_eq!(
        r.as_deref(),
        Ok("1 {1 is odd} 0 1 1 {3 is odd} 0 2 1 {5 is odd}")
    );
    // Uncaught, it is the script's error.
    assert_eq!(interp.eval("half 9"), Err("9 is odd".to_owned()));
    assert_eq!(REPORTS.take().unwrap(), [], "nothing reported");
}

#[test]
fn command_renamed_away_then_panicking_in_the_same_call() {
    let interp = Interp::new();
    let (track, drops) = tracked();
    interp.create_command("doomed", move |interp, _, _| {
        let _ = &track;
        interp.eval("rename doomed {}").unwrap();
        panic!("panicked after deleting itself")
    });
    let payload = payload_of(|| interp.eval("doomed"));
    assert_eq!(message(&*payload), "panicked after deleting itself");
    assert_eq!(
        drops.get(),
        1,
        "the deferred destroy ran after the panicking call"
    );
}

#[test]
fn poisoned_command_deleted_later_in_the_same_script_is_freed() {
    let interp = Interp::new();
    let (track, drops) = tracked();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    interp.create_command("flaky", move |_, _, _| {
        let _ = &track;
        c.set(c.get() + 1);
        panic!("flaky panicked")
    });
    let payload =
        payload_of(|| interp.eval("catch flaky; catch flaky; rename flaky {}; set after 1"));
    assert_eq!(message(&*payload), "flaky panicked");
    assert_eq!(calls.get(), 1, "poisoned: the second call did not run");
    assert_eq!(drops.get(), 1, "freed by the rename, poisoned or not");
    assert_eq!(interp.r().get_var("after").as_deref(), Some("1"));
}

#[test]
fn channel_closed_from_a_script_after_its_output_panicked_in_the_same_eval() {
    let interp = Interp::new();
    let (state, sink) = mem_chan(b"");
    open_mem_channel(&interp, "mem4", state);
    // The panic poisons the set's state until the guard returns; `close`
    // in the same script still ends it (the state is dropped without its
    // method running), so the sink never sees the output.
    let payload = payload_of(|| {
        interp.eval("fconfigure mem4 -buffering none; catch {puts mem4 panic!}; catch {close mem4}")
    });
    assert!(message(&*payload).contains("the channel refused"));
    assert!(
        sink.borrow().is_none(),
        "close's method did not run on the poisoned state"
    );
    assert!(interp.eval("puts mem4 x").is_err(), "the channel is gone");
}

// ---------------------------------------------------------------------------
// An object command: a command proc and its deleteProc as one callback set
// ---------------------------------------------------------------------------

/// A Tcl "object command" (`$counter incr`): per-object state behind the
/// clientData, its deleteProc the set's destroy, which runs the state's
/// cleanup with the state itself. `&self`, so that a script the command
/// evaluates may call it again.
#[callback]
trait ObjectCommand {
    #[callback(fallback = set_result(interp, "ffi-callback: the object command failed", TCL_ERROR))]
    unsafe extern "C" fn invoke(
        &self,
        #[user_data] cd: ClientData,
        #[into(InterpRef)] interp: *mut Tcl_Interp,
        objc: c_int,
        #[into(&[*mut Tcl_Obj], len = objc as usize)] objv: *const *mut Tcl_Obj,
    ) -> c_int;
    /// `Tcl_CmdDeleteProc`.
    unsafe extern "C" fn delete(self, #[user_data] cd: ClientData);
}

struct Counter {
    value: Cell<i64>,
    on_delete: Rc<Cell<Option<i64>>>,
}

impl ObjectCommand for Counter {
    fn invoke(&self, interp: InterpRef, _objc: c_int, objv: &[*mut Tcl_Obj]) -> c_int {
        match objv.get(1).map(|&o| obj_str(o)).as_deref() {
            Some("incr") => {
                self.value.set(self.value.get() + 1);
                interp.set_result(&self.value.get().to_string());
                TCL_OK
            }
            Some("twice") => {
                // Calls itself through the script: `&self` entries nest.
                let name = obj_str(objv[0]);
                match interp.eval(&format!("{name} incr; {name} incr")) {
                    Ok(v) => {
                        interp.set_result(&v);
                        TCL_OK
                    }
                    Err(_) => TCL_ERROR,
                }
            }
            Some("panic") => panic!("the counter panicked"),
            Some("run") => {
                // Evaluates a script inside this call.
                match interp.eval(&obj_str(objv[2])) {
                    Ok(v) => {
                        interp.set_result(&format!("{v} (value {})", self.value.get()));
                        TCL_OK
                    }
                    Err(_) => TCL_ERROR,
                }
            }
            Some("destroy") => {
                // Tcl's idiom: an object's `destroy` method renames its own
                // command away, inside its own call.
                let name = obj_str(objv[0]);
                interp
                    .eval(&format!("rename {name} {{}}"))
                    .map_or(TCL_ERROR, |_| TCL_OK)
            }
            _ => set_result(interp.0, "usage: counter incr|twice|panic", TCL_ERROR),
        }
    }
    fn delete(self) {
        self.on_delete.set(Some(self.value.get()));
    }
}

#[test]
fn object_command_as_a_callback_set_with_its_delete_proc() {
    let interp = Interp::new();
    let deleted = Rc::new(Cell::new(None));
    // `Counter` implements two sets (below): each one's `boxed` and entries
    // are named through its `Ext` trait.
    let state = ObjectCommandExt::boxed(Counter {
        value: Cell::new(0),
        on_delete: deleted.clone(),
    })
    .into_raw();
    // SAFETY: a live interp; Tcl calls DELETE once, which ends the state.
    unsafe {
        Tcl_CreateObjCommand(
            interp.raw,
            c"counter".as_ptr(),
            Some(<Counter as ObjectCommandExt>::INVOKE),
            state,
            Some(<Counter as ObjectCommandExt>::DELETE),
        )
    };
    assert_eq!(interp.eval("counter incr").as_deref(), Ok("1"));
    assert_eq!(interp.eval("counter twice").as_deref(), Ok("3"));
    assert!(interp.eval("counter bogus").is_err());
    let payload = payload_of(|| interp.eval("counter panic"));
    assert_eq!(message(&*payload), "the counter panicked");
    assert_eq!(
        interp.eval("counter incr").as_deref(),
        Ok("4"),
        "runs again after the guard"
    );
    assert_eq!(deleted.get(), None);
    interp.eval("rename counter {}").unwrap();
    assert_eq!(deleted.get(), Some(4), "the delete proc ran with the state");
}

#[test]
fn object_command_destroyed_from_inside_its_own_call_skips_a_self_delete() {
    let interp = Interp::new();
    let deleted = Rc::new(Cell::new(None));
    let (track, drops) = tracked();
    struct WithDrop(Counter, #[allow(dead_code)] Tracked);
    impl ObjectCommand for WithDrop {
        fn invoke(&self, interp: InterpRef, objc: c_int, objv: &[*mut Tcl_Obj]) -> c_int {
            ObjectCommand::invoke(&self.0, interp, objc, objv)
        }
        fn delete(self) {
            self.0.delete()
        }
    }
    let state = WithDrop(
        Counter {
            value: Cell::new(7),
            on_delete: deleted.clone(),
        },
        track,
    )
    .boxed()
    .into_raw();
    // SAFETY: as above.
    unsafe {
        Tcl_CreateObjCommand(
            interp.raw,
            c"obj".as_ptr(),
            Some(WithDrop::INVOKE),
            state,
            Some(WithDrop::DELETE),
        )
    };
    assert_eq!(interp.eval("obj incr").as_deref(), Ok("8"));
    assert_eq!(interp.eval("obj destroy"), Ok(String::new()));
    assert!(interp.eval("obj incr").is_err(), "gone");
    assert_eq!(
        drops.get(),
        1,
        "the state was dropped when the call returned"
    );
    // ... but the delete proc's method did not run: it came during another
    // call of the state (README, "Known limits"), so cleanup written in
    // `delete(self)` is skipped exactly when a Tcl object destroys itself.
    assert_eq!(deleted.get(), None);
}

/// The same object command with its deleteProc a `&self` entry marked
/// `destroy`: during `&self` calls it runs.
#[callback]
trait ObjectCommand2 {
    #[callback(fallback = set_result(interp, "ffi-callback: the object command failed", TCL_ERROR))]
    unsafe extern "C" fn invoke(
        &self,
        #[user_data] cd: ClientData,
        #[into(InterpRef)] interp: *mut Tcl_Interp,
        objc: c_int,
        #[into(&[*mut Tcl_Obj], len = objc as usize)] objv: *const *mut Tcl_Obj,
    ) -> c_int;
    #[callback(destroy)]
    unsafe extern "C" fn delete(&self, #[user_data] cd: ClientData);
}

impl ObjectCommand2 for Counter {
    fn invoke(&self, interp: InterpRef, objc: c_int, objv: &[*mut Tcl_Obj]) -> c_int {
        <Counter as ObjectCommand>::invoke(self, interp, objc, objv)
    }
    fn delete(&self) {
        self.on_delete.set(Some(self.value.get()));
    }
}

#[test]
fn object_command_destroyed_from_inside_its_own_call_runs_a_ref_self_destroy() {
    let interp = Interp::new();
    let deleted = Rc::new(Cell::new(None));
    let state = ObjectCommand2Ext::boxed(Counter {
        value: Cell::new(7),
        on_delete: deleted.clone(),
    })
    .into_raw();
    // SAFETY: as above.
    unsafe {
        Tcl_CreateObjCommand(
            interp.raw,
            c"obj".as_ptr(),
            Some(<Counter as ObjectCommand2Ext>::INVOKE),
            state,
            Some(<Counter as ObjectCommand2Ext>::DELETE),
        )
    };
    assert_eq!(interp.eval("obj incr").as_deref(), Ok("8"));
    assert_eq!(interp.eval("obj destroy"), Ok(String::new()));
    assert_eq!(
        deleted.get(),
        Some(8),
        "a `&self` destroy runs during `&self` calls"
    );
    // And by interp deletion.
    let deleted2 = Rc::new(Cell::new(None));
    let state = ObjectCommand2Ext::boxed(Counter {
        value: Cell::new(1),
        on_delete: deleted2.clone(),
    })
    .into_raw();
    // SAFETY: as above.
    unsafe {
        Tcl_CreateObjCommand(
            interp.raw,
            c"obj2".as_ptr(),
            Some(<Counter as ObjectCommand2Ext>::INVOKE),
            state,
            Some(<Counter as ObjectCommand2Ext>::DELETE),
        )
    };
    drop(interp);
    assert_eq!(deleted2.get(), Some(1));
}

// ---------------------------------------------------------------------------
// Async handlers: marked from any thread, run on the thread that made them
// ---------------------------------------------------------------------------

/// `Tcl_AsyncProc`: Tcl runs it on the thread that created the handler
/// (its docs promise it), so the default contract; the interp is null when
/// Tcl runs it outside an eval. It returns the code to go on with.
#[callback(fallback = TCL_ERROR)]
type AsyncProc = unsafe extern "C" fn(
    #[user_data] cd: ClientData,
    interp: *mut Tcl_Interp,
    code: c_int,
) -> c_int;

/// A handler and its closure, owned by Rust: `Tcl_AsyncDelete` (on this
/// thread, as Tcl requires), then the closure.
struct AsyncHandler<F: FnMut(*mut Tcl_Interp, c_int) -> c_int + 'static> {
    token: Tcl_AsyncHandler,
    _closure: ffi_callback::Boxed<AsyncProc<F>>,
}

/// What other threads get: only `Tcl_AsyncMark`, which is thread-safe.
#[derive(Clone, Copy)]
struct AsyncMarker(Tcl_AsyncHandler);
// SAFETY: Tcl_AsyncMark may be called from any thread; the handler lives
// until its owner (on the home thread) deletes it after joining them.
unsafe impl Send for AsyncMarker {}

impl AsyncMarker {
    fn mark(self) {
        // SAFETY: see the `Send` impl.
        unsafe { Tcl_AsyncMark(self.0) }
    }
}

impl<F: FnMut(*mut Tcl_Interp, c_int) -> c_int + 'static> AsyncHandler<F> {
    fn new(f: F) -> Self {
        let closure = AsyncProc::boxed(f);
        // SAFETY: the closure lives until after `Tcl_AsyncDelete`.
        let token = unsafe { Tcl_AsyncCreate(Some(closure.function()), closure.user_data()) };
        AsyncHandler {
            token,
            _closure: closure,
        }
    }
    fn marker(&self) -> AsyncMarker {
        AsyncMarker(self.token)
    }
}

impl<F: FnMut(*mut Tcl_Interp, c_int) -> c_int + 'static> Drop for AsyncHandler<F> {
    fn drop(&mut self) {
        // SAFETY: our handler, deleted once, on the thread that made it.
        unsafe { Tcl_AsyncDelete(self.token) };
    }
}

#[test]
fn async_handler_marked_from_other_threads_runs_on_its_own() {
    let interp = Interp::new();
    let home = std::thread::current().id();
    let runs = Rc::new(RefCell::new(Vec::new()));
    let r = runs.clone();
    let handler = AsyncHandler::new(move |_interp, code| {
        assert_eq!(std::thread::current().id(), home);
        r.borrow_mut().push(code);
        code
    });
    let marker = handler.marker();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(move || marker.mark());
        }
    });
    // SAFETY: no arguments.
    assert_eq!(unsafe { Tcl_AsyncReady() }, 1);
    // SAFETY: a live interp; the handler's closure is alive.
    let rc = resume_panics(|| unsafe { Tcl_AsyncInvoke(interp.raw, TCL_OK) });
    assert_eq!(rc, TCL_OK);
    assert_eq!(*runs.borrow(), [TCL_OK], "three marks, one run");
    // A mark picked up by the next eval.
    std::thread::scope(|s| {
        s.spawn(move || marker.mark());
    });
    interp.eval("set a 1; incr a").unwrap();
    assert_eq!(runs.borrow().len(), 2);
    drop(handler);
}

#[test]
fn async_handler_panic_comes_back_from_the_eval_that_ran_it() {
    let interp = Interp::new();
    let handler = AsyncHandler::new(|_, _| panic!("the async handler panicked"));
    let marker = handler.marker();
    std::thread::scope(|s| {
        s.spawn(move || marker.mark());
    });
    let payload = payload_of(|| interp.eval("set a 1; incr a"));
    assert_eq!(message(&*payload), "the async handler panicked");
    drop(handler);
}

// ---------------------------------------------------------------------------
// A command for one evaluation only, borrowing the caller's locals
// ---------------------------------------------------------------------------

thread_local! {
    /// The lent holders whose command Tcl has deleted (by address): a lent
    /// holder has no destroy of its own to tell the binding so.
    static RELEASED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The deleteProc of a lent command: Tcl passes it the command's
/// clientData, which is the lent holder: it only records that Tcl let go.
#[callback]
extern "C" fn note_released(#[user_data] holder: *mut c_void) {
    RELEASED.with(|r| r.borrow_mut().push(holder as usize));
}

impl InterpRef {
    /// Runs `body` with command `name` bound to `f`, which may borrow the
    /// caller's locals (`scope`, not `boxed`: no `'static`). Whatever the
    /// script did with the command (renamed it away, deleted it), it is
    /// gone before the holder is.
    fn with_command<R>(
        self,
        name: &str,
        f: impl FnMut(InterpRef, c_int, &[*mut Tcl_Obj]) -> c_int,
        body: impl FnOnce() -> R,
    ) -> R {
        let cname = cstring(name);
        ObjCmd::scope(f, |func, ud| {
            // SAFETY: a live interp; the command is deleted (below) before
            // the scope's holder goes, unless Tcl deleted it first.
            let token = unsafe {
                Tcl_CreateObjCommand(self.0, cname.as_ptr(), Some(func), ud, Some(note_released))
            };
            struct Unregister(*mut Tcl_Interp, Tcl_Command, usize);
            impl Drop for Unregister {
                fn drop(&mut self) {
                    let released = RELEASED.with(|r| {
                        let mut r = r.borrow_mut();
                        let at = r.iter().position(|&a| a == self.2);
                        at.map(|at| r.swap_remove(at)).is_some()
                    });
                    if !released {
                        // SAFETY: the command still exists (Tcl has not called
                        // its deleteProc), so its token is valid.
                        unsafe { Tcl_DeleteCommandFromToken(self.0, self.1) };
                        RELEASED.with(|r| r.borrow_mut().retain(|&a| a != self.2));
                    }
                }
            }
            let _unregister = Unregister(self.0, token, ud as usize);
            body()
        })
    }
}

#[test]
fn lent_command_borrowing_locals_is_gone_after_the_body_even_if_renamed() {
    let interp = Interp::new();
    let mut seen = Vec::new();
    let r = interp.r().with_command(
        "collect",
        |_, _, objv| {
            seen.push(obj_str(objv[1]));
            TCL_OK
        },
        || interp.eval("collect a; collect b; rename collect kept; kept c"),
    );
    assert!(r.is_ok());
    assert_eq!(seen, ["a", "b", "c"]);
    // Renamed by the script, deleted by the binding all the same.
    assert!(interp.eval("kept d").is_err());
    // Deleted by the script inside the body: nothing left to delete.
    let mut n = 0;
    interp.r().with_command(
        "count",
        |_, _, _| {
            n += 1;
            TCL_OK
        },
        || interp.eval("count; rename count {}").unwrap(),
    );
    assert_eq!(n, 1);
}

#[test]
fn reentrant_command_deleted_by_its_innermost_call_is_freed_after_the_outermost() {
    let interp = Interp::new();
    let (track, drops) = tracked();
    let d = drops.clone();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    interp
        .r()
        .create_reentrant_command("dive", move |interp, _, objv| {
            let _ = &track;
            let n = interp.int_arg(objv[1]).unwrap();
            if n == 0 {
                // Three calls of this closure are running: Tcl frees the
                // command now, the crate once the outermost call returns.
                interp.eval("rename dive {}").unwrap();
            } else {
                interp.eval(&format!("dive {}", n - 1)).unwrap();
            }
            s.borrow_mut().push((n, d.get()));
            TCL_OK
        });
    assert_eq!(interp.eval("dive 2"), Ok(String::new()));
    assert_eq!(
        *seen.borrow(),
        [(0, 0), (1, 0), (2, 0)],
        "alive until the outermost returned"
    );
    assert_eq!(drops.get(), 1);
}

#[test]
fn object_command_ref_self_destroy_from_a_nested_call() {
    let interp = Interp::new();
    let deleted = Rc::new(Cell::new(None));
    let state = ObjectCommand2Ext::boxed(Counter {
        value: Cell::new(0),
        on_delete: deleted.clone(),
    })
    .into_raw();
    // SAFETY: as above.
    unsafe {
        Tcl_CreateObjCommand(
            interp.raw,
            c"obj".as_ptr(),
            Some(<Counter as ObjectCommand2Ext>::INVOKE),
            state,
            Some(<Counter as ObjectCommand2Ext>::DELETE),
        )
    };
    // `run` evaluates a script inside its own call: `destroy` two levels
    // down (`run` -> `run` -> `destroy`, all `&self`), then the outer calls
    // go on reading the state, which is freed once the outermost returns.
    let r = interp.eval("obj run {obj incr; obj run {obj incr; obj destroy; set x inner}}");
    assert_eq!(r.as_deref(), Ok("inner (value 2) (value 2)"));
    assert_eq!(deleted.get(), Some(2), "the `&self` destroy ran, nested");
    assert!(interp.eval("obj incr").is_err());
}

#[test]
fn panic_at_the_bottom_of_a_recursion_comes_back_once_with_its_message() {
    let interp = Interp::new();
    let unwound = Rc::new(Cell::new(0));
    let u = unwound.clone();
    interp
        .r()
        .create_reentrant_command("dive", move |interp, _, objv| {
            struct Count(Rc<Cell<u32>>);
            impl Drop for Count {
                fn drop(&mut self) {
                    self.0.set(self.0.get() + 1);
                }
            }
            let _count = Count(u.clone());
            let n = interp.int_arg(objv[1]).unwrap();
            if n == 0 {
                panic!("hit bottom");
            }
            // The nested eval's guard re-raises the inner panic here: each
            // level unwinds in Rust, and Tcl sees each level fail.
            let _ = interp.eval(&format!("dive {}", n - 1));
            TCL_OK
        });
    let payload = payload_of(|| interp.eval("dive 3"));
    assert_eq!(message(&*payload), "hit bottom");
    assert_eq!(unwound.get(), 4, "every level's frame was dropped");
    // After the guard: runs again.
    assert_eq!(
        interp.eval("proc ok {} {return fine}; ok").as_deref(),
        Ok("fine")
    );
}
