//! Greenlet-locals: one value per greenlet (and one for the root), made on first use, dropped
//! when the greenlet ends, however it ends.

#[path = "support/sync.rs"]
mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use sprout::local::Local;
use support::{settle, DropCounter};

static NAME: Local<String> = Local::new(String::new);

#[test]
fn each_greenlet_sees_its_own_value() {
    NAME.set("root".into());
    let hs: Vec<_> = (0..5)
        .map(|i| {
            sprout::spawn(move || {
                assert_eq!(NAME.get(), "", "starts from init, not from the spawner");
                NAME.set(format!("g{i}"));
                sprout::sleep(Duration::from_millis(2)); // the others write theirs
                NAME.with_mut(|n| n.push('!'));
                NAME.get()
            })
        })
        .collect();
    let seen: Vec<String> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(seen, ["g0!", "g1!", "g2!", "g3!", "g4!"]);
    assert_eq!(NAME.get(), "root");
}

thread_local! {
    static DROPS: Rc<Cell<usize>> = Rc::new(Cell::new(0));
}

fn counter() -> Option<DropCounter> {
    None
}

static TRACKED: Local<Option<DropCounter>> = Local::new(counter);

#[test]
fn values_are_dropped_when_their_greenlet_ends() {
    let drops = DROPS.with(Rc::clone);
    let normal = sprout::spawn(|| TRACKED.set(Some(DropCounter(DROPS.with(Rc::clone)))));
    let panicking = sprout::spawn(|| {
        TRACKED.set(Some(DropCounter(DROPS.with(Rc::clone))));
        panic!("boom");
    });
    let killed = sprout::spawn(|| {
        TRACKED.set(Some(DropCounter(DROPS.with(Rc::clone))));
        sprout::sleep(Duration::from_secs(60));
    });
    let untouched = sprout::spawn(|| ());
    normal.join().unwrap();
    assert!(panicking.join().is_err());
    settle();
    assert_eq!(drops.get(), 2);
    killed.kill();
    assert_eq!(drops.get(), 3);
    untouched.join().unwrap();
    assert_eq!(
        drops.get(),
        3,
        "a greenlet that never touched it made no value"
    );
}

static INITS: Local<u32> = Local::new(|| {
    INIT_CALLS.with(|c| c.set(c.get() + 1));
    7
});

thread_local! {
    static INIT_CALLS: Cell<u32> = const { Cell::new(0) };
}

#[test]
fn init_runs_once_per_greenlet_on_first_use() {
    let h = sprout::spawn(|| {
        let a = INITS.get();
        INITS.with_mut(|v| *v += 1);
        (a, INITS.get(), INITS.replace(0), INITS.take())
    });
    assert_eq!(h.join().unwrap(), (7, 8, 8, 0));
    assert_eq!(INIT_CALLS.with(Cell::get), 1);
}

#[test]
fn a_non_static_local_works_too() {
    let local = Rc::new(Local::new(|| RefCell::new(Vec::<u32>::new())));
    let l = local.clone();
    let h = sprout::spawn(move || {
        l.with(|v| v.borrow_mut().push(1));
        l.with(|v| v.borrow().len())
    });
    assert_eq!(h.join().unwrap(), 1);
    assert_eq!(local.with(|v| v.borrow().len()), 0);
}
