//! The blocking monitor: a thread that notices a hub whose greenlet (or root code) has run
//! without switching for longer than a threshold (gevent's `max_blocking_time`), reports a
//! kill that a greenlet did not act on, and turns a signal into a run-info dump of every hub.
//!
//! Off by default. Turn it on in code with [`start`], or for an unmodified binary with the
//! environment variable `SPROUT_MAX_BLOCKING_TIME` (`100ms`, `1s`, `250us` or plain seconds
//! like `0.1`; read once, when the process's first hub is created). Either way `SIGUSR1` then
//! makes every hub print [`run_info`](crate::run_info()) on stderr (see [`dump_on_signal`]).
//!
//! # What is reported
//!
//! One line when an episode is noticed (it has lasted at least the threshold), one when it
//! ends, on stderr or to the callback given to [`set_reporter`]:
//!
//! ```text
//! sprout monitor: hub of thread 'main' (tid 4242) blocked for 101ms by greenlet #1 'hog' spawned at src/main.rs:7:10
//! sprout monitor: hub of thread 'main' (tid 4242) unblocked after 402ms (greenlet #1 'hog' spawned at src/main.rs:7:10)
//! ```
//!
//! An episode is time in which the hub's switch counter and running greenlet did not change
//! while the hub was not asleep in `epoll_wait`. The monitor samples every quarter threshold
//! (between 1 ms and 50 ms), so reported lengths are accurate to about one sample. Root code
//! that runs for long is reported only while its hub has live greenlets (they are the ones
//! starved).
//!
//! # No backtrace
//!
//! The report has no backtrace of where the greenlet is stuck. Taking one soundly means
//! interrupting the hub thread with a signal and walking its stack from the handler, which
//! needs an async-signal-safe unwinder: `std::backtrace` allocates and takes locks, so using it
//! from a handler can deadlock or corrupt the allocator of the very thread it stopped. sprout
//! does not carry such an unwinder, so the report names the greenlet and its spawn location
//! instead; a debugger or `perf` attached to the thread named in the report gives the stack.
//!
//! # Cost and soundness
//!
//! The hub keeps, per thread, a small record readable from other threads (`HubProbe`): its
//! switch counter, the running greenlet's id and spawn location, and an "asleep in epoll"
//! flag, all written with plain relaxed stores (no read-modify-write, no lock) on the paths
//! that already update them. The monitor thread reads only that record. It never touches the
//! hub's own memory (greenlet records are `Rc`s, names are `Box<str>`s owned by the hub
//! thread): names of **named** greenlets are copied into a per-hub locked map of `Arc<str>` at
//! spawn and removed when they finish, so unnamed spawns pay nothing, and the spawn location
//! is a `&'static Location` (from `#[track_caller]`), valid everywhere for ever.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Once, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::reactor::Notifier;

/// The part of a hub other threads may read (see the module docs). Embedded in the hub,
/// which is leaked, so a `&'static HubProbe` stays valid after the thread exits.
pub(crate) struct HubProbe {
    /// The switch counter (`sprout::switch_count`). Written only by the hub thread with
    /// relaxed load + store.
    pub(crate) switches: AtomicU64,
    /// True while the hub sleeps in a blocking `epoll_wait`.
    pub(crate) idle: AtomicBool,
    /// Id of the greenlet the hub is resuming (0: the root or the loop itself).
    pub(crate) current_id: AtomicU64,
    /// Spawn location of that greenlet, or null. INVARIANT: null or from a
    /// `&'static Location<'static>`.
    pub(crate) current_loc: AtomicPtr<Location<'static>>,
    /// Greenlets spawned and not finished (for "the root starves someone").
    pub(crate) live: AtomicUsize,
    /// False once the hub's thread is exiting.
    pub(crate) alive: AtomicBool,
    /// A run-info dump was requested; the hub prints it at its next pass.
    pub(crate) dump: AtomicBool,
    /// The hub's thread name (or `<unnamed>`), fixed at creation.
    thread: String,
    /// The hub's thread id (`gettid`).
    tid: i32,
    /// Names of live named greenlets.
    names: Mutex<HashMap<u64, Arc<str>>>,
    /// Greenlets a kill reached while the monitor was on, and when (removed at finish).
    kills: Mutex<HashMap<u64, (Instant, Option<&'static Location<'static>>)>>,
    /// The reactor's notifier, once the reactor exists (to wake a sleeping hub for a dump).
    /// Weak: the eventfd closes with the reactor at thread exit.
    pub(crate) notifier: OnceLock<Weak<Notifier>>,
}

impl HubProbe {
    /// The record of a hub created on the calling thread.
    pub(crate) fn new() -> HubProbe {
        HubProbe {
            switches: AtomicU64::new(0),
            idle: AtomicBool::new(false),
            current_id: AtomicU64::new(0),
            current_loc: AtomicPtr::new(std::ptr::null_mut()),
            live: AtomicUsize::new(0),
            alive: AtomicBool::new(true),
            dump: AtomicBool::new(false),
            thread: std::thread::current()
                .name()
                .unwrap_or("<unnamed>")
                .to_owned(),
            // SAFETY: gettid has no preconditions.
            tid: unsafe { libc::gettid() },
            names: Mutex::new(HashMap::new()),
            kills: Mutex::new(HashMap::new()),
            notifier: OnceLock::new(),
        }
    }

    /// The hub thread's name.
    pub(crate) fn thread_name(&self) -> &str {
        &self.thread
    }

    /// The hub thread's id.
    pub(crate) fn tid(&self) -> i32 {
        self.tid
    }

    /// Records the running greenlet (hub thread, every resume): two relaxed stores.
    #[inline(always)]
    pub(crate) fn set_current(&self, id: u64, loc: Option<&'static Location<'static>>) {
        self.current_id.store(id, Ordering::Relaxed);
        let p = loc.map_or(std::ptr::null_mut(), |l| l as *const _ as *mut _);
        self.current_loc.store(p, Ordering::Relaxed);
    }

    /// A named greenlet was spawned.
    pub(crate) fn add_name(&self, id: u64, name: &str) {
        self.names.lock().insert(id, name.into());
    }

    /// A named greenlet finished.
    pub(crate) fn remove_name(&self, id: u64) {
        self.names.lock().remove(&id);
    }

    /// A kill reached greenlet `id` (only called while the monitor is on).
    pub(crate) fn kill_requested(&self, id: u64, loc: Option<&'static Location<'static>>) {
        self.kills
            .lock()
            .entry(id)
            .or_insert_with(|| (Instant::now(), loc));
    }

    /// Greenlet `id`, which had a kill tracked, finished.
    pub(crate) fn kill_done(&self, id: u64) {
        self.kills.lock().remove(&id);
    }

    fn name_of(&self, id: u64) -> Option<Arc<str>> {
        if id == 0 {
            return Some("root".into());
        }
        self.names.lock().get(&id).cloned()
    }

    fn current_location(&self) -> Option<&'static Location<'static>> {
        let p = self.current_loc.load(Ordering::Relaxed);
        // SAFETY: see the invariant on `current_loc`: null or a `&'static Location`.
        (!p.is_null()).then(|| unsafe { &*p })
    }
}

/// What the monitor noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportKind {
    /// The hub has not switched for `duration` (at least the threshold) while a greenlet or
    /// the root ran. Reported once per episode.
    Blocking,
    /// The episode reported by `Blocking` ended; `duration` is its total length.
    BlockingEnded,
    /// A kill reached the greenlet `duration` ago and it is still running.
    KillPending,
    /// A run-info dump was requested while the hub was in a blocking episode: its dump comes
    /// only when it switches again.
    BlockedAtDump,
}

/// One report of the monitor (see the module docs for its `Display` lines).
#[derive(Debug, Clone)]
pub struct Report {
    /// What was noticed.
    pub kind: ReportKind,
    /// The hub's thread name (`<unnamed>` if it has none).
    pub thread: String,
    /// The hub's thread id (Linux `gettid`).
    pub tid: i32,
    /// The greenlet's id (0: the thread's root code).
    pub greenlet: u64,
    /// Its name, if it was given one (`root` for root code).
    pub name: Option<Arc<str>>,
    /// Where it was spawned (`None` for root code).
    pub location: Option<&'static Location<'static>>,
    /// How long so far (`Blocking`, `KillPending`, `BlockedAtDump`) or in total
    /// (`BlockingEnded`).
    pub duration: Duration,
}

impl Report {
    fn who(&self) -> String {
        let mut s = format!("greenlet #{}", self.greenlet);
        if let Some(n) = &self.name {
            s.push_str(&format!(" '{n}'"));
        }
        if let Some(l) = self.location {
            s.push_str(&format!(" spawned at {l}"));
        }
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hub = format!("hub of thread '{}' (tid {})", self.thread, self.tid);
        let ms = self.duration.as_millis();
        match self.kind {
            ReportKind::Blocking => write!(
                f,
                "sprout monitor: {hub} blocked for {ms}ms by {}",
                self.who()
            ),
            ReportKind::BlockingEnded => write!(
                f,
                "sprout monitor: {hub} unblocked after {ms}ms ({})",
                self.who()
            ),
            ReportKind::KillPending => write!(
                f,
                "sprout monitor: {} on the {hub} still runs {ms}ms after a kill reached it",
                self.who()
            ),
            ReportKind::BlockedAtDump => write!(
                f,
                "sprout monitor: {hub} is blocked for {ms}ms by {}; its run info follows when it switches",
                self.who()
            ),
        }
    }
}

type Reporter = Arc<dyn Fn(&Report) + Send + Sync>;

/// Every hub ever created (hubs are leaked, so the references stay valid).
static HUBS: Mutex<Vec<&'static HubProbe>> = Mutex::new(Vec::new());
/// The threshold in nanoseconds; 0 while blocking reports are off.
static THRESHOLD_NS: AtomicU64 = AtomicU64::new(0);
/// Whether the monitor thread was started.
static THREAD: Mutex<bool> = Mutex::new(false);
/// The callback replacing stderr.
static REPORTER: RwLock<Option<Reporter>> = RwLock::new(None);
/// Raised by the dump signal's handler (signal-hook), lowered by the monitor thread.
static DUMP_FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Called once per hub at creation: registers its probe; the first hub reads the env var.
pub(crate) fn register_hub(probe: &'static HubProbe) {
    HUBS.lock().push(probe);
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        let Ok(v) = std::env::var("SPROUT_MAX_BLOCKING_TIME") else {
            return;
        };
        match parse_duration(&v) {
            Some(d) if !d.is_zero() => {
                if let Err(e) = start(d) {
                    eprintln!("sprout monitor: cannot start: {e}");
                }
            }
            _ => eprintln!(
                "sprout monitor: ignoring SPROUT_MAX_BLOCKING_TIME={v:?}: expected a positive \
                 duration such as 100ms, 1s, 250us or 0.1"
            ),
        }
    });
}

/// Whether the monitor tracks kills (it is on): one relaxed load.
#[inline]
pub(crate) fn on() -> bool {
    THRESHOLD_NS.load(Ordering::Relaxed) != 0
}

/// Parses `100ms`, `1s`, `250us`, `5ns`, `2m` or plain (fractional) seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1e3,
        "us" | "µs" => n / 1e6,
        "ns" => n / 1e9,
        "m" | "min" => n * 60.0,
        _ => return None,
    };
    (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// Turns the blocking monitor on with `max_blocking_time` as the threshold (gevent's
/// `max_blocking_time`; gevent's default is 0.1 s), or changes the threshold if it is on.
/// Also makes `SIGUSR1` dump every hub's run info (see [`dump_on_signal`]).
///
/// The monitor runs on its own thread (`sprout-monitor`), started once per process.
///
/// ```no_run
/// sprout::monitor::start(std::time::Duration::from_millis(100)).unwrap();
/// ```
///
/// # Errors
/// `InvalidInput` if `max_blocking_time` is zero; the OS error if the monitor thread or the
/// signal handler cannot be set up.
pub fn start(max_blocking_time: Duration) -> io::Result<()> {
    if max_blocking_time.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "max_blocking_time must be positive",
        ));
    }
    let ns = u64::try_from(max_blocking_time.as_nanos()).unwrap_or(u64::MAX);
    THRESHOLD_NS.store(ns, Ordering::Relaxed);
    dump_on_signal(libc::SIGUSR1)
}

/// Turns blocking and kill reports off (a dump signal still works).
pub fn stop() {
    THRESHOLD_NS.store(0, Ordering::Relaxed);
}

/// The current threshold, `None` while the monitor is off.
pub fn max_blocking_time() -> Option<Duration> {
    match THRESHOLD_NS.load(Ordering::Relaxed) {
        0 => None,
        ns => Some(Duration::from_nanos(ns)),
    }
}

/// Sends reports to `f` instead of stderr. `f` runs on the monitor thread; it must not
/// block for long (the monitor stops sampling meanwhile). If it panics, that report goes to
/// stderr with a note, and the monitor carries on.
pub fn set_reporter(f: impl Fn(&Report) + Send + Sync + 'static) {
    *REPORTER.write() = Some(Arc::new(f));
}

/// Sends reports to stderr again.
pub fn clear_reporter() {
    *REPORTER.write() = None;
}

/// Makes `signal` (for example `sprout::signal::SIGUSR1`) write every hub's
/// [`run_info`](crate::run_info()) to stderr at that hub's next pass, waking hubs asleep in
/// `epoll_wait`. A hub stuck in a blocking episode is reported as such at once (and dumps
/// when it switches again). Starts the monitor thread if needed; uses the `signal-hook`
/// crate, whose handler only sets a flag the monitor thread polls.
///
/// # Errors
/// `InvalidInput` for a signal that cannot or must not be handled (`SIGKILL`, `SIGSTOP`,
/// `SIGSEGV`, `SIGILL`, `SIGFPE`, or a number out of range); `sigaction`'s error; the OS
/// error if the monitor thread cannot start.
pub fn dump_on_signal(signal: i32) -> io::Result<()> {
    if signal_hook::consts::FORBIDDEN.contains(&signal) || !(1..libc::SIGRTMAX()).contains(&signal)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signal} cannot carry a run-info dump (forbidden or out of range)"),
        ));
    }
    let flag = DUMP_FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    signal_hook::flag::register(signal, flag.clone())?;
    ensure_thread()
}

/// Asks every hub to print its run info at its next pass (what the dump signal does).
pub fn request_dump() {
    let flag = DUMP_FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)));
    flag.store(true, Ordering::Relaxed);
    let _ = ensure_thread();
}

fn ensure_thread() -> io::Result<()> {
    let mut started = THREAD.lock();
    if !*started {
        std::thread::Builder::new()
            .name("sprout-monitor".into())
            .spawn(monitor_loop)?;
        *started = true;
    }
    Ok(())
}

fn report(r: Report) {
    let reporter = REPORTER.read().clone();
    match reporter {
        Some(f) => {
            // A panicking callback must not kill the monitor thread.
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&r))).is_ok();
            if !ok {
                eprintln!("{r}\nsprout monitor: the reporter callback panicked on the line above");
            }
        }
        None => eprintln!("{r}"),
    }
}

/// The monitor's view of one hub.
struct Watch {
    switches: u64,
    id: u64,
    since: Instant,
    /// The episode reported (with its greenlet), if any.
    reported: Option<Report>,
    /// Kills already reported (greenlet id and kill time).
    kills_reported: Vec<(u64, Instant)>,
}

fn monitor_loop() {
    let mut watches: HashMap<usize, Watch> = HashMap::new();
    loop {
        let threshold = max_blocking_time();
        let tick = threshold
            .map_or(Duration::from_millis(50), |t| t / 4)
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        std::thread::sleep(tick);
        let hubs: Vec<&'static HubProbe> = HUBS.lock().clone();
        let now = Instant::now();
        let dump = DUMP_FLAG
            .get()
            .is_some_and(|f| f.swap(false, Ordering::Relaxed));
        for probe in hubs {
            if !probe.alive.load(Ordering::Relaxed) {
                continue;
            }
            let w = watches
                .entry(probe as *const HubProbe as usize)
                .or_insert_with(|| Watch {
                    switches: probe.switches.load(Ordering::Relaxed),
                    id: probe.current_id.load(Ordering::Relaxed),
                    since: now,
                    reported: None,
                    kills_reported: Vec::new(),
                });
            let switches = probe.switches.load(Ordering::Relaxed);
            let id = probe.current_id.load(Ordering::Relaxed);
            let idle = probe.idle.load(Ordering::Relaxed);
            let progressed = idle || switches != w.switches || id != w.id;
            if progressed {
                if let Some(mut r) = w.reported.take() {
                    r.kind = ReportKind::BlockingEnded;
                    r.duration = now.saturating_duration_since(w.since);
                    report(r);
                }
                w.switches = switches;
                w.id = id;
                w.since = now;
            }
            let blocked_for = now.saturating_duration_since(w.since);
            let make = |kind| Report {
                kind,
                thread: probe.thread.clone(),
                tid: probe.tid,
                greenlet: id,
                name: probe.name_of(id),
                location: if id == 0 {
                    None
                } else {
                    probe.current_location()
                },
                duration: blocked_for,
            };
            let starving = id != 0 || probe.live.load(Ordering::Relaxed) > 0;
            if let Some(t) = threshold {
                if w.reported.is_none() && !progressed && blocked_for >= t && starving {
                    let r = make(ReportKind::Blocking);
                    report(r.clone());
                    w.reported = Some(r);
                }
                check_kills(probe, w, now, t);
            }
            if dump {
                if w.reported.is_some() {
                    report(make(ReportKind::BlockedAtDump));
                }
                probe.dump.store(true, Ordering::Relaxed);
                if let Some(n) = probe.notifier.get().and_then(Weak::upgrade) {
                    let _ = n.notify();
                }
            }
        }
    }
}

fn check_kills(probe: &HubProbe, w: &mut Watch, now: Instant, threshold: Duration) {
    let overdue: Vec<(u64, Instant, Option<&'static Location<'static>>)> = probe
        .kills
        .lock()
        .iter()
        .filter(|(_, &(at, _))| now.saturating_duration_since(at) >= threshold)
        .map(|(&id, &(at, loc))| (id, at, loc))
        .collect();
    w.kills_reported
        .retain(|k| overdue.iter().any(|o| (o.0, o.1) == *k));
    for (id, at, location) in overdue {
        if w.kills_reported.contains(&(id, at)) {
            continue;
        }
        w.kills_reported.push((id, at));
        report(Report {
            kind: ReportKind::KillPending,
            thread: probe.thread.clone(),
            tid: probe.tid,
            greenlet: id,
            name: probe.name_of(id),
            location,
            duration: now.saturating_duration_since(at),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration(" 250us "), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("0.1"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("fast"), None);
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_duration("-1s"), None);
    }
}
