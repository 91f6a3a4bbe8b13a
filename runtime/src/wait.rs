//! Waiting on many things at once: the [`Waitable`] trait and gevent's `wait`, `iwait`,
//! `joinall` and `killall`.
//!
//! ```
//! use std::time::Duration;
//! use sprout::sync::Event;
//! use sprout::Waitable;
//!
//! let stop = Event::new();
//! let worker = sprout::spawn(|| sprout::sleep(Duration::from_secs(60)));
//! let s = stop.clone();
//! sprout::spawn(move || { sprout::sleep(Duration::from_millis(5)); s.set() });
//! // Whichever comes first: the worker finishing, or the event.
//! let ready = sprout::wait(&[&worker as &dyn Waitable, &stop], None, Some(1)).unwrap();
//! assert_eq!(ready, [1]);
//! worker.kill();
//! ```
//!
//! # Protocol
//!
//! A wait over several objects opens one park epoch ([`Waiter`]) and *arms* each object that
//! is not ready with a [`Waker`] of that epoch: the first object to fire wakes the waiter,
//! and the others' wakes of the same epoch do nothing (see `waiter`). On resume every armed
//! object is *disarmed* (its guard dropped), which removes what arming registered and gives
//! back anything handed to the waiter that it will not consume (a queue item meant for a
//! getter, a semaphore permit): a wait consumes nothing. Then readiness is checked again with
//! [`Waitable::is_ready`], which is level-triggered: an `Event` set and cleared while nobody
//! looked is not seen.
//!
//! | object | ready when |
//! | --- | --- |
//! | [`JoinHandle`], [`Greenlet`] | the greenlet has finished |
//! | [`Event`] | the flag is set |
//! | [`AsyncResult`] | a value or error is set |
//! | [`Semaphore`], [`BoundedSemaphore`] | a permit is free (an `acquire` would not park) |
//! | [`Queue`](crate::sync::Queue) | an item is waiting, or it is closed (a `get` would not park) |
//! | `sprout::net::Readable(fd)`, `Writable(fd)` | `poll` reports the fd readable / writable |
//!
//! Events, results and semaphores are armed by a small watcher greenlet each (it waits with
//! the object's own blocking call and then wakes the waiter), so arming costs one spawn;
//! greenlets are armed with a link and queues with an entry in their getter list.

use std::time::{Duration, Instant};

use crate::greenlet_handle::Greenlet;
use crate::sync::{AsyncResult, BoundedSemaphore, Event, Semaphore};
use crate::task::{wait_dead, JoinHandle, Task};
use crate::waiter::{raise, Interrupt, WaitError, Waiter, Waker};

/// Something a greenlet can wait to become ready without consuming it: a greenlet, an event,
/// a result, a semaphore, a queue, an fd (see the module docs for each one's readiness).
/// Used by [`wait`], [`wait_any`] and [`iwait`], which take mixed kinds as
/// `&[&dyn Waitable]`.
///
/// Implement it for a type of your own by saying when it is ready and how to wake a
/// [`Waker`] when it may have become ready.
pub trait Waitable {
    /// Whether it is ready now (a wait on it alone would return at once).
    fn is_ready(&self) -> bool;

    /// Arranges for `waker` to be woken when this may have become ready; dropping the
    /// returned guard undoes that, giving back anything handed to the waker's greenlet.
    /// Called only while [`is_ready`](Self::is_ready) was false, by the greenlet `waker`
    /// belongs to.
    fn arm(&self, waker: &Waker) -> Armed<'_>;
}

/// What [`Waitable::arm`] registered; dropping it disarms.
#[must_use = "dropping it disarms at once"]
pub struct Armed<'a> {
    /// Undoes the arming; run once, on drop.
    disarm: Option<Box<dyn FnOnce() + 'a>>,
}

impl<'a> Armed<'a> {
    /// A guard that runs `disarm` when dropped.
    pub fn new(disarm: impl FnOnce() + 'a) -> Armed<'a> {
        Armed {
            disarm: Some(Box::new(disarm)),
        }
    }

    /// Arms `waker` by a watcher greenlet that runs `wait` (a blocking wait on the object
    /// that consumes nothing) and then wakes it. The guard kills the watcher without waiting.
    pub fn watcher(waker: &Waker, wait: impl FnOnce() + 'static) -> Armed<'static> {
        let waker = waker.clone();
        let h = crate::task::spawn(move || {
            wait();
            waker.wake();
        });
        Armed::new(move || h.kill_nowait())
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        if let Some(f) = self.disarm.take() {
            f();
        }
    }
}

impl std::fmt::Debug for Armed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Armed")
    }
}

impl<W: Waitable + ?Sized> Waitable for &W {
    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        (**self).arm(waker)
    }
}

fn arm_task<'a>(task: &'a std::rc::Rc<Task>, waker: &Waker) -> Armed<'a> {
    let w = waker.clone();
    let id = task.add_link(Box::new(move |_| {
        w.wake();
    }));
    Armed::new(move || {
        task.remove_link(id);
    })
}

impl<T> Waitable for JoinHandle<T> {
    fn is_ready(&self) -> bool {
        self.is_finished()
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        arm_task(self.task(), waker)
    }
}

impl Waitable for Greenlet {
    fn is_ready(&self) -> bool {
        self.is_finished()
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        arm_task(self.task(), waker)
    }
}

impl Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        let e = self.clone();
        Armed::watcher(waker, move || {
            let _ = e.wait();
        })
    }
}

impl<T: 'static, E: 'static> Waitable for AsyncResult<T, E> {
    fn is_ready(&self) -> bool {
        AsyncResult::is_ready(self)
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        let r = self.clone();
        Armed::watcher(waker, move || {
            let _ = r.wait();
        })
    }
}

impl Waitable for Semaphore {
    fn is_ready(&self) -> bool {
        self.available_permits() > 0
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        // Take a permit in turn and give it straight back (to the next in line, if any).
        let s = self.clone();
        Armed::watcher(waker, move || drop(s.acquire()))
    }
}

impl Waitable for BoundedSemaphore {
    fn is_ready(&self) -> bool {
        self.available_permits() > 0
    }
    fn arm(&self, waker: &Waker) -> Armed<'_> {
        let s = self.clone();
        Armed::watcher(waker, move || drop(s.acquire()))
    }
}

/// Parks until `count` of `objects` are ready (all of them with `None`), or `timeout` passes
/// (gevent's `wait(objects, timeout, count)`). Returns the indices of the ready objects, in
/// index order, at most `count`; on timeout, those ready then (possibly none). Consumes
/// nothing: a ready queue keeps its item, a ready semaphore its permit.
///
/// # Errors
/// [`WaitError::LoopExit`] if nothing left in the hub could make enough of them ready.
/// Kill and `Timeout` scopes unwind, as from any blocking call.
pub fn wait<W: Waitable>(
    objects: &[W],
    timeout: Option<Duration>,
    count: Option<usize>,
) -> Result<Vec<usize>, WaitError> {
    let deadline = timeout.and_then(crate::time::deadline_after);
    let need = count.unwrap_or(objects.len()).min(objects.len());
    loop {
        let mut ready: Vec<usize> = (0..objects.len())
            .filter(|&i| objects[i].is_ready())
            .collect();
        if ready.len() >= need {
            ready.truncate(need);
            return Ok(ready);
        }
        match park_on(objects, deadline) {
            Ok(()) => {}
            Err(Interrupt::TimedOut) => {
                return Ok((0..objects.len())
                    .filter(|&i| objects[i].is_ready())
                    .take(need)
                    .collect())
            }
            Err(i) => return Err(raise(i)),
        }
    }
}

/// One park of the current greenlet on every object that is not ready.
fn park_on<W: Waitable>(objects: &[W], deadline: Option<Instant>) -> Result<(), Interrupt> {
    let w = Waiter::new();
    let waker = w.waker();
    let armed: Vec<Armed<'_>> = objects
        .iter()
        .filter(|o| !o.is_ready())
        .map(|o| o.arm(&waker))
        .collect();
    let r = w.wait(deadline);
    drop(armed);
    r
}

/// Parks until one of `objects` is ready; returns the index of the first ready one found,
/// or `None` on timeout or LoopExit (gevent's `wait(count=1)`). Kill and `Timeout` scopes
/// unwind.
pub fn wait_any<W: Waitable>(objects: &[W], timeout: Option<Duration>) -> Option<usize> {
    if objects.is_empty() {
        return None;
    }
    wait(objects, timeout, Some(1)).ok()?.first().copied()
}

/// Yields the indices of `objects` in the order they become ready (gevent's `iwait`), each
/// once. Stops after all have, or early on timeout or LoopExit.
pub fn iwait<W: Waitable>(
    objects: &[W],
    timeout: Option<Duration>,
) -> impl Iterator<Item = usize> + '_ {
    let deadline = timeout.and_then(crate::time::deadline_after);
    let mut done = vec![false; objects.len()];
    std::iter::from_fn(move || loop {
        if let Some(i) = (0..objects.len()).find(|&i| !done[i] && objects[i].is_ready()) {
            done[i] = true;
            return Some(i);
        }
        if done.iter().all(|d| *d) {
            return None;
        }
        let pending: Vec<&W> = (0..objects.len())
            .filter(|&i| !done[i])
            .map(|i| &objects[i])
            .collect();
        match park_on(&pending, deadline) {
            Ok(()) => {}
            Err(Interrupt::TimedOut | Interrupt::LoopExit) => return None,
            Err(i) => {
                raise(i);
                return None;
            }
        }
    })
}

#[allow(private_interfaces)]
mod sealed {
    use super::*;

    /// Gives the runtime the greenlet record behind a handle.
    pub trait Sealed {
        fn task_record(&self) -> &std::rc::Rc<Task>;
    }

    impl<T> Sealed for JoinHandle<T> {
        fn task_record(&self) -> &std::rc::Rc<Task> {
            self.task()
        }
    }

    impl Sealed for Greenlet {
        fn task_record(&self) -> &std::rc::Rc<Task> {
            self.task()
        }
    }

    impl<J: Sealed + ?Sized> Sealed for &J {
        fn task_record(&self) -> &std::rc::Rc<Task> {
            (**self).task_record()
        }
    }
}

use sealed::Sealed;

/// Anything that names a hub greenlet: lets `joinall` and `killall` take handles of different
/// result types (`JoinHandle<T>`, [`Greenlet`], and references to them).
pub trait Joinable: Sealed {}

impl<T> Joinable for JoinHandle<T> {}
impl Joinable for Greenlet {}
impl<J: Joinable + ?Sized> Joinable for &J {}

/// Waits until every greenlet has finished, or `timeout` passes (gevent's `joinall`).
/// Returns true if all finished. Results stay in the handles for `join`.
///
/// ```
/// use std::time::Duration;
///
/// let hs: Vec<_> = (1..=3u64)
///     .map(|i| sprout::spawn(move || { sprout::sleep(Duration::from_millis(i)); i }))
///     .collect();
/// assert!(sprout::joinall(&hs, Some(Duration::from_secs(10))));
/// let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 6);
/// ```
pub fn joinall<J: Joinable>(handles: &[J], timeout: Option<Duration>) -> bool {
    let deadline = timeout.and_then(crate::time::deadline_after);
    handles
        .iter()
        .all(|h| wait_dead(h.task_record(), deadline).is_ok())
}

/// Kills every greenlet and waits until all are dead (gevent's `killall`).
pub fn killall<J: Joinable>(handles: &[J]) {
    for h in handles {
        h.task_record().request_kill();
    }
    for h in handles {
        let _ = wait_dead(h.task_record(), None);
    }
}
