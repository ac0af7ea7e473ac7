//! Re-entry detection for fn-form callbacks that receive `&mut T` user data.
//!
//! A fn has no holder to keep state in, so with `debug_assertions` on, each
//! running call of such a callback links a node on its own stack into a
//! per-thread list; a call arriving with the same pointer *and type* as one
//! in the list would create a second live `&mut T`, and is refused. The
//! type is compared by `TypeId` (not by name: two closures of one fn share a
//! `type_name`). Two
//! different types at one address are legal (a struct, then its first
//! field reborrowed from it), and zero-sized values all share the dangling
//! address without aliasing anything, so neither is refused. Release builds skip this
//! (it is the caller's promise there); callback types always check, in their
//! holder. Nothing here is generic, so it is compiled once, not per callback.

use std::any::TypeId;
use std::cell::Cell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr;

use crate::panic::{Site, refuse};

/// One running call's entry in the per-thread list; lives on that call's
/// stack.
pub(crate) struct Node {
    user_data: *mut c_void,
    /// The pointee's type: with the address, what makes two calls alias.
    type_id: TypeId,
    /// Its name, for the refusal message.
    type_name: &'static str,
    site: &'static Site,
    outer: Cell<*const Node>,
}

impl Node {
    #[inline(always)]
    pub(crate) fn new<T>(site: &'static Site, user_data: *mut c_void) -> Node {
        Node {
            user_data,
            type_id: type_id_of::<T>(),
            type_name: std::any::type_name::<T>(),
            site,
            outer: Cell::new(ptr::null()),
        }
    }
}

/// The `TypeId` of `T`, which need not be `'static`: `TypeId` ignores
/// lifetimes, so `T` with its lifetimes taken as `'static` has the same one.
fn type_id_of<T: ?Sized>() -> TypeId {
    trait TypeIdOfParam {
        fn type_id_of_param(&self) -> TypeId
        where
            Self: 'static;
    }
    impl<T: ?Sized> TypeIdOfParam for PhantomData<T> {
        fn type_id_of_param(&self) -> TypeId
        where
            Self: 'static,
        {
            TypeId::of::<T>()
        }
    }
    let marker = PhantomData::<T>;
    let object: &dyn TypeIdOfParam = &marker;
    // SAFETY: only the trait object's lifetime bound changes, not its
    // layout or vtable. The one method called reads no data and no
    // lifetime: it returns `TypeId::of::<T>()`, which lifetimes do not
    // affect; nothing outlives this statement.
    let object: &(dyn TypeIdOfParam + 'static) = unsafe {
        std::mem::transmute::<&dyn TypeIdOfParam, &(dyn TypeIdOfParam + 'static)>(object)
    };
    object.type_id_of_param()
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
    check_not_active(outer, node);
    node.outer.set(outer);
    ACTIVE.with(|active| active.set(node));
    Active(outer)
}

fn check_not_active(mut node: *const Node, new: &Node) {
    let user_data = new.user_data;
    while !node.is_null() {
        // SAFETY: every node in the list lives in the frame of a call still
        // running on this thread; `Active` unlinks it before that frame ends.
        let active = unsafe { &*node };
        if active.user_data == user_data && active.type_id == new.type_id {
            refuse(
                new.site,
                format_args!(
                    "it was entered again with user data {user_data:p} (a `{}`), which `{}` is \
                     still using mutably; two live `&mut` to it would be undefined behaviour. If \
                     the C library calls back re-entrantly, receive the user data as `&T` with \
                     `Cell`/`RefCell` inside, or use a callback type (whose holder always checks \
                     re-entry) or a callback set with `&self` methods",
                    new.type_name, active.site.name
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
