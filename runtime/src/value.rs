//! A type-erased value that stores small values inline: a finished greenlet's result.
//!
//! `Box<dyn Any>` would cost an allocation per result; most results are small (unit,
//! integers, `io::Result<()>`, a pointer), so values of at most two words with at most word
//! alignment live inside the record itself. Larger values are boxed.

use std::any::{Any, TypeId};
use std::cell::UnsafeCell;
use std::mem::{self, MaybeUninit};

/// Inline storage: two machine words.
type Words = MaybeUninit<[usize; 2]>;

/// A value of some `'static` type, taken back out by the same type.
pub(crate) struct Value {
    /// Where the value lives.
    repr: Repr,
}

enum Repr {
    /// A small value stored in place. INVARIANT: `data` holds an initialised value of the
    /// type `ty` names, and `drop` drops a value of that type in place.
    Inline {
        /// The bytes of the value. In an `UnsafeCell` because `get` lends out a `&T`, and a
        /// `T` with interior mutability (`Cell`, an atomic) may be mutated through it.
        data: UnsafeCell<Words>,
        /// Its type.
        ty: TypeId,
        /// Drops it in place.
        drop: unsafe fn(*mut Words),
    },
    /// A larger value, boxed.
    Boxed(Box<dyn Any>),
    /// Taken out already (nothing to drop).
    Empty,
}

/// Drops a `T` stored at the start of `p`.
///
/// # Safety
/// `p` must hold an initialised `T` that is not used afterwards.
unsafe fn drop_inline<T>(p: *mut Words) {
    // SAFETY: per the contract.
    unsafe { p.cast::<T>().drop_in_place() }
}

impl Value {
    /// Wraps `v`, inline when it fits.
    #[inline]
    pub(crate) fn new<T: 'static>(v: T) -> Value {
        if mem::size_of::<T>() <= mem::size_of::<Words>()
            && mem::align_of::<T>() <= mem::align_of::<Words>()
        {
            let mut data = Words::uninit();
            // SAFETY: `T` fits in `data` in size and alignment (checked above).
            unsafe { data.as_mut_ptr().cast::<T>().write(v) };
            Value {
                repr: Repr::Inline {
                    data: UnsafeCell::new(data),
                    ty: TypeId::of::<T>(),
                    drop: drop_inline::<T>,
                },
            }
        } else {
            Value {
                repr: Repr::Boxed(Box::new(v)),
            }
        }
    }

    /// The value as a `&T`, if it is a `T` and has not been taken.
    #[inline]
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        match &self.repr {
            Repr::Inline { data, ty, .. } if *ty == TypeId::of::<T>() => {
                // SAFETY: the invariant says `data` holds a `T`; the reference borrows `self`.
                Some(unsafe { &*data.get().cast::<T>() })
            }
            Repr::Boxed(b) => b.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// Takes the value out as a `T`; `Err(self)` if it is of another type.
    #[inline]
    pub(crate) fn take<T: 'static>(mut self) -> Result<T, Value> {
        match &mut self.repr {
            Repr::Inline { data, ty, .. } if *ty == TypeId::of::<T>() => {
                // SAFETY: the invariant says `data` holds a `T`; `repr` becomes `Empty` right
                // after, so it is neither read nor dropped again.
                let v = unsafe { data.get().cast::<T>().read() };
                self.repr = Repr::Empty;
                Ok(v)
            }
            Repr::Boxed(b) if (**b).type_id() == TypeId::of::<T>() => {
                let Repr::Boxed(b) = mem::replace(&mut self.repr, Repr::Empty) else {
                    unreachable!()
                };
                Ok(*b.downcast::<T>().expect("type checked above"))
            }
            _ => Err(self),
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if let Repr::Inline { data, drop, .. } = &mut self.repr {
            // SAFETY: the invariant says `data` holds the value `drop` is for; it is dropped
            // once, here.
            unsafe { drop(data.get_mut()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn small_and_large_values_round_trip_and_drop_once() {
        assert_eq!(Value::new(7u64).take::<u64>().ok(), Some(7));
        assert_eq!(Value::new(()).take::<()>().ok(), Some(()));
        let big = [9u8; 100];
        assert_eq!(Value::new(big).take::<[u8; 100]>().ok(), Some(big));
        assert!(Value::new(1u8).take::<u16>().is_err());

        let rc = Rc::new(());
        let v = Value::new(rc.clone());
        assert_eq!(Rc::strong_count(&rc), 2);
        drop(v);
        assert_eq!(Rc::strong_count(&rc), 1, "inline value dropped once");
        let v = Value::new((rc.clone(), [0u64; 4]));
        drop(v);
        assert_eq!(Rc::strong_count(&rc), 1, "boxed value dropped once");
        let taken = Value::new(rc.clone())
            .take::<Rc<()>>()
            .ok()
            .expect("same type");
        assert_eq!(Rc::strong_count(&rc), 2);
        drop(taken);
        assert_eq!(Rc::strong_count(&rc), 1, "taken value not dropped twice");
    }

    #[test]
    fn an_inline_value_with_interior_mutability_can_be_mutated_through_get() {
        // `JoinHandle::value` lends out such a `&T` (UB without the UnsafeCell; Miri sees it).
        let v = Value::new(std::cell::Cell::new(1u32));
        v.get::<std::cell::Cell<u32>>().expect("same type").set(2);
        assert_eq!(
            v.take::<std::cell::Cell<u32>>().ok().map(|c| c.get()),
            Some(2)
        );
    }
}
