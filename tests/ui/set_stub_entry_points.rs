// After an error in a callback set, its companion trait still has the entry
// points (`WRITE`), `DESTROY`, `boxed` and `scope`, with their real types,
// and the methods their real signatures (`ControlFlow` with `on_continue`):
// the impls and uses below, written for the real sets, bring no second
// error.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};
use std::ops::ControlFlow;

#[callback(bogus)]
pub trait Sink {
    #[callback(fallback = -1)]
    unsafe extern "C" fn write(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    #[callback(fallback = -1, on_error = -2)]
    unsafe extern "C" fn flush(&self, #[user_data] ud: *mut c_void) -> Result<c_int, String>;
    unsafe extern "C" fn close(self, #[user_data] ud: *mut c_void);
}

#[callback(send)]
pub trait Visit {
    #[callback(on_continue = 0, on_break = 1, fallbak = 2)]
    unsafe extern "system" fn item(&mut self, n: c_int, #[user_data] ud: *mut c_void) -> c_int;
    #[callback(unsafe(safe_fn))]
    extern "C" fn done(&self, #[user_data] ud: *mut c_void);
}

struct Count(c_int);

impl Sink for Count {
    fn write(&mut self, n: c_int) -> c_int {
        self.0 += n;
        self.0
    }
    fn flush(&self) -> Result<c_int, String> {
        Ok(self.0)
    }
    fn close(self) {}
}

impl Visit for Count {
    fn item(&mut self, n: c_int) -> ControlFlow<()> {
        self.0 += n;
        ControlFlow::Continue(())
    }
    fn done(&self) {}
}

struct Table {
    write: Option<SinkWriteFn>,
    flush: unsafe extern "C" fn(*mut c_void) -> c_int,
    close: SinkCloseFn,
    item: VisitItemFn,
    done: extern "C" fn(*mut c_void),
    destroy: unsafe extern "C" fn(*mut c_void),
}

const TABLE: Table = Table {
    write: Some(<Count as SinkExt>::WRITE),
    flush: Count::FLUSH,
    close: Count::CLOSE,
    item: <Count as VisitExt>::ITEM,
    done: <Count as VisitExt>::DONE,
    destroy: <Count as VisitExt>::DESTROY,
};

fn main() {
    let (n, back): (c_int, Count) = SinkExt::scope(Count(1), |ud| unsafe { (TABLE.flush)(ud) });
    let boxed = SinkExt::boxed(back);
    let ud: *mut c_void = boxed.user_data();
    let raw = boxed.into_raw();
    let shared: ffi_callback::BoxedSet<Count, ffi_callback::AnyThread> = VisitExt::boxed(Count(2));
    println!("{n} {ud:?} {raw:?} {:?}", shared.user_data());
}
