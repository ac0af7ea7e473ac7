//! Re-entry detection for fn-form callbacks that receive `&mut T` user data.
//!
//! A fn has no holder to keep state in, so with `debug_assertions` on, each
//! running call of such a callback links a node on its own stack into a
//! per-thread list; a call arriving with a pointer already in the list would
//! create a second live `&mut T`, and is refused. Release builds skip this
//! (it is the caller's promise there); callback types always check, in their
//! holder.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use crate::panic::{Site, refuse};

struct Node {
    user_data: *mut c_void,
    site: &'static Site,
    outer: *const Node,
}

thread_local! {
    static ACTIVE: Cell<*const Node> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with `user_data` marked as mutably borrowed on this thread, or
/// refuses (panics) if it already is.
#[inline(never)]
pub(crate) fn exclusive<R>(
    site: &'static Site,
    user_data: *mut c_void,
    f: impl FnOnce() -> R,
) -> R {
    let outer = ACTIVE.with(Cell::get);
    check_not_active(outer, site, user_data);
    let node = Node {
        user_data,
        site,
        outer,
    };
    ACTIVE.with(|active| active.set(&node));
    let _pop = Pop(outer);
    f()
}

fn check_not_active(mut node: *const Node, site: &'static Site, user_data: *mut c_void) {
    while !node.is_null() {
        // SAFETY: every node in the list lives in the frame of an
        // `exclusive` call still running on this thread; `Pop` unlinks it
        // before that frame ends.
        let active = unsafe { &*node };
        if active.user_data == user_data {
            refuse(
                site,
                format_args!(
                    "it was entered again with user data {user_data:p}, which `{}` is still using \
                     mutably; two live `&mut` to it would be undefined behaviour. If the C \
                     library calls back re-entrantly, receive the user data as `&T` with \
                     `Cell`/`RefCell` inside",
                    active.site.name
                ),
            );
        }
        node = active.outer;
    }
}

/// Unlinks a node when its call ends, normally or by unwinding.
struct Pop(*const Node);

impl Drop for Pop {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.set(self.0));
    }
}
