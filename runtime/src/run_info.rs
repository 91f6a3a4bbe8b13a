//! Run info: a printable snapshot of one hub (gevent's `format_run_info`): every live
//! greenlet with its id, name, spawn location, state and what it waits on, plus the hub's
//! ready queue, timers, fds, cross-thread waits and the thread pool.
//!
//! ```
//! let sleeper = sprout::Builder::new()
//!     .name("sleeper")
//!     .spawn(|| sprout::sleep(std::time::Duration::from_millis(50)))
//!     .unwrap();
//! sprout::yield_now(); // let it start and park
//! let info = sprout::run_info();
//! let text = info.to_string();
//! assert!(text.contains("'sleeper'") && text.contains("sleep until"));
//! sleeper.join().unwrap();
//! ```
//!
//! The registry behind it is a slab of weak references in the hub: one slot taken at spawn and
//! given back at finish (no allocation per spawn beyond the slab's amortised growth). What a
//! greenlet waits on is a small `Copy` value set by the blocking call right before it parks and
//! cleared when the greenlet is resumed.

use std::fmt;
use std::panic::Location;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::hub::Hub;
use crate::task::{Task, TaskState};

/// What a parked greenlet waits on, as recorded by the blocking call that parked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitsOn {
    /// Nothing recorded: running, queued to run, or parked by a call that records nothing.
    Nothing,
    /// Readiness of a file descriptor (a socket read or write, `wait_fd`, a hooked libc call).
    Fd {
        /// The fd.
        fd: i32,
        /// Writable (`true`) or readable (`false`).
        write: bool,
    },
    /// `sleep`/`sleep_until` until the deadline.
    Sleep {
        /// When it wakes.
        deadline: Instant,
    },
    /// `sleep` with a duration past any deadline: until killed.
    SleepForever,
    /// Joining (or waiting for) greenlet `id`.
    Join {
        /// The greenlet waited for.
        id: u64,
    },
    /// A `sync` primitive, by type name (`Queue`, `Event`, ...).
    Sync(&'static str),
    /// A thread-pool job (`spawn_blocking`).
    ThreadPool,
    /// A `sync::Thread*` primitive another thread may complete.
    CrossThread,
    /// A libc call the `monkey` hooks made cooperative, parked on an fd's readiness.
    Hooked {
        /// The libc function (`recv`, `accept`, `connect`, `epoll_wait`, `waitpid`, ...).
        call: &'static str,
        /// The fd.
        fd: i32,
        /// Writable (`true`) or readable (`false`).
        write: bool,
    },
    /// A libc call the `monkey` hooks made cooperative, parked on something other than an
    /// fd (a `sleep`, `futex` or `getaddrinfo` on the thread pool).
    HookedCall(&'static str),
}

impl fmt::Display for WaitsOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WaitsOn::Nothing => f.write_str("-"),
            WaitsOn::Fd { fd, write } => {
                write!(f, "fd {fd} {}", if write { "writable" } else { "readable" })
            }
            WaitsOn::SleepForever => f.write_str("sleep forever"),
            WaitsOn::Sleep { deadline } => {
                let now = Instant::now();
                if deadline >= now {
                    write!(f, "sleep until +{}", ms(deadline - now))
                } else {
                    write!(f, "sleep until -{} (due)", ms(now - deadline))
                }
            }
            WaitsOn::Join { id } => write!(f, "join of greenlet #{id}"),
            WaitsOn::Sync(kind) => write!(f, "{kind}"),
            WaitsOn::ThreadPool => f.write_str("thread-pool job"),
            WaitsOn::CrossThread => f.write_str("cross-thread wait"),
            WaitsOn::Hooked { call, fd, write } => write!(
                f,
                "hooked {call}(): fd {fd} {}",
                if write { "writable" } else { "readable" }
            ),
            WaitsOn::HookedCall(call) => write!(f, "hooked {call}()"),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1e3)
}

/// Records what the current greenlet (or root) is about to park on. Call right before the
/// park; the record is cleared when the greenlet is resumed.
#[inline]
pub(crate) fn waits_on(w: WaitsOn) {
    if crate::hub::alive() {
        let task = Hub::current().current_ref();
        let w = match (task.waits.get(), w) {
            // Inside a libc hook (see `hooked_call`): keep its name.
            (WaitsOn::HookedCall(call), WaitsOn::Fd { fd, write }) => {
                WaitsOn::Hooked { call, fd, write }
            }
            (hooked @ WaitsOn::HookedCall(_), _) => hooked,
            (_, w) => w,
        };
        task.waits.set(w);
    }
}

/// For the `monkey` hooks: the current greenlet is about to park inside the hooked libc
/// function `call`, so [`run_info`] names it. The record ends when the greenlet resumes.
#[doc(hidden)]
#[inline]
pub fn hooked_call(call: &'static str) {
    if crate::hub::alive() {
        Hub::current()
            .current_ref()
            .waits
            .set(WaitsOn::HookedCall(call));
    }
}

/// The hub's slab of live greenlets.
#[derive(Default)]
pub(crate) struct Registry {
    entries: Vec<Option<Weak<Task>>>,
    free: Vec<usize>,
}

/// Adds a spawned greenlet to its hub's registry (and its name to the monitor's map).
pub(crate) fn register(hub: &Hub, task: &Rc<Task>) {
    let mut reg = hub.live.borrow_mut();
    let weak = Some(Rc::downgrade(task));
    let slot = match reg.free.pop() {
        Some(i) => {
            reg.entries[i] = weak;
            i
        }
        None => {
            reg.entries.push(weak);
            reg.entries.len() - 1
        }
    };
    task.slot.set(slot);
    let probe = &hub.probe;
    probe.live.store(
        reg.entries.len() - reg.free.len(),
        std::sync::atomic::Ordering::Relaxed,
    );
    if let Some(name) = &task.name {
        probe.add_name(task.id, name);
    }
    if let (true, Some(location)) = (crate::trace::enabled(), task.location) {
        crate::trace::emit(crate::trace::TraceEvent::Spawn {
            id: task.id,
            location,
        });
    }
}

/// Removes a finished greenlet from its hub's registry.
pub(crate) fn unregister(task: &Task) {
    let slot = task.slot.replace(usize::MAX);
    if slot == usize::MAX || !crate::hub::alive() {
        return;
    }
    let hub = Hub::current();
    if let Ok(mut reg) = hub.live.try_borrow_mut() {
        if let Some(e) = reg.entries.get_mut(slot) {
            *e = None;
            reg.free.push(slot);
        }
        hub.probe.live.store(
            reg.entries.len() - reg.free.len(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    if task.name.is_some() {
        hub.probe.remove_name(task.id);
    }
    if crate::trace::enabled() {
        crate::trace::emit(crate::trace::TraceEvent::Finish { id: task.id });
    }
}

/// One greenlet in a [`RunInfo`].
#[derive(Debug, Clone)]
pub struct GreenletInfo {
    /// Its id (0: the thread's root code).
    pub id: u64,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Where it was spawned (`None` for the root).
    pub location: Option<&'static Location<'static>>,
    /// `new` (not started yet), `running`, `parked` or `ready` (queued to run).
    pub state: &'static str,
    /// What it waits on while parked.
    pub waits_on: WaitsOn,
}

/// A snapshot of the calling thread's hub, returned by [`run_info`]; `Display` prints it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The hub's thread name.
    pub thread: String,
    /// The hub's thread id (Linux `gettid`).
    pub tid: i32,
    /// The switch counter.
    pub switches: u64,
    /// The root and every live greenlet, by id.
    pub greenlets: Vec<GreenletInfo>,
    /// Greenlets (or root) queued to run.
    pub ready: usize,
    /// Armed timers (sleeps, deadlines, `Timeout` scopes, hub callbacks).
    pub timers: usize,
    /// The earliest timer deadline, relative to the snapshot (`None`: no timer, or overdue).
    pub next_timer_in: Option<Duration>,
    /// Fds registered with the hub's epoll.
    pub fds: usize,
    /// Greenlets parked on fd readiness.
    pub fd_waiters: usize,
    /// Pending waits another thread may complete (thread-pool jobs, `Thread*` primitives).
    pub external_waits: usize,
    /// The process thread pool's live threads.
    pub pool_threads: usize,
    /// Jobs queued in the thread pool, not yet taken by a thread.
    pub pool_queued: usize,
}

/// A snapshot of the calling thread's hub (gevent's `format_run_info`): print it with `{}`.
/// Creates the hub if the thread has none.
pub fn run_info() -> RunInfo {
    let hub = Hub::current();
    snapshot(hub)
}

fn snapshot(hub: &Hub) -> RunInfo {
    let root = hub.current_ref();
    let current_id = root.id;
    let mut greenlets = Vec::new();
    let describe = |t: &Task| GreenletInfo {
        id: t.id,
        name: t.name.as_deref().map(str::to_owned),
        location: t.location,
        state: match t.state.get() {
            TaskState::New => "new",
            TaskState::Running => "running",
            TaskState::Suspended if t.reason().is_some() => "ready",
            TaskState::Suspended => "parked",
            TaskState::Dead => "dead",
        },
        waits_on: t.waits.get(),
    };
    if current_id != 0 {
        // A greenlet asked: the root is parked in the hub.
        greenlets.push(GreenletInfo {
            id: 0,
            name: Some("root".into()),
            location: None,
            state: "parked",
            waits_on: WaitsOn::Nothing,
        });
    }
    if let Ok(reg) = hub.live.try_borrow() {
        for t in reg.entries.iter().flatten().filter_map(Weak::upgrade) {
            greenlets.push(describe(&t));
        }
    }
    if current_id == 0 {
        greenlets.push(describe(root));
    }
    greenlets.sort_by_key(|g| g.id);
    let (ready, timers, external_waits) = hub.counts();
    let (fds, fd_waiters) = hub.reactor_if_any().map_or((0, 0), |r| r.counts());
    let next_timer_in = hub
        .timers
        .try_borrow()
        .ok()
        .and_then(|t| t.next_deadline())
        .and_then(|d| d.checked_duration_since(Instant::now()));
    let (pool_threads, pool_queued) = crate::threadpool::stats();
    RunInfo {
        thread: hub.probe.thread_name().to_owned(),
        tid: hub.probe.tid(),
        switches: hub.switches(),
        greenlets,
        ready,
        timers,
        next_timer_in,
        fds,
        fd_waiters,
        external_waits,
        pool_threads,
        pool_queued,
    }
}

impl fmt::Display for RunInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sprout run info: hub of thread '{}' (tid {}), {} switches",
            self.thread, self.tid, self.switches
        )?;
        writeln!(
            f,
            "  ready: {}  timers: {}{}  fds: {} registered, {} waited on  external waits: {}",
            self.ready,
            self.timers,
            self.next_timer_in
                .map(|d| format!(" (next in {})", ms(d)))
                .unwrap_or_default(),
            self.fds,
            self.fd_waiters,
            self.external_waits
        )?;
        writeln!(
            f,
            "  thread pool: {} threads, {} queued",
            self.pool_threads, self.pool_queued
        )?;
        writeln!(f, "  greenlets ({}):", self.greenlets.len())?;
        for g in &self.greenlets {
            write!(f, "    #{}", g.id)?;
            if let Some(n) = &g.name {
                write!(f, " '{n}'")?;
            }
            if let Some(l) = g.location {
                write!(f, " spawned at {l}")?;
            }
            write!(f, ": {}", g.state)?;
            if g.waits_on != WaitsOn::Nothing {
                write!(f, ", waits on {}", g.waits_on)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Prints this hub's run info on stderr (a dump was requested; called from the loop).
#[cold]
#[inline(never)]
pub(crate) fn dump_now(hub: &Hub) {
    hub.probe
        .dump
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let info = snapshot(hub);
    eprint!("{info}");
}
