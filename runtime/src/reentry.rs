//! Re-entry detection for fn-form callbacks that receive `&mut T` user data.
//!
//! A fn has no holder to keep state in, so with `debug_assertions` on, each
//! running call of such a callback links a node on its own stack into a
//! per-thread list; a call arriving with a pointer already in the list would
//! create a second live `&mut T`, and is refused. Release builds skip this
//! (it is the caller's promise there); callback types always check, in their
//! holder. Nothing here is generic, so it is compiled once, not per callback.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use crate::panic::{Site, refuse};

/// One running call's entry in the per-thread list; lives on that call's
/// stack.
pub(crate) struct Node {
    user_data: *mut c_void,
    site: &'static Site,
    outer: Cell<*const Node>,
}

impl Node {
    #[inline(always)]
    pub(crate) const fn new(site: &'static Site, user_data: *mut c_void) -> Node {
        Node {
            user_data,
            site,
            outer: Cell::new(ptr::null()),
        }
    }
}

thread_local! {
    static ACTIVE: Cell<*const Node> = const { Cell::new(ptr::null()) };
}

/// Marks `node.user_data` as mutably borrowed on this thread until the
/// returned guard drops, or refuses (panics) if it already is. `node` must
/// stay where it is until the guard drops (both live in the caller's frame).
#[inline(never)]
pub(crate) fn enter(node: &Node) -> Active {
    let outer = ACTIVE.with(Cell::get);
    check_not_active(outer, node.site, node.user_data);
    node.outer.set(outer);
    ACTIVE.with(|active| active.set(node));
    Active(outer)
}

fn check_not_active(mut node: *const Node, site: &'static Site, user_data: *mut c_void) {
    while !node.is_null() {
        // SAFETY: every node in the list lives in the frame of a call still
        // running on this thread; `Active` unlinks it before that frame ends.
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
        node = active.outer.get();
    }
}

/// Unlinks a node when its call ends, normally or by unwinding.
pub(crate) struct Active(*const Node);

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.set(self.0));
    }
}
