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
