// What a set generates (the entry-point constants, `DESTROY`, `boxed`,
// `scope`) is not an item of the trait the state's type implements, so an
// impl cannot swap them: `Small::BUMP` naming `Big`'s trampoline would run
// it on `Small`'s state.
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
trait Counter {
    unsafe extern "C" fn bump(&mut self, #[user_data] ud: *mut c_void) -> c_int;
}

struct Big(Vec<String>);

impl Counter for Big {
    fn bump(&mut self) -> c_int {
        self.0.push(String::new());
        0
    }
}

struct Small(u8);

impl Counter for Small {
    fn bump(&mut self) -> c_int {
        self.0 += 1;
        0
    }

    const BUMP: CounterBumpFn = <Big as CounterExt>::BUMP;

    const DESTROY: unsafe extern "C" fn(*mut c_void) = <Big as CounterExt>::DESTROY;

    fn boxed(self) -> ffi_callback::BoxedSet<Self, ffi_callback::CallerThread> {
        Small(0).boxed()
    }
}

fn main() {}
