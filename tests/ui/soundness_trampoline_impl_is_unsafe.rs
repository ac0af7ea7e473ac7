// Issue 10: the constructors pair a holder of closure `F` with the
// trampoline that `Trampoline<O>` (or `OnceTrampoline<O>`) gives for `F`,
// on that trait's word alone. Were it a safe trait, code could implement it
// for its own output type `O` and return another closure's trampoline
// (taken from `scope` and kept in a static): C would run one closure's code
// on another's memory. Both are `unsafe` traits: the macro's impls are
// `unsafe impl`, and a safe one is refused.
use ffi_callback::__private::{CallbackType, OnceTrampoline, Trampoline};
use ffi_callback::callback;
use std::ffi::{c_int, c_void};

#[callback]
type Visit = unsafe extern "C" fn(#[user_data] ud: *mut c_void, n: c_int) -> c_int;

pub struct Mine;

type Plain = fn(c_int) -> Mine;

impl Trampoline<Mine> for Visit<Plain> {
    unsafe fn trampoline<const LENT: bool>() -> <Self as CallbackType>::Function
    where
        Self: CallbackType,
    {
        unimplemented!()
    }
}

impl OnceTrampoline<Mine> for Visit<Plain> {
    unsafe fn trampoline() -> <Self as CallbackType>::Function
    where
        Self: CallbackType,
    {
        unimplemented!()
    }
}

fn main() {}
