//! The waiter protocol: how every blocking operation parks and is woken.
//!
//! Every blocking call is the same three steps:
//!
//! 1. **Arm.** [`Waiter::new`] opens a new *park epoch* for the current greenlet (or the
//!    thread's root code) and hands out [`Waker`]s for it. The caller gives a waker to whatever
//!    will complete the wait: a wait list, an fd readiness slot, a timer.
//! 2. **Switch.** [`Waiter::wait`] optionally arms a deadline timer and switches to the hub
//!    (a greenlet suspends; root code runs the hub loop itself until it is woken).
//! 3. **Check why.** On resume the waiter reports, in this order of precedence: woken (a
//!    waker of this epoch fired first), a pending kill, a pending `Timeout` scope, then the
//!    other wake reasons (`Reason`): timed out, or LoopExit.
//!
//! # Truthful results: a completed hand-off is reported as completed
//!
//! The rule every blocking primitive follows (Queue and Channel put/get, Semaphore,
//! BoundedSemaphore, Mutex and RLock acquire, AsyncResult get, Event wait, join, the
//! cross-thread ThreadEvent, ThreadAsyncResult and thread channel, fd waits):
//!
//! - **If the operation completed before the greenlet resumed, it returns success.**
//!   "Completed" means the other party already did its half: an item was taken from a parked
//!   putter or handed to a parked getter, a permit was handed over, a value or a `set` was
//!   delivered, the greenlet waited for finished. Here that is a [`Waker::wake`] that took
//!   effect (returned `true`) before the kill or deadline reached the park.
//! - **A kill that arrived meanwhile is not lost**: it stays pending and is raised at the
//!   greenlet's next blocking call (the next [`Waiter::wait`] returns it at once, before
//!   parking). **An expired `Timeout` scope** likewise stays pending and is raised at the next
//!   blocking call inside that scope; if the scope ends first (its closure returned), it is
//!   dropped with the scope and [`with_timeout`](crate::with_timeout) returns `Ok`.
//! - **Otherwise the operation did not happen**: an error (or the kill/`Timeout` unwind) is
//!   returned and nothing was taken or delivered; a putter gets its item back.
//!
//! So a caller never has to guess: `Ok` means delivered, `Err` means not delivered, and a
//! retry after `Err` never sends a duplicate. gevent has the same race (its `Timeout` is
//! thrown into a greenlet whose item a getter already took) and reports the timeout; sprout
//! reports the hand-off.
//!
//! Rules that make wake-ups exact:
//!
//! - A park epoch is woken **at most once**. The first [`Waker::wake`] of the epoch records its
//!   reason and queues the greenlet; later wakes of that epoch return `false` and do nothing,
//!   and wakers of older epochs are stale and do nothing. So a wait-list notification that
//!   races with a timeout is either delivered (the wake returned `true`) or not, never both.
//! - Kill and `Timeout` are flags on the greenlet, not wake reasons: a wake that already
//!   happened wins over them (see above), and they stay set until raised. An interrupt that
//!   arrived first closes the epoch, so a later wake returns `false` and the source keeps its
//!   item, permit or notification for the next waiter.
//! - Nothing here unwinds. [`Waiter::wait`] returns an [`Interrupt`]; `raise` turns kill and
//!   `Timeout` into the unwinding the public API promises. Hooks that must not unwind (the
//!   monkey layer) use the result as an error and leave the kill flag set, so it is raised at
//!   the next plain-Rust suspension point.

use std::any::Any;
use std::fmt;
use std::io;
use std::panic;
use std::rc::Rc;
use std::time::Instant;

use crate::greenlet::GreenletExit;
use crate::hub::Hub;
use crate::task::Task;
use crate::timer::TimerAction;

/// Why a parked greenlet was resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The thing it waited for happened.
    Woken,
    /// Its own deadline passed.
    TimedOut,
    /// A kill or a `Timeout` scope was delivered (see the task's flags).
    Interrupted,
    /// Nothing in the hub could ever wake it.
    LoopExit,
}

/// Why a wait ended without the thing it waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// The wait's own deadline passed.
    TimedOut,
    /// Nothing left in the hub could ever complete the wait.
    LoopExit,
    /// The greenlet is being killed.
    Killed,
    /// The `Timeout` scope with this id expired.
    Scope(u64),
}

/// A blocking call's error where timing out or LoopExit is possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The timeout given to the call passed first.
    TimedOut,
    /// The call would block forever: nothing left in the hub (no ready greenlet, timer, fd
    /// waiter or cross-thread wait) could complete it. gevent's `LoopExit`.
    LoopExit,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::TimedOut => f.write_str("timed out"),
            WaitError::LoopExit => f.write_str(
                "would block forever: nothing left in the hub could wake this wait (LoopExit)",
            ),
        }
    }
}

impl std::error::Error for WaitError {}

impl From<WaitError> for io::Error {
    fn from(e: WaitError) -> io::Error {
        match e {
            WaitError::TimedOut => io::Error::new(io::ErrorKind::TimedOut, e),
            WaitError::LoopExit => io::Error::other(e),
        }
    }
}

/// The payload a `Timeout` scope unwinds with; caught by the scope that owns `id`.
pub(crate) struct TimeoutSignal {
    /// The id of the scope that expired.
    pub(crate) id: u64,
}

/// Whether a payload caught with `catch_unwind` is one of sprout's own unwinds: a kill
/// (`GreenletExit`) or an expired `Timeout` scope. Code that catches panics to report them (a
/// server answering 500 for a panicking handler) must hand these on with
/// `std::panic::resume_unwind`, never treat them as a failure of its own.
pub fn is_interrupt(payload: &(dyn Any + Send)) -> bool {
    payload.is::<GreenletExit>() || payload.is::<TimeoutSignal>()
}

/// Turns an interrupt into what the public API promises: kill and `Timeout` unwind the
/// greenlet's stack (with private payloads, so no panic message is printed); a timeout or
/// LoopExit becomes an error. While the stack is already unwinding, nothing is raised again
/// (a panic during a panic would abort): the interrupt comes back as `TimedOut`.
pub(crate) fn raise(i: Interrupt) -> WaitError {
    if std::thread::panicking() {
        return match i {
            Interrupt::LoopExit => WaitError::LoopExit,
            _ => WaitError::TimedOut,
        };
    }
    match i {
        Interrupt::TimedOut => WaitError::TimedOut,
        Interrupt::LoopExit => WaitError::LoopExit,
        Interrupt::Killed => {
            Hub::current().current_ref().kill_raised();
            panic::resume_unwind(Box::new(GreenletExit))
        }
        Interrupt::Scope(id) => {
            Hub::current().current_ref().clear_scope_timeout(id);
            panic::resume_unwind(Box::new(TimeoutSignal { id }))
        }
    }
}

/// Wakes one park epoch of one greenlet. Cheap to clone; `!Send`.
#[derive(Clone)]
pub struct Waker {
    /// The greenlet (or root) to wake.
    pub(crate) task: Rc<Task>,
    /// The park epoch this waker belongs to.
    pub(crate) epoch: u32,
}

impl Waker {
    /// Wakes the waiter if this epoch has not been woken yet; returns whether it did.
    #[inline]
    pub fn wake(&self) -> bool {
        self.wake_with(Reason::Woken)
    }

    /// Wakes with a given reason (timers use [`Reason::TimedOut`]).
    #[inline]
    pub(crate) fn wake_with(&self, reason: Reason) -> bool {
        self.task.wake(self.epoch, reason)
    }

    /// Whether this waker's epoch is still open and unwoken (a wake would take effect).
    pub fn is_pending(&self) -> bool {
        self.task.is_parked_in(self.epoch)
    }

    /// The id of the greenlet this waker wakes (0 for a thread's root code).
    pub fn greenlet_id(&self) -> u64 {
        self.task.id
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker")
            .field("greenlet", &self.task.id)
            .field("epoch", &self.epoch)
            .finish()
    }
}

/// One park of the current greenlet (or root code). See the module docs for the protocol.
pub struct Waiter {
    /// Who is parking.
    task: Rc<Task>,
    /// The epoch opened by `new`.
    epoch: u32,
}

impl Waiter {
    /// Opens a new park epoch for the current greenlet.
    #[inline]
    pub fn new() -> Waiter {
        let task = Hub::current().current_task();
        let epoch = task.open_epoch();
        Waiter { task, epoch }
    }

    /// A waker for this park.
    #[inline]
    pub fn waker(&self) -> Waker {
        Waker {
            task: self.task.clone(),
            epoch: self.epoch,
        }
    }

    /// Switches to the hub until woken, the deadline passes, or an interrupt arrives. Does
    /// not unwind; see `raise` for the public behaviour.
    ///
    /// Returns immediately if a kill or `Timeout` is already pending for this greenlet, or if
    /// a waker already fired. A waker that fired wins over an interrupt that reached the park
    /// after it (the interrupt stays pending; see the module docs).
    ///
    /// # Panics
    /// If called by another greenlet than the one that created the waiter (a `Waiter` parks
    /// its creator, so only its creator may wait on it).
    ///
    /// # Errors
    ///
    /// [`Interrupt::TimedOut`] at `deadline`; [`Interrupt::LoopExit`] if nothing could ever wake
    /// it; [`Interrupt::Killed`] or [`Interrupt::Scope`] if a kill or an expired `Timeout` scope
    /// was pending on entry or arrived before a waker fired (a wake that came first wins; see the
    /// module docs).
    #[inline]
    pub fn wait(&self, deadline: Option<Instant>) -> Result<(), Interrupt> {
        if !std::ptr::eq(Hub::current().current_ref(), &*self.task) {
            foreign_wait_panic();
        }
        if let Some(i) = self.task.pending_interrupt() {
            // Close the epoch so a later wake of it is a no-op.
            self.task.wake(self.epoch, Reason::Interrupted);
            self.task.note_reported(i);
            return Err(i);
        }
        if self.task.reason().is_none() {
            let hub = Hub::current();
            let timer = deadline.map(|d| {
                hub.timers
                    .borrow_mut()
                    .insert(d, TimerAction::Wake(self.waker()))
            });
            hub.switch_out(&self.task);
            if let Some(key) = timer {
                hub.timers.borrow_mut().cancel(key);
            }
        }
        // A wake that took effect is a completed hand-off (or the event waited for): it wins
        // over a kill or `Timeout` that arrived after it, which stays pending.
        if self.task.reason() == Some(Reason::Woken) {
            return Ok(());
        }
        if let Some(i) = self.task.pending_interrupt() {
            self.task.note_reported(i);
            return Err(i);
        }
        match self.task.reason() {
            Some(Reason::Woken) => Ok(()),
            Some(Reason::TimedOut) => Err(Interrupt::TimedOut),
            Some(Reason::LoopExit) => Err(Interrupt::LoopExit),
            // Interrupted with no flag left: the interrupt was consumed meanwhile (the
            // Timeout scope ended); treat as a spurious wake.
            Some(Reason::Interrupted) | None => Ok(()),
        }
    }

    /// How this park was woken, if it was (`Woken` means a waker fired).
    pub(crate) fn reason(&self) -> Option<Reason> {
        if self.task.epoch() == self.epoch {
            self.task.reason()
        } else {
            None
        }
    }

    /// Whether `w` is a waker of this park.
    pub(crate) fn owns(&self, w: &Waker) -> bool {
        Rc::ptr_eq(&w.task, &self.task) && w.epoch == self.epoch
    }

    /// Whether a waker (rather than a timer or an interrupt) woke this park.
    pub fn was_woken(&self) -> bool {
        self.reason() == Some(Reason::Woken)
    }
}

impl Default for Waiter {
    fn default() -> Self {
        Waiter::new()
    }
}

#[cold]
#[inline(never)]
fn foreign_wait_panic() -> ! {
    panic!("sprout: a Waiter can only be waited on by the greenlet that created it")
}

/// Whether a kill or `Timeout` is pending for the current greenlet (raised at its next
/// ordinary suspension point).
pub fn interrupt_pending() -> bool {
    let task = Hub::current().current_ref();
    match task.pending_interrupt() {
        Some(i) => {
            // Callers (the libc hooks) fail the call because of it: it reached the code.
            task.note_reported(i);
            true
        }
        None => false,
    }
}

/// Parks the current greenlet until `deadline`, even while a kill or `Timeout` is pending
/// (they stay pending, to be raised at the next ordinary suspension point). For sleeps in
/// code that cannot unwind and would otherwise return early and spin (libc sleep hooks).
pub fn sleep_ignoring_interrupts(deadline: Instant) {
    let hub = Hub::current();
    while Instant::now() < deadline {
        let w = Waiter::new();
        let key = hub
            .timers
            .borrow_mut()
            .insert(deadline, TimerAction::Wake(w.waker()));
        hub.switch_out(&w.task);
        hub.timers.borrow_mut().cancel(key);
        if w.task.reason() == Some(Reason::TimedOut) {
            return;
        }
        // Woken by an interrupt: park again for the rest of the time.
    }
}

/// Parks the current greenlet until `deadline` (or forever with `None`) without any other
/// wake source, raising kill and `Timeout` as the public API does.
pub(crate) fn park_until(deadline: Option<Instant>) -> Result<(), WaitError> {
    match Waiter::new().wait(deadline) {
        Ok(()) => Ok(()),
        Err(i) => Err(raise(i)),
    }
}

/// Wakes a [`park_cross_thread`] from any thread (`Send + Sync`). For the monkey layer's
/// futex hook; not part of the public API.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct CrossWaker(crate::remote::RemoteWaker);

impl CrossWaker {
    /// Wakes the park it was made for (a no-op once that park has ended).
    pub fn wake(&self) {
        self.0.wake();
    }
}

/// Parks the current greenlet (or root code) once, until a [`CrossWaker`] handed to `arm`
/// fires on any thread, `deadline` passes, or anything else resumes it (a kill or `Timeout`
/// being delivered): callers treat every return as possibly spurious, as futex waiters do.
/// A pending kill or `Timeout` does not cut the park short (they stay pending). While it is
/// parked the hub counts a cross-thread wait (no LoopExit). `arm` runs before the switch;
/// if it returns `false`, nothing parks. Returns whether it parked. For the monkey layer's
/// futex hook; not part of the public API.
#[doc(hidden)]
pub fn park_cross_thread(deadline: Option<Instant>, arm: impl FnOnce(CrossWaker) -> bool) -> bool {
    let hub = Hub::current();
    let w = Waiter::new();
    let wait = crate::remote::RemoteWait::new(w.waker());
    if !arm(CrossWaker(wait.remote_waker())) {
        return false;
    }
    if w.task.reason().is_none() {
        let key = deadline.map(|d| {
            hub.timers
                .borrow_mut()
                .insert(d, TimerAction::Wake(w.waker()))
        });
        hub.switch_out(&w.task);
        if let Some(key) = key {
            hub.timers.borrow_mut().cancel(key);
        }
    }
    drop(wait);
    true
}
