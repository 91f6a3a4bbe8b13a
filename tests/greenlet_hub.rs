//! The explicit-switch layer inside hub greenlets, and its one rule: explicit greenlets must
//! not block on the hub.

use std::time::Duration;

use sprout::greenlet::{panic_message, Greenlet, SwitchError};

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
fn blocking_on_the_hub_inside_an_explicit_greenlet_is_a_clear_panic() {
    let g = Greenlet::new(|_: ()| sprout::sleep(Duration::from_millis(1)));
    match g.switch::<(), ()>(()) {
        Err(SwitchError::Panicked(p)) => {
            let msg = panic_message(&*p);
            assert!(
                msg.contains("not supported") && msg.contains("sprout::spawn"),
                "{msg}"
            );
        }
        other => panic!("expected a clear panic, got {other:?}"),
    }
    // The thread's hub is unaffected.
    assert_eq!(sprout::spawn(|| 5).join().unwrap(), 5);
}
