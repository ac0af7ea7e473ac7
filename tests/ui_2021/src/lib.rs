//! Nothing: this package only runs `tests/ui_2021.rs` (edition-2021 ui
//! cases).
