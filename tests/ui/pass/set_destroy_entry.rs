//! A destroy-marked entry (`#[callback(destroy)]` on `&mut self`): the one
//! trait serves a lent, a kept and a handed-over state; it may be named
//! `destroy` (no `DESTROY` is generated beside it), return a `Result`, and
//! borrow a parameter (checked inside its call).
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[derive(Debug)]
pub struct Failed(c_int);

#[callback]
pub trait Source {
    unsafe extern "C" fn dispatch(&mut self, #[user_data] ud: *mut c_void, n: c_int) -> c_int;
    #[callback(destroy, on_error = e.0)]
    unsafe extern "C" fn destroy(
        &mut self,
        #[user_data] ud: *mut c_void,
        #[into(&c_int)] last: *const c_int,
    ) -> Result<c_int, Failed>;
}

struct Count(c_int);

impl Source for Count {
    fn dispatch(&mut self, n: c_int) -> c_int {
        self.0 += n;
        self.0
    }
    fn destroy(&mut self, last: &c_int) -> Result<c_int, Failed> {
        if *last < 0 {
            return Err(Failed(*last));
        }
        self.0 += *last;
        Ok(self.0)
    }
}

fn main() {
    let last: c_int = 10;
    // Lent: a plain call.
    let (value, state) = Count(1).scope(|ud| {
        // SAFETY: `ud` is the lent state, for this call; `last` is alive.
        unsafe { Count::DISPATCH(ud, 2) + Count::DESTROY(ud, &last) }
    });
    assert_eq!((value, state.0), (16, 13));
    // Kept: a plain call, and the state back.
    let kept = Count(0).boxed();
    // SAFETY: the kept state is alive while `kept` is.
    assert_eq!(unsafe { Count::DESTROY(kept.user_data(), &last) }, 10);
    assert_eq!(kept.into_inner().ok().map(|state| state.0), Some(10));
    // Handed over: the call, then the free.
    let ud = Count(5).boxed().into_raw();
    // SAFETY: C's last call on the state it owns.
    assert_eq!(unsafe { Count::DESTROY(ud, &last) }, 15);
}
