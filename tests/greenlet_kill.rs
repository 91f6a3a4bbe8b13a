//! throw/kill, panics and drop of suspended greenlets.

use std::cell::Cell;
use std::rc::Rc;

use sprout::greenlet::{Greenlet, SwitchError};

mod support;
use support::DropFlag;

#[test]
fn throw_into_a_suspended_greenlet_unwinds_it_and_runs_destructors() {
    let dropped = Rc::new(Cell::new(false));
    let after = Rc::new(Cell::new(false));
    let (d, a) = (dropped.clone(), after.clone());
    let g = Greenlet::new(move |_: ()| {
        let _guard = DropFlag(d);
        let _: () = Greenlet::main().switch(()).unwrap();
        a.set(true); // never reached
    });
    let () = g.switch(()).unwrap();
    assert!(!dropped.get());
    g.throw().unwrap();
    assert!(dropped.get(), "destructor ran during the kill");
    assert!(!after.get(), "code after the suspension point did not run");
    assert!(g.dead());
    // Killing a dead greenlet is a no-op.
    g.kill().unwrap();
}

#[test]
fn a_greenlet_killed_before_it_started_never_runs() {
    let ran = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    let (r, d) = (ran.clone(), dropped.clone());
    let guard = DropFlag(d);
    let g = Greenlet::new(move |_: ()| {
        let _g = guard;
        r.set(true);
    });
    g.kill().unwrap();
    assert!(g.dead());
    assert!(!ran.get());
    assert!(
        dropped.get(),
        "its closure (and what it captured) was dropped"
    );
    assert!(matches!(g.switch::<(), ()>(()), Err(SwitchError::Dead)));
}

#[test]
fn a_panic_reaches_the_parent_as_an_error_value() {
    let g = Greenlet::new(|_: ()| -> u32 { panic!("boom in greenlet") });
    match g.switch::<(), u32>(()) {
        Err(SwitchError::Panicked(p)) => {
            assert_eq!(sprout::greenlet::panic_message(&*p), "boom in greenlet")
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
    assert!(g.dead());
    // The thread (and main greenlet) carry on.
    let h = Greenlet::new(|x: u32| x);
    assert_eq!(h.switch::<u32, u32>(3).unwrap(), 3);
}

#[test]
fn a_panic_after_switching_still_reaches_the_parent() {
    let g = Greenlet::new(|_: ()| {
        let _: () = Greenlet::main().switch(1u8).unwrap();
        panic!("second half");
    });
    assert_eq!(g.switch::<(), u8>(()).unwrap(), 1);
    assert!(matches!(
        g.switch::<(), ()>(()),
        Err(SwitchError::Panicked(_))
    ));
}

#[test]
fn dropping_a_suspended_greenlet_unwinds_its_stack() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let g = Greenlet::new(move |_: ()| {
        let _guard = DropFlag(d);
        loop {
            let _: () = Greenlet::main().switch(()).unwrap();
        }
    });
    let () = g.switch(()).unwrap();
    assert!(!dropped.get());
    drop(g);
    assert!(dropped.get());
}

#[test]
fn killed_child_reports_exit_to_its_parent_switch() {
    // A parent greenlet throws into its child; control comes back to the parent.
    let outer = Greenlet::new(|_: ()| {
        let child = Greenlet::new(|_: ()| {
            let _: () = Greenlet::current().parent().unwrap().switch(()).unwrap();
        });
        let () = child.switch(()).unwrap();
        child.throw().unwrap();
        child.dead()
    });
    assert!(outer.switch::<(), bool>(()).unwrap());
}

#[test]
fn a_sender_kept_only_by_the_driver_outlives_its_value_in_flight() {
    // G's only owner becomes the driver; G then switches a String to D. The String lives in
    // G's frame until D takes it, so G must not be dropped (and unwound) before that.
    let d = Greenlet::new(|s: String| {
        let n = s.len();
        drop(s);
        let _: () = Greenlet::main().switch(n).unwrap();
    });
    let d2 = d.clone();
    let g = Greenlet::new(move |_: ()| {
        let c = Greenlet::new(|_: ()| 5u32); // its parent is G
        let got: u32 = Greenlet::main().switch::<Greenlet, u32>(c.clone()).unwrap();
        assert_eq!(got, 5, "C's return value reached its parent G");
        c.set_parent(&Greenlet::main()).unwrap();
        drop(c);
        // Now only the driver owns G.
        let _: () = d2.switch(String::from("hello, greenlet")).unwrap();
    });
    let c: Greenlet = g.switch(()).unwrap();
    drop(g);
    // C returns 5 to G; G hands a String to D; D sends its length back to main.
    let n: usize = c.switch::<(), usize>(()).unwrap();
    assert_eq!(n, "hello, greenlet".len());
    drop(d);
}

#[test]
fn switching_to_a_running_greenlet_is_an_error() {
    // A drops the last handle of a suspended B; B's destructor tries to switch to A, which
    // is running further up the stack.
    struct SwitchOnDrop(Option<Greenlet>, Rc<Cell<bool>>);
    impl Drop for SwitchOnDrop {
        fn drop(&mut self) {
            if let Some(a) = self.0.take() {
                self.1
                    .set(matches!(a.switch::<(), ()>(()), Err(SwitchError::Running)));
            }
        }
    }
    let refused = Rc::new(Cell::new(false));
    let slot: Rc<std::cell::RefCell<Option<Greenlet>>> = Rc::default();
    let s = slot.clone();
    let a = Greenlet::new(move |_: ()| {
        let b = s.borrow_mut().take().expect("B is in the slot");
        drop(b); // the last handle: B unwinds here, while A runs
    });
    let (a2, r) = (a.clone(), refused.clone());
    let b = Greenlet::new(move |_: ()| {
        let _guard = SwitchOnDrop(Some(a2), r);
        let _: () = Greenlet::main().switch(()).unwrap();
    });
    let () = b.switch(()).unwrap(); // B parks, holding its guard
    *slot.borrow_mut() = Some(b);
    let () = a.switch(()).unwrap();
    assert!(refused.get());
}
