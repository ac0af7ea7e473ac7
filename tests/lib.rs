//! Shared helpers for ffi-callback's tests.

/// Panic bookkeeping for the Rust-simulated C API tests.
pub mod panics {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    /// Records the message of every panic raised on the current thread, so that
    /// tests can check panics that the policy swallowed (`on_panic = fallback`).
    /// The hook is process-global but installed once and the log is per thread,
    /// so tests running in parallel do not see each other's panics. Deliberate
    /// panics (refusals, `expected:` messages, typed payloads) are not printed;
    /// anything else (a failing assertion) goes to the default hook.
    pub mod hook {
        use std::cell::RefCell;
        use std::sync::Once;

        thread_local! {
            static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
        }

        pub fn install() {
            static INSTALL: Once = Once::new();
            INSTALL.call_once(|| {
                let default = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    let payload = info.payload();
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned());
                    let deliberate = message.as_deref().is_none_or(|m| {
                        m.starts_with("ffi-callback: ") || m.starts_with("expected")
                    });
                    let _ = LOG.try_with(|log| {
                        log.borrow_mut()
                            .push(message.unwrap_or_else(|| "<typed payload>".to_owned()));
                    });
                    if !deliberate {
                        default(info);
                    }
                }));
            });
        }

        /// Runs `f`; returns its value and the panics raised on this thread
        /// meanwhile, caught or not.
        pub fn panics_during<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
            install();
            let before = LOG.with(|log| log.borrow().len());
            let value = f();
            let raised = LOG.with(|log| log.borrow_mut().split_off(before));
            (value, raised)
        }
    }

    pub use hook::panics_during;

    /// Runs `f`, which must panic; returns the payload.
    pub fn panic_payload<R>(f: impl FnOnce() -> R) -> Box<dyn std::any::Any + Send> {
        hook::install();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(_) => panic!("the call returned instead of panicking"),
            Err(payload) => payload,
        }
    }

    /// The message of a `&str` or `String` payload.
    pub fn message(payload: &(dyn std::any::Any + Send)) -> &str {
        payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or_else(|| panic!("not a string payload"))
    }
}
