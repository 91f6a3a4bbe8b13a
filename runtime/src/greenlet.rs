//! Greenlets with explicit `switch`: the Python `greenlet` package's model on corosensei.
//!
//! ```
//! use sprout::greenlet::Greenlet;
//!
//! let echo = Greenlet::new(|mut n: u32| loop {
//!     // Hand `n + 1` to whoever switched to us (main), wait for the next value.
//!     n = Greenlet::main().switch(n + 1).unwrap();
//! });
//! let a: u32 = echo.switch(1u32).unwrap();
//! let b: u32 = echo.switch(10u32).unwrap();
//! assert_eq!((a, b), (2, 11));
//! ```
//!
//! # The lifecycle and who may switch to whom
//!
//! - A greenlet is created *new*: its closure has not run. The first `switch` to it starts the
//!   closure with the switched value as its argument.
//! - While it runs it is the thread's *current* greenlet. It leaves by switching to another
//!   greenlet (it becomes *suspended* inside that `switch` call) or by returning.
//! - When its closure returns, the greenlet is *dead* and control passes to its **parent**
//!   (its creator unless re-assigned with [`Greenlet::set_parent`]); the returned value becomes
//!   the result of the parent's pending `switch`. A dead parent is skipped for its own parent.
//! - `switch(v)` to a suspended greenlet makes its pending `switch` return `v`.
//! - Every thread has a **main** greenlet, [`Greenlet::main`]: the code that is not running
//!   inside any greenlet of this module (a thread's `main`, or a hub greenlet that drives
//!   explicit greenlets). Switching to it returns control to that code.
//!
//! Ids: explicit greenlets and hub greenlets ([`crate::spawn`]) share one per-thread id
//! space, so `Greenlet::current().id()` always equals [`crate::current_id`]; the main
//! greenlet's id is that of the hub greenlet (or root, 0) that drives the explicit ones (see
//! [`crate::Greenlet`]).
//!
//! Values are typed at the call sites: `switch::<T, R>` sends a `T` and expects an `R` back.
//! The receiver checks the type; a mismatch is [`SwitchError::TypeMismatch`], never undefined
//! behaviour. Values travel by pointer, so a switch allocates nothing.
//!
//! Errors, not undefined behaviour: switching to a dead greenlet or to oneself is a
//! [`SwitchError`]; switching to another thread's greenlet is impossible because [`Greenlet`]
//! is `!Send`, which the compiler checks:
//!
//! ```compile_fail
//! use sprout::greenlet::Greenlet;
//!
//! let g = Greenlet::new(|x: u32| x);
//! std::thread::spawn(move || g.switch::<u32, u32>(1)); // error: `Rc<..>` cannot be sent
//! ```
//!
//! # Panics, kill and drop
//!
//! - A panic inside a greenlet ends it; the parent's pending `switch` returns
//!   `Err(SwitchError::Panicked(payload))`. A panic is never lost and never aborts.
//! - [`Greenlet::throw`] (alias [`Greenlet::kill`]) raises `GreenletExit` in a suspended
//!   greenlet: its stack unwinds, destructors run, and it counts as a normal exit. A greenlet
//!   killed before it started never runs.
//! - Dropping the last handle of a suspended greenlet unwinds its stack the same way.
//!
//! # Implementation
//!
//! corosensei coroutines are asymmetric (resume/suspend), greenlets symmetric. The code that
//! switches from the main greenlet runs a small driver loop on its own stack: it resumes the
//! target; a greenlet that switches elsewhere suspends back to the driver with "switch to X",
//! and the driver resumes X. A greenlet-to-greenlet switch is two raw stack switches; a switch
//! from main and back is one resume and one suspend.
//!
//! # Blocking on the hub inside an explicit greenlet
//!
//! A greenlet of this module may block on the hub (`sprout::sleep`, a socket read, a join,
//! an `Event` wait), as gevent's raw greenlets may call `gevent.sleep`. The hub parks hub
//! greenlets, and an explicit greenlet runs on a stack of its own, driven from the stack of
//! a hub greenlet (or the thread's root code): so the explicit greenlet suspends to its
//! driver with a park request, the driver parks the hub greenlet it runs on, and when the
//! hub wakes that one the driver resumes the explicit greenlet inside its blocking call.
//! Consequences:
//!
//! - The driving hub greenlet's `switch` does not return while the explicit greenlet is
//!   parked (as if it had blocked itself); other hub greenlets run meanwhile.
//! - A parked explicit greenlet counts as running: a `switch` to it from anywhere else fails
//!   with [`SwitchError::Running`].
//! - A kill of the driving hub greenlet is raised inside the parked explicit greenlet first
//!   (it unwinds, destructors run), then in the driving hub greenlet when control comes back
//!   to it. A `Timeout` scope is raised where the wait is, inside the explicit greenlet.
//! - Exception: a greenlet being unwound because its last handle was dropped has no driver
//!   waiting for it and cannot block; it panics with a message that says so.
//! - With the `monkey` feature, libc calls made inside an explicit greenlet are not
//!   interposed (they block the thread, as outside any hub); call sprout's own APIs there.
//!
//! This module is the only place that uses corosensei directly; the hub builds its greenlets
//! on `RawGreenlet`.

use std::any::{type_name, Any, TypeId};
use std::cell::{Cell, RefCell, UnsafeCell};
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::stack::{self, PooledStack, StackInfo};

// ---------------------------------------------------------------------------------------------
// The raw coroutine wrapper shared by this module and the hub.
// ---------------------------------------------------------------------------------------------

/// An input a [`RawGreenlet`] can be resumed with to make its pending suspension unwind.
pub(crate) trait UnwindInput {
    /// The value whose receipt makes the suspended code unwind to its root.
    fn unwind() -> Self;
}

/// A coroutine on a pooled, guarded stack, with the bookkeeping the overflow handler needs.
///
/// Dropping one that is suspended resumes it with `I::unwind()` until it finishes, so its
/// destructors run (corosensei's own forced unwind is never used: its payload is private and
/// would be indistinguishable from a user panic at the greenlet's root).
pub(crate) struct RawGreenlet<I: UnwindInput, Y, R> {
    /// The coroutine; `None` once finished and its stack recycled.
    co: Option<Coroutine<I, Y, R, PooledStack>>,
    /// Where the owner keeps this stack's overflow record while it drop-unwinds it; set by
    /// the owner once the record has its final address (see `set_info`).
    info: *const StackInfo,
}

/// The handle a running [`RawGreenlet`] suspends itself through.
pub(crate) struct Suspender<I, Y> {
    /// Points at corosensei's yielder, which lives on the coroutine's own stack.
    yielder: *const Yielder<I, Y>,
}

impl<I, Y> Clone for Suspender<I, Y> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<I, Y> Copy for Suspender<I, Y> {}

impl<I, Y> Suspender<I, Y> {
    /// Suspends the running coroutine, handing `y` to whoever resumed it.
    ///
    /// # Safety
    /// Must be called on the stack of the coroutine this suspender was handed to, while that
    /// coroutine is running (not from a nested coroutine it resumed).
    #[inline]
    pub(crate) unsafe fn suspend(self, y: Y) -> I {
        // SAFETY: per this function's contract the yielder is alive (it lives on the running
        // coroutine's stack) and we are on that stack.
        unsafe { (*self.yielder).suspend(y) }
    }
}

/// What a [`RawGreenlet::resume`] came back with.
pub(crate) enum Step<Y, R> {
    /// The coroutine suspended itself with this value.
    Yielded(Y),
    /// The coroutine's function returned; its stack is back in the pool.
    Finished(R),
}

impl<I: UnwindInput + 'static, Y: 'static, R: 'static> RawGreenlet<I, Y, R> {
    /// Creates a coroutine that runs `f(suspender, first_input)` when first resumed, and the
    /// overflow record of its stack, which the owner keeps in its own record (see
    /// `stack::StackInfo` for how the SIGSEGV handler finds it).
    ///
    /// `f` must not let a panic escape: callers wrap their user code in `catch_unwind`.
    pub(crate) fn new<F>(
        stack_size: usize,
        id: u64,
        name: Option<Box<str>>,
        f: F,
    ) -> io::Result<(Self, StackInfo)>
    where
        F: FnOnce(Suspender<I, Y>, I) -> R + 'static,
    {
        let stack = PooledStack::take(stack_size)?;
        let info = StackInfo::new(&stack, id, name);
        let co = Coroutine::with_stack(stack, move |y: &Yielder<I, Y>, input: I| {
            f(Suspender { yielder: y }, input)
        });
        Ok((
            RawGreenlet {
                co: Some(co),
                info: std::ptr::null(),
            },
            info,
        ))
    }

    /// Records where the owner keeps this stack's overflow record (used while drop-unwinding).
    pub(crate) fn set_info(&mut self, info: *const StackInfo) {
        self.info = info;
    }

    /// Resumes the coroutine until it suspends or finishes. The caller publishes whose stack
    /// is running (explicit greenlets through `CURRENT`, hub greenlets through the hub's
    /// current task) so the overflow handler can find its record.
    ///
    /// # Panics
    /// If the coroutine already finished (callers track that).
    #[inline]
    pub(crate) fn resume(&mut self, input: I) -> Step<Y, R> {
        let co = self.co.as_mut().expect("resume of a finished greenlet");
        match co.resume(input) {
            CoroutineResult::Yield(y) => Step::Yielded(y),
            CoroutineResult::Return(r) => {
                if let Some(co) = self.co.take() {
                    co.into_stack().recycle();
                }
                Step::Finished(r)
            }
        }
    }

    /// Whether the coroutine has been resumed at least once.
    pub(crate) fn started(&self) -> bool {
        self.co.as_ref().is_some_and(|c| c.started())
    }

    /// Whether the coroutine has finished.
    pub(crate) fn done(&self) -> bool {
        self.co.is_none()
    }

    /// Abandons a suspended coroutine without unwinding it: its stack is leaked.
    ///
    /// Used at thread exit for greenlets that must not be unwound (DESIGN.md section 4).
    pub(crate) fn leak(mut self) {
        if let Some(co) = self.co.take() {
            std::mem::forget(co);
        }
    }
}

impl<I: UnwindInput, Y, R> Drop for RawGreenlet<I, Y, R> {
    fn drop(&mut self) {
        let Some(co) = self.co.as_mut() else { return };
        if co.started() {
            // Resume with the unwind signal until the root returns; a destructor that tries to
            // switch away while unwinding is simply resumed again.
            let prev = stack::enter(self.info);
            while !co.done() {
                let _ = co.resume(I::unwind());
            }
            stack::leave(prev);
        }
        if let Some(co) = self.co.take() {
            if co.done() {
                co.into_stack().recycle();
            }
            // An unstarted coroutine drops its closure in its own Drop.
        }
    }
}

/// The private payload that unwinds a greenlet's stack on `throw`/`kill` or drop.
pub(crate) struct GreenletExit;

/// Whether a caught panic payload is one of the runtime's own exit signals.
pub(crate) fn is_exit(payload: &(dyn Any + Send)) -> bool {
    payload.is::<GreenletExit>()
}

// ---------------------------------------------------------------------------------------------
// The explicit-switch layer.
// ---------------------------------------------------------------------------------------------

/// Why a `switch` (or `throw`) did not produce the expected value.
pub enum SwitchError {
    /// The target greenlet has finished.
    Dead,
    /// A greenlet tried to switch to itself.
    ToSelf,
    /// The target is running further up this thread's stack (a destructor of a greenlet
    /// being dropped tried to switch to the greenlet that dropped it).
    Running,
    /// The value received was not of the type the receiving `switch` asked for.
    TypeMismatch {
        /// The type the receiver asked for.
        expected: &'static str,
    },
    /// A greenlet whose parent is the receiver panicked; this is its panic payload.
    Panicked(Box<dyn Any + Send>),
    /// A greenlet whose parent is the receiver was killed ([`Greenlet::throw`]).
    Exited,
    /// Setting this parent would make a cycle.
    ParentCycle,
}

impl fmt::Debug for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchError::Dead => f.write_str("cannot switch to a dead greenlet"),
            SwitchError::ToSelf => f.write_str("a greenlet cannot switch to itself"),
            SwitchError::Running => f.write_str("cannot switch to a greenlet that is running"),
            SwitchError::TypeMismatch { expected } => {
                write!(f, "switch received a value that is not a {expected}")
            }
            SwitchError::Panicked(p) => write!(f, "greenlet panicked: {}", panic_message(&**p)),
            SwitchError::Exited => f.write_str("greenlet exited (killed)"),
            SwitchError::ParentCycle => f.write_str("setting this parent would create a cycle"),
        }
    }
}

impl std::error::Error for SwitchError {}

/// The text of a panic payload, when it is a string.
pub fn panic_message(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// What a greenlet receives when it is resumed, decoded.
enum Incoming {
    /// A value from another greenlet's `switch`: the sender's slot (see [`Slot`]).
    Value(*mut ()),
    /// A child whose parent is this greenlet returned this value.
    Returned(Box<dyn Any>),
    /// A child whose parent is this greenlet panicked.
    Panicked(Box<dyn Any + Send>),
    /// A child whose parent is this greenlet was killed.
    Exited,
    /// `throw`/`kill`: unwind now.
    Throw,
}

/// The sender's side of a value in flight: lives in the sender's frame, which stays alive
/// (the sender is suspended) until the receiver has taken the value.
#[repr(C)]
struct Slot<T> {
    /// The type of `val`, checked by the receiver before it casts. First field, so the
    /// receiver can read it without knowing `T`.
    ty: TypeId,
    /// The value; `None` once taken.
    val: Option<T>,
}

/// A message in transit, one machine word so a switch moves it in a register:
/// 0 is "unwind now" (throw, or drop of a suspended greenlet); an even value points at a
/// [`Slot`]; an odd value is a boxed cold-path [`Incoming`] (a child's result) with bit 0 set.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Msg(usize);

impl UnwindInput for Msg {
    fn unwind() -> Self {
        Msg(0)
    }
}

impl Msg {
    /// Encodes a cold-path message (a child's result).
    fn encode(m: Incoming) -> Msg {
        match m {
            Incoming::Value(p) => Msg(p as usize),
            Incoming::Throw => Msg(0),
            other => Msg(Box::into_raw(Box::new(other)) as usize | 1),
        }
    }

    /// Decodes a message received by a switch.
    ///
    /// # Safety
    /// `self` must be a slot pointer, 0, or come from `encode`, and be decoded exactly once.
    #[inline]
    unsafe fn decode(self) -> Incoming {
        if self.0 == 0 {
            Incoming::Throw
        } else if self.0 & 1 == 1 {
            // SAFETY: odd values are `Box::into_raw` results with bit 0 set (boxes are at
            // least 8-aligned), decoded once per the contract.
            *unsafe { Box::from_raw((self.0 & !1) as *mut Incoming) }
        } else {
            Incoming::Value(self.0 as *mut ())
        }
    }
}

/// What a greenlet suspends to the driver with: "switch to this greenlet, with this".
struct Request {
    /// The target. INVARIANT: alive until the driver takes its own reference, because the
    /// requesting greenlet holds a handle to it (it is borrowed by the suspended `switch`);
    /// for a park request ([`PARK_REQUEST`]) it is the requester itself, which the driver
    /// holds while it runs.
    to: *const Inner,
    /// What the target receives.
    msg: Msg,
}

/// A greenlet suspends with a pointer to its `Request`, which lives in its own (suspended)
/// frame until the driver reads it.
/// The closure returns its outcome already encoded as a `Msg` for the parent, one word wide.
type Raw = RawGreenlet<Msg, *const Request, Msg>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    New,
    Running,
    Suspended,
    Dead,
}

struct Inner {
    /// Small sequential id, unique per thread.
    id: u64,
    /// Optional name, shown by `Debug` and the overflow report.
    name: Option<Box<str>>,
    /// Where control goes when this greenlet finishes; `None` means the main greenlet.
    /// Mutated by `set_parent`.
    parent: RefCell<Option<Greenlet>>,
    /// Lifecycle state; mutated by the driver and by `throw`.
    state: Cell<State>,
    /// The coroutine; `None` for the main greenlet and for dead greenlets.
    /// INVARIANT: accessed only by the driver (to resume it, or to drop it once finished), by
    /// `throw` on a greenlet that never started, and by `Drop`; none of these can run while
    /// another holds a reference into it, because a greenlet never resumes or throws into
    /// itself (`check_target`) and the driver holds it alive while it runs.
    raw: UnsafeCell<Option<Raw>>,
    /// The suspender of the running coroutine, set when it starts.
    suspender: Cell<Option<Suspender<Msg, *const Request>>>,
    /// True only for the per-thread main greenlet.
    is_main: bool,
    /// The overflow reporter's record of this greenlet's stack; `None` for main. Read from
    /// the SIGSEGV handler while this greenlet is `CURRENT`.
    info: Option<StackInfo>,
}

/// A handle to a greenlet of this thread. Cloning it clones the handle, not the greenlet.
#[derive(Clone)]
pub struct Greenlet(Rc<Inner>);

thread_local! {
    /// The greenlet running now; null when the main greenlet runs. INVARIANT: non-null only
    /// while the driver resumes that greenlet, and the driver holds a strong reference to it
    /// for that whole time.
    static CURRENT: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
    /// This thread's main greenlet, created on first use.
    static MAIN: RefCell<Option<Greenlet>> = const { RefCell::new(None) };
    /// Suspended greenlets being unwound by a drop right now (their code runs as main).
    static DROPPING: Cell<u32> = const { Cell::new(0) };
    /// The last greenlet id handed out on this thread, to explicit and hub greenlets alike
    /// (one id space; see `next_id`).
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
    /// A strong handle (from `Rc::into_raw`) on the sender of the value `drive` last handed
    /// to main, or null; see `drive`. Without a destructor: at thread exit it is leaked.
    static IN_FLIGHT: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
}

/// The stack record of the explicit greenlet running now, if any (for the overflow reporter;
/// reads only a const thread-local and plain memory, so it is signal-safe).
pub(crate) fn running_stack_info() -> *const StackInfo {
    let cur = CURRENT.try_with(Cell::get).unwrap_or(std::ptr::null());
    if cur.is_null() {
        std::ptr::null()
    } else {
        // SAFETY: a non-null CURRENT is alive (see its invariant); `info` is a plain field.
        match unsafe { &(*cur).info } {
            Some(i) => i,
            None => std::ptr::null(),
        }
    }
}

/// The next greenlet id of this thread. Explicit greenlets and hub greenlets both draw from
/// it, so their ids never collide; 0 is the thread's root (main) code.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        n.get()
    })
}

/// The id of the explicit greenlet running now, if one is.
pub(crate) fn current_explicit_id() -> Option<u64> {
    let cur = CURRENT.with(Cell::get);
    // SAFETY: a non-null CURRENT is alive (see its invariant).
    (!cur.is_null()).then(|| unsafe { (*cur).id })
}

/// What the driver resumes a greenlet parked on the hub with (never decoded: only
/// `park_on_hub` receives it, and nobody else can switch to a parked greenlet).
const PARK_DONE: Msg = Msg(2);

/// What a greenlet parking on the hub suspends to its driver with, as a request to switch
/// to itself (`park_on_hub`); only the driver reads it. Keeping the request an ordinary
/// `Request` keeps the park check off the switch path (`transfer`'s fast path sends every
/// request that is not for main to `drive`, which looks for it). Not a valid value pointer
/// (nothing lives at address 4) nor a boxed one (even).
const PARK_REQUEST: Msg = Msg(4);

/// Parks the running explicit greenlet on the hub (a `sleep`, a socket wait, a join called
/// inside it). It suspends to its driver with a park request; the driver, on the stack of
/// the hub greenlet (or root) that drives it, parks *that* hub greenlet, whose park epoch
/// the wait opened (a `Waiter` belongs to the hub's current greenlet), and resumes this one
/// when the hub wakes it. While parked it counts as running: a `switch` to it from anywhere
/// else fails with [`SwitchError::Running`].
///
/// # Panics
/// While a suspended greenlet is being unwound by a drop (its code runs as main then, with
/// no driver to park).
#[cold]
#[inline(never)]
pub(crate) fn park_on_hub() {
    let cur = CURRENT.with(Cell::get);
    if cur.is_null() {
        panic!(
            "sprout: a greenlet::Greenlet being unwound by its drop cannot block on the hub \
             (no driver is waiting for it); do the blocking work before dropping it"
        );
    }
    // SAFETY: a non-null CURRENT is alive (see its invariant).
    let g = unsafe { &*cur };
    let sus = g.suspender.get().expect("running greenlet has a suspender");
    let req = Request {
        to: cur,
        msg: PARK_REQUEST,
    };
    // SAFETY: `g` is the running greenlet and we are on its stack (CURRENT is non-null only
    // while the driver resumes it); `req` stays in this frame until the driver has read it.
    let m = unsafe { sus.suspend(&raw const req) };
    if m.0 == 0 && !std::thread::panicking() {
        // Its last handle was dropped while it was parked: unwind.
        resume_exit();
    }
}

/// Whether code is running inside an explicit greenlet right now (the hub refuses to park then).
pub(crate) fn in_explicit_greenlet() -> bool {
    !CURRENT.with(Cell::get).is_null() || DROPPING.with(Cell::get) > 0
}

/// A strong handle from a pointer whose greenlet is known to be alive.
///
/// # Safety
/// `p` must come from `Rc::as_ptr` of a `Greenlet` that is still alive.
unsafe fn handle_from(p: *const Inner) -> Greenlet {
    // SAFETY: per the contract `p` is a live Rc allocation; adding a count and re-wrapping it
    // creates a new owned handle.
    unsafe {
        Rc::increment_strong_count(p);
        Greenlet(Rc::from_raw(p))
    }
}

/// Creates greenlets with a name or a stack size of their own.
#[derive(Default, Debug, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet (shown by `Debug` and in a stack-overflow report).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the usable stack size in bytes (a guard page is added below it).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Creates the greenlet; it runs `f` when first switched to. Its parent is the current
    /// greenlet.
    ///
    /// # Errors
    ///
    /// `OutOfMemory` when no stack can be mapped (the error names the limit reached:
    /// `vm.max_map_count`, the address-space reserve or the stack cap, see `sprout::stack`);
    /// `InvalidInput` for an impossible stack size.
    pub fn spawn<A, R, F>(self, f: F) -> io::Result<Greenlet>
    where
        A: 'static,
        R: 'static,
        F: FnOnce(A) -> R + 'static,
    {
        let id = next_id();
        let size = self.stack_size.unwrap_or_else(stack::default_stack_size);
        let name: Option<Box<str>> = self.name.map(Into::into);
        let (raw, info) = Raw::new(size, id, name.clone(), move |sus, first: Msg| {
            let me = CURRENT.with(Cell::get);
            // SAFETY: the driver set CURRENT to this greenlet and holds it alive while it runs.
            unsafe { (*me).suspender.set(Some(sus)) };
            let run = panic::catch_unwind(AssertUnwindSafe(move || match receive::<A>(first) {
                Ok(arg) => f(arg),
                Err(e) => panic!("greenlet started with a value of the wrong type: {e}"),
            }));
            Msg::encode(match run {
                Ok(v) => Incoming::Returned(Box::new(v)),
                Err(p) if is_exit(&*p) => Incoming::Exited,
                Err(p) => Incoming::Panicked(p),
            })
        })?;
        let cur = CURRENT.with(Cell::get);
        // SAFETY: a non-null CURRENT is alive (see its invariant).
        let parent = (!cur.is_null()).then(|| unsafe { handle_from(cur) });
        let g = Greenlet(Rc::new(Inner {
            id,
            name,
            parent: RefCell::new(parent),
            state: Cell::new(State::New),
            raw: UnsafeCell::new(Some(raw)),
            suspender: Cell::new(None),
            is_main: false,
            info: Some(info),
        }));
        let info_ptr: *const StackInfo = g.0.info.as_ref().expect("set above");
        // SAFETY: see the invariant on `raw`: nobody else has the greenlet yet.
        if let Some(raw) = unsafe { (*g.0.raw.get()).as_mut() } {
            raw.set_info(info_ptr);
        }
        Ok(g)
    }
}

impl Greenlet {
    /// Creates a greenlet that will run `f` with the value of the first switch to it. Its
    /// parent is the current greenlet.
    ///
    /// # Panics
    /// If no stack can be mapped; use [`Builder::spawn`] to get that as an error.
    pub fn new<A, R, F>(f: F) -> Greenlet
    where
        A: 'static,
        R: 'static,
        F: FnOnce(A) -> R + 'static,
    {
        Builder::new()
            .spawn(f)
            .unwrap_or_else(|e| panic!("failed to create greenlet: {e}"))
    }

    /// This thread's main greenlet: the code not running inside any explicit greenlet.
    pub fn main() -> Greenlet {
        MAIN.with(|m| {
            m.borrow_mut()
                .get_or_insert_with(|| {
                    Greenlet(Rc::new(Inner {
                        id: 0,
                        name: Some("main".into()),
                        parent: RefCell::new(None),
                        state: Cell::new(State::Running),
                        raw: UnsafeCell::new(None),
                        suspender: Cell::new(None),
                        is_main: true,
                        info: None,
                    }))
                })
                .clone()
        })
    }

    /// The greenlet that is running now (Python's `greenlet.getcurrent()`).
    pub fn current() -> Greenlet {
        let cur = CURRENT.with(Cell::get);
        if cur.is_null() {
            Greenlet::main()
        } else {
            // SAFETY: a non-null CURRENT is alive (see its invariant).
            unsafe { handle_from(cur) }
        }
    }

    /// The greenlet's id. Explicit greenlets and hub greenlets ([`crate::spawn`]) share one
    /// per-thread id space, so ids never collide. The main greenlet's id is that of the code
    /// that drives the explicit greenlets now: the running hub greenlet's id
    /// ([`crate::current_id`]) inside a hub greenlet, 0 in a thread's root code.
    pub fn id(&self) -> u64 {
        if self.0.is_main {
            crate::hub::running_hub_greenlet_id()
        } else {
            self.0.id
        }
    }

    /// The greenlet's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// Whether this is the thread's main greenlet.
    pub fn is_main(&self) -> bool {
        self.0.is_main
    }

    /// Whether the greenlet has started running (always true for main).
    pub fn started(&self) -> bool {
        self.0.state.get() != State::New
    }

    /// Whether the greenlet has finished (returned, panicked or been killed).
    pub fn dead(&self) -> bool {
        self.0.state.get() == State::Dead
    }

    /// The greenlet control passes to when this one finishes (`None` for main).
    pub fn parent(&self) -> Option<Greenlet> {
        if self.0.is_main {
            return None;
        }
        Some(
            self.0
                .parent
                .borrow()
                .clone()
                .unwrap_or_else(Greenlet::main),
        )
    }

    /// Re-assigns the parent.
    ///
    /// # Errors
    ///
    /// [`SwitchError::ParentCycle`] if `parent` is this greenlet or one of its descendants,
    /// and for the main greenlet.
    pub fn set_parent(&self, parent: &Greenlet) -> Result<(), SwitchError> {
        if self.0.is_main {
            return Err(SwitchError::ParentCycle);
        }
        let mut p = Some(parent.clone());
        while let Some(g) = p {
            if Rc::ptr_eq(&g.0, &self.0) {
                return Err(SwitchError::ParentCycle);
            }
            p = g.0.parent.borrow().clone();
        }
        *self.0.parent.borrow_mut() = if parent.0.is_main {
            None
        } else {
            Some(parent.clone())
        };
        Ok(())
    }

    /// Transfers control and `value` to this greenlet; returns the value this (the calling)
    /// greenlet is later switched back with, or the return value of a child that finished.
    ///
    /// # Errors
    ///
    /// [`SwitchError::Dead`] if the target finished;
    /// [`SwitchError::ToSelf`]/[`SwitchError::Running`] for switching to the current greenlet or
    /// one running further up the stack; [`SwitchError::TypeMismatch`] if the value received is not an
    /// `R`; [`SwitchError::Panicked`] if a child panicked on the way back; [`SwitchError::Exited`]
    /// if a child was killed. (See [`SwitchError`] for the full list.)
    #[inline]
    pub fn switch<T: 'static, R: 'static>(&self, value: T) -> Result<R, SwitchError> {
        let cur = self.check_target()?;
        let mut slot = Slot {
            ty: TypeId::of::<T>(),
            val: Some(value),
        };
        receive::<R>(transfer(cur, self, Msg((&raw mut slot) as usize)))
    }

    /// Raises `GreenletExit` in this greenlet: it unwinds (destructors run) and dies as a
    /// normal exit; control then passes to its parent. A greenlet that has not started is
    /// marked dead without running. Killing a dead greenlet does nothing.
    ///
    /// Returns once control comes back to the caller: `Ok` when what arrives is the exit (or
    /// any value), `Err` when a child panicked on the way.
    ///
    /// # Errors
    ///
    /// [`SwitchError::Panicked`] if a greenlet panicked before control came back; the errors of
    /// [`switch`](Self::switch) for a target that cannot be switched to (not for a dead or
    /// unstarted one, which is `Ok`).
    pub fn throw(&self) -> Result<(), SwitchError> {
        match self.0.state.get() {
            State::Dead => return Ok(()),
            State::New => {
                self.0.state.set(State::Dead);
                // Dropping an unstarted coroutine drops the closure without running it.
                // SAFETY: see the invariant on `raw`: an unstarted greenlet is not running.
                drop(unsafe { (*self.0.raw.get()).take() });
                return Ok(());
            }
            _ => {}
        }
        let cur = self.check_target()?;
        // SAFETY: decoded once, here.
        match unsafe { transfer(cur, self, Msg(0)).decode() } {
            Incoming::Panicked(p) => Err(SwitchError::Panicked(p)),
            Incoming::Throw => resume_exit(),
            _ => Ok(()),
        }
    }

    /// The same as [`Greenlet::throw`] (gevent's vocabulary).
    ///
    /// # Errors
    ///
    /// As [`throw`](Self::throw).
    pub fn kill(&self) -> Result<(), SwitchError> {
        self.throw()
    }

    /// Checks that this greenlet can be switched to; returns the current greenlet (`CURRENT`).
    #[inline]
    fn check_target(&self) -> Result<*const Inner, SwitchError> {
        let state = self.0.state.get();
        if state == State::Dead {
            return Err(SwitchError::Dead);
        }
        let cur = CURRENT.with(Cell::get);
        if cur.is_null() {
            if self.0.is_main {
                return Err(SwitchError::ToSelf);
            }
            // Another greenlet can be running only while a drop unwinds a greenlet (with
            // `CURRENT` null): the one that dropped it, further up this stack.
            if state == State::Running {
                return Err(SwitchError::Running);
            }
        } else if std::ptr::eq(cur, &*self.0) {
            return Err(SwitchError::ToSelf);
        } else if state == State::Running && !self.0.is_main {
            return Err(parked_target());
        }
        Ok(cur)
    }
}

/// Not the current greenlet, yet running: parked on the hub (see `park_on_hub`), its driver
/// waiting for it. Out of line, off the switch path.
#[cold]
#[inline(never)]
fn parked_target() -> SwitchError {
    SwitchError::Running
}

impl fmt::Debug for Greenlet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("id", &self.0.id)
            .field("name", &self.0.name)
            .field("state", &self.0.state.get())
            .finish()
    }
}

impl PartialEq for Greenlet {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Greenlet {}

fn resume_exit() -> ! {
    panic::resume_unwind(Box::new(GreenletExit))
}

/// Takes what arrived at a pending switch as an `R`.
#[inline]
fn receive<R: 'static>(msg: Msg) -> Result<R, SwitchError> {
    if msg.0 != 0 && msg.0 & 1 == 0 {
        let p = msg.0 as *mut ();
        // SAFETY: an even non-zero message points at a sender's `Slot<T>` (repr(C), `ty`
        // first), alive because the sender is suspended inside `switch` until this greenlet
        // switches away again.
        if unsafe { *p.cast::<TypeId>() } == TypeId::of::<R>() {
            // SAFETY: the type id says the slot holds an `R`; nobody else touches it now.
            if let Some(v) = unsafe { (*p.cast::<Slot<R>>()).val.take() } {
                return Ok(v);
            }
        }
        return Err(SwitchError::TypeMismatch {
            expected: type_name::<R>(),
        });
    }
    receive_cold(msg)
}

/// The rare messages: a child's result, a panic, an exit, or a throw.
#[cold]
#[inline(never)]
fn receive_cold<R: 'static>(msg: Msg) -> Result<R, SwitchError> {
    let mismatch = || SwitchError::TypeMismatch {
        expected: type_name::<R>(),
    };
    // SAFETY: every message is decoded once, by the switch it was sent to.
    match unsafe { msg.decode() } {
        Incoming::Value(_) => Err(mismatch()),
        Incoming::Returned(b) => b.downcast::<R>().map(|b| *b).map_err(|_| mismatch()),
        Incoming::Panicked(p) => Err(SwitchError::Panicked(p)),
        Incoming::Exited => Err(SwitchError::Exited),
        Incoming::Throw => {
            if std::thread::panicking() {
                // Already unwinding (a destructor switched during a kill): report, don't nest.
                Err(SwitchError::Dead)
            } else {
                resume_exit()
            }
        }
    }
}

/// Switches from the current greenlet `cur` (the value of `CURRENT`) to `to` with `msg`;
/// returns what the current greenlet is resumed with (still encoded).
#[inline]
fn transfer(cur: *const Inner, to: &Greenlet, msg: Msg) -> Msg {
    if cur.is_null() {
        // Fast path from main: resume the target; if it switches straight back to main, the
        // driver loop is not needed.
        let t = &*to.0;
        if !t.is_main && t.state.get() != State::Dead {
            return match resume_one(t, Rc::as_ptr(&to.0), msg) {
                Step::Yielded(req) => {
                    // SAFETY: the greenlet suspended with a pointer to its own `Request`, which
                    // stays in its suspended frame until it is resumed; fields are `Copy`.
                    let (next, m) = unsafe { ((*req).to, (*req).msg) };
                    // SAFETY: see `Request::to`.
                    if unsafe { (*next).is_main } {
                        m
                    } else {
                        // SAFETY: as above; the driver holds its own handle from here on.
                        drive(&unsafe { handle_from(next) }, m)
                    }
                }
                Step::Finished(outcome) => finish_and_drive(t, outcome),
            };
        }
        return drive(to, msg);
    }
    // SAFETY: a non-null CURRENT is alive (see its invariant).
    let cur = unsafe { &*cur };
    let sus = cur
        .suspender
        .get()
        .expect("running greenlet has a suspender");
    cur.state.set(State::Suspended);
    let req = Request {
        to: Rc::as_ptr(&to.0),
        msg,
    };
    // SAFETY: `cur` is the running greenlet and we are on its stack: CURRENT is non-null only
    // while the driver resumes it, and a nested hub greenlet would not be in CURRENT. `req`
    // stays in this frame until the driver has read it (it reads before resuming anybody).
    unsafe { sus.suspend(&raw const req) }
}

/// The driver: runs on the main greenlet's stack, resuming greenlets until one switches back
/// to main (or finishes with main as its parent). Returns what main receives.
///
/// Keep-alive rule: a value in flight lives in its sender's suspended frame, so the sender
/// must outlive the receiver's `receive`. `keep` owns the greenlet about to run; `hold` owns
/// the sender of `msg` until the next resume has returned (by then the receiver has taken
/// it). The sender of what main receives is parked in `IN_FLIGHT` when the driver returns
/// and released at the next driver's entry, when main has certainly taken it (releasing it
/// right after main's `receive` would put a check on the hot path of every switch). So a
/// greenlet whose last handle the program drops right after it switched to main through the
/// driver is unwound at the next such switch rather than at once. Dropping a handle may
/// unwind a greenlet, which is fine at those points.
fn drive(first: &Greenlet, mut msg: Msg) -> Msg {
    release_in_flight();
    let mut keep: Greenlet = first.clone();
    let mut hold: Option<Greenlet> = None;
    // Whether an explicit greenlet parked on the hub during this drive (only then can a kill
    // of the driving hub greenlet have been raised in it): keeps the check off the plain
    // switch path.
    let mut parked = false;
    if msg.0 == PARK_REQUEST.0 {
        // From `transfer`'s fast path: `first` asked to park (see `park_on_hub`).
        crate::hub::park_driver();
        msg = PARK_DONE;
        parked = true;
    }
    loop {
        let target: *const Inner = Rc::as_ptr(&keep.0);
        // SAFETY: `keep` owns a handle to `target` for this whole iteration.
        let t = unsafe { &*target };
        if t.is_main {
            if let Some(sender) = hold {
                IN_FLIGHT.with(|f| f.set(Rc::into_raw(sender.0)));
            }
            // A kill of the driving hub greenlet that arrived while an explicit greenlet was
            // parked was raised in that greenlet (it unwound first); carry on unwinding here.
            if parked {
                crate::hub::reraise_kill_in_driver();
            }
            return msg;
        }
        if t.state.get() == State::Dead {
            // Its parent gets what was meant for it (the sender stays in `hold`).
            keep = live_parent(t);
            continue;
        }
        let step = resume_one(t, target, msg);
        // The message was taken during that resume: its sender may go.
        drop(hold.take());
        match step {
            Step::Yielded(req) => {
                // SAFETY: the greenlet suspended with a pointer to its own `Request`, which
                // stays in its suspended frame until it is resumed; both fields are `Copy`.
                let (to, m) = unsafe { ((*req).to, (*req).msg) };
                if m.0 == PARK_REQUEST.0 {
                    // A park request (`to` is the requester itself): park the hub greenlet
                    // this driver runs on, then resume the same greenlet.
                    crate::hub::park_driver();
                    msg = PARK_DONE;
                    parked = true;
                    continue;
                }
                msg = m;
                // SAFETY: see `Request::to`: the requester holds a handle to the target.
                let next = unsafe { handle_from(to) };
                // The requester is the sender of `msg`: hold it until `msg` is taken.
                hold = Some(std::mem::replace(&mut keep, next));
            }
            Step::Finished(outcome) => {
                let (m, p) = finished(t, outcome);
                msg = m;
                hold = Some(std::mem::replace(&mut keep, p));
            }
        }
    }
}

/// Drops the handle `drive` left in `IN_FLIGHT` (its message has been taken by now).
fn release_in_flight() {
    let p = IN_FLIGHT.with(|f| f.replace(std::ptr::null()));
    if !p.is_null() {
        // SAFETY: `IN_FLIGHT` holds only pointers made by `Rc::into_raw` in `drive`, each
        // released once, here.
        drop(unsafe { Rc::from_raw(p) });
    }
}

/// Resumes `t` (whose pointer is `ptr`) with `msg` as the current greenlet.
#[inline(always)]
fn resume_one(t: &Inner, ptr: *const Inner, msg: Msg) -> Step<*const Request, Msg> {
    t.state.set(State::Running);
    CURRENT.with(|c| c.set(ptr));
    // SAFETY: see the invariant on `raw`: only the driver touches it while `t` runs.
    let raw = unsafe { &mut *t.raw.get() };
    let step = raw
        .as_mut()
        .expect("live greenlet has a coroutine")
        .resume(msg);
    CURRENT.with(|c| c.set(std::ptr::null()));
    step
}

/// The fast path's target finished: continue with the driver from its parent.
#[cold]
#[inline(never)]
fn finish_and_drive(t: &Inner, outcome: Msg) -> Msg {
    let (m, p) = finished(t, outcome);
    drive(&p, m)
}

/// A greenlet's closure returned: mark it dead; its parent receives the outcome.
#[cold]
#[inline(never)]
fn finished(t: &Inner, outcome: Msg) -> (Msg, Greenlet) {
    t.state.set(State::Dead);
    // SAFETY: see the invariant on `raw`: the greenlet has finished running.
    drop(unsafe { (*t.raw.get()).take() });
    (outcome, live_parent(t))
}

/// The nearest ancestor of `g` that is not dead (main at the latest).
fn live_parent(g: &Inner) -> Greenlet {
    let mut p = g.parent.borrow().clone();
    while let Some(cand) = p {
        if cand.0.state.get() != State::Dead {
            return cand;
        }
        p = cand.0.parent.borrow().clone();
    }
    Greenlet::main()
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A suspended greenlet's last handle is gone: unwind its stack now. Its code runs as
        // main while it unwinds (its own record is going away).
        let Some(raw) = self.raw.get_mut().take() else {
            return;
        };
        if !raw.started() || raw.done() {
            return;
        }
        let saved = CURRENT.with(|c| c.replace(std::ptr::null()));
        DROPPING.with(|d| d.set(d.get() + 1));
        drop(raw);
        DROPPING.with(|d| d.set(d.get() - 1));
        CURRENT.with(|c| c.set(saved));
    }
}
