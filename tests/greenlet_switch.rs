//! The explicit-switch layer: values both ways, return to parent, parent reassignment, errors.

use sprout::greenlet::{Greenlet, SwitchError};

mod support;
use support::Log;

#[test]
fn greenlet_does_not_run_until_first_switch_and_gets_its_argument() {
    let log = Log::default();
    let l = log.clone();
    let g = Greenlet::new(move |x: u32| {
        l.push(format!("started with {x}"));
        x * 2
    });
    assert!(!g.started());
    assert!(log.take().is_empty());
    let r: u32 = g.switch(21u32).unwrap();
    assert_eq!(r, 42);
    assert_eq!(log.take(), vec!["started with 21"]);
    assert!(g.dead());
}

#[test]
fn switch_values_travel_both_ways() {
    let g = Greenlet::new(|first: String| {
        let main = Greenlet::main();
        let second: String = main.switch(format!("{first}-a")).unwrap();
        let third: String = main.switch(format!("{second}-b")).unwrap();
        format!("{third}-end")
    });
    let a: String = g.switch("x".to_string()).unwrap();
    assert_eq!(a, "x-a");
    let b: String = g.switch("y".to_string()).unwrap();
    assert_eq!(b, "y-b");
    let c: String = g.switch("z".to_string()).unwrap();
    assert_eq!(c, "z-end");
    assert!(g.dead());
}

#[test]
fn return_value_goes_to_the_parent_not_the_last_switcher() {
    // child's parent is `parent`; main switches into child directly; when child returns, its
    // value goes to `parent`'s pending switch.
    let log = Log::default();
    let l = log.clone();
    let child = Greenlet::new(|x: u32| x + 1);
    let c2 = child.clone();
    let parent = Greenlet::new(move |_: ()| {
        // Wait here; the child's return value arrives at this switch.
        let got: u32 = Greenlet::main().switch(()).unwrap();
        l.push(format!("parent got {got}"));
    });
    let () = parent.switch(()).unwrap();
    child.set_parent(&parent).unwrap();
    // Switching to the child from main: child returns 8 to parent, parent logs and returns
    // () to its own parent, main.
    let () = c2.switch(7u32).unwrap();
    assert_eq!(log.take(), vec!["parent got 8"]);
    assert!(child.dead() && parent.dead());
}

#[test]
fn parent_defaults_to_creator_and_rejects_cycles() {
    let outer = Greenlet::new(|_: ()| {
        let me = Greenlet::current();
        let inner = Greenlet::new(|_: ()| 0u8);
        assert_eq!(inner.parent().unwrap(), me);
        // The inner greenlet cannot become its creator's parent: that would be a cycle.
        assert!(matches!(
            me.set_parent(&inner),
            Err(SwitchError::ParentCycle)
        ));
        assert!(matches!(me.set_parent(&me), Err(SwitchError::ParentCycle)));
        true
    });
    assert!(outer.parent().unwrap().is_main());
    assert!(outer.switch::<(), bool>(()).unwrap());
}

#[test]
fn switching_to_dead_or_self_is_an_error() {
    let g = Greenlet::new(|_: ()| ());
    let () = g.switch(()).unwrap();
    assert!(matches!(g.switch::<(), ()>(()), Err(SwitchError::Dead)));
    assert!(matches!(
        Greenlet::main().switch::<(), ()>(()),
        Err(SwitchError::ToSelf)
    ));
    let selfish = Greenlet::new(|_: ()| {
        matches!(
            Greenlet::current().switch::<(), ()>(()),
            Err(SwitchError::ToSelf)
        )
    });
    assert!(selfish.switch::<(), bool>(()).unwrap());
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_not_ub() {
    let g = Greenlet::new(|_: ()| {
        let r = Greenlet::main().switch::<u8, u64>(1);
        matches!(r, Err(SwitchError::TypeMismatch { .. }))
    });
    let first: u8 = g.switch(()).unwrap();
    assert_eq!(first, 1);
    // Send a String where the greenlet expects a u64.
    let ok: bool = g.switch("not a number".to_string()).unwrap();
    assert!(ok);
}

#[test]
fn current_and_ids() {
    let main = Greenlet::current();
    assert!(main.is_main());
    assert_eq!(main.id(), 0);
    let g = sprout::greenlet::Builder::new()
        .name("worker")
        .spawn(|_: ()| {
            let me = Greenlet::current();
            (me.name().map(str::to_owned), me.is_main())
        })
        .unwrap();
    assert!(g.id() > 0);
    let (name, is_main): (Option<String>, bool) = g.switch(()).unwrap();
    assert_eq!(name.as_deref(), Some("worker"));
    assert!(!is_main);
}

#[test]
fn greenlets_switch_among_themselves_without_main() {
    // a -> b -> a -> b, then b returns to its parent (main).
    let log = Log::default();
    let (la, lb) = (log.clone(), log.clone());
    let b = Greenlet::new(move |(a, n): (Greenlet, u32)| {
        lb.push(format!("b {n}"));
        let n: u32 = a.switch(n + 1).unwrap();
        lb.push(format!("b {n}"));
        n * 10
    });
    let a = Greenlet::new(move |_: ()| {
        la.push("a start");
        let n: u32 = b.switch((Greenlet::current(), 1u32)).unwrap();
        la.push(format!("a {n}"));
        let _: () = b.switch(n + 1).unwrap();
        unreachable!("b returns to main, a is never resumed");
    });
    let r: u32 = a.switch(()).unwrap();
    assert_eq!(r, 30);
    assert_eq!(log.take(), vec!["a start", "b 1", "a 2", "b 3"]);
    assert!(!a.dead());
}
