//! `sprout::current()` and the `Greenlet` handle (issue 18 item 1), and results read without
//! consuming the handle (item 2).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use sprout::sync::Queue;
use sprout::{Greenlet, JoinError};

#[test]
fn current_names_the_running_greenlet_and_the_root() {
    let root = sprout::current();
    assert!(root.is_root());
    assert_eq!(root.id(), 0);
    assert_eq!(root, sprout::current());
    let h = sprout::Builder::new()
        .name("worker")
        .spawn(|| {
            let me = sprout::current();
            (me.id(), me.name().map(str::to_owned), sprout::current_id())
        })
        .unwrap();
    let g = h.greenlet();
    let (id, name, cur) = h.join().unwrap();
    assert_eq!(id, g.id());
    assert_eq!(cur, id);
    assert_eq!(name.as_deref(), Some("worker"));
    assert!(g.is_finished() && g.successful() && !g.is_killed());
}

/// A supervisor restarts a worker each time it dies; each worker hands itself to the
/// supervisor through `current()`.
#[test]
fn a_supervisor_restarts_workers_handed_to_it_through_current() {
    let inbox: Queue<Greenlet> = Queue::new();
    let starts = Rc::new(Cell::new(0u32));
    let seen = Rc::new(RefCell::new(Vec::<u64>::new()));

    fn start_worker(inbox: &Queue<Greenlet>, starts: &Rc<Cell<u32>>) {
        let (inbox, starts) = (inbox.clone(), starts.clone());
        sprout::spawn(move || {
            starts.set(starts.get() + 1);
            inbox.put(sprout::current()).unwrap();
            sprout::sleep(Duration::from_millis(2));
            if starts.get() < 3 {
                panic!("worker crashed");
            }
            // The third one lives until killed.
            sprout::sleep(Duration::from_secs(60));
        });
    }

    start_worker(&inbox, &starts);
    let supervisor = {
        let (inbox, starts, seen) = (inbox.clone(), starts.clone(), seen.clone());
        sprout::spawn(move || loop {
            let worker = inbox.get().unwrap();
            seen.borrow_mut().push(worker.id());
            worker.wait().unwrap();
            assert!(!worker.successful());
            start_worker(&inbox, &starts);
        })
    };
    // Wait for the third worker, then stop everything.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.borrow().len() < 3 && std::time::Instant::now() < deadline {
        sprout::sleep(Duration::from_millis(1));
    }
    let ids = seen.borrow().clone();
    assert_eq!(ids.len(), 3, "three workers were started and handed over");
    assert!(
        ids[0] < ids[1] && ids[1] < ids[2],
        "distinct greenlets: {ids:?}"
    );
    supervisor.kill();
    assert_eq!(starts.get(), 3);
}

#[test]
fn kill_through_a_greenlet_handle() {
    let h = sprout::spawn(|| sprout::sleep(Duration::from_secs(60)));
    let g = h.greenlet();
    let g2 = g.clone();
    sprout::yield_now();
    g2.kill();
    assert!(g.is_finished() && g.is_killed());
    assert!(h.join().unwrap_err().is_killed());

    let h = sprout::spawn(|| sprout::sleep(Duration::from_secs(60)));
    h.greenlet().kill_nowait();
    assert!(h.join().unwrap_err().is_killed());
}

#[test]
#[should_panic(expected = "root code")]
fn killing_the_root_through_a_handle_is_a_clear_panic() {
    sprout::current().kill_nowait();
}

#[test]
fn value_and_successful_after_wait_keep_the_result() {
    let h = sprout::spawn(|| {
        sprout::sleep(Duration::from_millis(2));
        String::from("done")
    });
    assert!(h.value().is_none() && !h.successful() && h.error().is_none());
    h.wait().unwrap();
    assert!(h.successful());
    assert_eq!(h.value().as_deref().map(String::as_str), Some("done"));
    assert!(h.error().is_none());
    assert!(matches!(h.result(), Some(Ok(ref v)) if v.as_str() == "done"));
    // Still there for join.
    assert_eq!(h.join().unwrap(), "done");
}

#[test]
fn error_after_a_panic_or_a_kill() {
    let p = sprout::spawn(|| -> u8 { panic!("boom") });
    p.wait().unwrap();
    assert!(!p.successful());
    assert!(p.value().is_none());
    assert!(p.error().unwrap().is_panic());
    assert!(matches!(p.result(), Some(Err(_))));

    let k = sprout::spawn(|| sprout::sleep(Duration::from_secs(60)));
    k.kill_nowait();
    k.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(k.error().unwrap().is_killed());
    assert!(k.greenlet().is_killed());

    let slow = sprout::spawn(|| sprout::sleep(Duration::from_secs(60)));
    assert!(matches!(
        slow.wait_timeout(Duration::from_millis(1)),
        Err(JoinError::TimedOut)
    ));
    slow.kill();
}

/// Issue 11 item 1 for join: a greenlet that finished before the joiner resumed is reported
/// finished even though a kill reached the joiner meanwhile; the kill is raised at its next
/// blocking call.
#[test]
fn a_join_that_completed_reports_success_and_the_kill_comes_next() {
    let joiner_slot: Rc<RefCell<Option<Greenlet>>> = Rc::default();
    let target = {
        let slot = joiner_slot.clone();
        sprout::spawn(move || {
            sprout::sleep(Duration::from_millis(2));
            // The kill reaches the parked joiner, then this greenlet finishes: both before
            // the joiner runs again.
            slot.borrow().as_ref().unwrap().kill_nowait();
            7
        })
    };
    let t = target.greenlet();
    let joined = Rc::new(Cell::new(None));
    let after = Rc::new(Cell::new(false));
    let joiner = {
        let (joined, after) = (joined.clone(), after.clone());
        sprout::spawn(move || {
            joined.set(Some(t.wait().is_ok()));
            sprout::sleep(Duration::from_millis(1)); // the kill is raised here
            after.set(true);
        })
    };
    *joiner_slot.borrow_mut() = Some(joiner.greenlet());
    assert!(joiner.join().unwrap_err().is_killed());
    assert_eq!(
        joined.get(),
        Some(true),
        "the finished join reported success"
    );
    assert!(
        !after.get(),
        "the kill was raised at the next blocking call"
    );
    assert_eq!(target.join().unwrap(), 7);
}
