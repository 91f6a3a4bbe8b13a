//! Hub greenlets: the record the hub keeps per greenlet, and the gevent `Greenlet` API on top
//! of it (`spawn`, `JoinHandle`, kill, links, `joinall`, `killall`, `wait_any`).
//!
//! A spawned greenlet is queued and starts on the hub's next pass, never inside `spawn`.
//!
//! A parked greenlet keeps its own record alive (its wait holds it), so a greenlet parked on
//! something nobody can complete any more (an `Event` whose last other handle was dropped)
//! stays parked, with its stack, until it is killed or its thread exits; it is not unwound
//! behind the program's back. Kill such greenlets (or keep their handles in a `Group`).
//! Its result (value, panic, or kill) is stored in its record until someone joins. A panic
//! that nobody joins is reported once on stderr, naming the greenlet, when the last chance to
//! join it is gone (its `JoinHandle` dropped).

use std::any::Any;
use std::cell::{Cell, Ref, RefCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::greenlet::{is_exit, panic_message, RawGreenlet, Step, Suspender, UnwindInput};
use crate::hub::Hub;
use crate::stack;
use crate::time::Elapsed;
use crate::wait_list::WaitList;
use crate::waiter::{Reason, TimeoutSignal, Waiter};

/// What a hub greenlet is resumed with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Signal {
    /// Carry on from the suspension point.
    Run,
    /// The greenlet is being dropped while suspended: unwind now.
    Unwind,
}

impl UnwindInput for Signal {
    fn unwind() -> Self {
        Signal::Unwind
    }
}

pub(crate) type TaskCoroutine = RawGreenlet<Signal, (), ()>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TaskState {
    /// Spawned, not yet run.
    New,
    /// Running now (or the root while it runs user code).
    Running,
    /// Suspended at a suspension point (parked or queued).
    Suspended,
    /// Finished; its result is stored.
    Dead,
}

/// A callback run when a greenlet finishes, with its id (for removal). It receives the
/// finished greenlet's record (its result is stored by then).
pub(crate) type LinkFn = Box<dyn FnOnce(&Rc<Task>)>;

/// A link and its id.
type Link = (u64, LinkFn);

/// The result stored by a finished greenlet.
type Stored = Result<crate::value::Value, JoinError>;

/// The hub's record of one greenlet, or of a thread's root code (id 0, no coroutine).
pub(crate) struct Task {
    /// Small sequential id; 0 is the thread's root code.
    pub(crate) id: u64,
    /// Name given at spawn, if any.
    pub(crate) name: Option<Box<str>>,
    /// Lifecycle; mutated by the hub loop and by kill.
    pub(crate) state: Cell<TaskState>,
    /// The current park epoch; bumped by `Waiter::new`.
    epoch: Cell<u32>,
    /// Why the current epoch was woken; `None` while parked and unwoken.
    reason: Cell<Option<Reason>>,
    /// A kill has been requested and not yet raised.
    kill: Cell<bool>,
    /// A kill was raised; further kills are no-ops while it unwinds.
    killed: Cell<bool>,
    /// The outermost expired `Timeout` scope not yet raised.
    scope_timeout: Cell<Option<u64>>,
    /// The pending interrupt that has been reported to the greenlet's code as an error (by
    /// a wait returning it, or a libc hook failing a call because of it) without unwinding:
    /// it "reached" the greenlet. An interrupt that arrived after a completed hand-off and
    /// was never reported is not counted (see `crate::waiter`'s rule). Set by
    /// `note_reported`, cleared with the interrupt.
    reported: Cell<Option<crate::waiter::Interrupt>>,
    /// The coroutine; `None` for the root and once finished.
    coroutine: RefCell<Option<TaskCoroutine>>,
    /// How the running coroutine suspends itself; set when it starts.
    pub(crate) suspender: Cell<Option<Suspender<Signal, ()>>>,
    /// The result, stored when the greenlet finishes, taken by `join`.
    result: RefCell<Option<Stored>>,
    /// Greenlets (or root) waiting for this one to finish.
    joiners: WaitList,
    /// The first joiner parks here instead of in `joiners` (the common single-joiner case
    /// then needs no list storage); woken by `finish` like the list.
    first_joiner: RefCell<Option<crate::waiter::Waker>>,
    /// Callbacks to run when it finishes.
    links: RefCell<Vec<Link>>,
    /// Id of the next link, so a waiter can remove its own links when it stops waiting.
    next_link: Cell<u64>,
    /// A hub callback is queued to run links added after the finish (gevent's rawlink).
    flush_queued: Cell<bool>,
    /// Someone looked at the result (`error()`, `successful()`, a link with a value): a panic
    /// is then not reported as unjoined.
    pub(crate) observed: Cell<bool>,
    /// How it ended, set by `finish` (kept after `join` takes the result): 0 not yet, 1 a
    /// value, 2 killed, 3 panicked.
    ending: Cell<u8>,
    /// The `JoinHandle` was dropped: nobody can join any more.
    detached: Cell<bool>,
    /// The panic report captured by the panic hook, printed if nobody joins.
    pub(crate) panic_report: RefCell<Option<String>>,
    /// The overflow reporter's record of this greenlet's stack (`None` for the root). Read
    /// from the SIGSEGV handler while this greenlet is the hub's current task.
    pub(crate) stack_info: Option<crate::stack::StackInfo>,
    /// Greenlet-local values (see `local`), dropped when the greenlet finishes.
    pub(crate) locals: RefCell<crate::local::Table>,
    /// Where it was spawned (`None` for the root).
    pub(crate) location: Option<&'static std::panic::Location<'static>>,
    /// What its current park waits on (see `run_info`); reset at every resume.
    pub(crate) waits: Cell<crate::run_info::WaitsOn>,
    /// Its slot in the hub's registry of live greenlets (`run_info`).
    pub(crate) slot: Cell<usize>,
    /// A kill reached it while the monitor was on (the monitor is told when it finishes).
    kill_tracked: Cell<bool>,
}

impl Task {
    /// The record for a thread's root code.
    pub(crate) fn new_root() -> Rc<Task> {
        Rc::new(Task::blank(0, Some("root".into()), TaskState::Running))
    }

    fn blank(id: u64, name: Option<Box<str>>, state: TaskState) -> Task {
        Task {
            id,
            name,
            state: Cell::new(state),
            epoch: Cell::new(0),
            reason: Cell::new(None),
            kill: Cell::new(false),
            killed: Cell::new(false),
            scope_timeout: Cell::new(None),
            reported: Cell::new(None),
            coroutine: RefCell::new(None),
            suspender: Cell::new(None),
            result: RefCell::new(None),
            joiners: WaitList::new(),
            first_joiner: RefCell::new(None),
            links: RefCell::new(Vec::new()),
            next_link: Cell::new(0),
            flush_queued: Cell::new(false),
            observed: Cell::new(false),
            ending: Cell::new(0),
            detached: Cell::new(false),
            panic_report: RefCell::new(None),
            stack_info: None,
            locals: RefCell::new(Default::default()),
            location: None,
            waits: Cell::new(crate::run_info::WaitsOn::Nothing),
            slot: Cell::new(usize::MAX),
            kill_tracked: Cell::new(false),
        }
    }

    /// Whether this is a thread's root code rather than a greenlet.
    #[inline]
    pub(crate) fn is_root(&self) -> bool {
        self.id == 0
    }

    /// A printable label: `'name' (#id)` or `#id`.
    pub(crate) fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("'{n}' (#{})", self.id),
            None => format!("#{}", self.id),
        }
    }

    #[inline]
    pub(crate) fn open_epoch(&self) -> u32 {
        let e = self.epoch.get().wrapping_add(1);
        self.epoch.set(e);
        self.reason.set(None);
        e
    }

    /// Opens a new epoch that counts as already woken (`yield_now`).
    #[inline]
    pub(crate) fn open_woken_epoch(&self) {
        self.epoch.set(self.epoch.get().wrapping_add(1));
        self.reason.set(Some(Reason::Woken));
    }

    #[inline]
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch.get()
    }

    #[inline]
    pub(crate) fn reason(&self) -> Option<Reason> {
        self.reason.get()
    }

    pub(crate) fn is_parked_in(&self, epoch: u32) -> bool {
        self.epoch.get() == epoch
            && self.reason.get().is_none()
            && self.state.get() != TaskState::Dead
    }

    /// Wakes epoch `epoch` with `reason` if it is open and unwoken; queues the greenlet.
    #[inline]
    pub(crate) fn wake(self: &Rc<Task>, epoch: u32, reason: Reason) -> bool {
        if self.epoch.get() != epoch || self.reason.get().is_some() {
            return false;
        }
        self.reason.set(Some(reason));
        if self.state.get() == TaskState::Suspended {
            Hub::current().schedule(self.clone());
        }
        true
    }

    /// The interrupt to report at a suspension point, if any.
    pub(crate) fn pending_interrupt(&self) -> Option<crate::waiter::Interrupt> {
        if self.kill.get() {
            Some(crate::waiter::Interrupt::Killed)
        } else {
            self.scope_timeout
                .get()
                .map(crate::waiter::Interrupt::Scope)
        }
    }

    /// Adds a callback for when the greenlet finishes; returns its id for `remove_link`.
    /// Added after the finish, it runs on the hub loop's next timer phase, unless removed
    /// before then (gevent's `rawlink` on a ready greenlet).
    pub(crate) fn add_link(self: &Rc<Task>, f: LinkFn) -> u64 {
        let id = self.next_link.get();
        self.next_link.set(id + 1);
        self.links.borrow_mut().push((id, f));
        if self.state.get() == TaskState::Dead && !self.flush_queued.replace(true) {
            let me = self.clone();
            Hub::current().timers.borrow_mut().insert(
                Instant::now(),
                crate::timer::TimerAction::Call(Box::new(move || {
                    me.flush_queued.set(false);
                    me.run_links();
                })),
            );
        }
        id
    }

    /// Whether it finished with a value.
    pub(crate) fn ended_ok(&self) -> bool {
        self.ending.get() == 1
    }

    /// Whether it finished killed.
    pub(crate) fn ended_killed(&self) -> bool {
        self.ending.get() == 2
    }

    /// Runs (and removes) every link, on the hub loop's stack; a panicking link is reported.
    fn run_links(self: &Rc<Task>) {
        let links = std::mem::take(&mut *self.links.borrow_mut());
        for (_, link) in links {
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| link(self))) {
                eprintln!(
                    "sprout: a link callback of greenlet {} panicked: {}",
                    self.label(),
                    panic_message(&*p)
                );
            }
        }
    }

    /// Removes a callback that has not run yet; returns whether it was there.
    pub(crate) fn remove_link(&self, id: u64) -> bool {
        let mut links = self.links.borrow_mut();
        let before = links.len();
        links.retain(|(i, _)| *i != id);
        links.len() != before
    }

    /// Whether a kill was raised in this greenlet (it is unwinding, or a kill raised inside an
    /// explicit greenlet it drove must now unwind it too).
    pub(crate) fn kill_was_raised(&self) -> bool {
        self.killed.get()
    }

    /// Called when a kill is raised by unwinding.
    pub(crate) fn kill_raised(&self) {
        self.kill.set(false);
        self.killed.set(true);
        self.reported.set(None);
    }

    /// The pending interrupt `i` was reported to the greenlet's code as an error.
    pub(crate) fn note_reported(&self, i: crate::waiter::Interrupt) {
        if matches!(
            i,
            crate::waiter::Interrupt::Killed | crate::waiter::Interrupt::Scope(_)
        ) {
            self.reported.set(Some(i));
        }
    }

    /// Whether the pending interrupt `i` reached the greenlet's code (see `reported`).
    pub(crate) fn was_reported(&self, i: crate::waiter::Interrupt) -> bool {
        self.pending_interrupt() == Some(i) && self.reported.get() == Some(i)
    }

    /// Called when the `Timeout` scope `id` is raised or ends.
    pub(crate) fn clear_scope_timeout(&self, id: u64) {
        if self.scope_timeout.get() == Some(id) {
            self.scope_timeout.set(None);
            if self.reported.get() == Some(crate::waiter::Interrupt::Scope(id)) {
                self.reported.set(None);
            }
        }
    }

    /// A `Timeout` scope of this greenlet expired: flag it and wake the greenlet.
    pub(crate) fn deliver_scope_timeout(self: &Rc<Task>, id: u64) {
        if self.state.get() == TaskState::Dead {
            return;
        }
        // Scope ids grow with nesting: keep the outermost expired one.
        match self.scope_timeout.get() {
            Some(cur) if cur <= id => {}
            _ => self.scope_timeout.set(Some(id)),
        }
        self.interrupt();
    }

    /// Wakes the current park (whatever it waits on) so the greenlet sees its flags.
    fn interrupt(self: &Rc<Task>) {
        if self.reason.get().is_none() {
            self.reason.set(Some(Reason::Interrupted));
            if self.state.get() == TaskState::Suspended {
                Hub::current().schedule(self.clone());
            }
        }
    }

    /// Requests a kill without waiting. Returns true if the greenlet is already dead.
    pub(crate) fn request_kill(self: &Rc<Task>) -> bool {
        match self.state.get() {
            TaskState::Dead => true,
            TaskState::New => {
                // Never started: it never runs. Its closure is dropped now, links still fire.
                drop(self.coroutine.borrow_mut().take());
                self.finish(Err(JoinError::Killed));
                true
            }
            TaskState::Running => {
                // Only the current greenlet can be running: a self-kill unwinds right here.
                if !self.killed.get() && !std::thread::panicking() {
                    self.kill_raised();
                    panic::resume_unwind(Box::new(crate::greenlet::GreenletExit));
                }
                false
            }
            TaskState::Suspended => {
                if !self.killed.get() {
                    if crate::monitor::on() && !self.kill_tracked.replace(true) {
                        Hub::current().probe.kill_requested(self.id, self.location);
                    }
                    self.kill.set(true);
                    self.interrupt();
                }
                false
            }
        }
    }

    /// Resumes the coroutine once (called by the hub loop only; inlined there to keep the
    /// switch close to the loop, see `Hub::switch_out`).
    #[inline(always)]
    pub(crate) fn resume(&self) -> Step<(), ()> {
        let mut co = self.coroutine.borrow_mut();
        co.as_mut()
            .expect("queued greenlet has a coroutine")
            .resume(Signal::Run)
    }

    /// Stores the result, wakes joiners, runs links (on the hub loop's stack).
    pub(crate) fn finish(self: &Rc<Task>, result: Stored) {
        // A kill that reached it but was never raised (its code swallowed the error a libc
        // hook reported, see `sprout::monkey`'s cancellation contract) still counts.
        let result = match result {
            Ok(_) if self.was_reported(crate::waiter::Interrupt::Killed) => Err(JoinError::Killed),
            other => other,
        };
        self.state.set(TaskState::Dead);
        crate::run_info::unregister(self);
        if self.kill_tracked.get() {
            Hub::current().probe.kill_done(self.id);
        }
        // Its stack is gone: nothing may suspend through it any more.
        self.suspender.set(None);
        self.kill.set(false);
        // Dropped outside the borrow: a value's destructor may use greenlet-locals itself.
        let locals = std::mem::take(&mut *self.locals.borrow_mut());
        drop(locals);
        let panicked = matches!(result, Err(JoinError::Panicked(_)));
        self.ending.set(match &result {
            Ok(_) => 1,
            Err(JoinError::Killed) => 2,
            Err(_) => 3,
        });
        *self.result.borrow_mut() = Some(result);
        let first = self.first_joiner.borrow_mut().take();
        if let Some(w) = first {
            w.wake();
        }
        self.joiners.notify_all();
        self.run_links();
        if panicked && self.detached.get() {
            self.report_unjoined_panic();
        }
    }

    fn report_unjoined_panic(&self) {
        if self.observed.get() {
            return;
        }
        let Some(Err(JoinError::Panicked(p))) = &*self.result.borrow() else {
            return;
        };
        let report = self.panic_report.borrow_mut().take();
        match report {
            Some(r) => eprintln!("{r}"),
            None => eprintln!(
                "sprout: greenlet {} panicked: {}",
                self.label(),
                panic_message(&**p)
            ),
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let Some(co) = self.coroutine.get_mut().take() else {
            return;
        };
        if !co.started() || co.done() {
            return;
        }
        // Started and not finished: only reachable when the thread's hub drops what it still
        // holds at thread exit, because a suspended greenlet keeps its own record alive (its
        // wait holds it; see the module docs). Its stack is leaked, never unwound: its
        // destructors may need the hub, and one parked inside a libc hook must never unwind.
        co.leak();
    }
}

/// Why joining a greenlet did not produce its value.
pub enum JoinError {
    /// The greenlet was killed (`GreenletExit`), before or after it started.
    Killed,
    /// The greenlet panicked; this is the payload (an uncaught `Timeout` shows as
    /// [`Elapsed`]).
    Panicked(Box<dyn Any + Send>),
    /// `join_timeout`'s timeout passed first; the greenlet is still running.
    TimedOut,
    /// The join could never complete: nothing left in the hub could finish the greenlet.
    LoopExit,
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Killed => f.write_str("Killed"),
            JoinError::Panicked(p) => write!(f, "Panicked({:?})", panic_message(&**p)),
            JoinError::TimedOut => f.write_str("TimedOut"),
            JoinError::LoopExit => f.write_str("LoopExit"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Killed => f.write_str("greenlet was killed"),
            JoinError::Panicked(p) => write!(f, "greenlet panicked: {}", panic_message(&**p)),
            JoinError::TimedOut => f.write_str("join timed out"),
            JoinError::LoopExit => f.write_str(
                "join would block forever: nothing left in the hub could finish the greenlet (LoopExit)",
            ),
        }
    }
}

impl std::error::Error for JoinError {}

impl JoinError {
    /// Whether the greenlet was killed.
    pub fn is_killed(&self) -> bool {
        matches!(self, JoinError::Killed)
    }

    /// Whether the greenlet panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic payload, if it panicked.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send>> {
        match self {
            JoinError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

/// Waits until `task` is dead.
///
/// Truthful under interrupts (issue 11): if the greenlet finished before the waiter resumed,
/// the wait succeeds even if a kill or an expired `Timeout` scope arrived meanwhile; those
/// stay pending and are raised at the caller's next blocking call.
pub(crate) fn wait_dead(task: &Rc<Task>, deadline: Option<Instant>) -> Result<(), JoinError> {
    while task.state.get() != TaskState::Dead {
        if std::ptr::eq(&**task, Hub::current().current_ref()) {
            panic!("sprout: a greenlet cannot join itself (it would wait for ever)");
        }
        crate::run_info::waits_on(crate::run_info::WaitsOn::Join { id: task.id });
        let slot_free = task
            .first_joiner
            .borrow()
            .as_ref()
            .is_none_or(|w| !w.is_pending());
        let r = if slot_free {
            // A finish is a broadcast, so leaving early passes nothing on: just clear the slot.
            let w = Waiter::new();
            *task.first_joiner.borrow_mut() = Some(w.waker());
            let r = w.wait(deadline);
            let mut slot = task.first_joiner.borrow_mut();
            if slot.as_ref().is_some_and(|x| w.owns(x)) {
                *slot = None;
            }
            drop(slot);
            r
        } else {
            task.joiners.wait_interruptible(deadline)
        };
        if task.state.get() == TaskState::Dead {
            // Completed before we resumed: report it; an interrupt stays pending.
            return Ok(());
        }
        r.map_err(|i| match crate::waiter::raise(i) {
            crate::waiter::WaitError::TimedOut => JoinError::TimedOut,
            crate::waiter::WaitError::LoopExit => JoinError::LoopExit,
        })?;
    }
    Ok(())
}

/// Identifies a link added with [`JoinHandle::link`] (or its relatives, or
/// [`Greenlet::link`](crate::Greenlet::link)), for `unlink`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkId(pub(crate) u64);

/// Spawns greenlets with a name or a stack size of their own.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet (shown in panic and overflow reports and by `JoinHandle::name`).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets its usable stack size in bytes (rounded up to whole pages; at most 1 TiB less one
    /// page: `spawn` fails with `InvalidInput` above that).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the greenlet on this thread's hub. It starts on the hub's next pass.
    ///
    /// # Errors
    ///
    /// `OutOfMemory` when no stack can be mapped (the error names the limit reached:
    /// `vm.max_map_count`, the address-space reserve or the stack cap, see `sprout::stack`);
    /// `InvalidInput` for an impossible stack size.
    ///
    /// The caller's source location is recorded as the greenlet's spawn location (shown by
    /// `sprout::run_info` and the blocking monitor).
    #[track_caller]
    pub fn spawn<T, F>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        T: 'static,
        F: FnOnce() -> T + 'static,
    {
        let location = std::panic::Location::caller();
        let hub = Hub::current();
        let id = hub.next_id();
        let name: Option<Box<str>> = self.name.map(Into::into);
        let size = self.stack_size.unwrap_or_else(stack::default_stack_size);
        let (mut co, info) = TaskCoroutine::new(size, id, name.clone(), move |sus, first| {
            if first == Signal::Unwind {
                return;
            }
            run_body(sus, f);
        })?;
        let mut record = Task::blank(id, name, TaskState::New);
        record.stack_info = Some(info);
        record.location = Some(location);
        let task = Rc::new(record);
        crate::run_info::register(hub, &task);
        co.set_info(task.stack_info.as_ref().expect("set above"));
        *task.coroutine.borrow_mut() = Some(co);
        hub.schedule(task.clone());
        Ok(JoinHandle {
            task,
            _t: PhantomData,
        })
    }
}

/// The body of every hub greenlet: runs `f`, stores how it ended.
fn run_body<T: 'static, F: FnOnce() -> T>(sus: Suspender<Signal, ()>, f: F) {
    Hub::current().current_ref().suspender.set(Some(sus));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    let stored: Stored = match r {
        Ok(v) => Ok(crate::value::Value::new(v)),
        Err(p) if is_exit(&*p) => Err(JoinError::Killed),
        Err(p) => match p.downcast::<TimeoutSignal>() {
            Ok(_) => Err(JoinError::Panicked(Box::new(Elapsed))),
            Err(p) => Err(JoinError::Panicked(p)),
        },
    };
    Hub::current().current_ref().stash_result(stored);
}

impl Task {
    fn stash_result(&self, r: Stored) {
        *self.result.borrow_mut() = Some(r);
    }

    /// Takes the result stashed by the body for `finish` (called by the hub loop).
    pub(crate) fn take_stashed(&self) -> Stored {
        self.result
            .borrow_mut()
            .take()
            .unwrap_or(Err(JoinError::Killed))
    }
}

/// Spawns `f` as a new greenlet on this thread's hub (gevent's `spawn`). It starts on the
/// hub's next pass, that is, the next time the current code blocks or yields.
///
/// ```
/// use std::time::Duration;
///
/// let h = sprout::spawn(|| {
///     sprout::sleep(Duration::from_millis(10)); // parks this greenlet only
///     6 * 7
/// });
/// assert!(!h.is_started()); // starts when this code blocks or yields
/// assert_eq!(h.join().unwrap(), 42);
/// ```
///
/// # Panics
/// If no stack can be mapped; use [`Builder::spawn`] to handle that as an error.
#[track_caller]
pub fn spawn<T, F>(f: F) -> JoinHandle<T>
where
    T: 'static,
    F: FnOnce() -> T + 'static,
{
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|e| panic!("failed to spawn greenlet: {e}"))
}

/// Spawns `f` to start after `delay` (gevent's `spawn_later`). Killing it before then means
/// it never runs.
#[track_caller]
pub fn spawn_later<T, F>(delay: Duration, f: F) -> JoinHandle<T>
where
    T: 'static,
    F: FnOnce() -> T + 'static,
{
    spawn(move || {
        crate::time::sleep(delay);
        f()
    })
}

/// An owned handle to a hub greenlet (gevent's `Greenlet` object), typed by its result.
/// `!Send`.
///
/// The result stays in the handle until [`join`](Self::join) takes it: [`wait`](Self::wait)
/// only waits, and [`value`](Self::value), [`error`](Self::error) and
/// [`successful`](Self::successful) look at it (gevent's `g.join(); g.value`).
/// [`greenlet`](Self::greenlet) gives the untyped, cloneable [`Greenlet`](crate::Greenlet) handle to hand
/// to other greenlets.
///
/// ```
/// let g = sprout::spawn(|| 6 * 7);
/// g.wait().unwrap(); // waits, keeps the result
/// assert!(g.successful());
/// assert_eq!(*g.value().unwrap(), 42);
/// assert_eq!(g.join().unwrap(), 42); // takes it
/// ```
///
/// Dropping it detaches the greenlet: it keeps running, and a panic it ends with is reported
/// on stderr unless its result was looked at.
///
/// ```
/// use std::time::Duration;
/// use sprout::JoinError;
///
/// let worker = sprout::spawn(|| sprout::sleep(Duration::from_secs(60)));
/// sprout::yield_now(); // it starts and parks in its sleep
/// assert!(worker.is_started() && !worker.is_finished());
/// worker.kill(); // unwinds it at its sleep and waits until it is dead
/// assert!(matches!(worker.join(), Err(JoinError::Killed)));
///
/// let panics = sprout::spawn(|| panic!("boom"));
/// assert!(matches!(panics.join(), Err(JoinError::Panicked(_))));
/// ```
pub struct JoinHandle<T> {
    task: Rc<Task>,
    _t: PhantomData<T>,
}

impl<T: 'static> JoinHandle<T> {
    /// Waits for the greenlet to finish and returns its value.
    ///
    /// # Errors
    /// [`JoinError::Killed`], [`JoinError::Panicked`], and [`JoinError::LoopExit`] when
    /// nothing left in the hub could ever finish it.
    ///
    /// # Panics
    /// If the value was already taken by [`join_timeout`](Self::join_timeout).
    pub fn join(mut self) -> Result<T, JoinError> {
        self.join_deadline(None)
    }

    /// Like [`join`](Self::join) but gives up after `timeout` with [`JoinError::TimedOut`],
    /// leaving the greenlet running and the handle usable.
    ///
    /// # Errors
    /// As [`join`](Self::join), plus [`JoinError::TimedOut`].
    ///
    /// # Panics
    /// If the value was already taken by an earlier successful join.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<T, JoinError> {
        self.join_deadline(crate::time::deadline_after(timeout))
    }

    fn join_deadline(&mut self, deadline: Option<Instant>) -> Result<T, JoinError> {
        wait_dead(&self.task, deadline)?;
        let stored = self
            .task
            .result
            .borrow_mut()
            .take()
            .expect("sprout: the greenlet's result was already taken by join_timeout");
        self.task.panic_report.borrow_mut().take();
        match stored {
            Ok(v) => Ok(v
                .take::<T>()
                .unwrap_or_else(|_| unreachable!("result type matches the handle"))),
            Err(e) => Err(e),
        }
    }

    /// The greenlet's value, if it finished successfully (gevent's `value`); `None` while it
    /// runs, if it failed, or once `join_timeout` took the value. Does not wait.
    pub fn value(&self) -> Option<Ref<'_, T>> {
        Ref::filter_map(self.task.result.borrow(), |r| match r {
            Some(Ok(v)) if self.task.state.get() == TaskState::Dead => v.get::<T>(),
            _ => None,
        })
        .ok()
    }

    /// The greenlet's result, if it has finished and the value was not taken: `Ok(&value)` or
    /// `Err(&error)`. Does not wait. Counts as looking at a panic (it is not reported).
    pub fn result(&self) -> Option<Result<Ref<'_, T>, Ref<'_, JoinError>>> {
        if self.task.state.get() != TaskState::Dead {
            return None;
        }
        if let Some(e) = self.error() {
            return Some(Err(e));
        }
        self.value().map(Ok)
    }

    /// Runs `f` with the greenlet's result when it finishes (gevent's `link`): `Ok(&value)`
    /// or `Err(&error)`. Runs on the hub loop, so it must not block (spawn a greenlet for
    /// blocking work). A link added after the finish runs on the hub's next pass (gevent's
    /// `rawlink`), unless unlinked first. Returns an id for [`unlink`](Self::unlink).
    ///
    /// If `join_timeout` took the value before the link runs, `f` is not called.
    pub fn link(&self, f: impl FnOnce(Result<&T, &JoinError>) + 'static) -> LinkId {
        LinkId(self.task.add_link(Box::new(move |task: &Rc<Task>| {
            task.observed.set(true);
            let r = task.result.borrow();
            match &*r {
                Some(Ok(v)) => {
                    if let Some(v) = v.get::<T>() {
                        f(Ok(v));
                    }
                }
                Some(Err(e)) => f(Err(e)),
                None => {}
            }
        })))
    }

    /// Runs `f` with the value if the greenlet finishes successfully (gevent's
    /// `link_value`). See [`link`](Self::link).
    pub fn link_value(&self, f: impl FnOnce(&T) + 'static) -> LinkId {
        self.link(move |r| {
            if let Ok(v) = r {
                f(v);
            }
        })
    }
}

impl<T> JoinHandle<T> {
    /// Parks until the greenlet has finished, keeping its result in the handle (gevent's
    /// `join()`, which does not return the value).
    ///
    /// Truthful under interrupts: if the greenlet finished before the caller resumed, this
    /// returns `Ok` even if a kill or `Timeout` arrived meanwhile; those are raised at the
    /// caller's next blocking call.
    ///
    /// # Errors
    /// [`JoinError::LoopExit`] when nothing left in the hub could ever finish it. How the
    /// greenlet ended is not an error here: see [`successful`](Self::successful).
    pub fn wait(&self) -> Result<(), JoinError> {
        wait_dead(&self.task, None)
    }

    /// Like [`wait`](Self::wait) but gives up after `timeout`.
    ///
    /// # Errors
    /// [`JoinError::TimedOut`] if it is still running then; [`JoinError::LoopExit`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), JoinError> {
        wait_dead(&self.task, crate::time::deadline_after(timeout))
    }

    /// Whether the greenlet finished and returned a value (gevent's `successful()`); false
    /// while it runs, and if it panicked or was killed.
    pub fn successful(&self) -> bool {
        self.task.observed.set(true);
        self.task.ended_ok()
    }

    /// How the greenlet failed, if it finished and failed (gevent's `exception`):
    /// [`JoinError::Killed`] or [`JoinError::Panicked`]. Does not wait. Counts as looking at
    /// a panic (it is not reported on stderr).
    pub fn error(&self) -> Option<Ref<'_, JoinError>> {
        if self.task.state.get() != TaskState::Dead {
            return None;
        }
        self.task.observed.set(true);
        Ref::filter_map(self.task.result.borrow(), |r| match r {
            Some(Err(e)) => Some(e),
            _ => None,
        })
        .ok()
    }

    /// Runs `f` with the error if the greenlet ends killed or panicking (gevent's
    /// `link_exception`). See [`link`](Self::link).
    pub fn link_exception(&self, f: impl FnOnce(&JoinError) + 'static) -> LinkId {
        LinkId(self.task.add_link(Box::new(move |task: &Rc<Task>| {
            if let Some(Err(e)) = &*task.result.borrow() {
                task.observed.set(true);
                f(e);
            }
        })))
    }

    /// Removes a link that has not run yet (gevent's `unlink`); returns whether it was
    /// there.
    pub fn unlink(&self, id: LinkId) -> bool {
        self.task.remove_link(id.0)
    }

    /// The untyped, cloneable handle of this greenlet (what [`crate::current`] returns
    /// inside it).
    pub fn greenlet(&self) -> crate::Greenlet {
        crate::Greenlet::from_task(self.task.clone())
    }
    /// Whether the greenlet has finished.
    pub fn is_finished(&self) -> bool {
        self.task.state.get() == TaskState::Dead
    }

    /// Whether the greenlet has started running.
    pub fn is_started(&self) -> bool {
        self.task.state.get() != TaskState::New
    }

    /// Whether it finished because it was killed (as
    /// [`Greenlet::is_killed`](crate::Greenlet::is_killed)).
    pub fn is_killed(&self) -> bool {
        self.is_finished() && self.task.ended_killed()
    }

    /// Kills the greenlet and waits until it has finished (gevent's `Greenlet.kill(block=True)`).
    /// When that is depends on where the kill finds it:
    ///
    /// - **Not started:** it never runs; `kill` returns at once.
    /// - **The current greenlet:** it unwinds at once (`kill` does not return).
    /// - **Parked in one of sprout's blocking calls** (sleep, a sync primitive, a sprout
    ///   socket): the call unwinds with a private payload when the greenlet resumes,
    ///   destructors run, and `kill` returns once it is dead. Exception: if the call had
    ///   already completed before the kill arrived (its item, permit or value handed over),
    ///   it returns that success and the kill is raised at the greenlet's next blocking call
    ///   ([the waiter protocol's rule](crate::waiter)).
    /// - **Parked inside a monkey-patched libc call** (a `std::net` read after
    ///   `patch_all`, a library's own socket call): unwinding through C frames would abort, so
    ///   the hooked call fails with `ECONNABORTED` instead (see "Cancellation" in
    ///   `sprout::monkey`'s docs) and the greenlet's own code goes on,
    ///   handling that error, with the kill pending. It is raised at the greenlet's next
    ///   blocking call of sprout's own; meanwhile every hooked blocking call fails at once the
    ///   same way. `kill` waits all that time: it returns when the greenlet has finished,
    ///   which may be much later, or never if its code swallows the errors and keeps running
    ///   without reaching such a call. Bound the wait with [`kill_timeout`](Self::kill_timeout).
    ///   A greenlet a kill reached is reported killed by `join` even if its code swallowed the
    ///   error and returned normally.
    pub fn kill(&self) {
        if !self.task.request_kill() {
            let _ = wait_dead(&self.task, None);
        }
    }

    /// Kills the greenlet and waits at most `timeout` for it to die; returns whether it did.
    pub fn kill_timeout(&self, timeout: Duration) -> bool {
        self.task.request_kill()
            || wait_dead(&self.task, crate::time::deadline_after(timeout)).is_ok()
    }

    /// Requests the kill and returns at once (`kill(block=False)`).
    pub fn kill_nowait(&self) {
        self.task.request_kill();
    }

    /// The greenlet's record (for the runtime's own bookkeeping: groups, pools).
    pub(crate) fn task(&self) -> &Rc<Task> {
        &self.task
    }

    /// The greenlet's small sequential id (per thread; root code is 0).
    pub fn id(&self) -> u64 {
        self.task.id
    }

    /// The name given at spawn.
    pub fn name(&self) -> Option<&str> {
        self.task.name.as_deref()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.task.detached.set(true);
        if self.task.state.get() == TaskState::Dead {
            self.task.report_unjoined_panic();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.task.id)
            .field("name", &self.task.name)
            .field("state", &self.task.state.get())
            .finish()
    }
}
