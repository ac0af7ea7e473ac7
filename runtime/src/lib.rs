#![doc = include_str!("../../README.md")]
#![deny(missing_docs)]

mod checks;
mod fallback;
mod holder;
mod owned;
mod panic;
mod policy;
mod reentry;
mod shim;
mod user_data;

pub use ffi_callback_macros::callback;

#[doc = include_str!("generated.md")]
#[doc = "```rust,ignore"]
#[doc = include_str!("../../macros/snapshots/fn_mut_ref_user_data_last.rs")]
#[doc = "```"]
#[doc = include_str!("generated_type.md")]
#[doc = "```rust,ignore"]
#[doc = include_str!("../../macros/snapshots/type_slot_first_fallback.rs")]
#[doc = "```"]
pub mod what_the_macro_generates {}

pub use crate::fallback::Fallback;
pub use crate::owned::{Boxed, Once, RawCallback, RawOnce};
pub use crate::panic::resume_panics;
pub use crate::user_data::{
    UserDataParam, UserDataSlot, reclaim_box, user_data, user_data_box, user_data_ref,
};

/// What the generated code uses. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::checks::{
        NoCaptures, SendClosure, SyncClosure, conjure_zero_sized, require_zero_sized,
    };
    pub use crate::fallback::Fallback;
    pub use crate::holder::{Holder, HolderState, LocalState, NoState, SendState, fetch_user_data};
    pub use crate::owned::{Boxed, Once, OnceHolder, RawCallback};
    pub use crate::panic::{Site, resume_panics};
    /// The `on_panic` policies.
    pub mod policy {
        pub use crate::policy::{Abort, Caught, Fallback, Policy, Resume, Unwind};
    }
    pub use crate::shim::{call_fn, call_fn_fetch, no_fallback};
    pub use crate::user_data::{UserDataParam, UserDataSlot};
    pub use core;
}
