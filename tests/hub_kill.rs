//! Kill delivery: at the suspension point, destructors run, the killer resumes after death.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sprout::{spawn, JoinError};

mod support;
use support::{DropFlag, Log};

#[test]
fn kill_of_a_sleeping_greenlet_runs_destructors_and_waits_for_death() {
    let dropped = Rc::new(Cell::new(false));
    let after = Rc::new(Cell::new(false));
    let (d, a) = (dropped.clone(), after.clone());
    let h = spawn(move || {
        let _g = DropFlag(d);
        sprout::sleep(Duration::from_secs(60));
        a.set(true);
    });
    sprout::yield_now(); // let it start and park in sleep
    assert!(h.is_started() && !h.is_finished());
    h.kill();
    assert!(h.is_finished(), "kill returns only once the target is dead");
    assert!(dropped.get());
    assert!(!after.get());
    assert!(matches!(h.join(), Err(JoinError::Killed)));
}

#[test]
fn kill_from_another_greenlet() {
    let log = Log::default();
    let l = log.clone();
    let victim = Rc::new(spawn(move || {
        let _ = &l;
        sprout::sleep(Duration::from_secs(60));
    }));
    let v = victim.clone();
    let l2 = log.clone();
    let killer = spawn(move || {
        v.kill();
        l2.push(format!(
            "killer resumed, victim finished={}",
            v.is_finished()
        ));
    });
    killer.join().unwrap();
    assert_eq!(log.take(), vec!["killer resumed, victim finished=true"]);
}

#[test]
fn kill_before_start_never_runs_but_links_fire() {
    let ran = Rc::new(Cell::new(false));
    let linked = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = spawn(move || r.set(true));
    let l = linked.clone();
    h.link(move |_| l.set(true));
    h.kill();
    assert!(h.is_finished());
    assert!(linked.get());
    sprout::sleep(Duration::from_millis(1));
    assert!(!ran.get());
    assert!(matches!(h.join(), Err(JoinError::Killed)));
}

#[test]
fn kill_nowait_then_join() {
    let h = spawn(|| sprout::sleep(Duration::from_secs(60)));
    sprout::yield_now();
    h.kill_nowait();
    assert!(!h.is_finished());
    assert!(matches!(h.join(), Err(JoinError::Killed)));
}

#[test]
fn a_greenlet_can_kill_itself_and_kills_print_nothing() {
    // The kill payload is private and caught at the greenlet's root: join sees Killed.
    let h = spawn(|| {
        let me_id = sprout::current_id();
        assert!(me_id > 0);
        loop {
            sprout::yield_now();
        }
    });
    sprout::yield_now();
    h.kill();
    assert!(matches!(h.join(), Err(JoinError::Killed)));
}

#[test]
fn a_killed_greenlet_with_a_blocking_destructor_still_dies() {
    struct SleepyDrop;
    impl Drop for SleepyDrop {
        fn drop(&mut self) {
            // Blocking while unwinding from a kill must not abort or re-raise.
            sprout::sleep(Duration::from_millis(5));
        }
    }
    let h = spawn(|| {
        let _s = SleepyDrop;
        sprout::sleep(Duration::from_secs(60));
    });
    sprout::yield_now();
    assert!(h.kill_timeout(Duration::from_secs(10)));
}
