//! Shared helpers for ffi-callback's tests.
