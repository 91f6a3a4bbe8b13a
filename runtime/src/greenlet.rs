//! Greenlets with explicit `switch`: the Python `greenlet` package's model on corosensei.
//!
//! ```
//! use sprout_runtime::greenlet::Greenlet;
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
//! Values are typed at the call sites: `switch::<T, R>` sends a `T` and expects an `R` back.
//! The receiver checks the type; a mismatch is [`SwitchError::TypeMismatch`], never undefined
//! behaviour. Values travel by pointer, so a switch allocates nothing.
//!
//! Errors, not undefined behaviour: switching to a dead greenlet or to oneself is a
//! [`SwitchError`]; switching to another thread's greenlet is impossible because [`Greenlet`]
//! is `!Send`.
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
//! Greenlets of this module must not block on the hub (sleep, join, sockets): the hub parks
//! the hub greenlet that drives them, which is not on the stack at that moment. Doing so panics
//! with a clear message; use [`crate::spawn`] for hub work.
//!
//! This module is the only place that uses corosensei directly; the hub builds its greenlets
//! on `RawGreenlet`.

use std::any::{type_name, Any};
use std::cell::{Cell, RefCell};
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
    /// Guard range, size and name for the overflow reporter; boxed for a stable address.
    info: Box<StackInfo>,
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
    /// Creates a coroutine that runs `f(suspender, first_input)` when first resumed.
    ///
    /// `f` must not let a panic escape: callers wrap their user code in `catch_unwind`.
    pub(crate) fn new<F>(
        stack_size: usize,
        id: u64,
        name: Option<Box<str>>,
        f: F,
    ) -> io::Result<Self>
    where
        F: FnOnce(Suspender<I, Y>, I) -> R + 'static,
    {
        let stack = PooledStack::take(stack_size)?;
        let (guard_lo, guard_hi) = stack.guard();
        let size = stack.size();
        let co = Coroutine::with_stack(stack, move |y: &Yielder<I, Y>, input: I| {
            f(Suspender { yielder: y }, input)
        });
        Ok(RawGreenlet {
            co: Some(co),
            info: Box::new(StackInfo {
                guard_lo,
                guard_hi,
                size,
                id,
                name,
            }),
        })
    }

    /// Resumes the coroutine until it suspends or finishes.
    ///
    /// # Panics
    /// If the coroutine already finished (callers track that).
    #[inline]
    pub(crate) fn resume(&mut self, input: I) -> Step<Y, R> {
        let co = self.co.as_mut().expect("resume of a finished greenlet");
        let prev = stack::enter(&*self.info);
        let r = co.resume(input);
        stack::leave(prev);
        match r {
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
            let prev = stack::enter(&*self.info);
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

/// What a greenlet receives when it is resumed.
enum Incoming {
    /// A value from another greenlet's `switch`: points at that switcher's `Option<T>`, which
    /// stays alive because the switcher is suspended until this value is taken.
    Value(*mut dyn Any),
    /// A child whose parent is this greenlet returned this value.
    Returned(Box<dyn Any>),
    /// A child whose parent is this greenlet panicked.
    Panicked(Box<dyn Any + Send>),
    /// A child whose parent is this greenlet was killed.
    Exited,
    /// `throw`/`kill`: unwind now.
    Throw,
}

impl UnwindInput for Incoming {
    fn unwind() -> Self {
        Incoming::Throw
    }
}

/// How a greenlet's closure ended.
enum Outcome {
    Returned(Box<dyn Any>),
    Panicked(Box<dyn Any + Send>),
    Exited,
}

/// What a greenlet suspends to the driver with: "switch to this greenlet, with this".
struct Request {
    to: Greenlet,
    msg: Incoming,
}

type Raw = RawGreenlet<Incoming, Request, Outcome>;

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
    raw: RefCell<Option<Raw>>,
    /// The suspender of the running coroutine, set when it starts.
    suspender: Cell<Option<Suspender<Incoming, Request>>>,
    /// True only for the per-thread main greenlet.
    is_main: bool,
}

/// A handle to a greenlet of this thread. Cloning it clones the handle, not the greenlet.
#[derive(Clone)]
pub struct Greenlet(Rc<Inner>);

thread_local! {
    /// The greenlet running now; `None` when the main greenlet runs.
    static CURRENT: RefCell<Option<Greenlet>> = const { RefCell::new(None) };
    /// This thread's main greenlet, created on first use.
    static MAIN: RefCell<Option<Greenlet>> = const { RefCell::new(None) };
    /// How many explicit greenlets are on this thread's stack right now (0 or 1; more when
    /// drop-unwinding nests).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The last id handed out.
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// Whether code is running inside an explicit greenlet right now (the hub refuses to park then).
pub(crate) fn in_explicit_greenlet() -> bool {
    DEPTH.with(|d| d.get() > 0)
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
    /// Fails when no stack can be mapped (the error names `vm.max_map_count` when that limit
    /// is the likely cause).
    pub fn spawn<A, R, F>(self, f: F) -> io::Result<Greenlet>
    where
        A: 'static,
        R: 'static,
        F: FnOnce(A) -> R + 'static,
    {
        let id = NEXT_ID.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        let size = self.stack_size.unwrap_or_else(stack::default_stack_size);
        let name: Option<Box<str>> = self.name.map(Into::into);
        let raw = Raw::new(size, id, name.clone(), move |sus, first: Incoming| {
            let me = current_inner();
            me.0.suspender.set(Some(sus));
            drop(me);
            let run = panic::catch_unwind(AssertUnwindSafe(move || match receive::<A>(first) {
                Ok(arg) => f(arg),
                Err(e) => panic!("greenlet started with a value of the wrong type: {e}"),
            }));
            match run {
                Ok(v) => Outcome::Returned(Box::new(v)),
                Err(p) if is_exit(&*p) => Outcome::Exited,
                Err(p) => Outcome::Panicked(p),
            }
        })?;
        let parent = CURRENT.with(|c| c.borrow().clone());
        Ok(Greenlet(Rc::new(Inner {
            id,
            name,
            parent: RefCell::new(parent),
            state: Cell::new(State::New),
            raw: RefCell::new(Some(raw)),
            suspender: Cell::new(None),
            is_main: false,
        })))
    }
}

/// The current greenlet as a handle (the main greenlet when none runs).
fn current_inner() -> Greenlet {
    CURRENT
        .with(|c| c.borrow().clone())
        .unwrap_or_else(Greenlet::main)
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
                        raw: RefCell::new(None),
                        suspender: Cell::new(None),
                        is_main: true,
                    }))
                })
                .clone()
        })
    }

    /// The greenlet that is running now (Python's `greenlet.getcurrent()`).
    pub fn current() -> Greenlet {
        current_inner()
    }

    /// The greenlet's id: 0 for main, then 1, 2, ... per thread.
    pub fn id(&self) -> u64 {
        self.0.id
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

    /// Re-assigns the parent. Fails with [`SwitchError::ParentCycle`] if `parent` is this
    /// greenlet or one of its descendants, and for the main greenlet.
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
    pub fn switch<T: 'static, R: 'static>(&self, value: T) -> Result<R, SwitchError> {
        self.check_target()?;
        let mut slot = Some(value);
        let ptr: *mut dyn Any = &mut slot;
        let msg = transfer(self, Incoming::Value(ptr));
        receive::<R>(msg)
    }

    /// Raises `GreenletExit` in this greenlet: it unwinds (destructors run) and dies as a
    /// normal exit; control then passes to its parent. A greenlet that has not started is
    /// marked dead without running. Killing a dead greenlet does nothing.
    ///
    /// Returns once control comes back to the caller: `Ok` when what arrives is the exit (or
    /// any value), `Err` when a child panicked on the way.
    pub fn throw(&self) -> Result<(), SwitchError> {
        match self.0.state.get() {
            State::Dead => return Ok(()),
            State::New => {
                self.0.state.set(State::Dead);
                // Dropping an unstarted coroutine drops the closure without running it.
                drop(self.0.raw.borrow_mut().take());
                return Ok(());
            }
            _ => {}
        }
        self.check_target()?;
        match transfer(self, Incoming::Throw) {
            Incoming::Panicked(p) => Err(SwitchError::Panicked(p)),
            Incoming::Throw => resume_exit(),
            _ => Ok(()),
        }
    }

    /// The same as [`Greenlet::throw`] (gevent's vocabulary).
    pub fn kill(&self) -> Result<(), SwitchError> {
        self.throw()
    }

    fn check_target(&self) -> Result<(), SwitchError> {
        if self.0.state.get() == State::Dead {
            return Err(SwitchError::Dead);
        }
        let is_current = CURRENT.with(|c| match &*c.borrow() {
            Some(cur) => Rc::ptr_eq(&cur.0, &self.0),
            None => self.0.is_main,
        });
        if is_current {
            return Err(SwitchError::ToSelf);
        }
        Ok(())
    }
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
fn receive<R: 'static>(msg: Incoming) -> Result<R, SwitchError> {
    let mismatch = || SwitchError::TypeMismatch {
        expected: type_name::<R>(),
    };
    match msg {
        Incoming::Value(p) => {
            // SAFETY: the pointer targets the sender's `Option<T>` slot; the sender is
            // suspended inside `switch` until this greenlet switches away again, so the slot is
            // alive and not aliased now.
            let any = unsafe { &mut *p };
            any.downcast_mut::<Option<R>>()
                .and_then(Option::take)
                .ok_or_else(mismatch)
        }
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

/// Switches from the current greenlet to `to` with `msg`; returns what the current greenlet
/// is resumed with.
fn transfer(to: &Greenlet, msg: Incoming) -> Incoming {
    let cur = CURRENT.with(|c| c.borrow().clone());
    match cur {
        None => drive(to.clone(), msg),
        Some(cur) => {
            let sus = cur
                .0
                .suspender
                .get()
                .expect("running greenlet has a suspender");
            cur.0.state.set(State::Suspended);
            drop(cur);
            // SAFETY: `cur` is the running greenlet and we are on its stack: `CURRENT` is only
            // set by the driver for the duration of that greenlet's resume, and a nested
            // coroutine (a hub greenlet) would have `CURRENT` saved and cleared.
            unsafe {
                sus.suspend(Request {
                    to: to.clone(),
                    msg,
                })
            }
        }
    }
}

/// The driver: runs on the main greenlet's stack, resuming greenlets until one switches back
/// to main (or finishes with main as its parent). Returns what main receives.
fn drive(mut target: Greenlet, mut msg: Incoming) -> Incoming {
    let main_was_active = Greenlet::main();
    let _ = main_was_active;
    loop {
        if target.0.is_main {
            return msg;
        }
        if target.0.state.get() == State::Dead {
            // A switch to a greenlet that died meanwhile: main gets the error as a throw-less
            // exit notice rather than a hang.
            target = live_parent(&target);
            continue;
        }
        target.0.state.set(State::Running);
        CURRENT.with(|c| *c.borrow_mut() = Some(target.clone()));
        DEPTH.with(|d| d.set(d.get() + 1));
        let step = {
            let mut raw = target.0.raw.borrow_mut();
            let raw = raw.as_mut().expect("live greenlet has a coroutine");
            raw.resume(msg)
        };
        DEPTH.with(|d| d.set(d.get() - 1));
        CURRENT.with(|c| *c.borrow_mut() = None);
        match step {
            Step::Yielded(Request { to, msg: m }) => {
                if target.0.state.get() == State::Running {
                    target.0.state.set(State::Suspended);
                }
                target = to;
                msg = m;
            }
            Step::Finished(outcome) => {
                target.0.state.set(State::Dead);
                drop(target.0.raw.borrow_mut().take());
                msg = match outcome {
                    Outcome::Returned(v) => Incoming::Returned(v),
                    Outcome::Panicked(p) => Incoming::Panicked(p),
                    Outcome::Exited => Incoming::Exited,
                };
                target = live_parent(&target);
            }
        }
    }
}

/// The nearest ancestor of `g` that is not dead (main at the latest).
fn live_parent(g: &Greenlet) -> Greenlet {
    let mut p = g.0.parent.borrow().clone();
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
        // the current greenlet while it unwinds.
        let Some(raw) = self.raw.get_mut().take() else {
            return;
        };
        if !raw.started() || raw.done() {
            return;
        }
        let saved = CURRENT.with(|c| c.borrow_mut().take());
        DEPTH.with(|d| d.set(d.get() + 1));
        drop(raw);
        DEPTH.with(|d| d.set(d.get() - 1));
        CURRENT.with(|c| *c.borrow_mut() = saved);
    }
}
