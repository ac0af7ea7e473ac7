//! A generic fn: each instantiation is a monomorphic C callback.
use ffi_callback::callback;
use std::cmp::Ordering;
use std::ffi::{c_int, c_void};

#[callback]
extern "C" fn compare<T: Ord>(a: *const c_void, b: *const c_void) -> c_int {
    // SAFETY: the test passes pointers to live `T`s.
    let (a, b) = unsafe { (&*a.cast::<T>(), &*b.cast::<T>()) };
    match a.cmp(b) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

#[callback]
extern "C" fn count<T>(#[user_data] seen: &mut Vec<T>, item: *const T)
where
    T: Copy,
{
    // SAFETY: the test passes a pointer to a live `T`.
    seen.push(unsafe { *item });
}

fn main() {
    let cmp: Option<extern "C" fn(*const c_void, *const c_void) -> c_int> = Some(compare::<u32>);
    let (a, b) = (1u32, 2u32);
    let ordering = cmp.unwrap()(std::ptr::from_ref(&a).cast(), std::ptr::from_ref(&b).cast());
    assert_eq!(ordering, -1);
    let _: unsafe extern "C" fn(*mut c_void, *const u8) = count::<u8>;
}
