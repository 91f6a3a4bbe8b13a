//! The explicit-switch layer inside hub greenlets; explicit greenlets may block on the hub
//! (issue 18 item 6).

use std::time::Duration;

use sprout::greenlet::{Greenlet, SwitchError};

#[test]
fn hub_greenlets_can_drive_explicit_greenlets() {
    let handles: Vec<_> = (0..3u32)
        .map(|k| {
            sprout::spawn(move || {
                // A generator-style explicit greenlet, driven from inside a hub greenlet that
                // also sleeps on the hub between steps.
                let gen = Greenlet::new(move |mut n: u32| loop {
                    n = Greenlet::main().switch::<u32, u32>(n * k).unwrap();
                });
                let mut out = Vec::new();
                for i in 1..=3u32 {
                    out.push(gen.switch::<u32, u32>(i).unwrap());
                    sprout::sleep(Duration::from_millis(1));
                }
                out
            })
        })
        .collect();
    let results: Vec<Vec<u32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, vec![vec![0, 0, 0], vec![1, 2, 3], vec![2, 4, 6]]);
}

#[test]
fn an_explicit_greenlet_may_sleep_on_the_hub_and_is_resumed_inside_its_call() {
    // From the root: the explicit greenlet sleeps; hub greenlets run meanwhile.
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let ticker = sprout::spawn(move || loop {
        t.set(t.get() + 1);
        sprout::sleep(Duration::from_millis(1));
    });
    let g = Greenlet::new(move |n: u32| {
        let before = sprout::switch_count();
        sprout::sleep(Duration::from_millis(20));
        let after = sprout::switch_count();
        // Hand back to main, then carry on where we were when switched to again.
        let m: u32 = Greenlet::main().switch(n + 1).unwrap();
        sprout::sleep(Duration::from_millis(1));
        (m * 10, after > before)
    });
    let first: u32 = g.switch(1u32).unwrap();
    assert_eq!(first, 2);
    assert!(
        ticks.get() >= 2,
        "the hub ran other greenlets while it slept"
    );
    let (last, switched): (u32, bool) = g.switch(5u32).unwrap();
    assert_eq!((last, switched), (50, true));
    assert!(g.dead());
    ticker.kill();
}

#[test]
fn explicit_greenlets_driven_by_hub_greenlets_may_block_too() {
    let hs: Vec<_> = (0..3u64)
        .map(|k| {
            sprout::spawn(move || {
                let g = Greenlet::new(move |_: ()| {
                    sprout::sleep(Duration::from_millis(10 - 3 * k));
                    let e = sprout::spawn(move || k * 100);
                    e.join().unwrap()
                });
                g.switch::<(), u64>(()).unwrap()
            })
        })
        .collect();
    let out: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(out, [0, 100, 200]);
}

#[test]
fn a_parked_explicit_greenlet_cannot_be_switched_to_from_elsewhere() {
    let slot: std::rc::Rc<std::cell::RefCell<Option<Greenlet>>> = Default::default();
    let s = slot.clone();
    let driver = sprout::spawn(move || {
        let g = Greenlet::new(|_: ()| sprout::sleep(Duration::from_millis(20)));
        *s.borrow_mut() = Some(g.clone());
        g.switch::<(), ()>(()).unwrap();
    });
    sprout::sleep(Duration::from_millis(5));
    let g = slot.borrow().clone().unwrap();
    assert!(matches!(g.switch::<(), ()>(()), Err(SwitchError::Running)));
    driver.join().unwrap();
    assert!(g.dead());
}

#[test]
fn killing_the_driver_unwinds_the_parked_explicit_greenlet_then_the_driver() {
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    struct Note(
        std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>,
        &'static str,
    );
    impl Drop for Note {
        fn drop(&mut self) {
            self.0.borrow_mut().push(self.1);
        }
    }
    let l = log.clone();
    let driver = sprout::spawn(move || {
        let _d = Note(l.clone(), "driver unwound");
        let l2 = l.clone();
        let g = Greenlet::new(move |_: ()| {
            let _n = Note(l2, "explicit unwound");
            sprout::sleep(Duration::from_secs(60));
        });
        let r = g.switch::<(), ()>(());
        l.borrow_mut().push("driver resumed after switch");
        r
    });
    sprout::sleep(Duration::from_millis(2));
    driver.kill();
    assert!(driver.join().unwrap_err().is_killed());
    assert_eq!(
        *log.borrow(),
        ["explicit unwound", "driver unwound"],
        "the explicit greenlet unwinds first, then the driver, which runs no further code"
    );
}
