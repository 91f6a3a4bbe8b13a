//! The iterators of `imap` and `imap_unordered`, and the bookkeeping of the worker greenlets
//! that feed them.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use crate::sync::queue::{Queue, QueueError};
use crate::sync::semaphore::Permits;
use crate::task::{JoinError, JoinHandle};
use crate::time::Elapsed;
use crate::waiter::TimeoutSignal;

/// A `Timeout` that escaped the function shows as `Elapsed`, as in a joined greenlet.
pub(super) fn timeout_as_elapsed(p: Box<dyn Any + Send>) -> Box<dyn Any + Send> {
    match p.downcast::<TimeoutSignal>() {
        Ok(_) => Box::new(Elapsed),
        Err(p) => p,
    }
}

/// Where an `imap`'s workers send `(item index, result)` pairs.
pub(super) type Results<R> = Queue<(usize, Result<R, JoinError>)>;

/// Producers of an `imap` that have not finished yet; the results queue closes when the count
/// reaches zero.
pub(super) struct Outstanding<R> {
    /// Live producers: the feeder and every worker not yet finished.
    pub(super) count: Cell<usize>,
    /// Where `(item index, result)` pairs go.
    pub(super) results: Queue<(usize, Result<R, JoinError>)>,
}

/// One producer's share of `Outstanding`, given back on drop.
pub(super) struct Producer<R> {
    /// The shared count.
    pub(super) outstanding: Rc<Outstanding<R>>,
    /// The index of the item it works on (`usize::MAX` for the feeder).
    pub(super) index: usize,
    /// Whether a result was put (the feeder puts none); otherwise the drop reports a kill.
    pub(super) recorded: bool,
}

impl<R> Producer<R> {
    pub(super) fn record(&mut self, r: Result<R, JoinError>) {
        self.recorded = true;
        // Unbounded and not closed while this producer is outstanding: cannot fail or park.
        let _ = self.outstanding.results.put((self.index, r));
    }
}

impl<R> Drop for Producer<R> {
    fn drop(&mut self) {
        if !self.recorded {
            self.record(Err(JoinError::Killed));
        }
        let o = &self.outstanding;
        o.count.set(o.count.get() - 1);
        if o.count.get() == 0 {
            o.results.close();
        }
    }
}

/// The iterator of [`Group::imap_unordered`](super::Group::imap_unordered) and [`Pool::imap_unordered`](super::Pool::imap_unordered): results in the
/// order the greenlets finish. Dropping it stops spawning further items; greenlets already
/// running finish on their own.
pub struct ImapUnordered<R> {
    /// Results as they arrive; closed when the feeder and every worker are done.
    pub(super) results: Queue<(usize, Result<R, JoinError>)>,
    /// The greenlet spawning the work; killed if the iterator is dropped early.
    pub(super) feeder: JoinHandle<()>,
    /// Set once the stream ended (or failed with LoopExit).
    pub(super) done: bool,
}

/// The next pair from a results queue; `None` at the end, `Err(LoopExit)` once if nothing
/// could produce the rest.
fn next_result<R>(
    results: &Queue<(usize, Result<R, JoinError>)>,
    done: &mut bool,
) -> Option<(usize, Result<R, JoinError>)> {
    if *done {
        return None;
    }
    match results.get() {
        Ok(r) => Some(r),
        Err(QueueError::LoopExit) => {
            *done = true;
            Some((usize::MAX, Err(JoinError::LoopExit)))
        }
        Err(_) => {
            *done = true;
            None
        }
    }
}

impl<R> Iterator for ImapUnordered<R> {
    type Item = Result<R, JoinError>;

    /// The next result to finish: the function's value, or how its greenlet failed
    /// (`Panicked`, `Killed`). Yields `Err(JoinError::LoopExit)` once, then ends, if nothing
    /// left in the hub could produce the rest.
    fn next(&mut self) -> Option<Self::Item> {
        next_result(&self.results, &mut self.done).map(|(_, r)| r)
    }
}

impl<R> Drop for ImapUnordered<R> {
    fn drop(&mut self) {
        self.feeder.kill_nowait();
    }
}

impl<R> fmt::Debug for ImapUnordered<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapUnordered")
            .field("ready", &self.results.len())
            .field("done", &self.done)
            .finish()
    }
}

/// The iterator of [`Group::imap`](super::Group::imap) and [`Pool::imap`](super::Pool::imap): results in item order (gevent's
/// `imap`), computed ahead in member greenlets.
///
/// Lazy and bounded: at most `window` items are spawned and not yet consumed at any time
/// (running, or finished and buffered out of order), so a slow consumer holds at most
/// `window` results in memory and a fast producer parks. Dropping the iterator stops spawning
/// further items; greenlets already running finish on their own.
pub struct Imap<R> {
    /// Results as they finish, with their item index.
    pub(super) results: Queue<(usize, Result<R, JoinError>)>,
    /// The greenlet spawning the work; killed if the iterator is dropped early.
    pub(super) feeder: JoinHandle<()>,
    /// Slots of the window: the feeder takes one per item, `next` gives one back per item
    /// consumed.
    pub(super) window: Rc<Permits>,
    /// Finished results that came before their turn, by item index.
    pub(super) buffered: HashMap<usize, Result<R, JoinError>>,
    /// The index of the next item to yield.
    pub(super) next: usize,
    /// Set once the stream ended (or failed with LoopExit).
    pub(super) done: bool,
}

impl<R> Imap<R> {
    /// Finished results held because an earlier item has not finished yet (at most the
    /// window).
    pub fn buffered(&self) -> usize {
        self.buffered.len() + self.results.len()
    }
}

impl<R> Iterator for Imap<R> {
    type Item = Result<R, JoinError>;

    /// The next item's result, in item order, parking until it is ready: the function's
    /// value, or how its greenlet failed (`Panicked`, `Killed`). Yields
    /// `Err(JoinError::LoopExit)` once, then ends, if nothing left in the hub could produce
    /// the rest. Ends early, after the items already started, if the pool is killed.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.buffered.remove(&self.next) {
                self.next += 1;
                self.window.release();
                return Some(r);
            }
            let (i, r) = next_result(&self.results, &mut self.done)?;
            if i == usize::MAX {
                return Some(r);
            }
            self.buffered.insert(i, r);
        }
    }
}

impl<R> Drop for Imap<R> {
    fn drop(&mut self) {
        self.feeder.kill_nowait();
    }
}

impl<R> fmt::Debug for Imap<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("next", &self.next)
            .field("buffered", &self.buffered())
            .field("done", &self.done)
            .finish()
    }
}
