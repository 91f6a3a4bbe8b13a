//! The hub: one per OS thread, created on first use, running the event loop on the thread's
//! own stack.
//!
//! # Who runs where
//!
//! The thread's own code (its `main`, or a thread's closure) is the **root**. Spawned
//! greenlets run on their own stacks and only while the root is blocked: when root code makes
//! a blocking call (join, sleep, a socket read that would block, `yield_now`), that call runs
//! the loop below *on the root's stack* until the root's own wait is woken. A greenlet that
//! blocks suspends back to that loop. Nothing on this path takes a lock: hubs never share
//! greenlets, and every handle is `!Send`.
//!
//! # Run order of one pass
//!
//! 1. **Ready greenlets**, FIFO: those queued when the pass began (at most [`PASS_BUDGET`]).
//!    A greenlet woken or yielding during the pass runs in the next pass, so endless
//!    `yield_now` cannot starve timers and I/O. The root is an entry in this queue like any
//!    greenlet: when it comes up, its blocking call returns.
//! 2. **Poll** the reactor: without blocking if anything is ready; otherwise blocking until the
//!    earliest timer deadline (or indefinitely if only I/O or cross-thread work is pending).
//!    Skipped entirely while no fd was ever registered and something is ready. Then
//!    **completions posted by other threads** (thread-pool results, cross-thread events) are
//!    delivered, in posting order, waking their greenlets (see `remote`).
//! 3. **Timers** whose deadline has passed fire, in deadline order (the clock is read once).
//!
//! # LoopExit
//!
//! If the root is blocked and nothing is ready, no timer is armed, no greenlet waits on an fd
//! and no cross-thread wait is pending (a thread-pool job, or a wait on one of `sync`'s
//! `Thread*` types: another thread may complete those), nothing could ever wake anybody: the
//! root's blocking call returns a "would block forever" error ([`crate::WaitError::LoopExit`],
//! [`crate::JoinError::LoopExit`]) instead of hanging. Greenlets parked forever stay parked.
//!
//! The calls that can return it are the waits with nothing else to wake them:
//! `JoinHandle::join`/`join_timeout`/`wait`, `sprout::wait` (an error),
//! `joinall`/`wait_any`/`iwait` (they report "not finished"), `WaitList::wait`, and every wait of the single-hub `sync` types (`Event::wait`,
//! `AsyncResult::get`, `Semaphore::acquire`, `Mutex::lock`, `Queue::get`/`put`,
//! `Pool::spawn`, ...), each as its own `LoopExit` error. `sleep`, socket and fd waits,
//! `spawn_blocking` and the `Thread*` types never do: a timer, an fd waiter or another thread
//! can still wake them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use crate::greenlet::{self, Step};
use crate::reactor::Reactor;
use crate::remote::HubRemote;
use crate::task::{Signal, Task, TaskState};
use crate::timer::TimerQueue;
use crate::waiter::Reason;

/// The most greenlets one pass runs before polling I/O and timers.
pub const PASS_BUDGET: usize = 1024;

/// One thread's event loop and greenlet scheduler.
pub(crate) struct Hub {
    /// Greenlets (and possibly the root) ready to run, in wake order.
    ready: RefCell<VecDeque<Rc<Task>>>,
    /// Entries of the current pass not yet run; 0 means the pass is over.
    pass_left: Cell<usize>,
    /// The deadline queue.
    pub(crate) timers: RefCell<TimerQueue>,
    /// The epoll reactor, created when first needed.
    reactor: RefCell<Option<Rc<Reactor>>>,
    /// The record of this thread's root code.
    root: Rc<Task>,
    /// Who runs now: the root or a greenlet. Set by `run_task`. INVARIANT: points at `root`
    /// or at the greenlet `run_task` is resuming, which holds an `Rc` to
    /// it for that whole time.
    current: Cell<*const Task>,
    /// What other threads (the monitor) may read: the switch counter (suspensions so far,
    /// greenlet suspends plus root parks), the running greenlet, the "asleep" flag.
    pub(crate) probe: crate::monitor::HubProbe,
    /// Live greenlets of this hub, for `run_info`.
    pub(crate) live: RefCell<crate::run_info::Registry>,
    /// True while the loop itself (not a greenlet) runs on the root's stack.
    in_loop: Cell<bool>,
    /// Waits pending outside this hub (thread pool jobs, cross-thread events): each may wake
    /// a greenlet through the reactor's notifier, so they count against LoopExit.
    external_waits: Cell<usize>,
    /// Cross-thread wake-ups: the registered waits and the completion queue other threads
    /// post to (see `remote`).
    pub(crate) remote: HubRemote,
}

thread_local! {
    /// 0: no hub yet, 1: alive, 2: destroyed (thread exiting). Const and without a
    /// destructor, so it is readable at any time, even from TLS destructors.
    static STATE: Cell<u8> = const { Cell::new(0) };
    /// This thread's hub. INVARIANT: null or a leaked `Box<Hub>`, never freed, so a
    /// `&'static Hub` made from it stays valid for the life of the process.
    static HUB_PTR: Cell<*const Hub> = const { Cell::new(std::ptr::null()) };
    /// Tears the hub's contents down at thread exit (the struct itself is leaked).
    static TEARDOWN: Teardown = const { Teardown };
}

/// At thread exit: mark the hub destroyed, drop its queues, timers and reactor (parked
/// greenlets reachable only from them are leaked, never unwound: see `Task`'s `Drop`).
struct Teardown;

impl Drop for Teardown {
    fn drop(&mut self) {
        STATE.with(|s| s.set(2));
        let p = HUB_PTR.with(Cell::get);
        if !p.is_null() {
            // SAFETY: see the invariant on HUB_PTR.
            let hub = unsafe { &*p };
            hub.probe
                .alive
                .store(false, std::sync::atomic::Ordering::Relaxed);
            let ready = std::mem::take(&mut *hub.ready.borrow_mut());
            drop(ready);
            let timers = std::mem::take(&mut *hub.timers.borrow_mut());
            drop(timers);
            hub.remote.close();
            let reactor = hub.reactor.borrow_mut().take();
            drop(reactor);
        }
    }
}

/// The stack record of the hub greenlet running on this thread, or null (for the overflow
/// reporter: reads a const thread-local and plain fields only, so it is signal-safe).
pub(crate) fn running_stack_info() -> *const crate::stack::StackInfo {
    let p = HUB_PTR.try_with(Cell::get).unwrap_or(std::ptr::null());
    if p.is_null() {
        return std::ptr::null();
    }
    // SAFETY: see the invariants on HUB_PTR and `Hub::current`: both point at live records.
    match unsafe { &(*(*p).current.get()).stack_info } {
        Some(info) => info,
        None => std::ptr::null(),
    }
}

/// Whether this thread's hub exists and is not being destroyed.
pub(crate) fn alive() -> bool {
    STATE.try_with(|s| s.get() == 1).unwrap_or(false)
}

/// Whether the code running now may park on this thread's hub: the hub exists and is not
/// being destroyed, the hub loop itself is not running (a timer action or link callback), and
/// no explicit [`crate::greenlet::Greenlet`] runs. A thread's root code counts: its park runs
/// the loop.
///
/// Never creates the hub and reads only const-initialised thread-locals, so it may be called
/// from anywhere, TLS destructors included. The monkey layer's libc hooks use it to decide
/// whether a blocking call may switch or must go straight to the kernel.
#[inline]
pub fn may_park() -> bool {
    if !alive() {
        return false;
    }
    let p = HUB_PTR.with(Cell::get);
    debug_assert!(!p.is_null(), "STATE says alive, so the hub was created");
    // SAFETY: see the invariant on HUB_PTR; STATE is 1 only after it was set.
    let hub = unsafe { &*p };
    !hub.in_loop.get() && !greenlet::in_explicit_greenlet()
}

impl Hub {
    /// This thread's hub, created on first use. Never store the reference beyond the
    /// current call chain: it is only meaningful on this thread.
    #[inline]
    pub(crate) fn current() -> &'static Hub {
        let p = HUB_PTR.with(Cell::get);
        if !p.is_null() {
            // SAFETY: see the invariant on HUB_PTR.
            return unsafe { &*p };
        }
        Hub::create()
    }

    #[cold]
    #[inline(never)]
    fn create() -> &'static Hub {
        {
            assert!(
                STATE.with(|s| s.get()) != 2,
                "sprout: the hub of this thread is being destroyed"
            );
            install_panic_hook();
            let root = Task::new_root();
            let hub: &'static Hub = Box::leak(Box::new(Hub {
                ready: RefCell::new(VecDeque::new()),
                pass_left: Cell::new(0),
                timers: RefCell::new(TimerQueue::default()),
                reactor: RefCell::new(None),
                current: Cell::new(Rc::as_ptr(&root)),
                root,
                probe: crate::monitor::HubProbe::new(),
                live: RefCell::new(crate::run_info::Registry::default()),
                in_loop: Cell::new(false),
                external_waits: Cell::new(0),
                remote: HubRemote::new(),
            }));
            STATE.with(|s| s.set(1));
            HUB_PTR.with(|h| h.set(hub));
            TEARDOWN.with(|_| ());
            crate::monitor::register_hub(&hub.probe);
            hub
        }
    }

    /// The greenlet (or root) running now.
    #[inline]
    pub(crate) fn current_task(&self) -> Rc<Task> {
        let p = self.current.get();
        // SAFETY: see the invariant on `current`: the task is alive, held by an `Rc`.
        unsafe {
            Rc::increment_strong_count(p);
            Rc::from_raw(p)
        }
    }

    /// The greenlet (or root) running now, borrowed.
    #[inline]
    pub(crate) fn current_ref(&self) -> &Task {
        // SAFETY: see the invariant on `current`.
        unsafe { &*self.current.get() }
    }

    /// A new greenlet id (shared with explicit greenlets: see `greenlet::next_id`).
    pub(crate) fn next_id(&self) -> u64 {
        greenlet::next_id()
    }

    /// Queues a greenlet to run.
    #[inline]
    pub(crate) fn schedule(&self, task: Rc<Task>) {
        self.ready.borrow_mut().push_back(task);
    }

    /// The reactor, created on first use.
    pub(crate) fn reactor(&self) -> Rc<Reactor> {
        if let Some(r) = &*self.reactor.borrow() {
            return r.clone();
        }
        self.create_reactor()
    }

    /// Makes the reactor. No borrow of `self.reactor` is held while it is made: making it
    /// opens and may close fds, and with the `monkey` feature those calls go through hooks
    /// that may look the reactor up again.
    #[cold]
    fn create_reactor(&self) -> Rc<Reactor> {
        let created = Rc::new(
            Reactor::new()
                .unwrap_or_else(|e| panic!("sprout: cannot create the epoll reactor: {e}")),
        );
        let mut r = self.reactor.borrow_mut();
        match &*r {
            Some(existing) => existing.clone(),
            None => {
                *r = Some(created.clone());
                let _ = self.probe.notifier.set(Arc::downgrade(&created.notifier()));
                created
            }
        }
    }

    /// A wait that another thread may complete has begun (see `remote`): no LoopExit until
    /// it ends.
    pub(crate) fn external_wait_begin(&self) {
        self.external_waits.set(self.external_waits.get() + 1);
    }

    /// A wait begun with `external_wait_begin` has ended.
    pub(crate) fn external_wait_end(&self) {
        debug_assert!(self.external_waits.get() > 0, "unbalanced external wait");
        self.external_waits.set(self.external_waits.get() - 1);
    }

    /// The reactor if it exists.
    pub(crate) fn reactor_if_any(&self) -> Option<Rc<Reactor>> {
        // `try_borrow`: the `close` hook asks while the reactor may be being made.
        self.reactor.try_borrow().ok().and_then(|r| r.clone())
    }

    /// Whether a reactor exists and has fds registered (without cloning it).
    fn has_registrations(&self) -> bool {
        self.reactor
            .borrow()
            .as_ref()
            .is_some_and(|r| r.has_registrations())
    }

    /// Leaves the current greenlet (or root) for the hub until something schedules it again.
    /// The caller has set up its wake sources and checks why it was resumed.
    ///
    /// Inlined on purpose: every stack switch leaves the CPU's return-address predictor out
    /// of step, so each function return between the blocking call and the switch costs a
    /// mispredict. Fewer frames around the switch are measurably faster.
    #[inline(always)]
    pub(crate) fn switch_out(&self, me: &Rc<Task>) {
        if greenlet::in_explicit_greenlet() {
            return greenlet::park_on_hub();
        }
        // A plain relaxed load and store (no read-modify-write): only this thread writes it.
        let sw = &self.probe.switches;
        sw.store(sw.load(Relaxed) + 1, Relaxed);
        if me.is_root() {
            self.park_root(me);
        } else {
            me.state.set(TaskState::Suspended);
            let sus = me
                .suspender
                .get()
                .expect("a running greenlet has a suspender");
            debug_assert!(
                std::ptr::eq(self.current_ref(), &**me),
                "switch_out of a non-current greenlet"
            );
            // SAFETY: `me` is the current greenlet (every caller passes the current task:
            // `Waiter::wait` checks it, the others take `current_task()`), so we are on its own
            // stack, and it is not inside an explicit greenlet (checked above).
            let sig = unsafe { sus.suspend(()) };
            if sig == Signal::Unwind && !std::thread::panicking() {
                me.kill_raised();
                panic::resume_unwind(Box::new(greenlet::GreenletExit));
            }
        }
    }

    /// The root's side of `switch_out`: run the loop on this stack until the root is woken.
    #[inline(never)]
    fn park_root(&self, me: &Rc<Task>) {
        if self.in_loop.get() {
            panic!("sprout: a link callback or timer action tried to block the hub loop");
        }
        me.state.set(TaskState::Suspended);
        self.run_loop();
        me.state.set(TaskState::Running);
    }

    /// Queues the current greenlet behind the ready ones and switches out (gevent's
    /// `sleep(0)`).
    #[inline]
    pub(crate) fn yield_now(&self) -> Result<(), crate::waiter::Interrupt> {
        let me = self.current_task();
        if let Some(i) = me.pending_interrupt() {
            return Err(i);
        }
        // A new epoch, already woken: a running greenlet is not queued by a wake, so queue it.
        me.open_woken_epoch();
        self.schedule(me.clone());
        self.switch_out(&me);
        match me.pending_interrupt() {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }

    /// Runs passes until the root comes up in the ready queue (see the module docs).
    fn run_loop(&self) {
        self.in_loop.set(true);
        loop {
            if self.pass_left.get() == 0 {
                self.poll_and_fire();
                let n = self.ready.borrow().len().min(PASS_BUDGET);
                self.pass_left.set(n);
                continue;
            }
            self.pass_left.set(self.pass_left.get() - 1);
            let next = self.ready.borrow_mut().pop_front();
            let Some(task) = next else {
                self.pass_left.set(0);
                continue;
            };
            if task.is_root() {
                self.in_loop.set(false);
                return;
            }
            self.run_task(task);
        }
    }

    /// Resumes one greenlet until it suspends or finishes.
    #[inline(always)]
    fn run_task(&self, task: Rc<Task>) {
        if task.state.get() == TaskState::Dead {
            return;
        }
        task.state.set(TaskState::Running);
        task.waits.set(crate::run_info::WaitsOn::Nothing);
        let prev = self.current.replace(Rc::as_ptr(&task));
        self.probe.set_current(task.id, task.location);
        let traced = crate::trace::enabled();
        if traced {
            crate::trace::emit(crate::trace::TraceEvent::SwitchIn { id: task.id });
        }
        self.in_loop.set(false);
        let step = task.resume();
        self.in_loop.set(true);
        self.current.set(prev);
        // Back in the loop (id 0); the stale location is ignored while the id is 0.
        self.probe.current_id.store(0, Relaxed);
        if traced && !matches!(step, Step::Finished(())) {
            crate::trace::emit(crate::trace::TraceEvent::SwitchOut { id: task.id });
        }
        if let Step::Finished(()) = step {
            let result = task.take_stashed();
            task.finish(result);
        }
    }

    /// Poll phase and timer phase of a pass.
    fn poll_and_fire(&self) {
        let has_ready = !self.ready.borrow().is_empty();
        if has_ready {
            if self.has_registrations() {
                if let Some(r) = self.reactor_if_any() {
                    r.poll(Some(Duration::ZERO));
                }
            }
            self.remote.drain(false);
        } else {
            let next = self.timers.borrow().next_deadline();
            let io_pending = self
                .reactor
                .borrow()
                .as_ref()
                .is_some_and(|r| r.has_waiters());
            if next.is_none() && !io_pending && self.external_waits.get() == 0 {
                // Nothing could ever wake anybody: fail the root's wait.
                self.root.wake(self.root.epoch(), Reason::LoopExit);
                return;
            }
            let timeout = next.map(|d| d.saturating_duration_since(Instant::now()));
            let reactor = self.reactor();
            self.probe.idle.store(true, Relaxed);
            reactor.poll(timeout);
            self.probe.idle.store(false, Relaxed);
            self.remote.drain(true);
        }
        if self.probe.dump.load(Relaxed) {
            crate::run_info::dump_now(self);
        }
        if !self.timers.borrow().is_empty() {
            let now = Instant::now();
            loop {
                let expired = self.timers.borrow_mut().pop_expired(now);
                match expired {
                    Some(action) => action.fire(),
                    None => break,
                }
            }
        }
    }

    /// The switch counter.
    pub(crate) fn switches(&self) -> u64 {
        self.probe.switches.load(Relaxed)
    }

    /// Ready-queue length, armed timers and pending external waits (for `run_info`).
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        (
            self.ready.borrow().len(),
            self.timers.borrow().len(),
            self.external_waits.get(),
        )
    }
}

/// The driver of an explicit greenlet that asked to park (see `greenlet::park_on_hub`):
/// parks the hub greenlet (or root) the driver runs on, until the wait's waker, deadline or
/// an interrupt wakes it.
#[cold]
#[inline(never)]
pub(crate) fn park_driver() {
    let hub = Hub::current();
    let me = hub.current_task();
    hub.switch_out(&me);
}

/// Called when a driver hands control back to the hub greenlet's own code: if a kill was
/// raised inside an explicit greenlet it drove (the kill was meant for this hub greenlet),
/// keep unwinding here.
#[cold]
#[inline(never)]
pub(crate) fn reraise_kill_in_driver() {
    if !alive() || std::thread::panicking() {
        return;
    }
    let hub = Hub::current();
    if hub.in_loop.get() {
        return;
    }
    let me = hub.current_ref();
    if !me.is_root() && me.kill_was_raised() {
        panic::resume_unwind(Box::new(greenlet::GreenletExit));
    }
}

/// The number of times greenlets (or the root) on this thread have switched out to the hub.
///
/// gevent's `assert_switches` idea: read it before and after an operation to prove the
/// operation did, or did not, yield.
pub fn switch_count() -> u64 {
    Hub::current().switches()
}

/// The id of the running greenlet: an explicit [`greenlet::Greenlet`]'s id inside one,
/// otherwise the running hub greenlet's (0 for a thread's root code). Hub and explicit
/// greenlets share one id space, so this always equals
/// `sprout::greenlet::Greenlet::current().id()`.
pub fn current_id() -> u64 {
    greenlet::current_explicit_id().unwrap_or_else(|| Hub::current().current_ref().id)
}

/// The id of the hub greenlet (or root, 0) running now, without creating a hub: 0 if this
/// thread has none.
pub(crate) fn running_hub_greenlet_id() -> u64 {
    if !alive() {
        return 0;
    }
    Hub::current().current_ref().id
}

/// The name of the running greenlet, if it has one.
pub fn current_name() -> Option<String> {
    Hub::current()
        .current_task()
        .name
        .as_deref()
        .map(str::to_owned)
}

/// Installs, once per process, a panic hook that files the report of a panic inside a hub
/// greenlet with that greenlet (printed later only if nobody joins it), and defers to the
/// previous hook for every other panic.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let task = (alive() && !greenlet::in_explicit_greenlet())
                .then(|| Hub::current().current_task())
                .filter(|t| !t.is_root());
            match task {
                Some(task) => {
                    let msg = crate::greenlet::panic_message(info.payload());
                    let loc = info
                        .location()
                        .map(|l| format!(" at {l}"))
                        .unwrap_or_default();
                    let bt = std::backtrace::Backtrace::capture();
                    let bt = match bt.status() {
                        std::backtrace::BacktraceStatus::Captured => format!("\n{bt}"),
                        _ => String::new(),
                    };
                    if let Ok(mut r) = task.panic_report.try_borrow_mut() {
                        *r = Some(format!(
                            "sprout: greenlet {} panicked{loc}:\n{msg}{bt}",
                            task.label()
                        ));
                    }
                }
                None => prev(info),
            }
        }));
    });
}
