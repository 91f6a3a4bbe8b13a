//! `run_threads` and `Hubs`: one hub per OS thread, results back in thread order.

use std::time::{Duration, Instant};

use sprout::sync::ThreadEvent;
use sprout::{spawn, Hubs};

#[test]
fn two_hubs_each_run_the_function_and_return_results() {
    let start = Instant::now();
    let results = sprout::run_threads(2, |i| {
        let name = std::thread::current().name().map(str::to_owned);
        // 50 concurrent 50 ms sleeps per hub: cooperative on each thread.
        let sleepers: Vec<_> = (0..50u64)
            .map(|n| {
                spawn(move || {
                    sprout::sleep(Duration::from_millis(50));
                    n
                })
            })
            .collect();
        let sum: u64 = sleepers.into_iter().map(|h| h.join().unwrap()).sum();
        (i, name, sum, sprout::switch_count() > 0)
    });
    assert_eq!(
        results,
        vec![
            (0, Some("sprout-hub-0".into()), 1225, true),
            (1, Some("sprout-hub-1".into()), 1225, true),
        ]
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn hubs_run_at_the_same_time() {
    // Each hub sets its own event and waits for the other's: only concurrent threads finish.
    let events = [ThreadEvent::new(), ThreadEvent::new()];
    let results = sprout::run_threads(2, |i| {
        events[i].set();
        let other = events[1 - i].clone();
        spawn(move || other.wait_timeout(Duration::from_secs(20)))
            .join()
            .unwrap()
    });
    assert_eq!(results, vec![Ok(()), Ok(())]);
}

#[test]
fn hubs_are_separate_threads_and_panics_come_back() {
    let ids = Hubs::new(2)
        .name("worker")
        .stack_size(256 * 1024)
        .run(|_| {
            assert_eq!(
                std::thread::current()
                    .name()
                    .map(|n| n.starts_with("worker-")),
                Some(true)
            );
            std::thread::current().id()
        })
        .unwrap();
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[0], std::thread::current().id());

    let r = std::panic::catch_unwind(|| {
        sprout::run_threads(2, |i| {
            if i == 1 {
                std::panic::panic_any("hub 1 failed");
            }
            i
        })
    });
    assert_eq!(*r.unwrap_err().downcast::<&str>().unwrap(), "hub 1 failed");
}
