//! C keeps a pointer to a borrowed holder (`new`) while Rust takes `&mut` to
//! the holder and to the struct that holds it (issue 10, item 5): the
//! pointer must stay valid under Stacked and Tree Borrows, which Miri
//! checks.

use super::*;

/// A binding's connection: owns its hook's holder next to other state, and
/// calls C from `&mut self` methods while C holds a pointer into it.
struct Connection<F> {
    commits: u32,
    hook: Hook<F>,
    reg: *mut Registry,
}

impl<F> Connection<F> {
    fn commit(&mut self, n: c_int) -> c_int {
        self.commits += 1;
        // SAFETY: the registry holds this connection's hook, alive and
        // unmoved.
        unsafe { c_hook_fire(self.reg, n) }
    }
}

#[test]
fn c_keeps_the_pointer_while_rust_reborrows_the_holder_mutably() {
    let mut reg = new_registry();
    let reg_ptr = &raw mut reg;
    let mut total = 0;
    let mut conn = Connection {
        commits: 0,
        hook: Hook::new(move |n| {
            total += n;
            total
        }),
        reg: reg_ptr,
    };
    // SAFETY: `conn` stays alive and unmoved until the registry is cleared.
    unsafe {
        c_hook_set(
            reg_ptr,
            Some(conn.hook.function()),
            conn.hook.user_data(),
            None,
        )
    };
    let got = resume_panics(|| {
        // A `&mut` to the struct holding the holder, for the whole C call.
        let a = conn.commit(1);
        // A `&mut` to the holder itself, then C calls through its pointer.
        let hook = &mut conn.hook;
        let _ = std::hint::black_box(&mut *hook);
        // SAFETY: as above.
        let b = unsafe { c_hook_fire(reg_ptr, 2) };
        let reborrowed = &mut conn;
        let c = reborrowed.commit(3);
        (a, b, c)
    });
    assert_eq!(got, (1, 3, 6));
    assert_eq!(conn.commits, 2);
    // SAFETY: no destroy-notify: it only forgets the hook.
    unsafe { c_hook_clear(reg_ptr) };
    let mut closure = conn.hook.into_inner();
    assert_eq!(closure(4), 10, "the closure's state carried over");
}
