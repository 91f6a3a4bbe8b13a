//! [`Greenlet`]: the untyped, cloneable handle to a hub greenlet, and [`current`] (gevent's
//! `getcurrent()`).
//!
//! A [`JoinHandle<T>`](crate::JoinHandle) owns a greenlet's typed result; a `Greenlet` only
//! names the greenlet, so any number of clones can be handed around (to a supervisor, a
//! registry, a log line) without fixing the result type. Both read the same record: killing or
//! linking through either is the same as through the other.
//!
//! See [`Greenlet`] for an example and how ids of hub and explicit greenlets relate.

use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::hub::Hub;
use crate::task::{wait_dead, JoinError, LinkId, Task, TaskState};

/// A [`JoinHandle<T>`](crate::JoinHandle) owns the greenlet's typed result; a `Greenlet`
/// only names the greenlet, so clones can be handed around (to a supervisor, a registry)
/// without fixing the result type. Killing or linking through either is the same.
///
/// ```
/// use sprout::sync::Queue;
///
/// let inbox: Queue<sprout::Greenlet> = Queue::new();
/// let tx = inbox.clone();
/// let worker = sprout::spawn(move || {
///     tx.put(sprout::current()).unwrap(); // hand ourselves to whoever supervises us
///     sprout::sleep(std::time::Duration::from_secs(60));
/// });
/// let me = inbox.get().unwrap();
/// assert_eq!(me.id(), worker.id());
/// me.kill(); // kills `worker`
/// assert!(worker.join().unwrap_err().is_killed());
/// ```
///
/// # Ids
///
/// Hub greenlets (made by [`spawn`](crate::spawn)) and explicit
/// [`greenlet::Greenlet`](crate::greenlet::Greenlet)s draw their ids from one per-thread
/// counter, so an id names one greenlet of either kind; 0 is the thread's root code.
/// [`current_id`](crate::current_id) and `greenlet::Greenlet::current().id()` always agree:
/// inside an explicit greenlet both give that greenlet's id; elsewhere both give the running
/// hub greenlet's id (the explicit layer's *main* greenlet is whatever hub greenlet, or root,
/// drives the explicit ones). [`current`] always names a hub greenlet: inside an explicit
/// greenlet it is the hub greenlet that drives it, the one the hub would park.
#[derive(Clone)]
pub struct Greenlet {
    /// The greenlet's record, shared with its `JoinHandle` and the hub.
    task: Rc<Task>,
}

/// The hub greenlet running now, or the thread's root code (gevent's `getcurrent()`). Inside
/// an explicit [`greenlet::Greenlet`](crate::greenlet::Greenlet) it is the hub greenlet that
/// drives it. Creates the thread's hub if needed.
pub fn current() -> Greenlet {
    Greenlet::from_task(Hub::current().current_task())
}

impl Greenlet {
    pub(crate) fn from_task(task: Rc<Task>) -> Greenlet {
        Greenlet { task }
    }

    pub(crate) fn task(&self) -> &Rc<Task> {
        &self.task
    }

    /// The greenlet's id, unique on its thread among hub and explicit greenlets; 0 for the
    /// thread's root code.
    pub fn id(&self) -> u64 {
        self.task.id
    }

    /// The name given at spawn (`"root"` for a thread's root code).
    pub fn name(&self) -> Option<&str> {
        self.task.name.as_deref()
    }

    /// Whether this is the thread's root code rather than a spawned greenlet.
    pub fn is_root(&self) -> bool {
        self.task.is_root()
    }

    /// Whether the greenlet has finished (the root never does).
    pub fn is_finished(&self) -> bool {
        self.task.state.get() == TaskState::Dead
    }

    /// Whether the greenlet has started running.
    pub fn is_started(&self) -> bool {
        self.task.state.get() != TaskState::New
    }

    /// Whether it finished by returning a value (false while running, killed or panicked).
    pub fn successful(&self) -> bool {
        self.is_finished() && self.task.ended_ok()
    }

    /// Whether it finished because it was killed.
    pub fn is_killed(&self) -> bool {
        self.is_finished() && self.task.ended_killed()
    }

    /// Parks until the greenlet has finished (gevent's `join()`); its result stays for its
    /// `JoinHandle`. Truthful under interrupts, like [`JoinHandle::wait`](crate::JoinHandle::wait).
    ///
    /// # Errors
    /// [`JoinError::LoopExit`] if nothing left in the hub could finish it.
    ///
    /// # Panics
    /// If it is the current greenlet (it would wait for ever), or the root.
    pub fn wait(&self) -> Result<(), JoinError> {
        self.check_not_root("wait for");
        wait_dead(&self.task, None)
    }

    /// Like [`wait`](Self::wait) but gives up after `timeout`.
    ///
    /// # Errors
    /// [`JoinError::TimedOut`] if it still runs then; [`JoinError::LoopExit`].
    ///
    /// # Panics
    /// As [`wait`](Self::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), JoinError> {
        self.check_not_root("wait for");
        wait_dead(&self.task, crate::time::deadline_after(timeout))
    }

    /// Kills the greenlet and waits until it is dead (gevent's `kill(block=True)`). Killing
    /// the current greenlet unwinds it at once; one that has not started never runs.
    ///
    /// # Panics
    /// For the thread's root code: it cannot be killed (return from it instead).
    pub fn kill(&self) {
        self.check_not_root("kill");
        if !self.task.request_kill() {
            let _ = wait_dead(&self.task, None);
        }
    }

    /// Requests the kill and returns at once (`kill(block=False)`).
    ///
    /// # Panics
    /// For the thread's root code.
    pub fn kill_nowait(&self) {
        self.check_not_root("kill");
        self.task.request_kill();
    }

    /// Kills it and waits at most `timeout` for it to die; returns whether it did.
    ///
    /// # Panics
    /// For the thread's root code.
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.check_not_root("kill");
        self.task.request_kill()
            || wait_dead(&self.task, crate::time::deadline_after(timeout)).is_ok()
    }

    /// Runs `f` with this handle when the greenlet finishes (gevent's `link`, whose callback
    /// receives the greenlet). Runs on the hub loop and must not block. Added after the
    /// finish, it runs on the hub's next pass unless unlinked first (gevent's `rawlink`).
    /// Use [`JoinHandle::link`](crate::JoinHandle::link) to receive the typed result.
    pub fn link(&self, f: impl FnOnce(&Greenlet) + 'static) -> LinkId {
        LinkId(self.task.add_link(Box::new(move |task: &Rc<Task>| {
            f(&Greenlet::from_task(task.clone()));
        })))
    }

    /// Removes a link that has not run yet; returns whether it was there.
    pub fn unlink(&self, id: LinkId) -> bool {
        self.task.remove_link(id.0)
    }

    fn check_not_root(&self, what: &str) {
        if self.task.is_root() {
            panic!("sprout: cannot {what} a thread's root code through a Greenlet handle");
        }
    }
}

impl PartialEq for Greenlet {
    fn eq(&self, other: &Greenlet) -> bool {
        Rc::ptr_eq(&self.task, &other.task)
    }
}

impl Eq for Greenlet {}

impl fmt::Debug for Greenlet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.task.id)
            .field("name", &self.task.name)
            .field("state", &self.task.state.get())
            .finish()
    }
}
